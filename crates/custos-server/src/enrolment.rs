//! Enrolment enforcement at capture: with `[capture] require_enrolment`,
//! a webhook message whose business side (the number a custodian would
//! hold) belongs to no enrolled custodian is not attributed to anyone.
//!
//! Nothing is dropped: the delivery's raw body is journalled as always
//! (sealed under the customer's key) and, instead of the message events,
//! one `capture.refused` system event names the business number, the
//! channel, the source ids and the reason, so `custos log` shows the
//! unenrolled device and the evidence stays in the archive. Meta and
//! Twilio still get 200: refusing at HTTP would only make them retry.

use custos_journal::{Journal, NewEntry};
use custos_model::{Event, Message, SystemEvent, Timestamp, party_id};
use std::collections::{BTreeMap, HashSet};

/// The action of a refused capture.
pub const REFUSED: &str = "capture.refused";

/// The enrolled custodians' numbers and whether capture requires them.
/// Custodians enrolled on another node or by the CLI are added by the
/// follower ([`crate::follow`], [`Enrolment::observe`]).
#[derive(Debug, Default)]
pub struct Enrolment {
    require: bool,
    numbers: std::sync::RwLock<HashSet<String>>,
}

impl Enrolment {
    /// No enforcement: every capture is attributed as parsed.
    pub fn off() -> Enrolment {
        Enrolment::default()
    }

    /// Enforcement over the numbers of the custodians enrolled in
    /// `journal` (when `require` is false, nothing is refused).
    pub fn from_journal(
        journal: &Journal,
        require: bool,
    ) -> Result<Enrolment, custos_governance::custodians::CustodianError> {
        let numbers = custos_governance::custodians::registry(journal)?
            .into_values()
            .map(|c| party_id(&c.phone))
            .collect();
        Ok(Enrolment {
            require,
            numbers: std::sync::RwLock::new(numbers),
        })
    }

    /// Enforcement over these numbers.
    pub fn new(require: bool, numbers: impl IntoIterator<Item = String>) -> Enrolment {
        Enrolment {
            require,
            numbers: std::sync::RwLock::new(numbers.into_iter().map(|n| party_id(&n)).collect()),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashSet<String>> {
        self.numbers.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes in a custodian enrolled elsewhere (journalled at `seq`).
    pub fn observe(&self, seq: u64, event: &SystemEvent) {
        if let Some(c) = custos_governance::custodians::from_event(seq, event) {
            self.numbers
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(party_id(&c.phone));
        }
    }

    /// Whether enforcement is on.
    pub fn required(&self) -> bool {
        self.require
    }

    /// How many numbers are enrolled.
    pub fn enrolled(&self) -> usize {
        self.read().len()
    }

    /// Whether capture on `business` (a number) must be refused.
    pub fn refuses(&self, business: &str) -> bool {
        self.require && !self.read().contains(&party_id(business))
    }

    /// Splits `entries` into those kept and, in place of the refused ones,
    /// one `capture.refused` event per business number. `business` names
    /// the business side of an entry, `None` for entries never refused
    /// (statuses, consent, system events).
    pub fn screen(
        &self,
        channel: &str,
        actor: &str,
        raw_digest: &str,
        entries: Vec<(NewEntry, Option<String>)>,
    ) -> Vec<NewEntry> {
        let mut kept = Vec::with_capacity(entries.len());
        let mut refused: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (entry, business) in entries {
            match business {
                Some(b) if self.refuses(&b) => refused
                    .entry(party_id(&b))
                    .or_default()
                    .push(source_id(&entry.event)),
                _ => kept.push(entry),
            }
        }
        for (number, ids) in refused {
            tracing::warn!(
                channel,
                events = ids.len(),
                "capture refused: number not enrolled"
            );
            let mut details = serde_json::Map::new();
            details.insert("channel".into(), channel.into());
            details.insert(
                "reason".into(),
                format!(
                    "business number {number} is held by no enrolled custodian ([capture] require_enrolment); the raw delivery is kept"
                )
                .into(),
            );
            details.insert("raw_digest".into(), raw_digest.into());
            details.insert("events".into(), ids.len().into());
            details.insert("source_ids".into(), ids.into());
            kept.push(NewEntry {
                event: Event::System(SystemEvent {
                    actor: actor.into(),
                    action: REFUSED.into(),
                    target: Some(number),
                    at: Timestamp::now(),
                    details,
                }),
                subject: None,
            });
        }
        kept
    }
}

/// The firm's side of a message: who received it if inbound, who sent it
/// otherwise.
pub fn business_side(m: &Message) -> Option<&str> {
    match m.direction {
        custos_model::Direction::Inbound => m.recipients.first().map(String::as_str),
        _ => Some(m.sender.as_str()),
    }
}

fn source_id(event: &Event) -> String {
    match event {
        Event::Message(m) => m.source_id.clone(),
        Event::Edit(e) => e.source_id.clone(),
        Event::Deletion(d) => d.source_id.clone(),
        Event::Reaction(r) => r.source_id.clone(),
        other => other.kind().name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unenrolled_numbers_are_refused_and_only_when_required() {
        let on = Enrolment::new(true, ["+44 7700 900001".to_string()]);
        assert!(!on.refuses("447700900001"));
        assert!(on.refuses("+447700900999"));
        let off = Enrolment::new(false, Vec::new());
        assert!(!off.refuses("+447700900999"));
    }
}
