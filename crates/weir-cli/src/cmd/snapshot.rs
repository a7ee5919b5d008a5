//! The I/O under `weir get`, `why` and `doctor`: list the Flux objects and the live objects their
//! inventories name into a [`weir_diagnose::Snapshot`], with a fixed number of LIST requests per kind
//! (never a GET per object), counted by a layer on the client.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::Context as _;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde_json::Value;
use weir_api::InventoryId;
use weir_api::flux::{GitRepositoryObject, KustomizationObject};
use weir_apply::requests::{RequestCounter, RequestStats};
use weir_diagnose::Snapshot;

/// Flags shared by the troubleshooting commands.
#[derive(clap::Args, Clone)]
pub struct ClusterArgs {
    /// Path to the kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
}

/// Which live objects to list.
pub enum LiveScope<'a> {
    /// None (`weir get`).
    Nothing,
    /// The inventories of these Kustomizations (and, transitively, of their dependencies and nested
    /// Kustomizations).
    Chain(&'a weir_api::ObjectKey),
    /// The inventories of every Kustomization listed (`weir doctor`).
    All,
}

/// A snapshot and what it cost.
pub struct Gathered {
    pub snapshot: Snapshot,
    pub requests: RequestStats,
    /// Kinds that could not be listed, and why (a diagnosis says less about them).
    pub notes: Vec<String>,
}

/// A client whose requests are counted.
pub async fn counted_client(args: &ClusterArgs) -> anyhow::Result<(kube::Client, RequestCounter)> {
    let config = super::kube_config(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
    let counter = RequestCounter::default();
    let client = kube::client::ClientBuilder::try_from(config)
        .context("building the Kubernetes client")?
        .with_layer(&counter)
        .build();
    Ok((client, counter))
}

fn resource(group: &str, version: &str, kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

/// Every object of a kind in `namespace` (all namespaces when `None`), page by page (500 a page).
/// A kind the server does not serve lists as empty with a note.
async fn list(
    client: &kube::Client,
    ar: &ApiResource,
    namespace: Option<&str>,
    metadata_only: bool,
    label_selector: Option<&str>,
    notes: &mut Vec<String>,
) -> Option<Vec<Value>> {
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    };
    let mut out = Vec::new();
    let mut params = ListParams::default().limit(500);
    if let Some(l) = label_selector {
        params = params.labels(l);
    }
    loop {
        let page = if metadata_only {
            api.list_metadata(&params).await.map(|l| {
                let next = l.metadata.continue_.clone();
                let items = l
                    .items
                    .into_iter()
                    .map(|o| {
                        serde_json::json!({
                            "apiVersion": ar.api_version,
                            "kind": ar.kind,
                            "metadata": serde_json::to_value(&o.metadata).unwrap_or(Value::Null),
                        })
                    })
                    .collect::<Vec<_>>();
                (items, next)
            })
        } else {
            api.list(&params).await.map(|l| {
                let next = l.metadata.continue_.clone();
                let items = l
                    .items
                    .into_iter()
                    .map(|mut o| {
                        o.metadata.managed_fields = None;
                        let mut v = serde_json::to_value(&o).unwrap_or(Value::Null);
                        if let Some(m) = v.as_object_mut() {
                            m.insert("apiVersion".into(), Value::String(ar.api_version.clone()));
                            m.insert("kind".into(), Value::String(ar.kind.clone()));
                        }
                        v
                    })
                    .collect::<Vec<_>>();
                (items, next)
            })
        };
        match page {
            Ok((items, next)) => {
                out.extend(items);
                match next.filter(|c| !c.is_empty()) {
                    Some(c) => params = params.continue_token(&c),
                    None => return Some(out),
                }
            }
            Err(e) => {
                let scope =
                    namespace.map_or_else(|| "all namespaces".into(), |n| format!("namespace {n}"));
                notes.push(format!(
                    "could not list {} ({}) in {scope}: {}",
                    ar.kind,
                    ar.api_version,
                    short_error(&e)
                ));
                return None;
            }
        }
    }
}

fn short_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({})", s.message, s.code),
        other => other.to_string(),
    }
}

