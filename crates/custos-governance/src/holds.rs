//! Legal holds: placed on custodians, conversations, participants, a
//! date range and a saved search (all optional; every given part must
//! match), released with a reason. `hold.placed` and `hold.released` system events record who and
//! why; [`Holds`] folds them; [`Holds::covering`] says which holds cover a
//! message, and [`Holds::covering_subject`] which cover anything of a data
//! subject, so erasure can be refused.
//!
//! A hold over a saved search keeps both: the entries the query matched
//! when the hold was placed (`frozen`, so nothing known then can slip out,
//! whatever later edits or index changes do) and the query itself, which
//! the caller re-evaluates at check time ([`Holds::set_matches`]) so that
//! messages captured later that match join the hold. This crate cannot run
//! queries (custos-search does): without fresh matches it counts the frozen
//! entries only in [`Holds::covering_entry`], and [`Holds::covering`], which
//! has no entry number, errs on the side of holding (the rest of the scope
//! alone).

use crate::details;
use custos_journal::{Journal, Opened};
use custos_model::{Event, EventKind, Message, SystemEvent, Timestamp, party_id};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A hold placed.
pub const PLACED: &str = "hold.placed";
/// A hold released.
pub const RELEASED: &str = "hold.released";
/// An erasure refused because holds cover the subject.
pub const ERASURE_REFUSED: &str = "erasure.refused";

/// What a hold covers: a message is covered when it matches every part
/// given (an empty list or an absent date matches everything).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldScope {
    /// Custodians (employee ids) whose messages are held.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custodians: Vec<String>,
    /// Conversations held.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conversations: Vec<String>,
    /// Participants (addresses, as party ids) whose messages are held.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<String>,
    /// Messages sent at or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Timestamp>,
    /// Messages sent before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Timestamp>,
    /// A saved search (custos-query text): messages it matches are held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
    /// The journal entries `search` matched when the hold was placed;
    /// they stay held whatever the query matches later.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frozen: Vec<u64>,
}

impl HoldScope {
    /// Whether the scope says anything at all (a hold over everything must
    /// be asked for explicitly, with a date range at least).
    pub fn is_empty(&self) -> bool {
        self.custodians.is_empty()
            && self.conversations.is_empty()
            && self.participants.is_empty()
            && self.from.is_none()
            && self.to.is_none()
            && self.search.is_none()
    }

    /// Whether message `m`, involving custodian `custodian`, is covered.
    pub fn covers(&self, m: &Message, custodian: Option<&str>) -> bool {
        let people = || {
            std::iter::once(&m.sender)
                .chain(&m.recipients)
                .map(|a| party_id(a))
        };
        (self.custodians.is_empty()
            || custodian.is_some_and(|c| self.custodians.iter().any(|x| x == c)))
            && (self.conversations.is_empty() || self.conversations.contains(&m.conversation))
            && (self.participants.is_empty() || people().any(|p| self.participants.contains(&p)))
            && self.from.is_none_or(|f| m.sent_at >= f)
            && self.to.is_none_or(|t| m.sent_at < t)
    }

    /// Whether message entry `seq` is covered, `matches` being what the
    /// saved search matches now (if it was evaluated): the rest of the
    /// scope must match, and for a search hold the entry must be frozen
    /// or matched now.
    pub fn covers_entry(
        &self,
        seq: u64,
        m: &Message,
        custodian: Option<&str>,
        matches: Option<&std::collections::BTreeSet<u64>>,
    ) -> bool {
        self.covers(m, custodian)
            && (self.search.is_none()
                || self.frozen.binary_search(&seq).is_ok()
                || matches.is_some_and(|now| now.contains(&seq)))
    }
}

/// The body of `hold.placed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placed {
    /// A name people know it by (the matter).
    pub name: String,
    /// Why.
    pub reason: String,
    /// What it covers.
    pub scope: HoldScope,
}

/// A hold and its state.
#[derive(Clone, Debug, Serialize)]
pub struct Hold {
    /// Its id, `LH-` and the entry that placed it.
    pub id: String,
    /// Name, reason, scope.
    #[serde(flatten)]
    pub placed: Placed,
    /// Who placed it, when.
    pub placed_by: String,
    /// When.
    pub placed_at: Timestamp,
    /// Who released it, when and why, if released.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released: Option<(String, Timestamp, String)>,
}

