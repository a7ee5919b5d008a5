//! Flux's `envsubst` (`github.com/fluxcd/pkg/envsubst` v1.7.1, the version Flux 2.9 builds with):
//! the bash-like expansion kustomize-controller runs over each object's YAML for `spec.postBuild`.
//!
//! Accepted forms, with Flux's results (which are not always bash's):
//!
//! | form | result |
//! |---|---|
//! | `${v}` | the value |
//! | `${v:-w}` `${v:=w}` `${v=w}` `${v:+w}` `${v:?w}` | the value when non-empty, else `w` (all five alike) |
//! | `${#v}` | the length in bytes |
//! | `${v:n}` `${v:n:m}` | a byte slice; negative `n` counts from the end, negative `m` drops from the end |
//! | `${v#p}` `${v##p}` `${v%p}` `${v%%p}` | the shortest/longest prefix/suffix matching glob `p` removed |
//! | `${v/x/y}` `${v//x/y}` `${v/#x/y}` `${v/%x/y}` | first/all/prefix/suffix occurrence of `x` replaced |
//! | `${v^}` `${v^^}` `${v,}` `${v,,}` | first/all characters upper-/lower-cased |
//! | `$$` | a literal `$` (so `$${v}` is the text `${v}`) |
//!
//! Arguments may nest (`${A:-${B}}`); every argument is evaluated, used or not. Inside `${v/x/y}`
//! `\/`, `\\` and `$$` escape. `${v-w}` and `${v+w}` are not accepted ("missing closing brace"),
//! nor is `${v/x}` without the second slash. In strict mode (Flux's default) a variable that is not
//! defined is an error unless the form supplies a default (`-`, `=`, `+`, `?` with or without `:`).
//!
//! # Deviation
//! - Go decides identifier characters with `unicode.IsLetter`/`IsDigit` and case with simple case
//!   mapping; weir uses Rust's `char` properties. They agree on ASCII and common letters; a few
//!   rare code points (combining marks, letter-like numerals) may differ.
//! - Flux stops at the first undefined variable; weir reports all of them.
//! - Flux's Go code panics on a substring whose offset plus length overflows 64 bits; weir returns
//!   an error. Output size and pattern-matching work are bounded (see [`Limits`]).

use std::collections::BTreeSet;

/// Bounds on one evaluation, so a hostile input fails cleanly instead of exhausting memory or time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes the expansion may produce (output and intermediate arguments together).
    pub max_output_bytes: usize,
    /// The most bytes glob matching (`#`, `##`, `%`, `%%`) may examine.
    pub max_match_work: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_output_bytes: 64 << 20,
            max_match_work: 256 << 20,
        }
    }
}

/// Why a text could not be substituted. Parse errors carry Flux's own messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("bad substitution")]
    BadSubstitution,
    #[error("missing closing brace")]
    MissingClosingBrace,
    #[error("unable to parse variable name")]
    VariableName,
    #[error("unable to parse substitution within function")]
    FuncSubstitution,
    /// Strict mode: variables referenced without a default that are not defined.
    #[error("variable{} not set (strict mode): {}", if .names.len() == 1 { "" } else { "s" }, .names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", "))]
    Undefined { names: Vec<String> },
    /// Variables whose values are not known here (see `Variables::may_define`); the text is left
    /// as it is.
    #[error("value{} of {} not known offline", if .names.len() == 1 { "" } else { "s" }, .names.join(", "))]
    Unknown { names: Vec<String> },
    #[error("substitution output exceeds {limit} bytes")]
    TooLarge { limit: usize },
    #[error("substitution pattern matching exceeds its work limit ({limit} bytes examined)")]
    TooExpensive { limit: usize },
    #[error("substring offset {offset} plus length {length} overflows")]
    SubstringOverflow { offset: i64, length: i64 },
    #[error("substitution produced text that is not valid UTF-8")]
    InvalidUtf8,
}

/// How a variable is looked up.
pub enum Value<'a> {
    /// Defined, with this value.
    Set(&'a str),
    /// Not defined: an error in strict mode unless the form supplies a default.
    Unset,
    /// Defined where weir cannot see (offline): the text is left unsubstituted.
    Unknown,
}

