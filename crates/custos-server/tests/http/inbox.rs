//! The agent inbox over real HTTP on loopback, replies leaving through a
//! local server speaking the Cloud API's `POST /{phone-number-id}/messages`:
//! the list and its barrier (another team's agent gets 404 everywhere),
//! reads journalled as `inbox.opened` (an agent's marks read, a
//! supervisor's does not), replies with the disclaimer, canned responses,
//! templates, the pre-send refusal shown and journalled, transfer to
//! another team, notes, and the live streams.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use custos_auth::Role;
use custos_journal::{Journal, Opened};
use custos_model::{
    ConsentChange, ConsentState, DeliveryState, DeliveryStatus, Digest, Direction, Event, Message,
    Timestamp,
};
use custos_server::inbox::{DisclaimerWhen, InboxConfig, TemplateConfig};
use custos_server::media::MediaQueue;
use custos_server::outbound::PreSendCheck;
use custos_server::{AppState, Secret, WhatsAppConfig};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "graph-token";
const PHONE_ID: &str = "106540352242922";
const LINE_ANA: &str = "447700900001";
const CUSTOMER: &str = "5511988887777";
const DISCLAIMER: &str = "Messages are recorded.";

#[derive(Clone, Default)]
struct Graph {
    sent: Arc<Mutex<Vec<serde_json::Value>>>,
    uploads: Arc<Mutex<Vec<Vec<custos_server::multipart::Part>>>>,
}

/// `POST /{phone-number-id}/media`: keeps the parts, answers a media id.
async fn media(
    State(g): State<Graph>,
    Path(phone): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, axum::Json<serde_json::Value>) {
    assert_eq!(phone, PHONE_ID);
    let content_type = headers["content-type"].to_str().unwrap();
    let parts = custos_server::multipart::parse(content_type, &body).unwrap();
    let mut uploads = g.uploads.lock().unwrap();
    uploads.push(parts);
    let id = format!("media-{}", uploads.len());
    (StatusCode::OK, axum::Json(serde_json::json!({ "id": id })))
}

async fn messages(
    State(g): State<Graph>,
    Path(phone): Path<String>,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> (StatusCode, axum::Json<serde_json::Value>) {
    assert_eq!(phone, PHONE_ID);
    let mut sent = g.sent.lock().unwrap();
    sent.push(body);
    let wamid = format!("wamid.OUT{}", sent.len());
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({"messages": [{"id": wamid}]})),
    )
}

/// Blocks card numbers, as the pii-leak policy's `block` would.
#[derive(Debug)]
struct NoCards;

