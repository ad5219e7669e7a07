//! `custos import email`: e-mail from an `.eml` file, an mbox file or a
//! Maildir folder (`cur/` and `new/`), told apart automatically.
//!
//! Every message is read and parsed ([`email::parse_message`]) before
//! anything is written, so one bad message imports nothing. Then, message
//! by message in input order, each attachment is sealed as a blob under the
//! message's external party (durable before the message names it), and the
//! raw bytes (a `RawPayload`, source [`RAW_SOURCE`], whose digest the
//! message carries) and the message are appended in batches with
//! [`Journal::append_batches`]. Source ids are Message-IDs, so re-importing
//! adds nothing and a later, longer mailbox adds only what is new. The
//! import itself is journalled as an [`IMPORT_ACTION`] system event.

use anyhow::{Context, Result, bail};
use clap::Args;
use custos_capture::email::{self, EmailError, Options, ParsedEmail, RawMessage};
use custos_journal::{Journal, NewEntry};
use custos_model::{Digest, Event, Timestamp};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Messages per batch handed to the journal.
const BATCH: usize = 500;
/// Batches submitted and not yet durable, at most.
const IN_FLIGHT: usize = 4;
/// The most files a Maildir may hold.
const MAX_MAILDIR_FILES: usize = email::MAX_MESSAGES;

/// The action of the event that records an import.
pub const IMPORT_ACTION: &str = "email.import";
/// The source of the raw payloads an import keeps.
pub const RAW_SOURCE: &str = "email.import";

/// `custos import email`.
#[derive(Args, Debug)]
pub struct EmailArgs {
    /// What to import: an `.eml` file, an mbox file or a Maildir folder.
    pub file: PathBuf,
    /// A mail domain of the firm (repeatable; subdomains included): its
    /// addresses are the firm's, the others external.
    #[arg(long = "firm-domain", value_name = "DOMAIN")]
    pub firm_domains: Vec<String>,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Messages in the input.
    pub messages: u64,
    /// Messages newly archived.
    pub added: u64,
    /// Messages the archive (or the input, earlier) already held.
    pub duplicates: u64,
    /// Attachments sealed in the blob store.
    pub attachments: u64,
}

/// Runs the import.
pub fn run(journal: &Journal, actor: &str, args: &EmailArgs, out: &mut impl Write) -> Result<()> {
    let name = args.file.display().to_string();
    let report = import_email(journal, actor, args)?;
    writeln!(
        out,
        "{name}: {} messages read, {} archived, {} already in the archive",
        report.messages, report.added, report.duplicates
    )?;
    if report.attachments > 0 {
        writeln!(out, "{name}: {} attachments stored", report.attachments)?;
    }
    Ok(())
}

/// One message of the input and how to name it.
struct Input {
    shown: String,
    raw: RawMessage,
}

