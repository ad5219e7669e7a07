//! Authentication and authorisation of the API and the console.
//!
//! [`require`] guards every `/api/v1` route: it resolves
//! `Authorization: Bearer <token>` or the `custos_session` cookie into an
//! `Extension<Principal>` (plus `Extension<CsrfToken>` for a session),
//! answers 401 problem+json without one and 403 when the principal's
//! roles lack the route's [`Permission`] ([`permission_for`]: one table;
//! a route missing from it is refused to everyone). A cookie-authenticated
//! POST, PUT, PATCH or DELETE must carry the session's CSRF token (header
//! `X-CSRF-Token`, or form field `_csrf`), else 403.
//!
//! [`signed_in`] guards console pages: it redirects to `/signin` instead.
//! `GET /signin` shows the form, `POST /signin` signs in (303 to `next`,
//! with the session cookie: HttpOnly, SameSite=Strict, Path=/, Secure over
//! TLS), `POST /signout` ends the session. Single sign-on
//! (`/signin/oidc`) lives in [`crate::oidc`] and ends in the same
//! [`session_response`].

use crate::{AppState, Problem};
use askama::Template;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequest, MatchedPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use custos_auth::{Auth, CsrfToken, Permission, Principal, Session, SignInError};
use serde::Deserialize;
use std::net::SocketAddr;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "custos_session";
/// The header carrying the CSRF token on unsafe requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field carrying the CSRF token.
pub const CSRF_FIELD: &str = "_csrf";
/// The largest form body read to find its CSRF field.
const MAX_FORM_BYTES: usize = 1 << 20;

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Any signed-in principal.
    SignedIn,
    /// A principal whose roles grant this.
    Needs(Permission),
}

/// The one table of `/api/v1`: method, route template, what it needs.
/// The OpenAPI test checks it against the router and the document.
pub const PERMISSIONS: &[(&str, &str, Access)] = {
    use Access::{Needs, SignedIn};
    use Permission as P;
    &[
        ("GET", "/api/v1/me", SignedIn),
        ("GET", "/api/v1/alerts", Needs(P::ReadAlerts)),
        ("GET", "/api/v1/alerts/{id}", Needs(P::ReadAlerts)),
        ("POST", "/api/v1/alerts/{id}/actions", Needs(P::ActOnAlerts)),
        ("GET", "/api/v1/search", Needs(P::Search)),
        ("GET", "/api/v1/messages/{seq}", Needs(P::Search)),
        ("POST", "/api/v1/exports", Needs(P::Export)),
        ("GET", "/api/v1/policies", Needs(P::ReadPolicies)),
        ("POST", "/api/v1/policies", Needs(P::LoadPolicies)),
        ("POST", "/api/v1/whatsapp/messages", Needs(P::Send)),
        ("GET", "/api/v1/audit", Needs(P::ReadAuditLog)),
        ("GET", "/api/v1/consent/{party}", Needs(P::ReadConsent)),
        ("POST", "/api/v1/consent", Needs(P::RecordConsent)),
        ("POST", "/api/v1/tokens/{id}/revoke", Needs(P::ManageUsers)),
        ("POST", "/api/v1/users/{id}/disable", Needs(P::ManageUsers)),
        ("GET", "/api/v1/holds", Needs(P::ReadHolds)),
        ("GET", "/api/v1/cases", Needs(P::ReadCases)),
        ("GET", "/api/v1/users", Needs(P::ReadUsers)),
    ]
};

/// What a route needs, from [`PERMISSIONS`] (`None`: the route is not in
/// it and is refused to everyone).
pub fn permission_for(method: &Method, route: &str) -> Option<Access> {
    PERMISSIONS
        .iter()
        .find(|(m, r, _)| *m == method.as_str() && *r == route)
        .map(|(_, _, access)| *access)
}

/// `GET /api/v1/me`: who is signed in, their roles and scope, and (for a
/// session) the CSRF token unsafe requests must carry.
#[utoipa::path(
    get, path = "/api/v1/me", tag = "session",
    responses(
        (status = 200, description = "The principal", body = crate::openapi::schemas::Me),
    )
)]
pub async fn me(
    axum::Extension(principal): axum::Extension<Principal>,
    csrf: Option<axum::Extension<CsrfToken>>,
) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "user": principal.user,
        "name": principal.name,
        "roles": principal.roles,
        "scope": principal.scope,
        "csrf_token": csrf.map(|c| c.0.0.clone()),
    }))
}

