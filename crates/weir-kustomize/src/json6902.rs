//! JSON6902 patches (RFC 6902) as kustomize v5.5 applies them, through evanphx/json-patch v4.
//!
//! Operations `add`, `remove`, `replace`, `move`, `copy`, `test`; JSON pointers with `~0`/`~1`
//! escapes, `-` to append, array index insertion. The library's edge cases are kept, since kustomize
//! users' patches depend on them:
//! - `replace` of a missing map key adds it; of a missing array index fails;
//! - array indexes may be negative (counted from the end; `-1` in `add` appends);
//! - a missing or `null` parent fails every operation; `remove` and `move` of a missing key fail;
//! - `test` of a missing or `null` value passes when the expected value is `null`;
//!   numbers compare by value (`1` is `1.0`, as both went through Go's JSON encoder), strings never
//!   equal numbers;
//! - an `add` without `value` adds `null`; a `copy` from a missing map key copies `null`.
//!
//! Written here rather than with the `json-patch` crate, which follows RFC 6902 strictly (it rejects
//! `replace` of a missing key and negative indexes) and so differs from kustomize.

use serde_json::{Map, Value};

/// A JSON6902 patch that could not be applied; `index` is the operation's position in the patch.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The patch is not a list of operation objects.
    #[error("json patch must be a list of operations, got {found}")]
    NotAList { found: &'static str },
    /// An operation is not an object, or lacks a string `op`, `path` or `from`.
    #[error("json patch operation {index}: {problem}")]
    Malformed { index: usize, problem: String },
    /// The operation's `op` is none of the six.
    #[error("json patch operation {index}: unexpected op {op:?}")]
    UnknownOp { index: usize, op: String },
    /// The path (or its parent) does not exist in the document.
    #[error("json patch operation {index} ({op}): document is missing path {path:?}")]
    MissingPath {
        index: usize,
        op: &'static str,
        path: String,
    },
    /// An array index is not a number or is out of range.
    #[error("json patch operation {index} ({op}): invalid array index {key:?} in {path:?}")]
    InvalidIndex {
        index: usize,
        op: &'static str,
        path: String,
        key: String,
    },
    /// A `test` operation found another value.
    #[error(
        "json patch operation {index} (test): value at {path:?} is {actual}, expected {expected}"
    )]
    TestFailed {
        index: usize,
        path: String,
        expected: String,
        actual: String,
    },
    /// `replace` of the whole document with something that is not an object or array.
    #[error(
        "json patch operation {index} (replace): the whole document must become an object or array"
    )]
    RootNotContainer { index: usize },
}

/// Applies the parsed operations `ops` (a JSON array) to a Kubernetes object, as kustomize's `patches`
/// transformer does. On error, `target` may hold the operations before the failing one; kustomize
/// fails the whole build then.
///
/// kustomize records the object's id in `internal.config.kubernetes.io/previous{Kinds,Names,Namespaces}`
/// annotations just before a JSON patch and strips them when writing the output, so during the
/// patch `metadata.annotations` always exists: `add /metadata/annotations/x` works on an object
/// without annotations, and a `test` of the whole map sees those keys. The same annotations are
/// present here for the duration of the patch and removed afterwards; the annotations are then
/// written back as strings, as kustomize does.
pub fn apply(target: &mut Value, ops: &Value) -> Result<(), Error> {
    apply_with(target, ops, true)
}

/// [`apply`] for the legacy `patchesJson6902` field, which stores no id before the patch: kustomize's
/// bookkeeping annotations exist during the patch only when the object already carries some
/// (`internal_annotations`: it was renamed, moved or retyped earlier, was patched through
/// `patches` before, or was generated). Without them, `add /metadata/annotations/x` fails on an
/// object without annotations, as in kustomize.
pub fn apply_with(
    target: &mut Value,
    ops: &Value,
    internal_annotations: bool,
) -> Result<(), Error> {
    let had_annotations = target.pointer("/metadata/annotations").is_some();
    if internal_annotations {
        insert_id_annotations(target);
    }
    let result = apply_raw(target, ops);
    remove_id_annotations(target, had_annotations);
    result
}

/// Applies the operations to any JSON document, without kustomize's object bookkeeping.
pub fn apply_raw(target: &mut Value, ops: &Value) -> Result<(), Error> {
    let Some(list) = ops.as_array() else {
        return Err(Error::NotAList {
            found: kind_name(ops),
        });
    };
    for (index, op) in list.iter().enumerate() {
        apply_one(target, op, index)?;
    }
    Ok(())
}

