//! The variables of `spec.postBuild`: `substituteFrom` ConfigMaps and Secrets in order (a later
//! entry overrides an earlier one), then the inline `substitute` map over them, as Flux's
//! `LoadVariables` reads them. Newlines are removed from every value, as Flux does.
//!
//! The caller fetches the objects (the controller from the cluster, `weir check` from the
//! repository) and answers a [`Lookup`] for each reference; this module only decides.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use serde_json::Value;
use weir_api::flux::{PostBuild, SubstituteReference};

/// The resolved variables of one Kustomization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variables {
    /// Name -> value.
    pub values: BTreeMap<String, String>,
    /// False when a `substituteFrom` object exists but its values cannot be known here (offline:
    /// not in the repository, or SOPS-encrypted): an undefined variable is then not an error,
    /// since it may come from that object.
    pub complete: bool,
    /// Names defined by objects whose values are not known (the keys of a SOPS-encrypted Secret):
    /// references to them are not errors, and objects using them are left unsubstituted.
    pub opaque: BTreeSet<String>,
}

impl Default for Variables {
    fn default() -> Self {
        Variables {
            values: BTreeMap::new(),
            complete: true,
            opaque: BTreeSet::new(),
        }
    }
}

impl Variables {
    /// Whether an undefined reference to `name` may be defined where weir cannot see.
    pub fn may_define(&self, name: &str) -> bool {
        !self.complete || self.opaque.contains(name)
    }

    /// Whether there is nothing to substitute with (Flux then skips substitution unless
    /// `substituteStrategy: Always`).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.complete && self.opaque.is_empty()
    }
}

/// What the caller found for one `substituteFrom` reference.
#[derive(Debug, Clone, Copy)]
pub enum Lookup<'a> {
    /// The ConfigMap or Secret object (JSON, as read from the cluster or the repository).
    Found(&'a Value),
    /// There is no such object.
    NotFound,
    /// The object may exist but cannot be read here (offline, not in the repository).
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A required (`optional: false`) object does not exist. Flux retries: it may be created.
    #[error(
        "substitute from '{kind}/{name}' error: not found (create it, or mark the reference optional: true)"
    )]
    NotFound { kind: String, name: String },
    /// `kind` is neither ConfigMap nor Secret (Flux's CRD accepts only those two).
    #[error("substitute from '{kind}/{name}': kind must be ConfigMap or Secret")]
    UnsupportedKind { kind: String, name: String },
    /// A Secret's `data` value is not base64 (the API server would refuse the Secret).
    #[error("substitute from 'Secret/{name}': data key {key:?} is not valid base64")]
    BadSecretData { name: String, key: String },
}

impl Error {
    /// A missing object may appear later (created out of band or by another Kustomization).
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }
}

/// Resolves the variables of `post_build`. `lookup` is asked once per `substituteFrom` entry, in
/// order. Optional references that are not found are skipped; required ones are an error.
pub fn resolve<'a>(
    post_build: Option<&PostBuild>,
    mut lookup: impl FnMut(&SubstituteReference) -> Lookup<'a>,
) -> Result<Variables, Error> {
    let mut vars = Variables::default();
    let Some(pb) = post_build else {
        return Ok(vars);
    };
    for r in &pb.substitute_from {
        if r.kind != "ConfigMap" && r.kind != "Secret" {
            return Err(Error::UnsupportedKind {
                kind: r.kind.clone(),
                name: r.name.clone(),
            });
        }
        match lookup(r) {
            Lookup::Found(obj) => match data_of(obj)? {
                Data::Plain(data) => {
                    for (k, v) in data {
                        vars.opaque.remove(&k);
                        vars.values.insert(k, v.replace('\n', ""));
                    }
                }
                Data::Encrypted(keys) => {
                    for k in keys {
                        vars.values.remove(&k);
                        vars.opaque.insert(k);
                    }
                }
            },
            Lookup::NotFound if r.optional => {}
            Lookup::NotFound => {
                return Err(Error::NotFound {
                    kind: r.kind.clone(),
                    name: r.name.clone(),
                });
            }
            Lookup::Unknown => vars.complete = false,
        }
    }
    for (k, v) in &pb.substitute {
        vars.opaque.remove(k);
        vars.values.insert(k.clone(), v.replace('\n', ""));
    }
    Ok(vars)
}

/// [`resolve`] over objects the caller fetched in `substituteFrom` order: `objects[i]` answers
/// `substitute_from[i]` (`None`: not found). A missing answer counts as not found.
pub fn from_objects(
    post_build: Option<&PostBuild>,
    objects: &[Option<Value>],
) -> Result<Variables, Error> {
    let mut answers = objects.iter();
    resolve(post_build, |_| match answers.next() {
        Some(Some(obj)) => Lookup::Found(obj),
        _ => Lookup::NotFound,
    })
}

/// The data of a ConfigMap or Secret, as substitution sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// Key -> value (Secret values decoded).
    Plain(BTreeMap<String, String>),
    /// A SOPS-encrypted object: its keys are known, its values are not.
    Encrypted(BTreeSet<String>),
}

/// Whether an object carries SOPS metadata (a top-level `sops` map with a `mac`): its values are
/// ciphertext (`ENC[AES256_GCM,...]`), never usable as plain values.
pub fn is_sops_encrypted(obj: &Value) -> bool {
    obj.get("sops").is_some_and(|s| {
        s.is_object() && (s.get("mac").is_some() || s.get("lastmodified").is_some())
    })
}

