//! [`write`]: checks the request, plans the files, writes them on every
//! core, then the load files, the disclosed entries and, last,
//! `custody.json`.

use crate::custody::{self, Custody, CustodyFile};
use crate::plan::{Plan, Thread};
use crate::{Disclosed, Error, Format, Person, Request, Side, Summary, loadfile, rsmf, transcript};
use custos_journal::merkle;
use custos_model::{Digest, Event};
use sha2::Digest as _;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The custody manifest's name, at the export's root.
pub const CUSTODY_FILE: &str = "custody.json";
/// The disclosed entries, one JSON object per line.
pub const ENTRIES_FILE: &str = "custody/entries.jsonl";

/// Writes the export of `request` into `out`, which must not exist or be
/// empty. `custody.json` is written last (atomically), so a directory
/// without it is not a complete export; on error nothing claims to be one.
pub fn write(out: &Path, request: &Request) -> Result<Summary, Error> {
    prepare_dir(out)?;
    let zone = jiff::tz::TimeZone::get(&request.time_zone)
        .map_err(|_| Error::TimeZone(request.time_zone.clone()))?;
    check_entries(request)?;

    // Checked in full above; from here on, what the export shows is the
    // redacted events only.
    let redacted: Option<Vec<Event>> =
        request
            .redaction
            .as_ref()
            .filter(|p| !p.is_empty())
            .map(|profile| {
                let chunks: Vec<&[Disclosed]> = request.entries.chunks(4096).collect();
                crate::verify::par_map(&chunks, |chunk| {
                    chunk
                        .iter()
                        .map(|e| custos_policy::redact::redact_event(&e.event, profile))
                        .collect::<Vec<_>>()
                })
                .into_iter()
                .flatten()
                .collect()
            });
    let events: Vec<(u64, &Event)> = match &redacted {
        Some(events) => request.entries.iter().map(|e| e.seq).zip(events).collect(),
        None => request.entries.iter().map(|e| (e.seq, &e.event)).collect(),
    };
    let plan = Plan::build(events, request.slicing, &zone, &request.bates_prefix);
    let mut formats = request.formats.clone();
    formats.sort();
    formats.dedup();
    let ctx = Ctx::new(request, plan, zone, out, formats);

    let mut files = ctx.write_slices()?;

    let mut skipped = ctx.plan.skipped.clone();
    skipped.extend(ctx.skipped.lock().expect("no panics").drain(..));
    if ctx.has(Format::Eml) {
        skipped.extend(ctx.eml_skipped());
    }
    if ctx.has(Format::Csv) {
        let mut w = ctx.create("loadfile.csv")?;
        loadfile::write_csv(&ctx, &mut w).map_err(Error::io(out.join("loadfile.csv")))?;
        files.push(w.finish()?);
    }
    if ctx.has(Format::Jsonl) {
        let mut w = ctx.create("loadfile.jsonl")?;
        loadfile::write_jsonl(&ctx, &mut w).map_err(Error::io(out.join("loadfile.jsonl")))?;
        files.push(w.finish()?);
    }
    files.push(ctx.write_entries()?);
    files.sort_by(|a, b| a.path.cmp(&b.path));

    let custody = Custody::new(request, &ctx, files);
    let bytes = custody::to_bytes(&custody);
    let path = out.join(CUSTODY_FILE);
    let partial = out.join(".custody.json.partial");
    (|| -> io::Result<()> {
        let mut file = File::create(&partial)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&partial, &path)
    })()
    .map_err(Error::io(&path))?;

    Ok(Summary {
        files: custody.files.len() + 1,
        messages: ctx.plan.threads.len(),
        conversations: ctx.plan.conversations.len(),
        bytes: custody.files.iter().map(|f| f.size).sum::<u64>() + bytes.len() as u64,
        skipped,
        custody_sha256: hex::encode(sha2::Sha256::digest(&bytes)),
    })
}

