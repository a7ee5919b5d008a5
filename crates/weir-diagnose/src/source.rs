//! Why a source fails, read from its Ready condition as Flux's source-controller or weir writes it.
//!
//! Both controllers put the cause in the message (Flux uses `GitOperationFailed` for nearly every fetch
//! failure), so the classification reads the reason first and the message text second. Messages are
//! already free of secret data (both controllers redact URLs); only the URL's host is added here.

use serde::Serialize;
use weir_api::condition::reason;

/// The cause of a failing source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SourceCause {
    /// The Secret named in `spec.secretRef` does not exist.
    SecretMissing,
    /// The host refused the credentials (or their absence).
    Authentication,
    /// The SSH host key is not in `known_hosts`.
    HostKey,
    /// The branch, tag, semver range or commit does not exist; near names when the message has them.
    RefNotFound { similar: Vec<String> },
    /// The host (or weir's own per-host budget) is rate limiting; seconds until it resets when known.
    RateLimited { retry_after_secs: Option<u64> },
    /// The fetch ran into its timeout.
    Timeout,
    /// The host could not be reached (DNS, connection refused, TLS).
    Unreachable,
    /// A reply, the artifact or a file was larger than its limit.
    TooLarge,
    /// Anything else.
    Other,
}

impl SourceCause {
    /// A short kebab-case name, for grouping and `-o json`.
    pub fn code(&self) -> &'static str {
        match self {
            SourceCause::SecretMissing => "secret-missing",
            SourceCause::Authentication => "authentication",
            SourceCause::HostKey => "host-key",
            SourceCause::RefNotFound { .. } => "ref-not-found",
            SourceCause::RateLimited { .. } => "rate-limited",
            SourceCause::Timeout => "timeout",
            SourceCause::Unreachable => "unreachable",
            SourceCause::TooLarge => "too-large",
            SourceCause::Other => "source-failed",
        }
    }

    /// What to do about it, for a source named `what` (e.g. `GitRepository flux-system/apps`) whose
    /// host is `host`.
    pub fn advice(&self, what: &str, host: &str, secret: Option<&str>) -> String {
        let secret = secret.map_or_else(|| "spec.secretRef".to_string(), |s| format!("Secret {s}"));
        match self {
            SourceCause::SecretMissing => {
                format!("create {secret}, or fix spec.secretRef of {what}")
            }
            SourceCause::Authentication => format!(
                "check the credentials in {secret} and their access to the repository on {host}"
            ),
            SourceCause::HostKey => {
                format!("add {host}'s current host key to known_hosts in {secret}")
            }
            SourceCause::RefNotFound { similar } if !similar.is_empty() => format!(
                "fix spec.ref of {what} (near names on {host}: {})",
                similar.join(", ")
            ),
            SourceCause::RefNotFound { .. } => {
                format!("fix spec.ref of {what}, or push the missing ref to {host}")
            }
            SourceCause::RateLimited {
                retry_after_secs: Some(s),
            } => format!(
                "{host} allows more requests in about {}s; lengthen spec.interval of the sources on {host}, or use credentials with a larger quota",
                s
            ),
            SourceCause::RateLimited { .. } => format!(
                "wait for {host}'s limit to reset; lengthen spec.interval of the sources on {host}, or use credentials with a larger quota"
            ),
            SourceCause::Timeout => {
                format!("raise spec.timeout of {what}, or check the network path to {host}")
            }
            SourceCause::Unreachable => format!(
                "check that {host} resolves and accepts connections from the cluster (DNS, proxy, firewall, TLS)"
            ),
            SourceCause::TooLarge => format!(
                "make the repository smaller for {what} (spec.ignore, sparse checkout, a smaller path), or raise the controller's size limit"
            ),
            SourceCause::Other => format!("read the message of {what}; `weir events` may say more"),
        }
    }
}

/// Classifies a failing source by its Ready condition's reason and message.
pub fn classify(reason_: &str, message: &str) -> SourceCause {
    let m = message.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| m.contains(n));
    if has(&["secret"]) && has(&["not found", "does not exist"]) {
        return SourceCause::SecretMissing;
    }
    if has(&[
        "rate limit",
        "http 429",
        "too many requests",
        "request budget",
    ]) {
        return SourceCause::RateLimited {
            retry_after_secs: retry_after(&m),
        };
    }
    if has(&["host key", "knownhosts", "known_hosts"]) {
        return SourceCause::HostKey;
    }
    if reason_ == reason::AUTHENTICATION_FAILED
        || has(&[
            "authentication",
            "authorization failed",
            "unable to authenticate",
            "invalid credentials",
            "invalid username or password",
            "permission denied (publickey",
            "http 401",
            "http 403",
            "could not read username",
        ])
    {
        return SourceCause::Authentication;
    }
    if has(&[
        "no branch named",
        "no tag named",
        "no ref named",
        "no commit named",
        "no tag matching",
        "couldn't find remote ref",
        "reference not found",
        "unable to resolve",
        "no match found for semver",
        "did not match any",
    ]) {
        return SourceCause::RefNotFound {
            similar: similar_names(message),
        };
    }
    if has(&["timed out", "timeout", "deadline exceeded"]) {
        return SourceCause::Timeout;
    }
    if has(&[
        "larger than the limit",
        "too large",
        "size limit",
        "exceeds the limit",
    ]) {
        return SourceCause::TooLarge;
    }
    if has(&[
        "could not reach",
        "connection refused",
        "no such host",
        "dial tcp",
        "network is unreachable",
        "certificate",
        "tls",
    ]) {
        return SourceCause::Unreachable;
    }
    SourceCause::Other
}

