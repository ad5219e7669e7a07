//! The Twilio webhook (`/webhooks/twilio`): `X-Twilio-Signature` checked,
//! inbound SMS/WhatsApp messages with media and status callbacks
//! journalled, acknowledged only once durable.
//!
//! Like the WhatsApp webhook: the raw body is kept as a [`RawPayload`] with
//! the signature header and its result, in the same durable request as the
//! events parsed from it (a message, a delivery status, a consent change)
//! and a `twilio.delivery` system event; 200 only after that request is
//! durable; 401 with nothing kept when the signature is missing or wrong;
//! 400 problem+json naming the parameter on bad input; supervision and
//! search woken after the commit.
//!
//! The signature is base64(HMAC-SHA1(auth token, URL + every POST
//! parameter's name and value sorted by name)). The URL is the configured
//! `public_url` (what Twilio calls; a proxy changes what this server sees)
//! with the query string of the request as received, if it has one. JSON
//! bodies are signed over the URL alone, whose `bodySHA256` parameter must
//! be the SHA-256 of the body; they are kept raw, unparsed.
//!
//! Consent: an inbound body that is only an opt-out word (custos's defaults,
//! which include Twilio's STOP, UNSUBSCRIBE, CANCEL, END and QUIT, plus
//! STOPALL and the `[consent] opt_out_keywords`), or `OptOutType=STOP` from
//! Twilio's Advanced Opt-Out, records an opt-out; START, YES, UNSTOP or
//! `OptOutType=START` an opt-in; recorded by `twilio`, once per message.
//!
//! Media: each `MediaUrl{N}` is downloaded after the message is durable,
//! with HTTP basic auth (account sid, auth token), retried with back-off;
//! the bytes are sealed in the blob store under the party's key and
//! `twilio.media.fetched` (or `.retry`, `.failed`) journalled. At start,
//! every listed media item without an outcome is queued again.

use crate::media::Retry;
use crate::{AppState, Problem, Secret};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use custos_capture::twilio::{self as parser, Media};
use custos_journal::{Journal, NewEntry, Opened};
use custos_model::{
    ConsentChange, ConsentState, Digest, Event, EventKind, Message, RawPayload, SystemEvent,
    Timestamp, party_id,
};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

pub use crate::config::TwilioConfig;

/// The header Twilio signs requests with.
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";
/// Who consent changes from this webhook are recorded by.
pub const RECORDER: &str = "twilio";
/// Twilio's opt-out words that custos's defaults do not already hold.
pub const TWILIO_OPT_OUT_KEYWORDS: &[&str] = &["STOPALL"];
/// Twilio's standard opt-in words.
pub const OPT_IN_KEYWORDS: &[&str] = &["START", "YES", "UNSTOP"];
/// The largest media item downloaded.
pub const MAX_MEDIA_BYTES: u64 = 100 << 20;

const FORM: &str = "application/x-www-form-urlencoded";

/// The Twilio webhook's settings and state.
#[derive(Debug, Default)]
pub struct Twilio {
    config: TwilioConfig,
    /// Twilio's extra words and the firm's own, beside custos's defaults.
    opt_out_keywords: Vec<String>,
    media: MediaQueue,
    /// The evidence of every consent change this webhook recorded, so that
    /// a retried delivery records none again.
    recorded: Mutex<HashSet<String>>,
}

impl Twilio {
    /// A webhook that refuses every delivery (503): nothing configured.
    pub fn disabled() -> Twilio {
        Twilio::default()
    }

