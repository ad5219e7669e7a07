//! The journal: open, append with group commit, read, prove, sign, shred.

use crate::blobs::{self, BlobRef};
use crate::entry::{Leaf, StoredEntry};
use crate::error::{Error, IoContext, Result};
use crate::frame;
use crate::fsutil;
use crate::head::{HeadLog, SignedTreeHead};
use crate::keys::{ARCHIVE_SUBJECT, Kek, KeyId, KeyState, KeyStore, SigningKey, period_key_name};
use crate::merkle::{self, Frontier, Hash};
use crate::segment::{self, SEGMENT_HEADER};
use crate::shredding;
use custos_model::{Digest, Event, EventKind, SystemEvent, Timestamp};
use serde::Serialize;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

mod cluster;
mod duty;
pub use cluster::{SHARD, drop_scratch_database, init_cluster, scratch_database, verify_cluster};
pub use duty::Duty;

/// The file naming the archive format, written by `init`.
pub const FORMAT_FILE: &str = "FORMAT";
const FORMAT_TEXT: &str = "custos archive format 1\n";
/// Where the key-encryption key is kept when not supplied by the operator.
pub const KEK_FILE: &str = "keys/kek";
/// The hex public key that verifies signed heads.
pub const PUBLIC_KEY_FILE: &str = "keys/signing.pub";
const SIGNING_KEY_FILE: &str = "keys/signing.key";
const SUBJECTS_FILE: &str = "keys/subjects";
/// The heads file.
pub const HEADS_FILE: &str = "heads";
/// The segments' directory.
pub const SEGMENTS_DIR: &str = "journal";
const LOCK_FILE: &str = "custos.lock";
/// The largest batch the writer commits with one fsync.
const MAX_BATCH_BYTES: usize = 8 << 20;

/// How to open an archive.
pub struct Options {
    /// The key-encryption key; `None` reads `keys/kek`.
    pub kek: Option<Kek>,
    /// Sign a tree head this often while entries arrive; `None`: only on demand.
    pub head_every: Option<Duration>,
    /// Start a new segment file past this size.
    pub segment_bytes: u64,
    /// Who opens the archive, as the lock file tells others.
    pub holder: String,
    /// Cluster mode: the PostgreSQL database (`postgres://...`) that holds
    /// the journal; the data directory is then this node's cache of it.
    /// `None`: the embedded journal, the data directory alone.
    pub journal_url: Option<String>,
    /// Cluster mode: how often an idle node reads the database for other
    /// nodes' commits when it is not told of them (it is told at once by
    /// their notifications).
    pub follow_every: Duration,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: only whether there is one shows.
        f.debug_struct("Options")
            .field("kek", &self.kek)
            .field("head_every", &self.head_every)
            .field("segment_bytes", &self.segment_bytes)
            .field("holder", &self.holder)
            .field("journal_url", &self.journal_url.as_ref().map(|_| "<set>"))
            .field("follow_every", &self.follow_every)
            .finish()
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            kek: None,
            head_every: None,
            segment_bytes: 8 << 20,
            holder: std::env::args().take(2).collect::<Vec<_>>().join(" "),
            journal_url: None,
            follow_every: cluster::FOLLOW_EVERY,
        }
    }
}

/// What an append did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Appended {
    /// The entry's sequence number; for a duplicate, the original's.
    pub seq: u64,
    /// The source had delivered this event before; nothing was added.
    pub duplicate: bool,
}

/// An event to append, with the subject whose key encrypts it.
#[derive(Clone, Debug)]
pub struct NewEntry {
    /// The event.
    pub event: Event,
    /// The external party whose data it is; `None` for the archive itself.
    pub subject: Option<String>,
}

/// An entry opened with its data key.
// Returned by value once per read and matched at once: boxing the event
// would cost an allocation per read and buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Opened {
    /// The decrypted event.
    Event(Event),
    /// The subject's key was destroyed at this time; the content is gone.
    Shredded(Timestamp),
}

/// A proof that an entry is in the tree of a given size.
#[derive(Clone, Debug, Serialize)]
pub struct InclusionProof {
    /// The entry.
    pub seq: u64,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// The entry's leaf hash.
    #[serde(serialize_with = "hex_hash")]
    pub leaf_hash: Hash,
    /// The audit path, leaf to root.
    #[serde(serialize_with = "hex_hashes")]
    pub path: Vec<Hash>,
    /// The root of the tree of `tree_size` entries.
    #[serde(serialize_with = "hex_hash")]
    pub root: Hash,
}

/// A proof that the tree of `old_size` is a prefix of the tree of `new_size`.
#[derive(Clone, Debug, Serialize)]
pub struct ConsistencyProof {
    /// The older size.
    pub old_size: u64,
    /// The newer size.
    pub new_size: u64,
    /// Root at the older size.
    #[serde(serialize_with = "hex_hash")]
    pub old_root: Hash,
    /// Root at the newer size.
    #[serde(serialize_with = "hex_hash")]
    pub new_root: Hash,
    /// The proof's hashes.
    #[serde(serialize_with = "hex_hashes")]
    pub path: Vec<Hash>,
}

fn hex_hash<S: serde::Serializer>(h: &Hash, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(h))
}

fn hex_hashes<S: serde::Serializer>(hs: &[Hash], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(hs.iter().map(hex::encode))
}

struct SegmentInfo {
    first_seq: u64,
    path: PathBuf,
}

/// In-memory indexes, rebuilt from the segments at open.
struct State {
    leaves: Vec<Hash>,
    frontier: Frontier,
    /// Offset of each entry's frame within its segment.
    offsets: Vec<u32>,
    segments: Vec<SegmentInfo>,
    /// Why the writer stopped, if it did.
    failed: Option<String>,
    /// Batches committed (one fsync each) since open.
    batches: u64,
    /// Entries committed since open.
    committed: u64,
}

impl State {
    fn size(&self) -> u64 {
        self.leaves.len() as u64
    }
}

fn dedup_prefix(key: &[u8; 32]) -> u128 {
    u128::from_le_bytes(key[..16].try_into().expect("16 bytes"))
}

/// An entry prepared (encrypted) by its appender, waiting for the writer.
struct Prepared {
    kind: EventKind,
    key_id: KeyId,
    dedup: Option<[u8; 32]>,
    payload: Vec<u8>,
    payload_digest: Digest,
}

/// Where the writer answers a request, once its entries are durable.
/// Blocking callers wait on a std channel, async ones on a oneshot, so the
/// blocking API also works from a thread that belongs to a runtime.
enum Reply {
    Blocking(mpsc::SyncSender<Result<Vec<Appended>>>),
    Async(oneshot::Sender<Result<Vec<Appended>>>),
}

impl Reply {
    fn send(self, answer: Result<Vec<Appended>>) -> std::result::Result<(), ()> {
        match self {
            Reply::Blocking(tx) => tx.send(answer).map_err(|_| ()),
            Reply::Async(tx) => tx.send(answer).map_err(|_| ()),
        }
    }
}

/// Numbers a batch's entries from `first`: an entry whose de-dup key is
/// already held (`dedup`) or earlier in the batch is answered with the
/// original's seq (and so never before the original is durable); every
/// new entry gets the next seq and its leaf, handed to `each(seq, leaf,
/// payload)` to frame. Returns the answers per request, the next seq and
/// the batch's new de-dup keys. One numbering for the embedded and the
/// cluster writer.
fn number_batch(
    batch: &[Request],
    dedup: &HashMap<u128, u64>,
    first: u64,
    recorded_at: Timestamp,
    mut each: impl FnMut(u64, &[u8], &[u8]),
) -> (Vec<Vec<Appended>>, u64, HashMap<u128, u64>) {
    let mut results = Vec::with_capacity(batch.len());
    let mut new_dedup: HashMap<u128, u64> = HashMap::new();
    let mut next = first;
    for request in batch {
        let mut answers = Vec::with_capacity(request.entries.len());
        for e in &request.entries {
            if let Some(d) = &e.dedup {
                let k = dedup_prefix(d);
                if let Some(&seq) = dedup.get(&k).or_else(|| new_dedup.get(&k)) {
                    answers.push(Appended {
                        seq,
                        duplicate: true,
                    });
                    continue;
                }
                new_dedup.insert(k, next);
            }
            let leaf = Leaf {
                version: crate::entry::LEAF_VERSION,
                seq: next,
                recorded_at,
                kind: e.kind,
                key_id: e.key_id,
                dedup: e.dedup,
                payload_digest: e.payload_digest,
                payload_len: e.payload.len() as u32,
            }
            .encode();
            each(next, &leaf, &e.payload);
            answers.push(Appended {
                seq: next,
                duplicate: false,
            });
            next += 1;
        }
        results.push(answers);
    }
    (results, next, new_dedup)
}

