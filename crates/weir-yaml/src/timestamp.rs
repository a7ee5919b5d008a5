//! YAML timestamps as go-yaml reads them (Go's `time.Parse` with four layouts) and as Go's JSON
//! encoder writes them back (RFC 3339 with nanoseconds, trailing zeros trimmed).

use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timestamp {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    /// Offset east of UTC in minutes; `0` for UTC and for layouts without a zone.
    offset_minutes: i32,
}

impl Timestamp {
    /// Go's `time.Time.MarshalJSON` text (without the quotes).
    pub(crate) fn to_rfc3339(self) -> String {
        let mut s = String::with_capacity(35);
        let _ = write!(
            s,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        if self.nanos != 0 {
            let frac = format!("{:09}", self.nanos);
            s.push('.');
            s.push_str(frac.trim_end_matches('0'));
        }
        if self.offset_minutes == 0 {
            s.push('Z');
        } else {
            let sign = if self.offset_minutes < 0 { '-' } else { '+' };
            let m = self.offset_minutes.unsigned_abs();
            let _ = write!(s, "{sign}{:02}:{:02}", m / 60, m % 60);
        }
        s
    }
}

#[derive(Clone, Copy)]
enum Layout {
    /// `2006-1-2T15:4:5.999999999Z07:00` (and with a lower-case `t`)
    DateTimeZone(u8),
    /// `2006-1-2 15:4:5.999999999`
    DateSpaceTime,
    /// `2006-1-2`
    Date,
}

/// go-yaml's `parseTimestamp`: the text must start with four digits and `-`.
pub(crate) fn parse(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    [
        Layout::DateTimeZone(b'T'),
        Layout::DateTimeZone(b't'),
        Layout::DateSpaceTime,
        Layout::Date,
    ]
    .into_iter()
    .find_map(|layout| parse_layout(b, layout))
}

/// Go's `getnum(s, false)`: one or two digits.
fn num12(b: &[u8], i: &mut usize) -> Option<u32> {
    let d0 = *b.get(*i).filter(|c| c.is_ascii_digit())?;
    *i += 1;
    match b.get(*i) {
        Some(d1) if d1.is_ascii_digit() => {
            *i += 1;
            Some(u32::from(d0 - b'0') * 10 + u32::from(d1 - b'0'))
        }
        _ => Some(u32::from(d0 - b'0')),
    }
}

/// Exactly two digits (Go's `getnum(s, true)`).
fn num2(b: &[u8], i: &mut usize) -> Option<u32> {
    let d0 = *b.get(*i).filter(|c| c.is_ascii_digit())?;
    let d1 = *b.get(*i + 1).filter(|c| c.is_ascii_digit())?;
    *i += 2;
    Some(u32::from(d0 - b'0') * 10 + u32::from(d1 - b'0'))
}

/// Consumes the byte `c` or fails.
fn eat(b: &[u8], i: &mut usize, c: u8) -> Option<()> {
    (b.get(*i) == Some(&c)).then(|| *i += 1)
}

fn parse_layout(b: &[u8], layout: Layout) -> Option<Timestamp> {
    let year = b[..4]
        .iter()
        .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    let mut i = 5;
    let month = num12(b, &mut i)?;
    if !(1..=12).contains(&month) {
        return None;
    }
    eat(b, &mut i, b'-')?;
    let day = num12(b, &mut i)?;
    let mut t = Timestamp {
        year,
        month,
        day,
        hour: 0,
        minute: 0,
        second: 0,
        nanos: 0,
        offset_minutes: 0,
    };
    match layout {
        Layout::Date => {}
        Layout::DateTimeZone(sep) => {
            eat(b, &mut i, sep)?;
            parse_time(b, &mut i, &mut t)?;
            if b.get(i) == Some(&b'Z') {
                i += 1;
            } else {
                let sign = match b.get(i)? {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                i += 1;
                let hh = num2(b, &mut i)?;
                eat(b, &mut i, b':')?;
                let mm = num2(b, &mut i)?;
                if hh > 24 || mm > 60 {
                    return None;
                }
                t.offset_minutes = sign * (hh * 60 + mm) as i32;
            }
        }
        Layout::DateSpaceTime => {
            // Go's `time.Parse` matches a layout space with a run of spaces.
            eat(b, &mut i, b' ')?;
            while b.get(i) == Some(&b' ') {
                i += 1;
            }
            parse_time(b, &mut i, &mut t)?;
        }
    }
    if i != b.len() || day < 1 || day > days_in(month, year) {
        return None;
    }
    Some(t)
}

/// `15:4:5` with an optional `.999999999` (or `,`) fraction.
fn parse_time(b: &[u8], i: &mut usize, t: &mut Timestamp) -> Option<()> {
    t.hour = num12(b, i)?;
    eat(b, i, b':')?;
    t.minute = num12(b, i)?;
    eat(b, i, b':')?;
    t.second = num12(b, i)?;
    if t.hour >= 24 || t.minute >= 60 || t.second >= 60 {
        return None;
    }
    if matches!(b.get(*i), Some(b'.') | Some(b',')) && b.get(*i + 1).is_some_and(u8::is_ascii_digit)
    {
        *i += 1;
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        // Go keeps nine digits and drops the rest.
        let digits = &b[start..*i];
        let kept = &digits[..digits.len().min(9)];
        let mut nanos = kept.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
        for _ in kept.len()..9 {
            nanos *= 10;
        }
        t.nanos = nanos;
    }
    Some(())
}

fn days_in(month: u32, year: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_as_go_json_writes_them() {
        let cases = [
            ("2024-02-29", Some("2024-02-29T00:00:00Z")),
            ("2023-02-29", None),
            ("2024-1-2", Some("2024-01-02T00:00:00Z")),
            (
                "2001-12-14t21:59:43.10-05:00",
                Some("2001-12-14T21:59:43.1-05:00"),
            ),
            ("2001-12-14T21:59:43.10Z", Some("2001-12-14T21:59:43.1Z")),
            ("2001-12-14 21:59:43.10", Some("2001-12-14T21:59:43.1Z")),
            ("2001-12-14   1:2:3", Some("2001-12-14T01:02:03Z")),
            ("2001-12-14 21:59:43.10 -5", None),
            ("2001-12-14T21:59:43+00:00", Some("2001-12-14T21:59:43Z")),
            ("2024-05-01x", None),
            ("2024-13-01", None),
            ("20240-01-01", None),
            ("2024-01-01T25:00:00Z", None),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse(text).map(Timestamp::to_rfc3339).as_deref(),
                want,
                "{text}"
            );
        }
    }
}
