//! End-to-end deliveries: a real notifier against fake targets on loopback.

mod fake;

use custos_model::{Severity, Timestamp};
use custos_notify::{AlertNotice, Notifier, NotifyConfig, Outcome, RetryPolicy};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Small delays so retry tests take milliseconds.
const FAST: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    first_delay_ms: 10,
    max_delay_ms: 40,
};

fn notice(alert_id: &str, severity: Severity) -> AlertNotice {
    AlertNotice {
        alert_id: alert_id.into(),
        policy: "mar-front-running".into(),
        policy_title: "Front-running".into(),
        version: 2,
        severity,
        category: "market-abuse".into(),
        channel: "whatsapp".into(),
        conversation: "conv-9".into(),
        raised_at: Timestamp::parse("2026-03-12T14:05:33Z").unwrap(),
        hit_labels: vec!["front-running".into()],
        console_url: Some(format!("https://custos.firm.example/alerts/{alert_id}")),
    }
}

/// `[[targets]]` TOML for a target of `kind` named `name`, plus `rest`.
fn target(kind: &str, name: &str, min: &str, rest: &str) -> String {
    format!("[[targets]]\nkind = \"{kind}\"\nname = \"{name}\"\nmin_severity = \"{min}\"\n{rest}\n")
}

/// Starts a notifier on `targets` (TOML) with `retry`, collecting outcomes.
fn start(targets: &[String], retry: RetryPolicy) -> (Notifier, Arc<Mutex<Vec<Outcome>>>) {
    let mut config: NotifyConfig = toml::from_str(&targets.concat()).unwrap();
    config.retry = retry;
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&outcomes);
    let notifier = Notifier::start(config, move |o| sink.lock().unwrap().push(o)).unwrap();
    (notifier, outcomes)
}

/// Waits until nothing is queued or in flight.
async fn settle(notifier: &Notifier) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !notifier.is_empty() {
        assert!(
            Instant::now() < deadline,
            "notifier still busy: {notifier:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn taken(outcomes: &Arc<Mutex<Vec<Outcome>>>) -> Vec<Outcome> {
    let mut all = outcomes.lock().unwrap().clone();
    all.sort_by(|a, b| (a.target(), a.alert_id()).cmp(&(b.target(), b.alert_id())));
    all
}

fn delivered(alert_id: &str, target: &str, attempts: u32) -> Outcome {
    Outcome::Delivered {
        alert_id: alert_id.into(),
        target: target.into(),
        attempts,
    }
}

#[tokio::test]
async fn webhook_body_is_signed_with_the_secret() {
    let siem = fake::HttpFake::always(200, "").await;
    let url = format!("url = \"{}\"\nsecret = \"hook-secret\"", siem.url);
    let (notifier, outcomes) = start(&[target("webhook", "siem", "low", &url)], FAST);
    notifier.notify(notice("a1", Severity::High));
    settle(&notifier).await;

    assert_eq!(taken(&outcomes), [delivered("a1", "siem", 1)]);
    let received = siem.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(request.header("x-custos-event"), "alert.raised");
    assert_eq!(request.header("content-type"), "application/json");
    // Verified as a receiver would: HMAC over the raw bytes, constant time.
    let hex_mac = request
        .header("x-custos-signature-256")
        .strip_prefix("sha256=")
        .unwrap();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"hook-secret");
    ring::hmac::verify(&key, &request.body, &hex::decode(hex_mac).unwrap())
        .expect("signature verifies");
    let wrong = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"other-secret");
    assert!(ring::hmac::verify(&wrong, &request.body, &hex::decode(hex_mac).unwrap()).is_err());
    let body = request.json();
    assert_eq!(body["event"], "alert.raised");
    assert_eq!(body["alert"]["alert_id"], "a1");
    assert_eq!(body["alert"]["policy"], "mar-front-running");
    assert_eq!(body["alert"]["version"], 2);
    assert_eq!(body["alert"]["severity"], "high");
    assert_eq!(body["alert"]["hit_labels"][0], "front-running");
}

