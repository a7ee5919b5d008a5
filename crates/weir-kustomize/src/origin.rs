//! `buildMetadata`: where each object came from (`config.kubernetes.io/origin`), which transformers
//! touched it (`alpha.config.kubernetes.io/transformations`) and the `app.kubernetes.io/managed-by`
//! label, as kustomize writes them. Paths are relative to the directory being built.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::resource::{Resource, metadata_mut};

pub(crate) const ORIGIN_ANNOTATION: &str = "config.kubernetes.io/origin";
pub(crate) const TRANSFORMATIONS_ANNOTATION: &str = "alpha.config.kubernetes.io/transformations";
pub(crate) const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// What kustomize built into kubectl and into Flux's controllers reports as its version.
pub(crate) const MANAGED_BY_VALUE: &str = "kustomize-(devel)";

/// The `buildMetadata` options of the top-level kustomization.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Tracking {
    pub origins: bool,
    pub transformations: bool,
    pub managed_by: bool,
    /// `buildMetadata` is not empty (kustomize then tracks origins, written or not).
    pub any: bool,
}

impl Tracking {
    /// Reads `buildMetadata`, with the options kustomize does not know (it ignores them).
    pub fn from_options(options: &[String]) -> (Tracking, Vec<String>) {
        let mut t = Tracking {
            any: !options.is_empty(),
            ..Tracking::default()
        };
        let mut unknown = Vec::new();
        for o in options {
            match o.as_str() {
                "originAnnotations" => t.origins = true,
                "transformerAnnotations" => t.transformations = true,
                "managedByLabel" => t.managed_by = true,
                other => unknown.push(other.to_string()),
            }
        }
        (t, unknown)
    }

    /// kustomize tracks origins whenever `buildMetadata` is set at all.
    pub fn active(&self) -> bool {
        self.any
    }
}

/// The plugin (builtin or configured) that generated or transformed an object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ConfiguredBy {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

/// kustomize's `resource.Origin`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Origin {
    pub path: String,
    pub configured_in: String,
    pub configured_by: Option<ConfiguredBy>,
}

impl Origin {
    /// An object read from a file.
    pub fn file(path: String) -> Origin {
        Origin {
            path,
            ..Origin::default()
        }
    }

    /// A builtin generator or transformer configured by a kustomization field.
    pub fn builtin(configured_in: String, kind: &str) -> Origin {
        Origin {
            configured_in,
            configured_by: Some(ConfiguredBy {
                api_version: "builtin".into(),
                kind: kind.into(),
                ..ConfiguredBy::default()
            }),
            ..Origin::default()
        }
    }

    /// A plugin configured by an object (`generators:`/`transformers:`), read from `configured_in`.
    pub fn plugin(configured_in: String, config: &Value) -> Origin {
        let s = |path: &[&str]| crate::resid::str_at(config, path).to_string();
        Origin {
            configured_in,
            configured_by: Some(ConfiguredBy {
                api_version: s(&["apiVersion"]),
                kind: s(&["kind"]),
                name: s(&["metadata", "name"]),
                namespace: s(&["metadata", "namespace"]),
            }),
            ..Origin::default()
        }
    }

    /// The YAML mapping kustomize writes, each line indented by `indent` (the first by `first`).
    fn write(&self, out: &mut String, first: &str, indent: &str) {
        let mut lead = first;
        let mut line = |out: &mut String, text: String| {
            out.push_str(lead);
            out.push_str(&text);
            out.push('\n');
            lead = indent;
        };
        if !self.path.is_empty() {
            line(out, format!("path: {}", self.path));
        }
        if !self.configured_in.is_empty() {
            line(out, format!("configuredIn: {}", self.configured_in));
        }
        if let Some(by) = &self.configured_by {
            line(out, "configuredBy:".into());
            for (k, v) in [
                ("apiVersion", &by.api_version),
                ("kind", &by.kind),
                ("name", &by.name),
                ("namespace", &by.namespace),
            ] {
                if !v.is_empty() {
                    line(out, format!("  {k}: {v}"));
                }
            }
        }
    }

    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, "", "");
        out
    }
}

/// The YAML list kustomize writes for the transformations annotation.
pub(crate) fn transformations_yaml(list: &[Origin]) -> String {
    let mut out = String::new();
    for o in list {
        o.write(&mut out, "- ", "  ");
    }
    out
}

/// After a transformer ran over `list` (kustomize's `AddTransformerAnnotation`): objects without an
/// origin get the transformer's, the others record it as a transformation.
pub(crate) fn note_transformer(list: &mut [Resource], by: &Origin) {
    for r in list {
        match r.provenance {
            None => r.provenance = Some(Box::new(by.clone())),
            Some(_) => r.transformations.push(by.clone()),
        }
    }
}

/// Writes the requested build metadata into each object.
pub(crate) fn write(list: &mut [Resource], t: Tracking) {
    for r in list {
        if t.origins
            && let Some(o) = &r.provenance
        {
            set(&mut r.obj, "annotations", ORIGIN_ANNOTATION, o.to_yaml());
        }
        if t.transformations && !r.transformations.is_empty() {
            let text = transformations_yaml(&r.transformations);
            set(&mut r.obj, "annotations", TRANSFORMATIONS_ANNOTATION, text);
        }
        if t.managed_by {
            set(
                &mut r.obj,
                "labels",
                MANAGED_BY_LABEL,
                MANAGED_BY_VALUE.into(),
            );
        }
    }
}

fn set(obj: &mut Value, field: &str, key: &str, value: String) {
    let md = metadata_mut(obj);
    let map = md
        .entry(field)
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if !map.is_object() {
        *map = Value::Object(serde_json::Map::new());
    }
    if let Some(m) = map.as_object_mut() {
        m.insert(key.into(), Value::String(value));
    }
}

/// Go's `filepath.Join` for relative paths: joined, then cleaned lexically (`a/../b` is `b`, leading
/// `..` kept).
pub(crate) fn join(base: &Path, rel: &str) -> PathBuf {
    let mut out: Vec<String> = Vec::new();
    for c in base.join(rel).components() {
        match c {
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            Component::ParentDir => {
                if out.last().is_some_and(|l| l != "..") {
                    out.pop();
                } else {
                    out.push("..".into());
                }
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    out.iter().collect()
}

/// A relative path as kustomize prints it (forward slashes).
pub(crate) fn display(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_like_go() {
        assert_eq!(display(&join(Path::new(""), "../base")), "../base");
        assert_eq!(
            display(&join(Path::new("../base"), "./ns.yaml")),
            "../base/ns.yaml"
        );
        assert_eq!(display(&join(Path::new("a/b"), "../../../c")), "../c");
    }

    #[test]
    fn writes_origins_like_kustomize() {
        assert_eq!(Origin::file("a.yaml".into()).to_yaml(), "path: a.yaml\n");
        let b = Origin::builtin("kustomization.yaml".into(), "PrefixTransformer");
        assert_eq!(
            transformations_yaml(&[b]),
            "- configuredIn: kustomization.yaml\n  configuredBy:\n    apiVersion: builtin\n    kind: PrefixTransformer\n"
        );
        let (t, unknown) = Tracking::from_options(&["nope".into()]);
        assert!(t.active() && !t.origins);
        assert_eq!(unknown, ["nope"]);
    }
}
