//! The field-setting transformers of one kustomization level: namespace, name prefix/suffix,
//! labels, annotations, replica counts and images.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::{Map, Value};

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::fieldspec::{FieldSpec, merge_all};
use crate::kustomization::{Image, Kustomization, Replica};
use crate::resid::Gvk;
use crate::resource::{ResMap, Resource, metadata_mut};

/// kustomize's namespace transformer (RoleBinding subjects in "default subjects only" mode).
pub(crate) fn namespace(m: &mut ResMap, ns: &str, cfg: &Config) -> Result<()> {
    if ns.is_empty() {
        return Ok(());
    }
    let specs = &cfg.namespace;
    for i in 0..m.list.len() {
        let r = &mut m.list[i];
        if r.is_empty() {
            continue;
        }
        r.store_previous_id();
        let gvk = Gvk::of(&r.obj);
        if !gvk.is_cluster_scoped() {
            metadata_mut(&mut r.obj).insert("namespace".into(), Value::String(ns.into()));
        }
        if (gvk.kind == "RoleBinding" || gvk.kind == "ClusterRoleBinding")
            && let Some(Value::Array(subjects)) = r.obj.get_mut("subjects")
        {
            for s in subjects {
                if s.get("name").and_then(|n| n.as_str()) == Some("default")
                    && let Some(o) = s.as_object_mut()
                {
                    o.insert("namespace".into(), Value::String(ns.into()));
                }
            }
        }
        let api_version = r
            .obj
            .get("apiVersion")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        for fs in specs {
            if !fs.selects(&gvk) {
                continue;
            }
            // Only core/v1 Namespace objects are renamed.
            if fs.path == "metadata/name" && api_version != "v1" {
                continue;
            }
            fs.visit(&mut r.obj, &mut |v| {
                *v = Value::String(ns.into());
                Ok(())
            })?;
        }
        let id = m.list[i].cur_id();
        if m.list.iter().filter(|x| x.cur_id().same_as(&id)).count() > 1 {
            return Err(Error::new(ErrorKind::DuplicateId {
                id: format!("{id} (after setting namespace '{ns}')"),
                file: (*m.list[i].origin).clone(),
            }));
        }
    }
    Ok(())
}

fn skips_name_affix(gvk: &Gvk) -> bool {
    gvk.kind == "CustomResourceDefinition"
        || gvk.kind == "Namespace"
        || (gvk.kind == "APIService" && gvk.group == "apiregistration.k8s.io")
}

