//! Wiring of `custos export` and `custos verify-export`: the messages a
//! query matches, with the edits, deletions, reactions and statuses that
//! target them, disclosed entry by entry (each with its own key) under a
//! freshly signed tree head and one multi-proof, written by
//! `custos-export`; the export itself journalled (who, what, why).

use anyhow::{Context, Result, bail};
use custos_export::{Disclosed, Format, Person, Request, Side, Slicing};
use custos_journal::{Journal, Opened};
use custos_model::{Event, EventKind, Timestamp, party_id};
use custos_server::search::ArchiveResolver;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;

/// The journal action of an export.
pub const EXPORTED: &str = "export.created";

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
}

/// Runs an export.
pub fn run(
    data: &Path,
    journal: &Journal,
    actor: &str,
    args: &ExportArgs,
    out: &mut impl Write,
) -> Result<()> {
    if args.reason.trim().is_empty() {
        bail!("an export discloses archived content and is journalled: say why with --reason");
    }
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
    let people = crate::search::people(journal)?;
    let (seqs, selection, matter) = match (args.query, args.case) {
        (Some(text), None) => {
            let query = crate::search::parse_query(text)?;
            let index = crate::search::open_index(data, journal)?;
            let resolver =
                ArchiveResolver::load(journal, people.clone()).map_err(anyhow::Error::msg)?;
            let seqs = index.matching(&query, &resolver)?;
            (seqs, text.to_string(), args.matter.map(str::to_string))
        }
        (None, Some(case)) => {
            let cases = custos_governance::cases::Cases::load(journal)?;
            let case = cases.find(case)?;
            let seqs = case.tagged(custos_governance::cases::Tag::Relevant);
            (
                seqs,
                format!("case {}: messages tagged relevant", case.id),
                Some(
                    args.matter
                        .map(str::to_string)
                        .unwrap_or(format!("{} {}", case.id, case.opening.name)),
                ),
            )
        }
        _ => bail!("say what to export: --query QUERY or --case CASE (not both)"),
    };
    if seqs.is_empty() {
        bail!("{selection}: no messages; nothing to export");
    }
    let (entries, shredded) = disclose(journal, &seqs)?;
    let head = journal.sign_head()?;
    let entry_seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    let proof = journal.multi_proof(&entry_seqs, head.tree_size)?;
    let mut known = HashMap::new();
    for p in &people {
        known.insert(
            p.address.clone(),
            Person {
                display: p.name.clone(),
                side: Side::Firm,
                email: None,
                custodian: true,
            },
        );
    }
    // Messages name addresses as captured; the export looks them up so.
    for e in &entries {
        if let Event::Message(m) = &e.event {
            for address in std::iter::once(&m.sender).chain(&m.recipients) {
                if let Some(p) = known.get(&party_id(address)).cloned() {
                    known.entry(address.clone()).or_insert(p);
                }
            }
        }
    }
    let created_at = Timestamp::now();
    let id = format!(
        "EXP-{}",
        jiff::Timestamp::from_microsecond(created_at.as_micros())
            .map(|t| t.strftime("%Y%m%d-%H%M%S").to_string())
            .unwrap_or_default()
    );
    let blobs = |digest: &custos_model::Digest| journal.archive_blob(digest).ok().flatten();
    let request = Request {
        id: id.clone(),
        formats: formats.clone(),
        slicing,
        time_zone: args.time_zone.to_string(),
        entries,
        people: known,
        head,
        proof,
        public_key: journal.public_key(),
        blobs: &blobs,
        actor: actor.to_string(),
        reason: args.reason.to_string(),
        query: Some(selection.clone()),
        matter: matter.clone(),
        created_at,
        bates_prefix: args.bates_prefix.to_string(),
    };
    let summary = custos_export::write(args.out, &request)
        .with_context(|| format!("writing the export to {}", args.out.display()))?;
    let mut details = serde_json::Map::new();
    details.insert("export".into(), id.clone().into());
    details.insert("query".into(), selection.into());
    details.insert("reason".into(), args.reason.into());
    if let Some(m) = matter {
        details.insert("matter".into(), m.into());
    }
    details.insert(
        "formats".into(),
        formats.iter().map(|f| f.name()).collect::<Vec<_>>().into(),
    );
    details.insert("messages".into(), summary.messages.into());
    details.insert("entries".into(), entry_seqs.len().into());
    details.insert("files".into(), summary.files.into());
    details.insert(
        "custody_sha256".into(),
        summary.custody_sha256.clone().into(),
    );
    details.insert("out".into(), args.out.display().to_string().into());
    details.insert("tree_size".into(), request.head.tree_size.into());
    journal.append_system(actor, EXPORTED, Some(&id), details)?;
    writeln!(
        out,
        "export {id}: {} messages in {} conversations, {} journal entries, {} files ({} bytes) in {}",
        summary.messages,
        summary.conversations,
        entry_seqs.len(),
        summary.files,
        summary.bytes,
        args.out.display()
    )?;
    writeln!(
        out,
        "custody manifest SHA-256 {}; proven against signed tree head of size {}",
        summary.custody_sha256, request.head.tree_size
    )?;
    if shredded > 0 {
        writeln!(
            out,
            "{shredded} matching entries were erased (their subject's key destroyed) and are not in the export"
        )?;
    }
    for s in &summary.skipped {
        writeln!(out, "skipped: {s}")?;
    }
    writeln!(
        out,
        "anyone can check it without the archive: custos verify-export {} --public-key {}",
        args.out.display(),
        hex::encode(journal.public_key())
    )?;
    Ok(())
}

