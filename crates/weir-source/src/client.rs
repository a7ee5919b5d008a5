//! [`RemoteClient`] over gix: HTTP(S) through [`crate::http`], SSH through the system `ssh` program.

use std::{
    io,
    num::NonZeroU32,
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use base64::Engine;
use gix::remote::Direction;
use gix_transport::{Protocol, client::blocking_io::ssh};

use crate::{
    auth::SshCredentials,
    budget::HostBudgets,
    fetch::Error,
    github_app::{ACCESS_TOKEN_USERNAME, TokenCache},
    http::{Failure, GitHttp, HttpContext, Origin, ResponseLimits},
    metrics::{Metrics, inc},
    redact::{RedactedUrl, Secret},
    reference::{RefKind, RemoteRef, ResolveError},
    remote::{Control, Remote, RemoteClient, Scope, Want},
    tls,
    tree::{BlobTooLarge, Entry, FetchedTree, Load, Visit},
};

/// Knobs of the wire layer.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Connecting gives up after this.
    pub connect_timeout: Duration,
    /// The longest `Retry-After` (or 502/503/504 backoff) waited out in place; longer ones fail
    /// with the hint in [`Error::retry_after`]. A controller sets zero and requeues instead.
    pub max_retry_wait: Duration,
    /// Attempts per HTTP request (rate limits and 502/503/504).
    pub max_attempts: u32,
    /// The ssh program.
    pub ssh_program: String,
    /// The largest ref advertisement or `ls-refs` reply read, in bytes (and any other reply that is
    /// not a pack); a server sending more fails the operation.
    pub max_listing_size: u64,
    /// The largest pack read, in bytes.
    pub max_pack_size: u64,
    /// The largest single object (file) accepted, in bytes; checked from the object's declared size
    /// before it is inflated, so memory stays bounded by this whatever the repository holds.
    pub max_blob_size: u64,
    /// Where scratch repositories and ssh files go (the system temp directory when `None`).
    pub temp_dir: Option<std::path::PathBuf>,
}

/// Default of [`ClientOptions::max_listing_size`]: 16 MiB, some 100,000 refs.
pub const DEFAULT_MAX_LISTING_SIZE: u64 = 16 << 20;
/// Default of [`ClientOptions::max_pack_size`]: 1 GiB.
pub const DEFAULT_MAX_PACK_SIZE: u64 = 1 << 30;
/// Default of [`ClientOptions::max_blob_size`]: 32 MiB.
pub const DEFAULT_MAX_BLOB_SIZE: u64 = 32 << 20;

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(15),
            max_retry_wait: Duration::from_secs(30),
            max_attempts: 4,
            ssh_program: "ssh".to_owned(),
            max_listing_size: DEFAULT_MAX_LISTING_SIZE,
            max_pack_size: DEFAULT_MAX_PACK_SIZE,
            max_blob_size: DEFAULT_MAX_BLOB_SIZE,
            temp_dir: None,
        }
    }
}

impl ClientOptions {
    /// Sets [`ClientOptions::max_retry_wait`].
    #[must_use]
    pub fn max_retry_wait(mut self, wait: Duration) -> Self {
        self.max_retry_wait = wait;
        self
    }
}

/// Talks to real Git servers.
pub struct GitClient {
    budgets: Arc<HostBudgets>,
    metrics: Arc<Metrics>,
    tokens: TokenCache,
    options: ClientOptions,
    /// An empty bare repository listings run against (gix needs one; nothing is written to it).
    scratch: Mutex<Option<tempfile::TempDir>>,
}

impl GitClient {
    /// A client spending `budgets` and counting into `metrics`.
    pub fn new(budgets: Arc<HostBudgets>, metrics: Arc<Metrics>, options: ClientOptions) -> Self {
        GitClient {
            budgets,
            metrics,
            tokens: TokenCache::default(),
            options,
            scratch: Mutex::new(None),
        }
    }

    /// The budgets this client spends.
    pub fn budgets(&self) -> &Arc<HostBudgets> {
        &self.budgets
    }

