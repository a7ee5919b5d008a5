//! What the cluster holds of the objects Kustomizations applied: one watch per applied kind, filtered
//! by the owner label, so drift and health come from events instead of reads.
//!
//! - **Drift**: a managed object deleted, or its spec changed by someone else (a new `generation`,
//!   or for kinds without one a new version, written last by another field manager), wakes its
//!   Kustomization at once, which reports and repairs it: no waiting for the interval.
//! - **Health**: kinds whose health is read from `status` (workloads, Services, Jobs, custom
//!   resources, ...) are watched whole and only their evaluated health is kept; other kinds are
//!   watched as metadata only (they are healthy when they exist). A change of health wakes the
//!   Kustomization waiting on it, so a health wait holds no worker and makes no request.
//! - **Absence**: once a kind's watch has synced, an object it has not seen does not exist with an
//!   owner label, so planning it needs no LIST.
//!
//! Memory stays small: per object an id, its generation or version, and a health verdict.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject, GroupVersionKind};
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use weir_api::{InventoryId, ObjectRef};
use weir_apply::HealthStatus;

use crate::context::Context;
use crate::{Key, Kind};

const OWNER_NAME: &str = "kustomize.toolkit.fluxcd.io/name";
const OWNER_NAMESPACE: &str = "kustomize.toolkit.fluxcd.io/namespace";

/// A kind as watched: (group, version, kind).
type Gvk = (String, String, String);

/// What is kept of one managed object.
#[derive(Debug, Clone, PartialEq)]
struct Observed {
    owner: Key,
    seen: Seen,
    /// `None` for kinds watched as metadata only (healthy when they exist).
    health: Option<HealthStatus>,
}

/// What a managed object looked like last: its generation, or its version for kinds without one.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Generation(i64),
    Version(String),
}

/// The health of one object as the watches know it.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// The kind is not watched yet, or its watch has not synced: read the object instead.
    Unknown,
    /// The synced watch has not seen it (with an owner label).
    Absent,
    /// Seen, with its health.
    Present(HealthStatus),
}

/// The watches and what they saw.
#[derive(Default)]
pub struct ObservedObjects {
    watched: Mutex<HashSet<Gvk>>,
    synced: Mutex<HashSet<Gvk>>,
    objects: Mutex<HashMap<InventoryId, Observed>>,
}

impl ObservedObjects {
    /// Starts a watch for every kind of `objects` not watched yet.
    pub fn watch(&self, ctx: &Arc<Context>, objects: &[ObjectRef]) {
        let mut watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        for o in objects {
            let k = (o.group.clone(), o.version.clone(), o.kind.clone());
            if watched.insert(k.clone()) {
                let ctx = ctx.clone();
                tokio::spawn(async move { watch_kind(ctx, k).await });
            }
        }
    }

    /// What the watches know of `object`.
    pub fn observe(&self, object: &ObjectRef) -> Observation {
        let gvk = (
            object.group.clone(),
            object.version.clone(),
            object.kind.clone(),
        );
        if !self
            .synced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&gvk)
        {
            return Observation::Unknown;
        }
        match self
            .objects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&object.inventory_id())
        {
            None => Observation::Absent,
            Some(o) => Observation::Present(o.health.clone().unwrap_or(HealthStatus::Current)),
        }
    }

    /// Records an event; returns what changed.
    fn record(&self, id: InventoryId, now: Option<Observed>) -> Change {
        let mut objects = self.objects.lock().unwrap_or_else(|e| e.into_inner());
        let before = match now {
            Some(o) => objects.insert(id, o.clone()).map(|b| (b, o)),
            None => {
                return match objects.remove(&id) {
                    Some(_) => Change::Deleted,
                    None => Change::None,
                };
            }
        };
        let healthy = |o: &Observed| o.health.as_ref().is_none_or(HealthStatus::is_current);
        match before {
            None => Change::Appeared,
            Some((b, o)) if b.seen != o.seen => Change::Spec,
            Some((b, o)) if healthy(&b) && !healthy(&o) => Change::HealthLost,
            Some((b, o)) if b.health != o.health => Change::Health,
            Some(_) => Change::None,
        }
    }

    fn mark_synced(&self, gvk: &Gvk) {
        self.synced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(gvk.clone());
    }
}

/// The watches as weir-apply's live-object source: they hold no objects, only who exists.
impl weir_apply::LiveObjects for ObservedObjects {
    fn live(&self, _: &ObjectRef) -> Option<Value> {
        None
    }

