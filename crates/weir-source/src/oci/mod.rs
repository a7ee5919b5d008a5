//! OCI artifacts as a source (Flux's `OCIRepository`) and `weir push artifact`.
//!
//! [`OciFetcher`] sits beside the Git [`crate::Fetcher`] and shares its parts: the per-host
//! [`crate::HostBudgets`], the [`crate::metrics::Metrics`], single-flight coalescing and the
//! [`crate::ArtifactStore`]. The registry protocol is a small client of the distribution spec
//! ([`registry`]) on the same HTTP client as the Git transport, so that budgets, `Retry-After`,
//! redirects and credentials behave the same for both.
//!
//! - **Resolution** as Flux: `ref.digest` > `ref.semver` (+ `semverFilter`) > `ref.tag`, default
//!   `latest`; the revision is `<tag>@sha256:<manifest digest>`, or `sha256:<hex>` for a digest ref.
//! - **Unchanged** polls cost one `HEAD` of the manifest (none for a digest ref, whose revision is
//!   known); the token or Basic scheme a registry asked for is remembered, so no challenge
//!   round-trip repeats.
//! - **Download**: the selected layer's blob is streamed to a file in the store, its size checked
//!   against the manifest and the limit, its digest verified; then it is unpacked with the same
//!   safety as any artifact ([`crate::extract`]) and archived again with `.sourceignore` and
//!   `spec.ignore` applied (`operation: extract`), or stored as is after the same check
//!   (`operation: copy`).

pub mod auth;
mod fetch;
pub mod manifest;
mod push;
pub mod reference;
pub mod registry;
pub mod verify;

use std::{sync::Arc, time::Duration};

pub use auth::OciCredentials;
pub use fetch::{AsyncOciFetcher, OciFetcher, OciOptions, OciSource, Verify};
pub use push::{
    ListedArtifact, PushOutcome, PushRequest, list_artifacts, push_artifact, tag_artifact,
};
pub use registry::{RegistryClient, RegistryOptions};

use crate::budget::BudgetExhausted;

