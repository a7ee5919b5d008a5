//! Starting the controller: caches, watches, workers, and a clean stop on SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use weir_api::ObjectKey;
use weir_api::flux::{GitRepositoryObject, KustomizationObject, OCIRepositoryObject};

use crate::context::Context;
use crate::trees::ArtifactTrees;
use crate::{Config, Key, Kind, gitrepo, kustomization, ocirepo};

/// Why the controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("artifact storage at {path}: {source}")]
    Storage {
        path: String,
        source: std::io::Error,
    },
    #[error("artifact store: {0}")]
    Store(#[from] weir_source::store::Error),
}

fn api<K>(client: &Client, ns: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Runs the controller until `shutdown` resolves; in-flight reconciles finish first.
pub async fn run(
    client: Client,
    kube_config: kube::Config,
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<Arc<Context>, StartError> {
    let storage = config.storage_dir.clone();
    let store_opts = weir_source::store::Options {
        max_artifact_size: config.max_artifact_size,
    };
    let store = Arc::new(weir_source::ArtifactStore::open(
        storage.join("artifacts"),
        store_opts,
    )?);
    let clock = Arc::new(weir_source::clock::SystemClock::default());
    let metrics = Arc::new(weir_source::metrics::Metrics::default());
    let budgets = Arc::new(weir_source::HostBudgets::new(
        clock.clone(),
        weir_source::BudgetConfig::default(),
    ));
    // A rate-limited fetch comes back at once with its Retry-After; the queue waits, not a worker.
    let client_options = weir_source::ClientOptions::default().max_retry_wait(Duration::ZERO);
    let git = weir_source::GitClient::new(budgets.clone(), metrics.clone(), client_options);
    // OCIRepositories (issue 8): the same store, budgets and metrics as Git.
    let registry = weir_source::oci::RegistryClient::new(
        budgets,
        metrics.clone(),
        weir_source::oci::RegistryOptions {
            max_retry_wait: Duration::ZERO,
            ..Default::default()
        },
    );
    let oci_fetcher = weir_source::oci::AsyncOciFetcher::new(weir_source::oci::OciFetcher::new(
        registry,
        store.clone(),
        clock.clone(),
        Default::default(),
    ));
    let fetcher = weir_source::AsyncFetcher::new(weir_source::Fetcher::new(
        git,
        store,
        metrics,
        clock,
        Default::default(),
    ));
    let trees = ArtifactTrees::open(
        storage.join("trees"),
        weir_source::extract::Limits::default(),
    )
    .map_err(|source| StartError::Storage {
        path: storage.display().to_string(),
        source,
    })?;

    let ns = config.watch_namespace.clone();
    let (ks_store, ks_writer) = reflector::store::<KustomizationObject>();
    let (git_store, git_writer) = reflector::store::<GitRepositoryObject>();
    let (oci_store, oci_writer) = reflector::store::<OCIRepositoryObject>();
    let concurrent = config.concurrent.max(1);
    let ctx = Arc::new(Context::new(
        client.clone(),
        kube_config,
        config,
        ks_store.clone(),
        git_store.clone(),
        fetcher,
        (oci_store, oci_fetcher),
        trees,
    ));

    let ks_watch = watch_kustomizations(
        ctx.clone(),
        reflector::reflector(
            ks_writer,
            watcher::watcher(
                api::<KustomizationObject>(&client, ns.as_deref()),
                watcher::Config::default(),
            )
            .backoff(WatchBackoff::default())
            .modify(strip_managed_fields),
        ),
    );
    let git_watch = watch_git_repositories(
        ctx.clone(),
        reflector::reflector(
            git_writer,
            watcher::watcher(
                api::<GitRepositoryObject>(&client, ns.as_deref()),
                watcher::Config::default(),
            )
            .backoff(WatchBackoff::default())
            .modify(strip_managed_fields),
        ),
    );
    let oci_watch = watch_oci_repositories(
        ctx.clone(),
        reflector::reflector(
            oci_writer,
            watcher::watcher(
                api::<OCIRepositoryObject>(&client, ns.as_deref()),
                watcher::Config::default(),
            )
            .default_backoff()
            .modify(strip_managed_fields),
        ),
    );
    let watches = tokio::spawn(async move {
        tokio::join!(ks_watch, git_watch, oci_watch);
    });
    wait_ready(&ks_store, &git_store).await;
    tracing::info!(concurrent, "caches synced, reconciling");

    let stop = stop_signal::Stop::default();
    let mut workers = Vec::new();
    for _ in 0..concurrent {
        let ctx = ctx.clone();
        let stop = stop.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let key = tokio::select! {
                    k = ctx.next() => k,
                    _ = stop.wait() => break,
                };
                let next = match key.kind {
                    Kind::GitRepository => gitrepo::reconcile(&ctx, &key).await,
                    Kind::Kustomization => kustomization::reconcile(&ctx, &key).await,
                    Kind::OciRepository => ocirepo::reconcile(&ctx, &key).await,
                };
                ctx.done(&key);
                if let Some(at) = next {
                    ctx.enqueue_at(key, at);
                }
            }
        }));
    }
    shutdown.await;
    tracing::info!("stopping: finishing reconciles in flight");
    stop.trigger();
    for w in workers {
        let _ = w.await;
    }
    watches.abort();
    Ok(ctx)
}

