//! `why`: from a Kustomization or GitRepository to the first thing actually wrong.
//!
//! The order follows the controller's: suspension, dependencies (cycle, missing, not ready, recursing
//! into the dependency's own why), the source, then the failing step named by the Ready condition
//! (build, apply), then the health of what was applied (down to container states), then staleness.
//! Only the Flux-compatible status is read, so the answer is the same on a cluster run by Flux.

use std::collections::{BTreeMap, BTreeSet};

use weir_api::condition::{self, reason};
use weir_api::flux::{GitRepositoryObject, KustomizationObject};
use weir_api::{InventoryId, ObjectKey, suggest};
use weir_graph::DependencyGraph;

use crate::chain::{Cause, Diagnosis, Step};
use crate::snapshot::{Snapshot, key_of, ready};
use crate::source::{classify, host_of};
use crate::{live, stale};

/// The kinds `why` follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Kustomization,
    GitRepository,
}

impl Kind {
    /// Parses `ks`, `kustomization`, `gitrepo`, `gitrepository`, `GitRepository` (any case).
    pub fn parse(s: &str) -> Option<Kind> {
        match s.to_ascii_lowercase().as_str() {
            "ks" | "kustomization" | "kustomizations" => Some(Kind::Kustomization),
            "gitrepo" | "gitrepository" | "gitrepositories" | "source" => Some(Kind::GitRepository),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Kustomization => "Kustomization",
            Kind::GitRepository => "GitRepository",
        }
    }
}

/// The diagnosis of `kind` `key` in `snap`.
pub fn why(snap: &Snapshot, kind: Kind, key: &ObjectKey) -> Diagnosis {
    why_in(&Ctx::new(snap), kind, key)
}

/// [`why`] over a prepared [`Ctx`] (many answers from one snapshot share its indexes).
pub fn why_in(snap: &Ctx<'_>, kind: Kind, key: &ObjectKey) -> Diagnosis {
    let mut steps = Vec::new();
    let cause = match kind {
        Kind::Kustomization => ks(snap, key, 0, &mut Vec::new(), &mut steps),
        Kind::GitRepository => gitrepo(snap, key, 0, &mut steps),
    };
    Diagnosis {
        target: format!("{} {key}", kind.as_str()),
        ok: cause.is_none(),
        steps,
        cause,
    }
}

fn name_of(kind: &str, key: &ObjectKey) -> String {
    format!("{kind} {key}")
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("").trim()
}

/// A snapshot with the indexes `why` needs: Kustomizations and GitRepositories by key, the
/// dependency graph, its cycles and missing dependencies (built once, then shared by every answer).
pub struct Ctx<'a> {
    snap: &'a Snapshot,
    ks_index: BTreeMap<ObjectKey, &'a KustomizationObject>,
    gr_index: BTreeMap<ObjectKey, &'a GitRepositoryObject>,
    graph: DependencyGraph<ObjectKey>,
    cycles: Vec<weir_graph::Cycle<ObjectKey>>,
    missing: BTreeMap<ObjectKey, Vec<ObjectKey>>,
}

impl<'a> Ctx<'a> {
    pub fn new(snap: &'a Snapshot) -> Ctx<'a> {
        let graph = graph(snap);
        let cycles = graph.cycles();
        let mut missing: BTreeMap<ObjectKey, Vec<ObjectKey>> = BTreeMap::new();
        for m in graph.missing() {
            missing.entry(m.dependant).or_default().push(m.missing);
        }
        Ctx {
            snap,
            ks_index: snap
                .kustomizations
                .iter()
                .map(|k| (key_of(&k.metadata), k))
                .collect(),
            gr_index: snap
                .git_repositories
                .iter()
                .map(|g| (key_of(&g.metadata), g))
                .collect(),
            graph,
            cycles,
            missing,
        }
    }

    /// The Kustomization `namespace/name` (indexed).
    pub fn kustomization(&self, key: &ObjectKey) -> Option<&'a KustomizationObject> {
        self.ks_index.get(key).copied()
    }

    fn git_repository(&self, key: &ObjectKey) -> Option<&'a GitRepositoryObject> {
        self.gr_index.get(key).copied()
    }
}

impl std::ops::Deref for Ctx<'_> {
    type Target = Snapshot;
    fn deref(&self) -> &Snapshot {
        self.snap
    }
}

/// The dependency graph of every listed Kustomization.
fn graph(snap: &Snapshot) -> DependencyGraph<ObjectKey> {
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
    g
}

