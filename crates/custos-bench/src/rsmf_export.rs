//! RSMF export: every message of the search benchmark's journal exported
//! to Relativity Short Message Format with [`custos_export::write`], as
//! `custos export` does it, against dumping the same data from SQLite
//! through zstd, in the same run.
//!
//! - **custos**: the caller's part (every entry read, decrypted, its entry
//!   key derived; a head signed; one Merkle multi-proof over all their
//!   seqs), then [`custos_export::write`] with [`Format::Rsmf`] (one RSMF
//!   2.0 zip per conversation and day, every manifest schema-validated,
//!   `custody/entries.jsonl` and `custody.json`). The figure is messages
//!   per second over both parts; the progress line gives each.
//! - **Peer** (DESIGN.md: `sqlite3 .dump` piped to zstd): the rows of the
//!   SQLite database the search benchmark loaded with the same messages,
//!   written as `.dump` writes them (`INSERT INTO ... VALUES(...);`)
//!   through a zstd level-3 encoder into a file, in-process.

use crate::human;
use crate::search::{Dataset, FtsDb, SEED, dir_size};
use anyhow::{Context, Result};
use custos_export::{Disclosed, Format, Person, Request, Side, Slicing};
use custos_journal::Opened;
use custos_model::{Digest, Event, Timestamp};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// The zstd level of the peer (zstd's default, as `zstd` uses it).
pub const ZSTD_LEVEL: i32 = 3;

/// What the export measured.
#[derive(Clone, Debug)]
pub struct Measured {
    /// Messages exported.
    pub messages: usize,
    /// Reading, opening, entry keys, head and proof.
    pub prepare: Duration,
    /// [`custos_export::write`].
    pub write: Duration,
    /// Files written.
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
    /// Lines of the export's summary of what was left out (attachments
    /// never captured: the demo has no attachment bytes).
    pub skipped: usize,
    /// The peer: rows dumped, time, compressed bytes.
    pub dump: (usize, Duration, u64),
}

impl Measured {
    /// Messages per second, both parts.
    pub fn rate(&self) -> f64 {
        self.messages as f64 / (self.prepare + self.write).as_secs_f64()
    }
}

/// The demo firms' staff as the export's people: custodians, on the firm's
/// side, under their phone number and their e-mail address.
fn people(messages: usize) -> HashMap<String, Person> {
    let mut people = HashMap::new();
    for s in custos_demo::staff(&custos_demo::DemoConfig {
        seed: SEED,
        messages,
    }) {
        let person = Person {
            display: s.name.clone(),
            side: Side::Firm,
            email: Some(s.email.clone()),
            custodian: true,
        };
        people.insert(s.phone.clone(), person.clone());
        people.insert(s.email.clone(), person);
    }
    people
}

