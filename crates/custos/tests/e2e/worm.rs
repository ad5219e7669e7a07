//! The WORM promise: no CLI or API path alters or removes a record while a
//! hold covers it, and every refusal is itself journalled. Each path that
//! could alter or remove something is tried against held records; the
//! records still open afterwards; channel edits and deletions only add
//! events. (Retention expiry against a hold is tested with retention.)
//!
//! The paths, as `docs/auditor.md` lists them: `shred`, `privacy erase`,
//! `case close` (its hold stays), `hold release` (only with a reason, on
//! record), `hold place --search` (frozen and re-evaluated), `ingest` over
//! an archived id, `privacy rectify` (a correction beside), `init` over an
//! archive, `rebuild search`, `policy load`; over HTTP, the webhook's edits
//! and revokes, and any write method on a message.

use crate::common::Archive;
use custos_bench::webhook::{self, Client, Server};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const HELD: &str = "+5511988887777";
const OTHER: &str = "+34600999888";
const LATER: &str = "+4915112345678";

fn line(id: &str, customer: &str, text: &str) -> String {
    format!(
        r#"{{"channel":"whatsapp","id":"{id}","conversation":"c-{customer}","from":"{customer}","to":["+447700900001"],"direction":"inbound","sent_at":"2026-03-12T14:05:33Z","text":"{text}"}}"#
    )
}

fn text_of(a: &Archive, id: &str) -> String {
    let messages = a.messages();
    let m = messages
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("message {id} is gone"));
    m["text"].as_str().unwrap_or_default().to_string()
}

fn system(a: &Archive, action: &str) -> Vec<Value> {
    a.log()
        .into_iter()
        .filter(|e| e["kind"] == "system" && e["action"] == action)
        .collect()
}

fn hold_id(out: &str) -> String {
    out.split_whitespace()
        .find(|w| w.starts_with("LH-"))
        .unwrap_or_else(|| panic!("no hold id in {out}"))
        .to_string()
}

