//! The dependency graph of Flux objects (`spec.dependsOn`).
//!
//! Pure logic, no I/O: nodes are added with the names of what they depend on, then the graph answers
//! which dependencies are missing, which nodes form cycles (each cycle as its full chain, so a message
//! can say `infra -> apps -> db -> infra`), and in which order the nodes can be applied.
//!
//! Flux finds a cycle only at run time, as a Kustomization that waits forever for a dependency that is
//! "not ready"; here every cycle is found up front.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::hash::Hash;

/// A directed graph where an edge `a -> b` means "a depends on b" (b must be applied first).
///
/// Nodes keep the order in which they were added; every answer is deterministic in that order.
#[derive(Debug, Clone)]
pub struct DependencyGraph<N> {
    nodes: Vec<N>,
    index: BTreeMap<N, usize>,
    /// Declared dependencies per node, in declaration order, duplicates removed.
    deps: Vec<Vec<N>>,
}

/// A dependency that names a node the graph does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingDependency<N> {
    pub dependant: N,
    pub missing: N,
}

/// A cycle, as the chain of nodes that starts and ends with the same node: `[a, b, c, a]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle<N>(pub Vec<N>);

impl<N: fmt::Display> fmt::Display for Cycle<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" -> ")?;
            }
            write!(f, "{n}")?;
        }
        Ok(())
    }
}

/// The result of ordering the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order<N> {
    /// Nodes in an order where each comes after all its dependencies, grouped in waves: every node of a
    /// wave depends only on nodes of earlier waves, so a wave can be applied concurrently.
    pub waves: Vec<Vec<N>>,
    /// Nodes that can never become ready: members of a cycle, nodes with a missing dependency, and
    /// everything that depends on those, transitively. In insertion order.
    pub blocked: Vec<N>,
}

impl<N> Order<N> {
    /// All orderable nodes, wave after wave.
    pub fn flatten(&self) -> impl Iterator<Item = &N> {
        self.waves.iter().flatten()
    }
}

impl<N: Clone + Ord + Hash> Default for DependencyGraph<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<N: Clone + Ord + Hash> DependencyGraph<N> {
    pub fn new() -> Self {
        Self {
            nodes: Vec::new(),
            index: BTreeMap::new(),
            deps: Vec::new(),
        }
    }

