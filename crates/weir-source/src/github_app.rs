//! GitHub App authentication: an RS256 JWT signed with the app's key buys an installation token,
//! which is used as HTTP basic auth (`x-access-token`) and cached until shortly before it expires.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::redact::Secret;

/// GitHub's public API.
pub const DEFAULT_BASE_URL: &str = "https://api.github.com";
/// The basic-auth user name for installation tokens.
pub const ACCESS_TOKEN_USERNAME: &str = "x-access-token";
/// Tokens this close to expiry are renewed instead of used.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// A GitHub App as a Flux secret describes it.
#[derive(Clone, Debug)]
pub struct GitHubApp {
    /// `githubAppID`.
    pub app_id: String,
    /// `githubAppInstallationID`.
    pub installation_id: Option<String>,
    /// `githubAppInstallationOwner`: used to look up the installation when no id is given.
    pub installation_owner: Option<String>,
    /// `githubAppPrivateKey`: PEM, PKCS#1 or PKCS#8 RSA.
    pub private_key: Secret,
    /// `githubAppBaseURL`, default `https://api.github.com`.
    pub base_url: String,
}

/// Getting an installation token failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The private key is not a PEM RSA key.
    #[error("githubAppPrivateKey is not a valid PEM RSA private key")]
    InvalidKey,
    /// The API could not be reached.
    #[error("could not reach GitHub API at {base_url}: {reason}")]
    Unreachable {
        /// The API base.
        base_url: String,
        /// Transport error text (never contains credentials).
        reason: String,
    },
    /// The API refused.
    #[error("GitHub API at {base_url} answered HTTP {status} for {what}")]
    Refused {
        /// The API base.
        base_url: String,
        /// What was asked.
        what: &'static str,
        /// The status.
        status: u16,
    },
    /// The app is not installed for the owner.
    #[error("GitHub App at {base_url} has no installation for {owner:?}")]
    NoInstallation {
        /// The API base.
        base_url: String,
        /// `githubAppInstallationOwner`.
        owner: String,
    },
    /// The reply did not have the expected shape.
    #[error("GitHub API at {base_url} sent an unexpected reply for {what}")]
    BadReply {
        /// The API base.
        base_url: String,
        /// What was asked.
        what: &'static str,
    },
}

impl Error {
    /// Whether trying again later may help.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Unreachable { .. }
                | Error::Refused {
                    status: 429 | 500..=599,
                    ..
                }
        )
    }
}

impl GitHubApp {
    /// A stable key for the token cache (hashes the key, never stores it).
    pub fn cache_key(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            self.app_id.as_str(),
            self.installation_id.as_deref().unwrap_or(""),
            self.installation_owner.as_deref().unwrap_or(""),
            self.base_url.as_str(),
            self.private_key.expose(),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        format!("{:x}", h.finalize())
    }

    /// An RS256 JWT for the app, valid ten minutes (backdated one minute against clock skew).
    pub fn jwt(&self, now: SystemTime) -> Result<Secret, Error> {
        let key = rsa_key(self.private_key.expose())?;
        let iat = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            .saturating_sub(60);
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = b64.encode(
            serde_json::json!({ "iat": iat, "exp": iat + 600, "iss": self.app_id }).to_string(),
        );
        let signing_input = format!("{header}.{claims}");
        let mut signature = vec![0; key.public_modulus_len()];
        key.sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            signing_input.as_bytes(),
            &mut signature,
        )
        .map_err(|_| Error::InvalidKey)?;
        Ok(Secret::new(format!(
            "{signing_input}.{}",
            b64.encode(signature)
        )))
    }
}

fn rsa_key(pem: &str) -> Result<aws_lc_rs::signature::RsaKeyPair, Error> {
    for item in ureq::tls::parse_pem(pem.as_bytes()) {
        if let Ok(ureq::tls::PemItem::PrivateKey(key)) = item {
            // PKCS#1 (`BEGIN RSA PRIVATE KEY`, what GitHub hands out) or PKCS#8.
            let der = key.der();
            return aws_lc_rs::signature::RsaKeyPair::from_der(der)
                .or_else(|_| aws_lc_rs::signature::RsaKeyPair::from_pkcs8(der))
                .map_err(|_| Error::InvalidKey);
        }
    }
    Err(Error::InvalidKey)
}

#[derive(serde::Deserialize)]
struct TokenReply {
    token: String,
    expires_at: String,
}

#[derive(serde::Deserialize)]
struct InstallationReply {
    id: u64,
    account: Account,
}

#[derive(serde::Deserialize)]
struct Account {
    login: String,
}

