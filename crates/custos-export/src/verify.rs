//! [`verify`]: checks an export from its files alone.
//!
//! 1. Every file `custody.json` lists has its SHA-256 and size; no file is
//!    missing and none is unlisted.
//! 2. The tree head's signature verifies with the public key (the one
//!    given, or the export's own, which is only as good as the reader's
//!    reason to trust it).
//! 3. Every disclosed entry's payload matches its leaf and opens with its
//!    entry key; the multi-proof proves every leaf against the head's root.
//! 4. Every RSMF event and load-file row matches the proven entry it names
//!    (body, time, sender, deletion, edits, attachments by digest), and
//!    every proven message is shown.
//!
//! A redacted export (`redaction` in `custody.json`) withholds entry keys:
//! step 3 checks each payload against its leaf's digest and length and
//! the proof as before, but cannot open it, and finding a key is a
//! problem (it would reveal what is masked). Step 4 then checks what it
//! can: every RSMF event, load-file row and EML names a proven message
//! entry, every proven message is shown once, and no event digest is
//! given. That the text shown is the entry's, redacted, rests on the
//! producer's check ([`crate::REDACTED_STATEMENT`]); [`Report::redaction`]
//! says so.
//!
//! Each problem is one line naming the file, entry or event.

use crate::custody::{Custody, CustodyEntry, FORMAT, hex_array};
use crate::export::{CUSTODY_FILE, event_digest};
use crate::loadfile::{COLUMNS, Row, csv_fields, direction_name, parse_csv};
use crate::plan::{Plan, Thread};
use crate::rsmf::MANIFEST;
use crate::{Error, Slicing, mime, schema};
use custos_journal::merkle;
use custos_model::{Digest, Event, Timestamp};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::Read;
use std::path::Path;

/// Where the public key that checked the head came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// The caller gave it (e.g. the archive's published key).
    Given,
    /// Taken from `custody.json` itself: trust the result only if that key
    /// matches the archive's published key.
    FromExport,
}

/// What [`verify`] found.
#[derive(Clone, Debug)]
pub struct Report {
    /// Entries in `custody/entries.jsonl`.
    pub entries: usize,
    /// Files listed in `custody.json`.
    pub files: usize,
    /// Every problem, one precise line each; none means the export verifies.
    pub problems: Vec<String>,
    /// Where the public key came from.
    pub key_source: KeySource,
    /// For a redacted export, its profile and statement: the content was
    /// checked by the producer, not by this verification.
    pub redaction: Option<crate::CustodyRedaction>,
}

