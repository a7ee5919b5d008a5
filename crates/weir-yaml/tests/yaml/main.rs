//! Behaviour tests for weir-yaml against kustomize's own output.

mod corpus;
mod props;
mod writer;
