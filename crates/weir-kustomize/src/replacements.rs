//! kustomize's `replacements` (api/filters/replacement): copy a value from one object into fields of
//! others.
//!
//! The source is picked by exact resource id (name, namespace, group, version, kind; current or
//! earlier id) and must be unique. Its `fieldPath` is read with kyaml's `PathGetter` rules
//! (`a.b`, `list.0`, `list.-`, `list.[key=value]` exact, `[a.b/c]` for keys with dots); target
//! `fieldPaths` with kyaml's `PathMatcher` rules, where `[key=value]` is an **unanchored regular
//! expression** (`[name=app]` also picks `app-sidecar`, as in kustomize) and `*` matches every item.
//! A scalar target keeps its type and takes the source's text (`"8080"` into `replicas: 1` gives
//! `8080`; text that does not fit a number, boolean or null target is an error, as kustomize's YAML
//! decoder reports it); other targets are replaced by the source value.
//! A field made by `create` is an untagged YAML node in kyaml and stays one: text written into it
//! resolves as plain YAML each time, also on later writes within the same call.
//!
//! # Deviation
//! That untagged state lasts for one [`apply`] call here; kyaml keeps it for the rest of the build
//! (until a JSON patch round-trips the object), so replacements of a parent kustomization writing
//! into a field a base's replacements created may type it differently.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::selector::{CompiledSelector, ResId, Selector};

/// A replacement that could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `source` or `targets` is missing.
    #[error("replacements must specify a source and at least one target")]
    Incomplete,
    /// No object has the source id.
    #[error("nothing selected by {selector}")]
    SourceNotFound { selector: String },
    /// More than one object has the source id.
    #[error("multiple matches for selector {selector}")]
    SourceNotUnique { selector: String },
    /// The source field is missing or empty.
    #[error("fieldPath `{field_path}` is missing for replacement source {selector}")]
    SourceFieldMissing {
        field_path: String,
        selector: String,
    },
    /// A path could not be walked (wrong node kind, bad `[k=v]` segment, bad regex).
    #[error("{field_path:?}: {problem}")]
    BadPath { field_path: String, problem: String },
    /// `options.delimiter` on a map or list.
    #[error("delimiter option can only be used with scalar nodes")]
    DelimiterOnNonScalar,
    /// The source `options.index` is outside the split value.
    #[error("options.index {index} is out of bounds for value {value}")]
    IndexOutOfBounds { index: i64, value: String },
    /// A target has no `select`.
    #[error("target must specify resources to select")]
    NoTargetSelect,
    /// The target field does not exist (and `create` is off) in an object the target selects.
    #[error("unable to find field {field_path:?} in replacement target {object}")]
    TargetFieldMissing { field_path: String, object: String },
    /// The target field could not be created.
    #[error("unable to find or create field {field_path:?} in replacement target {object}")]
    TargetFieldNotCreated { field_path: String, object: String },
    /// The text does not fit the type of the scalar it replaces.
    #[error("cannot set {text:?} into the {target_kind} at {field_path:?} in {object}")]
    TypeMismatch {
        text: String,
        target_kind: &'static str,
        field_path: String,
        object: String,
    },
    /// A replacement left an object without a usable `metadata.name` (a map, a list, empty).
    #[error("missing metadata.name in object {object} after replacements")]
    MissingName { object: String },
    /// A target selector does not compile.
    #[error(transparent)]
    Selector(#[from] crate::selector::Error),
}

/// One entry of `replacements`.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Replacement {
    /// The object and field the value is read from; required.
    pub source: Option<ReplacementSource>,
    /// Where the value is written; required.
    pub targets: Option<Vec<TargetSelector>>,
}

/// Where the value comes from.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReplacementSource {
    /// Exact API group (not a regex, unlike patch targets).
    pub group: Option<String>,
    /// Exact API version.
    pub version: Option<String>,
    /// Exact kind.
    pub kind: Option<String>,
    /// Exact name, current or earlier.
    pub name: Option<String>,
    /// Exact namespace; `default` also matches objects without one.
    pub namespace: Option<String>,
    /// Defaults to `metadata.name`.
    pub field_path: Option<String>,
    pub options: Option<FieldOptions>,
}

