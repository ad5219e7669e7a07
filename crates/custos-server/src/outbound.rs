//! Sending WhatsApp messages through the Cloud API, within the rules.
//!
//! Before anything leaves: the recipient must have opted in and not opted
//! out since (409 otherwise); outside the 24-hour customer-service window
//! (24 hours after the customer's last inbound message) only templates may
//! be sent (409); and the [`PreSendCheck`] seam, where the policy engine
//! will plug in, may block the text (422). Then
//! `POST {graph}/{phone-number-id}/messages` with the bearer token; the
//! outbound message is journalled with the wamid Meta answered, so the
//! statuses that follow link to it. A refused or failed send is journalled
//! too.

use crate::{AppState, Problem};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use custos_journal::{Journal, Opened};
use custos_model::{ConsentState, Digest, Direction, Event, Message, SystemEvent, Timestamp};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// How long after a customer's last message free-form replies are allowed.
pub const SERVICE_WINDOW_MICROS: i64 = 24 * 3600 * 1_000_000;

/// A message to send.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// The recipient's WhatsApp number (wa_id), digits with or without `+`.
    pub to: String,
    /// Text body.
    #[serde(default)]
    pub text: Option<String>,
    /// A template: `{"name": ..., "language": {"code": ...}, "components": [...]}`.
    #[serde(default)]
    pub template: Option<serde_json::Value>,
    /// Media: `{"type": "image"|"document"|..., "link" or "id", "caption"?, "filename"?}`.
    #[serde(default)]
    pub media: Option<serde_json::Value>,
    /// Who is sending (the agent or custodian), for the record.
    #[serde(default)]
    pub sender: Option<String>,
    /// A file to upload to the Cloud API and send as `media` (the
    /// console's composer); never part of an API body.
    #[serde(skip)]
    pub upload: Option<Upload>,
}

