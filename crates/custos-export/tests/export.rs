//! End-to-end tests of `write` and `verify` on a real journal: a golden
//! export, and every kind of tampering `verify` must name.
//!
//! Golden files live in `tests/golden/export/`; after an intended change of
//! the output, rewrite them with `CUSTOS_BLESS=1 cargo test -p custos-export`
//! and review the diff. Files holding key material (`custody.json`,
//! `custody/entries.jsonl`) change on every run (the journal's keys are
//! random) and are checked structurally instead; HTML and PDF transcripts
//! are pinned by `custos-transcript`'s own golden files and only checked
//! for their Bates numbers here.

use custos_export::{
    Disclosed, Format, KeySource, Person, Request, Side, Slicing, Summary, schema, verify, write,
};
use custos_journal::{Journal, NewEntry, Opened, SignedTreeHead};
use custos_model::{
    Attachment, Deletion, DeliveryState, DeliveryStatus, Digest, Direction, Edit, Event, Message,
    Reaction, SystemEvent, Timestamp,
};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const ANA_PHONE: &str = "+34600111222";
const BEN_PHONE: &str = "+447700900001";
const ANA_MAIL: &str = "ana@client.example";
const BEN_MAIL: &str = "ben@acme.example";

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

#[allow(clippy::too_many_arguments)]
fn message(
    channel: &str,
    id: &str,
    conversation: &str,
    from: &str,
    to: &str,
    direction: Direction,
    sent: &str,
    text: &str,
) -> Message {
    Message {
        channel: channel.into(),
        source_id: id.into(),
        conversation: conversation.into(),
        sender: from.into(),
        recipients: vec![to.into()],
        direction,
        sent_at: at(sent),
        captured_at: at(sent),
        text: Some(text.into()),
        attachments: vec![],
        reply_to: None,
        raw_digest: Digest::of(id.as_bytes()),
        extra: Default::default(),
    }
}

fn attachment(name: &str, media_type: &str, bytes: &[u8]) -> Attachment {
    Attachment {
        name: Some(name.into()),
        media_type: media_type.into(),
        sha256: Digest::of(bytes),
        size: bytes.len() as u64,
    }
}

const PDF_BYTES: &[u8] = b"%PDF-1.4 confirmation of 300 shares";
const NOTE_BYTES: &[u8] = b"order note: 300 shares at market\n";
const NEVER_CAPTURED: &[u8] = b"a voice note the archive never received";

/// The fixed conversations: a WhatsApp chat over two days (an edit, a
/// reply with an attachment, statuses, reactions and a removed one, a
/// deletion, an attachment never captured) and an e-mail thread.
fn events() -> Vec<(Event, Option<&'static str>)> {
    let wa = |id, from, to, dir, sent, text| {
        message("whatsapp", id, ANA_PHONE, from, to, dir, sent, text)
    };
    let mut m1 = wa(
        "wamid.1",
        ANA_PHONE,
        BEN_PHONE,
        Direction::Inbound,
        "2024-06-10T07:10:56Z",
        "Can you confirm my order for 200 shares?",
    );
    m1.captured_at = at("2024-06-10T07:10:57Z");
    let mut m2 = wa(
        "wamid.2",
        BEN_PHONE,
        ANA_PHONE,
        Direction::Outbound,
        "2024-06-10T07:12:03Z",
        "Confirmed, see attached. 5% fee, \"as agreed\" & <b>final</b>",
    );
    m2.reply_to = Some("wamid.1".into());
    m2.attachments = vec![attachment("confirmation.pdf", "application/pdf", PDF_BYTES)];
    let m3 = wa(
        "wamid.3",
        ANA_PHONE,
        BEN_PHONE,
        Direction::Inbound,
        "2024-06-11T09:00:00Z",
        "Please cancel everything 🙏",
    );
    let mut m4 = wa(
        "wamid.4",
        BEN_PHONE,
        ANA_PHONE,
        Direction::Outbound,
        "2024-06-11T09:05:00Z",
        "Voice note follows",
    );
    m4.attachments = vec![attachment("note.ogg", "audio/ogg", NEVER_CAPTURED)];
    let mut e1 = message(
        "email",
        "<m5@client.example>",
        "order-thread",
        ANA_MAIL,
        BEN_MAIL,
        Direction::Inbound,
        "2024-06-10T10:00:00Z",
        "Hello Ben,\nplease find my order note attached.\n\nAna",
    );
    e1.extra
        .insert("subject".into(), "Order note (ação nº 5)".into());
    e1.attachments = vec![attachment("order note.txt", "text/plain", NOTE_BYTES)];
    let mut e2 = message(
        "email",
        "<m6@acme.example>",
        "order-thread",
        BEN_MAIL,
        ANA_MAIL,
        Direction::Outbound,
        "2024-06-11T08:00:00Z",
        "Received, thank you.",
    );
    e2.extra.insert("subject".into(), "Re: Order note".into());
    e2.reply_to = Some("<m5@client.example>".into());

    let edit = Event::Edit(Edit {
        channel: "whatsapp".into(),
        source_id: "wamid.e1".into(),
        target: "wamid.1".into(),
        editor: ANA_PHONE.into(),
        edited_at: at("2024-06-10T07:11:30Z"),
        captured_at: at("2024-06-10T07:11:30Z"),
        text: "Can you confirm my order for 300 shares?".into(),
        raw_digest: Digest::of(b"e1"),
    });
    let status = |state, time: &str| {
        Event::Status(DeliveryStatus {
            channel: "whatsapp".into(),
            target: "wamid.2".into(),
            recipient: ANA_PHONE.into(),
            state,
            at: at(time),
            captured_at: at(time),
            error: None,
            raw_digest: Digest::of(time.as_bytes()),
        })
    };
    let reaction = |id: &str, from: &str, emoji: Option<&str>, time: &str| {
        Event::Reaction(Reaction {
            channel: "whatsapp".into(),
            source_id: id.into(),
            target: "wamid.2".into(),
            sender: from.into(),
            emoji: emoji.map(String::from),
            reacted_at: at(time),
            captured_at: at(time),
            raw_digest: Digest::of(id.as_bytes()),
        })
    };
    let deletion = Event::Deletion(Deletion {
        channel: "whatsapp".into(),
        source_id: "wamid.d1".into(),
        target: "wamid.3".into(),
        deleted_by: ANA_PHONE.into(),
        deleted_at: at("2024-06-11T09:01:00Z"),
        captured_at: at("2024-06-11T09:01:00Z"),
        raw_digest: Digest::of(b"d1"),
    });
    let noise = Event::System(SystemEvent {
        actor: "test".into(),
        action: "test.noise".into(),
        target: None,
        at: at("2024-06-10T07:11:00Z"),
        details: Default::default(),
    });
    vec![
        (Event::Message(m1), Some(ANA_PHONE)),
        (noise, None),
        (edit, Some(ANA_PHONE)),
        (Event::Message(m2), Some(ANA_PHONE)),
        (
            status(DeliveryState::Delivered, "2024-06-10T07:12:05Z"),
            Some(ANA_PHONE),
        ),
        (
            status(DeliveryState::Read, "2024-06-10T07:12:40Z"),
            Some(ANA_PHONE),
        ),
        (
            reaction("wamid.r1", ANA_PHONE, Some("👍"), "2024-06-10T07:13:00Z"),
            Some(ANA_PHONE),
        ),
        (
            reaction("wamid.r2", BEN_PHONE, Some("❤️"), "2024-06-10T07:13:10Z"),
            Some(ANA_PHONE),
        ),
        (
            reaction("wamid.r3", BEN_PHONE, None, "2024-06-10T07:13:20Z"),
            Some(ANA_PHONE),
        ),
        (Event::Message(e1), Some(ANA_MAIL)),
        (Event::Message(m3), Some(ANA_PHONE)),
        (deletion, Some(ANA_PHONE)),
        (Event::Message(m4), Some(ANA_PHONE)),
        (Event::Message(e2), Some(ANA_MAIL)),
    ]
}

