//! Numbers as kustomize prints them after its JSON round trip.
//!
//! Go's JSON encoder writes an integral float below 1e21 as plain digits (shortest round-trip
//! digits padded with zeros), which go-yaml v2 then reads back as an integer when that text fits
//! 64 bits; everything else stays a float and is written with `strconv.FormatFloat(f, 'g', -1, 64)`.

use std::fmt::Write as _;

/// Appends the text kustomize prints for a JSON number.
pub(crate) fn write_number(out: &mut String, n: &serde_json::Number) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(f) = n.as_f64() {
        write_float(out, f);
    }
}

fn write_float(out: &mut String, f: f64) {
    if f.fract() == 0.0 && f.abs() < 1e21 {
        // Go's JSON text: the shortest round-trip digits, padded with zeros (`2^63` is
        // `9223372036854776000`), exactly what Rust's `Display` gives. go-yaml v2 reads that back
        // as an integer when it fits 64 bits.
        let text = f.to_string();
        if let Ok(i) = text.parse::<i64>() {
            let _ = write!(out, "{i}");
            return;
        }
        if let Ok(u) = text.parse::<u64>() {
            let _ = write!(out, "{u}");
            return;
        }
    }
    write_go_g(out, f);
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 32)`: the shortest digits of the float32 nearest `f`.
pub(crate) fn go_g32(f: f64) -> String {
    let f = f as f32;
    if !f.is_finite() {
        return if f.is_nan() {
            ".nan"
        } else if f > 0.0 {
            ".inf"
        } else {
            "-.inf"
        }
        .to_string();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        format!(
            "{mantissa}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        )
    } else {
        format!("{f}")
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` for a finite value.
pub(crate) fn write_go_g(out: &mut String, f: f64) {
    if !f.is_finite() {
        out.push_str(if f.is_nan() {
            ".nan"
        } else if f > 0.0 {
            ".inf"
        } else {
            "-.inf"
        });
        return;
    }
    // Rust's `{:e}` gives the shortest round-trip digits, like Go's shortest mode.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        // %e form: mantissa as is, exponent with sign and at least two digits.
        out.push_str(mantissa);
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let _ = write!(out, "{:02}", exp.unsigned_abs());
    } else {
        let _ = write!(out, "{f}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(f: f64) -> String {
        let mut s = String::new();
        write_float(&mut s, f);
        s
    }

    #[test]
    fn floats_as_kustomize_prints_them() {
        let cases = [
            (1.1, "1.1"),
            (1000.0, "1000"),
            (1.5, "1.5"),
            (-0.0, "0"),
            (0.5, "0.5"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (123456.5, "123456.5"),
            (1234567.5, "1.2345675e+06"),
            (1e20, "1e+20"),
            (1e21, "1e+21"),
            (1.5e23, "1.5e+23"),
            (9007199254740993.0, "9007199254740992"),
            (9_223_372_036_854_775_808.0, "9223372036854776000"),
            (-9_223_372_036_854_775_808.0, "-9.223372036854776e+18"),
            (18_446_744_073_709_551_616.0, "1.8446744073709552e+19"),
            (-1.5e-7, "-1.5e-07"),
            (1e100, "1e+100"),
        ];
        for (f, want) in cases {
            assert_eq!(show(f), want, "{f}");
        }
    }
}
