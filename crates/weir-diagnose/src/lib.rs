//! weir-diagnose: why a Flux object is not deployed, from a snapshot of listed objects. Pure logic,
//! no I/O: the caller lists the objects (a fixed number of LIST requests per kind) into a
//! [`Snapshot`]; [`why()`] walks from one object to the first thing actually wrong, [`doctor()`]
//! reports on the whole installation, and [`summary`] gives the rows of `weir get`.
//!
//! Only the Flux-compatible status is read (conditions, revisions, inventory), so every answer holds on
//! a cluster run by Flux's controllers as well as by weir's.
//!
//! ```
//! use weir_diagnose::{Kind, Snapshot, why};
//! let snap = Snapshot::default();
//! let d = why(&snap, Kind::Kustomization, &weir_api::ObjectKey::new("flux-system", "apps"));
//! assert_eq!(d.cause.unwrap().code, "not-found");
//! ```

pub mod chain;
pub mod doctor;
pub mod live;
pub mod snapshot;
pub mod source;
pub mod stale;
pub mod summary;
pub mod why;

pub use chain::{Cause, Diagnosis, Step};
pub use doctor::{Finding, Report, Severity, doctor};
pub use snapshot::{Live, Snapshot};
pub use why::{Ctx, Kind, why, why_in};

#[cfg(test)]
mod tests;