    /// The webhook over `journal` (blocking: it reads the journal for the
    /// consent changes already recorded and the media without an outcome;
    /// call it inside the runtime, e.g. from `spawn_blocking`, since the
    /// media fetcher is spawned on it). `opt_out_keywords` are the
    /// `[consent]` words; media is fetched only when an account sid and an
    /// auth token are configured.
    pub fn open(
        journal: &Journal,
        config: TwilioConfig,
        opt_out_keywords: Vec<String>,
        retry: Retry,
    ) -> custos_journal::Result<Twilio> {
        let mut recorded = HashSet::new();
        let mut pending = Vec::new();
        let mut done = HashSet::new();
        for entry in journal.entries(0) {
            let entry = entry?;
            if !matches!(
                entry.leaf.kind,
                EventKind::Consent | EventKind::Message | EventKind::System
            ) {
                continue;
            }
            let Ok(Opened::Event(event)) = journal.open_entry(&entry) else {
                continue;
            };
            match event {
                Event::Consent(c) if c.recorded_by == RECORDER => {
                    recorded.insert(c.evidence);
                }
                Event::Message(m) => pending.extend(listed_media(&m)),
                Event::System(s)
                    if s.action == "twilio.media.fetched" || s.action == "twilio.media.failed" =>
                {
                    let sid = s.details.get("message_sid").and_then(|v| v.as_str());
                    let index = s.details.get("index").and_then(|v| v.as_u64());
                    if let (Some(sid), Some(index)) = (sid, index) {
                        done.insert((sid.to_string(), index as usize));
                    }
                }
                _ => {}
            }
        }
        let media = if config.auth_token.is_set() && !config.account_sid.is_empty() {
            MediaQueue::start(
                journal.clone(),
                config.account_sid.clone(),
                config.auth_token.clone(),
                retry,
            )
        } else {
            MediaQueue::default()
        };
        for job in pending {
            if !done.contains(&(job.media.message_sid.clone(), job.media.index)) {
                media.push(job);
            }
        }
        let mut words: Vec<String> = TWILIO_OPT_OUT_KEYWORDS
            .iter()
            .map(|w| w.to_string())
            .collect();
        words.extend(opt_out_keywords);
        Ok(Twilio {
            config,
            opt_out_keywords: words,
            media,
            recorded: Mutex::new(recorded),
        })
    }
}

/// The media an archived Twilio message lists in `extra["twilio_media"]`.
fn listed_media(m: &Message) -> Vec<MediaJob> {
    let Some(items) = m.extra.get("twilio_media").and_then(|v| v.as_array()) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            Some(MediaJob {
                media: Media {
                    message_sid: m.source_id.clone(),
                    channel: m.channel.clone(),
                    index: item.get("index")?.as_u64()? as usize,
                    url: item.get("url")?.as_str()?.to_string(),
                    content_type: item.get("content_type")?.as_str()?.to_string(),
                },
                subject: m.external_party().map(str::to_string),
                sent_at: m.sent_at,
            })
        })
        .collect()
}

/// `X-Twilio-Signature` for `url` and `params`: base64 of HMAC-SHA1 under
/// the auth token over [`parser::signing_string`].
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        auth_token.as_bytes(),
    );
    let tag = ring::hmac::sign(&key, parser::signing_string(url, params).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

/// Whether `header` is the signature of `url` and `params`, checked in
/// constant time.
pub fn signature_valid(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header: &str,
) -> bool {
    let Ok(tag) = base64::engine::general_purpose::STANDARD.decode(header.trim()) else {
        return false;
    };
    let key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        auth_token.as_bytes(),
    );
    ring::hmac::verify(&key, parser::signing_string(url, params).as_bytes(), &tag).is_ok()
}

/// The URL Twilio signed: the configured public URL's scheme, host and
/// path with the request's query string (the configured one when the
/// request has none).
pub fn signed_url(public_url: &str, request_query: Option<&str>) -> String {
    match request_query {
        Some(query) => {
            let base = public_url.split_once('?').map_or(public_url, |(b, _)| b);
            format!("{base}?{query}")
        }
        None => public_url.to_string(),
    }
}

