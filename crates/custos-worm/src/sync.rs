//! Uploading what the bucket does not hold yet, with a journal event per
//! object.
//!
//! The journal is the list of what the bucket must hold: each upload, once
//! checked, is journalled as `worm.uploaded` (object, SHA-256, version id,
//! retain-until, legal hold, kind, bytes), so the audit trail says what
//! went up and when, and `custos verify --worm` knows what to look for. An
//! object found already in the bucket (a sync that crashed between upload
//! and event) is adopted when its bytes match; other bytes under the name
//! are an alarm (`worm.alarm`) and an error naming the object. Uploads go
//! in order (segments first, oldest first) and stop at the first failure,
//! so the bucket's segments are always a run from the first one.
//!
//! Legal holds follow the holds in force: an object holding a held record
//! is uploaded with the S3 legal hold on; when a hold is placed or released
//! after upload, the next sync turns the S3 legal hold of each affected
//! version on or off (`worm.legal_hold` per object) and records that it
//! has weighed the holds up to a point (`worm.holds_applied`), so it does
//! the work again only after the next hold event.
//!
//! Locks follow the retention schedule ([`crate::extend`]): when a sync
//! weighs the plan (it uploads something, a hold or the schedule changed,
//! the default retention differs, or it is the first sync of its
//! [`Progress`]), each object uploaded before whose records now end later
//! than its lock on record gets its compliance lock extended
//! (`worm.retention_extended`); a shortened schedule leaves the locks and
//! is counted in the report.
//!
//! These functions block on the journal: call them from a thread of their
//! own (the CLI, or the serve loop's thread), not a shared runtime's.

use crate::error::WormError;
use crate::extend::{self, Extension, WORM_RETENTION_EXTENDED};
use crate::plan::{self, Kind, Local, Retention};
use crate::store::{Copy, Lock, WormStore};
use custos_governance::retention::Period;
use custos_journal::head::HEADS_MAGIC;
use custos_journal::{Journal, Opened, frame, segment};
use custos_model::{Digest, Event, Timestamp};
use serde::Serialize;
use std::collections::BTreeMap;

/// The journal action of a checked upload.
pub const WORM_UPLOADED: &str = "worm.uploaded";
/// The journal action of an object found in the bucket with other bytes.
pub const WORM_ALARM: &str = "worm.alarm";
/// The journal action of an S3 legal hold turned on or off after upload.
pub const WORM_LEGAL_HOLD: &str = "worm.legal_hold";
/// The journal action recording that legal holds were weighed up to an entry.
pub const WORM_HOLDS_APPLIED: &str = "worm.holds_applied";

/// What a sync did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SyncReport {
    /// Objects uploaded (and checked) now.
    pub uploaded: Vec<Copy>,
    /// Objects found in the bucket with the same bytes and recorded now.
    pub adopted: Vec<Copy>,
    /// Objects already recorded as uploaded before this sync.
    pub already: usize,
    /// Objects whose S3 legal hold was turned on (true) or off (false)
    /// because a hold was placed or released since their upload.
    pub legal_holds: Vec<(String, bool)>,
    /// Objects whose compliance lock was extended because their records'
    /// retention now ends later (a lengthened schedule).
    pub extended: Vec<Extension>,
    /// Of the objects on record (uploaded before or now), how many keep a
    /// longer lock than the retention schedule now gives (it was
    /// shortened; a lock is never shortened). `None` when this sync did
    /// not weigh the plan (nothing changed since the last one that did).
    pub kept_longer: Option<usize>,
}

/// The objects the journal records as uploaded, by name (the latest record
/// of each, with its legal hold as last set).
pub fn uploaded(journal: &Journal) -> Result<BTreeMap<String, Copy>, WormError> {
    let mut progress = Progress::default();
    progress.fold(journal)?;
    Ok(progress.copies)
}

/// What the journal says of the WORM copy, folded up to an entry. A caller
/// that syncs again and again (`serve --worm`) keeps it between syncs
/// ([`sync_from`]), so each reads only the entries since the last.
#[derive(Debug, Default)]
pub struct Progress {
    copies: BTreeMap<String, Copy>,
    /// When each object's `worm.uploaded` was recorded.
    uploaded_at: BTreeMap<String, Timestamp>,
    /// The last retention schedule version loaded (its entry).
    last_schedule: Option<u64>,
    /// The plan was weighed against every lock for the entries before
    /// this one, with this default retention (in memory only: a new
    /// Progress weighs again).
    weighed: Option<(u64, Period)>,
    /// The last hold event (placed or released).
    last_hold: Option<u64>,
    /// Legal holds were weighed for every entry before this one.
    holds_applied_through: u64,
    /// The next entry to fold.
    next: u64,
}

