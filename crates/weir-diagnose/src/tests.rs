//! Hand-built snapshots, one per root cause `why` and `doctor` follow.

use serde_json::{Value, json};
use weir_api::ObjectKey;
use weir_api::flux::{GitRepositoryObject, KustomizationObject};

use crate::snapshot::parse_time;
use crate::summary;
use crate::{Diagnosis, Kind, Snapshot, doctor, why};

const NOW: &str = "2026-01-01T12:00:00Z";
const REV: &str = "main@sha1:1111111111111111111111111111111111111111";
const REV2: &str = "main@sha1:2222222222222222222222222222222222222222";

fn at(minutes_ago: i64) -> String {
    let t = parse_time(NOW).expect("valid") - minutes_ago * 60;
    k8s_openapi::jiff::Timestamp::from_second(t)
        .expect("in range")
        .to_string()
}

fn cond(status: &str, reason: &str, message: &str, minutes_ago: i64) -> Value {
    json!({"type": "Ready", "status": status, "reason": reason, "message": message,
           "lastTransitionTime": at(minutes_ago)})
}

fn ready_cond() -> Value {
    cond(
        "True",
        "ReconciliationSucceeded",
        &format!("Applied revision: {REV}"),
        30,
    )
}

fn ks_obj(name: &str, spec: Value, status: Value) -> KustomizationObject {
    let mut s = json!({"interval": "5m", "prune": true,
                       "sourceRef": {"kind": "GitRepository", "name": "repo"}});
    merge(&mut s, spec);
    serde_json::from_value(json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "apps", "generation": 1,
                     "creationTimestamp": at(600)},
        "spec": s, "status": status
    }))
    .expect("valid Kustomization")
}

fn ok_status(inventory: &[&str]) -> Value {
    json!({"observedGeneration": 1, "lastAppliedRevision": REV, "lastAttemptedRevision": REV,
           "conditions": [ready_cond()],
           "inventory": {"entries": inventory.iter().map(|i| json!({"id": i, "v": "v1"})).collect::<Vec<_>>()}})
}

fn failed_status(reason: &str, message: &str) -> Value {
    json!({"observedGeneration": 1, "lastAttemptedRevision": REV,
           "conditions": [cond("False", reason, message, 10)]})
}

fn repo(name: &str, url: &str, status: Value) -> GitRepositoryObject {
    serde_json::from_value(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": name, "namespace": "apps", "generation": 1, "creationTimestamp": at(600)},
        "spec": {"url": url, "interval": "1m", "ref": {"branch": "main"}, "secretRef": {"name": "creds"}},
        "status": status
    }))
    .expect("valid GitRepository")
}

fn repo_ok() -> GitRepositoryObject {
    repo(
        "repo",
        "https://git.example/org/repo.git",
        json!({"observedGeneration": 1,
               "conditions": [cond("True", "Succeeded", &format!("stored artifact for revision '{REV}'"), 30)],
               "artifact": {"path": "p", "url": "u", "revision": REV, "digest": "sha256:00",
                            "lastUpdateTime": at(30), "size": 2048}}),
    )
}

fn merge(a: &mut Value, b: Value) {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        for (k, v) in b {
            a.insert(k, v);
        }
    }
}

fn snap(ks: Vec<KustomizationObject>, repos: Vec<GitRepositoryObject>) -> Snapshot {
    Snapshot {
        now: parse_time(NOW).expect("valid"),
        kustomizations: ks,
        git_repositories: repos,
        ..Default::default()
    }
}

fn why_ks(s: &Snapshot, name: &str) -> Diagnosis {
    why(s, Kind::Kustomization, &ObjectKey::new("apps", name))
}

fn code(d: &Diagnosis) -> &str {
    d.cause.as_ref().map_or("ok", |c| c.code.as_str())
}

fn lines(d: &Diagnosis) -> Vec<String> {
    d.steps
        .iter()
        .map(|s| format!("{}{}: {}", "  ".repeat(s.depth), s.object, s.state))
        .collect()
}

fn advice(d: &Diagnosis) -> &str {
    d.cause.as_ref().map_or("", |c| c.advice.as_str())
}

fn deployment(name: &str, ready: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": name, "namespace": "apps", "uid": format!("uid-{name}"), "generation": 1},
           "spec": {"replicas": 1},
           "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                      "readyReplicas": ready, "availableReplicas": ready,
                      "conditions": [{"type": "Available", "status": if ready > 0 {"True"} else {"False"}}]}})
}

