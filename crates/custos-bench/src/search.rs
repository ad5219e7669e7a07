//! Search: indexing speed and query latency of the archive's full-text
//! index (`custos-search`) against SQLite FTS5 on the same messages, in
//! the same run.
//!
//! - **Corpus** ([`Dataset::build`]): realistic conversations from
//!   `custos-demo` (a London bank in English, a Brazilian pharma sales force
//!   in Portuguese, an Indian contact centre), each line parsed as the
//!   JSON-lines import parses it and appended to a real journal (subject:
//!   the external party). The build is not on any clock.
//! - **Indexing**: [`SearchIndex::catch_up`] over the whole journal (every
//!   entry read, decrypted and indexed; commits included), in messages per
//!   second, and the index's size on disk. Peer: the same entries read and
//!   decrypted the same way and loaded into SQLite (a `messages` table, its
//!   indexes and an external-content FTS5 table with
//!   `tokenize = 'unicode61 remove_diacritics 2'`, so accents fold as ours
//!   do), in 10,000-row transactions in WAL mode.
//! - **Queries**: a fixed mix of typical compliance queries ([`mix`]:
//!   words, phrases, proximity, folded accents, prefixes, OR, NOT, fuzzy,
//!   sender, direction, channel, conversation, attachments and date
//!   ranges), each run warm [`RUNS`] times for the top 20 by relevance and
//!   [`RUNS`] times for the 20 newest, page and total as `custos search`
//!   asks them ([`SearchIndex::search`]: query parsed, hits loaded, snippets
//!   made). The peer runs the same mix hand-translated to an FTS5 `MATCH`
//!   plus `WHERE` clauses on columns, ordered by `bm25()` or by time, with
//!   the total (`count(*) OVER ()`) and a `snippet()` per hit. Both sides
//!   must find the same number of messages for every query; the run says
//!   where they do not. Figures: p50, p95 and p99 over all runs.
//!
//! FTS5 has no fuzzy operator: a fuzzy word is given to it as the OR of
//! the words of its vocabulary (`fts5vocab`) within the edit distance,
//! looked up once before the clock starts (to the peer's advantage).

use crate::human;
use anyhow::{Context, Result, bail};
use custos_capture::jsonl;
use custos_journal::{Journal, NewEntry, Opened};
use custos_model::{Event, Message, Timestamp, party_id};
use custos_search::index::direction_name;
use custos_search::schema::attachment_kinds;
use custos_search::translate::NoState;
use custos_search::{SearchIndex, SearchOptions, Sort};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, QueryBuilder, Row, Sqlite};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Messages searched by default.
pub const DOCS: usize = 1_000_000;
/// Messages searched with `quick`.
pub const QUICK_DOCS: usize = 2_000;
/// The environment variable that sets the number of messages searched
/// (e.g. `10000000` for the 10-million figures).
pub const DOCS_ENV: &str = "CUSTOS_BENCH_SEARCH_DOCS";
/// Timed runs of each query in each order.
pub const RUNS: usize = 20;
/// The same with `quick`.
const QUICK_RUNS: usize = 3;
/// Hits per page.
pub const PAGE: usize = 20;
/// The demo generator's seed.
pub const SEED: u64 = 2026;
/// Messages per journal request while the corpus is built.
const APPEND_BATCH: usize = 10_000;
/// Rows per SQLite transaction while loading.
const SQLITE_TRANSACTION: usize = 10_000;
/// Rows per multi-row `INSERT` (10 parameters each, well under SQLite's
/// limit of 32,766).
const ROWS_PER_STATEMENT: usize = 1_000;

/// The archive the benchmarks search and export: a journal of demo
/// messages, and values taken from them for the query mix.
pub struct Dataset {
    /// The journal (open; close it when done).
    pub journal: Journal,
    /// Messages in it.
    pub messages: usize,
    /// How long building it took (not a figure).
    pub build: Duration,
    /// Values the query mix uses.
    pub params: Params,
}

/// Values from the corpus that the query mix names, so every query has
/// something to find at any corpus size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// The Brazilian number (party id) that sent the most messages.
    pub sender: String,
    /// The conversation with the most messages.
    pub conversation: String,
    /// The earliest send time, UTC microseconds.
    pub first: i64,
    /// The latest send time, UTC microseconds.
    pub last: i64,
}

impl Dataset {
    /// Generates `messages` demo messages (seed [`SEED`]) and appends them
    /// to a new journal in `dir`, in requests of 10,000: one thread makes
    /// and parses the lines, the calling thread encrypts and appends them.
    pub fn build(dir: &Path, messages: usize) -> Result<Dataset> {
        let journal = Journal::init(dir, None, "custos-bench")
            .with_context(|| format!("creating an archive in {}", dir.display()))?;
        Dataset::fill(journal, messages)
    }

