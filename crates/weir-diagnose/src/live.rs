//! From an unhealthy live object down to what is actually wrong: Deployment -> ReplicaSet -> Pod ->
//! container state or scheduling; StatefulSet -> Pod -> PersistentVolumeClaim -> StorageClass; Job ->
//! failed Pod. Pure functions of the listed objects.

use serde_json::Value;
use weir_apply::health::{self, HealthStatus};

use crate::chain::{Cause, Step};
use crate::snapshot::{Live, live_condition, text};

/// `Kind namespace/name` of a live object.
pub(crate) fn label(obj: &Value) -> String {
    let kind = text(obj, "/kind").unwrap_or("?");
    let name = text(obj, "/metadata/name").unwrap_or("?");
    match text(obj, "/metadata/namespace") {
        Some(ns) if !ns.is_empty() => format!("{kind} {ns}/{name}"),
        _ => format!("{kind} {name}"),
    }
}

/// Steps below `obj` (itself included) to the first thing wrong, and the cause; `None` when healthy.
pub fn explain(live: &Live, obj: &Value, depth: usize) -> Option<(Vec<Step>, Cause)> {
    let status = health::evaluate(obj);
    let group = text(obj, "/apiVersion")
        .and_then(|v| v.split_once('/'))
        .map_or("", |(g, _)| g);
    let kind = text(obj, "/kind").unwrap_or("");
    // A pod's container states are read even when kstatus calls it current (a Running pod without
    // a Ready condition may be crash-looping).
    if (group, kind) == ("", "Pod") {
        return pod(live, obj, depth);
    }
    if status.is_current() {
        return None;
    }
    let me = Step::new(depth, label(obj), describe(&status));
    let below = match (group, kind) {
        ("apps", "Deployment") => deployment(live, obj, depth + 1),
        ("apps", "StatefulSet") => stateful_set(live, obj, depth + 1),
        ("apps", "DaemonSet") | ("apps", "ReplicaSet") => owned_pods(live, obj, depth + 1),
        ("batch", "Job") => job(live, obj, depth + 1),
        ("", "PersistentVolumeClaim") => return pvc(live, obj, depth),
        _ => None,
    };
    let (mut steps, cause) = below.unwrap_or_else(|| {
        let advice = format!(
            "{} is not healthy ({}); `weir events` shows what its controller reported",
            label(obj),
            describe(&status)
        );
        let code = if matches!(status, HealthStatus::Failed(_)) {
            "failed"
        } else {
            "unhealthy"
        };
        (Vec::new(), Cause::new(code, advice))
    });
    steps.insert(0, me);
    Some((steps, cause))
}

fn describe(status: &HealthStatus) -> String {
    status.to_string()
}

fn uid(obj: &Value) -> &str {
    text(obj, "/metadata/uid").unwrap_or("")
}

fn ns(obj: &Value) -> &str {
    text(obj, "/metadata/namespace").unwrap_or("")
}

