//! weir-apply against a real control plane (testenv): apply, change, prune, drift, health, CRDs,
//! invalid input and interrupted runs.

mod util;

mod scenarios;
