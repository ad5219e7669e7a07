//! What the WORM copy holds and how long each object is locked.
//!
//! The objects are named inside the configured prefix:
//! `segments/<first seq, 20 digits>.seg` (a sealed segment, byte for byte),
//! `blobs/<key id>/<sha-256>` (a sealed blob as on disk) and
//! `heads/<tree size, 20 digits>` (the heads file as it stood when its
//! newest head covered that many entries).
//!
//! Retain-until comes from the retention planner of custos-governance
//! ([`retention::collect`] and [`retention::plan_records`] under the
//! schedule in force): a record's end is its governing rule's end, or its
//! own time plus the default retention when no rule governs it (or no
//! schedule is loaded). A segment is locked until the latest end of any
//! entry in it (archive entries, which the planner leaves out, take their
//! recorded time plus the default); a blob until the latest end of the
//! records naming its digest (a blob no record names: now plus the
//! default); a heads snapshot until the latest lock of the segments it
//! vouches for (those starting below its tree size), and at least now plus
//! the default. The date is never earlier than a day from now (S3 refuses
//! a past date) and is rounded up to a whole second (S3's format).

use crate::error::WormError;
use custos_governance::Holds;
use custos_governance::retention::{self, Period, RetentionError, Schedule, Schedules, Status};
use custos_journal::blobs::BLOBS_DIR;
use custos_journal::{Journal, Opened, SEGMENTS_DIR, segment};
use custos_model::{Event, Timestamp};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The object name of the segment starting at `first_seq`.
pub fn segment_object(first_seq: u64) -> String {
    format!("segments/{}", segment::file_name(first_seq))
}

/// The object name of a heads snapshot whose newest head covers `tree_size`.
pub fn heads_object(tree_size: u64) -> String {
    format!("heads/{tree_size:020}")
}

/// The tree size a heads snapshot's name states.
pub fn heads_size(object: &str) -> Option<u64> {
    object.strip_prefix("heads/")?.parse().ok()
}

/// The first sequence number a segment object's name states.
pub fn segment_first_seq(object: &str) -> Option<u64> {
    object
        .strip_prefix("segments/")?
        .strip_suffix(".seg")?
        .parse()
        .ok()
}

/// What kind of file an object copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A sealed journal segment.
    Segment,
    /// A sealed blob.
    Blob,
    /// A snapshot of the heads file.
    Heads,
}

impl Kind {
    /// The name in events.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Segment => "segment",
            Kind::Blob => "blob",
            Kind::Heads => "heads",
        }
    }

    /// The kind of an object, from its name.
    pub fn of(object: &str) -> Option<Kind> {
        if object.starts_with("segments/") {
            Some(Kind::Segment)
        } else if object.starts_with("blobs/") {
            Some(Kind::Blob)
        } else if object.starts_with("heads/") {
            Some(Kind::Heads)
        } else {
            None
        }
    }
}

/// A local file the WORM copy should hold.
#[derive(Clone, Debug)]
pub struct Local {
    /// Its object name.
    pub object: String,
    /// Its kind.
    pub kind: Kind,
    /// The file (segments and blobs).
    pub path: Option<PathBuf>,
}

/// The sealed segments of the archive in `dir`: every segment but the
/// last, which the writer may still append to. A segment that is not the
/// last never changes again.
pub fn sealed_segments(dir: &Path) -> Result<Vec<Local>, WormError> {
    let mut listed = segment::list(&dir.join(SEGMENTS_DIR))?;
    listed.pop();
    Ok(listed
        .into_iter()
        .map(|(first, path)| Local {
            object: segment_object(first),
            kind: Kind::Segment,
            path: Some(path),
        })
        .collect())
}

