//! `custos import rsmf`: RSMF files (.rsmf) exported by another archive.
//!
//! Every file (one `.rsmf`, or each `.rsmf` of a folder) is read, its
//! manifest checked against the RSMF 2.0 schema and its cross-references
//! ([`custos_export::schema::check`], every fault listed with its JSON
//! pointer; a file the manifest names but the zip lacks is not a fault
//! here: the message keeps it in `extra.attachments_missing`) and mapped to events ([`rsmf_import::events`]) before anything
//! is written: one bad file imports nothing. Then, file by file, the
//! attachments are sealed as blobs under their message's subject (durable
//! before the message naming them) and the events appended in batches. The
//! journal de-duplicates on channel and source id, so importing a file
//! again adds nothing. Each file's import is an [`IMPORT_ACTION`] system
//! event. The mapping and the direction rule are in `docs/imports/rsmf.md`.

use crate::custodians;
use anyhow::{Context, Result, bail};
use clap::Args;
use custos_capture::rsmf_import::{self, Imported, Limits, Options};
use custos_journal::{Journal, NewEntry};
use custos_model::{Attachment, Digest, Event, Timestamp};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Events per journal request.
const BATCH: usize = 2000;
/// The action of the event that records an import.
pub const IMPORT_ACTION: &str = "rsmf.import";

/// `custos import rsmf`.
#[derive(Args, Debug)]
pub struct RsmfArgs {
    /// An `.rsmf` file, or a folder whose `.rsmf` files are imported.
    pub file: PathBuf,
    /// An e-mail domain of the firm (repeatable): its addresses are the
    /// firm's when working out a message's direction.
    #[arg(long = "firm-domain", value_name = "DOMAIN")]
    pub firm_domains: Vec<String>,
}

/// What appending one file's events did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Appended {
    /// Messages newly archived.
    pub added: u64,
    /// Messages the archive already held.
    pub duplicates: u64,
    /// Other events (edits, deletions, ...) newly archived.
    pub other_added: u64,
    /// Attachments stored.
    pub attachments: u64,
    /// Attachments named but not in the input (kept in the message's
    /// `extra.attachments_missing`).
    pub attachments_missing: u64,
}

/// Whether `address` is the firm's: an enrolled custodian's number, or an
/// e-mail address in one of `domains`.
pub fn firm_rule(phones: BTreeSet<String>, domains: &[String]) -> impl Fn(&str) -> bool {
    let domains: Vec<String> = domains
        .iter()
        .map(|d| d.trim().trim_start_matches('@').to_lowercase())
        .collect();
    move |address: &str| {
        phones.contains(address)
            || address
                .rsplit_once('@')
                .is_some_and(|(_, d)| domains.contains(&d.to_lowercase()))
    }
}

/// The enrolled custodians' numbers.
pub fn custodian_phones(journal: &Journal) -> Result<BTreeSet<String>> {
    Ok(custodians::registry(journal)?
        .into_values()
        .map(|c| c.phone)
        .collect())
}

/// The files a path names: the file, or the files under a folder (and its
/// subfolders, as `custos export` lays them out) ending in `ext`, sorted.
pub fn files_of(path: &Path, ext: &[&str]) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut folders = vec![path.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries =
            std::fs::read_dir(&folder).with_context(|| format!("reading {}", folder.display()))?;
        for entry in entries {
            let p = entry?.path();
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            if p.is_dir() && !p.is_symlink() {
                folders.push(p);
            } else if p.is_file() && ext.iter().any(|e| name.ends_with(e)) {
                files.push(p);
            }
        }
    }
    files.sort();
    if files.is_empty() {
        bail!(
            "{}: no {} files in this folder",
            path.display(),
            ext.join(" or ")
        );
    }
    Ok(files)
}

/// Appends `imported` in batches: each message's files sealed first
/// (`file` gives their bytes), the counts of what was new.
pub fn append_imported<'f>(
    journal: &Journal,
    shown: &str,
    imported: Imported,
    file: &dyn Fn(&str) -> Option<&'f [u8]>,
) -> Result<Appended> {
    let mut report = Appended::default();
    let bar = crate::progress::counting(imported.events.len() as u64, "events");
    let mut batch: Vec<NewEntry> = Vec::with_capacity(BATCH);
    let flush = |batch: &mut Vec<NewEntry>, report: &mut Appended| -> Result<()> {
        let answers = journal
            .append_all(batch)
            .with_context(|| format!("importing {shown}"))?;
        for (entry, answer) in batch.iter().zip(answers) {
            match (&entry.event, answer.duplicate) {
                (Event::Message(_), true) => report.duplicates += 1,
                (Event::Message(_), false) => report.added += 1,
                (_, false) => report.other_added += 1,
                (_, true) => {}
            }
        }
        bar.inc(batch.len() as u64);
        batch.clear();
        Ok(())
    };
    for item in imported.events {
        let mut event = item.event;
        if let Event::Message(m) = &mut event {
            if let Some(missing) = m
                .extra
                .get("attachments_missing")
                .and_then(|v| v.as_array())
            {
                report.attachments_missing += missing.len() as u64;
            }
            for f in &item.files {
                let Some(bytes) = file(&f.file) else {
                    // The parser only names files the input holds.
                    bail!("{shown}: {} vanished while importing", f.file);
                };
                let blob = journal
                    .put_blob(item.subject.as_deref(), m.sent_at, bytes)
                    .with_context(|| format!("{shown}: storing {}", f.file))?;
                let name = f.name.clone().unwrap_or_else(|| f.file.clone());
                m.attachments.push(Attachment {
                    media_type: crate::import_export::media_type(&name).into(),
                    name: Some(name),
                    sha256: blob.digest,
                    size: blob.size,
                });
                report.attachments += 1;
            }
        }
        batch.push(NewEntry {
            event,
            subject: item.subject,
        });
        if batch.len() >= BATCH {
            flush(&mut batch, &mut report)?;
        }
    }
    if !batch.is_empty() {
        flush(&mut batch, &mut report)?;
    }
    bar.finish_and_clear();
    Ok(report)
}

