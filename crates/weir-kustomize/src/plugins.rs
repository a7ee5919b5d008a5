//! `generators:` and `transformers:` entries that configure kustomize's builtin plugins
//! (`apiVersion: builtin`): each configuration object is read into the same steps the kustomization
//! fields run (a `LabelTransformer` is `labels` with its own field specs, a `ConfigMapGenerator` is a
//! `configMapGenerator` entry ...). Exec, Go and KRM-function plugins are refused, as Flux refuses them.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::fieldspec::FieldSpec;
use crate::generator::{self, GenKind};
use crate::kustomization::{
    GeneratorArgs, GeneratorOptions, Image, Patch, ReplacementEntry, Replica,
};
use crate::loader::Loader;
use crate::origin::Origin;
use crate::patch_meta::PatchMeta;
use crate::resource::{ResMap, Resource};
use crate::selector::Selector;
use crate::{patches, transform};

/// One plugin configuration object and where it was read.
pub(crate) struct PluginConfig {
    pub obj: Value,
    /// Set when `buildMetadata` is: the plugin as generated objects and transformations name it.
    pub origin: Option<Origin>,
}

impl PluginConfig {
    fn kind(&self) -> &str {
        self.obj.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    fn name(&self) -> &str {
        crate::resid::str_at(&self.obj, &["metadata", "name"])
    }

    fn label(&self) -> String {
        format!("{} '{}'", self.kind(), self.name())
    }

    /// Refuses anything but kustomize's builtin plugins.
    fn check_builtin(&self, kfile: &Path, field: &str) -> Result<()> {
        let api = self
            .obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        if api == "builtin" {
            return Ok(());
        }
        Err(Error::new(ErrorKind::Field {
            file: kfile.to_path_buf(),
            field: format!("{field}[{}]", self.label()),
            message: format!(
                "apiVersion '{api}' names an exec, Go or KRM-function plugin; only kustomize's builtin plugins (apiVersion: builtin) are supported, as in Flux"
            ),
        }))
    }

    fn parse<T: DeserializeOwned>(&self, kfile: &Path, field: &str) -> Result<T> {
        serde_json::from_value(self.obj.clone()).map_err(|e| {
            Error::new(ErrorKind::Field {
                file: kfile.to_path_buf(),
                field: format!("{field}[{}]", self.label()),
                message: format!("invalid plugin configuration: {e}"),
            })
        })
    }
}

/// `metadata` of a plugin configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Meta {
    name: String,
    namespace: String,
}

/// A field spec in a plugin configuration (unknown keys ignored, as kustomize reads them).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Spec {
    group: String,
    version: String,
    kind: String,
    path: String,
    create: bool,
}

