//! `custos import whatsapp-export`: a chat export from a custodian's phone
//! (`.txt`, or `.zip` with media) into the journal.
//!
//! The whole export is read and checked ([`whatsapp_export::scan`]) before
//! anything is written, so a bad line imports nothing. Then the messages
//! are built in batches on every core, the media each names sealed as blobs
//! under the message's external party (durable before they are named), and
//! the batches appended in file order with
//! [`Journal::append_batches`]: batch N+1 is built, encrypted and written
//! while batch N is synced, and only a few batches are in memory at once.
//! The import is done once every batch is durable.
//!
//! A message the archive already holds (from the `.txt` of the chat) that
//! the zip gives an attachment it lacks gets the blob and a
//! [`ATTACHMENT_ACTION`] system event under its subject, naming the message
//! (`target` = its source id) and the attachment. Message ids come from the
//! parser and are stable across exports of the same chat, so a re-import
//! adds nothing and a later, longer export adds only what is new. The import
//! itself is journalled as a `whatsapp.export.import` system event.

use crate::custodians;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use custos_capture::whatsapp_export::{self, DateOrder, ExportArchive, ExportOptions};
use custos_journal::{Journal, NewEntry, Opened};
use custos_model::{Attachment, Digest, Event, EventKind, SystemEvent, Timestamp};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Messages per batch handed to the journal.
const BATCH: usize = 2000;
/// Batches submitted and not yet durable, at most: with the batches being
/// made (one per core), what bounds the messages held in memory.
const IN_FLIGHT: usize = 4;

/// The action of the event that records an import.
pub const IMPORT_ACTION: &str = "whatsapp.export.import";
/// The action of the event that links an attachment from a later zip to a
/// message the archive already held without it.
pub const ATTACHMENT_ACTION: &str = "whatsapp.export.attachment";

/// `custos import ...`.
#[derive(Subcommand, Debug)]
pub enum ImportSource {
    /// A WhatsApp chat export (.txt, or .zip with media) from a custodian's phone.
    WhatsappExport(WhatsappExportArgs),
    /// E-mail: `.eml` files, mbox files or Maildir folders.
    Email(crate::import_email::EmailArgs),
    /// A Slack workspace export (.zip).
    Slack(crate::import_slack::SlackArgs),
    /// Microsoft Teams messages as Microsoft Graph returns them (chatMessage JSON).
    Teams(crate::import_teams::TeamsArgs),
    /// RSMF files exported by another archive.
    Rsmf(crate::import_rsmf::RsmfArgs),
    /// Actiance XML or Global Relay EML compliance exports (e.g. Mattermost's).
    Actiance(crate::import_actiance::ActianceArgs),
}

/// `custos import whatsapp-export`.
#[derive(Args, Debug)]
pub struct WhatsappExportArgs {
    /// The export: the `.txt`, or the `.zip` with media, as the app wrote it.
    pub file: PathBuf,
    /// The enrolled custodian whose phone the export comes from.
    #[arg(long)]
    pub custodian: String,
    /// That custodian's work number (must match their enrolment).
    #[arg(long)]
    pub phone: String,
    /// The time zone the phone showed times in (IANA name, e.g. Europe/London).
    #[arg(long)]
    pub tz: String,
    /// The order of the dates (dmy, mdy or ymd) when the file does not tell.
    #[arg(long)]
    pub date_order: Option<DateOrder>,
    /// A display name under which the custodian appears in the export
    /// (repeatable; their enrolled name is always tried).
    #[arg(long = "name", value_name = "DISPLAYNAME")]
    pub names: Vec<String>,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Messages in the export.
    pub messages: u64,
    /// Messages newly archived.
    pub added: u64,
    /// Messages the archive already held.
    pub duplicates: u64,
    /// Media files sealed in the blob store and linked to their message.
    pub attachments: u64,
    /// Media files a message names that the zip does not hold.
    pub attachments_missing: u64,
    /// Attachments linked (by an [`ATTACHMENT_ACTION`] event) to messages
    /// the archive already held without them.
    pub attachments_linked: u64,
}

/// An attachment a message of the export carries.
struct Carried {
    /// The message's place in its batch.
    index: usize,
    source_id: String,
    subject: Option<String>,
    line: u64,
    attachment: Attachment,
}

