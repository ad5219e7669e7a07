//! HTTPS from a configured certificate (rustls with the aws-lc-rs
//! provider).
//!
//! `[tls] cert` is a PEM chain (the server's certificate first), `key`
//! its PEM private key (PKCS#8, PKCS#1 or SEC1). Over TLS the session
//! cookies carry `Secure` and every response carries
//! `Strict-Transport-Security`; there is no plain-HTTP listener beside
//! it (put a redirect in front if browsers should be sent over).

use crate::AppState;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// `[tls]`: where the certificate and key are.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The PEM certificate chain, the server's own certificate first.
    pub cert: PathBuf,
    /// The PEM private key of that certificate.
    pub key: PathBuf,
}

/// Why the certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The certificate file holds no PEM certificate, or a bad one.
    #[error("{path}: no usable PEM certificate ({message})")]
    Certificate {
        /// The file.
        path: String,
        /// What the PEM reader said.
        message: String,
    },
    /// The key file holds no PEM private key, or a bad one.
    #[error("{path}: no usable PEM private key ({message})")]
    Key {
        /// The file.
        path: String,
        /// What the PEM reader said.
        message: String,
    },
    /// rustls refused the pair (e.g. the key is not the certificate's).
    #[error("{cert} with {key}: {message}")]
    Pair {
        /// The certificate file.
        cert: String,
        /// The key file.
        key: String,
        /// What rustls said.
        message: String,
    },
}

/// Installs aws-lc-rs as the process's rustls provider (the one reqwest
/// and the TLS listener use). Call once at start; later calls do nothing.
pub fn install_crypto_provider() {
    // Err means one is installed already, which is what we want.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// The rustls server configuration for `tls` (HTTP/2 and HTTP/1.1).
pub fn server_config(tls: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let cert_path = tls.cert.display().to_string();
    let key_path = tls.key.display().to_string();
    let certs = CertificateDer::pem_slice_iter(&read(&tls.cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Certificate {
            path: cert_path.clone(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Certificate {
            path: cert_path,
            message: "the file holds no CERTIFICATE block".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(&read(&tls.key)?).map_err(|e| TlsError::Key {
        path: key_path.clone(),
        message: e.to_string(),
    })?;
    let pair = |message: String| TlsError::Pair {
        cert: cert_path.clone(),
        key: key_path.clone(),
        message,
    };
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| pair(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| pair(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

async fn hsts(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    response
}

/// Serves `router(state)` over TLS on `listener` until `shutdown`
/// completes: session cookies `Secure`, HSTS on every response.
pub async fn serve_tls(
    listener: std::net::TcpListener,
    mut state: AppState,
    config: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    state.secure_cookies = true;
    let app = crate::router(state).layer(axum::middleware::map_response(hsts));
    listener.set_nonblocking(true)?;
    let handle = axum_server::Handle::<std::net::SocketAddr>::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    axum_server::from_tcp_rustls(
        listener,
        axum_server::tls_rustls::RustlsConfig::from_config(config),
    )?
    .handle(handle)
    .serve(app.into_make_service_with_connect_info::<std::net::SocketAddr>())
    .await
}
