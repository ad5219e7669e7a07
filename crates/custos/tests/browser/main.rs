//! The console in a real browser: headless Chromium (Debian's `chromium`,
//! driven through `chromedriver` over W3C WebDriver) against `custos serve`
//! on a loopback port, on a real archive.
//!
//! A reviewer of desk A signs in, opens an alert, reads the message with
//! its hit highlighted and the conversation around it, closes the alert
//! through the form, searches, opens a result and signs out; the journal
//! then holds each of those reads and actions under her name. A reviewer of
//! desk B sees no alert, gets a 404 at the alert's address, and finds
//! nothing of desk A's in search (but does find desk B's own message).
//!
//! Screenshots of every step are kept under `browser-artefacts/` in the
//! cargo target directory (or `CUSTOS_BROWSER_ARTEFACTS`); the path is
//! printed. A watchdog stops the browser and the server and fails the run
//! if it lasts more than [`OVERALL`].

mod inbox;
mod webdriver;

#[allow(dead_code)]
#[path = "../e2e/common.rs"]
mod common;

use common::Archive;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use webdriver::Browser;

/// The whole journey's limit: beyond it everything is stopped.
const OVERALL: Duration = Duration::from_secs(300);

const PASSWORD: &str = "correct horse battery staple";

/// Process groups the watchdog stops if the run overstays.
#[derive(Clone, Default)]
pub struct Pids(Arc<Mutex<Vec<u32>>>);

impl Pids {
    /// Adds a process group (a child started with `process_group(0)`).
    pub fn add(&self, pid: u32) {
        self.0.lock().unwrap().push(pid);
    }

    fn kill_all(&self) {
        for pid in self.0.lock().unwrap().iter() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
    }
}

/// Stops every registered process and ends the test binary when
/// [`OVERALL`] passes before it is dropped.
struct Watchdog {
    done: std::sync::mpsc::Sender<()>,
}

impl Watchdog {
    fn start(pids: Pids) -> Watchdog {
        let (done, rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(OVERALL) {
                pids.kill_all();
                eprintln!("browser journey overran {OVERALL:?}: browser and server stopped");
                std::process::exit(101);
            }
        });
        Watchdog { done }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let _ = self.done.send(());
    }
}

