//! kustomize's built-in transformer configuration: which fields hold labels, annotations, namespaces,
//! images, replica counts, var references, and which fields refer to other objects by name.

use std::sync::OnceLock;

use serde::Deserialize;

use crate::fieldspec::FieldSpec;
use crate::resid::Gvk;

/// Field specs: the built-in ones (built once), plus those of `configurations` files.
#[derive(Debug, Clone, Default)]
pub(crate) struct Config {
    /// Fields that take `namePrefix`/`nameSuffix` (`metadata/name` of every object by default).
    pub name_prefix: Vec<FieldSpec>,
    pub name_suffix: Vec<FieldSpec>,
    pub common_labels: Vec<FieldSpec>,
    /// Extra fields for every `labels` entry (empty unless a configuration adds some).
    pub labels: Vec<FieldSpec>,
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
        name_prefix: vec![FieldSpec::any("metadata/name", false)],
        name_suffix: vec![FieldSpec::any("metadata/name", false)],
        common_labels,
        labels: Vec::new(),
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

/// One field spec as written in a configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SpecArg {
    group: String,
    version: String,
    kind: String,
    path: String,
    create: bool,
}

impl SpecArg {
    fn spec(&self) -> FieldSpec {
        FieldSpec::new(
            &self.group,
            &self.version,
            &self.kind,
            &self.path,
            self.create,
        )
    }
}

/// A `nameReference` entry: the kind referred to and the fields that refer to it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct NameRefArg {
    group: String,
    version: String,
    kind: String,
    field_specs: Vec<SpecArg>,
}

/// A `configurations` file (kustomize's transformer configuration).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct ConfigFile {
    name_prefix: Vec<SpecArg>,
    name_suffix: Vec<SpecArg>,
    #[serde(rename = "namespace")]
    namespace: Vec<SpecArg>,
    common_labels: Vec<SpecArg>,
    labels: Vec<SpecArg>,
    template_labels: Vec<SpecArg>,
    volume_claim_template_labels: Vec<SpecArg>,
    common_annotations: Vec<SpecArg>,
    name_reference: Vec<NameRefArg>,
    var_reference: Vec<SpecArg>,
    images: Vec<SpecArg>,
    replicas: Vec<SpecArg>,
}

impl Config {
    /// Parses a `configurations` file into the field specs it adds.
    pub fn from_yaml(text: &str) -> Result<Config, String> {
        let doc = weir_yaml::from_str(text)
            .map_err(|e| format!("line {}: {}", e.line.unwrap_or(0), e.message))?
            .into_iter()
            .next()
            .unwrap_or(serde_json::Value::Null);
        if doc.is_null() {
            return Ok(Config::default());
        }
        let f: ConfigFile = serde_json::from_value(doc).map_err(|e| {
            let m = e.to_string();
            m.split(", expected one of")
                .next()
                .unwrap_or(&m)
                .to_string()
        })?;
        if !f.volume_claim_template_labels.is_empty() {
            return Err(
                "'volumeClaimTemplateLabels' field specs are not supported by weir's kustomize engine"
                    .into(),
            );
        }
        let specs = |v: &[SpecArg]| v.iter().map(SpecArg::spec).collect::<Vec<_>>();
        let mut out = Config::default();
        out.merge(&Config {
            name_prefix: specs(&f.name_prefix),
            name_suffix: specs(&f.name_suffix),
            common_labels: specs(&f.common_labels),
            labels: specs(&f.labels),
            template_labels: specs(&f.template_labels),
            common_annotations: specs(&f.common_annotations),
            namespace: specs(&f.namespace),
            images: specs(&f.images),
            replicas: specs(&f.replicas),
            var_reference: specs(&f.var_reference),
            name_reference: f
                .name_reference
                .iter()
                .map(|n| (gvk(&n.group, &n.version, &n.kind), specs(&n.field_specs)))
                .collect(),
        })?;
        Ok(out)
    }

