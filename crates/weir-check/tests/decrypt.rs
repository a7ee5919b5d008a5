//! `weir check --decrypt` through the library API, on a small repository whose Secrets the real
//! sops encrypted (`tests/fixtures/sops-repo/README.md`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use weir_check::{CheckOptions, Checked, FindingKind, Severity, Status, check};
use weir_sops::Identities;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sops-repo")
}

fn key(name: &str) -> Arc<Identities> {
    let text = std::fs::read_to_string(fixture().join(format!("keys/{name}.agekey"))).expect("key");
    Arc::new(Identities::parse(&text).expect("parses"))
}

fn run(decryption: Option<Arc<Identities>>) -> Checked {
    check(
        &fixture().join("repo"),
        &CheckOptions {
            cluster: Some("clusters/prod".into()),
            decryption,
            ..Default::default()
        },
    )
    .expect("check runs")
}

fn findings(c: &Checked, severity: Severity) -> Vec<String> {
    c.report
        .findings
        .iter()
        .filter(|f| f.severity == severity)
        .map(|f| format!("[{}] {}: {}", f.kind.as_str(), f.object, f.message))
        .collect()
}

fn object<'a>(c: &'a Checked, ks: &str, kind: &str, name: &str) -> &'a serde_json::Value {
    c.rendered[&weir_api::ObjectKey::new("flux-system", ks)]
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name} not rendered by {ks}"))
}

const PLAINTEXTS: [&str; 3] = ["prod.example.org", "correct-horse-battery", "postgres://"];

#[test]
fn without_decrypt_encrypted_variables_are_not_checked_and_stay_unsubstituted() {
    let c = run(None);
    assert_eq!(findings(&c, Severity::Error), Vec::<String>::new());
    let warnings = findings(&c, Severity::Warning);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("Secret flux-system/cluster-vars is SOPS-encrypted")),
        "{warnings:?}"
    );
    let cm = object(&c, "apps", "ConfigMap", "settings");
    assert_eq!(cm["data"]["url"], "https://app.${CLUSTER_DOMAIN}/");
    let db = object(&c, "apps", "Secret", "db");
    assert!(
        db["stringData"]["password"]
            .as_str()
            .unwrap()
            .starts_with("ENC[")
    );
}

#[test]
fn with_decrypt_encrypted_secrets_give_real_variables_and_are_decrypted() {
    let c = run(Some(key("age")));
    assert_eq!(findings(&c, Severity::Error), Vec::<String>::new());
    let warnings = findings(&c, Severity::Warning);
    assert!(!warnings.iter().any(|w| w.contains("SOPS")), "{warnings:?}");
    for ks in ["cluster-vars", "apps"] {
        let k = c
            .report
            .kustomizations
            .iter()
            .find(|k| k.name == ks)
            .expect("listed");
        assert_eq!(k.status, Status::Ok, "{ks}");
    }
    let cm = object(&c, "apps", "ConfigMap", "settings");
    assert_eq!(cm["data"]["url"], "https://app.prod.example.org/");
    assert_eq!(
        cm["data"]["replicas"],
        serde_json::json!(3),
        "as Flux: the substituted text is re-read as YAML"
    );
    let vars = object(&c, "cluster-vars", "Secret", "cluster-vars");
    assert!(vars.get("sops").is_none());
    // Decrypted before substitution, as Flux does: the plaintext's own ${...} is substituted.
    let db = object(&c, "apps", "Secret", "db");
    assert_eq!(db["stringData"]["password"], "correct-horse-battery");
    assert_eq!(
        db["stringData"]["dsn"],
        "postgres://app@db.prod.example.org/app"
    );
    assert_eq!(db["metadata"]["namespace"], "apps");
}

#[test]
fn a_wrong_key_is_a_build_error_naming_the_object_never_the_plaintext() {
    let c = run(Some(key("wrong")));
    let errors = findings(&c, Severity::Error);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("Kustomization/flux-system/cluster-vars")
                && e.contains("decryption failed for Secret flux-system/cluster-vars")
                && e.contains("none of the age identities")),
        "{errors:?}"
    );
    assert!(
        c.report
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::BuildError)
    );
    let all = format!("{:?}", c.report);
    for p in PLAINTEXTS {
        assert!(!all.contains(p), "report shows {p:?}");
    }
    assert!(!all.contains("AGE-SECRET-KEY"));
}
