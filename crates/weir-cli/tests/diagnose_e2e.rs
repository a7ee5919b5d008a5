//! `weir why`, `get`, `doctor` and `reconcile` end to end: the real binary against a testenv control
//! plane, on Flux objects whose status is hand-written through the status subresource (as Flux's or
//! weir's controllers would write it). testenv has no kubelet or controller-manager, so Deployments,
//! ReplicaSets and Pods carry hand-written status too. One plane per test binary; one namespace per
//! test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Env {
    kubeconfig: PathBuf,
    kubectl: PathBuf,
}

static ENV: OnceLock<Env> = OnceLock::new();

fn env() -> &'static Env {
    ENV.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let script = root.join("testenv/testenv");
        let pid = std::process::id().to_string();
        let up = Command::new(&script)
            .args(["up", &format!("weir-diagnose-{pid}"), "--watch-pid", &pid])
            .output()
            .expect("testenv/testenv runs");
        assert!(
            up.status.success(),
            "testenv up failed (run `testenv/testenv build` first):\n{}",
            String::from_utf8_lossy(&up.stderr)
        );
        let stdout = String::from_utf8_lossy(&up.stdout);
        let kubeconfig = PathBuf::from(
            stdout
                .lines()
                .last()
                .and_then(|l| l.strip_prefix("KUBECONFIG="))
                .expect("KUBECONFIG= line"),
        );
        let bin = Command::new(&script)
            .arg("bin")
            .output()
            .expect("testenv bin");
        let kubectl = PathBuf::from(String::from_utf8_lossy(&bin.stdout).trim()).join("kubectl");
        let install = Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(["install", "--crds-only", "--kubeconfig"])
            .arg(&kubeconfig)
            .output()
            .expect("weir install");
        assert!(install.status.success(), "weir install: {}", text(&install));
        Env {
            kubeconfig,
            kubectl,
        }
    })
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn kubectl(args: &[&str], stdin: Option<&str>) -> String {
    let e = env();
    let mut child = Command::new(&e.kubectl)
        .arg("--kubeconfig")
        .arg(&e.kubeconfig)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    {
        use std::io::Write;
        let mut input = child.stdin.take().expect("stdin");
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).expect("write");
        }
    }
    let out = child.wait_with_output().expect("kubectl output");
    assert!(out.status.success(), "kubectl {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Creates `obj`, then writes its `status` through the status subresource; returns the object.
fn create(obj: Value) -> Value {
    let status = obj.get("status").cloned();
    let mut spec_only = obj.clone();
    if let Some(m) = spec_only.as_object_mut() {
        m.remove("status");
    }
    let created: Value = serde_json::from_str(&kubectl(
        &["create", "-o", "json", "-f", "-"],
        Some(&spec_only.to_string()),
    ))
    .expect("json");
    if let Some(status) = status {
        set_status(&created, status);
    }
    created
}

fn set_status(obj: &Value, status: Value) {
    let kind = obj["kind"].as_str().expect("kind").to_lowercase();
    let group = obj["apiVersion"]
        .as_str()
        .and_then(|v| v.split_once('/'))
        .map(|(g, _)| format!(".{g}"))
        .unwrap_or_default();
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or("");
    let name = obj["metadata"]["name"].as_str().expect("name");
    kubectl(
        &[
            "patch",
            &format!("{kind}{group}"),
            name,
            "-n",
            ns,
            "--subresource=status",
            "--type=merge",
            "-p",
            &json!({"status": status}).to_string(),
        ],
        None,
    );
}

fn namespace(name: &str) {
    kubectl(&["create", "namespace", name], None);
}

fn weir(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .arg("--kubeconfig")
        .arg(&env().kubeconfig)
        .output()
        .expect("weir runs")
}

const REV: &str = "main@sha1:1111111111111111111111111111111111111111";

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

fn repo(ns: &str, status: Value) -> Value {
    create(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "repo", "namespace": ns},
        "spec": {"url": "https://git.example/org/repo.git", "interval": "1m",
                 "ref": {"branch": "main"}, "secretRef": {"name": "creds"}},
        "status": status
    }))
}

fn repo_ready(ns: &str) -> Value {
    repo(
        ns,
        json!({"observedGeneration": 1,
               "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded",
                               "message": format!("stored artifact for revision '{REV}'"), "lastTransitionTime": now()}],
               "artifact": {"path": "p", "url": "http://x/p", "revision": REV, "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                            "lastUpdateTime": now(), "size": 1024}}),
    )
}

fn ks(ns: &str, name: &str, spec: Value, status: Value) -> Value {
    let mut s = json!({"interval": "5m", "prune": true, "path": "./",
                       "sourceRef": {"kind": "GitRepository", "name": "repo"}});
    if let (Some(a), Value::Object(b)) = (s.as_object_mut(), spec) {
        a.extend(b);
    }
    create(json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": ns},
        "spec": s, "status": status
    }))
}

