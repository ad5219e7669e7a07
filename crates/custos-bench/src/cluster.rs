//! Cluster mode: durable ingest and search with two nodes on one
//! PostgreSQL, beside the embedded journal in the same run.
//!
//! Two [`Journal`]s open the same database from separate data directories
//! (two nodes in one process: each has its own writer thread, connection
//! and lease turns, as two `custos serve` processes would), and `writers`
//! threads per node append one message each at a time, every message
//! acknowledged only once committed in PostgreSQL. The peer is the
//! embedded journal with as many writers in all, on the same disk.
//!
//! Search ([`search_two_nodes`]): the demo corpus is appended through node
//! a; node b follows the database, and its own search index follows its
//! journal (as each `custos serve` node's does). Measured on node b: the
//! index built from the followed journal, the query mix of the search
//! group, and the lag from a message acknowledged on node a to the same
//! message found by a search on node b. The peer is an embedded archive
//! of the same messages with its own index, in the same run.
//!
//! The database comes from [`PG_ENV`] (or `CUSTOS_TEST_PG`, which
//! `scripts/pg-start` gives); without either the group is skipped with a
//! note. Each run makes a scratch database beside the one named.

use crate::ingest::Run;
use crate::workload::Record;
use anyhow::{Context, Result};
use custos_journal::{Journal, Kek, Options};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The environment variable naming the PostgreSQL server to measure on
/// (`postgres://user@host:port/db`; the role must be allowed to create
/// databases).
pub const PG_ENV: &str = "CUSTOS_BENCH_PG";

/// The database URL to measure on, if one is configured.
pub fn database_url() -> Option<String> {
    [PG_ENV, "CUSTOS_TEST_PG"]
        .into_iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|v| !v.trim().is_empty())
}

