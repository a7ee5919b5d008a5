//! Fetching a GitRepository: list refs, skip when unchanged, otherwise fetch depth 1 and store the
//! tree as an artifact. Listings and fetches are cached and coalesced so that many objects pointing at
//! one repository cost one remote call.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, atomic::AtomicBool},
    time::Duration,
};

use crate::{
    archive,
    auth::Credentials,
    budget::BudgetExhausted,
    clock::Clock,
    coalesce::{Role, SingleFlight},
    ignore::Excludes,
    metrics::{Metrics, inc},
    progress::{Discard, Progress},
    redact::RedactedUrl,
    reference::{
        GitRef, RefKind, RemoteRef, ResolveError, Resolved, Revision, Selector, commit_of,
        git_revision, listing_scope, resolve,
    },
    remote::{Control, Remote, RemoteClient, Scope, Want},
    store::{self, Artifact, ArtifactStore},
    tree::BlobTooLarge,
};

/// Why a fetch failed. Cloneable so coalesced callers each get the shared failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The URL does not parse or has no host.
    #[error("invalid repository URL {url}")]
    InvalidUrl {
        /// The URL, redacted.
        url: RedactedUrl,
    },
    /// Only `http`, `https` and `ssh` are supported.
    #[error("unsupported URL scheme in {url} (use https://, http:// or ssh://)")]
    UnsupportedScheme {
        /// The URL, redacted.
        url: RedactedUrl,
    },
    /// The ref does not exist or the range matches nothing.
    #[error("{reason} on {url}")]
    RefNotFound {
        /// The URL, redacted.
        url: RedactedUrl,
        /// What was missing, with near names.
        reason: ResolveError,
    },
    /// The secret could not be used.
    #[error("invalid credentials for {url}: {reason}")]
    InvalidCredentials {
        /// The URL, redacted.
        url: RedactedUrl,
        /// What is wrong (names keys, never values).
        reason: String,
    },
    /// The server refused the credentials (or their absence).
    #[error("authentication to {url} failed{}: check the secret's credentials and their access to the repository", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    AuthenticationFailed {
        /// The URL, redacted.
        url: RedactedUrl,
        /// The HTTP status, when over HTTP.
        status: Option<u16>,
    },
    /// The SSH server's host key is not the one in `known_hosts`.
    #[error(
        "host key verification of {url} failed: the server's key is not in the secret's known_hosts"
    )]
    HostKeyVerificationFailed {
        /// The URL, redacted.
        url: RedactedUrl,
    },
    /// Another unsuccessful HTTP status.
    #[error("{url} answered HTTP {status}")]
    Http {
        /// The URL, redacted.
        url: RedactedUrl,
        /// The status.
        status: u16,
    },
    /// The host asked to slow down and the wait did not fit the timeout.
    #[error("{url} is rate limiting requests (HTTP {status}){}", retry_after.map(|d| format!("; retry after {}s", d.as_secs().max(1))).unwrap_or_default())]
    RateLimited {
        /// The URL, redacted.
        url: RedactedUrl,
        /// 429 or 403.
        status: u16,
        /// The server's hint.
        retry_after: Option<Duration>,
    },
    /// The local per-host budget is spent.
    #[error("not fetching {url}: {budget}")]
    BudgetExhausted {
        /// The URL, redacted.
        url: RedactedUrl,
        /// Which host and for how long.
        budget: BudgetExhausted,
    },
    /// The operation's timeout passed.
    #[error("fetching {url} timed out after {}s", timeout.as_secs_f64())]
    Timeout {
        /// The URL, redacted.
        url: RedactedUrl,
        /// The timeout.
        timeout: Duration,
    },
    /// The interrupt flag was raised.
    #[error("fetching {url} was interrupted")]
    Interrupted {
        /// The URL, redacted.
        url: RedactedUrl,
    },
    /// Connecting or reading failed.
    #[error("could not reach {url}: {reason}")]
    Transport {
        /// The URL, redacted.
        url: RedactedUrl,
        /// What failed (credential-free).
        reason: String,
    },
    /// The Git conversation failed.
    #[error("git operation on {url} failed: {reason}")]
    Git {
        /// The URL, redacted.
        url: RedactedUrl,
        /// What failed (credential-free).
        reason: String,
    },
    /// Getting a GitHub App installation token failed.
    #[error("github app authentication for {url} failed: {source}")]
    GitHubApp {
        /// The URL, redacted.
        url: RedactedUrl,
        /// Why.
        #[source]
        source: crate::github_app::Error,
    },
    /// A redirect led to another origin (scheme, host or port) and the request there needed the
    /// credentials, which are only ever sent to the origin they were configured for.
    #[error(
        "{url} redirected to another origin ({to}), which asked for credentials; they are only sent to the configured origin: set spec.url to the new location"
    )]
    CrossOriginRedirect {
        /// The URL, redacted.
        url: RedactedUrl,
        /// Where the redirect pointed, redacted.
        to: RedactedUrl,
    },
    /// A reply (a ref listing, an error page, the pack) grew past its byte limit.
    #[error("{url} sent a {what} larger than the limit of {limit} bytes")]
    ResponseTooLarge {
        /// The URL, redacted.
        url: RedactedUrl,
        /// `ref listing`, `pack` or `response`.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// A file of the repository is larger than the blob size limit.
    #[error("{url} has a file larger than the blob size limit of {limit} bytes{}", path.as_ref().map(|p| format!(" ({p})")).unwrap_or_default())]
    BlobTooLarge {
        /// The URL, redacted.
        url: RedactedUrl,
        /// The file, when known.
        path: Option<String>,
        /// The limit.
        limit: u64,
    },
    /// The blocking task running the fetch failed (a panic).
    #[error("fetching {url} failed: {reason}")]
    TaskFailed {
        /// The URL, redacted.
        url: RedactedUrl,
        /// What happened.
        reason: String,
    },
    /// Writing the artifact failed.
    #[error("storing the artifact of {url} failed: {source}")]
    Store {
        /// The URL, redacted.
        url: RedactedUrl,
        /// Why.
        #[source]
        source: Arc<store::Error>,
    },
}

