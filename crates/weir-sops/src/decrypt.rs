//! A SOPS document decrypted as `sops decrypt` and Flux's decryptor decrypt it.

use std::io::Read as _;

use serde_json::Value;
use sha2::{Digest as _, Sha512};
use zeroize::Zeroizing;

use crate::identity::Identities;
use crate::metadata::{KeyGroup, Metadata};
use crate::value::{self, Plain, ValueProblem};

/// Bytes SOPS hashes first when `mac_only_encrypted` is set, so that such a MAC never equals one
/// over all values.
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// Whether the MAC over the plaintext is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mac {
    /// As `sops decrypt`: a changed, added or removed value fails with [`Error::MacMismatch`].
    Verify,
    /// As Flux's kustomize-controller (its `checkSopsMac` is off): the build adds labels, a
    /// namespace or a name prefix to objects after they were encrypted, which changes the MAC.
    /// Each encrypted value is still authenticated by its own GCM tag and path.
    Skip,
}

/// Why a document could not be decrypted. No variant carries plaintext, key material or the MAC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("not SOPS-encrypted (no top-level sops map with a mac)")]
    NotEncrypted,
    #[error("the sops metadata is malformed: {field} {problem}")]
    BadMetadata {
        field: &'static str,
        problem: &'static str,
    },
    #[error(
        "the sops metadata sets more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, unencrypted_comment_regex"
    )]
    ConflictingRules,
    #[error("the sops metadata lists no key that holds the data key")]
    NoKeys,
    #[error(
        "the data key is split over {count} key groups (Shamir secret sharing), which weir does not support (encrypt for age recipients in one group)"
    )]
    KeyGroups { count: usize },
    #[error(
        "no age identity given to decrypt with (set SOPS_AGE_KEY_FILE or add a *.agekey entry)"
    )]
    NoIdentities,
    #[error(
        "the data key is encrypted only for {}: weir decrypts with age keys only (add an age recipient with `sops updatekeys`)",
        services.join(", ")
    )]
    UnsupportedKeyService { services: Vec<&'static str> },
    #[error(
        "none of the age identities given opens the data key (it is encrypted for {}{})",
        if recipients.is_empty() { "no age recipient".to_string() } else { recipients.join(", ") },
        if others.is_empty() { String::new() } else { format!("; also for {}, which weir does not use", others.join(", ")) }
    )]
    NoMatchingIdentity {
        recipients: Vec<String>,
        others: Vec<&'static str>,
    },
    #[error("the age stanza for {recipient} does not hold a 32-byte data key ({problem})")]
    BadDataKey {
        recipient: String,
        problem: &'static str,
    },
    #[error("the value at {path} cannot be decrypted: {problem}")]
    Value { path: String, problem: ValueProblem },
    #[error("the MAC cannot be decrypted: {problem}")]
    MacUnreadable { problem: ValueProblem },
    #[error(
        "the MAC does not match the values: the file was changed after it was encrypted (re-encrypt it with sops)"
    )]
    MacMismatch,
}

/// Whether `doc` carries SOPS metadata: a top-level `sops` map with a non-empty `mac` (the test
/// Flux's decryptor applies before decrypting an object).
pub fn is_encrypted(doc: &Value) -> bool {
    doc.get("sops")
        .and_then(|s| s.get("mac"))
        .is_some_and(|m| m.as_str().is_some_and(|s| !s.is_empty()))
}

