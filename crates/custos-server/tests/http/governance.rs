//! Governance at capture, over real HTTP on loopback: opt-out
//! confirmations (WhatsApp through a local server speaking the Cloud API,
//! Twilio through TwiML in the webhook's answer), enrolment enforcement
//! (`capture.refused`, the raw delivery kept, 200 to the sender), and the
//! consent API.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use custos_journal::{Journal, Opened};
use custos_model::{Event, Message, SystemEvent, Timestamp};
use custos_server::confirm::Confirmations;
use custos_server::enrolment::Enrolment;
use custos_server::media::{MediaQueue, Retry};
use custos_server::twilio::{Twilio, TwilioConfig};
use custos_server::{AppState, ConsentConfig, Secret, WhatsAppConfig};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "gov-test-secret";
const TOKEN: &str = "graph-token";
const PHONE_ID: &str = "106540352242922";
/// The business number custodian E1 holds.
const ENROLLED: &str = "447700900001";
const UNENROLLED: &str = "447700900999";
const CUSTOMER: &str = "5511988887777";
const TWILIO_TOKEN: &str = "2bd9e9638872de601313dc77410d3b23";
const TWILIO_URL: &str = "https://archive.example.com/webhooks/twilio";

#[derive(Clone, Default)]
struct Graph {
    sent: Arc<Mutex<Vec<serde_json::Value>>>,
    fail: Arc<Mutex<bool>>,
}

async fn messages(
    State(g): State<Graph>,
    Path(phone): Path<String>,
    axum::Json(mut body): axum::Json<serde_json::Value>,
) -> (StatusCode, axum::Json<serde_json::Value>) {
    body["_from_phone_number_id"] = phone.into();
    if *g.fail.lock().unwrap() {
        let error = serde_json::json!({"error": {"message": "(#131047) Re-engagement message", "code": 131047}});
        return (StatusCode::BAD_REQUEST, axum::Json(error));
    }
    let mut sent = g.sent.lock().unwrap();
    sent.push(body.clone());
    let wamid = format!("wamid.CONF{}", sent.len());
    (
        StatusCode::OK,
        axum::Json(
            serde_json::json!({"messaging_product": "whatsapp", "messages": [{"id": wamid}]}),
        ),
    )
}

struct Setup {
    _dir: tempfile::TempDir,
    journal: Journal,
    graph: Graph,
    base: String,
    client: reqwest::Client,
    /// A CRM integration's token (records consent and sends).
    crm: String,
    /// The data-protection officer's token.
    dpo: String,
}

async fn setup(require_enrolment: bool) -> Setup {
    let graph = Graph::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let graph_url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/{phone}/messages", axum::routing::post(messages))
        .with_state(graph.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(dir.path(), None, "test").unwrap();
    let config = WhatsAppConfig {
        app_secret: Secret::new(SECRET),
        verify_token: Secret::new("v"),
        access_token: Secret::new(TOKEN),
        graph_url,
        phone_number_id: PHONE_ID.into(),
    };
    let mut users = custos_auth::Users::default();
    let crm = crate::grant(
        &journal,
        &mut users,
        "crm-sync",
        &[
            custos_auth::Role::ComplianceOfficer,
            custos_auth::Role::Agent,
        ],
        &[],
        Some("emp-crm"),
    );
    let dpo = crate::grant(
        &journal,
        &mut users,
        "dpo",
        &[custos_auth::Role::Dpo],
        &[],
        None,
    );
    let mut state = AppState::new(journal.clone(), config, MediaQueue::disabled())
        .unwrap()
        .with_auth(crate::auth_of(&journal, users));
    let consent = ConsentConfig {
        opt_out_keywords: vec!["Não quero mais".into()],
        confirmation_language: Some("pt".into()),
        ..ConsentConfig::default()
    };
    state.confirmations = Arc::new(Confirmations::from_config(&consent));
    state.enrolment = Arc::new(Enrolment::new(
        require_enrolment,
        [ENROLLED.to_string(), "+14158141819".to_string()],
    ));
    let j = journal.clone();
    let twilio = tokio::task::spawn_blocking(move || {
        Twilio::open(
            &j,
            TwilioConfig {
                auth_token: Secret::new(TWILIO_TOKEN),
                account_sid: String::new(),
                public_url: TWILIO_URL.into(),
            },
            consent.opt_out_keywords.clone(),
            Retry::default(),
        )
    })
    .await
    .unwrap()
    .unwrap();
    state.twilio = Arc::new(twilio);
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
        client: reqwest::Client::new(),
        crm,
        dpo,
    }
}

