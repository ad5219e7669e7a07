//! `custos serve --log-format json` end to end: readiness, `/metrics`
//! behind `CUSTOS_METRICS_TOKEN`, the public OpenAPI document, and a JSON
//! request log that names the route and principal but never a search's
//! terms or reason.

use crate::common::Archive;
use serde_json::Value;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery staple";
const SCRAPER: &str = "e2e-scraper-token-42";

/// A plain HTTP/1.1 GET (the test has no HTTP client): status and body.
fn get(addr: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
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
fn serve_logs_json_without_search_terms_and_serves_metrics_to_its_scraper() {
    let a = Archive::initialised();
    let mut add = Command::new(env!("CARGO_BIN_EXE_custos"))
        .arg("--data")
        .arg(&a.data)
        .args([
            "user",
            "add",
            "rita",
            "--name",
            "Rita",
            "--role",
            "compliance-officer",
        ])
        .env("CUSTOS_ACTOR", "tester")
        .env_remove("CUSTOS_KEK")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(add.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    assert!(add.wait().unwrap().success());
    let made = a.ok(&["token", "create", "--user", "rita", "--expires", "1d"]);
    let token = made.lines().nth(1).unwrap().to_string();

    let log_path = a.tmp.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_custos"))
        .arg("--data")
        .arg(&a.data)
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .env("CUSTOS_ACTOR", "tester")
        .env("CUSTOS_METRICS_TOKEN", SCRAPER)
        .env_remove("CUSTOS_KEK")
        .env_remove("CUSTOS_LOG")
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = loop {
        let text = std::fs::read_to_string(&log_path).unwrap();
        if let Some(addr) = text
            .lines()
            .find_map(|l| l.split_once(" on http://").map(|(_, a)| a.to_string()))
        {
            break addr;
        }
        if Instant::now() > deadline {
            server.kill().unwrap();
            panic!("serve never listened:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(get(&addr, "/healthz", None).0, 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = get(&addr, "/readyz", None);
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "never ready: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, doc) = get(&addr, "/api/v1/openapi.json", None);
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    assert!(doc["paths"]["/api/v1/search"]["get"].is_object());

    let (status, body) = get(
        &addr,
        "/api/v1/search?q=quokkablanket&reason=hushhushreason",
        Some(&token),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(get(&addr, "/metrics", None).0, 401);
    let (status, metrics) = get(&addr, "/metrics", Some(SCRAPER));
    assert_eq!(status, 200);
    assert!(metrics.contains("custos_journal_entries "), "{metrics}");

    let stopped = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    assert!(server.wait().unwrap().success());
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        !text.contains("quokkablanket"),
        "search terms logged:\n{text}"
    );
    assert!(!text.contains("hushhushreason"), "reason logged:\n{text}");
    let requests: Vec<Value> = text
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &Value| l["target"] == "custos::request")
        .collect();
    let search = requests
        .iter()
        .find(|l| l["fields"]["route"] == "/api/v1/search")
        .unwrap_or_else(|| panic!("no request line for the search:\n{text}"));
    assert_eq!(search["fields"]["principal"], "rita");
    assert_eq!(search["fields"]["status"], 200);
    assert!(search["fields"]["latency_ms"].is_number());
    assert!(
        requests
            .iter()
            .any(|l| l["fields"]["route"] == "/metrics" && l["fields"]["principal"] == "-")
    );
}
