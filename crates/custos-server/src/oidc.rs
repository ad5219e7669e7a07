//! OpenID Connect sign-in (authorization code with PKCE) for enterprise SSO.
//!
//! `GET /signin/oidc` sends the browser to the identity provider with a
//! PKCE S256 challenge, a state and a nonce. The state, the verifier, the
//! nonce, where to go after and when it started travel sealed
//! (AES-256-GCM) in a short cookie (`custos_oidc`, `SameSite=Lax` so it
//! survives the provider's redirect), under a key every node of a cluster
//! derives from the KEK ([`Oidc::with_state_key`]): the callback may land
//! on any node, a callback URL planted in someone else's browser signs no
//! one in (no cookie), and the browser cannot read or change what it
//! carries. A sign-in is good for ten minutes and used once per node (the
//! provider refuses a code used twice anywhere). `GET /signin/oidc/callback` checks the state, exchanges the
//! code (with the verifier and the client secret), verifies the ID
//! token (signature against the provider's JWKS, issuer, audience,
//! expiry, nonce) and signs in the **existing** custos user the
//! configured claim names ([`custos_auth::Auth::sign_in_verified`]):
//! roles and units are custos's, never the provider's. Every refusal is
//! journalled as `auth.signin_failed` with `method: oidc` and the reason.
//!
//! `openidconnect` does the protocol; its HTTP requests go through the
//! server's reqwest client ([`Oidc::new`]), with redirects off so a
//! provider cannot bounce the token request elsewhere.

use crate::config::{ConfigError, Secret};
use crate::{AppState, Problem, auth};
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use custos_auth::SignInError;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EmptyAdditionalClaims, HttpRequest,
    HttpResponse, IdTokenClaims, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cookie binding a sign-in's state to the browser that started it.
pub const STATE_COOKIE: &str = "custos_oidc";
/// How long a started sign-in may take at the provider.
const PENDING_TTL: Duration = Duration::from_secs(600);
/// The most finished sign-ins remembered per node (older ones are
/// dropped first; their cookies have expired by then anyway).
const MAX_PENDING: usize = 10_000;
/// How long the provider's metadata and keys are trusted before they are
/// fetched again (so rotated signing keys are picked up).
const METADATA_TTL: Duration = Duration::from_secs(600);
/// The method name journalled with sign-ins.
const METHOD: &str = "oidc";

/// Which ID token claim names the custos user.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserClaim {
    /// `email` (refused when the provider says `email_verified: false`).
    #[default]
    Email,
    /// `preferred_username`.
    PreferredUsername,
}

/// `[oidc]`: single sign-on through an OpenID Connect provider.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer URL (its `/.well-known/openid-configuration` is read).
    pub issuer: String,
    /// The client id registered at the provider.
    pub client_id: String,
    /// The client secret (also `CUSTOS_OIDC_CLIENT_SECRET`).
    pub client_secret: Secret,
    /// This server's callback, exactly as registered at the provider:
    /// `https://custos.example.com/signin/oidc/callback`.
    pub redirect_url: String,
    /// The claim that names the custos user (`email` or
    /// `preferred_username`); it must equal a user's id.
    pub user_claim: UserClaim,
    /// The sign-in page's button text (default "Sign in with SSO").
    pub button_label: Option<String>,
}

impl OidcConfig {
    /// Whether single sign-on is configured.
    pub fn is_enabled(&self) -> bool {
        !self.issuer.is_empty()
    }

    /// Checks a configured section: every field present and each URL valid.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.is_enabled() {
            return Ok(());
        }
        let invalid = |field: &str, message: String| ConfigError::Invalid {
            field: format!("oidc.{field}"),
            message,
        };
        IssuerUrl::new(self.issuer.clone())
            .map_err(|e| invalid("issuer", format!("not a URL: {e}")))?;
        if self.client_id.is_empty() {
            return Err(invalid("client_id", "missing".into()));
        }
        if self.redirect_url.is_empty() {
            return Err(invalid(
                "redirect_url",
                "missing (this server's /signin/oidc/callback as registered at the provider)"
                    .into(),
            ));
        }
        let redirect = RedirectUrl::new(self.redirect_url.clone())
            .map_err(|e| invalid("redirect_url", format!("not a URL: {e}")))?;
        if redirect.url().path() != "/signin/oidc/callback" {
            return Err(invalid(
                "redirect_url",
                format!(
                    "must end in /signin/oidc/callback, not {}",
                    redirect.url().path()
                ),
            ));
        }
        Ok(())
    }
}

/// A sign-in started and not yet finished, as its cookie carries it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Pending {
    state: String,
    verifier: String,
    nonce: String,
    next: String,
    /// UTC microseconds.
    started: i64,
}

