//! `custos demo` end to end: the archive it builds (a user per role, alerts
//! from the starter policies, consent events, media blobs, a hold, a case,
//! a privacy request), and the console it serves, signed in over HTTP on
//! loopback with a password it printed.

use crate::common::Archive;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

/// The printed sign-ins: (user, password).
fn signins(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter(|l| l.starts_with("  demo-"))
        .map(|l| {
            let mut words = l.split_whitespace();
            (
                words.next().unwrap().to_string(),
                words.next().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn demo_no_serve_builds_every_role_alerts_consent_and_media() {
    let a = Archive::new();
    let out = a.ok(&[
        "demo",
        "--messages",
        "300",
        "--until",
        "2026-11-20",
        "--no-serve",
    ]);
    assert!(out.contains("8 starter policies active"), "{out}");
    let users = signins(&out);
    let roles = [
        "admin",
        "compliance_officer",
        "reviewer",
        "auditor",
        "agent",
        "dpo",
    ];
    for role in roles {
        assert!(
            out.lines()
                .any(|l| l.starts_with("  demo-") && l.contains(role)),
            "{role}: {out}"
        );
    }
    assert_eq!(users.len(), 7, "two reviewers: {out}");
    let log = a.log();
    // No password reaches the journal.
    let text = serde_json::to_string(&log).unwrap();
    for (_, password) in &users {
        assert!(!text.contains(password.as_str()));
    }
    let alerts = a.ok(&["alerts", "--json"]);
    for policy in [
        "promissory",
        "off-channel",
        "complaints",
        "inside-information",
        "gifts-entertainment",
        "pii-leak",
        "harassment",
    ] {
        assert!(
            alerts.contains(&format!("\"policy\":\"{policy}\"")),
            "{policy}"
        );
    }
    let kinds = |k: &str| log.iter().filter(|e| e["kind"] == k).count();
    assert!(kinds("consent") >= 9, "opt-ins and three opt-outs");
    for word in ["STOP", "PARAR", "BAJA"] {
        assert!(
            log.iter()
                .any(|e| e["kind"] == "consent" && e.to_string().contains(word)),
            "{word}"
        );
    }
    for k in ["edit", "deletion", "reaction", "status"] {
        assert!(kinds(k) > 0, "{k}");
    }
    // Media blobs on disk: a PNG and a PDF, sealed.
    let blobs = walk(&a.data.join("blobs"));
    assert!(blobs >= 2, "{blobs} blobs");
    for action in [
        "hold.placed",
        "case.opened",
        "privacy.opened",
        "demo.loaded",
    ] {
        assert!(
            log.iter().any(|e| e["action"]
                .as_str()
                .is_some_and(|x| x.starts_with(action.split('.').next().unwrap()))),
            "{action}"
        );
    }
    a.ok(&["verify"]);
    // Again: nothing appended twice, and it says where the sign-ins went.
    let before = a.entries();
    let again = a.ok(&["demo", "--no-serve"]);
    assert!(again.contains("already loaded"), "{again}");
    assert!(signins(&again).is_empty());
    assert!(
        a.entries() <= before + 2,
        "only the reads of this test were added"
    );
}

#[test]
fn demo_refuses_an_archive_it_did_not_build() {
    let a = Archive::initialised();
    let out = a.fail(&["demo", "--no-serve"]);
    assert!(out.contains("did not build"), "{out}");
}

#[test]
fn demo_serves_and_a_printed_password_signs_in() {
    let a = Archive::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_custos"))
        .arg("--data")
        .arg(&a.data)
        .args(["demo", "--messages", "200", "--listen", "127.0.0.1:0"])
        .env("CUSTOS_ACTOR", "tester")
        .env_remove("CUSTOS_KEK")
        .env_remove("CUSTOS_DATA")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    let mut address = None;
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        printed.push_str(&line);
        if let Some(rest) = line.trim().strip_prefix("console: http://") {
            address = Some(rest.trim_end_matches('/').to_string());
        }
        if line.contains("Ctrl-C") {
            break;
        }
        line.clear();
    }
    let address = address.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("no address printed: {printed}")
    });
    let users = signins(&printed);
    let (user, password) = users.iter().find(|(u, _)| u == "demo-compliance").unwrap();
    let good = post_signin(&address, user, password);
    let bad = post_signin(&address, user, "not-the-password");
    let _ = child.kill();
    let _ = child.wait();
    assert!(good.starts_with("HTTP/1.1 303"), "{good}");
    assert!(good.to_ascii_lowercase().contains("set-cookie:"), "{good}");
    assert!(bad.starts_with("HTTP/1.1 401"), "{bad}");
}

fn post_signin(address: &str, user: &str, password: &str) -> String {
    let body = format!("user={user}&password={password}");
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST /signin HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn walk(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                walk(&e.path())
            } else {
                1
            }
        })
        .sum()
}
