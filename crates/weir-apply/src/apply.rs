//! The apply engine: plan against live state, validate the whole set, write what changed in stages,
//! prune what left the set, and wait for health.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use futures::{StreamExt, stream};
use serde_json::{Value, json};
use tokio::time::{Instant, sleep};

use crate::cluster::{Applied, CallError, Cluster};
use crate::diff::{FieldChange, digest, field_changes, is_subset, normalise};
use crate::error::{Error, Rejection, Step, UnknownKind};
use crate::inventory::{self, Inventory};
use crate::labels;
use crate::object::ObjectRef;
use crate::requests::{RequestCounter, RequestStats};
use crate::resolve::{self, Gvk, Resource};
use crate::staging::{Stage, stage_of};
use crate::wait::{Waited, wait_healthy};

/// How to apply a set.
#[derive(Debug, Clone)]
pub struct Options {
    /// Name of the apply: names the inventory (`weir-inventory-<name>`) and the owner label.
    pub name: String,
    /// Namespace of the inventory and owner label; also the namespace of namespaced objects that name none.
    pub namespace: String,
    /// Delete objects that left the set since the last apply.
    pub prune: bool,
    /// Wait for every object in the set to be healthy.
    pub wait: bool,
    /// Limit for health waits (and for CRDs to become Established).
    pub timeout: Duration,
    /// Plan and diff only: nothing is written.
    pub dry_run: bool,
    /// Delete and recreate objects whose immutable fields changed.
    pub force: bool,
    /// Field manager for server-side apply.
    pub field_manager: String,
    /// Requests in flight at once.
    pub concurrency: usize,
}

impl Options {
    /// Options for the apply `name` in `namespace`, with defaults: no prune, no wait, 5 minutes.
    pub fn new(name: impl Into<String>, namespace: impl Into<String>) -> Self {
        Options {
            name: name.into(),
            namespace: namespace.into(),
            prune: false,
            wait: false,
            timeout: Duration::from_secs(300),
            dry_run: false,
            force: false,
            field_manager: "weir".into(),
            concurrency: 32,
        }
    }
}

/// What happened (or, in a dry-run, would happen) to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Did not exist; created.
    Created,
    /// Existed and differed; applied.
    Configured,
    /// Already as the set says; not written.
    Unchanged,
    /// An immutable field changed; deleted and created again (`--force`).
    Recreated,
    /// Left the set; deleted.
    Pruned,
    /// Left the set but kept, for the reason given (prune disabled, not owned, pruning off).
    Kept(String),
}

impl Action {
    /// True when the cluster changes (or would change).
    pub fn is_change(&self) -> bool {
        !matches!(self, Action::Unchanged | Action::Kept(_))
    }
}

/// One object's result.
#[derive(Debug, Clone)]
pub struct Change {
    /// The object.
    pub object: ObjectRef,
    /// What happened to it.
    pub action: Action,
    /// Field differences from live (for [`Action::Configured`]; empty when unknown).
    pub diff: Vec<FieldChange>,
}

/// The result of an apply.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// One entry per object in the set, then one per object that left it; in apply order.
    pub changes: Vec<Change>,
    /// API requests this apply made.
    pub requests: RequestStats,
    /// Whether the inventory ConfigMap was written.
    pub inventory_written: bool,
}

impl Outcome {
    /// True when anything in the cluster changed (or, in a dry-run, would change).
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action.is_change())
    }
}

/// Applies manifest sets to one cluster and counts the requests it makes.
#[derive(Clone)]
pub struct Applier {
    cluster: Cluster,
    counter: RequestCounter,
}

/// The plan for one object of the set.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    Unchanged,
    Create,
    Configure(Vec<FieldChange>),
    Recreate,
    /// Cannot be validated before its namespace or CRD exists; validated after the definitions stage.
    Deferred,
}

struct Item {
    obj: ObjectRef,
    res: Resource,
    manifest: Value,
    digest: String,
    stage: Stage,
    live: Option<Value>,
    plan: Plan,
}

fn configmaps() -> Resource {
    Resource {
        group: String::new(),
        version: "v1".into(),
        kind: "ConfigMap".into(),
        plural: "configmaps".into(),
        namespaced: true,
    }
}

