//! End-to-end tests of the `custos` command, run as a real process on a
//! real data directory.

use crate::common::Archive;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn message(id: &str, from: &str, to: &str, direction: &str, text: &str) -> String {
    format!(
        r#"{{"channel":"whatsapp","id":"{id}","conversation":"c-1","from":"{from}","to":["{to}"],"direction":"{direction}","sent_at":"2026-03-12T14:05:33Z","text":"{text}","attachments":[{{"name":"a.pdf","media_type":"application/pdf","sha256":"{SHA}","size":1234}}],"desk":"fx"}}"#
    )
}

fn sample() -> String {
    [
        message(
            "m1",
            "+447700900001",
            "+5511988887777",
            "outbound",
            "Bom dia, a proposta segue",
        ),
        message(
            "m2",
            "+5511988887777",
            "+447700900001",
            "inbound",
            "Obrigado! Garantia de retorno?",
        ),
        message(
            "m3",
            "+447700900002",
            "+5511977776666",
            "outbound",
            "text me on my personal number",
        ),
    ]
    .join("\n")
}

#[test]
fn init_ingest_log_and_reingest() {
    let a = Archive::new();
    let out = a.ok(&["init"]);
    assert!(out.contains("created archive"), "{out}");
    assert!(a.fail(&["init"]).contains("already holds a custos archive"));

    let file = a.write("in.jsonl", sample());
    let out = a.ok(&["ingest", &file]);
    assert!(
        out.contains("3 messages read, 3 archived, 0 already"),
        "{out}"
    );
    let out = a.ok(&["ingest", &file]);
    assert!(
        out.contains("3 messages read, 0 archived, 3 already"),
        "{out}"
    );

    let log = a.log();
    let messages: Vec<&Value> = log.iter().filter(|e| e["kind"] == "message").collect();
    assert_eq!(messages.len(), 3, "re-ingest added nothing twice");
    let m = messages[1];
    for field in [
        "seq",
        "kind",
        "recorded_at",
        "channel",
        "id",
        "conversation",
        "from",
        "to",
        "direction",
        "sent_at",
        "captured_at",
        "text",
        "attachments",
        "raw_digest",
    ] {
        assert!(m.get(field).is_some(), "log --json lacks {field}: {m}");
    }
    assert_eq!(m["id"], "m2");
    assert_eq!(m["from"], "+5511988887777");
    assert_eq!(m["direction"], "inbound");
    assert_eq!(m["text"], "Obrigado! Garantia de retorno?");
    assert_eq!(m["attachments"][0]["sha256"], SHA);
    assert_eq!(m["desk"], "fx", "extra fields are kept");
    assert_eq!(log[0]["kind"], "system");
    assert_eq!(log[0]["action"], "archive.init");

    // Reading content is itself recorded.
    let log = a.log();
    let reads: Vec<&Value> = log
        .iter()
        .filter(|e| e["action"] == "content.read")
        .collect();
    assert!(!reads.is_empty());
    assert_eq!(reads[0]["actor"], "tester");

    let text = a.ok(&["log"]);
    assert!(text.contains("Garantia de retorno?"), "{text}");
}

