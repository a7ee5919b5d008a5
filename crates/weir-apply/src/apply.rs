//! The applier and its steps after the plan: apply (stages, takeover, recreate), prune, and the
//! one-shot [`Applier::run`] `weir apply` uses (plan, inventory, apply, prune, inventory, wait).

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, stream};
use serde_json::Value;
use tokio::time::{Instant, sleep};
use weir_api::{InventoryId, ObjectRef};

use crate::cluster::{CallError, Cluster};
use crate::diff::{FieldChange, normalise};
use crate::error::{Error, Step};
use crate::inventory::{ConfigMapStore, Inventory};
use crate::labels;
use crate::plan::{NoLiveObjects, Plan, PlannedAction, PlannedObject, crd_resource, plan_items};
use crate::requests::RequestStats;
use crate::resolve::{Discovery, Gvk, Resource};
use crate::staging::{Stage, stage_of};
use crate::wait::{Waited, wait_healthy};

/// The field manager Flux's kustomize-controller applies with.
pub const FLUX_FIELD_MANAGER: &str = "kustomize-controller";

/// How [`Applier::prune`] deletes (the controller maps a Kustomization's `spec.deletionPolicy` onto
/// it when the Kustomization itself is deleted; an ordinary prune uses [`Deletion::Background`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Deletion {
    /// Delete, dependents in the background; do not wait (Flux's garbage collection).
    #[default]
    Background,
    /// Delete and wait until each object is gone (Flux's `WaitForTermination`), up to the timeout.
    WaitForTermination,
    /// Delete nothing; report every object as kept (Flux's `Orphan`).
    Orphan,
}

/// How to apply a set.
#[derive(Debug, Clone)]
pub struct Options {
    /// Name of the apply: the owner label `kustomize.toolkit.fluxcd.io/name` (Flux: the
    /// Kustomization's name); `weir apply` also names its inventory ConfigMap after it.
    pub name: String,
    /// The owner label `kustomize.toolkit.fluxcd.io/namespace`, and the namespace of namespaced
    /// objects that name none unless [`Options::target_namespace`] is set.
    pub namespace: String,
    /// Namespace for namespaced objects that name none (default: [`Options::namespace`]).
    pub target_namespace: Option<String>,
    /// Delete objects that left the set since the last apply ([`Applier::run`] and [`Applier::prune`]).
    pub prune: bool,
    /// Wait for every object in the set to be healthy ([`Applier::run`] only).
    pub wait: bool,
    /// Limit for health waits, CRDs becoming Established and recreated objects going away.
    pub timeout: Duration,
    /// Plan and diff only: nothing is written ([`Applier::run`] and [`Applier::prune`]).
    pub dry_run: bool,
    /// Delete and recreate objects whose immutable fields changed.
    pub force: bool,
    /// How prune deletes.
    pub deletion: Deletion,
    /// Field manager for server-side apply.
    pub field_manager: String,
    /// Field managers whose fields weir takes over before applying (default: Flux's
    /// `kustomize-controller`), so fields they applied and Git no longer has are removed.
    pub take_over: Vec<String>,
    /// Requests in flight at once.
    pub concurrency: usize,
}

impl Options {
    /// Options for the apply `name` in `namespace`, with defaults: no prune, no wait, 5 minutes,
    /// field manager `weir`, taking over from `kustomize-controller`.
    pub fn new(name: impl Into<String>, namespace: impl Into<String>) -> Self {
        Options {
            name: name.into(),
            namespace: namespace.into(),
            target_namespace: None,
            prune: false,
            wait: false,
            timeout: Duration::from_secs(300),
            dry_run: false,
            force: false,
            deletion: Deletion::Background,
            field_manager: "weir".into(),
            take_over: vec![FLUX_FIELD_MANAGER.into()],
            concurrency: 32,
        }
    }

    /// The namespace of namespaced objects that name none.
    pub fn default_namespace(&self) -> &str {
        self.target_namespace.as_deref().unwrap_or(&self.namespace)
    }