fn ready_status(inventory: &[&str]) -> Value {
    json!({"observedGeneration": 1, "lastAppliedRevision": REV, "lastAttemptedRevision": REV,
           "conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
                           "message": format!("Applied revision: {REV}"), "lastTransitionTime": now()}],
           "inventory": {"entries": inventory.iter().map(|i| json!({"id": i, "v": "v1"})).collect::<Vec<_>>()}})
}

fn failed_status(reason: &str, message: &str) -> Value {
    json!({"observedGeneration": 1, "lastAttemptedRevision": REV,
           "conditions": [{"type": "Ready", "status": "False", "reason": reason, "message": message,
                           "lastTransitionTime": now()}]})
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn why_follows_a_failing_source_and_counts_requests() {
    let ns = "why-source";
    namespace(ns);
    repo(
        ns,
        json!({"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "False", "reason": "AuthenticationFailed",
            "message": "authentication to https://git.example/org/repo.git failed (HTTP 401): check the secret's credentials and their access to the repository",
            "lastTransitionTime": now()}]}),
    );
    ks(
        ns,
        "app",
        json!({}),
        failed_status(
            "ArtifactFailed",
            "Source GitRepository why-source/repo has no artifact yet",
        ),
    );
    let out = weir(&["why", "ks/app", "-n", ns]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(
        lines[0],
        "Kustomization why-source/app: source GitRepository why-source/repo is not ready",
        "{}",
        text(&out)
    );
    assert!(lines[1].starts_with("  GitRepository why-source/repo: fetch failing: authentication on git.example — authentication to"), "{}", text(&out));
    assert!(
        lines[2].starts_with(
            "fix (source-authentication): check the credentials in Secret why-source/creds"
        ),
        "{}",
        text(&out)
    );
    let json_out = weir(&["why", "ks/app", "-n", ns, "-o", "json"]);
    let v: Value = serde_json::from_slice(&json_out.stdout).expect("json");
    assert_eq!(v["cause"]["code"], "source-authentication");
    // Kustomizations, GitRepositories, controller Deployments: a fixed number of LISTs.
    let requests = v["requests"].as_u64().expect("requests");
    assert!(requests <= 4, "{requests} requests: {v}");
}

#[test]
fn why_descends_from_a_dependency_to_the_pod() {
    let ns = "why-health";
    namespace(ns);
    repo_ready(ns);
    // testenv runs the controller-manager, which would rewrite a hand-made Deployment's ReplicaSets:
    // the Pod is applied directly here (Deployment -> ReplicaSet -> Pod is covered by unit tests).
    let pod = create(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "api", "namespace": ns},
        "spec": {"containers": [{"name": "app", "image": "registry.example/api:nope"}]}}));
    set_status(
        &pod,
        json!({"phase": "Pending", "containerStatuses": [{"name": "app", "image": "registry.example/api:nope", "imageID": "",
        "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"registry.example/api:nope\""}}}]}),
    );
    ks(
        ns,
        "backend",
        json!({"wait": true}),
        json!({"observedGeneration": 1, "lastAttemptedRevision": REV,
        "conditions": [{"type": "Ready", "status": "False", "reason": "HealthCheckFailed",
                        "message": "health check failed after 5m0s: timeout waiting for: [Pod/why-health/api status: 'InProgress']",
                        "lastTransitionTime": now()}],
        "inventory": {"entries": [{"id": "why-health_api__Pod", "v": "v1"}]}}),
    );
    ks(
        ns,
        "frontend",
        json!({"dependsOn": [{"name": "backend"}]}),
        failed_status(
            "DependencyNotReady",
            "dependency 'why-health/backend' is not ready",
        ),
    );
    let out = weir(&["why", "ks/frontend", "-n", ns]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let got = stdout(&out);
    let want = "Kustomization why-health/frontend: waits for dependency Kustomization why-health/backend
  Kustomization why-health/backend: health check failed — health check failed after 5m0s: timeout waiting for: [Pod/why-health/api status: 'InProgress']
    Pod why-health/api: container app waiting: ImagePullBackOff — Back-off pulling image \"registry.example/api:nope\"
fix (image-pull): the image registry.example/api:nope of container app cannot be pulled: check its name and tag, that it exists in the registry, and the pod's imagePullSecrets
";
    let lines: Vec<&str> = got.lines().collect();
    let want_lines: Vec<&str> = want.lines().collect();
    assert_eq!(lines.len(), want_lines.len(), "{}", text(&out));
    assert_eq!(lines, want_lines, "{}", text(&out));
}

