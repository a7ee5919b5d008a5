//! weir-controller: one process that keeps a cluster equal to Git, reading Flux's GitRepository and
//! Kustomization objects unchanged.
//!
//! ```text
//!  watches (Kustomizations, GitRepositories) ──▶ FairQueue ──▶ workers ──▶ reconcile
//!        ▲                                         ▲   (round-robin per namespace)   │
//!        └── status patches (only on change) ◀─────┴── dependants woken when Ready ◀─┘
//! ```
//!
//! - One client, one reflector per kind; every reconcile reads the cached object.
//! - [`queue::FairQueue`] serves namespaces in turn and holds failing objects as delayed entries, so
//!   retries never occupy a worker.
//! - A reconcile whose inputs did not change (generation, source revision, `requestedAt`, dependency
//!   readiness) before its interval is skipped without any API request ([`memo`]).
//! - The dependency graph is rebuilt from the cache whenever a `dependsOn` changes; a cycle stalls its
//!   members with the whole chain in the message and nothing requeues until the graph changes.

pub mod context;
pub mod decryption;
pub mod dependencies;
pub mod gitrepo;
pub mod install;
pub mod kustomization;
pub mod memo;
pub mod observed;
pub mod ocirepo;
pub mod queue;
pub mod run;
pub mod status;
pub mod trees;

use std::path::PathBuf;

pub use run::run;

/// Finalizer Flux puts on the objects it reconciles; weir uses the same, so either can take over.
pub const FINALIZER: &str = "finalizers.fluxcd.io";
/// Annotation asking for an immediate reconcile (its value is echoed in `status.lastHandledReconcileAt`).
pub const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";

/// What `weir controller` is told on its command line.
#[derive(Debug, Clone)]
pub struct Config {
    /// Reconciles in flight at once (fetches, builds and applies).
    pub concurrent: usize,
    /// Where artifacts and their extracted trees are kept.
    pub storage_dir: PathBuf,
    /// ServiceAccount impersonated for Kustomizations that name none (Flux's flag of the same name).
    pub default_service_account: Option<String>,
    /// Refuse `sourceRef`s and `dependsOn` entries into other namespaces.
    pub no_cross_namespace_refs: bool,
    /// Watch only this namespace (else all).
    pub watch_namespace: Option<String>,
    /// Field manager of server-side applies.
    pub field_manager: String,
    /// Largest artifact a GitRepository may produce, in bytes.
    pub max_artifact_size: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            concurrent: 4,
            storage_dir: std::env::temp_dir().join("weir-storage"),
            default_service_account: None,
            no_cross_namespace_refs: false,
            watch_namespace: None,
            field_manager: "weir".into(),
            max_artifact_size: 256 * 1024 * 1024,
        }
    }
}

/// Which kind a queued key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    GitRepository,
    Kustomization,
    OciRepository,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::GitRepository => "GitRepository",
            Kind::Kustomization => "Kustomization",
            Kind::OciRepository => "OCIRepository",
        }
    }
}

/// One object the controller reconciles.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(kind: Kind, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Key {
            kind,
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.kind.as_str(), self.namespace, self.name)
    }
}
