//! The build: accumulate a kustomization's resources (files, bases, components), run its generators and
//! transformers in kustomize's order, then the whole-build steps (hash suffixes, name references, vars,
//! local-config removal, ordering).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::config::{Config, config};
use crate::error::{Error, ErrorKind, Result};
use crate::generator::{self, GenKind};
use crate::kustomization::Kustomization;
use crate::loader::{self, Loader};
use crate::origin::{self, Origin, Tracking};
use crate::patch_meta::{PatchMeta, patch_meta};
use crate::resource::{ResMap, Resource};
use crate::vars::{self, DeclaredVar};
use crate::{BuildOptions, flux, hash, nameref, order, patches, plugins, transform};

/// The result of a build: the objects in output order, and warnings (deprecated fields) for a person.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub resources: Vec<Value>,
    pub warnings: Vec<String>,
}

/// Objects, vars and field specs gathered so far.
#[derive(Default)]
struct Acc {
    res: ResMap,
    vars: Vec<DeclaredVar>,
    /// The field specs gathered so far (kustomize's accumulator transformer configuration).
    cfg: CfgState,
}

/// An accumulator's field specs. kustomize starts each accumulator with none, merges in those of
/// the bases it reads, then its own (the built-in ones plus its `configurations`, then its `crds`);
/// the built-in table is kept without a copy until a configuration changes it.
#[derive(Default)]
enum CfgState {
    #[default]
    Empty,
    Builtin,
    Custom(Box<Config>),
}

impl CfgState {
    /// The field specs transformers use (the accumulator holds at least the built-in ones then).
    fn effective(&self) -> &Config {
        match self {
            CfgState::Custom(c) => c,
            CfgState::Empty | CfgState::Builtin => config(),
        }
    }
}

impl Acc {
    /// kustomize's `MergeConfig`: adds field specs (a kustomization's own, or a base's).
    fn merge_config(&mut self, more: &CfgState) -> std::result::Result<(), String> {
        let next = match (std::mem::take(&mut self.cfg), more) {
            (cur, CfgState::Empty) => cur,
            (CfgState::Empty | CfgState::Builtin, CfgState::Builtin) => CfgState::Builtin,
            (CfgState::Custom(mut c), CfgState::Builtin) => {
                c.merge(config())?;
                CfgState::Custom(c)
            }
            (cur, CfgState::Custom(o)) => {
                let mut c = match cur {
                    CfgState::Empty => Box::default(),
                    CfgState::Builtin => Box::new(config().clone()),
                    CfgState::Custom(c) => c,
                };
                c.merge(o)?;
                CfgState::Custom(c)
            }
        };
        self.cfg = next;
        Ok(())
    }
}

struct Builder<'a> {
    opts: &'a BuildOptions,
    warnings: Vec<String>,
    /// The top-level kustomization's `buildMetadata` (kustomize applies it to the whole build).
    track: Tracking,
    /// The strategic-merge schema: kustomize keeps one per build, set by the first kustomization
    /// with an `openapi` field (the top-level one first, then in the order they are read).
    schema: Schema,
}

/// The `openapi` schema in effect.
enum Schema {
    /// No kustomization chose one yet: the built-in schema.
    Unset,
    /// The built-in schema, chosen by `openapi: {version: v1.21.2}`.
    Builtin,
    Custom(Arc<PatchMeta>),
}

