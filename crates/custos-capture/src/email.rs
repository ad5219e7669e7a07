//! E-mail: RFC 5322 messages (`.eml`), mbox files and journal reports,
//! parsed with mail-parser into canonical messages threaded by Message-ID,
//! In-Reply-To and References.
//!
//! This module only parses; reading files, storing blobs and journalling
//! are the caller's (`custos import email`, the SMTP journaling listener).
//!
//! # Rules
//!
//! - **Input.** [`split`] tells an mbox (the input starts with `From `) from
//!   a single message. In an mbox, a line starting with `From ` at the start
//!   of the input or after an empty line begins a message; the lines up to
//!   the next one are the message, minus the one empty line the mbox writer
//!   adds at its end; `>From `, `>>From `, ... lose one `>` (mboxrd).
//! - **Ids.** The source id is the Message-ID without `<>`, or `sha256:` and
//!   the hex SHA-256 of the raw bytes when there is none. The conversation
//!   is the thread's root: the first id of References, else the thread of
//!   the message In-Reply-To names (when it is in the same input, see
//!   [`thread`]), else that id, else the message's own id.
//!   `reply_to` is In-Reply-To (its first id).
//! - **Addresses.** From (else Sender, else Return-Path), To, Cc and Bcc,
//!   lower-cased. An address is the firm's when its domain is one of the
//!   firm's domains or a subdomain of one. Direction: a firm sender with only
//!   firm recipients is internal, with any external recipient outbound; an
//!   external sender is inbound. Without firm domains the direction is
//!   unknown. For an outbound message the external recipients come first, so
//!   the external party ([`Message::external_party`]) is the first of them;
//!   the To, Cc and Bcc lists as written are in `extra`.
//! - **Date.** The Date header (RFC 5322, any offset, stored in UTC). When
//!   it is missing or invalid, the caller's fallback is used if it gave one
//!   (the mbox `From ` line's date for mbox files, the time of receipt for
//!   SMTP) and `extra["date_source"]` says so; otherwise it is an error.
//! - **Body.** The text/plain parts joined by a blank line, or the HTML
//!   parts converted to text when there is no plain part; line ends `\n`.
//! - **Attachments.** Every attachment (inline images and attached messages
//!   included) with its decoded bytes, file name and media type.
//! - **Journal reports.** A message with an `X-MS-Journal-Report` header is
//!   an Exchange journal report: the message archived is the one it carries
//!   as a `message/rfc822` attachment; the envelope (sender and recipients,
//!   Bcc included, from the report's text part) is kept in
//!   `extra["journal_envelope"]` and its recipients added, and the report's
//!   own bytes are kept beside the original's.
//! - **Limits.** A message of more than [`MAX_MESSAGE_BYTES`], more than
//!   [`MAX_ATTACHMENTS`] attachments, an input of more than [`MAX_MESSAGES`]
//!   messages, or a Message-ID longer than 998 bytes is an error.

use custos_model::{Attachment, Digest, Direction, Message, RawPayload, Timestamp};

/// Source fields without a canonical place.
type Extra = serde_json::Map<String, serde_json::Value>;
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders, PartType};
use std::collections::HashMap;

/// The channel of e-mail messages.
pub const CHANNEL: &str = "email";
/// The media type of the raw payloads kept for each message.
pub const RAW_MEDIA_TYPE: &str = "message/rfc822";
/// The largest message accepted, in bytes (as the SMTP listener's cap).
pub const MAX_MESSAGE_BYTES: usize = 50 << 20;
/// The most attachments one message may carry.
pub const MAX_ATTACHMENTS: usize = 1000;
/// The most messages one input (mbox, Maildir) may hold.
pub const MAX_MESSAGES: usize = 1_000_000;
/// The longest Message-ID (RFC 5322's line length).
const MAX_ID: usize = 998;
/// How many In-Reply-To links [`thread`] follows.
const MAX_THREAD_DEPTH: usize = 1000;

/// A message that cannot be read, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {}{problem}", field.as_ref().map(|f| format!("{f}: ")).unwrap_or_default())]
pub struct EmailError {
    /// Which message: `message 3 (line 120)` in an mbox, `message 1` for
    /// an `.eml`, the file name in a Maildir.
    pub place: String,
    /// The header or part to blame, if one is (`Date`, `From`, `attachment 2`).
    pub field: Option<String>,
    /// What is wrong.
    pub problem: String,
}

