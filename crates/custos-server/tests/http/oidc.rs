//! Single sign-on against a local OpenID Connect provider on loopback:
//! discovery, JWKS, `/authorize` (auto-approves the configured user) and
//! `/token` (checks the code once, the PKCE verifier and the client's
//! secret; answers an RS256-signed ID token). A full sign-in through the
//! real server following redirects with a cookie jar, then every way it
//! must fail: each refused, with no session, and journalled.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use custos_auth::{Auth, Role, Users};
use custos_journal::{Journal, Opened};
use custos_model::{Event, EventKind};
use custos_server::media::MediaQueue;
use custos_server::oidc::{Oidc, OidcConfig};
use custos_server::{AppState, Secret, WhatsAppConfig};
use openidconnect::core::{
    CoreIdToken, CoreIdTokenClaims, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
    CoreRsaPrivateSigningKey,
};
use openidconnect::{
    Audience, EmptyAdditionalClaims, EndUserEmail, IssuerUrl, JsonWebKeyId, Nonce,
    PrivateSigningKey, StandardClaims, SubjectIdentifier,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const CLIENT_ID: &str = "custos";
const CLIENT_SECRET: &str = "idp-client-secret";
const USER: &str = "ana@bank.example";

/// How the provider misbehaves.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Good,
    OtherKey,
    Expired,
    WrongAudience,
}

struct Grant {
    challenge: String,
    nonce: String,
    redirect_uri: String,
    used: bool,
}

struct Provider {
    issuer: String,
    key: CoreRsaPrivateSigningKey,
    other_key: CoreRsaPrivateSigningKey,
    mode: Mutex<Mode>,
    user: Mutex<String>,
    grants: Mutex<HashMap<String, Grant>>,
    refusals: Mutex<Vec<String>>,
}

type Idp = Arc<Provider>;

fn key(file: &str) -> CoreRsaPrivateSigningKey {
    let path = format!("{}/tests/http/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let pem = std::fs::read_to_string(path).unwrap();
    // Both keys claim the same kid, so a token signed by the other one is
    // caught by its signature, not by a missing key.
    CoreRsaPrivateSigningKey::from_pem(&pem, Some(JsonWebKeyId::new("k1".into()))).unwrap()
}

async fn discovery(State(p): State<Idp>) -> Response {
    axum::Json(serde_json::json!({
        "issuer": p.issuer,
        "authorization_endpoint": format!("{}/authorize", p.issuer),
        "token_endpoint": format!("{}/token", p.issuer),
        "jwks_uri": format!("{}/jwks", p.issuer),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "email", "profile"],
    }))
    .into_response()
}

async fn jwks(State(p): State<Idp>) -> Response {
    axum::Json(CoreJsonWebKeySet::new(vec![p.key.as_verification_key()])).into_response()
}

fn refuse(p: &Provider, why: &str) -> Response {
    p.refusals.lock().unwrap().push(why.to_string());
    (
        StatusCode::BAD_REQUEST,
        axum::Json(serde_json::json!({"error": "invalid_grant", "error_description": why})),
    )
        .into_response()
}

async fn authorize(State(p): State<Idp>, Query(q): Query<HashMap<String, String>>) -> Response {
    let ok = q.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && q.get("response_type").map(String::as_str) == Some("code")
        && q.get("code_challenge_method").map(String::as_str) == Some("S256")
        && q.get("scope")
            .is_some_and(|s| s.split(' ').any(|s| s == "openid"));
    if !ok {
        return refuse(&p, "bad authorization request");
    }
    let mut grants = p.grants.lock().unwrap();
    let code = format!("code-{}", grants.len() + 1);
    let redirect_uri = q["redirect_uri"].clone();
    grants.insert(
        code.clone(),
        Grant {
            challenge: q["code_challenge"].clone(),
            nonce: q["nonce"].clone(),
            redirect_uri: redirect_uri.clone(),
            used: false,
        },
    );
    let mut to = reqwest::Url::parse(&redirect_uri).unwrap();
    to.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &q["state"]);
    Redirect::to(to.as_str()).into_response()
}