/// A file the console's composer sends: stored as a blob under the
/// customer's key, uploaded to `POST /{phone-number-id}/media` once the
/// rules allow the message, sent by the id Meta answers, and named in the
/// outbound message's attachments.
#[derive(Clone)]
pub struct Upload {
    /// The file's name.
    pub filename: String,
    /// Its IANA media type.
    pub media_type: String,
    /// Its bytes.
    pub bytes: std::sync::Arc<Vec<u8>>,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("filename", &self.filename)
            .field("media_type", &self.media_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// The pre-send seam: the policy engine will check outbound text here.
pub trait PreSendCheck: Send + Sync + std::fmt::Debug {
    /// `Err(reason)` blocks the message.
    fn check(&self, to: &str, text: &str) -> Result<(), String>;
}

/// Lets everything through (until the policy engine lands).
#[derive(Debug, Default)]
pub struct AllowAll;

impl PreSendCheck for AllowAll {
    fn check(&self, _to: &str, _text: &str) -> Result<(), String> {
        Ok(())
    }
}

/// What sending needs to know about each party, rebuilt from the journal
/// at start, told at once of what this node appends (webhooks, consent),
/// and kept current with what other nodes append by the follower
/// ([`crate::follow`]). An event may be told twice (here and by the
/// follower) and late: each party's consent is the state of its latest
/// change by journal position, so an older change read later never
/// undoes a newer one.
#[derive(Debug, Default)]
pub struct Parties {
    /// Per party: the consent state and the journal position it is from.
    consent: HashMap<String, (ConsentState, u64)>,
    last_inbound: HashMap<String, Timestamp>,
    /// The next journal entry [`Parties::from_journal`] did not read.
    followed: u64,
}

/// Shared, updatable [`Parties`].
pub type SharedParties = Arc<RwLock<Parties>>;

/// WhatsApp numbers as digits only, as the webhook gives `wa_id`.
pub fn party_key(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

impl Parties {
    /// Takes in one event, journalled at `seq`.
    pub fn observe(&mut self, seq: u64, event: &Event) {
        match event {
            Event::Consent(c) if c.channel == "whatsapp" => {
                let now = self
                    .consent
                    .entry(party_key(&c.party))
                    .or_insert((c.state, seq));
                if seq >= now.1 {
                    *now = (c.state, seq);
                }
            }
            Event::Message(m) if m.channel == "whatsapp" && m.direction == Direction::Inbound => {
                let last = self
                    .last_inbound
                    .entry(party_key(&m.sender))
                    .or_insert(m.sent_at);
                *last = (*last).max(m.sent_at);
            }
            _ => {}
        }
    }

    /// Rebuilds from every entry of the journal.
    pub fn from_journal(journal: &Journal) -> custos_journal::Result<Parties> {
        let mut parties = Parties::default();
        for entry in journal.entries(0) {
            let entry = entry?;
            parties.followed = entry.leaf.seq + 1;
            if let Opened::Event(event) = journal.open_entry(&entry)? {
                parties.observe(entry.leaf.seq, &event);
            }
        }
        Ok(parties)
    }

    /// The next journal entry the rebuild did not read (where a follower
    /// starts).
    pub fn followed(&self) -> u64 {
        self.followed
    }

    /// The consent on record for `party` (a WhatsApp number).
    pub fn consent(&self, party: &str) -> Option<ConsentState> {
        self.consent.get(&party_key(party)).map(|(state, _)| *state)
    }
}

/// `POST /api/v1/whatsapp/messages`
#[utoipa::path(
    post, path = "/api/v1/whatsapp/messages", tag = "sending",
    request_body = SendRequest,
    responses(
        (status = 201, description = "Sent and journalled", body = crate::openapi::schemas::Sent),
        (status = 400, description = "Invalid message", body = crate::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Outside consent or the 24-hour window, or blocked by policy", body = crate::Problem, content_type = "application/problem+json"),
        (status = 502, description = "The Cloud API refused or failed", body = crate::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn send_handler(
    State(state): State<AppState>,
    axum::Extension(principal): axum::Extension<custos_auth::Principal>,
    Json(mut request): Json<SendRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>), Problem> {
    // The record names the signed-in sender, whatever the body claims.
    request.sender = Some(principal.user);
    let wamid = send(&state, request).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "id": wamid })),
    ))
}

/// Checks the rules, sends, journals; returns the wamid.
pub async fn send(state: &AppState, request: SendRequest) -> Result<String, Problem> {
    let to = party_key(&request.to);
    let kinds = [
        request.text.is_some(),
        request.template.is_some(),
        request.media.is_some(),
    ];
    if to.is_empty() || kinds.iter().filter(|k| **k).count() != 1 {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid message",
            "give `to` and exactly one of `text`, `template` or `media`",
        ));
    }
    let config = &state.whatsapp;
    if !config.access_token.is_set() || config.phone_number_id.is_empty() {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "sending not configured",
            "an access token and a phone number id are required to send",
        ));
    }
    if let Err(reason) = check_rules(state, &to, &request) {
        refuse(state, &to, &reason, request.sender.as_deref()).await?;
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "message refused",
            reason,
        ));
    }
    let text = request.text.clone().or_else(|| {
        request
            .media
            .as_ref()
            .and_then(|m| m.get("caption"))
            .and_then(|c| c.as_str())
            .map(str::to_string)
    });
    if let Some(text) = &text
        && let Err(reason) = state.pre_send.check(&to, text)
    {
        refuse(state, &to, &reason, request.sender.as_deref()).await?;
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "message blocked by policy",
            reason,
        ));
    }

    let mut body = serde_json::json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
    });
    if let Some(text) = &request.text {
        body["type"] = "text".into();
        body["text"] = serde_json::json!({ "body": text });
    } else if let Some(template) = &request.template {
        body["type"] = "template".into();
        body["template"] = template.clone();
    } else if let Some(media) = &request.media {
        let kind = media
            .get("type")
            .and_then(|t| t.as_str())
            .unwrap_or("document")
            .to_string();
        let mut object = media.clone();
        if let Some(o) = object.as_object_mut() {
            o.remove("type");
        }
        body["type"] = kind.clone().into();
        body[kind] = object;
    }
    let mut attachments = Vec::new();
    if let Some(upload) = &request.upload {
        let (id, attachment) = upload_media(state, &to, upload, request.sender.as_deref()).await?;
        let kind = body["type"].as_str().unwrap_or("document").to_string();
        body[kind]["id"] = id.into();
        attachments.push(attachment);
    }
    let mut extra = serde_json::Map::new();
    if let Some(sender) = &request.sender {
        extra.insert("sent_by".into(), sender.clone().into());
    }
    let from = state.whatsapp.phone_number_id.clone();
    deliver(
        state,
        &from,
        &to,
        body,
        text,
        attachments,
        extra,
        "whatsapp-send",
    )
    .await
}