fn replica_set(name: &str, owner: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
           "metadata": {"name": name, "namespace": "apps", "uid": format!("uid-{name}"),
                        "annotations": {"deployment.kubernetes.io/revision": "2"},
                        "ownerReferences": [{"uid": format!("uid-{owner}")}]},
           "spec": {"replicas": 1}, "status": {"replicas": 1, "readyReplicas": 0}})
}

fn pod(name: &str, owner: &str, status: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "apps", "uid": format!("uid-{name}"),
                        "ownerReferences": [{"uid": format!("uid-{owner}")}]},
           "spec": {"containers": [{"name": "app", "image": "ghcr.io/org/app:1.0",
                                    "resources": {"limits": {"memory": "64Mi"}}}],
                    "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}}]},
           "status": status})
}

/// A Deployment `api` applied by Kustomization `app` (Ready, no wait) with its ReplicaSet and pod.
fn workload(pod_status: Value) -> Snapshot {
    let mut s = snap(
        vec![ks_obj(
            "app",
            json!({}),
            ok_status(&["apps_api_apps_Deployment"]),
        )],
        vec![repo_ok()],
    );
    s.live
        .insert_listing("apps", "Deployment", vec![deployment("api", 0)]);
    s.live
        .insert_listing("apps", "ReplicaSet", vec![replica_set("api-7d9", "api")]);
    s.live
        .insert_listing("", "Pod", vec![pod("api-7d9-x", "api-7d9", pod_status)]);
    s
}

#[test]
fn healthy_kustomization_is_ok() {
    let mut s = snap(
        vec![ks_obj(
            "app",
            json!({}),
            ok_status(&["apps_api_apps_Deployment"]),
        )],
        vec![repo_ok()],
    );
    s.live
        .insert_listing("apps", "Deployment", vec![deployment("api", 1)]);
    let d = why_ks(&s, "app");
    assert!(d.ok, "{d:?}");
    assert_eq!(lines(&d), ["Kustomization apps/app: Ready"]);
    assert!(doctor(&s).healthy(), "{:?}", doctor(&s));
}

#[test]
fn not_found_suggests_near_names() {
    let s = snap(
        vec![ks_obj("frontend", json!({}), ok_status(&[]))],
        vec![repo_ok()],
    );
    let d = why_ks(&s, "frontnd");
    assert_eq!(code(&d), "not-found");
    assert!(
        advice(&d).contains("did you mean frontend?"),
        "{}",
        advice(&d)
    );
}

#[test]
fn suspended() {
    let s = snap(
        vec![ks_obj("app", json!({"suspend": true}), ok_status(&[]))],
        vec![repo_ok()],
    );
    let d = why_ks(&s, "app");
    assert_eq!(code(&d), "suspended");
    assert!(advice(&d).contains("weir resume ks app -n apps"));
}

fn source_case(reason: &str, message: &str) -> Diagnosis {
    let r = repo(
        "repo",
        "https://user:hunter2@git.example/org/repo.git",
        json!({"observedGeneration": 1, "conditions": [cond("False", reason, message, 5)]}),
    );
    let s = snap(
        vec![ks_obj(
            "app",
            json!({}),
            failed_status(
                "ArtifactFailed",
                "Source GitRepository apps/repo has no artifact yet",
            ),
        )],
        vec![r],
    );
    why_ks(&s, "app")
}

#[test]
fn source_authentication() {
    let d = source_case(
        "AuthenticationFailed",
        "authentication to https://git.example/org/repo.git failed (HTTP 401): check the secret's credentials and their access to the repository",
    );
    assert_eq!(code(&d), "source-authentication");
    assert_eq!(
        lines(&d),
        [
            "Kustomization apps/app: source GitRepository apps/repo is not ready",
            "  GitRepository apps/repo: fetch failing: authentication on git.example",
        ]
    );
    assert!(advice(&d).contains("Secret apps/creds"), "{}", advice(&d));
    let all = serde_json::to_string(&d).expect("serialises");
    assert!(!all.contains("hunter2"), "the URL's password leaked: {all}");
}

#[test]
fn source_ref_not_found_with_near_names() {
    let d = source_case(
        "GitOperationFailed",
        "no branch named \"mian\" (similar: main) on https://git.example/org/repo.git",
    );
    assert_eq!(code(&d), "source-ref-not-found");
    assert!(
        advice(&d).contains("near names on git.example: main"),
        "{}",
        advice(&d)
    );
}

