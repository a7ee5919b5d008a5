//! Counting API requests: each step of the [`crate::Applier`] counts the requests it makes itself
//! ([`Tally`], returned in its outcome); [`RequestCounter`] is a tower layer a caller may put on its
//! own client to count everything the process sends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use http::{Method, Request};

/// Requests sent so far, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// GET and LIST (including discovery).
    pub reads: u64,
    /// Server-side dry-run requests (`dryRun=All`): validation and diffs, nothing persisted.
    pub dry_runs: u64,
    /// Requests that change the cluster: apply, create, update, delete.
    pub writes: u64,
}

impl RequestStats {
    /// All requests.
    pub fn total(&self) -> u64 {
        self.reads + self.dry_runs + self.writes
    }
}

impl std::ops::Add for RequestStats {
    type Output = RequestStats;
    fn add(self, o: RequestStats) -> RequestStats {
        RequestStats {
            reads: self.reads + o.reads,
            dry_runs: self.dry_runs + o.dry_runs,
            writes: self.writes + o.writes,
        }
    }
}

impl std::ops::AddAssign for RequestStats {
    fn add_assign(&mut self, o: RequestStats) {
        *self = *self + o;
    }
}

/// The requests of one call: owned by the call, never shared with another.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    counts: Counts,
}

impl Tally {
    pub(crate) fn record(&self, method: &Method, query: Option<&str>) {
        self.counts.record(method, query);
    }

    pub(crate) fn stats(&self) -> RequestStats {
        self.counts.stats()
    }
}

/// Shared counters; cloning shares them.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    inner: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    reads: AtomicU64,
    dry_runs: AtomicU64,
    writes: AtomicU64,
}

impl RequestCounter {
    /// The counts so far.
    pub fn stats(&self) -> RequestStats {
        self.inner.stats()
    }

    fn record<B>(&self, req: &Request<B>) {
        self.inner.record(req.method(), req.uri().query());
    }
}

impl Counts {
    fn stats(&self) -> RequestStats {
        RequestStats {
            reads: self.reads.load(Ordering::Relaxed),
            dry_runs: self.dry_runs.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
        }
    }

    fn record(&self, method: &Method, query: Option<&str>) {
        let counter = match classify(method, query) {
            Class::Read => &self.reads,
            Class::DryRun => &self.dry_runs,
            Class::Write => &self.writes,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

enum Class {
    Read,
    DryRun,
    Write,
}

fn classify(method: &Method, query: Option<&str>) -> Class {
    if method == Method::GET || method == Method::HEAD {
        return Class::Read;
    }
    let dry = query.is_some_and(|q| q.split('&').any(|kv| kv == "dryRun=All"));
    if dry { Class::DryRun } else { Class::Write }
}

impl<S> tower::Layer<S> for RequestCounter {
    type Service = Counted<S>;
    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            counter: self.clone(),
        }
    }
}

/// The kube HTTP service wrapped by [`RequestCounter`].
#[derive(Debug, Clone)]
pub struct Counted<S> {
    inner: S,
    counter: RequestCounter,
}

impl<S, B> tower::Service<Request<B>> for Counted<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.counter.record(&req);
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classified_by_method_and_dry_run() {
        let counter = RequestCounter::default();
        let req = |m: Method, uri: &str| {
            Request::builder()
                .method(m)
                .uri(uri)
                .body(())
                .expect("valid request")
        };
        counter.record(&req(Method::GET, "/api/v1/namespaces/a/configmaps"));
        counter.record(&req(
            Method::PATCH,
            "/api/v1/namespaces/a/configmaps/x?dryRun=All&fieldManager=weir",
        ));
        counter.record(&req(
            Method::PATCH,
            "/api/v1/namespaces/a/configmaps/x?fieldManager=weir",
        ));
        counter.record(&req(Method::DELETE, "/api/v1/namespaces/a/configmaps/x"));
        assert_eq!(
            counter.stats(),
            RequestStats {
                reads: 1,
                dry_runs: 1,
                writes: 2
            }
        );
        assert_eq!(counter.stats().total(), 4);
    }
}
