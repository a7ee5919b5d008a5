//! The async adapter: fetches on the blocking pool, progress, cancellation by drop, requeue times.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use weir_source::{
    ArtifactStore, AsyncFetcher, BudgetConfig, ClientOptions, Credentials, Fetcher, GitClient,
    GitRef, GitSource, HostBudgets, Outcome,
    clock::SystemClock,
    fetch,
    metrics::Metrics,
    progress::{Discard, Totals},
    store,
};

use crate::support::{Canned, Fixture, HttpGitServer};

struct Setup {
    fixture: Fixture,
    _root: tempfile::TempDir,
    server: HttpGitServer,
    store_dir: tempfile::TempDir,
    fetcher: AsyncFetcher,
}

fn setup() -> Setup {
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
    // As a controller configures it: never wait out a rate limit inside the fetch.
    let client = GitClient::new(
        budgets,
        metrics.clone(),
        ClientOptions::default().max_retry_wait(Duration::ZERO),
    );
    let options = fetch::Options {
        listing_ttl: Duration::ZERO,
        ..Default::default()
    };
    let fetcher = AsyncFetcher::new(Fetcher::new(client, store, metrics, clock, options));
    Setup {
        fixture,
        _root: root,
        server,
        store_dir,
        fetcher,
    }
}

fn source(setup: &Setup, last: Option<String>) -> GitSource {
    GitSource {
        url: setup.server.url("repo"),
        reference: GitRef {
            branch: Some("main".into()),
            ..GitRef::default()
        },
        last_revision: last,
        object: Some("GitRepository/default/repo".into()),
        ..GitSource::default()
    }
}

fn entries(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).expect("dir").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_fetch_should_store_report_progress_then_answer_unchanged() {
    let setup = setup();
    let totals = Arc::new(Totals::default());
    let outcome = setup
        .fetcher
        .fetch(
            &source(&setup, None),
            &Credentials::default(),
            totals.clone(),
        )
        .await
        .expect("fetches");
    let Outcome::Fetched { revision, artifact } = outcome else {
        panic!("expected a new artifact, got {outcome:?}");
    };
    assert_eq!(
        revision.to_string(),
        format!("main@sha1:{}", setup.fixture.commit("two"))
    );
    assert_eq!(artifact.digest.algorithm, "sha256");
    assert!(totals.bytes.load(Ordering::Relaxed) > 0, "bytes reported");
    assert!(
        totals.objects.load(Ordering::Relaxed) >= 3,
        "commit, trees, blobs"
    );
    assert!(totals.files.load(Ordering::Relaxed) >= 2, "files written");

    let again = setup
        .fetcher
        .fetch(
            &source(&setup, Some(revision.to_string())),
            &Credentials::default(),
            Arc::new(Discard),
        )
        .await
        .expect("lists");
    assert_eq!(again, Outcome::Unchanged { revision });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_future_should_stop_the_fetch_and_leave_no_files() {
    let setup = setup();
    setup.server.set(|b| b.delay = Duration::from_secs(2));
    let fetch = setup.fetcher.fetch(
        &source(&setup, None),
        &Credentials::default(),
        Arc::new(Discard),
    );
    // Cancelled (dropped) while the first request is in flight.
    let cancelled = tokio::time::timeout(Duration::from_millis(500), fetch).await;
    assert!(cancelled.is_err(), "still running when dropped");
    // The blocking work sees the flag at its next read, after the server's reply arrives.
    for _ in 0..100 {
        if entries(&setup.store_dir.path().join("tmp")) == 0 && setup.server.requests().len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        entries(&setup.store_dir.path().join("tmp")),
        0,
        "no work dir left"
    );
    assert_eq!(
        entries(&setup.store_dir.path().join("sha256")),
        0,
        "nothing stored"
    );
    assert_eq!(
        setup.server.count("POST"),
        0,
        "no request after the interrupt: {:?}",
        setup.server.requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_should_come_back_as_a_requeue_time_without_waiting() {
    let setup = setup();
    setup.server.set(|b| {
        b.canned.push_back(Canned {
            status: 429,
            headers: vec![("Retry-After".into(), "120".into())],
        });
    });
    let err = setup
        .fetcher
        .fetch(
            &source(&setup, None),
            &Credentials::default(),
            Arc::new(Discard),
        )
        .await
        .expect_err("rate limited");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)), "{err}");
    assert!(err.is_transient());
    assert_eq!(err.reason(), "GitOperationFailed");
    assert_eq!(
        setup.server.requests().len(),
        1,
        "no retry inside the fetch"
    );
}
