//! Importing RSMF 2.0 files (Relativity Short Message Format) another archive produced: the `.rsmf` e-mail, its `rsmf.zip` and manifest, into canonical events.
//!
//! An `.rsmf` file is an RFC 5322 message with an `X-RSMF-Version` header
//! and one attachment, `rsmf.zip`, holding `rsmf_manifest.json` and every
//! file the manifest names. [`read`] unpacks it (no schema check: the
//! caller validates [`RsmfFile::manifest`] against the RSMF schema, which
//! lives in `custos-export`); [`events`] maps the manifest to canonical
//! events:
//!
//! - participants become addresses: the e-mail (lower-cased), else the
//!   `account_id` (reduced by [`custos_model::party_id`]), else
//!   `rsmf:<participant id>`;
//! - a conversation becomes `rsmf:<collection>:<conversation id>` and its
//!   `platform`, lower-cased, the channel; the collection is the manifest's
//!   `eventcollectionid`, else the `X-RSMF-EventCollectionID` header, else
//!   the file name;
//! - a `message` event becomes a [`Message`] whose source id is its
//!   `custom` `source_id` (or `wamid`) when it has one (custos's own exports
//!   carry it, so re-importing our own export adds nothing), else
//!   `<collection>:<event id>`, else `<collection>:sha256:<digest of the
//!   event's JSON>`; `parent` becomes `reply_to`; `edits[]`, `deleted`,
//!   `reactions[]` and `read_receipts[]` become [`Edit`], [`Deletion`],
//!   [`Reaction`] and [`DeliveryStatus`] events targeting it;
//! - `join`, `leave`, `disclaimer`, `history` and `unknown` events are
//!   counted by type in [`Imported::skipped`], not archived one by one.
//!
//! Nothing here does I/O; sizes are capped by [`Limits`].

use custos_model::{
    Deletion, DeliveryState, DeliveryStatus, Digest, Direction, Edit, Event, Message, Reaction,
    Timestamp, party_id,
};
use serde_json::{Map as Extra, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;

/// The manifest's name in `rsmf.zip`.
pub const MANIFEST: &str = "rsmf_manifest.json";
/// The name of the zip attachment in the `.rsmf` e-mail.
pub const ZIP_NAME: &str = "rsmf.zip";

/// Caps on what a file may unpack to.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Entries in a zip, at most.
    pub max_entries: usize,
    /// Bytes unpacked from a zip, at most (all entries together).
    pub max_total_bytes: u64,
    /// Events in a manifest, at most.
    pub max_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 100_000,
            max_total_bytes: 4 << 30,
            max_events: 1_000_000,
        }
    }
}

/// Why an RSMF file cannot be imported; each names the place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RsmfError {
    /// The file is not an RFC 5322 message.
    #[error("not an e-mail message (RFC 5322)")]
    NotEmail,
    /// The required header is missing.
    #[error("header X-RSMF-Version is missing: not an RSMF file")]
    NoVersion,
    /// The `rsmf.zip` attachment is missing.
    #[error("the attachment rsmf.zip is missing")]
    NoZip,
    /// The zip cannot be read.
    #[error("{zip}: {problem}")]
    Zip {
        /// Which zip (`rsmf.zip`, or the file).
        zip: String,
        /// What is wrong, naming the entry when one is to blame.
        problem: String,
    },
    /// `rsmf_manifest.json` is missing from the zip.
    #[error("rsmf.zip has no rsmf_manifest.json at its root")]
    NoManifest,
    /// The manifest is not JSON.
    #[error("rsmf_manifest.json line {line} column {column}: {problem}")]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the JSON parser said.
        problem: String,
    },
    /// A field of the manifest is missing or wrong.
    #[error("rsmf_manifest.json {path}: {problem}")]
    Field {
        /// JSON pointer of the field (`/events/3/timestamp`).
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// Too many events.
    #[error("rsmf_manifest.json has more than {max} events")]
    TooManyEvents {
        /// The cap.
        max: usize,
    },
}

