//! Loading files for one kustomization: path resolution, the load restrictor, kustomization file
//! discovery and reading resource files into objects (multi-document, `List` kinds expanded).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::fs::{FileSystem, clean};

/// The file names kustomize recognises, in its order of preference.
pub const KUSTOMIZATION_FILE_NAMES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Resolves and reads paths named by one kustomization.
#[derive(Clone)]
pub(crate) struct Loader<'a> {
    pub fs: &'a dyn FileSystem,
    /// The kustomization's directory (canonical).
    pub dir: PathBuf,
    /// Files must be in or below this directory: the kustomization's own directory (kustomize's
    /// default restrictor) or the artifact root (Flux).
    pub restrict: PathBuf,
    /// With an artifact root, directories must be inside it too.
    pub artifact_root: Option<PathBuf>,
    /// Directories being built, outermost first (cycle detection and error context).
    pub chain: Vec<PathBuf>,
    /// This directory relative to the one being built, as kustomize's origin annotations name it.
    pub origin_path: PathBuf,
}

impl<'a> Loader<'a> {
    /// A loader for the kustomization in `dir`.
    pub fn root(
        fs: &'a dyn FileSystem,
        dir: &Path,
        artifact_root: Option<&Path>,
    ) -> Result<Loader<'a>> {
        let artifact_root = match artifact_root {
            Some(r) => Some(fs.canonicalize(r).ok_or_else(|| {
                Error::new(ErrorKind::NotFound {
                    path: r.to_path_buf(),
                    referrer: r.to_path_buf(),
                })
            })?),
            None => None,
        };
        let canon = fs.canonicalize(dir).ok_or_else(|| {
            Error::new(ErrorKind::NotFound {
                path: dir.to_path_buf(),
                referrer: dir.to_path_buf(),
            })
        })?;
        if let Some(root) = &artifact_root
            && !canon.starts_with(root)
        {
            return Err(Error::new(ErrorKind::OutsideRoot {
                path: canon,
                root: root.clone(),
            }));
        }
        let restrict = artifact_root.clone().unwrap_or_else(|| canon.clone());
        Ok(Loader {
            fs,
            dir: canon.clone(),
            restrict,
            artifact_root,
            chain: vec![canon],
            origin_path: PathBuf::new(),
        })
    }

    /// The absolute, lexically clean form of a path named in the kustomization.
    pub fn resolve(&self, rel: &str) -> PathBuf {
        clean(&self.dir.join(rel))
    }

    /// Reads a file named by the kustomization in `referrer`, within the load restriction.
    pub fn read(&self, rel: &str, referrer: &Path) -> Result<(PathBuf, Vec<u8>)> {
        self.read_checked(self.resolve(rel), rel, referrer)
    }

    /// Reads the file at `path` (absolute, lexically clean), within the load restriction.
    pub fn read_path(&self, path: &Path, referrer: &Path) -> Result<(PathBuf, Vec<u8>)> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.read_checked(path.to_path_buf(), &name, referrer)
    }

    fn read_checked(
        &self,
        path: PathBuf,
        rel: &str,
        referrer: &Path,
    ) -> Result<(PathBuf, Vec<u8>)> {
        let Some(canon) = self.fs.canonicalize(&path) else {
            return Err(Error::new(ErrorKind::NotFound {
                path,
                referrer: referrer.to_path_buf(),
            }));
        };
        if !canon.starts_with(&self.restrict) {
            return Err(Error::new(ErrorKind::OutsideRoot {
                path: canon,
                root: self.restrict.clone(),
            }));
        }
        if self.fs.is_dir(&canon) {
            return Err(Error::new(ErrorKind::Field {
                file: referrer.to_path_buf(),
                field: rel.to_string(),
                message: format!("'{}' is a directory, a file was expected", path.display()),
            }));
        }
        let bytes = self.fs.read(&canon).map_err(|source| {
            Error::new(ErrorKind::Read {
                file: path.clone(),
                source,
            })
        })?;
        Ok((path, bytes))
    }

    /// A loader for a sub-directory (base or component) named by this kustomization.
    pub fn sub(&self, rel: &str, referrer: &Path) -> Result<Loader<'a>> {
        let path = self.resolve(rel);
        let Some(canon) = self.fs.canonicalize(&path) else {
            return Err(Error::new(ErrorKind::NotFound {
                path,
                referrer: referrer.to_path_buf(),
            }));
        };
        if let Some(root) = &self.artifact_root
            && !canon.starts_with(root)
        {
            return Err(Error::new(ErrorKind::OutsideRoot {
                path: canon,
                root: root.clone(),
            }));
        }
        if self.chain.contains(&canon) {
            return Err(Error::new(ErrorKind::Cycle { dir: canon }));
        }
        let mut chain = self.chain.clone();
        chain.push(canon.clone());
        let restrict = self.artifact_root.clone().unwrap_or_else(|| canon.clone());
        Ok(Loader {
            fs: self.fs,
            dir: canon,
            restrict,
            artifact_root: self.artifact_root.clone(),
            chain,
            origin_path: crate::origin::join(&self.origin_path, rel),
        })
    }

    /// A path named by this kustomization, relative to the directory being built (origins).
    pub fn origin_of(&self, rel: &str) -> String {
        crate::origin::display(&crate::origin::join(&self.origin_path, rel))
    }

    /// The kustomization file of this directory, if there is exactly one.
    pub fn kustomization_file(&self) -> Result<Option<PathBuf>> {
        find_kustomization_file(self.fs, &self.dir)
    }
}

