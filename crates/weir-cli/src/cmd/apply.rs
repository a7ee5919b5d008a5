//! `weir apply DIR --name NAME`: build a directory with the kustomize engine and apply it with
//! server-side apply, as a Flux Kustomization would.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use weir_apply::{Action, Applier, Options, Outcome};

use crate::escape::field;

/// Apply a directory to the cluster.
///
/// Example: `weir apply ./apps/staging --name apps -n flux-system --prune --wait`
#[derive(clap::Args)]
pub struct Args {
    /// Directory to build (a kustomization, or plain manifests).
    dir: PathBuf,
    /// Name of this apply: owner label value and inventory ConfigMap `weir-inventory-NAME`.
    #[arg(long)]
    name: String,
    /// Namespace of the inventory and owner label; default namespace for objects that name none.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// Delete objects applied by an earlier run that are no longer in DIR.
    #[arg(long)]
    prune: bool,
    /// Wait until every object is healthy (kstatus rules).
    #[arg(long)]
    wait: bool,
    /// Limit for --wait, e.g. 90s, 5m, 1h (at most 168h).
    #[arg(long, default_value = "5m", value_parser = crate::duration::parse)]
    timeout: Duration,
    /// Print what would change (a field diff) without writing; exit 1 when anything would change.
    #[arg(long)]
    dry_run: bool,
    /// Delete and recreate objects whose immutable fields changed.
    #[arg(long)]
    force: bool,
    /// Path to the kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use.
    #[arg(long)]
    context: Option<String>,
    /// The largest file read from the repository (e.g. 64Mi); larger files are refused unread.
    #[arg(long, value_parser = crate::size::parse, default_value = "64Mi")]
    max_file_size: u64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let fs = weir_kustomize::DiskFs::new().with_max_file_size(args.max_file_size);
    let build_opts = weir_kustomize::BuildOptions {
        generate_missing: true,
        ..Default::default()
    };
    let manifests = weir_kustomize::build(&fs, &args.dir, &build_opts)
        .with_context(|| format!("build {} failed", args.dir.display()))?;
    let mut opts = Options::new(&args.name, &args.namespace);
    opts.prune = args.prune;
    opts.wait = args.wait;
    opts.timeout = args.timeout;
    opts.dry_run = args.dry_run;
    opts.force = args.force;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let outcome = runtime.block_on(async {
        let client =
            weir_apply::client(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
        Applier::new(client).run(manifests, &opts).await
    });
    let outcome = outcome.with_context(|| {
        format!(
            "apply {} ({}/{}) failed",
            args.dir.display(),
            args.namespace,
            args.name
        )
    })?;
    let mut out = std::io::stdout().lock();
    print(&mut out, &outcome, args.dry_run)?;
    Ok(if args.dry_run && outcome.has_changes() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print(out: &mut impl Write, outcome: &Outcome, dry_run: bool) -> std::io::Result<()> {
    let suffix = if dry_run { " (dry run)" } else { "" };
    let mut counts = [0usize; 5];
    for c in &outcome.changes {
        let word = match &c.action {
            Action::Created => {
                counts[0] += 1;
                "created".to_string()
            }
            Action::Configured => {
                counts[1] += 1;
                "configured".to_string()
            }
            Action::Unchanged => {
                counts[2] += 1;
                "unchanged".to_string()
            }
            Action::Recreated => {
                counts[1] += 1;
                "recreated".to_string()
            }
            Action::Pruned => {
                counts[3] += 1;
                "pruned".to_string()
            }
            Action::Kept(why) => {
                counts[4] += 1;
                format!("kept ({why})")
            }
        };
        // Object names and diffed values come from the repository and the cluster: escaped.
        if c.action != Action::Unchanged {
            let object = c.object.to_string();
            writeln!(out, "{} {}{suffix}", field(&object), field(&word))?;
        }
        if dry_run {
            for d in &c.diff {
                writeln!(out, "    {}", field(&d.to_string()))?;
            }
        }
    }
    let r = outcome.requests;
    writeln!(
        out,
        "{} created, {} configured, {} unchanged, {} pruned, {} kept; {} API requests ({} reads, {} dry-runs, {} writes){suffix}",
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        counts[4],
        r.total(),
        r.reads,
        r.dry_runs,
        r.writes
    )
}
