//! `custos bench --load`: sustained load on one `custos serve`, for
//! minutes, to show that throughput holds, latency stays flat and memory
//! stays bounded (issue 8, "Load").
//!
//! `custos serve` runs as a child process on a fresh archive. This
//! process posts signed webhook deliveries at a fixed target rate over
//! keep-alive connections (each delivery is due at `start + k / rate`; a
//! connection that falls behind sends at once, and the run reports how far
//! the achieved rate fell short), while other connections run searches
//! (`GET /api/v1/search`, each one an audited read) against the same
//! server. Every interval it reports the messages acknowledged per second,
//! the p99 latency of webhooks and of searches in that interval, and the
//! server's resident memory (VmRSS, from `/proc`) and the anonymous part
//! of it (RssAnon: heap and stacks; the rest is file pages the server maps,
//! chiefly the search index, which grow with the archive and which the
//! kernel can drop). At the end: totals, overall percentiles, and whether
//! memory stayed bounded: the largest anonymous RSS of the last third of
//! the intervals is within [`LoadOptions::memory_slack`] of the largest of
//! the first third.
//! Finally the server is stopped with SIGTERM, the archive is checked to
//! hold every acknowledged message, and `verify` runs over it.

use crate::search::percentile;
use crate::webhook::{self, Client, Server};
use crate::workload;
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The app secret the server is started with.
const SECRET: &str = "custos-bench-load-secret";

/// What load to put on the server, and for how long.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// The `custos` binary to run `serve` from.
    pub custos_exe: PathBuf,
    /// Where to make the temporary archive (`None`: the current directory).
    pub dir: Option<PathBuf>,
    /// How long to keep the load on.
    pub duration: Duration,
    /// How often to report.
    pub interval: Duration,
    /// Target webhook messages per second.
    pub rate: f64,
    /// Messages per delivery.
    pub per_delivery: usize,
    /// Keep-alive connections posting webhooks.
    pub connections: usize,
    /// Connections running searches, each one after another with
    /// [`LoadOptions::search_pause`] between them.
    pub searchers: usize,
    /// The pause between one searcher's searches.
    pub search_pause: Duration,
    /// How much the last third's largest RSS may exceed the first third's
    /// (0.5: by 50%) for memory to count as bounded.
    pub memory_slack: f64,
}

impl LoadOptions {
    /// Ten minutes at 200 messages/s in single-message deliveries over 16
    /// connections, with 2 searchers pausing 100 ms, reported every 10 s.
    pub fn new(custos_exe: PathBuf) -> LoadOptions {
        LoadOptions {
            custos_exe,
            dir: None,
            duration: Duration::from_secs(600),
            interval: Duration::from_secs(10),
            rate: 200.0,
            per_delivery: 1,
            connections: 16,
            searchers: 2,
            search_pause: Duration::from_millis(100),
            memory_slack: 0.5,
        }
    }
}

/// One interval's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// From the start of the load to the end of this interval.
    pub at: Duration,
    /// Webhook messages acknowledged per second in the interval.
    pub messages_per_sec: f64,
    /// p99 of the webhook answers in the interval, in ms (NaN: none).
    pub webhook_p99_ms: f64,
    /// Searches answered in the interval.
    pub searches: usize,
    /// p99 of the search answers in the interval, in ms (NaN: none).
    pub search_p99_ms: f64,
    /// The server's resident memory at the end of the interval, MiB.
    pub rss_mib: f64,
    /// The anonymous part of it (RssAnon), MiB.
    pub anon_mib: f64,
}

impl Sample {
    /// The sample as one report line.
    pub fn line(&self) -> String {
        format!(
            "{:>6.0} s  {:>8.1} messages/s  webhook p99 {:>7.1} ms  {:>5} searches  search p99 \
             {:>7.1} ms  server RSS {:>7.1} MiB (anonymous {:>7.1} MiB)",
            self.at.as_secs_f64(),
            self.messages_per_sec,
            self.webhook_p99_ms,
            self.searches,
            self.search_p99_ms,
            self.rss_mib,
            self.anon_mib
        )
    }
}

