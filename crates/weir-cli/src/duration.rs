//! Durations on the command line, in Go's syntax as Flux writes them (`90s`, `5m`, `1h30m`, `1.5h`,
//! `250ms`) or plain seconds; bounded, so no input can overflow a deadline (`Instant + Duration`).

use std::time::Duration;

/// The longest duration any flag accepts: a week. Longer waits are mistakes, and the bound keeps
/// every deadline computed from a flag far from overflow.
pub const MAX: Duration = Duration::from_secs(7 * 24 * 3600);

/// Parses a positive duration no longer than [`MAX`]; never panics. Go's syntax is weir-api's
/// [`weir_api::Duration`]; the command line also takes plain seconds.
pub fn parse(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let with_unit;
    let go = if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        with_unit = format!("{trimmed}s");
        &with_unit
    } else {
        trimmed
    };
    let too_long = || format!("{text:?} is longer than the maximum of 168h (one week)");
    let parsed = match go.parse::<weir_api::Duration>() {
        Ok(d) => d.as_std(),
        Err(e) if e.is_too_large() => return Err(too_long()),
        Err(_) => return Err(format!("{text:?} is not a duration like 90s, 5m or 1h30m")),
    };
    if parsed.is_zero() {
        return Err(format!("{text:?}: the duration must be positive"));
    }
    if parsed > MAX {
        return Err(too_long());
    }
    Ok(parsed)
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
