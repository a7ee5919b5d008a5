//! weir-source: fetches Git sources into a content-addressed artifact store.
//!
//! The entry point is [`fetch::Fetcher`]: give it a GitRepository's URL, `spec.ref`, credentials and
//! last revision; it lists the remote's refs (one listing shared by all objects of a URL), answers
//! [`fetch::Outcome::Unchanged`] when nothing moved, and otherwise fetches the one commit at depth 1 and
//! streams its tree (no checkout) into a `tar.gz` in the [`store::ArtifactStore`].
//!
//! *Terminology*: a *source* is where manifests come from (a Git repository); an *artifact* is the
//! `tar.gz` of one revision's tree; a *revision* is Flux's `name@sha1:<hex>` ([`Revision`], weir-api's
//! type); a *digest* is the artifact's `sha256:<hex>` ([`Digest`], weir-api's type).
//!
//! # From a controller
//!
//! Build **one** fetcher for the whole process and share it (it is the unit of coalescing and caching):
//!
//! ```no_run
//! use std::{sync::Arc, time::Duration};
//! use weir_source::{
//!     clock::SystemClock, fetch, metrics::Metrics, progress, store, ArtifactStore, AsyncFetcher,
//!     BudgetConfig, ClientOptions, Credentials, Fetcher, GitClient, GitSource, HostBudgets, Outcome,
//! };
//!
//! # async fn reconcile() -> Result<(), Box<dyn std::error::Error>> {
//! let clock = Arc::new(SystemClock::default());
//! let metrics = Arc::new(Metrics::default());
//! // One token bucket per Git host (GitHub's 5,000 requests an hour by default).
//! let budgets = Arc::new(HostBudgets::new(clock.clone(), BudgetConfig::default()));
//! // Never sleep out a rate limit inside a fetch: it comes back as `retry_after()` instead.
//! let client = GitClient::new(budgets, metrics.clone(), ClientOptions::default().max_retry_wait(Duration::ZERO));
//! let store = Arc::new(ArtifactStore::open("/var/lib/weir/artifacts", store::Options::default())?);
//! let fetcher = AsyncFetcher::new(Fetcher::new(client, store, metrics, clock, fetch::Options::default()));
//!
//! // Per reconcile of GitRepository `ns/name` (spec and status from the watch):
//! let source = GitSource {
//!     url: "https://github.com/stefanprodan/podinfo".into(),
//!     last_revision: Some("master@sha1:5b1f3c2e9d7a4b6c8e0f1a2b3c4d5e6f7a8b9c0d".into()),
//!     object: Some("GitRepository/ns/name".into()),
//!     ..GitSource::default()
//! };
//! let credentials = Credentials::default(); // Credentials::from_data(&secret.data) for spec.secretRef
//! match fetcher.fetch(&source, &credentials, Arc::new(progress::Discard)).await {
//!     // One (shared) ref listing, nothing downloaded: write no status.
//!     Ok(Outcome::Unchanged { .. }) => {}
//!     // status.artifact = {revision, digest, size, path}; wake the Kustomizations using it.
//!     Ok(Outcome::Fetched { revision, artifact }) => println!("{revision} {}", artifact.digest),
//!     Err(e) if e.is_transient() => { /* requeue at e.retry_after() or with backoff; Ready=False e.reason() */ }
//!     Err(e) => { /* Stalled with e.reason(); wait for a spec or secret change */ }
//! }
//! # Ok(()) }
//! ```
//!
//! - **Coalescing**: concurrent fetches of the same (URL, ref, credentials, ignore) make one remote
//!   call; ref listings of a URL are shared for [`fetch::Options::listing_ttl`], so many objects
//!   pointing at one repository cost one listing per interval. This only works through one shared
//!   [`Fetcher`].
//! - **Budgets**: [`HostBudgets`] is the per-host token bucket; a spent budget or a `Retry-After`
//!   fails the fetch with [`fetch::Error::retry_after`] set (requeue then, not earlier). Publish
//!   [`metrics::Metrics::hosts_snapshot`] for `weir_git_*` metrics and the remaining budget.
//! - **Cancellation**: dropping [`AsyncFetcher::fetch`]'s future stops the work and removes its
//!   temporary files; the blocking [`Fetcher::fetch`] takes the interrupt flag directly.
//! - **Progress**: pass an `Arc<dyn` [`Progress`]`>` (bytes received, objects, files written).
//! - **Storage**: artifacts are `sha256/<hex>.tar.gz` under the store root, written whole or not at
//!   all; [`store::ArtifactStore::gc`] removes what no object's history keeps (run it periodically).
//! - **Limits** ([`client::ClientOptions`], [`store::Options`]): ref listings and other replies are
//!   read under a byte limit, blobs and the artifact under size limits checked while streaming.

pub mod archive;
pub mod auth;
pub mod budget;
pub mod client;
pub mod clock;
pub mod coalesce;
pub mod extract;
pub mod fetch;
pub mod github_app;
mod http;
pub mod ignore;
pub mod metrics;
pub mod oci;
pub mod progress;
pub mod redact;
pub mod reference;
pub mod remote;
pub mod shared;
pub mod store;
pub mod tls;
pub mod tree;

pub use auth::Credentials;
pub use budget::{BudgetConfig, HostBudgets};
pub use client::{ClientOptions, GitClient};
pub use fetch::{Error as FetchError, Fetcher, Outcome, Request};
pub use progress::Progress;
pub use reference::{GitRef, Revision};
pub use shared::{AsyncFetcher, GitSource};
pub use store::{Artifact, ArtifactStore};
pub use weir_api::Digest;