/// `POST /webhooks/twilio`: check the signature, parse, journal the raw
/// body, the delivery and every event in one request, and answer 200 only
/// once all of it is durable.
pub async fn receive(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
            .map(str::to_string)
    };
    let signature = text(header::HeaderName::from_static(SIGNATURE_HEADER));
    let content_type = text(header::CONTENT_TYPE);
    let query = uri.query().map(str::to_string);
    tokio::task::spawn_blocking(move || {
        accept(
            &state,
            signature.as_deref(),
            content_type.as_deref(),
            query.as_deref(),
            &body,
        )
    })
    .await
    .map_err(|e| Problem::internal(&e))?
}

fn unauthorised(detail: &'static str) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, "signature invalid", detail)
}

fn accept(
    state: &AppState,
    signature: Option<&str>,
    content_type: Option<&str>,
    query: Option<&str>,
    body: &[u8],
) -> Result<Response, Problem> {
    let twilio = &state.twilio;
    let config = &twilio.config;
    if !config.auth_token.is_set() || config.public_url.is_empty() {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "webhook not configured",
            "no Twilio auth token or public URL is configured, so no request can be authenticated",
        ));
    }
    let Some(signature) = signature else {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "signature missing",
            "the X-Twilio-Signature header is required",
        ));
    };
    let media_type = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_else(|| FORM.to_string());
    let url = signed_url(&config.public_url, query);
    let json = media_type == "application/json";
    let params = if json {
        Vec::new()
    } else {
        parser::form_params(body).map_err(|e| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed webhook payload",
                e.to_string(),
            )
        })?
    };
    if !signature_valid(config.auth_token.expose(), &url, &params, signature) {
        tracing::warn!(
            bytes = body.len(),
            "twilio request with a wrong signature refused"
        );
        return Err(unauthorised(
            "X-Twilio-Signature does not match the configured public URL and the parameters under the configured auth token",
        ));
    }
    if json {
        let stated = parser::form_params(query.unwrap_or("").as_bytes())
            .unwrap_or_default()
            .into_iter()
            .find(|(name, _)| name == "bodySHA256")
            .map(|(_, value)| value);
        let Some(stated) = stated else {
            return Err(unauthorised(
                "a JSON body needs bodySHA256 in the signed URL",
            ));
        };
        if !stated.eq_ignore_ascii_case(&Digest::of(body).to_string()) {
            return Err(unauthorised(
                "bodySHA256 in the URL is not the SHA-256 of the body",
            ));
        }
    }
    let captured_at = Timestamp::now();
    let parsed = if json {
        parser::Parsed {
            kind: "json".into(),
            events: Vec::new(),
            media: Vec::new(),
            opt_out_type: None,
        }
    } else {
        parser::parse(&params, body, captured_at).map_err(|e| {
            let problem = Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed webhook payload",
                e.to_string(),
            );
            match e.field() {
                Some(field) => problem.with("field", field.into()),
                None => problem,
            }
        })?
    };

    // Messages through a number no enrolled custodian holds are not
    // attributed (with `[capture] require_enrolment`): `capture.refused`
    // stands in for them, and they make no consent change; the raw body
    // keeps their content.
    let refused_sids: HashSet<String> = parsed
        .events
        .iter()
        .filter_map(|e| match &e.event {
            Event::Message(m)
                if crate::enrolment::business_side(m)
                    .is_some_and(|b| state.enrolment.refuses(b)) =>
            {
                Some(m.source_id.clone())
            }
            _ => None,
        })
        .collect();
    let mut events: Vec<NewEntry> = state.enrolment.screen(
        "twilio",
        "twilio-webhook",
        &Digest::of(body).to_string(),
        parsed
            .events
            .iter()
            .map(|e| {
                let business = match &e.event {
                    Event::Message(m) => crate::enrolment::business_side(m).map(str::to_string),
                    _ => None,
                };
                (
                    NewEntry {
                        event: e.event.clone(),
                        subject: e.subject.clone(),
                    },
                    business,
                )
            })
            .collect(),
    );
    let message_sid = parsed.events.first().map(|e| match &e.event {
        Event::Message(m) => m.source_id.clone(),
        Event::Status(s) => s.target.clone(),
        _ => String::new(),
    });
    // Consent, once per message: a retried delivery records none again.
    let mut claimed = Vec::new();
    let mut reply = None;
    for e in &parsed.events {
        if let Event::Message(m) = &e.event
            && !refused_sids.contains(&m.source_id)
            && let Some(change) =
                consent_of(m, parsed.opt_out_type.as_deref(), &twilio.opt_out_keywords)
        {
            let mut recorded = twilio.recorded.lock().unwrap_or_else(|e| e.into_inner());
            if recorded.insert(change.evidence.clone()) {
                claimed.push(change.evidence.clone());
                if change.state == ConsentState::OptOut {
                    reply = confirmation_reply(state, m, parsed.opt_out_type.as_deref())
                        .map(|r| (r, e.subject.clone()));
                }
                // Before the message, so the supervisor, reading in journal
                // order, knows the opt-out is recorded and records none.
                events.insert(
                    0,
                    NewEntry {
                        event: Event::Consent(change),
                        subject: e.subject.clone(),
                    },
                );
            }
        }
    }

    // The raw body first, sealed under the party's key when there is one.
    let subject = events.first().and_then(|e| e.subject.clone());
    let digest = Digest::of(body);
    let mut raw_details = serde_json::Map::new();
    raw_details.insert("signature".into(), signature.into());
    raw_details.insert("signature_valid".into(), true.into());
    raw_details.insert("url".into(), url.into());
    let mut details = serde_json::Map::new();
    details.insert("bytes".into(), body.len().into());
    details.insert("signature_valid".into(), true.into());
    details.insert("kind".into(), parsed.kind.clone().into());
    details.insert("events".into(), events.len().into());
    if let Some(sid) = &message_sid {
        details.insert("message_sid".into(), sid.clone().into());
    }
    let mut entries = vec![
        NewEntry {
            event: Event::Raw(RawPayload {
                source: "twilio.webhook".into(),
                media_type,
                received_at: captured_at,
                bytes: body.to_vec(),
                details: raw_details,
            }),
            subject: subject.clone(),
        },
        NewEntry {
            event: Event::System(SystemEvent {
                actor: "twilio-webhook".into(),
                action: "twilio.delivery".into(),
                target: Some(digest.to_string()),
                at: captured_at,
                details,
            }),
            subject: None,
        },
    ];
    entries.extend(events);
    // The confirmation leaves in the answer: journalled with the rest, as
    // an outbound message, before the answer is given.
    let twiml = reply.map(|((message, twiml), subject)| {
        entries.push(NewEntry {
            event: Event::Message(message),
            subject,
        });
        twiml
    });
    let appended = match state.journal.append_all(&entries) {
        Ok(appended) => appended,
        Err(e) => {
            let mut recorded = twilio.recorded.lock().unwrap_or_else(|e| e.into_inner());
            for evidence in &claimed {
                recorded.remove(evidence);
            }
            return Err(Problem::internal(&e));
        }
    };
    state
        .metrics
        .appended("twilio", appended.iter().filter(|a| !a.duplicate).count());
    {
        let mut parties = state.parties.write().unwrap_or_else(|e| e.into_inner());
        for (entry, at) in entries.iter().zip(&appended) {
            parties.observe(at.seq, &entry.event);
        }
    }
    if let Some(supervision) = &state.supervision {
        supervision.wake();
    }
    if let Some(search) = &state.search {
        search.wake();
    }
    if let Some(store) = &state.store {
        store.wake();
    }
    let new_message = entries
        .iter()
        .zip(&appended)
        .any(|(e, a)| matches!(e.event, Event::Message(_)) && !a.duplicate);
    if new_message {
        let sent_at = entries
            .iter()
            .find_map(|e| match &e.event {
                Event::Message(m) => Some(m.sent_at),
                _ => None,
            })
            .unwrap_or(captured_at);
        for media in parsed.media {
            twilio.media.push(MediaJob {
                media,
                subject: subject.clone(),
                sent_at,
            });
        }
    }
    tracing::info!(
        events = appended.len() - 2,
        duplicates = appended.iter().filter(|a| a.duplicate).count(),
        "twilio delivery durable"
    );
    Ok(match twiml {
        Some(twiml) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
            twiml,
        )
            .into_response(),
        None => StatusCode::OK.into_response(),
    })
}