#[test]
fn a_bad_line_names_file_line_and_field_and_imports_nothing() {
    let a = Archive::new();
    a.ok(&["init"]);
    let before = a.entries();
    let bad = format!(
        "{}\n{}\n",
        message("m1", "+447700900001", "+5511988887777", "outbound", "ok"),
        message("m2", "+447700900001", "+5511988887777", "outbound", "ok")
            .replace("2026-03-12T14:05:33Z", "yesterday")
    );
    let file = a.write("bad.jsonl", &bad);
    let err = a.fail(&["ingest", &file]);
    assert!(err.contains("bad.jsonl:line 2: field `sent_at`"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
    assert_eq!(
        a.entries(),
        before,
        "a rejected file leaves no partial write"
    );

    let missing = a.write(
        "missing.jsonl",
        r#"{"channel":"sms","from":"+1","sent_at":"2026-01-01T00:00:00Z","text":"x"}"#,
    );
    let err = a.fail(&["ingest", &missing]);
    assert!(err.contains("line 1: field `id`: is required"), "{err}");
}

#[test]
fn verify_head_prove_and_consistency() {
    let a = Archive::new();
    a.ok(&["init"]);
    let file = a.write("in.jsonl", sample());
    a.ok(&["ingest", &file]);
    // init, 8 starter policies, 3 messages, the import's record, a
    // promissory and an off-channel alert.
    let out = a.ok(&["verify"]);
    assert!(out.starts_with("verified 15 entries"), "{out}");

    let head: Value = serde_json::from_str(&a.ok(&["head"])).unwrap();
    assert_eq!(head["tree_size"], 15, "ingest signs a head when it closes");

    let proof: Value = serde_json::from_str(&a.ok(&["prove", "2"])).unwrap();
    let hash = |v: &Value| -> [u8; 32] {
        hex::decode(v.as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap()
    };
    let path: Vec<[u8; 32]> = proof["proof"]["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(hash)
        .collect();
    let size = proof["head"]["tree_size"].as_u64().unwrap();
    custos_journal::merkle::verify_inclusion(
        &hash(&proof["proof"]["leaf_hash"]),
        2,
        size,
        &path,
        &hash(&proof["head"]["root"]),
    )
    .expect("the printed proof verifies against the printed head");

    let c: Value = serde_json::from_str(&a.ok(&["consistency", "1", "15"])).unwrap();
    let path: Vec<[u8; 32]> = c["path"].as_array().unwrap().iter().map(hash).collect();
    custos_journal::merkle::verify_consistency(
        1,
        15,
        &hash(&c["old_root"]),
        &hash(&c["new_root"]),
        &path,
    )
    .unwrap();
    assert_eq!(c["new_root"], head["root"]);
    assert!(
        a.fail(&["consistency", "4", "99"])
            .contains("tree size 99 is invalid")
    );
    assert!(a.fail(&["prove", "99"]).contains("entry 99 does not exist"));
}

#[test]
fn verify_names_a_tampered_entry() {
    let a = Archive::new();
    a.ok(&["init"]);
    let file = a.write("in.jsonl", sample());
    a.ok(&["ingest", &file]);
    let segment = a.data.join("journal").join(format!("{:020}.seg", 0));
    let mut bytes = std::fs::read(&segment).unwrap();
    // Entry 2's frame: find its offset through the log's own framing.
    let offsets = frame_offsets(&bytes);
    let target = offsets[2] + 40;
    bytes[target] ^= 0x01;
    std::fs::write(&segment, &bytes).unwrap();
    let out = a.fail(&["verify"]);
    assert!(out.contains("verify FAILED"), "{out}");
    assert!(
        out.contains(&format!("at offset {} (entry 2)", offsets[2])),
        "{out}"
    );
    // The writer refuses a damaged archive rather than building on it.
    assert!(a.fail(&["log"]).contains("(entry 2)"));
}

/// Frame offsets in a segment: 16-byte header, then 12-byte frame header,
/// body, 4-byte checksum.
fn frame_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut at = 16;
    let mut out = Vec::new();
    while at < bytes.len() {
        out.push(at);
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        at += 12 + len + 4;
    }
    out
}

#[test]
fn shredding_a_subject_destroys_their_content_and_keeps_the_proof() {
    let a = Archive::new();
    a.ok(&["init"]);
    let file = a.write("in.jsonl", sample());
    a.ok(&["ingest", &file]);
    let out = a.ok(&[
        "shred",
        "+5511988887777",
        "--reason",
        "GDPR art. 17 request 42",
    ]);
    assert!(out.contains("destroyed data key"), "{out}");
    let log = a.log();
    let destroyed: Vec<&Value> = log
        .iter()
        .filter(|e| e.get("shredded_at").is_some())
        .collect();
    let kinds: Vec<&str> = destroyed
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["message", "message", "system"],
        "both messages with that customer are gone, and the alert about the promise"
    );
    assert!(
        log.iter()
            .any(|e| e["text"] == "text me on my personal number"),
        "others remain"
    );
    let shred = log.iter().find(|e| e["action"] == "key.shred").unwrap();
    assert_eq!(shred["details"]["reason"], "GDPR art. 17 request 42");
    assert_eq!(shred["actor"], "tester");
    assert!(
        !shred.to_string().contains("+5511988887777"),
        "the erasure record names no one: {shred}"
    );
    assert!(a.ok(&["verify"]).starts_with("verified"));
}

#[test]
fn a_second_writer_is_told_who_holds_the_archive() {
    let a = Archive::new();
    a.ok(&["init"]);
    let held = custos_journal::Journal::open(&a.data, custos_journal::Options::default()).unwrap();
    let file = a.write("in.jsonl", sample());
    let err = a.fail(&["ingest", &file]);
    assert!(err.contains("is in use by another process"), "{err}");
    assert!(
        err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    held.close().unwrap();
    a.ok(&["ingest", &file]);
}

#[test]
fn demo_builds_an_archive_that_verifies() {
    let a = Archive::new();
    let out = a.ok(&["demo", "--messages", "300", "--no-serve"]);
    assert!(out.contains("messages read"), "{out}");
    assert!(out.contains("8 starter policies active"), "{out}");
    let log = a.log();
    let messages = log.iter().filter(|e| e["kind"] == "message").count();
    assert!(
        (200..500).contains(&messages),
        "about 300 and the scenes: {messages}"
    );
    let custodians = log
        .iter()
        .filter(|e| e["action"] == "custodian.add")
        .count();
    assert!(custodians > 10, "the demo enrols its staff: {custodians}");
    let alerts = log.iter().filter(|e| e["action"] == "alert.raised").count();
    assert!(
        alerts > 0 && out.contains(&format!("{alerts} new alerts")),
        "{out}"
    );
    // init, policies, custodians, messages, alerts and repeats, and the
    // read `log` just recorded.
    assert_eq!(a.entries() as usize, log.len() + 1);
}

#[test]
fn a_kek_from_the_environment_is_required_to_open() {
    let a = Archive::new();
    let kek = "11".repeat(32);
    let out = Command::new(env!("CARGO_BIN_EXE_custos"))
        .arg("--data")
        .arg(&a.data)
        .arg("init")
        .env("CUSTOS_KEK", &kek)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        !Path::new(&a.data.join("keys/kek")).exists(),
        "a supplied KEK is never written"
    );
    let err = a.fail(&["log"]);
    assert!(err.contains("CUSTOS_KEK"), "{err}");
    let wrong = Command::new(env!("CARGO_BIN_EXE_custos"))
        .arg("--data")
        .arg(&a.data)
        .arg("log")
        .env("CUSTOS_KEK", "22".repeat(32))
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("wrong key-encryption key"), "{stderr}");
    assert!(
        !stderr.contains(&"22".repeat(32)),
        "the key is never printed"
    );
}

#[test]
fn send_refuses_a_recipient_without_consent_and_records_it() {
    let a = Archive::new();
    a.ok(&["init"]);
    let out = Command::new(env!("CARGO_BIN_EXE_custos"))
        .arg("--data")
        .arg(&a.data)
        .args(["send", "--to", "+55 11 98888-7777", "--text", "Olá"])
        .env("CUSTOS_WHATSAPP_ACCESS_TOKEN", "token")
        .env("CUSTOS_WHATSAPP_PHONE_NUMBER_ID", "106540352242922")
        .env("CUSTOS_WHATSAPP_GRAPH_URL", "http://127.0.0.1:9")
        .env_remove("CUSTOS_KEK")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("5511988887777 has no WhatsApp consent on record"),
        "{stderr}"
    );
    let refused = a
        .log()
        .into_iter()
        .filter(|e| e["action"] == "whatsapp.send.refused")
        .count();
    assert_eq!(refused, 1);
}