/// Expands `text`. `lookup` answers for each variable name; `strict` is Flux's strict mode
/// (an undefined variable without a default is an error; otherwise it expands to "").
pub fn eval<'a>(
    text: &str,
    lookup: &dyn Fn(&str) -> Value<'a>,
    strict: bool,
    limits: &Limits,
) -> Result<String, Error> {
    let nodes = Parser { s: text, pos: 0 }.template()?;
    let mut ev = Evaluator {
        lookup,
        strict,
        limits,
        produced: 0,
        work: 0,
        undefined: Vec::new(),
        unknown: BTreeSet::new(),
    };
    let mut out = Vec::with_capacity(text.len());
    for n in &nodes {
        if let Err(e) = ev.node(n, &mut out) {
            // Flux stops at the first error: an undefined variable met earlier is that error.
            return Err(if ev.undefined.is_empty() {
                e
            } else {
                Error::Undefined {
                    names: ev.undefined,
                }
            });
        }
    }
    if !ev.undefined.is_empty() {
        return Err(Error::Undefined {
            names: ev.undefined,
        });
    }
    if !ev.unknown.is_empty() {
        return Err(Error::Unknown {
            names: ev.unknown.into_iter().collect(),
        });
    }
    String::from_utf8(out).map_err(|_| Error::InvalidUtf8)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Text(Vec<u8>),
    Func {
        param: String,
        op: &'static str,
        args: Vec<Node>,
    },
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

fn is_ident(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        let mut it = self.s[self.pos..].chars();
        it.next();
        it.next()
    }

    fn at_open(&self) -> bool {
        self.s[self.pos..].starts_with("${")
    }

    /// Top level: text (where `$$` is `$`) and `${...}` expressions.
    fn template(&mut self) -> Result<Vec<Node>, Error> {
        let mut nodes = Vec::new();
        let mut text = Vec::new();
        while let Some(c) = self.peek() {
            if self.at_open() {
                if !text.is_empty() {
                    nodes.push(Node::Text(std::mem::take(&mut text)));
                }
                self.pos += 2;
                nodes.push(self.func()?);
            } else if c == '$' && self.peek2() == Some('$') {
                text.push(b'$');
                self.pos += 2;
            } else {
                text.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                self.pos += c.len_utf8();
            }
        }
        if !text.is_empty() {
            nodes.push(Node::Text(text));
        }
        Ok(nodes)
    }

    fn ident(&mut self) -> String {
        let start = self.pos;
        while let Some(c) = self.peek().filter(|c| is_ident(*c)) {
            self.pos += c.len_utf8();
        }
        self.s[start..self.pos].to_string()
    }

    /// A run of `c` (at most `max` of them).
    fn run_of(&mut self, set: &[char], max: usize) -> String {
        let start = self.pos;
        let mut n = 0;
        while n < max
            && let Some(c) = self.peek().filter(|c| set.contains(c))
        {
            self.pos += c.len_utf8();
            n += 1;
        }
        self.s[start..self.pos].to_string()
    }

    fn close(&mut self) -> Result<(), Error> {
        if self.peek() == Some('}') {
            self.pos += 1;
            Ok(())
        } else {
            Err(Error::BadSubstitution)
        }
    }

    /// After `${`.
    fn func(&mut self) -> Result<Node, Error> {
        if self.peek() == Some('#') {
            self.pos += 1;
            let param = self.ident();
            if param.is_empty() {
                return Err(Error::BadSubstitution);
            }
            self.close()?;
            return Ok(Node::Func {
                param,
                op: "#",
                args: Vec::new(),
            });
        }
        let param = self.ident();
        if param.is_empty() {
            return Err(Error::VariableName);
        }
        let func = |op: &str, args: Vec<Node>, param: String| Node::Func {
            param,
            op: op_name(op),
            args,
        };
        match self.peek() {
            Some(':') if matches!(self.peek2(), Some('=' | '-' | '?' | '+')) => {
                let op = self.s[self.pos..self.pos + 2].to_string();
                self.pos += 2;
                let args = self.default_args()?;
                Ok(func(&op, args, param))
            }
            Some(':') => {
                // Flux's scanner steps back by the width of the character after ':' when it
                // looks ahead; when that character is missing or not one byte long, it re-reads
                // something that is not ':' and gives up.
                if self.peek2().is_none_or(|c| c.len_utf8() != 1) {
                    return Err(Error::BadSubstitution);
                }
                self.pos += 1;
                let offset = self.param(|c| c != ':' && c != '}', false)?;
                let mut args = vec![offset];
                match self.peek() {
                    Some('}') => {
                        self.pos += 1;
                        return Ok(func(":", args, param));
                    }
                    Some(':') => {
                        self.run_of(&[':'], usize::MAX);
                    }
                    _ => return Err(Error::BadSubstitution),
                }
                args.push(self.param(|c| c != '}', false)?);
                self.close()?;
                Ok(func(":", args, param))
            }
            Some('=') => {
                self.pos += 1;
                let args = self.default_args()?;
                Ok(func("=", args, param))
            }
            Some(',' | '^') => {
                let op = self.run_of(&[',', '^'], 2);
                self.close()?;
                Ok(func(&op, Vec::new(), param))
            }
            Some('/') => {
                self.pos += 1;
                let op = match self.peek() {
                    Some(c @ ('/' | '#' | '%')) => {
                        self.pos += 1;
                        format!("/{c}")
                    }
                    _ => "/".to_string(),
                };
                let mut args = vec![self.param(|c| c != '/', true)?];
                if self.run_of(&['/'], usize::MAX).is_empty() {
                    return Err(Error::BadSubstitution);
                }
                if self.peek() == Some('}') {
                    self.pos += 1;
                    return Ok(func(&op, args, param));
                }
                args.push(self.param(|c| c != '}', true)?);
                self.close()?;
                Ok(func(&op, args, param))
            }
            Some(c @ ('#' | '%')) => {
                let op = self.run_of(&[c], 2);
                let args = vec![self.param(|c| c != '}', false)?];
                self.close()?;
                Ok(func(&op, args, param))
            }
            Some('}') => {
                self.pos += 1;
                Ok(func("", Vec::new(), param))
            }
            _ => Err(Error::MissingClosingBrace),
        }
    }

    /// The arguments of a default form, up to and including the closing brace.
    fn default_args(&mut self) -> Result<Vec<Node>, Error> {
        let mut args = Vec::new();
        loop {
            if self.peek() == Some('}') {
                self.pos += 1;
                return Ok(args);
            }
            args.push(self.param(|c| c != '}', false)?);
        }
    }

    /// One argument: a nested `${...}`, or a non-empty run of characters `accept` takes (with the
    /// `$$`, `\/`, `\\` escapes when `escapes`), ending before `${`.
    fn param(&mut self, accept: fn(char) -> bool, escapes: bool) -> Result<Node, Error> {
        if self.at_open() {
            self.pos += 2;
            return self.func();
        }
        let mut text = Vec::new();
        let mut first = true;
        while let Some(c) = self.peek() {
            if !first && self.at_open() {
                break;
            }
            let escaped = escapes
                && matches!(
                    (c, self.peek2()),
                    ('$', Some('$')) | ('\\', Some('/' | '\\'))
                );
            if escaped {
                let next = self.peek2().expect("checked above");
                text.extend_from_slice(next.encode_utf8(&mut [0; 4]).as_bytes());
                self.pos += 1 + next.len_utf8();
            } else if accept(c) {
                text.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                self.pos += c.len_utf8();
            } else if first {
                return Err(Error::FuncSubstitution);
            } else {
                break;
            }
            first = false;
        }
        if first {
            return Err(Error::FuncSubstitution);
        }
        Ok(Node::Text(text))
    }
}