#[test]
fn get_marks_failures_and_filters_by_status() {
    let ns = "get-status";
    namespace(ns);
    repo_ready(ns);
    ks(ns, "good", json!({}), ready_status(&[]));
    ks(
        ns,
        "bad",
        json!({}),
        failed_status(
            "BuildFailed",
            "build failed at revision x: kustomization.yaml: 'missing.yaml' does not exist\nsecond line",
        ),
    );
    ks(ns, "paused", json!({"suspend": true}), ready_status(&[]));
    let out = weir(&["get", "ks", "-n", ns, "--status-selector", "ready=false"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let got = stdout(&out);
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines.len(), 2, "{got}");
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("SINCE") && lines[0].contains("STALE"),
        "{got}"
    );
    assert!(
        lines[1].starts_with("kustomization/bad")
            && lines[1].ends_with("'missing.yaml' does not exist"),
        "{got}"
    );
    let out = weir(&["get", "all", "-n", ns, "-o", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let names: Vec<&str> = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["repo", "bad", "good", "paused"]);
    assert_eq!(v["items"][3]["suspended"], true);
    assert_eq!(v["requests"], 2, "{v}");
}

#[test]
fn doctor_reports_ready_objects_missing_live_and_exits_1() {
    let ns = "doctor-missing";
    namespace(ns);
    repo_ready(ns);
    kubectl(&["create", "configmap", "present", "-n", ns], None);
    ks(
        ns,
        "app",
        json!({}),
        ready_status(&[
            "doctor-missing_present__ConfigMap",
            "doctor-missing_gone__ConfigMap",
        ]),
    );
    let out = weir(&["doctor", "-n", ns]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let got = stdout(&out);
    assert!(got.starts_with("error [missing-live] Kustomization doctor-missing/app is Ready but 1 of its objects are not in the cluster: ConfigMap doctor-missing/gone\n"), "{got}");
    assert!(
        got.contains("not available: per-host request budgets"),
        "{got}"
    );
    let healthy_ns = "doctor-healthy";
    namespace(healthy_ns);
    repo_ready(healthy_ns);
    kubectl(&["create", "configmap", "present", "-n", healthy_ns], None);
    ks(
        healthy_ns,
        "app",
        json!({}),
        ready_status(&["doctor-healthy_present__ConfigMap"]),
    );
    let out = weir(&["doctor", "-n", healthy_ns, "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["healthy"], true, "{v}");
}

#[test]
fn reconcile_waits_for_the_request_to_be_handled() {
    let ns = "reconcile-wait";
    namespace(ns);
    repo_ready(ns);
    let app = ks(ns, "app", json!({}), ready_status(&[]));
    let child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "reconcile",
            "ks",
            "app",
            "-n",
            ns,
            "--timeout",
            "60s",
            "--kubeconfig",
        ])
        .arg(&env().kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weir reconcile");
    // Play the controller: once the request annotation appears, mark it handled with a new outcome.
    let start = Instant::now();
    let token = loop {
        let v: Value = serde_json::from_str(&kubectl(
            &[
                "get",
                "kustomization.kustomize.toolkit.fluxcd.io",
                "app",
                "-n",
                ns,
                "-o",
                "json",
            ],
            None,
        ))
        .expect("json");
        if let Some(t) = v["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"].as_str() {
            break t.to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no request written"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut status = ready_status(&[]);
    status["lastHandledReconcileAt"] = json!(token);
    status["conditions"][0]["message"] = json!("Applied revision: handled");
    set_status(&app, status);
    let out = child.wait_with_output().expect("reconcile ends");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "Kustomization {ns}/app: Ready=True ReconciliationSucceeded: Applied revision: handled\n"
        )
    );
    // Suspend and resume write spec.suspend; a suspended object is not reconciled.
    let out = weir(&["suspend", "ks", "app", "-n", ns]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: Value = serde_json::from_str(&kubectl(
        &[
            "get",
            "kustomization.kustomize.toolkit.fluxcd.io",
            "app",
            "-n",
            ns,
            "-o",
            "json",
        ],
        None,
    ))
    .expect("json");
    assert_eq!(v["spec"]["suspend"], true);
    let out = weir(&["reconcile", "ks", "app", "-n", ns]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is suspended"),
        "{}",
        text(&out)
    );
    let out = weir(&["why", "ks/app", "-n", ns]);
    assert!(stdout(&out).contains("fix (suspended): it is suspended (spec.suspend: true): `weir resume ks app -n reconcile-wait`"), "{}", text(&out));
}
