//! The agent inbox in a real browser: WhatsApp messages arrive by signed
//! webhook at `custos serve`, replies leave through a local server
//! speaking the Cloud API's documented `POST /{phone-number-id}/messages`,
//! and statuses come back by webhook.
//!
//! Agent A (team A, custodian A1) signs in, finds the conversation that
//! arrived on A1's number in her inbox with one unread message, opens it,
//! replies (the reply leaves through the Graph server, with the
//! configured disclaimer), watches the ticks go from sent to delivered to
//! read as the status webhooks arrive (live, without reloading), is
//! refused with the reason shown when she sends a card number (nothing
//! leaves), and is offered only templates in a conversation whose 24-hour
//! window has closed. Agent B (team B, custodian B1) sees neither
//! conversation and gets 404 at its address and at its events stream.

use super::webdriver::Browser;
use super::{Pids, Server, Watchdog, actions, add_user_as, artefacts, sign_in, sign_out};
use crate::common::Archive;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};

const SECRET: &str = "inbox-browser-app-secret";
const TOKEN: &str = "inbox-browser-graph-token";
const PHONE_ID: &str = "106540352242922";
const LINE_A: &str = "447700900001";
const CUSTOMER: &str = "5511988887777";
const LATE_CUSTOMER: &str = "5511977776666";
const DISCLAIMER: &str = "Messages are recorded for regulatory purposes.";

/// A local server speaking the Cloud API's `POST /{id}/messages`: checks
/// the bearer token and the phone number id, keeps each body, answers
/// with `wamid.OUT<n>`.
struct Graph {
    url: String,
    sent: Arc<Mutex<Vec<Value>>>,
}

impl Graph {
    fn start() -> Graph {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let sent: Arc<Mutex<Vec<Value>>> = Arc::default();
        let kept = sent.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let kept = kept.clone();
                std::thread::spawn(move || answer(stream, &kept));
            }
        });
        Graph { url, sent }
    }

    fn sent(&self) -> Vec<Value> {
        self.sent.lock().unwrap().clone()
    }
}

/// One HTTP/1.1 exchange (the connection is closed after it).
fn answer(stream: std::net::TcpStream, sent: &Mutex<Vec<Value>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0usize;
    let mut bearer = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "authorization" => bearer = value.trim().to_string(),
                _ => {}
            }
        }
    }
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let expected_path = format!("/{PHONE_ID}/messages");
    let path = request_line.split(' ').nth(1).unwrap_or_default();
    let (status, reply) = if !request_line.starts_with("POST ")
        || path != expected_path
        || bearer != format!("Bearer {TOKEN}")
    {
        ("401 Unauthorized", json!({"error": {"code": 190}}))
    } else {
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let mut sent = sent.lock().unwrap();
        sent.push(body.clone());
        let wamid = format!("wamid.OUT{}", sent.len());
        (
            "200 OK",
            json!({
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                "messages": [{"id": wamid}],
            }),
        )
    };
    let reply = reply.to_string();
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    );
}

/// A webhook envelope from line A with this `value` content.
fn envelope(value: Value) -> String {
    let mut value = value;
    value["messaging_product"] = "whatsapp".into();
    value["metadata"] = json!({"display_phone_number": LINE_A, "phone_number_id": PHONE_ID});
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "104857600000001", "changes": [{"field": "messages", "value": value}]}],
    })
    .to_string()
}

fn inbound(wamid: &str, from: &str, name: &str, at: u64, text: &str) -> String {
    envelope(json!({
        "contacts": [{"profile": {"name": name}, "wa_id": from}],
        "messages": [{"from": from, "id": wamid, "timestamp": at.to_string(),
                      "type": "text", "text": {"body": text}}],
    }))
}

fn status(wamid: &str, state: &str, at: u64) -> String {
    envelope(json!({
        "statuses": [{"id": wamid, "status": state, "timestamp": at.to_string(),
                      "recipient_id": CUSTOMER}],
    }))
}

