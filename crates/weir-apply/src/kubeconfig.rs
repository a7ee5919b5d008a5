//! Building the one client of a process from a kubeconfig (for the CLI and tests; a long-running
//! caller builds its own and hands it to [`crate::Applier::new`]).

use std::path::Path;

use crate::error::Error;

/// A client for the kubeconfig at `path` (else `$KUBECONFIG`, `~/.kube/config`, in-cluster), using
/// `context` or the current one.
pub async fn client(path: Option<&Path>, context: Option<&str>) -> Result<kube::Client, Error> {
    kube::Client::try_from(config(path, context).await?).map_err(Error::Client)
}

/// The client configuration [`client`] builds on (a caller that impersonates derives more clients
/// from it).
pub async fn config(path: Option<&Path>, context: Option<&str>) -> Result<kube::Config, Error> {
    let options = kube::config::KubeConfigOptions {
        context: context.map(str::to_string),
        ..Default::default()
    };
    let config = match path {
        Some(p) => {
            let kc = kube::config::Kubeconfig::read_from(p).map_err(Error::Kubeconfig)?;
            kube::Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(Error::Kubeconfig)?
        }
        None if context.is_some() => kube::Config::from_kubeconfig(&options)
            .await
            .map_err(Error::Kubeconfig)?,
        None => kube::Config::infer()
            .await
            .map_err(|e| Error::Client(kube::Error::InferConfig(e)))?,
    };
    Ok(config)
}
