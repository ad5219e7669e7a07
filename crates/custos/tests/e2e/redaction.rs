//! Redacted exports through the binary: every file of the export (RSMF zip
//! members, EML bodies, transcripts, load files, custody entries) is free
//! of the masked card and national ids, while a full export of the same
//! messages shows them; `verify-export` passes and says the content was
//! checked by the producer; the journal records the profile.

use crate::common::Archive;
use base64::Engine as _;
use std::io::Read;
use std::path::Path;

const CARD: &str = "4539148803436467";
const CARD_GROUPED: &str = "4539 1488 0343 6467";
const CPF: &str = "529.982.247-25";
const SSN: &str = "123-45-6789";

fn lines() -> String {
    [
        format!(
            r#"{{"channel":"whatsapp","id":"w1","conversation":"c-ana","from":"+5511988887777","to":["+447700900001"],"direction":"inbound","sent_at":"2026-03-02T09:00:00Z","text":"pode cobrar no cartão {CARD_GROUPED} exp 06/27, meu CPF é {CPF}"}}"#
        ),
        r#"{"channel":"whatsapp","id":"w2","conversation":"c-ana","from":"+447700900001","to":["+5511988887777"],"direction":"outbound","sent_at":"2026-03-02T09:05:00Z","text":"Obrigado, anotado"}"#.to_string(),
        format!(
            r#"{{"channel":"email","id":"<e1@client.example>","conversation":"t-1","from":"bob@client.example","to":["ana@firm.example"],"direction":"inbound","sent_at":"2026-03-03T10:00:00Z","subject":"card {CARD}","text":"SSN {SSN}, card {CARD}.","attachments":[{{"name":"cpf {CPF}.pdf","media_type":"application/pdf","sha256":"{}","size":3}}]}}"#,
            "ab".repeat(32)
        ),
    ]
    .join("\n")
        + "\n"
}

/// Every file under `dir` as text to search: RSMF zip members inflated,
/// base64 and quoted-printable bodies decoded beside the raw bytes.
fn readable(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.strip_prefix(dir).unwrap().display().to_string();
            let bytes = std::fs::read(&path).unwrap();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            // Quoted-printable soft breaks joined, so no number hides across them.
            out.push((name.clone(), text.replace("=\r\n", "")));
            if name.ends_with(".rsmf") {
                for (member, content) in rsmf_members(&text) {
                    out.push((format!("{name}!{member}"), content));
                }
            }
        }
    }
    out
}

/// The members of an RSMF file's `rsmf.zip`, as text.
fn rsmf_members(text: &str) -> Vec<(String, String)> {
    let start = text
        .find("filename=\"rsmf.zip\"")
        .expect("an rsmf.zip part");
    let body = &text[start..];
    let body = &body[body.find("\r\n\r\n").unwrap() + 4..];
    let b64: String = body
        .lines()
        .take_while(|l| !l.starts_with("--"))
        .collect::<Vec<_>>()
        .concat();
    let zip_bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        out.push((
            f.name().unwrap().to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    out
}

/// Where any form of the masked numbers shows.
fn leaks(dir: &Path) -> Vec<String> {
    let needles = [
        CARD,
        CARD_GROUPED,
        // The first twelve digits, in either form.
        &CARD[..12],
        &CARD_GROUPED[..14],
        CPF,
        "52998224725",
        SSN,
    ];
    let mut found = Vec::new();
    for (name, text) in readable(dir) {
        for needle in needles {
            if text.contains(needle) {
                found.push(format!("{name}: {needle}"));
            }
        }
    }
    found
}

#[test]
fn a_redacted_export_holds_no_masked_number_and_verifies() {
    let a = Archive::initialised();
    let file = a.write("msgs.jsonl", lines());
    a.ok(&["ingest", &file]);
    let export = |name: &str, redact: &str| {
        let dir = a.tmp.path().join(name);
        let out = a.ok(&[
            "export",
            "--query",
            "*",
            "--format",
            "rsmf,eml,html,pdf,csv,jsonl",
            "--out",
            dir.to_str().unwrap(),
            "--reason",
            "production to opposing counsel",
            "--redact",
            redact,
        ]);
        (dir, out)
    };

    // The control: a full export shows every number, so the search can find them.
    let (full, _) = export("full", "none");
    let full_leaks = leaks(&full);
    for needle in [CARD, CARD_GROUPED, CPF, SSN] {
        assert!(
            full_leaks.iter().any(|l| l.ends_with(needle)),
            "{needle} not found in the full export: {full_leaks:?}"
        );
    }

    let (redacted, said) = export("redacted", "payment_card,national_id");
    assert!(
        said.contains("redacted (payment_card,us_ssn,br_cpf)"),
        "{said}"
    );
    assert_eq!(leaks(&redacted), Vec::<String>::new());
    // The markers are there instead, in RSMF, transcripts and load files.
    let texts = readable(&redacted);
    let with = |marker: &str| {
        texts
            .iter()
            .filter(|(_, t)| t.contains(marker))
            .map(|(n, _)| n.clone())
            .collect::<Vec<_>>()
    };
    let cards = with("[card •••• 6467]");
    assert!(
        cards.iter().any(|n| n.ends_with("rsmf_manifest.json")),
        "{cards:?}"
    );
    assert!(cards.iter().any(|n| n.ends_with(".html")), "{cards:?}");
    // EML bodies are quoted-printable: the bullets are =E2=80=A2 there.
    let eml = with("[card =E2=80=A2=E2=80=A2=E2=80=A2=E2=80=A2 6467]");
    assert!(eml.iter().any(|n| n.ends_with(".eml")), "{eml:?}");
    assert!(!with("[national id redacted]").is_empty());
    let custody: serde_json::Value =
        serde_json::from_slice(&std::fs::read(redacted.join("custody.json")).unwrap()).unwrap();
    assert_eq!(
        custody["redaction"]["profile"],
        "payment_card,us_ssn,br_cpf"
    );
    let entries = std::fs::read_to_string(redacted.join("custody/entries.jsonl")).unwrap();
    assert!(!entries.contains("entry_key"));

    let verified = a.ok(&["verify-export", redacted.to_str().unwrap()]);
    assert!(verified.contains("export verifies"), "{verified}");
    assert!(
        verified.contains("checked against the archive by the producer"),
        "{verified}"
    );

    // The journal names the profile of each export.
    let exports: Vec<String> = a
        .log()
        .into_iter()
        .filter(|e| e["action"] == "export.created")
        .map(|e| e["details"]["redaction"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(exports, ["none", "payment_card,us_ssn,br_cpf"]);

    // A kind that does not exist is named.
    let err = a.fail(&[
        "export",
        "--query",
        "*",
        "--out",
        a.tmp.path().join("x").to_str().unwrap(),
        "--reason",
        "r",
        "--redact",
        "cards",
    ]);
    assert!(
        err.contains("--redact") && err.contains("\"cards\""),
        "{err}"
    );
}
