//! Holds, cases, users and consent read from the SQL state projection over
//! real HTTP: `GET /api/v1/holds`, `/api/v1/cases`, `/api/v1/users` page
//! with an opaque cursor, refuse a bad one with a 400 problem+json, and
//! answer 403 to roles without the permission; the console's `/holds` and
//! `/consent` and `GET /api/v1/consent/{party}` read the same rows, after
//! they reach what was committed before the request. Each test runs on
//! SQLite and on PostgreSQL (`CUSTOS_TEST_PG`; without it the PostgreSQL
//! half fails unless `CUSTOS_TEST_NO_PG=1`).

use axum::http::StatusCode;
use custos_auth::Role;
use custos_governance::cases::{Cases, Opening, Tag};
use custos_governance::holds::{HoldScope, Holds};
use custos_journal::Journal;
use custos_model::{ConsentChange, ConsentState, Event, Timestamp, party_id};
use custos_server::media::MediaQueue;
use custos_server::{AppState, Secret, WhatsAppConfig};
use std::collections::BTreeMap;

/// The users of these tests: (id, role).
const USERS: [(&str, Role); 6] = [
    ("cora", Role::ComplianceOfficer),
    ("adam", Role::Admin),
    ("aud", Role::Auditor),
    ("rex", Role::Reviewer),
    ("dana", Role::Dpo),
    ("agnes", Role::Agent),
];

/// Which database holds the state.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A scratch PostgreSQL database, dropped with the setup.
struct Scratch {
    base: String,
    url: String,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = custos_journal::drop_scratch_database(&self.base, &self.url) {
            eprintln!("dropping {}: {e}", self.url);
        }
    }
}

/// The state database's URL for `backend`, or `None` when a developer
/// skips the PostgreSQL half.
fn state_url(backend: Backend, dir: &std::path::Path) -> Option<(String, Option<Scratch>)> {
    match backend {
        Backend::Sqlite => Some((custos_store::sqlite_url(&dir.join("state.db")), None)),
        Backend::Postgres => match std::env::var("CUSTOS_TEST_PG") {
            Ok(base) if !base.is_empty() => {
                let url = custos_journal::scratch_database(&base).expect("a scratch database");
                Some((url.clone(), Some(Scratch { base, url })))
            }
            _ if std::env::var("CUSTOS_TEST_NO_PG").as_deref() == Ok("1") => {
                eprintln!("skipped: the PostgreSQL half (CUSTOS_TEST_NO_PG=1)");
                None
            }
            _ => panic!(
                "CUSTOS_TEST_PG is not set: run `export CUSTOS_TEST_PG=$(scripts/pg-start)`, or set CUSTOS_TEST_NO_PG=1"
            ),
        },
    }
}

/// Each test, once per backend.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Backend::Postgres).await;
            }
        }
    )*};
}

on_both!(
    holds_are_listed_from_the_store_paged_and_guarded,
    cases_and_users_are_listed_paged_and_guarded,
    consent_is_read_from_the_store_newest_state_per_channel_and_journalled,
);

struct Setup {
    _scratch: Option<Scratch>,
    _dir: tempfile::TempDir,
    journal: Journal,
    base: String,
    http: reqwest::Client,
    /// Bearer tokens by user.
    tokens: BTreeMap<&'static str, String>,
}