fn deployment(live: &Live, obj: &Value, depth: usize) -> Option<(Vec<Step>, Cause)> {
    // The newest ReplicaSet (highest revision) is the one rolling out.
    let newest = live
        .owned_by("apps", "ReplicaSet", ns(obj), uid(obj))
        .max_by_key(|rs| {
            text(
                rs,
                "/metadata/annotations/deployment.kubernetes.io~1revision",
            )
            .and_then(|r| r.parse::<i64>().ok())
            .unwrap_or(0)
        });
    if let Some(rs) = newest {
        let want = rs
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let ready = rs
            .pointer("/status/readyReplicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let step = Step::new(depth, label(rs), format!("{ready}/{want} pods ready"));
        if let Some(c) = live_condition(rs, "ReplicaFailure").filter(|c| c["status"] == "True") {
            let msg = c.get("message").and_then(Value::as_str).unwrap_or("");
            let advice = format!(
                "{} cannot create pods: {msg}; fix the quota, admission policy or service account named there",
                label(rs)
            );
            return Some((
                vec![step.with_detail(msg)],
                Cause::new("replica-failure", advice),
            ));
        }
        if let Some((mut steps, cause)) = owned_pods(live, rs, depth + 1) {
            steps.insert(0, step);
            return Some((steps, cause));
        }
    }
    if let Some(c) = live_condition(obj, "Progressing").filter(|c| c["status"] == "False") {
        let msg = c.get("message").and_then(Value::as_str).unwrap_or("");
        return Some((
            Vec::new(),
            Cause::new(
                "progress-deadline",
                format!(
                    "the rollout of {} stopped: {msg}; `weir events` shows why",
                    label(obj)
                ),
            ),
        ));
    }
    None
}

/// The first pod owned by `owner` that has a problem (pods sorted by name for a stable answer).
fn owned_pods(live: &Live, owner: &Value, depth: usize) -> Option<(Vec<Step>, Cause)> {
    let mut pods: Vec<&Value> = live.owned_by("", "Pod", ns(owner), uid(owner)).collect();
    pods.sort_by_key(|p| text(p, "/metadata/name").unwrap_or(""));
    pods.into_iter().find_map(|p| pod(live, p, depth))
}

fn stateful_set(live: &Live, obj: &Value, depth: usize) -> Option<(Vec<Step>, Cause)> {
    if let Some(found) = owned_pods(live, obj, depth) {
        return Some(found);
    }
    // No pod yet: the claims of ordinal 0 decide whether one can start.
    let name = text(obj, "/metadata/name").unwrap_or("");
    let templates = obj
        .pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)?;
    templates.iter().find_map(|t| {
        let claim = format!("{}-{name}-0", text(t, "/metadata/name")?);
        let pvc_obj = live.get("", "PersistentVolumeClaim", ns(obj), &claim)?;
        pvc(live, pvc_obj, depth)
    })
}

fn job(live: &Live, obj: &Value, depth: usize) -> Option<(Vec<Step>, Cause)> {
    let failed = live_condition(obj, "Failed").filter(|c| c["status"] == "True")?;
    let reason = failed.get("reason").and_then(Value::as_str).unwrap_or("");
    let message = failed.get("message").and_then(Value::as_str).unwrap_or("");
    let mut pods: Vec<&Value> = live.owned_by("", "Pod", ns(obj), uid(obj)).collect();
    pods.sort_by_key(|p| text(p, "/metadata/name").unwrap_or(""));
    let mut steps = Vec::new();
    let mut detail = String::new();
    if let Some(p) = pods
        .iter()
        .rev()
        .find(|p| text(p, "/status/phase") == Some("Failed"))
        && let Some((c, state)) = terminated_container(p)
    {
        detail = format!(" (container {c}: {state})");
        steps.push(Step::new(
            depth,
            label(p),
            format!("Failed: container {c} {state}"),
        ));
    }
    let advice = format!(
        "{} failed: {reason}: {message}{detail}; fix the job's command or input, then delete the Job so the next reconcile recreates it",
        label(obj)
    );
    Some((steps, Cause::new("job-failed", advice)))
}

/// The last terminated state of the first container that has one: (name, "exit code N (Reason)").
fn terminated_container(pod: &Value) -> Option<(String, String)> {
    let statuses = pod.pointer("/status/containerStatuses")?.as_array()?;
    statuses.iter().find_map(|cs| {
        let t = cs
            .pointer("/state/terminated")
            .or_else(|| cs.pointer("/lastState/terminated"))?;
        let code = t.get("exitCode").and_then(Value::as_i64).unwrap_or(0);
        let reason = t.get("reason").and_then(Value::as_str).unwrap_or("");
        Some((
            text(cs, "/name").unwrap_or("?").to_string(),
            format!("exited with code {code} ({reason})"),
        ))
    })
}

