//! The offline walk over a GitOps repository: start at the cluster directory, render it as Flux's
//! root Kustomization would, and follow every Kustomization it defines, transitively.
//!
//! Each Kustomization is rendered once its source and its `substituteFrom` objects are known (they
//! may be defined by a Kustomization rendered later); when nothing more can progress, what is left
//! is rendered with what is known, and the gaps are reported instead of guessed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::Value;
use weir_api::flux::{
    ArtifactGenerator, CrossNamespaceSourceReference, FluxKind, GitRepository, HelmRelease,
    Kustomization, KustomizationSpec, Resource,
};
use weir_api::{ObjectKey, ObjectMeta};
use weir_graph::DependencyGraph;
use weir_kustomize::{DiskFs, FileSystem};

use crate::artifact::ArtifactFs;
use crate::render::{self, RenderError, Variables};
use crate::report::{
    Finding, FindingKind, KustomizationReport, ObjectRef, Report, Severity, Status,
};
use crate::validate;

/// The namespace and name Flux's bootstrap gives the root GitRepository and Kustomization.
pub const FLUX_SYSTEM: &str = "flux-system";

#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// The cluster directory (like `clusters/staging`), relative to the repository root; the root
    /// itself when `None`.
    pub cluster: Option<PathBuf>,
    /// The largest file read from the repository, in bytes
    /// ([`DiskFs::DEFAULT_MAX_FILE_SIZE`] when `None`).
    pub max_file_size: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{path}: not a directory")]
    NotADirectory { path: PathBuf },
    #[error("cluster path {path:?} is not a directory inside {root}")]
    BadClusterPath { path: PathBuf, root: PathBuf },
}

/// A checked repository: the report and every Kustomization's rendered objects.
#[derive(Debug, Default)]
pub struct Checked {
    pub report: Report,
    pub rendered: BTreeMap<ObjectKey, Vec<Value>>,
}

/// Checks the repository at `root`.
pub fn check(root: &Path, opts: &CheckOptions) -> Result<Checked, CheckError> {
    // Every read below goes through this: confined to the root (no link leads out), regular files
    // only, each under the size limit (docs/security.md).
    let fs = DiskFs::confined(root)
        .map_err(|_| CheckError::NotADirectory { path: root.into() })?
        .with_max_file_size(opts.max_file_size.unwrap_or(DiskFs::DEFAULT_MAX_FILE_SIZE));
    let root = fs.root().map(Path::to_path_buf).unwrap_or_default();
    let cluster_rel = opts.cluster.clone().unwrap_or_default();
    let cluster_dir = render::build_dir(&root, cluster_rel.to_str())
        .ok()
        .filter(|d| fs.is_dir(d))
        .ok_or_else(|| CheckError::BadClusterPath {
            path: cluster_rel.clone(),
            root: root.clone(),
        })?;
    let rel = cluster_dir
        .strip_prefix(&root)
        .expect("build_dir stays in root");
    let mut walk = Walk::new(root.clone(), fs);
    walk.add_node(root_kustomization(rel), None);
    walk.run();
    Ok(walk.finish())
}

/// The Kustomization that `flux bootstrap` would create to sync the cluster directory.
fn root_kustomization(cluster_rel: &Path) -> Kustomization {
    let path = if cluster_rel.as_os_str().is_empty() {
        "./".to_string()
    } else {
        format!("./{}", cluster_rel.display())
    };
    Resource {
        api_version: "kustomize.toolkit.fluxcd.io/v1".into(),
        kind: "Kustomization".into(),
        metadata: ObjectMeta {
            name: FLUX_SYSTEM.into(),
            namespace: Some(FLUX_SYSTEM.into()),
            ..Default::default()
        },
        spec: KustomizationSpec {
            source_ref: CrossNamespaceSourceReference {
                kind: "GitRepository".into(),
                name: FLUX_SYSTEM.into(),
                ..Default::default()
            },
            path: Some(path),
            prune: true,
            ..Default::default()
        },
    }
}

struct Node {
    key: ObjectKey,
    ks: Kustomization,
    defined_by: Option<ObjectKey>,
    /// `None` while pending.
    status: Option<Status>,
    source_label: String,
    objects: Vec<Value>,
}