async fn token(
    State(p): State<Idp>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    let b64 = base64::engine::general_purpose::STANDARD;
    let expected = format!(
        "Basic {}",
        b64.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(&expected)
    {
        return refuse(&p, "client authentication failed");
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return refuse(&p, "bad grant type");
    }
    let code = form.get("code").cloned().unwrap_or_default();
    let nonce = {
        let mut grants = p.grants.lock().unwrap();
        let Some(grant) = grants.get_mut(&code) else {
            return refuse(&p, "unknown code");
        };
        if grant.used {
            return refuse(&p, "code already used");
        }
        grant.used = true;
        if form.get("redirect_uri") != Some(&grant.redirect_uri) {
            return refuse(&p, "redirect_uri differs");
        }
        let verifier = form.get("code_verifier").cloned().unwrap_or_default();
        let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
        let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
        if computed != grant.challenge {
            return refuse(&p, "PKCE verifier does not match the challenge");
        }
        grant.nonce.clone()
    };
    let mode = *p.mode.lock().unwrap();
    let now = chrono::Utc::now();
    let (issued, expires) = if mode == Mode::Expired {
        (
            now - chrono::Duration::minutes(20),
            now - chrono::Duration::minutes(10),
        )
    } else {
        (now, now + chrono::Duration::minutes(5))
    };
    let audience = if mode == Mode::WrongAudience {
        "another-app"
    } else {
        CLIENT_ID
    };
    let claims = CoreIdTokenClaims::new(
        IssuerUrl::new(p.issuer.clone()).unwrap(),
        vec![Audience::new(audience.into())],
        expires,
        issued,
        StandardClaims::new(SubjectIdentifier::new("sub-4711".into()))
            .set_email(Some(EndUserEmail::new(p.user.lock().unwrap().clone())))
            .set_email_verified(Some(true)),
        EmptyAdditionalClaims {},
    )
    .set_nonce(Some(Nonce::new(nonce)));
    let signer = if mode == Mode::OtherKey {
        &p.other_key
    } else {
        &p.key
    };
    let id_token = CoreIdToken::new(
        claims,
        signer,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        None,
        None,
    )
    .unwrap();
    axum::Json(serde_json::json!({
        "access_token": "at-1",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token.to_string(),
    }))
    .into_response()
}

async fn start_provider() -> Idp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let provider = Arc::new(Provider {
        issuer: format!("http://{}", listener.local_addr().unwrap()),
        key: key("oidc-test-key-a.pem"),
        other_key: key("oidc-test-key-b.pem"),
        mode: Mutex::new(Mode::Good),
        user: Mutex::new(USER.into()),
        grants: Mutex::new(HashMap::new()),
        refusals: Mutex::new(Vec::new()),
    });
    use axum::routing::{get, post};
    let app = axum::Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .with_state(provider.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    provider
}

struct Setup {
    _dir: tempfile::TempDir,
    journal: Journal,
    idp: Idp,
    base: String,
}

async fn setup() -> Setup {
    let idp = start_provider().await;
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(dir.path(), None, "test").unwrap();
    crate::grant(
        &journal,
        &mut Users::default(),
        "Ana@Bank.example",
        &[Role::ComplianceOfficer],
        &[],
        None,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let callback = format!("{base}/signin/oidc/callback");
    serve_node(&journal, &idp, listener, &callback, None);
    Setup {
        _dir: dir,
        journal,
        idp,
        base,
    }
}

/// Serves a custos node on `listener` over `journal` with single sign-on
/// through `idp` (the provider sends browsers back to `callback`); its
/// state cookies are sealed under `key` (a cluster's derived key), else
/// the node's own random key.
fn serve_node(
    journal: &Journal,
    idp: &Idp,
    listener: tokio::net::TcpListener,
    callback: &str,
    key: Option<&[u8; 32]>,
) {
    let users = Users::load(journal).unwrap();
    let mut oidc = Oidc::new(OidcConfig {
        issuer: idp.issuer.clone(),
        client_id: CLIENT_ID.into(),
        client_secret: Secret::new(CLIENT_SECRET),
        redirect_url: callback.to_string(),
        ..OidcConfig::default()
    })
    .unwrap();
    if let Some(key) = key {
        oidc = oidc.with_state_key(key);
    }
    let mut state = AppState::new(
        journal.clone(),
        WhatsAppConfig::default(),
        MediaQueue::disabled(),
    )
    .unwrap()
    .with_auth(Auth::with_users(journal.clone(), Default::default(), users));
    state.oidc = Some(Arc::new(oidc));
    tokio::spawn(custos_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
}

/// The `auth.*` system events: action and details.
fn signins(journal: &Journal) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    for entry in journal.entries(0) {
        let entry = entry.unwrap();
        if entry.leaf.kind != EventKind::System {
            continue;
        }
        if let Opened::Event(Event::System(e)) = journal.open_entry(&entry).unwrap()
            && e.action.starts_with("auth.signin")
        {
            out.push((e.action, serde_json::Value::Object(e.details)));
        }
    }
    out
}

fn browser(follow: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(if follow {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        })
        .build()
        .unwrap()
}

fn location(r: &reqwest::Response) -> String {
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{r:?}");
    r.headers()[header::LOCATION].to_str().unwrap().to_string()
}

/// Replaces query parameter `name` of `url` with `value`.
fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut u = reqwest::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name {
                value.to_string()
            } else {
                v.into()
            };
            (k.into(), v)
        })
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.to_string()
}