fn not_found(kind: &str, key: &ObjectKey, known: Vec<&str>) -> Cause {
    let near = suggest::similar(&key.name, known, 3, true);
    let hint = if near.is_empty() {
        String::new()
    } else {
        format!(" (did you mean {}?)", near.join(", "))
    };
    Cause::new(
        "not-found",
        format!("there is no {kind} {key}{hint}; check the name and namespace (-n), or create it"),
    )
}

/// The Kustomization's chain; `None` when nothing is wrong. `visiting` guards dependency recursion.
fn ks(
    snap: &Ctx<'_>,
    key: &ObjectKey,
    depth: usize,
    visiting: &mut Vec<ObjectKey>,
    steps: &mut Vec<Step>,
) -> Option<Cause> {
    let label = name_of("Kustomization", key);
    let Some(k) = snap.kustomization(key) else {
        steps.push(Step::new(depth, &label, "not found"));
        let known = snap
            .kustomizations
            .iter()
            .filter(|k| k.metadata.namespace.as_deref() == Some(key.namespace.as_str()))
            .filter_map(|k| k.metadata.name.as_deref())
            .collect();
        return Some(not_found("Kustomization", key, known));
    };
    visiting.push(key.clone());
    let cause = ks_inner(snap, k, key, &label, depth, visiting, steps);
    visiting.pop();
    cause
}

fn ks_inner(
    snap: &Ctx<'_>,
    k: &KustomizationObject,
    key: &ObjectKey,
    label: &str,
    depth: usize,
    visiting: &mut Vec<ObjectKey>,
    steps: &mut Vec<Step>,
) -> Option<Cause> {
    if k.spec.suspend {
        steps.push(Step::new(depth, label, "suspended"));
        return Some(Cause::new(
            "suspended",
            format!(
                "it is suspended (spec.suspend: true): `weir resume ks {} -n {}`",
                key.name, key.namespace
            ),
        ));
    }
    let status = k.status.clone().unwrap_or_default();
    let ready_c = ready(&status.conditions).cloned();
    let is_ready = ready_c.as_ref().is_some_and(|c| c.is_true());
    let generation_current =
        k.metadata.generation.unwrap_or(0) <= status.observed_generation.unwrap_or(0);
    if !is_ready || !generation_current {
        if let Some(c) = dependencies(snap, k, key, label, depth, visiting, steps) {
            return Some(c);
        }
        if let Some(c) = source(snap, k, key, label, depth, steps) {
            return Some(c);
        }
    }
    if !is_ready {
        if let Some(rc) = &ready_c
            && let Some(c) = failing_step(snap, k, key, label, depth, visiting, rc, steps)
        {
            return Some(c);
        }
        if ready_c.is_none() {
            steps.push(Step::new(depth, label, "no status yet"));
            let stale = stale::kustomization(snap, k);
            return Some(Cause::new(
                "never-reconciled",
                stale.map_or_else(
                    || "no controller has reconciled it yet; wait for its first reconcile".into(),
                    |s| format!("it has never been reconciled: {}", s.likely),
                ),
            ));
        }
    }
    // Ready (or the Ready condition names nothing more precise): what was applied must be there and
    // healthy, and no change may be waiting.
    let mut below = Vec::new();
    if let Some(c) = inventory(snap, k, depth + 1, visiting, &mut below) {
        let state = if is_ready {
            "Ready, but an applied object is not"
        } else {
            "not ready: an applied object is not healthy"
        };
        let rc_msg = ready_c.as_ref().map_or("", |c| first_line(&c.message));
        steps.push(Step::new(depth, label, state).with_detail(rc_msg));
        steps.extend(below);
        return Some(c);
    }
    if let Some(s) = stale::kustomization(snap, k) {
        steps.push(
            Step::new(
                depth,
                label,
                format!(
                    "stale: {} waiting for {}",
                    s.what,
                    crate::snapshot::age(s.waiting_secs)
                ),
            )
            .with_detail(&s.likely),
        );
        return Some(Cause::new(
            "stale",
            format!(
                "it has not handled a change for {} (interval {}): {}",
                crate::snapshot::age(s.waiting_secs),
                crate::snapshot::age(stale::ks_interval(k)),
                s.likely
            ),
        ));
    }
    if !is_ready {
        let rc = ready_c.unwrap_or_default();
        steps.push(
            Step::new(depth, label, format!("not ready: {}", rc.reason))
                .with_detail(first_line(&rc.message)),
        );
        return Some(Cause::new(
            "not-ready",
            format!(
                "it reports {} without a cause weir follows: {}; `weir events` may say more",
                rc.reason,
                first_line(&rc.message)
            ),
        ));
    }
    let rc = ready_c.unwrap_or_default();
    steps.push(Step::new(depth, label, "Ready").with_detail(first_line(&rc.message)));
    None
}