/// The additional data every sealed state cookie is bound to.
const SEAL_AAD: &[u8] = b"custos oidc state v1";

/// The single sign-on service: configuration, the provider's metadata
/// (fetched on first use and every ten minutes) and sign-ins in flight.
pub struct Oidc {
    config: OidcConfig,
    http: reqwest::Client,
    metadata: tokio::sync::Mutex<Option<(Instant, CoreProviderMetadata)>>,
    /// Seals the state cookies.
    seal: ring::aead::LessSafeKey,
    /// States finished on this node, with when, so each is used once.
    used: Mutex<HashMap<String, Instant>>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("issuer", &self.config.issuer)
            .field("client_id", &self.config.client_id)
            .finish_non_exhaustive()
    }
}

/// Why a sign-in through the provider was refused (the journalled reason).
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider's metadata or keys could not be fetched.
    #[error("discovery failed: {0}")]
    Discovery(String),
    /// The provider answered the authorization request with an error.
    #[error("the provider refused: {0}")]
    Provider(String),
    /// The callback's state was not one we issued, has expired or was used.
    #[error("state unknown, expired or already used")]
    State,
    /// The callback came to another browser than the one that started it.
    #[error("state not bound to this browser")]
    Browser,
    /// The token endpoint refused the code (wrong, replayed, bad verifier).
    #[error("code exchange failed: {0}")]
    Exchange(String),
    /// The ID token did not verify.
    #[error("id token rejected: {0}")]
    IdToken(String),
    /// The configured claim is absent or not usable.
    #[error("claim {0} missing or unverified")]
    Claim(&'static str),
}

/// The AES-256-GCM key of the state cookies.
fn seal_key(key: &[u8; 32]) -> ring::aead::LessSafeKey {
    ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, key).expect("a 32-byte key"),
    )
}

