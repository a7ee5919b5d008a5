//! Durations on the command line, in Go's syntax as Flux writes them (`90s`, `5m`, `1h30m`, `1.5h`,
//! `250ms`) or plain seconds; bounded, so no input can overflow a deadline (`Instant + Duration`).

use std::time::Duration;

/// The longest duration any flag accepts: a week. Longer waits are mistakes, and the bound keeps
/// every deadline computed from a flag far from overflow.
pub const MAX: Duration = Duration::from_secs(7 * 24 * 3600);

/// Parses a positive duration no longer than [`MAX`]; never panics.
pub fn parse(text: &str) -> Result<Duration, String> {
    let nanos = parse_nanos(text.trim())
        .ok_or_else(|| format!("{text:?} is not a duration like 90s, 5m or 1h30m"))?;
    if nanos == 0 {
        return Err(format!("{text:?}: the duration must be positive"));
    }
    if nanos > MAX.as_nanos() {
        return Err(format!(
            "{text:?} is longer than the maximum of 168h (one week)"
        ));
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| "out of range".to_string())?;
    let sub = u32::try_from(nanos % 1_000_000_000).map_err(|_| "out of range".to_string())?;
    Ok(Duration::new(secs, sub))
}

/// Nanoseconds, saturating at a value above [`MAX`] instead of overflowing.
fn parse_nanos(text: &str) -> Option<u128> {
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return Some(digits_value(text).saturating_mul(1_000_000_000));
    }
    let mut total: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(a) => {
                let n = a.bytes().take_while(u8::is_ascii_digit).count();
                a.split_at(n)
            }
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after.len(), |(i, _)| i);
        let (unit, after) = after.split_at(unit_len);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let whole = digits_value(int).saturating_mul(scale);
        // At most 18 fraction digits count (beyond that is below a nanosecond for every unit).
        let frac = &frac[..frac.len().min(18)];
        let frac_value = digits_value(frac)
            .saturating_mul(scale)
            .checked_div(10u128.pow(u32::try_from(frac.len()).ok()?))?;
        total = total.saturating_add(whole).saturating_add(frac_value);
        rest = after;
    }
    Some(total)
}

/// The value of a run of ASCII digits, saturating (far above any bound checked against it).
fn digits_value(digits: &str) -> u128 {
    digits.bytes().fold(0u128, |acc, b| {
        acc.saturating_mul(10)
            .saturating_add(u128::from(b.saturating_sub(b'0')))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("12"), Ok(Duration::from_secs(12)));
        assert_eq!(parse("2m0.5s"), Ok(Duration::from_millis(120_500)));
        assert_eq!(parse("168h"), Ok(MAX));
        for bad in ["5x", "", "h", "-1s", "1..5s", ".s", "0", "0s", "1h 30m"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn r14_huge_durations_are_refused_not_overflowed() {
        for huge in [
            "18446744073709551615",
            "18446744073709551615h",
            "99999999999999999999999999999999999999999h",
            "169h",
            "5124095576030431h",
        ] {
            let err = parse(huge).expect_err(huge);
            assert!(err.contains("maximum"), "{huge}: {err}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]
        #[test]
        fn any_input_parses_or_errors_without_panic(s in "\\PC{0,24}") {
            if let Ok(d) = parse(&s) {
                prop_assert!(d <= MAX && !d.is_zero());
                prop_assert!(std::time::Instant::now().checked_add(d).is_some());
            }
        }

        #[test]
        fn numbers_with_units_round_trip(n in 1u64..100_000, unit in prop::sample::select(vec![("s", 1u64), ("m", 60), ("h", 3600)])) {
            let secs = n.saturating_mul(unit.1);
            let got = parse(&format!("{n}{}", unit.0));
            if secs <= MAX.as_secs() {
                prop_assert_eq!(got, Ok(Duration::from_secs(secs)));
            } else {
                prop_assert!(got.is_err());
            }
        }
    }
}
