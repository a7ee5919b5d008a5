//! OCI fetch benchmark: the Git bench's 2,000-manifest tree (~5 MB) pushed as a Flux artifact to the
//! distribution registry (Debian's `docker-registry`) on loopback and committed to a Git repository
//! served by `git http-backend`; weir OCI, weir OCI's unchanged poll and weir Git (this binary re-run
//! as a child), and `oras copy` (into an OCI layout) when `$WEIR_CACHE/oras-v1.3.6/oras` exists, each under
//! `/usr/bin/time` for wall time and peak RSS. Registry requests are counted in its access log.
//!
//! Run: `cargo bench -p weir-source --bench oci`

#[path = "../tests/oci/registry.rs"]
mod registry;
#[path = "../tests/source/support.rs"]
mod support;

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{Arc, atomic::AtomicBool},
    time::Duration,
};

use weir_source::{
    ArtifactStore, BudgetConfig, ClientOptions, Credentials, Fetcher, GitClient, GitRef,
    HostBudgets, Outcome, Request,
    clock::SystemClock,
    fetch,
    metrics::Metrics,
    oci::{
        OciCredentials, OciFetcher, OciOptions, OciSource, PushRequest, RegistryClient,
        RegistryOptions, push_artifact, reference::OciUrl,
    },
    progress::Discard,
    remote::Control,
    store,
};

const FILES: usize = 2_000;
const RUNS: usize = 3;

fn manifest(i: usize) -> String {
    let mut s = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  namespace: team-{}\n  labels:\n    rev: \"0\"\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n",
        i % 40
    );
    for c in 0..12 {
        s.push_str(&format!(
            "      - name: c{c}\n        image: registry.example.com/team-{}/app-{i}-{c}:v1.0.{c}\n        env:\n        - name: SETTING_{c}\n          value: \"{:x}\"\n",
            i % 40,
            (i * 7919 + c * 104_729) % 0xffff_ffff
        ));
    }
    s
}

fn write_tree(dir: &Path) {
    for i in 0..FILES {
        let path = dir.join(format!("apps/team-{}/app-{i}.yaml", i % 40));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, manifest(i)).expect("write");
    }
}

fn registry_client() -> RegistryClient {
    let clock = Arc::new(SystemClock::default());
    RegistryClient::new(
        Arc::new(HostBudgets::new(clock, BudgetConfig::default())),
        Arc::new(Metrics::default()),
        RegistryOptions::default(),
    )
}

/// Child mode: one OCI fetch, as `weir source oci fetch` does it.
fn child_oci(url: &str, out: &Path, last_revision: Option<&str>) {
    let store = Arc::new(ArtifactStore::open(out, store::Options::default()).expect("store"));
    let fetcher = OciFetcher::new(
        registry_client(),
        store,
        Arc::new(SystemClock::default()),
        OciOptions::default(),
    );
    let outcome = fetcher
        .fetch(
            &OciSource {
                url: url.to_owned(),
                insecure: true,
                last_revision: last_revision.map(str::to_owned),
                ..OciSource::default()
            },
            &OciCredentials::default(),
            &Arc::new(AtomicBool::new(false)),
            Arc::new(Discard),
        )
        .expect("fetch");
    print_outcome(outcome);
}

/// Child mode: one Git fetch, as `weir source git fetch` does it.
fn child_git(url: &str, out: &Path) {
    let store = Arc::new(ArtifactStore::open(out, store::Options::default()).expect("store"));
    let clock = Arc::new(SystemClock::default());
    let metrics = Arc::new(Metrics::default());
    let client = GitClient::new(
        Arc::new(HostBudgets::new(clock.clone(), BudgetConfig::default())),
        metrics.clone(),
        ClientOptions::default(),
    );
    let fetcher = Fetcher::new(client, store, metrics, clock, fetch::Options::default());
    let outcome = fetcher
        .fetch(
            &Request {
                url,
                reference: &GitRef::default(),
                credentials: &Credentials::default(),
                ignore: None,
                last_revision: None,
                object: None,
            },
            &Arc::new(AtomicBool::new(false)),
        )
        .expect("fetch");
    print_outcome(outcome);
}

fn print_outcome(outcome: Outcome) {
    match outcome {
        Outcome::Fetched { artifact, revision } => {
            println!("{} {} {revision}", artifact.digest, artifact.size)
        }
        Outcome::Unchanged { revision } => println!("unchanged - {revision}"),
    }
}

