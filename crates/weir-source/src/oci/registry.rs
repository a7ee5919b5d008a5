//! A small client of the OCI distribution spec on the same blocking HTTP client (ureq) as the Git
//! transport: every request is counted against the host's budget, `429`/`Retry-After` is honoured
//! (or handed back), Basic and Bearer-token challenges are answered, and the answer is remembered
//! per (host, repository, credentials) so that a poll of an unchanged tag costs exactly one request.

use std::{
    collections::HashMap,
    fs::File,
    io::{self, Read, Write},
    path::Path,
    sync::{Arc, Mutex, atomic::Ordering},
    time::{Duration, Instant},
};

use sha2::{Digest as _, Sha256};

use super::{
    Error,
    auth::{Challenge, OciCredentials, parse_challenge},
    manifest::MANIFEST_ACCEPT,
    reference::{OciUrl, Target},
};
use crate::{
    budget::HostBudgets,
    http::{Origin, origin_text, resolve_location, retry_after},
    metrics::{HostCounters, Metrics, inc},
    redact::Secret,
    remote::Control,
};

/// Knobs of the registry client.
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    /// Connecting gives up after this.
    pub connect_timeout: Duration,
    /// The longest `Retry-After` (or 502/503/504 backoff) waited out in place; longer ones fail
    /// with the hint in [`Error::retry_after`]. A controller sets zero and requeues instead.
    pub max_retry_wait: Duration,
    /// Attempts per request (rate limits and 502/503/504).
    pub max_attempts: u32,
    /// The largest manifest read, in bytes (the distribution registry's own limit is 4 MiB).
    pub max_manifest_size: u64,
    /// The largest tag list read, in bytes.
    pub max_tag_list_size: u64,
    /// The largest layer blob downloaded, in bytes; checked against the manifest's declared size
    /// before the download and while streaming.
    pub max_blob_size: u64,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            connect_timeout: Duration::from_secs(15),
            max_retry_wait: Duration::from_secs(30),
            max_attempts: 4,
            max_manifest_size: 4 << 20,
            max_tag_list_size: 16 << 20,
            max_blob_size: 256 << 20,
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct AuthKey {
    host: String,
    repository: String,
    push: bool,
    credentials: [u8; 32],
}

#[derive(Clone)]
enum Learned {
    Basic,
    Bearer { token: Secret, until: Instant },
}

/// Talks to OCI registries; share one per process (it remembers how each registry authenticates).
pub struct RegistryClient {
    budgets: Arc<HostBudgets>,
    metrics: Arc<Metrics>,
    options: RegistryOptions,
    learned: Mutex<HashMap<AuthKey, Learned>>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// A client spending `budgets` (shared with the Git client) and counting into `metrics`.
    pub fn new(budgets: Arc<HostBudgets>, metrics: Arc<Metrics>, options: RegistryOptions) -> Self {
        RegistryClient {
            budgets,
            metrics,
            options,
            learned: Mutex::new(HashMap::new()),
        }
    }

    /// The options.
    pub fn options(&self) -> &RegistryOptions {
        &self.options
    }

    /// The budgets this client spends.
    pub fn budgets(&self) -> &Arc<HostBudgets> {
        &self.budgets
    }

    /// The counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// A session on `url`'s repository for one operation. `insecure` uses plain HTTP; `push` asks
    /// token services for push access too.
    pub fn session<'a>(
        &'a self,
        url: &'a OciUrl,
        credentials: &'a OciCredentials,
        insecure: bool,
        push: bool,
        control: &'a Control,
    ) -> Result<Session<'a>, Error> {
        let agent = crate::tls::agent(credentials.ca_pem.as_deref(), self.options.connect_timeout)
            .map_err(|e| Error::InvalidCredentials {
                url: url.to_url(),
                reason: e.to_string(),
            })?;
        let base = format!("{}://{}", if insecure { "http" } else { "https" }, url.host);
        let origin = Origin::of(&base).ok_or_else(|| Error::InvalidUrl {
            url: url.to_url(),
            reason: "the host is not a valid authority".into(),
        })?;
        Ok(Session {
            client: self,
            agent,
            counters: self.metrics.host(&url.host),
            key: AuthKey {
                host: url.host.clone(),
                repository: url.repository.clone(),
                push,
                credentials: credentials.fingerprint(),
            },
            base,
            origin,
            url,
            credentials,
            control,
        })
    }
}

