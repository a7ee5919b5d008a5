//! `weir why KIND/NAME`: the chain from an object to the first thing actually wrong, one line per
//! step, the last line saying what to do. Exit 0 when nothing is wrong, 1 with a cause.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use owo_colors::OwoColorize;
use serde::Serialize;
use weir_api::ObjectKey;
use weir_diagnose::{Diagnosis, Kind};

use super::snapshot::{
    ClusterArgs, LiveScope, Output, counted_client, gather, print_structured, runtime,
};
use crate::escape::field;

/// Explain why a Kustomization or GitRepository is not deployed.
///
/// Example: `weir why ks/apps -n flux-system`
#[derive(clap::Args)]
pub struct Args {
    /// `ks/NAME`, `kustomization/NAME`, `gitrepo/NAME` (or `KIND NAME`).
    target: String,
    /// The name, when KIND and NAME are given apart.
    name: Option<String>,
    /// Namespace of the object.
    #[arg(short = 'n', long, default_value = "flux-system")]
    namespace: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: Output,
    #[command(flatten)]
    cluster: ClusterArgs,
}

#[derive(Serialize)]
struct JsonOut<'a> {
    #[serde(flatten)]
    diagnosis: &'a Diagnosis,
    /// API requests made: LISTs per kind, never a GET per object.
    requests: u64,
    notes: &'a [String],
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (kind, name) = match (args.target.split_once('/'), &args.name) {
        (Some((k, n)), None) => (k.to_string(), n.to_string()),
        (None, Some(n)) => (args.target.clone(), n.clone()),
        _ => bail!(
            "expected KIND/NAME (e.g. ks/apps) or KIND NAME, got {:?}",
            args.target
        ),
    };
    let Some(kind) = Kind::parse(&kind) else {
        bail!("weir why follows Kustomizations (ks) and GitRepositories (gitrepo), not {kind:?}");
    };
    let key = ObjectKey::new(&args.namespace, &name);
    let gathered = runtime()?.block_on(async {
        let (client, counter) = counted_client(&args.cluster).await?;
        // Dependencies and sources may live in other namespaces: the Flux kinds are listed everywhere.
        gather(&client, &counter, None, LiveScope::Chain(&key), true)
            .await
            .context("reading the cluster")
    })?;
    let d = weir_diagnose::why(&gathered.snapshot, kind, &key);
    match args.output {
        Output::Table => {
            let mut out = std::io::stdout().lock();
            render(&mut out, &d, std::io::stdout().is_terminal())?;
            for n in &gathered.notes {
                writeln!(out, "note: {}", field(n))?;
            }
        }
        o => print_structured(
            &JsonOut {
                diagnosis: &d,
                requests: gathered.requests.total(),
                notes: &gathered.notes,
            },
            o,
        )?,
    }
    Ok(if d.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The chain, one line per step (indented by depth), then `fix: …` (or `ok`). Every string from the
/// cluster is escaped.
pub fn render(out: &mut impl Write, d: &Diagnosis, colour: bool) -> std::io::Result<()> {
    let last = d.steps.len().saturating_sub(1);
    for (i, s) in d.steps.iter().enumerate() {
        let indent = "  ".repeat(s.depth);
        let object = field(&s.object);
        let state = field(&s.state);
        let detail = s
            .detail
            .as_deref()
            .map(|t| format!(" — {}", field(t)))
            .unwrap_or_default();
        if colour && i == last && !d.ok {
            writeln!(out, "{indent}{}: {}{detail}", object.bold(), state.red())?;
        } else if colour {
            writeln!(out, "{indent}{}: {state}{detail}", object.bold())?;
        } else {
            writeln!(out, "{indent}{object}: {state}{detail}")?;
        }
    }
    match &d.cause {
        Some(c) => {
            let line = format!("fix ({}): {}", field(&c.code), field(&c.advice));
            if colour {
                writeln!(out, "{}", line.yellow())
            } else {
                writeln!(out, "{line}")
            }
        }
        None => writeln!(out, "ok: nothing is wrong with {}", field(&d.target)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_diagnose::{Cause, Step};

    #[test]
    fn chain_renders_one_line_per_step_and_escapes() {
        let d = Diagnosis {
            target: "Kustomization apps/frontend".into(),
            ok: false,
            steps: vec![
                Step::new(
                    0,
                    "Kustomization apps/frontend",
                    "waits for dependency Kustomization apps/backend",
                ),
                Step::new(
                    1,
                    "Kustomization apps/backend",
                    "not ready: an applied object is not healthy",
                ),
                Step::new(2, "Deployment apps/api", "0/1 replicas available"),
                Step::new(
                    3,
                    "Pod apps/api-1",
                    "container app waiting: ImagePullBackOff",
                )
                .with_detail("Back-off pulling image \"x\u{1b}[2J\""),
            ],
            cause: Some(Cause::new("image-pull", "check the image")),
        };
        let mut out = Vec::new();
        render(&mut out, &d, false).expect("render");
        insta::assert_snapshot!(String::from_utf8(out).expect("utf-8"), @r#"
        Kustomization apps/frontend: waits for dependency Kustomization apps/backend
          Kustomization apps/backend: not ready: an applied object is not healthy
            Deployment apps/api: 0/1 replicas available
              Pod apps/api-1: container app waiting: ImagePullBackOff — Back-off pulling image "x\u{1b}[2J"
        fix (image-pull): check the image
        "#);
    }
}