impl Error {
    /// Whether trying again later may succeed without a spec or secret change (requeue with
    /// backoff); `false` means wait for a change of the object or its secret.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::RateLimited { .. }
            | Error::BudgetExhausted { .. }
            | Error::Timeout { .. }
            | Error::Transport { .. }
            | Error::TaskFailed { .. }
            | Error::Git { .. } => true,
            Error::Http { status, .. } => *status == 429 || *status >= 500,
            Error::GitHubApp { source, .. } => source.is_transient(),
            Error::Store { source, .. } => !matches!(**source, store::Error::TooLarge { .. }),
            _ => false,
        }
    }

    /// The Flux condition reason (`GitOperationFailed`, `AuthenticationFailed`, `URLInvalid`,
    /// `StorageOperationFailed`), for conditions, events and metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidUrl { .. } | Error::UnsupportedScheme { .. } => "URLInvalid",
            Error::InvalidCredentials { .. }
            | Error::AuthenticationFailed { .. }
            | Error::CrossOriginRedirect { .. }
            | Error::GitHubApp { .. } => "AuthenticationFailed",
            Error::Store { .. } => "StorageOperationFailed",
            _ => "GitOperationFailed",
        }
    }

    /// When the caller should try again, if the failure says (a `Retry-After` or rate-limit reset
    /// the fetch did not wait out, or the local per-host budget): requeue at this time instead of
    /// the usual backoff.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after, .. } => *retry_after,
            Error::BudgetExhausted { budget, .. } => Some(budget.retry_after),
            _ => None,
        }
    }
}

/// What a fetch did: "unchanged" (one ref listing, nothing downloaded) or "a new artifact is stored".
#[doc(alias = "FetchOutcome")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The remote's revision equals the last one: only the (shared) ref listing was made, nothing
    /// was downloaded and nothing was stored.
    Unchanged {
        /// The (unchanged) revision.
        revision: Revision,
    },
    /// A new artifact was stored.
    Fetched {
        /// The fetched revision.
        revision: Revision,
        /// The stored archive.
        artifact: Artifact,
    },
}

