//! The result of `weir check`: one model, printed as a table or JSON by the CLI.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    Cycle,
    MissingDependency,
    DuplicateObject,
    UnresolvedVariable,
    BuildError,
    InvalidObject,
    SourceUnavailable,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Cycle => "cycle",
            FindingKind::MissingDependency => "missing-dependency",
            FindingKind::DuplicateObject => "duplicate-object",
            FindingKind::UnresolvedVariable => "unresolved-variable",
            FindingKind::BuildError => "build-error",
            FindingKind::InvalidObject => "invalid-object",
            FindingKind::SourceUnavailable => "source-unavailable",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub kind: FindingKind,
    /// The Flux object the finding is about, `Kind/namespace/name`.
    pub object: String,
    pub message: String,
    /// What findings of one sort have in common (`Helm charts are not rendered offline`): people
    /// read them folded into one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Built, substituted and verified.
    Ok,
    /// Its build or substitution failed (see findings).
    Failed,
    /// Its source is not in this repository (remote Git, OCI, Bucket): not checked offline.
    NotChecked,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::NotChecked => "not-checked",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationReport {
    pub name: String,
    pub namespace: String,
    pub path: String,
    /// `Kind/namespace/name` of its source.
    pub source: String,
    pub depends_on: Vec<String>,
    pub objects: Vec<ObjectRef>,
    pub status: Status,
    /// The Kustomization that defines this one (none for the root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub defined_by: Option<String>,
    /// The cluster it applies to when not Flux's own (`spec.kubeConfig`: `Secret/namespace/name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub kustomizations: Vec<KustomizationReport>,
    pub findings: Vec<Finding>,
    /// `namespace/name` of each Kustomization in the order they would apply.
    pub order: Vec<String>,
    /// The same order in waves: each wave depends only on earlier ones.
    pub waves: Vec<Vec<String>>,
}

impl Report {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// How many Kustomizations ended with `status`.
    pub fn count_status(&self, status: Status) -> usize {
        self.kustomizations
            .iter()
            .filter(|k| k.status == status)
            .count()
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }
}
