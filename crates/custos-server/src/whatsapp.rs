//! The WhatsApp Business Cloud API webhook: Meta's verification handshake
//! and signed deliveries.

use crate::{AppState, Problem};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use custos_journal::NewEntry;
use custos_model::{Digest, Event, RawPayload, SystemEvent, Timestamp};
use std::collections::HashMap;

/// The header Meta signs deliveries with.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// `GET /webhooks/whatsapp`: echo `hub.challenge` when `hub.mode` is
/// `subscribe` and `hub.verify_token` is ours; 403 otherwise.
pub async fn verify(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let configured = &state.whatsapp.verify_token;
    let mode_ok = query.get("hub.mode").map(String::as_str) == Some("subscribe");
    let token_ok = configured.is_set()
        && query
            .get("hub.verify_token")
            .is_some_and(|t| equal_in_constant_time(t.as_bytes(), configured.expose().as_bytes()));
    match query.get("hub.challenge") {
        Some(challenge) if mode_ok && token_ok => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            challenge.clone(),
        )
            .into_response(),
        _ => Problem::new(
            StatusCode::FORBIDDEN,
            "verification refused",
            "hub.mode must be subscribe and hub.verify_token must match the configured token",
        )
        .into_response(),
    }
}

/// Compares two secrets without revealing where they differ: both are
/// hashed first, so the comparison runs over 32 bytes whatever their length.
pub(crate) fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (Digest::of(a), Digest::of(b));
    a.as_bytes()
        .iter()
        .zip(b.as_bytes())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// `POST /webhooks/whatsapp`: check the signature over the raw bytes,
/// parse, journal the raw body, the delivery and every event in it in one
/// request, and answer 200 only once all of it is durable.
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, Problem> {
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // Hashing and parsing up to a few megabytes, then fsyncs: not on a
    // runtime thread.
    tokio::task::spawn_blocking(move || accept(&state, signature.as_deref(), &body))
        .await
        .map_err(|e| Problem::internal(&e))?
}

