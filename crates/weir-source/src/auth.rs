//! Credentials as a Flux Git secret defines them, read from a directory of files (a mounted Secret).

use std::{
    collections::BTreeMap,
    io,
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};

use crate::{github_app::GitHubApp, redact::Secret};

/// Credentials for one GitRepository, from its `secretRef`.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// `username` and `password`: HTTP basic authentication.
    pub basic: Option<(String, Secret)>,
    /// `bearerToken`: HTTP `Authorization: Bearer`.
    pub bearer_token: Option<Secret>,
    /// `ca.crt` (or the older `caFile`): PEM certificates trusted instead of the built-in roots.
    pub ca_pem: Option<Vec<u8>>,
    /// `identity` (+ `known_hosts`): SSH.
    pub ssh: Option<SshCredentials>,
    /// `githubAppID`, ...: a GitHub App installation token used as basic auth.
    pub github_app: Option<GitHubApp>,
}

/// SSH key and the host keys to trust.
#[derive(Clone, Debug)]
pub struct SshCredentials {
    /// `identity`: the private key, OpenSSH or PEM format.
    pub identity: Secret,
    /// `known_hosts`: required, host keys are always checked.
    pub known_hosts: String,
}

/// A secret that cannot be used as given.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory could not be read.
    #[error("could not read secret directory {dir}")]
    ReadDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A key holds bytes that are not UTF-8 where text is required.
    #[error("secret key {key:?} is not UTF-8 text")]
    NotText {
        /// The key.
        key: String,
    },
    /// Keys that only make sense together are incomplete or contradict each other.
    #[error("secret is invalid: {reason}")]
    Invalid {
        /// What is wrong, naming keys (never values).
        reason: String,
    },
    /// An SSH identity with a passphrase (`password` beside `identity`).
    #[error(
        "ssh identities protected by a passphrase are not supported; store the key unencrypted"
    )]
    EncryptedIdentity,
}

fn text(data: &BTreeMap<String, Vec<u8>>, key: &str) -> Result<Option<String>, Error> {
    match data.get(key) {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes.clone())
            .map(|s| Some(s.trim_end_matches(['\n', '\r']).to_owned()))
            .map_err(|_| Error::NotText {
                key: key.to_owned(),
            }),
    }
}

impl Credentials {
    /// Reads the files of `dir` as secret keys (file name = key), like a mounted Kubernetes Secret;
    /// hidden entries (`..data` symlinks of a mount) are skipped.
    pub fn from_dir(dir: &Path) -> Result<Self, Error> {
        let read_err = |source| Error::ReadDir {
            dir: dir.to_owned(),
            source,
        };
        let mut data = BTreeMap::new();
        for entry in std::fs::read_dir(dir).map_err(read_err)? {
            let entry = entry.map_err(read_err)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !entry.path().is_file() {
                continue;
            }
            data.insert(name, std::fs::read(entry.path()).map_err(read_err)?);
        }
        Self::from_data(&data)
    }

    /// Interprets a Secret's `data` the way Flux's source-controller does.
    pub fn from_data(data: &BTreeMap<String, Vec<u8>>) -> Result<Self, Error> {
        let mut creds = Credentials::default();
        let username = text(data, "username")?;
        let password = text(data, "password")?;
        if let Some(identity) = text(data, "identity")? {
            if password.is_some() {
                return Err(Error::EncryptedIdentity);
            }
            let known_hosts = text(data, "known_hosts")?.ok_or_else(|| Error::Invalid {
                reason: "'identity' needs 'known_hosts' (host keys are always verified)".into(),
            })?;
            creds.ssh = Some(SshCredentials {
                identity: Secret::new(identity + "\n"),
                known_hosts,
            });
        } else {
            match (username, password) {
                (Some(u), Some(p)) => creds.basic = Some((u, Secret::new(p))),
                (Some(_), None) | (None, Some(_)) => {
                    return Err(Error::Invalid {
                        reason: "'username' and 'password' must be set together".into(),
                    });
                }
                (None, None) => {}
            }
        }
        creds.bearer_token = text(data, "bearerToken")?.map(Secret::new);
        creds.ca_pem = data.get("ca.crt").or_else(|| data.get("caFile")).cloned();
        if let Some(app_id) = text(data, "githubAppID")? {
            let private_key = text(data, "githubAppPrivateKey")?.ok_or_else(|| Error::Invalid {
                reason: "'githubAppID' needs 'githubAppPrivateKey'".into(),
            })?;
            let installation_id = text(data, "githubAppInstallationID")?;
            let installation_owner = text(data, "githubAppInstallationOwner")?;
            if installation_id.is_none() && installation_owner.is_none() {
                return Err(Error::Invalid {
                    reason: "'githubAppID' needs 'githubAppInstallationID' or 'githubAppInstallationOwner'".into(),
                });
            }
            creds.github_app = Some(GitHubApp {
                app_id,
                installation_id,
                installation_owner,
                private_key: Secret::new(private_key),
                base_url: text(data, "githubAppBaseURL")?
                    .unwrap_or_else(|| crate::github_app::DEFAULT_BASE_URL.to_owned()),
            });
        }
        let methods = usize::from(creds.basic.is_some())
            + usize::from(creds.bearer_token.is_some())
            + usize::from(creds.github_app.is_some());
        if methods > 1 {
            return Err(Error::Invalid {
                reason:
                    "set only one of 'username'/'password', 'bearerToken' and the 'githubApp*' keys"
                        .into(),
            });
        }
        Ok(creds)
    }

    /// A digest of every credential, so callers with the same secret share remote calls and callers
    /// with different secrets never do. Not reversible.
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
        if let Some(t) = &self.bearer_token {
            field("b", t.expose().as_bytes());
        }
        if let Some(ca) = &self.ca_pem {
            field("ca", ca);
        }
        if let Some(ssh) = &self.ssh {
            field("i", ssh.identity.expose().as_bytes());
            field("k", ssh.known_hosts.as_bytes());
        }
        if let Some(app) = &self.github_app {
            field("ga", app.cache_key().as_bytes());
        }
        h.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn basic_auth_should_never_show_the_password_in_debug() {
        let c = Credentials::from_data(&data(&[("username", "u"), ("password", "s3cr3t\n")]))
            .expect("valid");
        let (u, p) = c.basic.as_ref().expect("basic");
        assert_eq!((u.as_str(), p.expose()), ("u", "s3cr3t"));
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[test]
    fn identity_without_known_hosts_should_fail_clearly() {
        let err = Credentials::from_data(&data(&[("identity", "KEY")])).expect_err("invalid");
        assert_eq!(
            err.to_string(),
            "secret is invalid: 'identity' needs 'known_hosts' (host keys are always verified)"
        );
        assert!(!err.to_string().contains("KEY"));
    }

    #[test]
    fn github_app_needs_an_installation() {
        let err =
            Credentials::from_data(&data(&[("githubAppID", "1"), ("githubAppPrivateKey", "K")]))
                .expect_err("invalid");
        assert!(err.to_string().contains("githubAppInstallationID"));
    }

    #[test]
    fn fingerprints_should_differ_by_secret() {
        let a = Credentials::from_data(&data(&[("bearerToken", "a")])).expect("valid");
        let b = Credentials::from_data(&data(&[("bearerToken", "b")])).expect("valid");
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
    }
}