impl Outcome {
    /// The revision either way.
    pub fn revision(&self) -> &Revision {
        match self {
            Outcome::Unchanged { revision } | Outcome::Fetched { revision, .. } => revision,
        }
    }

    /// The stored artifact, when one was fetched.
    pub fn artifact(&self) -> Option<&Artifact> {
        match self {
            Outcome::Unchanged { .. } => None,
            Outcome::Fetched { artifact, .. } => Some(artifact),
        }
    }
}

/// One GitRepository's fetch.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// `spec.url`.
    pub url: &'a str,
    /// `spec.ref`.
    pub reference: &'a GitRef,
    /// From `spec.secretRef`.
    pub credentials: &'a Credentials,
    /// `spec.ignore`.
    pub ignore: Option<&'a str>,
    /// `status.artifact.revision`: when the remote still has it, nothing is downloaded.
    pub last_revision: Option<&'a str>,
    /// The object's key in the store's history (`GitRepository/ns/name`), for garbage collection.
    pub object: Option<&'a str>,
}

/// Knobs of a [`Fetcher`].
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Deadline of one fetch (Flux's `spec.timeout`, default 60 s).
    pub timeout: Duration,
    /// How long a ref listing is reused for other objects of the same URL and credentials.
    pub listing_ttl: Duration,
    /// Artifacts kept per object.
    pub keep_artifacts: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(60),
            listing_ttl: Duration::from_secs(30),
            keep_artifacts: 2,
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct ListingKey {
    url: String,
    credentials: [u8; 32],
    scope: Option<String>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct FetchKey {
    url: String,
    credentials: [u8; 32],
    ref_name: Option<String>,
    commit: String,
    ignore: Option<String>,
}

type Listing = Arc<Vec<RemoteRef>>;

/// Fetches GitRepositories into an [`ArtifactStore`].
pub struct Fetcher<C> {
    client: C,
    store: Arc<ArtifactStore>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    options: Options,
    listings: Mutex<HashMap<ListingKey, (Duration, Listing)>>,
    listing_flights: SingleFlight<ListingKey, Result<Listing, Error>>,
    fetch_flights: SingleFlight<FetchKey, Result<(Revision, Artifact), Error>>,
}

/// `(revision name, full ref name)` of selectors naming one ref.
fn direct_ref(selector: &Selector) -> Option<(String, String)> {
    match selector {
        Selector::Branch(b) => Some((b.clone(), format!("refs/heads/{b}"))),
        Selector::Tag(t) => Some((t.clone(), format!("refs/tags/{t}"))),
        Selector::Name(n) => Some((n.clone(), n.clone())),
        Selector::Commit { .. } | Selector::Semver(_) => None,
    }
}

/// The host part (`host[:port]`) and whether the scheme is supported.
pub fn host_of(url: &str) -> Result<String, Error> {
    let redacted = || RedactedUrl::new(url);
    let parsed = gix::url::parse(gix::bstr::BStr::new(url))
        .map_err(|_| Error::InvalidUrl { url: redacted() })?;
    match parsed.scheme {
        gix::url::Scheme::Http | gix::url::Scheme::Https | gix::url::Scheme::Ssh => {}
        _ => return Err(Error::UnsupportedScheme { url: redacted() }),
    }
    let host = parsed
        .host()
        .ok_or_else(|| Error::InvalidUrl { url: redacted() })?;
    Ok(match parsed.port {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

impl<C: RemoteClient> Fetcher<C> {
    /// A fetcher over `client`, storing into `store`.
    pub fn new(
        client: C,
        store: Arc<ArtifactStore>,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
        options: Options,
    ) -> Self {
        Fetcher {
            client,
            store,
            metrics,
            clock,
            options,
            listings: Mutex::new(HashMap::new()),
            listing_flights: SingleFlight::default(),
            fetch_flights: SingleFlight::default(),
        }
    }

    /// The counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The client.
    pub fn client(&self) -> &C {
        &self.client
    }

    /// The store.
    pub fn store(&self) -> &Arc<ArtifactStore> {
        &self.store
    }

    /// Resolves `request.reference` on the remote; returns [`Outcome::Unchanged`] when the revision is
    /// `request.last_revision`, else fetches it at depth 1 and stores the tree. Without a last
    /// revision a branch, tag or name is fetched directly (the fetch's own ref listing names the
    /// commit), saving the separate listing.
    ///
    /// # Guarantees
    /// - No artifact is visible until it is whole (temp file, fsync, rename).
    /// - Concurrent calls for the same URL, ref and credentials make one remote call.
    /// - Nothing runs past `Options::timeout`; raising `interrupt` stops at the next read.
    pub fn fetch(
        &self,
        request: &Request<'_>,
        interrupt: &Arc<AtomicBool>,
    ) -> Result<Outcome, Error> {
        self.fetch_with_progress(request, interrupt, Arc::new(Discard))
    }

    /// [`Fetcher::fetch`], reporting bytes received, objects and files written to `progress`.
    /// A caller sharing another's remote call (coalesced) gets no progress calls.
    pub fn fetch_with_progress(
        &self,
        request: &Request<'_>,
        interrupt: &Arc<AtomicBool>,
        progress: Arc<dyn Progress>,
    ) -> Result<Outcome, Error> {
        let host = host_of(request.url)?;
        let remote = Remote {
            url: request.url,
            host: &host,
            credentials: request.credentials,
        };
        let control = Control::new(self.options.timeout, interrupt.clone(), progress);
        let selector = Selector::of(request.reference);
        // Nothing to compare with: fetch the ref directly (its own ls-refs names the commit), saving
        // the separate listing. A missing ref falls through to the listing for an error with near names.
        if request.last_revision.is_none()
            && let Some((name, full)) = direct_ref(&selector)
        {
            let resolved = Resolved {
                revision: git_revision(Some(name), ""),
                ref_name: Some(full),
            };
            match self.fetch_shared(&remote, &resolved, request, &control) {
                Err(Error::RefNotFound { .. }) => {}
                other => return other,
            }
        }
        let resolved = match &selector {
            Selector::Commit { .. } => resolve(&selector, &[]),
            _ => {
                let listing = self.listing(&remote, listing_scope(&selector), &control)?;
                resolve(&selector, &listing)
            }
        }
        .map_err(|reason| Error::RefNotFound {
            url: RedactedUrl::new(request.url),
            reason,
        })?;
        if request.last_revision == Some(resolved.revision.to_string().as_str()) {
            inc(&self.metrics.fetches_skipped_unchanged);
            return Ok(Outcome::Unchanged {
                revision: resolved.revision,
            });
        }
        self.fetch_shared(&remote, &resolved, request, &control)
    }

    /// The coalesced fetch of `resolved`, recorded in the object's history.
    fn fetch_shared(
        &self,
        remote: &Remote<'_>,
        resolved: &Resolved,
        request: &Request<'_>,
        control: &Control,
    ) -> Result<Outcome, Error> {
        let key = FetchKey {
            url: request.url.to_owned(),
            credentials: request.credentials.fingerprint(),
            ref_name: resolved.ref_name.clone(),
            commit: commit_of(&resolved.revision).to_owned(),
            ignore: request.ignore.map(str::to_owned),
        };
        let mut attempt = 0;
        let (revision, artifact) = loop {
            attempt += 1;
            let (result, role) = self.fetch_flights.run(&key, || {
                self.fetch_and_store(remote, resolved, request.ignore, control)
            });
            if role == Role::Follower {
                inc(&self.metrics.coalesced_calls);
                // The leader's caller went away (its interrupt): that is no failure of ours.
                if matches!(result, Err(Error::Interrupted { .. }))
                    && !control.is_interrupted()
                    && attempt < 3
                {
                    continue;
                }
            }
            break result?;
        };
        if let Some(object) = request.object {
            self.store
                .record(object, &artifact, self.options.keep_artifacts)
                .map_err(|e| Error::Store {
                    url: RedactedUrl::new(request.url),
                    source: Arc::new(e),
                })?;
        }
        Ok(Outcome::Fetched { revision, artifact })
    }

    fn listing(
        &self,
        remote: &Remote<'_>,
        scope: Option<&str>,
        control: &Control,
    ) -> Result<Listing, Error> {
        let key = ListingKey {
            url: remote.url.to_owned(),
            credentials: remote.credentials.fingerprint(),
            scope: scope.map(str::to_owned),
        };
        let now = self.clock.now();
        {
            let listings = self.listings.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, listing)) = listings.get(&key)
                && now.saturating_sub(*at) < self.options.listing_ttl
            {
                inc(&self.metrics.coalesced_calls);
                return Ok(listing.clone());
            }
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (result, role) = self.listing_flights.run(&key, || {
                let scope = match scope {
                    Some(name) => Scope::Name(name),
                    None => Scope::HeadsAndTags,
                };
                inc(&self.metrics.ref_listings);
                let listing = Arc::new(self.client.list_refs(remote, scope, control)?);
                let mut listings = self.listings.lock().unwrap_or_else(|p| p.into_inner());
                listings.retain(|_, (at, _)| now.saturating_sub(*at) < self.options.listing_ttl);
                listings.insert(key.clone(), (self.clock.now(), listing.clone()));
                Ok(listing)
            });
            if role == Role::Follower {
                inc(&self.metrics.coalesced_calls);
                if matches!(result, Err(Error::Interrupted { .. }))
                    && !control.is_interrupted()
                    && attempt < 3
                {
                    continue;
                }
            }
            return result;
        }
    }

    fn fetch_and_store(
        &self,
        remote: &Remote<'_>,
        resolved: &Resolved,
        ignore: Option<&str>,
        control: &Control,
    ) -> Result<(Revision, Artifact), Error> {
        let url = || RedactedUrl::new(remote.url);
        let store_err = |e: store::Error| Error::Store {
            url: url(),
            source: Arc::new(e),
        };
        let scratch = self.store.scratch_dir().map_err(store_err)?;
        let want = Want {
            ref_name: resolved.ref_name.as_deref(),
            commit: commit_of(&resolved.revision),
        };
        inc(&self.metrics.fetches);
        let tree = self.client.fetch(remote, &want, scratch.path(), control)?;
        let mut revision = resolved.revision.clone();
        if tree.commit() != commit_of(&revision) {
            if resolved.ref_name.is_none() {
                return Err(Error::RefNotFound {
                    url: url(),
                    reason: ResolveError::NotFound {
                        kind: RefKind::Commit,
                        name: commit_of(&revision).to_owned(),
                        similar: Vec::new(),
                    },
                });
            }
            // The ref moved between listing and fetch: report what was fetched.
            revision = git_revision(revision.reference.take(), tree.commit());
        }
        // A walk fails for a file over the blob limit, an archive over the artifact limit, or I/O.
        let walk_err = |e: std::io::Error| {
            if e.get_ref().is_some_and(|inner| inner.is::<BlobTooLarge>()) {
                let blob = e
                    .into_inner()
                    .and_then(|inner| inner.downcast::<BlobTooLarge>().ok());
                return Error::BlobTooLarge {
                    url: url(),
                    path: blob.as_ref().map(|b| b.path.clone()),
                    limit: blob.map_or(0, |b| b.limit),
                };
            }
            if e.kind() == std::io::ErrorKind::FileTooLarge {
                return store_err(store::Error::TooLarge {
                    limit: self.store_limit(),
                });
            }
            store_err(store::Error::Io {
                op: "write artifact",
                path: self.store.root().to_owned(),
                source: e,
            })
        };
        let sourceignores = archive::collect_sourceignores(tree.as_ref()).map_err(walk_err)?;
        let excludes = Excludes::new(&sourceignores, ignore);
        let pending = self.store.begin().map_err(store_err)?;
        let (_, pending) =
            archive::write_tar_gz(tree.as_ref(), &excludes, pending, control.progress.as_ref())
                .map_err(walk_err)?;
        let artifact = self.store.commit(pending).map_err(store_err)?;
        Ok((revision, artifact))
    }

    fn store_limit(&self) -> u64 {
        self.store.options().max_artifact_size
    }
}
