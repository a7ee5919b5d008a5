//! weir-sops against files the real `sops` (3.13.2) encrypted: `tests/fixtures/README.md`.

use std::path::PathBuf;

use serde_json::Value;
use weir_sops::{Error, Identities, Mac, ValueProblem, decrypt};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(fixtures().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn load(rel: &str) -> Value {
    let text = read(rel);
    if rel.ends_with(".json") {
        serde_json::from_str(&text).expect("json fixture")
    } else {
        weir_yaml::from_str(&text)
            .expect("yaml fixture")
            .into_iter()
            .next()
            .expect("one document")
    }
}

fn key(name: &str) -> Identities {
    Identities::parse(&read(&format!("keys/{name}.agekey"))).expect("key file")
}

fn decrypted(rel: &str, ids: &Identities, mac: Mac) -> Result<Value, Error> {
    let mut doc = load(&format!("encrypted/{rel}"));
    decrypt(&mut doc, ids, mac).map(|()| doc)
}

/// Every plaintext value of the fixtures: none may appear in an error message.
const PLAINTEXTS: &[&str] = &[
    "admin",
    "s3cr3t-P@ss",
    "example.org",
    "dG9rZW4tdmFsdWU=",
    "hunter2",
    "alpha",
    "10.0.0.1",
    "k3y",
    "only-this-is-encrypted",
    "prod-eu",
];

fn assert_no_plaintext(e: &Error) {
    let text = format!("{e} {e:?}");
    for p in PLAINTEXTS {
        assert!(!text.contains(p), "error shows plaintext {p:?}: {text}");
    }
    assert!(
        !text.contains("AGE-SECRET-KEY"),
        "error shows a key: {text}"
    );
}

#[test]
fn decrypts_as_sops_decrypt_does() {
    let a = key("a");
    for f in [
        "secret.yaml",
        "nested.yaml",
        "suffix.yaml",
        "macs.yaml",
        "two-recipients.yaml",
        "secret.json",
        "nested-unencrypted-regex.yaml",
        "nested-encrypted-suffix.yaml",
    ] {
        let got = decrypted(f, &a, Mac::Verify).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(got, load(&format!("decrypted/{f}")), "{f}");
    }
}

#[test]
fn typed_values_nested_maps_and_lists_come_back_typed() {
    let got = decrypted("nested.yaml", &key("a"), Mac::Verify).expect("decrypts");
    let spec = &got["spec"];
    assert_eq!(spec["replicas"], serde_json::json!(3));
    assert_eq!(spec["ratio"], serde_json::json!(0.25));
    assert_eq!(spec["enabled"], Value::Bool(true));
    assert_eq!(spec["disabled"], Value::Bool(false));
    assert_eq!(spec["empty"], serde_json::json!(""));
    assert_eq!(spec["nothing"], Value::Null);
    assert_eq!(spec["ports"], serde_json::json!([80, 443]));
    assert_eq!(spec["servers"][0]["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(
        spec["database"]["options"]["timeout"],
        serde_json::json!(30)
    );
    assert!(got.get("sops").is_none());
}

#[test]
fn unencrypted_suffix_and_encrypted_regex_leave_values_in_the_clear() {
    let enc = load("encrypted/suffix.yaml");
    assert_eq!(enc["stringData"]["region_plain"], "eu-west-1");
    assert_eq!(enc["stringData"]["nested_plain"]["inner"], "also-clear");
    assert!(
        enc["stringData"]["api_key"]
            .as_str()
            .unwrap()
            .starts_with("ENC[")
    );
    let enc = load("encrypted/secret.yaml");
    assert_eq!(enc["metadata"]["name"], "app-credentials");
    assert!(enc["data"]["token"].as_str().unwrap().starts_with("ENC["));
}

#[test]
fn either_recipient_of_a_two_recipient_file_decrypts_it() {
    let with_b = decrypted("two-recipients.yaml", &key("b"), Mac::Verify).expect("b opens it");
    assert_eq!(with_b, load("decrypted/two-recipients-b.yaml"));
    assert_eq!(with_b["stringData"]["password"], "s3cr3t-P@ss");
    // A key set holding a stranger and b also works.
    let mut ids = key("wrong");
    ids.add(&read("keys/b.agekey")).expect("adds");
    assert!(decrypted("two-recipients.yaml", &ids, Mac::Verify).is_ok());
}

#[test]
fn a_wrong_key_names_the_recipients_and_nothing_secret() {
    let err = decrypted("secret.yaml", &key("wrong"), Mac::Verify).unwrap_err();
    let Error::NoMatchingIdentity { recipients, others } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(recipients, &key("a").recipients());
    assert!(others.is_empty());
    assert!(err.to_string().contains(&recipients[0]));
    assert_no_plaintext(&err);
    assert!(matches!(
        decrypted("secret.yaml", &Identities::default(), Mac::Verify),
        Err(Error::NoIdentities)
    ));
}

#[test]
fn a_flipped_ciphertext_byte_fails_authentication_at_its_path() {
    for mac in [Mac::Verify, Mac::Skip] {
        let err = decrypted("tampered-value.yaml", &key("a"), mac).unwrap_err();
        assert_eq!(
            err,
            Error::Value {
                path: "spec.database.password".into(),
                problem: ValueProblem::Authentication
            }
        );
        assert_no_plaintext(&err);
    }
}

#[test]
fn values_swapped_between_keys_fail_because_the_path_is_authenticated() {
    let err = decrypted("swapped-values.yaml", &key("a"), Mac::Skip).unwrap_err();
    assert!(matches!(
        &err,
        Error::Value { path, problem: ValueProblem::Authentication } if path == "stringData.username"
    ));
    assert_no_plaintext(&err);
}

#[test]
fn an_edited_clear_value_fails_the_mac_unless_skipped_as_flux_does() {
    let err = decrypted("tampered-mac.yaml", &key("a"), Mac::Verify).unwrap_err();
    assert_eq!(err, Error::MacMismatch);
    assert_no_plaintext(&err);
    let got = decrypted("tampered-mac.yaml", &key("a"), Mac::Skip).expect("Flux does not check");
    assert_eq!(got["stringData"]["api_key"], "k3y");
}

#[test]
fn a_build_adding_labels_changes_the_mac_but_not_flux_decryption() {
    let mut doc = load("encrypted/secret.yaml");
    doc["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] = "apps".into();
    let mut strict = doc.clone();
    assert_eq!(
        decrypt(&mut strict, &key("a"), Mac::Verify),
        Err(Error::MacMismatch)
    );
    assert_eq!(strict, doc, "unchanged on error");
    decrypt(&mut doc, &key("a"), Mac::Skip).expect("decrypts");
    assert_eq!(doc["stringData"]["DOMAIN"], "example.org");
}

#[test]
fn mac_only_encrypted_ignores_clear_values() {
    let mut doc = load("encrypted/macs.yaml");
    doc["metadata"]["name"] = "renamed".into();
    decrypt(&mut doc, &key("a"), Mac::Verify).expect("the MAC covers encrypted values only");
    assert_eq!(doc["stringData"]["password"], "only-this-is-encrypted");
}

#[test]
fn a_pgp_only_file_is_refused_naming_the_service() {
    let err = decrypted("pgp-only.yaml", &key("a"), Mac::Verify).unwrap_err();
    assert_eq!(
        err,
        Error::UnsupportedKeyService {
            services: vec!["PGP (pgp)"]
        }
    );
    assert!(err.to_string().contains("PGP"));
}

#[test]
fn a_plain_value_where_ciphertext_belongs_is_refused_without_showing_it() {
    let mut doc = load("encrypted/nested.yaml");
    doc["spec"]["database"]["user"] = "hunter2".into();
    let err = decrypt(&mut doc, &key("a"), Mac::Skip).unwrap_err();
    assert_eq!(
        err,
        Error::Value {
            path: "spec.database.user".into(),
            problem: ValueProblem::NotSopsFormat
        }
    );
    assert_no_plaintext(&err);
    let mut doc = load("encrypted/nested.yaml");
    doc["spec"]["ports"][1] = serde_json::json!(8080);
    let err = decrypt(&mut doc, &key("a"), Mac::Skip).unwrap_err();
    assert!(
        matches!(&err, Error::Value { path, .. } if path == "spec.ports[1]"),
        "{err:?}"
    );
}

#[test]
fn an_object_without_sops_metadata_is_not_encrypted() {
    let mut doc = load("plain/secret.yaml");
    assert!(!weir_sops::is_encrypted(&doc));
    assert_eq!(
        decrypt(&mut doc, &key("a"), Mac::Verify),
        Err(Error::NotEncrypted)
    );
    assert!(weir_sops::is_encrypted(&load("encrypted/secret.yaml")));
}
