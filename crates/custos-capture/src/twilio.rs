//! Twilio webhooks (SMS and WhatsApp through Twilio): inbound message and
//! status-callback form parameters into canonical events.
//!
//! Twilio POSTs `application/x-www-form-urlencoded` parameters:
//!
//! ```text
//! MessageSid=SM2003cbd5e6a3701999aa3e5f20ff2787&AccountSid=AC...&From=%2B14159354345
//! &To=%2B14158141819&Body=Orly&NumMedia=0&FromCity=SAN+FRANCISCO&...
//! ```
//!
//! [`form_params`] decodes a body into its name/value pairs (capped in size
//! and count); [`signing_string`] is what `X-Twilio-Signature` signs (the
//! URL, then every parameter's name and value sorted by name, with no
//! separators); [`parse`] turns the pairs into events. Nothing here does
//! I/O: checking the signature, storing the raw body, downloading media and
//! deriving consent are the server's work.
//!
//! Mapping:
//! - An inbound message (no `MessageStatus`, or `received`): an inbound
//!   [`Message`] with `source_id` = `MessageSid` (`SmsMessageSid`/`SmsSid`
//!   when it is missing), `sender` = `From`, `recipients` = [`To`] (the
//!   firm's number), `channel` = `whatsapp` for `whatsapp:+E164` addresses
//!   and `sms` otherwise (the prefix is stripped), `conversation` =
//!   `<channel>:<firm number>:<party number>`, `text` = `Body`,
//!   `reply_to` = `OriginalRepliedMessageSid`. Twilio gives no send time, so
//!   `sent_at` is the capture time. Every other parameter (geography,
//!   `ProfileName`, `WaId`, `Forwarded`, buttons, location, ...) is kept
//!   in `extra["twilio"]` as it came. `MediaUrl{N}`/`MediaContentType{N}`
//!   are listed in `extra["twilio_media"]`, each marked as a pending
//!   download: the server fetches the bytes after the message is durable
//!   and journals the outcome (`twilio.media.fetched` / `.failed`).
//! - A status callback (`MessageStatus` other than `received`): a
//!   [`DeliveryStatus`] for `MessageSid` to `To` (`sent`, `delivered`,
//!   `read`; `failed` and `undelivered` are `Failed` with the status and
//!   `ErrorCode`/`ErrorMessage` as the error). Intermediate states
//!   (`queued`, `accepted`, `sending`, `scheduled`, `canceled`, ...) have no
//!   canonical state: they produce no event (the raw body is still kept).
//!
//! Addresses are E.164 (`+` and 1 to 15 digits) or short codes (3 to 8
//! digits); anything else is an error naming the parameter.

use custos_model::{DeliveryState, DeliveryStatus, Digest, Direction, Event, Message, Timestamp};
use serde_json::{Map, Value};

/// The largest body accepted (Twilio's are a few kilobytes).
pub const MAX_BODY: usize = 1 << 20;
/// The most parameters accepted in one body.
pub const MAX_PARAMS: usize = 1_000;
/// The most media one message may list (Twilio's limit is 10).
pub const MAX_MEDIA: usize = 10;

/// A body that is not a usable Twilio webhook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwilioError {
    /// The body is larger than [`MAX_BODY`].
    #[error("body: {0} bytes, over the limit of {MAX_BODY}")]
    TooLarge(usize),
    /// The body has more than [`MAX_PARAMS`] parameters.
    #[error("body: more than {MAX_PARAMS} parameters")]
    TooManyParams,
    /// A parameter is missing or has an unusable value.
    #[error("{field}: {problem}")]
    Field {
        /// The parameter's name, e.g. `From` or `MediaUrl2`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl TwilioError {
    /// The parameter at fault, if the error is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            TwilioError::Field { field, .. } => Some(field),
            _ => None,
        }
    }
}

fn invalid(field: &str, problem: impl Into<String>) -> TwilioError {
    TwilioError::Field {
        field: field.to_string(),
        problem: problem.into(),
    }
}

