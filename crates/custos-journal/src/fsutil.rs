//! Small durable-file helpers shared by the journal's files.

use crate::error::{Error, IoContext, Result};
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

/// Makes a directory's entries (new, renamed files) durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

/// Writes `bytes` to `path` so that after a crash the file holds either its
/// old content or all of `bytes`: a temporary file, fsync, rename, fsync of
/// the directory.
pub fn replace_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).at(&tmp)?;
    file.write_all(bytes).at(&tmp)?;
    file.sync_all().at(&tmp)?;
    fs::rename(&tmp, path).at(path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Reads a whole file and checks it opens with `magic`.
pub fn read_with_magic(path: &Path, magic: &[u8]) -> Result<Vec<u8>> {
    let bytes = fs::read(path).at(path)?;
    if !bytes.starts_with(magic) {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            seq: None,
            problem: format!(
                "file does not start with the {} header",
                String::from_utf8_lossy(&magic[..6])
            ),
        });
    }
    Ok(bytes)
}
