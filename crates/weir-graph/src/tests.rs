use super::*;
use proptest::prelude::*;

fn graph(edges: &[(&'static str, &[&'static str])]) -> DependencyGraph<&'static str> {
    let mut g = DependencyGraph::new();
    for (n, ds) in edges {
        g.add(*n, ds.iter().copied());
    }
    g
}

#[test]
fn orders_in_waves_after_dependencies() {
    let g = graph(&[
        ("apps", &["infra-configs"]),
        ("infra-configs", &["infra-controllers"]),
        ("infra-controllers", &[]),
        ("monitoring", &[]),
    ]);
    let o = g.order();
    assert_eq!(
        o.waves,
        vec![
            vec!["infra-controllers", "monitoring"],
            vec!["infra-configs"],
            vec!["apps"]
        ]
    );
    assert!(o.blocked.is_empty());
    assert!(g.cycles().is_empty());
    assert!(g.missing().is_empty());
}

#[test]
fn names_the_whole_cycle() {
    let g = graph(&[
        ("infra", &["db"]),
        ("apps", &["infra"]),
        ("db", &["apps"]),
        ("web", &["apps"]),
        ("ok", &[]),
    ]);
    let cycles = g.cycles();
    assert_eq!(cycles.len(), 1);
    assert_eq!(cycles[0].to_string(), "infra -> db -> apps -> infra");
    let o = g.order();
    assert_eq!(o.waves, vec![vec!["ok"]]);
    assert_eq!(o.blocked, vec!["infra", "apps", "db", "web"]);
}

#[test]
fn self_dependency_is_a_cycle() {
    let g = graph(&[("a", &["a"])]);
    assert_eq!(g.cycles()[0].to_string(), "a -> a");
    assert_eq!(g.order().blocked, vec!["a"]);
}

#[test]
fn shortest_chain_is_reported() {
    // a -> b -> c -> a exists, but a -> c -> a is shorter and is the one reported.
    let g = graph(&[("a", &["b", "c"]), ("b", &["c"]), ("c", &["a"])]);
    assert_eq!(g.cycles()[0].to_string(), "a -> c -> a");
}

#[test]
fn two_separate_cycles_are_both_reported() {
    let g = graph(&[("a", &["b"]), ("b", &["a"]), ("x", &["y"]), ("y", &["x"])]);
    let c: Vec<String> = g.cycles().iter().map(|c| c.to_string()).collect();
    assert_eq!(c, vec!["a -> b -> a", "x -> y -> x"]);
}

#[test]
fn missing_dependencies_block_their_dependants() {
    let g = graph(&[("apps", &["infra"]), ("web", &["apps"]), ("db", &[])]);
    assert_eq!(
        g.missing(),
        vec![MissingDependency {
            dependant: "apps",
            missing: "infra"
        }]
    );
    let o = g.order();
    assert_eq!(o.waves, vec![vec!["db"]]);
    assert_eq!(o.blocked, vec!["apps", "web"]);
}

#[test]
fn adding_twice_merges_dependencies() {
    let mut g = DependencyGraph::new();
    g.add("a", ["b"]);
    g.add("a", ["b", "c"]);
    assert_eq!(g.dependencies(&"a"), &["b", "c"]);
    assert_eq!(g.len(), 1);
    assert_eq!(g.dependants(&"b"), vec![&"a"]);
}

#[test]
fn deep_chain_does_not_overflow() {
    let mut g = DependencyGraph::new();
    for i in 0..200_000u32 {
        g.add(i, if i == 0 { vec![] } else { vec![i - 1] });
    }
    g.add(0, [199_999]);
    let c = g.cycles();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].0.len(), 200_001);
}

proptest! {
    #[test]
    fn order_respects_every_edge_and_cycles_are_real(
        n in 1usize..30,
        raw in proptest::collection::vec((0usize..30, 0usize..30), 0..80),
    ) {
        let mut g = DependencyGraph::new();
        for i in 0..n { g.add(i, []); }
        for (a, b) in raw { if a < n && b < n { g.add(a, [b]); } }
        let o = g.order();
        let pos: BTreeMap<usize, usize> = o.waves.iter().enumerate()
            .flat_map(|(w, ns)| ns.iter().map(move |&x| (x, w))).collect();
        prop_assert_eq!(pos.len() + o.blocked.len(), n);
        for (&x, &w) in &pos {
            for d in g.dependencies(&x) {
                prop_assert!(pos[d] < w, "{} in wave {} depends on {} in wave {}", x, w, d, pos[d]);
            }
        }
        let cycles = g.cycles();
        // Blocked nodes exist exactly when there is a cycle (no missing deps here).
        prop_assert_eq!(cycles.is_empty(), o.blocked.is_empty());
        for c in cycles {
            prop_assert!(c.0.len() >= 2);
            prop_assert_eq!(c.0.first(), c.0.last());
            for pair in c.0.windows(2) {
                prop_assert!(g.dependencies(&pair[0]).contains(&pair[1]));
            }
        }
    }
}