/// Decodes an `application/x-www-form-urlencoded` body into its pairs, in
/// order (`+` is a space, `%XX` a byte; invalid UTF-8 is replaced).
pub fn form_params(body: &[u8]) -> Result<Vec<(String, String)>, TwilioError> {
    if body.len() > MAX_BODY {
        return Err(TwilioError::TooLarge(body.len()));
    }
    let mut params = Vec::new();
    for (name, value) in form_urlencoded::parse(body) {
        if params.len() == MAX_PARAMS {
            return Err(TwilioError::TooManyParams);
        }
        params.push((name.into_owned(), value.into_owned()));
    }
    Ok(params)
}

/// The string `X-Twilio-Signature` is the HMAC-SHA1 of: `url` followed by
/// each parameter's name and value, sorted by name (then value), with no
/// separators.
pub fn signing_string(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut out = String::with_capacity(
        url.len() + sorted.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>(),
    );
    out.push_str(url);
    for (name, value) in sorted {
        out.push_str(name);
        out.push_str(value);
    }
    out
}

/// One event with the party whose key seals it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedEvent {
    /// The canonical event.
    pub event: Event,
    /// The external party (E.164 or short code).
    pub subject: Option<String>,
}

/// A media item an inbound message lists, to download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// The message's `MessageSid`.
    pub message_sid: String,
    /// The message's channel (`sms` or `whatsapp`).
    pub channel: String,
    /// `N` of `MediaUrl{N}`.
    pub index: usize,
    /// `MediaUrl{N}`.
    pub url: String,
    /// `MediaContentType{N}` (`application/octet-stream` when absent).
    pub content_type: String,
}

/// What one webhook carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// `message` for an inbound message, else the callback's `MessageStatus`.
    pub kind: String,
    /// The events: one message, one status, or none for an intermediate status.
    pub events: Vec<ParsedEvent>,
    /// The media to download (inbound messages only).
    pub media: Vec<Media>,
    /// `OptOutType` when Twilio's Advanced Opt-Out sent it (`STOP`, `START`, `HELP`).
    pub opt_out_type: Option<String>,
}

/// The parameters as a lookup; the first value of a repeated name counts.
struct Params<'a>(&'a [(String, String)]);

impl<'a> Params<'a> {
    fn get(&self, name: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn non_empty(&self, name: &str) -> Option<&'a str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    fn required(&self, name: &str) -> Result<&'a str, TwilioError> {
        self.non_empty(name)
            .ok_or_else(|| invalid(name, "is required"))
    }
}

/// A Twilio address: `(channel, number)`.
fn address(field: &str, value: &str) -> Result<(&'static str, String), TwilioError> {
    let (channel, number) = match value.strip_prefix("whatsapp:") {
        Some(rest) => ("whatsapp", rest),
        None => ("sms", value),
    };
    let number = number.trim();
    let digits = number.strip_prefix('+').unwrap_or(number);
    let all_digits = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    let ok = if number.starts_with('+') {
        all_digits && digits.len() <= 15
    } else {
        all_digits && (3..=8).contains(&digits.len())
    };
    if !ok {
        return Err(invalid(
            field,
            format!(
                "{value:?} is not an E.164 number (+ and up to 15 digits), a short code or whatsapp:+E.164"
            ),
        ));
    }
    Ok((channel, number.to_string()))
}

/// The message sid: `MessageSid`, or the deprecated duplicates.
fn message_sid<'a>(p: &Params<'a>) -> Result<&'a str, TwilioError> {
    let sid = p
        .non_empty("MessageSid")
        .or_else(|| p.non_empty("SmsMessageSid"))
        .or_else(|| p.non_empty("SmsSid"))
        .ok_or_else(|| invalid("MessageSid", "is required"))?;
    if sid.len() > 64 || !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(invalid(
            "MessageSid",
            format!("{sid:?} is not a Twilio sid (letters and digits, at most 64)"),
        ));
    }
    Ok(sid)
}