async fn setup(backend: Backend) -> Option<Setup> {
    let dir = tempfile::tempdir().unwrap();
    let (url, scratch) = state_url(backend, dir.path())?;
    let journal = Journal::init(&dir.path().join("a"), None, "test").unwrap();
    let mut users = custos_auth::Users::default();
    let mut tokens = BTreeMap::new();
    for (id, role) in USERS {
        let units: &[&str] = if role == Role::Reviewer { &["fx"] } else { &[] };
        let custodian = (role == Role::Agent).then_some("ana");
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
    let store = custos_server::store::StoreService::start(journal.clone(), &url)
        .await
        .unwrap();
    let state = AppState::new(journal.clone(), config, MediaQueue::disabled())
        .unwrap()
        .with_auth(crate::auth_of(&journal, users))
        .with_store(store);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(custos_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    Some(Setup {
        _scratch: scratch,
        _dir: dir,
        journal,
        base,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        tokens,
    })
}

impl Setup {
    /// `GET path` as `who`: status, content type, body.
    async fn get(&self, who: &str, path: &str) -> (StatusCode, String, serde_json::Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.tokens[who])
            .send()
            .await
            .unwrap();
        let status = r.status();
        let kind = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (status, kind, r.json().await.unwrap())
    }

    /// Every page of list `name` at `path` (which has a `?`), `limit` at a
    /// time, as `who`; and how many pages it took.
    async fn walk(
        &self,
        who: &str,
        path: &str,
        name: &str,
        limit: usize,
    ) -> (Vec<serde_json::Value>, usize) {
        let mut all = Vec::new();
        let mut cursor = String::new();
        let mut pages = 0;
        loop {
            let (status, _, body) = self
                .get(who, &format!("{path}&limit={limit}{cursor}"))
                .await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            pages += 1;
            let page = body[name].as_array().unwrap();
            all.extend(page.iter().cloned());
            match body["next_cursor"].as_str() {
                Some(next) => {
                    assert_eq!(page.len(), limit, "a page before the last is full");
                    cursor = format!("&cursor={next}");
                }
                None => break,
            }
        }
        (all, pages)
    }

    /// A signed-in console session of `who`: (cookie, CSRF token).
    async fn session(&self, who: &str) -> (String, String) {
        let r = self
            .http
            .post(format!("{}/signin", self.base))
            .form(&[("user", who), ("password", crate::PASSWORD), ("next", "/")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "sign-in of {who}");
        let cookie = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("custos_session="))
            .and_then(|v| v.split(';').next())
            .unwrap()
            .to_string();
        let me: serde_json::Value = self
            .http
            .get(format!("{}/api/v1/me", self.base))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (cookie, me["csrf_token"].as_str().unwrap().to_string())
    }

    /// A console page: GET without a form, POST with one.
    async fn console(
        &self,
        session: &(String, String),
        path: &str,
        form: Option<&[(&str, &str)]>,
    ) -> (StatusCode, String) {
        let r = match form {
            None => self.http.get(format!("{}{path}", self.base)),
            Some(form) => {
                let mut fields = vec![("_csrf", session.1.as_str())];
                fields.extend_from_slice(form);
                self.http.post(format!("{}{path}", self.base)).form(&fields)
            }
        };
        let r = r.header("cookie", &session.0).send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    }

    fn content_reads(&self) -> usize {
        let mut n = 0;
        for entry in self.journal.entries(0) {
            let entry = entry.unwrap();
            if let custos_journal::Opened::Event(Event::System(s)) =
                self.journal.open_entry(&entry).unwrap()
                && s.action == "content.read"
            {
                n += 1;
            }
        }
        n
    }
}

/// A 400 problem+json naming `parameter`.
fn assert_bad(answer: &(StatusCode, String, serde_json::Value), parameter: &str) {
    let (status, kind, problem) = answer;
    assert_eq!(*status, StatusCode::BAD_REQUEST, "{problem}");
    assert!(kind.starts_with("application/problem+json"), "{kind}");
    assert_eq!(problem["status"], 400);
    assert_eq!(problem["parameter"], parameter, "{problem}");
}

fn scope(custodian: &str) -> HoldScope {
    HoldScope {
        custodians: vec![custodian.into()],
        ..Default::default()
    }
}

async fn holds_are_listed_from_the_store_paged_and_guarded(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let mut holds = Holds::load(&s.journal).unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            holds
                .place(
                    &s.journal,
                    "cora",
                    &format!("Matter {i}"),
                    "a letter",
                    scope("ana"),
                )
                .unwrap(),
        );
    }
    holds
        .release(&s.journal, "cora", &ids[0], "settled")
        .unwrap();

    // Placed just before the request: listed (the read waits for the rows).
    let (all, pages) = s.walk("cora", "/api/v1/holds?state=all", "holds", 2).await;
    assert_eq!(pages, 2);
    let got: Vec<&str> = all.iter().map(|h| h["id"].as_str().unwrap()).collect();
    assert_eq!(got, [ids[2].as_str(), ids[1].as_str(), ids[0].as_str()]);
    assert_eq!(all[0]["active"], true);
    assert_eq!(all[0]["custodians"], serde_json::json!(["ana"]));
    assert_eq!(all[2]["active"], false);
    assert_eq!(all[2]["release_reason"], "settled");
    let (released, _) = s
        .walk("cora", "/api/v1/holds?state=released", "holds", 10)
        .await;
    assert_eq!(released.len(), 1);
    let (active, _) = s
        .walk("aud", "/api/v1/holds?state=active", "holds", 10)
        .await;
    assert_eq!(active.len(), 2);
    let (by_admin, _) = s.walk("adam", "/api/v1/holds?", "holds", 10).await;
    assert_eq!(by_admin, all, "admins and auditors read the same list");

    // A cursor that is garbled, or another list's, and a state that is not.
    assert_bad(
        &s.get("cora", "/api/v1/holds?cursor=bm9wZQ").await,
        "cursor",
    );
    let (_, _, cases) = s.get("cora", "/api/v1/cases?limit=1").await;
    assert_eq!(cases["next_cursor"], serde_json::Value::Null);
    let foreign = base64_of("cases:1:1:CASE-1");
    assert_bad(
        &s.get("cora", &format!("/api/v1/holds?cursor={foreign}"))
            .await,
        "cursor",
    );
    let forged = base64_of("holds:9:x:LH-1");
    assert_bad(
        &s.get("cora", &format!("/api/v1/holds?cursor={forged}"))
            .await,
        "cursor",
    );
    assert_bad(&s.get("cora", "/api/v1/holds?state=pending").await, "state");

    // Roles without the permission.
    for who in ["rex", "dana", "agnes"] {
        let (status, kind, problem) = s.get(who, "/api/v1/holds").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {problem}");
        assert!(kind.starts_with("application/problem+json"), "{kind}");
        assert_eq!(problem["title"], "forbidden");
    }

    // The console's /holds: a hold placed through the form shows at once.
    let cora = s.session("cora").await;
    let (status, _) = s
        .console(
            &cora,
            "/holds",
            Some(&[
                ("name", "Matter by form"),
                ("reason", "counsel asked"),
                ("custodians", "ben"),
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, html) = s.console(&cora, "/holds", None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Matter by form"), "{html}");
    assert!(html.contains("custodians: ben"), "{html}");
    assert!(html.contains("settled"), "{html}");
    let first = html.find("Matter by form").unwrap();
    let released = html.find("Matter 0").unwrap();
    assert!(first < released, "active holds first");
    let (_, html) = s.console(&cora, "/holds?cursor=bm9wZQ", None).await;
    assert!(html.contains("not a page of this list"), "{html}");
    let (all, _) = s.walk("cora", "/api/v1/holds?", "holds", 10).await;
    assert_eq!(all.len(), 4);
    assert_eq!(all[0]["name"], "Matter by form");
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

async fn cases_and_users_are_listed_paged_and_guarded(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let mut cases = Cases::load(&s.journal).unwrap();
    let mut holds = Holds::load(&s.journal).unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            cases
                .open(
                    &s.journal,
                    "cora",
                    Opening {
                        name: format!("Inquiry {i}"),
                        description: "desk inquiry".into(),
                        custodians: vec!["ana".into()],
                        from: None,
                        to: None,
                    },
                )
                .unwrap(),
        );
    }
    cases
        .save_search(&s.journal, "cora", &ids[1], "promises", "guaranteed")
        .unwrap();
    cases
        .tag(&s.journal, "cora", &ids[1], 3, Tag::Privileged, "counsel")
        .unwrap();
    let hold = cases
        .hold(&s.journal, &mut holds, "cora", &ids[1], "preserve")
        .unwrap();
    cases
        .close(&s.journal, "cora", &ids[2], "answered")
        .unwrap();

    let (all, pages) = s.walk("aud", "/api/v1/cases?", "cases", 2).await;
    assert_eq!(pages, 2);
    let got: Vec<&str> = all.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        got,
        [ids[1].as_str(), ids[0].as_str(), ids[2].as_str()],
        "open first, newest opened first"
    );
    assert_eq!(all[0]["holds"], serde_json::json!([hold]));
    assert_eq!(all[0]["searches"][0]["query"], "guaranteed");
    assert_eq!(all[0]["decisions"]["privileged"], 1);
    assert_eq!(all[2]["open"], false);
    assert_eq!(all[2]["close_reason"], "answered");
    let (closed, _) = s
        .walk("cora", "/api/v1/cases?state=closed", "cases", 5)
        .await;
    assert_eq!(closed.len(), 1);
    assert_bad(&s.get("cora", "/api/v1/cases?state=shut").await, "state");
    assert_bad(&s.get("cora", "/api/v1/cases?cursor=%%%").await, "cursor");
    for who in ["adam", "rex", "dana", "agnes"] {
        let (status, _, problem) = s.get(who, "/api/v1/cases").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {problem}");
    }

    // Users: the admin only; by id, with their tokens, never a secret.
    let (users, pages) = s.walk("adam", "/api/v1/users?", "users", 2).await;
    assert_eq!(pages, 3);
    let got: Vec<&str> = users.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(got, ["adam", "agnes", "aud", "cora", "dana", "rex"]);
    assert_eq!(users[1]["custodian"], "ana");
    let rex = &users[5];
    assert_eq!(rex["roles"], serde_json::json!(["reviewer"]));
    assert_eq!(rex["units"], serde_json::json!(["fx"]));
    assert_eq!(rex["disabled"], false);
    assert_eq!(rex["tokens"].as_array().unwrap().len(), 1);
    assert_eq!(rex["tokens"][0]["revoked"], false);
    let text = serde_json::to_string(&users).unwrap();
    assert!(!text.contains("argon2"), "{text}");
    for token in s.tokens.values() {
        let secret = token.rsplit('_').next().unwrap();
        assert!(!text.contains(secret), "a token secret in {text}");
    }
    assert_bad(
        &s.get(
            "adam",
            &format!("/api/v1/users?cursor={}", base64_of("users:")),
        )
        .await,
        "cursor",
    );
    for who in ["cora", "aud", "rex", "dana", "agnes"] {
        let (status, _, problem) = s.get(who, "/api/v1/users").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {problem}");
    }
}

