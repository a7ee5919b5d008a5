//! The Kustomization reconciler: dependencies, source artifact, build, apply, prune, health and
//! status, as kustomize-controller does them, with none of its waits on a worker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use weir_api::ObjectKey;
use weir_api::condition::{self, reason};
use weir_api::flux::{KustomizationObject, KustomizationStatus, ResourceInventory, ResourceRef};

use crate::context::{Context, count};
use crate::dependencies::dependencies_of;
use crate::gitrepo::jitter;
use crate::memo::Fingerprint;
use crate::observed::{Observation, shown};
use crate::status::{now_rfc3339, write_if_changed};
use crate::{FINALIZER, Key, REQUESTED_AT};

const DEFAULT_INTERVAL: Duration = Duration::from_secs(600);
/// How often health is looked at while a Kustomization waits for its objects.
const HEALTH_POLL: Duration = Duration::from_secs(2);

/// What one reconcile decided, as status shows it.
struct Verdict {
    ready: Option<bool>,
    reason: &'static str,
    message: String,
    stalled: bool,
    /// When to look again; `None` means only on an event (graph change, source change).
    retry: Option<Duration>,
}

impl Verdict {
    fn not_ready(reason: &'static str, message: String, retry: Option<Duration>) -> Self {
        Verdict {
            ready: Some(false),
            reason,
            message,
            stalled: false,
            retry,
        }
    }

    fn stalled(reason: &'static str, message: String) -> Self {
        Verdict {
            ready: Some(false),
            reason,
            message,
            stalled: true,
            retry: None,
        }
    }
}

/// Spec fields Flux supports and weir does not yet: refused with a clear message, never ignored.
fn unsupported(obj: &KustomizationObject) -> Vec<&'static str> {
    let s = &obj.spec;
    let mut out = Vec::new();
    if s.kube_config.is_some() {
        out.push("spec.kubeConfig (remote clusters)");
    }
    if s.health_check_exprs
        .as_ref()
        .is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty()))
    {
        out.push("spec.healthCheckExprs");
    }
    if !matches!(
        s.source_ref.kind.as_str(),
        "GitRepository" | "OCIRepository"
    ) {
        out.push("spec.sourceRef.kind other than GitRepository and OCIRepository");
    }
    out
}

fn key_of(obj: &KustomizationObject) -> ObjectKey {
    ObjectKey::new(
        obj.metadata.namespace.clone().unwrap_or_default(),
        obj.metadata.name.clone().unwrap_or_default(),
    )
}

/// Ready and observed at its current generation: what a dependant waits for.
pub fn is_ready(obj: &KustomizationObject) -> bool {
    obj.status.as_ref().is_some_and(|s| {
        condition::is_true(&s.conditions, condition::READY)
            && s.observed_generation == obj.metadata.generation
    })
}