/// The whole run.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Every interval, in order.
    pub samples: Vec<Sample>,
    /// Webhook messages acknowledged (answered 200).
    pub messages: usize,
    /// Deliveries acknowledged.
    pub deliveries: usize,
    /// Searches answered 200.
    pub searches: usize,
    /// How long the load ran.
    pub elapsed: Duration,
    /// The target rate.
    pub target_rate: f64,
    /// Webhook latency percentiles over the run (p50, p95, p99), ms.
    pub webhook_ms: [f64; 3],
    /// Search latency percentiles over the run (p50, p95, p99), ms.
    pub search_ms: [f64; 3],
    /// The server's peak resident memory (VmHWM), MiB.
    pub peak_rss_mib: f64,
    /// The largest anonymous RSS of the first and of the last third of the
    /// samples.
    pub first_third_mib: f64,
    /// See [`Summary::first_third_mib`].
    pub last_third_mib: f64,
    /// Whether memory stayed bounded (see the module docs).
    pub bounded: bool,
    /// The journal's entries after the run (every acknowledged message,
    /// its delivery record and every search's audit record among them).
    pub entries: u64,
}

impl Summary {
    /// Messages acknowledged per second over the whole run.
    pub fn rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The summary as report lines.
    pub fn lines(&self) -> Vec<String> {
        vec![
            format!(
                "{} messages in {} deliveries in {:.0} s: {:.1} messages/s (target {:.1})",
                self.messages,
                self.deliveries,
                self.elapsed.as_secs_f64(),
                self.rate(),
                self.target_rate
            ),
            format!(
                "webhook latency p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms",
                self.webhook_ms[0], self.webhook_ms[1], self.webhook_ms[2]
            ),
            format!(
                "{} searches: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms",
                self.searches, self.search_ms[0], self.search_ms[1], self.search_ms[2]
            ),
            format!(
                "server memory: peak RSS {:.1} MiB; largest anonymous RSS in the first third \
                 {:.1} MiB, in the last third {:.1} MiB: {}",
                self.peak_rss_mib,
                self.first_third_mib,
                self.last_third_mib,
                if self.bounded {
                    "bounded"
                } else {
                    "NOT bounded"
                }
            ),
            format!("archive after the run: {} entries, verified", self.entries),
        ]
    }
}

/// Latencies of one kind, per interval and over the run, in ms.
#[derive(Default)]
struct Latencies {
    interval: Mutex<Vec<f64>>,
    all: Mutex<Vec<f64>>,
}

impl Latencies {
    fn record(&self, took: Duration) {
        let ms = took.as_secs_f64() * 1e3;
        self.interval.lock().expect("not poisoned").push(ms);
        self.all.lock().expect("not poisoned").push(ms);
    }

    fn take_interval(&self) -> Vec<f64> {
        std::mem::take(&mut *self.interval.lock().expect("not poisoned"))
    }
}