#[test]
fn no_cli_path_alters_or_removes_a_held_record_and_every_refusal_is_on_record() {
    let a = Archive::initialised();
    a.ok(&[
        "custodian",
        "add",
        "E1",
        "--name",
        "Ana Lima",
        "--phone",
        "+44 7700 900001",
        "--opted-in",
        "2026-01-02",
    ]);
    let file = a.write(
        "in.jsonl",
        [
            line("m1", HELD, "Bom dia, segue a proposta"),
            line("m2", HELD, "Quero o retorno garantido"),
            line("m3", OTHER, "Is the guarantee in writing?"),
        ]
        .join("\n"),
    );
    a.ok(&["ingest", &file]);
    // An enrolment is never changed, and the attempt is on record.
    let err = a.fail(&[
        "custodian",
        "add",
        "E1",
        "--name",
        "Ana Lima",
        "--phone",
        "+44 7700 900009",
        "--opted-in",
        "2026-01-02",
    ]);
    assert!(
        err.contains("already enrolled with different data"),
        "{err}"
    );
    assert!(a.log().iter().any(|e| {
        e["action"] == "custodian.change_refused"
            && e["target"] == "E1"
            && e["details"]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("different data"))
    }));
    let by_person = hold_id(&a.ok(&[
        "hold",
        "place",
        "SEC 24-113",
        "--reason",
        "subpoena",
        "--participant",
        HELD,
    ]));
    a.ok(&["case", "open", "FCA review", "--custodian", "E1"]);
    let by_case = hold_id(&a.ok(&["case", "hold", "FCA review", "--reason", "preserve"]));
    let by_search = hold_id(&a.ok(&[
        "hold",
        "place",
        "Guarantees",
        "--reason",
        "FCA letter",
        "--search",
        "guarantee",
    ]));

    // shred: refused, the refusal names the holds, the records still open.
    let err = a.fail(&["shred", HELD, "--reason", "customer asked"]);
    assert!(
        err.contains("erasure refused") && err.contains(&by_person),
        "{err}"
    );
    let refused = system(&a, "erasure.refused");
    assert_eq!(refused.len(), 1);
    let holds: Vec<&str> = refused[0]["details"]["holds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert!(holds.contains(&by_person.as_str()) && holds.contains(&by_case.as_str()));
    assert!(
        !refused[0].to_string().contains("5511988887777"),
        "the refusal names no person"
    );
    assert_eq!(text_of(&a, "m1"), "Bom dia, segue a proposta");

    // privacy erase: kept, decided on the record with its grounds.
    let out = a.ok(&[
        "privacy", "open", HELD, "--kind", "erasure", "--law", "gdpr",
    ]);
    let request = out.split_whitespace().next().unwrap().to_string();
    let out = a.ok(&["privacy", "erase", &request]);
    assert!(out.contains("kept: legal hold"), "{out}");
    let refused = system(&a, "erasure.refused");
    assert_eq!(refused.len(), 2);
    assert_eq!(refused[1]["details"]["request"], request.as_str());
    assert_eq!(text_of(&a, "m2"), "Quero o retorno garantido");

    // A hold over a saved search: its frozen match is held...
    let err = a.fail(&["shred", OTHER, "--reason", "customer asked"]);
    assert!(err.contains(&by_search), "{err}");
    // ... and a later capture that matches joins it (re-evaluated).
    let later = a.write("later.jsonl", line("m4", LATER, "a guarantee, in writing"));
    a.ok(&["ingest", &later]);
    let err = a.fail(&["shred", LATER, "--reason", "customer asked"]);
    assert!(err.contains(&by_search), "{err}");
    assert_eq!(system(&a, "erasure.refused").len(), 4);

    // case close: the case's hold stays in force.
    a.ok(&[
        "case",
        "close",
        "FCA review",
        "--reason",
        "closed by the regulator",
    ]);
    let list = a.ok(&["hold", "list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with(&by_case) && l.contains("in force")),
        "{list}"
    );

    // ingest over an archived id: the original stands, the import says so.
    let over = a.write("over.jsonl", line("m1", HELD, "REWRITTEN"));
    let out = a.ok(&["ingest", &over]);
    assert!(out.contains("0 archived, 1 already"), "{out}");
    assert_eq!(text_of(&a, "m1"), "Bom dia, segue a proposta");
    let imports = system(&a, "import.jsonl");
    assert_eq!(imports.last().unwrap()["details"]["duplicates"], 1);

    // privacy rectify: a correction beside the original, never an edit.
    let out = a.ok(&[
        "privacy",
        "open",
        HELD,
        "--kind",
        "rectification",
        "--law",
        "gdpr",
    ]);
    let rectification = out.split_whitespace().next().unwrap().to_string();
    let m2 = a.messages().iter().find(|m| m["id"] == "m2").unwrap()["seq"]
        .as_u64()
        .unwrap()
        .to_string();
    a.ok(&[
        "privacy",
        "rectify",
        &rectification,
        "--entry",
        &m2,
        "--text",
        "asked about returns",
    ]);
    assert_eq!(text_of(&a, "m2"), "Quero o retorno garantido");

    // init over the archive, rebuild, policy load: nothing recorded changes.
    let before = a.messages();
    assert!(a.fail(&["init"]).contains("already holds a custos archive"));
    a.ok(&["rebuild", "search"]);
    let policy = a.write(
        "p.toml",
        "name = \"worm-check\"\ntitle = \"WORM check\"\ndescription = \"x\"\ncategory = \"test\"\nseverity = \"low\"\nactions = [\"alert\"]\n\n[condition]\nany = [{ terms = [\"retorno garantido\"] }]\n",
    );
    a.ok(&["policy", "load", &policy]);
    let after = a.messages();
    assert_eq!(before.len(), after.len());
    for (b, x) in before.iter().zip(&after) {
        assert_eq!(
            (b["seq"].clone(), b["text"].clone()),
            (x["seq"].clone(), x["text"].clone())
        );
    }

    // hold release: only with a reason; then, and only then, erasure runs.
    a.fail(&["hold", "release", &by_person, "--reason", " "]);
    for id in [&by_person, &by_case] {
        a.ok(&["hold", "release", id, "--reason", "matter closed"]);
    }
    let released = system(&a, "hold.released");
    assert_eq!(released.len(), 2);
    assert_eq!(released[0]["actor"], "tester");
    assert_eq!(released[0]["details"]["reason"], "matter closed");
    let out = a.ok(&["shred", HELD, "--reason", "customer asked"]);
    assert!(out.contains("destroyed data key"), "{out}");
    assert!(
        a.messages().iter().all(|m| m["id"] != "m1"),
        "m1 is shredded now"
    );
    assert_eq!(
        text_of(&a, "m3"),
        "Is the guarantee in writing?",
        "still held by search"
    );
    a.ok(&["verify"]);
}

#[test]
fn hold_report_counts_by_custodian_and_conversation_and_lists_the_entries() {
    let a = Archive::initialised();
    a.ok(&[
        "custodian",
        "add",
        "E1",
        "--name",
        "Ana Lima",
        "--phone",
        "+44 7700 900001",
        "--opted-in",
        "2026-01-02",
    ]);
    let file = a.write(
        "in.jsonl",
        [
            line("m1", HELD, "guarantee one"),
            line("m2", HELD, "guarantee two"),
            line("m3", OTHER, "guarantee three"),
            line("m4", OTHER, "nothing to see"),
        ]
        .join("\n"),
    );
    a.ok(&["ingest", &file]);
    let out = a.ok(&[
        "hold",
        "place",
        "G",
        "--reason",
        "letter",
        "--search",
        "guarantee",
    ]);
    assert!(out.contains("matches 3 messages now"), "{out}");
    let id = hold_id(&out);
    let placed = system(&a, "hold.placed");
    assert_eq!(placed[0]["actor"], "tester");
    assert_eq!(placed[0]["details"]["reason"], "letter");
    assert_eq!(
        placed[0]["details"]["scope"]["frozen"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let report: Value = serde_json::from_str(&a.ok(&["hold", "report", &id, "--json"])).unwrap();
    assert_eq!(report["messages"], 3);
    assert_eq!(report["by_custodian"]["E1"], 3);
    assert_eq!(report["by_conversation"][format!("c-{HELD}")], 2);
    assert_eq!(report["by_conversation"][format!("c-{OTHER}")], 1);
    assert_eq!(report["seqs"].as_array().unwrap().len(), 3);
    let text = a.ok(&["hold", "report", &id]);
    assert!(text.contains("by custodian:\n  E1: 3"), "{text}");
    assert!(text.contains("entries: "), "{text}");
    assert_eq!(system(&a, "hold.reported").len(), 2);
    // `hold:` in a query finds the same messages.
    let out = a.ok(&[
        "search",
        &format!("hold:{id}"),
        "--reason",
        "check",
        "--json",
    ]);
    let found: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(found["total"], 3, "{found}");
}

#[test]
fn channel_edits_and_deletions_only_add_events_and_no_http_method_rewrites_a_message() {
    let a = Archive::initialised();
    let fixture = |name: &str| {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../custos-capture/tests/fixtures/whatsapp")
                .join(name),
        )
        .unwrap()
    };
    a.ok(&[
        "hold",
        "place",
        "Orders",
        "--reason",
        "dispute",
        "--participant",
        "+34600111222",
    ]);
    // A compliance officer, who may do the most through the API.
    let added = crate::users::with_stdin(
        &a,
        &[
            "user",
            "add",
            "cora",
            "--name",
            "Cora",
            "--role",
            "compliance_officer",
        ],
        "a long enough passphrase\n",
    );
    assert!(added.status.success(), "{added:?}");
    let made = a.ok(&["token", "create", "--user", "cora", "--expires", "1d"]);
    let bearer = format!("Bearer {}", made.lines().nth(1).unwrap());
    let log = a.tmp.path().join("serve.log");
    let secret = "worm-secret";
    let server = Server::start(
        Path::new(env!("CARGO_BIN_EXE_custos")),
        &a.data,
        secret,
        &log,
    )
    .unwrap();
    let mut client = Client::connect(server.addr).unwrap();
    for name in ["text.json", "edit.json", "revoke.json"] {
        let body = fixture(name);
        let signature = webhook::sign(secret.as_bytes(), &body);
        assert_eq!(client.deliver(&signature, &body).unwrap(), 200, "{name}");
    }
    for method in ["DELETE", "PUT", "PATCH"] {
        for path in ["/api/v1/messages/3", "/webhooks/whatsapp"] {
            let r = client
                .request(method, path, &[("Authorization", bearer.as_str())], b"{}")
                .unwrap();
            // No route has these methods: refused before any handler
            // (the API's guard refuses a method its table lacks).
            assert!(
                matches!(r.status, 403 | 405),
                "{method} {path}: {}",
                r.status
            );
            // Without credentials the API refuses before anything else.
            if path.starts_with("/api/") {
                let r = client.request(method, path, &[], b"{}").unwrap();
                assert_eq!(r.status, 401, "{method} {path}");
            }
        }
    }
    drop(client);
    assert!(server.terminate(Duration::from_secs(30)).unwrap().success());
    let log = a.log();
    let original = log
        .iter()
        .find(|e| e["kind"] == "message" && e["id"] == "wamid.TEXT1")
        .expect("the original message is kept");
    assert_eq!(original["text"], "Can you confirm my order for 200 shares?");
    assert!(log.iter().any(|e| e["kind"] == "edit"
        && e["target"] == "wamid.TEXT1"
        && e["text"] == "Can you confirm my order for 300 shares?"));
    assert!(
        log.iter()
            .any(|e| e["kind"] == "deletion" && e["target"] == "wamid.TEXT1")
    );
    let err = a.fail(&["shred", "+34600111222", "--reason", "asked"]);
    assert!(err.contains("erasure refused"), "{err}");
    a.ok(&["verify"]);
}
