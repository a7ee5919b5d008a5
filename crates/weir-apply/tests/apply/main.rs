//! weir-apply against a real control plane (testenv): apply, change, prune, drift, health, CRDs,
//! invalid input and interrupted runs; the steps a controller drives.

mod util;

mod scenarios;
mod steps;