/// An `.rsmf` file unpacked.
#[derive(Debug, Clone)]
pub struct RsmfFile {
    /// `X-RSMF-Version`.
    pub version: String,
    /// `X-RSMF-EventCollectionID`, when given.
    pub collection_header: Option<String>,
    /// `X-RSMF-BeginDate`, when given and valid.
    pub begin: Option<Timestamp>,
    /// The manifest, parsed as JSON but not yet checked.
    pub manifest: Value,
    /// Every other file of the zip by its name (`/`-separated).
    pub files: BTreeMap<String, Vec<u8>>,
}

/// Unpacks a zip's files by name, refusing names that leave the archive,
/// links and encrypted entries, and stopping at `limits`.
pub fn unzip(bytes: &[u8], limits: &Limits) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| e.to_string())?;
    if archive.len() > limits.max_entries {
        return Err(format!("more than {} entries", limits.max_entries));
    }
    let mut files = BTreeMap::new();
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| e.to_string())?;
        let shown = String::from_utf8_lossy(entry.name_raw()).into_owned();
        let absolute = shown.starts_with(['/', '\\']) || shown.get(1..2) == Some(":");
        let Some(path) = entry.enclosed_name().filter(|_| !absolute) else {
            return Err(format!("entry {shown:?}: unsafe name"));
        };
        if entry.is_dir() {
            continue;
        }
        if entry.is_symlink() || entry.encrypted() {
            return Err(format!("entry {shown:?}: a link or encrypted"));
        }
        let name = path
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let room = limits.max_total_bytes.saturating_sub(total);
        let mut data = Vec::new();
        (&mut entry)
            .take(room + 1)
            .read_to_end(&mut data)
            .map_err(|e| format!("entry {shown:?}: {e}"))?;
        if data.len() as u64 > room {
            return Err(format!(
                "entry {shown:?}: more than {} bytes unpacked",
                limits.max_total_bytes
            ));
        }
        total += data.len() as u64;
        if files.insert(name, data).is_some() {
            return Err(format!("entry {shown:?}: named twice"));
        }
    }
    Ok(files)
}

fn header_text(message: &mail_parser::Message<'_>, name: &str) -> Option<String> {
    let value = message
        .header(name)
        .and_then(|v| v.as_text().map(str::to_string))
        .or_else(|| message.header_raw(name).map(str::to_string))?;
    let value = value.trim().to_string();
    (!value.is_empty()).then_some(value)
}

/// Parses `rsmf_manifest.json` (a leading byte-order mark is allowed).
pub fn parse_manifest(bytes: &[u8]) -> Result<Value, RsmfError> {
    serde_json::from_slice(bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes)).map_err(|e| {
        RsmfError::Json {
            line: e.line(),
            column: e.column(),
            problem: e.to_string(),
        }
    })
}

/// Reads an `.rsmf` file: the headers, `rsmf.zip` and its manifest.
pub fn read(bytes: &[u8], limits: &Limits) -> Result<RsmfFile, RsmfError> {
    let message = mail_parser::MessageParser::default()
        .parse(bytes)
        .ok_or(RsmfError::NotEmail)?;
    let version = header_text(&message, "X-RSMF-Version").ok_or(RsmfError::NoVersion)?;
    use mail_parser::MimeHeaders;
    let zip = message
        .attachments()
        .find(|a| {
            a.attachment_name()
                .is_some_and(|n| n.eq_ignore_ascii_case(ZIP_NAME))
        })
        .ok_or(RsmfError::NoZip)?;
    let mut files = unzip(zip.contents(), limits).map_err(|problem| RsmfError::Zip {
        zip: ZIP_NAME.into(),
        problem,
    })?;
    let manifest_bytes = files.remove(MANIFEST).ok_or(RsmfError::NoManifest)?;
    let manifest = parse_manifest(&manifest_bytes)?;
    Ok(RsmfFile {
        version,
        collection_header: header_text(&message, "X-RSMF-EventCollectionID"),
        begin: header_text(&message, "X-RSMF-BeginDate").and_then(|t| parse_time(&t)),
        manifest,
        files,
    })
}

