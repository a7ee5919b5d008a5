//! Health of a live object, following kstatus (sigs.k8s.io/cli-utils) rules; pure functions of the
//! object as the API server returns it.

use std::fmt;

use serde_json::Value;

/// Whether an object has reached the state its spec asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Reconciled and ready.
    Current,
    /// Still progressing; the text says what is missing (e.g. "1/3 replicas available").
    InProgress(String),
    /// Will not become ready without a change (e.g. a failed Job).
    Failed(String),
}

impl Health {
    /// True for [`Health::Current`].
    pub fn is_current(&self) -> bool {
        matches!(self, Health::Current)
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Current => f.write_str("ready"),
            Health::InProgress(why) => f.write_str(why),
            Health::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// The health of `obj` (a full object with `status`).
pub fn health(obj: &Value) -> Health {
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        return Health::InProgress("being deleted".into());
    }
    if let Some(h) = generic(obj) {
        return h;
    }
    let group = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.split_once('/'))
        .map_or("", |(g, _)| g);
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    match (group, kind) {
        ("apps", "Deployment") => deployment(obj),
        ("apps", "StatefulSet") => stateful_set(obj),
        ("apps", "DaemonSet") => daemon_set(obj),
        ("batch", "Job") => job(obj),
        ("", "PersistentVolumeClaim") => phase_is(obj, "Bound"),
        ("", "Namespace") => phase_is(obj, "Active"),
        ("", "Service") => service(obj),
        ("", "Pod") => pod(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd(obj),
        _ => ready_condition(obj),
    }
}

fn int(obj: &Value, ptr: &str) -> Option<i64> {
    obj.pointer(ptr).and_then(Value::as_i64)
}

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

fn condition_status<'a>(obj: &'a Value, type_: &str) -> Option<&'a str> {
    condition(obj, type_)?.get("status")?.as_str()
}

fn condition_text(c: &Value) -> String {
    let reason = c.get("reason").and_then(Value::as_str).unwrap_or("");
    let message = c.get("message").and_then(Value::as_str).unwrap_or("");
    match (reason.is_empty(), message.is_empty()) {
        (false, false) => format!("{reason}: {message}"),
        (false, true) => reason.into(),
        (true, false) => message.into(),
        (true, true) => "no reason given".into(),
    }
}

/// Rules that apply to every kind: an unobserved generation, and the kstatus `Reconciling`/`Stalled`
/// conditions.
fn generic(obj: &Value) -> Option<Health> {
    if let (Some(gen_), Some(observed)) = (
        int(obj, "/metadata/generation"),
        int(obj, "/status/observedGeneration"),
    ) && observed < gen_
    {
        return Some(Health::InProgress(format!(
            "generation {gen_} not observed yet (at {observed})"
        )));
    }
    if condition_status(obj, "Stalled") == Some("True") {
        return Some(Health::Failed(
            condition(obj, "Stalled")
                .map(condition_text)
                .unwrap_or_default(),
        ));
    }
    if condition_status(obj, "Reconciling") == Some("True") {
        return Some(Health::InProgress(
            condition(obj, "Reconciling")
                .map(condition_text)
                .unwrap_or_default(),
        ));
    }
    None
}

fn deployment(obj: &Value) -> Health {
    let spec = int(obj, "/spec/replicas").unwrap_or(1);
    if obj.pointer("/status/observedGeneration").is_none() {
        return Health::InProgress("not yet observed by the controller".into());
    }
    if let Some(c) = condition(obj, "Progressing")
        && c.get("reason").and_then(Value::as_str) == Some("ProgressDeadlineExceeded")
    {
        let available = int(obj, "/status/availableReplicas").unwrap_or(0);
        return Health::Failed(format!(
            "{available}/{spec} replicas available (ProgressDeadlineExceeded)"
        ));
    }
    let status = |f: &str| int(obj, &format!("/status/{f}")).unwrap_or(0);
    let (updated, total, available, ready) = (
        status("updatedReplicas"),
        status("replicas"),
        status("availableReplicas"),
        status("readyReplicas"),
    );
    if updated < spec {
        return Health::InProgress(format!("{updated}/{spec} replicas updated"));
    }
    if total > updated {
        return Health::InProgress(format!(
            "{} old replicas pending termination",
            total - updated
        ));
    }
    if available < spec {
        return Health::InProgress(format!("{available}/{spec} replicas available"));
    }
    if ready < spec {
        return Health::InProgress(format!("{ready}/{spec} replicas ready"));
    }
    Health::Current
}

