//! Compliance exports other chat platforms write: Actiance XML and the Global Relay EML flavour (as Mattermost writes them), into canonical events.
//!
//! Both come from Mattermost's compliance export
//! (`server/enterprise/message_export`: `actiance_export`,
//! `global_relay_export`); see `docs/imports/actiance.md` for the element
//! names and what each becomes.
//!
//! - **Actiance XML**: `FileDump` holds one `Conversation` per channel and
//!   period: `RoomID` (`type - name - channel id`), `StartTimeUTC`,
//!   `ParticipantEntered`/`ParticipantLeft` (`LoginName`, `UserType`,
//!   `DateTimeUTC`, `CorporateEmailID`), `Message` (`MessageId`,
//!   `LoginName`, `UserType`, `DateTimeUTC` in milliseconds, `Content`, and
//!   for changed posts `UpdatedType`, `UpdatedDateTimeUTC`,
//!   `EditedNewMsgId`; `PreviousContent` of older writers),
//!   `FileTransferStarted`/`Ended` (`LoginName`, `UserFileName`, `FileName`
//!   = the file's path in the export zip) and `EndTimeUTC`.
//! - **Global Relay EML**: one e-mail per channel and batch, marked
//!   `X-GlobalRelay-MsgType: Mattermost`, `X-Mattermost-ChannelID` /
//!   `-ChannelName` / `-ChannelType`; its HTML body lists participants in a
//!   table and messages as `<li class="message">` with `<span>`s
//!   (`post_id`, `sent_time`, `username`, `email`, `message`); files are
//!   MIME attachments, announced by an `Uploaded file NAME` row.
//!
//! A post becomes one [`Message`] whose source id is the post id, in both
//! formats, so the XML and the EML of the same posts are archived once; an
//! edit becomes an [`Edit`], a deletion a [`Deletion`]. Participants
//! entering and leaving are counted, not archived one by one. Nothing here
//! does I/O.

use crate::rsmf_import::{FileRef, Imported, ImportedEvent, Limits, firm_direction, unzip};
use custos_model::{Deletion, Digest, Edit, Event, Message, Timestamp};
use quick_xml::events::Event as Xml;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The header that marks the Global Relay flavour.
pub const GLOBAL_RELAY_HEADER: &str = "X-GlobalRelay-MsgType";

/// Which flavour a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Actiance (Smarsh) Vantage XML.
    ActianceXml,
    /// Global Relay EML, as Mattermost writes it.
    GlobalRelayEml,
    /// A zip of either (Mattermost's export batch), with the files.
    Zip,
}

/// A mistake in an export, with its place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {place}: {problem}")]
pub struct ActianceError {
    /// The file (a zip entry is `zip name/entry`).
    pub file: String,
    /// Where: `line 12 <Message>`, `message 3`, `header X-...`.
    pub place: String,
    /// What is wrong.
    pub problem: String,
}

/// What [`read`] needs beyond the bytes.
pub struct Options<'a> {
    /// The channel name of the events (`mattermost`).
    pub channel: String,
    /// When the import runs.
    pub captured_at: Timestamp,
    /// Whether an address belongs to the firm.
    pub is_firm: &'a dyn Fn(&str) -> bool,
}

/// A file read: its events and the files they name.
#[derive(Debug, Clone)]
pub struct Export {
    /// The flavour.
    pub format: Format,
    /// The events; [`FileRef::file`] names a key of `files`.
    pub imported: Imported,
    /// Attachment bytes by name.
    pub files: BTreeMap<String, Vec<u8>>,
}

/// Which flavour `bytes` are: a zip, Global Relay EML (the header), or
/// Actiance XML (a `FileDump` root); `None` if none.
pub fn detect(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return Some(Format::Zip);
    }
    let head = &bytes[..bytes.len().min(64 * 1024)];
    let head = String::from_utf8_lossy(head);
    if head.contains("<FileDump") {
        return Some(Format::ActianceXml);
    }
    let lower = head.to_ascii_lowercase();
    if lower.contains(&GLOBAL_RELAY_HEADER.to_ascii_lowercase()) {
        return Some(Format::GlobalRelayEml);
    }
    None
}

fn err(file: &str, place: impl Into<String>, problem: impl Into<String>) -> ActianceError {
    ActianceError {
        file: file.to_string(),
        place: place.into(),
        problem: problem.into(),
    }
}

