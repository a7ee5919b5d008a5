//! An HTTPS variant of the loopback Git server, with a certificate from a throwaway CA.

use std::{
    net::TcpListener,
    path::Path,
    process::Command,
    sync::{Arc, Mutex},
    thread,
    time::Duration,
};

use crate::support::{Behaviour, serve};

pub struct HttpsGitServer {
    pub addr: std::net::SocketAddr,
    /// PEM of the CA that signed the server certificate.
    pub ca_pem: String,
    pub behaviour: Arc<Mutex<Behaviour>>,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (run scripts/setup)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl HttpsGitServer {
    pub fn start(root: &Path) -> HttpsGitServer {
        let certs = tempfile::tempdir().expect("tempdir");
        let d = certs.path();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=weir test CA",
            ],
        );
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        );
        std::fs::write(
            d.join("ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .expect("ext");
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "ext",
            ],
        );
        let read = |name: &str| std::fs::read(d.join(name)).expect("pem");
        let chain: Vec<rustls::pki_types::CertificateDer<'static>> =
            ureq::tls::parse_pem(&read("server.pem"))
                .filter_map(|i| match i {
                    Ok(ureq::tls::PemItem::Certificate(c)) => {
                        Some(rustls::pki_types::CertificateDer::from(c.der().to_vec()))
                    }
                    _ => None,
                })
                .collect();
        let key = ureq::tls::parse_pem(&read("server.key"))
            .find_map(|i| match i {
                Ok(ureq::tls::PemItem::PrivateKey(k)) => Some(
                    rustls::pki_types::PrivateKeyDer::Pkcs8(k.der().to_vec().into()),
                ),
                _ => None,
            })
            .expect("server key");
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("protocols")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server config"),
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let behaviour = Arc::new(Mutex::new(Behaviour::default()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (b, r) = (behaviour.clone(), root.to_owned());
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (b, l, r, config) = (b.clone(), log.clone(), r.clone(), config.clone());
                thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    let Ok(conn) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    let _ = serve(rustls::StreamOwned::new(conn, stream), &r, &b, &l);
                });
            }
        });
        let ca_pem = String::from_utf8(read("ca.pem")).expect("utf8");
        HttpsGitServer {
            addr,
            ca_pem,
            behaviour,
        }
    }

    pub fn url(&self, repo: &str) -> String {
        format!("https://{}/{repo}.git", self.addr)
    }
}
