//! The file system the engine reads through: the real disk ([`DiskFs`], confined to a root and
//! reading only regular files under a size limit), or an in-memory tree for tests and for callers
//! that already hold an artifact in memory.
//!
//! Every reader of repository or artifact content goes through this layer; docs/security.md lists
//! what it guarantees and the tests that hold it to that.

mod disk;
mod resolve;

pub use disk::DiskFs;
pub use resolve::{FsError, MAX_LINKS, Node, Resolved, SpecialKind, resolve_beneath};

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Read-only file access used by the engine. Paths are absolute (the engine joins relative paths to the
/// directory of the kustomization that names them).
pub trait FileSystem {
    /// The whole content of a file.
    fn read(&self, p: &Path) -> io::Result<Vec<u8>>;
    /// Whether `p` is a directory.
    fn is_dir(&self, p: &Path) -> bool;
    /// Whether anything exists at `p`.
    fn exists(&self, p: &Path) -> bool;
    /// The entries of a directory, full paths, sorted by name.
    fn read_dir(&self, p: &Path) -> io::Result<Vec<PathBuf>>;
    /// The path with `.`/`..` resolved and symbolic links followed; `None` when it does not exist.
    /// A file system confined to a root answers a link that leads outside it with where the link
    /// leads (without touching anything there), so the caller's load restrictor refuses it by name.
    /// The default resolves lexically (no links), which is right for file systems without links.
    fn canonicalize(&self, p: &Path) -> Option<PathBuf> {
        let c = clean(p);
        self.exists(&c).then_some(c)
    }
}

/// An in-memory tree of files; directories exist implicitly as parents of files (or when added).
#[derive(Debug, Default, Clone)]
pub struct MemFs {
    files: BTreeMap<PathBuf, Vec<u8>>,
    dirs: BTreeMap<PathBuf, ()>,
}

impl MemFs {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file; `path` should be absolute.
    pub fn add(&mut self, path: impl AsRef<Path>, content: impl Into<Vec<u8>>) -> &mut Self {
        let path = clean(path.as_ref());
        let mut parent = path.parent();
        while let Some(p) = parent {
            self.dirs.insert(p.to_path_buf(), ());
            parent = p.parent();
        }
        self.files.insert(path, content.into());
        self
    }

    /// Adds an empty directory.
    pub fn add_dir(&mut self, path: impl AsRef<Path>) -> &mut Self {
        let path = clean(path.as_ref());
        let mut cur = Some(path.as_path());
        while let Some(p) = cur {
            self.dirs.insert(p.to_path_buf(), ());
            cur = p.parent();
        }
        self
    }
}

impl FileSystem for MemFs {
    fn read(&self, p: &Path) -> io::Result<Vec<u8>> {
        let p = clean(p);
        match self.files.get(&p) {
            Some(c) => Ok(c.clone()),
            None if self.dirs.contains_key(&p) => Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory",
            )),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no such file or directory",
            )),
        }
    }
    fn is_dir(&self, p: &Path) -> bool {
        self.dirs.contains_key(&clean(p))
    }
    fn exists(&self, p: &Path) -> bool {
        let p = clean(p);
        self.files.contains_key(&p) || self.dirs.contains_key(&p)
    }
    fn read_dir(&self, p: &Path) -> io::Result<Vec<PathBuf>> {
        let p = clean(p);
        if !self.dirs.contains_key(&p) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such directory"));
        }
        let mut out: Vec<PathBuf> = self
            .files
            .keys()
            .chain(self.dirs.keys())
            .filter(|k| k.parent() == Some(p.as_path()))
            .cloned()
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// Resolves `.` and `..` lexically (a `..` above the start is kept, so the result stays outside any
/// root it left).
pub(crate) fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memfs_lists_and_reads() {
        let mut fs = MemFs::new();
        fs.add("/a/b/c.yaml", "x").add("/a/d.yaml", "y");
        assert!(fs.is_dir(Path::new("/a/b")));
        assert_eq!(fs.read(Path::new("/a/b/../d.yaml")).unwrap(), b"y");
        assert_eq!(
            fs.read_dir(Path::new("/a")).unwrap(),
            vec![PathBuf::from("/a/b"), PathBuf::from("/a/d.yaml")]
        );
        assert!(fs.read(Path::new("/a/b")).is_err());
    }

    #[test]
    fn clean_resolves_dots() {
        assert_eq!(clean(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
    }
}
