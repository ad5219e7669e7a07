//! Microsoft Teams messages as Microsoft Graph returns them (`chatMessage` JSON, with replies, edits, deletions, attachments and mentions) into canonical events.
//!
//! An input document is a JSON array of `chatMessage` objects, a Graph page
//! (`{"@odata.context":..,"value":[...],"@odata.nextLink":..}`), one
//! message, or any of these one after another (JSON lines, concatenated
//! pages). Messages fetched with `$expand=replies` carry their replies in
//! `replies`; they are read too.
//!
//! Graph message ids are unique within a chat or channel, so a message's
//! source id is `<chat id>:<id>` (or `<team id>/<channel id>:<id>`) and its
//! conversation `teams:<chat id>` (`teams:<team id>/<channel id>`);
//! `replyToId` becomes the parent's source id in `reply_to`. Only
//! `messageType: message` is archived; system events (`systemEventMessage`,
//! `chatEvent`, `typing`, ...) are counted by type. A message with
//! `lastEditedDateTime` is archived with its current body (the earlier text
//! is not in Graph's answer: `original_text_unknown`) plus an [`Edit`] at
//! that time; `deletedDateTime` adds a [`Deletion`] (Graph does not say who
//! deleted it: the sender is named, `deleted_by_unknown` is set);
//! each reaction becomes a [`Reaction`] by its user.
//!
//! HTML bodies are turned into text (tags dropped, block ends as line
//! breaks, entities decoded); the HTML is kept in `extra.body_html`.
//! `attachments[]` are references (links, cards): their metadata is kept in
//! `extra.teams_attachments`, each marked `not_in_export`. `hostedContents[]`
//! with `contentBytes` (base64) are real bytes: returned in
//! [`TeamsImport::blobs`] for the caller to store before the message, and
//! named in the message's attachments.
//!
//! Users become their lower-cased e-mail when the object carries one
//! (`userPrincipalName`, `email` or `mail` on `from.user`), else
//! `teams:<user id>`; applications `teams:app:<id>`. A user is the firm's
//! when their e-mail domain is one of the firm's or their `tenantId` one
//! of the firm's tenants; external when their e-mail or tenant is known
//! and not the firm's (with firm domains or tenants given) or their
//! `userIdentityType` is not `aadUser`; otherwise (an `aadUser` of the
//! export's own tenant) the firm's. Applications are the firm's. Graph
//! does not list a chat's members in its messages: a message's recipients
//! are the others who wrote, reacted or were mentioned in the same
//! conversation in the input, external parties first.
//!
//! Every message's `raw_digest` is the SHA-256 of the document it came
//! from; `extra.source_file` and `extra.source_line` name its place.

use custos_journal::NewEntry;
use custos_model::{
    Attachment, Deletion, Digest, Direction, Edit, Event, Message, Reaction, Timestamp,
};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The channel name of Teams events.
pub const CHANNEL: &str = "teams";

/// Decoded hosted-content bytes one input may carry at most (1 GiB).
pub const MAX_HOSTED_BYTES: u64 = 1 << 30;

/// Why an input could not be read; every variant names its place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TeamsError {
    /// A document that is not JSON.
    #[error("{file}: line {line}, column {column}: {problem}")]
    Json {
        /// The document's name.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the JSON reader says.
        problem: String,
    },
    /// A value that is missing or of the wrong shape.
    #[error("{file}: line {line}: {path}: {problem}")]
    Field {
        /// The document's name.
        file: String,
        /// 1-based line where the JSON value holding it starts.
        line: usize,
        /// The JSON path within that value, e.g. `$.value[3].createdDateTime`.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// More hosted-content bytes than [`MAX_HOSTED_BYTES`].
    #[error("{file}: hosted contents decode to more than {max} bytes")]
    TooLarge {
        /// The document's name.
        file: String,
        /// The cap.
        max: u64,
    },
}

/// What [`parse_documents`] needs besides the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamsOptions {
    /// The firm's e-mail domains (lower case, no `@`).
    pub firm_domains: Vec<String>,
    /// The firm's Microsoft Entra tenant ids.
    pub firm_tenants: Vec<String>,
    /// When the import runs (the events' `captured_at`).
    pub captured_at: Timestamp,
}

/// Hosted-content bytes a message carries, to be stored as a blob under
/// `subject` before the message is appended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    /// The subject of the message naming it.
    pub subject: Option<String>,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// When the message naming it was sent (the blob is sealed under that
    /// period's key, so retention disposes of it with the message).
    pub sent_at: Timestamp,
}

