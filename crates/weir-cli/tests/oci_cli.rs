//! `weir push artifact`, `weir source oci fetch`, `weir tag artifact` and `weir list artifacts`
//! against the distribution registry (Debian's `docker-registry`) on loopback.

#[path = "../../weir-source/tests/oci/registry.rs"]
mod registry;

use std::process::Command;

use registry::{PASSWORD, Registry, USER, docker_config_dir, tree};

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
fn push_fetch_tag_and_list_should_round_trip_with_basic_auth() {
    let registry = Registry::start_with_auth();
    let secret = docker_config_dir(&registry.host, USER, PASSWORD);
    let secret_s = secret.path().display().to_string();
    let dir = tree(&[("deploy/cm.yaml", "kind: ConfigMap\n"), ("notes.md", "x\n")]);
    let dir_s = dir.path().display().to_string();
    let url = registry.url("org/app");

    let (code, json, stderr) = weir(&[
        "push",
        "artifact",
        &format!("{url}:v1.0.0"),
        "--path",
        &dir_s,
        "--source",
        "https://github.com/org/app",
        "--revision",
        "main@sha1:0123456789012345678901234567890123456789",
        "--ignore-paths",
        "*.md",
        "--secret-dir",
        &secret_s,
        "--insecure",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let digest = json["digest"].as_str().expect("digest").to_owned();

    let out_dir = tempfile::tempdir().expect("tempdir");
    let out = out_dir.path().join("artifact.tar.gz");
    let out_s = out.display().to_string();
    let (code, json, stderr) = weir(&[
        "source",
        "oci",
        "fetch",
        &url,
        "--semver",
        "1.x",
        "--secret-dir",
        &secret_s,
        "--insecure",
        "--out",
        &out_s,
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let revision = format!("v1.0.0@{digest}");
    assert_eq!(json["revision"], revision.as_str());
    assert_eq!(json["changed"], true);
    assert_eq!(json["path"], out_s.as_str());
    assert_eq!(
        json["size"].as_u64(),
        Some(std::fs::metadata(&out).expect("artifact").len())
    );
    assert_eq!(std::fs::read_dir(out_dir.path()).expect("dir").count(), 1);

    let before = registry.requests().len();
    let (code, json, stderr) = weir(&[
        "source",
        "oci",
        "fetch",
        &url,
        "--tag",
        "v1.0.0",
        "--last-revision",
        &revision,
        "--secret-dir",
        &secret_s,
        "--insecure",
        "--out",
        &out_s,
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["changed"], false);
    // A new process learns the auth scheme from one challenge: the 401, then the HEAD.
    let polled = registry.requests()[before..].to_vec();
    assert_eq!(
        polled,
        vec![
            "HEAD /v2/org/app/manifests/v1.0.0 HTTP/1.1 401".to_owned(),
            "HEAD /v2/org/app/manifests/v1.0.0 HTTP/1.1 200".to_owned()
        ]
    );

    let (code, _, stderr) = weir(&[
        "tag",
        "artifact",
        &format!("{url}:v1.0.0"),
        "--tag",
        "latest",
        "--secret-dir",
        &secret_s,
        "--insecure",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let (code, json, stderr) = weir(&[
        "list",
        "artifacts",
        &url,
        "--secret-dir",
        &secret_s,
        "--insecure",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let listed = json.as_array().expect("list");
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|a| a["digest"] == digest.as_str()));
    assert_eq!(listed[0]["source"], "https://github.com/org/app");

    let (code, _, stderr) = weir(&[
        "source",
        "oci",
        "fetch",
        &url,
        "--tag",
        "v1.0.1",
        "--secret-dir",
        &secret_s,
        "--insecure",
        "--out",
        &out_s,
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("tag \"v1.0.1\" not found") && stderr.contains("(similar tags: v1.0.0)"),
        "{stderr}"
    );
    let (code, _, stderr) = weir(&[
        "source",
        "oci",
        "fetch",
        &url,
        "--insecure",
        "--out",
        &out_s,
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("[AuthenticationFailed]"), "{stderr}");
}