/// Where the value goes.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetSelector {
    /// The objects to write to: exact id fields plus label and annotation selectors; required.
    pub select: Option<Selector>,
    /// Objects to leave out: by exact id, or by label/annotation selector.
    #[serde(default)]
    pub reject: Vec<Selector>,
    /// Defaults to `[metadata.name]`.
    #[serde(default)]
    pub field_paths: Vec<String>,
    pub options: Option<FieldOptions>,
}

/// `options` of a source or target.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FieldOptions {
    /// Split the scalar at this string and use (source) or replace (target) one part.
    #[serde(default)]
    pub delimiter: String,
    /// The part; on a target, below 0 prepends and past the end appends.
    #[serde(default)]
    pub index: i64,
    /// Accepted and ignored, as in kustomize v5.5.
    #[serde(default)]
    pub encoding: String,
    /// Create missing target fields (maps, list items, `[k=v]` items).
    #[serde(default)]
    pub create: bool,
}

const DEFAULT_FIELD_PATH: &str = "metadata.name";

/// Applies the replacements in order to the objects of a build (by their current ids).
pub fn apply(resources: &mut [&mut Value], reps: &[Replacement]) -> Result<(), Error> {
    let previous = vec![Vec::new(); resources.len()];
    apply_with_previous(resources, &previous, reps)
}

/// [`apply`], where `previous[i]` holds the earlier ids of `resources[i]` (before renames), which
/// select it as well, as kustomize's `previousNames` annotations do.
pub fn apply_with_previous(
    resources: &mut [&mut Value],
    previous: &[Vec<ResId>],
    reps: &[Replacement],
) -> Result<(), Error> {
    let ids: Vec<Vec<ResId>> = resources
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let current = ResId::of(r);
            let mut all = vec![current.clone()];
            for p in previous.get(i).into_iter().flatten() {
                // earlier ids take the current group and version, as kustomize's PrevIds
                all.push(ResId {
                    group: current.group.clone(),
                    version: current.version.clone(),
                    ..p.clone()
                });
            }
            all
        })
        .collect();
    let mut untagged = Untagged::new();
    for rep in reps {
        let (Some(source), Some(targets)) = (&rep.source, &rep.targets) else {
            return Err(Error::Incomplete);
        };
        let value = source_value(resources, &ids, source)?;
        for target in targets {
            apply_target(resources, &ids, &value, target, &mut untagged)?;
        }
    }
    // kustomize rebuilds its resource map afterwards, which needs a name on every object
    for obj in resources.iter() {
        if obj
            .pointer("/metadata/name")
            .is_none_or(|n| scalar_text(n).is_empty())
        {
            return Err(Error::MissingName {
                object: describe(obj),
            });
        }
    }
    Ok(())
}

/// A selector's resource-id part, as kustomize's `ResId.IsSelectedBy`: exact, empty fields match all.
struct IdPattern {
    group: String,
    version: String,
    kind: String,
    name: String,
    namespace: String,
}

impl IdPattern {
    fn is_empty(&self) -> bool {
        [
            &self.group,
            &self.version,
            &self.kind,
            &self.name,
            &self.namespace,
        ]
        .iter()
        .all(|s| s.is_empty())
    }

    fn selects(&self, id: &ResId) -> bool {
        let as_id = ResId {
            group: self.group.clone(),
            version: self.version.clone(),
            kind: self.kind.clone(),
            name: self.name.clone(),
            namespace: self.namespace.clone(),
        };
        (self.name.is_empty() || self.name == id.name)
            && (self.namespace.is_empty()
                || as_id.effective_namespace() == id.effective_namespace())
            && (self.group.is_empty() || self.group == id.group)
            && (self.version.is_empty() || self.version == id.version)
            && (self.kind.is_empty() || self.kind == id.kind)
    }

    fn describe(&self) -> String {
        let or = |s: &str, d: &str| {
            if s.is_empty() {
                d.to_string()
            } else {
                s.to_string()
            }
        };
        format!(
            "{}.{}.{}/{}.{}",
            or(&self.kind, "[noKind]"),
            or(&self.version, "[noVer]"),
            or(&self.group, "[noGrp]"),
            or(&self.name, "[noName]"),
            or(&self.namespace, "[noNs]")
        )
    }
}

