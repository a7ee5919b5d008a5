//! weir-source's OCI fetcher and push against the distribution registry (Debian's
//! `docker-registry`) on loopback; misbehaving registries (429) are raw loopback servers.

mod registry;

use std::{
    io::{Read, Write},
    sync::{Arc, atomic::AtomicBool},
    time::Duration,
};

use flate2::{Compression, read::GzDecoder, write::GzEncoder};
use registry::{PASSWORD, Registry, USER, docker_config_dir, tree};
use sha2::{Digest as _, Sha256};
use weir_api::flux::{OCILayerSelector, OCIRepositoryRef};
use weir_source::{
    ArtifactStore, BudgetConfig, HostBudgets, Outcome,
    clock::SystemClock,
    metrics::Metrics,
    oci::{
        Error, OciCredentials, OciFetcher, OciOptions, OciSource, PushRequest, RegistryClient,
        RegistryOptions,
        manifest::{self, Descriptor},
        push_artifact,
        reference::OciUrl,
        registry::Body,
    },
    progress::Discard,
    remote::Control,
    store,
};

struct Env {
    _store_dir: tempfile::TempDir,
    fetcher: OciFetcher,
}

fn client(options: RegistryOptions) -> RegistryClient {
    let clock = Arc::new(SystemClock::default());
    RegistryClient::new(
        Arc::new(HostBudgets::new(clock, BudgetConfig::default())),
        Arc::new(Metrics::default()),
        options,
    )
}

fn env_with(options: RegistryOptions) -> Env {
    let store_dir = tempfile::tempdir().expect("tempdir");
    let store =
        Arc::new(ArtifactStore::open(store_dir.path(), store::Options::default()).expect("store"));
    let fetcher = OciFetcher::new(
        client(options),
        store,
        Arc::new(SystemClock::default()),
        OciOptions {
            timeout: Duration::from_secs(20),
            ..OciOptions::default()
        },
    );
    Env {
        _store_dir: store_dir,
        fetcher,
    }
}

fn env() -> Env {
    env_with(RegistryOptions::default())
}

fn control() -> Control {
    Control::new(
        Duration::from_secs(20),
        Arc::new(AtomicBool::new(false)),
        Arc::new(Discard),
    )
}

/// Pushes `files` as `repo:tag` with weir's push; returns the manifest digest.
fn push(
    registry: &Registry,
    creds: &OciCredentials,
    repo: &str,
    tag: &str,
    files: &[(&str, &str)],
) -> String {
    let dir = tree(files);
    let scratch = tempfile::tempdir().expect("tempdir");
    let url = OciUrl::parse(&registry.url(repo)).expect("url");
    push_artifact(
        &client(RegistryOptions::default()),
        creds,
        &PushRequest {
            url: &url,
            tag,
            dir: dir.path(),
            source: "https://example.com/org/repo",
            revision: &format!("{tag}@sha1:0123456789012345678901234567890123456789"),
            ignore_paths: &["*.md".to_owned()],
            created: "2026-12-04T18:00:00Z",
            insecure: true,
        },
        scratch.path(),
        &control(),
    )
    .expect("push")
    .digest
}

fn source(registry: &Registry, repo: &str, reference: OCIRepositoryRef) -> OciSource {
    OciSource {
        url: registry.url(repo),
        reference: Some(reference),
        insecure: true,
        ..OciSource::default()
    }
}

fn tag(t: &str) -> OCIRepositoryRef {
    OCIRepositoryRef {
        tag: Some(t.into()),
        ..OCIRepositoryRef::default()
    }
}

fn fetch(env: &Env, source: &OciSource, creds: &OciCredentials) -> Result<Outcome, Error> {
    env.fetcher.fetch(
        source,
        creds,
        &Arc::new(AtomicBool::new(false)),
        Arc::new(Discard),
    )
}

