//! Strategic merges with a kustomization's custom `openapi: {path: ...}` schema. Expectations are the
//! output of `kubectl kustomize` (kubectl v1.32, embedded kustomize v5.5.0) on the same inputs: the
//! custom schema replaces the built-in one, so a Deployment's containers are replaced, and inline
//! schemas of custom kinds drive their merges.

use serde_json::{Value, json};
use weir_kustomize::patch_meta::PatchMeta;
use weir_kustomize::smp;

fn schema() -> Value {
    json!({"definitions": {"com.example.v1.Rollout": {
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "spec": {"type": "object", "properties": {
                "steps": {"type": "array", "items": {"type": "object"}, "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "id"},
                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-patch-strategy": "merge"},
                "template": {"$ref": "#/definitions/io.k8s.api.core.v1.PodTemplateSpec"}
            }}
        },
        "type": "object",
        "x-kubernetes-group-version-kind": [{"group": "example.com", "kind": "Rollout", "version": "v1"}]
    }}})
}

fn merged(meta: &PatchMeta, target: Value, patch: Value) -> Value {
    let mut t = target;
    smp::apply_with_meta(&mut t, &patch, smp::Options::default(), meta).expect("patch applies");
    t
}

#[test]
fn custom_schema_should_drive_merges_instead_of_the_builtin_one() {
    let meta = PatchMeta::from_openapi(&schema()).expect("schema loads");
    let rollout = json!({"apiVersion": "example.com/v1", "kind": "Rollout", "metadata": {"name": "r"}, "spec": {
        "steps": [{"id": "a", "w": 1}, {"id": "b", "w": 2}], "tags": ["x", "y"],
        "template": {"spec": {"containers": [{"name": "a", "image": "a"}, {"name": "b", "image": "b"}]}}}});
    let patch = json!({"apiVersion": "example.com/v1", "kind": "Rollout", "metadata": {"name": "r"}, "spec": {
        "steps": [{"id": "b", "w": 5}, {"id": "c"}], "tags": ["z", "x"],
        "template": {"spec": {"containers": [{"name": "b", "image": "b2"}]}}}});
    let want = json!({"apiVersion": "example.com/v1", "kind": "Rollout", "metadata": {"name": "r"}, "spec": {
        "steps": [{"id": "b", "w": 5}, {"id": "c"}, {"id": "a", "w": 1}], "tags": ["z", "x", "y"],
        "template": {"spec": {"containers": [{"name": "b", "image": "b2"}]}}}});
    assert_eq!(merged(&meta, rollout, patch), want);

    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {
        "template": {"spec": {"containers": [{"name": "a", "image": "a"}, {"name": "b", "image": "b"}]}}}});
    let patch = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {
        "template": {"spec": {"containers": [{"name": "b", "image": "b2"}]}}}});
    let want = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {
        "template": {"spec": {"containers": [{"name": "b", "image": "b2"}]}}}});
    assert_eq!(merged(&meta, deployment, patch), want);
}

#[test]
fn documents_that_are_not_maps_should_be_rejected() {
    assert!(PatchMeta::from_openapi(&json!(["x"])).is_err());
    let empty = PatchMeta::from_openapi(&json!({})).expect("no definitions is an empty schema");
    assert!(empty.schema_for("apps/v1", "Deployment").is_none());
    assert!(empty.is_cluster_scoped("v1", "Namespace"));
}
