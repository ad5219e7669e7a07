//! The projector: reads the journal from the stored position, applies each
//! event to the existing folds, and writes the rows they say changed.
//!
//! The meaning of an event lives in one place, its fold
//! (`Supervision::apply`, `Holds::apply`, `Cases::apply`, `Users::apply`,
//! `custodians::Registry::apply`); the projector only notes *which* entity
//! an event touched and writes that entity's current value. Consent
//! changes are facts in themselves: each is a row, and the current consent
//! of a (party, channel) is its newest change in journal order.
//!
//! The folds live in memory: opening a projector folds the system events
//! before the stored position without writing anything, then
//! [`Projector::catch_up`] applies the rest, committing rows and position
//! in one transaction per batch of entries.
//!
//! Erasure: a `key.shred` deletes every row whose entry was sealed under
//! the shredded key (an alert with its review history and parties, review
//! notes, case decisions, consent changes, and any hold, case, user or
//! custodian created under it); an entity created under a shredded key is
//! never written again. A rebuild, which cannot open those entries, gives
//! the same rows.
//!
//! Journal reads block: run a projector on a thread of its own (the server
//! does) or in a command, not on a runtime's worker.

use crate::write::{self, Batch, ConsentRow};
use crate::{Result, Store};
use custos_auth::Users;
use custos_governance::cases::{self, Cases};
use custos_governance::custodians::{self, Registry};
use custos_governance::holds::{self, Holds};
use custos_journal::{Journal, Opened, StoredEntry};
use custos_model::{ConsentState, Event, EventKind, SystemEvent, party_id};
use custos_review::Supervision;
use custos_review::events as review;
use std::collections::{HashMap, HashSet};

/// Entries applied per transaction.
const BATCH: usize = 2_000;

/// The journal action of an erasure.
const KEY_SHRED: &str = "key.shred";

/// The kinds of entity written whole from a fold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    Alert,
    Hold,
    Case,
    User,
    Token,
    Custodian,
}

/// The folds the rows are written from.
#[derive(Debug, Default)]
pub struct Folds {
    /// Policies, alerts and their review.
    pub supervision: Supervision,
    /// Legal holds.
    pub holds: Holds,
    /// Cases.
    pub cases: Cases,
    /// Users and tokens.
    pub users: Users,
    /// Enrolled custodians.
    pub custodians: Registry,
}

impl Folds {
    fn has(&self, kind: Kind, id: &str) -> bool {
        match kind {
            Kind::Alert => self.supervision.alerts.contains_key(id),
            Kind::Hold => self.holds.all.contains_key(id),
            Kind::Case => self.cases.all.contains_key(id),
            Kind::User => self.users.get(id).is_some(),
            Kind::Token => self.users.token(id).is_some(),
            Kind::Custodian => self.custodians.all.contains_key(id),
        }
    }
}

/// Keeps a [`Store`] current with a journal.
pub struct Projector {
    store: Store,
    folds: Folds,
    /// The key id of the entry that created each entity.
    origins: HashMap<(Kind, String), String>,
    /// Keys shredded so far.
    shredded: HashSet<String>,
    /// The next entry the folds have not seen.
    folded_to: u64,
    /// The next entry the rows have not taken in.
    position: u64,
}

