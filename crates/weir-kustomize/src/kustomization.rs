//! The kustomization file model (`kustomize.config.k8s.io/v1beta1` Kustomization and
//! `v1alpha1` Component), with the legacy fields kustomize v5 still reads.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::selector::Selector;

/// One kustomization file. Field names and meanings are kustomize's; unknown fields are rejected.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Kustomization {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    /// Ignored by the build (kept so files that carry it parse).
    pub metadata: Option<Value>,
    pub resources: Vec<String>,
    /// Legacy: appended to `resources`.
    pub bases: Vec<String>,
    pub components: Vec<String>,
    pub namespace: Option<String>,
    pub name_prefix: Option<String>,
    pub name_suffix: Option<String>,
    /// Legacy: labels added to metadata, selectors and templates.
    pub common_labels: BTreeMap<String, String>,
    pub labels: Vec<Label>,
    pub common_annotations: BTreeMap<String, String>,
    pub patches: Vec<Patch>,
    /// Legacy: file paths or inline strategic-merge patches.
    pub patches_strategic_merge: Vec<String>,
    /// Legacy: JSON6902 patches with a target.
    pub patches_json6902: Vec<Patch>,
    pub images: Vec<Image>,
    /// Legacy name of `images`.
    pub image_tags: Vec<Image>,
    pub replicas: Vec<Replica>,
    /// Legacy `$(VAR)` substitution.
    pub vars: Vec<Var>,
    /// Inline replacements or `{path: file}` entries.
    pub replacements: Vec<ReplacementEntry>,
    pub config_map_generator: Vec<GeneratorArgs>,
    pub secret_generator: Vec<GeneratorArgs>,
    pub generator_options: Option<GeneratorOptions>,
    pub sort_options: Option<SortOptions>,
    /// Files of extra field specs (kustomize's transformer configuration).
    pub configurations: Vec<String>,
    /// OpenAPI definitions of custom kinds whose `x-kubernetes-*` extensions add field specs.
    pub crds: Vec<String>,
    // Fields weir does not implement; a build that uses them fails with `Unsupported`.
    pub generators: Vec<String>,
    pub transformers: Vec<String>,
    pub validators: Vec<String>,
    pub helm_charts: Vec<Value>,
    pub helm_globals: Option<Value>,
    pub helm_chart_inflation_generator: Vec<Value>,
    /// The strategic-merge schema: `{path: file}` (a custom OpenAPI document) or `{version: v1.21.2}`.
    #[serde(rename = "openapi")]
    pub openapi: Option<Value>,
    pub build_metadata: Vec<String>,
}

impl Kustomization {
    /// Parses a kustomization from its YAML text.
    pub fn from_yaml(text: &str) -> Result<Kustomization, ParseError> {
        // kustomize reads kustomization files as YAML 1.1 (sigs.k8s.io/yaml): `yes` is a bool there.
        let docs = weir_yaml::from_str_kustomization(text).map_err(|e| ParseError {
            line: e.line,
            column: e.column,
            message: e.message.to_string(),
        })?;
        let doc = docs.into_iter().next().unwrap_or(Value::Null);
        if doc.is_null() || doc.as_object().is_some_and(|m| m.is_empty()) {
            return Err(ParseError::msg("kustomization file is empty"));
        }
        if !doc.is_object() {
            return Err(ParseError::msg("kustomization file is not a YAML mapping"));
        }
        // kustomize (Go) reads `field:` with no value as unset.
        let mut doc = doc;
        drop_nulls(&mut doc);
        fold_field_case(&mut doc);
        let k: Kustomization = serde_json::from_value(doc).map_err(|e| {
            // serde lists every known field after an unknown one; the field name is what matters.
            let m = e.to_string();
            ParseError::msg(
                m.split(", expected one of")
                    .next()
                    .unwrap_or(&m)
                    .to_string(),
            )
        })?;
        k.check_kind()?;
        Ok(k)
    }

    /// Whether this file is a Component (`kind: Component`).
    pub fn is_component(&self) -> bool {
        self.kind.as_deref() == Some("Component")
    }