    /// Appends `messages` demo messages (seed [`SEED`]) to `journal` (a new
    /// archive: embedded, or a cluster node), as [`Dataset::build`] does.
    pub fn fill(journal: Journal, messages: usize) -> Result<Dataset> {
        let began = Instant::now();
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<NewEntry>>(4);
        let config = custos_demo::DemoConfig {
            seed: SEED,
            messages,
        };
        let mut senders: HashMap<String, u64> = HashMap::new();
        let mut conversations: HashMap<String, u64> = HashMap::new();
        let (mut first, mut last) = (i64::MAX, i64::MIN);
        let appended = std::thread::scope(|scope| -> Result<usize> {
            let producer = scope.spawn(move || -> Result<()> {
                // Capture time is fixed so that every run stores the same events.
                let captured_at = Timestamp::from_micros(1_798_761_600_000_000);
                let mut batch = Vec::with_capacity(APPEND_BATCH);
                for (n, line) in custos_demo::generate(&config).enumerate() {
                    let message = jsonl::parse_line(&line, n as u64 + 1, captured_at)
                        .map_err(|e| anyhow::anyhow!("demo line {}: {e}", n + 1))?
                        .context("a blank demo line")?;
                    let subject = message.external_party().map(str::to_string);
                    batch.push(NewEntry {
                        event: Event::Message(message),
                        subject,
                    });
                    if batch.len() == APPEND_BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(APPEND_BATCH));
                        if tx.send(full).is_err() {
                            return Ok(());
                        }
                    }
                }
                if !batch.is_empty() {
                    tx.send(batch).ok();
                }
                Ok(())
            });
            let mut appended = 0;
            for batch in rx {
                for entry in &batch {
                    let Event::Message(m) = &entry.event else {
                        continue;
                    };
                    let sender = party_id(&m.sender);
                    if sender.starts_with("+55") {
                        *senders.entry(sender).or_default() += 1;
                    }
                    *conversations.entry(m.conversation.clone()).or_default() += 1;
                    first = first.min(m.sent_at.as_micros());
                    last = last.max(m.sent_at.as_micros());
                }
                appended += journal.append_all(&batch)?.len();
            }
            producer
                .join()
                .map_err(|_| anyhow::anyhow!("the demo generator panicked"))??;
            Ok(appended)
        })?;
        anyhow::ensure!(
            appended == messages,
            "{appended} of {messages} demo messages appended"
        );
        // The most frequent value; ties go to the smallest, so runs agree.
        let most = |counts: HashMap<String, u64>| {
            counts
                .into_iter()
                .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
                .map(|(v, _)| v)
        };
        let params = Params {
            sender: most(senders).context("no message from a Brazilian number in the corpus")?,
            conversation: most(conversations).context("an empty corpus")?,
            first,
            last,
        };
        Ok(Dataset {
            journal,
            messages,
            build: began.elapsed(),
            params,
        })
    }
}

/// The text of a mix query, as FTS5 is asked it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum FtsText {
    /// No text condition: the `messages` table alone.
    #[default]
    None,
    /// An FTS5 `MATCH` expression.
    Match(String),
    /// A fuzzy word: expanded through the vocabulary before the clock.
    Fuzzy {
        /// The word, folded.
        word: String,
        /// The edit distance (transpositions count one, as tantivy's).
        distance: u8,
    },
}

/// A mix query as SQLite is asked it: text in FTS5, the rest on columns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FtsQuery {
    /// The text condition.
    pub text: FtsText,
    /// `sender = ?` (a party id).
    pub sender: Option<String>,
    /// The sender or a recipient (a party id).
    pub participant: Option<String>,
    /// `channel = ?`.
    pub channel: Option<String>,
    /// `direction = ?`.
    pub direction: Option<String>,
    /// `conversation = ?`.
    pub conversation: Option<String>,
    /// `sent_at >= ?` (UTC microseconds).
    pub after: Option<i64>,
    /// `sent_at < ?` (UTC microseconds).
    pub before: Option<i64>,
    /// `has_attachment = 1`.
    pub has_attachment: bool,
    /// An attachment of this kind (see `attachment_kinds`).
    pub attachment: Option<String>,
}

/// One query of the mix, in both languages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MixQuery {
    /// The query as typed into custos.
    pub custos: String,
    /// The same question for SQLite FTS5.
    pub fts: FtsQuery,
}

/// A point in time for a query: its microseconds and how it is written
/// (a date when the corpus spans days, else a date and minute).
fn instant(micros: i64, whole_days: bool) -> Result<(i64, String)> {
    let unit: i64 = if whole_days {
        86_400_000_000
    } else {
        60_000_000
    };
    let at = micros - micros.rem_euclid(unit);
    let format = if whole_days {
        "%Y-%m-%d"
    } else {
        "%Y-%m-%dT%H:%M"
    };
    let text = jiff::Timestamp::from_microsecond(at)
        .context("a send time out of range")?
        .strftime(format)
        .to_string();
    Ok((at, text))
}

