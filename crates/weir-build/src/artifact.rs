//! What a Kustomization's source looks like on disk, offline.
//!
//! A GitRepository that syncs this repository is the repository itself. An ExternalArtifact made by
//! an ArtifactGenerator is a virtual tree: each `copy` entry maps files of a source into the artifact
//! (`@monorepo/apps/base/**` into `@artifact/base/`). [`ArtifactFs`] serves that tree to the kustomize
//! engine without copying a byte, mapping each virtual path to the repository file behind it.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Component, Path, PathBuf};

use weir_api::flux::CopyOperation;
use weir_kustomize::{DiskFs, FileSystem, FsError, Node};

/// Where every artifact is mounted; never a real path, so a mapping bug cannot read the host.
pub const ARTIFACT_MOUNT: &str = "/weir-artifact";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyError {
    #[error("copy from {from:?}: expected `@<alias>/<path or glob>`")]
    BadFrom { from: String },
    #[error("copy to {to:?}: expected `@artifact/<path>`")]
    BadTo { to: String },
    #[error("copy from {from:?}: no source with alias {alias:?} in the generator")]
    UnknownAlias { from: String, alias: String },
    #[error("copy from {from:?}: invalid glob: {message}")]
    BadGlob { from: String, message: String },
    #[error("copy {path:?}: the path leaves the source or the artifact")]
    Escapes { path: String },
    #[error("copy from {from:?} matched no file")]
    NoMatch { from: String },
    #[error("reading {path}: {message}")]
    Io { path: PathBuf, message: String },
}

/// A read-only tree assembled from copy operations over local directories.
#[derive(Debug, Default, Clone)]
pub struct ArtifactFs {
    /// Virtual file path (under [`ARTIFACT_MOUNT`]) -> real file path.
    files: BTreeMap<PathBuf, PathBuf>,
    dirs: BTreeSet<PathBuf>,
}

impl ArtifactFs {
    pub fn root() -> PathBuf {
        PathBuf::from(ARTIFACT_MOUNT)
    }

    /// Builds the artifact from `copy` operations; `sources` maps each alias to a local directory.
    /// Later copies overwrite earlier ones, as a sequence of `cp` would.
    pub fn from_copies(
        copies: &[CopyOperation],
        sources: &BTreeMap<String, PathBuf>,
    ) -> Result<ArtifactFs, CopyError> {
        let mut fs = ArtifactFs::default();
        fs.dirs.insert(Self::root());
        for op in copies {
            fs.apply(op, sources)?;
        }
        Ok(fs)
    }

    fn apply(
        &mut self,
        op: &CopyOperation,
        sources: &BTreeMap<String, PathBuf>,
    ) -> Result<(), CopyError> {
        let from = op.from.as_str();
        let rest = from
            .strip_prefix('@')
            .ok_or_else(|| CopyError::BadFrom { from: from.into() })?;
        let (alias, pattern) = rest.split_once('/').unwrap_or((rest, ""));
        let base = sources.get(alias).ok_or_else(|| CopyError::UnknownAlias {
            from: from.into(),
            alias: alias.into(),
        })?;
        let to = op
            .to
            .strip_prefix("@artifact")
            .filter(|t| t.is_empty() || t.starts_with('/'))
            .ok_or_else(|| CopyError::BadTo { to: op.to.clone() })?;
        let to_dir = to.is_empty() || to.ends_with('/');
        let to_rel = confined(to.trim_start_matches('/'))?;

        // The literal directory before the first glob segment; matches keep their path below it.
        let segments: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
        let literal_len = segments.iter().take_while(|s| !has_glob(s)).count();
        let is_glob = literal_len < segments.len();
        let excludes = build_globset(&op.exclude, from)?;
        // Source paths resolve inside the source: a committed link (`etc -> /etc`) is refused.
        let source = DiskFs::confined(base).map_err(|e| CopyError::Io {
            path: base.clone(),
            message: e.to_string(),
        })?;
        let resolve = |rel: &Path| match source.resolve(&source.root().unwrap_or(base).join(rel)) {
            Ok(r) => Ok(Some(r)),
            Err(FsError::LinkEscapes { .. } | FsError::OutsideRoot { .. }) => {
                Err(CopyError::Escapes { path: from.into() })
            }
            Err(_) => Ok(None),
        };

        if !is_glob {
            let rel = confined(pattern)?;
            let resolved = resolve(&rel)?;
            let node = resolved.as_ref().map(|r| &r.node);
            if let (Some(Node::Dir), Some(r)) = (node, &resolved) {
                let real = r.path.clone();
                // A directory copied into a directory keeps its name, like `cp -r dir dest/`.
                let name = rel.file_name().map(PathBuf::from).unwrap_or_default();
                let dest = if to_dir {
                    to_rel.join(name)
                } else {
                    to_rel.clone()
                };
                let n = self.copy_tree(&real, &dest, &|_| true, &excludes)?;
                if n == 0 {
                    return Err(CopyError::NoMatch { from: from.into() });
                }
            } else if let (Some(Node::File(_)), Some(r)) = (node, &resolved) {
                let dest = if to_dir {
                    to_rel.join(rel.file_name().map(PathBuf::from).unwrap_or_default())
                } else {
                    to_rel.clone()
                };
                self.insert(dest, r.path.clone());
            } else {
                return Err(CopyError::NoMatch { from: from.into() });
            }
            return Ok(());
        }

        let literal: PathBuf = confined(&segments[..literal_len].join("/"))?;
        let glob_rest = segments[literal_len..].join("/");
        let matcher = globset::GlobBuilder::new(&glob_rest)
            .literal_separator(true)
            .build()
            .map_err(|e| CopyError::BadGlob {
                from: from.into(),
                message: e.to_string(),
            })?
            .compile_matcher();
        let literal_dir = match resolve(&literal)? {
            Some(r) if r.node == Node::Dir => r.path,
            _ => return Err(CopyError::NoMatch { from: from.into() }),
        };
        let dest = to_rel;
        // The walk below never follows links (`file_type` is the entry's own): links are not copied.
        let n = self.copy_tree(
            &literal_dir,
            &dest,
            &|rel: &Path| matcher.is_match(rel),
            &excludes,
        )?;
        if n == 0 {
            return Err(CopyError::NoMatch { from: from.into() });
        }
        Ok(())
    }

