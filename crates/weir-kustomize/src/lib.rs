//! weir's native kustomize engine (kustomize v5.5 semantics). Pure: reads through [`FileSystem`].
