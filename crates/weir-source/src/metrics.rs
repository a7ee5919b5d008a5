//! Counters the controller publishes (`weir_git_*`); plain atomics, no metrics library.

use std::{
    collections::BTreeMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

/// Counters for one Git host.
#[derive(Debug, Default)]
pub struct HostCounters {
    /// HTTP requests (or SSH sessions) sent.
    pub requests: AtomicU64,
    /// Replies that were 429 or a 403 rate limit.
    pub rate_limited: AtomicU64,
    /// Requests refused locally because the budget was spent.
    pub budget_refusals: AtomicU64,
}

/// A point-in-time copy of one host's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct HostSnapshot {
    /// HTTP requests (or SSH sessions) sent.
    pub requests: u64,
    /// Replies that were 429 or a 403 rate limit.
    pub rate_limited: u64,
    /// Requests refused locally because the budget was spent.
    pub budget_refusals: u64,
    /// Whole tokens left in the host's bucket.
    pub remaining_budget: u32,
}

/// All weir-source counters.
#[derive(Debug, Default)]
pub struct Metrics {
    hosts: Mutex<BTreeMap<String, std::sync::Arc<HostCounters>>>,
    /// Ref listings sent to remotes (after caching and coalescing).
    pub ref_listings: AtomicU64,
    /// Polls answered "unchanged" without downloading anything.
    pub fetches_skipped_unchanged: AtomicU64,
    /// Fetches that downloaded a pack.
    pub fetches: AtomicU64,
    /// Bytes received from remotes (packs and listings).
    pub bytes_fetched: AtomicU64,
    /// Callers that shared another caller's remote call.
    pub coalesced_calls: AtomicU64,
}

impl Metrics {
    /// The counters of `host`, created on first use.
    pub fn host(&self, host: &str) -> std::sync::Arc<HostCounters> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        hosts.entry(host.to_owned()).or_default().clone()
    }

    /// A copy of every host's counters; `remaining` supplies the budget left per host.
    pub fn hosts_snapshot(
        &self,
        remaining: impl Fn(&str) -> u32,
    ) -> BTreeMap<String, HostSnapshot> {
        let hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        hosts
            .iter()
            .map(|(host, c)| {
                (
                    host.clone(),
                    HostSnapshot {
                        requests: c.requests.load(Ordering::Relaxed),
                        rate_limited: c.rate_limited.load(Ordering::Relaxed),
                        budget_refusals: c.budget_refusals.load(Ordering::Relaxed),
                        remaining_budget: remaining(host),
                    },
                )
            })
            .collect()
    }
}

/// Adds one to a counter.
pub(crate) fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