impl Report {
    /// Whether the export verifies.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Most entries read from one zip, and most bytes from one entry of it.
const MAX_ZIP_ENTRIES: usize = 1_000_000;
const MAX_ZIP_ENTRY_BYTES: u64 = 16 << 30;

/// Verifies the export in `dir`. Errs only when `custody.json` cannot be
/// read or understood; everything else is a problem in the report.
pub fn verify(dir: &Path, public_key: Option<&[u8; 32]>) -> Result<Report, Error> {
    let path = dir.join(CUSTODY_FILE);
    let bytes = fs::read(&path).map_err(|e| Error::Custody {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let custody: Custody = serde_json::from_slice(&bytes).map_err(|e| Error::Custody {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    if custody.format != FORMAT {
        return Err(Error::Custody {
            path,
            reason: format!("format {:?} is not {FORMAT:?}", custody.format),
        });
    }
    let mut problems = Vec::new();

    // The key.
    let export_key = hex_array::<32>(&custody.public_key, "custody.json public_key");
    let (key, key_source) = match public_key {
        Some(given) => {
            if export_key.as_ref().is_ok_and(|k| k != given) {
                problems.push(format!(
                    "custody.json names public key {}, not the one given ({})",
                    custody.public_key,
                    hex::encode(given)
                ));
            }
            (Some(*given), KeySource::Given)
        }
        None => match export_key {
            Ok(k) => (Some(k), KeySource::FromExport),
            Err(e) => {
                problems.push(e);
                (None, KeySource::FromExport)
            }
        },
    };

    // 1. Files.
    let listed: BTreeSet<&str> = custody.files.iter().map(|f| f.path.as_str()).collect();
    let mut present = Vec::new();
    let checked = par_map(&custody.files, |file| {
        if !safe_path(&file.path) {
            return Some(format!(
                "{}: not a plain relative path; not read",
                file.path
            ));
        }
        let full = dir.join(&file.path);
        match hash_file(&full) {
            Ok((digest, size)) => {
                if digest.to_string() != file.sha256.to_ascii_lowercase() {
                    Some(format!("{}: SHA-256 differs from custody.json", file.path))
                } else if size != file.size {
                    Some(format!(
                        "{}: {size} bytes, custody.json says {}",
                        file.path, file.size
                    ))
                } else {
                    None
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Some(format!("{}: missing", file.path))
            }
            Err(e) => Some(format!("{}: cannot be read: {e}", file.path)),
        }
    });
    for (file, problem) in custody.files.iter().zip(checked) {
        match problem {
            Some(p) => problems.push(p),
            None => present.push(file.path.as_str()),
        }
    }
    let mut on_disk = Vec::new();
    walk(dir, "", &mut on_disk);
    for path in on_disk {
        if path != CUSTODY_FILE && !listed.contains(path.as_str()) {
            problems.push(format!("{path}: not listed in custody.json"));
        }
    }
    if !listed.contains(custody.entries.as_str()) {
        problems.push(format!(
            "{}: the entries file is not listed in custody.json",
            custody.entries
        ));
    }

    // 2. The head.
    let head = match custody.head.to_head() {
        Ok(head) => Some(head),
        Err(e) => {
            problems.push(format!("custody.json {e}"));
            None
        }
    };
    if let (Some(head), Some(key)) = (&head, &key)
        && !head.verify(key)
    {
        problems.push(format!(
            "tree head (size {}) is not signed by the {} public key",
            head.tree_size,
            match key_source {
                KeySource::Given => "given",
                KeySource::FromExport => "export's",
            }
        ));
    }

    // 3. Entries and the proof.
    let entries_text = if safe_path(&custody.entries) {
        fs::read_to_string(dir.join(&custody.entries)).ok()
    } else {
        None
    };
    // Each line is parsed, decoded and opened on every core.
    let lines: Vec<(usize, &str)> = match &entries_text {
        Some(text) => text.lines().enumerate().map(|(i, l)| (i + 1, l)).collect(),
        None => {
            problems.push(format!("{}: cannot be read", custody.entries));
            Vec::new()
        }
    };
    if lines.len() != custody.entry_count {
        problems.push(format!(
            "{} holds {} entries, custody.json says {}",
            custody.entries,
            lines.len(),
            custody.entry_count
        ));
    }
    let redacted = custody.redaction.is_some();
    let checked = par_map(&lines, |&(n, text)| {
        check_entry(&custody.entries, n, text, redacted)
    });
    let mut message_seqs: BTreeSet<u64> = BTreeSet::new();
    let mut proven: Vec<(u64, Event)> = Vec::with_capacity(checked.len());
    let mut leaves: Vec<(u64, merkle::Hash)> = Vec::with_capacity(checked.len());
    let mut previous: Option<u64> = None;
    for entry in checked {
        if let Some(seq) = entry.seq {
            if previous.is_some_and(|p| p >= seq) {
                problems.push(format!("entry {seq}: out of seq order"));
            }
            previous = Some(seq);
            // A leaf counts for the proof even when its payload fails.
            if let Some(hash) = entry.leaf_hash {
                leaves.push((seq, hash));
            }
            if let Some(event) = entry.event {
                proven.push((seq, event));
            }
            if entry.message {
                message_seqs.insert(seq);
            }
        }
        problems.extend(entry.problem);
    }
    if let Some(head) = &head {
        let proof: Result<Vec<merkle::Hash>, String> = custody
            .proof
            .iter()
            .enumerate()
            .map(|(i, h)| hex_array::<32>(h, &format!("proof[{i}]")))
            .collect();
        match proof {
            Err(e) => problems.push(format!("custody.json {e}")),
            Ok(proof) => {
                if let Err(e) = merkle::verify_multi(head.tree_size, &leaves, &proof, &head.root) {
                    problems.push(format!(
                        "the multi-proof does not prove the entries against the tree head (size {}): {e}",
                        head.tree_size
                    ));
                }
            }
        }
    }

    // 4. Content against the proven entries.
    if redacted {
        check_redacted(dir, &custody, &present, &message_seqs, &mut problems);
        return Ok(Report {
            entries: lines.len(),
            files: custody.files.len(),
            problems,
            key_source,
            redaction: custody.redaction,
        });
    }
    let plan = Plan::build(
        proven.iter().map(|(seq, e)| (*seq, e)),
        Slicing::Conversation,
        &jiff::tz::TimeZone::UTC,
        "",
    );
    let messages: HashMap<u64, usize> = plan
        .threads
        .iter()
        .enumerate()
        .map(|(i, t)| (t.seq, i))
        .collect();
    let events: HashMap<u64, &Event> = proven.iter().map(|(s, e)| (*s, e)).collect();
    let content = Content {
        plan: &plan,
        messages: &messages,
        events: &events,
    };
    let rsmf: Vec<&str> = present
        .iter()
        .copied()
        .filter(|p| p.starts_with("rsmf/") && p.ends_with(".rsmf"))
        .collect();
    let results = par_map(&rsmf, |path| content.check_rsmf(dir, path));
    let mut shown: HashMap<u64, usize> = HashMap::new();
    for (mut found, seen) in results {
        problems.append(&mut found);
        for seq in seen {
            *shown.entry(seq).or_default() += 1;
        }
    }
    if custody.formats.iter().any(|f| f == "rsmf") {
        content.coverage("RSMF file", &shown, &mut problems);
    }
    for (name, csv) in [("loadfile.csv", true), ("loadfile.jsonl", false)] {
        if present.contains(&name) {
            let seen = content.check_loadfile(dir, name, csv, &mut problems);
            content.coverage(name, &seen, &mut problems);
        }
    }
    for path in present.iter().filter(|p| p.starts_with("eml/")) {
        content.check_eml(dir, path, &mut problems);
    }

    Ok(Report {
        entries: lines.len(),
        files: custody.files.len(),
        problems,
        key_source,
        redaction: None,
    })
}

/// Step 4 of a redacted export: every RSMF event, load-file row and EML
/// names a proven message entry, every proven message is shown once per
/// format, and no load-file row gives an event digest.
fn check_redacted(
    dir: &Path,
    custody: &Custody,
    present: &[&str],
    messages: &BTreeSet<u64>,
    problems: &mut Vec<String>,
) {
    let coverage = |what: &str, shown: &HashMap<u64, usize>, problems: &mut Vec<String>| {
        for &seq in messages {
            match shown.get(&seq).copied().unwrap_or(0) {
                0 => problems.push(format!("entry {seq}: the message is in no {what}")),
                1 => {}
                n => problems.push(format!(
                    "entry {seq}: the message is shown {n} times in {what}s"
                )),
            }
        }
    };
    let mut shown: HashMap<u64, usize> = HashMap::new();
    for path in present
        .iter()
        .filter(|p| p.starts_with("rsmf/") && p.ends_with(".rsmf"))
    {
        let (zip, manifest) = match read_rsmf(&dir.join(path)) {
            Ok(found) => found,
            Err(e) => {
                problems.push(format!("{path}: {e}"));
                continue;
            }
        };
        let in_zip = |name: &str| zip.contains_key(name);
        for p in schema::check(&manifest, Some(&in_zip)) {
            problems.push(format!("{path}: manifest {p}"));
        }
        for (i, event) in manifest["events"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let seq = event["custom"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["name"] == "journal_seq")
                .and_then(|c| c["value"].as_str()?.parse::<u64>().ok());
            match seq {
                Some(seq) if messages.contains(&seq) => *shown.entry(seq).or_default() += 1,
                Some(seq) => problems.push(format!(
                    "{path}: event #{i} names entry {seq}, which is not a proven message"
                )),
                None => problems.push(format!("{path}: event #{i} names no journal entry")),
            }
        }
    }
    if custody.formats.iter().any(|f| f == "rsmf") {
        coverage("RSMF file", &shown, problems);
    }
    for (name, csv) in [("loadfile.csv", true), ("loadfile.jsonl", false)] {
        if !present.contains(&name) {
            continue;
        }
        let Ok(text) = fs::read_to_string(dir.join(name)) else {
            problems.push(format!("{name}: cannot be read"));
            continue;
        };
        let mut rows: Vec<(usize, Vec<String>)> = Vec::new();
        if csv {
            match parse_csv(&text) {
                Ok(records) => rows.extend(
                    records
                        .into_iter()
                        .enumerate()
                        .skip(1)
                        .map(|(i, r)| (i + 1, r)),
                ),
                Err(e) => problems.push(format!("{name}: {e}")),
            }
        } else {
            for (i, line) in text.lines().enumerate() {
                match serde_json::from_str::<Row>(line) {
                    Ok(row) => rows.push((i + 1, csv_fields(&row).to_vec())),
                    Err(e) => problems.push(format!("{name} line {}: {e}", i + 1)),
                }
            }
        }
        let mut seen: HashMap<u64, usize> = HashMap::new();
        for (line, fields) in rows {
            if fields.len() != COLUMNS.len() {
                problems.push(format!("{name} line {line}: {} fields", fields.len()));
                continue;
            }
            match fields[1].parse::<u64>() {
                Ok(seq) if messages.contains(&seq) => *seen.entry(seq).or_default() += 1,
                _ => problems.push(format!(
                    "{name} line {line}: journal_seq is not a proven message"
                )),
            }
            if !fields[14].is_empty() {
                problems.push(format!(
                    "{name} line {line}: a redacted export gives no event digest"
                ));
            }
        }
        coverage(name, &seen, problems);
    }
    for path in present.iter().filter(|p| p.starts_with("eml/")) {
        let Ok(text) = fs::read_to_string(dir.join(path)) else {
            problems.push(format!("{path}: not UTF-8 text"));
            continue;
        };
        let seq = mime::split_message(&text).and_then(|(headers, _)| {
            headers
                .iter()
                .find(|(n, _)| n == "x-custos-journal-seq")
                .and_then(|(_, v)| v.parse::<u64>().ok())
        });
        if !seq.is_some_and(|s| messages.contains(&s)) {
            problems.push(format!("{path}: names no proven message entry"));
        }
    }
}

/// What one line of the entries file gave.
struct CheckedEntry {
    seq: Option<u64>,
    leaf_hash: Option<merkle::Hash>,
    event: Option<Event>,
    /// Whether its leaf says it is a message.
    message: bool,
    problem: Option<String>,
}

/// Parses line `n` of the entries file `name` and opens its entry; in a
/// `redacted` export, checks its payload against its leaf without a key.
fn check_entry(name: &str, n: usize, text: &str, redacted: bool) -> CheckedEntry {
    let mut out = CheckedEntry {
        seq: None,
        leaf_hash: None,
        event: None,
        message: false,
        problem: None,
    };
    let line = match serde_json::from_str::<CustodyEntry>(text) {
        Ok(line) => line,
        Err(e) => {
            out.problem = Some(format!("{name} line {n}: {e}"));
            return out;
        }
    };
    out.seq = Some(line.seq);
    let bytes = match line.decode() {
        Ok(bytes) => bytes,
        Err(e) => {
            out.problem = Some(format!("{name} line {n}: {e}"));
            return out;
        }
    };
    out.leaf_hash = Some(merkle::leaf_hash(&bytes.leaf));
    let key = match (bytes.entry_key, redacted) {
        (Some(_), true) => {
            out.problem = Some(format!(
                "entry {}: discloses its key in a redacted export",
                line.seq
            ));
            return out;
        }
        (None, false) => {
            out.problem = Some(format!("{name} line {n}: no entry_key"));
            return out;
        }
        (Some(key), false) => key,
        (None, true) => {
            match custos_journal::Leaf::decode(&bytes.leaf) {
                Err(e) => out.problem = Some(format!("entry {}: {e}", line.seq)),
                Ok(leaf) if leaf.seq != line.seq => {
                    out.problem = Some(format!(
                        "entry {}: its leaf is entry {}",
                        line.seq, leaf.seq
                    ))
                }
                Ok(leaf)
                    if Digest::of(&bytes.payload) != leaf.payload_digest
                        || bytes.payload.len() != leaf.payload_len as usize =>
                {
                    out.problem = Some(format!(
                        "entry {}: payload does not match the digest its leaf commits to",
                        line.seq
                    ))
                }
                Ok(leaf) => out.message = leaf.kind == custos_model::EventKind::Message,
            }
            return out;
        }
    };
    match custos_journal::open_disclosed(&bytes.leaf, &bytes.payload, &key) {
        Ok((decoded, _)) if decoded.seq != line.seq => {
            out.problem = Some(format!(
                "entry {}: its leaf is entry {}",
                line.seq, decoded.seq
            ))
        }
        Ok((_, event)) => {
            out.message = matches!(event, Event::Message(_));
            out.event = Some(event)
        }
        Err(e) => out.problem = Some(format!("entry {}: {e}", line.seq)),
    }
    out
}

/// The proven entries, arranged for the content checks.
struct Content<'p> {
    plan: &'p Plan<'p>,
    /// Message seq to thread.
    messages: &'p HashMap<u64, usize>,
    events: &'p HashMap<u64, &'p Event>,
}

impl Content<'_> {
    fn thread(&self, seq: u64) -> Option<&Thread<'_>> {
        self.messages.get(&seq).map(|&i| &self.plan.threads[i])
    }

    /// Every proven message must be shown once in `what`.
    fn coverage(&self, what: &str, shown: &HashMap<u64, usize>, problems: &mut Vec<String>) {
        for thread in &self.plan.threads {
            match shown.get(&thread.seq).copied().unwrap_or(0) {
                0 => problems.push(format!("entry {}: the message is in no {what}", thread.seq)),
                1 => {}
                n => problems.push(format!(
                    "entry {}: the message is shown {n} times in {what}s",
                    thread.seq
                )),
            }
        }
    }

    /// Checks one RSMF file; returns its problems and the seqs it shows.
    fn check_rsmf(&self, dir: &Path, path: &str) -> (Vec<String>, Vec<u64>) {
        let mut problems = Vec::new();
        let mut seen = Vec::new();
        let (zip, manifest) = match read_rsmf(&dir.join(path)) {
            Ok(found) => found,
            Err(e) => {
                problems.push(format!("{path}: {e}"));
                return (problems, seen);
            }
        };
        let in_zip = |name: &str| zip.contains_key(name);
        for p in schema::check(&manifest, Some(&in_zip)) {
            problems.push(format!("{path}: manifest {p}"));
        }
        let accounts: HashMap<&str, &str> = manifest["participants"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p["id"].as_str()?, p["account_id"].as_str()?)))
            .collect();
        let account = |v: &Value| v.as_str().and_then(|id| accounts.get(id).copied());
        for (i, event) in manifest["events"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let label = event["id"]
                .as_str()
                .map_or_else(|| format!("#{i}"), str::to_string);
            let seq = event["custom"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["name"] == "journal_seq")
                .and_then(|c| c["value"].as_str()?.parse::<u64>().ok());
            let Some(seq) = seq else {
                problems.push(format!("{path}: event {label} names no journal entry"));
                continue;
            };
            let Some(t) = self.thread(seq) else {
                problems.push(format!(
                    "{path}: event {label} names entry {seq}, which is not a proven message"
                ));
                continue;
            };
            seen.push(seq);
            let m = t.message;
            let mut differs = |what: &str| {
                problems.push(format!(
                    "{path}: event {label} {what} differs from journal entry {seq}"
                ))
            };
            if event["body"].as_str() != m.text.as_deref() {
                differs("body");
            }
            if event["timestamp"]
                .as_str()
                .and_then(|s| Timestamp::parse(s).ok())
                != Some(m.sent_at)
            {
                differs("timestamp");
            }
            if account(&event["participant"]) != Some(m.sender.as_str()) {
                differs("sender");
            }
            let shown_deleted = event["deleted"].as_bool().unwrap_or(false);
            let was_deleted = !t.deletions.is_empty();
            if shown_deleted != was_deleted {
                differs("deleted flag");
            }
            let edits: Vec<(Option<&str>, Option<Timestamp>, Option<&str>)> = event["edits"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    (
                        account(&e["participant"]),
                        e["timestamp"]
                            .as_str()
                            .and_then(|s| Timestamp::parse(s).ok()),
                        e["new"].as_str(),
                    )
                })
                .collect();
            let expected: Vec<(Option<&str>, Option<Timestamp>, Option<&str>)> = t
                .edits
                .iter()
                .map(|(_, e)| {
                    (
                        Some(e.editor.as_str()),
                        Some(e.edited_at),
                        Some(e.text.as_str()),
                    )
                })
                .collect();
            if edits != expected {
                differs("edits");
            }
            let digests: BTreeSet<Digest> = m.attachments.iter().map(|a| a.sha256).collect();
            for a in event["attachments"].as_array().into_iter().flatten() {
                let Some(id) = a["id"].as_str() else { continue };
                if let Some(digest) = zip.get(id)
                    && !digests.contains(digest)
                {
                    problems.push(format!(
                        "{path}: event {label} attachment {id} does not match the digest its message (entry {seq}) carries"
                    ));
                }
            }
        }
        (problems, seen)
    }

