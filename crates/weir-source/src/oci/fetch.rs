//! Fetching an OCIRepository: resolve the reference, skip when unchanged, otherwise download the
//! selected layer (digest verified), unpack it safely and store the artifact.

use std::{
    collections::HashMap,
    io::{BufReader, BufWriter, Write},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use weir_api::{
    Digest,
    flux::{OCILayerSelector, OCIRepositoryRef, OCIRepositorySpec},
};

use super::{
    Error,
    auth::OciCredentials,
    manifest::Manifest,
    reference::{OciUrl, Selector, Target, best_semver_tag, oci_revision, similar_tags},
    registry::{FetchedManifest, RegistryClient, Session},
};
use crate::{
    archive,
    clock::Clock,
    coalesce::{Role, SingleFlight},
    extract,
    fetch::Outcome,
    ignore::Excludes,
    metrics::inc,
    progress::Progress,
    reference::Revision,
    remote::Control,
    store::{self, Artifact, ArtifactStore},
    tree::{BlobTooLarge, DirTree},
};

/// One OCIRepository's fetch, owned (it crosses into a blocking task).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct OciSource {
    /// `spec.url`: `oci://host/repository`.
    pub url: String,
    /// `spec.ref`.
    pub reference: Option<OCIRepositoryRef>,
    /// `spec.layerSelector`.
    pub layer_selector: Option<OCILayerSelector>,
    /// `spec.ignore`.
    pub ignore: Option<String>,
    /// `spec.insecure`: plain HTTP.
    pub insecure: bool,
    /// `spec.provider` (`generic` or unset is supported).
    pub provider: Option<String>,
    /// `spec.verify`: the provider and the public keys of its `secretRef` (PEM, `*.pub` keys).
    pub verify: Option<Verify>,
    /// `status.artifact.revision`.
    pub last_revision: Option<String>,
    /// The object's key in the store's history (`OCIRepository/<namespace>/<name>`).
    pub object: Option<String>,
}

impl OciSource {
    /// The source of OCIRepository `namespace/name` with `spec`, last fetched at `last_revision`.
    pub fn of(
        namespace: &str,
        name: &str,
        spec: &OCIRepositorySpec,
        last_revision: Option<&str>,
    ) -> Self {
        OciSource {
            url: spec.url.clone(),
            reference: spec.reference.clone(),
            layer_selector: spec.layer_selector.clone(),
            ignore: spec.ignore.clone(),
            insecure: spec.insecure,
            provider: spec.provider.clone(),
            verify: spec.verify.as_ref().map(|v| Verify {
                provider: v
                    .get("provider")
                    .and_then(|p| p.as_str())
                    .unwrap_or("cosign")
                    .to_owned(),
                keys: Vec::new(),
            }),
            last_revision: last_revision.map(str::to_owned),
            object: Some(format!("OCIRepository/{namespace}/{name}")),
        }
    }
}

/// `spec.verify` with the keys read from its Secret.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Verify {
    /// `cosign` (default) or `notation`.
    pub provider: String,
    /// PEM public keys; empty means keyless verification.
    pub keys: Vec<Vec<u8>>,
}

/// Knobs of an [`OciFetcher`].
#[derive(Clone, Copy, Debug)]
pub struct OciOptions {
    /// Deadline of one fetch (`spec.timeout`, default 60 s).
    pub timeout: Duration,
    /// How long a resolved manifest digest is reused for other objects of the same URL, reference
    /// and credentials (zero: every poll asks the registry).
    pub resolve_ttl: Duration,
    /// Artifacts kept per object.
    pub keep_artifacts: usize,
    /// What a layer may unpack to.
    pub extract_limits: extract::Limits,
    /// The largest file of a layer re-archived (memory of the archiver grows with it).
    pub max_file_size: u64,
}