/// The query mix, with the sender, conversation and dates taken from
/// `params` (dates at a third and two thirds of the corpus's span).
pub fn mix(params: &Params) -> Result<Vec<MixQuery>> {
    let span = params.last - params.first;
    let whole_days = span >= 3 * 86_400_000_000;
    let (d1, d1_text) = instant(params.first + span / 3, whole_days)?;
    let (d2, d2_text) = instant(params.first + 2 * span / 3, whole_days)?;
    let sender = &params.sender;
    let conversation = &params.conversation;
    let text = |m: &str| FtsText::Match(m.to_string());
    let q = |custos: String, fts: FtsQuery| MixQuery { custos, fts };
    Ok(vec![
        q(
            "guarantee".into(),
            FtsQuery {
                text: text("guarantee"),
                ..Default::default()
            },
        ),
        q(
            "\"capital protected\"".into(),
            FtsQuery {
                text: text("\"capital protected\""),
                ..Default::default()
            },
        ),
        q(
            "\"guaranteed return\"~3".into(),
            FtsQuery {
                // NEAR is unordered where a phrase with slop is not; no
                // message of the corpus has "return" before "guaranteed".
                text: text("NEAR(guaranteed return, 3)"),
                ..Default::default()
            },
        ),
        q(
            "apresentacao".into(),
            FtsQuery {
                text: text("apresentacao"),
                ..Default::default()
            },
        ),
        q(
            "whats* OR telegram OR signal".into(),
            FtsQuery {
                text: text("whats* OR telegram OR signal"),
                ..Default::default()
            },
        ),
        q(
            format!("from:{sender} after:{d1_text}"),
            FtsQuery {
                sender: Some(sender.clone()),
                after: Some(d1),
                ..Default::default()
            },
        ),
        q(
            "direction:outbound AND (guarantee OR guaranteed OR prometeu)".into(),
            FtsQuery {
                text: text("guarantee OR guaranteed OR prometeu"),
                direction: Some("outbound".into()),
                ..Default::default()
            },
        ),
        q(
            "has:attachment attachment:pdf".into(),
            FtsQuery {
                has_attachment: true,
                attachment: Some("pdf".into()),
                ..Default::default()
            },
        ),
        q(
            "refund* -duplicate".into(),
            FtsQuery {
                text: text("refund* NOT duplicate"),
                ..Default::default()
            },
        ),
        q(
            "confirmaton~1".into(),
            FtsQuery {
                text: FtsText::Fuzzy {
                    word: "confirmaton".into(),
                    distance: 1,
                },
                ..Default::default()
            },
        ),
        q(
            format!("channel:whatsapp before:{d2_text} \"move this to signal\""),
            FtsQuery {
                text: text("\"move this to signal\""),
                channel: Some("whatsapp".into()),
                before: Some(d2),
                ..Default::default()
            },
        ),
        q(
            format!("conversation:{conversation}"),
            FtsQuery {
                conversation: Some(conversation.clone()),
                ..Default::default()
            },
        ),
        q(
            "inform*".into(),
            FtsQuery {
                text: text("inform*"),
                ..Default::default()
            },
        ),
        q(
            format!("telegram after:{d1_text} before:{d2_text}"),
            FtsQuery {
                text: text("telegram"),
                after: Some(d1),
                before: Some(d2),
                ..Default::default()
            },
        ),
        q(
            "\"me chama no telegram\"".into(),
            FtsQuery {
                text: text("\"me chama no telegram\""),
                ..Default::default()
            },
        ),
        q(
            format!("participant:{sender} (pedido OR amostra*)"),
            FtsQuery {
                text: text("pedido OR amostra*"),
                participant: Some(sender.clone()),
                ..Default::default()
            },
        ),
    ])
}

/// The SQLite schema: messages, attachment kinds and the FTS5 index of
/// the text (external content: the text is stored once, in `messages`).
const SCHEMA: &[&str] = &[
    "CREATE TABLE messages (
        seq INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,
        conversation TEXT NOT NULL,
        sender TEXT NOT NULL,
        recipients TEXT NOT NULL,
        direction TEXT NOT NULL,
        sent_at INTEGER NOT NULL,
        has_attachment INTEGER NOT NULL,
        source_id TEXT NOT NULL,
        text TEXT NOT NULL
    )",
    "CREATE TABLE recipients (seq INTEGER NOT NULL, address TEXT NOT NULL, \
     PRIMARY KEY (address, seq)) WITHOUT ROWID",
    "CREATE TABLE attachment_kinds (seq INTEGER NOT NULL, kind TEXT NOT NULL, \
     PRIMARY KEY (kind, seq)) WITHOUT ROWID",
    "CREATE VIRTUAL TABLE messages_fts USING fts5(text, content = 'messages', \
     content_rowid = 'seq', tokenize = 'unicode61 remove_diacritics 2')",
];

/// Indexes made once the rows are in (part of the peer's indexing time).
const INDEXES: &[&str] = &[
    "CREATE INDEX messages_sent_at ON messages (sent_at)",
    "CREATE INDEX messages_sender ON messages (sender, sent_at)",
    "CREATE INDEX messages_conversation ON messages (conversation, sent_at)",
];

/// A SQLite database of the corpus.
pub struct FtsDb {
    /// Its file.
    pub path: PathBuf,
    conn: SqliteConnection,
    runtime: tokio::runtime::Runtime,
}

/// What loading SQLite took.
#[derive(Clone, Debug)]
pub struct FtsLoad {
    /// Messages loaded.
    pub messages: usize,
    /// Rows, FTS5 index and column indexes (the figure's time).
    pub load: Duration,
    /// The FTS5 `optimize` run after (not in the figure).
    pub optimize: Duration,
}

type MessageRow = (u64, Message);

