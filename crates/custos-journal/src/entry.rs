//! The journal entry: the bytes the Merkle tree commits to.
//!
//! An entry is a fixed-size leaf in clear, followed in its frame by the
//! encrypted event (the payload). The leaf holds the payload's SHA-256, so
//! the tree commits to the ciphertext: destroying the key that opens it
//! (crypto-shredding) leaves every hash intact.
//!
//! ```text
//! version u8 | seq u64 | recorded_at i64 µs | kind u8 | key_id [16]
//! | dedup [32] (zeros: none) | payload_sha256 [32] | payload_len u32
//! ```
//!
//! The version says how the payload is sealed. Version 1 (archives made
//! before per-entry keys): directly under the subject's data key. Version 2:
//! under the entry's own key, `HKDF-Expand(PRK = subject's data key,
//! info = "custos entry key" || nonce, L = 32)` (RFC 5869), so one entry can
//! be disclosed to a third party (an export) without disclosing the key to
//! any other; shredding the subject's key still destroys every entry key.

use crate::keys::KeyId;
use custos_model::{Digest, EventKind, Timestamp};

/// The leaf format version written today (per-entry keys).
pub const LEAF_VERSION: u8 = 2;
/// The first leaf version: payload sealed under the subject's key itself.
pub const LEAF_VERSION_SUBJECT_KEY: u8 = 1;
/// Bytes in a leaf (both versions).
pub const LEAF_LEN: usize = 1 + 8 + 8 + 1 + 16 + 32 + 32 + 4;

/// The clear part of a journal entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaf {
    /// Format version: [`LEAF_VERSION`] or [`LEAF_VERSION_SUBJECT_KEY`].
    pub version: u8,
    /// Position in the journal, from 0.
    pub seq: u64,
    /// When the journal appended it.
    pub recorded_at: Timestamp,
    /// The event's kind.
    pub kind: EventKind,
    /// The data key that encrypts the payload.
    pub key_id: KeyId,
    /// SHA-256 of the event's de-duplication key, if it has one.
    pub dedup: Option<[u8; 32]>,
    /// SHA-256 of the payload (nonce and ciphertext).
    pub payload_digest: Digest,
    /// Payload length in bytes.
    pub payload_len: u32,
}

/// Why a leaf does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeafError {
    /// Wrong length for its version.
    #[error("entry header is {0} bytes, expected {LEAF_LEN}")]
    Length(usize),
    /// Unknown version byte.
    #[error("entry header version {0} is not supported")]
    Version(u8),
    /// Unknown event kind byte.
    #[error("entry header names unknown event kind {0}")]
    Kind(u8),
}

impl Leaf {
    /// The leaf's stable bytes.
    pub fn encode(&self) -> [u8; LEAF_LEN] {
        let mut out = [0u8; LEAF_LEN];
        out[0] = self.version;
        out[1..9].copy_from_slice(&self.seq.to_le_bytes());
        out[9..17].copy_from_slice(&self.recorded_at.as_micros().to_le_bytes());
        out[17] = self.kind as u8;
        out[18..34].copy_from_slice(self.key_id.as_bytes());
        if let Some(dedup) = &self.dedup {
            out[34..66].copy_from_slice(dedup);
        }
        out[66..98].copy_from_slice(self.payload_digest.as_bytes());
        out[98..102].copy_from_slice(&self.payload_len.to_le_bytes());
        out
    }

    /// Decodes a leaf made by [`Leaf::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Leaf, LeafError> {
        if bytes
            .first()
            .is_some_and(|&v| v != LEAF_VERSION && v != LEAF_VERSION_SUBJECT_KEY)
        {
            return Err(LeafError::Version(bytes[0]));
        }
        if bytes.len() != LEAF_LEN {
            return Err(LeafError::Length(bytes.len()));
        }
        let kind = EventKind::from_byte(bytes[17]).ok_or(LeafError::Kind(bytes[17]))?;
        let dedup: [u8; 32] = bytes[34..66].try_into().expect("32 bytes");
        Ok(Leaf {
            version: bytes[0],
            seq: u64::from_le_bytes(bytes[1..9].try_into().expect("8 bytes")),
            recorded_at: Timestamp::from_micros(i64::from_le_bytes(
                bytes[9..17].try_into().expect("8 bytes"),
            )),
            kind,
            key_id: KeyId::from_bytes(bytes[18..34].try_into().expect("16 bytes")),
            dedup: (dedup != [0; 32]).then_some(dedup),
            payload_digest: Digest::from_bytes(bytes[66..98].try_into().expect("32 bytes")),
            payload_len: u32::from_le_bytes(bytes[98..102].try_into().expect("4 bytes")),
        })
    }
}

/// One entry as stored: its clear leaf and its encrypted payload.
#[derive(Clone, Debug)]
pub struct StoredEntry {
    /// The decoded leaf.
    pub leaf: Leaf,
    /// The payload: nonce and AES-256-GCM ciphertext with its tag.
    pub payload: Vec<u8>,
    /// Segment file holding it.
    pub segment: std::path::PathBuf,
    /// Offset of its frame in that file.
    pub offset: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_round_trips_and_pins_its_layout() {
        let leaf = Leaf {
            version: LEAF_VERSION_SUBJECT_KEY,
            seq: 0x0102,
            recorded_at: Timestamp::from_micros(7),
            kind: EventKind::Message,
            key_id: KeyId::from_bytes([9; 16]),
            dedup: Some([3; 32]),
            payload_digest: Digest::from_bytes([4; 32]),
            payload_len: 300,
        };
        let bytes = leaf.encode();
        assert_eq!(
            hex::encode(&bytes[..20]),
            "0102010000000000000700000000000000010909"
        );
        assert_eq!(Leaf::decode(&bytes).unwrap(), leaf);
        let none = Leaf {
            dedup: None,
            ..leaf
        };
        assert_eq!(Leaf::decode(&none.encode()).unwrap().dedup, None);
        assert_eq!(Leaf::decode(&bytes[..50]), Err(LeafError::Length(50)));
        assert_eq!(Leaf::decode(&[3; LEAF_LEN]), Err(LeafError::Version(3)));
        let v2 = Leaf {
            version: LEAF_VERSION,
            ..leaf
        };
        assert_eq!(v2.encode()[0], 2);
        assert_eq!(Leaf::decode(&v2.encode()).unwrap(), v2);
    }
}
