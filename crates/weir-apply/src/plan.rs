//! Step 1: the plan. Which objects of a set are created, configured, unchanged or recreated, and which
//! objects of the previous inventory left the set, decided with as few requests as possible.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::{StreamExt, stream};
use serde_json::{Value, json};
use weir_api::{Digest, InventoryId, ObjectRef};

use crate::cluster::{Applied, CallError, Cluster};
use crate::diff::{FieldChange, digest, field_changes, is_subset, normalise};
use crate::error::{Error, Rejection, Step, UnknownKind};
use crate::inventory::Inventory;
use crate::labels;
use crate::requests::RequestStats;
use crate::resolve::{self, Gvk, Resource};
use crate::staging::{Stage, stage_of};
use crate::{Applier, Options};

/// Live objects the caller already holds (e.g. a watch cache), so planning an unchanged set asks the
/// API server nothing. `managedFields` may be stripped.
pub trait LiveObjects: Sync {
    /// The live object, or `None` when the caller does not know it (it is then read from the API).
    fn live(&self, object: &ObjectRef) -> Option<Value>;

    /// True when the caller knows `object` does not exist with this set's owner labels (a synced
    /// watch of its kind, filtered by owner label, has not seen it), so no LIST is needed to learn
    /// it. An unlabelled object of that name is still found: the dry-run apply reports it exists.
    fn is_absent(&self, _object: &ObjectRef) -> bool {
        false
    }
}

/// No live objects known: everything is read from the API server.
pub struct NoLiveObjects;

impl LiveObjects for NoLiveObjects {
    fn live(&self, _: &ObjectRef) -> Option<Value> {
        None
    }
}

impl LiveObjects for HashMap<InventoryId, Value> {
    fn live(&self, object: &ObjectRef) -> Option<Value> {
        self.get(&object.inventory_id()).cloned()
    }
}

/// What the plan says for one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedAction {
    /// Does not exist: will be created.
    Create,
    /// Exists and differs (the field differences from live, empty when not known): will be applied.
    Configure(Vec<FieldChange>),
    /// Exists as the set says: no request.
    Unchanged,
    /// An immutable field changed and force is on: will be deleted and created again.
    Recreate,
    /// Its namespace or CRD is created by the same set, so the server cannot validate it yet: it is
    /// validated (dry-run) by [`Applier::apply`] right after the definitions stage, then created.
    Deferred,
}

impl PlannedAction {
    /// True when applying writes this object.
    pub fn is_change(&self) -> bool {
        !matches!(self, PlannedAction::Unchanged)
    }
}

/// One object of the set, as planned.
#[derive(Debug, Clone)]
pub struct PlannedObject {
    /// The object (namespace defaulted).
    pub object: ObjectRef,
    /// Its inventory id.
    pub id: InventoryId,
    /// What applying will do.
    pub action: PlannedAction,
    /// Fields owned by another manager in [`Options::take_over`] are handed to weir before the apply,
    /// so the apply is sent even when the content is unchanged.
    pub take_over: bool,
    /// The `managedFields` to write before the apply when [`PlannedObject::take_over`].
    pub(crate) managed_fields: Option<Vec<Value>>,
    /// Digest of the manifest (with owner labels and namespace), to record in the inventory.
    pub digest: Digest,
    pub(crate) manifest: Value,
    pub(crate) res: Resource,
    pub(crate) stage: Stage,
    pub(crate) live: Option<Value>,
    /// The caller's cache says it does not exist: not listed.
    pub(crate) known_absent: bool,
}

impl PlannedObject {
    /// The manifest as it will be applied.
    pub fn manifest(&self) -> &Value {
        &self.manifest
    }

    /// True when applying sends a request for this object.
    pub fn needs_write(&self) -> bool {
        self.action.is_change() || self.take_over
    }
}

/// The plan for a set: produced by [`Applier::plan`], carried out by [`Applier::apply`] and
/// [`Applier::prune`].
#[derive(Debug, Clone)]
pub struct Plan {
    /// Every object of the set, in apply order (stages, then the set's order).
    pub objects: Vec<PlannedObject>,
    /// Objects of the previous inventory that left the set (candidates for [`Applier::prune`]).
    pub stale: Vec<ObjectRef>,
    /// Requests the plan made (discovery, reads, dry-runs; never a write).
    pub requests: RequestStats,
}

