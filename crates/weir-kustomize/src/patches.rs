//! The patch fields of a kustomization (`patches`, `patchesStrategicMerge`, `patchesJson6902`) and
//! `replacements`: loading, deciding what kind of patch a text is, choosing targets, and handing the
//! object-level work to the patch modules (`smp`, `json6902`, `replacements`, `selector`).

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::kustomization::{Patch, ReplacementEntry};
use crate::loader::Loader;
use crate::patch_meta::{PatchMeta, patch_meta};
use crate::resid::ResId;
use crate::resource::ResMap;
use crate::selector::Selector;
use crate::{json6902, replacements, selector, smp};

/// A patch text after parsing: strategic-merge documents or a JSON6902 operation list.
enum PatchBody {
    Strategic(Vec<Value>),
    Json(Value),
}

/// Decides as kustomize does: a JSON/YAML list of operations is JSON6902, mappings are strategic
/// merge patches.
fn parse_patch(text: &str) -> std::result::Result<PatchBody, String> {
    let docs = weir_yaml::from_str(text)
        .map_err(|e| format!("line {}: {}", e.line.unwrap_or(0), e.message))?;
    let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    match docs.as_slice() {
        [] => Err("the patch is empty".into()),
        [Value::Array(_)] => {
            let mut ops = docs.into_iter().next().unwrap_or(Value::Null);
            if !text.trim_start().starts_with('[') {
                yaml11_bools(&mut ops, text);
            }
            Ok(PatchBody::Json(ops))
        }
        _ if docs.iter().all(Value::is_object) => Ok(PatchBody::Strategic(docs)),
        _ => Err("neither a strategic merge patch (mappings) nor a JSON6902 patch (a list of operations)".into()),
    }
}

/// kustomize converts a YAML JSON6902 patch with go-yaml v2 (YAML 1.1), where unquoted `yes`, `on`,
/// `off`, `y`, `n` ... are booleans. The reader here is YAML 1.2-like, so such words come back as
/// strings; turn them into booleans unless the text quotes them somewhere.
fn yaml11_bools(v: &mut Value, text: &str) {
    match v {
        Value::String(s) => {
            let b = match s.as_str() {
                "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
                "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
                _ => None,
            };
            if let Some(b) = b
                && !text.contains(&format!("\"{s}\""))
                && !text.contains(&format!("'{s}'"))
            {
                *v = Value::Bool(b);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| yaml11_bools(i, text)),
        Value::Object(m) => m.values_mut().for_each(|i| yaml11_bools(i, text)),
        _ => {}
    }
}

struct PatchCtx<'a> {
    kfile: &'a Path,
    label: String,
    /// The strategic-merge schema of the build (built-in, or the kustomization's `openapi`).
    meta: &'a PatchMeta,
}

impl PatchCtx<'_> {
    fn err(&self, message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Patch {
            file: self.kfile.to_path_buf(),
            patch: self.label.clone(),
            message: message.into(),
        })
    }
}

/// `patches`: each entry a file or inline text, with an optional target selector.
pub(crate) fn apply_patches(
    m: &mut ResMap,
    ldr: &Loader<'_>,
    kfile: &Path,
    patches: &[Patch],
    meta: &PatchMeta,
) -> Result<()> {
    for (i, p) in patches.iter().enumerate() {
        let (text, label) = patch_text(ldr, kfile, p, i, "patches")?;
        let ctx = PatchCtx { kfile, label, meta };
        let body = parse_patch(&text).map_err(|e| ctx.err(e))?;
        let allow_name = p.options.get("allowNameChange").copied().unwrap_or(false);
        let allow_kind = p.options.get("allowKindChange").copied().unwrap_or(false);
        match (body, &p.target) {
            (PatchBody::Strategic(docs), None) => {
                for doc in docs {
                    apply_smp_by_id(m, &doc, &ctx, allow_name, allow_kind)?;
                }
            }
            (PatchBody::Strategic(docs), Some(sel)) => {
                let selected = select(m, sel).map_err(|e| ctx.err(e))?;
                for idx in &selected {
                    for doc in &docs {
                        apply_smp_at(m, *idx, doc, &ctx, allow_name, allow_kind)?;
                    }
                }
                m.list.retain(|r| !r.is_empty());
            }
            (PatchBody::Json(_), None) => return Err(ctx.err("a JSON6902 patch needs a target")),
            (PatchBody::Json(ops), Some(sel)) => apply_json_selected(m, sel, &ops, &ctx)?,
        }
    }
    Ok(())
}

/// Legacy `patchesJson6902`.
pub(crate) fn apply_json6902_legacy(
    m: &mut ResMap,
    ldr: &Loader<'_>,
    kfile: &Path,
    patches: &[Patch],
) -> Result<()> {
    for (i, p) in patches.iter().enumerate() {
        let (text, label) = patch_text(ldr, kfile, p, i, "patchesJson6902")?;
        let ctx = PatchCtx {
            kfile,
            label,
            meta: patch_meta(),
        };
        let Some(sel) = &p.target else {
            return Err(ctx.err("a JSON6902 patch needs a target"));
        };
        if sel.name.as_deref().unwrap_or("").is_empty() {
            return Err(ctx.err("the target needs a name"));
        }
        match parse_patch(&text).map_err(|e| ctx.err(e))? {
            PatchBody::Json(ops) => apply_json_selected(m, sel, &ops, &ctx)?,
            PatchBody::Strategic(_) => {
                return Err(ctx.err("expected a list of JSON6902 operations"));
            }
        }
    }
    Ok(())
}