impl Default for OciOptions {
    fn default() -> Self {
        OciOptions {
            timeout: Duration::from_secs(60),
            resolve_ttl: Duration::ZERO,
            keep_artifacts: 2,
            extract_limits: extract::Limits::default(),
            max_file_size: crate::client::DEFAULT_MAX_BLOB_SIZE,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Operation {
    Extract,
    Copy,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct ResolveKey {
    url: String,
    insecure: bool,
    credentials: [u8; 32],
    target: Target,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct FetchKey {
    url: String,
    insecure: bool,
    credentials: [u8; 32],
    manifest: String,
    media_type: Option<String>,
    operation: Operation,
    ignore: Option<String>,
}

/// Fetches OCIRepositories into an [`ArtifactStore`]; share one per process.
pub struct OciFetcher {
    client: RegistryClient,
    store: Arc<ArtifactStore>,
    clock: Arc<dyn Clock>,
    options: OciOptions,
    resolved: Mutex<HashMap<ResolveKey, (Duration, String)>>,
    resolve_flights: SingleFlight<ResolveKey, Result<(String, Option<FetchedManifest>), Error>>,
    fetch_flights: SingleFlight<FetchKey, Result<Artifact, Error>>,
}

impl OciFetcher {
    /// A fetcher over `client`, storing into `store`.
    pub fn new(
        client: RegistryClient,
        store: Arc<ArtifactStore>,
        clock: Arc<dyn Clock>,
        options: OciOptions,
    ) -> Self {
        OciFetcher {
            client,
            store,
            clock,
            options,
            resolved: Mutex::new(HashMap::new()),
            resolve_flights: SingleFlight::default(),
            fetch_flights: SingleFlight::default(),
        }
    }

    /// The registry client (budgets, metrics).
    pub fn client(&self) -> &RegistryClient {
        &self.client
    }

    /// The store.
    pub fn store(&self) -> &Arc<ArtifactStore> {
        &self.store
    }

    /// Resolves `source.reference`; answers [`Outcome::Unchanged`] when the revision is
    /// `source.last_revision` (one manifest `HEAD`, none for a digest ref), else downloads the
    /// selected layer and stores the artifact.
    ///
    /// # Guarantees
    /// - No artifact is visible until it is whole; a blob whose bytes do not match its digest, or a
    ///   layer that is not a safe `tar.gz`, stores nothing.
    /// - Concurrent calls for the same URL, reference and credentials make one set of requests.
    /// - Nothing runs past `OciOptions::timeout`; raising `interrupt` stops at the next read.
    pub fn fetch(
        &self,
        source: &OciSource,
        credentials: &OciCredentials,
        interrupt: &Arc<AtomicBool>,
        progress: Arc<dyn Progress>,
    ) -> Result<Outcome, Error> {
        let url = OciUrl::parse(&source.url).map_err(|e| Error::InvalidUrl {
            url: source.url.clone(),
            reason: e.reason.to_owned(),
        })?;
        let shown = url.to_url();
        match source.provider.as_deref() {
            None | Some("") | Some("generic") => {}
            Some(p) => {
                return Err(Error::Unsupported {
                    url: shown,
                    what: format!("spec.provider {p:?} (cloud workload identity)"),
                    hint: Some(
                        "use provider: generic with a dockerconfigjson secretRef holding a registry token".into(),
                    ),
                });
            }
        }
        let keys = match &source.verify {
            None => None,
            Some(v) if v.provider != "cosign" => {
                return Err(Error::Unsupported {
                    url: shown,
                    what: format!("spec.verify.provider {:?}", v.provider),
                    hint: Some("only cosign with public keys is supported".into()),
                });
            }
            Some(v) if v.keys.is_empty() => {
                return Err(Error::Unsupported {
                    url: shown,
                    what: "keyless spec.verify (cosign OIDC identities need the internet)".into(),
                    hint: Some(
                        "set spec.verify.secretRef to a Secret holding cosign public keys (*.pub)"
                            .into(),
                    ),
                });
            }
            Some(v) => Some(
                v.keys
                    .iter()
                    .map(|k| super::verify::PublicKey::from_pem(k))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| Error::InvalidSpec {
                        url: shown.clone(),
                        reason: format!("spec.verify.secretRef: {e}"),
                    })?,
            ),
        };
        let invalid = |reason: String| Error::InvalidSpec {
            url: shown.clone(),
            reason,
        };
        let selector =
            Selector::of(source.reference.as_ref()).map_err(|e| invalid(e.to_string()))?;
        let media_type = source
            .layer_selector
            .as_ref()
            .and_then(|l| l.media_type.clone())
            .filter(|m| !m.is_empty());
        let operation = match source
            .layer_selector
            .as_ref()
            .and_then(|l| l.operation.as_deref())
        {
            None | Some("") | Some("extract") => Operation::Extract,
            Some("copy") => Operation::Copy,
            Some(other) => {
                return Err(invalid(format!(
                    "layerSelector.operation {other:?} is not one of extract, copy"
                )));
            }
        };
        let control = Control::new(self.options.timeout, interrupt.clone(), progress);
        let session = self
            .client
            .session(&url, credentials, source.insecure, false, &control)?;
        let (tag, target) = match &selector {
            Selector::Digest(d) => (None, Target::Digest(d.clone())),
            Selector::Tag(t) => (Some(t.clone()), Target::Tag(t.clone())),
            Selector::Semver { range, filter } => {
                let tags = session.list_tags()?;
                let tag = best_semver_tag(&tags, range, filter.as_deref()).map_err(|reason| {
                    Error::NoSemverMatch {
                        url: shown.clone(),
                        reason,
                    }
                })?;
                (Some(tag.clone()), Target::Tag(tag))
            }
        };
        // Resolve the manifest digest: free for a digest ref, one HEAD when there is a revision to
        // compare with, else the GET that the download needs anyway.
        let key = ResolveKey {
            url: shown.clone(),
            insecure: source.insecure,
            credentials: credentials.fingerprint(),
            target: target.clone(),
        };
        let (digest, manifest) = match &target {
            Target::Digest(d) => (d.clone(), None),
            Target::Tag(t) => self
                .resolve(&session, &key, source.last_revision.is_some(), &control)
                .map_err(|e| match e {
                    Error::NotFound { url, what, .. } if what.starts_with("tag ") => {
                        // Only on failure: one more request, for near names.
                        let similar = session
                            .list_tags()
                            .map(|tags| similar_tags(&tags, t))
                            .unwrap_or_default();
                        Error::NotFound { url, what, similar }
                    }
                    other => other,
                })?,
        };
        let revision_text = oci_revision(tag.as_deref(), &digest);
        let revision = Revision {
            reference: tag.clone(),
            digest: Digest::sha256(digest.trim_start_matches("sha256:")),
        };
        if source.last_revision.as_deref() == Some(revision_text.as_str()) {
            inc(&self.client.metrics().fetches_skipped_unchanged);
            return Ok(Outcome::Unchanged { revision });
        }
        if let Some(keys) = &keys {
            verify_signature(&session, &digest, keys)?;
        }
        let fetch_key = FetchKey {
            url: shown.clone(),
            insecure: source.insecure,
            credentials: credentials.fingerprint(),
            manifest: digest.clone(),
            media_type: media_type.clone(),
            operation,
            ignore: source.ignore.clone(),
        };
        let mut attempt = 0;
        let artifact = loop {
            attempt += 1;
            let (result, role) = self.fetch_flights.run(&fetch_key, || {
                self.download(
                    &session,
                    &digest,
                    manifest.clone(),
                    media_type.as_deref(),
                    operation,
                    source.ignore.as_deref(),
                    &control,
                )
            });
            if role == Role::Follower {
                inc(&self.client.metrics().coalesced_calls);
                if matches!(result, Err(Error::Interrupted { .. }))
                    && !control.is_interrupted()
                    && attempt < 3
                {
                    continue;
                }
            }
            break result?;
        };
        if let Some(object) = &source.object {
            self.store
                .record(object, &artifact, self.options.keep_artifacts)
                .map_err(|e| Error::Store {
                    url: shown.clone(),
                    source: Arc::new(e),
                })?;
        }
        Ok(Outcome::Fetched { revision, artifact })
    }

    /// The manifest digest of a tag: cached for `resolve_ttl`, coalesced, one `HEAD` when `head`
    /// (falling back to a `GET` if the registry names no digest), else a `GET` kept for the
    /// download.
    fn resolve(
        &self,
        session: &Session<'_>,
        key: &ResolveKey,
        head: bool,
        control: &Control,
    ) -> Result<(String, Option<FetchedManifest>), Error> {
        let now = self.clock.now();
        if !self.options.resolve_ttl.is_zero() {
            let cache = self.resolved.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, digest)) = cache.get(key)
                && now.saturating_sub(*at) < self.options.resolve_ttl
            {
                inc(&self.client.metrics().coalesced_calls);
                return Ok((digest.clone(), None));
            }
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (result, role) = self.resolve_flights.run(key, || {
                inc(&self.client.metrics().ref_listings);
                let found = if head {
                    match session.head_manifest(&key.target)? {
                        Some(d) => (d, None),
                        None => {
                            let m = session.get_manifest(&key.target)?;
                            (m.digest.clone(), Some(m))
                        }
                    }
                } else {
                    let m = session.get_manifest(&key.target)?;
                    (m.digest.clone(), Some(m))
                };
                if !self.options.resolve_ttl.is_zero() {
                    let mut cache = self.resolved.lock().unwrap_or_else(|p| p.into_inner());
                    let ttl = self.options.resolve_ttl;
                    cache.retain(|_, (at, _)| now.saturating_sub(*at) < ttl);
                    cache.insert(key.clone(), (self.clock.now(), found.0.clone()));
                }
                Ok(found)
            });
            if role == Role::Follower {
                inc(&self.client.metrics().coalesced_calls);
                if matches!(result, Err(Error::Interrupted { .. }))
                    && !control.is_interrupted()
                    && attempt < 3
                {
                    continue;
                }
            }
            return result;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn download(
        &self,
        session: &Session<'_>,
        digest: &str,
        manifest: Option<FetchedManifest>,
        media_type: Option<&str>,
        operation: Operation,
        ignore: Option<&str>,
        control: &Control,
    ) -> Result<Artifact, Error> {
        let shown = || session_url(session);
        let store_err = |e: store::Error| Error::Store {
            url: shown(),
            source: Arc::new(e),
        };
        let io_err = |op: &'static str, path: &std::path::Path| {
            let path = path.to_owned();
            move |source: std::io::Error| store_err(store::Error::Io { op, path, source })
        };
        let fetched = match manifest {
            Some(m) => m,
            None => session.get_manifest(&Target::Digest(digest.to_owned()))?,
        };
        let manifest =
            Manifest::parse(&fetched.bytes, fetched.content_type.as_deref()).map_err(|reason| {
                Error::Manifest {
                    url: shown(),
                    reason,
                }
            })?;
        let layer = manifest
            .select_layer(media_type)
            .map_err(|reason| Error::Manifest {
                url: shown(),
                reason,
            })?;
        let limit = self.client.options().max_blob_size;
        if layer.size > limit {
            return Err(Error::ResponseTooLarge {
                url: shown(),
                what: "layer blob",
                limit,
            });
        }
        inc(&self.client.metrics().fetches);
        let scratch = self.store.scratch_dir().map_err(store_err)?;
        let blob_path = scratch.path().join("layer.blob");
        {
            let file = std::fs::File::create(&blob_path)
                .map_err(io_err("create blob file", &blob_path))?;
            let mut out = BufWriter::with_capacity(128 * 1024, file);
            // Never more than the manifest declares: a longer body is not this blob.
            let size = session.get_blob(&layer.digest, layer.size.min(limit), &mut out)?;
            out.flush().map_err(io_err("write blob", &blob_path))?;
            if size != layer.size {
                return Err(Error::InvalidManifest {
                    url: shown(),
                    reason: format!(
                        "layer blob {} is {size} bytes, the manifest says {}",
                        layer.digest, layer.size
                    ),
                });
            }
        }
        if control.is_interrupted() {
            return Err(Error::Interrupted { url: shown() });
        }
        // Unpacked with the archive safety of every artifact, for both operations: `copy` hands
        // the blob to consumers that will unpack it.
        let content = scratch.path().join("content");
        let open_blob = || {
            std::fs::File::open(&blob_path)
                .map(|f| BufReader::with_capacity(128 * 1024, f))
                .map_err(io_err("open blob", &blob_path))
        };
        extract::extract(open_blob()?, &content, self.options.extract_limits).map_err(|e| {
            let reason = match &e {
                extract::Error::Io { source, .. } => {
                    format!("it is not a readable tar.gz ({source})")
                }
                other => other.to_string(),
            };
            Error::UnsafeLayer {
                url: shown(),
                reason,
            }
        })?;
        let pending = match operation {
            Operation::Copy => {
                let mut pending = self.store.begin().map_err(store_err)?;
                let copied = std::io::copy(&mut open_blob()?, &mut pending);
                if let Err(e) = copied {
                    if pending.is_too_large() {
                        return Err(store_err(store::Error::TooLarge {
                            limit: self.store.options().max_artifact_size,
                        }));
                    }
                    return Err(io_err("copy blob", &blob_path)(e));
                }
                pending
            }
            Operation::Extract => {
                let tree = DirTree {
                    root: content.clone(),
                    commit: String::new(),
                    max_blob_size: self.options.max_file_size,
                };
                let walk_err = |e: std::io::Error| {
                    if e.get_ref().is_some_and(|inner| inner.is::<BlobTooLarge>()) {
                        let blob = e
                            .into_inner()
                            .and_then(|inner| inner.downcast::<BlobTooLarge>().ok());
                        return Error::FileTooLarge {
                            url: shown(),
                            path: blob.as_ref().map(|b| b.path.clone()),
                            limit: blob.map_or(0, |b| b.limit),
                        };
                    }
                    if e.kind() == std::io::ErrorKind::FileTooLarge {
                        return store_err(store::Error::TooLarge {
                            limit: self.store.options().max_artifact_size,
                        });
                    }
                    io_err("write artifact", self.store.root())(e)
                };
                let sourceignores = archive::collect_sourceignores(&tree).map_err(walk_err)?;
                let excludes = Excludes::new(&sourceignores, ignore);
                let pending = self.store.begin().map_err(store_err)?;
                let (_, pending) =
                    archive::write_tar_gz(&tree, &excludes, pending, control.progress.as_ref())
                        .map_err(walk_err)?;
                pending
            }
        };
        self.store.commit(pending).map_err(store_err)
    }
}

/// Checks the cosign signature of manifest `digest` (tag `sha256-<hex>.sig`) against `keys`.
fn verify_signature(
    session: &Session<'_>,
    digest: &str,
    keys: &[super::verify::PublicKey],
) -> Result<(), Error> {
    use super::verify::{VerifyError, payload_verifies, signature_layers, signature_tag};
    let failed = |reason: String| Error::Verification {
        url: session_url(session),
        reason,
    };
    let tag = signature_tag(digest);
    let fetched = match session.get_manifest(&Target::Tag(tag.clone())) {
        Ok(m) => m,
        Err(Error::NotFound { .. }) => {
            return Err(failed(format!("no cosign signature at tag {tag}")));
        }
        Err(e) => return Err(e),
    };
    let manifest = Manifest::parse(&fetched.bytes, fetched.content_type.as_deref())
        .map_err(|e| failed(format!("the signature manifest at {tag}: {e}")))?;
    let layers = signature_layers(&manifest);
    if layers.is_empty() {
        return Err(failed(VerifyError::NoSignatures.to_string()));
    }
    for (payload_digest, size, signature) in layers {
        let mut payload = Vec::new();
        session.get_blob(&payload_digest, size.min(1 << 20), &mut payload)?;
        if payload_verifies(keys, &payload, &signature, digest) {
            return Ok(());
        }
    }
    Err(failed(
        VerifyError::NotVerified {
            digest: digest.to_owned(),
        }
        .to_string(),
    ))
}

fn session_url(session: &Session<'_>) -> String {
    session
        .url_of("")
        .split_once("/v2/")
        .map(|(base, repo)| {
            format!(
                "oci://{}/{}",
                base.split_once("://").map_or(base, |(_, h)| h),
                repo.trim_end_matches('/')
            )
        })
        .unwrap_or_default()
}

/// The async face of an [`OciFetcher`]: each fetch on tokio's blocking pool, stopped when its
/// future is dropped (see [`crate::AsyncFetcher`], which this mirrors).
#[derive(Clone)]
pub struct AsyncOciFetcher {
    inner: Arc<OciFetcher>,
}

struct InterruptOnDrop {
    flag: Arc<AtomicBool>,
    armed: bool,
}

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.flag.store(true, Ordering::Relaxed);
        }
    }
}

