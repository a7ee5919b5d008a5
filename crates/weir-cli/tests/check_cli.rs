//! `weir check` and `weir build ks` through the binary: exit codes, table and JSON output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn weir(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .output()
        .expect("weir runs")
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fleet")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn check_prints_a_table_and_exits_zero_on_a_clean_repository() {
    let o = weir(&[
        "check",
        example().to_str().expect("utf-8 path"),
        "--cluster",
        "clusters/staging",
    ]);
    let out = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.starts_with("KUSTOMIZATION"), "{out}");
    assert!(
        out.contains("flux-system/apps") && out.contains("./apps/staging"),
        "{out}"
    );
    assert!(
        out.contains("warning [source-unavailable] HelmRelease/cert-manager/cert-manager"),
        "{out}"
    );
    // The apply order in waves: each wave depends only on earlier ones.
    assert!(
        out.contains("apply order:\n   1  flux-system/flux-system, flux-system/infra-controllers\n   2  flux-system/infra-configs\n   3  flux-system/apps\n"),
        "{out}"
    );
    assert!(
        out.contains("4 Kustomizations (4 rendered, 0 failed, 0 not checked offline)")
            && out.contains("0 errors"),
        "{out}"
    );
    // No colour codes when stdout is not a terminal.
    assert!(!out.contains('\u{1b}'), "{out}");
}

#[test]
fn check_json_has_the_documented_shape() {
    let o = weir(&[
        "check",
        example().to_str().expect("utf-8 path"),
        "--cluster",
        "clusters/staging",
        "-o",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    let ks = v["kustomizations"].as_array().expect("kustomizations[]");
    let apps = ks.iter().find(|k| k["name"] == "apps").expect("apps");
    for field in [
        "name",
        "namespace",
        "path",
        "source",
        "dependsOn",
        "objects",
        "status",
    ] {
        assert!(apps.get(field).is_some(), "missing {field}: {apps}");
    }
    assert_eq!(
        apps["dependsOn"],
        serde_json::json!(["flux-system/infra-configs"])
    );
    assert_eq!(apps["status"], "ok");
    let obj = &apps["objects"][0];
    for field in ["apiVersion", "kind", "name"] {
        assert!(obj.get(field).is_some(), "object lacks {field}: {obj}");
    }
    assert!(
        v["findings"]
            .as_array()
            .expect("findings[]")
            .iter()
            .all(|f| f["severity"] == "warning")
    );
    assert_eq!(v["order"][0], "flux-system/flux-system");
}

#[test]
fn check_exits_one_on_findings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = |name: &str, dep: &str| {
        format!(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  path: ./\n  dependsOn:\n    - name: {dep}\n"
        )
    };
    std::fs::create_dir_all(dir.path().join("clusters/x")).expect("mkdir");
    std::fs::write(
        dir.path().join("clusters/x/ks.yaml"),
        format!("{}---\n{}", ks("a", "b"), ks("b", "a")),
    )
    .expect("write");
    let o = weir(&[
        "check",
        dir.path().to_str().expect("utf-8"),
        "--cluster",
        "clusters/x",
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("error   [cycle] Kustomization/flux-system/a: dependsOn cycle: a -> b -> a"),
        "{out}"
    );
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(weir(&["check", "--output", "xml"]).status.code(), Some(2));
    let o = weir(&["check", "/definitely/not/here"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/definitely/not/here"));
}

#[test]
fn build_ks_prints_what_check_rendered() {
    let o = weir(&[
        "build",
        "ks",
        "apps",
        "--dir",
        example().to_str().expect("utf-8"),
        "--cluster",
        "clusters/staging",
    ]);
    let out = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("kind: Deployment") && out.contains("host: podinfo.staging.example.com"),
        "{out}"
    );
    assert!(out.contains("replicas: 2"), "{out}");
    assert!(!out.contains("${"), "variables left unsubstituted: {out}");
    let missing = weir(&[
        "build",
        "ks",
        "nope",
        "--dir",
        example().to_str().expect("utf-8"),
        "--cluster",
        "clusters/staging",
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("flux-system/apps"),
        "lists what exists"
    );
}
