//! Cluster mode: the journal on PostgreSQL, shared by any number of nodes.
//!
//! PostgreSQL is the source of truth (`migrations/`: `journal_entries`,
//! `journal_heads`, `journal_keys`, `journal_blobs`, `journal_meta`); each
//! node's data directory is a cache of it (the same segment, heads and key
//! files as the embedded journal) plus its own projections, so readers,
//! the search index and the supervisor work unchanged.
//!
//! **The lease.** Each node's writer thread commits a batch in one
//! transaction on its own connection: `pg_advisory_xact_lock(SHARD)`, then
//! it catches up with what other nodes committed (taking their entries
//! into its segments, tree and de-duplication index exactly as `open`
//! does), and only then numbers, de-duplicates and frames its own batch,
//! inserts it and commits. Appenders are answered after the commit:
//! PostgreSQL's commit is the durability point (the local segment is a
//! cache, written after it and not fsynced). So one writer appends per
//! shard at a time; the primary key on `seq` is a second fence (a stale
//! writer's insert fails and its batch gets the error, nothing is
//! acknowledged). A node killed mid-write leaves an aborted transaction:
//! PostgreSQL releases the lock and the next writer goes on.
//!
//! Keys, heads and shredding also go through the writer under the lease,
//! so the key of a (subject, month) is created once for all nodes (a
//! keyed hash of its name is unique among live keys), keys are committed
//! before the entries they seal, and the chain of heads has one order.
//! Between batches the writer catches up when told: each batch's insert
//! also notifies (`pg_notify('custos_journal', node)`, delivered at
//! commit), and a listener thread on its own connection wakes the writer
//! of every other node. It also catches up every [`FOLLOW_EVERY`] without
//! being told (a notification lost with a connection, keys and heads), so
//! entries written elsewhere reach this node's readers.

use super::*;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Connection, PgConnection, SqlSafeStr};
use tokio::runtime::Runtime;

/// The one shard of this version: the advisory lock's key. Sharding by
/// business unit gives each unit its own shard id, tables and tree
/// (`docs/deployment.md`).
pub const SHARD: i64 = 1;
/// How often an idle writer catches up with other nodes' commits when
/// it is not told of them (`Options::follow_every`'s default).
pub const FOLLOW_EVERY: Duration = Duration::from_millis(200);
/// Entries read from the database per query while catching up.
const PAGE: i64 = 5000;
const META_FORMAT: &str = "format";
const META_SIGNING_KEY: &str = "signing.key";
const META_PUBLIC_KEY: &str = "signing.pub";
/// The file that marks a data directory as a cluster node's cache: an
/// open without the database refuses it (writes there would be
/// acknowledged without reaching the database).
pub(super) const CLUSTER_FILE: &str = "CLUSTER";
/// Where entries read from the database are said to come from in errors.
const ORIGIN: &str = "postgres:journal_entries";

/// Work that must hold the writer's lease (or its connection), sent by a
/// [`Journal`] in cluster mode to its writer thread.
pub(super) enum Work {
    /// Make sure a data key named `name` exists (created under the lease).
    EnsureKey {
        name: String,
        reply: mpsc::SyncSender<Result<()>>,
    },
    /// Sign a head for the tree as the database holds it.
    SignHead {
        reply: mpsc::SyncSender<Result<SignedTreeHead>>,
    },
    /// Replace the keys' records by tombstones and drop their blobs.
    Shred {
        ids: Vec<KeyId>,
        at: Timestamp,
        reply: mpsc::SyncSender<Result<Vec<KeyId>>>,
    },
    /// Store a sealed blob durably in the database.
    PutBlob {
        key_id: KeyId,
        digest: Digest,
        sealed: Vec<u8>,
        reply: mpsc::SyncSender<Result<()>>,
    },
    /// Copy a blob another node stored into this node's cache.
    FetchBlob {
        key_id: KeyId,
        digest: Digest,
        reply: mpsc::SyncSender<Result<()>>,
    },
    /// Another node committed entries (its NOTIFY): catch up now.
    Follow,
}

/// What the writer needs to reach the database.
pub(super) struct Link {
    url: String,
    public_key: [u8; 32],
    /// This node's name in its notifications (random per open), so it
    /// ignores its own.
    node: String,
    /// How often an idle writer catches up without being told.
    follow_every: Duration,
    /// A [`Work::Follow`] is queued and not yet taken (the listener sends
    /// one at a time).
    follow_queued: Arc<AtomicBool>,
}

impl Link {
    /// The database's URL.
    pub(super) fn url(&self) -> &str {
        &self.url
    }

    /// What the commit listener needs: this node's name and the flag of a
    /// queued catch-up.
    pub(super) fn listen_handle(&self) -> (String, Arc<AtomicBool>) {
        (self.node.clone(), self.follow_queued.clone())
    }
}

/// The channel a writer notifies after committing entries; the payload is
/// the committing node's name.
const NOTIFY_CHANNEL: &str = "custos_journal";

/// Starts the thread that listens for other nodes' commits
/// (`LISTEN custos_journal`) and wakes `journal`'s writer to catch up at
/// once instead of at its next poll. It holds the journal weakly and ends
/// within a second of the journal's last handle going. A lost connection
/// is made again (PgListener does); meanwhile the poll catches up.
pub(super) fn listen(journal: &Journal) {
    let Some(url) = journal.inner.duty_url.clone() else {
        return;
    };
    let (node, queued) = match &journal.inner.listen {
        Some((node, queued)) => (node.clone(), queued.clone()),
        None => return,
    };
    let weak = Arc::downgrade(&journal.inner);
    let spawned = std::thread::Builder::new()
        .name("custos-journal-listen".into())
        .spawn(move || {
            let Ok(rt) = runtime() else { return };
            rt.block_on(async move {
                let mut listener: Option<sqlx::postgres::PgListener> = None;
                while weak.strong_count() > 0 {
                    let l = match listener.as_mut() {
                        Some(l) => l,
                        None => {
                            let made = async {
                                let mut l = sqlx::postgres::PgListener::connect(&url).await?;
                                l.listen(NOTIFY_CHANNEL).await?;
                                Ok::<_, sqlx::Error>(l)
                            };
                            match made.await {
                                Ok(l) => listener.insert(l),
                                Err(e) => {
                                    tracing::debug!(error = %e, "listening for other nodes' commits");
                                    tokio::time::sleep(Duration::from_secs(1)).await;
                                    continue;
                                }
                            }
                        }
                    };
                    match tokio::time::timeout(Duration::from_secs(1), l.try_recv()).await {
                        // Nothing within a second: check the journal is still open.
                        Err(_) => {}
                        Ok(Ok(Some(n))) if n.payload() == node => {}
                        // Told, or the connection was lost (and may have
                        // missed a notification): catch up.
                        Ok(Ok(_)) => wake(&weak, &queued),
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "listening for other nodes' commits");
                            listener = None;
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            });
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "starting the commit listener; following by polling only");
    }
}

/// Queues one [`Work::Follow`] for the writer unless one is waiting.
fn wake(journal: &Weak<Inner>, queued: &AtomicBool) {
    if queued.swap(true, Ordering::SeqCst) {
        return;
    }
    let Some(inner) = journal.upgrade() else {
        return;
    };
    let sent = read(&inner.requests)
        .as_ref()
        .is_some_and(|tx| tx.send(Msg::Cluster(Work::Follow)).is_ok());
    if !sent {
        queued.store(false, Ordering::SeqCst);
    }
}

pub(super) fn db(what: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |e| Error::Database(format!("{what}: {e}"))
}

pub(super) fn runtime() -> Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Database(format!("starting the database runtime: {e}")))
}

/// Runs `f` on a thread of its own with its own runtime: callers may be
/// on a runtime's thread, where blocking on another runtime panics.
fn on_own_thread<T: Send>(f: impl FnOnce(&Runtime) -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| f(&runtime()?))
            .join()
            .unwrap_or_else(|_| Err(Error::Database("the database thread panicked".into())))
    })
}

fn migrator() -> Migrator {
    Migrator::with_migrations(vec![Migration::new(
        1,
        "journal".into(),
        MigrationType::Simple,
        include_str!("../../migrations/0001_journal.sql").into_sql_str(),
        false,
    )])
}

