//! The follower: keeps this node's sending rules current with what other
//! processes append to the journal (other nodes of a cluster, the CLI).
//!
//! What a node appends itself it tells its views at once (the webhook,
//! the consent API, the inbox); what another node appends reaches this
//! node's journal when its writer catches up. The follower reads those
//! entries every [`EVERY`] and hands them on: consent changes and inbound
//! WhatsApp messages to the sending rules ([`crate::outbound::Parties`]:
//! an opt-out recorded on any node stops sends on every node, and a
//! customer's message on one node opens the 24-hour window on all), and
//! custodians enrolled elsewhere to the capture check
//! ([`crate::enrolment::Enrolment`]) and to search and the information
//! barrier ([`SearchService::enrol`]: a unit's reviewers see the new
//! custodian's messages). Events told twice are harmless: the
//! views keep the latest state by journal position.
//!
//! Users, tokens and sessions follow the journal in `custos-auth`
//! (`Auth::follow`); the search index, the supervisor and the SQL state
//! have threads of their own.

use crate::AppState;
use crate::enrolment::Enrolment;
use crate::outbound::SharedParties;
use crate::search::{Person, SearchService};
use custos_journal::Journal;
use custos_model::{Event, EventKind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the follower reads what arrived.
pub const EVERY: Duration = Duration::from_millis(250);
/// Events handed on at once.
const BATCH: usize = 4096;

/// The follower's state; the thread stops once this is dropped.
pub struct Follower {
    journal: Journal,
    parties: SharedParties,
    enrolment: Arc<Enrolment>,
    search: Option<SearchService>,
    /// The next entry not yet handed on.
    next: Mutex<u64>,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower").finish_non_exhaustive()
    }
}

impl Follower {
    /// A follower of `state`'s journal for its views, from where the
    /// sending rules' rebuild stopped.
    pub fn new(state: &AppState) -> Follower {
        let next = state
            .parties
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .followed();
        Follower {
            journal: state.journal.clone(),
            parties: state.parties.clone(),
            enrolment: state.enrolment.clone(),
            search: state.search.clone(),
            next: Mutex::new(next),
        }
    }

    /// Starts the thread that calls [`Follower::catch_up`] every
    /// [`EVERY`]; it stops when the returned handle is dropped.
    pub fn start(self) -> Arc<Follower> {
        let this = Arc::new(self);
        let weak = Arc::downgrade(&this);
        let spawned = std::thread::Builder::new()
            .name("custos-follow".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(EVERY);
                    let Some(this) = weak.upgrade() else { return };
                    if let Err(e) = this.catch_up() {
                        tracing::warn!(error = %e, "following the journal for the sending rules");
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "starting the journal follower");
        }
        this
    }

    /// Hands on every entry appended since the last call; returns how
    /// many events it handed on. Blocking: reads (and opens) the entries.
    pub fn catch_up(&self) -> custos_journal::Result<usize> {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let mut events = Vec::new();
        let mut handed = 0;
        self.journal.events_since(
            &mut next,
            &[EventKind::Message, EventKind::Consent, EventKind::System],
            |seq, event| {
                events.push((seq, event));
                // Handed on in bounded batches: a node far behind holds no
                // more than a batch of events at once.
                if events.len() == BATCH {
                    handed += self.hand_on(std::mem::take(&mut events));
                }
            },
        )?;
        Ok(handed + self.hand_on(events))
    }