    fn listing_repo(&self, url: &RedactedUrl) -> Result<gix::Repository, Error> {
        let mut slot = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            let dir = temp_dir(&self.options, "weir-ls-")
                .map_err(|e| git_err(url, format!("could not create a scratch repository: {e}")))?;
            init_repo(dir.path(), url, self.options.max_blob_size)?;
            *slot = Some(dir);
        }
        let path = slot.as_ref().expect("set above").path();
        gix::open_opts(path, open_options(self.options.max_blob_size))
            .map_err(|e| git_err(url, format!("could not open the scratch repository: {e}")))
    }

    fn auth_header(
        &self,
        remote: &Remote<'_>,
        agent: &ureq::Agent,
        url: &RedactedUrl,
    ) -> Result<Option<Secret>, Error> {
        let creds = remote.credentials;
        let basic = |user: &str, password: &str| {
            Secret::new(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            ))
        };
        if let Some((user, password)) = &creds.basic {
            return Ok(Some(basic(user, password.expose())));
        }
        if let Some(token) = &creds.bearer_token {
            return Ok(Some(Secret::new(format!("Bearer {}", token.expose()))));
        }
        if let Some(app) = &creds.github_app {
            let token = self
                .tokens
                .token(app, agent)
                .map_err(|source| Error::GitHubApp {
                    url: url.clone(),
                    source,
                })?;
            return Ok(Some(basic(ACCESS_TOKEN_USERNAME, token.expose())));
        }
        Ok(None)
    }

    /// Runs `op` with a connection to `remote`, mapping failures to [`Error`].
    fn with_connection<T>(
        &self,
        remote: &Remote<'_>,
        control: &Control,
        op: &mut dyn FnMut(
            Box<dyn gix_transport::client::blocking_io::Transport + Send>,
        ) -> gix::Result<T>,
    ) -> Result<T, Error> {
        let url = RedactedUrl::new(remote.url);
        let parsed_http_url = strip_user_info_for_http(remote.url);
        let parsed = gix::url::parse(gix::bstr::BStr::new(parsed_http_url.as_str()))
            .map_err(|_| Error::InvalidUrl { url: url.clone() })?;
        let counters = self.metrics.host(remote.host);
        if parsed.scheme == gix::url::Scheme::Ssh {
            let Some(ssh_creds) = &remote.credentials.ssh else {
                return Err(Error::InvalidCredentials {
                    url,
                    reason: "ssh URLs need a secret with 'identity' and 'known_hosts'".into(),
                });
            };
            if let Err(budget) = self.budgets.try_acquire(remote.host, 1) {
                inc(&counters.budget_refusals);
                return Err(Error::BudgetExhausted { url, budget });
            }
            inc(&counters.requests);
            let session = SshSession::new(ssh_creds, control, &self.options, &url)?;
            let transport = ssh::connect(
                parsed,
                Protocol::V2,
                ssh::connect::Options {
                    command: Some(session.command.clone().into()),
                    disallow_shell: false,
                    kind: Some(ssh::ProgramKind::Ssh),
                },
                false,
            )
            .map_err(|e| git_err(&url, e.to_string()))?;
            let result = op(Box::new(transport));
            return result.map_err(|e| map_ssh_error(&url, e, control, &session.stderr()));
        }
        let agent = tls::agent(
            remote.credentials.ca_pem.as_deref(),
            self.options.connect_timeout,
        )
        .map_err(|e| Error::InvalidCredentials {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let auth_header = self.auth_header(remote, &agent, &url)?;
        let ctx = Arc::new(HttpContext {
            agent,
            host: remote.host.to_owned(),
            auth_header,
            budgets: self.budgets.clone(),
            counters,
            metrics: self.metrics.clone(),
            deadline: control.deadline,
            max_retry_wait: self.options.max_retry_wait,
            max_attempts: self.options.max_attempts,
            interrupt: control.interrupt.clone(),
            failure: Mutex::new(None),
            received: std::sync::atomic::AtomicU64::new(0),
            progress: control.progress.clone(),
            origin: Origin::of(parsed_http_url.as_str())
                .ok_or_else(|| Error::InvalidUrl { url: url.clone() })?,
            limits: ResponseLimits {
                listing: self.options.max_listing_size,
                pack: self.options.max_pack_size,
            },
        });
        let transport = gix_transport::client::blocking_io::http::Transport::new_http(
            GitHttp {
                ctx: ctx.clone(),
                redirected_base: None,
            },
            parsed,
            Protocol::V2,
            false,
        );
        let result = op(Box::new(transport));
        result.map_err(|e| map_http_error(&url, &ctx, e, control))
    }
}

/// `https://user:pw@host/r` → `https://host/r` (credentials travel in headers, from the secret).
fn strip_user_info_for_http(url: &str) -> String {
    if url.starts_with("http://") || url.starts_with("https://") {
        RedactedUrl::new(url).as_str().to_owned()
    } else {
        url.to_owned()
    }
}

fn git_err(url: &RedactedUrl, reason: String) -> Error {
    Error::Git {
        url: url.clone(),
        reason,
    }
}

fn chain_text(e: &(dyn std::error::Error + 'static)) -> (String, Option<io::ErrorKind>) {
    let mut text = e.to_string();
    let mut kind = None;
    let mut cur = e.source();
    while let Some(inner) = cur {
        if let Some(io) = inner.downcast_ref::<io::Error>() {
            kind.get_or_insert(io.kind());
        }
        let t = inner.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        cur = inner.source();
    }
    (text, kind)
}

fn map_http_error(url: &RedactedUrl, ctx: &HttpContext, e: gix::Error, control: &Control) -> Error {
    let url = url.clone();
    match ctx.take_failure() {
        Some(Failure::Status(status @ (401 | 403))) => Error::AuthenticationFailed {
            url,
            status: Some(status),
        },
        Some(Failure::Status(status)) => Error::Http { url, status },
        Some(Failure::RateLimited {
            status,
            retry_after,
        }) => Error::RateLimited {
            url,
            status,
            retry_after,
        },
        Some(Failure::Budget(budget)) => Error::BudgetExhausted { url, budget },
        Some(Failure::Timeout) => Error::Timeout {
            url,
            timeout: timeout_of(control),
        },
        Some(Failure::Interrupted) => Error::Interrupted { url },
        Some(Failure::Transport(reason)) => Error::Transport { url, reason },
        Some(Failure::TooLarge { what, limit }) => Error::ResponseTooLarge { url, what, limit },
        Some(Failure::CrossOriginRedirect { to }) => Error::CrossOriginRedirect {
            url,
            to: RedactedUrl::new(&to),
        },
        None => {
            let (text, _) = chain_text(&e);
            if control.interrupt.load(std::sync::atomic::Ordering::Relaxed) {
                return Error::Interrupted { url };
            }
            if Instant::now() >= control.deadline {
                return Error::Timeout {
                    url,
                    timeout: timeout_of(control),
                };
            }
            Error::Git { url, reason: text }
        }
    }
}

fn timeout_of(control: &Control) -> Duration {
    control.timeout
}

fn map_ssh_error(url: &RedactedUrl, e: gix::Error, control: &Control, stderr: &str) -> Error {
    let url = url.clone();
    let (text, kind) = chain_text(&e);
    if stderr.contains("Host key verification failed") {
        return Error::HostKeyVerificationFailed { url };
    }
    if stderr.contains("Permission denied") {
        return Error::AuthenticationFailed { url, status: None };
    }
    if control.interrupt.load(std::sync::atomic::Ordering::Relaxed) {
        return Error::Interrupted { url };
    }
    if Instant::now() >= control.deadline {
        return Error::Timeout {
            url,
            timeout: timeout_of(control),
        };
    }
    if kind == Some(io::ErrorKind::PermissionDenied)
        || text.to_ascii_lowercase().contains("permission denied")
    {
        return Error::AuthenticationFailed { url, status: None };
    }
    let ssh_said = stderr.lines().map(str::trim).rfind(|l| !l.is_empty());
    Error::Git {
        url,
        reason: match ssh_said {
            Some(line) => format!("{text} (ssh: {line})"),
            None => text,
        },
    }
}

/// Files for one ssh invocation: the key, known hosts and a config that pins them.
struct SshSession {
    dir: tempfile::TempDir,
    command: String,
}

impl SshSession {
    fn new(
        creds: &SshCredentials,
        control: &Control,
        options: &ClientOptions,
        url: &RedactedUrl,
    ) -> Result<Self, Error> {
        let fail = |e: io::Error| git_err(url, format!("could not prepare ssh files: {e}"));
        let dir = temp_dir(options, "weir-ssh-").map_err(fail)?;
        let write_private = |name: &str, content: &str| -> io::Result<std::path::PathBuf> {
            let path = dir.path().join(name);
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            io::Write::write_all(&mut opts.open(&path)?, content.as_bytes())?;
            Ok(path)
        };
        let identity = write_private("identity", creds.identity.expose()).map_err(fail)?;
        let known_hosts = write_private("known_hosts", &creds.known_hosts).map_err(fail)?;
        let connect = options.connect_timeout.as_secs().max(1);
        let config = format!(
            "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n  \
             StrictHostKeyChecking yes\n  BatchMode yes\n  PasswordAuthentication no\n  ConnectTimeout {connect}\n  \
             ServerAliveInterval 5\n  ServerAliveCountMax 3\n  LogLevel ERROR\n",
            identity.display(),
            known_hosts.display()
        );
        let config = write_private("config", &config).map_err(fail)?;
        let remaining = control
            .deadline
            .saturating_duration_since(Instant::now())
            .as_secs()
            .max(1);
        let quote = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
        // `timeout` bounds the whole session (ssh has no overall deadline of its own); ssh's stderr
        // goes to a file so failures can be told apart (host key, permission, network).
        let command = format!(
            "timeout -k 2 {remaining} {} -F {} \"$@\" 2>>{}",
            options.ssh_program,
            quote(&config),
            quote(&dir.path().join("stderr")),
        );
        Ok(SshSession { dir, command })
    }

    /// What ssh printed on stderr (host key and authentication messages; never key material).
    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }
}

/// A temporary directory in [`ClientOptions::temp_dir`] or the system's.
fn temp_dir(options: &ClientOptions, prefix: &str) -> io::Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    match &options.temp_dir {
        Some(dir) => builder.tempdir_in(dir),
        None => builder.tempdir(),
    }
}