#[test]
fn source_rate_limited_with_reset() {
    let d = source_case(
        "GitOperationFailed",
        "https://git.example/org/repo.git is rate limiting requests (HTTP 429); retry after 90s",
    );
    assert_eq!(code(&d), "source-rate-limited");
    assert!(advice(&d).contains("about 90s"), "{}", advice(&d));
}

#[test]
fn source_timeout_and_too_large_and_missing_secret() {
    let d = source_case(
        "GitOperationFailed",
        "fetching https://git.example/org/repo.git timed out after 60s",
    );
    assert_eq!(code(&d), "source-timeout");
    let d = source_case(
        "GitOperationFailed",
        "https://git.example/org/repo.git sent a pack larger than the limit of 1024 bytes",
    );
    assert_eq!(code(&d), "source-too-large");
    let d = source_case(
        "AuthenticationFailed",
        "Secret apps/creds named in spec.secretRef does not exist",
    );
    assert_eq!(code(&d), "source-secret-missing");
}

#[test]
fn source_missing_and_without_artifact() {
    let s = snap(
        vec![ks_obj(
            "app",
            json!({}),
            failed_status("ArtifactFailed", "x"),
        )],
        vec![],
    );
    let d = why_ks(&s, "app");
    assert_eq!(code(&d), "source-missing");
    let r = repo("repo", "https://git.example/r", json!({}));
    let s = snap(
        vec![ks_obj(
            "app",
            json!({}),
            failed_status("ArtifactFailed", "x"),
        )],
        vec![r],
    );
    let d = why_ks(&s, "app");
    assert_eq!(code(&d), "source-no-artifact");
}

#[test]
fn dependency_not_ready_recurses_into_its_why() {
    let s = snap(
        vec![
            ks_obj(
                "frontend",
                json!({"dependsOn": [{"name": "backend"}]}),
                failed_status(
                    "DependencyNotReady",
                    "dependency 'apps/backend' is not ready",
                ),
            ),
            ks_obj(
                "backend",
                json!({}),
                failed_status(
                    "BuildFailed",
                    "build failed at revision x: base/kustomization.yaml: 'missing.yaml' does not exist (named in 'base/kustomization.yaml')",
                ),
            ),
        ],
        vec![repo_ok()],
    );
    let d = why_ks(&s, "frontend");
    assert_eq!(
        lines(&d),
        [
            "Kustomization apps/frontend: waits for dependency Kustomization apps/backend",
            "  Kustomization apps/backend: build failed in base/kustomization.yaml",
        ]
    );
    assert_eq!(code(&d), "build-failed");
}

#[test]
fn dependency_cycle_names_the_whole_chain() {
    let s = snap(
        vec![
            ks_obj(
                "a",
                json!({"dependsOn": [{"name": "b"}]}),
                failed_status("DependencyNotReady", ""),
            ),
            ks_obj(
                "b",
                json!({"dependsOn": [{"name": "c"}]}),
                failed_status("DependencyNotReady", ""),
            ),
            ks_obj(
                "c",
                json!({"dependsOn": [{"name": "a"}]}),
                failed_status("DependencyNotReady", ""),
            ),
        ],
        vec![repo_ok()],
    );
    let d = why_ks(&s, "b");
    assert_eq!(code(&d), "dependency-cycle");
    assert_eq!(
        lines(&d),
        ["Kustomization apps/b: dependency cycle: apps/a -> apps/b -> apps/c -> apps/a"]
    );
    let r = doctor(&s);
    assert_eq!(r.findings[0].code, "dependency-cycle");
    assert_eq!(r.findings[0].objects.len(), 3);
}

#[test]
fn dependency_missing_is_named() {
    let s = snap(
        vec![
            ks_obj(
                "app",
                json!({"dependsOn": [{"name": "infra-controlers"}]}),
                failed_status(
                    "DependencyNotReady",
                    "dependency 'apps/infra-controlers' not found",
                ),
            ),
            ks_obj("infra-controllers", json!({}), ok_status(&[])),
        ],
        vec![repo_ok()],
    );
    let d = why_ks(&s, "app");
    assert_eq!(code(&d), "dependency-missing");
    assert_eq!(
        lines(&d),
        ["Kustomization apps/app: dependency Kustomization apps/infra-controlers not found"]
    );
    assert!(
        advice(&d).contains("did you mean infra-controllers?"),
        "{}",
        advice(&d)
    );
    assert!(
        doctor(&s)
            .findings
            .iter()
            .any(|f| f.code == "dependency-missing")
    );
}

