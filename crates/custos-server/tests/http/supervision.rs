//! Supervision in the server: a webhook's message raises an alert without
//! anyone asking, the alert API reads (audited) and reviews it, policies
//! load over the API as new versions, and the policies' `block` action
//! refuses an outbound text before it leaves.

use axum::http::StatusCode;
use custos_journal::{Journal, Opened};
use custos_model::{ConsentChange, ConsentState, Event, Timestamp};
use custos_review::Supervisor;
use custos_server::media::MediaQueue;
use custos_server::supervision::Supervision;
use custos_server::{AppState, Secret, WhatsAppConfig};
use std::time::{Duration, Instant};

const SECRET: &str = "supervision-test-secret";
const CUSTOMER: &str = "5511977776666";

struct Setup {
    _dir: tempfile::TempDir,
    journal: Journal,
    base: String,
    http: reqwest::Client,
    token: String,
}

async fn setup() -> Setup {
    setup_with(None).await
}

async fn setup_with(notify: Option<custos_notify::NotifyConfig>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(dir.path(), None, "test").unwrap();
    for event in custos_review::policies::starter_events("cco").unwrap() {
        journal.append(&event, None).unwrap();
    }
    let consent = Event::Consent(ConsentChange {
        channel: "whatsapp".into(),
        party: format!("+{CUSTOMER}"),
        state: ConsentState::OptIn,
        evidence: "web form".into(),
        at: Timestamp::now(),
        recorded_by: "crm".into(),
    });
    journal.append(&consent, Some(CUSTOMER)).unwrap();
    let config = WhatsAppConfig {
        app_secret: Secret::new(SECRET),
        verify_token: Secret::new("v"),
        access_token: Secret::new("t"),
        // Nothing listens here: a send that got past the checks would fail.
        graph_url: "http://127.0.0.1:9".into(),
        phone_number_id: "1065".into(),
    };
    let supervisor = Supervisor::open_saved(&journal, vec![]).unwrap();
    let notifier =
        notify.map(|config| custos_server::supervision::start_notifier(&journal, config).unwrap());
    let mut users = custos_auth::Users::default();
    // A compliance officer (everything in scope) who also sends.
    let token = crate::grant(
        &journal,
        &mut users,
        "rita",
        &[
            custos_auth::Role::ComplianceOfficer,
            custos_auth::Role::Agent,
        ],
        &[],
        Some("emp-rita"),
    );
    let state = AppState::new(journal.clone(), config, MediaQueue::disabled())
        .unwrap()
        .with_auth(crate::auth_of(&journal, users));
    let supervision = Supervision::start(
        journal.clone(),
        supervisor,
        notifier,
        Some(state.parties.clone()),
    )
    .unwrap();
    let index = custos_search::SearchIndex::open(&dir.path().join("state/search")).unwrap();
    let search = custos_server::search::SearchService::start(
        journal.clone(),
        index,
        vec![],
        Some(dir.path().join("exports")),
    );
    let state = state.with_supervision(supervision).with_search(search);
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
        base,
        http: reqwest::Client::new(),
        token,
    }
}

fn inbound(wamid: &str, text: &str) -> String {
    let now = Timestamp::now().as_micros() / 1_000_000;
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"447700900001","phone_number_id":"1065"}},"contacts":[{{"profile":{{"name":"Ana"}},"wa_id":"{CUSTOMER}"}}],"messages":[{{"from":"{CUSTOMER}","id":"{wamid}","timestamp":"{now}","type":"text","text":{{"body":"{text}"}}}}]}}}}]}}]}}"#
    )
}

impl Setup {
    async fn webhook(&self, body: String) {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
        let signature = format!(
            "sha256={}",
            hex::encode(ring::hmac::sign(&key, body.as_bytes()).as_ref())
        );
        let r = self
            .http
            .post(format!("{}/webhooks/whatsapp", self.base))
            .header("X-Hub-Signature-256", signature)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    /// GET as rita (`Some`) or without credentials (`None`).
    async fn get(&self, path: &str, actor: Option<&str>) -> (StatusCode, serde_json::Value) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if actor.is_some() {
            request = request.bearer_auth(&self.token);
        }
        let r = request.send().await.unwrap();
        (r.status(), r.json().await.unwrap())
    }