    fn check_kind(&self) -> Result<(), ParseError> {
        match self.kind.as_deref() {
            None | Some("Kustomization") => {
                if let Some(v) = self.api_version.as_deref()
                    && v != "kustomize.config.k8s.io/v1beta1"
                {
                    return Err(ParseError::msg(format!(
                        "apiVersion for Kustomization should be kustomize.config.k8s.io/v1beta1, not '{v}'"
                    )));
                }
            }
            Some("Component") => {
                if let Some(v) = self.api_version.as_deref()
                    && v != "kustomize.config.k8s.io/v1alpha1"
                {
                    return Err(ParseError::msg(format!(
                        "apiVersion for Component should be kustomize.config.k8s.io/v1alpha1, not '{v}'"
                    )));
                }
            }
            Some(k) => {
                return Err(ParseError::msg(format!(
                    "kind should be Kustomization or Component, not '{k}'"
                )));
            }
        }
        Ok(())
    }

    /// kustomize's deprecation warnings for the legacy fields this file uses.
    pub fn deprecation_warnings(&self) -> Vec<String> {
        let fix = " Run 'kustomize edit fix' to update your Kustomization automatically.";
        let mut out = Vec::new();
        let mut warn = |used: bool, old: &str, new: &str, extra: &str| {
            if used {
                out.push(format!(
                    "# Warning: '{old}' is deprecated. Please use '{new}' instead.{extra}{fix}"
                ));
            }
        };
        warn(!self.bases.is_empty(), "bases", "resources", "");
        warn(!self.common_labels.is_empty(), "commonLabels", "labels", "");
        warn(!self.image_tags.is_empty(), "imageTags", "images", "");
        warn(
            !self.patches_json6902.is_empty(),
            "patchesJson6902",
            "patches",
            "",
        );
        warn(
            !self.patches_strategic_merge.is_empty(),
            "patchesStrategicMerge",
            "patches",
            "",
        );
        warn(
            !self.vars.is_empty(),
            "vars",
            "replacements",
            " [EXPERIMENTAL]",
        );
        out
    }
}

/// Why a kustomization file did not parse.
#[derive(Debug, Clone)]
pub struct ParseError {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl ParseError {
    fn msg(m: impl Into<String>) -> Self {
        ParseError {
            line: None,
            column: None,
            message: m.into(),
        }
    }
}

/// An entry of `labels`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Label {
    pub pairs: BTreeMap<String, String>,
    pub include_selectors: bool,
    pub include_templates: bool,
    pub fields: Vec<FieldSpecArg>,
}

/// A user-supplied field spec (`labels[].fields`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FieldSpecArg {
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub path: String,
    pub create: bool,
}

/// An entry of `patches` (and of the legacy `patchesJson6902`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Patch {
    pub path: Option<String>,
    pub patch: Option<String>,
    pub target: Option<Selector>,
    pub options: BTreeMap<String, bool>,
}

/// An entry of `images`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Image {
    pub name: String,
    pub new_name: Option<String>,
    pub new_tag: Option<String>,
    pub digest: Option<String>,
}

/// An entry of `replicas`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Replica {
    pub name: String,
    pub count: i64,
}

/// A legacy var.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Var {
    pub name: String,
    pub objref: ObjRef,
    pub fieldref: FieldRef,
}

/// The object a var reads from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjRef {
    pub api_version: Option<String>,
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub name: String,
    pub namespace: Option<String>,
}

/// The field a var reads (dotted path, `metadata.name` when unset).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldRef {
    #[serde(rename = "fieldpath", alias = "fieldPath")]
    pub field_path: Option<String>,
}

/// An entry of `replacements`: a file holding replacements, or one inline.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ReplacementEntry {
    Path { path: String },
    Inline(Value),
}

/// A `configMapGenerator` or `secretGenerator` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneratorArgs {
    pub name: Option<String>,
    pub namespace: Option<String>,
    /// `create` (default), `merge` or `replace`.
    pub behavior: Option<String>,
    pub literals: Vec<String>,
    pub files: Vec<String>,
    pub envs: Vec<String>,
    /// Legacy single env file.
    pub env: Option<String>,
    /// Secret type (secretGenerator only); `Opaque` when unset.
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub options: Option<GeneratorOptions>,
}

