//! `spec.ref` of a GitRepository, resolved against a remote ref listing exactly as Flux does, and the
//! revision strings Flux writes into status.

use std::fmt;

/// The default branch when `spec.ref` names nothing (Flux's default, not the remote's HEAD).
pub const DEFAULT_BRANCH: &str = "master";

/// A GitRepository's `spec.ref`, field for field: the shared Flux type.
pub use weir_api::flux::GitRepositoryRef as GitRef;

/// What a [`GitRef`] asks for after Flux's precedence: commit > name > semver > tag > branch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Selector {
    /// A commit, optionally on a branch (which then names the revision).
    Commit {
        /// 40 lowercase hex digits.
        sha: String,
        /// The branch the commit is pinned to.
        branch: Option<String>,
    },
    /// A full reference name.
    Name(String),
    /// A semver range over tags.
    Semver(String),
    /// A tag.
    Tag(String),
    /// A branch.
    Branch(String),
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl Selector {
    /// Applies Flux's precedence to a `spec.ref`; an empty ref means branch `master`.
    pub fn of(reference: &GitRef) -> Selector {
        let branch = non_empty(&reference.branch).map(str::to_owned);
        if let Some(sha) = non_empty(&reference.commit) {
            return Selector::Commit {
                sha: sha.to_ascii_lowercase(),
                branch,
            };
        }
        if let Some(name) = non_empty(&reference.name) {
            return Selector::Name(name.to_owned());
        }
        if let Some(range) = non_empty(&reference.semver) {
            return Selector::Semver(range.to_owned());
        }
        if let Some(tag) = non_empty(&reference.tag) {
            return Selector::Tag(tag.to_owned());
        }
        Selector::Branch(branch.unwrap_or_else(|| DEFAULT_BRANCH.to_owned()))
    }

    /// The kind, for messages.
    pub fn kind(&self) -> RefKind {
        match self {
            Selector::Commit { .. } => RefKind::Commit,
            Selector::Name(_) => RefKind::Name,
            Selector::Semver(_) => RefKind::Semver,
            Selector::Tag(_) => RefKind::Tag,
            Selector::Branch(_) => RefKind::Branch,
        }
    }

    /// What the user wrote for this kind.
    pub fn value(&self) -> &str {
        match self {
            Selector::Commit { sha, .. } => sha,
            Selector::Name(v) | Selector::Semver(v) | Selector::Tag(v) | Selector::Branch(v) => v,
        }
    }
}

/// The kind of reference a [`Selector`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefKind {
    /// `ref.commit`.
    Commit,
    /// `ref.name`.
    Name,
    /// `ref.semver`.
    Semver,
    /// `ref.tag`.
    Tag,
    /// `ref.branch`.
    Branch,
}

impl fmt::Display for RefKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RefKind::Commit => "commit",
            RefKind::Name => "reference",
            RefKind::Semver => "tag matching semver range",
            RefKind::Tag => "tag",
            RefKind::Branch => "branch",
        })
    }
}

/// One line of a remote's ref listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteRef {
    /// Full name, `refs/heads/main`.
    pub name: String,
    /// The object the ref points at (a tag object for annotated tags), hex.
    pub target: String,
    /// The commit an annotated tag peels to, hex.
    pub peeled: Option<String>,
}

impl RemoteRef {
    /// The commit this ref ends at.
    pub fn commit(&self) -> &str {
        self.peeled.as_deref().unwrap_or(&self.target)
    }
}

/// A revision in Flux's format: `main@sha1:<hex>`, `v1.2.0@sha1:<hex>`, `refs/heads/main@sha1:<hex>`,
/// or `sha1:<hex>` for a bare commit: weir-api's type, shared with every crate.
pub use weir_api::Revision;

/// The revision of `commit` (40 hex digits) reached through `name`.
pub fn git_revision(name: Option<String>, commit: &str) -> Revision {
    Revision {
        reference: name,
        digest: weir_api::Digest::sha1(commit.to_ascii_lowercase()),
    }
}

/// The commit a Git revision names (its `sha1` digest's hex).
pub fn commit_of(revision: &Revision) -> &str {
    &revision.digest.hex
}

/// Whether `s` is 40 hex digits.
pub fn is_full_sha1(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The outcome of resolving a [`Selector`] against a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The revision to report.
    pub revision: Revision,
    /// The full reference name to fetch, or `None` to fetch the revision's commit by id.
    pub ref_name: Option<String>,
}