    /// Hands `events` to the views (the sending rules under one write lock).
    fn hand_on(&self, events: Vec<(u64, Event)>) -> usize {
        if events.is_empty() {
            return 0;
        }
        let mut parties = self.parties.write().unwrap_or_else(|e| e.into_inner());
        for (seq, event) in &events {
            match event {
                Event::System(s) => {
                    self.enrolment.observe(*seq, s);
                    if let (Some(search), Some(c)) = (
                        &self.search,
                        custos_governance::custodians::from_event(*seq, s),
                    ) {
                        search.enrol(Person {
                            id: c.id,
                            name: c.name,
                            address: custos_model::party_id(&c.phone),
                            units: c.units,
                        });
                    }
                }
                other => parties.observe(*seq, other),
            }
        }
        events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::MediaQueue;
    use custos_model::{ConsentChange, ConsentState, Direction, Message, Timestamp};

    const CUSTOMER: &str = "+5511900000001";

    fn consent(state: ConsentState) -> Event {
        Event::Consent(ConsentChange {
            channel: "whatsapp".into(),
            party: CUSTOMER.into(),
            state,
            evidence: format!("{state:?} by phone"),
            at: Timestamp::now(),
            recorded_by: "cora".into(),
        })
    }

    #[test]
    fn what_another_node_appends_reaches_the_sending_rules_and_enrolment() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::init(dir.path(), None, "test").unwrap();
        let opted_in = journal
            .append(&consent(ConsentState::OptIn), Some(CUSTOMER))
            .unwrap();
        let mut state =
            AppState::new(journal.clone(), Default::default(), MediaQueue::disabled()).unwrap();
        state.enrolment = Arc::new(Enrolment::new(true, Vec::<String>::new()));
        let index = custos_search::SearchIndex::open(&dir.path().join("index")).unwrap();
        state.search = Some(SearchService::start(
            journal.clone(),
            index,
            Vec::new(),
            None,
        ));
        let fx_reviewer = custos_auth::Principal {
            user: "rita".into(),
            name: "Rita".into(),
            roles: [custos_auth::Role::Reviewer].into(),
            scope: custos_auth::Scope::Units(["fx".to_string()].into()),
        };
        let sees_ana = |state: &AppState| {
            crate::barrier::of(state, &fx_reviewer).allows_parties(["+447700900001"])
        };
        let follower = Follower::new(&state);
        let consent_now = || state.parties.read().unwrap().consent(CUSTOMER);
        assert_eq!(consent_now(), Some(ConsentState::OptIn));
        assert_eq!(follower.catch_up().unwrap(), 0, "the rebuild read it");

        // Appended by another node (or the CLI): only the journal says so.
        let opted_out = journal
            .append(&consent(ConsentState::OptOut), Some(CUSTOMER))
            .unwrap();
        let message = Event::Message(Message {
            channel: "whatsapp".into(),
            source_id: "wamid.1".into(),
            conversation: "c".into(),
            sender: CUSTOMER.into(),
            recipients: vec!["+447700900001".into()],
            direction: Direction::Inbound,
            sent_at: Timestamp::now(),
            captured_at: Timestamp::now(),
            text: Some("hello".into()),
            attachments: Vec::new(),
            reply_to: None,
            raw_digest: custos_model::Digest::of(b"wamid.1"),
            extra: Default::default(),
        });
        journal.append(&message, Some(CUSTOMER)).unwrap();
        custos_governance::custodians::add(
            &journal,
            "admin",
            "ana",
            "Ana",
            "+447700900001",
            "2026-01-05",
            &["fx".into()],
        )
        .unwrap();
        assert!(state.enrolment.refuses("+447700900001"));
        assert!(!sees_ana(&state), "the fx reviewer does not know Ana yet");
        assert_eq!(follower.catch_up().unwrap(), 3);
        assert_eq!(consent_now(), Some(ConsentState::OptOut));
        assert!(!state.enrolment.refuses("+447700900001"));
        assert!(state.enrolment.refuses("+447700900002"));
        // Search and the barrier count her: the fx desk sees her messages.
        assert!(sees_ana(&state));
        let people = state.search.as_ref().unwrap().people();
        assert_eq!(people.len(), 1);
        assert_eq!(
            (people[0].id.as_str(), people[0].units.as_slice()),
            ("ana", &["fx".to_string()][..])
        );

        // Told late, an older change never undoes a newer one.
        state
            .parties
            .write()
            .unwrap()
            .observe(opted_in.seq, &consent(ConsentState::OptIn));
        assert_eq!(consent_now(), Some(ConsentState::OptOut));
        state
            .parties
            .write()
            .unwrap()
            .observe(opted_out.seq + 10, &consent(ConsentState::OptIn));
        assert_eq!(consent_now(), Some(ConsentState::OptIn));
    }

    #[test]
    fn the_thread_follows_and_stops_with_its_handle() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::init(dir.path(), None, "test").unwrap();
        let state =
            AppState::new(journal.clone(), Default::default(), MediaQueue::disabled()).unwrap();
        let follower = Follower::new(&state).start();
        journal
            .append(&consent(ConsentState::OptOut), Some(CUSTOMER))
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while state.parties.read().unwrap().consent(CUSTOMER).is_none() {
            assert!(std::time::Instant::now() < deadline, "never followed");
            std::thread::sleep(Duration::from_millis(20));
        }
        // Dropping the handle ends the thread (it holds the follower only
        // while catching up).
        let weak = Arc::downgrade(&follower);
        drop(follower);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while weak.upgrade().is_some() {
            assert!(std::time::Instant::now() < deadline, "never let go");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
