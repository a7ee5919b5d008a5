//! The build: accumulate a kustomization's resources (files, bases, components), run its generators and
//! transformers in kustomize's order, then the whole-build steps (hash suffixes, name references, vars,
//! local-config removal, ordering).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::generator::{self, GenKind};
use crate::kustomization::Kustomization;
use crate::loader::{self, Loader};
use crate::resource::{ResMap, Resource};
use crate::vars::{self, DeclaredVar};
use crate::{BuildOptions, flux, hash, nameref, order, patches, transform};

/// The result of a build: the objects in output order, and warnings (deprecated fields) for a person.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub resources: Vec<Value>,
    pub warnings: Vec<String>,
}

/// Objects and vars gathered so far.
#[derive(Default)]
struct Acc {
    res: ResMap,
    vars: Vec<DeclaredVar>,
}

struct Builder<'a> {
    opts: &'a BuildOptions,
    warnings: Vec<String>,
}

/// Builds `dir`, with `overlay` merged into its kustomization first (Flux's Kustomization spec).
pub(crate) fn run(
    fs: &dyn crate::FileSystem,
    dir: &Path,
    overlay: Option<&Kustomization>,
    opts: &BuildOptions,
) -> Result<Output> {
    let ldr = Loader::root(fs, dir, opts.load_root.as_deref())?;
    let mut b = Builder {
        opts,
        warnings: Vec::new(),
    };
    let with_chain = |mut e: Error, dir: &Path| {
        e.chain.insert(0, dir.to_path_buf());
        e
    };
    let (kfile, mut k) = b
        .load_kustomization(&ldr, true)
        .map_err(|e| with_chain(e, &ldr.dir))?;
    if let Some(o) = overlay {
        flux::merge_overlay(&mut k, o);
    }
    let mut acc = Acc::default();
    b.accumulate_target(&ldr, &kfile, &k, &mut acc)
        .map_err(|e| with_chain(e, &ldr.dir))?;

    let mut res = acc.res;
    for r in &mut res.list {
        if r.needs_hash {
            let suffix = hash::hash_suffix(&r.obj);
            r.store_previous_id();
            let name = format!("{}-{}", r.name(), suffix);
            r.set_name(&name);
        }
    }
    nameref::fix_references(&mut res)?;
    vars::resolve(&mut res, &acc.vars)?;
    transform::drop_local_config(&mut res);
    for r in &mut res.list {
        drop_empty_annotations(&mut r.obj);
    }
    order::sort(&mut res.list, k.sort_options.as_ref());
    Ok(Output {
        resources: res.list.into_iter().map(|r| r.obj).collect(),
        warnings: b.warnings,
    })
}

