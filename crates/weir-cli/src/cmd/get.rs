//! `weir get all|sources|ks|gitrepo [NAME]`: like `flux get`, plus the age of the current state,
//! applied vs source revision (marked when they differ), staleness against the interval, suspension
//! and the first line of the failing message.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use comfy_table::{Table, presets};
use owo_colors::OwoColorize;
use serde::Serialize;
use weir_diagnose::snapshot::age;
use weir_diagnose::summary::{self, Row};

use super::snapshot::{
    ClusterArgs, LiveScope, Output, counted_client, gather, print_structured, runtime,
};
use crate::escape::field;

/// Show Flux objects with their state.
///
/// Example: `weir get ks -A --status-selector ready=false`
#[derive(clap::Args)]
pub struct Args {
    /// `all`, `sources` (or `source`, `gitrepo`), `ks` (or `kustomization`).
    what: String,
    /// Only the object of this name.
    name: Option<String>,
    /// Namespace.
    #[arg(short = 'n', long, default_value = "flux-system")]
    namespace: String,
    /// All namespaces.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Only rows whose Ready status matches, e.g. `ready=false`.
    #[arg(long)]
    status_selector: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: Output,
    /// Keep listing every few seconds and print the rows that changed.
    #[arg(short = 'w', long)]
    watch: bool,
    /// Seconds between listings with --watch.
    #[arg(long, default_value = "2", value_parser = crate::duration::parse)]
    watch_interval: Duration,
    #[command(flatten)]
    cluster: ClusterArgs,
}

#[derive(Serialize)]
struct JsonOut<'a> {
    items: &'a [Row],
    requests: u64,
    notes: &'a [String],
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (sources, ks) = match args.what.to_ascii_lowercase().as_str() {
        "all" => (true, true),
        "sources" | "source" | "gitrepo" | "gitrepos" | "gitrepository" | "gitrepositories" => {
            (true, false)
        }
        "ks" | "kustomization" | "kustomizations" => (false, true),
        other => bail!("weir get shows all, sources, gitrepo or ks, not {other:?}"),
    };
    let selector = match &args.status_selector {
        None => None,
        Some(s) => match s.split_once('=') {
            Some((k, v)) if k.eq_ignore_ascii_case("ready") => Some(v.to_string()),
            _ => bail!("--status-selector takes ready=true|false|unknown, not {s:?}"),
        },
    };
    let namespace = (!args.all_namespaces).then(|| args.namespace.clone());
    let rt = runtime()?;
    let mut shown: Vec<Row> = Vec::new();
    loop {
        let gathered = rt.block_on(async {
            let (client, counter) = counted_client(&args.cluster).await?;
            gather(
                &client,
                &counter,
                namespace.as_deref(),
                LiveScope::Nothing,
                false,
            )
            .await
            .context("reading the cluster")
        })?;
        let rows: Vec<Row> = summary::rows(&gathered.snapshot, sources, ks)
            .into_iter()
            .filter(|r| args.name.as_deref().is_none_or(|n| r.name == n))
            .filter(|r| selector.as_deref().is_none_or(|v| r.ready_is(v)))
            .collect();
        if !args.watch {
            match args.output {
                Output::Table => {
                    let mut out = std::io::stdout().lock();
                    if rows.is_empty() {
                        writeln!(out, "no objects found")?;
                    }
                    render(
                        &mut out,
                        &rows,
                        args.all_namespaces,
                        std::io::stdout().is_terminal(),
                    )?;
                    for n in &gathered.notes {
                        writeln!(out, "note: {}", field(n))?;
                    }
                }
                o => print_structured(
                    &JsonOut {
                        items: &rows,
                        requests: gathered.requests.total(),
                        notes: &gathered.notes,
                    },
                    o,
                )?,
            }
            return Ok(ExitCode::SUCCESS);
        }
        // --watch: the first listing in full, then only rows whose state changed.
        let changed: Vec<Row> = rows
            .iter()
            .filter(|r| !shown.iter().any(|s| same_state(s, r)))
            .cloned()
            .collect();
        if !changed.is_empty() {
            let mut out = std::io::stdout().lock();
            match args.output {
                Output::Table => render(
                    &mut out,
                    &changed,
                    args.all_namespaces,
                    std::io::stdout().is_terminal(),
                )?,
                _ => {
                    for r in &changed {
                        writeln!(out, "{}", serde_json::to_string(r)?)?;
                    }
                }
            }
            out.flush()?;
        }
        shown = rows;
        std::thread::sleep(args.watch_interval);
    }
}

fn same_state(a: &Row, b: &Row) -> bool {
    a.kind == b.kind
        && a.namespace == b.namespace
        && a.name == b.name
        && a.ready == b.ready
        && a.reason == b.reason
        && a.revision == b.revision
        && a.suspended == b.suspended
        && a.message == b.message
        && a.stale.is_some() == b.stale.is_some()
}

