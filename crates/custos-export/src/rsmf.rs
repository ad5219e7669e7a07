//! RSMF 2.0 files: one RFC 5322 message per slice, with a readable
//! quoted-printable preview and the `rsmf.zip` attachment holding
//! `rsmf_manifest.json` and the attachments it names.
//!
//! Mapping (see `docs/exports.md`): a message is a `message` event whose
//! id is its Bates number; `body` is the text as first sent, and each edit
//! is an `edits[]` entry with the text before and after; a deletion sets
//! `deleted` (who and when in `custom`); reactions are folded per person
//! (the last one counts, a removal removes) into `reactions[]`; delivered
//! and read statuses are `read_receipts[]`. `custom` carries the source id
//! (`wamid` on WhatsApp), the journal seq and the Bates number, which is
//! what [`verify`](crate::verify) uses to find the proven entry.

use crate::export::{Ctx, Output, Written};
use crate::plan::{Thread, safe_name};
use crate::zipfile::ZipOut;
use crate::{Error, mime, schema};
use custos_model::{DeliveryState, Direction, Timestamp};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;

/// The RSMF version written.
pub const VERSION: &str = "2.0.0";
/// The manifest's name in the zip.
pub const MANIFEST: &str = "rsmf_manifest.json";
/// The MIME boundary: `=_` cannot occur in quoted-printable or base64 text,
/// so a fixed boundary is safe and keeps the output deterministic.
pub const BOUNDARY: &str = "=_custos-rsmf";
/// The one conversation id of a manifest (a file holds one conversation).
pub const CONVERSATION_ID: &str = "C1";

#[derive(Serialize)]
struct Manifest<'a> {
    version: &'static str,
    eventcollectionid: String,
    participants: Vec<Participant<'a>>,
    conversations: Vec<Conversation<'a>>,
    events: Vec<Event<'a>>,
}

#[derive(Serialize)]
struct Participant<'a> {
    id: String,
    display: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    account_id: &'a str,
    custom: Vec<Custom<'a>>,
}

#[derive(Serialize)]
struct Conversation<'a> {
    id: &'static str,
    display: String,
    platform: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    participants: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    custodian: Option<String>,
    custom: Vec<Custom<'a>>,
}

#[derive(Serialize)]
struct Event<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a str>,
    participant: String,
    conversation: &'static str,
    timestamp: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    deleted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    direction: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<Attachment<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    edits: Vec<EditEntry<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    reactions: Vec<ReactionEntry<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    read_receipts: Vec<Receipt>,
    custom: Vec<Custom<'a>>,
}

#[derive(Serialize)]
struct Attachment<'a> {
    id: String,
    display: Cow<'a, str>,
    size: u64,
}

#[derive(Serialize)]
struct EditEntry<'a> {
    participant: String,
    timestamp: String,
    previous: &'a str,
    new: &'a str,
}

#[derive(Serialize)]
struct ReactionEntry<'a> {
    value: &'a str,
    count: usize,
    participants: Vec<String>,
}

#[derive(Serialize)]
struct Receipt {
    participant: String,
    timestamp: String,
    action: &'static str,
}

#[derive(Serialize)]
struct Custom<'a> {
    name: &'static str,
    value: Cow<'a, str>,
}

fn custom<'a>(name: &'static str, value: impl Into<Cow<'a, str>>) -> Option<Custom<'a>> {
    let value = value.into();
    // The schema wants non-empty values.
    (!value.is_empty()).then_some(Custom { name, value })
}

/// The application name shown for a channel.
pub fn application(channel: &str) -> Cow<'_, str> {
    match channel {
        "whatsapp" => "WhatsApp".into(),
        "email" => "E-mail".into(),
        "sms" => "SMS".into(),
        "slack" => "Slack".into(),
        "teams" => "Microsoft Teams".into(),
        "bloomberg" => "Bloomberg".into(),
        other => other.into(),
    }
}

/// An attachment to put in the zip.
struct ZipFile<'a> {
    name: String,
    media_type: &'a str,
    bytes: Vec<u8>,
}

/// Media types that are already compressed: stored, not deflated again.
fn already_compressed(media_type: &str) -> bool {
    let base = media_type.split(';').next().unwrap_or("").trim();
    base.starts_with("image/") && base != "image/bmp" && base != "image/svg+xml"
        || base.starts_with("video/")
        || base.starts_with("audio/")
        || matches!(
            base,
            "application/zip"
                | "application/gzip"
                | "application/pdf"
                | "application/x-7z-compressed"
        )
}

