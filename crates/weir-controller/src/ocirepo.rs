//! The OCIRepository reconciler: one manifest `HEAD` when nothing moved, the selected layer
//! (digest verified, unpacked safely) into the shared artifact store when something did, and status
//! as source-controller writes it (`Ready`, `ArtifactInStorage`, `FetchFailed`, `Stalled`;
//! `status.url`, `observedIgnore`, `observedLayerSelector`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Resource};
use weir_api::condition::{self, reason};
use weir_api::flux::{Artifact, OCIRepositoryObject, OCIRepositoryStatus};
use weir_source::oci::OciCredentials;

use crate::context::{Context, count};
use crate::gitrepo::jitter;
use crate::memo::Fingerprint;
use crate::status::{now_rfc3339, write_if_changed};
use crate::{Key, Kind, REQUESTED_AT};

/// Flux's default interval when none is given.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// Spec fields Flux supports that weir does not yet: refused with a clear message, never ignored
/// (`spec.provider` and `spec.verify` are refused by the fetcher itself, with their own messages).
fn unsupported(obj: &OCIRepositoryObject) -> Vec<&'static str> {
    let s = &obj.spec;
    let mut out = Vec::new();
    if s.proxy_secret_ref.is_some() {
        out.push("spec.proxySecretRef");
    }
    if s.service_account_name.is_some() {
        out.push("spec.serviceAccountName");
    }
    out
}

/// Reconciles the OCIRepository `key`. Returns when it should run again.
pub async fn reconcile(ctx: &Arc<Context>, key: &Key) -> Option<Instant> {
    let obj = ctx.oci_repository(&key.namespace, &key.name)?;
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
    let api: Api<OCIRepositoryObject> = Api::namespaced(ctx.client.clone(), &key.namespace);
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
            new.url = Some(obj.spec.url.clone());
            new.observed_ignore = obj.spec.ignore.clone();
            new.observed_layer_selector = obj.spec.layer_selector.clone();
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
            if obj.spec.verify.is_some() {
                condition::set(
                    &mut new.conditions,
                    condition::new(
                        "SourceVerified",
                        true,
                        reason::SUCCEEDED,
                        format!(
                            "verified signature of revision {}",
                            new.artifact.as_ref().map_or("", |a| a.revision.as_str())
                        ),
                    ),
                    &ts,
                );
            } else {
                condition::remove(&mut new.conditions, "SourceVerified");
            }
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
            tracing::warn!(kind = "OCIRepository", namespace = %key.namespace, name = %key.name, reason = f.reason, error = %f.message, "fetch failed");
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
        ctx.wake_users_of(Kind::OciRepository, &key.namespace, &key.name);
    }
    tracing::info!(
        kind = "OCIRepository",
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

/// Reads Secret `ns/name`'s data.
async fn secret_data(
    ctx: &Context,
    ns: &str,
    name: &str,
    field: &str,
) -> Result<BTreeMap<String, Vec<u8>>, FetchFailure> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let failure = |message: String| FetchFailure {
        reason: reason::AUTHENTICATION_FAILED,
        message,
        retry_after: None,
        stalled: false,
    };
    let secret = secrets
        .get_opt(name)
        .await
        .map_err(|e| failure(format!("reading Secret {ns}/{name}: {e}")))?
        .ok_or_else(|| {
            failure(format!(
                "Secret {ns}/{name} named in {field} does not exist"
            ))
        })?;
    Ok(secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
}

/// `spec.secretRef` (dockerconfigjson) and `spec.certSecretRef` (`ca.crt`) merged.
async fn credentials(
    ctx: &Context,
    obj: &OCIRepositoryObject,
) -> Result<OciCredentials, FetchFailure> {
    let ns = obj.metadata.namespace.as_deref().unwrap_or_default();
    let mut data = BTreeMap::new();
    if let Some(r) = &obj.spec.secret_ref {
        data.extend(secret_data(ctx, ns, &r.name, "spec.secretRef").await?);
    }
    if let Some(r) = &obj.spec.cert_secret_ref
        && let Some(ca) = secret_data(ctx, ns, &r.name, "spec.certSecretRef")
            .await?
            .remove("ca.crt")
    {
        data.insert("ca.crt".into(), ca);
    }
    let host = obj
        .spec
        .url
        .strip_prefix("oci://")
        .and_then(|r| r.split('/').next())
        .unwrap_or_default();
    OciCredentials::from_data(&data, host).map_err(|e| FetchFailure {
        reason: reason::AUTHENTICATION_FAILED,
        message: format!(
            "Secret {ns}/{}: {e}",
            obj.spec.secret_ref.as_ref().map_or("", |r| r.name.as_str())
        ),
        retry_after: None,
        stalled: true,
    })
}

async fn fetch(
    ctx: &Arc<Context>,
    obj: Arc<OCIRepositoryObject>,
    status: OCIRepositoryStatus,
) -> Result<Artifact, FetchFailure> {
    let credentials = credentials(ctx, &obj).await?;
    let ns = obj.metadata.namespace.clone().unwrap_or_default();
    let name = obj.metadata.name.clone().unwrap_or_default();
    // The last artifact counts only when it is still in the store, and only for the same layer
    // selection and ignore rules (a change of either re-archives, as in Flux).
    let same_selection = status.observed_ignore == obj.spec.ignore
        && status.observed_layer_selector == obj.spec.layer_selector;
    // With spec.verify, an artifact counts only when its signature was verified (SourceVerified):
    // turning verification on re-checks the current revision.
    let verified = obj.spec.verify.is_none()
        || status
            .conditions
            .iter()
            .any(|c| c.type_ == "SourceVerified" && c.status == "True");
    let last = last_stored_revision(ctx, &status).filter(|_| same_selection && verified);
    let mut source = weir_source::oci::OciSource::of(&ns, &name, &obj.spec, last.as_deref());
    // spec.verify.secretRef: every `*.pub` key of the Secret is a cosign public key.
    if let Some(verify) = &mut source.verify
        && let Some(secret) = obj
            .spec
            .verify
            .as_ref()
            .and_then(|v| v.get("secretRef"))
            .and_then(|r| r.get("name"))
            .and_then(|n| n.as_str())
    {
        verify.keys = secret_data(ctx, &ns, secret, "spec.verify.secretRef")
            .await?
            .into_iter()
            .filter(|(k, _)| k.ends_with(".pub"))
            .map(|(_, v)| v)
            .collect();
    }
    let outcome = ctx
        .oci_fetcher
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
            let rel = format!("ocirepository/{ns}/{name}/{}.tar.gz", artifact.digest.hex);
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
            reason: e.reason(),
            message: e.to_string(),
            retry_after: e.retry_after(),
            stalled: matches!(
                e,
                weir_source::oci::Error::Unsupported { .. }
                    | weir_source::oci::Error::InvalidSpec { .. }
                    | weir_source::oci::Error::InvalidUrl { .. }
            ),
        }),
    }
}

/// The revision of the last artifact, when that artifact is still in the store.
fn last_stored_revision(ctx: &Context, status: &OCIRepositoryStatus) -> Option<String> {
    let a = status.artifact.as_ref()?;
    let digest: weir_api::Digest = a.digest.as_deref()?.parse().ok()?;
    ctx.oci_fetcher
        .blocking()
        .store()
        .path_of(&digest)
        .is_file()
        .then(|| a.revision.clone())
}
