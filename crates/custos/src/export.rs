//! Wiring of `custos export` (`custos_server::exports` does the work, for
//! the API too) and `custos verify-export` (`custos_export::verify`).

use anyhow::{Context, Result, bail};
use custos_export::{Format, Slicing};
use custos_journal::Journal;
use custos_server::exports::{self, ExportSpec, Selection};
use custos_server::search::ArchiveResolver;
use std::io::Write;
use std::path::Path;

/// What `custos export` was asked.
pub struct ExportArgs<'a> {
    /// The query selecting messages (or `case`).
    pub query: Option<&'a str>,
    /// A case whose messages tagged relevant are produced.
    pub case: Option<&'a str>,
    /// Formats, comma-separated.
    pub formats: &'a str,
    /// The directory to create.
    pub out: &'a Path,
    /// Why (recorded, and in the custody manifest).
    pub reason: &'a str,
    /// The case or matter.
    pub matter: Option<&'a str>,
    /// day, month or conversation.
    pub slicing: &'a str,
    /// IANA time zone for transcripts and day boundaries.
    pub time_zone: &'a str,
    /// Bates prefix.
    pub bates_prefix: &'a str,
    /// Kinds to mask, comma-separated (`none` for a full export).
    pub redact: &'a str,
}

/// Runs an export and says what it made.
pub fn run(
    data: &Path,
    journal: &Journal,
    actor: &str,
    args: &ExportArgs,
    out: &mut impl Write,
) -> Result<()> {
    let formats = args
        .formats
        .split(',')
        .map(|f| f.trim().parse::<Format>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("--format: {e}"))?;
    let slicing: Slicing = args
        .slicing
        .parse()
        .map_err(|e| anyhow::anyhow!("--slicing: {e}"))?;
    let selection = match (args.query, args.case) {
        (Some(q), None) => Selection::Query(q.to_string()),
        (None, Some(c)) => Selection::Case(c.to_string()),
        _ => bail!("say what to export: --query QUERY or --case CASE (not both)"),
    };
    let spec = ExportSpec {
        selection,
        formats,
        slicing,
        time_zone: args.time_zone.to_string(),
        bates_prefix: args.bates_prefix.to_string(),
        reason: args.reason.to_string(),
        matter: args.matter.map(str::to_string),
        redaction: args
            .redact
            .parse()
            .map_err(|e| anyhow::anyhow!("--redact: {e}"))?,
    };
    let people = crate::search::people(journal)?;
    let index = crate::search::open_index(data, journal)?;
    let resolver = ArchiveResolver::load(journal, people.clone()).map_err(anyhow::Error::msg)?;
    let made = exports::export(journal, &index, &resolver, &people, actor, &spec, args.out)?;
    writeln!(
        out,
        "export {}: {} messages in {} conversations, {} journal entries, {} files ({} bytes) in {}",
        made.id,
        made.messages,
        made.conversations,
        made.entries,
        made.files,
        made.bytes,
        args.out.display()
    )?;
    writeln!(
        out,
        "custody manifest SHA-256 {}; proven against signed tree head of size {}",
        made.custody_sha256, made.tree_size
    )?;
    if made.redaction != "none" {
        writeln!(
            out,
            "redacted ({}): entry keys, attachment bytes and event digests withheld",
            made.redaction
        )?;
    }
    if made.erased > 0 {
        writeln!(
            out,
            "{} matching entries were erased (their subject's key destroyed) and are not in the export",
            made.erased
        )?;
    }
    for s in &made.skipped {
        writeln!(out, "skipped: {s}")?;
    }
    writeln!(
        out,
        "anyone can check it without the archive: custos verify-export {} --public-key {}",
        args.out.display(),
        made.public_key
    )?;
    Ok(())
}

/// `custos verify-export DIR`: exit status 1 when anything fails.
pub fn verify(dir: &Path, public_key: Option<&str>, out: &mut impl Write) -> Result<bool> {
    let key = public_key
        .map(|k| {
            let mut key = [0u8; 32];
            hex::decode_to_slice(k.trim(), &mut key).map(|()| key)
        })
        .transpose()
        .context("--public-key: expected 64 hex digits")?;
    let report = custos_export::verify(dir, key.as_ref())
        .with_context(|| format!("reading the export in {}", dir.display()))?;
    for problem in &report.problems {
        writeln!(out, "FAILED: {problem}")?;
    }
    if report.is_ok() {
        writeln!(
            out,
            "export verifies: {} files, {} journal entries, every entry proven in the signed tree head",
            report.files, report.entries
        )?;
    } else {
        writeln!(
            out,
            "export does NOT verify: {} problem(s) in {} files and {} entries",
            report.problems.len(),
            report.files,
            report.entries
        )?;
    }
    if let Some(r) = &report.redaction {
        writeln!(out, "redacted export ({}): {}", r.profile, r.statement)?;
    }
    if report.key_source == custos_export::KeySource::FromExport {
        writeln!(
            out,
            "note: the head was checked with the public key the export carries; pass --public-key with the archive's published key to rule out a forged export"
        )?;
    }
    Ok(report.is_ok())
}
