//! Fetching a GitRepository: list refs, skip when unchanged, otherwise fetch depth 1 and store the
//! tree as an artifact. Listings and fetches are cached and coalesced so that many objects pointing at
//! one repository cost one remote call.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, atomic::AtomicBool},
    time::{Duration, Instant},
};

use crate::{
    archive,
    auth::Credentials,
    budget::BudgetExhausted,
    clock::Clock,
    coalesce::{Role, SingleFlight},
    ignore::Excludes,
    metrics::{Metrics, inc},
    redact::RedactedUrl,
    reference::{
        GitRef, RefKind, RemoteRef, ResolveError, Resolved, Revision, Selector, listing_scope,
        resolve,
    },
    remote::{Control, Remote, RemoteClient, Scope, Want},
    store::{self, Artifact, ArtifactStore},
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
    /// Whether trying again later may succeed without a spec or secret change.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::RateLimited { .. }
            | Error::BudgetExhausted { .. }
            | Error::Timeout { .. }
            | Error::Transport { .. }
            | Error::Git { .. } => true,
            Error::Http { status, .. } => *status == 429 || *status >= 500,
            Error::GitHubApp { source, .. } => source.is_transient(),
            Error::Store { source, .. } => !matches!(**source, store::Error::TooLarge { .. }),
            _ => false,
        }
    }

    /// The Flux condition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidUrl { .. } | Error::UnsupportedScheme { .. } => "URLInvalid",
            Error::InvalidCredentials { .. }
            | Error::AuthenticationFailed { .. }
            | Error::GitHubApp { .. } => "AuthenticationFailed",
            Error::Store { .. } => "StorageOperationFailed",
            _ => "GitOperationFailed",
        }
    }

    /// When the caller should try again, if the failure says.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after, .. } => *retry_after,
            Error::BudgetExhausted { budget, .. } => Some(budget.retry_after),
            _ => None,
        }
    }
}

/// What a fetch did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The remote's revision equals the last one: nothing was downloaded.
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
        let host = host_of(request.url)?;
        let remote = Remote {
            url: request.url,
            host: &host,
            credentials: request.credentials,
        };
        let control = Control {
            deadline: Instant::now() + self.options.timeout,
            timeout: self.options.timeout,
            interrupt: interrupt.clone(),
        };
        let selector = Selector::of(request.reference);
        // Nothing to compare with: fetch the ref directly (its own ls-refs names the commit), saving
        // the separate listing. A missing ref falls through to the listing for an error with near names.
        if request.last_revision.is_none()
            && let Some((name, full)) = direct_ref(&selector)
        {
            let resolved = Resolved {
                revision: Revision {
                    name: Some(name),
                    commit: String::new(),
                },
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
            commit: resolved.revision.commit.clone(),
            ignore: request.ignore.map(str::to_owned),
        };
        let (result, role) = self.fetch_flights.run(&key, || {
            self.fetch_and_store(remote, resolved, request.ignore, control)
        });
        if role == Role::Follower {
            inc(&self.metrics.coalesced_calls);
        }
        let (revision, artifact) = result?;
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
        }
        result
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
            commit: &resolved.revision.commit,
        };
        inc(&self.metrics.fetches);
        let tree = self.client.fetch(remote, &want, scratch.path(), control)?;
        let mut revision = resolved.revision.clone();
        if tree.commit() != revision.commit {
            if resolved.ref_name.is_none() {
                return Err(Error::RefNotFound {
                    url: url(),
                    reason: ResolveError::NotFound {
                        kind: RefKind::Commit,
                        name: revision.commit.clone(),
                        similar: Vec::new(),
                    },
                });
            }
            // The ref moved between listing and fetch: report what was fetched.
            revision.commit = tree.commit().to_owned();
        }
        let write_err = |e: std::io::Error| Error::Store {
            url: url(),
            source: Arc::new(store::Error::Io {
                op: "write artifact",
                path: self.store.root().to_owned(),
                source: e,
            }),
        };
        let sourceignores = archive::collect_sourceignores(tree.as_ref()).map_err(write_err)?;
        let excludes = Excludes::new(&sourceignores, ignore);
        let pending = self.store.begin().map_err(store_err)?;
        let pending = match archive::write_tar_gz(tree.as_ref(), &excludes, pending) {
            Ok((_, pending)) => pending,
            Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => {
                return Err(store_err(store::Error::TooLarge {
                    limit: self.store_limit(),
                }));
            }
            Err(e) => return Err(write_err(e)),
        };
        let artifact = self.store.commit(pending).map_err(store_err)?;
        Ok((revision, artifact))
    }

    fn store_limit(&self) -> u64 {
        self.store.options().max_artifact_size
    }
}