/// What [`events`] needs beyond the file.
pub struct Options<'a> {
    /// The file's name: the collection when the file names none.
    pub source_name: String,
    /// When the import runs.
    pub captured_at: Timestamp,
    /// Whether an address belongs to the firm (a custodian, a firm domain).
    pub is_firm: &'a dyn Fn(&str) -> bool,
}

/// A file an imported message names, to be stored as a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// Its name in the input (a zip entry, an e-mail attachment).
    pub file: String,
    /// The name shown to people.
    pub name: Option<String>,
}

/// One canonical event and what the importer must do for it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedEvent {
    /// The event (a message's attachments are filled in from `files`).
    pub event: Event,
    /// The subject whose key seals it: the external party of the message
    /// (of the target message, for edits and the like).
    pub subject: Option<String>,
    /// Files to store before the message is appended.
    pub files: Vec<FileRef>,
}

/// Everything a file yields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Imported {
    /// Events in order: each message, then what targets it.
    pub events: Vec<ImportedEvent>,
    /// Messages among them.
    pub messages: u64,
    /// What was read but not archived, counted by kind (`join`, ...).
    pub skipped: BTreeMap<String, u64>,
}

fn field(path: impl Into<String>, problem: impl Into<String>) -> RsmfError {
    RsmfError::Field {
        path: path.into(),
        problem: problem.into(),
    }
}

fn text<'v>(value: &'v Value, name: &str) -> Option<&'v str> {
    value.get(name).and_then(Value::as_str)
}

fn array<'v>(value: &'v Value, name: &str, path: &str) -> Result<&'v [Value], RsmfError> {
    match value.get(name) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(field(format!("{path}/{name}"), "must be an array")),
    }
}

fn time(value: &Value, name: &str, path: &str) -> Result<Option<Timestamp>, RsmfError> {
    match value.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(t)) => parse_time(t).map(Some).ok_or_else(|| {
            field(
                format!("{path}/{name}"),
                format!("{t:?} is not an ISO 8601 date-time"),
            )
        }),
        Some(_) => Err(field(
            format!("{path}/{name}"),
            "must be a date-time string",
        )),
    }
}

/// An ISO 8601 date-time: with an offset, or without one (as Relativity's
/// own samples write them), then taken as UTC.
pub fn parse_time(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(t) = Timestamp::parse(text) {
        return Some(t);
    }
    let civil: jiff::civil::DateTime = text.parse().ok()?;
    let ts = jiff::tz::Offset::UTC.to_timestamp(civil).ok()?;
    Some(Timestamp::from_micros(ts.as_microsecond()))
}

fn custom<'v>(event: &'v Value, name: &str) -> Option<&'v str> {
    event
        .get("custom")?
        .as_array()?
        .iter()
        .find(|c| text(c, "name") == Some(name))
        .and_then(|c| text(c, "value"))
}

struct Person {
    address: String,
    display: Option<String>,
}

