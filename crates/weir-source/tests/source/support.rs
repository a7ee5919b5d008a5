//! Real Git servers on loopback for the tests: `git http-backend` behind a small CGI bridge with
//! fault injection, and Debian's `sshd` with generated keys.

#![allow(dead_code)]

use std::{
    collections::VecDeque,
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

/// Runs `git` in `dir` with a fixed identity and dates, panicking with its stderr on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "weir")
        .env("GIT_AUTHOR_EMAIL", "weir@example.com")
        .env("GIT_COMMITTER_NAME", "weir")
        .env("GIT_COMMITTER_EMAIL", "weir@example.com")
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A fixture repository: branches `master`, `main`, `feature/x`; tags `v1.0.0` (light), `v1.1.0`
/// (annotated), `v2.0.0-rc.1`; a `refs/pull/1/head`; files including ones Flux excludes.
pub struct Fixture {
    pub work: tempfile::TempDir,
    pub commits: std::collections::BTreeMap<&'static str, String>,
}

impl Fixture {
    pub fn new() -> Fixture {
        let work = tempfile::tempdir().expect("tempdir");
        let w = work.path();
        git(w, &["init", "-q", "-b", "master"]);
        let write = |p: &str, c: &str| {
            let path = w.join(p);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, c).expect("write");
        };
        let mut commits = std::collections::BTreeMap::new();
        write("apps/deploy.yaml", "kind: Deployment\nv: 1\n");
        write("README.md", "readme\n");
        write("logo.png", "png");
        write(".github/workflows/ci.yml", "on: push\n");
        git(w, &["add", "-A"]);
        git(w, &["commit", "-qm", "one"]);
        commits.insert("one", git(w, &["rev-parse", "HEAD"]));
        git(w, &["tag", "v1.0.0"]);
        write("apps/deploy.yaml", "kind: Deployment\nv: 2\n");
        git(w, &["commit", "-qam", "two"]);
        commits.insert("two", git(w, &["rev-parse", "HEAD"]));
        git(w, &["tag", "-a", "v1.1.0", "-m", "release 1.1"]);
        git(w, &["branch", "main"]);
        git(w, &["checkout", "-q", "-b", "feature/x"]);
        write("apps/feature.yaml", "feature: true\n");
        git(w, &["add", "-A"]);
        git(w, &["commit", "-qm", "feature"]);
        commits.insert("feature", git(w, &["rev-parse", "HEAD"]));
        git(w, &["tag", "v2.0.0-rc.1"]);
        git(w, &["update-ref", "refs/pull/1/head", "HEAD"]);
        git(w, &["checkout", "-q", "master"]);
        write("apps/deploy.yaml", "kind: Deployment\nv: 3\n");
        git(w, &["commit", "-qam", "three"]);
        commits.insert("three", git(w, &["rev-parse", "HEAD"]));
        Fixture { work, commits }
    }

    pub fn commit(&self, name: &str) -> &str {
        &self.commits[name]
    }

    /// Publishes the repository as `<root>/<name>.git` (bare, all refs).
    pub fn publish(&self, root: &Path, name: &str) -> PathBuf {
        let dest = root.join(format!("{name}.git"));
        git(
            root,
            &[
                "clone",
                "-q",
                "--mirror",
                &self.work.path().display().to_string(),
                &dest.display().to_string(),
            ],
        );
        git(&dest, &["config", "uploadpack.allowAnySHA1InWant", "true"]);
        dest
    }

    /// Adds a commit on master in the published copy (by pushing).
    pub fn push_new_commit(&self, published: &Path) -> String {
        let w = self.work.path();
        std::fs::write(
            w.join("apps/new.yaml"),
            format!("n: {:?}\n", Instant::now()),
        )
        .expect("write");
        git(w, &["add", "-A"]);
        git(w, &["commit", "-qm", "new"]);
        git(
            w,
            &[
                "push",
                "-q",
                "--force",
                &published.display().to_string(),
                "master",
            ],
        );
        git(w, &["rev-parse", "HEAD"])
    }
}

/// A canned reply instead of running the backend.
#[derive(Clone, Debug)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

