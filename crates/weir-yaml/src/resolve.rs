//! Plain-scalar resolution as go-yaml does it: v3 when reading, v2 when deciding on quotes.
//!
//! Both versions share the number rules (Go's `strconv.ParseInt(s, 0, 64)` after removing `_`,
//! then `ParseUint`, then a YAML-style float); they differ in the words they know: v2 is
//! YAML 1.1 (`yes`, `on`, `y` are booleans), v3 only knows `true`/`false`.

use crate::timestamp::{self, Timestamp};

/// What a plain scalar means.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Timestamp(Timestamp),
    Merge,
    Str,
}

/// Resolves a plain scalar the go-yaml v3 way (YAML 1.2 words, Go number syntax).
pub(crate) fn resolve_v3(text: &str) -> Resolved {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        "<<" => return Resolved::Merge,
        _ => {}
    }
    resolve_number_or_time(text).unwrap_or(Resolved::Str)
}

/// Resolves a plain scalar the go-yaml v2 way (YAML 1.1 words: `yes`, `on`, `y` are booleans),
/// as sigs.k8s.io/yaml reads kustomization files. A timestamp stays its text there.
pub(crate) fn resolve_v2(text: &str) -> Resolved {
    match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Resolved::Bool(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Resolved::Bool(false),
        _ => match resolve_v3(text) {
            Resolved::Timestamp(_) => Resolved::Str,
            other => other,
        },
    }
}

/// Whether go-yaml v2 would read `text`, written plain, back as this same string.
///
/// This is v2's `resolve("", s) == !!str && !isBase60Float(s)`, the test its encoder uses to
/// decide between a plain and a double-quoted scalar.
pub(crate) fn plain_reads_as_string_v2(text: &str) -> bool {
    let first = match text.as_bytes().first() {
        None => return false, // "" is null
        Some(&b) => b,
    };
    match first {
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~' => !matches!(
            text,
            "y" | "Y"
                | "yes"
                | "Yes"
                | "YES"
                | "true"
                | "True"
                | "TRUE"
                | "on"
                | "On"
                | "ON"
                | "n"
                | "N"
                | "no"
                | "No"
                | "NO"
                | "false"
                | "False"
                | "FALSE"
                | "off"
                | "Off"
                | "OFF"
                | "~"
                | "null"
                | "Null"
                | "NULL"
        ),
        b'.' => {
            if matches!(text, ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF") {
                return false;
            }
            go_parse_float(text).is_none()
        }
        b'+' | b'-' | b'0'..=b'9' => {
            if matches!(
                text,
                "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
            ) {
                return false;
            }
            if resolve_number_or_time(text).is_some() {
                return false;
            }
            !is_base60_float(text)
        }
        _ => true,
    }
}