    /// The label selector of objects this apply owns.
    pub fn owner_selector(&self) -> String {
        format!(
            "{}={},{}={}",
            labels::OWNER_NAME,
            self.name,
            labels::OWNER_NAMESPACE,
            self.namespace
        )
    }
}

/// What happened (or, in a dry-run, would happen) to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Did not exist; created.
    Created,
    /// Existed and differed; applied.
    Configured,
    /// Already as the set says; not written.
    Unchanged,
    /// An immutable field changed; deleted and created again (`--force`).
    Recreated,
    /// Left the set; deleted.
    Pruned,
    /// Left the set but kept, for the reason given (prune disabled, not owned, pruning off).
    Kept(String),
}

impl Action {
    /// True when the cluster changes (or would change).
    pub fn is_change(&self) -> bool {
        !matches!(self, Action::Unchanged | Action::Kept(_))
    }
}

/// One object's result.
#[derive(Debug, Clone)]
pub struct Change {
    /// The object.
    pub object: ObjectRef,
    /// Its inventory id.
    pub id: InventoryId,
    /// What happened to it.
    pub action: Action,
    /// Field differences from live (for [`Action::Configured`] in a plan; empty when unknown).
    pub diff: Vec<FieldChange>,
}

impl Change {
    fn new(object: &ObjectRef, action: Action) -> Change {
        Change {
            id: object.inventory_id(),
            object: object.clone(),
            action,
            diff: Vec::new(),
        }
    }
}

/// The result of [`Applier::apply`]: returned as soon as every object is written, healthy or not.
#[derive(Debug, Clone)]
pub struct ApplyOutcome {
    /// One entry per object of the plan, in apply order.
    pub changes: Vec<Change>,
    /// The inventory of the set as applied (every object with its digest).
    pub inventory: Inventory,
    /// API requests this call made.
    pub requests: RequestStats,
}

/// The result of [`Applier::prune`].
#[derive(Debug, Clone)]
pub struct PruneOutcome {
    /// One entry per stale object still present: [`Action::Pruned`] or [`Action::Kept`].
    pub changes: Vec<Change>,
    /// Stale objects to keep recording in the inventory (kept because pruning is off).
    pub keep_recording: Vec<InventoryId>,
    /// API requests this call made.
    pub requests: RequestStats,
}

/// The result of [`Applier::run`].
#[derive(Debug, Clone)]
pub struct Outcome {
    /// One entry per object in the set, then one per object that left it; in apply order.
    pub changes: Vec<Change>,
    /// API requests this run made.
    pub requests: RequestStats,
    /// Whether the inventory ConfigMap was written.
    pub inventory_written: bool,
}

impl Outcome {
    /// True when anything in the cluster changed (or, in a dry-run, would change).
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action.is_change())
    }
}

/// Applies manifest sets with the caller's client. Cheap to clone; clones share the discovery cache.
/// Every step counts its own requests and returns them in its outcome.
#[derive(Clone)]
pub struct Applier {
    client: kube::Client,
    pub(crate) discovery: Arc<Discovery>,
}

impl Applier {
    /// An applier on `client` (the process's one client; impersonation, if any, is the client's).
    pub fn new(client: kube::Client) -> Self {
        Applier {
            client,
            discovery: Arc::new(Discovery::default()),
        }
    }

    /// The discovery cache shared by this applier and its clones.
    pub fn discovery(&self) -> &Discovery {
        &self.discovery
    }

    /// The same discovery cache on another client (e.g. one impersonating a service account).
    pub fn with_client(&self, client: kube::Client) -> Self {
        Applier {
            client,
            discovery: self.discovery.clone(),
        }
    }