/// Interns an operator name (the parser only produces these).
fn op_name(op: &str) -> &'static str {
    const OPS: &[&str] = &[
        "", ":", ":=", ":-", ":?", ":+", "=", ",", ",,", "^", "^^", ",^", "^,", "/", "//", "/#",
        "/%", "#", "##", "%", "%%",
    ];
    OPS.iter().copied().find(|o| *o == op).unwrap_or("")
}

fn is_default_op(op: &str) -> bool {
    matches!(op, "-" | "+" | "=" | "?" | ":-" | ":+" | ":=" | ":?")
}

struct Evaluator<'a, 'l> {
    lookup: &'l dyn Fn(&str) -> Value<'a>,
    strict: bool,
    limits: &'l Limits,
    produced: usize,
    work: usize,
    undefined: Vec<String>,
    unknown: BTreeSet<String>,
}

impl Evaluator<'_, '_> {
    fn emit(&mut self, out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), Error> {
        self.produced = self.produced.saturating_add(bytes.len());
        if self.produced > self.limits.max_output_bytes {
            return Err(Error::TooLarge {
                limit: self.limits.max_output_bytes,
            });
        }
        out.extend_from_slice(bytes);
        Ok(())
    }

    fn node(&mut self, n: &Node, out: &mut Vec<u8>) -> Result<(), Error> {
        match n {
            Node::Text(t) => self.emit(out, t),
            Node::Func { param, op, args } => {
                let mut values = Vec::with_capacity(args.len());
                for a in args {
                    let mut buf = Vec::new();
                    self.node(a, &mut buf)?;
                    values.push(buf);
                }
                let value = match (self.lookup)(param) {
                    Value::Set(v) => v.as_bytes(),
                    Value::Unknown => {
                        self.unknown.insert(param.clone());
                        return Ok(());
                    }
                    Value::Unset if self.strict && !is_default_op(op) => {
                        if !self.undefined.contains(param) {
                            self.undefined.push(param.clone());
                        }
                        return Ok(());
                    }
                    Value::Unset => b"",
                };
                let result = self.apply(op, value, &values)?;
                self.emit(out, &result)
            }
        }
    }