fn text(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

fn source_pattern(s: &ReplacementSource) -> IdPattern {
    IdPattern {
        group: text(&s.group),
        version: text(&s.version),
        kind: text(&s.kind),
        name: text(&s.name),
        namespace: text(&s.namespace),
    }
}

fn selector_pattern(s: &Selector) -> IdPattern {
    IdPattern {
        group: text(&s.group),
        version: text(&s.version),
        kind: text(&s.kind),
        name: text(&s.name),
        namespace: text(&s.namespace),
    }
}

fn source_value(
    resources: &[&mut Value],
    ids: &[Vec<ResId>],
    source: &ReplacementSource,
) -> Result<Value, Error> {
    let pattern = source_pattern(source);
    let mut selector = pattern.describe();
    if let Some(path) = source.field_path.as_deref().filter(|p| !p.is_empty()) {
        selector = format!("{selector}:{path}");
    }
    let mut found: Option<usize> = None;
    for (i, obj_ids) in ids.iter().enumerate() {
        if obj_ids.iter().any(|id| pattern.selects(id)) {
            if found.is_some() {
                return Err(Error::SourceNotUnique { selector });
            }
            found = Some(i);
        }
    }
    let Some(index) = found else {
        return Err(Error::SourceNotFound { selector });
    };
    let field_path = source
        .field_path
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_FIELD_PATH.to_string());
    let segments = split_path(&field_path);
    let value = get_path(resources[index], &segments, &field_path)?;
    let value = match value {
        Some(v) if !is_nil_or_empty(v) => v.clone(),
        _ => {
            return Err(Error::SourceFieldMissing {
                field_path,
                selector: pattern.describe(),
            });
        }
    };
    match &source.options {
        Some(o) if !o.delimiter.is_empty() => {
            if value.is_object() || value.is_array() {
                return Err(Error::DelimiterOnNonScalar);
            }
            let whole = scalar_text(&value);
            let parts: Vec<&str> = whole.split(o.delimiter.as_str()).collect();
            let part = usize::try_from(o.index)
                .ok()
                .and_then(|i| parts.get(i))
                .ok_or_else(|| Error::IndexOutOfBounds {
                    index: o.index,
                    value: whole.clone(),
                })?;
            Ok(retag(&value, part))
        }
        _ => Ok(value),
    }
}

/// The source node with new text and its old type where the text fits it.
fn retag(original: &Value, text: &str) -> Value {
    match original {
        Value::Number(_) => text
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| text.parse::<f64>().map(Value::from))
            .unwrap_or_else(|_| Value::String(text.to_string())),
        Value::Bool(_) => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(text.to_string()),
        },
        _ => Value::String(text.to_string()),
    }
}

fn apply_target(
    resources: &mut [&mut Value],
    ids: &[Vec<ResId>],
    value: &Value,
    target: &TargetSelector,
    untagged: &mut Untagged,
) -> Result<(), Error> {
    let Some(select) = &target.select else {
        return Err(Error::NoTargetSelect);
    };
    let select_labels = label_part(select).compile()?;
    let rejects_labels: Vec<CompiledSelector> = target
        .reject
        .iter()
        .filter(|r| {
            r.annotation_selector
                .as_deref()
                .is_some_and(|s| !s.is_empty())
                || r.label_selector.as_deref().is_some_and(|s| !s.is_empty())
        })
        .map(|r| label_part(r).compile())
        .collect::<Result<_, _>>()?;
    let select_id = selector_pattern(select);
    let reject_ids: Vec<IdPattern> = target
        .reject
        .iter()
        .map(selector_pattern)
        .filter(|p| !p.is_empty())
        .collect();
    let default_paths = [DEFAULT_FIELD_PATH.to_string()];
    let field_paths: &[String] = if target.field_paths.is_empty() {
        &default_paths
    } else {
        &target.field_paths
    };
    for (i, obj) in resources.iter_mut().enumerate() {
        if !select_labels.matches(obj) || rejects_labels.iter().any(|r| r.matches(obj)) {
            continue;
        }
        let obj_ids = &ids[i];
        let selected = obj_ids.iter().any(|id| select_id.selects(id));
        let rejected = reject_ids
            .iter()
            .any(|r| obj_ids.iter().any(|id| r.selects(id)));
        if selected && !rejected {
            copy_to_target(i, obj, value, target, field_paths, untagged)?;
        }
    }
    Ok(())
}