fn people() -> HashMap<String, Person> {
    let ben = |email: &str| Person {
        display: "Ben Cole".into(),
        side: Side::Firm,
        email: Some(email.into()),
        custodian: true,
    };
    let ana = |email: Option<&str>| Person {
        display: "Ana Ruiz".into(),
        side: Side::External,
        email: email.map(String::from),
        custodian: false,
    };
    HashMap::from([
        (BEN_PHONE.to_string(), ben(BEN_MAIL)),
        (BEN_MAIL.to_string(), ben(BEN_MAIL)),
        (ANA_PHONE.to_string(), ana(None)),
        (ANA_MAIL.to_string(), ana(Some(ANA_MAIL))),
    ])
}

/// A real journal holding the fixture, and what an export of it needs.
struct Fixture {
    _dir: tempfile::TempDir,
    entries: Vec<Disclosed>,
    head: SignedTreeHead,
    proof: Vec<custos_journal::merkle::Hash>,
    public_key: [u8; 32],
    blobs: HashMap<Digest, Vec<u8>>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(dir.path(), None, "test").unwrap();
    let new: Vec<NewEntry> = events()
        .into_iter()
        .map(|(event, subject)| NewEntry {
            event,
            subject: subject.map(String::from),
        })
        .collect();
    let appended = journal.append_all(&new).unwrap();
    let head = journal.sign_head().unwrap();
    let mut entries = Vec::new();
    for a in appended {
        let stored = journal.entry(a.seq).unwrap();
        let Opened::Event(event) = journal.open_entry(&stored).unwrap() else {
            panic!("entry {} does not open", a.seq)
        };
        if matches!(event, Event::System(_)) {
            continue;
        }
        entries.push(Disclosed {
            seq: a.seq,
            leaf: stored.leaf.encode().to_vec(),
            payload: stored.payload.clone(),
            entry_key: journal.entry_key(&stored).unwrap().unwrap(),
            event,
        });
    }
    let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    let proof = journal.multi_proof(&seqs, head.tree_size).unwrap();
    let public_key = journal.public_key();
    journal.close().unwrap();
    let blobs = HashMap::from([
        (Digest::of(PDF_BYTES), PDF_BYTES.to_vec()),
        (Digest::of(NOTE_BYTES), NOTE_BYTES.to_vec()),
    ]);
    Fixture {
        _dir: dir,
        entries,
        head,
        proof,
        public_key,
        blobs,
    }
}

fn request<'a>(f: &Fixture, blobs: custos_export::Blobs<'a>) -> Request<'a> {
    Request {
        id: "EXP-20261123-181500".into(),
        formats: Format::ALL.to_vec(),
        slicing: Slicing::ConversationDay,
        time_zone: "Europe/London".into(),
        entries: f.entries.clone(),
        people: people(),
        head: f.head.clone(),
        proof: f.proof.clone(),
        public_key: f.public_key,
        blobs,
        actor: "compliance@acme.example".into(),
        reason: "Regulator request 2026-17".into(),
        query: Some("from:+34600111222 OR from:ana@client.example".into()),
        matter: Some("MAT-0042".into()),
        created_at: at("2026-11-23T18:15:00Z"),
        bates_prefix: "CUSTOS-".into(),
        redaction: None,
    }
}