fn insert_messages(rows: &[MessageRow]) -> QueryBuilder<Sqlite> {
    let mut q = QueryBuilder::new(
        "INSERT INTO messages (seq, channel, conversation, sender, recipients, direction, \
         sent_at, has_attachment, source_id, text) ",
    );
    q.push_values(rows, |mut b, (seq, m)| {
        let recipients: Vec<String> = m.recipients.iter().map(|r| party_id(r)).collect();
        b.push_bind(*seq as i64)
            .push_bind(m.channel.to_lowercase())
            .push_bind(m.conversation.clone())
            .push_bind(party_id(&m.sender))
            .push_bind(recipients.join(" "))
            .push_bind(direction_name(m.direction))
            .push_bind(m.sent_at.as_micros())
            .push_bind(i64::from(!m.attachments.is_empty()))
            .push_bind(m.source_id.clone())
            .push_bind(m.text.clone().unwrap_or_default());
    });
    q
}

fn insert_pairs(table: &str, pairs: &[(i64, String)]) -> QueryBuilder<Sqlite> {
    let mut q = QueryBuilder::new(format!("INSERT OR IGNORE INTO {table} "));
    q.push_values(pairs, |mut b, (seq, value)| {
        b.push_bind(*seq).push_bind(value.clone());
    });
    q
}

impl FtsDb {
    /// Creates the database at `path` and loads every message of
    /// `journal` into it (read and decrypted as the index's catch-up does),
    /// timing the load.
    pub fn load(path: &Path, journal: &Journal) -> Result<(FtsDb, FtsLoad)> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting a tokio runtime")?;
        let mut conn = runtime.block_on(async {
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                // The peer's best case for reads: 256 MiB of page cache and
                // the file mapped, as tantivy maps its index.
                .pragma("cache_size", "-262144")
                .pragma("mmap_size", "17179869184")
                .connect()
                .await
                .with_context(|| format!("opening {}", path.display()))
        })?;
        let began = Instant::now();
        let messages = runtime.block_on(async {
            for statement in SCHEMA {
                sqlx::query(*statement).execute(&mut conn).await?;
            }
            let mut rows: Vec<MessageRow> = Vec::with_capacity(SQLITE_TRANSACTION);
            let mut loaded = 0;
            for entry in journal.entries(0) {
                let entry = entry?;
                if let Opened::Event(Event::Message(m)) = journal.open_entry(&entry)? {
                    rows.push((entry.leaf.seq, m));
                }
                if rows.len() == SQLITE_TRANSACTION {
                    loaded += store(&mut conn, &rows).await?;
                    rows.clear();
                }
            }
            loaded += store(&mut conn, &rows).await?;
            for statement in INDEXES {
                sqlx::query(*statement).execute(&mut conn).await?;
            }
            sqlx::query("ANALYZE").execute(&mut conn).await?;
            anyhow::Ok(loaded)
        })?;
        let load = began.elapsed();
        let began = Instant::now();
        runtime.block_on(
            sqlx::query("INSERT INTO messages_fts (messages_fts) VALUES ('optimize')")
                .execute(&mut conn),
        )?;
        let optimize = began.elapsed();
        Ok((
            FtsDb {
                path: path.to_path_buf(),
                conn,
                runtime,
            },
            FtsLoad {
                messages,
                load,
                optimize,
            },
        ))
    }

    /// The database's bytes on disk (with its write-ahead log).
    pub fn size(&self) -> u64 {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        file_size(&self.path) + file_size(Path::new(&wal))
    }

    /// Expands fuzzy words into the OR of the words of the FTS5
    /// vocabulary within their distance.
    pub fn expand(&mut self, query: &FtsQuery) -> Result<FtsQuery> {
        let FtsText::Fuzzy { word, distance } = &query.text else {
            return Ok(query.clone());
        };
        let len = word.chars().count() as i64;
        let d = i64::from(*distance);
        let terms: Vec<(String,)> = self.runtime.block_on(async {
            sqlx::query(
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.messages_vocab \
                 USING fts5vocab(main, messages_fts, row)",
            )
            .execute(&mut self.conn)
            .await?;
            sqlx::query_as(
                "SELECT term FROM temp.messages_vocab WHERE length(term) BETWEEN ? AND ?",
            )
            .bind(len - d)
            .bind(len + d)
            .fetch_all(&mut self.conn)
            .await
        })?;
        let near: Vec<String> = terms
            .into_iter()
            .filter(|(t,)| edit_distance(word, t) <= *distance as usize)
            .map(|(t,)| format!("\"{}\"", t.replace('"', "\"\"")))
            .collect();
        let mut out = query.clone();
        out.text = if near.is_empty() {
            // A word no message holds: nothing matches.
            FtsText::Match("\"\u{1}\"".into())
        } else {
            FtsText::Match(near.join(" OR "))
        };
        Ok(out)
    }

    /// Runs `query` (already [expanded](FtsDb::expand)) for one page in
    /// `sort` order; returns the total and the page's seqs.
    pub fn search(&mut self, query: &FtsQuery, sort: Sort) -> Result<(usize, Vec<u64>)> {
        let statements = fts_sql(query, sort)?;
        let (total, rows) = self.runtime.block_on(async {
            let bind = |sql: &str| {
                let mut q = sqlx::query(AssertSqlSafe(sql.to_string()));
                for b in &statements.binds {
                    q = match b {
                        Bind::Text(t) => q.bind(t.clone()),
                        Bind::Int(i) => q.bind(*i),
                    };
                }
                q
            };
            let total = bind(&statements.count).fetch_one(&mut self.conn).await?;
            let rows = bind(&statements.page).fetch_all(&mut self.conn).await?;
            anyhow::Ok((total, rows))
        })?;
        let total = total.try_get::<i64, _>(0)? as usize;
        let mut seqs = Vec::with_capacity(rows.len());
        for row in &rows {
            seqs.push(row.try_get::<i64, _>(0)? as u64);
            let _snippet: String = row.try_get(2)?;
        }
        Ok((total, seqs))
    }

    /// Every row of the tables the corpus is in (`messages`,
    /// `recipients`, `attachment_kinds`; not FTS5's own tables, which are
    /// derived) as `sqlite3 .dump` writes them, `INSERT INTO t VALUES(...);`
    /// a line, to `out`; returns the messages written.
    pub fn dump(&mut self, out: &mut dyn std::io::Write) -> Result<usize> {
        const CHUNK: i64 = 10_000;
        let mut messages = 0;
        for (table, sql) in [
            (
                "messages",
                "SELECT seq, channel, conversation, sender, recipients, direction, sent_at, \
                 has_attachment, source_id, text FROM messages WHERE seq >= ? AND seq < ? \
                 ORDER BY seq",
            ),
            (
                "recipients",
                "SELECT seq, address FROM recipients WHERE seq >= ? AND seq < ?",
            ),
            (
                "attachment_kinds",
                "SELECT seq, kind FROM attachment_kinds WHERE seq >= ? AND seq < ?",
            ),
        ] {
            let (end,): (Option<i64>,) = self.runtime.block_on(
                sqlx::query_as("SELECT max(seq) FROM messages").fetch_one(&mut self.conn),
            )?;
            let end = end.unwrap_or(-1) + 1;
            let mut from = 0;
            let mut line = String::new();
            while from < end {
                let rows: Vec<SqliteRow> = self.runtime.block_on(
                    sqlx::query(sql)
                        .bind(from)
                        .bind(from + CHUNK)
                        .fetch_all(&mut self.conn),
                )?;
                for row in &rows {
                    line.clear();
                    line.push_str("INSERT INTO ");
                    line.push_str(table);
                    line.push_str(" VALUES(");
                    for i in 0..row.len() {
                        if i > 0 {
                            line.push(',');
                        }
                        match row.try_get::<i64, _>(i) {
                            Ok(v) => line.push_str(&v.to_string()),
                            Err(_) => {
                                let v: String = row.try_get(i)?;
                                line.push('\'');
                                line.push_str(&v.replace('\'', "''"));
                                line.push('\'');
                            }
                        }
                    }
                    line.push_str(");\n");
                    out.write_all(line.as_bytes())?;
                }
                if table == "messages" {
                    messages += rows.len();
                }
                from += CHUNK;
            }
        }
        Ok(messages)
    }

    /// Closes the connection.
    pub fn close(self) -> Result<()> {
        let FtsDb { conn, runtime, .. } = self;
        runtime.block_on(conn.close())?;
        Ok(())
    }
}

