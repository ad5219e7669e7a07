//! Durable ingest: custos's group-commit appends against SQLite in WAL mode.

use crate::workload::Record;
use anyhow::{Context, Result};
use custos_journal::Journal;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, QueryBuilder, Sqlite};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

/// What one timed ingest run did.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    /// Messages (rows) stored and acknowledged durable.
    pub stored: usize,
    /// Wall time from the first append to the last acknowledgement.
    pub elapsed: Duration,
    /// The run stopped at the time limit before storing every message.
    pub capped: bool,
    /// Mean entries per fsync (group-commit batch); 0 where unknown.
    pub per_fsync: f64,
}

impl Run {
    /// Messages per second.
    pub fn rate(&self) -> f64 {
        self.stored as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Appends `records` to a fresh archive in `dir` from `writers` threads,
/// one `Journal::append` per message; stops early at `limit`. The archive
/// is closed (final head signed) after the clock stops.
pub fn custos(dir: &Path, records: &[Record], writers: usize, limit: Duration) -> Result<Run> {
    let journal = Journal::init(dir, None, "custos-bench")
        .with_context(|| format!("creating an archive in {}", dir.display()))?;
    let writers = writers.max(1);
    let next = AtomicUsize::new(0);
    let stored = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let start_line = Barrier::new(writers + 1);
    let (start, capped) = std::thread::scope(|scope| {
        for _ in 0..writers {
            scope.spawn(|| {
                start_line.wait();
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
        start_line.wait();
        let start = Instant::now();
        // Watch the clock while the writers work; the scope joins them.
        let mut capped = false;
        while next.load(Ordering::Relaxed) < records.len() && !stop.load(Ordering::Relaxed) {
            if start.elapsed() >= limit {
                stop.store(true, Ordering::Relaxed);
                capped = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        (start, capped)
    });
    let elapsed = start.elapsed();
    if let Some(e) = failure.into_inner().expect("not poisoned") {
        return Err(e.context(format!("appending with {writers} writers")));
    }
    let (batches, entries) = journal.commit_stats();
    let per_fsync = entries as f64 / batches.max(1) as f64;
    journal.close().context("closing the archive")?;
    Ok(Run {
        stored: stored.into_inner(),
        elapsed,
        capped,
        per_fsync,
    })
}

/// Like [`custos`], but the writers are `writers` async tasks on a tokio
/// runtime with one worker thread per core, each awaiting
/// `Journal::append_async`: how the HTTP server's handlers append.
pub fn custos_async(
    dir: &Path,
    records: &[Record],
    writers: usize,
    limit: Duration,
) -> Result<Run> {
    let journal = Journal::init(dir, None, "custos-bench")
        .with_context(|| format!("creating an archive in {}", dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .build()
        .context("starting a tokio runtime")?;
    let records: std::sync::Arc<[Record]> = records.to_vec().into();
    let next = std::sync::Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let results = runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..writers.max(1) {
            let (journal, records, next) = (journal.clone(), records.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut stored = 0usize;
                while start.elapsed() < limit {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(r) = records.get(i) else { break };
                    let appended = journal.append_async(&r.event, Some(&r.subject)).await?;
                    anyhow::ensure!(!appended.duplicate, "message {i} was taken for a duplicate");
                    stored += 1;
                }
                anyhow::Ok(stored)
            }));
        }
        let mut stored = 0;
        for task in tasks {
            stored += task.await.context("writer task")??;
        }
        anyhow::Ok(stored)
    });
    let elapsed = start.elapsed();
    let stored = results?;
    let (batches, entries) = journal.commit_stats();
    let per_fsync = entries as f64 / batches.max(1) as f64;
    journal.close().context("closing the archive")?;
    Ok(Run {
        stored,
        elapsed,
        capped: stored < records.len(),
        per_fsync,
    })
}

/// Inserts `records` into a fresh SQLite database at `path` (WAL,
/// `synchronous=FULL`, so every commit is durable) from one connection,
/// `batch` rows per transaction (1: every row its own commit); stops at a
/// commit boundary once `limit` has passed.
///
/// Each row holds the message's indexed, unique source id (SQLite's
/// counterpart of the journal's de-duplication), its subject, its send time
/// and the event's encoding as a blob, in clear (custos encrypts and hashes
/// each message as well).
pub fn sqlite(path: &Path, records: &[Record], batch: usize, limit: Duration) -> Result<Run> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a tokio runtime")?;
    runtime.block_on(sqlite_async(path, records, batch.max(1), limit))
}

/// The table; `seq` plays the journal's sequence number.
const SCHEMA: &str = "CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    source_id TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    event BLOB NOT NULL
)";

/// The most rows one `INSERT` carries (4 parameters each, well under
/// SQLite's limit of 32,766).
const ROWS_PER_STATEMENT: usize = 1_000;

type Row<'a> = (&'a str, &'a str, i64, Vec<u8>);

/// One multi-row `INSERT` of `rows`: one round trip to SQLite's thread per
/// statement rather than one per row, the fastest way sqlx offers.
fn insert(rows: &[Row<'_>]) -> QueryBuilder<Sqlite> {
    let mut q = QueryBuilder::new("INSERT INTO messages (source_id, subject, sent_at, event) ");
    q.push_values(rows, |mut b, (id, subject, sent_at, event)| {
        b.push_bind(*id)
            .push_bind(*subject)
            .push_bind(*sent_at)
            .push_bind(event.as_slice());
    });
    q
}

async fn sqlite_async(
    path: &Path,
    records: &[Record],
    batch: usize,
    limit: Duration,
) -> Result<Run> {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .connect()
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    sqlx::query(SCHEMA).execute(&mut conn).await?;
    // SQLite gets its blobs encoded before the clock starts; custos encodes
    // and encrypts inside `append`, on the clock.
    let rows: Vec<Row<'_>> = records
        .iter()
        .map(|r| {
            (
                r.source_id.as_str(),
                r.subject.as_str(),
                r.sent_at,
                r.event.encode(),
            )
        })
        .collect();
    let start = Instant::now();
    let mut stored = 0;
    let mut capped = false;
    for chunk in rows.chunks(batch) {
        if start.elapsed() >= limit {
            capped = true;
            break;
        }
        if chunk.len() <= ROWS_PER_STATEMENT {
            // One statement is one transaction, hence one durable commit.
            insert(chunk).build().execute(&mut conn).await?;
        } else {
            let mut tx = conn.begin().await?;
            for part in chunk.chunks(ROWS_PER_STATEMENT) {
                insert(part).build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
        stored += chunk.len();
    }
    let elapsed = start.elapsed();
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM messages")
        .fetch_one(&mut conn)
        .await?;
    anyhow::ensure!(
        count as usize == stored,
        "SQLite holds {count} rows, {stored} were inserted"
    );
    conn.close().await?;
    Ok(Run {
        stored,
        elapsed,
        capped,
        per_fsync: batch as f64,
    })
}