/// A file extension for a media type, for attachments without a name.
fn extension(media_type: &str) -> &'static str {
    match media_type.split(';').next().unwrap_or("").trim() {
        "image/jpeg" => ".jpg",
        "image/png" => ".png",
        "image/gif" => ".gif",
        "image/webp" => ".webp",
        "video/mp4" => ".mp4",
        "audio/ogg" => ".ogg",
        "audio/mpeg" => ".mp3",
        "application/pdf" => ".pdf",
        "text/plain" => ".txt",
        "text/vcard" => ".vcf",
        _ => ".bin",
    }
}

/// The name of the `n`th (from 1) attachment of a message in the zip.
pub fn attachment_file(bates: &str, n: usize, name: Option<&str>, media_type: &str) -> String {
    match name {
        Some(name) if !name.is_empty() => format!("{bates}-{n}-{}", safe_name(name)),
        _ => format!("{bates}-{n}{}", extension(media_type)),
    }
}

/// A time as RSMF shows it: RFC 3339 in UTC.
fn ts(at: Timestamp) -> String {
    at.to_string()
}

/// A time in the request's zone, for the preview: `2024-06-10 08:10:56 BST`.
pub fn local(at: Timestamp, zone: &jiff::tz::TimeZone) -> String {
    match jiff::Timestamp::from_microsecond(at.as_micros()) {
        Ok(t) => t
            .to_zoned_datetime(zone.clone())
            .strftime("%Y-%m-%d %H:%M:%S %Z")
            .to_string(),
        Err(_) => at.to_string(),
    }
}

/// The displayed names of a conversation: who is in it, or its id when
/// more than three are.
pub fn conversation_display(ctx: &Ctx<'_>, conversation: usize) -> String {
    let c = &ctx.plan.conversations[conversation];
    if c.addresses.len() <= 3 {
        c.addresses
            .iter()
            .map(|a| ctx.person(a).display)
            .collect::<Vec<_>>()
            .join(" / ")
    } else {
        c.id.clone()
    }
}

