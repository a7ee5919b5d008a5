//! Git's smart HTTP protocol over our own small client, so that every request is counted against the
//! host's budget, 429/403 rate limits and `Retry-After` are seen and honoured, and failures keep their
//! HTTP status (gix's bundled backends turn them into text).

use std::{
    io::{self, BufRead, BufReader, Cursor, Read, Write},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use gix_transport::client::blocking_io::http::{GetResponse, Http, PostBodyDataKind, PostResponse};

use crate::{
    budget::{BudgetExhausted, HostBudgets},
    metrics::{HostCounters, Metrics, inc},
    progress::Progress,
    redact::Secret,
};

/// Why the last HTTP exchange failed, kept with its status and timing for [`crate::fetch::Error`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// A non-success status other than a rate limit.
    Status(u16),
    /// 429, or 403 with rate-limit headers, and no retry fitted in the deadline.
    RateLimited {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// The host's local budget is spent.
    Budget(BudgetExhausted),
    /// The operation's deadline passed.
    Timeout,
    /// A reply passed its byte limit.
    TooLarge { what: &'static str, limit: u64 },
    /// A redirect went to another origin, which asked for the credentials (not sent there).
    CrossOriginRedirect { to: String },
    /// The interrupt flag was raised.
    Interrupted,
    /// Connecting or reading failed.
    Transport(String),
}

/// Everything one remote operation's requests share.
pub(crate) struct HttpContext {
    pub agent: ureq::Agent,
    pub host: String,
    pub auth_header: Option<Secret>,
    pub budgets: Arc<HostBudgets>,
    pub counters: Arc<HostCounters>,
    pub metrics: Arc<Metrics>,
    pub deadline: Instant,
    pub max_retry_wait: Duration,
    pub max_attempts: u32,
    pub interrupt: Arc<AtomicBool>,
    pub failure: Mutex<Option<Failure>>,
    /// Bytes received by this operation's requests, for [`Progress::bytes_received`].
    pub received: AtomicU64,
    pub progress: Arc<dyn Progress>,
    /// The origin (scheme, host, port) of the configured URL: the only one credentials go to.
    pub origin: Origin,
    /// Byte limits of replies.
    pub limits: ResponseLimits,
}

impl HttpContext {
    fn fail(&self, failure: Failure) -> io::Error {
        let kind = match &failure {
            Failure::Status(401 | 403) => io::ErrorKind::PermissionDenied,
            Failure::Timeout => io::ErrorKind::TimedOut,
            // Not `ErrorKind::Interrupted`: std's read loops retry that kind forever.
            Failure::Interrupted => io::ErrorKind::Other,
            _ => io::ErrorKind::Other,
        };
        let text = match &failure {
            Failure::Status(s) | Failure::RateLimited { status: s, .. } => {
                format!("HTTP status {s}")
            }
            Failure::Budget(b) => b.to_string(),
            Failure::Timeout => "deadline passed".to_owned(),
            Failure::TooLarge { what, limit } => format!("{what} larger than {limit} bytes"),
            Failure::CrossOriginRedirect { to } => format!("redirected to {to}"),
            Failure::Interrupted => "interrupted".to_owned(),
            Failure::Transport(t) => t.clone(),
        };
        let mut slot = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(failure);
        io::Error::new(kind, text)
    }

    /// Takes the recorded failure, if any.
    pub fn take_failure(&self) -> Option<Failure> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    fn remaining(&self) -> Option<Duration> {
        self.deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    /// Sleeps `wait` in small steps, giving up on interrupt or deadline.
    fn pause(&self, wait: Duration) -> Result<(), io::Error> {
        let until = Instant::now() + wait;
        while let Some(left) = until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        {
            if self.interrupt.load(Ordering::Relaxed) {
                return Err(self.fail(Failure::Interrupted));
            }
            if self.remaining().is_none() {
                return Err(self.fail(Failure::Timeout));
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
        Ok(())
    }

    /// Sends one request, retrying rate limits and 502/503/504 while the waits fit the deadline, and
    /// following redirects of GETs (at most [`MAX_REDIRECTS`]). Credentials go only to the origin
    /// they were configured for: a hop to another origin is sent without them, and if that origin
    /// then asks for credentials the request fails with [`Failure::CrossOriginRedirect`].
    fn send(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: Option<&[u8]>,
    ) -> Result<Exchange, io::Error> {
        let mut backoff = Duration::from_millis(500);
        let mut current = url.to_owned();
        let mut attempt = 0u32;
        let mut hops = 0u32;
        loop {
            attempt += 1;
            if self.interrupt.load(Ordering::Relaxed) {
                return Err(self.fail(Failure::Interrupted));
            }
            let Some(remaining) = self.remaining() else {
                return Err(self.fail(Failure::Timeout));
            };
            if let Err(exhausted) = self.budgets.try_acquire(&self.host, 1) {
                inc(&self.counters.budget_refusals);
                return Err(self.fail(Failure::Budget(exhausted)));
            }
            inc(&self.counters.requests);
            let same_origin = Origin::of(&current).is_some_and(|o| o == self.origin);
            let auth = self.auth_header.as_ref().filter(|_| same_origin);
            let result = match body {
                None => {
                    let mut req = self
                        .agent
                        .get(&current)
                        .config()
                        .timeout_global(Some(remaining))
                        .build();
                    for (k, v) in headers {
                        req = req.header(k, v);
                    }
                    if let Some(auth) = auth {
                        req = req.header("Authorization", auth.expose());
                    }
                    req.call()
                }
                Some(body) => {
                    let mut req = self
                        .agent
                        .post(&current)
                        .config()
                        .timeout_global(Some(remaining))
                        .build();
                    for (k, v) in headers {
                        req = req.header(k, v);
                    }
                    if let Some(auth) = auth {
                        req = req.header("Authorization", auth.expose());
                    }
                    req.send(body)
                }
            };
            let response = match result {
                Ok(r) => r,
                Err(ureq::Error::Timeout(_)) => return Err(self.fail(Failure::Timeout)),
                Err(e) => return Err(self.fail(Failure::Transport(e.to_string()))),
            };
            let status = response.status().as_u16();
            if (200..300).contains(&status) {
                let mut head = Vec::new();
                for (name, value) in response.headers() {
                    head.extend_from_slice(name.as_str().as_bytes());
                    head.extend_from_slice(b": ");
                    head.extend_from_slice(value.as_bytes());
                    head.extend_from_slice(b"\r\n");
                }
                let (what, limit) = body_limit(&current, body, self.limits);
                return Ok(Exchange {
                    headers: head,
                    final_url: current,
                    body: response.into_body().into_reader(),
                    what,
                    limit,
                    read: 0,
                });
            }
            if matches!(status, 301 | 302 | 303 | 307 | 308) && body.is_none() {
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| resolve_location(&current, l));
                match location {
                    Some(next) if hops < MAX_REDIRECTS => {
                        hops += 1;
                        attempt -= 1;
                        current = next;
                        continue;
                    }
                    _ => return Err(self.fail(Failure::Status(status))),
                }
            }
            if matches!(status, 401 | 403) && self.auth_header.is_some() && !same_origin {
                return Err(self.fail(Failure::CrossOriginRedirect {
                    to: origin_text(&current),
                }));
            }
            let rate_limited = status == 429
                || (status == 403
                    && (response.headers().contains_key("retry-after")
                        || rate_limit_headers(response.headers()).is_some()));
            let retryable = rate_limited || matches!(status, 502..=504);
            if !retryable {
                return Err(self.fail(Failure::Status(status)));
            }
            let hinted = retry_after(response.headers());
            if rate_limited {
                inc(&self.counters.rate_limited);
                self.budgets.defer(&self.host, hinted.unwrap_or(backoff));
            }
            let wait = hinted.unwrap_or(backoff);
            let fits = wait <= self.max_retry_wait && self.remaining().is_some_and(|r| r > wait);
            if attempt >= self.max_attempts.max(1) || !fits {
                return Err(self.fail(if rate_limited {
                    Failure::RateLimited {
                        status,
                        retry_after: hinted,
                    }
                } else {
                    Failure::Status(status)
                }));
            }
            self.pause(wait)?;
            backoff = (backoff * 2).min(self.max_retry_wait);
        }
    }
}

/// Redirects followed per request (git's curl default is 20; a Git host needs one or two).
pub(crate) const MAX_REDIRECTS: u32 = 5;

/// Byte limits on what a server may send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseLimits {
    /// A ref advertisement or `ls-refs` reply, and any other reply that is not a pack.
    pub listing: u64,
    /// The reply of a fetch (the pack).
    pub pack: u64,
}

/// What a reply to `url` with request `body` carries, and its limit.
fn body_limit(url: &str, body: Option<&[u8]>, limits: ResponseLimits) -> (&'static str, u64) {
    let is_fetch =
        body.is_some_and(|b| !contains(b, b"command=ls-refs") && url.ends_with("/git-upload-pack"));
    if is_fetch {
        ("pack", limits.pack)
    } else {
        ("ref listing", limits.listing)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The origin of a URL: scheme, host and port (the scheme's default when absent), lowercase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    pub(crate) fn of(url: &str) -> Option<Origin> {
        let uri: ureq::http::Uri = url.parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let port = match (uri.port_u16(), scheme.as_str()) {
            (Some(p), _) => p,
            (None, "https") => 443,
            (None, "http") => 80,
            _ => return None,
        };
        Some(Origin {
            host: uri.host()?.to_ascii_lowercase(),
            scheme,
            port,
        })
    }
}

/// `scheme://host:port` of `url`, for messages (never the path or user info).
pub(crate) fn origin_text(url: &str) -> String {
    match Origin::of(url) {
        Some(o) => format!("{}://{}:{}", o.scheme, o.host, o.port),
        None => "an unparsable location".to_owned(),
    }
}

/// The absolute URL a `Location` header names, relative to `base`; only http(s) targets.
pub(crate) fn resolve_location(base: &str, location: &str) -> Option<String> {
    let location = location.trim();
    let lower = location.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Some(location.to_owned());
    }
    if lower.contains("://") {
        return None;
    }
    let scheme_end = base.find("://")?;
    let scheme = &base[..scheme_end];
    if let Some(rest) = location.strip_prefix("//") {
        return Some(format!("{scheme}://{rest}"));
    }
    let after = &base[scheme_end + 3..];
    let authority_end = after.find('/').unwrap_or(after.len());
    let root = &base[..scheme_end + 3 + authority_end];
    if location.starts_with('/') {
        return Some(format!("{root}{location}"));
    }
    let path = after[authority_end..]
        .split(['?', '#'])
        .next()
        .unwrap_or("");
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "/",
    };
    Some(format!("{root}{dir}{location}"))
}

/// `Retry-After` in seconds or as an HTTP date, else GitHub's `x-ratelimit-reset` when the remaining
/// count is zero.
pub(crate) fn retry_after(headers: &ureq::http::HeaderMap) -> Option<Duration> {
    if let Some(value) = headers.get("retry-after").and_then(|v| v.to_str().ok()) {
        if let Ok(secs) = value.trim().parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        if let Some(at) = parse_http_date(value.trim()) {
            return Some(at.duration_since(SystemTime::now()).unwrap_or_default());
        }
    }
    rate_limit_headers(headers)
}

fn rate_limit_headers(headers: &ureq::http::HeaderMap) -> Option<Duration> {
    let remaining = headers
        .get("x-ratelimit-remaining")?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()?;
    if remaining > 0 {
        return None;
    }
    let reset = headers
        .get("x-ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Some(Duration::from_secs(reset.saturating_sub(now).max(1)))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_http_date(s: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == parts[2])? + 1;
    let iso = format!("{}-{month:02}-{:0>2}T{}Z", parts[3], parts[1], parts[4]);
    crate::github_app::parse_rfc3339_utc(&iso)
}

struct Exchange {
    headers: Vec<u8>,
    /// Where the request ended after redirects.
    final_url: String,
    body: ureq::BodyReader<'static>,
    /// What the body is, for the error when it passes `limit`.
    what: &'static str,
    /// The most bytes read from `body`.
    limit: u64,
    /// Bytes read so far.
    read: u64,
}

/// A request whose body is still being written: sent on the first read of its reply.
struct Pending {
    ctx: Arc<HttpContext>,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    reply: Option<Result<Exchange, (io::ErrorKind, String)>>,
}

impl Pending {
    fn ensure_sent(&mut self) -> io::Result<()> {
        if self.reply.is_none() {
            let body = self.body.take();
            let result = self.ctx.send(&self.url, &self.headers, body.as_deref());
            self.reply = Some(result.map_err(|e| (e.kind(), e.to_string())));
        }
        match &self.reply {
            Some(Err((kind, text))) => Err(io::Error::new(*kind, text.clone())),
            _ => Ok(()),
        }
    }
}

type Shared = Arc<Mutex<Pending>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Pending> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// The reply's headers, as `name: value` lines.
pub(crate) struct Headers {
    shared: Shared,
    lines: Option<Cursor<Vec<u8>>>,
}

impl Headers {
    fn lines(&mut self) -> io::Result<&mut Cursor<Vec<u8>>> {
        if self.lines.is_none() {
            let mut pending = lock(&self.shared);
            pending.ensure_sent()?;
            let head = match &mut pending.reply {
                Some(Ok(exchange)) => std::mem::take(&mut exchange.headers),
                _ => Vec::new(),
            };
            self.lines = Some(Cursor::new(head));
        }
        Ok(self.lines.as_mut().expect("set above"))
    }
}

impl Read for Headers {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.lines()?.read(buf)
    }
}

impl BufRead for Headers {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.lines()?.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        if let Some(lines) = self.lines.as_mut() {
            lines.consume(amt);
        }
    }
}

/// The reply's body, counted into the metrics and stopped by the interrupt flag.
pub(crate) struct Body {
    shared: Shared,
    /// The reply's body, what it is, its byte limit and the bytes read so far.
    reader: Option<(ureq::BodyReader<'static>, &'static str, u64, u64)>,
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let ctx = lock(&self.shared).ctx.clone();
        if ctx.interrupt.load(Ordering::Relaxed) {
            return Err(ctx.fail(Failure::Interrupted));
        }
        if self.reader.is_none() {
            let mut pending = lock(&self.shared);
            pending.ensure_sent()?;
            let reply = pending.reply.take();
            match reply {
                Some(Ok(exchange)) => {
                    // Headers were taken already (or are not needed); keep them for a late reader.
                    pending.reply = Some(Ok(Exchange {
                        headers: exchange.headers,
                        final_url: exchange.final_url,
                        body: ureq::Body::builder().data(Vec::new()).into_reader(),
                        what: exchange.what,
                        limit: exchange.limit,
                        read: 0,
                    }));
                    self.reader =
                        Some((exchange.body, exchange.what, exchange.limit, exchange.read));
                }
                other => {
                    let err = match &other {
                        Some(Err((kind, text))) => io::Error::new(*kind, text.clone()),
                        _ => io::Error::other("no reply"),
                    };
                    pending.reply = other;
                    return Err(err);
                }
            }
        }
        let (reader, what, limit, read) = self.reader.as_mut().expect("set above");
        if *read > *limit {
            return Err(ctx.fail(Failure::TooLarge {
                what,
                limit: *limit,
            }));
        }
        // Never ask for more than one byte past the limit: a reply that keeps going is cut there.
        let room =
            usize::try_from(limit.saturating_sub(*read).saturating_add(1)).unwrap_or(usize::MAX);
        let take = buf.len().min(room);
        match reader.read(&mut buf[..take]) {
            Ok(n) => {
                *read = read.saturating_add(n as u64);
                if *read > *limit {
                    return Err(ctx.fail(Failure::TooLarge {
                        what,
                        limit: *limit,
                    }));
                }
                ctx.metrics
                    .bytes_fetched
                    .fetch_add(n as u64, Ordering::Relaxed);
                let total = ctx
                    .received
                    .fetch_add(n as u64, Ordering::Relaxed)
                    .saturating_add(n as u64);
                ctx.progress.bytes_received(total);
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut || ctx.remaining().is_none() => {
                Err(ctx.fail(Failure::Timeout))
            }
            Err(e) => Err(ctx.fail(Failure::Transport(format!(
                "connection failed while receiving: {e}"
            )))),
        }
    }
}

/// What gix writes a POST body into.
pub(crate) struct PostBody {
    shared: Shared,
}

impl Write for PostBody {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut pending = lock(&self.shared);
        match pending.body.as_mut() {
            Some(body) => {
                body.extend_from_slice(buf);
                Ok(buf.len())
            }
            None => Err(io::Error::other("request already sent")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// gix's HTTP backend trait over [`HttpContext`].
pub(crate) struct GitHttp {
    pub ctx: Arc<HttpContext>,
    /// The repository's base URL after a redirect of the advertisement (a renamed repository), so
    /// later POSTs go straight to it.
    pub redirected_base: Option<String>,
}

fn split_headers(headers: impl IntoIterator<Item = impl AsRef<str>>) -> Vec<(String, String)> {
    headers
        .into_iter()
        .filter_map(|h| {
            let (k, v) = h.as_ref().split_once(':')?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

impl GitHttp {
    fn pending(&self, url: &str, headers: Vec<(String, String)>, body: Option<Vec<u8>>) -> Shared {
        Arc::new(Mutex::new(Pending {
            ctx: self.ctx.clone(),
            url: url.to_owned(),
            headers,
            body,
            reply: None,
        }))
    }
}

impl Http for GitHttp {
    type Headers = Headers;
    type ResponseBody = BufReader<Body>;
    type PostBody = PostBody;

    fn get(
        &mut self,
        url: &str,
        base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> gix_error::Result<GetResponse<Self::Headers, Self::ResponseBody>> {
        // Sent right away: gix reads the advertisement's headers before anything else.
        let shared = self.pending(url, split_headers(headers), None);
        {
            let mut pending = lock(&shared);
            let result = pending.ctx.send(url, &pending.headers, None);
            match result {
                Ok(exchange) => {
                    if exchange.final_url != url
                        && let Some(tail) = url.strip_prefix(base_url)
                        && let Some(base) = exchange.final_url.strip_suffix(tail)
                    {
                        self.redirected_base = Some(base.to_owned());
                    }
                    pending.reply = Some(Ok(exchange));
                }
                Err(e) => return Err(gix_error::Error::from_error(e)),
            }
        }
        Ok(GetResponse {
            headers: Headers {
                shared: shared.clone(),
                lines: None,
            },
            body: BufReader::with_capacity(
                64 * 1024,
                Body {
                    shared,
                    reader: None,
                },
            ),
        })
    }

    fn post(
        &mut self,
        url: &str,
        _base_url: &str,
        headers: impl IntoIterator<Item = impl AsRef<str>>,
        _body: PostBodyDataKind,
    ) -> gix_error::Result<PostResponse<Self::Headers, Self::ResponseBody, Self::PostBody>> {
        let shared = self.pending(url, split_headers(headers), Some(Vec::new()));
        Ok(PostResponse {
            post_body: PostBody {
                shared: shared.clone(),
            },
            headers: Headers {
                shared: shared.clone(),
                lines: None,
            },
            body: BufReader::with_capacity(
                64 * 1024,
                Body {
                    shared,
                    reader: None,
                },
            ),
        })
    }

    fn configure(&mut self, _config: &dyn std::any::Any) -> gix_error::Result<()> {
        Ok(())
    }

    fn redirected_base_url(&self) -> Option<String> {
        self.redirected_base.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_date_should_parse() {
        let t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("parses");
        assert_eq!(
            t.duration_since(UNIX_EPOCH).expect("after").as_secs(),
            784_111_777
        );
    }
}