fn prepare_dir(out: &Path) -> Result<(), Error> {
    match fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::NotEmpty {
                    path: out.to_path_buf(),
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(out).map_err(Error::io(out))
        }
        Err(e) => Err(Error::io(out)(e)),
    }
}

/// Checks, before anything is written, that the export will verify: seqs
/// ascending and under the head, the head signed by the key, each entry's
/// payload matching its leaf and opening to the event given, and the proof
/// proving them all against the head's root.
fn check_entries(request: &Request) -> Result<(), Error> {
    let head = &request.head;
    if !head.verify(&request.public_key) {
        return Err(Error::HeadSignature {
            tree_size: head.tree_size,
        });
    }
    let mut previous: Option<u64> = None;
    for entry in &request.entries {
        if let Some(previous) = previous
            && entry.seq <= previous
        {
            return Err(Error::Order {
                seq: entry.seq,
                previous,
            });
        }
        if entry.seq >= head.tree_size {
            return Err(Error::Entry {
                seq: entry.seq,
                reason: format!("not covered by the tree head (size {})", head.tree_size),
            });
        }
        previous = Some(entry.seq);
    }
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let chunk = request.entries.len().div_ceil(threads()).max(1);
    std::thread::scope(|scope| {
        for entries in request.entries.chunks(chunk) {
            let failure = &failure;
            scope.spawn(move || {
                for entry in entries {
                    let problem = match custos_journal::open_disclosed(
                        &entry.leaf,
                        &entry.payload,
                        &entry.entry_key,
                    ) {
                        Err(e) => Some(e.to_string()),
                        Ok((leaf, _)) if leaf.seq != entry.seq => {
                            Some(format!("its leaf is entry {}", leaf.seq))
                        }
                        Ok((_, event)) if event != entry.event => {
                            Some("the event given is not the one the entry holds".to_string())
                        }
                        Ok(_) => None,
                    };
                    if let Some(reason) = problem {
                        let mut slot = failure.lock().expect("no panics");
                        let earlier =
                            matches!(&*slot, Some(Error::Entry { seq, .. }) if *seq < entry.seq);
                        if !earlier {
                            *slot = Some(Error::Entry {
                                seq: entry.seq,
                                reason,
                            });
                        }
                        return;
                    }
                }
            });
        }
    });
    if let Some(error) = failure.into_inner().expect("no panics") {
        return Err(error);
    }
    let leaves: Vec<(u64, merkle::Hash)> = request
        .entries
        .iter()
        .map(|e| (e.seq, merkle::leaf_hash(&e.leaf)))
        .collect();
    merkle::verify_multi(head.tree_size, &leaves, &request.proof, &head.root).map_err(|e| {
        Error::Proof {
            tree_size: head.tree_size,
            reason: e.to_string(),
        }
    })
}

/// Worker threads: one per core.
fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A file written, as `custody.json` lists it.
#[derive(Clone, Debug)]
pub struct Written {
    /// Path relative to the export root, `/`-separated.
    pub path: String,
    /// SHA-256 of its bytes.
    pub sha256: Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// A file being written: buffered, hashed and counted on the way.
pub struct Output {
    path: String,
    full: PathBuf,
    inner: BufWriter<File>,
    hasher: sha2::Sha256,
    size: u64,
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Output {
    /// Flushes the file and returns what `custody.json` lists for it.
    pub fn finish(mut self) -> Result<Written, Error> {
        self.inner.flush().map_err(Error::io(&self.full))?;
        Ok(Written {
            path: self.path,
            sha256: Digest::from_bytes(self.hasher.finalize().into()),
            size: self.size,
        })
    }
}

/// Someone as an export shows them.
pub struct Shown<'a> {
    /// Display name (the address when unknown).
    pub display: &'a str,
    /// Their side.
    pub side: Side,
    /// E-mail address, if known.
    pub email: Option<&'a str>,
    /// Whether they are a custodian.
    pub custodian: bool,
}

/// What every writer needs: the request, the plan and the output folder.
pub struct Ctx<'r> {
    /// The request.
    pub request: &'r Request<'r>,
    /// The plan of files.
    pub plan: Plan<'r>,
    /// The request's time zone.
    pub zone: jiff::tz::TimeZone,
    /// The formats asked for, sorted.
    pub formats: Vec<Format>,
    /// Each conversation's custodian (an address), if one is known.
    pub custodians: Vec<Option<String>>,
    out: &'r Path,
    skipped: Mutex<Vec<String>>,
}

