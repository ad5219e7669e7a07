//! Exports from the archive, for the CLI and the API alike: the messages a
//! query (or a case's relevant tags) selects, with the edits, deletions,
//! reactions and statuses that target them, disclosed entry by entry (each
//! with its own key) under a freshly signed tree head and one multi-proof,
//! written by `custos-export`; the export itself journalled
//! (`export.created`: who, what, why, which redaction) once its files are
//! complete. A redacted export ([`ExportSpec::redaction`]) masks what the
//! profile names and withholds entry keys (see `docs/exports.md`).

use crate::search::Person;
use custos_export::{Disclosed, Format, Request, Side, Slicing, Summary};
use custos_governance::cases::{Cases, Tag};
use custos_journal::{Journal, KeyId, Opened};
use custos_model::{Digest, Event, EventKind, Timestamp, party_id};
use custos_search::{Resolver, SearchIndex};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The journal action of an export.
pub const EXPORTED: &str = "export.created";

/// What to export.
#[derive(Clone, Debug)]
pub enum Selection {
    /// The messages a query matches.
    Query(String),
    /// A case's messages tagged relevant (privileged ones never).
    Case(String),
}

/// An export asked for.
#[derive(Clone, Debug)]
pub struct ExportSpec {
    /// What.
    pub selection: Selection,
    /// Formats to write.
    pub formats: Vec<Format>,
    /// Files per conversation per day, month or whole.
    pub slicing: Slicing,
    /// IANA time zone of transcripts and day boundaries.
    pub time_zone: String,
    /// Prefix of the Bates-style numbers.
    pub bates_prefix: String,
    /// Why.
    pub reason: String,
    /// The case or matter.
    pub matter: Option<String>,
    /// What is masked; an empty profile exports in full (the API allows
    /// that only to a reader whose roles see everything).
    pub redaction: custos_policy::redact::Profile,
}

/// An export made.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Exported {
    /// Its id.
    pub id: String,
    /// Where it is.
    pub dir: PathBuf,
    /// Messages exported.
    pub messages: usize,
    /// Conversations.
    pub conversations: usize,
    /// Journal entries disclosed.
    pub entries: usize,
    /// Files written.
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
    /// SHA-256 of `custody.json`.
    pub custody_sha256: String,
    /// Size of the signed tree the entries are proven in.
    pub tree_size: u64,
    /// Matching entries left out because their subject was erased.
    pub erased: usize,
    /// What was skipped and why (e.g. EML for non-e-mail messages).
    pub skipped: Vec<String>,
    /// The archive's public key (hex), to verify the export with.
    pub public_key: String,
    /// The redaction profile applied (`none` for a full export).
    pub redaction: String,
}

