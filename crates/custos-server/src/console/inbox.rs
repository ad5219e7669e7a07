//! `/inbox`: the agent inbox. Agents talk to customers on WhatsApp here and
//! are governed at the same moment: every reply goes through
//! [`crate::outbound::send`] (consent, the 24-hour window, the pre-send
//! policy check, every attempt journalled), and every read is journalled
//! as `inbox.opened` before anything is shown.
//!
//! Who sees what ([`crate::inbox::Viewer`]): an agent sees the
//! conversations assigned to them or to one of their teams (their units),
//! and the unassigned ones of their own custodian number; compliance
//! officers and reviewers read any conversation within their barrier as
//! supervisors, without marking it read. Anything else is a 404.
//!
//! Pages work without JavaScript; `/assets/inbox.js` (the one script, from
//! self) listens to the server-sent events of `/inbox/events` and
//! `/inbox/c/{id}/events` and swaps in the list or thread fragment when
//! something changed, and ticks the window's countdown.

use super::{Layout, PageError, Section, require, when};
use crate::AppState;
use crate::inbox::{self, Assignee, Conversation, Viewer};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{self, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use custos_auth::{CsrfToken, Permission, Principal, Role};
use custos_journal::Opened;
use custos_model::{Attachment, ConsentState, DeliveryState, Event, Message, Timestamp};
use serde::Deserialize;
use std::convert::Infallible;
use std::hash::{Hash, Hasher};
use std::time::Duration;

/// Messages shown in a thread (the latest).
const THREAD: usize = 100;

/// How often a live stream looks for new entries.
const POLL: Duration = Duration::from_millis(300);

/// How long one live stream lasts before it asks the script to reconnect
/// (so a server shutting down never waits long for open streams).
const STREAM_LIFETIME: Duration = Duration::from_secs(25);

/// The 24-hour window in microseconds.
const WINDOW: i64 = crate::outbound::SERVICE_WINDOW_MICROS;

/// The viewer behind principal `p`, with the projection's barrier.
fn viewer(state: &AppState, p: &Principal, proj: &super::Projection) -> Viewer {
    let (teams, custodian) = state
        .auth
        .with_users_read(|u| {
            u.get(&p.user)
                .map(|u| (u.units.clone(), u.custodian.clone()))
        })
        .unwrap_or_default();
    let supervisor = p
        .has_any(&[Role::ComplianceOfficer, Role::Reviewer])
        .then(|| proj.barrier(&p.scope));
    Viewer {
        user: p.user.clone(),
        teams,
        custodian,
        agent: p.has(Role::Agent),
        supervisor,
    }
}

fn owner_of(proj: &super::Projection) -> impl Fn(&str) -> Option<String> + '_ {
    |b: &str| proj.custodian_of(b).map(|c| c.id.clone())
}

/// One row of the list.
pub(super) struct Row {
    id: u64,
    customer: String,
    name: String,
    line: String,
    last: String,
    unread: usize,
    assigned: String,
    window_open: bool,
}

/// The visible conversations as rows, and their signature.
fn rows(state: &AppState, p: &Principal, proj: &super::Projection) -> (Vec<Row>, u64) {
    let v = viewer(state, p, proj);
    let owner = owner_of(proj);
    let now = Timestamp::now().as_micros();
    let mut hasher = std::hash::DefaultHasher::new();
    let mut out = Vec::new();
    for c in proj.inbox.newest_first() {
        if !v.sees(c, &owner) {
            continue;
        }
        let unread = proj.inbox.unread(&p.user, c);
        (c.id, c.version, unread, c.last_at.as_micros()).hash(&mut hasher);
        out.push(Row {
            id: c.id,
            customer: c.customer.clone(),
            name: proj
                .inbox
                .identities
                .name(&c.customer)
                .unwrap_or_default()
                .to_string(),
            line: line_label(proj, c),
            last: when(c.last_at, &jiff::tz::TimeZone::UTC),
            unread,
            assigned: c
                .assigned
                .as_ref()
                .map(Assignee::label)
                .unwrap_or_else(|| "unassigned".into()),
            window_open: c.last_inbound.is_some_and(|t| now - t.as_micros() < WINDOW),
        });
    }
    (out, hasher.finish())
}

fn line_label(proj: &super::Projection, c: &Conversation) -> String {
    match c.business.as_deref() {
        Some(b) => match proj.custodian_of(b) {
            Some(cu) => format!("{} ({b})", cu.name),
            None => b.to_string(),
        },
        None => c.key.split(':').next().unwrap_or_default().to_string(),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "console/inbox.html")]