/// `(path, content)` of every file in a `tar.gz`.
fn files_of(path: &std::path::Path) -> Vec<(String, String)> {
    let mut archive = tar::Archive::new(GzDecoder::new(std::fs::File::open(path).expect("open")));
    let mut out: Vec<(String, String)> = archive
        .entries()
        .expect("entries")
        .map(|e| {
            let mut e = e.expect("entry");
            let mut s = String::new();
            e.read_to_string(&mut s).expect("read");
            (e.path().expect("path").display().to_string(), s)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_ref_kind_should_resolve_as_flux_does() {
    let registry = Registry::start();
    let none = OciCredentials::default();
    let d100 = push(
        &registry,
        &none,
        "app",
        "1.0.0",
        &[("a.yaml", "v: 1.0.0\n")],
    );
    let d110 = push(
        &registry,
        &none,
        "app",
        "v1.1.0",
        &[("a.yaml", "v: 1.1.0\n")],
    );
    let d200 = push(
        &registry,
        &none,
        "app",
        "2.0.0-rc.1",
        &[("a.yaml", "v: 2.0.0-rc.1\n")],
    );
    let dlatest = push(
        &registry,
        &none,
        "app",
        "latest",
        &[("a.yaml", "v: latest\n")],
    );
    let env = env();

    let cases: Vec<(OCIRepositoryRef, String, &str)> = vec![
        (
            OCIRepositoryRef::default(),
            format!("latest@{dlatest}"),
            "latest",
        ),
        (tag("1.0.0"), format!("1.0.0@{d100}"), "1.0.0"),
        (
            OCIRepositoryRef {
                semver: Some(">=1.0.0 <2.0.0".into()),
                tag: Some("latest".into()),
                ..OCIRepositoryRef::default()
            },
            format!("v1.1.0@{d110}"),
            "1.1.0",
        ),
        (
            OCIRepositoryRef {
                semver: Some(">=2.0.0-0".into()),
                semver_filter: Some("-rc".into()),
                ..OCIRepositoryRef::default()
            },
            format!("2.0.0-rc.1@{d200}"),
            "2.0.0-rc.1",
        ),
        (
            OCIRepositoryRef {
                digest: Some(d100.clone()),
                semver: Some("*".into()),
                tag: Some("latest".into()),
                ..OCIRepositoryRef::default()
            },
            d100.clone(),
            "1.0.0",
        ),
    ];
    for (reference, revision, version) in cases {
        let outcome = fetch(&env, &source(&registry, "app", reference.clone()), &none)
            .unwrap_or_else(|e| panic!("{reference:?}: {e}"));
        assert_eq!(outcome.revision().to_string(), revision, "{reference:?}");
        let artifact = outcome.artifact().expect("fetched");
        assert_eq!(
            files_of(&artifact.path),
            vec![("a.yaml".to_owned(), format!("v: {version}\n"))]
        );
    }
}

#[test]
fn an_unchanged_poll_should_make_exactly_one_registry_request() {
    for auth in [false, true] {
        let registry = if auth {
            Registry::start_with_auth()
        } else {
            Registry::start()
        };
        let secret = docker_config_dir(&registry.host, USER, PASSWORD);
        let creds = OciCredentials::from_dir(secret.path(), &registry.host).expect("creds");
        push(&registry, &creds, "app", "v1", &[("a.yaml", "a: 1\n")]);
        let env = env();
        let src = source(&registry, "app", tag("v1"));
        let first = fetch(&env, &src, &creds).expect("first fetch");
        let revision = first.revision().to_string();
        // A poll with the revision in status: the learned auth scheme is reused, one HEAD.
        let poll = OciSource {
            last_revision: Some(revision.clone()),
            ..src.clone()
        };
        fetch(&env, &poll, &creds).expect("warm-up poll");
        let before = registry.requests().len();
        let outcome = fetch(&env, &poll, &creds).expect("poll");
        assert!(matches!(outcome, Outcome::Unchanged { .. }), "{outcome:?}");
        let after = registry.requests();
        assert_eq!(
            after[before..].to_vec(),
            vec!["HEAD /v2/app/manifests/v1 HTTP/1.1 200".to_owned()],
            "auth={auth}"
        );
        // A new push under the same tag is seen by the next poll.
        let d2 = push(&registry, &creds, "app", "v1", &[("a.yaml", "a: 2\n")]);
        let outcome = fetch(&env, &poll, &creds).expect("changed");
        assert_eq!(outcome.revision().to_string(), format!("v1@{d2}"));
        assert!(outcome.artifact().is_some());
    }
}

#[test]
fn a_wrong_password_should_fail_authentication_without_retrying() {
    let registry = Registry::start_with_auth();
    let good = OciCredentials::from_dir(
        docker_config_dir(&registry.host, USER, PASSWORD).path(),
        &registry.host,
    )
    .expect("creds");
    push(&registry, &good, "app", "v1", &[("a.yaml", "a: 1\n")]);
    let bad = OciCredentials::from_dir(
        docker_config_dir(&registry.host, USER, "wrong").path(),
        &registry.host,
    )
    .expect("creds");
    let env = env();
    for creds in [&bad, &OciCredentials::default()] {
        let err = fetch(&env, &source(&registry, "app", tag("v1")), creds).expect_err("refused");
        assert!(
            matches!(
                err,
                Error::AuthenticationFailed {
                    status: Some(401),
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.reason(), "AuthenticationFailed");
        assert!(!err.is_transient());
        assert!(!err.to_string().contains("wrong"));
    }
}

#[test]
fn an_unknown_tag_should_name_near_tags() {
    let registry = Registry::start();
    let none = OciCredentials::default();
    push(&registry, &none, "app", "v1.0.0", &[("a.yaml", "a: 1\n")]);
    push(&registry, &none, "app", "v1.0.1", &[("a.yaml", "a: 2\n")]);
    let env = env();
    let err = fetch(&env, &source(&registry, "app", tag("v1.0.2")), &none).expect_err("missing");
    assert_eq!(
        err.to_string(),
        format!(
            "tag \"v1.0.2\" not found in {} (similar tags: v1.0.0, v1.0.1)",
            registry.url("app")
        )
    );
    let err = fetch(
        &env,
        &source(
            &registry,
            "app",
            OCIRepositoryRef {
                semver: Some(">=2".into()),
                ..OCIRepositoryRef::default()
            },
        ),
        &none,
    )
    .expect_err("no match");
    assert!(matches!(err, Error::NoSemverMatch { .. }), "{err:?}");
}

#[test]
fn a_blob_that_does_not_match_its_digest_should_store_nothing() {
    let registry = Registry::start();
    let none = OciCredentials::default();
    push(&registry, &none, "app", "v1", &[("a.yaml", "a: 1\n")]);
    // Corrupt the layer in the registry's storage: same length, other bytes.
    let env = env();
    let first = fetch(&env, &source(&registry, "app", tag("v1")), &none).expect("fetch");
    let scratch = tempfile::tempdir().expect("tempdir");
    let url = OciUrl::parse(&registry.url("app")).expect("url");
    let c = client(RegistryOptions::default());
    let control = control();
    let session = c
        .session(&url, &none, true, false, &control)
        .expect("session");
    let m = session
        .get_manifest(&weir_source::oci::reference::Target::Tag("v1".into()))
        .expect("manifest");
    let manifest = manifest::Manifest::parse(&m.bytes, None).expect("parses");
    let layer = &manifest.layers[0];
    let path = registry.blob_path(&layer.digest);
    let mut bytes = std::fs::read(&path).expect("blob on disk");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).expect("corrupt");
    drop(scratch);

    let env = env_with(RegistryOptions::default());
    let err = fetch(&env, &source(&registry, "app", tag("v1")), &none).expect_err("mismatch");
    assert!(
        matches!(&err, Error::DigestMismatch { what, expected, .. } if what == "layer blob" && expected == &layer.digest),
        "{err:?}"
    );
    let stored: Vec<_> = std::fs::read_dir(env.fetcher.store().root().join("sha256"))
        .expect("dir")
        .collect();
    assert!(stored.is_empty(), "nothing stored");
    assert!(first.artifact().is_some());
}

/// Pushes a manifest whose first layer is `layer` (any bytes) with a Flux config.
fn push_raw_layer(registry: &Registry, repo: &str, tag: &str, layer: &[u8]) {
    let url = OciUrl::parse(&registry.url(repo)).expect("url");
    let c = client(RegistryOptions::default());
    let control = control();
    let none = OciCredentials::default();
    let session = c
        .session(&url, &none, true, true, &control)
        .expect("session");
    let digest = |b: &[u8]| format!("sha256:{:x}", Sha256::digest(b));
    let config = manifest::flux_config("sha256:00");
    session
        .push_blob(&digest(layer), Body::Bytes(layer))
        .expect("layer");
    session
        .push_blob(&digest(&config), Body::Bytes(&config))
        .expect("config");
    let m = manifest::flux_manifest(
        &Descriptor {
            media_type: manifest::FLUX_CONFIG.into(),
            size: config.len() as u64,
            digest: digest(&config),
            annotations: None,
        },
        &Descriptor {
            media_type: manifest::FLUX_CONTENT.into(),
            size: layer.len() as u64,
            digest: digest(layer),
            annotations: None,
        },
        &manifest::ArtifactMeta {
            source: "s".into(),
            revision: "r".into(),
            created: "2026-01-01T00:00:00Z".into(),
        },
    );
    session
        .put_manifest(tag, manifest::OCI_MANIFEST, &m)
        .expect("manifest");
}

fn raw_tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    for (path, data) in entries {
        let mut h = tar::Header::new_old();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        b.append(&h, *data).expect("append");
    }
    b.into_inner().expect("tar").finish().expect("gz")
}

#[test]
fn hostile_layers_should_be_refused_and_store_nothing() {
    let registry = Registry::start();
    push_raw_layer(
        &registry,
        "evil",
        "dotdot",
        &raw_tar_gz(&[("../escape.yaml", b"x")]),
    );
    push_raw_layer(
        &registry,
        "evil",
        "abs",
        &raw_tar_gz(&[("/etc/evil", b"x")]),
    );
    // 64 MiB of zeros compress to some 64 KiB.
    let zeros = vec![0u8; 64 << 20];
    push_raw_layer(&registry, "evil", "bomb", &raw_tar_gz(&[("bomb", &zeros)]));
    push_raw_layer(&registry, "evil", "notgz", b"this is not a tarball");
    let store_dir = tempfile::tempdir().expect("tempdir");
    let store =
        Arc::new(ArtifactStore::open(store_dir.path(), store::Options::default()).expect("store"));
    let fetcher = OciFetcher::new(
        client(RegistryOptions::default()),
        store,
        Arc::new(SystemClock::default()),
        OciOptions {
            extract_limits: weir_source::extract::Limits {
                max_bytes: 16 << 20,
                max_entries: 1000,
            },
            ..OciOptions::default()
        },
    );
    for (t, says) in [
        ("dotdot", "would be written outside the destination"),
        ("abs", "would be written outside the destination"),
        ("bomb", "expands beyond the limit of 16777216 bytes"),
        ("notgz", "not a readable tar.gz"),
    ] {
        let err = fetcher
            .fetch(
                &source(&registry, "evil", tag(t)),
                &OciCredentials::default(),
                &Arc::new(AtomicBool::new(false)),
                Arc::new(Discard),
            )
            .expect_err(t);
        assert!(matches!(err, Error::UnsafeLayer { .. }), "{t}: {err:?}");
        assert!(err.to_string().contains(says), "{t}: {err}");
        assert_eq!(err.reason(), "OCIArtifactLayerOperationFailed");
    }
    assert!(!store_dir.path().join("escape.yaml").exists());
    assert_eq!(
        std::fs::read_dir(store_dir.path().join("sha256"))
            .expect("dir")
            .count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(store_dir.path().join("tmp"))
            .expect("dir")
            .count(),
        0,
        "scratch removed"
    );
}

#[test]
fn pushed_artifacts_should_be_in_fluxs_format() {
    let registry = Registry::start();
    let none = OciCredentials::default();
    let dir = tree(&[
        ("deploy/app.yaml", "kind: ConfigMap\n"),
        ("README.md", "ignored by --ignore-paths\n"),
        ("secret/key.pem", "ignored by .sourceignore\n"),
        (".sourceignore", "secret/\n"),
    ]);
    let scratch = tempfile::tempdir().expect("tempdir");
    let url = OciUrl::parse(&registry.url("org/manifests")).expect("url");
    let c = client(RegistryOptions::default());
    let control = control();
    let outcome = push_artifact(
        &c,
        &none,
        &PushRequest {
            url: &url,
            tag: "v1",
            dir: dir.path(),
            source: "https://github.com/org/repo",
            revision: "main@sha1:0123456789012345678901234567890123456789",
            ignore_paths: &["*.md".to_owned()],
            created: "2026-12-04T18:43:41Z",
            insecure: true,
        },
        scratch.path(),
        &control,
    )
    .expect("push");
    let session = c
        .session(&url, &none, true, false, &control)
        .expect("session");
    let m = session
        .get_manifest(&weir_source::oci::reference::Target::Tag("v1".into()))
        .expect("manifest");
    assert_eq!(m.digest, outcome.digest);
    assert_eq!(
        m.content_type.as_deref(),
        Some("application/vnd.oci.image.manifest.v1+json")
    );
    let json: serde_json::Value = serde_json::from_slice(&m.bytes).expect("json");
    assert_eq!(json["schemaVersion"], 2);
    assert_eq!(
        json["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        json["config"]["mediaType"],
        "application/vnd.cncf.flux.config.v1+json"
    );
    assert_eq!(json["layers"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        json["layers"][0]["mediaType"],
        "application/vnd.cncf.flux.content.v1.tar+gzip"
    );
    assert_eq!(
        json["annotations"],
        serde_json::json!({
            "org.opencontainers.image.created": "2026-12-04T18:43:41Z",
            "org.opencontainers.image.revision": "main@sha1:0123456789012345678901234567890123456789",
            "org.opencontainers.image.source": "https://github.com/org/repo",
        })
    );
    // The config blob is go-containerregistry's for one layer: diff_id = digest of the tar.
    let mut config = Vec::new();
    let config_digest = json["config"]["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    session
        .get_blob(&config_digest, 1 << 20, &mut config)
        .expect("config");
    let config: serde_json::Value = serde_json::from_slice(&config).expect("json");
    let mut layer = Vec::new();
    let layer_digest = json["layers"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    session
        .get_blob(&layer_digest, 1 << 20, &mut layer)
        .expect("layer");
    let mut tar_bytes = Vec::new();
    GzDecoder::new(layer.as_slice())
        .read_to_end(&mut tar_bytes)
        .expect("gunzip");
    assert_eq!(
        config["rootfs"]["diff_ids"][0],
        format!("sha256:{:x}", Sha256::digest(&tar_bytes)).as_str()
    );
    let layer_file = scratch.path().join("check.tar.gz");
    std::fs::File::create(&layer_file)
        .and_then(|mut f| f.write_all(&layer))
        .expect("write");
    assert_eq!(
        files_of(&layer_file),
        vec![
            (".sourceignore".to_owned(), "secret/\n".to_owned()),
            ("deploy/app.yaml".to_owned(), "kind: ConfigMap\n".to_owned())
        ]
    );
    // `weir list artifacts` reads the annotations back.
    let listed = weir_source::oci::list_artifacts(&c, &none, &url, true, &control).expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].revision.as_deref(),
        Some("main@sha1:0123456789012345678901234567890123456789")
    );
    // `weir tag artifact` keeps the digest.
    let tagged = weir_source::oci::tag_artifact(
        &c,
        &none,
        &url,
        &weir_source::oci::reference::Target::Tag("v1".into()),
        "stable",
        true,
        &control,
    )
    .expect("tag");
    assert_eq!(tagged, outcome.digest);
}

#[test]
fn layer_selector_should_pick_by_media_type_and_copy_verbatim() {
    let registry = Registry::start();
    let none = OciCredentials::default();
    push(&registry, &none, "app", "v1", &[("a.yaml", "a: 1\n")]);
    let env = env();
    let copy = OciSource {
        layer_selector: Some(OCILayerSelector {
            media_type: Some(manifest::FLUX_CONTENT.into()),
            operation: Some("copy".into()),
        }),
        ..source(&registry, "app", tag("v1"))
    };
    let outcome = fetch(&env, &copy, &none).expect("copy");
    let artifact = outcome.artifact().expect("stored");
    // The stored artifact is the layer blob itself.
    let bytes = std::fs::read(&artifact.path).expect("read");
    let url = OciUrl::parse(&registry.url("app")).expect("url");
    let c = client(RegistryOptions::default());
    let control = control();
    let session = c
        .session(&url, &none, true, false, &control)
        .expect("session");
    let m = session
        .get_manifest(&weir_source::oci::reference::Target::Tag("v1".into()))
        .expect("manifest");
    let manifest = manifest::Manifest::parse(&m.bytes, None).expect("parses");
    assert_eq!(
        format!("sha256:{:x}", Sha256::digest(&bytes)),
        manifest.layers[0].digest
    );
    let other = OciSource {
        layer_selector: Some(OCILayerSelector {
            media_type: Some("application/x-none".into()),
            operation: None,
        }),
        ..source(&registry, "app", tag("v1"))
    };
    let err = fetch(&env, &other, &none).expect_err("no such layer");
    assert!(
        err.to_string()
            .contains("no layer with media type \"application/x-none\""),
        "{err}"
    );
    let bad_op = OciSource {
        layer_selector: Some(OCILayerSelector {
            media_type: None,
            operation: Some("unpack".into()),
        }),
        ..source(&registry, "app", tag("v1"))
    };
    assert!(matches!(
        fetch(&env, &bad_op, &none),
        Err(Error::InvalidSpec { .. })
    ));
}

#[test]
fn cloud_providers_and_verification_should_be_refused_clearly() {
    let env = env();
    let base = OciSource {
        url: "oci://127.0.0.1:1/app".into(),
        insecure: true,
        ..OciSource::default()
    };
    let err = fetch(
        &env,
        &OciSource {
            provider: Some("aws".into()),
            ..base.clone()
        },
        &OciCredentials::default(),
    )
    .expect_err("unsupported");
    assert_eq!(
        err.to_string(),
        "spec.provider \"aws\" (cloud workload identity) is not supported by weir yet (oci://127.0.0.1:1/app): use provider: generic with a dockerconfigjson secretRef holding a registry token"
    );
    assert!(!err.is_transient());
    let err = fetch(
        &env,
        &OciSource {
            verify: Some(weir_source::oci::Verify {
                provider: "cosign".into(),
                keys: Vec::new(),
            }),
            ..base
        },
        &OciCredentials::default(),
    )
    .expect_err("unsupported");
    assert!(err.to_string().contains("keyless spec.verify"), "{err}");
}

/// A loopback server answering every request with 429 and `Retry-After: 7`.
fn rate_limiting_server() -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let c = c.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = [0u8; 4096];
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut buf[..1]) {
                        Ok(1) => head.push(buf[0]),
                        _ => return,
                    }
                }
                c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = stream.write_all(
                    b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            });
        }
    });
    (addr, count)
}

