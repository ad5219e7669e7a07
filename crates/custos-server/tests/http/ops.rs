//! The API's description and the operator's endpoints over loopback: the
//! OpenAPI document against the router and the permission table, cursor
//! pages on every list, `/healthz`, `/readyz`, `/metrics` behind its own
//! token with counters that move, and a request log that never carries a
//! search's terms.

use axum::http::StatusCode;
use custos_journal::Journal;
use custos_model::{ConsentChange, ConsentState, Event, Timestamp};
use custos_review::Supervisor;
use custos_server::media::MediaQueue;
use custos_server::supervision::Supervision;
use custos_server::{AppState, Secret, WhatsAppConfig};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const SECRET: &str = "ops-test-secret";
const CUSTOMER: &str = "5511977776666";
const SCRAPER: &str = "scraper-token-0123456789";

struct Setup {
    dir: tempfile::TempDir,
    journal: Journal,
    base: String,
    http: reqwest::Client,
    token: String,
}

struct Options {
    metrics_token: Option<&'static str>,
    search: bool,
}

async fn setup(options: Options) -> Setup {
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
        graph_url: "http://127.0.0.1:9".into(),
        phone_number_id: "1065".into(),
    };
    let supervisor = Supervisor::open_saved(&journal, vec![]).unwrap();
    let mut users = custos_auth::Users::default();
    let token = crate::grant(
        &journal,
        &mut users,
        "rita",
        &[
            custos_auth::Role::ComplianceOfficer,
            custos_auth::Role::Auditor,
        ],
        &[],
        None,
    );
    let mut state = AppState::new(journal.clone(), config, MediaQueue::disabled())
        .unwrap()
        .with_auth(crate::auth_of(&journal, users));
    if let Some(t) = options.metrics_token {
        state = state.with_metrics_token(Secret::new(t));
    }
    let supervision = Supervision::start(
        journal.clone(),
        supervisor,
        None,
        Some(state.parties.clone()),
    )
    .unwrap();
    state = state.with_supervision(supervision);
    if options.search {
        let index = custos_search::SearchIndex::open(&dir.path().join("state/search")).unwrap();
        let search =
            custos_server::search::SearchService::start(journal.clone(), index, vec![], None);
        state = state.with_search(search);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(custos_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    Setup {
        dir,
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
    async fn webhook(&self, body: String, signed: bool) -> StatusCode {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
        let signature = if signed {
            format!(
                "sha256={}",
                hex::encode(ring::hmac::sign(&key, body.as_bytes()).as_ref())
            )
        } else {
            format!("sha256={}", "0".repeat(64))
        };
        self.http
            .post(format!("{}/webhooks/whatsapp", self.base))
            .header("X-Hub-Signature-256", signature)
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn get(&self, path: &str) -> (StatusCode, String, serde_json::Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let kind = content_type(&r);
        (status, kind, r.json().await.unwrap_or_default())
    }

    async fn scrape(&self, token: Option<&str>) -> (StatusCode, String) {
        let mut request = self.http.get(format!("{}/metrics", self.base));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let r = request.send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// Waits until `path` lists at least `n` items under `key`.
    async fn wait_for(&self, path: &str, key: &str, n: usize) {
        let started = Instant::now();
        loop {
            let (status, _, body) = self.get(path).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if body[key].as_array().unwrap().len() >= n {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{path} never listed {n} {key}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every item of a list, walked page by page with `limit`.
    async fn walk(&self, path: &str, key: &str, limit: usize) -> (Vec<serde_json::Value>, usize) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut pages = 0;
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                None => format!("{path}{sep}limit={limit}"),
                Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            };
            let (status, _, body) = self.get(&url).await;
            assert_eq!(status, StatusCode::OK, "{url}: {body}");
            let page = body[key].as_array().unwrap();
            assert!(page.len() <= limit, "{url}: {} > {limit}", page.len());
            items.extend(page.iter().cloned());
            pages += 1;
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return (items, pages),
            }
            assert!(pages < 100, "{path} never ends");
        }
    }
}

fn content_type(r: &reqwest::Response) -> String {
    r.headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_the_router_and_the_permission_table() {
    let s = setup(Options {
        metrics_token: None,
        search: false,
    })
    .await;
    // Public: no credentials.
    let r = s
        .http
        .get(format!("{}/api/v1/openapi.json", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(content_type(&r).starts_with("application/json"));
    let text = r.text().await.unwrap();
    // It parses as an OpenAPI 3.1 specification (oas3, not utoipa).
    let spec = oas3::from_json(&text).unwrap_or_else(|e| panic!("{e}"));
    assert!(spec.openapi.starts_with("3.1"), "{}", spec.openapi);
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["info"]["title"], "custos API");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "custos_session");

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let method = method.to_uppercase();
            documented.insert((method.clone(), path.clone()));
            assert!(
                op["summary"].is_string() || op["description"].is_string(),
                "{method} {path} has no description"
            );
            let responses = op["responses"].as_object().unwrap();
            if path == "/api/v1/openapi.json" {
                continue;
            }
            for code in ["401", "403"] {
                assert_eq!(
                    responses[code]["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{method} {path} {code}"
                );
            }
            // Each documented route is routed and guarded: without
            // credentials it is 401, not 404 or 405.
            let url = format!(
                "{}{}",
                s.base,
                path.replace("{id}", "x")
                    .replace("{seq}", "1")
                    .replace("{party}", "1")
            );
            let r = s
                .http
                .request(method.parse().unwrap(), &url)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        }
    }
    let table: BTreeSet<(String, String)> = custos_server::auth::PERMISSIONS
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    let mut expected = table.clone();
    expected.insert(("GET".into(), "/api/v1/openapi.json".into()));
    assert_eq!(documented, expected, "document and permission table differ");

    // Every $ref names a schema the document holds.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for r in text.split("\"$ref\":\"").skip(1) {
        let name = r.split('"').next().unwrap();
        let name = name.strip_prefix("#/components/schemas/").unwrap();
        assert!(schemas.contains_key(name), "dangling $ref {name}");
    }
    // Not routed at all: 404, not 401 (the guard sits on routes only, so a
    // route missing from the table could not hide behind it).
    let r = s
        .http
        .get(format!("{}/api/v1/nothing", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_list_pages_with_an_opaque_cursor_and_refuses_a_bad_one() {
    let s = setup(Options {
        metrics_token: None,
        search: true,
    })
    .await;
    for i in 0..3 {
        let text = format!("Me chama no Telegram, por favor, assunto {i}");
        assert_eq!(
            s.webhook(inbound(&format!("wamid.P{i}"), &text), true)
                .await,
            StatusCode::OK
        );
    }
    s.wait_for("/api/v1/alerts", "alerts", 3).await;
    let (_, _, all) = s.get("/api/v1/alerts").await;
    let (paged, pages) = s.walk("/api/v1/alerts", "alerts", 2).await;
    assert_eq!(pages, 2);
    let ids = |v: &[serde_json::Value]| v.iter().map(|a| a["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&paged), ids(all["alerts"].as_array().unwrap()));

    let (_, _, all) = s.get("/api/v1/policies").await;
    let every = all["policies"].as_array().unwrap();
    assert!(every.len() >= 2, "the starter library has several policies");
    let (paged, pages) = s.walk("/api/v1/policies", "policies", 1).await;
    assert_eq!(pages, every.len());
    let names = |v: &[serde_json::Value]| v.iter().map(|p| p["name"].clone()).collect::<Vec<_>>();
    assert_eq!(names(&paged), names(every));

    // Search: the index catches up, then three hits in pages of two.
    let q = "/api/v1/search?q=telegram&reason=test&sort=oldest";
    let started = Instant::now();
    loop {
        let (_, _, body) = s.get(q).await;
        if body["total"] == 3 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (hits, pages) = s.walk(q, "hits", 2).await;
    assert_eq!(pages, 2);
    let seqs: BTreeSet<u64> = hits.iter().map(|h| h["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs.len(), 3, "every hit once");

    // The audit log pages too (the searches above are in it).
    let (events, _) = s.walk("/api/v1/audit", "events", 2).await;
    assert!(events.len() >= 3);

    // A cursor that is not one, or is another list's, is a 400 naming it.
    let (_, _, page) = s.get("/api/v1/alerts?limit=1").await;
    let alerts_cursor = page["next_cursor"].as_str().unwrap().to_string();
    for url in [
        "/api/v1/alerts?cursor=not-a-cursor".to_string(),
        format!("/api/v1/policies?cursor={alerts_cursor}"),
        format!("/api/v1/search?q=telegram&reason=test&cursor={alerts_cursor}"),
        "/api/v1/audit?cursor=zzz".to_string(),
    ] {
        let (status, kind, body) = s.get(&url).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
        assert_eq!(kind, "application/problem+json", "{url}");
        assert_eq!(body["parameter"], "cursor", "{url}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains("cursor="),
            "{body}"
        );
    }
    // What axum's extractors refuse is problem+json too, with their words.
    let (status, kind, body) = s.get("/api/v1/alerts?limit=abc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(kind, "application/problem+json");
    assert!(body["detail"].as_str().unwrap().contains("limit"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_scrapers_token_and_count_webhooks() {
    let s = setup(Options {
        metrics_token: Some(SCRAPER),
        search: true,
    })
    .await;
    assert_eq!(s.scrape(None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(s.scrape(Some("wrong")).await.0, StatusCode::UNAUTHORIZED);
    // A user's API token is not the scraper's.
    assert_eq!(s.scrape(Some(&s.token)).await.0, StatusCode::UNAUTHORIZED);
    let (status, before) = s.scrape(Some(SCRAPER)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        metric(&before, "custos_journal_entries"),
        Some(s.journal.size() as f64)
    );
    assert!(metric(&before, "custos_journal_bytes").unwrap() > 0.0);
    let ingested = r#"custos_ingest_entries_total{source="whatsapp"}"#;
    assert_eq!(metric(&before, ingested), None);

    assert_eq!(
        s.webhook(inbound("wamid.M1", "Me chama no Telegram"), true)
            .await,
        StatusCode::OK
    );
    // The raw body, the delivery record and the message at least.
    let first = metric(&s.scrape(Some(SCRAPER)).await.1, ingested).unwrap();
    assert!(first >= 3.0, "{first}");
    assert_eq!(
        s.webhook(inbound("wamid.M2", "forged"), false).await,
        StatusCode::UNAUTHORIZED
    );
    // A retry of the first delivery adds no entry.
    assert_eq!(
        s.webhook(inbound("wamid.M1", "Me chama no Telegram"), true)
            .await,
        StatusCode::OK
    );
    let started = Instant::now();
    let after = loop {
        let (_, after) = s.scrape(Some(SCRAPER)).await;
        let open = metric(&after, r#"custos_alerts_open{severity="high"}"#)
            .or_else(|| metric(&after, r#"custos_alerts_open{severity="medium"}"#))
            .or_else(|| metric(&after, r#"custos_alerts_open{severity="low"}"#))
            .or_else(|| metric(&after, r#"custos_alerts_open{severity="critical"}"#));
        let caught_up = metric(
            &after,
            r#"custos_projection_lag_entries{projection="search"}"#,
        ) == Some(0.0);
        if open.is_some() && caught_up {
            break after;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{after}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The retry's message was a duplicate: only its delivery record is new.
    let total = metric(&after, ingested).unwrap();
    assert!(total - first < first, "{first} then {total}");
    assert_eq!(
        metric(
            &after,
            r#"custos_webhook_failures_total{source="whatsapp",reason="signature"}"#
        ),
        Some(1.0),
        "{after}"
    );
    assert_eq!(metric(&after, "custos_ingest_lag_seconds_count"), Some(2.0));
    assert!(
        metric(&after, "custos_journal_entries").unwrap()
            > metric(&before, "custos_journal_entries").unwrap()
    );
    assert!(after.contains("# TYPE custos_ingest_lag_seconds histogram"));
    assert!(
        !after.contains("Telegram") && !after.contains(CUSTOMER),
        "no content or numbers in metrics"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_scraper_token_there_is_no_metrics_route() {
    let s = setup(Options {
        metrics_token: None,
        search: false,
    })
    .await;
    assert_eq!(s.scrape(None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(s.scrape(Some(SCRAPER)).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness() {
    let s = setup(Options {
        metrics_token: None,
        search: true,
    })
    .await;
    let r = s
        .http
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let started = Instant::now();
    loop {
        let r = s
            .http
            .get(format!("{}/readyz", s.base))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::OK {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never ready: {}",
            r.text().await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The data directory stops taking files: not ready, and why.
    let state_dir = s.dir.path().join("state");
    let aside = s.dir.path().join("state.aside");
    std::fs::rename(&state_dir, &aside).unwrap();
    std::fs::write(&state_dir, b"not a directory").unwrap();
    let r = s
        .http
        .get(format!("{}/readyz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(content_type(&r), "application/problem+json");
    let body: serde_json::Value = r.json().await.unwrap();
    let reasons = body["reasons"].as_array().unwrap();
    assert!(
        reasons
            .iter()
            .any(|r| r.as_str().unwrap().contains("data directory")),
        "{body}"
    );
    std::fs::remove_file(&state_dir).unwrap();
    std::fs::rename(&aside, &state_dir).unwrap();
}

/// A writer the test reads back: the JSON log lines.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// The JSON log of this test binary (a process-wide subscriber: a scoped
/// one misses events whose call sites other tests' threads registered
/// first).
fn json_log() -> Captured {
    static LOG: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::INFO)
            .with_writer(captured.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        captured
    })
    .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_log_names_routes_and_principals_never_search_terms() {
    let captured = json_log();
    let s = setup(Options {
        metrics_token: None,
        search: true,
    })
    .await;
    let (status, _, _) = s
        .get("/api/v1/search?q=zanzibarquux&reason=secretreasonword")
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = s.get(&format!("/api/v1/consent/{CUSTOMER}")).await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        !text.contains("zanzibarquux"),
        "search terms logged: {text}"
    );
    assert!(!text.contains("secretreasonword"), "reason logged: {text}");
    assert!(!text.contains(CUSTOMER), "a party's number logged: {text}");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &serde_json::Value| l["target"] == "custos::request")
        .collect();
    // The log is the process's: other tests' requests are in it too.
    let search = lines
        .iter()
        .find(|l| l["fields"]["route"] == "/api/v1/search" && l["fields"]["principal"] == "rita")
        .unwrap_or_else(|| panic!("no search line in {text}"));
    assert_eq!(search["fields"]["method"], "GET");
    assert_eq!(search["fields"]["status"], 200);
    assert_eq!(search["fields"]["principal"], "rita");
    assert!(search["fields"]["latency_ms"].as_f64().unwrap() >= 0.0);
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["route"] == "/api/v1/consent/{party}"),
        "{text}"
    );
}