/// Connects and applies the schema's migrations (idempotent; sqlx takes
/// its own lock, so nodes starting together apply them once).
pub(super) async fn connect(url: &str) -> Result<PgConnection> {
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(db("connecting to the journal database"))?;
    migrator()
        .run(&mut conn)
        .await
        .map_err(|e| Error::Database(format!("applying the journal schema: {e}")))?;
    Ok(conn)
}

/// The URL without its password, for messages.
fn shown(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

struct Meta {
    signing_key: Vec<u8>,
    public_key: [u8; 32],
}

async fn read_meta(conn: &mut PgConnection) -> Result<Option<Meta>> {
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as("SELECT name, value FROM journal_meta")
        .fetch_all(&mut *conn)
        .await
        .map_err(db("reading journal_meta"))?;
    let get = |name: &str| rows.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let (Some(_), Some(signing_key), Some(public_key)) = (
        get(META_FORMAT),
        get(META_SIGNING_KEY),
        get(META_PUBLIC_KEY),
    ) else {
        return Ok(None);
    };
    let public_key = public_key
        .try_into()
        .map_err(|_| Error::Database("journal_meta: the public key is not 32 bytes".into()))?;
    Ok(Some(Meta {
        signing_key,
        public_key,
    }))
}

/// Lays out the local cache of an archive: the files `open` expects, with
/// an empty key store, heads file and first segment (filled from the
/// database by the first catch-up).
fn lay_out_cache(dir: &Path, signing_key: &[u8], public_key: &[u8; 32]) -> Result<()> {
    fs::create_dir_all(dir.join("keys")).at(dir)?;
    fs::create_dir_all(dir.join(SEGMENTS_DIR)).at(dir)?;
    fsutil::replace_durably(&dir.join(SIGNING_KEY_FILE), signing_key)?;
    fsutil::replace_durably(
        &dir.join(PUBLIC_KEY_FILE),
        format!("{}\n", hex::encode(public_key)).as_bytes(),
    )?;
    fsutil::replace_durably(&dir.join(SUBJECTS_FILE), crate::keys::KEYSTORE_MAGIC)?;
    HeadLog::create(&dir.join(HEADS_FILE))?;
    let first = dir.join(SEGMENTS_DIR).join(segment::file_name(0));
    fsutil::replace_durably(&first, &segment::header(0))?;
    fsutil::sync_dir(&dir.join(SEGMENTS_DIR))?;
    fsutil::replace_durably(
        &dir.join(CLUSTER_FILE),
        b"this directory caches a custos journal kept in PostgreSQL: open it with --journal-url\n",
    )?;
    fsutil::replace_durably(&dir.join(FORMAT_FILE), FORMAT_TEXT.as_bytes())
}

/// Creates a new archive in the database at `url` (which must hold none),
/// with `dir` as this node's cache, and records its creation, as
/// [`Journal::init`] does for the embedded journal. With `kek` `None`, a
/// new key-encryption key is written to `dir/keys/kek`: every other node
/// must be given it (`CUSTOS_KEK`).
pub fn init_cluster(dir: &Path, url: &str, kek: Option<Kek>, actor: &str) -> Result<Journal> {
    if dir.join(FORMAT_FILE).exists() || dir.join(SEGMENTS_DIR).exists() {
        return Err(Error::AlreadyExists(dir.to_path_buf()));
    }
    fs::create_dir_all(dir.join("keys")).at(dir)?;
    let kek = kek_or_new(dir, kek)?;
    let signing_path = dir.join(SIGNING_KEY_FILE);
    let signer = SigningKey::create(&signing_path, &kek)?;
    let signing_key = fs::read(&signing_path).at(&signing_path)?;
    let public_key = signer.public_key();
    on_own_thread(|rt| {
        rt.block_on(async {
            let mut conn = connect(url).await?;
            let mut tx = conn.begin().await.map_err(db("beginning"))?;
            lease(&mut tx).await?;
            if read_meta(&mut tx).await?.is_some() {
                return Err(Error::Database(format!(
                    "{} already holds a custos archive",
                    shown(url)
                )));
            }
            for (name, value) in [
                (META_FORMAT, FORMAT_TEXT.as_bytes().to_vec()),
                (META_SIGNING_KEY, signing_key.clone()),
                (META_PUBLIC_KEY, public_key.to_vec()),
            ] {
                sqlx::query("INSERT INTO journal_meta (name, value) VALUES ($1, $2)")
                    .bind(name)
                    .bind(value)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("writing journal_meta"))?;
            }
            tx.commit().await.map_err(db("committing the new archive"))
        })
    })?;
    lay_out_cache(dir, &signing_key, &public_key)?;
    let journal = Journal::open(
        dir,
        Options {
            kek: Some(kek),
            journal_url: Some(url.to_string()),
            ..Options::default()
        },
    )?;
    journal.append_system(
        actor,
        "archive.init",
        Some(&dir.display().to_string()),
        Default::default(),
    )?;
    journal.sign_head()?;
    Ok(journal)
}

/// Opens this node's cache `dir` of the archive in the database at
/// `url`, creating the cache when `dir` holds none, and catches up before
/// returning.
pub(super) fn open(dir: &Path, url: &str, options: Options) -> Result<Journal> {
    let meta = on_own_thread(|rt| {
        rt.block_on(async {
            let mut conn = connect(url).await?;
            read_meta(&mut conn).await
        })
    })?
    .ok_or_else(|| {
        Error::Database(format!(
            "{} holds no custos archive (run `custos init --journal-url`)",
            shown(url)
        ))
    })?;
    if dir.join(FORMAT_FILE).exists() {
        let path = dir.join(PUBLIC_KEY_FILE);
        let local = fs::read_to_string(&path).at(&path)?;
        if local.trim() != hex::encode(meta.public_key) {
            return Err(Error::Refused(format!(
                "{} caches another archive than the one in {} (its public key differs)",
                dir.display(),
                shown(url)
            )));
        }
    } else {
        lay_out_cache(dir, &meta.signing_key, &meta.public_key)?;
    }
    let mut node = [0u8; 8];
    crate::keys::random(&mut node);
    let link = Link {
        url: url.to_string(),
        public_key: meta.public_key,
        node: hex::encode(node),
        follow_every: options.follow_every,
        follow_queued: Arc::new(AtomicBool::new(false)),
    };
    Journal::open_local(dir, options, Some(link))
}

/// Takes the shard's lease for the rest of the transaction.
async fn lease(tx: &mut PgConnection) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SHARD)
        .execute(&mut *tx)
        .await
        .map_err(db("taking the writer's lease"))?;
    Ok(())
}

/// What one catch-up query round read.
struct Fetched {
    heads: Vec<(i64, Vec<u8>)>,
    entries: Vec<(i64, Vec<u8>)>,
    keys: Vec<(i64, Vec<u8>)>,
}

/// Reads what was committed after this node's position. Heads first,
/// then entries, then keys: each statement sees at least what the earlier
/// ones saw, so every head read has its entries read, and every entry
/// read has its key read.
async fn fetch(
    c: &mut PgConnection,
    head_after: i64,
    seq_from: i64,
    key_after: i64,
) -> Result<Fetched> {
    let heads = sqlx::query_as(
        "SELECT tree_size, head FROM journal_heads WHERE tree_size > $1 ORDER BY tree_size LIMIT 1000",
    )
    .bind(head_after)
    .fetch_all(&mut *c)
    .await
    .map_err(db("reading journal_heads"))?;
    let entries = sqlx::query_as(
        "SELECT seq, frame FROM journal_entries WHERE seq >= $1 ORDER BY seq LIMIT $2",
    )
    .bind(seq_from)
    .bind(PAGE)
    .fetch_all(&mut *c)
    .await
    .map_err(db("reading journal_entries"))?;
    let keys = sqlx::query_as("SELECT rev, record FROM journal_keys WHERE rev > $1 ORDER BY rev")
        .bind(key_after)
        .fetch_all(&mut *c)
        .await
        .map_err(db("reading journal_keys"))?;
    Ok(Fetched {
        heads,
        entries,
        keys,
    })
}

