//! SSH through the system `ssh` against Debian's `sshd` on loopback.

use std::{sync::Arc, time::Instant};

use weir_source::{Credentials, GitRef, Outcome, Request, fetch::Error};

use crate::support::{Fixture, SshServer};

fn creds(identity: &str, known_hosts: &str) -> Credentials {
    let data = [("identity", identity), ("known_hosts", known_hosts)]
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
    Credentials::from_data(&data).expect("valid")
}

#[test]
fn ssh_should_fetch_with_identity_and_check_host_keys() {
    let Some(server) = SshServer::start() else {
        panic!("sshd is not installed: run scripts/setup");
    };
    let fixture = Fixture::new();
    let root = tempfile::tempdir().expect("tempdir");
    let repo = fixture.publish(root.path(), "repo");
    let env = super::env();
    let url = server.url(&repo);
    let fetch = |creds: &Credentials, reference: &GitRef| {
        env.fetcher.fetch(
            &Request {
                url: &url,
                reference,
                credentials: creds,
                ignore: None,
                last_revision: None,
                object: None,
            },
            &Arc::new(std::sync::atomic::AtomicBool::new(false)),
        )
    };
    let good = creds(&server.key("user_key"), &server.known_hosts());
    for (reference, expected) in [
        (
            GitRef::default(),
            format!("master@sha1:{}", fixture.commit("three")),
        ),
        (
            GitRef {
                tag: Some("v1.1.0".into()),
                ..Default::default()
            },
            format!("v1.1.0@sha1:{}", fixture.commit("two")),
        ),
        (
            GitRef {
                commit: Some(fixture.commit("one").into()),
                ..Default::default()
            },
            format!("sha1:{}", fixture.commit("one")),
        ),
    ] {
        match fetch(&good, &reference).expect("fetches over ssh") {
            Outcome::Fetched { revision, artifact } => {
                assert_eq!(revision.to_string(), expected);
                assert!(artifact.path.exists());
            }
            other => panic!("{other:?}"),
        }
    }

    let started = Instant::now();
    let wrong_key = creds(&server.key("other_key"), &server.known_hosts());
    let err = fetch(&wrong_key, &GitRef::default()).expect_err("unknown key");
    assert!(matches!(err, Error::AuthenticationFailed { .. }), "{err:?}");
    assert!(!format!("{err:?}").contains("PRIVATE KEY"));

    let wrong_host = creds(
        &server.key("user_key"),
        &format!(
            "[127.0.0.1]:{} {}",
            server.port,
            server.key("other_key.pub").trim()
        ),
    );
    let err = fetch(&wrong_host, &GitRef::default()).expect_err("host key mismatch");
    assert!(
        matches!(err, Error::HostKeyVerificationFailed { .. }),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert!(started.elapsed().as_secs() < 30);

    let err = fetch(&Credentials::default(), &GitRef::default()).expect_err("no secret");
    assert!(matches!(err, Error::InvalidCredentials { .. }), "{err:?}");
}
