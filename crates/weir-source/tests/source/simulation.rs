//! 500 GitRepositories over 50 URLs, polled every minute for an hour of simulated time.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    path::Path,
    sync::{Arc, Mutex, atomic::AtomicBool},
    time::Duration,
};

use weir_source::{
    ArtifactStore, BudgetConfig, Credentials, Fetcher, GitRef, HostBudgets, Outcome, Request,
    clock::{Clock, ManualClock},
    fetch::{self, Error},
    metrics::Metrics,
    reference::RemoteRef,
    remote::{Control, Remote, RemoteClient, Scope, Want},
    store,
    tree::{FetchedTree, MemoryTree},
};

/// A fake remote: every URL has `main`, `dev` and tags; `main` moves every 10 minutes. Each listing
/// and fetch spends budget exactly as the HTTP client does (2 and 3 requests).
struct SimRemote {
    clock: Arc<ManualClock>,
    budgets: Arc<HostBudgets>,
    /// Per host: times of every request sent.
    sent: Mutex<HashMap<String, Vec<Duration>>>,
    listings_by_minute: Mutex<BTreeMap<u64, u32>>,
}

impl SimRemote {
    fn spend(&self, host: &str, n: u32) -> Result<(), Error> {
        self.budgets
            .try_acquire(host, n)
            .map_err(|budget| Error::BudgetExhausted {
                url: weir_source::redact::RedactedUrl::new(host),
                budget,
            })?;
        let now = self.clock.now();
        self.sent
            .lock()
            .expect("sent")
            .entry(host.to_owned())
            .or_default()
            .extend((0..n).map(|_| now));
        Ok(())
    }

    fn refs(&self, url: &str) -> Vec<RemoteRef> {
        let r = |name: &str, target: String| RemoteRef {
            name: name.into(),
            target,
            peeled: None,
        };
        vec![
            r("refs/heads/main", self.head(url)),
            r("refs/heads/dev", format!("{:040x}", 7)),
            r("refs/tags/v1.0.0", format!("{:040x}", 8)),
            r("refs/tags/v1.2.0", format!("{:040x}", 9)),
        ]
    }

    fn head(&self, url: &str) -> String {
        let epoch = self.clock.now().as_secs() / 600;
        format!("{:040x}", (url.len() as u64) << 32 | epoch)
    }
}

impl RemoteClient for SimRemote {
    fn list_refs(
        &self,
        remote: &Remote<'_>,
        scope: Scope<'_>,
        _: &Control,
    ) -> Result<Vec<RemoteRef>, Error> {
        assert_eq!(scope, Scope::HeadsAndTags);
        self.spend(remote.host, 2)?;
        *self
            .listings_by_minute
            .lock()
            .expect("m")
            .entry(self.clock.now().as_secs() / 60)
            .or_default() += 1;
        Ok(self.refs(remote.url))
    }

    fn fetch(
        &self,
        remote: &Remote<'_>,
        want: &Want<'_>,
        _: &Path,
        _: &Control,
    ) -> Result<Box<dyn FetchedTree>, Error> {
        self.spend(remote.host, 3)?;
        // Like a real fetch, the ref is resolved by the remote at fetch time.
        let commit = match want.ref_name {
            Some(name) => self
                .refs(remote.url)
                .into_iter()
                .find(|r| r.name == name)
                .map(|r| r.target)
                .expect("simulated refs exist"),
            None => want.commit.to_owned(),
        };
        Ok(Box::new(MemoryTree {
            commit: commit.clone(),
            files: vec![(
                "deploy.yaml".into(),
                format!("commit: {commit}\n").into_bytes(),
            )],
        }))
    }
}

#[test]
fn polling_500_objects_for_an_hour_should_stay_within_listing_and_host_budgets() {
    let clock = Arc::new(ManualClock::default());
    let hour = Duration::from_secs(3600);
    // Three hosts: two with GitHub's default budget, one small enough to be exhausted by demand.
    let budgets = Arc::new(
        HostBudgets::new(clock.clone(), BudgetConfig::default())
            .with_host("tight.example", BudgetConfig::per(400, hour)),
    );
    let sim = SimRemote {
        clock: clock.clone(),
        budgets: budgets.clone(),
        sent: Mutex::new(HashMap::new()),
        listings_by_minute: Mutex::new(BTreeMap::new()),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        Arc::new(ArtifactStore::open(dir.path(), store::Options::default()).expect("store"));
    let fetcher = Fetcher::new(
        sim,
        store,
        Arc::new(Metrics::default()),
        clock.clone(),
        fetch::Options::default(),
    );

    let hosts = ["github.com", "gitlab.example", "tight.example"];
    let urls: Vec<String> = (0..50)
        .map(|i| format!("https://{}/org/repo{i}.git", hosts[i % 3]))
        .collect();
    let refs = [
        GitRef {
            branch: Some("main".into()),
            ..Default::default()
        },
        GitRef {
            branch: Some("dev".into()),
            ..Default::default()
        },
        GitRef {
            tag: Some("v1.0.0".into()),
            ..Default::default()
        },
        GitRef {
            semver: Some("^1".into()),
            ..Default::default()
        },
    ];
    let creds = Credentials::default();
    // 500 objects: 10 per URL with mixed refs, each remembering its last revision.
    let mut last: Vec<Option<String>> = vec![None; 500];
    let interrupt = Arc::new(AtomicBool::new(false));
    let (mut unchanged, mut fetched, mut deferred) = (0, 0, 0);
    for _minute in 0..60 {
        for (i, last_revision) in last.iter_mut().enumerate() {
            let request = Request {
                url: &urls[i % 50],
                reference: &refs[i % refs.len()],
                credentials: &creds,
                ignore: None,
                last_revision: last_revision.as_deref(),
                object: None,
            };
            match fetcher.fetch(&request, &interrupt) {
                Ok(Outcome::Unchanged { .. }) => unchanged += 1,
                Ok(Outcome::Fetched { revision, .. }) => {
                    fetched += 1;
                    *last_revision = Some(revision.to_string());
                }
                Err(e) => {
                    assert!(
                        matches!(e, Error::BudgetExhausted { .. }) && e.is_transient(),
                        "{e}"
                    );
                    deferred += 1;
                }
            }
        }
        clock.advance(Duration::from_secs(60));
    }
    let sim = fetcher.client();
    let per_minute = sim.listings_by_minute.lock().expect("m").clone();
    assert!(per_minute.values().all(|&n| n <= 50), "{per_minute:?}");
    assert_eq!(per_minute.len(), 60);
    for (host, times) in sim.sent.lock().expect("sent").iter() {
        let limit = budgets.config(host).limit as usize;
        let mut window: VecDeque<Duration> = VecDeque::new();
        for &t in times {
            window.push_back(t);
            while window.front().is_some_and(|&f| t.saturating_sub(f) >= hour) {
                window.pop_front();
            }
            assert!(
                window.len() <= limit,
                "{host}: {} requests within an hour, limit {limit}",
                window.len()
            );
        }
    }
    assert!(deferred > 0, "the tight host must have been throttled");
    assert!(
        unchanged > fetched * 5,
        "most polls are unchanged: {unchanged} vs {fetched}"
    );
    eprintln!(
        "simulation: {unchanged} unchanged, {fetched} fetched, {deferred} deferred by budget"
    );
}