    pub(crate) fn cluster(&self) -> Cluster<'_> {
        Cluster::new(&self.client, "weir")
    }

    pub(crate) fn cluster_as<'a>(&'a self, opts: &'a Options) -> Cluster<'a> {
        Cluster::new(&self.client, &opts.field_manager)
    }

    /// Carries out `plan`: takes fields over where planned, then applies stage by stage (CRDs and
    /// Namespaces, waiting for the set's CRDs to be Established; `*Class` kinds; the rest). Deferred
    /// objects are validated after the definitions stage; if any is rejected nothing after that stage
    /// is written. Returns without waiting for health.
    pub async fn apply(&self, plan: &Plan, opts: &Options) -> Result<ApplyOutcome, Error> {
        let cluster = self.cluster_as(opts);
        // Copied only when deferred objects must be planned again.
        let mut objects: std::borrow::Cow<'_, [PlannedObject]> =
            std::borrow::Cow::Borrowed(&plan.objects);
        let mut changes: Vec<Option<Change>> = vec![None; objects.len()];
        for stage in [Stage::Definitions, Stage::Classes, Stage::Workloads] {
            if stage != Stage::Definitions
                && objects
                    .iter()
                    .any(|o| o.stage >= stage && o.action == PlannedAction::Deferred)
            {
                let deferred: Vec<usize> = (0..objects.len())
                    .filter(|&i| objects[i].action == PlannedAction::Deferred)
                    .collect();
                plan_items(
                    &cluster,
                    objects.to_mut(),
                    &Inventory::default(),
                    opts,
                    true,
                )
                .await?;
                debug_assert!(
                    deferred
                        .iter()
                        .all(|&i| objects[i].action != PlannedAction::Deferred)
                );
            }
            let idx: Vec<usize> = (0..objects.len())
                .filter(|&i| objects[i].stage == stage)
                .collect();
            // Futures collected first: a lazily mapped stream of borrowing futures is not provably
            // `Send`.
            let writes: Vec<_> = idx
                .iter()
                .map(|&i| indexed(i, write_planned(&cluster, &objects[i], opts)))
                .collect();
            let results: Vec<(usize, Result<Action, Error>)> = stream::iter(writes)
                .buffer_unordered(opts.concurrency.max(1))
                .collect()
                .await;
            for (i, r) in results {
                changes[i] = Some(Change::new(&objects[i].object, r?));
            }
            if stage == Stage::Definitions {
                let set_crds: Vec<ObjectRef> = idx
                    .iter()
                    .map(|&i| &objects[i].object)
                    .filter(|o| o.kind == "CustomResourceDefinition")
                    .cloned()
                    .collect();
                wait_established(&cluster, &set_crds, opts).await?;
            }
        }
        Ok(ApplyOutcome {
            changes: changes.into_iter().flatten().collect(),
            inventory: plan.inventory(),
            requests: cluster.requests(),
        })
    }

    /// Deletes the `stale` objects (those that left the set), workloads before the namespaces and
    /// CRDs they live in. An object is kept when it carries `kustomize.toolkit.fluxcd.io/prune:
    /// disabled`, when its owner labels name another apply than `opts`, when `opts.prune` is off or
    /// `opts.deletion` is [`Deletion::Orphan`]; a missing object or kind is skipped. Dependents are
    /// deleted in the background; with [`Deletion::WaitForTermination`] the call returns once every
    /// deleted object is gone (or fails with [`Error::NotReady`] at `opts.timeout`). With
    /// `opts.dry_run`, reports what would be deleted.
    pub async fn prune(&self, stale: &[ObjectRef], opts: &Options) -> Result<PruneOutcome, Error> {
        let cluster = self.cluster_as(opts);
        if stale.is_empty() {
            return Ok(PruneOutcome {
                changes: Vec::new(),
                keep_recording: Vec::new(),
                requests: cluster.requests(),
            });
        }
        let wanted: std::collections::BTreeSet<Gvk> = stale
            .iter()
            .map(|r| (r.group.clone(), r.version.clone(), r.kind.clone()))
            .collect();
        let (found, _) = self
            .discovery
            .resolve(
                &cluster,
                &wanted,
                &std::collections::BTreeMap::new(),
                opts.concurrency,
            )
            .await?;
        let mut order: Vec<&ObjectRef> = stale.iter().collect();
        order.sort_by_key(|o| std::cmp::Reverse(stage_of(&o.group, &o.kind)));
        let mut changes = Vec::new();
        let mut keep_recording = Vec::new();
        let mut deleted: Vec<(ObjectRef, Resource)> = Vec::new();
        for obj in order {
            let Some(res) = found.get(&(obj.group.clone(), obj.version.clone(), obj.kind.clone()))
            else {
                // The kind is gone from the cluster, so are its objects.
                continue;
            };
            let live = cluster
                .get(res, obj)
                .await
                .map_err(|source| Error::request(Step::Prune, obj.clone(), source))?;
            let Some(live) = live else { continue };
            let action = match prune_decision(&live, opts) {
                Some(kept) => {
                    if !opts.prune {
                        keep_recording.push(obj.inventory_id());
                    }
                    Action::Kept(kept)
                }
                None => {
                    if !opts.dry_run {
                        cluster
                            .delete(res, obj, "Background")
                            .await
                            .map_err(|source| Error::request(Step::Prune, obj.clone(), source))?;
                        deleted.push((obj.clone(), res.clone()));
                    }
                    Action::Pruned
                }
            };
            changes.push(Change::new(obj, action));
        }
        if opts.deletion == Deletion::WaitForTermination {
            wait_gone(&cluster, &deleted, opts).await?;
        }
        Ok(PruneOutcome {
            changes,
            keep_recording,
            requests: cluster.requests(),
        })
    }

    /// Loads the inventory from its ConfigMap (empty when there is none).
    pub async fn load_inventory(
        &self,
        store: &ConfigMapStore,
    ) -> Result<(Inventory, RequestStats), Error> {
        let cluster = self.cluster();
        let key = store.object();
        let inv = match cluster.get(&config_maps(), &key).await {
            Ok(Some(cm)) => store.decode(&cm)?,
            Ok(None) => Inventory::default(),
            Err(source) => return Err(Error::request(Step::Inventory, key, source)),
        };
        Ok((inv, cluster.requests()))
    }

    /// Writes the inventory to its ConfigMap (server-side apply as `opts.field_manager`).
    pub async fn store_inventory(
        &self,
        store: &ConfigMapStore,
        inventory: &Inventory,
        opts: &Options,
    ) -> Result<RequestStats, Error> {
        let cluster = self.cluster_as(opts);
        let key = store.object();
        cluster
            .apply(&config_maps(), &key, &store.encode(inventory), false)
            .await
            .map_err(|source| Error::request(Step::Inventory, key, source))?;
        Ok(cluster.requests())
    }

    /// Polls `objects` until all are healthy (kstatus rules, [`crate::health::evaluate`]), all still
    /// pending have failed, or `timeout` passes; fails with [`Error::NotReady`] naming each unhealthy
    /// object and why. For `weir apply --wait`; a controller re-evaluates health on watch events.
    pub async fn wait(
        &self,
        objects: &[ObjectRef],
        timeout: Duration,
        concurrency: usize,
    ) -> Result<RequestStats, Error> {
        let cluster = self.cluster();
        let wanted: std::collections::BTreeSet<Gvk> = objects
            .iter()
            .map(|r| (r.group.clone(), r.version.clone(), r.kind.clone()))
            .collect();
        let (found, _) = self
            .discovery
            .resolve(
                &cluster,
                &wanted,
                &std::collections::BTreeMap::new(),
                concurrency,
            )
            .await?;
        let pairs: Vec<(ObjectRef, Resource)> = objects
            .iter()
            .filter_map(|o| {
                found
                    .get(&(o.group.clone(), o.version.clone(), o.kind.clone()))
                    .map(|r| (o.clone(), r.clone()))
            })
            .collect();
        wait_for(&cluster, &pairs, timeout, concurrency).await?;
        Ok(cluster.requests())
    }

    /// Applies `manifests` as the set `opts.name`, keeping the inventory in the ConfigMap
    /// `weir-inventory-<name>` (what `weir apply` does): load the inventory, [`Applier::plan`],
    /// record the new objects in the inventory *before* the first write, [`Applier::apply`],
    /// [`Applier::prune`], rewrite the inventory (only if it changed) and, with `opts.wait`,
    /// [`Applier::wait`].
    ///
    /// # Guarantees
    /// - `opts.dry_run` makes no write request.
    /// - An object with `kustomize.toolkit.fluxcd.io/prune: disabled` is never deleted.
    /// - An unchanged re-apply writes nothing, not even the inventory.
    pub async fn run(&self, manifests: Vec<Value>, opts: &Options) -> Result<Outcome, Error> {
        let store = ConfigMapStore::new(&opts.name, &opts.namespace);
        let (stored, mut requests) = self.load_inventory(&store).await?;
        let mut plan = self.plan(manifests, &stored, &NoLiveObjects, opts).await?;
        requests += plan.requests;
        let mut changes: Vec<Change>;
        let mut inventory_written = false;
        let mut recorded = stored.clone();
        if opts.dry_run {
            changes = plan
                .objects
                .iter()
                .map(|o| {
                    let mut c = Change::new(&o.object, planned_action(o));
                    if let PlannedAction::Configure(d) = &o.action {
                        c.diff = d.clone();
                    }
                    c
                })
                .collect();
        } else {
            changes = Vec::new();
            // The report keeps the plan's (apply) order.
            let order: std::collections::HashMap<InventoryId, usize> = plan
                .objects
                .iter()
                .enumerate()
                .map(|(i, o)| (o.id.clone(), i))
                .collect();
            if let Some(pending) = plan.pending_inventory(&stored) {
                // The namespace holding the inventory may be part of the set: it goes first.
                let first = plan.split_off(|o| {
                    o.object.group.is_empty()
                        && o.object.kind == "Namespace"
                        && o.object.name == opts.namespace
                        && o.needs_write()
                });
                if !first.objects.is_empty() {
                    let out = self.apply(&first, opts).await?;
                    requests += out.requests;
                    changes.extend(out.changes);
                    plan.objects.extend(first.objects);
                }
                requests += self.store_inventory(&store, &pending, opts).await?;
                inventory_written = true;
                recorded = pending;
            }
            let written: Vec<InventoryId> = changes.iter().map(|c| c.id.clone()).collect();
            let rest = plan.split_off(|o| !written.contains(&o.id));
            let out = self.apply(&rest, opts).await?;
            requests += out.requests;
            changes.extend(out.changes);
            plan.objects.extend(rest.objects);
            // Apply order for the report.
            changes.sort_by_key(|c| order.get(&c.id).copied());
        }
        let pruned = self.prune(&plan.stale, opts).await?;
        requests += pruned.requests;
        changes.extend(pruned.changes);
        if !opts.dry_run {
            let mut final_inv = plan.inventory();
            for id in pruned.keep_recording {
                if let Some(e) = stored.entries.get(&id) {
                    final_inv.entries.insert(id, e.clone());
                }
            }
            if final_inv != recorded {
                requests += self.store_inventory(&store, &final_inv, opts).await?;
                inventory_written = true;
            }
            if opts.wait {
                let objects: Vec<ObjectRef> =
                    plan.objects.iter().map(|o| o.object.clone()).collect();
                requests += self.wait(&objects, opts.timeout, opts.concurrency).await?;
            }
        }
        Ok(Outcome {
            changes,
            requests,
            inventory_written,
        })
    }
}

