//! The reader: saphyr-parser events into `serde_json::Value`, with go-yaml v3's decoding rules.
//!
//! Built with an explicit stack (no recursion), so deep input cannot overflow the call stack.
//! Anchored values are kept by anchor id and copied at each alias, bounded by go-yaml's alias
//! ratio rule so a "billion laughs" document fails instead of eating memory.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Value};

use crate::Error;
use crate::leniency;
use crate::scalar_event::{
    check_printable_by_kustomize, key_is_string, scalar_key, scalar_key_yaml11, scalar_value,
};

/// Deepest nesting accepted. go-yaml v3 allows 10000; values this deep would overflow the stack
/// of the recursive code that later walks them, and no Kubernetes object comes close.
const MAX_DEPTH: usize = 1_000;

/// Which of kustomize's YAML readers to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Dialect {
    /// kyaml (go-yaml v3); keys that are not strings are kept as their source text.
    #[default]
    AsText,
    /// kyaml, refusing keys kustomize cannot turn into JSON: a null key anywhere, and a
    /// bool/number/timestamp/tagged key below the top level.
    JsonObjects,
    /// sigs.k8s.io/yaml (go-yaml v2, YAML 1.1), as for kustomization files: `yes`/`on` are
    /// booleans, keys are formatted into strings, a repeated key replaces the earlier one.
    Kustomization,
}

pub(crate) fn load_all(src: &str, dialect: Dialect) -> Result<Vec<(Value, usize)>, Error> {
    check_characters(src)?;
    if dialect == Dialect::Kustomization {
        // sigs.k8s.io/yaml decodes the first document only.
        let mut docs = load_text(src, dialect)?;
        docs.truncate(1);
        return Ok(docs.into_iter().filter(|(d, _)| !d.is_null()).collect());
    }
    // kyaml's reader normalises CRLF, cuts the stream at `---` lines itself and decodes the first
    // document of each piece (a `...` end marker without a following `---` ends the piece).
    let normalized: Cow<'_, str> = if src.contains("\r\n") {
        src.replace("\r\n", "\n").into()
    } else {
        src.into()
    };
    let mut docs = Vec::new();
    for (piece, first_line) in kyaml_pieces(&normalized)? {
        let shift = first_line - 1;
        if let Some(at) = starts_with_end_marker(&piece) {
            // go-yaml wants a document before `...`; YAML 1.2 (saphyr) allows an empty stream.
            return Err(Error::at(
                at + shift,
                1,
                "did not find expected node content",
            ));
        }
        let piece_docs = load_text(&piece, dialect).map_err(|mut e| {
            e.line = e.line.map(|l| l + shift);
            e
        })?;
        if let Some((doc, line)) = piece_docs.into_iter().next()
            && !doc.is_null()
        {
            docs.push((doc, line + shift));
        }
    }
    Ok(docs)
}

/// The 1-based line of a `...` that comes before any content of the piece.
fn starts_with_end_marker(piece: &str) -> Option<usize> {
    for (i, line) in piece.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let marker = line.starts_with("...")
            && line[3..]
                .chars()
                .next()
                .is_none_or(|c| c == ' ' || c == '\t');
        return marker.then_some(i + 1);
    }
    None
}

/// kyaml's `splitDocuments`: pieces between lines that start with `---`, each with its 1-based
/// first line. A separator line may only carry a comment after the `---`.
fn kyaml_pieces(text: &str) -> Result<Vec<(String, usize)>, Error> {
    let mut pieces = Vec::new();
    let (mut prev, mut prev_line, mut line) = (0, 1, 1);
    let mut search = 0;
    while let Some(found) = text[search..].find("\n---") {
        let start = search + found; // the '\n' before `---`
        let Some(eol) = text[start + 1..].find('\n').map(|i| start + 1 + i) else {
            break; // `---` on the last line without a newline: not a separator
        };
        let after = text[start + 4..eol].trim();
        line += text[search..start + 1].matches('\n').count();
        if !after.is_empty() && !after.starts_with('#') {
            return Err(Error::at(
                line,
                1,
                format!(
                    "invalid document separator: {}",
                    text[start + 1..eol].trim()
                ),
            ));
        }
        let mut piece = text[prev..start].to_string();
        piece.push('\n');
        pieces.push((piece, prev_line));
        prev = eol + 1;
        line += 1;
        prev_line = line;
        search = eol + 1;
    }
    pieces.push((text[prev..].to_string(), prev_line));
    Ok(pieces)
}