/// Exports the fixture into a fresh folder.
fn export(f: &Fixture) -> (tempfile::TempDir, PathBuf, Summary) {
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("export");
    let lookup = |d: &Digest| f.blobs.get(d).cloned();
    let summary = write(&path, &request(f, &lookup)).unwrap();
    (out, path, summary)
}

/// Every file under `dir`, relative, `/`-separated, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if entry.file_type().unwrap().is_dir() {
                walk(&entry.path(), &path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out);
    out.sort();
    out
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/export")
}

fn is_golden(path: &str) -> bool {
    path.starts_with("rsmf/") || path.starts_with("eml/") || path.starts_with("loadfile.")
}

#[test]
fn the_export_matches_its_golden_files_and_verifies() {
    let f = fixture();
    let (_out, dir, summary) = export(&f);
    let written = files(&dir);
    let golden: Vec<&String> = written.iter().filter(|p| is_golden(p)).collect();
    if std::env::var_os("CUSTOS_BLESS").is_some() {
        let _ = fs::remove_dir_all(golden_dir());
        for path in &golden {
            let target = golden_dir().join(path);
            fs::create_dir_all(target.parent().unwrap()).unwrap();
            fs::copy(dir.join(path), target).unwrap();
        }
    }
    let expected: Vec<String> = files(&golden_dir());
    assert_eq!(
        golden,
        expected.iter().collect::<Vec<_>>(),
        "golden file names"
    );
    for path in &expected {
        let got = fs::read(dir.join(path)).unwrap();
        let want = fs::read(golden_dir().join(path)).unwrap();
        assert!(
            got == want,
            "{path} differs from its golden file (CUSTOS_BLESS=1 rewrites them)"
        );
    }
    assert_eq!(
        written,
        [
            "custody.json",
            "custody/entries.jsonl",
            "eml/email/order-thread/CUSTOS-0000001.eml",
            "eml/email/order-thread/CUSTOS-0000002.eml",
            "html/email/order-thread/2024-06-10.html",
            "html/email/order-thread/2024-06-11.html",
            "html/whatsapp/+34600111222/2024-06-10.html",
            "html/whatsapp/+34600111222/2024-06-11.html",
            "loadfile.csv",
            "loadfile.jsonl",
            "pdf/email/order-thread/2024-06-10.pdf",
            "pdf/email/order-thread/2024-06-11.pdf",
            "pdf/whatsapp/+34600111222/2024-06-10.pdf",
            "pdf/whatsapp/+34600111222/2024-06-11.pdf",
            "rsmf/email/order-thread/2024-06-10.rsmf",
            "rsmf/email/order-thread/2024-06-11.rsmf",
            "rsmf/whatsapp/+34600111222/2024-06-10.rsmf",
            "rsmf/whatsapp/+34600111222/2024-06-11.rsmf",
        ]
    );
    for (path, bates) in [
        (
            "html/whatsapp/+34600111222/2024-06-10.html",
            "CUSTOS-0000003",
        ),
        ("pdf/whatsapp/+34600111222/2024-06-11.pdf", "CUSTOS-0000006"),
    ] {
        let text = String::from_utf8_lossy(&fs::read(dir.join(path)).unwrap()).into_owned();
        assert!(text.contains(bates), "{path} lacks {bates}");
    }

    assert_eq!(
        (summary.messages, summary.conversations, summary.files),
        (6, 2, 18)
    );
    let total: u64 = written
        .iter()
        .map(|p| fs::metadata(dir.join(p)).unwrap().len())
        .sum();
    assert_eq!(summary.bytes, total);
    assert_eq!(
        summary.skipped,
        [
            "CUSTOS-0000006: attachment note.ogg (audio/ogg, SHA-256 ".to_string()
                + &Digest::of(NEVER_CAPTURED).to_string()
                + ") was never captured; listed as missing",
            "eml: 4 whatsapp message(s) have no EML (only e-mail messages do)".to_string(),
        ]
    );

    // custody.json, structurally.
    let custody: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("custody.json")).unwrap()).unwrap();
    assert_eq!(custody["export_id"], "EXP-20261123-181500");
    assert_eq!(custody["actor"], "compliance@acme.example");
    assert_eq!(custody["reason"], "Regulator request 2026-17");
    assert_eq!(custody["matter"], "MAT-0042");
    assert_eq!(custody["created_at"], "2026-11-23T18:15:00Z");
    assert_eq!(custody["head"]["tree_size"], f.head.tree_size);
    assert_eq!(custody["head"]["root"], hex::encode(f.head.root));
    assert_eq!(custody["head"]["signature"], hex::encode(f.head.signature));
    assert_eq!(custody["public_key"], hex::encode(f.public_key));
    let proof: Vec<String> = f.proof.iter().map(hex::encode).collect();
    assert_eq!(custody["proof"], serde_json::json!(proof));
    assert_eq!(custody["entry_count"], f.entries.len());
    let listed: Vec<&str> = custody["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        written[1..].iter().map(String::as_str).collect::<Vec<_>>()
    );
    for file in custody["files"].as_array().unwrap() {
        let bytes = fs::read(dir.join(file["path"].as_str().unwrap())).unwrap();
        assert_eq!(file["sha256"], Digest::of(&bytes).to_string());
        assert_eq!(file["size"], bytes.len());
    }
    assert_eq!(
        summary.custody_sha256,
        Digest::of(&fs::read(dir.join("custody.json")).unwrap()).to_string()
    );
    let entries = fs::read_to_string(dir.join("custody/entries.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = entries
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), f.entries.len());
    for (line, entry) in lines.iter().zip(&f.entries) {
        assert_eq!(line["seq"], entry.seq);
        assert_eq!(line["leaf"], hex::encode(&entry.leaf));
        assert_eq!(line["entry_key"], hex::encode(entry.entry_key));
    }
    // The edit is shown where its message is.
    assert_eq!(
        lines[1]["files"],
        serde_json::json!([
            "rsmf/whatsapp/+34600111222/2024-06-10.rsmf",
            "html/whatsapp/+34600111222/2024-06-10.html",
            "pdf/whatsapp/+34600111222/2024-06-10.pdf"
        ])
    );

    let report = verify(&dir, Some(&f.public_key)).unwrap();
    assert_eq!(report.problems, Vec::<String>::new());
    assert!(report.is_ok());
    assert_eq!(
        (report.entries, report.files, report.key_source),
        (f.entries.len(), 17, KeySource::Given)
    );
    let report = verify(&dir, None).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.key_source, KeySource::FromExport);
}

