//! The SMTP journaling listener: a mail server copies every message to
//! custos (as Exchange journaling or Postfix `always_bcc` do); each is
//! acknowledged (`250`) only once durable.
//!
//! It speaks the part of RFC 5321 a relaying mail server needs: `EHLO` /
//! `HELO`, `MAIL FROM`, `RCPT TO`, `DATA` (dot-unstuffing, a
//! [`MAX_MESSAGE_BYTES`] cap answered `552`), `RSET`, `NOOP`, `QUIT`, and
//! PIPELINING (commands are read and answered in order, so a client may send
//! several at once). There is no AUTH and no TLS: it must listen on
//! loopback or a private network reachable only from the mail server.
//!
//! At the end of `DATA` the message is parsed with
//! [`custos_capture::email`] (an Exchange journal report yields the
//! original it carries), its attachments are sealed as blobs, and then one
//! journal request holds the raw bytes (`RawPayload`, source
//! [`RAW_SOURCE`]), the message and an [`DELIVERY_ACTION`] system event
//! naming the envelope; `250` is sent only once that request is durable.
//! A message that does not parse is still kept: its raw bytes and a
//! [`PARSE_FAILED_ACTION`] event with the reason, then `250` (refusing it
//! would make the mail server bounce or queue a message that must be
//! archived). If the journal fails the answer is `451` and the mail server
//! retries later; a retry of a message already kept adds nothing (the
//! journal de-duplicates on the Message-ID). A client that goes away
//! before the final `.` leaves nothing behind.

use custos_capture::email::{self, Options};
use custos_journal::{Journal, NewEntry};
use custos_model::{Event, RawPayload, SystemEvent, Timestamp};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The largest message accepted (`SIZE` in the `EHLO` answer).
pub const MAX_MESSAGE_BYTES: usize = email::MAX_MESSAGE_BYTES;
/// The most recipients one transaction may name.
pub const MAX_RECIPIENTS: usize = 1000;
/// The longest command line (RFC 5321 allows 512 with extensions' room).
const MAX_COMMAND_LINE: usize = 4096;
/// How long a client may stay silent (RFC 5321 4.5.3.2: at least 5 minutes).
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// The source of the raw payloads the listener keeps.
pub const RAW_SOURCE: &str = "email.smtp";
/// The action of the event recording each accepted message.
pub const DELIVERY_ACTION: &str = "email.smtp.delivery";
/// The action of the event recording a message kept that did not parse.
pub const PARSE_FAILED_ACTION: &str = "email.smtp.parse_failed";
/// Who the events name as actor.
const ACTOR: &str = "smtp-journaling";

/// Accepts SMTP connections on `listener` until `shutdown` resolves, then
/// waits for the connections still open (each closes at its next command
/// with `421`). `firm_domains` tell inbound from outbound mail.
pub async fn serve_smtp(
    listener: TcpListener,
    journal: Journal,
    firm_domains: Vec<String>,
    shutdown: impl Future<Output = ()>,
) {
    let options = std::sync::Arc::new(Options::new(&firm_domains));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let session = Session {
                        journal: journal.clone(),
                        options: options.clone(),
                        peer,
                        stop: stop_rx.clone(),
                    };
                    connections.spawn(async move {
                        if let Err(e) = session.run(stream).await {
                            tracing::debug!(%peer, error = %e, "smtp connection ended");
                        }
                    });
                }
                Err(e) => {
                    // Out of descriptors and the like: wait, then go on.
                    tracing::warn!(error = %e, "smtp accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
}

/// One client connection.
struct Session {
    journal: Journal,
    options: std::sync::Arc<Options>,
    peer: SocketAddr,
    stop: tokio::sync::watch::Receiver<bool>,
}

/// The transaction being built.
#[derive(Default)]
struct Envelope {
    helo: Option<String>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

/// How a line read went.
enum Line {
    /// A line (with its `\n` if it had one).
    Read(Vec<u8>),
    /// Longer than allowed; the rest of it was skipped.
    TooLong,
    /// The client closed the connection.
    Closed,
}

/// Reads up to and including the next `\n`, at most `max` bytes into
/// `buf`; returns how many were read (0 at end of input).
async fn read_piece<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<usize> {
    let mut read = 0;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(read);
        }
        let room = max - read;
        let window = &available[..available.len().min(room)];
        let (take, done) = match window.iter().position(|&b| b == b'\n') {
            Some(at) => (at + 1, true),
            None => (window.len(), window.len() == room),
        };
        buf.extend_from_slice(&window[..take]);
        reader.consume(take);
        read += take;
        if done {
            return Ok(read);
        }
    }
}

