//! `weir controller` end to end: the real binary against a testenv control plane, reading
//! GitRepositories served by `git http-backend` on loopback. One plane and one controller for this
//! test binary; each test works in its own namespace with its own repository.

#[path = "../../weir-source/tests/source/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{HttpGitServer, git};

struct Env {
    kubeconfig: PathBuf,
    kubectl: PathBuf,
    server: HttpGitServer,
    repos: PathBuf,
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

/// A work tree published as `<repos>/<name>.git`; `commit` pushes what the tree holds now.
struct Repo {
    work: tempfile::TempDir,
    bare: PathBuf,
    name: String,
}

impl Repo {
    fn new(name: &str, files: &[(&str, &str)]) -> Repo {
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

    fn write(&self, files: &[(&str, &str)]) {
        for (p, c) in files {
            let path = self.work.path().join(p);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, c).expect("write");
        }
    }

    fn remove(&self, path: &str) {
        std::fs::remove_file(self.work.path().join(path)).expect("rm");
    }

    /// Commits and pushes; returns the commit id.
    fn commit(&self, msg: &str) -> String {
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

    fn url(&self) -> String {
        env().server.url(&self.name)
    }
}

fn namespace(name: &str) {
    let (ok, out) = kubectl(&["create", "namespace", name], None);
    assert!(ok || out.contains("AlreadyExists"), "{out}");
}

fn git_repository(ns: &str, name: &str, url: &str, interval: &str) -> String {
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

fn kustomization(ns: &str, name: &str, path: &str, extra: &str) -> String {
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

fn configmap(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n"
    )
}

fn request_reconcile(kind: &str, ns: &str, name: &str) {
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

#[test]
fn a_push_is_applied_and_what_left_git_is_pruned() {
    let ns = "e2e-push";
    namespace(ns);
    let repo = Repo::new(
        "push",
        &[
            ("app/a.yaml", &configmap("a", "one")),
            ("app/b.yaml", &configmap("b", "one")),
        ],
    );
    apply(&git_repository(ns, "repo", &repo.url(), "1h"));
    apply(&kustomization(
        ns,
        "app",
        "./app",
        "  targetNamespace: e2e-push\n",
    ));
    let ks = wait_ready("kustomization", ns, "app");
    let revision = ks["status"]["lastAppliedRevision"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(revision.starts_with("main@sha1:"), "{revision}");
    assert_eq!(
        get("configmap", ns, "a").expect("a")["data"]["value"],
        "one"
    );
    assert!(get("configmap", ns, "b").is_some());
    let entries = ks["status"]["inventory"]["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        entries
            .iter()
            .any(|e| e["id"] == "e2e-push_a__ConfigMap" && e["v"] == "v1"),
        "{entries:?}"
    );

    repo.write(&[("app/a.yaml", &configmap("a", "two"))]);
    repo.remove("app/b.yaml");
    let commit = repo.commit("change a, drop b");
    request_reconcile("gitrepository", ns, "repo");
    eventually(
        "the new revision applied and b pruned",
        Duration::from_secs(60),
        || {
            let ks = get("kustomization", ns, "app").ok_or("ks gone")?;
            let applied = ks["status"]["lastAppliedRevision"]
                .as_str()
                .unwrap_or_default();
            if !applied.ends_with(&commit) {
                return Err(format!("applied {applied}"));
            }
            let a = get("configmap", ns, "a").ok_or("a missing")?;
            if a["data"]["value"] != "two" {
                return Err(format!("a = {}", a["data"]["value"]));
            }
            if get("configmap", ns, "b").is_some() {
                return Err("b still there".into());
            }
            Ok(())
        },
    );
    let (_, events) = kubectl(&["get", "events", "-n", ns, "-o", "json"], None);
    let events: Value = serde_json::from_str(&events).expect("events json");
    let notes: Vec<String> = events["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|e| e["message"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("ConfigMap/e2e-push/b deleted") && n.contains(&commit)),
        "an event lists the pruned object with the revision: {notes:#?}"
    );
}

#[test]
fn a_dependency_chain_applies_in_order_and_a_cycle_stalls_without_looping() {
    let ns = "e2e-deps";
    namespace(ns);
    let repo = Repo::new(
        "deps",
        &[
            ("one/cm.yaml", &configmap("one", "1")),
            ("two/cm.yaml", &configmap("two", "2")),
            ("three/cm.yaml", &configmap("three", "3")),
            ("cx/cm.yaml", &configmap("cx", "x")),
            ("cy/cm.yaml", &configmap("cy", "y")),
        ],
    );
    apply(&git_repository(ns, "repo", &repo.url(), "1h"));
    // Created in reverse so the order comes from dependsOn, not from creation.
    apply(&kustomization(
        ns,
        "three",
        "./three",
        "  targetNamespace: e2e-deps\n  dependsOn: [{name: two}]\n",
    ));
    apply(&kustomization(
        ns,
        "two",
        "./two",
        "  targetNamespace: e2e-deps\n  dependsOn: [{name: one}]\n",
    ));
    apply(&kustomization(
        ns,
        "one",
        "./one",
        "  targetNamespace: e2e-deps\n",
    ));
    let started = Instant::now();
    wait_ready("kustomization", ns, "three");
    let chain_time = started.elapsed();
    assert!(
        chain_time < Duration::from_secs(30),
        "a 3-deep chain took {chain_time:?}"
    );
    for n in ["one", "two", "three"] {
        assert!(get("configmap", ns, n).is_some(), "{n} applied");
    }

    apply(&kustomization(
        ns,
        "cx",
        "./cx",
        "  targetNamespace: e2e-deps\n  dependsOn: [{name: cy}]\n",
    ));
    apply(&kustomization(
        ns,
        "cy",
        "./cy",
        "  targetNamespace: e2e-deps\n  dependsOn: [{name: cx}]\n",
    ));
    let stalled = eventually("cx Stalled with the chain", Duration::from_secs(30), || {
        let obj = get("kustomization", ns, "cx").ok_or("cx missing")?;
        let c = condition(&obj, "Stalled").ok_or("not stalled")?;
        let msg = c["message"].as_str().unwrap_or_default().to_string();
        if c["reason"] == "DependencyCycle"
            && msg.contains("e2e-deps/cx")
            && msg.contains("e2e-deps/cy")
        {
            Ok(obj)
        } else {
            Err(format!("{c}"))
        }
    });
    assert!(
        get("configmap", ns, "cx").is_none(),
        "nothing of a cycle is applied"
    );
    // No hot loop: once the graph has settled (both members seen), the objects stay untouched and
    // the controller does not keep reconciling them.
    let _ = stalled;
    std::thread::sleep(Duration::from_secs(2));
    let stalled = get("kustomization", ns, "cx").expect("cx");
    let rv = stalled["metadata"]["resourceVersion"].clone();
    let count_before = reconcile_lines(ns, "cx");
    std::thread::sleep(Duration::from_secs(5));
    let again = get("kustomization", ns, "cx").expect("cx");
    assert_eq!(
        again["metadata"]["resourceVersion"], rv,
        "the cycle's status keeps being written"
    );
    let count_after = reconcile_lines(ns, "cx");
    assert!(count_before >= 1, "the cycle's reconcile is logged");
    assert!(
        count_after == count_before,
        "cx reconciled {} times in 5 s",
        count_after - count_before
    );

    // Breaking the cycle lets both through.
    apply(&kustomization(
        ns,
        "cy",
        "./cy",
        "  targetNamespace: e2e-deps\n",
    ));
    wait_ready("kustomization", ns, "cx");
}

/// Lines of the controller's log reporting a reconcile of Kustomization `ns/name`.
fn reconcile_lines(ns: &str, name: &str) -> usize {
    let log = std::fs::read_to_string(&env().log).unwrap_or_default();
    log.lines()
        .filter(|l| {
            l.contains("\"reconciled\"")
                && l.contains("\"Kustomization\"")
                && l.contains(&format!("\"namespace\":\"{ns}\""))
                && l.contains(&format!("\"name\":\"{name}\""))
        })
        .count()
}

#[test]
fn suspend_requested_at_and_deletion_prune() {
    let ns = "e2e-suspend";
    namespace(ns);
    let repo = Repo::new("suspend", &[("app/a.yaml", &configmap("a", "one"))]);
    apply(&git_repository(ns, "repo", &repo.url(), "1h"));
    apply(&kustomization(
        ns,
        "app",
        "./app",
        "  targetNamespace: e2e-suspend\n",
    ));
    wait_ready("kustomization", ns, "app");

    let (ok, out) = kubectl(
        &[
            "patch",
            "kustomization",
            "-n",
            ns,
            "app",
            "--type=merge",
            "-p",
            r#"{"spec":{"suspend":true}}"#,
        ],
        None,
    );
    assert!(ok, "{out}");
    repo.write(&[("app/a.yaml", &configmap("a", "two"))]);
    let commit = repo.commit("two");
    request_reconcile("gitrepository", ns, "repo");
    eventually(
        "the source at the new commit",
        Duration::from_secs(30),
        || {
            let g = get("gitrepository", ns, "repo").ok_or("gone")?;
            let rev = g["status"]["artifact"]["revision"]
                .as_str()
                .unwrap_or_default();
            if rev.ends_with(&commit) {
                Ok(())
            } else {
                Err(rev.to_string())
            }
        },
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        get("configmap", ns, "a").expect("a")["data"]["value"],
        "one",
        "suspended: not applied"
    );

    let (ok, out) = kubectl(
        &[
            "patch",
            "kustomization",
            "-n",
            ns,
            "app",
            "--type=merge",
            "-p",
            r#"{"spec":{"suspend":false}}"#,
        ],
        None,
    );
    assert!(ok, "{out}");
    eventually("applied after resume", Duration::from_secs(30), || {
        let a = get("configmap", ns, "a").ok_or("a missing")?;
        if a["data"]["value"] == "two" {
            Ok(())
        } else {
            Err(a["data"]["value"].to_string())
        }
    });

    request_reconcile("kustomization", ns, "app");
    eventually("requestedAt handled", Duration::from_secs(30), || {
        let ks = get("kustomization", ns, "app").ok_or("gone")?;
        let asked = ks["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"].clone();
        if ks["status"]["lastHandledReconcileAt"] == asked {
            Ok(())
        } else {
            Err(format!("{}", ks["status"]))
        }
    });

    let (ok, out) = kubectl(
        &[
            "delete",
            "kustomization",
            "-n",
            ns,
            "app",
            "--wait=true",
            "--timeout=60s",
        ],
        None,
    );
    assert!(ok, "{out}");
    eventually(
        "the Kustomization's objects pruned",
        Duration::from_secs(30),
        || {
            if get("configmap", ns, "a").is_none() {
                Ok(())
            } else {
                Err("a still there".into())
            }
        },
    );
}

#[test]
fn failures_are_reported_with_reason_and_no_secret() {
    let ns = "e2e-fail";
    namespace(ns);
    // A wrong password: the server requires credentials the Secret does not hold.
    let repo = Repo::new("private", &[("app/a.yaml", &configmap("a", "one"))]);
    env()
        .server
        .set(|b| b.basic = Some(("git".into(), "right-password".into())));
    apply(&format!(
        "apiVersion: v1
kind: Secret
metadata: {{name: creds, namespace: {ns}}}
stringData: {{username: git, password: s3cr3t-wrong-pw}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: private, namespace: {ns}}}
spec:
  interval: 1h
  url: {}
  ref: {{branch: main}}
  secretRef: {{name: creds}}
",
        repo.url()
    ));
    let obj = eventually("the fetch to fail", Duration::from_secs(30), || {
        let obj = get("gitrepository", ns, "private").ok_or("missing")?;
        match condition(&obj, "Ready") {
            Some(c) if c["status"] == "False" => Ok(obj),
            other => Err(format!("{other:?}")),
        }
    });
    env().server.set(|b| b.basic = None);
    let text = obj.to_string();
    assert!(!text.contains("s3cr3t-wrong-pw"), "{text}");
    let (_, events) = kubectl(&["get", "events", "-n", ns, "-o", "json"], None);
    assert!(!events.contains("s3cr3t-wrong-pw"), "{events}");
    let log = std::fs::read_to_string(&env().log).unwrap_or_default();
    assert!(!log.contains("s3cr3t-wrong-pw"));

    // An invalid manifest: BuildFailed naming the problem, nothing applied.
    let broken = Repo::new(
        "broken",
        &[
            ("app/good.yaml", &configmap("good", "1")),
            (
                "app/kustomization.yaml",
                "resources: [good.yaml, missing.yaml]\n",
            ),
        ],
    );
    apply(&git_repository(ns, "repo", &broken.url(), "1h"));
    apply(&kustomization(
        ns,
        "app",
        "./app",
        "  targetNamespace: e2e-fail\n",
    ));
    let ks = eventually("BuildFailed", Duration::from_secs(60), || {
        let obj = get("kustomization", ns, "app").ok_or("missing")?;
        match condition(&obj, "Ready") {
            Some(c) if c["reason"] == "BuildFailed" => Ok(c),
            other => Err(format!("{other:?}")),
        }
    });
    assert!(
        ks["message"]
            .as_str()
            .unwrap_or_default()
            .contains("missing.yaml"),
        "{ks}"
    );
    assert!(
        get("configmap", ns, "good").is_none(),
        "nothing applied from a broken build"
    );
}

#[test]
fn substitute_from_configmap_and_secret() {
    let ns = "e2e-vars";
    namespace(ns);
    let repo = Repo::new(
        "vars",
        &[(
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: vars\ndata:\n  region: ${region}\n  token: ${token}\n  inline: ${inline}\n  fallback: ${missing:=dflt}\n",
        )],
    );
    apply(&format!(
        "apiVersion: v1
kind: ConfigMap
metadata: {{name: cluster-vars, namespace: {ns}}}
data: {{region: eu-west, inline: from-configmap}}
---
apiVersion: v1
kind: Secret
metadata: {{name: cluster-secrets, namespace: {ns}}}
stringData: {{token: tok-123}}
"
    ));
    apply(&git_repository(ns, "repo", &repo.url(), "1h"));
    apply(&kustomization(
        ns,
        "app",
        "./app",
        "  targetNamespace: e2e-vars
  postBuild:
    substitute: {inline: from-spec}
    substituteFrom:
    - {kind: ConfigMap, name: cluster-vars}
    - {kind: Secret, name: cluster-secrets}
    - {kind: ConfigMap, name: not-there, optional: true}
",
    ));
    wait_ready("kustomization", ns, "app");
    let cm = get("configmap", ns, "vars").expect("vars");
    assert_eq!(cm["data"]["region"], "eu-west");
    assert_eq!(cm["data"]["token"], "tok-123");
    assert_eq!(cm["data"]["inline"], "from-spec", "inline substitute wins");
    assert_eq!(cm["data"]["fallback"], "dflt");
}

#[test]
fn drift_is_repaired_within_seconds_not_at_the_interval() {
    let ns = "e2e-drift";
    namespace(ns);
    let repo = Repo::new(
        "drift",
        &[
            ("app/a.yaml", &configmap("a", "git")),
            ("app/b.yaml", &configmap("b", "git")),
        ],
    );
    apply(&git_repository(ns, "repo", &repo.url(), "1h"));
    // The interval is 10 minutes: only the drift watch can bring the objects back within the test.
    apply(&kustomization(
        ns,
        "app",
        "./app",
        "  targetNamespace: e2e-drift\n",
    ));
    wait_ready("kustomization", ns, "app");
    std::thread::sleep(Duration::from_secs(1));

    let (ok, out) = kubectl(&["delete", "configmap", "-n", ns, "a"], None);
    assert!(ok, "{out}");
    let (ok, out) = kubectl(
        &[
            "patch",
            "configmap",
            "-n",
            ns,
            "b",
            "--type=merge",
            "-p",
            r#"{"data":{"value":"edited"}}"#,
        ],
        None,
    );
    assert!(ok, "{out}");
    let started = Instant::now();
    eventually("both objects repaired", Duration::from_secs(20), || {
        let a = get("configmap", ns, "a").ok_or("a still deleted")?;
        let b = get("configmap", ns, "b").ok_or("b missing")?;
        if a["data"]["value"] == "git" && b["data"]["value"] == "git" {
            Ok(())
        } else {
            Err(format!("a={} b={}", a["data"]["value"], b["data"]["value"]))
        }
    });
    let took = started.elapsed();
    assert!(took < Duration::from_secs(15), "repair took {took:?}");
    let (_, events) = kubectl(&["get", "events", "-n", ns, "-o", "json"], None);
    assert!(
        events.contains("ConfigMap/e2e-drift/a created"),
        "the repair is reported: {events}"
    );
    // The drift itself is reported first, naming each object and who changed it.
    assert!(events.contains("DriftDetected"), "{events}");
    assert!(
        events.contains("ConfigMap/e2e-drift/a was deleted"),
        "{events}"
    );
    assert!(
        events.contains("ConfigMap/e2e-drift/b was changed by kubectl-patch"),
        "{events}"
    );
    wait_ready("kustomization", ns, "app");
}

#[test]
fn impersonation_denies_what_the_service_account_may_not_do() {
    let ns = "e2e-tenant";
    namespace(ns);
    let repo = Repo::new("tenant", &[("app/a.yaml", &configmap("a", "one"))]);
    // A ServiceAccount with no rights at all: applying as it must be refused by the API server.
    apply(&format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: limited, namespace: {ns}}}\n"
    ));
    apply(&git_repository(ns, "repo", &repo.url(), "1h"));
    apply(&kustomization(
        ns,
        "app",
        "./app",
        "  targetNamespace: e2e-tenant\n  serviceAccountName: limited\n",
    ));
    let ready = eventually("the apply refused", Duration::from_secs(60), || {
        let obj = get("kustomization", ns, "app").ok_or("missing")?;
        match condition(&obj, "Ready") {
            Some(c)
                if c["status"] == "False"
                    && c["message"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("forbidden") =>
            {
                Ok(c)
            }
            other => Err(format!("{other:?}")),
        }
    });
    assert!(
        ready["message"]
            .as_str()
            .unwrap_or_default()
            .contains("system:serviceaccount:e2e-tenant:limited"),
        "the message names the identity: {ready}"
    );
    assert!(
        get("configmap", ns, "a").is_none(),
        "nothing applied as the limited account"
    );

    // Granting the account edit rights in its namespace lets the next attempt through.
    apply(&format!(
        "apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: limited-edit, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}}
subjects: [{{kind: ServiceAccount, name: limited, namespace: {ns}}}]
"
    ));
    request_reconcile("kustomization", ns, "app");
    wait_ready("kustomization", ns, "app");
    assert!(get("configmap", ns, "a").is_some());
}
