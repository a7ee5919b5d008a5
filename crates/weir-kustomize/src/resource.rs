//! Objects during a build, with the bookkeeping kustomize keeps beside them (earlier ids, name
//! prefixes/suffixes, generator options), and the ordered collection they accumulate in.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Result};
use crate::resid::ResId;

/// How a generated object combines with an existing one of the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Behavior {
    #[default]
    Create,
    Merge,
    Replace,
}

/// One object and its build history.
#[derive(Debug, Clone)]
pub(crate) struct Resource {
    pub obj: Value,
    /// Ids this object had before renames and namespace changes, oldest first.
    pub prev_ids: Vec<ResId>,
    /// Name prefixes and suffixes added by each kustomization level, innermost first.
    pub prefixes: Vec<String>,
    pub suffixes: Vec<String>,
    /// Set for generated ConfigMaps/Secrets: append the content hash to the name at the end.
    pub needs_hash: bool,
    pub behavior: Behavior,
    /// Where the object came from and which transformers ran over it (`buildMetadata`).
    pub provenance: Option<Box<crate::origin::Origin>>,
    pub transformations: Vec<crate::origin::Origin>,
    /// Names of the vars bound to this object (by the kustomization that declared them).
    pub ref_vars: Vec<String>,
    /// The file (or kustomization) the object came from, for errors.
    pub origin: Arc<PathBuf>,
}

impl Resource {
    pub fn new(obj: Value, origin: Arc<PathBuf>) -> Resource {
        Resource {
            obj,
            prev_ids: Vec::new(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            needs_hash: false,
            behavior: Behavior::Create,
            provenance: None,
            transformations: Vec::new(),
            ref_vars: Vec::new(),
            origin,
        }
    }

    pub fn cur_id(&self) -> ResId {
        ResId::of(&self.obj)
    }

    /// The id before any rename (kustomize's `OrgId`).
    pub fn org_id(&self) -> ResId {
        self.prev_ids
            .first()
            .cloned()
            .unwrap_or_else(|| self.cur_id())
    }

    /// Earlier ids plus the current one.
    pub fn all_ids(&self) -> Vec<ResId> {
        let mut ids = self.prev_ids.clone();
        ids.push(self.cur_id());
        ids
    }

    /// Records the current id before a change of name or namespace.
    pub fn store_previous_id(&mut self) {
        let id = self.cur_id();
        self.prev_ids.push(id);
    }

    pub fn name(&self) -> &str {
        crate::resid::str_at(&self.obj, &["metadata", "name"])
    }

    pub fn namespace(&self) -> &str {
        crate::resid::str_at(&self.obj, &["metadata", "namespace"])
    }

    pub fn kind(&self) -> &str {
        crate::resid::str_at(&self.obj, &["kind"])
    }

    pub fn set_name(&mut self, name: &str) {
        metadata_mut(&mut self.obj).insert("name".into(), Value::String(name.into()));
    }

    /// Sets the namespace; an empty one removes the field.
    pub fn set_namespace(&mut self, ns: &str) {
        let md = metadata_mut(&mut self.obj);
        if ns.is_empty() {
            md.remove("namespace");
        } else {
            md.insert("namespace".into(), Value::String(ns.into()));
        }
    }

    /// Whether a patch (or nothing) left this object empty; such objects leave the build.
    pub fn is_empty(&self) -> bool {
        match &self.obj {
            Value::Null => true,
            Value::Object(m) => m.is_empty(),
            _ => false,
        }
    }

    /// A short label for errors: `apps/v1 Deployment ns/name`.
    pub fn describe(&self) -> String {
        self.cur_id().to_string()
    }
}

/// kustomize's `SameEndingSubSlice`: the shorter list ends the longer one (both empty counts).
pub(crate) fn same_ending(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.is_empty() {
        return long.is_empty();
    }
    long[long.len() - short.len()..] == *short
}

/// The `metadata` map of an object, created when missing.
pub(crate) fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let map = obj.as_object_mut().expect("made an object just above");
    let md = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !md.is_object() {
        *md = Value::Object(Map::new());
    }
    md.as_object_mut().expect("made an object just above")
}

