//! Flux-level rendering and offline verification of a GitOps repository (`weir check`).
//!
//! - [`render`]: one Flux Kustomization rendered as kustomize-controller renders it (spec overlay,
//!   confined loads, commonMetadata, postBuild substitution). The controller calls the same function.
//! - [`repo`]: the walk from a cluster directory through every Kustomization it defines, with the
//!   findings (cycles, missing dependencies, duplicate objects, unresolved variables, build errors,
//!   invalid objects, sources not checkable offline) and the apply order.

pub mod artifact;
pub mod postbuild;
pub mod render;
pub mod repo;
pub mod report;
pub mod validate;

pub use repo::{CheckError, CheckOptions, Checked, check};
pub use report::{Finding, FindingKind, KustomizationReport, ObjectRef, Report, Severity, Status};

/// `Kind namespace/name` of an object, for messages.
pub(crate) fn object_label(obj: &serde_json::Value) -> String {
    let kind = obj["kind"].as_str().unwrap_or("object");
    let name = obj["metadata"]["name"].as_str().unwrap_or("<no name>");
    match obj["metadata"]["namespace"].as_str() {
        Some(ns) if !ns.is_empty() => format!("{kind} {ns}/{name}"),
        _ => format!("{kind} {name}"),
    }
}
