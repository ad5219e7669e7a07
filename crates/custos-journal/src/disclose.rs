//! Checking one disclosed entry without the archive: what a court, a
//! regulator or opposing counsel runs on an export.
//!
//! An export carries, for each entry, its clear leaf, its sealed payload and
//! the entry's own key (see [`crate::entry`]: version-2 leaves are sealed
//! under a key derived for that entry alone). [`open_disclosed`] checks that
//! the payload is the one the leaf (and so the Merkle tree) commits to, then
//! opens and decodes it. Whether the leaf is in the signed tree is checked
//! separately, with [`crate::merkle::verify_multi`] or an inclusion proof.

use crate::entry::{LEAF_VERSION, Leaf, LeafError};
use custos_model::{DecodeError, Digest, Event};

/// Why a disclosed entry does not check out.
#[derive(Debug, thiserror::Error)]
pub enum DisclosureError {
    /// The leaf bytes are not a leaf.
    #[error("leaf: {0}")]
    Leaf(#[from] LeafError),
    /// The leaf is of a version whose entries have no own key.
    #[error("leaf version {0} entries cannot be disclosed alone")]
    Version(u8),
    /// The payload is not the one the leaf commits to.
    #[error("payload does not match its leaf (SHA-256 or length differs)")]
    PayloadDigest,
    /// The key does not open the payload.
    #[error("the entry key does not open the payload")]
    Key,
    /// The plaintext is not a valid event.
    #[error("decrypted payload is not a valid event: {0}")]
    Decode(#[from] DecodeError),
}

/// Opens a disclosed entry: `leaf` (its clear bytes), `payload` (nonce,
/// ciphertext, tag) and `entry_key`. Returns the event and the decoded
/// leaf; the payload must match the leaf's digest and length.
pub fn open_disclosed(
    leaf: &[u8],
    payload: &[u8],
    entry_key: &[u8; 32],
) -> Result<(Leaf, Event), DisclosureError> {
    let decoded = Leaf::decode(leaf)?;
    if decoded.version != LEAF_VERSION {
        return Err(DisclosureError::Version(decoded.version));
    }
    if Digest::of(payload) != decoded.payload_digest
        || payload.len() != decoded.payload_len as usize
    {
        return Err(DisclosureError::PayloadDigest);
    }
    let aad = crate::journal::payload_aad(decoded.kind, decoded.key_id);
    let plain =
        crate::keys::open_with_entry_key(entry_key, &aad, payload).ok_or(DisclosureError::Key)?;
    let event = Event::decode(&plain)?;
    Ok((decoded, event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Journal, Opened};
    use custos_model::{SystemEvent, Timestamp};

    #[test]
    fn a_disclosed_entry_opens_alone_and_nothing_else_does() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::init(dir.path(), None, "test").unwrap();
        let event = |n: u32| {
            Event::System(SystemEvent {
                actor: "t".into(),
                action: format!("test.{n}"),
                target: None,
                at: Timestamp::from_micros(n as i64),
                details: Default::default(),
            })
        };
        let a = journal.append(&event(1), Some("+5511988887777")).unwrap();
        let b = journal.append(&event(2), Some("+5511988887777")).unwrap();
        let (ea, eb) = (journal.entry(a.seq).unwrap(), journal.entry(b.seq).unwrap());
        let ka = journal.entry_key(&ea).unwrap().unwrap();
        let kb = journal.entry_key(&eb).unwrap().unwrap();
        assert_ne!(ka, kb, "each entry has its own key");
        let leaf = ea.leaf.encode();
        let (decoded, opened) = open_disclosed(&leaf, &ea.payload, &ka).unwrap();
        assert_eq!((decoded.seq, opened), (a.seq, event(1)));
        // The same subject's other entry does not open with this key.
        assert!(matches!(
            open_disclosed(&eb.leaf.encode(), &eb.payload, &ka),
            Err(DisclosureError::Key)
        ));
        // A payload altered by one byte no longer matches its leaf.
        let mut bad = ea.payload.clone();
        bad[20] ^= 1;
        assert!(matches!(
            open_disclosed(&leaf, &bad, &ka),
            Err(DisclosureError::PayloadDigest)
        ));
        // The journal itself still reads both.
        assert!(matches!(journal.open_entry(&eb).unwrap(), Opened::Event(e) if e == event(2)));
        // After shredding, no key is handed out.
        journal.shred("+5511988887777", "dpo", "erasure").unwrap();
        assert_eq!(journal.entry_key(&ea).unwrap(), None);
    }
}
