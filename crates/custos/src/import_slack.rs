//! `custos import slack`: A Slack workspace export (.zip).
//!
//! The whole export is unpacked within limits and checked
//! ([`slack::parse_export`]) before anything is written, so a bad file
//! imports nothing. The events are then appended in batches with
//! [`Journal::append_batches`], each sealed under its external party's key.
//! Source ids (`<conversation id>:<ts>`) are stable, so re-importing an
//! export adds nothing and a later, longer one adds only what is new. The
//! import itself is journalled as a [`IMPORT_ACTION`] system event.

use anyhow::{Context, Result, anyhow};
use clap::Args;
use custos_capture::slack::{self, SlackOptions};
use custos_journal::{Journal, NewEntry};
use custos_model::{Digest, Event, Timestamp};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Entries per batch handed to the journal.
const BATCH: usize = 2000;
/// Batches submitted and not yet durable, at most.
const IN_FLIGHT: usize = 4;

/// The action of the event that records an import.
pub const IMPORT_ACTION: &str = "slack.import";

/// `custos import slack`.
#[derive(Args, Debug)]
pub struct SlackArgs {
    /// The workspace export: the `.zip` Slack produced, or its unpacked folder.
    pub file: PathBuf,
    /// An e-mail domain of the firm (repeatable): users with an address in
    /// it are the firm's even when they are guests of the workspace.
    #[arg(long = "firm-domain", value_name = "DOMAIN")]
    pub firm_domains: Vec<String>,
}

/// What appending a parsed import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Appended {
    /// Messages newly archived.
    pub added: u64,
    /// Messages the archive already held.
    pub duplicates: u64,
    /// Edits, deletions and reactions newly archived.
    pub other_added: u64,
}

/// Normalises `--firm-domain` values: lower case, no `@`.
pub fn firm_domains(values: &[String]) -> Vec<String> {
    values
        .iter()
        .map(|d| d.trim().trim_start_matches('@').to_lowercase())
        .filter(|d| !d.is_empty())
        .collect()
}

/// Appends checked entries in batches (built and sealed on every core,
/// appended in order), counting messages added and already held.
pub fn append_entries(journal: &Journal, entries: &[NewEntry], shown: &str) -> Result<Appended> {
    let bar = crate::progress::counting(entries.len() as u64, "events");
    let mut report = Appended::default();
    let batches = entries.len().div_ceil(BATCH);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    journal
        .append_batches::<anyhow::Error, _, _>(
            batches,
            threads,
            IN_FLIGHT,
            |i| Ok(entries[i * BATCH..((i + 1) * BATCH).min(entries.len())].to_vec()),
            |i, answers| {
                let batch = &entries[i * BATCH..((i + 1) * BATCH).min(entries.len())];
                for (entry, answer) in batch.iter().zip(&answers) {
                    match (&entry.event, answer.duplicate) {
                        (Event::Message(_), true) => report.duplicates += 1,
                        (Event::Message(_), false) => report.added += 1,
                        (_, false) => report.other_added += 1,
                        (_, true) => {}
                    }
                }
                bar.inc(answers.len() as u64);
                Ok(())
            },
        )
        .with_context(|| format!("importing {shown}"))?;
    bar.finish_and_clear();
    Ok(report)
}

/// The files of an unpacked export folder by their `/`-separated names,
/// within the same limits as a zip.
fn read_folder(root: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let limits = slack::ZIP_LIMITS;
    let mut files = BTreeMap::new();
    let mut total: u64 = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = entry.path();
            if kind.is_dir() {
                stack.push(path);
                continue;
            }
            if !kind.is_file() {
                continue; // symbolic links are not followed
            }
            if files.len() >= limits.max_entries {
                anyhow::bail!("{}: more than {} files", root.display(), limits.max_entries);
            }
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            total += bytes.len() as u64;
            if total > limits.max_total_bytes {
                anyhow::bail!(
                    "{}: more than {} bytes",
                    root.display(),
                    limits.max_total_bytes
                );
            }
            let name = path
                .strip_prefix(root)
                .expect("under the root")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            files.insert(name, bytes);
        }
    }
    Ok(files)
}

/// Runs the import.
pub fn run(journal: &Journal, actor: &str, args: &SlackArgs, out: &mut impl Write) -> Result<()> {
    let shown = args.file.display().to_string();
    let name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| shown.clone());
    let (files, digest, size) = if args.file.is_dir() {
        (read_folder(&args.file)?, None, None)
    } else {
        let bytes = std::fs::read(&args.file).with_context(|| format!("reading {shown}"))?;
        let files = slack::read_zip(&bytes, &slack::ZIP_LIMITS)
            .map_err(|e| anyhow!("{shown}: {e}; nothing was imported"))?;
        (files, Some(Digest::of(&bytes)), Some(bytes.len() as u64))
    };
    let options = SlackOptions {
        firm_domains: firm_domains(&args.firm_domains),
        captured_at: Timestamp::now(),
    };
    // Every file is read and checked before anything is written.
    let import = slack::parse_export(&files, &options)
        .map_err(|e| anyhow!("{shown}: {e}; nothing was imported"))?;
    drop(files);
    let appended = append_entries(journal, &import.entries, &shown)?;

    let mut details = serde_json::Map::new();
    details.insert("file".into(), name.into());
    if let (Some(d), Some(s)) = (digest, size) {
        details.insert("sha256".into(), d.to_string().into());
        details.insert("size".into(), s.into());
    }
    if let Some(w) = &import.workspace {
        details.insert("workspace".into(), w.clone().into());
    }
    details.insert("firm_domains".into(), options.firm_domains.clone().into());
    details.insert("users".into(), import.users.into());
    details.insert("conversations".into(), import.conversations.into());
    details.insert("messages".into(), import.messages.into());
    details.insert("archived".into(), appended.added.into());
    details.insert("duplicates".into(), appended.duplicates.into());
    details.insert("edits".into(), import.edits.into());
    details.insert("deletions".into(), import.deletions.into());
    details.insert("reactions".into(), import.reactions.into());
    details.insert("other_events_archived".into(), appended.other_added.into());
    details.insert(
        "files_not_in_export".into(),
        import.files_not_in_export.into(),
    );
    details.insert("skipped".into(), serde_json::to_value(&import.skipped)?);
    details.insert("ignored_files".into(), import.ignored_files.into());
    journal.append_system(actor, IMPORT_ACTION, None, details)?;

    writeln!(
        out,
        "{shown}: {} messages read, {} archived, {} already in the archive",
        import.messages, appended.added, appended.duplicates
    )?;
    if import.files_not_in_export > 0 {
        writeln!(
            out,
            "{shown}: {} files named by messages are links to the workspace, not in the export (kept as metadata)",
            import.files_not_in_export
        )?;
    }
    let skipped: u64 = import.skipped.values().sum();
    if skipped > 0 {
        writeln!(
            out,
            "{shown}: {skipped} membership and housekeeping events not archived"
        )?;
    }
    Ok(())
}