/// Parses a webhook's parameters (from [`form_params`]) into events
/// captured at `captured_at`; `raw` is the body as received (its SHA-256
/// is each event's `raw_digest`).
pub fn parse(
    params: &[(String, String)],
    raw: &[u8],
    captured_at: Timestamp,
) -> Result<Parsed, TwilioError> {
    let p = Params(params);
    let status = p
        .non_empty("MessageStatus")
        .or_else(|| p.non_empty("SmsStatus"));
    match status {
        None | Some("received") | Some("receiving") => inbound(&p, raw, captured_at),
        Some(status) => status_callback(&p, status, raw, captured_at),
    }
}

fn inbound(p: &Params, raw: &[u8], captured_at: Timestamp) -> Result<Parsed, TwilioError> {
    let sid = message_sid(p)?;
    let (channel, party) = address("From", p.required("From")?)?;
    let (to_channel, firm) = address("To", p.required("To")?)?;
    if to_channel != channel {
        return Err(invalid(
            "To",
            format!("a {to_channel} address, but From is a {channel} address"),
        ));
    }
    let count = match p.non_empty("NumMedia") {
        None => 0,
        Some(n) => match n.parse::<usize>() {
            Ok(n) if n <= MAX_MEDIA => n,
            _ => {
                return Err(invalid(
                    "NumMedia",
                    format!("{n:?} is not a number from 0 to {MAX_MEDIA}"),
                ));
            }
        },
    };
    let mut media = Vec::with_capacity(count);
    for index in 0..count {
        let url_field = format!("MediaUrl{index}");
        let url = p.required(&url_field)?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(invalid(
                &url_field,
                format!("{url:?} is not an http(s) URL"),
            ));
        }
        let content_type = p
            .non_empty(&format!("MediaContentType{index}"))
            .unwrap_or("application/octet-stream");
        media.push(Media {
            message_sid: sid.to_string(),
            channel: channel.to_string(),
            index,
            url: url.to_string(),
            content_type: content_type.to_string(),
        });
    }

    let mut twilio = Map::new();
    for (name, value) in p.0 {
        let listed = name == "Body"
            || (name.starts_with("MediaUrl") || name.starts_with("MediaContentType"))
                && name.bytes().last().is_some_and(|b| b.is_ascii_digit());
        if !listed && !twilio.contains_key(name) {
            twilio.insert(name.clone(), Value::String(value.clone()));
        }
    }
    let mut extra = Map::new();
    extra.insert("twilio".into(), Value::Object(twilio));
    if !media.is_empty() {
        let listed = media
            .iter()
            .map(|m| {
                serde_json::json!({
                    "index": m.index,
                    "url": m.url,
                    "content_type": m.content_type,
                    "download": "pending: the outcome is a twilio.media.fetched or twilio.media.failed event",
                })
            })
            .collect();
        extra.insert("twilio_media".into(), Value::Array(listed));
    }
    let message = Message {
        channel: channel.to_string(),
        source_id: sid.to_string(),
        conversation: format!("{channel}:{firm}:{party}"),
        sender: party.clone(),
        recipients: vec![firm],
        direction: Direction::Inbound,
        sent_at: captured_at,
        captured_at,
        text: p.non_empty("Body").map(str::to_string),
        attachments: Vec::new(),
        reply_to: p.non_empty("OriginalRepliedMessageSid").map(str::to_string),
        raw_digest: Digest::of(raw),
        extra,
    };
    Ok(Parsed {
        kind: "message".into(),
        events: vec![ParsedEvent {
            event: Event::Message(message),
            subject: Some(party),
        }],
        media,
        opt_out_type: p.non_empty("OptOutType").map(str::to_uppercase),
    })
}

