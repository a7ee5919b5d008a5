//! `weir source git fetch` against `git http-backend` on loopback.

#[path = "../../weir-source/tests/source/support.rs"]
mod support;

use std::process::Command;

fn weir(args: &[&str]) -> (i32, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .output()
        .expect("weir runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn fetch_should_write_the_artifact_and_report_json() {
    let fixture = support::Fixture::new();
    let root = tempfile::tempdir().expect("tempdir");
    fixture.publish(root.path(), "repo");
    let server = support::HttpGitServer::start(root.path());
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out = out_dir.path().join("artifact.tar.gz");
    let url = server.url("repo");
    let out_s = out.display().to_string();

    let (code, json, stderr) = weir(&[
        "source", "git", "fetch", &url, "--tag", "v1.1.0", "--out", &out_s, "-o", "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let revision = format!("v1.1.0@sha1:{}", fixture.commit("two"));
    assert_eq!(json["revision"], revision.as_str());
    assert_eq!(json["changed"], true);
    assert_eq!(json["path"], out_s.as_str());
    assert!(
        json["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:"))
    );
    assert_eq!(
        json["size"].as_u64(),
        Some(std::fs::metadata(&out).expect("artifact").len())
    );
    let leftovers: Vec<_> = std::fs::read_dir(out_dir.path()).expect("dir").collect();
    assert_eq!(leftovers.len(), 1, "only the artifact remains");

    let (code, json, stderr) = weir(&[
        "source",
        "git",
        "fetch",
        &url,
        "--tag",
        "v1.1.0",
        "--last-revision",
        &revision,
        "--out",
        &out_s,
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["changed"], false);
    assert_eq!(json["revision"], revision.as_str());

    let (code, _, stderr) = weir(&[
        "source", "git", "fetch", &url, "--branch", "mian", "--out", &out_s,
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no branch named \"mian\" (similar: main)"),
        "{stderr}"
    );
}

/// Writes one file of a fixture repository at the given path.
type Writer<'a> = &'a dyn Fn(&std::path::Path);

/// A repository served over HTTP whose one commit holds `files`.
fn serve_files(files: &[(&str, Writer<'_>)]) -> (tempfile::TempDir, support::HttpGitServer) {
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path().join("w");
    std::fs::create_dir_all(&w).expect("mkdir");
    support::git(&w, &["init", "-q", "-b", "master"]);
    for (name, write) in files {
        write(&w.join(name));
    }
    support::git(&w, &["add", "-A"]);
    support::git(&w, &["commit", "-qm", "one"]);
    for (name, _) in files {
        // The served bare copy is all that is needed; big work files go at once.
        let _ = std::fs::remove_file(w.join(name));
    }
    let root = work.path().join("root");
    std::fs::create_dir_all(&root).expect("mkdir");
    support::git(
        &root,
        &[
            "clone",
            "-q",
            "--bare",
            &w.display().to_string(),
            "repo.git",
        ],
    );
    let server = support::HttpGitServer::start(&root);
    (work, server)
}

fn zeros(size: u64) -> impl Fn(&std::path::Path) {
    move |path| {
        let file = std::fs::File::create(path).expect("create");
        file.set_len(size).expect("sparse zeros");
    }
}

fn text(content: &'static str) -> impl Fn(&std::path::Path) {
    move |path| std::fs::write(path, content).expect("write")
}

/// Runs weir with its data segment (heap, anonymous memory) limited to `limit` bytes, and checks
/// its peak RSS (GNU time's `%M`) stayed under the limit too. Returns code, stdout, stderr.
fn weir_limited(limit: u64, args: &[&str]) -> (i32, String, String) {
    let out = Command::new("prlimit")
        .arg(format!("--data={limit}"))
        .args(["/usr/bin/time", "-f", "weir-peak-rss-kib=%M"])
        .arg(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .env("MALLOC_ARENA_MAX", "2")
        .output()
        .expect("prlimit runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let peak_kib: u64 = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("weir-peak-rss-kib="))
        .and_then(|v| v.trim().parse().ok())
        .expect("GNU time reports the peak RSS");
    eprintln!("weir {args:?}: peak RSS {} KiB", peak_kib);
    let code = match stderr
        .lines()
        .find_map(|l| l.strip_prefix("Command exited with non-zero status "))
    {
        Some(code) => code.trim().parse().unwrap_or(-1),
        None if stderr.contains("Command terminated by signal") => -1,
        None => out.status.code().unwrap_or(-1),
    };
    assert!(
        peak_kib * 1024 < limit,
        "peak RSS {peak_kib} KiB over {limit} bytes"
    );
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

const MEMORY_LIMIT: u64 = 64 << 20;

#[test]
fn r14_a_1gib_file_should_fail_clearly_within_64mib() {
    let (_work, server) = serve_files(&[
        ("small.yaml", &text("a: 1\n")),
        ("big.bin", &zeros(1 << 30)),
    ]);
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out = out_dir.path().join("a.tar.gz").display().to_string();
    let url = server.url("repo");
    let (code, _, stderr) = weir_limited(
        MEMORY_LIMIT,
        &["source", "git", "fetch", &url, "--out", &out],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("larger than the blob size limit of 33554432 bytes"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(out_dir.path()).expect("dir").count(), 0);
    // The bound is the blob limit: lifted, the same fetch cannot complete within the memory limit
    // (gix inflates an object whole to index it; see docs/security.md).
    let (code, _, stderr) = weir_limited(
        MEMORY_LIMIT,
        &[
            "source",
            "git",
            "fetch",
            &url,
            "--out",
            &out,
            "--max-blob-size",
            "2Gi",
        ],
    );
    assert_ne!(code, 0, "{stderr}");
    assert_eq!(std::fs::read_dir(out_dir.path()).expect("dir").count(), 0);
}

#[test]
fn r14_a_file_under_the_blob_limit_should_fetch_within_64mib() {
    let (_work, server) = serve_files(&[
        ("small.yaml", &text("a: 1\n")),
        ("big.bin", &zeros(24 << 20)),
    ]);
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out = out_dir.path().join("a.tar.gz").display().to_string();
    let url = server.url("repo");
    let (code, stdout, stderr) = weir_limited(
        MEMORY_LIMIT,
        &["source", "git", "fetch", &url, "--out", &out],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("fetched master@sha1:"), "{stdout}");
    // The limit is a flag: lowered, the same file is refused.
    let (code, _, stderr) = weir(&[
        "source",
        "git",
        "fetch",
        &url,
        "--out",
        &out,
        "--max-blob-size",
        "1Mi",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("blob size limit of 1048576 bytes"),
        "{stderr}"
    );
    let (code, _, stderr) = weir(&[
        "source",
        "git",
        "fetch",
        &url,
        "--out",
        &out,
        "--max-artifact-size",
        "10K",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("size limit of 10000 bytes"), "{stderr}");
}

#[test]
fn r14_out_should_replace_only_regular_files() {
    let (_work, server) = serve_files(&[("a.yaml", &text("a: 1\n"))]);
    let url = server.url("repo");
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("target.txt");
    std::fs::write(&target, "keep").expect("write");
    let link = dir.path().join("link.tar.gz");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).expect("mkdir");
    let fifo = dir.path().join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo")
            .success()
    );
    let mut cases = vec![
        (link.clone(), "a symbolic link"),
        (sub.clone(), "a directory"),
        (fifo.clone(), "a FIFO"),
    ];
    let device = dir.path().join("null");
    if Command::new("mknod")
        .arg(&device)
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success())
    {
        cases.push((device.clone(), "a device"));
    }
    for (path, what) in &cases {
        let p = path.display().to_string();
        let (code, _, stderr) = weir(&["source", "git", "fetch", &url, "--out", &p]);
        assert_eq!(code, 2, "{what}: {stderr}");
        assert!(
            stderr.contains(&format!("is not a regular file ({what})")),
            "{stderr}"
        );
    }
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("link")
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&target).expect("target"), "keep");
    assert!(sub.is_dir());
    // A regular file is replaced.
    let regular = dir.path().join("old.tar.gz");
    std::fs::write(&regular, "old").expect("write");
    let p = regular.display().to_string();
    let (code, _, stderr) = weir(&["source", "git", "fetch", &url, "--out", &p]);
    assert_eq!(code, 0, "{stderr}");
    assert_ne!(std::fs::read(&regular).expect("artifact"), b"old");
}

#[test]
fn r14_a_huge_timeout_should_not_panic() {
    let (_work, server) = serve_files(&[("a.yaml", &text("a: 1\n"))]);
    let url = server.url("repo");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("a.tar.gz").display().to_string();
    let (code, _, stderr) = weir(&[
        "source",
        "git",
        "fetch",
        &url,
        "--out",
        &out,
        "--timeout",
        "18446744073709551615",
    ]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn r14_sigterm_mid_fetch_should_leave_no_work_directory() {
    let (_work, server) = serve_files(&[("a.yaml", &text("a: 1\n"))]);
    // Every reply waits: the fetch is mid-request when the signal comes.
    server.set(|b| b.delay = std::time::Duration::from_secs(20));
    let url = server.url("repo");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("a.tar.gz").display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["source", "git", "fetch", &url, "--out", &out])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("weir starts");
    for _ in 0..200 {
        if !server.requests().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!server.requests().is_empty(), "the fetch started");
    let work: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .collect();
    assert_eq!(work.len(), 1, "the work directory exists mid-fetch");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child.wait().expect("exits");
    assert_eq!(status.code(), Some(143), "exit 128 + SIGTERM");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