impl PreSendCheck for NoCards {
    fn check(&self, _to: &str, text: &str) -> Result<(), String> {
        if text.contains("4111 1111 1111 1111") {
            Err("blocked by policy before sending: card number".into())
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
    http: reqwest::Client,
    sessions: BTreeMap<&'static str, (String, String)>,
}

struct Page {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

fn inbound(id: &str, text: &str) -> Event {
    let now = Timestamp::now();
    Event::Message(Message {
        channel: "whatsapp".into(),
        source_id: id.into(),
        conversation: format!("{PHONE_ID}:{CUSTOMER}"),
        sender: CUSTOMER.into(),
        recipients: vec![LINE_ANA.into()],
        direction: Direction::Inbound,
        sent_at: now,
        captured_at: now,
        text: Some(text.into()),
        attachments: vec![],
        reply_to: None,
        raw_digest: Digest::of(id.as_bytes()),
        extra: Default::default(),
    })
}

const USERS: [&str; 3] = ["agent-ana", "agent-bob", "cco"];

async fn setup() -> Setup {
    let graph = Graph::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let graph_url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/{phone}/messages", axum::routing::post(messages))
        .route("/{phone}/media", axum::routing::post(media))
        .with_state(graph.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(dir.path(), None, "test").unwrap();
    for event in custos_review::policies::starter_events("cco").unwrap() {
        journal.append(&event, None).unwrap();
    }
    for (id, name, phone, unit) in [
        ("ana", "Ana Lima", "+447700900001", "fx"),
        ("bob", "Bob Reyes", "+447700900002", "rates"),
    ] {
        custos_governance::custodians::add(
            &journal,
            "admin",
            id,
            name,
            phone,
            "2024-01-02",
            &[unit.to_string()],
        )
        .unwrap();
    }
    journal
        .append(
            &Event::Consent(ConsentChange {
                channel: "whatsapp".into(),
                party: format!("+{CUSTOMER}"),
                state: ConsentState::OptIn,
                evidence: "web form 2026-03-01".into(),
                at: Timestamp::now(),
                recorded_by: "crm".into(),
            }),
            Some(CUSTOMER),
        )
        .unwrap();
    journal
        .append(
            &inbound(
                "wamid.IN1",
                "Olá, a minha fatura? I want to make a formal complaint about the fees",
            ),
            Some(CUSTOMER),
        )
        .unwrap();
    // The same person by e-mail too (the profile shows it).
    custos_governance::identities::Identities::default()
        .link(
            &journal,
            "dpo",
            &[format!("+{CUSTOMER}"), "carla@example.com".into()],
            "Carla Souza",
            "the CRM record",
        )
        .unwrap();
    let mut users = custos_auth::Users::default();
    crate::grant(
        &journal,
        &mut users,
        "agent-ana",
        &[Role::Agent],
        &["team-a"],
        Some("ana"),
    );
    crate::grant(
        &journal,
        &mut users,
        "agent-bob",
        &[Role::Agent],
        &["team-b"],
        Some("bob"),
    );
    crate::grant(
        &journal,
        &mut users,
        "cco",
        &[Role::ComplianceOfficer],
        &[],
        None,
    );
    let config = WhatsAppConfig {
        app_secret: Secret::new("s"),
        verify_token: Secret::new("v"),
        access_token: Secret::new(TOKEN),
        graph_url,
        phone_number_id: PHONE_ID.into(),
    };
    let state = AppState::new(journal.clone(), config, MediaQueue::disabled())
        .unwrap()
        .with_auth(crate::auth_of(&journal, users));
    // Supervision raises the complaint alert the profile shows.
    let registry = custos_governance::custodians::registry(&journal).unwrap();
    let custodians = registry
        .values()
        .map(|c| custos_review::Custodian {
            id: c.id.clone(),
            address: custos_model::party_id(&c.phone),
            units: c.units.clone(),
        })
        .collect();
    let supervisor = custos_review::Supervisor::open_saved(&journal, custodians).unwrap();
    let supervision = custos_server::supervision::Supervision::start(
        journal.clone(),
        supervisor,
        None,
        Some(state.parties.clone()),
    )
    .unwrap();
    let mut state = state.with_supervision(supervision.clone());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while supervision.with(|s| s.state.alerts.is_empty()) {
        assert!(std::time::Instant::now() < deadline, "no alert raised");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    state.pre_send = Arc::new(NoCards);
    state.inbox = Arc::new(InboxConfig {
        canned: vec!["Thanks, looking into it.".into()],
        disclaimer: DISCLAIMER.into(),
        disclaimer_when: DisclaimerWhen::Always,
        opt_in_template: "optin".into(),
        templates: vec![
            TemplateConfig {
                name: "follow_up".into(),
                language: "en".into(),
                body: "We have an update for you.".into(),
            },
            TemplateConfig {
                name: "optin".into(),
                language: "en".into(),
                body: "May we message you here? Reply YES or NO.".into(),
            },
        ],
        opt_in_yes: Vec::new(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(custos_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut sessions = BTreeMap::new();
    for name in USERS {
        let r = http
            .post(format!("{base}/signin"))
            .form(&[("user", name), ("password", crate::PASSWORD), ("next", "/")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "sign-in of {name}");
        let cookie = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("custos_session="))
            .and_then(|v| v.split(';').next())
            .unwrap()
            .to_string();
        let me: serde_json::Value = http
            .get(format!("{base}/api/v1/me"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let csrf = me["csrf_token"].as_str().unwrap().to_string();
        sessions.insert(name, (cookie, csrf));
    }
    Setup {
        _dir: dir,
        journal,
        graph,
        base,
        http,
        sessions,
    }
}

impl Setup {
    async fn get(&self, who: &str, path: &str) -> Page {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.sessions[who].0)
            .send()
            .await
            .unwrap();
        Page {
            status: r.status(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap(),
        }
    }

    async fn post(&self, who: &str, path: &str, form: &[(&str, &str)]) -> Page {
        let (cookie, csrf) = &self.sessions[who];
        let mut fields = vec![("_csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", cookie)
            .form(&fields)
            .send()
            .await
            .unwrap();
        Page {
            status: r.status(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap(),
        }
    }

    fn system_events(&self, action: &str) -> Vec<custos_model::SystemEvent> {
        let mut out = Vec::new();
        for entry in self.journal.entries(0) {
            let entry = entry.unwrap();
            if let Opened::Event(Event::System(s)) = self.journal.open_entry(&entry).unwrap()
                && s.action == action
            {
                out.push(s);
            }
        }
        out
    }

    /// The console id of the conversation (the entry of its first message).
    fn conversation(&self) -> u64 {
        for entry in self.journal.entries(0) {
            let entry = entry.unwrap();
            if let Opened::Event(Event::Message(m)) = self.journal.open_entry(&entry).unwrap()
                && m.source_id == "wamid.IN1"
            {
                return entry.leaf.seq;
            }
        }
        panic!("no message wamid.IN1")
    }

    fn sent(&self) -> Vec<serde_json::Value> {
        self.graph.sent.lock().unwrap().clone()
    }
}

/// `data-sig="…"` of a page.
fn sig_of(body: &str) -> String {
    let at = body.find("data-sig=\"").expect("a live element") + 10;
    body[at..].split('"').next().unwrap().to_string()
}

fn assert_only_own_script(path: &str, page: &Page) {
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{path}: {csp}"
    );
    let lower = page.body.to_lowercase();
    assert_eq!(lower.matches("<script").count(), 1, "{path}");
    assert!(
        lower.contains("<script src=\"/assets/inbox.js\" defer></script>"),
        "{path}"
    );
    assert!(!lower.contains("style="), "{path}: inline style");
    assert!(!lower.contains("onclick="), "{path}: event handler");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_read_reply_and_transfer_within_their_inbox() {
    let s = setup().await;
    let id = s.conversation();
    let here = format!("/inbox/c/{id}");

    // Ana's inbox: the conversation on her number, one unread message.
    let list = s.get("agent-ana", "/inbox").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_only_own_script("/inbox", &list);
    assert!(list.body.contains(&format!("+{CUSTOMER}")), "{}", list.body);
    assert!(list.body.contains("1 unread"), "{}", list.body);
    // An agent's console opens on the inbox.
    let home = s.get("agent-ana", "/").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.headers["location"], "/inbox");

    // Bob (another team, another number) sees nothing and gets 404s.
    let list = s.get("agent-bob", "/inbox").await;
    assert!(!list.body.contains(CUSTOMER), "{}", list.body);
    for path in [
        here.clone(),
        format!("{here}/thread"),
        format!("{here}/events"),
    ] {
        let page = s.get("agent-bob", &path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.body.contains("fatura"), "{path}");
    }
    let page = s
        .post("agent-bob", &format!("{here}/send"), &[("text", "hi")])
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(s.sent().is_empty());
    assert!(s.system_events("inbox.opened").is_empty());

    // The compliance officer supervises: the read is recorded, marks nothing.
    let page = s.get("cco", &here).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("fatura"));
    assert!(page.body.contains("supervising"));
    assert!(!page.body.contains("id=\"reply\""), "no composer");
    assert!(page.body.contains("id=\"alerts\""), "{}", page.body);
    assert!(page.body.contains("sev-"), "the alert's severity");
    let list = s.get("agent-ana", "/inbox").await;
    assert!(list.body.contains("1 unread"), "{}", list.body);

    // Search within her own conversations: journalled, nothing of others.
    let found = s.post("agent-ana", "/inbox", &[("q", "FATURA")]).await;
    assert_eq!(found.status, StatusCode::OK);
    assert!(
        found.body.contains("1 conversation(s) match"),
        "{}",
        found.body
    );
    assert!(found.body.contains(&format!("/inbox/c/{id}")));
    let none = s.post("agent-bob", "/inbox", &[("q", "fatura")]).await;
    assert!(
        none.body.contains("0 conversation(s) match"),
        "{}",
        none.body
    );
    assert!(!none.body.contains(&format!("/inbox/c/{id}")));
    let runs = s.system_events("search.run");
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].actor, "agent-ana");
    assert_eq!(runs[0].details["via"], "inbox");
    assert_eq!(runs[0].details["conversations"], serde_json::json!([id]));
    assert_eq!(runs[1].details["conversations"], serde_json::json!([]));
    let r = s.post("agent-ana", "/inbox", &[("q", " ")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Ana opens it: recorded, and read.
    let page = s.get("agent-ana", &here).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Carla Souza"), "the linked name");
    assert!(!page.body.contains("id=\"alerts\""), "agents see no alerts");
    assert!(page.body.contains("carla@example.com"), "the other address");
    assert_only_own_script(&here, &page);
    assert!(page.body.contains("Olá, a minha fatura?"));
    assert!(page.body.contains("opted in since"), "consent shown");
    assert!(page.body.contains("class=\"countdown\""), "countdown shown");
    let opened = s.system_events("inbox.opened");
    assert_eq!(opened.len(), 2);
    assert_eq!(opened[0].actor, "cco");
    assert_eq!(opened[0].details["marks_read"], false);
    assert_eq!(opened[1].actor, "agent-ana");
    assert_eq!(opened[1].details["marks_read"], true);
    assert_eq!(opened[1].details["upto"], id);
    let list = s.get("agent-ana", "/inbox").await;
    assert!(!list.body.contains("unread\""), "{}", list.body);
    // The access log lists the reads.
    let log: serde_json::Value = s
        .http
        .get(format!("{}/api/v1/audit", s.base))
        .header("cookie", &s.sessions["cco"].0)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = log.to_string();
    assert!(
        text.contains("inbox.opened") && text.contains("agent-ana"),
        "{log:#}"
    );

    // Replies: free text with the disclaimer, a canned response, a template.
    let r = s
        .post(
            "agent-ana",
            &format!("{here}/send"),
            &[("text", "Já vejo.")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.headers["location"], here.as_str());
    let r = s
        .post("agent-ana", &format!("{here}/send"), &[("canned", "0")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = s
        .post(
            "agent-ana",
            &format!("{here}/send"),
            &[("template", "follow_up")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let sent = s.sent();
    assert_eq!(sent.len(), 3, "{sent:#?}");
    assert_eq!(sent[0]["to"], CUSTOMER);
    assert_eq!(sent[0]["text"]["body"], format!("Já vejo.\n\n{DISCLAIMER}"));
    assert_eq!(
        sent[1]["text"]["body"],
        format!("Thanks, looking into it.\n\n{DISCLAIMER}")
    );
    assert_eq!(sent[2]["template"]["name"], "follow_up");
    assert_eq!(sent[2]["template"]["language"]["code"], "en");

    // Bad forms name the field; nothing leaves.
    let r = s
        .post(
            "agent-ana",
            &format!("{here}/send"),
            &[("template", "nope")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("template:"), "{}", r.body);
    let r = s
        .post("agent-ana", &format!("{here}/send"), &[("text", "  ")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("text:"), "{}", r.body);

    // A card number: refused with the reason on the page, and journalled.
    let r = s
        .post(
            "agent-ana",
            &format!("{here}/send"),
            &[("text", "Card 4111 1111 1111 1111 please")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("id=\"refusal\""), "{}", r.body);
    assert!(r.body.contains("card number"), "{}", r.body);
    assert_eq!(s.sent().len(), 3, "nothing more left");
    let refused = s.system_events("whatsapp.send.refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].details["sent_by"], "agent-ana");

    // The thread shows the replies with their ticks; a failure its reason.
    s.journal
        .append(
            &Event::Status(DeliveryStatus {
                channel: "whatsapp".into(),
                target: "wamid.OUT1".into(),
                recipient: CUSTOMER.into(),
                state: DeliveryState::Failed,
                at: Timestamp::now(),
                captured_at: Timestamp::now(),
                error: Some("131026: Message undeliverable".into()),
                raw_digest: Digest::of(b"status"),
            }),
            Some(CUSTOMER),
        )
        .unwrap();
    let thread = s.get("agent-ana", &format!("{here}/thread")).await;
    assert_eq!(thread.status, StatusCode::OK);
    assert!(thread.headers.contains_key("x-inbox-sig"));
    assert!(thread.body.contains("Já vejo."), "{}", thread.body);
    assert!(thread.body.contains("ticks failed"), "{}", thread.body);
    assert!(
        thread.body.contains("131026: Message undeliverable"),
        "{}",
        thread.body
    );
    assert!(thread.body.contains("[template follow_up]"));
    assert!(
        thread
            .body
            .contains(&format!("action=\"/inbox/c/{id}/retry\"")),
        "{}",
        thread.body
    );

    // The failed message is sent again, as it was; only a failed one can be.
    let r = s
        .post(
            "agent-ana",
            &format!("{here}/retry"),
            &[("wamid", "wamid.OUT1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let sent = s.sent();
    assert_eq!(sent.len(), 4, "{sent:#?}");
    assert_eq!(sent[3]["text"]["body"], format!("Já vejo.\n\n{DISCLAIMER}"));
    let r = s
        .post(
            "agent-ana",
            &format!("{here}/retry"),
            &[("wamid", "wamid.OUT2")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("wamid:"), "{}", r.body);

    // A note about the customer, then a transfer to team B.
    let r = s
        .post(
            "agent-ana",
            &format!("{here}/notes"),
            &[("text", "Prefers Portuguese")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = s
        .post(
            "agent-ana",
            &format!("{here}/assign"),
            &[("to", "team:team-b"), ("reason", "a rates question")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let assigned = s.system_events("inbox.assigned");
    assert_eq!(assigned.len(), 1);
    assert_eq!(assigned[0].actor, "agent-ana");
    assert_eq!(assigned[0].details["to_team"], "team-b");
    assert_eq!(assigned[0].details["reason"], "a rates question");
    // Now it is Bob's team's, and no longer Ana's.
    assert_eq!(
        s.get("agent-ana", &here).await.status,
        StatusCode::NOT_FOUND
    );
    let page = s.get("agent-bob", &here).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("team team-b"));
    assert!(page.body.contains("Prefers Portuguese"), "notes shown");
    let notes = s.system_events("inbox.note");
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].details["party"], format!("+{CUSTOMER}"));
    let r = s
        .post(
            "agent-bob",
            &format!("{here}/assign"),
            &[("to", "somebody")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("to:"), "{}", r.body);
    // Bob hands it back to Ana herself.
    let r = s
        .post(
            "agent-bob",
            &format!("{here}/assign"),
            &[("to", "user:agent-ana"), ("reason", "her client")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(s.get("agent-ana", &here).await.status, StatusCode::OK);
    assert_eq!(
        s.get("agent-bob", &here).await.status,
        StatusCode::NOT_FOUND
    );

    // The script is served from self, without signing in.
    let r = s
        .http
        .get(format!("{}/assets/inbox.js", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(r.text().await.unwrap().contains("EventSource"));
}

/// Reads a server-sent events response until an event named `name`
/// arrives (its data), or fails after `within`.
async fn next_event(r: &mut reqwest::Response, name: &str, within: Duration) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let chunk = tokio::time::timeout_at(deadline, r.chunk())
            .await
            .unwrap_or_else(|_| panic!("no `{name}` event within {within:?}: {seen:?}"))
            .unwrap();
        let Some(chunk) = chunk else {
            panic!("stream ended before `{name}`: {seen:?}")
        };
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(at) = seen.find(&format!("event: {name}\n")) {
            let rest = &seen[at..];
            if let Some(data) = rest.lines().find_map(|l| l.strip_prefix("data: ")) {
                return data.to_string();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_streams_announce_changes_and_respect_the_barrier() {
    let s = setup().await;
    let id = s.conversation();
    let page = s.get("agent-ana", &format!("/inbox/c/{id}")).await;
    let sig = sig_of(&page.body);
    let list = s.get("agent-ana", "/inbox").await;
    let list_sig = sig_of(&list.body);

    let open = |path: String| {
        s.http
            .get(format!("{}{path}", s.base))
            .header("cookie", &s.sessions["agent-ana"].0)
            .send()
    };
    let mut thread = open(format!("/inbox/c/{id}/events?sig={sig}"))
        .await
        .unwrap();
    assert_eq!(thread.status(), StatusCode::OK);
    assert!(
        thread.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut listing = open(format!("/inbox/events?sig={list_sig}")).await.unwrap();
    assert_eq!(listing.status(), StatusCode::OK);
    // A stale signature is answered at once.
    let mut stale = open("/inbox/events?sig=1".into()).await.unwrap();
    next_event(&mut stale, "changed", Duration::from_secs(5)).await;

    // A new message from the customer: both streams say so.
    s.journal
        .append(&inbound("wamid.IN2", "Ainda aí?"), Some(CUSTOMER))
        .unwrap();
    let new_sig = next_event(&mut thread, "changed", Duration::from_secs(10)).await;
    assert_ne!(new_sig, sig);
    let new_list = next_event(&mut listing, "changed", Duration::from_secs(10)).await;
    assert_ne!(new_list, list_sig);
    // The fragment carries the signature the stream announced.
    let fragment = s.get("agent-ana", &format!("/inbox/c/{id}/thread")).await;
    assert_eq!(fragment.headers["x-inbox-sig"], new_sig.as_str());
    assert!(fragment.body.contains("Ainda aí?"));
    let fragment = s.get("agent-ana", "/inbox/list").await;
    assert!(fragment.body.contains(&format!("+{CUSTOMER}")));

    // Another team's agent cannot listen.
    let r = s
        .http
        .get(format!("{}/inbox/c/{id}/events", s.base))
        .header("cookie", &s.sessions["agent-bob"].0)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

const NEWCOMER: &str = "5511900001111";

/// Posts a webhook body signed with the test app secret (`s`).
async fn webhook(s: &Setup, body: serde_json::Value) {
    let body = body.to_string();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"s");
    let signature = format!(
        "sha256={}",
        hex::encode(ring::hmac::sign(&key, body.as_bytes()).as_ref())
    );
    let r = s
        .http
        .post(format!("{}/webhooks/whatsapp", s.base))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
}

fn from_newcomer(message: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": LINE_ANA, "phone_number_id": PHONE_ID},
            "contacts": [{"profile": {"name": "Nina"}, "wa_id": NEWCOMER}],
            "messages": [message],
        }}]}],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opt_in_template_asks_and_the_button_reply_is_the_evidence() {
    let s = setup().await;
    let now = Timestamp::now().as_micros() / 1_000_000;
    webhook(
        &s,
        from_newcomer(serde_json::json!({
            "from": NEWCOMER, "id": "wamid.NEW1", "timestamp": now.to_string(),
            "type": "text", "text": {"body": "Oi, vi o vosso anúncio"},
        })),
    )
    .await;
    let page = s.get("agent-ana", "/inbox").await;
    let at = page
        .body
        .find(&format!("+{NEWCOMER}"))
        .expect("in the inbox");
    let link = page.body[..at].rfind("/inbox/c/").unwrap();
    let id: u64 = page.body[link + 9..]
        .split('"')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let here = format!("/inbox/c/{id}");

    // No consent: only the opt-in request is offered, and only it leaves.
    let page = s.get("agent-ana", &here).await;
    assert!(page.body.contains("id=\"opt-in\""), "{}", page.body);
    assert!(!page.body.contains("id=\"reply\""), "{}", page.body);
    assert!(page.body.contains("no WhatsApp consent on record"));
    for form in [[("text", "Olá Nina")], [("template", "follow_up")]] {
        let r = s.post("agent-ana", &format!("{here}/send"), &form).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
        assert!(r.body.contains("no WhatsApp consent"), "{}", r.body);
    }
    assert!(s.sent().is_empty());
    let r = s
        .post(
            "agent-ana",
            &format!("{here}/send"),
            &[("template", "optin")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let sent = s.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["template"]["name"], "optin");
    assert_eq!(sent[0]["to"], NEWCOMER);

    // The customer taps YES on the template's button.
    webhook(
        &s,
        from_newcomer(serde_json::json!({
            "from": NEWCOMER, "id": "wamid.BTN1", "timestamp": (now + 5).to_string(),
            "type": "button", "context": {"from": LINE_ANA, "id": "wamid.OUT1"},
            "button": {"text": "YES", "payload": "optin-yes"},
        })),
    )
    .await;
    let consents: Vec<ConsentChange> = s
        .journal
        .entries(0)
        .filter_map(|e| match s.journal.open_entry(&e.unwrap()).unwrap() {
            Opened::Event(Event::Consent(c)) if c.party == format!("+{NEWCOMER}") => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(consents.len(), 1, "{consents:#?}");
    let c = &consents[0];
    assert_eq!(c.state, ConsentState::OptIn);
    assert_eq!(c.recorded_by, "inbox.opt-in");
    let evidence: serde_json::Value = serde_json::from_str(&c.evidence).unwrap();
    assert_eq!(evidence["template"], "optin");
    assert_eq!(
        evidence["shown"],
        "May we message you here? Reply YES or NO."
    );
    assert_eq!(evidence["sent_wamid"], "wamid.OUT1");
    assert_eq!(evidence["reply"]["wamid"], "wamid.BTN1");
    assert_eq!(evidence["reply"]["text"], "YES");

    // The conversation is unlocked: the composer is back and text leaves.
    let page = s.get("agent-ana", &here).await;
    assert!(page.body.contains("id=\"reply\""), "{}", page.body);
    assert!(page.body.contains("consent-history"), "{}", page.body);
    let r = s
        .post(
            "agent-ana",
            &format!("{here}/send"),
            &[("text", "Obrigado, Nina!")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(s.sent().len(), 2);

    // A reply that is not a yes, to the same request, records an opt-out.
    webhook(
        &s,
        from_newcomer(serde_json::json!({
            "from": NEWCOMER, "id": "wamid.BTN2", "timestamp": (now + 9).to_string(),
            "type": "button", "context": {"from": LINE_ANA, "id": "wamid.OUT1"},
            "button": {"text": "NO", "payload": "optin-no"},
        })),
    )
    .await;
    let r = s
        .post(
            "agent-ana",
            &format!("{here}/send"),
            &[("text", "Mais uma coisa")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body.contains("opted out"), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_is_kept_uploaded_and_sent_with_its_caption_checked() {
    let s = setup().await;
    let id = s.conversation();
    let here = format!("/inbox/c/{id}");
    let pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n".to_vec();
    let upload = |caption: &str| {
        let part = |name: &str, data: &[u8]| custos_server::multipart::Part {
            name: name.into(),
            filename: None,
            content_type: None,
            data: data.to_vec(),
        };
        custos_server::multipart::encode(&[
            part("_csrf", s.sessions["agent-ana"].1.as_bytes()),
            part("caption", caption.as_bytes()),
            custos_server::multipart::Part {
                name: "file".into(),
                filename: Some("proposta.pdf".into()),
                content_type: Some("application/pdf".into()),
                data: pdf.clone(),
            },
        ])
    };
    let post = |(content_type, body): (String, Vec<u8>)| {
        s.http
            .post(format!("{}{here}/media", s.base))
            .header("cookie", &s.sessions["agent-ana"].0)
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    // A caption with a card number: refused before anything is uploaded.
    let r = post(upload("Cartão 4111 1111 1111 1111")).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(s.graph.uploads.lock().unwrap().is_empty());
    assert!(s.sent().is_empty());

    let r = post(upload("A proposta")).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    let uploads = s.graph.uploads.lock().unwrap().clone();
    assert_eq!(uploads.len(), 1);
    let file = uploads[0].iter().find(|p| p.name == "file").unwrap();
    assert_eq!(file.data, pdf);
    assert_eq!(file.content_type.as_deref(), Some("application/pdf"));
    let sent = s.sent();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0]["type"], "document");
    assert_eq!(sent[0]["document"]["id"], "media-1");
    assert_eq!(sent[0]["document"]["filename"], "proposta.pdf");
    assert_eq!(sent[0]["document"]["caption"], "A proposta");

    // On record: the outbound message names the stored file.
    let out = s
        .journal
        .entries(0)
        .find_map(|e| match s.journal.open_entry(&e.unwrap()).unwrap() {
            Opened::Event(Event::Message(m)) if m.direction == Direction::Outbound => Some(m),
            _ => None,
        })
        .unwrap();
    assert_eq!(out.text.as_deref(), Some("A proposta"));
    assert_eq!(out.attachments.len(), 1);
    assert_eq!(out.attachments[0].sha256, Digest::of(&pdf));
    assert_eq!(out.attachments[0].name.as_deref(), Some("proposta.pdf"));
    let thread = s.get("agent-ana", &format!("{here}/thread")).await;
    assert!(
        thread.body.contains("proposta.pdf (application/pdf"),
        "{}",
        thread.body
    );

    // The document fails to deliver; a retry uploads the stored file again
    // and sends it with its caption and name.
    s.journal
        .append(
            &Event::Status(DeliveryStatus {
                channel: "whatsapp".into(),
                target: out.source_id.clone(),
                recipient: CUSTOMER.into(),
                state: DeliveryState::Failed,
                at: Timestamp::now(),
                captured_at: Timestamp::now(),
                error: Some("131053: Media upload error".into()),
                raw_digest: Digest::of(b"status"),
            }),
            Some(CUSTOMER),
        )
        .unwrap();
    let r = s
        .post(
            "agent-ana",
            &format!("{here}/retry"),
            &[("wamid", out.source_id.as_str())],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let uploads = s.graph.uploads.lock().unwrap().clone();
    assert_eq!(uploads.len(), 2, "the file is uploaded again");
    let again = uploads[1].iter().find(|p| p.name == "file").unwrap();
    assert_eq!(again.data, pdf);
    let sent = s.sent();
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert_eq!(sent[1]["type"], "document");
    assert_eq!(sent[1]["document"]["id"], "media-2");
    assert_eq!(sent[1]["document"]["filename"], "proposta.pdf");
    assert_eq!(sent[1]["document"]["caption"], "A proposta");

    // No file: the field is named; no CSRF token: refused.
    let (ct, body) = custos_server::multipart::encode(&[custos_server::multipart::Part {
        name: "_csrf".into(),
        filename: None,
        content_type: None,
        data: s.sessions["agent-ana"].1.as_bytes().to_vec(),
    }]);
    let r = post((ct, body)).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("file:"));
    let (ct, body) = custos_server::multipart::encode(&[custos_server::multipart::Part {
        name: "caption".into(),
        filename: None,
        content_type: None,
        data: b"x".to_vec(),
    }]);
    let r = post((ct, body)).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
