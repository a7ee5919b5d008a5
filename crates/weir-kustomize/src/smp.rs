//! Strategic merge patch as kustomize v5.5 applies it (kyaml's `merge2` walker, lists prepended).
//!
//! Maps merge recursively; a `null` value deletes a key. Lists whose OpenAPI schema has the `merge`
//! patch strategy merge by their merge keys ([`crate::patch_meta`]); all other lists are replaced.
//! Directives: `$patch: delete | replace | merge` on maps and list items, and a `- $patch: replace |
//! delete | merge` item in a merge list. Merged lists hold the patch's items first, in patch order,
//! then the target's untouched items in target order (kyaml `MergeOptionsListPrepend`). A top-level
//! `$patch: replace` changes nothing (kustomize keeps its own node), `$patch: delete` removes the object.
//!
//! The list-merge algorithm is a port of kyaml's `walk.setAssociativeSequenceElements`, including its
//! quirks: lists merged by two keys (container `ports` by `containerPort` + `protocol`) can drop a
//! patch item whose second key is unset while a target item with the same first key sets it.
//!
//! # Deviation
//! kyaml walks a list or map that only the patch has against itself (one node as target and patch);
//! this port uses copies plus what that aliasing makes visible (elided directives, replaced items,
//! deletions). Differential fuzzing against kubectl found no remaining difference, but an input
//! that relies on other effects of that aliasing could still come out differently.
//! kustomize v5.5 does **not** implement the
//! apimachinery-only directives `$retainKeys`, `$setElementOrder/<field>` and
//! `$deleteFromPrimitiveList/<field>`: they are merged as ordinary keys, and so they are here.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::patch_meta::{PatchMeta, Schema, patch_meta};

/// A strategic merge patch that could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The patch and the target disagree on the kind of node at a path.
    #[error("strategic merge at {path}: expected {expected} but the patch or target has {found}")]
    KindMismatch {
        path: String,
        expected: &'static str,
        found: &'static str,
    },
    /// A `$patch` directive names no known strategy.
    #[error("strategic merge at {path}: unknown patch strategy {value:?}")]
    UnknownDirective { path: String, value: String },
    /// A list merged by key holds an item that is not a map.
    #[error("strategic merge at {path}: list item is a {found}, not a map with merge key {key:?}")]
    NotAMapItem {
        path: String,
        key: String,
        found: &'static str,
    },
    /// The patch is not a map.
    #[error("strategic merge patch must be a map, got a {found}")]
    PatchNotAMap { found: &'static str },
}

/// Options of kustomize's patch entries (`options.allowNameChange`, `options.allowKindChange`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Keep the name set by the patch instead of restoring the target's.
    pub allow_name_change: bool,
    /// Keep the kind set by the patch instead of restoring the target's.
    pub allow_kind_change: bool,
}

/// Applies `patch` to `target` in place, as kustomize's patch transformer does: the patch takes the
/// target's `apiVersion`; the target's kind, name and namespace are restored afterwards.
///
/// When the patch deletes the whole object (`$patch: delete` at its top), `target` becomes
/// `Value::Null`: the caller drops it from the build.
pub fn apply(target: &mut Value, patch: &Value) -> Result<(), Error> {
    apply_with(target, patch, Options::default())
}

/// [`apply`] with the patch entry's options.
pub fn apply_with(target: &mut Value, patch: &Value, options: Options) -> Result<(), Error> {
    apply_with_meta(target, patch, options, patch_meta())
}

/// [`apply_with`] using other patch metadata: a kustomization's `openapi: {path: ...}` schema
/// ([`PatchMeta::from_openapi`]), which kustomize uses instead of the built-in one.
pub fn apply_with_meta(
    target: &mut Value,
    patch: &Value,
    options: Options,
    meta: &PatchMeta,
) -> Result<(), Error> {
    if !patch.is_object() {
        return Err(Error::PatchNotAMap {
            found: kind_name(patch),
        });
    }
    let kind = target.get("kind").cloned();
    let name = target.pointer("/metadata/name").cloned();
    let namespace = target
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut patch = patch.clone();
    if let (Some(api_version), Some(p)) = (target.get("apiVersion"), patch.as_object_mut()) {
        p.insert("apiVersion".into(), api_version.clone());
    }
    let merged = walk(Some(target), Some(&patch), None, meta, &mut Vec::new())?;
    match merged {
        // kustomize keeps its resource node and only looks at whether the merge cleared it, so a
        // top-level `$patch: replace` (which yields a new node) leaves the object as it was
        Outcome::Dest | Outcome::Value(_) => {}
        Outcome::Clear => *target = Value::Null,
    }
    if is_nil_or_empty(target) {
        *target = Value::Null;
        return Ok(());
    }
    let Some(obj) = target.as_object_mut() else {
        return Ok(());
    };
    if !options.allow_kind_change {
        obj.insert(
            "kind".into(),
            kind.unwrap_or_else(|| Value::String(String::new())),
        );
    }
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    if let Some(meta) = meta.as_object_mut() {
        if !options.allow_name_change {
            meta.insert(
                "name".into(),
                name.unwrap_or_else(|| Value::String(String::new())),
            );
        }
        if namespace.is_empty() {
            meta.remove("namespace");
        } else {
            meta.insert("namespace".into(), Value::String(namespace));
        }
    }
    Ok(())
}

