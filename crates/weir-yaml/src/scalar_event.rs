//! What a scalar event means: its tag (if any) and go-yaml v3's resolution of its text.

use std::borrow::Cow;

use saphyr_parser::{ScalarStyle, Tag};
use serde_json::Value;

use crate::Error;
use crate::load::PendingKey;
use crate::resolve::{self, Resolved};

/// Whether go-yaml's reader accepts the character (`#x9 | #xA | #xD | [#x20-#x7E] | #x85 |
/// [#xA0-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]`).
pub(crate) fn readable_by_go_yaml(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{A0}'..='\u{D7FF}')
        || ('\u{E000}'..='\u{FFFD}').contains(&c)
        || c >= '\u{10000}'
}

/// A string kustomize cannot print: Go's JSON encoder leaves DEL, C1 controls and U+FFFE/U+FFFF
/// unescaped, and go-yaml then refuses to read that JSON back ("control characters are not
/// allowed"). Characters below U+0020 are escaped by the JSON encoder and are fine.
pub(crate) fn check_printable_by_kustomize(
    s: &str,
    line: usize,
    column: usize,
) -> Result<(), Error> {
    match s.chars().find(|c| *c >= ' ' && !readable_by_go_yaml(*c)) {
        Some(c) => Err(Error::at(
            line,
            column,
            format!(
                "control characters are not allowed (U+{:04X}); kustomize cannot print this string",
                c as u32
            ),
        )),
        None => Ok(()),
    }
}

