//! weir-source against real Git servers on loopback.

mod support;

use std::{
    collections::BTreeMap,
    sync::{Arc, atomic::AtomicBool},
    time::{Duration, Instant},
};

use support::{Canned, Fixture, HttpGitServer};
use weir_source::{
    ArtifactStore, BudgetConfig, ClientOptions, Credentials, Fetcher, GitClient, GitRef,
    HostBudgets, Outcome, Request,
    clock::SystemClock,
    fetch::{self, Error},
    metrics::Metrics,
    store,
};

struct Env {
    fixture: Fixture,
    _root: tempfile::TempDir,
    server: HttpGitServer,
    _store_dir: tempfile::TempDir,
    fetcher: Fetcher<GitClient>,
}

fn env_with(options: fetch::Options, client: ClientOptions) -> Env {
    let fixture = Fixture::new();
    let root = tempfile::tempdir().expect("tempdir");
    fixture.publish(root.path(), "repo");
    let server = HttpGitServer::start(root.path());
    let store_dir = tempfile::tempdir().expect("tempdir");
    let store =
        Arc::new(ArtifactStore::open(store_dir.path(), store::Options::default()).expect("store"));
    let clock = Arc::new(SystemClock::default());
    let metrics = Arc::new(Metrics::default());
    let budgets = Arc::new(HostBudgets::new(clock.clone(), BudgetConfig::default()));
    let client = GitClient::new(budgets, metrics.clone(), client);
    let fetcher = Fetcher::new(client, store, metrics, clock, options);
    Env {
        fixture,
        _root: root,
        server,
        _store_dir: store_dir,
        fetcher,
    }
}

fn env() -> Env {
    env_with(
        fetch::Options {
            listing_ttl: Duration::ZERO,
            ..Default::default()
        },
        ClientOptions::default(),
    )
}

fn no_interrupt() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

fn fetch_ref(
    env: &Env,
    reference: GitRef,
    creds: &Credentials,
    last: Option<&str>,
) -> Result<Outcome, Error> {
    let url = env.server.url("repo");
    env.fetcher.fetch(
        &Request {
            url: &url,
            reference: &reference,
            credentials: creds,
            ignore: None,
            last_revision: last,
            object: Some("GitRepository/default/repo"),
        },
        &no_interrupt(),
    )
}

fn files_of(artifact: &weir_source::Artifact) -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    weir_source::extract::extract(
        std::fs::File::open(&artifact.path).expect("artifact"),
        dir.path(),
        weir_source::extract::Limits::default(),
    )
    .expect("extracts");
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.path().to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir.path())
                    .expect("inside")
                    .display()
                    .to_string();
                out.insert(rel, std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    out
}

fn fetched(outcome: Outcome) -> (String, weir_source::Artifact) {
    match outcome {
        Outcome::Fetched { revision, artifact } => (revision.to_string(), artifact),
        Outcome::Unchanged { revision } => panic!("expected a fetch, got unchanged {revision}"),
    }
}

fn tmp_is_empty(env: &Env) -> bool {
    std::fs::read_dir(env.fetcher.store().root().join("tmp"))
        .expect("tmp")
        .count()
        == 0
}