#[tokio::test]
async fn slack_gets_text_and_blocks() {
    let slack = fake::HttpFake::always(200, "ok").await;
    let (notifier, outcomes) = start(
        &[target(
            "slack",
            "chat",
            "low",
            &format!("url = \"{}\"", slack.url),
        )],
        FAST,
    );
    notifier.notify(notice("a2", Severity::Medium));
    settle(&notifier).await;

    assert_eq!(taken(&outcomes), [delivered("a2", "chat", 1)]);
    let body = slack.received()[0].json();
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("MEDIUM alert: Front-running"),
        "{body}"
    );
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["text"], "MEDIUM alert: Front-running");
    assert_eq!(
        blocks[2]["elements"][0]["url"],
        "https://custos.firm.example/alerts/a2"
    );
}

#[tokio::test]
async fn pagerduty_gets_a_trigger_event_and_202_is_delivered() {
    let accepted = r#"{"status":"success","message":"Event processed","dedup_key":"a3"}"#;
    let pager = fake::HttpFake::always(202, accepted).await;
    let rest = format!("url = \"{}\"\nrouting_key = \"R0UT1NGKEY\"", pager.url);
    let (notifier, outcomes) = start(&[target("pagerduty", "pager", "low", &rest)], FAST);
    notifier.notify(notice("a3", Severity::Critical));
    settle(&notifier).await;

    assert_eq!(taken(&outcomes), [delivered("a3", "pager", 1)]);
    let body = pager.received()[0].json();
    assert_eq!(body["routing_key"], "R0UT1NGKEY");
    assert_eq!(body["event_action"], "trigger");
    assert_eq!(body["dedup_key"], "a3");
    let payload = &body["payload"];
    assert!(
        payload["summary"]
            .as_str()
            .unwrap()
            .starts_with("CRITICAL alert: Front-running")
    );
    assert_eq!(payload["source"], "custos");
    assert_eq!(payload["severity"], "critical");
    assert_eq!(payload["timestamp"], "2026-03-12T14:05:33Z");
    assert_eq!(payload["custom_details"]["conversation"], "conv-9");
}

#[tokio::test]
async fn email_is_sent_over_smtp_with_auth() {
    let (port, mails) = fake::smtp().await;
    let rest = format!(
        "smtp_host = \"127.0.0.1\"\nsmtp_port = {port}\nusername = \"custos\"\npassword = \"smtp-pw\"\n\
         from = \"Custos <custos@firm.example>\"\nto = [\"compliance@firm.example\", \"mlro@firm.example\"]"
    );
    let (notifier, outcomes) = start(&[target("email", "mail", "low", &rest)], FAST);
    notifier.notify(notice("a4", Severity::High));
    settle(&notifier).await;

    assert_eq!(taken(&outcomes), [delivered("a4", "mail", 1)]);
    let mails = mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert!(!mail.ehlo.is_empty());
    // AUTH PLAIN carries base64("\0custos\0smtp-pw").
    assert_eq!(mail.auth.as_deref(), Some("AGN1c3RvcwBzbXRwLXB3"));
    assert_eq!(mail.mail_from, "<custos@firm.example>");
    assert_eq!(
        mail.rcpt_to,
        ["<compliance@firm.example>", "<mlro@firm.example>"]
    );
    assert!(
        mail.data
            .contains("Subject: [custos] HIGH alert: Front-running\n"),
        "{}",
        mail.data
    );
    assert!(
        mail.data.contains("Content-Type: text/plain"),
        "{}",
        mail.data
    );
    assert!(
        mail.data.contains("Conversation: conv-9\n"),
        "{}",
        mail.data
    );
    assert!(
        mail.data
            .contains("Review it at https://custos.firm.example/alerts/a4"),
        "{}",
        mail.data
    );
}

#[tokio::test]
async fn only_targets_at_or_below_the_severity_are_notified() {
    let high = fake::HttpFake::always(200, "").await;
    let critical = fake::HttpFake::always(200, "").await;
    let (notifier, outcomes) = start(
        &[
            target("slack", "high", "high", &format!("url = \"{}\"", high.url)),
            target(
                "slack",
                "critical",
                "critical",
                &format!("url = \"{}\"", critical.url),
            ),
        ],
        FAST,
    );
    notifier.notify(notice("low", Severity::Low));
    notifier.notify(notice("high", Severity::High));
    notifier.notify(notice("crit", Severity::Critical));
    settle(&notifier).await;

    assert_eq!(
        taken(&outcomes),
        [
            delivered("crit", "critical", 1),
            delivered("crit", "high", 1),
            delivered("high", "high", 1),
        ]
    );
    assert_eq!((high.received().len(), critical.received().len()), (2, 1));
}

