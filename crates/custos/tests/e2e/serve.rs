//! `custos serve` end to end: the real binary on a loopback port takes
//! signed webhook deliveries from concurrent clients, is SIGKILLed in the
//! middle of the load, restarted on the same archive, stopped with SIGTERM,
//! and every delivery it answered 200 is then in `custos log --json`
//! exactly once, and `custos verify` passes.

use crate::common::Archive;
use crate::deliveries::{Load, Outcome, post};
use custos_bench::webhook::{Client, Server};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_custos");
const SECRET: &str = "e2e-app-secret";
/// Client threads posting at once.
const THREADS: usize = 8;
/// Deliveries acknowledged before the server is killed.
const KILL_AFTER: usize = 300;

/// Deliveries of 1 to 3 messages from [`THREADS`] threads.
const LOAD: Load = Load {
    secret: SECRET,
    threads: THREADS,
    most: 3,
};

#[test]
fn every_acknowledged_delivery_survives_a_kill_and_a_restart_exactly_once() {
    let started = Instant::now();
    let archive = Archive::initialised();
    let (tmp, data) = (&archive.tmp, archive.data.clone());
    let server_log = tmp.path().join("serve.log");

    // Load from several clients; SIGKILL the server in the middle of it.
    let mut server = Server::start(Path::new(EXE), &data, SECRET, &server_log).unwrap();
    let before = Outcome::default();
    let addr = server.addr;
    std::thread::scope(|scope| {
        scope.spawn(|| LOAD.run(addr, "before", None, &before));
        let deadline = Instant::now() + Duration::from_secs(60);
        while before.count.load(Ordering::SeqCst) < KILL_AFTER && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        server.kill().unwrap();
    });
    let acked_before = before.acked.into_inner().unwrap();
    let unanswered = before.unanswered.into_inner().unwrap();
    assert!(
        acked_before.len() >= KILL_AFTER,
        "only {} deliveries acknowledged before the deadline:\n{}",
        acked_before.len(),
        server.log()
    );
    drop(server);

    // Restart on the same archive; post more, and retry what was in flight
    // (as Meta does) and some of what was acknowledged.
    let server = Server::start(Path::new(EXE), &data, SECRET, &server_log).unwrap();
    let after = Outcome::default();
    LOAD.run(server.addr, "after", Some(20), &after);
    let mut acked_after = after.acked.into_inner().unwrap();
    assert_eq!(acked_after.len(), THREADS * 20);
    let mut client = Client::connect(server.addr).unwrap();
    for d in &unanswered {
        assert_eq!(post(&mut client, SECRET, d).unwrap(), 200);
    }
    acked_after.extend(unanswered.iter().cloned());
    for d in acked_before.iter().take(5) {
        assert_eq!(post(&mut client, SECRET, d).unwrap(), 200);
    }
    drop(client);
    let status = server.terminate(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "custos serve exited with {status}");

    // Every acknowledged message is in the log exactly once, with its text.
    let entries = archive.log();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut texts: HashMap<String, String> = HashMap::new();
    for e in entries.iter().filter(|e| e["kind"] == "message") {
        let id = e["id"].as_str().unwrap().to_string();
        *seen.entry(id.clone()).or_default() += 1;
        texts.insert(id, e["text"].as_str().unwrap_or_default().to_string());
    }
    let duplicated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicated.is_empty(),
        "messages stored twice: {duplicated:?}"
    );
    let acked: Vec<&(String, String)> = acked_before
        .iter()
        .chain(&acked_after)
        .flat_map(|d| &d.messages)
        .collect();
    let sent: HashSet<&str> = acked
        .iter()
        .map(|(w, _)| w.as_str())
        .chain(
            unanswered
                .iter()
                .flat_map(|d| &d.messages)
                .map(|(w, _)| w.as_str()),
        )
        .collect();
    for (wamid, text) in &acked {
        assert_eq!(
            seen.get(wamid),
            Some(&1),
            "{wamid} acknowledged but not stored once"
        );
        assert_eq!(texts[wamid], *text, "{wamid}");
    }
    for id in seen.keys() {
        assert!(sent.contains(id.as_str()), "{id} was never sent");
    }
    let deliveries = entries
        .iter()
        .filter(|e| e["kind"] == "system" && e["action"] == "whatsapp.delivery")
        .count();
    assert!(
        deliveries >= acked_before.len() + acked_after.len() + 5,
        "{deliveries} delivery records"
    );

    // A retry of an acknowledged delivery after another restart adds no
    // message, only the record of the delivery.
    let size = entries.len() + 1; // `log` journalled its read
    let server = Server::start(Path::new(EXE), &data, SECRET, &server_log).unwrap();
    let mut client = Client::connect(server.addr).unwrap();
    let retried = [
        &acked_before[0],
        &acked_before[acked_before.len() - 1],
        &acked_after[0],
    ];
    for d in retried {
        assert_eq!(post(&mut client, SECRET, d).unwrap(), 200);
    }
    drop(client);
    assert!(server.terminate(Duration::from_secs(30)).unwrap().success());
    let entries = archive.log();
    let new: Vec<&Value> = entries
        .iter()
        .filter(|e| e["seq"].as_u64().unwrap() >= size as u64)
        .collect();
    assert!(
        new.iter().all(|e| e["kind"] == "system"),
        "a retry added more than its delivery record: {new:?}"
    );
    assert_eq!(
        new.iter()
            .filter(|e| e["action"] == "whatsapp.delivery")
            .count(),
        retried.len()
    );
    assert_eq!(
        entries.iter().filter(|e| e["kind"] == "message").count(),
        seen.len()
    );

    let out = archive.run(&["verify"]);
    assert!(
        out.status.success(),
        "verify failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "{} deliveries acknowledged before the kill ({} in flight), {} after; {} messages; {:.1} s",
        acked_before.len(),
        unanswered.len(),
        acked_after.len(),
        seen.len(),
        started.elapsed().as_secs_f64()
    );
}
