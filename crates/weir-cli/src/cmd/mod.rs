//! One module per command; each owns its clap arguments and a `run` returning the exit code.

pub mod apply;
pub mod build;
pub mod check;
pub mod controller;
pub mod install;
pub mod kustomize;
pub mod source;

/// The client configuration from the kubeconfig at `path` (else `$KUBECONFIG`, `~/.kube/config`,
/// in-cluster), using `context` or the current one.
pub async fn kube_config(
    path: Option<&std::path::Path>,
    context: Option<&str>,
) -> anyhow::Result<kube::Config> {
    use anyhow::Context as _;
    let options = kube::config::KubeConfigOptions {
        context: context.map(str::to_string),
        ..Default::default()
    };
    Ok(match path {
        Some(p) => {
            let kc = kube::config::Kubeconfig::read_from(p)
                .with_context(|| format!("reading the kubeconfig {}", p.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &options)
                .await
                .with_context(|| format!("using the kubeconfig {}", p.display()))?
        }
        None if context.is_some() => kube::Config::from_kubeconfig(&options)
            .await
            .context("reading the kubeconfig")?,
        None => kube::Config::infer()
            .await
            .context("no kubeconfig found (set --kubeconfig or $KUBECONFIG)")?,
    })
}
