//! The record of what a named apply owns: a pure value the caller loads and stores.
//!
//! Entries use Flux's format (`{"entries": [{"id": "<namespace>_<name>_<group>_<kind>", "v": "<version>"}]}`,
//! as in a Kustomization's `status.inventory`), so the same set can move between weir and Flux. weir
//! adds, per entry, the digest of the manifest it last applied (`digest`, optional and ignored by
//! Flux), which lets an unchanged re-apply skip the object without asking the server.
//!
//! Where it is kept is the caller's choice: `weir apply` keeps it in a ConfigMap ([`ConfigMapStore`]),
//! the controller in the Kustomization's status.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use weir_api::{Digest, InventoryId, ObjectRef};

/// One owned object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// API version the object was applied with (Flux's `v`).
    #[serde(rename = "v")]
    pub version: String,
    /// Digest of the manifest last applied; `None` when unknown (recorded before the write, or by Flux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
}

/// The objects an apply owns, by inventory id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Id to entry; ordered so the stored form is stable.
    pub entries: BTreeMap<InventoryId, Entry>,
}

/// The stored form: Flux's `ResourceInventory`.
#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(default)]
    entries: Vec<StoredEntry>,
}

#[derive(Serialize, Deserialize)]
struct StoredEntry {
    id: InventoryId,
    #[serde(flatten)]
    entry: Entry,
}

impl Serialize for Inventory {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Stored {
            entries: self
                .entries
                .iter()
                .map(|(id, e)| StoredEntry {
                    id: id.clone(),
                    entry: e.clone(),
                })
                .collect(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Inventory {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let stored = Stored::deserialize(d)?;
        Ok(Inventory {
            entries: stored
                .entries
                .into_iter()
                .map(|e| (e.id, e.entry))
                .collect(),
        })
    }
}

/// The inventory ConfigMap exists but cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("inventory ConfigMap {namespace}/{name} has unreadable data.inventory: {reason}")]
pub struct Malformed {
    /// Namespace of the ConfigMap.
    pub namespace: String,
    /// Name of the ConfigMap.
    pub name: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Inventory {
    /// Records `obj` with the digest of what was applied (`None`: not known to be applied yet).
    pub fn insert(&mut self, obj: &ObjectRef, digest: Option<Digest>) {
        self.entries.insert(
            obj.inventory_id(),
            Entry {
                version: obj.version.clone(),
                digest,
            },
        );
    }

    /// True when `obj` (at any API version) is recorded.
    pub fn contains(&self, obj: &ObjectRef) -> bool {
        self.entries.contains_key(&obj.inventory_id())
    }

    /// The digest recorded for `obj`, if any.
    pub fn digest(&self, obj: &ObjectRef) -> Option<&Digest> {
        self.entries
            .get(&obj.inventory_id())
            .and_then(|e| e.digest.as_ref())
    }

    /// Every owned object, at its recorded version.
    pub fn objects(&self) -> Vec<ObjectRef> {
        self.entries
            .iter()
            .map(|(id, e)| ObjectRef::from_inventory_id(id, e.version.clone()))
            .collect()
    }

    /// The entries of `self` and `other` together (`other` wins on a shared id).
    pub fn union(&self, other: &Inventory) -> Inventory {
        let mut entries = self.entries.clone();
        entries.extend(other.entries.iter().map(|(k, v)| (k.clone(), v.clone())));
        Inventory { entries }
    }

    /// Objects recorded here and not in `newer` (at any version): what a prune would delete.
    pub fn stale(&self, newer: &Inventory) -> Vec<ObjectRef> {
        self.entries
            .iter()
            .filter(|(id, _)| !newer.entries.contains_key(*id))
            .map(|(id, e)| ObjectRef::from_inventory_id(id, e.version.clone()))
            .collect()
    }

    /// This inventory without digests: Flux's form exactly (e.g. for a `status.inventory` whose schema
    /// has no room for them).
    pub fn without_digests(&self) -> Inventory {
        Inventory {
            entries: self
                .entries
                .iter()
                .map(|(id, e)| {
                    (
                        id.clone(),
                        Entry {
                            version: e.version.clone(),
                            digest: None,
                        },
                    )
                })
                .collect(),
        }
    }
}

/// Key in the ConfigMap's `data` holding the JSON document.
const DATA_KEY: &str = "inventory";

/// Where `weir apply` keeps the inventory of apply `name`: the ConfigMap `weir-inventory-<name>` in
/// `namespace`. Loading and storing go through [`crate::Applier::load_inventory`] and
/// [`crate::Applier::store_inventory`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigMapStore {
    /// Name of the apply (not of the ConfigMap).
    pub name: String,
    /// Namespace of the ConfigMap.
    pub namespace: String,
}

impl ConfigMapStore {
    /// The store of apply `name` in `namespace`.
    pub fn new(name: impl Into<String>, namespace: impl Into<String>) -> Self {
        ConfigMapStore {
            name: name.into(),
            namespace: namespace.into(),
        }
    }

