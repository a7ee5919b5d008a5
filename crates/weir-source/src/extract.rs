//! Safe extraction of artifacts: nothing lands outside the destination, and size bombs stop early.

use std::{
    fs,
    io::{self, Read},
    path::{Component, Path, PathBuf},
};

use flate2::read::GzDecoder;

/// Limits on what an archive may expand to.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Total uncompressed bytes of all files.
    pub max_bytes: u64,
    /// Number of entries.
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 1024 * 1024 * 1024,
            max_entries: 1_000_000,
        }
    }
}

/// Why extraction stopped. Files written before the failure stay in the destination, which the
/// caller should treat as garbage (extract into a fresh temp directory, rename on success).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An entry's path is absolute or climbs out with `..`.
    #[error("archive entry {path:?} would be written outside the destination")]
    UnsafePath {
        /// The entry path as stored.
        path: String,
    },
    /// A symlink or hard link points outside the destination, or an entry would be written through a link.
    #[error("archive entry {path:?} links outside the destination ({target:?})")]
    UnsafeLink {
        /// The entry path.
        path: String,
        /// Its target.
        target: String,
    },
    /// Device files, FIFOs and the like.
    #[error("archive entry {path:?} has an unsupported type")]
    UnsupportedEntry {
        /// The entry path.
        path: String,
    },
    /// Too many bytes or entries.
    #[error("archive expands beyond the limit of {limit} {what}")]
    TooLarge {
        /// `bytes` or `entries`.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// Reading the archive or writing files failed.
    #[error("could not extract archive into {dest}")]
    Io {
        /// The destination.
        dest: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// Lexically normalises `path` under the root; `None` if it is absolute or escapes.
fn contained(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Extracts the `tar.gz` from `archive` into `dest` (created if missing). Returns bytes written.
pub fn extract(archive: impl Read, dest: &Path, limits: Limits) -> Result<u64, Error> {
    let io_err = |source| Error::Io {
        dest: dest.to_owned(),
        source,
    };
    fs::create_dir_all(dest).map_err(io_err)?;
    let mut tar = tar::Archive::new(GzDecoder::new(archive));
    let mut total = 0u64;
    let mut count = 0u64;
    for entry in tar.entries().map_err(io_err)? {
        let mut entry = entry.map_err(io_err)?;
        count += 1;
        if count > limits.max_entries {
            return Err(Error::TooLarge {
                what: "entries",
                limit: limits.max_entries,
            });
        }
        let raw = entry.path().map_err(io_err)?.into_owned();
        let shown = raw.to_string_lossy().into_owned();
        let Some(rel) = contained(&raw)
            .filter(|r| !r.as_os_str().is_empty() || entry.header().entry_type().is_dir())
        else {
            return Err(Error::UnsafePath { path: shown });
        };
        // Never write through a symlink an earlier entry created.
        let mut probe = dest.to_path_buf();
        for c in rel.parent().into_iter().flat_map(Path::components) {
            probe.push(c);
            if fs::symlink_metadata(&probe).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(Error::UnsafeLink {
                    path: shown,
                    target: probe.display().to_string(),
                });
            }
        }
        let out = dest.join(&rel);
        let kind = entry.header().entry_type();
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent).map_err(io_err)?;
        }
        match kind {
            tar::EntryType::Directory => fs::create_dir_all(&out).map_err(io_err)?,
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let declared = entry.header().size().map_err(io_err)?;
                if total.saturating_add(declared) > limits.max_bytes {
                    return Err(Error::TooLarge {
                        what: "bytes",
                        limit: limits.max_bytes,
                    });
                }
                let mut file = fs::File::create(&out).map_err(io_err)?;
                let budget = limits.max_bytes - total;
                let written = io::copy(&mut (&mut entry).take(budget.saturating_add(1)), &mut file)
                    .map_err(io_err)?;
                if written > budget {
                    return Err(Error::TooLarge {
                        what: "bytes",
                        limit: limits.max_bytes,
                    });
                }
                total += written;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = entry.header().mode().map_err(io_err)? & 0o755;
                    fs::set_permissions(&out, fs::Permissions::from_mode(mode | 0o600))
                        .map_err(io_err)?;
                }
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(io_err)?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let shown_target = target.to_string_lossy().into_owned();
                let unsafe_link = || Error::UnsafeLink {
                    path: shown.clone(),
                    target: shown_target.clone(),
                };
                let resolved = if kind == tar::EntryType::Symlink {
                    let base = rel.parent().unwrap_or(Path::new(""));
                    contained(&base.join(&target))
                } else {
                    contained(&target)
                };
                let resolved = resolved.ok_or_else(unsafe_link)?;
                if kind == tar::EntryType::Symlink {
                    #[cfg(unix)]
                    std::os::unix::fs::symlink(&target, &out).map_err(io_err)?;
                    #[cfg(not(unix))]
                    return Err(Error::UnsupportedEntry { path: shown });
                } else {
                    fs::hard_link(dest.join(resolved), &out).map_err(io_err)?;
                }
            }
            _ => return Err(Error::UnsupportedEntry { path: shown }),
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(
        build: impl FnOnce(&mut tar::Builder<flate2::write::GzEncoder<Vec<u8>>>),
    ) -> Vec<u8> {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::default(),
        ));
        build(&mut b);
        b.into_inner().expect("tar").finish().expect("gz")
    }

    fn raw_entry(
        b: &mut tar::Builder<flate2::write::GzEncoder<Vec<u8>>>,
        kind: tar::EntryType,
        path: &str,
        link: &str,
        data: &[u8],
    ) {
        let mut h = tar::Header::new_old();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        // Write the name bytes directly: `set_path` itself refuses `..` and absolute paths.
        let name = &mut h.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        if !link.is_empty() {
            h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_cksum();
        b.append(&h, data).expect("append");
    }

    fn run(bytes: &[u8], limits: Limits) -> (Result<u64, Error>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let res = extract(bytes, &dir.path().join("out"), limits);
        (res, dir)
    }

    #[test]
    fn should_extract_files_and_inner_links() {
        let bytes = archive(|b| {
            raw_entry(b, tar::EntryType::Regular, "a/b.yaml", "", b"x: 1\n");
            raw_entry(b, tar::EntryType::Symlink, "a/link", "b.yaml", b"");
        });
        let (res, dir) = run(&bytes, Limits::default());
        assert_eq!(res.expect("extracts"), 5);
        assert_eq!(
            fs::read(dir.path().join("out/a/link")).expect("link works"),
            b"x: 1\n"
        );
    }

    #[test]
    fn should_refuse_parent_and_absolute_paths() {
        for path in ["../evil", "/etc/evil", "a/../../evil"] {
            let bytes = archive(|b| raw_entry(b, tar::EntryType::Regular, path, "", b"x"));
            let (res, dir) = run(&bytes, Limits::default());
            assert!(
                matches!(res, Err(Error::UnsafePath { .. })),
                "{path}: {res:?}"
            );
            assert!(!dir.path().join("evil").exists());
        }
    }

    #[test]
    fn should_refuse_links_out_and_writes_through_links() {
        let bytes = archive(|b| raw_entry(b, tar::EntryType::Symlink, "l", "../../etc", b""));
        assert!(matches!(
            run(&bytes, Limits::default()).0,
            Err(Error::UnsafeLink { .. })
        ));
        let bytes = archive(|b| raw_entry(b, tar::EntryType::Link, "h", "/etc/passwd", b""));
        assert!(matches!(
            run(&bytes, Limits::default()).0,
            Err(Error::UnsafeLink { .. })
        ));
        let bytes = archive(|b| {
            raw_entry(b, tar::EntryType::Symlink, "d", ".", b"");
            raw_entry(b, tar::EntryType::Regular, "d/f", "", b"x");
        });
        assert!(matches!(
            run(&bytes, Limits::default()).0,
            Err(Error::UnsafeLink { .. })
        ));
    }

    #[test]
    fn should_stop_size_bombs() {
        let big = vec![0u8; 1 << 20];
        let bytes = archive(|b| {
            for i in 0..8 {
                raw_entry(b, tar::EntryType::Regular, &format!("f{i}"), "", &big);
            }
        });
        assert!(bytes.len() < 64 * 1024, "compresses well");
        let limits = Limits {
            max_bytes: 4 << 20,
            max_entries: 100,
        };
        assert!(matches!(
            run(&bytes, limits).0,
            Err(Error::TooLarge { what: "bytes", .. })
        ));
        let limits = Limits {
            max_bytes: u64::MAX,
            max_entries: 3,
        };
        assert!(matches!(
            run(&bytes, limits).0,
            Err(Error::TooLarge {
                what: "entries",
                ..
            })
        ));
    }
}