struct Request {
    entries: Vec<Prepared>,
    reply: Reply,
}

/// What the writer thread is handed: entries to append, or (in cluster
/// mode) work that must hold the writer's lease.
enum Msg {
    Append(Request),
    Cluster(cluster::Work),
}

struct Inner {
    dir: PathBuf,
    keys: Arc<KeyStore>,
    signer: Arc<SigningKey>,
    heads: Arc<Mutex<HeadLog>>,
    state: Arc<RwLock<State>>,
    requests: RwLock<Option<Sender<Msg>>>,
    /// Cluster mode: the journal lives in PostgreSQL and the writer
    /// thread holds the lease; keys, heads and blobs go through it.
    cluster: bool,
    /// Cluster mode: the database, for the duties' locks ([`Duty`]).
    duty_url: Option<String>,
    /// Cluster mode: this node's name in its notifications and the flag of
    /// a queued catch-up, for the commit listener.
    listen: Option<(String, Arc<AtomicBool>)>,
    /// The writer and syncer threads, joined in that order on stop.
    writer: Mutex<Vec<JoinHandle<()>>>,
    cadence_stop: Mutex<Option<Sender<()>>>,
    /// Held while a shred runs: one intent file at a time.
    shredding: Mutex<()>,
    _lock: File,
}

/// An open archive journal. Cloning shares it; the writer stops when the
/// last clone is dropped.
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Journal({})", self.inner.dir.display())
    }
}

/// The key-store name of a subject: its canonical party id, so the same
/// person reached on different channels has one data key; the archive's
/// own key for none.
fn subject_id(subject: Option<&str>) -> String {
    match subject {
        None => ARCHIVE_SUBJECT.to_string(),
        Some(s) => custos_model::party_id(s),
    }
}

/// The retention period a record falls in: the calendar month (UTC) of
/// `at`, as `YYYY-MM`.
pub fn period_of(at: Timestamp) -> String {
    let text = at.to_string();
    match text.get(..7) {
        Some(p)
            if text.as_bytes()[4] == b'-' && p.bytes().all(|b| b == b'-' || b.is_ascii_digit()) =>
        {
            p.to_string()
        }
        _ => "0000-00".to_string(),
    }
}

/// The record's own time: when it was sent, edited, deleted, reacted to,
/// reached a state, changed, happened or was received.
pub fn event_time(event: &Event) -> Timestamp {
    match event {
        Event::Message(m) => m.sent_at,
        Event::Edit(e) => e.edited_at,
        Event::Deletion(d) => d.deleted_at,
        Event::Reaction(r) => r.reacted_at,
        Event::Status(s) => s.at,
        Event::Consent(c) => c.at,
        Event::System(s) => s.at,
        Event::Raw(r) => r.received_at,
    }
}

/// The key-store name of the key that seals `event` for `subject`: the
/// subject's key for the event's period, so retention can dispose of one
/// month of records alone. The archive's own system events (no subject)
/// stay under the archive's key forever; other records with no external
/// party (internal messages) use a per-period pseudo subject.
fn key_name(subject: Option<&str>, event: &Event) -> String {
    match (subject, event) {
        (None, Event::System(_)) => ARCHIVE_SUBJECT.to_string(),
        _ => period_key_name(&subject_id(subject), &period_of(event_time(event))),
    }
}

/// The payload's additional authenticated data: it binds the ciphertext to
/// its kind and key.
pub(crate) fn payload_aad(kind: EventKind, key_id: KeyId) -> [u8; 17] {
    let mut aad = [0u8; 17];
    aad[0] = kind as u8;
    aad[1..].copy_from_slice(key_id.as_bytes());
    aad
}

/// Takes the archive's lock, or says who holds it.
fn take_lock(dir: &Path, holder: &str) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .at(&path)?;
    // A holder in this very process is an archive being closed (its
    // threads finishing) just before this open: it is given a moment.
    let ours = format!("pid {} ", std::process::id());
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&path).unwrap_or_default();
                if holder.starts_with(&ours) && std::time::Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                return Err(Error::Locked {
                    dir: dir.to_path_buf(),
                    holder: holder.trim().to_string(),
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(e).at(&path),
        }
    }
    file.set_len(0).at(&path)?;
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    write!(
        file,
        "pid {} ({}) on {} since {}",
        std::process::id(),
        holder,
        host.trim(),
        Timestamp::now()
    )
    .at(&path)?;
    Ok(file)
}

fn load_kek(dir: &Path, kek: Option<Kek>) -> Result<Kek> {
    if let Some(kek) = kek {
        return Ok(kek);
    }
    let path = dir.join(KEK_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => Kek::from_hex(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::Kek(format!(
            "{} does not exist and no key was supplied (CUSTOS_KEK)",
            path.display()
        ))),
        Err(e) => Err(e).at(&path),
    }
}

