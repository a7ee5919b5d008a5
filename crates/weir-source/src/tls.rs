//! HTTP agents: rustls with the aws-lc-rs provider, Mozilla's roots or a secret's `ca.crt`.

use std::{sync::Arc, time::Duration};

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider};

/// A `ca.crt` that holds no usable certificate.
#[derive(Debug, Clone, thiserror::Error)]
#[error("ca.crt holds no valid PEM certificate")]
pub struct InvalidCa;

/// Builds an agent that trusts `ca_pem` (when given) instead of the built-in roots, gives up connecting
/// after `connect_timeout`, never turns HTTP statuses into errors (callers map them) and follows no
/// redirect itself: the Git HTTP layer follows them hop by hop, so that credentials only ever go to
/// the origin they were configured for.
pub fn agent(ca_pem: Option<&[u8]>, connect_timeout: Duration) -> Result<ureq::Agent, InvalidCa> {
    let roots = match ca_pem {
        None => RootCerts::WebPki,
        Some(pem) => {
            let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(pem)
                .filter_map(|item| match item {
                    Ok(PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(InvalidCa);
            }
            RootCerts::Specific(Arc::new(certs))
        }
    };
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .root_certs(roots)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .build();
    Ok(ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .timeout_connect(Some(connect_timeout))
        .max_redirects(0)
        .redirect_auth_headers(ureq::config::RedirectAuthHeaders::Never)
        .user_agent(concat!("weir/", env!("CARGO_PKG_VERSION")))
        .build()
        .into())
}
