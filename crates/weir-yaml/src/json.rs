//! What a string becomes on kustomize's way out: Go's JSON encoder, then go-yaml v2 reading that
//! JSON as YAML 1.1.
//!
//! The encoder escapes control characters, quotes, backslashes and U+2028/U+2029, so they come
//! back unchanged. It leaves U+0085 (NEL) raw, and YAML 1.1 reads a raw NEL inside a quoted
//! scalar as a line break, which line folding then turns into a space (or drops, when more
//! breaks follow), trimming the spaces around it.

use std::borrow::Cow;

/// The string as go-yaml v2 reads it back from Go's JSON encoding of it.
pub(crate) fn through_json(s: &str) -> Cow<'_, str> {
    if !s.contains('\u{85}') {
        return Cow::Borrowed(s);
    }
    // libyaml's flow-scalar folding with ' ' as the only blank and NEL as the only break.
    let mut out = String::with_capacity(s.len());
    let mut whitespace = String::new();
    let (mut after_break, mut extra_breaks) = (false, 0usize);
    let mut chars = s.chars().peekable();
    loop {
        while let Some(&c) = chars.peek() {
            if c == ' ' || c == '\u{85}' {
                break;
            }
            out.push(c);
            chars.next();
        }
        let mut saw_blank = false;
        while let Some(&c) = chars.peek() {
            match c {
                ' ' if !after_break => whitespace.push(' '),
                ' ' => {}
                '\u{85}' if !after_break => {
                    whitespace.clear();
                    after_break = true;
                }
                '\u{85}' => extra_breaks += 1,
                _ => break,
            }
            saw_blank = true;
            chars.next();
        }
        if after_break {
            if extra_breaks == 0 {
                out.push(' ');
            } else {
                out.extend(std::iter::repeat_n('\n', extra_breaks));
            }
            after_break = false;
            extra_breaks = 0;
        } else {
            out.push_str(&whitespace);
        }
        whitespace.clear();
        if !saw_blank && chars.peek().is_none() {
            break;
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::through_json;

    #[test]
    fn raw_nel_folds_like_yaml_1_1() {
        let cases = [
            ("plain", "plain"),
            ("\u{85}", " "),
            ("a\u{85}b", "a b"),
            ("a \u{85} b", "a b"),
            ("a\u{85}\u{85}b", "a\nb"),
            ("a\u{85}\u{85}\u{85}b", "a\n\nb"),
            ("a\u{85}", "a "),
            ("a  b\u{85}c", "a  b c"),
        ];
        for (s, want) in cases {
            assert_eq!(through_json(s), want, "{s:?}");
        }
    }
}