/// Legacy `patchesStrategicMerge`: each entry is inline YAML or a file path.
pub(crate) fn apply_psm(
    m: &mut ResMap,
    ldr: &Loader<'_>,
    kfile: &Path,
    entries: &[String],
    meta: &PatchMeta,
) -> Result<()> {
    let mut loaded = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let inline = weir_yaml::from_str(entry).ok().filter(|docs| {
            !docs.is_empty()
                && docs
                    .iter()
                    .all(|d| d.is_object() && d.get("kind").is_some())
        });
        let (docs, label) = match inline {
            Some(docs) => (docs, format!("patchesStrategicMerge[{i}] (inline)")),
            None => {
                let (path, bytes) = ldr.read(entry, kfile)?;
                let label = format!("'{}'", path.display());
                let text = String::from_utf8(bytes).map_err(|_| {
                    Error::new(ErrorKind::Patch {
                        file: path.clone(),
                        patch: label.clone(),
                        message: "not UTF-8 text".into(),
                    })
                })?;
                let docs =
                    weir_yaml::from_str(&text).map_err(|e| crate::error::yaml_error(&path, e))?;
                (docs, label)
            }
        };
        loaded.push((docs, label));
    }
    // kustomize loads the whole list as one transformer, which refuses to hold no patch at all.
    let empty = |d: &Value| d.is_null() || d.as_object().is_some_and(|m| m.is_empty());
    if !entries.is_empty() && loaded.iter().all(|(docs, _)| docs.iter().all(empty)) {
        return Err(Error::new(ErrorKind::Patch {
            file: kfile.to_path_buf(),
            patch: format!("patchesStrategicMerge {entries:?}"),
            message: "the patches appear to be empty (only comments or empty documents)".into(),
        }));
    }
    for (docs, label) in loaded {
        let ctx = PatchCtx { kfile, label, meta };
        for doc in docs.into_iter().filter(|d| !d.is_null()) {
            if !doc.is_object() {
                return Err(ctx.err("a strategic merge patch must be a mapping"));
            }
            apply_smp_by_id(m, &doc, &ctx, false, false)?;
        }
    }
    Ok(())
}

fn patch_text(
    ldr: &Loader<'_>,
    kfile: &Path,
    p: &Patch,
    i: usize,
    field: &str,
) -> Result<(String, String)> {
    let field_err = |message: &str| {
        Error::new(ErrorKind::Field {
            file: kfile.to_path_buf(),
            field: format!("{field}[{i}]"),
            message: message.into(),
        })
    };
    let inline = p.patch.as_deref().map(str::trim).filter(|s| !s.is_empty());
    match (inline, p.path.as_deref().filter(|s| !s.is_empty())) {
        (Some(_), Some(_)) => Err(field_err("set either 'patch' or 'path', not both")),
        (None, None) => Err(field_err("set one of 'patch' or 'path'")),
        (Some(text), None) => Ok((text.to_string(), format!("{field}[{i}] (inline)"))),
        (None, Some(path)) => {
            let (full, bytes) = ldr.read(path, kfile)?;
            let text = String::from_utf8(bytes)
                .map_err(|_| field_err("the patch file is not UTF-8 text"))?;
            Ok((text, format!("'{}'", full.display())))
        }
    }
}

fn apply_smp_by_id(
    m: &mut ResMap,
    doc: &Value,
    ctx: &PatchCtx<'_>,
    allow_name: bool,
    allow_kind: bool,
) -> Result<()> {
    let id = ResId::of(doc);
    let idx = m
        .find_by_id(&id)
        .map_err(|e| ctx.err(format!("{e}: no unique object for this patch")))?;
    apply_smp_at(m, idx, doc, ctx, allow_name, allow_kind)?;
    m.list.retain(|r| !r.is_empty());
    Ok(())
}