/// Runs `cmd` under `/usr/bin/time`; returns (seconds, peak RSS in KiB, stdout).
fn measure(cmd: &mut Command) -> (f64, u64, String) {
    let time_file = tempfile::NamedTempFile::new().expect("tmp");
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%e %M")
        .arg("-o")
        .arg(time_file.path())
        .arg(program)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("/usr/bin/time (Debian package `time`)");
    assert!(out.status.success(), "{cmd:?} failed");
    let text = std::fs::read_to_string(time_file.path()).expect("time output");
    let mut it = text.split_whitespace();
    let secs = it.next().and_then(|s| s.parse().ok()).expect("elapsed");
    let kib = it.next().and_then(|s| s.parse().ok()).expect("maxrss");
    (secs, kib, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn oras() -> Option<PathBuf> {
    let cache = std::env::var_os("WEIR_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/weir")))?;
    Some(cache.join("oras-v1.3.6/oras")).filter(|p| p.is_file())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--child-oci") => {
            return child_oci(
                &args[2],
                Path::new(&args[3]),
                args.get(4).map(String::as_str),
            );
        }
        Some("--child-git") => return child_git(&args[2], Path::new(&args[3])),
        _ => {}
    }
    let root = tempfile::tempdir().expect("tempdir");
    let me = std::env::current_exe().expect("exe");
    let tree = root.path().join("tree");
    write_tree(&tree);
    // The same tree as one commit, served over smart HTTP.
    let repos = root.path().join("repos");
    std::fs::create_dir_all(&repos).expect("mkdir");
    support::git(&tree, &["init", "-q", "-b", "master"]);
    support::git(&tree, &["add", "-A"]);
    support::git(
        &tree,
        &[
            "-c",
            "user.name=weir",
            "-c",
            "user.email=weir@example.com",
            "commit",
            "-qm",
            "tree",
        ],
    );
    support::git(
        root.path(),
        &[
            "clone",
            "-q",
            "--bare",
            &tree.display().to_string(),
            &repos.join("tree.git").display().to_string(),
        ],
    );
    std::fs::remove_dir_all(tree.join(".git")).expect("rm .git");
    let server = support::HttpGitServer::start(&repos);
    let registry = registry::Registry::start();
    let url = OciUrl::parse(&registry.url("bench/tree")).expect("url");
    let scratch = tempfile::tempdir().expect("tempdir");
    let pushed = push_artifact(
        &registry_client(),
        &OciCredentials::default(),
        &PushRequest {
            url: &url,
            tag: "latest",
            dir: &tree,
            source: "bench",
            revision: "bench",
            ignore_paths: &[],
            created: "2026-01-01T00:00:00Z",
            insecure: true,
        },
        scratch.path(),
        &Control::new(
            Duration::from_secs(120),
            Arc::new(AtomicBool::new(false)),
            Arc::new(Discard),
        ),
    )
    .expect("push");
    let revision = format!("latest@{}", pushed.digest);
    println!(
        "| tool | time (s, median of {RUNS}) | registry requests per run | peak RSS (MiB, max) | artifact |"
    );
    println!("|---|---|---|---|---|");
    let mut tools = vec!["weir OCI", "weir OCI poll (unchanged)", "weir Git"];
    let oras = oras();
    if oras.is_some() {
        tools.push("oras copy");
    }
    for tool in tools {
        let before = registry.requests().len();
        let mut times = Vec::new();
        let mut peak = 0;
        let mut note = String::new();
        for run in 0..RUNS {
            let work = root.path().join(format!("out-{}-{run}", tool.len()));
            let mut cmd = match tool {
                "weir Git" => {
                    let mut c = Command::new(&me);
                    c.arg("--child-git").arg(server.url("tree")).arg(&work);
                    c
                }
                "oras copy" => {
                    // `oras pull` writes only layers with a title annotation (Flux's have none):
                    // copying into an OCI layout downloads and verifies every blob.
                    let mut c = Command::new(oras.as_ref().expect("oras"));
                    c.args(["copy", "--from-plain-http"])
                        .arg(format!("{}/bench/tree:latest", registry.host))
                        .arg("--to-oci-layout")
                        .arg(format!("{}:latest", work.display()));
                    c
                }
                _ => {
                    let mut c = Command::new(&me);
                    c.arg("--child-oci")
                        .arg(registry.url("bench/tree"))
                        .arg(&work);
                    if tool.contains("poll") {
                        c.arg(&revision);
                    }
                    c
                }
            };
            let (secs, kib, stdout) = measure(&mut cmd);
            times.push(secs);
            peak = peak.max(kib);
            note = stdout
                .lines()
                .next()
                .filter(|_| tool.starts_with("weir"))
                .unwrap_or_default()
                .split_whitespace()
                .nth(1)
                .filter(|s| *s != "-")
                .map(|s| format!("{s} bytes tar.gz"))
                .unwrap_or_default();
            let _ = std::fs::remove_dir_all(&work);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        let requests = if tool == "weir Git" {
            "-".to_owned()
        } else {
            format!("{}", (registry.requests().len() - before) / RUNS)
        };
        println!(
            "| {tool} | {:.2} | {requests} | {:.1} | {note} |",
            times[RUNS / 2],
            peak as f64 / 1024.0
        );
    }
    println!(
        "\nlayer: {} bytes ({})",
        pushed.layer_size, pushed.layer_digest
    );
}
