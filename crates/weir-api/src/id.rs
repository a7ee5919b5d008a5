//! Identifiers with Flux's exact string formats; each round-trips through `FromStr` and `Display`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// `namespace/name` of an object of a known kind; the namespace is empty for cluster-scoped objects.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectKey {
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("{input:?} is not a digest: expected `<algorithm>:<hex>`")]
    Digest { input: String },
    #[error("{input:?} is not a revision: expected `[<ref>@]<algorithm>:<hex>`")]
    Revision { input: String },
    #[error("{input:?} is not an inventory id: expected `<namespace>_<name>_<group>_<kind>`")]
    InventoryId { input: String },
}

/// A content digest such as `sha256:<64 hex>` or `sha1:<40 hex>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    pub algorithm: String,
    pub hex: String,
}

impl Digest {
    pub fn sha256(hex: impl Into<String>) -> Self {
        Self {
            algorithm: "sha256".into(),
            hex: hex.into(),
        }
    }

    pub fn sha1(hex: impl Into<String>) -> Self {
        Self {
            algorithm: "sha1".into(),
            hex: hex.into(),
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl FromStr for Digest {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseError::Digest { input: s.into() };
        let (alg, hex) = s.split_once(':').ok_or_else(err)?;
        let expected_len = match alg {
            "sha1" => 40,
            "sha256" => 64,
            "sha384" => 96,
            "sha512" => 128,
            _ => return Err(err()),
        };
        if hex.len() != expected_len || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err());
        }
        Ok(Digest {
            algorithm: alg.into(),
            hex: hex.to_ascii_lowercase(),
        })
    }
}

/// A source revision in Flux's format: `main@sha1:<hex>`, `v1.2.0@sha1:<hex>`,
/// `refs/heads/main@sha1:<hex>` or a bare `sha1:<hex>`; OCI `<tag>@sha256:<hex>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision {
    /// The named reference, when there is one (branch, tag, ref name, OCI tag).
    pub reference: Option<String>,
    pub digest: Digest,
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reference {
            Some(r) => write!(f, "{r}@{}", self.digest),
            None => write!(f, "{}", self.digest),
        }
    }
}

impl FromStr for Revision {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseError::Revision { input: s.into() };
        // A tag may itself contain '@'; the digest follows the last one.
        let (reference, digest) = match s.rsplit_once('@') {
            Some((r, d)) if !r.is_empty() => (Some(r.to_string()), d),
            Some(_) => return Err(err()),
            None => (None, s),
        };
        let digest = digest.parse().map_err(|_| err())?;
        Ok(Revision { reference, digest })
    }
}

/// An inventory entry id in Flux's format: `<namespace>_<name>_<group>_<kind>`, with empty parts for
/// the core group and for cluster-scoped objects (e.g. `_ns1__Namespace`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InventoryId {
    pub namespace: String,
    pub name: String,
    pub group: String,
    pub kind: String,
}

impl fmt::Display for InventoryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}_{}_{}_{}",
            self.namespace, self.name, self.group, self.kind
        )
    }
}

impl FromStr for InventoryId {
    type Err = ParseError;

    /// Names and namespaces cannot contain `_` (DNS subdomains), and neither can kinds; groups can't
    /// either, so splitting on `_` is unambiguous.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('_').collect();
        match parts.as_slice() {
            [ns, name, group, kind] if !name.is_empty() && !kind.is_empty() => Ok(InventoryId {
                namespace: (*ns).into(),
                name: (*name).into(),
                group: (*group).into(),
                kind: (*kind).into(),
            }),
            _ => Err(ParseError::InventoryId { input: s.into() }),
        }
    }
}

macro_rules! serde_via_str {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_via_str!(Digest);
serde_via_str!(Revision);
serde_via_str!(InventoryId);

#[cfg(test)]
mod tests {
    use super::*;

    const SHA1: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn revisions_round_trip() {
        for s in [
            format!("main@sha1:{SHA1}"),
            format!("v1.2.0@sha1:{SHA1}"),
            format!("refs/heads/main@sha1:{SHA1}"),
            format!("sha1:{SHA1}"),
            format!("latest@sha256:{}", "a".repeat(64)),
        ] {
            let r: Revision = s.parse().expect("valid revision");
            assert_eq!(r.to_string(), s);
        }
        assert_eq!(
            format!("main@sha1:{SHA1}")
                .parse::<Revision>()
                .unwrap()
                .reference
                .as_deref(),
            Some("main")
        );
    }

    #[test]
    fn bad_revisions_are_rejected() {
        for s in [
            "",
            "main",
            "main@",
            "@sha1:abc",
            "main@sha1:xyz",
            "main@md5:0123",
        ] {
            assert!(s.parse::<Revision>().is_err(), "{s}");
        }
    }

    #[test]
    fn inventory_ids_round_trip() {
        for s in [
            "apps_web_apps_Deployment",
            "_ns1__Namespace",
            "default_cfg__ConfigMap",
        ] {
            let id: InventoryId = s.parse().expect("valid id");
            assert_eq!(id.to_string(), s);
        }
        assert!("a_b_c".parse::<InventoryId>().is_err());
        assert!("a__c_".parse::<InventoryId>().is_err());
    }

    #[test]
    fn digests_are_validated() {
        assert!(
            format!("sha256:{}", "f".repeat(64))
                .parse::<Digest>()
                .is_ok()
        );
        assert!("sha256:abc".parse::<Digest>().is_err());
        assert!(format!("md5:{}", "f".repeat(32)).parse::<Digest>().is_err());
    }

    #[test]
    fn object_keys_display() {
        assert_eq!(
            ObjectKey::new("flux-system", "apps").to_string(),
            "flux-system/apps"
        );
        assert_eq!(ObjectKey::new("", "ns").to_string(), "ns");
    }
}