/// Runs the load as `options` says, reporting each interval to
/// `progress`; fails if any webhook or search is answered other than 200,
/// or a connection is lost.
pub fn run(options: &LoadOptions, progress: &mut dyn FnMut(&str)) -> Result<Summary> {
    anyhow::ensure!(
        options.rate > 0.0 && options.rate.is_finite(),
        "the target rate must be a positive number of messages per second"
    );
    anyhow::ensure!(
        options.per_delivery > 0 && options.connections > 0,
        "at least one message per delivery and one connection"
    );
    anyhow::ensure!(!options.interval.is_zero(), "the interval must not be zero");
    let parent = match &options.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| d.display().to_string())?;
            d.clone()
        }
        None => std::env::current_dir().context("finding the current directory")?,
    };
    let work = tempfile::Builder::new()
        .prefix(".custos-load-")
        .tempdir_in(&parent)
        .with_context(|| format!("making a temporary directory in {}", parent.display()))?;
    let data = work.path().join("data");
    let journal = custos_journal::Journal::init(&data, None, "custos-bench")
        .with_context(|| format!("creating an archive in {}", data.display()))?;
    // The searchers sign in as a compliance officer with an API token.
    let mut users = custos_auth::Users::default();
    users.add(
        &journal,
        "custos-bench",
        custos_auth::NewUser {
            id: "bench".into(),
            name: "Load searcher".into(),
            roles: [custos_auth::Role::ComplianceOfficer].into(),
            units: Vec::new(),
            custodian: None,
        },
        "a load-test passphrase",
    )?;
    let expires = custos_model::Timestamp::from_micros(
        custos_model::Timestamp::now().as_micros() + 24 * 3_600_000_000,
    );
    let (_, secret) = users.create_token(
        &journal,
        "custos-bench",
        "bench",
        &Default::default(),
        expires,
    )?;
    let bearer = format!("Bearer {}", secret.expose());
    journal.close()?;
    let server = Server::start(
        &options.custos_exe,
        &data,
        SECRET,
        &work.path().join("serve.log"),
    )?;
    progress(&format!(
        "custos serve (pid {}) on {}: {:.0} messages/s in deliveries of {} over {} connections, \
         {} searchers, for {:.0} s",
        server.pid(),
        server.addr,
        options.rate,
        options.per_delivery,
        options.connections,
        options.searchers,
        options.duration.as_secs_f64()
    ));

    let deliveries_per_sec = options.rate / options.per_delivery as f64;
    let webhooks = Latencies::default();
    let searches = Latencies::default();
    let next = AtomicU64::new(0);
    let acked_messages = AtomicUsize::new(0);
    let acked_deliveries = AtomicUsize::new(0);
    let searched = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let fail = |e: anyhow::Error| {
        failure.lock().expect("not poisoned").get_or_insert(e);
        stop.store(true, Ordering::SeqCst);
    };
    let addr = server.addr;
    let start = Instant::now();
    let mut samples = Vec::new();
    std::thread::scope(|scope| {
        for _ in 0..options.connections {
            let (webhooks, next, acked_messages, acked_deliveries, stop, fail) = (
                &webhooks,
                &next,
                &acked_messages,
                &acked_deliveries,
                &stop,
                &fail,
            );
            scope.spawn(move || {
                let mut client = match Client::connect(addr) {
                    Ok(c) => c,
                    Err(e) => return fail(anyhow::Error::new(e).context("connecting")),
                };
                while !stop.load(Ordering::SeqCst) {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    let due = Duration::from_secs_f64(k as f64 / deliveries_per_sec);
                    if due >= options.duration {
                        return;
                    }
                    if let Some(wait) = due.checked_sub(start.elapsed()) {
                        std::thread::sleep(wait);
                    }
                    let (body, _) = webhook::synthetic("load", k, options.per_delivery);
                    let signature = webhook::sign(SECRET.as_bytes(), body.as_bytes());
                    let sent = Instant::now();
                    match client.deliver(&signature, body.as_bytes()) {
                        Ok(200) => {
                            webhooks.record(sent.elapsed());
                            acked_messages.fetch_add(options.per_delivery, Ordering::SeqCst);
                            acked_deliveries.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(status) => {
                            return fail(anyhow::anyhow!("delivery {k} answered {status}"));
                        }
                        Err(e) => {
                            return fail(anyhow::Error::new(e).context(format!("delivery {k}")));
                        }
                    }
                }
            });
        }
        for s in 0..options.searchers {
            let (searches, searched, stop, fail) = (&searches, &searched, &stop, &fail);
            let bearer = &bearer;
            scope.spawn(move || {
                let mut client = match Client::connect(addr) {
                    Ok(c) => c,
                    Err(e) => return fail(anyhow::Error::new(e).context("connecting")),
                };
                let mut rng = workload::Rng::new(0x10ad + s as u64);
                while !stop.load(Ordering::SeqCst) && start.elapsed() < options.duration {
                    let word = workload::WORDS[rng.below(workload::WORDS.len() as u64) as usize];
                    // Quoted: some words carry characters the query
                    // language reserves (`8%`).
                    let target = format!(
                        "/api/v1/search?q={}&limit=20&reason=load",
                        encode(&format!("\"{word}\""))
                    );
                    let sent = Instant::now();
                    match client.request("GET", &target, &[("Authorization", bearer.as_str())], b"")
                    {
                        Ok(r) if r.status == 200 => {
                            searches.record(sent.elapsed());
                            searched.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(r) => {
                            return fail(anyhow::anyhow!(
                                "search {target} answered {}: {}",
                                r.status,
                                String::from_utf8_lossy(&r.body)
                            ));
                        }
                        Err(e) => {
                            return fail(anyhow::Error::new(e).context(format!("search {target}")));
                        }
                    }
                    std::thread::sleep(options.search_pause);
                }
            });
        }

        // The reporter: this thread.
        let mut last_messages = 0;
        let mut last_at = Duration::ZERO;
        loop {
            let end = (last_at + options.interval).min(options.duration);
            while start.elapsed() < end && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let at = start.elapsed();
            let messages = acked_messages.load(Ordering::SeqCst);
            let w = webhooks.take_interval();
            let s = searches.take_interval();
            let sample = Sample {
                at,
                messages_per_sec: (messages - last_messages) as f64
                    / (at - last_at).as_secs_f64().max(1e-9),
                webhook_p99_ms: percentile(&w, 99.0),
                searches: s.len(),
                search_p99_ms: percentile(&s, 99.0),
                rss_mib: server.memory_kib().unwrap_or(0) as f64 / 1024.0,
                anon_mib: server.anonymous_memory_kib().unwrap_or(0) as f64 / 1024.0,
            };
            progress(&sample.line());
            samples.push(sample);
            last_messages = messages;
            last_at = at;
            if at >= options.duration {
                break;
            }
        }
        // Senders past the end return by themselves; searchers too.
    });
    let elapsed = start.elapsed();
    let peak_rss_mib = server.peak_memory_kib().unwrap_or(0) as f64 / 1024.0;
    let log = server.log();
    if let Some(e) = failure.into_inner().expect("not poisoned") {
        drop(server);
        return Err(e.context(format!("under load; server log:\n{log}")));
    }
    let status = server.terminate(Duration::from_secs(120))?;
    if !status.success() {
        bail!("custos serve exited with {status}:\n{log}");
    }

    let messages = acked_messages.into_inner();
    let deliveries = acked_deliveries.into_inner();
    let searches_done = searched.into_inner();
    progress("server stopped; checking the archive holds every acknowledged message");
    let journal = custos_journal::Journal::open(&data, Default::default())?;
    let entries = journal.size();
    journal.close()?;
    // Each delivery is at least its raw body, its delivery record and its
    // messages; each search at least its audit record.
    let least = (messages + 2 * deliveries + searches_done) as u64;
    anyhow::ensure!(
        entries >= least,
        "the archive holds {entries} entries; {messages} messages in {deliveries} deliveries \
         and {searches_done} searches were acknowledged, which need at least {least}"
    );
    let report = custos_journal::verify(&data, None)
        .with_context(|| format!("verifying {} after the load", data.display()))?;
    anyhow::ensure!(
        report.entries == entries,
        "verify checked {} entries of {entries}",
        report.entries
    );

    let third = samples.len().div_ceil(3).max(1);
    let max_rss = |s: &[Sample]| s.iter().map(|s| s.anon_mib).fold(0.0, f64::max);
    let first_third_mib = max_rss(&samples[..third.min(samples.len())]);
    let last_third_mib = max_rss(&samples[samples.len().saturating_sub(third)..]);
    let pcts = |l: &Latencies| {
        let all = l.all.lock().expect("not poisoned");
        [
            percentile(&all, 50.0),
            percentile(&all, 95.0),
            percentile(&all, 99.0),
        ]
    };
    Ok(Summary {
        bounded: last_third_mib <= first_third_mib * (1.0 + options.memory_slack),
        webhook_ms: pcts(&webhooks),
        search_ms: pcts(&searches),
        samples,
        messages,
        deliveries,
        searches: searches_done,
        elapsed,
        target_rate: options.rate,
        peak_rss_mib,
        first_third_mib,
        last_third_mib,
        entries,
    })
}

/// `text` percent-encoded for a query string (every byte but ASCII
/// letters and digits).
fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_reads_as_one_line() {
        let s = Sample {
            at: Duration::from_secs(10),
            messages_per_sec: 199.5,
            webhook_p99_ms: 12.25,
            searches: 90,
            search_p99_ms: 30.0,
            rss_mib: 41.0,
            anon_mib: 20.5,
        };
        let line = s.line();
        assert!(!line.contains('\n'));
        for part in [
            "10 s",
            "199.5 messages/s",
            "12.2 ms",
            "90 searches",
            "41.0 MiB",
            "anonymous    20.5 MiB",
        ] {
            assert!(line.contains(part), "{part} missing from {line}");
        }
    }

    #[test]
    fn query_words_are_percent_encoded() {
        assert_eq!(encode("ação 1"), "a%C3%A7%C3%A3o%201");
    }

    #[test]
    fn bad_options_are_refused_before_anything_starts() {
        let mut options = LoadOptions::new(PathBuf::from("/nonexistent/custos"));
        options.rate = 0.0;
        let err = run(&options, &mut |_| {}).unwrap_err().to_string();
        assert!(err.contains("target rate"), "{err}");
    }
}
