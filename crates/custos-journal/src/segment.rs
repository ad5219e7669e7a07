//! Segment files: the journal's entries on disk, in order.
//!
//! `journal/<first seq, 20 digits>.seg` holds a 16-byte header (the magic
//! `CSTSEG\0\x01` and the first entry's sequence number) and then one
//! [frame](crate::frame) per entry whose body is the entry's
//! [leaf](crate::entry::Leaf) followed by its encrypted payload. Entries are
//! numbered without gaps across segments.

use crate::entry::{LEAF_LEN, Leaf};
use crate::error::{Error, IoContext, Result};
use crate::frame::{self, End};
use std::path::{Path, PathBuf};

/// The file header's magic and format version.
pub const SEGMENT_MAGIC: &[u8; 8] = b"CSTSEG\x00\x01";
/// Bytes of the file header.
pub const SEGMENT_HEADER: usize = 16;

/// The file name of the segment whose first entry is `first_seq`.
pub fn file_name(first_seq: u64) -> String {
    format!("{first_seq:020}.seg")
}

/// The file header of a segment starting at `first_seq`.
pub fn header(first_seq: u64) -> [u8; SEGMENT_HEADER] {
    let mut out = [0u8; SEGMENT_HEADER];
    out[..8].copy_from_slice(SEGMENT_MAGIC);
    out[8..].copy_from_slice(&first_seq.to_le_bytes());
    out
}

/// The segments in `dir`, as (first seq, path), in order.
pub fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for item in std::fs::read_dir(dir).at(dir)? {
        let path = item.at(dir)?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".seg") else {
            continue;
        };
        if let Ok(first) = stem.parse::<u64>() {
            out.push((first, path));
        }
    }
    out.sort();
    Ok(out)
}

/// One entry read from a segment.
#[derive(Debug)]
pub struct SegmentEntry<'a> {
    /// Offset of the entry's frame in the file.
    pub offset: usize,
    /// The leaf's bytes, which the tree hashes.
    pub leaf_bytes: &'a [u8],
    /// The decoded leaf.
    pub leaf: Leaf,
    /// The encrypted payload.
    pub payload: &'a [u8],
}

/// A parsed segment: its intact entries and, if a crash cut the last
/// write short, where the torn tail starts.
#[derive(Debug)]
pub struct Parsed<'a> {
    /// The intact entries, in order.
    pub entries: Vec<SegmentEntry<'a>>,
    /// Offset of a torn tail, if any.
    pub torn_at: Option<usize>,
}

/// Parses the bytes of segment `path`, which must start at `first_seq`.
///
/// Damage is an [`Error::Corrupt`] naming the entry and offset; a torn
/// tail is reported in [`Parsed::torn_at`] for the caller to judge.
pub fn parse<'a>(path: &Path, bytes: &'a [u8], first_seq: u64) -> Result<Parsed<'a>> {
    let corrupt = |offset: usize, seq: u64, problem: String| Error::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        seq: Some(seq),
        problem,
    };
    if bytes.len() < SEGMENT_HEADER || &bytes[..8] != SEGMENT_MAGIC {
        return Err(corrupt(0, first_seq, "segment header is damaged".into()));
    }
    let stated = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    if stated != first_seq {
        return Err(corrupt(
            0,
            first_seq,
            format!("segment header says it starts at entry {stated}"),
        ));
    }
    let mut entries = Vec::new();
    let mut frames = frame::Frames::new(bytes, SEGMENT_HEADER);
    for f in frames.by_ref() {
        let seq = first_seq + entries.len() as u64;
        if f.body.len() < LEAF_LEN {
            return Err(corrupt(
                f.offset,
                seq,
                "entry is shorter than its header".into(),
            ));
        }
        let (leaf_bytes, payload) = f.body.split_at(LEAF_LEN);
        let leaf = Leaf::decode(leaf_bytes).map_err(|e| corrupt(f.offset, seq, e.to_string()))?;
        if leaf.seq != seq {
            return Err(corrupt(
                f.offset,
                seq,
                format!("entry header says it is entry {}", leaf.seq),
            ));
        }
        if leaf.payload_len as usize != payload.len() {
            return Err(corrupt(
                f.offset,
                seq,
                "payload length does not match its header".into(),
            ));
        }
        entries.push(SegmentEntry {
            offset: f.offset,
            leaf_bytes,
            leaf,
            payload,
        });
    }
    let seq = first_seq + entries.len() as u64;
    let torn_at = match frames.end() {
        Some(End::Torn { offset }) => Some(*offset),
        Some(End::Corrupt { offset, problem }) => {
            return Err(corrupt(*offset, seq, (*problem).to_string()));
        }
        _ => None,
    };
    Ok(Parsed { entries, torn_at })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever a segment file holds, parsing returns entries or an
        /// error naming a place; it never panics.
        #[test]
        fn arbitrary_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..400), first in 0u64..3) {
            let mut bytes = header(first).to_vec();
            bytes.extend_from_slice(&tail);
            let path = Path::new("x.seg");
            match parse(path, &bytes, first) {
                Ok(parsed) => prop_assert!(parsed.entries.is_empty() || parsed.entries[0].leaf.seq == first),
                Err(Error::Corrupt { seq, .. }) => prop_assert!(seq.is_some()),
                Err(other) => prop_assert!(false, "unexpected error {other}"),
            }
        }

        /// Frames with random bodies (valid checksums, nonsense leaves) are
        /// refused as damage naming the entry, never accepted or panicking.
        #[test]
        fn framed_nonsense_is_corruption(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut bytes = header(0).to_vec();
            crate::frame::write(&mut bytes, &body);
            let result = parse(Path::new("x.seg"), &bytes, 0);
            let refused = matches!(result, Err(Error::Corrupt { seq: Some(0), .. }));
            prop_assert!(refused);
        }
    }

    #[test]
    fn a_header_for_another_entry_is_refused() {
        let err = parse(Path::new("x.seg"), &header(5), 0).unwrap_err();
        assert!(err.to_string().contains("starts at entry 5"), "{err}");
        let bytes = header(5);
        let ok = parse(Path::new("x.seg"), &bytes, 5).unwrap();
        assert!(ok.entries.is_empty() && ok.torn_at.is_none());
    }
}