#[test]
fn every_kind_of_ref_should_resolve_like_flux() {
    let env = env();
    let none = Credentials::default();
    let f = &env.fixture;
    let cases: Vec<(GitRef, String)> = vec![
        (
            GitRef::default(),
            format!("master@sha1:{}", f.commit("three")),
        ),
        (
            GitRef {
                branch: Some("main".into()),
                ..Default::default()
            },
            format!("main@sha1:{}", f.commit("two")),
        ),
        (
            GitRef {
                branch: Some("feature/x".into()),
                ..Default::default()
            },
            format!("feature/x@sha1:{}", f.commit("feature")),
        ),
        (
            GitRef {
                tag: Some("v1.0.0".into()),
                ..Default::default()
            },
            format!("v1.0.0@sha1:{}", f.commit("one")),
        ),
        (
            GitRef {
                tag: Some("v1.1.0".into()),
                ..Default::default()
            },
            format!("v1.1.0@sha1:{}", f.commit("two")),
        ),
        (
            GitRef {
                semver: Some("~1".into()),
                ..Default::default()
            },
            format!("v1.1.0@sha1:{}", f.commit("two")),
        ),
        (
            GitRef {
                semver: Some(">=2.0.0-0".into()),
                ..Default::default()
            },
            format!("v2.0.0-rc.1@sha1:{}", f.commit("feature")),
        ),
        (
            GitRef {
                name: Some("refs/pull/1/head".into()),
                ..Default::default()
            },
            format!("refs/pull/1/head@sha1:{}", f.commit("feature")),
        ),
        (
            GitRef {
                name: Some("refs/heads/main".into()),
                ..Default::default()
            },
            format!("refs/heads/main@sha1:{}", f.commit("two")),
        ),
        (
            GitRef {
                commit: Some(f.commit("one").into()),
                ..Default::default()
            },
            format!("sha1:{}", f.commit("one")),
        ),
        (
            GitRef {
                branch: Some("main".into()),
                commit: Some(f.commit("one").into()),
                ..Default::default()
            },
            format!("main@sha1:{}", f.commit("one")),
        ),
    ];
    for (reference, expected) in cases {
        let (revision, artifact) =
            fetched(fetch_ref(&env, reference.clone(), &none, None).expect("fetches"));
        assert_eq!(revision, expected, "{reference:?}");
        let files = files_of(&artifact);
        assert!(
            files.contains_key("apps/deploy.yaml"),
            "{reference:?}: {files:?}"
        );
        assert!(
            !files.contains_key("logo.png") && !files.keys().any(|k| k.starts_with(".github")),
            "defaults excluded"
        );
        assert!(artifact.digest.algorithm == "sha256" && artifact.path.exists());
    }
    let (_, artifact) = fetched(fetch_ref(&env, GitRef::default(), &none, None).expect("fetches"));
    assert_eq!(
        files_of(&artifact)["apps/deploy.yaml"],
        "kind: Deployment\nv: 3\n"
    );
    assert!(tmp_is_empty(&env));
}

#[test]
fn unchanged_revision_should_skip_the_fetch() {
    let env = env();
    let none = Credentials::default();
    let (revision, first) =
        fetched(fetch_ref(&env, GitRef::default(), &none, None).expect("fetches"));
    let posts_before = env.server.count("POST");
    let outcome = fetch_ref(&env, GitRef::default(), &none, Some(&revision)).expect("lists");
    assert!(matches!(outcome, Outcome::Unchanged { .. }), "{outcome:?}");
    assert_eq!(
        env.server.count("POST") - posts_before,
        1,
        "only ls-refs: {:?}",
        env.server.requests()
    );
    // Same tree, same bytes: a re-fetch gives the same digest.
    let (_, again) = fetched(fetch_ref(&env, GitRef::default(), &none, None).expect("fetches"));
    assert_eq!(first.digest, again.digest);
    assert_eq!(
        env.fetcher
            .metrics()
            .fetches_skipped_unchanged
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // A bare commit already fetched needs no remote call at all.
    let commit = env.fixture.commit("one").to_owned();
    let requests = env.server.requests().len();
    let reference = GitRef {
        commit: Some(commit.clone()),
        ..Default::default()
    };
    let outcome =
        fetch_ref(&env, reference, &none, Some(&format!("sha1:{commit}"))).expect("no call");
    assert!(matches!(outcome, Outcome::Unchanged { .. }));
    assert_eq!(env.server.requests().len(), requests);
}

#[test]
fn missing_refs_should_fail_with_near_names() {
    let env = env();
    let none = Credentials::default();
    let err = fetch_ref(
        &env,
        GitRef {
            branch: Some("mian".into()),
            ..Default::default()
        },
        &none,
        None,
    )
    .expect_err("missing");
    assert_eq!(
        err.to_string(),
        format!(
            "no branch named \"mian\" (similar: main) on {}",
            env.server.url("repo")
        )
    );
    assert!(!err.is_transient());
    let err = fetch_ref(
        &env,
        GitRef {
            semver: Some(">=9".into()),
            ..Default::default()
        },
        &none,
        None,
    )
    .expect_err("none");
    assert!(matches!(err, Error::RefNotFound { .. }), "{err:?}");
    let bogus = "0123456789012345678901234567890123456789";
    let err = fetch_ref(
        &env,
        GitRef {
            commit: Some(bogus.into()),
            ..Default::default()
        },
        &none,
        None,
    )
    .expect_err("no such commit");
    assert!(!err.to_string().is_empty());
    assert!(tmp_is_empty(&env));
}

fn basic(user: &str, password: &str) -> Credentials {
    let data = [("username", user), ("password", password)]
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
    Credentials::from_data(&data).expect("valid")
}

#[test]
fn basic_and_bearer_auth_should_work_and_fail_clearly() {
    let env = env();
    env.server
        .set(|b| b.basic = Some(("git".into(), "s3cret-pass".into())));
    let (revision, _) = fetched(
        fetch_ref(&env, GitRef::default(), &basic("git", "s3cret-pass"), None).expect("authorised"),
    );
    assert!(revision.starts_with("master@sha1:"));
    let err =
        fetch_ref(&env, GitRef::default(), &basic("git", "wrong-pass"), None).expect_err("refused");
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
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains("wrong-pass") && !shown.contains("s3cret"),
        "{shown}"
    );
    assert_eq!(err.reason(), "AuthenticationFailed");
    let err =
        fetch_ref(&env, GitRef::default(), &Credentials::default(), None).expect_err("no creds");
    assert!(matches!(err, Error::AuthenticationFailed { .. }), "{err:?}");

    env.server.set(|b| {
        b.basic = None;
        b.bearer = Some("tok-123".into());
    });
    let data = [("bearerToken".to_string(), b"tok-123".to_vec())]
        .into_iter()
        .collect();
    let creds = Credentials::from_data(&data).expect("valid");
    fetched(fetch_ref(&env, GitRef::default(), &creds, None).expect("bearer works"));
    // Credentials in the URL never show up in errors.
    let url = format!("http://user:url-secret@{}/nope.git", env.server.addr);
    let reference = GitRef::default();
    let err = env
        .fetcher
        .fetch(
            &Request {
                url: &url,
                reference: &reference,
                credentials: &creds,
                ignore: None,
                last_revision: None,
                object: None,
            },
            &no_interrupt(),
        )
        .expect_err("no such repo");
    assert!(!format!("{err} {err:?}").contains("url-secret"), "{err:?}");
}

