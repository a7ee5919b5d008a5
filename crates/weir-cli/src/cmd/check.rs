//! `weir check`: render and verify a whole GitOps repository offline.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use comfy_table::{Table, presets};
use owo_colors::OwoColorize;
use weir_check::{CheckOptions, Report, Severity};

use crate::escape::{field, text};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// Render every Kustomization of a Flux repository and report cycles, missing dependencies,
/// duplicate objects, unresolved variables, build errors and invalid objects.
///
/// Example: weir check . --cluster clusters/staging
#[derive(clap::Args)]
pub struct Args {
    /// The repository root (loads are confined to it).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The cluster directory Flux syncs first, relative to DIR (e.g. clusters/staging).
    #[arg(long)]
    cluster: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    output: Output,
    /// The largest file read from the repository (e.g. 64Mi); larger files are refused unread.
    #[arg(long, value_parser = crate::size::parse, default_value = "64Mi")]
    max_file_size: u64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let checked = weir_check::check(
        &args.dir,
        &CheckOptions {
            cluster: args.cluster,
            max_file_size: Some(args.max_file_size),
        },
    )
    .with_context(|| format!("checking {}", args.dir.display()))?;
    let report = &checked.report;
    let mut out = std::io::stdout().lock();
    match args.output {
        Output::Json => {
            serde_json::to_writer_pretty(&mut out, report)?;
            writeln!(out)?;
        }
        Output::Table => print_table(&mut out, report, std::io::stdout().is_terminal())?,
    }
    out.flush()?;
    Ok(if report.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_table(out: &mut impl Write, report: &Report, colour: bool) -> anyhow::Result<()> {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    table.set_header(["KUSTOMIZATION", "SOURCE", "PATH", "OBJECTS", "STATUS"]);
    for k in &report.kustomizations {
        let status = k.status.as_str();
        let status = match (colour, k.status) {
            (false, _) => status.to_string(),
            (true, weir_check::Status::Ok) => status.green().to_string(),
            (true, weir_check::Status::Failed) => status.red().to_string(),
            (true, weir_check::Status::NotChecked) => status.yellow().to_string(),
        };
        // Names, sources and paths come from the repository: escaped, one line per cell.
        table.add_row([
            field(&format!("{}/{}", k.namespace, k.name)).into_owned(),
            field(&k.source).into_owned(),
            field(&k.path).into_owned(),
            k.objects.len().to_string(),
            status,
        ]);
    }
    // kubectl-like: no left margin, two spaces between columns, no trailing blanks.
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    for line in table.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    if !report.findings.is_empty() {
        writeln!(out)?;
        for f in &report.findings {
            let sev = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            let sev = match (colour, f.severity) {
                (false, _) => format!("{sev:<7}"),
                (true, Severity::Error) => format!("{:<7}", sev.red().bold()),
                (true, Severity::Warning) => format!("{:<7}", sev.yellow()),
            };
            writeln!(
                out,
                "{sev} [{}] {}: {}",
                f.kind.as_str(),
                field(&f.object),
                text(&f.message)
            )?;
        }
    }
    writeln!(out)?;
    if !report.order.is_empty() {
        writeln!(out, "apply order: {}", field(&report.order.join(", ")))?;
    }
    let (errors, warnings) = (
        report.count(Severity::Error),
        report.count(Severity::Warning),
    );
    writeln!(
        out,
        "{} Kustomizations, {} objects, {errors} error{}, {warnings} warning{}",
        report.kustomizations.len(),
        report
            .kustomizations
            .iter()
            .map(|k| k.objects.len())
            .sum::<usize>(),
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" },
    )?;
    Ok(())
}