/// `custos serve` on a free loopback port, in its own process group,
/// stopped by SIGTERM (then SIGKILL) when dropped.
struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Server {
    fn start(a: &Archive, pids: &Pids) -> Server {
        Server::start_with(a, pids, &[])
    }

    /// `custos serve` with `extra` arguments after `serve` (`--config`).
    fn start_with(a: &Archive, pids: &Pids, extra: &[&str]) -> Server {
        use std::os::unix::process::CommandExt;
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let log = a.tmp.path().join("serve.log");
        let child = Command::new(env!("CARGO_BIN_EXE_custos"))
            .arg("--data")
            .arg(&a.data)
            .args(["serve", "--listen", &addr.to_string()])
            .args(extra)
            .env("CUSTOS_ACTOR", "tester")
            .env_remove("CUSTOS_KEK")
            .env_remove("CUSTOS_DATA")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .process_group(0)
            .spawn()
            .unwrap();
        pids.add(child.id());
        let mut server = Server {
            child,
            url: format!("http://{addr}"),
            log,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("custos serve exited with {status}:\n{}", server.log());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "custos serve did not listen within 60 s:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, and the exit awaited (so the archive's lock is free).
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "custos serve exited with {status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Where a journey's screenshots go (`<artefacts>/<journey>`), emptied
/// first; journeys run in parallel, each in its own folder.
fn artefacts(journey: &str) -> PathBuf {
    let dir = std::env::var_os("CUSTOS_BROWSER_ARTEFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // CARGO_TARGET_TMPDIR is `<target>/tmp`.
            Path::new(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .unwrap()
                .join("browser-artefacts")
        })
        .join(journey);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A message line in the import format.
fn line(id: &str, conversation: &str, firm: &str, client: &str, out: bool, text: &str) -> String {
    let (from, to) = if out { (firm, client) } else { (client, firm) };
    json!({
        "channel": "whatsapp", "id": id, "conversation": conversation,
        "from": from, "to": [to],
        "direction": if out { "outbound" } else { "inbound" },
        "sent_at": "2026-05-04T10:00:00Z", "text": text,
    })
    .to_string()
}

/// `custos user add` of a reviewer with the password on standard input.
fn add_user(a: &Archive, user: &str, name: &str, unit: &str) {
    add_user_as(a, user, name, &["--role", "reviewer", "--unit", unit]);
}

/// `custos user add` with these role, unit and custodian arguments.
fn add_user_as(a: &Archive, user: &str, name: &str, args: &[&str]) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_custos"))
        .arg("--data")
        .arg(&a.data)
        .args(["user", "add", user, "--name", name])
        .args(args)
        .env("CUSTOS_ACTOR", "tester")
        .env_remove("CUSTOS_KEK")
        .env_remove("CUSTOS_DATA")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{PASSWORD}").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "user add {user}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two desks, one conversation each; the starter `promissory` policy
/// raises an alert on desk A's promise of a return.
fn archive() -> Archive {
    let a = Archive::initialised();
    for (id, name, phone, unit) in [
        ("A1", "Ana Arruda", "+44 7700 900001", "desk-a"),
        ("B1", "Bruno Barros", "+44 7700 900002", "desk-b"),
    ] {
        a.ok(&[
            "custodian",
            "add",
            id,
            "--name",
            name,
            "--phone",
            phone,
            "--opted-in",
            "2026-01-02",
            "--unit",
            unit,
        ]);
    }
    let (ana, bruno) = ("+447700900001", "+447700900002");
    let (client_a, client_b) = ("+5511999990001", "+5511999990002");
    let file = a.write(
        "messages.jsonl",
        [
            line(
                "a1",
                "conv-a",
                ana,
                client_a,
                true,
                "Pode ficar tranquilo, retorno garantido de 12% ao ano",
            ),
            line(
                "a2",
                "conv-a",
                ana,
                client_a,
                false,
                "Ok, vou pensar e leio o relatório",
            ),
            line(
                "b1",
                "conv-b",
                bruno,
                client_b,
                true,
                "Segue o relatório mensal do fundo",
            ),
            line("b2", "conv-b", bruno, client_b, false, "Obrigado, Bruno"),
        ]
        .join("\n"),
    );
    let out = a.ok(&["ingest", &file]);
    assert!(out.contains("1 new alert"), "{out}");
    add_user(&a, "reviewer-a", "Rita Desk A", "desk-a");
    add_user(&a, "reviewer-b", "Raul Desk B", "desk-b");
    a
}

/// Signs in through the form; waits for the console's sign-out button.
fn sign_in(b: &mut Browser, server: &Server, user: &str, name: &str) {
    b.clear_cookies();
    b.goto(&format!("{}/signin", server.url));
    let field = b.find("#user");
    b.fill(&field, user);
    let field = b.find("#password");
    b.fill(&field, PASSWORD);
    b.screenshot(&format!("{user}-signin"));
    let submit = b.find("form[action='/signin'] button[type=submit]");
    b.click(&submit);
    b.find("#signout");
    b.find_text(".who .name", name);
}

/// Runs a search with a reason through the form; the hits' texts.
fn search(b: &mut Browser, server: &Server, q: &str, reason: &str, shot: &str) -> Vec<String> {
    b.goto(&format!("{}/search", server.url));
    let field = b.find("#q");
    b.fill(&field, q);
    let field = b.find("input[name=reason]");
    b.fill(&field, reason);
    let submit = b.find(".searchbar button[type=submit]");
    b.click(&submit);
    // The results line is there whether anything matched or not.
    let summary = b.wait("the search's results line", || {
        b.all("main p.muted")
            .into_iter()
            .map(|e| b.text(&e))
            .find(|t| t.contains("No messages match") || t.contains(" messages."))
    });
    b.screenshot(shot);
    let hits: Vec<String> = b
        .all("ol.hits li.hit p.snippet")
        .iter()
        .map(|e| b.text(e))
        .collect();
    if summary.contains("No messages match") {
        assert!(hits.is_empty(), "{hits:?} under {summary:?}");
    }
    hits
}

fn sign_out(b: &mut Browser, user: &str) {
    let button = b.find("#signout");
    b.click(&button);
    b.find("#user");
    b.screenshot(&format!("{user}-signed-out"));
}

/// The journal's system events with this action.
fn actions<'a>(log: &'a [Value], action: &str) -> Vec<&'a Value> {
    log.iter()
        .filter(|e| e["kind"] == "system" && e["action"] == action)
        .collect()
}

#[test]
fn a_reviewer_works_an_alert_in_the_browser_and_another_desk_cannot_see_it() {
    let pids = Pids::default();
    let _watchdog = Watchdog::start(pids.clone());
    let dir = artefacts("reviewer");
    println!("browser artefacts: {}", dir.display());
    let a = archive();
    let server = Server::start(&a, &pids);
    let mut b = Browser::start(&dir, &pids);

    // Reviewer A: the queue, the alert, the message with its hit marked.
    sign_in(&mut b, &server, "reviewer-a", "Rita Desk A");
    b.screenshot("reviewer-a-dashboard");
    b.goto(&format!("{}/alerts", server.url));
    let link = b.find("table.list a[href^='/alerts/']");
    let alert_path = b.attribute(&link, "href");
    let title = b.text(&link);
    b.screenshot("reviewer-a-queue");
    b.click(&link);
    let mark = b.find("blockquote.message mark");
    let marked = b.text(&mark).to_lowercase();
    assert!(marked.contains("garantido"), "hit marked: {marked:?}");
    b.find_text(
        "blockquote.message",
        "Pode ficar tranquilo, retorno garantido de 12% ao ano",
    );
    b.find_text("ol.chat.compact", "vou pensar e leio o relatório");
    assert!(
        b.url().ends_with(&alert_path),
        "{} vs {alert_path}",
        b.url()
    );
    b.screenshot("reviewer-a-alert");

    // Close it with a disposition and a reason, through the form.
    let option = b.find("#disposition option[value='no_action_needed']");
    b.click(&option);
    let reason = b.find("#close-text");
    b.fill(&reason, "Called the client: no guarantee was given");
    b.screenshot("reviewer-a-closing");
    let close = b.find("form input[name=action][value=close] ~ fieldset button[type=submit]");
    b.click(&close);
    b.find_text("section.card p", "This alert is closed.");
    b.find_text("ol.history", "reviewer-a");
    b.screenshot("reviewer-a-closed");
    b.goto(&format!("{}/alerts", server.url));
    b.find_text("main p.empty", "Nothing to review here.");

    // Search, then open the result's conversation.
    let hits = search(
        &mut b,
        &server,
        "garantido",
        "browser journey: promise review",
        "reviewer-a-search",
    );
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert!(hits[0].contains("retorno garantido"), "{hits:?}");
    b.find("ol.hits p.snippet mark");
    let open = b.find("ol.hits li.hit form button[type=submit]");
    b.click(&open);
    b.find_text(
        "ol.chat li.bubble p.text",
        "Pode ficar tranquilo, retorno garantido de 12% ao ano",
    );
    b.find_text("ol.chat li.bubble p.text", "vou pensar e leio o relatório");
    b.screenshot("reviewer-a-conversation");
    sign_out(&mut b, "reviewer-a");
    // Signed out means signed out: the console sends us back to sign in.
    b.goto(&format!("{}{alert_path}", server.url));
    b.find("#user");

    // Reviewer B: no alert, a 404 at its address, nothing of desk A found.
    sign_in(&mut b, &server, "reviewer-b", "Raul Desk B");
    b.goto(&format!("{}/alerts?status=all", server.url));
    b.find("main p.muted");
    let html = b.html();
    assert!(
        !html.contains(&alert_path) && !html.contains(&title),
        "desk B sees desk A's alert:\n{html}"
    );
    b.screenshot("reviewer-b-queue");
    b.goto(&format!("{}{alert_path}", server.url));
    b.find_text("main.error p.status", "404");
    assert!(!b.html().contains("garantido"));
    b.screenshot("reviewer-b-alert-404");
    let hits = search(
        &mut b,
        &server,
        "garantido",
        "browser journey: barrier check",
        "reviewer-b-search-a",
    );
    assert!(hits.is_empty(), "desk B found desk A's message: {hits:?}");
    let hits = search(
        &mut b,
        &server,
        "relatório",
        "browser journey: own desk",
        "reviewer-b-search-b",
    );
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert!(hits[0].contains("mensal do fundo"), "{hits:?}");
    sign_out(&mut b, "reviewer-b");
    drop(b);
    server.stop();

    // The journal: every read and action, under the reviewer's name.
    let log = a.log();
    let alert_id = alert_path.trim_start_matches("/alerts/");
    let alert_seq = a
        .messages()
        .iter()
        .find(|m| m["id"] == "a1")
        .map(|m| m["seq"].clone())
        .unwrap();
    let reads = actions(&log, "content.read");
    let viewed = reads
        .iter()
        .find(|e| e["actor"] == "reviewer-a" && e["details"]["via"] == "console")
        .unwrap_or_else(|| panic!("no console content.read by reviewer-a: {reads:#?}"));
    assert_eq!(viewed["details"]["reason"], "alert review");
    assert!(
        viewed["details"]["entries"]
            .as_array()
            .unwrap()
            .contains(&alert_seq),
        "{viewed}"
    );
    let closed = actions(&log, "alert.closed");
    assert_eq!(closed.len(), 1, "{closed:#?}");
    assert_eq!(closed[0]["actor"], "reviewer-a", "{}", closed[0]);
    let closed_text = closed[0].to_string();
    assert!(
        closed_text.contains("no_action_needed")
            && closed_text.contains("Called the client: no guarantee was given")
            && closed_text.contains(alert_id),
        "{closed_text}"
    );
    let runs = actions(&log, "search.run");
    let run_a = runs
        .iter()
        .find(|e| e["actor"] == "reviewer-a")
        .unwrap_or_else(|| panic!("no search.run by reviewer-a: {runs:#?}"));
    assert_eq!(run_a["details"]["query"], "garantido");
    assert_eq!(
        run_a["details"]["reason"],
        "browser journey: promise review"
    );
    assert_eq!(run_a["details"]["shown"], json!([alert_seq]));
    let opened = actions(&log, "search.opened");
    assert_eq!(opened.len(), 1, "{opened:#?}");
    assert_eq!(opened[0]["actor"], "reviewer-a");
    assert_eq!(
        opened[0]["details"]["reason"],
        "browser journey: promise review"
    );
    assert!(
        opened[0]["details"]["seqs"]
            .as_array()
            .unwrap()
            .contains(&alert_seq),
        "{}",
        opened[0]
    );
    // Reviewer B's searches are on record too, and showed nothing of A's.
    let runs_b: Vec<_> = runs.iter().filter(|e| e["actor"] == "reviewer-b").collect();
    assert_eq!(runs_b.len(), 2, "{runs_b:#?}");
    assert_eq!(runs_b[0]["details"]["shown"], json!([]));
    assert_eq!(
        runs_b[0]["details"]["reason"],
        "browser journey: barrier check"
    );
    assert!(
        !reads
            .iter()
            .any(|e| e["actor"] == "reviewer-b" && e.to_string().contains(alert_id)),
        "{reads:#?}"
    );
    let shots = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "png"))
        })
        .count();
    assert!(shots >= 14, "{shots} screenshots in {}", dir.display());
    println!("{shots} screenshots in {}", dir.display());
}
