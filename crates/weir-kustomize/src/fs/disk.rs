//! The real file system, read defensively: repository content is untrusted (docs/security.md).
//!
//! - Confined to a root ([`DiskFs::confined`]): every symbolic link on a path is checked to stay in
//!   or below the root before anything it points at is looked at.
//! - Only regular files are read and only directories are listed: a FIFO, socket or device is
//!   refused from its `lstat` before it is opened, and files are opened non-blocking and without
//!   following a final link, then checked again on the open descriptor (no race turns a file into a
//!   FIFO or a device in between).
//! - Reads are bounded: a file larger than the per-file limit is refused from its size, and a file
//!   that grows while read stops at the limit.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::resolve::{self, FsError, Node, Resolved};
use super::{FileSystem, clean};

/// The real file system (`std::fs`), read with the rules above.
#[derive(Debug, Clone)]
pub struct DiskFs {
    /// Canonical root everything must resolve into; `None` reads anywhere (a local directory given
    /// by the user, with kustomize's own load restrictor on top).
    root: Option<PathBuf>,
    max_file_size: u64,
}

impl Default for DiskFs {
    fn default() -> Self {
        DiskFs::new()
    }
}

impl DiskFs {
    /// The default per-file limit: far above any real manifest (etcd stores objects of at most
    /// 1.5 MiB; the largest CRD bundles are a few MiB), far below what hurts the process.
    pub const DEFAULT_MAX_FILE_SIZE: u64 = 64 << 20;

    /// Reads anywhere on disk (links followed as the OS does), still only regular files and
    /// directories, and each file under the size limit.
    pub fn new() -> DiskFs {
        DiskFs {
            root: None,
            max_file_size: Self::DEFAULT_MAX_FILE_SIZE,
        }
    }

    /// Reads only in or below `root`: a path or link leading outside it is refused. `root` is
    /// trusted (it comes from weir's own flags or work directory) and is canonicalised here.
    pub fn confined(root: &Path) -> io::Result<DiskFs> {
        let root = std::fs::canonicalize(root)?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                FsError::NotADirectory { component: root },
            ));
        }
        Ok(DiskFs {
            root: Some(root),
            max_file_size: Self::DEFAULT_MAX_FILE_SIZE,
        })
    }

    /// Sets the per-file size limit in bytes.
    #[must_use]
    pub fn with_max_file_size(mut self, bytes: u64) -> DiskFs {
        self.max_file_size = bytes;
        self
    }

    /// The canonical root, when confined.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// The per-file size limit in bytes.
    pub fn max_file_size(&self) -> u64 {
        self.max_file_size
    }

    /// Resolves `p` to a real path and what it names. Confined: links checked step by step
    /// ([`resolve::resolve_beneath`]); otherwise the OS resolves, and the result is `stat`ed.
    pub fn resolve(&self, p: &Path) -> Result<Resolved, FsError> {
        match &self.root {
            Some(root) => resolve::resolve_beneath(root, p, &mut resolve::disk_lookup),
            None => {
                let path = std::fs::canonicalize(p).map_err(map_io)?;
                let node = resolve::disk_lookup(&path).map_err(map_io)?;
                Ok(Resolved { path, node })
            }
        }
    }

    /// Opens a regular file for reading, after its type was checked; returns it with its size.
    /// Never opens a FIFO, socket or device, and never blocks on one.
    pub fn open_file(&self, p: &Path) -> Result<(File, u64), FsError> {
        let resolved = self.resolve(p)?;
        let size = match resolved.node {
            Node::File(size) => size,
            Node::Dir => return Err(FsError::IsADirectory),
            Node::Special(kind) => return Err(FsError::Special { kind }),
            // Only when the path was swapped for a link mid-resolution: refused like a special file.
            Node::Link(_) => {
                return Err(FsError::Special {
                    kind: resolve::SpecialKind::Unknown,
                });
            }
        };
        if size > self.max_file_size {
            return Err(FsError::TooLarge {
                size: Some(size),
                limit: self.max_file_size,
            });
        }
        let file = open_no_follow(&resolved.path).map_err(map_io)?;
        // Checked again on the descriptor: the path may have been swapped since the lstat.
        let meta = file.metadata().map_err(map_io)?;
        if !meta.is_file() {
            return Err(FsError::Special {
                kind: resolve::special_kind(&meta.file_type()),
            });
        }
        if meta.len() > self.max_file_size {
            return Err(FsError::TooLarge {
                size: Some(meta.len()),
                limit: self.max_file_size,
            });
        }
        Ok((file, meta.len()))
    }

    /// The whole content of a regular file, at most the size limit.
    pub fn read_bounded(&self, p: &Path) -> Result<Vec<u8>, FsError> {
        let (file, size) = self.open_file(p)?;
        let limit = self.max_file_size;
        let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.take(limit.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(map_io)?;
        if out.len() as u64 > limit {
            return Err(FsError::TooLarge { size: None, limit });
        }
        Ok(out)
    }
}

fn map_io(e: io::Error) -> FsError {
    match e.kind() {
        io::ErrorKind::NotFound => FsError::NotFound,
        _ => FsError::Io(e),
    }
}

/// Opens without following a final link and without blocking (a FIFO opened for reading would wait
/// for a writer).
fn open_no_follow(path: &Path) -> io::Result<File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    opts.open(path)
}