/// Links each attachment of `candidates` (messages the archive already
/// held: the original's entry, the attachment the export gives it) that
/// the original lacks and no earlier link names, with a system event under
/// the message's subject; returns how many were linked. The blob itself is
/// sealed under the message's key (its subject and month), so it is read
/// with the key of the entry `message_seq` names and disposed of with it.
fn link_attachments(
    journal: &Journal,
    actor: &str,
    source_file: &str,
    candidates: Vec<(u64, Carried)>,
) -> Result<u64> {
    let mut lacking = Vec::new();
    for (seq, c) in candidates {
        let entry = journal.entry(seq)?;
        let Opened::Event(Event::Message(original)) = journal.open_entry(&entry)? else {
            continue; // shredded: nothing to link to
        };
        if !original
            .attachments
            .iter()
            .any(|a| a.sha256 == c.attachment.sha256)
        {
            lacking.push((seq, c));
        }
    }
    if lacking.is_empty() {
        return Ok(0);
    }
    // Links made by an earlier import (a zip imported twice adds nothing).
    let mut linked: HashSet<(String, Digest)> = HashSet::new();
    for entry in journal.entries(0) {
        let entry = entry?;
        if entry.leaf.kind != EventKind::System {
            continue;
        }
        if let Opened::Event(Event::System(e)) = journal.open_entry(&entry)?
            && e.action == ATTACHMENT_ACTION
            && let (Some(id), Some(digest)) = (
                e.details.get("source_id").and_then(|v| v.as_str()),
                e.details
                    .get("sha256")
                    .and_then(|v| v.as_str())
                    .and_then(Digest::from_hex),
            )
        {
            linked.insert((id.to_string(), digest));
        }
    }
    let mut count = 0;
    for (seq, c) in lacking {
        if !linked.insert((c.source_id.clone(), c.attachment.sha256)) {
            continue;
        }
        let mut details = serde_json::Map::new();
        details.insert("channel".into(), whatsapp_export::CHANNEL.into());
        details.insert("source_id".into(), c.source_id.clone().into());
        details.insert("message_seq".into(), seq.into());
        details.insert("source_file".into(), source_file.into());
        details.insert("line".into(), c.line.into());
        details.insert("attachment".into(), serde_json::to_value(&c.attachment)?);
        details.insert("sha256".into(), c.attachment.sha256.to_string().into());
        let event = Event::System(SystemEvent {
            actor: actor.to_string(),
            action: ATTACHMENT_ACTION.into(),
            target: Some(c.source_id),
            at: Timestamp::now(),
            details,
        });
        journal.append(&event, c.subject.as_deref())?;
        count += 1;
    }
    Ok(count)
}

/// Runs `custos import ...`.
pub fn run(
    journal: &Journal,
    actor: &str,
    source: &ImportSource,
    out: &mut impl Write,
) -> Result<()> {
    match source {
        ImportSource::Email(args) => crate::import_email::run(journal, actor, args, out),
        ImportSource::Slack(args) => crate::import_slack::run(journal, actor, args, out),
        ImportSource::Teams(args) => crate::import_teams::run(journal, actor, args, out),
        ImportSource::Rsmf(args) => crate::import_rsmf::run(journal, actor, args, out),
        ImportSource::Actiance(args) => crate::import_actiance::run(journal, actor, args, out),
        ImportSource::WhatsappExport(args) => {
            let name = args.file.display().to_string();
            let report = import_whatsapp_export(journal, actor, args)?;
            writeln!(
                out,
                "{name}: {} messages read, {} archived, {} already in the archive",
                report.messages, report.added, report.duplicates
            )?;
            if report.attachments_linked > 0 {
                writeln!(
                    out,
                    "{name}: {} attachments linked to messages already in the archive",
                    report.attachments_linked
                )?;
            }
            if report.attachments + report.attachments_missing > 0 {
                writeln!(
                    out,
                    "{name}: {} attachments stored, {} named but not in the export",
                    report.attachments, report.attachments_missing
                )?;
            }
            Ok(())
        }
    }
}

