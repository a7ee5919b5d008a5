//! `weir build ks NAME`: the YAML a Flux Kustomization would apply, exactly as `weir check` renders it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use weir_api::ObjectKey;
use weir_check::{CheckOptions, Severity, SourceMapping, Status};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Print the objects a Flux Kustomization applies (after postBuild substitution).
    ///
    /// Example: weir build ks apps --dir . --cluster clusters/staging
    #[command(name = "ks", alias = "kustomization")]
    Kustomization(KsArgs),
}

#[derive(clap::Args)]
pub struct KsArgs {
    /// The Kustomization's name.
    name: String,
    /// The Kustomization's namespace.
    #[arg(short = 'n', long, default_value = "flux-system")]
    namespace: String,
    /// The repository root.
    #[arg(long, visible_alias = "path", default_value = ".")]
    dir: PathBuf,
    /// The cluster directory Flux syncs first, relative to --dir (found when the repository has
    /// only one).
    #[arg(long)]
    cluster: Option<PathBuf>,
    /// Another source checked out locally: `[KIND/][NAMESPACE/]NAME=DIR` (repeatable).
    #[arg(long = "source", value_name = "NAME=DIR")]
    sources: Vec<SourceMapping>,
    /// The largest file read from the repository (e.g. 64Mi); larger files are refused unread.
    #[arg(long, value_parser = crate::size::parse, default_value = "64Mi")]
    max_file_size: u64,
    #[command(flatten)]
    decrypt: crate::age_keys::DecryptArgs,
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    let Command::Kustomization(args) = command;
    let cluster = super::check::cluster_dir(&args.dir, args.cluster)?;
    let checked = weir_check::check(
        &args.dir,
        &CheckOptions {
            cluster: Some(cluster),
            sources: args.sources,
            max_file_size: Some(args.max_file_size),
            decryption: args.decrypt.identities()?,
        },
    )
    .with_context(|| format!("checking {}", args.dir.display()))?;
    let key = ObjectKey::new(&args.namespace, &args.name);
    let Some(ks) = checked
        .report
        .kustomizations
        .iter()
        .find(|k| k.namespace == key.namespace && k.name == key.name)
    else {
        let kustomizations = &checked.report.kustomizations;
        let elsewhere: Vec<&str> = kustomizations
            .iter()
            .filter(|k| k.name == key.name)
            .map(|k| k.namespace.as_str())
            .collect();
        if let [ns] = elsewhere.as_slice() {
            bail!("no Kustomization {key}; it is in namespace {ns}: add -n {ns}");
        }
        if !elsewhere.is_empty() {
            bail!(
                "no Kustomization {key}; there is one named {} in namespaces {}: choose one with -n",
                key.name,
                elsewhere.join(", ")
            );
        }
        let known: Vec<String> = kustomizations
            .iter()
            .map(|k| format!("{}/{}", k.namespace, k.name))
            .collect();
        bail!(
            "no Kustomization {key} in this repository{}; defined: {}",
            weir_api::suggest::did_you_mean(&key.to_string(), known.iter().map(String::as_str), 3),
            known.join(", ")
        );
    };
    match ks.status {
        Status::Ok => {}
        Status::NotChecked => bail!(
            "Kustomization {key} builds from {}, which is not in this repository",
            crate::escape::field(&ks.source)
        ),
        Status::Failed => {
            let label = format!("Kustomization/{}/{}", key.namespace, key.name);
            for f in checked
                .report
                .findings
                .iter()
                .filter(|f| f.object == label && f.severity == Severity::Error)
            {
                eprintln!(
                    "error [{}] {}: {}",
                    f.kind.as_str(),
                    crate::escape::field(&f.object),
                    crate::escape::text(&f.message)
                );
            }
            return Ok(ExitCode::from(1));
        }
    }
    let objects = checked
        .rendered
        .get(&key)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut out = std::io::stdout().lock();
    out.write_all(weir_yaml::to_string_multi(objects).as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
