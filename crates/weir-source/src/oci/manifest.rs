//! OCI manifests without I/O: the JSON shapes weir reads and writes, layer selection, and the exact
//! format `flux push artifact` writes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `application/vnd.oci.image.manifest.v1+json`.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// `application/vnd.oci.image.index.v1+json`.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker's schema 2 manifest, which registries still serve for images.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker's manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Flux's config media type.
pub const FLUX_CONFIG: &str = "application/vnd.cncf.flux.config.v1+json";
/// Flux's content (layer) media type.
pub const FLUX_CONTENT: &str = "application/vnd.cncf.flux.content.v1.tar+gzip";
/// Annotation: where the content came from.
pub const SOURCE_ANNOTATION: &str = "org.opencontainers.image.source";
/// Annotation: the source's revision.
pub const REVISION_ANNOTATION: &str = "org.opencontainers.image.revision";
/// Annotation: when the artifact was built.
pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";

/// The `Accept` header of manifest requests.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// A content descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// What the blob is.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Optional annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An image manifest (OCI or Docker schema 2); field order is go-containerregistry's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's media type, when the document names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The config blob (absent in an index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Descriptor>,
    /// The layers.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// An index's manifests (present only in an index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifests: Option<Vec<serde_json::Value>>,
    /// Annotations (source, revision, created for Flux artifacts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// A manifest weir cannot use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON of a manifest's shape.
    #[error("the manifest is not valid JSON of an image manifest: {0}")]
    Malformed(String),
    /// An index or manifest list: OCIRepository needs one artifact.
    #[error(
        "the reference points at an image index (a multi-platform image), not an artifact; point spec.ref at an artifact pushed with `flux push artifact` or `weir push artifact`"
    )]
    Index,
    /// No layers at all.
    #[error("the artifact has no layers")]
    NoLayers,
    /// No layer of the selected media type.
    #[error("no layer with media type {media_type:?} (layers: {})", available.join(", "))]
    NoMatchingLayer {
        /// Asked for.
        media_type: String,
        /// What the manifest has.
        available: Vec<String>,
    },
    /// A layer's digest is not sha256.
    #[error("layer digest {0:?} is not sha256: followed by 64 hex digits")]
    BadDigest(String),
}

impl Manifest {
    /// Parses a manifest body served with `content_type`.
    pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<Manifest, ManifestError> {
        let m: Manifest =
            serde_json::from_slice(body).map_err(|e| ManifestError::Malformed(e.to_string()))?;
        let media = m
            .media_type
            .as_deref()
            .or(content_type.map(|c| c.split(';').next().unwrap_or(c).trim()));
        if m.manifests.is_some() || matches!(media, Some(OCI_INDEX | DOCKER_LIST)) {
            return Err(ManifestError::Index);
        }
        Ok(m)
    }

    /// The layer `media_type` selects (the first with that type), or the first layer.
    pub fn select_layer(&self, media_type: Option<&str>) -> Result<&Descriptor, ManifestError> {
        let layer = match media_type {
            None => self.layers.first().ok_or(ManifestError::NoLayers)?,
            Some(wanted) => self
                .layers
                .iter()
                .find(|l| l.media_type == wanted)
                .ok_or_else(|| ManifestError::NoMatchingLayer {
                    media_type: wanted.to_owned(),
                    available: self.layers.iter().map(|l| l.media_type.clone()).collect(),
                })?,
        };
        if super::reference::parse_digest(&layer.digest).is_none() {
            return Err(ManifestError::BadDigest(layer.digest.clone()));
        }
        Ok(layer)
    }

    /// The value of annotation `key`.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
}

/// The config blob go-containerregistry writes for `empty.Image` with one appended layer, which
/// is what `flux push artifact` pushes: `diff_id` is the digest of the uncompressed tar.
pub fn flux_config(diff_id: &str) -> Vec<u8> {
    format!(
        r#"{{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{{"created":"0001-01-01T00:00:00Z"}}],"os":"","rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}},"config":{{}}}}"#
    )
    .into_bytes()
}

/// What `flux push artifact` records about the content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactMeta {
    /// `--source`.
    pub source: String,
    /// `--revision`.
    pub revision: String,
    /// RFC 3339 UTC time of the push.
    pub created: String,
}