impl Journal {
    /// Creates a new archive in `dir` (which may exist but must not hold
    /// one): keys, an empty journal, and a first entry recording the
    /// creation. With `kek` `None`, a new key-encryption key is written to
    /// `keys/kek`; otherwise the caller keeps it.
    pub fn init(dir: &Path, kek: Option<Kek>, actor: &str) -> Result<Journal> {
        if dir.join(FORMAT_FILE).exists() || dir.join(SEGMENTS_DIR).exists() {
            return Err(Error::AlreadyExists(dir.to_path_buf()));
        }
        fs::create_dir_all(dir.join("keys")).at(dir)?;
        fs::create_dir_all(dir.join(SEGMENTS_DIR)).at(dir)?;
        let lock = take_lock(dir, "custos init")?;
        let kek = kek_or_new(dir, kek)?;
        let signer = SigningKey::create(&dir.join(SIGNING_KEY_FILE), &kek)?;
        drop(KeyStore::create(&dir.join(SUBJECTS_FILE), kek.clone())?);
        fsutil::replace_durably(
            &dir.join(PUBLIC_KEY_FILE),
            format!("{}\n", hex::encode(signer.public_key())).as_bytes(),
        )?;
        HeadLog::create(&dir.join(HEADS_FILE))?;
        let first = dir.join(SEGMENTS_DIR).join(segment::file_name(0));
        fsutil::replace_durably(&first, &segment::header(0))?;
        fsutil::sync_dir(&dir.join(SEGMENTS_DIR))?;
        fsutil::replace_durably(&dir.join(FORMAT_FILE), FORMAT_TEXT.as_bytes())?;
        drop(lock);
        let journal = Journal::open(
            dir,
            Options {
                kek: Some(kek),
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

    /// Opens the archive in `dir`, recovering from a crash: a torn last
    /// write is cut back to the last durable entry. Damage anywhere else is
    /// an [`Error::Corrupt`], and nothing is changed.
    pub fn open(dir: &Path, options: Options) -> Result<Journal> {
        if let Some(url) = options.journal_url.clone() {
            return cluster::open(dir, &url, options);
        }
        Journal::open_local(dir, options, None)
    }

    /// Opens the data directory; with `cluster`, as a cache of the
    /// database, whose writer thread then runs instead of the file one.
    fn open_local(dir: &Path, options: Options, cluster: Option<cluster::Link>) -> Result<Journal> {
        if !dir.join(FORMAT_FILE).exists() {
            return Err(Error::NotAnArchive {
                dir: dir.to_path_buf(),
                problem: format!("no {FORMAT_FILE} file"),
            });
        }
        if cluster.is_none() && dir.join(cluster::CLUSTER_FILE).exists() {
            return Err(Error::Refused(format!(
                "{} is a cluster node's cache of a journal kept in PostgreSQL: open it with --journal-url (CUSTOS_JOURNAL_URL)",
                dir.display()
            )));
        }
        let lock = take_lock(dir, &options.holder)?;
        let kek = load_kek(dir, options.kek)?;
        let signer = SigningKey::load(&dir.join(SIGNING_KEY_FILE), &kek)?;
        let keys = Arc::new(KeyStore::open(&dir.join(SUBJECTS_FILE), kek)?);
        let heads = HeadLog::open(&dir.join(HEADS_FILE))?;
        let signed_size = heads.heads().last().map_or(0, |h| h.tree_size);
        // Signed heads in order of size, checked against the tree as it is
        // rebuilt: a writer never builds on entries that no longer match
        // what it signed (`verify` tells exactly where).
        let mut unchecked_heads = heads.heads().iter().peekable();
        let mut check_heads = |frontier: &Frontier, path: &Path, offset: usize| -> Result<()> {
            while let Some(h) = unchecked_heads.next_if(|h| h.tree_size <= frontier.size()) {
                if h.tree_size == frontier.size() && h.root != frontier.root() {
                    return Err(Error::Corrupt {
                        path: path.to_path_buf(),
                        offset: offset as u64,
                        seq: Some(frontier.size().saturating_sub(1)),
                        problem: format!(
                            "the tree of {} entries does not match its signed head: entries were altered (run `custos verify`)",
                            h.tree_size
                        ),
                    });
                }
            }
            Ok(())
        };

        let mut state = State {
            leaves: Vec::new(),
            frontier: Frontier::new(),
            offsets: Vec::new(),
            segments: Vec::new(),
            failed: None,
            batches: 0,
            committed: 0,
        };
        let mut dedup = HashMap::new();
        let seg_dir = dir.join(SEGMENTS_DIR);
        let listed = segment::list(&seg_dir)?;
        if listed.is_empty() {
            return Err(Error::NotAnArchive {
                dir: dir.to_path_buf(),
                problem: "no journal segment".into(),
            });
        }
        let mut tail_len = 0u64;
        for (i, (first_seq, path)) in listed.iter().enumerate() {
            let bytes = fs::read(path).at(path)?;
            let parsed = segment::parse(path, &bytes, state.size())?;
            if *first_seq != state.size() {
                return Err(Error::Corrupt {
                    path: path.clone(),
                    offset: 0,
                    seq: Some(state.size()),
                    problem: format!("segment is named for entry {first_seq}"),
                });
            }
            check_heads(&state.frontier, path, SEGMENT_HEADER)?;
            for e in &parsed.entries {
                let hash = merkle::leaf_hash(e.leaf_bytes);
                state.leaves.push(hash);
                state.frontier.push(hash);
                check_heads(&state.frontier, path, e.offset)?;
                state.offsets.push(e.offset as u32);
                if let Some(d) = &e.leaf.dedup {
                    dedup.insert(dedup_prefix(d), e.leaf.seq);
                }
            }
            state.segments.push(SegmentInfo {
                first_seq: *first_seq,
                path: path.clone(),
            });
            tail_len = bytes.len() as u64;
            if let Some(torn) = parsed.torn_at {
                if i + 1 != listed.len() {
                    return Err(Error::Corrupt {
                        path: path.clone(),
                        offset: torn as u64,
                        seq: Some(state.size()),
                        problem: "entry is cut short, but later segments follow".into(),
                    });
                }
                if signed_size > state.size() {
                    return Err(Error::Corrupt {
                        path: path.clone(),
                        offset: torn as u64,
                        seq: Some(state.size()),
                        problem: format!(
                            "entry is cut short, but a signed head covers {signed_size} entries"
                        ),
                    });
                }
                tracing::warn!(path = %path.display(), offset = torn, seq = state.size(), "cutting torn tail left by a crash");
                let file = OpenOptions::new().write(true).open(path).at(path)?;
                file.set_len(torn as u64).at(path)?;
                file.sync_all().at(path)?;
                tail_len = torn as u64;
            }
        }
        if signed_size > state.size() {
            let last = &state.segments.last().expect("at least one segment").path;
            return Err(Error::Corrupt {
                path: last.clone(),
                offset: tail_len,
                seq: Some(state.size()),
                problem: format!(
                    "a signed head covers {signed_size} entries, but the journal ends here"
                ),
            });
        }

        let tail_path = state
            .segments
            .last()
            .expect("at least one segment")
            .path
            .clone();
        let tail = OpenOptions::new()
            .append(true)
            .open(&tail_path)
            .at(&tail_path)?;
        let next_seq = state.size();
        let state = Arc::new(RwLock::new(state));
        let signer = Arc::new(signer);
        let heads = Arc::new(Mutex::new(heads));
        let (tx, rx) = mpsc::channel();
        if let Some(link) = cluster {
            let writer = cluster::ClusterWriter {
                dir: dir.to_path_buf(),
                seg_dir,
                file: Arc::new(tail),
                path: tail_path,
                len: tail_len,
                segment_bytes: options.segment_bytes,
                next_seq,
                dedup,
                state: state.clone(),
                keys: keys.clone(),
                heads: heads.clone(),
                signer: signer.clone(),
                link,
            };
            let duty_url = Some(writer.link.url().to_string());
            let listen = Some(writer.link.listen_handle());
            let handle = writer.start(rx)?;
            let journal = Journal {
                inner: Arc::new(Inner {
                    dir: dir.to_path_buf(),
                    keys,
                    signer,
                    heads,
                    state,
                    requests: RwLock::new(Some(tx)),
                    cluster: true,
                    duty_url,
                    listen,
                    writer: Mutex::new(vec![handle]),
                    cadence_stop: Mutex::new(None),
                    shredding: Mutex::new(()),
                    _lock: lock,
                }),
            };
            journal.finish_pending_shred()?;
            cluster::listen(&journal);
            if let Some(every) = options.head_every {
                journal.start_cadence(every);
            }
            return Ok(journal);
        }
        let (to_syncer, written) = mpsc::sync_channel(SYNC_QUEUE);
        let syncer = Syncer {
            state: state.clone(),
            keys: keys.clone(),
            in_flight: Arc::new(AtomicUsize::new(0)),
        };
        let writer = Writer {
            seg_dir,
            file: Arc::new(tail),
            path: tail_path,
            len: tail_len,
            segment_bytes: options.segment_bytes,
            next_seq,
            dedup,
            state: state.clone(),
            to_syncer,
            syncer: syncer.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("custos-journal-writer".into())
            .spawn(move || writer.run(rx))
            .at(dir)?;
        let syncer = std::thread::Builder::new()
            .name("custos-journal-syncer".into())
            .spawn(move || syncer.run(written))
            .at(dir)?;
        let journal = Journal {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                keys,
                signer,
                heads,
                state,
                requests: RwLock::new(Some(tx)),
                cluster: false,
                duty_url: None,
                listen: None,
                writer: Mutex::new(vec![handle, syncer]),
                cadence_stop: Mutex::new(None),
                shredding: Mutex::new(()),
                _lock: lock,
            }),
        };
        journal.finish_pending_shred()?;
        if let Some(every) = options.head_every {
            journal.start_cadence(every);
        }
        Ok(journal)
    }

    fn start_cadence(&self, every: Duration) {
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        std::thread::spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stop_rx.recv_timeout(every) {
                let Some(inner) = weak.upgrade() else { return };
                let journal = Journal { inner };
                let signed = journal.latest_head().map_or(0, |h| h.tree_size);
                if journal.size() > signed
                    && let Err(e) = journal.sign_head()
                {
                    tracing::error!(error = %e, "signing the periodic tree head failed");
                }
            }
        });
        *lock(&self.inner.cadence_stop) = Some(stop_tx);
    }