/// Why a selector matched nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// No such branch, tag or reference; `similar` lists near names from the listing.
    #[error("no {kind} named {name:?}{}", similar_suffix(.similar))]
    NotFound {
        /// What kind was asked for.
        kind: RefKind,
        /// The name asked for.
        name: String,
        /// Close names seen on the remote.
        similar: Vec<String>,
    },
    /// The semver range could not be parsed.
    #[error("invalid semver range {range:?}: {reason}")]
    InvalidSemver {
        /// The range as written.
        range: String,
        /// What is wrong.
        reason: String,
    },
    /// `ref.commit` is not a full SHA-1.
    #[error("commit {sha:?} is not a full 40-digit SHA-1")]
    InvalidCommit {
        /// As written.
        sha: String,
    },
}

fn similar_suffix(similar: &[String]) -> String {
    if similar.is_empty() {
        String::new()
    } else {
        format!(" (similar: {})", similar.join(", "))
    }
}

/// The names a selector needs listed: `None` lists branches and tags (shared by all selectors of a
/// URL), `Some(name)` lists one full reference name outside `refs/heads` and `refs/tags`.
pub fn listing_scope(selector: &Selector) -> Option<&str> {
    match selector {
        Selector::Name(name)
            if !(name.starts_with("refs/heads/") || name.starts_with("refs/tags/")) =>
        {
            Some(name)
        }
        _ => None,
    }
}

/// Resolves `selector` against `refs` the way Flux's Git checkout strategies do.
///
/// # Deviation
/// A commit pinned to a branch is not checked to be reachable from that branch (that would need
/// history, which weir never downloads); the fetch still fails if the commit does not exist.
pub fn resolve(selector: &Selector, refs: &[RemoteRef]) -> Result<Resolved, ResolveError> {
    match selector {
        Selector::Commit { sha, branch } => {
            if !is_full_sha1(sha) {
                return Err(ResolveError::InvalidCommit { sha: sha.clone() });
            }
            Ok(Resolved {
                revision: git_revision(branch.clone(), sha),
                ref_name: None,
            })
        }
        Selector::Branch(branch) => {
            let full = format!("refs/heads/{branch}");
            find(refs, &full, RefKind::Branch, branch, "refs/heads/").map(|r| Resolved {
                revision: git_revision(Some(branch.clone()), r.commit()),
                ref_name: Some(full),
            })
        }
        Selector::Tag(tag) => {
            let full = format!("refs/tags/{tag}");
            find(refs, &full, RefKind::Tag, tag, "refs/tags/").map(|r| Resolved {
                revision: git_revision(Some(tag.clone()), r.commit()),
                ref_name: Some(full),
            })
        }
        Selector::Name(name) => find(refs, name, RefKind::Name, name, "refs/").map(|r| Resolved {
            revision: git_revision(Some(name.clone()), r.commit()),
            ref_name: Some(name.clone()),
        }),
        Selector::Semver(range) => {
            let req = semver_range(range).map_err(|reason| ResolveError::InvalidSemver {
                range: range.clone(),
                reason,
            })?;
            let best = refs
                .iter()
                .filter_map(|r| {
                    let tag = r.name.strip_prefix("refs/tags/")?;
                    let version = lenient_version(tag)?;
                    req.matches(&version).then_some((version, tag, r))
                })
                .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(a.1)));
            match best {
                Some((_, tag, r)) => Ok(Resolved {
                    revision: git_revision(Some(tag.to_owned()), r.commit()),
                    ref_name: Some(r.name.clone()),
                }),
                None => Err(ResolveError::NotFound {
                    kind: RefKind::Semver,
                    name: range.clone(),
                    similar: Vec::new(),
                }),
            }
        }
    }
}

fn find<'a>(
    refs: &'a [RemoteRef],
    full: &str,
    kind: RefKind,
    short: &str,
    family: &str,
) -> Result<&'a RemoteRef, ResolveError> {
    refs.iter()
        .find(|r| r.name == full)
        .ok_or_else(|| ResolveError::NotFound {
            kind,
            name: short.to_owned(),
            similar: similar_names(refs, short, family),
        })
}