/// What a walk step produced, mirroring kyaml's node identity: the destination node (possibly changed
/// in place), another node, or nothing (the field is cleared).
enum Outcome {
    Dest,
    Value(Value),
    Clear,
}

#[derive(Clone, Copy, PartialEq)]
enum Directive {
    Merge,
    Replace,
    Delete,
}

const DIRECTIVE: &str = "$patch";

/// kyaml `Walker.Walk` over the sources `[dest, origin]`.
fn walk<'m>(
    dest: Option<&mut Value>,
    origin: Option<&Value>,
    schema: Option<Schema<'m>>,
    meta: &'m PatchMeta,
    path: &mut Vec<String>,
) -> Result<Outcome, Error> {
    let schema =
        schema.or_else(|| schema_of(dest.as_deref(), meta).or_else(|| schema_of(origin, meta)));
    let kind = [dest.as_deref(), origin]
        .into_iter()
        .flatten()
        .find(|v| !v.is_null())
        .map(node_kind);
    match kind {
        None | Some(NodeKind::Map) => {
            check_kinds(NodeKind::Map, dest.as_deref(), origin, path)?;
            walk_map(dest, origin, schema, meta, path)
        }
        Some(NodeKind::Seq) => {
            check_kinds(NodeKind::Seq, dest.as_deref(), origin, path)?;
            if schema.is_some_and(|s| s.is_merge_list()) {
                walk_associative(dest, origin, schema, meta, path)
            } else {
                Ok(match origin {
                    Some(o) => Outcome::Value(o.clone()),
                    None => Outcome::Dest,
                })
            }
        }
        Some(NodeKind::Scalar) => {
            check_kinds(NodeKind::Scalar, dest.as_deref(), origin, path)?;
            Ok(match origin {
                Some(o) => Outcome::Value(o.clone()),
                None => Outcome::Dest,
            })
        }
    }
}

/// kyaml `Walker.GetSchema`: a map with `apiVersion` and `kind` brings its kind's schema.
fn schema_of<'m>(node: Option<&Value>, meta: &'m PatchMeta) -> Option<Schema<'m>> {
    let obj = node?.as_object()?;
    let api_version = obj.get("apiVersion").map(scalar_text)?;
    let kind = obj.get("kind").map(scalar_text)?;
    if api_version.is_empty() || kind.is_empty() {
        return None;
    }
    meta.schema_for(&api_version, &kind)
}

