//! Verifying the WORM copy: every object the journal says was uploaded,
//! against the bucket and the local files, and the bucket's segments and
//! heads on their own.
//!
//! Per object ([`WormStore::verify_copy`]): the recorded version is in the
//! bucket with the recorded SHA-256, locked in COMPLIANCE mode until at
//! least the latest recorded date (its `worm.uploaded`, or a later
//! `worm.retention_extended`: a lock earlier than an extension on record
//! fails), with its legal hold if one was set, and no
//! later version with other bytes or delete marker hides it; the local
//! file (segment, blob, or the first heads of the heads file) has the same
//! bytes (a blob whose key was shredded is gone locally by design). Then
//! the bucket's segments are downloaded (the recorded versions) with its
//! newest heads snapshot into a scratch directory, and the journal's own
//! verification ([`custos_journal::verify()`]) runs over them with the
//! archive's public key: frames, payload digests, the tree and every signed
//! head they cover. Every failure names the object.

use crate::error::WormError;
use crate::plan::{self, Kind};
use crate::store::{Copy, WormStore};
use crate::sync::{entries_in, heads_bytes, uploaded};
use custos_journal::blobs::BLOBS_DIR;
use custos_journal::head::{self, HEADS_MAGIC};
use custos_journal::keys::KeyId;
use custos_journal::{HEADS_FILE, Journal, PUBLIC_KEY_FILE, SEGMENTS_DIR};
use custos_model::Digest;
use serde::Serialize;

/// One object that does not check.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    /// The object (name inside the prefix).
    pub object: String,
    /// What is wrong.
    pub problem: String,
}

/// What a check found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CheckReport {
    /// Objects the journal records as uploaded, all checked.
    pub objects: usize,
    /// Of which segments.
    pub segments: usize,
    /// Of which blobs.
    pub blobs: usize,
    /// Of which heads snapshots.
    pub heads: usize,
    /// Entries the bucket's segments hold, verified on their own.
    pub bucket_entries: u64,
    /// Signed heads of the bucket's newest snapshot checked against them.
    pub bucket_heads: usize,
    /// Sealed local segments not uploaded yet (not a failure: the next
    /// sync takes them).
    pub pending_segments: usize,
    /// What does not check, object by object.
    pub failures: Vec<Failure>,
}

/// Checks the WORM copy of the archive `journal` in `store`; the bucket's
/// heads are checked with `public_key` (by default the archive's).
pub async fn check(
    journal: &Journal,
    store: &WormStore,
    public_key: Option<[u8; 32]>,
) -> Result<CheckReport, WormError> {
    let copies = uploaded(journal)?;
    let dir = journal.dir().to_path_buf();
    let local_heads = heads_bytes(&journal.heads());
    let mut report = CheckReport {
        objects: copies.len(),
        pending_segments: plan::sealed_segments(&dir)?
            .iter()
            .filter(|l| !copies.contains_key(&l.object))
            .count(),
        ..CheckReport::default()
    };
    let fail = |report: &mut CheckReport, object: &str, problem: String| {
        report.failures.push(Failure {
            object: object.to_string(),
            problem,
        })
    };
    for copy in copies.values() {
        let object = copy.object.as_str();
        if let Err(e) = store.verify_copy(copy).await {
            fail(&mut report, object, without_object(object, &e.to_string()));
        }
        match Kind::of(object) {
            Some(Kind::Segment) => {
                report.segments += 1;
                let path = dir
                    .join(SEGMENTS_DIR)
                    .join(object.trim_start_matches("segments/"));
                match std::fs::read(&path) {
                    Ok(bytes) => local_matches(&mut report, copy, &bytes, "the local segment"),
                    Err(e) => fail(
                        &mut report,
                        object,
                        format!("the local segment {}: {e}", path.display()),
                    ),
                }
            }
            Some(Kind::Blob) => {
                report.blobs += 1;
                let path = dir
                    .join(BLOBS_DIR)
                    .join(object.trim_start_matches("blobs/"));
                match std::fs::read(&path) {
                    Ok(bytes) => local_matches(&mut report, copy, &bytes, "the local blob"),
                    Err(e)
                        if e.kind() == std::io::ErrorKind::NotFound
                            && shredded(journal, object) => {}
                    Err(e) => fail(
                        &mut report,
                        object,
                        format!("the local blob {}: {e}", path.display()),
                    ),
                }
            }
            Some(Kind::Heads) => {
                report.heads += 1;
                let prefix = local_heads.get(..copy.bytes as usize).unwrap_or(&[]);
                if Digest::of(prefix).to_string() != copy.sha256 {
                    fail(
                        &mut report,
                        object,
                        "the snapshot is not the start of the local heads file".into(),
                    );
                }
            }
            None => fail(&mut report, object, "not an object custos uploads".into()),
        }
    }
    let public_key = public_key.unwrap_or_else(|| journal.public_key());
    if let Err(failure) = verify_bucket(store, &copies, public_key, &mut report).await {
        report.failures.push(failure);
    }
    Ok(report)
}

/// A message without the object name it starts with (the failure names it).
fn without_object(object: &str, message: &str) -> String {
    message
        .strip_prefix(&format!("{object}: "))
        .unwrap_or(message)
        .to_string()
}

