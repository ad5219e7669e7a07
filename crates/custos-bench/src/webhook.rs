//! Driving `custos serve` over real HTTP: signed WhatsApp Cloud API
//! deliveries, a minimal HTTP/1.1 keep-alive client over `TcpStream`, the
//! server as a child process, and a load generator.
//!
//! Used by the webhook-ingest benchmark and by the end-to-end tests of the
//! `custos` binary, so both speak to the server exactly as Meta would: one
//! `POST /webhooks/whatsapp` per delivery, `X-Hub-Signature-256:
//! sha256=<hex>` being HMAC-SHA256 of the raw body under the app secret.

use crate::workload;
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The webhook's path.
pub const PATH: &str = "/webhooks/whatsapp";
/// The verify token the server is started with.
pub const VERIFY_TOKEN: &str = "custos-bench-verify";

/// `sha256=<hex>` of HMAC-SHA256(`secret`, `body`): the signature header.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    format!(
        "sha256={}",
        hex::encode(ring::hmac::sign(&key, body).as_ref())
    )
}

/// One inbound text message of a delivery.
#[derive(Clone, Debug)]
pub struct Text {
    /// Its `wamid` (the de-duplication key).
    pub wamid: String,
    /// Its text; must need no JSON escaping (letters, digits, spaces,
    /// punctuation other than `"` and `\`).
    pub body: String,
}

/// A Cloud API delivery (`field: messages`) of `messages`, all from the
/// customer `wa_id` (digits) to the business number.
pub fn delivery(wa_id: &str, messages: &[Text]) -> String {
    let mut items = String::new();
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            items.push(',');
        }
        items.push_str(&format!(
            r#"{{"from":"{wa_id}","id":"{}","timestamp":"{}","type":"text","text":{{"body":"{}"}}}}"#,
            m.wamid,
            1_772_442_000 + i,
            m.body
        ));
    }
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"447700900001","phone_number_id":"106540352242922"}},"contacts":[{{"profile":{{"name":"Customer {wa_id}"}},"wa_id":"{wa_id}"}}],"messages":[{items}]}}}}]}}]}}"#
    )
}

/// The `n`th synthetic delivery of a run tagged `tag`: `per` messages of
/// ~200 characters from one of 1,000 customers, each with a wamid unique
/// to (`tag`, `n`, its index).
pub fn synthetic(tag: &str, n: u64, per: usize) -> (String, Vec<Text>) {
    let mut rng = crate::workload::Rng::new(n ^ 0x5eed);
    let wa_id = format!("55119{:08}", rng.below(1_000));
    let messages: Vec<Text> = (0..per)
        .map(|i| {
            let mut body = String::with_capacity(230);
            let target = 170 + rng.below(60) as usize;
            while body.len() < target {
                if !body.is_empty() {
                    body.push(' ');
                }
                body.push_str(workload::WORDS[rng.below(workload::WORDS.len() as u64) as usize]);
            }
            Text {
                wamid: format!("wamid.{tag}.{n:010}.{i:03}"),
                body,
            }
        })
        .collect();
    (delivery(&wa_id, &messages), messages)
}

/// An HTTP/1.1 response, read whole.
#[derive(Clone, Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body (de-chunked).
    pub body: Vec<u8>,
    /// The headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
}

impl Response {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One keep-alive HTTP/1.1 connection: just enough of the protocol for
/// the webhook (requests with `Content-Length`, responses with either
/// `Content-Length` or chunked bodies).
pub struct Client {
    stream: BufReader<TcpStream>,
    closed: bool,
}

impl Client {
    /// Connects to `addr`; reads and writes time out after 60 s.
    pub fn connect(addr: SocketAddr) -> std::io::Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        stream.set_write_timeout(Some(Duration::from_secs(60)))?;
        Ok(Client {
            stream: BufReader::new(stream),
            closed: false,
        })
    }

    /// Whether the server said it closes the connection after the last
    /// response.
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Sends one request and reads its response.
    pub fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Response> {
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        self.stream.get_mut().write_all(&request)?;
        self.read_response()
    }

    /// Posts a signed delivery to the webhook; returns the status.
    pub fn deliver(&mut self, signature: &str, body: &[u8]) -> std::io::Result<u16> {
        Ok(self
            .request(
                "POST",
                PATH,
                &[
                    ("Content-Type", "application/json"),
                    ("X-Hub-Signature-256", signature),
                ],
                body,
            )?
            .status)
    }