/// Twilio's own opt-out words: on SMS, Twilio answers them itself and
/// blocks any other reply, so custos adds none.
const TWILIO_HANDLED: &[&str] = &["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];

/// The TwiML answer confirming a keyword opt-out by inbound message `m`,
/// and the outbound message that records it; `None` when confirmations
/// are off or Twilio confirms itself (Advanced Opt-Out, or its standard
/// words on SMS).
fn confirmation_reply(
    state: &AppState,
    m: &Message,
    opt_out_type: Option<&str>,
) -> Option<(Message, String)> {
    if opt_out_type.is_some() {
        return None;
    }
    let confirmation = state.confirmations.for_message(m)?;
    if m.channel == "sms" && TWILIO_HANDLED.contains(&confirmation.keyword.as_str()) {
        return None;
    }
    let twiml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>{}</Message></Response>",
        xml_escape(&confirmation.text)
    );
    let mut extra = serde_json::Map::new();
    extra.insert(
        "sent_by".into(),
        crate::outbound::CONFIRMATION_SENDER.into(),
    );
    extra.insert(
        "opt_out_confirmation".into(),
        serde_json::json!({
            "in_reply_to": m.source_id,
            "keyword": confirmation.keyword,
            "language": confirmation.language,
            "delivery": "twiml",
        }),
    );
    let now = Timestamp::now();
    let message = Message {
        channel: m.channel.clone(),
        source_id: format!("twiml:{}", m.source_id),
        conversation: m.conversation.clone(),
        sender: crate::enrolment::business_side(m)
            .unwrap_or_default()
            .to_string(),
        recipients: vec![m.sender.clone()],
        direction: custos_model::Direction::Outbound,
        sent_at: now,
        captured_at: now,
        text: Some(confirmation.text),
        attachments: Vec::new(),
        reply_to: Some(m.source_id.clone()),
        raw_digest: Digest::of(twiml.as_bytes()),
        extra,
    };
    Some((message, twiml))
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The consent change an inbound message makes, if any.
fn consent_of(
    m: &Message,
    opt_out_type: Option<&str>,
    opt_out_keywords: &[String],
) -> Option<ConsentChange> {
    let text = m.text.as_deref().unwrap_or("");
    let said = || {
        let folded = custos_policy::fold::fold(text);
        let word: String = folded.trim().chars().take(64).collect();
        word.to_uppercase()
    };
    let (state, word) = match opt_out_type {
        Some("STOP") => (ConsentState::OptOut, said()),
        Some("START") => (ConsentState::OptIn, said()),
        _ => {
            if let Some(word) = custos_review::consent::keyword(text, opt_out_keywords) {
                (ConsentState::OptOut, word)
            } else {
                let folded = custos_policy::fold::fold(text);
                let word = OPT_IN_KEYWORDS
                    .iter()
                    .find(|k| custos_policy::fold::fold(k) == folded.trim())?;
                (ConsentState::OptIn, word.to_string())
            }
        }
    };
    Some(ConsentChange {
        channel: m.channel.clone(),
        party: party_id(&m.sender),
        state,
        evidence: custos_review::consent::evidence(&word, m),
        at: m.sent_at,
        recorded_by: RECORDER.into(),
    })
}

/// One media download to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaJob {
    /// The media item.
    pub media: Media,
    /// Whose key seals it.
    pub subject: Option<String>,
    /// When its message was sent: the blob is sealed under that period's
    /// key, so retention disposes of it with the message.
    pub sent_at: Timestamp,
}

