//! `weir controller`: the long-running engine.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::ValueEnum;

#[derive(clap::Args)]
pub struct Args {
    /// Path to the kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use.
    #[arg(long)]
    context: Option<String>,
    /// Reconciles in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrent: usize,
    /// Where artifacts and their extracted trees are kept.
    #[arg(long, default_value = "/tmp/weir-storage")]
    storage_dir: PathBuf,
    /// ServiceAccount impersonated by Kustomizations that name none.
    #[arg(long)]
    default_service_account: Option<String>,
    /// Refuse sourceRefs and dependsOn entries into other namespaces.
    #[arg(long)]
    no_cross_namespace_refs: bool,
    /// Watch only this namespace.
    #[arg(long)]
    watch_namespace: Option<String>,
    /// Field manager of server-side applies.
    #[arg(long, default_value = "weir")]
    field_manager: String,
    /// Largest artifact a GitRepository may produce, in bytes.
    #[arg(long, default_value_t = 256 * 1024 * 1024)]
    max_artifact_size: u64,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let kube_config =
            super::kube_config(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
        let client = kube::Client::try_from(kube_config.clone())
            .context("building the Kubernetes client")?;
        let config = weir_controller::Config {
            concurrent: args.concurrent,
            storage_dir: args.storage_dir,
            default_service_account: args.default_service_account,
            no_cross_namespace_refs: args.no_cross_namespace_refs,
            watch_namespace: args.watch_namespace,
            field_manager: args.field_manager,
            max_artifact_size: args.max_artifact_size,
        };
        weir_controller::run(client, kube_config, config, shutdown_signal())
            .await
            .context("the controller could not start")?;
        Ok(ExitCode::SUCCESS)
    })
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