/// Reconciles the Kustomization `key`. Returns when it should run again.
pub async fn reconcile(ctx: &Arc<Context>, key: &Key) -> Option<Instant> {
    let obj = ctx.kustomization(&key.namespace, &key.name)?;
    let now = Instant::now();
    let me = key_of(&obj);
    let view = ctx.dependency_view();
    let interval = obj.spec.interval.map_or(DEFAULT_INTERVAL, |d| d.as_std());
    let retry_interval = obj.spec.retry_interval.map_or(interval, |d| d.as_std());
    let requested = obj
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REQUESTED_AT))
        .cloned();

    if obj.metadata.deletion_timestamp.is_some() {
        finalize(ctx, &obj).await;
        return None;
    }

    // Inputs that decide whether anything needs doing.
    let deps: Vec<(ObjectKey, bool)> = dependencies_of(&obj)
        .into_iter()
        .map(|d| {
            let ready = ctx
                .kustomization(&d.namespace, &d.name)
                .is_some_and(|k| is_ready(&k));
            (d, ready)
        })
        .collect();
    let source = source_artifact(ctx, &obj);
    let fingerprint = Fingerprint::of(&(
        obj.metadata.generation,
        &requested,
        &deps,
        view.cycle_of(&me),
        view.missing_of(&me),
        // The digest too: a refetch can change the artifact without changing the revision.
        source.as_ref().ok().cloned(),
        obj.spec.suspend,
    ));
    if ctx.memos.is_fresh(key, fingerprint, now) {
        count(&ctx.counters.skipped);
        return ctx.memos.next_due(key);
    }
    if obj.spec.suspend {
        ctx.memos.record(key, fingerprint, now + interval);
        return None;
    }
    count(&ctx.counters.reconciles);
    let started = Instant::now();
    ensure_finalizer(ctx, &obj).await;

    let status = obj.status.clone().unwrap_or_default();
    let mut new = status.clone();
    new.observed_generation = obj.metadata.generation;
    if requested.is_some() {
        new.last_handled_reconcile_at = requested.clone();
    }

    // Drift the watches saw: said in status (and an event) before it is repaired.
    let mut before = obj.status.clone();
    if let Some(what) = ctx.take_drift(key) {
        before = report_drift(ctx, &obj, &new, &what).await.or(before);
    }
    let verdict = match health_wait_for(ctx, &me, fingerprint) {
        Some(wait) => await_health(ctx, &obj, wait, &mut new, retry_interval).await,
        None => {
            decide(
                ctx,
                &obj,
                &view,
                &me,
                &deps,
                source,
                &mut new,
                retry_interval,
                fingerprint,
            )
            .await
        }
    };

    let ts = now_rfc3339();
    match verdict.ready {
        Some(ready) => {
            condition::set(
                &mut new.conditions,
                condition::new(condition::READY, ready, verdict.reason, &verdict.message),
                &ts,
            );
        }
        None => {
            let mut c = condition::new(condition::READY, false, verdict.reason, &verdict.message);
            c.status = "Unknown".into();
            condition::set(&mut new.conditions, c, &ts);
        }
    }
    if verdict.stalled {
        condition::set(
            &mut new.conditions,
            condition::new(condition::STALLED, true, verdict.reason, &verdict.message),
            &ts,
        );
    } else {
        condition::remove(&mut new.conditions, condition::STALLED);
    }
    if verdict.ready.is_none() {
        condition::set(
            &mut new.conditions,
            condition::new(
                condition::RECONCILING,
                true,
                reason::PROGRESSING,
                &verdict.message,
            ),
            &ts,
        );
    } else {
        condition::remove(&mut new.conditions, condition::RECONCILING);
    }
    for c in &mut new.conditions {
        c.observed_generation = obj.metadata.generation;
    }
    let became_ready = verdict.ready == Some(true) && !is_ready(&obj);
    let api: Api<KustomizationObject> = Api::namespaced(ctx.client.clone(), &key.namespace);
    match write_if_changed(&api, &key.name, before.as_ref(), &new).await {
        Ok(true) => count(&ctx.counters.status_writes),
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(namespace = %key.namespace, name = %key.name, error = %e, "status write failed")
        }
    }
    let failed = verdict.ready == Some(false);
    let changed_message = status
        .conditions
        .iter()
        .find(|c| c.type_ == condition::READY)
        .is_none_or(|c| c.message != verdict.message);
    if failed && changed_message {
        ctx.event(
            obj.object_ref(&()),
            true,
            verdict.reason,
            verdict.message.clone(),
        )
        .await;
    }
    if became_ready {
        // The watch event of our status write wakes them too; doing it here saves that round trip.
        ctx.wake_dependants(&me);
    }
    let next = match (verdict.ready, verdict.retry) {
        (Some(true), _) => {
            ctx.succeeded(key);
            Some(now + jitter(key, interval))
        }
        (None, Some(r)) => Some(now + r),
        (Some(false), Some(r)) => Some(now + ctx.failed(key, r)),
        (_, None) => None,
    };
    tracing::info!(
        kind = "Kustomization",
        namespace = %key.namespace,
        name = %key.name,
        revision = new.last_attempted_revision.as_deref().unwrap_or(""),
        ready = ?verdict.ready,
        reason = verdict.reason,
        duration_ms = started.elapsed().as_millis() as u64,
        "reconciled"
    );
    // Waiting for health must look again even though no input changed.
    let memo_due = next.unwrap_or(now + interval);
    if verdict.ready.is_some() {
        ctx.memos.record(key, fingerprint, memo_due);
    } else {
        ctx.memos.invalidate(key);
    }
    next
}

