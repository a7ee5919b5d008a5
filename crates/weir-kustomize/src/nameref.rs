//! Name-reference fix-ups (kustomize's nameReference transformer): after prefixes, suffixes, hashes and
//! namespaces changed names, every field that names another object of the build (a ConfigMap in a
//! volume, a Service in an Ingress, a ServiceAccount in a RoleBinding ...) follows the rename.

use serde_json::Value;

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::fieldspec::FieldSpec;
use crate::resid::{Gvk, ResId};
use crate::resource::{ResMap, Resource};

/// Precomputed identity of one candidate referral.
struct Candidate {
    prev_ids: Vec<ResId>,
    cur: ResId,
    org_namespace_effective: String,
    name: String,
    namespace: String,
    cluster_scoped: bool,
    is_service_account: bool,
    effective_namespace: String,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
}

pub(crate) fn fix_references(m: &mut ResMap, cfg: &Config) -> Result<()> {
    let cands: Vec<Candidate> = m
        .list
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.prev_ids.is_empty())
        .map(|(_, r)| {
            let cur = r.cur_id();
            Candidate {
                prev_ids: r.prev_ids.clone(),
                org_namespace_effective: r.org_id().effective_namespace().to_string(),
                name: cur.name.clone(),
                namespace: cur.namespace.clone(),
                cluster_scoped: cur.gvk.is_cluster_scoped(),
                is_service_account: cur.gvk.kind == "ServiceAccount",
                effective_namespace: cur.effective_namespace().to_string(),
                prefixes: r.prefixes.clone(),
                suffixes: r.suffixes.clone(),
                cur,
            }
        })
        .collect();
    if cands.is_empty() {
        // Nothing was renamed; kustomize still rejects RoleBinding subjects with a blank namespace.
        for r in &m.list {
            let id = r.cur_id();
            if !id.gvk.is_cluster_scoped() {
                role_binding_namespaces(r, &id)?;
            }
        }
        return Ok(());
    }
    for referrer in m.list.iter_mut() {
        let org_gvk = referrer.org_id().gvk;
        let specs: Vec<(&Gvk, &FieldSpec)> = cfg
            .name_reference
            .iter()
            .flat_map(|(t, specs)| {
                specs
                    .iter()
                    .filter(|fs| fs.selects(&org_gvk))
                    .map(move |fs| (t, fs))
            })
            .collect();
        if specs.is_empty() {
            continue;
        }
        let referrer_id = referrer.cur_id();
        let ctx = ReferrerCtx::new(referrer, &referrer_id, &cands)?;
        let role_ref = role_ref_of(&referrer.obj);
        let who = Referrer {
            describe: referrer.describe(),
            prefixes: referrer.prefixes.clone(),
            suffixes: referrer.suffixes.clone(),
            role_ref,
        };
        for (target, fs) in specs {
            let f = Fixer {
                ctx: &ctx,
                target,
                spec: fs,
                referrer: &who,
            };
            fs.visit(&mut referrer.obj, &mut |v| f.set(v))?;
        }
    }
    Ok(())
}

/// The referrer's facts the fix-up needs while its object is being changed.
struct Referrer {
    describe: String,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
    role_ref: Option<(String, String)>,
}

fn role_ref_of(obj: &Value) -> Option<(String, String)> {
    let rr = obj.get("roleRef")?;
    let group = rr.get("apiGroup")?.as_str()?;
    let kind = rr.get("kind")?.as_str()?;
    Some((group.to_string(), kind.to_string()))
}

/// What the referrer may refer to (kustomize's `SubsetThatCouldBeReferencedByResource`).
struct ReferrerCtx<'a> {
    referrer_id: &'a ResId,
    subset: Vec<&'a Candidate>,
}

impl<'a> ReferrerCtx<'a> {
    fn new(
        referrer: &Resource,
        referrer_id: &'a ResId,
        cands: &'a [Candidate],
    ) -> Result<ReferrerCtx<'a>> {
        if referrer_id.gvk.is_cluster_scoped() {
            return Ok(ReferrerCtx {
                referrer_id,
                subset: cands.iter().collect(),
            });
        }
        let rb_namespaces = role_binding_namespaces(referrer, referrer_id)?;
        let eff = referrer_id.effective_namespace();
        let subset = cands
            .iter()
            .filter(|c| {
                c.cluster_scoped
                    || c.effective_namespace == eff
                    || rb_namespaces.contains(&c.namespace)
            })
            .collect();
        Ok(ReferrerCtx {
            referrer_id,
            subset,
        })
    }
}

/// The namespaces of a RoleBinding's ServiceAccount subjects (other objects: none); a subject with a
/// `namespace` that is not a string (`namespace:` left blank) is an error, as in kustomize.
fn role_binding_namespaces(r: &Resource, id: &ResId) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if id.gvk.kind != "RoleBinding" {
        return Ok(out);
    }
    let Some(Value::Array(subjects)) = r.obj.get("subjects") else {
        return Ok(out);
    };
    for s in subjects {
        let Some(ns) = s.get("namespace") else {
            continue;
        };
        if s.get("kind").and_then(|k| k.as_str()) != Some("ServiceAccount") {
            continue;
        }
        match ns.as_str() {
            Some(ns) => out.push(ns.to_string()),
            None => {
                return Err(Error::new(ErrorKind::Object {
                    object: r.describe(),
                    field: "subjects".into(),
                    message:
                        "a ServiceAccount subject's namespace is blank; set it or remove the field"
                            .into(),
                }));
            }
        }
    }
    Ok(out)
}