    fn read_response(&mut self) -> std::io::Result<Response> {
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        let mut line = String::new();
        if self.stream.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no status line"))?;
        let mut length = None;
        let mut chunked = false;
        let mut headers = Vec::new();
        loop {
            line.clear();
            if self.stream.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let Some((name, value)) = header.split_once(':') else {
                return Err(bad("malformed header"));
            };
            let value = value.trim();
            headers.push((name.to_ascii_lowercase(), value.to_string()));
            match name.to_ascii_lowercase().as_str() {
                "content-length" => {
                    length = Some(value.parse::<usize>().map_err(|_| bad("content-length"))?)
                }
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "connection" => self.closed = value.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .map_err(|_| bad("chunk size"))?;
                let start = body.len();
                body.resize(start + size, 0);
                self.stream.read_exact(&mut body[start..])?;
                line.clear();
                self.stream.read_line(&mut line)?;
                if size == 0 {
                    break;
                }
            }
        } else if let Some(n) = length {
            body.resize(n, 0);
            self.stream.read_exact(&mut body)?;
        }
        Ok(Response {
            status,
            body,
            headers,
        })
    }
}

/// A free port on loopback, found by binding port 0 and letting it go.
pub fn free_loopback_addr() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// `custos serve` running as a child process on a loopback port. Dropping
/// it kills the process if it still runs.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    /// Starts `exe --data DATA serve --listen ADDR` (on a free port) with
    /// `secret` as the app secret and [`VERIFY_TOKEN`] as the verify token
    /// in its environment, its standard error to `log`; returns once it
    /// answers the verification handshake (at most 30 s).
    pub fn start(exe: &Path, data: &Path, secret: &str, log: &Path) -> Result<Server> {
        Server::start_limited(exe, data, secret, log, None)
    }

    /// [`Server::start`] under a file size limit (RLIMIT_FSIZE, in KiB,
    /// set by `bash`'s `ulimit -f` with SIGXFSZ ignored, so a write past it
    /// fails with EFBIG after writing what fits): a disk that fills up.
    pub fn start_limited(
        exe: &Path,
        data: &Path,
        secret: &str,
        log: &Path,
        file_size_kib: Option<u64>,
    ) -> Result<Server> {
        Server::start_with(exe, data, secret, log, file_size_kib, &[])
    }

    /// [`Server::start`] with more environment variables (e.g. a cluster
    /// node's `CUSTOS_JOURNAL_URL` and `CUSTOS_KEK`).
    pub fn start_with_env(
        exe: &Path,
        data: &Path,
        secret: &str,
        log: &Path,
        env: &[(&str, &str)],
    ) -> Result<Server> {
        Server::start_with(exe, data, secret, log, None, env)
    }

    fn start_with(
        exe: &Path,
        data: &Path,
        secret: &str,
        log: &Path,
        file_size_kib: Option<u64>,
        env: &[(&str, &str)],
    ) -> Result<Server> {
        let addr = free_loopback_addr()?;
        let stderr = std::fs::File::create(log).with_context(|| log.display().to_string())?;
        let mut command = match file_size_kib {
            None => Command::new(exe),
            Some(kib) => {
                let mut c = Command::new("bash");
                c.arg("-c")
                    .arg(format!(
                        "trap '' XFSZ; ulimit -f {kib} && exec \"$0\" \"$@\""
                    ))
                    .arg(exe);
                c
            }
        };
        let child = command
            .arg("--data")
            .arg(data)
            .args(["serve", "--listen", &addr.to_string()])
            .env("CUSTOS_WHATSAPP_APP_SECRET", secret)
            .env("CUSTOS_WHATSAPP_VERIFY_TOKEN", VERIFY_TOKEN)
            .env("CUSTOS_ACTOR", "custos-bench")
            .env_remove("CUSTOS_KEK")
            .env_remove("CUSTOS_DATA")
            .env_remove("CUSTOS_CONFIG")
            .env_remove("CUSTOS_JOURNAL_URL")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {} serve", exe.display()))?;
        let mut server = Server {
            child,
            addr,
            log: log.to_path_buf(),
        };
        server.wait_until_answering(Duration::from_secs(30))?;
        Ok(server)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's peak resident memory (VmHWM) so far, in KiB.
    pub fn peak_memory_kib(&self) -> Option<u64> {
        crate::proc_status_kib(&self.pid().to_string(), "VmHWM")
    }

    /// The server's resident memory (VmRSS) now, in KiB.
    pub fn memory_kib(&self) -> Option<u64> {
        crate::proc_status_kib(&self.pid().to_string(), "VmRSS")
    }

    /// The server's anonymous resident memory (RssAnon: heap and stacks,
    /// not the file pages it maps, such as the search index) now, in KiB.
    pub fn anonymous_memory_kib(&self) -> Option<u64> {
        crate::proc_status_kib(&self.pid().to_string(), "RssAnon")
    }

    /// What the server wrote to standard error so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_until_answering(&mut self, limit: Duration) -> Result<()> {
        let started = Instant::now();
        let target = format!(
            "{PATH}?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=ready"
        );
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("custos serve exited with {status}:\n{}", self.log());
            }
            let answer =
                Client::connect(self.addr).and_then(|mut c| c.request("GET", &target, &[], b""));
            match answer {
                Ok(r) if r.status == 200 && r.body == b"ready" => return Ok(()),
                Ok(r) => bail!(
                    "custos serve answered the handshake with {}: {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                ),
                Err(_) if started.elapsed() < limit => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => bail!(
                    "custos serve did not answer on {} within {limit:?} ({e}):\n{}",
                    self.addr,
                    self.log()
                ),
            }
        }
    }

    /// SIGKILL: the process dies wherever it is.
    pub fn kill(&mut self) -> Result<()> {
        self.child.kill().context("killing custos serve")?;
        self.child.wait().context("waiting for custos serve")?;
        Ok(())
    }

    /// SIGTERM (through `kill -TERM`), then waits up to `limit` for the
    /// process to end; it should close the archive and exit 0.
    pub fn terminate(mut self, limit: Duration) -> Result<ExitStatus> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .context("running kill -TERM")?;
        anyhow::ensure!(sent.success(), "kill -TERM {} failed", self.pid());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if started.elapsed() > limit {
                bail!(
                    "custos serve still running {limit:?} after SIGTERM:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.child.kill().ok();
            self.child.wait().ok();
        }
    }
}

