//! The boundary between the fetch logic and the wire: listing refs and fetching one commit.

use std::{
    path::Path,
    sync::{Arc, atomic::AtomicBool},
    time::{Duration, Instant},
};

use crate::{
    auth::Credentials, fetch::Error, progress::Progress, reference::RemoteRef, tree::FetchedTree,
};

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

/// Deadline, interruption and progress of one operation.
#[derive(Clone)]
pub struct Control {
    /// Nothing may run past this.
    pub deadline: Instant,
    /// The timeout the deadline came from, for messages.
    pub timeout: Duration,
    /// Raised to stop early; checked between reads.
    pub interrupt: Arc<AtomicBool>,
    /// Told about bytes received, objects and files written.
    pub progress: Arc<dyn Progress>,
}

impl Control {
    /// A control whose deadline is `timeout` from now (saturating: an enormous timeout means
    /// "about a century", never an overflow).
    pub fn new(timeout: Duration, interrupt: Arc<AtomicBool>, progress: Arc<dyn Progress>) -> Self {
        Control {
            deadline: deadline_after(timeout),
            timeout,
            interrupt,
            progress,
        }
    }

    /// Whether the interrupt flag is raised.
    pub fn is_interrupted(&self) -> bool {
        self.interrupt.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("deadline", &self.deadline)
            .field("timeout", &self.timeout)
            .field("interrupt", &self.interrupt)
            .finish_non_exhaustive()
    }
}

/// The longest deadline weir computes: later ones are clamped (no `Instant` overflow, item 8 of
/// issue 14).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `now + timeout`, clamped to [`MAX_TIMEOUT`].
pub fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout.min(MAX_TIMEOUT)).unwrap_or(now)
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