const ID_ANNOTATIONS: [&str; 3] = [
    "internal.config.kubernetes.io/previousKinds",
    "internal.config.kubernetes.io/previousNames",
    "internal.config.kubernetes.io/previousNamespaces",
];

/// Adds kustomize's id annotations to an object with a `metadata` map.
fn insert_id_annotations(target: &mut Value) {
    let id = crate::selector::ResId::of(target);
    let namespace = id.effective_namespace().to_string();
    let Some(meta) = target.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let annotations = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(annotations) = annotations.as_object_mut() else {
        return;
    };
    for (key, value) in ID_ANNOTATIONS.iter().zip([id.kind, id.name, namespace]) {
        annotations.entry(*key).or_insert(Value::String(value));
    }
}

/// Removes the id annotations again. kustomize then writes the annotations back as a string map,
/// so every value becomes its text (numbers as Go prints a float64, maps and lists as ""), and
/// annotations that are not a map disappear.
fn remove_id_annotations(target: &mut Value, had_annotations: bool) {
    let Some(meta) = target.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let Some(annotations) = meta.get_mut("annotations") else {
        return;
    };
    let Some(map) = annotations.as_object_mut() else {
        meta.shift_remove("annotations");
        return;
    };
    for key in ID_ANNOTATIONS {
        map.shift_remove(key);
    }
    for value in map.values_mut() {
        if !value.is_string() {
            *value = Value::String(annotation_text(value));
        }
    }
    if map.is_empty() && !had_annotations {
        meta.shift_remove("annotations");
    }
}