/// Every blob of the archive in `dir`, as `blobs/<key id>/<sha-256>`.
/// Temporary files of a write in progress (not 64 hex digits) are skipped.
pub fn blobs(dir: &Path) -> Result<Vec<Local>, WormError> {
    let root = dir.join(BLOBS_DIR);
    let mut out = Vec::new();
    let keys = match std::fs::read_dir(&root) {
        Ok(keys) => keys,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(WormError::io(&root, e)),
    };
    for key in keys {
        let key = key.map_err(|e| WormError::io(&root, e))?.path();
        let Some(key_name) = key.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        if !key.is_dir() || !is_hex(&key_name, 32) {
            continue;
        }
        for blob in std::fs::read_dir(&key).map_err(|e| WormError::io(&key, e))? {
            let path = blob.map_err(|e| WormError::io(&key, e))?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if is_hex(name, 64) {
                out.push(Local {
                    object: format!("blobs/{key_name}/{name}"),
                    kind: Kind::Blob,
                    path: Some(path.clone()),
                });
            }
        }
    }
    out.sort_by(|a, b| a.object.cmp(&b.object));
    Ok(out)
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// How long each record must be kept, and which are under legal hold.
#[derive(Debug)]
pub struct Retention {
    default: Period,
    /// The schedule version in force (0: none loaded).
    version: u64,
    now: Timestamp,
    /// Record → (end, held), for the records the planner sees.
    by_seq: HashMap<u64, (Timestamp, bool)>,
    /// Blob digest (hex) → the latest end and hold of the records naming it.
    by_digest: HashMap<String, (Timestamp, bool)>,
}

impl Retention {
    /// Runs the retention planner over the archive (the schedule in force,
    /// or none) and notes every record's end and hold; `with_blobs` also
    /// maps blob digests to the records naming them (a second pass over
    /// the journal).
    pub fn compute(
        journal: &Journal,
        default: Period,
        now: Timestamp,
        with_blobs: bool,
    ) -> Result<Retention, WormError> {
        let holds = Holds::load(journal)?;
        let (version, schedule) = match Schedules::load(journal)?.current() {
            Ok(current) => current,
            Err(RetentionError::NoSchedule) => (0, Schedule::default()),
            Err(e) => return Err(e.into()),
        };
        let records = retention::collect(journal, &holds)?;
        let plan = retention::plan_records(&schedule, version, records, now);
        let mut by_seq = HashMap::new();
        for key in &plan.keys {
            for r in &key.records {
                let end = match &r.governing {
                    Some(g) => g.end,
                    None => default.after(r.time).unwrap_or(far_future()),
                };
                let held = matches!(r.status, Status::Held { .. });
                by_seq.insert(r.seq, (end, held));
            }
        }
        let mut retention = Retention {
            default,
            version,
            now,
            by_seq,
            by_digest: HashMap::new(),
        };
        if with_blobs {
            retention.map_blobs(journal)?;
        }
        Ok(retention)
    }

    /// Maps each blob digest named by a message's attachments, or by a
    /// system event's details (a media download naming its message), to
    /// the latest end and any hold of the records naming it.
    fn map_blobs(&mut self, journal: &Journal) -> Result<(), WormError> {
        for entry in journal.entries(0) {
            let entry = entry?;
            let Opened::Event(event) = journal.open_entry(&entry)? else {
                continue;
            };
            let seq = entry.leaf.seq;
            let (end, held) = self.record(seq, entry.leaf.recorded_at);
            let mut digests = Vec::new();
            match &event {
                Event::Message(m) => {
                    digests.extend(m.attachments.iter().map(|a| a.sha256.to_string()))
                }
                Event::System(s) => {
                    for value in s.details.values() {
                        if let Some(text) = value.as_str()
                            && is_hex(text, 64)
                        {
                            digests.push(text.to_ascii_lowercase());
                        }
                    }
                }
                _ => {}
            }
            for d in digests {
                let slot = self.by_digest.entry(d).or_insert((end, held));
                slot.0 = slot.0.max(end);
                slot.1 |= held;
            }
        }
        Ok(())
    }

    /// A record's end and hold: the planner's, or for a record it does not
    /// see (archive entries, shredded ones) its time plus the default.
    fn record(&self, seq: u64, recorded_at: Timestamp) -> (Timestamp, bool) {
        self.by_seq.get(&seq).copied().unwrap_or_else(|| {
            (
                self.default.after(recorded_at).unwrap_or(far_future()),
                false,
            )
        })
    }

    /// The lock of a segment: the latest end of its entries, and a legal
    /// hold when any of them is held.
    pub fn segment(
        &self,
        path: &Path,
        first_seq: u64,
        bytes: &[u8],
    ) -> Result<(Timestamp, bool), WormError> {
        let (end, held) = self.segment_end(path, first_seq, bytes)?;
        Ok((lock_date(end.unwrap_or(self.now), self.now), held))
    }

    /// The latest end of a segment's entries (`None` for a segment with
    /// none), and whether any is held: what its lock is made from before
    /// the floor of a day from now. It does not move with the clock, so a
    /// lock is extended only when the schedule (or a record's facts)
    /// gives a later end.
    pub fn segment_end(
        &self,
        path: &Path,
        first_seq: u64,
        bytes: &[u8],
    ) -> Result<(Option<Timestamp>, bool), WormError> {
        let parsed = segment::parse(path, bytes, first_seq)?;
        let mut until: Option<Timestamp> = None;
        let mut held = false;
        for e in &parsed.entries {
            let (end, h) = self.record(e.leaf.seq, e.leaf.recorded_at);
            until = Some(until.map_or(end, |u| u.max(end)));
            held |= h;
        }
        Ok((until, held))
    }

    /// The latest end of the records naming the blob with `digest` (hex),
    /// and whether any is held; `None` when no record names it (its lock
    /// is then the floor, now plus the default).
    pub fn blob_end(&self, digest: &str) -> Option<(Timestamp, bool)> {
        self.by_digest.get(&digest.to_ascii_lowercase()).copied()
    }

    /// `at` plus the default retention: the floor of an object no record
    /// dates (a blob no record names, a heads snapshot).
    pub fn floor_at(&self, at: Timestamp) -> Timestamp {
        self.default.after(at).unwrap_or(far_future())
    }

    /// The schedule version the ends come from (0: no schedule loaded).
    pub fn schedule_version(&self) -> u64 {
        self.version
    }

    /// The lock of the blob with `digest` (hex).
    pub fn blob(&self, digest: &str) -> (Timestamp, bool) {
        let (end, held) = self
            .by_digest
            .get(&digest.to_ascii_lowercase())
            .copied()
            .unwrap_or((self.floor(), false));
        (lock_date(end, self.now), held)
    }

    /// Now plus the default retention: the least any object is kept.
    pub fn floor(&self) -> Timestamp {
        self.floor_at(self.now)
    }
}

/// The latest date S3 accepts in practice (and jiff formats).
fn far_future() -> Timestamp {
    Timestamp::parse("9999-12-30T00:00:00Z").expect("a valid date")
}

/// A lock date S3 accepts: at least a day after `now`, no later than the
/// year 9999, rounded up to a whole second.
pub fn lock_date(until: Timestamp, now: Timestamp) -> Timestamp {
    const DAY: i64 = 86_400_000_000;
    let until = until
        .max(Timestamp::from_micros(now.as_micros().saturating_add(DAY)))
        .min(far_future());
    let micros = until.as_micros();
    let whole = micros - micros.rem_euclid(1_000_000);
    Timestamp::from_micros(if whole == micros {
        micros
    } else {
        whole.saturating_add(1_000_000)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_dates_are_future_whole_seconds() {
        let now = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let past = Timestamp::parse("2020-01-01T00:00:00Z").unwrap();
        assert_eq!(
            lock_date(past, now),
            Timestamp::parse("2026-01-02T00:00:00Z").unwrap()
        );
        let later = Timestamp::parse("2033-05-01T10:00:00.25Z").unwrap();
        assert_eq!(
            lock_date(later, now),
            Timestamp::parse("2033-05-01T10:00:01Z").unwrap()
        );
        let forever = Timestamp::from_micros(i64::MAX);
        assert_eq!(lock_date(forever, now), far_future());
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(segment_object(42), "segments/00000000000000000042.seg");
        assert_eq!(segment_first_seq(&segment_object(42)), Some(42));
        assert_eq!(heads_size(&heads_object(7)), Some(7));
        assert_eq!(Kind::of("blobs/ab/cd"), Some(Kind::Blob));
        assert_eq!(Kind::of("other"), None);
    }
}