/// A hold action that cannot be taken.
#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    /// No such hold.
    #[error("no hold {0}")]
    NoSuchHold(String),
    /// Released already.
    #[error("hold {0} was already released")]
    Released(String),
    /// Something required is missing.
    #[error("{0}")]
    Invalid(String),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] custos_journal::Error),
}

/// Every hold, placed or released, by id.
#[derive(Debug, Default)]
pub struct Holds {
    /// By id.
    pub all: BTreeMap<String, Hold>,
    /// What each search hold's query matches now, when evaluated.
    matches: BTreeMap<String, std::collections::BTreeSet<u64>>,
}

impl Holds {
    /// Folds the hold events of the journal.
    pub fn load(journal: &Journal) -> Result<Holds, HoldError> {
        let mut holds = Holds::default();
        for entry in journal.entries(0) {
            let entry = entry?;
            if entry.leaf.kind != EventKind::System {
                continue;
            }
            if let Opened::Event(Event::System(s)) = journal.open_entry(&entry)? {
                holds.apply(entry.leaf.seq, &s);
            }
        }
        Ok(holds)
    }

    /// Applies one system event.
    pub fn apply(&mut self, seq: u64, event: &SystemEvent) {
        match event.action.as_str() {
            PLACED => {
                if let Ok(placed) = serde_json::from_value::<Placed>(serde_json::Value::Object(
                    event.details.clone(),
                )) {
                    let id = format!("LH-{seq}");
                    self.all.insert(
                        id.clone(),
                        Hold {
                            id,
                            placed,
                            placed_by: event.actor.clone(),
                            placed_at: event.at,
                            released: None,
                        },
                    );
                }
            }
            RELEASED => {
                if let Some(hold) = event.target.as_ref().and_then(|t| self.all.get_mut(t)) {
                    let reason = event
                        .details
                        .get("reason")
                        .and_then(|r| r.as_str())
                        .unwrap_or_default()
                        .to_string();
                    hold.released = Some((event.actor.clone(), event.at, reason));
                }
            }
            _ => {}
        }
    }

    /// Holds in force.
    pub fn active(&self) -> impl Iterator<Item = &Hold> {
        self.all.values().filter(|h| h.released.is_none())
    }

    /// The search holds in force with their query, for the caller to
    /// evaluate and hand back with [`Holds::set_matches`].
    pub fn searches(&self) -> Vec<(String, String)> {
        self.active()
            .filter_map(|h| Some((h.id.clone(), h.placed.scope.search.clone()?)))
            .collect()
    }

    /// Records what search hold `id`'s query matches now.
    pub fn set_matches(&mut self, id: &str, seqs: impl IntoIterator<Item = u64>) {
        self.matches
            .insert(id.to_string(), seqs.into_iter().collect());
    }

    /// Whether hold `h` covers message entry `seq`.
    pub fn hold_covers(&self, h: &Hold, seq: u64, m: &Message, custodian: Option<&str>) -> bool {
        h.placed
            .scope
            .covers_entry(seq, m, custodian, self.matches.get(&h.id))
    }

    /// The holds in force that cover message entry `seq` (exact for search
    /// holds, given their matches).
    pub fn covering_entry(&self, seq: u64, m: &Message, custodian: Option<&str>) -> Vec<&Hold> {
        self.active()
            .filter(|h| self.hold_covers(h, seq, m, custodian))
            .collect()
    }

    /// The holds in force that cover message entry `seq`: exact for a
    /// search hold whose query was evaluated ([`Holds::set_matches`]), and
    /// on the safe side (the rest of its scope) for one that was not.
    pub fn covering_record(&self, seq: u64, m: &Message, custodian: Option<&str>) -> Vec<&Hold> {
        self.active()
            .filter(|h| {
                if h.placed.scope.search.is_some() && !self.matches.contains_key(&h.id) {
                    h.placed.scope.covers(m, custodian)
                } else {
                    self.hold_covers(h, seq, m, custodian)
                }
            })
            .collect()
    }

