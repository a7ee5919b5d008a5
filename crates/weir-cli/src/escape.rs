//! Untrusted text made safe for a terminal: object names, file names, repository content and server
//! messages reach tables and errors, and a control character in them must not move the cursor,
//! retitle the window, hide lines or reorder text (docs/security.md, "Terminal output").
//!
//! Control characters are written as Rust escapes (`\u{1b}`), so what was there stays visible.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Text that may span lines (an error with its chain): newlines and tabs kept, every other control
/// character escaped.
pub fn text(s: &str) -> Cow<'_, str> {
    escape(s, |c| c == '\n' || c == '\t')
}

/// One table cell or name: every control character escaped, newlines and tabs included.
pub fn field(s: &str) -> Cow<'_, str> {
    escape(s, |_| false)
}

fn escape(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) && !keep(c) {
            match c {
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                _ => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// C0 and C1 controls, DEL, and the bidirectional overrides and isolates that reorder what a
/// terminal shows ("Trojan Source", CVE-2021-42574).
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A `weir check` report with every string from the repository escaped for a terminal.
pub fn report(r: &weir_check::Report) -> weir_check::Report {
    let f = |s: &mut String| *s = field(s).into_owned();
    let mut r = r.clone();
    for k in &mut r.kustomizations {
        for s in [&mut k.name, &mut k.namespace, &mut k.path, &mut k.source] {
            f(s);
        }
        k.depends_on.iter_mut().for_each(f);
        k.defined_by.iter_mut().for_each(f);
        k.target.iter_mut().for_each(f);
        for o in &mut k.objects {
            for s in [
                &mut o.api_version,
                &mut o.kind,
                &mut o.namespace,
                &mut o.name,
            ] {
                f(s);
            }
        }
    }
    for finding in &mut r.findings {
        f(&mut finding.object);
        finding.group.iter_mut().for_each(f);
        finding.message = text(&finding.message).into_owned();
    }
    r.order.iter_mut().for_each(f);
    r.waves.iter_mut().flatten().for_each(f);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_terminal_sequences_and_keeps_plain_text() {
        assert!(matches!(text("apps/podinfo"), Cow::Borrowed(_)));
        assert_eq!(text("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(
            text("title\u{1b}]0;pwned\u{7}"),
            "title\\u{1b}]0;pwned\\u{7}"
        );
        assert_eq!(text("line\nnext\tcol\r"), "line\nnext\tcol\\r");
        assert_eq!(field("line\nnext\tcol"), "line\\nnext\\tcol");
        assert_eq!(field("c1\u{9b}31m"), "c1\\u{9b}31m");
        assert_eq!(field("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(field("naïve 日本"), "naïve 日本");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn no_control_character_survives(s in any::<String>()) {
            let f = field(&s);
            prop_assert!(!f.chars().any(is_unsafe));
            let t = text(&s);
            prop_assert!(!t.chars().any(|c| is_unsafe(c) && c != '\n' && c != '\t'));
        }
    }
}