/// `generatorOptions` and per-generator `options`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneratorOptions {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub disable_name_suffix_hash: bool,
    pub immutable: bool,
}

/// `sortOptions` (read from the top-level kustomization only).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct SortOptions {
    /// `legacy` (default) or `fifo`.
    pub order: Option<String>,
    pub legacy_sort_options: Option<LegacySortOptions>,
}

/// Kinds placed first and last by the legacy order.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct LegacySortOptions {
    pub order_first: Vec<String>,
    pub order_last: Vec<String>,
}

/// The shape of a kustomization field, for matching keys whatever their case: a struct's fields
/// (with their shapes), a list of one shape, or data whose keys are the user's (kept as written).
enum Shape {
    Struct(&'static [(&'static str, Shape)]),
    List(&'static Shape),
    Data,
}

use Shape::{Data, List, Struct};

const SELECTOR: Shape = Struct(&[
    ("group", Data),
    ("version", Data),
    ("kind", Data),
    ("name", Data),
    ("namespace", Data),
    ("labelSelector", Data),
    ("annotationSelector", Data),
]);
const FIELD_SPEC: Shape = Struct(&[
    ("group", Data),
    ("version", Data),
    ("kind", Data),
    ("path", Data),
    ("create", Data),
]);
const PATCH: Shape = Struct(&[
    ("path", Data),
    ("patch", Data),
    ("target", SELECTOR),
    (
        "options",
        Struct(&[("allowNameChange", Data), ("allowKindChange", Data)]),
    ),
]);
const IMAGE: Shape = Struct(&[
    ("name", Data),
    ("newName", Data),
    ("newTag", Data),
    ("digest", Data),
]);
const GENERATOR_OPTIONS: Shape = Struct(&[
    ("labels", Data),
    ("annotations", Data),
    ("disableNameSuffixHash", Data),
    ("immutable", Data),
]);
const GENERATOR: Shape = Struct(&[
    ("name", Data),
    ("namespace", Data),
    ("behavior", Data),
    ("literals", Data),
    ("files", Data),
    ("envs", Data),
    ("env", Data),
    ("type", Data),
    ("options", GENERATOR_OPTIONS),
]);

/// The kustomization file, as spelled in kustomize's Go types.
const KUSTOMIZATION: &[(&str, Shape)] = &[
    ("apiVersion", Data),
    ("kind", Data),
    ("metadata", Data),
    ("resources", Data),
    ("bases", Data),
    ("components", Data),
    ("namespace", Data),
    ("namePrefix", Data),
    ("nameSuffix", Data),
    ("commonLabels", Data),
    (
        "labels",
        List(&Struct(&[
            ("pairs", Data),
            ("includeSelectors", Data),
            ("includeTemplates", Data),
            ("fields", List(&FIELD_SPEC)),
        ])),
    ),
    ("commonAnnotations", Data),
    ("patches", List(&PATCH)),
    ("patchesStrategicMerge", Data),
    ("patchesJson6902", List(&PATCH)),
    ("images", List(&IMAGE)),
    ("imageTags", List(&IMAGE)),
    (
        "replicas",
        List(&Struct(&[("name", Data), ("count", Data)])),
    ),
    (
        "vars",
        List(&Struct(&[
            ("name", Data),
            (
                "objref",
                Struct(&[
                    ("apiVersion", Data),
                    ("group", Data),
                    ("version", Data),
                    ("kind", Data),
                    ("name", Data),
                    ("namespace", Data),
                ]),
            ),
            ("fieldref", Struct(&[("fieldpath", Data)])),
        ])),
    ),
    ("replacements", Data),
    ("configMapGenerator", List(&GENERATOR)),
    ("secretGenerator", List(&GENERATOR)),
    ("generatorOptions", GENERATOR_OPTIONS),
    (
        "sortOptions",
        Struct(&[
            ("order", Data),
            (
                "legacySortOptions",
                Struct(&[("orderFirst", Data), ("orderLast", Data)]),
            ),
        ]),
    ),
    ("crds", Data),
    ("configurations", Data),
    ("generators", Data),
    ("transformers", Data),
    ("validators", Data),
    ("helmCharts", Data),
    ("helmGlobals", Data),
    ("helmChartInflationGenerator", Data),
    ("openapi", Data),
    ("buildMetadata", Data),
];

