//! The offline walk over a GitOps repository: start at the cluster directory, render it as Flux's
//! root Kustomization would, and follow every Kustomization it defines, transitively.
//!
//! Each Kustomization is rendered once its source and its `substituteFrom` objects are known (they
//! may be defined by a Kustomization rendered later); when nothing more can progress, what is left
//! is rendered with what is known, and the gaps are reported instead of guessed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::entry;
use crate::report::{
    Finding, FindingKind, KustomizationReport, ObjectRef, Report, Severity, Status,
};
use crate::validate;
use serde_json::Value;
use weir_api::ObjectKey;
use weir_api::flux::{
    ArtifactGenerator, CrossNamespaceSourceReference, FluxKind, GitRepository, HelmRelease,
    Kustomization,
};
use weir_build::ArtifactFs;
use weir_build::render::{self, Error as RenderError};
use weir_build::variables::{self, Lookup, Variables};
use weir_graph::DependencyGraph;
use weir_kustomize::{DiskFs, FileSystem};

pub use crate::entry::FLUX_SYSTEM;

#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// The cluster directory (like `clusters/staging`), relative to the repository root; the root
    /// itself when `None`.
    pub cluster: Option<PathBuf>,
    /// Other sources checked out locally (`--source NAME=DIR`).
    pub sources: Vec<SourceMapping>,
    /// The largest file read from the repository and the sources, in bytes
    /// ([`DiskFs::DEFAULT_MAX_FILE_SIZE`] when `None`).
    pub max_file_size: Option<u64>,
    /// `--decrypt`: the age identities SOPS-encrypted objects are decrypted with, for every
    /// Kustomization with `spec.decryption` (and the root sync, whose `spec.decryption` usually
    /// comes from a patch in its own directory). `None`: encrypted values stay unknown, and the
    /// variables they define are "not checked offline".
    pub decryption: Option<std::sync::Arc<weir_sops::Identities>>,
}

/// A GitRepository, OCIRepository or Bucket mapped to a local directory:
/// `[KIND/][NAMESPACE/]NAME=DIR` (without a namespace, the name matches in any namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceMapping {
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: String,
    pub dir: PathBuf,
}

impl std::str::FromStr for SourceMapping {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (lhs, dir) = s
            .split_once('=')
            .filter(|(l, d)| !l.is_empty() && !d.is_empty())
            .ok_or_else(|| format!("{s:?}: expected [KIND/][NAMESPACE/]NAME=DIR"))?;
        let parts: Vec<&str> = lhs.split('/').collect();
        let is_kind = |p: &str| matches!(p, "GitRepository" | "OCIRepository" | "Bucket");
        let (kind, namespace, name) = match parts.as_slice() {
            [name] => (None, None, *name),
            [k, name] if is_kind(k) => (Some(*k), None, *name),
            [ns, name] => (None, Some(*ns), *name),
            [k, ns, name] if is_kind(k) => (Some(*k), Some(*ns), *name),
            _ => return Err(format!("{s:?}: expected [KIND/][NAMESPACE/]NAME=DIR")),
        };
        Ok(SourceMapping {
            kind: kind.map(str::to_string),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
            dir: PathBuf::from(dir),
        })
    }
}