fn walk_map<'m>(
    dest: Option<&mut Value>,
    origin: Option<&Value>,
    schema: Option<Schema<'m>>,
    meta: &'m PatchMeta,
    path: &mut Vec<String>,
) -> Result<Outcome, Error> {
    // kyaml Merger.VisitMap
    let dest_missing = dest.as_deref().is_none_or(Value::is_null);
    let mut owned: Value;
    // the patch without its directive; borrowed when there is none (the common case)
    let (target, origin_elided, outcome_is_dest): (&mut Value, Option<Cow<'_, Value>>, bool) =
        if dest_missing {
            let (directive, elided) = match origin {
                Some(o) => map_directive(o, path).unwrap_or((Directive::Merge, None)),
                None => (Directive::Merge, None),
            };
            if directive == Directive::Delete {
                return Ok(Outcome::Clear);
            }
            match origin {
                None => {
                    // a null in the target that the patch does not touch stays
                    return Ok(if dest.is_some() {
                        Outcome::Dest
                    } else {
                        Outcome::Clear
                    });
                }
                Some(o) => {
                    owned = elided.unwrap_or_else(|| o.clone());
                    let snapshot = owned.clone();
                    (&mut owned, Some(Cow::Owned(snapshot)), false)
                }
            }
        } else {
            let dest = dest.expect("dest is present when not missing");
            match origin {
                Some(Value::Null) => return Ok(Outcome::Clear),
                None => (dest, None, true),
                Some(o) => {
                    let (directive, elided) = map_directive(o, path)?;
                    if elided.is_some() {
                        elide_aliased_directive(dest, o);
                    }
                    match directive {
                        Directive::Delete => return Ok(Outcome::Clear),
                        Directive::Replace => {
                            owned = elided.unwrap_or_else(|| o.clone());
                            let snapshot = owned.clone();
                            (&mut owned, Some(Cow::Owned(snapshot)), false)
                        }
                        Directive::Merge => {
                            let origin = elided.map_or(Cow::Borrowed(o), Cow::Owned);
                            (dest, Some(origin), true)
                        }
                    }
                }
            }
        };
    if target.is_object() {
        merge_fields(target, origin_elided.as_deref(), schema, meta, path)?;
    }
    Ok(if outcome_is_dest {
        Outcome::Dest
    } else {
        Outcome::Value(std::mem::take(target))
    })
}

/// kyaml `Walker.walkMap`'s field loop: every field of either side, in sorted order.
fn merge_fields<'m>(
    target: &mut Value,
    origin: Option<&Value>,
    schema: Option<Schema<'m>>,
    meta: &'m PatchMeta,
    path: &mut Vec<String>,
) -> Result<(), Error> {
    let mut names: Vec<String> = target
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    if let Some(o) = origin.and_then(Value::as_object) {
        names.extend(o.keys().cloned());
    }
    names.sort();
    names.dedup();
    for name in names {
        let field_schema = schema.and_then(|s| s.field(&name));
        let origin_field = origin.and_then(|o| o.get(&name));
        path.push(name.clone());
        let obj = target.as_object_mut().expect("target is a map");
        let outcome = walk(obj.get_mut(&name), origin_field, field_schema, meta, path)?;
        path.pop();
        match outcome {
            Outcome::Dest => {}
            Outcome::Clear | Outcome::Value(Value::Null) => {
                obj.remove(&name);
            }
            Outcome::Value(v) => {
                obj.insert(name, v);
            }
        }
    }
    Ok(())
}

/// A map the patch added is walked against itself in kyaml (target and patch are one node), so
/// eliding the patch's directive removes it from the target as well.
fn elide_aliased_directive(dest: &mut Value, origin: &Value) {
    if let (Some(d), Some(directive)) = (dest.as_object_mut(), origin.get(DIRECTIVE))
        && d.get(DIRECTIVE) == Some(directive)
    {
        d.remove(DIRECTIVE);
    }
}

/// kyaml `determineMappingNodePatchStrategy`: the directive and the patch without it.
fn map_directive(patch: &Value, path: &[String]) -> Result<(Directive, Option<Value>), Error> {
    let Some(obj) = patch.as_object() else {
        return Ok((Directive::Merge, None));
    };
    let Some(value) = obj.get(DIRECTIVE) else {
        return Ok((Directive::Merge, None));
    };
    let text = scalar_text(value);
    let directive = parse_directive(&text).ok_or_else(|| Error::UnknownDirective {
        path: path_text(path),
        value: text.clone(),
    })?;
    let mut elided = obj.clone();
    elided.remove(DIRECTIVE);
    Ok((directive, Some(Value::Object(elided))))
}

fn parse_directive(text: &str) -> Option<Directive> {
    match text {
        "merge" => Some(Directive::Merge),
        "replace" => Some(Directive::Replace),
        "delete" => Some(Directive::Delete),
        _ => None,
    }
}

/// kyaml `determineSequenceNodePatchStrategy`: a `- $patch: x` item (alone in its map) directs the list.
fn list_directive(
    patch: &[Value],
    path: &[String],
) -> Result<(Directive, Option<Vec<Value>>), Error> {
    let found = patch
        .iter()
        .find_map(|item| item.as_object().filter(|m| m.contains_key(DIRECTIVE)));
    let Some(item) = found else {
        return Ok((Directive::Merge, None));
    };
    if item.len() > 1 {
        return Ok((Directive::Merge, None));
    }
    let text = scalar_text(&item[DIRECTIVE]);
    let directive = parse_directive(&text).ok_or_else(|| Error::UnknownDirective {
        path: path_text(path),
        value: text.clone(),
    })?;
    let mut elided = patch.to_vec();
    element_setter(
        &mut elided,
        None,
        &[DIRECTIVE.to_string()],
        std::slice::from_ref(&text),
        path,
    )?;
    Ok((directive, Some(elided)))
}

/// The value of the list-directing `$patch` item that [`list_directive`] found.
fn list_directive_text(patch: &[Value]) -> String {
    patch
        .iter()
        .find_map(|item| item.as_object().and_then(|m| m.get(DIRECTIVE)))
        .map(scalar_text)
        .unwrap_or_default()
}