/// kustomize decodes kustomization files with Go's JSON rules, where a key matches a field whatever
/// its case (`nameprefix` is `namePrefix`, `Literals` is `literals`), at every level; an exact
/// spelling wins over a folded one. Keys of user data (labels, annotations ...) are kept.
fn fold_field_case(doc: &mut Value) {
    fold(doc, &Struct(KUSTOMIZATION));
}

fn fold(v: &mut Value, shape: &Shape) {
    match (shape, v) {
        (Struct(fields), Value::Object(map)) => {
            if !map
                .keys()
                .all(|k| fields.iter().any(|(f, _)| *f == k.as_str()))
            {
                let old = std::mem::take(map);
                let (exact, folded): (Vec<_>, Vec<_>) = old
                    .into_iter()
                    .partition(|(k, _)| fields.iter().any(|(f, _)| *f == k.as_str()));
                map.extend(exact);
                for (k, v) in folded {
                    let canonical = fields
                        .iter()
                        .find(|(f, _)| f.eq_ignore_ascii_case(&k))
                        .map(|(f, _)| f.to_string());
                    match canonical {
                        Some(c) => {
                            map.entry(c).or_insert(v);
                        }
                        None => {
                            map.insert(k, v);
                        }
                    }
                }
            }
            for (k, child) in map.iter_mut() {
                if let Some((_, s)) = fields.iter().find(|(f, _)| *f == k.as_str()) {
                    fold(child, s);
                }
            }
        }
        (List(item), Value::Array(items)) => items.iter_mut().for_each(|i| fold(i, item)),
        _ => {}
    }
}

fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_fields() {
        let k = Kustomization::from_yaml(
            "resources: [a.yaml]\nnamePrefix: p-\ncommonLabels: {app: x}\n\
             configMapGenerator:\n- name: c\n  literals: [a=b]\nimages:\n- name: nginx\n  newTag: '1.2'\n",
        )
        .unwrap();
        assert_eq!(k.resources, vec!["a.yaml"]);
        assert_eq!(k.name_prefix.as_deref(), Some("p-"));
        assert_eq!(k.images[0].new_tag.as_deref(), Some("1.2"));
        assert_eq!(k.deprecation_warnings().len(), 1);
    }

    #[test]
    fn reads_yaml_1_1_scalars_like_kustomize() {
        // sigs.k8s.io/yaml (go-yaml v2): `yes` is true, and an image named `n` is the bool false,
        // which kustomize rejects ("cannot unmarshal bool into ... Image.images.name").
        let k =
            Kustomization::from_yaml("generatorOptions:\n  disableNameSuffixHash: yes\n").unwrap();
        assert!(
            k.generator_options
                .is_some_and(|o| o.disable_name_suffix_hash)
        );
        assert!(Kustomization::from_yaml("images:\n- name: n\n").is_err());
    }

    #[test]
    fn field_names_match_whatever_their_case() {
        let k =
            Kustomization::from_yaml("nameprefix: p-\nNAMESUFFIX: -s\nnamePrefix: q-\n").unwrap();
        assert_eq!(k.name_prefix.as_deref(), Some("q-"));
        assert_eq!(k.name_suffix.as_deref(), Some("-s"));
    }

    #[test]
    fn rejects_unknown_fields_and_empty_files() {
        assert!(Kustomization::from_yaml("resourcez: [a]\n").is_err());
        assert!(Kustomization::from_yaml("# nothing\n").is_err());
        assert!(Kustomization::from_yaml("kind: Foo\n").is_err());
    }
}