impl Plan {
    /// True when applying the plan, or pruning its stale objects, changes the cluster.
    pub fn has_changes(&self) -> bool {
        !self.stale.is_empty() || self.objects.iter().any(PlannedObject::needs_write)
    }

    /// The inventory of the set once applied: every object with its digest.
    pub fn inventory(&self) -> Inventory {
        let mut inv = Inventory::default();
        for o in &self.objects {
            inv.insert(&o.object, Some(o.digest.clone()));
        }
        inv
    }

    /// What to record *before* applying, so a run killed part-way leaves nothing the next run does not
    /// know of: `previous` plus every object of the set (digests only for unchanged ones). `None` when
    /// `previous` already lists every object of the set.
    pub fn pending_inventory(&self, previous: &Inventory) -> Option<Inventory> {
        if self.objects.iter().all(|o| previous.contains(&o.object)) {
            return None;
        }
        let mut wanted = Inventory::default();
        for o in &self.objects {
            let unchanged = !o.needs_write();
            wanted.insert(&o.object, unchanged.then(|| o.digest.clone()));
        }
        Some(previous.union(&wanted))
    }

    /// Takes the objects matching `pick` out of this plan into a plan of their own.
    pub(crate) fn split_off(&mut self, pick: impl Fn(&PlannedObject) -> bool) -> Plan {
        let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.objects)
            .into_iter()
            .partition(|o| pick(o));
        self.objects = kept;
        Plan {
            objects: taken,
            stale: Vec::new(),
            requests: RequestStats::default(),
        }
    }
}

/// The resource of CustomResourceDefinitions.
pub(crate) fn crd_resource() -> Resource {
    Resource {
        group: "apiextensions.k8s.io".into(),
        version: "v1".into(),
        kind: "CustomResourceDefinition".into(),
        plural: "customresourcedefinitions".into(),
        namespaced: false,
    }
}

impl Applier {
    /// Plans applying `manifests` as the set `opts.name`, against the `previous` inventory.
    ///
    /// # Expected flow
    /// 1. Every object's kind is resolved (a CRD in the set, else the discovery cache, else
    ///    discovery); unknown kinds fail here.
    /// 2. Owner labels (`kustomize.toolkit.fluxcd.io/name`, `.../namespace`) are added; namespaced
    ///    objects without a namespace get [`Options::default_namespace`].
    /// 3. Live state comes from `live` (the caller's cache) where it has the object, else from one LIST
    ///    per kind and namespace, by owner label. An object is unchanged, without asking the server,
    ///    when its manifest digest equals the one in `previous` and every field it sets has that value
    ///    live. Any other object is applied with a server-side dry-run, whose result compared with live
    ///    (status and server bookkeeping removed) decides whether it changes.
    /// 4. Objects that any dry-run rejects fail the plan together: the error names every one.
    ///
    /// # Guarantees
    /// - No write request. An unchanged set whose objects are all in `live` makes no request at all
    ///   (discovery is cached).
    pub async fn plan(
        &self,
        manifests: Vec<Value>,
        previous: &Inventory,
        live: &dyn LiveObjects,
        opts: &Options,
    ) -> Result<Plan, Error> {
        let cluster = self.cluster_as(opts);
        let mut items = self.identify(&cluster, manifests, opts).await?;
        for item in items.iter_mut() {
            item.live = live.live(&item.object);
            item.known_absent = item.live.is_none() && live.is_absent(&item.object);
        }
        read_live(&cluster, &mut items, opts).await?;
        for item in items.iter_mut() {
            item.managed_fields = item
                .live
                .as_ref()
                .and_then(|l| crate::takeover::take_over(l, &opts.field_manager, &opts.take_over));
            item.take_over = item.managed_fields.is_some();
        }
        plan_items(&cluster, &mut items, previous, opts, false).await?;
        for item in items.iter_mut().filter(|i| !i.take_over) {
            // Only a takeover needs the live object again; the plan stays small.
            item.live = None;
        }
        let mut wanted = Inventory::default();
        for item in &items {
            wanted.insert(&item.object, None);
        }
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by_key(|&i| (items[i].stage, i));
        let mut slots: Vec<Option<PlannedObject>> = items.into_iter().map(Some).collect();
        let objects = order.into_iter().filter_map(|i| slots[i].take()).collect();
        Ok(Plan {
            objects,
            stale: previous.stale(&wanted),
            requests: cluster.requests(),
        })
    }

