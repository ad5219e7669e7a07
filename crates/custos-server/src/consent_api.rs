//! The consent API: a party's consent history (an audited read) and
//! recording an opt-in or opt-out with its evidence.
//!
//! - `GET  /api/v1/consent/{party}` — every change on record, oldest first,
//!   and the current state per channel; journals `content.read`;
//! - `POST /api/v1/consent` — `{"party", "channel" (default whatsapp),
//!   "state": "opt_in"|"opt_out", "source", "text", "captured_by"?, "at"?}`:
//!   for an opt-in, `text` is what the party was shown and agreed to;
//!   `captured_by` who collected it (default: the actor); `at` when
//!   (RFC 3339, default now, never in the future). 201 with the entry.
//!
//! The acting user is the signed-in principal (reading needs the
//! `ReadConsent` permission, recording `RecordConsent`). The sending rules
//! see the change at once.
//!
//! The history is read from the SQL state projection when the server keeps
//! one (`custos serve` always does: one indexed query instead of a scan of
//! the journal), after the rows reach what was committed before the
//! request; without one, from the journal.

use crate::{AppState, Problem};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use custos_auth::Principal;
use custos_journal::{Journal, Opened};
use custos_model::{ConsentChange, ConsentState, Event, EventKind, Timestamp, party_id};
use serde::Deserialize;

/// The evidence string of a consent change recorded by hand or by API:
/// where, what was shown or said, and who captured it.
pub fn evidence(source: &str, text: &str, captured_by: &str) -> String {
    format!(
        "{}: {} (captured by {})",
        source.trim(),
        text.trim(),
        captured_by.trim()
    )
}

/// Every consent change about `party`, oldest first, with its entry.
pub fn history(
    journal: &Journal,
    party: &str,
) -> custos_journal::Result<Vec<(u64, ConsentChange)>> {
    let wanted = party_id(party);
    let mut out = Vec::new();
    for entry in journal.entries(0) {
        let entry = entry?;
        if entry.leaf.kind != EventKind::Consent {
            continue;
        }
        if let Opened::Event(Event::Consent(c)) = journal.open_entry(&entry)?
            && party_id(&c.party) == wanted
        {
            out.push((entry.leaf.seq, c));
        }
    }
    Ok(out)
}

/// A consent change to record.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    /// The party: phone number or e-mail address.
    pub party: String,
    /// The channel (default `whatsapp`).
    #[serde(default = "whatsapp")]
    pub channel: String,
    /// `opt_in` or `opt_out`.
    #[schema(value_type = String, example = "opt_in")]
    pub state: ConsentState,
    /// Where: web-form, ivr, in-chat, paper, crm...
    pub source: String,
    /// Opt-in: the text shown and agreed to; opt-out: what the party said.
    pub text: String,
    /// Who captured it (default: the actor).
    #[serde(default)]
    pub captured_by: Option<String>,
    /// When it was given (RFC 3339; default now).
    #[serde(default)]
    pub at: Option<String>,
}

fn whatsapp() -> String {
    "whatsapp".into()
}

fn bad(detail: String, field: &str) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "invalid consent change", detail)
        .with("field", field.into())
}

/// `POST /api/v1/consent`
#[utoipa::path(
    post, path = "/api/v1/consent", tag = "consent",
    request_body = ConsentRequest,
    responses(
        (status = 201, description = "The change, journalled", body = crate::openapi::schemas::ConsentRecorded),
        (status = 400, description = "An invalid consent change (names the field)", body = crate::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn record(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Json(request): Json<ConsentRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>), Problem> {
    let actor = principal.user;
    let party = party_id(&request.party);
    if party.is_empty() {
        return Err(bad("`party` must name a number or address".into(), "party"));
    }
    if request.channel.trim().is_empty() {
        return Err(bad("`channel` must not be empty".into(), "channel"));
    }
    if request.source.trim().is_empty() {
        return Err(bad(
            "`source` (where consent was given) is required".into(),
            "source",
        ));
    }
    if request.text.trim().is_empty() {
        return Err(bad(
            "`text` (what the party was shown or said) is required".into(),
            "text",
        ));
    }
    let at = match &request.at {
        None => Timestamp::now(),
        Some(text) => {
            let at =
                Timestamp::parse(text).map_err(|e| bad(format!("`at` {text:?}: {e}"), "at"))?;
            if at > Timestamp::now() {
                return Err(bad(format!("`at` {text:?} is in the future"), "at"));
            }
            at
        }
    };
    let captured_by = request
        .captured_by
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .unwrap_or(&actor)
        .to_string();
    let change = ConsentChange {
        channel: request.channel.trim().to_string(),
        party: party.clone(),
        state: request.state,
        evidence: evidence(&request.source, &request.text, &captured_by),
        at,
        recorded_by: actor,
    };
    let event = Event::Consent(change);
    let appended = state
        .journal
        .append_async(&event, Some(&party))
        .await
        .map_err(|e| Problem::internal(&e))?;
    state
        .parties
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .observe(appended.seq, &event);
    let Event::Consent(change) = event else {
        unreachable!("built above")
    };
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "seq": appended.seq, "change": change })),
    ))
}

