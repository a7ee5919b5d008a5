//! The GitRepository reconciler: one shared ref listing when nothing moved, a shallow fetch into the
//! artifact store when something did, and status as source-controller writes it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Resource};
use weir_api::condition::{self, reason};
use weir_api::flux::{Artifact, GitRepositoryObject, GitRepositoryStatus};

use crate::context::{Context, count};
use crate::memo::Fingerprint;
use crate::status::{now_rfc3339, write_if_changed};
use crate::{Key, REQUESTED_AT};

/// Flux's default interval when none is given (the CRD requires one; be lenient).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// Spec fields Flux supports that weir does not yet: refused with a clear message, never ignored.
fn unsupported(obj: &GitRepositoryObject) -> Vec<&'static str> {
    let s = &obj.spec;
    let mut out = Vec::new();
    if s.verify.is_some() {
        out.push("spec.verify (commit signature verification)");
    }
    if s.include
        .as_ref()
        .is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty()))
    {
        out.push("spec.include");
    }
    if s.recurse_submodules {
        out.push("spec.recurseSubmodules");
    }
    if s.proxy_secret_ref.is_some() {
        out.push("spec.proxySecretRef");
    }
    if !s.sparse_checkout.is_empty() {
        out.push("spec.sparseCheckout");
    }
    if s.provider.as_deref().is_some_and(|p| p == "azure") {
        out.push("spec.provider: azure");
    }
    out
}

/// Reconciles the GitRepository `key`. Returns when it should run again.
pub async fn reconcile(ctx: &Arc<Context>, key: &Key) -> Option<Instant> {
    let obj = ctx.git_repository(&key.namespace, &key.name)?;
    let now = Instant::now();
    let interval = obj.spec.interval.map_or(DEFAULT_INTERVAL, |d| d.as_std());
    let requested = obj
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REQUESTED_AT))
        .cloned();
    let status = obj.status.clone().unwrap_or_default();
    let fingerprint = Fingerprint::of(&(
        obj.metadata.generation,
        &requested,
        status.artifact.as_ref().map(|a| &a.revision),
        obj.metadata.deletion_timestamp.is_some(),
    ));
    if ctx.memos.is_fresh(key, fingerprint, now) {
        count(&ctx.counters.skipped);
        return ctx.memos.next_due(key);
    }
    if obj.metadata.deletion_timestamp.is_some() {
        return None;
    }
    if obj.spec.suspend {
        ctx.memos.record(key, fingerprint, now + interval);
        return None;
    }
    count(&ctx.counters.reconciles);
    let started = Instant::now();
    let api: Api<GitRepositoryObject> = Api::namespaced(ctx.client.clone(), &key.namespace);
    let mut new = status.clone();
    new.observed_generation = obj.metadata.generation;
    if requested.is_some() {
        new.last_handled_reconcile_at = requested.clone();
    }
    let ts = now_rfc3339();

    let gaps = unsupported(&obj);
    let result = if gaps.is_empty() {
        fetch(ctx, obj.clone(), status.clone()).await
    } else {
        Err(FetchFailure {
            reason: reason::UNSUPPORTED,
            message: format!(
                "not supported by weir yet: {} (remove it, or run Flux's source-controller for this object)",
                gaps.join(", ")
            ),
            retry_after: None,
            stalled: true,
        })
    };
    let next;
    let mut new_revision = None;
    match result {
        Ok(artifact) => {
            ctx.succeeded(key);
            let changed = status.artifact.as_ref().map(|a| &a.revision) != Some(&artifact.revision);
            let message = format!("stored artifact for revision '{}'", artifact.revision);
            if changed {
                new_revision = Some(artifact.revision.clone());
            }
            new.artifact = Some(artifact);
            condition::set(
                &mut new.conditions,
                condition::new(condition::READY, true, reason::SUCCEEDED, &message),
                &ts,
            );
            condition::set(
                &mut new.conditions,
                condition::new(
                    condition::ARTIFACT_IN_STORAGE,
                    true,
                    reason::SUCCEEDED,
                    &message,
                ),
                &ts,
            );
            condition::remove(&mut new.conditions, condition::FETCH_FAILED);
            condition::remove(&mut new.conditions, condition::STALLED);
            condition::remove(&mut new.conditions, condition::RECONCILING);
            next = now + jitter(key, interval);
        }
        Err(f) => {
            condition::set(
                &mut new.conditions,
                condition::new(condition::READY, false, f.reason, &f.message),
                &ts,
            );
            condition::set(
                &mut new.conditions,
                condition::new(condition::FETCH_FAILED, true, f.reason, &f.message),
                &ts,
            );
            if f.stalled {
                condition::set(
                    &mut new.conditions,
                    condition::new(condition::STALLED, true, f.reason, &f.message),
                    &ts,
                );
            }
            let backoff = ctx.failed(key, interval);
            next = now + f.retry_after.map_or(backoff, |r| r.max(backoff));
            tracing::warn!(kind = "GitRepository", namespace = %key.namespace, name = %key.name, reason = f.reason, error = %f.message, "fetch failed");
            let repeated = status.conditions.iter().any(|c| c.message == f.message);
            if !repeated {
                ctx.event(obj.object_ref(&()), true, f.reason, f.message.clone())
                    .await;
            }
        }
    }
    for c in &mut new.conditions {
        c.observed_generation = obj.metadata.generation;
    }
    match write_if_changed(&api, &key.name, obj.status.as_ref(), &new).await {
        Ok(true) => count(&ctx.counters.status_writes),
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(namespace = %key.namespace, name = %key.name, error = %e, "status write failed")
        }
    }
    if let Some(rev) = &new_revision {
        ctx.event(
            obj.object_ref(&()),
            false,
            reason::NEW_REVISION,
            format!("stored artifact for revision '{rev}'"),
        )
        .await;
        ctx.wake_users_of_source(&key.namespace, &key.name);
    }
    tracing::info!(
        kind = "GitRepository",
        namespace = %key.namespace,
        name = %key.name,
        revision = new.artifact.as_ref().map(|a| a.revision.as_str()).unwrap_or(""),
        duration_ms = started.elapsed().as_millis() as u64,
        "reconciled"
    );
    let fingerprint = Fingerprint::of(&(
        obj.metadata.generation,
        &requested,
        new.artifact.as_ref().map(|a| &a.revision),
        false,
    ));
    ctx.memos.record(key, fingerprint, next);
    Some(next)
}

