//! Cluster mode: durable ingest with two nodes on one PostgreSQL, beside
//! the embedded journal in the same run.
//!
//! Two [`Journal`]s open the same database from separate data directories
//! (two nodes in one process: each has its own writer thread, connection
//! and lease turns, as two `custos serve` processes would), and `writers`
//! threads per node append one message each at a time, every message
//! acknowledged only once committed in PostgreSQL. The peer is the
//! embedded journal with as many writers in all, on the same disk.
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