/// `GET /api/v1/consent/{party}`
#[utoipa::path(
    get, path = "/api/v1/consent/{party}", tag = "consent",
    params(("party" = String, Path, description = "Phone number or e-mail address")),
    responses(
        (status = 200, description = "The party's consent now and its history (the read is journalled)", body = crate::openapi::schemas::ConsentHistory),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(party): Path<String>,
) -> Result<Json<serde_json::Value>, Problem> {
    let actor = principal.user;
    if let Some(store) = state.store.clone() {
        return show_from_store(&state, store, actor, &party).await;
    }
    let journal = state.journal.clone();
    let wanted = party.clone();
    let changes = tokio::task::spawn_blocking(move || history(&journal, &wanted))
        .await
        .map_err(|e| Problem::internal(&e))?
        .map_err(|e| Problem::internal(&e))?;
    journal_read(&state, actor, changes.iter().map(|(s, _)| *s).collect()).await?;
    let mut current = serde_json::Map::new();
    for (_, c) in &changes {
        current.insert(
            c.channel.clone(),
            serde_json::to_value(c.state).unwrap_or_default(),
        );
    }
    let history: Vec<serde_json::Value> = changes
        .iter()
        .map(|(seq, c)| {
            let mut v = serde_json::to_value(c).unwrap_or_default();
            v["seq"] = (*seq).into();
            v
        })
        .collect();
    Ok(Json(serde_json::json!({
        "party": party_id(&party),
        "current": current,
        "history": history,
    })))
}

/// Records the read of consent entries `entries` by `actor`.
async fn journal_read(state: &AppState, actor: String, entries: Vec<u64>) -> Result<(), Problem> {
    let mut details = serde_json::Map::new();
    details.insert("reason".into(), "consent history".into());
    details.insert("entries".into(), entries.into());
    state
        .journal
        .append_async(
            &Event::System(custos_model::SystemEvent {
                actor,
                action: "content.read".into(),
                target: Some("consent".into()),
                at: Timestamp::now(),
                details,
            }),
            None,
        )
        .await
        .map_err(|e| Problem::internal(&e))?;
    Ok(())
}

/// Consent changes read a page at a time from the state store.
const HISTORY_PAGE: usize = 500;

/// [`show`] from the SQL state projection, after the rows reach what was
/// committed before the request: the same answer as the journal scan
/// (oldest first; `party` of each change normalised, as the rows keep it).
async fn show_from_store(
    state: &AppState,
    store: crate::store::StoreService,
    actor: String,
    party: &str,
) -> Result<Json<serde_json::Value>, Problem> {
    let rows = store.current().await;
    let wanted = party_id(party);
    let mut changes = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = rows
            .consent_history(&wanted, None, after.as_deref(), HISTORY_PAGE)
            .await
            .map_err(|e| Problem::internal(&e))?;
        changes.extend(page.changes);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    changes.reverse();
    let now = rows
        .consent_now(&wanted)
        .await
        .map_err(|e| Problem::internal(&e))?;
    journal_read(state, actor, changes.iter().map(|c| c.seq).collect()).await?;
    let mut current = serde_json::Map::new();
    for n in now {
        current.insert(n.channel, serde_json::to_value(n.state).unwrap_or_default());
    }
    let history: Vec<serde_json::Value> = changes
        .into_iter()
        .map(|c| {
            let change = ConsentChange {
                channel: c.channel,
                party: wanted.clone(),
                state: c.state,
                evidence: c.evidence,
                at: c.at,
                recorded_by: c.recorded_by,
            };
            let mut v = serde_json::to_value(change).unwrap_or_default();
            v["seq"] = c.seq.into();
            v
        })
        .collect();
    Ok(Json(serde_json::json!({
        "party": wanted,
        "current": current,
        "history": history,
    })))
}
