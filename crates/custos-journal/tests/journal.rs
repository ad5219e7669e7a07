//! End-to-end tests of the journal through its public API: round trips,
//! de-duplication, group commit, proofs against signed heads, tampering,
//! crashes (a child process killed with SIGKILL), the lock, shredding, a
//! failing write and a wrong key-encryption key.
//!
//! Tests that need a second process re-execute this test binary with
//! `--exact <role>_child`; the `*_child` tests do nothing unless the
//! environment names their role.

use custos_journal::{
    Error, Journal, Kek, NewEntry, Opened, Options, StoredEntry, merkle, segment,
};
use custos_model::{
    Attachment, ConsentChange, ConsentState, Deletion, DeliveryState, DeliveryStatus, Digest,
    Direction, Edit, Event, Message, Reaction, SystemEvent, Timestamp,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};

/// Names the role of a child process; unset in the parent.
const ROLE_ENV: &str = "CUSTOS_JOURNAL_TEST_ROLE";
/// The archive a child process works on.
const DIR_ENV: &str = "CUSTOS_JOURNAL_TEST_DIR";
/// The crash cycle a crash child runs in.
const CYCLE_ENV: &str = "CUSTOS_JOURNAL_TEST_CYCLE";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn ts(micros: i64) -> Timestamp {
    Timestamp::from_micros(1_773_324_333_000_000 + micros)
}

fn message(channel: &str, source_id: &str, text: &str) -> Event {
    Event::Message(Message {
        channel: channel.into(),
        source_id: source_id.into(),
        conversation: "conv-1".into(),
        sender: "+447700900001".into(),
        recipients: vec!["+442071234567".into()],
        direction: Direction::Inbound,
        sent_at: ts(1),
        captured_at: ts(2),
        text: Some(text.into()),
        attachments: Vec::new(),
        reply_to: None,
        raw_digest: Digest::of(format!("{channel}/{source_id}/{text}").as_bytes()),
        extra: Default::default(),
    })
}

/// One event of every kind, distinct for each `round`.
fn every_kind(round: usize) -> Vec<Event> {
    let r = round as i64;
    let target = format!("wamid.{round}");
    let mut extra = serde_json::Map::new();
    extra.insert("wa_biz".into(), serde_json::json!({"round": round}));
    let mut details = serde_json::Map::new();
    details.insert("round".into(), round.into());
    details.insert("note".into(), "ünïcödé ✓".into());
    vec![
        Event::Message(Message {
            channel: "whatsapp".into(),
            source_id: target.clone(),
            conversation: format!("chat-{}", round % 3),
            sender: "+447700900001".into(),
            recipients: vec!["+442071234567".into(), "+442071234568".into()],
            direction: [
                Direction::Inbound,
                Direction::Outbound,
                Direction::Internal,
                Direction::Unknown,
            ][round % 4],
            sent_at: ts(r * 10),
            captured_at: ts(r * 10 + 1),
            text: round.is_multiple_of(2).then(|| format!("hello {round} 👋")),
            attachments: (0..round % 3)
                .map(|i| Attachment {
                    name: (i == 0).then(|| format!("scan-{round}.pdf")),
                    media_type: "application/pdf".into(),
                    sha256: Digest::of(format!("attachment {round} {i}").as_bytes()),
                    size: 1000 + i as u64,
                })
                .collect(),
            reply_to: (round > 0).then(|| format!("wamid.{}", round - 1)),
            raw_digest: Digest::of(target.as_bytes()),
            extra,
        }),
        Event::Edit(Edit {
            channel: "whatsapp".into(),
            source_id: format!("edit.{round}"),
            target: target.clone(),
            editor: "+447700900001".into(),
            edited_at: ts(r * 10 + 2),
            captured_at: ts(r * 10 + 3),
            text: format!("hello again {round}"),
            raw_digest: Digest::of(format!("edit {round}").as_bytes()),
        }),
        Event::Deletion(Deletion {
            channel: "whatsapp".into(),
            source_id: format!("del.{round}"),
            target: target.clone(),
            deleted_by: "+447700900001".into(),
            deleted_at: ts(r * 10 + 4),
            captured_at: ts(r * 10 + 5),
            raw_digest: Digest::of(format!("deletion {round}").as_bytes()),
        }),
        Event::Reaction(Reaction {
            channel: "whatsapp".into(),
            source_id: format!("react.{round}"),
            target: target.clone(),
            sender: "+442071234567".into(),
            emoji: round.is_multiple_of(2).then(|| "👍".into()),
            reacted_at: ts(r * 10 + 6),
            captured_at: ts(r * 10 + 7),
            raw_digest: Digest::of(format!("reaction {round}").as_bytes()),
        }),
        Event::Status(DeliveryStatus {
            channel: "sms".into(),
            target: target.clone(),
            recipient: "+442071234567".into(),
            state: [
                DeliveryState::Sent,
                DeliveryState::Delivered,
                DeliveryState::Read,
                DeliveryState::Played,
                DeliveryState::Failed,
            ][round % 5],
            at: ts(r * 10 + 8),
            captured_at: ts(r * 10 + 9),
            error: (round % 5 == 4).then(|| "30008 unknown error".into()),
            raw_digest: Digest::of(format!("status {round}").as_bytes()),
        }),
        Event::Consent(ConsentChange {
            channel: "sms".into(),
            party: "+447700900001".into(),
            state: if round.is_multiple_of(2) {
                ConsentState::OptIn
            } else {
                ConsentState::OptOut
            },
            evidence: format!("replied STOP in round {round}"),
            at: ts(r * 10),
            recorded_by: "webhook".into(),
        }),
        Event::System(SystemEvent {
            actor: "tester".into(),
            action: "test.round".into(),
            target: (round % 2 == 1).then(|| format!("round {round}")),
            at: ts(r),
            details,
        }),
    ]
}

fn options(segment_bytes: u64) -> Options {
    Options {
        segment_bytes,
        ..Options::default()
    }
}

fn open(dir: &Path) -> Journal {
    Journal::open(dir, Options::default()).expect("open the archive")
}

/// Decrypts entry `seq`, which must not be shredded.
fn event_at(journal: &Journal, seq: u64) -> Event {
    let entry = journal.entry(seq).expect("read entry");
    assert_eq!(entry.leaf.seq, seq, "entry({seq}) returned another entry");
    match journal.open_entry(&entry).expect("open entry") {
        Opened::Event(e) => e,
        Opened::Shredded(at) => panic!("entry {seq} was shredded at {at}"),
    }
}

fn same_entry(a: &StoredEntry, b: &StoredEntry) -> bool {
    a.leaf == b.leaf && a.payload == b.payload && a.segment == b.segment && a.offset == b.offset
}

/// The fields of an [`Error::Corrupt`], or what happened instead.
fn corrupt_of<T>(
    result: custos_journal::Result<T>,
) -> Result<(PathBuf, u64, Option<u64>, String), String> {
    match result {
        Err(Error::Corrupt {
            path,
            offset,
            seq,
            problem,
        }) => Ok((path, offset, seq, problem)),
        Err(e) => Err(format!("another error: {e}")),
        Ok(_) => Err("it succeeded".into()),
    }
}

/// Every file of the archive but the lock file, by path.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for item in std::fs::read_dir(&d).unwrap() {
            let path = item.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.file_name().unwrap() != "custos.lock" {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// A segment file as its bytes lay it out, worked out from the format
/// alone: a 16-byte header, then frames of a 12-byte header (magic, body
/// length, header checksum), the body and a 4-byte checksum.
struct SegmentLayout {
    path: PathBuf,
    first_seq: u64,
    bytes: Vec<u8>,
    /// (offset, framed length) of each frame.
    frames: Vec<(usize, usize)>,
}

const SEGMENT_HEADER_LEN: usize = 16;
const FRAME_HEADER_LEN: usize = 12;
const FRAME_TRAILER_LEN: usize = 4;

/// (offset, framed length) of each frame of `bytes` from `start`.
fn walk_frames(bytes: &[u8], start: usize) -> Vec<(usize, usize)> {
    let mut frames = Vec::new();
    let mut at = start;
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        let framed = FRAME_HEADER_LEN + len + FRAME_TRAILER_LEN;
        assert!(
            at + framed <= bytes.len(),
            "frame at {at} runs past the end"
        );
        frames.push((at, framed));
        at += framed;
    }
    frames
}