/// Marks a Ready Kustomization not Ready because `what` drifted, before the repair; returns the
/// status written.
async fn report_drift(
    ctx: &Context,
    obj: &KustomizationObject,
    status: &KustomizationStatus,
    what: &str,
) -> Option<KustomizationStatus> {
    let message = format!("drift detected: {what}; repairing");
    ctx.event(
        obj.object_ref(&()),
        true,
        reason::DRIFT_DETECTED,
        message.clone(),
    )
    .await;
    if !is_ready(obj) {
        return None;
    }
    let mut drifted = status.clone();
    condition::set(
        &mut drifted.conditions,
        condition::new(condition::READY, false, reason::DRIFT_DETECTED, &message),
        &now_rfc3339(),
    );
    let ns = obj.metadata.namespace.as_deref().unwrap_or_default();
    let name = obj.metadata.name.as_deref().unwrap_or_default();
    let api: Api<KustomizationObject> = Api::namespaced(ctx.client.clone(), ns);
    match write_if_changed(&api, name, obj.status.as_ref(), &drifted).await {
        Ok(_) => {
            count(&ctx.counters.status_writes);
            Some(drifted)
        }
        Err(e) => {
            tracing::warn!(namespace = ns, name, error = %e, "status write failed");
            None
        }
    }
}

/// The source's artifact (revision, digest), or why there is none.
fn source_artifact(ctx: &Context, obj: &KustomizationObject) -> Result<(String, String), Verdict> {
    let ns = obj.metadata.namespace.as_deref().unwrap_or_default();
    let src = &obj.spec.source_ref;
    let src_ns = src.namespace.as_deref().unwrap_or(ns);
    if ctx.config.no_cross_namespace_refs && src_ns != ns {
        return Err(Verdict::stalled(
            reason::ACCESS_DENIED,
            format!(
                "cross-namespace references are not allowed: sourceRef {}/{}/{}",
                src.kind, src_ns, src.name
            ),
        ));
    }
    // The source's status.artifact, from the cache of its kind (OCIRepository: issue 8).
    let found = if src.kind == "OCIRepository" {
        ctx.oci_repository(src_ns, &src.name)
            .map(|r| r.status.as_ref().and_then(|s| s.artifact.clone()))
    } else {
        ctx.git_repository(src_ns, &src.name)
            .map(|r| r.status.as_ref().and_then(|s| s.artifact.clone()))
    };
    let Some(artifact) = found else {
        return Err(Verdict::not_ready(
            reason::ARTIFACT_FAILED,
            format!("Source {} {src_ns}/{} not found", src.kind, src.name),
            None,
        ));
    };
    match artifact {
        Some(a) if a.digest.is_some() => Ok((a.revision, a.digest.unwrap_or_default())),
        _ => Err(Verdict::not_ready(
            reason::ARTIFACT_FAILED,
            format!(
                "Source {} {src_ns}/{} has no artifact yet",
                src.kind, src.name
            ),
            None,
        )),
    }
}

