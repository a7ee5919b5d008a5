//! A Flux Kustomization rendered as kustomize-controller renders it: the spec merged into the
//! directory's kustomization (generated when the directory has none), built with loads confined to
//! the artifact root, SOPS decryption (`spec.decryption`, with the caller's keys), postBuild
//! substitution, then `commonMetadata` stamped on every object.
//!
//! This is the controller's build step as a library call: `weir check`, `weir build ks` and the
//! controller all come through here.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use weir_api::flux::Kustomization;
use weir_kustomize::{BuildOptions, FileSystem};

use crate::decryption;
use crate::substitute::{self, ObjectSubstituteError};
use crate::variables::{self, Variables};

/// Why building a Kustomization failed. Each variant maps to the Flux condition reason the
/// controller records ([`Error::reason`]) and says whether a retry can help ([`Error::is_transient`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("spec.path {path:?} leaves the source root")]
    PathEscapes { path: String },
    #[error("kustomization path not found: spec.path {path:?} does not exist in the source")]
    PathNotFound { path: String },
    #[error("the Kustomization's spec cannot be turned into a kustomization: {message}")]
    BadSpec { message: String },
    #[error("kustomize build failed: {0}")]
    Kustomize(#[from] weir_kustomize::Error),
    #[error("{0}")]
    Variables(#[from] variables::Error),
    /// Substitution failed in some objects. `objects` is the build's output before substitution
    /// (minus nothing), so a caller can still list and check what the Kustomization applies.
    #[error("post build failed: {} object{} could not be substituted", errors.len(), if errors.len() == 1 { "" } else { "s" })]
    Substitute {
        errors: Vec<ObjectSubstituteError>,
        objects: Vec<Value>,
    },
    #[error("'{name}' var name is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'")]
    BadVariableName { name: String },
    /// `spec.decryption`: an object could not be decrypted (Flux: `BuildFailed`).
    #[error(transparent)]
    Decryption(#[from] decryption::Error),
}

impl Error {
    /// The reason Flux's kustomize-controller gives this failure on the `Ready` condition.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::PathEscapes { .. } | Error::PathNotFound { .. } => "ArtifactFailed",
            Error::BadSpec { .. }
            | Error::Kustomize(_)
            | Error::Variables(_)
            | Error::Substitute { .. }
            | Error::BadVariableName { .. }
            | Error::Decryption(_) => "BuildFailed",
        }
    }

    /// Whether the same inputs may succeed later: only a `substituteFrom` object that does not
    /// exist yet. Everything else needs a new revision or a changed spec.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Variables(e) => e.is_transient(),
            _ => false,
        }
    }
}

/// How to render.
#[derive(Debug, Clone)]
pub struct Options {
    /// Remote bases and resources (`https://`, `git::`) are allowed, as in Flux by default
    /// (`--no-remote-bases=false`). weir's engine cannot fetch them: the build then fails with a
    /// `RemoteUnsupported` kustomize error the caller can tell apart from a broken repository.
    pub allow_remote: bool,
    /// The most bytes postBuild substitution may produce for one object.
    pub max_object_bytes: usize,
    /// The most bytes postBuild substitution may produce for the whole Kustomization.
    pub max_total_bytes: usize,
    /// The age identities for `spec.decryption` (provider `sops`; the caller sets them only for a
    /// Kustomization that asks, see [`decryption::wanted`]): SOPS-encrypted objects are decrypted
    /// after the kustomize build and before substitution, as Flux does. `None`: they are left
    /// encrypted (the caller reports them: offline "not checked", or refused at apply).
    pub decryption: Option<Arc<weir_sops::Identities>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            allow_remote: true,
            max_object_bytes: substitute::DEFAULT_MAX_OBJECT_BYTES,
            max_total_bytes: substitute::DEFAULT_MAX_TOTAL_BYTES,
            decryption: None,
        }
    }
}

/// What a Kustomization renders to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rendered {
    /// The objects to apply, in kustomize's output order.
    pub objects: Vec<Value>,
    /// Whether postBuild substitution ran (Flux skips it when no variable is defined, unless
    /// `substituteStrategy: Always`).
    pub substituted: bool,
}

/// The directory a Kustomization builds: `spec.path` below `root`, defaulting to the root.
pub fn build_dir(root: &Path, spec_path: Option<&str>) -> Result<PathBuf, Error> {
    let raw = spec_path.unwrap_or("");
    let mut dir = root.to_path_buf();
    for c in Path::new(raw).components() {
        match c {
            Component::Normal(s) => dir.push(s),
            // Flux treats spec.path as relative to the artifact root even when it starts with '/'.
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir => {
                if dir == root || !dir.pop() {
                    return Err(Error::PathEscapes { path: raw.into() });
                }
            }
            Component::Prefix(_) => return Err(Error::PathEscapes { path: raw.into() }),
        }
    }
    if !dir.starts_with(root) {
        return Err(Error::PathEscapes { path: raw.into() });
    }
    Ok(dir)
}

/// The kustomization overlay that kustomize-controller writes from the Kustomization's spec.
pub fn overlay(ks: &Kustomization) -> Result<weir_kustomize::Kustomization, Error> {
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

fn bad_spec(e: serde_json::Error) -> Error {
    Error::BadSpec {
        message: e.to_string(),
    }
}

/// Renders `ks` from the source tree at `root` (read through `fs`), as kustomize-controller's
/// build step does: the spec as an overlay (a kustomization generated when the directory has
/// none), loads confined to `root`, postBuild substitution of every object, then
/// `commonMetadata` (Flux stamps it after substitution, so it is never substituted).
pub fn render(
    fs: &dyn FileSystem,
    root: &Path,
    ks: &Kustomization,
    vars: &Variables,
    opts: &Options,
) -> Result<Rendered, Error> {
    let dir = build_dir(root, ks.spec.path.as_deref())?;
    if !fs.is_dir(&dir) {
        return Err(Error::PathNotFound {
            path: ks.spec.path.clone().unwrap_or_default(),
        });
    }
    let build_opts = BuildOptions {
        load_root: Some(root.to_path_buf()),
        allow_remote: opts.allow_remote,
        generate_missing: true,
    };
    let mut objects = weir_kustomize::build_with(fs, &dir, &overlay(ks)?, &build_opts)?;
    if let Some(ids) = &opts.decryption {
        decryption::decrypt_objects(&mut objects, ids)?;
    }
    let mut substituted = false;
    if let Some(pb) = &ks.spec.post_build {
        let always = pb.substitute_strategy.as_deref() == Some("Always");
        if always || !vars.is_empty() {
            substituted = true;
            let limits = substitute::Limits {
                max_object_bytes: opts.max_object_bytes,
                max_total_bytes: opts.max_total_bytes,
            };
            match substitute::substitute_objects(&mut objects, vars, &limits) {
                Ok(()) => {}
                Err(substitute::Failure::BadName(name)) => {
                    return Err(Error::BadVariableName { name });
                }
                Err(substitute::Failure::Objects(errors)) => {
                    return Err(Error::Substitute { errors, objects });
                }
            }
        }
    }
    if let Some(meta) = &ks.spec.common_metadata {
        weir_kustomize::set_common_metadata(&mut objects, &meta.labels, &meta.annotations);
    }
    Ok(Rendered {
        objects,
        substituted,
    })
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
            Err(Error::PathEscapes { .. })
        ));
        assert!(matches!(
            build_dir(root, Some("a/../../etc")),
            Err(Error::PathEscapes { .. })
        ));
    }
}