#[test]
fn rate_limit_with_retry_after_should_be_waited_out() {
    let env = env();
    env.server.set(|b| {
        b.canned.push_back(Canned {
            status: 429,
            headers: vec![("Retry-After".into(), "1".into())],
        });
    });
    let started = Instant::now();
    fetched(fetch_ref(&env, GitRef::default(), &Credentials::default(), None).expect("retried"));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited for Retry-After"
    );
    let host = env.server.addr.to_string();
    let hosts = env
        .fetcher
        .metrics()
        .hosts_snapshot(|h| env.fetcher.client().budgets().remaining(h));
    assert_eq!(hosts[&host].rate_limited, 1);
    assert!(hosts[&host].remaining_budget < 500);
}

#[test]
fn rate_limit_longer_than_allowed_should_fail_transiently_with_the_hint() {
    let env = env_with(
        fetch::Options {
            listing_ttl: Duration::ZERO,
            ..Default::default()
        },
        ClientOptions {
            max_retry_wait: Duration::from_secs(2),
            ..Default::default()
        },
    );
    env.server.set(|b| {
        b.canned.push_back(Canned {
            status: 403,
            headers: vec![
                ("x-ratelimit-remaining".into(), "0".into()),
                ("Retry-After".into(), "120".into()),
            ],
        });
    });
    let started = Instant::now();
    let err =
        fetch_ref(&env, GitRef::default(), &Credentials::default(), None).expect_err("limited");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        matches!(err, Error::RateLimited { status: 403, .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    // The host is now deferred: the next call does not even reach the server.
    let before = env.server.requests().len();
    let err =
        fetch_ref(&env, GitRef::default(), &Credentials::default(), None).expect_err("deferred");
    assert!(matches!(err, Error::BudgetExhausted { .. }), "{err:?}");
    assert_eq!(env.server.requests().len(), before);
}

#[test]
fn slow_server_should_time_out_without_hanging_or_leaving_files() {
    let env = env_with(
        fetch::Options {
            timeout: Duration::from_secs(2),
            listing_ttl: Duration::ZERO,
            ..Default::default()
        },
        ClientOptions::default(),
    );
    env.server.set(|b| b.delay = Duration::from_secs(5));
    let started = Instant::now();
    let err =
        fetch_ref(&env, GitRef::default(), &Credentials::default(), None).expect_err("too slow");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(tmp_is_empty(&env));
    // Slow but within the timeout still works.
    env.server.set(|b| b.delay = Duration::from_millis(300));
    fetched(
        fetch_ref(&env, GitRef::default(), &Credentials::default(), None).expect("slow is fine"),
    );
}

#[test]
fn connection_dropped_mid_pack_should_fail_and_store_nothing() {
    let env = env();
    env.server.set(|b| b.drop_pack_after = Some(200));
    let started = Instant::now();
    let err =
        fetch_ref(&env, GitRef::default(), &Credentials::default(), None).expect_err("dropped");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(err.is_transient(), "{err:?}");
    assert!(tmp_is_empty(&env));
    assert_eq!(
        std::fs::read_dir(env.fetcher.store().root().join("sha256"))
            .expect("dir")
            .count(),
        0
    );
    env.server.set(|b| b.drop_pack_after = None);
    fetched(fetch_ref(&env, GitRef::default(), &Credentials::default(), None).expect("recovers"));
}

#[test]
fn concurrent_callers_should_share_one_remote_call() {
    let env = Arc::new(env_with(
        fetch::Options::default(),
        ClientOptions::default(),
    ));
    env.server.set(|b| b.delay = Duration::from_millis(300));
    let gate = Arc::new(std::sync::Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (env, gate) = (env.clone(), gate.clone());
            std::thread::spawn(move || {
                gate.wait();
                fetched(
                    fetch_ref(&env, GitRef::default(), &Credentials::default(), None)
                        .expect("fetches"),
                )
                .1
                .digest
            })
        })
        .collect();
    let digests: Vec<weir_source::Digest> = handles
        .into_iter()
        .map(|h| h.join().expect("no panic"))
        .collect();
    assert!(digests.windows(2).all(|w| w[0] == w[1]));
    let listings = env.server.count("info/refs");
    assert_eq!(
        listings,
        1,
        "one fetch, its own ls-refs naming the commit: {:?}",
        env.server.requests()
    );
}

#[test]
fn renamed_repository_redirect_should_be_followed_once() {
    let env = env();
    env.server
        .set(|b| b.rename = Some(("old.git".into(), "repo.git".into())));
    let url = env.server.url("old");
    let reference = GitRef::default();
    let outcome = env
        .fetcher
        .fetch(
            &Request {
                url: &url,
                reference: &reference,
                credentials: &Credentials::default(),
                ignore: None,
                last_revision: None,
                object: None,
            },
            &no_interrupt(),
        )
        .expect("follows the redirect");
    fetched(outcome);
    let posts_to_old = env
        .server
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST /old.git"))
        .count();
    assert_eq!(posts_to_old, 0, "{:?}", env.server.requests());
}

#[test]
fn new_commits_should_be_fetched_after_the_listing_ttl() {
    let env = env();
    let none = Credentials::default();
    let (first, _) = fetched(fetch_ref(&env, GitRef::default(), &none, None).expect("fetches"));
    let published = env.server.root.join("repo.git");
    let new = env.fixture.push_new_commit(&published);
    let (second, artifact) =
        fetched(fetch_ref(&env, GitRef::default(), &none, Some(&first)).expect("changed"));
    assert_eq!(second, format!("master@sha1:{new}"));
    assert!(files_of(&artifact).contains_key("apps/new.yaml"));
}

#[test]
fn sourceignore_and_spec_ignore_should_shape_the_artifact() {
    let env = env();
    let w = env.fixture.work.path();
    std::fs::write(w.join(".sourceignore"), "*.md\n").expect("write");
    std::fs::write(w.join("apps/.sourceignore"), "/feature.yaml\n").expect("write");
    support::git(w, &["add", "-A"]);
    support::git(w, &["commit", "-qm", "ignore"]);
    support::git(
        w,
        &[
            "push",
            "-q",
            "--force",
            &env.server.root.join("repo.git").display().to_string(),
            "master",
        ],
    );
    let (_, artifact) = fetched(
        fetch_ref(&env, GitRef::default(), &Credentials::default(), None).expect("fetches"),
    );
    let files = files_of(&artifact);
    assert!(!files.contains_key("README.md"));
    assert!(
        files.contains_key("logo.png"),
        "user patterns replace the defaults, as in Flux"
    );
    let url = env.server.url("repo");
    let reference = GitRef::default();
    let outcome = env
        .fetcher
        .fetch(
            &Request {
                url: &url,
                reference: &reference,
                credentials: &Credentials::default(),
                ignore: Some("/*\n!/apps/\n"),
                last_revision: None,
                object: None,
            },
            &no_interrupt(),
        )
        .expect("fetches");
    let files = files_of(&fetched(outcome).1);
    assert!(files.keys().all(|k| k.starts_with("apps/")), "{files:?}");
}

#[test]
fn artifact_over_the_size_limit_should_fail_clearly() {
    let fixture = Fixture::new();
    let root = tempfile::tempdir().expect("tempdir");
    fixture.publish(root.path(), "repo");
    let server = HttpGitServer::start(root.path());
    let store_dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        ArtifactStore::open(
            store_dir.path(),
            store::Options {
                max_artifact_size: 100,
            },
        )
        .expect("store"),
    );
    let clock = Arc::new(SystemClock::default());
    let metrics = Arc::new(Metrics::default());
    let client = GitClient::new(
        Arc::new(HostBudgets::new(clock.clone(), BudgetConfig::default())),
        metrics.clone(),
        ClientOptions::default(),
    );
    let fetcher = Fetcher::new(client, store, metrics, clock, fetch::Options::default());
    let url = server.url("repo");
    let reference = GitRef::default();
    let err = fetcher
        .fetch(
            &Request {
                url: &url,
                reference: &reference,
                credentials: &Credentials::default(),
                ignore: None,
                last_revision: None,
                object: None,
            },
            &no_interrupt(),
        )
        .expect_err("too large");
    assert!(
        err.to_string()
            .ends_with("artifact exceeds the size limit of 100 bytes"),
        "{err}"
    );
    assert!(!err.is_transient());
    assert_eq!(
        std::fs::read_dir(store_dir.path().join("tmp"))
            .expect("tmp")
            .count(),
        0
    );
}

