//! The governance lists of the API, read from the SQL state projection
//! ([`custos_store::records`]), paged by key with an opaque cursor:
//!
//! - `GET /api/v1/holds?state=all|active|released` — legal holds, active
//!   first, then newest placed first (compliance officers, admins,
//!   auditors);
//! - `GET /api/v1/cases?state=all|open|closed` — cases, open first, then
//!   newest opened first, each with its holds, saved searches and decision
//!   counts (compliance officers, auditors);
//! - `GET /api/v1/users` — users by id with their API tokens; never a
//!   password hash or a token digest (admins).
//!
//! `limit` (default 100, at most 1000) and `cursor` (a page's
//! `next_cursor`, passed back unchanged) page every list; a cursor that is
//! not one of the list's is a 400 problem+json naming `cursor`.
//!
//! These are archive-level records, not message content: the information
//! barrier does not apply to them (a reviewer's scope confines alerts and
//! messages, not the register of holds), and reading them is not a
//! `content.read`. Every read waits until the rows reach what was
//! committed before it ([`crate::store::StoreService::current`]), so a hold
//! placed and then listed shows. Without the state store (only in tests and
//! embeddings that start none; `custos serve` always starts it) the lists
//! answer 503.

use crate::store::StoreService;
use crate::{AppState, Problem};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

/// Items a page by default.
const DEFAULT_LIMIT: usize = 100;
/// Items a page at most.
const MAX_LIMIT: usize = 1000;

/// `state`, `limit` and `cursor` of a governance list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Holds: `all` (default), `active` or `released`; cases: `all`
    /// (default), `open` or `closed`.
    state: Option<String>,
    /// At most this many items (default 100, at most 1000).
    limit: Option<usize>,
    /// Where the last page ended (its `next_cursor`).
    cursor: Option<String>,
}

/// `limit` and `cursor` of the user list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsersQuery {
    /// At most this many users (default 100, at most 1000).
    limit: Option<usize>,
    /// Where the last page ended (its `next_cursor`).
    cursor: Option<String>,
}

/// `GET /api/v1/holds`.
#[derive(utoipa::ToSchema)]
pub struct HoldList {
    /// Holds, active first, then newest placed first: id, name, reason,
    /// active, custodians, conversations, participants, from, to, search,
    /// frozen (how many entries a search froze), placed_by, placed_at,
    /// released_by, released_at, release_reason.
    #[schema(value_type = Vec<Object>)]
    pub holds: Vec<serde_json::Value>,
    /// The cursor of the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/cases`.
#[derive(utoipa::ToSchema)]
pub struct CaseList {
    /// Cases, open first, then newest opened first: id, name,
    /// description, open, custodians, from, to, opened_by, opened_at,
    /// holds, searches (name, query, saved_by), decisions (relevant,
    /// not_relevant, privileged), closed_by, closed_at, close_reason.
    #[schema(value_type = Vec<Object>)]
    pub cases: Vec<serde_json::Value>,
    /// The cursor of the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/users`.
#[derive(utoipa::ToSchema)]
pub struct UserList {
    /// Users by id: id, name, roles, units, custodian, disabled,
    /// added_at, added_by, tokens (id, roles, expires_at, revoked,
    /// created_at, created_by). Never a password hash or token digest.
    #[schema(value_type = Vec<Object>)]
    pub users: Vec<serde_json::Value>,
    /// The cursor of the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// The state store, or 503.
fn store(state: &AppState) -> Result<&StoreService, Problem> {
    state.store.as_ref().ok_or_else(|| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "state store is off",
            "this server runs without the SQL state projection",
        )
    })
}

/// A store error as an answer: a cursor no page gave is the client's 400.
fn store_error(e: custos_store::Error, cursor: Option<&str>) -> Problem {
    match e {
        custos_store::Error::Cursor(_) => crate::paging::bad_cursor(cursor.unwrap_or_default()),
        other => Problem::internal(&other),
    }
}

fn bad_state(value: &str, expected: &str) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "bad state",
        format!("state={value:?}: expected {expected}"),
    )
    .with("parameter", "state".into())
}

fn limit(asked: Option<usize>) -> usize {
    asked.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

fn page<T: serde::Serialize>(
    name: &str,
    items: Vec<T>,
    next: Option<String>,
) -> Json<serde_json::Value> {
    let next_cursor = next.map(|k| crate::paging::encode_key(name, &k));
    let mut out = serde_json::Map::new();
    out.insert(
        name.into(),
        serde_json::to_value(items).unwrap_or(serde_json::Value::Array(Vec::new())),
    );
    out.insert("next_cursor".into(), next_cursor.into());
    Json(serde_json::Value::Object(out))
}

/// `GET /api/v1/holds`
#[utoipa::path(
    get, path = "/api/v1/holds", tag = "governance",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of legal holds, active first", body = HoldList),
        (status = 400, description = "A bad state or cursor (names the parameter)", body = crate::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The state store is off", body = crate::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_holds(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<serde_json::Value>, Problem> {
    use custos_store::HoldState;
    let which = match q.state.as_deref().filter(|s| !s.is_empty()) {
        None | Some("all") => HoldState::Any,
        Some("active") => HoldState::Active,
        Some("released") => HoldState::Released,
        Some(other) => return Err(bad_state(other, "all, active or released")),
    };
    let after = crate::paging::key("holds", q.cursor.as_deref())?;
    let p = store(&state)?
        .current()
        .await
        .holds(which, after.as_deref(), limit(q.limit))
        .await
        .map_err(|e| store_error(e, q.cursor.as_deref()))?;
    Ok(page("holds", p.holds, p.next))
}

/// `GET /api/v1/cases`
#[utoipa::path(
    get, path = "/api/v1/cases", tag = "governance",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of cases, open first", body = CaseList),
        (status = 400, description = "A bad state or cursor (names the parameter)", body = crate::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The state store is off", body = crate::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_cases(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<serde_json::Value>, Problem> {
    use custos_store::CaseState;
    let which = match q.state.as_deref().filter(|s| !s.is_empty()) {
        None | Some("all") => CaseState::Any,
        Some("open") => CaseState::Open,
        Some("closed") => CaseState::Closed,
        Some(other) => return Err(bad_state(other, "all, open or closed")),
    };
    let after = crate::paging::key("cases", q.cursor.as_deref())?;
    let p = store(&state)?
        .current()
        .await
        .cases(which, after.as_deref(), limit(q.limit))
        .await
        .map_err(|e| store_error(e, q.cursor.as_deref()))?;
    Ok(page("cases", p.cases, p.next))
}

/// `GET /api/v1/users`
#[utoipa::path(
    get, path = "/api/v1/users", tag = "governance",
    params(UsersQuery),
    responses(
        (status = 200, description = "A page of users by id, with their API tokens (never a secret)", body = UserList),
        (status = 400, description = "A bad cursor (names the parameter)", body = crate::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The state store is off", body = crate::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_users(
    State(state): State<AppState>,
    Query(q): Query<UsersQuery>,
) -> Result<Json<serde_json::Value>, Problem> {
    let after = crate::paging::key("users", q.cursor.as_deref())?;
    let p = store(&state)?
        .current()
        .await
        .users(after.as_deref(), limit(q.limit))
        .await
        .map_err(|e| store_error(e, q.cursor.as_deref()))?;
    Ok(page("users", p.users, p.next))
}
