//! The web console over real HTTP on loopback, over a small archive:
//! two custodians on two desks, messages imported into the journal,
//! alerts raised by the starter policies. Every page renders for its
//! roles with that data, the information barrier holds in the queue, the
//! dashboard and search, a form closes an alert (journalled), the policy
//! editor's test shows hits, and no page carries inline script or style.
//!
//! Each test user signs in through `POST /signin` and uses the session
//! cookie and its CSRF token, as a browser does.

use axum::http::StatusCode;
use custos_auth::Role;
use custos_journal::{Journal, Opened};
use custos_model::{Digest, Direction, Event, Message, Timestamp};
use custos_review::Supervisor;
use custos_server::media::MediaQueue;
use custos_server::search::{Person, SearchService};
use custos_server::supervision::Supervision;
use custos_server::{AppState, Secret, WhatsAppConfig};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const ANA: &str = "+447700900001";
const BOB: &str = "+447700900002";
const CUSTOMER: &str = "+5511977776666";

struct Setup {
    _dir: tempfile::TempDir,
    journal: Journal,
    supervision: Supervision,
    base: String,
    http: reqwest::Client,
    /// Per user: the session cookie and its CSRF token.
    sessions: BTreeMap<&'static str, (String, String)>,
}

/// The roles and units of each test user.
fn roles_of(name: &str) -> (Role, &'static [&'static str]) {
    match name {
        "cco" => (Role::ComplianceOfficer, &[]),
        "reviewer-fx" => (Role::Reviewer, &["fx"]),
        "auditor" => (Role::Auditor, &[]),
        "dpo" => (Role::Dpo, &[]),
        "admin" => (Role::Admin, &[]),
        other => panic!("no test user {other}"),
    }
}

/// Test users, each signed in through the real form.
const USERS: [&str; 5] = ["cco", "reviewer-fx", "auditor", "dpo", "admin"];

fn message(id: &str, from: &str, to: &str, direction: Direction, text: &str) -> Event {
    let now = Timestamp::now();
    Event::Message(Message {
        channel: "whatsapp".into(),
        source_id: id.into(),
        conversation: format!("conv-{}", if from == CUSTOMER { to } else { from }),
        sender: from.into(),
        recipients: vec![to.into()],
        direction,
        sent_at: now,
        captured_at: now,
        text: Some(text.into()),
        attachments: vec![],
        reply_to: None,
        raw_digest: Digest::of(id.as_bytes()),
        extra: Default::default(),
    })
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(dir.path(), None, "test").unwrap();
    for event in custos_review::policies::starter_events("cco").unwrap() {
        journal.append(&event, None).unwrap();
    }
    for (id, name, phone, unit) in [
        ("ana", "Ana Lima", ANA, "fx"),
        ("bob", "Bob Reyes", BOB, "rates"),
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
    let messages = [
        message(
            "w1",
            CUSTOMER,
            ANA,
            Direction::Inbound,
            "Hello Ana, is the fund safe?",
        ),
        message(
            "w2",
            ANA,
            CUSTOMER,
            Direction::Outbound,
            "I guarantee you 15% returns on this fund",
        ),
        message(
            "w3",
            CUSTOMER,
            ANA,
            Direction::Inbound,
            "I want to make a formal complaint about the fees",
        ),
        message(
            "w4",
            BOB,
            CUSTOMER,
            Direction::Outbound,
            "Rates desk here: guaranteed 12% profit, trust me",
        ),
    ];
    for m in &messages {
        journal.append(m, Some(CUSTOMER)).unwrap();
    }
    let consent = Event::Consent(custos_model::ConsentChange {
        channel: "whatsapp".into(),
        party: CUSTOMER.into(),
        state: custos_model::ConsentState::OptIn,
        evidence: "web form".into(),
        at: Timestamp::now(),
        recorded_by: "crm".into(),
    });
    journal.append(&consent, Some(CUSTOMER)).unwrap();

    let registry = custos_governance::custodians::registry(&journal).unwrap();
    let custodians = registry
        .values()
        .map(|c| custos_review::Custodian {
            id: c.id.clone(),
            address: custos_model::party_id(&c.phone),
            units: c.units.clone(),
        })
        .collect();
    let people = registry
        .values()
        .map(|c| Person {
            id: c.id.clone(),
            name: c.name.clone(),
            address: custos_model::party_id(&c.phone),
            units: c.units.clone(),
        })
        .collect();
    let config = WhatsAppConfig {
        app_secret: Secret::new("s"),
        verify_token: Secret::new("v"),
        access_token: Secret::new("t"),
        graph_url: "http://127.0.0.1:9".into(),
        phone_number_id: "1065".into(),
    };
    let mut users = custos_auth::Users::default();
    for name in USERS {
        let (role, units) = roles_of(name);
        crate::grant(&journal, &mut users, name, &[role], units, None);
    }
    let state = AppState::new(journal.clone(), config, MediaQueue::disabled())
        .unwrap()
        .with_auth(crate::auth_of(&journal, users));
    let supervisor = Supervisor::open_saved(&journal, custodians).unwrap();
    let supervision = Supervision::start(
        journal.clone(),
        supervisor,
        None,
        Some(state.parties.clone()),
    )
    .unwrap();
    let index = custos_search::SearchIndex::open(&dir.path().join("state/search")).unwrap();
    let search = SearchService::start(journal.clone(), index, people, None);
    let state = state
        .with_supervision(supervision.clone())
        .with_search(search.clone());

    // Wait for the supervisor's alerts and the index to catch up.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let alerts = supervision.with(|s| s.state.alerts.len());
        if alerts >= 3 && search.index().messages() >= 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "supervision or index did not catch up ({alerts} alerts)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

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
        supervision,
        base,
        http,
        sessions,
    }
}