/// Isolated from the user's and system's Git configuration; no object may inflate past
/// `max_blob_size` (gix refuses the allocation from the object's declared size).
fn open_options(max_blob_size: u64) -> gix::open::Options {
    gix::open::Options::isolated()
        .config_overrides([format!("gitoxide.objects.allocLimit={max_blob_size}")])
}

fn init_repo(path: &Path, url: &RedactedUrl, max_blob_size: u64) -> Result<gix::Repository, Error> {
    gix::ThreadSafeRepository::init_opts(
        path,
        gix::create::Kind::Bare,
        gix::create::Options::default(),
        open_options(max_blob_size),
    )
    .map(|r| r.to_thread_local())
    .map_err(|e| git_err(url, format!("could not create a scratch repository: {e}")))
}

fn to_remote_ref(r: &gix::protocol::handshake::Ref) -> Option<RemoteRef> {
    use gix::protocol::handshake::Ref;
    match r {
        Ref::Direct {
            full_ref_name,
            object,
        } => Some(RemoteRef {
            name: full_ref_name.to_string(),
            target: object.to_string(),
            peeled: None,
        }),
        Ref::Peeled {
            full_ref_name,
            tag,
            object,
        } => Some(RemoteRef {
            name: full_ref_name.to_string(),
            target: tag.to_string(),
            peeled: Some(object.to_string()),
        }),
        Ref::Symbolic {
            full_ref_name,
            tag,
            object,
            ..
        } => Some(RemoteRef {
            name: full_ref_name.to_string(),
            target: tag.unwrap_or(*object).to_string(),
            peeled: tag.map(|_| object.to_string()),
        }),
        Ref::Unborn { .. } => None,
    }
}