/// One message's raw bytes as an input held them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawMessage {
    /// The bytes of the message (mbox quoting undone).
    pub bytes: Vec<u8>,
    /// Its 1-based number in the input.
    pub number: usize,
    /// The 1-based line of the input where it starts (its `From ` line in
    /// an mbox).
    pub line: u64,
    /// The date of the mbox `From ` line, if it had a readable one.
    pub envelope_date: Option<Timestamp>,
}

impl RawMessage {
    /// How errors name this message.
    pub fn place(&self) -> String {
        if self.line > 1 || self.envelope_date.is_some() {
            format!("message {} (line {})", self.number, self.line)
        } else {
            format!("message {}", self.number)
        }
    }
}

/// What parsing needs to know about the firm.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The firm's mail domains, lower-cased (`example.com`); their
    /// subdomains are the firm's too.
    pub firm_domains: Vec<String>,
}

impl Options {
    /// Options for these domains (trimmed, lower-cased, a leading `@` dropped).
    pub fn new<S: AsRef<str>>(domains: &[S]) -> Options {
        Options {
            firm_domains: domains
                .iter()
                .map(|d| d.as_ref().trim().trim_start_matches('@').to_lowercase())
                .filter(|d| !d.is_empty())
                .collect(),
        }
    }

    /// Whether `address` (lower-cased) belongs to the firm.
    pub fn is_firm(&self, address: &str) -> bool {
        let Some((_, domain)) = address.rsplit_once('@') else {
            return false;
        };
        self.firm_domains.iter().any(|d| {
            domain == d
                || (domain.len() > d.len()
                    && domain.ends_with(d.as_str())
                    && domain.as_bytes()[domain.len() - d.len() - 1] == b'.')
        })
    }
}

/// A parsed message with the bytes the caller must store.
#[derive(Clone, Debug)]
pub struct ParsedEmail {
    /// The canonical message. Its attachments name their bytes by digest;
    /// `raw_digest` is the digest of [`raw`](Self::raw).
    pub message: Message,
    /// The message's exact bytes (for a journal report, the original's).
    pub raw: Vec<u8>,
    /// The journal report's own bytes, when the message came wrapped in one.
    pub journal_report: Option<Vec<u8>>,
    /// The bytes of each attachment, in the order of `message.attachments`.
    pub attachment_bytes: Vec<Vec<u8>>,
    /// The first id of References, for [`thread`].
    references_root: Option<String>,
}

impl ParsedEmail {
    /// The raw payloads to journal before the message: the original's bytes
    /// (whose digest the message carries) and the journal report's, if any.
    pub fn raw_payloads(&self, source: &str, received_at: Timestamp) -> Vec<RawPayload> {
        let mut details = Extra::new();
        details.insert("source_id".into(), self.message.source_id.clone().into());
        let mut out = vec![RawPayload {
            source: source.to_string(),
            media_type: RAW_MEDIA_TYPE.into(),
            received_at,
            bytes: self.raw.clone(),
            details: details.clone(),
        }];
        if let Some(report) = &self.journal_report {
            details.insert("journal_report".into(), true.into());
            details.insert(
                "original".into(),
                self.message.raw_digest.to_string().into(),
            );
            out.push(RawPayload {
                source: source.to_string(),
                media_type: RAW_MEDIA_TYPE.into(),
                received_at,
                bytes: report.clone(),
                details,
            });
        }
        out
    }
}

