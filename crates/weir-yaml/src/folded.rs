//! Folded (`>`) block scalars as kustomize ends up printing them.
//!
//! kustomize turns each object into JSON by writing its node tree with go-yaml v3 and decoding
//! that text again. v3 writes a node that was read as a folded scalar back in folded style, and
//! its folded writer decides whether a line break needs an extra empty line by looking at the
//! first character of the whole value instead of the next line (a slip in the port from C). When
//! more-indented lines are involved, the text read back differs from the value first read: `x`,
//! ` more`, `y` comes back as `x`, ``, ` more`, `y`. This module replays that write and read so
//! that weir reads folded scalars into the value kustomize prints.

use saphyr_parser::{Event, Parser, ScalarStyle};

use crate::scalar::{is_break, is_printable};

/// The value a folded scalar has after kustomize's v3 write-and-read round trip.
pub(crate) fn round_trip(value: &str) -> Option<String> {
    if !block_style_kept(value) || value.contains(['\u{2028}', '\u{2029}']) {
        return None; // v3 writes it double-quoted (exact), or YAML 1.1/1.2 disagree on the breaks
    }
    let text = v3_folded_text(value);
    let mut parser = Parser::new_from_str(&text);
    while let Some(Ok((event, _))) = parser.next_event() {
        if let Event::Scalar(v, ScalarStyle::Folded, ..) = event {
            return (v != value).then(|| v.into_owned());
        }
    }
    None
}

/// go-yaml v3 keeps a block style unless the value ends with a space, has a space before a line
/// break, or has a non-printable character (tabs are fine in v3).
fn block_style_kept(value: &str) -> bool {
    if value.is_empty() || value.ends_with(' ') || value.contains(" \n") {
        return false;
    }
    let mut prev = '\0';
    for c in value.chars() {
        if (prev == ' ' && is_break(c)) || (c != '\t' && !is_printable(c)) {
            return false;
        }
        prev = c;
    }
    true
}

/// `k: >...` as go-yaml v3's `yaml_emitter_write_folded_scalar` writes the value at indent 2.
fn v3_folded_text(value: &str) -> String {
    let mut s = String::with_capacity(value.len() * 2 + 16);
    s.push_str("k: >");
    if value.starts_with(|c: char| c == ' ' || is_break(c)) {
        s.push('2');
    }
    let mut rev = value.chars().rev();
    match (rev.next(), rev.next()) {
        (Some(last), _) if !is_break(last) => s.push('-'),
        (Some(_), None) => s.push('+'),
        (Some(_), Some(prev)) if is_break(prev) => s.push('+'),
        _ => {}
    }
    s.push('\n');
    // The slip: "is the line after this break more indented?" is asked of the value's first
    // non-break character.
    let first_is_blank = value
        .chars()
        .find(|c| !is_break(*c))
        .is_none_or(|c| c == ' ' || c == '\t' || c == '\0');
    let (mut breaks, mut leading_spaces) = (true, true);
    for c in value.chars() {
        if is_break(c) {
            if !breaks && !leading_spaces && c == '\n' && !first_is_blank {
                s.push('\n');
            }
            s.push(c); // every break, `\n` or not, is written as itself and ends the line
            breaks = true;
        } else {
            if breaks {
                s.push_str("  ");
                leading_spaces = c == ' ' || c == '\t';
            }
            s.push(c);
            breaks = false;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::round_trip;

    #[test]
    fn folded_values_come_back_as_kustomize_prints_them() {
        let cases = [
            ("folded text\npara\n", None),
            ("x\n more\ny", Some("x\n\n more\ny")),
            (" a\nb\nc", Some(" a\nb c")),
            ("plain", None),
            ("trailing \nspace", None),
        ];
        for (value, want) in cases {
            assert_eq!(round_trip(value).as_deref(), want, "{value:?}");
        }
    }
}