impl Progress {
    /// Folds the entries appended since the last call.
    fn fold(&mut self, journal: &Journal) -> Result<(), WormError> {
        let archive = journal.archive_key_id()?;
        let from = self.next;
        self.next = journal.size();
        fold_range(journal, archive, from, self.next, self)
    }
}

fn fold_range(
    journal: &Journal,
    archive: custos_journal::KeyId,
    from: u64,
    to: u64,
    state: &mut Progress,
) -> Result<(), WormError> {
    for entry in journal.entries(from) {
        let entry = entry?;
        if entry.leaf.seq >= to {
            break;
        }
        if entry.leaf.key_id != archive || entry.leaf.kind != custos_model::EventKind::System {
            continue;
        }
        let Opened::Event(Event::System(s)) = journal.open_entry(&entry)? else {
            continue;
        };
        match s.action.as_str() {
            WORM_UPLOADED => {
                let value = serde_json::Value::Object(s.details.clone());
                if let Ok(copy) = serde_json::from_value::<Copy>(value) {
                    state
                        .uploaded_at
                        .insert(copy.object.clone(), entry.leaf.recorded_at);
                    state.copies.insert(copy.object.clone(), copy);
                }
            }
            WORM_RETENTION_EXTENDED => {
                let value = serde_json::Value::Object(s.details.clone());
                if let Ok(e) = serde_json::from_value::<Extension>(value)
                    && let Some(copy) = state.copies.get_mut(&e.object)
                    && copy.version_id == e.version_id
                {
                    copy.retain_until = copy.retain_until.max(e.retain_until);
                }
            }
            custos_governance::retention::RULE_SET => {
                state.last_schedule = Some(entry.leaf.seq);
            }
            WORM_LEGAL_HOLD => {
                let object = s.details.get("object").and_then(|v| v.as_str());
                let on = s.details.get("legal_hold").and_then(|v| v.as_bool());
                if let (Some(object), Some(on)) = (object, on)
                    && let Some(copy) = state.copies.get_mut(object)
                {
                    copy.legal_hold = on;
                }
            }
            WORM_HOLDS_APPLIED => {
                if let Some(through) = s.details.get("through_seq").and_then(|v| v.as_u64()) {
                    state.holds_applied_through = state.holds_applied_through.max(through);
                }
            }
            custos_governance::holds::PLACED | custos_governance::holds::RELEASED => {
                state.last_hold = Some(entry.leaf.seq);
            }
            _ => {}
        }
    }
    Ok(())
}

/// The heads file as it stands: its magic and one frame per head, the
/// bytes `heads` holds on disk.
pub(crate) fn heads_bytes(heads: &[custos_journal::SignedTreeHead]) -> Vec<u8> {
    let mut bytes = HEADS_MAGIC.to_vec();
    for h in heads {
        frame::write(&mut bytes, &h.encode());
    }
    bytes
}

/// Uploads every sealed segment, blob and the heads snapshot the bucket
/// does not hold yet, each locked until its records' retention ends
/// (`default` for records no rule governs), and journals each upload as
/// `actor`.
pub async fn sync(
    journal: &Journal,
    store: &WormStore,
    default: Period,
    actor: &str,
) -> Result<SyncReport, WormError> {
    sync_from(journal, store, default, actor, &mut Progress::default()).await
}