/// A failed fetch, as status shows it.
struct FetchFailure {
    reason: &'static str,
    message: String,
    retry_after: Option<Duration>,
    stalled: bool,
}

async fn credentials(
    ctx: &Context,
    obj: Arc<GitRepositoryObject>,
) -> Result<weir_source::Credentials, FetchFailure> {
    let Some(secret_ref) = &obj.spec.secret_ref else {
        return Ok(weir_source::Credentials::default());
    };
    let ns = obj.metadata.namespace.as_deref().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let secret = secrets
        .get_opt(&secret_ref.name)
        .await
        .map_err(|e| FetchFailure {
            reason: reason::AUTHENTICATION_FAILED,
            message: format!("reading Secret {ns}/{}: {e}", secret_ref.name),
            retry_after: None,
            stalled: false,
        })?;
    let Some(secret) = secret else {
        return Err(FetchFailure {
            reason: reason::AUTHENTICATION_FAILED,
            message: format!(
                "Secret {ns}/{} named in spec.secretRef does not exist",
                secret_ref.name
            ),
            retry_after: None,
            stalled: false,
        });
    };
    let data: BTreeMap<String, Vec<u8>> = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    weir_source::Credentials::from_data(&data).map_err(|e| FetchFailure {
        reason: reason::AUTHENTICATION_FAILED,
        message: format!("Secret {ns}/{}: {e}", secret_ref.name),
        retry_after: None,
        stalled: false,
    })
}

async fn fetch(
    ctx: &Arc<Context>,
    obj: Arc<GitRepositoryObject>,
    status: GitRepositoryStatus,
) -> Result<Artifact, FetchFailure> {
    if obj.spec.provider.as_deref() == Some("github") && obj.spec.secret_ref.is_none() {
        return Err(FetchFailure {
            reason: reason::AUTHENTICATION_FAILED,
            message: "spec.provider github needs spec.secretRef with the GitHub App's credentials"
                .into(),
            retry_after: None,
            stalled: true,
        });
    }
    let credentials = credentials(ctx, obj.clone()).await?;
    let ns = obj.metadata.namespace.clone().unwrap_or_default();
    let name = obj.metadata.name.clone().unwrap_or_default();
    // The last artifact counts only when it is still in the store (a restart on fresh storage refetches).
    let last = last_stored_revision(ctx, &status);
    let source = weir_source::GitSource::of(&ns, &name, &obj.spec, last.as_deref());
    let outcome = ctx
        .fetcher
        .fetch(
            &source,
            &credentials,
            Arc::new(weir_source::progress::Discard),
        )
        .await;
    match outcome {
        Ok(weir_source::Outcome::Unchanged { revision }) => {
            let mut a = status.artifact.clone().unwrap_or_default();
            a.revision = revision.to_string();
            Ok(a)
        }
        Ok(weir_source::Outcome::Fetched { revision, artifact }) => {
            let digest = artifact.digest.to_string();
            let rel = format!("gitrepository/{ns}/{name}/{}.tar.gz", artifact.digest.hex);
            Ok(Artifact {
                path: rel,
                url: format!("file://{}", artifact.path.display()),
                revision: revision.to_string(),
                digest: Some(digest),
                last_update_time: now_rfc3339(),
                size: i64::try_from(artifact.size).ok(),
            })
        }
        Err(e) => Err(FetchFailure {
            reason: if e.reason() == "AuthenticationFailed" {
                reason::AUTHENTICATION_FAILED
            } else {
                reason::GIT_OPERATION_FAILED
            },
            message: e.to_string(),
            retry_after: e.retry_after(),
            stalled: !e.is_transient() && e.reason() == "InvalidURL",
        }),
    }
}

/// The revision of the last artifact, when that artifact is still in the store.
fn last_stored_revision(ctx: &Context, status: &GitRepositoryStatus) -> Option<String> {
    let a = status.artifact.as_ref()?;
    let digest: weir_api::Digest = a.digest.as_deref()?.parse().ok()?;
    ctx.fetcher
        .blocking()
        .store()
        .path_of(&digest)
        .is_file()
        .then(|| a.revision.clone())
}

/// `interval` plus up to 5% spread by key, so objects created together do not poll together.
pub fn jitter(key: &Key, interval: Duration) -> Duration {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    let spread = interval / 20;
    let nanos = u64::try_from(spread.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return interval;
    }
    interval + Duration::from_nanos(h.finish() % nanos)
}