/// kyaml `walkAssociativeSequence` (after `Merger.VisitList`).
fn walk_associative<'m>(
    dest: Option<&mut Value>,
    origin: Option<&Value>,
    schema: Option<Schema<'m>>,
    meta: &'m PatchMeta,
    path: &mut Vec<String>,
) -> Result<Outcome, Error> {
    let dest_missing = dest.as_deref().is_none_or(Value::is_null);
    let mut list: Vec<Value>;
    let mut origin_list: Option<Vec<Value>>;
    if dest_missing {
        let Some(o) = origin else {
            return Ok(Outcome::Clear);
        };
        list = o.as_array().cloned().unwrap_or_default();
        origin_list = Some(list.clone());
    } else {
        let dest = dest.expect("dest is present when not missing");
        match origin {
            Some(Value::Null) => return Ok(Outcome::Clear),
            None => origin_list = None,
            Some(o) => {
                let items = o.as_array().map(Vec::as_slice).unwrap_or_default();
                let (directive, elided) = list_directive(items, path)?;
                // a list the patch added is its own target in kyaml (one node): eliding the
                // directive item from the patch removes it from the target as well
                if elided.is_some()
                    && let Some(d) = dest.as_array_mut()
                    && d.as_slice() == items
                {
                    let text = list_directive_text(items);
                    element_setter(d, None, &[DIRECTIVE.to_string()], &[text], path)?;
                }
                let elided = elided.unwrap_or_else(|| items.to_vec());
                match directive {
                    Directive::Delete => return Ok(Outcome::Clear),
                    Directive::Replace => {
                        // the replacement list is walked against itself
                        let mut replaced = Value::Array(elided.clone());
                        let result = walk_associative(
                            Some(&mut replaced),
                            Some(&Value::Array(elided)),
                            schema,
                            meta,
                            path,
                        )?;
                        return Ok(match result {
                            Outcome::Dest => Outcome::Value(replaced),
                            other => other,
                        });
                    }
                    Directive::Merge => origin_list = Some(elided),
                }
            }
        }
        list = dest.as_array().cloned().unwrap_or_default();
    }
    let (_, keys) = schema
        .and_then(|s| s.list_strategy())
        .expect("associative lists have a list schema");
    let keys: Vec<String> = keys.to_vec();
    let item_schema = schema.and_then(|s| s.elements());
    let sources: [Option<&[Value]>; 2] = [origin_list.as_deref(), Some(list.as_slice())];
    let values = element_values(&sources, &keys);
    let (values, keys) = if !values.is_empty() || !keys.is_empty() {
        (values, keys)
    } else {
        (primitive_values(&sources), vec![String::new()])
    };
    let result = set_elements(
        values,
        &keys,
        &mut list,
        origin_list.as_deref_mut(),
        item_schema,
        meta,
        path,
    )?;
    Ok(match result {
        Some(items) => Outcome::Value(Value::Array(items)),
        None => Outcome::Clear,
    })
}

/// kyaml `elementValues`: the key values of every item, patch items first, without repeats.
fn element_values(sources: &[Option<&[Value]>; 2], keys: &[String]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for items in sources.iter().flatten() {
        for item in items.iter() {
            let values: Vec<String> = keys
                .iter()
                .map(|k| match item.as_object().and_then(|m| m.get(k)) {
                    Some(v) if !is_nil_or_empty(v) => scalar_text(v),
                    _ => String::new(),
                })
                .collect();
            if values.is_empty() || out.contains(&values) {
                continue;
            }
            out.push(values);
        }
    }
    out
}

/// kyaml `elementPrimitiveValues`.
fn primitive_values(sources: &[Option<&[Value]>; 2]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for items in sources.iter().flatten() {
        for item in items.iter() {
            let text = vec![scalar_text(item)];
            if !out.contains(&text) {
                out.push(text);
            }
        }
    }
    out
}