impl FileSystem for DiskFs {
    fn read(&self, p: &Path) -> io::Result<Vec<u8>> {
        self.read_bounded(p).map_err(io::Error::from)
    }
    fn is_dir(&self, p: &Path) -> bool {
        matches!(
            self.resolve(p),
            Ok(Resolved {
                node: Node::Dir,
                ..
            })
        )
    }
    fn exists(&self, p: &Path) -> bool {
        match self.resolve(p) {
            Ok(_) => true,
            // A link is there; reading it is refused with a clear error.
            Err(FsError::LinkEscapes { .. }) => self.root.is_some(),
            Err(_) => false,
        }
    }
    fn read_dir(&self, p: &Path) -> io::Result<Vec<PathBuf>> {
        let resolved = self.resolve(p).map_err(io::Error::from)?;
        match resolved.node {
            Node::Dir => {}
            Node::Special(kind) => return Err(FsError::Special { kind }.into()),
            _ => {
                return Err(FsError::NotADirectory {
                    component: clean(p),
                }
                .into());
            }
        }
        // Children are named under the path asked for (links in it kept), as `std::fs::read_dir` does.
        let base = clean(p);
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&resolved.path)? {
            out.push(base.join(entry?.file_name()));
        }
        out.sort();
        Ok(out)
    }
    fn canonicalize(&self, p: &Path) -> Option<PathBuf> {
        match self.resolve(p) {
            Ok(r) => Some(r.path),
            // Where the link leads, so the caller's restrictor names it; nothing there was touched.
            Err(FsError::LinkEscapes { target, .. }) => Some(target),
            Err(FsError::OutsideRoot { .. }) => Some(clean(p)),
            Err(_) => None,
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn write(p: &Path, content: &str) {
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, content).expect("write");
    }

    fn mkfifo(p: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(p)
            .status()
            .expect("mkfifo runs");
        assert!(status.success());
    }

    #[test]
    fn confined_reads_follow_links_inside_and_refuse_links_outside() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("root");
        write(&root.join("a/f.yaml"), "inside");
        write(&tmp.path().join("secret.yaml"), "password: hunter2");
        symlink("a", root.join("l")).expect("link");
        symlink(tmp.path().join("secret.yaml"), root.join("out.yaml")).expect("link");
        symlink("/etc", root.join("etc")).expect("link");
        let fs = DiskFs::confined(&root).expect("root");
        let root = fs.root().expect("confined").to_path_buf();
        assert_eq!(fs.read(&root.join("l/f.yaml")).expect("read"), b"inside");
        for escaping in ["out.yaml", "etc/passwd", "etc"] {
            let err = fs.read(&root.join(escaping)).expect_err(escaping);
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{escaping}");
            let text = err.to_string();
            assert!(text.contains("outside the root"), "{text}");
            assert!(!text.contains("hunter2"), "{text}");
            assert!(!fs.is_dir(&root.join(escaping)), "{escaping}");
            // The link exists (so a kustomization file behind it is found, then refused) ...
            assert!(fs.exists(&root.join(escaping)), "{escaping}");
            // ... and canonicalises to where it leads, which the loader refuses.
            let canon = fs.canonicalize(&root.join(escaping)).expect(escaping);
            assert!(!canon.starts_with(&root), "{}", canon.display());
        }
        assert!(fs.read_dir(&root.join("etc")).is_err());
    }

    #[test]
    fn special_files_are_refused_without_blocking() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().to_path_buf();
        mkfifo(&root.join("pipe.yaml"));
        symlink(root.join("pipe.yaml"), root.join("to-pipe.yaml")).expect("link");
        let confined = DiskFs::confined(&root).expect("root");
        let open = DiskFs::new();
        let root = confined.root().expect("confined").to_path_buf();
        for fs in [&confined, &open] {
            for name in ["pipe.yaml", "to-pipe.yaml"] {
                let err = fs.read(&root.join(name)).expect_err(name);
                assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{name}");
                assert!(err.to_string().contains("FIFO"), "{err}");
            }
        }
        let dev = Path::new("/dev/zero");
        let err = open.read(dev).expect_err("a device is refused");
        assert!(err.to_string().contains("character device"), "{err}");
        symlink(dev, root.join("zero.yaml")).expect("link");
        let err = open
            .read(&root.join("zero.yaml"))
            .expect_err("through a link too");
        assert!(err.to_string().contains("character device"), "{err}");
    }

    #[test]
    fn files_over_the_limit_are_refused_from_their_size() {
        let tmp = tempfile::tempdir().expect("tempdir");
        write(&tmp.path().join("big.yaml"), &"x".repeat(2000));
        write(&tmp.path().join("small.yaml"), "ok");
        let fs = DiskFs::confined(tmp.path())
            .expect("root")
            .with_max_file_size(1024);
        let root = fs.root().expect("confined").to_path_buf();
        let err = fs.read(&root.join("big.yaml")).expect_err("too large");
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(
            err.to_string(),
            "the file (2.0 KiB) is larger than the limit of 1 KiB for one file"
        );
        assert_eq!(fs.read(&root.join("small.yaml")).expect("read"), b"ok");
    }

    #[test]
    fn listing_names_children_under_the_path_asked_for() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(tmp.path()).expect("canon");
        write(&root.join("a/x.yaml"), "x");
        write(&root.join("a/y.yaml"), "y");
        symlink("a", root.join("l")).expect("link");
        let fs = DiskFs::confined(&root).expect("root");
        assert_eq!(
            fs.read_dir(&root.join("l")).expect("list"),
            vec![root.join("l/x.yaml"), root.join("l/y.yaml")]
        );
        assert_eq!(fs.canonicalize(&root.join("l")), Some(root.join("a")));
        assert!(fs.read_dir(&root.join("a/x.yaml")).is_err());
    }
}