#[tokio::test]
async fn server_errors_are_retried_with_the_same_signed_body() {
    let siem = fake::HttpFake::start(vec![
        (500, vec![], "boom"),
        (503, vec![], "busy"),
        (202, vec![], ""),
    ])
    .await;
    let rest = format!("url = \"{}\"\nsecret = \"k\"", siem.url);
    let (notifier, outcomes) = start(&[target("webhook", "siem", "low", &rest)], FAST);
    notifier.notify(notice("a5", Severity::High));
    settle(&notifier).await;

    assert_eq!(taken(&outcomes), [delivered("a5", "siem", 3)]);
    let received = siem.received();
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|r| r.body == received[0].body
        && r.header("x-custos-signature-256") == received[0].header("x-custos-signature-256")));
}

#[tokio::test]
async fn too_many_requests_is_retried() {
    let pager = fake::HttpFake::start(vec![
        (429, vec![("retry-after", "0")], ""),
        (202, vec![], ""),
    ])
    .await;
    let rest = format!("url = \"{}\"\nrouting_key = \"rk\"", pager.url);
    let (notifier, outcomes) = start(&[target("pagerduty", "pager", "low", &rest)], FAST);
    notifier.notify(notice("a6", Severity::High));
    settle(&notifier).await;
    assert_eq!(taken(&outcomes), [delivered("a6", "pager", 2)]);
}

#[tokio::test]
async fn a_client_error_fails_at_once() {
    let slack = fake::HttpFake::always(400, "invalid_payload").await;
    let (notifier, outcomes) = start(
        &[target(
            "slack",
            "chat",
            "low",
            &format!("url = \"{}\"", slack.url),
        )],
        FAST,
    );
    notifier.notify(notice("a7", Severity::High));
    settle(&notifier).await;

    let outcomes = taken(&outcomes);
    let [
        Outcome::Failed {
            attempts, error, ..
        },
    ] = outcomes.as_slice()
    else {
        panic!("expected one failure: {outcomes:?}")
    };
    assert_eq!(*attempts, 1);
    assert!(
        error.contains("400") && error.contains("invalid_payload"),
        "{error}"
    );
    assert_eq!(slack.received().len(), 1);
}

#[tokio::test]
async fn a_dead_target_fails_after_max_attempts_without_leaking_its_url() {
    let url = fake::dead().await;
    let (notifier, outcomes) = start(
        &[target("slack", "chat", "low", &format!("url = \"{url}\""))],
        FAST,
    );
    notifier.notify(notice("a8", Severity::High));
    settle(&notifier).await;

    let outcomes = taken(&outcomes);
    let [
        Outcome::Failed {
            attempts, error, ..
        },
    ] = outcomes.as_slice()
    else {
        panic!("expected one failure: {outcomes:?}")
    };
    assert_eq!(*attempts, FAST.max_attempts);
    // Slack's URL is a credential: errors never show it.
    let port = url.rsplit(':').next().unwrap().trim_end_matches("/hook");
    assert!(!error.contains(port) && !error.contains("/hook"), "{error}");
}