/// A checked input: the events to append, in input order, and counts.
#[derive(Clone, Debug, Default)]
pub struct TeamsImport {
    /// Messages, edits, deletions and reactions with their subjects.
    pub entries: Vec<NewEntry>,
    /// The hosted contents the messages name.
    pub blobs: Vec<Blob>,
    /// Messages among the entries.
    pub messages: u64,
    /// Edits among the entries.
    pub edits: u64,
    /// Deletions among the entries.
    pub deletions: u64,
    /// Reactions among the entries.
    pub reactions: u64,
    /// Messages that appeared more than once in the input (overlapping
    /// pages): the first is kept, later ones add only their edits.
    pub repeated: u64,
    /// Attachments referenced whose bytes are not in the input.
    pub attachments_not_in_export: u64,
    /// Objects not archived, by `messageType`.
    pub skipped: BTreeMap<String, u64>,
}

/// One message object with its place.
struct Found<'a> {
    file: &'a str,
    digest: Digest,
    line: usize,
    path: String,
    object: &'a Map<String, Value>,
}

/// Everything known about one input document.
struct Document {
    values: Vec<(usize, Value)>,
    digest: Digest,
}

fn field(file: &str, line: usize, path: &str, problem: impl Into<String>) -> TeamsError {
    TeamsError::Field {
        file: file.to_string(),
        line,
        path: path.to_string(),
        problem: problem.into(),
    }
}

/// Reads every JSON value of a document, with the line each starts on.
fn read_document(file: &str, bytes: &[u8]) -> Result<Document, TeamsError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let mut values = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<Value>();
    let mut line = 1;
    let mut counted = 0;
    loop {
        // The start of the next value: after the whitespace that follows
        // the previous one.
        let start = stream.byte_offset();
        let skip = bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        line += bytes[counted..start + skip]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        counted = start + skip;
        match stream.next() {
            None => break,
            Some(Ok(v)) => values.push((line, v)),
            Some(Err(e)) => {
                return Err(TeamsError::Json {
                    file: file.to_string(),
                    line: e.line(),
                    column: e.column(),
                    problem: crate::slack::json_problem(&e),
                });
            }
        }
    }
    Ok(Document {
        values,
        digest: Digest::of(bytes),
    })
}

/// Walks a document's values to the message objects: arrays, pages
/// (`value`), messages and their `replies`.
fn collect<'a>(
    file: &'a str,
    digest: Digest,
    line: usize,
    path: String,
    value: &'a Value,
    out: &mut Vec<Found<'a>>,
) -> Result<(), TeamsError> {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                let Some(object) = item.as_object() else {
                    return Err(field(file, line, &p, "not a JSON object"));
                };
                collect_message(file, digest, line, p, object, out)?;
            }
            Ok(())
        }
        Value::Object(o) if o.contains_key("value") && !o.contains_key("id") => {
            let Some(items) = o.get("value").filter(|v| v.is_array()) else {
                return Err(field(file, line, &format!("{path}.value"), "not an array"));
            };
            collect(file, digest, line, format!("{path}.value"), items, out)
        }
        Value::Object(o) => collect_message(file, digest, line, path, o, out),
        _ => Err(field(
            file,
            line,
            &path,
            "not a chatMessage, an array of them or a Graph page",
        )),
    }
}

fn collect_message<'a>(
    file: &'a str,
    digest: Digest,
    line: usize,
    path: String,
    object: &'a Map<String, Value>,
    out: &mut Vec<Found<'a>>,
) -> Result<(), TeamsError> {
    let replies = object.get("replies").filter(|v| !v.is_null());
    out.push(Found {
        file,
        digest,
        line,
        path: path.clone(),
        object,
    });
    if let Some(replies) = replies {
        let p = format!("{path}.replies");
        let Some(items) = replies.as_array() else {
            return Err(field(file, line, &p, "not an array"));
        };
        for (i, item) in items.iter().enumerate() {
            let rp = format!("{p}[{i}]");
            let Some(o) = item.as_object() else {
                return Err(field(file, line, &rp, "not a JSON object"));
            };
            collect_message(file, digest, line, rp, o, out)?;
        }
    }
    Ok(())
}

/// A person or application as a message names them.
#[derive(Clone, Debug)]
struct Party {
    address: String,
    firm: bool,
    display: Option<String>,
}