    fn is_absent(&self, object: &ObjectRef) -> bool {
        self.observe(object) == Observation::Absent
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Change {
    None,
    Appeared,
    Deleted,
    Spec,
    Health,
    /// Was healthy, is not any more (a crash loop, a failed rollout by someone else, ...).
    HealthLost,
}

/// Kinds healthy whenever they exist (health never reads their `status`): watched as metadata only.
fn metadata_suffices(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        (
            "",
            "ConfigMap"
                | "Secret"
                | "ServiceAccount"
                | "LimitRange"
                | "ResourceQuota"
                | "Endpoints"
        ) | ("rbac.authorization.k8s.io", _)
            | ("networking.k8s.io", "NetworkPolicy" | "IngressClass")
            | ("autoscaling", "HorizontalPodAutoscaler")
            | ("policy", "PodDisruptionBudget")
            | ("scheduling.k8s.io", "PriorityClass")
            | ("storage.k8s.io", "StorageClass")
            | ("admissionregistration.k8s.io", _)
            | ("coordination.k8s.io", _)
            | ("discovery.k8s.io", _)
    )
}

fn seen(meta: &kube::api::ObjectMeta) -> Seen {
    match meta.generation {
        Some(g) => Seen::Generation(g),
        None => Seen::Version(meta.resource_version.clone().unwrap_or_default()),
    }
}

fn owner(meta: &kube::api::ObjectMeta) -> Option<Key> {
    let labels = meta.labels.as_ref()?;
    Some(Key::new(
        Kind::Kustomization,
        labels.get(OWNER_NAMESPACE)?.clone(),
        labels.get(OWNER_NAME)?.clone(),
    ))
}

/// True when the last write to the object was by `field_manager` (weir itself): not drift. The
/// newest `managedFields` entries (timestamps have second precision) must all be ours.
fn written_last_by(meta: &kube::api::ObjectMeta, field_manager: &str) -> bool {
    let Some(fields) = meta.managed_fields.as_ref() else {
        return false;
    };
    let spec_writes = fields
        .iter()
        .filter(|f| f.subresource.as_deref().is_none_or(str::is_empty));
    let Some(newest) = spec_writes.clone().filter_map(|f| f.time.as_ref()).max() else {
        return false;
    };
    spec_writes
        .filter(|f| f.time.as_ref() == Some(newest))
        .all(|f| f.manager.as_deref() == Some(field_manager))
}

fn object_ref(gvk: &Gvk, meta: &kube::api::ObjectMeta) -> ObjectRef {
    ObjectRef {
        group: gvk.0.clone(),
        version: gvk.1.clone(),
        kind: gvk.2.clone(),
        namespace: meta.namespace.clone(),
        name: meta.name.clone().unwrap_or_default(),
    }
}

/// `Kind/namespace/name` (or `Kind/name`), as messages and events name an object.
pub(crate) fn shown(r: &ObjectRef) -> String {
    match &r.namespace {
        Some(ns) => format!("{}/{ns}/{}", r.kind, r.name),
        None => format!("{}/{}", r.kind, r.name),
    }
}

/// One event of a watch, reduced to what is kept.
struct WatchedItem {
    meta: kube::api::ObjectMeta,
    health: Option<HealthStatus>,
}

async fn watch_kind(ctx: Arc<Context>, gvk: Gvk) {
    let (group, version, kind) = &gvk;
    let api_gvk = GroupVersionKind::gvk(group, version, kind);
    let ar = loop {
        match kube::discovery::pinned_kind(&ctx.client, &api_gvk).await {
            Ok((ar, _)) => break ar,
            Err(e) => {
                tracing::info!(kind = %kind, error = %e, "watch of applied objects: kind not served yet");
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
        }
    };
    let config = watcher::Config::default().labels(OWNER_NAME);
    tracing::info!(kind = %kind, "watching applied objects");
    if metadata_suffices(group, kind) {
        // `PartialObjectMeta` makes the watch metadata-only: no data, spec or status is sent.
        let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(ctx.client.clone(), &ar);
        let events = watcher::watcher(api, config)
            .backoff(crate::run::WatchBackoff::default())
            .map(|ev| {
                ev.map(|e| {
                    map_event(e, |m| WatchedItem {
                        meta: m.metadata,
                        health: None,
                    })
                })
            });
        consume(&ctx, &gvk, events).await;
    } else {
        let api: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &ar);
        let kind = kind.clone();
        let api_version = if group.is_empty() {
            version.clone()
        } else {
            format!("{group}/{version}")
        };
        let events = watcher::watcher(api, config)
            .backoff(crate::run::WatchBackoff::default())
            .map(move |ev| {
                ev.map(|e| {
                    map_event(e, |o| {
                        // List items may lack their type; health rules are chosen by it.
                        let mut value = serde_json::to_value(&o.data).unwrap_or(Value::Null);
                        if let Value::Object(m) = &mut value {
                            m.insert("apiVersion".into(), Value::String(api_version.clone()));
                            m.insert("kind".into(), Value::String(kind.clone()));
                            m.insert(
                                "metadata".into(),
                                serde_json::to_value(&o.metadata).unwrap_or(Value::Null),
                            );
                        }
                        WatchedItem {
                            health: Some(weir_apply::health::evaluate(&value)),
                            meta: o.metadata,
                        }
                    })
                })
            });
        consume(&ctx, &gvk, events).await;
    }
}

async fn consume<S>(ctx: &Arc<Context>, gvk: &Gvk, events: S)
where
    S: futures::Stream<Item = Result<Event<WatchedItem>, watcher::Error>>,
{
    let mut events = std::pin::pin!(events);
    // Objects seen in the listing being replayed after a (re)connect: the ones not seen again were
    // deleted while the watch was down.
    let mut relisting: Option<HashSet<InventoryId>> = None;
    while let Some(ev) = events.next().await {
        let (item, deleted) = match ev {
            Ok(Event::Apply(s)) => (s, false),
            Ok(Event::InitApply(s)) => {
                if let Some(ids) = relisting.as_mut() {
                    ids.insert(object_ref(gvk, &s.meta).inventory_id());
                }
                (s, false)
            }
            Ok(Event::Delete(s)) => (s, true),
            Ok(Event::Init) => {
                relisting = Some(HashSet::new());
                continue;
            }
            Ok(Event::InitDone) => {
                if let Some(ids) = relisting.take() {
                    forget_missing(ctx, gvk, &ids);
                }
                ctx.observed.mark_synced(gvk);
                // Health waits that read objects of this kind can now be answered from events.
                ctx.wake_health_waits();
                continue;
            }
            Err(e) => {
                tracing::warn!(kind = %gvk.2, error = %e, "watch of applied objects failed; retrying");
                continue;
            }
        };
        let WatchedItem { meta, health } = item;
        let Some(key) = owner(&meta) else {
            continue;
        };
        let r = object_ref(gvk, &meta);
        let now = (!deleted).then(|| Observed {
            owner: key.clone(),
            seen: seen(&meta),
            health,
        });
        match ctx.observed.record(r.inventory_id(), now) {
            Change::None => {}
            // Its Kustomization just created it (or the initial listing).
            Change::Appeared => ctx.wake_if_waiting_for_health(&key),
            Change::Health => ctx.wake_if_waiting_for_health(&key),
            Change::HealthLost => ctx.health_lost(&key, &format!("{} is not healthy", shown(&r))),
            Change::Deleted => ctx.drifted(&key, &r, format!("{} was deleted", shown(&r))),
            Change::Spec => {
                if !written_last_by(&meta, &ctx.config.field_manager) {
                    let by = last_writer(&meta);
                    ctx.drifted(&key, &r, format!("{} was changed{by}", shown(&r)));
                } else {
                    ctx.wake_if_waiting_for_health(&key);
                }
            }
        }
    }
}

/// The same event carrying `f` of its object.
fn map_event<A, B>(e: Event<A>, f: impl FnOnce(A) -> B) -> Event<B> {
    match e {
        Event::Apply(o) => Event::Apply(f(o)),
        Event::Delete(o) => Event::Delete(f(o)),
        Event::InitApply(o) => Event::InitApply(f(o)),
        Event::Init => Event::Init,
        Event::InitDone => Event::InitDone,
    }
}

/// ` by MANAGER` when the object's newest write names its field manager.
fn last_writer(meta: &kube::api::ObjectMeta) -> String {
    meta.managed_fields
        .as_ref()
        .and_then(|f| {
            f.iter()
                .filter(|f| f.subresource.as_deref().is_none_or(str::is_empty))
                .max_by_key(|f| f.time.clone())
        })
        .and_then(|f| f.manager.clone())
        .map(|m| format!(" by {m}"))
        .unwrap_or_default()
}

/// After a re-list: objects of `gvk` known before but not listed again were deleted while the watch
/// was down, which is drift like any deletion.
fn forget_missing(ctx: &Arc<Context>, gvk: &Gvk, listed: &HashSet<InventoryId>) {
    let gone: Vec<(InventoryId, Key)> = {
        let mut objects = ctx
            .observed
            .objects
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let ids: Vec<InventoryId> = objects
            .keys()
            .filter(|id| id.group == gvk.0 && id.kind == gvk.2 && !listed.contains(*id))
            .cloned()
            .collect();
        ids.into_iter()
            .filter_map(|id| objects.remove(&id).map(|o| (id, o.owner)))
            .collect()
    };
    for (id, owner) in gone {
        let r = ObjectRef::from_inventory_id(&id, gvk.1.clone());
        ctx.drifted(&owner, &r, format!("{} was deleted", shown(&r)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, Time};

    fn entry(manager: &str, secs: i64, sub: Option<&str>) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: Some(manager.into()),
            time: Some(Time(
                k8s_openapi::jiff::Timestamp::from_second(secs).expect("time"),
            )),
            subresource: sub.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn our_own_write_is_not_drift_and_another_managers_is() {
        let mut meta = kube::api::ObjectMeta {
            managed_fields: Some(vec![
                entry("kubectl-edit", 100, None),
                entry("weir", 200, None),
                entry("kube-controller-manager", 300, Some("status")),
            ]),
            ..Default::default()
        };
        assert!(written_last_by(&meta, "weir"), "status writes do not count");
        meta.managed_fields
            .as_mut()
            .expect("fields")
            .push(entry("kubectl-edit", 400, None));
        assert!(!written_last_by(&meta, "weir"));
        assert_eq!(last_writer(&meta), " by kubectl-edit");
        // Same second: ambiguous, so it counts as drift (a repair costs one dry-run).
        meta.managed_fields = Some(vec![entry("weir", 5, None), entry("other", 5, None)]);
        assert!(!written_last_by(&meta, "weir"));
        meta.managed_fields = None;
        assert!(!written_last_by(&meta, "weir"));
    }

    #[test]
    fn observations_follow_events() {
        let o = ObservedObjects::default();
        let r = ObjectRef {
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            namespace: Some("ns".into()),
            name: "web".into(),
        };
        assert_eq!(o.observe(&r), Observation::Unknown, "not synced yet");
        o.mark_synced(&("apps".into(), "v1".into(), "Deployment".into()));
        assert_eq!(o.observe(&r), Observation::Absent);
        assert!(weir_apply::LiveObjects::is_absent(&o, &r));
        let waiting = Observed {
            owner: Key::new(Kind::Kustomization, "ns", "app"),
            seen: Seen::Generation(1),
            health: Some(HealthStatus::InProgress("0 of 1 available".into())),
        };
        assert_eq!(
            o.record(r.inventory_id(), Some(waiting.clone())),
            Change::Appeared
        );
        assert_eq!(
            o.record(r.inventory_id(), Some(waiting.clone())),
            Change::None
        );
        let healthy = Observed {
            health: Some(HealthStatus::Current),
            ..waiting.clone()
        };
        assert_eq!(
            o.record(r.inventory_id(), Some(healthy.clone())),
            Change::Health
        );
        assert_eq!(o.observe(&r), Observation::Present(HealthStatus::Current));
        let edited = Observed {
            seen: Seen::Generation(2),
            ..healthy
        };
        assert_eq!(
            o.record(r.inventory_id(), Some(edited.clone())),
            Change::Spec
        );
        let crashing = Observed {
            health: Some(HealthStatus::Failed("crash loop".into())),
            ..edited
        };
        assert_eq!(
            o.record(r.inventory_id(), Some(crashing)),
            Change::HealthLost
        );
        assert_eq!(o.record(r.inventory_id(), None), Change::Deleted);
        assert_eq!(o.record(r.inventory_id(), None), Change::None);
        assert_eq!(o.observe(&r), Observation::Absent);
    }

    #[test]
    fn metadata_only_kinds_are_those_healthy_by_existence() {
        assert!(metadata_suffices("", "ConfigMap"));
        assert!(metadata_suffices("rbac.authorization.k8s.io", "Role"));
        assert!(!metadata_suffices("apps", "Deployment"));
        assert!(!metadata_suffices("", "Service"));
        assert!(
            !metadata_suffices("example.com", "Widget"),
            "custom resources have conditions"
        );
    }
}