#[test]
fn a_429_with_retry_after_should_come_back_as_the_requeue_time() {
    let (addr, count) = rate_limiting_server();
    let env = env_with(RegistryOptions {
        max_retry_wait: Duration::ZERO,
        ..RegistryOptions::default()
    });
    let src = OciSource {
        url: format!("oci://{addr}/app"),
        insecure: true,
        ..OciSource::default()
    };
    let err = fetch(&env, &src, &OciCredentials::default()).expect_err("rate limited");
    assert!(
        matches!(err, Error::RateLimited { status: 429, .. }),
        "{err:?}"
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert!(err.is_transient());
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
    // The host's budget is deferred: the next fetch does not even ask.
    let err = fetch(&env, &src, &OciCredentials::default()).expect_err("deferred");
    assert!(matches!(err, Error::BudgetExhausted { .. }), "{err:?}");
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn a_tls_registry_should_need_its_ca() {
    let registry = Registry::start_tls();
    let ca = OciCredentials {
        ca_pem: registry.ca_pem.clone(),
        ..OciCredentials::default()
    };
    let dir = tree(&[("a.yaml", "a: 1\n")]);
    let scratch = tempfile::tempdir().expect("tempdir");
    let url = OciUrl::parse(&registry.url("app")).expect("url");
    let request = PushRequest {
        url: &url,
        tag: "v1",
        dir: dir.path(),
        source: "s",
        revision: "r",
        ignore_paths: &[],
        created: "2026-12-04T18:00:00Z",
        insecure: false,
    };
    let pushed = push_artifact(
        &client(RegistryOptions::default()),
        &ca,
        &request,
        scratch.path(),
        &control(),
    )
    .expect("push over TLS");
    let env = env();
    let src = OciSource {
        insecure: false,
        ..source(&registry, "app", tag("v1"))
    };
    let outcome = fetch(&env, &src, &ca).expect("fetch over TLS");
    assert_eq!(
        outcome.revision().to_string(),
        format!("v1@{}", pushed.digest)
    );
    // Without the CA the registry's certificate is not trusted.
    let err = fetch(&env, &src, &OciCredentials::default()).expect_err("untrusted");
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
}

/// A loopback server that accepts connections and never answers.
fn silent_server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(8) {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    addr
}

#[test]
fn a_silent_registry_should_time_out() {
    let addr = silent_server();
    let store_dir = tempfile::tempdir().expect("tempdir");
    let store =
        Arc::new(ArtifactStore::open(store_dir.path(), store::Options::default()).expect("store"));
    let fetcher = OciFetcher::new(
        client(RegistryOptions::default()),
        store,
        Arc::new(SystemClock::default()),
        OciOptions {
            timeout: Duration::from_secs(1),
            ..OciOptions::default()
        },
    );
    let started = std::time::Instant::now();
    let err = fetcher
        .fetch(
            &OciSource {
                url: format!("oci://{addr}/app"),
                insecure: true,
                ..OciSource::default()
            },
            &OciCredentials::default(),
            &Arc::new(AtomicBool::new(false)),
            Arc::new(Discard),
        )
        .expect_err("times out");
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// A registry speaking the distribution spec's token flow (one request per connection): manifests
/// need `Bearer T`, which `/token` gives for basic credentials `u:p`. Returns the address and
/// the request lines seen.
fn token_registry(digest: String) -> (std::net::SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
    use base64::Engine;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("u:p")
    );
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match stream.read(&mut b) {
                    Ok(1) => head.push(b[0]),
                    _ => break,
                }
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let line = head.lines().next().unwrap_or("").to_owned();
            let auth = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .starts_with("authorization:")
                        .then(|| l["authorization:".len()..].trim().to_owned())
                })
                .unwrap_or_default();
            s.lock().expect("lock").push(line.clone());
            let reply = if line.starts_with("GET /token?") {
                if auth == basic && line.contains("scope=repository%3Aapp%3Apull") {
                    let body = r#"{"token":"T","expires_in":300}"#;
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_owned()
                }
            } else if auth != "Bearer T" {
                format!(
                    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://{addr}/token\",service=\"test\",scope=\"repository:app:pull\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\nDocker-Content-Digest: {digest}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
            };
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (addr, seen)
}

#[test]
fn the_bearer_token_flow_should_be_paid_once_then_one_request_per_poll() {
    let digest = format!("sha256:{}", "d".repeat(64));
    let (addr, seen) = token_registry(digest.clone());
    let env = env();
    let creds = OciCredentials::from_data(
        &std::collections::BTreeMap::from([(
            ".dockerconfigjson".to_owned(),
            format!(r#"{{"auths":{{"{addr}":{{"username":"u","password":"p"}}}}}}"#).into_bytes(),
        )]),
        &addr.to_string(),
    )
    .expect("creds");
    let src = OciSource {
        url: format!("oci://{addr}/app"),
        reference: Some(tag("v1")),
        insecure: true,
        last_revision: Some(format!("v1@{digest}")),
        ..OciSource::default()
    };
    let outcome = fetch(&env, &src, &creds).expect("first poll");
    assert!(matches!(outcome, Outcome::Unchanged { .. }), "{outcome:?}");
    let first: Vec<String> = seen.lock().expect("lock").clone();
    assert_eq!(first.len(), 3, "{first:?}");
    assert!(
        first[0].starts_with("HEAD /v2/app/manifests/v1"),
        "{first:?}"
    );
    assert!(first[1].starts_with("GET /token?"), "{first:?}");
    assert!(
        first[2].starts_with("HEAD /v2/app/manifests/v1"),
        "{first:?}"
    );
    fetch(&env, &src, &creds).expect("second poll");
    let all = seen.lock().expect("lock").clone();
    assert_eq!(all.len(), 4, "one request for the second poll: {all:?}");
    // Wrong credentials: the token service refuses, the fetch fails as authentication.
    let wrong = OciCredentials::from_data(
        &std::collections::BTreeMap::from([(
            ".dockerconfigjson".to_owned(),
            format!(r#"{{"auths":{{"{addr}":{{"username":"u","password":"x"}}}}}}"#).into_bytes(),
        )]),
        &addr.to_string(),
    )
    .expect("creds");
    let err = fetch(&env, &src, &wrong).expect_err("refused");
    assert!(matches!(err, Error::AuthenticationFailed { .. }), "{err:?}");
}

/// `oras`, built and cached by `scripts/oras` (which `scripts/test` runs).
fn oras() -> std::path::PathBuf {
    let out = std::process::Command::new(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/oras"),
    )
    .output()
    .expect("scripts/oras runs");
    assert!(
        out.status.success(),
        "scripts/oras failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn run_oras(args: &[&str], dir: &std::path::Path) -> String {
    let out = std::process::Command::new(oras())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("oras runs");
    assert!(
        out.status.success(),
        "oras {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn oras_should_read_what_weir_pushes_and_weir_what_oras_pushes() {
    let registry = Registry::start();
    let none = OciCredentials::default();
    let digest = push(
        &registry,
        &none,
        "app",
        "weir",
        &[("deploy/a.yaml", "a: 1\n")],
    );
    let work = tempfile::tempdir().expect("tempdir");
    // oras copies weir's artifact into an OCI layout, verifying every blob's digest.
    let layout = work.path().join("layout");
    run_oras(
        &[
            "copy",
            "--from-plain-http",
            &format!("{}/app:weir", registry.host),
            "--to-oci-layout",
            &format!("{}:weir", layout.display()),
        ],
        work.path(),
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json"))
            .expect("json");
    assert_eq!(index["manifests"][0]["digest"], digest.as_str());
    let fetched = run_oras(
        &[
            "manifest",
            "fetch",
            "--plain-http",
            &format!("{}/app:weir", registry.host),
        ],
        work.path(),
    );
    let manifest: serde_json::Value = serde_json::from_str(&fetched).expect("json");
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.cncf.flux.config.v1+json"
    );

    // oras pushes a Flux-shaped artifact (its layers carry a title annotation); weir fetches it.
    let content = tree(&[("deploy/b.yaml", "b: 2\n")]);
    let tgz = work.path().join("content.tar.gz");
    let status = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&tgz)
        .arg("-C")
        .arg(content.path())
        .arg("deploy")
        .status()
        .expect("tar");
    assert!(status.success());
    std::fs::write(work.path().join("config.json"), "{}").expect("config");
    run_oras(
        &[
            "push",
            "--plain-http",
            &format!("{}/app:oras", registry.host),
            "--config",
            "config.json:application/vnd.cncf.flux.config.v1+json",
            "content.tar.gz:application/vnd.cncf.flux.content.v1.tar+gzip",
        ],
        work.path(),
    );
    let env = env();
    let outcome = fetch(&env, &source(&registry, "app", tag("oras")), &none).expect("fetch");
    assert!(outcome.revision().to_string().starts_with("oras@sha256:"));
    assert_eq!(
        files_of(&outcome.artifact().expect("stored").path),
        vec![("deploy/b.yaml".to_owned(), "b: 2\n".to_owned())]
    );
}

/// An ECDSA P-256 key pair made by openssl: `(private PEM path, public PEM bytes)`.
fn cosign_key(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, Vec<u8>) {
    let key = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let (k, p) = (key.display().to_string(), public.display().to_string());
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        &k,
    ]);
    run(&["ec", "-in", &k, "-pubout", "-out", &p]);
    (key, std::fs::read(public).expect("pub"))
}

/// Signs manifest `digest` of `repo` as cosign does (simple signing payload, ECDSA over it,
/// manifest at tag `sha256-<hex>.sig`) with the private key at `key`.
fn cosign_sign(registry: &Registry, repo: &str, digest: &str, key: &std::path::Path) {
    use base64::Engine;
    let dir = tempfile::tempdir().expect("tempdir");
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{}/{repo}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#,
        registry.host
    );
    let payload_path = dir.path().join("payload");
    std::fs::write(&payload_path, &payload).expect("payload");
    let sig_path = dir.path().join("sig");
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .arg("-out")
        .arg(&sig_path)
        .arg(&payload_path)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let signature =
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(&sig_path).expect("sig"));
    let url = OciUrl::parse(&registry.url(repo)).expect("url");
    let c = client(RegistryOptions::default());
    let control = control();
    let none = OciCredentials::default();
    let session = c
        .session(&url, &none, true, true, &control)
        .expect("session");
    let sha = |b: &[u8]| format!("sha256:{:x}", Sha256::digest(b));
    let config = b"{}".to_vec();
    session
        .push_blob(&sha(payload.as_bytes()), Body::Bytes(payload.as_bytes()))
        .expect("payload");
    session
        .push_blob(&sha(&config), Body::Bytes(&config))
        .expect("config");
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": config.len(), "digest": sha(&config)},
        "layers": [{
            "mediaType": weir_source::oci::verify::SIMPLE_SIGNING,
            "size": payload.len(),
            "digest": sha(payload.as_bytes()),
            "annotations": {weir_source::oci::verify::SIGNATURE_ANNOTATION: signature},
        }],
    });
    session
        .put_manifest(
            &weir_source::oci::verify::signature_tag(digest),
            manifest::OCI_MANIFEST,
            &serde_json::to_vec(&manifest).expect("json"),
        )
        .expect("signature manifest");
}