/// Stores `upload` as a blob under `to`'s key (durable before it is
/// named), then uploads it to the Cloud API; Meta's media id and the
/// attachment the outbound message names. A refused upload is journalled
/// as `whatsapp.send.failed`.
async fn upload_media(
    state: &AppState,
    to: &str,
    upload: &Upload,
    sender: Option<&str>,
) -> Result<(String, custos_model::Attachment), Problem> {
    let journal = state.journal.clone();
    let (subject, bytes) = (to.to_string(), upload.bytes.clone());
    let blob = tokio::task::spawn_blocking(move || {
        journal.put_blob(Some(&subject), Timestamp::now(), &bytes)
    })
    .await
    .map_err(|e| Problem::internal(&e))?
    .map_err(|e| Problem::internal(&e))?;
    let attachment = custos_model::Attachment {
        name: Some(upload.filename.clone()),
        media_type: upload.media_type.clone(),
        sha256: blob.digest,
        size: blob.size,
    };
    let part = |name: &str, data: &[u8]| crate::multipart::Part {
        name: name.into(),
        filename: None,
        content_type: None,
        data: data.to_vec(),
    };
    let (content_type, body) = crate::multipart::encode(&[
        part("messaging_product", b"whatsapp"),
        part("type", upload.media_type.as_bytes()),
        crate::multipart::Part {
            name: "file".into(),
            filename: Some(upload.filename.clone()),
            content_type: Some(upload.media_type.clone()),
            data: upload.bytes.to_vec(),
        },
    ]);
    let config = &state.whatsapp;
    let url = format!(
        "{}/{}/media",
        config.graph_url.trim_end_matches('/'),
        config.phone_number_id
    );
    let answer = state
        .http
        .post(url)
        .bearer_auth(config.access_token.expose())
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .map_err(|e| e.without_url().to_string());
    let id = match answer {
        Ok(r) => {
            let status = r.status();
            let json: serde_json::Value = r.json().await.unwrap_or_default();
            match json.get("id").and_then(|v| v.as_str()) {
                Some(id) if status.is_success() => Ok(id.to_string()),
                _ => Err(format!("Cloud API media upload answered {status}: {json}")),
            }
        }
        Err(e) => Err(e),
    };
    match id {
        Ok(id) => Ok((id, attachment)),
        Err(problem) => {
            let mut extra = serde_json::Map::new();
            if let Some(sender) = sender {
                extra.insert("sent_by".into(), sender.into());
            }
            extra.insert("attachment".into(), serde_json::json!(attachment));
            record_by(
                state,
                "whatsapp-send",
                "whatsapp.send.failed",
                to,
                &problem,
                &extra,
            )
            .await?;
            Err(Problem::new(
                StatusCode::BAD_GATEWAY,
                "send failed",
                problem,
            ))
        }
    }
}

/// Posts `body` to the Cloud API from business number `from` (its phone
/// number id) and journals the outcome: the outbound message (with `text`
/// `attachments` and `extra`) keyed by Meta's wamid, or `whatsapp.send.failed` recorded
/// by `actor`; returns the wamid.
#[allow(clippy::too_many_arguments)]
async fn deliver(
    state: &AppState,
    from: &str,
    to: &str,
    body: serde_json::Value,
    text: Option<String>,
    attachments: Vec<custos_model::Attachment>,
    mut extra: serde_json::Map<String, serde_json::Value>,
    actor: &str,
) -> Result<String, Problem> {
    let config = &state.whatsapp;
    let url = format!(
        "{}/{}/messages",
        config.graph_url.trim_end_matches('/'),
        from
    );
    let answer = state
        .http
        .post(url)
        .bearer_auth(config.access_token.expose())
        .json(&body)
        .send()
        .await
        .map_err(|e| e.without_url().to_string());
    let answer = match answer {
        Ok(r) => {
            let status = r.status();
            let json: serde_json::Value = r.json().await.unwrap_or_default();
            if status.is_success() {
                Ok(json)
            } else {
                Err(format!("Cloud API answered {status}: {json}"))
            }
        }
        Err(e) => Err(e),
    };
    let wamid = match answer
        .as_ref()
        .map(|a| a.pointer("/messages/0/id").and_then(|v| v.as_str()))
    {
        Ok(Some(wamid)) => wamid.to_string(),
        Ok(None) | Err(_) => {
            let problem = match &answer {
                Err(problem) => problem.clone(),
                Ok(_) => "the Cloud API answer has no message id".to_string(),
            };
            record_by(state, actor, "whatsapp.send.failed", to, &problem, &extra).await?;
            return Err(Problem::new(
                StatusCode::BAD_GATEWAY,
                "send failed",
                problem,
            ));
        }
    };
    let answer = answer.unwrap_or_default();
    let now = Timestamp::now();
    extra.insert(
        "whatsapp".into(),
        serde_json::json!({ "request": body, "answer": answer }),
    );
    let message = Message {
        channel: "whatsapp".into(),
        source_id: wamid.clone(),
        conversation: format!("{from}:{to}"),
        sender: from.to_string(),
        recipients: vec![to.to_string()],
        direction: Direction::Outbound,
        sent_at: now,
        captured_at: now,
        text,
        attachments,
        reply_to: None,
        raw_digest: Digest::of(body.to_string().as_bytes()),
        extra,
    };
    state
        .journal
        .append_async(&Event::Message(message), Some(to))
        .await
        .map_err(|e| Problem::internal(&e))?;
    Ok(wamid)
}

/// Who opt-out confirmations are sent by, for the record.
pub const CONFIRMATION_SENDER: &str = "custos.opt-out-confirmation";

