//! Registry credentials: a `kubernetes.io/dockerconfigjson` Secret (`spec.secretRef`) and a CA
//! (`spec.certSecretRef`), and the distribution spec's `WWW-Authenticate` challenges. No I/O but
//! reading a secret directory.

use std::{collections::BTreeMap, io, path::Path};

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::redact::Secret;

/// The key of a dockerconfigjson Secret.
pub const DOCKER_CONFIG_KEY: &str = ".dockerconfigjson";

/// Credentials for one registry host.
#[derive(Clone, Debug, Default)]
pub struct OciCredentials {
    /// `username`/`password` (or `auth`) of the host's entry: basic auth, or the credentials a
    /// token service is asked with.
    pub basic: Option<(String, Secret)>,
    /// `registrytoken` of the host's entry: sent as `Authorization: Bearer`.
    pub registry_token: Option<Secret>,
    /// `ca.crt`: PEM certificates trusted instead of the built-in roots.
    pub ca_pem: Option<Vec<u8>>,
}

/// A secret that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory could not be read.
    #[error("could not read secret directory {dir}")]
    ReadDir {
        /// The directory.
        dir: std::path::PathBuf,
        /// Why.
        source: io::Error,
    },
    /// `.dockerconfigjson` is not a Docker config.
    #[error("secret key .dockerconfigjson is invalid: {reason}")]
    InvalidDockerConfig {
        /// What is wrong (never a value).
        reason: String,
    },
}

#[derive(serde::Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, DockerAuth>,
}

#[derive(serde::Deserialize)]
struct DockerAuth {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// `https://index.docker.io/v1/` → `index.docker.io`; `host:5000` stays.
fn normalise_host(key: &str) -> String {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k).to_ascii_lowercase()
}

impl OciCredentials {
    /// Reads a secret directory (a mounted Secret: file name = key): `.dockerconfigjson` for the
    /// entry of `host`, and `ca.crt`. Other keys are ignored.
    pub fn from_dir(dir: &Path, host: &str) -> Result<Self, Error> {
        let read = |name: &str| -> Result<Option<Vec<u8>>, Error> {
            match std::fs::read(dir.join(name)) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(Error::ReadDir {
                    dir: dir.to_owned(),
                    source,
                }),
            }
        };
        std::fs::metadata(dir).map_err(|source| Error::ReadDir {
            dir: dir.to_owned(),
            source,
        })?;
        let mut data = BTreeMap::new();
        for key in [DOCKER_CONFIG_KEY, "ca.crt"] {
            if let Some(v) = read(key)? {
                data.insert(key.to_owned(), v);
            }
        }
        Self::from_data(&data, host)
    }

    /// Interprets a Secret's `data` (a dockerconfigjson Secret, or a cert Secret with `ca.crt`, or
    /// both merged) for `host`.
    pub fn from_data(data: &BTreeMap<String, Vec<u8>>, host: &str) -> Result<Self, Error> {
        let mut creds = OciCredentials {
            ca_pem: data.get("ca.crt").cloned(),
            ..OciCredentials::default()
        };
        let Some(raw) = data.get(DOCKER_CONFIG_KEY) else {
            return Ok(creds);
        };
        let invalid = |reason: &str| Error::InvalidDockerConfig {
            reason: reason.to_owned(),
        };
        let shape = || invalid("not JSON of the form {\"auths\": {HOST: {...}}}");
        let value: serde_json::Value = serde_json::from_slice(raw).map_err(|_| shape())?;
        if !value.is_object() {
            return Err(shape());
        }
        let config: DockerConfig = serde_json::from_value(value).map_err(|_| shape())?;
        let host = host.to_ascii_lowercase();
        let Some(entry) = config
            .auths
            .iter()
            .find(|(k, _)| normalise_host(k) == host)
            .map(|(_, v)| v)
        else {
            return Ok(creds);
        };
        if entry
            .identitytoken
            .as_deref()
            .is_some_and(|t| !t.is_empty())
        {
            return Err(invalid(
                "identitytoken (an OAuth2 refresh token) is not supported; use username and password",
            ));
        }
        if let Some(token) = entry.registrytoken.as_deref().filter(|t| !t.is_empty()) {
            creds.registry_token = Some(Secret::new(token));
            return Ok(creds);
        }
        match (&entry.username, &entry.password, &entry.auth) {
            (Some(u), Some(p), _) if !u.is_empty() => {
                creds.basic = Some((u.clone(), Secret::new(p.clone())));
            }
            (_, _, Some(auth)) if !auth.is_empty() => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(auth.trim())
                    .map_err(|_| invalid("'auth' of the host's entry is not base64"))?;
                let text = String::from_utf8(decoded)
                    .map_err(|_| invalid("'auth' of the host's entry is not UTF-8"))?;
                let (u, p) = text
                    .split_once(':')
                    .ok_or_else(|| invalid("'auth' of the host's entry is not user:password"))?;
                creds.basic = Some((u.to_owned(), Secret::new(p)));
            }
            _ => {}
        }
        Ok(creds)
    }

    /// A digest of every credential, for coalescing keys. Not reversible.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        let mut field = |name: &str, value: &[u8]| {
            h.update(name.as_bytes());
            h.update((value.len() as u64).to_le_bytes());
            h.update(value);
        };
        if let Some((u, p)) = &self.basic {
            field("u", u.as_bytes());
            field("p", p.expose().as_bytes());
        }
        if let Some(t) = &self.registry_token {
            field("t", t.expose().as_bytes());
        }
        if let Some(ca) = &self.ca_pem {
            field("ca", ca);
        }
        h.finalize().into()
    }

    /// `Basic base64(user:password)`, when there are basic credentials.
    pub(crate) fn basic_header(&self) -> Option<Secret> {
        let (u, p) = self.basic.as_ref()?;
        Some(Secret::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{}", p.expose()))
        )))
    }
}

