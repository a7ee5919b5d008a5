//! `weir push artifact` and `weir tag artifact`: a directory packed and pushed in exactly the format
//! `flux push artifact` writes, and a new tag for an existing manifest.

use std::{
    io::{BufReader, BufWriter, Read},
    path::Path,
};

use flate2::read::GzDecoder;
use sha2::{Digest as _, Sha256};

use super::{
    Error,
    auth::OciCredentials,
    manifest::{
        ArtifactMeta, Descriptor, FLUX_CONFIG, FLUX_CONTENT, Manifest, OCI_MANIFEST, flux_config,
        flux_manifest,
    },
    reference::{OciUrl, Target},
    registry::{Body, RegistryClient},
};
use crate::{archive, ignore::Excludes, progress::Discard, remote::Control, tree::DirTree};

/// What to push.
#[derive(Clone, Debug)]
pub struct PushRequest<'a> {
    /// The repository.
    pub url: &'a OciUrl,
    /// The tag to write.
    pub tag: &'a str,
    /// The directory to pack.
    pub dir: &'a Path,
    /// `--source`: the annotation `org.opencontainers.image.source`.
    pub source: &'a str,
    /// `--revision`: the annotation `org.opencontainers.image.revision`.
    pub revision: &'a str,
    /// `--ignore-paths`, `.gitignore` patterns, on top of the directory's `.sourceignore` files.
    pub ignore_paths: &'a [String],
    /// `org.opencontainers.image.created` (RFC 3339 UTC).
    pub created: &'a str,
    /// Plain HTTP.
    pub insecure: bool,
}

/// What a push wrote.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PushOutcome {
    /// `oci://host/repo:tag`.
    pub url: String,
    /// The manifest's digest.
    pub digest: String,
    /// The layer's digest.
    pub layer_digest: String,
    /// The layer's size in bytes.
    pub layer_size: u64,
}

fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = BufReader::new(std::fs::File::open(path)?);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((format!("sha256:{:x}", hasher.finalize()), total))
}

/// The digest of the uncompressed tar inside a `tar.gz` (the config's `diff_id`).
fn diff_id(path: &Path) -> std::io::Result<String> {
    let mut tar = GzDecoder::new(BufReader::new(std::fs::File::open(path)?));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tar.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("sha256:{:x}", hasher.finalize()))
}

/// Packs `request.dir` (regular files only, `.sourceignore` and `ignore_paths` applied,
/// reproducible: mtime 0, owner 0) into a `tar.gz` under `scratch`, and pushes it with a Flux
/// config and manifest under `request.tag`.
pub fn push_artifact(
    client: &RegistryClient,
    credentials: &OciCredentials,
    request: &PushRequest<'_>,
    scratch: &Path,
    control: &Control,
) -> Result<PushOutcome, Error> {
    let read_err = |e: std::io::Error| Error::ReadDir {
        path: request.dir.display().to_string(),
        reason: e.to_string(),
    };
    if !request.dir.is_dir() {
        return Err(read_err(std::io::Error::other("not a directory")));
    }
    let tree = DirTree {
        root: request.dir.to_owned(),
        commit: String::new(),
        max_blob_size: u64::MAX,
    };
    let sourceignores = archive::collect_sourceignores(&tree).map_err(read_err)?;
    let ignore = request.ignore_paths.join("\n");
    let excludes = Excludes::new(
        &sourceignores,
        (!ignore.is_empty()).then_some(ignore.as_str()),
    );
    let layer_path = scratch.join("artifact.tar.gz");
    let file = std::fs::File::create(&layer_path).map_err(read_err)?;
    let (_, out) = archive::write_tar_gz(
        &tree,
        &excludes,
        BufWriter::with_capacity(128 * 1024, file),
        &Discard,
    )
    .map_err(read_err)?;
    out.into_inner()
        .map_err(|e| read_err(e.into_error()))?
        .sync_all()
        .map_err(read_err)?;
    let (layer_digest, layer_size) = sha256_file(&layer_path).map_err(read_err)?;
    let config = flux_config(&diff_id(&layer_path).map_err(read_err)?);
    let config_desc = Descriptor {
        media_type: FLUX_CONFIG.to_owned(),
        size: config.len() as u64,
        digest: format!("sha256:{:x}", Sha256::digest(&config)),
        annotations: None,
    };
    let layer_desc = Descriptor {
        media_type: FLUX_CONTENT.to_owned(),
        size: layer_size,
        digest: layer_digest.clone(),
        annotations: None,
    };
    let manifest = flux_manifest(
        &config_desc,
        &layer_desc,
        &ArtifactMeta {
            source: request.source.to_owned(),
            revision: request.revision.to_owned(),
            created: request.created.to_owned(),
        },
    );
    let session = client.session(request.url, credentials, request.insecure, true, control)?;
    session.push_blob(&layer_digest, Body::File(&layer_path))?;
    session.push_blob(&config_desc.digest, Body::Bytes(&config))?;
    let digest = session.put_manifest(request.tag, OCI_MANIFEST, &manifest)?;
    Ok(PushOutcome {
        url: format!("{}:{}", request.url.to_url(), request.tag),
        digest,
        layer_digest,
        layer_size,
    })
}

/// Tags the manifest at `from` (a tag or digest) as `tag` too: the manifest's bytes are read and
/// written back unchanged under the new tag, so its digest stays the same.
pub fn tag_artifact(
    client: &RegistryClient,
    credentials: &OciCredentials,
    url: &OciUrl,
    from: &Target,
    tag: &str,
    insecure: bool,
    control: &Control,
) -> Result<String, Error> {
    let session = client.session(url, credentials, insecure, true, control)?;
    let fetched = session.get_manifest(from)?;
    let media_type = fetched
        .content_type
        .clone()
        .or_else(|| {
            Manifest::parse(&fetched.bytes, None)
                .ok()
                .and_then(|m| m.media_type)
        })
        .unwrap_or_else(|| OCI_MANIFEST.to_owned());
    session.put_manifest(tag, &media_type, &fetched.bytes)
}

/// One tag of a repository and what its manifest says (for `weir list artifacts`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ListedArtifact {
    /// `oci://host/repo:tag`.
    pub url: String,
    /// The manifest digest.
    pub digest: String,
    /// `org.opencontainers.image.source`.
    pub source: Option<String>,
    /// `org.opencontainers.image.revision`.
    pub revision: Option<String>,
    /// `org.opencontainers.image.created`.
    pub created: Option<String>,
}

/// Every tag of `url` with its manifest's digest and Flux annotations (one request per tag).
pub fn list_artifacts(
    client: &RegistryClient,
    credentials: &OciCredentials,
    url: &OciUrl,
    insecure: bool,
    control: &Control,
) -> Result<Vec<ListedArtifact>, Error> {
    let session = client.session(url, credentials, insecure, false, control)?;
    let mut tags = session.list_tags()?;
    tags.sort();
    let mut out = Vec::with_capacity(tags.len());
    for tag in tags {
        let fetched = session.get_manifest(&Target::Tag(tag.clone()))?;
        let manifest = Manifest::parse(&fetched.bytes, fetched.content_type.as_deref()).ok();
        let annotation = |k: &str| {
            manifest
                .as_ref()
                .and_then(|m| m.annotation(k))
                .map(str::to_owned)
        };
        out.push(ListedArtifact {
            url: format!("{}:{tag}", url.to_url()),
            digest: fetched.digest,
            source: annotation(super::manifest::SOURCE_ANNOTATION),
            revision: annotation(super::manifest::REVISION_ANNOTATION),
            created: annotation(super::manifest::CREATED_ANNOTATION),
        });
    }
    Ok(out)
}
