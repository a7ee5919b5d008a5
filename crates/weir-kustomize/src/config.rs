//! kustomize's built-in transformer configuration: which fields hold labels, annotations, namespaces,
//! images, replica counts, var references, and which fields refer to other objects by name.

use std::sync::OnceLock;

use crate::fieldspec::FieldSpec;
use crate::resid::Gvk;

/// The built-in field specs, built once.
pub(crate) struct Config {
    pub common_labels: Vec<FieldSpec>,
    pub template_labels: Vec<FieldSpec>,
    pub common_annotations: Vec<FieldSpec>,
    pub namespace: Vec<FieldSpec>,
    pub images: Vec<FieldSpec>,
    pub replicas: Vec<FieldSpec>,
    pub var_reference: Vec<FieldSpec>,
    /// (referred-to kind, fields that refer to it), in kustomize's order.
    pub name_reference: Vec<(Gvk, Vec<FieldSpec>)>,
}

pub(crate) fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(build)
}

fn fs(group: &str, version: &str, kind: &str, path: &str, create: bool) -> FieldSpec {
    FieldSpec::new(group, version, kind, path, create)
}

fn gvk(group: &str, version: &str, kind: &str) -> Gvk {
    Gvk {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
    }
}

/// Pod-template owners: (group, version, kind, prefix of the pod spec).
const POD_SPEC_OWNERS: &[(&str, &str, &str, &str)] = &[
    ("", "v1", "Pod", "spec"),
    ("", "", "PodTemplate", "template/spec"),
    ("", "", "Deployment", "spec/template/spec"),
    ("", "", "ReplicaSet", "spec/template/spec"),
    ("", "", "DaemonSet", "spec/template/spec"),
    ("", "", "StatefulSet", "spec/template/spec"),
    ("", "", "Job", "spec/template/spec"),
    ("", "", "CronJob", "spec/jobTemplate/spec/template/spec"),
];

/// Owners of a pod template for fields kustomize lists with ReplicationController instead of
/// PodTemplate/ReplicaSet (service accounts, claims, priority classes).
const POD_SPEC_OWNERS_RC: &[(&str, &str, &str, &str)] = &[
    ("", "", "Pod", "spec"),
    ("", "", "StatefulSet", "spec/template/spec"),
    ("", "", "Deployment", "spec/template/spec"),
    ("", "", "ReplicationController", "spec/template/spec"),
    ("", "", "CronJob", "spec/jobTemplate/spec/template/spec"),
    ("", "", "Job", "spec/template/spec"),
    ("", "", "DaemonSet", "spec/template/spec"),
];

fn in_pod_specs(owners: &[(&str, &str, &str, &str)], suffixes: &[&str]) -> Vec<FieldSpec> {
    let mut out = Vec::new();
    for (g, v, k, prefix) in owners {
        for s in suffixes {
            out.push(fs(g, v, k, &format!("{prefix}/{s}"), false));
        }
    }
    out
}

