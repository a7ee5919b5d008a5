//! The order objects are applied in: definitions other objects depend on go first.
//!
//! As Flux's kustomize-controller does: CustomResourceDefinitions and Namespaces first (and CRDs must
//! be Established before any custom resource is applied), then "class" kinds (StorageClass,
//! IngressClass, PriorityClass, ...) that other objects name, then everything else.

/// An apply stage; stages run in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// CustomResourceDefinitions and Namespaces.
    Definitions,
    /// Kinds named `*Class` that other objects refer to.
    Classes,
    /// Everything else.
    Workloads,
}

/// The stage of an object of `kind` in API `group`.
pub fn stage_of(group: &str, kind: &str) -> Stage {
    match (group, kind) {
        ("apiextensions.k8s.io", "CustomResourceDefinition") | ("", "Namespace") => {
            Stage::Definitions
        }
        (_, k) if k.ends_with("Class") && k.len() > "Class".len() => Stage::Classes,
        _ => Stage::Workloads,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_come_before_classes_before_workloads() {
        assert_eq!(
            stage_of("apiextensions.k8s.io", "CustomResourceDefinition"),
            Stage::Definitions
        );
        assert_eq!(stage_of("", "Namespace"), Stage::Definitions);
        assert_eq!(stage_of("storage.k8s.io", "StorageClass"), Stage::Classes);
        assert_eq!(stage_of("apps", "Deployment"), Stage::Workloads);
        // A custom kind called Namespace in another group is an ordinary object.
        assert_eq!(stage_of("example.com", "Namespace"), Stage::Workloads);
        assert!(Stage::Definitions < Stage::Classes && Stage::Classes < Stage::Workloads);
    }
}
