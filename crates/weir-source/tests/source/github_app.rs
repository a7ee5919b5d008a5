//! GitHub App authentication against a loopback stand-in for the GitHub API.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use base64::Engine;
use weir_source::{Credentials, GitRef, Request};

fn rsa_key(dir: &std::path::Path) -> String {
    let path = dir.join("app_key");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "", "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
    std::fs::read_to_string(path).expect("key")
}

fn verify_jwt(jwt: &str, pem: &str, app_id: &str) -> bool {
    let key = ureq::tls::parse_pem(pem.as_bytes())
        .find_map(|i| match i {
            Ok(ureq::tls::PemItem::PrivateKey(k)) => Some(k),
            _ => None,
        })
        .expect("key");
    let pair = aws_lc_rs::signature::RsaKeyPair::from_der(key.der()).expect("rsa");
    use aws_lc_rs::signature::KeyPair;
    let public = pair.public_key().as_ref().to_vec();
    let parts: Vec<&str> = jwt.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims: serde_json::Value =
        serde_json::from_slice(&b64.decode(parts[1]).expect("b64")).expect("json");
    let signature = b64.decode(parts[2]).expect("b64");
    claims["iss"] == app_id
        && aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            public,
        )
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .is_ok()
}

/// Answers the two GitHub API calls weir makes; records `METHOD path` of each.
fn api_server(pem: String) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let mut auth = String::new();
            let mut len = 0;
            loop {
                let mut h = String::new();
                let _ = reader.read_line(&mut h);
                let h = h.trim_end().to_owned();
                if h.is_empty() {
                    break;
                }
                if let Some(v) = h
                    .strip_prefix("authorization: ")
                    .or_else(|| h.strip_prefix("Authorization: "))
                {
                    auth = v.to_owned();
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length: ") {
                    len = v.parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let request = line
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            log2.lock().expect("log").push(request.clone());
            let jwt_ok = auth
                .strip_prefix("Bearer ")
                .is_some_and(|jwt| verify_jwt(jwt, &pem, "123"));
            let (status, reply) = if !jwt_ok {
                (401, "{}".to_owned())
            } else if request == "GET /app/installations?per_page=100" {
                (200, r#"[{"id": 7, "account": {"login": "other"}}, {"id": 42, "account": {"login": "Acme"}}]"#.to_owned())
            } else if request == "POST /app/installations/42/access_tokens" {
                (
                    201,
                    r#"{"token": "ghs_installation_token", "expires_at": "2099-01-01T00:00:00Z"}"#
                        .to_owned(),
                )
            } else {
                (404, "{}".to_owned())
            };
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    (base, log)
}

#[test]
fn github_app_should_mint_and_cache_an_installation_token() {
    let keydir = tempfile::tempdir().expect("tempdir");
    let pem = rsa_key(keydir.path());
    let (base, log) = api_server(pem.clone());
    let env = super::env();
    env.server
        .set(|b| b.basic = Some(("x-access-token".into(), "ghs_installation_token".into())));
    let data = [
        ("githubAppID", "123"),
        ("githubAppInstallationOwner", "acme"),
        ("githubAppPrivateKey", pem.as_str()),
        ("githubAppBaseURL", base.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
    .collect();
    let creds = Credentials::from_data(&data).expect("valid");
    assert!(!format!("{creds:?}").contains("PRIVATE"));
    let url = env.server.url("repo");
    let reference = GitRef::default();
    for _ in 0..2 {
        env.fetcher
            .fetch(
                &Request {
                    url: &url,
                    reference: &reference,
                    credentials: &creds,
                    ignore: None,
                    last_revision: None,
                    object: None,
                },
                &Arc::new(std::sync::atomic::AtomicBool::new(false)),
            )
            .expect("fetches with the installation token");
    }
    assert_eq!(
        *log.lock().expect("log"),
        vec![
            "GET /app/installations?per_page=100".to_owned(),
            "POST /app/installations/42/access_tokens".to_owned()
        ],
        "token cached across fetches"
    );
    let _ = (Duration::ZERO, SystemTime::now());
}