    /// Reads identities, resolves kinds, defaults namespaces, adds owner labels, digests manifests.
    async fn identify(
        &self,
        cluster: &Cluster<'_>,
        manifests: Vec<Value>,
        opts: &Options,
    ) -> Result<Vec<PlannedObject>, Error> {
        let mut refs = Vec::with_capacity(manifests.len());
        for (i, m) in manifests.iter().enumerate() {
            refs.push(ObjectRef::from_manifest(i, m)?);
        }
        let from_set = resolve::kinds_from_crds(&manifests);
        let wanted: BTreeSet<Gvk> = refs
            .iter()
            .map(|r| (r.group.clone(), r.version.clone(), r.kind.clone()))
            .collect();
        let (found, missing) = self
            .discovery
            .resolve(cluster, &wanted, &from_set, opts.concurrency)
            .await?;
        if !missing.is_empty() {
            let objects = refs
                .iter()
                .filter_map(|r| {
                    let m = missing.iter().find(|m| {
                        m.gvk.0 == r.group && m.gvk.1 == r.version && m.gvk.2 == r.kind
                    })?;
                    Some(UnknownKind {
                        object: r.clone(),
                        similar: m.similar.clone(),
                    })
                })
                .collect();
            return Err(Error::UnknownKinds { objects });
        }
        let default_namespace = opts.default_namespace();
        let mut seen = HashMap::new();
        let mut items = Vec::with_capacity(refs.len());
        for (mut obj, mut manifest) in refs.into_iter().zip(manifests) {
            let res = found[&(obj.group.clone(), obj.version.clone(), obj.kind.clone())].clone();
            let meta = manifest
                .as_object_mut()
                .map(|m| m.entry("metadata").or_insert_with(|| json!({})))
                .and_then(Value::as_object_mut)
                .expect("from_manifest checked metadata.name, so metadata is an object");
            if res.namespaced {
                let ns = obj
                    .namespace
                    .get_or_insert_with(|| default_namespace.to_string())
                    .clone();
                meta.insert("namespace".into(), Value::String(ns));
            } else {
                obj.namespace = None;
                meta.remove("namespace");
            }
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            if !labels.is_object() {
                *labels = json!({});
            }
            if let Some(l) = labels.as_object_mut() {
                l.insert(labels::OWNER_NAME.into(), Value::String(opts.name.clone()));
                l.insert(
                    labels::OWNER_NAMESPACE.into(),
                    Value::String(opts.namespace.clone()),
                );
            }
            let id = obj.inventory_id();
            if seen.insert(id.clone(), ()).is_some() {
                return Err(Error::Duplicate { object: obj });
            }
            let stage = stage_of(&obj.group, &obj.kind);
            items.push(PlannedObject {
                digest: digest(&manifest),
                id,
                object: obj,
                res,
                manifest,
                stage,
                live: None,
                known_absent: false,
                action: PlannedAction::Deferred,
                take_over: false,
                managed_fields: None,
            });
        }
        Ok(items)
    }
}