/// What one load run acknowledged.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// Deliveries answered 200.
    pub deliveries: usize,
    /// Messages in them.
    pub messages: usize,
    /// From the first request sent to the last answer.
    pub elapsed: Duration,
    /// The run stopped at the time limit before sending everything.
    pub capped: bool,
}

impl Load {
    /// Messages acknowledged per second.
    pub fn rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Posts `bodies` (body, signature, messages in it) to `addr` over
/// `connections` keep-alive connections, each sending its next delivery as
/// soon as the last was answered; stops taking new ones after `limit`.
/// Any answer but 200, or a lost connection, fails the run.
pub fn drive(
    addr: SocketAddr,
    bodies: &[(String, String, usize)],
    connections: usize,
    limit: Duration,
) -> Result<Load> {
    let next = AtomicUsize::new(0);
    let deliveries = AtomicUsize::new(0);
    let messages = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let mut clients = (0..connections.max(1))
        .map(|_| Client::connect(addr))
        .collect::<std::io::Result<Vec<_>>>()
        .with_context(|| format!("connecting to {addr}"))?;
    let start = Instant::now();
    std::thread::scope(|scope| {
        for client in &mut clients {
            let (next, deliveries, messages, stop, failure) =
                (&next, &deliveries, &messages, &stop, &failure);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) && start.elapsed() < limit {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((body, signature, n)) = bodies.get(i) else {
                        break;
                    };
                    let outcome = client.deliver(signature, body.as_bytes());
                    match outcome {
                        Ok(200) => {
                            deliveries.fetch_add(1, Ordering::Relaxed);
                            messages.fetch_add(*n, Ordering::Relaxed);
                        }
                        Ok(status) => {
                            *failure.lock().expect("not poisoned") =
                                Some(anyhow::anyhow!("delivery {i} answered {status}"));
                            stop.store(true, Ordering::Relaxed);
                        }
                        Err(e) => {
                            *failure.lock().expect("not poisoned") =
                                Some(anyhow::Error::new(e).context(format!("delivery {i}")));
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    let elapsed = start.elapsed();
    if let Some(e) = failure.into_inner().expect("not poisoned") {
        return Err(e);
    }
    Ok(Load {
        deliveries: deliveries.into_inner(),
        messages: messages.into_inner(),
        elapsed,
        capped: next.into_inner() < bodies.len(),
    })
}

/// Whether `exe` is the `custos` binary (so it can `serve`).
pub fn is_custos_binary(exe: &Path) -> bool {
    exe.file_stem().is_some_and(|s| s == "custos") && exe.is_file()
}
