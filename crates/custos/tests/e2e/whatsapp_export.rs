//! End-to-end tests of custodian enrolment and `custos import
//! whatsapp-export`, run as a real process on a real data directory.

use crate::common::Archive;
use custos_journal::{Journal, Opened, Options};
use custos_model::{Digest, Event};
use serde_json::Value;
use std::io::Write;
use std::process::Output;

impl Archive {
    fn enrol(&self) {
        self.ok(&[
            "custodian",
            "add",
            "E100",
            "--name",
            "Bruno Lima",
            "--phone",
            "+55 11 90000-0001",
            "--opted-in",
            "2024-01-15",
        ]);
    }

    fn import(&self, file: &str) -> Output {
        self.run(&[
            "import",
            "whatsapp-export",
            file,
            "--custodian",
            "E100",
            "--phone",
            "+5511900000001",
            "--tz",
            "America/Sao_Paulo",
        ])
    }

    fn import_ok(&self, file: &str) -> String {
        let out = self.import(file);
        assert!(
            out.status.success(),
            "import {file} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

const CHAT: &str = "WhatsApp Chat with Ana Souza";

/// An Android export, day-first, 24-hour, São Paulo time (UTC-3).
const EXPORT: &str = "\
05/03/2024, 09:00 - Messages and calls are end-to-end encrypted. No one outside of this chat, not even WhatsApp, can read or listen to them. Tap to learn more.
05/03/2024, 09:01 - Ana Souza: Bom dia! Can we talk about the Q3 deal?
05/03/2024, 09:02 - Bruno Lima: Sure, send me the numbers
and the term sheet
13/03/2024, 17:45 - Ana Souza: Obrigada
";

/// The same chat exported a day later.
const LATER: &str = "\
14/03/2024, 08:00 - Bruno Lima: Price is 12.5
14/03/2024, 08:01 - Ana Souza: Fechado
";

#[test]
fn custodians_are_enrolled_listed_and_never_changed() {
    let a = Archive::initialised();
    assert!(a.ok(&["custodian", "list"]).contains("no custodians"));
    let args = [
        "custodian",
        "add",
        "E100",
        "--name",
        "Bruno Lima",
        "--phone",
        "+55 11 90000-0001",
        "--opted-in",
        "2024-01-15",
    ];
    let out = a.ok(&args);
    assert!(out.contains("enrolled custodian E100"), "{out}");
    let before = a.entries();

    let list = a.ok(&["custodian", "list"]);
    assert!(list.contains("E100"), "{list}");
    assert!(list.contains("Bruno Lima"), "{list}");
    assert!(list.contains("+5511900000001"), "{list}");
    assert!(list.contains("2024-01-15"), "{list}");
    let json: Vec<Value> = a
        .ok(&["custodian", "list", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(json.len(), 1);
    assert_eq!(json[0]["id"], "E100");
    assert_eq!(json[0]["name"], "Bruno Lima");
    assert_eq!(json[0]["phone"], "+5511900000001");
    assert_eq!(json[0]["opted_in"], "2024-01-15");

    // The same again, the number written differently: a no-op.
    let mut same = args;
    same[6] = "+5511900000001";
    let out = a.ok(&same);
    assert!(out.contains("already enrolled with the same data"), "{out}");
    assert_eq!(a.entries(), before, "an identical enrolment writes nothing");

    // Different data under the same id: refused, naming it.
    let mut other = args;
    other[8] = "2024-02-01";
    let err = a.fail(&other);
    assert!(err.contains("custodian E100 is already enrolled"), "{err}");
    // Another custodian with the same number: refused.
    let mut twin = args;
    twin[2] = "E200";
    let err = a.fail(&twin);
    assert!(err.contains("already enrolled for custodian E100"), "{err}");
    // Not a date.
    let mut bad = args;
    bad[2] = "E300";
    bad[6] = "+5511900000003";
    bad[8] = "15/01/2024";
    let err = a.fail(&bad);
    assert!(err.contains("YYYY-MM-DD"), "{err}");
    // The two attempts to change an enrolment are on record (one entry
    // each, and nothing enrolled); a malformed value writes nothing.
    assert_eq!(
        a.entries(),
        before + 2,
        "one refusal entry per change refused"
    );
    let refused = a
        .log()
        .into_iter()
        .filter(|e| e["action"] == "custodian.change_refused")
        .count();
    assert_eq!(refused, 2);

    // Enrolment is a journalled system event under the archive's key.
    let events: Vec<Value> = a
        .log()
        .into_iter()
        .filter(|e| e["action"] == "custodian.add")
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["target"], "E100");
    assert_eq!(events[0]["actor"], "tester");
    assert_eq!(events[0]["details"]["phone"], "+5511900000001");
}

#[test]
fn an_import_needs_an_enrolled_custodian_and_their_number() {
    let a = Archive::initialised();
    let file = a.write(&format!("{CHAT}.txt"), EXPORT.as_bytes());
    let before = a.entries();
    let err = String::from_utf8(a.import(&file).stderr).unwrap();
    assert!(err.contains("custodian E100 is not enrolled"), "{err}");

    a.enrol();
    let before_wrong = a.entries();
    let out = a.run(&[
        "import",
        "whatsapp-export",
        &file,
        "--custodian",
        "E100",
        "--phone",
        "+5511900000002",
        "--tz",
        "America/Sao_Paulo",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("+5511900000002 is not the number of custodian E100"),
        "{err}"
    );
    assert_eq!(a.entries(), before_wrong);
    assert_eq!(before + 1, before_wrong, "only the enrolment was written");
}

#[test]
fn a_text_export_is_archived_once_and_a_later_export_adds_only_the_new() {
    let a = Archive::initialised();
    a.enrol();
    let file = a.write(&format!("{CHAT}.txt"), EXPORT.as_bytes());
    let out = a.import_ok(&file);
    assert!(
        out.contains("3 messages read, 3 archived, 0 already in the archive"),
        "{out}"
    );

    let messages = a.messages();
    assert_eq!(messages.len(), 3);
    let first = &messages[0];
    assert_eq!(first["channel"], "whatsapp");
    assert_eq!(first["direction"], "inbound");
    assert_eq!(first["from"], "Ana Souza");
    assert_eq!(first["to"], serde_json::json!(["+5511900000001"]));
    assert_eq!(first["sent_at"], "2024-03-05T12:01:00Z");
    assert_eq!(first["text"], "Bom dia! Can we talk about the Q3 deal?");
    assert_eq!(first["custodian"], "E100");
    assert_eq!(first["source_file"], format!("{CHAT}.txt"));
    assert_eq!(first["line"], 2);
    let reply = &messages[1];
    assert_eq!(reply["direction"], "outbound");
    assert_eq!(reply["from"], "+5511900000001");
    assert_eq!(reply["to"], serde_json::json!(["Ana Souza"]));
    assert_eq!(reply["sent_at"], "2024-03-05T12:02:00Z");
    assert_eq!(
        reply["text"],
        "Sure, send me the numbers\nand the term sheet"
    );
    assert_eq!(messages[2]["sent_at"], "2024-03-13T20:45:00Z");

    let imports: Vec<Value> = a
        .log()
        .into_iter()
        .filter(|e| e["action"] == "whatsapp.export.import")
        .collect();
    assert_eq!(imports.len(), 1);
    let d = &imports[0]["details"];
    assert_eq!(imports[0]["target"], "E100");
    assert_eq!(d["file"], format!("{CHAT}.txt"));
    assert_eq!(d["sha256"], Digest::of(EXPORT.as_bytes()).to_string());
    assert_eq!(d["messages"], 3);
    assert_eq!(d["archived"], 3);
    assert_eq!(d["date_order"], "dmy");

    // The same export again: nothing new.
    let out = a.import_ok(&file);
    assert!(
        out.contains("3 messages read, 0 archived, 3 already in the archive"),
        "{out}"
    );
    assert_eq!(a.messages().len(), 3);

    // A later export of the same chat holds everything plus two more.
    let later = a.tmp.path().join("later");
    std::fs::create_dir(&later).unwrap();
    let longer = later.join(format!("{CHAT}.txt"));
    std::fs::write(&longer, format!("{EXPORT}{LATER}")).unwrap();
    let out = a.import_ok(longer.to_str().unwrap());
    assert!(
        out.contains("5 messages read, 2 archived, 3 already in the archive"),
        "{out}"
    );
    let messages = a.messages();
    assert_eq!(messages.len(), 5);
    assert_eq!(messages[3]["text"], "Price is 12.5");
    assert_eq!(messages[4]["text"], "Fechado");
    assert!(a.ok(&["verify"]).starts_with("verified"));
}

fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in files {
            zip.start_file(*name, options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }
    out.into_inner()
}

#[test]
fn a_zip_export_stores_and_links_its_attachments() {
    let a = Archive::initialised();
    a.enrol();
    let photo: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    let text = format!(
        "{EXPORT}13/03/2024, 17:50 - Ana Souza: IMG-20240313-WA0001.jpg (file attached)\n\
         13/03/2024, 17:51 - Ana Souza: contract.pdf (file attached)\n"
    );
    let zip = zip_of(&[
        (&format!("{CHAT}.txt"), text.as_bytes()),
        ("IMG-20240313-WA0001.jpg", &photo),
    ]);
    let file = a.write(&format!("{CHAT}.zip"), &zip);
    let out = a.import_ok(&file);
    assert!(
        out.contains("5 messages read, 5 archived, 0 already in the archive"),
        "{out}"
    );
    assert!(
        out.contains("1 attachments stored, 1 named but not in the export"),
        "{out}"
    );

    let messages = a.messages();
    let with = &messages[3];
    let digest = Digest::of(&photo);
    assert_eq!(
        with["attachments"],
        serde_json::json!([{
            "name": "IMG-20240313-WA0001.jpg",
            "media_type": "image/jpeg",
            "sha256": digest.to_string(),
            "size": photo.len(),
        }])
    );
    assert_eq!(with["from"], "Ana Souza");
    assert_eq!(messages[4]["attachment_missing"], true);
    assert!(messages[4].get("attachments").is_none());

    // The bytes are in the blob store, sealed under the message's key.
    let journal = Journal::open(&a.data, Options::default()).unwrap();
    let mut found = false;
    for entry in journal.entries(0) {
        let entry = entry.unwrap();
        let Opened::Event(Event::Message(m)) = journal.open_entry(&entry).unwrap() else {
            continue;
        };
        if let Some(att) = m.attachments.first() {
            assert_eq!(att.sha256, digest);
            let bytes = journal.blob(entry.leaf.key_id, &att.sha256).unwrap();
            assert_eq!(bytes.as_deref(), Some(&photo[..]));
            found = true;
        }
    }
    assert!(found, "the message with the attachment is in the journal");
    journal.close().unwrap();

    // Importing the zip again adds nothing.
    let out = a.import_ok(&file);
    assert!(
        out.contains("5 messages read, 0 archived, 5 already"),
        "{out}"
    );
}

#[test]
fn a_bad_line_names_file_and_line_and_imports_nothing() {
    let a = Archive::initialised();
    a.enrol();
    let before = a.entries();
    let text = format!("{EXPORT}31/02/2024, 10:00 - Ana Souza: when?\n");
    let file = a.write("bad.txt", text.as_bytes());
    let out = a.import(&file);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("bad.txt: line 6:"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
    assert_eq!(a.entries(), before, "a rejected export writes nothing");

    // An ambiguous date order asks for --date-order.
    let ambiguous = a.write(
        "ambiguous.txt",
        b"05/03/2024, 09:01 - Ana Souza: hi\n06/03/2024, 09:01 - Ana Souza: hi again\n",
    );
    let err = String::from_utf8(a.import(&ambiguous).stderr).unwrap();
    assert!(err.contains("--date-order"), "{err}");
    let out = a.ok(&[
        "import",
        "whatsapp-export",
        &ambiguous,
        "--custodian",
        "E100",
        "--phone",
        "+5511900000001",
        "--tz",
        "America/Sao_Paulo",
        "--date-order",
        "mdy",
    ]);
    assert!(out.contains("2 messages read, 2 archived"), "{out}");
    assert_eq!(a.messages()[0]["sent_at"], "2024-05-03T12:01:00Z");
}

/// The attachment events in the archive: (target, sha256, the blob's bytes).
fn attachment_links(a: &Archive) -> Vec<(String, String, Option<Vec<u8>>)> {
    let journal = Journal::open(&a.data, Options::default()).unwrap();
    let mut links = Vec::new();
    for entry in journal.entries(0) {
        let entry = entry.unwrap();
        let Opened::Event(Event::System(e)) = journal.open_entry(&entry).unwrap() else {
            continue;
        };
        if e.action != "whatsapp.export.attachment" {
            continue;
        }
        let sha = e.details["sha256"].as_str().unwrap().to_string();
        let digest = Digest::from_hex(&sha).unwrap();
        // The blob is sealed with its message (under the key of the
        // message's month), not with the later link event.
        let message = e.details["message_seq"].as_u64().unwrap();
        let key = journal.entry(message).unwrap().leaf.key_id;
        let bytes = journal.blob(key, &digest).unwrap();
        links.push((e.target.clone().unwrap(), sha, bytes));
    }
    journal.close().unwrap();
    links
}

#[test]
fn a_later_zip_links_its_media_to_messages_imported_from_the_text() {
    let a = Archive::initialised();
    a.enrol();
    let photo: Vec<u8> = (0..3000u32).map(|i| (i * 13 % 253) as u8).collect();
    let text =
        format!("{EXPORT}13/03/2024, 17:50 - Ana Souza: IMG-20240313-WA0001.jpg (file attached)\n");
    // First the text alone: the message names a file it cannot hold.
    let txt = a.write(&format!("{CHAT}.txt"), text.as_bytes());
    let out = a.import_ok(&txt);
    assert!(out.contains("4 messages read, 4 archived"), "{out}");
    assert!(attachment_links(&a).is_empty());
    let source_id = a.messages()[3]["id"].as_str().unwrap().to_string();

    // Then the zip of the same chat: nothing new, but the photo is linked.
    let zip = zip_of(&[
        (&format!("{CHAT}.txt"), text.as_bytes()),
        ("IMG-20240313-WA0001.jpg", &photo),
    ]);
    let file = a.write(&format!("{CHAT}.zip"), &zip);
    let out = a.import_ok(&file);
    assert!(
        out.contains("4 messages read, 0 archived, 4 already"),
        "{out}"
    );
    assert!(
        out.contains("1 attachments linked to messages already in the archive"),
        "{out}"
    );
    let links = attachment_links(&a);
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0].0, source_id, "the link names the message");
    assert_eq!(links[0].1, Digest::of(&photo).to_string());
    assert_eq!(
        links[0].2.as_deref(),
        Some(&photo[..]),
        "sealed under the message's key"
    );
    assert_eq!(a.messages().len(), 4, "no message was added");
    let shown = &a.messages()[3];
    assert_eq!(
        shown["linked_attachments"][0]["sha256"],
        Digest::of(&photo).to_string(),
        "log shows the linked photo on its message: {shown}"
    );

    // The same zip again links nothing more.
    let out = a.import_ok(&file);
    assert!(!out.contains("linked"), "{out}");
    assert_eq!(attachment_links(&a).len(), 1);
    assert!(a.ok(&["verify"]).starts_with("verified"));
}