/// Fills `live` for objects the caller did not provide: one LIST per (kind, namespace), by owner label.
async fn read_live(
    cluster: &Cluster<'_>,
    items: &mut [PlannedObject],
    opts: &Options,
) -> Result<(), Error> {
    let selector = opts.owner_selector();
    let mut groups: BTreeMap<(String, String, String, Option<String>), usize> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        if item.live.is_some() || item.known_absent {
            continue;
        }
        let key = (
            item.res.group.clone(),
            item.res.version.clone(),
            item.res.kind.clone(),
            item.object.namespace.clone(),
        );
        groups.entry(key).or_insert(i);
    }
    if groups.is_empty() {
        return Ok(());
    }
    let lists: Vec<Result<Vec<Value>, Error>> = stream::iter(groups.into_values())
        .map(|i| {
            let item = &items[i];
            let selector = &selector;
            async move {
                match cluster
                    .list(&item.res, item.object.namespace.as_deref(), selector)
                    .await
                {
                    Ok(l) => Ok(l),
                    // A kind whose CRD, or a namespace, the set has yet to create.
                    Err(CallError::Api(e)) if e.is_not_found() => Ok(Vec::new()),
                    Err(source) => Err(Error::request(Step::Read, item.object.clone(), source)),
                }
            }
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    let mut live: HashMap<InventoryId, Value> = HashMap::new();
    for list in lists {
        for obj in list? {
            if let Ok(r) = ObjectRef::from_manifest(0, &obj) {
                live.insert(r.inventory_id(), obj);
            }
        }
    }
    for item in items.iter_mut() {
        if item.live.is_none() {
            item.live = live.remove(&item.id);
        }
    }
    Ok(())
}

/// Decides each object's action; dry-runs every object not provably unchanged. With `retry_deferred`
/// only deferred objects are planned, and deferring again is an error.
pub(crate) async fn plan_items(
    cluster: &Cluster<'_>,
    items: &mut [PlannedObject],
    stored: &Inventory,
    opts: &Options,
    retry_deferred: bool,
) -> Result<(), Error> {
    let set_namespaces: BTreeSet<String> = items
        .iter()
        .filter(|i| i.object.group.is_empty() && i.object.kind == "Namespace" && i.live.is_none())
        .map(|i| i.object.name.clone())
        .collect();
    let set_kinds: BTreeSet<(String, String)> = resolve::kinds_from_crds(
        &items
            .iter()
            .filter(|i| i.object.kind == "CustomResourceDefinition")
            .map(|i| i.manifest.clone())
            .collect::<Vec<_>>(),
    )
    .into_keys()
    .map(|(g, _, k)| (g, k))
    .collect();
    let mut to_check = Vec::new();
    for (i, item) in items.iter_mut().enumerate() {
        if retry_deferred {
            if item.action == PlannedAction::Deferred {
                to_check.push(i);
            }
            continue;
        }
        let unchanged = item.live.as_ref().is_some_and(|live| {
            stored.digest(&item.object) == Some(&item.digest) && is_subset(&item.manifest, live)
        });
        if unchanged {
            item.action = PlannedAction::Unchanged;
        } else {
            to_check.push(i);
        }
    }
    let results: Vec<(usize, Result<Applied, CallError>)> = stream::iter(to_check)
        .map(|i| {
            let item = &items[i];
            async move {
                (
                    i,
                    cluster
                        .apply(&item.res, &item.object, &item.manifest, true)
                        .await,
                )
            }
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    let mut rejected = Vec::new();
    for (i, result) in results {
        let item = &mut items[i];
        item.action = match result {
            Ok(applied) if applied.created => PlannedAction::Create,
            Ok(applied) => {
                let live = match item.live.take() {
                    Some(l) => Some(l),
                    // Exists without this apply's owner labels: read it for an exact diff.
                    None => cluster
                        .get(&item.res, &item.object)
                        .await
                        .map_err(|source| {
                            Error::request(Step::Read, item.object.clone(), source)
                        })?,
                };
                let diff = match &live {
                    Some(l) => field_changes(&normalise(l), &normalise(&applied.object)),
                    None => Vec::new(),
                };
                let has_managed_fields = |o: &Value| o.pointer("/metadata/managedFields").is_some();
                if !item.take_over {
                    // When the caller's cache stripped managedFields, the dry-run's answer carries
                    // them (the other manager's entries as live, weir's as after this apply).
                    let source = live
                        .as_ref()
                        .filter(|l| has_managed_fields(l))
                        .unwrap_or(&applied.object);
                    item.managed_fields =
                        crate::takeover::take_over(source, &opts.field_manager, &opts.take_over);
                    item.take_over = item.managed_fields.is_some();
                }
                item.live = live;
                if diff.is_empty() && item.live.is_some() {
                    PlannedAction::Unchanged
                } else {
                    PlannedAction::Configure(diff)
                }
            }
            Err(CallError::Api(e)) if e.is_immutable() => {
                let forced = opts.force
                    || item
                        .manifest
                        .pointer("/metadata/annotations")
                        .and_then(|a| a.get(labels::FORCE))
                        .and_then(Value::as_str)
                        == Some("enabled");
                if forced {
                    PlannedAction::Recreate
                } else {
                    rejected.push(Rejection {
                        object: item.object.clone(),
                        error: e,
                    });
                    continue;
                }
            }
            Err(CallError::Api(e))
                if e.is_not_found()
                    && !retry_deferred
                    && (item
                        .object
                        .namespace
                        .as_ref()
                        .is_some_and(|ns| set_namespaces.contains(ns))
                        || set_kinds
                            .contains(&(item.object.group.clone(), item.object.kind.clone()))) =>
            {
                PlannedAction::Deferred
            }
            Err(CallError::Api(e)) => {
                rejected.push(Rejection {
                    object: item.object.clone(),
                    error: e,
                });
                continue;
            }
            Err(source) => {
                return Err(Error::request(Step::Validate, item.object.clone(), source));
            }
        };
    }
    if !rejected.is_empty() {
        rejected.sort_by(|a, b| a.object.cmp(&b.object));
        return Err(Error::Invalid { rejected });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(name: &str, action: PlannedAction) -> PlannedObject {
        let manifest = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "a"}});
        let object = ObjectRef::from_manifest(0, &manifest).expect("identity");
        PlannedObject {
            id: object.inventory_id(),
            object,
            action,
            take_over: false,
            known_absent: false,
            managed_fields: None,
            digest: Digest::sha256(format!("{name:0>64}")),
            manifest,
            res: Resource {
                group: String::new(),
                version: "v1".into(),
                kind: "ConfigMap".into(),
                plural: "configmaps".into(),
                namespaced: true,
            },
            stage: Stage::Workloads,
            live: None,
        }
    }

    fn plan(objects: Vec<PlannedObject>) -> Plan {
        Plan {
            objects,
            stale: Vec::new(),
            requests: RequestStats::default(),
        }
    }

    #[test]
    fn pending_inventory_records_new_objects_without_digests_for_changes() {
        let p = plan(vec![
            planned("old", PlannedAction::Unchanged),
            planned("new", PlannedAction::Create),
        ]);
        let mut previous = Inventory::default();
        previous.insert(&p.objects[0].object, Some(p.objects[0].digest.clone()));
        let pending = p.pending_inventory(&previous).expect("a new object");
        assert_eq!(
            pending.digest(&p.objects[0].object),
            Some(&p.objects[0].digest)
        );
        assert!(pending.contains(&p.objects[1].object));
        assert_eq!(pending.digest(&p.objects[1].object), None);
        // Once recorded, nothing more to record before the write.
        assert!(p.pending_inventory(&pending).is_none());
        // After the apply every object carries its digest.
        assert_eq!(
            p.inventory().digest(&p.objects[1].object),
            Some(&p.objects[1].digest)
        );
    }

    #[test]
    fn changes_include_takeovers_and_stale_objects() {
        let mut p = plan(vec![planned("x", PlannedAction::Unchanged)]);
        assert!(!p.has_changes());
        p.objects[0].take_over = true;
        assert!(p.has_changes());
        p.objects[0].take_over = false;
        p.stale.push(p.objects[0].object.clone());
        assert!(p.has_changes());
    }

    #[test]
    fn split_off_moves_matching_objects() {
        let mut p = plan(vec![
            planned("a", PlannedAction::Create),
            planned("b", PlannedAction::Unchanged),
        ]);
        let first = p.split_off(|o| o.object.name == "b");
        assert_eq!(first.objects.len(), 1);
        assert_eq!(p.objects.len(), 1);
        assert_eq!(p.objects[0].object.name, "a");
    }

    #[test]
    fn a_cache_map_serves_live_objects_by_id() {
        let o = planned("a", PlannedAction::Create);
        let mut cache = HashMap::new();
        cache.insert(o.id.clone(), o.manifest.clone());
        assert_eq!(cache.live(&o.object), Some(o.manifest.clone()));
        assert_eq!(NoLiveObjects.live(&o.object), None);
    }
}
