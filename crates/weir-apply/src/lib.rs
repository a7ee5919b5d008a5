//! weir-apply
