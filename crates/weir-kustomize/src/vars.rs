//! Legacy `vars`: values read from objects of the build and substituted for `$(NAME)` in the fields
//! kustomize's varReference configuration lists (container args, command, env values, ...).

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::Value;

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::kustomization::Var;
use crate::resid::{Gvk, ResId};
use crate::resource::ResMap;

/// A declared var and the kustomization file that declared it.
#[derive(Debug, Clone)]
pub(crate) struct DeclaredVar {
    pub var: Var,
    pub file: PathBuf,
}

/// Adds vars, rejecting a name declared twice.
pub(crate) fn merge(into: &mut Vec<DeclaredVar>, more: Vec<DeclaredVar>) -> Result<()> {
    for v in more {
        if into.iter().any(|x| x.var.name == v.var.name) {
            return Err(Error::new(ErrorKind::Field {
                file: v.file.clone(),
                field: format!("vars[name={}]", v.var.name),
                message: "var already declared (names must be unique across the build)".into(),
            }));
        }
        into.push(v);
    }
    Ok(())
}

/// The var's object reference as a GVK (`apiVersion` wins over `group`/`version`).
fn objref_gvk(v: &Var) -> Gvk {
    let kind = v.objref.kind.clone().unwrap_or_default();
    match v.objref.api_version.as_deref().filter(|a| !a.is_empty()) {
        Some(api) => Gvk::from_api_version(api, &kind),
        None => Gvk {
            group: v.objref.group.clone().unwrap_or_default(),
            version: v.objref.version.clone().unwrap_or_default(),
            kind,
        },
    }
}

/// Declares the vars of one kustomization, as kustomize does after that kustomization's transformers:
/// each var is bound now to the one object of the objects accumulated so far that its objref names
/// (by any earlier or current id; exact group, version and kind; the namespace too when given), so
/// an overlay combining bases that declare vars on objects of the same name stays unambiguous.
pub(crate) fn declare(
    m: &mut ResMap,
    into: &mut Vec<DeclaredVar>,
    more: Vec<DeclaredVar>,
) -> Result<()> {
    for dv in &more {
        let v = &dv.var;
        let gvk = objref_gvk(v);
        let ns = v.objref.namespace.clone().unwrap_or_default();
        let target = ResId {
            gvk: gvk.clone(),
            name: v.objref.name.clone(),
            namespace: ns.clone(),
        };
        let with_ns = !ns.is_empty() || gvk.is_cluster_scoped();
        let matched: Vec<usize> = m.matching_any_id(|id| {
            id.name == target.name
                && id.gvk == target.gvk
                && (!with_ns || id.effective_namespace() == target.effective_namespace())
        });
        match matched.as_slice() {
            [] => {}
            [i] => m.list[*i].ref_vars.push(v.name.clone()),
            _ => {
                return Err(Error::new(ErrorKind::Field {
                    file: dv.file.clone(),
                    field: format!("vars[name={}]", v.name),
                    message: format!(
                        "{} objects match the var's objref (unable to disambiguate)",
                        matched.len()
                    ),
                }));
            }
        }
    }
    merge(into, more)
}

/// Resolves every var (from the object it was bound to) and substitutes it.
pub(crate) fn resolve(m: &mut ResMap, vars: &[DeclaredVar], cfg: &Config) -> Result<()> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut values: HashMap<&str, Value> = HashMap::new();
    for dv in vars {
        let v = &dv.var;
        let field_err = |message: String| {
            Error::new(ErrorKind::Field {
                file: dv.file.clone(),
                field: format!("vars[name={}]", v.name),
                message,
            })
        };
        let Some(i) = m.list.iter().position(|r| r.ref_vars.contains(&v.name)) else {
            return Err(field_err(format!(
                "no object of the build matches the var's objref ({} {} '{}')",
                objref_gvk(v).api_version(),
                objref_gvk(v).kind,
                v.objref.name
            )));
        };
        let path = v
            .fieldref
            .field_path
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "metadata.name".into());
        match lookup(&m.list[i].obj, &path) {
            Some(val) if !val.is_object() && !val.is_array() && !val.is_null() => {
                values.insert(v.name.as_str(), val.clone());
            }
            _ => {
                return Err(field_err(format!(
                    "field '{path}' not found (or not a scalar) in {}",
                    m.list[i].describe()
                )));
            }
        }
    }
    for r in &mut m.list {
        let gvk = Gvk::of(&r.obj);
        for fs in cfg.var_reference.iter().filter(|fs| fs.selects(&gvk)) {
            fs.visit(&mut r.obj, &mut |node| {
                substitute(node, &values);
                Ok(())
            })?;
        }
    }
    Ok(())
}

