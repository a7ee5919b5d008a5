//! JSON6902 patches compared with kustomize v5.5.0 (evanphx/json-patch v4): every expectation below
//! is the output of `kubectl kustomize` (kubectl v1.32, embedded kustomize v5.5.0) on a directory
//! holding the target, the operations and a `patches` entry targeting the object by name; `"error"`
//! marks a build kustomize rejects.

use serde_json::Value;
use weir_kustomize::json6902;

#[test]
fn json_patches_should_match_kustomize() {
    let cases: Vec<Value> = serde_json::from_str(CASES).expect("fixture is JSON");
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().expect("named case");
        let mut target = case["target"].clone();
        let got = json6902::apply(&mut target, &case["patch"]).map(|()| target);
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

#[test]
fn failed_test_operation_should_stop_the_patch() {
    let mut cm = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
    let ops = serde_json::json!([{"op": "test", "path": "/data/a", "value": "2"}, {"op": "add", "path": "/data/b", "value": "x"}]);
    let err = json6902::apply(&mut cm, &ops).expect_err("the test fails");
    assert!(
        matches!(err, json6902::Error::TestFailed { index: 0, .. }),
        "{err}"
    );
    assert!(cm["data"].get("b").is_none());
}

const CASES: &str = r#"
[
{"name":"basic","target":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1","x/y":"2","t~":"3"}},"patch":[{"op":"add","path":"/data/b","value":"2"},{"op":"remove","path":"/data/x~1y"},{"op":"replace","path":"/data/t~0","value":"4"},{"op":"copy","from":"/data/a","path":"/data/c"},{"op":"move","from":"/data/b","path":"/data/d"},{"op":"test","path":"/data/a","value":"1"}],"expected":{"apiVersion":"v1","data":{"a":"1","c":"1","d":"2","t~":"4"},"kind":"ConfigMap","metadata":{"name":"c"}}},
{"name":"replace-missing-key","target":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1"}},"patch":[{"op":"replace","path":"/data/zz","value":"2"}],"expected":{"apiVersion":"v1","data":{"a":"1","zz":"2"},"kind":"ConfigMap","metadata":{"name":"c"}}},
{"name":"add-missing-parent","target":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}},"patch":[{"op":"add","path":"/data/zz","value":"2"}],"expected":"error"},
{"name":"remove-missing","target":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1"}},"patch":[{"op":"remove","path":"/data/zz"}],"expected":"error"},
{"name":"array-ops","target":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"list":["a","b","c"]},"patch":[{"op":"add","path":"/list/0","value":"z"},{"op":"add","path":"/list/-","value":"end"},{"op":"add","path":"/list/-1","value":"neg"},{"op":"remove","path":"/list/-2"},{"op":"replace","path":"/list/1","value":"R"}],"expected":{"apiVersion":"v1","kind":"ConfigMap","list":["z","R","b","c","neg"],"metadata":{"name":"c"}}},
{"name":"array-oob","target":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"list":["a","b","c"]},"patch":[{"op":"add","path":"/list/5","value":"z"}],"expected":"error"},
{"name":"array-replace-oob","target":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"list":["a","b","c"]},"patch":[{"op":"replace","path":"/list/3","value":"z"}],"expected":"error"},
{"name":"test-fail","target":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1"}},"patch":[{"op":"test","path":"/data/a","value":"2"}],"expected":"error"},
{"name":"test-null-missing","target":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1"}},"patch":[{"op":"test","path":"/data/b","value":null},{"op":"add","path":"/data/b","value":"ok"}],"expected":{"apiVersion":"v1","data":{"a":"1","b":"ok"},"kind":"ConfigMap","metadata":{"name":"c"}}},
{"name":"test-number","target":{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"c"},"spec":{"replicas":1}},"patch":[{"op":"test","path":"/spec/replicas","value":1},{"op":"replace","path":"/spec/replicas","value":3}],"expected":{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"c"},"spec":{"replicas":3}}},
{"name":"add-no-value","target":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1"}},"patch":[{"op":"add","path":"/data/b"}],"expected":{"apiVersion":"v1","data":{"a":"1","b":null},"kind":"ConfigMap","metadata":{"name":"c"}}},
{"name":"unknown-op","target":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1"}},"patch":[{"op":"frob","path":"/data/b"}],"expected":"error"},
{"name":"intermediate-neg-index","target":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"list":[{"a":1},{"b":2}]},"patch":[{"op":"add","path":"/list/-1/c","value":3}],"expected":{"apiVersion":"v1","kind":"ConfigMap","list":[{"a":1},{"b":2,"c":3}],"metadata":{"name":"c"}}},
{"name":"move-missing","target":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1"}},"patch":[{"op":"move","from":"/data/zz","path":"/data/b"}],"expected":"error"},
{"name":"test-object","target":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","labels":{"a":"b","c":"d"}}},"patch":[{"op":"test","path":"/metadata/labels","value":{"c":"d","a":"b"}},{"op":"add","path":"/metadata/labels/e","value":"f"}],"expected":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"labels":{"a":"b","c":"d","e":"f"},"name":"c"}}},
{"name":"add-into-scalar","target":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1"}},"patch":[{"op":"add","path":"/data/a/b","value":"x"}],"expected":"error"},
{"name":"test-int-vs-float","target":{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"c"},"spec":{"replicas":1,"x":1.5}},"patch":[{"op":"test","path":"/spec/replicas","value":1.0},{"op":"test","path":"/spec/x","value":1.5},{"op":"replace","path":"/spec/replicas","value":2}],"expected":{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"c"},"spec":{"replicas":2,"x":1.5}}},
{"name":"test-string-vs-number","target":{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"c"},"spec":{"replicas":1}},"patch":[{"op":"test","path":"/spec/replicas","value":"1"}],"expected":"error"},
{"name":"test-map-order","target":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1","b":"2"}},"patch":[{"op":"test","path":"/data","value":{"b":"2","a":"1"}},{"op":"add","path":"/data/c","value":"3"}],"expected":{"apiVersion":"v1","data":{"a":"1","b":"2","c":"3"},"kind":"ConfigMap","metadata":{"name":"c"}}},
{"name":"test-whole-list","target":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"list":[1,2]},"patch":[{"op":"test","path":"/list","value":[1,2.0]},{"op":"add","path":"/list/-","value":3}],"expected":{"apiVersion":"v1","kind":"ConfigMap","list":[1,2,3],"metadata":{"name":"c"}}},
{"name":"annotation-values-become-strings","target":{"apiVersion":"v1","kind":"T","metadata":{"name":"c","annotations":{"keep":"1"},"labels":{"l":"x"}}},"patch":[{"op":"add","path":"/metadata/annotations/n","value":null},{"op":"add","path":"/metadata/annotations/f","value":1.5},{"op":"add","path":"/metadata/annotations/big","value":1234567},{"op":"add","path":"/metadata/annotations/m","value":{"k":"v"}},{"op":"add","path":"/metadata/labels/b","value":true}],"expected":{"apiVersion":"v1","kind":"T","metadata":{"annotations":{"big":"1.234567e+06","f":"1.5","keep":"1","m":"","n":"null"},"labels":{"b":true,"l":"x"},"name":"c"}}},
{"name":"copy-from-missing-and-null","target":{"apiVersion":"v1","kind":"T","metadata":{"name":"c"},"spec":{"nul":null}},"patch":[{"op":"copy","from":"/metadata/nothere","path":"/spec/a"},{"op":"copy","from":"/spec/nul","path":"/spec/b"}],"expected":{"apiVersion":"v1","kind":"T","metadata":{"name":"c"},"spec":{"a":null,"b":null,"nul":null}}},
{"name":"annotations-replaced-by-string","target":{"apiVersion":"v1","kind":"T","metadata":{"name":"c","annotations":{"a":"1"}}},"patch":[{"op":"replace","path":"/metadata/annotations","value":"str"}],"expected":{"apiVersion":"v1","kind":"T","metadata":{"name":"c"}}},
{"name":"copy-from-array-oob","target":{"apiVersion":"v1","kind":"T","metadata":{"name":"c"},"spec":{"l":[1]}},"patch":[{"op":"copy","from":"/spec/l/3","path":"/spec/b"}],"expected":"error"}
]
"#;