/// Flux objects of a kind, typed; one that does not read is skipped with a note (it never fails the
/// whole listing).
async fn flux<T: serde::de::DeserializeOwned>(
    client: &kube::Client,
    ar: &ApiResource,
    namespace: Option<&str>,
    notes: &mut Vec<String>,
) -> Vec<T> {
    // managedFields are kept for Flux objects: their times date the last status and spec writes.
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    };
    let mut out = Vec::new();
    let mut params = ListParams::default().limit(500);
    loop {
        match api.list(&params).await {
            Ok(l) => {
                for o in l.items {
                    let name = format!(
                        "{}/{}",
                        o.metadata.namespace.as_deref().unwrap_or(""),
                        o.metadata.name.as_deref().unwrap_or("")
                    );
                    let mut v = serde_json::to_value(&o).unwrap_or(Value::Null);
                    if let Some(m) = v.as_object_mut() {
                        m.insert("apiVersion".into(), Value::String(ar.api_version.clone()));
                        m.insert("kind".into(), Value::String(ar.kind.clone()));
                    }
                    match serde_json::from_value(v) {
                        Ok(t) => out.push(t),
                        Err(e) => notes.push(format!("{} {name} does not read: {e}", ar.kind)),
                    }
                }
                match l.metadata.continue_.filter(|c| !c.is_empty()) {
                    Some(c) => params = params.continue_token(&c),
                    None => return out,
                }
            }
            Err(e) => {
                notes.push(format!("could not list {}: {}", ar.kind, short_error(&e)));
                return out;
            }
        }
    }
}

/// Lists what a command needs. `namespace` limits the Flux objects (`None`: all namespaces).
pub async fn gather(
    client: &kube::Client,
    counter: &RequestCounter,
    namespace: Option<&str>,
    live: LiveScope<'_>,
    controllers: bool,
) -> anyhow::Result<Gathered> {
    let mut notes = Vec::new();
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    let ks_ar = resource(weir_api::flux::KUSTOMIZE_GROUP, "v1", "Kustomization");
    let gr_ar = resource(weir_api::flux::SOURCE_GROUP, "v1", "GitRepository");
    let (kustomizations, git_repositories) = {
        let mut n1 = Vec::new();
        let mut n2 = Vec::new();
        let (k, g) = tokio::join!(
            flux::<KustomizationObject>(client, &ks_ar, namespace, &mut n1),
            flux::<GitRepositoryObject>(client, &gr_ar, namespace, &mut n2)
        );
        notes.extend(n1);
        notes.extend(n2);
        (k, g)
    };
    let mut snapshot = Snapshot {
        now,
        kustomizations,
        git_repositories,
        ..Default::default()
    };
    let kinds = live_kinds(&snapshot, &live);
    for ((group, version, kind), namespaces) in kinds {
        let ar = resource(&group, &version, &kind);
        // One namespace: list there; several, or cluster-scoped objects: list everywhere.
        let ns = match namespaces.len() {
            1 => namespaces.iter().next().filter(|n| !n.is_empty()).cloned(),
            _ => None,
        };
        // Secrets (and ConfigMaps) are only checked for existence: their data is never read.
        let metadata_only = group.is_empty() && (kind == "Secret" || kind == "ConfigMap");
        if let Some(objects) =
            list(client, &ar, ns.as_deref(), metadata_only, None, &mut notes).await
        {
            snapshot.live.insert_listing(&group, &kind, objects);
        }
    }
    if controllers {
        let ar = resource("apps", "v1", "Deployment");
        let mut n = Vec::new();
        snapshot.controllers = list(
            client,
            &ar,
            None,
            false,
            Some("app.kubernetes.io/part-of in (flux,weir)"),
            &mut n,
        )
        .await;
        // Not being allowed to list Deployments cluster-wide only means controller health is unknown.
        if snapshot.controllers.is_none() {
            notes.push(
                "controller health not available (cannot list Deployments cluster-wide)".into(),
            );
        }
    }
    Ok(Gathered {
        snapshot,
        requests: counter.stats(),
        notes,
    })
}