/// Splits an input into its messages: an mbox when it starts with `From `,
/// else one message.
pub fn split(input: &[u8]) -> Result<Vec<RawMessage>, EmailError> {
    if !input.starts_with(b"From ") {
        if input.len() > MAX_MESSAGE_BYTES {
            return Err(too_large("message 1".into(), input.len()));
        }
        return Ok(vec![RawMessage {
            bytes: input.to_vec(),
            number: 1,
            line: 1,
            envelope_date: None,
        }]);
    }
    let mut out: Vec<RawMessage> = Vec::new();
    let mut current: Option<RawMessage> = None;
    let mut previous_empty = true;
    let mut line_no = 0u64;
    for line in input.split_inclusive(|&b| b == b'\n') {
        line_no += 1;
        if previous_empty && line.starts_with(b"From ") {
            if let Some(done) = current.take() {
                out.push(finish_mbox_message(done)?);
            }
            if out.len() >= MAX_MESSAGES {
                return Err(EmailError {
                    place: format!("line {line_no}"),
                    field: None,
                    problem: format!("more than {MAX_MESSAGES} messages in one input"),
                });
            }
            current = Some(RawMessage {
                bytes: Vec::new(),
                number: out.len() + 1,
                line: line_no,
                envelope_date: from_line_date(line),
            });
            previous_empty = false;
            continue;
        }
        // The input starts with a From line, so there is always one.
        let Some(message) = current.as_mut() else {
            continue;
        };
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        previous_empty = content.is_empty();
        let unquoted = match line.iter().position(|&b| b != b'>') {
            Some(n) if n > 0 && line[n..].starts_with(b"From ") => &line[1..],
            _ => line,
        };
        if message.bytes.len() + unquoted.len() > MAX_MESSAGE_BYTES {
            return Err(too_large(
                message.place(),
                message.bytes.len() + unquoted.len(),
            ));
        }
        message.bytes.extend_from_slice(unquoted);
    }
    if let Some(done) = current.take() {
        out.push(finish_mbox_message(done)?);
    }
    Ok(out)
}

fn too_large(place: String, size: usize) -> EmailError {
    EmailError {
        place,
        field: None,
        problem: format!("larger than {MAX_MESSAGE_BYTES} bytes ({size} or more)"),
    }
}

/// Drops the empty line an mbox writer puts after each message.
fn finish_mbox_message(mut m: RawMessage) -> Result<RawMessage, EmailError> {
    if m.bytes.ends_with(b"\r\n\r\n") {
        m.bytes.truncate(m.bytes.len() - 2);
    } else if m.bytes.ends_with(b"\n\n") {
        m.bytes.truncate(m.bytes.len() - 1);
    }
    if m.bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(EmailError {
            place: m.place(),
            field: None,
            problem: "empty message after its From line".into(),
        });
    }
    Ok(m)
}

/// The date of an mbox `From sender Www Mmm dd hh:mm:ss yyyy` line, read
/// as UTC (the writer's zone is not recorded).
fn from_line_date(line: &[u8]) -> Option<Timestamp> {
    let text = std::str::from_utf8(line).ok()?;
    let tokens: Vec<&str> = text.split_whitespace().collect();
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // From, the sender, the weekday; then the month.
    let at = tokens.iter().skip(2).position(|t| MONTHS.contains(t))? + 2;
    let month = MONTHS.iter().position(|m| *m == tokens[at])? as i8 + 1;
    let day: i8 = tokens.get(at + 1)?.parse().ok()?;
    let mut clock = tokens.get(at + 2)?.split(':');
    let hour: i8 = clock.next()?.parse().ok()?;
    let minute: i8 = clock.next()?.parse().ok()?;
    let second: i8 = clock.next().unwrap_or("0").parse().ok()?;
    let year: i16 = tokens.get(at + 3)?.parse().ok()?;
    let dt = jiff::civil::DateTime::new(year, month, day, hour, minute, second, 0).ok()?;
    let ts = jiff::tz::TimeZone::UTC.to_timestamp(dt).ok()?;
    Some(Timestamp::from_micros(ts.as_microsecond()))
}

