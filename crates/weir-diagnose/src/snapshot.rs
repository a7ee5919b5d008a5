//! What the diagnosis reads: the Flux objects and the live objects, listed once (a fixed number of LIST
//! requests per kind), indexed here for lookups by key.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use weir_api::ObjectKey;
use weir_api::condition::{self, Condition};
use weir_api::flux::{GitRepositoryObject, KustomizationObject};

/// An API group and kind, e.g. `("apps", "Deployment")`; the core group is `""`.
pub type GroupKind = (String, String);

/// Everything a diagnosis looks at, as listed at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The time of the listing, in seconds since the Unix epoch (ages and staleness count from it).
    pub now: i64,
    pub kustomizations: Vec<KustomizationObject>,
    pub git_repositories: Vec<GitRepositoryObject>,
    /// Live objects of the kinds that were listed.
    pub live: Live,
    /// The controller Deployments found (Flux's kustomize-controller/source-controller, weir), when
    /// they were looked for; `None` when not.
    pub controllers: Option<Vec<Value>>,
}

/// Live objects by kind. A kind that was not listed is unknown, not empty: an object of it is never
/// reported missing.
#[derive(Debug, Clone, Default)]
pub struct Live {
    objects: BTreeMap<GroupKind, BTreeMap<ObjectKey, Value>>,
}

impl Live {
    /// Records that `group`/`kind` was listed with these objects (replacing an earlier listing).
    pub fn insert_listing(&mut self, group: &str, kind: &str, objects: Vec<Value>) {
        let map = objects
            .into_iter()
            .map(|o| {
                let key = ObjectKey::new(
                    text(&o, "/metadata/namespace").unwrap_or_default(),
                    text(&o, "/metadata/name").unwrap_or_default(),
                );
                (key, o)
            })
            .collect();
        self.objects
            .insert((group.to_string(), kind.to_string()), map);
    }

    /// Whether `group`/`kind` was listed.
    pub fn listed(&self, group: &str, kind: &str) -> bool {
        self.objects
            .contains_key(&(group.to_string(), kind.to_string()))
    }

    /// The kinds listed.
    pub fn kinds(&self) -> BTreeSet<GroupKind> {
        self.objects.keys().cloned().collect()
    }

    /// The object, when its kind was listed and it exists.
    pub fn get(&self, group: &str, kind: &str, namespace: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(&(group.to_string(), kind.to_string()))?
            .get(&ObjectKey::new(namespace, name))
    }

    /// Every object of a kind (empty when not listed).
    pub fn all<'s>(&'s self, group: &str, kind: &str) -> impl Iterator<Item = &'s Value> + use<'s> {
        self.objects
            .get(&(group.to_string(), kind.to_string()))
            .into_iter()
            .flat_map(|m| m.values())
    }

    /// Objects of a kind in `namespace` whose `ownerReferences` name `owner_uid`.
    pub fn owned_by<'a>(
        &'a self,
        group: &str,
        kind: &str,
        namespace: &'a str,
        owner_uid: &'a str,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.all(group, kind).filter(move |o| {
            text(o, "/metadata/namespace") == Some(namespace)
                && o.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| {
                        refs.iter()
                            .any(|r| r.get("uid").and_then(Value::as_str) == Some(owner_uid))
                    })
        })
    }
}

/// The string at a JSON pointer.
pub(crate) fn text<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

/// The condition of `type_` of a live object (`status.conditions`).
pub(crate) fn live_condition<'a>(v: &'a Value, type_: &str) -> Option<&'a Value> {
    v.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

/// Seconds since the Unix epoch of an RFC 3339 time; `None` when it does not parse.
pub fn parse_time(s: &str) -> Option<i64> {
    s.parse::<k8s_openapi::jiff::Timestamp>()
        .ok()
        .map(|t| t.as_second())
}