fn layout(dir: &Path) -> Vec<SegmentLayout> {
    let mut out: Vec<SegmentLayout> = std::fs::read_dir(dir.join(custos_journal::SEGMENTS_DIR))
        .unwrap()
        .map(|item| item.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .map(|path| {
            let first_seq = path.file_stem().unwrap().to_str().unwrap().parse().unwrap();
            let bytes = std::fs::read(&path).unwrap();
            let frames = walk_frames(&bytes, SEGMENT_HEADER_LEN);
            SegmentLayout {
                path,
                first_seq,
                bytes,
                frames,
            }
        })
        .collect();
    out.sort_by_key(|s| s.first_seq);
    out
}

/// Collects what does not hold, to report every mismatch at once.
struct Checks {
    failures: Vec<String>,
    checked: usize,
}

impl Checks {
    fn new() -> Self {
        Checks {
            failures: Vec::new(),
            checked: 0,
        }
    }

    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        self.checked += 1;
        if !ok {
            self.failures.push(what());
        }
    }

    fn assert_all(self, what: &str) {
        assert!(
            self.failures.is_empty(),
            "{what}: {} of {} checks failed, first ones:\n{}",
            self.failures.len(),
            self.checked,
            self.failures[..self.failures.len().min(20)].join("\n")
        );
    }
}

/// A small archive for tampering: `entries` messages after the init
/// entry, a head signed after every `head_every`, small segments, closed.
/// Returns the signed heads' sizes.
fn small_archive(dir: &Path, entries: usize, head_every: usize) -> Vec<u64> {
    Journal::init(dir, None, "tester").unwrap().close().unwrap();
    let journal = Journal::open(dir, options(700)).unwrap();
    for i in 0..entries {
        let subject = ["+447700900001", "+447700900002"][i % 2];
        journal
            .append(
                &message("sms", &format!("sm{i}"), &"x".repeat(20 + i)),
                Some(subject),
            )
            .unwrap();
        if (i + 1).is_multiple_of(head_every) {
            journal.sign_head().unwrap();
        }
    }
    journal.close().unwrap();
    open(dir).heads().iter().map(|h| h.tree_size).collect()
}

/// A deterministic generator (SplitMix64) for the few random choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

// ---------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------

/// The archive directory if this process is a child in `role`.
fn child_dir(role: &str) -> Option<PathBuf> {
    if std::env::var(ROLE_ENV).ok()? != role {
        return None;
    }
    Some(PathBuf::from(
        std::env::var_os(DIR_ENV).expect("a child is given its archive"),
    ))
}

fn child_args(role: &str) -> [String; 5] {
    [
        "--exact".into(),
        format!("{role}_child"),
        "--nocapture".into(),
        "--test-threads".into(),
        "1".into(),
    ]
}

/// This test binary, re-executed to run only `<role>_child` on `dir`.
fn child_command(role: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(child_args(role))
        .env(ROLE_ENV, role)
        .env(DIR_ENV, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Prints one protocol line for the parent, flushed. The leading newline
/// ends the `test x ... ` that libtest prints before a serial test.
fn tell_parent(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "\n{line}").unwrap();
    out.flush().unwrap();
}

/// Runs a child to completion; its complete stdout lines, or a panic with
/// its output if it failed.
fn run_child(cmd: &mut Command) -> Vec<String> {
    let output = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "child failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout.lines().map(str::to_string).collect()
}

// ---------------------------------------------------------------------------
// 1. Round trip and reopen
// ---------------------------------------------------------------------------

#[test]
fn every_event_kind_and_subject_round_trips_through_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    Journal::init(dir.path(), None, "tester")
        .unwrap()
        .close()
        .unwrap();
    // Small segments, so entries span several files.
    let journal = Journal::open(dir.path(), options(2048)).unwrap();
    let subjects = [
        None,
        Some("+447700900001"),
        Some("alice@example.com"),
        Some("Zoë Ω"),
    ];
    let mut written: Vec<(u64, Event)> = Vec::new();
    for round in 0..6 {
        let events = every_kind(round);
        if round.is_multiple_of(2) {
            for (k, event) in events.into_iter().enumerate() {
                let appended = journal
                    .append(&event, subjects[(round + k) % subjects.len()])
                    .unwrap();
                assert!(!appended.duplicate);
                written.push((appended.seq, event));
            }
        } else {
            let batch: Vec<NewEntry> = events
                .into_iter()
                .enumerate()
                .map(|(k, event)| NewEntry {
                    event,
                    subject: subjects[(round + k) % subjects.len()].map(str::to_string),
                })
                .collect();
            let appended = journal.append_all(&batch).unwrap();
            assert_eq!(appended.len(), batch.len());
            for (a, e) in appended.into_iter().zip(batch) {
                assert!(!a.duplicate);
                written.push((a.seq, e.event));
            }
        }
    }
    let seqs: Vec<u64> = written.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=written.len() as u64).collect::<Vec<_>>());
    let size = journal.size();
    assert_eq!(size, written.len() as u64 + 1);
    let root = journal.root();
    journal.close().unwrap();

    let journal = open(dir.path());
    let segments = layout(dir.path()).len();
    assert!(segments > 1, "the test meant to span segments");
    assert_eq!(journal.size(), size);
    assert_eq!(journal.root(), root);
    let Event::System(init) = event_at(&journal, 0) else {
        panic!("entry 0 is not a system event")
    };
    assert_eq!(
        (init.actor.as_str(), init.action.as_str()),
        ("tester", "archive.init")
    );
    for (seq, event) in &written {
        let entry = journal.entry(*seq).unwrap();
        assert_eq!(entry.leaf.kind, event.kind(), "entry {seq}");
        assert_eq!(&event_at(&journal, *seq), event, "entry {seq}");
    }

    let all: Vec<StoredEntry> = journal.entries(0).map(Result::unwrap).collect();
    assert_eq!(all.len() as u64, size);
    for (i, stored) in all.iter().enumerate() {
        let by_seq = journal.entry(i as u64).unwrap();
        assert!(
            same_entry(stored, &by_seq),
            "entries() and entry({i}) differ"
        );
    }
    for from in [0, 1, size / 2, size - 1, size, size + 5] {
        let seqs: Vec<u64> = journal.entries(from).map(|e| e.unwrap().leaf.seq).collect();
        assert_eq!(seqs, (from..size).collect::<Vec<_>>(), "entries({from})");
    }
    assert!(matches!(
        journal.entry(size),
        Err(Error::NoSuchEntry { seq, size: s }) if seq == size && s == size
    ));

    let report = custos_journal::verify(dir.path(), None).unwrap();
    assert_eq!(report.entries, size);
    assert_eq!(report.root, journal.root());
    assert_eq!(report.segments, segments);
    assert_eq!(report.heads, journal.heads().len());
    assert_eq!(report.torn_tail, None);
    journal.close().unwrap();
}

// ---------------------------------------------------------------------------
// 2. De-duplication
// ---------------------------------------------------------------------------