impl std::fmt::Debug for Projector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projector")
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl Projector {
    /// A projector over `store` for `journal`: folds what precedes the
    /// stored position (writing nothing). Rows of a longer journal than
    /// this one (another archive's) are dropped and rebuilt.
    pub async fn open(store: Store, journal: &Journal) -> Result<Projector> {
        let mut position = store.position().await?;
        if position > journal.size() {
            tracing::warn!(
                position,
                size = journal.size(),
                "state rows reach past the journal: rebuilding"
            );
            store.clear().await?;
            position = 0;
        }
        let mut this = Projector {
            store,
            folds: Folds::default(),
            origins: HashMap::new(),
            shredded: HashSet::new(),
            folded_to: 0,
            position,
        };
        while this.folded_to < position {
            let (_, read) = this.read(journal, position, false)?;
            if read == 0 {
                break;
            }
        }
        Ok(this)
    }

    /// Drops every row and projects the journal from its first entry.
    pub async fn rebuild(store: Store, journal: &Journal) -> Result<Projector> {
        store.clear().await?;
        let mut this = Projector::open(store, journal).await?;
        this.catch_up(journal).await?;
        Ok(this)
    }

    /// Applies every entry after the position, committing rows and
    /// position per batch; returns how many entries it took in.
    ///
    /// Several nodes may project one journal into one shared database (a
    /// cluster on one PostgreSQL). Each batch's transaction first locks the
    /// position row, then reads the stored position: rows another node already wrote past this batch are
    /// left as they are; a batch that overlaps them writes only the rest
    /// (entity rows are written whole from the folds, so writing one twice
    /// gives the same row); a position behind this node's (the rows were
    /// dropped by `custos rebuild state`) makes it fold again from there.
    pub async fn catch_up(&mut self, journal: &Journal) -> Result<u64> {
        let start = self.position;
        let end = journal.size();
        while self.folded_to < end {
            let from = self.folded_to;
            let (batch, read) = self.read(journal, end, true)?;
            if read == 0 {
                break;
            }
            let mut tx = self.store.pool().begin().await?;
            // Take the position row's write lock first (both backends:
            // PostgreSQL locks the row, SQLite takes the database's write
            // lock), so the position read next stays true until commit.
            sqlx::query("UPDATE projection_position SET next_seq = next_seq WHERE id = 1")
                .execute(&mut *tx)
                .await?;
            let (stored,): (i64,) =
                sqlx::query_as("SELECT next_seq FROM projection_position WHERE id = 1")
                    .fetch_one(&mut *tx)
                    .await?;
            let stored = stored as u64;
            if stored >= self.folded_to {
                // Another node wrote these rows already.
                tx.rollback().await?;
                self.position = self.folded_to;
                continue;
            }
            if stored < from {
                tx.rollback().await?;
                tracing::warn!(
                    stored,
                    from,
                    "the state rows were dropped behind this projector: folding again"
                );
                *self = Projector::open(self.store.clone(), journal).await?;
                continue;
            }
            write::flush(
                &mut tx,
                &self.folds,
                &self.origins,
                &self.shredded,
                &batch,
                stored,
                self.folded_to,
            )
            .await?;
            tx.commit().await?;
            self.position = self.folded_to;
        }
        Ok(self.position.saturating_sub(start))
    }

    /// The next journal entry the rows have not taken in.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The store written to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The folds as of the position.
    pub fn folds(&self) -> &Folds {
        &self.folds
    }

    /// Folds up to [`BATCH`] entries from `folded_to` (before `end`),
    /// noting what changed when `writing`; returns the changes and how
    /// many entries were read.
    fn read(&mut self, journal: &Journal, end: u64, writing: bool) -> Result<(Batch, usize)> {
        let mut batch = Batch::default();
        let mut read = 0;
        for entry in journal.entries(self.folded_to) {
            let entry = entry?;
            if entry.leaf.seq >= end {
                break;
            }
            self.take(journal, &entry, writing.then_some(&mut batch))?;
            self.folded_to = entry.leaf.seq + 1;
            read += 1;
            if read >= BATCH {
                break;
            }
        }
        Ok((batch, read))
    }

    fn take(
        &mut self,
        journal: &Journal,
        entry: &StoredEntry,
        batch: Option<&mut Batch>,
    ) -> Result<()> {
        let seq = entry.leaf.seq;
        let key = entry.leaf.key_id.to_string();
        match entry.leaf.kind {
            EventKind::System => {
                if let Opened::Event(Event::System(s)) = journal.open_entry(entry)? {
                    self.system(journal, seq, &key, &s, batch)?;
                }
            }
            EventKind::Consent => {
                let Some(batch) = batch else { return Ok(()) };
                if let Opened::Event(Event::Consent(c)) = journal.open_entry(entry)? {
                    batch.consent.push(ConsentRow {
                        seq,
                        key_id: key,
                        party: party_id(&c.party),
                        channel: c.channel.clone(),
                        state: match c.state {
                            ConsentState::OptIn => "opt_in",
                            ConsentState::OptOut => "opt_out",
                        },
                        evidence: c.evidence.clone(),
                        at: c.at.as_micros(),
                        recorded_by: c.recorded_by.clone(),
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn system(
        &mut self,
        journal: &Journal,
        seq: u64,
        key: &str,
        s: &SystemEvent,
        mut batch: Option<&mut Batch>,
    ) -> Result<()> {
        if s.action == KEY_SHRED
            && let Some(target) = &s.target
        {
            self.shredded.insert(target.clone());
            if let Some(b) = batch.as_deref_mut() {
                b.shreds.push(target.clone());
            }
        }
        let f = &mut self.folds;
        f.supervision.apply(seq, s);
        f.holds.apply(seq, s);
        f.cases.apply(seq, s);
        f.users.apply(s);
        f.custodians.apply(seq, s);
        let Some((kind, id)) = touched(seq, s) else {
            return Ok(());
        };
        if !self.folds.has(kind, &id) {
            return Ok(());
        }
        self.origins
            .entry((kind, id.clone()))
            .or_insert_with(|| key.to_string());
        let Some(batch) = batch else { return Ok(()) };
        if kind == Kind::Alert {
            let alert = &self.folds.supervision.alerts[&id];
            if s.action == review::ALERT_RAISED && alert.seq == seq {
                let parties = message_parties(journal, alert.raised.message_seq)?;
                batch.parties.push((id.clone(), parties));
            }
            if alert.history.last().is_some_and(|h| h.seq == seq) {
                batch.history.push((id.clone(), seq, key.to_string()));
            }
        }
        if s.action == cases::TAGGED
            && let Some(message) = s.details.get("seq").and_then(|v| v.as_u64())
        {
            batch.decisions.push((id.clone(), message, key.to_string()));
        }
        batch.dirty.insert((kind, id));
        Ok(())
    }
}

/// The entity an event is about, by its action's family (what the event
/// does to it is the fold's business).
fn touched(seq: u64, s: &SystemEvent) -> Option<(Kind, String)> {
    let action = s.action.as_str();
    let target = || s.target.clone();
    Some(match action {
        holds::PLACED => (Kind::Hold, format!("LH-{seq}")),
        holds::RELEASED => (Kind::Hold, target()?),
        cases::OPENED => (Kind::Case, format!("CASE-{seq}")),
        custodians::ADD_ACTION | custodians::ACKNOWLEDGEMENT_ACTION => (Kind::Custodian, target()?),
        _ if action.starts_with("alert.") => (Kind::Alert, target()?),
        _ if action.starts_with("case.") => (Kind::Case, target()?),
        _ if action.starts_with("user.") => (Kind::User, target()?),
        _ if action.starts_with("token.") => (Kind::Token, target()?),
        _ => return None,
    })
}

/// The party ids of the message at `seq`, for the barrier (as the search
/// index knows them); none when it is not a message or cannot be read.
fn message_parties(journal: &Journal, seq: u64) -> Result<Vec<String>> {
    if seq >= journal.size() {
        return Ok(Vec::new());
    }
    let entry = journal.entry(seq)?;
    let mut parties: Vec<String> = match journal.open_entry(&entry)? {
        Opened::Event(Event::Message(m)) => std::iter::once(&m.sender)
            .chain(m.recipients.iter())
            .map(|p| party_id(p))
            .collect(),
        _ => Vec::new(),
    };
    parties.sort();
    parties.dedup();
    Ok(parties)
}