    /// Field specs from a `crds` file: OpenAPI definitions (JSON or YAML, type name to
    /// `{Schema: ...}`) whose properties carry kustomize's `x-kubernetes-*` extensions: annotations,
    /// label selectors, and object references (`x-kubernetes-object-ref-api-version`/`-kind`, with
    /// the name under `x-kubernetes-object-ref-name-key`, `name` by default).
    pub fn from_crd_definitions(text: &str) -> Result<Config, String> {
        let doc = weir_yaml::from_str(text)
            .map_err(|e| format!("line {}: {}", e.line.unwrap_or(0), e.message))?
            .into_iter()
            .next()
            .unwrap_or(serde_json::Value::Null);
        let Some(defs) = doc.as_object() else {
            return Err("expected a mapping of type names to OpenAPI definitions".into());
        };
        let mut out = Config::default();
        for (name, def) in defs {
            let props = def
                .pointer("/Schema/properties")
                .and_then(|p| p.as_object());
            let Some(props) = props else { continue };
            if !["kind", "apiVersion", "metadata"]
                .iter()
                .all(|k| props.contains_key(*k))
            {
                continue;
            }
            let kind = name.rsplit('.').next().unwrap_or(name);
            let target = gvk("", "", kind);
            crd_specs(&mut out, &target, defs, name, &mut Vec::new())?;
        }
        Ok(out)
    }

    /// kustomize's `TransformerConfig.Merge`: each spec of `other` is added unless one already
    /// there is "effectively equal" (same path, and its group/version/kind selected by the new
    /// one's, so a generic spec coming after a specific one of the same path is dropped; different
    /// `create` flags are an error); name references to the same kind are combined; then every
    /// list is sorted by group/version/kind as kustomize sorts them.
    pub fn merge(&mut self, other: &Config) -> Result<(), String> {
        let pairs: [(&mut Vec<FieldSpec>, &Vec<FieldSpec>); 10] = [
            (&mut self.name_prefix, &other.name_prefix),
            (&mut self.name_suffix, &other.name_suffix),
            (&mut self.common_labels, &other.common_labels),
            (&mut self.labels, &other.labels),
            (&mut self.template_labels, &other.template_labels),
            (&mut self.common_annotations, &other.common_annotations),
            (&mut self.namespace, &other.namespace),
            (&mut self.images, &other.images),
            (&mut self.replicas, &other.replicas),
            (&mut self.var_reference, &other.var_reference),
        ];
        for (list, more) in pairs {
            merge_specs(list, more)?;
            sort_specs(list);
        }
        for (target, specs) in &other.name_reference {
            match self.name_reference.iter_mut().find(|(g, _)| g == target) {
                Some((_, have)) => merge_specs(have, specs)?,
                None => self.name_reference.push((target.clone(), specs.clone())),
            }
        }
        self.name_reference
            .sort_by_key(|(g, _)| (kind_rank(&g.kind), g.sort_string()));
        Ok(())
    }
}

/// kustomize's rank of a kind when sorting (its legacy output order: Namespace first ...).
fn kind_rank(kind: &str) -> i64 {
    crate::order::kind_rank(kind)
}

fn sort_specs(list: &mut [FieldSpec]) {
    list.sort_by_key(|f| {
        let g = gvk(&f.group, &f.version, &f.kind);
        (kind_rank(&f.kind), g.sort_string())
    });
}

/// kustomize's `FsSlice.MergeAll` (see [`Config::merge`]).
fn merge_specs(list: &mut Vec<FieldSpec>, more: &[FieldSpec]) -> Result<(), String> {
    for x in more {
        let found = list.iter().find(|have| {
            have.path == x.path
                && gvk(&have.group, &have.version, &have.kind)
                    .is_selected_by(&x.group, &x.version, &x.kind)
        });
        match found {
            Some(have) if have.create != x.create => {
                return Err(format!(
                    "conflicting fieldspecs for '{}' ({} {}): create is both true and false",
                    x.path, x.group, x.kind
                ));
            }
            Some(_) => {}
            None => list.push(x.clone()),
        }
    }
    Ok(())
}