/// Where Twilio media downloads are queued; cheap to clone. The default
/// queue fetches nothing.
#[derive(Clone, Debug, Default)]
pub struct MediaQueue {
    tx: Option<mpsc::UnboundedSender<MediaJob>>,
    queued: Arc<Mutex<HashSet<(String, usize)>>>,
}

impl MediaQueue {
    /// Starts the fetcher on the current runtime.
    fn start(journal: Journal, account_sid: String, auth_token: Secret, retry: Retry) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<MediaJob>();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .expect("an HTTP client with default settings");
        let fetcher = Arc::new(Fetcher {
            journal,
            client,
            account_sid,
            auth_token,
            retry,
        });
        tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                let fetcher = fetcher.clone();
                tokio::spawn(async move { fetcher.run(job).await });
            }
        });
        MediaQueue {
            tx: Some(tx),
            queued: Default::default(),
        }
    }

    /// Queues `job` unless the same media item already is.
    pub fn push(&self, job: MediaJob) {
        let Some(tx) = &self.tx else { return };
        let key = (job.media.message_sid.clone(), job.media.index);
        if self
            .queued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key)
        {
            let _ = tx.send(job);
        }
    }
}

struct Fetcher {
    journal: Journal,
    client: reqwest::Client,
    account_sid: String,
    auth_token: Secret,
    retry: Retry,
}

