//! What `weir install` puts in a cluster: the CRDs (generated from weir-api's types), a namespace,
//! a ServiceAccount with the rights the controller needs, and a Deployment running it.

use kube::CustomResourceExt;
use serde_json::{Value, json};
use weir_api::flux::{GitRepositoryObject, KustomizationObject, OCIRepositoryObject};

/// Knobs of the installation.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    pub namespace: String,
    pub image: String,
}

impl Default for InstallOptions {
    fn default() -> Self {
        InstallOptions {
            namespace: "flux-system".into(),
            image: "ghcr.io/weir-gitops/weir:latest".into(),
        }
    }
}

/// The CustomResourceDefinitions weir reconciles, with structural schemas and status subresources.
pub fn crds() -> Vec<Value> {
    [
        KustomizationObject::crd(),
        GitRepositoryObject::crd(),
        OCIRepositoryObject::crd(),
    ]
    .into_iter()
    .map(|crd| serde_json::to_value(crd).unwrap_or(Value::Null))
    .filter(|v| !v.is_null())
    .collect()
}

/// Every object of an installation, CRDs first.
pub fn manifests(opts: &InstallOptions) -> Vec<Value> {
    let ns = &opts.namespace;
    let labels = json!({"app.kubernetes.io/name": "weir", "app.kubernetes.io/part-of": "weir"});
    let mut out = crds();
    out.push(json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": ns, "labels": labels},
    }));
    out.push(json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "weir", "namespace": ns, "labels": labels},
    }));
    // Applying arbitrary manifests needs every verb on every kind, as Flux's kustomize-controller;
    // tenants are confined by spec.serviceAccountName (impersonation), which this role grants.
    out.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "weir-controller", "labels": labels},
        "rules": [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"nonResourceURLs": ["*"], "verbs": ["*"]},
        ],
    }));
    out.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "weir-controller", "labels": labels},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "weir-controller"},
        "subjects": [{"kind": "ServiceAccount", "name": "weir", "namespace": ns}],
    }));
    out.push(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "weir-controller", "namespace": ns, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "weir"}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": "weir",
                    "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "weir",
                        "image": opts.image,
                        "args": ["controller", "--storage-dir=/data", "--log-format=json"],
                        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "1Gi"}},
                        "securityContext": {
                            "allowPrivilegeEscalation": false,
                            "readOnlyRootFilesystem": true,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}],
                    }],
                    "volumes": [{"name": "data", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crds_first_then_the_rest_in_the_namespace() {
        let m = manifests(&InstallOptions {
            namespace: "weir-system".into(),
            image: "weir:test".into(),
        });
        assert_eq!(m[0]["kind"], "CustomResourceDefinition");
        assert_eq!(
            m[0]["metadata"]["name"],
            "kustomizations.kustomize.toolkit.fluxcd.io"
        );
        assert_eq!(
            m[1]["metadata"]["name"],
            "gitrepositories.source.toolkit.fluxcd.io"
        );
        let deploy = m.iter().find(|o| o["kind"] == "Deployment").unwrap();
        assert_eq!(deploy["metadata"]["namespace"], "weir-system");
        assert_eq!(
            deploy["spec"]["template"]["spec"]["containers"][0]["image"],
            "weir:test"
        );
        let binding = m
            .iter()
            .find(|o| o["kind"] == "ClusterRoleBinding")
            .unwrap();
        assert_eq!(binding["subjects"][0]["namespace"], "weir-system");
    }
}