/// Whether go-yaml v3 types the key as a string (`Node.ShortTag() == "!!str"`, or `<<`).
pub(crate) fn key_is_string(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> bool {
    match tag.filter(|t| !is_non_specific(Some(t))) {
        None if style != ScalarStyle::Plain => true,
        None if text.is_empty() => true, // see `scalar_key`: becomes ''
        None => matches!(resolve::resolve_v3(text), Resolved::Str | Resolved::Merge),
        Some(t) => matches!(core_suffix(t), Some("str" | "merge")),
    }
}

/// A scalar used as a mapping key: go-yaml v3 keeps its source text.
pub(crate) fn scalar_key(
    text: Cow<'_, str>,
    style: ScalarStyle,
    tag: Option<&Tag>,
    line: usize,
) -> PendingKey {
    let plain = style == ScalarStyle::Plain;
    let core = tag.and_then(core_suffix);
    let untagged = tag.is_none() || is_non_specific(tag);
    if plain && text == "<<" && (untagged || core == Some("merge")) {
        return PendingKey::Merge;
    }
    if text == "<<" {
        // kustomize's reader (kyaml `DeAnchor`) clears every field named `<<` after resolving
        // merges, so a quoted `"<<"` key disappears.
        return PendingKey::Skip(text.into_owned());
    }
    // An empty key (`? ` or `: v`) is written back as `''` by kustomize's v3 round trip, so it
    // ends up as the string "": only spelled-out nulls are null keys.
    let null = core == Some("null")
        || (untagged && plain && matches!(&*text, "~" | "null" | "Null" | "NULL"));
    if null {
        return PendingKey::Skip(text.into_owned());
    }
    PendingKey::Text(text.into_owned(), line)
}

/// A mapping key as sigs.k8s.io/yaml turns go-yaml v2's key into a JSON key: booleans and
/// numbers are formatted (`yes` -> `"true"`, `0x1F` -> `"31"`, `1.5` -> float32 text); a null key
/// is an error.
pub(crate) fn scalar_key_yaml11(
    text: Cow<'_, str>,
    style: ScalarStyle,
    tag: Option<&Tag>,
    line: usize,
    column: usize,
) -> Result<PendingKey, Error> {
    let untagged = tag.is_none() || is_non_specific(tag);
    if style != ScalarStyle::Plain || !untagged {
        let merge = tag.and_then(core_suffix) == Some("merge") && text == "<<";
        return Ok(if merge {
            PendingKey::Merge
        } else {
            PendingKey::Text(text.into_owned(), line)
        });
    }
    let key = match resolve::resolve_v2(&text) {
        Resolved::Merge => return Ok(PendingKey::Merge),
        Resolved::Null => {
            return Err(Error::at(
                line,
                column,
                format!("unsupported map key {text:?} (null)"),
            ));
        }
        Resolved::Bool(b) => b.to_string(),
        Resolved::Int(i) => i.to_string(),
        Resolved::Uint(u) => u.to_string(),
        Resolved::Float(f) => crate::float::go_g32(f),
        Resolved::Timestamp(_) | Resolved::Str => text.into_owned(),
    };
    Ok(PendingKey::Text(key, line))
}

pub(crate) fn is_non_specific(tag: Option<&Tag>) -> bool {
    tag.is_some_and(|t| t.handle.is_empty() && t.suffix == "!")
}

/// The suffix of a `tag:yaml.org,2002:` tag (`!!str` -> `str`).
fn core_suffix(tag: &Tag) -> Option<&str> {
    const CORE: &str = "tag:yaml.org,2002:";
    if tag.handle == CORE {
        Some(&tag.suffix)
    } else if tag.handle.is_empty() {
        tag.suffix.strip_prefix(CORE)
    } else {
        None
    }
}

/// A scalar's value as go-yaml v3 decodes it into `interface{}`, then as JSON keeps it (or, with
/// `yaml11`, as go-yaml v2 does for sigs.k8s.io/yaml when kustomize reads a kustomization file).
pub(crate) fn scalar_value(
    text: Cow<'_, str>,
    style: ScalarStyle,
    tag: Option<&Tag>,
    line: usize,
    column: usize,
    yaml11: bool,
) -> Result<Value, Error> {
    let resolve = if yaml11 {
        resolve::resolve_v2
    } else {
        resolve::resolve_v3
    };
    let core = tag.and_then(core_suffix);
    // go-yaml v3 treats the non-specific tag `!` as no tag at all.
    let tag = tag.filter(|t| !is_non_specific(Some(t)));
    let resolved = match (tag, core) {
        (None, _) => {
            if style == ScalarStyle::Plain {
                resolve(&text)
            } else {
                Resolved::Str
            }
        }
        // Local and unknown tags: the text as a string (v3 does not resolve a scalar whose tag it
        // does not know).
        (Some(_), None) => Resolved::Str,
        (Some(_), Some(suffix)) => match suffix {
            "str" => Resolved::Str,
            "binary" => return decode_binary(&text, line, column),
            "null" => Resolved::Null,
            "merge" => Resolved::Str,
            "map" | "seq" => {
                return Err(Error::at(
                    line,
                    column,
                    format!("cannot decode a scalar as a !!{suffix}"),
                ));
            }
            "int" | "float" | "bool" | "timestamp" => {
                let r = resolve(&text);
                check_tag(suffix, r, &text, line, column)?
            }
            _ => Resolved::Str,
        },
    };
    Ok(match resolved {
        Resolved::Null => Value::Null,
        Resolved::Bool(b) => Value::Bool(b),
        Resolved::Int(i) => Value::from(i),
        Resolved::Uint(u) => Value::from(u),
        Resolved::Float(f) => match serde_json::Number::from_f64(f) {
            Some(n) => Value::Number(n),
            None => {
                return Err(Error::at(
                    line,
                    column,
                    format!("unsupported value {text:?}: infinity and NaN have no JSON form"),
                ));
            }
        },
        Resolved::Timestamp(t) => Value::String(t.to_rfc3339()),
        Resolved::Merge | Resolved::Str if yaml11 => Value::String(text.into_owned()),
        Resolved::Merge | Resolved::Str if !matches!(style, ScalarStyle::Plain) => {
            check_printable_by_kustomize(&text, line, column)?;
            if style != ScalarStyle::Folded {
                return Ok(Value::String(text.into_owned()));
            }
            Value::String(crate::folded::round_trip(&text).unwrap_or_else(|| text.into_owned()))
        }
        Resolved::Merge | Resolved::Str => Value::String(text.into_owned()),
    })
}

/// An explicit `!!int`/`!!float`/`!!bool`/`!!timestamp` tag must match what the text resolves to
/// (an integer may be read as a float).
fn check_tag(
    suffix: &str,
    r: Resolved,
    text: &str,
    line: usize,
    column: usize,
) -> Result<Resolved, Error> {
    let found = match &r {
        Resolved::Int(_) | Resolved::Uint(_) => "int",
        Resolved::Float(_) => "float",
        Resolved::Bool(_) => "bool",
        Resolved::Timestamp(_) => "timestamp",
        Resolved::Null => "null",
        Resolved::Merge => "merge",
        Resolved::Str => "str",
    };
    if found == suffix {
        return Ok(r);
    }
    match (suffix, r) {
        (_, Resolved::Str) if suffix == "timestamp" => {}
        ("float", Resolved::Int(i)) => return Ok(Resolved::Float(i as f64)),
        _ => {}
    }
    Err(Error::at(
        line,
        column,
        format!("cannot decode !!{found} `{text}` as a !!{suffix}"),
    ))
}

/// `!!binary`: base64 as Go's `StdEncoding` decodes it (line breaks ignored, nothing else).
fn decode_binary(text: &str, line: usize, column: usize) -> Result<Value, Error> {
    let cleaned: Cow<'_, str> = if text.contains(['\r', '\n']) {
        text.chars()
            .filter(|c| !matches!(c, '\r' | '\n'))
            .collect::<String>()
            .into()
    } else {
        text.into()
    };
    match base64_decode(&cleaned) {
        Some(bytes) => {
            let s = String::from_utf8_lossy(&bytes).into_owned();
            check_printable_by_kustomize(&s, line, column)?;
            Ok(Value::String(s))
        }
        None => Err(Error::at(
            line,
            column,
            "!!binary value contains invalid base64 data",
        )),
    }
}

/// Standard base64 with padding, as Go's `base64.StdEncoding`.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    for chunk in b.chunks(4) {
        let mut n = 0u32;
        let mut pad = 0;
        for (i, &c) in chunk.iter().enumerate() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                b'=' if i >= 2 => {
                    pad += 1;
                    0
                }
                _ => return None,
            };
            if pad > 0 && c != b'=' {
                return None;
            }
            n = (n << 6) | u32::from(v);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}
