//! Health of a live object, following kstatus (sigs.k8s.io/cli-utils) rules; pure functions of the
//! object as the API server returns it.

use std::fmt;

use serde_json::Value;

/// Whether an object has reached the state its spec asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthStatus {
    /// Reconciled and ready.
    Current,
    /// Still progressing; the text says what is missing (e.g. "1/3 replicas available").
    InProgress(String),
    /// Will not become ready without a change (e.g. a failed Job).
    Failed(String),
}

impl HealthStatus {
    /// True for [`HealthStatus::Current`].
    pub fn is_current(&self) -> bool {
        matches!(self, HealthStatus::Current)
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthStatus::Current => f.write_str("ready"),
            HealthStatus::InProgress(why) => f.write_str(why),
            HealthStatus::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// The health of `obj` (a full object with `status`).
pub fn evaluate(obj: &Value) -> HealthStatus {
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        return HealthStatus::InProgress("being deleted".into());
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
fn generic(obj: &Value) -> Option<HealthStatus> {
    if let (Some(gen_), Some(observed)) = (
        int(obj, "/metadata/generation"),
        int(obj, "/status/observedGeneration"),
    ) && observed < gen_
    {
        return Some(HealthStatus::InProgress(format!(
            "generation {gen_} not observed yet (at {observed})"
        )));
    }
    if condition_status(obj, "Stalled") == Some("True") {
        return Some(HealthStatus::Failed(
            condition(obj, "Stalled")
                .map(condition_text)
                .unwrap_or_default(),
        ));
    }
    if condition_status(obj, "Reconciling") == Some("True") {
        return Some(HealthStatus::InProgress(
            condition(obj, "Reconciling")
                .map(condition_text)
                .unwrap_or_default(),
        ));
    }
    None
}

fn deployment(obj: &Value) -> HealthStatus {
    let spec = int(obj, "/spec/replicas").unwrap_or(1);
    if obj.pointer("/status/observedGeneration").is_none() {
        return HealthStatus::InProgress("not yet observed by the controller".into());
    }
    // Without a progress deadline the controller sets no Progressing condition.
    let mut progressing = obj.pointer("/spec/progressDeadlineSeconds").is_none()
        || int(obj, "/spec/progressDeadlineSeconds") == Some(i64::from(i32::MAX));
    if let Some(c) = condition(obj, "Progressing") {
        let reason = c.get("reason").and_then(Value::as_str);
        if reason == Some("ProgressDeadlineExceeded") {
            let available = int(obj, "/status/availableReplicas").unwrap_or(0);
            return HealthStatus::Failed(format!(
                "{available}/{spec} replicas available (ProgressDeadlineExceeded)"
            ));
        }
        if c.get("status").and_then(Value::as_str) == Some("True")
            && reason == Some("NewReplicaSetAvailable")
        {
            progressing = true;
        }
    }
    let status = |f: &str| int(obj, &format!("/status/{f}")).unwrap_or(0);
    let (total, updated, available, ready) = (
        status("replicas"),
        status("updatedReplicas"),
        status("availableReplicas"),
        status("readyReplicas"),
    );
    if spec > total {
        return HealthStatus::InProgress(format!("{total}/{spec} replicas"));
    }
    if spec > updated {
        return HealthStatus::InProgress(format!("{updated}/{spec} replicas updated"));
    }
    if total > spec {
        return HealthStatus::InProgress(format!(
            "{} old replicas pending termination",
            total - spec
        ));
    }
    if updated > available {
        return HealthStatus::InProgress(format!("{available}/{updated} replicas available"));
    }
    if spec > ready {
        return HealthStatus::InProgress(format!("{ready}/{spec} replicas ready"));
    }
    if !progressing {
        return HealthStatus::InProgress("new ReplicaSet not available yet".into());
    }
    if condition_status(obj, "Available") != Some("True") {
        return HealthStatus::InProgress("Deployment not Available".into());
    }
    HealthStatus::Current
}

fn stateful_set(obj: &Value) -> HealthStatus {
    if obj
        .pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        == Some("OnDelete")
    {
        return HealthStatus::Current;
    }
    let spec = int(obj, "/spec/replicas").unwrap_or(1);
    if obj.pointer("/status/observedGeneration").is_none() {
        return HealthStatus::InProgress("not yet observed by the controller".into());
    }
    let status = |f: &str| int(obj, &format!("/status/{f}")).unwrap_or(0);
    let (total, ready) = (status("replicas"), status("readyReplicas"));
    if spec > total {
        return HealthStatus::InProgress(format!("{total}/{spec} replicas"));
    }
    if spec > ready {
        return HealthStatus::InProgress(format!("{ready}/{spec} replicas ready"));
    }
    if total > spec {
        return HealthStatus::InProgress(format!(
            "{} old replicas pending termination",
            total - spec
        ));
    }
    if let Some(partition) = int(obj, "/spec/updateStrategy/rollingUpdate/partition") {
        let updated = status("updatedReplicas");
        if updated < spec - partition {
            return HealthStatus::InProgress(format!(
                "{updated}/{} partitioned replicas updated",
                spec - partition
            ));
        }
        return HealthStatus::Current;
    }
    let current = status("currentReplicas");
    if current < spec {
        return HealthStatus::InProgress(format!(
            "{current}/{spec} replicas at the current revision"
        ));
    }
    let rev = |f: &str| {
        obj.pointer(&format!("/status/{f}"))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    if rev("currentRevision") != rev("updateRevision") {
        return HealthStatus::InProgress("rolling update in progress".into());
    }
    HealthStatus::Current
}

fn daemon_set(obj: &Value) -> HealthStatus {
    if obj.pointer("/status/observedGeneration").is_none() {
        return HealthStatus::InProgress("not yet observed by the controller".into());
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
            return HealthStatus::InProgress(format!("{n}/{desired} pods {what}"));
        }
    }
    HealthStatus::Current
}

fn job(obj: &Value) -> HealthStatus {
    if condition_status(obj, "Failed") == Some("True") {
        return HealthStatus::Failed(
            condition(obj, "Failed")
                .map(condition_text)
                .unwrap_or_default(),
        );
    }
    if condition_status(obj, "Complete") == Some("True")
        || condition_status(obj, "Suspended") == Some("True")
    {
        return HealthStatus::Current;
    }
    // As kstatus: a started Job is current while it runs (a wait for completion is the caller's).
    if obj.pointer("/status/startTime").is_none() {
        return HealthStatus::InProgress("Job not started".into());
    }
    HealthStatus::Current
}

fn phase_is(obj: &Value, want: &str) -> HealthStatus {
    match obj.pointer("/status/phase").and_then(Value::as_str) {
        Some(p) if p == want => HealthStatus::Current,
        Some(p) => HealthStatus::InProgress(format!("phase {p}, want {want}")),
        None => HealthStatus::InProgress(format!("no phase yet, want {want}")),
    }
}

fn service(obj: &Value) -> HealthStatus {
    if obj.pointer("/spec/type").and_then(Value::as_str) != Some("LoadBalancer") {
        return HealthStatus::Current;
    }
    let has_ingress = obj
        .pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if has_ingress {
        HealthStatus::Current
    } else {
        HealthStatus::InProgress("load balancer has no ingress yet".into())
    }
}

fn pod(obj: &Value) -> HealthStatus {
    match obj.pointer("/status/phase").and_then(Value::as_str) {
        // As kstatus: a finished Pod is current, whether it succeeded or not.
        Some("Succeeded") | Some("Failed") => HealthStatus::Current,
        Some("Running") if condition_status(obj, "Ready") == Some("True") => HealthStatus::Current,
        Some("Running") => {
            let looping: Vec<&str> = obj
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|c| {
                    c.pointer("/state/waiting/reason").and_then(Value::as_str)
                        == Some("CrashLoopBackOff")
                })
                .filter_map(|c| c.get("name").and_then(Value::as_str))
                .collect();
            if looping.is_empty() {
                HealthStatus::InProgress("pod running, not ready".into())
            } else {
                HealthStatus::Failed(format!(
                    "containers in CrashLoopBackOff: {}",
                    looping.join(", ")
                ))
            }
        }
        Some("Pending") => match condition(obj, "PodScheduled") {
            Some(c)
                if c.get("status").and_then(Value::as_str) == Some("False")
                    && c.get("reason").and_then(Value::as_str) == Some("Unschedulable") =>
            {
                HealthStatus::InProgress(format!("pod not scheduled: {}", condition_text(c)))
            }
            _ => HealthStatus::InProgress("pod Pending".into()),
        },
        Some(p) => HealthStatus::InProgress(format!("pod {p}")),
        None => HealthStatus::InProgress("pod not scheduled yet".into()),
    }
}

fn crd(obj: &Value) -> HealthStatus {
    if condition_status(obj, "NamesAccepted") == Some("False") {
        return HealthStatus::Failed(
            condition(obj, "NamesAccepted")
                .map(condition_text)
                .unwrap_or_default(),
        );
    }
    match condition(obj, "Established") {
        Some(c) if c.get("status").and_then(Value::as_str) == Some("True") => HealthStatus::Current,
        Some(c)
            if c.get("status").and_then(Value::as_str) == Some("False")
                && c.get("reason").and_then(Value::as_str) != Some("Installing") =>
        {
            HealthStatus::Failed(condition_text(c))
        }
        _ => HealthStatus::InProgress("not established yet".into()),
    }
}

/// Any other kind: ready when it has no `Ready` condition, or `Ready=True` for the current generation
/// (a condition carrying an older `observedGeneration` is stale, as Flux's own objects report).
fn ready_condition(obj: &Value) -> HealthStatus {
    match condition(obj, "Ready") {
        None => HealthStatus::Current,
        Some(c)
            if int(c, "/observedGeneration")
                .zip(int(obj, "/metadata/generation"))
                .is_some_and(|(seen, gen_)| seen < gen_) =>
        {
            HealthStatus::InProgress("Ready condition is for an older generation".into())
        }
        Some(c) if c.get("status").and_then(Value::as_str) == Some("True") => HealthStatus::Current,
        Some(c) => HealthStatus::InProgress(condition_text(c)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn in_progress(h: &HealthStatus, text: &str) -> bool {
        matches!(h, HealthStatus::InProgress(m) if m.contains(text))
    }

    fn deploy(spec: i64, status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"generation": 2},
               "spec": {"replicas": spec, "progressDeadlineSeconds": 600}, "status": status})
    }

    fn rolled_out(n: i64) -> Value {
        json!({"observedGeneration": 2, "replicas": n, "updatedReplicas": n, "availableReplicas": n, "readyReplicas": n,
               "conditions": [{"type": "Available", "status": "True"},
                              {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]})
    }

    #[test]
    fn deployment_rollout_steps() {
        assert_eq!(evaluate(&deploy(3, rolled_out(3))), HealthStatus::Current);
        let mut s = rolled_out(3);
        s["replicas"] = json!(1);
        assert!(in_progress(&evaluate(&deploy(3, s)), "1/3 replicas"));
        let mut s = rolled_out(3);
        s["updatedReplicas"] = json!(2);
        assert!(in_progress(
            &evaluate(&deploy(3, s)),
            "2/3 replicas updated"
        ));
        let mut s = rolled_out(3);
        s["replicas"] = json!(4);
        assert!(in_progress(
            &evaluate(&deploy(3, s)),
            "1 old replicas pending"
        ));
        let mut s = rolled_out(3);
        s["availableReplicas"] = json!(1);
        assert!(in_progress(
            &evaluate(&deploy(3, s)),
            "1/3 replicas available"
        ));
        let mut s = rolled_out(3);
        s["readyReplicas"] = json!(2);
        assert!(in_progress(&evaluate(&deploy(3, s)), "2/3 replicas ready"));
        // The new ReplicaSet is not yet reported available.
        let mut s = rolled_out(3);
        s["conditions"][1]["reason"] = json!("ReplicaSetUpdated");
        assert!(in_progress(&evaluate(&deploy(3, s)), "new ReplicaSet"));
        let mut s = rolled_out(3);
        s["conditions"][0]["status"] = json!("False");
        assert!(in_progress(&evaluate(&deploy(3, s)), "not Available"));
        // Without a progress deadline there is no Progressing condition to wait for.
        let mut d = deploy(1, rolled_out(1));
        d["spec"]
            .as_object_mut()
            .expect("spec")
            .remove("progressDeadlineSeconds");
        d["status"]["conditions"] = json!([{"type": "Available", "status": "True"}]);
        assert_eq!(evaluate(&d), HealthStatus::Current);
        let mut d = deploy(1, rolled_out(1));
        d["status"]
            .as_object_mut()
            .expect("status")
            .remove("observedGeneration");
        assert!(in_progress(&evaluate(&d), "not yet observed"));
    }

    #[test]
    fn deployment_with_unobserved_generation_is_in_progress() {
        let mut s = rolled_out(1);
        s["observedGeneration"] = json!(1);
        assert!(in_progress(&evaluate(&deploy(1, s)), "generation 2"));
    }

    #[test]
    fn deployment_past_deadline_failed() {
        let d = deploy(
            2,
            json!({"observedGeneration": 2, "availableReplicas": 0,
            "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}),
        );
        assert!(
            matches!(evaluate(&d), HealthStatus::Failed(m) if m.contains("ProgressDeadlineExceeded"))
        );
    }

    fn sts(spec: Value, status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": spec, "status": status})
    }

    #[test]
    fn stateful_set_rules() {
        let done = json!({"observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "currentReplicas": 2,
                          "updatedReplicas": 2, "currentRevision": "a", "updateRevision": "a"});
        assert_eq!(
            evaluate(&sts(json!({"replicas": 2}), done.clone())),
            HealthStatus::Current
        );
        let mut s = done.clone();
        s["updateRevision"] = json!("b");
        assert!(in_progress(
            &evaluate(&sts(json!({"replicas": 2}), s)),
            "rolling update"
        ));
        let mut s = done.clone();
        s["readyReplicas"] = json!(1);
        assert!(in_progress(
            &evaluate(&sts(json!({"replicas": 2}), s)),
            "1/2 replicas ready"
        ));
        let mut s = done.clone();
        s["replicas"] = json!(1);
        assert!(in_progress(
            &evaluate(&sts(json!({"replicas": 2}), s)),
            "1/2 replicas"
        ));
        let mut s = done.clone();
        s["currentReplicas"] = json!(1);
        assert!(in_progress(
            &evaluate(&sts(json!({"replicas": 2}), s)),
            "current revision"
        ));
        // A partition only waits for the replicas above it.
        let mut s = done.clone();
        s["updatedReplicas"] = json!(1);
        s["updateRevision"] = json!("b");
        let spec = json!({"replicas": 2, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}});
        assert_eq!(evaluate(&sts(spec, s.clone())), HealthStatus::Current);
        let spec = json!({"replicas": 2, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}});
        assert!(in_progress(&evaluate(&sts(spec, s)), "partitioned"));
        let spec = json!({"replicas": 2, "updateStrategy": {"type": "OnDelete"}});
        assert_eq!(evaluate(&sts(spec, json!({}))), HealthStatus::Current);
    }

    #[test]
    fn daemon_set_rules() {
        let d = json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "status": {"observedGeneration": 1, "desiredNumberScheduled": 2, "currentNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 1, "numberReady": 2}});
        assert_eq!(
            evaluate(&d),
            HealthStatus::InProgress("1/2 pods available".into())
        );
    }

    fn job(status: Value) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"completions": 1}, "status": status})
    }

    #[test]
    fn job_rules() {
        let failed = job(
            json!({"startTime": "t", "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}),
        );
        assert_eq!(
            evaluate(&failed),
            HealthStatus::Failed("BackoffLimitExceeded".into())
        );
        let complete = job(json!({"conditions": [{"type": "Complete", "status": "True"}]}));
        assert!(evaluate(&complete).is_current());
        let suspended = job(json!({"conditions": [{"type": "Suspended", "status": "True"}]}));
        assert!(evaluate(&suspended).is_current());
        assert!(in_progress(&evaluate(&job(json!({}))), "not started"));
        assert!(evaluate(&job(json!({"startTime": "t", "active": 1}))).is_current());
    }

    fn pod(status: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "status": status})
    }

    #[test]
    fn pod_rules() {
        let ready =
            pod(json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}));
        assert!(evaluate(&ready).is_current());
        assert!(evaluate(&pod(json!({"phase": "Succeeded"}))).is_current());
        assert!(evaluate(&pod(json!({"phase": "Failed"}))).is_current());
        let looping = pod(json!({"phase": "Running", "containerStatuses": [
            {"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
            {"name": "side", "state": {"running": {}}}]}));
        assert_eq!(
            evaluate(&looping),
            HealthStatus::Failed("containers in CrashLoopBackOff: app".into())
        );
        assert!(in_progress(
            &evaluate(&pod(json!({"phase": "Running"}))),
            "not ready"
        ));
        let unschedulable = pod(
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes"}]}),
        );
        assert!(in_progress(&evaluate(&unschedulable), "0/1 nodes"));
        assert!(in_progress(&evaluate(&pod(json!({}))), "not scheduled"));
    }

    #[test]
    fn pvc_namespace_service() {
        let p = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "status": {"phase": "Pending"}});
        assert_eq!(
            evaluate(&p),
            HealthStatus::InProgress("phase Pending, want Bound".into())
        );
        let p = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "status": {"phase": "Bound"}});
        assert!(evaluate(&p).is_current());
        let n = json!({"apiVersion": "v1", "kind": "Namespace", "status": {"phase": "Active"}});
        assert!(evaluate(&n).is_current());
        let s = json!({"apiVersion": "v1", "kind": "Service", "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {}}});
        assert!(!evaluate(&s).is_current());
        let s = json!({"apiVersion": "v1", "kind": "Service", "spec": {"type": "ClusterIP"}});
        assert!(evaluate(&s).is_current());
    }

    #[test]
    fn crd_rules() {
        let crd = |conds: Value| json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "status": {"conditions": conds}});
        assert!(evaluate(&crd(json!([{"type": "Established", "status": "True"}]))).is_current());
        assert!(in_progress(
            &evaluate(&crd(
                json!([{"type": "Established", "status": "False", "reason": "Installing"}])
            )),
            "not established"
        ));
        assert!(matches!(
            evaluate(&crd(json!([{"type": "NamesAccepted", "status": "False", "reason": "NameConflict"}]))),
            HealthStatus::Failed(m) if m == "NameConflict"
        ));
    }

    #[test]
    fn custom_resources_follow_their_conditions() {
        let cr = |generation: i64, conds: Value| {
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"generation": generation},
                   "status": {"conditions": conds}})
        };
        let o = cr(
            1,
            json!([{"type": "Ready", "status": "False", "reason": "Waiting", "message": "for db"}]),
        );
        assert_eq!(
            evaluate(&o),
            HealthStatus::InProgress("Waiting: for db".into())
        );
        let o = cr(
            2,
            json!([{"type": "Ready", "status": "True", "observedGeneration": 2}]),
        );
        assert!(evaluate(&o).is_current());
        let o = cr(
            3,
            json!([{"type": "Ready", "status": "True", "observedGeneration": 2}]),
        );
        assert!(in_progress(&evaluate(&o), "older generation"));
        let o = cr(
            1,
            json!([{"type": "Stalled", "status": "True", "reason": "Broken"}]),
        );
        assert_eq!(evaluate(&o), HealthStatus::Failed("Broken".into()));
        let o = cr(
            1,
            json!([{"type": "Reconciling", "status": "True", "message": "working"}]),
        );
        assert_eq!(evaluate(&o), HealthStatus::InProgress("working".into()));
        let o = json!({"apiVersion": "v1", "kind": "ConfigMap"});
        assert!(evaluate(&o).is_current());
        let o = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"deletionTimestamp": "t"}});
        assert!(in_progress(&evaluate(&o), "being deleted"));
    }
}