/// The chat text of an export file and, for a zip, its media.
struct Export {
    /// The file name the chat is named by (`WhatsApp Chat with Ana.zip`).
    source_name: String,
    /// How errors name the chat text (`export.zip (_chat.txt)`).
    shown: String,
    text: String,
    archive: Option<ExportArchive>,
}

fn read_export(file: &Path, bytes: Vec<u8>) -> Result<Export> {
    let shown = file.display().to_string();
    let source_name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| shown.clone());
    let is_zip = bytes.starts_with(b"PK\x03\x04")
        || bytes.starts_with(b"PK\x05\x06")
        || source_name.to_ascii_lowercase().ends_with(".zip");
    if is_zip {
        let mut archive = whatsapp_export::read_zip(&bytes)
            .with_context(|| format!("{shown}: not a readable export archive"))?;
        let text = std::mem::take(&mut archive.chat_text);
        return Ok(Export {
            shown: format!("{shown} ({})", archive.chat_file),
            source_name,
            text,
            archive: Some(archive),
        });
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{shown}: not UTF-8 text (first bad byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })?;
    let text = match text.strip_prefix('\u{feff}') {
        Some(t) => t.to_string(),
        None => text,
    };
    Ok(Export {
        source_name,
        shown,
        text,
        archive: None,
    })
}