/// Walks one definition's properties (following `$ref`s) for the extensions kustomize reads.
fn crd_specs(
    out: &mut Config,
    owner: &Gvk,
    defs: &serde_json::Map<String, serde_json::Value>,
    type_name: &str,
    path: &mut Vec<String>,
) -> Result<(), String> {
    // Definitions may refer to each other in a cycle; kustomize would not stop.
    if path.len() > 32 {
        return Err(format!(
            "definition '{type_name}' nests too deep (a cycle of $ref?)"
        ));
    }
    let Some(props) = defs
        .get(type_name)
        .and_then(|d| d.pointer("/Schema/properties"))
        .and_then(|p| p.as_object())
    else {
        return Ok(());
    };
    for (prop, schema) in props {
        path.push(prop.clone());
        let ext = |k: &str| schema.get(k).and_then(|v| v.as_str());
        let here = |extra: Option<&str>| {
            let mut p = path.join("/");
            if let Some(e) = extra {
                p.push('/');
                p.push_str(e);
            }
            FieldSpec::new(&owner.group, &owner.version, &owner.kind, &p, false)
        };
        if ext("x-kubernetes-annotation").is_some() {
            merge_specs(&mut out.common_annotations, &[here(None)])?;
        }
        if ext("x-kubernetes-label-selector").is_some() {
            merge_specs(&mut out.common_labels, &[here(None)])?;
        }
        if ext("x-kubernetes-identity").is_some() {
            return Err(format!(
                "'x-kubernetes-identity' on '{}' of {type_name} (name prefix field specs) is not supported by weir's kustomize engine",
                path.join("/")
            ));
        }
        if let (Some(version), Some(kind)) = (
            ext("x-kubernetes-object-ref-api-version"),
            ext("x-kubernetes-object-ref-kind"),
        ) {
            let key = ext("x-kubernetes-object-ref-name-key").unwrap_or("name");
            let more = Config {
                name_reference: vec![(gvk("", version, kind), vec![here(Some(key))])],
                ..Config::default()
            };
            out.merge(&more)?;
        }
        if let Some(r) = schema.get("$ref").and_then(|r| r.as_str()) {
            crd_specs(out, owner, defs, r, path)?;
        }
        path.pop();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crd_definitions_add_name_references() {
        let defs = r#"{
          "x.io/v1.Hive": {"Schema": {"properties": {"kind": {}, "apiVersion": {}, "metadata": {},
            "spec": {"$ref": "x.io/v1.HiveSpec"}}}},
          "x.io/v1.HiveSpec": {"Schema": {"properties": {
            "beeRef": {"x-kubernetes-object-ref-api-version": "v1", "x-kubernetes-object-ref-kind": "Bee"},
            "sel": {"x-kubernetes-label-selector": ""}}}}
        }"#;
        let c = Config::from_crd_definitions(defs).unwrap();
        let (target, specs) = &c.name_reference[0];
        assert_eq!(target.kind, "Bee");
        assert_eq!(specs[0].path, "spec/beeRef/name");
        assert_eq!(specs[0].kind, "Hive");
        assert_eq!(c.common_labels[0].path, "spec/sel");
    }

    #[test]
    fn configuration_files_add_specs() {
        let extra = Config::from_yaml(
            "nameReference:\n- kind: Bee\n  version: v1\n  fieldSpecs:\n  - path: spec/bee\n    kind: Hive\n\
             images:\n- path: spec/img\n  kind: Hive\n",
        )
        .unwrap();
        let mut c = config().clone();
        let before = c.name_reference.len();
        c.merge(&extra).unwrap();
        c.merge(&extra).unwrap();
        assert_eq!(c.name_reference.len(), before + 1);
        assert!(c.images.iter().any(|f| f.path == "spec/img"));
        assert!(Config::from_yaml("nameReferences: []\n").is_err());
    }

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