/// Exports every message of `data` to RSMF under `work`, then dumps `db`
/// through zstd as the peer.
pub fn measure(
    work: &Path,
    data: &Dataset,
    db: &mut FtsDb,
    progress: &mut dyn FnMut(&str),
) -> Result<Measured> {
    let journal = &data.journal;
    let began = Instant::now();
    let mut entries = Vec::with_capacity(data.messages);
    for stored in journal.entries(0) {
        let stored = stored?;
        if stored.leaf.kind != custos_model::EventKind::Message {
            continue;
        }
        let seq = stored.leaf.seq;
        let Opened::Event(event @ Event::Message(_)) = journal.open_entry(&stored)? else {
            continue;
        };
        let entry_key = journal
            .entry_key(&stored)?
            .with_context(|| format!("entry {seq}: its key was shredded"))?;
        entries.push(Disclosed {
            seq,
            leaf: stored.leaf.encode().to_vec(),
            payload: stored.payload,
            entry_key,
            event,
        });
    }
    let head = journal.sign_head()?;
    let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    let proof = journal.multi_proof(&seqs, head.tree_size)?;
    let prepare = began.elapsed();

    let blobs = |_: &Digest| None;
    let request = Request {
        id: "EXP-BENCH".into(),
        formats: vec![Format::Rsmf],
        slicing: Slicing::ConversationDay,
        time_zone: "UTC".into(),
        entries,
        people: people(data.messages),
        head,
        proof,
        public_key: journal.public_key(),
        blobs: &blobs,
        actor: "custos-bench".into(),
        reason: "benchmark".into(),
        query: None,
        matter: None,
        created_at: Timestamp::from_micros(data.params.last),
        bates_prefix: "CUSTOS-".into(),
        redaction: None,
    };
    let out = work.join("export-rsmf");
    let began = Instant::now();
    let summary = custos_export::write(&out, &request)
        .with_context(|| format!("exporting to {}", out.display()))?;
    let write = began.elapsed();
    drop(request);
    progress(&format!(
        "RSMF export written in {:.1} s; removing it",
        write.as_secs_f64()
    ));
    let removing = Instant::now();
    let bytes = summary.bytes.max(dir_size(&out));
    std::fs::remove_dir_all(&out).ok();
    progress(&format!(
        "removed in {:.1} s",
        removing.elapsed().as_secs_f64()
    ));

    let path = work.join("export-dump.sql.zst");
    let began = Instant::now();
    let file = std::fs::File::create(&path).with_context(|| path.display().to_string())?;
    let mut encoder = zstd::stream::write::Encoder::new(std::io::BufWriter::new(file), ZSTD_LEVEL)?;
    let rows = db.dump(&mut encoder)?;
    // Not synced: the export does not sync its files either (only
    // custody.json), so both are measured into the page cache.
    encoder.finish()?.flush()?;
    let dump_time = began.elapsed();
    let dump_bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    std::fs::remove_file(&path).ok();

    Ok(Measured {
        messages: summary.messages,
        prepare,
        write,
        files: summary.files,
        bytes,
        skipped: summary.skipped.len(),
        dump: (rows, dump_time, dump_bytes),
    })
}

/// Runs the export benchmark and returns its figure.
pub fn figures(
    work: &Path,
    data: &Dataset,
    db: &mut FtsDb,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<crate::Figure>> {
    let m = measure(work, data, db, progress)?;
    let (rows, dump_time, dump_bytes) = m.dump;
    let total = m.prepare + m.write;
    progress(&format!(
        "RSMF export: {} messages in {:.1} s = {:.0} messages/s (read, open, keys, head and \
         proof {:.1} s; write {:.1} s: {} files, {:.1} MB, {} skipped-item notes); peer \
         .dump through zstd -{ZSTD_LEVEL}: {} messages in {:.1} s = {:.0}/s, {:.1} MB",
        human(m.messages as f64),
        total.as_secs_f64(),
        m.rate(),
        m.prepare.as_secs_f64(),
        m.write.as_secs_f64(),
        human(m.files as f64),
        m.bytes as f64 / 1e6,
        human(m.skipped as f64),
        human(rows as f64),
        dump_time.as_secs_f64(),
        rows as f64 / dump_time.as_secs_f64(),
        dump_bytes as f64 / 1e6,
    ));
    let n = human(m.messages as f64);
    Ok(vec![
        crate::Figure {
            name: format!("RSMF export, {n} messages"),
            value: m.rate(),
            unit: "messages/s".into(),
            peer: Some((
                format!("SQLite .dump | zstd -{ZSTD_LEVEL}"),
                rows as f64 / dump_time.as_secs_f64(),
            )),
            peak_mib: None,
        },
        crate::Figure {
            name: format!("RSMF export time, {n} messages"),
            value: total.as_secs_f64(),
            unit: "s".into(),
            peer: Some((
                format!("SQLite .dump | zstd -{ZSTD_LEVEL}"),
                dump_time.as_secs_f64(),
            )),
            peak_mib: None,
        },
    ])
}
