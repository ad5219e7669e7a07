//! Slack incoming webhooks: `{"text": .., "blocks": [..]}`.
//!
//! `text` is the fallback shown in notifications; the blocks carry a header,
//! the alert's fields and, when the console URL is known, a button to it.
//! Slack answers 200 `ok`, or 4xx with a reason such as `invalid_payload`.

use crate::http::HttpRequest;
use crate::notice::AlertNotice;
use serde_json::{Value, json};

/// Slack's limit on a header block's text.
const HEADER_CHARS: usize = 150;

/// The request for one notice.
pub(crate) fn request(url: &str, notice: &AlertNotice) -> HttpRequest {
    HttpRequest {
        url: url.to_string(),
        headers: Vec::new(),
        body: serde_json::to_vec(&payload(notice)).expect("JSON values serialise"),
    }
}

fn payload(notice: &AlertNotice) -> Value {
    let headline = notice.headline();
    let hits = if notice.hit_labels.is_empty() {
        "-".to_string()
    } else {
        notice.hit_labels.join(", ")
    };
    let field = |name: &str, value: &str| json!({"type": "mrkdwn", "text": format!("*{name}*\n{}", escape(value))});
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&headline, HEADER_CHARS)}}),
        json!({"type": "section", "fields": [
            field("Policy", &format!("{} ({} v{})", notice.policy_title, notice.policy, notice.version)),
            field("Category", &notice.category),
            field("Channel", &notice.channel),
            field("Conversation", &notice.conversation),
            field("Raised", &notice.raised_at.to_string()),
            field("Matched", &hits),
        ]}),
    ];
    if let Some(url) = &notice.console_url {
        blocks.push(json!({"type": "actions", "elements": [{
            "type": "button",
            "text": {"type": "plain_text", "text": "Open in custos"},
            "url": url,
        }]}));
    }
    json!({
        "text": escape(&format!(
            "{headline} ({} on {} conversation {}, alert {})",
            notice.category, notice.channel, notice.conversation, notice.alert_id
        )),
        "blocks": blocks,
    })
}

/// Slack reads `&`, `<` and `>` in text as markup: escaped, a title cannot
/// make a link or mention `@channel`.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `text` cut to `chars` characters, an ellipsis the last when cut.
fn truncate(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notice::tests::notice;

    #[test]
    fn has_text_header_fields_and_button() {
        let body = payload(&notice());
        let text = body["text"].as_str().unwrap();
        assert!(
            text.starts_with("HIGH alert: Front-running &lt;talk&gt; &amp; tips"),
            "{text}"
        );
        assert!(text.contains("alert alert-0001"), "{text}");
        assert_eq!(body["blocks"][0]["type"], "header");
        let fields = body["blocks"][1]["fields"].as_array().unwrap();
        assert_eq!(fields.len(), 6);
        assert_eq!(fields[5]["text"], "*Matched*\nfront-running, off-channel");
        assert_eq!(
            body["blocks"][2]["elements"][0]["url"],
            "https://custos.firm.example/alerts/alert-0001"
        );
    }

    #[test]
    fn no_button_without_a_console_url() {
        let mut notice = notice();
        notice.console_url = None;
        assert_eq!(payload(&notice)["blocks"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn header_is_cut_to_slacks_limit() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
        assert_eq!(truncate("ééééé", 3), "éé…");
        assert_eq!(
            truncate(&"x".repeat(400), HEADER_CHARS).chars().count(),
            HEADER_CHARS
        );
    }
}
