//! The console's projection of the journal: what the dashboard counts, the
//! consent history of each party, the latest delivery state of each
//! message, custodians, holds, privacy requests and the audit log.
//!
//! It is folded from the journal and holds its position: the first request
//! reads the whole journal once, every later request reads only what was
//! appended since (one decrypt per new entry), so it is never stale and
//! never re-reads. It is not stored; a restart folds it again.
//!
//! Days are UTC days. Message counts are kept per day, channel, direction
//! and *firm-side party* (the first participant who is an enrolled
//! custodian, else the firm's end of the message), so the dashboard can
//! apply the information barrier when it renders: a count is shown only
//! when that party's custodian is within the reader's scope.

use super::Barrier;
use custos_auth::Scope;
use custos_governance::custodians::{self, Custodian};
use custos_governance::holds::Holds;
use custos_governance::privacy::Requests;
use custos_journal::{Journal, Opened};
use custos_model::{ConsentState, DeliveryState, Direction, Event, Message, Timestamp, party_id};
use std::collections::{BTreeMap, HashMap};

/// Microseconds in a day.
pub const DAY_MICROS: i64 = 86_400_000_000;

/// The UTC day number (days since 1970-01-01) of a timestamp.
pub fn day_of(ts: Timestamp) -> i64 {
    ts.as_micros().div_euclid(DAY_MICROS)
}

/// A message count's key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CountKey {
    /// UTC day number.
    pub day: i64,
    /// Channel.
    pub channel: String,
    /// `inbound`, `outbound`, `internal` or `unknown`.
    pub direction: &'static str,
    /// The firm-side party (party id), `""` when there is none.
    pub party: String,
}

/// One consent change as the history shows it.
#[derive(Clone, Debug)]
pub struct ConsentRecord {
    /// The journal entry.
    pub seq: u64,
    /// Channel.
    pub channel: String,
    /// Opt-in or opt-out.
    pub state: ConsentState,
    /// What was shown or replied.
    pub evidence: String,
    /// When.
    pub at: Timestamp,
    /// Who or what recorded it.
    pub recorded_by: String,
}

/// One system event as the audit log lists it.
#[derive(Clone, Debug)]
pub struct AuditRow {
    /// The journal entry.
    pub seq: u64,
    /// When.
    pub at: Timestamp,
    /// Who.
    pub actor: String,
    /// The dotted action.
    pub action: String,
    /// What it was about.
    pub target: String,
    /// Its details in short (policy texts left out).
    pub summary: String,
}

/// The fold.
#[derive(Debug, Default)]
pub struct Projection {
    position: u64,
    /// Enrolled custodians by id.
    pub custodians: BTreeMap<String, Custodian>,
    by_address: HashMap<String, String>,
    /// Messages per day, channel, direction and firm-side party.
    pub messages: BTreeMap<CountKey, u64>,
    /// Consent changes per day: (day, opted in?) → count.
    pub consent_daily: BTreeMap<(i64, bool), u64>,
    /// Every consent change per party id, oldest first.
    pub consent: BTreeMap<String, Vec<ConsentRecord>>,
    /// The furthest delivery state reported per (channel, message id).
    pub delivery: HashMap<(String, String), DeliveryState>,
    /// Legal holds.
    pub holds: Holds,
    /// Privacy requests.
    pub privacy: Requests,
    /// Every system event, oldest first.
    pub audit: Vec<AuditRow>,
    /// The agent inbox's conversations ([`crate::inbox`]).
    pub inbox: crate::inbox::Conversations,
}

/// How far along delivery a state is (a late `delivered` never hides `read`).
fn rank(s: DeliveryState) -> u8 {
    match s {
        DeliveryState::Failed => 0,
        DeliveryState::Sent => 1,
        DeliveryState::Delivered => 2,
        DeliveryState::Read => 3,
        DeliveryState::Played => 4,
    }
}

impl Projection {
    /// The journal position reached.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Reads what was appended since the last call.
    pub fn catch_up(&mut self, journal: &Journal) -> custos_journal::Result<()> {
        for entry in journal.entries(self.position) {
            let entry = entry?;
            let seq = entry.leaf.seq;
            if let Opened::Event(event) = journal.open_entry(&entry)? {
                self.apply(seq, &event);
            }
            self.position = seq + 1;
        }
        Ok(())
    }

    /// Takes in one event.
    pub fn apply(&mut self, seq: u64, event: &Event) {
        self.inbox.apply(seq, event);
        match event {
            Event::Message(m) => {
                let key = CountKey {
                    day: day_of(m.sent_at),
                    channel: m.channel.clone(),
                    direction: custos_search::index::direction_name(m.direction),
                    party: self.firm_party(m),
                };
                *self.messages.entry(key).or_default() += 1;
            }
            Event::Status(s) => {
                let slot = self
                    .delivery
                    .entry((s.channel.clone(), s.target.clone()))
                    .or_insert(s.state);
                if rank(s.state) > rank(*slot) || s.state == DeliveryState::Failed {
                    *slot = s.state;
                }
            }
            Event::Consent(c) => {
                let opt_in = c.state == ConsentState::OptIn;
                *self
                    .consent_daily
                    .entry((day_of(c.at), opt_in))
                    .or_default() += 1;
                self.consent
                    .entry(party_id(&c.party))
                    .or_default()
                    .push(ConsentRecord {
                        seq,
                        channel: c.channel.clone(),
                        state: c.state,
                        evidence: c.evidence.clone(),
                        at: c.at,
                        recorded_by: c.recorded_by.clone(),
                    });
            }
            Event::System(s) => {
                if let Some(c) = custodians::from_event(seq, s)
                    && !self.custodians.contains_key(&c.id)
                {
                    self.by_address.insert(party_id(&c.phone), c.id.clone());
                    self.custodians.insert(c.id.clone(), c);
                }
                self.holds.apply(seq, s);
                self.privacy.apply(seq, s);
                self.audit.push(AuditRow {
                    seq,
                    at: s.at,
                    actor: s.actor.clone(),
                    action: s.action.clone(),
                    target: s.target.clone().unwrap_or_default(),
                    summary: summary(&s.details),
                });
            }
            _ => {}
        }
    }

