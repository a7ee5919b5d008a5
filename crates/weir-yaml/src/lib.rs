//! YAML <-> `serde_json::Value` with Kubernetes/kustomize semantics.
//!
//! Reading follows go-yaml v3 (what kustomize v5 reads with); writing follows kustomize's output
//! (JSON round trip, then go-yaml v2 style: sorted keys, YAML 1.1 quoting, literal blocks).
//!
//! Contract used by the rest of the workspace (do not change the signatures):
//! - [`from_str`]: a multi-document stream into its non-empty documents.
//! - [`to_string`]: one document, with a trailing newline.
//! - [`to_string_multi`]: documents joined by `---\n`, as `kustomize build` prints them.
//!
//! ```
//! # fn main() -> Result<(), weir_yaml::Error> {
//! let docs = weir_yaml::from_str("kind: ConfigMap\napiVersion: v1\ndata:\n  on: yes\n  mode: 0777\n")?;
//! let printed = weir_yaml::to_string_multi(&docs);
//! assert_eq!(printed, "apiVersion: v1\ndata:\n  mode: 511\n  \"on\": \"yes\"\nkind: ConfigMap\n");
//! # Ok(())
//! # }
//! ```
//!
//! # Reading
//! [`from_str`] follows kyaml (go-yaml v3 plus kyaml's own stream handling), which kustomize v5.5
//! reads resources and patches with: the stream is cut at lines starting with `---` and the first
//! document of each piece is read; `yes`/`no`/`on`/`off` stay strings, `true`/`True`/`TRUE` are
//! booleans, `~`/`null`/empty are null, integers accept `0x`, `0o`, `0b` and legacy `0777` octal,
//! floats follow YAML 1.2, and an unquoted timestamp becomes its RFC 3339 text (`2024-02-29` ->
//! `"2024-02-29T00:00:00Z"`). Anchors, aliases and `<<` merge keys are expanded (each alias an
//! independent copy); duplicate keys are an error. Mapping keys keep their source text (`1.10:`
//! is the key `"1.10"`). Input that go-yaml accepts but strict YAML 1.2 does not (a tab after
//! `:`, flow collections closed at the key's column, `"x"#comment`) is accepted.
//! [`from_str_objects`] also refuses the keys kustomize cannot turn into JSON;
//! [`from_str_kustomization`] reads kustomization files as sigs.k8s.io/yaml does (YAML 1.1).
//!
//! # Writing
//! The writer reproduces go-yaml v2's emitter on the value as it comes back from JSON: keys in
//! go-yaml's "natural" order, sequences not indented below their key, strings that YAML 1.1 would
//! read as something else double-quoted, long plain strings folded after column 80, multi-line
//! strings as literal blocks, and non-printable or non-BMP characters escaped.
//!
//! # Deviation
//! - [`from_str`] keeps a non-string key below the top level (`1: a`) as its text and drops a null
//!   key (`~: a`); kustomize fails on both when it prints the object ([`from_str_objects`] fails
//!   too).
//! - `.inf` and `.nan` cannot be held by `serde_json::Value`; reading them is an error (kustomize
//!   fails later, when it converts the object to JSON). So are DEL, C1 controls and U+FFFE/U+FFFF
//!   in strings, which kustomize cannot print.
//! - Folded (`>`) scalars are read into the value kustomize prints after its go-yaml v3 write and
//!   read (see `folded.rs`); kustomize does that at output, so a folded value copied elsewhere
//!   first (replacements) would keep its first-read form there.
//! - Raw U+2028/U+2029 are text here, line breaks for go-yaml.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod emit;
mod float;
mod folded;
mod json;
mod key_order;
mod leniency;
mod load;
mod resolve;
mod scalar;
mod scalar_event;
mod timestamp;

pub use emit::{write_multi, write_value};

/// A YAML syntax or structure error, with the position in the source where it is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    /// 1-based line of the problem.
    pub line: Option<usize>,
    /// 1-based column of the problem.
    pub column: Option<usize>,
    /// What is wrong, lowercase.
    pub message: String,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => {
                write!(f, "line {line}, column {column}: {}", self.message)
            }
            (Some(line), None) => write!(f, "line {line}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl Error {
    pub(crate) fn at(line: usize, column: usize, message: impl Into<String>) -> Self {
        Error {
            line: Some(line),
            column: Some(column),
            message: message.into(),
        }
    }
}

/// Parses a multi-document YAML stream into its documents.
///
/// Empty and comment-only documents (and documents that are just `null`) are dropped; `---`
/// separators, a leading or trailing `---` and `...` end markers are accepted.
pub fn from_str(src: &str) -> Result<Vec<serde_json::Value>, Error> {
    load::load_all(src, load::Dialect::AsText)
        .map(|docs| docs.into_iter().map(|(doc, _)| doc).collect())
}

/// Like [`from_str`], for Kubernetes objects that end up in kustomize's output (resources,
/// patches): keys kustomize cannot turn into JSON are an error, as they make `kustomize build`
/// fail ("json: unsupported type"). Those are a null key anywhere (`~: x`) and, below the top
/// level, a key that YAML types as a bool, number or timestamp (`1: x`, `true: x`; quote it).
/// Kustomization files are read leniently by kustomize: use [`from_str`] for them.
pub fn from_str_objects(src: &str) -> Result<Vec<serde_json::Value>, Error> {
    load::load_all(src, load::Dialect::JsonObjects)
        .map(|docs| docs.into_iter().map(|(doc, _)| doc).collect())
}

/// Reads a kustomization file the way kustomize does (sigs.k8s.io/yaml: go-yaml v2, YAML 1.1,
/// then JSON): `yes`/`no`/`on`/`off`/`y`/`n` are booleans, an unquoted timestamp stays text,
/// mapping keys that are booleans or numbers become their text (`on:` -> `"true"`, `0x1F:` ->
/// `"31"`), a null key is an error, and a repeated key replaces the earlier one.
pub fn from_str_kustomization(src: &str) -> Result<Vec<serde_json::Value>, Error> {
    load::load_all(src, load::Dialect::Kustomization)
        .map(|docs| docs.into_iter().map(|(doc, _)| doc).collect())
}

/// Like [`from_str`], with the 1-based line on which each document's content starts (for
/// messages such as `apps/podinfo.yaml:12`).
pub fn from_str_with_lines(src: &str) -> Result<Vec<(serde_json::Value, usize)>, Error> {
    load::load_all(src, load::Dialect::AsText)
}

/// Writes one document exactly as `kustomize build` prints an object, ending with `"\n"`.
pub fn to_string(doc: &serde_json::Value) -> String {
    let mut out = String::new();
    emit::emit_document(&mut out, doc);
    out
}

/// Writes documents joined by `---\n` like `kustomize build` stdout: no leading `---`, `""` for
/// no documents.
pub fn to_string_multi(docs: &[serde_json::Value]) -> String {
    let mut out = String::new();
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        emit::emit_document(&mut out, doc);
    }
    out
}
