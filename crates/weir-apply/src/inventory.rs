//! The record of what a named apply owns, kept in the cluster as a ConfigMap so a later run can prune
//! what was removed from the set.
//!
//! Entries use Flux's id format (`<namespace>_<name>_<group>_<kind>`, `v` = version) so the same set
//! can move between weir and a Flux Kustomization. Weir adds the digest of the manifest it last
//! applied, which lets an unchanged re-apply skip the object without asking the server.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::object::ObjectRef;

/// Name of the ConfigMap holding the inventory of apply `name`.
pub fn config_map_name(name: &str) -> String {
    format!("weir-inventory-{name}")
}

/// Key in the ConfigMap's `data` holding the JSON document.
const DATA_KEY: &str = "inventory";

/// One owned object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// API version the object was applied with (Flux's `v`).
    pub version: String,
    /// Digest of the manifest last applied, empty when unknown (e.g. recorded before the write).
    pub digest: String,
}

/// The objects an apply owns, by inventory id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Id (`<namespace>_<name>_<group>_<kind>`) to entry; ordered so the stored form is stable.
    pub entries: BTreeMap<String, Entry>,
}

/// The inventory ConfigMap exists but cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `data.inventory` is not the JSON weir writes.
    #[error("inventory ConfigMap {namespace}/{name} has unreadable data.inventory: {reason}")]
    Malformed {
        namespace: String,
        name: String,
        reason: String,
    },
    /// An entry's id is not `<namespace>_<name>_<group>_<kind>`.
    #[error("inventory entry id {id:?} is not <namespace>_<name>_<group>_<kind>")]
    BadId { id: String },
}

impl Inventory {
    /// Records `obj` with the digest of what was (or will be) applied.
    pub fn insert(&mut self, obj: &ObjectRef, digest: impl Into<String>) {
        self.entries.insert(
            obj.inventory_id(),
            Entry {
                version: obj.version.clone(),
                digest: digest.into(),
            },
        );
    }

    /// The digest recorded for `obj`, if any.
    pub fn digest(&self, obj: &ObjectRef) -> Option<&str> {
        self.entries
            .get(&obj.inventory_id())
            .map(|e| e.digest.as_str())
            .filter(|d| !d.is_empty())
    }

    /// Every owned object, rebuilt from the ids.
    pub fn objects(&self) -> Result<Vec<ObjectRef>, Error> {
        self.entries
            .iter()
            .map(|(id, e)| parse_id(id, &e.version))
            .collect()
    }

    /// The entries of `self` and `other` together (`other` wins on a shared id).
    pub fn union(&self, other: &Inventory) -> Inventory {
        let mut entries = self.entries.clone();
        entries.extend(other.entries.iter().map(|(k, v)| (k.clone(), v.clone())));
        Inventory { entries }
    }

    /// Reads the inventory from a ConfigMap as returned by the API server.
    pub fn from_config_map(cm: &Value) -> Result<Inventory, Error> {
        let malformed = |reason: String| Error::Malformed {
            namespace: cm
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                .into(),
            name: cm
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .into(),
            reason,
        };
        let Some(text) = cm
            .pointer(&format!("/data/{DATA_KEY}"))
            .and_then(Value::as_str)
        else {
            return Ok(Inventory::default());
        };
        let doc: Value = serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
        let mut inv = Inventory::default();
        let list = doc
            .get("entries")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed("no entries list".into()))?;
        for e in list {
            let id = e
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| malformed("entry without id".into()))?;
            let version = e
                .get("v")
                .and_then(Value::as_str)
                .ok_or_else(|| malformed(format!("entry {id} without v")))?;
            parse_id(id, version)?;
            let digest = e.get("digest").and_then(Value::as_str).unwrap_or("");
            inv.entries.insert(
                id.into(),
                Entry {
                    version: version.into(),
                    digest: digest.into(),
                },
            );
        }
        Ok(inv)
    }

    /// The ConfigMap that stores this inventory for apply `name` in `namespace`.
    pub fn to_config_map(&self, name: &str, namespace: &str) -> Value {
        let entries: Vec<Value> = self
            .entries
            .iter()
            .map(|(id, e)| json!({"id": id, "v": e.version, "digest": e.digest}))
            .collect();
        let doc = json!({ "entries": entries });
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": config_map_name(name),
                "namespace": namespace,
                // Not the owner labels: the inventory is not one of the objects it lists.
                "labels": { "app.kubernetes.io/managed-by": "weir" },
            },
            "data": { DATA_KEY: doc.to_string() },
        })
    }
}

/// Rebuilds an object reference from a Flux inventory id and version.
pub fn parse_id(id: &str, version: &str) -> Result<ObjectRef, Error> {
    let parts: Vec<&str> = id.split('_').collect();
    let [namespace, name, group, kind] = parts[..] else {
        return Err(Error::BadId { id: id.into() });
    };
    if name.is_empty() || kind.is_empty() {
        return Err(Error::BadId { id: id.into() });
    }
    Ok(ObjectRef {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        namespace: (!namespace.is_empty()).then(|| namespace.to_string()),
        name: name.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(ns: Option<&str>, name: &str, group: &str, kind: &str) -> ObjectRef {
        ObjectRef {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            namespace: ns.map(str::to_string),
            name: name.into(),
        }
    }

    #[test]
    fn inventory_round_trips_through_config_map() {
        let mut inv = Inventory::default();
        inv.insert(&obj(Some("shop"), "web", "apps", "Deployment"), "sha256:ab");
        inv.insert(&obj(None, "shop", "", "Namespace"), "");
        let cm = inv.to_config_map("apps", "flux-system");
        assert_eq!(cm["metadata"]["name"], "weir-inventory-apps");
        assert_eq!(cm["metadata"]["namespace"], "flux-system");
        let back = Inventory::from_config_map(&cm).expect("own output reads back");
        assert_eq!(back, inv);
        let objects = back.objects().expect("ids parse");
        assert!(objects.contains(&obj(None, "shop", "", "Namespace")));
        assert_eq!(back.digest(&obj(None, "shop", "", "Namespace")), None);
    }

    #[test]
    fn bad_ids_are_rejected() {
        assert!(parse_id("shop_web_apps", "v1").is_err());
        assert!(parse_id("a_b_c_d_e", "v1").is_err());
        assert_eq!(
            parse_id("shop_web_apps_Deployment", "v1").expect("valid id"),
            obj(Some("shop"), "web", "apps", "Deployment")
        );
    }

    #[test]
    fn malformed_data_names_the_config_map() {
        let cm = json!({"metadata": {"name": "weir-inventory-x", "namespace": "ns"}, "data": {"inventory": "{"}});
        let err = Inventory::from_config_map(&cm).expect_err("not json");
        assert!(
            err.to_string()
                .starts_with("inventory ConfigMap ns/weir-inventory-x"),
            "{err}"
        );
    }
}