/// The manifest and the zip's other files in an RSMF file.
fn rsmf_zip(path: &Path) -> (serde_json::Value, BTreeMap<String, Vec<u8>>) {
    let text = fs::read_to_string(path).unwrap();
    let start = text
        .find("filename=\"rsmf.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
        .unwrap();
    let body = &text[start..];
    let body = &body[body.find("\r\n\r\n").unwrap() + 4..body.find("--=_custos-rsmf--").unwrap()];
    use base64::Engine as _;
    let compact: String = body.split("\r\n").collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut manifest = None;
    let mut others = BTreeMap::new();
    for i in 0..zip.len() {
        let mut file = zip.by_index(i).unwrap();
        let mut data = Vec::new();
        file.read_to_end(&mut data).unwrap();
        let name = file.name().unwrap().to_string();
        if name == "rsmf_manifest.json" {
            manifest = Some(serde_json::from_slice(&data).unwrap());
        } else {
            others.insert(name, data);
        }
    }
    (manifest.unwrap(), others)
}

#[test]
fn every_manifest_written_passes_the_schema_and_maps_the_chat() {
    let f = fixture();
    let (_out, dir, _) = export(&f);
    let rsmf: Vec<String> = files(&dir)
        .into_iter()
        .filter(|p| p.ends_with(".rsmf"))
        .collect();
    assert_eq!(rsmf.len(), 4);
    for path in &rsmf {
        let (manifest, others) = rsmf_zip(&dir.join(path));
        let has = |name: &str| others.contains_key(name);
        assert_eq!(
            schema::check(&manifest, Some(&has)),
            Vec::<String>::new(),
            "{path}"
        );
        let text = fs::read_to_string(dir.join(path)).unwrap();
        assert!(
            text.split("\r\n").all(|l| l.len() <= 78),
            "{path}: a line is too long"
        );
        assert!(!text.replace("\r\n", "").contains('\n'), "{path}: bare LF");
        for header in [
            "MIME-Version: 1.0",
            "X-RSMF-Version: 2.0.0",
            "X-RSMF-EventCount: ",
            "X-RSMF-Generator: custos-export",
        ] {
            assert!(text.contains(header), "{path}: no {header}");
        }
    }
    let (day1, zip) = rsmf_zip(&dir.join("rsmf/whatsapp/+34600111222/2024-06-10.rsmf"));
    let events = day1["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    let (m1, m2) = (&events[0], &events[1]);
    assert_eq!(m1["id"], "CUSTOS-0000003");
    assert_eq!(m1["direction"], "incoming");
    assert_eq!(m1["body"], "Can you confirm my order for 200 shares?");
    assert_eq!(
        m1["edits"][0]["previous"],
        "Can you confirm my order for 200 shares?"
    );
    assert_eq!(
        m1["edits"][0]["new"],
        "Can you confirm my order for 300 shares?"
    );
    assert_eq!(m2["parent"], "CUSTOS-0000003");
    assert_eq!(m2["direction"], "outgoing");
    assert_eq!(
        m2["reactions"],
        serde_json::json!([{"value": "👍", "count": 1, "participants": ["P1"]}])
    );
    assert_eq!(m2["read_receipts"][1]["action"], "read");
    assert_eq!(m2["attachments"][0]["display"], "confirmation.pdf");
    assert_eq!(zip[m2["attachments"][0]["id"].as_str().unwrap()], PDF_BYTES);
    assert_eq!(day1["conversations"][0]["custodian"], "P2");
    assert_eq!(day1["participants"][1]["display"], "Ben Cole");
    let (day2, zip) = rsmf_zip(&dir.join("rsmf/whatsapp/+34600111222/2024-06-11.rsmf"));
    assert_eq!(day2["events"][0]["deleted"], true);
    assert!(zip.is_empty(), "the voice note was never captured");
    let customs = day2["events"][1]["custom"].as_array().unwrap();
    assert!(customs.iter().any(|c| c["name"] == "missing_attachment"));
}

/// Flips one byte in the middle of `path`.
fn flip(dir: &Path, path: &str) -> Vec<u8> {
    let full = dir.join(path);
    let original = fs::read(&full).unwrap();
    let mut bytes = original.clone();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(&full, bytes).unwrap();
    original
}

fn problems(dir: &Path, key: &[u8; 32]) -> Vec<String> {
    verify(dir, Some(key)).unwrap().problems
}

#[test]
fn a_flipped_byte_in_any_file_is_named() {
    let f = fixture();
    let (_out, dir, _) = export(&f);
    for path in files(&dir) {
        if path == "custody.json" {
            continue;
        }
        let original = flip(&dir, &path);
        let found = problems(&dir, &f.public_key);
        assert!(
            found.contains(&format!("{path}: SHA-256 differs from custody.json")),
            "{path}: {found:?}"
        );
        fs::write(dir.join(&path), original).unwrap();
    }
    assert!(verify(&dir, Some(&f.public_key)).unwrap().is_ok());
}

/// Rewrites `custody.json` through `change`.
fn edit_custody(dir: &Path, change: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("custody.json");
    let mut custody: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    change(&mut custody);
    fs::write(&path, serde_json::to_vec_pretty(&custody).unwrap()).unwrap();
}

/// Rewrites a file and records its new digest and size in `custody.json`,
/// as a forger would.
fn forge(dir: &Path, path: &str, bytes: &[u8]) {
    fs::write(dir.join(path), bytes).unwrap();
    edit_custody(dir, |custody| {
        for file in custody["files"].as_array_mut().unwrap() {
            if file["path"] == path {
                file["sha256"] = Digest::of(bytes).to_string().into();
                file["size"] = bytes.len().into();
            }
        }
    });
}

#[test]
fn custody_json_changes_are_named_or_change_its_digest() {
    let f = fixture();
    let (_out, dir, summary) = export(&f);
    let pristine = fs::read(dir.join("custody.json")).unwrap();

    edit_custody(&dir, |c| {
        c["files"][3]["sha256"] = Digest::of(b"x").to_string().into()
    });
    let path = files(&dir)[4].clone();
    assert_eq!(
        problems(&dir, &f.public_key),
        [format!("{path}: SHA-256 differs from custody.json")]
    );
    fs::write(dir.join("custody.json"), &pristine).unwrap();

    edit_custody(&dir, |c| c["head"]["root"] = hex::encode([7u8; 32]).into());
    let found = problems(&dir, &f.public_key);
    assert!(
        found
            .iter()
            .any(|p| p.contains("is not signed by the given public key")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("the multi-proof does not prove")),
        "{found:?}"
    );
    fs::write(dir.join("custody.json"), &pristine).unwrap();

    edit_custody(&dir, |c| c["proof"][0] = hex::encode([7u8; 32]).into());
    let found = problems(&dir, &f.public_key);
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("the multi-proof does not prove")),
        "{found:?}"
    );
    fs::write(dir.join("custody.json"), &pristine).unwrap();

    // Free text (who, why) is not self-authenticating: the digest the
    // caller recorded from the summary tells.
    edit_custody(&dir, |c| c["reason"] = "something else".into());
    assert!(verify(&dir, Some(&f.public_key)).unwrap().is_ok());
    assert_ne!(
        Digest::of(&fs::read(dir.join("custody.json")).unwrap()).to_string(),
        summary.custody_sha256
    );
    fs::write(dir.join("custody.json"), &pristine).unwrap();

    fs::write(dir.join("custody.json"), b"{ not json").unwrap();
    let error = verify(&dir, None).unwrap_err().to_string();
    assert!(
        error.contains("custody.json: cannot read the custody manifest"),
        "{error}"
    );
}