impl<'r> Ctx<'r> {
    fn new(
        request: &'r Request<'r>,
        plan: Plan<'r>,
        zone: jiff::tz::TimeZone,
        out: &'r Path,
        formats: Vec<Format>,
    ) -> Self {
        let custodians = plan
            .conversations
            .iter()
            .map(|c| {
                c.addresses
                    .iter()
                    .find(|a| request.people.get(a.as_str()).is_some_and(|p| p.custodian))
                    .cloned()
            })
            .collect();
        Ctx {
            request,
            plan,
            zone,
            formats,
            custodians,
            out,
            skipped: Mutex::new(Vec::new()),
        }
    }

    /// Whether `format` was asked for.
    pub fn has(&self, format: Format) -> bool {
        self.formats.contains(&format)
    }

    /// The redaction applied, if any (an empty profile is none).
    pub fn redaction(&self) -> Option<&custos_policy::redact::Profile> {
        self.request.redaction.as_ref().filter(|p| !p.is_empty())
    }

    /// An attachment's bytes: `Err` with why they are not in the export
    /// (never captured, or withheld by a redaction).
    pub fn attachment(&self, digest: &Digest) -> Result<Vec<u8>, &'static str> {
        if self.redaction().is_some() {
            return Err("withheld by redaction");
        }
        (self.request.blobs)(digest).ok_or("never captured")
    }

    /// How `address` is shown.
    pub fn person<'a>(&'a self, address: &'a str) -> Shown<'a> {
        match self.request.people.get(address) {
            Some(Person {
                display,
                side,
                email,
                custodian,
            }) => Shown {
                display,
                side: *side,
                email: email.as_deref(),
                custodian: *custodian,
            },
            None => Shown {
                display: address,
                side: Side::External,
                email: None,
                custodian: false,
            },
        }
    }

    /// Records something left out.
    pub fn skip(&self, line: String) {
        self.skipped.lock().expect("no panics").push(line);
    }

    /// Creates `path` (relative, `/`-separated) and its folders.
    pub fn create(&self, path: &str) -> Result<Output, Error> {
        let full = self.out.join(path);
        if let Some(parent) = full.parent() {
            fs::create_dir_all(parent).map_err(Error::io(parent))?;
        }
        let file = File::create(&full).map_err(Error::io(&full))?;
        Ok(Output {
            path: path.to_string(),
            full,
            inner: BufWriter::with_capacity(64 * 1024, file),
            hasher: sha2::Sha256::new(),
            size: 0,
        })
    }

    /// The files (relative paths) that show the message of `thread`.
    pub fn files_of(&self, thread: &Thread<'_>) -> Vec<String> {
        let stem = &self.plan.slices[thread.slice].stem;
        let mut files = Vec::new();
        for format in &self.formats {
            match format {
                Format::Rsmf => files.push(format!("rsmf/{stem}.rsmf")),
                Format::Eml if thread.message.channel == "email" => files.push(format!(
                    "eml/{}/{}.eml",
                    self.plan.conversations[thread.conversation].dir, thread.bates
                )),
                Format::Html => files.push(format!("html/{stem}.html")),
                Format::Pdf => files.push(format!("pdf/{stem}.pdf")),
                _ => {}
            }
        }
        files
    }

    /// Writes every slice's files on every core; the files come back
    /// sorted by path.
    fn write_slices(&self) -> Result<Vec<Written>, Error> {
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let results: Mutex<Vec<Written>> = Mutex::new(Vec::new());
        let failure: Mutex<Option<(usize, Error)>> = Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..threads() {
                scope.spawn(|| {
                    while !stop.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= self.plan.slices.len() {
                            break;
                        }
                        match self.write_slice(i) {
                            Ok(written) => results.lock().expect("no panics").extend(written),
                            Err(error) => {
                                stop.store(true, Ordering::Relaxed);
                                let mut slot = failure.lock().expect("no panics");
                                // Report the first slice's failure, whatever the timing.
                                if slot.as_ref().is_none_or(|(j, _)| i < *j) {
                                    *slot = Some((i, error));
                                }
                            }
                        }
                    }
                });
            }
        });
        if let Some((_, error)) = failure.into_inner().expect("no panics") {
            return Err(error);
        }
        Ok(results.into_inner().expect("no panics"))
    }

    fn write_slice(&self, i: usize) -> Result<Vec<Written>, Error> {
        let mut written = Vec::new();
        let slice = &self.plan.slices[i];
        if self.has(Format::Rsmf) {
            written.push(rsmf::write_slice(self, i)?);
        }
        if self.has(Format::Eml) {
            for thread in &self.plan.threads[slice.threads.clone()] {
                if thread.message.channel == "email" {
                    written.push(crate::eml::write(self, thread)?);
                }
            }
        }
        if self.has(Format::Html) {
            written.push(transcript::write_html(self, i)?);
        }
        if self.has(Format::Pdf) {
            written.push(transcript::write_pdf(self, i)?);
        }
        Ok(written)
    }

    /// One line per channel whose messages have no EML.
    fn eml_skipped(&self) -> Vec<String> {
        let mut by_channel: BTreeMap<&str, usize> = BTreeMap::new();
        for thread in &self.plan.threads {
            if thread.message.channel != "email" {
                *by_channel.entry(&thread.message.channel).or_default() += 1;
            }
        }
        by_channel
            .into_iter()
            .map(|(channel, n)| {
                format!("eml: {n} {channel} message(s) have no EML (only e-mail messages do)")
            })
            .collect()
    }

    /// Writes `custody/entries.jsonl`: lines made on every core, a window
    /// at a time, and written in order.
    fn write_entries(&self) -> Result<Written, Error> {
        const CHUNK: usize = 8192;
        let mut w = self.create(ENTRIES_FILE)?;
        let full = self.out.join(ENTRIES_FILE);
        for window in self.request.entries.chunks(CHUNK * threads()) {
            let chunks: Vec<&[Disclosed]> = window.chunks(CHUNK).collect();
            let texts = crate::verify::par_map(&chunks, |chunk| self.entry_lines(chunk));
            for text in texts {
                w.write_all(&text).map_err(Error::io(&full))?;
            }
        }
        w.finish()
    }

    /// The `entries.jsonl` lines of `entries`, as [`CustodyEntry`] would
    /// serialise them (checked by a test), without a value per field.
    fn entry_lines(&self, entries: &[Disclosed]) -> Vec<u8> {
        let mut out = Vec::with_capacity(entries.len() * 700);
        let mut files: Option<(usize, String)> = None;
        let mut b64 = String::new();
        let with_key = self.redaction().is_none();
        for entry in entries {
            let files_json = match self.plan.thread_of_seq.get(&entry.seq) {
                Some(&t) => {
                    if files.as_ref().is_none_or(|(cached, _)| *cached != t) {
                        let list = self.files_of(&self.plan.threads[t]);
                        let json = serde_json::to_string(&list).expect("strings serialise");
                        files = Some((t, json));
                    }
                    files.as_ref().map_or("[]", |(_, json)| json.as_str())
                }
                None => "[]",
            };
            entry_line(&mut out, entry, files_json, with_key, &mut b64);
        }
        out
    }
}

