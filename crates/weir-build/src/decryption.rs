//! `spec.decryption`: SOPS-encrypted objects of a build decrypted as kustomize-controller
//! decrypts them, after the kustomize build and before postBuild substitution.
//!
//! - An object with SOPS metadata (a top-level `sops` map with a `mac`) is decrypted whole; the
//!   MAC is not checked, as Flux does not check it (the build changes objects after they were
//!   encrypted: namespace, labels, name prefix), while every encrypted value is still
//!   authenticated by its own tag and path ([`weir_sops::Mac::Skip`]).
//! - A `Secret` whose `data` value is itself a SOPS-encrypted file (a generator's file) is
//!   refused: weir does not decrypt embedded files yet, and applying ciphertext would be wrong.
//! - An object annotated `kustomize.toolkit.fluxcd.io/decrypt: disabled` is left alone.
//!
//! Keys are the caller's: the controller reads them from `spec.decryption.secretRef`, `weir check
//! --decrypt` from `SOPS_AGE_KEY_FILE`.

use base64::Engine as _;
use serde_json::Value;
use weir_api::flux::Kustomization;
use weir_sops::{Identities, Mac};

/// The annotation that turns decryption off for one object.
pub const DECRYPT_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/decrypt";

/// Why the objects of a build could not be decrypted. Never carries plaintext or key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("decryption failed for {object}: {cause}")]
    Object {
        object: String,
        cause: weir_sops::Error,
    },
    #[error(
        "decryption failed for {object}: data key {key:?} holds a SOPS-encrypted {format} file, which weir does not decrypt yet (decrypt it with sops before the build, or encrypt the whole Secret)"
    )]
    EmbeddedFile {
        object: String,
        key: String,
        format: &'static str,
    },
}

/// Whether `ks` asks for SOPS decryption (`spec.decryption.provider: sops`).
pub fn wanted(ks: &Kustomization) -> bool {
    provider_is_sops(ks.spec.decryption.as_ref())
}

/// Whether a `spec.decryption` value names the `sops` provider.
pub fn provider_is_sops(decryption: Option<&Value>) -> bool {
    decryption.is_some_and(|d| d["provider"] == "sops")
}

/// The name of `spec.decryption.secretRef`, if any.
pub fn secret_name(decryption: Option<&Value>) -> Option<&str> {
    decryption
        .and_then(|d| d["secretRef"]["name"].as_str())
        .filter(|n| !n.is_empty())
}

/// Whether decryption is turned off for `obj` by its annotation (any case of `disabled`).
pub fn is_disabled(obj: &Value) -> bool {
    obj["metadata"]["annotations"][DECRYPT_ANNOTATION]
        .as_str()
        .is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
}

/// `Kind namespace/name` for messages.
pub fn describe(obj: &Value) -> String {
    let kind = obj["kind"].as_str().unwrap_or("object");
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    match obj["metadata"]["namespace"].as_str() {
        Some(ns) if !ns.is_empty() => format!("{kind} {ns}/{name}"),
        _ => format!("{kind} {name}"),
    }
}

/// An encrypted `v1` Secret that would be applied as ciphertext: Flux refuses to apply it
/// ("configuring decryption is required"). Returns the first one found.
pub fn undecrypted_secret(objects: &[Value]) -> Option<&Value> {
    objects.iter().find(|o| {
        o["kind"] == "Secret"
            && o["apiVersion"] == "v1"
            && o.get("sops").is_some()
            && !is_disabled(o)
    })
}

/// Marker bytes by which Flux recognises a SOPS-encrypted file inside a Secret's data value.
const EMBEDDED_MARKERS: [(&str, &[u8]); 4] = [
    ("JSON or binary", b"\"mac\": \"ENC["),
    ("dotenv", b"sops_mac=ENC["),
    ("INI", b"[sops]"),
    ("YAML", b"mac: ENC["),
];

/// Decrypts every SOPS-encrypted object of `objects` in place with `ids` (Flux's
/// `DecryptResource`). The caller calls this only when [`wanted`] holds.
pub fn decrypt_objects(objects: &mut [Value], ids: &Identities) -> Result<(), Error> {
    for obj in objects.iter_mut() {
        if is_disabled(obj) {
            continue;
        }
        if weir_sops::is_encrypted(obj) {
            let object = describe(obj);
            weir_sops::decrypt(obj, ids, Mac::Skip)
                .map_err(|cause| Error::Object { object, cause })?;
        } else if obj["kind"] == "Secret"
            && let Some(data) = obj["data"].as_object()
        {
            for (key, v) in data {
                let Some(bytes) = v
                    .as_str()
                    .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                else {
                    continue;
                };
                if let Some((format, _)) = EMBEDDED_MARKERS
                    .iter()
                    .find(|(_, m)| bytes.windows(m.len()).any(|w| w == *m))
                {
                    return Err(Error::EmbeddedFile {
                        object: describe(obj),
                        key: key.clone(),
                        format,
                    });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn decryption_is_wanted_only_for_the_sops_provider() {
        let mut ks: Kustomization = serde_json::from_value(json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system"},
            "spec": {"interval": "10m", "prune": true, "sourceRef": {"kind": "GitRepository", "name": "repo"}}
        }))
        .expect("valid");
        assert!(!wanted(&ks));
        ks.spec.decryption = Some(json!({"provider": "sops", "secretRef": {"name": "sops-age"}}));
        assert!(wanted(&ks));
        assert_eq!(secret_name(ks.spec.decryption.as_ref()), Some("sops-age"));
    }

    #[test]
    fn disabled_objects_and_plain_objects_pass_untouched() {
        let mut objects = vec![
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s",
                "annotations": {DECRYPT_ANNOTATION: "Disabled"}},
                "stringData": {"a": "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]"}, "sops": {"mac": "ENC[x]"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}}),
        ];
        let before = objects.clone();
        decrypt_objects(&mut objects, &Identities::default()).expect("nothing to decrypt");
        assert_eq!(objects, before);
        assert!(undecrypted_secret(&objects).is_none());
    }

    #[test]
    fn an_embedded_encrypted_file_is_refused_naming_the_key() {
        let file = base64::engine::general_purpose::STANDARD
            .encode("A=ENC[...]\nsops_mac=ENC[AES256_GCM,data:x]\n");
        let mut objects = vec![json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "gen", "namespace": "apps"}, "data": {"app.env": file}})];
        let err = decrypt_objects(&mut objects, &Identities::default()).unwrap_err();
        assert_eq!(
            err,
            Error::EmbeddedFile {
                object: "Secret apps/gen".into(),
                key: "app.env".into(),
                format: "dotenv"
            }
        );
    }

    #[test]
    fn an_encrypted_secret_without_keys_fails_naming_it() {
        let mut objects = vec![json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "namespace": "apps"},
            "stringData": {"a": "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]"},
            "sops": {"mac": "ENC[x]", "lastmodified": "2026-01-01T00:00:00Z",
                     "age": [{"recipient": "age1x", "enc": "x"}]}})];
        assert!(undecrypted_secret(&objects).is_some());
        let err = decrypt_objects(&mut objects, &Identities::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "decryption failed for Secret apps/s: no age identity given to decrypt with (set SOPS_AGE_KEY_FILE or add a *.agekey entry)"
        );
    }
}