#[test]
fn deleted_and_added_files_are_named() {
    let f = fixture();
    let (_out, dir, _) = export(&f);
    let target = "rsmf/whatsapp/+34600111222/2024-06-11.rsmf";
    let bytes = fs::read(dir.join(target)).unwrap();
    fs::remove_file(dir.join(target)).unwrap();
    let found = problems(&dir, &f.public_key);
    assert!(found.contains(&format!("{target}: missing")), "{found:?}");
    assert!(
        found
            .iter()
            .any(|p| p.ends_with("the message is in no RSMF file")),
        "{found:?}"
    );
    fs::write(dir.join(target), bytes).unwrap();

    fs::write(dir.join("rsmf/extra.rsmf"), b"planted").unwrap();
    assert_eq!(
        problems(&dir, &f.public_key),
        ["rsmf/extra.rsmf: not listed in custody.json"]
    );
}

/// `custody/entries.jsonl` with line `n` changed by `change`, forged into
/// custody.json so only the entry check can tell.
fn forge_entry(dir: &Path, n: usize, change: impl FnOnce(&mut serde_json::Value)) {
    let text = fs::read_to_string(dir.join("custody/entries.jsonl")).unwrap();
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    change(&mut lines[n]);
    let mut out = String::new();
    for line in lines {
        out.push_str(&serde_json::to_string(&line).unwrap());
        out.push('\n');
    }
    forge(dir, "custody/entries.jsonl", out.as_bytes());
}

