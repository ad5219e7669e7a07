//! Media downloads against a local server speaking the Graph API's
//! documented media endpoints: `GET /{media-id}` (bearer token) answers
//! `{url, mime_type, sha256, file_size, id, messaging_product}`, and a `GET`
//! of that URL (bearer token) the bytes.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use custos_journal::{Journal, KeyId, Opened};
use custos_model::{Digest, Event, SystemEvent};
use custos_server::media::{self, MediaQueue, Retry};
use custos_server::{AppState, Secret, WhatsAppConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SECRET: &str = "media-test-secret";
const TOKEN: &str = "graph-access-token";

#[derive(Clone)]
struct Graph {
    base: String,
    bytes: Arc<Vec<u8>>,
    /// Downloads that fail with 500 before one succeeds.
    failures_left: Arc<AtomicUsize>,
    downloads: Arc<AtomicUsize>,
}

fn authorised(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

async fn lookup(
    State(g): State<Graph>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<axum::Json<serde_json::Value>, StatusCode> {
    if !authorised(&headers) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    Ok(axum::Json(serde_json::json!({
        "messaging_product": "whatsapp",
        "url": format!("{}/download/{id}", g.base),
        "mime_type": "image/jpeg",
        "sha256": Digest::of(&g.bytes).to_string(),
        "file_size": g.bytes.len(),
        "id": id,
    })))
}

async fn download(State(g): State<Graph>, headers: HeaderMap) -> Result<Vec<u8>, StatusCode> {
    if !authorised(&headers) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    g.downloads.fetch_add(1, Ordering::SeqCst);
    if g.failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return Err(StatusCode::INTERNAL_SERVER_ERROR);
    }
    Ok(g.bytes.to_vec())
}

async fn start_graph(bytes: Vec<u8>, failures: usize) -> Graph {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let graph = Graph {
        base: format!("http://{}", listener.local_addr().unwrap()),
        bytes: Arc::new(bytes),
        failures_left: Arc::new(AtomicUsize::new(failures)),
        downloads: Arc::new(AtomicUsize::new(0)),
    };
    let app = axum::Router::new()
        .route("/download/{id}", axum::routing::get(download))
        .route("/{id}", axum::routing::get(lookup))
        .with_state(graph.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    graph
}

fn image_payload(wamid: &str, media_id: &str, sha256: &str) -> String {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"447700900001","phone_number_id":"106540352242922"}},"contacts":[{{"profile":{{"name":"Ana Souza"}},"wa_id":"5511988887777"}}],"messages":[{{"from":"5511988887777","id":"{wamid}","timestamp":"1749416383","type":"image","image":{{"id":"{media_id}","mime_type":"image/jpeg","sha256":"{sha256}","caption":"a receita"}}}}]}}}}]}}]}}"#
    )
}

fn sign(body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    format!(
        "sha256={}",
        hex::encode(ring::hmac::sign(&key, body).as_ref())
    )
}

