//! Staleness: an object that has not handled a change (a new source revision, a new generation, a
//! reconcile request) for longer than twice its interval, or has been Reconciling past its timeout.
//!
//! # Limitations
//! Neither Flux nor weir publishes the time of the last reconcile that changed nothing, so an object
//! with no pending change is never called stale here, however long ago it last ran.

use serde::Serialize;
use weir_api::condition::{self, Condition, reason};
use weir_api::flux::{GitRepositoryObject, KustomizationObject};

use crate::snapshot::{Snapshot, age, key_of, last_spec_write, parse_time};

/// Flux's annotation asking for a reconcile now.
pub const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";
/// The interval assumed when an object has none (Flux requires one).
const DEFAULT_INTERVAL: i64 = 600;

/// Why an object counts as stale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stale {
    /// Seconds the change has been waiting.
    pub waiting_secs: i64,
    /// The change not handled, e.g. `source revision main@sha1:… (published 25m ago)`.
    pub what: String,
    /// The likely reason, e.g. `suspended`.
    pub likely: String,
}

fn interval_of(d: Option<weir_api::Duration>) -> i64 {
    d.map(|d| i64::try_from(d.as_std().as_secs()).unwrap_or(i64::MAX))
        .filter(|s| *s > 0)
        .unwrap_or(DEFAULT_INTERVAL)
}

/// The Kustomization's interval in seconds.
pub fn ks_interval(k: &KustomizationObject) -> i64 {
    interval_of(k.spec.interval)
}

/// The pending changes of an object with these facts, oldest first: (seconds waiting, what).
fn pending(
    now: i64,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    observed_generation: Option<i64>,
    last_handled: Option<&str>,
    conditions: &[Condition],
) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let generation = meta.generation.unwrap_or(0);
    if generation > observed_generation.unwrap_or(0)
        && let Some(t) = last_spec_write(meta)
    {
        out.push((
            now - t,
            format!(
                "generation {generation} (observed: {})",
                observed_generation.map_or_else(|| "none".to_string(), |g| g.to_string())
            ),
        ));
    }
    let requested = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(REQUESTED_AT))
        .filter(|r| !r.is_empty());
    if let Some(r) = requested
        && Some(r.as_str()) != last_handled
    {
        let t = parse_time(r).or_else(|| last_spec_write(meta));
        if let Some(t) = t {
            out.push((now - t, format!("reconcile request of {r}")));
        }
    }
    if let Some(c) = condition::find(conditions, condition::RECONCILING).filter(|c| c.is_true())
        && let Some(t) = parse_time(&c.last_transition_time)
    {
        out.push((
            now - t,
            format!("reconciling since {}", c.last_transition_time),
        ));
    }
    out
}

/// The staleness of a Kustomization, with its likely reason; `None` when it is current.
pub fn kustomization(snap: &Snapshot, k: &KustomizationObject) -> Option<Stale> {
    let interval = ks_interval(k);
    let status = k.status.clone().unwrap_or_default();
    let mut waits = pending(
        snap.now,
        &k.metadata,
        status.observed_generation,
        status.last_handled_reconcile_at.as_deref(),
        &status.conditions,
    );
    // A Reconciling condition is stale past the timeout (default: the interval), not 2x interval.
    let timeout = k.spec.timeout.map_or(interval, |t| interval_of(Some(t)));
    if let Some(src) = source_of(snap, k)
        && let Some(a) = src.status.as_ref().and_then(|s| s.artifact.as_ref())
        && status.last_attempted_revision.as_deref() != Some(a.revision.as_str())
        && status.last_applied_revision.as_deref() != Some(a.revision.as_str())
        && let Some(t) = parse_time(&a.last_update_time)
    {
        waits.push((
            snap.now - t,
            format!(
                "source revision {} (published {} ago)",
                a.revision,
                age(snap.now - t)
            ),
        ));
    }
    let (waiting, what) = waits.into_iter().find(|(w, what)| {
        if what.starts_with("reconciling since") {
            *w > timeout
        } else {
            *w > 2 * interval
        }
    })?;
    Some(Stale {
        waiting_secs: waiting,
        what,
        likely: likely(snap, k.spec.suspend, &status.conditions, interval),
    })
}

/// The staleness of a GitRepository.
pub fn git_repository(snap: &Snapshot, g: &GitRepositoryObject) -> Option<Stale> {
    let interval = interval_of(g.spec.interval);
    let status = g.status.clone().unwrap_or_default();
    let waits = pending(
        snap.now,
        &g.metadata,
        status.observed_generation,
        status.last_handled_reconcile_at.as_deref(),
        &status.conditions,
    );
    let (waiting, what) = waits.into_iter().find(|(w, _)| *w > 2 * interval)?;
    Some(Stale {
        waiting_secs: waiting,
        what,
        likely: likely(snap, g.spec.suspend, &status.conditions, interval),
    })
}

/// The GitRepository a Kustomization reads, when it is one and listed.
pub(crate) fn source_of<'a>(
    snap: &'a Snapshot,
    k: &KustomizationObject,
) -> Option<&'a GitRepositoryObject> {
    if k.spec.source_ref.kind != "GitRepository" {
        return None;
    }
    let me = key_of(&k.metadata);
    let ns = k.spec.source_ref.namespace.clone().unwrap_or(me.namespace);
    snap.git_repository(&weir_api::ObjectKey::new(ns, &k.spec.source_ref.name))
}

/// The likely reason an object did not handle a change.
fn likely(snap: &Snapshot, suspended: bool, conditions: &[Condition], interval: i64) -> String {
    if suspended {
        return "suspended (spec.suspend: true)".into();
    }
    if let Some(r) = condition::find(conditions, condition::READY)
        && r.reason == reason::DEPENDENCY_NOT_READY
    {
        return format!("waiting on a dependency: {}", r.message);
    }
    if let Some(controllers) = &snap.controllers {
        let available = controllers.iter().any(|d| {
            d.pointer("/status/availableReplicas")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(0)
                > 0
        });
        if !controllers.is_empty() && !available {
            return "the controller Deployment has no available replica".into();
        }
    }
    match snap.last_controller_write() {
        None => "no controller has written any status: is a controller running?".into(),
        Some(t) if snap.now - t > 2 * interval => format!(
            "no controller has written any status for {}: is the controller running?",
            age(snap.now - t)
        ),
        Some(t) => format!(
            "the controller is running (last status write {} ago) but has not handled this object: a queue backlog or a stuck reconcile (queue waits: not available)",
            age(snap.now - t)
        ),
    }
}
