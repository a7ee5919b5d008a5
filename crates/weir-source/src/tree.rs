//! A fetched commit's tree, walked in Git's order without a checkout.

use std::io;

/// One entry of a tree walk; paths are relative to the root, `/`-separated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry<'a> {
    /// A directory; answering [`Visit::Skip`] prunes it.
    Dir(&'a str),
    /// A regular file.
    File {
        /// Its path.
        path: &'a str,
        /// Whether Git records it as executable.
        executable: bool,
    },
    /// A symbolic link; its content is the target.
    Symlink(&'a str),
    /// A submodule (gitlink); never has content.
    Submodule(&'a str),
}

/// Whether to go into (or load) an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visit {
    /// Descend into the directory, or keep the file.
    Enter,
    /// Prune.
    Skip,
}

/// A file larger than the blob size limit, carried inside the `io::Error` of a walk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path} is {size} bytes, over the blob size limit of {limit} bytes")]
pub struct BlobTooLarge {
    /// The file.
    pub path: String,
    /// Its size.
    pub size: u64,
    /// The limit.
    pub limit: u64,
}

/// Loads an entry's content on demand, so skipped files are never read.
pub type Load<'a> = &'a mut dyn FnMut() -> io::Result<Vec<u8>>;

/// A commit's tree, ready to walk.
pub trait FetchedTree {
    /// The commit, 40 hex digits.
    fn commit(&self) -> &str;
    /// Calls `visit` for every entry in Git's order; directories before their content.
    fn walk(
        &self,
        visit: &mut dyn FnMut(Entry<'_>, Load<'_>) -> io::Result<Visit>,
    ) -> io::Result<()>;
}

/// A directory on disk walked as a tree (an extracted OCI layer, the directory `weir push artifact`
/// packs): entries in byte order of their names, symbolic links reported as such (never followed),
/// files over `max_blob_size` failing the walk with [`BlobTooLarge`].
#[derive(Clone, Debug)]
pub struct DirTree {
    /// The directory.
    pub root: std::path::PathBuf,
    /// What [`FetchedTree::commit`] reports.
    pub commit: String,
    /// The largest file read.
    pub max_blob_size: u64,
}

impl DirTree {
    fn walk_dir(
        &self,
        dir: &std::path::Path,
        prefix: &str,
        visit: &mut dyn FnMut(Entry<'_>, Load<'_>) -> io::Result<Visit>,
    ) -> io::Result<()> {
        let mut entries: Vec<(String, std::fs::FileType, std::path::PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                return Err(io::Error::other(format!(
                    "{} has a file name that is not UTF-8",
                    dir.display()
                )));
            };
            entries.push((name, entry.file_type()?, entry.path()));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, kind, path) in entries {
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if kind.is_dir() {
                let mut none = || Ok(Vec::new());
                if visit(Entry::Dir(&rel), &mut none)? == Visit::Enter {
                    self.walk_dir(&path, &rel, visit)?;
                }
            } else if kind.is_symlink() {
                let mut target = || {
                    std::fs::read_link(&path).map(|t| t.to_string_lossy().into_owned().into_bytes())
                };
                visit(Entry::Symlink(&rel), &mut target)?;
            } else if kind.is_file() {
                let meta = std::fs::metadata(&path)?;
                #[cfg(unix)]
                let executable =
                    std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0;
                #[cfg(not(unix))]
                let executable = false;
                let limit = self.max_blob_size;
                let shown = rel.clone();
                let mut load = || {
                    if meta.len() > limit {
                        return Err(io::Error::other(BlobTooLarge {
                            path: shown.clone(),
                            size: meta.len(),
                            limit,
                        }));
                    }
                    std::fs::read(&path)
                };
                visit(
                    Entry::File {
                        path: &rel,
                        executable,
                    },
                    &mut load,
                )?;
            }
            // Sockets, FIFOs and devices are never archived.
        }
        Ok(())
    }
}

impl FetchedTree for DirTree {
    fn commit(&self) -> &str {
        &self.commit
    }

    fn walk(
        &self,
        visit: &mut dyn FnMut(Entry<'_>, Load<'_>) -> io::Result<Visit>,
    ) -> io::Result<()> {
        self.walk_dir(&self.root, "", visit)
    }
}

/// An in-memory tree: tests and the simulation build one instead of fetching.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    /// The commit to report.
    pub commit: String,
    /// `(path, content)`, files only; directories are implied.
    pub files: Vec<(String, Vec<u8>)>,
}

impl FetchedTree for MemoryTree {
    fn commit(&self) -> &str {
        &self.commit
    }

    fn walk(
        &self,
        visit: &mut dyn FnMut(Entry<'_>, Load<'_>) -> io::Result<Visit>,
    ) -> io::Result<()> {
        let mut files: Vec<&(String, Vec<u8>)> = self.files.iter().collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        let mut skipped: Vec<String> = Vec::new();
        let mut entered: Vec<String> = Vec::new();
        'files: for (path, content) in files {
            let mut dir = String::new();
            for part in path
                .split('/')
                .collect::<Vec<_>>()
                .split_last()
                .map(|(_, d)| d.to_vec())
                .unwrap_or_default()
            {
                if !dir.is_empty() {
                    dir.push('/');
                }
                dir.push_str(part);
                if skipped.iter().any(|s| s == &dir) {
                    continue 'files;
                }
                if !entered.iter().any(|s| s == &dir) {
                    let mut none = || Ok(Vec::new());
                    if visit(Entry::Dir(&dir), &mut none)? == Visit::Skip {
                        skipped.push(dir.clone());
                        continue 'files;
                    }
                    entered.push(dir.clone());
                }
            }
            let mut load = || Ok(content.clone());
            visit(
                Entry::File {
                    path,
                    executable: false,
                },
                &mut load,
            )?;
        }
        Ok(())
    }
}