#[test]
fn cosign_signatures_should_be_verified_before_download() {
    let registry = Registry::start();
    let none = OciCredentials::default();
    let keys = tempfile::tempdir().expect("tempdir");
    let (good_key, good_pub) = cosign_key(keys.path(), "good");
    let (other_key, _) = cosign_key(keys.path(), "other");
    let signed = push(&registry, &none, "app", "signed", &[("a.yaml", "a: 1\n")]);
    cosign_sign(&registry, "app", &signed, &good_key);
    let forged = push(&registry, &none, "app", "forged", &[("a.yaml", "a: 2\n")]);
    cosign_sign(&registry, "app", &forged, &other_key);
    push(&registry, &none, "app", "unsigned", &[("a.yaml", "a: 3\n")]);
    let env = env();
    let verified = |t: &str| OciSource {
        verify: Some(weir_source::oci::Verify {
            provider: "cosign".into(),
            keys: vec![good_pub.clone()],
        }),
        ..source(&registry, "app", tag(t))
    };
    let outcome = fetch(&env, &verified("signed"), &none).expect("verifies");
    assert_eq!(outcome.revision().to_string(), format!("signed@{signed}"));
    let err = fetch(&env, &verified("forged"), &none).expect_err("wrong key");
    assert_eq!(err.reason(), "VerificationError");
    assert!(
        err.to_string()
            .contains(&format!("no signature of {forged} verifies")),
        "{err}"
    );
    let err = fetch(&env, &verified("unsigned"), &none).expect_err("no signature");
    assert!(
        err.to_string()
            .contains("no cosign signature at tag sha256-"),
        "{err}"
    );
    // Nothing but the verified artifact was stored.
    assert_eq!(
        std::fs::read_dir(env.fetcher.store().root().join("sha256"))
            .expect("dir")
            .count(),
        1
    );
}
