//! Flux v2 custom resources, as far as weir reads them. Field names and defaults follow Flux's CRDs.
// The CRDs' printcolumns each repeat `type_`; clippy reads that as a duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::condition::Condition;
use crate::duration::Duration;

use crate::object::ObjectMeta;

pub const KUSTOMIZE_GROUP: &str = "kustomize.toolkit.fluxcd.io";
pub const SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";
pub const HELM_GROUP: &str = "helm.toolkit.fluxcd.io";
pub const SOURCE_EXTENSIONS_GROUP: &str = "source.extensions.fluxcd.io";

/// Annotation or label that turns postBuild substitution off for one object.
pub const SUBSTITUTE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/substitute";
/// Annotation that keeps an object out of pruning.
pub const PRUNE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/prune";
/// The value that disables what the two annotations above control.
pub const DISABLED: &str = "disabled";

/// A reference to a source object (`spec.sourceRef`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceSourceReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A `dependsOn` entry: the namespace defaults to the dependant's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DependencyReference {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// kustomize's patch target selector as Flux embeds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation_selector: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Patch {
    #[serde(default)]
    pub patch: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
}

/// An `images` entry, as kustomize's `images` field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommonMetadata {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubstituteReference {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub optional: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostBuild {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub substitute: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub substitute_from: Vec<SubstituteReference>,
    /// `WithVariables` (the default: substitute only when some variable is defined) or `Always`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub substitute_strategy: Option<String>,
}

/// `kustomize.toolkit.fluxcd.io/v1` Kustomization `spec`.
///
/// `KustomizationObject` is the object as the API server serves it (typed metadata and status, a
/// `kube::Resource`); [`Kustomization`] is the same spec read from a repository document.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, CustomResource,
)]
#[kube(
    group = "kustomize.toolkit.fluxcd.io",
    version = "v1",
    kind = "Kustomization",
    root = "KustomizationObject",
    namespaced,
    status = "KustomizationStatus",
    shortname = "ks",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationSpec {
    #[serde(default)]
    pub source_ref: CrossNamespaceSourceReference,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<DependencyReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_suffix: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<Patch>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_missing_components: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_metadata: Option<CommonMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_build: Option<PostBuild>,
    #[serde(default)]
    pub prune: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wait: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_checks: Vec<NamespacedObjectKindReference>,
    /// `MirrorPrune` (default), `Delete`, `WaitForTermination` or `Orphan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::any_object")]
    pub kube_config: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::any_object")]
    pub decryption: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::any_array")]
    pub health_check_exprs: Option<serde_json::Value>,
}

/// `spec.healthChecks` entry: an object whose health gates the Kustomization's readiness.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedObjectKindReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `status` of a Kustomization, as Flux writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<ResourceInventory>,
}

/// `status.inventory`: what a Kustomization applied, for pruning and health.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceInventory {
    #[serde(default)]
    pub entries: Vec<ResourceRef>,
}

/// One inventory entry: `id` is `<namespace>_<name>_<group>_<kind>`, `v` the API version.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub struct ResourceRef {
    pub id: String,
    pub v: String,
}

/// A Flux object: metadata plus a typed spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    bound(deserialize = "S: Deserialize<'de> + Default")
)]
pub struct Resource<S> {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: S,
}

pub type Kustomization = Resource<KustomizationSpec>;

/// `spec.ref` of a GitRepository. Precedence: commit > name > semver > tag > branch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct GitRepositoryRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LocalObjectReference {
    #[serde(default)]
    pub name: String,
}

/// `source.toolkit.fluxcd.io/v1` GitRepository `spec`. `GitRepositoryObject` is the served object.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, CustomResource,
)]
#[kube(
    group = "source.toolkit.fluxcd.io",
    version = "v1",
    kind = "GitRepository",
    root = "GitRepositoryObject",
    namespaced,
    status = "GitRepositoryStatus",
    shortname = "gitrepo",
    printcolumn(name = "URL", type_ = "string", json_path = ".spec.url"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositorySpec {
    #[serde(default)]
    pub url: String,
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<GitRepositoryRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// `generic` (default), `azure` or `github`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_secret_ref: Option<LocalObjectReference>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recurse_submodules: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sparse_checkout: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::any_object")]
    pub verify: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::any_array")]
    pub include: Option<serde_json::Value>,
}

/// `status` of a GitRepository, as Flux writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

/// `status.artifact` of a source: where the content of one revision is stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    pub path: String,
    pub url: String,
    pub revision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    pub last_update_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
}