fn crds() -> Resource {
    Resource {
        group: "apiextensions.k8s.io".into(),
        version: "v1".into(),
        kind: "CustomResourceDefinition".into(),
        plural: "customresourcedefinitions".into(),
        namespaced: false,
    }
}

impl Applier {
    /// An applier on a client built from `config`, counting every request.
    pub fn new(config: kube::Config) -> Result<Self, Error> {
        let counter = RequestCounter::default();
        let client = kube::client::ClientBuilder::try_from(config)
            .map_err(Error::Client)?
            .with_layer(&counter)
            .build();
        Ok(Applier {
            cluster: Cluster::new(client, "weir"),
            counter,
        })
    }

    /// An applier for the kubeconfig at `path` (else `$KUBECONFIG`, `~/.kube/config`, in-cluster),
    /// using `context` or the current one.
    pub async fn from_kubeconfig(
        path: Option<&Path>,
        context: Option<&str>,
    ) -> Result<Self, Error> {
        let options = kube::config::KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        let config = match path {
            Some(p) => {
                let kc = kube::config::Kubeconfig::read_from(p).map_err(Error::Kubeconfig)?;
                kube::Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(Error::Kubeconfig)?
            }
            None if context.is_some() => kube::Config::from_kubeconfig(&options)
                .await
                .map_err(Error::Kubeconfig)?,
            None => kube::Config::infer()
                .await
                .map_err(|e| Error::Client(kube::Error::InferConfig(e)))?,
        };
        Applier::new(config)
    }

    /// Requests made by this applier so far.
    pub fn requests(&self) -> RequestStats {
        self.counter.stats()
    }

    /// Applies `manifests` as the set `opts.name`, as a Flux Kustomization would.
    ///
    /// # Expected flow
    /// 1. Every object's kind is resolved (discovery, or a CRD in the set); unknown kinds fail here.
    /// 2. Owner labels (`kustomize.toolkit.fluxcd.io/name`, `.../namespace`) are added; namespaced
    ///    objects without a namespace get `opts.namespace`.
    /// 3. Live state is read (one LIST per kind and namespace, by owner label) with the inventory.
    ///    An object is unchanged, without asking the server, when its manifest digest equals the one
    ///    recorded at the last apply and every field it sets has that value live. Any other object is
    ///    applied with a server-side dry-run, whose result compared with live (status and server
    ///    bookkeeping removed) decides whether it changes.
    /// 4. Nothing is written if any dry-run fails: the error names every rejected object.
    /// 5. The inventory is extended with the new objects *before* the first write, so a run killed
    ///    part-way leaves no object the next run does not know about.
    /// 6. Stages are applied in order (CRDs and Namespaces, then `*Class` kinds, then the rest),
    ///    waiting for the set's CRDs to be Established after the first.
    /// 7. With `opts.prune`, objects in the inventory but not in the set are deleted, unless they
    ///    carry `kustomize.toolkit.fluxcd.io/prune: disabled` or lack this apply's owner labels.
    /// 8. The inventory is rewritten to the set (only if it changed); with `opts.wait`, every object
    ///    in the set is polled until healthy.
    ///
    /// # Staging
    /// Objects whose namespace or CRD is created by the same set cannot be dry-run before it exists:
    /// they are validated right after the definitions stage, before any of them is written.
    ///
    /// # Guarantees
    /// - `opts.dry_run` makes no write request.
    /// - An object with `kustomize.toolkit.fluxcd.io/prune: disabled` is never deleted.
    /// - An unchanged re-apply writes nothing, not even the inventory.
    pub async fn apply(&self, manifests: Vec<Value>, opts: &Options) -> Result<Outcome, Error> {
        let start = self.counter.stats();
        let mut items = self.identify(manifests, opts).await?;
        let selector = format!(
            "{}={},{}={}",
            labels::OWNER_NAME,
            opts.name,
            labels::OWNER_NAMESPACE,
            opts.namespace
        );
        let inventory_key = ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some(opts.namespace.clone()),
            name: inventory::config_map_name(&opts.name),
        };
        let stored = match self.cluster.get(&configmaps(), &inventory_key).await {
            Ok(Some(cm)) => Inventory::from_config_map(&cm)?,
            Ok(None) => Inventory::default(),
            Err(source) => {
                return Err(Error::request(Step::Inventory, inventory_key, source));
            }
        };
        self.read_live(&mut items, &selector, opts).await?;
        self.plan(&mut items, &stored, opts, false).await?;

