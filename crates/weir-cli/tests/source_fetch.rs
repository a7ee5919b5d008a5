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