    /// Copies the files below `src` that `keep` accepts (paths relative to `src`) into `dest`.
    fn copy_tree(
        &mut self,
        src: &Path,
        dest: &Path,
        keep: &dyn Fn(&Path) -> bool,
        excludes: &globset::GlobSet,
    ) -> Result<usize, CopyError> {
        let mut count = 0;
        let mut stack = vec![src.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|e| CopyError::Io {
                path: dir.clone(),
                message: e.to_string(),
            })?;
            for entry in entries {
                let entry = entry.map_err(|e| CopyError::Io {
                    path: dir.clone(),
                    message: e.to_string(),
                })?;
                let path = entry.path();
                let ft = entry.file_type().map_err(|e| CopyError::Io {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                let rel = path
                    .strip_prefix(src)
                    .expect("walked below src")
                    .to_path_buf();
                if rel.components().any(|c| c.as_os_str() == ".git") {
                    continue;
                }
                if ft.is_dir() {
                    stack.push(path);
                } else if ft.is_file() && keep(&rel) && !excludes.is_match(&rel) {
                    self.insert(dest.join(&rel), path);
                    count += 1;
                }
            }
        }
        Ok(count)
    }

    fn insert(&mut self, virtual_rel: PathBuf, real: PathBuf) {
        let full = Self::root().join(&virtual_rel);
        let mut parent = full.parent();
        while let Some(p) = parent {
            if !self.dirs.insert(p.to_path_buf()) {
                break;
            }
            parent = p.parent();
        }
        self.files.insert(full, real);
    }

    /// The real file behind a virtual path, for messages.
    pub fn real_path(&self, p: &Path) -> Option<&Path> {
        self.files.get(p).map(PathBuf::as_path)
    }

    pub fn file_count(&self) -> usize {
        self.files.len()
    }
}

fn has_glob(segment: &str) -> bool {
    segment.contains(['*', '?', '[', '{'])
}

fn build_globset(patterns: &[String], from: &str) -> Result<globset::GlobSet, CopyError> {
    let mut b = globset::GlobSetBuilder::new();
    for p in patterns {
        let p = p
            .split_once('/')
            .filter(|_| p.starts_with('@'))
            .map_or(p.as_str(), |(_, r)| r);
        b.add(globset::Glob::new(p).map_err(|e| CopyError::BadGlob {
            from: from.into(),
            message: e.to_string(),
        })?);
    }
    b.build().map_err(|e| CopyError::BadGlob {
        from: from.into(),
        message: e.to_string(),
    })
}

/// A relative path that stays inside its root (no `..`, no absolute parts).
fn confined(p: &str) -> Result<PathBuf, CopyError> {
    let mut out = PathBuf::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            _ => return Err(CopyError::Escapes { path: p.into() }),
        }
    }
    Ok(out)
}

