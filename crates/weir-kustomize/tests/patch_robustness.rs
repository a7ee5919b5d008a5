//! No input makes the patch machinery panic: random documents, patches, operations and paths either
//! apply or return an error.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use weir_kustomize::{json6902, replacements, smp};

/// Small JSON trees whose keys often collide with Kubernetes fields and directives, so that merge
/// lists, `$patch` and `null` deletions are exercised.
fn tree() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(vec![
        "name",
        "image",
        "containers",
        "env",
        "ports",
        "containerPort",
        "protocol",
        "volumes",
        "spec",
        "template",
        "metadata",
        "finalizers",
        "$patch",
        "value",
        "a",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (0i64..100).prop_map(Value::from),
        prop::sample::select(vec!["a", "b", "delete", "replace", "merge", "TCP", ""])
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 48, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..5).prop_map(|kv| Value::Object(
                kv.into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect::<Map<_, _>>()
            )),
        ]
    })
}

fn object(spec: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app"}, "spec": {"template": {"spec": spec}}})
}

proptest! {
    #[test]
    fn strategic_merge_never_panics(target in tree(), patch in tree()) {
        let mut t = object(target);
        let _ = smp::apply(&mut t, &object(patch));
    }

    #[test]
    fn json6902_never_panics(doc in tree(), value in tree(),
                             op in prop::sample::select(vec!["add", "remove", "replace", "move", "copy", "test", "x"]),
                             path in prop::collection::vec(prop::sample::select(vec!["spec", "template", "0", "1", "-", "-1", "a", "~1", "containers"]), 0..5),
                             from in prop::collection::vec(prop::sample::select(vec!["spec", "0", "a", "metadata"]), 0..4)) {
        let mut t = object(doc);
        let to_pointer = |parts: &[&str]| parts.iter().map(|p| format!("/{p}")).collect::<String>();
        let ops = json!([{"op": op, "path": to_pointer(&path), "from": to_pointer(&from), "value": value}]);
        let _ = json6902::apply(&mut t, &ops);
    }

    #[test]
    fn replacements_never_panic(doc in tree(), value in tree(),
                                source in "[a-z0-9.\\[\\]=*-]{0,24}", target in "[a-z0-9.\\[\\]=*-]{0,24}",
                                create in any::<bool>(), delimiter in prop::sample::select(vec!["", ".", "-"]), index in -2i64..3) {
        let mut objs = [object(doc), json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "src"}, "data": value})];
        let reps: Vec<replacements::Replacement> = serde_json::from_value(json!([{
            "source": {"kind": "ConfigMap", "fieldPath": format!("data.{source}")},
            "targets": [{"select": {"kind": "Deployment"}, "fieldPaths": [target], "options": {"create": create, "delimiter": delimiter, "index": index}}]
        }])).expect("replacement parses");
        let mut refs: Vec<&mut Value> = objs.iter_mut().collect();
        let _ = replacements::apply(&mut refs, &reps);
    }
}