#[test]
fn build_failures_name_file_and_variables() {
    let case = |msg: &str| {
        let s = snap(
            vec![ks_obj("app", json!({}), failed_status("BuildFailed", msg))],
            vec![repo_ok()],
        );
        why_ks(&s, "app")
    };
    let d = case(
        "kustomize build failed: accumulating resources from 'deploy.yaml': '/tmp/kustomization-123/apps/deploy.yaml': no such file",
    );
    assert_eq!(code(&d), "build-failed");
    assert_eq!(
        lines(&d),
        ["Kustomization apps/app: build failed in deploy.yaml"]
    );
    let d = case("build failed at revision x: variable not set (strict mode): \"CLUSTER\"");
    assert_eq!(code(&d), "undefined-variable");
    let d = case("substitute from 'ConfigMap/vars' error: configmaps \"vars\" not found");
    assert_eq!(code(&d), "substitute-from-missing");
}

#[test]
fn apply_failures_rbac_conflict_immutable() {
    let case = |msg: &str| {
        let s = snap(
            vec![ks_obj(
                "app",
                json!({"serviceAccountName": "deployer"}),
                failed_status("ReconciliationFailed", msg),
            )],
            vec![repo_ok()],
        );
        why_ks(&s, "app")
    };
    let d = case(
        "apply failed at revision x: Deployment/apps/api: deployments.apps \"api\" is forbidden: User \"system:serviceaccount:apps:deployer\" cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"apps\"",
    );
    assert_eq!(code(&d), "rbac-denied");
    assert_eq!(
        lines(&d),
        ["Kustomization apps/app: apply denied to system:serviceaccount:apps:deployer"]
    );
    assert!(
        advice(&d).contains("`patch` on deployments (apps) in namespace apps"),
        "{}",
        advice(&d)
    );
    let d = case(
        "Deployment/apps/api dry-run failed: Apply failed with 1 conflict: conflict with \"helm\" using apps/v1: .spec.replicas",
    );
    assert_eq!(code(&d), "field-conflict");
    assert!(lines(&d)[0].ends_with("conflict with helm"));
    let d = case("Service/apps/api: spec.clusterIP: Invalid value: \"None\": field is immutable");
    assert_eq!(code(&d), "immutable-field");
    let d = case("no matches for kind \"Widget\" in version \"example.com/v1\"");
    assert_eq!(code(&d), "kind-not-served");
    let d = case(
        "Deployment/apps/api: Deployment.apps \"api\" is invalid: spec.replicas: Invalid value: -1",
    );
    assert_eq!(code(&d), "invalid-object");
}

#[test]
fn image_pull_below_deployment() {
    let s = workload(
        json!({"phase": "Pending", "containerStatuses": [{"name": "app", "image": "ghcr.io/org/app:1.0", "ready": false, "restartCount": 0,
        "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"ghcr.io/org/app:1.0\""}}}]}),
    );
    let d = why_ks(&s, "app");
    assert_eq!(code(&d), "image-pull");
    assert_eq!(
        lines(&d),
        [
            "Kustomization apps/app: Ready, but an applied object is not",
            "  Deployment apps/api: 0/1 replicas available",
            "    ReplicaSet apps/api-7d9: 0/1 pods ready",
            "      Pod apps/api-7d9-x: container app waiting: ImagePullBackOff",
        ]
    );
    assert!(advice(&d).contains("ghcr.io/org/app:1.0"));
}

#[test]
fn crash_loop_with_last_exit_code() {
    let s = workload(
        json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 7,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 2, "reason": "Error"}}}]}),
    );
    let d = why_ks(&s, "app");
    assert_eq!(code(&d), "crash-loop");
    assert_eq!(
        lines(&d).last().map(String::as_str),
        Some(
            "      Pod apps/api-7d9-x: container app CrashLoopBackOff: last exit code 2 (Error), 7 restarts"
        )
    );
    assert!(advice(&d).contains("kubectl logs -n apps api-7d9-x -c app --previous"));
}

#[test]
fn oom_killed() {
    let s = workload(
        json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 3,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}),
    );
    let d = why_ks(&s, "app");
    assert_eq!(code(&d), "oom-killed");
    assert!(advice(&d).contains("limit 64Mi"), "{}", advice(&d));
}