/// Parses one message captured at `captured_at`. `fallback_date` (with its
/// name for `extra["date_source"]`) is used when the Date header is missing
/// or invalid; `place` names the message in errors.
pub fn parse_message(
    raw: &[u8],
    fallback_date: Option<(Timestamp, &str)>,
    options: &Options,
    captured_at: Timestamp,
    place: &str,
) -> Result<ParsedEmail, EmailError> {
    let fail = |field: Option<&str>, problem: String| EmailError {
        place: place.to_string(),
        field: field.map(str::to_string),
        problem,
    };
    if raw.len() > MAX_MESSAGE_BYTES {
        return Err(too_large(place.to_string(), raw.len()));
    }
    // mail-parser 0.11 has a `debug_assert!` a malformed MIME tree reaches
    // (found by fuzzing): in builds with debug assertions it would take the
    // caller down, so its panic is an error here like any other bad input.
    let outer = std::panic::catch_unwind(|| MessageParser::default().parse(raw))
        .map_err(|_| fail(None, "the MIME structure could not be parsed".into()))?
        .filter(|m| !m.headers().is_empty())
        .ok_or_else(|| fail(None, "not an RFC 5322 message (no header fields)".into()))?;

    // An Exchange journal report carries the original as an attachment.
    if outer.header_raw("X-MS-Journal-Report").is_some() {
        let original = outer
            .attachments()
            .find_map(|p| match &p.body {
                PartType::Message(m) => Some(m.raw_message().to_vec()),
                _ => None,
            })
            .ok_or_else(|| {
                fail(
                    Some("X-MS-Journal-Report"),
                    "a journal report without the original message attached".into(),
                )
            })?;
        let envelope = journal_envelope(outer.body_text(0).as_deref().unwrap_or(""));
        let report_id = outer.message_id().map(str::to_string);
        let inner_place = format!("{place} (the message in the journal report)");
        let mut parsed =
            parse_message(&original, fallback_date, options, captured_at, &inner_place)?;
        let m = &mut parsed.message;
        let mut env = Extra::new();
        if let Some(id) = report_id {
            env.insert("report_message_id".into(), id.into());
        }
        if let Some(sender) = &envelope.sender {
            env.insert("sender".into(), sender.clone().into());
        }
        env.insert("recipients".into(), envelope.recipients.clone().into());
        m.extra.insert("journal_envelope".into(), env.into());
        for r in envelope.recipients {
            if !m.recipients.contains(&r) {
                m.recipients.push(r);
            }
        }
        m.direction = direction(&m.sender, &m.recipients, options);
        order_recipients(m, options);
        parsed.journal_report = Some(raw.to_vec());
        return Ok(parsed);
    }

    let message = outer;
    let raw_digest = Digest::of(raw);
    let message_id = match message.message_id() {
        Some(id) => Some(
            clean_id(id)
                .ok_or_else(|| fail(Some("Message-ID"), format!("not a usable id: {id:?}")))?,
        ),
        None => None,
    };
    let source_id = message_id
        .clone()
        .unwrap_or_else(|| format!("sha256:{raw_digest}"));
    let references: Vec<String> = ids(message.references());
    let in_reply_to = ids(message.in_reply_to()).into_iter().next();
    let references_root = references.first().cloned();
    let conversation = references_root
        .clone()
        .or_else(|| in_reply_to.clone())
        .unwrap_or_else(|| source_id.clone());

    let (sender, sender_name) = match message
        .from()
        .or_else(|| message.sender())
        .and_then(first_address)
    {
        Some(found) => found,
        None => match message.return_address().and_then(clean_address) {
            Some(a) => (a, None),
            None => return Err(fail(Some("From"), "no sender address".into())),
        },
    };
    let to = addresses(message.all_to());
    let cc = addresses(message.all_cc());
    let bcc = addresses(message.all_bcc());
    let mut recipients: Vec<String> = Vec::new();
    for a in to.iter().chain(&cc).chain(&bcc) {
        if !recipients.contains(a) {
            recipients.push(a.clone());
        }
    }

    let mut extra = Extra::new();
    let sent_at = match message.date().and_then(date_of) {
        Some(ts) => ts,
        None => match fallback_date {
            Some((ts, source)) => {
                extra.insert("date_source".into(), source.into());
                if let Some(text) = message.header_raw("Date") {
                    extra.insert("date_header".into(), text.trim().into());
                }
                ts
            }
            None => {
                let problem = match message.header_raw("Date") {
                    Some(text) => format!("not a valid RFC 5322 date: {:?}", text.trim()),
                    None => "missing".into(),
                };
                return Err(fail(Some("Date"), problem));
            }
        },
    };

    let mut bodies: Vec<String> = Vec::new();
    for i in 0..message.text_body.len() {
        if let Some(text) = message.body_text(i) {
            let text = text.replace("\r\n", "\n");
            let text = text.trim_end();
            if !text.is_empty() {
                bodies.push(text.to_string());
            }
        }
    }
    let text = (!bodies.is_empty()).then(|| bodies.join("\n\n"));

    let mut attachments = Vec::new();
    let mut attachment_bytes = Vec::new();
    for (i, part) in message.attachments().enumerate() {
        if i >= MAX_ATTACHMENTS {
            return Err(fail(
                Some(&format!("attachment {}", i + 1)),
                format!("more than {MAX_ATTACHMENTS} attachments"),
            ));
        }
        let bytes = part.contents().to_vec();
        let media_type = match part.content_type() {
            Some(ct) => match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub).to_lowercase(),
                None => ct.ctype().to_lowercase(),
            },
            None if matches!(part.body, PartType::Message(_)) => RAW_MEDIA_TYPE.into(),
            None => "application/octet-stream".into(),
        };
        attachments.push(Attachment {
            name: part.attachment_name().map(str::to_string),
            media_type,
            sha256: Digest::of(&bytes),
            size: bytes.len() as u64,
        });
        attachment_bytes.push(bytes);
    }

    if let Some(subject) = message.subject() {
        extra.insert("subject".into(), subject.into());
    }
    if let Some(name) = sender_name {
        extra.insert("from_name".into(), name.into());
    }
    for (key, list) in [("to", &to), ("cc", &cc), ("bcc", &bcc)] {
        if !list.is_empty() {
            extra.insert(key.into(), list.clone().into());
        }
    }
    if let Some(id) = &message_id {
        extra.insert("message_id".into(), id.clone().into());
    }
    if !references.is_empty() {
        extra.insert("references".into(), references.into());
    }

    let mut m = Message {
        channel: CHANNEL.into(),
        source_id,
        conversation,
        direction: direction(&sender, &recipients, options),
        sender,
        recipients,
        sent_at,
        captured_at,
        text,
        attachments,
        reply_to: in_reply_to,
        raw_digest,
        extra,
    };
    order_recipients(&mut m, options);
    Ok(ParsedEmail {
        message: m,
        raw: raw.to_vec(),
        journal_report: None,
        attachment_bytes,
        references_root,
    })
}

