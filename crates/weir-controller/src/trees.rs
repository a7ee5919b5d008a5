//! Extracted artifact trees, shared: each artifact is extracted once per digest, however many
//! Kustomizations build from it, and kept until no source points at it any more.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// Why an artifact could not be made into a tree.
#[derive(Debug, Clone, thiserror::Error)]
#[error("artifact {digest} could not be extracted: {message}")]
pub struct TreeError {
    pub digest: String,
    pub message: String,
}

/// Holds a tree once extracted; a failure is not kept, so the next call tries again (the archive
/// may be fetched again after a restart on empty storage).
type Slot = Arc<OnceCell<PathBuf>>;

/// Trees under `<root>/<hex>/`, extracted on first use.
pub struct ArtifactTrees {
    root: PathBuf,
    limits: weir_source::extract::Limits,
    slots: Mutex<HashMap<String, Slot>>,
}

impl ArtifactTrees {
    /// Trees under `root` (emptied: a tree from an earlier run may be half-extracted).
    pub fn open(
        root: impl Into<PathBuf>,
        limits: weir_source::extract::Limits,
    ) -> std::io::Result<Self> {
        let root = root.into();
        if root.exists() {
            std::fs::remove_dir_all(&root)?;
        }
        std::fs::create_dir_all(&root)?;
        Ok(ArtifactTrees {
            root,
            limits,
            slots: Mutex::new(HashMap::new()),
        })
    }

    /// The tree of the artifact `digest` stored at `archive`, extracted now if it is not yet.
    pub async fn get(&self, digest: &str, archive: &Path) -> Result<PathBuf, TreeError> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.entry(digest.to_string()).or_default().clone()
        };
        let root = self.root.clone();
        let limits = self.limits;
        let digest_owned = digest.to_string();
        let archive = archive.to_path_buf();
        slot.get_or_try_init(|| async move {
            tokio::task::spawn_blocking(move || extract(&root, &digest_owned, &archive, limits))
                .await
                .unwrap_or_else(|e| {
                    Err(TreeError {
                        digest: String::new(),
                        message: format!("extraction task failed: {e}"),
                    })
                })
        })
        .await
        .cloned()
    }

    /// Removes the trees of digests not in `keep`.
    pub fn retain(&self, keep: &HashSet<String>) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let gone: Vec<String> = slots
            .keys()
            .filter(|d| !keep.contains(*d))
            .cloned()
            .collect();
        for d in gone {
            slots.remove(&d);
            let _ = std::fs::remove_dir_all(self.root.join(dir_name(&d)));
        }
    }
}

fn dir_name(digest: &str) -> String {
    digest.replace(':', "-")
}

fn extract(
    root: &Path,
    digest: &str,
    archive: &Path,
    limits: weir_source::extract::Limits,
) -> Result<PathBuf, TreeError> {
    let err = |message: String| TreeError {
        digest: digest.to_string(),
        message,
    };
    let dest = root.join(dir_name(digest));
    if dest.is_dir() {
        return Ok(dest);
    }
    let tmp = tempfile_dir(root).map_err(|e| err(e.to_string()))?;
    let file = std::fs::File::open(archive)
        .map_err(|e| err(format!("open {}: {e}", archive.display())))?;
    weir_source::extract::extract(std::io::BufReader::new(file), &tmp, limits).map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp);
        err(e.to_string())
    })?;
    std::fs::rename(&tmp, &dest).map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp);
        err(e.to_string())
    })?;
    Ok(dest)
}

fn tempfile_dir(root: &Path) -> std::io::Result<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = root.join(format!(".extract-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_source::tree::MemoryTree;

    fn write_archive(path: &Path) {
        let tree = MemoryTree {
            commit: "0".repeat(40),
            files: vec![("app/cm.yaml".into(), b"kind: ConfigMap\n".to_vec())],
        };
        let file = std::fs::File::create(path).expect("archive file");
        weir_source::archive::write_tar_gz(
            &tree,
            &weir_source::ignore::Excludes::new(&[], None),
            file,
            &weir_source::progress::Discard,
        )
        .expect("archive written");
    }

    #[tokio::test]
    async fn a_missing_archive_is_tried_again_once_it_is_there() {
        let dir = tempfile::tempdir().expect("tempdir");
        let trees = ArtifactTrees::open(
            dir.path().join("trees"),
            weir_source::extract::Limits::default(),
        )
        .expect("open");
        let archive = dir.path().join("a.tar.gz");
        let err = trees
            .get("sha256:aa", &archive)
            .await
            .expect_err("no archive yet");
        assert!(err.message.contains("a.tar.gz"), "{err}");
        write_archive(&archive);
        let tree = trees
            .get("sha256:aa", &archive)
            .await
            .expect("extracted once the archive exists");
        assert!(tree.join("app/cm.yaml").is_file());
        // Kept: a second call does not extract again, even with the archive gone.
        std::fs::remove_file(&archive).expect("rm");
        assert_eq!(trees.get("sha256:aa", &archive).await.expect("kept"), tree);
    }
}