struct Fixer<'a> {
    ctx: &'a ReferrerCtx<'a>,
    target: &'a Gvk,
    spec: &'a FieldSpec,
    referrer: &'a Referrer,
}

impl Fixer<'_> {
    fn set(&self, v: &mut Value) -> Result<()> {
        match v {
            Value::Null => Ok(()),
            Value::String(_) => self.set_scalar(v),
            Value::Object(_) => self.set_mapping(v),
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::String(_) => self.set_scalar(item)?,
                        Value::Object(_) => self.set_mapping(item)?,
                        _ => {}
                    }
                }
                Ok(())
            }
            _ => Err(self.error("expected a name (string), a list of names, or a map with 'name'")),
        }
    }

    fn error(&self, message: &str) -> Error {
        Error::new(ErrorKind::Object {
            object: self.referrer.describe.clone(),
            field: self.spec.path.clone(),
            message: message.to_string(),
        })
    }

    fn set_scalar(&self, v: &mut Value) -> Result<()> {
        let Some(old) = v.as_str() else { return Ok(()) };
        if let Some(c) = self.select(old, &self.ctx.subset, false)?
            && c.name != old
        {
            *v = Value::String(c.name.clone());
        }
        Ok(())
    }

    fn set_mapping(&self, v: &mut Value) -> Result<()> {
        let Some(map) = v.as_object_mut() else {
            return Ok(());
        };
        let Some(old) = map.get("name").and_then(|n| n.as_str()).map(str::to_string) else {
            return Err(self.error("cannot find field 'name'"));
        };
        let candidates: Vec<&Candidate> = match map.get("namespace").and_then(|n| n.as_str()) {
            None => self.ctx.subset.clone(),
            Some(ns) => {
                let by_org: Vec<&Candidate> = self
                    .ctx
                    .subset
                    .iter()
                    .copied()
                    .filter(|c| !c.cluster_scoped && c.org_namespace_effective == ns)
                    .collect();
                if by_org.is_empty() {
                    self.ctx
                        .subset
                        .iter()
                        .copied()
                        .filter(|c| !c.cluster_scoped && c.effective_namespace == ns)
                        .collect()
                } else {
                    by_org
                }
            }
        };
        let Some(c) = self.select(&old, &candidates, true)? else {
            return Ok(());
        };
        if c.name == old && c.namespace.is_empty() {
            return Ok(());
        }
        map.insert("name".into(), Value::String(c.name.clone()));
        if !c.namespace.is_empty() {
            map.insert("namespace".into(), Value::String(c.namespace.clone()));
        }
        Ok(())
    }

    /// kustomize's `selectReferral`: earlier name matches, kind matches, roleRef kind matches, same
    /// namespace as the referrer; ties broken by matching prefixes/suffixes.
    fn select<'c>(
        &self,
        old: &str,
        pool: &[&'c Candidate],
        mapping: bool,
    ) -> Result<Option<&'c Candidate>> {
        let role_ref = if self.spec.path.ends_with("roleRef/name") {
            match &self.referrer.role_ref {
                Some(rr) => Some(rr),
                None => return Ok(None),
            }
        } else {
            None
        };
        let t = self.target;
        let referrer_eff = self.ctx.referrer_id.effective_namespace();
        let referrer_cluster = self.ctx.referrer_id.gvk.is_cluster_scoped();
        let found: Vec<&'c Candidate> = pool
            .iter()
            .copied()
            .filter(|c| c.prev_ids.iter().any(|id| id.name == old))
            .filter(|c| {
                c.prev_ids
                    .iter()
                    .any(|id| id.gvk.is_selected_by(&t.group, &t.version, &t.kind))
            })
            .filter(|c| match &role_ref {
                Some((g, k)) => c.prev_ids.iter().any(|id| id.gvk.is_selected_by(g, "", k)),
                None => true,
            })
            .filter(|c| {
                referrer_cluster
                    || c.cluster_scoped
                    || c.is_service_account
                    || c.effective_namespace == referrer_eff
            })
            .collect();
        if found.len() == 1 {
            return Ok(found.into_iter().next());
        }
        let affixes_match = |c: &Candidate, allow_empty: bool| {
            let (rp, rs) = (&self.referrer.prefixes, &self.referrer.suffixes);
            let prefix_ok = (allow_empty && (rp.is_empty() || c.prefixes.is_empty()))
                || crate::resource::same_ending(rp, &c.prefixes);
            let suffix_ok = (allow_empty && (rs.is_empty() || c.suffixes.is_empty()))
                || crate::resource::same_ending(rs, &c.suffixes);
            prefix_ok && suffix_ok
        };
        let mut rest: Vec<&'c Candidate> = found
            .into_iter()
            .filter(|c| affixes_match(c, true))
            .collect();
        if rest.len() > 1 {
            rest.retain(|c| affixes_match(c, false));
        }
        match rest.as_slice() {
            [] => return Ok(None),
            [one] => return Ok(Some(one)),
            _ => {}
        }
        // Several left: fine when they are interchangeable for this field (same name; for a
        // mapping, which also takes the namespace, same name and namespace).
        if rest
            .iter()
            .all(|c| c.name == rest[0].name && (!mapping || c.namespace == rest[0].namespace))
        {
            return Ok(Some(rest[0]));
        }
        let ids: Vec<String> = rest.iter().map(|c| c.cur.to_string()).collect();
        Err(self.error(&format!(
            "'{old}' could refer to several objects: {}",
            ids.join(", ")
        )))
    }
}