/// [`sync()`], reading only the journal entries since `progress` was last
/// brought up to date.
pub async fn sync_from(
    journal: &Journal,
    store: &WormStore,
    default: Period,
    actor: &str,
    progress: &mut Progress,
) -> Result<SyncReport, WormError> {
    progress.fold(journal)?;
    let holds_changed = progress
        .last_hold
        .is_some_and(|seq| seq >= progress.holds_applied_through);
    let done = progress.copies.clone();
    let uploaded_at = progress.uploaded_at.clone();
    // The plan is weighed against the locks on record the first time, and
    // again after a new schedule version or with another default.
    let retention_changed = !done.is_empty()
        && match progress.weighed {
            None => true,
            Some((through, weighed_default)) => {
                weighed_default != default
                    || progress.last_schedule.is_some_and(|seq| seq >= through)
            }
        };
    let dir = journal.dir().to_path_buf();
    let mut report = SyncReport {
        already: done.len(),
        ..SyncReport::default()
    };
    let segments: Vec<Local> = plan::sealed_segments(&dir)?
        .into_iter()
        .filter(|l| !done.contains_key(&l.object))
        .collect();
    let blobs: Vec<Local> = plan::blobs(&dir)?
        .into_iter()
        .filter(|l| !done.contains_key(&l.object))
        .collect();
    let heads = journal.heads();
    let newest = heads.last().map_or(0, |h| h.tree_size);
    // A snapshot goes up with each newly sealed segment (and the first
    // time), not on every head: the heads file grows with every head, and
    // the bucket needs heads only to verify its segments.
    let any_heads = done.keys().any(|o| plan::heads_size(o).is_some());
    let heads_pending =
        (!segments.is_empty() || !any_heads) && !done.contains_key(&plan::heads_object(newest));
    if segments.is_empty()
        && blobs.is_empty()
        && !heads_pending
        && !holds_changed
        && !retention_changed
    {
        return Ok(report);
    }

    let now = Timestamp::now();
    // Every entry before this one is weighed by the plan below.
    let through_seq = journal.size();
    let any_blobs = !blobs.is_empty() || done.keys().any(|o| Kind::of(o) == Some(Kind::Blob));
    let retention = Retention::compute(journal, default, now, any_blobs)?;
    // A heads snapshot vouches for the segments starting below its tree
    // size, and is kept as long as the longest of them.
    let covered = |object: &str| plan::segment_first_seq(object).is_some_and(|f| f < newest);
    let mut longest = done
        .values()
        .filter(|c| covered(&c.object))
        .map(|c| c.retain_until)
        .max()
        .unwrap_or(retention.floor())
        .max(retention.floor());

    for local in segments {
        let path = local.path.as_ref().expect("a segment has a file");
        let bytes = std::fs::read(path).map_err(|e| WormError::io(path, e))?;
        let first = plan::segment_first_seq(&local.object).expect("named by plan");
        let (until, held) = retention.segment(path, first, &bytes)?;
        if first < newest {
            longest = longest.max(until);
        }
        let lock = Lock {
            retain_until: until,
            legal_hold: held,
        };
        put(
            journal,
            store,
            actor,
            &local.object,
            Kind::Segment,
            bytes,
            &lock,
            &mut report,
        )
        .await?;
    }
    for local in blobs {
        let path = local.path.as_ref().expect("a blob has a file");
        let bytes = std::fs::read(path).map_err(|e| WormError::io(path, e))?;
        let digest = local.object.rsplit('/').next().unwrap_or_default();
        let (until, held) = retention.blob(digest);
        let lock = Lock {
            retain_until: until,
            legal_hold: held,
        };
        put(
            journal,
            store,
            actor,
            &local.object,
            Kind::Blob,
            bytes,
            &lock,
            &mut report,
        )
        .await?;
    }
    if heads_pending {
        // The snapshot is kept as long as anything it vouches for.
        let lock = Lock {
            retain_until: plan::lock_date(longest, now),
            legal_hold: false,
        };
        let object = plan::heads_object(newest);
        put(
            journal,
            store,
            actor,
            &object,
            Kind::Heads,
            heads_bytes(&heads),
            &lock,
            &mut report,
        )
        .await?;
    }
    if holds_changed {
        apply_holds(journal, store, actor, &done, &retention, &mut report).await?;
        let mut details = serde_json::Map::new();
        details.insert("through_seq".into(), through_seq.into());
        details.insert("changed".into(), report.legal_holds.len().into());
        journal.append_system(actor, WORM_HOLDS_APPLIED, None, details)?;
    }
    // Whatever brought the plan here, weigh it against every lock on
    // record: a schedule lengthened (or a record's facts changed) extends.
    // Copies made now are weighed too: a heads snapshot just uploaded took
    // its date from the segments' locks on record, which the plan may
    // lengthen in this very pass.
    let mut all = done;
    for copy in report.uploaded.iter().chain(&report.adopted) {
        all.insert(copy.object.clone(), copy.clone());
    }
    if !all.is_empty() {
        extend::weigh(
            journal,
            store,
            actor,
            &all,
            &uploaded_at,
            &retention,
            now,
            &mut report,
        )
        .await?;
    }
    progress.weighed = Some((through_seq, default));
    Ok(report)
}