#[test]
fn an_altered_payload_or_key_names_the_entry() {
    use base64::Engine as _;
    let f = fixture();
    let (_out, dir, _) = export(&f);
    let pristine = fs::read(dir.join("custody/entries.jsonl")).unwrap();
    let custody = fs::read(dir.join("custody.json")).unwrap();
    let seq = f.entries[3].seq;

    forge_entry(&dir, 3, |line| {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut payload = b64.decode(line["payload"].as_str().unwrap()).unwrap();
        payload[20] ^= 1;
        line["payload"] = b64.encode(payload).into();
    });
    let found = problems(&dir, &f.public_key);
    assert!(
        found.contains(&format!(
            "entry {seq}: payload does not match its leaf (SHA-256 or length differs)"
        )),
        "{found:?}"
    );
    fs::write(dir.join("custody/entries.jsonl"), &pristine).unwrap();
    fs::write(dir.join("custody.json"), &custody).unwrap();

    forge_entry(&dir, 3, |line| {
        line["entry_key"] = hex::encode(f.entries[0].entry_key).into()
    });
    let found = problems(&dir, &f.public_key);
    assert!(
        found.contains(&format!(
            "entry {seq}: the entry key does not open the payload"
        )),
        "{found:?}"
    );
    fs::write(dir.join("custody/entries.jsonl"), &pristine).unwrap();
    fs::write(dir.join("custody.json"), &custody).unwrap();

    // A leaf altered too (the payload's new digest in it): the proof fails.
    forge_entry(&dir, 3, |line| {
        let mut leaf = hex::decode(line["leaf"].as_str().unwrap()).unwrap();
        leaf[10] ^= 1; // recorded_at
        line["leaf"] = hex::encode(leaf).into();
    });
    let found = problems(&dir, &f.public_key);
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("the multi-proof does not prove")),
        "{found:?}"
    );
}

#[test]
fn a_head_from_another_key_is_named() {
    let f = fixture();
    let (_out, dir, _) = export(&f);
    let other = fixture();
    let found = problems(&dir, &other.public_key);
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("custody.json names public key")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.contains("is not signed by the given public key")),
        "{found:?}"
    );

    // An export is refused when its head is not signed by the key given.
    let out = tempfile::tempdir().unwrap();
    let lookup = |d: &Digest| f.blobs.get(d).cloned();
    let mut req = request(&f, &lookup);
    req.public_key = other.public_key;
    let error = write(&out.path().join("x"), &req).unwrap_err().to_string();
    assert!(
        error.contains("is not signed by the given public key"),
        "{error}"
    );
}

/// Rewrites the manifest of an RSMF file through `change`, keeping the
/// rest, and forges custody.json to match.
fn forge_manifest(dir: &Path, path: &str, change: impl FnOnce(&mut serde_json::Value)) {
    use base64::Engine as _;
    let text = fs::read_to_string(dir.join(path)).unwrap();
    let (mut manifest, others) = rsmf_zip(&dir.join(path));
    change(&mut manifest);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("rsmf_manifest.json", options).unwrap();
    zip.write_all(&serde_json::to_vec(&manifest).unwrap())
        .unwrap();
    for (name, data) in others {
        zip.start_file(name, options).unwrap();
        zip.write_all(&data).unwrap();
    }
    let bytes = zip.finish().unwrap().into_inner();
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let marker = "Content-Transfer-Encoding: base64\r\n\r\n";
    let start = text.rfind(marker).unwrap() + marker.len();
    let end = text.find("--=_custos-rsmf--").unwrap();
    let forged = format!(
        "{}{}\r\n{}",
        &text[..start],
        lines.join("\r\n"),
        &text[end..]
    );
    forge(dir, path, forged.as_bytes());
}

#[test]
fn content_that_differs_from_the_proven_entries_is_named_even_when_custody_json_is_forged() {
    let f = fixture();
    let (_out, dir, _) = export(&f);
    let path = "rsmf/whatsapp/+34600111222/2024-06-10.rsmf";
    let seq = f.entries[0].seq;
    forge_manifest(&dir, path, |m| {
        m["events"][0]["body"] = "Can you confirm my order for 20 shares?".into();
        m["events"][0]["edits"] = serde_json::json!([]);
        m["events"][1]["timestamp"] = "2024-06-10T07:12:04Z".into();
    });
    let seq2 = f.entries[2].seq;
    assert_eq!(
        problems(&dir, &f.public_key),
        [
            format!("{path}: event CUSTOS-0000003 body differs from journal entry {seq}"),
            format!("{path}: event CUSTOS-0000003 edits differs from journal entry {seq}"),
            format!("{path}: event CUSTOS-0000004 timestamp differs from journal entry {seq2}"),
        ]
    );

    let (_out, dir, _) = export(&f);
    let path = "rsmf/whatsapp/+34600111222/2024-06-11.rsmf";
    forge_manifest(&dir, path, |m| {
        m["events"][0]["deleted"] = false.into();
        m["events"].as_array_mut().unwrap().pop();
    });
    let found = problems(&dir, &f.public_key);
    let deleted_seq = f
        .entries
        .iter()
        .find(|e| matches!(&e.event, Event::Message(m) if m.source_id == "wamid.3"))
        .unwrap()
        .seq;
    let dropped_seq = f
        .entries
        .iter()
        .find(|e| matches!(&e.event, Event::Message(m) if m.source_id == "wamid.4"))
        .unwrap()
        .seq;
    assert_eq!(
        found,
        [
            format!(
                "{path}: event CUSTOS-0000005 deleted flag differs from journal entry {deleted_seq}"
            ),
            format!("entry {dropped_seq}: the message is in no RSMF file"),
        ]
    );

    let (_out, dir, _) = export(&f);
    let text = fs::read_to_string(dir.join("loadfile.jsonl")).unwrap();
    let forged = text.replacen(
        "\"sent_at\":\"2024-06-10T10:00:00Z\"",
        "\"sent_at\":\"2024-06-10T11:00:00Z\"",
        1,
    );
    assert_ne!(forged, text);
    forge(&dir, "loadfile.jsonl", forged.as_bytes());
    let first = f
        .entries
        .iter()
        .find(|e| matches!(&e.event, Event::Message(m) if m.channel == "email"))
        .unwrap()
        .seq;
    assert_eq!(
        problems(&dir, &f.public_key),
        [format!(
            "loadfile.jsonl line 1: sent_at differs from journal entry {first}"
        )]
    );

    let (_out, dir, _) = export(&f);
    let text = fs::read_to_string(dir.join("loadfile.csv")).unwrap();
    let forged = text.replacen(",true,order note.txt,", ",false,order note.txt,", 1);
    assert_ne!(forged, text);
    forge(&dir, "loadfile.csv", forged.as_bytes());
    assert_eq!(
        problems(&dir, &f.public_key),
        [format!(
            "loadfile.csv line 2: has_attachments differs from journal entry {first}"
        )]
    );
}