fn specs(list: &[Spec]) -> Vec<FieldSpec> {
    list.iter()
        .map(|s| FieldSpec::new(&s.group, &s.version, &s.kind, &s.path, s.create))
        .collect()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct GeneratorPlugin {
    metadata: Meta,
    name: Option<String>,
    namespace: Option<String>,
    behavior: Option<String>,
    literals: Vec<String>,
    files: Vec<String>,
    envs: Vec<String>,
    env: Option<String>,
    #[serde(rename = "type")]
    type_: Option<String>,
    options: Option<GeneratorOptions>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct IamPolicyGenerator {
    cloud: String,
    kubernetes_service: IamK8sService,
    service_account: IamServiceAccount,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct IamK8sService {
    name: String,
    namespace: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct IamServiceAccount {
    name: String,
    project_id: String,
}

/// Runs the generator plugins configured by `configs`; each object joins the build as a
/// `configMapGenerator`/`secretGenerator` entry's would.
pub(crate) fn generate(
    m: &mut ResMap,
    ldr: &Loader<'_>,
    kfile: &Path,
    configs: &[PluginConfig],
) -> Result<()> {
    const FIELD: &str = "generators";
    for c in configs {
        c.check_builtin(kfile, FIELD)?;
        let kind = match c.kind() {
            "ConfigMapGenerator" => GenKind::ConfigMap,
            "SecretGenerator" => GenKind::Secret,
            "IAMPolicyGenerator" => {
                let p: IamPolicyGenerator = c.parse(kfile, FIELD)?;
                let mut r = iam_policy(&p, kfile, c)?;
                r.provenance = c.origin.clone().map(Box::new);
                m.absorb(r)?;
                continue;
            }
            other => return Err(unsupported(kfile, FIELD, c, other)),
        };
        let p: GeneratorPlugin = c.parse(kfile, FIELD)?;
        let args = GeneratorArgs {
            name: p
                .name
                .filter(|n| !n.is_empty())
                .or(Some(p.metadata.name).filter(|n| !n.is_empty())),
            namespace: p
                .namespace
                .filter(|n| !n.is_empty())
                .or(Some(p.metadata.namespace).filter(|n| !n.is_empty())),
            behavior: p.behavior,
            literals: p.literals,
            files: p.files,
            envs: p.envs,
            env: p.env,
            type_: p.type_,
            options: p.options,
        };
        let mut r = generator::generate(ldr, kfile, kind, &args, None)?;
        r.provenance = c.origin.clone().map(Box::new);
        m.absorb(r)?;
    }
    Ok(())
}

/// kustomize's GKE `IAMPolicyGenerator`: a ServiceAccount bound to a Google service account.
fn iam_policy(p: &IamPolicyGenerator, kfile: &Path, c: &PluginConfig) -> Result<Resource> {
    if p.cloud != "gke" {
        return Err(Error::new(ErrorKind::Field {
            file: kfile.to_path_buf(),
            field: format!("generators[{}]", c.label()),
            message: format!("cloud provider '{}' not supported (only 'gke')", p.cloud),
        }));
    }
    let mut md = serde_json::Map::new();
    md.insert(
        "annotations".into(),
        serde_json::json!({
            "iam.gke.io/gcp-service-account":
                format!("{}@{}.iam.gserviceaccount.com", p.service_account.name, p.service_account.project_id)
        }),
    );
    md.insert(
        "name".into(),
        Value::String(p.kubernetes_service.name.clone()),
    );
    if !p.kubernetes_service.namespace.is_empty() {
        md.insert(
            "namespace".into(),
            Value::String(p.kubernetes_service.namespace.clone()),
        );
    }
    let obj = serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": md});
    Ok(Resource::new(obj, std::sync::Arc::new(kfile.to_path_buf())))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct AffixPlugin {
    prefix: String,
    suffix: String,
    field_specs: Option<Vec<Spec>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct NamespacePlugin {
    metadata: Meta,
    field_specs: Vec<Spec>,
    unset_only: bool,
    set_role_binding_subjects: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct MapPlugin {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    field_specs: Vec<Spec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PatchPlugin {
    path: Option<String>,
    patch: Option<String>,
    target: Option<Selector>,
    options: BTreeMap<String, bool>,
    /// PatchJson6902Transformer's inline operations.
    json_op: Option<String>,
    /// PatchStrategicMergeTransformer's files and inline patches.
    paths: Vec<String>,
    patches: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ImagePlugin {
    image_tag: Image,
    field_specs: Option<Vec<Spec>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ReplicaPlugin {
    replica: Replica,
    field_specs: Option<Vec<Spec>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ReplacementPlugin {
    replacements: Vec<ReplacementEntry>,
}

/// Runs the transformer plugins configured by `configs`, in order, over the objects so far.
pub(crate) fn transform(
    m: &mut ResMap,
    ldr: &Loader<'_>,
    kfile: &Path,
    configs: &[PluginConfig],
    cfg: &Config,
    meta: &PatchMeta,
) -> Result<()> {
    const FIELD: &str = "transformers";
    for c in configs {
        c.check_builtin(kfile, FIELD)?;
        match c.kind() {
            k @ ("PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer") => {
                let p: AffixPlugin = c.parse(kfile, FIELD)?;
                let fs = match &p.field_specs {
                    Some(list) => specs(list),
                    None => vec![FieldSpec::any("metadata/name", false)],
                };
                if k != "SuffixTransformer" {
                    transform::affix_fields(m, &p.prefix, true, &fs)?;
                }
                if k != "PrefixTransformer" {
                    transform::affix_fields(m, &p.suffix, false, &fs)?;
                }
            }
            "NamespaceTransformer" => {
                let p: NamespacePlugin = c.parse(kfile, FIELD)?;
                if p.unset_only
                    || p.set_role_binding_subjects
                        .as_deref()
                        .is_some_and(|s| s != "defaultOnly")
                {
                    return Err(unsupported(
                        kfile,
                        FIELD,
                        c,
                        "NamespaceTransformer with unsetOnly or setRoleBindingSubjects other than defaultOnly",
                    ));
                }
                // metadata/namespace is set by the transformer itself.
                let own = Config {
                    namespace: specs(&p.field_specs)
                        .into_iter()
                        .filter(|f| f.path != "metadata/namespace")
                        .collect(),
                    ..Config::default()
                };
                transform::namespace(m, &p.metadata.namespace, &own)?;
            }
            "LabelTransformer" => {
                let p: MapPlugin = c.parse(kfile, FIELD)?;
                transform::set_map_entries(m, &p.labels, &specs(&p.field_specs))?;
            }
            "AnnotationsTransformer" => {
                let p: MapPlugin = c.parse(kfile, FIELD)?;
                transform::set_map_entries(m, &p.annotations, &specs(&p.field_specs))?;
            }
            "PatchTransformer" => {
                let p: PatchPlugin = c.parse(kfile, FIELD)?;
                let patch = Patch {
                    path: p.path,
                    patch: p.patch,
                    target: p.target,
                    options: p.options,
                };
                patches::apply_patches(m, ldr, kfile, &[patch], meta)?;
            }
            "PatchJson6902Transformer" => {
                let p: PatchPlugin = c.parse(kfile, FIELD)?;
                let patch = Patch {
                    path: p.path,
                    patch: p.json_op,
                    target: p.target,
                    options: BTreeMap::new(),
                };
                patches::apply_json6902_legacy(m, ldr, kfile, &[patch])?;
            }
            "PatchStrategicMergeTransformer" => {
                let p: PatchPlugin = c.parse(kfile, FIELD)?;
                let mut entries = p.paths;
                entries.extend(p.patches);
                patches::apply_psm(m, ldr, kfile, &entries, meta)?;
            }
            "ImageTagTransformer" => {
                let p: ImagePlugin = c.parse(kfile, FIELD)?;
                let own = with_specs(cfg, p.field_specs.as_deref(), |c| &mut c.images);
                transform::images(m, &[p.image_tag], &own)?;
            }
            "ReplicaCountTransformer" => {
                let p: ReplicaPlugin = c.parse(kfile, FIELD)?;
                let own = with_specs(cfg, p.field_specs.as_deref(), |c| &mut c.replicas);
                transform::replicas(m, &[p.replica], kfile, &own)?;
            }
            "ReplacementTransformer" => {
                let p: ReplacementPlugin = c.parse(kfile, FIELD)?;
                patches::apply_replacements(m, ldr, kfile, &p.replacements)?;
            }
            // kustomize keeps SortOrderTransformer to the top-level `sortOptions` field.
            "SortOrderTransformer" => {
                return Err(unsupported(
                    kfile,
                    FIELD,
                    c,
                    "SortOrderTransformer (use the top-level 'sortOptions' field)",
                ));
            }
            other => return Err(unsupported(kfile, FIELD, c, other)),
        }
        if let Some(by) = &c.origin {
            crate::origin::note_transformer(&mut m.list, by);
        }
    }
    Ok(())
}

/// The build's field specs with one list replaced by the plugin's own, when it gives some.
fn with_specs(
    cfg: &Config,
    own: Option<&[Spec]>,
    list: impl Fn(&mut Config) -> &mut Vec<FieldSpec>,
) -> Config {
    let mut out = cfg.clone();
    if let Some(own) = own {
        *list(&mut out) = specs(own);
    }
    out
}

fn unsupported(kfile: &Path, field: &str, c: &PluginConfig, what: &str) -> Error {
    Error::new(ErrorKind::Field {
        file: kfile.to_path_buf(),
        field: format!("{field}[{}]", c.label()),
        message: format!("builtin plugin '{what}' is not supported by weir's kustomize engine"),
    })
}