async fn indexed<T>(i: usize, f: impl std::future::Future<Output = T>) -> (usize, T) {
    (i, f.await)
}

/// Why a stale object is kept, or `None` to delete it.
fn prune_decision(live: &Value, opts: &Options) -> Option<String> {
    let annotation = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(labels::PRUNE))
        .and_then(Value::as_str);
    let label = |k: &str| {
        live.pointer("/metadata/labels")
            .and_then(|l| l.get(k))
            .and_then(Value::as_str)
    };
    let owned = label(labels::OWNER_NAME) == Some(opts.name.as_str())
        && label(labels::OWNER_NAMESPACE) == Some(opts.namespace.as_str());
    if !opts.prune {
        Some("pruning is off".into())
    } else if opts.deletion == Deletion::Orphan {
        Some("deletion policy Orphan".into())
    } else if annotation == Some(labels::PRUNE_DISABLED) {
        Some(format!("{}: {}", labels::PRUNE, labels::PRUNE_DISABLED))
    } else if !owned {
        Some("owner labels changed: another apply owns it".into())
    } else {
        None
    }
}

fn planned_action(o: &PlannedObject) -> Action {
    match &o.action {
        PlannedAction::Unchanged if o.take_over => Action::Configured,
        PlannedAction::Unchanged => Action::Unchanged,
        PlannedAction::Create | PlannedAction::Deferred => Action::Created,
        PlannedAction::Configure(_) => Action::Configured,
        PlannedAction::Recreate => Action::Recreated,
    }
}

