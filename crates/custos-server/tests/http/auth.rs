//! Authentication, roles and information barriers over real HTTP: every
//! `/api/v1` endpoint against every role, a reviewer confined to their
//! desk, tokens expiring and revoked, CSRF, sign-in throttling, and the
//! access log.

use axum::http::StatusCode;
use custos_auth::{Auth, Role, Users};
use custos_journal::{Journal, Opened};
use custos_model::{Digest, Direction, Event, Message, Timestamp};
use custos_review::{Custodian, Supervisor};
use custos_server::media::MediaQueue;
use custos_server::search::Person;
use custos_server::supervision::Supervision;
use custos_server::{AppState, Secret, WhatsAppConfig};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const EMP_A: &str = "+447700900101";
const EMP_B: &str = "+447700900202";
const CUSTOMER_A: &str = "+5511988887777";
const CUSTOMER_B: &str = "+5521977776666";

struct Setup {
    _dir: tempfile::TempDir,
    journal: Journal,
    base: String,
    http: reqwest::Client,
    auth: Auth,
    tokens: BTreeMap<&'static str, String>,
    /// Journal entries of desk A's and desk B's messages.
    desk_a: Vec<u64>,
    desk_b: Vec<u64>,
}

fn message(id: &str, conv: &str, from: &str, to: &str, text: &str) -> Event {
    let now = Timestamp::now();
    Event::Message(Message {
        channel: "whatsapp".into(),
        source_id: id.into(),
        conversation: conv.into(),
        sender: from.into(),
        recipients: vec![to.into()],
        direction: if from.starts_with("+55") {
            Direction::Inbound
        } else {
            Direction::Outbound
        },
        sent_at: now,
        captured_at: now,
        text: Some(text.into()),
        attachments: Vec::new(),
        reply_to: None,
        raw_digest: Digest::of(id.as_bytes()),
        extra: Default::default(),
    })
}

/// One user per role; the reviewer works on desk A, the agent is desk B's
/// custodian.
const USERS: [(&str, Role); 6] = [
    ("adam", Role::Admin),
    ("cora", Role::ComplianceOfficer),
    ("rev-a", Role::Reviewer),
    ("aud", Role::Auditor),
    ("agent-b", Role::Agent),
    ("dana", Role::Dpo),
];

async fn setup() -> Setup {
    setup_with("Bom dia, segue o contrato", 2).await
}