/// The matched messages and every edit, deletion, reaction and status that
/// targets them, in journal order, each with its own key. Entries whose
/// subject was erased are left out and counted.
fn disclose(journal: &Journal, seqs: &[u64]) -> Result<(Vec<Disclosed>, usize)> {
    let wanted: HashSet<u64> = seqs.iter().copied().collect();
    let mut keys: HashSet<(String, String)> = HashSet::new();
    let mut out = Vec::with_capacity(seqs.len());
    let mut shredded = 0;
    for entry in journal.entries(seqs[0]) {
        let entry = entry?;
        let seq = entry.leaf.seq;
        let related = matches!(
            entry.leaf.kind,
            EventKind::Edit | EventKind::Deletion | EventKind::Reaction | EventKind::Status
        );
        if !wanted.contains(&seq) && !(related && !keys.is_empty()) {
            continue;
        }
        let event = match journal.open_entry(&entry)? {
            Opened::Event(event) => event,
            Opened::Shredded(_) => {
                shredded += usize::from(wanted.contains(&seq));
                continue;
            }
        };
        let keep = match &event {
            Event::Message(m) if wanted.contains(&seq) => {
                keys.insert((m.channel.clone(), m.source_id.clone()));
                true
            }
            Event::Edit(e) => keys.contains(&(e.channel.clone(), e.target.clone())),
            Event::Deletion(d) => keys.contains(&(d.channel.clone(), d.target.clone())),
            Event::Reaction(r) => keys.contains(&(r.channel.clone(), r.target.clone())),
            Event::Status(s) => keys.contains(&(s.channel.clone(), s.target.clone())),
            _ => false,
        };
        if !keep {
            continue;
        }
        let Some(entry_key) = journal.entry_key(&entry)? else {
            shredded += 1;
            continue;
        };
        out.push(Disclosed {
            seq,
            leaf: entry.leaf.encode().to_vec(),
            payload: entry.payload,
            entry_key,
            event,
        });
    }
    Ok((out, shredded))
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
    if report.key_source == custos_export::KeySource::FromExport {
        writeln!(
            out,
            "note: the head was checked with the public key the export carries; pass --public-key with the archive's published key to rule out a forged export"
        )?;
    }
    Ok(report.is_ok())
}
