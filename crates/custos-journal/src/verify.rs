//! Verification from the files alone: every frame, every payload digest,
//! every leaf, the tree, and every signed head.
//!
//! It needs no key-encryption key: only the public key (from
//! `keys/signing.pub`, or one the auditor supplies). It changes nothing
//! and takes no lock: on a live archive it checks what is on disk when it
//! reads, and a write in progress at the very end shows as a torn tail.

use crate::error::{Error, IoContext, Result};
use crate::head::{self, SignedTreeHead};
use crate::journal::{HEADS_FILE, PUBLIC_KEY_FILE, SEGMENTS_DIR};
use crate::merkle::{self, Frontier, Hash};
use crate::segment::{self, SegmentEntry};
use custos_model::Digest;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What a successful verification checked.
#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    /// Entries checked.
    pub entries: u64,
    /// The recomputed root over all entries.
    #[serde(serialize_with = "hex_hash")]
    pub root: Hash,
    /// Signed heads checked (signature, chain, root).
    pub heads: usize,
    /// Segment files read.
    pub segments: usize,
    /// Bytes of segment files read.
    pub bytes: u64,
    /// A torn tail left by a crash after the last signed head, not yet cut
    /// by an open: (file, offset). It was never acknowledged.
    pub torn_tail: Option<(PathBuf, u64)>,
}

fn hex_hash<S: serde::Serializer>(h: &Hash, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(h))
}

/// Verifies the archive in `dir`. A mismatch is an [`Error::Corrupt`]
/// naming the file, offset and entry where it is first seen.
///
/// `public_key` overrides the key in `keys/signing.pub`: an auditor who
/// holds the archive's key from elsewhere passes it, so a replaced key
/// file cannot pass forged heads.
pub fn verify(dir: &Path, public_key: Option<[u8; 32]>) -> Result<VerifyReport> {
    let public_key = match public_key {
        Some(k) => k,
        None => {
            let path = dir.join(PUBLIC_KEY_FILE);
            let text = std::fs::read_to_string(&path).at(&path)?;
            let mut key = [0u8; 32];
            hex::decode_to_slice(text.trim(), &mut key).map_err(|_| Error::Corrupt {
                path: path.clone(),
                offset: 0,
                seq: None,
                problem: "public key is not 64 hex digits".into(),
            })?;
            key
        }
    };
    let heads_path = dir.join(HEADS_FILE);
    let (heads, _torn_head) = head::read_all(&heads_path)?;
    check_chain(&heads_path, &heads, &public_key)?;

    let seg_dir = dir.join(SEGMENTS_DIR);
    let listed = segment::list(&seg_dir)?;
    let mut frontier = Frontier::new();
    let mut next_head = 0usize;
    // The last place the tree matched a signed head: where a forged range
    // begins at the earliest.
    let mut last_good: (u64, PathBuf, u64) = (0, seg_dir.clone(), 0);
    let mut bytes_read = 0u64;
    let mut torn_tail = None;
    let mut end_of_journal = (seg_dir.clone(), 0u64);
    check_heads_at(&heads, &mut next_head, &frontier, &mut last_good)?;
    for (i, (first_seq, path)) in listed.iter().enumerate() {
        if *first_seq != frontier.size() {
            return Err(Error::Corrupt {
                path: path.clone(),
                offset: 0,
                seq: Some(frontier.size()),
                problem: format!("segment is named for entry {first_seq}"),
            });
        }
        let bytes = std::fs::read(path).at(path)?;
        bytes_read += bytes.len() as u64;
        let parsed = segment::parse(path, &bytes, frontier.size())?;
        let hashes = hash_entries(&parsed.entries);
        for (e, (leaf_hash, payload_digest)) in parsed.entries.iter().zip(hashes) {
            if payload_digest != e.leaf.payload_digest {
                return Err(Error::Corrupt {
                    path: path.clone(),
                    offset: e.offset as u64,
                    seq: Some(e.leaf.seq),
                    problem: "payload does not match the digest its entry commits to".into(),
                });
            }
            if frontier.size() == last_good.0 {
                last_good = (e.leaf.seq, path.clone(), e.offset as u64);
            }
            frontier.push(leaf_hash);
            check_heads_at(&heads, &mut next_head, &frontier, &mut last_good)?;
        }
        end_of_journal = (path.clone(), parsed.torn_at.unwrap_or(bytes.len()) as u64);
        if let Some(torn) = parsed.torn_at {
            if i + 1 != listed.len() {
                return Err(Error::Corrupt {
                    path: path.clone(),
                    offset: torn as u64,
                    seq: Some(frontier.size()),
                    problem: "entry is cut short, but later segments follow".into(),
                });
            }
            torn_tail = Some((path.clone(), torn as u64));
        }
    }
    if let Some(head) = heads.get(next_head) {
        return Err(Error::Corrupt {
            path: end_of_journal.0,
            offset: end_of_journal.1,
            seq: Some(frontier.size()),
            problem: format!(
                "signed head #{next_head} covers {} entries, but the journal ends here: entries are missing",
                head.tree_size
            ),
        });
    }
    Ok(VerifyReport {
        entries: frontier.size(),
        root: frontier.root(),
        heads: heads.len(),
        segments: listed.len(),
        bytes: bytes_read,
        torn_tail,
    })
}

/// Checks each head's signature, its link to the previous head, and that
/// sizes and times never go back.
fn check_chain(path: &Path, heads: &[SignedTreeHead], public_key: &[u8; 32]) -> Result<()> {
    let mut previous: Option<&SignedTreeHead> = None;
    for (i, h) in heads.iter().enumerate() {
        let fail = |problem: String| Error::Corrupt {
            path: path.to_path_buf(),
            offset: (head::HEADS_MAGIC.len() + i * crate::frame::framed_len(head::HEAD_LEN)) as u64,
            seq: None,
            problem: format!("signed head #{i}: {problem}"),
        };
        if !h.verify(public_key) {
            return Err(fail(
                "signature does not verify with the archive's public key".into(),
            ));
        }
        let expected = previous.map_or([0; 32], |p| p.digest());
        if h.previous != expected {
            return Err(fail("does not link to the previous head".into()));
        }
        if let Some(p) = previous
            && (h.tree_size < p.tree_size || h.timestamp < p.timestamp)
        {
            return Err(fail(
                "goes back in size or time from the previous head".into(),
            ));
        }
        previous = Some(h);
    }
    Ok(())
}

/// Compares the tree with every head of its current size.
fn check_heads_at(
    heads: &[SignedTreeHead],
    next: &mut usize,
    frontier: &Frontier,
    last_good: &mut (u64, PathBuf, u64),
) -> Result<()> {
    while let Some(h) = heads.get(*next) {
        if h.tree_size != frontier.size() {
            break;
        }
        if h.root != frontier.root() {
            return Err(Error::Corrupt {
                path: last_good.1.clone(),
                offset: last_good.2,
                seq: Some(last_good.0),
                problem: format!(
                    "the tree of {} entries does not match signed head #{} (signed {}): an entry from here on was altered",
                    h.tree_size, next, h.timestamp
                ),
            });
        }
        *next += 1;
        // A forged range begins after this head at the earliest; the
        // caller fills in that entry's place when it reads it.
        last_good.0 = h.tree_size;
    }
    Ok(())
}

/// Leaf hashes and payload digests of `entries`, on all cores.
fn hash_entries(entries: &[SegmentEntry<'_>]) -> Vec<(Hash, Digest)> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = entries.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = entries
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|e| (merkle::leaf_hash(e.leaf_bytes), Digest::of(e.payload)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("hashing thread panicked"))
            .collect()
    })
}
