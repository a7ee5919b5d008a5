//! Per-host request budgets: a token bucket per Git host, plus "come back later" windows set by
//! `Retry-After` and rate-limit replies.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::clock::Clock;

/// How many requests a host accepts per period.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetConfig {
    /// Requests allowed in any window of `period`.
    pub limit: u32,
    /// The window, an hour for GitHub.
    pub period: Duration,
    /// The bucket's size: how many requests may go out back to back.
    pub burst: u32,
}

impl BudgetConfig {
    /// `limit` requests per `period`, with a burst of a tenth of the limit (at least 1).
    pub fn per(limit: u32, period: Duration) -> Self {
        BudgetConfig {
            limit,
            period,
            burst: (limit / 10).max(1).min(limit.max(1)),
        }
    }

    /// Tokens added per second. The bucket refills `limit - burst` over a period, so a full bucket
    /// plus a period's refill never exceeds `limit`: no window of `period` sees more than `limit`
    /// requests.
    fn refill_per_sec(&self) -> f64 {
        f64::from(self.limit.saturating_sub(self.burst))
            / self.period.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

impl Default for BudgetConfig {
    /// GitHub's 5,000 requests per hour.
    fn default() -> Self {
        BudgetConfig::per(5_000, Duration::from_secs(3_600))
    }
}

/// A host's budget is spent; try again after `retry_after`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("request budget for {host} is spent; next request allowed in {}s", retry_after.as_secs().max(1))]
pub struct BudgetExhausted {
    /// The Git host.
    pub host: String,
    /// When a request would be allowed.
    pub retry_after: Duration,
}

#[derive(Debug)]
struct Bucket {
    config: BudgetConfig,
    tokens: f64,
    updated: Duration,
    blocked_until: Duration,
}

impl Bucket {
    fn refill(&mut self, now: Duration) {
        let elapsed = now.saturating_sub(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.config.refill_per_sec())
            .min(f64::from(self.config.burst));
        self.updated = now;
    }
}

/// Token buckets for every Git host weir talks to.
pub struct HostBudgets {
    clock: Arc<dyn Clock>,
    default: BudgetConfig,
    overrides: HashMap<String, BudgetConfig>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl std::fmt::Debug for HostBudgets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostBudgets")
            .field("default", &self.default)
            .field("overrides", &self.overrides)
            .finish_non_exhaustive()
    }
}

impl HostBudgets {
    /// Budgets with `default` for every host not in `overrides`.
    pub fn new(clock: Arc<dyn Clock>, default: BudgetConfig) -> Self {
        HostBudgets {
            clock,
            default,
            overrides: HashMap::new(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Sets the budget of one host.
    #[must_use]
    pub fn with_host(mut self, host: impl Into<String>, config: BudgetConfig) -> Self {
        self.overrides.insert(host.into(), config);
        self
    }

    /// The configuration that applies to `host`.
    pub fn config(&self, host: &str) -> BudgetConfig {
        self.overrides.get(host).copied().unwrap_or(self.default)
    }

    fn with_bucket<R>(&self, host: &str, f: impl FnOnce(&mut Bucket, Duration) -> R) -> R {
        let now = self.clock.now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let config = self.config(host);
        let bucket = buckets.entry(host.to_owned()).or_insert_with(|| Bucket {
            config,
            tokens: f64::from(config.burst),
            updated: now,
            blocked_until: Duration::ZERO,
        });
        bucket.refill(now);
        f(bucket, now)
    }

    /// Takes `n` tokens from `host`'s bucket, or says when they will be there.
    pub fn try_acquire(&self, host: &str, n: u32) -> Result<(), BudgetExhausted> {
        self.with_bucket(host, |bucket, now| {
            if bucket.blocked_until > now {
                return Err(BudgetExhausted {
                    host: host.to_owned(),
                    retry_after: bucket.blocked_until - now,
                });
            }
            let need = f64::from(n);
            if bucket.tokens + 1e-9 >= need {
                bucket.tokens -= need;
                return Ok(());
            }
            let rate = bucket.config.refill_per_sec();
            let wait = if rate > 0.0 && need <= f64::from(bucket.config.burst) {
                Duration::from_secs_f64((need - bucket.tokens) / rate)
            } else {
                bucket.config.period
            };
            Err(BudgetExhausted {
                host: host.to_owned(),
                retry_after: wait,
            })
        })
    }

    /// Records a host's "slow down": no request until `after` from now (Retry-After, rate-limit reset).
    pub fn defer(&self, host: &str, after: Duration) {
        self.with_bucket(host, |bucket, now| {
            bucket.blocked_until = bucket.blocked_until.max(now + after);
        });
    }

    /// Whole tokens left for `host`.
    pub fn remaining(&self, host: &str) -> u32 {
        self.with_bucket(host, |bucket, _| bucket.tokens.floor() as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn bucket_should_refuse_past_burst_and_refill_over_time() {
        let clock = Arc::new(ManualClock::default());
        let budgets = HostBudgets::new(
            clock.clone(),
            BudgetConfig::per(100, Duration::from_secs(100)),
        );
        for _ in 0..10 {
            budgets.try_acquire("h", 1).expect("within burst");
        }
        let err = budgets.try_acquire("h", 1).expect_err("burst spent");
        assert_eq!(err.retry_after, Duration::from_secs_f64(1.0 / 0.9));
        clock.advance(Duration::from_secs(2));
        budgets.try_acquire("h", 1).expect("refilled");
        assert_eq!(budgets.remaining("other"), 10);
    }

    #[test]
    fn defer_should_block_until_retry_after() {
        let clock = Arc::new(ManualClock::default());
        let budgets = HostBudgets::new(clock.clone(), BudgetConfig::default());
        budgets.defer("h", Duration::from_secs(30));
        assert_eq!(
            budgets
                .try_acquire("h", 1)
                .expect_err("deferred")
                .retry_after,
            Duration::from_secs(30)
        );
        clock.advance(Duration::from_secs(30));
        budgets.try_acquire("h", 1).expect("window over");
    }
}
