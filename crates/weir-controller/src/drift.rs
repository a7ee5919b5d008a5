//! Drift: one metadata-only watch per kind that Kustomizations applied, filtered by weir's owner
//! label. A managed object deleted, or its spec changed (a new `generation`; for kinds without one,
//! any new version), wakes its Kustomization at once, which repairs it: no waiting for the interval.
//! Status-only updates (a Deployment's rollout progress) bump neither and cost nothing.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject, GroupVersionKind};
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use weir_api::ObjectRef;

use crate::context::Context;
use crate::{Key, Kind};

const OWNER_NAME: &str = "kustomize.toolkit.fluxcd.io/name";
const OWNER_NAMESPACE: &str = "kustomize.toolkit.fluxcd.io/namespace";

/// The kinds being watched.
#[derive(Default)]
pub struct DriftWatches {
    kinds: Mutex<HashSet<(String, String, String)>>,
}

impl DriftWatches {
    /// Starts a watch for every kind of `objects` not watched yet.
    pub fn watch(&self, ctx: &Arc<Context>, objects: &[ObjectRef]) {
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        for o in objects {
            let k = (o.group.clone(), o.version.clone(), o.kind.clone());
            if kinds.insert(k.clone()) {
                let ctx = ctx.clone();
                tokio::spawn(async move { watch_kind(ctx, k).await });
            }
        }
    }
}

/// What a managed object looked like last: its generation, or its version for kinds without one.
#[derive(PartialEq, Eq)]
enum Seen {
    Generation(i64),
    Version(String),
}

fn seen(meta: &kube::api::ObjectMeta) -> Seen {
    match meta.generation {
        Some(g) => Seen::Generation(g),
        None => Seen::Version(meta.resource_version.clone().unwrap_or_default()),
    }
}

fn owner(meta: &kube::api::ObjectMeta) -> Option<Key> {
    let labels = meta.labels.as_ref()?;
    Some(Key::new(
        Kind::Kustomization,
        labels.get(OWNER_NAMESPACE)?.clone(),
        labels.get(OWNER_NAME)?.clone(),
    ))
}

async fn watch_kind(ctx: Arc<Context>, (group, version, kind): (String, String, String)) {
    let gvk = GroupVersionKind::gvk(&group, &version, &kind);
    let ar = loop {
        match kube::discovery::pinned_kind(&ctx.client, &gvk).await {
            Ok((ar, _)) => break ar,
            Err(e) => {
                tracing::info!(kind = %kind, error = %e, "drift watch: kind not served yet");
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
        }
    };
    // `PartialObjectMeta` makes the watch metadata-only: no spec or status is sent or kept.
    let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(ctx.client.clone(), &ar);
    let config = watcher::Config::default().labels(OWNER_NAME);
    tracing::info!(kind = %kind, "drift watch started");
    let mut last: HashMap<String, Seen> = HashMap::new();
    let mut stream =
        std::pin::pin!(watcher::watcher(api, config).backoff(crate::run::WatchBackoff::default()));
    while let Some(ev) = stream.next().await {
        let (meta, deleted, initial) = match ev {
            Ok(Event::Apply(m)) => (m, false, false),
            Ok(Event::InitApply(m)) => (m, false, true),
            Ok(Event::Delete(m)) => (m, true, false),
            Ok(Event::Init) | Ok(Event::InitDone) => continue,
            Err(e) => {
                tracing::warn!(kind = %kind, error = %e, "drift watch failed; retrying");
                continue;
            }
        };
        let PartialObjectMeta { metadata, .. } = meta;
        tracing::trace!(kind = %kind, name = ?metadata.name, deleted, initial, "drift watch event");
        let uid = metadata.uid.clone().unwrap_or_default();
        let Some(key) = owner(&metadata) else {
            continue;
        };
        let now = seen(&metadata);
        let changed = if deleted {
            last.remove(&uid);
            true
        } else {
            last.insert(uid, now)
                .is_some_and(|before| before != seen(&metadata))
        };
        if changed && !initial {
            tracing::debug!(kind = %kind, name = ?metadata.name, owner = %key, deleted, "managed object changed");
            ctx.memos.invalidate(&key);
            ctx.enqueue(key);
        }
    }
}
