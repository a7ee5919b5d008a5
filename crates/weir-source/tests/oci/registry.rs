//! Debian's `docker-registry` (the distribution registry) on a loopback port, for tests: plain or
//! with htpasswd basic auth; its access log counts the requests weir made.
#![allow(dead_code)]

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A running registry, stopped (with its storage removed) when dropped.
pub struct Registry {
    pub host: String,
    /// The throwaway CA's certificate, for a TLS registry.
    pub ca_pem: Option<Vec<u8>>,
    pub storage: PathBuf,
    log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

/// `user`/`password` of the registries started with auth.
pub const USER: &str = "weir";
pub const PASSWORD: &str = "s3cr3t-pw";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl Registry {
    /// Whether the registry binary is installed (scripts/setup installs it).
    pub fn available() -> bool {
        Command::new("docker-registry")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// A registry without authentication.
    pub fn start() -> Registry {
        Self::start_with(false, false)
    }

    /// A registry serving HTTPS with a certificate from a throwaway CA ([`Registry::ca_pem`]).
    pub fn start_tls() -> Registry {
        Self::start_with(false, true)
    }

    /// A registry with htpasswd basic auth for [`USER`]/[`PASSWORD`].
    pub fn start_with_auth() -> Registry {
        Self::start_with(true, false)
    }

    fn start_with(auth: bool, tls: bool) -> Registry {
        assert!(
            Self::available(),
            "docker-registry is not installed: run scripts/setup"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = dir.path().join("storage");
        let log = dir.path().join("registry.log");
        let port = free_port();
        let mut auth_block = String::new();
        if auth {
            let htpasswd = dir.path().join("htpasswd");
            let out = Command::new("htpasswd")
                .args(["-Bbn", USER, PASSWORD])
                .output()
                .expect("htpasswd runs (apache2-utils, installed by scripts/setup)");
            assert!(out.status.success(), "htpasswd failed");
            std::fs::write(&htpasswd, out.stdout).expect("write htpasswd");
            auth_block = format!(
                "auth:\n  htpasswd:\n    realm: weir-test\n    path: {}\n",
                htpasswd.display()
            );
        }
        let mut tls_block = String::new();
        let mut ca_pem = None;
        if tls {
            let d = dir.path();
            let openssl = |args: &[&str]| {
                let out = Command::new("openssl")
                    .args(args)
                    .current_dir(d)
                    .output()
                    .expect("openssl runs");
                assert!(
                    out.status.success(),
                    "openssl {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            };
            let ec = [
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
            ];
            let mut ca = vec!["req", "-x509"];
            ca.extend(ec);
            ca.extend([
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "1",
                "-subj",
                "/CN=weir-test-ca",
            ]);
            openssl(&ca);
            let mut csr = vec!["req"];
            csr.extend(ec);
            csr.extend([
                "-keyout",
                "tls.key",
                "-out",
                "tls.csr",
                "-subj",
                "/CN=127.0.0.1",
            ]);
            openssl(&csr);
            std::fs::write(d.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").expect("ext");
            openssl(&[
                "x509",
                "-req",
                "-in",
                "tls.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "tls.crt",
                "-days",
                "1",
                "-extfile",
                "ext.cnf",
            ]);
            ca_pem = Some(std::fs::read(d.join("ca.crt")).expect("ca.crt"));
            tls_block = format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                d.join("tls.crt").display(),
                d.join("tls.key").display()
            );
        }
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: weir-test-secret\n{tls_block}{auth_block}",
                storage.display()
            ),
        )
        .expect("write config");
        let pid = std::process::id();
        // A watchdog shell: the registry goes when the shell is killed or the test process dies.
        let child = Command::new("bash")
            .args([
                "-c",
                r#"docker-registry serve "$1" >>"$2" 2>&1 & child=$!
trap 'kill $child 2>/dev/null; exit 0' TERM INT EXIT
while kill -0 "$3" 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 1; done"#,
                "registry",
            ])
            .arg(&config)
            .arg(&log)
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let host = format!("127.0.0.1:{port}");
        let registry = Registry {
            host,
            ca_pem,
            storage,
            log,
            child,
            _dir: dir,
        };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(&self.host).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "docker-registry did not listen on {}: {}",
            self.host,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// `oci://127.0.0.1:PORT/<repo>`.
    pub fn url(&self, repo: &str) -> String {
        format!("oci://{}/{repo}", self.host)
    }

    /// The access log's request lines (`"GET /v2/... HTTP/1.1" 200`), in order.
    pub fn requests(&self) -> Vec<String> {
        // The access log line is written after the reply: give it a moment.
        std::thread::sleep(Duration::from_millis(300));
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let start = l.find("\"")?;
                let rest = &l[start + 1..];
                let end = rest.find('"')?;
                let line = &rest[..end];
                line.contains(" /v2/").then(|| {
                    let status = rest[end + 1..].split_whitespace().next().unwrap_or("");
                    format!("{line} {status}")
                })
            })
            .collect()
    }

    /// Where blob `sha256:<hex>` is stored (to corrupt it).
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// The log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // SIGTERM to the watchdog shell: its trap stops the registry by pid.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// A secret directory with a `.dockerconfigjson` for `host`.
pub fn docker_config_dir(host: &str, user: &str, password: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join(".dockerconfigjson"),
        format!(r#"{{"auths":{{"{host}":{{"username":"{user}","password":"{password}"}}}}}}"#),
    )
    .expect("write secret");
    dir
}

/// Writes `files` under a new temporary directory.
pub fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, content) in files {
        let p: &Path = path.as_ref();
        let full = dir.path().join(p);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, content).expect("write");
    }
    dir
}