/// The details every import event carries.
pub fn import_details(
    path: &Path,
    bytes: &[u8],
    messages: u64,
    skipped: &BTreeMap<String, u64>,
    appended: &Appended,
) -> serde_json::Map<String, serde_json::Value> {
    let mut details = serde_json::Map::new();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    details.insert("file".into(), name.into());
    details.insert("sha256".into(), Digest::of(bytes).to_string().into());
    details.insert("size".into(), (bytes.len() as u64).into());
    details.insert("messages".into(), messages.into());
    details.insert("archived".into(), appended.added.into());
    details.insert("duplicates".into(), appended.duplicates.into());
    details.insert("other_events_archived".into(), appended.other_added.into());
    details.insert("attachments".into(), appended.attachments.into());
    details.insert(
        "attachments_missing".into(),
        appended.attachments_missing.into(),
    );
    details.insert(
        "skipped".into(),
        serde_json::to_value(skipped).unwrap_or_default(),
    );
    details
}

/// Runs the import; see the [module docs](self).
pub fn run(journal: &Journal, actor: &str, args: &RsmfArgs, out: &mut impl Write) -> Result<()> {
    let is_firm = firm_rule(custodian_phones(journal)?, &args.firm_domains);
    let limits = Limits::default();
    let now = Timestamp::now();
    // Everything is read and checked before anything is written.
    let mut checked = Vec::new();
    for path in files_of(&args.file, &[".rsmf"])? {
        let shown = path.display().to_string();
        let bytes = std::fs::read(&path).with_context(|| format!("reading {shown}"))?;
        let file = rsmf_import::read(&bytes, &limits)
            .map_err(|e| anyhow::anyhow!("{shown}: {e}; nothing was imported"))?;
        // Files named but missing from the zip are not a refusal: the
        // messages are kept with the missing files marked (see the docs).
        let problems = custos_export::schema::check(&file.manifest, None);
        if !problems.is_empty() {
            bail!(
                "{shown}: rsmf_manifest.json is not valid RSMF 2.0 ({} faults); nothing was imported:\n  {}",
                problems.len(),
                problems.join("\n  ")
            );
        }
        let options = Options {
            source_name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| shown.clone()),
            captured_at: now,
            is_firm: &is_firm,
        };
        let imported = rsmf_import::events(&file, &options, &limits)
            .map_err(|e| anyhow::anyhow!("{shown}: {e}; nothing was imported"))?;
        checked.push((path, bytes, file, imported));
    }
    for (path, bytes, file, imported) in checked {
        let shown = path.display().to_string();
        let files = &file.files;
        let lookup = |name: &str| files.get(name).map(Vec::as_slice);
        let (messages, skipped) = (imported.messages, imported.skipped.clone());
        let appended = append_imported(journal, &shown, imported, &lookup)?;
        let mut details = import_details(&path, &bytes, messages, &skipped, &appended);
        details.insert("rsmf_version".into(), file.version.clone().into());
        journal.append_system(actor, IMPORT_ACTION, None, details)?;
        writeln!(
            out,
            "{shown}: {} messages read, {} archived, {} already in the archive",
            messages, appended.added, appended.duplicates
        )?;
        if appended.attachments + appended.attachments_missing > 0 {
            writeln!(
                out,
                "{shown}: {} attachments stored, {} named but not in the file",
                appended.attachments, appended.attachments_missing
            )?;
        }
        if !skipped.is_empty() {
            let list: Vec<String> = skipped.iter().map(|(k, v)| format!("{v} {k}")).collect();
            writeln!(
                out,
                "{shown}: not archived as messages: {}",
                list.join(", ")
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_firm_is_its_custodians_and_domains() {
        let phones: BTreeSet<String> = ["+447700900001".to_string()].into();
        let domains = ["@Firm.Example".to_string()];
        let firm = firm_rule(phones, &domains);
        assert!(firm("+447700900001"));
        assert!(firm("ana@firm.example"));
        assert!(firm("Ana@FIRM.example"));
        assert!(!firm("ana@firm.example.org"));
        assert!(!firm("+447700900002"));
    }
}