#[allow(clippy::too_many_arguments)]
async fn decide(
    ctx: &Arc<Context>,
    obj: &Arc<KustomizationObject>,
    view: &crate::dependencies::DependencyView,
    me: &ObjectKey,
    deps: &[(ObjectKey, bool)],
    source: Result<(String, String), Verdict>,
    new: &mut KustomizationStatus,
    retry: Duration,
    fingerprint: Fingerprint,
) -> Verdict {
    let gaps = unsupported(obj);
    if !gaps.is_empty() {
        return Verdict::stalled(
            reason::UNSUPPORTED,
            format!(
                "not supported by weir yet: {} (remove it, or leave this Kustomization to Flux's kustomize-controller)",
                gaps.join(", ")
            ),
        );
    }
    if let Some(chain) = view.cycle_of(me) {
        return Verdict::stalled(
            reason::DEPENDENCY_CYCLE,
            format!("dependency cycle: {chain}"),
        );
    }
    let missing = view.missing_of(me);
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(ToString::to_string).collect();
        return Verdict::not_ready(
            reason::DEPENDENCY_NOT_READY,
            format!("dependency '{}' not found", names.join("', '")),
            None,
        );
    }
    let ns = me.namespace.as_str();
    if ctx.config.no_cross_namespace_refs
        && let Some((d, _)) = deps.iter().find(|(d, _)| d.namespace != ns)
    {
        return Verdict::stalled(
            reason::ACCESS_DENIED,
            format!("cross-namespace references are not allowed: dependsOn {d}"),
        );
    }
    if let Some((d, _)) = deps.iter().find(|(_, ready)| !ready) {
        return Verdict::not_ready(
            reason::DEPENDENCY_NOT_READY,
            format!("dependency '{d}' is not ready"),
            Some(retry.max(Duration::from_secs(30))),
        );
    }
    let (revision, digest) = match source {
        Ok(s) => s,
        Err(v) => return v,
    };
    new.last_attempted_revision = Some(revision.clone());

    let archive = match digest.parse::<weir_api::Digest>() {
        Ok(d) => ctx.fetcher.blocking().store().path_of(&d),
        Err(e) => {
            return Verdict::not_ready(
                reason::ARTIFACT_FAILED,
                format!("source artifact: {e}"),
                Some(retry),
            );
        }
    };
    let tree = match ctx.trees.get(&digest, &archive).await {
        Ok(t) => t,
        Err(e) => return Verdict::not_ready(reason::ARTIFACT_FAILED, e.to_string(), Some(retry)),
    };
    let vars = match variables(ctx, obj).await {
        Ok(v) => v,
        Err(message) => return Verdict::not_ready(reason::BUILD_FAILED, message, Some(retry)),
    };
    let doc = weir_api::flux::Kustomization {
        api_version: "kustomize.toolkit.fluxcd.io/v1".into(),
        kind: "Kustomization".into(),
        metadata: weir_api::ObjectMeta {
            name: me.name.clone(),
            namespace: Some(me.namespace.clone()),
            labels: obj.metadata.labels.clone().unwrap_or_default(),
            annotations: obj.metadata.annotations.clone().unwrap_or_default(),
        },
        spec: obj.spec.clone(),
    };
    // spec.decryption: the age identities of the decryption Secret (weir-build decrypts).
    let build_opts = match crate::decryption::build_options(ctx, obj).await {
        Ok(o) => o,
        Err(crate::decryption::KeysError::Unsupported(m)) => {
            return Verdict::stalled(reason::UNSUPPORTED, m);
        }
        Err(crate::decryption::KeysError::Failed(m)) => {
            return Verdict::not_ready(reason::BUILD_FAILED, m, Some(retry));
        }
    };
    let manifests = match tokio::task::spawn_blocking(move || {
        // Every read stays inside the artifact tree (symlinks included), as Flux's loader restriction.
        let fs = weir_kustomize::DiskFs::confined(&tree)
            .map_err(|e| format!("artifact tree {}: {e}", tree.display()))?;
        // Paths in the message are relative to the artifact's root, as they are in Git.
        let root = tree.display().to_string();
        weir_build::render(&fs, &tree, &doc, &vars, &build_opts).map_err(|e| {
            e.to_string()
                .replace(&format!("{root}/"), "")
                .replace(&root, ".")
        })
    })
    .await
    {
        Ok(Ok(m)) => m.objects,
        Ok(Err(e)) => {
            return Verdict::not_ready(
                reason::BUILD_FAILED,
                format!("build failed at revision {revision}: {e}"),
                Some(retry),
            );
        }
        Err(e) => {
            return Verdict::not_ready(
                reason::BUILD_FAILED,
                format!("build task failed: {e}"),
                Some(retry),
            );
        }
    };
    if let Some(m) = crate::decryption::ciphertext_refusal(&manifests) {
        return Verdict::not_ready(reason::RECONCILIATION_FAILED, m, Some(retry));
    }
    let sa = obj
        .spec
        .service_account_name
        .clone()
        .or_else(|| ctx.config.default_service_account.clone())
        .map(|sa| format!("{ns}/{sa}"));
    let applier = match ctx.applier(sa) {
        Ok(a) => a,
        Err(e) => {
            return Verdict::not_ready(reason::RECONCILIATION_FAILED, e.to_string(), Some(retry));
        }
    };
    let mut opts = weir_apply::Options::new(&me.name, ns);
    opts.prune = obj.spec.prune;
    opts.force = obj.spec.force;
    opts.field_manager = ctx.config.field_manager.clone();
    opts.target_namespace = obj.spec.target_namespace.clone();
    opts.deletion = deletion_of(obj);
    if let Some(t) = obj.spec.timeout {
        opts.timeout = t.as_std();
    }
    let previous = previous_inventory(ctx, obj);
    let plan = match applier
        .plan(manifests, &previous, &ctx.observed, &opts)
        .await
    {
        Ok(p) => p,
        Err(e) => {
            return Verdict::not_ready(
                reason::RECONCILIATION_FAILED,
                format!("dry-run failed at revision {revision}: {}", chain(&e)),
                Some(retry),
            );
        }
    };
    // Record new objects before the first write: a crash mid-apply leaves nothing untracked.
    if let Some(pending) = plan.pending_inventory(&previous) {
        new.inventory = Some(flux_inventory(&pending));
        let api: Api<KustomizationObject> = Api::namespaced(ctx.client.clone(), ns);
        let patch = serde_json::json!({"status": {"inventory": new.inventory}});
        if let Err(e) = api
            .patch_status(&me.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            return Verdict::not_ready(
                reason::RECONCILIATION_FAILED,
                format!("recording the inventory before applying failed: {e}"),
                Some(retry),
            );
        }
    }
    let applied = match applier.apply(&plan, &opts).await {
        Ok(o) => o,
        Err(e) => {
            return Verdict::not_ready(
                reason::RECONCILIATION_FAILED,
                format!("apply failed at revision {revision}: {}", chain(&e)),
                Some(retry),
            );
        }
    };
    let mut inventory = applied.inventory.clone();
    let mut changes = applied.changes.clone();
    if opts.prune && !plan.stale.is_empty() {
        match applier.prune(&plan.stale, &opts).await {
            Ok(pruned) => {
                for id in &pruned.keep_recording {
                    if let Some(e) = previous.entries.get(id) {
                        inventory.entries.insert(id.clone(), e.clone());
                    }
                }
                changes.extend(pruned.changes);
            }
            Err(e) => {
                new.inventory = Some(flux_inventory(&previous.union(&inventory)));
                return Verdict::not_ready(
                    reason::PRUNE_FAILED,
                    format!("prune failed at revision {revision}: {}", chain(&e)),
                    Some(retry),
                );
            }
        }
    }
    remember_inventory(ctx, obj, &inventory);
    ctx.observed.watch(ctx, &inventory.objects());
    let mut lines: Vec<String> = Vec::new();
    let mut live_objects = Vec::new();
    for change in &changes {
        let o = &change.object;
        let shown = shown(o);
        match &change.action {
            weir_apply::Action::Pruned => lines.push(format!("{shown} deleted")),
            weir_apply::Action::Kept(_) => {}
            action => {
                live_objects.push(o.clone());
                match action {
                    weir_apply::Action::Created => lines.push(format!("{shown} created")),
                    weir_apply::Action::Configured => lines.push(format!("{shown} configured")),
                    weir_apply::Action::Recreated => lines.push(format!("{shown} recreated")),
                    _ => {}
                }
            }
        }
    }
    new.inventory = Some(flux_inventory(&inventory));
    if !lines.is_empty() {
        ctx.event(
            obj.object_ref(&()),
            false,
            reason::PROGRESSING,
            format!("revision {revision}:\n{}", lines.join("\n")),
        )
        .await;
    }

    // Health: from the watches of the applied objects. A Kustomization still waiting is woken by
    // their events (or at its timeout) and only looks at health again: no plan, no worker held.
    if obj.spec.wait || !obj.spec.health_checks.is_empty() {
        let mut targets: Vec<HealthTarget> = if obj.spec.wait {
            live_objects
                .into_iter()
                .map(|object| HealthTarget {
                    object,
                    owned: true,
                })
                .collect()
        } else {
            Vec::new()
        };
        for hc in &obj.spec.health_checks {
            let (group, version) = hc
                .api_version
                .as_deref()
                .map_or(("", "v1"), weir_api::object_ref::split_api_version);
            let object = weir_apply::ObjectRef {
                group: group.to_string(),
                version: version.to_string(),
                kind: hc.kind.clone(),
                namespace: hc.namespace.clone().or_else(|| Some(ns.to_string())),
                name: hc.name.clone(),
            };
            let owned = inventory.contains(&object);
            targets.push(HealthTarget { object, owned });
        }
        let wait = start_health_wait(ctx, me, &revision, fingerprint, targets);
        match check_health(ctx, obj, &wait, new, retry).await {
            HealthOutcome::Healthy => {}
            HealthOutcome::NotYet(v) => return v,
        }
    } else {
        condition::remove(&mut new.conditions, condition::HEALTHY);
    }
    succeeded(new, &revision)
}