/// Names in `family` within edit distance 2 of `wanted`, or containing it, at most three.
fn similar_names(refs: &[RemoteRef], wanted: &str, family: &str) -> Vec<String> {
    let mut out: Vec<String> = refs
        .iter()
        .filter_map(|r| r.name.strip_prefix(family))
        .filter(|name| {
            weir_api::suggest::edit_distance(name, wanted) <= 2
                || (wanted.len() > 2 && name.contains(wanted))
        })
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    out.truncate(3);
    out
}

/// Parses a tag as Masterminds/semver's `NewVersion` does: an optional `v`, and `1` or `1.2` padded
/// with zeros.
pub fn lenient_version(tag: &str) -> Option<semver::Version> {
    let s = tag.strip_prefix('v').unwrap_or(tag);
    if let Ok(v) = semver::Version::parse(s) {
        return Some(v);
    }
    let split = s.find(['-', '+']).unwrap_or(s.len());
    let (core, rest) = s.split_at(split);
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty()
        || parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut padded = parts.join(".");
    for _ in parts.len()..3 {
        padded.push_str(".0");
    }
    semver::Version::parse(&format!("{padded}{rest}")).ok()
}

/// A Masterminds/semver constraint: `||`-separated alternatives of comma- or space-separated
/// comparators.
#[derive(Debug, Clone)]
pub struct SemverRange(Vec<semver::VersionReq>);

impl SemverRange {
    /// Whether `v` satisfies any alternative.
    pub fn matches(&self, v: &semver::Version) -> bool {
        self.0.iter().any(|req| req.matches(v))
    }
}

/// Translates Masterminds syntax into Rust `semver` requirements.
///
/// # Deviation
/// `!=` comparators are not supported (an error names them); everything else Flux users write
/// (`>=1.0.0 <2.0.0`, `~1.2`, `^1`, `1.2.x`, `*`, `1.2 - 1.4`, `v`-prefixed versions) is.
pub fn semver_range(range: &str) -> Result<SemverRange, String> {
    let mut alternatives = Vec::new();
    for alternative in range.split("||") {
        let alternative = alternative.trim();
        let mut comparators: Vec<String> = Vec::new();
        if let Some((low, high)) = alternative.split_once(" - ") {
            comparators.push(format!(">={}", low.trim().trim_start_matches('v')));
            comparators.push(format!("<={}", high.trim().trim_start_matches('v')));
        } else {
            let mut pending_op = String::new();
            for token in alternative
                .split([',', ' ', '\t'])
                .filter(|t| !t.is_empty())
            {
                if token.bytes().all(|b| b"<>=!~^".contains(&b)) {
                    pending_op.push_str(token);
                    continue;
                }
                let token = format!("{pending_op}{token}");
                pending_op.clear();
                comparators.push(comparator(&token)?);
            }
            if !pending_op.is_empty() {
                return Err(format!("operator {pending_op:?} has no version"));
            }
        }
        if comparators.is_empty() {
            comparators.push("*".to_owned());
        }
        let req = semver::VersionReq::parse(&comparators.join(", ")).map_err(|e| e.to_string())?;
        alternatives.push(req);
    }
    Ok(SemverRange(alternatives))
}