impl AsyncOciFetcher {
    /// Wraps `fetcher`.
    pub fn new(fetcher: OciFetcher) -> Self {
        AsyncOciFetcher {
            inner: Arc::new(fetcher),
        }
    }

    /// The blocking fetcher.
    pub fn blocking(&self) -> &Arc<OciFetcher> {
        &self.inner
    }

    /// Fetches `source` (see [`OciFetcher::fetch`]); the future borrows nothing.
    pub fn fetch(
        &self,
        source: &OciSource,
        credentials: &OciCredentials,
        progress: Arc<dyn Progress>,
    ) -> impl Future<Output = Result<Outcome, Error>> + Send + 'static {
        let interrupt = Arc::new(AtomicBool::new(false));
        let guard = InterruptOnDrop {
            flag: interrupt.clone(),
            armed: true,
        };
        let fetcher = self.inner.clone();
        let (source, credentials) = (source.clone(), credentials.clone());
        let url = source.url.clone();
        async move {
            // Moved whole into the future (not just the field): dropping the future raises the flag.
            let mut guard = guard;
            let task = tokio::task::spawn_blocking(move || {
                fetcher.fetch(&source, &credentials, &interrupt, progress)
            });
            let result = task.await;
            guard.armed = false;
            match result {
                Ok(result) => result,
                Err(e) => Err(Error::TaskFailed {
                    url,
                    reason: if e.is_panic() {
                        "the fetch task panicked".to_owned()
                    } else {
                        "the fetch task was cancelled".to_owned()
                    },
                }),
            }
        }
    }
}