/// The kinds (group, version, kind) to list, each with the namespaces its objects are in.
fn live_kinds(
    snap: &Snapshot,
    scope: &LiveScope<'_>,
) -> BTreeMap<(String, String, String), BTreeSet<String>> {
    let chosen: Vec<&KustomizationObject> = match scope {
        LiveScope::Nothing => return BTreeMap::new(),
        LiveScope::All => snap.kustomizations.iter().collect(),
        LiveScope::Chain(key) => {
            // The Kustomization, its dependencies and nested Kustomizations, transitively.
            let mut todo = vec![(*key).clone()];
            let mut seen = BTreeSet::new();
            let mut out = Vec::new();
            while let Some(k) = todo.pop() {
                if !seen.insert(k.clone()) {
                    continue;
                }
                let Some(obj) = snap.kustomization(&k) else {
                    continue;
                };
                out.push(obj);
                for d in &obj.spec.depends_on {
                    todo.push(weir_api::ObjectKey::new(
                        d.namespace.clone().unwrap_or_else(|| k.namespace.clone()),
                        &d.name,
                    ));
                }
                for id in inventory_ids(obj) {
                    if id.0.group == weir_api::flux::KUSTOMIZE_GROUP && id.0.kind == "Kustomization"
                    {
                        todo.push(weir_api::ObjectKey::new(&id.0.namespace, &id.0.name));
                    }
                }
            }
            out
        }
    };
    let mut kinds: BTreeMap<(String, String, String), BTreeSet<String>> = BTreeMap::new();
    let mut add = |g: &str, v: &str, k: &str, ns: &str| {
        kinds
            .entry((g.to_string(), v.to_string(), k.to_string()))
            .or_default()
            .insert(ns.to_string());
    };
    for k in chosen {
        for (id, version) in inventory_ids(k) {
            if weir_api::flux::FluxKind::of(&format!("{}/{version}", id.group), &id.kind).is_some()
            {
                continue;
            }
            add(&id.group, &version, &id.kind, &id.namespace);
            // What health descends into below a workload.
            match (id.group.as_str(), id.kind.as_str()) {
                ("apps", "Deployment") => {
                    add("apps", "v1", "ReplicaSet", &id.namespace);
                    add("", "v1", "Pod", &id.namespace);
                    add("", "v1", "PersistentVolumeClaim", &id.namespace);
                    add("storage.k8s.io", "v1", "StorageClass", "");
                }
                ("apps", "StatefulSet")
                | ("apps", "DaemonSet")
                | ("batch", "Job")
                | ("", "Pod") => {
                    add("", "v1", "Pod", &id.namespace);
                    add("", "v1", "PersistentVolumeClaim", &id.namespace);
                    add("storage.k8s.io", "v1", "StorageClass", "");
                }
                ("", "PersistentVolumeClaim") => add("storage.k8s.io", "v1", "StorageClass", ""),
                _ => {}
            }
        }
    }
    kinds
}

fn inventory_ids(k: &KustomizationObject) -> Vec<(InventoryId, String)> {
    k.status
        .as_ref()
        .and_then(|s| s.inventory.as_ref())
        .map(|i| {
            i.entries
                .iter()
                .filter_map(|e| Some((e.id.parse().ok()?, e.v.clone())))
                .collect()
        })
        .unwrap_or_default()
}

/// The async runtime of one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `-o` of the troubleshooting commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
    Yaml,
}

/// Prints a serialisable value as JSON or YAML.
pub fn print_structured(value: &impl serde::Serialize, output: Output) -> anyhow::Result<()> {
    let v = serde_json::to_value(value)?;
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    match output {
        Output::Yaml => out.write_all(weir_yaml::to_string(&v).as_bytes())?,
        _ => writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?,
    }
    Ok(())
}
