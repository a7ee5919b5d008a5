//! `spec.verify` with `provider: cosign` and public keys: the signature cosign stores at tag
//! `sha256-<hex>.sig` (simple signing layers, an ECDSA signature in the
//! `dev.cosignproject.cosign/signature` annotation) checked before the artifact is used.

use base64::Engine;
use rustls_pki_types::{SubjectPublicKeyInfoDer, pem::PemObject};

use super::manifest::Manifest;

/// The layer media type of a cosign simple-signing payload.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// The DER prefix of an ECDSA P-256 SubjectPublicKeyInfo (algorithm ecPublicKey, curve prime256v1,
/// bit string of 66 bytes); the uncompressed point follows.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A cosign public key (`cosign.pub`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    point: Vec<u8>,
}

/// A key that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not a PEM `PUBLIC KEY`.
    #[error("the verification key is not a PEM PUBLIC KEY")]
    NotPem,
    /// Another algorithm.
    #[error("only ECDSA P-256 cosign keys are supported (cosign's default)")]
    Unsupported,
}

impl PublicKey {
    /// Parses a PEM SubjectPublicKeyInfo of an ECDSA P-256 key.
    pub fn from_pem(pem: &[u8]) -> Result<PublicKey, KeyError> {
        let spki = SubjectPublicKeyInfoDer::from_pem_slice(pem).map_err(|_| KeyError::NotPem)?;
        let der = spki.as_ref();
        match der.strip_prefix(&P256_SPKI_PREFIX[..]) {
            Some(point) if point.len() == 65 && point[0] == 0x04 => Ok(PublicKey {
                point: point.to_vec(),
            }),
            _ => Err(KeyError::Unsupported),
        }
    }

    fn verifies(&self, payload: &[u8], signature: &[u8]) -> bool {
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
            &self.point,
        )
        .verify(payload, signature)
        .is_ok()
    }
}

/// The tag cosign stores the signatures of manifest `digest` at.
pub fn signature_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1) + ".sig"
}

/// Why a signature did not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The signature manifest has no simple-signing layer.
    #[error("the signature manifest has no cosign signature layer")]
    NoSignatures,
    /// No signature verified with any key for this digest.
    #[error("no signature of {digest} verifies with the given public keys")]
    NotVerified {
        /// The manifest digest.
        digest: String,
    },
}

/// The simple-signing layers of a signature manifest: `(payload digest, signature bytes)`.
pub fn signature_layers(manifest: &Manifest) -> Vec<(String, u64, Vec<u8>)> {
    manifest
        .layers
        .iter()
        .filter(|l| l.media_type == SIMPLE_SIGNING)
        .filter_map(|l| {
            let sig = l.annotations.as_ref()?.get(SIGNATURE_ANNOTATION)?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(sig.trim())
                .ok()?;
            Some((l.digest.clone(), l.size, bytes))
        })
        .collect()
}

/// Whether `payload` signed by `signature` with one of `keys` vouches for manifest `digest`.
pub fn payload_verifies(
    keys: &[PublicKey],
    payload: &[u8],
    signature: &[u8],
    digest: &str,
) -> bool {
    #[derive(serde::Deserialize)]
    struct Payload {
        critical: Critical,
    }
    #[derive(serde::Deserialize)]
    struct Critical {
        image: Image,
        #[serde(rename = "type")]
        kind: String,
    }
    #[derive(serde::Deserialize)]
    struct Image {
        #[serde(rename = "docker-manifest-digest")]
        digest: String,
    }
    if !keys.iter().any(|k| k.verifies(payload, signature)) {
        return false;
    }
    serde_json::from_slice::<Payload>(payload).is_ok_and(|p| {
        p.critical.kind == "cosign container image signature" && p.critical.image.digest == digest
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_tags_should_follow_cosign() {
        assert_eq!(signature_tag("sha256:abc"), "sha256-abc.sig");
    }

    #[test]
    fn keys_should_be_p256_pem() {
        assert_eq!(PublicKey::from_pem(b"nope"), Err(KeyError::NotPem));
    }
}
