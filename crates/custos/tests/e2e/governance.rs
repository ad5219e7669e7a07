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

/// `custos serve --config FILE` on a free loopback port, stopped by SIGTERM
/// when dropped.
struct Serving {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl Serving {
    fn start(a: &Archive, config: &str, secret: &str) -> Serving {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let log = std::fs::File::create(a.tmp.path().join("serve.log")).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_custos"))
            .arg("--data")
            .arg(&a.data)
            .args(["serve", "--listen", &addr.to_string(), "--config", config])
            .env("CUSTOS_WHATSAPP_APP_SECRET", secret)
            .env("CUSTOS_ACTOR", "tester")
            .env_remove("CUSTOS_KEK")
            .env_remove("CUSTOS_DATA")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(std::time::Instant::now() < deadline, "serve did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Serving { child, addr }
    }

    fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(
            std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        assert!(self.child.wait().unwrap().success());
    }
}

#[test]
fn with_require_enrolment_capture_on_an_unenrolled_number_is_kept_and_listed() {
    use custos_bench::webhook::{self, Client};
    let a = Archive::initialised();
    a.ok(&[
        "custodian",
        "add",
        "E1",
        "--name",
        "Ana Lima",
        "--phone",
        "+1 555 000 1111",
        "--opted-in",
        "2026-01-02",
    ]);
    let config = a.write("custos.toml", "[capture]\nrequire_enrolment = true\n");
    let secret = "enrolment-secret";
    let server = Serving::start(&a, &config, secret);
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../custos-capture/tests/fixtures/whatsapp/text.json"),
    )
    .unwrap();
    let unenrolled = text
        .replace("15550001111", "15550009999")
        .replace("wamid.TEXT1", "wamid.ELSEWHERE1");
    let mut client = Client::connect(server.addr).unwrap();
    for body in [&text, &unenrolled] {
        let signature = webhook::sign(secret.as_bytes(), body.as_bytes());
        assert_eq!(client.deliver(&signature, body.as_bytes()).unwrap(), 200);
    }
    drop(client);
    server.stop();
    let log = a.log();
    let ids: Vec<&str> = log
        .iter()
        .filter(|e| e["kind"] == "message")
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["wamid.TEXT1"]);
    let refused: Vec<&Value> = log
        .iter()
        .filter(|e| e["action"] == "capture.refused")
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["target"], "+15550009999");
    assert_eq!(
        log.iter().filter(|e| e["kind"] == "raw").count(),
        2,
        "both deliveries kept"
    );
    let listed: Value =
        serde_json::from_str(a.ok(&["custodian", "unenrolled", "--json"]).trim()).unwrap();
    assert_eq!(listed["number"], "+15550009999");
    assert_eq!(listed["messages"], 1);
    assert_eq!(listed["channels"][0], "whatsapp");
    let text = a.ok(&["custodian", "unenrolled"]);
    assert!(
        text.starts_with("+15550009999  1 refusal(s), 1 message(s) on whatsapp"),
        "{text}"
    );
}