        let mut wanted = Inventory::default();
        for item in &items {
            let keep_digest = item.plan == Plan::Unchanged;
            wanted.insert(
                &item.obj,
                if keep_digest {
                    item.digest.as_str()
                } else {
                    ""
                },
            );
        }
        let stale: Vec<ObjectRef> = stored
            .objects()?
            .into_iter()
            .filter(|old| !items.iter().any(|i| i.obj.same_object(old)))
            .collect();

        let mut inventory_written = false;
        // The inventory's own namespace, when the set creates it, is written before the inventory.
        let mut namespace_first: Option<(usize, Action)> = None;
        if !opts.dry_run
            && wanted
                .entries
                .keys()
                .any(|id| !stored.entries.contains_key(id))
        {
            // The namespace holding the inventory may be part of the set.
            if let Some((i, ns_item)) = items.iter_mut().enumerate().find(|(_, i)| {
                i.obj.group.is_empty()
                    && i.obj.kind == "Namespace"
                    && i.obj.name == opts.namespace
                    && i.plan != Plan::Unchanged
            }) {
                let action = self.write_one(ns_item).await?;
                ns_item.plan = Plan::Unchanged;
                namespace_first = Some((i, action));
            }
            let pending = stored.union(&wanted);
            self.write_inventory(&pending, &inventory_key, opts).await?;
            inventory_written = true;
        }

        let mut changes: BTreeMap<usize, Change> = BTreeMap::new();
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by_key(|&i| (items[i].stage, i));
        for stage in [Stage::Definitions, Stage::Classes, Stage::Workloads] {
            let idx: Vec<usize> = order
                .iter()
                .copied()
                .filter(|&i| items[i].stage == stage)
                .collect();
            if stage != Stage::Definitions && idx.iter().any(|&i| items[i].plan == Plan::Deferred) {
                self.resolve_deferred(&mut items, opts).await?;
            }
            if !opts.dry_run {
                let results: Vec<(usize, Result<Action, Error>)> =
                    stream::iter(idx.iter().copied())
                        .map(|i| {
                            let item = &items[i];
                            async move { (i, self.write_planned(item).await) }
                        })
                        .buffer_unordered(opts.concurrency.max(1))
                        .collect()
                        .await;
                for (i, r) in results {
                    changes.insert(
                        i,
                        Change {
                            object: items[i].obj.clone(),
                            action: r?,
                            diff: Vec::new(),
                        },
                    );
                }
            }
            if stage == Stage::Definitions && !opts.dry_run {
                let set_crds: Vec<ObjectRef> = idx
                    .iter()
                    .map(|&i| &items[i].obj)
                    .filter(|o| o.kind == "CustomResourceDefinition")
                    .cloned()
                    .collect();
                self.wait_established(&set_crds, opts).await?;
            }
        }
        if opts.dry_run {
            self.resolve_deferred(&mut items, opts).await?;
        }
        if let Some((i, action)) = namespace_first {
            changes.insert(
                i,
                Change {
                    object: items[i].obj.clone(),
                    action,
                    diff: Vec::new(),
                },
            );
        }
        let mut ordered: Vec<Change> = order
            .iter()
            .map(|&i| {
                let item = &items[i];
                let mut c = changes.remove(&i).unwrap_or_else(|| Change {
                    object: item.obj.clone(),
                    action: planned_action(&item.plan),
                    diff: Vec::new(),
                });
                if let Plan::Configure(d) = &item.plan {
                    c.diff = d.clone();
                }
                c
            })
            .collect();

        let (pruned, kept_ids) = self.prune(&stale, &selector, opts).await?;
        ordered.extend(pruned);