/// Appends `records` through two cluster nodes (data directories under
/// `dir`) sharing a fresh database beside `base_url`, `writers` threads
/// per node; stops at `limit`.
pub fn two_nodes(
    base_url: &str,
    dir: &Path,
    records: &[Record],
    writers: usize,
    limit: Duration,
) -> Result<Run> {
    let url = custos_journal::scratch_database(base_url).context("making a scratch database")?;
    let (kek, _) = Kek::generate();
    let first =
        custos_journal::init_cluster(&dir.join("a"), &url, Some(kek.clone()), "custos-bench")
            .context("creating the cluster archive")?;
    let second = Journal::open(
        &dir.join("b"),
        Options {
            kek: Some(kek),
            journal_url: Some(url.clone()),
            ..Options::default()
        },
    )
    .context("opening the second node")?;
    let nodes = [&first, &second];
    let writers = writers.max(1);
    let next = AtomicUsize::new(0);
    let stored = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let start = Instant::now();
    let capped = std::thread::scope(|scope| {
        for t in 0..2 * writers {
            let journal = nodes[t % 2];
            let (next, stored, stop, failure) = (&next, &stored, &stop, &failure);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(r) = records.get(i) else { break };
                    match journal.append(&r.event, Some(&r.subject)) {
                        Ok(a) if !a.duplicate => {
                            stored.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {
                            *failure.lock().expect("not poisoned") =
                                Some(anyhow::anyhow!("message {i} was taken for a duplicate"));
                            stop.store(true, Ordering::Relaxed);
                        }
                        Err(e) => {
                            *failure.lock().expect("not poisoned") = Some(e.into());
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
        let mut capped = false;
        while next.load(Ordering::Relaxed) < records.len() && !stop.load(Ordering::Relaxed) {
            if start.elapsed() >= limit {
                stop.store(true, Ordering::Relaxed);
                capped = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        capped
    });
    let elapsed = start.elapsed();
    if let Some(e) = failure.into_inner().expect("not poisoned") {
        return Err(e.context(format!(
            "appending through two nodes, {writers} writers each"
        )));
    }
    first.close().context("closing the first node")?;
    second.close().context("closing the second node")?;
    custos_journal::drop_scratch_database(base_url, &url)
        .context("dropping the scratch database")?;
    Ok(Run {
        stored: stored.into_inner(),
        elapsed,
        capped,
        per_fsync: 0.0,
    })
}

/// Search with two nodes: what [`search_two_nodes`] measured on node b
/// and on the embedded peer.
#[derive(Debug)]
pub struct SearchRun {
    /// Messages in the corpus.
    pub messages: usize,
    /// Node b's index built from its followed journal, messages/s.
    pub index_rate: f64,
    /// The embedded archive's index built the same way, messages/s.
    pub peer_index_rate: f64,
    /// Every timed query on node b's index, ms.
    pub millis: Vec<f64>,
    /// The same queries on the embedded index, ms.
    pub peer_millis: Vec<f64>,
    /// Acknowledged on node a → found on node b, ms, one per probe.
    pub lag: Vec<f64>,
    /// Acknowledged → found on the same embedded archive, ms.
    pub peer_lag: Vec<f64>,
}

/// The environment variable that sets the messages of the two-node
/// search (default: the search group's, at most a million).
pub const DOCS_ENV: &str = "CUSTOS_BENCH_CLUSTER_DOCS";

/// Probes of the acknowledged-to-searchable lag.
const LAG_PROBES: usize = 40;

/// Appends `messages` demo messages through node a of a fresh cluster
/// (under `dir`, database beside `base_url`), lets node b follow, and
/// measures search on node b beside an embedded archive of the same
/// messages; `runs` timed runs per query and order.
pub fn search_two_nodes(
    base_url: &str,
    dir: &Path,
    messages: usize,
    runs: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<SearchRun> {
    use crate::search::{Dataset, PAGE, mix};
    use custos_search::translate::NoState;
    use custos_search::{SearchIndex, SearchOptions, Sort};

    let url = custos_journal::scratch_database(base_url).context("making a scratch database")?;
    let (kek, _) = Kek::generate();
    let first =
        custos_journal::init_cluster(&dir.join("a"), &url, Some(kek.clone()), "custos-bench")
            .context("creating the cluster archive")?;
    let second = Journal::open(
        &dir.join("b"),
        Options {
            kek: Some(kek),
            journal_url: Some(url.clone()),
            ..Options::default()
        },
    )
    .context("opening the second node")?;
    let began = Instant::now();
    let data = Dataset::fill(first.clone(), messages)?;
    let size = first.size();
    while second.size() < size {
        anyhow::ensure!(
            began.elapsed() < Duration::from_secs(3600),
            "node b never caught up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    progress(&format!(
        "cluster search corpus: {messages} messages appended through node a and followed by node b in {:.1} s (not a figure)",
        began.elapsed().as_secs_f64()
    ));
    let peer = Dataset::build(&dir.join("embedded"), messages)?;

    let index = |name: &str, journal: &Journal| -> Result<(SearchIndex, f64)> {
        let index = SearchIndex::open(&dir.join(name))?;
        let began = Instant::now();
        index.catch_up(journal)?;
        let rate = messages as f64 / began.elapsed().as_secs_f64();
        anyhow::ensure!(
            index.messages() as usize == messages,
            "{name} holds {} of {messages} messages",
            index.messages()
        );
        Ok((index, rate))
    };
    let (on_b, index_rate) = index("index-b", &second)?;
    let (embedded, peer_index_rate) = index("index-embedded", &peer.journal)?;
    progress(&format!(
        "node b's index from its followed journal: {index_rate:.0} messages/s; embedded: {peer_index_rate:.0} messages/s"
    ));

    let (mut millis, mut peer_millis) = (Vec::new(), Vec::new());
    for q in mix(&data.params)? {
        let parsed =
            custos_query::parse(&q.custos).map_err(|e| anyhow::anyhow!("{}: {e}", q.custos))?;
        for sort in [Sort::Relevance, Sort::Newest] {
            let options = SearchOptions {
                sort,
                offset: 0,
                limit: PAGE,
            };
            let (b_total, e_total) = (
                on_b.search(&parsed, &NoState, &options)?.total,
                embedded.search(&parsed, &NoState, &options)?.total,
            );
            anyhow::ensure!(
                b_total == e_total,
                "{}: node b finds {b_total}, the embedded archive {e_total}",
                q.custos
            );
            // Interleaved, so both sides see the same machine.
            for _ in 0..runs {
                for (index, out) in [(&on_b, &mut millis), (&embedded, &mut peer_millis)] {
                    let began = Instant::now();
                    let query = custos_query::parse(&q.custos)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", q.custos))?;
                    std::hint::black_box(index.search(&query, &NoState, &options)?);
                    out.push(began.elapsed().as_secs_f64() * 1e3);
                }
            }
        }
    }

    // Acknowledged on one node, searchable on another: each probe is a
    // message with a word of its own; the clock runs from the append's
    // return (the commit) to the first search that finds it.
    let probe = |k: usize, on: &Journal, to: &Journal, index: &SearchIndex| -> Result<f64> {
        let word = format!("lagprobe{k}x{}", on.size());
        let event = custos_model::Event::Message(custos_model::Message {
            channel: "whatsapp".into(),
            source_id: word.clone(),
            conversation: "lag-probe".into(),
            sender: "+447700900001".into(),
            recipients: vec!["+5511900000001".into()],
            direction: custos_model::Direction::Outbound,
            sent_at: custos_model::Timestamp::now(),
            captured_at: custos_model::Timestamp::now(),
            text: Some(format!("probe {word}")),
            attachments: Vec::new(),
            reply_to: None,
            raw_digest: custos_model::Digest::of(word.as_bytes()),
            extra: Default::default(),
        });
        let query = custos_query::parse(&word).map_err(|e| anyhow::anyhow!("{word}: {e}"))?;
        let options = SearchOptions {
            sort: Sort::Newest,
            offset: 0,
            limit: 1,
        };
        on.append(&event, Some("+5511900000001"))?;
        let began = Instant::now();
        loop {
            index.catch_up(to)?;
            if index.search(&query, &NoState, &options)?.total == 1 {
                return Ok(began.elapsed().as_secs_f64() * 1e3);
            }
            anyhow::ensure!(
                began.elapsed() < Duration::from_secs(30),
                "{word} never became searchable"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    let (mut lag, mut peer_lag) = (Vec::new(), Vec::new());
    for k in 0..LAG_PROBES {
        lag.push(probe(k, &first, &second, &on_b)?);
        peer_lag.push(probe(k, &peer.journal, &peer.journal, &embedded)?);
    }
    drop((on_b, embedded));
    peer.journal
        .close()
        .context("closing the embedded archive")?;
    drop(data);
    first.close().context("closing the first node")?;
    second.close().context("closing the second node")?;
    custos_journal::drop_scratch_database(base_url, &url)
        .context("dropping the scratch database")?;
    Ok(SearchRun {
        messages,
        index_rate,
        peer_index_rate,
        millis,
        peer_millis,
        lag,
        peer_lag,
    })
}
