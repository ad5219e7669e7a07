//! Sending through a local server speaking the Cloud API's documented
//! `POST /{phone-number-id}/messages`: consent, the 24-hour window, the
//! pre-send seam, and the record of every attempt.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use custos_journal::{Journal, Opened};
use custos_model::{ConsentChange, ConsentState, Event, Timestamp};
use custos_server::media::MediaQueue;
use custos_server::outbound::PreSendCheck;
use custos_server::{AppState, Secret, WhatsAppConfig};
use std::sync::{Arc, Mutex};

const SECRET: &str = "send-test-secret";
const TOKEN: &str = "graph-token";
const PHONE_ID: &str = "106540352242922";
const CUSTOMER: &str = "5511988887777";

#[derive(Clone, Default)]
struct Graph {
    sent: Arc<Mutex<Vec<serde_json::Value>>>,
    fail: Arc<Mutex<bool>>,
}

async fn messages(
    State(g): State<Graph>,
    Path(phone): Path<String>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> (StatusCode, axum::Json<serde_json::Value>) {
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok());
    if bearer != Some(&format!("Bearer {TOKEN}")) || phone != PHONE_ID {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error": {"code": 190}})),
        );
    }
    if *g.fail.lock().unwrap() {
        let error = serde_json::json!({"error": {"message": "(#131026) Message undeliverable", "code": 131026}});
        return (StatusCode::BAD_REQUEST, axum::Json(error));
    }
    let mut sent = g.sent.lock().unwrap();
    sent.push(body.clone());
    let wamid = format!("wamid.OUT{}", sent.len());
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": body["to"], "wa_id": body["to"]}],
            "messages": [{"id": wamid}],
        })),
    )
}

#[derive(Debug)]
struct NoGuarantees;

