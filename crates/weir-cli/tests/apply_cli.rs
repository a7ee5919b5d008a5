//! `weir apply` end to end: the real binary against a testenv control plane (started once for this
//! test binary, torn down by testenv when the process exits). Fails, never skips, without testenv.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn control_plane() -> (PathBuf, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = root.join("testenv/testenv");
    let pid = std::process::id().to_string();
    let up = Command::new(&script)
        .args(["up", &format!("weir-cli-apply-{pid}"), "--watch-pid", &pid])
        .output()
        .expect("testenv/testenv runs");
    assert!(
        up.status.success(),
        "testenv up failed (run `testenv/testenv build` first):\n{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let stdout = String::from_utf8_lossy(&up.stdout);
    let kubeconfig = stdout
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("KUBECONFIG="))
        .expect("KUBECONFIG= line");
    let bin = Command::new(&script)
        .arg("bin")
        .output()
        .expect("testenv bin");
    (
        PathBuf::from(kubeconfig),
        PathBuf::from(String::from_utf8_lossy(&bin.stdout).trim()).join("kubectl"),
    )
}

fn weir(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("apply")
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .output()
        .expect("weir runs")
}

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: REPLICAS
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: registry.example/web:1
";

#[test]
fn weir_apply_dry_run_diff_apply_prune_and_wait() {
    let (kubeconfig, kubectl) = control_plane();
    let ok = Command::new(&kubectl)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["create", "namespace", "cli"])
        .status()
        .expect("kubectl");
    assert!(ok.success());
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, body: &str| {
        std::fs::write(dir.path().join(name), body).expect("write manifest")
    };
    write(
        "kustomization.yaml",
        "resources: [deployment.yaml, settings.yaml]\n",
    );
    write("deployment.yaml", &DEPLOYMENT.replace("REPLICAS", "2"));
    write(
        "settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: '1'}\n",
    );
    let d = dir.path().to_str().expect("utf-8 temp path");

    let plan = weir(&kubeconfig, &[d, "--name", "web", "-n", "cli", "--dry-run"]);
    assert_eq!(plan.status.code(), Some(1), "{}", text(&plan));
    assert!(
        String::from_utf8_lossy(&plan.stdout).contains("Deployment cli/web created (dry run)"),
        "{}",
        text(&plan)
    );

    let applied = weir(
        &kubeconfig,
        &[
            d,
            "--name",
            "web",
            "-n",
            "cli",
            "--wait",
            "--timeout",
            "60s",
        ],
    );
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));
    assert!(
        String::from_utf8_lossy(&applied.stdout).contains("2 created"),
        "{}",
        text(&applied)
    );

    let same = weir(&kubeconfig, &[d, "--name", "web", "-n", "cli", "--dry-run"]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));

    write("deployment.yaml", &DEPLOYMENT.replace("REPLICAS", "3"));
    write("kustomization.yaml", "resources: [deployment.yaml]\n");
    let diff = weir(
        &kubeconfig,
        &[d, "--name", "web", "-n", "cli", "--dry-run", "--prune"],
    );
    assert_eq!(diff.status.code(), Some(1), "{}", text(&diff));
    let out = String::from_utf8_lossy(&diff.stdout);
    assert!(out.contains("~ spec.replicas: 2 -> 3"), "{}", text(&diff));
    assert!(
        out.contains("ConfigMap cli/settings pruned (dry run)"),
        "{}",
        text(&diff)
    );

    let pruned = weir(&kubeconfig, &[d, "--name", "web", "-n", "cli", "--prune"]);
    assert_eq!(pruned.status.code(), Some(0), "{}", text(&pruned));
    let gone = Command::new(&kubectl)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args([
            "get",
            "configmap",
            "settings",
            "-n",
            "cli",
            "--ignore-not-found",
            "-o",
            "name",
        ])
        .output()
        .expect("kubectl");
    assert!(gone.stdout.is_empty(), "settings should be pruned");

    let bad = weir(
        &kubeconfig,
        &["/nonexistent-dir", "--name", "web", "-n", "cli"],
    );
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
}