/// Reads one command line, skipping the rest of one too long.
async fn read_command<R: AsyncBufRead + Unpin>(reader: &mut R) -> std::io::Result<Line> {
    let mut buf = Vec::new();
    if read_piece(reader, &mut buf, MAX_COMMAND_LINE).await? == 0 {
        return Ok(Line::Closed);
    }
    if buf.ends_with(b"\n") {
        return Ok(Line::Read(buf));
    }
    if buf.len() < MAX_COMMAND_LINE {
        return Ok(Line::Closed); // ended mid-line
    }
    loop {
        buf.clear();
        if read_piece(reader, &mut buf, 64 << 10).await? == 0 {
            return Ok(Line::Closed);
        }
        if buf.ends_with(b"\n") {
            return Ok(Line::TooLong);
        }
    }
}

/// What `DATA` read.
enum Data {
    /// The message, dot-unstuffed.
    Message(Vec<u8>),
    /// Larger than [`MAX_MESSAGE_BYTES`]; read to its end and dropped.
    TooLarge,
    /// The client went away before the final `.`.
    Closed,
}

/// Reads the lines of `DATA` up to the line holding only `.`.
async fn read_data<R: AsyncBufRead + Unpin>(reader: &mut R) -> std::io::Result<Data> {
    let mut message = Vec::new();
    let mut too_large = false;
    let mut line_start = true;
    let mut piece = Vec::new();
    loop {
        piece.clear();
        if read_piece(reader, &mut piece, 64 << 10).await? == 0 {
            return Ok(Data::Closed);
        }
        let mut content = &piece[..];
        if line_start {
            if content == b".\r\n" || content == b".\n" {
                break;
            }
            if content.starts_with(b".") {
                content = &content[1..];
            }
        }
        line_start = piece.ends_with(b"\n");
        if too_large || message.len() + content.len() > MAX_MESSAGE_BYTES {
            too_large = true;
            message = Vec::new();
            continue;
        }
        message.extend_from_slice(content);
    }
    Ok(if too_large {
        Data::TooLarge
    } else {
        Data::Message(message)
    })
}

