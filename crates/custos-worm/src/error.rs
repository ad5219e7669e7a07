//! The one error type of the WORM copy: each variant names the object (or
//! setting) it is about.

/// Why an upload, a sync or a check failed.
#[derive(Debug, thiserror::Error)]
pub enum WormError {
    /// A setting is missing or unusable.
    #[error("worm.{field}: {problem}")]
    Config {
        /// The setting, as in `[worm]`.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The object store client failed.
    #[error("{object}: {source}")]
    Store {
        /// The object (key inside the prefix).
        object: String,
        /// The client's error.
        source: object_store::Error,
    },
    /// The store answered a request with an error status.
    #[error("{object}: the store answered {status} {code}: {message}")]
    Http {
        /// The object (or the bucket).
        object: String,
        /// The HTTP status.
        status: u16,
        /// The S3 error code, e.g. `AccessDenied`.
        code: String,
        /// The store's message.
        message: String,
    },
    /// The store refused to delete a locked version (what Object Lock is for).
    #[error("{object}: the store refused to delete version {version}: {status} {code}")]
    DeleteRefused {
        /// The object.
        object: String,
        /// The version.
        version: String,
        /// The HTTP status (403).
        status: u16,
        /// The S3 error code (`AccessDenied`).
        code: String,
    },
    /// A lock was asked to end earlier than the one in force: compliance
    /// mode is only ever lengthened. Refused before anything is sent.
    #[error(
        "{object}: version {version} is locked until {in_force}; a lock is never shortened (asked {asked})"
    )]
    ShortenRefused {
        /// The object.
        object: String,
        /// The version.
        version: String,
        /// The retain-until the store reports.
        in_force: String,
        /// The earlier date asked.
        asked: String,
    },
    /// The store refused to change a version's retention (S3 answers 403
    /// `AccessDenied` to a shortened compliance lock).
    #[error(
        "{object}: the store refused to set the retention of version {version}: {status} {code}"
    )]
    RetentionRefused {
        /// The object.
        object: String,
        /// The version.
        version: String,
        /// The HTTP status.
        status: u16,
        /// The S3 error code.
        code: String,
    },
    /// The bucket's copy is not what was uploaded or asked for.
    #[error("{object}: {problem}")]
    Mismatch {
        /// The object.
        object: String,
        /// What differs.
        problem: String,
    },
    /// A local file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] custos_journal::Error),
    /// Reading the retention schedule or holds failed.
    #[error(transparent)]
    Retention(#[from] custos_governance::retention::RetentionError),
    /// Reading the holds failed.
    #[error(transparent)]
    Hold(#[from] custos_governance::HoldError),
}

impl WormError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> WormError {
        WormError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
