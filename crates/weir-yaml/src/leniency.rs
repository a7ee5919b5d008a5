//! Input go-yaml accepts but saphyr-parser (strict YAML 1.2) rejects, made acceptable by changing
//! only whitespace that carries no meaning, so the parse can be retried.
//!
//! - a tab after a mapping `:` (`key:<TAB>value`): go-yaml treats it as a space;
//! - lines inside a flow collection (`args: [` ... `]`) or continuation lines of a quoted scalar
//!   indented no deeper than the enclosing block: go-yaml does not check their indentation, and
//!   extra leading whitespace there is dropped by YAML's line folding, so they are indented more;
//! - a `#` right after a token (`"quoted"#c`): go-yaml starts a comment there, YAML 1.2 wants a
//!   space first, so one is inserted.

use saphyr_parser::ScanError;

/// One whitespace change that may let the parse go further.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Repair {
    /// Tabs before this character index, right after a `:`, become spaces.
    TabAfterColon(usize),
    /// The line holding this character index is indented further.
    IndentLine(usize),
    /// The continuation lines of the quoted scalar starting at this character index are indented
    /// to its opening quote's column.
    IndentQuoted(usize),
    /// A space goes before the `#` at this character index.
    SpaceBeforeComment(usize),
}

/// The repair for a scanner error, if it is one of the known over-strict cases.
pub(crate) fn for_error(e: &ScanError) -> Option<Repair> {
    let at = e.marker().index();
    match e.info() {
        "':' must be followed by a valid YAML whitespace" => Some(Repair::TabAfterColon(at)),
        "invalid indentation" | "invalid indentation in flow construct" => {
            Some(Repair::IndentLine(at))
        }
        "invalid indentation in quoted scalar" => Some(Repair::IndentQuoted(at)),
        "comments must be separated from other tokens by whitespace" => {
            Some(Repair::SpaceBeforeComment(at))
        }
        _ => None,
    }
}

/// Applies a repair; `None` when it does not apply (the error then stands).
pub(crate) fn apply(text: &str, repair: Repair) -> Option<String> {
    match repair {
        Repair::TabAfterColon(at) => space_for_tab(text, byte_index(text, at)),
        Repair::IndentLine(at) => indent_line(text, byte_index(text, at)),
        Repair::IndentQuoted(at) => indent_quoted(text, byte_index(text, at)),
        Repair::SpaceBeforeComment(at) => {
            let at = byte_index(text, at);
            text[at..]
                .starts_with('#')
                .then(|| splice(text, at, at, " "))
        }
    }
}

fn byte_index(text: &str, char_index: usize) -> usize {
    text.char_indices()
        .nth(char_index)
        .map_or(text.len(), |(i, _)| i)
}

/// Replaces the blanks between the `:` before `end` and `end` with spaces.
fn space_for_tab(text: &str, end: usize) -> Option<String> {
    let before = &text[..end];
    let gap = before.len() - before.trim_end_matches([' ', '\t']).len();
    let start = end - gap;
    if gap == 0 || !before[..start].ends_with(':') || !before[start..].contains('\t') {
        return None;
    }
    Some(splice(text, start, end, &" ".repeat(gap)))
}

fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind(['\n', '\r']).map_or(0, |i| i + 1)
}

/// Leading blanks of the line starting at `start`.
fn indentation(text: &str, start: usize) -> usize {
    text[start..]
        .bytes()
        .take_while(|b| *b == b' ' || *b == b'\t')
        .count()
}

/// Indents the line holding `at` one column deeper than the previous non-blank line (at least
/// one column deeper than it is).
fn indent_line(text: &str, at: usize) -> Option<String> {
    let start = line_start(text, at);
    let current = indentation(text, start);
    let previous = text[..start]
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map_or(0, |l| l.len() - l.trim_start_matches([' ', '\t']).len());
    let wanted = (previous + 1).max(current + 1);
    Some(splice(text, start, start, &" ".repeat(wanted - current)))
}

