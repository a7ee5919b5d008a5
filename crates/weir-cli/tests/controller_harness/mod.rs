//! The harness of the `weir controller` end-to-end tests: one testenv control plane and one
//! controller per test binary, repositories served by `git http-backend` on loopback, and kubectl
//! helpers. Each test binary uses a part of it.
#![allow(dead_code)]
#[path = "../../../weir-source/tests/source/support.rs"]
pub mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{HttpGitServer, git};

pub struct Env {
    pub kubeconfig: PathBuf,
    pub kubectl: PathBuf,
    pub server: HttpGitServer,
    pub repos: PathBuf,
    pub log: PathBuf,
    pub _controller: ChildGuard,
    pub _dir: tempfile::TempDir,
}

pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

pub static ENV: OnceLock<Env> = OnceLock::new();

pub fn env() -> &'static Env {
    ENV.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let script = root.join("testenv/testenv");
        let pid = std::process::id().to_string();
        let up = Command::new(&script)
            .args(["up", &format!("weir-controller-{pid}"), "--watch-pid", &pid])
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
        let repos = dir.path().join("repos");
        std::fs::create_dir_all(&repos).expect("mkdir");
        let server = HttpGitServer::start(&repos);

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
            server,
            repos,
            log,
            _controller: ChildGuard(controller),
            _dir: dir,
        }
    })
}

pub fn kubectl(args: &[&str], stdin: Option<&str>) -> (bool, String) {
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

pub fn apply(yaml: &str) {
    let (ok, out) = kubectl(&["apply", "-f", "-"], Some(yaml));
    assert!(ok, "kubectl apply: {out}\n{yaml}");
}

pub fn get(kind: &str, ns: &str, name: &str) -> Option<Value> {
    let (ok, out) = kubectl(&["get", kind, "-n", ns, name, "-o", "json"], None);
    if !ok {
        return None;
    }
    serde_json::from_str(&out).ok()
}

/// Polls until `check` returns Some, or fails with what was seen last.
pub fn eventually<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
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

pub fn condition(obj: &Value, type_: &str) -> Option<Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .cloned()
}

pub fn wait_ready(kind: &str, ns: &str, name: &str) -> Value {
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

/// A work tree published as `<repos>/<name>.git`; `commit` pushes what the tree holds now.
pub struct Repo {
    pub work: tempfile::TempDir,
    pub bare: PathBuf,
    pub name: String,
}

impl Repo {
    pub fn new(name: &str, files: &[(&str, &str)]) -> Repo {
        let e = env();
        let work = tempfile::tempdir().expect("tempdir");
        git(work.path(), &["init", "-q", "-b", "main"]);
        let bare = e.repos.join(format!("{name}.git"));
        git(
            &e.repos,
            &[
                "init",
                "-q",
                "--bare",
                "-b",
                "main",
                &bare.display().to_string(),
            ],
        );
        git(
            work.path(),
            &["remote", "add", "origin", &bare.display().to_string()],
        );
        let repo = Repo {
            work,
            bare,
            name: name.to_string(),
        };
        repo.write(files);
        repo.commit("initial");
        repo
    }

    pub fn write(&self, files: &[(&str, &str)]) {
        for (p, c) in files {
            let path = self.work.path().join(p);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, c).expect("write");
        }
    }

    pub fn remove(&self, path: &str) {
        std::fs::remove_file(self.work.path().join(path)).expect("rm");
    }

    /// Commits and pushes; returns the commit id.
    pub fn commit(&self, msg: &str) -> String {
        git(self.work.path(), &["add", "-A"]);
        // Fixed dates in `git` make two commits of one tree identical; vary the message.
        git(
            self.work.path(),
            &["commit", "-qm", &format!("{msg} {:?}", Instant::now())],
        );
        git(self.work.path(), &["push", "-q", "origin", "main"]);
        let _ = &self.bare;
        git(self.work.path(), &["rev-parse", "HEAD"])
    }

    pub fn url(&self) -> String {
        env().server.url(&self.name)
    }
}

pub fn namespace(name: &str) {
    let (ok, out) = kubectl(&["create", "namespace", name], None);
    assert!(ok || out.contains("AlreadyExists"), "{out}");
}

pub fn git_repository(ns: &str, name: &str, url: &str, interval: &str) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: {name}, namespace: {ns}}}
spec:
  interval: {interval}
  url: {url}
  ref: {{branch: main}}
"
    )
}

pub fn kustomization(ns: &str, name: &str, path: &str, extra: &str) -> String {
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: {name}, namespace: {ns}}}
spec:
  interval: 10m
  retryInterval: 5s
  sourceRef: {{kind: GitRepository, name: repo}}
  path: {path}
  prune: true
{extra}"
    )
}

pub fn configmap(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n"
    )
}

pub fn request_reconcile(kind: &str, ns: &str, name: &str) {
    let stamp = format!("{:?}", Instant::now());
    let (ok, out) = kubectl(
        &[
            "annotate",
            "--overwrite",
            kind,
            "-n",
            ns,
            name,
            &format!("reconcile.fluxcd.io/requestedAt={stamp}"),
        ],
        None,
    );
    assert!(ok, "{out}");
}
