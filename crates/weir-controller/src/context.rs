//! What every reconcile shares: the one client, the watch caches, the queue, the fetcher, the trees.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::Notify;
use weir_api::ObjectKey;
use weir_api::flux::{GitRepositoryObject, KustomizationObject, OCIRepositoryObject};

use crate::dependencies::{DependencyView, dependencies_of};
use crate::memo::Memos;
use crate::queue::FairQueue;
use crate::trees::ArtifactTrees;
use crate::{Config, Key, Kind};

/// Counters a test or the bench reads (reconciles run and skipped, writes made).
#[derive(Debug, Default)]
pub struct Counters {
    pub reconciles: AtomicU64,
    pub skipped: AtomicU64,
    pub status_writes: AtomicU64,
}

/// Shared state of the controller.
pub struct Context {
    pub client: Client,
    pub kube_config: kube::Config,
    pub config: Config,
    pub kustomizations: Store<KustomizationObject>,
    pub git_repositories: Store<GitRepositoryObject>,
    pub fetcher: weir_source::AsyncFetcher,
    /// OCIRepositories (issue 8): their cache and fetcher (same store, budgets and metrics as Git).
    pub oci_repositories: Store<OCIRepositoryObject>,
    pub oci_fetcher: weir_source::oci::AsyncOciFetcher,
    pub trees: ArtifactTrees,
    pub memos: Memos,
    pub counters: Counters,
    queue: Mutex<FairQueue<Key, String>>,
    wake: Notify,
    graph: Mutex<DependencyView>,
    /// `reportingInstance` of Events.
    instance: String,
    /// The controller's own applier; impersonating ones share its discovery cache.
    applier: weir_apply::Applier,
    /// Appliers per impersonated ServiceAccount (`namespace/name`).
    appliers: Mutex<HashMap<String, weir_apply::Applier>>,
    /// Watches of the kinds Kustomizations applied: drift, health and absence from events.
    pub observed: crate::observed::ObservedObjects,
    /// Drift seen since the owner's last reconcile, reported in its status before the repair.
    drift_reports: Mutex<HashMap<Key, String>>,
    /// Each Kustomization's last inventory with manifest digests (status keeps Flux's form only).
    pub inventories: Mutex<HashMap<ObjectKey, weir_apply::Inventory>>,
    /// Discovery answers per kind (health reads), asked once per kind, not once per object.
    kinds: Mutex<
        HashMap<kube::api::GroupVersionKind, (kube::api::ApiResource, kube::discovery::Scope)>,
    >,
    /// Kustomizations applied and waiting for their objects' health (woken by the watches).
    pub health_waits: Mutex<HashMap<ObjectKey, crate::kustomization::HealthWait>>,
    /// Consecutive failures per object, for the back-off.
    failures: Mutex<HashMap<Key, u32>>,
}