/// The text kustomize's `GetAnnotations` reads from a value that went through Go's JSON decoder.
fn annotation_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_string(),
        Value::Number(n) => go_float_text(n.as_f64().unwrap_or_default()),
        Value::Array(_) | Value::Object(_) => String::new(),
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`: shortest digits, exponent form below 1e-4 or from 1e6.
fn go_float_text(f: f64) -> String {
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if negative { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}e{exp_sign}{:02}", exp.unsigned_abs());
    }
    if exp < 0 {
        let zeros = "0".repeat(usize::try_from(-exp - 1).unwrap_or(0));
        return format!("{sign}0.{zeros}{digits}");
    }
    let int_len = usize::try_from(exp + 1).unwrap_or(1);
    if digits.len() <= int_len {
        format!("{sign}{digits}{}", "0".repeat(int_len - digits.len()))
    } else {
        let (int, frac) = digits.split_at(int_len);
        format!("{sign}{int}.{frac}")
    }
}

fn apply_one(doc: &mut Value, op: &Value, index: usize) -> Result<(), Error> {
    let Some(obj) = op.as_object() else {
        return Err(Error::Malformed {
            index,
            problem: format!("an operation must be an object, got {}", kind_name(op)),
        });
    };
    let kind = obj.get("op").and_then(Value::as_str).unwrap_or("unknown");
    match kind {
        "add" => {
            let path = string_field(obj, "path", index)?;
            let value = obj.get("value").cloned().unwrap_or(Value::Null);
            add(doc, path, value, index, "add")
        }
        "remove" => {
            let path = string_field(obj, "path", index)?;
            remove(doc, path, index, "remove").map(|_| ())
        }
        "replace" => {
            let path = string_field(obj, "path", index)?;
            let value = obj.get("value").cloned().unwrap_or(Value::Null);
            replace(doc, path, value, index)
        }
        "move" => {
            let from = string_field(obj, "from", index)?;
            let path = string_field(obj, "path", index)?;
            let value = remove(doc, from, index, "move")?;
            add(doc, path, value, index, "move")
        }
        "copy" => {
            let from = string_field(obj, "from", index)?;
            let path = string_field(obj, "path", index)?;
            // evanphx reads a missing map key as null and copies that
            let value = get(doc, from, index, "copy")?
                .cloned()
                .unwrap_or(Value::Null);
            add(doc, path, value, index, "copy")
        }
        "test" => {
            let path = string_field(obj, "path", index)?;
            let Some(expected) = obj.get("value") else {
                return Err(Error::Malformed {
                    index,
                    problem: "test operation has no value".into(),
                });
            };
            test(doc, path, expected, index)
        }
        other => Err(Error::UnknownOp {
            index,
            op: other.to_string(),
        }),
    }
}

fn string_field<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    index: usize,
) -> Result<&'a str, Error> {
    obj.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Malformed {
            index,
            problem: format!("missing string field {name:?}"),
        })
}

/// evanphx `findObject`: the container holding the path's last token, and that token decoded.
/// Paths without a `/` have no container.
fn find_parent<'a>(
    doc: &'a mut Value,
    path: &str,
    index: usize,
    op: &'static str,
) -> Result<(&'a mut Value, String), Error> {
    let tokens: Vec<&str> = path.split('/').collect();
    if tokens.len() < 2 {
        return Err(missing(index, op, path));
    }
    let mut current = doc;
    for part in &tokens[1..tokens.len() - 1] {
        let key = decode(part);
        let next = match current {
            Value::Object(m) => m.get_mut(&key),
            Value::Array(a) => array_index(&key, a.len(), true).and_then(|i| a.get_mut(i)),
            _ => None,
        };
        current = match next {
            Some(v) if v.is_object() || v.is_array() => v,
            _ => return Err(missing(index, op, path)),
        };
    }
    if !(current.is_object() || current.is_array()) {
        return Err(missing(index, op, path));
    }
    let last = tokens.last().expect("at least two tokens");
    Ok((current, decode(last)))
}

fn add(
    doc: &mut Value,
    path: &str,
    value: Value,
    index: usize,
    op: &'static str,
) -> Result<(), Error> {
    let (parent, key) = find_parent(doc, path, index, op)?;
    match parent {
        Value::Object(m) => {
            m.insert(key, value);
        }
        Value::Array(a) => {
            let at = if key == "-" {
                a.len()
            } else {
                array_index(&key, a.len() + 1, true)
                    .ok_or_else(|| invalid(index, op, path, &key))?
            };
            a.insert(at, value);
        }
        _ => return Err(missing(index, op, path)),
    }
    Ok(())
}

fn remove(doc: &mut Value, path: &str, index: usize, op: &'static str) -> Result<Value, Error> {
    let (parent, key) = find_parent(doc, path, index, op)?;
    match parent {
        Value::Object(m) => m.shift_remove(&key).ok_or_else(|| missing(index, op, path)),
        Value::Array(a) => {
            let at =
                array_index(&key, a.len(), true).ok_or_else(|| invalid(index, op, path, &key))?;
            Ok(a.remove(at))
        }
        _ => Err(missing(index, op, path)),
    }
}

fn replace(doc: &mut Value, path: &str, value: Value, index: usize) -> Result<(), Error> {
    if path.is_empty() {
        if !(value.is_object() || value.is_array()) {
            return Err(Error::RootNotContainer { index });
        }
        *doc = value;
        return Ok(());
    }
    let (parent, key) = find_parent(doc, path, index, "replace")?;
    match parent {
        Value::Object(m) => {
            m.insert(key, value);
        }
        Value::Array(a) => {
            let at = array_index(&key, a.len(), true)
                .ok_or_else(|| invalid(index, "replace", path, &key))?;
            a[at] = value;
        }
        _ => return Err(missing(index, "replace", path)),
    }
    Ok(())
}

/// The value at `path`: `Ok(None)` for a missing map key (evanphx reads it as null).
fn get<'a>(
    doc: &'a mut Value,
    path: &str,
    index: usize,
    op: &'static str,
) -> Result<Option<&'a Value>, Error> {
    let (parent, key) = find_parent(doc, path, index, op)?;
    match parent {
        Value::Object(m) => Ok(m.get(&key).filter(|v| !v.is_null())),
        Value::Array(a) => {
            let at =
                array_index(&key, a.len(), true).ok_or_else(|| invalid(index, op, path, &key))?;
            Ok(a.get(at).filter(|v| !v.is_null()))
        }
        _ => Err(missing(index, op, path)),
    }
}

fn test(doc: &mut Value, path: &str, expected: &Value, index: usize) -> Result<(), Error> {
    let failed = |actual: Option<&Value>| Error::TestFailed {
        index,
        path: path.to_string(),
        expected: expected.to_string(),
        actual: actual.map_or_else(|| "missing".to_string(), Value::to_string),
    };
    if path.is_empty() {
        return if same_json(doc, expected) {
            Ok(())
        } else {
            Err(failed(Some(doc)))
        };
    }
    match get(doc, path, index, "test")? {
        None if expected.is_null() => Ok(()),
        Some(actual) if same_json(actual, expected) => Ok(()),
        actual => Err(failed(actual)),
    }
}

/// Equality as evanphx compares kustomize's documents: both sides went through Go's `json.Marshal`,
/// which writes `1.0` as `1`, so numbers compare by value; maps ignore key order.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(i), Some(j), _, _) => i == j,
                (_, _, Some(i), Some(j)) => i == j,
                _ => x.as_f64() == y.as_f64(),
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// An array index as evanphx v4 reads it: a decimal, negative counting from the end when `negative`
/// is allowed (always, in the library's default), and below `len`.
fn array_index(key: &str, len: usize, negative: bool) -> Option<usize> {
    let idx: i64 = key.parse().ok()?;
    let len = i64::try_from(len).ok()?;
    let idx = if idx < 0 && negative { idx + len } else { idx };
    (0..len)
        .contains(&idx)
        .then(|| usize::try_from(idx).ok())
        .flatten()
}

/// RFC 6901 token decoding: `~1` to `/` first, then `~0` to `~` (one pass, as Go's Replacer).
fn decode(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.peek() {
                Some('1') => {
                    chars.next();
                    out.push('/');
                    continue;
                }
                Some('0') => {
                    chars.next();
                    out.push('~');
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

fn missing(index: usize, op: &'static str, path: &str) -> Error {
    Error::MissingPath {
        index,
        op,
        path: path.to_string(),
    }
}

fn invalid(index: usize, op: &'static str, path: &str, key: &str) -> Error {
    Error::InvalidIndex {
        index,
        op,
        path: path.to_string(),
        key: key.to_string(),
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patched(doc: Value, ops: Value) -> Result<Value, Error> {
        let mut d = doc;
        apply(&mut d, &ops).map(|()| d)
    }

    #[test]
    fn annotations_should_be_written_back_as_strings() {
        let cm = json!({"apiVersion": "v1", "kind": "T", "metadata": {"name": "t", "labels": {"l": true}}});
        let values = [
            (json!(null), "null"),
            (json!(1.5), "1.5"),
            (json!(1.0), "1"),
            (json!(100000000000u64), "1e+11"),
            (json!(1234567), "1.234567e+06"),
            (json!(123456), "123456"),
            (json!(0.00001), "1e-05"),
            (json!(-12.5), "-12.5"),
            (json!(false), "false"),
            (json!({"k": "v"}), ""),
            (json!(0.001), "0.001"),
        ];
        for (value, want) in values {
            let ops = json!([{"op": "add", "path": "/metadata/annotations/x", "value": value}]);
            let got = patched(cm.clone(), ops).expect("applies");
            assert_eq!(got["metadata"]["annotations"]["x"], json!(want), "{value}");
            assert_eq!(
                got["metadata"]["labels"]["l"],
                json!(true),
                "labels stay as they are"
            );
        }
        let ops = json!([{"op": "replace", "path": "/metadata/annotations", "value": "str"}]);
        assert!(
            patched(cm, ops).expect("applies")["metadata"]
                .get("annotations")
                .is_none()
        );
    }

    #[test]
    fn legacy_patches_should_see_annotations_only_when_the_object_has_bookkeeping() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        let add = json!([{"op": "add", "path": "/metadata/annotations/x", "value": "1"}]);
        let mut plain = cm.clone();
        assert!(
            apply_with(&mut plain, &add, false).is_err(),
            "kubectl: doc is missing path"
        );
        let mut renamed = cm;
        apply_with(&mut renamed, &add, true).expect("renamed objects carry previousNames");
        assert_eq!(renamed["metadata"]["annotations"], json!({"x": "1"}));
    }

    #[test]
    fn objects_should_have_annotations_during_the_patch() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        let add = json!([{"op": "add", "path": "/metadata/annotations/x", "value": "1"}]);
        let got = patched(cm.clone(), add).expect("kustomize adds into its own annotations");
        assert_eq!(
            got["metadata"],
            json!({"name": "c", "annotations": {"x": "1"}})
        );
        let test_empty = json!([{"op": "test", "path": "/metadata/annotations", "value": {}}]);
        assert!(patched(cm.clone(), test_empty).is_err());
        let untouched = json!([{"op": "add", "path": "/data", "value": {}}]);
        assert_eq!(
            patched(cm, untouched).expect("applies")["metadata"],
            json!({"name": "c"})
        );
        let add_label = json!([{"op": "add", "path": "/metadata/labels/x", "value": "1"}]);
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert!(patched(cm, add_label).is_err());
    }

    /// Expectations checked against `kubectl kustomize` (kustomize v5.5.0, evanphx/json-patch v4).
    #[test]
    fn operations_should_match_kustomize() {
        let doc = json!({"data": {"a": "1", "x/y": "2", "t~": "3"}, "list": ["a", "b", "c"]});
        let cases = [
            (
                json!([{"op": "add", "path": "/data/b", "value": "2"}]),
                Some(
                    json!({"data": {"a": "1", "x/y": "2", "t~": "3", "b": "2"}, "list": ["a", "b", "c"]}),
                ),
            ),
            (
                json!([{"op": "remove", "path": "/data/x~1y"}, {"op": "replace", "path": "/data/t~0", "value": "4"}]),
                Some(json!({"data": {"a": "1", "t~": "4"}, "list": ["a", "b", "c"]})),
            ),
            (
                json!([{"op": "copy", "from": "/data/a", "path": "/data/c"}, {"op": "move", "from": "/data/c", "path": "/list/0"}]),
                Some(
                    json!({"data": {"a": "1", "x/y": "2", "t~": "3"}, "list": ["1", "a", "b", "c"]}),
                ),
            ),
            (
                json!([{"op": "replace", "path": "/data/zz", "value": "2"}]),
                Some(
                    json!({"data": {"a": "1", "x/y": "2", "t~": "3", "zz": "2"}, "list": ["a", "b", "c"]}),
                ),
            ),
            (
                json!([{"op": "add", "path": "/list/-", "value": "e"}, {"op": "add", "path": "/list/-1", "value": "n"}, {"op": "remove", "path": "/list/-2"}]),
                Some(
                    json!({"data": {"a": "1", "x/y": "2", "t~": "3"}, "list": ["a", "b", "c", "n"]}),
                ),
            ),
            (
                json!([{"op": "test", "path": "/data/b", "value": null}, {"op": "add", "path": "/data/b"}]),
                Some(
                    json!({"data": {"a": "1", "x/y": "2", "t~": "3", "b": null}, "list": ["a", "b", "c"]}),
                ),
            ),
            (
                json!([{"op": "add", "path": "/missing/b", "value": "2"}]),
                None,
            ),
            (json!([{"op": "remove", "path": "/data/zz"}]), None),
            (
                json!([{"op": "add", "path": "/list/5", "value": "z"}]),
                None,
            ),
            (
                json!([{"op": "replace", "path": "/list/3", "value": "z"}]),
                None,
            ),
            (
                json!([{"op": "test", "path": "/data/a", "value": "2"}]),
                None,
            ),
            (
                json!([{"op": "move", "from": "/data/zz", "path": "/data/b"}]),
                None,
            ),
            (
                json!([{"op": "add", "path": "/data/a/b", "value": "x"}]),
                None,
            ),
            (json!([{"op": "frob", "path": "/data/a"}]), None),
        ];
        for (ops, want) in cases {
            let got = patched(doc.clone(), ops.clone());
            match want {
                Some(w) => assert_eq!(got.expect("applies"), w, "{ops}"),
                None => assert!(got.is_err(), "{ops} should fail"),
            }
        }
    }

    #[test]
    fn failed_test_should_name_the_operation() {
        let ok = patched(
            json!({"a": 1}),
            json!([{"op": "test", "path": "/a", "value": 1.0}]),
        );
        assert!(
            ok.is_ok(),
            "Go writes 1.0 as 1, so kustomize's test sees them equal"
        );
        let err = patched(json!({"a": 1}), json!([{"op": "add", "path": "/b", "value": 2}, {"op": "test", "path": "/a", "value": "1"}]))
            .expect_err("a string is not a number");
        assert!(matches!(err, Error::TestFailed { index: 1, .. }), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn add_then_remove_should_be_identity(keys in proptest::collection::btree_map("[a-z~/]{1,5}", "[a-z]{0,4}", 0..5),
                                              new_key in "[a-z~/]{1,5}", value in "[a-z]{0,4}", at in 0usize..4) {
            proptest::prop_assume!(!keys.contains_key(&new_key));
            let doc = json!({"m": keys, "l": ["x", "y", "z"]});
            let token = new_key.replace('~', "~0").replace('/', "~1");
            let ops = json!([{"op": "add", "path": format!("/m/{token}"), "value": value},
                             {"op": "remove", "path": format!("/m/{token}")},
                             {"op": "add", "path": format!("/l/{at}"), "value": value},
                             {"op": "remove", "path": format!("/l/{at}")}]);
            proptest::prop_assert_eq!(patched(doc.clone(), ops).expect("applies"), doc);
        }
    }
}