/// Gives each message without References whose In-Reply-To names another
/// message of `messages` that message's conversation, following the chain
/// of replies to its root.
pub fn thread(messages: &mut [ParsedEmail]) {
    let by_id: HashMap<&str, usize> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| (m.message.source_id.as_str(), i))
        .collect();
    let mut threads: Vec<Option<String>> = vec![None; messages.len()];
    for (i, slot) in threads.iter_mut().enumerate() {
        let m = &messages[i];
        if m.references_root.is_some() || m.message.reply_to.is_none() {
            continue;
        }
        let mut at = i;
        for _ in 0..MAX_THREAD_DEPTH {
            let here = &messages[at];
            if let Some(root) = &here.references_root {
                *slot = Some(root.clone());
                break;
            }
            let Some(parent) = &here.message.reply_to else {
                *slot = Some(here.message.source_id.clone());
                break;
            };
            match by_id.get(parent.as_str()) {
                Some(&p) if p != at => at = p,
                _ => {
                    *slot = Some(parent.clone());
                    break;
                }
            }
        }
    }
    for (m, t) in messages.iter_mut().zip(threads) {
        if let Some(t) = t {
            m.message.conversation = t;
        }
    }
}

/// Inbound, outbound or internal by the firm's domains.
fn direction(sender: &str, recipients: &[String], options: &Options) -> Direction {
    if options.firm_domains.is_empty() {
        return Direction::Unknown;
    }
    if !options.is_firm(sender) {
        return Direction::Inbound;
    }
    if recipients.iter().all(|r| options.is_firm(r)) {
        Direction::Internal
    } else {
        Direction::Outbound
    }
}

/// Puts the external recipients first (stable), so the first recipient of
/// an outbound message is its external party.
fn order_recipients(m: &mut Message, options: &Options) {
    if m.direction == Direction::Outbound {
        m.recipients.sort_by_key(|r| options.is_firm(r));
    }
}

/// The sender and recipients an Exchange journal report's text part lists
/// (`Sender: a@x`, `To: b@y`, `Cc:`, `Bcc:`, `Recipient:`, `Recipients:`).
#[derive(Default)]
struct Envelope {
    sender: Option<String>,
    recipients: Vec<String>,
}