/// Sends one `openidconnect` request through `client`.
async fn send(
    client: reqwest::Client,
    request: HttpRequest,
) -> Result<HttpResponse, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?;
    let mut out = HttpResponse::new(body.to_vec());
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl Oidc {
    /// The service for `config` (checked with [`OidcConfig::validate`]).
    pub fn new(config: OidcConfig) -> Result<Oidc, ConfigError> {
        config.validate()?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| ConfigError::Invalid {
                field: "oidc".into(),
                message: format!("cannot build an HTTP client: {e}"),
            })?;
        let mut key = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key).map_err(
            |_| ConfigError::Invalid {
                field: "oidc".into(),
                message: "the system's random generator failed".into(),
            },
        )?;
        Ok(Oidc {
            config,
            http,
            metadata: tokio::sync::Mutex::new(None),
            seal: seal_key(&key),
            used: Mutex::new(HashMap::new()),
        })
    }

    /// Seals the state cookies under `key` instead of this process's own
    /// random one: give every node of a cluster the same key (the server
    /// derives it from the KEK), so a sign-in started on one node finishes
    /// on any.
    pub fn with_state_key(mut self, key: &[u8; 32]) -> Oidc {
        self.seal = seal_key(key);
        self
    }

    fn seal_pending(&self, pending: &Pending) -> String {
        use base64::Engine;
        let mut nonce = [0u8; 12];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
            .expect("the system's random generator");
        let mut sealed = serde_json::to_vec(pending).expect("a pending sign-in serialises");
        self.seal
            .seal_in_place_append_tag(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(SEAL_AAD),
                &mut sealed,
            )
            .expect("sealing a small cookie");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
    }

    fn open_pending(&self, cookie: &str) -> Option<Pending> {
        use base64::Engine;
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cookie.trim())
            .ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let mut body = bytes.split_off(12);
        let nonce = ring::aead::Nonce::try_assume_unique_for_key(&bytes).ok()?;
        let plain = self
            .seal
            .open_in_place(nonce, ring::aead::Aad::from(SEAL_AAD), &mut body)
            .ok()?;
        serde_json::from_slice(plain).ok()
    }

    /// The sign-in page's button text.
    pub fn button_label(&self) -> &str {
        self.config
            .button_label
            .as_deref()
            .unwrap_or("Sign in with SSO")
    }

    async fn metadata(&self) -> Result<CoreProviderMetadata, OidcError> {
        let mut cached = self.metadata.lock().await;
        if let Some((at, m)) = cached.as_ref()
            && at.elapsed() < METADATA_TTL
        {
            return Ok(m.clone());
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| OidcError::Discovery(e.to_string()))?;
        let client = self.http.clone();
        let http = move |r| send(client.clone(), r);
        let m = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .map_err(|e| OidcError::Discovery(error_chain(&e)))?;
        *cached = Some((Instant::now(), m.clone()));
        Ok(m)
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        OidcError,
    > {
        let secret = self
            .config
            .client_secret
            .is_set()
            .then(|| ClientSecret::new(self.config.client_secret.expose().to_string()));
        let redirect = RedirectUrl::new(self.config.redirect_url.clone())
            .map_err(|e| OidcError::Discovery(e.to_string()))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            secret,
        )
        .set_redirect_uri(redirect))
    }

    /// Starts a sign-in: the provider's authorization URL and the sealed
    /// state cookie's value (the caller binds it to the browser).
    pub async fn start(&self, next: String) -> Result<(String, String), OidcError> {
        let client = self.client(self.metadata().await?)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        request = match self.config.user_claim {
            UserClaim::Email => request.add_scope(Scope::new("email".into())),
            UserClaim::PreferredUsername => request.add_scope(Scope::new("profile".into())),
        };
        let (url, state, nonce) = request.url();
        let cookie = self.seal_pending(&Pending {
            state: state.secret().clone(),
            verifier: verifier.secret().clone(),
            nonce: nonce.secret().clone(),
            next,
            started: custos_model::Timestamp::now().as_micros(),
        });
        Ok((url.to_string(), cookie))
    }

    /// Finishes a sign-in: checks the state against the browser's cookie,
    /// exchanges the code, verifies the ID token; gives the claim naming
    /// the user and where to go after.
    pub async fn finish(
        &self,
        state: &str,
        cookie: Option<&str>,
        code: &str,
    ) -> Result<(String, String), OidcError> {
        // No cookie, or one this archive did not seal: another browser.
        let pending = cookie
            .and_then(|c| self.open_pending(c))
            .ok_or(OidcError::Browser)?;
        let age = custos_model::Timestamp::now().as_micros() - pending.started;
        let ttl = i64::try_from(PENDING_TTL.as_micros()).unwrap_or(i64::MAX);
        if !custos_auth::constant_time_eq(pending.state.as_bytes(), state.as_bytes())
            || !(0..ttl).contains(&age)
        {
            return Err(OidcError::State);
        }
        {
            let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
            used.retain(|_, at| at.elapsed() < PENDING_TTL);
            if used.len() >= MAX_PENDING
                && let Some(oldest) = used
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(k, _)| k.clone())
            {
                used.remove(&oldest);
            }
            if used.insert(pending.state.clone(), Instant::now()).is_some() {
                return Err(OidcError::State);
            }
        }
        let client = self.client(self.metadata().await?)?;
        let http_client = self.http.clone();
        let http = move |r| send(http_client.clone(), r);
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| OidcError::Exchange(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
            .request_async(&http)
            .await
            .map_err(|e| OidcError::Exchange(error_chain(&e)))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| OidcError::IdToken("the token response has no id_token".into()))?;
        let verifier = client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, &Nonce::new(pending.nonce))
            .map_err(|e| OidcError::IdToken(error_chain(&e)))?;
        let user = self.user_claim(claims)?;
        Ok((user, pending.next))
    }

    fn user_claim(
        &self,
        claims: &IdTokenClaims<EmptyAdditionalClaims, CoreGenderClaim>,
    ) -> Result<String, OidcError> {
        match self.config.user_claim {
            UserClaim::Email => {
                if claims.email_verified() == Some(false) {
                    return Err(OidcError::Claim("email"));
                }
                claims
                    .email()
                    .map(|e| e.as_str().to_string())
                    .ok_or(OidcError::Claim("email"))
            }
            UserClaim::PreferredUsername => claims
                .preferred_username()
                .map(|u| u.as_str().to_string())
                .ok_or(OidcError::Claim("preferred_username")),
        }
    }
}

/// The value of the state cookie, if sent.
fn state_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == STATE_COOKIE)
        .map(|(_, value)| value.trim())
}

fn state_cookie_header(value: &str, max_age: u64, secure: bool) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{STATE_COOKIE}={value}; HttpOnly; SameSite=Lax; Path=/signin/oidc; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    ))
    .ok()
}

fn not_configured() -> Response {
    Problem::new(
        StatusCode::NOT_FOUND,
        "single sign-on is not configured",
        "this server has no [oidc] section; sign in with a password",
    )
    .into_response()
}