fn substitute(node: &mut Value, values: &HashMap<&str, Value>) {
    match node {
        Value::String(s) => {
            if let Some(v) = expand(s, values) {
                *node = v;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| {
            if i.is_string() {
                substitute(i, values)
            }
        }),
        Value::Object(map) => map.values_mut().for_each(|i| {
            if i.is_string() {
                substitute(i, values)
            }
        }),
        _ => {}
    }
}

/// Kubernetes `$(VAR)` expansion: `$$` is a literal `$`, unknown names stay as written. A string that
/// is exactly one reference takes the var's value with its type.
fn expand(input: &str, values: &HashMap<&str, Value>) -> Option<Value> {
    if !input.contains('$') {
        return None;
    }
    if let Some(name) = input.strip_prefix("$(").and_then(|r| r.strip_suffix(')'))
        && !name.contains(')')
        && let Some(v) = values.get(name)
    {
        return Some(v.clone());
    }
    let mut out = String::with_capacity(input.len());
    let b = input.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            match b[i + 1] {
                b'$' => {
                    out.push('$');
                    i += 2;
                    continue;
                }
                b'(' => {
                    if let Some(end) = input[i + 2..].find(')') {
                        let name = &input[i + 2..i + 2 + end];
                        match values.get(name) {
                            Some(v) => out.push_str(&scalar_text(v)),
                            None => out.push_str(&input[i..i + 3 + end]),
                        }
                        i += 3 + end;
                        continue;
                    }
                }
                _ => {}
            }
        }
        let ch = input[i..].chars().next().unwrap_or('$');
        out.push(ch);
        i += ch.len_utf8();
    }
    (out != input).then_some(Value::String(out))
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A dotted field path with `[index]` or `[key=value]` list steps (`spec.containers[0].image`).
fn lookup<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    for part in split_dots(path) {
        let (field, selectors) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part.as_str(), ""),
        };
        if !field.is_empty() {
            cur = cur.get(field)?;
        }
        let mut rest = selectors;
        while let Some(stripped) = rest.strip_prefix('[') {
            let end = stripped.find(']')?;
            let sel = &stripped[..end];
            rest = &stripped[end + 1..];
            let items = cur.as_array()?;
            cur = match sel.split_once('=') {
                Some((k, v)) => items
                    .iter()
                    .find(|it| it.get(k).and_then(|x| x.as_str()) == Some(v))?,
                None => items.get(sel.parse::<usize>().ok()?)?,
            };
        }
    }
    Some(cur)
}

/// Splits on dots outside brackets.
fn split_dots(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth -= 1;
                cur.push(c);
            }
            '.' if depth == 0 => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expands_like_kubernetes() {
        let mut vals = HashMap::new();
        vals.insert("A", json!("x"));
        vals.insert("N", json!(3));
        assert_eq!(expand("$(A)-$(B)-$$(A)", &vals), Some(json!("x-$(B)-$(A)")));
        assert_eq!(expand("$(N)", &vals), Some(json!(3)));
        assert_eq!(expand("port $(N)", &vals), Some(json!("port 3")));
        assert_eq!(expand("plain", &vals), None);
    }

    #[test]
    fn looks_up_paths() {
        let obj =
            json!({"spec": {"containers": [{"name": "a", "image": "i"}], "ports": [{"port": 80}]}});
        assert_eq!(lookup(&obj, "spec.containers[0].image"), Some(&json!("i")));
        assert_eq!(
            lookup(&obj, "spec.containers[name=a].image"),
            Some(&json!("i"))
        );
        assert_eq!(lookup(&obj, "spec.ports[0].port"), Some(&json!(80)));
    }
}