/// Cycle, missing dependency, or a dependency not ready (recursing into its why).
fn dependencies(
    snap: &Ctx<'_>,
    k: &KustomizationObject,
    key: &ObjectKey,
    label: &str,
    depth: usize,
    visiting: &mut Vec<ObjectKey>,
    steps: &mut Vec<Step>,
) -> Option<Cause> {
    if k.spec.depends_on.is_empty() {
        return None;
    }
    let g = &snap.graph;
    if let Some(cycle) = snap.cycles.iter().find(|c| c.0.contains(key)) {
        let chain = cycle.to_string();
        steps.push(Step::new(
            depth,
            label,
            format!("dependency cycle: {chain}"),
        ));
        return Some(Cause::new(
            "dependency-cycle",
            format!("break the cycle {chain}: remove one of these dependsOn entries"),
        ));
    }
    let missing: Vec<ObjectKey> = snap.missing.get(key).cloned().unwrap_or_default();
    if let Some(m) = missing.first() {
        let known: Vec<&str> = snap
            .kustomizations
            .iter()
            .filter(|o| o.metadata.namespace.as_deref() == Some(m.namespace.as_str()))
            .filter_map(|o| o.metadata.name.as_deref())
            .collect();
        let near = suggest::similar(&m.name, known, 3, true);
        let hint = if near.is_empty() {
            String::new()
        } else {
            format!(" (did you mean {}?)", near.join(", "))
        };
        steps.push(Step::new(
            depth,
            label,
            format!("dependency Kustomization {m} not found"),
        ));
        return Some(Cause::new(
            "dependency-missing",
            format!("create Kustomization {m}, or fix spec.dependsOn of {label}{hint}"),
        ));
    }
    for d in g.dependencies(key) {
        if visiting.contains(d) {
            continue;
        }
        let Some(dep) = snap.kustomization(d) else {
            continue;
        };
        let dep_status = dep.status.clone().unwrap_or_default();
        if condition::is_true(&dep_status.conditions, condition::READY) && !dep.spec.suspend {
            continue;
        }
        steps.push(Step::new(
            depth,
            label,
            format!("waits for dependency Kustomization {d}"),
        ));
        let mut below = Vec::new();
        let cause = ks(snap, d, depth + 1, visiting, &mut below);
        steps.extend(below);
        return Some(cause.unwrap_or_else(|| {
            Cause::new(
                "waiting-retry",
                format!("{d} is ready now; {label} picks that up at its next retry"),
            )
        }));
    }
    None
}

/// The source: missing, failing (classified), or without an artifact.
fn source(
    snap: &Ctx<'_>,
    k: &KustomizationObject,
    key: &ObjectKey,
    label: &str,
    depth: usize,
    steps: &mut Vec<Step>,
) -> Option<Cause> {
    let sref = &k.spec.source_ref;
    let src_key = ObjectKey::new(
        sref.namespace
            .clone()
            .unwrap_or_else(|| key.namespace.clone()),
        &sref.name,
    );
    if sref.kind != "GitRepository" {
        // Other source kinds are not listed; the Ready condition still names their failures.
        return None;
    }
    let src_label = name_of("GitRepository", &src_key);
    if snap.git_repository(&src_key).is_none() {
        steps.push(Step::new(
            depth,
            label,
            format!("source {src_label} not found"),
        ));
        let known = snap
            .git_repositories
            .iter()
            .filter(|g| g.metadata.namespace.as_deref() == Some(src_key.namespace.as_str()))
            .filter_map(|g| g.metadata.name.as_deref())
            .collect();
        let mut c = not_found("GitRepository", &src_key, known);
        c.code = "source-missing".into();
        return Some(c);
    }
    let mut below = Vec::new();
    let cause = gitrepo(snap, &src_key, depth + 1, &mut below)?;
    steps.push(Step::new(
        depth,
        label,
        format!("source {src_label} is not ready"),
    ));
    steps.extend(below);
    Some(cause)
}