/// Where a Kustomization's files come from, offline.
enum SourceTree {
    /// This repository (the GitRepository that syncs it).
    Repository,
    /// An ExternalArtifact assembled from this repository by an ArtifactGenerator.
    Artifact(Box<ArtifactFs>, String),
    /// A source defined in the repository but fetched from elsewhere.
    Remote(String),
    /// No object of that kind and name is defined in the repository.
    Undefined,
    /// The source is defined but cannot be assembled (bad ArtifactGenerator).
    Broken(String),
}

type Gk = (String, String); // (group, kind)

struct Walk {
    root: PathBuf,
    /// The repository, confined to `root`.
    fs: DiskFs,
    nodes: Vec<Node>,
    index: BTreeMap<ObjectKey, usize>,
    /// Flux source objects by kind and key.
    sources: BTreeMap<(FluxKind, ObjectKey), Value>,
    generators: Vec<ArtifactGenerator>,
    helm_releases: Vec<(HelmRelease, ObjectKey)>,
    /// ConfigMap and Secret data (decoded), for `substituteFrom`.
    config: BTreeMap<(String, ObjectKey), BTreeMap<String, String>>,
    /// Which Kustomization applies each object first.
    owners: BTreeMap<(Gk, ObjectKey), ObjectKey>,
    findings: Vec<Finding>,
}

fn ks_label(key: &ObjectKey) -> String {
    format!("Kustomization/{}/{}", key.namespace, key.name)
}

fn group_of(api_version: &str) -> String {
    weir_api::object::group_of(api_version).to_string()
}

fn object_ref(obj: &Value) -> ObjectRef {
    ObjectRef {
        api_version: obj["apiVersion"].as_str().unwrap_or_default().into(),
        kind: obj["kind"].as_str().unwrap_or_default().into(),
        namespace: obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .into(),
        name: obj["metadata"]["name"].as_str().unwrap_or_default().into(),
    }
}

impl Walk {
    fn new(root: PathBuf, fs: DiskFs) -> Self {
        Walk {
            root,
            fs,
            nodes: Vec::new(),
            index: BTreeMap::new(),
            sources: BTreeMap::new(),
            generators: Vec::new(),
            helm_releases: Vec::new(),
            config: BTreeMap::new(),
            owners: BTreeMap::new(),
            findings: Vec::new(),
        }
    }

    fn finding(&mut self, severity: Severity, kind: FindingKind, object: String, message: String) {
        self.findings.push(Finding {
            severity,
            kind,
            object,
            message,
        });
    }

    fn add_node(&mut self, ks: Kustomization, defined_by: Option<ObjectKey>) {
        let key = ObjectKey::new(
            ks.metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            ks.metadata.name.clone(),
        );
        if self.index.contains_key(&key) {
            // The bootstrap's own flux-system Kustomization re-declares the root: same object.
            return;
        }
        let src = &ks.spec.source_ref;
        let source_label = format!(
            "{}/{}/{}",
            src.kind,
            src.namespace
                .clone()
                .unwrap_or_else(|| key.namespace.clone()),
            src.name
        );
        self.index.insert(key.clone(), self.nodes.len());
        self.nodes.push(Node {
            key,
            ks,
            defined_by,
            status: None,
            source_label,
            objects: Vec::new(),
        });
    }

    fn run(&mut self) {
        loop {
            let mut progressed = false;
            let mut i = 0;
            while i < self.nodes.len() {
                if self.nodes[i].status.is_none() && self.is_ready(i) {
                    self.process(i);
                    progressed = true;
                }
                i += 1;
            }
            if progressed {
                continue;
            }
            // Stalled: render the first pending node with what is known, then try the rest again.
            match self.nodes.iter().position(|n| n.status.is_none()) {
                Some(i) => self.process(i),
                None => break,
            }
        }
    }

