//! The SQL state projection from the command line: `custos rebuild state`
//! projects the archive into `DATA/state/state.db` (SQLite by default),
//! again from nothing to the same rows, and refuses a URL it cannot use
//! without printing its password.

use crate::common::Archive;
use serde_json::json;

fn line(id: &str, text: &str, day: u32) -> String {
    json!({
        "channel": "whatsapp", "id": id, "conversation": "c1",
        "from": "+447700900001", "to": ["+5511999990001"], "direction": "outbound",
        "sent_at": format!("2026-05-{day:02}T10:00:00Z"), "text": text,
    })
    .to_string()
}

#[test]
fn rebuild_state_projects_the_archive_and_again_gives_the_same() {
    let a = Archive::initialised();
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
        "day.jsonl",
        [
            line("m1", "me chama no Telegram que te passo os detalhes", 4),
            line("m2", "Segue o relatório mensal", 5),
        ]
        .join("\n"),
    );
    a.ok(&["ingest", &file]);
    let first = a.ok(&["rebuild", "state"]);
    assert!(first.starts_with("state rebuilt (sqlite)"), "{first}");
    assert!(first.contains("alerts 1,"), "{first}");
    assert!(first.contains("custodians 1"), "{first}");
    assert!(a.data.join("state/state.db").is_file());
    let entries = a.entries();
    assert!(
        first.contains(&format!("from {entries} journal entries")),
        "{first} (journal has {entries})"
    );
    // From nothing again: the same rows.
    let second = a.ok(&["rebuild", "state"]);
    let counts = |s: &str| s.split(": ").nth(1).map(str::to_string);
    assert_eq!(counts(&first), counts(&second));

    let err = a.fail(&["rebuild", "state", "--state-url", "mysql://u:hunter2@db/x"]);
    assert!(err.contains("expected sqlite:// or postgres://"), "{err}");
    assert!(!err.contains("hunter2"), "the password printed: {err}");
}

/// The rows of the archive's SQLite state database, as text.
fn rows(a: &Archive) -> (u64, Vec<String>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = custos_store::Store::open_sqlite(&a.data.join("state/state.db"))
            .await
            .unwrap();
        let got = (store.position().await.unwrap(), store.dump().await.unwrap());
        store.close().await;
        got
    })
}

#[test]
fn serve_keeps_the_state_current_and_a_rebuild_agrees() {
    let a = Archive::initialised();
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
    a.ok(&[
        "ingest",
        &a.write("d.jsonl", line("m1", "me chama no Telegram", 4)),
    ]);
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(["--data", a.data.to_str().unwrap(), "serve", "--listen"])
        .arg(listen.to_string())
        .env("CUSTOS_ACTOR", "tester")
        .env_remove("CUSTOS_STATE_URL")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::net::TcpStream::connect(listen).is_err() {
        assert!(std::time::Instant::now() < deadline, "serve never listened");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The projector thread takes the archive in.
    let served = loop {
        let (position, rows) = rows(&a);
        if position > 0 && rows.iter().any(|r| r.starts_with("alerts:")) {
            break rows;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the state never caught up"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(server.wait().unwrap().success());
    assert!(
        served
            .iter()
            .any(|r| r.starts_with("custodians:") && r.contains("Rita Lopes"))
    );
    // From nothing, the same rows.
    a.ok(&["rebuild", "state"]);
    assert_eq!(rows(&a).1, served);
}

/// `GET path` on `addr` with a bearer token: (status, body).
fn get(addr: std::net::SocketAddr, path: &str, token: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn serve_lists_holds_and_users_from_the_state_database() {
    let a = Archive::initialised();
    let out = a.ok(&[
        "hold",
        "place",
        "SEC inquiry",
        "--reason",
        "subpoena 24-113",
        "--participant",
        "+55 11 98888-7777",
    ]);
    let hold = out.split_whitespace().nth(1).unwrap().to_string();
    assert!(hold.starts_with("LH-"), "{out}");
    let mut tokens = Vec::new();
    for (user, role) in [("aud", "auditor"), ("adam", "admin")] {
        let added = crate::users::with_stdin(
            &a,
            &["user", "add", user, "--name", user, "--role", role],
            "correct horse battery staple\n",
        );
        assert!(added.status.success(), "{added:?}");
        let made = a.ok(&["token", "create", "--user", user, "--expires", "1d"]);
        tokens.push(made.lines().nth(1).unwrap().to_string());
    }
    let (auditor, admin) = (&tokens[0], &tokens[1]);
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(["--data", a.data.to_str().unwrap(), "serve", "--listen"])
        .arg(listen.to_string())
        .env("CUSTOS_ACTOR", "tester")
        .env_remove("CUSTOS_STATE_URL")
        .env_remove("CUSTOS_KEK")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::net::TcpStream::connect(listen).is_err() {
        assert!(std::time::Instant::now() < deadline, "serve never listened");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The hold placed before the start is listed (the read waits for the
    // projector to take the archive in); the admin sees it too.
    let (status, body) = get(listen, "/api/v1/holds?state=active", auditor);
    let (admin_status, admin_body) = get(listen, "/api/v1/holds?limit=1", admin);
    let (users_status, users) = get(listen, "/api/v1/users", admin);
    let (refused, _) = get(listen, "/api/v1/users", auditor);
    let (bad, problem) = get(listen, "/api/v1/holds?cursor=bm9wZQ", auditor);
    std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(server.wait().unwrap().success());

    assert_eq!(status, 200, "{body}");
    let holds: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(holds["holds"][0]["id"], hold.as_str(), "{holds}");
    assert_eq!(holds["holds"][0]["participants"], json!(["+5511988887777"]));
    assert_eq!(holds["next_cursor"], serde_json::Value::Null);
    assert_eq!(admin_status, 200, "{admin_body}");
    assert_eq!(users_status, 200, "{users}");
    let users: serde_json::Value = serde_json::from_str(&users).unwrap();
    let ids: Vec<&str> = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["adam", "aud"]);
    assert_eq!(users["users"][1]["roles"], json!(["auditor"]));
    assert_eq!(users["users"][1]["tokens"].as_array().unwrap().len(), 1);
    let text = users.to_string();
    assert!(!text.contains("argon2"), "{text}");
    assert!(
        !text.contains(auditor.rsplit('_').next().unwrap()),
        "a token secret in {text}"
    );
    assert_eq!(refused, 403);
    assert_eq!(bad, 400, "{problem}");
    assert!(problem.contains("\"parameter\":\"cursor\""), "{problem}");
}