/// The string data of a ConfigMap (`data`; `binaryData` is ignored, as Flux does) or a Secret
/// (`data` base64-decoded, then `stringData` over it, as the API server merges them).
pub fn data_of(obj: &Value) -> Result<Data, Error> {
    let is_secret = obj["kind"] == "Secret";
    let fields: &[&str] = if is_secret {
        &["data", "stringData"]
    } else {
        &["data"]
    };
    if is_sops_encrypted(obj) {
        let keys = fields
            .iter()
            .filter_map(|f| obj[*f].as_object())
            .flat_map(|m| m.keys().cloned())
            .collect();
        return Ok(Data::Encrypted(keys));
    }
    let mut out = BTreeMap::new();
    if let Some(data) = obj["data"].as_object() {
        for (k, v) in data {
            let s = scalar_text(v);
            let value = if is_secret {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(s.replace(['\n', '\r', ' '], ""))
                    .map_err(|_| Error::BadSecretData {
                        name: obj["metadata"]["name"].as_str().unwrap_or_default().into(),
                        key: k.clone(),
                    })?;
                // Go converts the bytes with string(v): invalid UTF-8 is kept byte for byte there;
                // here it becomes U+FFFD, which a YAML document could not carry either.
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                s
            };
            out.insert(k.clone(), value);
        }
    }
    if is_secret && let Some(data) = obj["stringData"].as_object() {
        for (k, v) in data {
            out.insert(k.clone(), scalar_text(v));
        }
    }
    Ok(Data::Plain(out))
}

/// A data value as the API server would store it: strings as they are, other scalars as text.
fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn reference(kind: &str, name: &str, optional: bool) -> SubstituteReference {
        SubstituteReference {
            kind: kind.into(),
            name: name.into(),
            optional,
        }
    }

    #[test]
    fn later_sources_override_earlier_and_inline_overrides_all() {
        let cm = json!({"kind": "ConfigMap", "data": {"a": "cm", "b": "cm", "c": "line\nbreak"}});
        let secret = json!({"kind": "Secret", "data": {"b": "c2VjcmV0"}});
        let pb = PostBuild {
            substitute: BTreeMap::from([("a".to_string(), "inline".to_string())]),
            substitute_from: vec![
                reference("ConfigMap", "cm", false),
                reference("Secret", "s", false),
                reference("ConfigMap", "absent", true),
            ],
            ..Default::default()
        };
        let vars = resolve(Some(&pb), |r| match r.name.as_str() {
            "cm" => Lookup::Found(&cm),
            "s" => Lookup::Found(&secret),
            _ => Lookup::NotFound,
        })
        .expect("resolves");
        assert_eq!(vars.values["a"], "inline");
        assert_eq!(vars.values["b"], "secret");
        assert_eq!(vars.values["c"], "linebreak");
        assert!(vars.complete);
    }

    #[test]
    fn objects_fetched_in_order_answer_their_references() {
        let pb = PostBuild {
            substitute_from: vec![
                reference("ConfigMap", "a", false),
                reference("ConfigMap", "b", true),
                reference("Secret", "c", false),
            ],
            ..Default::default()
        };
        let a = json!({"kind": "ConfigMap", "data": {"x": "1"}});
        let c = json!({"kind": "Secret", "data": {"x": "Mg=="}});
        let vars = from_objects(Some(&pb), &[Some(a.clone()), None, Some(c)]).expect("resolves");
        assert_eq!(vars.values["x"], "2");
        assert!(matches!(
            from_objects(Some(&pb), &[Some(a), None, None]),
            Err(Error::NotFound { .. })
        ));
    }

    #[test]
    fn a_required_missing_object_is_an_error_and_transient() {
        let pb = PostBuild {
            substitute_from: vec![reference("Secret", "s", false)],
            ..Default::default()
        };
        let err = resolve(Some(&pb), |_| Lookup::NotFound).unwrap_err();
        assert!(err.is_transient());
        assert_eq!(
            err.to_string(),
            "substitute from 'Secret/s' error: not found (create it, or mark the reference optional: true)"
        );
        let vars = resolve(Some(&pb), |_| Lookup::Unknown).expect("unknown is not an error");
        assert!(!vars.complete);
        assert!(vars.may_define("anything"));
    }

    #[test]
    fn secret_data_is_decoded_and_string_data_wins() {
        let s = json!({"kind": "Secret", "data": {"a": "aGVsbG8=", "b": "eA=="}, "stringData": {"b": "y"}});
        let Data::Plain(d) = data_of(&s).expect("valid") else {
            panic!("not encrypted")
        };
        assert_eq!(d["a"], "hello");
        assert_eq!(d["b"], "y");
        let bad = json!({"kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "%%%"}});
        assert!(matches!(data_of(&bad), Err(Error::BadSecretData { .. })));
    }

    #[test]
    fn sops_encrypted_values_are_never_plain_values() {
        let s = json!({"kind": "Secret", "stringData": {"token": "ENC[AES256_GCM,data:abc,type:str]"},
            "sops": {"mac": "ENC[...]", "lastmodified": "2024-01-01T00:00:00Z"}});
        assert!(is_sops_encrypted(&s));
        let pb = PostBuild {
            substitute_from: vec![reference("Secret", "s", false)],
            ..Default::default()
        };
        let vars = resolve(Some(&pb), |_| Lookup::Found(&s)).expect("resolves");
        assert!(vars.values.is_empty());
        assert!(vars.may_define("token"));
        assert!(!vars.may_define("other"));
    }

    #[test]
    fn only_config_maps_and_secrets_are_sources() {
        let pb = PostBuild {
            substitute_from: vec![reference("Namespace", "x", false)],
            ..Default::default()
        };
        assert!(matches!(
            resolve(Some(&pb), |_| Lookup::NotFound),
            Err(Error::UnsupportedKind { .. })
        ));
    }
}
