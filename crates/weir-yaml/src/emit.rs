//! The writer: go-yaml v2's block emitter, reduced to what `yaml.Marshal` of a JSON value uses.
//!
//! State and decisions mirror the C-derived emitter (`emitterc.go`): an indentation stack, the
//! current column, and the `whitespace`/`indention` flags that decide where spaces and line
//! breaks go. Best indent 2, best width 80, unicode output allowed.

use serde_json::Value;

use crate::float;
use crate::json;
use crate::key_order;
use crate::scalar::{self, Style};

const BEST_INDENT: i32 = 2;
const BEST_WIDTH: usize = 80;
/// go-yaml writes keys longer than this (in bytes) as `? key` complex keys.
const MAX_SIMPLE_KEY_LEN: usize = 128;

/// Writes one document (a whole `yaml.Marshal` output) to `out`.
pub(crate) fn emit_document(out: &mut String, doc: &Value) {
    let mut e = Emitter {
        out,
        indent: -1,
        column: 0,
        whitespace: true,
        indention: true,
    };
    e.node(doc, Context::Root);
    // Document end: `yaml_emitter_write_indent` with the root indent.
    e.indent = -1;
    e.write_indent();
}

/// Writes one document into any `fmt::Write` sink (see [`crate::to_string`]).
pub fn write_value(w: &mut impl std::fmt::Write, doc: &Value) -> std::fmt::Result {
    let mut s = String::new();
    emit_document(&mut s, doc);
    w.write_str(&s)
}

/// Writes documents joined by `---\n`, as [`crate::to_string_multi`] does, into any `io::Write`
/// sink, one document at a time.
pub fn write_multi(w: &mut impl std::io::Write, docs: &[Value]) -> std::io::Result<()> {
    let mut buf = String::new();
    for (i, doc) in docs.iter().enumerate() {
        buf.clear();
        if i > 0 {
            buf.push_str("---\n");
        }
        emit_document(&mut buf, doc);
        w.write_all(buf.as_bytes())?;
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Root,
    SequenceItem,
    MappingValue,
    SimpleKey,
    ComplexKey,
}

struct Emitter<'a> {
    out: &'a mut String,
    indent: i32,
    /// Characters written on the current line.
    column: usize,
    /// The last thing written was whitespace (or a line start).
    whitespace: bool,
    /// Only indentation has been written on the current line.
    indention: bool,
}