    /// Ready when the source is known and every required `substituteFrom` object has been seen.
    fn is_ready(&self, i: usize) -> bool {
        let node = &self.nodes[i];
        if matches!(
            self.resolve_source(&node.ks, &node.key),
            SourceTree::Undefined
        ) {
            return false;
        }
        let Some(pb) = &node.ks.spec.post_build else {
            return true;
        };
        pb.substitute_from.iter().all(|r| {
            r.optional
                || self
                    .config
                    .contains_key(&(r.kind.clone(), ObjectKey::new(&node.key.namespace, &r.name)))
        })
    }

    fn source_key(&self, src: &CrossNamespaceSourceReference, ns: &str) -> ObjectKey {
        ObjectKey::new(
            src.namespace.clone().unwrap_or_else(|| ns.to_string()),
            src.name.clone(),
        )
    }

    /// Whether a GitRepository is the one this repository is synced by.
    fn is_local_git(&self, key: &ObjectKey) -> bool {
        let root_key = ObjectKey::new(FLUX_SYSTEM, FLUX_SYSTEM);
        if *key == root_key {
            return true;
        }
        let (Some(root), Some(this)) = (
            self.sources.get(&(FluxKind::GitRepository, root_key)),
            self.sources.get(&(FluxKind::GitRepository, key.clone())),
        ) else {
            return false;
        };
        let parse = |v: &Value| serde_json::from_value::<GitRepository>(v.clone()).ok();
        match (parse(root), parse(this)) {
            (Some(r), Some(t)) => r.spec.url == t.spec.url && r.spec.reference == t.spec.reference,
            _ => false,
        }
    }

    fn resolve_source(&self, ks: &Kustomization, key: &ObjectKey) -> SourceTree {
        let src = &ks.spec.source_ref;
        let skey = self.source_key(src, &key.namespace);
        match src.kind.as_str() {
            "GitRepository" => {
                if self.is_local_git(&skey) {
                    SourceTree::Repository
                } else if let Some(v) = self.sources.get(&(FluxKind::GitRepository, skey)) {
                    SourceTree::Remote(
                        v["spec"]["url"]
                            .as_str()
                            .unwrap_or("an unknown URL")
                            .to_string(),
                    )
                } else {
                    SourceTree::Undefined
                }
            }
            "ExternalArtifact" => self.resolve_external_artifact(&skey),
            kind => {
                let fk = FluxKind::of("source.toolkit.fluxcd.io/v1", kind);
                match fk.and_then(|k| self.sources.get(&(k, skey))) {
                    Some(v) => SourceTree::Remote(
                        v["spec"]["url"]
                            .as_str()
                            .unwrap_or("an unknown URL")
                            .to_string(),
                    ),
                    None => SourceTree::Undefined,
                }
            }
        }
    }

    fn resolve_external_artifact(&self, key: &ObjectKey) -> SourceTree {
        let Some((generator, artifact)) = self.generators.iter().find_map(|g| {
            let ns = g.metadata.namespace.as_deref().unwrap_or("default");
            (ns == key.namespace)
                .then(|| {
                    g.spec
                        .artifacts
                        .iter()
                        .find(|a| a.name == key.name)
                        .map(|a| (g, a))
                })
                .flatten()
        }) else {
            return SourceTree::Undefined;
        };
        let ns = generator
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let mut aliases = BTreeMap::new();
        for s in &generator.spec.sources {
            let skey = ObjectKey::new(
                s.namespace.clone().unwrap_or_else(|| ns.clone()),
                s.name.clone(),
            );
            if s.kind == "GitRepository" && self.is_local_git(&skey) {
                aliases.insert(s.alias.clone(), self.root.clone());
            } else if artifact
                .copy
                .iter()
                .any(|c| c.from.starts_with(&format!("@{}/", s.alias)))
            {
                return SourceTree::Remote(format!(
                    "{} {skey} (via ArtifactGenerator {ns}/{})",
                    s.kind, generator.metadata.name
                ));
            }
        }
        match ArtifactFs::from_copies(&artifact.copy, &aliases) {
            Ok(fs) => SourceTree::Artifact(
                Box::new(fs),
                format!("ArtifactGenerator {ns}/{}", generator.metadata.name),
            ),
            Err(e) => SourceTree::Broken(format!(
                "ArtifactGenerator {ns}/{} artifact {}: {e}",
                generator.metadata.name, artifact.name
            )),
        }
    }