/// The address inside `FROM:<...>` / `TO:<...>`, and the parameters after it.
fn path_argument<'a>(rest: &'a str, keyword: &str) -> Option<(&'a str, &'a str)> {
    let rest = rest.trim_start();
    if rest.len() < keyword.len() || !rest[..keyword.len()].eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = rest[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some((&rest[..end], rest[end + 1..].trim()))
}

impl Session {
    async fn run(mut self, stream: TcpStream) -> std::io::Result<()> {
        let _ = stream.set_nodelay(true);
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::with_capacity(64 << 10, read);
        write
            .write_all(b"220 custos ESMTP journaling service ready\r\n")
            .await?;
        let mut env = Envelope::default();
        loop {
            let stop = &mut self.stop;
            let stopping = async move {
                let _ = stop.wait_for(|stop| *stop).await;
            };
            let read = tokio::select! {
                read = tokio::time::timeout(IDLE_TIMEOUT, read_command(&mut reader)) => Some(read),
                () = stopping => None,
            };
            let line = match read {
                Some(Ok(line)) => line?,
                Some(Err(_)) => {
                    write
                        .write_all(b"421 4.4.2 idle too long, closing\r\n")
                        .await?;
                    return Ok(());
                }
                None => {
                    write.write_all(b"421 4.3.2 shutting down\r\n").await?;
                    return Ok(());
                }
            };
            let line = match line {
                Line::Closed => return Ok(()),
                Line::TooLong => {
                    write.write_all(b"500 5.5.2 line too long\r\n").await?;
                    continue;
                }
                Line::Read(line) => line,
            };
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\r', '\n']);
            let (verb, rest) = text.split_once(' ').unwrap_or((text, ""));
            let reply: std::borrow::Cow<'static, str> = match verb.to_ascii_uppercase().as_str() {
                "EHLO" | "HELO" if rest.trim().is_empty() => {
                    "501 5.5.4 a domain or address is required\r\n".into()
                }
                "EHLO" => {
                    env = Envelope {
                        helo: Some(rest.trim().to_string()),
                        ..Envelope::default()
                    };
                    format!(
                        "250-custos\r\n250-PIPELINING\r\n250-SIZE {MAX_MESSAGE_BYTES}\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
                    )
                    .into()
                }
                "HELO" => {
                    env = Envelope {
                        helo: Some(rest.trim().to_string()),
                        ..Envelope::default()
                    };
                    "250 custos\r\n".into()
                }
                "MAIL" => {
                    if env.helo.is_none() {
                        "503 5.5.1 EHLO or HELO first\r\n".into()
                    } else if env.mail_from.is_some() {
                        "503 5.5.1 a transaction is already open\r\n".into()
                    } else {
                        match path_argument(rest, "FROM:") {
                            None => "501 5.5.4 syntax: MAIL FROM:<address>\r\n".into(),
                            Some((from, params)) => {
                                let declared = params.split_whitespace().find_map(|p| {
                                    let (k, v) = p.split_once('=')?;
                                    k.eq_ignore_ascii_case("SIZE")
                                        .then(|| v.parse::<u64>().ok())?
                                });
                                if declared.is_some_and(|s| s > MAX_MESSAGE_BYTES as u64) {
                                    "552 5.3.4 message size exceeds the limit\r\n".into()
                                } else {
                                    env.mail_from = Some(from.to_lowercase());
                                    "250 2.1.0 ok\r\n".into()
                                }
                            }
                        }
                    }
                }
                "RCPT" => {
                    if env.mail_from.is_none() {
                        "503 5.5.1 MAIL first\r\n".into()
                    } else if env.rcpt_to.len() >= MAX_RECIPIENTS {
                        "452 4.5.3 too many recipients\r\n".into()
                    } else {
                        match path_argument(rest, "TO:") {
                            Some((to, _)) if !to.is_empty() => {
                                env.rcpt_to.push(to.to_lowercase());
                                "250 2.1.5 ok\r\n".into()
                            }
                            _ => "501 5.5.4 syntax: RCPT TO:<address>\r\n".into(),
                        }
                    }
                }
                "DATA" => {
                    if env.mail_from.is_none() || env.rcpt_to.is_empty() {
                        "503 5.5.1 MAIL and RCPT first\r\n".into()
                    } else {
                        write
                            .write_all(b"354 end data with <CRLF>.<CRLF>\r\n")
                            .await?;
                        let reply = match read_data(&mut reader).await? {
                            Data::Closed => return Ok(()), // nothing kept
                            Data::TooLarge => "552 5.3.4 message size exceeds the limit\r\n".into(),
                            Data::Message(bytes) => self.keep(&env, bytes).await,
                        };
                        env.mail_from = None;
                        env.rcpt_to.clear();
                        reply
                    }
                }
                "RSET" => {
                    env.mail_from = None;
                    env.rcpt_to.clear();
                    "250 2.0.0 ok\r\n".into()
                }
                "NOOP" => "250 2.0.0 ok\r\n".into(),
                "VRFY" => "252 2.5.0 cannot verify\r\n".into(),
                "QUIT" => {
                    write.write_all(b"221 2.0.0 bye\r\n").await?;
                    return Ok(());
                }
                _ => "502 5.5.2 command not implemented\r\n".into(),
            };
            write.write_all(reply.as_bytes()).await?;
        }
    }

    /// Parses and journals one message; the reply to the end of `DATA`.
    async fn keep(&self, env: &Envelope, bytes: Vec<u8>) -> std::borrow::Cow<'static, str> {
        let journal = self.journal.clone();
        let options = self.options.clone();
        let mut details = serde_json::Map::new();
        details.insert("peer".into(), self.peer.to_string().into());
        details.insert("helo".into(), env.helo.clone().unwrap_or_default().into());
        details.insert(
            "mail_from".into(),
            env.mail_from.clone().unwrap_or_default().into(),
        );
        details.insert("rcpt_to".into(), env.rcpt_to.clone().into());
        let size = bytes.len();
        // Parsing, hashing and sealing a large message would hold a runtime
        // thread too long.
        let kept = tokio::task::spawn_blocking(move || {
            journal_message(&journal, &options, bytes, details)
        })
        .await;
        match kept {
            Ok(Ok(Kept::Message {
                source_id,
                duplicate,
            })) => {
                tracing::info!(peer = %self.peer, size, duplicate, "smtp message durable");
                format!("250 2.0.0 ok: kept as {source_id}\r\n").into()
            }
            Ok(Ok(Kept::Unparsed)) => {
                tracing::warn!(peer = %self.peer, size, "smtp message kept unparsed");
                "250 2.0.0 ok: kept unparsed (the parse failure is journalled)\r\n".into()
            }
            Ok(Err(e)) => {
                tracing::error!(peer = %self.peer, error = %e, "smtp message not kept");
                "451 4.3.0 the archive could not keep the message; try again later\r\n".into()
            }
            Err(e) => {
                tracing::error!(peer = %self.peer, error = %e, "smtp message not kept");
                "451 4.3.0 the archive could not keep the message; try again later\r\n".into()
            }
        }
    }
}

