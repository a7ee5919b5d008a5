//! Resource identity: group/version/kind plus name and namespace, with kustomize's equality rules
//! (an empty namespace of a namespaced kind means `default`; cluster-scoped kinds have none).

use std::fmt;

use serde_json::Value;

/// Group, version and kind of an object; empty strings mean "unset".
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    /// Splits `apiVersion` (`apps/v1`, `v1`) and takes `kind`.
    pub fn from_api_version(api_version: &str, kind: &str) -> Gvk {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.to_string()),
        };
        Gvk {
            group,
            version,
            kind: kind.to_string(),
        }
    }

    /// The GVK of an object (missing fields are empty).
    pub fn of(obj: &Value) -> Gvk {
        Gvk::from_api_version(str_at(obj, &["apiVersion"]), str_at(obj, &["kind"]))
    }

    /// kustomize's `IsSelected`: every non-empty field of `selector` equals ours.
    pub fn is_selected_by(&self, group: &str, version: &str, kind: &str) -> bool {
        (group.is_empty() || group == self.group)
            && (version.is_empty() || version == self.version)
            && (kind.is_empty() || kind == self.kind)
    }

    /// Whether objects of this kind live outside namespaces: kustomize's table for its built-in
    /// schema (Kubernetes 1.21), by exact group, version and kind. Anything else, including newer
    /// kinds such as ValidatingAdmissionPolicy and custom kinds, counts as namespaced, as there.
    pub fn is_cluster_scoped(&self) -> bool {
        let versions: &[&str] = match (self.group.as_str(), self.kind.as_str()) {
            (
                "admissionregistration.k8s.io",
                "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration",
            )
            | ("apiextensions.k8s.io", "CustomResourceDefinition")
            | ("apiregistration.k8s.io", "APIService")
            | ("certificates.k8s.io", "CertificateSigningRequest")
            | ("networking.k8s.io", "IngressClass")
            | ("node.k8s.io", "RuntimeClass")
            | ("rbac.authorization.k8s.io", "ClusterRole" | "ClusterRoleBinding")
            | ("scheduling.k8s.io", "PriorityClass")
            | ("storage.k8s.io", "CSIDriver" | "CSINode" | "StorageClass" | "VolumeAttachment") => {
                &["v1", "v1beta1"]
            }
            ("flowcontrol.apiserver.k8s.io", "FlowSchema" | "PriorityLevelConfiguration")
            | ("policy", "PodSecurityPolicy") => &["v1beta1"],
            (
                "",
                "ComponentStatus" | "Namespace" | "Node" | "NodeProxyOptions" | "PersistentVolume",
            ) => &["v1"],
            _ => &[],
        };
        versions.contains(&self.version.as_str())
    }

    /// `group_version_kind` with kustomize's placeholders, used for ordering.
    pub(crate) fn sort_string(&self) -> String {
        let or = |s: &str, d: &'static str| {
            if s.is_empty() {
                d.to_string()
            } else {
                s.to_string()
            }
        };
        format!(
            "{}_{}_{}",
            or(&self.group, "~G"),
            or(&self.version, "~V"),
            or(&self.kind, "~K")
        )
    }

    /// `group/version` or just `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// Identity of one object in a build.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ResId {
    pub gvk: Gvk,
    pub name: String,
    pub namespace: String,
}

impl ResId {
    /// The current identity of an object.
    pub fn of(obj: &Value) -> ResId {
        ResId {
            gvk: Gvk::of(obj),
            name: str_at(obj, &["metadata", "name"]).to_string(),
            namespace: str_at(obj, &["metadata", "namespace"]).to_string(),
        }
    }

    /// The namespace Kubernetes would use: `default` when empty, none for cluster-scoped kinds.
    pub fn effective_namespace(&self) -> &str {
        if self.gvk.is_cluster_scoped() {
            "_non_namespaceable_"
        } else if self.namespace.is_empty() {
            "default"
        } else {
            &self.namespace
        }
    }

    /// kustomize's `ResId.Equals`: same GVK and name, same effective namespace.
    pub fn same_as(&self, o: &ResId) -> bool {
        self.gvk == o.gvk
            && self.name == o.name
            && self.effective_namespace() == o.effective_namespace()
    }

    /// Same GVK and name, any namespace.
    pub fn same_gvkn(&self, o: &ResId) -> bool {
        self.gvk == o.gvk && self.name == o.name
    }

    /// `gvk|namespace|name` with kustomize's placeholders, the key of the legacy order.
    pub(crate) fn sort_string(&self) -> String {
        let ns = if self.namespace.is_empty() {
            "~X"
        } else {
            &self.namespace
        };
        let name = if self.name.is_empty() {
            "~N"
        } else {
            &self.name
        };
        format!("{}|{}|{}", self.gvk.sort_string(), ns, name)
    }
}

impl fmt::Display for ResId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let api = self.gvk.api_version();
        if !api.is_empty() {
            write!(f, "{api} ")?;
        }
        write!(
            f,
            "{}",
            if self.gvk.kind.is_empty() {
                "<no kind>"
            } else {
                &self.gvk.kind
            }
        )?;
        if !self.namespace.is_empty() {
            write!(f, " {}/{}", self.namespace, self.name)
        } else {
            write!(f, " {}", self.name)
        }
    }
}

/// The string at a path of object keys, or "" when missing or not a string.
pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for k in path {
        match cur.get(k) {
            Some(n) => cur = n,
            None => return "",
        }
    }
    cur.as_str().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_compare_with_effective_namespace() {
        let a =
            ResId::of(&json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}}));
        let b = ResId::of(
            &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a", "namespace": "default"}}),
        );
        assert!(a.same_as(&b));
        assert_eq!(a.gvk.sort_string(), "~G_v1_Service");
        assert_eq!(a.sort_string(), "~G_v1_Service|~X|a");
    }

    #[test]
    fn cluster_scope_table() {
        assert!(
            Gvk::from_api_version("rbac.authorization.k8s.io/v1", "ClusterRole")
                .is_cluster_scoped()
        );
        assert!(!Gvk::from_api_version("example.com/v1", "ClusterRole").is_cluster_scoped());
        assert!(!Gvk::from_api_version("apps/v1", "Deployment").is_cluster_scoped());
    }
}
