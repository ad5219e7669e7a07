//! The WORM copy end to end against a real S3 server that enforces Object
//! Lock (moto, from `scripts/s3-start`): an archive with small segments,
//! `custos worm sync`, `custos verify --worm`; the store refuses to delete
//! an uploaded version; a second sync uploads only what sealed since; after
//! more messages only the new sealed segments go; a forged version in the
//! bucket fails verification, naming the object.

use crate::common::Archive;
use custos_worm::{StoreConfig, WormError, WormStore};
use serde_json::Value;
use std::collections::BTreeSet;

/// Small segments, so a few dozen messages seal several.
const SEGMENT: &str = "4096";

fn endpoint() -> Option<String> {
    match std::env::var("CUSTOS_TEST_S3") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CUSTOS_TEST_NO_S3").as_deref() == Ok("1") => {
            eprintln!("skipped: CUSTOS_TEST_NO_S3=1 (no S3 server)");
            None
        }
        _ => panic!(
            "CUSTOS_TEST_S3 is not set: start the test S3 server with `eval \"$(scripts/s3-start)\"` \
             (scripts/test does), or set CUSTOS_TEST_NO_S3=1 to skip the S3 tests"
        ),
    }
}

fn lines(from: usize, to: usize) -> String {
    (from..to)
        .map(|i| {
            format!(
                r#"{{"channel":"whatsapp","id":"wamid.{i}","conversation":"c-1","from":"+5511988887777","to":["+447700900001"],"direction":"inbound","sent_at":"2026-03-12T14:05:33Z","text":"message {i}: the quarterly numbers are in the usual place"}}"#
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `custos ARGS` with small segments; must succeed.
fn ok(a: &Archive, args: &[&str]) -> String {
    let mut all = vec!["--segment-bytes", SEGMENT];
    all.extend_from_slice(args);
    a.ok(&all)
}

/// Ingests messages `from..to`, five to a file: each file is one durable
/// batch, and a batch never splits across segments.
fn ingest(a: &Archive, from: usize, to: usize) {
    for start in (from..to).step_by(5) {
        let file = a.write(
            &format!("m{start}.jsonl"),
            lines(start, (start + 5).min(to)),
        );
        ok(a, &["ingest", &file]);
    }
}

fn sealed(a: &Archive) -> BTreeSet<String> {
    let mut names: Vec<String> = std::fs::read_dir(a.data.join("journal"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".seg"))
        .collect();
    names.sort();
    names.pop();
    names.into_iter().map(|n| format!("segments/{n}")).collect()
}

fn sync(a: &Archive, config: &str) -> Value {
    serde_json::from_str(&ok(a, &["worm", "sync", "--config", config, "--json"])).unwrap()
}

fn objects(report: &Value, prefix: &str) -> BTreeSet<String> {
    report["uploaded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["object"].as_str().unwrap().to_string())
        .filter(|o| o.starts_with(prefix))
        .collect()
}

#[test]
fn an_archive_syncs_to_a_locked_bucket_that_verifies_and_refuses_deletes() {
    let Some(url) = endpoint() else { return };
    let a = Archive::initialised();
    let bucket = format!(
        "e2e-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let config = a.write(
        "custos.toml",
        format!(
            "[worm]\nbucket = \"{bucket}\"\nprefix = \"archive-1\"\nendpoint = \"{url}\"\nregion = \"us-east-1\"\naccess_key_id = \"test\"\nsecret_access_key = \"test\"\ndefault_retention = \"7y\"\n"
        ),
    );
    ok(&a, &["worm", "create-bucket", "--config", &config]);
    ingest(&a, 0, 40);
    let before = sealed(&a);
    assert!(
        before.len() >= 3,
        "the test needs sealed segments: {before:?}"
    );

    let first = sync(&a, &config);
    assert_eq!(objects(&first, "segments/"), before);
    assert_eq!(objects(&first, "heads/").len(), 1, "{first}");

    // Each upload is a journal event naming object, digest, version, lock.
    let events: Vec<Value> = a
        .log()
        .into_iter()
        .filter(|e| e["action"] == "worm.uploaded")
        .collect();
    assert_eq!(events.len(), first["uploaded"].as_array().unwrap().len());
    let event = &events[0]["details"];
    for field in ["object", "sha256", "version_id", "retain_until", "kind"] {
        assert!(event[field].is_string(), "{event}");
    }

    let verified = ok(&a, &["verify", "--worm", "--config", &config]);
    assert!(
        verified.contains("worm copy:") && !verified.contains("FAILED"),
        "{verified}"
    );

    // The store itself refuses to delete an uploaded version.
    let store = WormStore::new(StoreConfig {
        bucket: bucket.clone(),
        prefix: "archive-1".into(),
        endpoint: Some(url.clone()),
        region: "us-east-1".into(),
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
    })
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let object = event["object"].as_str().unwrap();
    let version = event["version_id"].as_str().unwrap();
    let refused = runtime
        .block_on(store.delete_version(object, version))
        .unwrap_err();
    assert!(
        matches!(&refused, WormError::DeleteRefused { status: 403, code, .. } if code == "AccessDenied"),
        "{refused}"
    );

    // A second sync uploads only segments sealed since (by the first
    // sync's own events, if they filled the tail), never one again.
    let recorded: BTreeSet<String> = events
        .iter()
        .map(|e| e["details"]["object"].as_str().unwrap().to_string())
        .collect();
    let newly: BTreeSet<String> = sealed(&a).difference(&recorded).cloned().collect();
    let second = sync(&a, &config);
    assert_eq!(objects(&second, "segments/"), newly);
    assert!(objects(&second, "blobs/").is_empty());

    // More messages: only the new sealed segments go.
    let uploaded_so_far = sealed(&a);
    ingest(&a, 40, 80);
    let expected: BTreeSet<String> = sealed(&a).difference(&uploaded_so_far).cloned().collect();
    assert!(!expected.is_empty());
    let third = sync(&a, &config);
    assert_eq!(objects(&third, "segments/"), expected);
    assert_eq!(objects(&third, "heads/").len(), 1, "{third}");
    let verified = ok(&a, &["verify", "--worm", "--config", &config]);
    assert!(!verified.contains("FAILED"), "{verified}");

    // A forged version written over a segment is found and named.
    let victim = before.iter().nth(1).unwrap().clone();
    runtime
        .block_on(store.put_unlocked(&victim, b"forged".to_vec()))
        .unwrap();
    let failed = a.fail(&[
        "--segment-bytes",
        SEGMENT,
        "verify",
        "--worm",
        "--config",
        &config,
    ]);
    assert!(
        failed.contains(&format!("worm FAILED: {victim}")),
        "{failed}"
    );
}

#[test]
fn serve_worm_uploads_the_sealed_segments_in_the_background() {
    let Some(url) = endpoint() else { return };
    let a = Archive::initialised();
    let bucket = format!(
        "serve-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let config = a.write(
        "custos.toml",
        format!(
            "[worm]\nbucket = \"{bucket}\"\nendpoint = \"{url}\"\naccess_key_id = \"test\"\nsecret_access_key = \"test\"\nsync_every = 1\n"
        ),
    );
    ok(&a, &["worm", "create-bucket", "--config", &config]);
    ingest(&a, 0, 20);
    let sealed = sealed(&a);
    assert!(sealed.len() >= 2, "{sealed:?}");

    let log_path = a.tmp.path().join("serve.log");
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_custos"))
        .arg("--data")
        .arg(&a.data)
        .args([
            "--segment-bytes",
            SEGMENT,
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--worm",
        ])
        .args(["--config", &config])
        .env("CUSTOS_ACTOR", "tester")
        .env_remove("CUSTOS_KEK")
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let store = WormStore::new(StoreConfig {
        bucket,
        prefix: String::new(),
        endpoint: Some(url),
        region: String::new(),
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
    })
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let last = sealed.iter().next_back().unwrap();
    while runtime.block_on(store.current(last)).unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "serve --worm uploaded nothing in 60 s:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // SIGTERM once the server answers (its handler is installed by then).
    let addr = loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(rest) = log.split(" on http://").nth(1) {
            break rest.lines().next().unwrap().trim().to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve did not start:\n{log}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    while reqwest::blocking::get(format!("http://{addr}/healthz")).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "serve does not answer"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let term = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = server.wait().unwrap();
    assert!(
        status.success(),
        "{status}:\n{}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );

    let events: Vec<Value> = a
        .log()
        .into_iter()
        .filter(|e| e["action"] == "worm.uploaded")
        .collect();
    let objects: BTreeSet<String> = events
        .iter()
        .map(|e| e["details"]["object"].as_str().unwrap().to_string())
        .collect();
    assert!(sealed.is_subset(&objects), "{objects:?}");
    assert!(events.iter().all(|e| e["actor"] == "worm-sync"));
    let verified = ok(&a, &["verify", "--worm", "--config", &config]);
    assert!(!verified.contains("FAILED"), "{verified}");
}

#[test]
fn verify_worm_without_a_bucket_says_what_is_missing() {
    let a = Archive::initialised();
    let config = a.write("custos.toml", "[worm]\nprefix = \"x\"\n");
    let out = a.fail(&["verify", "--worm", "--config", &config]);
    assert!(out.contains("worm.bucket"), "{out}");
}
