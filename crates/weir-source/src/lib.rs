//! weir-source: fetches Git sources into a content-addressed artifact store.
//!
//! The entry point is [`fetch::Fetcher`]: give it a GitRepository's URL, `spec.ref`, credentials and
//! last revision; it lists the remote's refs (one listing shared by all objects of a URL), answers
//! [`fetch::Outcome::Unchanged`] when nothing moved, and otherwise fetches the one commit at depth 1 and
//! streams its tree (no checkout) into a `tar.gz` in the [`store::ArtifactStore`].
//!
//! *Terminology*: a *source* is where manifests come from (a Git repository); an *artifact* is the
//! `tar.gz` of one revision's tree; a *revision* is Flux's `name@sha1:<hex>`; a *digest* is the artifact's
//! `sha256:<hex>`.

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
pub mod redact;
pub mod reference;
pub mod remote;
pub mod store;
pub mod tls;
pub mod tree;

pub use auth::Credentials;
pub use budget::{BudgetConfig, HostBudgets};
pub use client::{ClientOptions, GitClient};
pub use fetch::{Fetcher, Outcome, Request};
pub use reference::{GitRef, Revision};
pub use store::{Artifact, ArtifactStore};
