//! weir's native kustomize engine (kustomize v5.5 `build` semantics). Pure: reads through a
//! [`FileSystem`] trait, no network, no environment.
//!
//! Resources are `serde_json::Value` objects. The patch machinery (target selection, strategic merge,
//! JSON6902, replacements) lives in its own modules with small, value-level entry points.
//!
//! ```no_run
//! use std::path::Path;
//! use weir_kustomize::{BuildOptions, DiskFs, build};
//! let objects = build(&DiskFs::new(), Path::new("deploy/overlays/prod"), &BuildOptions::default())?;
//! print!("{}", weir_yaml::to_string_multi(&objects));
//! # Ok::<(), weir_kustomize::Error>(())
//! ```

pub mod json6902;
pub mod patch_meta;
pub mod replacements;
pub mod selector;
pub mod smp;

mod build;
mod config;
mod error;
mod fieldspec;
mod flux;
mod fs;
mod generator;
mod hash;
mod kustomization;
mod loader;
mod nameref;
mod order;
mod origin;
mod patches;
mod plugins;
mod resid;
mod resource;
mod transform;
mod vars;

use std::path::{Path, PathBuf};

use serde_json::Value;

pub use build::Output;
pub use error::{Error, ErrorKind};
pub use fs::{
    DiskFs, FileSystem, FsError, MAX_LINKS, MemFs, Node, Resolved, SpecialKind, resolve_beneath,
};
pub use kustomization::{
    FieldRef, FieldSpecArg, GeneratorArgs, GeneratorOptions, Image, Kustomization, Label,
    LegacySortOptions, ObjRef, ParseError, Patch, ReplacementEntry, Replica, SortOptions, Var,
};
pub use loader::KUSTOMIZATION_FILE_NAMES;
pub use resid::{Gvk, ResId};

/// How to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Confine every load to this directory (an artifact root) instead of each kustomization's own
    /// directory: files may come from anywhere inside it, nothing from outside it (no `..` or symbolic
    /// link escapes). `None` is kustomize's default restrictor (files only from the kustomization's
    /// directory and below; bases anywhere).
    pub load_root: Option<PathBuf>,
    /// Remote bases are refused unless this is set; even then this engine cannot fetch them and
    /// reports so.
    pub allow_remote: bool,
    /// Generate a kustomization listing the directory's manifests when it has none (Flux).
    pub generate_missing: bool,
}

/// Builds the kustomization in `dir`, as `kustomize build dir` does; objects in output order.
pub fn build(fs: &dyn FileSystem, dir: &Path, opts: &BuildOptions) -> Result<Vec<Value>, Error> {
    build::run(fs, dir, None, opts).map(|o| o.resources)
}

/// Builds `dir` with `overlay` merged into its kustomization first, as Flux's kustomize-controller does
/// with a Kustomization's spec: `namespace` (from `targetNamespace`), `namePrefix` and `nameSuffix`
/// replace; `patches`, `components` (and any `labels`/`commonAnnotations`) are appended; `images`
/// replace an entry of the same name or are appended. Flux's `commonMetadata` is not part of the
/// kustomization: apply it to the result with [`set_common_metadata`], as the controller does.
pub fn build_with(
    fs: &dyn FileSystem,
    dir: &Path,
    overlay: &Kustomization,
    opts: &BuildOptions,
) -> Result<Vec<Value>, Error> {
    build::run(fs, dir, Some(overlay), opts).map(|o| o.resources)
}

/// Like [`build`] (or [`build_with`] when `overlay` is given), also returning the warnings kustomize
/// prints for deprecated fields.
pub fn build_output(
    fs: &dyn FileSystem,
    dir: &Path,
    overlay: Option<&Kustomization>,
    opts: &BuildOptions,
) -> Result<Output, Error> {
    build::run(fs, dir, overlay, opts)
}

/// Flux's `commonMetadata`: sets these labels and annotations on every object's `metadata` (overwriting
/// keys already there; selectors and templates untouched), after the build.
pub fn set_common_metadata(
    objects: &mut [Value],
    labels: &std::collections::BTreeMap<String, String>,
    annotations: &std::collections::BTreeMap<String, String>,
) {
    for obj in objects {
        for (field, pairs) in [("labels", labels), ("annotations", annotations)] {
            if pairs.is_empty() {
                continue;
            }
            let md = resource::metadata_mut(obj);
            let entry = md
                .entry(field)
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(serde_json::Map::new());
            }
            if let Some(map) = entry.as_object_mut() {
                for (k, v) in pairs {
                    map.insert(k.clone(), Value::String(v.clone()));
                }
            }
        }
    }
}