async fn start_server(journal: Journal, media: MediaQueue) -> String {
    let config = WhatsAppConfig {
        app_secret: Secret::new(SECRET),
        verify_token: Secret::new("v"),
        access_token: Secret::new(TOKEN),
        ..WhatsAppConfig::default()
    };
    let state = AppState::new(journal, config, media).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(custos_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    base
}

async fn post(base: &str, body: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{base}/webhooks/whatsapp"))
        .header("X-Hub-Signature-256", sign(body.as_bytes()))
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn media_events(journal: &Journal) -> Vec<SystemEvent> {
    journal
        .entries(0)
        .filter_map(|e| match journal.open_entry(&e.unwrap()).unwrap() {
            Opened::Event(Event::System(s)) if s.action.starts_with("whatsapp.media.") => Some(s),
            _ => None,
        })
        .collect()
}

async fn wait_for(journal: &Journal, action: &str) -> SystemEvent {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(e) = media_events(journal)
            .into_iter()
            .find(|e| e.action == action)
        {
            return e;
        }
        assert!(Instant::now() < deadline, "no {action} event in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const FAST: Retry = Retry {
    attempts: 4,
    first_delay: Duration::from_millis(10),
    timeout: Duration::from_secs(10),
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_is_fetched_checked_and_sealed_after_retries() {
    let bytes = b"\xff\xd8\xff\xe0 a JPEG of a prescription".to_vec();
    let graph = start_graph(bytes.clone(), 2).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(dir.path(), None, "test").unwrap();
    let queue = media::start(
        journal.clone(),
        graph.base.clone(),
        Secret::new(TOKEN),
        FAST,
    )
    .unwrap();
    let base = start_server(journal.clone(), queue).await;

    // The webhook states the digest in base64 here.
    let b64 = base64_of(Digest::of(&bytes).as_bytes());
    let body = image_payload("wamid.IMG1", "MEDIA1", &b64);
    assert_eq!(post(&base, &body).await, 200);

    let fetched = wait_for(&journal, "whatsapp.media.fetched").await;
    assert_eq!(fetched.details["wamid"], "wamid.IMG1");
    assert_eq!(fetched.details["attempt"], 3, "two failures, then success");
    let retries = media_events(&journal)
        .iter()
        .filter(|e| e.action == "whatsapp.media.retry")
        .count();
    assert_eq!(retries, 2, "each failure stays visible");
    let key: [u8; 16] = hex::decode(fetched.details["blob_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let stored = journal
        .blob(KeyId::from_bytes(key), &Digest::of(&bytes))
        .unwrap()
        .unwrap();
    assert_eq!(stored, bytes);

    // A retried delivery of the same message does not fetch again.
    assert_eq!(post(&base, &body).await, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(graph.downloads.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_do_not_match_the_webhook_digest_end_as_a_visible_failure() {
    let graph = start_graph(b"not the image the webhook described".to_vec(), 0).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(dir.path(), None, "test").unwrap();
    let queue = media::start(
        journal.clone(),
        graph.base.clone(),
        Secret::new(TOKEN),
        FAST,
    )
    .unwrap();
    let base = start_server(journal.clone(), queue).await;
    let claimed = Digest::of(b"the real image").to_string();
    assert_eq!(
        post(&base, &image_payload("wamid.IMG2", "MEDIA2", &claimed)).await,
        200
    );
    let failed = wait_for(&journal, "whatsapp.media.failed").await;
    assert_eq!(failed.details["attempt"], 4);
    assert!(
        failed.details["problem"]
            .as_str()
            .unwrap()
            .contains("the webhook said"),
        "{failed:?}"
    );
    let wrong = Digest::of(b"not the image the webhook described").to_string();
    let stored: Vec<String> = walk(&dir.path().join("blobs"));
    assert!(
        !stored.iter().any(|name| *name == wrong || *name == claimed),
        "no media blob is kept: {stored:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_still_pending_at_start_up_is_fetched_then() {
    let bytes = b"voice note bytes".to_vec();
    let graph = start_graph(bytes.clone(), 0).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(dir.path(), None, "test").unwrap();
    // Captured while downloads were off (or before a crash).
    let base = start_server(journal.clone(), MediaQueue::disabled()).await;
    let hex = Digest::of(&bytes).to_string();
    assert_eq!(
        post(&base, &image_payload("wamid.IMG3", "MEDIA3", &hex)).await,
        200
    );
    assert!(media_events(&journal).is_empty());
    // The fetcher starts and finds it in the journal.
    let _queue = media::start(
        journal.clone(),
        graph.base.clone(),
        Secret::new(TOKEN),
        FAST,
    )
    .unwrap();
    let fetched = wait_for(&journal, "whatsapp.media.fetched").await;
    assert_eq!(fetched.details["media_id"], "MEDIA3");
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut names = Vec::new();
    let Ok(items) = std::fs::read_dir(dir) else {
        return names;
    };
    for item in items {
        let path = item.unwrap().path();
        if path.is_dir() {
            names.extend(walk(&path));
        } else {
            names.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    names
}

fn base64_of(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A Graph API at fault: every media lookup either hangs (ids starting
/// `SLOW`) or answers 500 (any other id); counts the lookups.
async fn start_faulty_graph() -> (String, Arc<AtomicUsize>) {
    let lookups = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let counted = lookups.clone();
    let app = axum::Router::new().route(
        "/{id}",
        axum::routing::get(move |Path(id): Path<String>| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                if id.starts_with("SLOW") {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, lookups)
}

fn text_payload(wamid: &str, text: &str) -> String {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"447700900001","phone_number_id":"106540352242922"}},"contacts":[{{"profile":{{"name":"Ana Souza"}},"wa_id":"5511988887777"}}],"messages":[{{"from":"5511988887777","id":"{wamid}","timestamp":"1749416383","type":"text","text":{{"body":"{text}"}}}}]}}}}]}}]}}"#
    )
}

/// The Graph API times out and answers 500 while webhooks keep arriving:
/// every webhook is still acknowledged promptly and stored, each failed
/// attempt is journalled, and each media job ends as a visible failure
/// after its last attempt (never silently dropped).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_keep_being_acknowledged_while_the_graph_api_hangs_and_fails() {
    let (graph, lookups) = start_faulty_graph().await;
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::init(dir.path(), None, "test").unwrap();
    let retry = Retry {
        attempts: 3,
        first_delay: Duration::from_millis(50),
        timeout: Duration::from_millis(300),
    };
    let queue = media::start(journal.clone(), graph, Secret::new(TOKEN), retry).unwrap();
    let base = start_server(journal.clone(), queue).await;

    // Images whose media hang or fail, interleaved with text messages.
    let digest = Digest::of(b"never fetched").to_string();
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    for n in 0..60 {
        let body = match n % 10 {
            0 => image_payload(&format!("wamid.SLOW{n}"), &format!("SLOW{n}"), &digest),
            5 => image_payload(&format!("wamid.FAIL{n}"), &format!("FAIL{n}"), &digest),
            _ => text_payload(&format!("wamid.TXT{n}"), &format!("texto numero {n}")),
        };
        let sent = Instant::now();
        assert_eq!(post(&base, &body).await, 200, "delivery {n}");
        slowest = slowest.max(sent.elapsed());
    }
    let posting = started.elapsed();
    // Acknowledging never waits on the Graph API (a hang lasts an hour).
    assert!(
        slowest < Duration::from_secs(2),
        "a webhook took {slowest:?} while the Graph API hung"
    );

    // Every message is stored.
    let wamids: Vec<String> = journal
        .entries(0)
        .filter_map(|e| match journal.open_entry(&e.unwrap()).unwrap() {
            Opened::Event(Event::Message(m)) => Some(m.source_id),
            _ => None,
        })
        .collect();
    assert_eq!(wamids.len(), 60, "{wamids:?}");

    // Each of the 12 media jobs fails three times, visibly, then ends.
    let deadline = Instant::now() + Duration::from_secs(30);
    let failed = loop {
        let failed: Vec<SystemEvent> = media_events(&journal)
            .into_iter()
            .filter(|e| e.action == "whatsapp.media.failed")
            .collect();
        if failed.len() == 12 || Instant::now() > deadline {
            break failed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(failed.len(), 12, "after posting for {posting:?}");
    let events = media_events(&journal);
    for f in &failed {
        let wamid = f.details["wamid"].as_str().unwrap();
        assert_eq!(f.details["attempt"], 3, "{f:?}");
        let problem = f.details["problem"].as_str().unwrap();
        if wamid.starts_with("wamid.SLOW") {
            assert!(problem.contains("timed out"), "{problem}");
        } else {
            assert!(problem.contains("500"), "{problem}");
        }
        let retries = events
            .iter()
            .filter(|e| e.action == "whatsapp.media.retry" && e.details["wamid"] == wamid)
            .count();
        assert_eq!(retries, 2, "{wamid}: each failed attempt is journalled");
    }
    assert_eq!(lookups.load(Ordering::SeqCst), 36);
    assert!(
        !events.iter().any(|e| e.action == "whatsapp.media.fetched"),
        "nothing was fetched"
    );
}
