//! weir's native kustomize engine (kustomize v5.5 semantics). Pure: reads through a `FileSystem` trait.
//!
//! Resources are `serde_json::Value` objects. The patch machinery (target selection, strategic merge,
//! JSON6902, replacements) lives in its own modules with small, value-level entry points.

pub mod json6902;
pub mod patch_meta;
pub mod replacements;
pub mod selector;
pub mod smp;
