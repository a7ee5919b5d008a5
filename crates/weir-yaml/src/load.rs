//! The reader: saphyr-parser events into `serde_json::Value`, with go-yaml v3's decoding rules.
//!
//! Built with an explicit stack (no recursion), so deep input cannot overflow the call stack.
//! Anchored values are kept by anchor id and copied at each alias, bounded by go-yaml's alias
//! ratio rule so a "billion laughs" document fails instead of eating memory.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Value};

use crate::Error;
use crate::resolve::{self, Resolved};

/// Deepest nesting accepted. go-yaml v3 allows 10000; values this deep would overflow the stack
/// of the recursive code that later walks them, and no Kubernetes object comes close.
const MAX_DEPTH: usize = 1_000;

pub(crate) fn load_all(src: &str) -> Result<Vec<Value>, Error> {
    let mut loader = Loader::default();
    let mut docs = Vec::new();
    let mut parser = Parser::new_from_str(src);
    while let Some(item) = parser.next_event() {
        let (event, span) = item.map_err(|e| {
            Error::at(
                e.marker().line(),
                e.marker().col() + 1,
                e.info().to_string(),
            )
        })?;
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => {}
            Event::DocumentStart(_) => {
                loader.anchors.clear();
                loader.decode_count = 0;
                loader.alias_count = 0;
            }
            other => {
                if let Some(doc) = loader.event(other, span)?
                    && !doc.is_null()
                {
                    docs.push(doc);
                }
            }
        }
    }
    Ok(docs)
}

/// The key of a mapping entry, as go-yaml v3 decodes it into `map[string]interface{}`.
enum Key {
    Text {
        text: String,
    },
    Merge,
    /// A null key: the entry is dropped.
    Skip,
}

enum Frame {
    Sequence {
        items: Vec<Value>,
        anchor: usize,
    },
    Mapping {
        entries: Map<String, Value>,
        /// Raw key texts seen so far and their lines, for the duplicate-key check.
        seen: HashMap<String, usize>,
        merges: Vec<Value>,
        key: Option<Key>,
        anchor: usize,
        line: usize,
        column: usize,
    },
}

#[derive(Default)]
struct Loader {
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Value, usize)>,
    decode_count: usize,
    alias_count: usize,
}

/// What a finished node looks like when it turns out to be a mapping key.
#[derive(Clone, Copy)]
enum KeySource<'a> {
    Scalar {
        text: &'a str,
        plain: bool,
        tag: Option<&'a Tag>,
    },
    Alias,
    Collection,
}

impl Loader {
    /// Feeds one node event; returns the document's root once it is complete.
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<Option<Value>, Error> {
        let line = span.start.line();
        let column = span.start.col() + 1;
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let value = scalar_value(&text, style, tag.as_deref(), line, column)?;
                self.decode_count += 1;
                let plain = style == ScalarStyle::Plain;
                let source = KeySource::Scalar {
                    text: &text,
                    plain,
                    tag: tag.as_deref(),
                };
                self.finish(value, anchor, source, line, column)
            }
            Event::Alias(id) => {
                let Some((value, size)) = self.anchors.get(&id) else {
                    return Err(Error::at(line, column, "unknown anchor"));
                };
                let (value, size) = (value.clone(), *size);
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
                self.finish(value, 0, KeySource::Alias, line, column)
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
                self.stack.push(Frame::Mapping {
                    entries: Map::new(),
                    seen: HashMap::new(),
                    merges: Vec::new(),
                    key: None,
                    anchor,
                    line,
                    column,
                });
                Ok(None)
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::Sequence { items, anchor }) => {
                    self.decode_count += 1;
                    self.finish(
                        Value::Array(items),
                        anchor,
                        KeySource::Collection,
                        line,
                        column,
                    )
                }
                _ => Err(Error::at(line, column, "unexpected end of sequence")),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Mapping {
                    mut entries,
                    merges,
                    anchor,
                    line: l,
                    column: c,
                    ..
                }) => {
                    for source in merges {
                        merge_into(&mut entries, source, l, c)?;
                    }
                    self.decode_count += 1;
                    self.finish(
                        Value::Object(entries),
                        anchor,
                        KeySource::Collection,
                        line,
                        column,
                    )
                }
                _ => Err(Error::at(line, column, "unexpected end of mapping")),
            },
            _ => Ok(None),
        }
    }

    fn check_collection_start(&self, line: usize, column: usize) -> Result<(), Error> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Error::at(
                line,
                column,
                format!("exceeded max depth of {MAX_DEPTH}"),
            ));
        }
        if let Some(Frame::Mapping { key: None, .. }) = self.stack.last() {
            return Err(Error::at(line, column, "a mapping key must be a scalar"));
        }
        Ok(())
    }

    /// Places a finished node into its parent (or returns it as the document root).
    fn finish(
        &mut self,
        value: Value,
        anchor: usize,
        source: KeySource<'_>,
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
            Some(Frame::Mapping {
                entries,
                seen,
                merges,
                key,
                ..
            }) => {
                match key.take() {
                    None => {
                        let k = mapping_key(value, source, line, column)?;
                        let raw = match (&k, &source) {
                            (_, KeySource::Scalar { text, .. }) => Some((*text).to_string()),
                            (Key::Text { text }, _) => Some(text.clone()),
                            _ => None,
                        };
                        if let Some(raw) = raw
                            && let Some(first) = seen.insert(raw.clone(), line)
                        {
                            return Err(Error::at(
                                line,
                                column,
                                format!("mapping key {raw:?} already defined at line {first}"),
                            ));
                        }
                        *key = Some(k);
                    }
                    Some(Key::Text { text }) => {
                        entries.insert(text, value);
                    }
                    Some(Key::Merge) => {
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
                        merges.push(value);
                    }
                    Some(Key::Skip) => {}
                }
                Ok(None)
            }
        }
    }
}