/// Back-off of the watches after an error: 500 ms doubling up to 5 s, reset by the next event.
/// kube's default grows to 30 s, so after an API server outage of a minute every further error
/// while it warms up (a 503, the expected 410 of a resumed watch) cost 30 s more of blindness:
/// drift went unrepaired and sources unseen for a minute or more after the server was back.
#[derive(Debug, Clone)]
pub struct WatchBackoff {
    next: Duration,
}

const WATCH_BACKOFF_MIN: Duration = Duration::from_millis(500);
const WATCH_BACKOFF_MAX: Duration = Duration::from_secs(5);

impl Default for WatchBackoff {
    fn default() -> Self {
        WatchBackoff {
            next: WATCH_BACKOFF_MIN,
        }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let now = self.next;
        self.next = (now * 2).min(WATCH_BACKOFF_MAX);
        Some(now)
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        *self = WatchBackoff::default();
    }
}

fn strip_managed_fields<K: kube::Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
}

async fn wait_ready(ks: &Store<KustomizationObject>, git: &Store<GitRepositoryObject>) {
    let _ = tokio::join!(ks.wait_until_ready(), git.wait_until_ready());
}

fn ks_key(obj: &KustomizationObject) -> Key {
    Key::new(
        Kind::Kustomization,
        obj.metadata.namespace.clone().unwrap_or_default(),
        obj.metadata.name.clone().unwrap_or_default(),
    )
}

