//! Path resolution confined to a root: every symbolic link on the way is followed only when its
//! target stays in or below the root, and what the path names is reported by type, so a caller never
//! opens a FIFO or a device by accident.
//!
//! The resolver is pure: it asks a `lookup` function what each path is (`lstat`-like, links not
//! followed) and never opens anything, so it is tested against an in-memory model and against the
//! real disk alike.

use std::io;
use std::path::{Component, Path, PathBuf};

use super::clean;

/// Linux's limit on links followed in one resolution (`ELOOP`).
pub const MAX_LINKS: usize = 40;

/// What a path names, without following a link at that path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A directory.
    Dir,
    /// A regular file of this many bytes.
    File(u64),
    /// A symbolic link with this target (as stored in the link).
    Link(PathBuf),
    /// Anything else: FIFO, socket, character or block device.
    Special(SpecialKind),
}

/// The kinds of special file weir refuses to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecialKind {
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Unknown,
}

impl SpecialKind {
    fn as_str(self) -> &'static str {
        match self {
            SpecialKind::Fifo => "a FIFO (named pipe)",
            SpecialKind::Socket => "a socket",
            SpecialKind::CharDevice => "a character device",
            SpecialKind::BlockDevice => "a block device",
            SpecialKind::Unknown => "not a regular file or directory",
        }
    }
}

impl std::fmt::Display for SpecialKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a path cannot be read. The messages never name the path itself (the caller does, once) and
/// never quote file content; they name the link or root involved.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// The path itself (after `.`/`..` are resolved) is not in or below the root.
    #[error("not in or below the root '{}'", root.display())]
    OutsideRoot { root: PathBuf },
    /// A symbolic link on the way points outside the root; nothing outside was touched.
    #[error(
        "the symbolic link '{}' points to '{}', outside the root '{}'",
        link.display(),
        target.display(),
        root.display()
    )]
    LinkEscapes {
        link: PathBuf,
        /// Where the link leads (lexically), joined with the rest of the path being resolved.
        target: PathBuf,
        root: PathBuf,
    },
    /// More than [`MAX_LINKS`] links were followed (a loop).
    #[error("more than {MAX_LINKS} symbolic links followed (a loop?)")]
    TooManyLinks,
    /// The path, or a directory on the way, does not exist.
    #[error("no such file or directory")]
    NotFound,
    /// A component on the way is not a directory.
    #[error("'{}' is not a directory", component.display())]
    NotADirectory { component: PathBuf },
    /// A directory was given where a file is read.
    #[error("is a directory, a file was expected")]
    IsADirectory,
    /// A FIFO, socket or device: never opened.
    #[error("{kind}; only regular files and directories are read")]
    Special { kind: SpecialKind },
    /// Larger than the per-file limit; nothing beyond the limit was read.
    #[error("{} is larger than the limit of {} for one file", describe_size(*size), human(*limit))]
    TooLarge {
        /// The size when known before reading (`None` when the file grew while being read).
        size: Option<u64>,
        limit: u64,
    },
    /// The operating system refused (permission denied, I/O error).
    #[error(transparent)]
    Io(io::Error),
}

fn describe_size(size: Option<u64>) -> String {
    match size {
        Some(s) => format!("the file ({})", human(s)),
        None => "the file".to_string(),
    }
}

/// Bytes for people: `64 MiB`, `1.5 KiB`, `12 bytes`.
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

impl From<FsError> for io::Error {
    fn from(e: FsError) -> io::Error {
        let kind = match &e {
            FsError::NotFound => io::ErrorKind::NotFound,
            FsError::OutsideRoot { .. } | FsError::LinkEscapes { .. } => {
                io::ErrorKind::PermissionDenied
            }
            FsError::NotADirectory { .. } => io::ErrorKind::NotADirectory,
            FsError::IsADirectory => io::ErrorKind::IsADirectory,
            FsError::Special { .. } => io::ErrorKind::InvalidInput,
            FsError::TooLarge { .. } => io::ErrorKind::FileTooLarge,
            FsError::TooManyLinks => io::ErrorKind::Other,
            FsError::Io(e) => return io::Error::new(e.kind(), FsError::Io(clone_io(e))),
        };
        io::Error::new(kind, e)
    }
}

