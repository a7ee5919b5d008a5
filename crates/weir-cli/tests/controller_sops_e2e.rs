//! `weir controller` with `spec.decryption` end to end: a SOPS-encrypted Secret in Git (encrypted by
//! the real sops, `crates/weir-check/tests/fixtures/sops-repo`) is applied decrypted; a wrong key
//! gives Ready=False with Flux's reason and no plaintext anywhere; other key kinds are refused.

mod controller_harness;

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use controller_harness::*;

const PLAINTEXT: &str = "correct-horse-battery";

fn fixture(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../weir-check/tests/fixtures/sops-repo")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn key_secret(ns: &str, entries: &[(&str, &str)]) -> String {
    let data: Vec<String> = entries
        .iter()
        .map(|(k, v)| {
            format!(
                "  {k}: {}",
                base64::engine::general_purpose::STANDARD.encode(v)
            )
        })
        .collect();
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sops-keys\n  namespace: {ns}\ndata:\n{}\n",
        data.join("\n")
    )
}

const DECRYPTION: &str =
    "  decryption:\n    provider: sops\n    secretRef:\n      name: sops-keys\n";

/// A namespace with the encrypted Secret in Git, the key Secret, a GitRepository and the
/// decrypting Kustomization `secrets`.
fn setup(ns: &str, keys: &[(&str, &str)]) {
    namespace(ns);
    let repo = Repo::new(
        ns,
        &[("app/db.sops.yaml", &fixture("repo/apps/db.sops.yaml"))],
    );
    apply(&key_secret(ns, keys));
    apply(&git_repository(ns, "repo", &repo.url(), "1m"));
    apply(&kustomization(
        ns,
        "secrets",
        "./app",
        &format!("  targetNamespace: {ns}\n{DECRYPTION}"),
    ));
    std::mem::forget(repo); // the served repository must outlive the test's polling
}

fn not_ready(ns: &str) -> serde_json::Value {
    eventually(
        &format!("Kustomization {ns}/secrets Ready=False"),
        Duration::from_secs(60),
        || {
            let obj = get("kustomization", ns, "secrets").ok_or("not found")?;
            match condition(&obj, "Ready") {
                Some(c) if c["status"] == "False" => Ok(obj),
                other => Err(format!("Ready: {other:?}")),
            }
        },
    )
}

#[test]
fn an_encrypted_secret_in_git_is_applied_decrypted() {
    let ns = "e2e-sops";
    setup(ns, &[("age.agekey", &fixture("keys/age.agekey"))]);
    wait_ready("kustomization", ns, "secrets");
    let secret = get("secret", ns, "db").expect("applied");
    let password = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["password"].as_str().expect("data.password"))
        .expect("base64");
    assert_eq!(String::from_utf8_lossy(&password), PLAINTEXT);
    assert!(secret.get("sops").is_none());
}

#[test]
fn a_wrong_key_is_build_failed_with_no_plaintext_in_status_events_or_logs() {
    let ns = "e2e-sops-wrong";
    setup(ns, &[("age.agekey", &fixture("keys/wrong.agekey"))]);
    let obj = not_ready(ns);
    let ready = condition(&obj, "Ready").expect("Ready");
    assert_eq!(ready["reason"], "BuildFailed", "{ready}");
    let message = ready["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("decryption failed for Secret e2e-sops-wrong/db")
            && message.contains("none of the age identities"),
        "{message}"
    );
    assert!(get("secret", ns, "db").is_none(), "nothing applied");
    let (_, events) = kubectl(&["get", "events", "-n", ns, "-o", "json"], None);
    let log = std::fs::read_to_string(&env().log).unwrap_or_default();
    for (what, text) in [
        ("status", obj.to_string()),
        ("events", events),
        ("log", log),
    ] {
        assert!(!text.contains(PLAINTEXT), "{what} shows the plaintext");
        assert!(
            !text.contains("AGE-SECRET-KEY"),
            "{what} shows key material"
        );
    }
}

#[test]
fn pgp_keys_in_the_decryption_secret_are_refused_as_unsupported() {
    let ns = "e2e-sops-pgp";
    setup(
        ns,
        &[
            ("age.agekey", &fixture("keys/age.agekey")),
            ("team.asc", "-----BEGIN PGP PRIVATE KEY BLOCK-----\n"),
        ],
    );
    let obj = not_ready(ns);
    let stalled = condition(&obj, "Stalled").expect("Stalled");
    assert_eq!(stalled["status"], "True");
    let ready = condition(&obj, "Ready").expect("Ready");
    assert_eq!(ready["reason"], "UnsupportedField", "{ready}");
    assert!(
        ready["message"]
            .as_str()
            .is_some_and(|m| m.contains("'team.asc' (PGP key)")),
        "{ready}"
    );
}
