//! Privacy requests (GDPR, UK GDPR, LGPD, CCPA): a queue with each
//! request's legal deadline, and the decision that closes it with its
//! grounds. Requests are system events under the archive's own key, so the
//! record of what was asked and decided outlives an erasure.

use crate::details;
use custos_journal::{Journal, Opened};
use custos_model::{Event, EventKind, SystemEvent, Timestamp, party_id};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A request received.
pub const OPENED: &str = "privacy.request.opened";
/// A request decided.
pub const CLOSED: &str = "privacy.request.closed";
/// A correction recorded beside an entry (never an edit of it).
pub const RECTIFICATION: &str = "privacy.rectification";

/// What the data subject asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A copy of everything about them.
    Access,
    /// Erasure.
    Erasure,
    /// Correction of inaccurate data.
    Rectification,
}

/// The law the request is made under, which sets the deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Law {
    /// EU GDPR, art. 12(3): one month.
    Gdpr,
    /// UK GDPR: one month.
    UkGdpr,
    /// Brazil's LGPD, art. 19: 15 days.
    Lgpd,
    /// California CCPA: 45 days.
    Ccpa,
}

/// Parses a snake- or kebab-case name, as written in files and on the
/// command line.
fn parse_name<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
    expected: &str,
) -> Result<T, String> {
    let name = text.trim().to_ascii_lowercase();
    serde_json::from_value(serde_json::Value::String(name.replace('_', "-")))
        .or_else(|_| serde_json::from_value(serde_json::Value::String(name.replace('-', "_"))))
        .map_err(|_| format!("unknown {what} {text:?}: expected {expected}"))
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        parse_name(text, "request kind", "access, erasure or rectification")
    }
}

impl std::str::FromStr for Law {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        parse_name(text, "law", "gdpr, uk-gdpr, lgpd or ccpa")
    }
}

impl Law {
    /// Days the firm has to answer.
    pub fn days(self) -> i64 {
        match self {
            Law::Gdpr | Law::UkGdpr => 30,
            Law::Lgpd => 15,
            Law::Ccpa => 45,
        }
    }
}

/// `privacy.request.opened`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opening {
    /// The data subject, as a party id.
    pub subject: String,
    /// What they ask.
    pub kind: Kind,
    /// Under which law.
    pub law: Law,
    /// When the request was received.
    pub received_at: Timestamp,
    /// The answer is due by then.
    pub due: Timestamp,
}

/// `privacy.request.closed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// What was done: `answered`, `erased`, `kept`, `rectified`, `refused`.
    pub outcome: String,
    /// Why: the grounds, e.g. the holds that keep records.
    pub grounds: String,
}

/// A request and where it stands.
#[derive(Clone, Debug, Serialize)]
pub struct Request {
    /// `PR-` and the entry that opened it.
    pub id: String,
    /// What was asked.
    #[serde(flatten)]
    pub opening: Opening,
    /// Who logged it.
    pub opened_by: String,
    /// The decision, once made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
}

/// A privacy action that cannot be taken.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    /// No such request.
    #[error("no privacy request {0}")]
    NoSuchRequest(String),
    /// Decided already.
    #[error("privacy request {0} is already closed")]
    Closed(String),
    /// Not the right kind of request for this action.
    #[error("privacy request {id} is a {kind:?} request")]
    WrongKind {
        /// The request.
        id: String,
        /// Its kind.
        kind: Kind,
    },
    /// Something required is missing.
    #[error("{0}")]
    Invalid(String),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] custos_journal::Error),
}

/// The queue, folded from the journal.
#[derive(Debug, Default)]
pub struct Requests {
    /// By id.
    pub all: BTreeMap<String, Request>,
}

impl Requests {
    /// Folds the requests in the journal.
    pub fn load(journal: &Journal) -> Result<Requests, PrivacyError> {
        let mut out = Requests::default();
        for entry in journal.entries(0) {
            let entry = entry?;
            if entry.leaf.kind != EventKind::System {
                continue;
            }
            if let Opened::Event(Event::System(s)) = journal.open_entry(&entry)? {
                out.apply(entry.leaf.seq, &s);
            }
        }
        Ok(out)
    }