/// Installation tokens by app, reused until [`REFRESH_BEFORE_EXPIRY`] before they expire.
#[derive(Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<String, (Secret, SystemTime)>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCache { .. }")
    }
}

impl TokenCache {
    /// The installation token for `app`, from the cache or fresh from the API through `agent`.
    pub fn token(&self, app: &GitHubApp, agent: &ureq::Agent) -> Result<Secret, Error> {
        let key = app.cache_key();
        let now = SystemTime::now();
        {
            let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((token, expires)) = tokens.get(&key)
                && *expires > now + REFRESH_BEFORE_EXPIRY
            {
                return Ok(token.clone());
            }
        }
        let (token, expires) = request_token(app, agent, now)?;
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, (token.clone(), expires));
        Ok(token)
    }
}

fn request_token(
    app: &GitHubApp,
    agent: &ureq::Agent,
    now: SystemTime,
) -> Result<(Secret, SystemTime), Error> {
    let base = app.base_url.trim_end_matches('/');
    let jwt = app.jwt(now)?;
    let bearer = format!("Bearer {}", jwt.expose());
    let unreachable = |e: ureq::Error| Error::Unreachable {
        base_url: base.to_owned(),
        reason: e.to_string(),
    };
    let installation_id = match (&app.installation_id, &app.installation_owner) {
        (Some(id), _) => id.clone(),
        (None, Some(owner)) => {
            // The app's installations, matched by account login: works for users and organisations.
            const WHAT: &str = "the app's installations";
            let bad = || Error::BadReply {
                base_url: base.to_owned(),
                what: WHAT,
            };
            let mut reply = agent
                .get(format!("{base}/app/installations?per_page=100"))
                .header("Authorization", &bearer)
                .header("Accept", "application/vnd.github+json")
                .call()
                .map_err(unreachable)?;
            check(base, WHAT, reply.status().as_u16())?;
            let text = reply
                .body_mut()
                .with_config()
                .limit(MAX_API_REPLY)
                .read_to_string()
                .map_err(|_| bad())?;
            let installations: Vec<InstallationReply> =
                serde_json::from_str(&text).map_err(|_| bad())?;
            installations
                .into_iter()
                .find(|i| i.account.login.eq_ignore_ascii_case(owner))
                .map(|i| i.id.to_string())
                .ok_or_else(|| Error::NoInstallation {
                    base_url: base.to_owned(),
                    owner: owner.clone(),
                })?
        }
        (None, None) => {
            return Err(Error::BadReply {
                base_url: base.to_owned(),
                what: "an installation (no id or owner given)",
            });
        }
    };
    const WHAT: &str = "an installation token";
    let mut reply = agent
        .post(format!(
            "{base}/app/installations/{installation_id}/access_tokens"
        ))
        .header("Authorization", &bearer)
        .header("Accept", "application/vnd.github+json")
        .send_empty()
        .map_err(unreachable)?;
    check(base, WHAT, reply.status().as_u16())?;
    let bad = || Error::BadReply {
        base_url: base.to_owned(),
        what: WHAT,
    };
    let text = reply
        .body_mut()
        .with_config()
        .limit(MAX_API_REPLY)
        .read_to_string()
        .map_err(|_| bad())?;
    let body: TokenReply = serde_json::from_str(&text).map_err(|_| bad())?;
    let expires = parse_rfc3339_utc(&body.expires_at).ok_or_else(bad)?;
    Ok((Secret::new(body.token), expires))
}

/// The most bytes read from a GitHub API reply (a token, or 100 installations, is a few KiB).
const MAX_API_REPLY: u64 = 4 << 20;

fn check(base: &str, what: &'static str, status: u16) -> Result<(), Error> {
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(Error::Refused {
            base_url: base.to_owned(),
            what,
            status,
        })
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (what GitHub sends for `expires_at`).
pub fn parse_rfc3339_utc(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3_600 + mm * 60 + ss;
    u64::try_from(secs)
        .ok()
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_should_parse_github_expiry() {
        let t = parse_rfc3339_utc("2016-07-11T22:14:10Z").expect("parses");
        assert_eq!(
            t.duration_since(UNIX_EPOCH).expect("after epoch").as_secs(),
            1_468_275_250
        );
        assert!(parse_rfc3339_utc("2016-13-11T22:14:10Z").is_none());
    }

    #[test]
    fn invalid_key_should_not_echo_the_key() {
        let app = GitHubApp {
            app_id: "1".into(),
            installation_id: Some("2".into()),
            installation_owner: None,
            private_key: Secret::new("not a key"),
            base_url: DEFAULT_BASE_URL.into(),
        };
        let err = app.jwt(SystemTime::now()).expect_err("invalid");
        assert!(!err.to_string().contains("not a key"));
    }
}
