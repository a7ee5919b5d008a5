//! Where a check starts: the cluster directories of a repository and the root sync of one.
//!
//! A cluster directory is a folder a Flux sync points at: a Kustomization whose `spec.path` is a
//! directory holding the file that defines it (what `flux bootstrap` writes to
//! `clusters/NAME/flux-system/gotk-sync.yaml`, whatever its name), or a Flux Operator
//! `FluxInstance` with `spec.sync.path`. The root sync of a cluster directory is that Kustomization
//! (or the one a FluxInstance generates, also when the Flux Operator's `flux-instance` chart is
//! installed by a HelmRelease), named as the repository names it; its source is the repository
//! itself.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use weir_api::flux::{CrossNamespaceSourceReference, Kustomization, KustomizationSpec, Resource};
use weir_api::{ObjectKey, ObjectMeta};
use weir_kustomize::{DiskFs, FileSystem};

/// The namespace and name Flux's bootstrap gives the root GitRepository and Kustomization.
pub const FLUX_SYSTEM: &str = "flux-system";

/// Files larger than this are not read while looking for syncs (manifests are small; this skips
/// vendored charts and data).
const MAX_SCAN_FILE: u64 = 1 << 20;
/// Directories deeper than this are not scanned.
const MAX_SCAN_DEPTH: usize = 12;

/// The root of a check.
#[derive(Debug, Clone)]
pub struct RootSync {
    /// The root Kustomization, as the repository defines it (or as bootstrap would).
    pub kustomization: Kustomization,
    /// Where it was found: a file (relative to the repository), or `None` when it was assumed.
    pub defined_in: Option<PathBuf>,
}

impl RootSync {
    /// The source of the root Kustomization: the repository itself.
    pub fn source(&self) -> (String, ObjectKey) {
        let ks = &self.kustomization;
        let ns = ks
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let src = &ks.spec.source_ref;
        (
            src.kind.clone(),
            ObjectKey::new(src.namespace.clone().unwrap_or(ns), src.name.clone()),
        )
    }
}

/// The Kustomization that `flux bootstrap` would create to sync `cluster_rel`.
pub fn bootstrap_root(cluster_rel: &Path) -> Kustomization {
    Resource {
        api_version: "kustomize.toolkit.fluxcd.io/v1".into(),
        kind: "Kustomization".into(),
        metadata: ObjectMeta {
            name: FLUX_SYSTEM.into(),
            namespace: Some(FLUX_SYSTEM.into()),
            ..Default::default()
        },
        spec: KustomizationSpec {
            source_ref: CrossNamespaceSourceReference {
                kind: "GitRepository".into(),
                name: FLUX_SYSTEM.into(),
                ..Default::default()
            },
            path: Some(dot_path(cluster_rel)),
            prune: true,
            ..Default::default()
        },
    }
}

fn dot_path(rel: &Path) -> String {
    if rel.as_os_str().is_empty() {
        "./".to_string()
    } else {
        format!("./{}", rel.display())
    }
}

/// `spec.path` as a clean path relative to the repository root (`None` when it leaves it).
pub fn normalize(path: &str) -> Option<PathBuf> {
    let fake = Path::new("/r");
    weir_build::build_dir(fake, Some(path))
        .ok()
        .and_then(|d| d.strip_prefix(fake).ok().map(Path::to_path_buf))
}

/// A sync found in a file of the repository.
#[derive(Debug, Clone)]
struct Sync {
    /// The directory it syncs, relative to the repository root.
    path: PathBuf,
    kustomization: Kustomization,
    file: PathBuf,
    /// Generated from a FluxInstance's `spec.sync`.
    from_instance: bool,
}

/// Reads a Kustomization or FluxInstance document as a sync, when it is one.
fn as_sync(doc: &Value, file: &Path) -> Option<Sync> {
    let api = doc["apiVersion"].as_str().unwrap_or_default();
    let group = weir_api::object::group_of(api);
    match (group, doc["kind"].as_str()?) {
        (weir_api::flux::KUSTOMIZE_GROUP, "Kustomization") => {
            let ks: Kustomization = serde_json::from_value(doc.clone()).ok()?;
            let path = normalize(ks.spec.path.as_deref().unwrap_or("./"))?;
            // A sync of its own directory: the file that defines it lies below its path.
            file.starts_with(&path).then(|| Sync {
                path,
                kustomization: ks,
                file: file.to_path_buf(),
                from_instance: false,
            })
        }
        // A FluxInstance, or the Flux Operator's `flux-instance` chart installed by a
        // HelmRelease (its values hold the instance).
        (
            group @ ("fluxcd.controlplane.io" | weir_api::flux::HELM_GROUP),
            kind @ ("FluxInstance" | "HelmRelease"),
        ) => {
            let sync = if kind == "FluxInstance" && group == "fluxcd.controlplane.io" {
                &doc["spec"]["sync"]
            } else if kind == "HelmRelease" && group == weir_api::flux::HELM_GROUP {
                &doc["spec"]["values"]["instance"]["sync"]
            } else {
                return None;
            };
            let path = normalize(sync["path"].as_str()?)?;
            let ns = doc["spec"]["targetNamespace"]
                .as_str()
                .filter(|_| kind == "HelmRelease")
                .or(doc["metadata"]["namespace"].as_str())
                .unwrap_or(FLUX_SYSTEM);
            let name = sync["name"].as_str().unwrap_or(ns);
            let kind = sync["kind"].as_str().unwrap_or("GitRepository");
            let mut ks = bootstrap_root(&path);
            ks.metadata.name = name.to_string();
            ks.metadata.namespace = Some(ns.to_string());
            ks.spec.source_ref = CrossNamespaceSourceReference {
                kind: kind.to_string(),
                name: name.to_string(),
                ..Default::default()
            };
            Some(Sync {
                path,
                kustomization: ks,
                file: file.to_path_buf(),
                from_instance: true,
            })
        }
        _ => None,
    }
}