/// A prefix (or suffix) added to the fields of `specs`, as kustomize's Prefix/SuffixTransformer
/// plugins do: `metadata/name` also records the affix and the earlier id (for name references).
pub(crate) fn affix_fields(
    m: &mut ResMap,
    affix: &str,
    is_prefix: bool,
    specs: &[FieldSpec],
) -> Result<()> {
    for r in &mut m.list {
        let org = r.org_id().gvk;
        if skips_name_affix(&org) {
            continue;
        }
        for fs in specs.iter().filter(|fs| fs.selects(&org)) {
            if fs.path == "metadata/name" {
                if is_prefix {
                    r.prefixes.push(affix.to_string());
                } else {
                    r.suffixes.push(affix.to_string());
                }
                if !affix.is_empty() {
                    r.store_previous_id();
                }
            }
            fs.visit(&mut r.obj, &mut |v| {
                let cur = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    _ => return Ok(()),
                };
                *v = Value::String(if is_prefix {
                    format!("{affix}{cur}")
                } else {
                    format!("{cur}{affix}")
                });
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// Sets string entries of the map at each selected field (labels, annotations, selectors).
pub(crate) fn set_map_entries(
    m: &mut ResMap,
    pairs: &BTreeMap<String, String>,
    specs: &[FieldSpec],
) -> Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    for r in &mut m.list {
        let gvk = Gvk::of(&r.obj);
        for fs in specs.iter().filter(|fs| fs.selects(&gvk)) {
            fs.visit(&mut r.obj, &mut |v| {
                if !v.is_object() {
                    *v = Value::Object(Map::new());
                }
                let map = v.as_object_mut().expect("made an object just above");
                for (k, val) in pairs {
                    map.insert(k.clone(), Value::String(val.clone()));
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// `labels` entries (each with its own scope), then `commonLabels`.
pub(crate) fn labels(m: &mut ResMap, k: &Kustomization, c: &Config) -> Result<()> {
    for label in &k.labels {
        let mut specs: Vec<FieldSpec> = label
            .fields
            .iter()
            .map(|f| {
                FieldSpec::new(
                    f.group.as_deref().unwrap_or(""),
                    f.version.as_deref().unwrap_or(""),
                    f.kind.as_deref().unwrap_or(""),
                    &f.path,
                    f.create,
                )
            })
            .collect();
        merge_all(&mut specs, &c.labels);
        if label.include_selectors {
            merge_all(&mut specs, &c.common_labels);
        } else {
            merge_all(&mut specs, &[FieldSpec::any("metadata/labels", true)]);
            if label.include_templates {
                merge_all(&mut specs, &c.template_labels);
            }
        }
        set_map_entries(m, &label.pairs, &specs)?;
    }
    set_map_entries(m, &k.common_labels, &c.common_labels)
}

/// `commonAnnotations`.
pub(crate) fn annotations(
    m: &mut ResMap,
    pairs: &BTreeMap<String, String>,
    cfg: &Config,
) -> Result<()> {
    set_map_entries(m, pairs, &cfg.common_annotations)
}

/// `replicas`: each entry must match a Deployment, ReplicationController, ReplicaSet or StatefulSet
/// by its current or any earlier name.
pub(crate) fn replicas(
    m: &mut ResMap,
    reps: &[Replica],
    kfile: &std::path::Path,
    cfg: &Config,
) -> Result<()> {
    for rep in reps {
        let mut found = false;
        for fs in &cfg.replicas {
            for r in &mut m.list {
                let matches = r
                    .all_ids()
                    .iter()
                    .any(|id| id.name == rep.name && fs.selects(&id.gvk));
                if !matches {
                    continue;
                }
                found = true;
                fs.visit(&mut r.obj, &mut |v| {
                    *v = Value::from(rep.count);
                    Ok(())
                })?;
            }
        }
        if !found {
            return Err(Error::new(ErrorKind::Field {
                file: kfile.to_path_buf(),
                field: format!("replicas[name={}]", rep.name),
                message: format!(
                    "no Deployment, ReplicationController, ReplicaSet or StatefulSet named '{}'",
                    rep.name
                ),
            }));
        }
    }
    Ok(())
}

/// An `images` entry compiled for matching.
struct ImageRule<'a> {
    image: &'a Image,
    pattern: Option<Regex>,
}

/// `images`: every `containers`/`initContainers` list anywhere in an object (kustomize's legacy
/// walk), then the image field specs (image volumes).
pub(crate) fn images(m: &mut ResMap, imgs: &[Image], cfg: &Config) -> Result<()> {
    if imgs.is_empty() {
        return Ok(());
    }
    let rules: Vec<ImageRule<'_>> = imgs
        .iter()
        .map(|image| ImageRule {
            image,
            // kustomize builds this pattern without escaping the name; `*` matches every image.
            pattern: if image.name == "*" {
                Regex::new("").ok()
            } else {
                Regex::new(&format!(
                    "^{}(:[a-zA-Z0-9_.{{}}-]*)?(@sha256:[a-zA-Z0-9_.{{}}-]*)?$",
                    image.name
                ))
                .ok()
            },
        })
        .collect();
    for r in &mut m.list {
        for rule in &rules {
            walk_containers(&mut r.obj, &mut |v| update_image(v, rule));
            // Container images were handled by the walk above; the other image fields (image
            // volumes, fields from `configurations`) by their specs.
            for fs in cfg.images.iter().filter(|f| {
                !f.path.ends_with("containers[]/image") && !f.path.ends_with("Containers[]/image")
            }) {
                fs.visit(&mut r.obj, &mut |v| {
                    update_image(v, rule);
                    Ok(())
                })?;
            }
        }
    }
    Ok(())
}

fn walk_containers(v: &mut Value, f: &mut dyn FnMut(&mut Value)) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if (k == "containers" || k == "initContainers")
                    && let Value::Array(items) = child
                {
                    for item in items.iter_mut() {
                        if let Some(img) = item.get_mut("image") {
                            f(img);
                        }
                    }
                }
                walk_containers(child, f);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| walk_containers(i, f)),
        _ => {}
    }
}

fn update_image(v: &mut Value, rule: &ImageRule<'_>) {
    let Some(current) = v.as_str() else { return };
    let matched = match &rule.pattern {
        Some(re) => re.is_match(current),
        None => false,
    };
    if !matched {
        return;
    }
    let (mut name, mut tag, mut digest) = split_image(current);
    let img = rule.image;
    if let Some(n) = img.new_name.as_deref().filter(|n| !n.is_empty()) {
        name = n.to_string();
    }
    let new_tag = img.new_tag.as_deref().filter(|t| !t.is_empty());
    let new_digest = img.digest.as_deref().filter(|d| !d.is_empty());
    match (new_tag, new_digest) {
        (Some(t), Some(d)) => {
            tag = t.to_string();
            digest = d.to_string();
        }
        (Some(t), None) => {
            tag = t.to_string();
            digest.clear();
        }
        (None, Some(d)) => {
            tag.clear();
            digest = d.to_string();
        }
        (None, None) => {}
    }
    if !tag.is_empty() {
        name.push(':');
        name.push_str(&tag);
    }
    if !digest.is_empty() {
        name.push('@');
        name.push_str(&digest);
    }
    *v = Value::String(name);
}

/// Splits `registry:port/name:tag@digest` into name, tag and digest (kustomize's `image.Split`).
fn split_image(image: &str) -> (String, String, String) {
    let slash = image.find('/').filter(|i| *i > 0).unwrap_or(0);
    let search = &image[slash..];
    let at = search.find('@').map(|i| i + slash);
    let colon = search.find(':').map(|i| i + slash);
    match (colon, at) {
        (None, None) => (image.to_string(), String::new(), String::new()),
        (c, Some(a)) if c.is_none_or(|c| a < c) => (
            image[..a].to_string(),
            String::new(),
            image[a + 1..].to_string(),
        ),
        (Some(c), Some(a)) => (
            image[..c].to_string(),
            image[c + 1..a].to_string(),
            image[a + 1..].to_string(),
        ),
        (Some(c), None) => (
            image[..c].to_string(),
            image[c + 1..].to_string(),
            String::new(),
        ),
        (None, Some(_)) => (image.to_string(), String::new(), String::new()),
    }
}

/// Removes objects annotated `config.kubernetes.io/local-config: "true"` (kustomize's IgnoreLocal).
pub(crate) fn drop_local_config(m: &mut ResMap) {
    m.list.retain(|r: &Resource| {
        r.obj
            .get("metadata")
            .and_then(|md| md.get("annotations"))
            .and_then(|a| a.get("config.kubernetes.io/local-config"))
            .and_then(|v| v.as_str())
            != Some("true")
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_images_like_kustomize() {
        assert_eq!(split_image("nginx"), ("nginx".into(), "".into(), "".into()));
        assert_eq!(
            split_image("nginx:1.2"),
            ("nginx".into(), "1.2".into(), "".into())
        );
        assert_eq!(
            split_image("localhost:5000/app:v1@sha256:abc"),
            (
                "localhost:5000/app".into(),
                "v1".into(),
                "sha256:abc".into()
            )
        );
        assert_eq!(
            split_image("app@sha256:abc"),
            ("app".into(), "".into(), "sha256:abc".into())
        );
    }

    #[test]
    fn image_rule_replaces_tag_and_name() {
        let img = Image {
            name: "nginx".into(),
            new_name: Some("mirror/nginx".into()),
            new_tag: Some("2".into()),
            digest: None,
        };
        let rule = ImageRule {
            image: &img,
            pattern: Regex::new("^nginx(:[a-zA-Z0-9_.{}-]*)?(@sha256:[a-zA-Z0-9_.{}-]*)?$").ok(),
        };
        let mut v = Value::String("nginx:1@sha256:x".into());
        update_image(&mut v, &rule);
        assert_eq!(v, "mirror/nginx:2");
        let mut other = Value::String("nginx-exporter:1".into());
        update_image(&mut other, &rule);
        assert_eq!(other, "nginx-exporter:1");
    }
}
