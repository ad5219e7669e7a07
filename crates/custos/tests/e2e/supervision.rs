//! Supervision from the command line: the starter library in a new
//! archive, alerts from an import, review with its audit trail, a policy
//! changed and tested before it goes live, a scan of history, a sample
//! drawn twice alike, and a classifier trained from dispositions.

use crate::common::Archive;
use serde_json::{Value, json};

/// A message line in the import format.
fn line(id: &str, conversation: &str, direction: &str, text: &str, day: u32) -> String {
    let (from, to) = if direction == "outbound" {
        ("+447700900001", "+5511999990001")
    } else {
        ("+5511999990001", "+447700900001")
    };
    json!({
        "channel": "whatsapp", "id": id, "conversation": conversation,
        "from": from, "to": [to], "direction": direction,
        "sent_at": format!("2026-05-{day:02}T10:00:00Z"), "text": text,
    })
    .to_string()
}

fn alerts(a: &Archive, all: bool) -> Vec<Value> {
    let args: &[&str] = if all {
        &["alerts", "--json", "--all"]
    } else {
        &["alerts", "--json"]
    };
    a.ok(args)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn actions(a: &Archive, action: &str) -> Vec<Value> {
    a.log()
        .into_iter()
        .filter(|e| e["kind"] == "system" && e["action"] == action)
        .collect()
}

#[test]
fn alerts_are_raised_reviewed_and_recorded() {
    let a = Archive::initialised();
    let list = a.ok(&["policy", "list"]);
    for name in [
        "off-channel",
        "promissory",
        "pii-leak",
        "opt-out",
        "inside-information",
    ] {
        assert!(list.contains(name), "{name} missing from:\n{list}");
    }
    assert_eq!(list.lines().count(), 8, "{list}");
    a.ok(&[
        "custodian",
        "add",
        "E1",
        "--name",
        "Rita Lopes",
        "--phone",
        "+44 7700 900001",
        "--opted-in",
        "2026-01-02",
        "--unit",
        "wealth",
    ]);
    let file = a.write(
        "day1.jsonl",
        [
            line(
                "m1",
                "c1",
                "outbound",
                "Pode ficar tranquilo, retorno garantido de 12% ao ano",
                4,
            ),
            line("m2", "c1", "inbound", "Ok, vou pensar", 4),
            line(
                "m3",
                "c2",
                "outbound",
                "me chama no Telegram que te passo os detalhes",
                5,
            ),
            // The same promise copied to another client: a repeat, not a new alert.
            line(
                "m4",
                "c3",
                "outbound",
                "Pode ficar tranquilo, RETORNO GARANTIDO de 12% ao ano!",
                6,
            ),
            line("m5", "c3", "outbound", "Segue o relatório mensal", 6),
        ]
        .join("\n"),
    );
    let out = a.ok(&["ingest", &file]);
    assert!(out.contains("2 new alerts"), "{out}");
    let open = alerts(&a, false);
    let policies: Vec<&str> = open.iter().map(|x| x["policy"].as_str().unwrap()).collect();
    assert!(
        policies.contains(&"promissory") && policies.contains(&"off-channel"),
        "{policies:?}"
    );
    let promise = open.iter().find(|x| x["policy"] == "promissory").unwrap();
    assert_eq!(promise["custodian"], "E1");
    assert_eq!(promise["source_id"], "m1");
    assert_eq!(promise["repeats"].as_array().unwrap().len(), 1);
    assert_eq!(promise["version"], 1);
    let id = promise["id"].as_str().unwrap();

    // Ingesting the same file again raises nothing.
    let again = a.ok(&["ingest", &file]);
    assert!(!again.contains("new alerts"), "{again}");
    assert_eq!(alerts(&a, false).len(), 2);

    // Showing it marks the hits and is an audited read.
    let shown = a.ok(&["alert", "show", id, "--reason", "weekly review"]);
    assert!(
        shown.contains("[[retorno garantido]]") || shown.contains("[[garantido]]"),
        "{shown}"
    );
    assert!(
        shown.contains("Ok, vou pensar"),
        "the conversation is shown:\n{shown}"
    );
    let reads = actions(&a, "content.read");
    assert!(
        reads
            .iter()
            .any(|r| r["target"] == id && r["details"]["reason"] == "weekly review")
    );

    a.ok(&["alert", "assign", id, "--to", "rita"]);
    a.ok(&[
        "alert",
        "escalate",
        id,
        "--to",
        "head-of-compliance",
        "--reason",
        "retail client",
    ]);
    let err = a.fail(&[
        "alert",
        "close",
        id,
        "--disposition",
        "maybe",
        "--reason",
        "x",
    ]);
    assert!(err.contains("maybe"), "{err}");
    a.ok(&[
        "alert",
        "close",
        id,
        "--disposition",
        "breach",
        "--reason",
        "promised a return",
    ]);
    let err = a.fail(&[
        "alert",
        "close",
        id,
        "--disposition",
        "breach",
        "--reason",
        "again",
    ]);
    assert!(err.contains("closed"), "{err}");
    a.ok(&["alert", "comment", id, "reported"]);
    let closed = alerts(&a, true)
        .into_iter()
        .find(|x| x["id"] == id)
        .unwrap();
    assert_eq!(closed["status"]["disposition"], "breach");
    let history: Vec<&str> = closed["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["assigned", "escalated", "closed", "commented"]);
    assert_eq!(actions(&a, "alert.closed")[0]["actor"], "tester");
    assert_eq!(alerts(&a, false).len(), 1);
}

#[test]
fn a_policy_is_tested_then_loaded_as_a_new_version_and_scanned_over_history() {
    let a = Archive::initialised();
    let file = a.write(
        "history.jsonl",
        [
            line(
                "h1",
                "c1",
                "outbound",
                "Vamos fechar antes do anúncio da fusão",
                4,
            ),
            line(
                "h2",
                "c2",
                "outbound",
                "Tenho um ingresso extra para a final",
                5,
            ),
            line(
                "h3",
                "c3",
                "outbound",
                "A reunião de resultados é amanhã",
                6,
            ),
        ]
        .join("\n"),
    );
    a.ok(&["ingest", &file]);
    let before = alerts(&a, false).len();
    let policy = r#"
name = "tickets"
title = "Tickets offered to clients"
category = "gifts_entertainment"
severity = "medium"
actions = ["alert"]
[condition]
terms = ["ingresso* extra*", "ticket NEAR/3 final"]
"#;
    let path = a.write("tickets.toml", policy);
    let labelled = a.write(
        "labelled.jsonl",
        [
            json!({"id": "l1", "lang": "pt", "text": "tenho ingressos extras pro jogo", "labels": ["gifts_entertainment"]}),
            json!({"id": "l2", "lang": "pt", "text": "ingresso extra para o show", "labels": ["gifts_entertainment"]}),
            json!({"id": "l3", "lang": "pt", "text": "a extra do relatório saiu", "labels": []}),
        ]
        .map(|v| v.to_string())
        .join("\n"),
    );
    let report = a.ok(&[
        "policy",
        "test",
        &path,
        "--against",
        &labelled,
        "--days",
        "100000",
    ]);
    assert!(report.contains("tickets"), "{report}");
    assert!(report.contains("1 alerts added"), "{report}");
    // Testing changes nothing.
    assert_eq!(alerts(&a, false).len(), before);
    let bad = a.write(
        "bad.toml",
        policy.replace("severity = \"medium\"", "severity = \"dire\""),
    );
    let err = a.fail(&["policy", "load", &bad, &path]);
    assert!(err.contains("bad.toml") && err.contains("dire"), "{err}");
    assert!(
        !a.ok(&["policy", "list"]).contains("tickets"),
        "a bad file loads nothing"
    );

    let out = a.ok(&["policy", "load", &path]);
    assert!(out.contains("tickets v1 loaded"), "{out}");
    assert!(
        a.ok(&["policy", "load", &path])
            .contains("tickets v1 unchanged")
    );
    let v2 = a.write("tickets2.toml", policy.replace("medium", "high"));
    assert!(a.ok(&["policy", "load", &v2]).contains("tickets v2 loaded"));
    assert!(
        a.ok(&["policy", "show", "tickets", "--version", "1"])
            .contains("medium")
    );
    let scan = a.ok(&["scan", "--policy", "tickets", "--since", "2026-05-01"]);
    assert!(scan.contains("1 new alerts"), "{scan}");
    let tickets = alerts(&a, false)
        .into_iter()
        .find(|x| x["policy"] == "tickets")
        .unwrap();
    assert_eq!(tickets["version"], 2);
    assert_eq!(tickets["source_id"], "h2");
    // Scanning again finds nothing new.
    assert!(a.ok(&["scan"]).contains(": 0 new alerts"));
    a.ok(&["policy", "disable", "tickets", "--reason", "superseded"]);
    assert!(a.ok(&["policy", "list"]).contains("disabled"));
    assert!(
        a.fail(&["scan", "--policy", "tickets"])
            .contains("no active policy")
    );
}

#[test]
fn samples_repeat_from_their_seed_and_the_classifier_learns() {
    let a = Archive::initialised();
    a.ok(&[
        "custodian",
        "add",
        "E1",
        "--name",
        "Rita Lopes",
        "--phone",
        "+447700900001",
        "--opted-in",
        "2026-01-02",
    ]);
    let lines: Vec<String> = (0..30)
        .map(|i| {
            line(
                &format!("s{i}"),
                &format!("conv{i}"),
                "outbound",
                "Bom dia, tudo certo?",
                1 + i % 28,
            )
        })
        .collect();
    a.ok(&["ingest", &a.write("may.jsonl", lines.join("\n"))]);
    let drawn = a.ok(&[
        "sample", "draw", "--period", "2026-05", "--rate", "0.1", "--seed", "99",
    ]);
    assert!(drawn.contains("drew 3 of 30"), "{drawn}");
    let samples: Vec<Value> = alerts(&a, false)
        .into_iter()
        .filter(|x| x["origin"] == "sample")
        .collect();
    assert_eq!(samples.len(), 3);
    let err = a.fail(&[
        "sample", "draw", "--period", "2026-05", "--rate", "0.1", "--seed", "99",
    ]);
    assert!(err.contains("already drawn"), "{err}");
    // Another archive with the same messages draws the same conversations.
    let b = Archive::initialised();
    b.ok(&[
        "custodian",
        "add",
        "E1",
        "--name",
        "Rita Lopes",
        "--phone",
        "+447700900001",
        "--opted-in",
        "2026-01-02",
    ]);
    b.ok(&["ingest", &b.write("may.jsonl", lines.join("\n"))]);
    b.ok(&[
        "sample", "draw", "--period", "2026-05", "--rate", "0.1", "--seed", "99",
    ]);
    let convs = |x: &Archive| -> Vec<String> {
        let mut v: Vec<String> = alerts(x, false)
            .into_iter()
            .filter(|x| x["origin"] == "sample")
            .map(|x| x["conversation"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(convs(&a), convs(&b));
    assert!(a.ok(&["sample", "list"]).contains("seed 99"));

    // Train: the figures are printed and the model is on record; later
    // alerts carry its score.
    let trained = a.ok(&["model", "train"]);
    assert!(
        trained.contains("precision") && trained.contains("recall"),
        "{trained}"
    );
    let record = actions(&a, "model.trained");
    assert_eq!(record.len(), 1);
    assert!(
        record[0]["details"]["precision"].as_f64().unwrap() > 0.5,
        "{record:?}"
    );
    a.ok(&[
        "ingest",
        &a.write(
            "promise.jsonl",
            line(
                "p1",
                "cp",
                "outbound",
                "retorno garantido, sem risco nenhum",
                20,
            ),
        ),
    ]);
    let scored = alerts(&a, false)
        .into_iter()
        .find(|x| x["policy"] == "promissory")
        .unwrap();
    let score = scored["score"].as_f64().unwrap();
    assert!(score > 0.5, "a plain promise scores {score}");
    assert_eq!(scored["model"], record[0]["target"]);
}

#[test]
fn consent_is_granted_withdrawn_by_keyword_and_shown_with_its_history() {
    let a = Archive::initialised();
    assert!(
        a.ok(&["consent", "show", "+55 11 99999-0001"])
            .contains("no consent on record")
    );
    a.ok(&[
        "consent",
        "grant",
        "+55 11 99999-0001",
        "--source",
        "web-form",
        "--text",
        "I agree to receive WhatsApp messages from Banco Exemplo",
    ]);
    let file = a.write(
        "stop.jsonl",
        [
            line("k1", "c1", "inbound", "Parar", 3),
            line("k2", "c1", "inbound", "não pare de mandar", 4),
        ]
        .join("\n"),
    );
    a.ok(&["ingest", &file]);
    let shown = a.ok(&["consent", "show", "5511999990001"]);
    assert!(shown.contains("whatsapp: opted out"), "{shown}");
    assert!(shown.contains("web-form: I agree"), "{shown}");
    assert!(
        shown.contains("keyword \"PARAR\" in inbound whatsapp message k1"),
        "{shown}"
    );
    let history: Vec<Value> = a
        .ok(&["consent", "show", "+5511999990001", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[0]["recorded_by"], "tester");
    // Re-ingesting records nothing twice; a new opt-in is on top.
    a.ok(&["ingest", &file]);
    a.ok(&[
        "consent",
        "grant",
        "+5511999990001",
        "--source",
        "ivr",
        "--text",
        "pressed 1 to opt in again",
    ]);
    let history = a.ok(&["consent", "show", "+5511999990001", "--json"]);
    assert_eq!(history.lines().count(), 3, "{history}");
    assert!(
        a.ok(&["consent", "show", "+5511999990001"])
            .contains("whatsapp: opted in")
    );
    assert!(
        a.fail(&[
            "consent",
            "grant",
            "+5511999990001",
            "--source",
            "ivr",
            "--text",
            " "
        ])
        .contains("required")
    );
    let reads = actions(&a, "content.read");
    assert!(reads.iter().any(|r| r["target"] == "consent"));
}