fn config_maps() -> Resource {
    Resource {
        group: String::new(),
        version: "v1".into(),
        kind: "ConfigMap".into(),
        plural: "configmaps".into(),
        namespaced: true,
    }
}

async fn write_planned(
    cluster: &Cluster<'_>,
    item: &PlannedObject,
    opts: &Options,
) -> Result<Action, Error> {
    let fail = |step, source| Error::request(step, item.object.clone(), source);
    if let Some(entries) = &item.managed_fields {
        cluster
            .replace_managed_fields(&item.res, &item.object, entries.clone())
            .await
            .map_err(|e| fail(Step::TakeOver, e))?;
    }
    match &item.action {
        PlannedAction::Unchanged if !item.take_over => Ok(Action::Unchanged),
        PlannedAction::Unchanged => {
            let applied = cluster
                .apply(&item.res, &item.object, &item.manifest, false)
                .await
                .map_err(|e| fail(Step::Apply, e))?;
            let same = item
                .live
                .as_ref()
                .is_some_and(|l| normalise(l) == normalise(&applied.object));
            Ok(if same {
                Action::Unchanged
            } else {
                Action::Configured
            })
        }
        PlannedAction::Deferred => Err(Error::request(
            Step::Validate,
            item.object.clone(),
            CallError::Api(crate::ApiError {
                code: 404,
                reason: "NotFound".into(),
                message: "its namespace or kind does not exist after the definitions stage".into(),
                causes: Vec::new(),
            }),
        )),
        PlannedAction::Recreate => {
            cluster
                .delete(&item.res, &item.object, "Foreground")
                .await
                .map_err(|e| fail(Step::Recreate, e))?;
            let deadline = Instant::now() + opts.timeout.min(Duration::from_secs(60));
            while cluster
                .get(&item.res, &item.object)
                .await
                .map_err(|e| fail(Step::Recreate, e))?
                .is_some()
            {
                if Instant::now() > deadline {
                    break;
                }
                sleep(Duration::from_millis(200)).await;
            }
            cluster
                .apply(&item.res, &item.object, &item.manifest, false)
                .await
                .map_err(|e| fail(Step::Apply, e))?;
            Ok(Action::Recreated)
        }
        PlannedAction::Create | PlannedAction::Configure(_) => {
            let applied = cluster
                .apply(&item.res, &item.object, &item.manifest, false)
                .await
                .map_err(|e| fail(Step::Apply, e))?;
            Ok(if applied.created {
                Action::Created
            } else {
                Action::Configured
            })
        }
    }
}

