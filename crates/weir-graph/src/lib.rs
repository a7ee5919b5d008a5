//! weir-graph
