//! The alert queue read from the SQL state projection: the projector
//! thread follows the journal, `GET /api/v1/alerts` pages newest first by
//! key, and the barrier is inside the query (a desk reviewer's pages are
//! full of their desk's alerts).

use axum::http::StatusCode;
use custos_journal::Journal;
use custos_model::{Digest, Direction, Event, Message, Timestamp, party_id};
use custos_review::{Custodian, Supervisor};
use custos_server::media::MediaQueue;
use custos_server::supervision::Supervision;
use custos_server::{AppState, Secret, WhatsAppConfig};
use std::time::{Duration, Instant};

const ANA: &str = "+447700900001";
const BEN: &str = "+447700900002";

struct Setup {
    _dir: tempfile::TempDir,
    journal: Journal,
    base: String,
    http: reqwest::Client,
    rita: String,
    rex: String,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(&dir.path().join("a"), None, "test").unwrap();
    for event in custos_review::policies::starter_events("cco").unwrap() {
        journal.append(&event, None).unwrap();
    }
    custos_governance::custodians::add(
        &journal,
        "admin",
        "ana",
        "Ana",
        ANA,
        "2026-01-05",
        &["fx".into()],
    )
    .unwrap();
    custos_governance::custodians::add(
        &journal,
        "admin",
        "ben",
        "Ben",
        BEN,
        "2026-01-05",
        &["rates".into()],
    )
    .unwrap();
    let mut users = custos_auth::Users::default();
    let rita = crate::grant(
        &journal,
        &mut users,
        "rita",
        &[custos_auth::Role::ComplianceOfficer],
        &[],
        None,
    );
    let rex = crate::grant(
        &journal,
        &mut users,
        "rex",
        &[custos_auth::Role::Reviewer],
        &["fx"],
        None,
    );
    let config = WhatsAppConfig {
        app_secret: Secret::new("s"),
        verify_token: Secret::new("v"),
        access_token: Secret::new("t"),
        graph_url: "http://127.0.0.1:9".into(),
        phone_number_id: "1065".into(),
    };
    let people = vec![
        Custodian {
            id: "ana".into(),
            address: party_id(ANA),
            units: vec!["fx".into()],
        },
        Custodian {
            id: "ben".into(),
            address: party_id(BEN),
            units: vec!["rates".into()],
        },
    ];
    let supervisor = Supervisor::open_saved(&journal, people).unwrap();
    let state = AppState::new(journal.clone(), config, MediaQueue::disabled())
        .unwrap()
        .with_auth(crate::auth_of(&journal, users));
    let supervision = Supervision::start(journal.clone(), supervisor, None, None).unwrap();
    let url = custos_store::sqlite_url(&dir.path().join("state.db"));
    let store = custos_server::store::StoreService::start(journal.clone(), &url)
        .await
        .unwrap();
    let state = state.with_supervision(supervision).with_store(store);
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
        rita,
        rex,
    }
}

impl Setup {
    /// A customer asks custodian `to` to move to another app (the
    /// off-channel starter policy fires).
    fn message(&self, id: &str, customer: &str, to: &str, minute: i64) {
        let at = Timestamp::from_micros(
            Timestamp::now().as_micros() - 3_600_000_000 + minute * 60_000_000,
        );
        let event = Event::Message(Message {
            channel: "whatsapp".into(),
            source_id: id.into(),
            conversation: format!("c-{customer}"),
            sender: customer.into(),
            recipients: vec![to.into()],
            direction: Direction::Inbound,
            sent_at: at,
            captured_at: at,
            text: Some(format!("Pode me mandar no Telegram? {id}")),
            attachments: vec![],
            reply_to: None,
            raw_digest: Digest::of(id.as_bytes()),
            extra: Default::default(),
        });
        self.journal.append(&event, Some(customer)).unwrap();
    }