/// Maps the manifest of `file` to canonical events; see the module docs.
pub fn events(
    file: &RsmfFile,
    options: &Options<'_>,
    limits: &Limits,
) -> Result<Imported, RsmfError> {
    let m = &file.manifest;
    if !m.is_object() {
        return Err(field("/", "the manifest must be an object"));
    }
    let collection = text(m, "eventcollectionid")
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .or_else(|| file.collection_header.clone())
        .unwrap_or_else(|| options.source_name.clone());

    let mut people: HashMap<&str, Person> = HashMap::new();
    for (i, p) in array(m, "participants", "")?.iter().enumerate() {
        let path = format!("/participants/{i}");
        let id =
            text(p, "id").ok_or_else(|| field(format!("{path}/id"), "missing or not a string"))?;
        let address = match (text(p, "email"), text(p, "account_id")) {
            (Some(e), _) if !e.trim().is_empty() => e.trim().to_lowercase(),
            (_, Some(a)) if !a.trim().is_empty() => party_id(a),
            _ => format!("rsmf:{id}"),
        };
        let person = Person {
            address,
            display: text(p, "display").map(str::to_string),
        };
        if people.insert(id, person).is_some() {
            return Err(field(
                format!("{path}/id"),
                format!("participant {id:?} is defined twice"),
            ));
        }
    }
    let person = |id: &str, path: String| -> Result<&Person, RsmfError> {
        people
            .get(id)
            .ok_or_else(|| field(path, format!("participant {id:?} is not defined")))
    };

    struct Conv<'m> {
        channel: String,
        id: String,
        members: Vec<&'m str>,
        custodian: Option<&'m str>,
        display: Option<&'m str>,
    }
    let mut conversations: HashMap<&str, Conv> = HashMap::new();
    for (i, c) in array(m, "conversations", "")?.iter().enumerate() {
        let path = format!("/conversations/{i}");
        let id =
            text(c, "id").ok_or_else(|| field(format!("{path}/id"), "missing or not a string"))?;
        let platform = text(c, "platform")
            .ok_or_else(|| field(format!("{path}/platform"), "missing or not a string"))?;
        let mut members = Vec::new();
        for (k, p) in array(c, "participants", &path)?.iter().enumerate() {
            let p_path = format!("{path}/participants/{k}");
            let p = p
                .as_str()
                .ok_or_else(|| field(&p_path, "must be a string"))?;
            members.push(person(p, p_path)?.address.as_str());
        }
        let custodian = match text(c, "custodian") {
            Some(p) => Some(person(p, format!("{path}/custodian"))?.address.as_str()),
            None => None,
        };
        let conv = Conv {
            channel: platform.trim().to_lowercase(),
            id: format!("rsmf:{collection}:{id}"),
            members,
            custodian,
            display: text(c, "display"),
        };
        if conversations.insert(id, conv).is_some() {
            return Err(field(
                format!("{path}/id"),
                format!("conversation {id:?} is defined twice"),
            ));
        }
    }

    let list = array(m, "events", "")?;
    if list.len() > limits.max_events {
        return Err(RsmfError::TooManyEvents {
            max: limits.max_events,
        });
    }
    // Source ids first, so a reply can name a parent that comes later.
    let mut ids: HashMap<&str, String> = HashMap::new();
    for e in list {
        if let Some(id) = text(e, "id") {
            ids.insert(id, source_id_of(e, &collection));
        }
    }

    let mut out = Imported::default();
    for (i, e) in list.iter().enumerate() {
        let path = format!("/events/{i}");
        let kind = text(e, "type")
            .ok_or_else(|| field(format!("{path}/type"), "missing or not a string"))?;
        if kind != "message" {
            *out.skipped.entry(kind.to_string()).or_default() += 1;
            continue;
        }
        let raw = serde_json::to_vec(e).unwrap_or_default();
        let raw_digest = Digest::of(&raw);
        let source_id = match text(e, "id") {
            Some(id) => ids[id].clone(),
            None => format!("{collection}:sha256:{raw_digest}"),
        };
        let c_id = text(e, "conversation").ok_or_else(|| {
            field(
                format!("{path}/conversation"),
                "a message needs its conversation",
            )
        })?;
        let conv = conversations.get(c_id).ok_or_else(|| {
            field(
                format!("{path}/conversation"),
                format!("conversation {c_id:?} is not defined"),
            )
        })?;
        let p_id = text(e, "participant")
            .ok_or_else(|| field(format!("{path}/participant"), "a message needs its sender"))?;
        let sender = person(p_id, format!("{path}/participant"))?.address.clone();
        let sent_at = time(e, "timestamp", &path)?.or(file.begin).ok_or_else(|| {
            field(
                format!("{path}/timestamp"),
                "a message needs a timestamp (and the file has no X-RSMF-BeginDate)",
            )
        })?;

        // Recipients: the other members, external parties first.
        let mut recipients: Vec<String> = Vec::new();
        for a in &conv.members {
            if *a != sender && !recipients.iter().any(|r| r == a) {
                recipients.push(a.to_string());
            }
        }
        recipients.sort_by_key(|r| (options.is_firm)(r));
        let direction = match text(e, "direction") {
            Some("incoming") => Direction::Inbound,
            Some("outgoing") => Direction::Outbound,
            _ => firm_direction(&sender, &recipients, conv.custodian, options.is_firm),
        };

        let mut extra = Extra::new();
        extra.insert("rsmf_collection".into(), collection.clone().into());
        if let Some(id) = text(e, "id") {
            extra.insert("rsmf_event_id".into(), id.into());
        }
        if let Some(d) = conv.display {
            extra.insert("conversation_name".into(), d.into());
        }
        if let Some(imp) = text(e, "importance") {
            extra.insert("importance".into(), imp.into());
        }
        if let Some(c) = e.get("custom") {
            extra.insert("rsmf_custom".into(), c.clone());
        }
        let mut files = Vec::new();
        let mut missing = Vec::new();
        for (k, a) in array(e, "attachments", &path)?.iter().enumerate() {
            let a_path = format!("{path}/attachments/{k}");
            let id = text(a, "id")
                .ok_or_else(|| field(format!("{a_path}/id"), "missing or not a string"))?;
            if file.files.contains_key(id) {
                files.push(FileRef {
                    file: id.to_string(),
                    name: Some(text(a, "display").unwrap_or(id).to_string()),
                });
            } else {
                missing.push(a.clone());
            }
        }
        if !missing.is_empty() {
            extra.insert("attachments_missing".into(), Value::Array(missing));
        }
        let reply_to = text(e, "parent").map(|p| {
            ids.get(p)
                .cloned()
                .unwrap_or_else(|| format!("{collection}:{p}"))
        });
        let reply_to = reply_to.or_else(|| custom(e, "reply_to").map(str::to_string));
        let message = Message {
            channel: conv.channel.clone(),
            source_id: source_id.clone(),
            conversation: conv.id.clone(),
            sender: sender.clone(),
            recipients,
            direction,
            sent_at,
            captured_at: options.captured_at,
            text: text(e, "body").map(str::to_string),
            attachments: Vec::new(),
            reply_to,
            raw_digest,
            extra,
        };
        let subject = message.external_party().map(str::to_string);
        let channel = conv.channel.clone();
        out.events.push(ImportedEvent {
            event: Event::Message(message),
            subject: subject.clone(),
            files,
        });
        out.messages += 1;
        let mut push = |event: Event| {
            out.events.push(ImportedEvent {
                event,
                subject: subject.clone(),
                files: Vec::new(),
            })
        };

        for (k, edit) in array(e, "edits", &path)?.iter().enumerate() {
            let e_path = format!("{path}/edits/{k}");
            let editor = text(edit, "participant")
                .ok_or_else(|| field(format!("{e_path}/participant"), "missing or not a string"))?;
            let editor = person(editor, format!("{e_path}/participant"))?
                .address
                .clone();
            let Some(new) = text(edit, "new") else {
                *out.skipped
                    .entry("edit without new text".into())
                    .or_default() += 1;
                continue;
            };
            push(Event::Edit(Edit {
                channel: channel.clone(),
                source_id: format!("{source_id}:edit:{k}"),
                target: source_id.clone(),
                editor,
                edited_at: time(edit, "timestamp", &e_path)?.unwrap_or(sent_at),
                captured_at: options.captured_at,
                text: new.to_string(),
                raw_digest,
            }));
        }
        match e.get("deleted") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => {}
            Some(Value::Bool(true)) => {
                // custos's exports say who and when in `custom`.
                let by = custom(e, "deleted_by")
                    .and_then(|d| {
                        people
                            .values()
                            .find(|p| p.display.as_deref() == Some(d) || p.address == d)
                    })
                    .map_or(sender.clone(), |p| p.address.clone());
                let at = custom(e, "deleted_at")
                    .and_then(parse_time)
                    .unwrap_or(sent_at);
                push(Event::Deletion(Deletion {
                    channel: channel.clone(),
                    source_id: format!("{source_id}:deleted"),
                    target: source_id.clone(),
                    deleted_by: by,
                    deleted_at: at,
                    captured_at: options.captured_at,
                    raw_digest,
                }));
            }
            Some(_) => return Err(field(format!("{path}/deleted"), "must be true or false")),
        }
        for (k, r) in array(e, "reactions", &path)?.iter().enumerate() {
            let r_path = format!("{path}/reactions/{k}");
            let value = text(r, "value")
                .ok_or_else(|| field(format!("{r_path}/value"), "missing or not a string"))?;
            let who = array(r, "participants", &r_path)?;
            if who.is_empty() {
                *out.skipped
                    .entry("reaction without participants".into())
                    .or_default() += 1;
            }
            for (n, p) in who.iter().enumerate() {
                let p_path = format!("{r_path}/participants/{n}");
                let p = p
                    .as_str()
                    .ok_or_else(|| field(&p_path, "must be a string"))?;
                let reactor = person(p, p_path)?.address.clone();
                push(Event::Reaction(Reaction {
                    channel: channel.clone(),
                    source_id: format!("{source_id}:reaction:{value}:{reactor}"),
                    target: source_id.clone(),
                    sender: reactor,
                    emoji: Some(value.to_string()),
                    reacted_at: sent_at,
                    captured_at: options.captured_at,
                    raw_digest,
                }));
            }
        }
        for (k, r) in array(e, "read_receipts", &path)?.iter().enumerate() {
            let r_path = format!("{path}/read_receipts/{k}");
            let p = text(r, "participant")
                .ok_or_else(|| field(format!("{r_path}/participant"), "missing or not a string"))?;
            let recipient = person(p, format!("{r_path}/participant"))?.address.clone();
            let state = match text(r, "action") {
                Some("delivered") => DeliveryState::Delivered,
                Some("read") | None => DeliveryState::Read,
                Some(other) => {
                    return Err(field(
                        format!("{r_path}/action"),
                        format!("{other:?} is neither \"read\" nor \"delivered\""),
                    ));
                }
            };
            push(Event::Status(DeliveryStatus {
                channel: channel.clone(),
                target: source_id.clone(),
                recipient,
                state,
                at: time(r, "timestamp", &r_path)?.unwrap_or(sent_at),
                captured_at: options.captured_at,
                error: None,
                raw_digest,
            }));
        }
    }
    Ok(out)
}