#[test]
fn log_says_when_whatsapp_media_is_still_pending() {
    let a = Archive::new();
    a.ok(&["init"]);
    let line = format!(
        r#"{{"channel":"whatsapp","id":"wamid.M1","from":"5511988887777","to":["447700900001"],"direction":"inbound","sent_at":"2026-03-12T14:05:33Z","attachments":[{{"media_type":"image/jpeg","sha256":"{SHA}","size":0}}],"whatsapp":{{"type":"image","image":{{"id":"MEDIA-1"}}}}}}"#
    );
    let file = a.write("media.jsonl", &line);
    a.ok(&["ingest", &file]);
    let log = a.log();
    let m = log.iter().find(|e| e["id"] == "wamid.M1").unwrap();
    assert_eq!(m["media_status"], "pending");
    assert!(a.ok(&["log"]).contains("[media pending]"));
    let others = log
        .iter()
        .filter(|e| e.get("media_status").is_some())
        .count();
    assert_eq!(others, 1, "only media messages carry a status");
}

#[test]
fn a_legal_hold_wins_over_erasure_and_the_refusal_is_recorded() {
    let a = Archive::new();
    a.ok(&["init"]);
    let file = a.write("in.jsonl", sample());
    a.ok(&["ingest", &file]);
    let err = a.fail(&["hold", "place", "SEC inquiry", "--reason", "subpoena"]);
    assert!(err.contains("needs a scope"), "{err}");
    let out = a.ok(&[
        "hold",
        "place",
        "SEC inquiry",
        "--reason",
        "subpoena 24-113",
        "--participant",
        "+55 11 98888-7777",
    ]);
    let id = out.split_whitespace().nth(1).unwrap().to_string();
    assert!(id.starts_with("LH-"), "{out}");
    let report = a.ok(&["hold", "report", &id]);
    assert!(report.contains("2 messages in 1 conversations"), "{report}");
    assert!(a.ok(&["hold", "list"]).contains("in force"));

    let err = a.fail(&["shred", "+5511988887777", "--reason", "GDPR art. 17"]);
    assert!(
        err.contains("erasure refused") && err.contains(&id),
        "{err}"
    );
    let log = a.log();
    let refusal = log
        .iter()
        .find(|e| e["action"] == "erasure.refused")
        .unwrap();
    assert_eq!(refusal["details"]["holds"][0], id.as_str());
    assert!(
        !refusal.to_string().contains("98888"),
        "the refusal names no one: {refusal}"
    );
    assert!(
        log.iter().all(|e| e.get("shredded_at").is_none()),
        "nothing was erased"
    );
    // Another customer is not covered.
    assert!(
        a.ok(&["shred", "+5511977776666", "--reason", "request 7"])
            .contains("destroyed")
    );

    a.ok(&["hold", "release", &id, "--reason", "inquiry closed"]);
    assert!(!a.ok(&["hold", "list"]).contains(&id));
    assert!(a.ok(&["hold", "list", "--all"]).contains("released"));
    assert!(
        a.ok(&["shred", "+5511988887777", "--reason", "GDPR art. 17"])
            .contains("destroyed")
    );
}