    /// Adds `node` with its dependencies. Adding a node twice merges the dependency lists.
    pub fn add(&mut self, node: N, depends_on: impl IntoIterator<Item = N>) {
        let i = match self.index.get(&node) {
            Some(&i) => i,
            None => {
                self.index.insert(node.clone(), self.nodes.len());
                self.nodes.push(node);
                self.deps.push(Vec::new());
                self.nodes.len() - 1
            }
        };
        for d in depends_on {
            if !self.deps[i].contains(&d) {
                self.deps[i].push(d);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn contains(&self, node: &N) -> bool {
        self.index.contains_key(node)
    }

    /// The declared dependencies of `node`, in declaration order.
    pub fn dependencies(&self, node: &N) -> &[N] {
        self.index.get(node).map_or(&[], |&i| &self.deps[i])
    }

    /// Nodes that depend directly on `node`, in insertion order.
    pub fn dependants(&self, node: &N) -> Vec<&N> {
        self.nodes
            .iter()
            .zip(&self.deps)
            .filter(|(_, ds)| ds.contains(node))
            .map(|(n, _)| n)
            .collect()
    }

    /// Every dependency naming a node that was never added, in insertion order.
    pub fn missing(&self) -> Vec<MissingDependency<N>> {
        let mut out = Vec::new();
        for (n, ds) in self.nodes.iter().zip(&self.deps) {
            for d in ds {
                if !self.index.contains_key(d) {
                    out.push(MissingDependency {
                        dependant: n.clone(),
                        missing: d.clone(),
                    });
                }
            }
        }
        out
    }

    /// Edges between known nodes, as indices.
    fn edges(&self) -> Vec<Vec<usize>> {
        self.deps
            .iter()
            .map(|ds| {
                ds.iter()
                    .filter_map(|d| self.index.get(d).copied())
                    .collect()
            })
            .collect()
    }

    /// One cycle per strongly connected component that has one (including a node that depends on
    /// itself). Each cycle starts at the component's earliest-added node and follows declared
    /// dependencies in declaration order, so the chain reads the way the files do.
    pub fn cycles(&self) -> Vec<Cycle<N>> {
        let edges = self.edges();
        let comps = strongly_connected(&edges);
        let mut out = Vec::new();
        for comp in comps {
            let is_cycle = comp.len() > 1 || comp.first().is_some_and(|&v| edges[v].contains(&v));
            if !is_cycle {
                continue;
            }
            let members: BTreeSet<usize> = comp.iter().copied().collect();
            let start = *members.iter().next().expect("a component is never empty");
            let path = shortest_cycle_from(start, &edges, &members);
            out.push(Cycle(
                path.into_iter().map(|i| self.nodes[i].clone()).collect(),
            ));
        }
        out.sort_by_key(|c| self.index[&c.0[0]]);
        out
    }

    /// Orders the graph in waves (Kahn's algorithm, insertion order within a wave). Nodes that can
    /// never be applied (cycles, missing dependencies and their dependants) are listed as blocked.
    pub fn order(&self) -> Order<N> {
        let n = self.nodes.len();
        let edges = self.edges();
        let mut blocked = vec![false; n];
        for (i, ds) in self.deps.iter().enumerate() {
            if ds.iter().any(|d| !self.index.contains_key(d)) {
                blocked[i] = true;
            }
        }
        let mut remaining: Vec<usize> = vec![0; n];
        let mut dependants: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, es) in edges.iter().enumerate() {
            remaining[i] = es.len();
            for &d in es {
                dependants[d].push(i);
            }
        }
        let mut waves = Vec::new();
        let mut done = vec![false; n];
        let mut current: Vec<usize> = (0..n)
            .filter(|&i| remaining[i] == 0 && !blocked[i])
            .collect();
        while !current.is_empty() {
            let mut next = Vec::new();
            for &i in &current {
                done[i] = true;
                for &j in &dependants[i] {
                    remaining[j] -= 1;
                    if remaining[j] == 0 && !blocked[j] {
                        next.push(j);
                    }
                }
            }
            next.sort_unstable();
            next.dedup();
            waves.push(current.iter().map(|&i| self.nodes[i].clone()).collect());
            current = next;
        }
        let blocked = (0..n)
            .filter(|&i| !done[i])
            .map(|i| self.nodes[i].clone())
            .collect();
        Order { waves, blocked }
    }
}

/// Tarjan's algorithm, iterative so that deep chains cannot overflow the stack.
fn strongly_connected(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let n = edges.len();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut comps = Vec::new();
    let mut next_index = 0;
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        // (node, next edge position)
        let mut work = vec![(root, 0usize)];
        while let Some(&mut (v, ref mut pos)) = work.last_mut() {
            if *pos == 0 && index[v] == UNSEEN {
                index[v] = next_index;
                low[v] = next_index;
                next_index += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = edges[v].get(*pos) {
                *pos += 1;
                if index[w] == UNSEEN {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut comp = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                comp.sort_unstable();
                comps.push(comp);
            }
        }
    }
    comps
}

/// The shortest path `start -> ... -> start` inside one component (breadth-first, edges in
/// declaration order), so the reported chain has no detours.
fn shortest_cycle_from(
    start: usize,
    edges: &[Vec<usize>],
    members: &BTreeSet<usize>,
) -> Vec<usize> {
    let mut parent: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in &edges[v] {
            if !members.contains(&w) {
                continue;
            }
            if w == start {
                // Walk the parents back from `v` to `start`, then read the chain forwards.
                let mut back = vec![v];
                while let Some(&p) = parent.get(back.last().expect("never empty")) {
                    back.push(p);
                }
                if back.last() != Some(&start) {
                    back.push(start);
                }
                back.reverse();
                back.push(start);
                return back;
            }
            if let std::collections::btree_map::Entry::Vacant(e) = parent.entry(w) {
                e.insert(v);
                queue.push_back(w);
            }
        }
    }
    // Unreachable for a real component; still answer with its members rather than panic.
    let mut all: Vec<usize> = members.iter().copied().collect();
    all.push(start);
    all
}

#[cfg(test)]
mod tests;