impl Fetcher {
    async fn run(&self, job: MediaJob) {
        let mut delay = self.retry.first_delay;
        for attempt in 1..=self.retry.attempts {
            match self.fetch(&job).await {
                Ok((bytes, media_type)) => {
                    let (journal, done) = (self.journal.clone(), job.clone());
                    let stored = tokio::task::spawn_blocking(move || {
                        let blob =
                            journal.put_blob(done.subject.as_deref(), done.sent_at, &bytes)?;
                        record(&journal, "twilio.media.fetched", &done, |d| {
                            d.insert("media_type".into(), media_type.into());
                            d.insert("sha256".into(), blob.digest.to_string().into());
                            d.insert("size".into(), blob.size.into());
                            d.insert("blob_key".into(), blob.key_id.to_string().into());
                            d.insert("attempt".into(), attempt.into());
                        })
                    })
                    .await;
                    match stored {
                        Ok(Ok(())) => return,
                        Ok(Err(e)) => {
                            tracing::error!(error = %e, sid = %job.media.message_sid, "storing twilio media failed")
                        }
                        Err(e) => tracing::error!(error = %e, "twilio media task failed"),
                    }
                }
                Err(problem) => {
                    tracing::warn!(sid = %job.media.message_sid, attempt, problem = %problem, "twilio media fetch failed");
                    let last = attempt == self.retry.attempts;
                    let action = if last {
                        "twilio.media.failed"
                    } else {
                        "twilio.media.retry"
                    };
                    let (journal, failed) = (self.journal.clone(), job.clone());
                    let _ = tokio::task::spawn_blocking(move || {
                        record(&journal, action, &failed, |d| {
                            d.insert("attempt".into(), attempt.into());
                            d.insert("problem".into(), problem.into());
                        })
                    })
                    .await;
                    if last {
                        return;
                    }
                }
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
    }

    /// One attempt: the bytes and their media type.
    async fn fetch(&self, job: &MediaJob) -> Result<(Vec<u8>, String), String> {
        let response = self
            .client
            .get(&job.media.url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("media download: {}", e.without_url()))?;
        if response
            .content_length()
            .is_some_and(|n| n > MAX_MEDIA_BYTES)
        {
            return Err(format!("media larger than {MAX_MEDIA_BYTES} bytes"));
        }
        let media_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| job.media.content_type.clone(), str::to_string);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("media download: {}", e.without_url()))?;
        if bytes.len() as u64 > MAX_MEDIA_BYTES {
            return Err(format!("media larger than {MAX_MEDIA_BYTES} bytes"));
        }
        Ok((bytes.to_vec(), media_type))
    }
}