/// A pod's problem: container state first (image pull, crash loop, OOM, config), then scheduling.
fn pod(live: &Live, obj: &Value, depth: usize) -> Option<(Vec<Step>, Cause)> {
    let here = label(obj);
    let statuses = ["/status/initContainerStatuses", "/status/containerStatuses"]
        .iter()
        .filter_map(|p| obj.pointer(p).and_then(Value::as_array))
        .flatten();
    for cs in statuses {
        let name = text(cs, "/name").unwrap_or("?");
        let image = text(cs, "/image").unwrap_or("?");
        let restarts = cs.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
        let waiting = text(cs, "/state/waiting/reason").unwrap_or("");
        let waiting_msg = text(cs, "/state/waiting/message").unwrap_or("");
        let last = cs
            .pointer("/lastState/terminated")
            .or_else(|| cs.pointer("/state/terminated"));
        let last_reason = last.and_then(|t| text(t, "/reason")).unwrap_or("");
        let last_code = last.and_then(|t| t.get("exitCode")).and_then(Value::as_i64);
        match waiting {
            "ImagePullBackOff" | "ErrImagePull" | "InvalidImageName" | "ErrImageNeverPull" => {
                let step = Step::new(
                    depth,
                    here.clone(),
                    format!("container {name} waiting: {waiting}"),
                )
                .with_detail(waiting_msg);
                let advice = format!(
                    "the image {image} of container {name} cannot be pulled: check its name and tag, that it exists in the registry, and the pod's imagePullSecrets"
                );
                return Some((vec![step], Cause::new("image-pull", advice)));
            }
            "CreateContainerConfigError" | "CreateContainerError" => {
                let step = Step::new(
                    depth,
                    here.clone(),
                    format!("container {name} waiting: {waiting}"),
                )
                .with_detail(waiting_msg);
                let advice = format!(
                    "container {name} cannot be created: {waiting_msg}; create the ConfigMap or Secret it names, or fix the reference"
                );
                return Some((vec![step], Cause::new("container-config", advice)));
            }
            _ => {}
        }
        if last_reason == "OOMKilled" {
            let limit = obj
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|c| text(c, "/name") == Some(name)))
                .and_then(|c| text(c, "/resources/limits/memory"))
                .map(|l| format!(" (limit {l})"))
                .unwrap_or_default();
            let step = Step::new(
                depth,
                here.clone(),
                format!(
                    "container {name} OOMKilled, exit code {}, {restarts} restarts",
                    last_code.unwrap_or(137)
                ),
            );
            let advice = format!(
                "container {name} was killed for using more memory than its limit{limit}: raise resources.limits.memory or lower its memory use"
            );
            return Some((vec![step], Cause::new("oom-killed", advice)));
        }
        if waiting == "CrashLoopBackOff" || (restarts > 0 && last_code.is_some_and(|c| c != 0)) {
            let code = last_code.map_or_else(|| "unknown".to_string(), |c| c.to_string());
            let why = if last_reason.is_empty() {
                String::new()
            } else {
                format!(" ({last_reason})")
            };
            let pod_name = text(obj, "/metadata/name").unwrap_or("?");
            let step = Step::new(
                depth,
                here.clone(),
                format!(
                    "container {name} {}: last exit code {code}{why}, {restarts} restarts",
                    if waiting.is_empty() {
                        "restarting"
                    } else {
                        waiting
                    }
                ),
            );
            let advice = format!(
                "container {name} keeps exiting with code {code}: read its logs with `kubectl logs -n {} {pod_name} -c {name} --previous`",
                ns(obj)
            );
            return Some((vec![step], Cause::new("crash-loop", advice)));
        }
    }
    let phase = text(obj, "/status/phase").unwrap_or("");
    if phase == "Pending" {
        return pending(live, obj, depth);
    }
    if phase == "Failed" {
        let (c, state) = terminated_container(obj).unwrap_or_default();
        let reason = text(obj, "/status/reason").unwrap_or("");
        let step = Step::new(
            depth,
            here.clone(),
            format!("Failed {reason}: container {c} {state}").replace("  ", " "),
        );
        let advice = format!(
            "{here} failed; read its logs with `kubectl logs -n {} {}`",
            ns(obj),
            text(obj, "/metadata/name").unwrap_or("?")
        );
        return Some((vec![step], Cause::new("pod-failed", advice)));
    }
    // Running but not ready: a readiness probe.
    let unready = obj
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter().find(|c| {
                c.get("ready") == Some(&Value::Bool(false)) && c.pointer("/state/running").is_some()
            })
        })
        .and_then(|c| text(c, "/name"));
    if let Some(name) = unready {
        let step = Step::new(
            depth,
            here,
            format!("container {name} running but not ready"),
        );
        let advice = format!(
            "container {name} does not pass its readiness probe: check the probe and the application's logs"
        );
        return Some((vec![step], Cause::new("not-ready", advice)));
    }
    None
}

