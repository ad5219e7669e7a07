//! The server over real HTTP on loopback: Meta's handshake, signatures,
//! malformed payloads, durable deliveries and de-duplication of retries.

use custos_journal::{Journal, Opened};
use custos_model::{Digest, Event};
use custos_server::{AppState, Secret, WhatsAppConfig};

const SECRET: &str = "test-app-secret";

fn sign(body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    format!(
        "sha256={}",
        hex::encode(ring::hmac::sign(&key, body).as_ref())
    )
}

fn text_payload(wamid: &str, text: &str) -> String {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"447700900001","phone_number_id":"106540352242922"}},"contacts":[{{"profile":{{"name":"Ana Souza"}},"wa_id":"5511988887777"}}],"messages":[{{"from":"5511988887777","id":"{wamid}","timestamp":"1749416383","type":"text","text":{{"body":"{text}"}}}}]}}}}]}}]}}"#
    )
}

struct Server {
    _dir: tempfile::TempDir,
    journal: Journal,
    base: String,
    client: reqwest::Client,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(dir.path(), None, "test").unwrap();
    let config = WhatsAppConfig {
        app_secret: Secret::new(SECRET),
        verify_token: Secret::new("verify-me"),
        access_token: Secret::new("token"),
        graph_url: "http://127.0.0.1:9".into(),
        ..WhatsAppConfig::default()
    };
    let state = AppState::new(
        journal.clone(),
        config,
        custos_server::media::MediaQueue::disabled(),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(custos_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    Server {
        _dir: dir,
        journal,
        base,
        client: reqwest::Client::new(),
    }
}

impl Server {
    async fn post(&self, body: &[u8], signature: Option<&str>) -> (u16, String, String) {
        let mut request = self
            .client
            .post(format!("{}/webhooks/whatsapp", self.base))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(s) = signature {
            request = request.header("X-Hub-Signature-256", s);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let kind = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, kind, response.text().await.unwrap())
    }

    fn messages(&self) -> Vec<custos_model::Message> {
        self.journal
            .entries(0)
            .filter_map(|e| match self.journal.open_entry(&e.unwrap()).unwrap() {
                Opened::Event(Event::Message(m)) => Some(m),
                _ => None,
            })
            .collect()
    }
}

#[tokio::test]
async fn the_verification_handshake_echoes_the_challenge_only_for_our_token() {
    let s = start().await;
    let get = |query: &'static str| {
        let url = format!("{}/webhooks/whatsapp?{query}", s.base);
        let client = s.client.clone();
        async move {
            let r = client.get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(
        get("hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444").await,
        (200, "1158201444".to_string())
    );
    assert_eq!(
        get("hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1")
            .await
            .0,
        403
    );
    assert_eq!(
        get("hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1")
            .await
            .0,
        403
    );
    assert_eq!(get("hub.verify_token=verify-me").await.0, 403);
}

#[tokio::test]
async fn unsigned_or_wrongly_signed_deliveries_are_refused_and_leave_nothing() {
    let s = start().await;
    let before = s.journal.size();
    let body = text_payload("wamid.A1", "olá");
    let (status, kind, _) = s.post(body.as_bytes(), None).await;
    assert_eq!((status, kind.as_str()), (401, "application/problem+json"));
    let wrong_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"another secret");
    let wrong = format!(
        "sha256={}",
        hex::encode(ring::hmac::sign(&wrong_key, body.as_bytes()).as_ref())
    );
    assert_eq!(s.post(body.as_bytes(), Some(&wrong)).await.0, 401);
    let mut changed = body.clone().into_bytes();
    let at = changed.len() - 10;
    changed[at] ^= 1;
    assert_eq!(s.post(&changed, Some(&sign(body.as_bytes()))).await.0, 401);
    assert_eq!(s.journal.size(), before, "nothing journalled");
    assert!(!s._dir.path().join("blobs").exists(), "no blob kept");
}

#[tokio::test]
async fn a_malformed_payload_is_a_problem_naming_what_is_wrong() {
    let s = start().await;
    let before = s.journal.size();
    let body = br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"447700900001","phone_number_id":"106540352242922"},"messages":[{"from":"1","id":"wamid.X","timestamp":[],"type":"text","text":{"body":"x"}}]}}]}]}"#;
    let (status, kind, text) = s.post(body, Some(&sign(body))).await;
    assert_eq!((status, kind.as_str()), (400, "application/problem+json"));
    let problem: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(problem["status"], 400);
    assert_eq!(
        problem["detail"],
        "entry[0].changes[0].value.messages[0].timestamp: expected a string or number, got an array"
    );
    let not_json = b"{not json";
    assert_eq!(s.post(not_json, Some(&sign(not_json))).await.0, 400);
    assert_eq!(s.journal.size(), before, "nothing journalled");
}

#[tokio::test]
async fn a_signed_delivery_is_durable_before_200_and_a_retry_adds_nothing() {
    let s = start().await;
    let body = text_payload(
        "wamid.HBgLNTUxMTk4ODg4Nzc3NxUCABIYFDNB",
        "Bom dia! A proposta segue?",
    );
    let (status, _, _) = s.post(body.as_bytes(), Some(&sign(body.as_bytes()))).await;
    assert_eq!(status, 200);
    let messages = s.messages();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m.source_id, "wamid.HBgLNTUxMTk4ODg4Nzc3NxUCABIYFDNB");
    assert_eq!(m.text.as_deref(), Some("Bom dia! A proposta segue?"));
    assert_eq!(m.raw_digest, Digest::of(body.as_bytes()));

    // The raw body is kept byte for byte, and the delivery is on record.
    let events: Vec<Event> = s
        .journal
        .entries(0)
        .filter_map(|e| match s.journal.open_entry(&e.unwrap()).unwrap() {
            Opened::Event(e) => Some(e),
            Opened::Shredded(_) => None,
        })
        .collect();
    let delivery = events
        .iter()
        .find_map(|e| match e {
            Event::System(e) if e.action == "whatsapp.delivery" => Some(e),
            _ => None,
        })
        .expect("the delivery is journalled");
    assert_eq!(
        delivery.target.as_deref(),
        Some(Digest::of(body.as_bytes()).to_string().as_str())
    );
    assert_eq!(delivery.details["signature_valid"], true);
    let raw = events
        .iter()
        .find_map(|e| match e {
            Event::Raw(r) => Some(r),
            _ => None,
        })
        .expect("the raw body is journalled");
    assert_eq!(raw.bytes, body.as_bytes());
    assert_eq!(raw.details["signature"], sign(body.as_bytes()));

    // Meta retries: the same wamid never lands twice.
    assert_eq!(
        s.post(body.as_bytes(), Some(&sign(body.as_bytes())))
            .await
            .0,
        200
    );
    assert_eq!(s.messages().len(), 1);
}
