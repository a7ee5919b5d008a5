//! A Flux Kustomization rendered as kustomize-controller renders it: the spec merged into the
//! directory's kustomization (generated when the directory has none), built with loads confined to
//! the artifact root, `commonMetadata` stamped on every object, then postBuild substitution.
//!
//! This is the controller's build step as a library call: `weir check`, `weir build ks` and the
//! controller all come through here.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde_json::{Value, json};
use weir_api::flux::Kustomization;
use weir_kustomize::{BuildOptions, FileSystem};

use crate::postbuild::{self, ObjectSubstituteError};

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("spec.path {path:?} leaves the source root")]
    PathEscapes { path: String },
    #[error("spec.path {path:?} does not exist in the source")]
    PathNotFound { path: String },
    #[error("the Kustomization's spec cannot be turned into a kustomization: {message}")]
    BadSpec { message: String },
    #[error("{0}")]
    Build(#[from] weir_kustomize::Error),
    #[error("postBuild substitution failed in {} object(s)", .0.len())]
    Substitute(Vec<ObjectSubstituteError>),
    #[error(
        "postBuild variable name {name:?} is invalid: it must match ^[_[:alpha:]][_[:alpha:][:digit:]]*$"
    )]
    BadVariableName { name: String },
}

/// The variables of `spec.postBuild`, resolved by the caller (inline `substitute` wins over
/// `substituteFrom`, later `substituteFrom` entries over earlier ones).
#[derive(Debug, Clone, Default)]
pub struct Variables {
    pub values: BTreeMap<String, String>,
    /// False when some `substituteFrom` source could not be read: an undefined variable is then
    /// not an error, since it may come from that source.
    pub complete: bool,
}

/// The directory a Kustomization builds: `spec.path` below `root`, defaulting to the root.
pub fn build_dir(root: &Path, spec_path: Option<&str>) -> Result<PathBuf, RenderError> {
    let raw = spec_path.unwrap_or("");
    let mut dir = root.to_path_buf();
    for c in Path::new(raw).components() {
        match c {
            Component::Normal(s) => dir.push(s),
            // Flux treats spec.path as relative to the artifact root even when it starts with '/'.
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir => {
                if dir == root || !dir.pop() {
                    return Err(RenderError::PathEscapes { path: raw.into() });
                }
            }
            Component::Prefix(_) => return Err(RenderError::PathEscapes { path: raw.into() }),
        }
    }
    if !dir.starts_with(root) {
        return Err(RenderError::PathEscapes { path: raw.into() });
    }
    Ok(dir)
}

/// The kustomization overlay that kustomize-controller writes from the Kustomization's spec.
pub fn overlay(ks: &Kustomization) -> Result<weir_kustomize::Kustomization, RenderError> {
    let spec = &ks.spec;
    let mut k = serde_json::Map::new();
    k.insert(
        "apiVersion".into(),
        json!("kustomize.config.k8s.io/v1beta1"),
    );
    k.insert("kind".into(), json!("Kustomization"));
    if let Some(ns) = &spec.target_namespace {
        k.insert("namespace".into(), json!(ns));
    }
    if let Some(p) = &spec.name_prefix {
        k.insert("namePrefix".into(), json!(p));
    }
    if let Some(s) = &spec.name_suffix {
        k.insert("nameSuffix".into(), json!(s));
    }
    if !spec.patches.is_empty() {
        k.insert(
            "patches".into(),
            serde_json::to_value(&spec.patches).map_err(bad_spec)?,
        );
    }
    if !spec.images.is_empty() {
        k.insert(
            "images".into(),
            serde_json::to_value(&spec.images).map_err(bad_spec)?,
        );
    }
    if !spec.components.is_empty() {
        k.insert("components".into(), json!(spec.components));
    }
    serde_json::from_value(Value::Object(k)).map_err(bad_spec)
}

fn bad_spec(e: serde_json::Error) -> RenderError {
    RenderError::BadSpec {
        message: e.to_string(),
    }
}

/// Renders `ks` from the source tree at `root` (read through `fs`).
pub fn render(
    fs: &dyn FileSystem,
    root: &Path,
    ks: &Kustomization,
    vars: &Variables,
) -> Result<Vec<Value>, RenderError> {
    let dir = build_dir(root, ks.spec.path.as_deref())?;
    if !fs.is_dir(&dir) {
        return Err(RenderError::PathNotFound {
            path: ks.spec.path.clone().unwrap_or_default(),
        });
    }
    let opts = BuildOptions {
        load_root: Some(root.to_path_buf()),
        allow_remote: false,
        generate_missing: true,
    };
    let mut objects = weir_kustomize::build_with(fs, &dir, &overlay(ks)?, &opts)?;
    if let Some(meta) = &ks.spec.common_metadata {
        weir_kustomize::set_common_metadata(&mut objects, &meta.labels, &meta.annotations);
    }
    if let Some(pb) = &ks.spec.post_build {
        for name in pb.substitute.keys() {
            if !postbuild::is_valid_name(name) {
                return Err(RenderError::BadVariableName { name: name.clone() });
            }
        }
        match postbuild::substitute_objects(&mut objects, &vars.values) {
            Ok(()) => {}
            Err(errors) => {
                let fatal: Vec<ObjectSubstituteError> = if vars.complete {
                    errors
                } else {
                    errors
                        .into_iter()
                        .filter(|e| {
                            !matches!(e.source, postbuild::SubstituteError::Undefined { .. })
                        })
                        .collect()
                };
                if !fatal.is_empty() {
                    return Err(RenderError::Substitute(fatal));
                }
            }
        }
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_dir_is_confined_to_the_root() {
        let root = Path::new("/r");
        assert_eq!(
            build_dir(root, Some("./apps/staging")).unwrap(),
            PathBuf::from("/r/apps/staging")
        );
        assert_eq!(build_dir(root, None).unwrap(), PathBuf::from("/r"));
        assert_eq!(
            build_dir(root, Some("/abs")).unwrap(),
            PathBuf::from("/r/abs")
        );
        assert_eq!(
            build_dir(root, Some("a/../b")).unwrap(),
            PathBuf::from("/r/b")
        );
        assert!(matches!(
            build_dir(root, Some("../etc")),
            Err(RenderError::PathEscapes { .. })
        ));
        assert!(matches!(
            build_dir(root, Some("a/../../etc")),
            Err(RenderError::PathEscapes { .. })
        ));
    }
}