/// The label and annotation selectors of a selector alone.
fn label_part(s: &Selector) -> Selector {
    Selector {
        label_selector: s.label_selector.clone(),
        annotation_selector: s.annotation_selector.clone(),
        ..Selector::default()
    }
}

/// Fields made by `create` so far, per object index and path: kyaml keeps them untagged, so text
/// written into them later resolves as plain YAML again.
type Untagged = std::collections::HashSet<(usize, Vec<String>)>;

fn copy_to_target(
    index: usize,
    obj: &mut Value,
    value: &Value,
    target: &TargetSelector,
    field_paths: &[String],
    untagged: &mut Untagged,
) -> Result<(), Error> {
    let create = target.options.as_ref().is_some_and(|o| o.create);
    let object = describe(obj);
    for field_path in field_paths {
        let segments = split_path(field_path);
        let string_map = segments.len() == 3
            && segments[0] == "metadata"
            && (segments[1] == "annotations" || segments[1] == "labels");
        let mut count = 0usize;
        let mut outcome = Ok(());
        visit(
            obj,
            &segments,
            create,
            Created::No,
            &mut Vec::new(),
            &mut |field, created, trail| {
                count += 1;
                if outcome.is_err() {
                    return;
                }
                let key = (index, trail.to_vec());
                let created = if created == Created::No && untagged.contains(&key) {
                    Created::Scalar
                } else {
                    created
                };
                outcome = set_field(
                    field,
                    value,
                    target.options.as_ref(),
                    field_path,
                    &object,
                    created,
                    string_map,
                );
                if outcome.is_ok()
                    && created != Created::No
                    && !field.is_object()
                    && !field.is_array()
                {
                    untagged.insert(key);
                }
            },
        )
        .map_err(|problem| Error::BadPath {
            field_path: field_path.clone(),
            problem,
        })?;
        outcome?;
        if count == 0 {
            return Err(if create {
                Error::TargetFieldNotCreated {
                    field_path: field_path.clone(),
                    object,
                }
            } else {
                Error::TargetFieldMissing {
                    field_path: field_path.clone(),
                    object,
                }
            });
        }
    }
    Ok(())
}

fn describe(obj: &Value) -> String {
    let id = ResId::of(obj);
    if id.namespace.is_empty() {
        format!("{} {}", id.kind, id.name)
    } else {
        format!("{} {}/{}", id.kind, id.namespace, id.name)
    }
}

/// Whether (and how) the path walk created the target node, which decides its YAML type.
#[derive(Clone, Copy, PartialEq)]
enum Created {
    /// The node existed: it keeps its type.
    No,
    /// Created with the source value's kind and no tag (a missing field or list index).
    AsValue,
    /// Created as an untagged scalar from a `[=value]` segment.
    Scalar,
}

/// kustomize's `setFieldValue`.
fn set_field(
    field: &mut Value,
    value: &Value,
    options: Option<&FieldOptions>,
    field_path: &str,
    object: &str,
    created: Created,
    string_map: bool,
) -> Result<(), Error> {
    let mut value = value.clone();
    let delimited = options.is_some_and(|o| !o.delimiter.is_empty());
    if created == Created::Scalar && !delimited && (value.is_object() || value.is_array()) {
        // kyaml copies only the text of a scalar target; a map or list has none
        *field = Value::Null;
        return Ok(());
    }
    if created != Created::No
        && !field.is_object()
        && !field.is_array()
        && options.is_none_or(|o| o.delimiter.is_empty())
    {
        // a created node has the source's kind and no tag: scalars resolve as plain YAML text,
        // except in the string maps of metadata
        *field = if string_map {
            Value::String(scalar_text(&value))
        } else if value.is_object() || value.is_array() {
            value
        } else {
            resolve_plain(&scalar_text(&value))
        };
        return Ok(());
    }
    if let Some(o) = options.filter(|o| !o.delimiter.is_empty()) {
        // a node created for a map or list value has that kind
        let created_container =
            created == Created::AsValue && (value.is_object() || value.is_array());
        if field.is_object() || field.is_array() || created_container {
            return Err(Error::DelimiterOnNonScalar);
        }
        let current = scalar_text(field);
        let mut parts: Vec<String> = current
            .split(o.delimiter.as_str())
            .map(str::to_string)
            .collect();
        let v = scalar_text(&value);
        match usize::try_from(o.index) {
            Err(_) => parts.insert(0, v),
            Ok(i) if i >= parts.len() => parts.push(v),
            Ok(i) => parts[i] = v,
        }
        value = Value::String(parts.join(&o.delimiter));
    }
    if field.is_object() || field.is_array() {
        *field = value;
        return Ok(());
    }
    if value.is_object() || value.is_array() {
        // kyaml copies only the text of a scalar target; a map or list has none
        *field = retyped(field, "", created != Created::No, field_path, object)?;
        return Ok(());
    }
    let text = scalar_text(&value);
    *field = retyped(field, &text, created != Created::No, field_path, object)?;
    Ok(())
}