async fn store(conn: &mut SqliteConnection, rows: &[MessageRow]) -> Result<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut tx = conn.begin().await?;
    for part in rows.chunks(ROWS_PER_STATEMENT) {
        insert_messages(part).build().execute(&mut *tx).await?;
        let mut recipients = Vec::new();
        let mut kinds = Vec::new();
        for (seq, m) in part {
            for r in &m.recipients {
                recipients.push((*seq as i64, party_id(r)));
            }
            for a in &m.attachments {
                for kind in attachment_kinds(&a.media_type, a.name.as_deref()) {
                    kinds.push((*seq as i64, kind));
                }
            }
        }
        for chunk in recipients.chunks(ROWS_PER_STATEMENT) {
            insert_pairs("recipients", chunk)
                .build()
                .execute(&mut *tx)
                .await?;
        }
        for chunk in kinds.chunks(ROWS_PER_STATEMENT) {
            insert_pairs("attachment_kinds", chunk)
                .build()
                .execute(&mut *tx)
                .await?;
        }
    }
    let (first, last) = (rows[0].0 as i64, rows[rows.len() - 1].0 as i64);
    sqlx::query(
        "INSERT INTO messages_fts (rowid, text) SELECT seq, text FROM messages \
         WHERE seq BETWEEN ? AND ?",
    )
    .bind(first)
    .bind(last)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows.len())
}

enum Bind {
    Text(String),
    Int(i64),
}

/// The SQL of a query: the page (seq, send time, snippet) and the total,
/// with their parameters (the same for both).
struct Statements {
    page: String,
    count: String,
    binds: Vec<Bind>,
}