/// The number/timestamp branch shared by v2 and v3 (hint `D` or `S`, or `.`). Integers beyond
/// 64 bits are not numbers here (sigs.k8s.io/yaml v1.4.0 has no `big.Int` support): digits-only
/// ones become floats through the float pattern, hex or octal ones stay strings.
fn resolve_number_or_time(text: &str) -> Option<Resolved> {
    let first = *text.as_bytes().first()?;
    if !(first == b'+' || first == b'-' || first.is_ascii_digit()) {
        if first == b'.' {
            return go_parse_float(text).map(Resolved::Float);
        }
        return None;
    }
    if let Some(t) = timestamp::parse(text) {
        return Some(Resolved::Timestamp(t));
    }
    let plain: std::borrow::Cow<'_, str> = if text.contains('_') {
        text.replace('_', "").into()
    } else {
        text.into()
    };
    if let Ok(v) = go_parse_int(&plain, true) {
        return Some(match i64::try_from(v) {
            Ok(i) => Resolved::Int(i),
            Err(_) => Resolved::Uint(u64::try_from(v).unwrap_or(u64::MAX)),
        });
    }
    if let Ok(v) = go_parse_int(&plain, false) {
        return Some(Resolved::Uint(u64::try_from(v).unwrap_or(u64::MAX)));
    }
    if is_yaml_style_float(&plain)
        && let Some(f) = go_parse_float(&plain)
    {
        return Some(Resolved::Float(f));
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntError {
    Syntax,
    Range,
}

/// Go's `strconv.ParseInt(s, 0, 64)` (`signed`) or `strconv.ParseUint(s, 0, 64)`, returning the
/// value widened to i128.
pub(crate) fn go_parse_int(s: &str, signed: bool) -> Result<i128, IntError> {
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return Err(IntError::Syntax);
    }
    let (neg, rest) = if signed {
        match bytes[0] {
            b'+' => (false, &bytes[1..]),
            b'-' => (true, &bytes[1..]),
            _ => (false, bytes),
        }
    } else {
        (false, bytes)
    };
    if rest.is_empty() {
        return Err(IntError::Syntax);
    }
    let (base, digits): (u32, &[u8]) = if rest[0] == b'0' {
        if rest.len() >= 3 && rest[1].eq_ignore_ascii_case(&b'b') {
            (2, &rest[2..])
        } else if rest.len() >= 3 && rest[1].eq_ignore_ascii_case(&b'o') {
            (8, &rest[2..])
        } else if rest.len() >= 3 && rest[1].eq_ignore_ascii_case(&b'x') {
            (16, &rest[2..])
        } else {
            (8, &rest[1..])
        }
    } else {
        (10, rest)
    };
    let mut n: u128 = 0;
    let limit: u128 = u64::MAX as u128;
    for &c in digits {
        let d = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'a'..=b'z' => u32::from(c - b'a') + 10,
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return Err(IntError::Syntax),
        };
        if d >= base {
            return Err(IntError::Syntax);
        }
        n = n * u128::from(base) + u128::from(d);
        if n > limit {
            // Go stops at the first overflow and reports a range error.
            return Err(IntError::Range);
        }
    }
    if signed {
        let max = if neg { 1u128 << 63 } else { (1u128 << 63) - 1 };
        if n > max {
            return Err(IntError::Range);
        }
        let v = n as i128;
        Ok(if neg { -v } else { v })
    } else {
        Ok(n as i128)
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal text: `None` on a syntax error or overflow.
///
/// Only reached with text that starts with `.` or that matched the YAML float pattern, so Go's
/// extra spellings (`inf`, hex floats) cannot occur.
pub(crate) fn go_parse_float(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let body = match b.first() {
        Some(b'+') | Some(b'-') => &b[1..],
        _ => b,
    };
    // Reject what Rust accepts but Go's decimal syntax does not.
    if body.is_empty() || !(body[0].is_ascii_digit() || body[0] == b'.') {
        return None;
    }
    if !body
        .iter()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    let f: f64 = s.parse().ok()?;
    f.is_finite().then_some(f)
}

/// go-yaml v2's `isBase60Float`: `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    if !s.contains(':') {
        return false;
    }
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    i += 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        // [0-5]?[0-9]
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        match i - start {
            1 => {}
            2 if b[start] <= b'5' => {}
            _ => return false,
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_resolution_table() {
        let cases: &[(&str, Resolved)] = &[
            ("yes", Resolved::Str),
            ("on", Resolved::Str),
            ("y", Resolved::Str),
            ("True", Resolved::Bool(true)),
            ("FALSE", Resolved::Bool(false)),
            ("~", Resolved::Null),
            ("", Resolved::Null),
            ("0777", Resolved::Int(511)),
            ("0o17", Resolved::Int(15)),
            ("0x1F", Resolved::Int(31)),
            ("0b101", Resolved::Int(5)),
            ("-0x1F", Resolved::Int(-31)),
            ("+12", Resolved::Int(12)),
            ("1_000", Resolved::Int(1000)),
            ("08", Resolved::Float(8.0)),
            ("1.10", Resolved::Float(1.1)),
            ("1e3", Resolved::Float(1000.0)),
            (".5", Resolved::Float(0.5)),
            ("1.", Resolved::Float(1.0)),
            ("18446744073709551615", Resolved::Uint(u64::MAX)),
            (
                "18446744073709551616",
                Resolved::Float(18446744073709551616.0),
            ),
            ("1e400", Resolved::Str),
            ("0x", Resolved::Str),
            ("1:20", Resolved::Str),
            ("12abc", Resolved::Str),
            ("-", Resolved::Str),
        ];
        for (text, want) in cases {
            assert_eq!(&resolve_v3(text), want, "{text:?}");
        }
    }

    #[test]
    fn v2_quoting_table() {
        let plain = [
            "hello",
            "yess",
            "0x",
            "12abc",
            "-",
            "1.2.3",
            "<<",
            "a: b",
            "2024-13-01x",
        ];
        let quoted = [
            "",
            "yes",
            "Y",
            "n",
            "on",
            "OFF",
            "~",
            "null",
            "1",
            "0777",
            "1.10",
            "1e3",
            ".5",
            "1_000",
            "0x1F",
            "1:20",
            "-1:20:30.5",
            "2024-05-01",
            ".inf",
            "-.Inf",
            "18446744073709551616",
        ];
        for t in plain {
            assert!(plain_reads_as_string_v2(t), "{t:?} should be plain");
        }
        for t in quoted {
            assert!(!plain_reads_as_string_v2(t), "{t:?} should be quoted");
        }
    }
}