fn stateful_set(obj: &Value) -> Health {
    let spec = int(obj, "/spec/replicas").unwrap_or(1);
    if obj.pointer("/status/observedGeneration").is_none() {
        return Health::InProgress("not yet observed by the controller".into());
    }
    let status = |f: &str| int(obj, &format!("/status/{f}")).unwrap_or(0);
    let ready = status("readyReplicas");
    if ready < spec {
        return Health::InProgress(format!("{ready}/{spec} replicas ready"));
    }
    let partition = int(obj, "/spec/updateStrategy/rollingUpdate/partition").unwrap_or(0);
    if partition > 0 {
        let updated = status("updatedReplicas");
        if updated < spec - partition {
            return Health::InProgress(format!(
                "{updated}/{} partitioned replicas updated",
                spec - partition
            ));
        }
        return Health::Current;
    }
    let current = status("currentReplicas");
    if current < spec {
        return Health::InProgress(format!("{current}/{spec} replicas at the current revision"));
    }
    let rev = |f: &str| {
        obj.pointer(&format!("/status/{f}"))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    if rev("currentRevision") != rev("updateRevision") {
        return Health::InProgress("rolling update in progress".into());
    }
    Health::Current
}

fn daemon_set(obj: &Value) -> Health {
    if obj.pointer("/status/observedGeneration").is_none() {
        return Health::InProgress("not yet observed by the controller".into());
    }
    let status = |f: &str| int(obj, &format!("/status/{f}")).unwrap_or(0);
    let desired = status("desiredNumberScheduled");
    for (field, what) in [
        ("currentNumberScheduled", "scheduled"),
        ("updatedNumberScheduled", "updated"),
        ("numberAvailable", "available"),
        ("numberReady", "ready"),
    ] {
        let n = status(field);
        if n < desired {
            return Health::InProgress(format!("{n}/{desired} pods {what}"));
        }
    }
    Health::Current
}

fn job(obj: &Value) -> Health {
    if condition_status(obj, "Failed") == Some("True") {
        return Health::Failed(
            condition(obj, "Failed")
                .map(condition_text)
                .unwrap_or_default(),
        );
    }
    if condition_status(obj, "Complete") == Some("True") {
        return Health::Current;
    }
    let succeeded = int(obj, "/status/succeeded").unwrap_or(0);
    let completions = int(obj, "/spec/completions").unwrap_or(1);
    Health::InProgress(format!("{succeeded}/{completions} completions"))
}

fn phase_is(obj: &Value, want: &str) -> Health {
    match obj.pointer("/status/phase").and_then(Value::as_str) {
        Some(p) if p == want => Health::Current,
        Some(p) => Health::InProgress(format!("phase {p}, want {want}")),
        None => Health::InProgress(format!("no phase yet, want {want}")),
    }
}

fn service(obj: &Value) -> Health {
    if obj.pointer("/spec/type").and_then(Value::as_str) != Some("LoadBalancer") {
        return Health::Current;
    }
    let has_ingress = obj
        .pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if has_ingress {
        Health::Current
    } else {
        Health::InProgress("load balancer has no ingress yet".into())
    }
}

fn pod(obj: &Value) -> Health {
    match obj.pointer("/status/phase").and_then(Value::as_str) {
        Some("Succeeded") => Health::Current,
        Some("Failed") => Health::Failed("pod failed".into()),
        Some("Running") if condition_status(obj, "Ready") == Some("True") => Health::Current,
        Some(p) => Health::InProgress(format!("pod {p}, not ready")),
        None => Health::InProgress("pod not scheduled yet".into()),
    }
}

fn crd(obj: &Value) -> Health {
    if condition_status(obj, "NamesAccepted") == Some("False") {
        return Health::Failed(
            condition(obj, "NamesAccepted")
                .map(condition_text)
                .unwrap_or_default(),
        );
    }
    match condition_status(obj, "Established") {
        Some("True") => Health::Current,
        _ => Health::InProgress("not established yet".into()),
    }
}

/// Any other kind: ready when it has no `Ready` condition, or `Ready=True`.
fn ready_condition(obj: &Value) -> Health {
    match condition(obj, "Ready") {
        None => Health::Current,
        Some(c) if c.get("status").and_then(Value::as_str) == Some("True") => Health::Current,
        Some(c) => Health::InProgress(condition_text(c)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(spec: i64, status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"generation": 2},
               "spec": {"replicas": spec}, "status": status})
    }

    #[test]
    fn deployment_counts_available_replicas() {
        let d = deploy(
            3,
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 1, "readyReplicas": 1}),
        );
        assert_eq!(
            health(&d),
            Health::InProgress("1/3 replicas available".into())
        );
        let d = deploy(
            3,
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3, "readyReplicas": 3}),
        );
        assert_eq!(health(&d), Health::Current);
    }

    #[test]
    fn deployment_with_unobserved_generation_is_in_progress() {
        let d = deploy(
            1,
            json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1, "readyReplicas": 1}),
        );
        assert!(matches!(health(&d), Health::InProgress(m) if m.contains("generation 2")));
    }

    #[test]
    fn deployment_past_deadline_failed() {
        let d = deploy(
            2,
            json!({"observedGeneration": 2, "availableReplicas": 0,
            "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}),
        );
        assert!(matches!(health(&d), Health::Failed(_)));
    }

    #[test]
    fn stateful_set_and_daemon_set_rules() {
        let s = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, "readyReplicas": 2, "currentReplicas": 2, "currentRevision": "a", "updateRevision": "b"}});
        assert_eq!(
            health(&s),
            Health::InProgress("rolling update in progress".into())
        );
        let d = json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "status": {"observedGeneration": 1, "desiredNumberScheduled": 2, "currentNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 1, "numberReady": 2}});
        assert_eq!(health(&d), Health::InProgress("1/2 pods available".into()));
    }

    #[test]
    fn job_pvc_namespace_service_crd() {
        let j = json!({"apiVersion": "batch/v1", "kind": "Job", "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}});
        assert_eq!(health(&j), Health::Failed("BackoffLimitExceeded".into()));
        let j = json!({"apiVersion": "batch/v1", "kind": "Job", "status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        assert!(health(&j).is_current());
        let p = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "status": {"phase": "Pending"}});
        assert_eq!(
            health(&p),
            Health::InProgress("phase Pending, want Bound".into())
        );
        let n = json!({"apiVersion": "v1", "kind": "Namespace", "status": {"phase": "Active"}});
        assert!(health(&n).is_current());
        let s = json!({"apiVersion": "v1", "kind": "Service", "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {}}});
        assert!(!health(&s).is_current());
        let s = json!({"apiVersion": "v1", "kind": "Service", "spec": {"type": "ClusterIP"}});
        assert!(health(&s).is_current());
        let c = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "status": {"conditions": [{"type": "Established", "status": "True"}]}});
        assert!(health(&c).is_current());
    }

    #[test]
    fn ready_condition_decides_for_other_kinds() {
        let o = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Waiting", "message": "for db"}]}});
        assert_eq!(health(&o), Health::InProgress("Waiting: for db".into()));
        let o = json!({"apiVersion": "v1", "kind": "ConfigMap"});
        assert!(health(&o).is_current());
    }

    #[test]
    fn stalled_condition_is_failure() {
        let o = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "status": {"conditions": [{"type": "Stalled", "status": "True", "reason": "Broken"}]}});
        assert_eq!(health(&o), Health::Failed("Broken".into()));
    }
}
