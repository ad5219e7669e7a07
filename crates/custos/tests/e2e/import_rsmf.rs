//! `custos import rsmf`: a file imports once, a bad manifest imports
//! nothing and names each fault, imported messages are found by search,
//! and an RSMF export of one archive imported into another gives back the
//! same messages, edits and deletions.

use crate::common::Archive;
use serde_json::Value;
use std::collections::BTreeSet;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../custos-capture/tests/fixtures/rsmf"
);

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

fn archive() -> Archive {
    let a = Archive::initialised();
    a.ok(&[
        "custodian",
        "add",
        "E001",
        "--name",
        "Desk Trader",
        "--phone",
        "+447700900001",
        "--opted-in",
        "2024-01-01",
    ]);
    a
}

fn of_kind(a: &Archive, kind: &str) -> Vec<Value> {
    a.log().into_iter().filter(|e| e["kind"] == kind).collect()
}

/// What must survive a round trip, for comparison across archives.
fn content(a: &Archive) -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
    let messages = of_kind(a, "message")
        .iter()
        .map(|m| {
            format!(
                "{} | {} | {} | {} | {}",
                m["channel"], m["id"], m["from"], m["sent_at"], m["text"]
            )
        })
        .collect();
    let edits = of_kind(a, "edit")
        .iter()
        .map(|e| {
            format!(
                "{} | {} | {} | {}",
                e["target"], e["editor"], e["edited_at"], e["text"]
            )
        })
        .collect();
    let deletions = of_kind(a, "deletion")
        .iter()
        .map(|d| {
            format!(
                "{} | {} | {}",
                d["target"], d["deleted_by"], d["deleted_at"]
            )
        })
        .collect();
    (messages, edits, deletions)
}

#[test]
fn an_rsmf_file_imports_once_and_is_searchable() {
    let a = archive();
    let chat = fixture("chat.rsmf");
    let out = a.ok(&["import", "rsmf", &chat]);
    assert!(
        out.contains("4 messages read, 4 archived, 0 already in the archive"),
        "{out}"
    );
    assert!(out.contains("1 disclaimer, 1 join"), "{out}");
    assert!(
        out.contains("1 attachments stored, 1 named but not in the file"),
        "{out}"
    );
    let entries = a.entries();
    let out = a.ok(&["import", "rsmf", &chat]);
    assert!(
        out.contains("4 messages read, 0 archived, 4 already in the archive"),
        "{out}"
    );
    assert_eq!(a.entries(), entries + 1, "only the second import event");
    let imports: Vec<Value> = a
        .log()
        .into_iter()
        .filter(|e| e["action"] == "rsmf.import")
        .collect();
    assert_eq!(imports.len(), 2);
    assert_eq!(imports[0]["actor"], "tester");
    assert_eq!(imports[0]["details"]["archived"], 4);
    assert_eq!(imports[0]["details"]["attachments"], 1);
    // The attachment is in the archive, the missing one is marked.
    let messages = of_kind(&a, "message");
    let m2 = messages
        .iter()
        .find(|m| m["id"] == "desk-2024-06:m2")
        .unwrap();
    assert_eq!(m2["attachments"][0]["name"], "confirmation.pdf");
    assert_eq!(m2["attachments"][0]["size"], 12);
    assert_eq!(m2["attachments_missing"][0]["id"], "0002-missing.png");
    assert_eq!(m2["direction"], "outbound");
    let found: Value =
        serde_json::from_str(&a.ok(&["search", "order", "--reason", "test", "--json"])).unwrap();
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(
        found["hits"][0]["text"],
        "Can you confirm my order for 200 shares?"
    );
}

#[test]
fn an_invalid_manifest_imports_nothing_and_names_each_fault() {
    let a = archive();
    let before = a.entries();
    let err = a.fail(&[
        "import",
        "rsmf",
        &fixture("numeric_undefined_misspelled.rsmf"),
    ]);
    assert!(err.contains("nothing was imported"), "{err}");
    assert!(err.contains("/participants/0/id"), "numeric id: {err}");
    assert!(
        err.contains("\"P9\" is not defined"),
        "undefined participant: {err}"
    );
    assert!(err.contains("attachment"), "misspelled field: {err}");
    let err = a.fail(&["import", "rsmf", &fixture("participant_without_id.rsmf")]);
    assert!(err.contains("/participants/0"), "{err}");
    assert!(err.contains("\"id\" is a required property"), "{err}");
    // A folder with one bad file imports none of them.
    let dir = a.tmp.path().join("batch");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(fixture("chat.rsmf"), dir.join("a.rsmf")).unwrap();
    std::fs::copy(fixture("participant_without_id.rsmf"), dir.join("b.rsmf")).unwrap();
    let err = a.fail(&["import", "rsmf", dir.to_str().unwrap()]);
    assert!(err.contains("b.rsmf"), "{err}");
    assert_eq!(a.entries(), before);
}

#[test]
fn an_rsmf_export_round_trips_into_another_archive() {
    let a = archive();
    a.ok(&["import", "rsmf", &fixture("chat.rsmf")]);
    let out_dir = a.tmp.path().join("export");
    a.ok(&[
        "export",
        "--query",
        "*",
        "--format",
        "rsmf",
        "--out",
        out_dir.to_str().unwrap(),
        "--reason",
        "round trip",
    ]);
    let b = archive();
    let rsmf_dir = out_dir.join("rsmf");
    let out = b.ok(&["import", "rsmf", rsmf_dir.to_str().unwrap()]);
    assert!(out.contains("4 archived"), "{out}");
    // The attachment travelled: it was sealed under the customer's key in
    // the first archive, and the export found it there.
    assert!(
        out.contains("1 attachments stored, 0 named but not in the file"),
        "{out}"
    );
    let (am, ae, ad) = content(&a);
    let (bm, be, bd) = content(&b);
    assert_eq!(am, bm);
    assert_eq!((ae.len(), ad.len()), (1, 1));
    assert_eq!(ae, be);
    assert_eq!(ad, bd);
    let out = b.ok(&["import", "rsmf", rsmf_dir.to_str().unwrap()]);
    assert!(
        out.contains("0 archived, 4 already in the archive"),
        "{out}"
    );
}
