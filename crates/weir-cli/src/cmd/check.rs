//! `weir check`: render and verify a whole GitOps repository offline.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use comfy_table::{Table, presets};
use owo_colors::OwoColorize;
use weir_check::{CheckOptions, Finding, Report, Severity, SourceMapping, Status};

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
    /// The cluster directory Flux syncs first, relative to DIR (e.g. clusters/staging). Without
    /// it, weir finds the directories a Flux sync points at and checks the only one.
    #[arg(long)]
    cluster: Option<PathBuf>,
    /// Another source checked out locally: `[KIND/][NAMESPACE/]NAME=DIR` (repeatable), e.g.
    /// `--source podinfo=../podinfo`.
    #[arg(long = "source", value_name = "NAME=DIR")]
    sources: Vec<SourceMapping>,
    /// The largest file read from the repository (e.g. 64Mi); larger files are refused unread.
    #[arg(long, value_parser = crate::size::parse, default_value = "64Mi")]
    max_file_size: u64,
    #[command(flatten)]
    decrypt: crate::age_keys::DecryptArgs,
    /// List every warning instead of folding repeated ones into one line.
    #[arg(short, long)]
    verbose: bool,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    output: Output,
}

/// The cluster directory to check: the one given, or the only one the repository has.
pub fn cluster_dir(dir: &Path, cluster: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(c) = cluster {
        return Ok(c);
    }
    let found = weir_check::cluster_dirs(dir);
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!(
            "no cluster directory found in {} (no Flux Kustomization syncs its own directory, no FluxInstance has spec.sync): pass --cluster PATH",
            dir.display()
        ),
        many => bail!(
            "{} has {} cluster directories; choose one with --cluster:\n{}",
            dir.display(),
            many.len(),
            many.iter()
                .map(|p| format!("  {}", p.display()))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cluster = cluster_dir(&args.dir, args.cluster)?;
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
    let report = &checked.report;
    let mut out = std::io::stdout().lock();
    match args.output {
        Output::Json => {
            serde_json::to_writer_pretty(&mut out, report)?;
            writeln!(out)?;
        }
        // Names, paths and messages come from the repository: escaped before they reach a terminal.
        Output::Table => print_table(
            &mut out,
            &crate::escape::report(report),
            std::io::stdout().is_terminal(),
            args.verbose,
        )?,
    }
    out.flush()?;
    Ok(if report.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_table(
    out: &mut impl Write,
    report: &Report,
    colour: bool,
    verbose: bool,
) -> anyhow::Result<()> {
    let with_target = report.kustomizations.iter().any(|k| k.target.is_some());
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    let mut header = vec!["KUSTOMIZATION", "SOURCE", "PATH"];
    if with_target {
        header.push("CLUSTER");
    }
    header.extend(["OBJECTS", "STATUS"]);
    table.set_header(header);
    for k in &report.kustomizations {
        let status = k.status.as_str();
        let status = match (colour, k.status) {
            (false, _) => status.to_string(),
            (true, Status::Ok) => status.green().to_string(),
            (true, Status::Failed) => status.red().to_string(),
            (true, Status::NotChecked) => status.yellow().to_string(),
        };
        let mut row = vec![
            format!("{}/{}", k.namespace, k.name),
            k.source.clone(),
            k.path.clone(),
        ];
        if with_target {
            row.push(k.target.clone().unwrap_or_else(|| "(this one)".into()));
        }
        row.extend([k.objects.len().to_string(), status]);
        table.add_row(row);
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
        print_findings(out, &report.findings, colour, verbose)?;
    }
    writeln!(out)?;
    if !report.waves.is_empty() {
        writeln!(out, "apply order:")?;
        for (i, wave) in report.waves.iter().enumerate() {
            for (j, line) in wrap(wave, 96).iter().enumerate() {
                if j == 0 {
                    writeln!(out, "  {:>2}  {line}", i + 1)?;
                } else {
                    writeln!(out, "      {line}")?;
                }
            }
        }
    }
    let (errors, warnings) = (
        report.count(Severity::Error),
        report.count(Severity::Warning),
    );
    let total = report.kustomizations.len();
    let (rendered, failed, not_checked) = (
        report.count_status(Status::Ok),
        report.count_status(Status::Failed),
        report.count_status(Status::NotChecked),
    );
    writeln!(
        out,
        "{total} Kustomizations ({rendered} rendered, {failed} failed, {not_checked} not checked offline), {} objects, {errors} error{}, {warnings} warning{}",
        report
            .kustomizations
            .iter()
            .map(|k| k.objects.len())
            .sum::<usize>(),
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" },
    )?;
    if not_checked * 2 > total {
        let msg = format!(
            "most Kustomizations ({not_checked} of {total}) were not checked: their sources are not in this repository (check them out and pass --source NAME=DIR)"
        );
        if colour {
            writeln!(out, "{}", msg.yellow().bold())?;
        } else {
            writeln!(out, "{msg}")?;
        }
    }
    Ok(())
}

/// Findings, one per line; warnings of one group are folded into a line with a count unless
/// `verbose`.
fn print_findings(
    out: &mut impl Write,
    findings: &[Finding],
    colour: bool,
    verbose: bool,
) -> anyhow::Result<()> {
    let mut groups: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        if let Some(g) = &f.group {
            groups.entry(g).or_default().push(f);
        }
    }
    let mut folded_printed = std::collections::BTreeSet::new();
    for f in findings {
        let sev = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let sev = match (colour, f.severity) {
            (false, _) => format!("{sev:<7}"),
            (true, Severity::Error) => format!("{:<7}", sev.red().bold()),
            (true, Severity::Warning) => format!("{:<7}", sev.yellow()),
        };
        let group = f
            .group
            .as_deref()
            .filter(|g| !verbose && groups[g].len() > 1);
        match group {
            Some(g) => {
                if folded_printed.insert(g) {
                    let members = &groups[g];
                    let mut unique: Vec<&str> = members.iter().map(|m| m.object.as_str()).collect();
                    unique.dedup();
                    let first: Vec<&str> = unique.iter().take(3).copied().collect();
                    // `Kind/namespace/name`: the kind names what is counted.
                    let kind = f.object.split('/').next().unwrap_or("object");
                    writeln!(
                        out,
                        "{sev} [{}] {g}: {} {kind}s ({}{}; -v lists them)",
                        f.kind.as_str(),
                        members.len(),
                        first.join(", "),
                        if unique.len() > 3 { ", ..." } else { "" }
                    )?;
                }
            }
            None => writeln!(
                out,
                "{sev} [{}] {}: {}",
                f.kind.as_str(),
                f.object,
                f.message
            )?,
        }
    }
    Ok(())
}

/// Joins `items` with ", " into lines of at most `width` characters (an item never splits).
fn wrap(items: &[String], width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for item in items {
        if !line.is_empty() && line.len() + 2 + item.len() > width {
            lines.push(std::mem::take(&mut line) + ",");
        } else if !line.is_empty() {
            line.push_str(", ");
        }
        line.push_str(item);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waves_wrap_between_items() {
        let items: Vec<String> = ["aaaa", "bbbb", "cccc"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(wrap(&items, 10), ["aaaa, bbbb,", "cccc"]);
        assert_eq!(wrap(&items, 100), ["aaaa, bbbb, cccc"]);
    }
}