/// The scalar `field` holding `text`, keeping its YAML type as kyaml keeps the node's tag.
fn retyped(
    field: &Value,
    text: &str,
    created: bool,
    field_path: &str,
    object: &str,
) -> Result<Value, Error> {
    let mismatch = |target_kind: &'static str| Error::TypeMismatch {
        text: text.to_string(),
        target_kind,
        field_path: field_path.to_string(),
        object: object.to_string(),
    };
    if created {
        // a created node has no tag: the text resolves as a plain YAML scalar
        return Ok(resolve_plain(text));
    }
    match field {
        Value::String(_) => Ok(Value::String(text.to_string())),
        Value::Number(n) => match resolve_plain(text) {
            Value::Number(m) if n.is_f64() || !m.is_f64() => Ok(Value::Number(m)),
            _ => Err(mismatch(if n.is_f64() { "float" } else { "integer" })),
        },
        Value::Bool(_) => match resolve_plain(text) {
            b @ Value::Bool(_) => Ok(b),
            _ => Err(mismatch("boolean")),
        },
        Value::Null => match resolve_plain(text) {
            Value::Null => Ok(Value::Null),
            _ => Err(mismatch("null")),
        },
        _ => Ok(Value::String(text.to_string())),
    }
}

/// How go-yaml v3 resolves an untagged plain scalar (the common forms).
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '_')
        && let Ok(i) = text.replace('_', "").parse::<i64>()
    {
        return Value::from(i);
    }
    let looks_float = text
        .chars()
        .all(|c| c.is_ascii_digit() || "+-.eE_".contains(c))
        && text.chars().any(|c| c.is_ascii_digit());
    if looks_float && let Ok(f) = text.replace('_', "").parse::<f64>() {
        return Value::from(f);
    }
    Value::String(text.to_string())
}

/// kyaml `SmarterPathSplitter(path, ".")`: `\.` escapes a dot; `[...]` groups keep their dots, and
/// lose their brackets unless they hold `=`.
pub fn split_path(path: &str) -> Vec<String> {
    let mut parts: Vec<&str> = path.split('.').collect();
    if parts.len() > 1 && parts[0].is_empty() {
        parts.remove(0);
    }
    let mut joined: Vec<String> = Vec::new();
    for part in parts {
        match joined.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push('.');
                last.push_str(part);
            }
            _ => joined.push(part.to_string()),
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < joined.len() {
        let elem = &joined[i];
        if elem.starts_with('[') && !elem.ends_with(']') {
            let mut bracketed = vec![elem.clone()];
            while i < joined.len() - 1 {
                i += 1;
                bracketed.push(joined[i].clone());
                if joined[i].ends_with(']') {
                    break;
                }
            }
            let s = bracketed.join(".");
            if s.contains('=') {
                out.push(s);
            } else {
                out.push(s.trim_matches(|c| c == '[' || c == ']').to_string());
            }
        } else {
            out.push(elem.clone());
        }
        i += 1;
    }
    out
}

fn is_list_index(p: &str) -> bool {
    p.starts_with('[') && p.ends_with(']')
}

/// kyaml `SplitIndexNameValue`: `[key=value]` into its key and value.
fn split_index(p: &str) -> Result<(String, String), String> {
    let inner = p.strip_prefix('[').unwrap_or(p);
    let inner = inner.strip_suffix(']').unwrap_or(inner);
    match inner.split_once('=') {
        Some((k, v)) => Ok((k.to_string(), v.to_string())),
        None => Err(
            "list path element must contain fieldName=fieldValue for element to match".to_string(),
        ),
    }
}