    /// Applies one system event.
    pub fn apply(&mut self, seq: u64, event: &SystemEvent) {
        let parse = |e: &SystemEvent| serde_json::Value::Object(e.details.clone());
        match event.action.as_str() {
            OPENED => {
                if let Ok(opening) = serde_json::from_value::<Opening>(parse(event)) {
                    let id = format!("PR-{seq}");
                    self.all.insert(
                        id.clone(),
                        Request {
                            id,
                            opening,
                            opened_by: event.actor.clone(),
                            decision: None,
                        },
                    );
                }
            }
            CLOSED => {
                if let (Some(r), Ok(d)) = (
                    event.target.as_ref().and_then(|t| self.all.get_mut(t)),
                    serde_json::from_value::<Decision>(parse(event)),
                ) {
                    r.decision = Some(d);
                }
            }
            _ => {}
        }
    }

    /// Logs a request; its deadline follows from the law.
    pub fn open(
        &mut self,
        journal: &Journal,
        actor: &str,
        subject: &str,
        kind: Kind,
        law: Law,
        received_at: Timestamp,
    ) -> Result<String, PrivacyError> {
        let subject = party_id(subject);
        if subject.is_empty() {
            return Err(PrivacyError::Invalid("the data subject is required".into()));
        }
        let due = Timestamp::from_micros(received_at.as_micros() + law.days() * 86_400_000_000);
        let opening = Opening {
            subject,
            kind,
            law,
            received_at,
            due,
        };
        let appended = journal.append_system(actor, OPENED, Some("privacy"), details(&opening))?;
        let id = format!("PR-{}", appended.seq);
        self.all.insert(
            id.clone(),
            Request {
                id: id.clone(),
                opening,
                opened_by: actor.into(),
                decision: None,
            },
        );
        Ok(id)
    }

    /// An open request of `kind`.
    pub fn open_request(&self, id: &str, kind: Kind) -> Result<&Request, PrivacyError> {
        let r = self
            .all
            .get(id)
            .ok_or_else(|| PrivacyError::NoSuchRequest(id.into()))?;
        if r.decision.is_some() {
            return Err(PrivacyError::Closed(id.into()));
        }
        if r.opening.kind != kind {
            return Err(PrivacyError::WrongKind {
                id: id.into(),
                kind: r.opening.kind,
            });
        }
        Ok(r)
    }

    /// Closes a request with its decision and grounds.
    pub fn close(
        &mut self,
        journal: &Journal,
        actor: &str,
        id: &str,
        decision: Decision,
    ) -> Result<(), PrivacyError> {
        if decision.grounds.trim().is_empty() {
            return Err(PrivacyError::Invalid("a decision needs its grounds".into()));
        }
        journal.append_system(actor, CLOSED, Some(id), details(&decision))?;
        if let Some(r) = self.all.get_mut(id) {
            r.decision = Some(decision);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_follow_the_law_and_requests_refold() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::init(dir.path(), None, "t").unwrap();
        let mut q = Requests::default();
        let t0 = Timestamp::from_micros(1_780_000_000_000_000);
        let a = q
            .open(
                &journal,
                "dpo",
                "+55 11 9999-0001",
                Kind::Access,
                Law::Lgpd,
                t0,
            )
            .unwrap();
        let e = q
            .open(
                &journal,
                "dpo",
                "+44 7700 900002",
                Kind::Erasure,
                Law::Gdpr,
                t0,
            )
            .unwrap();
        assert_eq!(
            q.all[&a].opening.due.as_micros() - t0.as_micros(),
            15 * 86_400_000_000
        );
        assert_eq!(
            q.all[&e].opening.due.as_micros() - t0.as_micros(),
            30 * 86_400_000_000
        );
        assert!(matches!(
            q.open_request(&a, Kind::Erasure),
            Err(PrivacyError::WrongKind { .. })
        ));
        assert_eq!("uk-gdpr".parse::<Law>().unwrap(), Law::UkGdpr);
        assert_eq!("Erasure".parse::<Kind>().unwrap(), Kind::Erasure);
        assert!(
            "hipaa"
                .parse::<Law>()
                .unwrap_err()
                .contains("gdpr, uk-gdpr")
        );
        let no_grounds = Decision {
            outcome: "answered".into(),
            grounds: " ".into(),
        };
        assert!(q.close(&journal, "dpo", &a, no_grounds).is_err());
        q.close(
            &journal,
            "dpo",
            &a,
            Decision {
                outcome: "answered".into(),
                grounds: "package sent".into(),
            },
        )
        .unwrap();
        assert!(matches!(
            q.open_request(&a, Kind::Access),
            Err(PrivacyError::Closed(_))
        ));
        let again = Requests::load(&journal).unwrap();
        assert_eq!(again.all.len(), 2);
        assert_eq!(again.all[&a].decision.as_ref().unwrap().outcome, "answered");
        assert_eq!(again.all[&e].opening.subject, "+447700900002");
        assert!(again.all[&e].decision.is_none());
    }
}