fn param(url: &str, name: &str) -> String {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .unwrap()
        .1
        .into()
}

/// Runs the flow step by step: `authorize` may rewrite the provider's
/// URL, `callback` the way back. Gives the callback's answer.
async fn flow(
    s: &Setup,
    client: &reqwest::Client,
    authorize: impl Fn(String) -> String,
    callback: impl Fn(String) -> String,
) -> reqwest::Response {
    let r = client
        .get(format!("{}/signin/oidc", s.base))
        .send()
        .await
        .unwrap();
    let to_idp = authorize(location(&r));
    let r = client.get(to_idp).send().await.unwrap();
    let back = callback(location(&r));
    client.get(back).send().await.unwrap()
}

/// Asserts a refusal: 401, no session cookie, and the latest journalled
/// refusal's reason contains `reason`.
async fn assert_refused(s: &Setup, r: reqwest::Response, reason: &str) {
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let cookies: Vec<_> = r.headers().get_all(header::SET_COOKIE).iter().collect();
    assert!(
        cookies
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("custos_session=")),
        "{cookies:?}"
    );
    let page = r.text().await.unwrap();
    assert!(page.contains("single sign-on refused"), "{page}");
    let journal = s.journal.clone();
    let logged = tokio::task::spawn_blocking(move || signins(&journal))
        .await
        .unwrap();
    let (action, details) = logged.last().unwrap();
    assert_eq!(action, "auth.signin_failed");
    assert_eq!(details["method"], "oidc");
    let why = details["reason"].as_str().unwrap();
    assert!(why.contains(reason), "{why:?} should say {reason:?}");
}

