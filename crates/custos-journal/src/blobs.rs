//! The blob store: attachment bytes and raw source payloads, encrypted.
//!
//! Events refer to bytes too large or too raw to journal (media, the exact
//! body of a webhook delivery) by their SHA-256. The bytes live in
//! `blobs/<key id>/<sha-256 hex>`, sealed with AES-256-GCM under the data key
//! of the subject they belong to, so shredding a subject destroys their
//! blobs with the rest of their content. Each file is the magic
//! `CSTBLB\0\x01` followed by the nonce, ciphertext and tag; the additional
//! authenticated data binds it to its digest and key.
//!
//! A blob is written durably (temporary file, fsync, rename, fsync of the
//! directory) before its digest is handed back, so an event that names it
//! never names bytes that a crash could lose. Storing the same bytes twice
//! for the same subject writes nothing.

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::keys::{DataKey, KeyId};
use custos_model::Digest;
use std::fs;
use std::path::{Path, PathBuf};

/// The file header of a blob.
pub const BLOB_MAGIC: &[u8; 8] = b"CSTBLB\x00\x01";
/// The blob store's directory in the archive.
pub const BLOBS_DIR: &str = "blobs";
const BLOB_AAD: &[u8] = b"custos-blob-v1";

/// Where a blob is kept: the key that seals it and the digest of its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlobRef {
    /// The data key that seals it.
    pub key_id: KeyId,
    /// SHA-256 of the plaintext bytes.
    pub digest: Digest,
    /// Plaintext size in bytes.
    pub size: u64,
}

fn aad(key_id: KeyId, digest: &Digest) -> Vec<u8> {
    [BLOB_AAD, key_id.as_bytes(), digest.as_bytes()].concat()
}

/// The path of a blob under the archive directory `dir`.
pub fn path(dir: &Path, key_id: KeyId, digest: &Digest) -> PathBuf {
    dir.join(BLOBS_DIR)
        .join(key_id.to_string())
        .join(digest.to_string())
}

/// Seals and durably stores `bytes` under `key`, unless already stored.
pub fn put(dir: &Path, key: &DataKey, bytes: &[u8]) -> Result<BlobRef> {
    let digest = Digest::of(bytes);
    let blob = BlobRef {
        key_id: key.id(),
        digest,
        size: bytes.len() as u64,
    };
    let path = path(dir, key.id(), &digest);
    if path.exists() {
        return Ok(blob);
    }
    let parent = path.parent().expect("a blob path has a parent");
    if !parent.exists() {
        fs::create_dir_all(parent).at(parent)?;
        fsutil::sync_dir(parent.parent().expect("blobs dir"))?;
    }
    let sealed = key.seal(&aad(key.id(), &digest), bytes);
    fsutil::replace_durably(&path, &[BLOB_MAGIC.as_slice(), &sealed].concat())?;
    Ok(blob)
}

/// Reads and opens a blob with `key`, checking its bytes against the
/// digest it is named by.
pub fn get(dir: &Path, key: &DataKey, digest: &Digest) -> Result<Vec<u8>> {
    let path = path(dir, key.id(), digest);
    let stored = fsutil::read_with_magic(&path, BLOB_MAGIC)?;
    let corrupt = |problem: &str| Error::Corrupt {
        path: path.clone(),
        offset: BLOB_MAGIC.len() as u64,
        seq: None,
        problem: problem.to_string(),
    };
    let plain = key
        .open(&aad(key.id(), digest), &stored[BLOB_MAGIC.len()..])
        .ok_or_else(|| corrupt("blob does not authenticate under its data key"))?;
    if Digest::of(&plain) != *digest {
        return Err(corrupt("blob bytes do not match their digest"));
    }
    Ok(plain)
}

/// Removes every blob sealed under `key_id` (after its key was destroyed,
/// they can never be opened again).
pub fn remove_all(dir: &Path, key_id: KeyId) -> Result<()> {
    let sub = dir.join(BLOBS_DIR).join(key_id.to_string());
    match fs::remove_dir_all(&sub) {
        Ok(()) => fsutil::sync_dir(&dir.join(BLOBS_DIR)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).at(&sub),
    }
}