impl SourceMapping {
    fn matches(&self, kind: &str, key: &ObjectKey) -> bool {
        self.name == key.name
            && self.kind.as_deref().is_none_or(|k| k == kind)
            && self.namespace.as_deref().is_none_or(|n| n == key.namespace)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{path}: not a directory")]
    NotADirectory { path: PathBuf },
    #[error("cluster path {path:?} is not a directory inside {root}")]
    BadClusterPath { path: PathBuf, root: PathBuf },
    #[error("--source {name}={dir}: not a directory")]
    BadSourceDir { name: String, dir: PathBuf },
}

/// A checked repository: the report and every Kustomization's rendered objects.
#[derive(Debug, Default)]
pub struct Checked {
    pub report: Report,
    pub rendered: BTreeMap<ObjectKey, Vec<Value>>,
}

/// Checks the repository at `root`, starting at the sync of the cluster directory (the
/// Kustomization or FluxInstance the repository defines for it, whatever its name, or the one
/// `flux bootstrap` would create).
pub fn check(root: &Path, opts: &CheckOptions) -> Result<Checked, CheckError> {
    // Every read of a source tree goes through a DiskFs confined to it: no link leads out, regular
    // files only, each under the size limit (docs/security.md).
    let max_file_size = opts.max_file_size.unwrap_or(DiskFs::DEFAULT_MAX_FILE_SIZE);
    let fs = DiskFs::confined(root)
        .map_err(|_| CheckError::NotADirectory { path: root.into() })?
        .with_max_file_size(max_file_size);
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
    let mut mappings = Vec::new();
    for m in &opts.sources {
        let dir = std::fs::canonicalize(&m.dir)
            .ok()
            .filter(|d| d.is_dir())
            .ok_or_else(|| CheckError::BadSourceDir {
                name: m.name.clone(),
                dir: m.dir.clone(),
            })?;
        mappings.push(SourceMapping { dir, ..m.clone() });
    }
    let sync = entry::root_sync(&root, rel);
    let mut walk = Walk::new(root.clone(), sync.source(), mappings);
    walk.max_file_size = max_file_size;
    walk.decryption = opts.decryption.clone();
    walk.add_node(sync.kustomization, None);
    walk.run();
    Ok(walk.finish())
}

/// The cluster a Kustomization applies to: `None` for the cluster Flux runs in, else its
/// `spec.kubeConfig` reference (`Secret/namespace/name`).
fn target_of(ks: &Kustomization, namespace: &str) -> Option<String> {
    let kc = ks.spec.kube_config.as_ref()?;
    for (field, kind) in [("secretRef", "Secret"), ("configMapRef", "ConfigMap")] {
        if let Some(name) = kc[field]["name"].as_str() {
            return Some(format!("{kind}/{namespace}/{name}"));
        }
    }
    Some("spec.kubeConfig".to_string())
}

struct Node {
    key: ObjectKey,
    ks: Kustomization,
    defined_by: Option<ObjectKey>,
    /// `None` while pending.
    status: Option<Status>,
    source_label: String,
    /// The cluster it applies to (`spec.kubeConfig`), `None` for Flux's own.
    target: Option<String>,
    objects: Vec<Value>,
}

/// Where a Kustomization's files come from, offline.
enum SourceTree {
    /// A local directory: this repository (the source that syncs it), or one given with
    /// `--source` (then named).
    Directory(PathBuf, Option<String>),
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
    /// The source of the root sync: the repository itself.
    local: (String, ObjectKey),
    mappings: Vec<SourceMapping>,
    /// The per-file limit of every source tree read.
    max_file_size: u64,
    /// `--decrypt` keys.
    decryption: Option<std::sync::Arc<weir_sops::Identities>>,
    nodes: Vec<Node>,
    index: BTreeMap<ObjectKey, usize>,
    /// Flux source objects by kind and key.
    sources: BTreeMap<(FluxKind, ObjectKey), Value>,
    generators: Vec<ArtifactGenerator>,
    helm_releases: Vec<(HelmRelease, ObjectKey)>,
    /// ConfigMap and Secret objects, for `substituteFrom`.
    config: BTreeMap<(String, ObjectKey), Value>,
    /// Which Kustomization applies each object first, per target cluster.
    owners: BTreeMap<(Option<String>, Gk, ObjectKey), ObjectKey>,
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
    /// The source tree at `dir` (from the root or a `--source` mapping), confined to itself.
    fn confined(&self, dir: &Path, ks: &Kustomization) -> Result<DiskFs, RenderError> {
        DiskFs::confined(dir)
            .map(|fs| fs.with_max_file_size(self.max_file_size))
            .map_err(|_| RenderError::PathNotFound {
                path: ks.spec.path.clone().unwrap_or_default(),
            })
    }

