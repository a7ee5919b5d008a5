//! Test harness: one testenv control plane per test binary, shared by every test (each in its own
//! namespace), torn down by testenv itself when this process exits (`up --watch-pid`), however the
//! process ends. If the control plane cannot be started the tests fail; they never skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use weir_apply::{Applier, Options};

/// A running control plane.
pub struct TestEnv {
    pub kubeconfig: PathBuf,
    pub kubectl: PathBuf,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The control plane of this test binary, started on first use.
pub fn env() -> &'static TestEnv {
    static ENV: OnceLock<TestEnv> = OnceLock::new();
    ENV.get_or_init(|| {
        let script = repo_root().join("testenv/testenv");
        let name = format!("weir-apply-test-{}", std::process::id());
        let out = Command::new(&script)
            .args(["up", &name, "--watch-pid", &std::process::id().to_string()])
            .output()
            .expect("testenv/testenv runs");
        assert!(
            out.status.success(),
            "testenv up failed (run `testenv/testenv build` first):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout.lines().last().unwrap_or_default();
        let kubeconfig = PathBuf::from(
            last.strip_prefix("KUBECONFIG=")
                .expect("last line of `up` is KUBECONFIG=<path>"),
        );
        let bin = Command::new(&script)
            .arg("bin")
            .output()
            .expect("testenv bin runs");
        let kubectl = PathBuf::from(String::from_utf8_lossy(&bin.stdout).trim()).join("kubectl");
        TestEnv {
            kubeconfig,
            kubectl,
        }
    })
}

/// An applier on the shared control plane.
pub async fn applier() -> Applier {
    Applier::new(client().await)
}

/// A client on the shared control plane.
pub async fn client() -> kube::Client {
    weir_apply::client(Some(&env().kubeconfig), None)
        .await
        .expect("client for testenv")
}

/// Runs kubectl on the control plane; panics with its stderr on failure.
pub fn kubectl(args: &[&str]) -> String {
    let out = Command::new(&env().kubectl)
        .arg("--kubeconfig")
        .arg(&env().kubeconfig)
        .args(args)
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The object as JSON, or `None` when it does not exist.
pub fn get(kind: &str, ns: &str, name: &str) -> Option<Value> {
    let out = Command::new(&env().kubectl)
        .arg("--kubeconfig")
        .arg(&env().kubeconfig)
        .args([
            "get",
            kind,
            name,
            "-n",
            ns,
            "-o",
            "json",
            "--ignore-not-found",
            "--show-managed-fields",
        ])
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl get failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout.is_empty() {
        None
    } else {
        Some(serde_json::from_slice(&out.stdout).expect("kubectl -o json"))
    }
}

/// A fresh namespace for one test.
pub fn namespace(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let ns = format!("{prefix}-{}", N.fetch_add(1, Ordering::Relaxed));
    kubectl(&["create", "namespace", &ns]);
    ns
}

/// Options for apply `name` in `ns`, with a short timeout for tests.
pub fn options(name: &str, ns: &str) -> Options {
    let mut o = Options::new(name, ns);
    o.timeout = std::time::Duration::from_secs(60);
    o
}

pub fn config_map(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
}

pub fn deployment(name: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]}
            }
        }
    })
}

pub fn service(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}
    })
}