#[test]
fn a_message_delivered_twice_is_stored_once_even_concurrently_and_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(dir.path(), None, "tester").unwrap();
    let start = journal.size();
    let subject = Some("+447700900001");

    // Sequentially, even with other content: the channel and source id decide.
    let first = journal
        .append(&message("whatsapp", "wamid.1", "hello"), subject)
        .unwrap();
    assert!(!first.duplicate);
    let again = journal
        .append(&message("whatsapp", "wamid.1", "hello, resent"), subject)
        .unwrap();
    assert_eq!((again.seq, again.duplicate), (first.seq, true));
    let other_channel = journal
        .append(&message("sms", "wamid.1", "hello"), subject)
        .unwrap();
    assert!(
        !other_channel.duplicate,
        "another channel is another message"
    );

    // From several threads at once.
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads));
    let results: Vec<_> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (journal, barrier) = (&journal, barrier.clone());
                s.spawn(move || {
                    barrier.wait();
                    journal
                        .append(
                            &message("whatsapp", "wamid.2", &format!("from {t}")),
                            subject,
                        )
                        .unwrap()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let originals: Vec<_> = results.iter().filter(|a| !a.duplicate).collect();
    assert_eq!(
        originals.len(),
        1,
        "exactly one append stores it: {results:?}"
    );
    let concurrent_seq = originals[0].seq;
    assert!(
        results.iter().all(|a| a.seq == concurrent_seq),
        "{results:?}"
    );

    // Within one batch, and against an earlier entry.
    let batch: Vec<NewEntry> = [
        ("wamid.3", "a"),
        ("wamid.3", "b"),
        ("wamid.4", "c"),
        ("wamid.3", "d"),
        ("wamid.1", "e"),
    ]
    .iter()
    .map(|(id, text)| NewEntry {
        event: message("whatsapp", id, text),
        subject: subject.map(str::to_string),
    })
    .collect();
    let got = journal.append_all(&batch).unwrap();
    let three = got[0].seq;
    let flags: Vec<(u64, bool)> = got.iter().map(|a| (a.seq, a.duplicate)).collect();
    assert_eq!(
        flags,
        vec![
            (three, false),
            (three, true),
            (three + 1, false),
            (three, true),
            (first.seq, true)
        ]
    );
    // wamid.1, sms wamid.1, wamid.2, wamid.3, wamid.4.
    assert_eq!(journal.size(), start + 5);
    let size = journal.size();
    journal.close().unwrap();

    let journal = open(dir.path());
    for (id, seq) in [
        ("wamid.1", first.seq),
        ("wamid.2", concurrent_seq),
        ("wamid.3", three),
        ("wamid.4", three + 1),
    ] {
        let a = journal
            .append(&message("whatsapp", id, "once more"), subject)
            .unwrap();
        assert_eq!((a.seq, a.duplicate), (seq, true), "{id} after reopen");
    }
    assert_eq!(journal.size(), size);
    // The first delivery is what is kept.
    assert_eq!(
        event_at(&journal, first.seq),
        message("whatsapp", "wamid.1", "hello")
    );
    assert_eq!(
        event_at(&journal, three),
        message("whatsapp", "wamid.3", "a")
    );
    let Event::Message(m) = event_at(&journal, concurrent_seq) else {
        panic!("not a message")
    };
    assert_eq!(m.source_id, "wamid.2");
    assert_eq!(
        custos_journal::verify(dir.path(), None).unwrap().entries,
        size
    );
    journal.close().unwrap();
}

// ---------------------------------------------------------------------------
// 3. Group commit under concurrency
// ---------------------------------------------------------------------------

#[test]
fn concurrent_appenders_get_unique_contiguous_seqs_and_read_back_their_content() {
    const THREADS: usize = 16;
    const EACH: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(dir.path(), None, "tester").unwrap();
    let base = journal.size();
    let barrier = Arc::new(Barrier::new(THREADS));
    let per_thread: Vec<Vec<u64>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (journal, barrier) = (&journal, barrier.clone());
                s.spawn(move || {
                    barrier.wait();
                    let subject = format!("+4477009{t:05}");
                    (0..EACH)
                        .map(|i| {
                            let event =
                                message("sms", &format!("t{t}-{i}"), &format!("body {t}/{i}"));
                            let a = journal.append(&event, Some(&subject)).unwrap();
                            assert!(!a.duplicate);
                            a.seq
                        })
                        .collect()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });

    let n = (THREADS * EACH) as u64;
    let mut all: Vec<u64> = per_thread.iter().flatten().copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (base..base + n).collect::<Vec<_>>(),
        "seqs are unique and contiguous"
    );
    assert_eq!(journal.size(), base + n);
    for (t, seqs) in per_thread.iter().enumerate() {
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "thread {t}: a later append got an earlier seq"
        );
    }

    let by_seq: HashMap<u64, Event> = journal
        .entries(base)
        .map(|e| {
            let e = e.unwrap();
            let Opened::Event(event) = journal.open_entry(&e).unwrap() else {
                panic!("shredded")
            };
            (e.leaf.seq, event)
        })
        .collect();
    assert_eq!(by_seq.len() as u64, n);
    for (t, seqs) in per_thread.iter().enumerate() {
        for (i, seq) in seqs.iter().enumerate() {
            assert_eq!(
                by_seq[seq],
                message("sms", &format!("t{t}-{i}"), &format!("body {t}/{i}")),
                "entry {seq}"
            );
        }
    }
    // A sample through entry() as well.
    for seq in [base, base + n / 2, base + n - 1] {
        assert_eq!(event_at(&journal, seq), by_seq[&seq]);
    }
    let root = journal.root();
    journal.close().unwrap();
    let report = custos_journal::verify(dir.path(), None).unwrap();
    assert_eq!((report.entries, report.root), (base + n, root));
}

// ---------------------------------------------------------------------------
// 4. Proofs against signed heads
// ---------------------------------------------------------------------------

#[test]
fn inclusion_and_consistency_proofs_verify_against_signed_heads_old_and_new() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(dir.path(), None, "tester").unwrap();
    let public_key = journal.public_key();
    let check_inclusion = |head: &custos_journal::SignedTreeHead| {
        for seq in 0..head.tree_size {
            let proof = journal.inclusion_proof(seq, head.tree_size).unwrap();
            assert_eq!(proof.root, head.root);
            // The proof is about the stored entry, hashed independently.
            let leaf = merkle::leaf_hash(&journal.entry(seq).unwrap().leaf.encode());
            assert_eq!(proof.leaf_hash, leaf, "entry {seq}");
            merkle::verify_inclusion(&leaf, seq, head.tree_size, &proof.path, &head.root)
                .unwrap_or_else(|e| panic!("entry {seq} in head of {}: {e}", head.tree_size));
            if head.tree_size > 1 {
                let other = merkle::leaf_hash(
                    &journal
                        .entry((seq + 1) % head.tree_size)
                        .unwrap()
                        .leaf
                        .encode(),
                );
                assert!(
                    merkle::verify_inclusion(&other, seq, head.tree_size, &proof.path, &head.root)
                        .is_err(),
                    "another entry's leaf verified as entry {seq}"
                );
            }
        }
    };

    for (round, batch) in [40usize, 57, 30].into_iter().enumerate() {
        for i in 0..batch {
            let subject = format!("+4477009{:05}", i % 7);
            journal
                .append(
                    &message("sms", &format!("p{round}-{i}"), "proof me"),
                    Some(&subject),
                )
                .unwrap();
        }
        let head = journal.sign_head().unwrap();
        assert_eq!(
            (head.tree_size, head.root),
            (journal.size(), journal.root())
        );
        check_inclusion(&head);
    }
    // More entries after the last head: older heads must stay provable.
    for i in 0..11 {
        journal
            .append(&message("sms", &format!("late-{i}"), "late"), None)
            .unwrap();
    }

    let heads = journal.heads();
    assert_eq!(
        heads.iter().map(|h| h.tree_size).collect::<Vec<_>>(),
        vec![1, 41, 98, 128]
    );
    for head in &heads {
        assert!(
            head.verify(&public_key),
            "head of {} is not signed by the archive",
            head.tree_size
        );
        check_inclusion(head);
    }
    for (i, old) in heads.iter().enumerate() {
        for new in &heads[i..] {
            let proof = journal
                .consistency_proof(old.tree_size, new.tree_size)
                .unwrap();
            assert_eq!((proof.old_root, proof.new_root), (old.root, new.root));
            merkle::verify_consistency(
                old.tree_size,
                new.tree_size,
                &old.root,
                &new.root,
                &proof.path,
            )
            .unwrap_or_else(|e| panic!("{} -> {}: {e}", old.tree_size, new.tree_size));
            if new.tree_size > old.tree_size {
                let mut forged = old.root;
                forged[0] ^= 1;
                assert!(
                    merkle::verify_consistency(
                        old.tree_size,
                        new.tree_size,
                        &forged,
                        &new.root,
                        &proof.path
                    )
                    .is_err()
                );
            }
        }
        // And to the current tree, past the last head.
        let size = journal.size();
        let proof = journal.consistency_proof(old.tree_size, size).unwrap();
        merkle::verify_consistency(old.tree_size, size, &old.root, &journal.root(), &proof.path)
            .unwrap();
    }

    let size = journal.size();
    assert!(matches!(
        journal.inclusion_proof(0, size + 1),
        Err(Error::TreeSize { asked, size: s }) if asked == size + 1 && s == size
    ));
    assert!(matches!(
        journal.inclusion_proof(size, size),
        Err(Error::NoSuchEntry { seq, .. }) if seq == size
    ));
    assert!(matches!(
        journal.consistency_proof(1, size + 1),
        Err(Error::TreeSize { .. })
    ));
    journal.close().unwrap();
}

// ---------------------------------------------------------------------------
// 5. Tampering
// ---------------------------------------------------------------------------

