//! `custos import teams`: Microsoft Teams messages as Microsoft Graph returns them (chatMessage JSON files).
//!
//! PATH is one JSON file (an array of `chatMessage`, a Graph page, or JSON
//! lines) or a folder of them (`.json`/`.jsonl`, read in name order, e.g.
//! the pages of a `getAllMessages` export). Everything is read and checked
//! ([`teams::parse_documents`]) before anything is written: a bad file
//! imports nothing. Hosted contents carried as bytes are sealed as blobs
//! under the message's subject before the messages naming them are
//! appended. Source ids are stable, so re-importing adds nothing. The
//! import is journalled as a [`IMPORT_ACTION`] system event.

use crate::import_slack::{append_entries, firm_domains};
use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use custos_capture::teams::{self, TeamsOptions};
use custos_journal::Journal;
use custos_model::{Digest, Timestamp};
use std::io::Write;
use std::path::PathBuf;

/// The action of the event that records an import.
pub const IMPORT_ACTION: &str = "teams.import";

/// Input files a folder may hold at most.
const MAX_FILES: usize = 100_000;
/// Bytes all input files may hold together at most (8 GiB).
const MAX_BYTES: u64 = 8 << 30;

/// `custos import teams`.
#[derive(Args, Debug)]
pub struct TeamsArgs {
    /// A JSON file of chatMessage objects (array, Graph page or JSON lines), or a folder of them.
    pub file: PathBuf,
    /// An e-mail domain of the firm (repeatable).
    #[arg(long = "firm-domain", value_name = "DOMAIN")]
    pub firm_domains: Vec<String>,
    /// A Microsoft Entra tenant id of the firm (repeatable).
    #[arg(long = "firm-tenant", value_name = "TENANT_ID")]
    pub firm_tenants: Vec<String>,
}

/// The input documents by name (relative to a folder) and their bytes.
fn read_input(args: &TeamsArgs) -> Result<Vec<(String, Vec<u8>)>> {
    let path = &args.file;
    if !path.is_dir() {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        return Ok(vec![(path.display().to_string(), bytes)]);
    }
    let mut names = Vec::new();
    for entry in std::fs::read_dir(path).with_context(|| format!("reading {}", path.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let lower = name.to_lowercase();
        if entry.file_type()?.is_file() && (lower.ends_with(".json") || lower.ends_with(".jsonl")) {
            names.push(name);
        }
    }
    names.sort();
    if names.is_empty() {
        bail!("{}: no .json or .jsonl files in the folder", path.display());
    }
    if names.len() > MAX_FILES {
        bail!("{}: more than {MAX_FILES} files", path.display());
    }
    let mut total = 0u64;
    let mut docs = Vec::with_capacity(names.len());
    for name in names {
        let file = path.join(&name);
        let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        total += bytes.len() as u64;
        if total > MAX_BYTES {
            bail!("{}: more than {MAX_BYTES} bytes", path.display());
        }
        docs.push((name, bytes));
    }
    Ok(docs)
}

/// Runs the import.
pub fn run(journal: &Journal, actor: &str, args: &TeamsArgs, out: &mut impl Write) -> Result<()> {
    let shown = args.file.display().to_string();
    let docs = read_input(args)?;
    let options = TeamsOptions {
        firm_domains: firm_domains(&args.firm_domains),
        firm_tenants: args
            .firm_tenants
            .iter()
            .map(|t| t.trim().to_lowercase())
            .filter(|t| !t.is_empty())
            .collect(),
        captured_at: Timestamp::now(),
    };
    // Every document is read and checked before anything is written.
    let import = teams::parse_documents(&docs, &options).map_err(|e| {
        if args.file.is_dir() {
            anyhow!("{shown}/{e}; nothing was imported")
        } else {
            anyhow!("{e}; nothing was imported")
        }
    })?;
    let files: Vec<serde_json::Value> = docs
        .iter()
        .map(|(name, bytes)| {
            serde_json::json!({"name": name, "sha256": Digest::of(bytes).to_string(), "size": bytes.len()})
        })
        .collect();
    drop(docs);

    // Hosted contents are durable before the messages naming them.
    for blob in &import.blobs {
        let stored = journal
            .put_blob(blob.subject.as_deref(), blob.sent_at, &blob.bytes)
            .with_context(|| format!("storing a hosted content of {shown}"))?;
        if stored.digest != Digest::of(&blob.bytes) {
            bail!("{shown}: a stored hosted content does not match its digest");
        }
    }
    let appended = append_entries(journal, &import.entries, &shown)?;

    let mut details = serde_json::Map::new();
    details.insert("file".into(), shown.clone().into());
    details.insert("files".into(), files.into());
    details.insert("firm_domains".into(), options.firm_domains.clone().into());
    details.insert("firm_tenants".into(), options.firm_tenants.clone().into());
    details.insert("messages".into(), import.messages.into());
    details.insert("archived".into(), appended.added.into());
    details.insert("duplicates".into(), appended.duplicates.into());
    details.insert("repeated_in_input".into(), import.repeated.into());
    details.insert("edits".into(), import.edits.into());
    details.insert("deletions".into(), import.deletions.into());
    details.insert("reactions".into(), import.reactions.into());
    details.insert("other_events_archived".into(), appended.other_added.into());
    details.insert("hosted_contents".into(), (import.blobs.len() as u64).into());
    details.insert(
        "attachments_not_in_export".into(),
        import.attachments_not_in_export.into(),
    );
    details.insert("skipped".into(), serde_json::to_value(&import.skipped)?);
    journal.append_system(actor, IMPORT_ACTION, None, details)?;

    writeln!(
        out,
        "{shown}: {} messages read, {} archived, {} already in the archive",
        import.messages, appended.added, appended.duplicates
    )?;
    if !import.blobs.is_empty() || import.attachments_not_in_export > 0 {
        writeln!(
            out,
            "{shown}: {} hosted contents stored, {} attachments are links not in the export (kept as metadata)",
            import.blobs.len(),
            import.attachments_not_in_export
        )?;
    }
    let skipped: u64 = import.skipped.values().sum();
    if skipped > 0 {
        writeln!(out, "{shown}: {skipped} system events not archived")?;
    }
    Ok(())
}