struct Page {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
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

    /// Alert ids by custodian.
    fn alert_of(&self, custodian: &str, policy: &str) -> String {
        self.supervision.with(|s| {
            s.state
                .alerts
                .values()
                .find(|a| {
                    a.raised.custodian.as_deref() == Some(custodian) && a.raised.policy == policy
                })
                .map(|a| a.id.clone())
                .unwrap_or_else(|| panic!("no {policy} alert for {custodian}"))
        })
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

    fn message_seq(&self, source_id: &str) -> u64 {
        for entry in self.journal.entries(0) {
            let entry = entry.unwrap();
            if let Opened::Event(Event::Message(m)) = self.journal.open_entry(&entry).unwrap()
                && m.source_id == source_id
            {
                return entry.leaf.seq;
            }
        }
        panic!("no message {source_id}")
    }
}

/// A form posted: who, where, fields, what the page must show.
type Post<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, &'a str);

fn assert_clean(path: &str, page: &Page) {
    let csp = page
        .headers
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("{path}: no CSP"))
        .to_str()
        .unwrap();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("script-src 'self'"),
        "{path}: {csp}"
    );
    assert!(csp.contains("style-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(page.headers["x-frame-options"], "DENY", "{path}");
    assert_eq!(page.headers["x-content-type-options"], "nosniff", "{path}");
    assert_eq!(page.headers["referrer-policy"], "no-referrer", "{path}");
    let lower = page.body.to_lowercase();
    assert!(!lower.contains("<script"), "{path}: inline script");
    assert!(!lower.contains("style="), "{path}: inline style attribute");
    assert!(!lower.contains("<style"), "{path}: style element");
    assert!(
        !lower.contains(" on") || !lower.contains("onclick="),
        "{path}: event handler"
    );
}

#[tokio::test]
async fn every_page_renders_for_its_roles_without_inline_code() {
    let s = setup().await;
    let ana_alert = s.alert_of("ana", "promissory");
    let w2 = s.message_seq("w2");
    let mut seen: Vec<(String, Page)> = Vec::new();

    let gets = [
        ("cco", "/".to_string(), "Messages per channel per day"),
        (
            "cco",
            "/alerts".to_string(),
            "Promissory or guarantee language",
        ),
        ("cco", format!("/alerts/{ana_alert}"), "<mark>"),
        ("cco", "/search".to_string(), "name=\"q\""),
        ("cco", format!("/conversations/{w2}"), "name=\"reason\""),
        ("cco", "/holds".to_string(), "Place a hold"),
        (
            "dpo",
            "/consent".to_string(),
            "1 parties have a consent record",
        ),
        ("dpo", "/privacy".to_string(), "No open requests"),
        ("admin", "/custodians".to_string(), "Ana Lima"),
        ("admin", "/policies".to_string(), "promissory"),
        ("admin", "/policies/promissory".to_string(), "Version 1"),
        ("auditor", "/verify".to_string(), "Public key"),
        ("auditor", "/audit".to_string(), "Audit log"),
    ];
    for (who, path, expect) in gets {
        let page = s.get(who, &path).await;
        assert_eq!(page.status, StatusCode::OK, "{who} {path}: {}", page.body);
        assert!(page.body.contains(expect), "{who} {path} lacks {expect:?}");
        seen.push((path, page));
    }
    let posts: [Post; 5] = [
        (
            "cco",
            "/search".into(),
            vec![("q", "guarantee*"), ("reason", "spot check")],
            "<mark>",
        ),
        (
            "cco",
            format!("/conversations/{w2}"),
            vec![("reason", "spot check"), ("tz", "America/Sao_Paulo")],
            "America/Sao_Paulo",
        ),
        (
            "dpo",
            "/consent".into(),
            vec![("party", "+55 11 97777-6666")],
            "web form",
        ),
        ("auditor", "/verify".into(), vec![], "The archive verifies"),
        (
            "admin",
            "/policies".into(),
            vec![("action", "test"), ("text", "not = [toml"), ("sample", "x")],
            "error-box",
        ),
    ];
    for (who, path, form, expect) in posts {
        let page = s.post(who, &path, &form).await;
        assert!(
            page.status == StatusCode::OK || page.status == StatusCode::BAD_REQUEST,
            "{who} POST {path}: {}",
            page.status
        );
        assert!(
            page.body.contains(expect),
            "{who} POST {path} lacks {expect:?}: {}",
            page.body
        );
        seen.push((format!("POST {path}"), page));
    }
    // The conversation reads like the chat: the customer left, Ana right, names.
    let conv = &seen
        .iter()
        .find(|(p, _)| p.starts_with("POST /conversations"))
        .unwrap()
        .1;
    assert!(conv.body.contains("bubble in") && conv.body.contains("bubble out"));
    assert!(conv.body.contains("Ana Lima"));

    // Pages a role may not use: the 403 page, with the same headers.
    for (who, path) in [
        ("admin", "/alerts"),
        ("auditor", "/search"),
        ("reviewer-fx", "/holds"),
        ("dpo", "/policies"),
        ("reviewer-fx", "/audit"),
    ] {
        let page = s.get(who, path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{who} {path}");
        assert!(page.body.contains("Not available to you"));
        seen.push((format!("403 {path}"), page));
    }
    // The home page sends those without a dashboard to their first page.
    let home = s.get("auditor", "/").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.headers["location"], "/verify");

    // Navigation shows only what the role may use.
    let nav = s.get("reviewer-fx", "/alerts").await;
    assert!(nav.body.contains("href=\"/search\""));
    for hidden in [
        "href=\"/holds\"",
        "href=\"/audit\"",
        "href=\"/policies\"",
        "href=\"/privacy\"",
    ] {
        assert!(!nav.body.contains(hidden), "reviewer sees {hidden}");
    }
    let nav = s.get("auditor", "/audit").await;
    assert!(!nav.body.contains("href=\"/alerts\"") && !nav.body.contains("href=\"/search\""));

    for (path, page) in &seen {
        assert_clean(path, page);
    }
    let css = s.get("cco", "/assets/custos.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(css.body.contains(".bubble.out"));

    // Reads were journalled as the API journals them.
    let searches = s.system_events(custos_server::search::SEARCHED);
    assert!(
        searches
            .iter()
            .any(|e| e.actor == "cco" && e.details["reason"] == "spot check")
    );
    let opened = s.system_events(custos_server::search::OPENED);
    assert!(opened.iter().any(|e| {
        e.actor == "cco"
            && e.details["seqs"]
                .as_array()
                .is_some_and(|a| a.contains(&w2.into()))
    }));
    let reads = s.system_events("content.read");
    assert!(
        reads
            .iter()
            .any(|e| e.actor == "cco" && e.target.as_deref() == Some(ana_alert.as_str()))
    );
}

#[tokio::test]
async fn the_barrier_holds_in_the_queue_the_dashboard_and_search() {
    let s = setup().await;
    let ana_alert = s.alert_of("ana", "promissory");
    let bob_alert = s.alert_of("bob", "promissory");

    let queue = s.get("reviewer-fx", "/alerts?status=all").await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(
        queue.body.contains(&ana_alert),
        "fx reviewer misses Ana's alert"
    );
    assert!(
        !queue.body.contains(&bob_alert),
        "fx reviewer sees Bob's alert"
    );
    assert!(!queue.body.contains("Bob Reyes"));
    let all = s.get("cco", "/alerts?status=all").await;
    assert!(all.body.contains(&ana_alert) && all.body.contains(&bob_alert));

    // Bob's alert cannot be opened or acted on from desk fx.
    let page = s.get("reviewer-fx", &format!("/alerts/{bob_alert}")).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let act = s
        .post(
            "reviewer-fx",
            &format!("/alerts/{bob_alert}/actions"),
            &[("action", "comment"), ("text", "x")],
        )
        .await;
    assert_eq!(act.status, StatusCode::NOT_FOUND);

    // Dashboard counts: desk fx has Ana's 3 messages; the firm has 4.
    let tile = |body: &str| -> String {
        let at = body
            .find("<p class=\"tile-label\">Messages</p>")
            .expect("messages tile");
        let rest = &body[at..];
        let v = rest.find("tile-value\">").unwrap() + "tile-value\">".len();
        rest[v..].split('<').next().unwrap().to_string()
    };
    assert_eq!(tile(&s.get("reviewer-fx", "/").await.body), "3");
    assert_eq!(tile(&s.get("cco", "/").await.body), "4");
    let fx_dash = s.get("reviewer-fx", "/").await.body;
    assert!(
        !fx_dash.contains("Opt-ins and opt-outs"),
        "consent counts are firm-wide"
    );
    assert!(
        s.get("cco", "/")
            .await
            .body
            .contains("Opt-ins and opt-outs")
    );

    // Search: the same query finds both for the firm, only Ana for desk fx.
    let q = [("q", "guarantee*"), ("reason", "barrier test")];
    let firm = s.post("cco", "/search", &q).await.body;
    assert!(firm.contains("of 2 messages"), "{firm}");
    let fx = s.post("reviewer-fx", "/search", &q).await.body;
    assert!(fx.contains("of 1 messages"), "{fx}");
    assert!(fx.contains("15% returns") && !fx.contains("12% profit"));

    // Bob's conversation cannot be opened from desk fx.
    let w4 = s.message_seq("w4");
    let conv = s
        .post(
            "reviewer-fx",
            &format!("/conversations/{w4}"),
            &[("reason", "x")],
        )
        .await;
    assert_eq!(conv.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn closing_an_alert_through_the_form_is_journalled() {
    let s = setup().await;
    let id = s.alert_of("ana", "promissory");
    let r = s
        .post(
            "reviewer-fx",
            &format!("/alerts/{id}/actions"),
            &[
                ("action", "close"),
                ("disposition", "breach"),
                ("text", "promised a return"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let status = s.supervision.with(|sup| sup.state.alerts[&id].status);
    assert_eq!(
        status,
        custos_review::Status::Closed(custos_review::Disposition::Breach)
    );
    let closed = s.system_events("alert.closed");
    assert!(
        closed
            .iter()
            .any(|e| e.actor == "reviewer-fx" && e.target.as_deref() == Some(id.as_str()))
    );
    let page = s.get("reviewer-fx", &format!("/alerts/{id}")).await;
    assert!(page.body.contains("closed: breach") && page.body.contains("This alert is closed"));
    // An empty disposition is a clear 400 naming what is wrong; nothing journalled.
    let before = s.journal.size();
    let bad = s
        .post(
            "cco",
            &format!("/alerts/{}/actions", s.alert_of("bob", "promissory")),
            &[("action", "close"), ("text", "x")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("disposition"));
    assert_eq!(s.journal.size(), before);
}

#[tokio::test]
async fn the_policy_editor_tests_on_sample_text_and_saves_a_version() {
    let s = setup().await;
    let source = s
        .supervision
        .with(|sup| sup.state.policies["promissory"].current().source.clone());
    let test = s
        .post(
            "admin",
            "/policies",
            &[
                ("action", "test"),
                ("text", &source),
                ("sample", "Honestly, we guarantee 15% on this"),
            ],
        )
        .await;
    assert_eq!(test.status, StatusCode::OK);
    assert!(test.body.contains("would fire"), "{}", test.body);
    assert!(
        test.body.contains("<mark>guarantee 15%</mark>"),
        "{}",
        test.body
    );
    let quiet = s
        .post(
            "admin",
            "/policies",
            &[
                ("action", "test"),
                ("text", &source),
                ("sample", "Returns are not guaranteed."),
            ],
        )
        .await;
    assert!(quiet.body.contains("would not fire"));
    assert_eq!(
        s.supervision
            .with(|sup| sup.state.policies["promissory"].current().version),
        1
    );

    let edited = source.replace("severity = \"high\"", "severity = \"critical\"");
    let saved = s
        .post(
            "admin",
            "/policies",
            &[("action", "save"), ("text", &edited)],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    assert_eq!(saved.headers["location"], "/policies/promissory");
    let v = s.supervision.with(|sup| {
        let p = &sup.state.policies["promissory"];
        (
            p.current().version,
            p.current().loaded_by.clone(),
            p.current().origin.clone(),
        )
    });
    assert_eq!(v, (2, "admin".to_string(), "console".to_string()));
    let page = s.get("admin", "/policies/promissory?version=1").await;
    assert!(
        page.body.contains("severity = &#34;high&#34;")
            || page.body.contains("severity = &quot;high&quot;"),
        "{}",
        page.body
    );
    let missing = s.get("admin", "/policies/promissory?version=9").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn holds_are_placed_and_released_through_forms() {
    let s = setup().await;
    let placed = s
        .post(
            "cco",
            "/holds",
            &[
                ("name", "Kestrel v. Bank"),
                ("reason", "litigation"),
                ("custodians", "ana"),
                ("from", "2024-01-01"),
            ],
        )
        .await;
    assert_eq!(placed.status, StatusCode::SEE_OTHER);
    let page = s.get("cco", "/holds").await.body;
    assert!(
        page.contains("Kestrel v. Bank")
            && page.contains("custodians: ana")
            && page.contains("in force")
    );
    let bad = s
        .post(
            "cco",
            "/holds",
            &[("name", "x"), ("reason", "y"), ("from", "2024-13-01")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("from"));
    let id = s.system_events("hold.placed").len();
    assert_eq!(id, 1);
    let hold_id = {
        let at = page.find("action=\"/holds/").unwrap() + "action=\"/holds/".len();
        page[at..].split('/').next().unwrap().to_string()
    };
    let released = s
        .post(
            "cco",
            &format!("/holds/{hold_id}/release"),
            &[("reason", "settled")],
        )
        .await;
    assert_eq!(released.status, StatusCode::SEE_OTHER);
    assert!(s.get("cco", "/holds").await.body.contains("settled"));
}

#[tokio::test]
async fn console_pages_mask_cards_for_reviewers_and_show_them_to_the_compliance_officer() {
    let s = setup().await;
    let card = "4539 1488 0343 6467";
    s.journal
        .append(
            &message(
                "w5",
                CUSTOMER,
                ANA,
                Direction::Inbound,
                &format!("charge my card {card} for the fund please"),
            ),
            Some(CUSTOMER),
        )
        .unwrap();
    let q = [("q", "charge"), ("reason", "redaction test")];
    let deadline = Instant::now() + Duration::from_secs(20);
    let firm = loop {
        let page = s.post("cco", "/search", &q).await.body;
        let alerted = s.supervision.with(|sup| {
            sup.state
                .alerts
                .values()
                .any(|a| a.raised.policy == "pii-leak")
        });
        if page.contains("of 1 messages") && alerted {
            break page;
        }
        assert!(Instant::now() < deadline, "w5 was not indexed and alerted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        firm.contains(card),
        "the compliance officer sees it in full"
    );
    let fx = s.post("reviewer-fx", "/search", &q).await.body;
    assert!(fx.contains("[card •••• 6467]"), "{fx}");
    assert!(!fx.contains("4539"), "{fx}");

    let w5 = s.message_seq("w5");
    let path = format!("/conversations/{w5}");
    let conv = s.post("reviewer-fx", &path, &[("reason", "review")]).await;
    assert_eq!(conv.status, StatusCode::OK);
    assert!(conv.body.contains("[card •••• 6467]") && !conv.body.contains("4539"));
    let conv = s.post("cco", &path, &[("reason", "review")]).await;
    assert!(conv.body.contains(card));

    let alert = s.alert_of("ana", "pii-leak");
    let page = s.get("reviewer-fx", &format!("/alerts/{alert}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("[card •••• 6467]") && !page.body.contains("4539"),
        "{}",
        page.body
    );
    let page = s.get("cco", &format!("/alerts/{alert}")).await;
    assert!(page.body.contains(card));
}