/// One stream of text through saphyr, with the whitespace repairs; every document, nulls
/// included.
fn load_text(src: &str, dialect: Dialect) -> Result<Vec<(Value, usize)>, Error> {
    // go-yaml (YAML 1.1) treats a raw NEL as a line break everywhere; saphyr (YAML 1.2) as text.
    let mut patched: Option<String> = src.contains('\u{85}').then(|| src.replace('\u{85}', "\n"));
    for _ in 0..MAX_REPAIRS {
        let text = patched.as_deref().unwrap_or(src);
        match load_stream(text, dialect) {
            Ok(docs) => return Ok(docs),
            Err(Failure::Other(err)) => return Err(err),
            Err(Failure::Repairable(repair, err)) => match leniency::apply(text, repair) {
                Some(fixed) => patched = Some(fixed),
                None => return Err(err),
            },
        }
    }
    load_stream(patched.as_deref().unwrap_or(src), dialect)
        .map_err(|(Failure::Repairable(_, err) | Failure::Other(err))| err)
}

/// Whether an empty key scalar at this character index is an implicit one (`: v`), not the
/// empty key of an explicit `? ` entry.
fn implicit_empty_key(src: &str, char_index: usize) -> bool {
    let Some((at, ':')) = src.char_indices().nth(char_index) else {
        return false;
    };
    !src[..at]
        .trim_end_matches([' ', '\t', '\n', '\r'])
        .ends_with('?')
}

/// go-yaml's reader refuses characters outside YAML's printable set anywhere in the stream.
fn check_characters(src: &str) -> Result<(), Error> {
    let (mut line, mut column) = (1, 1);
    for c in src.chars() {
        if !crate::scalar_event::readable_by_go_yaml(c) {
            return Err(Error::at(
                line,
                column,
                format!("control characters are not allowed (U+{:04X})", c as u32),
            ));
        }
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    Ok(())
}

/// Whitespace repairs tried on one stream before its error is reported (each re-parses it).
const MAX_REPAIRS: usize = 256;

enum Failure {
    /// An error that a whitespace change (see [`leniency`]) may get past.
    Repairable(leniency::Repair, Error),
    Other(Error),
}

/// Documents with the 1-based line their content starts on.
fn load_stream(src: &str, dialect: Dialect) -> Result<Vec<(Value, usize)>, Failure> {
    let mut loader = Loader {
        dialect,
        ..Loader::default()
    };
    let mut docs = Vec::new();
    let mut parser = Parser::new_from_str(src);
    let mut root_line = 0;
    while let Some(item) = parser.next_event() {
        let (event, span) = item.map_err(|e| {
            let err = Error::at(
                e.marker().line(),
                e.marker().col() + 1,
                e.info().to_string(),
            );
            match leniency::for_error(&e) {
                Some(repair) => Failure::Repairable(repair, err),
                None => Failure::Other(err),
            }
        })?;
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => {}
            Event::DocumentStart(_) => {
                loader.anchors.clear();
                loader.decode_count = 0;
                loader.alias_count = 0;
            }
            other => {
                if loader.stack.is_empty() {
                    root_line = span.start.line();
                }
                if let Event::Scalar(text, ScalarStyle::Plain, _, None) = &other
                    && text.is_empty()
                    && loader.expects_key()
                    && implicit_empty_key(src, span.start.index())
                {
                    // An implicit key that is empty (`: v`): YAML 1.2 allows it, go-yaml does not.
                    return Err(Failure::Other(Error::at(
                        span.start.line(),
                        span.start.col() + 1,
                        "did not find expected key",
                    )));
                }
                if let Some(doc) = loader.event(other, span).map_err(Failure::Other)? {
                    docs.push((doc, root_line));
                }
            }
        }
    }
    Ok(docs)
}