    async fn post(&self, path: &str, body: reqwest::Body) -> (StatusCode, serde_json::Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap())
    }

    fn count(&self, action: &str) -> usize {
        self.journal
            .entries(0)
            .filter(|e| {
                matches!(self.journal.open_entry(e.as_ref().unwrap()).unwrap(),
                    Opened::Event(Event::System(s)) if s.action == action)
            })
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_message_raises_an_alert_that_reviewers_work_over_the_api() {
    let s = setup().await;
    let started = Instant::now();
    s.webhook(inbound(
        "wamid.SUP1",
        "Pode me mandar no Telegram? Esse numero e monitorado",
    ))
    .await;
    s.webhook(inbound("wamid.SUP2", "Obrigada, recebi a proposta"))
        .await;
    let alerts = loop {
        let (status, body) = s.get("/api/v1/alerts", Some("rita")).await;
        assert_eq!(status, StatusCode::OK);
        let list = body["alerts"].as_array().unwrap().clone();
        if !list.is_empty() || started.elapsed() > Duration::from_secs(10) {
            break list;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!("first alert visible {:?} after capture", started.elapsed());
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(alert["policy"], "off-channel");
    assert_eq!(alert["source_id"], "wamid.SUP1");
    assert_eq!(alert["status"]["state"], "open");
    assert!(alert["age_seconds"].as_i64().unwrap() >= 0);
    let id = alert["id"].as_str().unwrap().to_string();
    let hit = &alert["hits"][0];
    let text = "Pode me mandar no Telegram? Esse numero e monitorado";
    let (start, end) = (
        hit["start"].as_u64().unwrap() as usize,
        hit["end"].as_u64().unwrap() as usize,
    );
    assert_eq!(&text[start..end], "Telegram");

    // Reading it needs a signed-in principal and leaves a record.
    let (status, problem) = s.get(&format!("/api/v1/alerts/{id}"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    let reads = s.count("content.read");
    let (status, full) = s.get(&format!("/api/v1/alerts/{id}"), Some("rita")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(full["message"]["text"], text);
    assert_eq!(s.count("content.read"), reads + 1);
    let (status, _) = s.get("/api/v1/alerts/AL-000000000000", Some("rita")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Review: assign, close, and a second close is a conflict.
    let actions = format!("/api/v1/alerts/{id}/actions");
    let (status, _) = s
        .post(&actions, r#"{"action":"assign","to":"rita"}"#.into())
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = s
        .post(
            &actions,
            r#"{"action":"close","disposition":"maybe","text":"x"}"#.into(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        problem["detail"].as_str().unwrap().contains("maybe"),
        "{problem}"
    );
    let close = r#"{"action":"close","disposition":"breach","text":"moved a client to Telegram"}"#;
    assert_eq!(s.post(&actions, close.into()).await.0, StatusCode::OK);
    assert_eq!(s.post(&actions, close.into()).await.0, StatusCode::CONFLICT);
    let (_, open) = s.get("/api/v1/alerts", Some("rita")).await;
    assert!(open["alerts"].as_array().unwrap().is_empty());
    let (_, all) = s.get("/api/v1/alerts?all=true", Some("rita")).await;
    let closed = &all["alerts"][0];
    assert_eq!(closed["status"]["state"], "closed");
    assert_eq!(closed["status"]["disposition"], "breach");
    assert_eq!(closed["history"].as_array().unwrap().len(), 2);
    assert_eq!(s.count("alert.closed"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_load_over_the_api_as_versions_and_block_before_sending() {
    let s = setup().await;
    let (status, problem) = s
        .post("/api/v1/policies", "name = \"x\"\nseverity = dire\n".into())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        problem["detail"].as_str().unwrap().starts_with("api:2:"),
        "{problem}"
    );
    let policy = r#"
name = "no-guarantees"
title = "No guarantees"
category = "promissory"
severity = "critical"
actions = ["alert", "block"]
[condition]
terms = ["guaranteed"]
"#;
    let (status, body) = s.post("/api/v1/policies", policy.into()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["version"], 1);
    let (status, body) = s.post("/api/v1/policies", policy.into()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let changed = policy.replace("\"guaranteed\"", "\"guaranteed\", \"garantido\"");
    let (status, body) = s.post("/api/v1/policies", changed.into()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["version"], 2);
    let (_, list) = s.get("/api/v1/policies", Some("rita")).await;
    assert_eq!(list["policies"].as_array().unwrap().len(), 9);

    // The customer wrote in, so the window is open; the policy still blocks.
    s.webhook(inbound("wamid.SUP3", "Oi")).await;
    for (text, policy) in [
        ("Retorno garantido de 20% ao ano", "no-guarantees v2"),
        ("Seu cartao 4111 1111 1111 1111 foi aprovado", "pii-leak"),
    ] {
        let (status, problem) = s
            .post(
                "/api/v1/whatsapp/messages",
                serde_json::json!({"to": CUSTOMER, "text": text})
                    .to_string()
                    .into(),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(policy), "{detail}");
        assert!(
            !detail.contains("4111"),
            "the refusal repeats the card number: {detail}"
        );
    }
    assert_eq!(s.count("whatsapp.send.refused"), 2);
}

/// A SIEM's webhook receiver: keeps what it gets, fails the first call.
#[derive(Clone, Default)]
struct Receiver {
    got: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

async fn receive(
    axum::extract::State(r): axum::extract::State<Receiver>,
    headers: axum::http::HeaderMap,
    body: String,
) -> StatusCode {
    if r.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let signature = headers["x-custos-signature-256"]
        .to_str()
        .unwrap()
        .to_string();
    r.got.lock().unwrap().push((signature, body));
    StatusCode::OK
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_at_or_above_the_threshold_are_notified_and_the_outcome_is_journalled() {
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let config: custos_notify::NotifyConfig = toml::from_str(&format!(
        r#"
[[targets]]
kind = "webhook"
name = "siem"
min_severity = "high"
url = "{url}"
secret = "hook-secret"
[retry]
max_attempts = 3
first_delay_ms = 10
max_delay_ms = 50
"#
    ))
    .unwrap();
    let s = setup_with(Some(config)).await;
    // Off-channel is high and notifies; a complaint is medium: below the threshold.
    s.webhook(inbound("wamid.N1", "Me chama no Telegram, por favor"))
        .await;
    s.webhook(inbound(
        "wamid.N2",
        "Quero fazer uma reclamação formal, fui mal atendido e vou ao Procon",
    ))
    .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while s.count("alert.notified") == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(s.count("alert.notified"), 1);
    let got = receiver.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "only the high alert is sent: {got:?}");
    let (signature, body) = &got[0];
    assert_eq!(
        *signature,
        custos_notify::webhook_signature(b"hook-secret", body.as_bytes())
    );
    let notice: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(notice["alert"]["policy"], "off-channel");
    assert!(
        !body.contains("Telegram, por favor"),
        "message text leaked: {body}"
    );
    // The queue learns of the outcome on the supervisor's next pass.
    let notified = loop {
        let (_, alerts) = s.get("/api/v1/alerts", Some("rita")).await;
        let alert = alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["policy"] == "off-channel")
            .unwrap()
            .clone();
        if !alert["history"].as_array().unwrap().is_empty() || Instant::now() > deadline {
            break alert;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let history = notified["history"].as_array().unwrap();
    assert_eq!(history[0]["action"], "notified");
    assert!(
        history[0]["text"]
            .as_str()
            .unwrap()
            .contains("siem after 2 attempt"),
        "{history:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_keyword_withdraws_consent_and_sending_is_refused() {
    let s = setup().await;
    s.webhook(inbound("wamid.K1", "STOP")).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let detail = loop {
        let (status, problem) = s
            .post(
                "/api/v1/whatsapp/messages",
                serde_json::json!({"to": CUSTOMER, "text": "Olá de novo"})
                    .to_string()
                    .into(),
            )
            .await;
        let detail = problem["detail"].as_str().unwrap_or_default().to_string();
        if status == StatusCode::CONFLICT || Instant::now() > deadline {
            break detail;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(detail.contains("opted out"), "{detail}");
    let changes: Vec<ConsentChange> = s
        .journal
        .entries(0)
        .filter_map(|e| match s.journal.open_entry(&e.unwrap()).unwrap() {
            Opened::Event(Event::Consent(c)) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(
        changes.len(),
        2,
        "the opt-in, then the keyword: {changes:?}"
    );
    assert_eq!(changes[1].state, ConsentState::OptOut);
    assert!(changes[1].evidence.contains("wamid.K1"), "{:?}", changes[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_message_is_searchable_within_a_second_through_the_audited_api() {
    let s = setup().await;
    let started = Instant::now();
    s.webhook(inbound(
        "wamid.SEARCH1",
        "Quero uma ação com retorno garantido",
    ))
    .await;
    let path = "/api/v1/search?q=acao%20garant*&reason=surveillance";
    let found = loop {
        let (status, body) = s.get(path, Some("rita")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["total"] == 1 {
            break body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "not searchable within a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let visible = started.elapsed();
    let hit = &found["hits"][0];
    assert_eq!(hit["text"], "Quero uma ação com retorno garantido");
    assert_eq!(hit["snippet"]["highlights"].as_array().unwrap().len(), 2);
    println!("searchable {visible:?} after the webhook was acknowledged");
    // Every search answered is journalled with who and why.
    assert!(s.count("search.run") >= 1);
    // Opening the message (and its conversation) is journalled too.
    let seq = hit["seq"].as_u64().unwrap();
    let (status, body) = s
        .get(
            &format!("/api/v1/messages/{seq}?context=2&reason=review"),
            Some("rita"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["conversation"][0]["seq"], seq);
    assert_eq!(s.count("search.opened"), 1);
    // Mistakes are problems naming what is wrong, and leave no audit event.
    let before = s.count("search.run");
    let (status, body) = s
        .get("/api/v1/search?q=acao%20AND&reason=x", Some("rita"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["position"], 5, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("column 6"),
        "{body}"
    );
    let (status, body) = s.get("/api/v1/search?q=acao", Some("rita")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("reason"));
    let (status, _) = s.get("/api/v1/search?q=acao&reason=x", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = s
        .get("/api/v1/search?q=hold:LH-9&reason=x", Some("rita"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["detail"].as_str().unwrap().contains("no such hold"),
        "{body}"
    );
    assert_eq!(s.count("search.run"), before);
    // An export over the API: made, journalled, and it verifies on its own.
    let r = s
        .http
        .post(format!("{}/api/v1/exports", s.base))
        .bearer_auth(&s.token)
        .json(&serde_json::json!({"query": "acao", "formats": ["rsmf", "jsonl"], "reason": "regulator request"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let made: serde_json::Value = r.json().await.unwrap();
    assert_eq!(made["messages"], 1, "{made}");
    let dir = std::path::PathBuf::from(made["dir"].as_str().unwrap());
    let key: [u8; 32] = hex::decode(made["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    assert!(custos_export::verify(&dir, Some(&key)).unwrap().is_ok());
    assert_eq!(s.count("export.created"), 1);
    let r = s
        .http
        .post(format!("{}/api/v1/exports", s.base))
        .bearer_auth(&s.token)
        .json(&serde_json::json!({"query": "nothing-matches-this", "reason": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