/// Why an export was not made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The request cannot be served as asked.
    #[error("{0}")]
    Invalid(String),
    /// The search failed.
    #[error(transparent)]
    Search(#[from] custos_search::Error),
    /// The case is unknown.
    #[error(transparent)]
    Case(#[from] custos_governance::cases::CaseError),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] custos_journal::Error),
    /// Writing the export failed.
    #[error("writing the export: {0}")]
    Write(#[from] custos_export::Error),
}

/// Makes an export in `out` (which must not exist or be empty).
pub fn export(
    journal: &Journal,
    index: &SearchIndex,
    resolver: &dyn Resolver,
    people: &[Person],
    actor: &str,
    spec: &ExportSpec,
    out: &Path,
) -> Result<Exported, ExportError> {
    export_within(journal, index, resolver, people, actor, spec, out, &|_| {
        true
    })
}

/// [`export`] of only the selected messages `visible` accepts (the
/// information barrier of the person asking).
#[allow(clippy::too_many_arguments)]
pub fn export_within(
    journal: &Journal,
    index: &SearchIndex,
    resolver: &dyn Resolver,
    people: &[Person],
    actor: &str,
    spec: &ExportSpec,
    out: &Path,
    visible: &dyn Fn(u64) -> bool,
) -> Result<Exported, ExportError> {
    if spec.reason.trim().is_empty() {
        return Err(ExportError::Invalid(
            "an export discloses archived content and is journalled: say why (reason)".into(),
        ));
    }
    if spec.formats.is_empty() {
        return Err(ExportError::Invalid("name at least one format".into()));
    }
    let (seqs, selection, matter) = match &spec.selection {
        Selection::Query(text) => {
            let query = custos_query::parse(text)
                .map_err(|e| ExportError::Invalid(format!("query {e}\n{}", e.pointer(text))))?;
            index.catch_up(journal)?;
            (
                index.matching(&query, resolver)?,
                text.clone(),
                spec.matter.clone(),
            )
        }
        Selection::Case(case) => {
            let cases = Cases::load(journal)?;
            let case = cases.find(case)?;
            (
                case.tagged(Tag::Relevant),
                format!("case {}: messages tagged relevant", case.id),
                Some(
                    spec.matter
                        .clone()
                        .unwrap_or(format!("{} {}", case.id, case.opening.name)),
                ),
            )
        }
    };
    let seqs: Vec<u64> = seqs.into_iter().filter(|s| visible(*s)).collect();
    if seqs.is_empty() {
        return Err(ExportError::Invalid(format!(
            "{selection}: no messages; nothing to export"
        )));
    }
    let (entries, erased, blob_keys) = disclose(journal, &seqs)?;
    if entries.is_empty() {
        return Err(ExportError::Invalid(format!(
            "{selection}: every matching message was erased; nothing to export"
        )));
    }
    let head = journal.sign_head()?;
    let entry_seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    let proof = journal.multi_proof(&entry_seqs, head.tree_size)?;
    let known = known_people(people, &entries);
    let created_at = Timestamp::now();
    let id = format!(
        "EXP-{}",
        jiff::Timestamp::from_microsecond(created_at.as_micros())
            .map(|t| t.strftime("%Y%m%d-%H%M%S-%3f").to_string())
            .unwrap_or_default()
    );
    // An attachment is sealed under its message's subject key (imports,
    // Twilio) or the archive's own (some webhook media): try the former first.
    let blobs = |digest: &custos_model::Digest| {
        blob_keys
            .get(digest)
            .and_then(|key| journal.blob(*key, digest).ok().flatten())
            .or_else(|| journal.archive_blob(digest).ok().flatten())
    };
    let tree_size = head.tree_size;
    let request = Request {
        id: id.clone(),
        formats: spec.formats.clone(),
        slicing: spec.slicing,
        time_zone: spec.time_zone.clone(),
        entries,
        people: known,
        head,
        proof,
        public_key: journal.public_key(),
        blobs: &blobs,
        actor: actor.to_string(),
        reason: spec.reason.clone(),
        query: Some(selection.clone()),
        matter: matter.clone(),
        created_at,
        bates_prefix: spec.bates_prefix.clone(),
        redaction: Some(spec.redaction.clone()).filter(|p| !p.is_empty()),
    };
    let summary: Summary = custos_export::write(out, &request)?;
    let exported = Exported {
        id: id.clone(),
        dir: out.to_path_buf(),
        messages: summary.messages,
        conversations: summary.conversations,
        entries: entry_seqs.len(),
        files: summary.files,
        bytes: summary.bytes,
        custody_sha256: summary.custody_sha256.clone(),
        tree_size,
        erased,
        skipped: summary.skipped.clone(),
        public_key: hex::encode(journal.public_key()),
        redaction: spec.redaction.to_string(),
    };
    let mut details = serde_json::Map::new();
    details.insert("query".into(), selection.into());
    details.insert("reason".into(), spec.reason.clone().into());
    if let Some(m) = matter {
        details.insert("matter".into(), m.into());
    }
    details.insert(
        "formats".into(),
        spec.formats
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .into(),
    );
    details.insert("messages".into(), exported.messages.into());
    details.insert("entries".into(), exported.entries.into());
    details.insert("files".into(), exported.files.into());
    details.insert(
        "custody_sha256".into(),
        exported.custody_sha256.clone().into(),
    );
    details.insert("dir".into(), out.display().to_string().into());
    details.insert("tree_size".into(), tree_size.into());
    details.insert("redaction".into(), exported.redaction.clone().into());
    journal.append_system(actor, EXPORTED, Some(&id), details)?;
    Ok(exported)
}

/// Custodians by every address form their messages use.
fn known_people(
    people: &[Person],
    entries: &[Disclosed],
) -> HashMap<String, custos_export::Person> {
    let mut known = HashMap::new();
    for p in people {
        known.insert(
            p.address.clone(),
            custos_export::Person {
                display: p.name.clone(),
                side: Side::Firm,
                email: None,
                custodian: true,
            },
        );
    }
    for e in entries {
        if let Event::Message(m) = &e.event {
            for address in std::iter::once(&m.sender).chain(&m.recipients) {
                if let Some(p) = known.get(&party_id(address)).cloned() {
                    known.entry(address.clone()).or_insert(p);
                }
            }
        }
    }
    known
}

/// The matched messages and every edit, deletion, reaction and status that
/// targets them, in journal order, each with its own key. Entries whose
/// subject was erased are left out and counted.
/// The entries to disclose, how many asked for were erased, and the key
/// each disclosed message's attachments are sealed under.
type Disclosure = (Vec<Disclosed>, usize, HashMap<Digest, KeyId>);

fn disclose(journal: &Journal, seqs: &[u64]) -> Result<Disclosure, ExportError> {
    let wanted: HashSet<u64> = seqs.iter().copied().collect();
    let mut blob_keys = HashMap::new();
    let mut keys: HashSet<(String, String)> = HashSet::new();
    let mut out = Vec::with_capacity(seqs.len());
    let mut erased = 0;
    for entry in journal.entries(seqs[0]) {
        let entry = entry?;
        let seq = entry.leaf.seq;
        let related = matches!(
            entry.leaf.kind,
            EventKind::Edit | EventKind::Deletion | EventKind::Reaction | EventKind::Status
        );
        // A message asked for, or an event that may target one seen.
        let candidate = wanted.contains(&seq) || (related && !keys.is_empty());
        if !candidate {
            continue;
        }
        let event = match journal.open_entry(&entry)? {
            Opened::Event(event) => event,
            Opened::Shredded(_) => {
                erased += usize::from(wanted.contains(&seq));
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
            erased += 1;
            continue;
        };
        if let Event::Message(m) = &event {
            for a in &m.attachments {
                blob_keys.insert(a.sha256, entry.leaf.key_id);
            }
        }
        out.push(Disclosed {
            seq,
            leaf: entry.leaf.encode().to_vec(),
            payload: entry.payload,
            entry_key,
            event,
        });
    }
    Ok((out, erased, blob_keys))
}
