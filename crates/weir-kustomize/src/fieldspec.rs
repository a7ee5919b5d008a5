//! Field specs: "this path, in objects of this group/version/kind" — how kustomize's transformers find
//! the fields they change — and the walker that visits (and optionally creates) those fields.

use serde_json::{Map, Value};

use crate::error::Result;
use crate::resid::Gvk;

/// A path in objects selected by GVK. Path segments are separated by `/` (`\/` is a literal slash);
/// a `[]` suffix marks a list, and lists met along the way are walked element by element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldSpec {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub path: String,
    pub segments: Vec<String>,
    pub create: bool,
}

impl FieldSpec {
    pub fn new(group: &str, version: &str, kind: &str, path: &str, create: bool) -> FieldSpec {
        FieldSpec {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            path: path.into(),
            segments: split_path(path),
            create,
        }
    }

    /// Any object, this path.
    pub fn any(path: &str, create: bool) -> FieldSpec {
        FieldSpec::new("", "", "", path, create)
    }

    /// Whether objects of `gvk` carry this field.
    pub fn selects(&self, gvk: &Gvk) -> bool {
        gvk.is_selected_by(&self.group, &self.version, &self.kind)
    }

    /// Calls `f` on each node at this path in `obj`. With `create`, missing maps along the path are
    /// created and a missing last field is passed to `f` as `Null` (removed again if `f` leaves it so).
    pub fn visit(
        &self,
        obj: &mut Value,
        f: &mut dyn FnMut(&mut Value) -> Result<()>,
    ) -> Result<()> {
        visit(obj, &self.segments, self.create, f)
    }
}

/// Appends `more` to `list`, skipping specs already present (kustomize's `FsSlice.MergeAll`).
pub(crate) fn merge_all(list: &mut Vec<FieldSpec>, more: &[FieldSpec]) {
    for fs in more {
        if !list.iter().any(|x| {
            x.path == fs.path && x.group == fs.group && x.version == fs.version && x.kind == fs.kind
        }) {
            list.push(fs.clone());
        }
    }
}

fn split_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                cur.push('/');
                chars.next();
            }
            '/' => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.retain(|s| !s.is_empty());
    out
}

fn visit(
    node: &mut Value,
    segs: &[String],
    create: bool,
    f: &mut dyn FnMut(&mut Value) -> Result<()>,
) -> Result<()> {
    let Some((first, rest)) = segs.split_first() else {
        return f(node);
    };
    if let Value::Array(items) = node {
        for item in items {
            visit(item, segs, create, f)?;
        }
        return Ok(());
    }
    let name = first.strip_suffix("[]").unwrap_or(first);
    let Value::Object(map) = node else {
        return Ok(());
    };
    match map.get_mut(name) {
        Some(child) if !child.is_null() => visit(child, rest, create, f),
        _ if !create => Ok(()),
        // A missing list has no elements to visit, and nothing is created on the way to it.
        _ if segs.iter().any(|s| s.ends_with("[]")) => Ok(()),
        _ => {
            if rest.is_empty() {
                map.insert(name.to_string(), Value::Null);
                let child = map.get_mut(name).expect("inserted just above");
                f(child)?;
                if child.is_null() {
                    map.remove(name);
                }
                Ok(())
            } else {
                map.insert(name.to_string(), Value::Object(Map::new()));
                let child = map.get_mut(name).expect("inserted just above");
                visit(child, rest, create, f)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn visits_through_lists_and_creates_maps() {
        let mut obj = json!({"spec": {"containers": [{"image": "a"}, {"image": "b"}]}});
        let mut seen = Vec::new();
        FieldSpec::any("spec/containers[]/image", false)
            .visit(&mut obj, &mut |v| {
                seen.push(v.as_str().unwrap_or("").to_string());
                Ok(())
            })
            .unwrap();
        assert_eq!(seen, vec!["a", "b"]);
        FieldSpec::any("spec/template/metadata/labels", true)
            .visit(&mut obj, &mut |v| {
                *v = json!({"x": "y"});
                Ok(())
            })
            .unwrap();
        assert_eq!(obj["spec"]["template"]["metadata"]["labels"]["x"], "y");
    }

    #[test]
    fn escaped_slash_is_one_segment() {
        assert_eq!(
            split_path("metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret"),
            vec![
                "metadata",
                "annotations",
                "nginx.ingress.kubernetes.io/auth-secret"
            ]
        );
    }
}