/// Writes the RSMF file of slice `index`.
pub fn write_slice(ctx: &Ctx<'_>, index: usize) -> Result<Written, Error> {
    let slice = &ctx.plan.slices[index];
    let threads = &ctx.plan.threads[slice.threads.clone()];
    let conversation = &ctx.plan.conversations[slice.conversation];
    let path = format!("rsmf/{}.rsmf", slice.stem);
    let custodian = ctx.custodians[slice.conversation].as_deref();

    // Participants: everyone the slice names, sorted by address.
    let mut addresses: BTreeSet<&str> = BTreeSet::new();
    addresses.extend(custodian);
    for t in threads {
        addresses.insert(&t.message.sender);
        addresses.extend(t.message.recipients.iter().map(String::as_str));
        addresses.extend(t.edits.iter().map(|(_, e)| e.editor.as_str()));
        addresses.extend(t.deletions.iter().map(|(_, d)| d.deleted_by.as_str()));
        addresses.extend(t.reactions.iter().map(|(_, r)| r.sender.as_str()));
        addresses.extend(t.statuses.iter().map(|(_, s)| s.recipient.as_str()));
    }
    let ids: HashMap<&str, String> = addresses
        .iter()
        .enumerate()
        .map(|(i, a)| (*a, format!("P{}", i + 1)))
        .collect();
    let participants: Vec<Participant> = addresses
        .iter()
        .map(|a| {
            let shown = ctx.person(a);
            Participant {
                id: ids[a].clone(),
                display: shown.display,
                email: shown.email,
                account_id: a,
                custom: custom("side", side_name(shown.side)).into_iter().collect(),
            }
        })
        .collect();

    let custodian_id = custodian.map(|c| ids[c].clone());
    let display = conversation_display(ctx, slice.conversation);
    let conversations = vec![Conversation {
        id: CONVERSATION_ID,
        display: display.clone(),
        platform: &conversation.channel,
        kind: if conversation.addresses.len() <= 2 {
            "direct"
        } else {
            "channel"
        },
        participants: participants.iter().map(|p| p.id.clone()).collect(),
        custodian: custodian_id,
        custom: [
            custom("conversation_id", conversation.id.as_str()),
            custom("slice", slice.label.as_str()),
        ]
        .into_iter()
        .flatten()
        .collect(),
    }];

    let in_slice: HashMap<&str, &str> = threads
        .iter()
        .map(|t| (t.message.source_id.as_str(), t.bates.as_str()))
        .collect();
    let mut zip_files: Vec<ZipFile> = Vec::new();
    let mut events = Vec::with_capacity(threads.len());
    for t in threads {
        events.push(event(ctx, t, custodian, &ids, &in_slice, &mut zip_files)?);
    }
    let attachment_count = zip_files.len();
    let manifest = Manifest {
        version: VERSION,
        eventcollectionid: format!("{}:{}", conversation.channel, conversation.id),
        participants,
        conversations,
        events,
    };
    let manifest_bytes = serde_json::to_vec(&manifest).expect("manifest serialises");

    // Validate exactly the bytes that will be written.
    let parsed: serde_json::Value =
        serde_json::from_slice(&manifest_bytes).expect("serde_json reads its own output");
    let names: BTreeSet<&str> = zip_files.iter().map(|f| f.name.as_str()).collect();
    let in_zip = |name: &str| names.contains(name);
    let problems = schema::check(&parsed, Some(&in_zip));
    if !problems.is_empty() {
        return Err(Error::Manifest {
            file: path,
            problems,
        });
    }
    let first = threads.first().map(|t| t.message.sent_at);
    let last = threads.iter().map(|t| t.message.sent_at).max();
    let from_address = custodian.unwrap_or(threads[0].message.sender.as_str());
    let from = ctx.person(from_address);
    let from_box = mime::mailbox(
        from.display,
        &mime::address_for(from.email.unwrap_or(from_address), &conversation.channel),
    );
    let to: Vec<String> = addresses
        .iter()
        .filter(|a| **a != from_address)
        .map(|a| {
            let shown = ctx.person(a);
            mime::mailbox(
                shown.display,
                &mime::address_for(shown.email.unwrap_or(a), &conversation.channel),
            )
        })
        .collect();
    let app = application(&conversation.channel);
    let title = format!("{app}: {display}");

    let mut head = String::with_capacity(2048);
    mime::header(&mut head, "From", &from_box);
    if !to.is_empty() {
        mime::header(&mut head, "To", &to.join(", "));
    }
    mime::header(&mut head, "Subject", &format!("{title} ({})", slice.label));
    if let Some(first) = first {
        mime::header(&mut head, "Date", &mime::date(first, &ctx.zone));
    }
    let id_digest =
        custos_model::Digest::of(format!("{}\0{}", ctx.request.id, slice.stem).as_bytes());
    mime::header(
        &mut head,
        "Message-ID",
        &format!("<{}@custos.invalid>", &id_digest.to_string()[..32]),
    );
    mime::header(&mut head, "MIME-Version", "1.0");
    mime::header(&mut head, "X-RSMF-Version", VERSION);
    mime::header(&mut head, "X-RSMF-Generator", crate::GENERATOR);
    if let (Some(first), Some(last)) = (first, last) {
        mime::header(&mut head, "X-RSMF-BeginDate", &ts(first));
        mime::header(&mut head, "X-RSMF-EndDate", &ts(last));
    }
    mime::header(&mut head, "X-RSMF-EventCount", &threads.len().to_string());
    mime::header(&mut head, "X-RSMF-Application", &app);
    if let Some(c) = custodian {
        mime::header(&mut head, "X-RSMF-Custodian", ctx.person(c).display);
    }
    let names: Vec<String> = addresses
        .iter()
        .map(|a| ctx.person(a).display.replace(',', " "))
        .collect();
    mime::header(&mut head, "X-RSMF-Participants", &names.join(", "));
    mime::header(
        &mut head,
        "X-RSMF-AttachmentCount",
        &attachment_count.to_string(),
    );
    mime::header(
        &mut head,
        "X-RSMF-EventCollectionID",
        &format!("{}:{}", conversation.channel, conversation.id),
    );
    mime::header(
        &mut head,
        "Content-Type",
        &format!("multipart/mixed; boundary=\"{BOUNDARY}\""),
    );
    head.push_str("\r\n");
    head.push_str("This is an RSMF 2.0 file: the conversation is in the attached rsmf.zip.\r\n");
    head.push_str(&format!("--{BOUNDARY}\r\n"));
    head.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    head.push_str("Content-Transfer-Encoding: quoted-printable\r\n\r\n");
    head.push_str(&mime::quoted_printable(&preview(ctx, index, &title)));
    head.push_str(&format!("\r\n--{BOUNDARY}\r\n"));
    head.push_str("Content-Type: application/zip; name=\"rsmf.zip\"\r\n");
    head.push_str("Content-Disposition: attachment; filename=\"rsmf.zip\"\r\n");
    head.push_str("Content-Transfer-Encoding: base64\r\n\r\n");

    let mut out = ctx.create(&path)?;
    out.write_all(head.as_bytes()).map_err(Error::io(&path))?;
    // The zip streams through the base64 encoder into the file.
    let zip_error = |e: std::io::Error| Error::Zip {
        file: path.clone(),
        reason: e.to_string(),
    };
    let mut zip = ZipOut::new(mime::Base64Lines::new(out));
    zip.add(MANIFEST, &manifest_bytes, true)
        .map_err(zip_error)?;
    for file in &zip_files {
        zip.add(
            &file.name,
            &file.bytes,
            !already_compressed(file.media_type),
        )
        .map_err(zip_error)?;
    }
    let mut out: Output = zip
        .finish()
        .and_then(mime::Base64Lines::finish)
        .map_err(zip_error)?;
    out.write_all(format!("--{BOUNDARY}--\r\n").as_bytes())
        .map_err(Error::io(&path))?;
    out.finish()
}