async fn consent_is_read_from_the_store_newest_state_per_channel_and_journalled(backend: Backend) {
    let Some(s) = setup(backend).await else {
        return;
    };
    let written = "+55 11 98888-7777";
    for (channel, state) in [
        ("whatsapp", ConsentState::OptIn),
        ("sms", ConsentState::OptIn),
        ("whatsapp", ConsentState::OptOut),
    ] {
        let change = Event::Consent(ConsentChange {
            channel: channel.into(),
            party: written.into(),
            state,
            evidence: format!("{channel} {state:?}"),
            at: Timestamp::now(),
            recorded_by: "webhook".into(),
        });
        s.journal.append(&change, Some(&party_id(written))).unwrap();
    }
    let reads = s.content_reads();
    let (status, _, shown) = s.get("dana", "/api/v1/consent/5511988887777").await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["party"], party_id(written));
    assert_eq!(shown["current"]["whatsapp"], "opt_out");
    assert_eq!(shown["current"]["sms"], "opt_in");
    let history = shown["history"].as_array().unwrap();
    let states: Vec<(&str, &str)> = history
        .iter()
        .map(|h| (h["channel"].as_str().unwrap(), h["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("whatsapp", "opt_in"),
            ("sms", "opt_in"),
            ("whatsapp", "opt_out")
        ],
        "oldest first, as the API has always answered"
    );
    // The rows keep the party normalised (the journal scan would give the
    // form it was written in): this answer came from the store.
    assert_eq!(history[0]["party"], party_id(written));
    assert!(history[0]["seq"].as_u64().is_some());
    assert_eq!(s.content_reads(), reads + 1, "the read is journalled");
    for who in ["rex", "agnes", "adam", "aud"] {
        let (status, _, _) = s.get(who, "/api/v1/consent/5511988887777").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}");
    }

    // The console: figures, then the history newest first.
    let dana = s.session("dana").await;
    let (status, html) = s.console(&dana, "/consent", None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("1 parties have a consent record; 1 are opted out now"),
        "{html}"
    );
    let (status, html) = s
        .console(&dana, "/consent", Some(&[("party", "+5511988887777")]))
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("whatsapp: opted out"), "{html}");
    assert!(html.contains("sms: opted in"), "{html}");
    let newest = html.find("whatsapp OptOut").unwrap();
    let oldest = html.find("whatsapp OptIn").unwrap();
    assert!(newest < oldest, "newest first: {html}");
    assert_eq!(s.content_reads(), reads + 2, "the lookup is journalled");
    let (_, html) = s
        .console(&dana, "/consent", Some(&[("party", "+5511000000000")]))
        .await;
    assert!(html.contains("No consent recorded"), "{html}");
}