/// A `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm=...`.
    Basic,
    /// `Bearer realm=...,service=...,scope=...`: get a token from `realm`.
    Bearer {
        /// The token endpoint.
        realm: String,
        /// `service`.
        service: Option<String>,
        /// `scope`.
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value (one challenge; quoted or bare parameter values).
pub fn parse_challenge(value: &str) -> Option<Challenge> {
    let value = value.trim();
    let (scheme, params) = value.split_once(' ').unwrap_or((value, ""));
    let mut map = BTreeMap::new();
    let mut rest = params.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (val, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        map.insert(key, val.to_owned());
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: map.remove("realm")?,
            service: map.remove("service"),
            scope: map.remove("scope"),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker(json: &str) -> BTreeMap<String, Vec<u8>> {
        BTreeMap::from([(DOCKER_CONFIG_KEY.to_owned(), json.as_bytes().to_vec())])
    }

    #[test]
    fn docker_config_should_pick_the_host_entry() {
        let auth = base64::engine::general_purpose::STANDARD.encode("bob:s3cr3t");
        let data = docker(&format!(
            r#"{{"auths":{{"https://other.io/v1/":{{"username":"x","password":"y"}},"127.0.0.1:5000":{{"auth":"{auth}"}}}}}}"#
        ));
        let c = OciCredentials::from_data(&data, "127.0.0.1:5000").expect("valid");
        let (u, p) = c.basic.as_ref().expect("basic");
        assert_eq!((u.as_str(), p.expose()), ("bob", "s3cr3t"));
        assert!(!format!("{c:?}").contains("s3cr3t"));
        let other = OciCredentials::from_data(&data, "other.io").expect("valid");
        assert_eq!(other.basic.as_ref().map(|b| b.0.as_str()), Some("x"));
        let none = OciCredentials::from_data(&data, "ghcr.io").expect("valid");
        assert!(none.basic.is_none());
    }

    #[test]
    fn bad_docker_config_should_name_no_value() {
        let err = OciCredentials::from_data(&docker(r#"{"auths":{"h":{"auth":"!!"}}}"#), "h")
            .expect_err("invalid");
        assert_eq!(
            err.to_string(),
            "secret key .dockerconfigjson is invalid: 'auth' of the host's entry is not base64"
        );
        assert!(OciCredentials::from_data(&docker("[]"), "h").is_err());
        assert!(
            OciCredentials::from_data(&docker(r#"{"auths":{"h":{"identitytoken":"t"}}}"#), "h")
                .is_err()
        );
    }

    #[test]
    fn challenges_should_parse() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:org/app:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:org/app:pull".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge(r#"Bearer service="x""#), None);
    }
}
