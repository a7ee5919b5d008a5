//! What Flux's kustomize-controller adds around a build: a generated kustomization for directories
//! without one, and the Kustomization spec merged into the directory's kustomization.

use std::path::Path;

use crate::error::{Error, ErrorKind, Result};
use crate::kustomization::Kustomization;
use crate::loader::{self, Loader};

/// Flux's generated kustomization: every `.yaml`/`.yml` file below the directory (each must parse as
/// Kubernetes objects) and every sub-directory that has its own kustomization file (not descended),
/// in lexical walk order, as `./relative/path`.
pub(crate) fn generate_kustomization(ldr: &Loader<'_>) -> Result<Kustomization> {
    let mut resources = Vec::new();
    walk(ldr, &ldr.dir, &mut resources)?;
    Ok(Kustomization {
        api_version: Some("kustomize.config.k8s.io/v1beta1".into()),
        kind: Some("Kustomization".into()),
        resources,
        ..Kustomization::default()
    })
}

fn walk(ldr: &Loader<'_>, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    let entries = ldr.fs.read_dir(dir).map_err(|source| {
        Error::new(ErrorKind::Read {
            file: dir.to_path_buf(),
            source,
        })
    })?;
    for path in entries {
        let rel = match path.strip_prefix(&ldr.dir) {
            Ok(r) => format!("./{}", r.display()),
            Err(_) => continue,
        };
        if ldr.fs.is_dir(&path) {
            // Like Flux's walk (filepath.Walk), a linked directory is not descended into: it could
            // lead anywhere, or back up into a loop.
            if ldr.fs.canonicalize(&path).as_deref() != Some(path.as_path()) {
                continue;
            }
            if loader::find_kustomization_file(ldr.fs, &path)?.is_some() {
                out.push(rel);
            } else {
                walk(ldr, &path, out)?;
            }
            continue;
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext != "yaml" && ext != "yml" {
            continue;
        }
        // Through the load restrictor: a linked file leading outside is refused before it is read.
        let (_, bytes) = ldr.read_path(&path, &path)?;
        loader::parse_objects(&path, &bytes)?;
        out.push(rel);
    }
    Ok(())
}

/// Merges a Flux Kustomization's spec (carried as a [`Kustomization`]) into the directory's
/// kustomization: `namespace`, `namePrefix`, `nameSuffix` replace; patches, components and labels
/// are appended; images replace an entry of the same name or are appended; annotations override.
pub(crate) fn merge_overlay(k: &mut Kustomization, o: &Kustomization) {
    if let Some(ns) = &o.namespace {
        k.namespace = Some(ns.clone());
    }
    if let Some(p) = &o.name_prefix {
        k.name_prefix = Some(p.clone());
    }
    if let Some(s) = &o.name_suffix {
        k.name_suffix = Some(s.clone());
    }
    k.patches.extend(o.patches.iter().cloned());
    k.patches_strategic_merge
        .extend(o.patches_strategic_merge.iter().cloned());
    k.patches_json6902
        .extend(o.patches_json6902.iter().cloned());
    k.components.extend(o.components.iter().cloned());
    k.resources.extend(o.resources.iter().cloned());
    for img in &o.images {
        match k.images.iter_mut().find(|i| i.name == img.name) {
            Some(existing) => *existing = img.clone(),
            None => k.images.push(img.clone()),
        }
    }
    k.labels.extend(o.labels.iter().cloned());
    k.common_labels
        .extend(o.common_labels.iter().map(|(a, b)| (a.clone(), b.clone())));
    k.common_annotations.extend(
        o.common_annotations
            .iter()
            .map(|(a, b)| (a.clone(), b.clone())),
    );
}