fn fts_sql(q: &FtsQuery, sort: Sort) -> Result<Statements> {
    let mut binds = Vec::new();
    let mut conditions = Vec::new();
    let matching = match &q.text {
        FtsText::None => None,
        FtsText::Match(m) => Some(m.clone()),
        FtsText::Fuzzy { .. } => bail!("a fuzzy query must be expanded first"),
    };
    // bm25() and snippet() cannot be used beside a window function, so
    // the total is a second statement over the same rows.
    let from = if let Some(m) = matching {
        conditions.push("messages_fts MATCH ?".to_string());
        binds.push(Bind::Text(m));
        "FROM messages_fts JOIN messages m ON m.seq = messages_fts.rowid"
    } else {
        "FROM messages m"
    };
    if let Some(s) = &q.sender {
        conditions.push("m.sender = ?".into());
        binds.push(Bind::Text(s.clone()));
    }
    if let Some(p) = &q.participant {
        conditions.push(
            "(m.sender = ? OR m.seq IN (SELECT seq FROM recipients WHERE address = ?))".into(),
        );
        binds.push(Bind::Text(p.clone()));
        binds.push(Bind::Text(p.clone()));
    }
    for (column, value) in [
        ("channel", &q.channel),
        ("direction", &q.direction),
        ("conversation", &q.conversation),
    ] {
        if let Some(v) = value {
            conditions.push(format!("m.{column} = ?"));
            binds.push(Bind::Text(v.clone()));
        }
    }
    if let Some(t) = q.after {
        conditions.push("m.sent_at >= ?".into());
        binds.push(Bind::Int(t));
    }
    if let Some(t) = q.before {
        conditions.push("m.sent_at < ?".into());
        binds.push(Bind::Int(t));
    }
    if q.has_attachment {
        conditions.push("m.has_attachment = 1".into());
    }
    if let Some(kind) = &q.attachment {
        conditions.push("m.seq IN (SELECT seq FROM attachment_kinds WHERE kind = ?)".into());
        binds.push(Bind::Text(kind.clone()));
    }
    let mut filter = from.to_string();
    if !conditions.is_empty() {
        filter.push_str(" WHERE ");
        filter.push_str(&conditions.join(" AND "));
    }
    let count = format!("SELECT count(*) {filter}");
    let mut sql = if matches!(q.text, FtsText::None) {
        format!("SELECT m.seq, m.sent_at, substr(m.text, 1, 200) {filter}")
    } else {
        format!("SELECT m.seq, m.sent_at, snippet(messages_fts, 0, '[', ']', '…', 24) {filter}")
    };
    sql.push_str(match (sort, matches!(q.text, FtsText::None)) {
        (Sort::Relevance, false) => " ORDER BY bm25(messages_fts)",
        // Without text there is no relevance: journal order.
        (Sort::Relevance, true) => " ORDER BY m.seq",
        (Sort::Newest, _) => " ORDER BY m.sent_at DESC",
        (Sort::Oldest, _) => " ORDER BY m.sent_at",
    });
    sql.push_str(&format!(" LIMIT {PAGE}"));
    Ok(Statements {
        page: sql,
        count,
        binds,
    })
}

/// Edit distance with adjacent transpositions counted as one edit (the
/// optimal string alignment distance), as tantivy's fuzzy query counts.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Bytes of every file under `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            total += dir_size(&path);
        } else {
            total += file_size(&path);
        }
    }
    total
}

/// Latencies of one query in one order, in milliseconds, and its total.
#[derive(Clone, Debug, Default)]
pub struct Timings {
    /// Messages matching (the total of the first run).
    pub total: usize,
    /// One per timed run.
    pub millis: Vec<f64>,
}

/// One query's results on both sides.
#[derive(Clone, Debug)]
pub struct QueryResult {
    /// The query as typed into custos.
    pub custos: String,
    /// custos, top 20 by relevance.
    pub custos_relevance: Timings,
    /// custos, 20 newest.
    pub custos_newest: Timings,
    /// FTS5, top 20 by bm25.
    pub fts_relevance: Timings,
    /// FTS5, 20 newest.
    pub fts_newest: Timings,
}

/// Everything the search benchmark measured.
#[derive(Clone, Debug)]
pub struct Measured {
    /// Messages indexed.
    pub messages: usize,
    /// Journal entries read by the catch-up.
    pub entries: u64,
    /// The catch-up's time.
    pub index: Duration,
    /// The index's bytes on disk.
    pub index_bytes: u64,
    /// The SQLite load.
    pub fts: FtsLoad,
    /// The SQLite database's bytes on disk.
    pub fts_bytes: u64,
    /// Per query.
    pub queries: Vec<QueryResult>,
}

/// A count for people: `73`, `2,388`.
fn count(n: usize) -> String {
    if n < 1_000 {
        n.to_string()
    } else {
        human(n as f64)
    }
}

/// The `p`-th percentile (0–100) of `values` by nearest rank.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Measured {
    /// Every custos run's latency (both orders, all queries).
    pub fn custos_millis(&self) -> Vec<f64> {
        self.queries
            .iter()
            .flat_map(|q| {
                q.custos_relevance
                    .millis
                    .iter()
                    .chain(&q.custos_newest.millis)
            })
            .copied()
            .collect()
    }

    /// Every FTS5 run's latency.
    pub fn fts_millis(&self) -> Vec<f64> {
        self.queries
            .iter()
            .flat_map(|q| q.fts_relevance.millis.iter().chain(&q.fts_newest.millis))
            .copied()
            .collect()
    }

    /// The queries where custos and FTS5 found a different number of
    /// messages: (query, custos total, FTS5 total).
    pub fn disagreements(&self) -> Vec<(String, usize, usize)> {
        self.queries
            .iter()
            .filter(|q| q.custos_relevance.total != q.fts_relevance.total)
            .map(|q| {
                (
                    q.custos.clone(),
                    q.custos_relevance.total,
                    q.fts_relevance.total,
                )
            })
            .collect()
    }
}

