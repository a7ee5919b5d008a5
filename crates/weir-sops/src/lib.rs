//! SOPS decryption with age keys: the part of Flux's kustomize-controller that turns a
//! SOPS-encrypted object (a Kubernetes object with a top-level `sops:` block, values
//! `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`) back into the plain object before it is applied.
//!
//! Pure: the caller passes the document and the age identities; nothing here reads files, the
//! environment or the network.
//!
//! - [`Identities`]: age X25519 identities (`AGE-SECRET-KEY-1…`), parsed from a key file's text.
//! - [`decrypt`]: one document decrypted in place, exactly as SOPS does: the data key recovered
//!   from a `sops.age[].enc` stanza, each value opened with AES-256-GCM and its tree path as
//!   additional data, the suffix/regex rules deciding which values are encrypted, and (unless the
//!   caller follows Flux and skips it, see [`Mac`]) the MAC over the plaintext checked.
//! - [`is_encrypted`]: whether an object carries SOPS metadata.
//!
//! Key services other than age (PGP, AWS/GCP/Huawei KMS, Azure Key Vault, HashiCorp Vault) are
//! refused with [`Error::UnsupportedKeyService`] naming them. Errors never carry plaintext, key
//! material or the MAC (a hash of the plaintext).
//!
//! ```
//! let ids = weir_sops::Identities::parse(
//!     "# created: 2026-12-04\nAGE-SECRET-KEY-1CHFAH5A9XZPFVPYF7L32JMXVRGGFJCRUWKLJCPAAH0N49TRY6WMSSVNFNW\n",
//! )?;
//! assert_eq!(ids.len(), 1);
//! let mut plain = serde_json::json!({"kind": "ConfigMap", "data": {"a": "b"}});
//! assert!(!weir_sops::is_encrypted(&plain));
//! assert!(matches!(
//!     weir_sops::decrypt(&mut plain, &ids, weir_sops::Mac::Verify),
//!     Err(weir_sops::Error::NotEncrypted)
//! ));
//! # Ok::<(), weir_sops::IdentityError>(())
//! ```

mod decrypt;
mod identity;
mod metadata;
mod value;

pub use decrypt::{Error, Mac, decrypt, is_encrypted};
pub use identity::{Identities, IdentityError};
pub use value::ValueProblem;