/// Decrypts `doc` in place: every value the file's rule encrypts is replaced by its plaintext and
/// the `sops` block is removed. On error `doc` is left unchanged.
pub fn decrypt(doc: &mut Value, ids: &Identities, mac: Mac) -> Result<(), Error> {
    if !is_encrypted(doc) {
        return Err(Error::NotEncrypted);
    }
    let meta = Metadata::parse(&doc["sops"])?;
    let key = data_key(&meta, ids)?;
    let mut tree = doc.clone();
    if let Some(m) = tree.as_object_mut() {
        m.shift_remove("sops");
    }
    let mut hash = Sha512::new();
    if meta.mac_only_encrypted {
        hash.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    let mut walk = Walk {
        meta: &meta,
        key: &key,
        hash: &mut hash,
        path: Vec::new(),
        shown: Vec::new(),
    };
    walk.value(&mut tree)?;
    if mac == Mac::Verify {
        let computed: String = hash.finalize().iter().map(|b| format!("{b:02X}")).collect();
        let stored = if meta.mac.is_empty() {
            return Err(Error::MacMismatch);
        } else {
            value::decrypt(&Value::String(meta.mac.clone()), &key, &meta.last_modified)
                .map_err(|problem| Error::MacUnreadable { problem })?
        };
        if stored.mac_bytes() != computed.as_bytes() {
            return Err(Error::MacMismatch);
        }
    }
    *doc = tree;
    Ok(())
}

/// The data key from the first age stanza one of `ids` opens.
fn data_key(meta: &Metadata, ids: &Identities) -> Result<Zeroizing<[u8; 32]>, Error> {
    let group: &KeyGroup = match meta.groups.as_slice() {
        [g] => g,
        groups => {
            return Err(Error::KeyGroups {
                count: groups.len(),
            });
        }
    };
    if group.age.is_empty() {
        return Err(Error::UnsupportedKeyService {
            services: group.others.clone(),
        });
    }
    if ids.is_empty() {
        return Err(Error::NoIdentities);
    }
    for (recipient, enc) in &group.age {
        let bad = |problem| Error::BadDataKey {
            recipient: recipient.clone(),
            problem,
        };
        let reader = age::armor::ArmoredReader::new(enc.as_bytes());
        let decryptor = age::Decryptor::new(reader).map_err(|_| bad("not an age file"))?;
        let mut stream = match decryptor.decrypt(ids.as_age()) {
            Ok(s) => s,
            Err(age::DecryptError::NoMatchingKeys) => continue,
            Err(_) => return Err(bad("the age file is malformed")),
        };
        let mut plain = Zeroizing::new(Vec::with_capacity(32));
        stream
            .read_to_end(&mut plain)
            .map_err(|_| bad("the age payload does not authenticate"))?;
        let key: [u8; 32] = plain
            .as_slice()
            .try_into()
            .map_err(|_| bad("wrong length"))?;
        return Ok(Zeroizing::new(key));
    }
    Err(Error::NoMatchingIdentity {
        recipients: group.age.iter().map(|(r, _)| r.clone()).collect(),
        others: group.others.clone(),
    })
}

struct Walk<'a> {
    meta: &'a Metadata,
    key: &'a [u8; 32],
    hash: &'a mut Sha512,
    /// The path SOPS authenticates: map keys only (list items share their list's path).
    path: Vec<String>,
    /// The same path for messages, with list indexes.
    shown: Vec<String>,
}

impl Walk<'_> {
    fn value(&mut self, v: &mut Value) -> Result<(), Error> {
        match v {
            Value::Null => Ok(()),
            Value::Object(m) => {
                for (k, child) in m.iter_mut() {
                    self.path.push(k.clone());
                    self.shown.push(k.clone());
                    let r = self.value(child);
                    self.path.pop();
                    self.shown.pop();
                    r?;
                }
                Ok(())
            }
            Value::Array(items) => {
                for (i, child) in items.iter_mut().enumerate() {
                    if let Some(last) = self.shown.last_mut() {
                        last.push_str(&format!("[{i}]"));
                    }
                    let r = self.value(child);
                    if let Some(last) = self.shown.last_mut()
                        && let Some(at) = last.rfind('[')
                    {
                        last.truncate(at);
                    }
                    r?;
                }
                Ok(())
            }
            leaf => self.leaf(leaf),
        }
    }

    fn leaf(&mut self, v: &mut Value) -> Result<(), Error> {
        let path: Vec<&str> = self.path.iter().map(String::as_str).collect();
        let encrypted = self.meta.rule.encrypts(&path);
        if encrypted {
            let mut aad = path.join(":");
            aad.push(':');
            let plain = value::decrypt(v, self.key, &aad).map_err(|problem| Error::Value {
                path: self.shown.join("."),
                problem,
            })?;
            if !matches!(plain, Plain::Comment(_)) {
                self.hash.update(plain.mac_bytes());
            }
            *v = plain.into_json();
        } else if !self.meta.mac_only_encrypted
            && let Some(bytes) = value::mac_bytes_of(v)
        {
            self.hash.update(bytes);
        }
        Ok(())
    }
}
