//! `weir reconcile|suspend|resume ks|gitrepo NAME`: the annotations and fields Flux's CLI writes
//! (`reconcile.fluxcd.io/requestedAt`, `spec.suspend`); `reconcile` and `resume` wait until the
//! object has handled the request (`status.lastHandledReconcileAt`) and print the outcome.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};
use weir_diagnose::Kind;

use super::snapshot::{ClusterArgs, runtime};
use crate::escape::field;

/// What to do.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Reconcile,
    Suspend,
    Resume,
}

/// Act on a Kustomization or GitRepository.
///
/// Example: `weir reconcile ks apps -n flux-system --with-source`
#[derive(clap::Args)]
pub struct Args {
    /// `ks` or `gitrepo`.
    kind: String,
    /// The object's name.
    name: String,
    /// Namespace.
    #[arg(short = 'n', long, default_value = "flux-system")]
    namespace: String,
    /// Reconcile the Kustomization's source first (reconcile only).
    #[arg(long)]
    with_source: bool,
    /// How long to wait for the object to handle the request.
    #[arg(long, default_value = "5m", value_parser = crate::duration::parse)]
    timeout: Duration,
    #[command(flatten)]
    cluster: ClusterArgs,
}

fn resource(kind: Kind) -> ApiResource {
    let gvk = match kind {
        Kind::Kustomization => {
            GroupVersionKind::gvk(weir_api::flux::KUSTOMIZE_GROUP, "v1", "Kustomization")
        }
        Kind::GitRepository => {
            GroupVersionKind::gvk(weir_api::flux::SOURCE_GROUP, "v1", "GitRepository")
        }
    };
    ApiResource::from_gvk(&gvk)
}

pub fn run(verb: Verb, args: Args) -> anyhow::Result<ExitCode> {
    let Some(kind) = Kind::parse(&args.kind) else {
        bail!("expected ks or gitrepo, not {:?}", args.kind);
    };
    runtime()?.block_on(async {
        let config = super::kube_config(
            args.cluster.kubeconfig.as_deref(),
            args.cluster.context.as_deref(),
        )
        .await?;
        let client = kube::Client::try_from(config).context("building the Kubernetes client")?;
        let api = |k: Kind, ns: &str| {
            Api::<DynamicObject>::namespaced_with(client.clone(), ns, &resource(k))
        };
        let label = format!("{} {}/{}", kind.as_str(), args.namespace, args.name);
        let obj = api(kind, &args.namespace)
            .get_opt(&args.name)
            .await
            .with_context(|| format!("reading {label}"))?
            .with_context(|| format!("{label} not found"))?;
        let suspended =
            |o: &DynamicObject| o.data.pointer("/spec/suspend") == Some(&Value::Bool(true));
        match verb {
            Verb::Suspend => {
                patch(
                    &api(kind, &args.namespace),
                    &args.name,
                    json!({"spec": {"suspend": true}}),
                )
                .await?;
                println!("{} suspended", field(&label));
                return Ok(ExitCode::SUCCESS);
            }
            Verb::Resume => {
                patch(
                    &api(kind, &args.namespace),
                    &args.name,
                    json!({"spec": {"suspend": false}}),
                )
                .await?;
                println!("{} resumed", field(&label));
            }
            Verb::Reconcile if suspended(&obj) => {
                bail!("{label} is suspended: `weir resume` it first");
            }
            Verb::Reconcile => {}
        }
        if verb == Verb::Reconcile && args.with_source && kind == Kind::Kustomization {
            let src = obj
                .data
                .pointer("/spec/sourceRef")
                .cloned()
                .unwrap_or(Value::Null);
            let src_kind = src.get("kind").and_then(Value::as_str).unwrap_or("");
            let src_name = src.get("name").and_then(Value::as_str).unwrap_or("");
            let src_ns = src
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or(&args.namespace);
            if src_kind != "GitRepository" {
                bail!("--with-source follows GitRepository sources, not {src_kind:?}");
            }
            let src_label = format!("GitRepository {src_ns}/{src_name}");
            let outcome =
                request_and_wait(&api(Kind::GitRepository, src_ns), src_name, args.timeout)
                    .await
                    .with_context(|| format!("reconciling {src_label}"))?;
            println!("{}: {}", field(&src_label), field(&outcome.1));
        }
        let (ready, message) =
            request_and_wait(&api(kind, &args.namespace), &args.name, args.timeout)
                .await
                .with_context(|| format!("reconciling {label}"))?;
        println!("{}: {}", field(&label), field(&message));
        Ok(if ready {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}

async fn patch(api: &Api<DynamicObject>, name: &str, body: Value) -> anyhow::Result<()> {
    api.patch(name, &PatchParams::default(), &Patch::Merge(&body))
        .await
        .with_context(|| format!("patching {name}"))?;
    Ok(())
}

/// Writes `requestedAt` and waits until `status.lastHandledReconcileAt` equals it; then the Ready
/// condition's status and message.
async fn request_and_wait(
    api: &Api<DynamicObject>,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<(bool, String)> {
    let token = k8s_openapi::jiff::Timestamp::now().to_string();
    patch(
        api,
        name,
        json!({"metadata": {"annotations": {weir_diagnose::stale::REQUESTED_AT: token}}}),
    )
    .await?;
    let start = Instant::now();
    loop {
        let o = api
            .get(name)
            .await
            .with_context(|| format!("reading {name}"))?;
        let handled = o
            .data
            .pointer("/status/lastHandledReconcileAt")
            .and_then(Value::as_str);
        if handled == Some(token.as_str()) {
            let ready = o
                .data
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
            let status = ready
                .and_then(|c| c["status"].as_str())
                .unwrap_or("Unknown");
            let reason = ready.and_then(|c| c["reason"].as_str()).unwrap_or("");
            let message = ready.and_then(|c| c["message"].as_str()).unwrap_or("");
            return Ok((
                status == "True",
                format!(
                    "Ready={status} {reason}: {}",
                    message.lines().next().unwrap_or("")
                ),
            ));
        }
        if start.elapsed() > timeout {
            bail!(
                "the request {token} was not handled within {}s (is a controller running? `weir why` may say)",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
