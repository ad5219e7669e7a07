//! Search, cases and exports through the binary: audited searches that
//! fold accents, malformed queries pointing at the mistake, erasure leaving
//! the index, rebuilds, exports that verify without the archive and fail
//! when one byte changes, and a case from saved search to production.

use crate::common::Archive;
use serde_json::Value;

const LINES: &str = r#"{"channel":"whatsapp","id":"w1","conversation":"c-ana","from":"+5511988887777","to":["+447700900001"],"direction":"inbound","sent_at":"2026-03-02T09:00:00Z","text":"Posso comprar a ação hoje?"}
{"channel":"whatsapp","id":"w2","conversation":"c-ana","from":"+447700900001","to":["+5511988887777"],"direction":"outbound","sent_at":"2026-03-02T09:05:00Z","text":"Sim, e eu garanto o retorno de 12%"}
{"channel":"whatsapp","id":"w3","conversation":"c-ana","from":"+5511988887777","to":["+447700900001"],"direction":"inbound","sent_at":"2026-03-02T09:07:00Z","text":"Combinado, obrigado"}
{"channel":"whatsapp","id":"w4","conversation":"c-bea","from":"+447700900002","to":["+5521977776666"],"direction":"outbound","sent_at":"2026-04-10T15:00:00Z","text":"I guarantee a return of 12% on that note"}
"#;

fn archive() -> Archive {
    let a = Archive::initialised();
    a.ok(&[
        "custodian",
        "add",
        "E001",
        "--name",
        "Alistair Pemberton",
        "--phone",
        "+447700900001",
        "--opted-in",
        "2026-01-01",
        "--unit",
        "FX Sales",
    ]);
    a.ok(&[
        "custodian",
        "add",
        "E002",
        "--name",
        "Charlotte Whitmore",
        "--phone",
        "+447700900002",
        "--opted-in",
        "2026-01-01",
        "--unit",
        "Rates",
    ]);
    let file = a.write("msgs.jsonl", LINES);
    a.ok(&["ingest", &file]);
    a
}

fn search(a: &Archive, query: &str) -> Value {
    serde_json::from_str(&a.ok(&["search", query, "--reason", "test", "--json"])).unwrap()
}

fn texts(result: &Value) -> Vec<String> {
    result["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["text"].as_str().unwrap().to_string())
        .collect()
}

fn actions(a: &Archive, action: &str) -> Vec<Value> {
    a.log()
        .into_iter()
        .filter(|e| e["action"] == action)
        .collect()
}

#[test]
fn searches_fold_accents_are_journalled_and_follow_erasure_and_rebuilds() {
    let a = archive();
    let found = search(&a, "acao");
    assert_eq!(texts(&found), ["Posso comprar a ação hoje?"]);
    assert_eq!(
        found["hits"][0]["snippet"]["highlights"],
        serde_json::json!([[16, 22]]),
        "byte offsets of ação"
    );
    // Fields resolve custodians by name and unit; dates bound the range.
    assert_eq!(search(&a, "from:\"Alistair Pemberton\"")["total"], 1);
    assert_eq!(search(&a, "custodian:Rates guarantee")["total"], 1);
    assert_eq!(
        search(&a, "(garanto OR guarantee) after:2026-04-01")["total"],
        1
    );
    // The search and what it showed are on the record, with the reason.
    let runs = actions(&a, "search.run");
    let first = &runs[0];
    assert_eq!(first["actor"], "tester");
    assert_eq!(first["details"]["query"], "acao");
    assert_eq!(first["details"]["reason"], "test");
    assert_eq!(
        first["details"]["shown"],
        serde_json::json!([found["hits"][0]["seq"]])
    );
    // Opening the conversation around a hit is journalled too.
    let out = a.ok(&["search", "garanto", "--reason", "review", "--context", "1"]);
    assert!(out.contains("> "), "{out}");
    let opened = actions(&a, "search.opened");
    assert_eq!(
        opened.last().unwrap()["details"]["seqs"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // Mistakes: a missing reason, a malformed query pointing at the column.
    assert!(a.fail(&["search", "acao"]).contains("--reason"));
    let err = a.fail(&["search", "guarantee AND", "--reason", "x"]);
    assert!(err.contains("column 11"), "{err}");
    assert!(err.contains("          ^"), "{err}");
    assert!(
        a.fail(&["search", "custodian:nobody", "--reason", "x"])
            .contains("custodian:nobody")
    );
    // Erasure: the customer's messages leave the index.
    a.ok(&["shred", "+55 11 98888-7777", "--reason", "erasure request"]);
    assert_eq!(search(&a, "acao")["total"], 0);
    assert_eq!(
        search(&a, "*")["total"],
        1,
        "only the other customer's message is left"
    );
    // A rebuild from nothing agrees.
    assert!(a.ok(&["rebuild", "search"]).contains("1 messages"));
    assert_eq!(search(&a, "*")["total"], 1);
}

#[test]
fn exports_verify_without_the_archive_and_fail_on_one_changed_byte() {
    let a = archive();
    let out_dir = a.tmp.path().join("export");
    let out = a.ok(&[
        "export",
        "--query",
        "garanto OR guarantee",
        "--format",
        "rsmf,pdf,csv",
        "--out",
        out_dir.to_str().unwrap(),
        "--reason",
        "regulator request 42",
        "--time-zone",
        "Europe/London",
    ]);
    assert!(out.contains("2 messages"), "{out}");
    let key = std::fs::read_to_string(a.data.join("keys/signing.pub")).unwrap();
    let verify = |expect_ok: bool| {
        let cmd = [
            "verify-export",
            out_dir.to_str().unwrap(),
            "--public-key",
            key.trim(),
        ];
        if expect_ok { a.ok(&cmd) } else { a.fail(&cmd) }
    };
    assert!(verify(true).contains("export verifies"));
    // Who exported what and why is on the record.
    let exported = actions(&a, "export.created");
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0]["details"]["reason"], "regulator request 42");
    assert_eq!(exported[0]["details"]["messages"], 2);
    // One byte changed in one file: verify names the file.
    let rsmf = walk(&out_dir)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "rsmf"))
        .unwrap();
    let mut bytes = std::fs::read(&rsmf).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&rsmf, &bytes).unwrap();
    let report = verify(false);
    let name = rsmf.file_name().unwrap().to_str().unwrap();
    assert!(
        report.contains("FAILED") && report.contains(name),
        "{report}"
    );
    // Another archive's key does not verify this export's head.
    bytes[middle] ^= 0x20;
    std::fs::write(&rsmf, &bytes).unwrap();
    let other = Archive::initialised();
    let other_key = std::fs::read_to_string(other.data.join("keys/signing.pub")).unwrap();
    let report = a.fail(&[
        "verify-export",
        out_dir.to_str().unwrap(),
        "--public-key",
        other_key.trim(),
    ]);
    assert!(report.contains("FAILED"), "{report}");
}

