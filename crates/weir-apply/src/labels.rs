//! Labels and annotations weir shares with Flux (DESIGN §3).

/// Owner label: the name of the apply (Flux: the Kustomization's name).
pub const OWNER_NAME: &str = "kustomize.toolkit.fluxcd.io/name";
/// Owner label: the namespace of the apply (Flux: the Kustomization's namespace).
pub const OWNER_NAMESPACE: &str = "kustomize.toolkit.fluxcd.io/namespace";
/// Annotation that keeps an object when it leaves the set (`disabled`).
pub const PRUNE: &str = "kustomize.toolkit.fluxcd.io/prune";
/// The value of [`PRUNE`] that keeps an object.
pub const PRUNE_DISABLED: &str = "disabled";
/// Annotation asking for recreation when an immutable field changes (`enabled`), as `--force` does.
pub const FORCE: &str = "kustomize.toolkit.fluxcd.io/force";
