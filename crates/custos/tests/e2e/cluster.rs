//! Cluster mode end to end: two `custos serve` nodes (separate data
//! directories, one PostgreSQL database) take signed webhooks posted
//! alternately to both; one node is SIGKILLed while deliveries to it are in
//! flight and the other keeps accepting. Afterwards every acknowledged
//! wamid is in the journal exactly once, `custos verify --journal-url`
//! passes, and a search on the surviving node finds messages the dead one
//! acknowledged.
//!
//! Needs `CUSTOS_TEST_PG` (`scripts/test` sets it from `scripts/pg-start`);
//! without it the test fails, unless `CUSTOS_TEST_NO_PG=1` says to skip.

use crate::deliveries::{Delivery, Load, Outcome, post};
use custos_bench::webhook::{Client, Server};
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_custos");
const SECRET: &str = "e2e-cluster-secret";
const PASSWORD: &str = "a cluster test passphrase";
/// Client threads per node.
const THREADS: usize = 4;
/// Deliveries acknowledged by the node to be killed before it is.
const KILL_AFTER: usize = 150;
/// Deliveries each thread posts to the surviving node.
const SURVIVOR_PER_THREAD: u64 = 60;

/// A scratch database, dropped when the test ends.
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

/// A fresh database for this test, or `None` when a developer skips.
fn database() -> Option<Scratch> {
    match std::env::var("CUSTOS_TEST_PG") {
        Ok(base) if !base.is_empty() => Some(Scratch {
            url: custos_journal::scratch_database(&base).expect("a scratch database"),
            base,
        }),
        _ if std::env::var("CUSTOS_TEST_NO_PG").as_deref() == Ok("1") => {
            eprintln!("skipped: no PostgreSQL (CUSTOS_TEST_NO_PG=1)");
            None
        }
        _ => panic!(
            "CUSTOS_TEST_PG is not set: run `export CUSTOS_TEST_PG=$(scripts/pg-start)` (scripts/test does), or set CUSTOS_TEST_NO_PG=1 to skip the PostgreSQL tests"
        ),
    }
}

/// One node's view: its data directory, the shared database and KEK.
struct Node {
    data: PathBuf,
    url: String,
    kek: String,
}

impl Node {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(EXE);
        c.arg("--data")
            .arg(&self.data)
            .args(args)
            .env("CUSTOS_ACTOR", "tester")
            .env("CUSTOS_JOURNAL_URL", &self.url)
            .env("CUSTOS_KEK", &self.kek)
            .env_remove("CUSTOS_DATA");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "custos {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn serve(&self, log: &Path) -> Server {
        Server::start_with_env(
            Path::new(EXE),
            &self.data,
            SECRET,
            log,
            &[("CUSTOS_JOURNAL_URL", &self.url), ("CUSTOS_KEK", &self.kek)],
        )
        .unwrap()
    }
}