pub(super) struct ListPage {
    layout: Layout,
    rows: Vec<Row>,
    sig: u64,
    query: String,
    searched: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/inbox_list.html")]
pub(super) struct ListFragment {
    rows: Vec<Row>,
}

/// `GET /inbox`: the list, newest activity first.
pub(super) async fn list(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(csrf): Extension<CsrfToken>,
) -> Result<ListPage, PageError> {
    require(&p, Section::Inbox)?;
    let (rows, sig) = list_rows(&state, &p).await?;
    Ok(ListPage {
        layout: Layout::new(&p, &csrf, Section::Inbox, "Inbox"),
        rows,
        sig,
        query: String::new(),
        searched: false,
    })
}

async fn list_rows(state: &AppState, p: &Principal) -> Result<(Vec<Row>, u64), PageError> {
    let state2 = state.clone();
    let p = p.clone();
    Ok(tokio::task::spawn_blocking(move || {
        state2
            .console
            .with(&state2.journal, |proj| rows(&state2, &p, proj))
    })
    .await??)
}

/// `GET /inbox/list`: the list fragment the script swaps in.
pub(super) async fn list_fragment(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Result<Response, PageError> {
    require(&p, Section::Inbox)?;
    let (rows, sig) = list_rows(&state, &p).await?;
    Ok(with_sig(ListFragment { rows }.into_response(), sig))
}

fn with_sig(mut r: Response, sig: u64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&sig.to_string()) {
        r.headers_mut().insert("x-inbox-sig", v);
    }
    r
}

/// The search form within one's own conversations.
#[derive(Debug, Deserialize)]
pub(super) struct SearchForm {
    #[serde(default)]
    q: String,
}

/// `POST /inbox`: the list narrowed to conversations whose customer number
/// or messages contain the words (case-insensitive). It reads content, so
/// it is journalled as `search.run` (via `inbox`) with what it showed.
pub(super) async fn search(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(csrf): Extension<CsrfToken>,
    Form(form): Form<SearchForm>,
) -> Result<ListPage, PageError> {
    require(&p, Section::Inbox)?;
    let q = form.q.trim().to_string();
    if q.is_empty() {
        return Err(PageError::BadRequest(
            "q: type a number or words to look for".into(),
        ));
    }
    let needle = q.to_lowercase();
    let state2 = state.clone();
    let p2 = p.clone();
    let (rows, sig) = tokio::task::spawn_blocking(move || -> Result<_, PageError> {
        let (rows, sig, seqs) = state2.console.with(&state2.journal, |proj| {
            let (rows, sig) = rows(&state2, &p2, proj);
            let seqs: Vec<(u64, String, Vec<u64>)> = rows
                .iter()
                .filter_map(|r| proj.inbox.get(r.id))
                .map(|c| (c.id, c.customer.clone(), c.messages.clone()))
                .collect();
            (rows, sig, seqs)
        })?;
        let mut matched = Vec::new();
        for (id, customer, messages) in seqs {
            let mut hit = customer.contains(&needle);
            for seq in messages.iter().rev() {
                if hit {
                    break;
                }
                if let Opened::Event(Event::Message(m)) =
                    state2.journal.open_entry(&state2.journal.entry(*seq)?)?
                {
                    hit = m
                        .text
                        .as_deref()
                        .is_some_and(|t| t.to_lowercase().contains(&needle));
                }
            }
            if hit {
                matched.push(id);
            }
        }
        let mut details = serde_json::Map::new();
        details.insert("query".into(), q.clone().into());
        details.insert("via".into(), "inbox".into());
        details.insert("conversations".into(), serde_json::json!(matched));
        state2
            .journal
            .append_system(&p2.user, crate::search::SEARCHED, None, details)?;
        let rows: Vec<Row> = rows
            .into_iter()
            .filter(|r| matched.contains(&r.id))
            .collect();
        Ok((rows, sig))
    })
    .await??;
    Ok(ListPage {
        layout: Layout::new(&p, &csrf, Section::Inbox, "Inbox"),
        rows,
        sig,
        query: form.q.trim().to_string(),
        searched: true,
    })
}

/// One message in the thread.
pub(super) struct Bubble {
    seq: u64,
    side: &'static str,
    who: String,
    at: String,
    text: String,
    attachments: Vec<String>,
    ticks: &'static str,
    ticks_label: &'static str,
    failure: String,
    wamid: String,
    /// For a failed send the reader may retry: the conversation and the
    /// CSRF token of the retry form.
    retry: Option<(u64, String)>,
}

/// What a conversation page shows besides the thread.
pub(super) struct Facts {
    customer: String,
    name: String,
    line: String,
    assigned: String,
    consent: String,
    consent_class: &'static str,
    opted_in: bool,
    opted_out: bool,
    window_open: bool,
    closes_at: String,
    closes_micros: i64,
    minutes_left: i64,
    aliases: Vec<String>,
    consent_history: Vec<(String, String, String, String)>,
    notes: Vec<(String, String, String)>,
    alerts: Vec<(String, String, String)>,
    show_alerts: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/inbox_conversation.html")]
pub(super) struct ConversationPage {
    layout: Layout,
    id: u64,
    facts: Facts,
    bubbles: Vec<Bubble>,
    sig: u64,
    refusal: String,
    may_send: bool,
    supervising: bool,
    canned: Vec<(usize, String)>,
    templates: Vec<(String, String, String)>,
    opt_in_template: String,
    agents: Vec<(String, String)>,
    teams: Vec<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/inbox_thread.html")]
pub(super) struct ThreadFragment {
    bubbles: Vec<Bubble>,
}

fn ticks(state: Option<DeliveryState>) -> (&'static str, &'static str) {
    match state {
        None => ("", ""),
        Some(DeliveryState::Sent) => ("✓", "sent"),
        Some(DeliveryState::Delivered) => ("✓✓", "delivered"),
        Some(DeliveryState::Read) => ("✓✓", "read"),
        Some(DeliveryState::Played) => ("✓✓", "played"),
        Some(DeliveryState::Failed) => ("✗", "failed"),
    }
}

/// What one read of a conversation gathered (under the projection's lock
/// and from the journal), before rendering.
struct Read {
    bubbles: Vec<Bubble>,
    facts: Facts,
    sig: u64,
    supervising: bool,
}

/// The signature of what a conversation's page shows.
fn thread_sig(c: &Conversation) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    (c.id, c.version, c.messages.len()).hash(&mut h);
    h.finish()
}

/// Finds conversation `id` if `p` may see it (else 404), journals the read
/// (`inbox.opened`) and gathers the thread. Blocking.
fn read(state: &AppState, p: &Principal, id: u64, csrf: Option<String>) -> Result<Read, PageError> {
    let journal = &state.journal;
    let not_found = || PageError::NotFound(format!("no conversation {id} in your inbox"));
    let (c, marks, supervising, barrier) = state
        .console
        .with(journal, |proj| {
            let v = viewer(state, p, proj);
            let owner = owner_of(proj);
            let c = proj.inbox.get(id).filter(|c| v.sees(c, &owner)).cloned();
            c.map(|c| {
                let marks = v.marks_read(&c, &owner);
                (c, marks, !marks, proj.barrier(&p.scope))
            })
        })?
        .ok_or_else(not_found)?;
    let shown: Vec<u64> = c
        .messages
        .iter()
        .rev()
        .take(THREAD)
        .rev()
        .copied()
        .collect();
    let mut details = serde_json::Map::new();
    details.insert("conversation".into(), c.key.clone().into());
    details.insert(
        "upto".into(),
        c.messages.last().copied().unwrap_or(0).into(),
    );
    details.insert("marks_read".into(), marks.into());
    details.insert("seqs".into(), serde_json::json!(shown));
    details.insert("via".into(), "inbox".into());
    // The read is on record before anything is shown.
    journal.append_system(&p.user, inbox::OPENED, Some(&c.key), details)?;
    let mut messages = Vec::new();
    for seq in &shown {
        if let Opened::Event(Event::Message(m)) = journal.open_entry(&journal.entry(*seq)?)? {
            messages.push((*seq, m));
        }
    }
    let profile = state.redaction.for_principal(p);
    let redact = |t: &str| custos_policy::redact::redact_str(t, &profile);
    let show_alerts = p.may(Permission::ReadAlerts);
    let alerts = if show_alerts {
        alerts_about(state, &barrier, &c)
    } else {
        Vec::new()
    };
    state
        .console
        .with(journal, |proj| {
            let utc = jiff::tz::TimeZone::UTC;
            let may_retry = p.may(Permission::Send) && !supervising;
            let bubbles = messages
                .iter()
                .map(|(seq, m)| {
                    let mut b = bubble(*seq, m, proj, &state.inbox, &redact);
                    if !b.failure.is_empty()
                        && may_retry
                        && let Some(token) = &csrf
                    {
                        b.retry = Some((id, token.clone()));
                    }
                    b
                })
                .collect();
            let now = Timestamp::now().as_micros();
            let closes = c.last_inbound.map(|t| t.as_micros() + WINDOW);
            let window_open = closes.is_some_and(|t| t > now);
            let consent = proj.consent.get(&c.customer);
            let current = consent.and_then(|h| h.iter().rev().find(|r| r.channel == "whatsapp"));
            let (consent_label, consent_class) = match current {
                Some(r) if r.state == ConsentState::OptIn => {
                    (format!("opted in since {}", when(r.at, &utc)), "ok")
                }
                Some(r) => (format!("opted out on {}", when(r.at, &utc)), "warn"),
                None => ("no WhatsApp consent on record".to_string(), "warn"),
            };
            let facts = Facts {
                customer: c.customer.clone(),
                name: proj
                    .inbox
                    .identities
                    .name(&c.customer)
                    .unwrap_or_default()
                    .to_string(),
                line: line_label(proj, &c),
                assigned: c
                    .assigned
                    .as_ref()
                    .map(Assignee::label)
                    .unwrap_or_else(|| "unassigned".into()),
                consent: consent_label,
                consent_class,
                opted_in: current.is_some_and(|r| r.state == ConsentState::OptIn),
                opted_out: current.is_some_and(|r| r.state == ConsentState::OptOut),
                window_open,
                closes_at: closes
                    .map(|t| when(Timestamp::from_micros(t), &utc))
                    .unwrap_or_default(),
                closes_micros: closes.unwrap_or(0),
                minutes_left: closes.map_or(0, |t| ((t - now) / 60_000_000).max(0)),
                aliases: proj
                    .inbox
                    .identities
                    .aliases(&c.customer)
                    .into_iter()
                    .filter(|a| *a != c.customer)
                    .collect(),
                consent_history: consent
                    .map(|h| {
                        h.iter()
                            .map(|r| {
                                (
                                    when(r.at, &utc),
                                    r.channel.clone(),
                                    match r.state {
                                        ConsentState::OptIn => "opt-in".to_string(),
                                        ConsentState::OptOut => "opt-out".to_string(),
                                    },
                                    redact(&r.evidence),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                notes: proj
                    .inbox
                    .notes
                    .get(&c.customer)
                    .map(|n| {
                        n.iter()
                            .map(|n| (when(n.at, &utc), n.by.clone(), redact(&n.text)))
                            .collect()
                    })
                    .unwrap_or_default(),
                alerts,
                show_alerts,
            };
            Read {
                sig: thread_sig(&c),
                bubbles,
                facts,
                supervising,
            }
        })
        .map_err(PageError::from)
}

/// Open alerts about the conversation's messages, within the reader's
/// barrier: (id, title, severity).
fn alerts_about(
    state: &AppState,
    barrier: &super::Barrier,
    c: &Conversation,
) -> Vec<(String, String, String)> {
    let Some(sup) = &state.supervision else {
        return Vec::new();
    };
    sup.with(|sup| {
        sup.state
            .alerts
            .values()
            .filter(|a| a.is_open() && c.messages.contains(&a.raised.message_seq))
            .filter(|a| barrier.custodian(a.raised.custodian.as_deref()))
            .map(|a| {
                (
                    a.id.clone(),
                    a.raised.title.clone(),
                    a.raised.severity.name().to_string(),
                )
            })
            .collect()
    })
}

fn bubble(
    seq: u64,
    m: &Message,
    proj: &super::Projection,
    config: &inbox::InboxConfig,
    redact: &impl Fn(&str) -> String,
) -> Bubble {
    let outbound = m.direction == custos_model::Direction::Outbound;
    let state = proj
        .delivery
        .get(&(m.channel.clone(), m.source_id.clone()))
        .copied()
        .or(outbound.then_some(DeliveryState::Sent));
    let (t, tl) = if outbound { ticks(state) } else { ("", "") };
    let template = m
        .extra
        .get("whatsapp")
        .and_then(|w| w.pointer("/request/template/name"))
        .and_then(|n| n.as_str());
    let text = match (&m.text, template) {
        (Some(t), _) => redact(t),
        (None, Some(name)) => match config.template(name) {
            Some(t) => format!("[template {name}] {}", redact(&t.body)),
            None => format!("[template {name}]"),
        },
        (None, None) => String::new(),
    };
    let who = if outbound {
        m.extra
            .get("sent_by")
            .and_then(|s| s.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| m.sender.clone())
    } else {
        m.sender.clone()
    };
    Bubble {
        seq,
        side: if outbound { "out" } else { "in" },
        who,
        at: when(m.sent_at, &jiff::tz::TimeZone::UTC),
        text,
        attachments: m
            .attachments
            .iter()
            .map(|a| {
                format!(
                    "{} ({}, {} KB)",
                    a.name.as_deref().map_or_else(|| "unnamed".into(), redact),
                    a.media_type,
                    a.size.div_ceil(1024)
                )
            })
            .collect(),
        ticks: t,
        ticks_label: tl,
        failure: if state == Some(DeliveryState::Failed) {
            proj.inbox
                .failures
                .get(&m.source_id)
                .cloned()
                .unwrap_or_else(|| "no reason given".into())
        } else {
            String::new()
        },
        wamid: if outbound {
            m.source_id.clone()
        } else {
            String::new()
        },
        retry: None,
    }
}

/// The conversation page with `refusal` shown above the composer.
async fn page(
    state: &AppState,
    p: &Principal,
    csrf: &CsrfToken,
    id: u64,
    status: StatusCode,
    refusal: String,
) -> Result<Response, PageError> {
    let state2 = state.clone();
    let p2 = p.clone();
    let token = csrf.0.clone();
    let r = tokio::task::spawn_blocking(move || read(&state2, &p2, id, Some(token))).await??;
    let (agents, teams) = state.auth.with_users_read(|u| {
        let agents: Vec<_> = u
            .users()
            .filter(|u| !u.disabled && u.roles.contains(&Role::Agent))
            .collect();
        let mut teams: Vec<String> = agents.iter().flat_map(|u| u.units.clone()).collect();
        teams.sort();
        teams.dedup();
        (
            agents
                .iter()
                .map(|u| (u.id.clone(), u.name.clone()))
                .collect::<Vec<_>>(),
            teams,
        )
    });
    let config = &state.inbox;
    let page = ConversationPage {
        layout: Layout::new(p, csrf, Section::Inbox, "Conversation"),
        id,
        facts: r.facts,
        bubbles: r.bubbles,
        sig: r.sig,
        refusal,
        may_send: p.may(Permission::Send) && !r.supervising,
        supervising: r.supervising,
        canned: config.canned.iter().cloned().enumerate().collect(),
        templates: config
            .templates
            .iter()
            .map(|t| (t.name.clone(), t.language.clone(), t.body.clone()))
            .collect(),
        opt_in_template: config.opt_in_template.clone(),
        agents,
        teams,
    };
    Ok((status, page).into_response())
}

/// `GET /inbox/c/{id}`: one conversation, its composer and the profile.
pub(super) async fn conversation(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(csrf): Extension<CsrfToken>,
    Path(id): Path<u64>,
) -> Result<Response, PageError> {
    require(&p, Section::Inbox)?;
    page(&state, &p, &csrf, id, StatusCode::OK, String::new()).await
}

/// `GET /inbox/c/{id}/thread`: the thread fragment (a read, journalled).
pub(super) async fn thread(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    csrf: Option<Extension<CsrfToken>>,
    Path(id): Path<u64>,
) -> Result<Response, PageError> {
    require(&p, Section::Inbox)?;
    let state2 = state.clone();
    let token = csrf.map(|c| c.0.0);
    let r = tokio::task::spawn_blocking(move || read(&state2, &p, id, token)).await??;
    Ok(with_sig(
        ThreadFragment { bubbles: r.bubbles }.into_response(),
        r.sig,
    ))
}

/// The composer's fields.
#[derive(Debug, Deserialize)]
pub(super) struct SendForm {
    #[serde(default)]
    text: String,
    #[serde(default)]
    canned: String,
    #[serde(default)]
    template: String,
}

/// `POST /inbox/c/{id}/send`: a reply (free text, a canned response or an
/// approved template) through [`crate::outbound::send`]; refused, the page
/// again with the reason and the refusal's status (the attempt is
/// journalled by the send path); sent, back to the conversation.
pub(super) async fn send(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(csrf): Extension<CsrfToken>,
    Path(id): Path<u64>,
    Form(form): Form<SendForm>,
) -> Result<Response, PageError> {
    let c = replying(&state, &p, id).await?;
    let config = &state.inbox;
    let mut request = crate::outbound::SendRequest {
        to: c.conversation.customer.clone(),
        text: None,
        template: None,
        media: None,
        sender: Some(p.user.clone()),
        upload: None,
    };
    let template = form.template.trim();
    if !template.is_empty() {
        let t = config.template(template).ok_or_else(|| {
            PageError::BadRequest(format!(
                "template: {template:?} is not one of the approved templates"
            ))
        })?;
        request.template = Some(serde_json::json!({
            "name": t.name,
            "language": { "code": t.language },
        }));
    } else {
        let mut text = form.text.trim().to_string();
        if text.is_empty() && !form.canned.trim().is_empty() {
            text = form
                .canned
                .trim()
                .parse::<usize>()
                .ok()
                .and_then(|i| config.canned.get(i))
                .cloned()
                .ok_or_else(|| PageError::BadRequest("canned: no such canned response".into()))?;
        }
        if text.is_empty() {
            return Err(PageError::BadRequest(
                "text: write a reply, pick a canned response or choose a template".into(),
            ));
        }
        request.text =
            Some(config.with_disclaimer(&text, c.conversation.last_outbound, Timestamp::now()));
    }
    match crate::outbound::send(&state, request).await {
        Ok(_) => Ok(Redirect::to(&format!("/inbox/c/{id}")).into_response()),
        Err(problem) => {
            let why = format!("{}: {}", problem.title(), problem.detail());
            let status = match problem.status() {
                StatusCode::INTERNAL_SERVER_ERROR => return Err(PageError::Internal),
                s => s,
            };
            page(&state, &p, &csrf, id, status, why).await
        }
    }
}

/// A failed message found for a retry, and its file's attachment and
/// bytes if it carried one.
type Failed = (Message, Option<(Attachment, Vec<u8>)>);

/// The retry form.
#[derive(Debug, Deserialize)]
pub(super) struct RetryForm {
    wamid: String,
}

/// `POST /inbox/c/{id}/retry`: sends a failed message again, the same text
/// or template, through [`crate::outbound::send`] (so the rules apply as
/// now: a window closed since refuses free text). The new message is a new
/// entry; the failed one stays on record with its reason.
pub(super) async fn retry(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(csrf): Extension<CsrfToken>,
    Path(id): Path<u64>,
    Form(form): Form<RetryForm>,
) -> Result<Response, PageError> {
    let c = replying(&state, &p, id).await?;
    let wamid = form.wamid.trim().to_string();
    let journal = state.journal.clone();
    let console = state.console.clone();
    let seqs = c.conversation.messages.clone();
    let wamid2 = wamid.clone();
    let original = tokio::task::spawn_blocking(move || -> Result<Option<Failed>, PageError> {
        let failed = console.with(&journal, |proj| {
            proj.delivery
                .get(&("whatsapp".to_string(), wamid2.clone()))
                .copied()
                == Some(DeliveryState::Failed)
        })?;
        if !failed {
            return Ok(None);
        }
        for seq in seqs.iter().rev() {
            let entry = journal.entry(*seq)?;
            if let Opened::Event(Event::Message(m)) = journal.open_entry(&entry)?
                && m.source_id == wamid2
            {
                // A file sent from the inbox was stored under the
                // message's own key before it was uploaded: send it again.
                let file = match m.attachments.first() {
                    Some(a) => journal
                        .blob(entry.leaf.key_id, &a.sha256)?
                        .map(|bytes| (a.clone(), bytes)),
                    None => None,
                };
                return Ok(Some((m, file)));
            }
        }
        Ok(None)
    })
    .await??
    .ok_or_else(|| {
        PageError::BadRequest(format!(
            "wamid: {wamid:?} is not a failed message of this conversation"
        ))
    })?;
    let (original, file) = original;
    let template = original
        .extra
        .get("whatsapp")
        .and_then(|w| w.pointer("/request/template"))
        .cloned();
    let request = match file {
        Some((attachment, bytes)) if template.is_none() => {
            let filename = attachment.name.clone().unwrap_or_default();
            crate::outbound::SendRequest {
                to: c.conversation.customer.clone(),
                text: None,
                template: None,
                media: Some(media_object(
                    &attachment.media_type,
                    original.text.as_deref(),
                    &filename,
                )),
                sender: Some(p.user.clone()),
                upload: Some(crate::outbound::Upload {
                    filename,
                    media_type: attachment.media_type,
                    bytes: std::sync::Arc::new(bytes),
                }),
            }
        }
        _ => crate::outbound::SendRequest {
            to: c.conversation.customer.clone(),
            text: if inbox::template_of(&original).is_some() {
                None
            } else {
                original.text.clone()
            },
            template,
            media: None,
            sender: Some(p.user.clone()),
            upload: None,
        },
    };
    if request.text.is_none() && request.template.is_none() && request.upload.is_none() {
        return Err(PageError::BadRequest(
            "wamid: only text, template and file messages can be retried here".into(),
        ));
    }
    match crate::outbound::send(&state, request).await {
        Ok(_) => Ok(Redirect::to(&format!("/inbox/c/{id}")).into_response()),
        Err(problem) => {
            let why = format!("{}: {}", problem.title(), problem.detail());
            match problem.status() {
                StatusCode::INTERNAL_SERVER_ERROR => Err(PageError::Internal),
                status => page(&state, &p, &csrf, id, status, why).await,
            }
        }
    }
}

/// The Cloud API `media` object for a file of `media_type`: its kind, the
/// caption (not for audio) and, for documents, the file name.
fn media_object(media_type: &str, caption: Option<&str>, filename: &str) -> serde_json::Value {
    let kind = match media_type {
        "image/jpeg" | "image/png" => "image",
        "video/mp4" | "video/3gpp" => "video",
        t if t.starts_with("audio/") => "audio",
        _ => "document",
    };
    let mut object = serde_json::json!({ "type": kind });
    if let Some(caption) = caption
        && kind != "audio"
    {
        object["caption"] = caption.into();
    }
    if kind == "document" {
        object["filename"] = filename.into();
    }
    object
}

/// `POST /inbox/c/{id}/media` (`multipart/form-data`: `file`, `caption`):
/// a document, image, video or audio file, checked and sent through
/// [`crate::outbound::send`] (the caption is the text the pre-send check
/// reads), stored as a blob under the customer's key and uploaded to the
/// Cloud API only once the rules allow it.
pub(super) async fn media(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(csrf): Extension<CsrfToken>,
    Path(id): Path<u64>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    let c = replying(&state, &p, id).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let parts = crate::multipart::parse(content_type, &body)
        .map_err(|e| PageError::BadRequest(e.to_string()))?;
    let file = parts
        .iter()
        .find(|p| p.name == "file" && p.filename.as_deref().is_some_and(|f| !f.is_empty()))
        .filter(|p| !p.data.is_empty())
        .ok_or_else(|| PageError::BadRequest("file: choose a file to send".into()))?;
    let caption = parts
        .iter()
        .find(|p| p.name == "caption" && p.filename.is_none())
        .and_then(|p| String::from_utf8(p.data.clone()).ok())
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    let filename = file.filename.clone().unwrap_or_default();
    let media_type = file
        .content_type
        .clone()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "application/octet-stream".into());
    let object = media_object(&media_type, caption.as_deref(), &filename);
    let request = crate::outbound::SendRequest {
        to: c.conversation.customer.clone(),
        text: None,
        template: None,
        media: Some(object),
        sender: Some(p.user.clone()),
        upload: Some(crate::outbound::Upload {
            filename,
            media_type,
            bytes: std::sync::Arc::new(file.data.clone()),
        }),
    };
    match crate::outbound::send(&state, request).await {
        Ok(_) => Ok(Redirect::to(&format!("/inbox/c/{id}")).into_response()),
        Err(problem) => {
            let why = format!("{}: {}", problem.title(), problem.detail());
            match problem.status() {
                StatusCode::INTERNAL_SERVER_ERROR => Err(PageError::Internal),
                status => page(&state, &p, &csrf, id, status, why).await,
            }
        }
    }
}

/// A conversation `p` may see, without journalling a read (for actions).
struct Visible {
    conversation: Conversation,
    supervising: bool,
}

/// The conversation `id`, for a reader who may send in it: an inbox
/// reader with the send permission who sees it and does not merely
/// supervise it.
async fn replying(state: &AppState, p: &Principal, id: u64) -> Result<Visible, PageError> {
    require(p, Section::Inbox)?;
    if !p.may(Permission::Send) {
        return Err(PageError::Forbidden("sending messages"));
    }
    let c = visible(state, p, id).await?;
    if c.supervising {
        return Err(PageError::Forbidden(
            "replying in a conversation you supervise",
        ));
    }
    Ok(c)
}

/// The conversation `id` if `p` sees it in their inbox (a 404 otherwise),
/// and whether they only supervise it.
async fn visible(state: &AppState, p: &Principal, id: u64) -> Result<Visible, PageError> {
    let state2 = state.clone();
    let p2 = p.clone();
    tokio::task::spawn_blocking(move || {
        state2.console.with(&state2.journal, |proj| {
            let v = viewer(&state2, &p2, proj);
            let owner = owner_of(proj);
            proj.inbox
                .get(id)
                .filter(|c| v.sees(c, &owner))
                .map(|c| Visible {
                    supervising: !v.marks_read(c, &owner),
                    conversation: c.clone(),
                })
        })
    })
    .await??
    .ok_or_else(|| PageError::NotFound(format!("no conversation {id} in your inbox")))
}

/// The assignment form.
#[derive(Debug, Deserialize)]
pub(super) struct AssignForm {
    /// `user:<id>` or `team:<unit>`.
    to: String,
    #[serde(default)]
    reason: String,
}

/// `POST /inbox/c/{id}/assign`: assigns (or transfers) the conversation to
/// an agent or a team; journalled as `inbox.assigned`.
pub(super) async fn assign(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<u64>,
    Form(form): Form<AssignForm>,
) -> Result<Response, PageError> {
    require(&p, Section::Inbox)?;
    let c = visible(&state, &p, id).await?;
    if c.supervising && !p.has(Role::ComplianceOfficer) {
        return Err(PageError::Forbidden(
            "assigning conversations you do not work",
        ));
    }
    let reason = form.reason.trim().to_string();
    let mut details = serde_json::Map::new();
    details.insert("conversation".into(), c.conversation.key.clone().into());
    match form.to.trim().split_once(':') {
        Some(("user", u)) if !u.is_empty() => {
            let known = state.auth.with_users_read(|users| {
                users
                    .get(u)
                    .is_some_and(|u| !u.disabled && u.roles.contains(&Role::Agent))
            });
            if !known {
                return Err(PageError::BadRequest(format!("to: {u:?} is not an agent")));
            }
            details.insert("to_user".into(), u.into());
        }
        Some(("team", t)) if !t.is_empty() => {
            details.insert("to_team".into(), t.into());
        }
        _ => {
            return Err(PageError::BadRequest(
                "to: choose an agent (user:<id>) or a team (team:<unit>)".into(),
            ));
        }
    }
    details.insert("reason".into(), reason.into());
    let journal = state.journal.clone();
    let who = p.user.clone();
    let key = c.conversation.key.clone();
    tokio::task::spawn_blocking(move || {
        journal.append_system(&who, inbox::ASSIGNED, Some(&key), details)
    })
    .await??;
    Ok(Redirect::to("/inbox").into_response())
}

/// The note form.
#[derive(Debug, Deserialize)]
pub(super) struct NoteForm {
    text: String,
}

/// `POST /inbox/c/{id}/notes`: a note about the customer, journalled as
/// `inbox.note` under the customer's key.
pub(super) async fn note(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<u64>,
    Form(form): Form<NoteForm>,
) -> Result<Response, PageError> {
    require(&p, Section::Inbox)?;
    let c = visible(&state, &p, id).await?;
    let text = form.text.trim().to_string();
    if text.is_empty() {
        return Err(PageError::BadRequest("text: the note is empty".into()));
    }
    let party = c.conversation.customer.clone();
    let mut details = serde_json::Map::new();
    details.insert("party".into(), party.clone().into());
    details.insert("text".into(), text.into());
    let event = Event::System(custos_model::SystemEvent {
        actor: p.user.clone(),
        action: inbox::NOTE.into(),
        target: Some(party.clone()),
        at: Timestamp::now(),
        details,
    });
    state
        .journal
        .append_async(&event, Some(&party))
        .await
        .map_err(|e| PageError::internal(&e))?;
    Ok(Redirect::to(&format!("/inbox/c/{id}")).into_response())
}

/// `?sig=`: what the page already shows.
#[derive(Debug, Deserialize)]
pub(super) struct SigQuery {
    #[serde(default)]
    sig: Option<u64>,
}

/// A live stream: one `changed` event as soon as `current` differs from
/// `since`, or `end` after [`STREAM_LIFETIME`]; `current` is computed
/// (blocking) only when the journal grew.
fn live(
    state: AppState,
    since: Option<u64>,
    current: impl Fn(&AppState) -> Option<u64> + Send + Sync + Clone + 'static,
) -> Response {
    use futures_util::StreamExt;
    let deadline = tokio::time::Instant::now() + STREAM_LIFETIME;
    let start = (state, since, None::<u64>, false);
    let stream = futures_util::stream::unfold(start, move |(state, since, size, done)| {
        let current = current.clone();
        async move {
            if done {
                return None;
            }
            let mut size = size;
            loop {
                let now_size = state.journal.size();
                if size != Some(now_size) {
                    size = Some(now_size);
                    let s2 = state.clone();
                    let c2 = current.clone();
                    let sig = tokio::task::spawn_blocking(move || c2(&s2))
                        .await
                        .ok()
                        .flatten();
                    match sig {
                        // Gone from sight (transferred away): say so once.
                        None => {
                            let e = sse::Event::default().event("changed").data("gone");
                            return Some((Ok::<_, Infallible>(e), (state, since, size, true)));
                        }
                        Some(sig) if since != Some(sig) => {
                            let e = sse::Event::default().event("changed").data(sig.to_string());
                            return Some((Ok::<_, Infallible>(e), (state, since, size, true)));
                        }
                        Some(_) => {}
                    }
                }
                if tokio::time::Instant::now() >= deadline {
                    let e = sse::Event::default().event("end").data("reconnect");
                    return Some((Ok::<_, Infallible>(e), (state, since, size, true)));
                }
                tokio::time::sleep(POLL).await;
            }
        }
    });
    Sse::new(stream.boxed())
        .keep_alive(sse::KeepAlive::new().interval(Duration::from_secs(10)))
        .into_response()
}

/// `GET /inbox/events`: tells the list page when its list changed.
pub(super) async fn list_events(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<SigQuery>,
) -> Result<Response, PageError> {
    require(&p, Section::Inbox)?;
    let sse = live(state, q.sig, move |s: &AppState| {
        s.console.with(&s.journal, |proj| rows(s, &p, proj).1).ok()
    });
    Ok(no_buffering(sse))
}

/// `GET /inbox/c/{id}/events`: tells a conversation page when its thread
/// changed (a message, a status, an assignment); 404 outside one's inbox.
pub(super) async fn conversation_events(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<u64>,
    Query(q): Query<SigQuery>,
) -> Result<Response, PageError> {
    require(&p, Section::Inbox)?;
    visible(&state, &p, id).await?;
    let sse = live(state, q.sig, move |s: &AppState| {
        s.console
            .with(&s.journal, |proj| {
                let v = viewer(s, &p, proj);
                let owner = owner_of(proj);
                proj.inbox
                    .get(id)
                    .filter(|c| v.sees(c, &owner))
                    .map(thread_sig)
            })
            .ok()
            .flatten()
    });
    Ok(no_buffering(sse))
}

fn no_buffering(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

/// The inbox's script, compiled into the binary.
const SCRIPT: &str = include_str!("../../assets/inbox.js");

/// `GET /assets/inbox.js`.
pub(super) async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
        .into_response()
}