/// Ready at `revision`.
fn succeeded(new: &mut KustomizationStatus, revision: &str) -> Verdict {
    new.last_applied_revision = Some(revision.to_string());
    Verdict {
        ready: Some(true),
        reason: reason::RECONCILIATION_SUCCEEDED,
        message: format!("Applied revision: {revision}"),
        stalled: false,
        retry: None,
    }
}

fn interval_of(obj: &KustomizationObject) -> Duration {
    obj.spec.interval.map_or(DEFAULT_INTERVAL, |d| d.as_std())
}

/// A Kustomization applied at `revision` and waiting for its objects' health.
#[derive(Debug, Clone)]
pub struct HealthWait {
    revision: String,
    started: Instant,
    /// The inputs it was applied with: a reconcile with other inputs runs in full.
    fingerprint: Fingerprint,
    targets: Vec<HealthTarget>,
}

/// An object whose health a Kustomization waits for.
#[derive(Debug, Clone)]
struct HealthTarget {
    object: weir_apply::ObjectRef,
    /// In this Kustomization's inventory, so carrying its owner label: the watches know it.
    owned: bool,
}

/// Registers the wait (keeping its start when it is the same revision: the timeout runs from the
/// first apply of a revision, not from each repair).
fn start_health_wait(
    ctx: &Context,
    me: &ObjectKey,
    revision: &str,
    fingerprint: Fingerprint,
    targets: Vec<HealthTarget>,
) -> HealthWait {
    let mut waits = ctx.health_waits.lock().unwrap_or_else(|e| e.into_inner());
    let started = waits
        .get(me)
        .filter(|w| w.revision == revision)
        .map_or_else(Instant::now, |w| w.started);
    let wait = HealthWait {
        revision: revision.to_string(),
        started,
        fingerprint,
        targets,
    };
    waits.insert(me.clone(), wait.clone());
    wait
}

