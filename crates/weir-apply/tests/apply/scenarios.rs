use std::time::Duration;

use serde_json::{Value, json};
use weir_apply::{Action, Error, Outcome};

use crate::util::*;

fn actions(outcome: &Outcome) -> Vec<(String, Action)> {
    outcome
        .changes
        .iter()
        .map(|c| {
            (
                format!("{}/{}", c.object.kind, c.object.name),
                c.action.clone(),
            )
        })
        .collect()
}

fn action_of(outcome: &Outcome, kind: &str, name: &str) -> Action {
    outcome
        .changes
        .iter()
        .find(|c| c.object.kind == kind && c.object.name == name)
        .map(|c| c.action.clone())
        .unwrap_or_else(|| panic!("{kind}/{name} not in outcome {:?}", actions(outcome)))
}

fn inventory_ids(ns: &str, name: &str) -> Vec<String> {
    let cm = get("configmap", ns, &format!("weir-inventory-{name}"))
        .expect("inventory ConfigMap exists");
    let doc: Value =
        serde_json::from_str(cm["data"]["inventory"].as_str().expect("data.inventory"))
            .expect("json");
    let mut ids: Vec<String> = doc["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_creates_objects_and_unchanged_reapply_makes_no_writes() {
    let ns = namespace("create");
    let applier = applier().await;
    let set = vec![
        config_map("settings", json!({"a": "1"})),
        deployment("web", 1),
        service("web"),
    ];
    let first = applier
        .run(set.clone(), &options("shop", &ns))
        .await
        .expect("first apply");
    assert_eq!(
        actions(&first),
        vec![
            ("ConfigMap/settings".into(), Action::Created),
            ("Deployment/web".into(), Action::Created),
            ("Service/web".into(), Action::Created)
        ]
    );
    let dep = get("deployment", &ns, "web").expect("deployment created");
    assert_eq!(
        dep["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"],
        "shop"
    );
    assert_eq!(
        dep["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/namespace"],
        ns.as_str()
    );
    let mf = dep["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields");
    assert!(
        mf.iter()
            .any(|m| m["manager"] == "weir" && m["operation"] == "Apply"),
        "{mf:?}"
    );
    assert_eq!(
        inventory_ids(&ns, "shop"),
        vec![
            format!("{ns}_settings__ConfigMap"),
            format!("{ns}_web__Service"),
            format!("{ns}_web_apps_Deployment")
        ]
    );

    let again = applier
        .run(set, &options("shop", &ns))
        .await
        .expect("re-apply");
    assert!(
        again.changes.iter().all(|c| c.action == Action::Unchanged),
        "{:?}",
        actions(&again)
    );
    assert_eq!(again.requests.writes, 0, "{:?}", again.requests);
    assert_eq!(again.requests.dry_runs, 0, "{:?}", again.requests);
    assert!(!again.inventory_written);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_writes_only_the_changed_object() {
    let ns = namespace("change");
    let applier = applier().await;
    applier
        .run(
            vec![
                config_map("a", json!({"k": "1"})),
                config_map("b", json!({"k": "1"})),
            ],
            &options("c", &ns),
        )
        .await
        .expect("first apply");
    let out = applier
        .run(
            vec![
                config_map("a", json!({"k": "2"})),
                config_map("b", json!({"k": "1"})),
            ],
            &options("c", &ns),
        )
        .await
        .expect("second apply");
    assert_eq!(action_of(&out, "ConfigMap", "a"), Action::Configured);
    assert_eq!(action_of(&out, "ConfigMap", "b"), Action::Unchanged);
    assert_eq!(get("configmap", &ns, "a").expect("a")["data"]["k"], "2");
    // One apply for `a`, one inventory write for its new digest.
    assert_eq!(out.requests.writes, 2, "{:?}", out.requests);

    // Removing a field removes it from the cluster (the digest changed although live still has it).
    let out = applier
        .run(
            vec![
                config_map("a", json!({})),
                config_map("b", json!({"k": "1"})),
            ],
            &options("c", &ns),
        )
        .await
        .expect("third apply");
    assert_eq!(action_of(&out, "ConfigMap", "a"), Action::Configured);
    assert!(
        get("configmap", &ns, "a")
            .expect("a")
            .get("data")
            .is_none_or(|d| d.get("k").is_none())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_deletes_what_left_the_set_except_prune_disabled() {
    let ns = namespace("prune");
    let applier = applier().await;
    let mut keep = config_map("keep", json!({}));
    keep["metadata"]["annotations"] = json!({"kustomize.toolkit.fluxcd.io/prune": "disabled"});
    let set = vec![
        config_map("stay", json!({})),
        keep,
        config_map("gone", json!({})),
        deployment("old", 1),
    ];
    applier
        .run(set, &options("p", &ns))
        .await
        .expect("first apply");

    let mut opts = options("p", &ns);
    opts.dry_run = true;
    opts.prune = true;
    let planned = applier
        .run(vec![config_map("stay", json!({}))], &opts)
        .await
        .expect("dry-run");
    assert_eq!(action_of(&planned, "ConfigMap", "gone"), Action::Pruned);
    assert_eq!(planned.requests.writes, 0);
    assert!(
        get("configmap", &ns, "gone").is_some(),
        "dry-run must not delete"
    );

    opts.dry_run = false;
    let out = applier
        .run(vec![config_map("stay", json!({}))], &opts)
        .await
        .expect("prune apply");
    assert_eq!(action_of(&out, "ConfigMap", "gone"), Action::Pruned);
    assert_eq!(action_of(&out, "Deployment", "old"), Action::Pruned);
    assert!(matches!(
        action_of(&out, "ConfigMap", "keep"),
        Action::Kept(_)
    ));
    assert!(get("configmap", &ns, "gone").is_none());
    assert!(
        get("configmap", &ns, "keep").is_some(),
        "prune: disabled keeps the object"
    );
    assert_eq!(
        inventory_ids(&ns, "p"),
        vec![format!("{ns}_stay__ConfigMap")]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_is_shown_by_dry_run_and_repaired_by_apply() {
    let ns = namespace("drift");
    let applier = applier().await;
    let set = vec![deployment("web", 2)];
    applier
        .run(set.clone(), &options("d", &ns))
        .await
        .expect("first apply");
    kubectl(&["scale", "deployment/web", "--replicas=5", "-n", &ns]);

    let mut opts = options("d", &ns);
    opts.dry_run = true;
    let planned = applier.run(set.clone(), &opts).await.expect("dry-run");
    let change = &planned.changes[0];
    assert_eq!(change.action, Action::Configured);
    assert!(planned.has_changes());
    let diff: Vec<String> = change.diff.iter().map(ToString::to_string).collect();
    assert!(
        diff.contains(&"~ spec.replicas: 5 -> 2".to_string()),
        "{diff:?}"
    );
    assert_eq!(planned.requests.writes, 0);
    assert_eq!(
        get("deployment", &ns, "web").expect("web")["spec"]["replicas"],
        5
    );

    let out = applier.run(set, &options("d", &ns)).await.expect("repair");
    assert_eq!(out.changes[0].action, Action::Configured);
    assert_eq!(
        get("deployment", &ns, "web").expect("web")["spec"]["replicas"],
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_passes_when_deployments_roll_out_on_fake_nodes() {
    let ns = namespace("healthy");
    let applier = applier().await;
    let mut opts = options("h", &ns);
    opts.wait = true;
    let out = applier
        .run(vec![deployment("web", 2), service("web")], &opts)
        .await
        .expect("apply and wait");
    assert_eq!(out.changes.len(), 2);
    let dep = get("deployment", &ns, "web").expect("web");
    assert_eq!(dep["status"]["availableReplicas"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_timeout_names_each_unhealthy_object_and_why() {
    let ns = namespace("stuck");
    let applier = applier().await;
    let mut stuck = deployment("stuck", 3);
    stuck["spec"]["template"]["spec"]["nodeSelector"] = json!({"no-such-node": "true"});
    let mut opts = options("s", &ns);
    opts.wait = true;
    opts.timeout = Duration::from_secs(5);
    let err = applier
        .run(vec![stuck, config_map("fine", json!({}))], &opts)
        .await
        .expect_err("cannot become ready");
    let msg = err.to_string();
    assert!(matches!(err, Error::NotReady { .. }), "{msg}");
    assert!(
        msg.contains(&format!("Deployment {ns}/stuck: 0/3 replicas available")),
        "{msg}"
    );
    assert!(
        msg.starts_with("1 of 2 object(s) not ready after 5s"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn crd_and_custom_resource_apply_in_one_set() {
    let applier = applier().await;
    let suffix = std::process::id();
    let ns = format!("widgets-{suffix}");
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.test.weir.dev"},
        "spec": {
            "group": "test.weir.dev", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]
        }
    });
    let widget = json!({"apiVersion": "test.weir.dev/v1", "kind": "Widget",
        "metadata": {"name": "w1", "namespace": ns}, "spec": {"size": 3}});
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    // Custom resource first in the set: staging must still put the CRD and the namespace first.
    let set = vec![widget, crd, namespace];
    let out = applier
        .run(set.clone(), &options("crd", &ns))
        .await
        .expect("apply CRD and CR together");
    assert_eq!(
        actions(&out)[0].0,
        "CustomResourceDefinition/widgets.test.weir.dev"
    );
    assert_eq!(action_of(&out, "Widget", "w1"), Action::Created);
    assert_eq!(action_of(&out, "Namespace", &ns), Action::Created);
    assert_eq!(
        get("widgets.test.weir.dev", &ns, "w1").expect("widget")["spec"]["size"],
        3
    );
    let again = applier
        .run(set, &options("crd", &ns))
        .await
        .expect("re-apply");
    assert!(!again.has_changes(), "{:?}", actions(&again));
    assert_eq!(again.requests.writes, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_input_applies_nothing_and_names_object_and_field() {
    let ns = namespace("invalid");
    let applier = applier().await;
    let mut bad = deployment("bad", 1);
    bad["spec"]["replicaz"] = json!(2);
    let err = applier
        .run(vec![config_map("good", json!({})), bad], &options("i", &ns))
        .await
        .expect_err("unknown field is rejected");
    let msg = err.to_string();
    assert!(matches!(err, Error::Invalid { .. }), "{msg}");
    assert!(msg.contains(&format!("Deployment {ns}/bad")), "{msg}");
    assert!(msg.contains("replicaz"), "{msg}");
    assert!(
        get("configmap", &ns, "good").is_none(),
        "nothing may be written"
    );
    assert!(
        get("configmap", &ns, "weir-inventory-i").is_none(),
        "not even the inventory"
    );

    let widget = json!({"apiVersion": "v1", "kind": "Wdiget", "metadata": {"name": "x"}});
    let typo = json!({"apiVersion": "v1", "kind": "Configmap", "metadata": {"name": "y"}});
    let err = applier
        .run(
            vec![config_map("good", json!({})), widget, typo],
            &options("i", &ns),
        )
        .await
        .expect_err("unknown kind");
    assert!(matches!(err, Error::UnknownKinds { .. }), "{err}");
    // The scope of an unknown kind is unknown too, so the object is named without a namespace.
    assert!(
        err.to_string().contains("Wdiget x: no kind Wdiget in v1"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("Configmap y: no kind Configmap in v1 (similar: ConfigMap)"),
        "{err}"
    );
    assert!(get("configmap", &ns, "good").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn immutable_field_change_fails_clearly_or_recreates_with_force() {
    let ns = namespace("immutable");
    let applier = applier().await;
    applier
        .run(vec![deployment("web", 1)], &options("m", &ns))
        .await
        .expect("first apply");
    let mut changed = deployment("web", 1);
    changed["spec"]["selector"]["matchLabels"]["tier"] = json!("x");
    changed["spec"]["template"]["metadata"]["labels"]["tier"] = json!("x");
    let err = applier
        .run(vec![changed.clone()], &options("m", &ns))
        .await
        .expect_err("selector is immutable");
    let msg = err.to_string();
    assert!(
        msg.contains("immutable") && msg.contains("--force"),
        "{msg}"
    );
    let mut opts = options("m", &ns);
    opts.force = true;
    let out = applier.run(vec![changed], &opts).await.expect("recreate");
    assert_eq!(out.changes[0].action, Action::Recreated);
    assert_eq!(
        get("deployment", &ns, "web").expect("web")["spec"]["selector"]["matchLabels"]["tier"],
        "x"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_part_way_converges_on_rerun_without_orphans() {
    let applier = applier().await;
    let set_a: Vec<Value> = (0..120)
        .map(|i| config_map(&format!("cm-{i}"), json!({"i": i.to_string()})))
        .collect();
    // Interrupt earlier and later until a run is caught half-way: inventory written, objects partly there.
    // Few requests in flight make the write phase long enough to land in.
    let mut delay_ms = 20u64;
    while delay_ms < 5000 {
        delay_ms = delay_ms * 6 / 5;
        let ns = namespace("killed");
        let mut opts = options("k", &ns);
        opts.concurrency = 2;
        let run = applier.run(set_a.clone(), &opts);
        if tokio::time::timeout(Duration::from_millis(delay_ms), run)
            .await
            .is_ok()
        {
            eprintln!("apply finished within {delay_ms} ms");
            continue;
        }
        let present = kubectl(&[
            "get",
            "configmaps",
            "-n",
            &ns,
            "-l",
            "kustomize.toolkit.fluxcd.io/name=k",
            "-o",
            "name",
        ])
        .lines()
        .count();
        eprintln!(
            "interrupted after {delay_ms} ms: {present} of {} objects present",
            set_a.len()
        );
        if present == 0 || present == set_a.len() {
            continue;
        }
        // The interrupted run had recorded every object it meant to create.
        assert_eq!(inventory_ids(&ns, "k").len(), set_a.len());
        // Rerun with a smaller set: the objects of the first run that left the set must be pruned.
        let set_b: Vec<Value> = set_a[..100].to_vec();
        let mut opts = options("k", &ns);
        opts.prune = true;
        applier.run(set_b, &opts).await.expect("rerun");
        let names: Vec<String> = kubectl(&[
            "get",
            "configmaps",
            "-n",
            &ns,
            "-l",
            "kustomize.toolkit.fluxcd.io/name=k",
            "-o",
            "name",
        ])
        .lines()
        .map(str::to_string)
        .collect();
        assert_eq!(names.len(), 100, "{names:?}");
        assert!(
            names.iter().all(|n| n["configmap/cm-".len()..]
                .parse::<usize>()
                .is_ok_and(|i| i < 100)),
            "{names:?}"
        );
        assert_eq!(inventory_ids(&ns, "k").len(), 100);
        return;
    }
    panic!("no interruption caught the apply half-way");
}