#[test]
fn running_pod_crash_looping_is_found_directly() {
    let mut s = snap(
        vec![ks_obj("app", json!({}), ok_status(&["apps_solo__Pod"]))],
        vec![repo_ok()],
    );
    s.live.insert_listing("", "Pod", vec![pod("solo", "none", json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 6,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}))]);
    let d = why_ks(&s, "app");
    assert_eq!(code(&d), "oom-killed");
    assert_eq!(
        lines(&d)[1],
        "  Pod apps/solo: container app OOMKilled, exit code 137, 6 restarts"
    );
}

#[test]
fn pending_with_scheduler_reason() {
    let base = |msg: &str| {
        let mut s = workload(
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": msg}]}),
        );
        s.live.insert_listing("", "PersistentVolumeClaim", vec![json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data-db-0", "namespace": "apps"}, "status": {"phase": "Bound"}})]);
        why_ks(&s, "app")
    };
    let d = base("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.");
    assert_eq!(code(&d), "unschedulable");
    assert_eq!(
        lines(&d).last().map(String::as_str),
        Some("      Pod apps/api-7d9-x: Pending: Unschedulable")
    );
    assert!(
        d.steps
            .last()
            .and_then(|s| s.detail.as_deref())
            .is_some_and(|m| m.contains("node affinity"))
    );
    assert!(advice(&d).contains("nodeSelector"));
    let d = base("0/3 nodes are available: 3 node(s) had untolerated taint {gpu: true}.");
    assert!(advice(&d).contains("toleration"));
    let d = base("0/3 nodes are available: 3 Insufficient memory.");
    assert!(advice(&d).contains("resources.requests"));
}

fn stateful(pvc_class: &str, classes: &[&str]) -> Snapshot {
    let mut s = snap(
        vec![ks_obj(
            "db",
            json!({"wait": true}),
            failed_status(
                "HealthCheckFailed",
                "timeout waiting for: [StatefulSet/apps/db status: 'InProgress']",
            ),
        )],
        vec![repo_ok()],
    );
    s.kustomizations[0]
        .status
        .as_mut()
        .expect("status")
        .inventory = Some(weir_api::flux::ResourceInventory {
        entries: vec![weir_api::flux::ResourceRef {
            id: "apps_db_apps_StatefulSet".into(),
            v: "v1".into(),
        }],
    });
    s.live.insert_listing("apps", "StatefulSet", vec![json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "apps", "uid": "uid-db", "generation": 1},
        "spec": {"replicas": 1, "volumeClaimTemplates": [{"metadata": {"name": "data"}}]},
        "status": {"observedGeneration": 1, "replicas": 1, "readyReplicas": 0, "currentReplicas": 1, "updatedReplicas": 1}})]);
    s.live.insert_listing("", "Pod", vec![pod("db-0", "db", json!({"phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."}]}))]);
    s.live.insert_listing("", "PersistentVolumeClaim", vec![json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data-db-0", "namespace": "apps"}, "spec": {"storageClassName": pvc_class}, "status": {"phase": "Pending"}})]);
    s.live.insert_listing("storage.k8s.io", "StorageClass", classes.iter().map(|c| json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": c}})).collect());
    s
}

#[test]
fn statefulset_pvc_storage_class_missing() {
    let d = why_ks(&stateful("fast-ssd", &["standard"]), "db");
    assert_eq!(code(&d), "storage-class-missing");
    assert_eq!(
        lines(&d),
        [
            "Kustomization apps/db: health check failed",
            "  StatefulSet apps/db: 0/1 replicas ready",
            "    Pod apps/db-0: Pending: waits for claim data-db-0",
            "      PersistentVolumeClaim apps/data-db-0: Pending",
            "        StorageClass fast-ssd: not found",
        ]
    );
    assert!(
        advice(&d).contains("the cluster has: standard"),
        "{}",
        advice(&d)
    );
    let d = why_ks(&stateful("standard", &["standard"]), "db");
    assert_eq!(code(&d), "provisioning");
}

#[test]
fn job_failed_with_exit_code() {
    let mut s = snap(
        vec![ks_obj(
            "migrate",
            json!({}),
            ok_status(&["apps_migrate_batch_Job"]),
        )],
        vec![repo_ok()],
    );
    s.live.insert_listing("batch", "Job", vec![json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "migrate", "namespace": "apps", "uid": "uid-migrate"},
        "status": {"failed": 4, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}})]);
    s.live.insert_listing("", "Pod", vec![pod("migrate-abc", "migrate", json!({"phase": "Failed",
        "containerStatuses": [{"name": "app", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}))]);
    let d = why_ks(&s, "migrate");
    assert_eq!(code(&d), "job-failed");
    assert_eq!(
        lines(&d).last().map(String::as_str),
        Some("    Pod apps/migrate-abc: Failed: container app exited with code 1 (Error)")
    );
    assert!(advice(&d).contains("BackoffLimitExceeded"));
}

#[test]
fn ready_but_not_in_cluster() {
    let mut s = snap(
        vec![ks_obj(
            "app",
            json!({}),
            ok_status(&["apps_api_apps_Deployment", "apps_cfg__ConfigMap"]),
        )],
        vec![repo_ok()],
    );
    s.live
        .insert_listing("apps", "Deployment", vec![deployment("api", 1)]);
    s.live.insert_listing("", "ConfigMap", vec![]);
    let d = why_ks(&s, "app");
    assert_eq!(code(&d), "missing-live");
    assert_eq!(
        lines(&d)[1],
        "  ConfigMap apps/cfg: in the inventory but not in the cluster"
    );
    let r = doctor(&s);
    assert_eq!(r.findings.len(), 1, "{r:?}");
    assert_eq!(r.findings[0].code, "missing-live");
}

#[test]
fn stale_source_revision_not_applied() {
    let mut r = repo_ok();
    let a = r
        .status
        .as_mut()
        .and_then(|s| s.artifact.as_mut())
        .expect("artifact");
    a.revision = REV2.into();
    a.last_update_time = at(25);
    let s = snap(vec![ks_obj("app", json!({}), ok_status(&[]))], vec![r]);
    let d = why_ks(&s, "app");
    assert_eq!(code(&d), "stale");
    assert!(
        lines(&d)[0].contains("source revision main@sha1:2222"),
        "{:?}",
        lines(&d)
    );
    assert!(
        advice(&d).contains("is a controller running?"),
        "{}",
        advice(&d)
    );
    let row = summary::kustomization(&s, &s.kustomizations[0]);
    assert!(row.revision_behind && row.stale.is_some());
    // Published 8 minutes ago with a 5m interval: not yet stale (2x interval), but behind.
    let mut r = repo_ok();
    let a = r
        .status
        .as_mut()
        .and_then(|s| s.artifact.as_mut())
        .expect("artifact");
    a.revision = REV2.into();
    a.last_update_time = at(8);
    let s = snap(vec![ks_obj("app", json!({}), ok_status(&[]))], vec![r]);
    assert!(why_ks(&s, "app").ok);
    let row = summary::kustomization(&s, &s.kustomizations[0]);
    assert!(row.revision_behind && row.stale.is_none());
}

#[test]
fn stale_reasons_suspended_and_controller() {
    // A reconcile request 20 minutes old and not handled, with a controller Deployment down.
    let mut k = ks_obj("app", json!({}), ok_status(&[]));
    k.metadata.annotations = Some([("reconcile.fluxcd.io/requestedAt".to_string(), at(20))].into());
    let mut s = snap(vec![k], vec![repo_ok()]);
    s.controllers = Some(vec![
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "kustomize-controller", "namespace": "flux-system"}, "spec": {"replicas": 1}, "status": {}}),
    ]);
    let d = why_ks(&s, "app");
    assert_eq!(code(&d), "stale");
    assert!(
        advice(&d).contains("no available replica"),
        "{}",
        advice(&d)
    );
    let r = doctor(&s);
    assert_eq!(r.findings[0].code, "controller-unavailable");
    assert!(r.findings.iter().any(|f| f.code == "stale"));
}

