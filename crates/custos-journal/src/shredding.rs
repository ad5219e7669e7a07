//! The intent of a key shred, so that a crash between journalling the
//! `key.shred` entries and rewriting the key store is finished on the next
//! open, never left half done.
//!
//! `keys/shredding` holds the journal size before the `key.shred` entries
//! were appended and the key ids about to go. It is written durably before
//! the first entry and removed once the key store no longer holds the keys.
//! If it is found at open, the entries from that size on say which of the
//! keys were journalled as shredded: those are destroyed now (the record of
//! their destruction is already durable); the others were never
//! acknowledged, and stay.
//!
//! The file is text: `custos shredding 1`, `from SEQ`, then one key id
//! (hex) per line.

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::keys::KeyId;
use std::path::{Path, PathBuf};

/// Where the intent lives, under the archive's directory.
pub const SHREDDING_FILE: &str = "keys/shredding";
const HEADER: &str = "custos shredding 1";

/// A shred that was started.
#[derive(Debug, PartialEq, Eq)]
pub struct Intent {
    /// The journal's size before the `key.shred` entries.
    pub from: u64,
    /// The keys to destroy.
    pub ids: Vec<KeyId>,
}

fn path(dir: &Path) -> PathBuf {
    dir.join(SHREDDING_FILE)
}

/// Records, durably, that `ids` are about to be shredded at journal size
/// `from`.
pub fn begin(dir: &Path, from: u64, ids: &[KeyId]) -> Result<()> {
    let mut text = format!("{HEADER}\nfrom {from}\n");
    for id in ids {
        text.push_str(&id.to_string());
        text.push('\n');
    }
    fsutil::replace_durably(&path(dir), text.as_bytes())
}

/// Removes the intent once the keys are gone.
pub fn finish(dir: &Path) -> Result<()> {
    let p = path(dir);
    match std::fs::remove_file(&p) {
        Ok(()) => fsutil::sync_dir(p.parent().unwrap_or(dir)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).at(&p),
    }
}

/// The intent left by a shred cut short, if any.
pub fn pending(dir: &Path) -> Result<Option<Intent>> {
    let p = path(dir);
    let text = match std::fs::read_to_string(&p) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).at(&p),
    };
    let corrupt = |line: usize, problem: &str| Error::Corrupt {
        path: p.clone(),
        offset: line as u64,
        seq: None,
        problem: format!("line {line}: {problem}"),
    };
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err(corrupt(1, "expected the header `custos shredding 1`"));
    }
    let from = lines
        .next()
        .and_then(|l| l.strip_prefix("from "))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| corrupt(2, "expected `from SEQ`"))?;
    let mut ids = Vec::new();
    for (i, line) in lines.enumerate() {
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(line, &mut bytes)
            .map_err(|_| corrupt(i + 3, "expected a key id (32 hex digits)"))?;
        ids.push(KeyId::from_bytes(bytes));
    }
    Ok(Some(Intent { from, ids }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_intent_reads_back_and_finishing_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        assert_eq!(pending(dir.path()).unwrap(), None);
        let ids = vec![KeyId::from_bytes([7; 16]), KeyId::from_bytes([9; 16])];
        begin(dir.path(), 42, &ids).unwrap();
        assert_eq!(pending(dir.path()).unwrap(), Some(Intent { from: 42, ids }));
        finish(dir.path()).unwrap();
        assert_eq!(pending(dir.path()).unwrap(), None);
        finish(dir.path()).unwrap();
    }

    #[test]
    fn a_damaged_intent_is_named_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        std::fs::write(
            dir.path().join(SHREDDING_FILE),
            "custos shredding 1\nfrom 3\nnot-hex\n",
        )
        .unwrap();
        let e = pending(dir.path()).unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
    }
}
