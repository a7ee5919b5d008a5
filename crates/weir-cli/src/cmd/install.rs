//! `weir install`: CRDs, RBAC and a Deployment of weir; `--export` prints them instead.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

#[derive(clap::Args)]
pub struct Args {
    /// Print the manifests as YAML instead of applying them.
    #[arg(long)]
    export: bool,
    /// Only the CustomResourceDefinitions.
    #[arg(long)]
    crds_only: bool,
    /// Namespace weir runs in.
    #[arg(long, default_value = "flux-system")]
    namespace: String,
    /// Container image of weir.
    #[arg(long, default_value = "ghcr.io/weir-gitops/weir:latest")]
    image: String,
    /// Path to the kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use.
    #[arg(long)]
    context: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = weir_controller::install::InstallOptions {
        namespace: args.namespace.clone(),
        image: args.image.clone(),
    };
    let manifests = if args.crds_only {
        weir_controller::install::crds()
    } else {
        weir_controller::install::manifests(&opts)
    };
    if args.export {
        let mut out = std::io::stdout().lock();
        for m in &manifests {
            writeln!(out, "---")?;
            out.write_all(weir_yaml::to_string(m).as_bytes())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let config =
            super::kube_config(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
        let client = kube::Client::try_from(config).context("building the Kubernetes client")?;
        let applier = weir_apply::Applier::new(client);
        // The install's inventory lives in `default`, which always exists: weir's own namespace is
        // created by this very apply.
        let apply_opts = weir_apply::Options::new("weir-install", "default");
        let outcome = applier
            .run(manifests, &apply_opts)
            .await
            .context("installing weir")?;
        for c in &outcome.changes {
            println!("{} {} {:?}", c.object.kind, c.object.name, c.action);
        }
        Ok(ExitCode::SUCCESS)
    })
}
