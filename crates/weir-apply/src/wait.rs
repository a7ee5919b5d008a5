//! Waiting for objects to become healthy: all objects polled concurrently, each judged by the
//! kstatus rules in [`crate::health`].

use std::time::Duration;

use futures::{StreamExt, stream};
use tokio::time::{Instant, sleep};

use crate::cluster::{CallError, Cluster};
use crate::health::{HealthStatus, evaluate};
use crate::resolve::Resource;
use weir_api::ObjectRef;

/// Time between two polls of the objects still pending.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// One object's poll: its health, or the request that failed.
type Polled = Result<((ObjectRef, Resource), HealthStatus), (ObjectRef, CallError)>;

async fn poll(cluster: &Cluster<'_>, obj: &ObjectRef, res: &Resource) -> Polled {
    match cluster.get(res, obj).await {
        Ok(Some(live)) => Ok(((obj.clone(), res.clone()), evaluate(&live))),
        Ok(None) => Ok((
            (obj.clone(), res.clone()),
            HealthStatus::InProgress("not found".into()),
        )),
        Err(e) => Err((obj.clone(), e)),
    }
}

/// How a wait ended.
#[derive(Debug)]
pub(crate) enum Waited {
    /// Every object is healthy.
    AllHealthy,
    /// The timeout passed, or every object still pending has failed; lists those not healthy.
    NotHealthy(Vec<(ObjectRef, HealthStatus)>),
}

/// Polls `objects` until all are [`HealthStatus::Current`], all remaining ones have failed, or `timeout`
/// passes. A missing object counts as not ready (it may still be created by a controller).
pub(crate) async fn wait_healthy(
    cluster: &Cluster<'_>,
    objects: &[(ObjectRef, Resource)],
    timeout: Duration,
    concurrency: usize,
) -> Result<Waited, (ObjectRef, CallError)> {
    // A caller's timeout is never trusted to fit: an overflowing deadline means "no deadline".
    let deadline = Instant::now()
        .checked_add(timeout)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(30 * 365 * 86_400));
    let mut pending: Vec<&(ObjectRef, Resource)> = objects.iter().collect();
    loop {
        // Futures collected first: a lazily mapped stream of borrowing futures is not provably `Send`.
        let polls: Vec<_> = pending
            .iter()
            .map(|&(obj, res)| poll(cluster, obj, res))
            .collect();
        let results: Vec<Polled> = stream::iter(polls)
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        let mut unhealthy = Vec::new();
        for r in results {
            let (key, h) = r?;
            if !h.is_current() {
                unhealthy.push((key, h));
            }
        }
        if unhealthy.is_empty() {
            return Ok(Waited::AllHealthy);
        }
        let all_failed = unhealthy
            .iter()
            .all(|(_, h)| matches!(h, HealthStatus::Failed(_)));
        if all_failed || Instant::now() + POLL_INTERVAL > deadline {
            let mut report: Vec<(ObjectRef, HealthStatus)> =
                unhealthy.into_iter().map(|((o, _), h)| (o, h)).collect();
            report.sort_by(|a, b| a.0.cmp(&b.0));
            return Ok(Waited::NotHealthy(report));
        }
        pending = objects
            .iter()
            .filter(|(o, _)| unhealthy.iter().any(|((u, _), _)| u == o))
            .collect();
        sleep(POLL_INTERVAL).await;
    }
}