    /// The holds in force that cover message `m` (a search hold counts
    /// when the rest of its scope matches: without the entry number its
    /// query cannot be told, and holding too much is the safe side).
    pub fn covering(&self, m: &Message, custodian: Option<&str>) -> Vec<&Hold> {
        self.active()
            .filter(|h| h.placed.scope.covers(m, custodian))
            .collect()
    }

    /// The holds in force that cover any message of data subject `subject`
    /// (`custodian_of` names the custodian a message involves).
    pub fn covering_subject(
        &self,
        journal: &Journal,
        subject: &str,
        custodian_of: &dyn Fn(&Message) -> Option<String>,
    ) -> Result<Vec<String>, HoldError> {
        let subject = party_id(subject);
        let mut found = std::collections::BTreeSet::new();
        if self.active().next().is_none() {
            return Ok(Vec::new());
        }
        for entry in journal.entries(0) {
            let entry = entry?;
            if entry.leaf.kind != EventKind::Message {
                continue;
            }
            let Opened::Event(Event::Message(m)) = journal.open_entry(&entry)? else {
                continue;
            };
            if m.external_party().map(party_id).as_deref() != Some(subject.as_str()) {
                continue;
            }
            for h in self.covering_entry(entry.leaf.seq, &m, custodian_of(&m).as_deref()) {
                found.insert(h.id.clone());
            }
        }
        Ok(found.into_iter().collect())
    }

    /// Places a hold; returns its id.
    pub fn place(
        &mut self,
        journal: &Journal,
        actor: &str,
        name: &str,
        reason: &str,
        mut scope: HoldScope,
    ) -> Result<String, HoldError> {
        if name.trim().is_empty() || reason.trim().is_empty() {
            return Err(HoldError::Invalid(
                "a hold needs a name and a reason".into(),
            ));
        }
        if scope.is_empty() {
            return Err(HoldError::Invalid(
                "a hold needs a scope: custodians, conversations, participants or dates".into(),
            ));
        }
        scope.participants = scope.participants.iter().map(|p| party_id(p)).collect();
        if scope.search.as_deref().is_some_and(|q| q.trim().is_empty()) {
            return Err(HoldError::Invalid(
                "a hold's search must not be empty".into(),
            ));
        }
        scope.frozen.sort_unstable();
        scope.frozen.dedup();
        let placed = Placed {
            name: name.trim().into(),
            reason: reason.trim().into(),
            scope,
        };
        let appended = journal.append_system(actor, PLACED, Some(name.trim()), details(&placed))?;
        let event = SystemEvent {
            actor: actor.into(),
            action: PLACED.into(),
            target: Some(name.trim().into()),
            at: Timestamp::now(),
            details: details(&placed),
        };
        self.apply(appended.seq, &event);
        Ok(format!("LH-{}", appended.seq))
    }