#[test]
fn every_flipped_segment_byte_fails_verify_naming_its_entry_and_open_refuses_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    small_archive(dir.path(), 6, 2);
    let segments = layout(dir.path());
    assert!(segments.len() > 1, "the test meant to span segments");
    let original = snapshot(dir.path());
    let mut checks = Checks::new();
    for seg in &segments {
        for at in 0..seg.bytes.len() {
            // Where the byte lies: the segment header stands for the
            // segment's first entry; a frame byte for the frame's entry.
            let (seq, frame_offset) = if at < SEGMENT_HEADER_LEN {
                (seg.first_seq, 0)
            } else {
                let i = seg.frames.iter().rposition(|&(o, _)| o <= at).unwrap();
                assert!(at < seg.frames[i].0 + seg.frames[i].1);
                (seg.first_seq + i as u64, seg.frames[i].0 as u64)
            };
            let mut bytes = seg.bytes.clone();
            bytes[at] ^= 1 << (at % 8);
            std::fs::write(&seg.path, &bytes).unwrap();

            let expected = (seg.path.clone(), frame_offset, Some(seq));
            let verified = corrupt_of(custos_journal::verify(dir.path(), None));
            checks.check(
                verified
                    .as_ref()
                    .is_ok_and(|(p, o, s, _)| (p.clone(), *o, *s) == expected),
                || {
                    format!(
                        "{} byte {at}: verify gave {verified:?}, expected {expected:?}",
                        seg.path.display()
                    )
                },
            );
            let opened = corrupt_of(Journal::open(dir.path(), Options::default()));
            checks.check(opened.is_ok(), || {
                format!("{} byte {at}: open gave {opened:?}", seg.path.display())
            });
            let mut tampered = original.clone();
            tampered.insert(seg.path.clone(), bytes);
            checks.check(snapshot(dir.path()) == tampered, || {
                format!(
                    "{} byte {at}: a refused open changed the archive",
                    seg.path.display()
                )
            });
            std::fs::write(&seg.path, &seg.bytes).unwrap();
        }
    }
    checks.assert_all("flipped segment bytes");
    // Restored, it all checks out again.
    assert_eq!(snapshot(dir.path()), original);
    custos_journal::verify(dir.path(), None).unwrap();
}

#[test]
fn every_flipped_heads_byte_fails_verify_and_open() {
    let dir = tempfile::tempdir().unwrap();
    let head_sizes = small_archive(dir.path(), 4, 1);
    let path = dir.path().join(custos_journal::HEADS_FILE);
    let original_bytes = std::fs::read(&path).unwrap();
    let frames = walk_frames(&original_bytes, 8);
    assert_eq!(frames.len(), head_sizes.len());
    let original = snapshot(dir.path());
    let mut checks = Checks::new();
    for at in 0..original_bytes.len() {
        let frame_offset = if at < 8 {
            0
        } else {
            frames[frames.iter().rposition(|&(o, _)| o <= at).unwrap()].0 as u64
        };
        let mut bytes = original_bytes.clone();
        bytes[at] ^= 1 << (at % 8);
        std::fs::write(&path, &bytes).unwrap();
        let verified = corrupt_of(custos_journal::verify(dir.path(), None));
        checks.check(
            verified
                .as_ref()
                .is_ok_and(|(p, o, s, _)| *p == path && *o == frame_offset && s.is_none()),
            || format!("heads byte {at}: verify gave {verified:?}, expected offset {frame_offset}"),
        );
        let opened = corrupt_of(Journal::open(dir.path(), Options::default()));
        checks.check(opened.is_ok(), || {
            format!("heads byte {at}: open gave {opened:?}")
        });
        let mut tampered = original.clone();
        tampered.insert(path.clone(), bytes);
        checks.check(snapshot(dir.path()) == tampered, || {
            format!("heads byte {at}: a refused open changed the archive")
        });
        std::fs::write(&path, &original_bytes).unwrap();
    }
    checks.assert_all("flipped heads bytes");
    custos_journal::verify(dir.path(), None).unwrap();
}

#[test]
fn a_forged_entry_with_valid_checksums_fails_verify_naming_where_the_heads_stop_matching_and_open_refuses()
 {
    let dir = tempfile::tempdir().unwrap();
    let head_sizes = small_archive(dir.path(), 12, 3);
    assert_eq!(head_sizes, vec![1, 4, 7, 10, 13]);
    let segments = layout(dir.path());
    let size: u64 = segments.iter().map(|s| s.frames.len() as u64).sum();
    assert_eq!(size, 13);
    let locate = |seq: u64| {
        let seg = segments.iter().rfind(|s| s.first_seq <= seq).unwrap();
        (seg, (seq - seg.first_seq) as usize)
    };
    let leaf_len = custos_journal::entry::LEAF_LEN;
    let mut checks = Checks::new();
    for forged in 0..size {
        let (seg, i) = locate(forged);
        let (offset, framed) = seg.frames[i];
        let body = &seg.bytes[offset + FRAME_HEADER_LEN..offset + framed - FRAME_TRAILER_LEN];
        // Another ciphertext of the same length, its digest in the leaf,
        // and both checksums recomputed: only the tree can tell.
        let mut new_body = body.to_vec();
        new_body[leaf_len + 20] ^= 0x55;
        let digest = Digest::of(&new_body[leaf_len..]);
        new_body[66..98].copy_from_slice(digest.as_bytes());
        let mut frame = Vec::new();
        custos_journal::frame::write(&mut frame, &new_body);
        assert_eq!(frame.len(), framed);
        let mut bytes = seg.bytes.clone();
        bytes[offset..offset + framed].copy_from_slice(&frame);
        std::fs::write(&seg.path, &bytes).unwrap();

        // The forged range starts, at the earliest, right after the last
        // head the tree still matches.
        let earliest = head_sizes
            .iter()
            .copied()
            .filter(|&s| s <= forged)
            .max()
            .unwrap_or(0);
        let verified = corrupt_of(custos_journal::verify(dir.path(), None));
        match &verified {
            Ok((path, offset, Some(seq), problem)) => {
                let (named_seg, j) = locate(*seq);
                checks.check(
                    (earliest..=forged).contains(seq)
                        && *path == named_seg.path
                        && *offset == named_seg.frames[j].0 as u64
                        && problem.contains("signed head"),
                    || {
                        format!(
                            "forged entry {forged}: verify named entry {seq} at {} offset {offset} ({problem}); expected an entry in {earliest}..={forged}",
                            path.display()
                        )
                    },
                );
            }
            other => checks.check(false, || {
                format!("forged entry {forged}: verify gave {other:?}")
            }),
        }
        // A writer refuses to build on it, and changes nothing.
        let before = snapshot(dir.path());
        let opened = Journal::open(dir.path(), Options::default());
        let refused = matches!(opened, Err(Error::Corrupt { .. }));
        checks.check(refused && snapshot(dir.path()) == before, || {
            format!(
                "forged entry {forged}: open gave {:?}",
                opened.as_ref().err()
            )
        });
        drop(opened);
        std::fs::write(&seg.path, &seg.bytes).unwrap();
    }
    checks.assert_all("forged entries");
    custos_journal::verify(dir.path(), None).unwrap();
}

#[test]
fn cutting_entries_covered_by_a_head_fails_verify_as_missing_and_open_refuses_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    small_archive(dir.path(), 8, 4);
    let segments = layout(dir.path());
    assert!(segments.len() > 1);
    let size: u64 = segments.iter().map(|s| s.frames.len() as u64).sum();
    let original = snapshot(dir.path());
    let last = segments.last().unwrap();
    let mut checks = Checks::new();

    // Whole entries off the end of the last segment, down to its header.
    let mut cuts: Vec<(usize, u64)> = (0..last.frames.len())
        .map(|i| (last.frames[i].0, last.first_seq + i as u64))
        .collect();
    // And in the middle of its last frame, which an open would otherwise
    // take for a torn tail.
    let (o, l) = *last.frames.last().unwrap();
    cuts.push((o + l / 2, size - 1));
    for (len, remaining) in cuts {
        std::fs::write(&last.path, &last.bytes[..len]).unwrap();
        let verified = corrupt_of(custos_journal::verify(dir.path(), None));
        checks.check(
            verified.as_ref().is_ok_and(|(p, _, s, problem)| {
                *p == last.path && *s == Some(remaining) && problem.contains("entries are missing")
            }),
            || format!("cut at {len}: verify gave {verified:?}, expected {remaining} entries and missing ones"),
        );
        let opened = corrupt_of(Journal::open(dir.path(), Options::default()));
        checks.check(opened.is_ok(), || {
            format!("cut at {len}: open gave {opened:?}")
        });
        let mut tampered = original.clone();
        tampered.insert(last.path.clone(), last.bytes[..len].to_vec());
        checks.check(snapshot(dir.path()) == tampered, || {
            format!("cut at {len}: a refused open changed the archive")
        });
    }
    std::fs::write(&last.path, &last.bytes).unwrap();

    // The whole last segment gone.
    std::fs::remove_file(&last.path).unwrap();
    let verified = corrupt_of(custos_journal::verify(dir.path(), None));
    checks.check(
        verified.as_ref().is_ok_and(|(_, _, s, problem)| {
            *s == Some(last.first_seq) && problem.contains("entries are missing")
        }),
        || format!("last segment removed: verify gave {verified:?}"),
    );
    checks.check(
        corrupt_of(Journal::open(dir.path(), Options::default())).is_ok(),
        || "last segment removed: open did not refuse".into(),
    );
    std::fs::write(&last.path, &last.bytes).unwrap();
    checks.assert_all("cut entries");
    assert_eq!(
        custos_journal::verify(dir.path(), None).unwrap().entries,
        size
    );
}