    async fn get(&self, token: &str, path: &str) -> (StatusCode, serde_json::Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap())
    }

    /// A console page as `user` (signed in through the form, as a
    /// browser does).
    async fn console(&self, user: &str, path: &str) -> (StatusCode, String) {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = http
            .post(format!("{}/signin", self.base))
            .form(&[("user", user), ("password", crate::PASSWORD), ("next", "/")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "sign-in of {user}");
        let cookie = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("custos_session="))
            .and_then(|v| v.split(';').next())
            .unwrap()
            .to_string();
        let r = http
            .get(format!("{}{path}", self.base))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// Every page of `path` (which has a `?`), `limit` at a time.
    async fn walk(&self, token: &str, path: &str, limit: usize) -> Vec<serde_json::Value> {
        let mut all = Vec::new();
        let mut cursor = String::new();
        loop {
            let (status, body) = self
                .get(token, &format!("{path}&limit={limit}{cursor}"))
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let page = body["alerts"].as_array().unwrap();
            assert!(page.len() <= limit);
            all.extend(page.iter().cloned());
            match body["next_cursor"].as_str() {
                Some(next) => {
                    assert_eq!(page.len(), limit, "a page before the last is full");
                    cursor = format!("&cursor={next}");
                }
                None => break,
            }
        }
        all
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_is_paged_newest_first_with_the_barrier_in_the_query() {
    let s = setup().await;
    for i in 0..3 {
        s.message(
            &format!("wamid.A{i}"),
            &format!("+55119777700{i:02}"),
            ANA,
            2 * i,
        );
        s.message(
            &format!("wamid.B{i}"),
            &format!("+55118666600{i:02}"),
            BEN,
            2 * i + 1,
        );
    }
    let started = Instant::now();
    loop {
        let (_, body) = s.get(&s.rita, "/api/v1/alerts?all=true").await;
        if body["alerts"].as_array().unwrap().len() == 6
            || started.elapsed() > Duration::from_secs(20)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The compliance officer: all six, two a page, newest first, each once.
    let all = s.walk(&s.rita, "/api/v1/alerts?all=true", 2).await;
    assert_eq!(all.len(), 6, "{all:#?}");
    let sources: Vec<&str> = all
        .iter()
        .map(|a| a["source_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        sources,
        [
            "wamid.B2", "wamid.A2", "wamid.B1", "wamid.A1", "wamid.B0", "wamid.A0"
        ],
        "newest first"
    );
    // The body is the alert's, as without SQL state.
    assert_eq!(all[0]["status"]["state"], "open");
    assert!(all[0]["age_seconds"].as_i64().is_some());

    // The fx desk reviewer: Ana's three only, and the first page of two
    // is full: the barrier is applied before the page is cut.
    let fx = s.walk(&s.rex, "/api/v1/alerts?all=true", 2).await;
    assert_eq!(fx.len(), 3, "{fx:#?}");
    assert!(fx.iter().all(|a| a["custodian"] == "ana"), "{fx:#?}");

    // Filters.
    let rates = s.walk(&s.rita, "/api/v1/alerts?unit=rates", 10).await;
    assert_eq!(rates.len(), 3);
    assert!(rates.iter().all(|a| a["custodian"] == "ben"));
    let id = all[0]["id"].as_str().unwrap().to_string();
    let r = s
        .http
        .post(format!("{}/api/v1/alerts/{id}/actions", s.base))
        .bearer_auth(&s.rita)
        .json(&serde_json::json!({"action": "assign", "to": "rex"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The read waits for the rows to reach what was committed before it.
    let mine = s.walk(&s.rita, "/api/v1/alerts?assignee=rex", 10).await;
    assert_eq!(mine.len(), 1, "{mine:#?}");
    assert_eq!(mine[0]["id"], id.as_str());
    let assigned = s.walk(&s.rita, "/api/v1/alerts?status=assigned", 10).await;
    assert_eq!(assigned.len(), 1);

    // Wrong parameters are 400s naming them.
    let (status, problem) = s.get(&s.rita, "/api/v1/alerts?status=pending").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["parameter"], "status", "{problem}");
    let (status, problem) = s.get(&s.rita, "/api/v1/alerts?cursor=bm9wZQ").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["parameter"], "cursor", "{problem}");

    // The console's queue and custodian list read the same rows.
    let (status, html) = s.console("rex", "/alerts?status=all").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("on this page, newest first"), "{html}");
    assert!(html.contains("Ana") && !html.contains("Ben"), "{html}");
    let (_, html) = s.console("rita", "/alerts?status=all").await;
    assert!(html.contains("6 alerts on this page"), "{html}");
    assert!(!html.contains("next-page"), "one page holds six");
    let (_, html) = s.console("rita", "/alerts?status=all&cursor=bm9wZQ").await;
    assert!(html.contains("not a page of this list"), "{html}");
    let (status, html) = s.console("rita", "/custodians").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Ana") && html.contains("Ben"), "{html}");
}