/// The source id of a manifest event that has an `id`.
fn source_id_of(event: &Value, collection: &str) -> String {
    match custom(event, "source_id").or_else(|| custom(event, "wamid")) {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => format!("{collection}:{}", text(event, "id").unwrap_or_default()),
    }
}

/// The direction of a message from who belongs to the firm: firm to firm
/// is internal, firm to outside outbound, outside to firm inbound; without
/// a firm party, the conversation's custodian decides (their messages are
/// outbound, others' inbound); else unknown.
pub fn firm_direction(
    sender: &str,
    recipients: &[String],
    custodian: Option<&str>,
    is_firm: &dyn Fn(&str) -> bool,
) -> Direction {
    let sender_firm = is_firm(sender);
    let any_firm = recipients.iter().any(|r| is_firm(r));
    let all_firm = recipients.iter().all(|r| is_firm(r));
    match (sender_firm, any_firm, all_firm) {
        (true, _, true) => Direction::Internal,
        (true, _, false) => Direction::Outbound,
        (false, true, _) => Direction::Inbound,
        (false, false, _) => match custodian {
            Some(c) if c == sender => Direction::Outbound,
            Some(_) => Direction::Inbound,
            None => Direction::Unknown,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAT: &[u8] = include_bytes!("../tests/fixtures/rsmf/chat.rsmf");

    fn firm(a: &str) -> bool {
        a == "+447700900001"
    }

    fn import(bytes: &[u8]) -> Result<Imported, RsmfError> {
        let file = read(bytes, &Limits::default())?;
        let options = Options {
            source_name: "chat.rsmf".into(),
            captured_at: Timestamp::from_micros(1),
            is_firm: &firm,
        };
        events(&file, &options, &Limits::default())
    }

    #[test]
    fn a_file_maps_to_messages_edits_deletions_reactions_and_receipts() {
        let file = read(CHAT, &Limits::default()).unwrap();
        assert_eq!(file.version, "2.0.0");
        assert_eq!(
            file.files.keys().collect::<Vec<_>>(),
            ["0001-confirmation.pdf"]
        );
        let imported = import(CHAT).unwrap();
        assert_eq!(imported.messages, 4);
        assert_eq!(imported.skipped.get("join"), Some(&1));
        assert_eq!(imported.skipped.get("disclaimer"), Some(&1));
        let kinds: Vec<&str> = imported
            .events
            .iter()
            .map(|e| e.event.kind().name())
            .collect();
        assert_eq!(
            kinds,
            [
                "message", "message", "edit", "reaction", "status", "message", "deletion",
                "message"
            ]
        );
        let Event::Message(m1) = &imported.events[0].event else {
            panic!()
        };
        assert_eq!(m1.channel, "whatsapp");
        assert_eq!(m1.source_id, "desk-2024-06:m1");
        assert_eq!(m1.conversation, "rsmf:desk-2024-06:C1");
        assert_eq!(m1.sender, "ana.ruiz@client.example");
        assert_eq!(m1.recipients, ["+447700900001"]);
        assert_eq!(m1.direction, Direction::Inbound);
        assert_eq!(m1.sent_at.to_string(), "2024-06-10T07:10:56Z");
        assert_eq!(
            imported.events[0].subject.as_deref(),
            Some("ana.ruiz@client.example")
        );
        // No `direction`: the firm rule (the custodian's number is the firm's).
        let Event::Message(m2) = &imported.events[1].event else {
            panic!()
        };
        assert_eq!(m2.direction, Direction::Outbound);
        assert_eq!(m2.reply_to.as_deref(), Some("desk-2024-06:m1"));
        assert_eq!(
            imported.events[1].files,
            [FileRef {
                file: "0001-confirmation.pdf".into(),
                name: Some("confirmation.pdf".into())
            }]
        );
        assert_eq!(m2.extra["attachments_missing"][0]["id"], "0002-missing.png");
        assert_eq!(
            imported.events[1].subject.as_deref(),
            Some("ana.ruiz@client.example")
        );
        let Event::Edit(edit) = &imported.events[2].event else {
            panic!()
        };
        assert_eq!(edit.target, "desk-2024-06:m2");
        assert_eq!(edit.text, "Confirmed: 200 shares, see attached");
        assert_eq!(edit.edited_at.to_string(), "2024-06-10T07:13:00Z");
        let Event::Reaction(r) = &imported.events[3].event else {
            panic!()
        };
        assert_eq!(
            (r.sender.as_str(), r.emoji.as_deref()),
            ("ana.ruiz@client.example", Some("\u{1F44D}"))
        );
        let Event::Status(s) = &imported.events[4].event else {
            panic!()
        };
        assert_eq!(
            (s.state, s.at.to_string()),
            (DeliveryState::Read, "2024-06-10T07:12:40Z".to_string())
        );
        let Event::Deletion(d) = &imported.events[6].event else {
            panic!()
        };
        assert_eq!(
            (d.target.as_str(), d.deleted_by.as_str()),
            ("desk-2024-06:m3", "ana.ruiz@client.example")
        );
        // No id: a digest of the event; no e-mail nor account: rsmf:<id>.
        let Event::Message(m4) = &imported.events[7].event else {
            panic!()
        };
        assert!(
            m4.source_id.starts_with("desk-2024-06:sha256:"),
            "{}",
            m4.source_id
        );
        assert_eq!(m4.sender, "rsmf:P3");
        // The same bytes give the same ids.
        assert_eq!(import(CHAT).unwrap(), imported);
    }

    #[test]
    fn mistakes_name_their_place() {
        assert_eq!(
            read(b"", &Limits::default()).unwrap_err(),
            RsmfError::NotEmail
        );
        assert_eq!(
            read(
                b"From: a@b.c\r\nSubject: x\r\n\r\nhello\r\n",
                &Limits::default()
            )
            .unwrap_err(),
            RsmfError::NoVersion
        );
        assert_eq!(
            read(
                b"X-RSMF-Version: 2.0.0\r\nSubject: x\r\n\r\nhello\r\n",
                &Limits::default()
            )
            .unwrap_err(),
            RsmfError::NoZip
        );
        let err = import(include_bytes!(
            "../tests/fixtures/rsmf/participant_without_id.rsmf"
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "rsmf_manifest.json /participants/0/id: missing or not a string"
        );
        let err = import(include_bytes!(
            "../tests/fixtures/rsmf/numeric_undefined_misspelled.rsmf"
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "rsmf_manifest.json /participants/0/id: missing or not a string"
        );
        let mut file = read(CHAT, &Limits::default()).unwrap();
        file.manifest["events"][1]["timestamp"] = "yesterday".into();
        let options = Options {
            source_name: "x".into(),
            captured_at: Timestamp::from_micros(0),
            is_firm: &firm,
        };
        let err = events(&file, &options, &Limits::default()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("rsmf_manifest.json /events/1/timestamp: "),
            "{err}"
        );
        file.manifest["events"][1]["participant"] = "P9".into();
        let err = events(&file, &options, &Limits::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "rsmf_manifest.json /events/1/participant: participant \"P9\" is not defined"
        );
        let limits = Limits {
            max_events: 2,
            ..Limits::default()
        };
        assert_eq!(
            events(&file, &options, &limits).unwrap_err(),
            RsmfError::TooManyEvents { max: 2 }
        );
    }

    #[test]
    fn times_without_an_offset_are_utc() {
        assert_eq!(
            parse_time("2013-01-10T15:53:00").unwrap().to_string(),
            "2013-01-10T15:53:00Z"
        );
        assert_eq!(
            parse_time("2013-01-10T15:53:00+01:00").unwrap().to_string(),
            "2013-01-10T14:53:00Z"
        );
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn direction_follows_the_firm() {
        let firm = |a: &str| a.ends_with("@firm.example");
        let to = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            firm_direction("a@firm.example", &to(&["b@firm.example"]), None, &firm),
            Direction::Internal
        );
        assert_eq!(
            firm_direction("a@firm.example", &to(&["c@x.example"]), None, &firm),
            Direction::Outbound
        );
        assert_eq!(
            firm_direction("c@x.example", &to(&["a@firm.example"]), None, &firm),
            Direction::Inbound
        );
        assert_eq!(
            firm_direction("c@x.example", &to(&["d@y.example"]), None, &firm),
            Direction::Unknown
        );
        assert_eq!(
            firm_direction(
                "c@x.example",
                &to(&["d@y.example"]),
                Some("c@x.example"),
                &firm
            ),
            Direction::Outbound
        );
    }
}
