//! patch_meta