/// The writer of a node in cluster mode: owns the local tail segment and
/// the database connection; see the module's documentation.
pub(super) struct ClusterWriter {
    pub(super) dir: PathBuf,
    pub(super) seg_dir: PathBuf,
    pub(super) file: Arc<File>,
    pub(super) path: PathBuf,
    pub(super) len: u64,
    pub(super) segment_bytes: u64,
    /// The next sequence number: entries below it are in the local cache.
    pub(super) next_seq: u64,
    pub(super) dedup: HashMap<u128, u64>,
    pub(super) state: Arc<RwLock<State>>,
    pub(super) keys: Arc<KeyStore>,
    pub(super) heads: Arc<Mutex<HeadLog>>,
    pub(super) signer: Arc<SigningKey>,
    pub(super) link: Link,
}

/// The writer thread's database session: a runtime of its own and a
/// connection, made again after any failure.
struct Session {
    rt: Runtime,
    conn: Option<PgConnection>,
    url: String,
    /// The highest key record revision taken in.
    key_rev: i64,
}

impl Session {
    fn conn(&mut self) -> Result<&mut PgConnection> {
        if self.conn.is_none() {
            self.conn = Some(self.rt.block_on(connect(&self.url))?);
        }
        Ok(self.conn.as_mut().expect("connected"))
    }
}

impl ClusterWriter {
    /// Starts the writer thread; returns once it has caught up with the
    /// database (or with why it could not).
    pub(super) fn start(self, requests: Receiver<Msg>) -> Result<JoinHandle<()>> {
        let (ready_tx, ready) = mpsc::sync_channel(1);
        let handle = std::thread::Builder::new()
            .name("custos-journal-writer".into())
            .spawn(move || self.run(requests, ready_tx))
            .at(&PathBuf::from("custos-journal-writer"))?;
        match ready.recv() {
            Ok(Ok(())) => Ok(handle),
            Ok(Err(e)) => {
                let _ = handle.join();
                Err(e)
            }
            Err(_) => {
                let _ = handle.join();
                Err(Error::WriterStopped(
                    "the cluster writer stopped while opening".into(),
                ))
            }
        }
    }

