//! Replacements compared with kustomize v5.5.0: every expectation below is the output of
//! `kubectl kustomize` (kubectl v1.32, embedded kustomize v5.5.0) on a directory holding the
//! resources and the replacements, put back in input order; `"error"` marks a build kustomize rejects.

use serde_json::Value;
use weir_kustomize::replacements::{self, Replacement};

#[test]
fn replacements_should_match_kustomize() {
    let cases: Vec<Value> = serde_json::from_str(CASES).expect("fixture is JSON");
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().expect("named case");
        let mut objects: Vec<Value> =
            serde_json::from_value(case["resources"].clone()).expect("list");
        let reps: Vec<Replacement> =
            serde_json::from_value(case["replacements"].clone()).expect("replacements");
        let mut refs: Vec<&mut Value> = objects.iter_mut().collect();
        let got = replacements::apply(&mut refs, &reps).map(|()| Value::from(objects));
        match (&case["expected"], got) {
            (Value::String(e), Err(_)) if e == "error" => {}
            (expected, Ok(got)) if *expected == got => {}
            (expected, got) => failures.push(format!("{name}: expected {expected}, got {got:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

const CASES: &str = r#"
[
{"name":"r1","resources":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"src"},"data":{"port":"8080","word":"abc","tag":"1.2.3"}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"app"},"spec":{"replicas":1,"template":{"spec":{"containers":[{"name":"app","image":"nginx:1.0","env":[{"name":"A","value":"x"},{"name":"B"}]},{"name":"app-sidecar","image":"side:1.0"}]}}}},{"apiVersion":"example.com/v1","kind":"W","metadata":{"name":"w"},"spec":{"num":3,"nul":null,"s":"q","b":true,"lst":["a","b"]}}],"replacements":[{"source":{"kind":"ConfigMap","name":"src","fieldPath":"data.port"},"targets":[{"select":{"kind":"Deployment"},"fieldPaths":["spec.replicas","spec.template.spec.containers.[name=app].env.[name=A].value"]},{"select":{"kind":"W"},"fieldPaths":["spec.num","spec.s","spec.lst"]}]},{"source":{"kind":"ConfigMap","name":"src","fieldPath":"data.word"},"targets":[{"select":{"kind":"W"},"fieldPaths":["spec.word"],"options":{"create":true}}]},{"source":{"kind":"ConfigMap","name":"src","fieldPath":"data.tag","options":{"delimiter":".","index":1}},"targets":[{"select":{"kind":"Deployment"},"fieldPaths":["spec.template.spec.containers.[name=app].image"],"options":{"delimiter":":","index":1}},{"select":{"kind":"W"},"fieldPaths":["metadata.annotations.[a.b/c]","spec.new.0.x"],"options":{"create":true}}]}],"expected":[{"apiVersion":"v1","data":{"port":"8080","tag":"1.2.3","word":"abc"},"kind":"ConfigMap","metadata":{"name":"src"}},{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"app"},"spec":{"replicas":8080,"template":{"spec":{"containers":[{"env":[{"name":"A","value":"8080"},{"name":"B"}],"image":"nginx:2","name":"app"},{"image":"side:2","name":"app-sidecar"}]}}}},{"apiVersion":"example.com/v1","kind":"W","metadata":{"annotations":{"a.b/c":"2"},"name":"w"},"spec":{"b":true,"lst":"8080","new":[{"x":2}],"nul":null,"num":8080,"s":"8080","word":"abc"}}]},
{"name":"r2","resources":[{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"src","namespace":"ns1","labels":{"app":"src"}},"spec":{"template":{"spec":{"containers":[{"name":"app","image":"reg.io/app:1.0"},{"name":"app-sidecar","image":"reg.io/side:2.0"}]}}}},{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm1","namespace":"ns1","labels":{"tier":"x"}},"data":{"url":"http://host:80/path","list":"a,b,c"}},{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm2","labels":{"tier":"y"}},"data":{"url":"http://other:90/path"}},{"apiVersion":"example.com/v1","kind":"T","metadata":{"name":"t"},"spec":{"items":[{"name":"one","v":"old"},{"name":"two","v":"old"}],"m":{"a":1}}}],"replacements":[{"source":{"kind":"Deployment","name":"src","namespace":"ns1","fieldPath":"spec.template.spec.containers.[name=app].image","options":{"delimiter":":","index":1}},"targets":[{"select":{"kind":"ConfigMap"},"reject":[{"name":"cm2"}],"fieldPaths":["data.list"],"options":{"delimiter":",","index":-1}},{"select":{"kind":"ConfigMap","labelSelector":"tier=y"},"fieldPaths":["data.list"],"options":{"delimiter":",","index":7,"create":true}}]},{"source":{"kind":"Deployment","fieldPath":"spec.template.spec.containers.1.image"},"targets":[{"select":{"kind":"T"},"fieldPaths":["spec.items.*.v","spec.items.[name=three].v"],"options":{"create":true}}]},{"source":{"kind":"Deployment","fieldPath":"metadata.labels"},"targets":[{"select":{"kind":"T"},"fieldPaths":["spec.m","spec.newmap.x"],"options":{"create":true}}]},{"source":{"kind":"ConfigMap","name":"cm2","fieldPath":"data.url","options":{"delimiter":"/","index":2}},"targets":[{"select":{"kind":"ConfigMap","name":"cm1"},"fieldPaths":["data.url"],"options":{"delimiter":"/","index":2}}]}],"expected":[{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"labels":{"app":"src"},"name":"src","namespace":"ns1"},"spec":{"template":{"spec":{"containers":[{"image":"reg.io/app:1.0","name":"app"},{"image":"reg.io/side:2.0","name":"app-sidecar"}]}}}},{"apiVersion":"v1","data":{"list":"1.0,a,b,c","url":"http://other:90/path"},"kind":"ConfigMap","metadata":{"labels":{"tier":"x"},"name":"cm1","namespace":"ns1"}},{"apiVersion":"v1","data":{"list":",1.0","url":"http://other:90/path"},"kind":"ConfigMap","metadata":{"labels":{"tier":"y"},"name":"cm2"}},{"apiVersion":"example.com/v1","kind":"T","metadata":{"name":"t"},"spec":{"items":[{"name":"one","v":"reg.io/side:2.0"},{"name":"two","v":"reg.io/side:2.0"},{"name":"three","v":"reg.io/side:2.0"}],"m":{"app":"src"},"newmap":{"x":{"app":"src"}}}}]},
{"name":"r3","resources":[{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"src","namespace":"ns1","labels":{"app":"src"}},"spec":{"template":{"spec":{"containers":[{"name":"app","image":"reg.io/app:1.0"},{"name":"app-sidecar","image":"reg.io/side:2.0"}]}}}},{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm1","namespace":"ns1","labels":{"tier":"x"}},"data":{"url":"http://host:80/path","list":"a,b,c"}},{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm2","labels":{"tier":"y"}},"data":{"url":"http://other:90/path"}},{"apiVersion":"example.com/v1","kind":"T","metadata":{"name":"t"},"spec":{"items":[{"name":"one","v":"old"},{"name":"two","v":"old"}],"m":{"a":1}}}],"replacements":[{"source":{"kind":"ConfigMap","fieldPath":"data.url"},"targets":[{"select":{"kind":"T"}}]}],"expected":"error"}
]
"#;