/// Reads an `identitySet` (`from`, `mentioned`, a reaction's `user`).
fn party(
    set: &Map<String, Value>,
    options: &TeamsOptions,
    at: &dyn Fn(&str) -> TeamsError,
) -> Result<Option<Party>, TeamsError> {
    let s = |o: &Map<String, Value>, k: &str| -> Result<Option<String>, TeamsError> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(v)) => Ok(Some(v.clone())),
            Some(_) => Err(at(k)),
        }
    };
    if let Some(user) = set.get("user").and_then(Value::as_object) {
        let Some(id) = s(user, "id")? else {
            return Err(at("user.id"));
        };
        let email = ["userPrincipalName", "email", "mail"]
            .iter()
            .map(|k| s(user, k))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .map(|e| e.trim().to_lowercase())
            .find(|e| e.contains('@'));
        let tenant = s(user, "tenantId")?;
        let kind = s(user, "userIdentityType")?;
        let domain_firm = email
            .as_deref()
            .and_then(|e| e.rsplit_once('@'))
            .map(|(_, d)| options.firm_domains.iter().any(|f| f == d));
        let tenant_firm = tenant
            .as_deref()
            .map(|t| options.firm_tenants.iter().any(|f| f == t));
        let firm = if domain_firm == Some(true) || tenant_firm == Some(true) {
            true
        } else if (domain_firm == Some(false) && !options.firm_domains.is_empty())
            || (tenant_firm == Some(false) && !options.firm_tenants.is_empty())
        {
            false
        } else {
            kind.as_deref().is_none_or(|k| k == "aadUser")
        };
        let address = email.unwrap_or_else(|| format!("teams:{id}"));
        return Ok(Some(Party {
            address,
            firm,
            display: s(user, "displayName")?,
        }));
    }
    if let Some(app) = set.get("application").and_then(Value::as_object) {
        let Some(id) = s(app, "id")? else {
            return Err(at("application.id"));
        };
        return Ok(Some(Party {
            address: format!("teams:app:{id}"),
            firm: true,
            display: s(app, "displayName")?,
        }));
    }
    Ok(None)
}

/// The conversation key of a message: `<chat id>` or `<team>/<channel>`.
fn conversation_key(found: &Found) -> Result<String, TeamsError> {
    let o = found.object;
    let err = |k: &str, p: &str| field(found.file, found.line, &format!("{}.{k}", found.path), p);
    match o.get("chatId") {
        Some(Value::String(c)) if !c.is_empty() => return Ok(c.clone()),
        None | Some(Value::Null) => {}
        Some(_) => return Err(err("chatId", "not a string")),
    }
    if let Some(ci) = o.get("channelIdentity").and_then(Value::as_object) {
        let team = ci.get("teamId").and_then(Value::as_str);
        let channel = ci.get("channelId").and_then(Value::as_str);
        if let (Some(t), Some(c)) = (team, channel) {
            return Ok(format!("{t}/{c}"));
        }
        return Err(err("channelIdentity", "needs teamId and channelId strings"));
    }
    Err(err(
        "chatId",
        "missing (and no channelIdentity): which conversation",
    ))
}

/// Checks the whole input (documents by name) and returns its events;
/// see the [module docs](self).
pub fn parse_documents(
    documents: &[(String, Vec<u8>)],
    options: &TeamsOptions,
) -> Result<TeamsImport, TeamsError> {
    let mut read = Vec::with_capacity(documents.len());
    for (name, bytes) in documents {
        read.push((name.as_str(), read_document(name, bytes)?));
    }
    let mut found = Vec::new();
    for (name, doc) in &read {
        for (line, value) in &doc.values {
            collect(name, doc.digest, *line, "$".into(), value, &mut found)?;
        }
    }

    // First pass: who takes part in each conversation.
    let mut members: HashMap<String, BTreeMap<String, bool>> = HashMap::new();
    let mut keys = Vec::with_capacity(found.len());
    for f in &found {
        let key = conversation_key(f)?;
        let set = members.entry(key.clone()).or_default();
        let at = |k: &str| {
            field(
                f.file,
                f.line,
                &format!("{}.from.{k}", f.path),
                "not a string",
            )
        };
        if let Some(from) = f.object.get("from").and_then(Value::as_object)
            && let Some(p) = party(from, options, &at)?
        {
            set.insert(p.address, p.firm);
        }
        for list in ["mentions", "reactions"] {
            let Some(items) = f.object.get(list).and_then(Value::as_array) else {
                continue;
            };
            for item in items {
                let who = item
                    .get("mentioned")
                    .or_else(|| item.get("user"))
                    .and_then(Value::as_object);
                if let Some(who) = who
                    && let Ok(Some(p)) = party(who, options, &|_| field("", 0, "", ""))
                {
                    set.insert(p.address, p.firm);
                }
            }
        }
        keys.push(key);
    }

    let mut import = TeamsImport::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut subjects: HashMap<String, Option<String>> = HashMap::new();
    let mut hosted_total: u64 = 0;
    for (f, key) in found.iter().zip(&keys) {
        read_message(
            &mut import,
            &mut seen,
            &mut subjects,
            &mut hosted_total,
            &members[key],
            f,
            key,
            options,
        )?;
    }
    Ok(import)
}

