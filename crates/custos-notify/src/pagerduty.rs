//! PagerDuty Events API v2: one `trigger` event per alert.
//!
//! The alert id is the `dedup_key`, so a retried delivery (or a second
//! notice for the same alert) updates one incident instead of opening
//! another. PagerDuty answers 202 when it accepts an event, 400 when the
//! event is malformed (final) and 429 when rate-limited (retried).

use crate::http::HttpRequest;
use crate::notice::AlertNotice;
use custos_model::Severity;
use serde_json::{Value, json};

/// PagerDuty's limit on `payload.summary`.
const SUMMARY_CHARS: usize = 1024;

/// The request for one notice.
pub(crate) fn request(url: &str, routing_key: &str, notice: &AlertNotice) -> HttpRequest {
    HttpRequest {
        url: url.to_string(),
        headers: Vec::new(),
        body: serde_json::to_vec(&event(routing_key, notice)).expect("JSON values serialise"),
    }
}

/// PagerDuty's severities: `critical`, `error`, `warning`, `info`.
pub(crate) fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "info",
    }
}

fn event(routing_key: &str, notice: &AlertNotice) -> Value {
    let summary: String = format!(
        "{} ({} on {} conversation {})",
        notice.headline(),
        notice.category,
        notice.channel,
        notice.conversation
    )
    .chars()
    .take(SUMMARY_CHARS)
    .collect();
    let mut event = json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": notice.alert_id,
        "payload": {
            "summary": summary,
            "source": "custos",
            "severity": severity(notice.severity),
            "timestamp": notice.raised_at.to_string(),
            "component": notice.channel,
            "group": notice.policy,
            "class": notice.category,
            "custom_details": notice,
        },
    });
    if let Some(url) = &notice.console_url {
        event["links"] = json!([{"href": url, "text": "Open in custos"}]);
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notice::tests::notice;

    #[test]
    fn trigger_has_the_documented_fields() {
        let event = event("rk", &notice());
        assert_eq!(event["routing_key"], "rk");
        assert_eq!(event["event_action"], "trigger");
        assert_eq!(event["dedup_key"], "alert-0001");
        let payload = &event["payload"];
        assert!(
            payload["summary"]
                .as_str()
                .unwrap()
                .starts_with("HIGH alert: Front-running")
        );
        assert_eq!(payload["source"], "custos");
        assert_eq!(payload["severity"], "error");
        assert_eq!(payload["timestamp"], "2026-03-12T14:05:33Z");
        assert_eq!(payload["custom_details"]["hit_labels"][1], "off-channel");
        assert_eq!(
            event["links"][0]["href"],
            "https://custos.firm.example/alerts/alert-0001"
        );
    }

    #[test]
    fn severities_map_one_to_one() {
        let mapped: Vec<_> = Severity::ALL.into_iter().map(severity).collect();
        assert_eq!(mapped, ["info", "warning", "error", "critical"]);
    }

    #[test]
    fn summary_is_cut_to_the_limit() {
        let mut notice = notice();
        notice.policy_title = "t".repeat(5000);
        let event = event("rk", &notice);
        assert_eq!(
            event["payload"]["summary"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            SUMMARY_CHARS
        );
    }
}
