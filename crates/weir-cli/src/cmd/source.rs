//! `weir source git fetch`: one GitRepository fetch, exactly as the controller runs it.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicI32, Ordering},
    },
    time::Duration,
};

use anyhow::Context;
use weir_source::{
    ArtifactStore, BudgetConfig, ClientOptions, Credentials, Fetcher, GitClient, GitRef,
    HostBudgets, Outcome, Request,
    client::{DEFAULT_MAX_BLOB_SIZE, DEFAULT_MAX_LISTING_SIZE, DEFAULT_MAX_PACK_SIZE},
    clock::SystemClock,
    fetch,
    metrics::Metrics,
    store,
};

/// Fetch sources.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Git sources (`weir source git fetch URL`).
    #[command(subcommand)]
    Git(GitCommand),
    /// OCI artifacts (`weir source oci fetch oci://HOST/REPOSITORY`).
    #[command(subcommand)]
    Oci(OciCommand),
}

/// OCI source commands.
#[derive(clap::Subcommand)]
pub enum OciCommand {
    /// Fetch one artifact's layer into a tar.gz artifact, as an OCIRepository would.
    ///
    /// Example: weir source oci fetch oci://ghcr.io/stefanprodan/manifests/podinfo --tag latest --out podinfo.tar.gz
    Fetch(Box<super::oci::FetchArgs>),
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
    /// Where to write the artifact: a new file, or a regular file to replace (never a link, a
    /// directory or a device).
    #[arg(long)]
    pub out: PathBuf,
    /// Give up after this many seconds (spec.timeout); values past a century are clamped.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// The largest artifact (tar.gz) accepted, in bytes; suffixes Ki, Mi, Gi (and K, M, G) allowed.
    #[arg(long, value_parser = parse_size, default_value = "256Mi")]
    pub max_artifact_size: u64,
    /// The largest single file accepted, in bytes (memory used by a fetch grows with it).
    #[arg(long, value_parser = parse_size, default_value_t = DEFAULT_MAX_BLOB_SIZE)]
    pub max_blob_size: u64,
    /// The largest ref listing read from the server, in bytes.
    #[arg(long, value_parser = parse_size, default_value_t = DEFAULT_MAX_LISTING_SIZE)]
    pub max_listing_size: u64,
    /// The largest pack read from the server, in bytes.
    #[arg(long, value_parser = parse_size, default_value_t = DEFAULT_MAX_PACK_SIZE)]
    pub max_pack_size: u64,
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
        Command::Oci(OciCommand::Fetch(args)) => super::oci::fetch(*args),
    }
}

/// Parses `1048576`, `64Mi`, `1Gi`, `500K` (K, M, G are powers of 1000; Ki, Mi, Gi of 1024).
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a size like 1048576, 64Mi or 1Gi");
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let factor: u64 = match unit {
        "" => 1,
        "K" | "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        _ => return Err(bad()),
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Refuses to replace anything at `out` but a regular file (a link, a directory, a device, a FIFO).
pub(crate) fn check_out(out: &Path) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(out) {
        Ok(meta) if !meta.file_type().is_file() => anyhow::bail!(
            "--out {} exists and is not a regular file ({}); weir replaces only regular files: choose another path",
            out.display(),
            describe(&meta.file_type())
        ),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("checking --out {}", out.display())),
    }
}

fn describe(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_block_device() || kind.is_char_device() {
            return "a device";
        }
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// The signal that ended the fetch (SIGTERM 15, SIGINT 2), or 0.
static SIGNALLED: AtomicI32 = AtomicI32::new(0);

/// On SIGTERM or SIGINT: raises `interrupt` so the fetch stops and its temporary files are dropped;
/// if it has not returned within two seconds (a read blocked on a silent server), removes `work`
/// and exits with 128 + the signal.
fn on_termination(interrupt: Arc<AtomicBool>, work: PathBuf) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .context("starting the signal handler")?;
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut int) = runtime.block_on(async {
        Ok::<_, std::io::Error>((
            signal(SignalKind::terminate())?,
            signal(SignalKind::interrupt())?,
        ))
    })?;
    std::thread::spawn(move || {
        let signo = runtime.block_on(async {
            tokio::select! {
                _ = term.recv() => 15,
                _ = int.recv() => 2,
            }
        });
        SIGNALLED.store(signo, Ordering::SeqCst);
        interrupt.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_secs(2));
        // The fetch did not unwind in time: remove what it left and go.
        for _ in 0..5 {
            if std::fs::remove_dir_all(&work).is_ok() || !work.exists() {
                break;
            }
        }
        std::process::exit(128 + signo);
    });
    Ok(())
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
    check_out(&out)?;
    let out_dir = out
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    // The store lives beside --out (same filesystem), so the artifact is renamed into place whole;
    // every temporary file of the fetch (scratch repositories, ssh files) lives inside it.
    let work = tempfile::Builder::new()
        .prefix(".weir-fetch-")
        .tempdir_in(&out_dir)
        .with_context(|| format!("creating a work directory in {}", out_dir.display()))?;
    let interrupt = Arc::new(AtomicBool::new(false));
    on_termination(interrupt.clone(), work.path().to_owned())?;
    let store = Arc::new(ArtifactStore::open(
        work.path(),
        store::Options {
            max_artifact_size: args.max_artifact_size,
        },
    )?);
    let clock = Arc::new(SystemClock::default());
    let metrics = Arc::new(Metrics::default());
    let budgets = Arc::new(HostBudgets::new(clock.clone(), BudgetConfig::default()));
    let client_options = ClientOptions {
        max_blob_size: args.max_blob_size,
        max_listing_size: args.max_listing_size,
        max_pack_size: args.max_pack_size,
        temp_dir: Some(work.path().to_owned()),
        ..ClientOptions::default()
    };
    let client = GitClient::new(budgets, metrics.clone(), client_options);
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
    let result = fetcher.fetch(&request, &interrupt);
    // Everything the fetch made lives in `work`: drop the fetcher (its scratch repository) first.
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(e) => {
            drop(fetcher);
            drop(work);
            let signo = SIGNALLED.load(Ordering::SeqCst);
            if signo != 0 {
                eprintln!("weir: fetch interrupted by signal {signo}; nothing was written");
                return Ok(ExitCode::from(u8::try_from(128 + signo).unwrap_or(1)));
            }
            anyhow::bail!("fetch failed [{}]: {e}", e.reason());
        }
    };
    let report = match outcome {
        Outcome::Unchanged { revision } => FetchReport {
            revision: revision.to_string(),
            digest: None,
            size: None,
            changed: false,
            path: None,
        },
        Outcome::Fetched { revision, artifact } => {
            // Checked again right before the rename: the path may have changed during the fetch.
            check_out(&out)?;
            std::fs::rename(&artifact.path, &out)
                .with_context(|| format!("moving the artifact to {}", out.display()))?;
            FetchReport {
                revision: revision.to_string(),
                digest: Some(artifact.digest.to_string()),
                size: Some(artifact.size),
                changed: true,
                path: Some(out),
            }
        }
    };
    drop(fetcher);
    drop(work);
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