// ---------------------------------------------------------------------------
// 6. Crashes
// ---------------------------------------------------------------------------

/// What a crash child appends for `source_id`: the parent rebuilds it to
/// compare.
fn crash_event(source_id: &str) -> Event {
    message(
        "whatsapp",
        source_id,
        &format!("acknowledged content of {source_id}"),
    )
}

/// The child of the crash test: appends from 4 threads until killed,
/// acknowledging each entry on stdout once `append` returned.
#[test]
fn crash_child() {
    let Some(dir) = child_dir("crash") else {
        return;
    };
    let cycle: u32 = std::env::var(CYCLE_ENV).unwrap().parse().unwrap();
    let journal = Journal::open(&dir, options(32 << 10)).unwrap();
    tell_parent("ready");
    // Only a parent that died lets a child run this long.
    let deadline = Instant::now() + Duration::from_secs(20);
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let journal = &journal;
            s.spawn(move || {
                // A new subject each cycle, so data keys are created too.
                let subject = (t != 3).then(|| format!("+4477009{cycle:04}{t}"));
                let mut n = 0u64;
                while Instant::now() < deadline {
                    n += 1;
                    let source_id = format!("c{cycle}-t{t}-{n}");
                    let appended = journal
                        .append(&crash_event(&source_id), subject.as_deref())
                        .unwrap();
                    assert!(!appended.duplicate);
                    tell_parent(&format!("ack {} {source_id}", appended.seq));
                    if t == 0 && n.is_multiple_of(16) {
                        journal.sign_head().unwrap();
                    }
                }
            });
        }
    });
}

/// Reads a child's stdout lines as they come; only complete lines count.
fn read_lines(child: &mut Child) -> (mpsc::Receiver<String>, std::thread::JoinHandle<()>) {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(complete) = line.strip_suffix('\n') {
                let _ = tx.send(complete.to_string());
            }
            line.clear();
        }
    });
    (rx, reader)
}

#[test]
fn sigkilled_appenders_lose_no_acknowledged_entry_over_many_crashes() {
    const CYCLES: u32 = 25;
    let dir = tempfile::tempdir().unwrap();
    Journal::init(dir.path(), None, "tester")
        .unwrap()
        .close()
        .unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    let mut recovered = open(dir.path()).size();
    let mut torn_tails = 0;
    for cycle in 0..CYCLES {
        let delay = Duration::from_millis(5 + rng.below(76));
        // Most kills land while appending; some during start-up and recovery.
        let from_spawn = cycle % 5 == 4;
        let mut child = child_command("crash", dir.path())
            .env(CYCLE_ENV, cycle.to_string())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (lines, reader) = read_lines(&mut child);
        let mut seen = Vec::new();
        if !from_spawn {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let line = lines
                    .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                    .unwrap_or_else(|_| panic!("cycle {cycle}: the child never got ready"));
                if line == "ready" {
                    break;
                }
                seen.push(line);
            }
        }
        std::thread::sleep(delay);
        child.kill().unwrap();
        let status = child.wait().unwrap();
        reader.join().unwrap();
        seen.extend(lines.try_iter());
        assert_eq!(
            status.signal(),
            Some(9),
            "cycle {cycle}: the child ended before it was killed ({status}); output: {seen:?}"
        );

        let mut this_cycle = BTreeMap::new();
        for line in &seen {
            let Some(rest) = line.strip_prefix("ack ") else {
                continue;
            };
            let (seq, source_id) = rest.split_once(' ').unwrap();
            let seq: u64 = seq.parse().unwrap();
            assert!(
                seq >= recovered,
                "cycle {cycle}: ack {seq} overwrote recovered entries below {recovered}"
            );
            assert!(
                this_cycle.insert(seq, source_id.to_string()).is_none(),
                "cycle {cycle}: seq {seq} acknowledged twice"
            );
        }

        // Verify before recovery: a torn tail is allowed, nothing else.
        let report = custos_journal::verify(dir.path(), None)
            .unwrap_or_else(|e| panic!("cycle {cycle} (seed {seed}): verify before recovery: {e}"));
        torn_tails += usize::from(report.torn_tail.is_some());
        let journal = Journal::open(dir.path(), Options::default())
            .unwrap_or_else(|e| panic!("cycle {cycle} (seed {seed}): open after the crash: {e}"));
        for (seq, source_id) in &this_cycle {
            assert!(
                *seq < journal.size(),
                "cycle {cycle} (seed {seed}): acknowledged entry {seq} is lost"
            );
            assert_eq!(
                event_at(&journal, *seq),
                crash_event(source_id),
                "cycle {cycle}: entry {seq}"
            );
        }
        let report = custos_journal::verify(dir.path(), None)
            .unwrap_or_else(|e| panic!("cycle {cycle} (seed {seed}): verify after recovery: {e}"));
        assert_eq!(
            (report.entries, report.root),
            (journal.size(), journal.root())
        );
        assert_eq!(report.torn_tail, None, "open cuts a torn tail");
        println!(
            "cycle {cycle}: killed {} ms after {}, {} acks, {} entries",
            delay.as_millis(),
            if from_spawn { "spawn" } else { "ready" },
            this_cycle.len(),
            journal.size()
        );
        recovered = journal.size();
        journal.close().unwrap();
        acked.extend(this_cycle);
    }
    println!(
        "{} acks over {CYCLES} cycles, {torn_tails} torn tails seen",
        acked.len()
    );
    assert!(
        !acked.is_empty(),
        "no child acknowledged anything: the test tested nothing"
    );

    let journal = open(dir.path());
    let all: HashMap<u64, Event> = journal
        .entries(0)
        .map(|e| {
            let e = e.unwrap();
            let Opened::Event(event) = journal.open_entry(&e).unwrap() else {
                panic!("shredded")
            };
            (e.leaf.seq, event)
        })
        .collect();
    for (seq, source_id) in &acked {
        assert_eq!(
            all.get(seq),
            Some(&crash_event(source_id)),
            "entry {seq} (seed {seed})"
        );
    }
    journal.close().unwrap();
    custos_journal::verify(dir.path(), None).unwrap();
}

// ---------------------------------------------------------------------------
// 7. The lock
// ---------------------------------------------------------------------------

/// The child of the lock test: tries to open the archive and says how it went.
#[test]
fn lock_child() {
    let Some(dir) = child_dir("lock") else {
        return;
    };
    match Journal::open(&dir, Options::default()) {
        Ok(journal) => {
            tell_parent(&format!("opened {}", journal.size()));
            journal.close().unwrap();
        }
        Err(Error::Locked {
            dir: locked,
            holder,
        }) => {
            assert_eq!(locked, dir);
            tell_parent(&format!("locked {holder}"));
        }
        Err(e) => panic!("open failed otherwise: {e}"),
    }
}

fn lock_child_says(dir: &Path) -> String {
    let lines = run_child(&mut child_command("lock", dir));
    lines
        .into_iter()
        .find(|l| l.starts_with("opened ") || l.starts_with("locked "))
        .expect("the lock child said nothing")
}

#[test]
fn a_second_open_is_locked_out_naming_the_holder_pid_until_close() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(dir.path(), None, "tester").unwrap();
    let pid = format!("pid {} ", std::process::id());

    let said = lock_child_says(dir.path());
    assert!(
        said.starts_with("locked ") && said.contains(&pid),
        "child said {said:?}, expected {pid}"
    );
    // In this process too: flock is per open file description.
    match Journal::open(dir.path(), Options::default()) {
        Err(Error::Locked { holder, .. }) => assert!(holder.contains(&pid), "{holder}"),
        other => panic!("expected Locked, got {other:?}"),
    }
    // A clone shares the lock; the locked-out opens changed nothing.
    let size = journal.size();
    journal
        .clone()
        .append(&message("sms", "after-lockout", "hi"), None)
        .unwrap();
    journal.close().unwrap();

    let said = lock_child_says(dir.path());
    assert_eq!(said, format!("opened {}", size + 1));
    let again = Journal::open(dir.path(), Options::default()).unwrap();
    assert_eq!(again.size(), size + 1);
    again.close().unwrap();
}