/// The GitRepository's chain; `None` when it is Ready with an artifact.
fn gitrepo(snap: &Ctx<'_>, key: &ObjectKey, depth: usize, steps: &mut Vec<Step>) -> Option<Cause> {
    let label = name_of("GitRepository", key);
    let Some(g) = snap.git_repository(key) else {
        steps.push(Step::new(depth, &label, "not found"));
        let known = snap
            .git_repositories
            .iter()
            .filter(|g| g.metadata.namespace.as_deref() == Some(key.namespace.as_str()))
            .filter_map(|g| g.metadata.name.as_deref())
            .collect();
        return Some(not_found("GitRepository", key, known));
    };
    gitrepo_inner(snap, g, key, &label, depth, steps)
}

fn gitrepo_inner(
    snap: &Ctx<'_>,
    g: &GitRepositoryObject,
    key: &ObjectKey,
    label: &str,
    depth: usize,
    steps: &mut Vec<Step>,
) -> Option<Cause> {
    let status = g.status.clone().unwrap_or_default();
    let host = host_of(&g.spec.url);
    let secret = g
        .spec
        .secret_ref
        .as_ref()
        .map(|s| format!("{}/{}", key.namespace, s.name));
    let rc = ready(&status.conditions).cloned();
    let has_artifact = status.artifact.is_some();
    match rc {
        Some(rc) if !rc.is_true() && rc.reason != reason::PROGRESSING => {
            if g.spec.suspend {
                steps.push(Step::new(depth, label, "suspended"));
                return Some(Cause::new(
                    "suspended",
                    format!(
                        "it is suspended (spec.suspend: true): `weir resume gitrepo {} -n {}`",
                        key.name, key.namespace
                    ),
                ));
            }
            let cause = classify(&rc.reason, &rc.message);
            let prefix = if has_artifact {
                "fetch failing (the last artifact is still served)"
            } else {
                "fetch failing"
            };
            steps.push(
                Step::new(
                    depth,
                    label,
                    format!("{prefix}: {} on {host}", cause.code()),
                )
                .with_detail(first_line(&rc.message)),
            );
            Some(Cause::new(
                &format!("source-{}", cause.code()).replace("source-source-", "source-"),
                cause.advice(label, &host, secret.as_deref()),
            ))
        }
        _ if g.spec.suspend && !has_artifact => {
            steps.push(Step::new(depth, label, "suspended, no artifact"));
            Some(Cause::new(
                "suspended",
                format!(
                    "it is suspended and has no artifact: `weir resume gitrepo {} -n {}`",
                    key.name, key.namespace
                ),
            ))
        }
        _ if !has_artifact => {
            steps.push(Step::new(depth, label, "no artifact yet"));
            let likely = stale::git_repository(snap, g).map_or_else(
                || "its first fetch has not finished; wait, or `weir events` for progress".into(),
                |s| format!("its first fetch has not happened: {}", s.likely),
            );
            Some(Cause::new("source-no-artifact", likely))
        }
        _ => {
            if let Some(s) = stale::git_repository(snap, g) {
                steps.push(
                    Step::new(
                        depth,
                        label,
                        format!(
                            "stale: {} waiting for {}",
                            s.what,
                            crate::snapshot::age(s.waiting_secs)
                        ),
                    )
                    .with_detail(&s.likely),
                );
                return Some(Cause::new(
                    "stale",
                    format!("it has not handled a change: {}", s.likely),
                ));
            }
            if depth == 0 {
                let rev = status.artifact.map(|a| a.revision).unwrap_or_default();
                steps
                    .push(Step::new(depth, label, "Ready").with_detail(&format!("artifact {rev}")));
            }
            None
        }
    }
}