/// kyaml `setAssociativeSequenceElements` with `MergeOptionsListPrepend`; `None` clears the field.
fn set_elements<'m>(
    mut values_list: Vec<Vec<String>>,
    keys: &[String],
    dest: &mut Vec<Value>,
    mut origin: Option<&mut [Value]>,
    item_schema: Option<Schema<'m>>,
    meta: &'m PatchMeta,
    path: &mut Vec<String>,
) -> Result<Option<Vec<Value>>, Error> {
    let mut items: Vec<Value> = Vec::new();
    if keys.len() > 1 {
        merge_values(&mut values_list);
    }
    let mut valid_keys: Vec<String> = Vec::new();
    for i in 0..values_list.len() {
        let values = values_list[i].clone();
        if values.is_empty() {
            continue;
        }
        let valid_values;
        (valid_keys, valid_values) = validate_keys(&values_list, &values, keys);
        let (lookup_keys, lookup_values) = validate_keys(
            std::slice::from_ref(&valid_values),
            &valid_values,
            &valid_keys,
        );
        let dest_index = element_list(dest, &lookup_keys, &lookup_values);
        let origin_index = origin
            .as_deref()
            .and_then(|o| element_list(o, &lookup_keys, &lookup_values));
        let origin_item = origin.as_deref().zip(origin_index).map(|(o, i)| &o[i]);
        // In kyaml a list the patch added is its own target: item and patch item are one node, so
        // whatever the walk does to the patch item (directive elided, replacement walked) shows
        // in the target item too. Identical items stand for that here.
        let aliased = dest_index
            .zip(origin_item)
            .is_some_and(|(i, o)| dest[i] == *o);
        let outcome = {
            let dest_item = dest_index.map(|i| &mut dest[i]);
            walk(dest_item, origin_item, item_schema, meta, path)?
        };
        let mut val: Option<Value> = match outcome {
            Outcome::Dest => dest_index.map(|i| dest[i].clone()),
            Outcome::Value(v) => {
                if let Some(i) = dest_index.filter(|_| aliased) {
                    dest[i] = v.clone();
                }
                Some(v)
            }
            Outcome::Clear => None,
        };
        // kyaml elides a directive from the patch item itself: a second visit of the same item (two-key
        // lists can list it twice) no longer sees it
        if let (Some(o), Some(i)) = (origin.as_deref_mut(), origin_index)
            && let Some(item) = o[i].as_object_mut()
            && item
                .get(DIRECTIVE)
                .is_some_and(|d| parse_directive(&scalar_text(d)).is_some())
        {
            item.remove(DIRECTIVE);
        }
        let mut exit = false;
        for (k, key) in valid_keys.iter().enumerate() {
            let gone = val.as_ref().is_none_or(|v| v.is_null() || is_empty_map(v));
            if gone {
                element_setter(dest, None, &valid_keys, &valid_values, path)?;
                exit = true;
            } else if let Some(v) = val.as_mut() {
                let text = valid_values.get(k).cloned().unwrap_or_default();
                let has_key = v.as_object().is_some_and(|m| m.contains_key(key.as_str()));
                if !has_key && !text.is_empty() {
                    if key.is_empty() {
                        // kyaml re-sets a primitive item as a string scalar
                        if !v.is_object() && !v.is_array() {
                            *v = Value::String(text);
                        }
                    } else if let Some(m) = v.as_object_mut() {
                        m.insert(key.clone(), Value::String(text));
                    }
                }
            }
        }
        if exit {
            continue;
        }
        if let Some(v) = val {
            element_setter(&mut items, Some(v), &valid_keys, &valid_values, path)?;
        }
    }
    if !values_list.is_empty() {
        append_list(&mut items, dest, &valid_keys, path)?;
        return Ok(Some(items));
    }
    Ok(Some(std::mem::take(dest)))
}

/// kyaml `appendListNode`: the target's items into `dst`, replacing those with the same key values.
fn append_list(
    dst: &mut Vec<Value>,
    src: &[Value],
    keys: &[String],
    path: &[String],
) -> Result<(), Error> {
    for elem in src {
        if keys.first().is_none_or(String::is_empty) {
            let text = scalar_text(elem);
            element_setter(dst, Some(elem.clone()), &[String::new()], &[text], path)?;
            continue;
        }
        let mut v: Vec<String> = Vec::new();
        for key in keys {
            let field = match elem {
                Value::Null => None,
                Value::Object(m) => m.get(key),
                other => {
                    return Err(Error::NotAMapItem {
                        path: path_text(path),
                        key: key.clone(),
                        found: kind_name(other),
                    });
                }
            };
            match field {
                None => dst.push(elem.clone()),
                Some(value) => v.push(scalar_text(value)),
            }
        }
        if keys.len() > 1 {
            element_setter(dst, None, keys, &v, path)?;
        }
        element_setter(dst, Some(elem.clone()), keys, &v, path)?;
    }
    Ok(())
}

