//! Finding the API resource (plural name and scope) behind each kind in a manifest set, from the
//! set's own CustomResourceDefinitions and from discovery (cached per group version), so unknown
//! kinds fail before any write.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt, stream};
use serde_json::Value;
use tokio::sync::RwLock;

use crate::cluster::{CallError, Cluster};

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
    pub source: CallError,
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

/// The resources of each group version, from discovery, shared by every call of an
/// [`crate::Applier`] (and its clones) and safe to use from many tasks at once.
///
/// A group version is fetched once and then served from memory. A kind missing from a cached group
/// version fetches that group version again (a CRD may have been created since), so a miss is never
/// remembered.
#[derive(Debug, Default)]
pub struct Discovery {
    cache: RwLock<HashMap<GroupVersion, Arc<Vec<Resource>>>>,
}

/// (group, version).
type GroupVersion = (String, String);

impl Discovery {
    /// Forgets group version `group`/`version` (e.g. after its CRD was deleted).
    pub async fn invalidate(&self, group: &str, version: &str) {
        self.cache
            .write()
            .await
            .remove(&(group.to_string(), version.to_string()));
    }

    /// Number of group versions held.
    pub async fn cached(&self) -> usize {
        self.cache.read().await.len()
    }

    /// Resolves every kind in `wanted`: from `from_set` first (CRDs in the same set), else from the
    /// cache, else from one discovery request per group version. Kinds found nowhere come back in the
    /// second list.
    pub(crate) async fn resolve(
        &self,
        cluster: &Cluster<'_>,
        wanted: &BTreeSet<Gvk>,
        from_set: &BTreeMap<Gvk, Resource>,
        concurrency: usize,
    ) -> Result<(BTreeMap<Gvk, Resource>, Vec<Missing>), DiscoveryError> {
        let mut found = BTreeMap::new();
        // Group version -> whether a cached copy may serve it.
        let mut group_versions: BTreeMap<(String, String), Vec<&Gvk>> = BTreeMap::new();
        for gvk in wanted {
            match from_set.get(gvk) {
                Some(r) => {
                    found.insert(gvk.clone(), r.clone());
                }
                None => group_versions
                    .entry((gvk.0.clone(), gvk.1.clone()))
                    .or_default()
                    .push(gvk),
            }
        }
        let mut served: BTreeMap<(String, String), Arc<Vec<Resource>>> = BTreeMap::new();
        let mut fetch = Vec::new();
        {
            let cache = self.cache.read().await;
            for (gv, kinds) in &group_versions {
                match cache.get(gv) {
                    Some(list) if kinds.iter().all(|k| list.iter().any(|r| r.kind == k.2)) => {
                        served.insert(gv.clone(), list.clone());
                    }
                    _ => fetch.push(gv.clone()),
                }
            }
        }
        let fetched: Vec<((String, String), Vec<Resource>)> = stream::iter(fetch)
            .map(|gv| async move {
                let list = fetch_group_version(cluster, &gv.0, &gv.1).await?;
                Ok::<_, DiscoveryError>((gv, list))
            })
            .buffer_unordered(concurrency.max(1))
            .try_collect()
            .await?;
        if !fetched.is_empty() {
            let mut cache = self.cache.write().await;
            for (gv, list) in fetched {
                let list = Arc::new(list);
                if list.is_empty() {
                    cache.remove(&gv);
                } else {
                    cache.insert(gv.clone(), list.clone());
                }
                served.insert(gv, list);
            }
        }
        let mut kinds_of: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for r in from_set.values() {
            kinds_of
                .entry((r.group.clone(), r.version.clone()))
                .or_default()
                .push(r.kind.clone());
        }
        for (gv, list) in &served {
            for r in list.iter() {
                kinds_of.entry(gv.clone()).or_default().push(r.kind.clone());
                let gvk = (r.group.clone(), r.version.clone(), r.kind.clone());
                if wanted.contains(&gvk) && !found.contains_key(&gvk) {
                    found.insert(gvk, r.clone());
                }
            }
        }
        let missing = wanted
            .iter()
            .filter(|g| !found.contains_key(*g))
            .map(|g| Missing {
                similar: similar_kinds(
                    &g.2,
                    kinds_of
                        .get(&(g.0.clone(), g.1.clone()))
                        .map_or(&[][..], Vec::as_slice),
                ),
                gvk: g.clone(),
            })
            .collect();
        Ok((found, missing))
    }
}

/// The resources served in one group version (empty when the group version is not served).
async fn fetch_group_version(
    cluster: &Cluster<'_>,
    group: &str,
    version: &str,
) -> Result<Vec<Resource>, DiscoveryError> {
    let uri = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let doc = cluster
        .get_path(uri)
        .await
        .map_err(|source| DiscoveryError {
            group_version: if group.is_empty() {
                version.to_string()
            } else {
                format!("{group}/{version}")
            },
            source,
        })?;
    Ok(doc
        .as_ref()
        .map_or_else(Vec::new, |d| resources_of(d, group, version)))
}

/// The top-level resources (no subresources) of an `APIResourceList`.
fn resources_of(doc: &Value, group: &str, version: &str) -> Vec<Resource> {
    doc.get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let plural = r.get("name")?.as_str()?;
            let kind = r.get("kind")?.as_str()?;
            if plural.contains('/') {
                return None;
            }
            Some(Resource {
                group: group.to_string(),
                version: version.to_string(),
                kind: kind.to_string(),
                plural: plural.to_string(),
                namespaced: r
                    .get("namespaced")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            })
        })
        .collect()
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
    fn resource_lists_skip_subresources() {
        let doc = json!({"kind": "APIResourceList", "groupVersion": "apps/v1", "resources": [
            {"name": "deployments", "kind": "Deployment", "namespaced": true},
            {"name": "deployments/scale", "kind": "Scale", "namespaced": true},
            {"name": "things", "kind": "Thing", "namespaced": false}]});
        let got = resources_of(&doc, "apps", "v1");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].plural, "deployments");
        assert!(got[0].namespaced && !got[1].namespaced);
        assert_eq!(got[1].api_version(), "apps/v1");
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
