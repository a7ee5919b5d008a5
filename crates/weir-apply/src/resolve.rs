//! Finding the API resource (plural name and scope) behind each kind in a manifest set, from the
//! set's own CustomResourceDefinitions and from discovery, so unknown kinds fail before any write.

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, TryStreamExt, stream};
use kube::core::GroupVersion;
use kube::discovery::{Scope, oneshot};
use serde_json::Value;

/// Where objects of one kind live in the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// API group; empty for the core group.
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// The plural resource name used in URLs.
    pub plural: String,
    /// Whether objects of this kind live in a namespace.
    pub namespaced: bool,
}

impl Resource {
    /// `apiVersion` of objects of this resource.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// (group, version, kind).
pub type Gvk = (String, String, String);

/// Discovery failed for a reason other than "no such group version".
#[derive(Debug, thiserror::Error)]
#[error("discovery of {group_version} failed")]
pub struct DiscoveryError {
    /// The group version asked for.
    pub group_version: String,
    #[source]
    source: kube::Error,
}

/// Kinds defined by CustomResourceDefinitions in the set, one [`Resource`] per served version.
pub fn kinds_from_crds(manifests: &[Value]) -> BTreeMap<Gvk, Resource> {
    let mut out = BTreeMap::new();
    for crd in manifests {
        let is_crd = crd.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition")
            && crd
                .get("apiVersion")
                .and_then(Value::as_str)
                .is_some_and(|v| v.starts_with("apiextensions.k8s.io/"));
        if !is_crd {
            continue;
        }
        let text = |p: &str| {
            crd.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (group, kind, plural) = (
            text("/spec/group"),
            text("/spec/names/kind"),
            text("/spec/names/plural"),
        );
        if kind.is_empty() || plural.is_empty() {
            continue;
        }
        let namespaced = text("/spec/scope") != "Cluster";
        for v in crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(version) = v.get("name").and_then(Value::as_str) {
                out.insert(
                    (group.clone(), version.to_string(), kind.clone()),
                    Resource {
                        group: group.clone(),
                        version: version.into(),
                        kind: kind.clone(),
                        plural: plural.clone(),
                        namespaced,
                    },
                );
            }
        }
    }
    out
}

/// A kind neither the cluster nor the set defines, with the kinds of its group version that look alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The unknown (group, version, kind).
    pub gvk: Gvk,
    /// Kinds served in the same group version whose names are close (case or a typo apart).
    pub similar: Vec<String>,
}

/// Kinds among `candidates` that differ from `kind` only in case or by at most two edits.
pub fn similar_kinds(kind: &str, candidates: &[String]) -> Vec<String> {
    let lower = kind.to_ascii_lowercase();
    let mut out: Vec<String> = candidates
        .iter()
        .filter(|c| {
            let l = c.to_ascii_lowercase();
            c.as_str() != kind && (l == lower || weir_api::suggest::edit_distance(&l, &lower) <= 2)
        })
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Resolves every kind in `wanted`: from `from_set` first (CRDs in the same set), else from one
/// discovery request per group version. Kinds found nowhere come back in the second list.
pub async fn resolve(
    client: &kube::Client,
    wanted: &BTreeSet<Gvk>,
    from_set: &BTreeMap<Gvk, Resource>,
    concurrency: usize,
) -> Result<(BTreeMap<Gvk, Resource>, Vec<Missing>), DiscoveryError> {
    let mut found = BTreeMap::new();
    let mut group_versions = BTreeSet::new();
    for gvk in wanted {
        match from_set.get(gvk) {
            Some(r) => {
                found.insert(gvk.clone(), r.clone());
            }
            None => {
                group_versions.insert((gvk.0.clone(), gvk.1.clone()));
            }
        }
    }
    let discovered: Vec<Vec<Resource>> = stream::iter(group_versions)
        .map(|(group, version)| async move {
            let gv = GroupVersion::gv(&group, &version);
            match oneshot::pinned_group(client, &gv).await {
                Ok(api_group) => Ok(api_group
                    .versioned_resources(&version)
                    .into_iter()
                    .filter(|(ar, _)| !ar.plural.contains('/'))
                    .map(|(ar, caps)| Resource {
                        group: ar.group,
                        version: ar.version,
                        kind: ar.kind,
                        plural: ar.plural,
                        namespaced: caps.scope == Scope::Namespaced,
                    })
                    .collect()),
                Err(kube::Error::Api(status)) if status.code == 404 => Ok(Vec::new()),
                Err(source) => Err(DiscoveryError {
                    group_version: gv.api_version(),
                    source,
                }),
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    let mut served: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for r in from_set.values() {
        served
            .entry((r.group.clone(), r.version.clone()))
            .or_default()
            .push(r.kind.clone());
    }
    for r in discovered.into_iter().flatten() {
        served
            .entry((r.group.clone(), r.version.clone()))
            .or_default()
            .push(r.kind.clone());
        let gvk = (r.group.clone(), r.version.clone(), r.kind.clone());
        if wanted.contains(&gvk) && !found.contains_key(&gvk) {
            found.insert(gvk, r);
        }
    }
    let missing = wanted
        .iter()
        .filter(|g| !found.contains_key(*g))
        .map(|g| Missing {
            similar: similar_kinds(
                &g.2,
                served
                    .get(&(g.0.clone(), g.1.clone()))
                    .map_or(&[][..], Vec::as_slice),
            ),
            gvk: g.clone(),
        })
        .collect();
    Ok((found, missing))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn similar_kinds_catch_case_and_typos() {
        let kinds: Vec<String> = ["ConfigMap", "Secret", "Service", "ServiceAccount"]
            .map(String::from)
            .to_vec();
        assert_eq!(similar_kinds("configmap", &kinds), vec!["ConfigMap"]);
        assert_eq!(similar_kinds("Servce", &kinds), vec!["Service"]);
        assert!(similar_kinds("Widget", &kinds).is_empty());
    }

    #[test]
    fn crds_in_the_set_define_their_kinds() {
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"},
                     "versions": [{"name": "v1"}, {"name": "v2"}]}});
        let kinds = kinds_from_crds(&[crd]);
        let key = (
            "example.com".to_string(),
            "v2".to_string(),
            "Widget".to_string(),
        );
        assert_eq!(
            kinds.get(&key).map(|r| (r.plural.as_str(), r.namespaced)),
            Some(("widgets", true))
        );
        assert_eq!(kinds.len(), 2);
    }
}
