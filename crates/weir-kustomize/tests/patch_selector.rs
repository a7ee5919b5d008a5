//! Patch target selection compared with kustomize v5.5.0: for each selector, `kubectl kustomize`
//! (kubectl v1.32, embedded kustomize v5.5.0) applied a JSON patch adding an annotation through
//! `patches[].target`; `selected` lists the objects that got it, `"error"` a build kustomize rejects.

use serde_json::Value;
use weir_kustomize::selector::Selector;

#[test]
fn selectors_should_pick_what_kustomize_picks() {
    let fixture: Value = serde_json::from_str(FIXTURE).expect("fixture is JSON");
    let objects = fixture["resources"].as_array().expect("resources");
    let mut failures = Vec::new();
    for case in fixture["cases"].as_array().expect("cases") {
        let selector: Selector =
            serde_json::from_value(case["selector"].clone()).expect("selector");
        let got: Result<Value, _> = selector.compile().map(|compiled| {
            objects
                .iter()
                .filter(|o| compiled.matches(o))
                .map(|o| serde_json::json!([o["kind"], o["metadata"]["name"]]))
                .collect()
        });
        match (&case["selected"], got) {
            (Value::String(e), Err(_)) if e == "error" => {}
            (expected, Ok(got)) if *expected == got => {}
            (expected, got) => failures.push(format!(
                "{}: expected {expected}, got {got:?}",
                case["selector"]
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const FIXTURE: &str = r#"
{"resources":[{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"db","labels":{"role":"db","tier":"back"}}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"db-replica","namespace":"prod","labels":{"role":"db","deprecated":"true"},"annotations":{"backup":"daily"}}},{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cache","namespace":"default","labels":{"role":"cache","n":"5"}}},{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"prod","labels":{"role":"ns"}}},{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"reader","annotations":{"backup":"weekly"}}},{"apiVersion":"example.com/v1beta1","kind":"Widget","metadata":{"name":"w1","namespace":"prod","labels":{"role":"db"}}}],"cases":[
{"selector":{"name":"db"},"selected":[["Deployment","db"]]},
{"selector":{"name":"db.*"},"selected":[["Deployment","db"],["Deployment","db-replica"]]},
{"selector":{"name":"DB"},"selected":[]},
{"selector":{"kind":"Deploy"},"selected":[]},
{"selector":{"kind":"Deployment|ConfigMap"},"selected":[["Deployment","db"],["Deployment","db-replica"],["ConfigMap","cache"]]},
{"selector":{"namespace":"default"},"selected":[["Deployment","db"],["ConfigMap","cache"]]},
{"selector":{"namespace":"prod"},"selected":[["Deployment","db-replica"],["Widget","w1"]]},
{"selector":{"namespace":"pr.*"},"selected":[["Deployment","db-replica"],["Widget","w1"]]},
{"selector":{"group":"apps"},"selected":[["Deployment","db"],["Deployment","db-replica"]]},
{"selector":{"group":""},"selected":[["Deployment","db"],["Deployment","db-replica"],["ConfigMap","cache"],["Namespace","prod"],["ClusterRole","reader"],["Widget","w1"]]},
{"selector":{"version":"v1"},"selected":[["Deployment","db"],["Deployment","db-replica"],["ConfigMap","cache"],["Namespace","prod"],["ClusterRole","reader"]]},
{"selector":{"version":"v1beta1","kind":"Widget"},"selected":[["Widget","w1"]]},
{"selector":{"group":"rbac.authorization.k8s.io","kind":"ClusterRole"},"selected":[["ClusterRole","reader"]]},
{"selector":{"labelSelector":"role=db"},"selected":[["Deployment","db"],["Deployment","db-replica"],["Widget","w1"]]},
{"selector":{"labelSelector":"role in (db,cache),!deprecated"},"selected":[["Deployment","db"],["ConfigMap","cache"],["Widget","w1"]]},
{"selector":{"labelSelector":"role notin (db)"},"selected":[["ConfigMap","cache"],["Namespace","prod"],["ClusterRole","reader"]]},
{"selector":{"labelSelector":"tier"},"selected":[["Deployment","db"]]},
{"selector":{"labelSelector":"role!=db"},"selected":[["ConfigMap","cache"],["Namespace","prod"],["ClusterRole","reader"]]},
{"selector":{"labelSelector":"n>3"},"selected":[["ConfigMap","cache"]]},
{"selector":{"labelSelector":"n<3"},"selected":[]},
{"selector":{"annotationSelector":"backup"},"selected":[["Deployment","db-replica"],["ClusterRole","reader"]]},
{"selector":{"annotationSelector":"backup=daily"},"selected":[["Deployment","db-replica"]]},
{"selector":{"annotationSelector":"backup in (daily, weekly)"},"selected":[["Deployment","db-replica"],["ClusterRole","reader"]]},
{"selector":{"labelSelector":"role=db","namespace":"prod"},"selected":[["Deployment","db-replica"],["Widget","w1"]]},
{"selector":{"name":"reader","namespace":"default"},"selected":[]},
{"selector":{"namespace":"_non_namespaceable_"},"selected":[["Namespace","prod"],["ClusterRole","reader"]]},
{"selector":{"labelSelector":"role in db"},"selected":"error"},
{"selector":{"name":"("},"selected":"error"}]}
"#;
