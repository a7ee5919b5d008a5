//! Choosing how a string is written: go-yaml v2's encoder picks a style, its emitter's scalar
//! analysis may overrule it (`yaml_emitter_analyze_scalar` / `yaml_emitter_select_scalar_style`).

use crate::resolve;

/// How a scalar ends up in the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
}

/// What the emitter's analysis found out about a scalar.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Analysis {
    pub(crate) multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

/// YAML's printable set as the v2 emitter tests it (BMP only: the emitter escapes the rest).
pub(crate) fn is_printable(c: char) -> bool {
    matches!(c, '\n' | ' '..='~' | '\u{A0}'..='\u{D7FF}')
        || (('\u{E000}'..='\u{FFFD}').contains(&c) && c != '\u{FEFF}')
}

pub(crate) fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

pub(crate) fn analyze(value: &str) -> Analysis {
    if value.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let mut block_indicators = value.starts_with("---") || value.starts_with("...");
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break, mut previous_space, mut previous_break) =
        (false, false, false, false);
    let (mut line_breaks, mut special_characters) = (false, false);
    let mut preceded_by_whitespace = true;
    let mut chars = value.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let followed_by_whitespace = next.is_none_or(is_blank);
        let last = next.is_none();
        if first {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special_characters = true;
        }
        if c == ' ' {
            if first {
                leading_space = true;
            }
            if last {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if first {
                leading_break = true;
            }
            if last {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = is_blank(c) || is_break(c) || c == '\0';
        first = false;
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special_characters {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// The style go-yaml v2's encoder asks for a string (`encoder.stringv`).
pub(crate) fn requested_style(value: &str) -> Style {
    if value.contains('\n') {
        Style::Literal
    } else if resolve::plain_reads_as_string_v2(value) {
        Style::Plain
    } else {
        Style::DoubleQuoted
    }
}

/// The emitter's final choice (block context; `simple_key` for mapping keys written inline).
pub(crate) fn select_style(requested: Style, a: &Analysis, value: &str, simple_key: bool) -> Style {
    let mut style = requested;
    if simple_key && a.multiline {
        style = Style::DoubleQuoted;
    }
    if style == Style::Plain && (!a.block_plain_allowed || (value.is_empty() && simple_key)) {
        style = Style::SingleQuoted;
    }
    if style == Style::SingleQuoted && !a.single_quoted_allowed {
        style = Style::DoubleQuoted;
    }
    if style == Style::Literal && (!a.block_allowed || simple_key) {
        style = Style::DoubleQuoted;
    }
    style
}

#[cfg(test)]
mod tests {
    use super::*;

    fn style_of(v: &str) -> Style {
        select_style(requested_style(v), &analyze(v), v, false)
    }

    #[test]
    fn styles_chosen_like_go_yaml_v2() {
        let cases = [
            ("hello", Style::Plain),
            ("yes", Style::DoubleQuoted),
            ("1", Style::DoubleQuoted),
            ("", Style::DoubleQuoted),
            ("*star", Style::SingleQuoted),
            ("&amp", Style::SingleQuoted),
            ("!bang", Style::SingleQuoted),
            ("%pct", Style::SingleQuoted),
            ("@at", Style::SingleQuoted),
            ("`tick", Style::SingleQuoted),
            ("[x", Style::SingleQuoted),
            ("{x", Style::SingleQuoted),
            ("|x", Style::SingleQuoted),
            (">x", Style::SingleQuoted),
            ("? x", Style::SingleQuoted),
            ("?x", Style::Plain),
            ("- x", Style::SingleQuoted),
            ("-x", Style::Plain),
            (" lead", Style::SingleQuoted),
            ("trail ", Style::SingleQuoted),
            ("a: b", Style::SingleQuoted),
            ("a:b", Style::Plain),
            ("a #b", Style::SingleQuoted),
            ("a#b", Style::Plain),
            ("---x", Style::SingleQuoted),
            ("tab\there", Style::DoubleQuoted),
            ("emoji \u{1F680}", Style::DoubleQuoted),
            ("caf\u{e9}", Style::Plain),
            ("line\nline\n", Style::Literal),
            ("line \nline", Style::DoubleQuoted),
            ("line\nline ", Style::DoubleQuoted),
            ("line\n line", Style::Literal),
            ("a,b", Style::Plain),
            ("#x", Style::SingleQuoted),
            ("x:", Style::SingleQuoted),
        ];
        for (v, want) in cases {
            assert_eq!(style_of(v), want, "{v:?}");
        }
    }
}