/// The manifest of a Flux artifact: OCI manifest, Flux config media type, one Flux content layer,
/// the source, revision and created annotations.
pub fn flux_manifest(config: &Descriptor, layer: &Descriptor, meta: &ArtifactMeta) -> Vec<u8> {
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_owned()),
        config: Some(config.clone()),
        layers: vec![layer.clone()],
        manifests: None,
        annotations: Some(BTreeMap::from([
            (CREATED_ANNOTATION.to_owned(), meta.created.clone()),
            (REVISION_ANNOTATION.to_owned(), meta.revision.clone()),
            (SOURCE_ANNOTATION.to_owned(), meta.source.clone()),
        ])),
    };
    serde_json::to_vec(&manifest).expect("a manifest always serialises")
}

/// `YYYY-MM-DDTHH:MM:SSZ` of `secs` since the Unix epoch (Go's `time.RFC3339` in UTC).
pub fn rfc3339_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(media_type: &str, c: char) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            size: 10,
            digest: format!("sha256:{}", c.to_string().repeat(64)),
            annotations: None,
        }
    }

    #[test]
    fn flux_manifest_should_have_flux_media_types_and_annotations_in_order() {
        let meta = ArtifactMeta {
            source: "https://github.com/org/repo".into(),
            revision: "main@sha1:abc".into(),
            created: "2026-12-04T18:43:41Z".into(),
        };
        let bytes = flux_manifest(&desc(FLUX_CONFIG, 'a'), &desc(FLUX_CONTENT, 'b'), &meta);
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        assert_eq!(
            String::from_utf8(bytes).expect("utf-8"),
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.cncf.flux.config.v1+json","size":10,"digest":"sha256:{a}"}},"layers":[{{"mediaType":"application/vnd.cncf.flux.content.v1.tar+gzip","size":10,"digest":"sha256:{b}"}}],"annotations":{{"org.opencontainers.image.created":"2026-12-04T18:43:41Z","org.opencontainers.image.revision":"main@sha1:abc","org.opencontainers.image.source":"https://github.com/org/repo"}}}}"#
            )
        );
    }

    #[test]
    fn config_should_be_json_with_the_diff_id() {
        let config = flux_config("sha256:00");
        let v: serde_json::Value = serde_json::from_slice(&config).expect("json");
        assert_eq!(v["rootfs"]["diff_ids"][0], "sha256:00");
        assert_eq!(v["rootfs"]["type"], "layers");
    }

    #[test]
    fn layer_selection_should_default_to_the_first_layer() {
        let m = Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.into()),
            config: Some(desc(FLUX_CONFIG, 'a')),
            layers: vec![desc("application/x-other", 'b'), desc(FLUX_CONTENT, 'c')],
            manifests: None,
            annotations: None,
        };
        assert_eq!(
            m.select_layer(None).expect("first").media_type,
            "application/x-other"
        );
        assert_eq!(
            m.select_layer(Some(FLUX_CONTENT)).expect("found").digest,
            format!("sha256:{}", "c".repeat(64))
        );
        assert_eq!(
            m.select_layer(Some("x/y"))
                .expect_err("missing")
                .to_string(),
            "no layer with media type \"x/y\" (layers: application/x-other, application/vnd.cncf.flux.content.v1.tar+gzip)"
        );
        let empty = Manifest {
            layers: vec![],
            ..m.clone()
        };
        assert_eq!(empty.select_layer(None), Err(ManifestError::NoLayers));
        let bad = Manifest {
            layers: vec![Descriptor {
                digest: "md5:00".into(),
                ..desc(FLUX_CONTENT, 'c')
            }],
            ..m
        };
        assert!(matches!(
            bad.select_layer(None),
            Err(ManifestError::BadDigest(_))
        ));
    }

    #[test]
    fn indexes_should_be_refused() {
        let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert_eq!(Manifest::parse(index, None), Err(ManifestError::Index));
        let list = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert_eq!(
            Manifest::parse(list, Some(DOCKER_LIST)),
            Err(ManifestError::Index)
        );
        assert!(matches!(
            Manifest::parse(b"nope", None),
            Err(ManifestError::Malformed(_))
        ));
    }

    #[test]
    fn rfc3339_should_format_utc() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(784_111_777), "1994-11-06T08:49:37Z");
        assert_eq!(rfc3339_utc(1_709_251_199), "2024-02-29T23:59:59Z");
    }
}
