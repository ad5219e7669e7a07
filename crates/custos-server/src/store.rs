//! The SQL state projection kept current while the server runs: a thread
//! of its own runs the [`custos_store::Projector`] after every webhook
//! commit (and twice a second), as the search index thread does; readers
//! query their own pool of the same database.
//!
//! A list read waits (briefly) until the rows reach the journal size it
//! saw when the request arrived, so a page never misses what was
//! committed before it was asked for.

use custos_journal::Journal;
use custos_store::{Projector, Store};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a reader waits for the rows to catch up before answering
/// from what they hold.
const CATCH_UP_WAIT: Duration = Duration::from_secs(5);

/// The state projection and its updater thread.
#[derive(Clone)]
pub struct StoreService {
    inner: Arc<Inner>,
}

struct Inner {
    /// The readers' pool (on the server's runtime).
    store: Store,
    journal: Journal,
    wake: Mutex<mpsc::Sender<()>>,
    position: tokio::sync::watch::Receiver<u64>,
}

impl std::fmt::Debug for StoreService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreService")
            .field("backend", &self.inner.store.backend())
            .finish_non_exhaustive()
    }
}

impl StoreService {
    /// Opens the database at `url` for readers and starts the thread
    /// that keeps it current with `journal` (its own connection pool on
    /// its own runtime). Fails if the database cannot be opened or
    /// migrated; the projector's first catch-up runs in the background.
    pub async fn start(journal: Journal, url: &str) -> custos_store::Result<StoreService> {
        let store = Store::open(url).await?;
        let (tx, rx) = mpsc::channel::<()>();
        let (position_tx, position_rx) = tokio::sync::watch::channel(0u64);
        let (opened_tx, opened_rx) = tokio::sync::oneshot::channel();
        let thread_journal = journal.clone();
        let url = url.to_string();
        std::thread::Builder::new()
            .name("custos-state".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(error = %e, "state projection runtime failed to start");
                        return;
                    }
                };
                runtime.block_on(async move {
                    let store = match Store::open(&url).await {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = opened_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = opened_tx.send(Ok(()));
                    let mut projector = match Projector::open(store, &thread_journal).await {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::error!(error = %e, "state projection failed to open");
                            return;
                        }
                    };
                    loop {
                        match projector.catch_up(&thread_journal).await {
                            Ok(n) if n > 0 => tracing::debug!(entries = n, "state projection"),
                            Ok(_) => {}
                            Err(e) => tracing::error!(error = %e, "state projection update failed"),
                        }
                        if position_tx.send(projector.position()).is_err() {
                            return;
                        }
                        // Wait for a wake (or the half-second tick) off the
                        // runtime: this thread has nothing else to do.
                        match rx.recv_timeout(Duration::from_millis(500)) {
                            Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                            Err(mpsc::RecvTimeoutError::Disconnected) => return,
                        }
                        while rx.try_recv().is_ok() {}
                    }
                });
            })
            .expect("spawning the state projection thread");
        match opened_rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(custos_store::Error::Row(
                    "the state projection thread stopped".into(),
                ));
            }
        }
        Ok(StoreService {
            inner: Arc::new(Inner {
                store,
                journal,
                wake: Mutex::new(tx),
                position: position_rx,
            }),
        })
    }

    /// Asks for an update now (after a commit).
    pub fn wake(&self) {
        let _ = self
            .inner
            .wake
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(());
    }

    /// The rows, once they reach every entry committed before this call
    /// (or after a few seconds, whatever they hold then).
    pub async fn current(&self) -> &Store {
        let target = self.inner.journal.size();
        let mut position = self.inner.position.clone();
        if *position.borrow() < target {
            self.wake();
            let _ = tokio::time::timeout(CATCH_UP_WAIT, position.wait_for(|p| *p >= target)).await;
        }
        &self.inner.store
    }

    /// The rows as they are now.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }
}
