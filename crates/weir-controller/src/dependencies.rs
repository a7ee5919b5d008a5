//! The dependency graph of every Kustomization the controller sees, rebuilt from the watch cache
//! when a `dependsOn` changes: cycles with their whole chain, missing dependencies, dependants.

use std::collections::{BTreeMap, BTreeSet};

use weir_api::ObjectKey;
use weir_api::flux::KustomizationObject;
use weir_graph::DependencyGraph;

/// The `dependsOn` edges of one Kustomization, namespaces filled in.
pub fn dependencies_of(ks: &KustomizationObject) -> Vec<ObjectKey> {
    let ns = ks.metadata.namespace.clone().unwrap_or_default();
    ks.spec
        .depends_on
        .iter()
        .map(|d| ObjectKey::new(d.namespace.clone().unwrap_or_else(|| ns.clone()), &d.name))
        .collect()
}

/// What the graph says about every Kustomization.
#[derive(Debug, Default, Clone)]
pub struct DependencyView {
    /// Members of a cycle, with the cycle's chain (`a -> b -> a`).
    cycles: BTreeMap<ObjectKey, String>,
    /// Dependencies that name no Kustomization, per dependant.
    missing: BTreeMap<ObjectKey, Vec<ObjectKey>>,
    /// Direct dependants of each Kustomization.
    dependants: BTreeMap<ObjectKey, Vec<ObjectKey>>,
    /// Every Kustomization with its dependencies (to notice a change).
    edges: BTreeMap<ObjectKey, Vec<ObjectKey>>,
}

impl DependencyView {
    /// Builds the view of `edges` (each Kustomization with its dependencies).
    pub fn new(edges: BTreeMap<ObjectKey, Vec<ObjectKey>>) -> Self {
        let mut graph = DependencyGraph::new();
        for (k, deps) in &edges {
            graph.add(k.clone(), deps.iter().cloned());
        }
        let mut cycles = BTreeMap::new();
        for cycle in graph.cycles() {
            let chain = cycle.to_string();
            let members: BTreeSet<&ObjectKey> = cycle.0.iter().collect();
            for m in members {
                cycles.entry(m.clone()).or_insert_with(|| chain.clone());
            }
        }
        let mut missing: BTreeMap<ObjectKey, Vec<ObjectKey>> = BTreeMap::new();
        for m in graph.missing() {
            missing.entry(m.dependant).or_default().push(m.missing);
        }
        let mut dependants: BTreeMap<ObjectKey, Vec<ObjectKey>> = BTreeMap::new();
        for (k, deps) in &edges {
            for d in deps {
                dependants.entry(d.clone()).or_default().push(k.clone());
            }
        }
        DependencyView {
            cycles,
            missing,
            dependants,
            edges,
        }
    }

    /// True when `edges` differ from the ones this view was built from.
    pub fn is_stale(&self, edges: &BTreeMap<ObjectKey, Vec<ObjectKey>>) -> bool {
        &self.edges != edges
    }

    /// The chain of the cycle `key` is part of.
    pub fn cycle_of(&self, key: &ObjectKey) -> Option<&str> {
        self.cycles.get(key).map(String::as_str)
    }

    /// The dependencies of `key` that do not exist.
    pub fn missing_of(&self, key: &ObjectKey) -> &[ObjectKey] {
        self.missing.get(key).map_or(&[], Vec::as_slice)
    }

    /// Kustomizations that depend directly on `key`.
    pub fn dependants_of(&self, key: &ObjectKey) -> &[ObjectKey] {
        self.dependants.get(key).map_or(&[], Vec::as_slice)
    }

    /// Every Kustomization in a cycle or with a missing dependency (re-examined when the graph changes).
    pub fn blocked(&self) -> impl Iterator<Item = &ObjectKey> {
        self.cycles.keys().chain(self.missing.keys())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(n: &str) -> ObjectKey {
        ObjectKey::new("ns", n)
    }

    #[test]
    fn cycles_missing_and_dependants() {
        let mut edges = BTreeMap::new();
        edges.insert(k("a"), vec![k("b")]);
        edges.insert(k("b"), vec![k("c")]);
        edges.insert(k("c"), vec![k("a")]);
        edges.insert(k("d"), vec![k("a"), k("ghost")]);
        edges.insert(k("e"), vec![]);
        let view = DependencyView::new(edges.clone());
        let chain = view.cycle_of(&k("b")).unwrap();
        assert!(chain.contains("ns/a") && chain.contains("ns/b") && chain.contains("ns/c"));
        assert_eq!(chain.matches(" -> ").count(), 3, "{chain}");
        assert!(view.cycle_of(&k("d")).is_none());
        assert_eq!(view.missing_of(&k("d")), &[k("ghost")]);
        assert_eq!(view.dependants_of(&k("a")), &[k("c"), k("d")]);
        assert!(!view.is_stale(&edges));
        edges.insert(k("c"), vec![]);
        assert!(view.is_stale(&edges));
        let fixed = DependencyView::new(edges);
        assert!(fixed.cycle_of(&k("a")).is_none());
    }
}