/// The objects of a build so far, in accumulation order.
#[derive(Debug, Default, Clone)]
pub(crate) struct ResMap {
    pub list: Vec<Resource>,
}

impl ResMap {
    /// Adds an object; its current id must be new (kustomize's `Append`).
    pub fn append(&mut self, r: Resource) -> Result<()> {
        let id = r.cur_id();
        // Cheap borrowed comparisons first: most objects differ by name or kind.
        if self
            .list
            .iter()
            .any(|x| x.name() == id.name && x.kind() == id.gvk.kind && x.cur_id().same_as(&id))
        {
            return Err(Error::new(ErrorKind::DuplicateId {
                id: id.to_string(),
                file: (*r.origin).clone(),
            }));
        }
        self.list.push(r);
        Ok(())
    }

    pub fn append_all(&mut self, other: ResMap) -> Result<()> {
        for r in other.list {
            self.append(r)?;
        }
        Ok(())
    }

    /// Indexes of objects any of whose ids (earlier or current) satisfy `pred`.
    pub fn matching_any_id(&self, pred: impl Fn(&ResId) -> bool) -> Vec<usize> {
        self.list
            .iter()
            .enumerate()
            .filter(|(_, r)| r.prev_ids.iter().any(&pred) || pred(&r.cur_id()))
            .map(|(i, _)| i)
            .collect()
    }

    /// The one object with this id (by any of its ids), falling back to a match that ignores the
    /// namespace (kustomize's `GetById` for patch targets).
    pub fn find_by_id(&self, id: &ResId) -> std::result::Result<usize, String> {
        let exact = self.matching_any_id(|x| x.same_as(id));
        match exact.len() {
            1 => return Ok(exact[0]),
            n if n > 1 => return Err(format!("multiple matches for id {id}")),
            _ => {}
        }
        let loose = self.matching_any_id(|x| x.same_gvkn(id));
        match loose.len() {
            1 => Ok(loose[0]),
            0 => Err(format!("no matches for id {id}")),
            _ => Err(format!("multiple matches for id {id}")),
        }
    }

    /// Adds a generated object, or merges/replaces an existing one per its behavior
    /// (kustomize's `AbsorbAll` for generators).
    pub fn absorb(&mut self, mut r: Resource) -> Result<()> {
        let id = r.cur_id();
        let matches = self.matching_any_id(|x| x.same_as(&id));
        let generator_error = |message: String| {
            Error::new(ErrorKind::Generator {
                file: (*r.origin).clone(),
                what: if r.kind() == "Secret" {
                    "secretGenerator"
                } else {
                    "configMapGenerator"
                },
                name: id.name.clone(),
                message,
            })
        };
        match matches.as_slice() {
            [] => match r.behavior {
                Behavior::Create => self.append(r),
                b => Err(generator_error(format!(
                    "behavior {} needs an existing {} named '{}' in namespace '{}', and there is none",
                    if b == Behavior::Merge {
                        "merge"
                    } else {
                        "replace"
                    },
                    id.gvk.kind,
                    id.name,
                    id.effective_namespace()
                ))),
            },
            [i] => {
                let old = &self.list[*i];
                match r.behavior {
                    Behavior::Create => Err(generator_error(format!(
                        "{} already exists; set behavior to merge or replace",
                        old.describe()
                    ))),
                    b => {
                        copy_merge_metadata(&mut r, old);
                        // A merge keeps the old object's origin; a replace takes the new one's.
                        if b == Behavior::Merge && old.provenance.is_some()
                            || r.provenance.is_none()
                        {
                            r.provenance = old.provenance.clone();
                        }
                        if r.transformations.is_empty() {
                            r.transformations = old.transformations.clone();
                        }
                        if b == Behavior::Merge {
                            for field in ["data", "binaryData"] {
                                merge_data_map(&mut r.obj, &old.obj, field);
                            }
                        }
                        self.list[*i] = r;
                        Ok(())
                    }
                }
            }
            _ => Err(generator_error(format!(
                "several objects could accept a merge of {id}"
            ))),
        }
    }
}