/// Classifies the Ready condition's failure (build, apply, health, dependency retry).
#[allow(clippy::too_many_arguments)]
fn failing_step(
    snap: &Ctx<'_>,
    k: &KustomizationObject,
    key: &ObjectKey,
    label: &str,
    depth: usize,
    visiting: &mut Vec<ObjectKey>,
    rc: &weir_api::condition::Condition,
    steps: &mut Vec<Step>,
) -> Option<Cause> {
    let msg = rc.message.as_str();
    let line = first_line(msg);
    let lower = msg.to_ascii_lowercase();
    match rc.reason.as_str() {
        reason::DEPENDENCY_CYCLE => {
            steps.push(Step::new(depth, label, "dependency cycle").with_detail(line));
            Some(Cause::new(
                "dependency-cycle",
                format!("break the cycle ({line}): remove one of its dependsOn entries"),
            ))
        }
        reason::DEPENDENCY_NOT_READY => {
            steps.push(Step::new(depth, label, "waited for a dependency").with_detail(line));
            Some(Cause::new(
                "waiting-retry",
                format!(
                    "its dependencies are ready now; it continues at its next retry (`weir reconcile ks {} -n {}` to run it now)",
                    key.name, key.namespace
                ),
            ))
        }
        reason::BUILD_FAILED => {
            let state = match build_file(msg) {
                Some(f) => format!("build failed in {f}"),
                None => "build failed".to_string(),
            };
            steps.push(Step::new(depth, label, state).with_detail(line));
            let (code, advice) = if lower.contains("not set (strict mode)")
                || lower.contains("variable") && lower.contains("not set")
            {
                (
                    "undefined-variable",
                    "define the variable in spec.postBuild.substitute or a substituteFrom object, or give it a default (${VAR:=default})".to_string(),
                )
            } else if lower.contains("substitute") && lower.contains("not found") {
                (
                    "substitute-from-missing",
                    "create the ConfigMap or Secret named in spec.postBuild.substituteFrom, or mark the entry optional".to_string(),
                )
            } else if lower.contains("path not found") || lower.contains("does not exist") {
                (
                    "build-failed",
                    format!("fix spec.path of {label} or the file named: {line}"),
                )
            } else {
                (
                    "build-failed",
                    format!(
                        "fix the repository at the file named (`weir build ks {} -n {} --dir CHECKOUT` reproduces it offline): {line}",
                        key.name, key.namespace
                    ),
                )
            };
            Some(Cause::new(code, advice))
        }
        reason::RECONCILIATION_FAILED | reason::PRUNE_FAILED | reason::ACCESS_DENIED => {
            let (code, state, advice) = apply_failure(k, key, msg);
            steps.push(Step::new(depth, label, state).with_detail(line));
            Some(Cause::new(code, advice))
        }
        reason::ARTIFACT_FAILED => {
            steps.push(Step::new(depth, label, "artifact failed").with_detail(line));
            Some(Cause::new(
                "artifact-failed",
                format!("the source's artifact could not be used: {line}"),
            ))
        }
        reason::HEALTH_CHECK_FAILED | reason::PROGRESSING | reason::PROGRESSING_WITH_RETRY => {
            let mut below = Vec::new();
            if let Some(c) = inventory(snap, k, depth + 1, visiting, &mut below) {
                let state = if rc.reason == reason::HEALTH_CHECK_FAILED {
                    "health check failed"
                } else {
                    "waiting for applied objects to become healthy"
                };
                steps.push(Step::new(depth, label, state).with_detail(line));
                steps.extend(below);
                return Some(c);
            }
            None
        }
        _ => None,
    }
}

/// The file a build error names (`path/kustomization.yaml`), without the controller's temporary
/// directory.
fn build_file(msg: &str) -> Option<String> {
    msg.split(|c: char| c.is_whitespace() || c == '\'' || c == '"' || c == '`')
        .map(|t| t.trim_end_matches([',', ';']))
        .find(|t| {
            let base = t.split(':').next().unwrap_or("");
            base.ends_with(".yaml") || base.ends_with(".yml")
        })
        .map(|t| {
            let t = t.trim_end_matches(':');
            // Flux builds in /tmp/kustomization-NNN/; weir in its artifact tree: keep the repo path.
            match t.find("/tmp/") {
                Some(0) => t
                    .splitn(4, '/')
                    .nth(3)
                    .map_or_else(|| t.to_string(), str::to_string),
                _ => t.to_string(),
            }
        })
}

