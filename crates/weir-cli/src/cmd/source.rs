//! `weir source git fetch`: one GitRepository fetch, exactly as the controller runs it.

use std::{
    io::Write,
    path::PathBuf,
    process::ExitCode,
    sync::{Arc, atomic::AtomicBool},
    time::Duration,
};

use anyhow::Context;
use weir_source::{
    ArtifactStore, BudgetConfig, ClientOptions, Credentials, Fetcher, GitClient, GitRef,
    HostBudgets, Outcome, Request, clock::SystemClock, fetch, metrics::Metrics, store,
};

/// Fetch sources.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Git sources (`weir source git fetch URL`).
    #[command(subcommand)]
    Git(GitCommand),
}

/// Git source commands.
#[derive(clap::Subcommand)]
pub enum GitCommand {
    /// Fetch one revision at depth 1 into a tar.gz artifact, as a GitRepository would.
    ///
    /// Example: weir source git fetch https://github.com/stefanprodan/podinfo --tag 6.5.0 --out podinfo.tar.gz
    Fetch(Box<FetchArgs>),
}

/// Output format.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// One line for people.
    Text,
    /// `{revision, digest, size, changed, path}`.
    Json,
}

/// `weir source git fetch` arguments.
#[derive(clap::Args)]
pub struct FetchArgs {
    /// Repository URL (https://, http:// or ssh://).
    pub url: String,
    /// Branch to track (spec.ref.branch); the default is `master`, as in Flux.
    #[arg(long, conflicts_with_all = ["tag", "semver", "ref_name"])]
    pub branch: Option<String>,
    /// Tag (spec.ref.tag).
    #[arg(long, conflicts_with_all = ["semver", "ref_name", "commit"])]
    pub tag: Option<String>,
    /// Semver range over tags (spec.ref.semver), e.g. ">=1.0.0 <2.0.0".
    #[arg(long, conflicts_with_all = ["ref_name", "commit"])]
    pub semver: Option<String>,
    /// Commit SHA (spec.ref.commit); may be combined with --branch.
    #[arg(long)]
    pub commit: Option<String>,
    /// Full reference name (spec.ref.name), e.g. refs/pull/1/head.
    #[arg(long = "ref-name", conflicts_with = "commit")]
    pub ref_name: Option<String>,
    /// Directory holding the secret's keys as files (username, password, bearerToken, ca.crt,
    /// identity, known_hosts, githubApp*), like a mounted Secret.
    #[arg(long)]
    pub secret_dir: Option<PathBuf>,
    /// The last fetched revision: when the remote still has it, nothing is downloaded.
    #[arg(long)]
    pub last_revision: Option<String>,
    /// spec.ignore: extra exclusions in .gitignore syntax.
    #[arg(long)]
    pub ignore: Option<String>,
    /// Where to write the artifact.
    #[arg(long)]
    pub out: PathBuf,
    /// Give up after this many seconds (spec.timeout).
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: Format,
}

#[derive(serde::Serialize)]
struct FetchReport {
    revision: String,
    digest: Option<String>,
    size: Option<u64>,
    changed: bool,
    path: Option<PathBuf>,
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Git(GitCommand::Fetch(args)) => fetch(*args),
    }
}

fn fetch(args: FetchArgs) -> anyhow::Result<ExitCode> {
    let reference = GitRef {
        branch: args.branch.clone(),
        tag: args.tag.clone(),
        semver: args.semver.clone(),
        name: args.ref_name.clone(),
        commit: args.commit.clone(),
    };
    let credentials = match &args.secret_dir {
        Some(dir) => Credentials::from_dir(dir).context("reading --secret-dir")?,
        None => Credentials::default(),
    };
    let out = std::path::absolute(&args.out)
        .with_context(|| format!("resolving {}", args.out.display()))?;
    let out_dir = out
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    // The store lives beside --out (same filesystem), so the artifact is renamed into place whole.
    let work = tempfile::Builder::new()
        .prefix(".weir-fetch-")
        .tempdir_in(&out_dir)
        .with_context(|| format!("creating a work directory in {}", out_dir.display()))?;
    let store = Arc::new(ArtifactStore::open(work.path(), store::Options::default())?);
    let clock = Arc::new(SystemClock::default());
    let metrics = Arc::new(Metrics::default());
    let budgets = Arc::new(HostBudgets::new(clock.clone(), BudgetConfig::default()));
    let client = GitClient::new(budgets, metrics.clone(), ClientOptions::default());
    let options = fetch::Options {
        timeout: Duration::from_secs(args.timeout),
        ..Default::default()
    };
    let fetcher = Fetcher::new(client, store, metrics, clock, options);
    let request = Request {
        url: &args.url,
        reference: &reference,
        credentials: &credentials,
        ignore: args.ignore.as_deref(),
        last_revision: args.last_revision.as_deref(),
        object: None,
    };
    let outcome = fetcher
        .fetch(&request, &Arc::new(AtomicBool::new(false)))
        .map_err(|e| anyhow::anyhow!("fetch failed [{}]: {e}", e.reason()))?;
    let report = match outcome {
        Outcome::Unchanged { revision } => FetchReport {
            revision: revision.to_string(),
            digest: None,
            size: None,
            changed: false,
            path: None,
        },
        Outcome::Fetched { revision, artifact } => {
            std::fs::rename(&artifact.path, &out)
                .with_context(|| format!("moving the artifact to {}", out.display()))?;
            FetchReport {
                revision: revision.to_string(),
                digest: Some(artifact.digest),
                size: Some(artifact.size),
                changed: true,
                path: Some(out),
            }
        }
    };
    let mut stdout = std::io::stdout().lock();
    match args.output {
        Format::Json => {
            serde_json::to_writer_pretty(&mut stdout, &report)?;
            writeln!(stdout)?;
        }
        Format::Text => match (&report.digest, &report.path) {
            (Some(digest), Some(path)) => writeln!(
                stdout,
                "fetched {} -> {} ({digest}, {} bytes)",
                report.revision,
                path.display(),
                report.size.unwrap_or(0)
            )?,
            _ => writeln!(stdout, "unchanged {}", report.revision)?,
        },
    }
    Ok(ExitCode::SUCCESS)
}
