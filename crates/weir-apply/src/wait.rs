//! Waiting for objects to become healthy: all objects polled concurrently, each judged by the
//! kstatus rules in [`crate::health`].

use std::time::Duration;

use futures::{StreamExt, stream};
use tokio::time::{Instant, sleep};

use crate::cluster::{CallError, Cluster};
use crate::health::{Health, health};
use crate::object::ObjectRef;
use crate::resolve::Resource;

/// Time between two polls of the objects still pending.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// One object's poll: its health, or the request that failed.
type Polled = Result<((ObjectRef, Resource), Health), (ObjectRef, CallError)>;

/// How a wait ended.
#[derive(Debug)]
pub enum Waited {
    /// Every object is healthy.
    AllHealthy,
    /// The timeout passed, or every object still pending has failed; lists those not healthy.
    NotHealthy(Vec<(ObjectRef, Health)>),
}

/// Polls `objects` until all are [`Health::Current`], all remaining ones have failed, or `timeout`
/// passes. A missing object counts as not ready (it may still be created by a controller).
pub async fn wait_healthy(
    cluster: &Cluster,
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
        let results: Vec<Polled> = stream::iter(pending.iter().copied())
            .map(|(obj, res)| async move {
                match cluster.get(res, obj).await {
                    Ok(Some(live)) => Ok(((obj.clone(), res.clone()), health(&live))),
                    Ok(None) => Ok((
                        (obj.clone(), res.clone()),
                        Health::InProgress("not found".into()),
                    )),
                    Err(e) => Err((obj.clone(), e)),
                }
            })
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
            .all(|(_, h)| matches!(h, Health::Failed(_)));
        if all_failed || Instant::now() + POLL_INTERVAL > deadline {
            let mut report: Vec<(ObjectRef, Health)> =
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