/// Appends the `entries.jsonl` line of `entry`: the fields of
/// [`CustodyEntry`](crate::CustodyEntry) in its order, as serde writes them
/// (a test checks), without building a value per field. The entry key is
/// left out `with_key` false (a redacted export).
fn entry_line(
    out: &mut Vec<u8>,
    entry: &Disclosed,
    files_json: &str,
    with_key: bool,
    b64: &mut String,
) {
    use base64::Engine as _;
    out.extend_from_slice(b"{\"seq\":");
    out.extend_from_slice(entry.seq.to_string().as_bytes());
    out.extend_from_slice(b",\"leaf\":\"");
    let mut hex = [0u8; 2 * custos_journal::entry::LEAF_LEN];
    if entry.leaf.len() <= custos_journal::entry::LEAF_LEN {
        let hex = &mut hex[..2 * entry.leaf.len()];
        hex::encode_to_slice(&entry.leaf, hex).expect("sized to fit");
        out.extend_from_slice(hex);
    } else {
        out.extend_from_slice(hex::encode(&entry.leaf).as_bytes());
    }
    out.extend_from_slice(b"\",\"payload\":\"");
    b64.clear();
    base64::engine::general_purpose::STANDARD.encode_string(&entry.payload, b64);
    out.extend_from_slice(b64.as_bytes());
    if with_key {
        out.extend_from_slice(b"\",\"entry_key\":\"");
        let key = &mut hex[..64];
        hex::encode_to_slice(entry.entry_key, key).expect("sized to fit");
        out.extend_from_slice(key);
    }
    out.extend_from_slice(b"\",\"files\":");
    out.extend_from_slice(files_json.as_bytes());
    out.extend_from_slice(b"}\n");
}

