//! One module per command; each owns its clap arguments and a `run` returning the exit code.

pub mod apply;
pub mod build;
pub mod check;
pub mod kustomize;
pub mod source;
