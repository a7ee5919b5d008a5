//! One module per command; each owns its clap arguments and a `run` returning the exit code.

pub mod apply;
pub mod build;
pub mod check;
pub mod controller;
pub mod doctor;
pub mod get;
pub mod install;
pub mod kustomize;
pub mod oci;
pub mod reconcile;
pub mod snapshot;
pub mod source;
pub mod why;

/// The client configuration from the kubeconfig at `path` (else `$KUBECONFIG`, `~/.kube/config`,
/// in-cluster), using `context` or the current one.
pub async fn kube_config(
    path: Option<&std::path::Path>,
    context: Option<&str>,
) -> anyhow::Result<kube::Config> {
    Ok(weir_apply::config(path, context).await?)
}