/// Posts a webhook signed with the app secret; it must be accepted.
fn webhook(server: &Server, body: &str) {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let signature = format!(
        "sha256={}",
        hex::encode(ring::hmac::sign(&key, body.as_bytes()).as_ref())
    );
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/webhooks/whatsapp", server.url))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(body.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "webhook refused: {:?}", r.text());
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Two custodians on two teams, both customers opted in, two agents.
fn archive(graph: &Graph) -> (Archive, String) {
    let a = Archive::initialised();
    for (id, name, phone, unit) in [
        ("A1", "Ana Arruda", "+44 7700 900001", "team-a"),
        ("B1", "Bruno Barros", "+44 7700 900002", "team-b"),
    ] {
        a.ok(&[
            "custodian",
            "add",
            id,
            "--name",
            name,
            "--phone",
            phone,
            "--opted-in",
            "2026-01-02",
            "--unit",
            unit,
        ]);
    }
    for customer in [CUSTOMER, LATE_CUSTOMER] {
        a.ok(&[
            "consent",
            "grant",
            &format!("+{customer}"),
            "--source",
            "web-form",
            "--text",
            "I agree to be contacted on WhatsApp about my account",
        ]);
    }
    add_user_as(
        &a,
        "agent-a",
        "Alice Agent",
        &["--role", "agent", "--custodian", "A1", "--unit", "team-a"],
    );
    add_user_as(
        &a,
        "agent-b",
        "Bob Agent",
        &["--role", "agent", "--custodian", "B1", "--unit", "team-b"],
    );
    let config = format!(
        r#"[whatsapp]
app_secret = "{SECRET}"
verify_token = "verify"
access_token = "{TOKEN}"
graph_url = "{}"
phone_number_id = "{PHONE_ID}"

[inbox]
canned = ["Thank you, I am looking into it now."]
disclaimer = "{DISCLAIMER}"
disclaimer_when = "first_of_day"
opt_in_template = "optin_whatsapp"
templates = [
  {{ name = "optin_whatsapp", language = "en", body = "May we contact you on WhatsApp? Reply YES or NO." }},
  {{ name = "follow_up", language = "en", body = "Hello, we have an update on your request. Reply to continue." }},
]
"#,
        graph.url
    );
    let path = a.write("custos.toml", config);
    (a, path)
}

#[test]
fn an_agent_replies_sees_ticks_is_refused_a_card_number_and_another_team_cannot_look() {
    let pids = Pids::default();
    let _watchdog = Watchdog::start(pids.clone());
    let dir = artefacts("inbox");
    println!("browser artefacts: {}", dir.display());
    let graph = Graph::start();
    let (a, config) = archive(&graph);
    let server = Server::start_with(&a, &pids, &["--config", &config]);

    // Two customers write to line A: one now, one 25 hours ago.
    let now = now_secs();
    webhook(
        &server,
        &inbound(
            "wamid.IN1",
            CUSTOMER,
            "Carla",
            now - 60,
            "Olá, preciso de ajuda com a minha fatura",
        ),
    );
    webhook(
        &server,
        &inbound(
            "wamid.LATE1",
            LATE_CUSTOMER,
            "Diego",
            now - 25 * 3600,
            "Can you call me tomorrow?",
        ),
    );

    let mut b = Browser::start(&dir, &pids);
    sign_in(&mut b, &server, "agent-a", "Alice Agent");
    // An agent's console opens on the inbox.
    let row = b.find_text("#inbox-list table.inbox tr", &format!("+{CUSTOMER}"));
    assert!(b.url().ends_with("/inbox"), "{}", b.url());
    assert!(b.text(&row).contains("open"), "{}", b.text(&row));
    b.find_text("#inbox-list tr.unread .unread-count", "1");
    b.find_text("#inbox-list table.inbox tr", &format!("+{LATE_CUSTOMER}"));
    b.screenshot("agent-a-inbox");

    // Open the conversation: the inbound message, consent and the window.
    let link = b.find_text("#inbox-list a", &format!("+{CUSTOMER}"));
    let conversation_path = b
        .attribute(&link, "href")
        .trim_start_matches(&server.url)
        .to_string();
    b.click(&link);
    b.find_text(
        "#thread li.bubble.in p.text",
        "preciso de ajuda com a minha fatura",
    );
    b.find_text("#consent", "opted in");
    let window = b.text(&b.find("#window"));
    assert!(
        window.contains("open") && window.contains("min"),
        "{window}"
    );
    b.screenshot("agent-a-conversation");

    // Reply: it leaves through the Graph API with the disclaimer.
    let field = b.find("#reply-text");
    b.fill(&field, "Claro! Vou verificar a sua fatura agora.");
    let send = b.find("#reply button[type=submit]");
    b.click(&send);
    let bubble = b.find_text("#thread li.bubble.out", "Vou verificar a sua fatura agora");
    assert!(b.text(&bubble).contains(DISCLAIMER), "{}", b.text(&bubble));
    b.find("#thread li.bubble.out .ticks.sent");
    let sent = graph.sent();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0]["to"], CUSTOMER);
    assert_eq!(sent[0]["type"], "text");
    let body = sent[0]["text"]["body"].as_str().unwrap();
    assert!(
        body.starts_with("Claro! Vou verificar a sua fatura agora.") && body.ends_with(DISCLAIMER),
        "{body}"
    );
    b.screenshot("agent-a-sent");

    // The statuses arrive by webhook; the ticks change without a reload.
    let marker = b.find("#reply-text");
    webhook(&server, &status("wamid.OUT1", "delivered", now));
    b.find("#thread li.bubble.out[data-wamid='wamid.OUT1'] .ticks.delivered");
    b.screenshot("agent-a-delivered");
    webhook(&server, &status("wamid.OUT1", "read", now + 1));
    b.find("#thread li.bubble.out[data-wamid='wamid.OUT1'] .ticks.read");
    // Still the same page: the composer element is the one found before.
    assert_eq!(b.attribute(&marker, "id"), "reply-text");
    b.screenshot("agent-a-read");

    // A card number is refused before it leaves, with the reason shown.
    let field = b.find("#reply-text");
    b.fill(&field, "Pode pagar com o cartão 4111 1111 1111 1111");
    let send = b.find("#reply button[type=submit]");
    b.click(&send);
    let refusal = b.text(&b.find("#refusal"));
    assert!(
        refusal.contains("blocked by policy") && refusal.contains("pii-leak"),
        "{refusal}"
    );
    assert_eq!(graph.sent().len(), 1, "nothing more left");
    b.screenshot("agent-a-refused");

    // The late conversation: the window has closed, only templates.
    b.goto(&format!("{}/inbox", server.url));
    let link = b.find_text("#inbox-list a", &format!("+{LATE_CUSTOMER}"));
    let late_path = b
        .attribute(&link, "href")
        .trim_start_matches(&server.url)
        .to_string();
    b.click(&link);
    b.find_text("#thread li.bubble.in p.text", "Can you call me tomorrow?");
    b.find_text("#window", "only approved templates may be sent");
    let text = b.find("#reply-text");
    assert_eq!(
        b.attribute(&text, "disabled"),
        "true",
        "the free-text box is disabled"
    );
    let options: Vec<String> = b
        .all("#template option")
        .iter()
        .map(|o| b.attribute(o, "value"))
        .collect();
    assert_eq!(options, vec!["optin_whatsapp", "follow_up"]);
    b.screenshot("agent-a-window-closed");
    // The template goes out through the Graph API.
    let option = b.find("#template option[value='follow_up']");
    b.click(&option);
    let send = b.find("#template-form button[type=submit]");
    b.click(&send);
    b.find_text("#thread li.bubble.out", "[template follow_up]");
    let sent = graph.sent();
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert_eq!(sent[1]["type"], "template");
    assert_eq!(sent[1]["template"]["name"], "follow_up");
    assert_eq!(sent[1]["to"], LATE_CUSTOMER);
    b.screenshot("agent-a-template-sent");

    // Back in the inbox, nothing is unread any more.
    b.goto(&format!("{}/inbox", server.url));
    b.find_text("#inbox-list table.inbox tr", &format!("+{CUSTOMER}"));
    assert!(b.all("#inbox-list tr.unread").is_empty(), "{}", b.html());
    sign_out(&mut b, "agent-a");

    // Agent B, of another team and number: nothing of A's, 404s.
    sign_in(&mut b, &server, "agent-b", "Bob Agent");
    b.find_text("#inbox-list p.empty", "No conversations");
    assert!(!b.html().contains(CUSTOMER));
    for path in [
        conversation_path.clone(),
        format!("{conversation_path}/events"),
        format!("{conversation_path}/thread"),
        late_path.clone(),
    ] {
        b.goto(&format!("{}{path}", server.url));
        b.find_text("main.error p.status", "404");
        assert!(!b.html().contains("fatura"), "{path}");
    }
    b.screenshot("agent-b-404");
    b.goto(&format!("{}/inbox", server.url));
    sign_out(&mut b, "agent-b");
    drop(b);
    server.stop();

    // The journal: the reads, the sends and the refusal, under agent A.
    let log = a.log();
    let opened = actions(&log, "inbox.opened");
    assert!(
        opened
            .iter()
            .any(|e| e["actor"] == "agent-a" && e["details"]["marks_read"] == true),
        "{opened:#?}"
    );
    assert!(
        !opened.iter().any(|e| e["actor"] == "agent-b"),
        "{opened:#?}"
    );
    let refused = actions(&log, "whatsapp.send.refused");
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0]["details"]["sent_by"], "agent-a");
    assert!(
        refused[0]["details"]["reason"]
            .as_str()
            .unwrap()
            .contains("pii-leak")
    );
    let outbound: Vec<Value> = a
        .messages()
        .into_iter()
        .filter(|m| m["direction"] == "outbound")
        .collect();
    assert_eq!(outbound.len(), 2, "{outbound:#?}");
    assert!(
        outbound.iter().all(|m| m["sent_by"] == "agent-a"),
        "{outbound:#?}"
    );
}
