//! Taking over fields from another field manager (Flux's `kustomize-controller`), so a field later
//! removed from Git is removed from the cluster.
//!
//! Server-side apply removes a field only when the applying manager is its sole owner. Objects Flux
//! applied are owned by `kustomize-controller`; when weir applies the same content, both managers own
//! every field, and a field weir stops sending stays. As Flux's ssa package does when it migrates
//! from `kubectl` or client-side apply, the fix is to rewrite `metadata.managedFields` before the
//! apply: the other manager's entries become weir's own Apply entry (their field sets merged into it
//! when weir already has one). The next apply by weir then owns those fields alone.

use serde_json::{Map, Value};

/// The `managedFields` of `live` after handing every entry of a manager in `from` (top-level, not a
/// subresource such as `status`) to `manager` as an Apply entry; `None` when no entry is by `from`.
pub fn take_over(live: &Value, manager: &str, from: &[String]) -> Option<Vec<Value>> {
    let entries = live.pointer("/metadata/managedFields")?.as_array()?;
    let top_level = |e: &Value| {
        e.get("subresource")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    };
    let manager_of = |e: &Value| {
        e.get("manager")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let is_from = |e: &Value| top_level(e) && from.iter().any(|m| *m == manager_of(e));
    if !entries.iter().any(is_from) {
        return None;
    }
    let is_own = |e: &Value| {
        top_level(e)
            && manager_of(e) == manager
            && e.get("operation").and_then(Value::as_str) == Some("Apply")
    };
    let own_at = entries.iter().position(is_own);
    let mut own: Option<Value> = own_at.map(|i| entries[i].clone());
    let mut rest: Vec<Value> = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        if Some(i) == own_at {
            continue;
        }
        if !is_from(e) {
            rest.push(e.clone());
            continue;
        }
        match own.as_mut() {
            Some(mine) => match (mine.get_mut("fieldsV1"), e.get("fieldsV1")) {
                (Some(into), Some(fields)) => union(into, fields),
                (None, Some(fields)) => {
                    if let Some(map) = mine.as_object_mut() {
                        map.insert("fieldsV1".into(), fields.clone());
                        map.insert("fieldsType".into(), Value::String("FieldsV1".into()));
                    }
                }
                _ => {}
            },
            None => {
                let mut renamed = e.clone();
                if let Some(map) = renamed.as_object_mut() {
                    map.insert("manager".into(), Value::String(manager.into()));
                    map.insert("operation".into(), Value::String("Apply".into()));
                }
                own = Some(renamed);
            }
        }
    }
    let mut out: Vec<Value> = own.into_iter().collect();
    out.extend(rest);
    Some(out)
}

/// Adds every field of field set `from` to field set `into` (fieldsV1 sets are nested objects whose
/// leaves are `{}`).
fn union(into: &mut Value, from: &Value) {
    let (Some(into), Some(from)) = (into.as_object_mut(), from.as_object()) else {
        return;
    };
    merge(into, from);
}

fn merge(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(Value::Object(i)), Value::Object(f)) => merge(i, f),
            (Some(_), _) => {}
            (None, v) => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(manager: &str, op: &str, fields: Value) -> Value {
        json!({"manager": manager, "operation": op, "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": fields})
    }

    fn obj(entries: Vec<Value>) -> Value {
        json!({"metadata": {"name": "x", "managedFields": entries}})
    }

    const FLUX: &str = "kustomize-controller";

    #[test]
    fn nothing_to_do_without_the_other_manager() {
        let o = obj(vec![entry("weir", "Apply", json!({"f:data": {}}))]);
        assert_eq!(take_over(&o, "weir", &[FLUX.into()]), None);
        assert_eq!(take_over(&json!({}), "weir", &[FLUX.into()]), None);
    }

    #[test]
    fn the_other_managers_entry_is_renamed_to_an_apply_by_weir() {
        let o = obj(vec![
            entry(FLUX, "Apply", json!({"f:data": {"f:a": {}, "f:b": {}}})),
            entry("kube-controller-manager", "Update", json!({"f:status": {}})),
        ]);
        let got = take_over(&o, "weir", &[FLUX.into()]).expect("taken over");
        assert_eq!(
            got,
            vec![
                entry("weir", "Apply", json!({"f:data": {"f:a": {}, "f:b": {}}})),
                entry("kube-controller-manager", "Update", json!({"f:status": {}})),
            ]
        );
    }

    #[test]
    fn field_sets_merge_into_weirs_own_entry() {
        let o = obj(vec![
            entry(
                FLUX,
                "Update",
                json!({"f:metadata": {"f:labels": {"f:x": {}}}}),
            ),
            entry("weir", "Apply", json!({"f:data": {"f:a": {}}})),
            entry(FLUX, "Apply", json!({"f:data": {"f:a": {}, "f:b": {}}})),
        ]);
        let got = take_over(&o, "weir", &[FLUX.into()]).expect("taken over");
        assert_eq!(
            got,
            vec![entry(
                "weir",
                "Apply",
                json!({"f:data": {"f:a": {}, "f:b": {}}, "f:metadata": {"f:labels": {"f:x": {}}}})
            )]
        );
    }

    #[test]
    fn status_subresource_entries_stay_with_their_manager() {
        let mut status = entry(FLUX, "Update", json!({"f:status": {}}));
        status["subresource"] = json!("status");
        let o = obj(vec![status.clone()]);
        assert_eq!(take_over(&o, "weir", &[FLUX.into()]), None);
    }
}
