//! `weir_build::render` through the public API, on in-memory artifacts.

use std::path::Path;

use serde_json::{Value, json};
use weir_api::flux::Kustomization;
use weir_build::variables::{self, Lookup};
use weir_build::{BuildError, Options, Variables, render};
use weir_kustomize::MemFs;

const ROOT: &str = "/artifact";

fn artifact(files: &[(&str, &str)]) -> MemFs {
    let mut fs = MemFs::new();
    for (path, content) in files {
        fs.add(Path::new(ROOT).join(path), content.as_bytes());
    }
    fs
}

fn kustomization(spec: Value) -> Kustomization {
    serde_json::from_value(json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system"},
        "spec": spec,
    }))
    .expect("a valid Kustomization")
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: apps\ndata:\n  a: ${A}\n  b: ${B:=default}\n";

fn build(ks: &Kustomization, vars: &Variables) -> Result<Vec<Value>, BuildError> {
    let fs = artifact(&[("apps/cm.yaml", CM)]);
    render(&fs, Path::new(ROOT), ks, vars, &Options::default()).map(|r| r.objects)
}

#[test]
fn substitution_is_skipped_when_no_variable_is_defined() {
    // Flux's default substituteStrategy (WithVariables): postBuild without any variable leaves
    // the objects alone, `${A}` included.
    let ks = kustomization(json!({"path": "./apps", "postBuild": {"substituteFrom": [
        {"kind": "ConfigMap", "name": "absent", "optional": true}]}}));
    let vars =
        variables::resolve(ks.spec.post_build.as_ref(), |_| Lookup::NotFound).expect("optional");
    let objects = build(&ks, &vars).expect("builds");
    assert_eq!(
        objects[0]["data"],
        json!({"a": "${A}", "b": "${B:=default}"})
    );
}

#[test]
fn substitute_strategy_always_substitutes_without_variables() {
    let ks =
        kustomization(json!({"path": "./apps", "postBuild": {"substituteStrategy": "Always"}}));
    let err = build(&ks, &Variables::default()).expect_err("A is undefined");
    assert_eq!(err.reason(), "BuildFailed");
    assert!(!err.is_transient());
    let BuildError::Substitute { errors, objects } = err else {
        panic!("a substitution error")
    };
    assert_eq!(errors[0].source.undefined(), ["A"]);
    // The objects are still there for the caller to list and check.
    assert_eq!(objects[0]["metadata"]["name"], "cm");
}

#[test]
fn variables_come_from_substitute_from_then_inline() {
    let ks = kustomization(json!({"path": "./apps", "postBuild": {
        "substitute": {"A": "inline"},
        "substituteFrom": [{"kind": "Secret", "name": "s"}]}}));
    let secret =
        json!({"apiVersion": "v1", "kind": "Secret", "data": {"A": "c2VjcmV0", "B": "Yg=="}});
    let vars =
        variables::resolve(ks.spec.post_build.as_ref(), |_| Lookup::Found(&secret)).expect("found");
    let objects = build(&ks, &vars).expect("builds");
    assert_eq!(objects[0]["data"], json!({"a": "inline", "b": "b"}));
}

#[test]
fn a_missing_required_source_is_a_transient_build_failure() {
    let ks = kustomization(json!({"path": "./apps", "postBuild": {
        "substituteFrom": [{"kind": "ConfigMap", "name": "vars"}]}}));
    let err: BuildError = variables::resolve(ks.spec.post_build.as_ref(), |_| Lookup::NotFound)
        .expect_err("required")
        .into();
    assert_eq!(err.reason(), "BuildFailed");
    assert!(err.is_transient());
}

#[test]
fn common_metadata_is_applied_after_substitution() {
    let ks = kustomization(json!({"path": "./apps",
        "commonMetadata": {"labels": {"team": "${A}"}},
        "postBuild": {"substitute": {"A": "x"}}}));
    let vars =
        variables::resolve(ks.spec.post_build.as_ref(), |_| Lookup::NotFound).expect("inline only");
    let objects = build(&ks, &vars).expect("builds");
    assert_eq!(objects[0]["data"]["a"], "x");
    assert_eq!(objects[0]["metadata"]["labels"]["team"], "${A}");
}

#[test]
fn a_path_outside_or_missing_is_an_artifact_failure() {
    for path in ["../etc", "./nope"] {
        let ks = kustomization(json!({"path": path}));
        let err = build(&ks, &Variables::default()).expect_err("no such path");
        assert_eq!(err.reason(), "ArtifactFailed", "{path}");
        assert!(!err.is_transient());
    }
}

#[test]
fn amplification_fails_with_a_size_error() {
    // Issue 14 item 7: a 200 KB value used 5,000 times must fail cleanly.
    let refs: String = (0..5_000).map(|i| format!("  k{i}: ${{BIG}}\n")).collect();
    let cm = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n{refs}");
    let fs = artifact(&[("cm.yaml", &cm)]);
    let big = "v".repeat(200_000);
    let ks = kustomization(json!({"postBuild": {"substitute": {"BIG": big}}}));
    let vars =
        variables::resolve(ks.spec.post_build.as_ref(), |_| Lookup::NotFound).expect("inline only");
    let err = render(&fs, Path::new(ROOT), &ks, &vars, &Options::default()).expect_err("too large");
    let BuildError::Substitute { errors, .. } = err else {
        panic!("a substitution error")
    };
    assert!(
        errors[0]
            .to_string()
            .contains("substitution output exceeds 8388608 bytes"),
        "{}",
        errors[0]
    );
}
