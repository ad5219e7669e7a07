//! The generic JSON-lines import format: one message per line.
//!
//! ```text
//! {"channel":"whatsapp","id":"src-123","conversation":"c-1","from":"+447700900001",
//!  "to":["+5511988887777"],"direction":"outbound","sent_at":"2026-03-12T14:05:33Z",
//!  "text":"...","reply_to":"src-120",
//!  "attachments":[{"name":"a.pdf","media_type":"application/pdf","sha256":"<hex>","size":1234}]}
//! ```
//!
//! `channel`, `id`, `from`, `sent_at`, and `text` or `attachments` are
//! required. `to` defaults to none, `direction` (`inbound`, `outbound`,
//! `internal`) to unknown, and `conversation` to the channel and the sorted
//! participants. Every other field is kept as it came. The digest of the
//! raw source payload is the SHA-256 of the line's bytes. Blank lines are
//! skipped.
//!
//! An import is all or nothing for bad input: [`import`] reads the whole
//! file once to check every line before it appends anything, so a file with
//! a bad line leaves no partial import. Re-importing adds nothing twice:
//! the journal de-duplicates by channel and id.

use custos_journal::{Journal, NewEntry};
use custos_model::{Attachment, Digest, Direction, Event, Message, Timestamp};
use serde_json::{Map, Value};
use std::fmt;
use std::io::BufRead;

/// How many entries one journal request carries during an import.
const BATCH: usize = 1000;

/// A line that is not a valid message, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: u64,
    /// The offending field, if one is to blame.
    pub field: Option<String>,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: ", self.line)?;
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&self.problem)
    }
}

impl std::error::Error for LineError {}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the input failed.
    #[error("reading input: {0}")]
    Io(#[from] std::io::Error),
    /// Lines are invalid; nothing was imported. At most the first
    /// [`MAX_REPORTED`] are listed.
    #[error("{} invalid line(s), nothing imported; first: {}", .0.len(), .0[0])]
    Invalid(Vec<LineError>),
    /// The journal refused the append.
    #[error(transparent)]
    Journal(#[from] custos_journal::Error),
}

/// How many invalid lines an import lists before it stops looking.
pub const MAX_REPORTED: usize = 20;

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Messages read.
    pub messages: u64,
    /// Messages newly archived.
    pub added: u64,
    /// Messages the archive already held.
    pub duplicates: u64,
}

/// Parses one line into a message captured at `captured_at`.
/// `Ok(None)` for a blank line.
pub fn parse_line(
    text: &str,
    line: u64,
    captured_at: Timestamp,
) -> Result<Option<Message>, LineError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let trimmed = text.trim_end_matches(['\n', '\r']);
    if trimmed.trim().is_empty() {
        return Ok(None);
    }
    let fail = |field: Option<&str>, problem: String| LineError {
        line,
        field: field.map(str::to_string),
        problem,
    };
    let value: Value = serde_json::from_str(trimmed).map_err(|e| {
        fail(
            None,
            format!("not valid JSON at column {}: {e}", e.column()),
        )
    })?;
    let Value::Object(mut obj) = value else {
        return Err(fail(None, "expected a JSON object".into()));
    };
    let take_str = |obj: &mut Map<String, Value>,
                    field: &str,
                    required: bool|
     -> Result<Option<String>, LineError> {
        match obj.remove(field) {
            None | Some(Value::Null) if required => Err(fail(Some(field), "is required".into())),
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if required && s.trim().is_empty() => {
                Err(fail(Some(field), "must not be empty".into()))
            }
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(fail(
                Some(field),
                format!("expected a string, got {}", kind(&other)),
            )),
        }
    };
    let channel = take_str(&mut obj, "channel", true)?.expect("required");
    let source_id = take_str(&mut obj, "id", true)?.expect("required");
    let sender = take_str(&mut obj, "from", true)?.expect("required");
    let sent_at_text = take_str(&mut obj, "sent_at", true)?.expect("required");
    let sent_at = Timestamp::parse(&sent_at_text).map_err(|_| {
        fail(
            Some("sent_at"),
            format!(
                "expected an RFC 3339 timestamp such as 2026-03-12T14:05:33Z, got {sent_at_text:?}"
            ),
        )
    })?;
    let text_field = take_str(&mut obj, "text", false)?;
    let conversation = take_str(&mut obj, "conversation", false)?;
    let reply_to = take_str(&mut obj, "reply_to", false)?;
    let direction = match take_str(&mut obj, "direction", false)?.as_deref() {
        None => Direction::Unknown,
        Some("inbound") => Direction::Inbound,
        Some("outbound") => Direction::Outbound,
        Some("internal") => Direction::Internal,
        Some(other) => {
            return Err(fail(
                Some("direction"),
                format!("expected inbound, outbound or internal, got {other:?}"),
            ));
        }
    };
    let recipients = match obj.remove("to") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                match item {
                    Value::String(s) => out.push(s),
                    other => {
                        return Err(fail(
                            Some(&format!("to[{i}]")),
                            format!("expected a string, got {}", kind(&other)),
                        ));
                    }
                }
            }
            out
        }
        Some(other) => {
            return Err(fail(
                Some("to"),
                format!("expected an array of strings, got {}", kind(&other)),
            ));
        }
    };
    let attachments = match obj.remove("attachments") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                out.push(
                    parse_attachment(item, &format!("attachments[{i}]"))
                        .map_err(|(f, p)| fail(Some(&f), p))?,
                );
            }
            out
        }
        Some(other) => {
            return Err(fail(
                Some("attachments"),
                format!("expected an array, got {}", kind(&other)),
            ));
        }
    };
    if text_field.is_none() && attachments.is_empty() {
        return Err(fail(
            Some("text"),
            "is required when there are no attachments".into(),
        ));
    }
    let conversation = conversation.unwrap_or_else(|| {
        let mut parties: Vec<&str> = recipients.iter().map(String::as_str).collect();
        parties.push(&sender);
        parties.sort_unstable();
        parties.dedup();
        format!("{channel}:{}", parties.join(","))
    });
    Ok(Some(Message {
        channel,
        source_id,
        conversation,
        sender,
        recipients,
        direction,
        sent_at,
        captured_at,
        text: text_field,
        attachments,
        reply_to,
        raw_digest: Digest::of(trimmed.as_bytes()),
        extra: obj,
    }))
}