/// kyaml `PathGetter` (no create): the node at the path, `None` when missing.
fn get_path<'a>(
    root: &'a Value,
    segments: &[String],
    field_path: &str,
) -> Result<Option<&'a Value>, Error> {
    let bad = |problem: String| Error::BadPath {
        field_path: field_path.to_string(),
        problem,
    };
    let mut current = root;
    for part in segments.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if current.is_null() {
            return Ok(None);
        }
        let next = if let Ok(idx) = part.parse::<i64>() {
            if idx < 0 {
                return Err(bad(format!("array index {idx} cannot be negative")));
            }
            let list = current
                .as_array()
                .ok_or_else(|| bad(format!("{part:?} indexes a {}", kind_name(current))))?;
            usize::try_from(idx).ok().and_then(|i| list.get(i))
        } else if part == "-" {
            let list = current
                .as_array()
                .ok_or_else(|| bad(format!("{part:?} indexes a {}", kind_name(current))))?;
            list.last()
        } else if part == "*" {
            return Err(bad("wildcard is not supported in PathGetter".into()));
        } else if is_list_index(part) {
            let (key, want) = split_index(part).map_err(bad)?;
            let list = current.as_array().ok_or_else(|| {
                bad(format!(
                    "{part:?} selects items of a {}",
                    kind_name(current)
                ))
            })?;
            if key.is_empty() {
                list.iter().find(|e| scalar_text(e) == want)
            } else {
                list.iter().find(|e| {
                    e.as_object()
                        .and_then(|m| m.get(&key))
                        .is_some_and(|v| scalar_text(v) == want)
                })
            }
        } else {
            let map = current
                .as_object()
                .ok_or_else(|| bad(format!("field {part:?} of a {}", kind_name(current))))?;
            map.get(part)
        };
        match next {
            Some(v) => current = v,
            None => return Ok(None),
        }
    }
    Ok(Some(current))
}

