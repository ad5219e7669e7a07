//! Faults end to end (issue 8): `custos import`, `custos rebuild search`
//! and `custos retention run` SIGKILLed in the middle of their work, and
//! `custos serve`
//! running out of file space during a webhook append. After each: `verify`
//! passes, nothing acknowledged is missing, nothing is stored twice, and
//! the work completes when run again.
//!
//! (SIGKILL during ingest through `serve` is in `serve.rs`; the journal's
//! own write-failure and crash tests are in `custos-journal/tests`.)

use crate::common::Archive;
use custos_bench::webhook::{self, Client, Server};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_custos");

/// Total bytes of the files under `dir` (0 if it does not exist).
fn size_of(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => size_of(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Starts `custos --data DATA ARGS`, waits until `ready` says so (polled
/// every millisecond, at most 120 s), then SIGKILLs it. Returns whether it
/// was killed (false: it finished first).
fn kill_when(a: &Archive, args: &[&str], ready: impl Fn() -> bool) -> bool {
    let mut child = Command::new(EXE)
        .arg("--data")
        .arg(&a.data)
        .args(args)
        .env("CUSTOS_ACTOR", "tester")
        .env_remove("CUSTOS_KEK")
        .env_remove("CUSTOS_DATA")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if ready() {
            child.kill().unwrap();
            child.wait().unwrap();
            return true;
        }
        assert!(Instant::now() < deadline, "custos {args:?} never got ready");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn verify_passes(a: &Archive) {
    let out = a.run(&["verify"]);
    assert!(
        out.status.success(),
        "verify failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An archive with the custodian of the synthetic export enrolled, and
/// the export (`lines` lines) written beside it; its path.
fn with_export(lines: usize) -> (Archive, String) {
    let a = Archive::initialised();
    a.ok(&[
        "custodian",
        "add",
        "E200",
        "--name",
        "Rafael Lima",
        "--phone",
        "+55 11 90000-0002",
        "--opted-in",
        "2024-01-15",
    ]);
    let file = a.write(
        "WhatsApp Chat with Ana Souza.txt",
        custos_bench::export::synthetic_android(lines),
    );
    (a, file)
}

fn import_args(file: &str) -> Vec<&str> {
    vec![
        "import",
        "whatsapp-export",
        file,
        "--custodian",
        "E200",
        "--phone",
        "+5511900000002",
        "--tz",
        "America/Sao_Paulo",
    ]
}

/// `(read, archived, already there)` from an import's report line.
fn import_counts(out: &str) -> (u64, u64, u64) {
    let line = out
        .lines()
        .find(|l| l.contains("messages read"))
        .unwrap_or_else(|| panic!("no import report in {out}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    let n = numbers.len();
    assert!(n >= 3, "{line}");
    (numbers[n - 3], numbers[n - 2], numbers[n - 1])
}

/// Message ids in the log, and how often each appears.
fn message_ids(a: &Archive) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for e in a.messages() {
        *seen
            .entry(e["id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    seen
}

#[test]
fn an_import_killed_midway_verifies_and_a_rerun_completes_it_without_duplicates() {
    let (a, file) = with_export(40_000);
    let args = import_args(&file);
    let journal = a.data.join("journal");
    let baseline = size_of(&journal);

    // Killed once some of its batches are on disk, then again sooner.
    let mut kills = 0;
    for grown in [256 << 10, 1] {
        let floor = size_of(&journal);
        if kill_when(&a, &args, || size_of(&journal) > floor + grown) {
            kills += 1;
        }
        verify_passes(&a);
    }
    assert!(kills > 0, "the import always finished before the kill");
    let partial = message_ids(&a);
    assert!(
        partial.values().all(|&n| n == 1),
        "a killed import stored a message twice"
    );
    assert!(
        size_of(&journal) > baseline,
        "the killed imports wrote nothing: the kill came too early to test anything"
    );

    // The re-run completes it: it archives exactly what was missing.
    let (read, archived, duplicates) = import_counts(&a.ok(&args));
    assert_eq!(archived + duplicates, read);
    assert_eq!(duplicates as usize, partial.len());
    let complete = message_ids(&a);
    assert_eq!(complete.len() as u64, read);
    assert!(complete.values().all(|&n| n == 1), "a message stored twice");
    for id in partial.keys() {
        assert!(complete.contains_key(id), "{id} vanished");
    }
    eprintln!(
        "import: {kills} kills, {} of {read} messages stored before the re-run",
        partial.len()
    );
    // And once more adds nothing.
    assert_eq!(import_counts(&a.ok(&args)), (read, 0, read));
    verify_passes(&a);
}

/// `custos search "*"`'s total.
fn total(a: &Archive) -> Result<u64, String> {
    let out = a.run(&["search", "*", "--reason", "fault test", "--json"]);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let found: Value = serde_json::from_slice(&out.stdout).unwrap();
    Ok(found["total"].as_u64().unwrap())
}

#[test]
fn a_rebuild_killed_midway_leaves_the_archive_whole_and_runs_again_in_full() {
    let (a, file) = with_export(30_000);
    let (read, _, _) = import_counts(&a.ok(&import_args(&file)));
    let index = a.data.join("state").join("search");
    assert_eq!(total(&a), Ok(read), "the index before any rebuild");

    // Killed while indexing (the old index is gone, the new one growing),
    // then right after starting (while the old one is being removed).
    let mut kills = 0;
    let first = kill_when(&a, &["rebuild", "search"], || size_of(&index) > 512 << 10);
    let started = Instant::now();
    let second = kill_when(&a, &["rebuild", "search"], || {
        started.elapsed() > Duration::from_millis(20)
    });
    kills += usize::from(first) + usize::from(second);
    assert!(kills > 0, "every rebuild finished before its kill");
    eprintln!("rebuild: killed midway {first}, killed at start {second}");
    verify_passes(&a);
    // Searching after the kill either catches the index up in full or
    // says what to do; it never answers from half an index.
    match total(&a) {
        Ok(n) => assert_eq!(n, read, "a search after a killed rebuild"),
        Err(e) => assert!(e.contains("rebuild"), "{e}"),
    }

    // Run again to the end: every message is in the index.
    let out = a.ok(&["rebuild", "search"]);
    assert!(out.contains(&format!("{read} messages")), "{out}");
    assert_eq!(total(&a), Ok(read));
    verify_passes(&a);
}

/// Customers whose January 2019 is past its retention in March 2024: one
/// data key each, so a disposition run has many batches to cut short.
const CUSTOMERS: usize = 3_000;

/// Key ids named by `key.shred` entries, and how often each.
fn shredded_keys(a: &Archive) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for e in a.log().iter().filter(|e| e["action"] == "key.shred") {
        *seen
            .entry(e["target"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    seen
}

/// Seqs named by the disposition certificates, and how often each.
fn certified(a: &Archive) -> (usize, HashMap<u64, usize>) {
    let out = a.ok(&["retention", "certificates", "--json"]);
    let mut seen = HashMap::new();
    let mut n = 0;
    for line in out.lines() {
        n += 1;
        let cert: Value = serde_json::from_str(line).unwrap();
        for r in cert["records"].as_array().unwrap() {
            *seen.entry(r["seq"].as_u64().unwrap()).or_default() += 1;
        }
    }
    (n, seen)
}

#[test]
fn a_retention_run_killed_midway_verifies_and_the_next_run_finishes_it_once() {
    let a = Archive::initialised();
    let mut lines = String::new();
    for i in 0..CUSTOMERS {
        lines.push_str(&format!(
            r#"{{"channel":"whatsapp","id":"old-{i}","conversation":"c-{i}","from":"+447700900001","to":["+55119{i:08}"],"direction":"outbound","sent_at":"2019-01-10T09:00:00Z","text":"january {i}"}}"#
        ));
        lines.push('\n');
    }
    lines.push_str(r#"{"channel":"whatsapp","id":"recent","conversation":"c-recent","from":"+447700900001","to":["+12025550123"],"direction":"outbound","sent_at":"2023-06-01T09:00:00Z","text":"kept"}"#);
    lines.push('\n');
    let file = a.write("msgs.jsonl", lines);
    a.ok(&["ingest", &file]);
    let rules = a.write(
        "schedule.toml",
        "[[rule]]\nname = \"all comms\"\npreset = \"sec-17a-4-b4\"\n",
    );
    a.ok(&["retention", "rules", "set", &rules]);
    let now = ["retention", "run", "--now", "2024-03-01"];

    // What the run will dispose of, from a dry run.
    let mut dry = now.to_vec();
    dry.extend(["--dry-run", "--json"]);
    let plan: Value = serde_json::from_str(&a.ok(&dry)).unwrap();
    let keys: Vec<&Value> = plan["plan"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["disposable"] == true)
        .collect();
    assert_eq!(keys.len(), CUSTOMERS, "one key per customer's January");
    let due: Vec<u64> = keys
        .iter()
        .flat_map(|k| k["records"].as_array().unwrap().iter())
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(due.len(), CUSTOMERS);

    // Killed once it has journalled a few batches' worth (intent, key
    // shreds, certificate), long before its last.
    let journal = a.data.join("journal");
    let before = size_of(&journal);
    let killed = kill_when(&a, &now, || size_of(&journal) > before + (96 << 10));
    assert!(killed, "the retention run finished before its kill");
    verify_passes(&a);
    let cut_short = shredded_keys(&a);
    let (certs_before, _) = certified(&a);
    assert!(
        cut_short.len() < CUSTOMERS,
        "the kill came after every key was shredded"
    );
    assert!(
        cut_short.values().all(|n| *n == 1),
        "a key was shredded twice"
    );
    eprintln!(
        "retention: killed after {} of {CUSTOMERS} keys, {certs_before} certificates",
        cut_short.len()
    );

    // The next run finishes the work: every key once, every record
    // certified once, the record under no expired rule kept.
    let out = a.ok(&now);
    assert!(
        out.contains("finished batch RD-") || out.contains("batch"),
        "{out}"
    );
    let shreds = shredded_keys(&a);
    assert_eq!(shreds.len(), CUSTOMERS, "every due key shredded");
    assert!(shreds.values().all(|n| *n == 1), "a key shredded twice");
    let (certs, records) = certified(&a);
    assert!(certs > certs_before);
    assert_eq!(records.len(), CUSTOMERS, "every due record certified");
    assert!(
        records.values().all(|n| *n == 1),
        "a record certified twice"
    );
    for seq in &due {
        assert!(records.contains_key(seq), "entry {seq} was never certified");
    }
    let log = a.log();
    let recent = log.iter().find(|e| e["id"] == "recent").unwrap();
    assert!(
        recent.get("shredded_at").is_none(),
        "a record within its retention was shredded"
    );
    verify_passes(&a);
    // And a third run has nothing left to do.
    a.ok(&now);
    assert_eq!(shredded_keys(&a).len(), CUSTOMERS);
    assert_eq!(certified(&a).1.len(), CUSTOMERS);
}

const SECRET: &str = "faults-app-secret";

fn deliver(client: &mut Client, tag: &str, n: u64) -> webhook::Response {
    let (body, _) = webhook::synthetic(tag, n, 2);
    let signature = webhook::sign(SECRET.as_bytes(), body.as_bytes());
    client
        .request(
            "POST",
            webhook::PATH,
            &[
                ("Content-Type", "application/json"),
                ("X-Hub-Signature-256", &signature),
            ],
            body.as_bytes(),
        )
        .unwrap()
}

#[test]
fn a_full_disk_during_a_webhook_append_answers_a_problem_keeps_nothing_partial_and_capture_resumes()
{
    let a = Archive::initialised();
    let log = a.tmp.path().join("serve.log");
    // 192 KiB per file: the segment fills up after a few hundred messages.
    let server = Server::start_limited(Path::new(EXE), &a.data, SECRET, &log, Some(192)).unwrap();
    let mut client = Client::connect(server.addr).unwrap();
    let mut acked = Vec::new();
    let refused = loop {
        let n = acked.len() as u64;
        assert!(
            n < 5_000,
            "the file size limit never bit:\n{}",
            server.log()
        );
        let r = deliver(&mut client, "full", n);
        if r.status == 200 {
            acked.push(n);
        } else {
            break (n, r);
        }
    };
    let (first_refused, problem) = refused;
    assert!(
        (500..600).contains(&problem.status),
        "answered {}",
        problem.status
    );
    let body: Value = serde_json::from_slice(&problem.body).unwrap_or_else(|e| {
        panic!(
            "not problem+json ({e}): {}",
            String::from_utf8_lossy(&problem.body)
        )
    });
    assert!(body["title"].is_string() && body["status"] == problem.status);
    assert!(!acked.is_empty(), "nothing fitted under the limit");
    eprintln!(
        "full disk: {} deliveries acknowledged, then {}: {body}",
        acked.len(),
        problem.status
    );
    // Later deliveries are refused too, and the server stays up.
    for n in first_refused + 1..first_refused + 4 {
        let r = deliver(&mut client, "full", n);
        assert!(
            (500..600).contains(&r.status) || r.status == 200,
            "delivery {n} answered {}",
            r.status
        );
        if r.status == 200 {
            acked.push(n);
        }
    }
    drop(client);
    drop(server); // SIGKILL: the disk is still full

    // Nothing partial: the archive verifies, every acknowledged message is
    // there once.
    verify_passes(&a);
    let ids = message_ids(&a);
    for n in &acked {
        for i in 0..2 {
            let wamid = format!("wamid.full.{n:010}.{i:03}");
            assert_eq!(ids.get(&wamid), Some(&1), "{wamid} acknowledged");
        }
    }

    // Space returns: capture resumes, the refused delivery included.
    let server = Server::start(Path::new(EXE), &a.data, SECRET, &log).unwrap();
    let mut client = Client::connect(server.addr).unwrap();
    for n in first_refused..first_refused + 20 {
        let r = deliver(&mut client, "full", n);
        assert_eq!(r.status, 200, "delivery {n} after space returned");
    }
    drop(client);
    assert!(server.terminate(Duration::from_secs(30)).unwrap().success());
    verify_passes(&a);
    let ids = message_ids(&a);
    for n in acked
        .iter()
        .copied()
        .chain(first_refused..first_refused + 20)
    {
        let wamid = format!("wamid.full.{n:010}.000");
        assert_eq!(ids.get(&wamid), Some(&1), "{wamid}");
    }
}