    /// The firm's side of a message: the first participant who is an
    /// enrolled custodian, else the sender of an outbound or internal
    /// message, the first recipient of an inbound one.
    fn firm_party(&self, m: &Message) -> String {
        let mut people = std::iter::once(&m.sender).chain(&m.recipients);
        if let Some(known) = people.find_map(|a| {
            let id = party_id(a);
            self.by_address.contains_key(&id).then_some(id)
        }) {
            return known;
        }
        let side = match m.direction {
            Direction::Inbound => m.recipients.first(),
            _ => Some(&m.sender),
        };
        side.map(|a| party_id(a)).unwrap_or_default()
    }

    /// The custodian id of an address.
    pub fn custodian_of(&self, address: &str) -> Option<&Custodian> {
        self.by_address
            .get(&party_id(address))
            .and_then(|id| self.custodians.get(id))
    }

    /// The barrier for `scope` over the custodians known now.
    pub fn barrier(&self, scope: &Scope) -> Barrier {
        Barrier {
            scope: scope.clone(),
            units: self
                .custodians
                .values()
                .map(|c| (c.id.clone(), c.units.clone()))
                .collect(),
            by_address: self.by_address.clone(),
        }
    }
}

/// A system event's details in one short line: `key: value` pairs, the
/// policy text (`source`) left out, at most 240 characters.
fn summary(details: &serde_json::Map<String, serde_json::Value>) -> String {
    let mut parts = Vec::new();
    for (k, v) in details {
        if k == "source" || k == "hits" {
            continue;
        }
        let v = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(a) if a.len() > 8 => format!("{} items", a.len()),
            other => other.to_string(),
        };
        parts.push(format!("{k}: {v}"));
    }
    let mut line = parts.join("; ");
    if line.chars().count() > 240 {
        line = line.chars().take(239).collect::<String>() + "…";
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_model::{Digest, SystemEvent};

    fn message(id: &str, from: &str, to: &str, direction: Direction, at: i64) -> Event {
        Event::Message(Message {
            channel: "whatsapp".into(),
            source_id: id.into(),
            conversation: "c".into(),
            sender: from.into(),
            recipients: vec![to.into()],
            direction,
            sent_at: Timestamp::from_micros(at),
            captured_at: Timestamp::from_micros(at),
            text: Some("hello".into()),
            attachments: vec![],
            reply_to: None,
            raw_digest: Digest::of(b"x"),
            extra: Default::default(),
        })
    }

    #[test]
    fn counts_by_day_and_firm_party() {
        let mut p = Projection::default();
        let mut details = serde_json::Map::new();
        details.insert("phone".into(), "+44 7700 900001".into());
        details.insert("units".into(), serde_json::json!(["fx"]));
        p.apply(
            0,
            &Event::System(SystemEvent {
                actor: "admin".into(),
                action: "custodian.add".into(),
                target: Some("ana".into()),
                at: Timestamp::from_micros(0),
                details,
            }),
        );
        // Inbound to Ana, outbound from Ana the next day, one unknown.
        p.apply(
            1,
            &message("1", "+5511", "+447700900001", Direction::Inbound, 10),
        );
        p.apply(
            2,
            &message(
                "2",
                "+447700900001",
                "+5511",
                Direction::Outbound,
                DAY_MICROS + 5,
            ),
        );
        p.apply(3, &message("3", "+5511", "+449", Direction::Inbound, 20));
        let keys: Vec<(i64, &str, &str)> = p
            .messages
            .keys()
            .map(|k| (k.day, k.direction, k.party.as_str()))
            .collect();
        assert_eq!(
            keys,
            vec![
                (0, "inbound", "+447700900001"),
                (0, "inbound", "+449"),
                (1, "outbound", "+447700900001"),
            ]
        );
        assert_eq!(p.custodian_of("447700900001").unwrap().id, "ana");
        assert!(p.audit.iter().any(|r| r.action == "custodian.add"));
    }

    #[test]
    fn a_late_status_never_goes_back() {
        let mut p = Projection::default();
        for state in [DeliveryState::Read, DeliveryState::Delivered] {
            p.apply(
                0,
                &Event::Status(custos_model::DeliveryStatus {
                    channel: "whatsapp".into(),
                    target: "w1".into(),
                    recipient: "+1".into(),
                    state,
                    at: Timestamp::from_micros(0),
                    captured_at: Timestamp::from_micros(0),
                    error: None,
                    raw_digest: Digest::of(b"x"),
                }),
            );
        }
        assert_eq!(
            p.delivery[&("whatsapp".to_string(), "w1".to_string())],
            DeliveryState::Read
        );
    }

    #[test]
    fn summaries_leave_policy_text_out_and_stay_short() {
        let mut d = serde_json::Map::new();
        d.insert("source".into(), "name = \"secret\"".into());
        d.insert("version".into(), 3.into());
        d.insert("reason".into(), "x".repeat(400).into());
        let s = summary(&d);
        assert!(!s.contains("secret"));
        assert!(s.starts_with("reason: xxx"));
        assert_eq!(s.chars().count(), 240);
    }
}
