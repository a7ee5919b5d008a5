//! Streams a fetched tree into a reproducible `tar.gz`: entries in Git's order, mode 0644/0755,
//! owner 0, mtime 0, so the same tree always gives the same digest.
//!
//! Artifacts hold regular files only (directories are implied by their paths), as Flux's archiver
//! writes them: symbolic links and submodules are left out, so an artifact can never point outside
//! itself (`passwd -> /etc/passwd`, `up -> ../../`).

use std::io::{self, Write};

use flate2::{Compression, write::GzEncoder};

use crate::{
    ignore::{Excludes, IGNORE_FILE},
    progress::Progress,
    tree::{Entry, FetchedTree, Visit},
};

/// What went into an archive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Files written.
    pub entries: u64,
    /// Their uncompressed bytes.
    pub bytes: u64,
}

/// Collects every `.sourceignore` of `tree` (reading only those files), keyed by directory.
pub fn collect_sourceignores(tree: &dyn FetchedTree) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut found = Vec::new();
    tree.walk(&mut |entry, load| match entry {
        Entry::Dir(path) if path == ".git" || path.ends_with("/.git") => Ok(Visit::Skip),
        Entry::File { path, .. } => {
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
            if name == IGNORE_FILE {
                found.push((dir.to_owned(), load()?));
            }
            Ok(Visit::Skip)
        }
        _ => Ok(Visit::Enter),
    })?;
    Ok(found)
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// Writes the tree's regular files minus `excludes` as `tar.gz` into `out`; returns what was written
/// and `out`. Symbolic links and submodules are skipped (see the module docs).
pub fn write_tar_gz<W: Write>(
    tree: &dyn FetchedTree,
    excludes: &Excludes,
    out: W,
    progress: &dyn Progress,
) -> io::Result<(Stats, W)> {
    let mut builder = tar::Builder::new(GzEncoder::new(out, Compression::default()));
    builder.mode(tar::HeaderMode::Deterministic);
    let mut stats = Stats::default();
    tree.walk(&mut |entry, load| match entry {
        Entry::Dir(path) => Ok(if excludes.is_excluded(path, true) {
            Visit::Skip
        } else {
            Visit::Enter
        }),
        Entry::Submodule(_) => Ok(Visit::Skip),
        Entry::File { path, executable } => {
            if excludes.is_excluded(path, false) {
                return Ok(Visit::Skip);
            }
            let data = load()?;
            let mut h = header(
                tar::EntryType::Regular,
                if executable { 0o755 } else { 0o644 },
                data.len() as u64,
            );
            builder.append_data(&mut h, path, data.as_slice())?;
            stats.entries += 1;
            stats.bytes += data.len() as u64;
            progress.files_written(stats.entries);
            Ok(Visit::Enter)
        }
        // Never read, never archived: Flux's archiver keeps regular files only.
        Entry::Symlink(_) => Ok(Visit::Skip),
    })?;
    let gz = builder.into_inner()?;
    let out = gz.finish()?;
    Ok((stats, out))
}