// ---------------------------------------------------------------------------
// 8. Shredding
// ---------------------------------------------------------------------------

#[test]
fn shredding_a_subject_destroys_only_its_content_and_keeps_the_tree() {
    const A: &str = "+447700900123";
    const B: &str = "+5511988887777";
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(dir.path(), None, "tester").unwrap();
    let mut of_a = Vec::new();
    let mut others = Vec::new();
    for i in 0..9 {
        let event = message("whatsapp", &format!("m{i}"), &format!("private text {i}"));
        let subject = [Some(A), Some(B), None][i % 3];
        let seq = journal.append(&event, subject).unwrap().seq;
        if subject == Some(A) {
            of_a.push(seq);
        } else {
            others.push((seq, event));
        }
    }
    let before_size = journal.size();
    let before_root = journal.root();
    let before: Vec<StoredEntry> = journal.entries(0).map(Result::unwrap).collect();
    let a_key = journal.entry(of_a[0]).unwrap().leaf.key_id;

    let shredded = journal.shred(A, "dpo", "erasure request 42").unwrap();
    assert_eq!(shredded, [a_key]);
    assert_eq!(journal.size(), before_size + 1);

    // The shred is on record as a system event naming the key, not the subject.
    let record = journal.entry(before_size).unwrap();
    assert_eq!(
        record.leaf.key_id,
        journal.entry(0).unwrap().leaf.key_id,
        "under the archive's key"
    );
    let Event::System(event) = event_at(&journal, before_size) else {
        panic!("the shred record is not a system event")
    };
    assert_eq!(event.action, "key.shred");
    assert_eq!(event.actor, "dpo");
    assert_eq!(event.target, Some(a_key.to_string()));
    assert_eq!(event.details.get("key_id"), Some(&a_key.to_string().into()));
    assert_eq!(
        event.details.get("reason"),
        Some(&"erasure request 42".into())
    );
    let json = serde_json::to_string(&event).unwrap();
    assert!(
        !json.contains("447700900123"),
        "the record names the subject: {json}"
    );
    // Nor is the number anywhere in the archive's files in clear.
    for (path, bytes) in snapshot(dir.path()) {
        assert!(
            !bytes.windows(A.len() - 1).any(|w| w == &A.as_bytes()[1..]),
            "{} holds the subject's number in clear",
            path.display()
        );
    }

    let check_content = |journal: &Journal| {
        for seq in &of_a {
            let entry = journal.entry(*seq).unwrap();
            assert_eq!(entry.leaf.key_id, a_key);
            match journal.open_entry(&entry).unwrap() {
                Opened::Shredded(at) => assert!(at >= event.at, "shredded before it was recorded"),
                Opened::Event(e) => panic!("entry {seq} still opens: {e:?}"),
            }
        }
        for (seq, e) in &others {
            assert_eq!(&event_at(journal, *seq), e);
        }
    };
    check_content(&journal);

    // The tree is untouched: same entries, the old root provable.
    for (old, now) in before.iter().zip(journal.entries(0)) {
        assert!(
            same_entry(old, &now.unwrap()),
            "entry {} changed",
            old.leaf.seq
        );
    }
    let proof = journal
        .consistency_proof(before_size, journal.size())
        .unwrap();
    assert_eq!(proof.old_root, before_root);
    merkle::verify_consistency(
        before_size,
        journal.size(),
        &before_root,
        &journal.root(),
        &proof.path,
    )
    .unwrap();
    let report = custos_journal::verify(dir.path(), None).unwrap();
    assert_eq!(
        (report.entries, report.root),
        (before_size + 1, journal.root())
    );

    // Nothing more to shred, and the archive's own key is not shreddable.
    assert!(journal.shred(A, "dpo", "again").unwrap().is_empty());
    assert!(
        journal
            .shred("+10000000000", "dpo", "never seen")
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        journal.shred("", "dpo", "all of it"),
        Err(Error::Refused(_))
    ));
    assert_eq!(
        journal.size(),
        before_size + 1,
        "refused or empty shreds record nothing"
    );
    journal.close().unwrap();

    let journal = open(dir.path());
    check_content(&journal);
    assert!(journal.shred(A, "dpo", "after reopen").unwrap().is_empty());
    journal.close().unwrap();
    custos_journal::verify(dir.path(), None).unwrap();
}

// ---------------------------------------------------------------------------
// 9. A failing write
// ---------------------------------------------------------------------------

/// The file size limit this process runs under (RLIMIT_FSIZE), if any.
fn file_size_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max file size"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Every segment parses with no torn or partial frame; their entries.
fn clean_segments(dir: &Path) -> u64 {
    let mut entries = 0;
    for seg in layout(dir) {
        let parsed = segment::parse(&seg.path, &seg.bytes, seg.first_seq).unwrap();
        assert_eq!(
            parsed.torn_at,
            None,
            "{} holds a partial write",
            seg.path.display()
        );
        entries += parsed.entries.len() as u64;
    }
    entries
}