impl Context {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: Client,
        kube_config: kube::Config,
        config: Config,
        kustomizations: Store<KustomizationObject>,
        git_repositories: Store<GitRepositoryObject>,
        fetcher: weir_source::AsyncFetcher,
        (oci_repositories, oci_fetcher): (
            Store<OCIRepositoryObject>,
            weir_source::oci::AsyncOciFetcher,
        ),
        trees: ArtifactTrees,
    ) -> Self {
        let applier = weir_apply::Applier::new(client.clone());
        Context {
            client,
            kube_config,
            config,
            kustomizations,
            git_repositories,
            fetcher,
            oci_repositories,
            oci_fetcher,
            trees,
            memos: Memos::default(),
            counters: Counters::default(),
            queue: Mutex::new(FairQueue::new()),
            wake: Notify::new(),
            graph: Mutex::new(DependencyView::default()),
            instance: std::env::var("POD_NAME").unwrap_or_else(|_| "weir".into()),
            applier,
            appliers: Mutex::new(HashMap::new()),
            observed: Default::default(),
            drift_reports: Mutex::new(HashMap::new()),
            inventories: Mutex::new(HashMap::new()),
            kinds: Mutex::new(HashMap::new()),
            health_waits: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Queues `key` to run at `at` (an earlier request wins).
    pub fn enqueue_at(&self, key: Key, at: Instant) {
        let tenant = key.namespace.clone();
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(key, tenant, at);
        self.wake.notify_waiters();
    }

    pub fn enqueue(&self, key: Key) {
        self.enqueue_at(key, Instant::now());
    }

    /// Forgets a deleted object.
    pub fn forget(&self, key: &Key) {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        self.memos.invalidate(key);
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        self.drift_reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        self.health_waits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&ObjectKey::new(&key.namespace, &key.name));
    }

    /// Waits for the next key to work on.
    pub async fn next(&self) -> Key {
        loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next_due = {
                let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(k) = q.pop(Instant::now()) {
                    return k;
                }
                q.next_due()
            };
            match next_due {
                Some(at) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(at.into()) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Ends the work on `key`.
    pub fn done(&self, key: &Key) {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .done(key);
        self.wake.notify_waiters();
    }

    /// Queue depth (queued, active).
    pub fn queue_depth(&self) -> (usize, usize) {
        let q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        (q.len(), q.active())
    }

    /// The dependency view, rebuilt when some `dependsOn` changed since the last call. Kustomizations
    /// that were blocked by the old graph are queued again when it changes.
    pub fn dependency_view(&self) -> DependencyView {
        let edges: BTreeMap<ObjectKey, Vec<ObjectKey>> = self
            .kustomizations
            .state()
            .iter()
            .map(|ks| {
                (
                    ObjectKey::new(
                        ks.metadata.namespace.clone().unwrap_or_default(),
                        ks.metadata.name.clone().unwrap_or_default(),
                    ),
                    dependencies_of(ks),
                )
            })
            .collect();
        let mut graph = self.graph.lock().unwrap_or_else(|e| e.into_inner());
        if graph.is_stale(&edges) {
            let fresh = DependencyView::new(edges);
            // Only Kustomizations whose own place in the graph changed (a cycle formed or broke, a
            // dependency appeared or went missing) run again; others' edits cost them nothing.
            let touched: Vec<ObjectKey> = graph
                .blocked()
                .chain(fresh.blocked())
                .filter(|k| {
                    graph.cycle_of(k) != fresh.cycle_of(k)
                        || graph.missing_of(k) != fresh.missing_of(k)
                })
                .cloned()
                .collect();
            *graph = fresh;
            for k in touched {
                let key = Key::new(Kind::Kustomization, &k.namespace, &k.name);
                self.memos.invalidate(&key);
                self.enqueue(key);
            }
        }
        graph.clone()
    }

    /// A managed object of `owner` changed out of band (`what` says how): `owner` reconciles at once,
    /// and reports the drift first when it was not its own doing (an object it pruned itself is
    /// gone from its inventory, and writes while it reconciles are its own).
    pub fn drifted(&self, owner: &Key, object: &weir_api::ObjectRef, what: String) {
        let active = self
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_active(owner);
        let id = ObjectKey::new(&owner.namespace, &owner.name);
        let listed = self
            .inventories
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .is_some_and(|inv| inv.contains(object));
        if listed && !active {
            tracing::info!(namespace = %owner.namespace, name = %owner.name, drift = %what, "drift detected");
            let mut reports = self.drift_reports.lock().unwrap_or_else(|e| e.into_inner());
            let report = reports.entry(owner.clone()).or_default();
            if !report.is_empty() {
                report.push_str(", ");
            }
            report.push_str(&what);
        }
        self.health_waits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        self.memos.invalidate(owner);
        self.enqueue(owner.clone());
    }

    /// The drift reported for `key` since its last reconcile, taken.
    pub fn take_drift(&self, key: &Key) -> Option<String> {
        self.drift_reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key)
    }

    /// An object of `owner` stopped being healthy. A Kustomization that waits for health (`wait`,
    /// `healthChecks`) and is not applying right now reconciles, so `Ready` says so; its own applies
    /// (a new generation not yet rolled out) are not news.
    pub fn health_lost(&self, owner: &Key, what: &str) {
        let id = ObjectKey::new(&owner.namespace, &owner.name);
        let waiting = self
            .health_waits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&id);
        let active = self
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_active(owner);
        let cares = self
            .kustomization(&owner.namespace, &owner.name)
            .is_some_and(|k| k.spec.wait || !k.spec.health_checks.is_empty());
        if waiting {
            self.enqueue(owner.clone());
        } else if cares && !active {
            tracing::info!(namespace = %owner.namespace, name = %owner.name, %what, "health lost");
            self.memos.invalidate(owner);
            self.enqueue(owner.clone());
        }
    }

    /// Wakes `owner` when it waits for the health of its objects.
    pub fn wake_if_waiting_for_health(&self, owner: &Key) {
        let waiting = self
            .health_waits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&ObjectKey::new(&owner.namespace, &owner.name));
        if waiting {
            self.enqueue(owner.clone());
        }
    }

    /// Wakes every Kustomization waiting for health (a watch just synced).
    pub fn wake_health_waits(&self) {
        let waiting: Vec<ObjectKey> = self
            .health_waits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        for k in waiting {
            self.enqueue(Key::new(Kind::Kustomization, &k.namespace, &k.name));
        }
    }

    /// Wakes the dependants of a Kustomization that just became Ready.
    pub fn wake_dependants(&self, of: &ObjectKey) {
        let view = self.graph.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for d in view.dependants_of(of) {
            let key = Key::new(Kind::Kustomization, &d.namespace, &d.name);
            self.memos.invalidate(&key);
            self.enqueue(key);
        }
    }

    /// Queues every Kustomization that builds from the GitRepository `ns/name`.
    pub fn wake_users_of_source(&self, ns: &str, name: &str) {
        self.wake_users_of(Kind::GitRepository, ns, name);
    }

    /// Queues every Kustomization whose `sourceRef` is the source `kind` `ns/name`.
    pub fn wake_users_of(&self, kind: Kind, ns: &str, name: &str) {
        for ks in self.kustomizations.state() {
            let ks_ns = ks.metadata.namespace.as_deref().unwrap_or_default();
            let src = &ks.spec.source_ref;
            let src_ns = src.namespace.as_deref().unwrap_or(ks_ns);
            if src.kind == kind.as_str() && src.name == name && src_ns == ns {
                let key = Key::new(
                    Kind::Kustomization,
                    ks_ns,
                    ks.metadata.name.clone().unwrap_or_default(),
                );
                self.enqueue(key);
            }
        }
    }

    /// The cached OCIRepository `ns/name`.
    pub fn oci_repository(&self, ns: &str, name: &str) -> Option<Arc<OCIRepositoryObject>> {
        self.oci_repositories.get(&ObjectRef::new(name).within(ns))
    }

    /// The cached GitRepository `ns/name`.
    pub fn git_repository(&self, ns: &str, name: &str) -> Option<Arc<GitRepositoryObject>> {
        self.git_repositories.get(&ObjectRef::new(name).within(ns))
    }

    /// The cached Kustomization `ns/name`.
    pub fn kustomization(&self, ns: &str, name: &str) -> Option<Arc<KustomizationObject>> {
        self.kustomizations.get(&ObjectRef::new(name).within(ns))
    }

    /// Records a failure of `key`; returns the back-off before its next try: 5 s doubling per
    /// consecutive failure, capped at `cap` (the object's retry interval).
    pub fn failed(&self, key: &Key, cap: Duration) -> Duration {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = f.entry(key.clone()).or_insert(0);
        *n = n.saturating_add(1);
        let exp = Duration::from_secs(5).saturating_mul(1u32 << (*n - 1).min(16));
        exp.min(cap).max(Duration::from_secs(1))
    }

    pub fn succeeded(&self, key: &Key) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// The API resource and scope of `gvk`, from discovery the first time only.
    pub async fn resolve_kind(
        &self,
        gvk: &kube::api::GroupVersionKind,
    ) -> Result<(kube::api::ApiResource, kube::discovery::Scope), kube::Error> {
        if let Some(found) = self
            .kinds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(gvk)
        {
            return Ok(found.clone());
        }
        let (ar, caps) = kube::discovery::pinned_kind(&self.client, gvk).await?;
        let found = (ar, caps.scope);
        self.kinds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(gvk.clone(), found.clone());
        Ok(found)
    }

    /// The applier acting as `service_account` (`namespace/name`), or as the controller itself.
    pub fn applier(&self, service_account: Option<String>) -> Result<weir_apply::Applier, String> {
        let Some(sa) = service_account else {
            return Ok(self.applier.clone());
        };
        let mut appliers = self.appliers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(a) = appliers.get(&sa) {
            return Ok(a.clone());
        }
        let (ns, name) = sa.split_once('/').unwrap_or(("default", sa.as_str()));
        let mut config = self.kube_config.clone();
        config.auth_info.impersonate = Some(format!("system:serviceaccount:{ns}:{name}"));
        let client = Client::try_from(config)
            .map_err(|e| format!("client impersonating ServiceAccount {sa}: {e}"))?;
        let applier = self.applier.with_client(client);
        appliers.insert(sa, applier.clone());
        Ok(applier)
    }

    /// Publishes a Kubernetes Event about the object `reference`: one new Event per call (no
    /// aggregation, so each change keeps its own message and revision). Failures are logged only.
    pub async fn event(
        &self,
        reference: ObjectReference,
        warning: bool,
        reason: &str,
        note: String,
    ) {
        let ns = reference
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let name = reference.name.clone().unwrap_or_default();
        let now = k8s_openapi::jiff::Timestamp::now();
        let ev = k8s_openapi::api::core::v1::Event {
            metadata: kube::api::ObjectMeta {
                generate_name: Some(format!("{name}.")),
                namespace: Some(ns.clone()),
                ..Default::default()
            },
            involved_object: reference,
            reason: Some(reason.to_string()),
            message: Some(truncate(note, 1000)),
            type_: Some(if warning { "Warning" } else { "Normal" }.into()),
            source: Some(k8s_openapi::api::core::v1::EventSource {
                component: Some("weir-controller".into()),
                host: None,
            }),
            reporting_component: Some("weir-controller".into()),
            reporting_instance: Some(self.instance.clone()),
            first_timestamp: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now)),
            last_timestamp: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now)),
            count: Some(1),
            ..Default::default()
        };
        let api: kube::Api<k8s_openapi::api::core::v1::Event> =
            kube::Api::namespaced(self.client.clone(), &ns);
        if let Err(e) = api.create(&Default::default(), &ev).await {
            tracing::debug!(error = %e, "event not recorded");
        }
    }
}

/// At most `max` bytes, on a char boundary, with an ellipsis when cut.
pub fn truncate(mut s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let mut cut = max.saturating_sub(3);
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s.push_str("...");
    s
}

/// Counts a reconcile that ran.
pub fn count(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}