/// The wait of `me` if it was registered with these inputs.
fn health_wait_for(ctx: &Context, me: &ObjectKey, fingerprint: Fingerprint) -> Option<HealthWait> {
    ctx.health_waits
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(me)
        .filter(|w| w.fingerprint == fingerprint)
        .cloned()
}

fn clear_health_wait(ctx: &Context, obj: &KustomizationObject) {
    ctx.health_waits
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&key_of(obj));
}

/// A reconcile of a Kustomization waiting for health with unchanged inputs: only health is looked
/// at again.
async fn await_health(
    ctx: &Context,
    obj: &KustomizationObject,
    wait: HealthWait,
    new: &mut KustomizationStatus,
    retry: Duration,
) -> Verdict {
    new.last_attempted_revision = Some(wait.revision.clone());
    match check_health(ctx, obj, &wait, new, retry).await {
        HealthOutcome::Healthy => succeeded(new, &wait.revision),
        HealthOutcome::NotYet(v) => v,
    }
}

enum HealthOutcome {
    Healthy,
    NotYet(Verdict),
}

/// Evaluates the wait's targets and sets the `Healthy` condition; ends the wait unless still waiting.
async fn check_health(
    ctx: &Context,
    obj: &KustomizationObject,
    wait: &HealthWait,
    new: &mut KustomizationStatus,
    retry: Duration,
) -> HealthOutcome {
    let timeout = obj.spec.timeout.map_or(interval_of(obj), |d| d.as_std());
    let revision = &wait.revision;
    match unhealthy(ctx, &wait.targets).await {
        Ok(Health::All) => {
            condition::set(
                &mut new.conditions,
                condition::new(
                    condition::HEALTHY,
                    true,
                    reason::SUCCEEDED,
                    "all objects are healthy",
                ),
                &now_rfc3339(),
            );
            clear_health_wait(ctx, obj);
            HealthOutcome::Healthy
        }
        Ok(Health::Waiting {
            what,
            why,
            failed,
            polled,
        }) => {
            let elapsed = wait.started.elapsed();
            if failed || elapsed >= timeout {
                let msg = format!("health check of {what}: {why}");
                condition::set(
                    &mut new.conditions,
                    condition::new(condition::HEALTHY, false, reason::HEALTH_CHECK_FAILED, &msg),
                    &now_rfc3339(),
                );
                clear_health_wait(ctx, obj);
                let after = if failed {
                    String::new()
                } else {
                    format!(" after {}", weir_api::Duration::from_std(timeout))
                };
                return HealthOutcome::NotYet(Verdict::not_ready(
                    reason::HEALTH_CHECK_FAILED,
                    format!("health check failed{after}: {what}: {why}"),
                    Some(retry),
                ));
            }
            // The message names the object, not its progress, so status is written when the
            // object waited for changes, not at every step of a rollout.
            let msg = format!("waiting for {what} to become healthy");
            let mut c = condition::new(condition::HEALTHY, false, reason::PROGRESSING, &msg);
            c.status = "Unknown".into();
            condition::set(&mut new.conditions, c, &now_rfc3339());
            let left = timeout
                .saturating_sub(elapsed)
                .max(Duration::from_millis(100));
            HealthOutcome::NotYet(Verdict {
                ready: None,
                reason: reason::PROGRESSING,
                message: format!("applied revision {revision}, {msg}"),
                stalled: false,
                // Objects read by GET (no watch for them yet) are looked at again shortly; the
                // others wake it by their events, and the timeout bounds the wait.
                retry: Some(if polled { HEALTH_POLL.min(left) } else { left }),
            })
        }
        Err(e) => {
            clear_health_wait(ctx, obj);
            HealthOutcome::NotYet(Verdict::not_ready(
                reason::HEALTH_CHECK_FAILED,
                e,
                Some(retry),
            ))
        }
    }
}