/// Indexes `data`'s journal into a new index in `work`, loads SQLite FTS5
/// with the same entries, and times the query mix on both, `runs` times
/// per query and order. Returns the measurements and the SQLite database
/// (the RSMF export's peer dumps it).
pub fn measure(
    work: &Path,
    data: &Dataset,
    runs: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<(Measured, FtsDb)> {
    let index_dir = work.join("search-index");
    let index = SearchIndex::open(&index_dir)?;
    let began = Instant::now();
    let entries = index.catch_up(&data.journal)?;
    let index_time = began.elapsed();
    let index_bytes = dir_size(&index_dir);
    anyhow::ensure!(
        index.messages() as usize == data.messages,
        "the index holds {} messages, the journal {}",
        index.messages(),
        data.messages
    );
    progress(&format!(
        "search index: {} messages (catch_up over {} entries) in {:.1} s = {:.0} messages/s, \
         {:.1} MiB on disk",
        human(data.messages as f64),
        human(entries as f64),
        index_time.as_secs_f64(),
        data.messages as f64 / index_time.as_secs_f64(),
        index_bytes as f64 / 1_048_576.0
    ));

    let (mut db, fts) = FtsDb::load(&work.join("search-fts5.db"), &data.journal)?;
    let fts_bytes = db.size();
    progress(&format!(
        "SQLite FTS5: {} messages loaded (rows, FTS5, indexes) in {:.1} s = {:.0} messages/s, \
         then optimize {:.1} s; {:.1} MiB on disk",
        human(fts.messages as f64),
        fts.load.as_secs_f64(),
        fts.messages as f64 / fts.load.as_secs_f64(),
        fts.optimize.as_secs_f64(),
        fts_bytes as f64 / 1_048_576.0
    ));

    let queries = mix(&data.params)?;
    let mut results = Vec::new();
    for q in &queries {
        let parsed = custos_query::parse(&q.custos)
            .map_err(|e| anyhow::anyhow!("query {:?}: {e}", q.custos))?;
        let expanded = db.expand(&q.fts)?;
        let mut custos_sides = Vec::new();
        let mut fts_sides = Vec::new();
        for sort in [Sort::Relevance, Sort::Newest] {
            let options = SearchOptions {
                sort,
                offset: 0,
                limit: PAGE,
            };
            // Warm once, then time: the query is parsed on every run, as
            // `custos search` parses what it is given.
            let total = index.search(&parsed, &NoState, &options)?.total;
            let mut millis = Vec::with_capacity(runs);
            for _ in 0..runs {
                let began = Instant::now();
                let query = custos_query::parse(&q.custos)
                    .map_err(|e| anyhow::anyhow!("query {:?}: {e}", q.custos))?;
                let results = index.search(&query, &NoState, &options)?;
                std::hint::black_box(&results);
                millis.push(began.elapsed().as_secs_f64() * 1e3);
            }
            custos_sides.push(Timings { total, millis });

            let (total, _) = db.search(&expanded, sort)?;
            let mut millis = Vec::with_capacity(runs);
            for _ in 0..runs {
                let began = Instant::now();
                let page = db.search(&expanded, sort)?;
                std::hint::black_box(&page);
                millis.push(began.elapsed().as_secs_f64() * 1e3);
            }
            fts_sides.push(Timings { total, millis });
        }
        let [custos_relevance, custos_newest]: [Timings; 2] =
            custos_sides.try_into().expect("two orders");
        let [fts_relevance, fts_newest]: [Timings; 2] = fts_sides.try_into().expect("two orders");
        progress(&format!(
            "  {:<58} {:>9} hits  custos p50 {:>7.2} / p95 {:>7.2} ms  FTS5 p50 {:>8.2} / p95 \
             {:>8.2} ms{}",
            q.custos,
            count(custos_relevance.total),
            percentile(
                &[
                    custos_relevance.millis.clone(),
                    custos_newest.millis.clone()
                ]
                .concat(),
                50.0
            ),
            percentile(
                &[
                    custos_relevance.millis.clone(),
                    custos_newest.millis.clone()
                ]
                .concat(),
                95.0
            ),
            percentile(
                &[fts_relevance.millis.clone(), fts_newest.millis.clone()].concat(),
                50.0
            ),
            percentile(
                &[fts_relevance.millis.clone(), fts_newest.millis.clone()].concat(),
                95.0
            ),
            if custos_relevance.total == fts_relevance.total {
                String::new()
            } else {
                format!("  (FTS5 finds {})", count(fts_relevance.total))
            }
        ));
        results.push(QueryResult {
            custos: q.custos.clone(),
            custos_relevance,
            custos_newest,
            fts_relevance,
            fts_newest,
        });
    }
    Ok((
        Measured {
            messages: data.messages,
            entries,
            index: index_time,
            index_bytes,
            fts,
            fts_bytes,
            queries: results,
        },
        db,
    ))
}

/// Runs the search benchmark and returns its figures.
pub fn figures(
    work: &Path,
    data: &Dataset,
    quick: bool,
    progress: &mut dyn FnMut(&str),
) -> Result<(Vec<crate::Figure>, FtsDb)> {
    let runs = if quick { QUICK_RUNS } else { RUNS };
    let (m, db) = measure(work, data, runs, progress)?;
    let n = human(m.messages as f64);
    let custos = m.custos_millis();
    let fts = m.fts_millis();
    let disagreements = m.disagreements();
    if disagreements.is_empty() {
        progress(&format!(
            "custos and FTS5 find the same number of messages for all {} queries",
            m.queries.len()
        ));
    } else {
        for (q, c, f) in &disagreements {
            progress(&format!(
                "hits differ for {q}: custos {c}, FTS5 {f} (the peer does not answer the same \
                 question)"
            ));
        }
    }
    let p95 = (percentile(&custos, 95.0), percentile(&fts, 95.0));
    progress(&format!(
        "search, {n} messages, {} queries x 2 orders x {runs} runs: custos p50 {:.2} / p95 \
         {:.2} / p99 {:.2} ms; FTS5 p50 {:.2} / p95 {:.2} / p99 {:.2} ms; FTS5 p95 / custos \
         p95 = {:.1}x",
        m.queries.len(),
        percentile(&custos, 50.0),
        p95.0,
        percentile(&custos, 99.0),
        percentile(&fts, 50.0),
        p95.1,
        percentile(&fts, 99.0),
        p95.1 / p95.0
    ));
    let mut figures = vec![
        crate::Figure {
            name: format!("search index build (catch_up), {n} messages"),
            value: m.messages as f64 / m.index.as_secs_f64(),
            unit: "messages/s".into(),
            peer: Some((
                "SQLite FTS5 load (same entries)".into(),
                m.fts.messages as f64 / m.fts.load.as_secs_f64(),
            )),
            peak_mib: None,
        },
        crate::Figure {
            name: format!("search index size, {n} messages"),
            value: m.index_bytes as f64 / 1_048_576.0,
            unit: "MiB".into(),
            peer: Some((
                "SQLite FTS5 database".into(),
                m.fts_bytes as f64 / 1_048_576.0,
            )),
            peak_mib: None,
        },
    ];
    for p in [50.0, 95.0, 99.0] {
        figures.push(crate::Figure {
            name: format!("search p{p:.0}, {n} messages, top {PAGE}"),
            value: percentile(&custos, p),
            unit: "ms".into(),
            peer: Some(("SQLite FTS5 (same queries)".into(), percentile(&fts, p))),
            peak_mib: None,
        });
    }
    Ok((figures, db))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_a_transposition_as_one() {
        assert_eq!(edit_distance("confirmaton", "confirmation"), 1);
        assert_eq!(edit_distance("confirmation", "confrimation"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 50.0);
        assert_eq!(percentile(&values, 95.0), 95.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&[3.0], 99.0), 3.0);
        assert!(percentile(&[], 50.0).is_nan());
    }
}

#[cfg(test)]
mod end_to_end {
    use super::*;

    /// Both benchmarks at a tiny size: figures come out, and custos and
    /// FTS5 find the same messages' count for every query of the mix.
    #[test]
    fn search_and_export_run_and_fts5_answers_the_same_questions() {
        let work = tempfile::tempdir().unwrap();
        let data = Dataset::build(&work.path().join("archive"), QUICK_DOCS).unwrap();
        let mut lines = Vec::new();
        let (m, mut db) =
            measure(work.path(), &data, 2, &mut |l| lines.push(l.to_string())).unwrap();
        assert_eq!(m.messages, QUICK_DOCS);
        assert_eq!(m.fts.messages, QUICK_DOCS);
        assert!(m.index_bytes > 0 && m.fts_bytes > 0);
        assert_eq!(m.queries.len(), mix(&data.params).unwrap().len());
        for q in &m.queries {
            let totals = [
                q.custos_relevance.total,
                q.custos_newest.total,
                q.fts_relevance.total,
                q.fts_newest.total,
            ];
            assert!(
                totals.iter().all(|&t| t == totals[0]),
                "{}: custos {} / {}, FTS5 {} / {}",
                q.custos,
                totals[0],
                totals[1],
                totals[2],
                totals[3]
            );
            assert_eq!(q.custos_relevance.millis.len(), 2);
            assert_eq!(q.fts_newest.millis.len(), 2);
        }
        // The agreement means something only if most queries find messages.
        let finding = m
            .queries
            .iter()
            .filter(|q| q.custos_relevance.total > 0)
            .count();
        assert!(finding * 4 >= m.queries.len() * 3, "{lines:#?}");

        let figures = crate::rsmf_export::figures(work.path(), &data, &mut db, &mut |l| {
            lines.push(l.to_string())
        })
        .unwrap();
        assert_eq!(figures.len(), 2);
        for f in &figures {
            assert!(
                f.value > 0.0 && f.peer.as_ref().is_some_and(|p| p.1 > 0.0),
                "{f:?}"
            );
        }
        assert!(
            figures[0].name.contains("2,000 messages"),
            "{:?}",
            figures[0]
        );
        db.close().unwrap();
        data.journal.close().unwrap();
    }
}
