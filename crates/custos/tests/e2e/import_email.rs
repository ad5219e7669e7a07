//! End-to-end tests of `custos import email`: an mbox, a Maildir and an
//! `.eml`, run as a real process on a real data directory.

use crate::common::Archive;
use serde_json::Value;

const MBOX: &str = "\
From ana.souza@client.example.org Tue Mar  5 12:15:05 2024
From: Ana Souza <Ana.Souza@client.example.org>
To: bruno.lima@example.com
Subject: Q3 deal
Date: Tue, 5 Mar 2024 09:15:00 -0300
Message-ID: <m1@client.example.org>

Can we talk about the quarterly debenture?

From bruno.lima@example.com Tue Mar  5 13:02:11 2024
From: Bruno Lima <bruno.lima@example.com>
To: ana.souza@client.example.org
Subject: Re: Q3 deal
Date: Tue, 5 Mar 2024 10:02:11 +0000
Message-ID: <m2@example.com>
In-Reply-To: <m1@client.example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=\"b\"

--b
Content-Type: text/plain

Term sheet attached.
>From the desk.
--b
Content-Type: application/pdf; name=\"terms.pdf\"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--b--

";

/// The same mailbox a day later, one message longer.
const LATER: &str = "\
From ana.souza@client.example.org Wed Mar  6 09:00:00 2024
From: Ana Souza <ana.souza@client.example.org>
To: bruno.lima@example.com
Subject: Re: Q3 deal
Date: Wed, 6 Mar 2024 06:00:00 -0300
Message-ID: <m3@client.example.org>
In-Reply-To: <m2@example.com>

Obrigada, signed.
";

fn import(a: &Archive, path: &str) -> std::process::Output {
    a.run(&["import", "email", path, "--firm-domain", "example.com"])
}

fn import_ok(a: &Archive, path: &str) -> String {
    let out = import(a, path);
    assert!(
        out.status.success(),
        "import {path} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn an_mbox_imports_once_and_a_longer_one_adds_only_what_is_new() {
    let a = Archive::initialised();
    let mbox = a.write("inbox.mbox", MBOX);
    let out = import_ok(&a, &mbox);
    assert!(
        out.contains("inbox.mbox: 2 messages read, 2 archived, 0 already in the archive"),
        "{out}"
    );
    let entries = a.entries();

    let out = import_ok(&a, &mbox);
    assert!(
        out.contains("2 messages read, 0 archived, 2 already in the archive"),
        "{out}"
    );
    // Only the second import's own system event was added.
    assert_eq!(a.entries(), entries + 1);

    let longer = a.write("inbox2.mbox", format!("{MBOX}{LATER}"));
    let out = import_ok(&a, &longer);
    assert!(
        out.contains("3 messages read, 1 archived, 2 already in the archive"),
        "{out}"
    );

    let messages = a.messages();
    assert_eq!(messages.len(), 3);
    let m2 = messages
        .iter()
        .find(|m| m["id"] == "m2@example.com")
        .unwrap();
    assert_eq!(m2["channel"], "email");
    assert_eq!(m2["direction"], "outbound");
    assert_eq!(m2["from"], "bruno.lima@example.com");
    assert_eq!(m2["conversation"], "m1@client.example.org");
    assert_eq!(m2["reply_to"], "m1@client.example.org");
    assert_eq!(m2["subject"], "Re: Q3 deal");
    assert_eq!(m2["attachments"][0]["name"], "terms.pdf");
    assert_eq!(m2["attachments"][0]["size"], 9);
    let m3 = messages
        .iter()
        .find(|m| m["id"] == "m3@client.example.org")
        .unwrap();
    assert_eq!(
        m3["conversation"], "m1@client.example.org",
        "threaded through m2"
    );
    assert_eq!(m3["direction"], "inbound");

    // The raw bytes are kept and the message carries their digest.
    let raws: Vec<Value> = a.log().into_iter().filter(|e| e["kind"] == "raw").collect();
    assert_eq!(raws.len(), 3);
    assert!(
        raws.iter()
            .all(|r| r["source"] == "email.import" && r["media_type"] == "message/rfc822")
    );
    let imports: Vec<Value> = a
        .log()
        .into_iter()
        .filter(|e| e["kind"] == "system" && e["action"] == "email.import")
        .collect();
    assert_eq!(imports.len(), 3);
    assert_eq!(imports[0]["details"]["format"], "mbox");

    // Searchable.
    let found: Value =
        serde_json::from_str(&a.ok(&["search", "debenture", "--reason", "test", "--json"]))
            .unwrap();
    assert_eq!(found["total"], 1, "{found}");
}

#[test]
fn a_bad_message_imports_nothing_and_is_named() {
    let a = Archive::initialised();
    let entries = a.entries();
    // The second message has no Date; an .eml has no From-line date to fall back on.
    let bad = "From: a@client.example.org\r\nTo: b@example.com\r\nDate: Tue, 5 Mar 2024 09:15:00 +0000\r\nMessage-ID: <ok@x>\r\n\r\nfine\r\n";
    let good = a.write("good.eml", bad);
    let undated = a.write(
        "undated.eml",
        "From: a@client.example.org\r\nTo: b@example.com\r\nMessage-ID: <u@x>\r\n\r\nno date\r\n",
    );
    let err = import(&a, &undated);
    assert!(!err.status.success());
    let err = String::from_utf8_lossy(&err.stderr).into_owned();
    assert!(
        err.contains("undated.eml: message 1: Date: missing; nothing was imported"),
        "{err}"
    );
    // An mbox whose second message has no sender: the first is not kept either.
    let mbox = a.write(
        "bad.mbox",
        format!("{MBOX}From x Wed Mar  6 09:00:00 2024\nSubject: who?\n\nanonymous\n"),
    );
    let err = String::from_utf8_lossy(&import(&a, &mbox).stderr).into_owned();
    assert!(
        err.contains("bad.mbox: message 3 (line 32): From: no sender address"),
        "{err}"
    );
    assert_eq!(a.entries(), entries, "nothing was written");
    assert!(import_ok(&a, &good).contains("1 messages read, 1 archived"));
}

#[test]
fn a_maildir_is_read_from_cur_and_new() {
    let a = Archive::initialised();
    let dir = a.tmp.path().join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(
        dir.join("cur/1709630100.M1P1.host:2,S"),
        "From: bruno.lima@example.com\nTo: desk@example.com\nDate: Tue, 5 Mar 2024 09:15:00 +0000\nMessage-ID: <int-1@example.com>\n\nInternal note about the debenture\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("new/1709630200.M2P1.host"),
        "From: ana@client.example.org\nTo: bruno.lima@example.com\nDate: Tue, 5 Mar 2024 09:20:00 +0000\nContent-Type: text/html\n\n<p>Hello <b>there</b></p>\n",
    )
    .unwrap();
    std::fs::write(dir.join("tmp/partial"), "not delivered yet").unwrap();
    let out = import_ok(&a, dir.to_str().unwrap());
    assert!(
        out.contains("2 messages read, 2 archived, 0 already"),
        "{out}"
    );
    let messages = a.messages();
    let internal = messages
        .iter()
        .find(|m| m["id"] == "int-1@example.com")
        .unwrap();
    assert_eq!(internal["direction"], "internal");
    let html = messages
        .iter()
        .find(|m| m["direction"] == "inbound")
        .unwrap();
    assert!(html["id"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(html["text"], "Hello there");
    assert!(import_ok(&a, dir.to_str().unwrap()).contains("0 archived, 2 already"));
}