/// A mapping key read and waiting for its value.
pub(crate) enum PendingKey {
    /// An ordinary key, with the line it is on.
    Text(String, usize),
    /// `<<`: the value is merged into the mapping.
    Merge,
    /// A null key (its source text): go-yaml drops the entry when decoding into
    /// `map[string]interface{}`.
    Skip(String),
}

struct MappingFrame {
    entries: Map<String, Value>,
    /// The line of each entry of `entries`, in insertion order (for duplicate-key messages).
    entry_lines: Vec<usize>,
    /// Keys that do not end up in `entries` (merge and null keys), for the duplicate check.
    other_keys: Vec<(String, usize)>,
    merges: Vec<Value>,
    pending: Option<PendingKey>,
    anchor: usize,
    line: usize,
    column: usize,
}

impl MappingFrame {
    /// go-yaml v3 rejects a mapping in which two keys have the same text.
    fn check_duplicate(&self, text: &str, line: usize, column: usize) -> Result<(), Error> {
        let first = if self.entries.contains_key(text) {
            self.entries
                .keys()
                .position(|k| k == text)
                .and_then(|i| self.entry_lines.get(i).copied())
        } else {
            self.other_keys
                .iter()
                .find(|(k, _)| k == text)
                .map(|(_, l)| *l)
        };
        if self.entries.contains_key(text) || first.is_some() {
            let at = first.map(|l| format!(" at line {l}")).unwrap_or_default();
            return Err(Error::at(
                line,
                column,
                format!("mapping key {text:?} already defined{at}"),
            ));
        }
        Ok(())
    }
}

enum Frame {
    Sequence { items: Vec<Value>, anchor: usize },
    Mapping(MappingFrame),
}

#[derive(Default)]
struct Loader {
    dialect: Dialect,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Value, usize)>,
    decode_count: usize,
    alias_count: usize,
}