        if !opts.dry_run {
            let mut final_inv = Inventory::default();
            for item in &items {
                final_inv.insert(&item.obj, item.digest.clone());
            }
            for id in kept_ids {
                if let Some(e) = stored.entries.get(&id) {
                    final_inv.entries.insert(id, e.clone());
                }
            }
            let current = if inventory_written {
                stored.union(&wanted)
            } else {
                stored.clone()
            };
            if final_inv != current {
                self.write_inventory(&final_inv, &inventory_key, opts)
                    .await?;
                inventory_written = true;
            }
        }

        if opts.wait && !opts.dry_run {
            let objects: Vec<(ObjectRef, Resource)> = items
                .iter()
                .map(|i| (i.obj.clone(), i.res.clone()))
                .collect();
            match wait_healthy(&self.cluster, &objects, opts.timeout, opts.concurrency).await {
                Ok(Waited::AllHealthy) => {}
                Ok(Waited::NotHealthy(unhealthy)) => {
                    return Err(Error::NotReady {
                        timeout: opts.timeout,
                        total: objects.len(),
                        unhealthy,
                    });
                }
                Err((object, source)) => {
                    return Err(Error::request(Step::Wait, object, source));
                }
            }
        }
        let end = self.counter.stats();
        Ok(Outcome {
            changes: ordered,
            requests: RequestStats {
                reads: end.reads - start.reads,
                dry_runs: end.dry_runs - start.dry_runs,
                writes: end.writes - start.writes,
            },
            inventory_written,
        })
    }

    /// Reads identities, resolves kinds, defaults namespaces, adds owner labels, digests manifests.
    async fn identify(&self, manifests: Vec<Value>, opts: &Options) -> Result<Vec<Item>, Error> {
        let mut refs = Vec::with_capacity(manifests.len());
        for (i, m) in manifests.iter().enumerate() {
            refs.push(ObjectRef::from_manifest(i, m)?);
        }
        let from_set = resolve::kinds_from_crds(&manifests);
        let wanted: BTreeSet<Gvk> = refs
            .iter()
            .map(|r| (r.group.clone(), r.version.clone(), r.kind.clone()))
            .collect();
        let (found, missing) =
            resolve::resolve(self.cluster.client(), &wanted, &from_set, opts.concurrency).await?;
        if !missing.is_empty() {
            let objects = refs
                .iter()
                .filter_map(|r| {
                    let m = missing.iter().find(|m| {
                        m.gvk.0 == r.group && m.gvk.1 == r.version && m.gvk.2 == r.kind
                    })?;
                    Some(UnknownKind {
                        object: r.clone(),
                        similar: m.similar.clone(),
                    })
                })
                .collect();
            return Err(Error::UnknownKinds { objects });
        }
        let mut seen = HashMap::new();
        let mut items = Vec::with_capacity(refs.len());
        for (mut obj, mut manifest) in refs.into_iter().zip(manifests) {
            let res = found[&(obj.group.clone(), obj.version.clone(), obj.kind.clone())].clone();
            let meta = manifest
                .as_object_mut()
                .map(|m| m.entry("metadata").or_insert_with(|| json!({})))
                .and_then(Value::as_object_mut)
                .expect("from_manifest checked metadata.name, so metadata is an object");
            if res.namespaced {
                let ns = obj
                    .namespace
                    .get_or_insert_with(|| opts.namespace.clone())
                    .clone();
                meta.insert("namespace".into(), Value::String(ns));
            } else {
                obj.namespace = None;
                meta.remove("namespace");
            }
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            if !labels.is_object() {
                *labels = json!({});
            }
            if let Some(l) = labels.as_object_mut() {
                l.insert(labels::OWNER_NAME.into(), Value::String(opts.name.clone()));
                l.insert(
                    labels::OWNER_NAMESPACE.into(),
                    Value::String(opts.namespace.clone()),
                );
            }
            if seen.insert(obj.inventory_id(), ()).is_some() {
                return Err(Error::Duplicate { object: obj });
            }
            let stage = stage_of(&obj.group, &obj.kind);
            items.push(Item {
                digest: digest(&manifest),
                obj,
                res,
                manifest,
                stage,
                live: None,
                plan: Plan::Deferred,
            });
        }
        Ok(items)
    }

    /// Fills `live` for objects this apply owns: one LIST per (kind, namespace), by owner label.
    async fn read_live(
        &self,
        items: &mut [Item],
        selector: &str,
        opts: &Options,
    ) -> Result<(), Error> {
        let mut groups: BTreeMap<(String, String, String, Option<String>), usize> = BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            let key = (
                item.res.group.clone(),
                item.res.version.clone(),
                item.res.kind.clone(),
                item.obj.namespace.clone(),
            );
            groups.entry(key).or_insert(i);
        }
        let lists: Vec<Result<Vec<Value>, Error>> = stream::iter(groups.into_values())
            .map(|i| {
                let item = &items[i];
                async move {
                    match self
                        .cluster
                        .list(&item.res, item.obj.namespace.as_deref(), selector)
                        .await
                    {
                        Ok(l) => Ok(l),
                        // A kind whose CRD, or a namespace, the set has yet to create.
                        Err(CallError::Api(e)) if e.is_not_found() => Ok(Vec::new()),
                        Err(source) => Err(Error::request(Step::Read, item.obj.clone(), source)),
                    }
                }
            })
            .buffer_unordered(opts.concurrency.max(1))
            .collect()
            .await;
        let mut live: HashMap<String, Value> = HashMap::new();
        for list in lists {
            for obj in list? {
                if let Ok(r) = ObjectRef::from_manifest(0, &obj) {
                    live.insert(r.inventory_id(), obj);
                }
            }
        }
        for item in items.iter_mut() {
            item.live = live.remove(&item.obj.inventory_id());
        }
        Ok(())
    }

    /// Decides each object's plan; dry-runs every object not provably unchanged. With `retry_deferred`
    /// only deferred objects are planned, and deferring again is an error.
    async fn plan(
        &self,
        items: &mut [Item],
        stored: &Inventory,
        opts: &Options,
        retry_deferred: bool,
    ) -> Result<(), Error> {
        let set_namespaces: BTreeSet<String> = items
            .iter()
            .filter(|i| i.obj.group.is_empty() && i.obj.kind == "Namespace" && i.live.is_none())
            .map(|i| i.obj.name.clone())
            .collect();
        let set_kinds: BTreeSet<(String, String)> = resolve::kinds_from_crds(
            &items
                .iter()
                .map(|i| i.manifest.clone())
                .filter(|m| {
                    m.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition")
                })
                .collect::<Vec<_>>(),
        )
        .into_keys()
        .map(|(g, _, k)| (g, k))
        .collect();
        let mut to_check = Vec::new();
        for (i, item) in items.iter_mut().enumerate() {
            if retry_deferred {
                if item.plan == Plan::Deferred {
                    to_check.push(i);
                }
                continue;
            }
            let unchanged = item.live.as_ref().is_some_and(|live| {
                stored.digest(&item.obj) == Some(item.digest.as_str())
                    && is_subset(&item.manifest, live)
            });
            if unchanged {
                item.plan = Plan::Unchanged;
            } else {
                to_check.push(i);
            }
        }
        let results: Vec<(usize, Result<Applied, CallError>)> = stream::iter(to_check)
            .map(|i| {
                let item = &items[i];
                async move {
                    (
                        i,
                        self.cluster
                            .apply(&item.res, &item.obj, &item.manifest, true)
                            .await,
                    )
                }
            })
            .buffer_unordered(opts.concurrency.max(1))
            .collect()
            .await;
        let mut rejected = Vec::new();
        for (i, result) in results {
            let item = &mut items[i];
            item.plan = match result {
                Ok(applied) if applied.created => Plan::Create,
                Ok(applied) => {
                    let live = match item.live.take() {
                        Some(l) => Some(l),
                        // Exists without this apply's owner labels: read it for an exact diff.
                        None => self
                            .cluster
                            .get(&item.res, &item.obj)
                            .await
                            .map_err(|source| {
                                Error::request(Step::Read, item.obj.clone(), source)
                            })?,
                    };
                    let diff = match &live {
                        Some(l) => field_changes(&normalise(l), &normalise(&applied.object)),
                        None => Vec::new(),
                    };
                    item.live = live;
                    if diff.is_empty() && item.live.is_some() {
                        Plan::Unchanged
                    } else {
                        Plan::Configure(diff)
                    }
                }
                Err(CallError::Api(e)) if e.is_immutable() => {
                    let forced = opts.force
                        || item
                            .manifest
                            .pointer("/metadata/annotations")
                            .and_then(|a| a.get(labels::FORCE))
                            .and_then(Value::as_str)
                            == Some("enabled");
                    if forced {
                        Plan::Recreate
                    } else {
                        rejected.push(Rejection {
                            object: item.obj.clone(),
                            error: e,
                        });
                        continue;
                    }
                }
                Err(CallError::Api(e))
                    if e.is_not_found()
                        && !retry_deferred
                        && (item
                            .obj
                            .namespace
                            .as_ref()
                            .is_some_and(|ns| set_namespaces.contains(ns))
                            || set_kinds
                                .contains(&(item.obj.group.clone(), item.obj.kind.clone()))) =>
                {
                    Plan::Deferred
                }
                Err(CallError::Api(e)) => {
                    rejected.push(Rejection {
                        object: item.obj.clone(),
                        error: e,
                    });
                    continue;
                }
                Err(source) => {
                    return Err(Error::request(Step::Validate, item.obj.clone(), source));
                }
            };
        }
        if !rejected.is_empty() {
            rejected.sort_by(|a, b| a.object.cmp(&b.object));
            return Err(Error::Invalid { rejected });
        }
        Ok(())
    }

    async fn resolve_deferred(&self, items: &mut [Item], opts: &Options) -> Result<(), Error> {
        if items.iter().any(|i| i.plan == Plan::Deferred) {
            if opts.dry_run {
                // Their namespace or CRD does not exist yet: they would be created.
                for i in items.iter_mut().filter(|i| i.plan == Plan::Deferred) {
                    i.plan = Plan::Create;
                }
                return Ok(());
            }
            self.plan(items, &Inventory::default(), opts, true).await?;
        }
        Ok(())
    }

    async fn write_planned(&self, item: &Item) -> Result<Action, Error> {
        match &item.plan {
            Plan::Unchanged => Ok(Action::Unchanged),
            Plan::Deferred => {
                unreachable!("deferred objects are planned before their stage is written")
            }
            Plan::Recreate => {
                let fail = |step, source| Error::request(step, item.obj.clone(), source);
                self.cluster
                    .delete(&item.res, &item.obj, "Foreground")
                    .await
                    .map_err(|e| fail(Step::Recreate, e))?;
                let deadline = Instant::now() + Duration::from_secs(60);
                while self
                    .cluster
                    .get(&item.res, &item.obj)
                    .await
                    .map_err(|e| fail(Step::Recreate, e))?
                    .is_some()
                {
                    if Instant::now() > deadline {
                        break;
                    }
                    sleep(Duration::from_millis(200)).await;
                }
                self.cluster
                    .apply(&item.res, &item.obj, &item.manifest, false)
                    .await
                    .map_err(|e| fail(Step::Apply, e))?;
                Ok(Action::Recreated)
            }
            Plan::Create | Plan::Configure(_) => self.write_one(item).await,
        }
    }

    async fn write_one(&self, item: &Item) -> Result<Action, Error> {
        let applied = self
            .cluster
            .apply(&item.res, &item.obj, &item.manifest, false)
            .await
            .map_err(|source| Error::request(Step::Apply, item.obj.clone(), source))?;
        Ok(if applied.created {
            Action::Created
        } else {
            Action::Configured
        })
    }

    async fn write_inventory(
        &self,
        inv: &Inventory,
        key: &ObjectRef,
        opts: &Options,
    ) -> Result<(), Error> {
        let cm = inv.to_config_map(&opts.name, &opts.namespace);
        self.cluster
            .apply(&configmaps(), key, &cm, false)
            .await
            .map(|_| ())
            .map_err(|source| Error::request(Step::Inventory, key.clone(), source))
    }

    /// Waits until every CRD of the set is Established, so custom resources can be applied.
    async fn wait_established(&self, set_crds: &[ObjectRef], opts: &Options) -> Result<(), Error> {
        if set_crds.is_empty() {
            return Ok(());
        }
        let objects: Vec<(ObjectRef, Resource)> =
            set_crds.iter().map(|o| (o.clone(), crds())).collect();
        match wait_healthy(&self.cluster, &objects, opts.timeout, opts.concurrency).await {
            Ok(Waited::AllHealthy) => Ok(()),
            Ok(Waited::NotHealthy(unhealthy)) => Err(Error::NotReady {
                timeout: opts.timeout,
                total: objects.len(),
                unhealthy,
            }),
            Err((object, source)) => Err(Error::request(Step::Wait, object, source)),
        }
    }

    /// Deletes (or, in a dry-run, reports) objects that left the set. Returns the changes and the
    /// inventory ids to keep recording.
    async fn prune(
        &self,
        stale: &[ObjectRef],
        selector: &str,
        opts: &Options,
    ) -> Result<(Vec<Change>, Vec<String>), Error> {
        if stale.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let wanted: BTreeSet<Gvk> = stale
            .iter()
            .map(|r| (r.group.clone(), r.version.clone(), r.kind.clone()))
            .collect();
        let (found, _) = resolve::resolve(
            self.cluster.client(),
            &wanted,
            &BTreeMap::new(),
            opts.concurrency,
        )
        .await?;
        let mut order: Vec<&ObjectRef> = stale.iter().collect();
        // Workloads before the namespaces and CRDs they live in.
        order.sort_by_key(|o| std::cmp::Reverse(stage_of(&o.group, &o.kind)));
        let mut changes = Vec::new();
        let mut kept = Vec::new();
        let owner_labels: Vec<(&str, &str)> = selector
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        for obj in order {
            let Some(res) = found.get(&(obj.group.clone(), obj.version.clone(), obj.kind.clone()))
            else {
                // The kind is gone from the cluster, so are its objects.
                continue;
            };
            let live = self
                .cluster
                .get(res, obj)
                .await
                .map_err(|source| Error::request(Step::Prune, obj.clone(), source))?;
            let Some(live) = live else { continue };
            let annotation = live
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(labels::PRUNE))
                .and_then(Value::as_str);
            let owned = owner_labels.iter().all(|(k, v)| {
                live.pointer("/metadata/labels")
                    .and_then(|l| l.get(*k))
                    .and_then(Value::as_str)
                    == Some(*v)
            });
            let action = if !opts.prune {
                kept.push(obj.inventory_id());
                Action::Kept("pruning is off".into())
            } else if annotation == Some(labels::PRUNE_DISABLED) {
                Action::Kept(format!("{}: {}", labels::PRUNE, labels::PRUNE_DISABLED))
            } else if !owned {
                Action::Kept("owner labels changed: another apply owns it".into())
            } else {
                if !opts.dry_run {
                    self.cluster
                        .delete(res, obj, "Background")
                        .await
                        .map_err(|source| Error::request(Step::Prune, obj.clone(), source))?;
                }
                Action::Pruned
            };
            changes.push(Change {
                object: obj.clone(),
                action,
                diff: Vec::new(),
            });
        }
        Ok((changes, kept))
    }
}

fn planned_action(plan: &Plan) -> Action {
    match plan {
        Plan::Unchanged => Action::Unchanged,
        Plan::Create | Plan::Deferred => Action::Created,
        Plan::Configure(_) => Action::Configured,
        Plan::Recreate => Action::Recreated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_changes_count_as_changes() {
        assert!(Action::Created.is_change());
        assert!(Action::Pruned.is_change());
        assert!(!Action::Unchanged.is_change());
        assert!(!Action::Kept("x".into()).is_change());
    }

    #[test]
    fn deferred_objects_report_as_created() {
        assert_eq!(planned_action(&Plan::Deferred), Action::Created);
        assert_eq!(
            planned_action(&Plan::Configure(Vec::new())),
            Action::Configured
        );
    }
}
