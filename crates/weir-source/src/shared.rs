//! The fetcher from async code: one shared [`AsyncFetcher`] per process, each fetch run on tokio's
//! blocking pool and stopped when its future is dropped.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use weir_api::flux::GitRepositorySpec;

use crate::{
    auth::Credentials,
    client::GitClient,
    fetch::{Error, Fetcher, Outcome, Request},
    progress::Progress,
    redact::RedactedUrl,
    reference::GitRef,
    remote::RemoteClient,
};

/// One GitRepository's fetch, owned (it crosses into a blocking task): the spec fields a fetch reads
/// and the last revision from status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct GitSource {
    /// `spec.url`.
    pub url: String,
    /// `spec.ref` (an empty ref means branch `master`, as in Flux).
    pub reference: GitRef,
    /// `spec.ignore`.
    pub ignore: Option<String>,
    /// `status.artifact.revision`: when the remote still has it, the outcome is
    /// [`Outcome::Unchanged`] and nothing is downloaded.
    pub last_revision: Option<String>,
    /// The object's key in the store's history (`GitRepository/<namespace>/<name>`), so garbage
    /// collection keeps its recent artifacts; `None` records nothing.
    pub object: Option<String>,
}

impl GitSource {
    /// The source of GitRepository `namespace/name` with `spec`, last fetched at `last_revision`.
    pub fn of(
        namespace: &str,
        name: &str,
        spec: &GitRepositorySpec,
        last_revision: Option<&str>,
    ) -> Self {
        GitSource {
            url: spec.url.clone(),
            reference: spec.reference.clone().unwrap_or_default(),
            ignore: spec.ignore.clone(),
            last_revision: last_revision.map(str::to_owned),
            object: Some(format!("GitRepository/{namespace}/{name}")),
        }
    }

    /// The borrowed [`Request`] of the blocking [`Fetcher`].
    pub fn request<'a>(&'a self, credentials: &'a Credentials) -> Request<'a> {
        Request {
            url: &self.url,
            reference: &self.reference,
            credentials,
            ignore: self.ignore.as_deref(),
            last_revision: self.last_revision.as_deref(),
            object: self.object.as_deref(),
        }
    }
}

/// The async face of a [`Fetcher`]; cheap to clone, meant to be shared by every reconcile.
///
/// # Guarantees
/// - The blocking work (ref listing, pack download, archive writing) runs on tokio's blocking pool
///   ([`tokio::task::spawn_blocking`]); the calling task is never blocked.
/// - Dropping the future returned by [`AsyncFetcher::fetch`] (a cancelled reconcile, a
///   `tokio::select!` against a shutdown token) raises the fetch's interrupt flag: the blocking work
///   stops at its next read or wait and removes its temporary files. Callers that shared the same
///   remote call (coalescing) are not failed by it: they run the call again.
/// - The fetch never sleeps out a rate limit longer than [`crate::ClientOptions::max_retry_wait`]:
///   with it at zero (what a controller wants), a `429`/`Retry-After` comes back at once as an error
///   whose [`Error::retry_after`] is the requeue time.
pub struct AsyncFetcher<C: RemoteClient + 'static = GitClient> {
    inner: Arc<Fetcher<C>>,
}

impl<C: RemoteClient + 'static> Clone for AsyncFetcher<C> {
    fn clone(&self) -> Self {
        AsyncFetcher {
            inner: self.inner.clone(),
        }
    }
}

/// Raises the flag when dropped unless disarmed: ties the blocking work to the future's life.
struct InterruptOnDrop {
    flag: Arc<AtomicBool>,
    armed: bool,
}

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.flag.store(true, Ordering::Relaxed);
        }
    }
}

impl<C: RemoteClient + 'static> AsyncFetcher<C> {
    /// Wraps `fetcher`.
    pub fn new(fetcher: Fetcher<C>) -> Self {
        AsyncFetcher {
            inner: Arc::new(fetcher),
        }
    }

    /// The blocking fetcher (its store, metrics and client's budgets).
    pub fn blocking(&self) -> &Arc<Fetcher<C>> {
        &self.inner
    }

    /// Fetches `source` with `credentials` (see [`Fetcher::fetch`]), reporting to `progress`.
    ///
    /// # Errors
    /// Every [`Error`] of [`Fetcher::fetch`]; [`Error::TaskFailed`] if the blocking task panicked.
    /// Branch on [`Error::is_transient`] (requeue with backoff, or at [`Error::retry_after`] when
    /// set) and record [`Error::reason`] as the condition reason.
    ///
    /// The arguments are copied before the future is returned, so the future borrows nothing
    /// (`'static`, `Send`: it can be spawned).
    pub fn fetch(
        &self,
        source: &GitSource,
        credentials: &Credentials,
        progress: Arc<dyn Progress>,
    ) -> impl Future<Output = Result<Outcome, Error>> + Send + 'static {
        let interrupt = Arc::new(AtomicBool::new(false));
        let guard = InterruptOnDrop {
            flag: interrupt.clone(),
            armed: true,
        };
        let fetcher = self.inner.clone();
        let (source, credentials) = (source.clone(), credentials.clone());
        let url = RedactedUrl::new(&source.url);
        async move {
            run(
                fetcher,
                source,
                credentials,
                progress,
                interrupt,
                guard,
                url,
            )
            .await
        }
    }
}

async fn run<C: RemoteClient + 'static>(
    fetcher: Arc<Fetcher<C>>,
    source: GitSource,
    credentials: Credentials,
    progress: Arc<dyn Progress>,
    interrupt: Arc<AtomicBool>,
    mut guard: InterruptOnDrop,
    url: RedactedUrl,
) -> Result<Outcome, Error> {
    {
        let task = tokio::task::spawn_blocking(move || {
            fetcher.fetch_with_progress(&source.request(&credentials), &interrupt, progress)
        });
        let result = task.await;
        guard.armed = false;
        match result {
            Ok(result) => result,
            Err(e) => Err(Error::TaskFailed {
                url,
                reason: if e.is_panic() {
                    "the fetch task panicked".to_owned()
                } else {
                    "the fetch task was cancelled".to_owned()
                },
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_source_should_take_the_spec_fields_a_fetch_reads() {
        let spec = GitRepositorySpec {
            url: "https://example.com/r.git".into(),
            reference: Some(GitRef {
                tag: Some("v1".into()),
                ..GitRef::default()
            }),
            ignore: Some("/docs\n".into()),
            ..GitRepositorySpec::default()
        };
        let source = GitSource::of("team-a", "apps", &spec, Some("v1@sha1:abc"));
        assert_eq!(source.url, spec.url);
        assert_eq!(source.reference.tag.as_deref(), Some("v1"));
        assert_eq!(source.ignore.as_deref(), Some("/docs\n"));
        assert_eq!(source.last_revision.as_deref(), Some("v1@sha1:abc"));
        assert_eq!(source.object.as_deref(), Some("GitRepository/team-a/apps"));
        let credentials = Credentials::default();
        let request = source.request(&credentials);
        assert_eq!(request.url, spec.url);
        assert_eq!(request.object, Some("GitRepository/team-a/apps"));
        // No ref at all is Flux's default branch.
        let bare = GitSource::of("ns", "n", &GitRepositorySpec::default(), None);
        assert_eq!(bare.reference, GitRef::default());
    }
}