    fn apply(&mut self, op: &str, s: &[u8], args: &[Vec<u8>]) -> Result<Vec<u8>, Error> {
        let text = || String::from_utf8_lossy(s);
        Ok(match op {
            "," => map_first(s, lower),
            ",," => text().chars().map(lower).collect::<String>().into_bytes(),
            "^" => map_first(s, upper),
            "^^" => text().chars().map(upper).collect::<String>().into_bytes(),
            "#" if args.is_empty() => s.len().to_string().into_bytes(),
            "#" => self.trim_prefix(s, &args[0], false)?,
            "##" => self.trim_prefix(s, &args[0], true)?,
            "%" => self.trim_suffix(s, &args[0], false)?,
            "%%" => self.trim_suffix(s, &args[0], true)?,
            ":" => substring(s, args)?,
            "/#" => match args {
                [from, to] if s.starts_with(from) => go_replace(s, from, to, Some(1)),
                _ => s.to_vec(),
            },
            "/%" => match args {
                [from, to] if s.ends_with(from) => {
                    let mut r = s[..s.len() - from.len()].to_vec();
                    r.extend_from_slice(to);
                    r
                }
                _ => s.to_vec(),
            },
            "/" | "//" => {
                let n = if op == "/" { Some(1) } else { None };
                match args {
                    [] => s.to_vec(),
                    [from] => go_replace(s, from, b"", n),
                    [from, to, ..] => go_replace(s, from, to, n),
                }
            }
            _ => {
                if s.is_empty() && !args.is_empty() {
                    args.concat()
                } else {
                    s.to_vec()
                }
            }
        })
    }

    fn charge(&mut self, bytes: usize) -> Result<(), Error> {
        self.work = self.work.saturating_add(bytes.max(1));
        if self.work > self.limits.max_match_work {
            return Err(Error::TooExpensive {
                limit: self.limits.max_match_work,
            });
        }
        Ok(())
    }