#[test]
fn doctor_groups_failing_sources_and_claims() {
    let bad = |name: &str| {
        let mut r = repo(
            name,
            "https://github.com/org/x.git",
            json!({"observedGeneration": 1, "conditions": [cond("False", "GitOperationFailed", "https://github.com/org/x.git is rate limiting requests (HTTP 429); retry after 60s", 3)]}),
        );
        r.metadata.namespace = Some("t1".into());
        r
    };
    let mut a = ks_obj("a", json!({}), ok_status(&["apps_shared__ConfigMap"]));
    a.metadata.name = Some("a".into());
    let b = ks_obj("b", json!({}), ok_status(&["apps_shared__ConfigMap"]));
    let mut s = snap(vec![a, b], vec![bad("x"), bad("y"), repo_ok()]);
    s.live.insert_listing("", "ConfigMap", vec![json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "shared", "namespace": "apps", "labels": {"kustomize.toolkit.fluxcd.io/name": "b", "kustomize.toolkit.fluxcd.io/namespace": "apps"}}})]);
    let r = doctor(&s);
    let codes: Vec<&str> = r.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, ["claimed-twice", "source-failing"], "{r:#?}");
    assert!(
        r.findings[0]
            .message
            .contains("Kustomization apps/a and Kustomization apps/b")
    );
    assert!(
        r.findings[0]
            .message
            .contains("apps/b (the last to apply it)")
    );
    assert!(
        r.findings[1]
            .message
            .starts_with("2 GitRepositories on github.com fail: rate-limited"),
        "{}",
        r.findings[1].message
    );
    assert_eq!(r.tenants[0].namespace, "apps");
    assert!(!r.not_available.is_empty());
}