/// kustomize's `ApplySmPatch`: the patch cannot change kind, name or namespace unless allowed.
fn apply_smp_at(
    m: &mut ResMap,
    idx: usize,
    doc: &Value,
    ctx: &PatchCtx<'_>,
    allow_name: bool,
    allow_kind: bool,
) -> Result<()> {
    let r = &mut m.list[idx];
    if r.is_empty() {
        return Ok(());
    }
    if allow_name || allow_kind {
        r.store_previous_id();
    }
    let (name, ns) = (r.name().to_string(), r.namespace().to_string());
    let api = r.obj.get("apiVersion").cloned();
    let kind = r.obj.get("kind").cloned();
    let mut patch = doc.clone();
    if let Some(p) = patch.as_object_mut() {
        // The patch takes the target's identity (kustomize copies GVK and name into it).
        if let Some(a) = &api {
            p.insert("apiVersion".into(), a.clone());
        }
        if !allow_kind && let Some(k) = &kind {
            p.insert("kind".into(), k.clone());
        }
        if !allow_name && let Some(Value::Object(md)) = p.get_mut("metadata") {
            md.insert("name".into(), Value::String(name.clone()));
            if md.contains_key("namespace") {
                md.insert("namespace".into(), Value::String(ns.clone()));
            }
        }
    }
    let options = smp::Options {
        allow_name_change: allow_name,
        allow_kind_change: allow_kind,
    };
    smp::apply_with_meta(&mut r.obj, &patch, options, ctx.meta)
        .map_err(|e| ctx.err(format!("on {}: {e}", describe_id(&name, &kind))))?;
    if r.is_empty() {
        return Ok(());
    }
    if !allow_kind && let (Some(o), Some(k)) = (r.obj.as_object_mut(), kind) {
        o.insert("kind".into(), k);
    }
    if !allow_name {
        r.set_name(&name);
    }
    r.set_namespace(&ns);
    Ok(())
}

fn describe_id(name: &str, kind: &Option<Value>) -> String {
    format!(
        "{} '{}'",
        kind.as_ref().and_then(|k| k.as_str()).unwrap_or("object"),
        name
    )
}

fn apply_json_selected(
    m: &mut ResMap,
    sel: &Selector,
    ops: &Value,
    ctx: &PatchCtx<'_>,
) -> Result<()> {
    let selected = select(m, sel).map_err(|e| ctx.err(e))?;
    for idx in selected {
        let r = &mut m.list[idx];
        r.store_previous_id();
        let who = r.describe();
        json6902::apply(&mut r.obj, ops).map_err(|e| ctx.err(format!("on {who}: {e}")))?;
    }
    Ok(())
}

/// Indexes of objects a selector picks; name and namespace match the original or current values
/// (kustomize's `Select`).
pub(crate) fn select(m: &ResMap, sel: &Selector) -> std::result::Result<Vec<usize>, String> {
    let compiled = sel.compile().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (i, r) in m.list.iter().enumerate() {
        let origin = r.prev_ids.first().map(to_selector_id);
        if compiled.matches_with_origin(&r.obj, origin.as_ref()) {
            out.push(i);
        }
    }
    Ok(out)
}

fn to_selector_id(id: &ResId) -> selector::ResId {
    selector::ResId {
        group: id.gvk.group.clone(),
        version: id.gvk.version.clone(),
        kind: id.gvk.kind.clone(),
        name: id.name.clone(),
        namespace: id.namespace.clone(),
    }
}

/// `replacements`: inline entries or files of them, applied over the whole build so far.
pub(crate) fn apply_replacements(
    m: &mut ResMap,
    ldr: &Loader<'_>,
    kfile: &Path,
    entries: &[ReplacementEntry],
) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut reps: Vec<replacements::Replacement> = Vec::new();
    let parse_err = |file: &Path, message: String| {
        Error::new(ErrorKind::Field {
            file: file.to_path_buf(),
            field: "replacements".into(),
            message,
        })
    };
    for entry in entries {
        match entry {
            ReplacementEntry::Inline(v) => {
                reps.push(
                    serde_json::from_value(v.clone())
                        .map_err(|e| parse_err(kfile, e.to_string()))?,
                );
            }
            ReplacementEntry::Path { path } => {
                let (full, bytes) = ldr.read(path, kfile)?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| parse_err(&full, "not UTF-8 text".into()))?;
                let docs =
                    weir_yaml::from_str(&text).map_err(|e| crate::error::yaml_error(&full, e))?;
                for doc in docs {
                    let items = match doc {
                        Value::Array(items) => items,
                        Value::Null => continue,
                        other => vec![other],
                    };
                    for item in items {
                        reps.push(
                            serde_json::from_value(item)
                                .map_err(|e| parse_err(&full, e.to_string()))?,
                        );
                    }
                }
            }
        }
    }
    let previous: Vec<Vec<selector::ResId>> = m
        .list
        .iter()
        .map(|r| r.prev_ids.iter().map(to_selector_id).collect())
        .collect();
    let mut objs: Vec<&mut Value> = m.list.iter_mut().map(|r| &mut r.obj).collect();
    replacements::apply_with_previous(&mut objs, &previous, &reps).map_err(|e| {
        Error::new(ErrorKind::Field {
            file: kfile.to_path_buf(),
            field: "replacements".into(),
            message: e.to_string(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_patch_kinds_apart() {
        assert!(matches!(
            parse_patch("- op: add\n  path: /a\n  value: 1\n"),
            Ok(PatchBody::Json(_))
        ));
        assert!(matches!(
            parse_patch("[{\"op\": \"remove\", \"path\": \"/a\"}]"),
            Ok(PatchBody::Json(_))
        ));
        assert!(matches!(
            parse_patch("kind: A\nmetadata: {name: x}\n"),
            Ok(PatchBody::Strategic(_))
        ));
        assert!(parse_patch("just text").is_err());
        assert!(parse_patch("").is_err());
    }
}