impl PreSendCheck for NoGuarantees {
    fn check(&self, _to: &str, text: &str) -> Result<(), String> {
        if text.to_lowercase().contains("guaranteed") {
            Err("promises of guaranteed returns are not allowed".into())
        } else {
            Ok(())
        }
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    journal: Journal,
    graph: Graph,
    base: String,
    token: String,
}

async fn setup(consent: Option<ConsentState>) -> Setup {
    let graph = Graph::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let graph_url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/{phone}/messages", axum::routing::post(messages))
        .with_state(graph.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(dir.path(), None, "test").unwrap();
    if let Some(state) = consent {
        let change = Event::Consent(ConsentChange {
            channel: "whatsapp".into(),
            party: format!("+{CUSTOMER}"),
            state,
            evidence: "opt-in form 2026-03-01, checkbox ticked".into(),
            at: Timestamp::now(),
            recorded_by: "crm-import".into(),
        });
        journal.append(&change, Some(CUSTOMER)).unwrap();
    }
    let config = WhatsAppConfig {
        app_secret: Secret::new(SECRET),
        verify_token: Secret::new("v"),
        access_token: Secret::new(TOKEN),
        graph_url,
        phone_number_id: PHONE_ID.into(),
    };
    let mut users = custos_auth::Users::default();
    let token = crate::grant(
        &journal,
        &mut users,
        "agent-7",
        &[custos_auth::Role::Agent],
        &[],
        Some("emp-7"),
    );
    let mut state = AppState::new(journal.clone(), config, MediaQueue::disabled())
        .unwrap()
        .with_auth(crate::auth_of(&journal, users));
    state.pre_send = Arc::new(NoGuarantees);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(custos_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    Setup {
        _dir: dir,
        journal,
        graph,
        base,
        token,
    }
}

impl Setup {
    async fn send(&self, body: serde_json::Value) -> (u16, serde_json::Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/api/v1/whatsapp/messages", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn webhook(&self, body: String) {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
        let signature = format!(
            "sha256={}",
            hex::encode(ring::hmac::sign(&key, body.as_bytes()).as_ref())
        );
        let r = reqwest::Client::new()
            .post(format!("{}/webhooks/whatsapp", self.base))
            .header("X-Hub-Signature-256", signature)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }

    fn events(&self) -> Vec<Event> {
        self.journal
            .entries(0)
            .filter_map(|e| match self.journal.open_entry(&e.unwrap()).unwrap() {
                Opened::Event(e) => Some(e),
                Opened::Shredded(_) => None,
            })
            .collect()
    }

    fn actions(&self, action: &str) -> usize {
        self.events()
            .iter()
            .filter(|e| matches!(e, Event::System(s) if s.action == action))
            .count()
    }
}

fn envelope(value: &str) -> String {
    envelope_of("messages", value)
}

fn envelope_of(field: &str, value: &str) -> String {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"{field}","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"447700900001","phone_number_id":"{PHONE_ID}"}},{value}}}}}]}}]}}"#
    )
}

fn inbound_text(wamid: &str) -> String {
    let now = Timestamp::now().as_micros() / 1_000_000;
    envelope(&format!(
        r#""contacts":[{{"profile":{{"name":"Ana"}},"wa_id":"{CUSTOMER}"}}],"messages":[{{"from":"{CUSTOMER}","id":"{wamid}","timestamp":"{now}","type":"text","text":{{"body":"Oi, pode me mandar a proposta?"}}}}]"#
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_consent_nothing_is_sent_and_the_refusal_is_on_record() {
    let s = setup(None).await;
    let (status, problem) = s
        .send(serde_json::json!({"to": CUSTOMER, "text": "hello"}))
        .await;
    assert_eq!(status, 409);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("no WhatsApp consent"),
        "{problem}"
    );
    assert!(s.graph.sent.lock().unwrap().is_empty());
    assert_eq!(s.actions("whatsapp.send.refused"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_the_window_only_templates_go_and_inside_it_text_does() {
    let s = setup(Some(ConsentState::OptIn)).await;
    let (status, problem) = s
        .send(serde_json::json!({"to": CUSTOMER, "text": "hello"}))
        .await;
    assert_eq!(status, 409);
    assert!(
        problem["detail"].as_str().unwrap().contains("24-hour"),
        "{problem}"
    );

    let template = serde_json::json!({"name": "account_update", "language": {"code": "pt_BR"}});
    let (status, answer) = s
        .send(serde_json::json!({"to": CUSTOMER, "template": template, "sender": "agent-7"}))
        .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["id"], "wamid.OUT1");
    let sent = s.graph.sent.lock().unwrap().clone();
    assert_eq!(sent[0]["type"], "template");
    assert_eq!(sent[0]["messaging_product"], "whatsapp");
    assert_eq!(sent[0]["to"], CUSTOMER);

    // The customer writes: the window opens.
    s.webhook(inbound_text("wamid.IN1")).await;
    let (status, answer) = s
        .send(serde_json::json!({"to": CUSTOMER, "text": "Segue a proposta."}))
        .await;
    assert_eq!(status, 201, "{answer}");
    let media = serde_json::json!({"type": "document", "link": "https://example.com/proposta.pdf", "filename": "proposta.pdf", "caption": "A proposta"});
    let (status, answer) = s
        .send(serde_json::json!({"to": CUSTOMER, "media": media}))
        .await;
    assert_eq!(status, 201, "{answer}");
    let sent = s.graph.sent.lock().unwrap().clone();
    assert_eq!(sent[2]["type"], "document");
    assert_eq!(
        sent[2]["document"]["link"],
        "https://example.com/proposta.pdf"
    );
    assert_eq!(sent[2]["document"]["filename"], "proposta.pdf");
    assert!(
        sent[2]["document"].get("type").is_none(),
        "the kind is not repeated inside the object"
    );

    // Both outbound messages are journalled under Meta's wamid, and a later
    // status links to them.
    let outbound: Vec<_> = s
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(m) if m.direction == custos_model::Direction::Outbound => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(outbound.len(), 3);
    assert_eq!(
        outbound[2].text.as_deref(),
        Some("A proposta"),
        "a caption is the text on record"
    );
    assert_eq!(outbound[0].source_id, "wamid.OUT1");
    assert_eq!(outbound[0].extra["sent_by"], "agent-7");
    assert_eq!(outbound[1].text.as_deref(), Some("Segue a proposta."));
    let status = envelope(&format!(
        r#""statuses":[{{"id":"wamid.OUT2","status":"delivered","timestamp":"1749416400","recipient_id":"{CUSTOMER}"}}]"#
    ));
    s.webhook(status).await;
    let linked = s
        .events()
        .into_iter()
        .any(|e| matches!(e, Event::Status(st) if st.target == "wamid.OUT2"));
    assert!(linked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opt_out_stops_sending_and_the_policy_seam_can_block() {
    let s = setup(Some(ConsentState::OptIn)).await;
    s.webhook(inbound_text("wamid.IN2")).await;
    let (status, problem) = s
        .send(serde_json::json!({"to": CUSTOMER, "text": "A guaranteed 12% return!"}))
        .await;
    assert_eq!(status, 422);
    assert!(
        problem["detail"].as_str().unwrap().contains("guaranteed"),
        "{problem}"
    );
    assert!(s.graph.sent.lock().unwrap().is_empty());

    // Meta reports the customer stopped marketing messages.
    let stop = envelope_of(
        "user_preferences",
        &format!(
            r#""user_preferences":[{{"wa_id":"{CUSTOMER}","detail":"User requested to stop marketing messages","category":"marketing_messages","value":"stop","timestamp":1749416500}}]"#
        ),
    );
    s.webhook(stop).await;
    let (status, problem) = s
        .send(serde_json::json!({"to": CUSTOMER, "text": "hello"}))
        .await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("opted out"),
        "{problem}"
    );
    assert_eq!(s.actions("whatsapp.send.refused"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_api_failure_is_a_bad_gateway_and_is_journalled() {
    let s = setup(Some(ConsentState::OptIn)).await;
    *s.graph.fail.lock().unwrap() = true;
    let template = serde_json::json!({"name": "hello_world", "language": {"code": "en_US"}});
    let (status, problem) = s
        .send(serde_json::json!({"to": CUSTOMER, "template": template}))
        .await;
    assert_eq!(status, 502);
    assert!(
        problem["detail"].as_str().unwrap().contains("131026"),
        "{problem}"
    );
    assert_eq!(s.actions("whatsapp.send.failed"), 1);
    let (status, _) = s.send(serde_json::json!({"to": CUSTOMER})).await;
    assert_eq!(status, 400, "exactly one of text, template or media");
}