/// Deliveries of 1 or 2 messages from [`THREADS`] threads per node.
const LOAD: Load = Load {
    secret: SECRET,
    threads: THREADS,
    most: 2,
};

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Polls `check` for up to ten seconds (a node follows the others within
/// a moment).
fn within_moments(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A console session opened on node a works on node b, and signing out
/// on b ends it on a; a token revoked by the CLI (a third data directory)
/// stops working on both running nodes.
fn sessions_and_revocations_hold_on_every_node(
    a: std::net::SocketAddr,
    b: std::net::SocketAddr,
    spare: &str,
    cli: &Node,
) {
    let (mut on_a, mut on_b) = (Client::connect(a).unwrap(), Client::connect(b).unwrap());
    let form = format!("user=cora&password={}&next=%2F", encode(PASSWORD));
    let signed = on_a
        .request(
            "POST",
            "/signin",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        )
        .unwrap();
    assert_eq!(
        signed.status,
        303,
        "{}",
        String::from_utf8_lossy(&signed.body)
    );
    let cookie = signed
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    let me = |client: &mut Client, headers: &[(&str, &str)]| -> (u16, Value) {
        let r = client.request("GET", "/api/v1/me", headers, b"").unwrap();
        (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        )
    };
    within_moments("node a's session on node b", || {
        me(&mut on_b, &[("Cookie", &cookie)]).0 == 200
    });
    assert_eq!(me(&mut on_b, &[("Cookie", &cookie)]).1["user"], "cora");

    // The console's sign-out on node b (with the session's CSRF token,
    // which node b derives from the cookie) ends it on node a.
    let page = on_b
        .request("GET", "/", &[("Cookie", &cookie)], b"")
        .unwrap();
    let html = String::from_utf8_lossy(&page.body);
    let csrf = html
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no CSRF token in the page ({}): {html}", page.status))
        .to_string();
    let out = on_b
        .request(
            "POST",
            "/signout",
            &[
                ("Cookie", &cookie),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            format!("_csrf={csrf}").as_bytes(),
        )
        .unwrap();
    assert_eq!(out.status, 303, "{}", String::from_utf8_lossy(&out.body));
    within_moments("signed out on node b, refused on node a", || {
        me(&mut on_a, &[("Cookie", &cookie)]).0 == 401
    });

    let bearer = format!("Bearer {spare}");
    assert_eq!(me(&mut on_b, &[("Authorization", &bearer)]).0, 200);
    let id = spare.split('_').nth(1).unwrap();
    cli.ok(&["token", "revoke", id]);
    for (node, client) in [("a", &mut on_a), ("b", &mut on_b)] {
        within_moments(&format!("the revoked token refused on node {node}"), || {
            me(client, &[("Authorization", &bearer)]).0 == 401
        });
    }
}

#[test]
fn two_nodes_share_one_journal_and_a_killed_node_loses_nothing_acknowledged() {
    let Some(scratch) = database() else { return };
    let url = scratch.url.clone();
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let (_, kek) = custos_journal::Kek::generate();
    let node = |name: &str| Node {
        data: tmp.path().join(name),
        url: url.clone(),
        kek: kek.clone(),
    };
    let (a, b) = (node("a"), node("b"));
    let created = a.ok(&["init"]);
    assert!(created.contains("public key"), "{created}");
    // A compliance officer and their API token, made on node a: node b
    // knows them from the shared journal.
    let mut add = a
        .command(&[
            "user",
            "add",
            "cora",
            "--name",
            "Cora",
            "--role",
            "compliance-officer",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(add.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    assert!(add.wait().unwrap().success());
    let made = a.ok(&["token", "create", "--user", "cora", "--expires", "1d"]);
    let bearer = format!("Bearer {}", made.lines().nth(1).unwrap());

    let spare = a.ok(&["token", "create", "--user", "cora", "--expires", "1d"]);
    let spare = spare.lines().nth(1).unwrap().to_string();

    let mut first = a.serve(&tmp.path().join("a.log"));
    // Node b starts from an empty data directory: its cache is made from
    // the database.
    let second = b.serve(&tmp.path().join("b.log"));
    sessions_and_revocations_hold_on_every_node(first.addr, second.addr, &spare, &node("c"));
    let (to_first, to_second) = (Outcome::default(), Outcome::default());
    let first_addr = first.addr;
    std::thread::scope(|scope| {
        scope.spawn(|| LOAD.run(first_addr, "a", None, &to_first));
        scope.spawn(|| LOAD.run(second.addr, "b", Some(SURVIVOR_PER_THREAD), &to_second));
        let deadline = Instant::now() + Duration::from_secs(90);
        while to_first.count.load(Ordering::SeqCst) < KILL_AFTER && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        first.kill().unwrap();
    });
    let mut acked: Vec<Delivery> = to_first.acked.into_inner().unwrap();
    let by_dead_node = acked.len();
    assert!(
        by_dead_node >= KILL_AFTER,
        "node a acknowledged only {by_dead_node}:\n{}",
        first.log()
    );
    let unanswered = to_first.unanswered.into_inner().unwrap();
    let by_survivor = to_second.acked.into_inner().unwrap();
    assert_eq!(
        by_survivor.len(),
        THREADS * SURVIVOR_PER_THREAD as usize,
        "node b kept accepting while node a died:\n{}",
        second.log()
    );
    acked.extend(by_survivor);
    // Meta retries what was in flight to the dead node; the load balancer
    // sends it to the survivor.
    let mut client = Client::connect(second.addr).unwrap();
    for d in &unanswered {
        assert_eq!(post(&mut client, SECRET, d).unwrap(), 200);
    }
    acked.extend(unanswered.iter().cloned());

    // A search on the survivor finds what the dead node acknowledged.
    let (_, text) = &acked[by_dead_node / 2].messages[0];
    let phrase: Vec<&str> = text.split(' ').take(6).collect();
    let target = format!(
        "/api/v1/search?q={}&limit=100&reason=cluster-test",
        encode(&format!("\"{}\"", phrase.join(" ")))
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = client
            .request("GET", &target, &[("Authorization", bearer.as_str())], b"")
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let found: Value = serde_json::from_slice(&r.body).unwrap();
        let hits = found["hits"].as_array().unwrap();
        if hits.iter().any(|h| h["text"] == text.as_str()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the survivor's index never found a message the dead node acknowledged: {found}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(client);
    let status = second.terminate(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "node b exited with {status}");

    // The dead node's cache reopens (a prefix of the database) and catches
    // up; both nodes read the same journal.
    let log_of = |n: &Node| -> Vec<Value> {
        n.ok(&["log", "--json"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let entries = log_of(&a);
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut texts: HashMap<String, String> = HashMap::new();
    for e in entries.iter().filter(|e| e["kind"] == "message") {
        let id = e["id"].as_str().unwrap().to_string();
        *seen.entry(id.clone()).or_default() += 1;
        texts.insert(id, e["text"].as_str().unwrap_or_default().to_string());
    }
    let on_b = log_of(&b);
    for (i, (wamid, text)) in acked
        .iter()
        .enumerate()
        .flat_map(|(i, d)| d.messages.iter().map(move |m| (i, m)))
    {
        if seen.get(wamid) != Some(&1) {
            let in_b = on_b.iter().filter(|e| e["id"] == wamid.as_str()).count();
            panic!(
                "{wamid} (delivery #{i}: the first {by_dead_node} were acknowledged by the killed node, \
                 the last {} retried) acknowledged but stored {:?} times in node a's log of {} \
                 entries; {in_b} times in node b's log of {} entries",
                unanswered.len(),
                seen.get(wamid),
                entries.len(),
                on_b.len()
            );
        }
        assert_eq!(&texts[wamid], text, "{wamid}");
    }
    assert!(seen.values().all(|n| *n == 1), "a message stored twice");
    let seqs = |log: &[Value]| -> Vec<(u64, String)> {
        log.iter()
            .filter(|e| e["kind"] == "message")
            .map(|e| {
                (
                    e["seq"].as_u64().unwrap(),
                    e["id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(seqs(&entries), seqs(&on_b), "both nodes hold one order");

    let verified = a.ok(&["verify", "--json"]);
    let report: Value = serde_json::from_str(&verified).unwrap();
    assert!(report["entries"].as_u64().unwrap() >= entries.len() as u64);
    // Each node's cache verifies as an embedded archive would.
    for n in [&a, &b] {
        let out = Command::new(EXE)
            .arg("--data")
            .arg(&n.data)
            .arg("verify")
            .env_remove("CUSTOS_JOURNAL_URL")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "verify of {} failed:\n{}",
            n.data.display(),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    eprintln!(
        "{by_dead_node} acknowledged by the node killed ({} in flight), {} by the survivor; {} messages; {:.1} s",
        unanswered.len(),
        THREADS * SURVIVOR_PER_THREAD as usize,
        seen.len(),
        started.elapsed().as_secs_f64()
    );
}

/// Retention is one node's duty at a time: while another node holds it, a
/// run on this node refuses (and changes nothing); once it lets go, the run
/// goes through.
#[test]
fn a_retention_run_is_one_nodes_duty_at_a_time() {
    let Some(scratch) = database() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (key, kek) = custos_journal::Kek::generate();
    let node = |name: &str| Node {
        data: tmp.path().join(name),
        url: scratch.url.clone(),
        kek: kek.clone(),
    };
    let (a, b) = (node("a"), node("b"));
    a.ok(&["init"]);
    let messages = tmp.path().join("old.jsonl");
    std::fs::write(
        &messages,
        r#"{"channel":"whatsapp","id":"old-1","conversation":"c-1","from":"+447700900001","to":["+5511900000001"],"direction":"outbound","sent_at":"2019-01-10T09:00:00Z","text":"january"}
"#,
    )
    .unwrap();
    a.ok(&["ingest", messages.to_str().unwrap()]);
    let rules = tmp.path().join("schedule.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"all comms\"\npreset = \"sec-17a-4-b4\"\n",
    )
    .unwrap();
    a.ok(&["retention", "rules", "set", rules.to_str().unwrap()]);

    // A third node (this process) holds the duty, as a scheduled run would.
    let holder = custos_journal::Journal::open(
        &tmp.path().join("holder"),
        custos_journal::Options {
            kek: Some(key),
            journal_url: Some(scratch.url.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let duty = holder.try_duty("retention").unwrap().expect("free");
    let now = ["retention", "run", "--now", "2024-03-01", "--json"];
    let size = holder.size();
    let refused = b.run(&now);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "ran while another node held it");
    assert!(
        stderr.contains("another custos node is running retention"),
        "{stderr}"
    );
    // Nothing was journalled (the holder follows within 200 ms).
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(holder.size(), size, "the refused run journalled");
    // A dry run needs no duty (it changes nothing).
    b.ok(&["retention", "run", "--now", "2024-03-01", "--dry-run"]);
    drop(duty);
    let report: Value = serde_json::from_str(&b.ok(&now)).unwrap();
    assert_eq!(
        report["certificates"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    // The real run's entries reach every node.
    let deadline = Instant::now() + Duration::from_secs(10);
    while holder.size() <= size {
        assert!(
            Instant::now() < deadline,
            "the run never reached the holder"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(holder);
}
