//! The Twilio webhook over real HTTP on loopback: Twilio's published
//! signatures, refusals that keep nothing, retries, status callbacks,
//! keyword consent and the sending rules, and media fetched from a local
//! server speaking Twilio's media URLs (HTTP basic auth, account sid and
//! auth token).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine as _;
use custos_journal::{Journal, KeyId, Opened};
use custos_model::{ConsentState, DeliveryState, Digest, Event};
use custos_server::media::{MediaQueue, Retry};
use custos_server::twilio::{Twilio, TwilioConfig};
use custos_server::{AppState, Secret, WhatsAppConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const TOKEN: &str = "2bd9e9638872de601313dc77410d3b23";
const ACCOUNT: &str = "ACba8bc05eacf94afdae398e642c9cc32d";
/// The SMS request of twilio-ruby's request validator spec: URL, parameters
/// and the signature Twilio computed for them.
const RUBY_URL: &str = "http://twiliotests.heroku.com/validate/sms";
const RUBY_SIGNATURE: &str = "mxeiv65lEe0b8L6LdVw2jgJi8yw=";
const RUBY_PARAMS: &[(&str, &str)] = &[
    ("ToState", "CA"),
    ("FromState", "CA"),
    ("AccountSid", ACCOUNT),
    ("SmsMessageSid", "SM2003cbd5e6a3701999aa3e5f20ff2787"),
    ("Body", "Orly"),
    ("From", "+14159354345"),
    ("FromCity", "SAN FRANCISCO"),
    ("SmsStatus", "received"),
    ("FromZip", "94107"),
    ("FromCountry", "US"),
    ("To", "+14158141819"),
    ("ToCity", "SAN FRANCISCO"),
    ("ToZip", "94105"),
    ("ToCountry", "US"),
    ("ApiVersion", "2010-04-01"),
    ("SmsSid", "SM2003cbd5e6a3701999aa3e5f20ff2787"),
];
const CUSTOMER: &str = "5511988887777";

struct Server {
    _dir: tempfile::TempDir,
    journal: Journal,
    base: String,
    url: String,
    client: reqwest::Client,
    token: String,
}

async fn start(public_url: &str, token: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(dir.path(), None, "test").unwrap();
    let whatsapp = WhatsAppConfig {
        app_secret: Secret::new("s"),
        verify_token: Secret::new("v"),
        access_token: Secret::new("graph-token"),
        // Nothing listens there: a send that passes the rules fails with 502.
        graph_url: "http://127.0.0.1:9".into(),
        phone_number_id: "106540352242922".into(),
    };
    let mut users = custos_auth::Users::default();
    let agent = crate::grant(
        &journal,
        &mut users,
        "agent-1",
        &[custos_auth::Role::Agent],
        &[],
        Some("emp-1"),
    );
    let mut state = AppState::new(journal.clone(), whatsapp, MediaQueue::disabled())
        .unwrap()
        .with_auth(crate::auth_of(&journal, users));
    let config = TwilioConfig {
        auth_token: Secret::new(token),
        account_sid: ACCOUNT.into(),
        public_url: public_url.into(),
    };
    let j = journal.clone();
    let retry = Retry {
        attempts: 3,
        first_delay: Duration::from_millis(20),
        ..Retry::default()
    };
    let twilio = tokio::task::spawn_blocking(move || {
        Twilio::open(&j, config, vec!["Não quero mais".into()], retry)
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
    Server {
        _dir: dir,
        journal,
        base,
        url: public_url.into(),
        client: reqwest::Client::new(),
        token: agent,
    }
}

fn encode(params: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        let escape = |s: &str| {
            s.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                        (b as char).to_string()
                    }
                    b' ' => "+".into(),
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        };
        out.push_str(&escape(name));
        out.push('=');
        out.push_str(&escape(value));
    }
    out
}

fn sign(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    custos_server::twilio::signature(token, url, &owned)
}

impl Server {
    async fn post_raw(
        &self,
        query: &str,
        content_type: &str,
        body: Vec<u8>,
        signature: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut request = self
            .client
            .post(format!("{}/webhooks/twilio{query}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(s) = signature {
            request = request.header("X-Twilio-Signature", s);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or_default())
    }

    /// POSTs `params` signed as Twilio would for the configured URL.
    async fn post(&self, params: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let signature = sign(TOKEN, &self.url, params);
        self.post_raw(
            "",
            "application/x-www-form-urlencoded",
            encode(params).into_bytes(),
            Some(&signature),
        )
        .await
    }

    fn events(&self) -> Vec<Event> {
        self.journal
            .entries(0)
            .filter_map(|e| match self.journal.open_entry(&e.unwrap()).unwrap() {
                Opened::Event(event) => Some(event),
                _ => None,
            })
            .collect()
    }

    fn messages(&self) -> Vec<custos_model::Message> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    fn consents(&self) -> Vec<custos_model::ConsentChange> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Consent(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    async fn send_whatsapp(&self, to: &str) -> (u16, serde_json::Value) {
        let r = self
            .client
            .post(format!("{}/api/v1/whatsapp/messages", self.base))
            .bearer_auth(&self.token)
            .json(&serde_json::json!({ "to": to, "text": "Your statement is ready" }))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }
}

#[tokio::test]
async fn twilios_published_sms_request_is_archived_once() {
    let s = start(RUBY_URL, TOKEN).await;
    let body = encode(RUBY_PARAMS).into_bytes();
    let (status, _) = s
        .post_raw(
            "",
            "application/x-www-form-urlencoded",
            body.clone(),
            Some(RUBY_SIGNATURE),
        )
        .await;
    assert_eq!(status, 200);
    let messages = s.messages();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(
        (m.channel.as_str(), m.source_id.as_str(), m.sender.as_str()),
        ("sms", "SM2003cbd5e6a3701999aa3e5f20ff2787", "+14159354345")
    );
    assert_eq!(m.text.as_deref(), Some("Orly"));
    assert_eq!(m.raw_digest, Digest::of(&body));
    let raw: Vec<_> = s
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Raw(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(raw.len(), 1);
    assert_eq!(raw[0].bytes, body);
    assert_eq!(raw[0].details["signature"], RUBY_SIGNATURE);
    assert_eq!(raw[0].details["signature_valid"], true);

    // Twilio retries: nothing new but the delivery's own record.
    let size = s.journal.size();
    let (status, _) = s
        .post_raw(
            "",
            "application/x-www-form-urlencoded",
            body,
            Some(RUBY_SIGNATURE),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(s.messages().len(), 1);
    assert_eq!(s.journal.size(), size + 1, "only the twilio.delivery event");
}

#[tokio::test]
async fn twilios_documented_example_passes_the_signature_check() {
    // Twilio's security guide: token 12345, URL with ?foo=1&bar=2, a voice
    // request. The signature holds, so the answer is the 400 of a request
    // that is not a message, not the 401 of a forgery.
    let s = start("https://mycompany.com/myapp.php", "12345").await;
    let body = b"To=%2B18005551212&CallSid=CA1234567890ABCDE&Digits=1234&From=%2B12349013030&Caller=%2B12349013030".to_vec();
    let (status, problem) = s
        .post_raw(
            "?foo=1&bar=2",
            "application/x-www-form-urlencoded",
            body.clone(),
            Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["field"], "MessageSid");
    let (status, _) = s
        .post_raw(
            "?foo=1&bar=3",
            "application/x-www-form-urlencoded",
            body,
            Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
        )
        .await;
    assert_eq!(status, 401);
    // The archive's own first entry, and the test agent and their token.
    assert_eq!(s.journal.size(), 3, "nothing from the refused deliveries");
}

#[tokio::test]
async fn forgeries_are_refused_and_keep_nothing() {
    let s = start(RUBY_URL, TOKEN).await;
    let size = s.journal.size();
    let body = encode(RUBY_PARAMS).into_bytes();
    let form = "application/x-www-form-urlencoded";
    // No header; another token; another URL (a proxy's view); one
    // parameter missing from what was signed.
    let other_token = sign("another-token", RUBY_URL, RUBY_PARAMS);
    let other_url = sign(
        TOKEN,
        "https://twiliotests.heroku.com/validate/sms",
        RUBY_PARAMS,
    );
    let fewer = encode(&RUBY_PARAMS[1..]).into_bytes();
    for (body, signature) in [
        (body.clone(), None),
        (body.clone(), Some(other_token.as_str())),
        (body.clone(), Some(other_url.as_str())),
        (fewer, Some(RUBY_SIGNATURE)),
        (body, Some("mxeiv65lEe0b8L6LdVw2jgJi8yw")),
    ] {
        let (status, problem) = s.post_raw("", form, body, signature).await;
        assert_eq!(status, 401, "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("X-Twilio-Signature")
        );
    }
    assert_eq!(s.journal.size(), size);
}

#[tokio::test]
async fn bad_input_names_the_parameter_and_keeps_nothing() {
    let s = start(RUBY_URL, TOKEN).await;
    let size = s.journal.size();
    let (status, problem) = s
        .post(&[
            ("MessageSid", "SM1"),
            ("To", "+14158141819"),
            ("Body", "hi"),
        ])
        .await;
    assert_eq!(status, 400);
    assert_eq!(problem["field"], "From");
    assert_eq!(problem["detail"], "From: is required");
    let (status, problem) = s
        .post(&[
            ("MessageSid", "SM1"),
            ("From", "bob"),
            ("To", "+14158141819"),
        ])
        .await;
    assert_eq!(status, 400);
    assert_eq!(problem["field"], "From");
    assert_eq!(s.journal.size(), size);
}

#[tokio::test]
async fn a_json_body_needs_its_sha256_in_the_signed_url() {
    let s = start("https://archive.example.com/webhooks/twilio", TOKEN).await;
    let body = br#"{"event":"com.twilio.messaging.message.delivered"}"#.to_vec();
    let query = format!("?bodySHA256={}", Digest::of(&body));
    let url = format!("https://archive.example.com/webhooks/twilio{query}");
    let signature = sign(TOKEN, &url, &[]);
    let (status, _) = s
        .post_raw(&query, "application/json", body.clone(), Some(&signature))
        .await;
    assert_eq!(status, 200);
    let size = s.journal.size();
    let mut changed = body;
    changed[3] ^= 1;
    let (status, problem) = s
        .post_raw(&query, "application/json", changed, Some(&signature))
        .await;
    assert_eq!(status, 401);
    assert!(problem["detail"].as_str().unwrap().contains("bodySHA256"));
    assert_eq!(s.journal.size(), size);
}

#[tokio::test]
async fn a_status_callback_links_to_the_message() {
    let s = start(RUBY_URL, TOKEN).await;
    let from = format!("whatsapp:+{CUSTOMER}");
    let (status, _) = s
        .post(&[
            ("MessageSid", "SMaaaa0000000000000000000000000001"),
            ("From", from.as_str()),
            ("To", "whatsapp:+14155238886"),
            ("Body", "Did my transfer go through?"),
            ("ProfileName", "Ana Souza"),
            ("WaId", CUSTOMER),
        ])
        .await;
    assert_eq!(status, 200);
    let status_params = [
        ("MessageSid", "SMaaaa0000000000000000000000000001"),
        ("MessageStatus", "read"),
        ("From", "whatsapp:+14155238886"),
        ("To", from.as_str()),
        ("AccountSid", ACCOUNT),
    ];
    assert_eq!(s.post(&status_params).await.0, 200);
    assert_eq!(s.post(&status_params).await.0, 200);
    let statuses: Vec<_> = s
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Status(st) => Some(st),
            _ => None,
        })
        .collect();
    assert_eq!(statuses.len(), 1, "the retry adds no status");
    let message = &s.messages()[0];
    assert_eq!(statuses[0].target, message.source_id);
    assert_eq!(statuses[0].channel, message.channel);
    assert_eq!(statuses[0].state, DeliveryState::Read);
    assert_eq!(statuses[0].recipient, format!("+{CUSTOMER}"));
}

#[tokio::test]
async fn stop_withdraws_consent_and_sending_is_refused() {
    let s = start(RUBY_URL, TOKEN).await;
    let from = format!("whatsapp:+{CUSTOMER}");
    let inbound = |sid: &'static str, body: &'static str| {
        [
            ("MessageSid", sid),
            ("From", from.as_str()),
            ("To", "whatsapp:+14155238886"),
            ("Body", body),
        ]
    };
    // START opts in: the rules let a send through (it then fails at the
    // unreachable Graph API, 502, which proves the rules passed).
    assert_eq!(
        s.post(&inbound("SMbbbb0000000000000000000000000001", "START"))
            .await
            .0,
        200
    );
    assert_eq!(s.send_whatsapp(CUSTOMER).await.0, 502);
    // STOP opts out, in the same durable request as the message.
    assert_eq!(
        s.post(&inbound("SMbbbb0000000000000000000000000002", "Stop"))
            .await
            .0,
        200
    );
    let consents = s.consents();
    assert_eq!(consents.len(), 2);
    assert_eq!(consents[1].state, ConsentState::OptOut);
    assert_eq!(consents[1].party, format!("+{CUSTOMER}"));
    assert_eq!(consents[1].recorded_by, "twilio");
    assert_eq!(
        consents[1].evidence,
        "keyword \"STOP\" in inbound whatsapp message SMbbbb0000000000000000000000000002"
    );
    let (status, problem) = s.send_whatsapp(CUSTOMER).await;
    assert_eq!(status, 409, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("opted out"));
    // A retried STOP records nothing again.
    assert_eq!(
        s.post(&inbound("SMbbbb0000000000000000000000000002", "Stop"))
            .await
            .0,
        200
    );
    assert_eq!(s.consents().len(), 2);

    // SMS: the consent ledger (the outbound path sends WhatsApp only);
    // Twilio's STOPALL and the firm's own [consent] word count too.
    for (sid, body) in [
        ("SMcccc0000000000000000000000000001", "STOPALL"),
        ("SMcccc0000000000000000000000000002", "nao quero mais"),
        (
            "SMcccc0000000000000000000000000003",
            "stop the transfer please",
        ),
    ] {
        let params = [
            ("MessageSid", sid),
            ("From", "+447700900123"),
            ("To", "+447700900001"),
            ("Body", body),
        ];
        assert_eq!(s.post(&params).await.0, 200);
    }
    let sms: Vec<_> = s
        .consents()
        .into_iter()
        .filter(|c| c.channel == "sms")
        .collect();
    assert_eq!(sms.len(), 2, "{sms:?}");
    assert!(
        sms.iter()
            .all(|c| c.state == ConsentState::OptOut && c.party == "+447700900123")
    );
}

#[derive(Clone)]
struct FakeTwilio {
    bytes: Arc<Vec<u8>>,
    failures_left: Arc<AtomicUsize>,
    downloads: Arc<AtomicUsize>,
}

/// `GET /2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{MediaSid}`
/// with HTTP basic auth, as Twilio serves `MediaUrl{N}`.
async fn media(
    State(fake): State<FakeTwilio>,
    Path((account, _message, _media)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<([(header::HeaderName, &'static str); 1], Vec<u8>), StatusCode> {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:{TOKEN}"))
    );
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if account != ACCOUNT || auth != Some(expected.as_str()) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    fake.downloads.fetch_add(1, Ordering::SeqCst);
    if fake
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return Err(StatusCode::SERVICE_UNAVAILABLE);
    }
    Ok(([(header::CONTENT_TYPE, "image/jpeg")], fake.bytes.to_vec()))
}

#[tokio::test]
async fn media_is_downloaded_with_basic_auth_and_sealed_as_a_blob() {
    let fake = FakeTwilio {
        bytes: Arc::new(b"\xff\xd8\xff\xe0 a small jpeg of a signed contract".to_vec()),
        failures_left: Arc::new(AtomicUsize::new(1)),
        downloads: Arc::new(AtomicUsize::new(0)),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake_base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Messages/{message}/Media/{media}",
            axum::routing::get(media),
        )
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let s = start(RUBY_URL, TOKEN).await;
    let sid = "MM8f1b2c3d4e5f60718293a4b5c6d7e8f9";
    let url = format!(
        "{fake_base}/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}/Media/ME0123456789abcdef0123456789abcdef"
    );
    let from = format!("whatsapp:+{CUSTOMER}");
    let params = [
        ("MessageSid", sid),
        ("From", from.as_str()),
        ("To", "whatsapp:+14155238886"),
        ("Body", "Contract attached"),
        ("NumMedia", "1"),
        ("MediaUrl0", url.as_str()),
        ("MediaContentType0", "image/jpeg"),
    ];
    assert_eq!(s.post(&params).await.0, 200);
    let message = &s.messages()[0];
    assert_eq!(message.extra["twilio_media"][0]["url"], url.as_str());

    let deadline = Instant::now() + Duration::from_secs(20);
    let fetched = loop {
        let found = s.events().into_iter().find_map(|e| match e {
            Event::System(sys) if sys.action == "twilio.media.fetched" => Some(sys),
            _ => None,
        });
        if let Some(found) = found {
            break found;
        }
        assert!(Instant::now() < deadline, "media not fetched in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(fetched.details["message_sid"], sid);
    assert_eq!(fetched.details["media_type"], "image/jpeg");
    assert_eq!(fetched.details["attempt"], 2);
    assert_eq!(
        fetched.details["sha256"],
        Digest::of(&fake.bytes).to_string()
    );
    let retries = s
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::System(sys) if sys.action == "twilio.media.retry"))
        .count();
    assert_eq!(retries, 1);
    let key: [u8; 16] = hex::decode(fetched.details["blob_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let stored = s
        .journal
        .blob(KeyId::from_bytes(key), &Digest::of(&fake.bytes))
        .unwrap()
        .expect("the blob is stored");
    assert_eq!(stored, *fake.bytes);

    // A retried delivery of the same message downloads nothing again.
    assert_eq!(s.post(&params).await.0, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fake.downloads.load(Ordering::SeqCst), 2);
}