/// Reads one export file named `name`: Actiance XML, Global Relay EML or a
/// zip of them (with the files the XML names at their paths).
pub fn read(
    name: &str,
    bytes: &[u8],
    options: &Options<'_>,
    limits: &Limits,
) -> Result<Export, ActianceError> {
    let format = detect(bytes).ok_or_else(|| {
        err(
            name,
            "start",
            "neither Actiance XML (a FileDump root), Global Relay EML (an X-GlobalRelay-MsgType header) nor a zip",
        )
    })?;
    let mut conversations = Vec::new();
    let mut files = BTreeMap::new();
    match format {
        Format::ActianceXml => conversations.extend(parse_xml(name, bytes)?),
        Format::GlobalRelayEml => {
            let (conv, attached) = parse_eml(name, bytes, "")?;
            conversations.push(conv);
            files.extend(attached);
        }
        Format::Zip => {
            let entries = unzip(bytes, limits).map_err(|p| err(name, "zip", p))?;
            let mut any = false;
            for (entry, data) in &entries {
                let shown = format!("{name}/{entry}");
                let lower = entry.to_ascii_lowercase();
                if lower.ends_with(".xml") && detect(data) == Some(Format::ActianceXml) {
                    conversations.extend(parse_xml(&shown, data)?);
                    any = true;
                } else if lower.ends_with(".eml") && detect(data) == Some(Format::GlobalRelayEml) {
                    let (conv, attached) = parse_eml(&shown, data, &format!("{entry}/"))?;
                    conversations.push(conv);
                    files.extend(attached);
                    any = true;
                }
            }
            if !any {
                return Err(err(
                    name,
                    "zip",
                    "holds no Actiance XML nor Global Relay EML file",
                ));
            }
            for (entry, data) in entries {
                files.entry(entry).or_insert(data);
            }
        }
    }
    let posts: usize = conversations.iter().map(|c| c.posts.len()).sum();
    if posts > limits.max_events {
        return Err(err(
            name,
            "whole file",
            format!("more than {} messages", limits.max_events),
        ));
    }
    let mut imported = Imported::default();
    for conv in &conversations {
        to_events(conv, options, &files, &mut imported)?;
    }
    Ok(Export {
        format,
        imported,
        files,
    })
}

/// A post as either flavour gives it.
#[derive(Debug, Default)]
struct Post {
    place: String,
    id: Option<String>,
    login: String,
    user_type: String,
    at: Option<Timestamp>,
    content: String,
    updated_type: String,
    updated_at: Option<Timestamp>,
    edited_new_msg_id: Option<String>,
    previous_content: Option<String>,
    /// (name shown, key in the files) of the files it carried.
    files: Vec<(String, String)>,
    /// Failed transfers and the like.
    notes: Vec<String>,
}

#[derive(Debug, Default)]
struct Conversation {
    file: String,
    channel_id: String,
    room: String,
    name: Option<String>,
    channel_type: Option<String>,
    members: Vec<String>,
    posts: Vec<Post>,
    skipped: BTreeMap<String, u64>,
}

/// An Actiance time: milliseconds when it is that large, else seconds
/// (Mattermost writes milliseconds; Actiance's own files seconds).
fn epoch(text: &str) -> Option<Timestamp> {
    let n: i64 = text.trim().parse().ok()?;
    let micros = if n.abs() >= 100_000_000_000 {
        n.checked_mul(1000)?
    } else {
        n.checked_mul(1_000_000)?
    };
    Some(Timestamp::from_micros(micros))
}

/// The channel id at the end of a RoomID (`private - name - id`).
fn channel_id_of(room: &str) -> String {
    room.rsplit(" - ").next().unwrap_or(room).trim().to_string()
}

const RECORDS: [&str; 5] = [
    "Message",
    "ParticipantEntered",
    "ParticipantLeft",
    "FileTransferStarted",
    "FileTransferEnded",
];