fn delivery(business: &str, wamid: &str, text: &str) -> String {
    let now = Timestamp::now().as_micros() / 1_000_000;
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"{business}","phone_number_id":"{PHONE_ID}"}},"contacts":[{{"profile":{{"name":"Ana"}},"wa_id":"{CUSTOMER}"}}],"messages":[{{"from":"{CUSTOMER}","id":"{wamid}","timestamp":"{now}","type":"text","text":{{"body":"{text}"}}}}]}}}}]}}]}}"#
    )
}

impl Setup {
    async fn webhook(&self, body: String) -> u16 {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
        let signature = format!(
            "sha256={}",
            hex::encode(ring::hmac::sign(&key, body.as_bytes()).as_ref())
        );
        self.client
            .post(format!("{}/webhooks/whatsapp", self.base))
            .header("X-Hub-Signature-256", signature)
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Posts Twilio form parameters, signed; the status, content type and body.
    async fn twilio(&self, params: &[(&str, &str)]) -> (u16, String, String) {
        let owned: Vec<(String, String)> = params
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let signature = custos_server::twilio::signature(TWILIO_TOKEN, TWILIO_URL, &owned);
        let body = url_encode(params);
        let r = self
            .client
            .post(format!("{}/webhooks/twilio", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", signature)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, content_type, r.text().await.unwrap())
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

    fn messages(&self) -> Vec<Message> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    fn system(&self, action: &str) -> Vec<SystemEvent> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::System(s) if s.action == action => Some(s),
                _ => None,
            })
            .collect()
    }

    /// Waits until `f` holds (the confirmation is sent after the answer).
    async fn until(&self, what: &str, f: impl Fn(&Setup) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !f(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn url_encode(params: &[(&str, &str)]) -> String {
    let escape = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    params
        .iter()
        .map(|(n, v)| format!("{}={}", escape(n), escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn confirmations(s: &Setup) -> Vec<Message> {
    s.messages()
        .into_iter()
        .filter(|m| m.extra.contains_key("opt_out_confirmation"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whatsapp_keyword_opt_out_is_confirmed_in_the_party_language_and_journalled() {
    let s = setup(false).await;
    // Written to the WABA's second number: the confirmation leaves from it.
    let second = |body: String| body.replace(PHONE_ID, "106540352242999");
    assert_eq!(
        s.webhook(second(delivery(ENROLLED, "wamid.IN1", "PARAR")))
            .await,
        200
    );
    s.until("the confirmation", |s| confirmations(s).len() == 1)
        .await;
    let sent = s.graph.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["to"], CUSTOMER);
    assert_eq!(sent[0]["type"], "text");
    assert_eq!(sent[0]["_from_phone_number_id"], "106540352242999");
    let text = sent[0]["text"]["body"].as_str().unwrap().to_string();
    assert!(text.contains("descadastro"), "Portuguese text: {text}");
    let c = &confirmations(&s)[0];
    assert_eq!(c.source_id, "wamid.CONF1");
    assert_eq!(c.text.as_deref(), Some(text.as_str()));
    assert_eq!(c.recipients, [CUSTOMER]);
    assert_eq!(c.conversation, format!("106540352242999:{CUSTOMER}"));
    assert_eq!(c.extra["opt_out_confirmation"]["in_reply_to"], "wamid.IN1");
    assert_eq!(c.extra["opt_out_confirmation"]["language"], "pt");

    // A retried delivery confirms nothing again; an ordinary message neither.
    assert_eq!(
        s.webhook(second(delivery(ENROLLED, "wamid.IN1", "PARAR")))
            .await,
        200
    );
    assert_eq!(
        s.webhook(delivery(ENROLLED, "wamid.IN2", "stop the transfer"))
            .await,
        200
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.graph.sent.lock().unwrap().len(), 1);

    // A failure to send is journalled, never silent.
    *s.graph.fail.lock().unwrap() = true;
    assert_eq!(
        s.webhook(delivery(ENROLLED, "wamid.IN3", "Stop")).await,
        200
    );
    s.until("the failure on record", |s| {
        !s.system("whatsapp.send.failed").is_empty()
    })
    .await;
    let failed = &s.system("whatsapp.send.failed")[0];
    assert_eq!(failed.actor, "custos.opt-out-confirmation");
    assert_eq!(failed.target.as_deref(), Some(CUSTOMER));
    assert!(
        failed.details["reason"]
            .as_str()
            .unwrap()
            .contains("131047")
    );
    assert_eq!(failed.details["opt_out_confirmation"]["keyword"], "STOP");
    assert_eq!(failed.details["opt_out_confirmation"]["language"], "en");
    assert_eq!(confirmations(&s).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_answers_a_keyword_opt_out_with_twiml_and_journals_it() {
    let s = setup(false).await;
    let (status, content_type, body) = s
        .twilio(&[
            ("MessageSid", "SMdddd0000000000000000000000000001"),
            ("From", "+5511988887777"),
            ("To", "+14158141819"),
            ("Body", "Sair"),
        ])
        .await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/xml"), "{content_type}");
    assert!(
        body.contains("<Response><Message>Pedido de descadastro recebido"),
        "{body}"
    );
    let c = confirmations(&s);
    assert_eq!(c.len(), 1, "the reply is on record before the answer");
    assert_eq!(c[0].source_id, "twiml:SMdddd0000000000000000000000000001");
    assert_eq!(c[0].channel, "sms");
    assert_eq!(c[0].sender, "+14158141819");
    assert_eq!(c[0].recipients, ["+5511988887777"]);
    assert_eq!(c[0].extra["opt_out_confirmation"]["delivery"], "twiml");

    // Twilio answers its own STOP on SMS: custos adds no reply.
    let (status, content_type, body) = s
        .twilio(&[
            ("MessageSid", "SMdddd0000000000000000000000000002"),
            ("From", "+5511988887778"),
            ("To", "+14158141819"),
            ("Body", "STOP"),
        ])
        .await;
    assert_eq!(status, 200);
    assert!(!content_type.contains("xml") && body.is_empty(), "{body}");
    // On WhatsApp through Twilio, STOP is confirmed (Twilio does not).
    let (_, _, body) = s
        .twilio(&[
            ("MessageSid", "SMdddd0000000000000000000000000003"),
            ("From", "whatsapp:+447700900555"),
            ("To", "whatsapp:+14158141819"),
            ("Body", "stop"),
        ])
        .await;
    assert!(body.contains("unsubscribed"), "{body}");
    assert_eq!(confirmations(&s).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_on_an_unenrolled_number_is_refused_kept_and_flagged() {
    let s = setup(true).await;
    assert_eq!(
        s.webhook(delivery(ENROLLED, "wamid.E1", "Bom dia")).await,
        200
    );
    assert_eq!(
        s.webhook(delivery(UNENROLLED, "wamid.U1", "Bom dia")).await,
        200
    );
    let messages = s.messages();
    assert_eq!(messages.len(), 1, "only the enrolled number's message");
    assert_eq!(messages[0].source_id, "wamid.E1");
    let refused = s.system("capture.refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].target.as_deref(), Some("+447700900999"));
    assert_eq!(refused[0].details["channel"], "whatsapp");
    assert_eq!(refused[0].details["source_ids"][0], "wamid.U1");
    assert!(
        refused[0].details["reason"]
            .as_str()
            .unwrap()
            .contains("no enrolled custodian")
    );
    // The evidence stays: the raw delivery is in the archive.
    let raws: Vec<Vec<u8>> = s
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Raw(r) => Some(r.bytes),
            _ => None,
        })
        .collect();
    assert_eq!(raws.len(), 2);
    assert!(String::from_utf8_lossy(&raws[1]).contains("wamid.U1"));
    // An opt-out to an unenrolled number gets no confirmation either.
    assert_eq!(
        s.webhook(delivery(UNENROLLED, "wamid.U2", "STOP")).await,
        200
    );

    // Twilio: the same, with 200 and no reply.
    let (status, _, body) = s
        .twilio(&[
            ("MessageSid", "SMeeee0000000000000000000000000001"),
            ("From", "+5511988887777"),
            ("To", "+14150000000"),
            ("Body", "Sair"),
        ])
        .await;
    assert_eq!((status, body.as_str()), (200, ""));
    let refused = s.system("capture.refused");
    assert_eq!(refused.len(), 3);
    assert_eq!(refused[2].target.as_deref(), Some("+14150000000"));
    assert_eq!(refused[2].details["channel"], "twilio");
    assert_eq!(s.messages().len(), 1);
    assert!(
        s.events().iter().all(|e| !matches!(e, Event::Consent(_))),
        "no consent change attributed through an unenrolled number"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(s.graph.sent.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_is_recorded_with_its_evidence_and_its_history_read_on_record() {
    let s = setup(false).await;
    let post = |body: serde_json::Value| {
        s.client
            .post(format!("{}/api/v1/consent", s.base))
            .bearer_auth(&s.crm)
            .json(&body)
            .send()
    };
    let r = post(serde_json::json!({
        "party": "+55 11 98888-7777", "state": "opt_in", "source": "web-form",
        "text": "I agree to receive messages about my account on WhatsApp",
        "captured_by": "agent-17", "at": "2026-03-01T10:00:00Z"
    }))
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let created: serde_json::Value = r.json().await.unwrap();
    assert_eq!(created["change"]["recorded_by"], "crm-sync");
    assert_eq!(
        created["change"]["evidence"],
        "web-form: I agree to receive messages about my account on WhatsApp (captured by agent-17)"
    );
    // Sending now passes the consent rule (and fails on the window: 409
    // naming the window, not consent).
    let r = s
        .client
        .post(format!("{}/api/v1/whatsapp/messages", s.base))
        .bearer_auth(&s.crm)
        .json(&serde_json::json!({"to": CUSTOMER, "text": "hello"}))
        .send()
        .await
        .unwrap();
    let problem: serde_json::Value = r.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("24-hour"),
        "{problem}"
    );

    for (body, field) in [
        (
            serde_json::json!({"party": "+5511988887777", "state": "opt_in", "source": " ", "text": "x"}),
            "source",
        ),
        (
            serde_json::json!({"party": "+5511988887777", "state": "opt_in", "source": "form", "text": "x", "at": "2999-01-01T00:00:00Z"}),
            "at",
        ),
        (
            serde_json::json!({"party": "+5511988887777", "state": "opt_in", "source": "form", "text": ""}),
            "text",
        ),
    ] {
        let r = post(body).await.unwrap();
        assert_eq!(r.status().as_u16(), 400);
        let problem: serde_json::Value = r.json().await.unwrap();
        assert_eq!(problem["field"], field, "{problem}");
    }
    let r = s
        .client
        .get(format!("{}/api/v1/consent/5511988887777", s.base))
        .bearer_auth(&s.dpo)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let shown: serde_json::Value = r.json().await.unwrap();
    assert_eq!(shown["current"]["whatsapp"], "opt_in");
    assert_eq!(shown["history"].as_array().unwrap().len(), 1);
    assert_eq!(shown["history"][0]["at"], "2026-03-01T10:00:00Z");
    let reads = s.system("content.read");
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].actor, "dpo");
}