impl FileSystem for ArtifactFs {
    fn read(&self, p: &Path) -> io::Result<Vec<u8>> {
        match self.files.get(p) {
            // Resolved inside its source when copied; read as every repository file is read
            // (regular files only, size-bounded).
            Some(real) => DiskFs::new().read(real),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is not in the artifact", p.display()),
            )),
        }
    }
    fn is_dir(&self, p: &Path) -> bool {
        self.dirs.contains(p)
    }
    fn exists(&self, p: &Path) -> bool {
        self.files.contains_key(p) || self.dirs.contains(p)
    }
    fn read_dir(&self, p: &Path) -> io::Result<Vec<PathBuf>> {
        if !self.dirs.contains(p) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is not a directory of the artifact", p.display()),
            ));
        }
        let children: BTreeSet<PathBuf> = self
            .files
            .keys()
            .chain(self.dirs.iter())
            .filter(|c| c.parent() == Some(p))
            .cloned()
            .collect();
        Ok(children.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(from: &str, to: &str) -> CopyOperation {
        CopyOperation {
            from: from.into(),
            to: to.into(),
            exclude: vec![],
        }
    }

    fn repo() -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tempdir");
        for f in [
            "apps/base/a.yaml",
            "apps/base/sub/b.yaml",
            "apps/staging/kustomization.yaml",
            "apps/staging/x.txt",
            "infra/one.yaml",
        ] {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, f).unwrap();
        }
        d
    }

    #[test]
    fn copies_globs_dirs_and_files() {
        let d = repo();
        let sources = BTreeMap::from([("mono".to_string(), d.path().to_path_buf())]);
        let fs = ArtifactFs::from_copies(
            &[
                op("@mono/apps/base/**", "@artifact/base/"),
                op("@mono/apps/staging/*.yaml", "@artifact/staging/"),
                op("@mono/infra/one.yaml", "@artifact/renamed.yaml"),
                op("@mono/infra", "@artifact/"),
            ],
            &sources,
        )
        .expect("copies");
        let root = ArtifactFs::root();
        assert_eq!(
            fs.read(&root.join("base/a.yaml")).unwrap(),
            b"apps/base/a.yaml"
        );
        assert_eq!(
            fs.read(&root.join("base/sub/b.yaml")).unwrap(),
            b"apps/base/sub/b.yaml"
        );
        assert!(fs.exists(&root.join("staging/kustomization.yaml")));
        assert!(!fs.exists(&root.join("staging/x.txt")));
        assert_eq!(
            fs.read(&root.join("renamed.yaml")).unwrap(),
            b"infra/one.yaml"
        );
        assert!(fs.exists(&root.join("infra/one.yaml")));
        assert!(fs.is_dir(&root.join("base/sub")));
        assert_eq!(
            fs.read_dir(&root).unwrap(),
            vec![
                root.join("base"),
                root.join("infra"),
                root.join("renamed.yaml"),
                root.join("staging")
            ]
        );
    }

    #[test]
    fn refuses_escapes_and_unknown_aliases() {
        let d = repo();
        let sources = BTreeMap::from([("mono".to_string(), d.path().to_path_buf())]);
        assert!(matches!(
            ArtifactFs::from_copies(&[op("@mono/../etc/passwd", "@artifact/")], &sources),
            Err(CopyError::Escapes { .. })
        ));
        assert!(matches!(
            ArtifactFs::from_copies(&[op("@mono/apps/**", "@artifact/../x/")], &sources),
            Err(CopyError::Escapes { .. })
        ));
        assert!(matches!(
            ArtifactFs::from_copies(&[op("@other/apps/**", "@artifact/")], &sources),
            Err(CopyError::UnknownAlias { .. })
        ));
        assert!(matches!(
            ArtifactFs::from_copies(&[op("@mono/nothing/**", "@artifact/")], &sources),
            Err(CopyError::NoMatch { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn r14_copies_never_follow_links_out_of_the_source() {
        use std::os::unix::fs::symlink;
        let d = repo();
        symlink("/etc", d.path().join("etc")).unwrap();
        symlink("/proc/self", d.path().join("self")).unwrap();
        symlink("/etc/passwd", d.path().join("apps/base/passwd.yaml")).unwrap();
        symlink("/etc", d.path().join("apps/base/etc")).unwrap();
        symlink("../apps/base", d.path().join("infra/base")).unwrap();
        let sources = BTreeMap::from([("mono".to_string(), d.path().to_path_buf())]);
        for from in [
            "@mono/etc/passwd",
            "@mono/etc/**",
            "@mono/etc",
            "@mono/self/environ",
            "@mono/self/**",
            "@mono/apps/base/passwd.yaml",
            "@mono/apps/base/etc/**",
        ] {
            let got = ArtifactFs::from_copies(&[op(from, "@artifact/x/")], &sources);
            assert!(
                matches!(got, Err(CopyError::Escapes { .. })),
                "{from}: {got:?}"
            );
        }
        // A tree walk copies regular files only: the links inside are left out, never read.
        let fs = ArtifactFs::from_copies(&[op("@mono/apps/base/**", "@artifact/")], &sources)
            .expect("copies");
        let root = ArtifactFs::root();
        assert!(fs.exists(&root.join("a.yaml")));
        assert!(!fs.exists(&root.join("passwd.yaml")));
        assert!(!fs.exists(&root.join("etc")));
        // A link that stays inside the source is followed.
        let fs = ArtifactFs::from_copies(&[op("@mono/infra/base/**", "@artifact/")], &sources)
            .expect("copies");
        assert_eq!(fs.read(&root.join("a.yaml")).unwrap(), b"apps/base/a.yaml");
    }
}