    /// Whether the journal lives in PostgreSQL, shared with other nodes
    /// (cluster mode), rather than in the data directory alone.
    pub fn is_cluster(&self) -> bool {
        self.inner.cluster
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Group-commit figures since open: (batches committed, each with one
    /// fsync; entries they held).
    pub fn commit_stats(&self) -> (u64, u64) {
        let state = read(&self.inner.state);
        (state.batches, state.committed)
    }

    /// Why the writer stopped (after a failed fsync or cut), if it did:
    /// every append is then refused until the archive is reopened.
    pub fn writer_failure(&self) -> Option<String> {
        read(&self.inner.state).failed.clone()
    }

    /// How many entries the journal holds (all durable).
    pub fn size(&self) -> u64 {
        read(&self.inner.state).size()
    }

    /// The current root of the tree.
    pub fn root(&self) -> Hash {
        read(&self.inner.state).frontier.root()
    }

    /// The public key that verifies this archive's signed heads.
    pub fn public_key(&self) -> [u8; 32] {
        self.inner.signer.public_key()
    }

    /// Appends one event; returns once it is durable.
    pub fn append(&self, event: &Event, subject: Option<&str>) -> Result<Appended> {
        let prepared = self.prepare(event, subject)?;
        Ok(self.submit_and_wait(vec![prepared])?[0])
    }

    /// Appends many events as one request; returns once all are durable.
    /// The results are in the order of `entries`.
    pub fn append_all(&self, entries: &[NewEntry]) -> Result<Vec<Appended>> {
        let prepared = entries
            .iter()
            .map(|e| self.prepare(&e.event, e.subject.as_deref()))
            .collect::<Result<Vec<_>>>()?;
        self.submit_and_wait(prepared)
    }

    /// Appends `count` batches, made by `make(i)` for `i` in `0..count`,
    /// without waiting for one batch to be durable before submitting the
    /// next: `threads` threads (at least one) each make a batch and encrypt
    /// its entries, and hand the batches to the writer in the order of
    /// `i`, so the journal holds them in that order; while batch `i` is
    /// being synced, later ones are made, encrypted and written. At most
    /// `threads` + `in_flight` batches are held at once.
    ///
    /// `durable(i, answers)` is called in the calling thread, in the order
    /// of `i`, once batch `i` is durable; `answers` are in the order of
    /// its entries, as [`append_all`](Self::append_all) gives them. The
    /// call returns once every batch is durable, or with an error: when
    /// `make(i)` fails, the batches before `i` are still appended and
    /// answered and none after; when the journal or `durable` fails,
    /// nothing more is submitted (what was may have been written).
    pub fn append_batches<E, M, D>(
        &self,
        count: usize,
        threads: usize,
        in_flight: usize,
        make: M,
        mut durable: D,
    ) -> std::result::Result<(), E>
    where
        E: From<Error> + Send,
        M: Fn(usize) -> std::result::Result<Vec<NewEntry>, E> + Sync,
        D: FnMut(usize, Vec<Appended>) -> std::result::Result<(), E>,
    {
        type Answer = mpsc::Receiver<Result<Vec<Appended>>>;
        if count == 0 {
            return Ok(());
        }
        let claimed = AtomicUsize::new(0);
        // The next batch to submit, and the first one not to submit (the
        // first that failed; none after an error of the collector's).
        let turn = Mutex::new((0usize, count));
        let turn_changed = std::sync::Condvar::new();
        let first_error: Mutex<Option<E>> = Mutex::new(None);
        let (to_collector, submitted) = mpsc::sync_channel::<(usize, Answer)>(in_flight.max(1));
        let stop = |at: usize, e: E| {
            let mut t = lock(&turn);
            if at < t.1 {
                t.1 = at;
                *lock(&first_error) = Some(e);
            }
            drop(t);
            turn_changed.notify_all();
        };
        let work = |to_collector: mpsc::SyncSender<(usize, Answer)>| {
            loop {
                let i = claimed.fetch_add(1, Ordering::Relaxed);
                if i >= lock(&turn).1 {
                    return;
                }
                let prepared = make(i).and_then(|entries| {
                    entries
                        .iter()
                        .map(|e| self.prepare(&e.event, e.subject.as_deref()))
                        .collect::<Result<Vec<_>>>()
                        .map_err(E::from)
                });
                let prepared = match prepared {
                    Ok(p) => p,
                    Err(e) => return stop(i, e),
                };
                let mut t = lock(&turn);
                while t.0 != i && i < t.1 {
                    t = turn_changed.wait(t).unwrap_or_else(|e| e.into_inner());
                }
                if i >= t.1 {
                    return;
                }
                let (tx, answer) = mpsc::sync_channel(1);
                if let Err(e) = self.submit(prepared, Reply::Blocking(tx)) {
                    drop(t);
                    return stop(i, E::from(e));
                }
                // Sent under the turn, so the collector sees batches in
                // order; blocks while `in_flight` batches await their sync.
                if to_collector.send((i, answer)).is_err() {
                    return;
                }
                t.0 += 1;
                drop(t);
                turn_changed.notify_all();
            }
        };
        std::thread::scope(|scope| {
            for _ in 0..threads.max(1) {
                let tx = to_collector.clone();
                scope.spawn(|| work(tx));
            }
            drop(to_collector);
            let mut done = 0;
            for (i, answer) in submitted.iter() {
                let answers = answer
                    .recv()
                    .map_err(|_| Error::WriterStopped("the writer thread is gone".into()))
                    .and_then(|a| a)
                    .map_err(E::from)
                    .and_then(|answers| durable(i, answers));
                if let Err(e) = answers {
                    stop(0, e);
                    break;
                }
                done += 1;
            }
            // Unblock workers waiting to hand a batch over.
            drop(submitted);
            if done < count && lock(&first_error).is_none() {
                stop(
                    0,
                    E::from(Error::WriterStopped("a batch was never submitted".into())),
                );
            }
        });
        match first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Records a system or audit event under the archive's own key.
    pub fn append_system(
        &self,
        actor: &str,
        action: &str,
        target: Option<&str>,
        details: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Appended> {
        let event = Event::System(SystemEvent {
            actor: actor.to_string(),
            action: action.to_string(),
            target: target.map(str::to_string),
            at: Timestamp::now(),
            details,
        });
        self.append(&event, None)
    }

    /// Encrypts an event in the caller's thread, so appenders encrypt in
    /// parallel and the writer only writes.
    fn prepare(&self, event: &Event, subject: Option<&str>) -> Result<Prepared> {
        let key = self.key_for(&key_name(subject, event))?;
        let kind = event.kind();
        let payload = key.seal_entry(&payload_aad(kind, key.id()), &event.encode());
        Ok(Prepared {
            kind,
            key_id: key.id(),
            dedup: event
                .dedup_key()
                .map(|k| *Digest::of(k.as_bytes()).as_bytes()),
            payload_digest: Digest::of(&payload),
            payload,
        })
    }

    /// The data key named `name`, created if there is none: in the key
    /// store file, or in cluster mode by the writer under its lease (so
    /// every node uses the one key of a subject and month).
    fn key_for(&self, name: &str) -> Result<Arc<crate::keys::DataKey>> {
        if !self.inner.cluster {
            return self.inner.keys.key_for(name);
        }
        if let Some(key) = self.inner.keys.get(name) {
            return Ok(key);
        }
        let name = name.to_string();
        self.cluster_call(|reply| cluster::Work::EnsureKey {
            name: name.clone(),
            reply,
        })?;
        self.inner.keys.get(&name).ok_or_else(|| {
            Error::WriterStopped("the cluster writer did not create the data key".into())
        })
    }

    /// Hands `work` to the cluster writer and waits for its answer.
    fn cluster_call<T>(
        &self,
        work: impl FnOnce(mpsc::SyncSender<Result<T>>) -> cluster::Work,
    ) -> Result<T> {
        let (tx, answer) = mpsc::sync_channel(1);
        {
            let requests = read(&self.inner.requests);
            let Some(sender) = requests.as_ref() else {
                return Err(Error::WriterStopped("the journal is closed".into()));
            };
            sender
                .send(Msg::Cluster(work(tx)))
                .map_err(|_| Error::WriterStopped("the writer thread is gone".into()))?;
        }
        answer
            .recv()
            .map_err(|_| Error::WriterStopped("the writer thread is gone".into()))?
    }

    /// Hands prepared entries to the writer; `reply` is answered once they
    /// are durable.
    fn submit(&self, entries: Vec<Prepared>, reply: Reply) -> Result<()> {
        let requests = read(&self.inner.requests);
        let Some(tx) = requests.as_ref() else {
            return Err(Error::WriterStopped("the journal is closed".into()));
        };
        tx.send(Msg::Append(Request { entries, reply }))
            .map_err(|_| Error::WriterStopped("the writer thread is gone".into()))
    }

    /// Submits and blocks until the entries are durable.
    fn submit_and_wait(&self, entries: Vec<Prepared>) -> Result<Vec<Appended>> {
        let (tx, answer) = mpsc::sync_channel(1);
        self.submit(entries, Reply::Blocking(tx))?;
        answer
            .recv()
            .map_err(|_| Error::WriterStopped("the writer thread is gone".into()))?
    }

    /// Appends one event from async code: it is encrypted at once (a few
    /// microseconds) and the returned future resolves once it is durable,
    /// without blocking a runtime thread meanwhile.
    pub fn append_async(
        &self,
        event: &Event,
        subject: Option<&str>,
    ) -> impl Future<Output = Result<Appended>> + Send + 'static {
        let (tx, answer) = oneshot::channel();
        let sent = self
            .prepare(event, subject)
            .and_then(|prepared| self.submit(vec![prepared], Reply::Async(tx)));
        async move {
            sent?;
            let answer = answer
                .await
                .map_err(|_| Error::WriterStopped("the writer thread is gone".into()))??;
            Ok(answer[0])
        }
    }

    /// Signs a head for the current tree and adds it to the chain.
    pub fn sign_head(&self) -> Result<SignedTreeHead> {
        if self.inner.cluster {
            return self.cluster_call(|reply| cluster::Work::SignHead { reply });
        }
        let mut heads = lock(&self.inner.heads);
        let (size, root) = {
            let state = read(&self.inner.state);
            (state.size(), state.frontier.root())
        };
        heads.append(&self.inner.signer, size, root)
    }

    /// The newest signed head.
    pub fn latest_head(&self) -> Option<SignedTreeHead> {
        lock(&self.inner.heads).heads().last().cloned()
    }

    /// Every signed head, oldest first.
    pub fn heads(&self) -> Vec<SignedTreeHead> {
        lock(&self.inner.heads).heads().to_vec()
    }

    /// Proves that entry `seq` is in the tree of `tree_size` entries.
    pub fn inclusion_proof(&self, seq: u64, tree_size: u64) -> Result<InclusionProof> {
        let state = read(&self.inner.state);
        if tree_size > state.size() {
            return Err(Error::TreeSize {
                asked: tree_size,
                size: state.size(),
            });
        }
        if seq >= tree_size {
            return Err(Error::NoSuchEntry {
                seq,
                size: tree_size,
            });
        }
        let leaves = &state.leaves[..tree_size as usize];
        Ok(InclusionProof {
            seq,
            tree_size,
            leaf_hash: leaves[seq as usize],
            path: merkle::inclusion_proof(leaves, seq)?,
            root: merkle::root(leaves),
        })
    }

    /// Proves that the tree of `old_size` entries is a prefix of the tree
    /// of `new_size` entries.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<ConsistencyProof> {
        let state = read(&self.inner.state);
        if new_size > state.size() {
            return Err(Error::TreeSize {
                asked: new_size,
                size: state.size(),
            });
        }
        let leaves = &state.leaves[..new_size as usize];
        Ok(ConsistencyProof {
            old_size,
            new_size,
            path: merkle::consistency_proof(leaves, old_size)?,
            old_root: merkle::root(&leaves[..old_size.min(new_size) as usize]),
            new_root: merkle::root(leaves),
        })
    }

    /// Reads entry `seq`.
    pub fn entry(&self, seq: u64) -> Result<StoredEntry> {
        let (path, offset) = {
            let state = read(&self.inner.state);
            if seq >= state.size() {
                return Err(Error::NoSuchEntry {
                    seq,
                    size: state.size(),
                });
            }
            let seg = state.segments.partition_point(|s| s.first_seq <= seq) - 1;
            (
                state.segments[seg].path.clone(),
                state.offsets[seq as usize] as u64,
            )
        };
        let buf = read_frame_at(&path, offset)?;
        let mut frames = frame::Frames::new(&buf, 0);
        let corrupt = |problem: String| Error::Corrupt {
            path: path.clone(),
            offset,
            seq: Some(seq),
            problem,
        };
        let body = frames
            .next()
            .ok_or_else(|| corrupt("entry does not check out".into()))?
            .body;
        let (leaf_bytes, payload) = body.split_at(crate::entry::LEAF_LEN.min(body.len()));
        let leaf = Leaf::decode(leaf_bytes).map_err(|e| corrupt(e.to_string()))?;
        Ok(StoredEntry {
            leaf,
            payload: payload.to_vec(),
            segment: path.clone(),
            offset,
        })
    }

    /// Every entry from `from` to the current end, in order, read segment
    /// by segment.
    pub fn entries(&self, from: u64) -> Entries {
        let state = read(&self.inner.state);
        Entries {
            segments: state
                .segments
                .iter()
                .map(|s| (s.first_seq, s.path.clone()))
                .collect(),
            next: from,
            end: state.size(),
            buffered: Vec::new().into_iter(),
        }
    }

    /// A 32-byte key for `purpose` derived from the archive's KEK: every
    /// node of a cluster, and every restart, derives the same one, and it
    /// serves nothing else (e.g. sealing short-lived cookies that any node
    /// must open). Distinct purposes give unrelated keys.
    pub fn derived_key(&self, purpose: &str) -> [u8; 32] {
        self.inner.keys.kek().derive(purpose)
    }

    /// Opens every entry of `kinds` from `*next` to the current end, in
    /// order, and hands each event to `each`; `*next` moves past every
    /// entry read, so a reader that follows the journal (a node's view of
    /// what other processes append) calls again for what arrived since.
    /// Entries whose key was shredded hold nothing and are passed over. An
    /// entry that cannot be read or opened stops the read, `*next` at it.
    pub fn events_since(
        &self,
        next: &mut u64,
        kinds: &[EventKind],
        mut each: impl FnMut(u64, Event),
    ) -> Result<()> {
        for entry in self.entries(*next) {
            let entry = entry?;
            if kinds.contains(&entry.leaf.kind)
                && let Opened::Event(event) = self.open_entry(&entry)?
            {
                each(entry.leaf.seq, event);
            }
            *next = entry.leaf.seq + 1;
        }
        Ok(())
    }

    /// Decrypts an entry's event, unless its subject's key was shredded.
    pub fn open_entry(&self, entry: &StoredEntry) -> Result<Opened> {
        let seq = entry.leaf.seq;
        let key = match self.inner.keys.state(entry.leaf.key_id) {
            KeyState::Present(key) => key,
            KeyState::Shredded(at) => return Ok(Opened::Shredded(at)),
            KeyState::Unknown => {
                return Err(Error::Corrupt {
                    path: self.inner.dir.join(SUBJECTS_FILE),
                    offset: 0,
                    seq: Some(seq),
                    problem: format!(
                        "data key {} is missing from the key store",
                        entry.leaf.key_id
                    ),
                });
            }
        };
        let aad = payload_aad(entry.leaf.kind, key.id());
        let plain = if entry.leaf.version == crate::entry::LEAF_VERSION_SUBJECT_KEY {
            key.open(&aad, &entry.payload)
        } else {
            key.open_entry(&aad, &entry.payload)
        }
        .ok_or(Error::Decrypt { seq })?;
        let event = Event::decode(&plain).map_err(|source| Error::Decode { seq, source })?;
        Ok(Opened::Event(event))
    }

    /// The entry's own key, to disclose that one entry (and no other) to a
    /// third party, e.g. in an export: `None` if the subject's key was
    /// shredded. Entries written before per-entry keys (leaf version 1)
    /// cannot be disclosed alone and are refused.
    pub fn entry_key(&self, entry: &StoredEntry) -> Result<Option<[u8; 32]>> {
        let seq = entry.leaf.seq;
        if entry.leaf.version == crate::entry::LEAF_VERSION_SUBJECT_KEY {
            return Err(Error::NotDisclosable { seq });
        }
        match self.inner.keys.state(entry.leaf.key_id) {
            KeyState::Present(key) => Ok(Some(
                key.entry_key(&entry.payload)
                    .ok_or(Error::Decrypt { seq })?,
            )),
            KeyState::Shredded(_) => Ok(None),
            KeyState::Unknown => Err(Error::Decrypt { seq }),
        }
    }

    /// One proof that every entry of `seqs` (strictly ascending) is in the
    /// tree of `tree_size` entries: see [`merkle::multi_proof`].
    pub fn multi_proof(&self, seqs: &[u64], tree_size: u64) -> Result<Vec<merkle::Hash>> {
        let state = read(&self.inner.state);
        if tree_size > state.size() {
            return Err(Error::TreeSize {
                asked: tree_size,
                size: state.size(),
            });
        }
        Ok(merkle::multi_proof(
            &state.leaves[..tree_size as usize],
            seqs,
        )?)
    }

    /// Destroys every data key of `subject`, all periods (crypto-shredding,
    /// an erasure): every entry encrypted under them can no longer be
    /// opened, and the tree still verifies. Each erasure is recorded first
    /// as a `key.shred` event naming the key id (never the subject), so a
    /// crash in between leaves a record and a shred that can simply be run
    /// again. Returns the destroyed keys (none if the subject had no key).
    pub fn shred(&self, subject: &str, actor: &str, reason: &str) -> Result<Vec<KeyId>> {
        if subject == ARCHIVE_SUBJECT {
            return Err(Error::Refused(
                "the archive's own key cannot be shredded".into(),
            ));
        }
        let subject = subject_id(Some(subject));
        if subject == ARCHIVE_SUBJECT {
            return Err(Error::Refused(
                "the archive's own key cannot be shredded".into(),
            ));
        }
        let ids = self.inner.keys.ids_of(&subject);
        self.shred_keys(&ids, actor, reason, &serde_json::Map::new())
    }

    /// Every data key of `subject` (one per period it has records in),
    /// present or destroyed.
    pub fn key_ids_of(&self, subject: &str) -> Vec<KeyId> {
        self.inner.keys.ids_of(&subject_id(Some(subject)))
    }

    /// Destroys the data keys `ids` (retention disposes of one subject's
    /// period this way): one `key.shred` event per key still live, naming
    /// it with `reason` and `details`, all durable before the key store is
    /// rewritten once; then their blobs are deleted. Keys already destroyed
    /// are skipped, so a repeated call does nothing more. The archive's own
    /// key is refused. Returns the keys destroyed now.
    pub fn shred_keys(
        &self,
        ids: &[KeyId],
        actor: &str,
        reason: &str,
        details: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Vec<KeyId>> {
        if let Some(archive) = self.inner.keys.archive_key_id()
            && ids.contains(&archive)
        {
            return Err(Error::Refused(
                "the archive's own key cannot be shredded".into(),
            ));
        }
        let _one_shred_at_a_time = lock(&self.inner.shredding);
        let live: Vec<KeyId> = ids
            .iter()
            .copied()
            .filter(|id| matches!(self.inner.keys.state(*id), KeyState::Present(_)))
            .collect();
        if live.is_empty() {
            return Ok(live);
        }
        let at = Timestamp::now();
        let events: Vec<NewEntry> = live
            .iter()
            .map(|id| {
                let mut d = details.clone();
                d.insert("key_id".into(), id.to_string().into());
                d.insert("reason".into(), reason.into());
                NewEntry {
                    event: Event::System(SystemEvent {
                        actor: actor.to_string(),
                        action: "key.shred".to_string(),
                        target: Some(id.to_string()),
                        at,
                        details: d,
                    }),
                    subject: None,
                }
            })
            .collect();
        // The intent first: a crash after the entries and before the key
        // store's rewrite is finished by the next open.
        shredding::begin(&self.inner.dir, self.size(), &live)?;
        if let Err(e) = self.append_all(&events) {
            // Nothing was journalled: the keys stay, and so may the intent
            // (the next open finds no entry for it and removes it).
            let _ = shredding::finish(&self.inner.dir);
            return Err(e);
        }
        self.destroy_keys(&live, at)
    }

    /// Destroys keys whose `key.shred` entries are durable (in cluster
    /// mode, through the lease holder's writer), deletes their blobs, then
    /// removes the shred's intent.
    fn destroy_keys(&self, ids: &[KeyId], at: Timestamp) -> Result<Vec<KeyId>> {
        let shredded = if ids.is_empty() {
            Vec::new()
        } else if self.inner.cluster {
            let ids = ids.to_vec();
            self.cluster_call(|reply| cluster::Work::Shred { ids, at, reply })?
        } else {
            self.inner.keys.shred_ids(ids, at)?
        };
        for id in ids {
            blobs::remove_all(&self.inner.dir, *id)?;
        }
        shredding::finish(&self.inner.dir)?;
        Ok(shredded)
    }

    /// At open: finishes a shred a crash cut short between its `key.shred`
    /// entries and the key store's rewrite (see [`shredding`]). Keys whose
    /// entries are durable are destroyed; the others were never shredded.
    fn finish_pending_shred(&self) -> Result<()> {
        let Some(intent) = shredding::pending(&self.inner.dir)? else {
            return Ok(());
        };
        let mut journalled = Vec::new();
        let mut at = None;
        for seq in intent.from..self.size() {
            let entry = self.entry(seq)?;
            if entry.leaf.kind != EventKind::System {
                continue;
            }
            let Opened::Event(Event::System(e)) = self.open_entry(&entry)? else {
                continue;
            };
            if e.action != "key.shred" {
                continue;
            }
            if let Some(id) = intent
                .ids
                .iter()
                .find(|id| e.target.as_deref() == Some(id.to_string().as_str()))
            {
                journalled.push(*id);
                at = Some(e.at);
            }
        }
        tracing::warn!(
            journalled = journalled.len(),
            intended = intent.ids.len(),
            "finishing a key shred a crash cut short"
        );
        self.destroy_keys(&journalled, at.unwrap_or_else(Timestamp::now))?;
        Ok(())
    }

    /// When key `id` was destroyed, if it was.
    pub fn key_shredded_at(&self, id: KeyId) -> Option<Timestamp> {
        match self.inner.keys.state(id) {
            KeyState::Shredded(at) => Some(at),
            _ => None,
        }
    }

    /// The id of the archive's own key (which is never destroyed).
    pub fn archive_key_id(&self) -> Result<KeyId> {
        Ok(self.key_for(ARCHIVE_SUBJECT)?.id())
    }

    /// Stores `bytes` (an attachment, a raw source payload) encrypted under
    /// the key of `subject` for the period of `at` (the time of the record
    /// naming the blob, e.g. the message's `sent_at`, so the blob is
    /// disposed of with it), durably, and returns where: events name the
    /// blob by its digest. Storing the same bytes again writes nothing.
    pub fn put_blob(&self, subject: Option<&str>, at: Timestamp, bytes: &[u8]) -> Result<BlobRef> {
        let name = period_key_name(&subject_id(subject), &period_of(at));
        let key = self.key_for(&name)?;
        // The key must be durable before a blob sealed under it is relied on.
        self.inner.keys.sync()?;
        self.put_blob_with(&key, bytes)
    }

    /// Stores a blob locally and, in cluster mode, in the database before
    /// its reference is handed back.
    fn put_blob_with(&self, key: &crate::keys::DataKey, bytes: &[u8]) -> Result<BlobRef> {
        let blob = blobs::put(&self.inner.dir, key, bytes)?;
        if self.inner.cluster {
            let path = blobs::path(&self.inner.dir, blob.key_id, &blob.digest);
            let sealed = fs::read(&path).at(&path)?;
            self.cluster_call(|reply| cluster::Work::PutBlob {
                key_id: blob.key_id,
                digest: blob.digest,
                sealed,
                reply,
            })?;
        }
        Ok(blob)
    }

    /// Stores `bytes` under the archive's own key (a model file, never
    /// disposed of); [`archive_blob`](Self::archive_blob) reads it back.
    pub fn put_archive_blob(&self, bytes: &[u8]) -> Result<BlobRef> {
        let key = self.key_for(ARCHIVE_SUBJECT)?;
        self.inner.keys.sync()?;
        self.put_blob_with(&key, bytes)
    }

    /// Reads a blob stored under the archive's own key ([`put_archive_blob`](Self::put_archive_blob)).
    pub fn archive_blob(&self, digest: &Digest) -> Result<Option<Vec<u8>>> {
        let key = self.key_for(ARCHIVE_SUBJECT)?;
        self.blob(key.id(), digest)
    }

    /// Reads a blob back, checked against its digest; `None` when its
    /// subject's key was destroyed.
    pub fn blob(&self, key_id: KeyId, digest: &Digest) -> Result<Option<Vec<u8>>> {
        match self.inner.keys.state(key_id) {
            KeyState::Present(key) => {
                let path = blobs::path(&self.inner.dir, key_id, digest);
                if self.inner.cluster && !path.exists() {
                    // Stored by another node: fetched into this cache.
                    let digest = *digest;
                    self.cluster_call(|reply| cluster::Work::FetchBlob {
                        key_id,
                        digest,
                        reply,
                    })?;
                }
                blobs::get(&self.inner.dir, &key, digest).map(Some)
            }
            KeyState::Shredded(_) => Ok(None),
            KeyState::Unknown => Err(Error::Corrupt {
                path: blobs::path(&self.inner.dir, key_id, digest),
                offset: 0,
                seq: None,
                problem: format!("data key {key_id} is missing from the key store"),
            }),
        }
    }

    /// Signs a final head if entries arrived since the last one, and stops
    /// the writer. Other clones can no longer append.
    pub fn close(self) -> Result<()> {
        if self.size() > self.latest_head().map_or(0, |h| h.tree_size) {
            self.sign_head()?;
        }
        self.inner.stop();
        Ok(())
    }
}

impl Inner {
    fn stop(&self) {
        lock(&self.cadence_stop).take();
        self.requests
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        for handle in std::mem::take(&mut *lock(&self.writer)) {
            let _ = handle.join();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The whole frame (header, body and checksum) at `offset` in segment
/// `path`, as written; the caller checks it.
fn read_frame_at(path: &Path, offset: u64) -> Result<Vec<u8>> {
    let file = File::open(path).at(path)?;
    let mut header = [0u8; frame::FRAME_HEADER];
    file.read_exact_at(&mut header, offset).at(path)?;
    let len = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes")) as usize;
    let mut buf = vec![0u8; frame::framed_len(len)];
    file.read_exact_at(&mut buf, offset).at(path)?;
    Ok(buf)
}

/// The KEK given, or a new one written to `dir`'s `keys/kek` (owner-only,
/// durable) when none is: what `init` does in both modes.
fn kek_or_new(dir: &Path, kek: Option<Kek>) -> Result<Kek> {
    if let Some(kek) = kek {
        return Ok(kek);
    }
    let (kek, text) = Kek::generate();
    let path = dir.join(KEK_FILE);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode_0600()
        .open(&path)
        .at(&path)?;
    writeln!(file, "{text}").at(&path)?;
    file.sync_all().at(&path)?;
    Ok(kek)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

/// The group-commit pipeline, two threads:
///
/// - the **writer** owns the tail segment: it takes every request waiting,
///   numbers and de-duplicates the entries, frames them and `write`s them
///   in one call, then passes the batch on;
/// - the **syncer** takes every batch written meanwhile, makes them durable
///   with one `fdatasync` (after syncing the key store), publishes them to
///   readers and only then answers the appenders.
///
/// So the next batch is written while the last one is being synced, and
/// one fsync covers everything written since the previous one. When the
/// syncer has nothing in hand (light load), the writer syncs the batch
/// itself: a hand-off between threads would only add latency.
struct Writer {
    seg_dir: PathBuf,
    file: Arc<File>,
    path: PathBuf,
    len: u64,
    segment_bytes: u64,
    /// The next sequence number to assign (written, maybe not yet durable).
    next_seq: u64,
    /// First 16 bytes of each de-duplication key, to its entry.
    dedup: HashMap<u128, u64>,
    state: Arc<RwLock<State>>,
    to_syncer: mpsc::SyncSender<Written>,
    /// To sync a batch in this thread when the syncer has nothing in hand.
    syncer: Syncer,
}

/// Batches written and not yet durable that the syncer may hold at once.
const SYNC_QUEUE: usize = 64;

/// A batch written to a segment, waiting for its fsync.
struct Written {
    file: Arc<File>,
    path: PathBuf,
    /// A segment the batch started, to publish with it.
    new_segment: Option<SegmentInfo>,
    leaves: Vec<Hash>,
    /// Frame offsets within the segment, one per leaf.
    offsets: Vec<u32>,
    replies: Vec<(Reply, Vec<Appended>)>,
}

impl Writer {
    fn run(mut self, requests: Receiver<Msg>) {
        let mut buf = Vec::with_capacity(1 << 20);
        // Cluster work is never sent to the file writer: dropping it
        // answers its caller that the writer is gone.
        while let Ok(first) = requests.recv() {
            let Msg::Append(first) = first else { continue };
            let mut batch = vec![first];
            let mut bytes: usize = batch[0].entries.iter().map(|e| e.payload.len()).sum();
            while bytes < MAX_BATCH_BYTES {
                let Ok(Msg::Append(r)) = requests.try_recv() else {
                    break;
                };
                bytes += r.entries.iter().map(|e| e.payload.len()).sum::<usize>();
                batch.push(r);
            }
            self.write_batch(batch, &mut buf);
        }
    }

    fn write_batch(&mut self, batch: Vec<Request>, buf: &mut Vec<u8>) {
        if let Some(why) = read(&self.state).failed.clone() {
            for r in batch {
                let _ = r.reply.send(Err(Error::WriterStopped(why.clone())));
            }
            return;
        }
        buf.clear();
        let recorded_at = Timestamp::now();
        let mut leaves = Vec::new();
        let mut offsets = Vec::new();
        let first_seq = self.next_seq;
        let (results, next, new_dedup) = number_batch(
            &batch,
            &self.dedup,
            first_seq,
            recorded_at,
            |_, leaf, payload| {
                offsets.push(buf.len());
                frame::write_parts(buf, &[leaf, payload]);
                leaves.push(merkle::leaf_hash(leaf));
            },
        );
        let new_segment = if buf.is_empty() {
            Ok(None)
        } else {
            self.write(buf, first_seq)
        };
        let new_segment = match new_segment {
            Ok(new_segment) => new_segment,
            Err(e) => {
                let message = e.to_string();
                tracing::error!(error = %message, "journal append failed");
                for r in batch {
                    let _ = r.reply.send(Err(Error::WriterStopped(message.clone())));
                }
                return;
            }
        };
        let base = self.len - buf.len() as u64;
        self.next_seq = next;
        self.dedup.extend(new_dedup);
        let written = Written {
            file: self.file.clone(),
            path: self.path.clone(),
            new_segment,
            leaves,
            offsets: offsets
                .into_iter()
                .map(|o| (base + o as u64) as u32)
                .collect(),
            replies: batch.into_iter().map(|r| r.reply).zip(results).collect(),
        };
        // Under light load, hand-offs cost more than they save: with no
        // batch in the syncer's hands, sync this one here, in order.
        if self.syncer.in_flight.load(Ordering::Acquire) == 0 {
            self.syncer.sync(vec![written]);
            return;
        }
        self.syncer.in_flight.fetch_add(1, Ordering::AcqRel);
        if self.to_syncer.send(written).is_err() {
            tracing::error!("journal syncer stopped");
        }
    }

    /// Writes `buf` at the tail, starting a new segment first if the tail
    /// is full. On failure the tail is cut back so nothing of the rejected
    /// batch remains; if even that fails, the writer stops (the next open
    /// cuts the torn tail).
    fn write(&mut self, buf: &[u8], first_seq: u64) -> Result<Option<SegmentInfo>> {
        let mut new_segment = None;
        let mut previous_tail = None;
        if self.len + buf.len() as u64 > self.segment_bytes && self.len > SEGMENT_HEADER as u64 {
            let path = self.seg_dir.join(segment::file_name(first_seq));
            fsutil::replace_durably(&path, &segment::header(first_seq))?;
            let file = OpenOptions::new().append(true).open(&path).at(&path)?;
            previous_tail = Some((
                std::mem::replace(&mut self.file, Arc::new(file)),
                std::mem::replace(&mut self.path, path.clone()),
                self.len,
            ));
            self.len = SEGMENT_HEADER as u64;
            new_segment = Some(SegmentInfo { first_seq, path });
        }
        if let Err(e) = (&*self.file).write_all(buf) {
            let cut = self
                .file
                .set_len(self.len)
                .and_then(|()| self.file.sync_all());
            if let Err(cut_error) = cut {
                let why = format!(
                    "{}: {e}; cutting the failed write back failed: {cut_error}",
                    self.path.display()
                );
                self.state.write().unwrap_or_else(|e| e.into_inner()).failed = Some(why);
            }
            let error = Err(e).at(&self.path);
            if let (Some(info), Some((file, path, len))) = (new_segment, previous_tail) {
                // The new segment holds no entry: remove it (durably, or a
                // crash could bring it back behind later entries of the
                // previous segment) and go back to the previous tail, so
                // the next attempt starts it again.
                let removed = fs::remove_file(&info.path)
                    .at(&info.path)
                    .and_then(|()| fsutil::sync_dir(&self.seg_dir));
                if let Err(remove_error) = removed {
                    let why = format!("removing the unused segment failed: {remove_error}");
                    self.state.write().unwrap_or_else(|e| e.into_inner()).failed = Some(why);
                }
                (self.file, self.path, self.len) = (file, path, len);
            }
            return error;
        }
        self.len += buf.len() as u64;
        Ok(new_segment)
    }
}

#[derive(Clone)]
struct Syncer {
    state: Arc<RwLock<State>>,
    /// Synced before the segments, so every key an entry uses is durable
    /// before the entry is.
    keys: Arc<KeyStore>,
    /// Batches handed to the syncer thread and not yet answered.
    in_flight: Arc<AtomicUsize>,
}

impl Syncer {
    fn run(self, written: Receiver<Written>) {
        while let Ok(first) = written.recv() {
            let mut group = vec![first];
            while let Ok(w) = written.try_recv() {
                group.push(w);
            }
            let handled = group.len();
            self.sync(group);
            self.in_flight.fetch_sub(handled, Ordering::AcqRel);
        }
    }

    fn sync(&self, group: Vec<Written>) {
        let mut outcome = match read(&self.state).failed.clone() {
            Some(why) => Err(Error::WriterStopped(why)),
            None => self.keys.sync(),
        };
        let mut synced: Vec<&Arc<File>> = Vec::new();
        for w in &group {
            if outcome.is_err() {
                break;
            }
            if w.leaves.is_empty() || synced.iter().any(|f| Arc::ptr_eq(f, &w.file)) {
                continue;
            }
            outcome = w.file.sync_data().at(&w.path);
            synced.push(&w.file);
        }
        if let Err(e) = outcome {
            // What the disk holds after a failed fsync is unknown: stop,
            // and let the next open recover from what is there.
            let message = e.to_string();
            tracing::error!(error = %message, "journal fsync failed; the writer stops");
            self.state
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .failed
                .get_or_insert_with(|| message.clone());
            for w in group {
                for (reply, _) in w.replies {
                    let _ = reply.send(Err(Error::WriterStopped(message.clone())));
                }
            }
            return;
        }
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        let mut replies = Vec::new();
        for w in group {
            if let Some(info) = w.new_segment {
                state.segments.push(info);
            }
            state.committed += w.leaves.len() as u64;
            for (hash, offset) in w.leaves.into_iter().zip(w.offsets) {
                state.leaves.push(hash);
                state.frontier.push(hash);
                state.offsets.push(offset);
            }
            replies.extend(w.replies);
        }
        state.batches += 1;
        let size = state.size();
        drop(state);
        tracing::debug!(size, entries = replies.len(), "journal batch durable");
        for (reply, answers) in replies {
            let _ = reply.send(Ok(answers));
        }
    }
}

/// Iterator over stored entries; see [`Journal::entries`].
pub struct Entries {
    segments: Vec<(u64, PathBuf)>,
    next: u64,
    end: u64,
    buffered: std::vec::IntoIter<StoredEntry>,
}

impl Iterator for Entries {
    type Item = Result<StoredEntry>;

    fn next(&mut self) -> Option<Result<StoredEntry>> {
        loop {
            if let Some(e) = self.buffered.next() {
                return Some(Ok(e));
            }
            if self.next >= self.end {
                return None;
            }
            let i = self
                .segments
                .partition_point(|(first, _)| *first <= self.next)
                - 1;
            let (first, path) = self.segments[i].clone();
            let bytes = match fs::read(&path).at(&path) {
                Ok(b) => b,
                Err(e) => return Some(Err(e)),
            };
            let parsed = match segment::parse(&path, &bytes, first) {
                Ok(p) => p,
                Err(e) => return Some(Err(e)),
            };
            let mut out = Vec::new();
            for e in parsed.entries {
                if e.leaf.seq >= self.next && e.leaf.seq < self.end {
                    out.push(StoredEntry {
                        leaf: e.leaf,
                        payload: e.payload.to_vec(),
                        segment: path.clone(),
                        offset: e.offset as u64,
                    });
                }
            }
            let Some(last) = out.last() else {
                return Some(Err(Error::Corrupt {
                    path,
                    offset: 0,
                    seq: Some(self.next),
                    problem: "entry is missing from its segment".into(),
                }));
            };
            self.next = last.leaf.seq + 1;
            self.buffered = out.into_iter();
        }
    }
}

/// Opens files with mode 0600 on Unix.
trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_model::{Direction, Message};

    fn message(source_id: &str) -> NewEntry {
        NewEntry {
            event: Event::Message(Message {
                channel: "whatsapp".into(),
                source_id: source_id.into(),
                conversation: "conv-1".into(),
                sender: "+447700900001".into(),
                recipients: vec!["+442071234567".into()],
                direction: Direction::Inbound,
                sent_at: Timestamp::from_micros(1),
                captured_at: Timestamp::from_micros(2),
                text: Some(format!("text of {source_id}")),
                attachments: Vec::new(),
                reply_to: None,
                raw_digest: Digest::of(source_id.as_bytes()),
                extra: Default::default(),
            }),
            subject: Some(format!("+4420712{:05}", source_id.len() * 7)),
        }
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

    #[test]
    fn a_shred_cut_short_after_its_entries_is_finished_by_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::init(dir.path(), None, "test").unwrap();
        let mut alice = message("m-alice");
        alice.subject = Some("+447700900111".into());
        let mut bob = message("m-bob");
        bob.subject = Some("+447700900222".into());
        journal.append_all(&[alice, bob]).unwrap();
        let a = journal.key_ids_of("+447700900111");
        let b = journal.key_ids_of("+447700900222");
        assert_eq!((a.len(), b.len()), (1, 1));
        // What a crash leaves: the intent for both keys, Alice's entry
        // durable, the key store not yet rewritten.
        shredding::begin(dir.path(), journal.size(), &[a[0], b[0]]).unwrap();
        journal
            .append_system(
                "test",
                "key.shred",
                Some(&a[0].to_string()),
                Default::default(),
            )
            .unwrap();
        journal.close().unwrap();

        let journal = Journal::open(dir.path(), Options::default()).unwrap();
        assert!(
            journal.key_shredded_at(a[0]).is_some(),
            "the journalled shred is finished"
        );
        assert!(
            journal.key_shredded_at(b[0]).is_none(),
            "an unjournalled one never happened"
        );
        assert_eq!(shredding::pending(dir.path()).unwrap(), None);
        let opened: Vec<bool> = journal
            .entries(0)
            .map(|e| {
                matches!(
                    journal.open_entry(&e.unwrap()).unwrap(),
                    Opened::Shredded(_)
                )
            })
            .collect();
        assert_eq!(opened.iter().filter(|s| **s).count(), 1);
        // A later shred of Alice journals nothing more.
        assert!(
            journal
                .shred("+447700900111", "test", "again")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn append_batches_keeps_the_order_and_answers_each_batch_in_turn() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::init(dir.path(), None, "test").unwrap();
        let before = journal.size();
        // Batch 5 repeats an id of batch 1: a duplicate of an entry that
        // was submitted, maybe not yet durable, when batch 5 was made.
        let batch = |i: usize| -> Vec<String> {
            (0..10)
                .map(|j| {
                    if i == 5 && j == 3 {
                        "m-1-3".to_string()
                    } else {
                        format!("m-{i}-{j}")
                    }
                })
                .collect()
        };
        let mut seen = Vec::new();
        journal
            .append_batches::<Error, _, _>(
                8,
                3,
                2,
                |i| Ok(batch(i).iter().map(|id| message(id)).collect()),
                |i, answers| {
                    assert_eq!(answers.len(), 10, "batch {i}");
                    seen.push((i, answers));
                    Ok(())
                },
            )
            .unwrap();
        assert_eq!(
            seen.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            (0..8).collect::<Vec<_>>()
        );
        let mut next = before;
        for (i, answers) in &seen {
            for (j, a) in answers.iter().enumerate() {
                if *i == 5 && j == 3 {
                    assert!(a.duplicate);
                    assert_eq!(a.seq, seen[1].1[3].seq, "the duplicate names the original");
                    continue;
                }
                assert!(!a.duplicate, "batch {i} entry {j}");
                assert_eq!(a.seq, next, "batch {i} entry {j} in submission order");
                next += 1;
            }
        }
        assert_eq!(journal.size(), next);
        let expected: Vec<String> = (0..8)
            .flat_map(batch)
            .enumerate()
            .filter(|(k, _)| *k != 53)
            .map(|(_, id)| id)
            .collect();
        assert_eq!(source_ids(&journal), expected);
    }

    #[test]
    fn append_batches_stops_at_the_first_failed_batch_and_writes_only_those_before() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::init(dir.path(), None, "test").unwrap();
        let mut durable = 0;
        let result = journal.append_batches::<Error, _, _>(
            20,
            2,
            4,
            |i| {
                if i == 6 {
                    return Err(Error::Refused(format!("batch {i} is bad")));
                }
                Ok((0..5).map(|j| message(&format!("m-{i}-{j}"))).collect())
            },
            |_, _| {
                durable += 1;
                Ok(())
            },
        );
        let err = result.unwrap_err();
        assert!(err.to_string().contains("batch 6 is bad"), "{err}");
        assert_eq!(durable, 6, "the batches before the failed one are answered");
        let expected: Vec<String> = (0..6)
            .flat_map(|i| (0..5).map(move |j| format!("m-{i}-{j}")))
            .collect();
        assert_eq!(
            source_ids(&journal),
            expected,
            "nothing after the failed batch"
        );
        // The journal still takes appends.
        journal.append(&message("after").event, None).unwrap();
    }
}