/// Indents every continuation line of the quoted scalar opening at `at` to the quote's column.
fn indent_quoted(text: &str, at: usize) -> Option<String> {
    let quote = *text.as_bytes().get(at)?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let column = text[line_start(text, at)..at].chars().count();
    let mut out = String::with_capacity(text.len() + 64);
    out.push_str(&text[..=at]);
    let mut chars = text[at + 1..].char_indices();
    let mut changed = false;
    while let Some((i, c)) = chars.next() {
        out.push(c);
        match c {
            '\\' if quote == b'"' => {
                if let Some((_, next)) = chars.next() {
                    out.push(next);
                    if next == '\n' {
                        changed |= pad_continuation(&mut out, &text[at + 1 + i + 2..], column);
                    }
                }
            }
            '\'' if quote == b'\'' => {
                // `''` is an escaped quote; a single one closes the scalar.
                if text[at + 1 + i + 1..].starts_with('\'') {
                    chars.next();
                    out.push('\'');
                } else {
                    out.push_str(&text[at + 1 + i + 1..]);
                    return changed.then_some(out);
                }
            }
            '"' if quote == b'"' => {
                out.push_str(&text[at + 1 + i + 1..]);
                return changed.then_some(out);
            }
            '\n' => changed |= pad_continuation(&mut out, &text[at + 1 + i + 1..], column),
            _ => {}
        }
    }
    None
}

/// Pads a continuation line (whose text starts `rest`) up to `column` when it is shallower.
fn pad_continuation(out: &mut String, rest: &str, column: usize) -> bool {
    let current = indentation(rest, 0);
    if current >= column || rest[current..].starts_with(['\n', '\r']) {
        return false;
    }
    out.push_str(&" ".repeat(column - current));
    true
}

fn splice(text: &str, start: usize, end: usize, with: &str) -> String {
    let mut s = String::with_capacity(text.len() + with.len());
    s.push_str(&text[..start]);
    s.push_str(with);
    s.push_str(&text[end..]);
    s
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::from_str;

    #[test]
    fn go_yaml_accepts_what_strict_yaml_1_2_refuses() {
        let cases = [
            ("a:\tb\nc:\t\t-d\n", json!({"a": "b", "c": "-d"})),
            (
                "args: [\n  \"x\",\n  \"y\"\n]\n",
                json!({"args": ["x", "y"]}),
            ),
            ("args: [\n\"x\",\n\"y\"]\n", json!({"args": ["x", "y"]})),
            (
                "spec:\n  containers:\n  - name: x\n    args: [\n      \"--foo\",\n    ]\n",
                json!({"spec": {"containers": [{"name": "x", "args": ["--foo"]}]}}),
            ),
            (
                "m: {\n  a: 1,\n  b: [1,\n2]\n}\n",
                json!({"m": {"a": 1, "b": [1, 2]}}),
            ),
            ("a: \"x\ny\"\n", json!({"a": "x y"})),
            (
                "a:\n  b: 'it''s\n  long\nstill'\n",
                json!({"a": {"b": "it's long still"}}),
            ),
            ("a: \"x\\\ny\"\n", json!({"a": "xy"})),
            ("a: \"one\n\n two\"\n", json!({"a": "one\ntwo"})),
            ("a:\n- \"q\"#c\n- 'r'#d\n", json!({"a": ["q", "r"]})),
        ];
        for (src, want) in cases {
            let got = from_str(src).unwrap_or_else(|e| panic!("{src:?}: {e}"));
            assert_eq!(got, vec![want], "{src:?}");
        }
    }

    #[test]
    fn real_errors_stay_errors() {
        for src in [
            "a: [1, 2\nb: 3\n",
            "a: \"open\n",
            "a:\n\t- b\n",
            "a: b: c\n",
        ] {
            assert!(from_str(src).is_err(), "{src:?}");
        }
    }
}