/// `namespace/name` of a typed object.
pub(crate) fn key_of(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> ObjectKey {
    ObjectKey::new(
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// The latest time a controller wrote the object's status (its `managedFields` entries for the
/// `status` subresource), when the server recorded one.
pub(crate) fn last_status_write(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<i64> {
    meta.managed_fields
        .iter()
        .flatten()
        .filter(|m| m.subresource.as_deref() == Some("status"))
        .filter_map(|m| m.time.as_ref().map(|t| t.0.as_second()))
        .max()
}

/// The latest time anyone wrote the object's spec or metadata (not its status); the creation time
/// when no write is recorded.
pub(crate) fn last_spec_write(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<i64> {
    meta.managed_fields
        .iter()
        .flatten()
        .filter(|m| m.subresource.as_deref().unwrap_or("").is_empty())
        .filter_map(|m| m.time.as_ref().map(|t| t.0.as_second()))
        .max()
        .or_else(|| meta.creation_timestamp.as_ref().map(|t| t.0.as_second()))
}

/// The Ready condition of typed conditions.
pub(crate) fn ready(conditions: &[Condition]) -> Option<&Condition> {
    condition::find(conditions, condition::READY)
}

impl Snapshot {
    /// The Kustomization `namespace/name`.
    pub fn kustomization(&self, key: &ObjectKey) -> Option<&KustomizationObject> {
        self.kustomizations
            .iter()
            .find(|k| &key_of(&k.metadata) == key)
    }

    /// The GitRepository `namespace/name`.
    pub fn git_repository(&self, key: &ObjectKey) -> Option<&GitRepositoryObject> {
        self.git_repositories
            .iter()
            .find(|g| &key_of(&g.metadata) == key)
    }

    /// The latest status write by any controller on any Flux object of the snapshot.
    pub fn last_controller_write(&self) -> Option<i64> {
        let ks = self
            .kustomizations
            .iter()
            .filter_map(|k| last_status_write(&k.metadata));
        let gr = self
            .git_repositories
            .iter()
            .filter_map(|g| last_status_write(&g.metadata));
        ks.chain(gr).max()
    }
}

/// Human age of a duration in seconds: `45s`, `12m`, `3h4m`, `5d2h`.
pub fn age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => {
            let m = (s % 3600) / 60;
            if m == 0 {
                format!("{}h", s / 3600)
            } else {
                format!("{}h{m}m", s / 3600)
            }
        }
        _ => {
            let h = (s % 86400) / 3600;
            if h == 0 {
                format!("{}d", s / 86400)
            } else {
                format!("{}d{h}h", s / 86400)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(age(-5), "0s");
        assert_eq!(age(59), "59s");
        assert_eq!(age(60), "1m");
        assert_eq!(age(3600), "1h");
        assert_eq!(age(3600 + 4 * 60), "1h4m");
        assert_eq!(age(86400 * 5 + 7200), "5d2h");
        assert_eq!(age(86400 * 2), "2d");
    }

    #[test]
    fn times_parse_or_are_none() {
        assert_eq!(parse_time("1970-01-01T00:01:00Z"), Some(60));
        assert_eq!(
            parse_time("2026-01-01T00:00:00.5+00:00"),
            Some(1_767_225_600)
        );
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn live_objects_are_found_by_key_and_owner() {
        let mut live = Live::default();
        live.insert_listing(
            "apps",
            "ReplicaSet",
            vec![
                json!({"metadata": {"name": "a-1", "namespace": "x", "ownerReferences": [{"uid": "u1"}]}}),
                json!({"metadata": {"name": "b-1", "namespace": "x", "ownerReferences": [{"uid": "u2"}]}}),
                json!({"metadata": {"name": "a-1", "namespace": "y", "ownerReferences": [{"uid": "u1"}]}}),
            ],
        );
        assert!(live.listed("apps", "ReplicaSet"));
        assert!(!live.listed("", "Pod"));
        assert!(live.get("apps", "ReplicaSet", "x", "b-1").is_some());
        assert!(live.get("apps", "ReplicaSet", "x", "c-1").is_none());
        let owned: Vec<_> = live.owned_by("apps", "ReplicaSet", "x", "u1").collect();
        assert_eq!(owned.len(), 1);
        assert_eq!(live.all("", "Pod").count(), 0);
    }
}