/// Polls the deleted objects until none exists, or fails at `opts.timeout` naming those left.
async fn wait_gone(
    cluster: &Cluster<'_>,
    deleted: &[(ObjectRef, Resource)],
    opts: &Options,
) -> Result<(), Error> {
    let deadline = Instant::now() + opts.timeout;
    let mut left: Vec<&(ObjectRef, Resource)> = deleted.iter().collect();
    loop {
        let mut still = Vec::new();
        for pair in left {
            let (obj, res) = pair;
            if cluster
                .get(res, obj)
                .await
                .map_err(|source| Error::request(Step::Prune, obj.clone(), source))?
                .is_some()
            {
                still.push(pair);
            }
        }
        if still.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::NotReady {
                timeout: opts.timeout,
                total: deleted.len(),
                unhealthy: still
                    .into_iter()
                    .map(|(o, _)| {
                        (
                            o.clone(),
                            crate::HealthStatus::InProgress("not deleted yet".into()),
                        )
                    })
                    .collect(),
            });
        }
        left = still;
        sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until every CRD of the set is Established, so custom resources can be applied.
async fn wait_established(
    cluster: &Cluster<'_>,
    set_crds: &[ObjectRef],
    opts: &Options,
) -> Result<(), Error> {
    if set_crds.is_empty() {
        return Ok(());
    }
    let objects: Vec<(ObjectRef, Resource)> = set_crds
        .iter()
        .map(|o| (o.clone(), crd_resource()))
        .collect();
    wait_for(cluster, &objects, opts.timeout, opts.concurrency).await
}