    /// Name of the ConfigMap.
    pub fn config_map_name(&self) -> String {
        format!("weir-inventory-{}", self.name)
    }

    /// The ConfigMap itself.
    pub fn object(&self) -> ObjectRef {
        ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some(self.namespace.clone()),
            name: self.config_map_name(),
        }
    }

    /// Reads the inventory from the ConfigMap as returned by the API server.
    pub fn decode(&self, cm: &Value) -> Result<Inventory, Malformed> {
        let Some(text) = cm
            .pointer(&format!("/data/{DATA_KEY}"))
            .and_then(Value::as_str)
        else {
            return Ok(Inventory::default());
        };
        serde_json::from_str(text).map_err(|e| Malformed {
            namespace: self.namespace.clone(),
            name: self.config_map_name(),
            reason: e.to_string(),
        })
    }

    /// The ConfigMap that stores `inv`.
    pub fn encode(&self, inv: &Inventory) -> Value {
        let doc = serde_json::to_string(inv).expect("an inventory always serialises");
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.config_map_name(),
                "namespace": self.namespace,
                // Not the owner labels: the inventory is not one of the objects it lists.
                "labels": { "app.kubernetes.io/managed-by": "weir" },
            },
            "data": { DATA_KEY: doc },
        })
    }
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
        inv.insert(
            &obj(Some("shop"), "web", "apps", "Deployment"),
            Some(Digest::sha256("ab".repeat(32))),
        );
        inv.insert(&obj(None, "shop", "", "Namespace"), None);
        let store = ConfigMapStore::new("apps", "flux-system");
        let cm = store.encode(&inv);
        assert_eq!(cm["metadata"]["name"], "weir-inventory-apps");
        assert_eq!(cm["metadata"]["namespace"], "flux-system");
        let back = store.decode(&cm).expect("own output reads back");
        assert_eq!(back, inv);
        assert!(back.objects().contains(&obj(None, "shop", "", "Namespace")));
        assert_eq!(back.digest(&obj(None, "shop", "", "Namespace")), None);
        assert_eq!(
            back.digest(&obj(Some("shop"), "web", "apps", "Deployment")),
            Some(&Digest::sha256("ab".repeat(32)))
        );
    }

    #[test]
    fn flux_status_inventory_reads_and_writes_unchanged() {
        let flux = json!({"entries": [
            {"id": "_shop__Namespace", "v": "v1"},
            {"id": "shop_web_apps_Deployment", "v": "v1"}
        ]});
        let inv: Inventory = serde_json::from_value(flux.clone()).expect("Flux's format");
        assert_eq!(inv.entries.len(), 2);
        assert_eq!(serde_json::to_value(&inv).expect("serialises"), flux);
        let mut with = inv.clone();
        with.insert(
            &obj(Some("shop"), "web", "apps", "Deployment"),
            Some(Digest::sha256("1".repeat(64))),
        );
        assert_eq!(
            serde_json::to_value(with.without_digests()).expect("serialises"),
            flux
        );
        let bad = json!({"entries": [{"id": "shop_web_apps", "v": "v1"}]});
        assert!(serde_json::from_value::<Inventory>(bad).is_err());
    }

    #[test]
    fn stale_ignores_version_changes() {
        let mut old = Inventory::default();
        old.insert(&obj(Some("a"), "x", "", "ConfigMap"), None);
        old.insert(&obj(Some("a"), "y", "", "ConfigMap"), None);
        let mut new = Inventory::default();
        let mut x2 = obj(Some("a"), "x", "", "ConfigMap");
        x2.version = "v2".into();
        new.insert(&x2, None);
        assert_eq!(old.stale(&new), vec![obj(Some("a"), "y", "", "ConfigMap")]);
    }

    #[test]
    fn malformed_data_names_the_config_map() {
        let store = ConfigMapStore::new("x", "ns");
        let cm = json!({"metadata": {"name": "weir-inventory-x", "namespace": "ns"}, "data": {"inventory": "{"}});
        let err = store.decode(&cm).expect_err("not json");
        assert!(
            err.to_string()
                .starts_with("inventory ConfigMap ns/weir-inventory-x"),
            "{err}"
        );
    }
}