/// Every sync defined in the repository's YAML files, and the directories laid out as
/// `flux bootstrap` writes them (symbolic links are not followed).
fn scan(root: &Path) -> (Vec<Sync>, BTreeSet<PathBuf>) {
    let mut found = Vec::new();
    let mut layouts = BTreeSet::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            let path = entry.path();
            if meta.is_dir() {
                if depth < MAX_SCAN_DEPTH {
                    stack.push((path, depth + 1));
                }
                continue;
            }
            let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
            // `flux bootstrap`'s layout: CLUSTER/flux-system/gotk-{components,sync}.yaml, even
            // when the sync file is a placeholder.
            if meta.is_file()
                && (name == "gotk-sync.yaml" || name == "gotk-components.yaml")
                && dir.file_name().is_some_and(|d| d == FLUX_SYSTEM)
                && let Some(cluster) = dir.parent().and_then(|c| c.strip_prefix(root).ok())
            {
                layouts.insert(cluster.to_path_buf());
            }
            if !meta.is_file() || !is_yaml || meta.len() > MAX_SCAN_FILE {
                continue;
            }
            let Some(text) = read_text(root, &path) else {
                continue;
            };
            if !text.contains("Kustomization")
                && !text.contains("FluxInstance")
                && !text.contains("sync")
            {
                continue;
            }
            let Ok(docs) = weir_yaml::from_str(&text) else {
                continue;
            };
            let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            // Every file lies below the repository root: a Kustomization of `./` is never taken
            // for a sync (tenants' Kustomizations of their own repositories look like that).
            found.extend(
                docs.iter()
                    .filter_map(|d| as_sync(d, &rel))
                    .filter(|s| !s.path.as_os_str().is_empty() || s.from_instance),
            );
        }
    }
    (found, layouts)
}

/// A candidate file's text, read as every repository file is read (confined to the root, regular
/// files only, at most [`MAX_SCAN_FILE`] bytes); `None` when refused or not UTF-8.
fn read_text(root: &Path, path: &Path) -> Option<String> {
    let fs = DiskFs::confined(root)
        .ok()?
        .with_max_file_size(MAX_SCAN_FILE);
    let inside = fs.root()?.join(path.strip_prefix(root).ok()?);
    String::from_utf8(fs.read(&inside).ok()?).ok()
}

/// The cluster directories of the repository at `root` (relative paths, sorted).
pub fn cluster_dirs(root: &Path) -> Vec<PathBuf> {
    let (syncs, layouts) = scan(root);
    let dirs: BTreeSet<PathBuf> = syncs
        .into_iter()
        .map(|s| s.path)
        .chain(layouts)
        .filter(|p| root.join(p).is_dir())
        .collect();
    if dirs.is_empty() {
        return conventional_cluster_dirs(root);
    }
    dirs.into_iter().collect()
}

/// When no sync is committed (bootstrap's files left out of Git): the folders of a top-level
/// `clusters/` directory whose YAML defines Flux Kustomizations, as Flux's examples lay them out.
fn conventional_cluster_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root.join("clusters")) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| {
            std::fs::read_dir(e.path()).is_ok_and(|files| {
                files.flatten().any(|f| {
                    let p = f.path();
                    p.extension().is_some_and(|x| x == "yaml" || x == "yml")
                        && f.metadata()
                            .is_ok_and(|m| m.is_file() && m.len() <= MAX_SCAN_FILE)
                        && read_text(root, &p)
                            .is_some_and(|t| t.contains(weir_api::flux::KUSTOMIZE_GROUP))
                })
            })
        })
        .map(|e| PathBuf::from("clusters").join(e.file_name()))
        .collect();
    dirs.sort();
    dirs
}

/// The root sync of `cluster_rel`: the Kustomization or FluxInstance in the repository that syncs
/// it, or the one `flux bootstrap` would create.
pub fn root_sync(root: &Path, cluster_rel: &Path) -> RootSync {
    let mut syncs: Vec<Sync> = scan(root)
        .0
        .into_iter()
        .filter(|s| s.path == cluster_rel)
        .collect();
    // Prefer a definition inside the cluster directory itself, then the first in path order.
    syncs.sort_by_key(|s| (!s.file.starts_with(cluster_rel), s.file.clone()));
    match syncs.into_iter().next() {
        Some(s) => RootSync {
            kustomization: s.kustomization,
            defined_in: Some(s.file),
        },
        None => RootSync {
            kustomization: bootstrap_root(cluster_rel),
            defined_in: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_inside_the_repository() {
        assert_eq!(
            normalize("./clusters/a/"),
            Some(PathBuf::from("clusters/a"))
        );
        assert_eq!(normalize("clusters/a"), Some(PathBuf::from("clusters/a")));
        assert_eq!(normalize("./"), Some(PathBuf::new()));
        assert_eq!(normalize("../x"), None);
    }
}