#[tokio::test]
async fn notify_returns_at_once_while_a_target_hangs() {
    let (hang_url, accepted) = fake::hanging().await;
    let good = fake::HttpFake::always(200, "").await;
    let (notifier, outcomes) = start(
        &[
            target(
                "webhook",
                "hangs",
                "low",
                &format!("url = \"{hang_url}\"\nsecret = \"k\""),
            ),
            target("slack", "good", "low", &format!("url = \"{}\"", good.url)),
        ],
        FAST,
    );
    let began = Instant::now();
    for n in 0..20 {
        notifier.notify(notice(&format!("h{n}"), Severity::High));
    }
    let took = began.elapsed();
    assert!(took < Duration::from_millis(100), "notify took {took:?}");

    // The good target gets all twenty while the other still hangs.
    let deadline = Instant::now() + Duration::from_secs(5);
    while outcomes.lock().unwrap().len() < 20 {
        assert!(Instant::now() < deadline, "good target starved");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!notifier.is_empty());
    let outcomes = taken(&outcomes);
    assert_eq!(outcomes.len(), 20);
    assert!(
        outcomes
            .iter()
            .all(|o| o.target() == "good" && o.attempts() == 1)
    );
    assert_eq!(good.received().len(), 20);
    // Attempts reach the hanging target, but only a few at a time.
    while *accepted.lock().unwrap() == 0 {
        assert!(
            Instant::now() < deadline,
            "the hanging target was never tried"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let connections = *accepted.lock().unwrap();
    assert!(connections <= 4, "{connections} connections");
}

#[tokio::test]
async fn notify_works_from_a_thread_outside_the_runtime() {
    let good = fake::HttpFake::always(200, "").await;
    let (notifier, outcomes) = start(
        &[target(
            "slack",
            "good",
            "low",
            &format!("url = \"{}\"", good.url),
        )],
        FAST,
    );
    let handle = notifier.clone();
    std::thread::spawn(move || handle.notify(notice("t1", Severity::High)))
        .join()
        .unwrap();
    settle(&notifier).await;
    assert_eq!(taken(&outcomes), [delivered("t1", "good", 1)]);
}

#[test]
fn start_needs_a_runtime() {
    let err = Notifier::start(NotifyConfig::default(), |_| {}).unwrap_err();
    assert!(err.to_string().contains("tokio runtime"), "{err}");
}

#[tokio::test]
async fn start_names_the_bad_setting() {
    let twice = target(
        "slack",
        "chat",
        "low",
        "url = \"https://hooks.slack.test/x\"",
    );
    let config: NotifyConfig = toml::from_str(&[twice.clone(), twice].concat()).unwrap();
    let err = Notifier::start(config, |_| {}).unwrap_err().to_string();
    assert!(err.contains("\"chat\" (1): name"), "{err}");
}

/// Runs one notice against an SMTP server answering `RCPT TO` with `reply`.
async fn email_outcome(reply: &'static str) -> Outcome {
    let (port, _) = fake::smtp_answering_rcpt(reply).await;
    let rest = format!(
        "smtp_host = \"127.0.0.1\"\nsmtp_port = {port}\nfrom = \"custos@firm.example\"\nto = [\"x@firm.example\"]"
    );
    let (notifier, outcomes) = start(&[target("email", "mail", "low", &rest)], FAST);
    notifier.notify(notice("m1", Severity::High));
    settle(&notifier).await;
    let mut outcomes = taken(&outcomes);
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    outcomes.remove(0)
}

#[tokio::test]
async fn smtp_refusals_are_final_and_deferrals_retried() {
    let Outcome::Failed {
        attempts, error, ..
    } = email_outcome("550 5.1.1 no such user\r\n").await
    else {
        panic!("a 550 must fail")
    };
    assert_eq!(attempts, 1);
    assert!(error.contains("550"), "{error}");
    let Outcome::Failed {
        attempts, error, ..
    } = email_outcome("451 4.3.0 try later\r\n").await
    else {
        panic!("a 451 on every attempt must fail")
    };
    assert_eq!(attempts, FAST.max_attempts);
    assert!(error.contains("451"), "{error}");
}

#[tokio::test]
async fn starttls_required_never_falls_back_to_clear_text() {
    // The fake does not offer STARTTLS, so nothing may be sent.
    let (port, mails) = fake::smtp().await;
    let rest = format!(
        "smtp_host = \"127.0.0.1\"\nsmtp_port = {port}\nstarttls = true\nusername = \"custos\"\n\
         password = \"smtp-pw\"\nfrom = \"custos@firm.example\"\nto = [\"x@firm.example\"]"
    );
    let (notifier, outcomes) = start(&[target("email", "mail", "low", &rest)], FAST);
    notifier.notify(notice("m2", Severity::High));
    settle(&notifier).await;
    let outcomes = taken(&outcomes);
    let [
        Outcome::Failed {
            attempts, error, ..
        },
    ] = outcomes.as_slice()
    else {
        panic!("expected one failure: {outcomes:?}")
    };
    assert_eq!(
        *attempts, 1,
        "a server without STARTTLS will not grow it on retry"
    );
    assert!(error.to_ascii_lowercase().contains("starttls"), "{error}");
    assert!(mails.lock().unwrap().is_empty());
}