/// The new object takes the old one's identity: labels and annotations merged (new wins), the old
/// name and namespace, and the old build bookkeeping (earlier ids, prefixes, vars).
fn copy_merge_metadata(new: &mut Resource, old: &Resource) {
    for field in ["labels", "annotations"] {
        let mut merged = Map::new();
        for src in [&old.obj, &new.obj] {
            if let Some(m) = src
                .get("metadata")
                .and_then(|m| m.get(field))
                .and_then(|m| m.as_object())
            {
                for (k, v) in m {
                    merged.insert(k.clone(), v.clone());
                }
            }
        }
        let md = metadata_mut(&mut new.obj);
        if merged.is_empty() {
            md.remove(field);
        } else {
            md.insert(field.into(), Value::Object(merged));
        }
    }
    new.set_name(old.name());
    let ns = old.namespace().to_string();
    new.set_namespace(&ns);
    // kustomize keeps its needs-hash build annotation from the old object, and only when the new
    // one has it too: a hash only when both generators want one.
    new.needs_hash = old.needs_hash && new.needs_hash;
    new.behavior = old.behavior;
    new.prev_ids = old.prev_ids.clone();
    new.prefixes = old.prefixes.clone();
    new.suffixes = old.suffixes.clone();
    new.ref_vars = old.ref_vars.clone();
}

fn merge_data_map(new: &mut Value, old: &Value, field: &str) {
    let Some(old_map) = old.get(field).and_then(|m| m.as_object()) else {
        return;
    };
    let mut merged = old_map.clone();
    if let Some(new_map) = new.get(field).and_then(|m| m.as_object()) {
        for (k, v) in new_map {
            merged.insert(k.clone(), v.clone());
        }
    }
    if let Some(obj) = new.as_object_mut() {
        obj.insert(field.into(), Value::Object(merged));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(obj: Value) -> Resource {
        Resource::new(obj, Arc::new(PathBuf::from("/x.yaml")))
    }

    #[test]
    fn duplicate_ids_are_rejected() {
        let mut m = ResMap::default();
        m.append(res(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}}),
        ))
        .unwrap();
        let e = m
            .append(res(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a", "namespace": "default"}})))
            .unwrap_err();
        assert!(e.to_string().contains("already registered id"), "{e}");
    }

    #[test]
    fn merge_keeps_old_identity_and_merges_data() {
        let mut m = ResMap::default();
        let mut old = res(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "p-c", "labels": {"a": "1"}}, "data": {"x": "1", "y": "1"}}));
        old.prev_ids.push(ResId::of(
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
        ));
        old.needs_hash = true;
        m.append(old).unwrap();
        let mut new = res(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "labels": {"b": "2"}}, "data": {"y": "2"}}));
        new.behavior = Behavior::Merge;
        new.needs_hash = true;
        let mut unhashed = new.clone();
        m.absorb(new).unwrap();
        let r = &m.list[0];
        assert_eq!(r.name(), "p-c");
        assert!(r.needs_hash);
        assert_eq!(r.obj["data"], json!({"x": "1", "y": "2"}));
        assert_eq!(r.obj["metadata"]["labels"], json!({"a": "1", "b": "2"}));
        // A hash only when both generators want one.
        unhashed.needs_hash = false;
        m.absorb(unhashed).unwrap();
        assert!(!m.list[0].needs_hash);
    }

    #[test]
    fn affix_lists_compare_by_their_ends() {
        assert!(same_ending(&["a".into(), "b".into()], &["b".into()]));
        assert!(!same_ending(&["a".into()], &["b".into()]));
        assert!(!same_ending(&[], &["b".into()]));
    }
}
