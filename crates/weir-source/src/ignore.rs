//! What an artifact leaves out: Flux's default exclusions, `.sourceignore` files and `spec.ignore`,
//! in gitignore syntax, later sources overriding earlier ones.

use std::path::{Path, PathBuf};

use gix::bstr::BStr;

/// The name of the per-directory ignore file.
pub const IGNORE_FILE: &str = ".sourceignore";

/// Flux's default exclusions (source-controller's `sourceignore` package): VCS metadata, binaries
/// and archives, CI configuration and a few tool files.
pub const DEFAULT_EXCLUSIONS: &[&str] = &[
    ".git/",
    ".gitignore",
    ".gitmodules",
    ".gitattributes",
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.png",
    "*.wmv",
    "*.flv",
    "*.tar.gz",
    "*.zip",
    ".github/",
    ".circleci/",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    "**/.goreleaser.yml",
    "**/.sops.yaml",
    "**/.flux.yaml",
];

/// How many of [`DEFAULT_EXCLUSIONS`] are VCS patterns, applied even with user patterns.
const VCS_EXCLUSIONS: usize = 4;

/// A compiled set of exclusions.
pub struct Excludes {
    search: gix::ignore::Search,
}

impl std::fmt::Debug for Excludes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Excludes").finish_non_exhaustive()
    }
}

fn parse_options() -> gix::ignore::search::Ignore {
    gix::ignore::search::Ignore {
        support_precious: false,
    }
}

impl Excludes {
    /// The VCS exclusions, then either Flux's other defaults (when the repository has no
    /// `.sourceignore` and the object no `spec.ignore`) or each `(directory, .sourceignore content)`
    /// scoped to its directory in walk order followed by `spec_ignore` scoped to the root. As in
    /// source-controller's `SourceIgnoreFilter`, any user pattern replaces the non-VCS defaults.
    pub fn new(sourceignores: &[(String, Vec<u8>)], spec_ignore: Option<&str>) -> Self {
        let mut search = gix::ignore::Search::default();
        let root = Path::new("");
        let user_patterns = !sourceignores.is_empty() || spec_ignore.is_some();
        let defaults: &[&str] = if user_patterns {
            &DEFAULT_EXCLUSIONS[..VCS_EXCLUSIONS]
        } else {
            DEFAULT_EXCLUSIONS
        };
        let defaults = defaults.join("\n");
        search
            .add_patterns_buffer(
                defaults.as_bytes(),
                PathBuf::from(IGNORE_FILE),
                Some(root),
                parse_options(),
            )
            .expect("in-memory patterns do not fail");
        for (dir, content) in sourceignores {
            let source = if dir.is_empty() {
                PathBuf::from(IGNORE_FILE)
            } else {
                Path::new(dir).join(IGNORE_FILE)
            };
            search
                .add_patterns_buffer(content, source, Some(root), parse_options())
                .expect("in-memory patterns do not fail");
        }
        if let Some(spec) = spec_ignore {
            search
                .add_patterns_buffer(
                    spec.as_bytes(),
                    PathBuf::from(IGNORE_FILE),
                    Some(root),
                    parse_options(),
                )
                .expect("in-memory patterns do not fail");
        }
        Excludes { search }
    }

    /// Whether `path` (relative, `/`-separated) is excluded.
    pub fn is_excluded(&self, path: &str, is_dir: bool) -> bool {
        self.search
            .pattern_matching_relative_path(
                BStr::new(path),
                Some(is_dir),
                gix::glob::pattern::Case::Sensitive,
            )
            .is_some_and(|m| !m.pattern.is_negative())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_should_exclude_vcs_ci_and_binaries() {
        let ex = Excludes::new(&[], None);
        assert!(ex.is_excluded(".git", true));
        assert!(ex.is_excluded(".github", true));
        assert!(ex.is_excluded("img/logo.png", false));
        assert!(ex.is_excluded("deep/dir/.sops.yaml", false));
        assert!(!ex.is_excluded("apps/deploy.yaml", false));
        assert!(!ex.is_excluded("docs", true));
    }

    #[test]
    fn sourceignore_should_be_scoped_to_its_directory_and_allow_negation() {
        let ex = Excludes::new(
            &[
                ("".into(), b"*.md\n!keep.md\n".to_vec()),
                ("apps".into(), b"/secret.yaml\n".to_vec()),
            ],
            None,
        );
        assert!(ex.is_excluded("README.md", false));
        assert!(!ex.is_excluded("keep.md", false));
        assert!(ex.is_excluded("apps/secret.yaml", false));
        assert!(!ex.is_excluded("secret.yaml", false));
        assert!(!ex.is_excluded("other/secret.yaml", false));
    }

    #[test]
    fn user_patterns_should_replace_defaults_but_keep_vcs_out() {
        let ex = Excludes::new(&[], Some("/*\n!/deploy\n"));
        assert!(ex.is_excluded("README.md", false));
        assert!(!ex.is_excluded("deploy", true));
        assert!(ex.is_excluded(".git", true));
        let ex = Excludes::new(&[("".into(), b"*.md\n".to_vec())], None);
        assert!(!ex.is_excluded("logo.png", false), "defaults replaced");
        assert!(ex.is_excluded(".gitignore", false));
    }
}
