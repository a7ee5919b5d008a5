//! The steps a controller drives (plan, apply, prune, health), each counting its own requests; the
//! shared discovery cache; the zero-request unchanged path; taking fields over from Flux.

use std::collections::HashMap;

use serde_json::{Value, json};
use weir_apply::health::evaluate;
use weir_apply::{
    Action, Error, HealthStatus, Inventory, InventoryId, NoLiveObjects, ObjectRef, PlannedAction,
};

use crate::util::*;

fn planned(plan: &weir_apply::Plan) -> Vec<(String, PlannedAction)> {
    plan.objects
        .iter()
        .map(|o| (o.object.name.clone(), o.action.clone()))
        .collect()
}

/// The live objects of the set as a watch cache would hold them (managedFields stripped).
fn live_cache(ns: &str, names: &[&str]) -> HashMap<InventoryId, Value> {
    names
        .iter()
        .map(|n| {
            let mut cm = get("configmap", ns, n).expect("live object");
            cm["metadata"]
                .as_object_mut()
                .expect("metadata")
                .remove("managedFields");
            let r = ObjectRef::from_manifest(0, &cm).expect("identity");
            (r.inventory_id(), cm)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_apply_prune_are_separate_steps_each_counting_its_own_requests() {
    let ns = namespace("steps");
    let applier = applier().await;
    let opts = options("steps", &ns);
    let set = vec![
        config_map("a", json!({"k": "1"})),
        config_map("b", json!({"k": "1"})),
    ];

    let plan = applier
        .plan(set.clone(), &Inventory::default(), &NoLiveObjects, &opts)
        .await
        .expect("plan");
    assert_eq!(
        planned(&plan),
        vec![
            ("a".to_string(), PlannedAction::Create),
            ("b".to_string(), PlannedAction::Create)
        ]
    );
    // Discovery of v1, one LIST, two dry-runs; nothing written and nothing exists yet.
    assert_eq!(plan.requests.writes, 0, "{:?}", plan.requests);
    assert_eq!(plan.requests.dry_runs, 2, "{:?}", plan.requests);
    assert_eq!(plan.requests.reads, 2, "{:?}", plan.requests);
    assert!(get("configmap", &ns, "a").is_none());
    let pending = plan
        .pending_inventory(&Inventory::default())
        .expect("new objects must be recorded before the write");
    assert!(pending.entries.values().all(|e| e.digest.is_none()));

    let applied = applier.apply(&plan, &opts).await.expect("apply");
    assert_eq!(applied.requests.total(), 2, "{:?}", applied.requests);
    assert_eq!(applied.requests.writes, 2);
    let ids: Vec<String> = applied.changes.iter().map(|c| c.id.to_string()).collect();
    assert_eq!(
        ids,
        vec![format!("{ns}_a__ConfigMap"), format!("{ns}_b__ConfigMap")]
    );
    assert!(applied.changes.iter().all(|c| c.action == Action::Created));
    assert_eq!(applied.inventory, plan.inventory());
    assert!(get("configmap", &ns, "b").is_some());

    // Same set, previous inventory: one LIST, discovery served from the cache, nothing else.
    let cached = applier.discovery().cached().await;
    let again = applier
        .plan(set.clone(), &applied.inventory, &NoLiveObjects, &opts)
        .await
        .expect("plan again");
    assert!(!again.has_changes(), "{:?}", planned(&again));
    assert_eq!(again.requests.total(), 1, "{:?}", again.requests);
    assert_eq!(applier.discovery().cached().await, cached);

    // Two plans at once on clones of the applier: each counts only its own requests.
    let other = applier.clone();
    let (x, y) = tokio::join!(
        applier.plan(set.clone(), &applied.inventory, &NoLiveObjects, &opts),
        other.plan(set.clone(), &applied.inventory, &NoLiveObjects, &opts)
    );
    assert_eq!(x.expect("x").requests.total(), 1);
    assert_eq!(y.expect("y").requests.total(), 1);

    // "b" leaves the set: it is stale, and prune deletes it (one GET, one DELETE).
    let smaller = applier
        .plan(set[..1].to_vec(), &applied.inventory, &NoLiveObjects, &opts)
        .await
        .expect("plan smaller");
    assert_eq!(
        smaller
            .stale
            .iter()
            .map(|o| o.name.as_str())
            .collect::<Vec<_>>(),
        vec!["b"]
    );
    let mut prune_opts = opts.clone();
    prune_opts.prune = true;
    let pruned = applier
        .prune(&smaller.stale, &prune_opts)
        .await
        .expect("prune");
    assert_eq!(pruned.changes.len(), 1);
    assert_eq!(pruned.changes[0].action, Action::Pruned);
    assert_eq!(pruned.requests.reads, 1, "{:?}", pruned.requests);
    assert_eq!(pruned.requests.writes, 1, "{:?}", pruned.requests);
    assert!(get("configmap", &ns, "b").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unchanged_set_with_live_objects_from_a_cache_makes_no_request() {
    let ns = namespace("cheap");
    let applier = applier().await;
    let opts = options("cheap", &ns);
    let set = vec![
        config_map("a", json!({"k": "1"})),
        config_map("b", json!({"k": "2"})),
    ];
    let plan = applier
        .plan(set.clone(), &Inventory::default(), &NoLiveObjects, &opts)
        .await
        .expect("plan");
    let applied = applier.apply(&plan, &opts).await.expect("apply");

    let cache = live_cache(&ns, &["a", "b"]);
    let plan = applier
        .plan(set.clone(), &applied.inventory, &cache, &opts)
        .await
        .expect("plan from cache");
    assert_eq!(plan.requests.total(), 0, "{:?}", plan.requests);
    assert!(!plan.has_changes());
    let out = applier.apply(&plan, &opts).await.expect("apply nothing");
    assert_eq!(out.requests.total(), 0, "{:?}", out.requests);
    assert!(out.changes.iter().all(|c| c.action == Action::Unchanged));

    // Drift seen in the cache: that object alone is dry-run, then configured.
    let mut drifted = cache.clone();
    let a_id: InventoryId = format!("{ns}_a__ConfigMap").parse().expect("id");
    drifted.get_mut(&a_id).expect("a")["data"]["k"] = json!("edited");
    let plan = applier
        .plan(set.clone(), &applied.inventory, &drifted, &opts)
        .await
        .expect("plan with drift");
    assert_eq!(plan.requests.dry_runs, 1, "{:?}", plan.requests);
    assert_eq!(plan.requests.writes, 0);
    assert!(matches!(
        plan.objects[0].action,
        PlannedAction::Configure(_)
    ));
    assert_eq!(plan.objects[1].action, PlannedAction::Unchanged);

    // Without a recorded digest (e.g. an inventory taken from Flux), the server decides.
    let plan = applier
        .plan(set, &applied.inventory.without_digests(), &cache, &opts)
        .await
        .expect("plan without digests");
    assert_eq!(plan.requests.dry_runs, 2, "{:?}", plan.requests);
    assert!(!plan.has_changes());
}

/// A cache that knows the set's objects do not exist yet (a synced watch that never saw them).
struct NothingLive;

impl weir_apply::LiveObjects for NothingLive {
    fn live(&self, _: &ObjectRef) -> Option<Value> {
        None
    }
    fn is_absent(&self, _: &ObjectRef) -> bool {
        true
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_a_cache_knows_absent_are_not_listed_and_unlabelled_ones_are_still_found() {
    let ns = namespace("absent");
    let applier = applier().await;
    let opts = options("absent", &ns);
    // Warm discovery so the counts below are the plan's own reads.
    applier
        .plan(
            vec![config_map("warm", json!({}))],
            &Inventory::default(),
            &NoLiveObjects,
            &opts,
        )
        .await
        .expect("warm-up plan");
    // `taken` exists without owner labels: the cache (filtered by owner label) cannot know it.
    kubectl(&[
        "create",
        "configmap",
        "taken",
        "-n",
        &ns,
        "--from-literal=k=old",
    ]);
    let set = vec![
        config_map("fresh", json!({"k": "1"})),
        config_map("taken", json!({"k": "new"})),
    ];
    let plan = applier
        .plan(set, &Inventory::default(), &NothingLive, &opts)
        .await
        .expect("plan");
    // No LIST; the dry-run of `taken` finds it exists, and one GET reads it for the diff.
    assert_eq!(plan.requests.reads, 1, "{:?}", plan.requests);
    assert_eq!(plan.requests.dry_runs, 2, "{:?}", plan.requests);
    assert_eq!(plan.objects[0].action, PlannedAction::Create);
    assert!(
        matches!(plan.objects[1].action, PlannedAction::Configure(_)),
        "{:?}",
        plan.objects[1].action
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kind_missing_from_the_discovery_cache_is_looked_up_again() {
    let ns = namespace("later");
    let applier = applier().await;
    let opts = options("later", &ns);
    let group = format!("later{}.weir.dev", std::process::id());
    let gadget = json!({"apiVersion": format!("{group}/v1"), "kind": "Gadget",
        "metadata": {"name": "g1"}, "spec": {"size": 1}});
    // Prime the cache with this group version's (empty) answer and core v1.
    let err = applier
        .plan(
            vec![gadget.clone(), config_map("c", json!({}))],
            &Inventory::default(),
            &NoLiveObjects,
            &opts,
        )
        .await
        .expect_err("no such kind yet");
    assert!(matches!(err, Error::UnknownKinds { .. }), "{err}");

    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("gadgets.{group}")},
        "spec": {"group": group, "scope": "Namespaced",
            "names": {"kind": "Gadget", "plural": "gadgets", "singular": "gadget", "listKind": "GadgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    });
    let file = std::env::temp_dir().join(format!("weir-crd-{group}.json"));
    std::fs::write(&file, crd.to_string()).expect("write CRD");
    kubectl(&["apply", "-f", file.to_str().expect("utf-8 path")]);
    kubectl(&[
        "wait",
        "--for=condition=Established",
        &format!("crd/gadgets.{group}"),
        "--timeout=60s",
    ]);
    let plan = applier
        .plan(vec![gadget], &Inventory::default(), &NoLiveObjects, &opts)
        .await
        .expect("the CRD created since is found");
    assert_eq!(plan.objects[0].action, PlannedAction::Create);
}

#[tokio::test(flavor = "multi_thread")]
async fn fields_applied_by_kustomize_controller_are_taken_over_and_removed_when_dropped() {
    // With managedFields read by the plan, with a watch cache that strips them, and the control.
    for (take_over, from_cache) in [(true, false), (true, true), (false, false)] {
        let ns = namespace("takeover");
        let applier = applier().await;
        let mut opts = options("apps", &ns);
        if !take_over {
            opts.take_over.clear();
        }
        // What Flux applied: its owner labels, field manager kustomize-controller.
        let flux = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": ns, "labels": {
                "kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": ns}},
            "data": {"keep": "1", "drop": "2"}});
        let file = std::env::temp_dir().join(format!("weir-takeover-{ns}.json"));
        std::fs::write(&file, flux.to_string()).expect("write manifest");
        kubectl(&[
            "apply",
            "--server-side",
            "--field-manager=kustomize-controller",
            "-f",
            file.to_str().expect("utf-8 path"),
        ]);
        // Flux's inventory: ids and versions, no digests.
        let mut previous = Inventory::default();
        previous.insert(&ObjectRef::from_manifest(0, &flux).expect("identity"), None);

        // Git now lacks "drop".
        let set = vec![config_map("settings", json!({"keep": "1"}))];
        let plan = if from_cache {
            let cache = live_cache(&ns, &["settings"]);
            applier.plan(set.clone(), &previous, &cache, &opts).await
        } else {
            applier
                .plan(set.clone(), &previous, &NoLiveObjects, &opts)
                .await
        }
        .expect("plan");
        assert_eq!(plan.objects[0].take_over, take_over);
        applier.apply(&plan, &opts).await.expect("apply");
        let live = get("configmap", &ns, "settings").expect("still there");
        let managers: Vec<&str> = live["metadata"]["managedFields"]
            .as_array()
            .expect("managedFields")
            .iter()
            .filter_map(|m| m["manager"].as_str())
            .collect();
        if take_over {
            assert_eq!(live["data"], json!({"keep": "1"}), "{live}");
            assert_eq!(managers, vec!["weir"], "{live}");
            // Nothing left to take over: the next plan is unchanged and writes nothing.
            let plan = applier
                .plan(set, &plan.inventory(), &NoLiveObjects, &opts)
                .await
                .expect("plan again");
            assert!(!plan.has_changes(), "{:?}", planned(&plan));
        } else {
            // The control: without the takeover the dropped field stays, co-owned by Flux.
            assert_eq!(live["data"]["drop"], "2", "{live}");
            assert!(managers.contains(&"kustomize-controller"), "{live}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_returns_before_objects_are_healthy_and_health_is_one_evaluation() {
    let ns = namespace("unhealthy");
    let applier = applier().await;
    let opts = options("h", &ns);
    let mut never = deployment("never", 1);
    // No node matches: the Deployment cannot become available.
    never["spec"]["template"]["spec"]["nodeSelector"] = json!({"weir.dev/none": "x"});
    let plan = applier
        .plan(vec![never], &Inventory::default(), &NoLiveObjects, &opts)
        .await
        .expect("plan");
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        applier.apply(&plan, &opts),
    )
    .await
    .expect("apply does not wait for health")
    .expect("apply");
    assert_eq!(out.changes[0].action, Action::Created);
    let live = get("deployment", &ns, "never").expect("created");
    assert!(
        matches!(evaluate(&live), HealthStatus::InProgress(_)),
        "{:?}",
        evaluate(&live)
    );
}