fn journal_envelope(text: &str) -> Envelope {
    let mut env = Envelope::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let found = value
            .split([',', ';', ' '])
            .filter_map(|t| clean_address(t.trim().trim_start_matches('<').trim_end_matches('>')));
        match key.as_str() {
            "sender" | "on-behalf-of" if env.sender.is_none() => {
                env.sender = found.into_iter().next()
            }
            "to" | "cc" | "bcc" | "recipient" | "recipients" => {
                for a in found {
                    if !env.recipients.contains(&a) {
                        env.recipients.push(a);
                    }
                }
            }
            _ => {}
        }
    }
    env
}

/// A header's message ids, without `<>`, usable ones only.
fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(t) => clean_id(t).into_iter().collect(),
        HeaderValue::TextList(list) => list.iter().filter_map(|t| clean_id(t)).collect(),
        _ => Vec::new(),
    }
}

/// An id trimmed of spaces and `<>`; `None` when empty, too long or
/// holding spaces or control characters.
fn clean_id(id: &str) -> Option<String> {
    let id = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    let usable = !id.is_empty()
        && id.len() <= MAX_ID
        && !id.chars().any(|c| c.is_whitespace() || c.is_control());
    usable.then(|| id.to_string())
}

/// An address lower-cased; `None` unless it looks like `local@domain`.
fn clean_address(address: &str) -> Option<String> {
    let a = address.trim();
    let (local, domain) = a.rsplit_once('@')?;
    let usable = !local.is_empty()
        && !domain.is_empty()
        && a.len() <= MAX_ID
        && !a.chars().any(|c| c.is_whitespace() || c.is_control());
    usable.then(|| a.to_lowercase())
}

fn first_address(address: &Address<'_>) -> Option<(String, Option<String>)> {
    address.iter().find_map(|a| {
        let clean = clean_address(a.address.as_deref()?)?;
        let name = a
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        Some((clean, name))
    })
}

fn addresses<'a, 'x: 'a>(headers: impl Iterator<Item = &'a Address<'x>>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for header in headers {
        for a in header.iter() {
            if let Some(clean) = a.address.as_deref().and_then(clean_address)
                && !out.contains(&clean)
            {
                out.push(clean);
            }
        }
    }
    out
}