    fn variables(&mut self, i: usize) -> Variables {
        let node = &self.nodes[i];
        let mut vars = Variables {
            values: BTreeMap::new(),
            complete: true,
        };
        let Some(pb) = node.ks.spec.post_build.clone() else {
            return vars;
        };
        let label = ks_label(&node.key);
        let ns = node.key.namespace.clone();
        for r in &pb.substitute_from {
            match self
                .config
                .get(&(r.kind.clone(), ObjectKey::new(&ns, &r.name)))
            {
                Some(data) => vars
                    .values
                    .extend(data.iter().map(|(k, v)| (k.clone(), v.replace('\n', "")))),
                None if r.optional => {}
                None => {
                    vars.complete = false;
                    self.finding(
                        Severity::Warning,
                        FindingKind::SourceUnavailable,
                        label.clone(),
                        format!(
                            "postBuild.substituteFrom {} {ns}/{} is not defined in this repository; variables it may define are not checked (mark it optional: true if it may be absent)",
                            r.kind, r.name
                        ),
                    );
                }
            }
        }
        for (k, v) in &pb.substitute {
            vars.values.insert(k.clone(), v.replace('\n', ""));
        }
        vars
    }

    fn process(&mut self, i: usize) {
        let (ks, key) = (self.nodes[i].ks.clone(), self.nodes[i].key.clone());
        let label = ks_label(&key);
        let source_label = self.nodes[i].source_label.clone();
        let tree = self.resolve_source(&ks, &key);
        let result = match tree {
            SourceTree::Repository => {
                let vars = self.variables(i);
                render::render(&self.fs, &self.root, &ks, &vars).map_err(|e| (e, None))
            }
            SourceTree::Artifact(fs, origin) => {
                let vars = self.variables(i);
                render::render(fs.as_ref(), &ArtifactFs::root(), &ks, &vars)
                    .map_err(|e| (e, Some(origin)))
            }
            SourceTree::Remote(url) => {
                self.finding(
                    Severity::Warning,
                    FindingKind::SourceUnavailable,
                    label,
                    format!("source {source_label} is fetched from {url}: not checked offline"),
                );
                self.nodes[i].status = Some(Status::NotChecked);
                return;
            }
            SourceTree::Undefined => {
                self.finding(
                    Severity::Warning,
                    FindingKind::SourceUnavailable,
                    label,
                    format!("source {source_label} is not defined in this repository: not checked offline"),
                );
                self.nodes[i].status = Some(Status::NotChecked);
                return;
            }
            SourceTree::Broken(message) => {
                self.finding(Severity::Error, FindingKind::BuildError, label, message);
                self.nodes[i].status = Some(Status::Failed);
                return;
            }
        };
        match result {
            Ok(objects) => {
                self.nodes[i].status = Some(Status::Ok);
                self.ingest(i, &objects);
                self.nodes[i].objects = objects;
            }
            Err((RenderError::Substitute(errors), _)) => {
                for e in errors {
                    self.finding(
                        Severity::Error,
                        FindingKind::UnresolvedVariable,
                        label.clone(),
                        format!("{e} (define it in spec.postBuild.substitute or substituteFrom, or give a default: ${{var:=value}})"),
                    );
                }
                self.nodes[i].status = Some(Status::Failed);
            }
            Err((RenderError::BadVariableName { name }, _)) => {
                self.finding(
                    Severity::Error,
                    FindingKind::UnresolvedVariable,
                    label,
                    format!("postBuild.substitute variable {name:?} is not a valid name (letters, digits and '_', not starting with a digit)"),
                );
                self.nodes[i].status = Some(Status::Failed);
            }
            Err((e, origin)) => {
                let message = self.relative_message(&e.to_string(), origin.as_deref());
                let path = ks.spec.path.clone().unwrap_or_else(|| "./".into());
                self.finding(
                    Severity::Error,
                    FindingKind::BuildError,
                    label,
                    format!("building {path} from {source_label}: {message}"),
                );
                self.nodes[i].status = Some(Status::Failed);
            }
        }
    }

