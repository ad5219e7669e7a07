//! Full-text search over the archive: a tantivy index that is a
//! *projection* of the journal, and the translation of the query language
//! (`custos-query`) into tantivy queries.
//!
//! - [`schema`]: one document per message, its fields and the text
//!   analyzer (words, lower-cased, accents folded, so `acao` finds `ação`).
//! - [`index`]: [`SearchIndex`] holds its journal position in each commit;
//!   [`SearchIndex::apply`] feeds it events in journal order (messages are
//!   added, edits add their text, deletions flag, `key.shred` removes every
//!   message of the erased subject); a rebuild starts from nothing.
//! - [`translate`]: a parsed query to a tantivy query; fields that are
//!   state, not text (`custodian:`, `policy:`, `alert:`, `tag:`, `hold:`),
//!   are resolved when the query runs, through a [`Resolver`] the caller
//!   supplies, so a later alert or hold needs no re-indexing.
//! - [`search`]: running a query: relevance or time order, pages, snippets
//!   with highlights, the conversation around a hit, every matching entry.
//!
//! The index lives in the archive's `state/search/`; losing it costs a
//! rebuild, never data.

pub mod index;
pub mod schema;
pub mod search;
pub mod translate;

pub use index::SearchIndex;
pub use search::{Hit, Results, SearchOptions, Snippet, Sort};
pub use translate::{Flagged, Resolver, Scope};

/// Why the index could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The index files could not be read or written.
    #[error("search index {path}: {source}")]
    Index {
        /// The index directory.
        path: std::path::PathBuf,
        /// What tantivy said.
        source: tantivy::TantivyError,
    },
    /// A tantivy operation failed.
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// The query names something that does not exist (a custodian, a hold).
    #[error("{0}")]
    Query(String),
    /// The journal could not be read.
    #[error(transparent)]
    Journal(#[from] custos_journal::Error),
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, Error>;
