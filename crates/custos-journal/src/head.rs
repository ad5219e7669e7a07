//! Signed tree heads and their chain.
//!
//! A signed tree head (STH) states the size and root of the tree at a
//! moment, signed with the archive's Ed25519 key. Each head also holds the
//! SHA-256 of the previous head's encoding, so the heads form a chain: an
//! auditor who kept any old head can check that the archive only grew
//! since (with a consistency proof) and that no head was dropped.
//!
//! Heads are kept in the file `heads`: the magic `CSTSTH\0\x01`, then one
//! [frame](crate::frame) per head holding [`SignedTreeHead::encode`].
//! The signature covers `custos-sth-v1\0` followed by the encoding minus
//! the signature.

use crate::error::{Error, IoContext, Result};
use crate::frame;
use crate::fsutil;
use crate::keys::{SigningKey, verify_signature};
use crate::merkle::Hash;
use custos_model::Timestamp;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file header of the heads file.
pub const HEADS_MAGIC: &[u8; 8] = b"CSTSTH\x00\x01";
const HEAD_VERSION: u8 = 1;
const SIGNED_LEN: usize = 1 + 8 + 32 + 8 + 32;
/// Bytes of an encoded head.
pub const HEAD_LEN: usize = SIGNED_LEN + 64;
const DOMAIN: &[u8] = b"custos-sth-v1\0";

/// A signed statement of the tree's size and root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SignedTreeHead {
    /// How many entries the tree holds.
    pub tree_size: u64,
    /// The tree's root hash.
    #[serde(with = "hex_bytes")]
    pub root: Hash,
    /// When it was signed.
    pub timestamp: Timestamp,
    /// SHA-256 of the previous head's encoding; zeros for the first head.
    #[serde(with = "hex_bytes")]
    pub previous: Hash,
    /// Ed25519 signature.
    #[serde(with = "hex_bytes")]
    pub signature: [u8; 64],
}

mod hex_bytes {
    pub fn serialize<S: serde::Serializer, const N: usize>(
        bytes: &[u8; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }
}

impl SignedTreeHead {
    fn signed_part(&self) -> [u8; SIGNED_LEN] {
        let mut out = [0u8; SIGNED_LEN];
        out[0] = HEAD_VERSION;
        out[1..9].copy_from_slice(&self.tree_size.to_le_bytes());
        out[9..41].copy_from_slice(&self.root);
        out[41..49].copy_from_slice(&self.timestamp.as_micros().to_le_bytes());
        out[49..81].copy_from_slice(&self.previous);
        out
    }

    fn message(&self) -> Vec<u8> {
        [DOMAIN, &self.signed_part()].concat()
    }

    /// Signs a new head.
    pub fn sign(
        key: &SigningKey,
        tree_size: u64,
        root: Hash,
        timestamp: Timestamp,
        previous: Hash,
    ) -> Self {
        let mut head = SignedTreeHead {
            tree_size,
            root,
            timestamp,
            previous,
            signature: [0; 64],
        };
        head.signature = key.sign(&head.message());
        head
    }

    /// Whether the signature is valid for `public_key`.
    pub fn verify(&self, public_key: &[u8; 32]) -> bool {
        verify_signature(public_key, &self.message(), &self.signature)
    }

    /// The stable encoding.
    pub fn encode(&self) -> [u8; HEAD_LEN] {
        let mut out = [0u8; HEAD_LEN];
        out[..SIGNED_LEN].copy_from_slice(&self.signed_part());
        out[SIGNED_LEN..].copy_from_slice(&self.signature);
        out
    }

