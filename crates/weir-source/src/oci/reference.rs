//! OCI references without I/O: `oci://` URLs, `spec.ref` selection and Flux's revision strings.

use weir_api::flux::OCIRepositoryRef;

use crate::reference::{lenient_version, semver_range};

/// An `oci://host[:port]/repository` URL, split.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OciUrl {
    /// `host[:port]`, lowercase.
    pub host: String,
    /// The repository path (`org/app`).
    pub repository: String,
}

/// A URL that is not `oci://host/repository`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid OCI URL {url:?}: {reason}")]
pub struct InvalidUrl {
    /// The URL as given.
    pub url: String,
    /// What is wrong.
    pub reason: &'static str,
}

fn valid_repository(repo: &str) -> bool {
    !repo.is_empty()
        && repo.split('/').all(|part| {
            !part.is_empty()
                && part.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
                && part.as_bytes()[0].is_ascii_alphanumeric()
        })
}

impl OciUrl {
    /// Parses `oci://host[:port]/repository` (no tag, no digest), as `spec.url` holds it.
    pub fn parse(url: &str) -> Result<OciUrl, InvalidUrl> {
        let err = |reason| InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let rest = url
            .strip_prefix("oci://")
            .ok_or_else(|| err("the URL must start with oci://"))?;
        let (host, repository) = rest
            .split_once('/')
            .ok_or_else(|| err("the URL has no repository path after the host"))?;
        if host.is_empty()
            || host.contains('@')
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        {
            return Err(err(
                "the host is empty or has characters a host cannot have",
            ));
        }
        if !valid_repository(repository) {
            return Err(err(
                "the repository path must be lowercase letters, digits, '.', '_', '-' and '/' (no tag or digest in spec.url)",
            ));
        }
        Ok(OciUrl {
            host: host.to_ascii_lowercase(),
            repository: repository.to_owned(),
        })
    }

    /// Parses `oci://host/repository:tag` or `oci://host/repository@sha256:<hex>` (the CLI's
    /// artifact addresses); a missing tag is `latest`.
    pub fn parse_with_tag(url: &str) -> Result<(OciUrl, Target), InvalidUrl> {
        if let Some((base, digest)) = url.rsplit_once('@') {
            let digest = parse_digest(digest).ok_or_else(|| InvalidUrl {
                url: url.to_owned(),
                reason: "the digest after '@' must be sha256: and 64 hex digits",
            })?;
            return Ok((OciUrl::parse(base)?, Target::Digest(digest)));
        }
        let last_slash = url.rfind('/').unwrap_or(0);
        match url[last_slash..].rfind(':') {
            Some(i) if last_slash > "oci://".len() => {
                let (base, tag) = url.split_at(last_slash + i);
                let tag = &tag[1..];
                if !valid_tag(tag) {
                    return Err(InvalidUrl {
                        url: url.to_owned(),
                        reason: "a tag is up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'",
                    });
                }
                Ok((OciUrl::parse(base)?, Target::Tag(tag.to_owned())))
            }
            _ => Ok((OciUrl::parse(url)?, Target::Tag("latest".to_owned()))),
        }
    }

    /// `oci://host/repository`.
    pub fn to_url(&self) -> String {
        format!("oci://{}/{}", self.host, self.repository)
    }
}

/// What to read from a repository: a tag or a manifest digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// A tag.
    Tag(String),
    /// `sha256:<hex>`.
    Digest(String),
}

impl Target {
    /// The path segment of `/v2/<repo>/manifests/<reference>`.
    pub fn as_str(&self) -> &str {
        match self {
            Target::Tag(t) | Target::Digest(t) => t,
        }
    }
}

/// Whether `tag` is a valid OCI tag (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`).
pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && (tag.as_bytes()[0].is_ascii_alphanumeric() || tag.as_bytes()[0] == b'_')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `sha256:<64 hex>` lowercased, or `None`.
pub fn parse_digest(digest: &str) -> Option<String> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("sha256:{}", hex.to_ascii_lowercase()))
}

/// How `spec.ref` picks a manifest, in Flux's precedence: digest, then semver, then tag.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Selector {
    /// `ref.digest`: this manifest, no tag involved.
    Digest(String),
    /// `ref.semver` (+ `ref.semverFilter`): the highest tag in range.
    Semver {
        /// The Masterminds range.
        range: String,
        /// A regular expression tags must match first.
        filter: Option<String>,
    },
    /// `ref.tag` (default `latest`).
    Tag(String),
}