/// The setup with desk A's outbound message saying `a2`, waiting for
/// `alerts` alerts.
async fn setup_with(a2: &str, alerts: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(dir.path(), None, "test").unwrap();
    for event in custos_review::policies::starter_events("cco").unwrap() {
        journal.append(&event, None).unwrap();
    }
    let mut desk_a = Vec::new();
    let mut desk_b = Vec::new();
    for (desk, event, subject) in [
        (
            'a',
            message(
                "a1",
                "conv-a",
                CUSTOMER_A,
                EMP_A,
                "Pode me mandar no Telegram? Esse numero e monitorado",
            ),
            CUSTOMER_A,
        ),
        (
            'a',
            message("a2", "conv-a", EMP_A, CUSTOMER_A, a2),
            CUSTOMER_A,
        ),
        (
            'b',
            message(
                "b1",
                "conv-b",
                CUSTOMER_B,
                EMP_B,
                "Vamos falar pelo Telegram amanha cedo",
            ),
            CUSTOMER_B,
        ),
        (
            'b',
            message(
                "b2",
                "conv-b",
                EMP_B,
                CUSTOMER_B,
                "Bom dia, segue a proposta",
            ),
            CUSTOMER_B,
        ),
    ] {
        let seq = journal.append(&event, Some(subject)).unwrap().seq;
        if desk == 'a' {
            desk_a.push(seq);
        } else {
            desk_b.push(seq);
        }
    }
    let mut users = Users::default();
    let mut tokens = BTreeMap::new();
    for (id, role) in USERS {
        let units: &[&str] = if role == Role::Reviewer {
            &["desk-a"]
        } else {
            &[]
        };
        let custodian = (role == Role::Agent).then_some("emp-b");
        tokens.insert(
            id,
            crate::grant(&journal, &mut users, id, &[role], units, custodian),
        );
    }
    let config = WhatsAppConfig {
        app_secret: Secret::new("s"),
        verify_token: Secret::new("v"),
        access_token: Secret::new("t"),
        graph_url: "http://127.0.0.1:9".into(),
        phone_number_id: "1065".into(),
    };
    let custodians = vec![
        Custodian {
            id: "emp-a".into(),
            address: EMP_A.into(),
            units: vec!["desk-a".into()],
        },
        Custodian {
            id: "emp-b".into(),
            address: EMP_B.into(),
            units: vec!["desk-b".into()],
        },
    ];
    let people = custodians
        .iter()
        .map(|c| Person {
            id: c.id.clone(),
            name: c.id.clone(),
            address: c.address.clone(),
            units: c.units.clone(),
        })
        .collect();
    let supervisor = Supervisor::open_saved(&journal, custodians).unwrap();
    let auth = crate::auth_of(&journal, users);
    let state = AppState::new(journal.clone(), config, MediaQueue::disabled())
        .unwrap()
        .with_auth(auth.clone());
    let supervision = Supervision::start(journal.clone(), supervisor, None, None).unwrap();
    let index = custos_search::SearchIndex::open(&dir.path().join("state/search")).unwrap();
    let search = custos_server::search::SearchService::start(
        journal.clone(),
        index,
        people,
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
    let s = Setup {
        _dir: dir,
        journal,
        base,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        auth,
        tokens,
        desk_a,
        desk_b,
    };
    // Wait until both alerts are raised and all four messages indexed.
    let started = Instant::now();
    loop {
        let alerts_wanted = alerts;
        let (_, alerts) = s.get("cora", "/api/v1/alerts").await;
        let (_, found) = s.get("cora", "/api/v1/search?q=*&reason=setup").await;
        if alerts["alerts"].as_array().map_or(0, Vec::len) == alerts_wanted && found["total"] == 4 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{alerts} {found}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s
}

impl Setup {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(
        &self,
        who: Option<&str>,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, serde_json::Value) {
        let mut r = self.http.request(method.parse().unwrap(), self.url(path));
        if let Some(who) = who {
            r = r.bearer_auth(&self.tokens[who]);
        }
        if let Some(body) = body {
            r = r.json(&body);
        }
        let r = r.send().await.unwrap();
        let status = r.status();
        let json = r.headers().get("content-type").is_some_and(|v| {
            let v = v.to_str().unwrap();
            v == "application/json" || v == "application/problem+json"
        });
        let text = r.text().await.unwrap();
        if json {
            (status, serde_json::from_str(&text).unwrap())
        } else {
            (status, serde_json::Value::String(text))
        }
    }

    async fn get(&self, who: &str, path: &str) -> (StatusCode, serde_json::Value) {
        self.send(Some(who), "GET", path, None).await
    }

    fn actions(&self) -> Vec<(String, String, serde_json::Value)> {
        let mut out = Vec::new();
        for e in self.journal.entries(0) {
            if let Opened::Event(Event::System(s)) = self.journal.open_entry(&e.unwrap()).unwrap() {
                out.push((s.actor, s.action, serde_json::Value::Object(s.details)));
            }
        }
        out
    }

    async fn alert_ids(&self, who: &str) -> Vec<(String, String)> {
        let (status, body) = self.get(who, "/api/v1/alerts?all=true").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["id"].as_str().unwrap().to_string(),
                    a["custodian"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    async fn sign_in(&self, user: &str, password: &str) -> reqwest::Response {
        self.http
            .post(self.url("/signin"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "user={user}&password={}&next=%2Fconsole",
                password.replace(' ', "+")
            ))
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_against_every_role() {
    let s = setup().await;
    let alert_a = s
        .alert_ids("cora")
        .await
        .into_iter()
        .find(|(_, c)| c == "emp-a")
        .unwrap()
        .0;
    let seq_a = s.desk_a[0];
    // Each endpoint and, written out, the roles allowed through.
    let endpoints: Vec<(&str, String, Option<serde_json::Value>, &[&str])> = vec![
        ("GET", "/api/v1/alerts".into(), None, &["cora", "rev-a"]),
        (
            "GET",
            format!("/api/v1/alerts/{alert_a}?reason=matrix"),
            None,
            &["cora", "rev-a"],
        ),
        (
            "POST",
            format!("/api/v1/alerts/{alert_a}/actions"),
            Some(serde_json::json!({"action": "comment", "text": "seen"})),
            &["cora", "rev-a"],
        ),
        (
            "GET",
            "/api/v1/search?q=bom&reason=matrix".into(),
            None,
            &["cora", "rev-a", "agent-b", "dana"],
        ),
        (
            "GET",
            format!("/api/v1/messages/{seq_a}?reason=matrix"),
            None,
            &["cora", "rev-a", "agent-b", "dana"],
        ),
        (
            "POST",
            "/api/v1/exports".into(),
            Some(serde_json::json!({"query": "*", "formats": ["csv"], "reason": "matrix"})),
            &["cora", "rev-a", "dana"],
        ),
        (
            "GET",
            "/api/v1/policies".into(),
            None,
            &["adam", "cora", "rev-a", "aud"],
        ),
        (
            "POST",
            "/api/v1/policies".into(),
            Some(serde_json::json!("not toml")),
            &["cora"],
        ),
        (
            "POST",
            "/api/v1/whatsapp/messages".into(),
            Some(serde_json::json!({})),
            &["agent-b"],
        ),
        (
            "GET",
            "/api/v1/audit?limit=5".into(),
            None,
            &["cora", "aud"],
        ),
        (
            "GET",
            "/api/v1/me".into(),
            None,
            &["adam", "cora", "rev-a", "aud", "agent-b", "dana"],
        ),
        (
            "GET",
            format!("/api/v1/consent/{CUSTOMER_A}?reason=matrix"),
            None,
            &["cora", "dana"],
        ),
        (
            "POST",
            "/api/v1/consent".into(),
            Some(
                serde_json::json!({"party": CUSTOMER_B, "state": "opt_in", "source": "web-form", "text": "I agree"}),
            ),
            &["cora", "agent-b", "dana"],
        ),
        (
            "POST",
            "/api/v1/tokens/no-such-token/revoke".into(),
            None,
            &["adam"],
        ),
        (
            "POST",
            "/api/v1/users/no-such-user/disable".into(),
            None,
            &["adam"],
        ),
    ];
    let mut table = String::new();
    for (method, path, body, allowed) in &endpoints {
        let (status, problem) = s.send(None, method, path, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} without credentials: {problem}"
        );
        assert_eq!(problem["status"], 401);
        let (status, _) = s
            .http
            .request(method.parse().unwrap(), s.url(path))
            .bearer_auth("cst_0000000000000000_nonsense")
            .send()
            .await
            .map(|r| (r.status(), ()))
            .unwrap();
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} with a bad token"
        );
        for (user, role) in USERS {
            let (status, answer) = s.send(Some(user), method, path, body.clone()).await;
            let expect_allowed = allowed.contains(&user);
            if expect_allowed {
                assert!(
                    !matches!(status.as_u16(), 401 | 403) && status.as_u16() < 500,
                    "{method} {path} as {role}: {status} {answer}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{method} {path} as {role}: {answer}"
                );
                assert_eq!(answer["title"], "forbidden");
            }
            table.push_str(&format!("{method} {path} {role} {}\n", status.as_u16()));
        }
    }
    println!("{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_of_desk_a_cannot_find_open_export_or_see_alerts_of_desk_b() {
    let s = setup().await;
    // Search: totals and hits count only desk A's messages.
    let (status, found) = s
        .get("rev-a", "/api/v1/search?q=*&reason=barrier&context=5")
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["total"], 2, "{found}");
    let seqs: Vec<u64> = found["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.iter().all(|q| s.desk_a.contains(q)), "{seqs:?}");
    let (_, found) = s
        .get("rev-a", "/api/v1/search?q=proposta&reason=barrier")
        .await;
    assert_eq!(found["total"], 0, "{found}");
    let (_, found) = s
        .get("cora", "/api/v1/search?q=proposta&reason=barrier")
        .await;
    assert_eq!(found["total"], 1, "{found}");
    // The second page is still inside the barrier.
    let (_, page) = s
        .get(
            "rev-a",
            "/api/v1/search?q=*&reason=barrier&limit=1&offset=1",
        )
        .await;
    assert_eq!(page["hits"].as_array().unwrap().len(), 1);
    assert!(s.desk_a.contains(&page["hits"][0]["seq"].as_u64().unwrap()));
    // Opening: desk B's message does not exist for them.
    let (status, _) = s
        .get(
            "rev-a",
            &format!("/api/v1/messages/{}?reason=x", s.desk_b[0]),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = s
        .get(
            "rev-a",
            &format!("/api/v1/messages/{}?reason=x&context=5", s.desk_a[0]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["conversation"].as_array().unwrap().len(), 2, "{body}");
    let (status, _) = s
        .get(
            "cora",
            &format!("/api/v1/messages/{}?reason=x", s.desk_b[0]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // The agent of desk B sees their own conversation only.
    let (_, found) = s.get("agent-b", "/api/v1/search?q=*&reason=own").await;
    assert_eq!(found["total"], 2);
    assert!(
        found["hits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| s.desk_b.contains(&h["seq"].as_u64().unwrap()))
    );
    // Alerts: desk B's is invisible (404, not 403), also to act on.
    let all = s.alert_ids("cora").await;
    assert_eq!(all.len(), 2);
    let mine = s.alert_ids("rev-a").await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].1, "emp-a");
    let alert_b = &all.iter().find(|(_, c)| c == "emp-b").unwrap().0;
    let (status, problem) = s.get("rev-a", &format!("/api/v1/alerts/{alert_b}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    let (status, _) = s
        .send(
            Some("rev-a"),
            "POST",
            &format!("/api/v1/alerts/{alert_b}/actions"),
            Some(serde_json::json!({"action": "comment", "text": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, full) = s
        .get(
            "cora",
            &format!("/api/v1/alerts/{alert_b}?reason=escalation"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        full["message"]["text"],
        "Vamos falar pelo Telegram amanha cedo"
    );
    // Exports: only desk A's messages; desk B's alone is nothing.
    let (status, made) = s
        .send(
            Some("rev-a"),
            "POST",
            "/api/v1/exports",
            Some(serde_json::json!({"query": "*", "formats": ["csv"], "reason": "barrier"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["messages"], 2, "{made}");
    let (status, _) = s
        .send(
            Some("rev-a"),
            "POST",
            "/api/v1/exports",
            Some(serde_json::json!({"query": "proposta", "formats": ["csv"], "reason": "barrier"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, made) = s
        .send(
            Some("cora"),
            "POST",
            "/api/v1/exports",
            Some(serde_json::json!({"query": "*", "formats": ["csv"], "reason": "barrier"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(made["messages"], 4, "{made}");
    // Every read names its reader and reason.
    let logged = s.actions();
    let read = logged
        .iter()
        .find(|(a, act, _)| a == "cora" && act == "content.read")
        .unwrap();
    assert_eq!(read.2["reason"], "escalation");
    assert!(
        logged
            .iter()
            .any(|(a, act, _)| a == "rev-a" && act == "export.created")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expire_and_are_revoked() {
    let s = setup().await;
    let mut users = s.auth.with_users_read(Users::clone);
    let soon = Timestamp::from_micros(Timestamp::now().as_micros() + 1_000_000);
    let (token, secret) = users
        .create_token(&s.journal, "test-admin", "aud", &Default::default(), soon)
        .unwrap();
    // The running server learns of tokens made in-process by their events.
    for e in s.journal.entries(0) {
        if let Opened::Event(Event::System(ev)) = s.journal.open_entry(&e.unwrap()).unwrap()
            && ev.target.as_deref() == Some(token.id.as_str())
        {
            s.auth.apply(&ev);
        }
    }
    let get = |t: String| {
        let http = s.http.clone();
        let url = s.url("/api/v1/policies");
        async move { http.get(url).bearer_auth(t).send().await.unwrap().status() }
    };
    assert_eq!(get(secret.expose().to_string()).await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        get(secret.expose().to_string()).await,
        StatusCode::UNAUTHORIZED
    );
    // Revocation takes effect at once.
    let aud = s.tokens["aud"].clone();
    assert_eq!(get(aud.clone()).await, StatusCode::OK);
    let id = aud.split('_').nth(1).unwrap();
    s.auth.revoke_token("test-admin", id).unwrap();
    assert_eq!(get(aud).await, StatusCode::UNAUTHORIZED);
    // Disabling a user stops their tokens.
    assert_eq!(get(s.tokens["adam"].clone()).await, StatusCode::OK);
    s.auth.disable_user("test-admin", "adam").unwrap();
    assert_eq!(
        get(s.tokens["adam"].clone()).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(s.actions().iter().any(|(_, a, _)| a == "token.revoked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_need_the_csrf_token_for_unsafe_requests() {
    let s = setup().await;
    let page = s
        .http
        .get(s.url("/signin?next=/console"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("name=\"password\""));
    let r = s.sign_in("cora", crate::PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/console");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    let cookie = set.split(';').next().unwrap().to_string();
    // The session reads; /me gives the CSRF token.
    let me: serde_json::Value = s
        .http
        .get(s.url("/api/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"], "cora");
    let csrf = me["csrf_token"].as_str().unwrap().to_string();
    let alert = s.alert_ids("cora").await[0].0.clone();
    let act = |token: Option<String>| {
        let mut r = s
            .http
            .post(s.url(&format!("/api/v1/alerts/{alert}/actions")))
            .header("cookie", &cookie)
            .json(&serde_json::json!({"action": "comment", "text": "via the console"}));
        if let Some(t) = token {
            r = r.header("X-CSRF-Token", t);
        }
        async move { r.send().await.unwrap().status() }
    };
    assert_eq!(act(None).await, StatusCode::FORBIDDEN);
    assert_eq!(act(Some("0".repeat(64))).await, StatusCode::FORBIDDEN);
    assert_eq!(act(Some(csrf.clone())).await, StatusCode::OK);
    // Sign-out needs it too, then the cookie is dead.
    let out = s
        .http
        .post(s.url("/signout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::FORBIDDEN);
    let out = s
        .http
        .post(s.url("/signout"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("_csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = s
        .http
        .get(s.url("/api/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_throttled_and_journalled() {
    let s = setup().await;
    let wrong = s.sign_in("rev-a", "not the password at all").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong_text = wrong.text().await.unwrap();
    let unknown = s.sign_in("nobody", "not the password at all").await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.text().await.unwrap(), wrong_text, "the same answer");
    for _ in 0..4 {
        assert_eq!(
            s.sign_in("rev-a", "still wrong wrong").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let locked = s.sign_in("rev-a", crate::PASSWORD).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(locked.headers().contains_key("retry-after"));
    // Another user from the same address still signs in.
    assert_eq!(
        s.sign_in("cora", crate::PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let logged = s.actions();
    let failed: Vec<_> = logged
        .iter()
        .filter(|(_, a, _)| a == "auth.signin_failed")
        .collect();
    assert_eq!(failed.len(), 7);
    assert_eq!(failed[0].2["ip"], "127.0.0.1");
    assert_eq!(failed[1].2["user"], "nobody");
    assert_eq!(failed[6].2["reason"], "throttled");
    assert!(
        logged
            .iter()
            .any(|(u, a, _)| u == "cora" && a == "auth.signin")
    );
    assert!(!format!("{logged:?}").contains("not the password"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_pages_filters_and_exports_itself_audited() {
    let s = setup().await;
    s.get("rev-a", "/api/v1/search?q=bom&reason=first").await;
    s.get("rev-a", "/api/v1/search?q=contrato&reason=second")
        .await;
    s.get(
        "rev-a",
        &format!("/api/v1/messages/{}?reason=third", s.desk_a[1]),
    )
    .await;
    let (status, page) = s.get("aud", "/api/v1/audit?actor=rev-a&limit=2").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["action"], "search.run");
    assert_eq!(events[0]["details"]["reason"], "first");
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, next) = s
        .get(
            "aud",
            &format!("/api/v1/audit?actor=rev-a&limit=2&cursor={cursor}"),
        )
        .await;
    let events = next["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{next}");
    assert_eq!(events[0]["action"], "search.opened");
    assert!(next["next_cursor"].is_null());
    let (_, only) = s.get("aud", "/api/v1/audit?action=search.opened").await;
    assert!(
        only["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["action"] == "search.opened")
    );
    let (_, none) = s
        .get("aud", "/api/v1/audit?actor=rev-a&from=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(none["events"].as_array().unwrap().len(), 0);
    let (status, problem) = s.get("aud", "/api/v1/audit?from=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        problem["detail"].as_str().unwrap().contains("from="),
        "{problem}"
    );
    let (status, _) = s.get("aud", "/api/v1/audit?cursor=zzz").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Exports: CSV and JSON lines, each journalled.
    let (status, csv) = s.get("aud", "/api/v1/audit?actor=rev-a&format=csv").await;
    assert_eq!(status, StatusCode::OK);
    let csv = csv.as_str().unwrap();
    assert!(
        csv.starts_with("seq,at,actor,action,target,reason,details\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.contains(",rev-a,search.run,,second,"), "{csv}");
    let (_, jsonl) = s
        .get("aud", "/api/v1/audit?format=jsonl&action=audit.exported")
        .await;
    let lines: Vec<&str> = jsonl.as_str().unwrap().lines().collect();
    assert_eq!(lines.len(), 1, "the CSV export was journalled: {lines:?}");
    assert!(lines[0].contains("\"actor\":\"aud\""));
    assert_eq!(
        s.actions()
            .iter()
            .filter(|(u, a, _)| u == "aud" && a == "audit.exported")
            .count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_answers_mask_personal_data_by_the_readers_role() {
    let card = "4111 1111 1111 1111";
    let s = setup_with(&format!("Bom dia, segue o contrato. Cartao {card}"), 3).await;
    let a2 = s.desk_a[1];
    let shows = |v: &serde_json::Value| v.to_string().contains(card);
    let masked = |v: &serde_json::Value| v.to_string().contains("[card •••• 1111]");

    // Search hits and the conversation around them.
    let path = "/api/v1/search?q=contrato&reason=check&context=1";
    let (status, reviewer) = s.get("rev-a", path).await;
    assert_eq!(status, StatusCode::OK, "{reviewer}");
    assert_eq!(reviewer["total"], 1, "{reviewer}");
    assert!(!shows(&reviewer) && masked(&reviewer), "{reviewer}");
    let (_, officer) = s.get("cora", path).await;
    assert!(shows(&officer), "{officer}");

    // One message opened.
    let path = format!("/api/v1/messages/{a2}?reason=check");
    let (status, reviewer) = s.get("rev-a", &path).await;
    assert_eq!(status, StatusCode::OK, "{reviewer}");
    assert!(!shows(&reviewer) && masked(&reviewer), "{reviewer}");
    let (_, officer) = s.get("cora", &path).await;
    assert!(shows(&officer), "{officer}");

    // The alert the card raised, with its message.
    let (_, list) = s.get("cora", "/api/v1/alerts?all=true").await;
    let pii = list["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["policy"] == "pii-leak")
        .unwrap_or_else(|| panic!("no pii-leak alert: {list}"));
    let path = format!("/api/v1/alerts/{}", pii["id"].as_str().unwrap());
    let (status, reviewer) = s.get("rev-a", &path).await;
    assert_eq!(status, StatusCode::OK, "{reviewer}");
    assert!(!shows(&reviewer) && masked(&reviewer), "{reviewer}");
    let (_, officer) = s.get("cora", &path).await;
    assert!(shows(&officer), "{officer}");

    // A full export is more than the reviewer may see.
    let (status, refused) = s
        .send(
            Some("rev-a"),
            "POST",
            "/api/v1/exports",
            Some(serde_json::json!({"query": "contrato", "reason": "check", "formats": ["csv"], "redact": ["none"]})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_revokes_a_token_and_disables_a_user_in_the_running_server() {
    let s = setup().await;
    let (status, _) = s.get("rev-a", "/api/v1/alerts").await;
    assert_eq!(status, StatusCode::OK);
    let token_id = s.tokens["rev-a"].split('_').nth(1).unwrap().to_string();
    let (status, body) = s
        .send(
            Some("adam"),
            "POST",
            &format!("/api/v1/tokens/{token_id}/revoke"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["entry"].is_u64(), "{body}");
    // At once: no restart.
    let (status, _) = s.get("rev-a", "/api/v1/alerts").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Again: already revoked, nothing journalled.
    let (status, body) = s
        .send(
            Some("adam"),
            "POST",
            &format!("/api/v1/tokens/{token_id}/revoke"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["entry"].is_null(), "{body}");

    let (status, _) = s.get("dana", "/api/v1/me").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = s
        .send(Some("adam"), "POST", "/api/v1/users/dana/disable", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = s.get("dana", "/api/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let actions = s.actions();
    assert!(
        actions
            .iter()
            .any(|(actor, action, _)| actor == "adam" && action == "token.revoked")
    );
    assert!(
        actions
            .iter()
            .any(|(actor, action, _)| actor == "adam" && action == "user.disabled")
    );
}
