//! The content-addressed artifact store: `sha256/<hex>.tar.gz` files written atomically, a per-object
//! history of recent artifacts, and garbage collection of what no history keeps.

use std::{
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
    sync::Mutex,
};

use sha2::{Digest as _, Sha256};
pub use weir_api::Digest;

/// A stored artifact.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Artifact {
    /// `sha256:<hex>` of the archive bytes.
    pub digest: Digest,
    /// Archive size in bytes.
    pub size: u64,
    /// Where it lives.
    pub path: PathBuf,
}

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The archive grew past the limit; nothing was stored.
    #[error("artifact exceeds the size limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// A filesystem operation failed.
    #[error("artifact store at {path}: {op} failed")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

impl Error {
    fn io(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Error + use<> {
        let path = path.to_owned();
        move |source| Error::Io { op, path, source }
    }
}

/// What garbage collection removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Artifacts deleted.
    pub removed: Vec<String>,
    /// Bytes freed.
    pub freed: u64,
}

/// Options for an [`ArtifactStore`].
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The largest archive accepted, in bytes.
    pub max_artifact_size: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_artifact_size: 256 * 1024 * 1024,
        }
    }
}

/// Artifacts on local disk, named by digest.
#[derive(Debug)]
pub struct ArtifactStore {
    root: PathBuf,
    options: Options,
    /// Serialises history updates against garbage collection.
    lock: Mutex<()>,
}

impl ArtifactStore {
    /// Opens (creating) a store under `root`.
    pub fn open(root: impl Into<PathBuf>, options: Options) -> Result<Self, Error> {
        let root = root.into();
        for dir in ["sha256", "tmp", "objects"] {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(Error::io("create directory", &path))?;
        }
        Ok(ArtifactStore {
            root,
            options,
            lock: Mutex::new(()),
        })
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A scratch directory inside the store (same filesystem), removed when dropped.
    pub fn scratch_dir(&self) -> Result<tempfile::TempDir, Error> {
        let tmp = self.root.join("tmp");
        tempfile::Builder::new()
            .prefix("work-")
            .tempdir_in(&tmp)
            .map_err(Error::io("create scratch directory", &tmp))
    }

    /// Where the artifact with `digest` lives (whether or not it exists).
    pub fn path_of(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("sha256")
            .join(format!("{}.tar.gz", digest.hex))
    }

    /// Starts writing an artifact: a temp file in the store, hashed and size-checked as it is written.
    pub fn begin(&self) -> Result<PendingArtifact, Error> {
        let tmp = self.root.join("tmp");
        let file = tempfile::Builder::new()
            .prefix("artifact-")
            .suffix(".tmp")
            .tempfile_in(&tmp)
            .map_err(Error::io("create temp file", &tmp))?;
        Ok(PendingArtifact {
            file: io::BufWriter::with_capacity(128 * 1024, file),
            hasher: Sha256::new(),
            size: 0,
            limit: self.options.max_artifact_size,
            too_large: false,
        })
    }

    /// Finishes `pending`: fsync, rename to its digest name, fsync the directory. A crash at any point
    /// leaves either no artifact or a whole one; an existing identical artifact is kept.
    pub fn commit(&self, pending: PendingArtifact) -> Result<Artifact, Error> {
        if pending.too_large {
            return Err(Error::TooLarge {
                limit: pending.limit,
            });
        }
        let PendingArtifact {
            file, hasher, size, ..
        } = pending;
        let tmp_dir = self.root.join("tmp");
        let file = file
            .into_inner()
            .map_err(|e| Error::io("write", &tmp_dir)(e.into_error()))?;
        file.as_file()
            .sync_all()
            .map_err(Error::io("fsync", &tmp_dir))?;
        let digest = Digest::sha256(format!("{:x}", hasher.finalize()));
        let path = self.path_of(&digest);
        if path.exists() {
            return Ok(Artifact { digest, size, path });
        }
        file.persist(&path)
            .map_err(|e| Error::io("rename", &path)(e.error))?;
        let dir = self.root.join("sha256");
        fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(Error::io("fsync directory", &dir))?;
        Ok(Artifact { digest, size, path })
    }

    /// Records that `object` (e.g. `GitRepository/ns/name`) now has `artifact`, keeping its `keep` most
    /// recent artifacts in its history.
    pub fn record(&self, object: &str, artifact: &Artifact, keep: usize) -> Result<(), Error> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.history_path(object);
        let mut digests = read_history(&path);
        let digest = artifact.digest.to_string();
        digests.retain(|d| d != &digest);
        digests.push(digest);
        let excess = digests.len().saturating_sub(keep.max(1));
        digests.drain(..excess);
        let tmp = tempfile::NamedTempFile::new_in(self.root.join("objects"))
            .map_err(Error::io("create temp file", &path))?;
        let mut w = io::BufWriter::new(tmp);
        for d in &digests {
            writeln!(w, "{d}").map_err(Error::io("write history", &path))?;
        }
        let tmp = w
            .into_inner()
            .map_err(|e| Error::io("write history", &path)(e.into_error()))?;
        tmp.persist(&path)
            .map_err(|e| Error::io("rename history", &path)(e.error))?;
        Ok(())
    }

