//! The generic webhook: `{"event": "alert.raised", "alert": {..}}`, signed.
//!
//! `X-Custos-Signature-256: sha256=<hex>` is the HMAC-SHA256 of the exact
//! body bytes under the target's secret, as GitHub and Meta sign theirs;
//! `X-Custos-Event: alert.raised` names the event. A receiver recomputes the
//! HMAC over the raw body before parsing it, and compares in constant time.

use crate::http::HttpRequest;
use crate::notice::AlertNotice;
use serde::Serialize;

/// The event every webhook delivery carries today.
pub const EVENT: &str = "alert.raised";

#[derive(Serialize)]
struct Envelope<'a> {
    event: &'static str,
    alert: &'a AlertNotice,
}

/// The request for one notice.
pub(crate) fn request(url: &str, secret: &[u8], notice: &AlertNotice) -> HttpRequest {
    let body = serde_json::to_vec(&Envelope {
        event: EVENT,
        alert: notice,
    })
    .expect("an alert notice serialises");
    HttpRequest {
        url: url.to_string(),
        headers: vec![
            ("X-Custos-Event", EVENT.to_string()),
            ("X-Custos-Signature-256", signature(secret, &body)),
        ],
        body,
    }
}

/// `sha256=<hex HMAC-SHA256 of body under secret>`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    format!(
        "sha256={}",
        hex::encode(ring::hmac::sign(&key, body).as_ref())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notice::tests::notice;

    #[test]
    fn signature_matches_rfc_4231_test_case_2() {
        let mac = signature(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            mac,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn body_is_the_event_and_the_notice_and_is_signed() {
        let request = request("https://siem.example/h", b"k", &notice());
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["event"], "alert.raised");
        assert_eq!(body["alert"]["alert_id"], "alert-0001");
        assert_eq!(body["alert"]["severity"], "high");
        assert_eq!(body["alert"]["raised_at"], "2026-03-12T14:05:33Z");
        assert_eq!(
            request.headers,
            [
                ("X-Custos-Event", "alert.raised".to_string()),
                ("X-Custos-Signature-256", signature(b"k", &request.body)),
            ]
        );
    }
}
