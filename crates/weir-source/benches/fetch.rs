//! Fetch benchmark: a repository with 30,000 commits and one with 200 commits, same final tree
//! (~5 MB of manifests), served by `git http-backend` on loopback; weir (this binary re-run as a child)
//! against `git clone --depth 1`, each under `/usr/bin/time` for wall time and peak RSS.
//!
//! Run: `cargo bench -p weir-source --bench fetch`

#[path = "../tests/source/support.rs"]
mod support;

use std::{
    io::Write,
    path::Path,
    process::{Command, Stdio},
    sync::{Arc, atomic::AtomicBool},
};

use weir_source::{
    ArtifactStore, BudgetConfig, ClientOptions, Credentials, Fetcher, GitClient, GitRef,
    HostBudgets, Outcome, Request, clock::SystemClock, fetch, metrics::Metrics, store,
};

const FILES: usize = 2_000;
const RUNS: usize = 3;

fn manifest(i: usize, rev: usize) -> String {
    let mut s = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  namespace: team-{}\n  labels:\n    rev: \"{rev}\"\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n",
        i % 40
    );
    for c in 0..12 {
        s.push_str(&format!(
            "      - name: c{c}\n        image: registry.example.com/team-{}/app-{i}-{c}:v1.{rev}.{c}\n        env:\n        - name: SETTING_{c}\n          value: \"{:x}\"\n",
            i % 40,
            (i * 7919 + c * 104_729 + rev) % 0xffff_ffff
        ));
    }
    s
}

/// Writes a fast-import stream: commit 1 adds every file at rev 0; commits 2..n-1 each rewrite one file
/// with a new rev; the last commit writes every file's final content (rev 0 again), so both repositories
/// end at the same tree.
fn build_repo(dir: &Path, commits: usize) {
    support::git(dir, &["init", "-q", "--bare", "-b", "master"]);
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .spawn()
        .expect("fast-import");
    let mut w = std::io::BufWriter::new(child.stdin.take().expect("stdin"));
    let commit = |w: &mut dyn Write, n: usize, files: &mut dyn Iterator<Item = (usize, String)>| {
        writeln!(w, "commit refs/heads/master").expect("w");
        writeln!(
            w,
            "committer weir <weir@example.com> {} +0000",
            1_700_000_000 + n
        )
        .expect("w");
        let msg = format!("commit {n}");
        writeln!(w, "data {}\n{msg}", msg.len()).expect("w");
        for (i, content) in files {
            writeln!(w, "M 100644 inline apps/team-{}/app-{i}.yaml", i % 40).expect("w");
            writeln!(w, "data {}\n{content}", content.len()).expect("w");
        }
        writeln!(w).expect("w");
    };
    commit(&mut w, 0, &mut (0..FILES).map(|i| (i, manifest(i, 0))));
    for n in 1..commits - 1 {
        commit(
            &mut w,
            n,
            &mut std::iter::once((n % FILES, manifest(n % FILES, n))),
        );
    }
    commit(
        &mut w,
        commits,
        &mut (0..FILES).map(|i| (i, manifest(i, 0))),
    );
    drop(w);
    assert!(child.wait().expect("fast-import").success());
    support::git(dir, &["repack", "-adq"]);
}

/// Child mode: one fetch, as `weir source git fetch` does it.
fn child_fetch(url: &str, out: &Path, last_revision: Option<&str>) {
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
                last_revision,
                object: None,
            },
            &Arc::new(AtomicBool::new(false)),
        )
        .expect("fetch");
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child-fetch") {
        child_fetch(
            &args[2],
            Path::new(&args[3]),
            args.get(4).map(String::as_str),
        );
        return;
    }
    let root = tempfile::tempdir().expect("tempdir");
    let me = std::env::current_exe().expect("exe");
    eprintln!("building repositories with git fast-import ...");
    for (name, commits) in [("small", 200), ("big", 30_000)] {
        let dir = root.path().join(format!("{name}.git"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        build_repo(&dir, commits);
    }
    let server = support::HttpGitServer::start(root.path());
    println!(
        "| repo | commits | tool | time (s, median of {RUNS}) | server time per run (s) | HTTP requests per run | peak RSS (MiB, max) | artifact |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut results = std::collections::BTreeMap::new();
    for (name, commits) in [("small", 200), ("big", 30_000)] {
        let url = server.url(name);
        let mut revision = String::new();
        for tool in [
            "weir",
            "weir poll (unchanged)",
            "git clone --depth 1",
            "git clone --depth 1 --no-checkout",
        ] {
            server.set(|b| b.backend_time = std::time::Duration::ZERO);
            let requests_before = server.requests().len();
            let mut times = Vec::new();
            let mut peak = 0;
            let mut note = String::new();
            for run in 0..RUNS {
                let work = root.path().join(format!("out-{name}-{}-{run}", tool.len()));
                let mut cmd = if tool.starts_with("weir") {
                    let mut c = Command::new(&me);
                    c.arg("--child-fetch").arg(&url).arg(&work);
                    if tool.contains("poll") {
                        c.arg(&revision);
                    }
                    c
                } else {
                    let mut c = Command::new("git");
                    c.args(["clone", "-q", "--depth", "1", &url]).arg(&work);
                    if tool.ends_with("--no-checkout") {
                        c.arg("--no-checkout");
                    }
                    c
                };
                let (secs, kib, stdout) = measure(&mut cmd);
                if let Some(rev) = stdout.split_whitespace().nth(2) {
                    revision = rev.to_owned();
                }
                times.push(secs);
                peak = peak.max(kib);
                note = stdout
                    .split_whitespace()
                    .nth(1)
                    .filter(|s| *s != "-")
                    .map(|s| format!("{s} bytes tar.gz"))
                    .unwrap_or_default();
                let _ = std::fs::remove_dir_all(&work);
            }
            times.sort_by(|a, b| a.total_cmp(b));
            let median = times[RUNS / 2];
            let backend = server
                .behaviour
                .lock()
                .expect("behaviour")
                .backend_time
                .as_secs_f64()
                / RUNS as f64;
            let requests = (server.requests().len() - requests_before) / RUNS;
            println!(
                "| {name} | {commits} | {tool} | {median:.2} | {backend:.2} | {requests} | {:.1} | {note} |",
                peak as f64 / 1024.0
            );
            results.insert((name, tool), (median, peak));
        }
    }
    let (ws, wsr) = results[&("small", "weir")];
    let (wb, wbr) = results[&("big", "weir")];
    let (gb, _) = results[&("big", "git clone --depth 1")];
    let _ = ws;
    println!();
    println!(
        "goals: RSS big/small = {:.2} (goal <= 1.2), RSS big = {:.1} MiB (goal < 64), time weir/git (big) = {:.2} (goal <= 1.5)",
        wbr as f64 / wsr as f64,
        wbr as f64 / 1024.0,
        wb / gb
    );
}