async fn wait_for(
    cluster: &Cluster<'_>,
    objects: &[(ObjectRef, Resource)],
    timeout: Duration,
    concurrency: usize,
) -> Result<(), Error> {
    match wait_healthy(cluster, objects, timeout, concurrency).await {
        Ok(Waited::AllHealthy) => Ok(()),
        Ok(Waited::NotHealthy(unhealthy)) => Err(Error::NotReady {
            timeout,
            total: objects.len(),
            unhealthy,
        }),
        Err((object, source)) => Err(Error::request(Step::Wait, object, source)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_real_changes_count_as_changes() {
        assert!(Action::Created.is_change());
        assert!(Action::Pruned.is_change());
        assert!(!Action::Unchanged.is_change());
        assert!(!Action::Kept("x".into()).is_change());
    }

    #[test]
    fn prune_keeps_disabled_and_foreign_objects() {
        let mut opts = Options::new("apps", "flux-system");
        opts.prune = true;
        let obj = |labels: Value, annotations: Value| json!({"metadata": {"name": "x", "labels": labels, "annotations": annotations}});
        let owned = json!({labels::OWNER_NAME: "apps", labels::OWNER_NAMESPACE: "flux-system"});
        assert_eq!(prune_decision(&obj(owned.clone(), json!({})), &opts), None);
        assert!(
            prune_decision(
                &obj(
                    owned.clone(),
                    json!({labels::PRUNE: labels::PRUNE_DISABLED})
                ),
                &opts
            )
            .is_some_and(|w| w.contains("disabled"))
        );
        let other = json!({labels::OWNER_NAME: "other", labels::OWNER_NAMESPACE: "flux-system"});
        assert!(
            prune_decision(&obj(other, json!({})), &opts).is_some_and(|w| w.contains("another"))
        );
        opts.deletion = Deletion::Orphan;
        assert!(
            prune_decision(&obj(owned.clone(), json!({})), &opts)
                .is_some_and(|w| w.contains("Orphan"))
        );
        opts.prune = false;
        assert!(prune_decision(&obj(owned, json!({})), &opts).is_some_and(|w| w.contains("off")));
    }

    #[test]
    fn target_namespace_overrides_the_default() {
        let mut opts = Options::new("apps", "flux-system");
        assert_eq!(opts.default_namespace(), "flux-system");
        opts.target_namespace = Some("shop".into());
        assert_eq!(opts.default_namespace(), "shop");
        assert_eq!(
            opts.owner_selector(),
            "kustomize.toolkit.fluxcd.io/name=apps,kustomize.toolkit.fluxcd.io/namespace=flux-system"
        );
    }
}
