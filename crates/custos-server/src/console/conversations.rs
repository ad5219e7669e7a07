//! `/conversations/{seq}`: a conversation read like the chat it was, around
//! one message: bubbles left (inbound) and right (outbound), names, times
//! in the reader's chosen time zone, attachments, delivery ticks, edits and
//! deletions marked. Opening one asks for a reason (`GET` shows the form)
//! and journals `search.opened` with the entries shown (the API's
//! `crate::search::opened` details) before anything is shown.

use super::{Layout, PageError, Section, require, when};
use crate::AppState;
use crate::search as audit;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::{Extension, Form};
use custos_auth::{CsrfToken, Principal};
use custos_journal::Opened;
use custos_model::{DeliveryState, Event};
use serde::Deserialize;

/// Messages shown before and after the one opened.
const AROUND: usize = 25;

#[derive(Template, WebTemplate)]
#[template(path = "console/conversation_ask.html")]
pub(super) struct AskPage {
    layout: Layout,
    seq: u64,
}

/// `GET /conversations/{seq}`: asks why before opening.
pub(super) async fn ask(
    Extension(p): Extension<Principal>,
    Extension(csrf): Extension<CsrfToken>,
    Path(seq): Path<u64>,
) -> Result<AskPage, PageError> {
    require(&p, Section::Search)?;
    Ok(AskPage {
        layout: Layout::new(&p, &csrf, Section::Search, "Open a conversation"),
        seq,
    })
}

/// The opening form's fields.
#[derive(Debug, Deserialize)]
pub(super) struct OpenForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    matter: String,
    #[serde(default)]
    tz: String,
}

/// One message as a bubble.
pub(super) struct Bubble {
    seq: u64,
    side: &'static str,
    name: String,
    address: String,
    at: String,
    text: String,
    edits: Vec<String>,
    deleted: bool,
    attachments: Vec<String>,
    ticks: &'static str,
    ticks_label: &'static str,
    this: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/conversation.html")]
pub(super) struct ConversationPage {
    layout: Layout,
    channel: String,
    conversation: String,
    zone: String,
    bubbles: Vec<Bubble>,
    seq: u64,
    reason: String,
    matter: String,
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

/// `POST /conversations/{seq}`: the conversation around entry `seq`.
pub(super) async fn open(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(csrf): Extension<CsrfToken>,
    Path(seq): Path<u64>,
    Form(form): Form<OpenForm>,
) -> Result<ConversationPage, PageError> {
    require(&p, Section::Search)?;
    let reason = form.reason.trim().to_string();
    let matter = Some(form.matter.trim().to_string()).filter(|m| !m.is_empty());
    if reason.is_empty() && matter.is_none() {
        return Err(PageError::BadRequest(
            "reason: opening a conversation reads archived content and is recorded; say why".into(),
        ));
    }
    let why = if reason.is_empty() {
        "matter".to_string()
    } else {
        reason.clone()
    };
    let zone_name = if form.tz.trim().is_empty() {
        "UTC"
    } else {
        form.tz.trim()
    };
    let tz = jiff::tz::TimeZone::get(zone_name).map_err(|_| {
        PageError::BadRequest(format!(
            "tz: {zone_name:?} is not a time zone (use an IANA name such as Europe/London)"
        ))
    })?;
    let Some(svc) = state.search.clone() else {
        return Err(PageError::Unavailable(
            "this server runs without a search index".into(),
        ));
    };
    let journal = state.journal.clone();
    let console = state.console.clone();
    let scope = p.scope.clone();
    let who = p.user.clone();
    let matter2 = matter.clone();
    let (hits, details, names, delivery) =
        tokio::task::spawn_blocking(move || -> Result<_, PageError> {
            let (barrier, names) = console.with(&journal, |proj| {
                let names: std::collections::HashMap<String, String> = proj
                    .custodians
                    .values()
                    .map(|c| (custos_model::party_id(&c.phone), c.name.clone()))
                    .collect();
                (proj.barrier(&scope), names)
            })?;
            let around = svc
                .index()
                .around(seq, AROUND, AROUND)
                .map_err(|e| PageError::internal(&e))?;
            let visible = |h: &custos_search::Hit| {
                barrier.parties(
                    std::iter::once(h.from.as_str()).chain(h.to.iter().map(String::as_str)),
                )
            };
            // The message asked for must itself be within scope.
            if !around.iter().any(|h| h.seq == seq && visible(h)) {
                return Err(PageError::NotFound(format!(
                    "no message {seq} within your scope"
                )));
            }
            let hits: Vec<custos_search::Hit> = around.into_iter().filter(|h| visible(h)).collect();
            let seqs: Vec<u64> = hits.iter().map(|h| h.seq).collect();
            let mut opened = audit::opened(&why, matter2.as_deref(), &seqs);
            opened.insert("via".into(), "console".into());
            journal.append_system(&who, audit::OPENED, None, opened)?;
            // What the index does not hold: source ids (for delivery states)
            // and attachments' types and sizes.
            let mut details = Vec::new();
            for h in &hits {
                let entry = journal.entry(h.seq)?;
                details.push(match journal.open_entry(&entry)? {
                    Opened::Event(Event::Message(m)) => Some(m),
                    _ => None,
                });
            }
            let delivery = console.with(&journal, |proj| {
                details
                    .iter()
                    .map(|m| {
                        m.as_ref().and_then(|m| {
                            proj.delivery
                                .get(&(m.channel.clone(), m.source_id.clone()))
                                .copied()
                        })
                    })
                    .collect::<Vec<_>>()
            })?;
            Ok((hits, details, names, delivery))
        })
        .await??;
    let profile = state.redaction.for_principal(&p);
    let mut hits = hits;
    for h in &mut hits {
        crate::redaction::redact_hit(h, &profile);
    }
    let name = |a: &str| names.get(a).cloned();
    let (channel, conversation) = hits
        .iter()
        .find(|h| h.seq == seq)
        .map(|h| (h.channel.clone(), h.conversation.clone()))
        .unwrap_or_default();
    let bubbles = hits
        .iter()
        .zip(details.iter().zip(delivery))
        .map(|(h, (m, d))| {
            let (t, tl) = if h.direction == "outbound" {
                ticks(d)
            } else {
                ("", "")
            };
            Bubble {
                seq: h.seq,
                side: match h.direction.as_str() {
                    "outbound" => "out",
                    "inbound" => "in",
                    _ => "internal",
                },
                name: name(&h.from).unwrap_or_else(|| h.from.clone()),
                address: h.from.clone(),
                at: when(h.sent_at, &tz),
                text: h.text.clone(),
                edits: h.edits.clone(),
                deleted: h.deleted,
                attachments: match m {
                    Some(m) => m
                        .attachments
                        .iter()
                        .map(|a| {
                            format!(
                                "{} ({}, {} KB)",
                                a.name.as_deref().map_or_else(
                                    || "unnamed".into(),
                                    |n| custos_policy::redact::redact_str(n, &profile)
                                ),
                                a.media_type,
                                a.size.div_ceil(1024)
                            )
                        })
                        .collect(),
                    None => h.attachments.clone(),
                },
                ticks: t,
                ticks_label: tl,
                this: h.seq == seq,
            }
        })
        .collect();
    Ok(ConversationPage {
        layout: Layout::new(&p, &csrf, Section::Search, "Conversation"),
        channel,
        conversation,
        zone: tz.iana_name().unwrap_or(zone_name).to_string(),
        bubbles,
        seq,
        reason,
        matter: matter.unwrap_or_default(),
    })
}
