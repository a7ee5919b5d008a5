//! Build errors: what failed, in which file (and line, when the YAML parser knows it), on which object
//! and field, and through which chain of kustomizations (overlay first).

use std::fmt;
use std::path::PathBuf;

/// A failed build. `kind` says what went wrong; `chain` lists the kustomization directories that were
/// being built, outermost overlay first, innermost base last.
#[derive(Debug)]
pub struct Error {
    pub kind: ErrorKind,
    pub chain: Vec<PathBuf>,
}

/// What went wrong. Every variant names its input; messages are lowercase and never contain secret data.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    #[error("{}: invalid YAML: {message}", at(file, *line, *column))]
    Yaml {
        file: PathBuf,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    InvalidKustomization { file: PathBuf, message: String },
    #[error(
        "no kustomization file in '{dir}': expected one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization'"
    )]
    MissingKustomization { dir: PathBuf },
    #[error("found multiple kustomization files in '{dir}'; keep only one")]
    MultipleKustomizations { dir: PathBuf },
    #[error("security: '{path}' is not in or below the load root '{root}'")]
    OutsideRoot { path: PathBuf, root: PathBuf },
    #[error("'{path}' does not exist (named in '{referrer}')")]
    NotFound { path: PathBuf, referrer: PathBuf },
    #[error("cycle: '{dir}' is already being built by a kustomization that includes it")]
    Cycle { dir: PathBuf },
    #[error("{file}: remote resource '{url}' not allowed (remote bases are disabled)")]
    RemoteDisabled { file: PathBuf, url: String },
    #[error("{file}: remote resource '{url}' cannot be fetched by this engine")]
    RemoteUnsupported { file: PathBuf, url: String },
    #[error("{file}: object #{index}: {message}")]
    InvalidObject {
        file: PathBuf,
        index: usize,
        message: String,
    },
    #[error("may not add resource with an already registered id: {id} (from {file})")]
    DuplicateId { id: String, file: PathBuf },
    #[error("{file}: {what} '{name}': {message}")]
    Generator {
        file: PathBuf,
        what: &'static str,
        name: String,
        message: String,
    },
    #[error("{file}: patch {patch}: {message}")]
    Patch {
        file: PathBuf,
        patch: String,
        message: String,
    },
    #[error("{file}: {field}: {message}")]
    Field {
        file: PathBuf,
        field: String,
        message: String,
    },
    #[error("{object}: field '{field}': {message}")]
    Object {
        object: String,
        field: String,
        message: String,
    },
    #[error("{file}: '{field}' is not supported by weir's kustomize engine")]
    Unsupported { file: PathBuf, field: String },
}

fn at(file: &std::path::Path, line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("{}:{l}:{c}", file.display()),
        (Some(l), None) => format!("{}:{l}", file.display()),
        _ => file.display().to_string(),
    }
}

/// A YAML parse error in `file`.
pub(crate) fn yaml_error(file: &std::path::Path, e: weir_yaml::Error) -> Error {
    Error::new(ErrorKind::Yaml {
        file: file.to_path_buf(),
        line: e.line,
        column: e.column,
        message: e.message.to_string(),
    })
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Error {
        Error {
            kind,
            chain: Vec::new(),
        }
    }

    /// The innermost file the error is about, when it has one.
    pub fn file(&self) -> Option<&std::path::Path> {
        use ErrorKind::*;
        match &self.kind {
            Yaml { file, .. }
            | Read { file, .. }
            | InvalidKustomization { file, .. }
            | RemoteDisabled { file, .. }
            | RemoteUnsupported { file, .. }
            | InvalidObject { file, .. }
            | DuplicateId { file, .. }
            | Generator { file, .. }
            | Patch { file, .. }
            | Field { file, .. }
            | Unsupported { file, .. } => Some(file),
            OutsideRoot { path, .. } | NotFound { path, .. } => Some(path),
            MissingKustomization { dir } | MultipleKustomizations { dir } | Cycle { dir } => {
                Some(dir)
            }
            Object { .. } => None,
        }
    }

    /// The YAML line (1-based) when the parser reported one.
    pub fn line(&self) -> Option<usize> {
        match &self.kind {
            ErrorKind::Yaml { line, .. } => *line,
            _ => None,
        }
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if !self.chain.is_empty() {
            write!(f, "\n  while building ")?;
            for (i, dir) in self.chain.iter().enumerate() {
                if i > 0 {
                    write!(f, " -> ")?;
                }
                write!(f, "{}", dir.display())?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

pub(crate) type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_shows_chain_overlay_first() {
        let mut e = Error::new(ErrorKind::MissingKustomization { dir: "/b".into() });
        e.chain = vec!["/o".into(), "/b".into()];
        let s = e.to_string();
        assert!(s.starts_with("no kustomization file in '/b'"), "{s}");
        assert!(s.ends_with("while building /o -> /b"), "{s}");
    }
}