impl RemoteClient for GitClient {
    fn list_refs(
        &self,
        remote: &Remote<'_>,
        scope: Scope<'_>,
        control: &Control,
    ) -> Result<Vec<RemoteRef>, Error> {
        let url = RedactedUrl::new(remote.url);
        let repo = self.listing_repo(&url)?;
        let specs: Vec<String> = match scope {
            Scope::HeadsAndTags => vec![
                "+refs/heads/*:refs/remotes/origin/*".into(),
                "+refs/tags/*:refs/tags/*".into(),
            ],
            Scope::Name(name) => vec![format!("+{name}:refs/weir/listed")],
        };
        let gix_url = strip_user_info_for_http(remote.url);
        let refs = self.with_connection(remote, control, &mut |transport| {
            let remote = repo
                .remote_at(gix_url.as_str())?
                .with_refspecs(specs.iter().map(String::as_str), Direction::Fetch)?
                .with_fetch_tags(gix::remote::fetch::Tags::None);
            let connection = remote.to_connection_with_transport(transport);
            let (ref_map, _handshake) = connection.ref_map(
                gix::progress::Discard,
                gix::remote::ref_map::Options::default(),
            )?;
            Ok(ref_map.remote_refs)
        })?;
        Ok(refs.iter().filter_map(to_remote_ref).collect())
    }

