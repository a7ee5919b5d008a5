//! `doctor`: the whole installation in one report, most severe first.

use std::collections::BTreeMap;

use serde::Serialize;
use weir_api::condition;
use weir_api::{InventoryId, ObjectKey};
use weir_graph::DependencyGraph;

use crate::snapshot::{Snapshot, age, key_of, ready, text};
use crate::source::{SourceCause, classify, host_of};
use crate::stale;
use crate::why::{Ctx, Kind, why_in};

/// How bad a finding is; findings are sorted by it, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Stable kebab-case code: `dependency-cycle`, `claimed-twice`, `missing-live`, `stale`,
    /// `source-failing`, `failing`, `controller-unavailable`.
    pub code: String,
    /// The objects concerned, `Kind namespace/name`.
    pub objects: Vec<String>,
    pub message: String,
    pub advice: String,
}

/// Artifact bytes and the shortest interval of one namespace's sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub namespace: String,
    pub sources: usize,
    pub artifact_bytes: i64,
    pub shortest_interval_secs: i64,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub findings: Vec<Finding>,
    /// Namespaces by artifact bytes, largest first (at most 5).
    pub tenants: Vec<Tenant>,
    /// What this report cannot say from the objects' status alone.
    pub not_available: Vec<String>,
}

impl Report {
    pub fn healthy(&self) -> bool {
        self.findings.is_empty()
    }
}

fn ks_label(k: &ObjectKey) -> String {
    format!("Kustomization {k}")
}

/// The report of `snap`.
pub fn doctor(snap: &Snapshot) -> Report {
    let mut findings = Vec::new();
    dependency_findings(snap, &mut findings);
    claimed_twice(snap, &mut findings);
    missing_live(snap, &mut findings);
    controller(snap, &mut findings);
    sources(snap, &mut findings);
    failing(snap, &mut findings);
    stale_findings(snap, &mut findings);
    // Stable: severity first, then the order the checks ran in (most severe kinds first).
    findings.sort_by_key(|f| f.severity);
    Report {
        findings,
        tenants: tenants(snap),
        not_available: vec![
            "per-host request budgets and rate-limit resets (the controller does not publish them yet)".into(),
            "queue waits and reconcile time per tenant (the controller does not publish them yet)".into(),
            "fetch bytes per source (the controller does not publish them yet)".into(),
        ],
    }
}

fn dependency_findings(snap: &Snapshot, out: &mut Vec<Finding>) {
    let mut g = DependencyGraph::new();
    for k in &snap.kustomizations {
        let me = key_of(&k.metadata);
        let deps: Vec<ObjectKey> = k
            .spec
            .depends_on
            .iter()
            .map(|d| {
                ObjectKey::new(
                    d.namespace.clone().unwrap_or_else(|| me.namespace.clone()),
                    &d.name,
                )
            })
            .collect();
        g.add(me, deps);
    }
    for c in g.cycles() {
        out.push(Finding {
            severity: Severity::Error,
            code: "dependency-cycle".into(),
            objects: c.0.iter().skip(1).map(ks_label).collect(),
            message: format!("dependency cycle: {c}"),
            advice: "remove one dependsOn entry of the cycle; none of its members can become Ready"
                .into(),
        });
    }
    for m in g.missing() {
        out.push(Finding {
            severity: Severity::Error,
            code: "dependency-missing".into(),
            objects: vec![ks_label(&m.dependant)],
            message: format!(
                "{} depends on Kustomization {}, which does not exist",
                ks_label(&m.dependant),
                m.missing
            ),
            advice: format!("create Kustomization {}, or fix spec.dependsOn", m.missing),
        });
    }
}