fn parse_attachment(item: Value, at: &str) -> Result<Attachment, (String, String)> {
    let Value::Object(mut obj) = item else {
        return Err((
            at.to_string(),
            format!("expected an object, got {}", kind(&item)),
        ));
    };
    let field = |name: &str| format!("{at}.{name}");
    let string = |obj: &mut Map<String, Value>, name: &str| match obj.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err((
            field(name),
            format!("expected a string, got {}", kind(&other)),
        )),
    };
    let name = string(&mut obj, "name")?;
    let media_type = string(&mut obj, "media_type")?
        .ok_or_else(|| (field("media_type"), "is required".to_string()))?;
    let hex =
        string(&mut obj, "sha256")?.ok_or_else(|| (field("sha256"), "is required".to_string()))?;
    let sha256 = Digest::from_hex(&hex)
        .filter(|_| hex.len() == 64)
        .ok_or_else(|| {
            (
                field("sha256"),
                format!("expected 64 hex digits, got {hex:?}"),
            )
        })?;
    let size = match obj.remove("size") {
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| (field("size"), format!("expected a byte count, got {n}")))?,
        None | Some(Value::Null) => return Err((field("size"), "is required".into())),
        Some(other) => {
            return Err((
                field("size"),
                format!("expected a number, got {}", kind(&other)),
            ));
        }
    };
    Ok(Attachment {
        name,
        media_type,
        sha256,
        size,
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads every line of `input`, returning how many messages it holds, or
/// the first [`MAX_REPORTED`] invalid lines.
pub fn check(input: impl BufRead) -> Result<u64, Error> {
    let mut errors = Vec::new();
    let mut messages = 0;
    let now = Timestamp::now();
    for_each_line(input, |line_no, line| {
        match parse_line(line, line_no, now) {
            Ok(Some(_)) => messages += 1,
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
        errors.len() < MAX_REPORTED
    })?;
    if errors.is_empty() {
        Ok(messages)
    } else {
        Err(Error::Invalid(errors))
    }
}

/// Appends every message of `input` to `journal`, in batches, each
/// acknowledged only once durable. The input must have passed [`check`]
/// (an invalid line here stops the import after what was appended before
/// it). `progress` is told the bytes read so far.
pub fn append(
    journal: &Journal,
    input: impl BufRead,
    progress: &mut dyn FnMut(u64),
) -> Result<ImportReport, Error> {
    let mut report = ImportReport::default();
    let mut batch = Vec::with_capacity(BATCH);
    let mut bytes = 0u64;
    let mut failure = None;
    let flush = |batch: &mut Vec<NewEntry>, report: &mut ImportReport| -> Result<(), Error> {
        for appended in journal.append_all(batch)? {
            if appended.duplicate {
                report.duplicates += 1;
            } else {
                report.added += 1;
            }
        }
        batch.clear();
        Ok(())
    };
    for_each_line(input, |line_no, line| {
        bytes += line.len() as u64;
        let message = match parse_line(line, line_no, Timestamp::now()) {
            Ok(Some(m)) => m,
            Ok(None) => return true,
            Err(e) => {
                failure = Some(Error::Invalid(vec![e]));
                return false;
            }
        };
        report.messages += 1;
        let subject = message.external_party().map(str::to_string);
        batch.push(NewEntry {
            event: Event::Message(message),
            subject,
        });
        if batch.len() == BATCH {
            if let Err(e) = flush(&mut batch, &mut report) {
                failure = Some(e);
                return false;
            }
            progress(bytes);
        }
        true
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    flush(&mut batch, &mut report)?;
    progress(bytes);
    Ok(report)
}

/// Calls `f` with each line (1-based number, text with its line ending)
/// until it returns `false`.
fn for_each_line(
    mut input: impl BufRead,
    mut f: impl FnMut(u64, &str) -> bool,
) -> Result<(), Error> {
    let mut line = String::new();
    let mut number = 0;
    loop {
        line.clear();
        let read = input.read_line(&mut line).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                std::io::Error::new(e.kind(), format!("line {}: not UTF-8", number + 1))
            } else {
                e
            }
        })?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        if !f(number, &line) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy;

    const GOOD: &str = r#"{"channel":"whatsapp","id":"src-123","conversation":"c-1","from":"+447700900001","to":["+5511988887777"],"direction":"outbound","sent_at":"2026-03-12T14:05:33Z","text":"Olá","attachments":[{"name":"a.pdf","media_type":"application/pdf","sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":1234}],"desk":"fx"}"#;

    fn parse(text: &str) -> Result<Option<Message>, LineError> {
        parse_line(text, 7, Timestamp::from_micros(0))
    }

    /// Replaces `field` of the good line with `value` (JSON text), or
    /// removes it when `value` is `None`, and returns the error.
    fn check_error(field: &str, value: Option<&str>, expected_field: &str, expected_problem: &str) {
        let mut obj: Map<String, Value> = serde_json::from_str(GOOD).unwrap();
        match value {
            Some(v) => {
                obj.insert(field.into(), serde_json::from_str(v).unwrap());
            }
            None => {
                obj.remove(field);
            }
        }
        let err = parse(&serde_json::to_string(&obj).unwrap()).unwrap_err();
        assert_eq!(err.line, 7);
        assert_eq!(err.field.as_deref(), Some(expected_field), "{err}");
        assert!(err.problem.contains(expected_problem), "{err}");
    }

    proptest::proptest! {
        /// Outside input never panics the parser: it yields a message, a
        /// blank, or an error naming the line.
        #[test]
        fn arbitrary_lines_never_panic(text in "\\PC{0,200}") {
            if let Err(e) = parse(&text) {
                proptest::prop_assert_eq!(e.line, 7);
            }
        }

        /// Lines that are JSON objects with random fields never panic either.
        #[test]
        fn random_objects_never_panic(
            fields in proptest::collection::btree_map(
                proptest::sample::select(vec!["channel", "id", "from", "to", "sent_at", "text", "direction", "attachments", "reply_to", "conversation", "x"]),
                proptest::prop_oneof![
                    proptest::strategy::Just(Value::Null),
                    proptest::num::i64::ANY.prop_map(Value::from),
                    "\\PC{0,20}".prop_map(Value::from),
                    proptest::strategy::Just(serde_json::json!(["+1", 2])),
                    proptest::strategy::Just(serde_json::json!([{"media_type": "a/b", "sha256": SHA, "size": 1}])),
                    proptest::strategy::Just(Value::from("2026-01-01T00:00:00Z")),
                ],
                0..11,
            )
        ) {
            let obj: Map<String, Value> = fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            let _ = parse(&serde_json::to_string(&obj).unwrap());
        }
    }

    const SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn a_full_line_maps_every_field() {
        let m = parse(GOOD).unwrap().unwrap();
        assert_eq!(m.channel, "whatsapp");
        assert_eq!(m.source_id, "src-123");
        assert_eq!(m.conversation, "c-1");
        assert_eq!(m.sender, "+447700900001");
        assert_eq!(m.recipients, vec!["+5511988887777"]);
        assert_eq!(m.direction, Direction::Outbound);
        assert_eq!(m.sent_at.to_string(), "2026-03-12T14:05:33Z");
        assert_eq!(m.text.as_deref(), Some("Olá"));
        assert_eq!(m.attachments[0].size, 1234);
        assert_eq!(m.extra.get("desk"), Some(&Value::String("fx".into())));
        assert_eq!(m.raw_digest, Digest::of(GOOD.as_bytes()));
        assert_eq!(m.external_party(), Some("+5511988887777"));
    }

    #[test]
    fn defaults_fill_optional_fields() {
        let m = parse(r#"{"channel":"sms","id":"1","from":"+2","to":["+1"],"sent_at":"2026-01-01T00:00:00Z","text":"hi"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(m.direction, Direction::Unknown);
        assert_eq!(m.conversation, "sms:+1,+2");
        assert!(parse("   \r\n").unwrap().is_none());
    }

    #[test]
    fn bad_fields_are_named() {
        check_error("channel", None, "channel", "is required");
        check_error("id", Some("\"\""), "id", "must not be empty");
        check_error(
            "from",
            Some("42"),
            "from",
            "expected a string, got a number",
        );
        check_error("sent_at", Some("\"yesterday\""), "sent_at", "RFC 3339");
        check_error(
            "direction",
            Some("\"sideways\""),
            "direction",
            "inbound, outbound or internal",
        );
        check_error("to", Some("[\"+1\", 5]"), "to[1]", "expected a string");
        check_error("to", Some("{}"), "to", "expected an array");
        check_error(
            "attachments",
            Some("[{\"media_type\":\"a/b\",\"size\":1}]"),
            "attachments[0].sha256",
            "is required",
        );
        check_error(
            "attachments",
            Some("[{\"media_type\":\"a/b\",\"size\":1,\"sha256\":\"abc\"}]"),
            "attachments[0].sha256",
            "64 hex digits",
        );
        check_error(
            "attachments",
            Some(
                "[{\"media_type\":\"a/b\",\"size\":-1,\"sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}]",
            ),
            "attachments[0].size",
            "byte count",
        );
    }

    #[test]
    fn text_or_attachments_is_required() {
        let err =
            parse(r#"{"channel":"sms","id":"1","from":"+2","sent_at":"2026-01-01T00:00:00Z"}"#)
                .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("text"));
        assert!(parse(r#"{"channel":"sms","id":"1","from":"+2","sent_at":"2026-01-01T00:00:00Z","attachments":[{"media_type":"image/png","sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":3}]}"#).unwrap().is_some());
    }

    #[test]
    fn broken_json_names_the_line_and_column() {
        let err = parse(r#"{"channel": "sms", "id": }"#).unwrap_err();
        assert_eq!(err.field, None);
        assert!(err.problem.contains("column"), "{err}");
        assert_eq!(err.to_string().split(':').next(), Some("line 7"));
        assert!(parse("[1,2]").unwrap_err().problem.contains("JSON object"));
    }

    #[test]
    fn check_lists_bad_lines_and_counts_good_ones() {
        let input = format!("{GOOD}\n\n{GOOD}\nnot json\n");
        let Err(Error::Invalid(errors)) = check(input.as_bytes()) else {
            panic!("expected invalid")
        };
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 4);
        assert_eq!(check(format!("{GOOD}\n\n{GOOD}").as_bytes()).unwrap(), 2);
    }

    #[test]
    fn append_imports_once_and_deduplicates_a_rerun() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::init(dir.path(), None, "test").unwrap();
        let second = GOOD.replace("src-123", "src-124");
        let input = format!("{GOOD}\n{second}\n{GOOD}\n");
        let report = append(&journal, input.as_bytes(), &mut |_| {}).unwrap();
        assert_eq!(
            report,
            ImportReport {
                messages: 3,
                added: 2,
                duplicates: 1
            }
        );
        let again = append(&journal, input.as_bytes(), &mut |_| {}).unwrap();
        assert_eq!(
            again,
            ImportReport {
                messages: 3,
                added: 0,
                duplicates: 3
            }
        );
        assert_eq!(journal.size(), 3, "init event and two messages");
    }
}