    fn fetch(
        &self,
        remote: &Remote<'_>,
        want: &Want<'_>,
        workdir: &Path,
        control: &Control,
    ) -> Result<Box<dyn FetchedTree>, Error> {
        let url = RedactedUrl::new(remote.url);
        let dir = workdir.join("repo.git");
        let mut repo = init_repo(&dir, &url, self.options.max_blob_size)?;
        // Blobs of one tree are deltas of each other; without a cache every read re-inflates the chain.
        repo.objects.set_pack_cache(|| {
            Box::new(gix::odb::pack::cache::lru::StaticLinkedList::<64>::default())
        });
        const TARGET: &str = "refs/weir/fetched";
        let spec = match want.ref_name {
            Some(name) => format!("+{name}:{TARGET}"),
            None => format!("+{}:{TARGET}", want.commit),
        };
        let gix_url = strip_user_info_for_http(remote.url);
        let interrupt = control.interrupt.clone();
        let progress = control.progress.clone();
        let fetched = self.with_connection(remote, control, &mut |transport| {
            let remote = repo
                .remote_at(gix_url.as_str())?
                .with_refspecs([spec.as_str()], Direction::Fetch)?
                // No implicit tag following: it would list every tag on the remote.
                .with_fetch_tags(gix::remote::fetch::Tags::None);
            let connection = remote.to_connection_with_transport(transport);
            let options = gix::remote::ref_map::Options {
                // An id-only refspec has no prefix to filter on; list just HEAD instead of everything.
                extra_refspecs: if want.ref_name.is_none() {
                    vec![
                        gix::refspec::parse("HEAD".into(), gix::refspec::parse::Operation::Fetch)?
                            .to_owned(),
                    ]
                } else {
                    Vec::new()
                },
                ..Default::default()
            };
            let prepare = connection.prepare_fetch(gix::progress::Discard, options)?;
            if prepare.ref_map().is_missing_required_mapping() {
                return Ok(None);
            }
            let outcome = prepare
                .with_shallow(gix::remote::fetch::Shallow::DepthAtRemote(NonZeroU32::MIN))
                .receive(gix::progress::Discard, &interrupt)?;
            if let gix::remote::fetch::Status::Change {
                write_pack_bundle, ..
            } = &outcome.status
            {
                progress.objects_received(write_pack_bundle.index.num_objects.into());
            }
            Ok(Some(repo.find_reference(TARGET)?.id().detach()))
        });
        let fetched = fetched.map_err(|e| match e {
            Error::Git { url, reason } if reason.contains("too large to fit in memory") => {
                Error::BlobTooLarge {
                    url,
                    path: None,
                    limit: self.options.max_blob_size,
                }
            }
            other => other,
        })?;
        let Some(fetched) = fetched else {
            return Err(Error::RefNotFound {
                url,
                reason: ResolveError::NotFound {
                    kind: if want.ref_name.is_some() {
                        RefKind::Name
                    } else {
                        RefKind::Commit
                    },
                    name: want.ref_name.unwrap_or(want.commit).to_owned(),
                    similar: Vec::new(),
                },
            });
        };
        let (commit, tree) = {
            let object = repo
                .find_object(fetched)
                .map_err(|e| git_err(&url, format!("fetched object missing: {e}")))?;
            let commit = object.peel_to_commit().map_err(|e| {
                git_err(
                    &url,
                    format!(
                        "{} is not a commit: {e}",
                        want.ref_name.unwrap_or(want.commit)
                    ),
                )
            })?;
            let tree = commit
                .tree_id()
                .map_err(|e| git_err(&url, e.to_string()))?
                .detach();
            (commit.id.to_string(), tree)
        };
        Ok(Box::new(GixTree {
            commit,
            tree,
            repo,
            max_blob_size: self.options.max_blob_size,
        }))
    }
}

