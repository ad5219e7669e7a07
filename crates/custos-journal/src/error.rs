//! The journal's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in the journal.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation failed on a file of the archive.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Another process owns the data directory.
    #[error("archive {dir} is in use by another process ({holder})")]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// What the lock file says about its holder.
        holder: String,
    },
    /// The directory is not a custos archive.
    #[error("{dir} is not a custos archive (run `custos init` first): {problem}")]
    NotAnArchive {
        /// The directory.
        dir: PathBuf,
        /// What is missing.
        problem: String,
    },
    /// `init` was asked to create an archive where one already is.
    #[error("{0} already holds a custos archive")]
    AlreadyExists(PathBuf),
    /// The key-encryption key is malformed or does not open the keys.
    #[error("key-encryption key: {0}")]
    Kek(String),
    /// A file is damaged: a checksum, a length or a number does not check out.
    #[error("{path} at offset {offset}{}: {problem}", seq.map(|s| format!(" (entry {s})")).unwrap_or_default())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset of the damage.
        offset: u64,
        /// The entry it belongs to, where known.
        seq: Option<u64>,
        /// What does not check out.
        problem: String,
    },
    /// An earlier write failed and the writer stopped; reopen the archive.
    #[error("the journal writer stopped after an earlier failure: {0}")]
    WriterStopped(String),
    /// The entry does not exist.
    #[error("entry {seq} does not exist; the journal holds {size} entries")]
    NoSuchEntry {
        /// The entry asked for.
        seq: u64,
        /// How many entries there are.
        size: u64,
    },
    /// A tree size outside the journal was asked for.
    #[error("tree size {asked} is invalid; the journal holds {size} entries")]
    TreeSize {
        /// The size asked for.
        asked: u64,
        /// How many entries there are.
        size: u64,
    },
    /// A Merkle proof could not be made or does not verify.
    #[error("proof: {0}")]
    Proof(#[from] crate::merkle::ProofError),
    /// An entry's ciphertext does not open with its data key.
    #[error("entry {seq}: ciphertext does not authenticate under its data key")]
    Decrypt {
        /// The entry.
        seq: u64,
    },
    /// An entry written before per-entry keys cannot be disclosed alone.
    #[error(
        "entry {seq} predates per-entry keys (leaf version 1): it cannot be disclosed without its subject's key"
    )]
    NotDisclosable {
        /// The entry.
        seq: u64,
    },
    /// An entry's plaintext is not a valid event.
    #[error("entry {seq}: {source}")]
    Decode {
        /// The entry.
        seq: u64,
        /// Why it does not decode.
        source: custos_model::DecodeError,
    },
    /// The cluster database (PostgreSQL) failed or refused an operation;
    /// nothing of the operation was acknowledged.
    #[error("journal database: {0}")]
    Database(String),
    /// The operation is not allowed.
    #[error("refused: {0}")]
    Refused(String),
}

/// Shorthand for results with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches a path to an I/O error.
pub(crate) trait IoContext<T> {
    fn at(self, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}