#[test]
fn a_request_that_would_not_verify_is_refused_before_anything_is_written() {
    let f = fixture();
    let lookup = |d: &Digest| f.blobs.get(d).cloned();
    let out = tempfile::tempdir().unwrap();

    let mut req = request(&f, &lookup);
    req.entries[2].entry_key = req.entries[1].entry_key;
    let seq = req.entries[2].seq;
    let error = write(&out.path().join("a"), &req).unwrap_err().to_string();
    assert_eq!(
        error,
        format!("entry {seq}: the entry key does not open the payload")
    );
    assert!(!out.path().join("a/custody.json").exists());

    let mut req = request(&f, &lookup);
    req.entries.remove(1);
    let error = write(&out.path().join("b"), &req).unwrap_err().to_string();
    assert!(
        error.starts_with("the proof does not prove the entries"),
        "{error}"
    );

    let mut req = request(&f, &lookup);
    req.time_zone = "Mars/Olympus".into();
    assert_eq!(
        write(&out.path().join("c"), &req).unwrap_err().to_string(),
        "unknown time zone \"Mars/Olympus\""
    );

    let mut req = request(&f, &lookup);
    req.entries.swap(0, 1);
    let error = write(&out.path().join("d"), &req).unwrap_err().to_string();
    assert!(
        error.starts_with("entries must be in ascending seq order"),
        "{error}"
    );

    fs::create_dir(out.path().join("e")).unwrap();
    fs::write(out.path().join("e/x"), b"x").unwrap();
    let error = write(&out.path().join("e"), &request(&f, &lookup))
        .unwrap_err()
        .to_string();
    assert!(
        error.ends_with("the export directory must not exist or be empty"),
        "{error}"
    );

    let wrong = |d: &Digest| (*d == Digest::of(PDF_BYTES)).then(|| b"not the pdf".to_vec());
    let error = write(&out.path().join("f"), &request(&f, &wrong))
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("CUSTOS-0000004: attachment \"confirmation.pdf\" bytes have SHA-256"),
        "{error}"
    );
    assert!(!out.path().join("f/custody.json").exists());
}

/// Follows docs/exports.md "Verifying an export" by hand, with plain
/// SHA-256, Ed25519 and AES-GCM, so the documented bytes stay true.
#[test]
fn the_by_hand_verification_in_the_docs_works() {
    use base64::Engine as _;
    use ring::{aead, signature};
    use sha2::Digest as _;
    let f = fixture();
    let (_out, dir, _) = export(&f);
    let custody: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("custody.json")).unwrap()).unwrap();
    let hex32 = |v: &serde_json::Value| -> [u8; 32] {
        hex::decode(v.as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap()
    };

    // 2. The head.
    let head = &custody["head"];
    let tree_size = head["tree_size"].as_u64().unwrap();
    let root = hex32(&head["root"]);
    let micros = Timestamp::parse(head["timestamp"].as_str().unwrap())
        .unwrap()
        .as_micros();
    let mut signed = b"custos-sth-v1\0".to_vec();
    signed.push(1);
    signed.extend_from_slice(&tree_size.to_le_bytes());
    signed.extend_from_slice(&root);
    signed.extend_from_slice(&micros.to_le_bytes());
    signed.extend_from_slice(&hex32(&head["previous"]));
    let key = hex::decode(custody["public_key"].as_str().unwrap()).unwrap();
    let sig = hex::decode(head["signature"].as_str().unwrap()).unwrap();
    signature::UnparsedPublicKey::new(&signature::ED25519, &key)
        .verify(&signed, &sig)
        .unwrap();

    // 3. Each entry.
    let mut leaves: Vec<(u64, [u8; 32])> = Vec::new();
    for line in fs::read_to_string(dir.join("custody/entries.jsonl"))
        .unwrap()
        .lines()
    {
        let line: serde_json::Value = serde_json::from_str(line).unwrap();
        let leaf = hex::decode(line["leaf"].as_str().unwrap()).unwrap();
        let payload = base64::engine::general_purpose::STANDARD
            .decode(line["payload"].as_str().unwrap())
            .unwrap();
        assert_eq!((leaf.len(), leaf[0]), (102, 2));
        let seq = u64::from_le_bytes(leaf[1..9].try_into().unwrap());
        assert_eq!(seq, line["seq"].as_u64().unwrap());
        assert_eq!(sha2::Sha256::digest(&payload).as_slice(), &leaf[66..98]);
        assert_eq!(
            payload.len() as u32,
            u32::from_le_bytes(leaf[98..102].try_into().unwrap())
        );
        let entry_key = hex32(&line["entry_key"]);
        let key =
            aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_256_GCM, &entry_key).unwrap());
        let nonce = aead::Nonce::try_assume_unique_for_key(&payload[..12]).unwrap();
        let mut sealed = payload[12..].to_vec();
        let aad = aead::Aad::from(leaf[17..34].to_vec());
        let plain = key.open_in_place(nonce, aad, &mut sealed).unwrap();
        let event = Event::decode(plain).unwrap();
        assert_eq!(
            Some(&event),
            f.entries.iter().find(|e| e.seq == seq).map(|e| &e.event)
        );
        let mut hasher = sha2::Sha256::new();
        hasher.update([0u8]);
        hasher.update(&leaf);
        leaves.push((seq, hasher.finalize().into()));
    }
    leaves.sort();

    // 4. The proof, walked as the docs say.
    fn node(left: [u8; 32], right: [u8; 32]) -> [u8; 32] {
        let mut hasher = sha2::Sha256::new();
        hasher.update([1u8]);
        hasher.update(left);
        hasher.update(right);
        hasher.finalize().into()
    }
    fn walk(
        lo: u64,
        hi: u64,
        leaves: &[(u64, [u8; 32])],
        proof: &mut std::slice::Iter<[u8; 32]>,
    ) -> [u8; 32] {
        let inside: Vec<(u64, [u8; 32])> = leaves
            .iter()
            .copied()
            .filter(|(i, _)| (lo..hi).contains(i))
            .collect();
        if inside.is_empty() {
            return *proof.next().expect("enough proof hashes");
        }
        if hi - lo == 1 {
            return inside[0].1;
        }
        let mut k = 1;
        while k * 2 < hi - lo {
            k *= 2;
        }
        let left = walk(lo, lo + k, &inside, proof);
        let right = walk(lo + k, hi, &inside, proof);
        node(left, right)
    }
    let proof: Vec<[u8; 32]> = custody["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(hex32)
        .collect();
    let mut next = proof.iter();
    assert_eq!(walk(0, tree_size, &leaves, &mut next), root);
    assert!(next.next().is_none(), "every proof hash is used");
}