/// Classifies an apply failure: RBAC under impersonation, field manager conflicts, immutable fields,
/// validation, missing kinds.
fn apply_failure(
    k: &KustomizationObject,
    key: &ObjectKey,
    msg: &str,
) -> (&'static str, String, String) {
    let lower = msg.to_ascii_lowercase();
    let line = first_line(msg);
    let quoted_after = |marker: &str| -> Option<String> {
        let at = msg.find(marker)? + marker.len();
        let rest = &msg[at..];
        let end = rest.find('"')?;
        Some(rest[..end].to_string())
    };
    if lower.contains("forbidden") || lower.contains("cannot ") && lower.contains("user \"") {
        let user = quoted_after("User \"").unwrap_or_else(|| {
            k.spec.service_account_name.as_ref().map_or_else(
                || "the controller".to_string(),
                |sa| format!("system:serviceaccount:{}:{sa}", key.namespace),
            )
        });
        let verb = msg
            .find("cannot ")
            .map(|at| {
                msg[at + 7..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .unwrap_or_default();
        let resource = quoted_after("resource \"").unwrap_or_default();
        let group = quoted_after("API group \"").unwrap_or_default();
        let ns = quoted_after("namespace \"");
        let what = if resource.is_empty() {
            String::from("the objects of this Kustomization")
        } else {
            let g = if group.is_empty() {
                "core".to_string()
            } else {
                group
            };
            format!(
                "`{verb}` on {resource} ({g}){}",
                ns.map(|n| format!(" in namespace {n}")).unwrap_or_default()
            )
        };
        return (
            "rbac-denied",
            format!("apply denied to {user}"),
            format!(
                "grant {user} {what} (a Role and RoleBinding), or set spec.serviceAccountName to an account that has it"
            ),
        );
    }
    if lower.contains("conflict") {
        let manager =
            quoted_after("conflict with \"").unwrap_or_else(|| "another field manager".into());
        return (
            "field-conflict",
            format!("field ownership conflict with {manager}"),
            format!(
                "fields are also owned by {manager}: stop {manager} writing them, or let this Kustomization take them over with spec.force: true"
            ),
        );
    }
    if lower.contains("field is immutable") || lower.contains("immutable") {
        return (
            "immutable-field",
            "an immutable field changed".into(),
            "revert the change, or set spec.force: true so the object is recreated".into(),
        );
    }
    if lower.contains("no matches for kind")
        || lower.contains("could not find the requested resource")
        || lower.contains("unknown kind")
    {
        return (
            "kind-not-served",
            "a kind is not served by the cluster".into(),
            "install the CRD first: put it in a Kustomization this one dependsOn".into(),
        );
    }
    if lower.contains("is invalid")
        || lower.contains("unknown field")
        || lower.contains("validation")
    {
        return (
            "invalid-object",
            "an object was rejected as invalid".into(),
            format!("fix the object in the repository: {line}"),
        );
    }
    (
        "apply-failed",
        "apply failed".into(),
        format!("{line}; `weir events` may say more"),
    )
}

/// The first problem among the applied objects (inventory order): a nested Kustomization not ready
/// (recursing), an object missing live, or an unhealthy one (descending).
fn inventory(
    snap: &Ctx<'_>,
    k: &KustomizationObject,
    depth: usize,
    visiting: &mut Vec<ObjectKey>,
    steps: &mut Vec<Step>,
) -> Option<Cause> {
    let entries = k
        .status
        .as_ref()
        .and_then(|s| s.inventory.as_ref())
        .map(|i| i.entries.clone())
        .unwrap_or_default();
    let mut seen = BTreeSet::new();
    for e in entries {
        let Ok(id) = e.id.parse::<InventoryId>() else {
            continue;
        };
        if !seen.insert(id.clone()) {
            continue;
        }
        if id.group == weir_api::flux::KUSTOMIZE_GROUP && id.kind == "Kustomization" {
            let nested = ObjectKey::new(&id.namespace, &id.name);
            if visiting.contains(&nested) {
                continue;
            }
            let mut below = Vec::new();
            if let Some(c) = ks(snap, &nested, depth, visiting, &mut below) {
                steps.extend(below);
                return Some(c);
            }
            continue;
        }
        if !snap.live.listed(&id.group, &id.kind) {
            continue;
        }
        let label = if id.namespace.is_empty() {
            format!("{} {}", id.kind, id.name)
        } else {
            format!("{} {}/{}", id.kind, id.namespace, id.name)
        };
        match snap.live.get(&id.group, &id.kind, &id.namespace, &id.name) {
            None => {
                steps.push(Step::new(
                    depth,
                    &label,
                    "in the inventory but not in the cluster",
                ));
                let me = key_of(&k.metadata);
                return Some(Cause::new(
                    "missing-live",
                    format!(
                        "{label} was deleted out of band: `weir reconcile ks {} -n {}` restores it; if it disappears again, find what deletes it with `weir events`",
                        me.name, me.namespace
                    ),
                ));
            }
            Some(obj) => {
                if let Some((below, c)) = live::explain(&snap.live, obj, depth) {
                    steps.extend(below);
                    return Some(c);
                }
            }
        }
    }
    None
}