#[allow(clippy::too_many_arguments)]
fn read_message(
    import: &mut TeamsImport,
    seen: &mut HashSet<String>,
    subjects: &mut HashMap<String, Option<String>>,
    hosted_total: &mut u64,
    members: &BTreeMap<String, bool>,
    f: &Found,
    key: &str,
    options: &TeamsOptions,
) -> Result<(), TeamsError> {
    let o = f.object;
    let (file, line) = (f.file, f.line);
    let path = |k: &str| format!("{}.{k}", f.path);
    let err = |k: &str, problem: &str| field(file, line, &path(k), problem);
    let string = |k: &str| -> Result<Option<&str>, TeamsError> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(err(k, "not a string")),
        }
    };
    let time = |k: &str| -> Result<Option<Timestamp>, TeamsError> {
        match string(k)? {
            None => Ok(None),
            Some(t) => Timestamp::parse(t)
                .map(Some)
                .map_err(|_| err(k, &format!("{t:?} is not an ISO 8601 date-time"))),
        }
    };
    let message_type = string("messageType")?.unwrap_or("message");
    if message_type != "message" {
        *import.skipped.entry(message_type.to_string()).or_default() += 1;
        return Ok(());
    }
    let Some(id) = string("id")? else {
        return Err(err("id", "missing"));
    };
    let Some(created) = time("createdDateTime")? else {
        return Err(err("createdDateTime", "missing"));
    };
    let edited = time("lastEditedDateTime")?;
    let deleted = time("deletedDateTime")?;
    let from_at = |k: &str| err(&format!("from.{k}"), "not a string");
    let sender = match o.get("from") {
        Some(Value::Object(from)) => party(from, options, &from_at)?,
        None | Some(Value::Null) => None,
        Some(_) => return Err(err("from", "not an object")),
    };
    let Some(sender) = sender else {
        return Err(err("from", "no user or application: who sent it"));
    };
    let source_id = format!("{key}:{id}");

    // Body.
    let mut extra = Map::new();
    let (content_type, content) = match o.get("body") {
        None | Some(Value::Null) => ("text", ""),
        Some(Value::Object(b)) => {
            let ct = match b.get("contentType") {
                None | Some(Value::Null) => "text",
                Some(Value::String(s)) => s.as_str(),
                Some(_) => return Err(err("body.contentType", "not a string")),
            };
            let content = match b.get("content") {
                None | Some(Value::Null) => "",
                Some(Value::String(s)) => s.as_str(),
                Some(_) => return Err(err("body.content", "not a string")),
            };
            (ct, content)
        }
        Some(_) => return Err(err("body", "not an object")),
    };
    let text = if content_type.eq_ignore_ascii_case("html") {
        if !content.is_empty() {
            extra.insert("body_html".into(), content.into());
        }
        html_to_text(content)
    } else {
        content.to_string()
    };
    let text = Some(text).filter(|t| !t.trim().is_empty());

    // Recipients: the others taking part, external first.
    let mut recipients: Vec<(bool, &String)> = members
        .iter()
        .filter(|(a, _)| **a != sender.address)
        .map(|(a, firm)| (*firm, a))
        .collect();
    recipients.sort();
    let recipients: Vec<String> = recipients.into_iter().map(|(_, a)| a.clone()).collect();
    let any_external = members
        .iter()
        .any(|(a, firm)| !firm && *a != sender.address);
    let direction = match (sender.firm, any_external) {
        (false, _) => Direction::Inbound,
        (true, true) => Direction::Outbound,
        (true, false) => Direction::Internal,
    };

    // Reply, conversation facts and the rest.
    let reply_to = string("replyToId")?.map(|r| format!("{key}:{r}"));
    extra.insert("teams_message_id".into(), id.into());
    if let Some(ci) = o.get("channelIdentity").filter(|v| !v.is_null()) {
        extra.insert("channel_identity".into(), ci.clone());
    }
    if let Some(d) = &sender.display {
        extra.insert("sender_name".into(), d.clone().into());
    }
    for k in [
        "importance",
        "policyViolation",
        "subject",
        "locale",
        "etag",
        "webUrl",
        "lastModifiedDateTime",
        "summary",
        "eventDetail",
    ] {
        if let Some(v) = o.get(k).filter(|v| !v.is_null()) {
            extra.insert(k.into(), v.clone());
        }
    }
    if let Some(m) = o.get("mentions").filter(|v| !v.is_null()) {
        if !m.is_array() {
            return Err(err("mentions", "not an array"));
        }
        if m.as_array().is_some_and(|a| !a.is_empty()) {
            extra.insert("mentions".into(), m.clone());
        }
    }
    if let Some(e) = edited {
        extra.insert("last_edited".into(), e.to_string().into());
        extra.insert("original_text_unknown".into(), true.into());
    }
    extra.insert("source_file".into(), file.into());
    extra.insert("source_line".into(), line.into());
    extra.insert("source_path".into(), f.path.clone().into());

    // Attachments: references kept as metadata.
    if let Some(list) = o.get("attachments").filter(|v| !v.is_null()) {
        let Some(list) = list.as_array() else {
            return Err(err("attachments", "not an array"));
        };
        let mut kept = Vec::new();
        for (i, a) in list.iter().enumerate() {
            let Some(a) = a.as_object() else {
                return Err(err(&format!("attachments[{i}]"), "not an object"));
            };
            let mut meta = Map::new();
            for k in [
                "id",
                "contentType",
                "contentUrl",
                "name",
                "thumbnailUrl",
                "content",
            ] {
                if let Some(v) = a.get(k).filter(|v| !v.is_null()) {
                    meta.insert(k.into(), v.clone());
                }
            }
            meta.insert("not_in_export".into(), true.into());
            kept.push(Value::Object(meta));
        }
        if !kept.is_empty() {
            import.attachments_not_in_export += kept.len() as u64;
            extra.insert("teams_attachments".into(), kept.into());
        }
    }

    let mut message = Message {
        channel: CHANNEL.into(),
        source_id: source_id.clone(),
        conversation: format!("teams:{key}"),
        sender: sender.address.clone(),
        recipients,
        direction,
        sent_at: created,
        captured_at: options.captured_at,
        text: text.clone(),
        attachments: Vec::new(),
        reply_to,
        raw_digest: f.digest,
        extra,
    };
    let subject = message.external_party().map(str::to_string);

    // Hosted contents: bytes in the input.
    let mut blobs = Vec::new();
    if let Some(list) = o.get("hostedContents").filter(|v| !v.is_null()) {
        let Some(list) = list.as_array() else {
            return Err(err("hostedContents", "not an array"));
        };
        for (i, h) in list.iter().enumerate() {
            let hp = format!("hostedContents[{i}]");
            let Some(h) = h.as_object() else {
                return Err(err(&hp, "not an object"));
            };
            let Some(b64) = h.get("contentBytes").and_then(Value::as_str) else {
                continue; // a reference only: nothing to store
            };
            let Some(bytes) = base64_decode(b64) else {
                return Err(err(&format!("{hp}.contentBytes"), "not base64"));
            };
            *hosted_total += bytes.len() as u64;
            if *hosted_total > MAX_HOSTED_BYTES {
                return Err(TeamsError::TooLarge {
                    file: file.into(),
                    max: MAX_HOSTED_BYTES,
                });
            }
            let hid = h.get("id").and_then(Value::as_str).unwrap_or("");
            let media_type = h
                .get("contentType")
                .and_then(Value::as_str)
                .unwrap_or("application/octet-stream");
            message.attachments.push(Attachment {
                name: Some(format!("hostedContents/{hid}")),
                media_type: media_type.to_string(),
                sha256: Digest::of(&bytes),
                size: bytes.len() as u64,
            });
            blobs.push(Blob {
                subject: subject.clone(),
                bytes,
                sent_at: message.sent_at,
            });
        }
    }

    let first = seen.insert(source_id.clone());
    if first {
        subjects.insert(source_id.clone(), subject.clone());
        import.messages += 1;
        import.blobs.extend(blobs);
        import.entries.push(NewEntry {
            event: Event::Message(message),
            subject: subject.clone(),
        });
    } else {
        import.repeated += 1;
    }
    let subject = subjects.get(&source_id).cloned().flatten();
    if let Some(edited_at) = edited {
        import.edits += 1;
        import.entries.push(NewEntry {
            event: Event::Edit(Edit {
                channel: CHANNEL.into(),
                source_id: format!("{source_id}:edit:{}", edited_at.as_micros()),
                target: source_id.clone(),
                editor: sender.address.clone(),
                edited_at,
                captured_at: options.captured_at,
                text: text.clone().unwrap_or_default(),
                raw_digest: f.digest,
            }),
            subject: subject.clone(),
        });
    }
    if let Some(deleted_at) = deleted
        && first
    {
        import.deletions += 1;
        import.entries.push(NewEntry {
            event: Event::Deletion(Deletion {
                channel: CHANNEL.into(),
                source_id: format!("{source_id}:deleted"),
                target: source_id.clone(),
                deleted_by: sender.address.clone(),
                deleted_at,
                captured_at: options.captured_at,
                raw_digest: f.digest,
            }),
            subject: subject.clone(),
        });
    }
    if let Some(list) = o.get("reactions").filter(|v| !v.is_null()) {
        let Some(list) = list.as_array() else {
            return Err(err("reactions", "not an array"));
        };
        for (i, r) in list.iter().enumerate() {
            let rp = format!("reactions[{i}]");
            let Some(r) = r.as_object() else {
                return Err(err(&rp, "not an object"));
            };
            let Some(kind) = r.get("reactionType").and_then(Value::as_str) else {
                return Err(err(
                    &format!("{rp}.reactionType"),
                    "missing or not a string",
                ));
            };
            let at = match r.get("createdDateTime").and_then(Value::as_str) {
                Some(t) => Timestamp::parse(t).map_err(|_| {
                    err(
                        &format!("{rp}.createdDateTime"),
                        &format!("{t:?} is not an ISO 8601 date-time"),
                    )
                })?,
                None => created,
            };
            let who_at = |k: &str| err(&format!("{rp}.user.{k}"), "not a string");
            let who = match r.get("user").and_then(Value::as_object) {
                Some(u) => party(u, options, &who_at)?,
                None => None,
            };
            let Some(who) = who else {
                return Err(err(&format!("{rp}.user"), "missing: who reacted"));
            };
            import.reactions += 1;
            import.entries.push(NewEntry {
                event: Event::Reaction(Reaction {
                    channel: CHANNEL.into(),
                    source_id: format!("{source_id}:reaction:{kind}:{}", who.address),
                    target: source_id.clone(),
                    sender: who.address,
                    emoji: Some(kind.to_string()),
                    reacted_at: at,
                    captured_at: options.captured_at,
                    raw_digest: f.digest,
                }),
                subject: subject.clone(),
            });
        }
    }
    Ok(())
}