/// Adds merged entries; keys already present (explicit ones, or from an earlier merge) win.
fn merge_into(
    entries: &mut Map<String, Value>,
    source: Value,
    _line: usize,
    _column: usize,
) -> Result<(), Error> {
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
    Ok(())
}

fn mapping_key(
    value: Value,
    source: KeySource<'_>,
    line: usize,
    column: usize,
) -> Result<Key, Error> {
    match source {
        KeySource::Scalar { text, plain, tag } => {
            let core = tag.and_then(core_suffix);
            if plain
                && text == "<<"
                && (tag.is_none() || core == Some("merge") || is_non_specific(tag))
            {
                return Ok(Key::Merge);
            }
            if value.is_null() {
                return Ok(Key::Skip);
            }
            let text = match (&value, core) {
                (Value::String(s), Some("binary")) => s.clone(),
                _ => text.to_string(),
            };
            Ok(Key::Text { text })
        }
        KeySource::Alias => match value {
            Value::Null => Ok(Key::Skip),
            Value::String(s) => Ok(Key::Text { text: s }),
            Value::Bool(b) => Ok(Key::Text {
                text: b.to_string(),
            }),
            Value::Number(n) => Ok(Key::Text {
                text: n.to_string(),
            }),
            Value::Array(_) | Value::Object(_) => {
                Err(Error::at(line, column, "a mapping key must be a scalar"))
            }
        },
        KeySource::Collection => Err(Error::at(line, column, "a mapping key must be a scalar")),
    }
}

fn is_non_specific(tag: Option<&Tag>) -> bool {
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

/// A scalar's value as go-yaml v3 decodes it into `interface{}`, then as JSON keeps it.
fn scalar_value(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    line: usize,
    column: usize,
) -> Result<Value, Error> {
    let core = tag.and_then(core_suffix);
    let resolved = match (tag, core) {
        (None, _) => {
            if style == ScalarStyle::Plain {
                resolve::resolve_v3(text)
            } else {
                Resolved::Str
            }
        }
        // The non-specific tag `!`, local and unknown tags: the text as a string (v3 does not
        // resolve a scalar whose tag it does not know).
        (Some(_), None) => Resolved::Str,
        (Some(_), Some(suffix)) => match suffix {
            "str" => Resolved::Str,
            "binary" => return decode_binary(text, line, column),
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
                let r = resolve::resolve_v3(text);
                check_tag(suffix, r, text, line, column)?
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
        Resolved::Merge | Resolved::Str => Value::String(text.to_string()),
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

fn decode_binary(text: &str, line: usize, column: usize) -> Result<Value, Error> {
    let cleaned: Cow<'_, str> = if text.bytes().any(|b| b.is_ascii_whitespace()) {
        text.chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect::<String>()
            .into()
    } else {
        text.into()
    };
    match base64_decode(&cleaned) {
        Some(bytes) => Ok(Value::String(String::from_utf8_lossy(&bytes).into_owned())),
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
