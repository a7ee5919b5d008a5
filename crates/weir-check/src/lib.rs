//! Offline verification of a GitOps repository (`weir check`). Each Kustomization is rendered by
//! `weir_build::render`, the controller's own build step.
//!
//! - [`repo`]: the walk from a cluster directory through every Kustomization it defines, with the
//!   findings (cycles, missing dependencies, duplicate objects, unresolved variables, build errors,
//!   invalid objects, sources not checkable offline) and the apply order.

pub mod entry;
pub mod repo;
pub mod report;
pub mod validate;

pub use entry::cluster_dirs;
pub use repo::{CheckError, CheckOptions, Checked, SourceMapping, check};
pub use report::{Finding, FindingKind, KustomizationReport, ObjectRef, Report, Severity, Status};
