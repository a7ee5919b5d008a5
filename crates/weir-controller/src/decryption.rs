//! `spec.decryption` (provider `sops`): the age identities of the Kustomization's decryption
//! Secret, read as kustomize-controller reads them, and the refusal to apply ciphertext.
//!
//! Flux takes every data key ending in `.agekey` as age identities. The other key kinds it knows
//! (`*.asc` PGP keys, `sops.vault-token`, `sops.aws-kms`, `sops.azure-kv`, `sops.gcp-kms`) are
//! refused here (weir decrypts with age only) instead of being ignored; other keys are ignored, as
//! Flux ignores them. Key material never reaches a message or a log.

use std::path::Path;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use weir_api::flux::KustomizationObject;
use weir_build::decryption;
use weir_sops::Identities;

use crate::context::Context;

/// Why the decryption keys could not be had.
#[derive(Debug)]
pub enum KeysError {
    /// The Secret holds key kinds weir does not support (Stalled, `UnsupportedField`).
    Unsupported(String),
    /// The Secret is missing, unreadable or holds a malformed age key (`BuildFailed`, retried).
    Failed(String),
}

/// The Flux key names weir refuses, with what they are.
fn unsupported_kind(name: &str) -> Option<&'static str> {
    match name {
        "sops.vault-token" => Some("HashiCorp Vault token"),
        "sops.aws-kms" => Some("AWS KMS credentials"),
        "sops.azure-kv" => Some("Azure Key Vault credentials"),
        "sops.gcp-kms" => Some("GCP KMS credentials"),
        _ if Path::new(name).extension().is_some_and(|e| e == "asc") => Some("PGP key"),
        _ => None,
    }
}

/// The age identities of a decryption Secret's data (`name` → bytes).
pub fn identities<'a>(
    secret: &str,
    data: impl IntoIterator<Item = (&'a String, &'a [u8])>,
) -> Result<Identities, KeysError> {
    let mut ids = Identities::default();
    let mut refused = Vec::new();
    for (name, value) in data {
        if Path::new(name).extension().is_some_and(|e| e == "agekey") {
            ids.add(&String::from_utf8_lossy(value)).map_err(|e| {
                KeysError::Failed(format!(
                    "failed to import '{name}' data from sops decryption Secret '{secret}': {e}"
                ))
            })?;
        } else if let Some(kind) = unsupported_kind(name) {
            refused.push(format!("'{name}' ({kind})"));
        }
    }
    if !refused.is_empty() {
        return Err(KeysError::Unsupported(format!(
            "spec.decryption: Secret '{secret}' holds {}: weir decrypts SOPS with age keys only (*.agekey entries); remove them, or leave this Kustomization to Flux's kustomize-controller",
            refused.join(", ")
        )));
    }
    Ok(ids)
}

/// The build options of `obj`: with its age identities when `spec.decryption` asks for SOPS.
pub async fn build_options(
    ctx: &Context,
    obj: &KustomizationObject,
) -> Result<weir_build::Options, KeysError> {
    let mut opts = weir_build::Options::default();
    let spec = obj.spec.decryption.as_ref();
    if !decryption::provider_is_sops(spec) {
        return Ok(opts);
    }
    let ids = match decryption::secret_name(spec) {
        None => Identities::default(),
        Some(name) => {
            let ns = obj.metadata.namespace.as_deref().unwrap_or_default();
            let label = format!("{ns}/{name}");
            let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
            let secret = api
                .get_opt(name)
                .await
                .map_err(|e| {
                    KeysError::Failed(format!("cannot get sops decryption Secret '{label}': {e}"))
                })?
                .ok_or_else(|| {
                    KeysError::Failed(format!("sops decryption Secret '{label}' not found"))
                })?;
            let data = secret.data.unwrap_or_default();
            identities(&label, data.iter().map(|(k, v)| (k, v.0.as_slice())))?
        }
    };
    opts.decryption = Some(Arc::new(ids));
    Ok(opts)
}

/// Flux's refusal to apply an encrypted `v1` Secret of a Kustomization that does not decrypt it.
pub fn ciphertext_refusal(objects: &[serde_json::Value]) -> Option<String> {
    decryption::undecrypted_secret(objects).map(|o| {
        format!(
            "{} is SOPS encrypted, configuring decryption is required for this secret to be reconciled",
            decryption::describe(o)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AGE-SECRET-KEY-1CHFAH5A9XZPFVPYF7L32JMXVRGGFJCRUWKLJCPAAH0N49TRY6WMSSVNFNW";

    fn data(entries: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    fn ids(entries: &[(&str, &str)]) -> Result<Identities, KeysError> {
        let d = data(entries);
        identities("flux-system/sops", d.iter().map(|(k, v)| (k, v.as_slice())))
    }

    #[test]
    fn every_agekey_entry_is_read_and_other_keys_ignored() {
        let got = ids(&[("a.agekey", KEY), ("b.agekey", KEY), ("README", "x")]).expect("reads");
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn other_key_kinds_are_refused_by_name() {
        let Err(KeysError::Unsupported(m)) = ids(&[
            ("a.agekey", KEY),
            ("team.asc", "-----BEGIN PGP"),
            ("sops.vault-token", "s.x"),
        ]) else {
            panic!("not refused")
        };
        assert!(m.contains("'team.asc' (PGP key)"), "{m}");
        assert!(
            m.contains("'sops.vault-token' (HashiCorp Vault token)"),
            "{m}"
        );
        assert!(!m.contains("s.x") && !m.contains("BEGIN PGP"));
    }

    #[test]
    fn a_malformed_age_key_fails_without_showing_it() {
        let Err(KeysError::Failed(m)) = ids(&[("k.agekey", "AGE-SECRET-KEY-1NOPE")]) else {
            panic!("accepted")
        };
        assert!(
            m.contains("'k.agekey'") && m.contains("flux-system/sops"),
            "{m}"
        );
        assert!(!m.contains("NOPE"));
    }

    #[test]
    fn an_encrypted_secret_without_decryption_is_refused_as_flux_does() {
        let objects = vec![serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "apps"}, "sops": {"mac": "ENC[x]"}})];
        assert_eq!(
            ciphertext_refusal(&objects).as_deref(),
            Some(
                "Secret apps/db is SOPS encrypted, configuring decryption is required for this secret to be reconciled"
            )
        );
    }
}