    /// Paths in messages relative to the repository (or named after the artifact they are in).
    fn relative_message(&self, message: &str, origin: Option<&str>) -> String {
        let root = format!("{}/", self.root.display());
        let mut m = message.replace(&root, "");
        if let Some(origin) = origin {
            m = m.replace(
                &format!("{}/", crate::artifact::ARTIFACT_MOUNT),
                &format!("[{origin}] "),
            );
        }
        m
    }

    /// Records what a rendered Kustomization applies: ownership, Flux objects, configuration data.
    fn ingest(&mut self, i: usize, objects: &[Value]) {
        let owner = self.nodes[i].key.clone();
        let label = ks_label(&owner);
        for obj in objects {
            let problems = validate::problems(obj);
            if !problems.is_empty() {
                let r = object_ref(obj);
                self.finding(
                    Severity::Error,
                    FindingKind::InvalidObject,
                    label.clone(),
                    format!("{}: {}", describe(&r), problems.join("; ")),
                );
                continue;
            }
            let r = object_ref(obj);
            let id = (
                (group_of(&r.api_version), r.kind.clone()),
                ObjectKey::new(&r.namespace, &r.name),
            );
            match self.owners.get(&id) {
                Some(first) if *first != owner => {
                    let first = first.clone();
                    let (fp, op) = (self.path_of(&first), self.path_of(&owner));
                    self.finding(
                        Severity::Error,
                        FindingKind::DuplicateObject,
                        label.clone(),
                        format!(
                            "{} is applied by both Kustomization {first} ({fp}) and {owner} ({op}); each object must have one owner or they overwrite each other and prune deletes it",
                            describe(&r)
                        ),
                    );
                }
                Some(_) => {}
                None => {
                    self.owners.insert(id, owner.clone());
                }
            }
            self.ingest_flux_object(obj, &r, &owner);
        }
    }

    fn path_of(&self, key: &ObjectKey) -> String {
        self.index
            .get(key)
            .and_then(|&i| self.nodes[i].ks.spec.path.clone())
            .unwrap_or_else(|| "./".into())
    }

    fn ingest_flux_object(&mut self, obj: &Value, r: &ObjectRef, owner: &ObjectKey) {
        let ns = if r.namespace.is_empty() {
            "default".to_string()
        } else {
            r.namespace.clone()
        };
        let key = ObjectKey::new(&ns, &r.name);
        if r.api_version == "v1" && (r.kind == "ConfigMap" || r.kind == "Secret") {
            self.config.insert((r.kind.clone(), key), config_data(obj));
            return;
        }
        let Some(kind) = FluxKind::of(&r.api_version, &r.kind) else {
            return;
        };
        let label = ks_label(owner);
        let typed_err = |e: serde_json::Error| format!("{} {key}: {e}", kind.as_str());
        match kind {
            FluxKind::Kustomization => match serde_json::from_value::<Kustomization>(obj.clone()) {
                Ok(mut ks) => {
                    ks.metadata.namespace = Some(ns);
                    self.add_node(ks, Some(owner.clone()));
                }
                Err(e) => self.finding(
                    Severity::Error,
                    FindingKind::InvalidObject,
                    label,
                    typed_err(e),
                ),
            },
            FluxKind::ArtifactGenerator => {
                match serde_json::from_value::<ArtifactGenerator>(obj.clone()) {
                    Ok(mut g) => {
                        g.metadata.namespace = Some(ns);
                        self.generators.push(g);
                    }
                    Err(e) => self.finding(
                        Severity::Error,
                        FindingKind::InvalidObject,
                        label,
                        typed_err(e),
                    ),
                }
            }
            FluxKind::HelmRelease => match serde_json::from_value::<HelmRelease>(obj.clone()) {
                Ok(mut hr) => {
                    hr.metadata.namespace = Some(ns);
                    self.helm_releases.push((hr, owner.clone()));
                }
                Err(e) => self.finding(
                    Severity::Error,
                    FindingKind::InvalidObject,
                    label,
                    typed_err(e),
                ),
            },
            _ => {
                self.sources.insert((kind, key), obj.clone());
            }
        }
    }