#[test]
fn privacy_requests_are_queued_answered_and_decided_against_holds() {
    let a = Archive::new();
    a.ok(&["init"]);
    a.ok(&["ingest", &a.write("in.jsonl", sample())]);
    let customer = "+55 11 98888-7777";

    // Access: one package of everything about the subject.
    let out = a.ok(&[
        "privacy",
        "open",
        customer,
        "--kind",
        "access",
        "--law",
        "lgpd",
        "--received",
        "2026-11-01",
    ]);
    let access = out.split_whitespace().next().unwrap().to_string();
    assert!(out.contains("due 2026-11-16"), "LGPD gives 15 days: {out}");
    assert!(
        a.ok(&["privacy", "list"]).contains("OVERDUE"),
        "received weeks ago"
    );
    let package = a.tmp.path().join("package.jsonl");
    a.ok(&[
        "privacy",
        "access",
        &access,
        "--out",
        package.to_str().unwrap(),
    ]);
    let lines: Vec<Value> = std::fs::read_to_string(&package)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let messages = lines
        .iter()
        .filter(|l| l["event"]["kind"] == "message")
        .count();
    let alerts = lines.iter().filter(|l| l.get("alert").is_some()).count();
    assert_eq!(
        (messages, alerts),
        (2, 1),
        "both messages and the alert about one: {lines:?}"
    );
    assert!(
        !a.ok(&["privacy", "list"]).contains(&access),
        "answered requests leave the queue"
    );
    assert!(
        a.fail(&["privacy", "access", &access, "--out", "x"])
            .contains("already closed")
    );

    // Rectification sits beside the original.
    let id = a.ok(&[
        "privacy",
        "open",
        customer,
        "--kind",
        "rectification",
        "--law",
        "gdpr",
    ]);
    let id = id.split_whitespace().next().unwrap();
    assert!(
        a.fail(&["privacy", "rectify", id, "--entry", "11", "--text", "x"])
            .contains("not about the subject")
    );
    a.ok(&[
        "privacy",
        "rectify",
        id,
        "--entry",
        "10",
        "--text",
        "my name is Ana Souza, not Ana Sousa",
    ]);
    let log = a.log();
    let note = log
        .iter()
        .find(|e| e["action"] == "privacy.rectification")
        .unwrap();
    assert_eq!(note["target"], "10");
    assert_eq!(
        log[10]["text"], "Obrigado! Garantia de retorno?",
        "the original is untouched"
    );

    // Erasure: kept while a hold covers the subject, erased once it is released.
    let hold = a.ok(&[
        "hold",
        "place",
        "Complaint 881",
        "--reason",
        "litigation",
        "--participant",
        customer,
    ]);
    let hold = hold.split_whitespace().nth(1).unwrap().to_string();
    let id = a.ok(&[
        "privacy", "open", customer, "--kind", "erasure", "--law", "gdpr",
    ]);
    let id = id.split_whitespace().next().unwrap().to_string();
    let out = a.ok(&["privacy", "erase", &id]);
    assert!(out.contains("kept") && out.contains(&hold), "{out}");
    assert!(a.log().iter().all(|e| e.get("shredded_at").is_none()));
    a.ok(&["hold", "release", &hold, "--reason", "settled"]);
    let id = a.ok(&[
        "privacy", "open", customer, "--kind", "erasure", "--law", "gdpr",
    ]);
    let id = id.split_whitespace().next().unwrap().to_string();
    assert!(a.ok(&["privacy", "erase", &id]).contains("erased"));
    let decided = a.ok(&["privacy", "list", "--all", "--json"]);
    assert!(
        decided.contains("\"outcome\":\"kept\"") && decided.contains("\"outcome\":\"erased\""),
        "{decided}"
    );
    assert!(a.log().iter().any(|e| e.get("shredded_at").is_some()));
    assert!(a.ok(&["verify"]).starts_with("verified"));
}
