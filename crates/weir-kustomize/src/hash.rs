//! The name-suffix hash of generated ConfigMaps and Secrets, identical to kustomize's hasher: the
//! sha256 of a Go `encoding/json` encoding of a small canonical map, its first ten hex digits with
//! a few letters swapped so the suffix never looks like a number or a word.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The 10-character suffix for an object (ConfigMap, Secret, or any other kind).
pub(crate) fn hash_suffix(obj: &Value) -> String {
    let kind = obj.get("kind").and_then(|k| k.as_str()).unwrap_or("");
    let mut out = String::new();
    match kind {
        // kustomize looks up the name with a single path segment "metadata/name", which never
        // matches, so the name always encodes as "".
        "ConfigMap" => {
            out.push('{');
            if let Some(bd @ Value::Object(_)) = obj.get("binaryData") {
                out.push_str("\"binaryData\":");
                go_json(bd, &mut out);
                out.push(',');
            }
            out.push_str("\"data\":");
            field_or_empty(obj.get("data"), &mut out);
            out.push_str(",\"kind\":\"ConfigMap\",\"name\":\"\"}");
        }
        "Secret" => {
            out.push_str("{\"data\":");
            field_or_empty(obj.get("data"), &mut out);
            out.push_str(",\"kind\":\"Secret\",\"name\":\"\"");
            if let Some(sd @ Value::Object(_)) = obj.get("stringData") {
                out.push_str(",\"stringData\":");
                go_json(sd, &mut out);
            }
            out.push_str(",\"type\":");
            field_or_empty(obj.get("type"), &mut out);
            out.push('}');
        }
        _ => go_json(obj, &mut out),
    }
    encode(&Sha256::digest(out.as_bytes()))
}

/// kustomize's `getNodeValues`: a missing field is "", a scalar is its string, a map is itself.
fn field_or_empty(v: Option<&Value>, out: &mut String) {
    match v {
        None | Some(Value::Null) => out.push_str("\"\""),
        Some(Value::String(s)) => go_string(s, out),
        Some(Value::Bool(b)) => go_string(&b.to_string(), out),
        Some(Value::Number(n)) => go_string(&n.to_string(), out),
        Some(other) => go_json(other, out),
    }
}

fn encode(digest: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    digest
        .iter()
        .flat_map(|b| [HEX[(b >> 4) as usize], HEX[(b & 15) as usize]])
        .take(10)
        .map(|c| match c {
            b'0' => 'g',
            b'1' => 'h',
            b'3' => 'k',
            b'a' => 'm',
            b'e' => 't',
            c => c as char,
        })
        .collect()
}

/// JSON as Go's `encoding/json` writes it: map keys sorted, HTML-safe string escapes.
fn go_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => go_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(item, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_string(k, out);
                out.push(':');
                go_json(&m[k.as_str()], out);
            }
            out.push('}');
        }
    }
}

fn go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn configmap_hash_matches_kustomize() {
        // From the conformance corpus: the same data under two names gets one suffix.
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "game-config"},
            "data": {"lives": "3", "difficulty": "hard", "motto": "Play fair"}});
        assert_eq!(hash_suffix(&cm), "mhgcgmhgkk");
    }

    #[test]
    fn go_escapes_html() {
        let mut s = String::new();
        go_string("a<b>&\u{1}", &mut s);
        assert_eq!(s, "\"a\\u003cb\\u003e\\u0026\\u0001\"");
    }
}