/// kyaml `PathMatcher` with optional create: calls `found` for every node the path reaches, with
/// whether that node was created here (`created` says so for `node` itself); `Err` says why the path
/// cannot be walked.
fn visit(
    node: &mut Value,
    segments: &[String],
    create: bool,
    created: Created,
    trail: &mut Vec<String>,
    found: &mut dyn FnMut(&mut Value, Created, &[String]),
) -> Result<(), String> {
    let Some((part, rest)) = segments.split_first() else {
        found(node, created, trail);
        return Ok(());
    };
    let next_kind = |rest: &[String]| -> Value {
        match rest.first() {
            Some(p) if is_list_index(p) || p.parse::<usize>().is_ok() => Value::Array(Vec::new()),
            Some(_) => Value::Object(Map::new()),
            None => Value::Null,
        }
    };
    if let Ok(idx) = part.parse::<usize>() {
        let Value::Array(list) = node else {
            return Err(format!("{part:?} indexes a {}", kind_name(node)));
        };
        let mut new_here = Created::No;
        if list.len() == idx && create {
            list.push(next_kind(rest));
            new_here = Created::AsValue;
        }
        let len = list.len();
        let Some(elem) = list.get_mut(idx) else {
            return Err(format!(
                "index {idx} specified but only {len} elements found"
            ));
        };
        trail.push(idx.to_string());
        let result = visit(elem, rest, create, new_here, trail, found);
        trail.pop();
        return result;
    }
    if is_list_index(part) {
        let (key, pattern) = split_index(part)?;
        let re = regex::Regex::new(&pattern)
            .map_err(|e| format!("invalid regular expression {pattern:?}: {e}"))?;
        let Value::Array(list) = node else {
            return Err(format!("{part:?} selects items of a {}", kind_name(node)));
        };
        let mut matched = 0usize;
        for (i, elem) in list.iter_mut().enumerate() {
            let text = if key.is_empty() {
                Some(scalar_text(elem))
            } else {
                elem.as_object()
                    .and_then(|m| m.get(&key))
                    .filter(|v| !v.is_null())
                    .map(scalar_text)
            };
            if text.is_some_and(|t| re.is_match(t.trim())) {
                matched += 1;
                trail.push(i.to_string());
                let result = visit(elem, rest, create, Created::No, trail, found);
                trail.pop();
                result?;
            }
        }
        if matched == 0 && create {
            // kyaml creates untagged scalars: the pattern text resolves as plain YAML
            let elem = if key.is_empty() {
                resolve_plain(&pattern)
            } else {
                let mut m = Map::new();
                m.insert(key.clone(), resolve_plain(&pattern));
                Value::Object(m)
            };
            list.push(elem);
            trail.push((list.len() - 1).to_string());
            let last = list.last_mut().expect("just pushed");
            let how = if key.is_empty() {
                Created::Scalar
            } else {
                Created::No
            };
            let result = visit(last, rest, create, how, trail, found);
            trail.pop();
            return result;
        }
        return Ok(());
    }
    if part == "*" {
        let Value::Array(list) = node else {
            return Err(format!("\"*\" matches items of a {}", kind_name(node)));
        };
        for (i, elem) in list.iter_mut().enumerate() {
            trail.push(i.to_string());
            let result = visit(elem, rest, create, Created::No, trail, found);
            trail.pop();
            result?;
        }
        return Ok(());
    }
    match node {
        // kyaml "creates" below a null by appending to a scalar node: the field counts as found and
        // the output does not change
        Value::Null if create => {
            let mut scratch = next_kind(rest);
            // a scratch node is never seen again: no trail of its own
            trail.push("\0".to_string());
            let result = visit(&mut scratch, rest, create, Created::AsValue, trail, found);
            trail.pop();
            result
        }
        Value::Null => Ok(()),
        Value::Object(map) => {
            let mut new_here = Created::No;
            if !map.contains_key(part.as_str()) {
                if !create {
                    return Ok(());
                }
                map.insert(part.clone(), next_kind(rest));
                new_here = Created::AsValue;
            }
            let child = map
                .get_mut(part.as_str())
                .expect("present or just inserted");
            trail.push(part.clone());
            let result = visit(child, rest, create, new_here, trail, found);
            trail.pop();
            result
        }
        other => Err(format!("field {part:?} of a {}", kind_name(other))),
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

fn scalar_text(v: &Value) -> String {
    crate::smp::scalar_text(v)
}

fn is_nil_or_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(mut objs: Vec<Value>, reps: Value) -> Result<Vec<Value>, Error> {
        let reps: Vec<Replacement> = serde_json::from_value(reps).expect("replacements parse");
        let mut refs: Vec<&mut Value> = objs.iter_mut().collect();
        apply(&mut refs, &reps)?;
        Ok(objs)
    }

    fn fixture() -> Vec<Value> {
        vec![
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "src"}, "data": {"port": "8080", "word": "abc", "tag": "1.2.3"}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app"}, "spec": {"replicas": 1, "template": {"spec": {"containers": [
                {"name": "app", "image": "nginx:1.0", "env": [{"name": "A", "value": "x"}, {"name": "B"}]},
                {"name": "app-sidecar", "image": "side:1.0"}]}}}}),
            json!({"apiVersion": "example.com/v1", "kind": "W", "metadata": {"name": "w"}, "spec": {"num": 3, "s": "q", "b": true, "lst": ["a", "b"]}}),
        ]
    }

    /// The same input through `kubectl kustomize` (kustomize v5.5.0) gives these values.
    #[test]
    fn values_should_land_typed_as_in_kustomize() {
        let out = run(fixture(), json!([
            {"source": {"kind": "ConfigMap", "name": "src", "fieldPath": "data.port"}, "targets": [
                {"select": {"kind": "Deployment"}, "fieldPaths": ["spec.replicas", "spec.template.spec.containers.[name=app].env.[name=A].value"]},
                {"select": {"kind": "W"}, "fieldPaths": ["spec.num", "spec.s", "spec.lst"]}]},
            {"source": {"kind": "ConfigMap", "name": "src", "fieldPath": "data.word"}, "targets": [
                {"select": {"kind": "W"}, "fieldPaths": ["spec.word"], "options": {"create": true}}]},
            {"source": {"kind": "ConfigMap", "name": "src", "fieldPath": "data.tag", "options": {"delimiter": ".", "index": 1}}, "targets": [
                {"select": {"kind": "Deployment"}, "fieldPaths": ["spec.template.spec.containers.[name=app].image"], "options": {"delimiter": ":", "index": 1}},
                {"select": {"kind": "W"}, "fieldPaths": ["metadata.annotations.[a.b/c]", "spec.new.0.x"], "options": {"create": true}}]}
        ])).expect("applies");
        let d = &out[1]["spec"];
        assert_eq!(d["replicas"], json!(8080));
        assert_eq!(
            d["template"]["spec"]["containers"][0]["env"][0]["value"],
            json!("8080")
        );
        assert_eq!(
            d["template"]["spec"]["containers"][0]["image"],
            json!("nginx:2")
        );
        // `[name=app]` is an unanchored regular expression in target paths
        assert_eq!(
            d["template"]["spec"]["containers"][1]["image"],
            json!("side:2")
        );
        let w = &out[2];
        assert_eq!(w["spec"]["num"], json!(8080));
        assert_eq!(w["spec"]["s"], json!("8080"));
        assert_eq!(w["spec"]["lst"], json!("8080"));
        assert_eq!(w["spec"]["word"], json!("abc"));
        assert_eq!(w["spec"]["new"], json!([{"x": 2}]));
        assert_eq!(w["metadata"]["annotations"]["a.b/c"], json!("2"));
    }

    #[test]
    fn errors_should_match_kustomize() {
        let src = json!({"kind": "ConfigMap", "name": "src", "fieldPath": "data.port"});
        let cases = [
            json!([{"source": {"kind": "ConfigMap", "name": "nope"}, "targets": [{"select": {"kind": "W"}}]}]),
            json!([{"source": {"kind": "ConfigMap", "name": "src", "fieldPath": "data.none"}, "targets": [{"select": {"kind": "W"}}]}]),
            json!([{"source": src, "targets": [{"select": {"kind": "W"}, "fieldPaths": ["spec.b"]}]}]),
            json!([{"source": src, "targets": [{"select": {"kind": "Deployment"}, "fieldPaths": ["spec.template.spec.containers.[name=app].env.[name=B].value"]}]}]),
            json!([{"source": src, "targets": [{"reject": [{"kind": "W"}]}]}]),
            json!([{"source": src}]),
            json!([{"source": {"kind": "ConfigMap", "name": "src", "fieldPath": "data.tag", "options": {"delimiter": ".", "index": 5}}, "targets": [{"select": {"kind": "W"}}]}]),
        ];
        for reps in cases {
            assert!(run(fixture(), reps.clone()).is_err(), "{reps} should fail");
        }
        let mut two = fixture();
        two.push(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "src", "namespace": "other"}}));
        let reps = json!([{"source": {"kind": "ConfigMap", "name": "src"}, "targets": [{"select": {"kind": "W"}}]}]);
        assert!(matches!(run(two, reps), Err(Error::SourceNotUnique { .. })));
    }

    #[test]
    fn rejects_and_previous_ids_should_select() {
        let reps: Vec<Replacement> = serde_json::from_value(json!([
            {"source": {"kind": "ConfigMap", "name": "src", "fieldPath": "data.word"},
             "targets": [{"select": {"name": "app|w"}, "reject": [{"kind": "W"}], "fieldPaths": ["metadata.labels.x"], "options": {"create": true}}]}
        ])).expect("parse");
        let mut objs = fixture();
        objs[0]["metadata"]["name"] = json!("pre-src");
        let previous = vec![
            vec![ResId {
                kind: "ConfigMap".into(),
                name: "src".into(),
                ..ResId::default()
            }],
            vec![],
            vec![],
        ];
        let mut refs: Vec<&mut Value> = objs.iter_mut().collect();
        apply_with_previous(&mut refs, &previous, &reps).expect("applies");
        // names in selectors are exact, not regexes, so "app|w" selects nothing
        assert!(objs[1]["metadata"].get("labels").is_none());
    }

    #[test]
    fn paths_should_split_as_kyaml() {
        let cases = [
            ("a.b.c", vec!["a", "b", "c"]),
            (
                "metadata.annotations.[config.kubernetes.io/x]",
                vec!["metadata", "annotations", "config.kubernetes.io/x"],
            ),
            (
                "spec.containers.[name=a.b].image",
                vec!["spec", "containers", "[name=a.b]", "image"],
            ),
            ("a\\.b.c", vec!["a.b", "c"]),
            (".a.b", vec!["a", "b"]),
        ];
        for (path, want) in cases {
            assert_eq!(split_path(path), want, "{path}");
        }
    }
}
