//! `weir kustomize build DIR`: the same stdout as `kustomize build DIR` (kustomize v5.5, default load
//! restrictor), deprecation warnings on stderr.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use weir_kustomize::{BuildOptions, DiskFs, build_output};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Build a kustomization directory and print the objects as YAML.
    Build(BuildArgs),
}

#[derive(clap::Args)]
pub struct BuildArgs {
    /// Directory holding a kustomization.yaml (or kustomization.yml / Kustomization).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The largest file read from the repository (e.g. 64Mi); larger files are refused unread.
    #[arg(long, value_parser = crate::size::parse, default_value = "64Mi")]
    max_file_size: u64,
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Build(args) => build(args),
    }
}

fn build(args: BuildArgs) -> anyhow::Result<ExitCode> {
    match build_output(
        &DiskFs::new().with_max_file_size(args.max_file_size),
        &args.dir,
        None,
        &BuildOptions::default(),
    ) {
        Ok(out) => {
            for w in &out.warnings {
                eprintln!("{}", crate::escape::text(&w.to_string()));
            }
            let text = weir_yaml::to_string_multi(&out.resources);
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {}", crate::escape::text(&e.to_string()));
            Ok(ExitCode::from(1))
        }
    }
}