/// Inventory ids (without version) claimed by more than one Kustomization.
fn claimed_twice(snap: &Snapshot, out: &mut Vec<Finding>) {
    let mut claims: BTreeMap<InventoryId, Vec<ObjectKey>> = BTreeMap::new();
    for k in &snap.kustomizations {
        let me = key_of(&k.metadata);
        let entries = k.status.as_ref().and_then(|s| s.inventory.as_ref());
        for e in entries.map(|i| i.entries.as_slice()).unwrap_or_default() {
            if let Ok(id) = e.id.parse::<InventoryId>() {
                let owners = claims.entry(id).or_default();
                if !owners.contains(&me) {
                    owners.push(me.clone());
                }
            }
        }
    }
    for (id, owners) in claims.into_iter().filter(|(_, o)| o.len() > 1) {
        let object = if id.namespace.is_empty() {
            format!("{} {}", id.kind, id.name)
        } else {
            format!("{} {}/{}", id.kind, id.namespace, id.name)
        };
        let last = snap
            .live
            .get(&id.group, &id.kind, &id.namespace, &id.name)
            .and_then(|o| {
                let name = text(o, "/metadata/labels/kustomize.toolkit.fluxcd.io~1name")?;
                let ns = text(o, "/metadata/labels/kustomize.toolkit.fluxcd.io~1namespace")?;
                Some(format!("; the live object's owner labels name Kustomization {ns}/{name} (the last to apply it)"))
            })
            .unwrap_or_default();
        let names: Vec<String> = owners.iter().map(ks_label).collect();
        out.push(Finding {
            severity: Severity::Error,
            code: "claimed-twice".into(),
            objects: std::iter::once(object.clone()).chain(names.iter().cloned()).collect(),
            message: format!("{object} is applied by {}{last}", names.join(" and ")),
            advice: "keep the object in one Kustomization's path only; the two overwrite each other and one may prune it".into(),
        });
    }
}

/// Ready Kustomizations whose applied objects are missing live (of the kinds listed).
fn missing_live(snap: &Snapshot, out: &mut Vec<Finding>) {
    for k in &snap.kustomizations {
        let status = k.status.clone().unwrap_or_default();
        if !condition::is_true(&status.conditions, condition::READY) {
            continue;
        }
        let me = key_of(&k.metadata);
        let mut missing = Vec::new();
        for e in status.inventory.map(|i| i.entries).unwrap_or_default() {
            let Ok(id) = e.id.parse::<InventoryId>() else {
                continue;
            };
            if snap.live.listed(&id.group, &id.kind)
                && snap
                    .live
                    .get(&id.group, &id.kind, &id.namespace, &id.name)
                    .is_none()
            {
                missing.push(if id.namespace.is_empty() {
                    format!("{} {}", id.kind, id.name)
                } else {
                    format!("{} {}/{}", id.kind, id.namespace, id.name)
                });
            }
        }
        if !missing.is_empty() {
            out.push(Finding {
                severity: Severity::Error,
                code: "missing-live".into(),
                objects: std::iter::once(ks_label(&me)).chain(missing.iter().cloned()).collect(),
                message: format!("{} is Ready but {} of its objects are not in the cluster: {}", ks_label(&me), missing.len(), missing.join(", ")),
                advice: format!("`weir reconcile ks {} -n {}` re-applies them; if they vanish again, `weir events` shows what deletes them", me.name, me.namespace),
            });
        }
    }
}

fn controller(snap: &Snapshot, out: &mut Vec<Finding>) {
    let Some(ctrls) = &snap.controllers else {
        return;
    };
    for d in ctrls {
        let want = d
            .pointer("/spec/replicas")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(1);
        let available = d
            .pointer("/status/availableReplicas")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        if want > 0 && available == 0 {
            let label = crate::live::label(d);
            out.push(Finding {
                severity: Severity::Error,
                code: "controller-unavailable".into(),
                objects: vec![label.clone()],
                message: format!("{label} has no available replica"),
                advice: format!("nothing is reconciled while it is down: `weir why` cannot see pods of it, see `kubectl describe` of {label}"),
            });
        }
    }
}

/// Failing sources grouped by cause and host.
fn sources(snap: &Snapshot, out: &mut Vec<Finding>) {
    let mut groups: BTreeMap<(String, String), (SourceCause, Vec<String>, String)> =
        BTreeMap::new();
    for g in &snap.git_repositories {
        if g.spec.suspend {
            continue;
        }
        let status = g.status.clone().unwrap_or_default();
        let Some(rc) = ready(&status.conditions) else {
            continue;
        };
        if rc.is_true() || rc.reason == condition::reason::PROGRESSING {
            continue;
        }
        let cause = classify(&rc.reason, &rc.message);
        let host = host_of(&g.spec.url);
        let entry = groups
            .entry((cause.code().to_string(), host.clone()))
            .or_insert_with(|| {
                (
                    cause.clone(),
                    Vec::new(),
                    rc.message.lines().next().unwrap_or("").to_string(),
                )
            });
        entry
            .1
            .push(format!("GitRepository {}", key_of(&g.metadata)));
    }
    for ((code, host), (cause, objects, example)) in groups {
        let what = if objects.len() == 1 {
            objects[0].clone()
        } else {
            format!("{} GitRepositories", objects.len())
        };
        out.push(Finding {
            severity: Severity::Error,
            code: "source-failing".into(),
            message: format!("{what} on {host} fail: {code} (e.g. {example})"),
            advice: cause.advice(&what, &host, None),
            objects,
        });
    }
}