/// The text of a Teams HTML body: tags dropped (and the content of
/// `style` and `script`), line breaks for `br` and the ends of blocks,
/// character references decoded, runs of blank lines collapsed.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    let mut skipping: Option<&str> = None;
    while let Some(lt) = rest.find('<') {
        if skipping.is_none() {
            push_decoded(&mut out, &rest[..lt]);
        }
        let after = &rest[lt + 1..];
        let Some(gt) = after.find('>') else {
            rest = "";
            break;
        };
        let tag = &after[..gt];
        rest = &after[gt + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if let Some(s) = skipping {
            if closing && name == s {
                skipping = None;
            }
            continue;
        }
        match name.as_str() {
            "style" if !closing => skipping = Some("style"),
            "script" if !closing => skipping = Some("script"),
            "br" => out.push('\n'),
            "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "blockquote"
            | "pre" | "ul" | "ol" | "table"
                if closing && !out.is_empty() && !out.ends_with('\n') =>
            {
                out.push('\n');
            }
            "td" | "th" if closing => out.push('\t'),
            _ => {}
        }
    }
    if skipping.is_none() {
        push_decoded(&mut out, rest);
    }
    // Collapse blank lines and trim trailing spaces per line.
    let mut text = String::with_capacity(out.len());
    let mut blank = 0;
    for l in out.trim().lines() {
        let l = l.trim_end();
        if l.is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(l);
    }
    text
}