/// What happened to a message.
enum Kept {
    /// Archived as a message (or already held).
    Message { source_id: String, duplicate: bool },
    /// Kept as raw bytes only; it did not parse.
    Unparsed,
}

/// Journals one message received (blocking): attachments as blobs first,
/// then the raw bytes, the message and the delivery event in one request.
fn journal_message(
    journal: &Journal,
    options: &Options,
    bytes: Vec<u8>,
    mut details: serde_json::Map<String, serde_json::Value>,
) -> custos_journal::Result<Kept> {
    let received_at = Timestamp::now();
    details.insert(
        "sha256".into(),
        custos_model::Digest::of(&bytes).to_string().into(),
    );
    details.insert("bytes".into(), bytes.len().into());
    match email::parse_message(
        &bytes,
        Some((received_at, "smtp_received")),
        options,
        received_at,
        "smtp message",
    ) {
        Ok(parsed) => {
            let subject = parsed.message.external_party().map(str::to_string);
            for a in &parsed.attachment_bytes {
                journal.put_blob(subject.as_deref(), parsed.message.sent_at, a)?;
            }
            let mut entries: Vec<NewEntry> = parsed
                .raw_payloads(RAW_SOURCE, received_at)
                .into_iter()
                .map(|mut raw| {
                    raw.details.extend(details.clone());
                    NewEntry {
                        event: Event::Raw(raw),
                        subject: subject.clone(),
                    }
                })
                .collect();
            let source_id = parsed.message.source_id.clone();
            let message_at = entries.len();
            entries.push(NewEntry {
                event: Event::Message(parsed.message),
                subject,
            });
            details.insert("source_id".into(), source_id.clone().into());
            entries.push(NewEntry {
                event: Event::System(SystemEvent {
                    actor: ACTOR.into(),
                    action: DELIVERY_ACTION.into(),
                    target: Some(source_id.clone()),
                    at: received_at,
                    details,
                }),
                subject: None,
            });
            let answers = journal.append_all(&entries)?;
            Ok(Kept::Message {
                source_id,
                duplicate: answers[message_at].duplicate,
            })
        }
        Err(e) => {
            let digest = details["sha256"].clone();
            let mut raw_details = details.clone();
            raw_details.insert("parse_error".into(), e.to_string().into());
            details.insert("error".into(), e.to_string().into());
            let entries = [
                NewEntry {
                    event: Event::Raw(RawPayload {
                        source: RAW_SOURCE.into(),
                        media_type: email::RAW_MEDIA_TYPE.into(),
                        received_at,
                        bytes,
                        details: raw_details,
                    }),
                    subject: None,
                },
                NewEntry {
                    event: Event::System(SystemEvent {
                        actor: ACTOR.into(),
                        action: PARSE_FAILED_ACTION.into(),
                        target: digest.as_str().map(str::to_string),
                        at: received_at,
                        details,
                    }),
                    subject: None,
                },
            ];
            journal.append_all(&entries)?;
            Ok(Kept::Unparsed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_journal::Opened;
    use tokio::io::AsyncReadExt;

    /// A listener on loopback over a fresh archive.
    async fn start() -> (
        tempfile::TempDir,
        Journal,
        SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::init(&dir.path().join("data"), None, "test").unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_smtp(
            listener,
            journal.clone(),
            vec!["example.com".into()],
            async move {
                let _ = stopped.await;
            },
        ));
        (dir, journal, addr, stop, server)
    }

    /// A tiny SMTP client: sends bytes, reads whole replies.
    struct Client {
        stream: BufReader<TcpStream>,
    }

    impl Client {
        async fn connect(addr: SocketAddr) -> Client {
            let mut c = Client {
                stream: BufReader::new(TcpStream::connect(addr).await.unwrap()),
            };
            assert!(c.reply().await.starts_with("220 "));
            c
        }

        async fn send(&mut self, bytes: &[u8]) {
            self.stream.get_mut().write_all(bytes).await.unwrap();
        }

        /// One reply, its continuation lines included.
        async fn reply(&mut self) -> String {
            let mut all = String::new();
            loop {
                let mut line = String::new();
                assert!(
                    self.stream.read_line(&mut line).await.unwrap() > 0,
                    "closed after {all:?}"
                );
                all.push_str(&line);
                if line.as_bytes().get(3) == Some(&b' ') {
                    return all;
                }
            }
        }

        async fn command(&mut self, line: &str) -> String {
            self.send(format!("{line}\r\n").as_bytes()).await;
            self.reply().await
        }
    }

    fn events(journal: &Journal) -> Vec<Event> {
        journal
            .entries(0)
            .map(|e| match journal.open_entry(&e.unwrap()).unwrap() {
                Opened::Event(e) => e,
                Opened::Shredded(_) => panic!("shredded"),
            })
            .collect()
    }

    const WITH_ATTACHMENT: &str = "From: Ana Souza <ana@client.example.org>\r\n\
To: bruno@example.com\r\n\
Subject: Term sheet\r\n\
Date: Tue, 5 Mar 2024 09:15:00 -0300\r\n\
Message-ID: <smtp-1@client.example.org>\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain\r\n\
\r\n\
.Leading dot kept, price 12.5\r\n\
--b\r\n\
Content-Type: application/pdf; name=\"t.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQK\r\n\
--b--\r\n";

    /// Dot-stuffs a message as a client must.
    fn stuffed(message: &str) -> String {
        message
            .split_inclusive("\r\n")
            .map(|l| {
                if l.starts_with('.') {
                    format!(".{l}")
                } else {
                    l.to_string()
                }
            })
            .collect::<String>()
            + ".\r\n"
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_message_with_an_attachment_is_durable_before_250() {
        let (_dir, journal, addr, stop, server) = start().await;
        let mut c = Client::connect(addr).await;
        let ehlo = c.command("EHLO mx.example.com").await;
        assert!(
            ehlo.contains("250-PIPELINING") && ehlo.contains("SIZE 52428800"),
            "{ehlo}"
        );
        assert!(
            c.command("MAIL FROM:<ana@client.example.org>")
                .await
                .starts_with("250 ")
        );
        assert!(
            c.command("RCPT TO:<archive@custos.example.com>")
                .await
                .starts_with("250 ")
        );
        assert!(c.command("DATA").await.starts_with("354 "));
        c.send(stuffed(WITH_ATTACHMENT).as_bytes()).await;
        let done = c.reply().await;
        assert!(
            done.starts_with("250 ") && done.contains("smtp-1@client.example.org"),
            "{done}"
        );
        // Already durable: read back at once.
        let events = events(&journal);
        let raw = events
            .iter()
            .find_map(|e| match e {
                Event::Raw(r) if r.source == RAW_SOURCE => Some(r.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            raw.bytes,
            WITH_ATTACHMENT.as_bytes(),
            "dot-unstuffed, byte for byte"
        );
        assert_eq!(raw.details["rcpt_to"][0], "archive@custos.example.com");
        let m = events
            .iter()
            .find_map(|e| match e {
                Event::Message(m) => Some(m.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(m.raw_digest, custos_model::Digest::of(&raw.bytes));
        assert_eq!(m.text.as_deref(), Some(".Leading dot kept, price 12.5"));
        assert_eq!(m.sender, "ana@client.example.org");
        assert_eq!(m.attachments.len(), 1);
        // The attachment's sealed blob is on disk under its digest.
        let digest = m.attachments[0].sha256.to_string();
        let sealed = std::fs::read_dir(_dir.path().join("data/blobs"))
            .unwrap()
            .any(|d| d.unwrap().path().join(&digest).is_file());
        assert!(sealed, "no blob {digest}");
        assert_eq!(
            m.attachments[0].sha256,
            custos_model::Digest::of(b"%PDF-1.4\n")
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::System(s) if s.action == DELIVERY_ACTION))
        );
        assert_eq!(c.command("QUIT").await, "221 2.0.0 bye\r\n");
        let _ = stop.send(());
        server.await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pipelined_commands_are_answered_in_order_and_resends_add_nothing() {
        let (_dir, journal, addr, stop, server) = start().await;
        let mut c = Client::connect(addr).await;
        assert!(c.command("EHLO mx").await.starts_with("250-"));
        let message = "From: bruno@example.com\r\nTo: ana@client.example.org\r\nDate: Wed, 6 Mar 2024 08:00:00 +0000\r\nMessage-ID: <p-1@example.com>\r\n\r\nPipelined hello\r\n";
        let transaction = format!(
            "MAIL FROM:<bruno@example.com> SIZE=200\r\nRCPT TO:<a@x.org>\r\nRCPT TO:<b@x.org>\r\nDATA\r\n{}",
            stuffed(message)
        );
        // Two transactions and a NOOP in one write.
        c.send(format!("{transaction}{transaction}NOOP\r\n").as_bytes())
            .await;
        for _ in 0..2 {
            for expected in [
                "250 2.1.0",
                "250 2.1.5",
                "250 2.1.5",
                "354 ",
                "250 2.0.0 ok: kept",
            ] {
                let r = c.reply().await;
                assert!(r.starts_with(expected), "{r} instead of {expected}");
            }
        }
        assert!(c.reply().await.starts_with("250 2.0.0 ok"));
        let messages: Vec<_> = events(&journal)
            .into_iter()
            .filter(|e| matches!(e, Event::Message(_)))
            .collect();
        assert_eq!(messages.len(), 1, "the resend de-duplicated");
        let Event::Message(m) = &messages[0] else {
            unreachable!()
        };
        assert_eq!(m.direction, custos_model::Direction::Outbound);
        let _ = stop.send(());
        drop(c);
        server.await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_gone_mid_data_leaves_nothing() {
        let (_dir, journal, addr, stop, server) = start().await;
        let before = journal.size();
        let mut c = Client::connect(addr).await;
        c.command("HELO mx").await;
        c.command("MAIL FROM:<a@x.org>").await;
        c.command("RCPT TO:<b@example.com>").await;
        assert!(c.command("DATA").await.starts_with("354"));
        c.send(b"From: a@x.org\r\nDate: Wed, 6 Mar 2024 08:00:00 +0000\r\n\r\nhalf a mess")
            .await;
        drop(c);
        // A second client proves the server went on; the first left nothing.
        let mut c = Client::connect(addr).await;
        assert!(c.command("NOOP").await.starts_with("250"));
        assert_eq!(journal.size(), before);
        let _ = stop.send(());
        // The open connection is told the server is going away.
        assert!(c.reply().await.starts_with("421"));
        server.await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_sequences_and_unparsable_messages() {
        let (_dir, journal, addr, stop, server) = start().await;
        let mut c = Client::connect(addr).await;
        assert!(c.command("MAIL FROM:<a@x.org>").await.starts_with("503"));
        c.command("EHLO mx").await;
        assert!(c.command("RCPT TO:<b@x.org>").await.starts_with("503"));
        assert!(c.command("DATA").await.starts_with("503"));
        assert!(
            c.command("MAIL FROM:<a@x.org> SIZE=999999999")
                .await
                .starts_with("552")
        );
        assert!(c.command("MAIL FROM a@x.org").await.starts_with("501"));
        assert!(c.command("BDAT 10").await.starts_with("502"));
        let long = "NOOP ".to_string() + &"x".repeat(10_000);
        assert!(c.command(&long).await.starts_with("500"));
        // No sender and no date: kept raw, the failure journalled, 250.
        c.command("MAIL FROM:<>").await;
        c.command("RCPT TO:<archive@example.com>").await;
        c.command("DATA").await;
        c.send(b"Subject: no sender\r\n\r\nbody\r\n.\r\n").await;
        assert!(c.reply().await.starts_with("250 2.0.0 ok: kept unparsed"));
        let events = events(&journal);
        assert!(events.iter().any(
            |e| matches!(e, Event::Raw(r) if r.bytes == b"Subject: no sender\r\n\r\nbody\r\n")
        ));
        assert!(events.iter().any(
            |e| matches!(e, Event::System(s) if s.action == PARSE_FAILED_ACTION
            && s.details["error"].as_str().unwrap().contains("From"))
        ));
        assert!(!events.iter().any(|e| matches!(e, Event::Message(_))));
        // RSET clears the transaction.
        c.command("MAIL FROM:<a@x.org>").await;
        assert!(c.command("RSET").await.starts_with("250"));
        assert!(c.command("DATA").await.starts_with("503"));
        let _ = stop.send(());
        drop(c);
        server.await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_oversized_message_is_refused_with_552_and_the_session_goes_on() {
        let (_dir, journal, addr, stop, server) = start().await;
        let before = journal.size();
        let mut c = Client::connect(addr).await;
        c.command("EHLO mx").await;
        c.command("MAIL FROM:<a@x.org>").await;
        c.command("RCPT TO:<b@example.com>").await;
        c.command("DATA").await;
        let line = "y".repeat(998) + "\r\n";
        let mut body = String::from("From: a@x.org\r\n\r\n");
        while body.len() <= MAX_MESSAGE_BYTES {
            body.push_str(&line);
        }
        body.push_str(".\r\n");
        let (mut read, mut write) = c.stream.into_inner().into_split();
        let writer = tokio::spawn(async move {
            write.write_all(body.as_bytes()).await.unwrap();
            write
        });
        let mut answer = [0u8; 64];
        let n = read.read(&mut answer).await.unwrap();
        assert!(
            answer[..n].starts_with(b"552 "),
            "{:?}",
            String::from_utf8_lossy(&answer[..n])
        );
        let mut write = writer.await.unwrap();
        write.write_all(b"NOOP\r\n").await.unwrap();
        let n = read.read(&mut answer).await.unwrap();
        assert!(answer[..n].starts_with(b"250 "));
        assert_eq!(journal.size(), before);
        let _ = stop.send(());
        drop((read, write));
        server.await.unwrap();
    }
}