    /// Releases a hold.
    pub fn release(
        &mut self,
        journal: &Journal,
        actor: &str,
        id: &str,
        reason: &str,
    ) -> Result<(), HoldError> {
        let hold = self
            .all
            .get(id)
            .ok_or_else(|| HoldError::NoSuchHold(id.into()))?;
        if hold.released.is_some() {
            return Err(HoldError::Released(id.into()));
        }
        if reason.trim().is_empty() {
            return Err(HoldError::Invalid("releasing a hold needs a reason".into()));
        }
        let mut d = serde_json::Map::new();
        d.insert("reason".into(), reason.trim().into());
        let appended = journal.append_system(actor, RELEASED, Some(id), d.clone())?;
        self.apply(
            appended.seq,
            &SystemEvent {
                actor: actor.into(),
                action: RELEASED.into(),
                target: Some(id.into()),
                at: Timestamp::now(),
                details: d,
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_model::{Digest, Direction};

    fn message(id: &str, conv: &str, customer: &str, day: i64) -> Message {
        Message {
            channel: "whatsapp".into(),
            source_id: id.into(),
            conversation: conv.into(),
            sender: customer.into(),
            recipients: vec!["+447700900001".into()],
            direction: Direction::Inbound,
            sent_at: Timestamp::from_micros(day * 86_400_000_000),
            captured_at: Timestamp::from_micros(day * 86_400_000_000),
            text: Some("hi".into()),
            attachments: vec![],
            reply_to: None,
            raw_digest: Digest::of(id.as_bytes()),
            extra: Default::default(),
        }
    }

    #[test]
    fn every_given_part_of_the_scope_must_match() {
        let scope = HoldScope {
            conversations: vec!["c1".into()],
            from: Some(Timestamp::from_micros(10 * 86_400_000_000)),
            ..Default::default()
        };
        assert!(scope.covers(&message("a", "c1", "+1", 10), None));
        assert!(!scope.covers(&message("a", "c1", "+1", 9), None));
        assert!(!scope.covers(&message("a", "c2", "+1", 11), None));
        let by_person = HoldScope {
            participants: vec![party_id("+55 11 9999-0001")],
            ..Default::default()
        };
        assert!(by_person.covers(&message("a", "c9", "5511 9999 0001", 1), None));
        let by_custodian = HoldScope {
            custodians: vec!["E1".into()],
            ..Default::default()
        };
        assert!(by_custodian.covers(&message("a", "c9", "+1", 1), Some("E1")));
        assert!(!by_custodian.covers(&message("a", "c9", "+1", 1), None));
    }

    #[test]
    fn a_search_hold_covers_its_frozen_entries_and_what_the_query_matches_now() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::init(dir.path(), None, "t").unwrap();
        let mut holds = Holds::default();
        let scope = HoldScope {
            search: Some("guarantee".into()),
            frozen: vec![7, 3, 3],
            ..Default::default()
        };
        let id = holds
            .place(&journal, "cco", "Guarantees", "FCA request", scope)
            .unwrap();
        let reloaded = Holds::load(&journal).unwrap();
        assert_eq!(reloaded.all[&id].placed.scope.frozen, [3, 7]);
        let m = message("a", "c1", "+1", 1);
        let mut holds = reloaded;
        assert_eq!(holds.covering_entry(3, &m, None).len(), 1, "frozen");
        assert!(holds.covering_entry(9, &m, None).is_empty(), "not matched");
        holds.set_matches(&id, [9]);
        assert_eq!(holds.covering_entry(9, &m, None).len(), 1, "matched now");
        assert_eq!(holds.covering_entry(3, &m, None).len(), 1, "still frozen");
        assert_eq!(holds.searches(), [(id.clone(), "guarantee".to_string())]);
        // Without an entry number the search hold holds (the safe side).
        assert_eq!(holds.covering(&m, None).len(), 1);
        let empty = HoldScope {
            search: Some("  ".into()),
            ..Default::default()
        };
        assert!(holds.place(&journal, "cco", "x", "y", empty).is_err());
    }

    #[test]
    fn holds_are_placed_released_and_refold_from_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::init(dir.path(), None, "t").unwrap();
        let mut holds = Holds::default();
        assert!(
            holds
                .place(
                    &journal,
                    "cco",
                    "SEC inquiry",
                    "subpoena",
                    HoldScope::default()
                )
                .is_err()
        );
        let scope = HoldScope {
            participants: vec!["+55 11 99999-0001".into()],
            ..Default::default()
        };
        let id = holds
            .place(&journal, "cco", "SEC inquiry", "subpoena 24-113", scope)
            .unwrap();
        journal
            .append(
                &Event::Message(message("m1", "c1", "+5511999990001", 1)),
                Some("+5511999990001"),
            )
            .unwrap();
        let none = |_: &Message| None;
        assert_eq!(
            holds
                .covering_subject(&journal, "5511999990001", &none)
                .unwrap(),
            vec![id.clone()]
        );
        assert!(
            holds
                .covering_subject(&journal, "+44 7700 900002", &none)
                .unwrap()
                .is_empty()
        );
        assert!(holds.release(&journal, "cco", &id, " ").is_err());
        holds
            .release(&journal, "cco", &id, "inquiry closed")
            .unwrap();
        assert!(matches!(
            holds.release(&journal, "cco", &id, "again"),
            Err(HoldError::Released(_))
        ));
        let reloaded = Holds::load(&journal).unwrap();
        assert_eq!(reloaded.all.len(), 1);
        assert_eq!(reloaded.active().count(), 0);
        assert_eq!(
            reloaded.all[&id].released.as_ref().unwrap().2,
            "inquiry closed"
        );
        assert!(
            reloaded
                .covering_subject(&journal, "5511999990001", &none)
                .unwrap()
                .is_empty()
        );
    }
}