mod github_app;
mod hostile;
mod proptests;

mod shared;
mod simulation;
mod ssh;
mod tls_server;

#[test]
fn https_with_the_secrets_ca_should_verify_and_without_it_fail_clearly() {
    let fixture = Fixture::new();
    let root = tempfile::tempdir().expect("tempdir");
    fixture.publish(root.path(), "repo");
    let server = tls_server::HttpsGitServer::start(root.path());
    server.behaviour.lock().expect("b").basic = Some(("git".into(), "over-tls".into()));
    let env = env();
    let url = server.url("repo");
    let reference = GitRef::default();
    let fetch = |creds: &Credentials| {
        env.fetcher.fetch(
            &Request {
                url: &url,
                reference: &reference,
                credentials: creds,
                ignore: None,
                last_revision: None,
                object: None,
            },
            &no_interrupt(),
        )
    };
    let data = [
        ("username", "git"),
        ("password", "over-tls"),
        ("ca.crt", server.ca_pem.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
    .collect();
    let with_ca = Credentials::from_data(&data).expect("valid");
    let (revision, _) = fetched(fetch(&with_ca).expect("trusted through ca.crt"));
    assert_eq!(revision, format!("master@sha1:{}", fixture.commit("three")));
    let err = fetch(&basic("git", "over-tls")).expect_err("unknown issuer");
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert!(err.to_string().contains(&url), "{err}");
    assert!(!format!("{err:?}").contains("over-tls"));
}

#[test]
fn raising_the_interrupt_flag_should_stop_a_waiting_fetch() {
    let env = env();
    env.server.set(|b| {
        b.canned.push_back(Canned {
            status: 429,
            headers: vec![("Retry-After".into(), "20".into())],
        });
    });
    let interrupt = no_interrupt();
    let flag = interrupt.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let url = env.server.url("repo");
    let reference = GitRef::default();
    let started = Instant::now();
    let err = env
        .fetcher
        .fetch(
            &Request {
                url: &url,
                reference: &reference,
                credentials: &Credentials::default(),
                ignore: None,
                last_revision: None,
                object: None,
            },
            &interrupt,
        )
        .expect_err("interrupted");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, Error::Interrupted { .. }), "{err:?}");
    assert!(tmp_is_empty(&env));
}
