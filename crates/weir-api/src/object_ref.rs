//! The full reference to one Kubernetes object (group, version, kind, namespace, name), read from a
//! manifest or rebuilt from a Flux inventory id.

use std::fmt;

use serde_json::Value;

use crate::id::{InventoryId, ObjectKey};

/// Which object a manifest describes, as read from its `apiVersion`, `kind` and `metadata`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    /// API group; empty for the core group (`v1`).
    pub group: String,
    /// API version within the group, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Namespace; `None` for cluster-scoped objects (or namespaced ones not yet defaulted).
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

/// A manifest lacks a field every object needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("manifest #{index} ({hint}) has no {field}")]
pub struct MissingField {
    /// Position of the manifest in the set, from 0.
    pub index: usize,
    /// What is known of the object, for the message (`kind/name` as far as present).
    pub hint: String,
    /// The missing field, e.g. `metadata.name`.
    pub field: &'static str,
}

impl ObjectRef {
    /// Reads the identity of manifest number `index` (the index only serves error messages).
    pub fn from_manifest(index: usize, obj: &Value) -> Result<Self, MissingField> {
        let text = |ptr: &str| {
            obj.pointer(ptr)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let hint = format!(
            "{}/{}",
            text("/kind").unwrap_or("?"),
            text("/metadata/name").unwrap_or("?")
        );
        let missing = |field| MissingField {
            index,
            hint: hint.clone(),
            field,
        };
        let api_version = text("/apiVersion").ok_or_else(|| missing("apiVersion"))?;
        let kind = text("/kind").ok_or_else(|| missing("kind"))?;
        let name = text("/metadata/name").ok_or_else(|| missing("metadata.name"))?;
        let (group, version) = split_api_version(api_version);
        Ok(ObjectRef {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            namespace: text("/metadata/namespace").map(str::to_string),
            name: name.to_string(),
        })
    }

    /// `apiVersion` as written in manifests: `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Flux's inventory id: `<namespace>_<name>_<group>_<kind>` (namespace and group may be empty).
    pub fn inventory_id(&self) -> InventoryId {
        InventoryId {
            namespace: self.namespace.clone().unwrap_or_default(),
            name: self.name.clone(),
            group: self.group.clone(),
            kind: self.kind.clone(),
        }
    }

    /// The object an inventory entry names, at API version `version` (Flux's `v`).
    pub fn from_inventory_id(id: &InventoryId, version: impl Into<String>) -> Self {
        ObjectRef {
            group: id.group.clone(),
            version: version.into(),
            kind: id.kind.clone(),
            namespace: (!id.namespace.is_empty()).then(|| id.namespace.clone()),
            name: id.name.clone(),
        }
    }

    /// `namespace/name` (empty namespace for cluster-scoped objects).
    pub fn key(&self) -> ObjectKey {
        ObjectKey::new(
            self.namespace.clone().unwrap_or_default(),
            self.name.clone(),
        )
    }

    /// The same object under another API version: equal identity as far as the inventory is concerned.
    pub fn same_object(&self, other: &ObjectRef) -> bool {
        self.group == other.group
            && self.kind == other.kind
            && self.namespace == other.namespace
            && self.name == other.name
    }
}

/// `Kind namespace/name`, or `Kind name` for cluster-scoped objects (the form used in every message).
impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Splits `apps/v1` into (`apps`, `v1`) and `v1` into (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inventory_id_matches_flux_format() {
        let dep = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}});
        let r = ObjectRef::from_manifest(0, &dep).expect("complete manifest");
        assert_eq!(r.inventory_id().to_string(), "shop_web_apps_Deployment");
        assert_eq!(ObjectRef::from_inventory_id(&r.inventory_id(), "v1"), r);
        assert_eq!(r.key().to_string(), "shop/web");
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
        let r = ObjectRef::from_manifest(0, &ns).expect("complete manifest");
        assert_eq!(r.inventory_id().to_string(), "_shop__Namespace");
        assert_eq!(ObjectRef::from_inventory_id(&r.inventory_id(), "v1"), r);
        assert_eq!(r.to_string(), "Namespace shop");
    }

    #[test]
    fn missing_name_is_reported_with_position() {
        let bad = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}});
        let err = ObjectRef::from_manifest(3, &bad).expect_err("no name");
        assert_eq!(
            err.to_string(),
            "manifest #3 (ConfigMap/?) has no metadata.name"
        );
    }

    #[test]
    fn api_version_round_trips() {
        assert_eq!(split_api_version("apps/v1"), ("apps", "v1"));
        assert_eq!(split_api_version("v1"), ("", "v1"));
    }
}
