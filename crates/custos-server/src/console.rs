//! The web console: server-rendered pages for the people who live in the
//! archive all day (reviewers, compliance officers, auditors, the DPO,
//! administrators).
//!
//! Every page is plain HTML from an askama template (`templates/console/`),
//! styled by one stylesheet compiled into the binary and served at
//! `/assets/custos.css`; nothing is inline, so the Content-Security-Policy
//! forbids inline scripts and styles outright. The one script,
//! `/assets/inbox.js` (served from here, on the inbox pages only), adds
//! live updates to the agent inbox; every page works without it.
//!
//! Who is acting comes from the auth middleware, which puts
//! `Extension<Principal>` and `Extension<CsrfToken>` in each request and
//! checks every form's `_csrf` field. Each page checks the principal's roles
//! ([`Section::roles`]) and applies their [`Scope`] (the information barrier)
//! to every list it renders. Content reads are journalled exactly as the API
//! journals them, before anything is shown, and search terms travel only in
//! POST bodies, never in a URL.
//!
//! Pages read the state the server already keeps (supervision, the search
//! index) and a [`projection`] of their own, folded from the journal and
//! caught up from its position on each request.

mod alerts;
mod audit;
pub mod charts;
mod conversations;
mod dashboard;
mod governance;
mod inbox;
mod policies;
mod projection;
mod search;

use crate::{AppState, Problem};
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use custos_auth::{Principal, Role, Scope};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use projection::Projection;

/// The console's own state: its projection of the journal.
#[derive(Clone, Default)]
pub struct Console {
    projection: Arc<Mutex<Projection>>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Console")
    }
}

impl Console {
    /// Brings the projection up to date with `journal` and runs `f` over it
    /// (blocking: call from a blocking thread).
    pub fn with<R>(
        &self,
        journal: &custos_journal::Journal,
        f: impl FnOnce(&mut Projection) -> R,
    ) -> Result<R, custos_journal::Error> {
        let mut p = self.projection.lock().unwrap_or_else(|e| e.into_inner());
        p.catch_up(journal)?;
        Ok(f(&mut p))
    }
}

/// The console's routes (behind the auth middleware, which supplies the
/// principal and checks CSRF tokens) and its stylesheet.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard::page))
        .route("/alerts", get(alerts::list))
        .route("/alerts/{id}", get(alerts::detail))
        .route("/alerts/{id}/actions", post(alerts::act))
        .route("/search", get(search::form).post(search::run))
        .route(
            "/conversations/{seq}",
            get(conversations::ask).post(conversations::open),
        )
        .route(
            "/holds",
            get(governance::holds).post(governance::place_hold),
        )
        .route("/holds/{id}/release", post(governance::release_hold))
        .route(
            "/consent",
            get(governance::consent).post(governance::consent_lookup),
        )
        .route("/privacy", get(governance::privacy))
        .route("/custodians", get(governance::custodians))
        .route("/policies", get(policies::list).post(policies::submit))
        .route("/policies/{name}", get(policies::view))
        .route("/verify", get(audit::verify_page).post(audit::verify_run))
        .route("/audit", get(audit::log))
        .route("/inbox", get(inbox::list).post(inbox::search))
        .route("/inbox/list", get(inbox::list_fragment))
        .route("/inbox/events", get(inbox::list_events))
        .route("/inbox/c/{id}", get(inbox::conversation))
        .route("/inbox/c/{id}/thread", get(inbox::thread))
        .route("/inbox/c/{id}/events", get(inbox::conversation_events))
        .route("/inbox/c/{id}/send", post(inbox::send))
        .route("/inbox/c/{id}/assign", post(inbox::assign))
        .route("/inbox/c/{id}/retry", post(inbox::retry))
        .route(
            "/inbox/c/{id}/media",
            post(inbox::media).layer(axum::extract::DefaultBodyLimit::max(
                crate::multipart::MAX_BYTES + (1 << 20),
            )),
        )
        .route("/inbox/c/{id}/notes", post(inbox::note))
        .layer(axum::middleware::map_response(security_headers))
}

/// What needs no sign-in: the stylesheet (the sign-in page uses it too).
pub fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/assets/custos.css", get(stylesheet))
        .route("/assets/inbox.js", get(inbox::script))
        .layer(axum::middleware::map_response(security_headers))
}

/// The stylesheet, compiled into the binary.
const CSS: &str = include_str!("../assets/custos.css");

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