/// `GET /signin/oidc?next=`: 303 to the provider, with the state cookie.
pub async fn start(State(state): State<AppState>, Query(q): Query<auth::NextParam>) -> Response {
    let Some(oidc) = state.oidc.clone() else {
        return not_configured();
    };
    match oidc.start(auth::safe_next(q.next())).await {
        Ok((url, st)) => {
            let mut response = Redirect::to(&url).into_response();
            if let Some(v) = state_cookie_header(&st, PENDING_TTL.as_secs(), state.secure_cookies) {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
            response
        }
        Err(e) => {
            tracing::warn!(error = %e, "oidc sign-in could not start");
            Problem::new(
                StatusCode::BAD_GATEWAY,
                "the identity provider cannot be reached",
                e.to_string(),
            )
            .into_response()
        }
    }
}

/// The callback's query.
#[derive(Debug, Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /signin/oidc/callback`: signs in (303 to where the sign-in
/// started, with the session cookie, as a password sign-in) or shows the
/// sign-in page with the reason (401); every refusal is journalled.
pub async fn callback(State(state): State<AppState>, req: Request) -> Response {
    let Some(oidc) = state.oidc.clone() else {
        return not_configured();
    };
    let client: Option<IpAddr> = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let q = match Query::<Callback>::try_from_uri(req.uri()) {
        Ok(Query(q)) => q,
        Err(e) => {
            return Problem::new(StatusCode::BAD_REQUEST, "invalid callback", e.body_text())
                .into_response();
        }
    };
    let result = match (&q.error, &q.state, &q.code) {
        (Some(error), _, _) => Err(OidcError::Provider(match &q.error_description {
            Some(d) => format!("{error}: {}", d.chars().take(200).collect::<String>()),
            None => error.clone(),
        })),
        (None, Some(st), Some(code)) => oidc.finish(st, state_cookie(req.headers()), code).await,
        _ => Err(OidcError::State),
    };
    let mut response = match result {
        Ok((user, next)) => {
            let auth = state.auth.clone();
            match tokio::task::spawn_blocking(move || auth.sign_in_verified(&user, METHOD, client))
                .await
            {
                Ok(Ok(session)) => auth::session_response(&session, &next, state.secure_cookies),
                Ok(Err(SignInError::Refused)) => auth::refused_page(
                    &state,
                    "single sign-on refused: no custos user matches your identity; ask an administrator to add you".into(),
                ),
                Ok(Err(e)) => Problem::internal(&e).into_response(),
                Err(e) => Problem::internal(&e).into_response(),
            }
        }
        Err(e) => {
            let reason = e.to_string();
            tracing::info!(reason = %reason, "oidc sign-in refused");
            let auth = state.auth.clone();
            let journalled = tokio::task::spawn_blocking(move || {
                auth.journal_refusal(None, client, METHOD, &reason)
            })
            .await;
            match journalled {
                Ok(Ok(())) => auth::refused_page(&state, format!("single sign-on refused: {e}")),
                Ok(Err(e)) => Problem::internal(&e).into_response(),
                Err(e) => Problem::internal(&e).into_response(),
            }
        }
    };
    // The state is spent either way.
    if let Some(v) = state_cookie_header("", 0, state.secure_cookies) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> OidcConfig {
        OidcConfig {
            issuer: "https://idp.example.com/realms/bank".into(),
            client_id: "custos".into(),
            client_secret: Secret::new("s3cret"),
            redirect_url: "https://custos.example.com/signin/oidc/callback".into(),
            ..OidcConfig::default()
        }
    }

    #[test]
    fn a_section_is_checked_field_by_field() {
        assert!(config().validate().is_ok());
        assert!(
            OidcConfig::default().validate().is_ok(),
            "off: nothing to check"
        );
        let err = |c: OidcConfig| match c.validate().unwrap_err() {
            ConfigError::Invalid { field, message } => format!("{field}: {message}"),
            other => other.to_string(),
        };
        let mut c = config();
        c.client_id.clear();
        assert_eq!(err(c), "oidc.client_id: missing");
        let mut c = config();
        c.issuer = "not a url".into();
        assert!(err(c).starts_with("oidc.issuer: not a URL"));
        let mut c = config();
        c.redirect_url = "https://custos.example.com/callback".into();
        assert!(err(c).contains("must end in /signin/oidc/callback"));
    }

    #[test]
    fn the_secret_never_prints() {
        let shown = format!("{:?}", Oidc::new(config()).unwrap());
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!format!("{:?}", config()).contains("s3cret"));
    }

    #[test]
    fn the_state_cookie_is_found_and_scoped() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("custos_session=x; custos_oidc=abc"),
        );
        assert_eq!(state_cookie(&h), Some("abc"));
        let v = state_cookie_header("abc", 600, true).unwrap();
        let v = v.to_str().unwrap();
        assert!(v.contains("SameSite=Lax") && v.contains("Path=/signin/oidc"));
        assert!(v.ends_with("; Secure"));
    }
}