impl Custody {
    fn new(request: &Request, ctx: &Ctx<'_>, files: Vec<Written>) -> Custody {
        Custody {
            format: custody::FORMAT.to_string(),
            generator: crate::GENERATOR.to_string(),
            export_id: request.id.clone(),
            created_at: request.created_at,
            actor: request.actor.clone(),
            reason: request.reason.clone(),
            query: request.query.clone(),
            matter: request.matter.clone(),
            time_zone: request.time_zone.clone(),
            slicing: request.slicing.to_string(),
            formats: ctx.formats.iter().map(|f| f.to_string()).collect(),
            bates_prefix: request.bates_prefix.clone(),
            messages: ctx.plan.threads.len(),
            conversations: ctx.plan.conversations.len(),
            head: (&request.head).into(),
            public_key: hex::encode(request.public_key),
            proof: request.proof.iter().map(hex::encode).collect(),
            entries: ENTRIES_FILE.to_string(),
            entry_count: request.entries.len(),
            files: files
                .into_iter()
                .map(|f| CustodyFile {
                    path: f.path,
                    sha256: f.sha256.to_string(),
                    size: f.size,
                })
                .collect(),
            redaction: ctx.redaction().map(custody::CustodyRedaction::new),
        }
    }
}

/// The SHA-256 of an event's stable encoding, as the load files show it.
pub fn event_digest(event: &Event) -> Digest {
    Digest::of(&event.encode())
}

#[cfg(test)]
mod tests {
    use crate::custody::CustodyEntry;

    #[test]
    fn entry_lines_are_what_serde_would_write() {
        let entry = crate::Disclosed {
            seq: 42,
            leaf: (0..102u8).collect(),
            payload: (0..77u8).rev().collect(),
            entry_key: [9; 32],
            event: custos_model::Event::System(custos_model::SystemEvent {
                actor: "t".into(),
                action: "t".into(),
                target: None,
                at: custos_model::Timestamp::from_micros(0),
                details: Default::default(),
            }),
        };
        for files in [
            vec![],
            vec!["rsmf/a/+1/2024-06-10.rsmf".to_string(), "x\"y".into()],
        ] {
            let json = serde_json::to_string(&files).unwrap();
            let mut line = CustodyEntry::new(&entry, files);
            let expected = serde_json::to_string(&line).unwrap() + "\n";
            let mut out = Vec::new();
            super::entry_line(&mut out, &entry, &json, true, &mut String::new());
            assert_eq!(String::from_utf8(out).unwrap(), expected);
            line.entry_key = None;
            let expected = serde_json::to_string(&line).unwrap() + "\n";
            let mut out = Vec::new();
            super::entry_line(&mut out, &entry, &json, false, &mut String::new());
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }
}
