//! Load files for review platforms: one row per message, as CSV
//! (RFC 4180: UTF-8, CRLF, fields quoted when they hold a comma, a quote or
//! a line break) and as JSON lines. [`COLUMNS`] names the fields in order;
//! list fields are `;`-joined in CSV and arrays in JSON.

use crate::export::{Ctx, event_digest};
use crate::plan::Thread;
use custos_model::{Direction, Event};
use serde::{Deserialize, Serialize};
use std::io::{self, Write};

/// The columns, in order.
pub const COLUMNS: [&str; 15] = [
    "bates",
    "journal_seq",
    "channel",
    "conversation",
    "sent_at",
    "from",
    "to",
    "direction",
    "custodians",
    "has_attachments",
    "attachment_names",
    "edited",
    "deleted",
    "files",
    "event_sha256",
];

/// One row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// Bates number.
    pub bates: String,
    /// Journal seq of the message.
    pub journal_seq: u64,
    /// Channel.
    pub channel: String,
    /// Conversation id.
    pub conversation: String,
    /// When sent, RFC 3339 UTC.
    pub sent_at: String,
    /// Sender's address.
    pub from: String,
    /// Recipients' addresses.
    pub to: Vec<String>,
    /// `inbound`, `outbound`, `internal` or `unknown`.
    pub direction: String,
    /// Display names of the custodians among sender and recipients.
    pub custodians: Vec<String>,
    /// Whether the message has attachments.
    pub has_attachments: bool,
    /// Attachment names (the file name, or the media type when unnamed).
    pub attachment_names: Vec<String>,
    /// Whether it was edited.
    pub edited: bool,
    /// Whether it was deleted at the source.
    pub deleted: bool,
    /// The export files that show it.
    pub files: Vec<String>,
    /// SHA-256 (hex) of the message event's stable encoding.
    pub event_sha256: String,
}

/// The direction's name.
pub fn direction_name(direction: Direction) -> &'static str {
    match direction {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
        Direction::Internal => "internal",
        Direction::Unknown => "unknown",
    }
}

/// The row of a thread (`event` is the message's own event).
fn row(ctx: &Ctx<'_>, t: &Thread<'_>, event: &Event) -> Row {
    let m = t.message;
    let mut custodians = Vec::new();
    for address in std::iter::once(&m.sender).chain(&m.recipients) {
        let person = ctx.person(address);
        if person.custodian && !custodians.iter().any(|c| c == person.display) {
            custodians.push(person.display.to_string());
        }
    }
    Row {
        bates: t.bates.clone(),
        journal_seq: t.seq,
        channel: m.channel.clone(),
        conversation: m.conversation.clone(),
        sent_at: m.sent_at.to_string(),
        from: m.sender.clone(),
        to: m.recipients.clone(),
        direction: direction_name(m.direction).to_string(),
        custodians,
        has_attachments: !m.attachments.is_empty(),
        attachment_names: m
            .attachments
            .iter()
            .map(|a| a.name.clone().unwrap_or_else(|| a.media_type.clone()))
            .collect(),
        edited: !t.edits.is_empty(),
        deleted: !t.deletions.is_empty(),
        files: ctx.files_of(t),
        // A digest of the original would let a reader test guesses of
        // what a redaction masks.
        event_sha256: if ctx.redaction().is_some() {
            String::new()
        } else {
            event_digest(event).to_string()
        },
    }
}

/// Every row, in Bates order.
fn rows<'c>(ctx: &'c Ctx<'_>) -> impl Iterator<Item = Row> + 'c {
    ctx.plan.threads.iter().map(move |t| {
        let event = &ctx
            .request
            .entries
            .binary_search_by_key(&t.seq, |e| e.seq)
            .map(|i| &ctx.request.entries[i].event)
            .expect("every thread comes from an entry");
        row(ctx, t, event)
    })
}

/// One CSV field, quoted if it needs to be.
fn field(out: &mut String, value: &str) {
    if value.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

/// The CSV fields of a row, in [`COLUMNS`] order.
pub fn csv_fields(row: &Row) -> [String; 15] {
    let flag = |b: bool| if b { "true" } else { "false" }.to_string();
    [
        row.bates.clone(),
        row.journal_seq.to_string(),
        row.channel.clone(),
        row.conversation.clone(),
        row.sent_at.clone(),
        row.from.clone(),
        row.to.join(";"),
        row.direction.clone(),
        row.custodians.join(";"),
        flag(row.has_attachments),
        row.attachment_names.join(";"),
        flag(row.edited),
        flag(row.deleted),
        row.files.join(";"),
        row.event_sha256.clone(),
    ]
}

/// Writes `loadfile.csv`.
pub fn write_csv(ctx: &Ctx<'_>, out: &mut impl Write) -> io::Result<()> {
    let mut line = String::with_capacity(512);
    line.push_str(&COLUMNS.join(","));
    line.push_str("\r\n");
    out.write_all(line.as_bytes())?;
    for row in rows(ctx) {
        line.clear();
        for (i, value) in csv_fields(&row).iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            field(&mut line, value);
        }
        line.push_str("\r\n");
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// Writes `loadfile.jsonl`.
pub fn write_jsonl(ctx: &Ctx<'_>, out: &mut impl Write) -> io::Result<()> {
    for row in rows(ctx) {
        serde_json::to_writer(&mut *out, &row)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Parses RFC 4180 CSV (CRLF or LF records) into records of fields, or
/// says at which line it cannot.
pub fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut value = String::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    value.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    value.push(c);
                }
                _ => value.push(c),
            }
            continue;
        }
        match c {
            '"' if at_start => {
                quoted = true;
                at_start = false;
            }
            '"' => return Err(format!("line {line}: a quote inside an unquoted field")),
            ',' => {
                record.push(std::mem::take(&mut value));
                at_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                record.push(std::mem::take(&mut value));
                records.push(std::mem::take(&mut record));
                line += 1;
                at_start = true;
            }
            _ => {
                value.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err(format!("line {line}: a quoted field is not closed"));
    }
    if !at_start || !value.is_empty() || !record.is_empty() {
        record.push(value);
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed_and_parse_back() {
        let mut line = String::new();
        for (i, v) in ["plain", "a,b", "say \"hi\"", "two\r\nlines", ""]
            .iter()
            .enumerate()
        {
            if i > 0 {
                line.push(',');
            }
            field(&mut line, v);
        }
        assert_eq!(line, "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\r\nlines\",");
        let parsed = parse_csv(&format!("{line}\r\nx,y\r\n")).unwrap();
        assert_eq!(
            parsed,
            [
                vec!["plain", "a,b", "say \"hi\"", "two\r\nlines", ""],
                vec!["x", "y"]
            ]
        );
        assert!(parse_csv("a\"b\r\n").unwrap_err().starts_with("line 1"));
        assert!(parse_csv("\"open\r\n").unwrap_err().contains("not closed"));
    }
}
