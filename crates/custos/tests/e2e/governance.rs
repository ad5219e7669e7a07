//! Enrolment and consent from the command line: the custodian's signed
//! acknowledgement kept in the archive and read back on record; opt-in
//! with its evidence (source, text shown, when, who captured it) and the
//! full consent history.

use crate::common::Archive;
use serde_json::Value;

#[test]
fn a_signed_acknowledgement_is_kept_with_the_enrolment_and_read_back_on_record() {
    let a = Archive::initialised();
    let pdf = a.write(
        "ana-acknowledgement.pdf",
        b"%PDF-1.7\n% signed by Ana Lima\n",
    );
    let out = a.ok(&[
        "custodian",
        "add",
        "E1",
        "--name",
        "Ana Lima",
        "--phone",
        "+44 7700 900001",
        "--opted-in",
        "2026-01-02",
        "--acknowledgement",
        &pdf,
    ]);
    assert!(out.contains("enrolled custodian E1"), "{out}");
    let listed: Value =
        serde_json::from_str(a.ok(&["custodian", "list", "--json"]).trim()).unwrap();
    let ack = &listed["acknowledgement"];
    assert_eq!(ack["file_name"], "ana-acknowledgement.pdf");
    assert_eq!(ack["size"], std::fs::metadata(&pdf).unwrap().len());
    // The event names the blob; the bytes are not in it.
    let log = a.log();
    let add = log.iter().find(|e| e["action"] == "custodian.add").unwrap();
    assert_eq!(add["details"]["acknowledgement"]["sha256"], ack["sha256"]);
    assert!(!add.to_string().contains("signed by Ana"));
    let copy = a.tmp.path().join("copy.pdf");
    a.ok(&[
        "custodian",
        "acknowledgement",
        "E1",
        "--out",
        copy.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&pdf).unwrap());
    let reads: Vec<Value> = a
        .log()
        .into_iter()
        .filter(|e| e["action"] == "content.read" && e["target"] == "E1")
        .collect();
    assert_eq!(reads.len(), 1);
    // A missing file is named; a custodian without one is told how.
    let err = a.fail(&[
        "custodian",
        "add",
        "E2",
        "--name",
        "Bo",
        "--phone",
        "+44 7700 900002",
        "--opted-in",
        "2026-01-02",
        "--acknowledgement",
        "/nonexistent/ack.pdf",
    ]);
    assert!(
        err.contains("--acknowledgement /nonexistent/ack.pdf"),
        "{err}"
    );
    a.ok(&[
        "custodian",
        "add",
        "E2",
        "--name",
        "Bo",
        "--phone",
        "+44 7700 900002",
        "--opted-in",
        "2026-01-02",
    ]);
    let err = a.fail(&[
        "custodian",
        "acknowledgement",
        "E2",
        "--out",
        copy.to_str().unwrap(),
    ]);
    assert!(err.contains("no acknowledgement on record"), "{err}");
}

#[test]
fn opt_in_evidence_says_where_what_when_and_who_and_the_history_is_whole() {
    let a = Archive::initialised();
    a.ok(&[
        "consent",
        "grant",
        "+55 11 98888-7777",
        "--source",
        "web-form",
        "--text",
        "I agree to WhatsApp messages about my account",
        "--at",
        "2026-03-01",
        "--captured-by",
        "agent-17",
    ]);
    a.ok(&[
        "consent",
        "revoke",
        "5511988887777",
        "--source",
        "phone call",
        "--reason",
        "asked to stop",
    ]);
    let err = a.fail(&[
        "consent",
        "grant",
        "+5511988887777",
        "--source",
        "x",
        "--text",
        "y",
        "--at",
        "2999-01-01",
    ]);
    assert!(err.contains("in the future"), "{err}");
    let lines: Vec<Value> = a
        .ok(&["consent", "show", "+5511988887777", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["state"], "opt_in");
    assert_eq!(lines[0]["at"], "2026-03-01T00:00:00Z");
    assert_eq!(
        lines[0]["evidence"],
        "web-form: I agree to WhatsApp messages about my account (captured by agent-17)"
    );
    assert_eq!(lines[0]["recorded_by"], "tester");
    assert_eq!(lines[1]["state"], "opt_out");
    let text = a.ok(&["consent", "show", "+5511988887777"]);
    assert!(text.contains("whatsapp: opted out since"), "{text}");
    assert!(text.contains("history:"), "{text}");
}