    /// Decodes [`SignedTreeHead::encode`]'s output.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != HEAD_LEN || bytes[0] != HEAD_VERSION {
            return None;
        }
        Some(SignedTreeHead {
            tree_size: u64::from_le_bytes(bytes[1..9].try_into().ok()?),
            root: bytes[9..41].try_into().ok()?,
            timestamp: Timestamp::from_micros(i64::from_le_bytes(bytes[41..49].try_into().ok()?)),
            previous: bytes[49..81].try_into().ok()?,
            signature: bytes[SIGNED_LEN..].try_into().ok()?,
        })
    }

    /// SHA-256 of the encoding: what the next head names as `previous`.
    pub fn digest(&self) -> Hash {
        *custos_model::Digest::of(&self.encode()).as_bytes()
    }
}

/// Reads the heads in `path`. A torn last head (a crash while writing it)
/// is left out and its offset returned; damage is an error.
pub fn read_all(path: &Path) -> Result<(Vec<SignedTreeHead>, Option<usize>)> {
    let bytes = fsutil::read_with_magic(path, HEADS_MAGIC)?;
    let mut heads = Vec::new();
    let mut frames = frame::Frames::new(&bytes, HEADS_MAGIC.len());
    for f in frames.by_ref() {
        let head = SignedTreeHead::decode(f.body).ok_or_else(|| Error::Corrupt {
            path: path.to_path_buf(),
            offset: f.offset as u64,
            seq: None,
            problem: format!("signed head #{} does not decode", heads.len()),
        })?;
        heads.push(head);
    }
    match frames.end() {
        Some(frame::End::Torn { offset }) => Ok((heads, Some(*offset))),
        Some(frame::End::Corrupt { offset, problem }) => Err(Error::Corrupt {
            path: path.to_path_buf(),
            offset: *offset as u64,
            seq: None,
            problem: format!("signed head #{}: {problem}", heads.len()),
        }),
        _ => Ok((heads, None)),
    }
}

/// The chain of heads, appended durably.
#[derive(Debug)]
pub struct HeadLog {
    path: PathBuf,
    file: File,
    heads: Vec<SignedTreeHead>,
}

impl HeadLog {
    /// Creates an empty heads file.
    pub fn create(path: &Path) -> Result<()> {
        fsutil::replace_durably(path, HEADS_MAGIC)
    }

    /// Opens the heads file, cutting a torn last head away.
    pub fn open(path: &Path) -> Result<HeadLog> {
        let (heads, torn) = read_all(path)?;
        let file = OpenOptions::new().append(true).open(path).at(path)?;
        if let Some(offset) = torn {
            tracing::warn!(path = %path.display(), offset, "cutting torn signed head");
            file.set_len(offset as u64).at(path)?;
            file.sync_all().at(path)?;
        }
        Ok(HeadLog {
            path: path.to_path_buf(),
            file,
            heads,
        })
    }

    /// All heads, oldest first.
    pub fn heads(&self) -> &[SignedTreeHead] {
        &self.heads
    }

    /// Signs and durably appends a head for `tree_size` and `root`.
    pub fn append(
        &mut self,
        key: &SigningKey,
        tree_size: u64,
        root: Hash,
    ) -> Result<SignedTreeHead> {
        let head = self.sign_next(key, tree_size, root);
        self.adopt(head.clone())?;
        Ok(head)
    }

    /// Signs the head that would follow the last one, without storing it
    /// (the cluster writer commits it to the database first).
    pub fn sign_next(&self, key: &SigningKey, tree_size: u64, root: Hash) -> SignedTreeHead {
        let previous = self.heads.last();
        let timestamp =
            Timestamp::now().max(previous.map_or(Timestamp::from_micros(0), |h| h.timestamp));
        SignedTreeHead::sign(
            key,
            tree_size,
            root,
            timestamp,
            previous.map_or([0; 32], |h| h.digest()),
        )
    }

    /// Durably appends a head already signed and checked by the caller
    /// (one this archive signed, or one read from the cluster database).
    pub fn adopt(&mut self, head: SignedTreeHead) -> Result<()> {
        let mut bytes = Vec::new();
        frame::write(&mut bytes, &head.encode());
        self.file.write_all(&bytes).at(&self.path)?;
        self.file.sync_data().at(&self.path)?;
        self.heads.push(head);
        Ok(())
    }
}
