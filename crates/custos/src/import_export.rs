//! `custos import whatsapp-export`: a chat export from a custodian's phone
//! (`.txt`, or `.zip` with media) into the journal.
//!
//! The whole export is read and parsed before anything is written, so a bad
//! line imports nothing. Then, batch by batch, the media each message names
//! are sealed as blobs under the message's external party (durable before
//! they are named) and the messages appended. Message ids come from the
//! parser and are stable across exports of the same chat, so a re-import
//! adds nothing and a later, longer export adds only what is new. The import
//! itself is journalled as a `whatsapp.export.import` system event.

use crate::custodians;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use custos_capture::whatsapp_export::{self, DateOrder, ExportArchive, ExportOptions};
use custos_journal::{Journal, NewEntry};
use custos_model::{Attachment, Digest, Event, Timestamp};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Messages per durable append.
const BATCH: usize = 1000;

/// The action of the event that records an import.
pub const IMPORT_ACTION: &str = "whatsapp.export.import";

/// `custos import ...`.
#[derive(Subcommand, Debug)]
pub enum ImportSource {
    /// A WhatsApp chat export (.txt, or .zip with media) from a custodian's phone.
    WhatsappExport(WhatsappExportArgs),
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
}

/// Runs `custos import ...`.
pub fn run(
    journal: &Journal,
    actor: &str,
    source: &ImportSource,
    out: &mut impl Write,
) -> Result<()> {
    match source {
        ImportSource::WhatsappExport(args) => {
            let name = args.file.display().to_string();
            let report = import_whatsapp_export(journal, actor, args)?;
            writeln!(
                out,
                "{name}: {} messages read, {} archived, {} already in the archive",
                report.messages, report.added, report.duplicates
            )?;
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
    let parsed = whatsapp_export::parse(&export.text, &options, Timestamp::now())
        .map_err(|e| anyhow::anyhow!("{}: {e}; nothing was imported", export.shown))?;

    let mut report = ImportReport {
        messages: parsed.messages.len() as u64,
        ..ImportReport::default()
    };
    let bar = progress_bar(report.messages);
    for chunk in parsed.messages.chunks(BATCH) {
        let mut batch = Vec::with_capacity(chunk.len());
        for m in chunk {
            let mut message = m.message.clone();
            message
                .extra
                .insert("custodian".into(), custodian.id.clone().into());
            let subject = message.external_party().map(str::to_string);
            if let (Some(file), Some(archive)) = (&m.attachment_file, &export.archive) {
                match archive.media_named(file) {
                    Some((entry, data)) => {
                        let blob =
                            journal
                                .put_blob(subject.as_deref(), data)
                                .with_context(|| {
                                    format!("{}: storing {entry} (line {})", export.shown, m.line)
                                })?;
                        message.attachments.push(Attachment {
                            name: Some(file.clone()),
                            media_type: media_type(file).into(),
                            sha256: blob.digest,
                            size: blob.size,
                        });
                        report.attachments += 1;
                    }
                    None => {
                        message
                            .extra
                            .insert("attachment_missing".into(), true.into());
                        report.attachments_missing += 1;
                    }
                }
            }
            batch.push(NewEntry {
                event: Event::Message(message),
                subject,
            });
        }
        for appended in journal
            .append_all(&batch)
            .with_context(|| format!("importing {}", export.shown))?
        {
            if appended.duplicate {
                report.duplicates += 1;
            } else {
                report.added += 1;
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();

    let mut details = serde_json::Map::new();
    details.insert("file".into(), export.source_name.clone().into());
    details.insert("sha256".into(), file_digest.to_string().into());
    details.insert("size".into(), file_size.into());
    if let Some(archive) = &export.archive {
        details.insert("chat_file".into(), archive.chat_file.clone().into());
    }
    details.insert("custodian".into(), custodian.id.clone().into());
    details.insert("phone".into(), phone.into());
    details.insert("conversation".into(), parsed.conversation.clone().into());
    details.insert("tz".into(), args.tz.clone().into());
    details.insert("date_order".into(), parsed.date_order.name().into());
    details.insert(
        "date_order_inferred".into(),
        parsed.date_order_inferred.into(),
    );
    details.insert("lines".into(), parsed.lines.into());
    details.insert("messages".into(), report.messages.into());
    details.insert("archived".into(), report.added.into());
    details.insert("duplicates".into(), report.duplicates.into());
    details.insert("attachments".into(), report.attachments.into());
    details.insert(
        "attachments_missing".into(),
        report.attachments_missing.into(),
    );
    details.insert("system_lines".into(), (parsed.system.len() as u64).into());
    journal.append_system(actor, IMPORT_ACTION, Some(&custodian.id), details)?;
    Ok(report)
}

fn progress_bar(total: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} messages eta {eta}")
            .expect("valid template"),
    );
    bar
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
