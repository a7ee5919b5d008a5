//! Misbehaving Git servers (issue 14): endless ref listings, slow drips, corrupt packs, files over
//! the blob limit, symlinks in the tree, and redirects across origins.

use std::{
    io::Write,
    net::TcpStream,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use weir_source::{
    ArtifactStore, BudgetConfig, ClientOptions, Credentials, Fetcher, GitClient, GitRef,
    HostBudgets, Outcome, Request,
    clock::SystemClock,
    fetch::{self, Error},
    metrics::Metrics,
    store,
};

use crate::support::{Fixture, HttpGitServer, RawServer, git, pkt, read_head};

struct Client {
    store_dir: tempfile::TempDir,
    fetcher: Fetcher<GitClient>,
}

fn client(timeout: Duration, options: ClientOptions) -> Client {
    let store_dir = tempfile::tempdir().expect("tempdir");
    let store =
        Arc::new(ArtifactStore::open(store_dir.path(), store::Options::default()).expect("store"));
    let clock = Arc::new(SystemClock::default());
    let metrics = Arc::new(Metrics::default());
    let budgets = Arc::new(HostBudgets::new(clock.clone(), BudgetConfig::default()));
    let client = GitClient::new(budgets, metrics.clone(), options);
    let fetcher = Fetcher::new(
        client,
        store,
        metrics,
        clock,
        fetch::Options {
            timeout,
            listing_ttl: Duration::ZERO,
            ..Default::default()
        },
    );
    Client { store_dir, fetcher }
}

impl Client {
    fn fetch(&self, url: &str, credentials: &Credentials) -> Result<Outcome, Error> {
        self.fetcher.fetch(
            &Request {
                url,
                reference: &GitRef::default(),
                credentials,
                ignore: None,
                last_revision: None,
                object: None,
            },
            &Arc::new(std::sync::atomic::AtomicBool::new(false)),
        )
    }

    /// Nothing left behind: no work directory, no temp file, no artifact.
    fn assert_clean(&self) {
        for dir in ["tmp", "sha256"] {
            let left: Vec<_> = std::fs::read_dir(self.store_dir.path().join(dir))
                .expect("dir")
                .collect();
            assert!(left.is_empty(), "{dir} holds {left:?}");
        }
    }
}

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// Writes a v0 advertisement head, then `line(i)` for i = 0.. until the client goes away, the
/// stream reaches `max_bytes` or `max_time` passes (the loop always ends by itself).
fn advertise_forever(
    mut stream: TcpStream,
    pause: Duration,
    max_bytes: usize,
    max_time: Duration,
    line: impl Fn(usize) -> Vec<u8>,
) {
    let _ = read_head(&mut stream);
    let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-git-upload-pack-advertisement\r\nConnection: close\r\n\r\n".to_vec();
    out.extend(pkt("# service=git-upload-pack\n"));
    out.extend(b"0000");
    if stream.write_all(&out).is_err() {
        return;
    }
    let started = Instant::now();
    let mut sent = 0usize;
    for i in 0.. {
        if sent > max_bytes || started.elapsed() > max_time {
            return;
        }
        let bytes = line(i);
        sent += bytes.len();
        if stream.write_all(&bytes).is_err() {
            return;
        }
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
}

fn ref_line(i: usize) -> Vec<u8> {
    if i == 0 {
        pkt(&format!(
            "{SHA} refs/heads/master\0multi_ack shallow side-band-64k\n"
        ))
    } else {
        pkt(&format!("{SHA} refs/heads/branch-{i:012}\n"))
    }
}

#[test]
fn endless_ref_advertisement_should_stop_at_the_listing_limit() {
    let server = RawServer::start(|stream| {
        advertise_forever(
            stream,
            Duration::ZERO,
            512 << 20,
            Duration::from_secs(60),
            ref_line,
        )
    });
    let client = client(
        Duration::from_secs(60),
        ClientOptions {
            max_listing_size: 1 << 20,
            ..ClientOptions::default()
        },
    );
    let err = client
        .fetch(&server.url(), &Credentials::default())
        .expect_err("endless");
    assert!(
        matches!(
            err,
            Error::ResponseTooLarge {
                what: "ref listing",
                limit: 1048576,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "http://{}/repo.git sent a ref listing larger than the limit of 1048576 bytes",
            server.addr
        )
    );
    client.assert_clean();
}

#[test]
fn slow_drip_should_time_out_and_leave_nothing() {
    let server = RawServer::start(|stream| {
        advertise_forever(
            stream,
            Duration::from_millis(200),
            1 << 20,
            Duration::from_secs(30),
            ref_line,
        )
    });
    let client = client(Duration::from_secs(2), ClientOptions::default());
    let err = client
        .fetch(&server.url(), &Credentials::default())
        .expect_err("too slow");
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(err.is_transient());
    client.assert_clean();
}

fn served(fixture_dir: &Path) -> (tempfile::TempDir, HttpGitServer) {
    let root = tempfile::tempdir().expect("tempdir");
    let dest = root.path().join("repo.git");
    git(
        root.path(),
        &[
            "clone",
            "-q",
            "--bare",
            &fixture_dir.display().to_string(),
            &dest.display().to_string(),
        ],
    );
    let server = HttpGitServer::start(root.path());
    (root, server)
}

#[test]
fn corrupt_pack_should_fail_and_store_nothing() {
    let fixture = Fixture::new();
    let (_root, server) = served(fixture.work.path());
    server.set(|b| b.corrupt_pack = true);
    let client = client(Duration::from_secs(30), ClientOptions::default());
    let err = client
        .fetch(&server.url("repo"), &Credentials::default())
        .expect_err("corrupt");
    assert!(matches!(err, Error::Git { .. }), "{err:?}");
    assert_eq!(err.reason(), "GitOperationFailed");
    client.assert_clean();
}

/// A repository whose only commit holds `files` (path, content) and `links` (path, target).
fn repo_with(files: &[(&str, &[u8])], links: &[(&str, &str)]) -> tempfile::TempDir {
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    git(w, &["init", "-q", "-b", "master"]);
    for (path, content) in files {
        let p = w.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, content).expect("write");
    }
    for (path, target) in links {
        let p = w.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::os::unix::fs::symlink(target, p).expect("symlink");
    }
    git(w, &["add", "-A"]);
    git(w, &["commit", "-qm", "one"]);
    work
}

#[test]
fn file_over_the_blob_limit_should_be_refused_before_it_is_inflated() {
    let big = vec![0u8; 16 << 20];
    let work = repo_with(&[("small.yaml", b"a: 1\n"), ("big.bin", &big)], &[]);
    let (_root, server) = served(work.path());
    let client = client(
        Duration::from_secs(60),
        ClientOptions {
            max_blob_size: 4 << 20,
            ..ClientOptions::default()
        },
    );
    let err = client
        .fetch(&server.url("repo"), &Credentials::default())
        .expect_err("too large");
    assert!(
        matches!(err, Error::BlobTooLarge { limit: 4194304, .. }),
        "{err:?}"
    );
    assert!(!err.is_transient());
    client.assert_clean();
}

#[test]
fn symlinks_should_be_left_out_of_artifacts() {
    let work = repo_with(
        &[("apps/deploy.yaml", b"kind: Deployment\n")],
        &[
            ("passwd", "/etc/passwd"),
            ("up", "../../"),
            ("apps/inner", "deploy.yaml"),
        ],
    );
    let (_root, server) = served(work.path());
    let client = client(Duration::from_secs(30), ClientOptions::default());
    let outcome = client
        .fetch(&server.url("repo"), &Credentials::default())
        .expect("fetches");
    let artifact = outcome.artifact().expect("stored");
    let file = std::fs::File::open(&artifact.path).expect("artifact");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let entries: Vec<(String, tar::EntryType)> = archive
        .entries()
        .expect("tar")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.path().expect("path").display().to_string(),
                e.header().entry_type(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        vec![("apps/deploy.yaml".to_owned(), tar::EntryType::Regular)]
    );
}

fn basic(user: &str, password: &str) -> Credentials {
    let mut data = std::collections::BTreeMap::new();
    data.insert("username".to_owned(), user.as_bytes().to_vec());
    data.insert("password".to_owned(), password.as_bytes().to_vec());
    Credentials::from_data(&data).expect("valid")
}

#[test]
fn credentials_should_never_follow_a_redirect_to_another_origin() {
    let fixture = Fixture::new();
    // The real repository, on another port (another origin), wanting credentials.
    let (_root, target) = served(fixture.work.path());
    target.set(|b| b.basic = Some(("u".into(), "p".into())));
    let empty = tempfile::tempdir().expect("tempdir");
    let origin = HttpGitServer::start(empty.path());
    origin.set(|b| b.redirect_to = Some(format!("http://{}", target.addr)));
    let client = client(Duration::from_secs(30), ClientOptions::default());

    let err = client
        .fetch(&origin.url("repo"), &basic("u", "p"))
        .expect_err("refused");
    assert!(matches!(err, Error::CrossOriginRedirect { .. }), "{err:?}");
    assert_eq!(err.reason(), "AuthenticationFailed");
    assert!(
        err.to_string().contains(&format!(
            "redirected to another origin (http://127.0.0.1:{})",
            target.addr.port()
        )),
        "{err}"
    );
    assert!(origin.count("+auth") >= 1, "sent to the configured origin");
    assert_eq!(
        target.count("+auth"),
        0,
        "never sent elsewhere: {:?}",
        target.requests()
    );

    // A public target is fetched, still without the credentials.
    target.set(|b| b.basic = None);
    let outcome = client
        .fetch(&origin.url("repo"), &basic("u", "p"))
        .expect("follows without credentials");
    assert!(outcome.artifact().is_some());
    assert_eq!(target.count("+auth"), 0, "{:?}", target.requests());
}

#[test]
fn credentials_should_follow_a_redirect_within_the_origin() {
    let fixture = Fixture::new();
    let root = tempfile::tempdir().expect("tempdir");
    fixture.publish(root.path(), "new");
    let server = HttpGitServer::start(root.path());
    server.set(|b| {
        b.basic = Some(("u".into(), "p".into()));
        b.rename = Some(("old.git".into(), "new.git".into()));
    });
    let client = client(Duration::from_secs(30), ClientOptions::default());
    let outcome = client
        .fetch(&server.url("old"), &basic("u", "p"))
        .expect("same origin");
    assert!(outcome.artifact().is_some());
    assert!(server.count("/new.git/info/refs?service=git-upload-pack +auth") >= 1);
}

#[test]
fn an_enormous_timeout_should_not_overflow() {
    let fixture = Fixture::new();
    let (_root, server) = served(fixture.work.path());
    let client = client(Duration::MAX, ClientOptions::default());
    let outcome = client
        .fetch(&server.url("repo"), &Credentials::default())
        .expect("fetches");
    assert!(outcome.artifact().is_some());
}
