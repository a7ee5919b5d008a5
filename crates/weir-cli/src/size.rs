//! Byte sizes on the command line: `64Mi`, `1Gi`, `500k`, `10MB` or plain bytes, as Kubernetes
//! quantities are written; never panics, never overflows.

/// Parses a size in bytes; binary (`Ki`, `Mi`, `Gi`) and decimal (`k`, `M`, `G`) suffixes, an
/// optional trailing `B`.
pub fn parse(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a size like 64Mi, 500k or 1048576");
    let t = text.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = t.split_at(digits);
    if number.is_empty() {
        return Err(bad());
    }
    let unit = unit.strip_suffix('B').unwrap_or(unit);
    let scale: u64 = match unit {
        "" => 1,
        "k" | "K" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        _ => return Err(bad()),
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    let bytes = n
        .checked_mul(scale)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if bytes == 0 {
        return Err(format!("{text:?}: the size must be positive"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes_parse_like_quantities() {
        assert_eq!(parse("64Mi"), Ok(64 << 20));
        assert_eq!(parse("64MiB"), Ok(64 << 20));
        assert_eq!(parse("500k"), Ok(500_000));
        assert_eq!(parse("1048576"), Ok(1 << 20));
        for bad in [
            "",
            "Mi",
            "1.5Mi",
            "-1",
            "0",
            "1Ti",
            "99999999999999999999",
            "17179869184Gi",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn any_input_parses_or_errors_without_panic(s in "\\PC{0,16}") {
            if let Ok(n) = parse(&s) {
                prop_assert!(n > 0);
            }
        }
    }
}