impl Loader {
    /// Feeds one node event; returns the document's root once it is complete.
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<Option<Value>, Error> {
        let line = span.start.line();
        let column = span.start.col() + 1;
        self.decode_count += 1;
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                if let Some(Frame::Mapping(m)) = self.stack.last_mut()
                    && m.pending.is_none()
                {
                    let yaml11 = self.dialect == Dialect::Kustomization;
                    if anchor != 0 {
                        let value = scalar_value(
                            text.clone(),
                            style,
                            tag.as_deref(),
                            line,
                            column,
                            yaml11,
                        )?;
                        self.anchors.insert(anchor, (value, 1));
                    }
                    if yaml11 {
                        let key = scalar_key_yaml11(text, style, tag.as_deref(), line, column)?;
                        return self.set_key(key, line, column).map(|()| None);
                    }
                    check_printable_by_kustomize(&text, line, column)?;
                    let string_typed = key_is_string(&text, style, tag.as_deref());
                    self.check_key_type(string_typed, &text, line, column)?;
                    let key = scalar_key(text, style, tag.as_deref(), line);
                    return self.set_key(key, line, column).map(|()| None);
                }
                let yaml11 = self.dialect == Dialect::Kustomization;
                let value = scalar_value(text, style, tag.as_deref(), line, column, yaml11)?;
                self.finish(value, anchor, line, column)
            }
            Event::Alias(id) => {
                let Some((value, size)) = self.anchors.get(&id) else {
                    return Err(Error::at(line, column, "unknown anchor"));
                };
                let size = *size;
                self.alias_count += size;
                self.decode_count += size;
                if self.alias_count > 100
                    && self.decode_count > 1000
                    && self.alias_count as f64 / self.decode_count as f64
                        > allowed_alias_ratio(self.decode_count)
                {
                    return Err(Error::at(
                        line,
                        column,
                        "document contains excessive aliasing",
                    ));
                }
                if let Some(Frame::Mapping(m)) = self.stack.last()
                    && m.pending.is_none()
                {
                    self.check_key_type(value.is_string(), &value.to_string(), line, column)?;
                    let key = match value {
                        Value::Null => PendingKey::Skip(String::new()),
                        Value::String(s) => PendingKey::Text(s.clone(), line),
                        Value::Bool(b) => PendingKey::Text(b.to_string(), line),
                        Value::Number(n) => PendingKey::Text(n.to_string(), line),
                        Value::Array(_) | Value::Object(_) => {
                            return Err(Error::at(line, column, "a mapping key must be a scalar"));
                        }
                    };
                    return self.set_key(key, line, column).map(|()| None);
                }
                if let Some(Frame::Mapping(m)) = self.stack.last()
                    && matches!(m.pending, Some(PendingKey::Merge))
                    && !value.is_object()
                {
                    // go-yaml v3 merges an alias only when it names a mapping.
                    return Err(Error::at(
                        line,
                        column,
                        "map merge requires map or sequence of maps as the value",
                    ));
                }
                let value = value.clone();
                self.finish(value, 0, line, column)
            }
            Event::SequenceStart(anchor, _tag) => {
                self.check_collection_start(line, column)?;
                self.stack.push(Frame::Sequence {
                    items: Vec::new(),
                    anchor,
                });
                Ok(None)
            }
            Event::MappingStart(anchor, _tag) => {
                self.check_collection_start(line, column)?;
                self.stack.push(Frame::Mapping(MappingFrame {
                    entries: Map::new(),
                    entry_lines: Vec::new(),
                    other_keys: Vec::new(),
                    merges: Vec::new(),
                    pending: None,
                    anchor,
                    line,
                    column,
                }));
                Ok(None)
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::Sequence { items, anchor }) => {
                    self.finish(Value::Array(items), anchor, line, column)
                }
                _ => Err(Error::at(line, column, "unexpected end of sequence")),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Mapping(m)) => {
                    let mut entries = m.entries;
                    for source in m.merges {
                        merge_into(&mut entries, source);
                    }
                    self.finish(Value::Object(entries), m.anchor, m.line, m.column)
                }
                _ => Err(Error::at(line, column, "unexpected end of mapping")),
            },
            _ => Ok(None),
        }
    }

    /// Whether the next node is a mapping key.
    fn expects_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Mapping(m)) if m.pending.is_none())
    }

    /// In [`Dialect::JsonObjects`] mode, refuses the keys kustomize cannot put into JSON.
    fn check_key_type(
        &self,
        string_typed: bool,
        text: &str,
        line: usize,
        column: usize,
    ) -> Result<(), Error> {
        if self.dialect != Dialect::JsonObjects || string_typed {
            return Ok(());
        }
        let null = matches!(text, "" | "~" | "null" | "Null" | "NULL");
        if null || self.stack.len() > 1 {
            return Err(Error::at(
                line,
                column,
                format!(
                    "mapping key {text:?} is not a string; kustomize cannot turn this object into \
                     JSON (quote the key)"
                ),
            ));
        }
        Ok(())
    }

    fn check_collection_start(&self, line: usize, column: usize) -> Result<(), Error> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Error::at(
                line,
                column,
                format!("exceeded max depth of {MAX_DEPTH}"),
            ));
        }
        if let Some(Frame::Mapping(m)) = self.stack.last()
            && m.pending.is_none()
        {
            return Err(Error::at(line, column, "a mapping key must be a scalar"));
        }
        Ok(())
    }

    fn set_key(&mut self, key: PendingKey, line: usize, column: usize) -> Result<(), Error> {
        let Some(Frame::Mapping(m)) = self.stack.last_mut() else {
            return Ok(());
        };
        if self.dialect == Dialect::Kustomization {
            // go-yaml v2 without strict mode: a repeated key replaces the earlier value.
            m.pending = Some(key);
            return Ok(());
        }
        match &key {
            PendingKey::Text(text, _) => m.check_duplicate(text, line, column)?,
            PendingKey::Merge => {
                m.check_duplicate("<<", line, column)?;
                m.other_keys.push(("<<".to_string(), line));
            }
            PendingKey::Skip(raw) => {
                m.check_duplicate(raw, line, column)?;
                m.other_keys.push((raw.clone(), line));
            }
        }
        m.pending = Some(key);
        Ok(())
    }

    /// Places a finished value into its parent (or returns it as the document root).
    fn finish(
        &mut self,
        value: Value,
        anchor: usize,
        line: usize,
        column: usize,
    ) -> Result<Option<Value>, Error> {
        if anchor != 0 {
            let size = node_count(&value);
            self.anchors.insert(anchor, (value.clone(), size));
        }
        match self.stack.last_mut() {
            None => Ok(Some(value)),
            Some(Frame::Sequence { items, .. }) => {
                items.push(value);
                Ok(None)
            }
            Some(Frame::Mapping(m)) => {
                match m.pending.take() {
                    // A collection as a key is refused when it starts; nothing else lands here.
                    None => return Err(Error::at(line, column, "a mapping key must be a scalar")),
                    Some(PendingKey::Text(text, key_line)) => {
                        m.entries.insert(text, value);
                        m.entry_lines.push(key_line);
                    }
                    Some(PendingKey::Merge) => {
                        let ok = match &value {
                            Value::Object(_) => true,
                            Value::Array(items) => items.iter().all(Value::is_object),
                            _ => false,
                        };
                        if !ok {
                            return Err(Error::at(
                                line,
                                column,
                                "map merge requires map or sequence of maps as the value",
                            ));
                        }
                        m.merges.push(value);
                    }
                    Some(PendingKey::Skip(_)) => {}
                }
                Ok(None)
            }
        }
    }
}

