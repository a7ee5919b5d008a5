//! One row per Flux object for `weir get`: readiness, revisions, age of the current state,
//! staleness, suspension and the first line of the failing message.

use serde::Serialize;
use weir_api::condition;
use weir_api::flux::{GitRepositoryObject, KustomizationObject};

use crate::snapshot::{Snapshot, key_of, parse_time, ready};
use crate::stale;

/// A row of `weir get`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    /// `True`, `False` or `Unknown` (no condition yet).
    pub ready: String,
    pub reason: String,
    pub suspended: bool,
    /// The revision applied (Kustomization) or fetched (source).
    pub revision: Option<String>,
    /// The source's current revision, for a Kustomization; `None` for sources.
    pub source_revision: Option<String>,
    /// Applied and source revisions differ.
    pub revision_behind: bool,
    /// Seconds since the Ready condition took its current value.
    pub state_age_secs: Option<i64>,
    /// Seconds since it last became Ready (when it is Ready now).
    pub ready_for_secs: Option<i64>,
    pub interval_secs: i64,
    /// What change has waited longer than twice the interval, when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale: Option<stale::Stale>,
    /// The first line of the Ready message.
    pub message: String,
}

impl Row {
    /// Whether `ready=VALUE` (the `--status-selector`) matches: `true`, `false` or `unknown`.
    pub fn ready_is(&self, value: &str) -> bool {
        self.ready.eq_ignore_ascii_case(value)
    }
}

fn ready_fields(
    conditions: &[condition::Condition],
    now: i64,
) -> (String, String, Option<i64>, String) {
    match ready(conditions) {
        Some(c) => (
            c.status.clone(),
            c.reason.clone(),
            parse_time(&c.last_transition_time).map(|t| now - t),
            c.message.lines().next().unwrap_or("").trim().to_string(),
        ),
        None => ("Unknown".into(), String::new(), None, String::new()),
    }
}

/// The row of a Kustomization.
pub fn kustomization(snap: &Snapshot, k: &KustomizationObject) -> Row {
    let key = key_of(&k.metadata);
    let status = k.status.clone().unwrap_or_default();
    let (ready, reason, state_age, message) = ready_fields(&status.conditions, snap.now);
    let source_revision = stale::source_of(snap, k)
        .and_then(|g| g.status.as_ref())
        .and_then(|s| s.artifact.as_ref())
        .map(|a| a.revision.clone());
    let revision = status.last_applied_revision.clone();
    let revision_behind = matches!((&revision, &source_revision), (Some(a), Some(s)) if a != s);
    Row {
        kind: "Kustomization",
        namespace: key.namespace,
        name: key.name,
        ready_for_secs: state_age.filter(|_| ready == "True"),
        ready,
        reason,
        suspended: k.spec.suspend,
        revision,
        source_revision,
        revision_behind,
        state_age_secs: state_age,
        interval_secs: stale::ks_interval(k),
        stale: stale::kustomization(snap, k),
        message,
    }
}

/// The row of a GitRepository.
pub fn git_repository(snap: &Snapshot, g: &GitRepositoryObject) -> Row {
    let key = key_of(&g.metadata);
    let status = g.status.clone().unwrap_or_default();
    let (ready, reason, state_age, message) = ready_fields(&status.conditions, snap.now);
    Row {
        kind: "GitRepository",
        namespace: key.namespace,
        name: key.name,
        ready_for_secs: state_age.filter(|_| ready == "True"),
        ready,
        reason,
        suspended: g.spec.suspend,
        revision: status.artifact.as_ref().map(|a| a.revision.clone()),
        source_revision: None,
        revision_behind: false,
        state_age_secs: state_age,
        interval_secs: g.spec.interval.map_or(600, |d| {
            i64::try_from(d.as_std().as_secs()).unwrap_or(i64::MAX)
        }),
        stale: stale::git_repository(snap, g),
        message,
    }
}

/// Rows of every listed object of the kinds asked for, sources first, each sorted by namespace and
/// name.
pub fn rows(snap: &Snapshot, sources: bool, kustomizations: bool) -> Vec<Row> {
    let mut out = Vec::new();
    if sources {
        let mut rs: Vec<Row> = snap
            .git_repositories
            .iter()
            .map(|g| git_repository(snap, g))
            .collect();
        rs.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        out.extend(rs);
    }
    if kustomizations {
        let mut rs: Vec<Row> = snap
            .kustomizations
            .iter()
            .map(|k| kustomization(snap, k))
            .collect();
        rs.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        out.extend(rs);
    }
    out
}