fn parse_xml(file: &str, bytes: &[u8]) -> Result<Vec<Conversation>, ActianceError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| err(file, format!("byte {}", e.valid_up_to()), "not UTF-8"))?;
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    // Lines counted from the last position asked for (positions only grow
    // while reading), so a big file is scanned once, not once per record.
    let counted = std::cell::Cell::new((0usize, 1usize));
    let line_of = |pos: u64| {
        let pos = (pos as usize).min(text.len());
        let (from, line) = match counted.get() {
            (at, line) if at <= pos => (at, line),
            _ => (0, 1),
        };
        let line = line
            + text.as_bytes()[from..pos]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
        counted.set((pos, line));
        line
    };
    let mut out: Vec<Conversation> = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut conv: Option<Conversation> = None;
    // The record being read: its kind, line and fields.
    let mut record: Option<(String, usize, BTreeMap<String, String>)> = None;
    let mut value = String::new();
    let mut saw_root = false;
    loop {
        let pos = reader.buffer_position();
        let event = reader.read_event().map_err(|e| {
            err(
                file,
                format!("line {}", line_of(reader.error_position())),
                e.to_string(),
            )
        })?;
        match event {
            Xml::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                match (stack.len(), name.as_str()) {
                    (0, "FileDump") => saw_root = true,
                    (0, other) => {
                        return Err(err(
                            file,
                            format!("line {}", line_of(pos)),
                            format!("the root is <{other}>, not <FileDump>"),
                        ));
                    }
                    (1, "Conversation") => {
                        let mut c = Conversation {
                            file: file.to_string(),
                            ..Conversation::default()
                        };
                        for a in e.attributes().flatten() {
                            if a.key.as_ref() == b"Perspective" {
                                c.name = a.unescape_value().ok().map(|v| v.into_owned());
                            }
                        }
                        conv = Some(c);
                    }
                    (2, kind) if RECORDS.contains(&kind) => {
                        record = Some((kind.to_string(), line_of(pos), BTreeMap::new()));
                    }
                    _ => {}
                }
                stack.push(name);
                value.clear();
            }
            Xml::Empty(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if let Some((_, _, fields)) = &mut record
                    && stack.len() == 3
                {
                    fields.insert(name, String::new());
                }
            }
            Xml::Text(t) => {
                let t = t
                    .decode()
                    .map_err(|e| err(file, format!("line {}", line_of(pos)), e.to_string()))?;
                value.push_str(&t);
            }
            Xml::CData(t) => {
                value.push_str(&String::from_utf8_lossy(&t));
            }
            Xml::GeneralRef(r) => {
                let place = || format!("line {}", line_of(pos));
                if let Some(c) = r
                    .resolve_char_ref()
                    .map_err(|e| err(file, place(), e.to_string()))?
                {
                    value.push(c);
                } else {
                    let name = r.decode().map_err(|e| err(file, place(), e.to_string()))?;
                    let resolved = quick_xml::escape::resolve_xml_entity(&name)
                        .ok_or_else(|| err(file, place(), format!("unknown entity &{name};")))?;
                    value.push_str(resolved);
                }
            }
            Xml::End(_) => {
                let name = stack.pop().unwrap_or_default();
                let depth = stack.len();
                match depth {
                    3 => {
                        if let Some((_, _, fields)) = &mut record {
                            fields.insert(name, std::mem::take(&mut value));
                        }
                    }
                    2 => {
                        let Some(c) = conv.as_mut() else { continue };
                        if let Some((kind, line, fields)) = record.take() {
                            add_record(c, &kind, line, fields)?;
                        } else if name == "RoomID" {
                            c.room = value.trim().to_string();
                            c.channel_id = channel_id_of(&c.room);
                        }
                    }
                    1 => {
                        if let Some(c) = conv.take() {
                            if c.room.is_empty() {
                                return Err(err(
                                    file,
                                    format!("line {} <Conversation>", line_of(pos)),
                                    "no RoomID",
                                ));
                            }
                            out.push(c);
                        }
                    }
                    _ => {}
                }
                value.clear();
            }
            Xml::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err(err(file, "line 1", "no <FileDump> root"));
    }
    if !stack.is_empty() {
        return Err(err(
            file,
            "end",
            format!("<{}> is not closed", stack.join("><")),
        ));
    }
    Ok(out)
}

