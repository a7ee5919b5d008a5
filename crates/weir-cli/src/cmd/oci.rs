//! OCI artifacts: `weir source oci fetch`, `weir push artifact`, `weir tag artifact`,
//! `weir list artifacts`.

use std::{
    io::Write,
    path::PathBuf,
    process::ExitCode,
    sync::{Arc, atomic::AtomicBool},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::Context;
use weir_api::flux::{OCILayerSelector, OCIRepositoryRef};
use weir_source::{
    ArtifactStore, BudgetConfig, HostBudgets, Outcome,
    clock::SystemClock,
    metrics::Metrics,
    oci::{
        self, OciCredentials, OciFetcher, OciOptions, OciSource, PushRequest, RegistryClient,
        RegistryOptions,
        reference::{OciUrl, Target},
    },
    progress::Discard,
    remote::Control,
    store,
};

use super::source::{Format, check_out, parse_size};

/// `weir source oci fetch` arguments.
#[derive(clap::Args)]
pub struct FetchArgs {
    /// Repository URL, oci://HOST/REPOSITORY (spec.url; no tag).
    pub url: String,
    /// Tag (spec.ref.tag); the default is `latest`, as in Flux.
    #[arg(long, conflicts_with_all = ["semver", "digest"])]
    pub tag: Option<String>,
    /// Semver range over tags (spec.ref.semver), e.g. ">=1.0.0 <2.0.0".
    #[arg(long, conflicts_with = "digest")]
    pub semver: Option<String>,
    /// Regular expression tags must match before the semver range (spec.ref.semverFilter).
    #[arg(long, requires = "semver")]
    pub semver_filter: Option<String>,
    /// Manifest digest sha256:<hex> (spec.ref.digest).
    #[arg(long)]
    pub digest: Option<String>,
    /// Layer selector: MEDIA_TYPE, or MEDIA_TYPE,OPERATION (extract or copy), or ,copy for the first
    /// layer copied (spec.layerSelector).
    #[arg(long)]
    pub layer_selector: Option<String>,
    /// Directory holding the secret's keys as files: .dockerconfigjson (spec.secretRef) and ca.crt
    /// (spec.certSecretRef), like mounted Secrets.
    #[arg(long)]
    pub secret_dir: Option<PathBuf>,
    /// The last fetched revision: when the tag still points at it, nothing is downloaded.
    #[arg(long)]
    pub last_revision: Option<String>,
    /// spec.ignore: extra exclusions in .gitignore syntax.
    #[arg(long)]
    pub ignore: Option<String>,
    /// Plain HTTP (spec.insecure).
    #[arg(long)]
    pub insecure: bool,
    /// A cosign public key (PEM, ECDSA P-256): the artifact's signature at tag sha256-<hex>.sig must
    /// verify with it before anything is downloaded (spec.verify with provider cosign).
    #[arg(long)]
    pub verify_key: Option<PathBuf>,
    /// spec.provider; only `generic` is supported.
    #[arg(long)]
    pub provider: Option<String>,
    /// Where to write the artifact: a new file, or a regular file to replace.
    #[arg(long)]
    pub out: PathBuf,
    /// Give up after this many seconds (spec.timeout).
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// The largest artifact (tar.gz) accepted, in bytes; suffixes Ki, Mi, Gi (and K, M, G) allowed.
    #[arg(long, value_parser = parse_size, default_value = "256Mi")]
    pub max_artifact_size: u64,
    /// The largest layer blob downloaded, in bytes.
    #[arg(long, value_parser = parse_size, default_value = "256Mi")]
    pub max_blob_size: u64,
    /// What a layer may unpack to, in bytes.
    #[arg(long, value_parser = parse_size, default_value = "1Gi")]
    pub max_unpacked_size: u64,
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

fn registry(max_blob_size: u64) -> RegistryClient {
    let clock = Arc::new(SystemClock::default());
    let budgets = Arc::new(HostBudgets::new(clock, BudgetConfig::default()));
    RegistryClient::new(
        budgets,
        Arc::new(Metrics::default()),
        RegistryOptions {
            max_blob_size,
            ..RegistryOptions::default()
        },
    )
}

fn credentials(dir: Option<&PathBuf>, url: &OciUrl) -> anyhow::Result<OciCredentials> {
    Ok(match dir {
        Some(dir) => OciCredentials::from_dir(dir, &url.host).context("reading --secret-dir")?,
        None => OciCredentials::default(),
    })
}

/// Runs `weir source oci fetch`.
pub fn fetch(args: FetchArgs) -> anyhow::Result<ExitCode> {
    let url = OciUrl::parse(&args.url)?;
    let creds = credentials(args.secret_dir.as_ref(), &url)?;
    let layer_selector = args.layer_selector.as_deref().map(|s| {
        let (media, op) = s.split_once(',').unwrap_or((s, ""));
        OCILayerSelector {
            media_type: Some(media.to_owned()).filter(|m| !m.is_empty()),
            operation: Some(op.to_owned()).filter(|o| !o.is_empty()),
        }
    });
    let out = std::path::absolute(&args.out)
        .with_context(|| format!("resolving {}", args.out.display()))?;
    check_out(&out)?;
    let out_dir = out
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let work = tempfile::Builder::new()
        .prefix(".weir-fetch-")
        .tempdir_in(&out_dir)
        .with_context(|| format!("creating a work directory in {}", out_dir.display()))?;
    let store = Arc::new(ArtifactStore::open(
        work.path(),
        store::Options {
            max_artifact_size: args.max_artifact_size,
        },
    )?);
    let fetcher = OciFetcher::new(
        registry(args.max_blob_size),
        store,
        Arc::new(SystemClock::default()),
        OciOptions {
            timeout: Duration::from_secs(args.timeout),
            extract_limits: weir_source::extract::Limits {
                max_bytes: args.max_unpacked_size,
                ..weir_source::extract::Limits::default()
            },
            ..OciOptions::default()
        },
    );
    let source = OciSource {
        url: args.url.clone(),
        reference: Some(OCIRepositoryRef {
            digest: args.digest.clone(),
            semver: args.semver.clone(),
            semver_filter: args.semver_filter.clone(),
            tag: args.tag.clone(),
        }),
        layer_selector,
        ignore: args.ignore.clone(),
        insecure: args.insecure,
        provider: args.provider.clone(),
        verify: match &args.verify_key {
            Some(path) => Some(oci::Verify {
                provider: "cosign".into(),
                keys: vec![
                    std::fs::read(path)
                        .with_context(|| format!("reading --verify-key {}", path.display()))?,
                ],
            }),
            None => None,
        },
        last_revision: args.last_revision.clone(),
        object: None,
    };
    let interrupt = Arc::new(AtomicBool::new(false));
    let outcome = fetcher
        .fetch(&source, &creds, &interrupt, Arc::new(Discard))
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

/// `weir push artifact` arguments.
#[derive(clap::Args)]
pub struct PushArgs {
    /// Where to push: oci://HOST/REPOSITORY:TAG.
    pub url: String,
    /// The directory to pack.
    #[arg(long)]
    pub path: PathBuf,
    /// The source's address, recorded as org.opencontainers.image.source.
    #[arg(long)]
    pub source: String,
    /// The source's revision, recorded as org.opencontainers.image.revision (e.g. main@sha1:<hex>).
    #[arg(long)]
    pub revision: String,
    /// Paths to leave out, in .gitignore syntax (repeat or separate with commas); .sourceignore
    /// files in the directory are honoured too.
    #[arg(long, value_delimiter = ',')]
    pub ignore_paths: Vec<String>,
    /// Directory with .dockerconfigjson (and ca.crt).
    #[arg(long)]
    pub secret_dir: Option<PathBuf>,
    /// Plain HTTP.
    #[arg(long)]
    pub insecure: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: Format,
}

/// Runs `weir push artifact`.
pub fn push(args: PushArgs) -> anyhow::Result<ExitCode> {
    let (url, target) = OciUrl::parse_with_tag(&args.url)?;
    let Target::Tag(tag) = target else {
        anyhow::bail!("push needs a tag (oci://HOST/REPOSITORY:TAG), not a digest");
    };
    let creds = credentials(args.secret_dir.as_ref(), &url)?;
    let scratch = tempfile::tempdir().context("creating a temporary directory")?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let created = oci::manifest::rfc3339_utc(now);
    let control = control(args.timeout);
    let outcome = oci::push_artifact(
        &registry(u64::MAX),
        &creds,
        &PushRequest {
            url: &url,
            tag: &tag,
            dir: &args.path,
            source: &args.source,
            revision: &args.revision,
            ignore_paths: &args.ignore_paths,
            created: &created,
            insecure: args.insecure,
        },
        scratch.path(),
        &control,
    )
    .map_err(|e| anyhow::anyhow!("push failed [{}]: {e}", e.reason()))?;
    let mut stdout = std::io::stdout().lock();
    match args.output {
        Format::Json => {
            serde_json::to_writer_pretty(&mut stdout, &outcome)?;
            writeln!(stdout)?;
        }
        Format::Text => writeln!(stdout, "pushed {}@{}", outcome.url, outcome.digest)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn control(timeout: u64) -> Control {
    Control::new(
        Duration::from_secs(timeout),
        Arc::new(AtomicBool::new(false)),
        Arc::new(Discard),
    )
}

/// `weir tag artifact` arguments.
#[derive(clap::Args)]
pub struct TagArgs {
    /// The artifact: oci://HOST/REPOSITORY:TAG or oci://HOST/REPOSITORY@sha256:<hex>.
    pub url: String,
    /// The new tag (repeatable).
    #[arg(long = "tag", required = true)]
    pub tags: Vec<String>,
    /// Directory with .dockerconfigjson (and ca.crt).
    #[arg(long)]
    pub secret_dir: Option<PathBuf>,
    /// Plain HTTP.
    #[arg(long)]
    pub insecure: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
}

/// Runs `weir tag artifact`.
pub fn tag(args: TagArgs) -> anyhow::Result<ExitCode> {
    let (url, target) = OciUrl::parse_with_tag(&args.url)?;
    let creds = credentials(args.secret_dir.as_ref(), &url)?;
    let client = registry(u64::MAX);
    let control = control(args.timeout);
    let mut stdout = std::io::stdout().lock();
    for tag in &args.tags {
        if !oci::reference::valid_tag(tag) {
            anyhow::bail!("--tag {tag:?} is not a valid OCI tag");
        }
        let digest =
            oci::tag_artifact(&client, &creds, &url, &target, tag, args.insecure, &control)
                .map_err(|e| anyhow::anyhow!("tag failed [{}]: {e}", e.reason()))?;
        writeln!(stdout, "tagged {}:{tag}@{digest}", url.to_url())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `weir list artifacts` arguments.
#[derive(clap::Args)]
pub struct ListArgs {
    /// The repository: oci://HOST/REPOSITORY.
    pub url: String,
    /// Directory with .dockerconfigjson (and ca.crt).
    #[arg(long)]
    pub secret_dir: Option<PathBuf>,
    /// Plain HTTP.
    #[arg(long)]
    pub insecure: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: Format,
}

/// Runs `weir list artifacts`.
pub fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let url = OciUrl::parse(&args.url)?;
    let creds = credentials(args.secret_dir.as_ref(), &url)?;
    let listed = oci::list_artifacts(
        &registry(u64::MAX),
        &creds,
        &url,
        args.insecure,
        &control(args.timeout),
    )
    .map_err(|e| anyhow::anyhow!("list failed [{}]: {e}", e.reason()))?;
    let mut stdout = std::io::stdout().lock();
    match args.output {
        Format::Json => {
            serde_json::to_writer_pretty(&mut stdout, &listed)?;
            writeln!(stdout)?;
        }
        Format::Text => {
            let mut table = comfy_table::Table::new();
            table.load_preset(comfy_table::presets::NOTHING);
            table.set_header(["ARTIFACT", "DIGEST", "SOURCE", "REVISION", "CREATED"]);
            for a in &listed {
                table.add_row([
                    a.url.as_str(),
                    a.digest.as_str(),
                    a.source.as_deref().unwrap_or("-"),
                    a.revision.as_deref().unwrap_or("-"),
                    a.created.as_deref().unwrap_or("-"),
                ]);
            }
            writeln!(stdout, "{table}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
