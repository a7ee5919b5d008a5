//! `metav1.Duration`: Go's duration syntax (`1h30m`, `90s`, `250ms`, `1.5h`), as Flux's intervals and
//! timeouts are written. Parsing is bounded: any input gives a value or an error, never a panic.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration read and written in Go's `time.Duration` syntax.
///
/// Go durations are signed 64-bit nanosecond counts; the same bound applies here (about 292 years),
/// so every value weir accepts is one Flux accepts too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(std::time::Duration);

/// Why a string is not a Go duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a duration: {why} (expected e.g. `30s`, `5m`, `1h30m`, `250ms`)")]
pub struct DurationError {
    input: String,
    why: &'static str,
}

impl DurationError {
    /// The input is a duration, only longer than Go can represent.
    pub fn is_too_large(&self) -> bool {
        self.why == TOO_LARGE
    }
}

const TOO_LARGE: &str = "too large";

/// Go's limit: `math.MaxInt64` nanoseconds.
const MAX_NANOS: u128 = i64::MAX as u128;

impl Duration {
    /// The largest duration Go can represent.
    pub const MAX: Duration = Duration(std::time::Duration::from_nanos(i64::MAX as u64));

    pub const fn from_secs(secs: u64) -> Self {
        Duration(std::time::Duration::from_secs(secs))
    }

    pub const fn from_std(d: std::time::Duration) -> Self {
        Duration(d)
    }

    pub const fn as_std(self) -> std::time::Duration {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

impl FromStr for Duration {
    type Err = DurationError;

    /// Go's `time.ParseDuration`, except that negative durations are refused (no Flux field takes one).
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |why| DurationError {
            input: input.chars().take(64).collect(),
            why,
        };
        let mut s = input;
        if let Some(rest) = s.strip_prefix('+') {
            s = rest;
        }
        if s.starts_with('-') {
            return Err(err("negative durations are not allowed"));
        }
        if s == "0" {
            return Ok(Duration::default());
        }
        if s.is_empty() {
            return Err(err("empty"));
        }
        let mut total: u128 = 0;
        while !s.is_empty() {
            let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
            let (int_part, rest) = s.split_at(int_len);
            let (frac_part, rest) = match rest.strip_prefix('.') {
                Some(r) => {
                    let n = r.bytes().take_while(u8::is_ascii_digit).count();
                    r.split_at(n)
                }
                None => ("", rest),
            };
            if int_part.is_empty() && frac_part.is_empty() {
                return Err(err("a number is expected before each unit"));
            }
            let unit_len = rest
                .char_indices()
                .find(|(_, c)| c.is_ascii_digit() || *c == '.')
                .map_or(rest.len(), |(i, _)| i);
            let (unit, rest) = rest.split_at(unit_len);
            if unit.is_empty() {
                return Err(err("missing unit"));
            }
            let scale = unit_nanos(unit).ok_or_else(|| err("unknown unit"))?;
            // Integer part: any digit count, bounded by the overflow check.
            let mut value: u128 = 0;
            for b in int_part.bytes() {
                value = value
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(u128::from(b - b'0')))
                    .filter(|v| *v <= MAX_NANOS)
                    .ok_or_else(|| err(TOO_LARGE))?;
            }
            let mut nanos = value.checked_mul(scale).ok_or_else(|| err(TOO_LARGE))?;
            // Fractional part: as Go, digits past what the unit can resolve are dropped.
            let mut frac_scale = scale;
            for b in frac_part.bytes() {
                frac_scale /= 10;
                if frac_scale == 0 {
                    break;
                }
                nanos += u128::from(b - b'0') * frac_scale;
            }
            total = total.saturating_add(nanos);
            if total > MAX_NANOS {
                return Err(err(TOO_LARGE));
            }
            s = rest;
        }
        let secs = (total / 1_000_000_000) as u64;
        let sub = (total % 1_000_000_000) as u32;
        Ok(Duration(std::time::Duration::new(secs, sub)))
    }
}

impl fmt::Display for Duration {
    /// Go's `Duration.String()`: `1h30m0s`, `1m30s`, `250ms`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.0.as_nanos();
        if total == 0 {
            return f.write_str("0s");
        }
        if total < 1_000_000_000 {
            // Sub-second: the largest unit that keeps an integer part, with a trimmed fraction.
            let (unit, scale) = if total < 1_000 {
                ("ns", 1)
            } else if total < 1_000_000 {
                ("µs", 1_000)
            } else {
                ("ms", 1_000_000)
            };
            return write!(f, "{}{unit}", fraction(total, scale));
        }
        let hours = total / 3_600_000_000_000;
        let minutes = (total / 60_000_000_000) % 60;
        let secs = total % 60_000_000_000;
        if hours > 0 {
            write!(f, "{hours}h")?;
        }
        if hours > 0 || minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        write!(f, "{}s", fraction(secs, 1_000_000_000))
    }
}

/// `value / scale` with its fraction written without trailing zeros.
fn fraction(value: u128, scale: u128) -> String {
    let int = value / scale;
    let frac = value % scale;
    if frac == 0 {
        return int.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{int}.{}", digits.trim_end_matches('0'))
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        // Flux's CRDs validate durations with this pattern.
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> std::time::Duration {
        s.parse::<Duration>().expect(s).as_std()
    }

    #[test]
    fn parses_go_syntax() {
        assert_eq!(d("0"), std::time::Duration::ZERO);
        assert_eq!(d("90s"), std::time::Duration::from_secs(90));
        assert_eq!(d("1h30m"), std::time::Duration::from_secs(5400));
        assert_eq!(d("250ms"), std::time::Duration::from_millis(250));
        assert_eq!(d("1.5h"), std::time::Duration::from_secs(5400));
        assert_eq!(d("1m0.5s"), std::time::Duration::from_millis(60_500));
        assert_eq!(d("10us"), std::time::Duration::from_micros(10));
        assert_eq!(d("3µs"), std::time::Duration::from_micros(3));
        assert_eq!(d("+5s"), std::time::Duration::from_secs(5));
        assert_eq!(d(".5s"), std::time::Duration::from_millis(500));
    }

    #[test]
    fn refuses_garbage_without_panicking() {
        for bad in [
            "",
            "s",
            "10",
            "1x",
            "-1s",
            "1.s.",
            "18446744073709551615s",
            "99999999999999999999h",
            "2562048h",
            "1h-1m",
            ".s",
            "1e3s",
            "\u{1b}[31m",
        ] {
            assert!(bad.parse::<Duration>().is_err(), "{bad:?} accepted");
        }
        assert!("2562047h".parse::<Duration>().is_ok());
    }

    #[test]
    fn error_is_bounded_and_helpful() {
        let long = "9".repeat(10_000);
        let e = long.parse::<Duration>().unwrap_err().to_string();
        assert!(e.len() < 200, "{e}");
        assert!(e.contains("expected e.g."));
    }

    #[test]
    fn formats_like_go() {
        let f = |s: &str| s.parse::<Duration>().unwrap().to_string();
        assert_eq!(f("0"), "0s");
        assert_eq!(f("10m"), "10m0s");
        assert_eq!(f("1h"), "1h0m0s");
        assert_eq!(f("90s"), "1m30s");
        assert_eq!(f("1.5s"), "1.5s");
        assert_eq!(f("250ms"), "250ms");
        assert_eq!(f("1500us"), "1.5ms");
    }

    #[test]
    fn serde_round_trip() {
        let v: Duration = serde_json::from_str("\"5m\"").unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), "\"5m0s\"");
        assert!(serde_json::from_str::<Duration>("\"5 minutes\"").is_err());
    }
}