fn clone_io(e: &io::Error) -> io::Error {
    // The OS message ("Permission denied (os error 13)") names no path and no content.
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

/// The outcome of a confined resolution: the real path (no link on it, in or below the root) and
/// what it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub path: PathBuf,
    /// Never [`Node::Link`].
    pub node: Node,
}

/// Resolves `path` below `root` (which must be absolute and itself free of links, as
/// `std::fs::canonicalize` returns it). `lookup` answers what a path names without following a link
/// there; a `NotFound` error from it means the path does not exist.
///
/// Each link's target is resolved lexically against the (real) directory holding the link, and
/// must stay in or below `root`; otherwise [`FsError::LinkEscapes`] is returned and nothing under the
/// target is looked up. `..` in `path` itself is resolved lexically first, as kustomize does.
pub fn resolve_beneath(
    root: &Path,
    path: &Path,
    lookup: &mut dyn FnMut(&Path) -> io::Result<Node>,
) -> Result<Resolved, FsError> {
    let path = clean(path);
    let Ok(rest) = path.strip_prefix(root) else {
        return Err(FsError::OutsideRoot {
            root: root.to_path_buf(),
        });
    };
    // Pending components, next one last (so pushing a link's target in front is cheap).
    let mut pending: Vec<PathBuf> = normal_components(rest);
    pending.reverse();
    let mut cur = root.to_path_buf();
    let mut node = Node::Dir;
    let mut links = 0usize;
    while let Some(name) = pending.pop() {
        if node != Node::Dir {
            return Err(FsError::NotADirectory { component: cur });
        }
        let next = cur.join(&name);
        let found = match lookup(&next) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(FsError::NotFound),
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
                return Err(FsError::NotADirectory { component: cur });
            }
            Err(e) => return Err(FsError::Io(e)),
        };
        match found {
            Node::Link(target) => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(FsError::TooManyLinks);
                }
                let lexical = clean(&cur.join(&target));
                let Ok(inside) = lexical.strip_prefix(root) else {
                    let mut whole = lexical.clone();
                    for c in pending.iter().rev() {
                        whole.push(c);
                    }
                    return Err(FsError::LinkEscapes {
                        link: next,
                        target: clean(&whole),
                        root: root.to_path_buf(),
                    });
                };
                let mut again = normal_components(inside);
                again.reverse();
                pending.extend(again);
                cur = root.to_path_buf();
                node = Node::Dir;
            }
            other => {
                cur = next;
                node = other;
            }
        }
    }
    Ok(Resolved { path: cur, node })
}

/// The `Normal` components of a clean relative path (`.` and prefixes dropped; a clean path under a
/// root has no `..`).
fn normal_components(p: &Path) -> Vec<PathBuf> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(PathBuf::from(s)),
            _ => None,
        })
        .collect()
}

/// What `path` names on disk, links not followed.
pub fn disk_lookup(path: &Path) -> io::Result<Node> {
    let meta = std::fs::symlink_metadata(path)?;
    let ft = meta.file_type();
    Ok(if ft.is_symlink() {
        Node::Link(std::fs::read_link(path)?)
    } else if ft.is_dir() {
        Node::Dir
    } else if ft.is_file() {
        Node::File(meta.len())
    } else {
        Node::Special(special_kind(&ft))
    })
}