#[test]
fn get_rows_mark_suspended_and_messages() {
    let s = snap(
        vec![
            ks_obj("b", json!({"suspend": true}), ok_status(&[])),
            ks_obj(
                "a",
                json!({}),
                failed_status("BuildFailed", "first line\nsecond line"),
            ),
        ],
        vec![repo_ok()],
    );
    let rows = summary::rows(&s, true, true);
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["repo", "a", "b"]);
    assert_eq!(rows[1].message, "first line");
    assert!(rows[1].ready_is("false"));
    assert!(rows[2].suspended);
    assert_eq!(rows[2].ready_for_secs, Some(30 * 60));
}

#[test]
fn flux_written_status_is_read_the_same() {
    // Status exactly as Flux's kustomize-controller writes it for a failing health check.
    let k: KustomizationObject = serde_json::from_value(json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "app", "namespace": "apps", "generation": 2},
        "spec": {"interval": "10m", "path": "./", "prune": true, "wait": true,
                 "sourceRef": {"kind": "GitRepository", "name": "repo"}},
        "status": {"observedGeneration": 2, "lastAttemptedRevision": REV, "lastAppliedRevision": REV,
            "conditions": [
                {"type": "Reconciling", "status": "False", "reason": "ProgressingWithRetry", "message": "Detecting drift for revision", "lastTransitionTime": at(3)},
                {"type": "Ready", "status": "False", "reason": "HealthCheckFailed", "message": "health check failed after 1m0s: timeout waiting for: [Deployment/apps/api status: 'InProgress']", "lastTransitionTime": at(3)},
                {"type": "Healthy", "status": "False", "reason": "HealthCheckFailed", "message": "", "lastTransitionTime": at(3)}],
            "inventory": {"entries": [{"id": "apps_api_apps_Deployment", "v": "v1"}]}}
    })).expect("valid");
    let mut s = workload(
        json!({"phase": "Pending", "containerStatuses": [{"name": "app", "image": "ghcr.io/org/app:1.0", "state": {"waiting": {"reason": "ErrImagePull"}}}]}),
    );
    s.kustomizations = vec![k];
    let d = why_ks(&s, "app");
    assert_eq!(code(&d), "image-pull");
    assert_eq!(lines(&d)[0], "Kustomization apps/app: health check failed");
}

#[test]
fn nested_kustomization_in_inventory_is_followed() {
    let s = snap(
        vec![
            ks_obj(
                "root",
                json!({}),
                ok_status(&["apps_child_kustomize.toolkit.fluxcd.io_Kustomization"]),
            ),
            ks_obj(
                "child",
                json!({}),
                failed_status("BuildFailed", "bad.yaml: invalid YAML"),
            ),
        ],
        vec![repo_ok()],
    );
    let d = why_ks(&s, "root");
    assert_eq!(code(&d), "build-failed");
    assert_eq!(
        lines(&d)[1],
        "  Kustomization apps/child: build failed in bad.yaml"
    );
}

#[test]
fn git_repository_why() {
    let s = snap(vec![], vec![repo_ok()]);
    let d = why(&s, Kind::GitRepository, &ObjectKey::new("apps", "repo"));
    assert!(d.ok);
    let d = why(&s, Kind::GitRepository, &ObjectKey::new("apps", "rpo"));
    assert_eq!(code(&d), "not-found");
    assert!(advice(&d).contains("did you mean repo?"));
}