fn comparator(token: &str) -> Result<String, String> {
    let op_len = token.bytes().take_while(|b| b"<>=!~^".contains(b)).count();
    let (op, version) = token.split_at(op_len);
    let version = version.trim_start_matches('v');
    let op = match op {
        "" => {
            if version == "*" || version.contains(['x', 'X', '*']) {
                ""
            } else {
                "="
            }
        }
        "=<" => "<=",
        "=>" => ">=",
        "~>" => "~",
        "!=" => return Err(format!("the != comparator in {token:?} is not supported")),
        other => other,
    };
    Ok(format!("{op}{version}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "cccccccccccccccccccccccccccccccccccccccc";

    fn r(name: &str, target: &str, peeled: Option<&str>) -> RemoteRef {
        RemoteRef {
            name: name.into(),
            target: target.into(),
            peeled: peeled.map(Into::into),
        }
    }

    fn listing() -> Vec<RemoteRef> {
        vec![
            r("refs/heads/main", A, None),
            r("refs/heads/feature/x", B, None),
            r("refs/tags/v1.2.0", C, Some(A)),
            r("refs/tags/v1.10.0", B, None),
            r("refs/tags/2.0.0-rc.1", C, None),
            r("refs/tags/v1.3", A, None),
            r("refs/tags/not-a-version", A, None),
            r("refs/pull/1/head", C, None),
        ]
    }

    #[test]
    fn selector_should_follow_flux_precedence() {
        let all = GitRef {
            branch: Some("b".into()),
            tag: Some("t".into()),
            semver: Some("1.x".into()),
            name: Some("refs/heads/n".into()),
            commit: Some(A.into()),
        };
        assert_eq!(
            Selector::of(&all),
            Selector::Commit {
                sha: A.into(),
                branch: Some("b".into())
            }
        );
        let no_commit = GitRef {
            commit: None,
            ..all.clone()
        };
        assert_eq!(
            Selector::of(&no_commit),
            Selector::Name("refs/heads/n".into())
        );
        let no_name = GitRef {
            name: None,
            ..no_commit
        };
        assert_eq!(Selector::of(&no_name), Selector::Semver("1.x".into()));
        let no_semver = GitRef {
            semver: None,
            ..no_name
        };
        assert_eq!(Selector::of(&no_semver), Selector::Tag("t".into()));
        let no_tag = GitRef {
            tag: None,
            ..no_semver
        };
        assert_eq!(Selector::of(&no_tag), Selector::Branch("b".into()));
        assert_eq!(
            Selector::of(&GitRef::default()),
            Selector::Branch("master".into())
        );
    }

    #[test]
    fn revisions_should_use_flux_format() {
        let refs = listing();
        let rev = |s: Selector| resolve(&s, &refs).expect("resolves").revision.to_string();
        assert_eq!(
            rev(Selector::Branch("main".into())),
            format!("main@sha1:{A}")
        );
        assert_eq!(
            rev(Selector::Branch("feature/x".into())),
            format!("feature/x@sha1:{B}")
        );
        assert_eq!(
            rev(Selector::Tag("v1.2.0".into())),
            format!("v1.2.0@sha1:{A}"),
            "annotated tags peel"
        );
        assert_eq!(
            rev(Selector::Name("refs/heads/main".into())),
            format!("refs/heads/main@sha1:{A}")
        );
        assert_eq!(
            rev(Selector::Commit {
                sha: C.into(),
                branch: None
            }),
            format!("sha1:{C}")
        );
        assert_eq!(
            rev(Selector::Commit {
                sha: C.into(),
                branch: Some("main".into())
            }),
            format!("main@sha1:{C}")
        );
    }

    #[test]
    fn semver_should_pick_the_highest_matching_tag() {
        let refs = listing();
        let pick = |range: &str| {
            resolve(&Selector::Semver(range.into()), &refs)
                .map(|r| r.revision.reference.expect("named"))
        };
        assert_eq!(pick(">=1.0.0 <2.0.0").as_deref(), Ok("v1.10.0"));
        assert_eq!(pick("~1.2").as_deref(), Ok("v1.2.0"));
        assert_eq!(pick("1.3.x").as_deref(), Ok("v1.3"));
        assert_eq!(pick("*").as_deref(), Ok("v1.10.0"), "prereleases excluded");
        assert_eq!(pick(">=2.0.0-rc.0").as_deref(), Ok("2.0.0-rc.1"));
        assert_eq!(
            pick("1.2.0").as_deref(),
            Ok("v1.2.0"),
            "a bare version is exact"
        );
        assert_eq!(pick("1.0 - 1.5").as_deref(), Ok("v1.3"));
        assert_eq!(pick("<1.0.0 || >=1.9").as_deref(), Ok("v1.10.0"));
        assert!(matches!(pick("3.x"), Err(ResolveError::NotFound { .. })));
        assert!(matches!(
            pick("!=1.0"),
            Err(ResolveError::InvalidSemver { .. })
        ));
    }

    #[test]
    fn missing_branch_should_suggest_similar_names() {
        let err = resolve(&Selector::Branch("mian".into()), &listing()).expect_err("missing");
        assert_eq!(err.to_string(), "no branch named \"mian\" (similar: main)");
    }

    #[test]
    fn revision_should_round_trip() {
        for s in [
            format!("main@sha1:{A}"),
            format!("sha1:{B}"),
            format!("refs/heads/a@b@sha1:{C}"),
        ] {
            assert_eq!(s.parse::<Revision>().expect("parses").to_string(), s);
        }
        assert!("main@sha1:abc".parse::<Revision>().is_err());
        assert!("main@sha256:".parse::<Revision>().is_err());
    }
}