fn add_record(
    c: &mut Conversation,
    kind: &str,
    line: usize,
    fields: BTreeMap<String, String>,
) -> Result<(), ActianceError> {
    let place = format!("line {line} <{kind}>");
    let get = |name: &str| fields.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let login = get("LoginName")
        .or_else(|| get("CorporateEmailID"))
        .map(str::to_lowercase)
        .ok_or_else(|| err(&c.file, &place, "no LoginName"))?;
    let time = |name: &str| -> Result<Option<Timestamp>, ActianceError> {
        match get(name) {
            None => Ok(None),
            Some(t) => epoch(t).map(Some).ok_or_else(|| {
                err(
                    &c.file,
                    format!("{place} <{name}>"),
                    format!("{t:?} is not a Unix time"),
                )
            }),
        }
    };
    match kind {
        "ParticipantEntered" | "ParticipantLeft" => {
            time("DateTimeUTC")?;
            if !c.members.contains(&login) {
                c.members.push(login);
            }
            *c.skipped.entry(kind.to_string()).or_default() += 1;
        }
        "Message" => {
            let at = time("DateTimeUTC")?.ok_or_else(|| err(&c.file, &place, "no DateTimeUTC"))?;
            c.posts.push(Post {
                place: place.clone(),
                id: get("MessageId").map(str::to_string),
                login,
                user_type: get("UserType").unwrap_or("user").to_string(),
                at: Some(at),
                content: fields.get("Content").cloned().unwrap_or_default(),
                updated_type: get("UpdatedType").unwrap_or_default().to_string(),
                updated_at: time("UpdatedDateTimeUTC")?,
                edited_new_msg_id: get("EditedNewMsgId").map(str::to_string),
                previous_content: fields.get("PreviousContent").cloned(),
                files: Vec::new(),
                notes: Vec::new(),
            });
        }
        _ => {
            // A file transfer belongs to the last post of its sender.
            time("DateTimeUTC")?;
            let path = get("FileName").or_else(|| get("UserFileName"));
            let Some(path) = path else {
                return Err(err(&c.file, &place, "no FileName"));
            };
            let shown = get("UserFileName").unwrap_or(path).to_string();
            let Some(post) = c.posts.iter_mut().rev().find(|p| p.login == login) else {
                *c.skipped
                    .entry(format!("{kind} without a message"))
                    .or_default() += 1;
                return Ok(());
            };
            if let Some(status) = get("Status")
                && status != "Completed"
            {
                post.notes.push(format!("transfer of {shown}: {status}"));
            }
            if !post.files.iter().any(|(_, p)| p == path) {
                post.files.push((shown, path.to_string()));
            }
        }
    }
    Ok(())
}

/// Text between `open` (from its `>`) and `close`, from `from` on; the
/// text and where the search may go on.
fn between<'t>(text: &'t str, from: usize, open: &str, close: &str) -> Option<(&'t str, usize)> {
    let start = from + text.get(from..)?.find(open)?;
    let body = start + text[start..].find('>')? + 1;
    let end = body + text[body..].find(close)?;
    Some((&text[body..end], end + close.len()))
}

/// The text of `<span class="NAME">` inside `item`, entities decoded.
fn span(item: &str, name: &str) -> Option<String> {
    between(item, 0, &format!("<span class=\"{name}\""), "</span>").map(|(t, _)| html_text(t))
}

fn cell(item: &str, name: &str) -> Option<String> {
    between(item, 0, &format!("<td class=\"{name}\""), "</td>").map(|(t, _)| html_text(t))
}