/// The Content-Security-Policy of every console response: nothing inline,
/// nothing from elsewhere, never framed, forms post only here.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; frame-ancestors 'none'; form-action 'self'";

async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        // Pages show archived content: never kept by a browser or proxy.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// A part of the console, with the roles that may use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// `/`: charts and counts.
    Dashboard,
    /// `/alerts`: the review queue.
    Alerts,
    /// `/search` and `/conversations`.
    Search,
    /// `/inbox`: agents' WhatsApp conversations (supervisors read them).
    Inbox,
    /// `/holds`: legal holds.
    Holds,
    /// `/consent`: a party's consent history.
    Consent,
    /// `/privacy`: the DSAR queue.
    Privacy,
    /// `/custodians`: who is supervised.
    Custodians,
    /// `/policies`: the policy library.
    Policies,
    /// `/verify`: the signed tree head and verification.
    Verify,
    /// `/audit`: the access log.
    Audit,
}

impl Section {
    /// Every section, in navigation order.
    pub const ALL: [Section; 11] = [
        Section::Dashboard,
        Section::Alerts,
        Section::Search,
        Section::Inbox,
        Section::Holds,
        Section::Consent,
        Section::Privacy,
        Section::Custodians,
        Section::Policies,
        Section::Verify,
        Section::Audit,
    ];

    /// Where it lives.
    pub fn path(self) -> &'static str {
        match self {
            Section::Dashboard => "/",
            Section::Alerts => "/alerts",
            Section::Search => "/search",
            Section::Inbox => "/inbox",
            Section::Holds => "/holds",
            Section::Consent => "/consent",
            Section::Privacy => "/privacy",
            Section::Custodians => "/custodians",
            Section::Policies => "/policies",
            Section::Verify => "/verify",
            Section::Audit => "/audit",
        }
    }

    /// Its name in the navigation.
    pub fn label(self) -> &'static str {
        match self {
            Section::Dashboard => "Dashboard",
            Section::Alerts => "Alerts",
            Section::Search => "Search",
            Section::Inbox => "Inbox",
            Section::Holds => "Legal holds",
            Section::Consent => "Consent",
            Section::Privacy => "Privacy requests",
            Section::Custodians => "Custodians",
            Section::Policies => "Policies",
            Section::Verify => "Verify",
            Section::Audit => "Audit log",
        }
    }

    /// The roles that may use it. Reviewers: alerts and search (and the
    /// dashboard of their desks); compliance officers: everything;
    /// auditors: verify and audit; the DPO: privacy and consent; admins:
    /// custodians and policies, never content; agents: their inbox
    /// (reviewers and compliance officers supervise it).
    pub fn roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            Section::Dashboard | Section::Alerts | Section::Search => {
                &[Reviewer, ComplianceOfficer]
            }
            Section::Inbox => &[Agent, Reviewer, ComplianceOfficer],
            Section::Holds => &[ComplianceOfficer],
            Section::Consent | Section::Privacy => &[Dpo, ComplianceOfficer],
            Section::Custodians | Section::Policies => &[Admin, ComplianceOfficer],
            Section::Verify | Section::Audit => &[Auditor, ComplianceOfficer],
        }
    }

    /// Whether `p` may use it.
    pub fn allows(self, p: &Principal) -> bool {
        p.has_any(self.roles())
    }
}

/// Refuses with the 403 page unless `p` may use `section`.
pub(crate) fn require(p: &Principal, section: Section) -> Result<(), PageError> {
    if section.allows(p) {
        Ok(())
    } else {
        Err(PageError::Forbidden(section.label()))
    }
}

/// One link of the navigation.
#[derive(Debug)]
pub(crate) struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// What every page's frame shows: the navigation the principal may use,
/// who they are, and the CSRF token its forms carry.
#[derive(Debug)]
pub(crate) struct Layout {
    pub title: String,
    pub nav: Vec<NavItem>,
    pub user: String,
    pub roles: String,
    pub csrf: String,
}

impl Layout {
    pub fn new(
        p: &Principal,
        csrf: &custos_auth::CsrfToken,
        current: Section,
        title: &str,
    ) -> Layout {
        Layout {
            title: title.to_string(),
            nav: Section::ALL
                .into_iter()
                .filter(|s| s.allows(p))
                .map(|s| NavItem {
                    href: s.path(),
                    label: s.label(),
                    current: s == current,
                })
                .collect(),
            user: p.name.clone(),
            roles: p
                .roles
                .iter()
                .map(|r| r.as_str().replace('_', " "))
                .collect::<Vec<_>>()
                .join(", "),
            csrf: csrf.0.clone(),
        }
    }
}