#[test]
fn a_case_goes_from_saved_search_to_hold_and_production() {
    let a = archive();
    let opened = a.ok(&[
        "case",
        "open",
        "SEC inquiry",
        "--custodian",
        "E001",
        "--from",
        "2026-03-01",
        "--to",
        "2026-04-01",
    ]);
    let id = opened.split_whitespace().nth(1).unwrap().to_string();
    // The scope (E001, March) leaves E002's April message out.
    let saved = a.ok(&[
        "case",
        "search",
        &id,
        "promises",
        "garant* OR guarantee OR comprar",
    ]);
    assert!(saved.contains("2 messages in scope"), "{saved}");
    let review = a.ok(&["case", "review", &id]);
    let seqs: Vec<String> = review
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(seqs.len(), 2, "{review}");
    a.ok(&[
        "case",
        "tag",
        &id,
        &seqs[0],
        "privileged",
        "--note",
        "advice of counsel",
    ]);
    a.ok(&["case", "tag", &id, &seqs[1], "relevant"]);
    assert!(
        a.fail(&["case", "tag", &id, &seqs[1], "maybe"])
            .contains("relevant, not-relevant or privileged")
    );
    assert!(
        a.ok(&["case", "review", &id, "--untagged"])
            .contains("0 messages not yet tagged")
    );
    let hold = a.ok(&["case", "hold", &id, "--reason", "preservation notice"]);
    assert!(hold.contains("placed hold LH-"), "{hold}");
    assert!(a.ok(&["hold", "list"]).contains("SEC inquiry"));
    // Held: the customer in scope cannot be erased.
    assert!(
        a.fail(&["shred", "+5511988887777", "--reason", "erasure"])
            .contains("hold")
    );
    // Production: only the relevant message, never the privileged one.
    let out_dir = a.tmp.path().join("production");
    let out = a.ok(&[
        "export",
        "--case",
        &id,
        "--format",
        "jsonl",
        "--out",
        out_dir.to_str().unwrap(),
        "--reason",
        "production",
    ]);
    assert!(out.contains("1 messages"), "{out}");
    let load = std::fs::read_to_string(out_dir.join("loadfile.jsonl")).unwrap();
    assert_eq!(load.lines().count(), 1);
    assert!(
        load.contains(&format!("\"journal_seq\":{}", seqs[1])) || load.contains(&seqs[1]),
        "{load}"
    );
    assert!(
        a.ok(&["verify-export", out_dir.to_str().unwrap()])
            .contains("export verifies")
    );
    let show = a.ok(&["case", "show", &id]);
    assert!(
        show.contains("1 relevant, 0 not relevant, 1 privileged"),
        "{show}"
    );
    a.ok(&["case", "close", &id, "--reason", "produced"]);
    assert!(
        a.fail(&["case", "tag", &id, &seqs[0], "relevant"])
            .contains("closed")
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for item in std::fs::read_dir(dir).unwrap() {
        let path = item.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn one_party_across_channels_reads_as_one_history() {
    let a = archive();
    let email = a.write(
        "mail.jsonl",
        r#"{"channel":"email","id":"<m1@client.example>","conversation":"t-1","from":"Ana@Client.example","to":["alistair@bank.example"],"direction":"inbound","sent_at":"2026-03-03T10:00:00Z","text":"Following up on the order by e-mail"}
"#,
    );
    a.ok(&["ingest", &email]);
    // Before the link, the phone number finds the WhatsApp messages only.
    assert_eq!(search(&a, "participant:+5511988887777")["total"], 3);
    assert!(
        a.fail(&[
            "party",
            "link",
            "+5511988887777",
            "ana@client.example",
            "--evidence",
            " "
        ])
        .contains("--evidence")
    );
    let linked = a.ok(&[
        "party",
        "link",
        "+55 11 98888-7777",
        "ana@client.example",
        "--name",
        "Ana Ruiz",
        "--evidence",
        "confirmed by phone 2026-11-20",
    ]);
    assert!(
        linked.contains("+5511988887777, ana@client.example"),
        "{linked}"
    );
    // After it, either address stands for both, on every channel.
    assert_eq!(search(&a, "participant:+5511988887777")["total"], 4);
    assert_eq!(search(&a, "from:ana@client.example")["total"], 3);
    let history = a.ok(&[
        "party",
        "show",
        "ana@client.example",
        "--reason",
        "client file review",
    ]);
    assert!(
        history.starts_with("Ana Ruiz +5511988887777, ana@client.example: 4 messages"),
        "{history}"
    );
    let channels: Vec<&str> = history
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().nth(2).unwrap())
        .collect();
    assert_eq!(
        channels,
        ["whatsapp", "whatsapp", "whatsapp", "email"],
        "oldest first"
    );
    // The custodian filter keeps their conversations with that party.
    let with_e001 = a.ok(&[
        "party",
        "show",
        "+5511988887777",
        "--reason",
        "r",
        "--custodian",
        "E001",
    ]);
    assert!(with_e001.contains(": 3 messages"), "{with_e001}");
    assert!(actions(&a, "party.linked").len() == 1);
}

/// `custos serve --smtp-listen`: a mail server's journaling copy arrives over
/// SMTP, is acknowledged once durable, and is then searchable.
#[test]
fn serve_accepts_journaled_mail_over_smtp() {
    use std::io::{BufRead, BufReader, Write as _};
    let a = archive();
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    };
    let (http, smtp) = (free(), free());
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(["--data", a.data.to_str().unwrap(), "serve", "--listen"])
        .arg(http.to_string())
        .arg("--smtp-listen")
        .arg(smtp.to_string())
        .args(["--firm-domain", "bank.example"])
        .env("CUSTOS_ACTOR", "tester")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let stream = loop {
        match std::net::TcpStream::connect(smtp) {
            Ok(s) => break s,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            Err(e) => panic!("SMTP listener never came up: {e}"),
        }
    };
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let reply = |expect: &str, reader: &mut BufReader<std::net::TcpStream>| {
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line.as_bytes().get(3) != Some(&b'-') {
                break;
            }
        }
        assert!(line.starts_with(expect), "expected {expect}, got {line:?}");
    };
    reply("220", &mut reader);
    for (command, expect) in [
        ("EHLO mx.bank.example", "250"),
        ("MAIL FROM:<alistair@bank.example>", "250"),
        ("RCPT TO:<journal@custos.bank.example>", "250"),
        ("DATA", "354"),
    ] {
        write!(writer, "{command}\r\n").unwrap();
        reply(expect, &mut reader);
    }
    write!(
        writer,
        "From: Alistair <alistair@bank.example>\r\nTo: ana@client.example\r\nSubject: Order\r\nDate: Tue, 3 Mar 2026 10:00:00 +0000\r\nMessage-ID: <smtp-1@bank.example>\r\n\r\nYour allocation of the bond is confirmed.\r\n.\r\n"
    )
    .unwrap();
    reply("250", &mut reader);
    write!(writer, "QUIT\r\n").unwrap();
    drop(writer);
    // Stop the server (SIGTERM), then search the archive.
    std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(server.wait().unwrap().success());
    let found = search(&a, "allocation bond");
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["hits"][0]["channel"], "email");
    assert_eq!(found["hits"][0]["direction"], "outbound");
}