    fn run(mut self, requests: Receiver<Msg>, ready: mpsc::SyncSender<Result<()>>) {
        let mut session = match runtime() {
            Ok(rt) => Session {
                rt,
                conn: None,
                url: self.link.url.clone(),
                key_rev: 0,
            },
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let opened = self.check_cache(&mut session).and_then(|()| {
            let Session {
                rt, conn, key_rev, ..
            } = &mut session;
            let c = conn.as_mut().expect("connected by the check");
            self.catch_up(rt, c, key_rev)
        });
        let failed = opened.is_err();
        let _ = ready.send(opened);
        if failed {
            return;
        }
        let mut pending: Option<Msg> = None;
        loop {
            let msg = match pending.take() {
                Some(m) => m,
                None => match requests.recv_timeout(self.link.follow_every) {
                    Ok(m) => m,
                    Err(RecvTimeoutError::Timeout) => {
                        if let Err(e) = self.follow(&mut session) {
                            tracing::warn!(error = %e, "catching up with the journal database failed");
                        }
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                },
            };
            match msg {
                Msg::Append(first) => {
                    let mut batch = vec![first];
                    gather(&mut batch, &requests, &mut pending);
                    self.append_batch(&mut session, batch, &requests, &mut pending);
                }
                Msg::Cluster(Work::EnsureKey { name, reply }) => {
                    // Every new subject waiting is given its key in one
                    // transaction (a burst of new customers, an import).
                    let mut wanted = vec![(name, reply)];
                    while let Ok(next) = requests.try_recv() {
                        match next {
                            Msg::Cluster(Work::EnsureKey { name, reply }) => {
                                wanted.push((name, reply))
                            }
                            other => {
                                pending = Some(other);
                                break;
                            }
                        }
                    }
                    self.ensure_keys(&mut session, wanted);
                }
                Msg::Cluster(work) => self.work(&mut session, work),
            }
        }
    }

    /// Checks that the local cache is a prefix of the database: its last
    /// entry and its heads are the database's.
    fn check_cache(&mut self, session: &mut Session) -> Result<()> {
        let local_heads = lock(&self.heads).heads().to_vec();
        let last = self.next_seq.checked_sub(1);
        let local_frame = match last {
            Some(seq) => Some(self.local_frame(seq)?),
            None => None,
        };
        let rt = &session.rt;
        let conn = match session.conn.take() {
            Some(c) => c,
            None => rt.block_on(connect(&session.url))?,
        };
        let conn = session.conn.insert(conn);
        let (remote_frame, remote_heads) = rt.block_on(async {
            let frame: Option<(Vec<u8>,)> = match last {
                Some(seq) => sqlx::query_as("SELECT frame FROM journal_entries WHERE seq = $1")
                    .bind(seq as i64)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db("reading journal_entries"))?,
                None => None,
            };
            let heads: Vec<(Vec<u8>,)> =
                sqlx::query_as("SELECT head FROM journal_heads ORDER BY tree_size LIMIT $1")
                    .bind(local_heads.len() as i64)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(db("reading journal_heads"))?;
            Ok::<_, Error>((frame.map(|f| f.0), heads))
        })?;
        if let (Some(seq), Some(local)) = (last, local_frame)
            && remote_frame.as_deref() != Some(&local[..])
        {
            return Err(Error::Corrupt {
                path: self.path.clone(),
                offset: 0,
                seq: Some(seq),
                problem: "this node's cache does not match the journal database (another archive, or entries altered): move the data directory aside to rebuild it".into(),
            });
        }
        for (i, (local, (remote,))) in local_heads.iter().zip(&remote_heads).enumerate() {
            if local.encode()[..] != remote[..] {
                return Err(Error::Corrupt {
                    path: self.dir.join(HEADS_FILE),
                    offset: 0,
                    seq: None,
                    problem: format!(
                        "signed head #{i} differs from the journal database's: move the data directory aside to rebuild it"
                    ),
                });
            }
        }
        if remote_heads.len() < local_heads.len() {
            return Err(Error::Corrupt {
                path: self.dir.join(HEADS_FILE),
                offset: 0,
                seq: None,
                problem: "this node holds signed heads the journal database lacks".into(),
            });
        }
        Ok(())
    }

    /// The frame bytes of local entry `seq`.
    fn local_frame(&self, seq: u64) -> Result<Vec<u8>> {
        let (path, offset) = {
            let state = read(&self.state);
            let seg = state.segments.partition_point(|s| s.first_seq <= seq) - 1;
            (
                state.segments[seg].path.clone(),
                state.offsets[seq as usize] as u64,
            )
        };
        read_frame_at(&path, offset)
    }

    /// Catches up without the lease, between batches.
    fn follow(&mut self, session: &mut Session) -> Result<()> {
        if read(&self.state).failed.is_some() {
            return Ok(());
        }
        let result = session.conn().map(|_| ()).and_then(|()| {
            let Session {
                rt, conn, key_rev, ..
            } = &mut *session;
            self.catch_up(rt, conn.as_mut().expect("connected"), key_rev)
        });
        if result.is_err() {
            session.conn = None;
        }
        result
    }

    /// Takes in everything committed after this node's position: entries
    /// (into the segment, tree and de-duplication index, each frame checked
    /// as `open` checks it), keys and tombstones, and signed heads (their
    /// signature, chain and root checked).
    fn catch_up(&mut self, rt: &Runtime, c: &mut PgConnection, key_rev: &mut i64) -> Result<()> {
        loop {
            let head_after = lock(&self.heads)
                .heads()
                .last()
                .map_or(-1, |h| h.tree_size as i64);
            let fetched =
                rt.block_on(fetch(&mut *c, head_after, self.next_seq as i64, *key_rev))?;
            let more = fetched.entries.len() as i64 == PAGE;
            let mut heads = Vec::with_capacity(fetched.heads.len());
            for (size, bytes) in &fetched.heads {
                let head = SignedTreeHead::decode(bytes)
                    .filter(|h| h.tree_size as i64 == *size)
                    .ok_or_else(|| Error::Corrupt {
                        path: PathBuf::from("postgres:journal_heads"),
                        offset: 0,
                        seq: None,
                        problem: format!("the signed head of tree size {size} does not decode"),
                    })?;
                heads.push(head);
            }
            let wanted: Vec<u64> = heads.iter().map(|h| h.tree_size).collect();
            let frames = fetched
                .entries
                .into_iter()
                .map(|(seq, frame)| (seq as u64, frame))
                .collect();
            let roots = self.take_in(frames, &wanted)?;
            for (rev, record) in &fetched.keys {
                if let Some(id) = self
                    .keys
                    .adopt(Path::new("postgres:journal_keys"), record)?
                {
                    blobs::remove_all(&self.dir, id)?;
                }
                *key_rev = (*key_rev).max(*rev);
            }
            self.adopt_heads(heads, &roots)?;
            if !more {
                return Ok(());
            }
        }
    }

    /// Checks and stores heads read from the database, up to the tree's
    /// size (later ones wait for their entries).
    fn adopt_heads(&mut self, heads: Vec<SignedTreeHead>, roots: &[(u64, Hash)]) -> Result<()> {
        let size = self.next_seq;
        let mut synced = false;
        for head in heads {
            if head.tree_size > size {
                break;
            }
            let corrupt = |problem: String| Error::Corrupt {
                path: PathBuf::from("postgres:journal_heads"),
                offset: 0,
                seq: Some(head.tree_size.saturating_sub(1)),
                problem,
            };
            if !head.verify(&self.link.public_key) {
                return Err(corrupt(format!(
                    "the signed head of tree size {} has a bad signature",
                    head.tree_size
                )));
            }
            let mut log = lock(&self.heads);
            let previous = log.heads().last().map_or([0; 32], |h| h.digest());
            if head.previous != previous {
                return Err(corrupt(format!(
                    "the signed head of tree size {} does not follow the previous head",
                    head.tree_size
                )));
            }
            let root = match roots.iter().find(|(s, _)| *s == head.tree_size) {
                Some((_, root)) => *root,
                None => {
                    let state = read(&self.state);
                    if head.tree_size == state.size() {
                        state.frontier.root()
                    } else {
                        merkle::root(&state.leaves[..head.tree_size as usize])
                    }
                }
            };
            if root != head.root {
                return Err(corrupt(format!(
                    "the tree of {} entries does not match its signed head: entries were altered (run `custos verify`)",
                    head.tree_size
                )));
            }
            if !synced {
                // A local head must never cover entries a crash could
                // take from the cache (open would call that damage).
                self.file.sync_data().at(&self.path)?;
                synced = true;
            }
            log.adopt(head)?;
        }
        Ok(())
    }

    /// Writes committed frames (`seq`, frame bytes) to the local cache and
    /// publishes them to readers. Each frame is checked as a segment's
    /// would be. Returns the tree's root at each size of `wanted` reached.
    fn take_in(&mut self, frames: Vec<(u64, Vec<u8>)>, wanted: &[u64]) -> Result<Vec<(u64, Hash)>> {
        if frames.is_empty() {
            return Ok(Vec::new());
        }
        let first_seq = frames[0].0;
        let mut buf = Vec::new();
        let mut leaves = Vec::with_capacity(frames.len());
        let mut offsets = Vec::with_capacity(frames.len());
        let mut dedup = Vec::new();
        for (i, (seq, bytes)) in frames.iter().enumerate() {
            let expected = first_seq + i as u64;
            let corrupt = |problem: String| Error::Corrupt {
                path: PathBuf::from(ORIGIN),
                offset: 0,
                seq: Some(*seq),
                problem,
            };
            if *seq != expected || expected != self.next_seq + i as u64 {
                return Err(corrupt(format!(
                    "entries are not numbered without gaps: expected entry {}",
                    self.next_seq + i as u64
                )));
            }
            let mut parsed = frame::Frames::new(bytes, 0);
            let body = parsed
                .next()
                .filter(|f| frame::framed_len(f.body.len()) == bytes.len())
                .ok_or_else(|| corrupt("the stored frame does not check out".into()))?
                .body;
            if body.len() < crate::entry::LEAF_LEN {
                return Err(corrupt("entry is shorter than its header".into()));
            }
            let (leaf_bytes, payload) = body.split_at(crate::entry::LEAF_LEN);
            let leaf = Leaf::decode(leaf_bytes).map_err(|e| corrupt(e.to_string()))?;
            if leaf.seq != *seq {
                return Err(corrupt(format!(
                    "entry header says it is entry {}",
                    leaf.seq
                )));
            }
            if leaf.payload_len as usize != payload.len() {
                return Err(corrupt("payload length does not match its header".into()));
            }
            if let Some(d) = &leaf.dedup {
                dedup.push((dedup_prefix(d), *seq));
            }
            offsets.push(buf.len());
            leaves.push(merkle::leaf_hash(leaf_bytes));
            buf.extend_from_slice(bytes);
        }
        let new_segment = self.write_local(&buf, first_seq).inspect_err(|e| {
            mark_failed(&self.state, format!("writing the local cache failed: {e}"));
        })?;
        let base = self.len - buf.len() as u64;
        self.next_seq += frames.len() as u64;
        self.dedup.extend(dedup);
        let mut roots = Vec::new();
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if let Some(info) = new_segment {
            state.segments.push(info);
        }
        state.committed += leaves.len() as u64;
        state.batches += 1;
        for (hash, offset) in leaves.into_iter().zip(offsets) {
            state.leaves.push(hash);
            state.frontier.push(hash);
            state.offsets.push((base + offset as u64) as u32);
            if wanted.contains(&state.frontier.size()) {
                roots.push((state.frontier.size(), state.frontier.root()));
            }
        }
        Ok(roots)
    }

    /// Appends `buf` to the local tail segment, starting a new one first
    /// when the tail is full. No fsync: the database holds the entries.
    fn write_local(&mut self, buf: &[u8], first_seq: u64) -> Result<Option<SegmentInfo>> {
        let mut new_segment = None;
        if self.len + buf.len() as u64 > self.segment_bytes && self.len > SEGMENT_HEADER as u64 {
            // The full segment is made durable as it is left, so a head
            // (which syncs only the tail) never covers entries a crash
            // could take from an older segment of the cache.
            self.file.sync_data().at(&self.path)?;
            let path = self.seg_dir.join(segment::file_name(first_seq));
            fsutil::replace_durably(&path, &segment::header(first_seq))?;
            let file = OpenOptions::new().append(true).open(&path).at(&path)?;
            self.file = Arc::new(file);
            self.path = path.clone();
            self.len = SEGMENT_HEADER as u64;
            new_segment = Some(SegmentInfo { first_seq, path });
        }
        (&*self.file).write_all(buf).at(&self.path)?;
        self.len += buf.len() as u64;
        Ok(new_segment)
    }

    /// Commits a batch under the lease, then writes it to the cache,
    /// publishes it and answers: all of it, or an error to every request.
    /// Appends that arrive while the writer waits for the lease join the
    /// batch once it holds it.
    fn append_batch(
        &mut self,
        session: &mut Session,
        mut batch: Vec<Request>,
        requests: &Receiver<Msg>,
        pending: &mut Option<Msg>,
    ) {
        if let Some(why) = read(&self.state).failed.clone() {
            for r in batch {
                let _ = r.reply.send(Err(Error::WriterStopped(why.clone())));
            }
            return;
        }
        match self.commit_batch(session, &mut batch, requests, pending) {
            Ok((frames, answers)) => {
                let taken = self.take_in(frames, &[]);
                for (r, a) in batch.into_iter().zip(answers) {
                    // Committed is acknowledged, even if this node's cache
                    // failed (the writer then stops; reopening rebuilds it).
                    let _ = r.reply.send(Ok(a));
                }
                if let Err(e) = taken {
                    tracing::error!(error = %e, "writing the local cache failed; the writer stops");
                }
            }
            Err(e) => {
                session.conn = None;
                let message = e.to_string();
                tracing::error!(error = %message, "journal batch not committed");
                for r in batch {
                    let _ = r.reply.send(Err(Error::Database(message.clone())));
                }
            }
        }
    }

    /// The lease, the catch-up, then this batch numbered after everything
    /// committed, inserted and committed.
    #[allow(clippy::type_complexity)]
    fn commit_batch(
        &mut self,
        session: &mut Session,
        batch: &mut Vec<Request>,
        requests: &Receiver<Msg>,
        pending: &mut Option<Msg>,
    ) -> Result<(Vec<(u64, Vec<u8>)>, Vec<Vec<Appended>>)> {
        session.conn()?;
        let Session {
            rt, conn, key_rev, ..
        } = &mut *session;
        let conn = conn.as_mut().expect("connected");
        let mut tx = rt.block_on(conn.begin()).map_err(db("beginning a batch"))?;
        rt.block_on(lease(&mut tx))?;
        if pending.is_none() {
            gather(batch, requests, pending);
        }
        self.catch_up(rt, &mut tx, key_rev)?;
        let recorded_at = Timestamp::now();
        let mut frames = Vec::new();
        let (results, _, _) = number_batch(
            batch,
            &self.dedup,
            self.next_seq,
            recorded_at,
            |seq, leaf, payload| {
                let mut framed = Vec::with_capacity(frame::framed_len(leaf.len() + payload.len()));
                frame::write_parts(&mut framed, &[leaf, payload]);
                frames.push((seq, framed));
            },
        );
        if !frames.is_empty() {
            let seqs: Vec<i64> = frames.iter().map(|(s, _)| *s as i64).collect();
            let bodies: Vec<Vec<u8>> = frames.iter().map(|(_, f)| f.clone()).collect();
            // The other nodes' listeners are told at commit, in the same
            // round trip as the insert.
            rt.block_on(
                sqlx::query(
                    "WITH inserted AS (INSERT INTO journal_entries (seq, frame) \
                     SELECT * FROM UNNEST($1::bigint[], $2::bytea[])) \
                     SELECT pg_notify($3, $4)",
                )
                .bind(seqs)
                .bind(bodies)
                .bind(NOTIFY_CHANNEL)
                .bind(&self.link.node)
                .execute(&mut *tx),
            )
            .map_err(db("inserting journal entries"))?;
        }
        rt.block_on(tx.commit()).map_err(db("committing a batch"))?;
        Ok((frames, results))
    }

    fn work(&mut self, session: &mut Session, work: Work) {
        match work {
            Work::EnsureKey { name, reply } => self.ensure_keys(session, vec![(name, reply)]),
            Work::SignHead { reply } => {
                let r = self
                    .under_lease(session, |this, rt, tx| this.sign_head(rt, tx))
                    .and_then(|head| {
                        if let Some(head) = &head.1 {
                            self.file.sync_data().at(&self.path)?;
                            lock(&self.heads).adopt(head.clone())?;
                        }
                        Ok(head.0)
                    });
                let _ = reply.send(r);
            }
            Work::Shred { ids, at, reply } => {
                let r = self
                    .under_lease(session, |_, rt, tx| shred_in(rt, tx, &ids, at))
                    .and_then(|()| self.keys.shred_ids(&ids, at));
                let _ = reply.send(r);
            }
            Work::PutBlob {
                key_id,
                digest,
                sealed,
                reply,
            } => {
                let r = session.conn().map(|_| ()).and_then(|()| {
                    let Session { rt, conn, .. } = &mut *session;
                    rt.block_on(
                        sqlx::query(
                            "INSERT INTO journal_blobs (key_id, digest, sealed) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        )
                        .bind(key_id.as_bytes().to_vec())
                        .bind(digest.as_bytes().to_vec())
                        .bind(sealed)
                        .execute(conn.as_mut().expect("connected")),
                    )
                    .map(|_| ())
                    .map_err(db("storing a blob"))
                });
                if r.is_err() {
                    session.conn = None;
                }
                let _ = reply.send(r);
            }
            Work::Follow => {
                self.link.follow_queued.store(false, Ordering::SeqCst);
                if let Err(e) = self.follow(session) {
                    tracing::warn!(error = %e, "catching up with the journal database failed");
                }
            }
            Work::FetchBlob {
                key_id,
                digest,
                reply,
            } => {
                let r = session.conn().map(|_| ()).and_then(|()| {
                    let Session { rt, conn, .. } = &mut *session;
                    let row: Option<(Vec<u8>,)> = rt
                        .block_on(
                            sqlx::query_as(
                                "SELECT sealed FROM journal_blobs WHERE key_id = $1 AND digest = $2",
                            )
                            .bind(key_id.as_bytes().to_vec())
                            .bind(digest.as_bytes().to_vec())
                            .fetch_optional(conn.as_mut().expect("connected")),
                        )
                        .map_err(db("reading a blob"))?;
                    if let Some((sealed,)) = row {
                        let path = blobs::path(&self.dir, key_id, &digest);
                        let parent = path.parent().expect("a blob path has a parent");
                        fs::create_dir_all(parent).at(parent)?;
                        fsutil::replace_durably(&path, &sealed)?;
                    }
                    Ok(())
                });
                let _ = reply.send(r);
            }
        }
    }

    /// Makes sure every key named exists, in one transaction under the
    /// lease, and answers each caller.
    fn ensure_keys(
        &mut self,
        session: &mut Session,
        wanted: Vec<(String, mpsc::SyncSender<Result<()>>)>,
    ) {
        let r = self
            .under_lease(session, |this, rt, tx| {
                let mut made = Vec::new();
                for (name, _) in &wanted {
                    // Two callers may want the same new key: made once.
                    if made.iter().any(|(n, _)| n == name) {
                        continue;
                    }
                    if let Some(record) = this.ensure_key(rt, tx, name)? {
                        made.push((name.clone(), record));
                    }
                }
                Ok(made)
            })
            .and_then(|made| {
                // Taken in only once committed: a key this node holds is
                // a key every node can get.
                for (_, record) in &made {
                    self.keys
                        .adopt(Path::new("postgres:journal_keys"), record)?;
                }
                Ok(())
            });
        for (_, reply) in wanted {
            let _ = reply.send(match &r {
                Ok(()) => Ok(()),
                Err(e) => Err(Error::Database(e.to_string())),
            });
        }
    }

    /// Runs `f` in a transaction holding the lease, after catching up.
    fn under_lease<T>(
        &mut self,
        session: &mut Session,
        f: impl FnOnce(&mut Self, &Runtime, &mut PgConnection) -> Result<T>,
    ) -> Result<T> {
        if let Some(why) = read(&self.state).failed.clone() {
            return Err(Error::WriterStopped(why));
        }
        let result = session.conn().map(|_| ()).and_then(|()| {
            let Session {
                rt, conn, key_rev, ..
            } = &mut *session;
            let conn = conn.as_mut().expect("connected");
            let mut tx = rt.block_on(conn.begin()).map_err(db("beginning"))?;
            rt.block_on(lease(&mut tx))?;
            self.catch_up(rt, &mut tx, key_rev)?;
            let value = f(self, rt, &mut tx)?;
            rt.block_on(tx.commit()).map_err(db("committing"))?;
            Ok(value)
        });
        if result.is_err() {
            session.conn = None;
        }
        result
    }

    /// Creates the key named `name` unless it exists (after the catch-up,
    /// every key any node created is known here); returns the new record
    /// to take in once committed.
    fn ensure_key(
        &mut self,
        rt: &Runtime,
        tx: &mut PgConnection,
        name: &str,
    ) -> Result<Option<Vec<u8>>> {
        if self.keys.get(name).is_some() {
            return Ok(None);
        }
        let (id, record) = self.keys.new_record(name);
        let tag = self.keys.kek().name_tag(name);
        rt.block_on(
            sqlx::query(
                "INSERT INTO journal_keys (key_id, name_tag, record, rev) VALUES ($1, $2, $3, nextval('journal_keys_rev'))",
            )
            .bind(id.as_bytes().to_vec())
            .bind(tag.to_vec())
            .bind(record.clone())
            .execute(&mut *tx),
        )
        .map_err(db("storing a data key"))?;
        Ok(Some(record))
    }

    /// Signs a head for the tree as caught up, unless the last head has
    /// this size already. Returns the head and, when new, it again to
    /// store locally after the commit.
    fn sign_head(
        &mut self,
        rt: &Runtime,
        tx: &mut PgConnection,
    ) -> Result<(SignedTreeHead, Option<SignedTreeHead>)> {
        let (size, root) = {
            let state = read(&self.state);
            (state.size(), state.frontier.root())
        };
        let log = lock(&self.heads);
        if let Some(last) = log.heads().last()
            && last.tree_size == size
        {
            return Ok((last.clone(), None));
        }
        let head = log.sign_next(&self.signer, size, root);
        drop(log);
        rt.block_on(
            sqlx::query("INSERT INTO journal_heads (tree_size, head) VALUES ($1, $2)")
                .bind(size as i64)
                .bind(head.encode().to_vec())
                .execute(&mut *tx),
        )
        .map_err(db("storing a signed head"))?;
        Ok((head.clone(), Some(head)))
    }
}

/// Adds the appends waiting in `requests` to `batch`, up to
/// [`MAX_BATCH_BYTES`]; other work met on the way is kept in `pending`
/// (and ends the gathering, so work is done in the order it came).
fn gather(batch: &mut Vec<Request>, requests: &Receiver<Msg>, pending: &mut Option<Msg>) {
    let mut bytes: usize = batch
        .iter()
        .flat_map(|r| &r.entries)
        .map(|e| e.payload.len())
        .sum();
    while bytes < MAX_BATCH_BYTES {
        match requests.try_recv() {
            Ok(Msg::Append(r)) => {
                bytes += r.entries.iter().map(|e| e.payload.len()).sum::<usize>();
                batch.push(r);
            }
            Ok(other) => {
                *pending = Some(other);
                return;
            }
            Err(_) => return,
        }
    }
}

/// Replaces live keys' records by their tombstones (their wrapped key
/// is gone from the database) and deletes their blobs.
fn shred_in(rt: &Runtime, tx: &mut PgConnection, ids: &[KeyId], at: Timestamp) -> Result<()> {
    rt.block_on(async {
        for id in ids {
            sqlx::query(
                "UPDATE journal_keys SET record = $2, name_tag = NULL, rev = nextval('journal_keys_rev') WHERE key_id = $1 AND get_byte(record, 0) = 1",
            )
            .bind(id.as_bytes().to_vec())
            .bind(crate::keys::tombstone_record(*id, at))
            .execute(&mut *tx)
            .await
            .map_err(db("shredding a data key"))?;
            sqlx::query("DELETE FROM journal_blobs WHERE key_id = $1")
                .bind(id.as_bytes().to_vec())
                .execute(&mut *tx)
                .await
                .map_err(db("deleting a shredded key's blobs"))?;
        }
        Ok(())
    })
}

fn mark_failed(state: &RwLock<State>, why: String) {
    state
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .failed
        .get_or_insert(why);
}

/// Verifies the archive in the database at `url` with the same checks
/// and messages as [`verify`](crate::verify()): its entries and heads are
/// laid out as segment and heads files in a temporary directory under
/// `scratch`, verified, and removed. `public_key` overrides the one the
/// database holds.
pub fn verify_cluster(
    url: &str,
    public_key: Option<[u8; 32]>,
    scratch: &Path,
) -> Result<crate::VerifyReport> {
    let mut name = [0u8; 8];
    crate::keys::random(&mut name);
    let dir = scratch.join(format!("custos-verify-{}", hex::encode(name)));
    fs::create_dir_all(dir.join(SEGMENTS_DIR)).at(&dir)?;
    let result = lay_out_for_verify(url, &dir)
        .and_then(|stored_key| crate::verify(&dir, Some(public_key.unwrap_or(stored_key))));
    let _ = fs::remove_dir_all(&dir);
    result
}

/// Writes the database's entries (8 MiB segments) and heads into `dir`;
/// returns the stored public key.
fn lay_out_for_verify(url: &str, dir: &Path) -> Result<[u8; 32]> {
    on_own_thread(|rt| {
        rt.block_on(async {
            let mut conn = PgConnection::connect(url)
                .await
                .map_err(db("connecting to the journal database"))?;
            let meta = read_meta(&mut conn).await?.ok_or_else(|| {
                Error::Database(format!("{} holds no custos archive", shown(url)))
            })?;
            let heads: Vec<(Vec<u8>,)> =
                sqlx::query_as("SELECT head FROM journal_heads ORDER BY tree_size")
                    .fetch_all(&mut conn)
                    .await
                    .map_err(db("reading journal_heads"))?;
            let mut bytes = crate::head::HEADS_MAGIC.to_vec();
            for (h,) in &heads {
                frame::write(&mut bytes, h);
            }
            let path = dir.join(HEADS_FILE);
            fs::write(&path, &bytes).at(&path)?;
            let mut next: i64 = 0;
            let mut seg: Option<(PathBuf, Vec<u8>)> = None;
            let flush = |seg: &mut Option<(PathBuf, Vec<u8>)>| -> Result<()> {
                if let Some((path, bytes)) = seg.take() {
                    fs::write(&path, &bytes).at(&path)?;
                }
                Ok(())
            };
            loop {
                // Rows are taken as stored, gaps and all: the segment
                // parser then names the first entry out of place.
                let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
                    "SELECT seq, frame FROM journal_entries WHERE seq >= $1 ORDER BY seq LIMIT $2",
                )
                .bind(next)
                .bind(PAGE)
                .fetch_all(&mut conn)
                .await
                .map_err(db("reading journal_entries"))?;
                let done = (rows.len() as i64) < PAGE;
                for (seq, frame) in rows {
                    // A row is written whole or not at all: a frame that
                    // does not fill its row exactly is damage, never the
                    // torn tail a crash leaves in a file.
                    let whole = frame::Frames::new(&frame, 0)
                        .next()
                        .is_some_and(|f| frame::framed_len(f.body.len()) == frame.len());
                    if !whole {
                        return Err(Error::Corrupt {
                            path: PathBuf::from(ORIGIN),
                            offset: 0,
                            seq: Some(seq as u64),
                            problem: "the stored frame does not check out".into(),
                        });
                    }
                    let full = seg
                        .as_ref()
                        .is_some_and(|(_, b)| b.len() + frame.len() > 8 << 20);
                    if full || seg.is_none() {
                        flush(&mut seg)?;
                        let first = seq as u64;
                        seg = Some((
                            dir.join(SEGMENTS_DIR).join(segment::file_name(first)),
                            segment::header(first).to_vec(),
                        ));
                    }
                    seg.as_mut().expect("a segment").1.extend_from_slice(&frame);
                    next = seq + 1;
                }
                if done {
                    break;
                }
            }
            if seg.is_none() {
                seg = Some((
                    dir.join(SEGMENTS_DIR).join(segment::file_name(0)),
                    segment::header(0).to_vec(),
                ));
            }
            flush(&mut seg)?;
            Ok(meta.public_key)
        })
    })
}

/// Drops a database [`scratch_database`] made (`url`), connecting through
/// `base_url`; sessions still connected to it are ended. Only names
/// `scratch_database` gives are accepted.
pub fn drop_scratch_database(base_url: &str, url: &str) -> Result<()> {
    let head = url.split_once('?').map_or(url, |(h, _)| h);
    let name = head.rsplit_once('/').map_or("", |(_, n)| n);
    let scratch = name.len() == 19
        && name.starts_with("custos_")
        && name[7..].bytes().all(|b| b.is_ascii_hexdigit());
    if !scratch {
        return Err(Error::Refused(format!(
            "{name:?} is not a scratch database: only those are dropped"
        )));
    }
    on_own_thread(|rt| {
        rt.block_on(async {
            let mut conn = PgConnection::connect(base_url)
                .await
                .map_err(db("connecting to the database server"))?;
            // FORCE ends our own sessions but not a server process of the
            // superuser's (autovacuum after a large load): wait for it.
            let mut tries = 0;
            loop {
                let dropped = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await;
                match dropped {
                    Ok(_) => return Ok(()),
                    Err(sqlx::Error::Database(e))
                        if e.code().as_deref() == Some("42501") && tries < 120 =>
                    {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    Err(e) => return Err(db("dropping a database")(e)),
                }
            }
        })
    })
}

/// Creates an empty database beside the one `base_url` names (same
/// server and role, which must be allowed to create databases) and
/// returns its URL: one archive per test or benchmark run.
pub fn scratch_database(base_url: &str) -> Result<String> {
    let mut name = [0u8; 6];
    crate::keys::random(&mut name);
    let name = format!("custos_{}", hex::encode(name));
    let (head, query) = match base_url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (base_url, None),
    };
    let (server, _) = head
        .rsplit_once('/')
        .filter(|(s, _)| s.contains("://") && !s.ends_with('/'))
        .ok_or_else(|| Error::Database(format!("{}: no database name", shown(base_url))))?;
    on_own_thread(|rt| {
        rt.block_on(async {
            let mut conn = PgConnection::connect(base_url)
                .await
                .map_err(db("connecting to the database server"))?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .map_err(db("creating a database"))?;
            Ok(())
        })
    })?;
    Ok(match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_model::{Direction, Message};
    use std::time::Instant;

    /// A scratch database, dropped when the test ends.
    struct Scratch {
        base: String,
        url: String,
    }

    impl std::ops::Deref for Scratch {
        type Target = String;
        fn deref(&self) -> &String {
            &self.url
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            if let Err(e) = drop_scratch_database(&self.base, &self.url) {
                eprintln!("dropping {}: {e}", self.url);
            }
        }
    }

    /// A fresh database on the test server, or `None` (skipped) only when
    /// a developer said so with `CUSTOS_TEST_NO_PG=1`.
    fn database() -> Option<Scratch> {
        match std::env::var("CUSTOS_TEST_PG") {
            Ok(base) if !base.is_empty() => Some(Scratch {
                url: scratch_database(&base).expect("a scratch database"),
                base,
            }),
            _ if std::env::var("CUSTOS_TEST_NO_PG").as_deref() == Ok("1") => {
                eprintln!("skipped: no PostgreSQL (CUSTOS_TEST_NO_PG=1)");
                None
            }
            _ => panic!(
                "CUSTOS_TEST_PG is not set: run `export CUSTOS_TEST_PG=$(scripts/pg-start)` (scripts/test does), or set CUSTOS_TEST_NO_PG=1 to skip the PostgreSQL tests"
            ),
        }
    }

    fn message(source_id: &str, subject: &str) -> NewEntry {
        NewEntry {
            event: Event::Message(Message {
                channel: "whatsapp".into(),
                source_id: source_id.into(),
                conversation: "conv-1".into(),
                sender: subject.into(),
                recipients: vec!["+442071234567".into()],
                direction: Direction::Inbound,
                sent_at: Timestamp::from_micros(1_780_000_000_000_000),
                captured_at: Timestamp::from_micros(1_780_000_000_000_001),
                text: Some(format!("text of {source_id}")),
                attachments: Vec::new(),
                reply_to: None,
                raw_digest: Digest::of(source_id.as_bytes()),
                extra: Default::default(),
            }),
            subject: Some(subject.into()),
        }
    }

    fn node(dir: &Path, url: &str, kek: &Kek) -> Journal {
        Journal::open(
            dir,
            Options {
                kek: Some(kek.clone()),
                journal_url: Some(url.to_string()),
                ..Options::default()
            },
        )
        .unwrap()
    }

    fn source_ids(journal: &Journal) -> Vec<String> {
        journal
            .entries(0)
            .filter_map(|e| match journal.open_entry(&e.unwrap()).unwrap() {
                Opened::Event(Event::Message(m)) => Some(m.source_id),
                _ => None,
            })
            .collect()
    }

    fn wait_for_size(journal: &Journal, size: u64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while journal.size() < size {
            assert!(
                Instant::now() < deadline,
                "{journal:?} never caught up to {size}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_node_is_told_of_another_nodes_commits_without_polling() {
        let Some(url) = database() else { return };
        let kek = Kek::generate().0;
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let writer = init_cluster(a.path(), &url, Some(kek.clone()), "test").unwrap();
        // Node b never polls within the test: only the notification of
        // node a's commit can bring the entries.
        let told = Journal::open(
            b.path(),
            Options {
                kek: Some(kek),
                journal_url: Some(url.to_string()),
                follow_every: Duration::from_secs(3600),
                ..Options::default()
            },
        )
        .unwrap();
        // Its listener connects in the background: give it a moment.
        std::thread::sleep(Duration::from_millis(500));
        for round in 0..3 {
            let size = writer.size();
            writer
                .append_all(&[message(&format!("m-{round}"), "+447700900001")])
                .unwrap();
            wait_for_size(&told, size + 1);
        }
        assert_eq!(source_ids(&told), ["m-0", "m-1", "m-2"]);
    }

    #[test]
    fn a_cluster_journal_appends_reads_proves_signs_and_verifies() {
        let Some(url) = database() else { return };
        let kek = Kek::generate().0;
        let a = tempfile::tempdir().unwrap();
        let journal = init_cluster(a.path(), &url, Some(kek.clone()), "test").unwrap();
        assert_eq!(journal.size(), 1, "archive.init");
        let appended = journal
            .append_all(&[
                message("m-1", "+447700900001"),
                message("m-2", "+447700900002"),
            ])
            .unwrap();
        assert_eq!(appended.iter().map(|a| a.seq).collect::<Vec<_>>(), [1, 2]);
        let again = journal.append(
            &message("m-1", "+447700900001").event,
            Some("+447700900001"),
        );
        assert_eq!(
            again.unwrap(),
            Appended {
                seq: 1,
                duplicate: true
            }
        );
        assert_eq!(source_ids(&journal), ["m-1", "m-2"]);
        let head = journal.sign_head().unwrap();
        assert_eq!(head.tree_size, 3);
        assert!(head.verify(&journal.public_key()));
        let proof = journal.inclusion_proof(2, 3).unwrap();
        assert_eq!(proof.root, head.root);
        // Signing again with nothing new gives the same head, not a second
        // head of the same size.
        assert_eq!(journal.sign_head().unwrap(), head);
        let blob = journal
            .put_blob(Some("+447700900001"), Timestamp::from_micros(1), b"a photo")
            .unwrap();
        journal.close().unwrap();

        let report = verify_cluster(&url, None, &std::env::temp_dir()).unwrap();
        assert_eq!(
            (report.entries, report.heads, report.root),
            (3, 2, head.root)
        );
        // The node's cache verifies as an embedded archive does.
        let local = crate::verify(a.path(), None).unwrap();
        assert_eq!(local.root, head.root);

        // A new node with an empty data directory gets everything,
        // including the keys and blobs made by the first.
        let b = tempfile::tempdir().unwrap();
        let second = node(&b.path().join("cache"), &url, &kek);
        assert_eq!(second.size(), 3);
        assert_eq!(second.root(), head.root);
        assert_eq!(second.heads().len(), 2);
        assert_eq!(second.latest_head().unwrap(), head);
        assert_eq!(source_ids(&second), ["m-1", "m-2"]);
        assert_eq!(
            second.blob(blob.key_id, &blob.digest).unwrap().unwrap(),
            b"a photo"
        );
        let dup = second
            .append(
                &message("m-2", "+447700900002").event,
                Some("+447700900002"),
            )
            .unwrap();
        assert!(dup.duplicate && dup.seq == 2, "de-duplicated across nodes");
        second.close().unwrap();

        // The first node's cache reopens and catches up.
        let first = node(a.path(), &url, &kek);
        assert_eq!(first.size(), 3);
        first.close().unwrap();
    }

    #[test]
    fn two_nodes_append_concurrently_into_one_order_and_one_tree() {
        let Some(url) = database() else { return };
        let kek = Kek::generate().0;
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = init_cluster(a.path(), &url, Some(kek.clone()), "test").unwrap();
        let second = node(b.path(), &url, &kek);
        let per_thread = 40;
        std::thread::scope(|scope| {
            for (n, journal) in [&first, &second, &first, &second].into_iter().enumerate() {
                scope.spawn(move || {
                    for i in 0..per_thread {
                        let subject = format!("+4477009{:05}", i % 7);
                        journal
                            .append_all(&[message(&format!("t{n}-{i}"), &subject)])
                            .unwrap();
                        // Every thread also delivers one shared id: it is
                        // kept once, whichever node wins.
                        if i == per_thread / 2 {
                            let shared = journal
                                .append_all(&[message("shared", "+447700900001")])
                                .unwrap();
                            assert_eq!(shared.len(), 1);
                        }
                    }
                });
            }
        });
        let head = first.sign_head().unwrap();
        let expected = 1 + 4 * per_thread + 1;
        assert_eq!(head.tree_size, expected);
        wait_for_size(&second, expected);
        assert_eq!(second.root(), first.root());
        let order = source_ids(&first);
        assert_eq!(order, source_ids(&second), "both nodes see one order");
        assert_eq!(order.iter().filter(|id| *id == "shared").count(), 1);
        let mut sorted = order.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            sorted.len() as u64,
            expected - 1,
            "every entry exactly once"
        );
        // The second node signs after the first: one chain.
        let later = second
            .append_all(&[message("last", "+447700900003")])
            .unwrap();
        assert_eq!(later[0].seq, expected);
        let second_head = second.sign_head().unwrap();
        assert_eq!(second_head.previous, head.digest());
        // The first node follows the second's entry and head.
        wait_for_size(&first, expected + 1);
        let deadline = Instant::now() + Duration::from_secs(20);
        while first.latest_head() != Some(second_head.clone()) {
            assert!(
                Instant::now() < deadline,
                "the first node never took the head in"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        first.close().unwrap();
        second.close().unwrap();
        let report = verify_cluster(&url, None, &std::env::temp_dir()).unwrap();
        assert_eq!(report.entries, expected + 1);
        assert_eq!(report.root, second_head.root);
        for dir in [a.path(), b.path()] {
            let local = crate::verify(dir, None).unwrap();
            assert_eq!(local.root, second_head.root, "{}", dir.display());
        }
    }

    #[test]
    fn keys_made_on_one_node_open_on_the_other_and_shredding_reaches_both() {
        let Some(url) = database() else { return };
        let kek = Kek::generate().0;
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = init_cluster(a.path(), &url, Some(kek.clone()), "test").unwrap();
        let second = node(b.path(), &url, &kek);
        // Both nodes need the same subject's key for the same month at
        // once: one key is made, and both use it.
        let subject = "+5511988887777";
        std::thread::scope(|scope| {
            scope.spawn(|| first.append_all(&[message("from-a", subject)]).unwrap());
            scope.spawn(|| second.append_all(&[message("from-b", subject)]).unwrap());
        });
        assert_eq!(first.key_ids_of(subject).len(), 1);
        let blob = first
            .put_blob(
                Some(subject),
                Timestamp::from_micros(1_780_000_000_000_000),
                b"voice note",
            )
            .unwrap();
        second.sign_head().unwrap();
        assert_eq!(second.key_ids_of(subject), first.key_ids_of(subject));
        assert_eq!(source_ids(&second).len(), 2);
        assert_eq!(
            second.blob(blob.key_id, &blob.digest).unwrap().unwrap(),
            b"voice note"
        );

        let shredded = first.shred(subject, "dpo", "erasure request").unwrap();
        assert_eq!(shredded.len(), 1, "the subject's key of that month");
        second.sign_head().unwrap();
        for journal in [&first, &second] {
            let opened: Vec<bool> = journal
                .entries(0)
                .map(|e| {
                    let e = e.unwrap();
                    matches!(journal.open_entry(&e).unwrap(), Opened::Shredded(_))
                })
                .collect();
            assert_eq!(opened.iter().filter(|s| **s).count(), 2, "{journal:?}");
            assert!(journal.blob(blob.key_id, &blob.digest).unwrap().is_none());
        }
        assert!(
            !b.path()
                .join("blobs")
                .join(blob.key_id.to_string())
                .exists()
        );
        // The subject writing again gets a new key, made once.
        second.append_all(&[message("after", subject)]).unwrap();
        first.sign_head().unwrap();
        let ids = first.key_ids_of(subject);
        assert_eq!(ids.len(), 1);
        assert_eq!(second.key_ids_of(subject), ids);
        first.close().unwrap();
        second.close().unwrap();
        verify_cluster(&url, None, &std::env::temp_dir()).unwrap();
    }

    #[test]
    fn a_writer_waits_for_the_lease_and_takes_it_when_the_holder_dies() {
        let Some(url) = database() else { return };
        let dir = tempfile::tempdir().unwrap();
        let journal = init_cluster(dir.path(), &url, Some(Kek::generate().0), "test").unwrap();
        // Another "node" takes the lease and dies without committing.
        let (held_tx, held) = mpsc::channel();
        let (die_tx, die) = mpsc::channel::<()>();
        let holder = std::thread::spawn({
            let url = url.clone();
            move || {
                let rt = runtime().unwrap();
                rt.block_on(async {
                    let mut conn = PgConnection::connect(&url).await.unwrap();
                    let mut tx = conn.begin().await.unwrap();
                    lease(&mut tx).await.unwrap();
                    // A half-written batch of the dying writer.
                    sqlx::query("INSERT INTO journal_entries (seq, frame) VALUES (1, 'torn')")
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                    held_tx.send(()).unwrap();
                    let _ = die.recv();
                    // Dropped without commit: the connection closes.
                    drop(tx);
                    conn.close().await.unwrap();
                });
            }
        });
        held.recv().unwrap();
        let started = Instant::now();
        let appender = std::thread::spawn({
            let journal = journal.clone();
            move || journal.append_all(&[message("m-1", "+447700900001")])
        });
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            !appender.is_finished(),
            "no append while another holds the lease"
        );
        die_tx.send(()).unwrap();
        holder.join().unwrap();
        let appended = appender.join().unwrap().unwrap();
        assert!(started.elapsed() >= Duration::from_millis(500));
        assert_eq!(
            appended[0].seq, 1,
            "the dead writer's row was never committed"
        );
        journal.close().unwrap();
        let report = verify_cluster(&url, None, &std::env::temp_dir()).unwrap();
        assert_eq!(report.entries, 2);
    }

    #[test]
    fn a_row_that_does_not_check_out_stops_the_batch_and_verify_names_it() {
        let Some(url) = database() else { return };
        let dir = tempfile::tempdir().unwrap();
        let journal = init_cluster(dir.path(), &url, Some(Kek::generate().0), "test").unwrap();
        journal
            .append_all(&[message("m-1", "+447700900001")])
            .unwrap();
        // A row this node has not seen, which is not a valid frame: the
        // catch-up under the lease refuses it and the batch is not
        // acknowledged.
        on_own_thread(|rt| {
            rt.block_on(async {
                let mut conn = PgConnection::connect(&url).await.unwrap();
                sqlx::query("INSERT INTO journal_entries (seq, frame) VALUES (2, 'forged')")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                Ok(())
            })
        })
        .unwrap();
        let err = journal
            .append_all(&[message("m-2", "+447700900001")])
            .unwrap_err();
        assert!(err.to_string().contains("entry 2"), "{err}");
        let err = verify_cluster(&url, None, &std::env::temp_dir()).unwrap_err();
        assert!(err.to_string().contains("entry 2"), "{err}");
        assert_eq!(journal.size(), 2);
    }

    #[test]
    fn a_cache_of_another_archive_is_refused() {
        let Some(url) = database() else { return };
        let Some(other) = database() else { return };
        let kek = Kek::generate().0;
        let a = tempfile::tempdir().unwrap();
        init_cluster(a.path(), &url, Some(kek.clone()), "test")
            .unwrap()
            .close()
            .unwrap();
        let b = tempfile::tempdir().unwrap();
        init_cluster(b.path(), &other, Some(kek.clone()), "test")
            .unwrap()
            .close()
            .unwrap();
        let err = Journal::open(
            a.path(),
            Options {
                kek: Some(kek),
                journal_url: Some(other.to_string()),
                ..Options::default()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("caches another archive"), "{err}");
        // Nor is a cache opened without its database.
        let err = Journal::open(
            b.path(),
            Options {
                kek: Some(Kek::generate().0),
                ..Options::default()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("--journal-url"), "{err}");
        assert!(
            init_cluster(&a.path().join("new"), &url, None, "t")
                .unwrap_err()
                .to_string()
                .contains("already holds a custos archive")
        );
    }
}
