//! `weir doctor [-A]`: the whole installation in one report, most severe first. Exit 0 healthy, 1
//! with findings.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context as _;
use owo_colors::OwoColorize;
use serde::Serialize;
use weir_diagnose::snapshot::age;
use weir_diagnose::{Report, Severity};

use super::snapshot::{
    ClusterArgs, LiveScope, Output, counted_client, gather, print_structured, runtime,
};
use crate::escape::field;

/// Check the whole installation: cycles, double claims, objects missing live, stale reconciles,
/// failing sources.
///
/// Example: `weir doctor -A`
#[derive(clap::Args)]
pub struct Args {
    /// Namespace.
    #[arg(short = 'n', long, default_value = "flux-system")]
    namespace: String,
    /// All namespaces.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: Output,
    #[command(flatten)]
    cluster: ClusterArgs,
}

#[derive(Serialize)]
struct JsonOut<'a> {
    #[serde(flatten)]
    report: &'a Report,
    healthy: bool,
    requests: u64,
    notes: &'a [String],
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let namespace = (!args.all_namespaces).then(|| args.namespace.clone());
    let gathered = runtime()?.block_on(async {
        let (client, counter) = counted_client(&args.cluster).await?;
        gather(
            &client,
            &counter,
            namespace.as_deref(),
            LiveScope::All,
            true,
        )
        .await
        .context("reading the cluster")
    })?;
    let report = weir_diagnose::doctor(&gathered.snapshot);
    match args.output {
        Output::Table => {
            let mut out = std::io::stdout().lock();
            render(&mut out, &report, std::io::stdout().is_terminal())?;
            for n in &gathered.notes {
                writeln!(out, "note: {}", field(n))?;
            }
            writeln!(
                out,
                "{} Kustomizations, {} GitRepositories; {} API requests",
                gathered.snapshot.kustomizations.len(),
                gathered.snapshot.git_repositories.len(),
                gathered.requests.total()
            )?;
        }
        o => print_structured(
            &JsonOut {
                report: &report,
                healthy: report.healthy(),
                requests: gathered.requests.total(),
                notes: &gathered.notes,
            },
            o,
        )?,
    }
    Ok(if report.healthy() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The report as text: findings (worst first), tenants, what is not available. Pure.
pub fn render(out: &mut impl Write, r: &Report, colour: bool) -> std::io::Result<()> {
    if r.findings.is_empty() {
        writeln!(out, "healthy: no findings")?;
    }
    for f in &r.findings {
        let sev = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let sev = match (colour, f.severity) {
            (true, Severity::Error) => sev.red().to_string(),
            (true, Severity::Warning) => sev.yellow().to_string(),
            _ => sev.to_string(),
        };
        writeln!(out, "{sev} [{}] {}", field(&f.code), field(&f.message))?;
        writeln!(out, "  fix: {}", field(&f.advice))?;
    }
    if !r.tenants.is_empty() {
        writeln!(out, "tenants by artifact size:")?;
        for t in &r.tenants {
            writeln!(
                out,
                "  {}: {} sources, {} bytes, shortest interval {}",
                field(&t.namespace),
                t.sources,
                t.artifact_bytes,
                age(t.shortest_interval_secs)
            )?;
        }
    }
    for n in &r.not_available {
        writeln!(out, "not available: {n}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_diagnose::{Finding, doctor::Tenant};

    #[test]
    fn report_layout() {
        let r = Report {
            findings: vec![
                Finding {
                    severity: Severity::Error,
                    code: "dependency-cycle".into(),
                    objects: vec![],
                    message: "dependency cycle: apps/a -> apps/b -> apps/a".into(),
                    advice: "remove one dependsOn entry".into(),
                },
                Finding {
                    severity: Severity::Warning,
                    code: "stale".into(),
                    objects: vec![],
                    message: "Kustomization apps/c: generation 2 (observed: 1) waiting for 25m"
                        .into(),
                    advice: "suspended (spec.suspend: true)".into(),
                },
            ],
            tenants: vec![Tenant {
                namespace: "team-a".into(),
                sources: 2,
                artifact_bytes: 4096,
                shortest_interval_secs: 60,
            }],
            not_available: vec!["queue waits".into()],
        };
        let mut out = Vec::new();
        render(&mut out, &r, false).expect("render");
        insta::assert_snapshot!(String::from_utf8(out).expect("utf-8"));
    }
}
