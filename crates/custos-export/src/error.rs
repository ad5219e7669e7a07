//! The one error type of the crate.

use std::path::PathBuf;

/// Why an export could not be written, or its custody manifest not read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The output directory exists and holds files.
    #[error("{}: the export directory must not exist or be empty", path.display())]
    NotEmpty {
        /// The directory.
        path: PathBuf,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The request's time zone is not a known IANA name.
    #[error("unknown time zone {0:?}")]
    TimeZone(String),
    /// Entries are not in strictly ascending seq order.
    #[error("entries must be in ascending seq order: entry {seq} follows entry {previous}")]
    Order {
        /// The entry out of order.
        seq: u64,
        /// The entry before it.
        previous: u64,
    },
    /// A disclosed entry is not what it claims to be.
    #[error("entry {seq}: {reason}")]
    Entry {
        /// The entry.
        seq: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The tree head does not verify with the request's public key.
    #[error("the tree head (size {tree_size}) is not signed by the given public key")]
    HeadSignature {
        /// The head's tree size.
        tree_size: u64,
    },
    /// The multi-proof does not prove the entries against the head.
    #[error(
        "the proof does not prove the entries against the tree head (size {tree_size}): {reason}"
    )]
    Proof {
        /// The head's tree size.
        tree_size: u64,
        /// What failed.
        reason: String,
    },
    /// An attachment's bytes do not have the digest the message names.
    #[error(
        "{bates}: attachment {name:?} bytes have SHA-256 {actual}, the message names {expected}"
    )]
    Blob {
        /// The message's Bates number.
        bates: String,
        /// The attachment's name.
        name: String,
        /// The digest the message carries.
        expected: String,
        /// The digest of the bytes returned.
        actual: String,
    },
    /// A manifest this crate built fails the RSMF schema or its
    /// cross-references (a bug: nothing was written for it).
    #[error("{file}: the RSMF manifest is invalid: {}", problems.join("; "))]
    Manifest {
        /// The RSMF file it was for.
        file: String,
        /// Each fault, with its JSON pointer.
        problems: Vec<String>,
    },
    /// Building a zip failed.
    #[error("{file}: cannot build rsmf.zip: {reason}")]
    Zip {
        /// The RSMF file it was for.
        file: String,
        /// What failed.
        reason: String,
    },
    /// The transcript renderer refused a slice.
    #[error("{file}: {reason}")]
    Transcript {
        /// The transcript file.
        file: String,
        /// What failed.
        reason: String,
    },
    /// `custody.json` cannot be read or understood.
    #[error("{}: cannot read the custody manifest: {reason}", path.display())]
    Custody {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl Error {
    /// An I/O error at `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
