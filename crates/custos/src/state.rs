//! `custos rebuild state` and where the SQL state projection lives
//! (`--state-url`, `[state] url`, `CUSTOS_STATE_URL`; by default SQLite at
//! `DATA/state/state.db`). The projection itself is `custos_store`.

use anyhow::{Context, Result};
use custos_journal::Journal;
use custos_store::{Projector, Store};
use std::io::Write;
use std::path::Path;

/// The state database's URL: the flag (or `CUSTOS_STATE_URL`), else the
/// configuration's `[state] url`, else the archive's SQLite file.
pub fn url(data: &Path, flag: Option<&str>, config: Option<&str>) -> String {
    flag.or(config)
        .filter(|u| !u.trim().is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| custos_store::sqlite_url(&custos_store::default_path(data)))
}

/// Opens the state database, creating the folder of the SQLite file.
pub async fn open(data: &Path, url: &str) -> Result<Store> {
    if url == custos_store::sqlite_url(&custos_store::default_path(data)) {
        let path = custos_store::default_path(data);
        return Store::open_sqlite(&path)
            .await
            .with_context(|| format!("opening the state database {}", path.display()));
    }
    Store::open(url).await.with_context(|| {
        format!(
            "opening the state database {}",
            custos_store::redact_url(url)
        )
    })
}

/// Drops every row and projects the journal again from its first entry.
pub fn rebuild(data: &Path, url: &str, journal: &Journal, out: &mut impl Write) -> Result<()> {
    let started = std::time::Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let (backend, position, counts) = runtime.block_on(async {
        let store = open(data, url).await?;
        let projector = Projector::rebuild(store.clone(), journal)
            .await
            .context("rebuilding the state projection")?;
        let counts = store.counts().await?;
        store.close().await;
        anyhow::Ok((store.backend(), projector.position(), counts))
    })?;
    let rows: Vec<String> = counts
        .iter()
        .filter(|(table, _)| {
            matches!(
                *table,
                "alerts"
                    | "holds"
                    | "cases"
                    | "consent_changes"
                    | "users"
                    | "tokens"
                    | "custodians"
            )
        })
        .map(|(table, n)| format!("{table} {n}"))
        .collect();
    writeln!(
        out,
        "state rebuilt ({}) from {} journal entries in {:.1} s: {}",
        backend.name(),
        position,
        started.elapsed().as_secs_f64(),
        rows.join(", ")
    )?;
    Ok(())
}
