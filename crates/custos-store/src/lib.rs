//! State projections of the journal over SQL: alerts and their review
//! history, legal holds, cases (saved searches, review decisions), consent
//! (every change and the current state per party), users and API tokens
//! (never a secret), custodians, and the journal position the rows reach.
//!
//! The journal is the truth; these tables are a projection that can be
//! dropped and rebuilt ([`Projector::rebuild`]). The rows and the position
//! are committed in one transaction per batch, so after a crash the rows
//! are exactly those of the entries before the stored position.
//!
//! One code path for both backends: the store runs on sqlx's `Any` driver,
//! which carries SQLite (embedded, the default: `DATA/state/state.db`) and
//! PostgreSQL (`postgres://...`) behind one pool type. Every statement is
//! written once in the SQL both accept (`$N` parameters, `BIGINT`/`TEXT`,
//! times as UTC microseconds, lists as JSON text), so the same test suite
//! exercises the same code on both. Migrations are versioned
//! (`migrations/`, embedded with `sqlx::migrate!`) and applied when the
//! store opens.
//!
//! - [`projector`]: reads the journal from the stored position and writes
//!   what the existing folds (`custos_review::Supervision`,
//!   `custos_governance::{Holds, Cases}`, `custos_auth::Users`, the custodian
//!   registry) say changed;
//! - [`queries`]: keyset-paged readers (the alert queue with the
//!   information barrier inside the SQL, custodians);
//! - [`records`]: keyset-paged readers of the governance records and the
//!   user register (legal holds, a party's consent history and consent now,
//!   cases with their searches and decision counts, users with their API
//!   tokens). Archive-level records: no barrier applies; never a secret.
//!
//! Every reader is one SQL text run on both backends, and the test suite
//! (`src/tests.rs`) runs each reader on SQLite and on PostgreSQL.
//!
//! ```no_run
//! # async fn example(journal: &custos_journal::Journal) -> Result<(), custos_store::Error> {
//! let store = custos_store::Store::open("sqlite:///tmp/state.db?mode=rwc").await?;
//! let mut projector = custos_store::Projector::open(store.clone(), journal).await?;
//! projector.catch_up(journal).await?;
//! # Ok(()) }
//! ```

pub mod projector;
pub mod queries;
pub mod records;
mod write;

#[cfg(test)]
mod tests;

pub use projector::Projector;
pub use queries::{AlertFilter, AlertPage, AlertRow, CustodianPage, CustodianRow, Visibility};
pub use records::{
    CasePage, CaseRow, CaseState, ConsentChangeRow, ConsentFigures, ConsentHistoryPage, ConsentNow,
    DecisionCounts, HoldPage, HoldRow, HoldState, SavedSearchRow, TokenRow, UserPage, UserRow,
};

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use std::path::{Path, PathBuf};

/// The migrations, embedded at build time and applied at open.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database refused or failed.
    #[error("state database: {0}")]
    Sql(#[from] sqlx::Error),
    /// A migration could not be applied.
    #[error("state database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The journal could not be read.
    #[error(transparent)]
    Journal(#[from] custos_journal::Error),
    /// The URL names no backend the store has.
    #[error("state url {0:?}: expected sqlite:// or postgres://")]
    Url(String),
    /// A file or folder for the SQLite database could not be made.
    #[error("state database folder {path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A page key that no page of this list gave.
    #[error("not a page key of this list: {0:?}")]
    Cursor(String),
    /// A row held something this version cannot read.
    #[error("state database row: {0}")]
    Row(String),
}

/// The store's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// Which database holds the rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend a URL names.
    pub fn of_url(url: &str) -> Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(Error::Url(redact_url(url)))
        }
    }

    /// `sqlite` or `postgres`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A URL with any password replaced by `***`, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The default state database of an archive: `DATA/state/state.db`.
pub fn default_path(data: &Path) -> PathBuf {
    data.join("state").join("state.db")
}

/// The SQLite URL of a database file (created if missing).
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// The state database: a pool over SQLite or PostgreSQL with the schema
/// migrated to this version's.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    applied: Vec<i64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the database at `url` (`sqlite://PATH?mode=rwc` or
    /// `postgres://...`) and applies the migrations it lacks.
    pub async fn open(url: &str) -> Result<Store> {
        let backend = Backend::of_url(url)?;
        sqlx::any::install_default_drivers();
        // SQLite allows one writer at a time: few connections suffice, and
        // readers see committed batches through WAL.
        let max = match backend {
            Backend::Sqlite => 4,
            Backend::Postgres => 8,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await?;
        let before = applied_versions(&pool).await.unwrap_or_default();
        MIGRATOR.run(&pool).await?;
        let after = applied_versions(&pool).await?;
        let applied = after.into_iter().filter(|v| !before.contains(v)).collect();
        Ok(Store {
            pool,
            backend,
            applied,
        })
    }

    /// Opens (creating) the SQLite database at `path`.
    pub async fn open_sqlite(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        Store::open(&sqlite_url(path)).await
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The migration versions this open applied (none when the schema was
    /// already current).
    pub fn applied_at_open(&self) -> &[i64] {
        &self.applied
    }

    /// Every migration version recorded in the database, oldest first.
    pub async fn schema_versions(&self) -> Result<Vec<i64>> {
        applied_versions(&self.pool).await
    }

    /// The next journal entry the rows have not taken in.
    pub async fn position(&self) -> Result<u64> {
        let (next,): (i64,) =
            sqlx::query_as("SELECT next_seq FROM projection_position WHERE id = 1")
                .fetch_one(&self.pool)
                .await?;
        Ok(next as u64)
    }

    /// Drops every row and sets the position to 0 (before a rebuild), in
    /// one transaction.
    pub async fn clear(&self) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for table in write::TABLES {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE projection_position SET next_seq = 0 WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The pool, for the readers in this crate.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

async fn applied_versions(pool: &AnyPool) -> Result<Vec<i64>> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT version FROM _sqlx_migrations WHERE success = TRUE ORDER BY version",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(v,)| v).collect())
}