/// kyaml `ElementSetter`: replaces the items matching `keys`/`values` by `element` (or removes them
/// when `element` is `None`), appends `element` when none matched; null and empty-map items drop out.
fn element_setter(
    list: &mut Vec<Value>,
    element: Option<Value>,
    keys: &[String],
    values: &[String],
    path: &[String],
) -> Result<(), Error> {
    let default_keys = [String::new()];
    let keys = if keys.is_empty() {
        &default_keys[..]
    } else {
        keys
    };
    let mapping_setter = !keys[0].is_empty() && values.first().is_some_and(|v| !v.is_empty());
    let mut kept: Vec<Value> = Vec::with_capacity(list.len() + 1);
    let mut matched = false;
    for elem in list.drain(..) {
        if elem.is_null() || is_empty_map(&elem) {
            continue;
        }
        if !elem.is_object() && mapping_setter {
            kept.push(elem);
            continue;
        }
        let mut found_field = false;
        for (j, key) in keys.iter().enumerate() {
            if let Some(value) = values.get(j) {
                found_field = field_matches(&elem, key, value, path)?;
            }
            if !found_field {
                break;
            }
        }
        if !found_field {
            if !values.is_empty() {
                kept.push(elem);
            }
            continue;
        }
        matched = true;
        if let Some(e) = &element {
            kept.push(e.clone());
        }
    }
    *list = kept;
    if let Some(e) = element
        && !e.is_null()
        && !matched
    {
        list.push(e);
    }
    Ok(())
}

/// kyaml `FieldMatcher{Name, StringValue}` as `ElementSetter` uses it; an empty value matches any.
fn field_matches(elem: &Value, key: &str, value: &str, path: &[String]) -> Result<bool, Error> {
    if elem.is_null() {
        return Ok(false);
    }
    if key.is_empty() {
        if elem.is_object() || elem.is_array() {
            return Err(Error::KindMismatch {
                path: path_text(path),
                expected: "scalar",
                found: kind_name(elem),
            });
        }
        return Ok(scalar_text(elem) == value);
    }
    let Some(m) = elem.as_object() else {
        return Err(Error::NotAMapItem {
            path: path_text(path),
            key: key.to_string(),
            found: kind_name(elem),
        });
    };
    Ok(match m.get(key) {
        None => false,
        Some(v) => value.is_empty() || scalar_text(v) == value,
    })
}

/// kyaml `ElementMatcher` (`MatchElementList`): the index of the first item with all key values.
fn element_list(list: &[Value], keys: &[String], values: &[String]) -> Option<usize> {
    let first_key = keys.first().map(String::as_str).unwrap_or("");
    let first_value = values.first().map(String::as_str).unwrap_or("");
    if first_key.is_empty() {
        return list.iter().position(|e| scalar_text(e) == first_value);
    }
    if keys.len() != values.len() {
        return None;
    }
    list.iter().position(|elem| {
        elem.as_object().is_some_and(|m| {
            keys.iter()
                .zip(values)
                .all(|(k, v)| m.get(k).is_some_and(|f| scalar_text(f) == *v))
        })
    })
}

/// kyaml `validateKeys`: only keys that have a value in some item take part.
fn validate_keys(
    values_list: &[Vec<String>],
    values: &[String],
    keys: &[String],
) -> (Vec<String>, Vec<String>) {
    let valid: Vec<&String> = keys
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            values_list
                .iter()
                .any(|vs| vs.get(*i).is_some_and(|v| !v.is_empty()))
        })
        .map(|(_, k)| k)
        .collect();
    if valid.is_empty() {
        return (keys.to_vec(), values.to_vec());
    }
    let valid_keys = keys.iter().filter(|k| valid.contains(k)).cloned().collect();
    let valid_values = values
        .iter()
        .enumerate()
        .filter(|(i, v)| !v.is_empty() || keys.get(*i).is_some_and(|k| valid.contains(&k)))
        .map(|(_, v)| v.clone())
        .collect();
    (valid_keys, valid_values)
}

/// kyaml `mergeValues`: key tuples that agree where both are set are unified.
fn merge_values(values_list: &mut [Vec<String>]) {
    for i in 0..values_list.len() {
        let first = values_list[i].clone();
        for j in 0..values_list.len() {
            if let Some(merged) = match_values(&first, &values_list[j]) {
                values_list[i] = merged.clone();
                values_list[j] = merged;
            }
        }
    }
}

fn match_values(a: &[String], b: &[String]) -> Option<Vec<String>> {
    if a.len() != b.len() {
        return None;
    }
    let mut common = false;
    let mut out = Vec::with_capacity(a.len());
    for (x, y) in a.iter().zip(b) {
        if x == y {
            common = true;
            out.push(x.clone());
        } else if !x.is_empty() && !y.is_empty() {
            return None;
        } else if !x.is_empty() {
            out.push(x.clone());
        } else {
            out.push(y.clone());
        }
    }
    common.then_some(out)
}

#[derive(Clone, Copy, PartialEq)]
enum NodeKind {
    Map,
    Seq,
    Scalar,
}

fn node_kind(v: &Value) -> NodeKind {
    match v {
        Value::Object(_) => NodeKind::Map,
        Value::Array(_) => NodeKind::Seq,
        _ => NodeKind::Scalar,
    }
}

