//! `configMapGenerator` and `secretGenerator`: key/value pairs from env files, literals and files
//! (in that order, as kustomize reads them) into a ConfigMap or Secret.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::error::{Error, ErrorKind, Result};
use crate::kustomization::{GeneratorArgs, GeneratorOptions};
use crate::loader::Loader;
use crate::resource::{Behavior, Resource};

/// Which object a generator makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GenKind {
    ConfigMap,
    Secret,
}

impl GenKind {
    fn field(self) -> &'static str {
        match self {
            GenKind::ConfigMap => "configMapGenerator",
            GenKind::Secret => "secretGenerator",
        }
    }
}

/// Builds the object of one generator entry. `global` is the kustomization's `generatorOptions`.
pub(crate) fn generate(
    ldr: &Loader<'_>,
    kfile: &Path,
    kind: GenKind,
    args: &GeneratorArgs,
    global: Option<&GeneratorOptions>,
) -> Result<Resource> {
    let name = args.name.clone().unwrap_or_default();
    let err = |message: String| {
        Error::new(ErrorKind::Generator {
            file: kfile.to_path_buf(),
            what: kind.field(),
            name: name.clone(),
            message,
        })
    };
    if name.is_empty() {
        return Err(err("a generator needs a name".into()));
    }
    let behavior = match args.behavior.as_deref() {
        None | Some("") | Some("create") => Behavior::Create,
        Some("merge") => Behavior::Merge,
        Some("replace") => Behavior::Replace,
        Some(other) => {
            return Err(err(format!(
                "unknown behavior '{other}' (use create, merge or replace)"
            )));
        }
    };
    let pairs = load_pairs(ldr, kfile, args).map_err(|e| match e {
        PairError::Load(e) => e,
        PairError::Invalid(m) => err(m),
    })?;
    let mut seen = std::collections::HashSet::new();
    for (k, _) in &pairs {
        if !valid_key(k) {
            return Err(err(format!(
                "'{k}' is not a valid key name: use letters, digits, '-', '_' or '.'"
            )));
        }
        if !seen.insert(k.clone()) {
            return Err(err(format!("the key '{k}' is given more than once")));
        }
    }
    let opts = merge_options(args.options.as_ref(), global);

    let mut metadata = Map::new();
    metadata.insert("name".into(), Value::String(name.clone()));
    if let Some(ns) = args.namespace.as_deref().filter(|n| !n.is_empty()) {
        metadata.insert("namespace".into(), Value::String(ns.into()));
    }
    let mut obj = json!({"apiVersion": "v1", "kind": match kind { GenKind::ConfigMap => "ConfigMap", GenKind::Secret => "Secret" }});
    let map = obj.as_object_mut().expect("built as an object literal");
    map.insert("metadata".into(), Value::Object(metadata));

    let mut sorted = pairs;
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut data = Map::new();
    let mut binary = Map::new();
    for (k, v) in sorted {
        match kind {
            GenKind::ConfigMap => match String::from_utf8(v) {
                Ok(s) => {
                    data.insert(k, Value::String(s));
                }
                Err(e) => {
                    binary.insert(k, Value::String(base64_lines(e.as_bytes())));
                }
            },
            GenKind::Secret => {
                data.insert(k, Value::String(base64_lines(&v)));
            }
        }
    }
    if !data.is_empty() {
        map.insert("data".into(), Value::Object(data));
    }
    if !binary.is_empty() {
        map.insert("binaryData".into(), Value::Object(binary));
    }
    if kind == GenKind::Secret {
        let t = args
            .type_
            .clone()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "Opaque".into());
        map.insert("type".into(), Value::String(t));
    }
    let md = map
        .get_mut("metadata")
        .and_then(|m| m.as_object_mut())
        .expect("inserted above");
    if !opts.labels.is_empty() {
        md.insert("labels".into(), string_map(&opts.labels));
    }
    if !opts.annotations.is_empty() {
        md.insert("annotations".into(), string_map(&opts.annotations));
    }
    if opts.immutable {
        map.insert("immutable".into(), Value::Bool(true));
    }
    let mut r = Resource::new(obj, Arc::new(kfile.to_path_buf()));
    r.needs_hash = !opts.disable_name_suffix_hash;
    r.behavior = behavior;
    Ok(r)
}

