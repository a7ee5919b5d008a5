//! weir-apply: applies a set of manifests to a cluster the way a Flux Kustomization does, only
//! cheaper. Server-side apply with field manager `weir`, staged (CRDs and Namespaces first), an
//! inventory in the cluster for pruning, writes only for objects that changed, health checks by
//! kstatus rules, and every API request counted.
//!
//! ```no_run
//! # async fn run(manifests: Vec<serde_json::Value>) -> Result<(), weir_apply::Error> {
//! let applier = weir_apply::Applier::from_kubeconfig(None, None).await?;
//! let mut opts = weir_apply::Options::new("apps", "flux-system");
//! opts.prune = true;
//! let outcome = applier.apply(manifests, &opts).await?;
//! println!("{} requests", outcome.requests.total());
//! # Ok(()) }
//! ```

mod apply;
mod cluster;
pub mod diff;
mod error;
pub mod health;
pub mod inventory;
pub mod labels;
pub mod object;
pub mod requests;
pub mod resolve;
pub mod staging;
mod wait;

pub use apply::{Action, Applier, Change, Options, Outcome};
pub use cluster::{ApiError, CallError};
pub use error::{Error, Rejection, RequestError, Step, UnknownKind};
pub use health::Health;
pub use object::ObjectRef;
pub use requests::RequestStats;