impl Builder<'_> {
    /// Reads and parses the kustomization of a directory (or generates one, for Flux).
    fn load_kustomization(
        &mut self,
        ldr: &Loader<'_>,
        top: bool,
    ) -> Result<(PathBuf, Kustomization)> {
        let Some(kfile) = ldr.kustomization_file()? else {
            if top && self.opts.generate_missing {
                let k = flux::generate_kustomization(ldr)?;
                return Ok((ldr.dir.join("kustomization.yaml"), k));
            }
            return Err(Error::new(ErrorKind::MissingKustomization {
                dir: ldr.dir.clone(),
            }));
        };
        // Through the load restrictor, as kustomize does: a linked kustomization file leading out
        // of the directory (or the artifact root) is refused before it is opened.
        let (_, bytes) = ldr.read_path(&kfile, &kfile)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            Error::new(ErrorKind::InvalidKustomization {
                file: kfile.clone(),
                message: "not UTF-8 text".into(),
            })
        })?;
        let k = Kustomization::from_yaml(&text).map_err(|e| match e.line {
            Some(_) => Error::new(ErrorKind::Yaml {
                file: kfile.clone(),
                line: e.line,
                column: e.column,
                message: e.message,
            }),
            None => Error::new(ErrorKind::InvalidKustomization {
                file: kfile.clone(),
                message: e.message,
            }),
        })?;
        check_supported(&kfile, &k)?;
        // kustomize prints the warnings of every kustomization file it reads.
        self.warnings.extend(k.deprecation_warnings());
        Ok((kfile, k))
    }

    fn accumulate_target(
        &mut self,
        ldr: &Loader<'_>,
        kfile: &Path,
        k: &Kustomization,
        acc: &mut Acc,
    ) -> Result<()> {
        for entry in k.resources.iter().chain(k.bases.iter()) {
            self.accumulate_entry(ldr, kfile, entry, acc)?;
        }
        for c in &k.components {
            let sub = ldr.sub(c, kfile)?;
            let nested = |mut e: Error| {
                e.chain.insert(0, sub.dir.clone());
                e
            };
            let (ckfile, ck) = self.load_kustomization(&sub, false).map_err(nested)?;
            if !ck.is_component() {
                return Err(Error::new(ErrorKind::InvalidKustomization {
                    file: ckfile,
                    message: format!(
                        "listed under 'components' in '{}' but its kind is not Component",
                        kfile.display()
                    ),
                }));
            }
            self.accumulate_target(&sub, &ckfile, &ck, acc)
                .map_err(nested)?;
        }
        for args in &k.config_map_generator {
            let r = generator::generate(
                ldr,
                kfile,
                GenKind::ConfigMap,
                args,
                k.generator_options.as_ref(),
            )?;
            acc.res.absorb(r)?;
        }
        for args in &k.secret_generator {
            let r = generator::generate(
                ldr,
                kfile,
                GenKind::Secret,
                args,
                k.generator_options.as_ref(),
            )?;
            acc.res.absorb(r)?;
        }
        let m = &mut acc.res;
        patches::apply_psm(m, ldr, kfile, &k.patches_strategic_merge)?;
        patches::apply_patches(m, ldr, kfile, &k.patches)?;
        transform::namespace(m, k.namespace.as_deref().unwrap_or(""))?;
        transform::name_affixes(
            m,
            k.name_prefix.as_deref().unwrap_or(""),
            k.name_suffix.as_deref().unwrap_or(""),
        );
        transform::labels(m, k)?;
        transform::annotations(m, &k.common_annotations)?;
        patches::apply_json6902_legacy(m, ldr, kfile, &k.patches_json6902)?;
        transform::replicas(m, &k.replicas, kfile)?;
        let images: Vec<_> = k
            .images
            .iter()
            .chain(k.image_tags.iter())
            .cloned()
            .collect();
        transform::images(m, &images)?;
        patches::apply_replacements(m, ldr, kfile, &k.replacements)?;
        let declared = k
            .vars
            .iter()
            .map(|v| DeclaredVar {
                var: v.clone(),
                file: kfile.to_path_buf(),
            })
            .collect();
        vars::merge(&mut acc.vars, declared)
    }

    /// One `resources` entry: a file of objects, or a directory holding a kustomization.
    fn accumulate_entry(
        &mut self,
        ldr: &Loader<'_>,
        kfile: &Path,
        entry: &str,
        acc: &mut Acc,
    ) -> Result<()> {
        let path = ldr.resolve(entry);
        if ldr.fs.is_dir(&path) {
            let sub = ldr.sub(entry, kfile)?;
            let nested = |mut e: Error| {
                e.chain.insert(0, sub.dir.clone());
                e
            };
            let (skfile, sk) = self.load_kustomization(&sub, false).map_err(nested)?;
            if sk.is_component() {
                return Err(Error::new(ErrorKind::InvalidKustomization {
                    file: skfile,
                    message: format!(
                        "a Component cannot be listed under 'resources' (in '{}'); list it under 'components'",
                        kfile.display()
                    ),
                }));
            }
            let mut sub_acc = Acc::default();
            self.accumulate_target(&sub, &skfile, &sk, &mut sub_acc)
                .map_err(nested)?;
            acc.res.append_all(sub_acc.res)?;
            return vars::merge(&mut acc.vars, sub_acc.vars);
        }
        if !ldr.fs.exists(&path) && loader::looks_remote(entry) {
            let kind = if self.opts.allow_remote {
                ErrorKind::RemoteUnsupported {
                    file: kfile.to_path_buf(),
                    url: entry.to_string(),
                }
            } else {
                ErrorKind::RemoteDisabled {
                    file: kfile.to_path_buf(),
                    url: entry.to_string(),
                }
            };
            return Err(Error::new(kind));
        }
        let (file, bytes) = ldr.read(entry, kfile)?;
        let origin = Arc::new(file.clone());
        for obj in loader::parse_objects(&file, &bytes)? {
            acc.res.append(Resource::new(obj, origin.clone()))?;
        }
        Ok(())
    }
}

/// kustomize keeps build bookkeeping in annotations and removes the field when nothing else is left,
/// so an empty (or null) `metadata.annotations` never reaches the output.
fn drop_empty_annotations(obj: &mut Value) {
    if let Some(Value::Object(md)) = obj.get_mut("metadata") {
        let empty = match md.get("annotations") {
            Some(Value::Null) => true,
            Some(Value::Object(m)) => m.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            _ => false,
        };
        if empty {
            md.remove("annotations");
        }
    }
}

/// Fields weir does not implement fail the build instead of being silently ignored.
fn check_supported(kfile: &Path, k: &Kustomization) -> Result<()> {
    let unsupported = [
        ("crds", !k.crds.is_empty()),
        ("configurations", !k.configurations.is_empty()),
        ("generators", !k.generators.is_empty()),
        ("transformers", !k.transformers.is_empty()),
        ("validators", !k.validators.is_empty()),
        ("helmCharts", !k.helm_charts.is_empty()),
        ("helmGlobals", k.helm_globals.is_some()),
        (
            "helmChartInflationGenerator",
            !k.helm_chart_inflation_generator.is_empty(),
        ),
        ("openapi", k.openapi.is_some()),
        ("buildMetadata", !k.build_metadata.is_empty()),
    ];
    for (field, used) in unsupported {
        if used {
            return Err(Error::new(ErrorKind::Unsupported {
                file: kfile.to_path_buf(),
                field: field.into(),
            }));
        }
    }
    Ok(())
}