/// Confirms a keyword opt-out to the party who sent inbound message `m`:
/// a text message through the Cloud API, allowed although the party has
/// just opted out (it is the answer to their request) and inside the
/// 24-hour window their message opened. Sent, it is journalled like any
/// outbound message (marked `opt_out_confirmation`); not sent (sending
/// not configured, the window closed, the Cloud API failing), the failure
/// is journalled as `whatsapp.send.failed`. It leaves from the number the
/// party wrote to. Returns the wamid.
pub async fn confirm_opt_out(
    state: &AppState,
    m: &Message,
    confirmation: &crate::confirm::Confirmation,
) -> Result<String, Problem> {
    let to = party_key(&m.sender);
    let mut extra = serde_json::Map::new();
    extra.insert("sent_by".into(), CONFIRMATION_SENDER.into());
    extra.insert(
        "opt_out_confirmation".into(),
        serde_json::json!({
            "in_reply_to": m.source_id,
            "keyword": confirmation.keyword,
            "language": confirmation.language,
        }),
    );
    let config = &state.whatsapp;
    let unsendable = if !config.access_token.is_set() || config.phone_number_id.is_empty() {
        Some("opt-out confirmation not sent: no access token or phone number id configured")
    } else if Timestamp::now().as_micros() - m.sent_at.as_micros() >= SERVICE_WINDOW_MICROS {
        Some("opt-out confirmation not sent: the opt-out is older than the 24-hour window")
    } else {
        None
    };
    if let Some(reason) = unsendable {
        record_by(
            state,
            CONFIRMATION_SENDER,
            "whatsapp.send.failed",
            &to,
            reason,
            &extra,
        )
        .await?;
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "confirmation not sent",
            reason,
        ));
    }
    let body = serde_json::json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": { "body": confirmation.text },
    });
    // From the number the party wrote to (a WABA may hold several).
    let from = m
        .extra
        .get("whatsapp")
        .and_then(|w| w.get("phone_number_id"))
        .and_then(|v| v.as_str())
        .unwrap_or(&config.phone_number_id)
        .to_string();
    deliver(
        state,
        &from,
        &to,
        body,
        Some(confirmation.text.clone()),
        Vec::new(),
        extra,
        CONFIRMATION_SENDER,
    )
    .await
}

/// Consent and the 24-hour window.
/// With no consent on record, the one thing allowed is the approved opt-in
/// template (`[inbox] opt_in_template`) inside the window the customer's
/// own message opened: it asks for the consent.
fn check_rules(state: &AppState, to: &str, request: &SendRequest) -> Result<(), String> {
    let parties = state.parties.read().unwrap_or_else(|e| e.into_inner());
    let open = parties
        .last_inbound
        .get(to)
        .is_some_and(|t| Timestamp::now().as_micros() - t.as_micros() < SERVICE_WINDOW_MICROS);
    match parties.consent.get(to).map(|(state, _)| state) {
        None => {
            let opt_in = &state.inbox.opt_in_template;
            let asks = !opt_in.is_empty()
                && request
                    .template
                    .as_ref()
                    .and_then(|t| t.get("name"))
                    .and_then(|n| n.as_str())
                    == Some(opt_in.as_str());
            if !(asks && open) {
                return Err(format!("{to} has no WhatsApp consent on record"));
            }
        }
        Some(ConsentState::OptOut) => {
            return Err(format!("{to} has opted out of WhatsApp messages"));
        }
        Some(ConsentState::OptIn) => {}
    }
    if request.template.is_none() && !open {
        return Err(format!(
            "the 24-hour customer-service window with {to} is closed: only template messages may be sent"
        ));
    }
    Ok(())
}

/// Journals a refusal, naming who tried to send (`sent_by`) when known.
async fn refuse(
    state: &AppState,
    to: &str,
    reason: &str,
    sender: Option<&str>,
) -> Result<(), Problem> {
    let mut extra = serde_json::Map::new();
    if let Some(sender) = sender {
        extra.insert("sent_by".into(), sender.into());
    }
    record_by(
        state,
        "whatsapp-send",
        "whatsapp.send.refused",
        to,
        reason,
        &extra,
    )
    .await
}

async fn record_by(
    state: &AppState,
    actor: &str,
    action: &str,
    to: &str,
    reason: &str,
    extra: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), Problem> {
    let mut details = extra.clone();
    details.insert("reason".into(), reason.into());
    let event = Event::System(SystemEvent {
        actor: actor.into(),
        action: action.into(),
        target: Some(to.to_string()),
        at: Timestamp::now(),
        details,
    });
    state
        .journal
        .append_async(&event, Some(to))
        .await
        .map(|_| ())
        .map_err(|e| Problem::internal(&e))
}
