//! Keeping the bucket's locks up with the retention schedule: when it
//! lengthens, each uploaded object's compliance lock is extended to the
//! new end; when it shortens, the locks stay as they are (compliance mode
//! cannot be shortened, and custos never asks) and the sync says how many
//! objects keep a longer lock than the schedule now gives.
//!
//! An object's lock is made of two parts: the end of the records it holds
//! (a segment: the latest end of its entries; a blob: the latest end of the
//! records naming it; a heads snapshot: the latest end of the segments it
//! vouches for, those starting below its tree size), and a floor taken at
//! upload time (at least a day from then; now plus the default retention
//! for a blob no record names and for a heads snapshot). Only the first
//! part can grow a lock: it does not move with the clock, so the same
//! schedule never extends a lock twice. Where it is later than the
//! retain-until on record (the `worm.uploaded` event, or the latest
//! `worm.retention_extended`), the lock is extended
//! ([`WormStore::extend_retention`]: sent, then read back) and a
//! `worm.retention_extended` event records the object, the version, the
//! old and the new retain-until and the schedule version. An object whose
//! lock on record is later than what the plan gives it, floor included as
//! of its upload, is counted in [`SyncReport::kept_longer`].

use crate::error::WormError;
use crate::plan::{self, Kind, Retention};
use crate::store::{Copy, WormStore, retain_until_text};
use crate::sync::SyncReport;
use custos_journal::{Journal, SEGMENTS_DIR, segment};
use custos_model::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The journal action of a lock extended to a lengthened retention.
pub const WORM_RETENTION_EXTENDED: &str = "worm.retention_extended";

/// One lock extended: what a `worm.retention_extended` event records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    /// The object name inside the prefix.
    pub object: String,
    /// The version whose lock was extended.
    pub version_id: String,
    /// The retain-until on record before (upload or earlier extension).
    pub previous_retain_until: Timestamp,
    /// The new retain-until, as asked and read back from the bucket.
    pub retain_until: Timestamp,
}

/// What the records an object holds ask of its lock.
struct Wanted {
    /// The latest end of its records (`None`: no record dates it).
    end: Option<Timestamp>,
    /// Whether it also gets the floor of now plus the default retention.
    default_floor: bool,
}

impl Wanted {
    /// The lock the plan gives the object when asked at `at`, as an upload
    /// at `at` would have had it.
    fn lock_at(&self, retention: &Retention, at: Timestamp) -> Timestamp {
        let floor = self.default_floor.then(|| retention.floor_at(at));
        let until = match (self.end, floor) {
            (Some(e), Some(f)) => e.max(f),
            (Some(e), None) => e,
            (None, Some(f)) => f,
            (None, None) => at,
        };
        plan::lock_date(until, at)
    }
}

/// Weighs every object uploaded before this sync (`done`, with the entry
/// time of each one's `worm.uploaded` in `uploaded_at`) against
/// `retention`: extends the locks whose records now end later, journals
/// each extension as `actor`, and counts those kept longer than the plan.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn weigh(
    journal: &Journal,
    store: &WormStore,
    actor: &str,
    done: &BTreeMap<String, Copy>,
    uploaded_at: &BTreeMap<String, Timestamp>,
    retention: &Retention,
    now: Timestamp,
    report: &mut SyncReport,
) -> Result<(), WormError> {
    let dir = journal.dir();
    // The end of each uploaded segment's entries, by its first entry.
    let mut segment_ends: BTreeMap<u64, Option<Timestamp>> = BTreeMap::new();
    for copy in done.values() {
        let Some(first) = plan::segment_first_seq(&copy.object) else {
            continue;
        };
        let path = dir.join(SEGMENTS_DIR).join(segment::file_name(first));
        let bytes = std::fs::read(&path).map_err(|e| WormError::io(&path, e))?;
        segment_ends.insert(first, retention.segment_end(&path, first, &bytes)?.0);
    }
    let mut kept_longer = 0;
    for copy in done.values() {
        let wanted = match Kind::of(&copy.object) {
            Some(Kind::Segment) => Wanted {
                end: plan::segment_first_seq(&copy.object)
                    .and_then(|first| segment_ends.get(&first).copied().flatten()),
                default_floor: false,
            },
            Some(Kind::Blob) => {
                let digest = copy.object.rsplit('/').next().unwrap_or_default();
                let end = retention.blob_end(digest).map(|(end, _)| end);
                Wanted {
                    end,
                    default_floor: end.is_none(),
                }
            }
            Some(Kind::Heads) => {
                let size = plan::heads_size(&copy.object).unwrap_or(0);
                Wanted {
                    end: segment_ends.range(..size).filter_map(|(_, e)| *e).max(),
                    default_floor: true,
                }
            }
            None => continue,
        };
        let recorded = copy.retain_until;
        match wanted.end {
            Some(end) if plan::lock_date(end, Timestamp::from_micros(0)) > recorded => {
                let until = plan::lock_date(end, now);
                extend(journal, store, actor, copy, until, retention, report).await?;
            }
            _ => {
                let at = uploaded_at.get(&copy.object).copied().unwrap_or(now);
                if recorded > wanted.lock_at(retention, at) {
                    kept_longer += 1;
                }
            }
        }
    }
    if kept_longer > 0 {
        tracing::info!(
            kept_longer,
            schedule_version = retention.schedule_version(),
            "objects keep a longer lock than the retention schedule now gives"
        );
    }
    report.kept_longer = Some(kept_longer);
    Ok(())
}

/// Extends the lock of `copy` to `until` (or records the later date the
/// bucket already holds), reads it back, and journals it.
async fn extend(
    journal: &Journal,
    store: &WormStore,
    actor: &str,
    copy: &Copy,
    until: Timestamp,
    retention: &Retention,
    report: &mut SyncReport,
) -> Result<(), WormError> {
    // The bucket may already hold a later date than the one on record
    // (an extension whose event a crash cut off): keep it, never ask less.
    let in_force = store.lock_of(&copy.object, &copy.version_id).await?;
    let until = match in_force.retain_until {
        Some(held) if held > until => held,
        _ => until,
    };
    store
        .extend_retention(&copy.object, &copy.version_id, until)
        .await?;
    let extension = Extension {
        object: copy.object.clone(),
        version_id: copy.version_id.clone(),
        previous_retain_until: copy.retain_until,
        retain_until: until,
    };
    let mut details = match serde_json::to_value(&extension) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    if let Some(kind) = Kind::of(&copy.object) {
        details.insert("kind".into(), kind.name().into());
    }
    details.insert(
        "schedule_version".into(),
        retention.schedule_version().into(),
    );
    journal.append_system(actor, WORM_RETENTION_EXTENDED, Some(&copy.object), details)?;
    tracing::info!(
        object = %copy.object,
        version = %copy.version_id,
        from = %retain_until_text(copy.retain_until),
        to = %retain_until_text(until),
        "WORM lock extended to a lengthened retention"
    );
    report.extended.push(extension);
    Ok(())
}
