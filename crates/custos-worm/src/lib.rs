//! The WORM copy: the archive's sealed files on S3-compatible object
//! storage under Object Lock in **compliance mode**, which not even the
//! bucket's administrator can delete or shorten before it expires.
//!
//! What goes up ([`plan`]): every sealed journal segment (all but the open
//! tail) as `segments/NNNN.seg`, every blob as `blobs/KEYID/SHA256` (the
//! sealed bytes as on disk), and a snapshot of the signed heads as
//! `heads/SIZE`, so the bucket alone can be verified. Each object's
//! retain-until is the retention of the records it holds, as the retention
//! schedule in force gives it (the latest end of any record in a segment;
//! a blob's message's end), or `[worm] default_retention` for records no
//! rule governs; objects holding a record under legal hold also get the S3
//! legal hold.
//!
//! [`WormStore::put_locked`] uploads with the lock headers and then checks
//! the copy: it reads the version back and compares its SHA-256, and asks
//! the store for the version's lock (mode and date). [`sync()`] uploads what
//! is not yet up and journals a `worm.uploaded` event per object (object,
//! SHA-256, version id, retain-until): the journal is the list of what the
//! bucket must hold. When the retention schedule lengthens (a new version,
//! a longer period, or a record's facts now matching a longer rule), the
//! next sync extends each affected object's compliance lock to the new end
//! ([`WormStore::extend_retention`], read back) and journals
//! `worm.retention_extended` ([`extend`]); a shortened schedule leaves the
//! locks as they are (compliance mode cannot be shortened and custos never
//! asks) and the [`SyncReport`] counts the objects kept longer.
//! [`check()`] verifies every uploaded object against the bucket (its lock
//! no earlier than the latest retain-until on record) and the local files,
//! and runs the journal's own verification over the bucket's segments and
//! heads.
//!
//! ```no_run
//! # async fn example() -> Result<(), custos_worm::WormError> {
//! use custos_worm::{Lock, StoreConfig, WormStore};
//! let store = WormStore::new(StoreConfig {
//!     bucket: "custos-worm".into(),
//!     endpoint: Some("http://127.0.0.1:9000".into()),
//!     ..StoreConfig::default()
//! })?;
//! let until = custos_model::Timestamp::parse("2033-01-01T00:00:00Z").unwrap();
//! let copy = store.put_locked("segments/x.seg", b"bytes".to_vec(), &Lock::until(until)).await?;
//! store.verify_copy(&copy).await?;
//! # Ok(()) }
//! ```

mod check;
mod error;
pub mod extend;
pub mod plan;
mod store;
mod sync;

pub use check::{CheckReport, Failure, check};
pub use error::WormError;
pub use extend::{Extension, WORM_RETENTION_EXTENDED};
pub use store::{Copy, Lock, LockState, StoreConfig, WormStore, retain_until_text};
pub use sync::{
    Progress, SyncReport, WORM_ALARM, WORM_HOLDS_APPLIED, WORM_LEGAL_HOLD, WORM_UPLOADED, sync,
    sync_from, uploaded,
};