fn string_map(m: &std::collections::BTreeMap<String, String>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// kustomize's `MergeGlobalOptionsIntoLocal`: global labels/annotations override local ones and a
/// global `true` wins.
fn merge_options(
    local: Option<&GeneratorOptions>,
    global: Option<&GeneratorOptions>,
) -> GeneratorOptions {
    let mut out = local.cloned().unwrap_or_default();
    if let Some(g) = global {
        // A generator's own labels and annotations win over `generatorOptions` of the same key.
        for (k, v) in &g.labels {
            out.labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        for (k, v) in &g.annotations {
            out.annotations
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
        out.disable_name_suffix_hash |= g.disable_name_suffix_hash;
        out.immutable |= g.immutable;
    }
    out
}

enum PairError {
    Load(Error),
    Invalid(String),
}

fn load_pairs(
    ldr: &Loader<'_>,
    kfile: &Path,
    args: &GeneratorArgs,
) -> std::result::Result<Vec<(String, Vec<u8>)>, PairError> {
    let mut out = Vec::new();
    let envs = args.envs.iter().chain(args.env.iter());
    for env in envs {
        let (_, bytes) = ldr.read(env, kfile).map_err(PairError::Load)?;
        out.extend(env_pairs(env, &bytes).map_err(PairError::Invalid)?);
    }
    for lit in &args.literals {
        let Some((k, v)) = lit.split_once('=') else {
            return Err(PairError::Invalid(format!(
                "invalid literal '{lit}': expected key=value"
            )));
        };
        out.push((k.to_string(), unquote(v).as_bytes().to_vec()));
    }
    for src in &args.files {
        let (key, path) = file_source(src).map_err(PairError::Invalid)?;
        let (_, bytes) = ldr.read(&path, kfile).map_err(PairError::Load)?;
        out.push((key, bytes));
    }
    Ok(out)
}

/// `key=path` or `path` (key = the file name).
fn file_source(src: &str) -> std::result::Result<(String, String), String> {
    match src.matches('=').count() {
        0 => {
            let base = src.trim_end_matches('/').rsplit('/').next().unwrap_or(src);
            Ok((base.to_string(), src.to_string()))
        }
        1 if src.starts_with('=') => {
            Err(format!("key name for file path '{}' is missing", &src[1..]))
        }
        1 if src.ends_with('=') => Err(format!(
            "file path for key name '{}' is missing",
            &src[..src.len() - 1]
        )),
        1 => {
            let (k, p) = src.split_once('=').expect("one '=' counted above");
            Ok((k.to_string(), p.to_string()))
        }
        _ => Err(format!(
            "'{src}': key names or file paths cannot contain '='"
        )),
    }
}

/// Strips one pair of matching surrounding quotes.
fn unquote(v: &str) -> &str {
    let b = v.as_bytes();
    if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

/// Lines `KEY=value` of an env file; blank lines and `#` comments skipped. A line without `=` takes
/// its value from the environment in kustomize; weir keeps builds hermetic and uses "".
fn env_pairs(file: &str, bytes: &[u8]) -> std::result::Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = std::str::from_utf8(raw)
            .map_err(|_| format!("{file}: line {} is not valid UTF-8", i + 1))?;
        let line = if i == 0 {
            line.trim_start_matches('\u{feff}')
        } else {
            line
        };
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line.split_once('=').unwrap_or((line, ""));
        if !valid_env_name(k) {
            return Err(format!(
                "{file}: line {}: '{k}' is not a valid environment variable name",
                i + 1
            ));
        }
        out.push((k.to_string(), v.as_bytes().to_vec()));
    }
    Ok(out)
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253
        && k != "."
        && k != ".."
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

fn valid_env_name(k: &str) -> bool {
    let mut bytes = k.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b'-' || b == b'.' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Standard base64, broken into lines of 70 characters (each followed by a newline) once the
/// encoding reaches 70 characters, as kustomize writes Secret data.
pub(crate) fn base64_lines(bytes: &[u8]) -> String {
    let enc = base64::engine::general_purpose::STANDARD.encode(bytes);
    const LINE: usize = 70;
    if enc.len() < LINE {
        return enc;
    }
    let mut out = String::with_capacity(enc.len() + enc.len() / LINE + 1);
    for chunk in enc.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_options_win_over_generator_options() {
        let local = GeneratorOptions {
            labels: [("a".to_string(), "own".to_string())].into(),
            ..Default::default()
        };
        let global = GeneratorOptions {
            labels: [("a", "global"), ("b", "global")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into(),
            disable_name_suffix_hash: true,
            ..Default::default()
        };
        let o = merge_options(Some(&local), Some(&global));
        assert_eq!(o.labels["a"], "own");
        assert_eq!(o.labels["b"], "global");
        assert!(o.disable_name_suffix_hash);
    }

    #[test]
    fn file_sources() {
        assert_eq!(
            file_source("a/b.txt").unwrap(),
            ("b.txt".into(), "a/b.txt".into())
        );
        assert_eq!(
            file_source("k=a/b.txt").unwrap(),
            ("k".into(), "a/b.txt".into())
        );
        assert!(file_source("=x").is_err());
        assert!(file_source("a=b=c").is_err());
    }

    #[test]
    fn env_files() {
        let p = env_pairs("e", b"# c\n\nA=1\n  B=x=y\r\nC\n").unwrap();
        assert_eq!(
            p,
            vec![
                ("A".into(), b"1".to_vec()),
                ("B".into(), b"x=y".to_vec()),
                ("C".into(), b"".to_vec())
            ]
        );
        assert!(env_pairs("e", b"1A=x\n").is_err());
    }

    #[test]
    fn base64_wraps_at_70() {
        assert_eq!(base64_lines(b"abc"), "YWJj");
        let long = base64_lines(&[b'x'; 60]);
        assert_eq!(long.lines().next().unwrap().len(), 70);
        assert!(long.ends_with('\n'));
    }

    #[test]
    fn unquotes_matching_quotes_only() {
        assert_eq!(unquote("\"a\""), "a");
        assert_eq!(unquote("'a"), "'a");
    }
}