    /// Checks `loadfile.csv` or `loadfile.jsonl`; returns the seqs shown.
    fn check_loadfile(
        &self,
        dir: &Path,
        name: &str,
        csv: bool,
        problems: &mut Vec<String>,
    ) -> HashMap<u64, usize> {
        let mut seen = HashMap::new();
        let text = match fs::read_to_string(dir.join(name)) {
            Ok(text) => text,
            Err(e) => {
                problems.push(format!("{name}: cannot be read: {e}"));
                return seen;
            }
        };
        let mut rows: Vec<(usize, Vec<String>)> = Vec::new();
        if csv {
            match parse_csv(&text) {
                Ok(records) => {
                    let mut records = records.into_iter();
                    if records.next().is_none_or(|h| h != COLUMNS) {
                        problems.push(format!("{name}: the header is not {}", COLUMNS.join(",")));
                    }
                    rows.extend(records.enumerate().map(|(i, r)| (i + 2, r)));
                }
                Err(e) => problems.push(format!("{name}: {e}")),
            }
        } else {
            for (i, line) in text.lines().enumerate() {
                match serde_json::from_str::<Row>(line) {
                    Ok(row) => rows.push((i + 1, csv_fields(&row).to_vec())),
                    Err(e) => problems.push(format!("{name} line {}: {e}", i + 1)),
                }
            }
        }
        for (line, fields) in rows {
            if fields.len() != COLUMNS.len() {
                problems.push(format!(
                    "{name} line {line}: {} fields, expected {}",
                    fields.len(),
                    COLUMNS.len()
                ));
                continue;
            }
            let Ok(seq) = fields[1].parse::<u64>() else {
                problems.push(format!("{name} line {line}: journal_seq is not a number"));
                continue;
            };
            let Some(t) = self.thread(seq) else {
                problems.push(format!(
                    "{name} line {line}: entry {seq} is not a proven message"
                ));
                continue;
            };
            *seen.entry(seq).or_default() += 1;
            let m = t.message;
            let flag = |b: bool| if b { "true" } else { "false" };
            let expected: [(usize, String); 11] = [
                (2, m.channel.clone()),
                (3, m.conversation.clone()),
                (4, m.sent_at.to_string()),
                (5, m.sender.clone()),
                (6, m.recipients.join(";")),
                (7, direction_name(m.direction).to_string()),
                (9, flag(!m.attachments.is_empty()).to_string()),
                (11, flag(!t.edits.is_empty()).to_string()),
                (12, flag(!t.deletions.is_empty()).to_string()),
                (
                    14,
                    self.events
                        .get(&seq)
                        .map(|e| event_digest(e).to_string())
                        .unwrap_or_default(),
                ),
                (
                    10,
                    m.attachments
                        .iter()
                        .map(|a| a.name.clone().unwrap_or_else(|| a.media_type.clone()))
                        .collect::<Vec<_>>()
                        .join(";"),
                ),
            ];
            for (column, value) in expected {
                if fields[column] != value {
                    problems.push(format!(
                        "{name} line {line}: {} differs from journal entry {seq}",
                        COLUMNS[column]
                    ));
                }
            }
        }
        seen
    }

