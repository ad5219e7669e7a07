//! The journal: custos's single source of truth.
//!
//! Every event is appended to an append-only, tamper-evident, encrypted
//! journal in the archive's data directory:
//!
//! - **Segments** ([`segment`]) hold checksummed [frames](frame), one per
//!   entry; a crash can only leave a torn tail, which [`Journal::open`] cuts
//!   back to the last durable entry; any other damage is refused.
//! - **Group commit**: any number of threads call [`Journal::append`]; one
//!   writer thread commits everything waiting with one `fdatasync` and only
//!   then answers, so an acknowledged entry is durable.
//! - **Merkle tree** ([`merkle`], RFC 9162): inclusion and consistency
//!   proofs, and Ed25519 [signed tree heads](head) kept as a chain.
//! - **Encryption** ([`keys`]): each event is sealed with AES-256-GCM under
//!   its subject's data key; the tree commits to ciphertext digests, so
//!   [crypto-shredding](Journal::shred) a subject leaves a tree that verifies.
//! - **Blobs** ([`blobs`]): attachment bytes and raw payloads, sealed under
//!   the same per-subject keys and named by digest.
//! - **Disclosure** ([`open_disclosed`]): each entry has its own key, so an
//!   export can hand one entry's key to a third party, who checks the entry
//!   against a signed head without the archive.
//! - **Verification** ([`verify()`]) recomputes everything from the files
//!   alone, with no key but the public one.
//! - **Cluster mode** ([`Options::journal_url`], [`init_cluster`]): the
//!   journal lives in PostgreSQL, shared by any number of nodes; one writer
//!   at a time holds the shard's lease (an advisory lock), and each node's
//!   data directory is a cache of the database ([`verify_cluster`] checks
//!   what the database holds).
//!
//! ```
//! use custos_journal::{Journal, Opened};
//! use custos_model::{Event, SystemEvent, Timestamp};
//! let dir = tempfile::tempdir().unwrap();
//! let journal = Journal::init(dir.path(), None, "doc").unwrap();
//! let event = Event::System(SystemEvent {
//!     actor: "doc".into(), action: "example".into(), target: None,
//!     at: Timestamp::now(), details: Default::default(),
//! });
//! let appended = journal.append(&event, None).unwrap();
//! let entry = journal.entry(appended.seq).unwrap();
//! assert!(matches!(journal.open_entry(&entry).unwrap(), Opened::Event(e) if e == event));
//! journal.close().unwrap();
//! let report = custos_journal::verify(dir.path(), None).unwrap();
//! assert_eq!(report.entries, 2);
//! ```

pub mod blobs;
mod disclose;
pub mod entry;
mod error;
pub mod frame;
mod fsutil;
pub mod head;
mod journal;
pub mod keys;
pub mod merkle;
mod multiproof;
pub mod segment;
mod shredding;
mod verify;

pub use blobs::BlobRef;
pub use disclose::{DisclosureError, open_disclosed};
pub use entry::{Leaf, StoredEntry};
pub use error::{Error, Result};
pub use head::SignedTreeHead;
pub use journal::{
    Appended, ConsistencyProof, Duty, Entries, FORMAT_FILE, HEADS_FILE, InclusionProof, Journal,
    KEK_FILE, NewEntry, Opened, Options, PUBLIC_KEY_FILE, SEGMENTS_DIR, SHARD,
    drop_scratch_database, event_time, init_cluster, period_of, scratch_database, verify_cluster,
};
pub use keys::{Kek, KeyId};
pub use verify::{VerifyReport, verify};
