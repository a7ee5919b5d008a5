//! weir-apply: applies a set of manifests to a cluster the way a Flux Kustomization does, only
//! cheaper, in steps the caller drives: [`Applier::plan`] (what is created, configured, unchanged,
//! stale; a server-side dry-run only where needed), [`Applier::apply`] (server-side apply with field
//! manager `weir`, staged, taking over fields from Flux's `kustomize-controller`; returns before
//! health), [`Applier::prune`] and [`health::evaluate`] (kstatus rules, one live object at a time).
//! The [`Inventory`] is a value the caller loads and stores; every step counts its own requests.
//!
//! ```no_run
//! # async fn run(client: kube::Client, manifests: Vec<serde_json::Value>) -> Result<(), weir_apply::Error> {
//! use weir_apply::{Applier, Inventory, NoLiveObjects, Options};
//! let applier = Applier::new(client);
//! let opts = Options::new("apps", "flux-system");
//! let previous = Inventory::default(); // e.g. from the Kustomization's status.inventory
//! let plan = applier.plan(manifests, &previous, &NoLiveObjects, &opts).await?;
//! let applied = applier.apply(&plan, &opts).await?;
//! let pruned = applier.prune(&plan.stale, &opts).await?;
//! println!("{} requests", (plan.requests + applied.requests + pruned.requests).total());
//! let _record = applied.inventory; // store it
//! # Ok(()) }
//! ```

mod apply;
mod cluster;
pub mod diff;
mod error;
pub mod health;
pub mod inventory;
mod kubeconfig;
pub mod labels;
mod plan;
pub mod requests;
pub mod resolve;
pub mod staging;
pub mod takeover;
mod wait;

pub use apply::{
    Action, Applier, ApplyOutcome, Change, Deletion, FLUX_FIELD_MANAGER, Options, Outcome,
    PruneOutcome,
};
pub use cluster::{ApiError, CallError};
pub use error::{Error, Rejection, RequestError, Step, UnknownKind};
pub use health::HealthStatus;
pub use inventory::{ConfigMapStore, Inventory};
pub use kubeconfig::{client, config};
pub use plan::{LiveObjects, NoLiveObjects, Plan, PlannedAction, PlannedObject};
pub use requests::RequestStats;
pub use weir_api::{InventoryId, ObjectRef};

/// The steps run on any tokio task: their futures are `Send` (checked at compile time).
#[cfg(test)]
#[allow(dead_code)]
fn steps_are_send(a: &Applier, plan: &Plan, opts: &Options, stale: &[ObjectRef]) {
    fn send<T: Send>(_: T) {}
    send(a.plan(Vec::new(), &Inventory::default(), &NoLiveObjects, opts));
    send(a.apply(plan, opts));
    send(a.prune(stale, opts));
    send(a.wait(stale, std::time::Duration::ZERO, 1));
    send(a.run(Vec::new(), opts));
}