/// A Date header's instant, if it names a real one.
fn date_of(d: &mail_parser::DateTime) -> Option<Timestamp> {
    if !d.is_valid() {
        return None;
    }
    // mail-parser lets 31 February through; jiff does not.
    jiff::civil::Date::new(d.year as i16, d.month as i8, d.day as i8).ok()?;
    Some(Timestamp::from_micros(
        d.to_timestamp().checked_mul(1_000_000)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/email/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn firm() -> Options {
        Options::new(&["Example.com"])
    }

    fn parse(raw: &[u8]) -> Result<ParsedEmail, EmailError> {
        parse_message(raw, None, &firm(), Timestamp::from_micros(7), "message 1")
    }

    #[test]
    fn a_plain_message_maps_every_field() {
        let raw = fixture("plain.eml");
        let p = parse(&raw).unwrap();
        let m = &p.message;
        assert_eq!(m.channel, "email");
        assert_eq!(m.source_id, "20240305091500.1234@mail.client.example.org");
        assert_eq!(m.conversation, m.source_id);
        assert_eq!(m.sender, "ana.souza@client.example.org");
        assert_eq!(m.recipients, ["bruno.lima@example.com", "desk@example.com"]);
        assert_eq!(m.direction, Direction::Inbound);
        assert_eq!(m.external_party(), Some("ana.souza@client.example.org"));
        assert_eq!(m.sent_at.to_string(), "2024-03-05T12:15:00Z");
        assert_eq!(
            m.text.as_deref(),
            Some("Bom dia Bruno,\n\nCan we talk about the Q3 deal?\n\nAna")
        );
        assert_eq!(m.extra["subject"], "Q3 deal");
        assert_eq!(m.extra["from_name"], "Ana Souza");
        assert_eq!(m.extra["cc"][0], "desk@example.com");
        assert_eq!(m.raw_digest, Digest::of(&raw));
        assert_eq!(p.raw, raw);
        assert!(m.attachments.is_empty() && m.reply_to.is_none());
    }

    #[test]
    fn a_reply_with_an_attachment_is_threaded_and_outbound() {
        let raw = fixture("reply_attachment.eml");
        let p = parse(&raw).unwrap();
        let m = &p.message;
        assert_eq!(m.source_id, "CAB1234@mail.example.com");
        assert_eq!(
            m.reply_to.as_deref(),
            Some("20240305091500.1234@mail.client.example.org")
        );
        assert_eq!(
            m.conversation,
            "20240305091500.1234@mail.client.example.org"
        );
        assert_eq!(m.direction, Direction::Outbound);
        // The external recipient first, whatever the header order.
        assert_eq!(
            m.recipients,
            ["ana.souza@client.example.org", "desk@example.com"]
        );
        assert_eq!(m.extra["to"][0], "desk@example.com");
        assert_eq!(m.text.as_deref(), Some("Here is the term sheet.\n\nBruno"));
        assert_eq!(m.attachments.len(), 1);
        let a = &m.attachments[0];
        assert_eq!(a.name.as_deref(), Some("term-sheet.pdf"));
        assert_eq!(a.media_type, "application/pdf");
        assert_eq!(p.attachment_bytes[0], b"%PDF-1.4 term sheet\n");
        assert_eq!(a.sha256, Digest::of(b"%PDF-1.4 term sheet\n"));
        assert_eq!(a.size, 20);
    }

    #[test]
    fn html_only_becomes_text() {
        let p = parse(&fixture("html_only.eml")).unwrap();
        let text = p.message.text.clone().unwrap();
        assert!(text.contains("Price is 12.5"), "{text}");
        assert!(!text.contains('<'), "{text}");
        assert_eq!(p.message.direction, Direction::Internal);
        assert_eq!(p.message.external_party(), None);
    }

    #[test]
    fn without_a_message_id_the_id_is_the_digest() {
        let raw = b"From: a@x.org\r\nTo: b@example.com\r\nDate: Tue, 5 Mar 2024 09:15:00 +0000\r\n\r\nhi\r\n";
        let p = parse(raw).unwrap();
        assert_eq!(p.message.source_id, format!("sha256:{}", Digest::of(raw)));
        assert_eq!(p.message.conversation, p.message.source_id);
    }

    #[test]
    fn a_missing_or_bad_date_is_an_error_unless_there_is_a_fallback() {
        let raw = b"From: a@x.org\r\nTo: b@example.com\r\nMessage-ID: <1@x>\r\n\r\nhi\r\n";
        let e = parse(raw).unwrap_err();
        assert_eq!(e.to_string(), "message 1: Date: missing");
        let bad = b"From: a@x.org\r\nDate: Tue, 31 Feb 2024 09:15:00 +0000\r\n\r\nhi\r\n";
        let e = parse(bad).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("Date"));
        assert!(e.problem.contains("31 Feb"), "{e}");
        let at = Timestamp::parse("2024-03-05T00:00:00Z").unwrap();
        let p = parse_message(raw, Some((at, "mbox_from_line")), &firm(), at, "m").unwrap();
        assert_eq!(p.message.sent_at, at);
        assert_eq!(p.message.extra["date_source"], "mbox_from_line");
    }

    #[test]
    fn errors_name_the_place_and_header() {
        let e = parse(b"Date: Tue, 5 Mar 2024 09:15:00 +0000\r\nTo: b@example.com\r\n\r\nhi")
            .unwrap_err();
        assert_eq!(e.to_string(), "message 1: From: no sender address");
        let e = parse(b"").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("message 1: not an RFC 5322 message"),
            "{e}"
        );
    }

    #[test]
    fn an_mbox_splits_unquotes_and_keeps_the_from_line_date() {
        let input = fixture("inbox.mbox");
        let raws = split(&input).unwrap();
        assert_eq!(raws.len(), 3);
        assert_eq!(raws[0].line, 1);
        assert_eq!(raws[1].number, 2);
        assert_eq!(
            raws[0].envelope_date.unwrap().to_string(),
            "2024-03-05T12:15:05Z"
        );
        // >From in the body loses one >, and the separator blank line goes.
        let second = String::from_utf8(raws[1].bytes.clone()).unwrap();
        assert!(
            second.contains("\nFrom the desk: agreed.\n>From quoted\n"),
            "{second}"
        );
        assert!(
            second.ends_with("Bruno\n") && !second.ends_with("\n\n"),
            "{second:?}"
        );
        // A From line not after an empty line is body text.
        let third = String::from_utf8(raws[2].bytes.clone()).unwrap();
        assert!(third.contains("\nFrom here on"), "{third}");
        let mut parsed: Vec<ParsedEmail> = raws
            .iter()
            .map(|r| {
                parse_message(
                    &r.bytes,
                    r.envelope_date.map(|d| (d, "mbox_from_line")),
                    &firm(),
                    Timestamp::from_micros(0),
                    &r.place(),
                )
                .unwrap()
            })
            .collect();
        thread(&mut parsed);
        // The third replies to the second (In-Reply-To only), which replies to the first.
        assert_eq!(parsed[2].message.conversation, parsed[0].message.source_id);
        assert_eq!(parsed[1].message.conversation, parsed[0].message.source_id);
        assert_eq!(parsed[2].message.extra["date_source"], "mbox_from_line");
    }

    #[test]
    fn mbox_errors_name_the_message_and_line() {
        let e = split(
            b"From a@b Tue Mar  5 09:15:00 2024\n\nFrom b@c Tue Mar  5 09:15:00 2024\nX: y\n",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "message 1 (line 1): empty message after its From line"
        );
        let raws = split(b"From a@b Tue Mar  5 09:15:00 2024\nSubject: x\n\nhi\n").unwrap();
        let e = parse_message(
            &raws[0].bytes,
            None,
            &firm(),
            Timestamp::from_micros(0),
            &raws[0].place(),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "message 1 (line 1): From: no sender address");
    }

    #[test]
    fn a_journal_report_yields_the_original_and_its_envelope() {
        let raw = fixture("journal_report.eml");
        let p = parse(&raw).unwrap();
        let m = &p.message;
        assert_eq!(m.source_id, "orig-42@mail.example.com");
        assert_eq!(m.sender, "bruno.lima@example.com");
        // The Bcc recipient only the envelope names.
        assert!(
            m.recipients
                .contains(&"hidden@partner.example.net".to_string())
        );
        assert_eq!(m.direction, Direction::Outbound);
        assert_eq!(
            m.extra["journal_envelope"]["report_message_id"],
            "report-1@example.com"
        );
        assert_eq!(p.journal_report.as_deref(), Some(&raw[..]));
        assert_ne!(p.raw, raw);
        assert_eq!(m.raw_digest, Digest::of(&p.raw));
        assert!(String::from_utf8_lossy(&p.raw).starts_with("From: Bruno Lima"));
        assert_eq!(m.text.as_deref(), Some("Confidential: price is 12.5"));
        let raws = p.raw_payloads("email.import", Timestamp::from_micros(0));
        assert_eq!(raws.len(), 2);
        assert_eq!(Digest::of(&raws[0].bytes), m.raw_digest);
        assert_eq!(raws[1].bytes, raw);
    }

    #[test]
    fn firm_domains_cover_subdomains_only_on_a_dot() {
        let o = Options::new(&["@Example.com "]);
        assert!(o.is_firm("a@example.com"));
        assert!(o.is_firm("a@mail.example.com"));
        assert!(!o.is_firm("a@badexample.com"));
        assert!(!o.is_firm("example.com"));
    }

    #[test]
    fn without_firm_domains_the_direction_is_unknown() {
        let raw = fixture("plain.eml");
        let p = parse_message(
            &raw,
            None,
            &Options::default(),
            Timestamp::from_micros(0),
            "m",
        )
        .unwrap();
        assert_eq!(p.message.direction, Direction::Unknown);
    }

    #[test]
    fn mbox_from_line_dates() {
        let d = from_line_date(b"From MAILER-DAEMON Fri Jul  8 12:08:34 2011\n").unwrap();
        assert_eq!(d.to_string(), "2011-07-08T12:08:34Z");
        assert!(from_line_date(b"From someone\n").is_none());
        assert!(from_line_date(b"From a Fri Feb 30 12:08:34 2011\n").is_none());
    }

    #[test]
    fn a_malformed_mime_tree_is_an_error_or_a_message_never_a_panic() {
        // The fuzzer's input that reached mail-parser's debug_assert.
        let raw = fixture("fuzz_debug_assert.eml");
        if let Ok(p) = parse(&raw) {
            assert_eq!(p.message.raw_digest, Digest::of(&p.raw));
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            if let Ok(raws) = split(&bytes) {
                for r in raws {
                    let _ = parse_message(&r.bytes, None, &firm(), Timestamp::from_micros(0), "m");
                }
            }
        }
    }
}