/// One operation's requests to one repository.
pub struct Session<'a> {
    client: &'a RegistryClient,
    agent: ureq::Agent,
    counters: Arc<HostCounters>,
    key: AuthKey,
    base: String,
    origin: Origin,
    url: &'a OciUrl,
    credentials: &'a OciCredentials,
    control: &'a Control,
}

/// A request body.
#[derive(Clone, Copy)]
pub enum Body<'b> {
    /// None.
    Empty,
    /// Bytes in memory.
    Bytes(&'b [u8]),
    /// A file, streamed (reopened on a retry).
    File(&'b Path),
}

/// A successful (2xx) or `404` reply.
pub struct Reply {
    /// The status.
    pub status: u16,
    /// The headers.
    pub headers: ureq::http::HeaderMap,
    /// The body, unread.
    pub body: ureq::Body,
    /// Where the request ended after redirects.
    pub final_url: String,
}

impl Reply {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What a manifest request found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedManifest {
    /// `sha256:<hex>` of the bytes.
    pub digest: String,
    /// The `Content-Type`.
    pub content_type: Option<String>,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Redirects followed per request.
const MAX_REDIRECTS: u32 = 5;

impl Session<'_> {
    fn display(&self) -> String {
        self.url.to_url()
    }

    fn remaining(&self) -> Option<Duration> {
        self.control
            .deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    fn check_running(&self) -> Result<Duration, Error> {
        if self.control.is_interrupted() {
            return Err(Error::Interrupted {
                url: self.display(),
            });
        }
        self.remaining().ok_or_else(|| Error::Timeout {
            url: self.display(),
            timeout: self.control.timeout,
        })
    }

    fn pause(&self, wait: Duration) -> Result<(), Error> {
        let until = Instant::now() + wait;
        while let Some(left) = until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        {
            self.check_running()?;
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
        Ok(())
    }

    fn learned(&self) -> Option<Learned> {
        let mut map = self
            .client
            .learned
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match map.get(&self.key) {
            Some(Learned::Bearer { until, .. }) if *until <= Instant::now() => {
                map.remove(&self.key);
                None
            }
            other => other.cloned(),
        }
    }

    fn learn(&self, learned: Option<Learned>) {
        let mut map = self
            .client
            .learned
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match learned {
            Some(l) => map.insert(self.key.clone(), l),
            None => map.remove(&self.key),
        };
    }

    fn auth_header(&self) -> Option<Secret> {
        if let Some(token) = &self.credentials.registry_token {
            return Some(Secret::new(format!("Bearer {}", token.expose())));
        }
        match self.learned()? {
            Learned::Basic => self.credentials.basic_header(),
            Learned::Bearer { token, .. } => {
                Some(Secret::new(format!("Bearer {}", token.expose())))
            }
        }
    }

    /// `https://host/v2/<repository>/<tail>`.
    pub fn url_of(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.base, self.url.repository)
    }

    /// Sends one request: budget, auth (answering a challenge once), redirects of GET/HEAD (the
    /// credentials never leave the registry's origin), and retries of 429/502/503/504 while the wait
    /// fits. Returns 2xx and 404 replies; every other status is an error.
    pub fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<Reply, Error> {
        let mut backoff = Duration::from_millis(500);
        let mut current = url.to_owned();
        let mut attempt = 0u32;
        let mut hops = 0u32;
        let mut answered_challenge = false;
        loop {
            attempt += 1;
            let remaining = self.check_running()?;
            let host = Origin::of(&current)
                .map(|_| host_of(&current))
                .unwrap_or_else(|| self.url.host.clone());
            if let Err(budget) = self.client.budgets.try_acquire(&host, 1) {
                inc(&self.counters.budget_refusals);
                return Err(Error::BudgetExhausted {
                    url: self.display(),
                    budget,
                });
            }
            inc(&self.counters.requests);
            let same_origin = Origin::of(&current).is_some_and(|o| o == self.origin);
            let auth = self.auth_header().filter(|_| same_origin);
            let result = self.call(method, &current, headers, auth.as_ref(), body, remaining);
            let response = match result {
                Ok(r) => r,
                Err(ureq::Error::Timeout(_)) => {
                    return Err(Error::Timeout {
                        url: self.display(),
                        timeout: self.control.timeout,
                    });
                }
                Err(e) => {
                    return Err(Error::Transport {
                        url: self.display(),
                        reason: e.to_string(),
                    });
                }
            };
            let status = response.status().as_u16();
            if (200..300).contains(&status) || status == 404 {
                let (parts, body) = response.into_parts();
                return Ok(Reply {
                    status,
                    headers: parts.headers,
                    body,
                    final_url: current,
                });
            }
            if matches!(status, 301 | 302 | 303 | 307 | 308) && matches!(method, "GET" | "HEAD") {
                let next = response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| resolve_location(&current, l));
                match next {
                    Some(next) if hops < MAX_REDIRECTS => {
                        hops += 1;
                        attempt -= 1;
                        current = next;
                        continue;
                    }
                    _ => {
                        return Err(Error::Http {
                            url: self.display(),
                            status,
                        });
                    }
                }
            }
            if status == 401 && same_origin {
                let challenge = response
                    .headers()
                    .get_all("www-authenticate")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .filter_map(parse_challenge)
                    .next();
                if answered_challenge || self.credentials.registry_token.is_some() {
                    self.learn(None);
                    return Err(self.auth_failed(Some(401)));
                }
                answered_challenge = true;
                attempt -= 1;
                match challenge {
                    Some(Challenge::Basic) if self.credentials.basic.is_some() => {
                        self.learn(Some(Learned::Basic));
                    }
                    Some(Challenge::Bearer {
                        realm,
                        service,
                        scope,
                    }) => {
                        let token = self.token(&realm, service.as_deref(), scope.as_deref())?;
                        self.learn(Some(token));
                    }
                    _ => return Err(self.auth_failed(Some(401))),
                }
                continue;
            }
            if status == 401 && !same_origin && auth.is_none() && self.auth_header().is_some() {
                return Err(Error::CrossOriginRedirect {
                    url: self.display(),
                    to: origin_text(&current),
                });
            }
            let rate_limited =
                status == 429 || (status == 403 && response.headers().contains_key("retry-after"));
            if status == 403 || status == 401 {
                return Err(self.auth_failed(Some(status)));
            }
            let retryable = rate_limited || matches!(status, 502..=504);
            if !retryable {
                return Err(Error::Http {
                    url: self.display(),
                    status,
                });
            }
            let hinted = retry_after(response.headers());
            if rate_limited {
                inc(&self.counters.rate_limited);
                self.client
                    .budgets
                    .defer(&self.url.host, hinted.unwrap_or(backoff));
            }
            let wait = hinted.unwrap_or(backoff);
            let fits = wait <= self.client.options.max_retry_wait
                && self.remaining().is_some_and(|r| r > wait);
            if attempt >= self.client.options.max_attempts.max(1) || !fits {
                return Err(if rate_limited {
                    Error::RateLimited {
                        url: self.display(),
                        status,
                        retry_after: hinted,
                    }
                } else {
                    Error::Http {
                        url: self.display(),
                        status,
                    }
                });
            }
            self.pause(wait)?;
            backoff = (backoff * 2).min(self.client.options.max_retry_wait.max(backoff));
        }
    }

    fn auth_failed(&self, status: Option<u16>) -> Error {
        Error::AuthenticationFailed {
            url: self.display(),
            status,
        }
    }

    fn call(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        auth: Option<&Secret>,
        body: Body<'_>,
        remaining: Duration,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let mut builder = ureq::http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        if let Some(auth) = auth {
            builder = builder.header("Authorization", auth.expose());
        }
        match body {
            Body::Empty => {
                if matches!(method, "PUT" | "POST" | "PATCH") {
                    builder = builder.header("Content-Length", "0");
                }
                let req = builder.body(())?;
                let req = self
                    .agent
                    .configure_request(req)
                    .timeout_global(Some(remaining))
                    .build();
                self.agent.run(req)
            }
            Body::Bytes(bytes) => {
                let req = builder.body(bytes)?;
                let req = self
                    .agent
                    .configure_request(req)
                    .timeout_global(Some(remaining))
                    .build();
                self.agent.run(req)
            }
            Body::File(path) => {
                let file = File::open(path)?;
                let req = builder.body(file)?;
                let req = self
                    .agent
                    .configure_request(req)
                    .timeout_global(Some(remaining))
                    .build();
                self.agent.run(req)
            }
        }
    }

    /// Asks a token service (`realm`) for a Bearer token, with the basic credentials if any.
    fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
    ) -> Result<Learned, Error> {
        let default_scope = format!(
            "repository:{}:{}",
            self.url.repository,
            if self.key.push { "pull,push" } else { "pull" }
        );
        let scope = match scope {
            // A pull challenge during a push still needs push access for the session's token.
            Some(s) if !self.key.push || s.ends_with("push") => s.to_owned(),
            _ => default_scope,
        };
        let mut query = vec![format!("scope={}", encode(&scope))];
        if let Some(service) = service {
            query.push(format!("service={}", encode(service)));
        }
        let sep = if realm.contains('?') { '&' } else { '?' };
        let url = format!("{realm}{sep}{}", query.join("&"));
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(self.auth_failed(None));
        }
        let remaining = self.check_running()?;
        let host = host_of(&url);
        if let Err(budget) = self.client.budgets.try_acquire(&host, 1) {
            inc(&self.counters.budget_refusals);
            return Err(Error::BudgetExhausted {
                url: self.display(),
                budget,
            });
        }
        inc(&self.counters.requests);
        let basic = self.credentials.basic_header();
        let response = self
            .call("GET", &url, &[], basic.as_ref(), Body::Empty, remaining)
            .map_err(|e| Error::Transport {
                url: self.display(),
                reason: format!("token service: {e}"),
            })?;
        let status = response.status().as_u16();
        if matches!(status, 401 | 403) {
            return Err(self.auth_failed(Some(status)));
        }
        if status == 429 {
            return Err(Error::RateLimited {
                url: self.display(),
                status,
                retry_after: retry_after(response.headers()),
            });
        }
        if !(200..300).contains(&status) {
            return Err(Error::Http {
                url: self.display(),
                status,
            });
        }
        let bytes = read_limited(response.into_body(), 1 << 20).map_err(|e| Error::Transport {
            url: self.display(),
            reason: format!("token service: {e}"),
        })?;
        #[derive(serde::Deserialize)]
        struct TokenReply {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let reply: TokenReply =
            serde_json::from_slice(&bytes).map_err(|_| Error::InvalidManifest {
                url: self.display(),
                reason: "the token service's reply is not JSON with a token".into(),
            })?;
        let token = reply
            .token
            .or(reply.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| self.auth_failed(None))?;
        // Docker's default lifetime is 60 s; renew a little early.
        let life = Duration::from_secs(reply.expires_in.unwrap_or(60).max(10) - 5);
        Ok(Learned::Bearer {
            token: Secret::new(token),
            until: Instant::now() + life,
        })
    }

    fn read_body(&self, reply: Reply, limit: u64, what: &'static str) -> Result<Vec<u8>, Error> {
        read_limited(reply.body, limit).map_err(|e| match e.kind() {
            io::ErrorKind::FileTooLarge => Error::ResponseTooLarge {
                url: self.display(),
                what,
                limit,
            },
            io::ErrorKind::TimedOut => Error::Timeout {
                url: self.display(),
                timeout: self.control.timeout,
            },
            _ => Error::Transport {
                url: self.display(),
                reason: e.to_string(),
            },
        })
    }

    /// `HEAD` of a manifest: its digest (`Docker-Content-Digest`), or `None` when the registry does
    /// not say; `Ok(None)` is also returned for a 404 as `Err(NotFound)`.
    pub fn head_manifest(&self, target: &Target) -> Result<Option<String>, Error> {
        let reply = self.send(
            "HEAD",
            &self.url_of(&format!("manifests/{}", target.as_str())),
            &[("Accept", MANIFEST_ACCEPT)],
            Body::Empty,
        )?;
        if reply.status == 404 {
            return Err(self.not_found(target));
        }
        Ok(reply
            .header("docker-content-digest")
            .and_then(super::reference::parse_digest))
    }

    fn not_found(&self, target: &Target) -> Error {
        Error::NotFound {
            url: self.display(),
            what: match target {
                Target::Tag(t) => format!("tag {t:?}"),
                Target::Digest(d) => format!("manifest {d}"),
            },
            similar: Vec::new(),
        }
    }

    /// `GET` of a manifest, its digest computed from the bytes (and checked against the digest
    /// asked for, or the one the registry names).
    pub fn get_manifest(&self, target: &Target) -> Result<FetchedManifest, Error> {
        let reply = self.send(
            "GET",
            &self.url_of(&format!("manifests/{}", target.as_str())),
            &[("Accept", MANIFEST_ACCEPT)],
            Body::Empty,
        )?;
        if reply.status == 404 {
            return Err(self.not_found(target));
        }
        let content_type = reply.header("content-type").map(str::to_owned);
        let claimed = reply
            .header("docker-content-digest")
            .and_then(super::reference::parse_digest);
        let limit = self.client.options.max_manifest_size;
        let bytes = self.read_body(reply, limit, "manifest")?;
        let digest = format!("sha256:{:x}", Sha256::digest(&bytes));
        let expected = match target {
            Target::Digest(d) => Some(d.clone()),
            Target::Tag(_) => claimed,
        };
        if let Some(expected) = expected
            && expected != digest
        {
            return Err(Error::DigestMismatch {
                url: self.display(),
                what: "manifest".into(),
                expected,
                actual: digest,
            });
        }
        Ok(FetchedManifest {
            digest,
            content_type,
            bytes,
        })
    }

    /// The repository's tags (`GET /v2/<repo>/tags/list`, following `Link` pages).
    pub fn list_tags(&self) -> Result<Vec<String>, Error> {
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut tags = Vec::new();
        let mut next = Some(self.url_of("tags/list?n=1000"));
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            let reply = self.send("GET", &url, &[], Body::Empty)?;
            if reply.status == 404 {
                return Err(Error::NotFound {
                    url: self.display(),
                    what: "repository".into(),
                    similar: Vec::new(),
                });
            }
            if pages < 100
                && let Some(link) = reply.header("link")
                && let Some(target) = link
                    .split(';')
                    .next()
                    .map(|l| l.trim().trim_start_matches('<').trim_end_matches('>'))
            {
                next = resolve_location(&reply.final_url, target);
            }
            let limit = self.client.options.max_tag_list_size;
            let bytes = self.read_body(reply, limit, "tag list")?;
            let page: TagList =
                serde_json::from_slice(&bytes).map_err(|_| Error::InvalidManifest {
                    url: self.display(),
                    reason: "the tag list is not JSON of the form {\"tags\": [...]}".into(),
                })?;
            tags.extend(page.tags.unwrap_or_default());
        }
        Ok(tags)
    }

    /// Streams blob `digest` into `out`, at most `limit` bytes, hashing as it goes; fails with
    /// [`Error::DigestMismatch`] when the bytes are not the digest's. Returns the size.
    pub fn get_blob(&self, digest: &str, limit: u64, out: &mut dyn Write) -> Result<u64, Error> {
        let reply = self.send(
            "GET",
            &self.url_of(&format!("blobs/{digest}")),
            &[],
            Body::Empty,
        )?;
        if reply.status == 404 {
            return Err(Error::NotFound {
                url: self.display(),
                what: format!("blob {digest}"),
                similar: Vec::new(),
            });
        }
        let mut reader = reply.body.into_reader();
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        let progress = self.control.progress.clone();
        loop {
            self.check_running()?;
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if self.remaining().is_none() {
                        return Err(Error::Timeout {
                            url: self.display(),
                            timeout: self.control.timeout,
                        });
                    }
                    return Err(Error::Transport {
                        url: self.display(),
                        reason: format!("connection failed while receiving blob {digest}: {e}"),
                    });
                }
            };
            total += n as u64;
            if total > limit {
                return Err(Error::ResponseTooLarge {
                    url: self.display(),
                    what: "layer blob",
                    limit,
                });
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(|e| Error::Store {
                url: self.display(),
                source: Arc::new(crate::store::Error::Io {
                    op: "write blob",
                    path: std::path::PathBuf::new(),
                    source: e,
                }),
            })?;
            self.client
                .metrics
                .bytes_fetched
                .fetch_add(n as u64, Ordering::Relaxed);
            progress.bytes_received(total);
        }
        let actual = format!("sha256:{:x}", hasher.finalize());
        if actual != digest {
            return Err(Error::DigestMismatch {
                url: self.display(),
                what: "layer blob".into(),
                expected: digest.to_owned(),
                actual,
            });
        }
        Ok(total)
    }

    /// Whether the registry has blob `digest` (`HEAD`).
    pub fn has_blob(&self, digest: &str) -> Result<bool, Error> {
        let reply = self.send(
            "HEAD",
            &self.url_of(&format!("blobs/{digest}")),
            &[],
            Body::Empty,
        )?;
        Ok(reply.status != 404)
    }

    /// Uploads a blob in one piece (`POST` an upload, `PUT` it with the digest) unless the
    /// registry has it already.
    pub fn push_blob(&self, digest: &str, body: Body<'_>) -> Result<(), Error> {
        if self.has_blob(digest)? {
            return Ok(());
        }
        let reply = self.send("POST", &self.url_of("blobs/uploads/"), &[], Body::Empty)?;
        let location = reply
            .header("location")
            .and_then(|l| resolve_location(&reply.final_url, l))
            .filter(|_| reply.status == 202)
            .ok_or_else(|| Error::InvalidManifest {
                url: self.display(),
                reason: format!(
                    "starting a blob upload answered HTTP {} without a Location",
                    reply.status
                ),
            })?;
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={}", encode(digest));
        let reply = self.send(
            "PUT",
            &put,
            &[("Content-Type", "application/octet-stream")],
            body,
        )?;
        if reply.status != 201 {
            return Err(Error::Http {
                url: self.display(),
                status: reply.status,
            });
        }
        Ok(())
    }

    /// `PUT`s a manifest under `reference` (a tag or its digest); returns the registry's digest.
    pub fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, Error> {
        let reply = self.send(
            "PUT",
            &self.url_of(&format!("manifests/{reference}")),
            &[("Content-Type", media_type)],
            Body::Bytes(bytes),
        )?;
        if reply.status != 201 {
            return Err(Error::Http {
                url: self.display(),
                status: reply.status,
            });
        }
        Ok(format!("sha256:{:x}", Sha256::digest(bytes)))
    }
}

/// `host[:port]` of an http(s) URL.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?', '#'])
        .next()
        .unwrap_or(rest)
        .to_ascii_lowercase()
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads at most `limit` bytes; more is `FileTooLarge`.
fn read_limited(body: ureq::Body, limit: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    body.into_reader()
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("reply larger than {limit} bytes"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_should_be_percent_encoded() {
        assert_eq!(
            encode("repository:org/app:pull,push"),
            "repository%3Aorg%2Fapp%3Apull%2Cpush"
        );
        assert_eq!(
            host_of("https://Auth.Example:8443/token?x=1"),
            "auth.example:8443"
        );
    }
}
