//! weir-build's behaviour through its public API.

mod envsubst_oracle;
mod render;