fn check_kinds(
    expected: NodeKind,
    dest: Option<&Value>,
    origin: Option<&Value>,
    path: &[String],
) -> Result<(), Error> {
    for v in [dest, origin].into_iter().flatten() {
        if !v.is_null() && node_kind(v) != expected {
            return Err(Error::KindMismatch {
                path: path_text(path),
                expected: match expected {
                    NodeKind::Map => "map",
                    NodeKind::Seq => "list",
                    NodeKind::Scalar => "scalar",
                },
                found: kind_name(v),
            });
        }
    }
    Ok(())
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

/// A YAML node's scalar text (`yaml.Node.Value`): maps, lists and nulls have none.
pub(crate) fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null | Value::Array(_) | Value::Object(_) => String::new(),
    }
}

fn is_empty_map(v: &Value) -> bool {
    v.as_object().is_some_and(Map::is_empty)
}

fn is_nil_or_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn path_text(path: &[String]) -> String {
    if path.is_empty() {
        ".".to_string()
    } else {
        path.join(".")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(spec: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app"}, "spec": spec})
    }

    fn pod_spec(pod: Value) -> Value {
        deployment(json!({"template": {"spec": pod}}))
    }

    fn merged(target: Value, patch: Value) -> Value {
        let mut t = target;
        apply(&mut t, &patch).expect("patch applies");
        t
    }

    /// Expectations below were produced by `kubectl kustomize` (kustomize v5.5.0).
    #[test]
    fn merge_list_should_put_patch_items_first_then_untouched_items() {
        let target = pod_spec(json!({"containers": [
            {"name": "a", "image": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
            {"name": "b", "image": "b"}, {"name": "c", "image": "c"}]}));
        let patch = pod_spec(json!({"containers": [
            {"name": "c", "image": "c2"}, {"name": "new", "image": "n"},
            {"name": "a", "env": [{"name": "Z", "value": "3"}, {"name": "X", "value": "9"}]}]}));
        let want = pod_spec(json!({"containers": [
            {"name": "c", "image": "c2"}, {"name": "new", "image": "n"},
            {"name": "a", "image": "a", "env": [{"name": "Z", "value": "3"}, {"name": "X", "value": "9"}, {"name": "Y", "value": "2"}]},
            {"name": "b", "image": "b"}]}));
        assert_eq!(merged(target, patch), want);
    }

    #[test]
    fn two_key_ports_should_follow_kyaml_including_the_lost_item() {
        let target = pod_spec(json!({"containers": [{"name": "a", "ports": [
            {"containerPort": 80}, {"containerPort": 81, "protocol": "UDP"}]}]}));
        let patch = pod_spec(
            json!({"containers": [{"name": "a", "ports": [{"containerPort": 81, "name": "x"}]}]}),
        );
        let want = pod_spec(json!({"containers": [{"name": "a", "ports": [
            {"containerPort": 80}, {"containerPort": 81, "protocol": "UDP"}]}]}));
        assert_eq!(merged(target, patch), want);

        let target = pod_spec(
            json!({"containers": [{"name": "a", "ports": [{"containerPort": 80, "name": "http"}]}]}),
        );
        let patch = pod_spec(
            json!({"containers": [{"name": "a", "ports": [{"containerPort": 9090, "name": "metrics"}]}]}),
        );
        let want = pod_spec(json!({"containers": [{"name": "a", "ports": [
            {"containerPort": 9090, "name": "metrics"}, {"containerPort": 80, "name": "http"}]}]}));
        assert_eq!(merged(target, patch), want);
    }

    #[test]
    fn directives_should_delete_and_replace() {
        let target = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "app", "annotations": {"a": "1", "b": "2"}},
            "spec": {"template": {"spec": {"nodeSelector": {"x": "y", "z": "w"},
                "containers": [{"name": "a", "image": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y"}]}, {"name": "b"}],
                "volumes": [{"name": "v1", "emptyDir": {}}, {"name": "v2", "emptyDir": {}}]}}}});
        let patch = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "app", "annotations": {"a": null}},
            "spec": {"template": {"spec": {"nodeSelector": {"$patch": "replace", "only": "me"},
                "containers": [{"name": "b", "$patch": "delete"}, {"name": "a", "env": [{"$patch": "replace"}, {"name": "NEW", "value": "v"}]}],
                "volumes": [{"name": "v1", "$patch": "delete"}]}}}});
        let want = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "app", "annotations": {"b": "2"}},
            "spec": {"template": {"spec": {"nodeSelector": {"only": "me"},
                "containers": [{"name": "a", "image": "a", "env": [{"name": "NEW", "value": "v"}]}],
                "volumes": [{"name": "v2", "emptyDir": {}}]}}}});
        assert_eq!(merged(target, patch), want);
    }

    #[test]
    fn top_level_replace_should_leave_the_target_as_kustomize_does() {
        let target = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "b"}}, "data": {"k": "v"}});
        let patch = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "$patch": "replace", "data": {"only": "me"}});
        assert_eq!(merged(target.clone(), patch), target);
    }

    #[test]
    fn top_level_delete_should_empty_the_target() {
        let target = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}});
        let patch = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "$patch": "delete"});
        assert_eq!(merged(target, patch), Value::Null);
    }

    #[test]
    fn element_replace_should_have_no_effect_as_in_kyaml() {
        let target = pod_spec(
            json!({"containers": [{"name": "a", "image": "a", "args": ["x"]}, {"name": "b"}]}),
        );
        let patch =
            pod_spec(json!({"containers": [{"name": "a", "$patch": "replace", "image": "z"}]}));
        assert_eq!(merged(target.clone(), patch), target);
    }

    #[test]
    fn primitive_merge_list_should_be_a_set_and_other_lists_replaced() {
        let target = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["a", "b"]}, "data": {"k": "v"}});
        let patch = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["c", "a"]}, "data": {"k2": "v2", "k": null}});
        let want = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["c", "a", "b"]}, "data": {"k2": "v2"}});
        assert_eq!(merged(target, patch), want);

        let target = pod_spec(
            json!({"containers": [{"name": "a", "args": ["x", "y"]}], "tolerations": [{"key": "a"}]}),
        );
        let patch = pod_spec(
            json!({"containers": [{"name": "a", "args": ["z"]}], "tolerations": [{"key": "b"}]}),
        );
        let want = pod_spec(
            json!({"containers": [{"name": "a", "args": ["z"]}], "tolerations": [{"key": "b"}]}),
        );
        assert_eq!(merged(target, patch), want);
    }

    #[test]
    fn custom_kinds_should_merge_maps_and_replace_lists() {
        let target = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"items": [{"name": "a", "v": 1}, {"name": "b"}], "m": {"x": 1}}});
        let patch = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"items": [{"name": "a", "v": 2}], "m": {"y": 2}}});
        let want = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"items": [{"name": "a", "v": 2}], "m": {"x": 1, "y": 2}}});
        assert_eq!(merged(target, patch), want);
    }

    #[test]
    fn apimachinery_only_directives_should_stay_plain_keys() {
        let target = pod_spec(json!({"containers": [{"name": "a"}]}));
        let patch = pod_spec(json!({"$setElementOrder/containers": [{"name": "a"}]}));
        let got = merged(target, patch);
        assert_eq!(
            got.pointer("/spec/template/spec/$setElementOrder~1containers"),
            Some(&json!([{"name": "a"}]))
        );
    }

    #[test]
    fn bad_patches_should_fail_with_the_path() {
        let target = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
        let mut t = target.clone();
        let err = apply(&mut t, &json!({"data": [1]})).expect_err("kinds differ");
        assert!(err.to_string().contains("data"), "{err}");
        let mut t = target.clone();
        let err =
            apply(&mut t, &json!({"data": {"$patch": "bogus"}})).expect_err("unknown directive");
        assert!(matches!(err, Error::UnknownDirective { .. }));
        let mut t = target;
        assert!(matches!(
            apply(&mut t, &json!([1])),
            Err(Error::PatchNotAMap { .. })
        ));
    }

    #[test]
    fn identity_should_be_restored_unless_allowed() {
        let target = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns"}});
        let patch = json!({"kind": "Other", "metadata": {"name": "d", "namespace": "x"}});
        assert_eq!(merged(target.clone(), patch.clone()), target);
        let mut t = target;
        let options = Options {
            allow_name_change: true,
            allow_kind_change: true,
        };
        apply_with(&mut t, &patch, options).expect("applies");
        assert_eq!(t["kind"], "Other");
        assert_eq!(t["metadata"]["name"], "d");
        assert_eq!(t["metadata"]["namespace"], "ns");
    }

    proptest::proptest! {
        #[test]
        fn empty_patch_should_be_identity(names in proptest::collection::btree_set("[a-z]{1,6}", 0..6),
                                          image in "[a-z]{1,8}", replicas in 0u32..10) {
            let containers: Vec<Value> = names.iter().map(|n| json!({"name": n, "image": image, "env": [{"name": "E", "value": n}]})).collect();
            let target = deployment(json!({"replicas": replicas, "template": {"spec": {"containers": containers}}}));
            let patch = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app"}});
            proptest::prop_assert_eq!(merged(target.clone(), patch), target);
        }
    }
}
