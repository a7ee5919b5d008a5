//! The boundary between the fetch logic and the wire: listing refs and fetching one commit.

use std::{
    path::Path,
    sync::{Arc, atomic::AtomicBool},
    time::Instant,
};

use crate::{auth::Credentials, fetch::Error, reference::RemoteRef, tree::FetchedTree};

/// The remote of one call.
#[derive(Clone, Copy, Debug)]
pub struct Remote<'a> {
    /// The URL as written in the spec.
    pub url: &'a str,
    /// `host[:port]`, the key of budgets and metrics.
    pub host: &'a str,
    /// Credentials from the object's secret.
    pub credentials: &'a Credentials,
}

/// Which refs to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope<'a> {
    /// Every branch and tag: one listing serves all selectors of a URL.
    HeadsAndTags,
    /// One full reference name outside `refs/heads` and `refs/tags`.
    Name(&'a str),
}

/// What to fetch.
#[derive(Clone, Copy, Debug)]
pub struct Want<'a> {
    /// Fetch this reference (the remote resolves it), or, when `None`, `commit` by id.
    pub ref_name: Option<&'a str>,
    /// The commit expected (from the listing or the spec).
    pub commit: &'a str,
}

/// Deadline and interruption for one operation.
#[derive(Clone, Debug)]
pub struct Control {
    /// Nothing may run past this.
    pub deadline: Instant,
    /// The timeout the deadline came from, for messages.
    pub timeout: std::time::Duration,
    /// Raised to stop early; checked between reads.
    pub interrupt: Arc<AtomicBool>,
}

/// Lists refs and fetches commits. [`crate::client::GitClient`] talks to real servers; tests and the
/// simulation supply their own.
pub trait RemoteClient: Send + Sync {
    /// Lists refs in `scope`.
    fn list_refs(
        &self,
        remote: &Remote<'_>,
        scope: Scope<'_>,
        control: &Control,
    ) -> Result<Vec<RemoteRef>, Error>;

    /// Fetches `want` at depth 1 into `workdir` and returns its tree.
    fn fetch(
        &self,
        remote: &Remote<'_>,
        want: &Want<'_>,
        workdir: &Path,
        control: &Control,
    ) -> Result<Box<dyn FetchedTree>, Error>;
}