fn status_callback(
    p: &Params,
    status: &str,
    raw: &[u8],
    captured_at: Timestamp,
) -> Result<Parsed, TwilioError> {
    let sid = message_sid(p)?;
    let (channel, recipient) = address("To", p.required("To")?)?;
    let state = match status {
        "sent" => Some(DeliveryState::Sent),
        "delivered" => Some(DeliveryState::Delivered),
        "read" => Some(DeliveryState::Read),
        "failed" | "undelivered" => Some(DeliveryState::Failed),
        _ => None,
    };
    let mut events = Vec::new();
    if let Some(state) = state {
        let error = (state == DeliveryState::Failed).then(|| {
            let mut error = status.to_string();
            if let Some(code) = p.non_empty("ErrorCode") {
                error.push_str(&format!(", ErrorCode {code}"));
            }
            if let Some(text) = p.non_empty("ErrorMessage") {
                error.push_str(&format!(": {text}"));
            }
            error
        });
        events.push(ParsedEvent {
            event: Event::Status(DeliveryStatus {
                channel: channel.to_string(),
                target: sid.to_string(),
                recipient: recipient.clone(),
                state,
                at: captured_at,
                captured_at,
                error,
                raw_digest: Digest::of(raw),
            }),
            subject: Some(recipient),
        });
    }
    Ok(Parsed {
        kind: status.to_string(),
        events,
        media: Vec::new(),
        opt_out_type: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_749_416_383_000_000;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/twilio/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn parse_body(body: &[u8]) -> Result<Parsed, TwilioError> {
        let body: Vec<u8> = body.iter().copied().filter(|b| *b != b'\n').collect();
        parse(&form_params(&body)?, &body, Timestamp::from_micros(NOW))
    }

    fn message(parsed: &Parsed) -> &Message {
        match &parsed.events[0].event {
            Event::Message(m) => m,
            other => panic!("not a message: {other:?}"),
        }
    }

    #[test]
    fn an_inbound_sms_maps_every_field() {
        let parsed = parse_body(&fixture("inbound_sms.form")).unwrap();
        assert_eq!(parsed.kind, "message");
        let m = message(&parsed);
        assert_eq!(m.channel, "sms");
        assert_eq!(m.source_id, "SM2003cbd5e6a3701999aa3e5f20ff2787");
        assert_eq!(m.sender, "+14159354345");
        assert_eq!(m.recipients, vec!["+14158141819".to_string()]);
        assert_eq!(m.conversation, "sms:+14158141819:+14159354345");
        assert_eq!(m.direction, Direction::Inbound);
        assert_eq!(m.text.as_deref(), Some("Orly, see you at 10"));
        assert_eq!(m.sent_at.as_micros(), NOW);
        assert_eq!(m.extra["twilio"]["FromCity"], "SAN FRANCISCO");
        assert_eq!(m.extra["twilio"]["ToZip"], "94105");
        assert!(m.extra["twilio"].get("Body").is_none());
        assert!(m.extra.get("twilio_media").is_none());
        assert_eq!(parsed.events[0].subject.as_deref(), Some("+14159354345"));
        assert!(parsed.media.is_empty());
    }

    #[test]
    fn a_whatsapp_message_with_media_and_a_reply() {
        let parsed = parse_body(&fixture("inbound_whatsapp_media.form")).unwrap();
        let m = message(&parsed);
        assert_eq!(m.channel, "whatsapp");
        assert_eq!(m.sender, "+5511988887777");
        assert_eq!(m.conversation, "whatsapp:+14155238886:+5511988887777");
        assert_eq!(
            m.reply_to.as_deref(),
            Some("SMa1b2c3d4e5f60718293a4b5c6d7e8f90")
        );
        assert_eq!(m.extra["twilio"]["ProfileName"], "Ana Souza");
        assert_eq!(m.extra["twilio"]["WaId"], "5511988887777");
        assert_eq!(parsed.media.len(), 2);
        assert_eq!(parsed.media[1].index, 1);
        assert_eq!(parsed.media[1].content_type, "application/pdf");
        assert!(
            parsed.media[0]
                .url
                .ends_with("/Media/ME0123456789abcdef0123456789abcdef")
        );
        assert_eq!(
            m.extra["twilio_media"][1]["content_type"],
            "application/pdf"
        );
        assert!(m.attachments.is_empty());
    }

    #[test]
    fn status_callbacks_become_delivery_statuses() {
        let parsed = parse_body(&fixture("status_undelivered.form")).unwrap();
        let Event::Status(s) = &parsed.events[0].event else {
            panic!("{parsed:?}")
        };
        assert_eq!(s.target, "SM5c5d8f1e2a3b4c5d6e7f8091a2b3c4d5");
        assert_eq!(s.recipient, "+447700900123");
        assert_eq!(s.state, DeliveryState::Failed);
        assert_eq!(
            s.error.as_deref(),
            Some("undelivered, ErrorCode 30003: Unreachable destination handset")
        );
        let read = parse_body(
            b"MessageSid=SMx1&MessageStatus=read&From=whatsapp%3A%2B14155238886&To=whatsapp%3A%2B5511988887777",
        )
        .unwrap();
        let Event::Status(s) = &read.events[0].event else {
            panic!()
        };
        assert_eq!(
            (s.channel.as_str(), s.state),
            ("whatsapp", DeliveryState::Read)
        );
        let queued =
            parse_body(b"MessageSid=SMx1&MessageStatus=queued&To=%2B5511988887777").unwrap();
        assert_eq!(queued.kind, "queued");
        assert!(queued.events.is_empty());
    }

    #[test]
    fn opt_out_type_is_reported() {
        let parsed = parse_body(
            b"MessageSid=SMx2&From=%2B15005550006&To=%2B15005550001&Body=stop&OptOutType=STOP",
        )
        .unwrap();
        assert_eq!(parsed.opt_out_type.as_deref(), Some("STOP"));
    }

    #[test]
    fn errors_name_the_parameter() {
        let cases: &[(&[u8], &str)] = &[
            (b"From=%2B1555&To=%2B1666&Body=x", "MessageSid"),
            (b"MessageSid=SM..&From=%2B1555&To=%2B1666", "MessageSid"),
            (b"MessageSid=SM1&To=%2B1666", "From"),
            (b"MessageSid=SM1&From=%2B1555", "To"),
            (b"MessageSid=SM1&From=alice&To=%2B1666", "From"),
            (
                b"MessageSid=SM1&From=%2B1234567890123456&To=%2B1666",
                "From",
            ),
            (b"MessageSid=SM1&From=whatsapp%3A%2B1555&To=%2B1666", "To"),
            (
                b"MessageSid=SM1&From=%2B1555&To=%2B1666&NumMedia=x",
                "NumMedia",
            ),
            (
                b"MessageSid=SM1&From=%2B1555&To=%2B1666&NumMedia=11",
                "NumMedia",
            ),
            (
                b"MessageSid=SM1&From=%2B1555&To=%2B1666&NumMedia=2&MediaUrl0=https%3A%2F%2Fa",
                "MediaUrl1",
            ),
            (
                b"MessageSid=SM1&From=%2B1555&To=%2B1666&NumMedia=1&MediaUrl0=file%3A%2F%2Fa",
                "MediaUrl0",
            ),
            (b"MessageSid=SM1&MessageStatus=sent", "To"),
        ];
        for (body, field) in cases {
            let err = parse_body(body).unwrap_err();
            assert_eq!(
                err.field(),
                Some(*field),
                "{}: {err}",
                String::from_utf8_lossy(body)
            );
            assert!(err.to_string().starts_with(&format!("{field}: ")), "{err}");
        }
    }

    #[test]
    fn sizes_and_counts_are_capped() {
        assert_eq!(
            form_params(&vec![b'a'; MAX_BODY + 1]),
            Err(TwilioError::TooLarge(MAX_BODY + 1))
        );
        let many = "a=1&".repeat(MAX_PARAMS + 1);
        assert_eq!(
            form_params(many.as_bytes()),
            Err(TwilioError::TooManyParams)
        );
    }

    #[test]
    fn the_signing_string_sorts_names_without_separators() {
        let params = form_params(b"To=%2B1800&Body=a+b&AccountSid=AC1").unwrap();
        assert_eq!(
            signing_string("https://x.example/hook?a=1", &params),
            "https://x.example/hook?a=1AccountSidAC1Bodya bTo+1800"
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            if let Ok(params) = form_params(&body) {
                let _ = parse(&params, &body, Timestamp::from_micros(0));
                let _ = signing_string("https://x", &params);
            }
        }
    }
}