/// Adds merged entries; keys already present (explicit ones, or from an earlier merge) win.
fn merge_into(entries: &mut Map<String, Value>, source: Value) {
    match source {
        Value::Object(map) => {
            for (k, v) in map {
                entries.entry(k).or_insert(v);
            }
        }
        Value::Array(items) => {
            for item in items {
                if let Value::Object(map) = item {
                    for (k, v) in map {
                        entries.entry(k).or_insert(v);
                    }
                }
            }
        }
        _ => {}
    }
}

fn node_count(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(node_count).sum::<usize>(),
        Value::Object(map) => 1 + map.values().map(|v| 1 + node_count(v)).sum::<usize>(),
        _ => 1,
    }
}

/// go-yaml v3's `allowedAliasRatio`.
fn allowed_alias_ratio(decode_count: usize) -> f64 {
    const LOW: f64 = 400_000.0;
    const HIGH: f64 = 4_000_000.0;
    let d = decode_count as f64;
    if d <= LOW {
        0.99
    } else if d >= HIGH {
        0.10
    } else {
        0.99 - 0.89 * ((d - LOW) / (HIGH - LOW))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::from_str;

    fn one(src: &str) -> serde_json::Value {
        let docs = from_str(src).unwrap_or_else(|e| panic!("{src:?}: {e}"));
        assert_eq!(docs.len(), 1, "{src:?}");
        docs.into_iter().next().unwrap_or_default()
    }

    #[test]
    fn scalars_resolve_like_go_yaml_v3() {
        let cases = [
            ("a: yes", json!({"a": "yes"})),
            ("a: on", json!({"a": "on"})),
            ("a: True", json!({"a": true})),
            ("a: ~", json!({"a": null})),
            ("a:", json!({"a": null})),
            ("a: 0777", json!({"a": 511})),
            ("a: 0o17", json!({"a": 15})),
            ("a: 0x1F", json!({"a": 31})),
            ("a: 1.10", json!({"a": 1.1})),
            ("a: 1e3", json!({"a": 1000.0})),
            ("a: 2024-02-29", json!({"a": "2024-02-29T00:00:00Z"})),
            ("a: '2024-02-29'", json!({"a": "2024-02-29"})),
            ("a: \"1\"", json!({"a": "1"})),
            ("a: !!str 12", json!({"a": "12"})),
            ("a: !!int \"12\"", json!({"a": 12})),
            ("a: !!float 1", json!({"a": 1.0})),
            ("a: !custom 12", json!({"a": "12"})),
            ("a: ! 12", json!({"a": 12})),
            ("a: ! '12'", json!({"a": "12"})),
            ("a: !!binary aGVsbG8=", json!({"a": "hello"})),
            ("a: !!binary |\n  aGVs\n  bG8=\n", json!({"a": "hello"})),
            (
                "a: 9223372036854775808",
                json!({"a": 9_223_372_036_854_775_808u64}),
            ),
            ("a: -9223372036854775808", json!({"a": i64::MIN})),
            ("a: >\n  folded\n  text\n", json!({"a": "folded text\n"})),
            ("a: |-\n  x\n", json!({"a": "x"})),
            (
                "1.10: a\n0777: b\ntrue: c",
                json!({"1.10": "a", "0777": "b", "true": "c"}),
            ),
            ("~: dropped\nk: v", json!({"k": "v"})),
            (
                "a:\n- ?\n- ? \n  : v\n",
                json!({"a": [{"": null}, {"": "v"}]}),
            ),
        ];
        for (src, want) in cases {
            assert_eq!(one(src), want, "{src:?}");
        }
    }

    #[test]
    fn anchors_aliases_and_merge_keys_expand() {
        let src = "base: &b {x: 1, y: 2}\nover: {<<: *b, y: 3}\n\
                   seq: {<<: [{p: 1}, {p: 2, q: 2}], r: 0}\ncopy: *b\n";
        assert_eq!(
            one(src),
            json!({
                "base": {"x": 1, "y": 2},
                "over": {"x": 1, "y": 3},
                "seq": {"p": 1, "q": 2, "r": 0},
                "copy": {"x": 1, "y": 2}
            })
        );
        // A quoted "<<" does not merge, and kustomize's reader drops it.
        assert_eq!(one("\"<<\": 1\nk: v"), json!({"k": "v"}));
    }

    #[test]
    fn streams_are_cut_at_separator_lines_like_kyaml() {
        // Only the first document of each piece counts, as kyaml decodes once per piece.
        assert_eq!(
            from_str("a: 1\n...\nb: 2\n").ok(),
            Some(vec![json!({"a": 1})])
        );
        assert_eq!(
            from_str("a: 1\r\n--- # next\r\nb: 2\r\n").ok(),
            Some(vec![json!({"a": 1}), json!({"b": 2})])
        );
        let err = from_str("a: 1\n--- x\nb: 2\n").expect_err("content after ---");
        assert_eq!(err.line, Some(2), "{err}");
        assert!(err.message.contains("invalid document separator"), "{err}");
        assert!(
            from_str("a: 1\n---\n...\n---\nb: 2\n").is_err(),
            "`...` without a document"
        );
        let err = from_str("a: 1\n---\nb: 2\nc: [\n").expect_err("unclosed");
        assert_eq!(err.line, Some(5), "{err}");
    }

    #[test]
    fn documents_know_their_first_line() {
        let src = "# head\na: 1\n---\n\n- x\n---\n# none\n---\nplain\n";
        let lines: Vec<usize> = crate::from_str_with_lines(src)
            .map(|d| d.into_iter().map(|(_, l)| l).collect())
            .unwrap_or_default();
        assert_eq!(lines, [2, 5, 9]);
    }

    #[test]
    fn streams_drop_empty_documents() {
        let src = "---\n# only a comment\n---\na: 1\n...\n---\n---\nb: 2\n---\n";
        assert_eq!(
            from_str(src).ok(),
            Some(vec![json!({"a": 1}), json!({"b": 2})])
        );
        assert_eq!(from_str("").ok(), Some(vec![]));
        assert_eq!(from_str("# nothing\n").ok(), Some(vec![]));
    }

    #[test]
    fn errors_carry_positions() {
        let cases = [
            ("a: 1\nb: [1, 2\n", 3),
            ("a: 1\na: 2\n", 2),
            ("a:\n  b: 1\n c: 2\n", 3),
            ("x: *nope\n", 1),
            ("a: !!int abc\n", 1),
            ("a: .inf\n", 1),
            ("a: \"\\x7f\"\n", 1),
            ("\"\\x9b\": 1\n", 1),
            ("a: 1\nb: \u{7f}\n", 2),
            ("? [a]\n: b\n", 1),
            ("<<: 3\n", 1),
            ("a:\n- : v\n", 2),
            ("s: &s [{a: 1}]\nm:\n  <<: *s\n", 3),
        ];
        for (src, line) in cases {
            let err = from_str(src).expect_err(src);
            assert_eq!(err.line, Some(line), "{src:?}: {err}");
            assert!(err.column.is_some(), "{src:?}: {err}");
            assert!(
                err.to_string()
                    .starts_with(&format!("line {line}, column ")),
                "{err}"
            );
        }
        let dup = from_str("a: 1\nb: 2\na: 3\n").expect_err("duplicate");
        assert!(dup.message.contains("already defined at line 1"), "{dup}");
    }

    #[test]
    fn objects_mode_refuses_keys_kustomize_cannot_put_into_json() {
        use crate::from_str_objects;
        let refused = [
            "spec:\n  1: one\n",
            "spec:\n  k:\n    true: x\n",
            "spec:\n  1.5: f\n",
            "spec:\n  2024-01-01: d\n",
            "spec:\n  ~: v\n",
            "~: v\n",
            "null: v\n",
            "spec:\n  !!int 3: x\n",
            "items:\n- a:\n    0x1: x\n",
        ];
        for src in refused {
            let err = from_str_objects(src).expect_err(src);
            assert!(err.message.contains("is not a string"), "{src:?}: {err}");
            assert!(from_str(src).is_ok(), "{src:?} reads leniently");
        }
        let accepted = [
            "1: top\nspec: {}\n",
            "spec:\n  \"1\": one\n  'true': t\n  yes: y\n  on: o\n  <<: {a: 1}\n",
            "spec:\n  !!str 1: x\n",
        ];
        for src in accepted {
            assert!(from_str_objects(src).is_ok(), "{src:?}");
        }
    }

    #[test]
    fn kustomization_files_read_as_yaml_1_1() {
        use crate::from_str_kustomization;
        let src = "generatorOptions:\n  disableNameSuffixHash: yes\nflags: [on, Off, y, n, ~]\n\
                   when: 2024-01-01\nkeys:\n  on: a\n  0x1F: b\n  1.5: c\n  0.1: d\n  'yes': e\n\
                   dup: 1\ndup: 2\n";
        let docs = from_str_kustomization(src).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            docs,
            vec![json!({
                "generatorOptions": {"disableNameSuffixHash": true},
                "flags": [true, false, true, false, null],
                "when": "2024-01-01",
                "keys": {"true": "a", "31": "b", "1.5": "c", "0.1": "d", "yes": "e"},
                "dup": 2
            })]
        );
        let err = from_str_kustomization("a:\n  ~: x\n").expect_err("null key");
        assert!(err.message.contains("unsupported map key"), "{err}");
    }

    #[test]
    fn excessive_aliasing_is_refused() {
        let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let p = i - 1;
            src.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = from_str(&src).expect_err("a billion laughs");
        assert!(err.message.contains("excessive aliasing"), "{err}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let src = "[".repeat(5000);
        assert!(from_str(&src).is_err());
    }
}