#[test]
fn a_redacted_export_withholds_keys_attachments_and_digests_and_still_verifies() {
    let f = fixture();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("export");
    let lookup = |d: &Digest| f.blobs.get(d).cloned();
    let mut req = request(&f, &lookup);
    req.redaction = Some("all".parse().unwrap());
    let summary = write(&dir, &req).unwrap();
    assert!(
        summary
            .skipped
            .iter()
            .any(|s| s.contains("confirmation.pdf") && s.contains("withheld by redaction")),
        "{:?}",
        summary.skipped
    );

    let report = verify(&dir, Some(&f.public_key)).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    let redaction = report.redaction.expect("the report says it is redacted");
    assert_eq!(
        redaction.profile,
        "payment_card,iban,us_ssn,br_cpf,email,phone"
    );
    assert_eq!(redaction.statement, custos_export::REDACTED_STATEMENT);

    let entries = fs::read_to_string(dir.join("custody/entries.jsonl")).unwrap();
    assert!(!entries.contains("entry_key"), "{entries}");
    let csv = fs::read_to_string(dir.join("loadfile.csv")).unwrap();
    for e in &f.entries {
        let digest = Digest::of(&e.event.encode()).to_string();
        assert!(!csv.contains(&digest), "event digest of entry {}", e.seq);
    }
    // No attachment's bytes in any file, zip members included.
    for path in files(&dir) {
        if path.ends_with(".rsmf") {
            let (_, members) = rsmf_zip(&dir.join(&path));
            assert_eq!(members.len(), 0, "{path}: {:?}", members.keys());
        }
        let bytes = fs::read(dir.join(&path)).unwrap();
        for needle in [PDF_BYTES, NOTE_BYTES] {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle), "{path}");
        }
    }

    // A key slipped into a redacted export is named.
    let seq = f.entries[0].seq;
    forge_entry(&dir, 0, |line| {
        line["entry_key"] = hex::encode(f.entries[0].entry_key).into()
    });
    let found = problems(&dir, &f.public_key);
    assert!(
        found.contains(&format!(
            "entry {seq}: discloses its key in a redacted export"
        )),
        "{found:?}"
    );
}

#[test]
fn a_redacted_export_whose_payload_or_rows_are_altered_fails() {
    use base64::Engine as _;
    let f = fixture();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("export");
    let lookup = |d: &Digest| f.blobs.get(d).cloned();
    let mut req = request(&f, &lookup);
    req.redaction = Some("card".parse().unwrap());
    write(&dir, &req).unwrap();
    let pristine = fs::read(dir.join("custody/entries.jsonl")).unwrap();
    let custody = fs::read(dir.join("custody.json")).unwrap();
    let seq = f.entries[3].seq;
    forge_entry(&dir, 3, |line| {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut payload = b64.decode(line["payload"].as_str().unwrap()).unwrap();
        payload[20] ^= 1;
        line["payload"] = b64.encode(payload).into();
    });
    let found = problems(&dir, &f.public_key);
    assert!(
        found.contains(&format!(
            "entry {seq}: payload does not match the digest its leaf commits to"
        )),
        "{found:?}"
    );
    fs::write(dir.join("custody/entries.jsonl"), &pristine).unwrap();
    fs::write(dir.join("custody.json"), &custody).unwrap();

    // Dropping the redaction from custody.json does not turn it into a
    // full export: the keys are missing.
    edit_custody(&dir, |c| {
        c.as_object_mut().unwrap().remove("redaction");
    });
    let found = problems(&dir, &f.public_key);
    assert!(
        found.iter().any(|p| p.ends_with("no entry_key")),
        "{found:?}"
    );
}