    /// Checks an EML file's body, sender and date header against the entry
    /// its `X-Custos-Journal-Seq` names.
    fn check_eml(&self, dir: &Path, path: &str, problems: &mut Vec<String>) {
        let Ok(text) = fs::read_to_string(dir.join(path)) else {
            problems.push(format!("{path}: not UTF-8 text"));
            return;
        };
        let Some((headers, body)) = mime::split_message(&text) else {
            problems.push(format!("{path}: not a mail message"));
            return;
        };
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let Some(seq) = header("x-custos-journal-seq").and_then(|s| s.parse::<u64>().ok()) else {
            problems.push(format!("{path}: names no journal entry"));
            return;
        };
        let Some(t) = self.thread(seq) else {
            problems.push(format!(
                "{path}: names entry {seq}, which is not a proven message"
            ));
            return;
        };
        let plain = match header("content-type").and_then(mime::boundary) {
            Some(boundary) => mime::parts(body, boundary)
                .into_iter()
                .next()
                .and_then(|p| mime::decode_quoted_printable(p.body)),
            None => mime::decode_quoted_printable(body.strip_suffix("\r\n").unwrap_or(body)),
        };
        let expected = t
            .message
            .text
            .as_deref()
            .unwrap_or("")
            .replace("\r\n", "\n");
        if plain.map(|p| p.replace("\r\n", "\n")) != Some(expected) {
            problems.push(format!("{path}: body differs from journal entry {seq}"));
        }
        if header("message-id").map(|id| id.trim_matches(['<', '>']))
            != Some(t.message.source_id.trim().trim_matches(['<', '>']))
        {
            problems.push(format!(
                "{path}: Message-ID differs from journal entry {seq}"
            ));
        }
    }
}