    /// Removes the shortest (or longest) prefix of `s` matching `pattern`. Candidates are tried
    /// byte by byte from the whole string down to one byte; the empty prefix is never tried; a
    /// malformed pattern leaves `s` as it is.
    fn trim_prefix(&mut self, s: &[u8], pattern: &[u8], longest: bool) -> Result<Vec<u8>, Error> {
        let mut shortest = 0;
        for end in (1..=s.len()).rev() {
            self.charge(end + pattern.len())?;
            match glob_match(pattern, &s[..end]) {
                Err(BadPattern) => return Ok(s.to_vec()),
                Ok(true) if longest => return Ok(s[end..].to_vec()),
                Ok(true) => shortest = end,
                Ok(false) => {}
            }
        }
        Ok(s[shortest..].to_vec())
    }

    /// The suffix forms work on the reversed string and the reversed pattern (as Flux does, so
    /// a character class reads backwards too).
    fn trim_suffix(&mut self, s: &[u8], pattern: &[u8], longest: bool) -> Result<Vec<u8>, Error> {
        let trimmed = self.trim_prefix(&reverse(s), &reverse(pattern), longest)?;
        Ok(reverse(&trimmed))
    }
}

fn upper(c: char) -> char {
    simple_case(c, c.to_uppercase())
}

fn lower(c: char) -> char {
    if c == '\u{130}' {
        // Go's simple lower-case mapping of 'İ'; Rust's full mapping is two characters.
        return 'i';
    }
    simple_case(c, c.to_lowercase())
}

/// Go maps case one character to one character; where Rust's mapping expands, the character stays.
fn simple_case(c: char, mut mapped: impl Iterator<Item = char>) -> char {
    match (mapped.next(), mapped.next()) {
        (Some(m), None) => m,
        _ => c,
    }
}

fn map_first(s: &[u8], f: fn(char) -> char) -> Vec<u8> {
    let (r, width) = decode_rune(s);
    if width == 0 {
        return Vec::new();
    }
    let c = char::from_u32(r).unwrap_or(char::REPLACEMENT_CHARACTER);
    let mut out = f(c).to_string().into_bytes();
    out.extend_from_slice(&s[width..]);
    out
}

/// Go's `utf8.DecodeRune`: the rune and its width; an invalid byte is U+FFFD of width 1.
fn decode_rune(b: &[u8]) -> (u32, usize) {
    let Some(&first) = b.first() else {
        return (0xFFFD, 0);
    };
    let len = match first {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return (0xFFFD, 1),
    };
    match b.get(..len).map(std::str::from_utf8) {
        Some(Ok(s)) => (s.chars().next().map_or(0xFFFD, u32::from), len),
        _ => (0xFFFD, 1),
    }
}

/// Go's `string([]rune(s))` reversed: runes reversed, each invalid byte becoming U+FFFD.
fn reverse(s: &[u8]) -> Vec<u8> {
    let mut runes = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let (r, w) = decode_rune(&s[i..]);
        runes.push(char::from_u32(r).unwrap_or(char::REPLACEMENT_CHARACTER));
        i += w;
    }
    runes.iter().rev().collect::<String>().into_bytes()
}

/// Go's `strings.Replace(s, old, new, n)` (`None` = all), including an empty `old`, which matches
/// before every rune and at the end.
fn go_replace(s: &[u8], old: &[u8], new: &[u8], n: Option<usize>) -> Vec<u8> {
    if old == new || n == Some(0) {
        return s.to_vec();
    }
    let count = if old.is_empty() {
        rune_count(s) + 1
    } else {
        count(s, old)
    };
    let n = n.map_or(count, |n| n.min(count));
    let mut out = Vec::with_capacity(s.len());
    let mut start = 0;
    for i in 0..n {
        let j = if old.is_empty() {
            start + if i > 0 { decode_rune(&s[start..]).1 } else { 0 }
        } else {
            start + find(&s[start..], old).unwrap_or(0)
        };
        out.extend_from_slice(&s[start..j]);
        out.extend_from_slice(new);
        start = j + old.len();
    }
    out.extend_from_slice(&s[start..]);
    out
}