/// `main@sha1:0123456789ab…` shortened to 12 hex digits.
fn short(rev: &str) -> String {
    match rev.rsplit_once(':') {
        Some((head, hex)) if hex.len() > 12 => format!("{head}:{}", &hex[..12]),
        _ => rev.to_string(),
    }
}

/// The tables, one per kind (sources first), kubectl-like. Pure: rows in, text out.
pub fn render(
    out: &mut impl Write,
    rows: &[Row],
    namespaces: bool,
    colour: bool,
) -> std::io::Result<()> {
    let mut first = true;
    for kind in ["GitRepository", "Kustomization"] {
        let of_kind: Vec<&Row> = rows.iter().filter(|r| r.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        if !first {
            writeln!(out)?;
        }
        first = false;
        let mut table = Table::new();
        table.load_preset(presets::NOTHING);
        let mut header = Vec::new();
        if namespaces {
            header.push("NAMESPACE");
        }
        header.extend([
            "NAME",
            "READY",
            "SINCE",
            "REVISION",
            "STALE",
            "SUSPENDED",
            "MESSAGE",
        ]);
        table.set_header(header);
        let prefix = if kind == "GitRepository" {
            "gitrepository/"
        } else {
            "kustomization/"
        };
        for r in of_kind {
            let mut row = Vec::new();
            if namespaces {
                row.push(field(&r.namespace).into_owned());
            }
            let ready = match (colour, r.ready.as_str()) {
                (true, "True") => r.ready.green().to_string(),
                (true, "False") => r.ready.red().to_string(),
                (true, _) => r.ready.yellow().to_string(),
                (false, _) => r.ready.clone(),
            };
            let mut revision = r
                .revision
                .as_deref()
                .map(short)
                .unwrap_or_else(|| "-".into());
            if r.revision_behind
                && let Some(s) = &r.source_revision
            {
                // The applied revision is not the source's: both shown, marked.
                revision = format!("{revision} != {}", short(s));
            }
            let stale = match &r.stale {
                Some(s) => {
                    let t = format!("stale {}", age(s.waiting_secs));
                    if colour { t.red().to_string() } else { t }
                }
                None => "-".into(),
            };
            row.extend([
                format!("{prefix}{}", field(&r.name)),
                ready,
                r.state_age_secs.map_or_else(|| "-".into(), age),
                field(&revision).into_owned(),
                stale,
                if r.suspended {
                    "True".into()
                } else {
                    "False".into()
                },
                field(&r.message).into_owned(),
            ]);
            table.add_row(row);
        }
        for column in table.column_iter_mut() {
            column.set_padding((0, 2));
        }
        for line in table.to_string().lines() {
            writeln!(out, "{}", line.trim_end())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: &'static str, name: &str, ready: &str, message: &str) -> Row {
        Row {
            kind,
            namespace: "apps".into(),
            name: name.into(),
            ready: ready.into(),
            reason: String::new(),
            suspended: false,
            revision: Some("main@sha1:1111111111111111111111111111111111111111".into()),
            source_revision: None,
            revision_behind: false,
            state_age_secs: Some(1800),
            ready_for_secs: None,
            interval_secs: 300,
            stale: None,
            message: message.into(),
        }
    }

    #[test]
    fn tables_per_kind() {
        let mut behind = row(
            "Kustomization",
            "frontend",
            "True",
            "Applied revision: main@sha1:1111111111111111111111111111111111111111",
        );
        behind.revision_behind = true;
        behind.source_revision = Some("main@sha1:2222222222222222222222222222222222222222".into());
        behind.stale = Some(weir_diagnose::stale::Stale {
            waiting_secs: 1500,
            what: "source revision".into(),
            likely: "suspended".into(),
        });
        let mut suspended = row(
            "Kustomization",
            "backend",
            "False",
            "build failed in base/kustomization.yaml",
        );
        suspended.suspended = true;
        suspended.state_age_secs = None;
        let rows = vec![
            row(
                "GitRepository",
                "repo",
                "True",
                "stored artifact for revision 'main@sha1:1111111111111111111111111111111111111111'",
            ),
            behind,
            suspended,
        ];
        let mut out = Vec::new();
        render(&mut out, &rows, false, false).expect("render");
        insta::assert_snapshot!(String::from_utf8(out).expect("utf-8"));
        let mut out = Vec::new();
        render(&mut out, &rows, true, false).expect("render");
        insta::assert_snapshot!(
            "tables_all_namespaces",
            String::from_utf8(out).expect("utf-8")
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        let rows = vec![row(
            "Kustomization",
            "evil\u{1b}]0;x\u{7}",
            "False",
            "line one\u{1b}[2J",
        )];
        let mut out = Vec::new();
        render(&mut out, &rows, false, false).expect("render");
        let s = String::from_utf8(out).expect("utf-8");
        assert!(!s.contains('\u{1b}'), "{s}");
        assert!(s.contains("evil\\u{1b}]0;x\\u{7}"), "{s}");
    }
}