/// HTML text: tags dropped, entities decoded.
pub fn html_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find(['<', '&']) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if rest.starts_with('<') {
            if rest.starts_with("<br") {
                out.push('\n');
            }
            match rest.find('>') {
                Some(end) => rest = &rest[end + 1..],
                None => rest = "",
            }
            continue;
        }
        // A byte search: `;` is ASCII, so where it is found is a char boundary.
        let end = rest.as_bytes()[..rest.len().min(12)]
            .iter()
            .position(|b| *b == b';');
        let decoded = end.and_then(|end| {
            let name = &rest[1..end];
            let c = if let Some(n) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                u32::from_str_radix(n, 16).ok().and_then(char::from_u32)
            } else if let Some(n) = name.strip_prefix('#') {
                n.parse().ok().and_then(char::from_u32)
            } else {
                match name {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    "nbsp" => Some('\u{a0}'),
                    _ => None,
                }
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn parse_eml(
    file: &str,
    bytes: &[u8],
    prefix: &str,
) -> Result<(Conversation, BTreeMap<String, Vec<u8>>), ActianceError> {
    use mail_parser::MimeHeaders;
    let message = mail_parser::MessageParser::default()
        .parse(bytes)
        .ok_or_else(|| err(file, "start", "not an e-mail message (RFC 5322)"))?;
    let header = |name: &str| {
        message
            .header(name)
            .and_then(|v| v.as_text())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let kind = header(GLOBAL_RELAY_HEADER).ok_or_else(|| {
        err(
            file,
            format!("header {GLOBAL_RELAY_HEADER}"),
            "missing: not a Global Relay export",
        )
    })?;
    let channel_id = header("X-Mattermost-ChannelID")
        .ok_or_else(|| err(file, "header X-Mattermost-ChannelID", "missing"))?;
    let html = message
        .body_html(0)
        .ok_or_else(|| err(file, "body", "no HTML part"))?
        .into_owned();
    let mut c = Conversation {
        file: file.to_string(),
        room: channel_id.clone(),
        channel_id,
        name: header("X-Mattermost-ChannelName"),
        channel_type: header("X-Mattermost-ChannelType"),
        ..Conversation::default()
    };
    let _ = kind;
    // Participants: the rows of the participants table.
    if let Some((table, _)) = between(&html, 0, "<table class=\"participants\"", "</table>") {
        let mut at = 0;
        while let Some((row, next)) = between(table, at, "<tr", "</tr>") {
            at = next;
            if let Some(email) = cell(row, "email").map(|e| e.trim().to_lowercase())
                && !email.is_empty()
                && !c.members.contains(&email)
            {
                c.members.push(email);
            }
        }
    }
    let mut at = 0;
    let mut n = 0;
    let mut by_id: HashMap<String, usize> = HashMap::new();
    while let Some((item, next)) = between(&html, at, "<li class=\"message\"", "</li>") {
        at = next;
        n += 1;
        let place = format!("message {n}");
        let email = span(item, "email")
            .map(|e| {
                e.trim()
                    .trim_start_matches('(')
                    .trim_end_matches(')')
                    .trim()
                    .to_lowercase()
            })
            .filter(|e| !e.is_empty())
            .or_else(|| {
                span(item, "username").map(|u| u.trim().trim_start_matches('@').to_string())
            })
            .ok_or_else(|| err(file, &place, "no email nor username"))?;
        let sent = span(item, "sent_time").ok_or_else(|| err(file, &place, "no sent_time"))?;
        let at_time = Timestamp::parse(sent.trim())
            .map_err(|e| err(file, format!("{place} sent_time"), e.to_string()))?;
        let content = span(item, "message").unwrap_or_default();
        let id = span(item, "post_id")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        // An implicit row naming a file the post carried.
        if let (Some(id), Some(name)) = (&id, content.strip_prefix("Uploaded file "))
            && let Some(&k) = by_id.get(id)
        {
            let name = name.trim().to_string();
            c.posts[k]
                .files
                .push((name.clone(), format!("{prefix}{name}")));
            *c.skipped.entry("uploaded file rows".into()).or_default() += 1;
            continue;
        }
        if let Some(id) = &id {
            by_id.insert(id.clone(), c.posts.len());
        }
        let update_time = span(item, "update_time").and_then(|t| Timestamp::parse(t.trim()).ok());
        c.posts.push(Post {
            place,
            id,
            login: email,
            user_type: span(item, "usertype").unwrap_or_else(|| "user".into()),
            at: Some(at_time),
            content,
            updated_type: span(item, "update_type")
                .unwrap_or_default()
                .trim()
                .to_string(),
            updated_at: update_time,
            edited_new_msg_id: span(item, "edited_new_msg_id").filter(|s| !s.trim().is_empty()),
            previous_content: None,
            files: Vec::new(),
            notes: Vec::new(),
        });
    }
    let mut files = BTreeMap::new();
    for a in message.attachments() {
        if let Some(name) = a.attachment_name() {
            files.insert(format!("{prefix}{name}"), a.contents().to_vec());
        }
    }
    Ok((c, files))
}

/// The posts of a conversation as events; see the module docs.
fn to_events(
    c: &Conversation,
    options: &Options<'_>,
    files: &BTreeMap<String, Vec<u8>>,
    out: &mut Imported,
) -> Result<(), ActianceError> {
    for (k, v) in &c.skipped {
        *out.skipped.entry(k.clone()).or_default() += v;
    }
    let conversation = format!("{}:{}", options.channel, c.channel_id);
    let mut members: Vec<&str> = c.members.iter().map(String::as_str).collect();
    for p in &c.posts {
        if !members.contains(&p.login.as_str()) {
            members.push(&p.login);
        }
    }
    let id_of = |p: &Post| -> (String, Digest) {
        let raw = format!(
            "{}\0{}\0{}\0{}\0{}",
            c.channel_id,
            p.login,
            p.at.map_or(0, |t| t.as_micros()),
            p.updated_type,
            p.content
        );
        let digest = Digest::of(raw.as_bytes());
        let id = match (&p.updated_type[..], &p.edited_new_msg_id, &p.id) {
            ("EditedOriginalMsg", Some(target), _) => target.clone(),
            (_, _, Some(id)) => id.clone(),
            _ => format!("{}:sha256:{digest}", c.channel_id),
        };
        (id, digest)
    };
    // The text first sent, per post: the copy of the earliest edit.
    let mut first: HashMap<String, (Timestamp, &str)> = HashMap::new();
    let mut copies: HashMap<String, Vec<(Timestamp, &str)>> = HashMap::new();
    let mut final_text: HashMap<String, &str> = HashMap::new();
    for p in &c.posts {
        let (id, _) = id_of(p);
        match p.updated_type.as_str() {
            "EditedOriginalMsg" => {
                let when = p.updated_at.or(p.at).unwrap_or(Timestamp::from_micros(0));
                copies
                    .entry(id.clone())
                    .or_default()
                    .push((when, &p.content));
                let e = first.entry(id).or_insert((when, &p.content));
                if when < e.0 {
                    *e = (when, &p.content);
                }
            }
            "EditedNewMsg" => {
                final_text.insert(id, &p.content);
            }
            _ => {
                if let Some(prev) = &p.previous_content {
                    first
                        .entry(id)
                        .or_insert((Timestamp::from_micros(i64::MIN), prev));
                }
            }
        }
    }
    for list in copies.values_mut() {
        list.sort_by_key(|(t, _)| *t);
    }

    let mut emitted: HashSet<String> = HashSet::new();
    let mut subjects: HashMap<String, Option<String>> = HashMap::new();
    for p in &c.posts {
        let (id, digest) = id_of(p);
        let at = p.at.unwrap_or(options.captured_at);
        if p.updated_type == "FileDeleted" {
            *out.skipped.entry("file deletions".into()).or_default() += 1;
            continue;
        }
        if emitted.insert(id.clone()) {
            let text = match first.get(&id) {
                Some((_, t)) => t.to_string(),
                None if p.updated_type == "Deleted" => p
                    .content
                    .strip_prefix("delete ")
                    .unwrap_or(&p.content)
                    .to_string(),
                None => p.content.clone(),
            };
            let mut recipients: Vec<String> = members
                .iter()
                .filter(|m| **m != p.login)
                .map(|m| m.to_string())
                .collect();
            recipients.sort_by_key(|r| (options.is_firm)(r));
            let direction = firm_direction(&p.login, &recipients, None, options.is_firm);
            let mut extra = Map::new();
            extra.insert(
                "conversation_name".into(),
                c.name.clone().unwrap_or_default().into(),
            );
            extra.insert("room".into(), c.room.clone().into());
            if let Some(t) = &c.channel_type {
                extra.insert("channel_type".into(), t.clone().into());
            }
            extra.insert("user_type".into(), p.user_type.clone().into());
            extra.insert("source_file".into(), c.file.clone().into());
            extra.insert("source_place".into(), p.place.clone().into());
            if !p.notes.is_empty() {
                extra.insert("notes".into(), p.notes.clone().into());
            }
            if !first.contains_key(&id) && p.updated_type == "EditedNewMsg" {
                extra.insert("text_is_after_edit".into(), true.into());
            }
            let mut refs = Vec::new();
            let mut missing = Vec::new();
            for (name, key) in &p.files {
                if files.contains_key(key) {
                    refs.push(FileRef {
                        file: key.clone(),
                        name: Some(name.clone()),
                    });
                } else {
                    missing.push(serde_json::json!({"name": name, "path": key}));
                }
            }
            if !missing.is_empty() {
                extra.insert("attachments_missing".into(), Value::Array(missing));
            }
            let message = Message {
                channel: options.channel.clone(),
                source_id: id.clone(),
                conversation: conversation.clone(),
                sender: p.login.clone(),
                recipients,
                direction,
                sent_at: at,
                captured_at: options.captured_at,
                text: Some(text),
                attachments: Vec::new(),
                reply_to: None,
                raw_digest: digest,
                extra,
            };
            let subject = message.external_party().map(str::to_string);
            subjects.insert(id.clone(), subject.clone());
            out.events.push(ImportedEvent {
                event: Event::Message(message),
                subject,
                files: refs,
            });
            out.messages += 1;
        }
        let subject = subjects.get(&id).cloned().flatten();
        let when = p.updated_at.unwrap_or(at);
        let mut edit = |text: &str, when: Timestamp| {
            let source_id = format!("{id}:edit:{}", when.as_micros());
            if emitted.insert(source_id.clone()) {
                out.events.push(ImportedEvent {
                    event: Event::Edit(Edit {
                        channel: options.channel.clone(),
                        source_id,
                        target: id.clone(),
                        editor: p.login.clone(),
                        edited_at: when,
                        captured_at: options.captured_at,
                        text: text.to_string(),
                        raw_digest: digest,
                    }),
                    subject: subject.clone(),
                    files: Vec::new(),
                });
            }
        };
        match p.updated_type.as_str() {
            "EditedOriginalMsg" => {
                // This copy holds the text before the edit made at `when`;
                // the text after it is the next copy's, or the final one.
                let list = copies.get(&id).map(Vec::as_slice).unwrap_or_default();
                let next = list.iter().find(|(t, _)| *t > when).map(|(_, t)| *t);
                if let Some(after) = next.or_else(|| final_text.get(&id).copied()) {
                    edit(after, when);
                }
            }
            "EditedNewMsg" if !copies.contains_key(&id) => edit(&p.content, when),
            "Deleted" => {
                let source_id = format!("{id}:deleted");
                if emitted.insert(source_id.clone()) {
                    out.events.push(ImportedEvent {
                        event: Event::Deletion(Deletion {
                            channel: options.channel.clone(),
                            source_id,
                            target: id.clone(),
                            deleted_by: p.login.clone(),
                            deleted_at: when,
                            captured_at: options.captured_at,
                            raw_digest: digest,
                        }),
                        subject,
                        files: Vec::new(),
                    });
                }
            }
            _ if p.previous_content.is_some() => edit(&p.content, when),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &[u8] = include_bytes!("../tests/fixtures/actiance/actiance_export.xml");
    const EML: &[u8] = include_bytes!("../tests/fixtures/actiance/globalrelay.eml");

    fn firm(a: &str) -> bool {
        a.ends_with("@firm.example")
    }

    fn options() -> Options<'static> {
        Options {
            channel: "mattermost".into(),
            captured_at: Timestamp::from_micros(1),
            is_firm: &firm,
        }
    }

    fn kinds(imported: &Imported) -> Vec<&'static str> {
        imported
            .events
            .iter()
            .map(|e| e.event.kind().name())
            .collect()
    }

    #[test]
    fn actiance_xml_posts_edits_deletions_and_files() {
        let export = read("actiance_export.xml", XML, &options(), &Limits::default()).unwrap();
        assert_eq!(export.format, Format::ActianceXml);
        let imported = &export.imported;
        assert_eq!(
            kinds(imported),
            [
                "message", "message", "edit", "message", "deletion", "message"
            ]
        );
        assert_eq!(imported.messages, 4);
        assert_eq!(imported.skipped.get("ParticipantEntered"), Some(&3));
        let Event::Message(m) = &imported.events[0].event else {
            panic!()
        };
        assert_eq!(m.source_id, "p1");
        assert_eq!(m.conversation, "mattermost:ch1");
        assert_eq!(m.sender, "ana@firm.example");
        assert_eq!(m.recipients, ["client@other.example", "bob@firm.example"]);
        assert_eq!(m.direction, custos_model::Direction::Outbound);
        assert_eq!(m.sent_at.to_string(), "2024-06-10T07:10:56.123Z");
        assert_eq!(m.text.as_deref(), Some("Rates <today> & \"tomorrow\""));
        assert_eq!(
            imported.events[0].subject.as_deref(),
            Some("client@other.example")
        );
        assert_eq!(m.extra["conversation_name"], "Rates desk");
        // Edited: the copy holds the text first sent, the post the new text.
        let Event::Message(m2) = &imported.events[1].event else {
            panic!()
        };
        assert_eq!(
            (m2.source_id.as_str(), m2.text.as_deref()),
            ("p2", Some("price is 101"))
        );
        let Event::Edit(e) = &imported.events[2].event else {
            panic!()
        };
        assert_eq!((e.target.as_str(), e.text.as_str()), ("p2", "price is 102"));
        assert_eq!(e.edited_at.to_string(), "2024-06-10T07:20:00Z");
        let Event::Message(m3) = &imported.events[3].event else {
            panic!()
        };
        assert_eq!(
            (m3.text.as_deref(), m3.direction),
            (Some("please delete this"), custos_model::Direction::Inbound)
        );
        let Event::Deletion(d) = &imported.events[4].event else {
            panic!()
        };
        assert_eq!(d.target, "p3");
        // The file transfer belongs to the post before it; not in a bare XML.
        let Event::Message(m4) = &imported.events[5].event else {
            panic!()
        };
        assert_eq!(m4.extra["attachments_missing"][0]["name"], "report.pdf");
        // A zip gives the file.
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        zip.start_file("actiance_export.xml", opts).unwrap();
        std::io::Write::write_all(&mut zip, XML).unwrap();
        zip.start_file("20240610/teams/t1/channels/ch1/report.pdf", opts)
            .unwrap();
        std::io::Write::write_all(&mut zip, b"%PDF").unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let export = read("batch.zip", &bytes, &options(), &Limits::default()).unwrap();
        let last = export.imported.events.last().unwrap();
        assert_eq!(last.files[0].name.as_deref(), Some("report.pdf"));
        assert_eq!(export.files[&last.files[0].file], b"%PDF");
    }

    #[test]
    fn global_relay_eml_rows_become_the_same_posts() {
        let export = read("gr.eml", EML, &options(), &Limits::default()).unwrap();
        assert_eq!(export.format, Format::GlobalRelayEml);
        let imported = &export.imported;
        assert_eq!(kinds(imported), ["message", "message"]);
        let Event::Message(m) = &imported.events[0].event else {
            panic!()
        };
        assert_eq!(m.source_id, "p1");
        assert_eq!(m.conversation, "mattermost:ch1");
        assert_eq!(m.sender, "ana@firm.example");
        assert_eq!(m.sent_at.to_string(), "2024-06-10T07:10:56Z");
        assert_eq!(m.text.as_deref(), Some("Rates <today> & \"tomorrow\""));
        assert_eq!(m.recipients, ["client@other.example", "bob@firm.example"]);
        let files = &imported.events[1].files;
        assert_eq!(files[0].name.as_deref(), Some("report.pdf"));
        assert_eq!(export.files[&files[0].file], b"%PDF-1.4 report\n");
        assert_eq!(imported.skipped.get("uploaded file rows"), Some(&1));
    }

    #[test]
    fn mistakes_name_file_and_place() {
        let bad = String::from_utf8_lossy(XML).replace(
            "<DateTimeUTC>1718003456123</DateTimeUTC>",
            "<DateTimeUTC>soon</DateTimeUTC>",
        );
        let e = read("x.xml", bad.as_bytes(), &options(), &Limits::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.xml: line 24 <Message> <DateTimeUTC>: \"soon\" is not a Unix time"
        );
        let e = read(
            "x.xml",
            b"<FileDump><Conversation><RoomID>r</RoomID>",
            &options(),
            &Limits::default(),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("x.xml: end: "), "{e}");
        let e = read(
            "x.xml",
            b"<FileDump><Conversation><RoomID>r</Room></Conversation></FileDump>",
            &options(),
            &Limits::default(),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("x.xml: line 1: "), "{e}");
        let e = read("x.txt", b"hello", &options(), &Limits::default()).unwrap_err();
        assert!(e.to_string().starts_with("x.txt: start: neither"), "{e}");
        let bad = String::from_utf8_lossy(EML).replace("2024-06-10T07:10:56Z", "noon");
        let e = read("g.eml", bad.as_bytes(), &options(), &Limits::default()).unwrap_err();
        assert!(
            e.to_string().starts_with("g.eml: message 1 sent_time: "),
            "{e}"
        );
        let limits = Limits {
            max_events: 2,
            ..Limits::default()
        };
        let e = read("x.xml", XML, &options(), &limits).unwrap_err();
        assert_eq!(e.to_string(), "x.xml: whole file: more than 2 messages");
    }

    #[test]
    fn html_text_decodes_entities_and_drops_tags() {
        assert_eq!(
            html_text("a &amp; b &lt;c&gt; &#39;d&#x27; &bogus; <b>e</b>"),
            "a & b <c> 'd' &bogus; e"
        );
        assert_eq!(html_text("&"), "&");
        assert_eq!(html_text("x<br>y"), "x\ny");
        // Fuzzer find: a multi-byte character where an entity could end.
        assert_eq!(html_text("&aaaaaaaaa\u{20ac}x"), "&aaaaaaaaa\u{20ac}x");
    }
}