fn local_matches(report: &mut CheckReport, copy: &Copy, bytes: &[u8], what: &str) {
    let digest = Digest::of(bytes).to_string();
    if digest != copy.sha256 {
        report.failures.push(Failure {
            object: copy.object.clone(),
            problem: format!(
                "{what} has SHA-256 {digest}, the uploaded copy {} (journalled)",
                copy.sha256
            ),
        });
    }
}

/// Whether the key of blob `object` (`blobs/KEYID/SHA256`) was shredded.
fn shredded(journal: &Journal, object: &str) -> bool {
    let Some(key) = object.split('/').nth(1) else {
        return false;
    };
    let mut bytes = [0u8; 16];
    if hex::decode_to_slice(key, &mut bytes).is_err() {
        return false;
    }
    journal.key_shredded_at(KeyId::from_bytes(bytes)).is_some()
}

/// Downloads the bucket's segments (the recorded versions) and its newest
/// heads snapshot into a scratch directory and verifies them as an archive.
async fn verify_bucket(
    store: &WormStore,
    copies: &std::collections::BTreeMap<String, Copy>,
    public_key: [u8; 32],
    report: &mut CheckReport,
) -> Result<(), Failure> {
    let scratch = |problem: String| Failure {
        object: "(bucket copy)".into(),
        problem,
    };
    let tmp = tempfile::tempdir().map_err(|e| scratch(format!("a scratch directory: {e}")))?;
    let root = tmp.path();
    std::fs::create_dir_all(root.join(SEGMENTS_DIR)).map_err(|e| scratch(e.to_string()))?;
    std::fs::create_dir_all(root.join("keys")).map_err(|e| scratch(e.to_string()))?;
    std::fs::write(root.join(PUBLIC_KEY_FILE), hex::encode(public_key))
        .map_err(|e| scratch(e.to_string()))?;

    let mut end = 0u64;
    for copy in copies
        .values()
        .filter(|c| Kind::of(&c.object) == Some(Kind::Segment))
    {
        let object = copy.object.as_str();
        let bytes = match store.get(object, Some(&copy.version_id)).await {
            Ok(Some(bytes)) => bytes,
            // verify_copy already named it.
            Ok(None) | Err(_) => continue,
        };
        let first = plan::segment_first_seq(object).unwrap_or(0);
        let path = root.join(SEGMENTS_DIR).join(segment_name(object));
        if first >= end {
            end = first + entries_in(&path, first, &bytes).unwrap_or(0);
        }
        std::fs::write(&path, &bytes).map_err(|e| scratch(e.to_string()))?;
    }
    let newest = copies
        .values()
        .filter(|c| Kind::of(&c.object) == Some(Kind::Heads))
        .max_by_key(|c| plan::heads_size(&c.object));
    let heads = match newest {
        None if end == 0 => return Ok(()),
        None => {
            return Err(scratch(
                "the bucket holds segments but no heads snapshot".into(),
            ));
        }
        Some(copy) => {
            let bytes = store
                .get(&copy.object, Some(&copy.version_id))
                .await
                .ok()
                .flatten()
                .ok_or_else(|| Failure {
                    object: copy.object.clone(),
                    problem: "cannot be read from the bucket".into(),
                })?;
            let path = root.join(HEADS_FILE);
            std::fs::write(&path, &bytes).map_err(|e| scratch(e.to_string()))?;
            let (all, _) = head::read_all(&path).map_err(|e| Failure {
                object: copy.object.clone(),
                problem: e.to_string(),
            })?;
            // Heads past the sealed segments cannot be checked against
            // entries the bucket does not hold yet; their signatures and
            // chain are checked with the rest.
            let covered: Vec<_> = all.iter().filter(|h| h.tree_size <= end).cloned().collect();
            let mut kept = HEADS_MAGIC.to_vec();
            for h in &covered {
                custos_journal::frame::write(&mut kept, &h.encode());
            }
            std::fs::write(&path, &kept).map_err(|e| scratch(e.to_string()))?;
            (copy.object.clone(), all.len(), covered.len())
        }
    };
    match custos_journal::verify(root, Some(public_key)) {
        Ok(verified) => {
            report.bucket_entries = verified.entries;
            report.bucket_heads = heads.2;
            Ok(())
        }
        Err(e) => {
            let text = e.to_string();
            let shown = text.replace(&format!("{}/", root.display()), "bucket:");
            let object = match &e {
                custos_journal::Error::Corrupt { path, .. } => path
                    .strip_prefix(root)
                    .ok()
                    .and_then(|p| p.to_str())
                    .map(|p| match p.strip_prefix(&format!("{SEGMENTS_DIR}/")) {
                        Some(name) => format!("segments/{name}"),
                        None if p == HEADS_FILE => heads.0.clone(),
                        None => p.to_string(),
                    })
                    .unwrap_or_else(|| "(bucket copy)".into()),
                _ => "(bucket copy)".into(),
            };
            Err(Failure {
                object,
                problem: format!("the bucket's copy does not verify on its own: {shown}"),
            })
        }
    }
}

fn segment_name(object: &str) -> &str {
    object.trim_start_matches("segments/")
}
