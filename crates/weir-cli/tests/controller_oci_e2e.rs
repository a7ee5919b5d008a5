//! `weir controller` end to end with an OCIRepository: the real binary against a testenv control
//! plane, reading artifacts that `weir push artifact` put into the distribution registry
//! (Debian's `docker-registry`) on loopback. The harness is controller_e2e.rs's.

#[path = "../../weir-source/tests/oci/registry.rs"]
mod registry;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use registry::{Registry, tree};
use serde_json::Value;

struct Env {
    kubeconfig: PathBuf,
    kubectl: PathBuf,
    registry: Registry,
    log: PathBuf,
    _controller: ChildGuard,
    _dir: tempfile::TempDir,
}

struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

static ENV: OnceLock<Env> = OnceLock::new();

fn env() -> &'static Env {
    ENV.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let script = root.join("testenv/testenv");
        let pid = std::process::id().to_string();
        let up = Command::new(&script)
            .args(["up", &format!("weir-oci-{pid}"), "--watch-pid", &pid])
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
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = Registry::start();

        let install = Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(["install", "--crds-only", "--kubeconfig"])
            .arg(&kubeconfig)
            .output()
            .expect("weir install");
        assert!(
            install.status.success(),
            "weir install: {}",
            String::from_utf8_lossy(&install.stderr)
        );

        let log = dir.path().join("controller.log");
        // The controller lives as long as this test process: a watchdog shell stops it when the
        // process exits (the OnceLock's guard is never dropped, statics are not).
        let controller = Command::new("bash")
            .arg("-c")
            .arg(
                r#""$@" & c=$!; while kill -0 "$WEIR_TEST_PID" 2>/dev/null && kill -0 "$c" 2>/dev/null; do sleep 0.5; done; kill "$c" 2>/dev/null; wait "$c""#,
            )
            .arg("watchdog")
            .arg(env!("CARGO_BIN_EXE_weir"))
            .args(["controller", "--concurrent", "4", "--log-format", "json", "--kubeconfig"])
            .arg(&kubeconfig)
            .arg("--storage-dir")
            .arg(dir.path().join("storage"))
            .env("WEIR_TEST_PID", &pid)
            .env("WEIR_LOG", "info,kube=warn,weir_controller=debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("weir controller starts");
        Env {
            kubeconfig,
            kubectl,
            registry,
            log,
            _controller: ChildGuard(controller),
            _dir: dir,
        }
    })
}

fn kubectl(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let e = env();
    let mut cmd = Command::new(&e.kubectl);
    cmd.arg("--kubeconfig").arg(&e.kubeconfig).args(args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("kubectl");
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write");
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().expect("kubectl output");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn apply(yaml: &str) {
    let (ok, out) = kubectl(&["apply", "-f", "-"], Some(yaml));
    assert!(ok, "kubectl apply: {out}\n{yaml}");
}

fn get(kind: &str, ns: &str, name: &str) -> Option<Value> {
    let (ok, out) = kubectl(&["get", kind, "-n", ns, name, "-o", "json"], None);
    if !ok {
        return None;
    }
    serde_json::from_str(&out).ok()
}

/// Polls until `check` returns Some, or fails with what was seen last.
fn eventually<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < timeout {
        match check() {
            Ok(v) => return v,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = std::fs::read_to_string(&env().log).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(30).collect();
    panic!(
        "timed out waiting for {what}: {last}\ncontroller log (last lines, newest first):\n{}",
        tail.join("\n")
    );
}

fn condition(obj: &Value, type_: &str) -> Option<Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .cloned()
}

fn wait_ready(kind: &str, ns: &str, name: &str) -> Value {
    eventually(
        &format!("{kind} {ns}/{name} Ready"),
        Duration::from_secs(60),
        || {
            let obj = get(kind, ns, name).ok_or("not found")?;
            match condition(&obj, "Ready") {
                Some(c) if c["status"] == "True" => Ok(obj),
                Some(c) => Err(format!(
                    "Ready={} {}: {}",
                    c["status"], c["reason"], c["message"]
                )),
                None => Err("no Ready condition".into()),
            }
        },
    )
}

fn namespace(name: &str) {
    let (ok, out) = kubectl(&["create", "namespace", name], None);
    assert!(ok || out.contains("AlreadyExists"), "{out}");
}

fn configmap(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n"
    )
}

/// `weir push artifact` of `app/cm.yaml` (ConfigMap `cm` with `value`) as `app:TAG`; the digest.
fn push(tag: &str, value: &str) -> String {
    let dir = tree(&[("app/cm.yaml", &configmap("cm", value))]);
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["push", "artifact"])
        .arg(format!("{}:{tag}", env().registry.url("app")))
        .arg("--path")
        .arg(dir.path())
        .args([
            "--source",
            "https://example.com/app",
            "--revision",
            &format!("{tag}@sha1:0123456789012345678901234567890123456789"),
            "--insecure",
            "-o",
            "json",
        ])
        .output()
        .expect("weir push");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("json");
    json["digest"].as_str().expect("digest").to_owned()
}

