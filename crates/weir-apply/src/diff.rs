//! Comparing what the server would make of a manifest with what is live: normalisation, the cheap
//! "already there" test, field-level differences and manifest digests.

use std::fmt;

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use weir_api::Digest;

/// Metadata the server changes on every write; never a difference the user made.
const VOLATILE_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "generation",
    "uid",
    "creationTimestamp",
    "selfLink",
];

/// `obj` without `status` and the metadata the server rewrites, so a server-side dry-run result and
/// the live object compare equal exactly when applying would change nothing (as Flux's ssa
/// ResourceManager decides "unchanged").
pub fn normalise(obj: &Value) -> Value {
    let mut out = obj.clone();
    if let Some(map) = out.as_object_mut() {
        map.remove("status");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            for key in VOLATILE_METADATA {
                meta.remove(*key);
            }
        }
    }
    out
}

/// True when every field set in `desired` has the same value in `live`: then applying `desired` with
/// server-side apply cannot change those fields. Lists must have the same length and match element
/// by element (the server adds defaults inside elements, never new elements). `null` in `desired`
/// asks for absence.
pub fn is_subset(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, dv)| match l.get(k) {
            Some(lv) => is_subset(dv, lv),
            None => dv.is_null(),
        }),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(dv, lv)| is_subset(dv, lv))
        }
        (Value::Number(d), Value::Number(l)) => d == l || d.as_f64() == l.as_f64(),
        (d, l) => d == l,
    }
}

/// A stable digest of a manifest: keys sorted at every level, so equal objects always digest equally.
pub fn digest(obj: &Value) -> Digest {
    let mut hasher = Sha256::new();
    canonical(obj, &mut |bytes| hasher.update(bytes));
    let sum = hasher.finalize();
    let mut hex = String::with_capacity(64);
    for b in sum {
        hex.push_str(&format!("{b:02x}"));
    }
    Digest::sha256(hex)
}

fn canonical(v: &Value, out: &mut dyn FnMut(&[u8])) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out(b"{");
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out(b",");
                }
                out(Value::String(k.clone()).to_string().as_bytes());
                out(b":");
                canonical(&map[k], out);
            }
            out(b"}");
        }
        Value::Array(items) => {
            out(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out(b",");
                }
                canonical(item, out);
            }
            out(b"]");
        }
        scalar => out(scalar.to_string().as_bytes()),
    }
}

/// One field that differs between the live object and what applying would make of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// Dotted path, list positions in brackets: `spec.template.spec.containers[0].image`.
    pub path: String,
    /// Live value; `None` when the field is added.
    pub before: Option<Value>,
    /// Value after the apply; `None` when the field is removed.
    pub after: Option<Value>,
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.before, &self.after) {
            (None, Some(a)) => write!(f, "+ {}: {a}", self.path),
            (Some(b), None) => write!(f, "- {}: {b}", self.path),
            (Some(b), Some(a)) => write!(f, "~ {}: {b} -> {a}", self.path),
            (None, None) => write!(f, "  {}", self.path),
        }
    }
}

/// Field-level differences from `before` to `after` (both normalised), in path order.
pub fn field_changes(before: &Value, after: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk(String::new(), before, after, &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(path: String, before: &Value, after: &Value, out: &mut Vec<FieldChange>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let mut keys: Vec<&String> = b
                .keys()
                .chain(a.keys().filter(|k| !b.contains_key(*k)))
                .collect();
            keys.sort();
            for k in keys {
                let p = join(&path, k);
                match (b.get(k), a.get(k)) {
                    (Some(bv), Some(av)) => walk(p, bv, av, out),
                    (Some(bv), None) => out.push(FieldChange {
                        path: p,
                        before: Some(bv.clone()),
                        after: None,
                    }),
                    (None, Some(av)) => out.push(FieldChange {
                        path: p,
                        before: None,
                        after: Some(av.clone()),
                    }),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(b), Value::Array(a)) if b.len() == a.len() => {
            for (i, (bv, av)) in b.iter().zip(a).enumerate() {
                walk(format!("{path}[{i}]"), bv, av, out);
            }
        }
        (b, a) if b == a => {}
        (b, a) => out.push(FieldChange {
            path,
            before: Some(b.clone()),
            after: Some(a.clone()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn normalise_drops_server_bookkeeping() {
        let live = json!({"metadata": {"name": "a", "resourceVersion": "7", "generation": 3, "managedFields": [], "uid": "u"},
                          "spec": {"x": 1}, "status": {"y": 2}});
        assert_eq!(
            normalise(&live),
            json!({"metadata": {"name": "a"}, "spec": {"x": 1}})
        );
    }

    #[test]
    fn subset_sees_defaults_as_equal_and_hand_edits_as_different() {
        let desired = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        let live = json!({"spec": {"replicas": 2, "revisionHistoryLimit": 10,
            "template": {"spec": {"containers": [{"name": "c", "image": "i", "imagePullPolicy": "Always"}]}}}});
        assert!(is_subset(&desired, &live));
        let edited = json!({"spec": {"replicas": 5, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        assert!(!is_subset(&desired, &edited));
        let extra_container = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "i"}, {"name": "d"}]}}}});
        assert!(!is_subset(&desired, &extra_container));
    }

    #[test]
    fn digest_ignores_key_order() {
        let a: Value =
            serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": "s"}}"#).expect("json");
        let b: Value =
            serde_json::from_str(r#"{"a": {"x": "s", "y": [1, 2]}, "b": 1}"#).expect("json");
        assert_eq!(digest(&a), digest(&b));
        assert_ne!(digest(&a), digest(&json!({"b": 2})));
        let text = digest(&a).to_string();
        assert!(text.starts_with("sha256:") && text.len() == 71);
        assert_eq!(text.parse::<Digest>().expect("a valid digest"), digest(&a));
    }

    #[test]
    fn field_changes_name_each_path() {
        let before = json!({"spec": {"replicas": 5, "old": true, "list": [1, 2]}});
        let after = json!({"spec": {"replicas": 2, "new": "x", "list": [1, 3]}});
        let got: Vec<String> = field_changes(&before, &after)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            got,
            vec![
                "~ spec.list[1]: 2 -> 3",
                "+ spec.new: \"x\"",
                "- spec.old: true",
                "~ spec.replicas: 5 -> 2"
            ]
        );
    }
}