/// A Pending pod: unbound claims first (they explain "unschedulable" messages), then the
/// scheduler's reason from the `PodScheduled` condition.
fn pending(live: &Live, obj: &Value, depth: usize) -> Option<(Vec<Step>, Cause)> {
    let here = label(obj);
    let claims = obj
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| text(v, "/persistentVolumeClaim/claimName"));
    for claim in claims {
        if let Some(p) = live.get("", "PersistentVolumeClaim", ns(obj), claim)
            && let Some((mut steps, cause)) = pvc(live, p, depth + 1)
        {
            steps.insert(
                0,
                Step::new(
                    depth,
                    here.clone(),
                    format!("Pending: waits for claim {claim}"),
                ),
            );
            return Some((steps, cause));
        }
    }
    let scheduled = live_condition(obj, "PodScheduled").filter(|c| c["status"] == "False");
    if let Some(c) = scheduled {
        let reason = c.get("reason").and_then(Value::as_str).unwrap_or("");
        let message = c.get("message").and_then(Value::as_str).unwrap_or("");
        let step = Step::new(depth, here, format!("Pending: {reason}")).with_detail(message);
        let m = message.to_ascii_lowercase();
        let advice = if m.contains("node affinity") || m.contains("node selector") {
            "no node matches the pod's nodeSelector/affinity: fix them, or label a node to match"
                .to_string()
        } else if m.contains("taint") {
            "the nodes carry taints the pod does not tolerate: add a toleration, or remove the taint".to_string()
        } else if m.contains("insufficient") {
            "no node has the resources the pod requests: lower resources.requests, or add capacity"
                .to_string()
        } else {
            format!("the scheduler cannot place the pod: {message}")
        };
        return Some((vec![step], Cause::new("unschedulable", advice)));
    }
    None
}

/// A claim that is not Bound: its StorageClass missing, or provisioning not done.
fn pvc(live: &Live, obj: &Value, depth: usize) -> Option<(Vec<Step>, Cause)> {
    let phase = text(obj, "/status/phase").unwrap_or("Pending");
    if phase == "Bound" {
        return None;
    }
    let here = label(obj);
    let class = text(obj, "/spec/storageClassName");
    let step = Step::new(depth, here.clone(), phase.to_string());
    match class {
        Some(class) if live.listed("storage.k8s.io", "StorageClass") => {
            if live
                .get("storage.k8s.io", "StorageClass", "", class)
                .is_none()
            {
                let mut names: Vec<&str> = live
                    .all("storage.k8s.io", "StorageClass")
                    .filter_map(|s| text(s, "/metadata/name"))
                    .collect();
                names.sort_unstable();
                let have = if names.is_empty() {
                    "the cluster has none".to_string()
                } else {
                    format!("the cluster has: {}", names.join(", "))
                };
                let missing = Step::new(depth + 1, format!("StorageClass {class}"), "not found");
                let advice = format!(
                    "create StorageClass {class}, or set storageClassName of {here} to an existing one ({have}); a claim's class cannot be changed in place: delete the claim"
                );
                return Some((
                    vec![step, missing],
                    Cause::new("storage-class-missing", advice),
                ));
            }
            let advice = format!(
                "StorageClass {class} has not provisioned a volume for {here}: `weir events` shows the provisioner's reason"
            );
            Some((vec![step], Cause::new("provisioning", advice)))
        }
        Some(class) => Some((
            vec![step],
            Cause::new(
                "provisioning",
                format!("{here} waits for StorageClass {class} to provision a volume"),
            ),
        )),
        None => Some((
            vec![step],
            Cause::new(
                "provisioning",
                format!(
                    "{here} names no StorageClass and the cluster has no default one (or no matching PersistentVolume)"
                ),
            ),
        )),
    }
}