fn build() -> Config {
    // Labels in metadata and pod templates (kustomize's metadataLabels).
    let template_labels = vec![
        fs(
            "",
            "v1",
            "ReplicationController",
            "spec/template/metadata/labels",
            true,
        ),
        fs("", "", "Deployment", "spec/template/metadata/labels", true),
        fs("", "", "ReplicaSet", "spec/template/metadata/labels", true),
        fs("", "", "DaemonSet", "spec/template/metadata/labels", true),
        fs(
            "apps",
            "",
            "StatefulSet",
            "spec/template/metadata/labels",
            true,
        ),
        fs(
            "apps",
            "",
            "StatefulSet",
            "spec/volumeClaimTemplates[]/metadata/labels",
            true,
        ),
        fs("batch", "", "Job", "spec/template/metadata/labels", true),
        fs(
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/metadata/labels",
            true,
        ),
        fs(
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/spec/template/metadata/labels",
            true,
        ),
    ];
    let mut common_labels = vec![
        fs("", "v1", "Service", "spec/selector", true),
        fs("", "v1", "ReplicationController", "spec/selector", true),
        fs("", "", "Deployment", "spec/selector/matchLabels", true),
    ];
    let affinity = [
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
    ];
    for p in affinity {
        common_labels.push(fs("apps", "", "Deployment", p, false));
    }
    common_labels.push(fs("", "", "ReplicaSet", "spec/selector/matchLabels", true));
    common_labels.push(fs("", "", "DaemonSet", "spec/selector/matchLabels", true));
    common_labels.push(fs(
        "apps",
        "",
        "StatefulSet",
        "spec/selector/matchLabels",
        true,
    ));
    common_labels.push(fs(
        "apps",
        "",
        "StatefulSet",
        "spec/volumeClaimTemplates[]/metadata/labels",
        true,
    ));
    for p in affinity {
        common_labels.push(fs("apps", "", "StatefulSet", p, false));
    }
    common_labels.push(fs("batch", "", "Job", "spec/selector/matchLabels", false));
    common_labels.push(fs(
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/spec/selector/matchLabels",
        false,
    ));
    common_labels.push(fs(
        "policy",
        "",
        "PodDisruptionBudget",
        "spec/selector/matchLabels",
        false,
    ));
    common_labels.push(fs(
        "networking.k8s.io",
        "",
        "NetworkPolicy",
        "spec/podSelector/matchLabels",
        false,
    ));
    common_labels.push(fs(
        "networking.k8s.io",
        "",
        "NetworkPolicy",
        "spec/ingress/from/podSelector/matchLabels",
        false,
    ));
    common_labels.push(fs(
        "networking.k8s.io",
        "",
        "NetworkPolicy",
        "spec/egress/to/podSelector/matchLabels",
        false,
    ));
    let mut metadata_labels = vec![FieldSpec::any("metadata/labels", true)];
    crate::fieldspec::merge_all(&mut metadata_labels, &template_labels);
    crate::fieldspec::merge_all(&mut common_labels, &metadata_labels);

    let common_annotations = vec![
        FieldSpec::any("metadata/annotations", true),
        fs(
            "",
            "v1",
            "ReplicationController",
            "spec/template/metadata/annotations",
            true,
        ),
        fs(
            "",
            "",
            "Deployment",
            "spec/template/metadata/annotations",
            true,
        ),
        fs(
            "",
            "",
            "ReplicaSet",
            "spec/template/metadata/annotations",
            true,
        ),
        fs(
            "",
            "",
            "DaemonSet",
            "spec/template/metadata/annotations",
            true,
        ),
        fs(
            "",
            "",
            "StatefulSet",
            "spec/template/metadata/annotations",
            true,
        ),
        fs(
            "batch",
            "",
            "Job",
            "spec/template/metadata/annotations",
            true,
        ),
        fs(
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/metadata/annotations",
            true,
        ),
        fs(
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/spec/template/metadata/annotations",
            true,
        ),
    ];

    // metadata/namespace and RoleBinding subjects are handled in code (namespace.rs).
    let namespace = vec![
        fs("", "", "Namespace", "metadata/name", true),
        fs(
            "apiregistration.k8s.io",
            "",
            "APIService",
            "spec/service/namespace",
            true,
        ),
        fs(
            "apiextensions.k8s.io",
            "",
            "CustomResourceDefinition",
            "spec/conversion/webhook/clientConfig/service/namespace",
            false,
        ),
    ];

    // kustomize lists these with `create: true` but its image filter only rewrites existing images.
    let images = vec![
        FieldSpec::any("spec/containers[]/image", false),
        FieldSpec::any("spec/initContainers[]/image", false),
        FieldSpec::any("spec/volumes[]/image/reference", false),
        FieldSpec::any("spec/template/spec/containers[]/image", false),
        FieldSpec::any("spec/template/spec/initContainers[]/image", false),
        FieldSpec::any("spec/template/spec/volumes[]/image/reference", false),
    ];

    let replicas = [
        "Deployment",
        "ReplicationController",
        "ReplicaSet",
        "StatefulSet",
    ]
    .iter()
    .map(|k| fs("", "", k, "spec/replicas", true))
    .collect();

    let mut var_reference = Vec::new();
    let container_fields = [
        "containers/args",
        "containers/command",
        "containers/env/value",
        "containers/volumeMounts/mountPath",
        "initContainers/args",
        "initContainers/command",
        "initContainers/env/value",
        "initContainers/volumeMounts/mountPath",
        "volumes/nfs/server",
    ];
    for (kind, prefix) in [
        ("CronJob", "spec/jobTemplate/spec/template/spec"),
        ("DaemonSet", "spec/template/spec"),
        ("Deployment", "spec/template/spec"),
    ] {
        for f in container_fields {
            // kustomize's CronJob entry for NFS servers lacks the template's `spec` (kept as is).
            let path = if kind == "CronJob" && f == "volumes/nfs/server" {
                format!("spec/jobTemplate/spec/template/{f}")
            } else {
                format!("{prefix}/{f}")
            };
            var_reference.push(fs("", "", kind, &path, false));
        }
    }
    var_reference.push(fs(
        "",
        "",
        "Deployment",
        "spec/template/metadata/annotations",
        false,
    ));
    var_reference.push(fs("", "", "Ingress", "spec/rules/host", false));
    var_reference.push(fs("", "", "Ingress", "spec/tls/hosts", false));
    var_reference.push(fs("", "", "Ingress", "spec/tls/secretName", false));
    for (kind, prefix) in [
        ("Job", "spec/template/spec"),
        ("Pod", "spec"),
        ("ReplicaSet", "spec/template/spec"),
    ] {
        for f in container_fields {
            var_reference.push(fs("", "", kind, &format!("{prefix}/{f}"), false));
        }
    }
    var_reference.push(fs("", "", "Service", "spec/ports/port", false));
    var_reference.push(fs("", "", "Service", "spec/ports/targetPort", false));
    for f in &container_fields[..8] {
        var_reference.push(fs(
            "",
            "",
            "StatefulSet",
            &format!("spec/template/spec/{f}"),
            false,
        ));
    }
    var_reference.push(fs(
        "",
        "",
        "StatefulSet",
        "spec/volumeClaimTemplates/spec/nfs/server",
        false,
    ));
    var_reference.push(fs("", "", "PersistentVolume", "spec/nfs/server", false));
    var_reference.push(FieldSpec::any("metadata/labels", false));
    var_reference.push(FieldSpec::any("metadata/annotations", false));
    var_reference.push(FieldSpec::any("metadata/labels", false));
    var_reference.push(FieldSpec::any("metadata/annotations", false));

    Config {
        common_labels,
        template_labels,
        common_annotations,
        namespace,
        images,
        replicas,
        var_reference,
        name_reference: name_reference(),
    }
}