/// Appends `text` with its character references decoded.
fn push_decoded(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let end = after.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let name = &after[..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => {
                    let code = if let Some(h) =
                        name.strip_prefix("#x").or_else(|| name.strip_prefix("#X"))
                    {
                        u32::from_str_radix(h, 16).ok()
                    } else if let Some(d) = name.strip_prefix('#') {
                        d.parse().ok()
                    } else {
                        None
                    };
                    code.and_then(char::from_u32)
                }
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &after[e + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
}

/// Decodes standard base64 (padding optional, whitespace ignored).
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let clean: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let body = match clean.iter().position(|&b| b == b'=') {
        Some(p) => {
            if clean[p..].iter().any(|&b| b != b'=')
                || !clean.len().is_multiple_of(4)
                || clean.len() - p > 2
            {
                return None;
            }
            &clean[..p]
        }
        None => &clean[..],
    };
    if body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    for chunk in body.chunks(4) {
        let mut n = 0u32;
        for &c in chunk {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * (4 - chunk.len()) as u32;
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const CAPTURED: Timestamp = Timestamp::from_micros(1_800_000_000_000_000);
    const CHAT: &str = "19:2da4c29f6d7041eca70b638b43d45437@thread.v2";
    const CHANNEL_KEY: &str =
        "fbe2bf47-16c8-47cf-b4a5-4b9b187c508b/19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2";

    fn fixture(name: &str) -> (String, Vec<u8>) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/teams")
            .join(name);
        (name.to_string(), std::fs::read(path).unwrap())
    }

    fn all() -> Vec<(String, Vec<u8>)> {
        ["chat-page.json", "channel-messages.json", "federated.jsonl"]
            .into_iter()
            .map(fixture)
            .collect()
    }

    fn options(domains: &[&str], tenants: &[&str]) -> TeamsOptions {
        TeamsOptions {
            firm_domains: domains.iter().map(|d| d.to_string()).collect(),
            firm_tenants: tenants.iter().map(|d| d.to_string()).collect(),
            captured_at: CAPTURED,
        }
    }

    fn firm() -> TeamsOptions {
        options(&["firm.example"], &["f1f1f1f1-0000-4000-8000-00000000f1e1"])
    }

    fn message<'a>(import: &'a TeamsImport, id: &str) -> (&'a Message, Option<&'a str>) {
        import
            .entries
            .iter()
            .find_map(|e| match &e.event {
                Event::Message(m) if m.source_id == id => Some((m, e.subject.as_deref())),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no message {id}"))
    }

    fn error_of(text: &str) -> String {
        parse_documents(&[("in.json".into(), text.as_bytes().to_vec())], &firm())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn reads_a_chat_page() {
        let import = parse_documents(&all(), &firm()).unwrap();
        assert_eq!(import.messages, 8);
        assert_eq!(import.edits, 1);
        assert_eq!(import.deletions, 1);
        assert_eq!(import.reactions, 1);
        assert_eq!(import.attachments_not_in_export, 1);
        assert_eq!(import.skipped.get("systemEventMessage"), Some(&1));

        // An external tenant's user writes in.
        let (m, subject) = message(&import, &format!("{CHAT}:1718003456123"));
        assert_eq!(m.channel, "teams");
        assert_eq!(m.conversation, format!("teams:{CHAT}"));
        assert_eq!(m.sender, "teams:f8d2a1c4-0000-4000-8000-00000000c11e");
        assert_eq!(m.direction, Direction::Inbound);
        assert_eq!(subject, Some("teams:f8d2a1c4-0000-4000-8000-00000000c11e"));
        assert_eq!(m.recipients, ["ana.ruiz@firm.example"]);
        assert_eq!(
            m.sent_at,
            Timestamp::parse("2024-06-10T07:10:56.123Z").unwrap()
        );
        assert_eq!(
            m.text.as_deref(),
            Some("Can you confirm the price for 200 shares?")
        );
        assert_eq!(m.extra["sender_name"], "Carla Gomez");
        assert_eq!(m.extra["source_file"], "chat-page.json");
        assert_eq!(m.extra["source_line"], 1);
        assert_eq!(m.extra["source_path"], "$.value[0]");
        assert_eq!(m.raw_digest, Digest::of(&fixture("chat-page.json").1));

        // The firm answers in HTML, edited, with a reference, a hosted
        // image, a mention and a reaction.
        let id = format!("{CHAT}:1718003520456");
        let (m, subject) = message(&import, &id);
        assert_eq!(m.sender, "ana.ruiz@firm.example");
        assert_eq!(m.direction, Direction::Outbound);
        assert_eq!(subject, Some("teams:f8d2a1c4-0000-4000-8000-00000000c11e"));
        assert_eq!(
            m.text.as_deref(),
            Some("Confirmed at 41.20 & booked, Carla Gomez\nSee the attached note.")
        );
        assert!(
            m.extra["body_html"]
                .as_str()
                .unwrap()
                .starts_with("<p>Confirmed")
        );
        assert_eq!(m.extra["importance"], "high");
        assert_eq!(m.extra["original_text_unknown"], true);
        assert_eq!(m.extra["teams_attachments"][0]["name"], "confirmation.pdf");
        assert_eq!(m.extra["teams_attachments"][0]["not_in_export"], true);
        assert_eq!(m.extra["mentions"][0]["mentionText"], "Carla Gomez");
        let png = base64_decode("iVBORw0KGgoAAAANSUhEUg==").unwrap();
        assert_eq!(
            m.attachments,
            [Attachment {
                name: Some("hostedContents/aWQ9eF8wLHR5cGU9MQ".into()),
                media_type: "image/png".into(),
                sha256: Digest::of(&png),
                size: 16,
            }]
        );
        assert_eq!(
            import.blobs,
            [Blob {
                subject: Some("teams:f8d2a1c4-0000-4000-8000-00000000c11e".into()),
                bytes: png,
                sent_at: m.sent_at,
            }]
        );
        let others: Vec<&Event> = import
            .entries
            .iter()
            .map(|e| &e.event)
            .filter(|e| !matches!(e, Event::Message(_)))
            .collect();
        let Event::Edit(edit) = others[0] else {
            panic!("{others:?}")
        };
        assert_eq!(edit.target, id);
        assert_eq!(
            edit.edited_at,
            Timestamp::parse("2024-06-10T07:13:20Z").unwrap()
        );
        assert_eq!(edit.text, m.text.clone().unwrap());
        let Event::Reaction(r) = others[1] else {
            panic!("{others:?}")
        };
        assert_eq!(r.emoji.as_deref(), Some("like"));
        assert_eq!(r.sender, "teams:f8d2a1c4-0000-4000-8000-00000000c11e");
        assert_eq!(
            r.reacted_at,
            Timestamp::parse("2024-06-10T07:14:02.001Z").unwrap()
        );
        let Event::Deletion(d) = others[2] else {
            panic!("{others:?}")
        };
        assert_eq!(d.target, format!("{CHAT}:1718003800000"));
        assert_eq!(
            d.deleted_at,
            Timestamp::parse("2024-06-10T07:18:00Z").unwrap()
        );
        let (deleted, _) = message(&import, &format!("{CHAT}:1718003800000"));
        assert_eq!(deleted.text, None);
    }

    #[test]
    fn reads_channel_replies_apps_and_json_lines() {
        let import = parse_documents(&all(), &firm()).unwrap();
        let (reply, subject) = message(&import, &format!("{CHANNEL_KEY}:1718090100000"));
        assert_eq!(reply.reply_to, Some(format!("{CHANNEL_KEY}:1718090000000")));
        assert_eq!(reply.conversation, format!("teams:{CHANNEL_KEY}"));
        assert_eq!(reply.direction, Direction::Internal);
        assert_eq!(subject, None);
        assert_eq!(reply.extra["source_path"], "$[0].replies[0]");
        let (bot, _) = message(&import, &format!("{CHANNEL_KEY}:1718090200000"));
        assert_eq!(bot.sender, "teams:app:a0a0a0a0-0000-4000-8000-00000000a0a0");
        assert_eq!(bot.direction, Direction::Internal);
        // A federated user in a one-to-one chat, one object per line.
        let (m, subject) = message(&import, "19:f00d@unq.gbl.spaces:1718180000000");
        assert_eq!(m.direction, Direction::Inbound);
        assert_eq!(subject, Some("teams:d3d3d3d3-0000-4000-8000-00000000d3d3"));
        let (m, _) = message(&import, "19:f00d@unq.gbl.spaces:1718180100000");
        assert_eq!(m.direction, Direction::Outbound);
        assert_eq!(m.extra["source_line"], 2);
    }

    #[test]
    fn overlapping_pages_keep_one_message() {
        let mut docs = all();
        docs.push(fixture("chat-page.json"));
        let import = parse_documents(&docs, &firm()).unwrap();
        assert_eq!(import.messages, 8);
        assert_eq!(import.repeated, 3);
        let keys: Vec<String> = import
            .entries
            .iter()
            .map(|e| e.event.dedup_key().unwrap())
            .collect();
        let unique: HashSet<&String> = keys.iter().collect();
        // The repeated page adds its edit and reactions again, which the
        // journal de-duplicates by their stable ids.
        assert_eq!(unique.len(), keys.len() - 2);
    }

    #[test]
    fn without_firm_tenants_the_tenants_users_are_the_firms() {
        let import = parse_documents(&all(), &options(&[], &[])).unwrap();
        let (m, _) = message(&import, &format!("{CHAT}:1718003456123"));
        assert_eq!(m.direction, Direction::Internal);
        let (m, _) = message(&import, "19:f00d@unq.gbl.spaces:1718180000000");
        assert_eq!(m.direction, Direction::Inbound);
    }

    #[test]
    fn errors_name_the_document_line_and_path() {
        assert_eq!(
            error_of("{\"value\": [\n{\"id\": \"1\",}\n]}"),
            "in.json: line 2, column 12: trailing comma"
        );
        assert_eq!(
            error_of(r#"{"value":[{"id":"1","chatId":"c","from":{"user":{"id":"u"}}}]}"#),
            "in.json: line 1: $.value[0].createdDateTime: missing"
        );
        assert_eq!(
            error_of(
                "{\"id\":\"1\",\"chatId\":\"c\",\"createdDateTime\":\"2024-06-10T07:10:56Z\",\"from\":{\"user\":{\"id\":\"u\"}}}\n{\"id\":\"2\",\"chatId\":\"c\",\"createdDateTime\":\"yesterday\"}"
            ),
            "in.json: line 2: $.createdDateTime: \"yesterday\" is not an ISO 8601 date-time"
        );
        assert_eq!(
            error_of(r#"[{"id":"1","createdDateTime":"2024-06-10T07:10:56Z"}]"#),
            "in.json: line 1: $[0].chatId: missing (and no channelIdentity): which conversation"
        );
        assert_eq!(
            error_of(
                r#"[{"id":"1","chatId":"c","createdDateTime":"2024-06-10T07:10:56Z","from":null}]"#
            ),
            "in.json: line 1: $[0].from: no user or application: who sent it"
        );
        assert_eq!(
            error_of(
                r#"[{"id":"1","chatId":"c","createdDateTime":"2024-06-10T07:10:56Z","from":{"user":{"id":"u"}},"hostedContents":[{"id":"h","contentBytes":"***"}]}]"#
            ),
            "in.json: line 1: $[0].hostedContents[0].contentBytes: not base64"
        );
        assert_eq!(
            error_of("42"),
            "in.json: line 1: $: not a chatMessage, an array of them or a Graph page"
        );
    }

    #[test]
    fn html_becomes_text() {
        assert_eq!(
            html_to_text("<div>a<br>b</div><div>c &lt;d&gt; &#233;&#x41;</div>"),
            "a\nb\nc <d> éA"
        );
        assert_eq!(
            html_to_text("<style>p{}</style>x &bogus; & y"),
            "x &bogus; & y"
        );
        assert_eq!(
            html_to_text("<p>one</p>\n\n\n<p>two</p><unclosed"),
            "one\n\ntwo"
        );
    }

    #[test]
    fn base64_decodes_standard_text() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVs\nbG8h").unwrap(), b"hello!");
        assert_eq!(base64_decode("").unwrap(), b"");
        for bad in ["a", "a=b=", "aGVsbG8===", "aGV*"] {
            assert_eq!(base64_decode(bad), None, "{bad}");
        }
    }
}