pub type GitRepository = Resource<GitRepositorySpec>;

/// `spec.ref` of an OCIRepository: `digest` wins over `semver` (narrowed by `semverFilter`), which
/// wins over `tag`; nothing set means tag `latest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OCIRepositoryRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver_filter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// `spec.layerSelector` of an OCIRepository: which layer becomes the artifact, and how.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OCILayerSelector {
    /// The first layer with this media type; unset means the first layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// `extract` (default: the layer's tarball is unpacked and archived again) or `copy` (the
    /// layer's blob is the artifact as is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
}

/// `source.toolkit.fluxcd.io/v1` OCIRepository `spec`. `OCIRepositoryObject` is the served object.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, CustomResource,
)]
#[kube(
    group = "source.toolkit.fluxcd.io",
    version = "v1",
    kind = "OCIRepository",
    root = "OCIRepositoryObject",
    namespaced,
    status = "OCIRepositoryStatus",
    shortname = "ocirepo",
    printcolumn(name = "URL", type_ = "string", json_path = ".spec.url"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct OCIRepositorySpec {
    /// `oci://host/repository`, without tag or digest.
    #[serde(default)]
    pub url: String,
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<OCIRepositoryRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_selector: Option<OCILayerSelector>,
    /// `generic` (default), `aws`, `azure` or `gcp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// A `kubernetes.io/dockerconfigjson` Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// A Secret with `ca.crt` (and `tls.crt`/`tls.key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalObjectReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_secret_ref: Option<LocalObjectReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::any_object")]
    pub verify: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<String>,
    /// Plain HTTP instead of HTTPS.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// `status` of an OCIRepository, as Flux writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OCIRepositoryStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_ignore: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_layer_selector: Option<OCILayerSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

/// The spec fields of OCIRepository, HelmRepository and Bucket that weir reports on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteSourceSpec {
    #[serde(default)]
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
}

/// `source.extensions.fluxcd.io` ArtifactGenerator: composes ExternalArtifacts out of other sources.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactGeneratorSpec {
    #[serde(default)]
    pub sources: Vec<GeneratorSource>,
    #[serde(default)]
    pub artifacts: Vec<GeneratedArtifact>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeneratorSource {
    #[serde(default)]
    pub alias: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeneratedArtifact {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_revision: Option<String>,
    #[serde(default)]
    pub copy: Vec<CopyOperation>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyOperation {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

pub type ArtifactGenerator = Resource<ArtifactGeneratorSpec>;

/// `helm.toolkit.fluxcd.io/v2` HelmRelease, the fields weir follows offline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmReleaseSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<HelmChartTemplate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_ref: Option<CrossNamespaceSourceReference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<DependencyReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelmChartTemplate {
    #[serde(default)]
    pub spec: HelmChartTemplateSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmChartTemplateSpec {
    #[serde(default)]
    pub chart: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default)]
    pub source_ref: CrossNamespaceSourceReference,
}

pub type HelmRelease = Resource<HelmReleaseSpec>;

/// Which Flux kind a document is, by API group and kind; `None` for anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FluxKind {
    GitRepository,
    OciRepository,
    HelmRepository,
    Bucket,
    HelmChart,
    Kustomization,
    HelmRelease,
    ArtifactGenerator,
    ExternalArtifact,
}

impl FluxKind {
    pub fn of(api_version: &str, kind: &str) -> Option<FluxKind> {
        let group = crate::object::group_of(api_version);
        Some(match (group, kind) {
            (SOURCE_GROUP, "GitRepository") => FluxKind::GitRepository,
            (SOURCE_GROUP, "OCIRepository") => FluxKind::OciRepository,
            (SOURCE_GROUP, "HelmRepository") => FluxKind::HelmRepository,
            (SOURCE_GROUP, "Bucket") => FluxKind::Bucket,
            (SOURCE_GROUP, "HelmChart") => FluxKind::HelmChart,
            (SOURCE_GROUP, "ExternalArtifact") => FluxKind::ExternalArtifact,
            (KUSTOMIZE_GROUP, "Kustomization") => FluxKind::Kustomization,
            (HELM_GROUP, "HelmRelease") => FluxKind::HelmRelease,
            (SOURCE_EXTENSIONS_GROUP, "ArtifactGenerator") => FluxKind::ArtifactGenerator,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FluxKind::GitRepository => "GitRepository",
            FluxKind::OciRepository => "OCIRepository",
            FluxKind::HelmRepository => "HelmRepository",
            FluxKind::Bucket => "Bucket",
            FluxKind::HelmChart => "HelmChart",
            FluxKind::Kustomization => "Kustomization",
            FluxKind::HelmRelease => "HelmRelease",
            FluxKind::ArtifactGenerator => "ArtifactGenerator",
            FluxKind::ExternalArtifact => "ExternalArtifact",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_flux_kustomization() {
        let doc = serde_json::json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system"},
            "spec": {
                "dependsOn": [{"name": "infra"}],
                "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
                "path": "./apps",
                "prune": true,
                "postBuild": {"substitute": {"a": "b"}, "substituteFrom": [{"kind": "ConfigMap", "name": "vars", "optional": true}]},
                "unknownFutureField": 1
            }
        });
        let ks: Kustomization = serde_json::from_value(doc).expect("valid");
        assert_eq!(ks.spec.depends_on[0].name, "infra");
        assert_eq!(ks.spec.source_ref.kind, "GitRepository");
        assert!(ks.spec.prune);
        let pb = ks.spec.post_build.expect("postBuild");
        assert!(pb.substitute_from[0].optional);
    }

    #[test]
    fn classifies_kinds_by_group() {
        assert_eq!(
            FluxKind::of("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
            Some(FluxKind::Kustomization)
        );
        assert_eq!(
            FluxKind::of("kustomize.config.k8s.io/v1beta1", "Kustomization"),
            None
        );
        assert_eq!(
            FluxKind::of("source.toolkit.fluxcd.io/v1beta2", "OCIRepository"),
            Some(FluxKind::OciRepository)
        );
    }
}

#[cfg(test)]
mod crd_tests {
    use kube::CustomResourceExt;
    use serde_json::Value;

    use super::*;

    /// The API server accepts only structural schemas: every node states its type (or keeps unknown
    /// fields explicitly), and nullable/anyOf constructs are not used for plain optional fields.
    fn assert_structural(path: &str, node: &Value) {
        let Some(obj) = node.as_object() else { return };
        let typed = obj.contains_key("type")
            || obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
            || obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
        assert!(typed, "{path} has no type: {node}");
        for banned in ["$ref", "anyOf", "oneOf", "allOf", "definitions", "$defs"] {
            assert!(!obj.contains_key(banned), "{path} uses {banned}: {node}");
        }
        if let Some(props) = obj.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                assert_structural(&format!("{path}.{k}"), v);
            }
        }
        if let Some(items) = obj.get("items") {
            assert_structural(&format!("{path}[]"), items);
        }
    }

    #[test]
    fn crds_are_structural_with_status_subresource() {
        for crd in [
            KustomizationObject::crd(),
            GitRepositoryObject::crd(),
            OCIRepositoryObject::crd(),
        ] {
            let v = serde_json::to_value(&crd).unwrap();
            let version = &v["spec"]["versions"][0];
            assert_eq!(version["name"], "v1");
            assert!(version["subresources"]["status"].is_object());
            let schema = &version["schema"]["openAPIV3Schema"];
            assert_structural("", schema);
            assert!(schema["properties"]["status"]["properties"]["conditions"].is_object());
        }
        let ks = serde_json::to_value(KustomizationObject::crd()).unwrap();
        assert_eq!(
            ks["metadata"]["name"],
            "kustomizations.kustomize.toolkit.fluxcd.io"
        );
        let spec = &ks["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(spec["properties"]["interval"]["type"], "string");
        assert_eq!(spec["properties"]["dependsOn"]["type"], "array");
    }

    #[test]
    fn reads_a_served_kustomization_with_status() {
        let doc = serde_json::json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system", "generation": 3},
            "spec": {"interval": "10m", "sourceRef": {"kind": "GitRepository", "name": "flux-system"}, "prune": true},
            "status": {
                "observedGeneration": 2,
                "lastAppliedRevision": "main@sha1:0123456789abcdef0123456789abcdef01234567",
                "inventory": {"entries": [{"id": "default_podinfo_apps_Deployment", "v": "v1"}]},
                "conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
                                "message": "ok", "lastTransitionTime": "2026-01-01T00:00:00Z"}]
            }
        });
        let ks: KustomizationObject = serde_json::from_value(doc).unwrap();
        assert_eq!(ks.spec.interval, Some(Duration::from_secs(600)));
        let status = ks.status.unwrap();
        assert!(crate::condition::is_true(
            &status.conditions,
            crate::condition::READY
        ));
        assert_eq!(
            status.inventory.unwrap().entries[0].id,
            "default_podinfo_apps_Deployment"
        );
    }
}