/// A `spec.ref` that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    /// `ref.digest` is not `sha256:<64 hex>`.
    #[error("ref.digest {0:?} is not sha256: followed by 64 hex digits")]
    InvalidDigest(String),
    /// `ref.tag` has characters a tag cannot have.
    #[error("ref.tag {0:?} is not a valid OCI tag")]
    InvalidTag(String),
    /// `ref.semver` does not parse.
    #[error("invalid semver range {range:?}: {reason}")]
    InvalidSemver {
        /// As written.
        range: String,
        /// Why.
        reason: String,
    },
    /// `ref.semverFilter` is not a regular expression.
    #[error("invalid semverFilter {filter:?}: {reason}")]
    InvalidFilter {
        /// As written.
        filter: String,
        /// Why.
        reason: String,
    },
}

impl Selector {
    /// The selector of `reference` (`None`: tag `latest`), validated.
    pub fn of(reference: Option<&OCIRepositoryRef>) -> Result<Selector, RefError> {
        let reference = reference.cloned().unwrap_or_default();
        fn non_empty(s: &Option<String>) -> Option<&str> {
            s.as_deref().filter(|s| !s.trim().is_empty())
        }
        if let Some(digest) = non_empty(&reference.digest) {
            return parse_digest(digest.trim())
                .map(Selector::Digest)
                .ok_or_else(|| RefError::InvalidDigest(digest.to_owned()));
        }
        if let Some(range) = non_empty(&reference.semver) {
            semver_range(range).map_err(|reason| RefError::InvalidSemver {
                range: range.to_owned(),
                reason,
            })?;
            let filter = non_empty(&reference.semver_filter).map(str::to_owned);
            if let Some(f) = &filter {
                regex::Regex::new(f).map_err(|e| RefError::InvalidFilter {
                    filter: f.clone(),
                    reason: e.to_string(),
                })?;
            }
            return Ok(Selector::Semver {
                range: range.to_owned(),
                filter,
            });
        }
        let tag = non_empty(&reference.tag).unwrap_or("latest");
        if !valid_tag(tag) {
            return Err(RefError::InvalidTag(tag.to_owned()));
        }
        Ok(Selector::Tag(tag.to_owned()))
    }

    /// Whether resolving needs the repository's tag list.
    pub fn needs_tags(&self) -> bool {
        matches!(self, Selector::Semver { .. })
    }
}

/// No tag satisfied the semver range (and filter).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no tag matches semver range {range:?}{}", filter.as_ref().map(|f| format!(" with semverFilter {f:?}")).unwrap_or_default())]
pub struct NoSemverMatch {
    /// The range.
    pub range: String,
    /// The filter.
    pub filter: Option<String>,
}

/// The highest tag in `range` among `tags` that match `filter` (tags that are not versions are
/// skipped), as Flux's `getTagBySemver`; ties between spellings of one version go to the
/// lexicographically first.
pub fn best_semver_tag(
    tags: &[String],
    range: &str,
    filter: Option<&str>,
) -> Result<String, NoSemverMatch> {
    let none = || NoSemverMatch {
        range: range.to_owned(),
        filter: filter.map(str::to_owned),
    };
    let req = semver_range(range).map_err(|_| none())?;
    let filter = match filter {
        Some(f) => Some(regex::Regex::new(f).map_err(|_| none())?),
        None => None,
    };
    tags.iter()
        .filter(|t| filter.as_ref().is_none_or(|f| f.is_match(t)))
        .filter_map(|t| {
            let v = lenient_version(t)?;
            req.matches(&v).then_some((v, t))
        })
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, t)| t.clone())
        .ok_or_else(none)
}

/// Tags within edit distance 2 of `wanted`, or containing it, at most three (for "not found").
pub fn similar_tags(tags: &[String], wanted: &str) -> Vec<String> {
    let mut out: Vec<String> = tags
        .iter()
        .filter(|t| {
            weir_api::suggest::edit_distance(t, wanted) <= 2
                || (wanted.len() > 2 && t.contains(wanted))
        })
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out.truncate(3);
    out
}