    fn new(root: PathBuf, local: (String, ObjectKey), mappings: Vec<SourceMapping>) -> Self {
        Walk {
            root,
            local,
            mappings,
            max_file_size: DiskFs::DEFAULT_MAX_FILE_SIZE,
            decryption: None,
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
            group: None,
        });
    }

    /// A finding of a kind that repeats (people read them folded into one line).
    fn grouped(&mut self, kind: FindingKind, object: String, message: String, group: &str) {
        self.findings.push(Finding {
            severity: Severity::Warning,
            kind,
            object,
            message,
            group: Some(group.to_string()),
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
        let target = target_of(&ks, &key.namespace);
        self.index.insert(key.clone(), self.nodes.len());
        self.nodes.push(Node {
            key,
            ks,
            defined_by,
            status: None,
            source_label,
            target,
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

    /// Whether a source is the one this repository is synced by (or a GitRepository with the same
    /// URL and ref).
    fn is_local(&self, kind: &str, key: &ObjectKey) -> bool {
        if kind == self.local.0 && *key == self.local.1 {
            return true;
        }
        if kind != "GitRepository" || self.local.0 != "GitRepository" {
            return false;
        }
        let (Some(root), Some(this)) = (
            self.sources
                .get(&(FluxKind::GitRepository, self.local.1.clone())),
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

    /// A local directory for a source: the repository itself, or a `--source` mapping.
    fn local_dir(&self, kind: &str, key: &ObjectKey) -> Option<(PathBuf, Option<String>)> {
        if let Some(m) = self.mappings.iter().find(|m| m.matches(kind, key)) {
            return Some((m.dir.clone(), Some(format!("{kind} {key}"))));
        }
        self.is_local(kind, key).then(|| (self.root.clone(), None))
    }

    fn resolve_source(&self, ks: &Kustomization, key: &ObjectKey) -> SourceTree {
        let src = &ks.spec.source_ref;
        let skey = self.source_key(src, &key.namespace);
        if src.kind == "ExternalArtifact" {
            return self.resolve_external_artifact(&skey);
        }
        if let Some((dir, origin)) = self.local_dir(&src.kind, &skey) {
            return SourceTree::Directory(dir, origin);
        }
        let fk = FluxKind::of("source.toolkit.fluxcd.io/v1", &src.kind);
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
            if let Some((dir, _)) = self.local_dir(&s.kind, &skey) {
                aliases.insert(s.alias.clone(), dir);
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

    /// The postBuild variables from what the repository defines. A required `substituteFrom`
    /// object the repository does not define may be created out of band: a warning, and its
    /// variables are unknown rather than undefined.
    fn variables(&mut self, i: usize) -> Result<Variables, variables::Error> {
        let node = &self.nodes[i];
        let label = ks_label(&node.key);
        let ns = node.key.namespace.clone();
        let mut missing = Vec::new();
        let mut encrypted = Vec::new();
        let vars = variables::resolve(node.ks.spec.post_build.as_ref(), |r| {
            match self
                .config
                .get(&(r.kind.clone(), ObjectKey::new(&ns, &r.name)))
            {
                Some(obj) => {
                    if variables::is_sops_encrypted(obj) {
                        encrypted.push(format!("{} {ns}/{}", r.kind, r.name));
                    }
                    Lookup::Found(obj)
                }
                None if r.optional => Lookup::NotFound,
                None => {
                    missing.push(format!("{} {ns}/{}", r.kind, r.name));
                    Lookup::Unknown
                }
            }
        });
        for m in missing {
            self.grouped(
                FindingKind::SourceUnavailable,
                label.clone(),
                format!(
                    "postBuild.substituteFrom {m} is not defined in this repository; variables it may define are not checked (mark it optional: true if it may be absent)"
                ),
                "substituteFrom objects not in this repository: their variables are not checked",
            );
        }
        let hint = if self.decryption.is_some() {
            " (--decrypt decrypts only the objects of Kustomizations with spec.decryption, as Flux)"
        } else {
            " (pass --decrypt with an age key to check them)"
        };
        for m in encrypted {
            self.grouped(
                FindingKind::SourceUnavailable,
                label.clone(),
                format!(
                    "postBuild.substituteFrom {m} is SOPS-encrypted: the variables it defines are not checked offline{hint}"
                ),
                "SOPS-encrypted substituteFrom values are not checked offline",
            );
        }
        vars
    }

    /// How node `i` renders: with the `--decrypt` keys when it asks for decryption (the root
    /// sync always may: its `spec.decryption` is usually patched in where weir does not look).
    fn render_options(&self, i: usize) -> render::Options {
        let mut opts = render::Options::default();
        if let Some(ids) = &self.decryption {
            let root = self.nodes[i].defined_by.is_none();
            if root || weir_build::decryption::wanted(&self.nodes[i].ks) {
                opts.decryption = Some(ids.clone());
            }
        }
        opts
    }

    fn process(&mut self, i: usize) {
        let (ks, key) = (self.nodes[i].ks.clone(), self.nodes[i].key.clone());
        let opts = self.render_options(i);
        let label = ks_label(&key);
        let source_label = self.nodes[i].source_label.clone();
        let tree = self.resolve_source(&ks, &key);
        let result = match tree {
            SourceTree::Directory(dir, origin) => self
                .variables(i)
                .map_err(RenderError::from)
                .and_then(|vars| {
                    let fs = self.confined(&dir, &ks)?;
                    render::render(&fs, &dir, &ks, &vars, &opts)
                })
                .map_err(|e| (e, origin.map(|o| (o, dir)))),
            SourceTree::Artifact(fs, origin) => self
                .variables(i)
                .map_err(RenderError::from)
                .and_then(|vars| {
                    render::render(fs.as_ref(), &ArtifactFs::root(), &ks, &vars, &opts)
                })
                .map_err(|e| (e, Some((origin, ArtifactFs::root())))),
            SourceTree::Remote(url) => {
                self.grouped(
                    FindingKind::SourceUnavailable,
                    label,
                    format!("source {source_label} is fetched from {url}: not checked offline (check it out and pass --source NAME=DIR)"),
                    "Kustomizations whose source is fetched from elsewhere are not checked offline",
                );
                self.nodes[i].status = Some(Status::NotChecked);
                return;
            }
            SourceTree::Undefined => {
                self.grouped(
                    FindingKind::SourceUnavailable,
                    label,
                    format!("source {source_label} is not defined in this repository: not checked offline"),
                    "Kustomizations whose source is not defined in this repository are not checked offline",
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
            Ok(rendered) => {
                let objects = rendered.objects;
                self.nodes[i].status = Some(Status::Ok);
                self.ingest(i, &objects, false);
                self.nodes[i].objects = objects;
            }
            Err((RenderError::Kustomize(e), _)) if remote_reference(&e).is_some() => {
                let url = remote_reference(&e).unwrap_or_default();
                self.grouped(
                    FindingKind::SourceUnavailable,
                    label,
                    format!("{url} is fetched at build time (remote base or generator URL): not checked offline"),
                    "remote bases and generator URLs are not checked offline",
                );
                self.nodes[i].status = Some(Status::NotChecked);
            }
            Err((RenderError::Substitute { errors, objects }, _)) => {
                for e in errors {
                    let names = e.source.undefined();
                    let message = if names.is_empty() {
                        e.to_string()
                    } else {
                        format!(
                            "{}: undefined variable{} {} (define it in spec.postBuild.substitute or substituteFrom, or give a default: ${{var:=value}})",
                            e.object,
                            if names.len() == 1 { "" } else { "s" },
                            names
                                .iter()
                                .map(|n| format!("${{{n}}}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    self.finding(
                        Severity::Error,
                        FindingKind::UnresolvedVariable,
                        label.clone(),
                        message,
                    );
                }
                self.nodes[i].status = Some(Status::Failed);
                // What the kustomize build produced still counts (ownership, duplicates, listing).
                self.ingest(i, &objects, true);
                self.nodes[i].objects = objects;
            }
            Err((RenderError::BadVariableName { name }, _)) => {
                self.finding(
                    Severity::Error,
                    FindingKind::UnresolvedVariable,
                    label,
                    format!("postBuild variable {name:?} (from spec.postBuild.substitute or a substituteFrom object) is not a valid name: Flux refuses to substitute (letters, digits and '_', not starting with a digit)"),
                );
                self.nodes[i].status = Some(Status::Failed);
            }
            Err((e, origin)) => {
                let message = self.relative_message(&e.to_string(), origin.as_ref());
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

    /// Paths in messages relative to the repository (or named after the artifact or `--source`
    /// directory they are in).
    fn relative_message(&self, message: &str, origin: Option<&(String, PathBuf)>) -> String {
        match origin {
            Some((name, base)) => {
                message.replace(&format!("{}/", base.display()), &format!("[{name}] "))
            }
            None => message.replace(&format!("{}/", self.root.display()), ""),
        }
    }

    /// Records what a rendered Kustomization applies: ownership, Flux objects, configuration data.
    /// `partial`: the objects of a build whose substitution failed; those still holding a
    /// `${...}` reference are only counted when their identity does not depend on it, and are
    /// never followed.
    fn ingest(&mut self, i: usize, objects: &[Value], partial: bool) {
        let owner = self.nodes[i].key.clone();
        let target = self.nodes[i].target.clone();
        let label = ks_label(&owner);
        for obj in objects {
            let unsubstituted = partial && weir_yaml::to_string(obj).contains("${");
            if unsubstituted {
                let r = object_ref(obj);
                if [&r.kind, &r.namespace, &r.name, &r.api_version]
                    .iter()
                    .any(|f| f.contains("${"))
                {
                    continue;
                }
            }
            let problems = if unsubstituted {
                Vec::new()
            } else {
                validate::problems(obj)
            };
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
                target.clone(),
                (group_of(&r.api_version), r.kind.clone()),
                ObjectKey::new(&r.namespace, &r.name),
            );
            match self.owners.get(&id) {
                Some(first) if *first != owner => {
                    let first = first.clone();
                    let (fp, op) = (self.path_of(&first), self.path_of(&owner));
                    let on = target
                        .as_deref()
                        .map(|t| format!(" on the cluster of {t}"))
                        .unwrap_or_default();
                    self.finding(
                        Severity::Error,
                        FindingKind::DuplicateObject,
                        label.clone(),
                        format!(
                            "{}{on} is applied by both Kustomization {first} ({fp}) and {owner} ({op}); each object must have one owner or they overwrite each other and prune deletes it",
                            describe(&r)
                        ),
                    );
                }
                Some(_) => {}
                None => {
                    self.owners.insert(id, owner.clone());
                }
            }
            // Objects applied to another cluster (spec.kubeConfig) are reconciled there, not by
            // this cluster's Flux: they define no source, Kustomization or substitution data here.
            if target.is_none() && !unsubstituted {
                self.ingest_flux_object(obj, &r, &owner);
            }
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
            self.config.insert((r.kind.clone(), key), obj.clone());
            return;
        }
        let Some(kind) = FluxKind::of(&r.api_version, &r.kind) else {
            return;
        };
        let label = ks_label(owner);
        // Flux's kinds are custom resources: the API server drops malformed metadata fields of a
        // custom resource (a label whose value is not a string) instead of refusing the object.
        let coerced = drop_malformed_metadata(obj);
        if coerced.is_some() {
            self.grouped(
                FindingKind::InvalidObject,
                label.clone(),
                format!(
                    "{} {key}: metadata labels or annotations that are not strings are dropped by the API server (quote the values)",
                    kind.as_str()
                ),
                "custom resources with non-string labels or annotations (the API server drops them)",
            );
        }
        let obj = coerced.as_ref().unwrap_or(obj);
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
        let unrendered = self.unrendered();
        for m in graph.missing() {
            let message = format!(
                "dependsOn {} names a Kustomization that no Kustomization in this repository defines{}",
                m.missing,
                suggestion(&m.missing, self.nodes.iter().map(|n| &n.key))
            );
            self.missing_dependency(ks_label(&m.dependant), message, unrendered);
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
                    target: n.target,
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
                waves: order
                    .waves
                    .iter()
                    .map(|w| w.iter().map(ToString::to_string).collect())
                    .collect(),
            },
            rendered,
        }
    }

    /// How many Kustomizations were not rendered (failed or not checked): what they define is
    /// unknown.
    fn unrendered(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.status != Some(Status::Ok))
            .count()
    }

    /// A missing dependency is an error, unless a Kustomization that could not be rendered may
    /// define it: then a warning saying so.
    fn missing_dependency(&mut self, object: String, message: String, unrendered: usize) {
        if unrendered == 0 {
            self.finding(
                Severity::Error,
                FindingKind::MissingDependency,
                object,
                message,
            );
        } else {
            self.finding(
                Severity::Warning,
                FindingKind::MissingDependency,
                object,
                format!(
                    "{message}; {unrendered} Kustomization{} could not be rendered and may define it",
                    if unrendered == 1 { "" } else { "s" }
                ),
            );
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
            self.grouped(
                FindingKind::SourceUnavailable,
                label,
                format!("{chart}: Helm charts are not rendered offline"),
                "Helm charts are not rendered offline",
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
        let unrendered = self.unrendered();
        for m in graph.missing() {
            let message = format!(
                "dependsOn {} names a HelmRelease that this repository does not define{}",
                m.missing,
                suggestion(&m.missing, keys.iter())
            );
            self.missing_dependency(
                format!("HelmRelease/{}/{}", m.dependant.namespace, m.dependant.name),
                message,
                unrendered,
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

/// `obj` without the `metadata.labels`/`annotations` maps that hold a value other than a string
/// (what the API server does with a custom resource); `None` when nothing is malformed.
fn drop_malformed_metadata(obj: &Value) -> Option<Value> {
    let malformed = |f: &str| {
        obj["metadata"][f]
            .as_object()
            .is_some_and(|m| m.values().any(|v| !v.is_string()))
    };
    let bad: Vec<&str> = ["labels", "annotations"]
        .into_iter()
        .filter(|f| malformed(f))
        .collect();
    if bad.is_empty() {
        return None;
    }
    let mut copy = obj.clone();
    if let Some(md) = copy["metadata"].as_object_mut() {
        for f in bad {
            md.remove(f);
        }
    }
    Some(copy)
}

/// The URL of a remote base or generator URL that made a build fail offline.
fn remote_reference(e: &weir_kustomize::Error) -> Option<String> {
    use weir_kustomize::ErrorKind;
    match &e.kind {
        ErrorKind::RemoteUnsupported { url, .. } | ErrorKind::RemoteDisabled { url, .. } => {
            Some(url.clone())
        }
        // A URL in a generator's `files:` is read as a path (`https:/host/...`).
        ErrorKind::NotFound { path, .. } => {
            let p = path.to_string_lossy();
            ["https:/", "http:/"].iter().find_map(|scheme| {
                p.find(scheme)
                    .map(|at| p[at..].replacen(scheme, &format!("{scheme}/"), 1))
            })
        }
        _ => None,
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
}
