//! Flux-compatible resource types and the identifiers weir shares across crates. No I/O.
//!
//! The types read the same documents as Flux v2's CRDs (`source.toolkit.fluxcd.io/v1`,
//! `kustomize.toolkit.fluxcd.io/v1`, `helm.toolkit.fluxcd.io/v2`, ...). Unknown fields are kept out of
//! the way (serde ignores them), so newer Flux fields never make a document unreadable.

pub mod condition;
pub mod duration;
pub mod flux;
pub mod id;
pub mod object;
pub mod object_ref;
pub mod schema;
pub mod suggest;

pub use duration::Duration;
pub use id::{Digest, InventoryId, ObjectKey, Revision};
pub use object::ObjectMeta;
pub use object_ref::ObjectRef;
