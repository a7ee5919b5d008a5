//! Counting the API requests an apply makes, as a tower layer on the kube client.

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
        RequestStats {
            reads: self.inner.reads.load(Ordering::Relaxed),
            dry_runs: self.inner.dry_runs.load(Ordering::Relaxed),
            writes: self.inner.writes.load(Ordering::Relaxed),
        }
    }

    fn record<B>(&self, req: &Request<B>) {
        let counter = match classify(req.method(), req.uri().query()) {
            Class::Read => &self.inner.reads,
            Class::DryRun => &self.inner.dry_runs,
            Class::Write => &self.inner.writes,
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