/// Turns the S3 legal hold of each object uploaded before this sync on or
/// off as the holds in force now require.
async fn apply_holds(
    journal: &Journal,
    store: &WormStore,
    actor: &str,
    done: &BTreeMap<String, Copy>,
    retention: &Retention,
    report: &mut SyncReport,
) -> Result<(), WormError> {
    let dir = journal.dir();
    for copy in done.values() {
        let held = match Kind::of(&copy.object) {
            Some(Kind::Segment) => {
                let Some(first) = plan::segment_first_seq(&copy.object) else {
                    continue;
                };
                let path = dir
                    .join(custos_journal::SEGMENTS_DIR)
                    .join(segment::file_name(first));
                let bytes = std::fs::read(&path).map_err(|e| WormError::io(&path, e))?;
                retention.segment(&path, first, &bytes)?.1
            }
            Some(Kind::Blob) => {
                let digest = copy.object.rsplit('/').next().unwrap_or_default();
                retention.blob(digest).1
            }
            _ => false,
        };
        if held == copy.legal_hold {
            continue;
        }
        store
            .set_legal_hold(&copy.object, &copy.version_id, held)
            .await?;
        let mut details = serde_json::Map::new();
        details.insert("object".into(), copy.object.clone().into());
        details.insert("version_id".into(), copy.version_id.clone().into());
        details.insert("legal_hold".into(), held.into());
        journal.append_system(actor, WORM_LEGAL_HOLD, Some(&copy.object), details)?;
        report.legal_holds.push((copy.object.clone(), held));
    }
    Ok(())
}

/// Uploads one object (or adopts an identical one already there) and
/// journals it.
#[allow(clippy::too_many_arguments)]
async fn put(
    journal: &Journal,
    store: &WormStore,
    actor: &str,
    object: &str,
    kind: Kind,
    bytes: Vec<u8>,
    lock: &Lock,
    report: &mut SyncReport,
) -> Result<(), WormError> {
    let sha256 = Digest::of(&bytes).to_string();
    let copy = match store.current(object).await? {
        Some((version, existing)) => {
            let found = Digest::of(&existing).to_string();
            if found != sha256 {
                let mut details = serde_json::Map::new();
                details.insert("object".into(), object.into());
                details.insert("kind".into(), kind.name().into());
                details.insert("expected_sha256".into(), sha256.clone().into());
                details.insert("found_sha256".into(), found.clone().into());
                details.insert("version_id".into(), version.clone().into());
                journal.append_system(actor, WORM_ALARM, Some(object), details)?;
                tracing::error!(
                    object,
                    version,
                    "the bucket holds other bytes under this name"
                );
                return Err(WormError::Mismatch {
                    object: object.to_string(),
                    problem: format!(
                        "the bucket already holds version {version} with SHA-256 {found}, not the local file's {sha256}"
                    ),
                });
            }
            // Uploaded before, but its event was not journalled (a crash
            // in between): record the lock the store holds.
            let state = store.lock_of(object, &version).await?;
            let copy = Copy {
                object: object.to_string(),
                sha256,
                version_id: version,
                retain_until: state.retain_until.unwrap_or(lock.retain_until),
                legal_hold: state.legal_hold,
                bytes: existing.len() as u64,
            };
            store.verify_copy(&copy).await?;
            if copy.retain_until < lock.retain_until {
                tracing::warn!(
                    object,
                    "adopted copy is locked for less than its records' retention"
                );
            }
            report.adopted.push(copy.clone());
            copy
        }
        None => {
            let copy = store.put_locked(object, bytes, lock).await?;
            report.uploaded.push(copy.clone());
            copy
        }
    };
    let mut details = match serde_json::to_value(&copy) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    details.insert("kind".into(), kind.name().into());
    journal.append_system(actor, WORM_UPLOADED, Some(object), details)?;
    Ok(())
}

/// The number of entries in the segment `bytes` (named for `first_seq`).
pub(crate) fn entries_in(
    path: &std::path::Path,
    first_seq: u64,
    bytes: &[u8],
) -> Result<u64, WormError> {
    Ok(segment::parse(path, bytes, first_seq)?.entries.len() as u64)
}