    /// The artifacts `object` keeps, oldest first.
    pub fn history(&self, object: &str) -> Vec<String> {
        read_history(&self.history_path(object))
    }

    fn history_path(&self, object: &str) -> PathBuf {
        let name: String = object
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let tag = format!("{:x}", Sha256::digest(object.as_bytes()));
        self.root
            .join("objects")
            .join(format!("{name}-{}", &tag[..12]))
    }

    /// Deletes artifacts no object's history keeps, and leftover temp files.
    pub fn gc(&self) -> Result<GcReport, Error> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let objects = self.root.join("objects");
        let mut kept = std::collections::HashSet::new();
        for entry in fs::read_dir(&objects).map_err(Error::io("list", &objects))? {
            let entry = entry.map_err(Error::io("list", &objects))?;
            kept.extend(read_history(&entry.path()));
        }
        let mut report = GcReport::default();
        let dir = self.root.join("sha256");
        for entry in fs::read_dir(&dir).map_err(Error::io("list", &dir))? {
            let entry = entry.map_err(Error::io("list", &dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(hex) = name.strip_suffix(".tar.gz") else {
                continue;
            };
            let digest = format!("sha256:{hex}");
            if kept.contains(&digest) {
                continue;
            }
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            fs::remove_file(entry.path()).map_err(Error::io("remove", &entry.path()))?;
            report.removed.push(digest);
            report.freed += size;
        }
        report.removed.sort();
        // Temp files of writers that crashed; live writers finish well within an hour.
        let tmp = self.root.join("tmp");
        for entry in fs::read_dir(&tmp)
            .map_err(Error::io("list", &tmp))?
            .flatten()
        {
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(3600));
            if stale {
                let path = entry.path();
                let _ = if path.is_dir() {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
            }
        }
        Ok(report)
    }
}

fn read_history(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .map(|s| {
            s.lines()
                .filter(|l| l.starts_with("sha256:"))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// An artifact being written; dropping it deletes the temp file.
pub struct PendingArtifact {
    file: io::BufWriter<tempfile::NamedTempFile>,
    hasher: Sha256,
    size: u64,
    limit: u64,
    too_large: bool,
}

impl Write for PendingArtifact {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.size + buf.len() as u64 > self.limit {
            self.too_large = true;
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!("artifact exceeds the size limit of {} bytes", self.limit),
            ));
        }
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl PendingArtifact {
    /// Whether a write was refused for size.
    pub fn is_too_large(&self) -> bool {
        self.too_large
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(store: &ArtifactStore, content: &[u8]) -> Result<Artifact, Error> {
        let mut p = store.begin()?;
        p.write_all(content)
            .map_err(Error::io("write", Path::new("x")))?;
        store.commit(p)
    }

    #[test]
    fn commit_should_name_by_digest_and_leave_no_temp_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ArtifactStore::open(dir.path(), Options::default()).expect("open");
        let a = put(&store, b"hello").expect("stored");
        assert_eq!(
            a.digest.to_string(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(fs::read(&a.path).expect("exists"), b"hello");
        assert_eq!(
            fs::read_dir(dir.path().join("tmp")).expect("tmp").count(),
            0
        );
    }

    #[test]
    fn oversized_artifact_should_fail_and_leave_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ArtifactStore::open(
            dir.path(),
            Options {
                max_artifact_size: 4,
            },
        )
        .expect("open");
        let mut p = store.begin().expect("begin");
        assert!(p.write_all(b"too big").is_err());
        let err = store.commit(p).expect_err("too large");
        assert_eq!(
            err.to_string(),
            "artifact exceeds the size limit of 4 bytes"
        );
        assert_eq!(
            fs::read_dir(dir.path().join("tmp")).expect("tmp").count(),
            0
        );
        assert_eq!(
            fs::read_dir(dir.path().join("sha256"))
                .expect("dir")
                .count(),
            0
        );
    }

    #[test]
    fn gc_should_keep_the_most_recent_per_object() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ArtifactStore::open(dir.path(), Options::default()).expect("open");
        let arts: Vec<Artifact> = (0..4)
            .map(|i| put(&store, format!("v{i}").as_bytes()).expect("stored"))
            .collect();
        for a in &arts {
            store.record("GitRepository/ns/a", a, 2).expect("recorded");
        }
        store
            .record("GitRepository/ns/b", &arts[0], 2)
            .expect("recorded");
        let report = store.gc().expect("gc");
        assert_eq!(report.removed, vec![arts[1].digest.to_string()]);
        assert!(arts[0].path.exists() && arts[2].path.exists() && arts[3].path.exists());
        assert_eq!(
            store.history("GitRepository/ns/a"),
            vec![arts[2].digest.to_string(), arts[3].digest.to_string()]
        );
    }
}
