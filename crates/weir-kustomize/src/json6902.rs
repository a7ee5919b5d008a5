//! json6902