/// Fault injection and auth for [`HttpGitServer`].
#[derive(Default)]
pub struct Behaviour {
    /// Replies used (in order) before the backend answers again.
    pub canned: VecDeque<Canned>,
    /// Wait before answering each request.
    pub delay: Duration,
    /// Close the connection after this many body bytes of an upload-pack POST reply (the pack).
    pub drop_pack_after: Option<usize>,
    /// Required basic credentials.
    pub basic: Option<(String, String)>,
    /// Required bearer token.
    pub bearer: Option<String>,
    /// `(old, new)`: requests under `/old` are answered `301` to `/new` (a renamed repository).
    pub rename: Option<(String, String)>,
    /// Time spent in `git http-backend` so far (server-side cost of the requests).
    pub backend_time: Duration,
    /// Every request is answered `302` to this base URL plus the request's path (another origin).
    pub redirect_to: Option<String>,
    /// Flip bytes in the middle of the pack of an upload-pack reply.
    pub corrupt_pack: bool,
}

/// `git http-backend` behind a minimal HTTP/1.1 server on 127.0.0.1.
pub struct HttpGitServer {
    pub addr: SocketAddr,
    pub root: PathBuf,
    pub behaviour: Arc<Mutex<Behaviour>>,
    /// `METHOD path?query` of every request received.
    pub log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl HttpGitServer {
    pub fn start(root: &Path) -> HttpGitServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let behaviour = Arc::new(Mutex::new(Behaviour::default()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, l, s, r) = (
            behaviour.clone(),
            log.clone(),
            stop.clone(),
            root.to_owned(),
        );
        thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (b, l, r) = (b.clone(), l.clone(), r.clone());
                thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    let _ = serve(stream, &r, &b, &l);
                });
            }
        });
        HttpGitServer {
            addr,
            root: root.to_owned(),
            behaviour,
            log,
            stop,
        }
    }

    pub fn url(&self, repo: &str) -> String {
        format!("http://{}/{repo}.git", self.addr)
    }

    pub fn requests(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }

    pub fn count(&self, needle: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.contains(needle))
            .count()
    }

    pub fn set(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut self.behaviour.lock().expect("behaviour"));
    }
}