/// Health of a set of objects.
enum Health {
    All,
    /// The first object not healthy, why, whether it failed for good, and whether some object was
    /// read from the API (no watch knows it yet).
    Waiting {
        what: String,
        why: String,
        failed: bool,
        polled: bool,
    },
}

async fn unhealthy(ctx: &Context, targets: &[HealthTarget]) -> Result<Health, String> {
    let mut polled = false;
    for t in targets {
        let observed = if t.owned {
            ctx.observed.observe(&t.object)
        } else {
            Observation::Unknown
        };
        let health = match observed {
            Observation::Present(h) => Some(h),
            Observation::Absent => None,
            Observation::Unknown => {
                polled = true;
                read_health(ctx, &t.object).await?
            }
        };
        let (why, failed) = match health {
            Some(weir_apply::HealthStatus::Current) => continue,
            None => ("not found".to_string(), false),
            Some(weir_apply::HealthStatus::InProgress(why)) => (why, false),
            Some(weir_apply::HealthStatus::Failed(why)) => (why, true),
        };
        return Ok(Health::Waiting {
            what: shown(&t.object),
            why,
            failed,
            polled,
        });
    }
    Ok(Health::All)
}

/// The health of one object read from the API (`None`: not found).
async fn read_health(
    ctx: &Context,
    t: &weir_apply::ObjectRef,
) -> Result<Option<weir_apply::HealthStatus>, String> {
    let gvk = kube::api::GroupVersionKind::gvk(&t.group, &t.version, &t.kind);
    let (ar, scope) = ctx
        .resolve_kind(&gvk)
        .await
        .map_err(|e| format!("{} {}: kind not served: {e}", t.kind, t.name))?;
    let api: Api<kube::api::DynamicObject> = match (&t.namespace, scope) {
        (Some(ns), kube::discovery::Scope::Namespaced) => {
            Api::namespaced_with(ctx.client.clone(), ns, &ar)
        }
        _ => Api::all_with(ctx.client.clone(), &ar),
    };
    let live = api
        .get_opt(&t.name)
        .await
        .map_err(|e| format!("{}: {e}", shown(t)))?;
    let Some(live) = live else {
        return Ok(None);
    };
    let value = serde_json::to_value(&live).map_err(|e| e.to_string())?;
    Ok(Some(weir_apply::health::evaluate(&value)))
}

/// `postBuild` variables: the `substituteFrom` objects read from the cluster, in order, then
/// weir-build's precedence (inline `substitute` last, `optional` honoured). Values are never logged.
async fn variables(
    ctx: &Context,
    obj: &KustomizationObject,
) -> Result<weir_build::Variables, String> {
    let pb = obj.spec.post_build.as_ref();
    let ns = obj.metadata.namespace.as_deref().unwrap_or_default();
    let mut found = Vec::new();
    for from in pb.map(|p| p.substitute_from.as_slice()).unwrap_or_default() {
        let value = match from.kind.as_str() {
            "ConfigMap" => {
                let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
                api.get_opt(&from.name)
                    .await
                    .map_err(|e| format!("reading ConfigMap {ns}/{}: {e}", from.name))?
                    .map(|o| serde_json::to_value(o).unwrap_or_default())
            }
            "Secret" => {
                let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
                api.get_opt(&from.name)
                    .await
                    .map_err(|e| format!("reading Secret {ns}/{}: {e}", from.name))?
                    .map(|o| serde_json::to_value(o).unwrap_or_default())
            }
            // weir-build names the bad kind in its error.
            _ => None,
        };
        found.push(value);
    }
    weir_build::variables::from_objects(pb, &found).map_err(|e| e.to_string())
}

async fn ensure_finalizer(ctx: &Context, obj: &KustomizationObject) {
    let has = obj
        .metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|x| x == FINALIZER));
    if has {
        return;
    }
    let ns = obj.metadata.namespace.as_deref().unwrap_or_default();
    let name = obj.metadata.name.as_deref().unwrap_or_default();
    let api: Api<KustomizationObject> = Api::namespaced(ctx.client.clone(), ns);
    let mut finalizers = obj.metadata.finalizers.clone().unwrap_or_default();
    finalizers.push(FINALIZER.to_string());
    let patch = serde_json::json!({"metadata": {"finalizers": finalizers, "resourceVersion": obj.metadata.resource_version}});
    if let Err(e) = api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        tracing::warn!(namespace = ns, name, error = %e, "adding the finalizer failed");
    }
}