impl Emitter<'_> {
    fn node(&mut self, v: &Value, ctx: Context) {
        match v {
            Value::Null => self.plain_token("null"),
            Value::Bool(true) => self.plain_token("true"),
            Value::Bool(false) => self.plain_token("false"),
            Value::Number(n) => {
                // Numbers are ASCII without spaces or indicators: always plain, never folded.
                if !self.whitespace {
                    self.put(' ');
                }
                let before = self.out.len();
                float::write_number(self.out, n);
                self.column += self.out.len() - before;
                self.whitespace = false;
                self.indention = false;
            }
            Value::String(s) => {
                let s = json::through_json(s);
                self.scalar(&s, scalar::requested_style(&s), ctx);
            }
            Value::Array(items) if items.is_empty() => self.empty_flow("[", "]"),
            Value::Object(map) if map.is_empty() => self.empty_flow("{", "}"),
            Value::Array(items) => self.block_sequence(items, ctx),
            Value::Object(map) => self.block_mapping(map),
        }
    }

    fn block_sequence(&mut self, items: &[Value], ctx: Context) {
        let saved = self.indent;
        let indentless = ctx == Context::MappingValue && !self.indention;
        self.increase_indent(false, indentless);
        for item in items {
            self.write_indent();
            self.write_indicator("-", true, false, true);
            self.node(item, Context::SequenceItem);
        }
        self.indent = saved;
    }

    fn block_mapping(&mut self, map: &serde_json::Map<String, Value>) {
        let saved = self.indent;
        self.increase_indent(false, false);
        let mut entries: Vec<(&str, &Value)> = map.iter().map(|(k, v)| (k.as_str(), v)).collect();
        key_order::sort_entries(&mut entries);
        for (key, value) in entries {
            let key = &*json::through_json(key);
            self.write_indent();
            let analysis = scalar::analyze(key);
            let requested = scalar::requested_style(key);
            if !analysis.multiline && key.len() <= MAX_SIMPLE_KEY_LEN {
                self.analysed_scalar(key, requested, &analysis, Context::SimpleKey);
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, true);
                self.analysed_scalar(key, requested, &analysis, Context::ComplexKey);
                self.write_indent();
                self.write_indicator(":", true, false, true);
            }
            self.node(value, Context::MappingValue);
        }
        self.indent = saved;
    }

    /// A plain scalar known to need no analysis (`null`, `true`, `false`).
    fn plain_token(&mut self, token: &str) {
        if !self.whitespace {
            self.put(' ');
        }
        self.out.push_str(token);
        self.column += token.len();
        self.whitespace = false;
        self.indention = false;
    }

    fn empty_flow(&mut self, open: &str, close: &str) {
        self.write_indicator(open, true, true, false);
        self.write_indicator(close, false, false, false);
    }

    fn scalar(&mut self, value: &str, requested: Style, ctx: Context) {
        let analysis = scalar::analyze(value);
        self.analysed_scalar(value, requested, &analysis, ctx);
    }

    fn analysed_scalar(
        &mut self,
        value: &str,
        requested: Style,
        analysis: &scalar::Analysis,
        ctx: Context,
    ) {
        let simple_key = ctx == Context::SimpleKey;
        let style = scalar::select_style(requested, analysis, value, simple_key);
        let saved = self.indent;
        self.increase_indent(true, false);
        let allow_breaks = !simple_key;
        match style {
            Style::Plain => self.write_plain(value, allow_breaks),
            Style::SingleQuoted => self.write_single_quoted(value, allow_breaks),
            Style::DoubleQuoted => self.write_double_quoted(value, allow_breaks),
            Style::Literal => self.write_literal(value),
        }
        self.indent = saved;
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        if self.indent < 0 {
            self.indent = if flow { BEST_INDENT } else { 0 };
        } else if !indentless {
            self.indent += BEST_INDENT;
        }
    }

    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(&mut self, ind: &str, need_ws: bool, is_ws: bool, is_indention: bool) {
        if need_ws && !self.whitespace {
            self.put(' ');
        }
        for c in ind.chars() {
            self.put(c);
        }
        self.whitespace = is_ws;
        self.indention = self.indention && is_indention;
    }

    /// A line break that is part of the value (`write_break`).
    fn write_break_char(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
    }

    fn write_plain(&mut self, value: &str, allow_breaks: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        let (mut spaces, mut breaks) = (false, false);
        let mut chars = value.chars().peekable();
        while let Some(c) = chars.next() {
            if c == ' ' {
                let next_is_space = chars.peek() == Some(&' ');
                if allow_breaks && !spaces && self.column > BEST_WIDTH && !next_is_space {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if scalar::is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break_char(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_single_quoted(&mut self, value: &str, allow_breaks: bool) {
        self.write_indicator("'", true, false, false);
        let (mut spaces, mut breaks) = (false, false);
        let total = value.chars().count();
        let mut chars = value.chars().enumerate().peekable();
        while let Some((i, c)) = chars.next() {
            if c == ' ' {
                let next_is_space = chars.peek().is_some_and(|&(_, n)| n == ' ');
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i != 0
                    && i != total - 1
                    && !next_is_space
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if scalar::is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break_char(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double_quoted(&mut self, value: &str, allow_breaks: bool) {
        self.write_indicator("\"", true, false, false);
        let mut spaces = false;
        let total = value.chars().count();
        // go-yaml v2's `is_bom` looks at the start of the value, not at the current character:
        // a value that starts with U+FEFF has every character escaped.
        let starts_with_bom = value.starts_with('\u{FEFF}');
        let mut chars = value.chars().enumerate().peekable();
        while let Some((i, c)) = chars.next() {
            if !scalar::is_printable(c)
                || starts_with_bom
                || scalar::is_break(c)
                || c == '"'
                || c == '\\'
            {
                self.put('\\');
                match c {
                    '\0' => self.put('0'),
                    '\u{7}' => self.put('a'),
                    '\u{8}' => self.put('b'),
                    '\t' => self.put('t'),
                    '\n' => self.put('n'),
                    '\u{b}' => self.put('v'),
                    '\u{c}' => self.put('f'),
                    '\r' => self.put('r'),
                    '\u{1b}' => self.put('e'),
                    '"' => self.put('"'),
                    '\\' => self.put('\\'),
                    '\u{85}' => self.put('N'),
                    '\u{A0}' => self.put('_'),
                    '\u{2028}' => self.put('L'),
                    '\u{2029}' => self.put('P'),
                    _ => {
                        let v = c as u32;
                        let (letter, width) = if v <= 0xFF {
                            ('x', 2)
                        } else if v <= 0xFFFF {
                            ('u', 4)
                        } else {
                            ('U', 8)
                        };
                        self.put(letter);
                        for k in (0..width).rev() {
                            let digit = (v >> (k * 4)) & 0xF;
                            self.put(
                                char::from_digit(digit, 16).map_or('0', |d| d.to_ascii_uppercase()),
                            );
                        }
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i != 0 && i != total - 1 {
                    self.write_indent();
                    if chars.peek().is_some_and(|&(_, n)| n == ' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_literal(&mut self, value: &str) {
        self.write_indicator("|", true, false, false);
        // Block scalar hints: an indentation indicator when the text starts with a space or a
        // break, and the chomping indicator from the trailing breaks.
        if value.starts_with(|c: char| c == ' ' || scalar::is_break(c)) {
            self.write_indicator("2", false, false, false);
        }
        let mut rev = value.chars().rev();
        let chomp = match rev.next() {
            None => Some("-"),
            Some(last) if !scalar::is_break(last) => Some("-"),
            Some(_) => match rev.next() {
                None => Some("+"),
                Some(prev) if scalar::is_break(prev) => Some("+"),
                Some(_) => None,
            },
        };
        if let Some(ch) = chomp {
            self.write_indicator(ch, false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for c in value.chars() {
            if scalar::is_break(c) {
                self.write_break_char(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::to_string;

    #[test]
    fn layout_rules() {
        let cases = [
            (json!({"b": 1, "a": [1, 2]}), "a:\n- 1\n- 2\nb: 1\n"),
            (json!({"a": {}}), "a: {}\n"),
            (json!({"a": []}), "a: []\n"),
            (json!({}), "{}\n"),
            (json!([]), "[]\n"),
            (json!(null), "null\n"),
            (json!("x"), "x\n"),
            (
                json!([[1, 2], {"a": 1, "b": 2}]),
                "- - 1\n  - 2\n- a: 1\n  b: 2\n",
            ),
            (json!({"a": {"b": [{"c": 1}]}}), "a:\n  b:\n  - c: 1\n"),
            (json!({"s": "a\nb\n"}), "s: |\n  a\n  b\n"),
            (json!({"s": "a\nb"}), "s: |-\n  a\n  b\n"),
            (json!({"s": "a\nb\n\n"}), "s: |+\n  a\n  b\n\n"),
            (json!({"s": " a\nb\n"}), "s: |2\n   a\n  b\n"),
            (json!({"s": "a\n\nb\n"}), "s: |\n  a\n\n  b\n"),
            (
                json!({"y": "n", "on": true}),
                "\"on\": true\n\"y\": \"n\"\n",
            ),
            (
                json!({"e": "deploy \u{1F6A2}"}),
                "e: \"deploy \\U0001F6A2\"\n",
            ),
            (json!({"t": "a\tb"}), "t: \"a\\tb\"\n"),
            (json!({"q": "it's: x"}), "q: 'it''s: x'\n"),
        ];
        for (v, want) in cases {
            assert_eq!(to_string(&v), want, "{v}");
        }
    }
}
