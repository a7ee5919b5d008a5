//! YAML <-> `serde_json::Value` with Kubernetes/kustomize semantics.
//!
//! Reading follows go-yaml v3 (what kustomize v5 reads with); writing follows kustomize's output
//! (JSON round trip, then go-yaml v2 style: sorted keys, YAML 1.1 quoting, literal blocks).
//!
//! Contract used by the rest of the workspace (do not change the signatures):
//! - [`from_str`]: a multi-document stream into its non-empty documents.
//! - [`to_string`]: one document, with a trailing newline.
//! - [`to_string_multi`]: documents joined by `---\n`, as `kustomize build` prints them.