fn side_name(side: crate::Side) -> &'static str {
    match side {
        crate::Side::Firm => "firm",
        crate::Side::External => "external",
        crate::Side::Internal => "internal",
    }
}

/// The manifest event of one message; its attachments join `zip_files`.
fn event<'a>(
    ctx: &'a Ctx<'_>,
    t: &'a Thread<'a>,
    custodian: Option<&str>,
    ids: &HashMap<&str, String>,
    in_slice: &HashMap<&str, &'a str>,
    zip_files: &mut Vec<ZipFile<'a>>,
) -> Result<Event<'a>, Error> {
    let m = t.message;
    let direction = match custodian {
        Some(c) if m.sender == c => Some("outgoing"),
        Some(_) => Some("incoming"),
        None => match m.direction {
            Direction::Outbound => Some("outgoing"),
            Direction::Inbound => Some("incoming"),
            Direction::Internal | Direction::Unknown => None,
        },
    };
    let mut custom_fields: Vec<Custom> = Vec::new();
    let id_name = if m.channel == "whatsapp" {
        "wamid"
    } else {
        "source_id"
    };
    custom_fields.extend(custom(id_name, m.source_id.as_str()));
    custom_fields.extend(custom("journal_seq", t.seq.to_string()));
    custom_fields.extend(custom("bates", t.bates.as_str()));
    if let Some((_, d)) = t.deletions.first() {
        custom_fields.extend(custom("deleted_by", ctx.person(&d.deleted_by).display));
        custom_fields.extend(custom("deleted_at", ts(d.deleted_at)));
    }
    if let Some(target) = &m.reply_to
        && !in_slice.contains_key(target.as_str())
    {
        custom_fields.extend(custom("reply_to", target.as_str()));
    }

    let mut attachments = Vec::new();
    for (n, a) in m.attachments.iter().enumerate() {
        let name = attachment_file(&t.bates, n + 1, a.name.as_deref(), &a.media_type);
        match ctx.attachment(&a.sha256) {
            Ok(bytes) => {
                let actual = custos_model::Digest::of(&bytes);
                if actual != a.sha256 {
                    return Err(Error::Blob {
                        bates: t.bates.clone(),
                        name: a.name.clone().unwrap_or_else(|| name.clone()),
                        expected: a.sha256.to_string(),
                        actual: actual.to_string(),
                    });
                }
                attachments.push(Attachment {
                    id: name.clone(),
                    display: a
                        .name
                        .as_deref()
                        .map_or(Cow::Owned(name.clone()), Cow::Borrowed),
                    size: a.size,
                });
                zip_files.push(ZipFile {
                    name,
                    media_type: &a.media_type,
                    bytes,
                });
            }
            Err(why) => {
                let what = format!(
                    "{} ({}, SHA-256 {})",
                    a.name.as_deref().unwrap_or(&name),
                    a.media_type,
                    a.sha256
                );
                let field = if ctx.redaction().is_some() {
                    "withheld_attachment"
                } else {
                    "missing_attachment"
                };
                let listed = if ctx.redaction().is_some() {
                    "withheld"
                } else {
                    "missing"
                };
                ctx.skip(format!(
                    "{}: attachment {what} was {why}; listed as {listed}",
                    t.bates
                ));
                custom_fields.extend(custom(field, what));
            }
        }
    }

    let mut edits = Vec::with_capacity(t.edits.len());
    let mut previous = m.text.as_deref().unwrap_or("");
    for (_, e) in &t.edits {
        edits.push(EditEntry {
            participant: ids[e.editor.as_str()].clone(),
            timestamp: ts(e.edited_at),
            previous,
            new: &e.text,
        });
        previous = &e.text;
    }

    // Reactions: the last one of each person counts; a removal removes.
    let mut current: BTreeMap<&str, &str> = BTreeMap::new();
    for (_, r) in &t.reactions {
        match r.emoji.as_deref() {
            Some(emoji) if !emoji.is_empty() => current.insert(&r.sender, emoji),
            _ => current.remove(r.sender.as_str()),
        };
    }
    let mut reactions: Vec<ReactionEntry> = Vec::new();
    for (_, r) in &t.reactions {
        let Some(emoji) = current.get(r.sender.as_str()).copied() else {
            continue;
        };
        if r.emoji.as_deref() != Some(emoji) {
            continue;
        }
        let id = ids[r.sender.as_str()].clone();
        match reactions.iter_mut().find(|x| x.value == emoji) {
            Some(entry) if entry.participants.contains(&id) => {}
            Some(entry) => {
                entry.participants.push(id);
                entry.count += 1;
            }
            None => reactions.push(ReactionEntry {
                value: emoji,
                count: 1,
                participants: vec![id],
            }),
        }
    }

    let mut read_receipts = Vec::new();
    for (_, s) in &t.statuses {
        let action = match s.state {
            DeliveryState::Delivered => "delivered",
            DeliveryState::Read | DeliveryState::Played => "read",
            DeliveryState::Sent => continue,
            DeliveryState::Failed => {
                let text = match &s.error {
                    Some(e) => format!("to {} at {}: {e}", s.recipient, ts(s.at)),
                    None => format!("to {} at {}", s.recipient, ts(s.at)),
                };
                custom_fields.extend(custom("delivery_failed", text));
                continue;
            }
        };
        read_receipts.push(Receipt {
            participant: ids[s.recipient.as_str()].clone(),
            timestamp: ts(s.at),
            action,
        });
    }

    Ok(Event {
        id: &t.bates,
        kind: "message",
        parent: m
            .reply_to
            .as_deref()
            .and_then(|target| in_slice.get(target).copied()),
        body: m.text.as_deref(),
        participant: ids[m.sender.as_str()].clone(),
        conversation: CONVERSATION_ID,
        timestamp: ts(m.sent_at),
        deleted: !t.deletions.is_empty(),
        direction,
        attachments,
        edits,
        reactions,
        read_receipts,
        custom: custom_fields,
    })
}

