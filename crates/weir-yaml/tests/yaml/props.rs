//! Property tests: the loader never panics, and what the writer prints reads back as the same
//! value (after the number normalisation kustomize's JSON round trip does).

use proptest::prelude::*;
use serde_json::{Map, Number, Value};

/// Pieces of YAML syntax, so random documents reach deep into the parser.
fn yamlish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("\n"),
        Just("  "),
        Just(" "),
        Just("\t"),
        Just("- "),
        Just(": "),
        Just(":"),
        Just("? "),
        Just("&a "),
        Just("*a"),
        Just("<<: "),
        Just("{"),
        Just("}"),
        Just("["),
        Just("]"),
        Just(","),
        Just("'"),
        Just("\""),
        Just("|"),
        Just("|-"),
        Just("|+"),
        Just(">"),
        Just("#c"),
        Just("---\n"),
        Just("...\n"),
        Just("!!str "),
        Just("!!int "),
        Just("!!binary "),
        Just("!x "),
        Just("%YAML 1.2\n"),
        Just("key"),
        Just("0777"),
        Just("1e3"),
        Just("~"),
        Just("yes"),
        Just("2024-02-29"),
        Just("\\"),
        Just("\r"),
        Just("\u{FEFF}"),
        Just("é"),
        Just("🚀"),
    ];
    proptest::collection::vec(token, 0..60).prop_map(|t| t.concat())
}

/// DEL, C1 controls and U+FFFE/U+FFFF: kustomize fails on them, so weir refuses them on read.
/// NEL is left out too: kustomize folds it to a space on output (tests/yaml/writer.rs).
fn kustomize_cannot_print(c: char) -> bool {
    matches!(c, '\u{7F}'..='\u{9F}' | '\u{FFFE}' | '\u{FFFF}')
}

/// Strings that stress the writer's quoting and folding rules.
///
/// U+2028/U+2029 are left out: go-yaml v2 treats them as line breaks and writes them raw, which
/// yields unreadable YAML when one starts a line of a block scalar (weir copies that behaviour).
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>().prop_map(|s| {
            s.replace(['\u{2028}', '\u{2029}'], "_")
                .replace(kustomize_cannot_print, "?")
        }),
        "[ -~]{0,120}",
        "[a-z ]{60,200}",
        "( |\n|\t|a|b|:|#|-|'|\"|\u{A0}){0,40}",
        prop_oneof![
            Just("yes"),
            Just("No"),
            Just("on"),
            Just("~"),
            Just("null"),
            Just(""),
            Just("0777"),
            Just("0x1F"),
            Just("1_000"),
            Just("1e3"),
            Just(".5"),
            Just("-.inf"),
            Just("1:20"),
            Just("2024-02-29"),
            Just("2001-12-14 21:59:43.10"),
            Just("- a"),
            Just("? x"),
            Just("a: b"),
            Just("a #b"),
            Just("---"),
            Just("..."),
            Just(" x"),
            Just("x "),
            Just("a\n"),
            Just("a\n\n"),
            Just("\na"),
            Just(" a\nb"),
            Just("a \nb"),
        ]
        .prop_map(str::to_string),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        tricky_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((tricky_string(), inner), 0..6).prop_map(|entries| {
                Value::Object(entries.into_iter().filter(|(k, _)| k != "<<").collect())
            }),
        ]
    })
}

/// What the value looks like after Go's JSON encoder and go-yaml v2: an integral float below 1e21
/// is printed as its shortest digits padded with zeros, and that text becomes an integer when it
/// fits 64 bits.
fn normalised(v: &Value) -> Value {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e21 => {
                let text = f.to_string();
                if let Ok(i) = text.parse::<i64>() {
                    Value::from(i)
                } else if let Ok(u) = text.parse::<u64>() {
                    Value::from(u)
                } else {
                    v.clone()
                }
            }
            _ => v.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(normalised).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), normalised(v)))
                .collect::<Map<_, _>>(),
        ),
        _ => v.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn loader_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = weir_yaml::from_str(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn loader_never_panics_on_yaml_like_text(text in yamlish()) {
        if let Err(e) = weir_yaml::from_str(&text) {
            prop_assert!(!e.message.is_empty());
        }
        let _ = weir_yaml::from_str_objects(&text);
        let _ = weir_yaml::from_str_kustomization(&text);
    }

    #[test]
    fn written_documents_read_back_as_the_same_value(map in proptest::collection::vec(
        (tricky_string(), value()), 1..6)
    ) {
        let doc = Value::Object(map.into_iter().filter(|(k, _)| k != "<<").collect());
        let text = weir_yaml::to_string(&doc);
        let back = weir_yaml::from_str(&text);
        prop_assert!(back.is_ok(), "{:?} for\n{}", back, text);
        let back = back.unwrap_or_default();
        prop_assert_eq!(back.len(), 1, "documents in\n{}", text);
        prop_assert_eq!(&back[0], &normalised(&doc), "text:\n{}", text);
        // Writing is a fixed point once the value has gone through it.
        prop_assert_eq!(weir_yaml::to_string(&back[0]), text);
    }
}