async fn watch_kustomizations<S>(ctx: Arc<Context>, stream: S)
where
    S: futures::Stream<Item = Result<Event<KustomizationObject>, watcher::Error>>,
{
    let mut stream = std::pin::pin!(stream);
    // Kustomizations last seen Ready: dependants are woken on the transition only, not on every
    // later event of a Ready dependency (each wake-up costs them a full reconcile).
    let mut ready = std::collections::HashSet::new();
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(Event::Apply(obj)) | Ok(Event::InitApply(obj)) => {
                let key = ks_key(&obj);
                let id = ObjectKey::new(&key.namespace, &key.name);
                if kustomization::is_ready(&obj) {
                    if ready.insert(id.clone()) {
                        ctx.wake_dependants(&id);
                    }
                } else {
                    ready.remove(&id);
                }
                ctx.enqueue(key);
            }
            Ok(Event::Delete(obj)) => {
                let key = ks_key(&obj);
                ready.remove(&ObjectKey::new(&key.namespace, &key.name));
                ctx.forget(&key);
                // A deletion changes the graph: dependants learn their dependency is gone.
                ctx.dependency_view();
            }
            Ok(Event::Init) | Ok(Event::InitDone) => {}
            Err(e) => {
                tracing::warn!(error = %e, "Kustomization watch failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn watch_git_repositories<S>(ctx: Arc<Context>, stream: S)
where
    S: futures::Stream<Item = Result<Event<GitRepositoryObject>, watcher::Error>>,
{
    let mut stream = std::pin::pin!(stream);
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(Event::Apply(obj)) | Ok(Event::InitApply(obj)) => {
                let ns = obj.metadata.namespace.clone().unwrap_or_default();
                let name = obj.metadata.name.clone().unwrap_or_default();
                if obj.status.as_ref().is_some_and(|s| s.artifact.is_some()) {
                    ctx.wake_users_of_source(&ns, &name);
                }
                ctx.enqueue(Key::new(Kind::GitRepository, ns, name));
            }
            Ok(Event::Delete(obj)) => {
                let ns = obj.metadata.namespace.clone().unwrap_or_default();
                let name = obj.metadata.name.clone().unwrap_or_default();
                ctx.forget(&Key::new(Kind::GitRepository, &ns, &name));
                ctx.wake_users_of_source(&ns, &name);
            }
            Ok(Event::Init) | Ok(Event::InitDone) => {}
            Err(e) => {
                tracing::warn!(error = %e, "GitRepository watch failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// OCIRepositories (issue 8). Not awaited at start: a cluster without the CRD still runs Git.
async fn watch_oci_repositories<S>(ctx: Arc<Context>, stream: S)
where
    S: futures::Stream<Item = Result<Event<OCIRepositoryObject>, watcher::Error>>,
{
    let mut stream = std::pin::pin!(stream);
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(Event::Apply(obj)) | Ok(Event::InitApply(obj)) => {
                let ns = obj.metadata.namespace.clone().unwrap_or_default();
                let name = obj.metadata.name.clone().unwrap_or_default();
                if obj.status.as_ref().is_some_and(|s| s.artifact.is_some()) {
                    ctx.wake_users_of(Kind::OciRepository, &ns, &name);
                }
                ctx.enqueue(Key::new(Kind::OciRepository, ns, name));
            }
            Ok(Event::Delete(obj)) => {
                let ns = obj.metadata.namespace.clone().unwrap_or_default();
                let name = obj.metadata.name.clone().unwrap_or_default();
                ctx.forget(&Key::new(Kind::OciRepository, &ns, &name));
                ctx.wake_users_of(Kind::OciRepository, &ns, &name);
            }
            Ok(Event::Init) | Ok(Event::InitDone) => {}
            Err(e) => {
                tracing::warn!(error = %e, "OCIRepository watch failed; retrying (is the OCIRepository CRD installed?)");
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
        }
    }
}

/// A one-shot stop signal every worker can wait on.
mod stop_signal {
    use std::sync::Arc;

    use tokio::sync::watch;

    #[derive(Clone)]
    pub struct Stop {
        tx: Arc<watch::Sender<bool>>,
        rx: watch::Receiver<bool>,
    }

    impl Default for Stop {
        fn default() -> Self {
            let (tx, rx) = watch::channel(false);
            Stop {
                tx: Arc::new(tx),
                rx,
            }
        }
    }

    impl Stop {
        pub fn trigger(&self) {
            let _ = self.tx.send(true);
        }

        pub async fn wait(&self) {
            let mut rx = self.rx.clone();
            let _ = rx.wait_for(|v| *v).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::utils::Backoff;

    #[test]
    fn watch_backoff_doubles_to_five_seconds_and_resets() {
        let mut b = WatchBackoff::default();
        let got: Vec<u64> = b.by_ref().take(6).map(|d| d.as_millis() as u64).collect();
        assert_eq!(got, vec![500, 1000, 2000, 4000, 5000, 5000]);
        b.reset();
        assert_eq!(b.next(), Some(Duration::from_millis(500)));
    }
}