/// The child of the write-failure test, run under a file size limit (with
/// SIGXFSZ ignored, so a write past it fails with EFBIG after writing what
/// fits: a real partial write).
#[test]
fn fsize_child() {
    let Some(dir) = child_dir("fsize") else {
        return;
    };
    let limit = file_size_limit().expect("the parent set a file size limit");
    assert!(limit < 1 << 20, "limit {limit}");

    // 1. The tail segment reaches the limit: appends fail, nothing partial stays.
    let journal = open(&dir);
    let text = "y".repeat(300);
    let mut failed = None;
    for n in 0..limit / 300 + 10 {
        let source_id = format!("tail-{n}");
        match journal.append(&message("sms", &source_id, &text), Some("+447700900001")) {
            Ok(a) => tell_parent(&format!("ack {} {source_id}", a.seq)),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    let failed = failed.expect("an append past the file size limit failed");
    assert!(matches!(failed, Error::WriterStopped(_)), "{failed}");
    let size = journal.size();
    assert_eq!(
        clean_segments(&dir),
        size,
        "the failed append left no entry"
    );
    assert_eq!(
        event_at(&journal, size - 1),
        message("sms", &format!("tail-{}", size - 2), &text)
    );
    // Still failing, still nothing partial, and the journal still reads.
    assert!(
        journal
            .append(&message("sms", "tail-again", &text), None)
            .is_err()
    );
    assert_eq!((clean_segments(&dir), journal.size()), (size, size));
    journal.close().unwrap();
    assert_eq!(custos_journal::verify(&dir, None).unwrap().entries, size);

    // 2. A batch too large for the limit fails right after starting a new
    // segment; appends after it must land where they are read from.
    let journal = Journal::open(&dir, options(limit / 4)).unwrap();
    let small = journal
        .append(&message("sms", "small-1", "fits"), None)
        .unwrap();
    tell_parent(&format!("ack {} small-1", small.seq));
    let big: Vec<NewEntry> = (0..3)
        .map(|i| NewEntry {
            event: message("sms", &format!("big-{i}"), &"z".repeat(limit as usize / 3)),
            subject: None,
        })
        .collect();
    assert!(
        journal.append_all(&big).is_err(),
        "a batch larger than the limit was written"
    );
    let size = journal.size();
    for n in 2..5 {
        let source_id = format!("small-{n}");
        let a = journal
            .append(&message("sms", &source_id, "fits"), None)
            .unwrap();
        tell_parent(&format!("ack {} {source_id}", a.seq));
        assert_eq!(
            event_at(&journal, a.seq),
            message("sms", &source_id, "fits")
        );
    }
    assert_eq!(clean_segments(&dir), size + 3, "entries on disk");
    journal.close().unwrap();
    assert_eq!(
        custos_journal::verify(&dir, None).unwrap().entries,
        size + 3
    );
}

#[test]
fn a_write_failing_at_the_file_size_limit_leaves_no_partial_entry_and_loses_no_ack() {
    let dir = tempfile::tempdir().unwrap();
    Journal::init(dir.path(), None, "tester")
        .unwrap()
        .close()
        .unwrap();
    // dash and bash count `ulimit -f` in different units; the child reads
    // the limit in bytes from /proc/self/limits.
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 64 && exec "$0" "$@""#)
        .arg(std::env::current_exe().unwrap())
        .args(child_args("fsize"))
        .env(ROLE_ENV, "fsize")
        .env(DIR_ENV, dir.path());
    let lines = run_child(&mut cmd);
    let acks: Vec<(u64, String)> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("ack "))
        .map(|rest| {
            let (seq, id) = rest.split_once(' ').unwrap();
            (seq.parse().unwrap(), id.to_string())
        })
        .collect();
    assert!(
        acks.iter().any(|(_, id)| id == "small-4"),
        "the child did not get through: {lines:?}"
    );

    // Without the limit, everything acknowledged is there and appends work.
    let journal = open(dir.path());
    for (seq, id) in &acks {
        let Event::Message(m) = event_at(&journal, *seq) else {
            panic!("entry {seq} is not a message")
        };
        assert_eq!(&m.source_id, id, "entry {seq}");
    }
    let all: BTreeSet<String> = journal
        .entries(0)
        .filter_map(|e| match journal.open_entry(&e.unwrap()).unwrap() {
            Opened::Event(Event::Message(m)) => Some(m.source_id),
            _ => None,
        })
        .collect();
    assert!(
        !all.iter().any(|id| id.starts_with("big-")),
        "part of the failed batch was kept"
    );
    journal
        .append(&message("sms", "after", "no limit"), None)
        .unwrap();
    journal.close().unwrap();
    custos_journal::verify(dir.path(), None).unwrap();
}

// ---------------------------------------------------------------------------
// 10. A wrong key-encryption key
// ---------------------------------------------------------------------------

#[test]
fn a_wrong_or_missing_kek_is_refused_with_a_clear_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (kek, hex) = Kek::generate();
    let journal = Journal::init(dir.path(), Some(kek.clone()), "tester").unwrap();
    let seq = journal
        .append(&message("sms", "k1", "secret"), Some("+447700900001"))
        .unwrap()
        .seq;
    journal.close().unwrap();
    assert!(
        !dir.path().join(custos_journal::KEK_FILE).exists(),
        "the caller keeps the key"
    );
    let original = snapshot(dir.path());

    let wrong = Journal::open(
        dir.path(),
        Options {
            kek: Some(Kek::generate().0),
            ..Options::default()
        },
    );
    match wrong {
        Err(e @ Error::Kek(_)) => {
            let text = e.to_string();
            assert!(text.contains("wrong key-encryption key"), "{text}");
            assert!(!text.contains(&hex), "the message shows the key");
        }
        other => panic!("expected a key-encryption key error, got {other:?}"),
    }
    match Journal::open(dir.path(), Options::default()) {
        Err(Error::Kek(text)) => assert!(text.contains("does not exist"), "{text}"),
        other => panic!("expected a missing-key error, got {other:?}"),
    }
    assert!(matches!(Kek::from_hex("not hex"), Err(Error::Kek(_))));
    assert_eq!(
        snapshot(dir.path()),
        original,
        "a refused open changed the archive"
    );
    // Verification needs no key-encryption key at all.
    custos_journal::verify(dir.path(), None).unwrap();

    let right = Journal::open(
        dir.path(),
        Options {
            kek: Some(Kek::from_hex(&hex).unwrap()),
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(event_at(&right, seq), message("sms", "k1", "secret"));
    right.close().unwrap();

    // An archive with its key in keys/kek refuses another one just the same.
    let dir = tempfile::tempdir().unwrap();
    Journal::init(dir.path(), None, "tester")
        .unwrap()
        .close()
        .unwrap();
    let wrong = Journal::open(
        dir.path(),
        Options {
            kek: Some(kek),
            ..Options::default()
        },
    );
    assert!(matches!(wrong, Err(Error::Kek(_))), "{wrong:?}");
    open(dir.path()).close().unwrap();
}

#[test]
fn async_appenders_are_acknowledged_once_durable_without_blocking_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(dir.path(), None, "test").unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let acks: Vec<(u64, String)> = runtime.block_on(async {
        let mut tasks = Vec::new();
        for t in 0..32 {
            let journal = journal.clone();
            tasks.push(tokio::spawn(async move {
                let mut acks = Vec::new();
                for i in 0..20 {
                    let id = format!("task-{t}-{i}");
                    let appended = journal
                        .append_async(&message("whatsapp", &id, &id), Some("+447700900001"))
                        .await
                        .unwrap();
                    assert!(!appended.duplicate);
                    acks.push((appended.seq, id));
                }
                acks
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        all
    });
    // A duplicate delivered through the async path is recognised too.
    let again = runtime
        .block_on(
            journal.append_async(&message("whatsapp", "task-0-0", "x"), Some("+447700900001")),
        )
        .unwrap();
    assert!(again.duplicate);
    journal.close().unwrap();

    let journal = open(dir.path());
    let seqs: BTreeSet<u64> = acks.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs.len(), 32 * 20, "every acknowledged seq is distinct");
    for (seq, id) in &acks {
        let Event::Message(m) = event_at(&journal, *seq) else {
            panic!("entry {seq} is not a message")
        };
        assert_eq!(&m.source_id, id);
    }
    assert_eq!(
        custos_journal::verify(dir.path(), None).unwrap().entries,
        journal.size()
    );
}

#[test]
fn heads_are_signed_at_the_configured_cadence_only_while_the_tree_grows() {
    let dir = tempfile::tempdir().unwrap();
    Journal::init(dir.path(), None, "test")
        .unwrap()
        .close()
        .unwrap();
    let journal = Journal::open(
        dir.path(),
        Options {
            head_every: Some(Duration::from_millis(20)),
            ..Options::default()
        },
    )
    .unwrap();
    let before = journal.heads().len();
    journal
        .append(&message("sms", "cadence-1", "hello"), None)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while journal.latest_head().unwrap().tree_size < journal.size() {
        assert!(
            Instant::now() < deadline,
            "no head was signed for the new entry"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let after_growth = journal.heads().len();
    assert_eq!(after_growth, before + 1, "one head covers the new entry");
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(
        journal.heads().len(),
        after_growth,
        "no head is signed while nothing changes"
    );
    journal.close().unwrap();
    assert!(custos_journal::verify(dir.path(), None).is_ok());
}

#[test]
fn blobs_are_sealed_per_subject_checked_on_read_and_destroyed_with_the_subject() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(dir.path(), None, "test").unwrap();
    let media = b"%PDF-1.7 term sheet for +5511988887777".to_vec();
    let a = journal
        .put_blob(Some("+5511988887777"), ts(0), &media)
        .unwrap();
    assert_eq!(a.digest, Digest::of(&media));
    assert_eq!(a.size, media.len() as u64);
    assert_eq!(
        journal
            .put_blob(Some("+5511988887777"), ts(0), &media)
            .unwrap(),
        a,
        "stored once"
    );
    let b = journal
        .put_blob(Some("+447700900001"), ts(0), &media)
        .unwrap();
    assert_ne!(a.key_id, b.key_id, "each subject has its own sealed copy");
    assert_eq!(journal.blob(a.key_id, &a.digest).unwrap().unwrap(), media);

    // No plaintext on disk.
    for (path, bytes) in snapshot(dir.path()) {
        assert!(
            !bytes.windows(media.len()).any(|w| w == media.as_slice()),
            "{} holds the blob in clear",
            path.display()
        );
    }

    // A changed byte is caught on read.
    let file = custos_journal::blobs::path(dir.path(), a.key_id, &a.digest);
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    assert!(matches!(
        journal.blob(a.key_id, &a.digest),
        Err(Error::Corrupt { .. })
    ));
    bytes[last] ^= 1;
    std::fs::write(&file, &bytes).unwrap();

    // Shredding the subject destroys their blobs; the other copy remains.
    journal
        .shred("+5511988887777", "dpo", "erasure request")
        .unwrap();
    assert_eq!(journal.blob(a.key_id, &a.digest).unwrap(), None);
    assert!(!file.exists(), "the sealed file is removed too");
    assert_eq!(journal.blob(b.key_id, &b.digest).unwrap().unwrap(), media);
    journal.close().unwrap();
    custos_journal::verify(dir.path(), None).unwrap();
}

#[test]
fn one_person_named_differently_by_two_channels_has_one_key_and_one_erasure() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(dir.path(), None, "test").unwrap();
    // A WhatsApp webhook names the customer by wa_id, an import in E.164
    // with spaces: both are the same person.
    let a = journal
        .append(&message("whatsapp", "wamid.1", "oi"), Some("5511988887777"))
        .unwrap();
    let b = journal
        .append(&message("sms", "sms-1", "olá"), Some("+55 11 98888-7777"))
        .unwrap();
    let other = journal
        .append(&message("sms", "sms-2", "hi"), Some("+447700900123"))
        .unwrap();
    let key_of = |seq| journal.entry(seq).unwrap().leaf.key_id;
    assert_eq!(key_of(a.seq), key_of(b.seq));
    assert_ne!(key_of(a.seq), key_of(other.seq));
    journal
        .shred("(55) 11 98888 7777", "dpo", "erasure request")
        .unwrap();
    for seq in [a.seq, b.seq] {
        let entry = journal.entry(seq).unwrap();
        assert!(matches!(
            journal.open_entry(&entry).unwrap(),
            Opened::Shredded(_)
        ));
    }
    assert!(matches!(event_at(&journal, other.seq), Event::Message(_)));
    assert!(matches!(
        journal.shred("  ", "dpo", "x"),
        Err(Error::Refused(_))
    ));
}

/// An archive written before per-entry keys (leaf version 1), made by
/// `custos init` + `ingest` of the previous release with `CUSTOS_KEK` set to
/// 32 bytes of 0x11: it still opens, reads, verifies and grows, and its old
/// entries are refused for disclosure, not mis-disclosed.
#[test]
fn an_archive_from_before_per_entry_keys_still_reads_verifies_and_grows() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-archive");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    copy_tree(&fixture, &dir);
    assert!(custos_journal::verify(&dir, None).unwrap().entries > 2);
    let kek = custos_journal::Kek::from_hex(&"11".repeat(32)).unwrap();
    let journal = Journal::open(
        &dir,
        Options {
            kek: Some(kek),
            ..Options::default()
        },
    )
    .unwrap();
    let size = journal.size();
    let texts: Vec<String> = (0..size)
        .filter_map(|seq| match event_at(&journal, seq) {
            Event::Message(m) => m.text,
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["Olá, pode confirmar a ordem?", "Confirmed."]);
    let old = journal.entry(size - 1).unwrap();
    assert_eq!(
        old.leaf.version,
        custos_journal::entry::LEAF_VERSION_SUBJECT_KEY
    );
    assert!(matches!(
        journal.entry_key(&old),
        Err(custos_journal::Error::NotDisclosable { .. })
    ));
    // A new entry for the same customer is sealed under its own key.
    let new = journal
        .append(
            &message("whatsapp", "wamid.V2", "nova mensagem"),
            Some("+5511988887777"),
        )
        .unwrap();
    let entry = journal.entry(new.seq).unwrap();
    assert_eq!(entry.leaf.version, custos_journal::entry::LEAF_VERSION);
    let key = journal.entry_key(&entry).unwrap().unwrap();
    let (_, event) =
        custos_journal::open_disclosed(&entry.leaf.encode(), &entry.payload, &key).unwrap();
    assert_eq!(event, event_at(&journal, new.seq));
    journal.sign_head().unwrap();
    journal.close().unwrap();
    assert_eq!(
        custos_journal::verify(&dir, None).unwrap().entries,
        size + 1
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let path = item.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// A message from `from` (inbound, or internal when `from` is `None`) sent
/// at the RFC 3339 instant `at`.
fn message_sent(source_id: &str, from: Option<&str>, at: &str) -> Event {
    let Event::Message(mut m) = message("sms", source_id, "text of the month") else {
        unreachable!()
    };
    m.sent_at = Timestamp::parse(at).unwrap();
    match from {
        Some(f) => m.sender = f.into(),
        None => m.direction = Direction::Internal,
    }
    Event::Message(m)
}

#[test]
fn keys_are_per_subject_and_month_and_one_month_can_be_shredded_alone() {
    const A: &str = "+447700900123";
    const B: &str = "+5511988887777";
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(dir.path(), None, "tester").unwrap();
    let add = |id: &str, subject: Option<&str>, at: &str| {
        journal
            .append(&message_sent(id, subject, at), subject)
            .unwrap()
            .seq
    };
    let a_jan = add("a1", Some(A), "2024-01-03T10:00:00Z");
    let a_jan2 = add("a2", Some(A), "2024-01-31T23:59:59Z");
    let a_feb = add("a3", Some(A), "2024-02-01T00:00:00Z");
    let b_jan = add("b1", Some(B), "2024-01-15T10:00:00Z");
    let internal_jan = add("i1", None, "2024-01-20T10:00:00Z");
    let internal_feb = add("i2", None, "2024-02-20T10:00:00Z");
    let system = journal
        .append_system("tester", "policy.version", None, Default::default())
        .unwrap()
        .seq;
    let key_of = |seq| journal.entry(seq).unwrap().leaf.key_id;
    assert_eq!(
        key_of(a_jan),
        key_of(a_jan2),
        "one key per subject and month"
    );
    assert_ne!(key_of(a_jan), key_of(a_feb), "a new month, a new key");
    assert_ne!(key_of(a_jan), key_of(b_jan), "a key per subject");
    assert_ne!(key_of(internal_jan), key_of(internal_feb));
    let archive = journal.archive_key_id().unwrap();
    assert_eq!(key_of(system), archive, "the archive's events keep its key");
    assert_ne!(key_of(internal_jan), archive, "internal records do not");
    let blob = journal
        .put_blob(
            Some(A),
            Timestamp::parse("2024-01-09T00:00:00Z").unwrap(),
            b"pdf",
        )
        .unwrap();
    assert_eq!(
        blob.key_id,
        key_of(a_jan),
        "a blob goes with its record's month"
    );

    // Keys are durable before entries: a reopen without a clean close
    // opens every one of them.
    drop(journal);
    let journal = open(dir.path());
    let key_of = |seq| journal.entry(seq).unwrap().leaf.key_id;
    let opened = |seq| {
        let entry = journal.entry(seq).unwrap();
        journal.open_entry(&entry).unwrap()
    };
    for seq in [a_jan, a_feb, b_jan, internal_jan, internal_feb, system] {
        assert!(matches!(opened(seq), Opened::Event(_)), "entry {seq}");
    }

    // Retention: one month of one subject goes, the rest stays.
    let size = journal.size();
    let gone = journal
        .shred_keys(
            &[key_of(a_jan), key_of(internal_jan)],
            "retention",
            "expired",
            &Default::default(),
        )
        .unwrap();
    assert_eq!(gone.len(), 2);
    assert_eq!(journal.size(), size + 2, "one key.shred event per key");
    for seq in [a_jan, a_jan2, internal_jan] {
        assert!(matches!(opened(seq), Opened::Shredded(_)), "entry {seq}");
    }
    for seq in [a_feb, b_jan, internal_feb, system] {
        assert!(matches!(opened(seq), Opened::Event(_)), "entry {seq}");
    }
    assert_eq!(journal.blob(blob.key_id, &blob.digest).unwrap(), None);
    assert!(journal.key_shredded_at(key_of(a_jan)).is_some());
    // Again: nothing more is done or journalled.
    assert!(
        journal
            .shred_keys(&[key_of(a_jan)], "retention", "again", &Default::default())
            .unwrap()
            .is_empty()
    );
    assert_eq!(journal.size(), size + 2);
    assert!(matches!(
        journal.shred_keys(&[archive], "retention", "x", &Default::default()),
        Err(Error::Refused(_))
    ));

    // Erasure takes every remaining month of the subject, and only theirs.
    let erased = journal.shred(A, "dpo", "erasure").unwrap();
    assert_eq!(erased, [key_of(a_feb)]);
    assert!(matches!(opened(a_feb), Opened::Shredded(_)));
    assert!(matches!(opened(b_jan), Opened::Event(_)));
    journal.sign_head().unwrap();
    drop(journal);
    let report = custos_journal::verify(dir.path(), None).unwrap();
    assert_eq!(report.entries, size + 3);
    let journal = open(dir.path());
    let entry = journal.entry(a_jan).unwrap();
    assert!(matches!(
        journal.open_entry(&entry).unwrap(),
        Opened::Shredded(_)
    ));
    let entry = journal.entry(internal_feb).unwrap();
    assert!(matches!(
        journal.open_entry(&entry).unwrap(),
        Opened::Event(_)
    ));
}

#[test]
fn a_period_is_the_utc_calendar_month() {
    use custos_journal::period_of;
    let at = |t| Timestamp::parse(t).unwrap();
    assert_eq!(period_of(at("2024-01-31T23:59:59.999999Z")), "2024-01");
    assert_eq!(period_of(at("2024-02-01T00:30:00+01:00")), "2024-01");
    assert_eq!(period_of(at("1999-12-01T00:00:00Z")), "1999-12");
}
