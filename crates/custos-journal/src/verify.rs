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
use crate::segment;
use custos_model::Digest;
use serde::Serialize;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};

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
    let mut tree = TreeCheck {
        frontier: Frontier::new(),
        heads: &heads,
        next_head: 0,
        last_good: (0, seg_dir.clone(), 0),
    };
    tree.check_heads()?;

    // One worker per core reads, checks and hashes whole segments (worker
    // w takes segments w, w + n, ...); this thread takes their results in
    // segment order and grows the tree. No step waits on another's barrier.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut scan = Scan {
        bytes: 0,
        torn_tail: None,
        end: (seg_dir.clone(), 0),
    };
    std::thread::scope(|scope| -> Result<()> {
        let mut results = Vec::new();
        for w in 0..workers {
            let (tx, rx) = mpsc::sync_channel::<Result<Hashed>>(2);
            results.push(rx);
            let listed = &listed;
            scope.spawn(move || {
                let mut buf = Vec::new();
                for (first_seq, path) in listed.iter().skip(w).step_by(workers) {
                    let hashed = hash_segment(path, *first_seq, &mut buf);
                    let failed = hashed.is_err();
                    if tx.send(hashed).is_err() || failed {
                        return;
                    }
                }
            });
        }
        for (i, (first_seq, path)) in listed.iter().enumerate() {
            let hashed = results[i % workers]
                .recv()
                .expect("a worker sends a result for each of its segments")?;
            if *first_seq != tree.frontier.size() {
                return Err(Error::Corrupt {
                    path: path.clone(),
                    offset: 0,
                    seq: Some(tree.frontier.size()),
                    problem: format!("segment is named for entry {first_seq}"),
                });
            }
            let shared_path = Arc::new(path.clone());
            for &(seq, offset, hash) in &hashed.leaves {
                tree.push(seq, &shared_path, offset, hash)?;
            }
            scan.bytes += hashed.len;
            scan.end = (path.clone(), hashed.torn_at.unwrap_or(hashed.len));
            if let Some(torn) = hashed.torn_at {
                if i + 1 != listed.len() {
                    return Err(Error::Corrupt {
                        path: path.clone(),
                        offset: torn,
                        seq: Some(tree.frontier.size()),
                        problem: "entry is cut short, but later segments follow".into(),
                    });
                }
                scan.torn_tail = Some((path.clone(), torn));
            }
        }
        Ok(())
    })?;
    if let Some(head) = heads.get(tree.next_head) {
        return Err(Error::Corrupt {
            path: scan.end.0,
            offset: scan.end.1,
            seq: Some(tree.frontier.size()),
            problem: format!(
                "signed head #{} covers {} entries, but the journal ends here: entries are missing",
                tree.next_head, head.tree_size
            ),
        });
    }
    Ok(VerifyReport {
        entries: tree.frontier.size(),
        root: tree.frontier.root(),
        heads: heads.len(),
        segments: listed.len(),
        bytes: scan.bytes,
        torn_tail: scan.torn_tail,
    })
}

/// One segment, checked and hashed.
struct Hashed {
    /// (seq, frame offset, leaf hash) of each intact entry.
    leaves: Vec<(u64, u64, Hash)>,
    /// Where a torn tail starts, if any.
    torn_at: Option<u64>,
    /// The file's length.
    len: u64,
}

/// What reading the segments found, besides the leaves.
struct Scan {
    bytes: u64,
    torn_tail: Option<(PathBuf, u64)>,
    /// Where the journal ends: file and offset.
    end: (PathBuf, u64),
}

/// Reads segment `path` into `buf`, checks its frames and every payload
/// against the digest its leaf commits to, and hashes its leaves.
fn hash_segment(path: &Path, first_seq: u64, buf: &mut Vec<u8>) -> Result<Hashed> {
    buf.clear();
    File::open(path)
        .and_then(|mut f| f.read_to_end(buf))
        .at(path)?;
    let parsed = segment::parse(path, buf, first_seq)?;
    let mut leaves = Vec::with_capacity(parsed.entries.len());
    for e in &parsed.entries {
        if Digest::of(e.payload) != e.leaf.payload_digest {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                offset: e.offset as u64,
                seq: Some(e.leaf.seq),
                problem: "payload does not match the digest its entry commits to".into(),
            });
        }
        leaves.push((e.leaf.seq, e.offset as u64, merkle::leaf_hash(e.leaf_bytes)));
    }
    Ok(Hashed {
        leaves,
        torn_at: parsed.torn_at.map(|t| t as u64),
        len: buf.len() as u64,
    })
}

/// The tree as verification grows it, and the heads it must match.
struct TreeCheck<'h> {
    frontier: Frontier,
    heads: &'h [SignedTreeHead],
    next_head: usize,
    /// The first entry after the last head that matched: where a forged
    /// range begins at the earliest. (seq, file, offset)
    last_good: (u64, PathBuf, u64),
}

impl TreeCheck<'_> {
    fn push(&mut self, seq: u64, path: &Arc<PathBuf>, offset: u64, leaf_hash: Hash) -> Result<()> {
        if self.frontier.size() == self.last_good.0 {
            self.last_good = (seq, path.as_ref().clone(), offset);
        }
        self.frontier.push(leaf_hash);
        self.check_heads()
    }

    /// Compares the tree with every head of its current size.
    fn check_heads(&mut self) -> Result<()> {
        while let Some(h) = self.heads.get(self.next_head) {
            if h.tree_size != self.frontier.size() {
                break;
            }
            if h.root != self.frontier.root() {
                return Err(Error::Corrupt {
                    path: self.last_good.1.clone(),
                    offset: self.last_good.2,
                    seq: Some(self.last_good.0),
                    problem: format!(
                        "the tree of {} entries does not match signed head #{} (signed {}): an entry from here on was altered",
                        h.tree_size, self.next_head, h.timestamp
                    ),
                });
            }
            self.next_head += 1;
            // A forged range begins after this head at the earliest; the
            // next push fills in that entry's place.
            self.last_good.0 = h.tree_size;
        }
        Ok(())
    }
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