fn record(
    journal: &Journal,
    action: &str,
    job: &MediaJob,
    fill: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> custos_journal::Result<()> {
    let mut details = serde_json::Map::new();
    details.insert("message_sid".into(), job.media.message_sid.clone().into());
    details.insert("channel".into(), job.media.channel.clone().into());
    details.insert("index".into(), job.media.index.into());
    details.insert("url".into(), job.media.url.clone().into());
    fill(&mut details);
    let event = Event::System(SystemEvent {
        actor: "twilio-media".into(),
        action: action.into(),
        target: Some(job.media.message_sid.clone()),
        at: Timestamp::now(),
        details,
    });
    journal.append(&event, None).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    /// The worked example of Twilio's webhook security guide.
    #[test]
    fn twilios_documented_example_signature() {
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            signature("12345", url, &params),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
        assert!(signature_valid(
            "12345",
            url,
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        assert!(!signature_valid(
            "12346",
            url,
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        assert!(!signature_valid(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        assert!(!signature_valid(
            "12345",
            url,
            &params[1..],
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        assert!(!signature_valid("12345", url, &params, "not base64!"));
    }

    #[test]
    fn the_signed_url_takes_the_request_query() {
        assert_eq!(
            signed_url("https://a.example/hook", Some("bodySHA256=ab")),
            "https://a.example/hook?bodySHA256=ab"
        );
        assert_eq!(
            signed_url("https://a.example/hook?x=1", Some("x=1&bodySHA256=ab")),
            "https://a.example/hook?x=1&bodySHA256=ab"
        );
        assert_eq!(
            signed_url("https://a.example/hook?x=1", None),
            "https://a.example/hook?x=1"
        );
    }

    fn inbound(text: &str) -> Message {
        Message {
            channel: "sms".into(),
            source_id: "SM1".into(),
            conversation: "sms:+15550001:+15550002".into(),
            sender: "+15550002".into(),
            recipients: vec!["+15550001".into()],
            direction: custos_model::Direction::Inbound,
            sent_at: Timestamp::from_micros(1),
            captured_at: Timestamp::from_micros(1),
            text: Some(text.into()),
            attachments: Vec::new(),
            reply_to: None,
            raw_digest: Digest::of(b""),
            extra: Default::default(),
        }
    }

    #[test]
    fn keywords_make_consent_changes() {
        let words = vec!["STOPALL".to_string(), "Não quero mais".to_string()];
        let state = |text: &str, kind: Option<&str>| {
            consent_of(&inbound(text), kind, &words).map(|c| (c.state, c.evidence))
        };
        assert_eq!(
            state("Stop", None),
            Some((
                ConsentState::OptOut,
                "keyword \"STOP\" in inbound sms message SM1".into()
            ))
        );
        assert_eq!(state("stopall", None).unwrap().0, ConsentState::OptOut);
        assert_eq!(
            state("nao quero mais", None).unwrap().0,
            ConsentState::OptOut
        );
        assert_eq!(state(" unstop ", None).unwrap().0, ConsentState::OptIn);
        assert_eq!(state("YES", None).unwrap().0, ConsentState::OptIn);
        assert_eq!(state("please stop", None), None);
        assert_eq!(
            state("arret", Some("STOP")).unwrap().0,
            ConsentState::OptOut
        );
        assert_eq!(state("go", Some("START")).unwrap().0, ConsentState::OptIn);
        assert_eq!(state("help", Some("HELP")), None);
        let c = consent_of(&inbound("END"), None, &words).unwrap();
        assert_eq!(
            (c.party.as_str(), c.recorded_by.as_str()),
            ("+15550002", "twilio")
        );
    }
}