#[test]
fn a_kustomization_from_an_oci_repository_follows_a_new_tag() {
    let ns = "e2e-oci";
    let d1 = push("1.0.0", "one");
    namespace(ns);
    apply(&format!(
        "apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {{name: app, namespace: {ns}}}
spec:
  interval: 2s
  url: {url}
  insecure: true
  ref: {{semver: \">=1.0.0\"}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: app, namespace: {ns}}}
spec:
  interval: 10m
  retryInterval: 5s
  sourceRef: {{kind: OCIRepository, name: app}}
  path: ./app
  prune: true
  targetNamespace: {ns}
",
        url = env().registry.url("app")
    ));
    let repo = wait_ready("ocirepositories.source.toolkit.fluxcd.io", ns, "app");
    assert_eq!(
        repo["status"]["artifact"]["revision"],
        format!("1.0.0@{d1}").as_str()
    );
    assert_eq!(repo["status"]["url"], env().registry.url("app").as_str());
    assert!(
        condition(&repo, "ArtifactInStorage").is_some_and(|c| c["status"] == "True"),
        "{repo}"
    );
    let ks = wait_ready("kustomizations.kustomize.toolkit.fluxcd.io", ns, "app");
    assert_eq!(
        ks["status"]["lastAppliedRevision"],
        format!("1.0.0@{d1}").as_str()
    );
    let cm = get("configmap", ns, "cm").expect("applied");
    assert_eq!(cm["data"]["value"], "one");

    // A new tag in range: the OCIRepository moves to it and the Kustomization applies it.
    let d2 = push("1.1.0", "two");
    eventually("the new tag applied", Duration::from_secs(60), || {
        let ks = get("kustomizations.kustomize.toolkit.fluxcd.io", ns, "app").ok_or("no ks")?;
        let cm = get("configmap", ns, "cm").ok_or("no configmap")?;
        if ks["status"]["lastAppliedRevision"] == format!("1.1.0@{d2}").as_str()
            && cm["data"]["value"] == "two"
        {
            Ok(())
        } else {
            Err(format!(
                "lastAppliedRevision={} value={}",
                ks["status"]["lastAppliedRevision"], cm["data"]["value"]
            ))
        }
    });
}

#[test]
fn oci_failures_are_reported_with_fluxs_reasons() {
    let ns = "e2e-oci-failures";
    push("0.1.0", "x");
    namespace(ns);
    let url = env().registry.url("app");
    apply(&format!(
        "apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {{name: missing, namespace: {ns}}}
spec:
  interval: 1m
  url: {url}
  insecure: true
  ref: {{tag: \"0.1.1\"}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {{name: cloud, namespace: {ns}}}
spec:
  interval: 1m
  url: {url}
  insecure: true
  provider: aws
"
    ));
    let kind = "ocirepositories.source.toolkit.fluxcd.io";
    eventually("missing tag reported", Duration::from_secs(60), || {
        let obj = get(kind, ns, "missing").ok_or("not found")?;
        let c = condition(&obj, "Ready").ok_or("no Ready")?;
        if c["status"] == "False"
            && c["reason"] == "OCIArtifactPullFailed"
            && c["message"]
                .as_str()
                .is_some_and(|m| m.contains("tag \"0.1.1\" not found") && m.contains("0.1.0"))
        {
            Ok(())
        } else {
            Err(c.to_string())
        }
    });
    eventually("cloud provider refused", Duration::from_secs(60), || {
        let obj = get(kind, ns, "cloud").ok_or("not found")?;
        let c = condition(&obj, "Stalled").ok_or("no Stalled")?;
        if c["status"] == "True"
            && c["message"]
                .as_str()
                .is_some_and(|m| m.contains("spec.provider \"aws\"") && m.contains("not supported"))
        {
            Ok(())
        } else {
            Err(c.to_string())
        }
    });
}