/// A Kustomization being deleted: prune what it applied (unless `prune: false` or
/// `deletionPolicy: Orphan`), then let it go.
async fn finalize(ctx: &Arc<Context>, obj: &KustomizationObject) {
    let ns = obj.metadata.namespace.clone().unwrap_or_default();
    let name = obj.metadata.name.clone().unwrap_or_default();
    let has = obj
        .metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|x| x == FINALIZER));
    if !has {
        return;
    }
    let policy = obj.spec.deletion_policy.as_deref().unwrap_or("MirrorPrune");
    let prune = match policy {
        "Delete" | "WaitForTermination" => true,
        "Orphan" => false,
        _ => obj.spec.prune,
    };
    if prune && !obj.spec.suspend {
        let sa = obj
            .spec
            .service_account_name
            .clone()
            .or_else(|| ctx.config.default_service_account.clone())
            .map(|sa| format!("{ns}/{sa}"));
        let previous = previous_inventory(ctx, obj);
        let result = match ctx.applier(sa) {
            Ok(applier) => {
                let mut opts = weir_apply::Options::new(&name, &ns);
                opts.prune = true;
                opts.deletion = deletion_of(obj);
                opts.field_manager = ctx.config.field_manager.clone();
                applier
                    .prune(&previous.objects(), &opts)
                    .await
                    .map(|_| ())
                    .map_err(|e| chain(&e))
            }
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!(kind = "Kustomization", namespace = %ns, name = %name, error = %e, "prune on deletion failed; will retry");
            ctx.enqueue_at(
                Key::new(crate::Kind::Kustomization, &ns, &name),
                Instant::now() + Duration::from_secs(5),
            );
            return;
        }
        ctx.event(
            obj.object_ref(&()),
            false,
            "Pruned",
            "deleted the objects of this Kustomization".into(),
        )
        .await;
    }
    let api: Api<KustomizationObject> = Api::namespaced(ctx.client.clone(), &ns);
    let finalizers: Vec<String> = obj
        .metadata
        .finalizers
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f != FINALIZER)
        .collect();
    let patch = serde_json::json!({"metadata": {"finalizers": finalizers, "resourceVersion": obj.metadata.resource_version}});
    if let Err(e) = api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        tracing::warn!(namespace = %ns, name = %name, error = %e, "removing the finalizer failed");
    }
}

/// Flux's `deletionPolicy` as weir-apply's deletion mode.
fn deletion_of(obj: &KustomizationObject) -> weir_apply::Deletion {
    match obj.spec.deletion_policy.as_deref() {
        Some("WaitForTermination") => weir_apply::Deletion::WaitForTermination,
        Some("Orphan") => weir_apply::Deletion::Orphan,
        _ => weir_apply::Deletion::Background,
    }
}

/// The inventory of the last apply: the in-memory copy (with manifest digests, so an unchanged
/// object costs no dry-run) when it matches status, else `status.inventory` (Flux's, after a
/// restart or a takeover).
fn previous_inventory(ctx: &Context, obj: &KustomizationObject) -> weir_apply::Inventory {
    let from_status: weir_apply::Inventory = obj
        .status
        .as_ref()
        .and_then(|s| s.inventory.as_ref())
        .and_then(|i| serde_json::to_value(i).ok())
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let key = key_of(obj);
    let remembered = ctx
        .inventories
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .cloned();
    match remembered {
        Some(inv) if inv.without_digests() == from_status.without_digests() => inv,
        _ => from_status,
    }
}

fn remember_inventory(ctx: &Context, obj: &KustomizationObject, inventory: &weir_apply::Inventory) {
    ctx.inventories
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key_of(obj), inventory.clone());
}

/// Flux's form of an inventory (`{entries: [{id, v}]}`, no digests).
fn flux_inventory(inv: &weir_apply::Inventory) -> ResourceInventory {
    ResourceInventory {
        entries: inv
            .entries
            .iter()
            .map(|(id, e)| ResourceRef {
                id: id.to_string(),
                v: e.version.clone(),
            })
            .collect(),
    }
}

/// An error with its causes (`read ConfigMap ns/a: ... forbidden: User "..." cannot get ...`), so a
/// status message says why, not only what.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
