//! HTTPS from a configured certificate: a CA and a server certificate are
//! made here (rcgen); a client trusting the CA gets the sign-in page and a
//! `Secure` session cookie with HSTS; plain HTTP to the port fails; a key
//! that is not the certificate's is refused naming both files.

use axum::http::{StatusCode, header};
use custos_auth::{Auth, Role, Users};
use custos_journal::Journal;
use custos_server::media::MediaQueue;
use custos_server::tls::{TlsConfig, server_config};
use custos_server::{AppState, WhatsAppConfig};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// A CA's PEM, and a `localhost` certificate it signed with its key, in
/// files under `dir`.
fn certificates(dir: &std::path::Path) -> (String, TlsConfig) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let tls = TlsConfig {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&tls.cert, cert.pem()).unwrap();
    std::fs::write(&tls.key, key.serialize_pem()).unwrap();
    (ca.pem(), tls)
}

#[tokio::test]
async fn https_serves_with_secure_cookies_and_hsts_and_refuses_plain_http() {
    custos_server::tls::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let (ca, tls) = certificates(dir.path());
    let journal = Journal::init(&dir.path().join("data"), None, "test").unwrap();
    let mut users = Users::default();
    crate::grant(
        &journal,
        &mut users,
        "cora",
        &[Role::ComplianceOfficer],
        &[],
        None,
    );
    let state = AppState::new(
        journal.clone(),
        WhatsAppConfig::default(),
        MediaQueue::disabled(),
    )
    .unwrap()
    .with_auth(Auth::with_users(journal.clone(), Default::default(), users));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = server_config(&tls).unwrap();
    tokio::spawn(custos_server::tls::serve_tls(
        listener,
        state,
        config,
        std::future::pending(),
    ));
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()])
        .resolve("localhost", addr)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("https://localhost:{}", addr.port());
    let r = client.get(format!("{base}/signin")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()[header::STRICT_TRANSPORT_SECURITY],
        "max-age=31536000"
    );
    let r = client
        .post(format!("{base}/signin"))
        .form(&[("user", "cora"), ("password", crate::PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("custos_session="), "{cookie}");
    assert!(cookie.ends_with("; Secure"), "{cookie}");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = reqwest::Client::new()
        .get(format!("http://{addr}/signin"))
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");
    // A client that does not trust the CA cannot connect.
    let stranger = reqwest::Client::builder()
        .tls_certs_only([])
        .resolve("localhost", addr)
        .build()
        .unwrap()
        .get(format!("{base}/signin"))
        .send()
        .await;
    assert!(stranger.is_err(), "{stranger:?}");
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused_naming_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let (_, tls) = certificates(dir.path());
    let other = KeyPair::generate().unwrap();
    let wrong_key = dir.path().join("other-key.pem");
    std::fs::write(&wrong_key, other.serialize_pem()).unwrap();
    let err = server_config(&TlsConfig {
        cert: tls.cert.clone(),
        key: wrong_key,
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("cert.pem") && err.contains("other-key.pem"),
        "{err}"
    );
    let err = server_config(&TlsConfig {
        cert: tls.key.clone(),
        key: tls.key.clone(),
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("no usable PEM certificate"), "{err}");
}
