//! What can go wrong in an apply; each error names the objects involved.

use std::fmt;
use std::time::Duration;

use crate::cluster::{ApiError, CallError};
use crate::health::HealthStatus;
use weir_api::ObjectRef;
use weir_api::object_ref::MissingField;

/// The step of an apply a request failed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Reading live objects.
    Read,
    /// Server-side dry-run (validation and diff).
    Validate,
    /// Server-side apply.
    Apply,
    /// Handing another field manager's fields to weir (a managedFields patch).
    TakeOver,
    /// Deleting an object to recreate it (`--force`).
    Recreate,
    /// Deleting an object that left the set.
    Prune,
    /// Reading or writing the inventory ConfigMap.
    Inventory,
    /// Polling health.
    Wait,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Read => "read",
            Step::Validate => "validate",
            Step::Apply => "apply",
            Step::TakeOver => "take over fields of",
            Step::Recreate => "recreate",
            Step::Prune => "prune",
            Step::Inventory => "inventory",
            Step::Wait => "health check",
        })
    }
}

/// An object the server refused, with its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The object.
    pub object: ObjectRef,
    /// The server's answer (names the fields at fault).
    pub error: ApiError,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.object, self.error)?;
        if self.error.is_immutable() {
            write!(
                f,
                " (an immutable field changed: rerun with --force to delete and recreate the object)"
            )?;
        }
        Ok(())
    }
}

fn lines<T: fmt::Display>(items: &[T]) -> String {
    items.iter().map(|i| format!("\n  {i}")).collect()
}

fn unhealthy_lines(items: &[(ObjectRef, HealthStatus)]) -> String {
    items.iter().map(|(o, h)| format!("\n  {o}: {h}")).collect()
}

/// An object whose kind the cluster does not serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKind {
    /// The object.
    pub object: ObjectRef,
    /// Served kinds of the same group version with a close name.
    pub similar: Vec<String>,
}

impl fmt::Display for UnknownKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.object;
        write!(f, "{o}: no kind {} in {}", o.kind, o.api_version())?;
        if !self.similar.is_empty() {
            write!(f, " (similar: {})", self.similar.join(", "))?;
        }
        Ok(())
    }
}

/// A request about one object failed.
#[derive(Debug, thiserror::Error)]
#[error("{step} {object}")]
pub struct RequestError {
    /// The step it failed in.
    pub step: Step,
    /// The object it was about.
    pub object: ObjectRef,
    /// The failure.
    #[source]
    pub source: CallError,
}

/// An apply failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kubeconfig could not be read or used.
    #[error("cannot load the kubeconfig")]
    Kubeconfig(#[source] kube::config::KubeconfigError),
    /// A client could not be built from the configuration.
    #[error("cannot build a Kubernetes client")]
    Client(#[source] kube::Error),
    /// A manifest lacks `apiVersion`, `kind` or `metadata.name`.
    #[error(transparent)]
    Manifest(#[from] MissingField),
    /// Two manifests describe the same object.
    #[error("{object} appears more than once in the set")]
    Duplicate { object: ObjectRef },
    /// Kinds neither served by the cluster nor defined by a CRD in the set; nothing was written.
    #[error("{} unknown kind(s), nothing was applied:{}", objects.len(), lines(objects))]
    UnknownKinds { objects: Vec<UnknownKind> },
    /// Discovery failed.
    #[error(transparent)]
    Discovery(#[from] crate::resolve::DiscoveryError),
    /// The stored inventory is unreadable.
    #[error(transparent)]
    Inventory(#[from] crate::inventory::Malformed),
    /// The server rejected objects in the dry-run; nothing of the set was written (see `# Staging` on
    /// [`crate::Applier::plan`] for objects that can only be validated after their CRD or namespace).
    #[error("{} object(s) rejected by the server, nothing was applied:{}", rejected.len(), lines(rejected))]
    Invalid { rejected: Vec<Rejection> },
    /// A request failed.
    #[error(transparent)]
    Request(Box<RequestError>),
    /// Objects did not become healthy in time.
    #[error("{} of {total} object(s) not ready after {timeout:?}:{}", unhealthy.len(), unhealthy_lines(unhealthy))]
    NotReady {
        timeout: Duration,
        total: usize,
        unhealthy: Vec<(ObjectRef, HealthStatus)>,
    },
}

impl Error {
    /// A failed request about `object` in `step`.
    pub fn request(step: Step, object: ObjectRef, source: CallError) -> Self {
        Error::Request(Box::new(RequestError {
            step,
            object,
            source,
        }))
    }

    /// True for failures a retry may fix (network, server overload); false for bad input.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Discovery(_) | Error::NotReady { .. } => true,
            Error::Request(r) => match &r.source {
                CallError::Api(e) => e.code == 429 || e.code >= 500 || e.code == 409,
                CallError::Transport(_) | CallError::Decode(_) => true,
            },
            _ => false,
        }
    }
}