/// Not-ready Kustomizations whose cause is not a failing source (reported grouped above) nor a
/// dependency problem (reported as such).
fn failing(snap: &Snapshot, out: &mut Vec<Finding>) {
    let cx = Ctx::new(snap);
    for k in &snap.kustomizations {
        let status = k.status.clone().unwrap_or_default();
        if k.spec.suspend || condition::is_true(&status.conditions, condition::READY) {
            continue;
        }
        let key = key_of(&k.metadata);
        // Waiting on a dependency that is not ready: the dependency's own finding says why (and
        // walking every chain from every dependant would cost the square of its length).
        let waits = k.spec.depends_on.iter().any(|d| {
            let dk = ObjectKey::new(
                d.namespace.clone().unwrap_or_else(|| key.namespace.clone()),
                &d.name,
            );
            cx.kustomization(&dk).is_some_and(|dep| {
                !dep.status
                    .as_ref()
                    .is_some_and(|s| condition::is_true(&s.conditions, condition::READY))
            })
        });
        if waits {
            continue;
        }
        let d = why_in(&cx, Kind::Kustomization, &key);
        let Some(cause) = d.cause else { continue };
        let skip = cause.code.starts_with("source-")
            || cause.code.starts_with("dependency-")
            || cause.code == "stale"
            || d.steps
                .iter()
                .any(|s| s.depth > 0 && s.object.starts_with("Kustomization "));
        if skip {
            continue;
        }
        let last = d
            .steps
            .last()
            .map(|s| format!("{}: {}", s.object, s.state))
            .unwrap_or_default();
        out.push(Finding {
            severity: Severity::Warning,
            code: "failing".into(),
            objects: vec![ks_label(&key)],
            message: format!("{} is not ready: {} ({last})", ks_label(&key), cause.code),
            advice: cause.advice,
        });
    }
}

fn stale_findings(snap: &Snapshot, out: &mut Vec<Finding>) {
    for k in &snap.kustomizations {
        if let Some(s) = stale::kustomization(snap, k) {
            let key = key_of(&k.metadata);
            out.push(Finding {
                severity: Severity::Warning,
                code: "stale".into(),
                objects: vec![ks_label(&key)],
                message: format!(
                    "{}: {} waiting for {} (interval {})",
                    ks_label(&key),
                    s.what,
                    age(s.waiting_secs),
                    age(stale::ks_interval(k))
                ),
                advice: s.likely,
            });
        }
    }
    for g in &snap.git_repositories {
        if let Some(s) = stale::git_repository(snap, g) {
            let key = key_of(&g.metadata);
            out.push(Finding {
                severity: Severity::Warning,
                code: "stale".into(),
                objects: vec![format!("GitRepository {key}")],
                message: format!(
                    "GitRepository {key}: {} waiting for {}",
                    s.what,
                    age(s.waiting_secs)
                ),
                advice: s.likely,
            });
        }
    }
}

fn tenants(snap: &Snapshot) -> Vec<Tenant> {
    let mut by_ns: BTreeMap<String, Tenant> = BTreeMap::new();
    for g in &snap.git_repositories {
        let key = key_of(&g.metadata);
        let size = g
            .status
            .as_ref()
            .and_then(|s| s.artifact.as_ref())
            .and_then(|a| a.size)
            .unwrap_or(0);
        let interval = g.spec.interval.map_or(600, |d| {
            i64::try_from(d.as_std().as_secs()).unwrap_or(i64::MAX)
        });
        let t = by_ns.entry(key.namespace.clone()).or_insert(Tenant {
            namespace: key.namespace,
            sources: 0,
            artifact_bytes: 0,
            shortest_interval_secs: i64::MAX,
        });
        t.sources += 1;
        t.artifact_bytes += size;
        t.shortest_interval_secs = t.shortest_interval_secs.min(interval);
    }
    let mut v: Vec<Tenant> = by_ns.into_values().collect();
    v.sort_by(|a, b| {
        b.artifact_bytes
            .cmp(&a.artifact_bytes)
            .then(a.namespace.cmp(&b.namespace))
    });
    v.truncate(5);
    v
}