/// Who a request's credentials name.
pub enum Credentials {
    /// A valid bearer token.
    Bearer(Principal),
    /// A live session.
    Session(Principal, CsrfToken),
    /// Credentials were given but are not valid (unknown, expired,
    /// revoked, disabled user).
    Invalid,
    /// None given.
    Missing,
}

/// The value of the session cookie, if sent.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
}

/// Resolves a request's credentials: a bearer token first (an invalid one
/// is not rescued by a cookie), then the session cookie.
pub fn credentials(auth: &Auth, headers: &HeaderMap) -> Credentials {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let bearer = value.to_str().ok().and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
        return match bearer.and_then(|b| auth.token(b)) {
            Some(p) => Credentials::Bearer(p),
            None => Credentials::Invalid,
        };
    }
    match session_cookie(headers) {
        Some(cookie) => match auth.session(cookie) {
            Some((p, csrf)) => Credentials::Session(p, csrf),
            None => Credentials::Invalid,
        },
        None => Credentials::Missing,
    }
}

fn unauthorised(detail: &str) -> Response {
    let mut response =
        Problem::new(StatusCode::UNAUTHORIZED, "not signed in", detail).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"custos\""),
    );
    response
}

fn forbidden(detail: impl Into<String>) -> Response {
    Problem::new(StatusCode::FORBIDDEN, "forbidden", detail).into_response()
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Checks the CSRF token of a cookie-authenticated unsafe request; gives
/// the request back (its form body re-attached) or the refusal.
async fn check_csrf(auth: &Auth, csrf: &CsrfToken, req: Request) -> Result<Request, Response> {
    const REFUSED: &str = "a signed-in form or request must carry the session's CSRF token (X-CSRF-Token header or _csrf field)";
    if let Some(value) = req.headers().get(CSRF_HEADER) {
        let ok = value.to_str().is_ok_and(|v| auth.check_csrf(csrf, v));
        return if ok { Ok(req) } else { Err(forbidden(REFUSED)) };
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let is_form = content_type.starts_with("application/x-www-form-urlencoded");
    // File uploads (the inbox's composer) carry the token as a field too.
    let is_upload = content_type.starts_with("multipart/form-data");
    if !is_form && !is_upload {
        return Err(forbidden(REFUSED));
    }
    let limit = if is_upload {
        crate::multipart::MAX_BYTES + MAX_FORM_BYTES
    } else {
        MAX_FORM_BYTES
    };
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| forbidden("the form is too large to check its CSRF token"))?;
    let token = if is_upload {
        crate::multipart::field(&content_type, &bytes, CSRF_FIELD)
    } else {
        form_urlencoded_field(&bytes, CSRF_FIELD)
    };
    if !token.is_some_and(|t| auth.check_csrf(csrf, &t)) {
        return Err(forbidden(REFUSED));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// One field of an `application/x-www-form-urlencoded` body.
fn form_urlencoded_field(body: &[u8], name: &str) -> Option<String> {
    form_pairs(body)?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The decoded pairs of a form body; `None` if it is not valid.
fn form_pairs(body: &[u8]) -> Option<Vec<(String, String)>> {
    let text = std::str::from_utf8(body).ok()?;
    let decode = |s: &str| -> Option<String> {
        let s = s.replace('+', " ");
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).ok()
    };
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

/// The API guard (see the module documentation).
pub async fn require(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let (principal, csrf) = match credentials(&state.auth, req.headers()) {
        Credentials::Bearer(p) => (p, None),
        Credentials::Session(p, c) => (p, Some(c)),
        Credentials::Invalid => {
            return unauthorised("the token or session is unknown, expired or revoked");
        }
        Credentials::Missing => {
            return unauthorised("sign in, or send Authorization: Bearer <token>");
        }
    };
    let Some(access) = permission_for(req.method(), &route) else {
        return forbidden(format!(
            "{} {route} has no permission assigned",
            req.method()
        ));
    };
    if let Access::Needs(permission) = access
        && !principal.may(permission)
    {
        let roles: Vec<&str> = principal.roles.iter().map(|r| r.as_str()).collect();
        return forbidden(format!(
            "{} {route} needs {permission:?}, which none of the roles [{}] grants",
            req.method(),
            roles.join(", ")
        ));
    }
    if let Some(csrf) = &csrf {
        if is_unsafe(req.method()) {
            req = match check_csrf(&state.auth, csrf, req).await {
                Ok(req) => req,
                Err(refused) => return refused,
            };
        }
        req.extensions_mut().insert(csrf.clone());
    }
    let id = crate::request_log::PrincipalId(principal.user.clone());
    req.extensions_mut().insert(principal);
    let mut response = next.run(req).await;
    response.extensions_mut().insert(id);
    response
}

/// The console guard: a signed-in session (or token) goes on with its
/// principal; anyone else is sent to `/signin?next=<this page>`. Unsafe
/// requests need the CSRF token as in [`require`].
pub async fn signed_in(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let (principal, csrf) = match credentials(&state.auth, req.headers()) {
        Credentials::Bearer(p) => (p, None),
        Credentials::Session(p, c) => (p, Some(c)),
        Credentials::Invalid | Credentials::Missing => {
            let here = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into());
            return Redirect::to(&format!("/signin?next={}", encode(&here))).into_response();
        }
    };
    if let Some(csrf) = &csrf {
        if is_unsafe(req.method()) {
            req = match check_csrf(&state.auth, csrf, req).await {
                Ok(req) => req,
                Err(refused) => return refused,
            };
        }
        req.extensions_mut().insert(csrf.clone());
    }
    let id = crate::request_log::PrincipalId(principal.user.clone());
    req.extensions_mut().insert(principal);
    let mut response = next.run(req).await;
    response.extensions_mut().insert(id);
    response
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Where to go after signing in: a local path only (no `//host`, no
/// scheme), so the form cannot be used to redirect elsewhere.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

/// The sign-in page.
#[derive(Template)]
#[template(path = "signin.html")]
pub struct SignInPage {
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// Where to go after.
    pub next: String,
    /// The single sign-on button's text, when SSO is configured.
    pub sso: Option<String>,
}

fn page(state: &AppState, status: StatusCode, error: Option<String>, next: String) -> Response {
    let sso = state.oidc.as_ref().map(|o| o.button_label().to_string());
    match (SignInPage { error, next, sso }).render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => Problem::internal(&e).into_response(),
    }
}

/// `?next=` of the sign-in page.
#[derive(Debug, Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

impl NextParam {
    /// The page asked for, as given.
    pub fn next(&self) -> Option<&str> {
        self.next.as_deref()
    }
}

/// `GET /signin`.
pub async fn signin_page(State(state): State<AppState>, Query(q): Query<NextParam>) -> Response {
    page(&state, StatusCode::OK, None, safe_next(q.next.as_deref()))
}

/// The sign-in page again with why single sign-on was refused (401).
pub(crate) fn refused_page(state: &AppState, error: String) -> Response {
    page(state, StatusCode::UNAUTHORIZED, Some(error), "/".into())
}

/// 303 to `next` with the session cookie: HttpOnly, SameSite=Strict,
/// Path=/, until the session ends, Secure over TLS. Every sign-in method
/// ends here.
pub fn session_response(session: &Session, next: &str, secure: bool) -> Response {
    let ttl =
        (session.expires_at.as_micros() - custos_model::Timestamp::now().as_micros()) / 1_000_000;
    let cookie = format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        session.id.expose(),
        ttl.max(0),
        if secure { "; Secure" } else { "" }
    );
    let mut response = Redirect::to(next).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    user: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /signin`: 303 to `next` with the session cookie; 401 with the
/// form again when refused (the same words for an unknown user and a
/// wrong password); 429 with `Retry-After` when locked out.
pub async fn signin(State(state): State<AppState>, req: Request) -> Response {
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let form = match axum::Form::<SignInForm>::from_request(req, &()).await {
        Ok(axum::Form(f)) => f,
        Err(e) => {
            return Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid sign-in form",
                e.body_text(),
            )
            .into_response();
        }
    };
    let next = safe_next(form.next.as_deref());
    let auth = state.auth.clone();
    let user = form.user;
    let password = form.password;
    let result = tokio::task::spawn_blocking(move || auth.sign_in(&user, &password, client)).await;
    match result {
        Ok(Ok(session)) => session_response(&session, &next, state.secure_cookies),
        Ok(Err(SignInError::Refused)) => page(
            &state,
            StatusCode::UNAUTHORIZED,
            Some(SignInError::Refused.to_string()),
            next,
        ),
        Ok(Err(e @ SignInError::Throttled { retry_after_secs })) => {
            let mut response = page(
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                Some(e.to_string()),
                next,
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            response
        }
        Ok(Err(e)) => Problem::internal(&e).into_response(),
        Err(e) => Problem::internal(&e).into_response(),
    }
}

/// `POST /signout`: ends the session (CSRF token required) and clears
/// the cookie; 303 to `/signin`.
pub async fn signout(State(state): State<AppState>, req: Request) -> Response {
    let Some(cookie) = session_cookie(req.headers()).map(str::to_string) else {
        return Redirect::to("/signin").into_response();
    };
    let Some((_, csrf)) = state.auth.session(&cookie) else {
        return Redirect::to("/signin").into_response();
    };
    if let Err(refused) = check_csrf(&state.auth, &csrf, req).await {
        return refused;
    }
    let auth = state.auth.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || auth.sign_out(&cookie))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
    {
        return Problem::internal(&e).into_response();
    }
    let mut response = Redirect::to("/signin").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("custos_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    response
}

/// Runs an admin's change to users or tokens off the async threads (it
/// appends to the journal) and answers its journal entry, or `null` when
/// it was already so; an unknown id is 404.
async fn managed(
    change: impl FnOnce() -> Result<Option<u64>, custos_auth::UserError> + Send + 'static,
) -> Result<axum::Json<serde_json::Value>, Problem> {
    let done = tokio::task::spawn_blocking(change)
        .await
        .map_err(|e| Problem::internal(&e))?;
    match done {
        Ok(entry) => Ok(axum::Json(serde_json::json!({ "entry": entry }))),
        Err(custos_auth::UserError::NotFound(detail)) => {
            Err(Problem::new(StatusCode::NOT_FOUND, "not found", detail))
        }
        Err(e) => Err(Problem::internal(&e)),
    }
}

/// `POST /api/v1/tokens/{id}/revoke`: the token stops working at once
/// (journalled as `token.revoked` by the admin).
#[utoipa::path(
    post, path = "/api/v1/tokens/{id}/revoke", tag = "session",
    params(("id" = String, Path, description = "The token's id (the part after `cst_`)")),
    responses(
        (status = 200, description = "Revoked; `entry` is null when it already was", body = crate::openapi::schemas::EntryAnswer),
        (status = 404, description = "No such token", body = crate::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    axum::Extension(principal): axum::Extension<Principal>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<axum::Json<serde_json::Value>, Problem> {
    let auth = state.auth.clone();
    managed(move || auth.revoke_token(&principal.user, &id)).await
}

/// `POST /api/v1/users/{id}/disable`: the user's sessions and tokens stop
/// working at once (journalled as `user.disabled` by the admin).
#[utoipa::path(
    post, path = "/api/v1/users/{id}/disable", tag = "session",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Disabled; `entry` is null when they already were", body = crate::openapi::schemas::EntryAnswer),
        (status = 404, description = "No such user", body = crate::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn disable_user(
    State(state): State<AppState>,
    axum::Extension(principal): axum::Extension<Principal>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<axum::Json<serde_json::Value>, Problem> {
    let auth = state.auth.clone();
    managed(move || auth.disable_user(&principal.user, &id)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_local() {
        assert_eq!(
            safe_next(Some("/console/alerts?x=1")),
            "/console/alerts?x=1"
        );
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn form_fields_decode() {
        let body = b"a=1&_csrf=ab%2Bc+d&b=";
        assert_eq!(
            form_urlencoded_field(body, "_csrf").as_deref(),
            Some("ab+c d")
        );
        assert_eq!(form_urlencoded_field(body, "b").as_deref(), Some(""));
        assert_eq!(form_urlencoded_field(body, "z"), None);
        assert_eq!(form_urlencoded_field(b"_csrf=%zz", "_csrf"), None);
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; custos_session=xyz; c=d"),
        );
        assert_eq!(session_cookie(&h), Some("xyz"));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("custos_sessionx=1"),
        );
        assert_eq!(session_cookie(&h), None);
    }
}