impl Builder<'_> {
    /// The custom schema, if one was chosen (else the built-in [`patch_meta`]).
    fn custom_meta(&self) -> Option<Arc<PatchMeta>> {
        match &self.schema {
            Schema::Custom(m) => Some(m.clone()),
            Schema::Unset | Schema::Builtin => None,
        }
    }

    /// kustomize's `openapi.SetSchema`: the first `openapi` field read wins.
    fn set_schema(
        &mut self,
        ldr: &Loader<'_>,
        kfile: &Path,
        k: &Kustomization,
        top: bool,
    ) -> Result<()> {
        let Some(openapi) = &k.openapi else {
            return Ok(());
        };
        let field_err = |message: String| {
            Error::new(ErrorKind::Field {
                file: kfile.to_path_buf(),
                field: "openapi".into(),
                message,
            })
        };
        let text = |key: &str| openapi.get(key).and_then(Value::as_str);
        let custom = match text("path") {
            Some(path) => {
                let (file, bytes) = ldr.read(path, kfile)?;
                let doc = std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|t| weir_yaml::from_str(t).ok())
                    .and_then(|docs| docs.into_iter().next())
                    .ok_or_else(|| {
                        field_err(format!(
                            "'{}' is not a YAML or JSON document",
                            file.display()
                        ))
                    })?;
                Some(doc)
            }
            None => None,
        };
        if !matches!(self.schema, Schema::Unset) {
            return Ok(());
        }
        match (custom, text("version")) {
            (Some(_), Some(_)) => Err(field_err(
                "builtin version and custom schema provided, cannot use both".into(),
            )),
            (Some(doc), None) => {
                let meta = PatchMeta::from_openapi(&doc).map_err(|e| field_err(e.to_string()))?;
                let meta = if top { meta } else { meta.with_builtin() };
                self.schema = Schema::Custom(Arc::new(meta));
                Ok(())
            }
            (None, Some("v1.21.2")) => {
                self.schema = Schema::Builtin;
                Ok(())
            }
            (None, Some(v)) if !v.is_empty() => Err(field_err(format!(
                "the specified OpenAPI version '{v}' is not built in (only v1.21.2)"
            ))),
            (None, _) => Ok(()),
        }
    }
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
        track: Tracking::default(),
        schema: Schema::Unset,
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
    let (track, unknown) = Tracking::from_options(&k.build_metadata);
    b.track = track;
    for o in unknown {
        b.warnings.push(format!(
            "# Warning: buildMetadata option '{o}' is unknown and ignored (known: originAnnotations, transformerAnnotations, managedByLabel)"
        ));
    }
    order::validate(k.sort_options.as_ref()).map_err(|message| {
        with_chain(
            Error::new(ErrorKind::InvalidKustomization {
                file: kfile.clone(),
                message,
            }),
            &ldr.dir,
        )
    })?;
    b.set_schema(&ldr, &kfile, &k, true)
        .map_err(|e| with_chain(e, &ldr.dir))?;
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
    let cfg = acc.cfg.effective();
    nameref::fix_references(&mut res, cfg)?;
    vars::resolve(&mut res, &acc.vars, cfg)?;
    transform::drop_local_config(&mut res);
    origin::write(&mut res.list, b.track);
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
        // The built-in field specs plus the `configurations` (kustomize's MakeTransformerConfig),
        // then the `crds`.
        let cfg_err = |file: &Path, what: &str, message: String| {
            Error::new(ErrorKind::InvalidKustomization {
                file: file.to_path_buf(),
                message: format!("{what}: {message}"),
            })
        };
        let own = if k.configurations.is_empty() {
            CfgState::Builtin
        } else {
            let mut custom = Config::default();
            for path in &k.configurations {
                let (file, bytes) = ldr.read(path, kfile)?;
                std::str::from_utf8(&bytes)
                    .map_err(|_| "not UTF-8 text".to_string())
                    .and_then(Config::from_yaml)
                    .and_then(|more| custom.merge(&more))
                    .map_err(|m| cfg_err(&file, "configuration", m))?;
            }
            let mut t = config().clone();
            t.merge(&custom)
                .map_err(|m| cfg_err(kfile, "configurations", m))?;
            CfgState::Custom(Box::new(t))
        };
        acc.merge_config(&own)
            .map_err(|m| cfg_err(kfile, "configurations", m))?;
        if !k.crds.is_empty() {
            let mut crds = Config::default();
            for path in &k.crds {
                let (file, bytes) = ldr.read(path, kfile)?;
                std::str::from_utf8(&bytes)
                    .map_err(|_| "not UTF-8 text".to_string())
                    .and_then(Config::from_crd_definitions)
                    .and_then(|more| crds.merge(&more))
                    .map_err(|m| cfg_err(&file, "crds", m))?;
            }
            acc.merge_config(&CfgState::Custom(Box::new(crds)))
                .map_err(|m| cfg_err(kfile, "crds", m))?;
        }
        // Where this kustomization's builtin generators and transformers are configured.
        let track = self.track.active();
        let configured_in = ldr.origin_of(
            &kfile
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let builtin = |kind: &str| Origin::builtin(configured_in.clone(), kind);
        for (kind, list) in [
            (GenKind::ConfigMap, &k.config_map_generator),
            (GenKind::Secret, &k.secret_generator),
        ] {
            for args in list {
                let mut r =
                    generator::generate(ldr, kfile, kind, args, k.generator_options.as_ref())?;
                if track {
                    r.provenance = Some(Box::new(builtin(match kind {
                        GenKind::ConfigMap => "ConfigMapGenerator",
                        GenKind::Secret => "SecretGenerator",
                    })));
                }
                acc.res.absorb(r)?;
            }
        }
        if !k.generators.is_empty() {
            let configs = self.plugin_configs(ldr, kfile, &configured_in, &k.generators)?;
            plugins::generate(&mut acc.res, ldr, kfile, &configs)?;
        }
        for c in &k.components {
            let sub = ldr.sub(c, kfile)?;
            let nested = |mut e: Error| {
                e.chain.insert(0, sub.dir.clone());
                e
            };
            let (ckfile, ck) = self.load_kustomization(&sub, false).map_err(nested)?;
            self.set_schema(&sub, &ckfile, &ck, false).map_err(nested)?;
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
        let cfg = acc.cfg.effective();
        let custom = self.custom_meta();
        let meta: &PatchMeta = custom.as_deref().unwrap_or_else(|| patch_meta());
        let m = &mut acc.res;
        // kustomize records each configured builtin transformer on every object after it ran; the
        // records of one kind are identical, so they are added after the step, `n` at a time.
        let note = |m: &mut ResMap, kind: &str, n: usize| {
            if track {
                let by = builtin(kind);
                for _ in 0..n {
                    origin::note_transformer(&mut m.list, &by);
                }
            }
        };
        let prefix = k.name_prefix.as_deref().unwrap_or("");
        let suffix = k.name_suffix.as_deref().unwrap_or("");
        let ns = k.namespace.as_deref().unwrap_or("");
        let images: Vec<_> = k
            .images
            .iter()
            .chain(k.image_tags.iter())
            .cloned()
            .collect();
        patches::apply_psm(m, ldr, kfile, &k.patches_strategic_merge, meta)?;
        note(
            m,
            "PatchStrategicMergeTransformer",
            usize::from(!k.patches_strategic_merge.is_empty()),
        );
        patches::apply_patches(m, ldr, kfile, &k.patches, meta)?;
        note(m, "PatchTransformer", k.patches.len());
        transform::namespace(m, ns, cfg)?;
        note(m, "NamespaceTransformer", usize::from(!ns.is_empty()));
        // kustomize configures the prefix and suffix transformers only for non-empty values.
        if !prefix.is_empty() {
            transform::affix_fields(m, prefix, true, &cfg.name_prefix)?;
        }
        if !suffix.is_empty() {
            transform::affix_fields(m, suffix, false, &cfg.name_suffix)?;
        }
        note(m, "PrefixTransformer", usize::from(!prefix.is_empty()));
        note(m, "SuffixTransformer", usize::from(!suffix.is_empty()));
        transform::labels(m, k, cfg)?;
        let label_steps = if k.labels.is_empty() && k.common_labels.is_empty() {
            0
        } else {
            k.labels.len() + 1
        };
        note(m, "LabelTransformer", label_steps);
        transform::annotations(m, &k.common_annotations, cfg)?;
        note(
            m,
            "AnnotationsTransformer",
            usize::from(!k.common_annotations.is_empty()),
        );
        patches::apply_json6902_legacy(m, ldr, kfile, &k.patches_json6902)?;
        note(m, "PatchJson6902Transformer", k.patches_json6902.len());
        transform::replicas(m, &k.replicas, kfile, cfg)?;
        note(m, "ReplicaCountTransformer", k.replicas.len());
        transform::images(m, &images, cfg)?;
        note(m, "ImageTagTransformer", images.len());
        patches::apply_replacements(m, ldr, kfile, &k.replacements)?;
        note(
            m,
            "ReplacementTransformer",
            usize::from(!k.replacements.is_empty()),
        );
        if !k.transformers.is_empty() {
            let configs = self.plugin_configs(ldr, kfile, &configured_in, &k.transformers)?;
            let cfg = acc.cfg.effective();
            plugins::transform(&mut acc.res, ldr, kfile, &configs, cfg, meta)?;
        }
        let declared = k
            .vars
            .iter()
            .map(|v| DeclaredVar {
                var: v.clone(),
                file: kfile.to_path_buf(),
            })
            .collect();
        vars::declare(&mut acc.res, &mut acc.vars, declared)
    }

    /// The plugin configuration objects of `generators:` or `transformers:`: each entry is inline
    /// YAML, or a file or kustomization directory whose objects are configurations (as kustomize).
    fn plugin_configs(
        &mut self,
        ldr: &Loader<'_>,
        kfile: &Path,
        configured_in: &str,
        entries: &[String],
    ) -> Result<Vec<plugins::PluginConfig>> {
        let mut inline = Vec::new();
        let mut from_paths = Acc::default();
        for entry in entries {
            let docs = weir_yaml::from_str(entry).ok().filter(|docs| {
                docs.iter().any(|d| !d.is_null())
                    && docs.iter().all(|d| d.is_null() || d.is_object())
            });
            match docs {
                Some(docs) => inline.extend(docs.into_iter().filter(|d| !d.is_null())),
                None => self.accumulate_entry(ldr, kfile, entry, &mut from_paths)?,
            }
        }
        let track = self.track.active();
        let inline = inline.into_iter().map(|obj| plugins::PluginConfig {
            origin: track.then(|| Origin::plugin(configured_in.to_string(), &obj)),
            obj,
        });
        let from_paths = from_paths
            .res
            .list
            .into_iter()
            .map(|r| plugins::PluginConfig {
                origin: r
                    .provenance
                    .as_ref()
                    .map(|o| Origin::plugin(o.path.clone(), &r.obj)),
                obj: r.obj,
            });
        Ok(inline.chain(from_paths).collect())
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
            self.set_schema(&sub, &skfile, &sk, false).map_err(nested)?;
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
            acc.merge_config(&sub_acc.cfg).map_err(|message| {
                Error::new(ErrorKind::InvalidKustomization {
                    file: skfile.clone(),
                    message: format!("configurations: {message}"),
                })
            })?;
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
        let provenance = self
            .track
            .active()
            .then(|| Origin::file(ldr.origin_of(entry)));
        for obj in loader::parse_objects(&file, &bytes)? {
            let mut r = Resource::new(obj, origin.clone());
            r.provenance = provenance.clone().map(Box::new);
            acc.res.append(r)?;
        }
        Ok(())
    }
}

/// kustomize keeps build bookkeeping in annotations and rewrites them at the end: an empty (or null)
/// `metadata.annotations` never reaches the output, and every value is written as a string
/// (`port: 8080` becomes `port: "8080"`).
fn drop_empty_annotations(obj: &mut Value) {
    if let Some(Value::Object(md)) = obj.get_mut("metadata") {
        if let Some(Value::Object(annos)) = md.get_mut("annotations") {
            for v in annos.values_mut() {
                match v {
                    Value::Bool(_) | Value::Number(_) => *v = Value::String(v.to_string()),
                    Value::Null => *v = Value::String(String::new()),
                    _ => {}
                }
            }
        }
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
        ("validators", !k.validators.is_empty()),
        ("helmCharts", !k.helm_charts.is_empty()),
        ("helmGlobals", k.helm_globals.is_some()),
        (
            "helmChartInflationGenerator",
            !k.helm_chart_inflation_generator.is_empty(),
        ),
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