#[tokio::test]
async fn a_full_sign_in_follows_redirects_to_a_session() {
    let s = setup().await;
    let page = reqwest::get(format!("{}/signin", s.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sign in with SSO"), "{page}");
    let client = browser(true);
    let r = client
        .get(format!("{}/signin/oidc?next=/api/v1/me", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.url().path(), "/api/v1/me");
    let me: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        me["user"], "Ana@Bank.example",
        "the claim's case is ignored"
    );
    assert_eq!(me["roles"], serde_json::json!(["compliance_officer"]));
    let logged = signins(&s.journal);
    let (action, details) = logged.last().unwrap();
    assert_eq!(action, "auth.signin");
    assert_eq!(details["method"], "oidc");
    assert_eq!(details["user"], "Ana@Bank.example");
    assert!(s.idp.refusals.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_wrong_state_is_refused() {
    let s = setup().await;
    let r = flow(
        &s,
        &browser(false),
        |a| a,
        |c| with_param(&c, "state", "forged"),
    )
    .await;
    assert_refused(&s, r, "state unknown").await;
}

#[tokio::test]
async fn a_callback_in_another_browser_is_refused() {
    let s = setup().await;
    let victim = browser(false);
    let r = victim
        .get(format!("{}/signin/oidc", s.base))
        .send()
        .await
        .unwrap();
    let r = victim.get(location(&r)).send().await.unwrap();
    // The attacker's browser has no state cookie.
    let r = browser(false).get(location(&r)).send().await.unwrap();
    assert_refused(&s, r, "not bound to this browser").await;
}

#[tokio::test]
async fn a_replayed_code_is_refused() {
    let s = setup().await;
    let client = browser(false);
    let first = Mutex::new(String::new());
    let r = flow(
        &s,
        &client,
        |a| a,
        |c| {
            *first.lock().unwrap() = param(&c, "code");
            c
        },
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the first use signs in");
    let code = first.lock().unwrap().clone();
    let r = flow(&s, &client, |a| a, |c| with_param(&c, "code", &code)).await;
    assert_refused(&s, r, "code exchange failed").await;
    assert_eq!(
        s.idp.refusals.lock().unwrap().as_slice(),
        ["code already used"]
    );
}

#[tokio::test]
async fn a_bad_pkce_verifier_is_refused() {
    let s = setup().await;
    // An injected code: the provider bound it to someone else's challenge,
    // so our verifier does not match it.
    let other = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let r = flow(
        &s,
        &browser(false),
        |a| with_param(&a, "code_challenge", other),
        |c| c,
    )
    .await;
    assert_refused(&s, r, "code exchange failed").await;
    assert_eq!(
        s.idp.refusals.lock().unwrap().as_slice(),
        ["PKCE verifier does not match the challenge"]
    );
}

#[tokio::test]
async fn tokens_that_do_not_verify_are_refused() {
    let s = setup().await;
    for (mode, reason) in [
        (Mode::OtherKey, "signature"),
        (Mode::Expired, "expired"),
        (Mode::WrongAudience, "audience"),
    ] {
        *s.idp.mode.lock().unwrap() = mode;
        let r = flow(&s, &browser(false), |a| a, |c| c).await;
        assert_refused(&s, r, "id token rejected").await;
        let logged = signins(&s.journal);
        let why = logged.last().unwrap().1["reason"]
            .as_str()
            .unwrap()
            .to_lowercase();
        assert!(why.contains(reason), "{why:?} should say {reason:?}");
    }
    assert_eq!(
        signins(&s.journal)
            .iter()
            .filter(|(a, _)| a == "auth.signin")
            .count(),
        0
    );
}

#[tokio::test]
async fn an_unknown_user_is_refused() {
    let s = setup().await;
    *s.idp.user.lock().unwrap() = "mallory@bank.example".into();
    let r = flow(&s, &browser(false), |a| a, |c| c).await;
    assert_refused(&s, r, "unknown user").await;
    let logged = signins(&s.journal);
    assert_eq!(logged.last().unwrap().1["user"], "mallory@bank.example");
}

/// Two nodes of a cluster behind one address (the provider returns to
/// node b): a sign-in started on node a finishes on node b when both seal
/// with the cluster's key, and is refused as another browser's when node b
/// has a key of its own.
#[tokio::test]
async fn a_sign_in_started_on_one_node_finishes_on_another() {
    let s = setup().await;
    let key = s.journal.derived_key("oidc state cookie");
    let other = [7u8; 32];
    for (b_key, signs_in) in [(&key, true), (&other, false)] {
        let a = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let b = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (a_base, b_base) = (
            format!("http://{}", a.local_addr().unwrap()),
            format!("http://{}", b.local_addr().unwrap()),
        );
        let callback = format!("{b_base}/signin/oidc/callback");
        serve_node(&s.journal, &s.idp, a, &callback, Some(&key));
        serve_node(&s.journal, &s.idp, b, &callback, Some(b_key));
        // One browser: cookies go to the host whatever the port, as they
        // go to one load-balanced address.
        let client = browser(false);
        let r = client
            .get(format!("{a_base}/signin/oidc?next=/api/v1/me"))
            .send()
            .await
            .unwrap();
        let r = client.get(location(&r)).send().await.unwrap();
        let back = location(&r);
        assert!(back.starts_with(&b_base), "{back}");
        let r = client.get(back).send().await.unwrap();
        if signs_in {
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
            let me = client
                .get(format!("{b_base}/api/v1/me"))
                .send()
                .await
                .unwrap();
            assert_eq!(me.status(), StatusCode::OK);
            let me: serde_json::Value = me.json().await.unwrap();
            assert_eq!(me["user"], "Ana@Bank.example");
        } else {
            assert_refused(&s, r, "not bound to this browser").await;
        }
    }
}