/// Reads the messages of `path`: a Maildir folder, an mbox or one message.
fn read_input(path: &Path) -> Result<(&'static str, Vec<Input>, Digest, u64)> {
    let shown = path.display().to_string();
    if path.is_dir() {
        let mut files = Vec::new();
        for sub in ["cur", "new"] {
            let dir = path.join(sub);
            if !dir.is_dir() {
                continue;
            }
            let mut names = Vec::new();
            for entry in
                std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
            {
                let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
                let file_name = entry.file_name().to_string_lossy().into_owned();
                if file_name.starts_with('.') || !entry.file_type()?.is_file() {
                    continue;
                }
                names.push(file_name);
            }
            names.sort();
            files.extend(names.into_iter().map(|n| format!("{sub}/{n}")));
        }
        if files.is_empty() && !path.join("cur").is_dir() && !path.join("new").is_dir() {
            bail!("{shown}: a folder but not a Maildir (no cur/ or new/); nothing was imported");
        }
        if files.len() > MAX_MAILDIR_FILES {
            bail!("{shown}: more than {MAX_MAILDIR_FILES} messages; nothing was imported");
        }
        // The folder's digest: over each file's name and digest, in order.
        let mut listing = Vec::new();
        let mut size = 0u64;
        let mut inputs = Vec::with_capacity(files.len());
        for (i, f) in files.iter().enumerate() {
            let file = path.join(f);
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            if bytes.len() > email::MAX_MESSAGE_BYTES {
                bail!(
                    "{shown}/{f}: larger than {} bytes; nothing was imported",
                    email::MAX_MESSAGE_BYTES
                );
            }
            size += bytes.len() as u64;
            listing.extend_from_slice(format!("{f} {}\n", Digest::of(&bytes)).as_bytes());
            inputs.push(Input {
                shown: format!("{shown}/{f}"),
                raw: RawMessage {
                    bytes,
                    number: i + 1,
                    line: 1,
                    envelope_date: None,
                },
            });
        }
        return Ok(("maildir", inputs, Digest::of(&listing), size));
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {shown}"))?;
    let digest = Digest::of(&bytes);
    let size = bytes.len() as u64;
    let kind = if bytes.starts_with(b"From ") {
        "mbox"
    } else {
        "eml"
    };
    let raws =
        email::split(&bytes).map_err(|e| anyhow::anyhow!("{shown}: {e}; nothing was imported"))?;
    let inputs = raws
        .into_iter()
        .map(|raw| Input {
            shown: format!("{shown}: {}", raw.place()),
            raw,
        })
        .collect();
    Ok((kind, inputs, digest, size))
}

/// Imports one file or folder; see the [module docs](self).
pub fn import_email(journal: &Journal, actor: &str, args: &EmailArgs) -> Result<ImportReport> {
    let options = Options::new(&args.firm_domains);
    let (kind, inputs, file_digest, file_size) = read_input(&args.file)?;
    let captured_at = Timestamp::now();

    // Every message is parsed and checked before anything is written.
    let mut parsed: Vec<ParsedEmail> = Vec::with_capacity(inputs.len());
    for input in &inputs {
        let fallback = input.raw.envelope_date.map(|d| (d, "mbox_from_line"));
        let p = email::parse_message(
            &input.raw.bytes,
            fallback,
            &options,
            captured_at,
            &input.shown,
        )
        .map_err(|e: EmailError| anyhow::anyhow!("{e}; nothing was imported"))?;
        parsed.push(p);
    }
    drop(inputs);
    email::thread(&mut parsed);

    let mut report = ImportReport {
        messages: parsed.len() as u64,
        ..ImportReport::default()
    };
    // A message the input holds twice (a copy in two folders) is kept once.
    let mut seen = HashSet::new();
    let mut unique = Vec::with_capacity(parsed.len());
    for p in parsed {
        if seen.insert(p.message.source_id.clone()) {
            unique.push(p);
        } else {
            report.duplicates += 1;
        }
    }
    let parsed = unique;

    let bar = crate::progress::counting(parsed.len() as u64, "messages");
    let attachments = std::sync::atomic::AtomicU64::new(0);
    // Where the message sits in each batch (after its raw payloads).
    let batches = parsed.len().div_ceil(BATCH);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut message_at: Vec<Vec<usize>> = vec![Vec::new(); batches];
    for (i, slots) in message_at.iter_mut().enumerate() {
        let mut at = 0;
        for p in &parsed[i * BATCH..((i + 1) * BATCH).min(parsed.len())] {
            at += 1 + usize::from(p.journal_report.is_some());
            slots.push(at);
            at += 1;
        }
    }
    journal
        .append_batches::<anyhow::Error, _, _>(
            batches,
            threads,
            IN_FLIGHT,
            |i| {
                let mut batch = Vec::new();
                for p in &parsed[i * BATCH..((i + 1) * BATCH).min(parsed.len())] {
                    let subject = p.message.external_party().map(str::to_string);
                    for (a, bytes) in p.message.attachments.iter().zip(&p.attachment_bytes) {
                        let blob = journal
                            .put_blob(subject.as_deref(), p.message.sent_at, bytes)
                            .with_context(|| {
                                format!(
                                    "storing attachment {:?} of {}",
                                    a.name, p.message.source_id
                                )
                            })?;
                        debug_assert_eq!(blob.digest, a.sha256);
                        attachments.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    for raw in p.raw_payloads(RAW_SOURCE, captured_at) {
                        batch.push(NewEntry {
                            event: Event::Raw(raw),
                            subject: subject.clone(),
                        });
                    }
                    batch.push(NewEntry {
                        event: Event::Message(p.message.clone()),
                        subject,
                    });
                }
                Ok(batch)
            },
            |i, answers| {
                for &at in &message_at[i] {
                    if answers[at].duplicate {
                        report.duplicates += 1;
                    } else {
                        report.added += 1;
                    }
                }
                bar.inc(message_at[i].len() as u64);
                Ok(())
            },
        )
        .with_context(|| format!("importing {}", args.file.display()))?;
    bar.finish_and_clear();
    report.attachments = attachments.into_inner();

    let file_name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| args.file.display().to_string());
    let mut details = serde_json::Map::new();
    details.insert("file".into(), file_name.clone().into());
    details.insert("format".into(), kind.into());
    details.insert("sha256".into(), file_digest.to_string().into());
    details.insert("size".into(), file_size.into());
    details.insert("firm_domains".into(), options.firm_domains.clone().into());
    details.insert("messages".into(), report.messages.into());
    details.insert("archived".into(), report.added.into());
    details.insert("duplicates".into(), report.duplicates.into());
    details.insert("attachments".into(), report.attachments.into());
    journal.append_system(actor, IMPORT_ACTION, Some(&file_name), details)?;
    Ok(report)
}
