//! Types that keep credentials out of logs, errors, `Debug` output and status.

use std::fmt;

/// A credential string (password, token, private key). Its `Debug` never shows the value and it has
/// no `Display`: reading it takes an explicit [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The credential itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A repository URL with any password or token removed, safe to print.
///
/// `https://user:token@host/repo` shows as `https://host/repo` (tokens are often put in the user part,
/// so HTTP(S) drops the whole user info); `ssh://git:pw@host/repo` keeps the user: `ssh://git@host/repo`.
/// Query strings are dropped as well: some hosts accept tokens there.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RedactedUrl(String);

impl RedactedUrl {
    /// Redacts `raw`.
    pub fn new(raw: &str) -> Self {
        let Some(scheme_end) = raw.find("://") else {
            // scp-like `git@host:path`: the user part is a login name, never a secret.
            return RedactedUrl(raw.to_owned());
        };
        let scheme = &raw[..scheme_end];
        let rest = &raw[scheme_end + 3..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        let host = match authority.rfind('@') {
            Some(at) => {
                let user_info = &authority[..at];
                let host = &authority[at + 1..];
                if scheme.starts_with("http") {
                    host.to_owned()
                } else {
                    let user = user_info.split(':').next().unwrap_or_default();
                    format!("{user}@{host}")
                }
            }
            None => authority.to_owned(),
        };
        let path = path.split(['?', '#']).next().unwrap_or_default();
        RedactedUrl(format!("{scheme}://{host}{path}"))
    }

    /// The redacted text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_hides_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn redacted_url_drops_http_user_info_and_query() {
        assert_eq!(
            RedactedUrl::new("https://x-access-token:ghs_abc@github.com/o/r.git?token=1").as_str(),
            "https://github.com/o/r.git"
        );
        assert_eq!(RedactedUrl::new("https://tok@h/r").as_str(), "https://h/r");
        assert_eq!(
            RedactedUrl::new("ssh://git:pw@h:22/r").as_str(),
            "ssh://git@h:22/r"
        );
        assert_eq!(
            RedactedUrl::new("git@github.com:o/r").as_str(),
            "git@github.com:o/r"
        );
        assert_eq!(
            format!("{:?}", RedactedUrl::new("https://u:pass@h/r")),
            "\"https://h/r\""
        );
    }
}