fn name_reference() -> Vec<(Gvk, Vec<FieldSpec>)> {
    let scale_target = || {
        vec![fs(
            "",
            "",
            "HorizontalPodAutoscaler",
            "spec/scaleTargetRef/name",
            false,
        )]
    };
    let mut out = vec![
        (gvk("", "", "Deployment"), scale_target()),
        (gvk("", "", "ReplicationController"), scale_target()),
        (gvk("", "", "ReplicaSet"), scale_target()),
        (gvk("", "", "StatefulSet"), scale_target()),
    ];

    let mut config_map = in_pod_specs(
        POD_SPEC_OWNERS,
        &[
            "volumes/configMap/name",
            "containers/env/valueFrom/configMapKeyRef/name",
            "initContainers/env/valueFrom/configMapKeyRef/name",
            "containers/envFrom/configMapRef/name",
            "initContainers/envFrom/configMapRef/name",
            "volumes/projected/sources/configMap/name",
        ],
    );
    config_map.push(fs("", "", "Node", "spec/configSource/configMap", false));
    config_map.push(fs("", "", "Role", "rules/resourceNames", false));
    config_map.push(fs("", "", "ClusterRole", "rules/resourceNames", false));
    config_map.push(fs(
        "",
        "",
        "Ingress",
        "metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap",
        false,
    ));
    out.push((gvk("", "v1", "ConfigMap"), config_map));

    let mut secret = in_pod_specs(
        POD_SPEC_OWNERS,
        &[
            "volumes/secret/secretName",
            "containers/env/valueFrom/secretKeyRef/name",
            "initContainers/env/valueFrom/secretKeyRef/name",
            "containers/envFrom/secretRef/name",
            "initContainers/envFrom/secretRef/name",
            "imagePullSecrets/name",
            "volumes/projected/sources/secret/name",
        ],
    );
    for p in [
        "spec/tls/secretName",
        "metadata/annotations/ingress.kubernetes.io\\/auth-secret",
        "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret",
        "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret",
    ] {
        secret.push(fs("", "", "Ingress", p, false));
    }
    secret.push(fs("", "", "ServiceAccount", "imagePullSecrets/name", false));
    for p in [
        "parameters/secretName",
        "parameters/adminSecretName",
        "parameters/userSecretName",
        "parameters/secretRef",
    ] {
        secret.push(fs("", "", "StorageClass", p, false));
    }
    secret.push(fs("", "", "Role", "rules/resourceNames", false));
    secret.push(fs("", "", "ClusterRole", "rules/resourceNames", false));
    secret.push(fs(
        "serving.knative.dev",
        "v1",
        "Service",
        "spec/template/spec/containers/env/valueFrom/secretKeyRef/name",
        false,
    ));
    secret.push(fs(
        "",
        "",
        "PersistentVolume",
        "spec/azureFile/secretName",
        false,
    ));
    out.push((gvk("", "v1", "Secret"), secret));

    let adm = "admissionregistration.k8s.io";
    out.push((
        gvk("", "v1", "Service"),
        vec![
            fs("apps", "", "StatefulSet", "spec/serviceName", false),
            fs(
                "",
                "",
                "Ingress",
                "spec/rules/http/paths/backend/serviceName",
                false,
            ),
            fs("", "", "Ingress", "spec/backend/serviceName", false),
            fs(
                "",
                "",
                "Ingress",
                "spec/rules/http/paths/backend/service/name",
                false,
            ),
            fs("", "", "Ingress", "spec/defaultBackend/service/name", false),
            fs(
                "apiregistration.k8s.io",
                "",
                "APIService",
                "spec/service/name",
                false,
            ),
            fs(
                adm,
                "",
                "ValidatingWebhookConfiguration",
                "webhooks/clientConfig/service",
                false,
            ),
            fs(
                adm,
                "",
                "MutatingWebhookConfiguration",
                "webhooks/clientConfig/service",
                false,
            ),
            fs("", "", "HTTPRoute", "spec/rules/backendRefs/name", false),
        ],
    ));

    out.push((
        gvk(adm, "", "ValidatingAdmissionPolicy"),
        vec![fs(
            adm,
            "",
            "ValidatingAdmissionPolicyBinding",
            "spec/policyName",
            false,
        )],
    ));

    let rbac = "rbac.authorization.k8s.io";
    out.push((
        gvk(rbac, "", "Role"),
        vec![fs(rbac, "", "RoleBinding", "roleRef/name", false)],
    ));
    out.push((
        gvk(rbac, "", "ClusterRole"),
        vec![
            fs(rbac, "", "RoleBinding", "roleRef/name", false),
            fs(rbac, "", "ClusterRoleBinding", "roleRef/name", false),
        ],
    ));

    let mut sa = vec![
        fs(rbac, "", "RoleBinding", "subjects", false),
        fs(rbac, "", "ClusterRoleBinding", "subjects", false),
    ];
    sa.extend(in_pod_specs(POD_SPEC_OWNERS_RC, &["serviceAccountName"]));
    out.push((gvk("", "v1", "ServiceAccount"), sa));

    out.push((
        gvk("", "v1", "PersistentVolumeClaim"),
        in_pod_specs(
            POD_SPEC_OWNERS_RC,
            &["volumes/persistentVolumeClaim/claimName"],
        ),
    ));
    out.push((
        gvk("", "v1", "PersistentVolume"),
        vec![
            fs("", "", "PersistentVolumeClaim", "spec/volumeName", false),
            fs("", "", "ClusterRole", "rules/resourceNames", false),
        ],
    ));
    out.push((
        gvk("storage.k8s.io", "v1", "StorageClass"),
        vec![
            fs("", "", "PersistentVolume", "spec/storageClassName", false),
            fs(
                "",
                "",
                "PersistentVolumeClaim",
                "spec/storageClassName",
                false,
            ),
            fs(
                "",
                "",
                "StatefulSet",
                "spec/volumeClaimTemplates/spec/storageClassName",
                false,
            ),
        ],
    ));
    out.push((
        gvk("scheduling.k8s.io", "v1", "PriorityClass"),
        in_pod_specs(POD_SPEC_OWNERS_RC, &["priorityClassName"]),
    ));
    // kustomize's table names the group "networking.k8s.io/v1", which no object has, so IngressClass
    // references are in effect never rewritten; kept as is for identical output.
    out.push((
        gvk("networking.k8s.io/v1", "v1", "IngressClass"),
        vec![fs("", "", "Ingress", "spec/ingressClassName", false)],
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_have_expected_shape() {
        let c = config();
        assert!(
            c.common_labels
                .iter()
                .any(|f| f.kind == "Service" && f.path == "spec/selector")
        );
        assert!(c.common_labels.iter().any(|f| f.path == "metadata/labels"));
        let cm = c
            .name_reference
            .iter()
            .find(|(g, _)| g.kind == "ConfigMap")
            .unwrap();
        assert!(cm.1.iter().any(|f| f.kind == "CronJob"
            && f.path
                == "spec/jobTemplate/spec/template/spec/containers/envFrom/configMapRef/name"));
        assert_eq!(c.replicas.len(), 4);
    }
}
