//! `/holds` (what each hold covers; place and release), `/consent` (a
//! party's whole consent history), `/privacy` (the DSAR queue with its
//! deadlines) and `/custodians`. Holds are placed and released through
//! `custos_governance::holds`, the code the CLI uses.
//!
//! Holds, consent and custodians are read from the SQL state projection
//! when the server keeps one (`custos serve` always does), after the rows
//! reach what was committed before the request; the console's in-memory
//! fold answers only when there is none.

use super::{Layout, PageError, Section, require, when};
use crate::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use custos_auth::{CsrfToken, Principal};
use custos_governance::holds::{HoldError, HoldScope};
use custos_model::{ConsentState, Timestamp};
use serde::Deserialize;

/// A hold as listed.
pub(super) struct HoldRow {
    id: String,
    name: String,
    reason: String,
    covers: Vec<String>,
    placed: String,
    released: String,
    active: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/holds.html")]
pub(super) struct HoldsPage {
    layout: Layout,
    holds: Vec<HoldRow>,
    /// The next page's URL (SQL state: a page at a time).
    next: Option<String>,
}

fn day(ts: Timestamp) -> String {
    when(ts, &jiff::tz::TimeZone::UTC)
}

/// What a hold's scope covers, in words.
fn covers(
    custodians: &[String],
    conversations: &[String],
    participants: &[String],
    from: Option<Timestamp>,
    to: Option<Timestamp>,
) -> Vec<String> {
    let mut covers = Vec::new();
    if !custodians.is_empty() {
        covers.push(format!("custodians: {}", custodians.join(", ")));
    }
    if !conversations.is_empty() {
        covers.push(format!("conversations: {}", conversations.join(", ")));
    }
    if !participants.is_empty() {
        covers.push(format!("participants: {}", participants.join(", ")));
    }
    if let Some(f) = from {
        covers.push(format!("sent from {}", day(f)));
    }
    if let Some(t) = to {
        covers.push(format!("sent before {}", day(t)));
    }
    covers
}

/// `?cursor=` of a console list read a page at a time.
#[derive(Debug, Default, Deserialize)]
pub(super) struct CursorQuery {
    cursor: Option<String>,
}

/// Holds a page.
const HOLDS_PAGE: usize = 200;

/// `GET /holds`: from the SQL state projection a page at a time (active
/// first, then newest placed) when the server keeps it, after the rows
/// reach what was committed before the request (a hold just placed
/// shows); else the whole fold.
pub(super) async fn holds(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(csrf): Extension<CsrfToken>,
    axum::extract::Query(q): axum::extract::Query<CursorQuery>,
) -> Result<HoldsPage, PageError> {
    require(&p, Section::Holds)?;
    if let Some(store) = state.store.clone() {
        let cursor = q.cursor.unwrap_or_default();
        let bad = || PageError::BadRequest(format!("cursor {cursor:?}: not a page of this list"));
        let after = crate::paging::key("holds", Some(&cursor)).map_err(|_| bad())?;
        let page = store
            .current()
            .await
            .holds(custos_store::HoldState::Any, after.as_deref(), HOLDS_PAGE)
            .await
            .map_err(|e| match e {
                custos_store::Error::Cursor(_) => bad(),
                other => PageError::internal(&other),
            })?;
        let holds = page
            .holds
            .into_iter()
            .map(|h| HoldRow {
                covers: covers(
                    &h.custodians,
                    &h.conversations,
                    &h.participants,
                    h.from,
                    h.to,
                ),
                placed: format!("{} by {}", day(h.placed_at), h.placed_by),
                released: match (&h.released_by, h.released_at) {
                    (Some(by), Some(at)) => format!(
                        "{} by {by}: {}",
                        day(at),
                        h.release_reason.as_deref().unwrap_or_default()
                    ),
                    _ => String::new(),
                },
                active: h.active,
                id: h.id,
                name: h.name,
                reason: h.reason,
            })
            .collect();
        return Ok(HoldsPage {
            layout: Layout::new(&p, &csrf, Section::Holds, "Legal holds"),
            holds,
            next: page
                .next
                .map(|k| format!("/holds?cursor={}", crate::paging::encode_key("holds", &k))),
        });
    }
    let journal = state.journal.clone();
    let console = state.console.clone();
    let holds = tokio::task::spawn_blocking(move || {
        console.with(&journal, |proj| {
            let mut rows: Vec<HoldRow> = proj
                .holds
                .all
                .values()
                .map(|h| {
                    let s = &h.placed.scope;
                    HoldRow {
                        id: h.id.clone(),
                        name: h.placed.name.clone(),
                        reason: h.placed.reason.clone(),
                        covers: covers(
                            &s.custodians,
                            &s.conversations,
                            &s.participants,
                            s.from,
                            s.to,
                        ),
                        placed: format!("{} by {}", day(h.placed_at), h.placed_by),
                        released: h
                            .released
                            .as_ref()
                            .map(|(by, at, why)| format!("{} by {by}: {why}", day(*at)))
                            .unwrap_or_default(),
                        active: h.released.is_none(),
                    }
                })
                .collect();
            rows.sort_by_key(|r| !r.active);
            rows
        })
    })
    .await??;
    Ok(HoldsPage {
        layout: Layout::new(&p, &csrf, Section::Holds, "Legal holds"),
        holds,
        next: None,
    })
}

/// The place-a-hold form.
#[derive(Debug, Deserialize)]
pub(super) struct PlaceForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    custodians: String,
    #[serde(default)]
    conversations: String,
    #[serde(default)]
    participants: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

fn list(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A `YYYY-MM-DD` field as the start of that UTC day.
fn date(field: &str, text: &str) -> Result<Option<Timestamp>, PageError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let d: jiff::civil::Date = text.parse().map_err(|_| {
        PageError::BadRequest(format!("{field}: {text:?} is not a date (YYYY-MM-DD)"))
    })?;
    let ts = d
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .map_err(|e| PageError::BadRequest(format!("{field}: {e}")))?
        .timestamp();
    Ok(Some(Timestamp::from_micros(ts.as_microsecond())))
}

fn hold_error(e: HoldError) -> PageError {
    match e {
        HoldError::Journal(e) => PageError::internal(&e),
        HoldError::NoSuchHold(_) => PageError::NotFound(e.to_string()),
        e => PageError::BadRequest(e.to_string()),
    }
}

/// `POST /holds`: places a hold.
pub(super) async fn place_hold(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Form(form): Form<PlaceForm>,
) -> Result<Response, PageError> {
    require(&p, Section::Holds)?;
    let scope = HoldScope {
        custodians: list(&form.custodians),
        conversations: list(&form.conversations),
        participants: list(&form.participants),
        from: date("from", &form.from)?,
        to: date("to", &form.to)?,
        // Holds over a saved search are placed from the CLI, which can run it.
        search: None,
        frozen: Vec::new(),
    };
    let journal = state.journal.clone();
    let console = state.console.clone();
    let who = p.user.clone();
    tokio::task::spawn_blocking(move || {
        console.with(&journal, |proj| {
            proj.holds
                .place(&journal, &who, &form.name, &form.reason, scope)
                .map_err(hold_error)
        })
    })
    .await???;
    Ok(Redirect::to("/holds").into_response())
}

/// The release form.
#[derive(Debug, Deserialize)]
pub(super) struct ReleaseForm {
    #[serde(default)]
    reason: String,
}

/// `POST /holds/{id}/release`.
pub(super) async fn release_hold(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    Form(form): Form<ReleaseForm>,
) -> Result<Response, PageError> {
    require(&p, Section::Holds)?;
    let journal = state.journal.clone();
    let console = state.console.clone();
    let who = p.user.clone();
    tokio::task::spawn_blocking(move || {
        console.with(&journal, |proj| {
            proj.holds
                .release(&journal, &who, &id, &form.reason)
                .map_err(hold_error)
        })
    })
    .await???;
    Ok(Redirect::to("/holds").into_response())
}

/// One consent change as listed.
pub(super) struct ConsentRow {
    at: String,
    channel: String,
    state: &'static str,
    evidence: String,
    recorded_by: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/consent.html")]
pub(super) struct ConsentPage {
    layout: Layout,
    party: String,
    looked_up: bool,
    rows: Vec<ConsentRow>,
    current: Vec<(String, &'static str)>,
    parties: usize,
    opted_out: usize,
}

fn consent_page(p: &Principal, csrf: &CsrfToken) -> ConsentPage {
    ConsentPage {
        layout: Layout::new(p, csrf, Section::Consent, "Consent"),
        party: String::new(),
        looked_up: false,
        rows: Vec::new(),
        current: Vec::new(),
        parties: 0,
        opted_out: 0,
    }
}

fn state_name(s: ConsentState) -> &'static str {
    match s {
        ConsentState::OptIn => "opted in",
        ConsentState::OptOut => "opted out",
    }
}

/// `GET /consent`: the lookup form and overall figures.
pub(super) async fn consent(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(csrf): Extension<CsrfToken>,
) -> Result<ConsentPage, PageError> {
    require(&p, Section::Consent)?;
    if let Some(store) = state.store.clone() {
        let figures = store
            .current()
            .await
            .consent_figures()
            .await
            .map_err(|e| PageError::internal(&e))?;
        let mut page = consent_page(&p, &csrf);
        page.parties = figures.parties as usize;
        page.opted_out = figures.opted_out as usize;
        return Ok(page);
    }
    let journal = state.journal.clone();
    let console = state.console.clone();
    let (parties, opted_out) = tokio::task::spawn_blocking(move || {
        console.with(&journal, |proj| {
            let out = proj
                .consent
                .values()
                .filter(|h| h.last().is_some_and(|r| r.state == ConsentState::OptOut))
                .count();
            (proj.consent.len(), out)
        })
    })
    .await??;
    let mut page = consent_page(&p, &csrf);
    page.parties = parties;
    page.opted_out = opted_out;
    Ok(page)
}

/// The lookup form (a POST: a number is personal data, kept out of URLs).
#[derive(Debug, Deserialize)]
pub(super) struct LookupForm {
    #[serde(default)]
    party: String,
}

/// Consent changes read a page at a time from the state store.
const CONSENT_PAGE: usize = 500;

/// `POST /consent` from the SQL state projection: the party's whole
/// history (newest first), its state now per channel, the figures.
async fn consent_lookup_from_store(
    state: &AppState,
    store: crate::store::StoreService,
    who: String,
    party: &str,
) -> Result<(Vec<ConsentRow>, Vec<(String, &'static str)>, usize, usize), PageError> {
    let rows = store.current().await;
    let mut history = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = rows
            .consent_history(party, None, after.as_deref(), CONSENT_PAGE)
            .await
            .map_err(|e| PageError::internal(&e))?;
        history.extend(page.changes);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let now = rows
        .consent_now(party)
        .await
        .map_err(|e| PageError::internal(&e))?;
    let figures = rows
        .consent_figures()
        .await
        .map_err(|e| PageError::internal(&e))?;
    if !history.is_empty() {
        let mut details = serde_json::Map::new();
        details.insert(
            "entries".into(),
            history.iter().map(|r| r.seq).collect::<Vec<_>>().into(),
        );
        details.insert("reason".into(), "consent lookup".into());
        details.insert("via".into(), "console".into());
        let event = custos_model::Event::System(custos_model::SystemEvent {
            actor: who,
            action: "content.read".into(),
            target: None,
            at: Timestamp::now(),
            details,
        });
        state
            .journal
            .append_async(&event, None)
            .await
            .map_err(|e| PageError::internal(&e))?;
    }
    let rows = history
        .into_iter()
        .map(|r| ConsentRow {
            at: day(r.at),
            channel: r.channel,
            state: state_name(r.state),
            evidence: r.evidence,
            recorded_by: r.recorded_by,
        })
        .collect();
    let current = now
        .into_iter()
        .map(|n| (n.channel, state_name(n.state)))
        .collect();
    Ok((
        rows,
        current,
        figures.parties as usize,
        figures.opted_out as usize,
    ))
}

/// `POST /consent`: one party's whole history, newest first; the read of
/// its evidence is journalled (`content.read`).
pub(super) async fn consent_lookup(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(csrf): Extension<CsrfToken>,
    Form(form): Form<LookupForm>,
) -> Result<ConsentPage, PageError> {
    require(&p, Section::Consent)?;
    let party = form.party.trim().to_string();
    if party.is_empty() {
        return Err(PageError::BadRequest(
            "party: give a number or address".into(),
        ));
    }
    if let Some(store) = state.store.clone() {
        let (rows, current, parties, opted_out) =
            consent_lookup_from_store(&state, store, p.user.clone(), &party).await?;
        let mut page = consent_page(&p, &csrf);
        page.party = party;
        page.looked_up = true;
        page.parties = parties;
        page.opted_out = opted_out;
        page.current = current;
        page.rows = rows;
        return Ok(page);
    }
    let journal = state.journal.clone();
    let console = state.console.clone();
    let who = p.user.clone();
    let key = custos_model::party_id(&party);
    let (history, parties, opted_out) =
        tokio::task::spawn_blocking(move || -> Result<_, PageError> {
            let (history, parties, opted_out) = console.with(&journal, |proj| {
                let out = proj
                    .consent
                    .values()
                    .filter(|h| h.last().is_some_and(|r| r.state == ConsentState::OptOut))
                    .count();
                (
                    proj.consent.get(&key).cloned().unwrap_or_default(),
                    proj.consent.len(),
                    out,
                )
            })?;
            if !history.is_empty() {
                let mut details = serde_json::Map::new();
                details.insert(
                    "entries".into(),
                    history.iter().map(|r| r.seq).collect::<Vec<_>>().into(),
                );
                details.insert("reason".into(), "consent lookup".into());
                details.insert("via".into(), "console".into());
                journal.append_system(&who, "content.read", None, details)?;
            }
            Ok((history, parties, opted_out))
        })
        .await??;
    let mut current: std::collections::BTreeMap<String, &'static str> = Default::default();
    for r in &history {
        current.insert(r.channel.clone(), state_name(r.state));
    }
    let mut page = consent_page(&p, &csrf);
    page.party = party;
    page.looked_up = true;
    page.parties = parties;
    page.opted_out = opted_out;
    page.current = current.into_iter().collect();
    page.rows = history
        .into_iter()
        .rev()
        .map(|r| ConsentRow {
            at: day(r.at),
            channel: r.channel,
            state: state_name(r.state),
            evidence: r.evidence,
            recorded_by: r.recorded_by,
        })
        .collect();
    Ok(page)
}

/// A privacy request as listed.
pub(super) struct RequestRow {
    id: String,
    subject: String,
    kind: String,
    law: String,
    received: String,
    due: String,
    left: String,
    overdue: bool,
    outcome: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/privacy.html")]
pub(super) struct PrivacyPage {
    layout: Layout,
    open: Vec<RequestRow>,
    closed: Vec<RequestRow>,
}

/// `GET /privacy`: open requests by deadline, then decided ones.
pub(super) async fn privacy(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(csrf): Extension<CsrfToken>,
) -> Result<PrivacyPage, PageError> {
    require(&p, Section::Privacy)?;
    let journal = state.journal.clone();
    let console = state.console.clone();
    let requests = tokio::task::spawn_blocking(move || {
        console.with(&journal, |proj| {
            proj.privacy.all.values().cloned().collect::<Vec<_>>()
        })
    })
    .await??;
    let now = Timestamp::now();
    let mut open = Vec::new();
    let mut closed = Vec::new();
    let mut sorted = requests;
    sorted.sort_by_key(|r| r.opening.due);
    for r in sorted {
        let left_days = (r.opening.due.as_micros() - now.as_micros()).div_euclid(86_400_000_000);
        let row = RequestRow {
            id: r.id.clone(),
            subject: r.opening.subject.clone(),
            kind: format!("{:?}", r.opening.kind).to_lowercase(),
            law: serde_json::to_value(r.opening.law)
                .ok()
                .and_then(|v| v.as_str().map(str::to_uppercase))
                .unwrap_or_default(),
            received: day(r.opening.received_at),
            due: day(r.opening.due),
            left: if left_days < 0 {
                format!("{} days overdue", -left_days)
            } else {
                format!("{left_days} days left")
            },
            overdue: left_days < 0 && r.decision.is_none(),
            outcome: r
                .decision
                .as_ref()
                .map(|d| format!("{}: {}", d.outcome, d.grounds))
                .unwrap_or_default(),
        };
        if r.decision.is_some() {
            closed.push(row);
        } else {
            open.push(row);
        }
    }
    Ok(PrivacyPage {
        layout: Layout::new(&p, &csrf, Section::Privacy, "Privacy requests"),
        open,
        closed,
    })
}

/// A custodian as listed.
pub(super) struct CustodianRow {
    id: String,
    name: String,
    phone: String,
    units: String,
    opted_in: String,
    enrolled: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/custodians.html")]
pub(super) struct CustodiansPage {
    layout: Layout,
    rows: Vec<CustodianRow>,
    /// The next page's URL (SQL state: a page at a time).
    next: Option<String>,
}

/// `?cursor=` of the custodian list.
#[derive(Debug, Default, Deserialize)]
pub(super) struct CustodiansQuery {
    cursor: Option<String>,
}

/// Custodians a page.
const CUSTODIANS_PAGE: usize = 200;

/// `GET /custodians`: from the SQL state projection a page at a time, in
/// order of enrolment, when the server keeps it; else the whole registry.
pub(super) async fn custodians(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(csrf): Extension<CsrfToken>,
    axum::extract::Query(q): axum::extract::Query<CustodiansQuery>,
) -> Result<CustodiansPage, PageError> {
    require(&p, Section::Custodians)?;
    if let Some(store) = state.store.clone() {
        let cursor = q.cursor.unwrap_or_default();
        let bad = || PageError::BadRequest(format!("cursor {cursor:?}: not a page of this list"));
        let after = crate::paging::key("custodians", Some(&cursor)).map_err(|_| bad())?;
        let page = store
            .current()
            .await
            .custodians(None, after.as_deref(), CUSTODIANS_PAGE)
            .await
            .map_err(|e| match e {
                custos_store::Error::Cursor(_) => bad(),
                other => PageError::internal(&other),
            })?;
        let rows = page
            .custodians
            .into_iter()
            .map(|c| CustodianRow {
                id: c.id,
                name: c.name,
                phone: c.phone,
                units: c.units.join(", "),
                opted_in: c.opted_in,
                enrolled: format!("{} by {}", c.enrolled_at, c.enrolled_by),
            })
            .collect();
        return Ok(CustodiansPage {
            layout: Layout::new(&p, &csrf, Section::Custodians, "Custodians"),
            rows,
            next: page.next.map(|k| {
                format!(
                    "/custodians?cursor={}",
                    crate::paging::encode_key("custodians", &k)
                )
            }),
        });
    }
    let journal = state.journal.clone();
    let console = state.console.clone();
    let rows = tokio::task::spawn_blocking(move || {
        console.with(&journal, |proj| {
            proj.custodians
                .values()
                .map(|c| CustodianRow {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    phone: c.phone.clone(),
                    units: c.units.join(", "),
                    opted_in: c.opted_in.clone(),
                    enrolled: format!("{} by {}", c.enrolled_at, c.enrolled_by),
                })
                .collect::<Vec<_>>()
        })
    })
    .await??;
    Ok(CustodiansPage {
        layout: Layout::new(&p, &csrf, Section::Custodians, "Custodians"),
        rows,
        next: None,
    })
}
