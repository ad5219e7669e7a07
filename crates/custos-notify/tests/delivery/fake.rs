//! Fake targets on loopback: an HTTP endpoint that records requests and
//! answers from a script, one that never answers, a dead port, and an SMTP
//! server speaking just enough RFC 5321 to take a message.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One request an HTTP fake received.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A scripted answer: status, extra headers, body.
pub type Answer = (u16, Vec<(&'static str, &'static str)>, &'static str);

#[derive(Clone, Default)]
struct Script {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    last: Arc<Mutex<Option<Answer>>>,
    received: Arc<Mutex<Vec<Received>>>,
}

/// An HTTP endpoint at `http://127.0.0.1:port/hook`.
pub struct HttpFake {
    pub url: String,
    script: Script,
}

impl HttpFake {
    /// Answers `answers` in order, repeating the last one after that.
    pub async fn start(answers: Vec<Answer>) -> Self {
        let script = Script {
            answers: Arc::new(Mutex::new(answers.into())),
            ..Script::default()
        };
        let app = axum::Router::new()
            .route("/hook", post(answer))
            .with_state(script.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, script }
    }

    /// Answers every request with `status` and `body`.
    pub async fn always(status: u16, body: &'static str) -> Self {
        Self::start(vec![(status, vec![], body)]).await
    }

    pub fn received(&self) -> Vec<Received> {
        self.script.received.lock().unwrap().clone()
    }
}

async fn answer(
    State(script): State<Script>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    script
        .received
        .lock()
        .unwrap()
        .push(Received { headers, body });
    let next = script.answers.lock().unwrap().pop_front();
    let (status, extra, text) = match next {
        Some(answer) => {
            *script.last.lock().unwrap() = Some(answer.clone());
            answer
        }
        None => script
            .last
            .lock()
            .unwrap()
            .clone()
            .expect("a script has an answer"),
    };
    let mut response = axum::response::Response::new(axum::body::Body::from(text));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    for (name, value) in extra {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

/// A URL whose server accepts connections and never answers; returns the
/// URL and a counter of connections accepted.
pub async fn hanging() -> (String, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let accepted = Arc::new(Mutex::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            *count.lock().unwrap() += 1;
            held.push(socket);
        }
    });
    (url, accepted)
}

/// A URL on a port nothing listens on.
pub async fn dead() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// One message the SMTP fake took.
#[derive(Clone, Debug, Default)]
pub struct Mail {
    pub ehlo: String,
    pub auth: Option<String>,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: String,
}

/// An SMTP server on `127.0.0.1:port` that takes every recipient; returns
/// the port and the messages.
pub async fn smtp() -> (u16, Arc<Mutex<Vec<Mail>>>) {
    smtp_answering_rcpt("250 2.1.5 ok\r\n").await
}

/// An SMTP server that answers `RCPT TO` with `rcpt_reply`.
pub async fn smtp_answering_rcpt(rcpt_reply: &'static str) -> (u16, Arc<Mutex<Vec<Mail>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let store = Arc::clone(&mails);
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let store = Arc::clone(&store);
            tokio::spawn(async move { smtp_session(socket, store, rcpt_reply).await });
        }
    });
    (port, mails)
}

async fn smtp_session(
    socket: tokio::net::TcpStream,
    store: Arc<Mutex<Vec<Mail>>>,
    rcpt_reply: &str,
) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut mail = Mail::default();
    write
        .write_all(b"220 fake.test ESMTP ready\r\n")
        .await
        .unwrap();
    while let Ok(Some(line)) = lines.next_line().await {
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO ") {
            mail.ehlo = line[5..].to_string();
            b"250-fake.test greets you\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"
        } else if let Some(rest) = upper.strip_prefix("AUTH PLAIN ") {
            mail.auth = Some(line[line.len() - rest.len()..].to_string());
            b"235 2.7.0 authenticated\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            mail.mail_from = line[10..].to_string();
            b"250 2.1.0 ok\r\n"
        } else if upper.starts_with("RCPT TO:") {
            mail.rcpt_to.push(line[8..].to_string());
            rcpt_reply.as_bytes()
        } else if upper == "DATA" {
            write
                .write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                .await
                .unwrap();
            while let Ok(Some(data)) = lines.next_line().await {
                if data == "." {
                    break;
                }
                mail.data.push_str(data.strip_prefix('.').unwrap_or(&data));
                mail.data.push('\n');
            }
            store.lock().unwrap().push(std::mem::take(&mut mail));
            b"250 2.0.0 queued\r\n"
        } else if upper == "QUIT" {
            write.write_all(b"221 2.0.0 bye\r\n").await.unwrap();
            return;
        } else if upper == "RSET" || upper == "NOOP" {
            b"250 2.0.0 ok\r\n"
        } else {
            b"502 5.5.2 not implemented\r\n"
        };
        write.write_all(reply).await.unwrap();
    }
}