/// Why a page is not shown: rendered as a page of its own with the status.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The principal's roles do not include this section.
    #[error("your roles do not give access to {0}")]
    Forbidden(&'static str),
    /// No such thing (or not within the principal's scope).
    #[error("{0}")]
    NotFound(String),
    /// The form or the address is wrong; the message names the field.
    #[error("{0}")]
    BadRequest(String),
    /// A part of the server this page needs is off.
    #[error("{0}")]
    Unavailable(String),
    /// The archive failed; the detail is logged, not shown.
    #[error("internal error")]
    Internal,
}

impl PageError {
    /// Logs a failure of the archive (never content) and hides it.
    pub(crate) fn internal(e: &dyn std::fmt::Display) -> PageError {
        tracing::error!(error = %e, "console request failed");
        PageError::Internal
    }
}

impl From<Problem> for PageError {
    fn from(p: Problem) -> PageError {
        match p.status() {
            StatusCode::NOT_FOUND => PageError::NotFound(p.detail().to_string()),
            StatusCode::SERVICE_UNAVAILABLE => PageError::Unavailable(p.detail().to_string()),
            StatusCode::INTERNAL_SERVER_ERROR => PageError::Internal,
            _ => PageError::BadRequest(format!("{}: {}", p.title(), p.detail())),
        }
    }
}

impl From<custos_journal::Error> for PageError {
    fn from(e: custos_journal::Error) -> PageError {
        PageError::internal(&e)
    }
}

impl From<tokio::task::JoinError> for PageError {
    fn from(e: tokio::task::JoinError) -> PageError {
        PageError::internal(&e)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "console/error.html")]
struct ErrorPage {
    status: u16,
    heading: &'static str,
    detail: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, heading) = match &self {
            PageError::Forbidden(_) => (StatusCode::FORBIDDEN, "Not available to you"),
            PageError::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
            PageError::BadRequest(_) => (StatusCode::BAD_REQUEST, "Please check the form"),
            PageError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "Not available"),
            PageError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong"),
        };
        let detail = match self {
            PageError::Internal => {
                "the archive could not complete the request; nothing was changed".to_string()
            }
            other => other.to_string(),
        };
        let page = ErrorPage {
            status: status.as_u16(),
            heading,
            detail,
        };
        (status, page).into_response()
    }
}

/// The information barrier as pages apply it: the principal's [`Scope`]
/// and, for unit scopes, which custodian works where and which address is
/// whose. A snapshot taken from the projection for one request.
#[derive(Clone, Debug)]
pub struct Barrier {
    scope: Scope,
    units: HashMap<String, Vec<String>>,
    by_address: HashMap<String, String>,
}

impl Barrier {
    /// Whether everything is visible (no need to look anything up).
    pub fn is_open(&self) -> bool {
        self.scope == Scope::All
    }

    /// Whether content of custodian `id` (`None`: no enrolled custodian)
    /// may be shown.
    pub fn custodian(&self, id: Option<&str>) -> bool {
        let units = id
            .and_then(|i| self.units.get(i))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        self.scope.allows(id, units)
    }

    /// The custodian id an address belongs to.
    pub fn custodian_of(&self, address: &str) -> Option<&str> {
        self.by_address
            .get(&custos_model::party_id(address))
            .map(String::as_str)
    }

    /// Whether a message between these addresses may be shown: one of its
    /// custodians is within the scope.
    pub fn parties<'a>(&self, mut addresses: impl Iterator<Item = &'a str>) -> bool {
        if self.is_open() {
            return true;
        }
        addresses.any(|a| {
            self.custodian_of(a)
                .is_some_and(|id| self.custodian(Some(id)))
        })
    }

    /// The addresses of the custodians within the scope (`None`: every
    /// message is visible, no restriction needed).
    pub fn addresses(&self) -> Option<Vec<String>> {
        if self.is_open() {
            return None;
        }
        let mut out: Vec<String> = self
            .by_address
            .iter()
            .filter(|(_, id)| self.custodian(Some(id)))
            .map(|(a, _)| a.clone())
            .collect();
        out.sort();
        Some(out)
    }
}