/// Flux's revision of an OCIRepository: `<tag>@sha256:<hex>`, or `sha256:<hex>` for a digest ref.
pub fn oci_revision(tag: Option<&str>, manifest_digest: &str) -> String {
    match tag {
        Some(t) => format!("{t}@{manifest_digest}"),
        None => manifest_digest.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn urls_should_parse_host_and_repository() {
        assert_eq!(
            OciUrl::parse("oci://127.0.0.1:5000/org/app").expect("valid"),
            OciUrl {
                host: "127.0.0.1:5000".into(),
                repository: "org/app".into()
            }
        );
        for bad in [
            "https://h/r",
            "oci://h",
            "oci://h/",
            "oci://h/Org/app",
            "oci://h/app:v1",
            "oci://u:p@h/app",
            "oci:///app",
            "oci://h/a//b",
        ] {
            assert!(OciUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn artifact_addresses_should_carry_tag_or_digest() {
        let hex = "a".repeat(64);
        let (url, target) = OciUrl::parse_with_tag("oci://h:5000/app:v1.0").expect("valid");
        assert_eq!(url.to_url(), "oci://h:5000/app");
        assert_eq!(target, Target::Tag("v1.0".into()));
        let (_, target) = OciUrl::parse_with_tag("oci://h:5000/app").expect("valid");
        assert_eq!(target, Target::Tag("latest".into()));
        let (_, target) =
            OciUrl::parse_with_tag(&format!("oci://h/app@sha256:{hex}")).expect("valid");
        assert_eq!(target, Target::Digest(format!("sha256:{hex}")));
        assert!(OciUrl::parse_with_tag("oci://h/app@sha256:short").is_err());
        assert!(OciUrl::parse_with_tag("oci://h/app:-bad").is_err());
    }

    #[test]
    fn selector_should_follow_flux_precedence() {
        let hex = "b".repeat(64);
        let all = OCIRepositoryRef {
            digest: Some(format!("sha256:{hex}")),
            semver: Some(">=1.0.0".into()),
            semver_filter: None,
            tag: Some("v1".into()),
        };
        assert_eq!(
            Selector::of(Some(&all)),
            Ok(Selector::Digest(format!("sha256:{hex}")))
        );
        let semver_and_tag = OCIRepositoryRef {
            digest: None,
            ..all.clone()
        };
        assert_eq!(
            Selector::of(Some(&semver_and_tag)),
            Ok(Selector::Semver {
                range: ">=1.0.0".into(),
                filter: None
            })
        );
        let tag = OCIRepositoryRef {
            tag: Some("v1".into()),
            ..OCIRepositoryRef::default()
        };
        assert_eq!(Selector::of(Some(&tag)), Ok(Selector::Tag("v1".into())));
        assert_eq!(Selector::of(None), Ok(Selector::Tag("latest".into())));
        assert!(matches!(
            Selector::of(Some(&OCIRepositoryRef {
                digest: Some("sha256:xyz".into()),
                ..OCIRepositoryRef::default()
            })),
            Err(RefError::InvalidDigest(_))
        ));
        assert!(matches!(
            Selector::of(Some(&OCIRepositoryRef {
                semver: Some(">=1".into()),
                semver_filter: Some("(".into()),
                ..OCIRepositoryRef::default()
            })),
            Err(RefError::InvalidFilter { .. })
        ));
        assert!(matches!(
            Selector::of(Some(&OCIRepositoryRef {
                tag: Some("a b".into()),
                ..OCIRepositoryRef::default()
            })),
            Err(RefError::InvalidTag(_))
        ));
    }

    #[test]
    fn semver_should_pick_the_highest_tag_in_range_after_the_filter() {
        let list = tags(&[
            "latest",
            "1.0.0",
            "v1.2.0",
            "1.10.0",
            "2.0.0",
            "1.5.0-rc.1",
            "1.4.0-dev",
        ]);
        assert_eq!(
            best_semver_tag(&list, ">=1.0.0 <2.0.0", None),
            Ok("1.10.0".into())
        );
        assert_eq!(best_semver_tag(&list, "*", None), Ok("2.0.0".into()));
        assert_eq!(best_semver_tag(&list, "~1.2", None), Ok("v1.2.0".into()));
        assert_eq!(
            best_semver_tag(&list, ">=1.4.0-0", Some(".*-dev$")),
            Ok("1.4.0-dev".into())
        );
        assert_eq!(
            best_semver_tag(&list, ">=3.0.0", None),
            Err(NoSemverMatch {
                range: ">=3.0.0".into(),
                filter: None
            })
        );
    }

    #[test]
    fn revisions_should_match_flux() {
        let d = format!("sha256:{}", "c".repeat(64));
        assert_eq!(oci_revision(Some("v1"), &d), format!("v1@{d}"));
        assert_eq!(oci_revision(None, &d), d);
        assert_eq!(
            similar_tags(&tags(&["v1.0.0", "v1.0.1", "latest", "other"]), "v1.0.2"),
            vec!["v1.0.0".to_string(), "v1.0.1".to_string()]
        );
    }
}