/// Imports one WhatsApp chat export; see the [module docs](self).
pub fn import_whatsapp_export(
    journal: &Journal,
    actor: &str,
    args: &WhatsappExportArgs,
) -> Result<ImportReport> {
    let registry = custodians::registry(journal)?;
    let Some(custodian) = registry.get(args.custodian.trim()) else {
        bail!(
            "custodian {} is not enrolled; enrol them first with `custos custodian add {} --name NAME --phone NUMBER --opted-in YYYY-MM-DD`",
            args.custodian,
            args.custodian
        );
    };
    let phone = custodians::normalise_phone(&args.phone).context("--phone")?;
    if phone != custodian.phone {
        bail!(
            "--phone {phone} is not the number of custodian {} (enrolled with {}); nothing was imported",
            custodian.id,
            custodian.phone
        );
    }
    let tz = jiff::tz::TimeZone::get(&args.tz).with_context(|| {
        format!(
            "--tz {:?}: not a known time zone (use an IANA name such as Europe/London)",
            args.tz
        )
    })?;

    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let file_digest = Digest::of(&bytes);
    let file_size = bytes.len() as u64;
    let export = read_export(&args.file, bytes)?;
    let mut names = args.names.clone();
    names.push(custodian.name.clone());
    let options = ExportOptions {
        custodian_phone: phone.clone(),
        custodian_names: names,
        tz,
        date_order: args.date_order,
        source_name: export.source_name.clone(),
    };
    // Every line is read and checked before anything is written.
    let scanned = whatsapp_export::scan(&export.text, &options, Timestamp::now())
        .map_err(|e| anyhow::anyhow!("{}: {e}; nothing was imported", export.shown))?;

    let mut report = ImportReport {
        messages: scanned.len() as u64,
        ..ImportReport::default()
    };
    let bar = crate::progress::counting(report.messages, "messages");
    let attachments = AtomicU64::new(0);
    let missing = AtomicU64::new(0);
    // Per batch, the messages that carry an attachment from the zip: in
    // case the archive already holds them without it.
    let carried: Mutex<HashMap<usize, Vec<Carried>>> = Mutex::new(HashMap::new());
    let mut candidates: Vec<(u64, Carried)> = Vec::new();
    let batches = scanned.len().div_ceil(BATCH);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    journal
        .append_batches::<anyhow::Error, _, _>(
            batches,
            threads,
            IN_FLIGHT,
            |i| {
                let range = i * BATCH..((i + 1) * BATCH).min(scanned.len());
                let mut batch = Vec::with_capacity(range.len());
                let mut with_media = Vec::new();
                for k in range {
                    let m = scanned.message(k);
                    let mut message = m.message;
                    message
                        .extra
                        .insert("custodian".into(), custodian.id.clone().into());
                    let subject = message.external_party().map(str::to_string);
                    if let (Some(file), Some(archive)) = (&m.attachment_file, &export.archive) {
                        match archive.media_named(file) {
                            Some((entry, data)) => {
                                let blob = journal
                                    .put_blob(subject.as_deref(), message.sent_at, data)
                                    .with_context(|| {
                                        format!(
                                            "{}: storing {entry} (line {})",
                                            export.shown, m.line
                                        )
                                    })?;
                                let attachment = Attachment {
                                    name: Some(file.clone()),
                                    media_type: media_type(file).into(),
                                    sha256: blob.digest,
                                    size: blob.size,
                                };
                                with_media.push(Carried {
                                    index: batch.len(),
                                    source_id: message.source_id.clone(),
                                    subject: subject.clone(),
                                    line: m.line,
                                    attachment: attachment.clone(),
                                });
                                message.attachments.push(attachment);
                                attachments.fetch_add(1, Ordering::Relaxed);
                            }
                            None => {
                                message
                                    .extra
                                    .insert("attachment_missing".into(), true.into());
                                missing.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    batch.push(NewEntry {
                        event: Event::Message(message),
                        subject,
                    });
                }
                if !with_media.is_empty() {
                    carried
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(i, with_media);
                }
                Ok(batch)
            },
            |i, answers| {
                for appended in &answers {
                    if appended.duplicate {
                        report.duplicates += 1;
                    } else {
                        report.added += 1;
                    }
                }
                let with_media = carried
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&i)
                    .unwrap_or_default();
                for c in with_media {
                    let answer = answers[c.index];
                    if answer.duplicate {
                        candidates.push((answer.seq, c));
                    }
                }
                bar.inc(answers.len() as u64);
                Ok(())
            },
        )
        .with_context(|| format!("importing {}", export.shown))?;
    bar.finish_and_clear();
    report.attachments = attachments.into_inner();
    report.attachments_missing = missing.into_inner();
    report.attachments_linked =
        link_attachments(journal, actor, &export.source_name, candidates)
            .with_context(|| format!("linking the attachments of {}", export.shown))?;

    let mut details = serde_json::Map::new();
    details.insert("file".into(), export.source_name.clone().into());
    details.insert("sha256".into(), file_digest.to_string().into());
    details.insert("size".into(), file_size.into());
    if let Some(archive) = &export.archive {
        details.insert("chat_file".into(), archive.chat_file.clone().into());
    }
    details.insert("custodian".into(), custodian.id.clone().into());
    details.insert("phone".into(), phone.into());
    details.insert("conversation".into(), scanned.conversation.clone().into());
    details.insert("tz".into(), args.tz.clone().into());
    details.insert("date_order".into(), scanned.date_order.name().into());
    details.insert(
        "date_order_inferred".into(),
        scanned.date_order_inferred.into(),
    );
    details.insert("lines".into(), scanned.lines.into());
    details.insert("messages".into(), report.messages.into());
    details.insert("archived".into(), report.added.into());
    details.insert("duplicates".into(), report.duplicates.into());
    details.insert("attachments".into(), report.attachments.into());
    details.insert(
        "attachments_missing".into(),
        report.attachments_missing.into(),
    );
    details.insert(
        "attachments_linked".into(),
        report.attachments_linked.into(),
    );
    details.insert("system_lines".into(), (scanned.system.len() as u64).into());
    journal.append_system(actor, IMPORT_ACTION, Some(&custodian.id), details)?;
    Ok(report)
}

/// The media type of an export's media file, from its extension.
pub fn media_type(file: &str) -> &'static str {
    let ext = file
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "mp4" => "video/mp4",
        "3gp" => "video/3gpp",
        "mov" => "video/quicktime",
        "opus" | "ogg" => "audio/ogg",
        "m4a" => "audio/mp4",
        "mp3" => "audio/mpeg",
        "aac" => "audio/aac",
        "amr" => "audio/amr",
        "wav" => "audio/wav",
        "pdf" => "application/pdf",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "vcf" => "text/vcard",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_by_extension() {
        assert_eq!(
            media_type("00000002-PHOTO-2022-02-28-21-55-01.jpg"),
            "image/jpeg"
        );
        assert_eq!(media_type("Report.PDF"), "application/pdf");
        assert_eq!(media_type("PTT-20240305-WA0001.opus"), "audio/ogg");
        assert_eq!(media_type("noextension"), "application/octet-stream");
    }
}
