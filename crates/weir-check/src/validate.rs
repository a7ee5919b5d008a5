//! Checks on each rendered object that the API server would reject: kind, name, apiVersion shape.
//! Pure; the messages name the field.

use serde_json::Value;

/// Kinds whose names must be DNS subdomains (RFC 1123). Other kinds (RBAC, custom resources) accept
/// wider names, so only the path-segment rules apply to them.
const DNS_NAMED_KINDS: &[&str] = &[
    "ConfigMap",
    "Secret",
    "Service",
    "ServiceAccount",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "Pod",
    "PersistentVolumeClaim",
    "Ingress",
    "Namespace",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
];

/// The problems of one object, as `field: what is wrong` strings; empty when it is valid.
pub fn problems(obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(map) = obj.as_object() else {
        return vec!["the document is not a mapping".into()];
    };
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => out.push("apiVersion: missing".into()),
        Some(v) if !valid_api_version(v) => out.push(format!(
            "apiVersion: {v:?} is not `<group>/<version>` or `<version>` (e.g. apps/v1, v1)"
        )),
        Some(_) => {}
    }
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind.is_empty() {
        out.push("kind: missing".into());
    } else if !kind.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        out.push(format!("kind: {kind:?} is not a kind name"));
    }
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    if name.is_empty() {
        out.push("metadata.name: missing".into());
    } else if name == "." || name == ".." || name.contains(['/', '%']) {
        out.push(format!(
            "metadata.name: {name:?} may not be '.', '..' or contain '/' or '%'"
        ));
    } else if DNS_NAMED_KINDS.contains(&kind) && !is_dns_subdomain(name) {
        out.push(format!(
            "metadata.name: {name:?} is not a valid {kind} name (lowercase letters, digits, '-' and '.', at most 253)"
        ));
    }
    if let Some(ns) = obj["metadata"].get("namespace") {
        match ns.as_str() {
            Some("") | None => {}
            Some(ns) if !is_dns_label(ns) => out.push(format!(
                "metadata.namespace: {ns:?} is not a valid namespace name (lowercase letters, digits and '-', at most 63)"
            )),
            Some(_) => {}
        }
    }
    out
}

fn valid_api_version(v: &str) -> bool {
    let (group, version) = match v.split_once('/') {
        Some((g, ver)) => (Some(g), ver),
        None => (None, v),
    };
    if let Some(g) = group
        && (g.is_empty() || !is_dns_subdomain(g))
    {
        return false;
    }
    // v1, v1beta1, v2alpha3
    let Some(rest) = version.strip_prefix('v') else {
        return false;
    };
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 {
        return false;
    }
    let tail = &rest[digits..];
    tail.is_empty()
        || ["alpha", "beta"].iter().any(|stage| {
            tail.strip_prefix(stage)
                .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        })
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn valid_objects_have_no_problems() {
        for obj in [
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a.b-c", "namespace": "ns-1"}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "system:Thing"}}),
            json!({"apiVersion": "cert-manager.io/v1beta1", "kind": "ClusterIssuer", "metadata": {"name": "letsencrypt"}}),
            json!({"apiVersion": "example.com/v2alpha1", "kind": "X", "metadata": {"name": "x"}}),
        ] {
            assert!(problems(&obj).is_empty(), "{obj}: {:?}", problems(&obj));
        }
    }

    #[test]
    fn reports_each_broken_field() {
        let cases = [
            (
                json!({"kind": "ConfigMap", "metadata": {"name": "a"}}),
                "apiVersion: missing",
            ),
            (
                json!({"apiVersion": "apps/v1/x", "kind": "Deployment", "metadata": {"name": "a"}}),
                "apiVersion: \"apps/v1/x\"",
            ),
            (
                json!({"apiVersion": "Apps/v1", "kind": "Deployment", "metadata": {"name": "a"}}),
                "apiVersion: \"Apps/v1\"",
            ),
            (
                json!({"apiVersion": "v1beta", "kind": "ConfigMap", "metadata": {"name": "a"}}),
                "apiVersion: \"v1beta\"",
            ),
            (
                json!({"apiVersion": "v1", "metadata": {"name": "a"}}),
                "kind: missing",
            ),
            (
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}),
                "metadata.name: missing",
            ),
            (
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Big_Name"}}),
                "metadata.name: \"Big_Name\"",
            ),
            (
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "Bad"}}),
                "metadata.namespace",
            ),
            (
                json!({"apiVersion": "x.io/v1", "kind": "Thing", "metadata": {"name": "a/b"}}),
                "metadata.name: \"a/b\"",
            ),
            (json!([1, 2]), "not a mapping"),
        ];
        for (obj, want) in cases {
            let p = problems(&obj);
            assert!(
                p.iter().any(|m| m.contains(want)),
                "{obj}: {p:?} lacks {want:?}"
            );
        }
    }
}