    fn finish(mut self) -> Checked {
        self.check_helm_releases();
        let mut graph = DependencyGraph::new();
        for n in &self.nodes {
            graph.add(
                n.key.clone(),
                n.ks.spec.depends_on.iter().map(|d| {
                    ObjectKey::new(
                        d.namespace
                            .clone()
                            .unwrap_or_else(|| n.key.namespace.clone()),
                        d.name.clone(),
                    )
                }),
            );
        }
        for m in graph.missing() {
            self.finding(
                Severity::Error,
                FindingKind::MissingDependency,
                ks_label(&m.dependant),
                format!(
                    "dependsOn {} names a Kustomization that no Kustomization in this repository defines{}",
                    m.missing,
                    suggestion(&m.missing, self.nodes.iter().map(|n| &n.key))
                ),
            );
        }
        for c in graph.cycles() {
            let same_ns = c.0.iter().all(|k| k.namespace == c.0[0].namespace);
            let chain: Vec<String> =
                c.0.iter()
                    .map(|k| {
                        if same_ns {
                            k.name.clone()
                        } else {
                            k.to_string()
                        }
                    })
                    .collect();
            self.finding(
                Severity::Error,
                FindingKind::Cycle,
                ks_label(&c.0[0]),
                format!(
                    "dependsOn cycle: {} (none of these can ever become ready; remove one dependsOn entry of the chain)",
                    chain.join(" -> ")
                ),
            );
        }
        let order = graph.order();
        let mut findings = std::mem::take(&mut self.findings);
        findings
            .sort_by(|a, b| (a.severity, a.kind, &a.object).cmp(&(b.severity, b.kind, &b.object)));
        let mut rendered = BTreeMap::new();
        // People read the table in apply order; blocked Kustomizations last, in discovery order.
        let position: BTreeMap<&ObjectKey, usize> =
            order.flatten().enumerate().map(|(i, k)| (k, i)).collect();
        let mut nodes = std::mem::take(&mut self.nodes);
        nodes.sort_by_key(|n| position.get(&n.key).copied().unwrap_or(usize::MAX));
        let kustomizations = nodes
            .into_iter()
            .map(|n| {
                let mut objects: Vec<ObjectRef> = n.objects.iter().map(object_ref).collect();
                objects.sort();
                let report = KustomizationReport {
                    name: n.key.name.clone(),
                    namespace: n.key.namespace.clone(),
                    path: n.ks.spec.path.clone().unwrap_or_else(|| "./".into()),
                    source: n.source_label,
                    depends_on: n
                        .ks
                        .spec
                        .depends_on
                        .iter()
                        .map(|d| {
                            format!(
                                "{}/{}",
                                d.namespace.as_deref().unwrap_or(&n.key.namespace),
                                d.name
                            )
                        })
                        .collect(),
                    objects,
                    status: n.status.unwrap_or(Status::NotChecked),
                    defined_by: n.defined_by.map(|k| k.to_string()),
                };
                rendered.insert(n.key, n.objects);
                report
            })
            .collect();
        Checked {
            report: Report {
                kustomizations,
                findings,
                order: order.flatten().map(ToString::to_string).collect(),
            },
            rendered,
        }
    }

