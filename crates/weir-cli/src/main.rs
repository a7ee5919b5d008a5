//! The `weir` binary: argument parsing and presentation only; the work lives in library crates.

mod age_keys;
mod cmd;
mod duration;
mod escape;
mod size;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// weir: a GitOps engine for Kubernetes that reads Flux v2's custom resources.
#[derive(Parser)]
#[command(name = "weir", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render and verify a whole GitOps repository offline (exit 1 on findings).
    Check(cmd::check::Args),
    /// Build a Flux object as the controller would (`weir build ks NAME`).
    #[command(subcommand)]
    Build(cmd::build::Command),
    /// kustomize-compatible commands (`weir kustomize build DIR`).
    #[command(subcommand)]
    Kustomize(cmd::kustomize::Command),
    /// Fetch sources (`weir source git fetch URL`).
    #[command(subcommand)]
    Source(cmd::source::Command),
    /// Build a directory and apply it to the cluster with server-side apply.
    Apply(cmd::apply::Args),
    /// Run the controller: keep the cluster equal to its GitRepositories and Kustomizations.
    Controller(cmd::controller::Args),
    /// Install weir's CRDs, RBAC and Deployment (`--export` prints them).
    Install(cmd::install::Args),
    /// Show Flux objects with their state (`weir get ks -A`).
    Get(cmd::get::Args),
    /// Explain why an object is not deployed, down to the root cause (`weir why ks/apps`).
    Why(cmd::why::Args),
    /// Check the whole installation (exit 1 with findings).
    Doctor(cmd::doctor::Args),
    /// Ask for a reconcile now and wait for its outcome.
    Reconcile(cmd::reconcile::Args),
    /// Suspend reconciling an object.
    Suspend(cmd::reconcile::Args),
    /// Resume reconciling an object, and wait for its outcome.
    Resume(cmd::reconcile::Args),
    /// Push artifacts (`weir push artifact oci://HOST/REPOSITORY:TAG --path DIR`).
    #[command(subcommand)]
    Push(PushCommand),
    /// Tag artifacts (`weir tag artifact oci://HOST/REPOSITORY:TAG --tag NEW`).
    #[command(subcommand)]
    Tag(TagCommand),
    /// List artifacts (`weir list artifacts oci://HOST/REPOSITORY`).
    #[command(subcommand)]
    List(ListCommand),
}

#[derive(Subcommand)]
enum PushCommand {
    /// Pack a directory and push it as a Flux OCI artifact (the format `flux push artifact` writes).
    Artifact(cmd::oci::PushArgs),
}

#[derive(Subcommand)]
enum TagCommand {
    /// Add tags to an artifact's manifest.
    Artifact(cmd::oci::TagArgs),
}

#[derive(Subcommand)]
enum ListCommand {
    /// List a repository's artifacts with their source and revision annotations.
    Artifacts(cmd::oci::ListArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => cmd::check::run(args),
        Command::Build(c) => cmd::build::run(c),
        Command::Kustomize(c) => cmd::kustomize::run(c),
        Command::Source(c) => cmd::source::run(c),
        Command::Apply(args) => cmd::apply::run(args),
        Command::Controller(args) => cmd::controller::run(args),
        Command::Install(args) => cmd::install::run(args),
        Command::Get(args) => cmd::get::run(args),
        Command::Why(args) => cmd::why::run(args),
        Command::Doctor(args) => cmd::doctor::run(args),
        Command::Reconcile(args) => cmd::reconcile::run(cmd::reconcile::Verb::Reconcile, args),
        Command::Suspend(args) => cmd::reconcile::run(cmd::reconcile::Verb::Suspend, args),
        Command::Resume(args) => cmd::reconcile::run(cmd::reconcile::Verb::Resume, args),
        Command::Push(PushCommand::Artifact(args)) => cmd::oci::push(args),
        Command::Tag(TagCommand::Artifact(args)) => cmd::oci::tag(args),
        Command::List(ListCommand::Artifacts(args)) => cmd::oci::list(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            // The chain carries file names, repository content and server messages: escaped.
            eprintln!("error: {}", escape::text(&format!("{err:#}")));
            ExitCode::from(2)
        }
    }
}

/// `weir ... | head` must not print an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