/// A timestamp as people read it, in `tz`, with the zone named.
pub(crate) fn when(ts: custos_model::Timestamp, tz: &jiff::tz::TimeZone) -> String {
    match jiff::Timestamp::from_microsecond(ts.as_micros()) {
        Ok(t) => {
            let z = t.to_zoned_datetime(tz.clone());
            let name = tz.iana_name().unwrap_or("UTC");
            format!("{} {}", z.strftime("%Y-%m-%d %H:%M"), name)
        }
        Err(_) => ts.to_string(),
    }
}

/// An age in words: `3 h`, `2 d`.
pub(crate) fn age(from: custos_model::Timestamp, now: custos_model::Timestamp) -> String {
    let secs = (now.as_micros() - from.as_micros()).max(0) / 1_000_000;
    match secs {
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

/// Text cut into pieces, each marked or not (for `<mark>`), from byte
/// ranges that may overlap or fall outside; ranges not on character
/// boundaries are ignored rather than split a character.
pub(crate) fn marked(text: &str, ranges: &[(usize, usize)]) -> Vec<(String, bool)> {
    let mut ranges: Vec<(usize, usize)> = ranges
        .iter()
        .copied()
        .filter(|&(s, e)| {
            s < e && e <= text.len() && text.is_char_boundary(s) && text.is_char_boundary(e)
        })
        .collect();
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (s, e) in ranges {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    let mut out = Vec::new();
    let mut at = 0;
    for (s, e) in merged {
        if s > at {
            out.push((text[at..s].to_string(), false));
        }
        out.push((text[s..e].to_string(), true));
        at = e;
    }
    if at < text.len() || out.is_empty() {
        out.push((text[at..].to_string(), false));
    }
    out
}

/// The supervision part of the server, or the page saying it is off.
pub(crate) fn supervision(state: &AppState) -> Result<crate::supervision::Supervision, PageError> {
    state
        .supervision
        .clone()
        .ok_or_else(|| PageError::Unavailable("this server runs without supervision".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marking_merges_overlaps_and_skips_bad_ranges() {
        let m = marked("we guarantee 15% returns", &[(3, 12), (13, 16), (10, 14)]);
        assert_eq!(
            m,
            vec![
                ("we ".to_string(), false),
                ("guarantee 15%".to_string(), true),
                (" returns".to_string(), false)
            ]
        );
        // "ação": byte 2 is inside "ç"; the range is ignored.
        assert_eq!(marked("ação", &[(2, 3)]), vec![("ação".to_string(), false)]);
        assert_eq!(marked("", &[]), vec![(String::new(), false)]);
    }

    #[test]
    fn sections_follow_roles() {
        let p = |role| Principal {
            user: "u".into(),
            name: "U".into(),
            roles: [role].into(),
            scope: Scope::All,
        };
        let visible = |role| -> Vec<Section> {
            Section::ALL
                .into_iter()
                .filter(|s| s.allows(&p(role)))
                .collect()
        };
        assert_eq!(
            visible(Role::Reviewer),
            vec![
                Section::Dashboard,
                Section::Alerts,
                Section::Search,
                Section::Inbox
            ]
        );
        assert_eq!(
            visible(Role::Auditor),
            vec![Section::Verify, Section::Audit]
        );
        assert_eq!(visible(Role::Dpo), vec![Section::Consent, Section::Privacy]);
        assert_eq!(
            visible(Role::Admin),
            vec![Section::Custodians, Section::Policies]
        );
        assert_eq!(visible(Role::ComplianceOfficer).len(), Section::ALL.len());
        assert_eq!(visible(Role::Agent), vec![Section::Inbox]);
    }

    #[test]
    fn the_barrier_follows_units() {
        let b = Barrier {
            scope: Scope::Units(["fx".to_string()].into()),
            units: [
                ("ana".to_string(), vec!["fx".to_string()]),
                ("bob".to_string(), vec!["rates".to_string()]),
            ]
            .into(),
            by_address: [
                ("+441".to_string(), "ana".to_string()),
                ("+442".to_string(), "bob".to_string()),
            ]
            .into(),
        };
        assert!(b.custodian(Some("ana")));
        assert!(!b.custodian(Some("bob")));
        assert!(!b.custodian(None));
        assert!(b.parties(["+5511", "+441"].into_iter()));
        assert!(!b.parties(["+5511", "+442"].into_iter()));
        assert_eq!(b.addresses(), Some(vec!["+441".to_string()]));
    }
}