    /// HelmReleases: charts are not rendered offline (a warning each), dependencies must exist.
    fn check_helm_releases(&mut self) {
        let keys: BTreeSet<ObjectKey> = self
            .helm_releases
            .iter()
            .map(|(hr, _)| {
                ObjectKey::new(
                    hr.metadata.namespace.clone().unwrap_or_default(),
                    hr.metadata.name.clone(),
                )
            })
            .collect();
        let mut graph = DependencyGraph::new();
        let releases = std::mem::take(&mut self.helm_releases);
        for (hr, owner) in &releases {
            let ns = hr.metadata.namespace.clone().unwrap_or_default();
            let key = ObjectKey::new(&ns, &hr.metadata.name);
            let label = format!("HelmRelease/{ns}/{}", hr.metadata.name);
            let chart = match (&hr.spec.chart, &hr.spec.chart_ref) {
                (Some(c), _) => format!(
                    "chart {}{} from {} {}",
                    c.spec.chart,
                    c.spec
                        .version
                        .as_deref()
                        .map(|v| format!("@{v}"))
                        .unwrap_or_default(),
                    c.spec.source_ref.kind,
                    self.source_key(&c.spec.source_ref, &ns)
                ),
                (None, Some(r)) => format!("chart from {} {}", r.kind, self.source_key(r, &ns)),
                (None, None) => {
                    self.finding(
                        Severity::Error,
                        FindingKind::InvalidObject,
                        label.clone(),
                        format!("defined by Kustomization {owner}: spec.chart or spec.chartRef is required"),
                    );
                    continue;
                }
            };
            self.finding(
                Severity::Warning,
                FindingKind::SourceUnavailable,
                label,
                format!("{chart}: Helm charts are not rendered offline"),
            );
            graph.add(
                key,
                hr.spec.depends_on.iter().map(|d| {
                    ObjectKey::new(
                        d.namespace.clone().unwrap_or_else(|| ns.clone()),
                        d.name.clone(),
                    )
                }),
            );
        }
        for m in graph.missing() {
            self.finding(
                Severity::Error,
                FindingKind::MissingDependency,
                format!("HelmRelease/{}/{}", m.dependant.namespace, m.dependant.name),
                format!(
                    "dependsOn {} names a HelmRelease that this repository does not define{}",
                    m.missing,
                    suggestion(&m.missing, keys.iter())
                ),
            );
        }
        for c in graph.cycles() {
            let chain: Vec<String> = c.0.iter().map(ToString::to_string).collect();
            self.finding(
                Severity::Error,
                FindingKind::Cycle,
                format!("HelmRelease/{}/{}", c.0[0].namespace, c.0[0].name),
                format!("dependsOn cycle: {}", chain.join(" -> ")),
            );
        }
    }
}

fn describe(r: &ObjectRef) -> String {
    let kind = if r.kind.is_empty() { "object" } else { &r.kind };
    let name = if r.name.is_empty() {
        "<no name>"
    } else {
        &r.name
    };
    if r.namespace.is_empty() {
        format!("{kind} {name}")
    } else {
        format!("{kind} {}/{name}", r.namespace)
    }
}

/// " (did you mean x?)" when a defined name is close to the missing one.
fn suggestion<'a>(missing: &ObjectKey, known: impl Iterator<Item = &'a ObjectKey>) -> String {
    let best = known
        .map(|k| {
            (
                weir_api::suggest::edit_distance(&k.to_string(), &missing.to_string()),
                k,
            )
        })
        .filter(|(d, _)| *d <= 3)
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, k)) => format!(" (did you mean {k}?)"),
        None => String::new(),
    }
}

/// The string data of a ConfigMap (`data`) or Secret (`data` base64-decoded, then `stringData`).
fn config_data(obj: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let is_secret = obj["kind"] == "Secret";
    if let Some(data) = obj["data"].as_object() {
        for (k, v) in data {
            let Some(s) = v.as_str() else { continue };
            let value = if is_secret {
                base64::engine::general_purpose::STANDARD
                    .decode(s.replace(['\n', ' '], ""))
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
            } else {
                Some(s.to_string())
            };
            if let Some(v) = value {
                out.insert(k.clone(), v);
            }
        }
    }
    if is_secret && let Some(data) = obj["stringData"].as_object() {
        for (k, v) in data {
            if let Some(s) = v.as_str() {
                out.insert(k.clone(), s.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        let known = [ObjectKey::new("flux-system", "infra-configs")];
        assert_eq!(
            suggestion(&ObjectKey::new("flux-system", "infra-config"), known.iter()),
            " (did you mean flux-system/infra-configs?)"
        );
        assert_eq!(
            suggestion(&ObjectKey::new("flux-system", "zzz"), known.iter()),
            ""
        );
    }

    #[test]
    fn secret_data_is_decoded() {
        let s = serde_json::json!({"kind": "Secret", "data": {"a": "aGVsbG8="}, "stringData": {"b": "x"}});
        let d = config_data(&s);
        assert_eq!(d["a"], "hello");
        assert_eq!(d["b"], "x");
    }
}