/// A fetched commit in a scratch repository; blobs are read one at a time, each checked against the
/// blob size limit from its header before it is inflated.
struct GixTree {
    commit: String,
    tree: gix::ObjectId,
    repo: gix::Repository,
    max_blob_size: u64,
}

impl FetchedTree for GixTree {
    fn commit(&self) -> &str {
        &self.commit
    }

    fn walk(
        &self,
        visit: &mut dyn FnMut(Entry<'_>, Load<'_>) -> io::Result<Visit>,
    ) -> io::Result<()> {
        self.walk_tree(self.tree, "", visit)
    }
}

impl GixTree {
    fn read(&self, id: gix::ObjectId, path: &str) -> io::Result<Vec<u8>> {
        let header = self
            .repo
            .find_header(id)
            .map_err(|e| io::Error::other(format!("object {id}: {e}")))?;
        if header.size() > self.max_blob_size {
            return Err(io::Error::other(BlobTooLarge {
                path: path.to_owned(),
                size: header.size(),
                limit: self.max_blob_size,
            }));
        }
        self.repo
            .find_object(id)
            .map(|o| o.detach().data)
            .map_err(|e| io::Error::other(format!("object {id}: {e}")))
    }

    fn walk_tree(
        &self,
        id: gix::ObjectId,
        prefix: &str,
        visit: &mut dyn FnMut(Entry<'_>, Load<'_>) -> io::Result<Visit>,
    ) -> io::Result<()> {
        let entries: Vec<(String, gix::object::tree::EntryMode, gix::ObjectId)> = {
            let tree = self
                .repo
                .find_tree(id)
                .map_err(|e| io::Error::other(format!("tree {id}: {e}")))?;
            tree.decode()
                .map_err(|e| io::Error::other(format!("tree {id}: {e}")))?
                .entries
                .iter()
                .map(|e| (e.filename.to_string(), e.mode, e.oid.to_owned()))
                .collect()
        };
        for (name, mode, oid) in entries {
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let mut load = || self.read(oid, &path);
            if mode.is_tree() {
                let mut none = || Ok(Vec::new());
                if visit(Entry::Dir(&path), &mut none)? == Visit::Enter {
                    self.walk_tree(oid, &path, visit)?;
                }
            } else if mode.is_commit() {
                visit(Entry::Submodule(&path), &mut load)?;
            } else if mode.is_link() {
                visit(Entry::Symlink(&path), &mut load)?;
            } else {
                visit(
                    Entry::File {
                        path: &path,
                        executable: mode.is_executable(),
                    },
                    &mut load,
                )?;
            }
        }
        Ok(())
    }
}