fn rune_count(s: &[u8]) -> usize {
    let mut i = 0;
    let mut n = 0;
    while i < s.len() {
        i += decode_rune(&s[i..]).1;
        n += 1;
    }
    n
}

/// Non-overlapping occurrences, as Go's `strings.Count`.
fn count(s: &[u8], sep: &[u8]) -> usize {
    let mut n = 0;
    let mut rest = s;
    while let Some(k) = find(rest, sep) {
        n += 1;
        rest = &rest[k + sep.len()..];
    }
    n
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Go's `strconv.Atoi` on 64-bit: optional sign, decimal digits, within `i64`.
fn atoi(b: &[u8]) -> Option<i64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

fn substring(s: &[u8], args: &[Vec<u8>]) -> Result<Vec<u8>, Error> {
    let Some(first) = args.first() else {
        return Ok(s.to_vec());
    };
    let Some(mut pos) = atoi(first) else {
        return Ok(s.to_vec());
    };
    let len = i64::try_from(s.len()).unwrap_or(i64::MAX);
    if pos < 0 {
        pos = (len + pos).max(0);
    }
    let at = |i: i64| usize::try_from(i).unwrap_or(usize::MAX);
    let Some(second) = args.get(1) else {
        return Ok(if pos < len {
            s[at(pos)..].to_vec()
        } else {
            Vec::new()
        });
    };
    let Some(length) = atoi(second) else {
        return Ok(s.to_vec());
    };
    if length < 0 {
        let end = len + length;
        return Ok(if end < pos {
            Vec::new()
        } else {
            s[at(pos)..at(end)].to_vec()
        });
    }
    let Some(end) = pos.checked_add(length) else {
        return Err(Error::SubstringOverflow {
            offset: pos,
            length,
        });
    };
    Ok(if end >= len {
        if pos < len {
            s[at(pos)..].to_vec()
        } else {
            Vec::new()
        }
    } else {
        s[at(pos)..at(end)].to_vec()
    })
}

/// A malformed glob pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BadPattern;

/// The glob of Flux's `envsubst/path.Match`: `*` (any bytes, `/` included), `?` (one rune),
/// `[...]` classes with ranges and `^` negation, `\` escapes; the whole name must match. Errors
/// are found lazily, as the matcher reaches them.
fn glob_match(mut pattern: &[u8], mut name: &[u8]) -> Result<bool, BadPattern> {
    'chunks: while !pattern.is_empty() {
        let (star, chunk, rest) = split_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            return Ok(true);
        }
        let (tail, ok) = match_chunk(chunk, name)?;
        if ok && (tail.is_empty() || !pattern.is_empty()) {
            name = tail;
            continue;
        }
        if star {
            for i in 0..name.len() {
                match match_chunk(chunk, &name[i + 1..]) {
                    Ok((tail, true)) => {
                        if pattern.is_empty() && !tail.is_empty() {
                            continue;
                        }
                        name = tail;
                        continue 'chunks;
                    }
                    Ok((_, false)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Leading stars, then the chunk up to the next star outside a class.
fn split_chunk(p: &[u8]) -> (bool, &[u8], &[u8]) {
    let stars = p.iter().take_while(|b| **b == b'*').count();
    let p = &p[stars..];
    let mut in_class = false;
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            b'\\' if i + 1 < p.len() => i += 1,
            b'[' => in_class = true,
            b']' => in_class = false,
            b'*' if !in_class => break,
            _ => {}
        }
        i += 1;
    }
    (stars > 0, &p[..i], &p[i..])
}

/// Matches `chunk` (no stars) against the start of `s`: the rest of `s` and whether it matched.
/// A mismatch found before a malformed part of the chunk is not an error.
fn match_chunk<'s>(mut chunk: &[u8], mut s: &'s [u8]) -> Result<(&'s [u8], bool), BadPattern> {
    while let Some(&c) = chunk.first() {
        if s.is_empty() {
            return Ok((b"", false));
        }
        match c {
            b'[' => {
                let (r, w) = decode_rune(s);
                s = &s[w..];
                chunk = &chunk[1..];
                let negated = chunk.first() == Some(&b'^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut ranges = 0;
                loop {
                    if chunk.first() == Some(&b']') && ranges > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = class_char(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if chunk.first() == Some(&b'-') {
                        let (h, rest) = class_char(&chunk[1..])?;
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    ranges += 1;
                }
                if matched == negated {
                    return Ok((b"", false));
                }
            }
            b'?' => {
                let (_, w) = decode_rune(s);
                s = &s[w..];
                chunk = &chunk[1..];
            }
            _ => {
                if c == b'\\' {
                    chunk = &chunk[1..];
                    if chunk.is_empty() {
                        return Err(BadPattern);
                    }
                }
                if chunk[0] != s[0] {
                    return Ok((b"", false));
                }
                s = &s[1..];
                chunk = &chunk[1..];
            }
        }
    }
    Ok((s, true))
}

/// One (possibly escaped) character of a class; something must follow it.
fn class_char(chunk: &[u8]) -> Result<(u32, &[u8]), BadPattern> {
    let mut chunk = match chunk.first() {
        None | Some(b'-' | b']') => return Err(BadPattern),
        Some(_) => chunk,
    };
    if chunk[0] == b'\\' {
        chunk = &chunk[1..];
        if chunk.is_empty() {
            return Err(BadPattern);
        }
    }
    let (r, w) = decode_rune(chunk);
    let rest = &chunk[w..];
    if (r == 0xFFFD && w == 1) || rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, rest))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn run(text: &str, vars: &[(&str, &str)]) -> Result<String, Error> {
        let vars: BTreeMap<&str, &str> = vars.iter().copied().collect();
        eval(
            text,
            &|n| vars.get(n).map_or(Value::Unset, |v| Value::Set(v)),
            true,
            &Limits::default(),
        )
    }

    #[test]
    fn expands_every_form_as_flux_does() {
        let v = [
            ("a", "Hello.World.txt"),
            ("e", ""),
            ("d", "example.com"),
            ("n", "ünï"),
        ];
        let cases = [
            ("x ${a} y", "x Hello.World.txt y"),
            ("${missing:-d}", "d"),
            ("${missing:=d}", "d"),
            ("${missing=d}", "d"),
            ("${e:-d}", "d"),
            ("${e=d}", "d"),
            // Flux's `:+` is a default, not bash's alternative.
            ("${a:+alt}", "Hello.World.txt"),
            ("${missing:+alt}", "alt"),
            ("${missing:-${d}}", "example.com"),
            ("${missing:-x${d}y}", "xexample.comy"),
            ("${d/./-}", "example-com"),
            ("${a//./-}", "Hello-World-txt"),
            ("${a/#Hello/Bye}", "Bye.World.txt"),
            ("${a/%txt/md}", "Hello.World.md"),
            ("${a/%nope/md}", "Hello.World.txt"),
            ("${a#*.}", "World.txt"),
            ("${a##*.}", "txt"),
            ("${a%.*}", "Hello.World"),
            ("${a%%.*}", "Hello"),
            ("${a:6}", "World.txt"),
            ("${a:6:5}", "World"),
            ("${a:-3}", "Hello.World.txt"),
            ("${a: -3}", "Hello.World.txt"),
            ("${a:1:-4}", "ello.World"),
            ("${#a}", "15"),
            ("${#n}", "5"),
            ("${a^}", "Hello.World.txt"),
            ("${a^^}", "HELLO.WORLD.TXT"),
            ("${a,}", "hello.World.txt"),
            ("${a,,}", "hello.world.txt"),
            ("${n^^}", "ÜNÏ"),
            ("$${a}", "${a}"),
            ("$$${d}", "$example.com"),
            ("$a $ 5$", "$a $ 5$"),
            ("${d/\\//x}", "example.com"),
        ];
        for (input, want) in cases {
            assert_eq!(run(input, &v).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn refuses_what_flux_refuses() {
        let v = [("a", "x")];
        let cases = [
            ("${a", Error::MissingClosingBrace),
            ("${a-d}", Error::MissingClosingBrace),
            ("${a+d}", Error::MissingClosingBrace),
            ("${}", Error::VariableName),
            ("${-a}", Error::VariableName),
            ("${#}", Error::BadSubstitution),
            ("${a/x}", Error::BadSubstitution),
            ("${a:}", Error::FuncSubstitution),
            ("${a#}", Error::FuncSubstitution),
            ("${a^^^}", Error::BadSubstitution),
            ("${a:-", Error::FuncSubstitution),
        ];
        for (input, want) in cases {
            assert_eq!(run(input, &v), Err(want), "{input}");
        }
    }

    #[test]
    fn strict_mode_names_every_undefined_variable() {
        let err = run("${x} ${y} ${x} ${z:-ok}", &[]).unwrap_err();
        assert_eq!(
            err,
            Error::Undefined {
                names: vec!["x".into(), "y".into()]
            }
        );
        assert_eq!(
            err.to_string(),
            "variables not set (strict mode): \"x\", \"y\""
        );
        // Arguments are evaluated even when the default is not used.
        assert!(run("${a:-${b}}", &[("a", "set")]).is_err());
    }

    #[test]
    fn output_is_bounded() {
        let big = "x".repeat(200_000);
        let text = "${v}".repeat(5_000);
        let limits = Limits {
            max_output_bytes: 16 << 20,
            ..Limits::default()
        };
        let err = eval(&text, &|_| Value::Set(&big), true, &limits).unwrap_err();
        assert_eq!(err, Error::TooLarge { limit: 16 << 20 });
        let limits = Limits {
            max_match_work: 1 << 20,
            ..Limits::default()
        };
        let err = eval("${v%%*y}", &|_| Value::Set(&big), true, &limits).unwrap_err();
        assert!(matches!(err, Error::TooExpensive { .. }));
    }

    #[test]
    fn never_panics_on_arbitrary_text() {
        // A seeded stream of texts over every character the grammar cares about (issue 14's
        // fuzzing of the substitution engine, bounded for the suite).
        const ALPHABET: &[char] = &[
            '$', '{', '}', ':', '-', '=', '+', '?', '#', '%', '/', '\\', '^', ',', '*', '[', ']',
            '!', 'a', 'Z', '_', '0', '9', ' ', '\n', 'é', '中', '😀', '\u{0}',
        ];
        let values = ["", "Hello.World", "中文", "a*b[c]", "9223372036854775807"];
        let mut state: u64 = 0x0123_4567_89ab_cdef;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..50_000 {
            let len = (next() % 24) as usize;
            let text: String = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            let v = values[(next() % values.len() as u64) as usize];
            for strict in [true, false] {
                let _ = eval(
                    &text,
                    &|n| {
                        if n == "a" {
                            Value::Set(v)
                        } else {
                            Value::Unset
                        }
                    },
                    strict,
                    &Limits::default(),
                );
            }
        }
    }

    #[test]
    fn go_replace_matches_go() {
        assert_eq!(go_replace(b"abc", b"", b"X", Some(1)), b"Xabc");
        assert_eq!(go_replace(b"abc", b"", b"X", None), b"XaXbXcX");
        assert_eq!(go_replace(b"", b"", b"X", None), b"X");
        assert_eq!(go_replace(b"aaa", b"a", b"b", Some(1)), b"baa");
        assert_eq!(go_replace(b"aaa", b"a", b"b", None), b"bbb");
    }

    #[test]
    fn glob_matches_like_flux() {
        assert_eq!(glob_match(b"*.txt", b"a/b.txt"), Ok(true));
        assert_eq!(glob_match(b"?", "é".as_bytes()), Ok(true));
        assert_eq!(glob_match(b"[a-c]x", b"bx"), Ok(true));
        assert_eq!(glob_match(b"[^a-c]x", b"bx"), Ok(false));
        assert_eq!(glob_match(b"[", b"a"), Err(BadPattern));
        assert_eq!(glob_match(b"a\\", b"a"), Ok(false));
        assert_eq!(glob_match(b"\\", b"a"), Err(BadPattern));
    }
}