impl Drop for HttpGitServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// Answers one request on `stream` (plain TCP here, TLS in `tls_server.rs`).
pub fn serve<S: Read + Write>(
    stream: S,
    root: &Path,
    behaviour: &Mutex<Behaviour>,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    }
    let with_auth = if header("authorization").is_some() {
        " +auth"
    } else {
        ""
    };
    log.lock()
        .expect("log")
        .push(format!("{method} {target}{with_auth}"));
    let (rename, redirect_to) = {
        let b = behaviour.lock().expect("behaviour");
        (b.rename.clone(), b.redirect_to.clone())
    };
    if let Some(base) = redirect_to {
        let resp = format!(
            "HTTP/1.1 302 Found\r\nLocation: {base}{target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return reader.get_mut().write_all(resp.as_bytes());
    }
    if let Some((old, new)) = rename
        && let Some(rest) = target.strip_prefix(&format!("/{old}"))
    {
        let resp = format!(
            "HTTP/1.1 301 Moved Permanently\r\nLocation: /{new}{rest}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return reader.get_mut().write_all(resp.as_bytes());
    }
    let (delay, canned, drop_after, basic, bearer, corrupt) = {
        let mut b = behaviour.lock().expect("behaviour");
        (
            b.delay,
            b.canned.pop_front(),
            b.drop_pack_after,
            b.basic.clone(),
            b.bearer.clone(),
            b.corrupt_pack,
        )
    };
    thread::sleep(delay);
    if let Some(c) = canned {
        let mut resp = format!(
            "HTTP/1.1 {} Canned\r\nContent-Length: 0\r\nConnection: close\r\n",
            c.status
        );
        for (k, v) in c.headers {
            resp.push_str(&format!("{k}: {v}\r\n"));
        }
        resp.push_str("\r\n");
        return reader.get_mut().write_all(resp.as_bytes());
    }
    let auth = header("authorization");
    let authorized = match (&basic, &bearer) {
        (Some((u, p)), _) => {
            auth == Some(format!("Basic {}", base64(format!("{u}:{p}").as_bytes())))
        }
        (None, Some(t)) => auth == Some(format!("Bearer {t}")),
        (None, None) => true,
    };
    if !authorized {
        return reader.get_mut().write_all(
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let backend_started = Instant::now();
    let mut child = Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REQUEST_METHOD", &method)
        .env("CONTENT_TYPE", header("content-type").unwrap_or_default())
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("GIT_PROTOCOL", header("git-protocol").unwrap_or_default())
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    let feeder = thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let mut out = Vec::new();
    child.stdout.take().expect("piped").read_to_end(&mut out)?;
    let _ = feeder.join();
    let _ = child.wait();
    behaviour.lock().expect("behaviour").backend_time += backend_started.elapsed();
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2)));
    let Some((head_end, sep)) = split else {
        return reader
            .get_mut()
            .write_all(b"HTTP/1.1 500 Bad CGI\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    };
    let head = String::from_utf8_lossy(&out[..head_end]).into_owned();
    let mut cgi_body = out[head_end + sep..].to_vec();
    if corrupt && is_pack_reply(&cgi_body) {
        // Past the pack header (`PACK`, version, count), inside the first objects' data.
        if let Some(pack) = cgi_body.windows(4).position(|w| w == b"PACK") {
            let end = cgi_body.len().saturating_sub(30);
            for i in (pack + 40..end).step_by(7) {
                cgi_body[i] ^= 0x5a;
            }
        }
    }
    let cgi_body = &cgi_body[..];
    let mut status = "200 OK".to_owned();
    let mut resp_headers = String::new();
    for l in head.lines() {
        if let Some(s) = l.strip_prefix("Status:") {
            status = s.trim().to_owned();
        } else {
            resp_headers.push_str(l.trim_end());
            resp_headers.push_str("\r\n");
        }
    }
    let resp = format!(
        "HTTP/1.1 {status}\r\n{resp_headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        cgi_body.len()
    );
    reader.get_mut().write_all(resp.as_bytes())?;
    match drop_after {
        Some(n)
            if method == "POST"
                && path.ends_with("git-upload-pack")
                && cgi_body.len() > n
                && is_pack_reply(cgi_body) =>
        {
            reader.get_mut().write_all(&cgi_body[..n])?;
            // Returning drops (closes) the connection mid-pack.
            reader.get_mut().flush()
        }
        _ => reader.get_mut().write_all(cgi_body),
    }
}

/// A raw HTTP server on 127.0.0.1 whose every connection is answered by `answer` (misbehaving
/// servers: endless listings, slow drips). Stops accepting when dropped.
pub struct RawServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl RawServer {
    pub fn start(answer: impl Fn(TcpStream) + Send + Sync + 'static) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let answer = Arc::new(answer);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let answer = answer.clone();
                thread::spawn(move || answer(stream));
            }
        });
        RawServer { addr, stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}/repo.git", self.addr)
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// Reads a request's head (up to the blank line) from `stream`.
pub fn read_head(stream: &mut TcpStream) -> String {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// One pkt-line.
pub fn pkt(line: &str) -> Vec<u8> {
    format!("{:04x}{line}", line.len() + 4).into_bytes()
}

/// Standard base64 with padding (kept here so the support code needs no crate of its own).
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Whether an upload-pack reply carries a pack (not just an ls-refs answer).
fn is_pack_reply(body: &[u8]) -> bool {
    body.windows(8).any(|w| w == b"packfile")
}

/// `sshd` on a loopback port, accepting one generated user key.
pub struct SshServer {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
    pub user: String,
}

impl SshServer {
    pub fn start() -> Option<SshServer> {
        let sshd = ["/usr/sbin/sshd", "/usr/bin/sshd"]
            .into_iter()
            .find(|p| Path::new(p).exists())?;
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        for (name, kind) in [
            ("host_key", "ed25519"),
            ("user_key", "ed25519"),
            ("other_key", "ed25519"),
        ] {
            let st = Command::new("ssh-keygen")
                .args(["-q", "-t", kind, "-N", "", "-f"])
                .arg(d.join(name))
                .status()
                .expect("ssh-keygen");
            assert!(st.success());
        }
        std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys")).expect("authorized_keys");
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
             PidFile {d}/sshd.pid\nUsePAM no\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nAcceptEnv GIT_PROTOCOL\nLogLevel ERROR\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).expect("config");
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd starts");
        let until = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "sshd did not start");
            thread::sleep(Duration::from_millis(50));
        }
        let user = String::from_utf8(Command::new("id").arg("-un").output().expect("id").stdout)
            .expect("utf8")
            .trim()
            .to_owned();
        Some(SshServer {
            port,
            dir,
            child,
            user,
        })
    }

    pub fn url(&self, repo: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            repo.display()
        )
    }

    pub fn known_hosts(&self) -> String {
        let key = std::fs::read_to_string(self.dir.path().join("host_key.pub")).expect("host key");
        format!("[127.0.0.1]:{} {}", self.port, key.trim())
    }

    pub fn key(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).expect("key")
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
