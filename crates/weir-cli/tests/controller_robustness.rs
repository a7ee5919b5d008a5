//! `weir controller` when things go wrong: killed mid-apply, the API server gone for a minute, a
//! cluster left behind by Flux, the shared examples, health timeouts and broken manifests. The real
//! binary against testenv control planes, reading GitRepositories served by `git http-backend` on
//! loopback.
//!
//! Every test starts its own controller (`--watch-namespace` its own namespace) so it can kill and
//! restart it; they share one control plane, except the API server restart, which has a plane of
//! its own. Each controller is tied to this test process by a watchdog, as in `controller_e2e.rs`.

#[path = "../../weir-source/tests/source/support.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{HttpGitServer, git};

const OWNER_NAME: &str = "kustomize.toolkit.fluxcd.io/name";
const OWNER_NAMESPACE: &str = "kustomize.toolkit.fluxcd.io/namespace";

fn testenv_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testenv/testenv")
}

/// A testenv control plane with weir's CRDs installed.
struct Plane {
    name: String,
    kubeconfig: PathBuf,
    kubectl: PathBuf,
    /// Torn down on drop (the shared plane lives in a static and goes with `--watch-pid`).
    own: bool,
}

impl Plane {
    fn up(tag: &str, own: bool) -> Plane {
        let pid = std::process::id().to_string();
        let name = format!("weir-robust-{tag}-{pid}");
        let up = Command::new(testenv_script())
            .args(["up", &name, "--watch-pid", &pid])
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
        let bin = Command::new(testenv_script())
            .arg("bin")
            .output()
            .expect("testenv bin");
        let kubectl = PathBuf::from(String::from_utf8_lossy(&bin.stdout).trim()).join("kubectl");
        let plane = Plane {
            name,
            kubeconfig,
            kubectl,
            own,
        };
        let install = Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(["install", "--crds-only", "--kubeconfig"])
            .arg(&plane.kubeconfig)
            .output()
            .expect("weir install");
        assert!(
            install.status.success(),
            "weir install: {}",
            String::from_utf8_lossy(&install.stderr)
        );
        plane
    }

    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> (bool, String) {
        let mut cmd = Command::new(&self.kubectl);
        cmd.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
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

    fn apply(&self, yaml: &str) {
        let (ok, out) = self.kubectl(&["apply", "-f", "-"], Some(yaml));
        assert!(ok, "kubectl apply: {out}\n{yaml}");
    }

    fn get(&self, kind: &str, ns: &str, name: &str) -> Option<Value> {
        let (ok, out) = self.kubectl(&["get", kind, "-n", ns, name, "-o", "json"], None);
        if !ok {
            return None;
        }
        serde_json::from_str(&out).ok()
    }

    /// The objects of `kind` in `ns` matching `selector`, by name.
    fn list(&self, kind: &str, ns: &str, selector: &str) -> BTreeMap<String, Value> {
        let (ok, out) = self.kubectl(&["get", kind, "-n", ns, "-l", selector, "-o", "json"], None);
        assert!(ok, "kubectl get {kind}: {out}");
        let list: Value = serde_json::from_str(&out).expect("list json");
        list["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|o| {
                (
                    o["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    o,
                )
            })
            .collect()
    }

    fn namespace(&self, name: &str) {
        let (ok, out) = self.kubectl(&["create", "namespace", name], None);
        assert!(ok || out.contains("AlreadyExists"), "{out}");
    }

    /// Messages of the Events in `ns`.
    fn events(&self, ns: &str) -> Vec<String> {
        let (ok, out) = self.kubectl(&["get", "events", "-n", ns, "-o", "json"], None);
        assert!(ok, "{out}");
        let events: Value = serde_json::from_str(&out).expect("events json");
        events["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|e| {
                        format!(
                            "{} {}",
                            e["reason"].as_str().unwrap_or_default(),
                            e["message"].as_str().unwrap_or_default()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn request_reconcile(&self, kind: &str, ns: &str, name: &str) {
        let stamp = format!("{:?}", Instant::now());
        let (ok, out) = self.kubectl(
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

    fn apiserver(&self, action: &str) {
        let out = Command::new(testenv_script())
            .args(["apiserver", action, &self.name])
            .output()
            .expect("testenv apiserver");
        assert!(
            out.status.success(),
            "testenv apiserver {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Plane {
    fn drop(&mut self) {
        if self.own {
            let _ = Command::new(testenv_script())
                .args(["down", &self.name])
                .output();
        }
    }
}

/// The control plane and Git server the tests share.
struct Shared {
    plane: Plane,
    git: GitServer,
}

static SHARED: OnceLock<Shared> = OnceLock::new();

fn shared() -> &'static Shared {
    SHARED.get_or_init(|| Shared {
        plane: Plane::up("shared", false),
        git: GitServer::start(),
    })
}

/// `git http-backend` on loopback serving `<repos>/<name>.git`.
struct GitServer {
    server: HttpGitServer,
    repos: PathBuf,
    _dir: tempfile::TempDir,
}

impl GitServer {
    fn start() -> GitServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let repos = dir.path().join("repos");
        std::fs::create_dir_all(&repos).expect("mkdir");
        GitServer {
            server: HttpGitServer::start(&repos),
            repos,
            _dir: dir,
        }
    }
}

/// A work tree published as `<repos>/<name>.git`; `commit` pushes what the tree holds now.
struct Repo {
    work: tempfile::TempDir,
    url: String,
}

impl Repo {
    fn new(server: &GitServer, name: &str, files: &[(&str, &str)]) -> Repo {
        let work = tempfile::tempdir().expect("tempdir");
        git(work.path(), &["init", "-q", "-b", "main"]);
        let bare = server.repos.join(format!("{name}.git"));
        git(
            &server.repos,
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
            url: server.server.url(name),
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
            &[
                "commit",
                "--allow-empty",
                "-qm",
                &format!("{msg} {:?}", Instant::now()),
            ],
        );
        git(self.work.path(), &["push", "-q", "origin", "main"]);
        git(self.work.path(), &["rev-parse", "HEAD"])
    }
}

/// One `weir controller` process, tied to this test process by a watchdog shell.
struct Controller {
    watchdog: Child,
    pid_file: PathBuf,
    log: PathBuf,
    /// Killed by the test: nothing left to stop.
    killed: bool,
}

impl Controller {
    /// Starts a controller on `plane`; `watch_namespace` limits it to one namespace. Its log is
    /// appended to `log`, so a restarted controller keeps one log.
    fn start(plane: &Plane, dir: &Path, watch_namespace: Option<&str>) -> Controller {
        let pid_file = dir.join("controller.pid");
        let _ = std::fs::remove_file(&pid_file);
        let log = dir.join("controller.log");
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(
                r#""$@" & c=$!; echo "$c" >"$WEIR_PID_FILE"; while kill -0 "$WEIR_TEST_PID" 2>/dev/null && kill -0 "$c" 2>/dev/null; do sleep 0.5; done; kill "$c" 2>/dev/null; wait "$c""#,
            )
            .arg("watchdog")
            .arg(env!("CARGO_BIN_EXE_weir"))
            .args(["controller", "--concurrent", "4", "--log-format", "json", "--kubeconfig"])
            .arg(&plane.kubeconfig)
            .arg("--storage-dir")
            .arg(dir.join("storage"));
        if let Some(ns) = watch_namespace {
            cmd.args(["--watch-namespace", ns]);
        }
        let watchdog = cmd
            .env("WEIR_TEST_PID", std::process::id().to_string())
            .env("WEIR_PID_FILE", &pid_file)
            .env(
                "WEIR_LOG",
                std::env::var("WEIR_TEST_LOG")
                    .unwrap_or_else(|_| "info,kube=warn,weir_controller=debug".into()),
            )
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .expect("log file"),
            )
            .spawn()
            .expect("weir controller starts");
        Controller {
            watchdog,
            pid_file,
            log,
            killed: false,
        }
    }

    /// The pid of the `weir controller` process itself.
    fn pid(&self) -> String {
        let start = Instant::now();
        loop {
            if let Ok(p) = std::fs::read_to_string(&self.pid_file)
                && !p.trim().is_empty()
            {
                return p.trim().to_string();
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the watchdog wrote no pid"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn alive(&self) -> bool {
        Command::new("kill")
            .args(["-0", &self.pid()])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// `kill -9` the controller (not its watchdog, which then exits by itself).
    fn kill9(&mut self) {
        let ok = Command::new("kill")
            .args(["-KILL", &self.pid()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -9 of the controller");
        self.killed = true;
        let _ = self.watchdog.wait();
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        tail.join("\n")
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if !self.killed
            && let Ok(p) = std::fs::read_to_string(&self.pid_file)
        {
            let _ = Command::new("kill")
                .arg(p.trim())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.watchdog.wait();
    }
}

/// Polls until `check` returns Ok, or fails with what was seen last and the controller's log.
fn eventually<T>(
    log: &Path,
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
        std::thread::sleep(Duration::from_millis(250));
    }
    let log = std::fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(40).collect();
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

/// Ready=True at a revision ending in `commit` (any revision when empty).
fn ready_at(obj: &Value, commit: &str) -> Result<(), String> {
    let applied = obj["status"]["lastAppliedRevision"]
        .as_str()
        .unwrap_or_default();
    match condition(obj, "Ready") {
        Some(c) if c["status"] == "True" && (commit.is_empty() || applied.ends_with(commit)) => {
            Ok(())
        }
        Some(c) => Err(format!(
            "Ready={} {}: {} (applied {applied})",
            c["status"], c["reason"], c["message"]
        )),
        None => Err("no Ready condition".into()),
    }
}

fn wait_ready(plane: &Plane, log: &Path, kind: &str, ns: &str, name: &str, commit: &str) -> Value {
    eventually(
        log,
        &format!("{kind} {ns}/{name} Ready at {commit}"),
        Duration::from_secs(90),
        || {
            let obj = plane.get(kind, ns, name).ok_or("not found")?;
            ready_at(&obj, commit).map(|()| obj)
        },
    )
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

/// ConfigMaps `<prefix>-000`.. as one multi-document file, labelled `set: <prefix>`.
fn configmaps(prefix: &str, range: std::ops::Range<usize>, value: &str) -> String {
    range
        .map(|i| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {prefix}-{i:03}\n  labels: {{set: {prefix}}}\ndata:\n  value: \"{value}\"\n"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

fn inventory_ids(obj: &Value) -> Vec<String> {
    obj["status"]["inventory"]["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn uids(objects: &BTreeMap<String, Value>) -> BTreeMap<String, String> {
    objects
        .iter()
        .map(|(n, o)| {
            (
                n.clone(),
                o["metadata"]["uid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn kill_9_mid_apply_then_restart_converges_with_no_orphan_and_no_duplicate() {
    let s = shared();
    let p = &s.plane;
    let ns = "rb-kill";
    p.namespace(ns);
    let dir = tempfile::tempdir().expect("tempdir");
    // Revision 1: A = a-000..a-149. Revision 2 keeps a-000..a-099 (with a new value), drops
    // a-100..a-149 and adds B = b-000..b-249: a few hundred writes, so the kill lands mid-apply.
    let repo = Repo::new(
        &s.git,
        "kill",
        &[("app/a.yaml", &configmaps("a", 0..150, "one"))],
    );
    p.apply(&git_repository(ns, "repo", &repo.url, "1h"));
    p.apply(&kustomization(
        ns,
        "app",
        "./app",
        "  targetNamespace: rb-kill\n",
    ));
    let mut controller = Controller::start(p, dir.path(), Some(ns));
    let log = controller.log.clone();
    wait_ready(p, &log, "kustomization", ns, "app", "");
    let before = p.list("configmap", ns, "set=a");
    assert_eq!(before.len(), 150, "revision 1 applied");
    let uids_before = uids(&before);

    repo.write(&[
        ("app/a.yaml", &configmaps("a", 0..100, "two")),
        ("app/b.yaml", &configmaps("b", 0..250, "two")),
    ]);
    let commit = repo.commit("drop a-1xx, add b");
    p.request_reconcile("gitrepository", ns, "repo");
    // Kill as soon as revision 2 is being applied: its pending inventory recorded, or some of B
    // written, and not all of it.
    let started = Instant::now();
    let seen_pending = loop {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "revision 2 never started applying:\n{}",
            controller.log_tail()
        );
        let ks = p.get("kustomization", ns, "app").expect("ks");
        let pending = inventory_ids(&ks).iter().any(|id| id.contains("_b-"));
        let b = p.list("configmap", ns, "set=b").len();
        assert!(
            b < 250,
            "revision 2 was fully applied before the kill could land (b = {b}); the test needs a larger B"
        );
        if pending || b > 0 {
            controller.kill9();
            break pending;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!controller.alive(), "the controller is dead");
    let b_at_kill = p.list("configmap", ns, "set=b").len();
    let a_at_kill = p.list("configmap", ns, "set=a").len();
    let ks = p.get("kustomization", ns, "app").expect("ks");
    assert!(
        a_at_kill > 100,
        "the kill landed before the prune (dropped objects of A still exist: {a_at_kill} of A)"
    );
    assert!(
        !ks["status"]["lastAppliedRevision"]
            .as_str()
            .unwrap_or_default()
            .ends_with(&commit),
        "revision 2 was not recorded as applied before the kill"
    );
    eprintln!(
        "killed with {b_at_kill}/250 of B written, pending inventory recorded: {seen_pending}, {a_at_kill} of A"
    );

    let controller = Controller::start(p, dir.path(), Some(ns));
    let ks = wait_ready(p, &log, "kustomization", ns, "app", &commit);
    let a = p.list("configmap", ns, "set=a");
    let b = p.list("configmap", ns, "set=b");
    let expected_a: BTreeSet<String> = (0..100).map(|i| format!("a-{i:03}")).collect();
    let expected_b: BTreeSet<String> = (0..250).map(|i| format!("b-{i:03}")).collect();
    assert_eq!(
        a.keys().cloned().collect::<BTreeSet<_>>(),
        expected_a,
        "what revision 2 dropped is pruned, what it kept is there"
    );
    assert_eq!(b.keys().cloned().collect::<BTreeSet<_>>(), expected_b);
    // Nothing outside revision 2 carries the owner labels.
    let owned = p.list(
        "configmap",
        ns,
        &format!("{OWNER_NAME}=app,{OWNER_NAMESPACE}={ns}"),
    );
    assert_eq!(owned.len(), 350, "{:?}", owned.keys().collect::<Vec<_>>());
    for (name, uid) in uids(&a) {
        assert_eq!(
            uids_before.get(&name),
            Some(&uid),
            "{name} kept across revisions keeps its UID"
        );
        assert_eq!(a[&name]["data"]["value"], "two", "{name} at revision 2");
    }
    let ids = inventory_ids(&ks);
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no duplicate inventory entry");
    let expected_ids: BTreeSet<String> = expected_a
        .iter()
        .chain(&expected_b)
        .map(|n| format!("{ns}_{n}__ConfigMap"))
        .collect();
    assert_eq!(
        ids.into_iter().collect::<BTreeSet<_>>(),
        expected_ids,
        "status.inventory is revision 2's set"
    );
    drop(controller);
}

#[test]
fn an_api_server_restart_causes_retries_never_a_prune() {
    let p = Plane::up("apiserver", true);
    let git = GitServer::start();
    let ns = "rb-api";
    p.namespace(ns);
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::new(
        &git,
        "api",
        &[("app/a.yaml", &configmaps("a", 0..5, "one"))],
    );
    // The source is fetched every 5 s, so the controller keeps working while the API server is
    // down; the Kustomization's own interval is long, so only watches bring repairs.
    p.apply(&git_repository(ns, "repo", &repo.url, "5s"));
    p.apply(&kustomization(
        ns,
        "app",
        "./app",
        "  targetNamespace: rb-api\n",
    ));
    let controller = Controller::start(&p, dir.path(), None);
    let log = controller.log.clone();
    let ks = wait_ready(&p, &log, "kustomization", ns, "app", "");
    let inventory_before = inventory_ids(&ks);
    let before = p.list("configmap", ns, "set=a");
    assert_eq!(before.len(), 5);

    p.apiserver("stop");
    // A push while the API server is away: fetched, but applied only once it is back.
    repo.write(&[("app/a.yaml", &configmaps("a", 0..5, "two"))]);
    let commit = repo.commit("two");
    std::thread::sleep(Duration::from_secs(60));
    assert!(
        controller.alive(),
        "the controller survives a minute without the API server:\n{}",
        controller.log_tail()
    );
    p.apiserver("start");

    // The push is applied after the restart (no requestedAt: the source's interval finds it),
    // in place: nothing recreated, nothing deleted.
    let ks = wait_ready(&p, &log, "kustomization", ns, "app", &commit);
    assert!(controller.alive(), "{}", controller.log_tail());
    let after = p.list("configmap", ns, "set=a");
    assert_eq!(
        uids(&after),
        uids(&before),
        "no object recreated or lost across the restart"
    );
    assert!(
        after.values().all(|o| o["data"]["value"] == "two"),
        "the push is applied"
    );
    assert_eq!(inventory_ids(&ks), inventory_before, "inventory unchanged");
    let events = p.events(ns);
    assert!(
        events.iter().all(|e| !e.contains("deleted")),
        "no prune across the restart: {events:#?}"
    );

    // The drift watches came back with the API server: a deleted object is repaired within
    // seconds, long before the Kustomization's 10 minute interval.
    let (ok, out) = p.kubectl(&["delete", "configmap", "-n", ns, "a-000"], None);
    assert!(ok, "{out}");
    eventually(&log, "a-000 repaired", Duration::from_secs(30), || {
        p.get("configmap", ns, "a-000")
            .map(|_| ())
            .ok_or_else(|| "still deleted".to_string())
    });
    let after = p.list("configmap", ns, "set=a");
    assert_eq!(after.len(), 5);
    for (name, uid) in uids(&after) {
        if name != "a-000" {
            assert_eq!(uids(&before).get(&name), Some(&uid), "{name} untouched");
        }
    }
    drop(controller);
}

/// Server-side applies `yaml` as Flux's kustomize-controller would.
fn flux_apply(p: &Plane, yaml: &str) {
    let (ok, out) = p.kubectl(
        &[
            "apply",
            "--server-side",
            "--field-manager=kustomize-controller",
            "-f",
            "-",
        ],
        Some(yaml),
    );
    assert!(ok, "{out}");
}

fn patch_status(p: &Plane, kind: &str, ns: &str, name: &str, status: &Value) {
    let patch = serde_json::json!({ "status": status }).to_string();
    let (ok, out) = p.kubectl(
        &[
            "patch",
            kind,
            "-n",
            ns,
            name,
            "--subresource=status",
            "--type=merge",
            "-p",
            &patch,
        ],
        None,
    );
    assert!(ok, "{out}");
}

#[test]
fn takeover_from_flux_keeps_objects_prunes_what_left_and_removes_dropped_fields() {
    let s = shared();
    let p = &s.plane;
    let ns = "rb-flux";
    p.namespace(ns);
    let dir = tempfile::tempdir().expect("tempdir");
    let labels = format!("{{{OWNER_NAME}: app, {OWNER_NAMESPACE}: {ns}}}");
    let cm = |name: &str, data: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels: {labels}\ndata: {data}\n"
        )
    };
    // What Flux applied at revision 1: four ConfigMaps and a Service.
    let flux_objects = [
        cm("keep-1", "{value: one}"),
        cm("keep-2", "{value: one}"),
        cm("dropped", "{value: one}"),
        cm("trimmed", "{value: one, extra: flux-applied}"),
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc\n  namespace: {ns}\n  labels: {labels}\nspec:\n  ports: [{{port: 80, name: http}}]\n  selector: {{app: x}}\n"
        ),
    ];
    flux_apply(p, &flux_objects.join("---\n"));
    // Git at revision 2: keep-1, keep-2 and svc unchanged, `dropped` gone, `trimmed` without `extra`.
    // Objects in Git carry no namespace (targetNamespace sets it), as in a Flux repository.
    let plain = |name: &str, data: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata: {data}\n")
    };
    let repo = Repo::new(
        &s.git,
        "flux",
        &[
            ("app/keep-1.yaml", &plain("keep-1", "{value: one}")),
            ("app/keep-2.yaml", &plain("keep-2", "{value: one}")),
            ("app/dropped.yaml", &plain("dropped", "{value: one}")),
            (
                "app/trimmed.yaml",
                &plain("trimmed", "{value: one, extra: flux-applied}"),
            ),
            (
                "app/svc.yaml",
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc\nspec:\n  ports: [{port: 80, name: http}]\n  selector: {app: x}\n",
            ),
        ],
    );
    let rev1 = git(repo.work.path(), &["rev-parse", "HEAD"]);
    repo.remove("app/dropped.yaml");
    repo.write(&[("app/trimmed.yaml", &plain("trimmed", "{value: one}"))]);
    let rev2 = repo.commit("revision 2");

    // The GitRepository and Kustomization as Flux left them: finalizers, status with Flux's
    // inventory, the last applied revision, Ready=True.
    p.apply(&format!(
        "{}  \n---\n{}  \n",
        git_repository(ns, "repo", &repo.url, "1h").replace(
            "namespace: rb-flux}",
            "namespace: rb-flux, finalizers: [finalizers.fluxcd.io]}"
        ),
        kustomization(ns, "app", "./app", "  targetNamespace: rb-flux\n").replace(
            "namespace: rb-flux}",
            "namespace: rb-flux, finalizers: [finalizers.fluxcd.io]}"
        ),
    ));
    let now = "2026-01-01T00:00:00Z";
    let ready = |msg: &str| {
        serde_json::json!([{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
            "message": msg, "lastTransitionTime": now, "observedGeneration": 1}])
    };
    patch_status(
        p,
        "gitrepository",
        ns,
        "repo",
        &serde_json::json!({
            "observedGeneration": 1,
            "conditions": ready(&format!("stored artifact for revision 'main@sha1:{rev1}'")),
            "artifact": {
                "path": format!("gitrepository/{ns}/repo/{rev1}.tar.gz"),
                "url": format!("http://source-controller.flux-system.svc.cluster.local./gitrepository/{ns}/repo/{rev1}.tar.gz"),
                "revision": format!("main@sha1:{rev1}"),
                "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000001",
                "lastUpdateTime": now,
                "size": 1234,
            },
        }),
    );
    let entries: Vec<Value> = ["keep-1", "keep-2", "dropped", "trimmed"]
        .iter()
        .map(|n| serde_json::json!({"id": format!("{ns}_{n}__ConfigMap"), "v": "v1"}))
        .chain([serde_json::json!({"id": format!("{ns}_svc__Service"), "v": "v1"})])
        .collect();
    patch_status(
        p,
        "kustomization",
        ns,
        "app",
        &serde_json::json!({
            "observedGeneration": 1,
            "conditions": ready(&format!("Applied revision: main@sha1:{rev1}")),
            "lastAppliedRevision": format!("main@sha1:{rev1}"),
            "lastAttemptedRevision": format!("main@sha1:{rev1}"),
            "inventory": {"entries": entries},
        }),
    );
    let before = uids(&p.list("configmap", ns, &format!("{OWNER_NAME}=app")));
    let svc_uid = p.get("service", ns, "svc").expect("svc")["metadata"]["uid"].clone();
    assert_eq!(before.len(), 4);

    let controller = Controller::start(p, dir.path(), Some(ns));
    let log = controller.log.clone();
    let ks = wait_ready(p, &log, "kustomization", ns, "app", &rev2);
    let after = p.list("configmap", ns, &format!("{OWNER_NAME}=app"));
    assert!(
        !after.contains_key("dropped"),
        "the dropped object is pruned"
    );
    for n in ["keep-1", "keep-2", "trimmed"] {
        assert_eq!(
            after
                .get(n)
                .map(|o| o["metadata"]["uid"].as_str().unwrap_or_default()),
            before.get(n).map(String::as_str),
            "{n} is not re-created"
        );
    }
    assert_eq!(
        p.get("service", ns, "svc").expect("svc")["metadata"]["uid"],
        svc_uid,
        "the Service is not re-created"
    );
    assert_eq!(
        after["trimmed"]["data"],
        serde_json::json!({"value": "one"}),
        "the field Flux applied and Git dropped is gone"
    );
    let managers: Vec<String> = after["trimmed"]["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|m| m["manager"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        !managers.iter().any(|m| m == "kustomize-controller"),
        "kustomize-controller owns nothing any more: {managers:?}"
    );
    let ids: BTreeSet<String> = inventory_ids(&ks).into_iter().collect();
    let expected: BTreeSet<String> = [
        format!("{ns}_keep-1__ConfigMap"),
        format!("{ns}_keep-2__ConfigMap"),
        format!("{ns}_trimmed__ConfigMap"),
        format!("{ns}_svc__Service"),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        ids, expected,
        "status.inventory is weir's: revision 2's set"
    );
    let events = p.events(ns);
    assert!(
        events
            .iter()
            .any(|e| e.contains(&format!("ConfigMap/{ns}/dropped deleted"))),
        "{events:#?}"
    );
    assert!(
        !events.iter().any(|e| e.contains("created")),
        "nothing re-created: {events:#?}"
    );
    drop(controller);
}

/// Stub CRDs for kinds the fleet example applies whose controllers are not here (Helm, cert-manager):
/// the objects are stored as they are, which is all a Kustomization needs of them.
fn stub_crd(group: &str, version: &str, kind: &str, plural: &str, scope: &str) -> String {
    format!(
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: {plural}.{group}}}
spec:
  group: {group}
  names: {{kind: {kind}, plural: {plural}, singular: {singular}, listKind: {kind}List}}
  scope: {scope}
  versions:
  - name: {version}
    served: true
    storage: true
    schema:
      openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
",
        singular = kind.to_lowercase()
    )
}

/// Copies the files of `src` (not `.git`) into the work tree of `repo`.
fn copy_tree(src: &Path, repo: &Repo) {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("under root");
                let text = std::fs::read_to_string(&path).expect("utf-8 file");
                out.push((rel.display().to_string(), text));
            }
        }
    }
    let mut files = Vec::new();
    walk(src, src, &mut files);
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    repo.write(&refs);
}

#[test]
fn the_fleet_example_reaches_ready() {
    // examples/fleet: the Kustomizations of clusters/staging (infra-controllers, infra-configs,
    // apps: a dependsOn chain with wait, postBuild variables from a ConfigMap, a component). Its
    // HelmRelease, HelmRepository and ClusterIssuer need CRDs whose controllers are not part of
    // weir: stub CRDs stand in for them. The other shared examples need sources weir does not
    // serve (OCIRepository, ExternalArtifact) or the network.
    let s = shared();
    let p = &s.plane;
    let ns = "flux-system";
    p.namespace(ns);
    let dir = tempfile::tempdir().expect("tempdir");
    p.apply(
        &[
            stub_crd(
                "helm.toolkit.fluxcd.io",
                "v2",
                "HelmRelease",
                "helmreleases",
                "Namespaced",
            ),
            stub_crd(
                "source.toolkit.fluxcd.io",
                "v1",
                "HelmRepository",
                "helmrepositories",
                "Namespaced",
            ),
            stub_crd(
                "cert-manager.io",
                "v1",
                "ClusterIssuer",
                "clusterissuers",
                "Cluster",
            ),
        ]
        .join("---\n"),
    );
    let (ok, out) = p.kubectl(
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/helmreleases.helm.toolkit.fluxcd.io",
            "crd/helmrepositories.source.toolkit.fluxcd.io",
            "crd/clusterissuers.cert-manager.io",
        ],
        None,
    );
    assert!(ok, "{out}");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fleet");
    let repo = Repo::new(&s.git, "fleet", &[]);
    copy_tree(&example, &repo);
    let commit = repo.commit("fleet");
    let cluster = example.join("clusters/staging");
    let read = |f: &str| std::fs::read_to_string(cluster.join(f)).expect("example file");
    // The GitRepository as gotk-sync.yaml defines it, served from loopback (no SSH secret).
    p.apply(&git_repository(ns, "flux-system", &repo.url, "10m"));
    p.apply(&read("cluster-vars.yaml"));
    p.apply(&read("infrastructure.yaml"));
    p.apply(&read("apps.yaml"));
    let controller = Controller::start(p, dir.path(), Some(ns));
    let log = controller.log.clone();
    let started = Instant::now();
    // testenv has no cloud provider: play its part and give the ingress controller's LoadBalancer
    // Service an address, or its health (kstatus: an ingress point) never comes.
    eventually(
        &log,
        "the LoadBalancer Service",
        Duration::from_secs(90),
        || {
            p.get("service", "ingress-nginx", "ingress-nginx-controller")
                .ok_or("not applied yet")?;
            patch_status(
                p,
                "service",
                "ingress-nginx",
                "ingress-nginx-controller",
                &serde_json::json!({"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}),
            );
            Ok(())
        },
    );
    for name in ["infra-controllers", "infra-configs", "apps"] {
        wait_ready(p, &log, "kustomization", ns, name, &commit);
    }
    eprintln!("fleet Ready in {:?}", started.elapsed());
    // What it applied is there, with the variables substituted.
    let cm = p
        .list("configmap", "podinfo", "app.kubernetes.io/part-of=fleet")
        .into_values()
        .find(|c| {
            c["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("podinfo-config"))
        })
        .expect("podinfo-config applied");
    assert_eq!(cm["data"]["PODINFO_UI_MESSAGE"], "hello from staging");
    let deploy = p.get("deployment", "podinfo", "podinfo").expect("podinfo");
    assert_eq!(
        deploy["spec"]["replicas"], 2,
        "postBuild substitute applied"
    );
    let (ok, issuer) = p.kubectl(&["get", "clusterissuer", "letsencrypt", "-o", "json"], None);
    assert!(ok, "the ClusterIssuer of infra-configs applied: {issuer}");
    assert!(
        issuer.contains("platform@staging.example.com"),
        "with cluster-vars substituted: {issuer}"
    );
    drop(controller);
}

#[test]
fn a_health_timeout_names_the_object_and_why() {
    let s = shared();
    let p = &s.plane;
    let ns = "rb-health";
    p.namespace(ns);
    let dir = tempfile::tempdir().expect("tempdir");
    // Its pods can never be scheduled: no node has this label.
    let repo = Repo::new(
        &s.git,
        "health",
        &[(
            "app/deploy.yaml",
            "apiVersion: apps/v1
kind: Deployment
metadata: {name: stuck}
spec:
  replicas: 1
  selector: {matchLabels: {app: stuck}}
  template:
    metadata: {labels: {app: stuck}}
    spec:
      nodeSelector: {weir.test/no-such-node: \"true\"}
      containers: [{name: c, image: registry.invalid/none:1}]
",
        )],
    );
    p.apply(&git_repository(ns, "repo", &repo.url, "1h"));
    p.apply(&kustomization(
        ns,
        "app",
        "./app",
        "  targetNamespace: rb-health\n  wait: true\n  timeout: 10s\n",
    ));
    let controller = Controller::start(p, dir.path(), Some(ns));
    let log = controller.log.clone();
    let started = Instant::now();
    let ready = eventually(&log, "HealthCheckFailed", Duration::from_secs(60), || {
        let obj = p.get("kustomization", ns, "app").ok_or("missing")?;
        match condition(&obj, "Ready") {
            Some(c) if c["status"] == "False" && c["reason"] == "HealthCheckFailed" => Ok(c),
            other => Err(format!("{other:?}")),
        }
    });
    let took = started.elapsed();
    let msg = ready["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("Deployment/rb-health/stuck"),
        "the message names the object: {msg}"
    );
    assert!(
        msg.contains("replica") || msg.contains("available") || msg.contains("Available"),
        "the message says why: {msg}"
    );
    assert!(
        took < Duration::from_secs(50),
        "a 10 s timeout reported after {took:?}"
    );
    let obj = p.get("kustomization", ns, "app").expect("ks");
    let healthy = condition(&obj, "Healthy").expect("Healthy condition");
    assert_eq!(healthy["status"], "False", "{healthy}");
    assert!(
        p.events(ns)
            .iter()
            .any(|e| e.contains("HealthCheckFailed") && e.contains("Deployment/rb-health/stuck")),
        "an event reports it"
    );
    drop(controller);
}

#[test]
fn an_invalid_manifest_is_a_build_failure_naming_file_and_object_and_applies_nothing() {
    // controller_e2e covers a missing resource file; this is a document without `kind`.
    let s = shared();
    let p = &s.plane;
    let ns = "rb-invalid";
    p.namespace(ns);
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::new(
        &s.git,
        "invalid",
        &[
            (
                "app/good.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: good}\ndata: {v: one}\n",
            ),
            (
                "app/bad.yaml",
                "apiVersion: v1\nmetadata: {name: no-kind}\ndata: {v: one}\n",
            ),
        ],
    );
    p.apply(&git_repository(ns, "repo", &repo.url, "1h"));
    p.apply(&kustomization(
        ns,
        "app",
        "./app",
        "  targetNamespace: rb-invalid\n",
    ));
    let controller = Controller::start(p, dir.path(), Some(ns));
    let log = controller.log.clone();
    let ready = eventually(&log, "BuildFailed", Duration::from_secs(60), || {
        let obj = p.get("kustomization", ns, "app").ok_or("missing")?;
        match condition(&obj, "Ready") {
            Some(c) if c["reason"] == "BuildFailed" => Ok(c),
            other => Err(format!("{other:?}")),
        }
    });
    assert_eq!(ready["status"], "False");
    let msg = ready["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("app/bad.yaml"),
        "names the file, as in Git: {msg}"
    );
    assert!(
        !msg.contains("storage/trees"),
        "no path of the controller's storage: {msg}"
    );
    assert!(msg.contains("no-kind"), "names the object: {msg}");
    assert!(msg.contains("kind"), "says what is wrong: {msg}");
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        p.get("configmap", ns, "good").is_none(),
        "nothing applied from a broken build"
    );
    drop(controller);
}

#[test]
fn a_restart_on_empty_storage_with_the_source_down_prunes_nothing_and_recovers() {
    let s = shared();
    let p = &s.plane;
    let ns = "rb-fresh";
    p.namespace(ns);
    let first = tempfile::tempdir().expect("tempdir");
    let repo = Repo::new(
        &s.git,
        "fresh",
        &[("app/a.yaml", &configmaps("a", 0..3, "one"))],
    );
    p.apply(&git_repository(ns, "repo", &repo.url, "5s"));
    p.apply(&kustomization(
        ns,
        "app",
        "./app",
        "  targetNamespace: rb-fresh\n",
    ));
    let controller = Controller::start(p, first.path(), Some(ns));
    let ks = wait_ready(p, &controller.log, "kustomization", ns, "app", "");
    let revision = ks["status"]["lastAppliedRevision"].clone();
    let before = uids(&p.list("configmap", ns, "set=a"));
    assert_eq!(before.len(), 3);
    drop(controller);

    // The Git server loses the repository, and the controller comes back on empty storage: the
    // artifact named in the GitRepository's status is nowhere to be had.
    let bare = s.git.repos.join("fresh.git");
    let away = s.git.repos.join("fresh.git.away");
    std::fs::rename(&bare, &away).expect("hide the repository");
    let second = tempfile::tempdir().expect("tempdir");
    let controller = Controller::start(p, second.path(), Some(ns));
    let log = controller.log.clone();
    eventually(&log, "the fetch to fail", Duration::from_secs(60), || {
        let g = p.get("gitrepository", ns, "repo").ok_or("gone")?;
        match condition(&g, "Ready") {
            Some(c) if c["status"] == "False" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    p.request_reconcile("kustomization", ns, "app");
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        uids(&p.list("configmap", ns, "set=a")),
        before,
        "nothing pruned or recreated while the source is missing"
    );
    let ks = p.get("kustomization", ns, "app").expect("ks");
    assert_eq!(ks["status"]["lastAppliedRevision"], revision);
    assert_eq!(inventory_ids(&ks).len(), 3, "the inventory is kept");

    // The repository is back: the same revision is fetched again and the Kustomization is
    // reconciled from it (a fresh requestedAt is handled with Ready=True).
    std::fs::rename(&away, &bare).expect("restore the repository");
    p.request_reconcile("gitrepository", ns, "repo");
    wait_ready(p, &log, "gitrepository", ns, "repo", "");
    p.request_reconcile("kustomization", ns, "app");
    eventually(
        &log,
        "a reconcile from the refetched artifact",
        Duration::from_secs(60),
        || {
            let ks = p.get("kustomization", ns, "app").ok_or("gone")?;
            let asked = &ks["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"];
            if ks["status"]["lastHandledReconcileAt"] != *asked {
                return Err(format!("requestedAt not handled: {}", ks["status"]));
            }
            ready_at(&ks, "")
        },
    );
    assert_eq!(uids(&p.list("configmap", ns, "set=a")), before);
    assert!(
        p.events(ns).iter().all(|e| !e.contains("deleted")),
        "no prune"
    );
    drop(controller);
}