/// `retry after 42s` in a message.
fn retry_after(lower: &str) -> Option<u64> {
    let at = lower.find("retry after ")? + "retry after ".len();
    let digits: String = lower[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Near names a message lists as `(similar: a, b)` (weir) or `did you mean "a"` forms.
fn similar_names(message: &str) -> Vec<String> {
    for marker in ["(similar: ", "did you mean "] {
        if let Some(at) = message.find(marker) {
            let rest = &message[at + marker.len()..];
            let end = rest.find([')', '?']).unwrap_or(rest.len());
            return rest[..end]
                .split(',')
                .map(|s| s.trim().trim_matches(['"', '\'', '`']).to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
    }
    Vec::new()
}

/// The host of a repository URL, without user information or path: `github.com`, `git.example:2222`.
/// SCP-like `git@host:path` gives `host`.
pub fn host_of(url: &str) -> String {
    let rest = match url.split_once("://") {
        Some((_, rest)) => rest,
        None => url,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if !url.contains("://") {
        // scp-like: user@host:path
        return host.split(':').next().unwrap_or("").to_string();
    }
    host.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weir_messages_classify() {
        let cases = [
            (
                "AuthenticationFailed",
                "authentication to https://git.example/a.git failed (HTTP 401): check the secret's credentials and their access to the repository",
                "authentication",
            ),
            (
                "AuthenticationFailed",
                "Secret apps/git-creds named in spec.secretRef does not exist",
                "secret-missing",
            ),
            (
                "GitOperationFailed",
                "no branch named \"mian\" (similar: main) on https://git.example/a.git",
                "ref-not-found",
            ),
            (
                "GitOperationFailed",
                "https://git.example/a.git is rate limiting requests (HTTP 429); retry after 120s",
                "rate-limited",
            ),
            (
                "GitOperationFailed",
                "not fetching https://git.example/a.git: request budget for git.example is spent; next request allowed in 3s",
                "rate-limited",
            ),
            (
                "GitOperationFailed",
                "fetching https://git.example/a.git timed out after 60s",
                "timeout",
            ),
            (
                "GitOperationFailed",
                "https://git.example/a.git sent a pack larger than the limit of 1048576 bytes",
                "too-large",
            ),
            (
                "GitOperationFailed",
                "could not reach https://git.example/a.git: connection refused",
                "unreachable",
            ),
            (
                "GitOperationFailed",
                "host key verification of ssh://git.example/a.git failed: the server's key is not in the secret's known_hosts",
                "host-key",
            ),
            ("GitOperationFailed", "something odd", "source-failed"),
        ];
        for (r, m, code) in cases {
            assert_eq!(classify(r, m).code(), code, "{m}");
        }
    }

    #[test]
    fn flux_messages_classify() {
        let cases = [
            (
                "GitOperationFailed",
                "failed to checkout and determine revision: unable to clone 'https://github.com/o/r': authentication required",
                "authentication",
            ),
            (
                "GitOperationFailed",
                "failed to checkout and determine revision: unable to clone 'https://github.com/o/r': couldn't find remote ref \"refs/heads/nope\"",
                "ref-not-found",
            ),
            (
                "GitOperationFailed",
                "failed to checkout and determine revision: unable to clone 'ssh://git@github.com/o/r': ssh: handshake failed: knownhosts: key mismatch",
                "host-key",
            ),
            (
                "GitOperationFailed",
                "failed to checkout and determine revision: unable to clone 'https://github.com/o/r': context deadline exceeded",
                "timeout",
            ),
            (
                "GitOperationFailed",
                "unable to clone 'https://github.com/o/r': dial tcp: lookup github.com: no such host",
                "unreachable",
            ),
            (
                "AuthenticationFailed",
                "failed to get secret 'flux-system/creds': secrets \"creds\" not found",
                "secret-missing",
            ),
        ];
        for (r, m, code) in cases {
            assert_eq!(classify(r, m).code(), code, "{m}");
        }
    }

    #[test]
    fn details_are_extracted() {
        assert_eq!(
            classify("x", "no tag named \"v1.0\" (similar: v1.0.0, v1.1) on u"),
            SourceCause::RefNotFound {
                similar: vec!["v1.0.0".into(), "v1.1".into()]
            }
        );
        assert_eq!(
            classify(
                "x",
                "h is rate limiting requests (HTTP 403); retry after 42s"
            ),
            SourceCause::RateLimited {
                retry_after_secs: Some(42)
            }
        );
        assert_eq!(
            classify("x", "HTTP 429 too many requests"),
            SourceCause::RateLimited {
                retry_after_secs: None
            }
        );
    }

    #[test]
    fn hosts_drop_credentials_and_paths() {
        assert_eq!(
            host_of("https://user:s3cret@git.example/o/r.git"),
            "git.example"
        );
        assert_eq!(
            host_of("ssh://git@git.example:2222/o/r"),
            "git.example:2222"
        );
        assert_eq!(host_of("git@github.com:o/r.git"), "github.com");
        assert_eq!(host_of("http://127.0.0.1:8080/r.git"), "127.0.0.1:8080");
    }

    #[test]
    fn advice_names_the_host_and_never_secret_data() {
        let a = SourceCause::RateLimited {
            retry_after_secs: Some(60),
        }
        .advice("GitRepository a/b", "github.com", None);
        assert!(a.contains("github.com") && a.contains("60s"), "{a}");
        let a = SourceCause::Authentication.advice("GitRepository a/b", "h", Some("a/creds"));
        assert!(a.contains("Secret a/creds"), "{a}");
    }
}