/// The zip's files (name to SHA-256) and the parsed manifest of an RSMF file.
fn read_rsmf(path: &Path) -> Result<(HashMap<String, Digest>, Value), String> {
    let text = fs::read_to_string(path).map_err(|e| format!("cannot be read as text: {e}"))?;
    let (headers, body) = mime::split_message(&text).ok_or("not a mail message")?;
    let content_type = headers
        .iter()
        .find(|(n, _)| n == "content-type")
        .map(|(_, v)| v.as_str())
        .ok_or("no Content-Type")?;
    let boundary = mime::boundary(content_type).ok_or("not a multipart message")?;
    let part = mime::parts(body, boundary)
        .into_iter()
        .find(|p| {
            p.header("content-disposition")
                .is_some_and(|d| d.contains("filename=\"rsmf.zip\""))
        })
        .ok_or("no rsmf.zip attachment")?;
    let bytes = mime::decode_base64(part.body).ok_or("rsmf.zip is not valid base64")?;
    let mut zip =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| format!("rsmf.zip: {e}"))?;
    if zip.len() > MAX_ZIP_ENTRIES {
        return Err(format!(
            "rsmf.zip holds {} files, more than allowed",
            zip.len()
        ));
    }
    let mut files = HashMap::new();
    let mut manifest = None;
    for i in 0..zip.len() {
        let mut file = zip.by_index(i).map_err(|e| format!("rsmf.zip: {e}"))?;
        let name = file
            .name()
            .map_err(|e| format!("rsmf.zip: {e}"))?
            .to_string();
        let mut bytes = Vec::new();
        (&mut file)
            .take(MAX_ZIP_ENTRY_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("rsmf.zip {name}: {e}"))?;
        if name == MANIFEST {
            manifest = Some(
                serde_json::from_slice::<Value>(&bytes)
                    .map_err(|e| format!("rsmf.zip {MANIFEST}: {e}"))?,
            );
        } else {
            files.insert(name, Digest::of(&bytes));
        }
    }
    let manifest = manifest.ok_or_else(|| format!("rsmf.zip has no {MANIFEST}"))?;
    Ok((files, manifest))
}

/// Whether `path` is relative, `/`-separated and free of `.`/`..` parts.
fn safe_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

fn hash_file(path: &Path) -> std::io::Result<(Digest, u64)> {
    use sha2::Digest as _;
    let mut file = fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    Ok((Digest::from_bytes(hasher.finalize().into()), size))
}

/// Every file under `dir`, as `/`-separated paths relative to the root.
fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&entry.path(), &path, out),
            _ => out.push(path),
        }
    }
}

/// `f` over `items` on every core, results in order.
pub(crate) fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("verification workers do not panic"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_read() {
        assert!(safe_path("rsmf/whatsapp/a/2024-06-10.rsmf"));
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "a\\b", "./a"] {
            assert!(!safe_path(bad), "{bad}");
        }
    }
}