/// Why an OCI fetch or push failed. Cloneable so coalesced callers each get the shared failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// `spec.url` is not `oci://host/repository`.
    #[error("invalid OCI repository URL {url}: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// `spec.ref` or `spec.layerSelector` cannot be used.
    #[error("invalid spec for {url}: {reason}")]
    InvalidSpec {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A feature of OCIRepository weir does not have (cloud providers, verification).
    #[error("{what} is not supported by weir yet ({url}){}", hint.as_ref().map(|h| format!(": {h}")).unwrap_or_default())]
    Unsupported {
        /// The URL.
        url: String,
        /// The feature.
        what: String,
        /// What to do instead.
        hint: Option<String>,
    },
    /// The secret could not be used.
    #[error("invalid credentials for {url}: {reason}")]
    InvalidCredentials {
        /// The URL.
        url: String,
        /// What is wrong (names keys, never values).
        reason: String,
    },
    /// The registry refused the credentials (or their absence).
    #[error("authentication to {url} failed{}: check the dockerconfigjson secret's credentials for this registry and their access to the repository", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    AuthenticationFailed {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: Option<u16>,
    },
    /// No such tag, manifest, blob or repository.
    #[error("{what} not found in {url}{}", if similar.is_empty() { String::new() } else { format!(" (similar tags: {})", similar.join(", ")) })]
    NotFound {
        /// The URL.
        url: String,
        /// `tag "v1"`, `manifest sha256:…`, `blob sha256:…`, `repository`.
        what: String,
        /// Near tags, for a missing tag.
        similar: Vec<String>,
    },
    /// No tag satisfied `ref.semver`.
    #[error("{reason} in {url}")]
    NoSemverMatch {
        /// The URL.
        url: String,
        /// The range and filter.
        reason: reference::NoSemverMatch,
    },
    /// The manifest cannot be used (an index, no layers, no layer of the selected type).
    #[error("artifact {url}: {reason}")]
    Manifest {
        /// The URL.
        url: String,
        /// Why.
        reason: manifest::ManifestError,
    },
    /// A reply was not what the distribution spec says.
    #[error("{url}: {reason}")]
    InvalidManifest {
        /// The URL.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// Bytes did not hash to the digest that names them.
    #[error(
        "{what} from {url} does not match its digest (expected {expected}, got {actual}); nothing was stored"
    )]
    DigestMismatch {
        /// The URL.
        url: String,
        /// `manifest` or `layer blob`.
        what: String,
        /// The digest asked for.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// Another unsuccessful HTTP status.
    #[error("{url} answered HTTP {status}")]
    Http {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The registry asked to slow down and the wait did not fit.
    #[error("{url} is rate limiting requests (HTTP {status}){}", retry_after.map(|d| format!("; retry after {}s", d.as_secs().max(1))).unwrap_or_default())]
    RateLimited {
        /// The URL.
        url: String,
        /// 429 (or 403 with Retry-After).
        status: u16,
        /// The server's hint.
        retry_after: Option<Duration>,
    },
    /// The local per-host budget is spent.
    #[error("not fetching {url}: {budget}")]
    BudgetExhausted {
        /// The URL.
        url: String,
        /// Which host and for how long.
        budget: BudgetExhausted,
    },
    /// The operation's timeout passed.
    #[error("fetching {url} timed out after {}s", timeout.as_secs_f64())]
    Timeout {
        /// The URL.
        url: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The interrupt flag was raised.
    #[error("fetching {url} was interrupted")]
    Interrupted {
        /// The URL.
        url: String,
    },
    /// Connecting or reading failed.
    #[error("could not reach {url}: {reason}")]
    Transport {
        /// The URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// A redirect led to another origin, which asked for credentials (never sent there).
    #[error(
        "{url} redirected to another origin ({to}), which asked for credentials; they are only sent to the registry itself"
    )]
    CrossOriginRedirect {
        /// The URL.
        url: String,
        /// Where the redirect pointed.
        to: String,
    },
    /// A reply grew past its limit.
    #[error("{url} sent a {what} larger than the limit of {limit} bytes")]
    ResponseTooLarge {
        /// The URL.
        url: String,
        /// `manifest`, `tag list`, `layer blob`.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// The layer is not a safe `tar.gz` (paths out of the root, links out, a bomb, not gzip).
    #[error("the layer of {url} cannot be unpacked safely: {reason}; nothing was stored")]
    UnsafeLayer {
        /// The URL.
        url: String,
        /// Why (the entry and what is wrong with it).
        reason: String,
    },
    /// A file of the layer is larger than the blob size limit.
    #[error("{url} has a file larger than the blob size limit of {limit} bytes{}", path.as_ref().map(|p| format!(" ({p})")).unwrap_or_default())]
    FileTooLarge {
        /// The URL.
        url: String,
        /// The file.
        path: Option<String>,
        /// The limit.
        limit: u64,
    },
    /// Reading the directory to push failed.
    #[error("could not read {path} to push it: {reason}")]
    ReadDir {
        /// The directory.
        path: String,
        /// Why.
        reason: String,
    },
    /// `spec.verify`: the signature is missing or does not verify; nothing was downloaded.
    #[error("verifying the signature of {url} failed: {reason}")]
    Verification {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// Writing the artifact failed.
    #[error("storing the artifact of {url} failed: {source}")]
    Store {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: Arc<crate::store::Error>,
    },
    /// The blocking task running the fetch failed (a panic).
    #[error("fetching {url} failed: {reason}")]
    TaskFailed {
        /// The URL.
        url: String,
        /// What happened.
        reason: String,
    },
}

impl Error {
    /// Whether trying again later may succeed without a spec or secret change.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::RateLimited { .. }
            | Error::BudgetExhausted { .. }
            | Error::Timeout { .. }
            | Error::Transport { .. }
            | Error::TaskFailed { .. }
            | Error::Interrupted { .. }
            // A tag may be pushed later; a corrupted blob may be repaired.
            | Error::NotFound { .. }
            | Error::NoSemverMatch { .. }
            | Error::DigestMismatch { .. }
            // A signature may be pushed after its artifact.
            | Error::Verification { .. } => true,
            Error::Http { status, .. } => *status == 429 || *status >= 500,
            Error::Store { source, .. } => !matches!(**source, crate::store::Error::TooLarge { .. }),
            _ => false,
        }
    }

    /// The Flux condition reason: `URLInvalid`, `AuthenticationFailed`, `OCIArtifactPullFailed`,
    /// `OCIArtifactLayerOperationFailed`, `StorageOperationFailed`.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidUrl { .. } => "URLInvalid",
            Error::InvalidCredentials { .. }
            | Error::AuthenticationFailed { .. }
            | Error::CrossOriginRedirect { .. } => "AuthenticationFailed",
            Error::UnsafeLayer { .. } | Error::FileTooLarge { .. } | Error::Manifest { .. } => {
                "OCIArtifactLayerOperationFailed"
            }
            Error::Store { .. } | Error::ReadDir { .. } => "StorageOperationFailed",
            Error::Verification { .. } => "VerificationError",
            _ => "OCIArtifactPullFailed",
        }
    }

    /// When the caller should try again, if the failure says (a `Retry-After` not waited out, or
    /// the local budget).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after, .. } => *retry_after,
            Error::BudgetExhausted { budget, .. } => Some(budget.retry_after),
            _ => None,
        }
    }
}