/// The kustomization file in `dir`: `None` when there is none, an error when there are several.
pub(crate) fn find_kustomization_file(fs: &dyn FileSystem, dir: &Path) -> Result<Option<PathBuf>> {
    let found: Vec<PathBuf> = KUSTOMIZATION_FILE_NAMES
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| fs.exists(p) && !fs.is_dir(p))
        .collect();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.into_iter().next()),
        _ => Err(Error::new(ErrorKind::MultipleKustomizations {
            dir: dir.to_path_buf(),
        })),
    }
}

/// Whether a `resources` entry names a remote base (URL or Git shorthand).
pub(crate) fn looks_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.starts_with("git@")
        || entry.starts_with("github.com/")
        || entry.starts_with("gitlab.com/")
        || entry.starts_with("bitbucket.org/")
}

/// Parses a resource file into objects: empty documents dropped, `List` kinds expanded, each object
/// checked for `kind` and `metadata.name`.
pub(crate) fn parse_objects(file: &Path, bytes: &[u8]) -> Result<Vec<Value>> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Error::new(ErrorKind::InvalidObject {
            file: file.to_path_buf(),
            index: 0,
            message: format!(
                "the file is not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            ),
        })
    })?;
    let docs = weir_yaml::from_str(text).map_err(|e| crate::error::yaml_error(file, e))?;
    let mut out = Vec::new();
    for (i, doc) in docs.into_iter().enumerate() {
        push_object(file, i + 1, doc, &mut out)?;
    }
    Ok(out)
}

fn push_object(file: &Path, index: usize, doc: Value, out: &mut Vec<Value>) -> Result<()> {
    let invalid = |message: String| {
        Error::new(ErrorKind::InvalidObject {
            file: file.to_path_buf(),
            index,
            message,
        })
    };
    match &doc {
        Value::Null => return Ok(()),
        Value::Object(m) if m.is_empty() => return Ok(()),
        Value::Object(_) => {}
        other => {
            return Err(invalid(format!(
                "expected a Kubernetes object (a mapping), found {}",
                kind_of_value(other)
            )));
        }
    }
    let kind = doc
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or("")
        .to_string();
    if kind.is_empty() {
        // Name the object when it has a name: a file may hold many.
        let message = match doc.pointer("/metadata/name").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => format!("'{name}': missing 'kind'"),
            _ => "missing 'kind'".into(),
        };
        return Err(invalid(message));
    }
    if kind.ends_with("List") && doc.get("items").is_some() {
        let items = match doc {
            Value::Object(mut m) => m.remove("items"),
            _ => None,
        };
        match items {
            Some(Value::Array(items)) => {
                for item in items {
                    if item.is_null() {
                        return Err(invalid(format!("empty item in {kind}")));
                    }
                    push_object(file, index, item, out)?;
                }
            }
            Some(Value::Null) | None => {}
            Some(_) => return Err(invalid(format!("'items' of {kind} is not a list"))),
        }
        return Ok(());
    }
    match doc.get("metadata").and_then(|m| m.get("name")) {
        Some(Value::String(s)) if !s.is_empty() => {}
        _ => return Err(invalid(format!("{kind}: missing metadata.name"))),
    }
    out.push(doc);
    Ok(())
}

fn kind_of_value(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}
