//! Duties: background work that one node does for the whole archive (a
//! retention run, the WORM copy's sync), so that several nodes of a
//! cluster do not each do it at once.
//!
//! An embedded archive has one process (the data directory's lock), so a
//! duty is always granted. In cluster mode a duty is a PostgreSQL
//! session-level advisory lock, `pg_try_advisory_lock(DUTIES, id)`, taken
//! on a connection of its own that a thread keeps open while the
//! [`Duty`] lives: PostgreSQL releases it when the guard drops, when the
//! node dies (its session ends) or when the connection breaks, and the
//! next node that asks takes it. The class key [`DUTIES`] keeps duty
//! locks apart from the journal's lease (`pg_advisory_xact_lock(SHARD)`,
//! the single-key space).

use super::cluster::{db, runtime};
use super::{Error, Journal, Result};
use sqlx::{Connection, PgConnection};
use std::sync::mpsc;

/// The first key of every duty's advisory lock ("cu").
pub(crate) const DUTIES: i32 = 0x6375;

/// A duty held by this node until dropped.
#[derive(Debug)]
pub struct Duty {
    /// Dropping it tells the lock's thread to close its session.
    _release: Option<mpsc::Sender<()>>,
}

/// The second key of a duty's lock: a stable digest of its name.
fn duty_id(name: &str) -> i32 {
    let digest = custos_model::Digest::of(name.as_bytes());
    let b = digest.as_bytes();
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl Journal {
    /// Takes the duty `name` (e.g. `retention`) for as long as the
    /// returned guard lives, or `None` when another node holds it. Always
    /// granted in an embedded archive. Blocks for one round trip to the
    /// database; call it off the async workers.
    pub fn try_duty(&self, name: &str) -> Result<Option<Duty>> {
        let Some(url) = self.inner.duty_url.clone() else {
            return Ok(Some(Duty { _release: None }));
        };
        let id = duty_id(name);
        let (answer, answered) = mpsc::sync_channel::<Result<bool>>(1);
        let (release, released) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("custos-duty".into())
            .spawn(move || {
                let rt = match runtime() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = answer.send(Err(e));
                        return;
                    }
                };
                let taken = rt.block_on(async {
                    let mut conn = PgConnection::connect(&url)
                        .await
                        .map_err(db("connecting for a duty's lock"))?;
                    let (got,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1, $2)")
                        .bind(DUTIES)
                        .bind(id)
                        .fetch_one(&mut conn)
                        .await
                        .map_err(db("taking a duty's lock"))?;
                    Ok::<_, Error>((conn, got))
                });
                match taken {
                    Ok((conn, got)) => {
                        let _ = answer.send(Ok(got));
                        if got {
                            // Held until the guard drops (the sender goes).
                            let _ = released.recv();
                        }
                        let _ = rt.block_on(conn.close());
                    }
                    Err(e) => {
                        let _ = answer.send(Err(e));
                    }
                }
            })
            .map_err(|e| Error::Database(format!("starting a duty's thread: {e}")))?;
        match answered.recv() {
            Ok(Ok(true)) => Ok(Some(Duty {
                _release: Some(release),
            })),
            Ok(Ok(false)) => Ok(None),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Database("a duty's thread stopped".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Journal, Kek, Options, drop_scratch_database, init_cluster, scratch_database};
    use std::time::{Duration, Instant};

    #[test]
    fn an_embedded_archive_always_holds_its_duties() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::init(&dir.path().join("a"), None, "test").unwrap();
        let first = journal.try_duty("retention").unwrap();
        assert!(first.is_some());
        assert!(journal.try_duty("retention").unwrap().is_some());
    }

    #[test]
    fn one_node_holds_a_duty_until_it_lets_go() {
        let base = match std::env::var("CUSTOS_TEST_PG") {
            Ok(base) if !base.is_empty() => base,
            _ if std::env::var("CUSTOS_TEST_NO_PG").as_deref() == Ok("1") => return,
            _ => panic!(
                "CUSTOS_TEST_PG is not set: run `export CUSTOS_TEST_PG=$(scripts/pg-start)`, or set CUSTOS_TEST_NO_PG=1"
            ),
        };
        let url = scratch_database(&base).unwrap();
        let kek = Kek::generate().0;
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let one = init_cluster(a.path(), &url, Some(kek.clone()), "test").unwrap();
        let two = Journal::open(
            b.path(),
            Options {
                kek: Some(kek),
                journal_url: Some(url.clone()),
                ..Options::default()
            },
        )
        .unwrap();
        let held = one.try_duty("retention").unwrap().expect("free at first");
        assert!(two.try_duty("retention").unwrap().is_none(), "held by one");
        assert!(
            one.try_duty("retention").unwrap().is_none(),
            "a second guard on the same node is refused too (one run at a time)"
        );
        let other = two.try_duty("worm").unwrap();
        assert!(other.is_some(), "duties are independent");
        drop(held);
        // The release travels to the database: the next ask gets it.
        let deadline = Instant::now() + Duration::from_secs(10);
        let taken = loop {
            if let Some(d) = two.try_duty("retention").unwrap() {
                break d;
            }
            assert!(Instant::now() < deadline, "never released");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(one.try_duty("retention").unwrap().is_none());
        drop((taken, other, one, two));
        drop_scratch_database(&base, &url).unwrap();
    }
}