/// The readable preview: a heading and one block per message.
fn preview(ctx: &Ctx<'_>, index: usize, title: &str) -> String {
    let slice = &ctx.plan.slices[index];
    let threads = &ctx.plan.threads[slice.threads.clone()];
    let mut text = String::with_capacity(threads.len() * 120 + 256);
    text.push_str(title);
    text.push('\n');
    text.push_str(&format!(
        "{} ({}), {} message(s); times in {}\n",
        slice.label,
        ctx.plan.conversations[slice.conversation].id,
        threads.len(),
        ctx.request.time_zone
    ));
    text.push_str(&format!(
        "Export {}. Preview only: the record is the attached rsmf.zip (RSMF {VERSION}).\n",
        ctx.request.id
    ));
    for t in threads {
        let m = t.message;
        text.push('\n');
        text.push_str(&format!(
            "[{}] {} {}: {}\n",
            local(m.sent_at, &ctx.zone),
            t.bates,
            ctx.person(&m.sender).display,
            m.text.as_deref().unwrap_or("")
        ));
        for a in &m.attachments {
            text.push_str(&format!(
                "  attachment: {} ({}, {} bytes)\n",
                a.name.as_deref().unwrap_or("(no name)"),
                a.media_type,
                a.size
            ));
        }
        for (_, e) in &t.edits {
            text.push_str(&format!(
                "  edited at {} by {}: {}\n",
                local(e.edited_at, &ctx.zone),
                ctx.person(&e.editor).display,
                e.text
            ));
        }
        if let Some((_, d)) = t.deletions.first() {
            text.push_str(&format!(
                "  deleted at {} by {}\n",
                local(d.deleted_at, &ctx.zone),
                ctx.person(&d.deleted_by).display
            ));
        }
    }
    text
}
