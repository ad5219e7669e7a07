//! `GET /api/v1/audit`: the access log for auditors and compliance
//! officers: who read or exported what, when and why, and who signed in.
//!
//! The log is the journal's own system events (nothing separate to trust);
//! this reads them in journal order from an opaque cursor, filtered by
//! actor, action and time. `?format=csv` or `?format=jsonl` exports every
//! matching event at once, and that export is itself journalled
//! (`audit.exported`).

use crate::{AppState, Problem};
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use custos_auth::Principal;
use custos_journal::{Journal, Opened};
use custos_model::{Event, EventKind, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};

/// An export of the access log.
pub const AUDIT_EXPORTED: &str = "audit.exported";

/// The actions the access log shows.
pub const ACCESS_ACTIONS: &[&str] = &[
    crate::search::SEARCHED,
    crate::search::OPENED,
    crate::inbox::OPENED,
    "content.read",
    crate::exports::EXPORTED,
    AUDIT_EXPORTED,
    custos_auth::SIGNED_IN,
    custos_auth::SIGNIN_FAILED,
    custos_auth::SIGNED_OUT,
];

const CURSOR_PREFIX: &str = "a1.";

/// Parameters of `GET /api/v1/audit`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only this actor's events.
    pub actor: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// At or after (RFC 3339).
    pub from: Option<String>,
    /// Before (RFC 3339).
    pub to: Option<String>,
    /// Where the last page ended (`next_cursor`).
    pub cursor: Option<String>,
    /// Events per page (default 100, at most 1000).
    pub limit: Option<usize>,
    /// `json` (default, paged), `csv` or `jsonl` (everything, audited).
    pub format: Option<String>,
}

fn bad(title: &'static str, detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, title, detail)
}

fn time(name: &str, value: &Option<String>) -> Result<Option<Timestamp>, Problem> {
    value
        .as_deref()
        .map(|v| Timestamp::parse(v).map_err(|e| bad("bad time", format!("{name}={v:?}: {e}"))))
        .transpose()
}

struct Filter {
    actor: Option<String>,
    action: Option<String>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
}

/// Reads matching access events from `start`; stops after `limit`.
/// Returns them and where to go on (`None`: the end was reached).
fn read(
    journal: &Journal,
    filter: &Filter,
    start: u64,
    limit: usize,
) -> custos_journal::Result<(Vec<Value>, Option<u64>)> {
    let mut out = Vec::new();
    for entry in journal.entries(start) {
        let entry = entry?;
        if entry.leaf.kind != EventKind::System {
            continue;
        }
        let Opened::Event(Event::System(e)) = journal.open_entry(&entry)? else {
            continue;
        };
        if !ACCESS_ACTIONS.contains(&e.action.as_str())
            || filter.action.as_deref().is_some_and(|a| a != e.action)
            || filter.actor.as_deref().is_some_and(|a| a != e.actor)
            || filter.from.is_some_and(|f| e.at < f)
            || filter.to.is_some_and(|t| e.at >= t)
        {
            continue;
        }
        if out.len() == limit {
            return Ok((out, Some(entry.leaf.seq)));
        }
        out.push(json!({
            "seq": entry.leaf.seq,
            "at": e.at,
            "actor": e.actor,
            "action": e.action,
            "target": e.target,
            "details": e.details,
        }));
    }
    Ok((out, None))
}

fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

/// `GET /api/v1/audit`.
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "audit",
    params(AuditParams),
    responses(
        (status = 200, description = "A page of access events (json); csv or jsonl: every match, the export itself journalled", body = crate::openapi::schemas::AuditPage),
        (status = 400, description = "A bad time, cursor or format", body = crate::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn audit_log(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(params): Query<AuditParams>,
) -> Result<Response, Problem> {
    let filter = Filter {
        actor: params.actor.clone(),
        action: params.action.clone(),
        from: time("from", &params.from)?,
        to: time("to", &params.to)?,
    };
    let start = match params.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c
            .strip_prefix(CURSOR_PREFIX)
            .and_then(|s| u64::from_str_radix(s, 16).ok())
            .ok_or_else(|| {
                bad(
                    "bad cursor",
                    format!("cursor={c:?}: pass back a next_cursor"),
                )
                .with("parameter", "cursor".into())
            })?,
    };
    let format = params.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "csv" | "jsonl") {
        return Err(bad(
            "unknown format",
            format!("format={format:?}: expected json, csv or jsonl"),
        ));
    }
    let journal = state.journal.clone();
    let format = format.to_string();
    tokio::task::spawn_blocking(move || -> Result<Response, Problem> {
        if format == "json" {
            let limit = params.limit.unwrap_or(100).clamp(1, 1000);
            let (events, next) =
                read(&journal, &filter, start, limit).map_err(|e| Problem::internal(&e))?;
            let next = next.map(|s| format!("{CURSOR_PREFIX}{s:x}"));
            return Ok(axum::Json(json!({ "events": events, "next_cursor": next })).into_response());
        }
        let (events, _) =
            read(&journal, &filter, start, usize::MAX).map_err(|e| Problem::internal(&e))?;
        let mut details = serde_json::Map::new();
        details.insert("format".into(), format.clone().into());
        details.insert("events".into(), events.len().into());
        for (k, v) in [
            ("actor", &filter.actor),
            ("action", &filter.action),
            ("from", &params.from),
            ("to", &params.to),
        ] {
            if let Some(v) = v {
                details.insert(k.into(), v.clone().into());
            }
        }
        journal
            .append_system(&principal.user, AUDIT_EXPORTED, None, details)
            .map_err(|e| Problem::internal(&e))?;
        let (body, content_type) = if format == "jsonl" {
            let mut body = String::new();
            for e in &events {
                body.push_str(&e.to_string());
                body.push('\n');
            }
            (body, "application/jsonl")
        } else {
            let mut body = String::from("seq,at,actor,action,target,reason,details\n");
            for e in &events {
                let text = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                let reason = e["details"]["reason"].as_str().unwrap_or_default();
                body.push_str(&format!(
                    "{},{},{},{},{},{},{}\n",
                    e["seq"],
                    csv_field(&text("at")),
                    csv_field(&text("actor")),
                    csv_field(&text("action")),
                    csv_field(&text("target")),
                    csv_field(reason),
                    csv_field(&e["details"].to_string()),
                ));
            }
            (body, "text/csv; charset=utf-8")
        };
        Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
    })
    .await
    .map_err(|e| Problem::internal(&e))?
}