/// The kind of a file type that is neither a file, a directory nor a link.
pub fn special_kind(ft: &std::fs::FileType) -> SpecialKind {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return SpecialKind::Fifo;
        }
        if ft.is_socket() {
            return SpecialKind::Socket;
        }
        if ft.is_char_device() {
            return SpecialKind::CharDevice;
        }
        if ft.is_block_device() {
            return SpecialKind::BlockDevice;
        }
    }
    let _ = ft;
    SpecialKind::Unknown
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// An in-memory tree: path -> node.
    fn lookup_in(tree: &BTreeMap<PathBuf, Node>) -> impl FnMut(&Path) -> io::Result<Node> + '_ {
        move |p: &Path| {
            tree.get(p)
                .cloned()
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        }
    }

    fn tree(entries: &[(&str, Node)]) -> BTreeMap<PathBuf, Node> {
        entries
            .iter()
            .map(|(p, n)| (PathBuf::from(p), n.clone()))
            .collect()
    }

    fn link(t: &str) -> Node {
        Node::Link(t.into())
    }

    #[test]
    fn links_inside_the_root_are_followed() {
        let t = tree(&[
            ("/r/a", Node::Dir),
            ("/r/a/f.yaml", Node::File(3)),
            ("/r/l", link("a")),
            ("/r/a/up", link("../a/f.yaml")),
            ("/r/abs", link("/r/a")),
        ]);
        let root = Path::new("/r");
        for (q, want) in [
            ("/r/l/f.yaml", "/r/a/f.yaml"),
            ("/r/a/up", "/r/a/f.yaml"),
            ("/r/abs/f.yaml", "/r/a/f.yaml"),
            ("/r/./a/../l/f.yaml", "/r/a/f.yaml"),
        ] {
            let got = resolve_beneath(root, Path::new(q), &mut lookup_in(&t)).unwrap();
            assert_eq!(got.path, PathBuf::from(want), "{q}");
            assert_eq!(got.node, Node::File(3), "{q}");
        }
    }

    #[test]
    fn links_leaving_the_root_are_refused_before_anything_outside_is_looked_up() {
        let t = tree(&[
            ("/r/etc", link("/etc")),
            ("/r/proc", link("/proc/self")),
            ("/r/a", Node::Dir),
            ("/r/a/up", link("../../outside")),
            ("/r/a/prefix", link("/r2")),
        ]);
        let root = Path::new("/r");
        let mut looked_up = Vec::new();
        let mut lookup = |p: &Path| {
            looked_up.push(p.to_path_buf());
            lookup_in(&t)(p)
        };
        for (q, target) in [
            ("/r/etc/passwd", "/etc/passwd"),
            ("/r/proc/environ", "/proc/self/environ"),
            ("/r/a/up/x", "/outside/x"),
            ("/r/a/prefix", "/r2"),
        ] {
            match resolve_beneath(root, Path::new(q), &mut lookup) {
                Err(FsError::LinkEscapes { target: t, .. }) => {
                    assert_eq!(t, PathBuf::from(target), "{q}")
                }
                other => panic!("{q}: {other:?}"),
            }
        }
        assert!(
            looked_up.iter().all(|p| p.starts_with(root)),
            "{looked_up:?}"
        );
    }

    #[test]
    fn loops_special_files_and_missing_paths_are_reported() {
        let t = tree(&[
            ("/r/a", link("b")),
            ("/r/b", link("a")),
            ("/r/fifo", Node::Special(SpecialKind::Fifo)),
            ("/r/f", Node::File(1)),
        ]);
        let root = Path::new("/r");
        assert!(matches!(
            resolve_beneath(root, Path::new("/r/a"), &mut lookup_in(&t)),
            Err(FsError::TooManyLinks)
        ));
        assert_eq!(
            resolve_beneath(root, Path::new("/r/fifo"), &mut lookup_in(&t))
                .unwrap()
                .node,
            Node::Special(SpecialKind::Fifo)
        );
        assert!(matches!(
            resolve_beneath(root, Path::new("/r/f/x"), &mut lookup_in(&t)),
            Err(FsError::NotADirectory { .. })
        ));
        assert!(matches!(
            resolve_beneath(root, Path::new("/r/none"), &mut lookup_in(&t)),
            Err(FsError::NotFound)
        ));
        assert!(matches!(
            resolve_beneath(root, Path::new("/r/../etc"), &mut lookup_in(&t)),
            Err(FsError::OutsideRoot { .. })
        ));
        assert!(matches!(
            resolve_beneath(root, Path::new("/r2/x"), &mut lookup_in(&t)),
            Err(FsError::OutsideRoot { .. })
        ));
    }

    #[test]
    fn sizes_read_for_people() {
        assert_eq!(human(12), "12 bytes");
        assert_eq!(human(64 << 20), "64 MiB");
        assert_eq!(human(1536), "1.5 KiB");
    }
}