fn accept(state: &AppState, signature: Option<&str>, body: &[u8]) -> Result<StatusCode, Problem> {
    let secret = &state.whatsapp.app_secret;
    if !secret.is_set() {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "webhook not configured",
            "no WhatsApp app secret is configured, so no delivery can be authenticated",
        ));
    }
    let Some(signature) = signature else {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "signature missing",
            "the X-Hub-Signature-256 header is required",
        ));
    };
    if !signature_valid(secret.expose().as_bytes(), signature, body) {
        tracing::warn!(
            bytes = body.len(),
            "whatsapp delivery with a wrong signature refused"
        );
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "signature invalid",
            "X-Hub-Signature-256 does not match the body under the configured app secret",
        ));
    }
    let captured_at = Timestamp::now();
    let parsed = custos_capture::whatsapp_webhook::parse(body, captured_at).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed webhook payload",
            e.to_string(),
        )
    })?;

    // The raw body is journalled first, in the same durable request as
    // everything parsed from it, sealed under the customer's key when the
    // delivery concerns one customer, so erasing them erases it too.
    let mut subjects = parsed.events.iter().map(|e| e.subject.clone());
    let first = subjects.next().flatten();
    let subject = if subjects.all(|s| s == first) {
        first
    } else {
        None
    };
    let journal = &state.journal;
    let digest = Digest::of(body);
    let mut raw_details = serde_json::Map::new();
    raw_details.insert("signature".into(), signature.into());
    raw_details.insert("signature_valid".into(), true.into());
    let mut details = serde_json::Map::new();
    details.insert("bytes".into(), body.len().into());
    details.insert("signature_valid".into(), true.into());
    details.insert("events".into(), parsed.events.len().into());
    let mut entries = vec![
        NewEntry {
            event: Event::Raw(RawPayload {
                source: "whatsapp.webhook".into(),
                media_type: "application/json".into(),
                received_at: captured_at,
                bytes: body.to_vec(),
                details: raw_details,
            }),
            subject,
        },
        NewEntry {
            event: Event::System(SystemEvent {
                actor: "whatsapp-webhook".into(),
                action: "whatsapp.delivery".into(),
                target: Some(digest.to_string()),
                at: captured_at,
                details,
            }),
            subject: None,
        },
    ];
    // Messages through a number no enrolled custodian holds are not
    // attributed (with `[capture] require_enrolment`): `capture.refused`
    // stands in for them; the raw body above keeps their content.
    let screened = parsed
        .events
        .into_iter()
        .map(|e| {
            let business = matches!(
                e.event,
                Event::Message(_) | Event::Edit(_) | Event::Deletion(_) | Event::Reaction(_)
            )
            .then_some(e.business);
            (
                NewEntry {
                    event: e.event,
                    subject: e.subject,
                },
                business,
            )
        })
        .collect();
    entries.extend(state.enrolment.screen(
        "whatsapp",
        "whatsapp-webhook",
        &digest.to_string(),
        screened,
    ));
    let appended = journal
        .append_all(&entries)
        .map_err(|e| Problem::internal(&e))?;
    state
        .metrics
        .appended("whatsapp", appended.iter().filter(|a| !a.duplicate).count());
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
    // Media ids expire: queue the downloads as soon as the messages are
    // durable (a restart queues again whatever has no outcome).
    for entry in &entries {
        if let Event::Message(m) = &entry.event {
            for job in crate::media::jobs_of(m, entry.subject.as_deref()) {
                state.media.push(job);
            }
        }
    }
    // A keyword opt-out, new (not a retry), is confirmed to the party;
    // the outcome, sent or not, is journalled by `confirm_opt_out`.
    for (entry, appended) in entries.iter().zip(&appended) {
        if let Event::Message(m) = &entry.event
            && !appended.duplicate
            && m.channel == "whatsapp"
            // A live opt-out, not history synced from the phone.
            && Timestamp::now().as_micros() - m.sent_at.as_micros()
                < crate::outbound::SERVICE_WINDOW_MICROS
            && let Some(confirmation) = state.confirmations.for_message(m)
        {
            let (state, m) = (state.clone(), m.clone());
            tokio::runtime::Handle::current().spawn(async move {
                if let Err(problem) =
                    crate::outbound::confirm_opt_out(&state, &m, &confirmation).await
                {
                    tracing::warn!(detail = problem.detail(), "opt-out confirmation not sent");
                }
            });
        }
    }
    // A button reply to the inbox's opt-in template is consent evidence.
    let replies: Vec<&custos_model::Message> = entries
        .iter()
        .zip(&appended)
        .filter(|(_, a)| !a.duplicate)
        .filter_map(|(e, _)| match &e.event {
            Event::Message(m) if m.direction == custos_model::Direction::Inbound => Some(m),
            _ => None,
        })
        .collect();
    crate::inbox::record_opt_in_replies(state, &replies);
    tracing::info!(
        events = appended.len() - 2,
        duplicates = appended.iter().filter(|a| a.duplicate).count(),
        "whatsapp delivery durable"
    );
    Ok(StatusCode::OK)
}

/// Checks `sha256=<hex>` against HMAC-SHA256(secret, body), in constant time.
fn signature_valid(secret: &[u8], header: &str, body: &[u8]) -> bool {
    let Some(hex_tag) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(tag) = hex::decode(hex_tag) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    ring::hmac::verify(&key, body, &tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
        format!(
            "sha256={}",
            hex::encode(ring::hmac::sign(&key, body).as_ref())
        )
    }

    #[test]
    fn signatures_are_checked_over_the_exact_bytes() {
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let good = sign(b"app-secret", body);
        assert!(signature_valid(b"app-secret", &good, body));
        assert!(!signature_valid(b"other-secret", &good, body));
        let mut changed = body.to_vec();
        changed[5] ^= 1;
        assert!(!signature_valid(b"app-secret", &good, &changed));
        assert!(!signature_valid(
            b"app-secret",
            &good.replace("sha256=", "sha1="),
            body
        ));
        assert!(!signature_valid(b"app-secret", "sha256=zz", body));
        assert!(!signature_valid(b"app-secret", "", body));
    }

    #[test]
    fn constant_time_equality_is_equality() {
        assert!(equal_in_constant_time(b"token", b"token"));
        assert!(!equal_in_constant_time(b"token", b"tokem"));
        assert!(!equal_in_constant_time(b"token", b"token2"));
    }
}
