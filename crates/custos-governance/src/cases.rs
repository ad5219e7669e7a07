//! Cases (matters): what a regulator's request or a lawsuit is about, and
//! the work done for it, all as journal events.
//!
//! A case names custodians and a date range (its scope), keeps saved
//! searches (a query text each, run again whenever asked, so new captures
//! join), and a review set: messages tagged relevant, not relevant or
//! privileged, each decision with who, when and an optional note (the last
//! decision on a message counts; earlier ones stay on the record). A case
//! can place a legal hold over its scope.
//!
//! Events: `case.opened`, `case.search_saved`, `case.tagged`, `case.held`
//! (naming the hold placed), `case.closed`.

use crate::details;
use crate::holds::{HoldError, HoldScope, Holds};
use custos_journal::{Journal, Opened};
use custos_model::{Event, EventKind, SystemEvent, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A case opened.
pub const OPENED: &str = "case.opened";
/// A search saved in a case.
pub const SEARCH_SAVED: &str = "case.search_saved";
/// A review decision on a message.
pub const TAGGED: &str = "case.tagged";
/// A hold placed over the case's scope.
pub const HELD: &str = "case.held";
/// A case closed.
pub const CLOSED: &str = "case.closed";

/// A review decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tag {
    /// Responsive to the request.
    Relevant,
    /// Not responsive.
    NotRelevant,
    /// Withheld: attorney-client privilege or work product.
    Privileged,
}

impl Tag {
    /// The tag's name.
    pub fn name(self) -> &'static str {
        match self {
            Tag::Relevant => "relevant",
            Tag::NotRelevant => "not_relevant",
            Tag::Privileged => "privileged",
        }
    }
}

impl std::str::FromStr for Tag {
    type Err = CaseError;
    fn from_str(s: &str) -> Result<Tag, CaseError> {
        match s.replace('-', "_").as_str() {
            "relevant" => Ok(Tag::Relevant),
            "not_relevant" => Ok(Tag::NotRelevant),
            "privileged" => Ok(Tag::Privileged),
            _ => Err(CaseError::Invalid(format!(
                "tag {s:?}: expected relevant, not-relevant or privileged"
            ))),
        }
    }
}

/// The body of `case.opened`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opening {
    /// The case's name (the matter).
    pub name: String,
    /// What it is about.
    #[serde(default)]
    pub description: String,
    /// Custodian ids in scope.
    #[serde(default)]
    pub custodians: Vec<String>,
    /// Messages sent at or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Timestamp>,
    /// Messages sent before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Timestamp>,
}

/// A saved search.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSearch {
    /// Its name within the case.
    pub name: String,
    /// The query text.
    pub query: String,
    /// Who saved it.
    #[serde(default)]
    pub by: String,
}

/// The last review decision on a message.
#[derive(Clone, Debug, Serialize)]
pub struct Decision {
    /// The tag.
    pub tag: Tag,
    /// Who decided.
    pub by: String,
    /// When.
    pub at: Timestamp,
    /// Why, if said.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// A case and its state.
#[derive(Clone, Debug, Serialize)]
pub struct Case {
    /// `CASE-` and the entry that opened it.
    pub id: String,
    /// Scope and description.
    #[serde(flatten)]
    pub opening: Opening,
    /// Who opened it, when.
    pub opened_by: String,
    /// When.
    pub opened_at: Timestamp,
    /// Saved searches by name (a later save of a name replaces it).
    pub searches: BTreeMap<String, SavedSearch>,
    /// Review decisions by message entry.
    pub review: BTreeMap<u64, Decision>,
    /// Holds placed for it.
    pub holds: Vec<String>,
    /// Who closed it, when and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed: Option<(String, Timestamp, String)>,
}

impl Case {
    /// The messages whose last decision is `tag`.
    pub fn tagged(&self, tag: Tag) -> Vec<u64> {
        self.review
            .iter()
            .filter(|(_, d)| d.tag == tag)
            .map(|(seq, _)| *seq)
            .collect()
    }

    /// The case's scope as a hold scope.
    pub fn scope(&self) -> HoldScope {
        HoldScope {
            custodians: self.opening.custodians.clone(),
            from: self.opening.from,
            to: self.opening.to,
            ..HoldScope::default()
        }
    }
}

/// A case action that cannot be taken.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// No such case.
    #[error("no case {0} (custos case list)")]
    NoSuchCase(String),
    /// The case is closed.
    #[error("case {0} is closed")]
    Closed(String),
    /// Something is missing or wrong.
    #[error("{0}")]
    Invalid(String),
    /// Placing the hold failed.
    #[error(transparent)]
    Hold(#[from] HoldError),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] custos_journal::Error),
}

/// Every case by id.
#[derive(Debug, Default)]
pub struct Cases {
    /// By id.
    pub all: BTreeMap<String, Case>,
}

fn text(event: &SystemEvent, key: &str) -> String {
    event
        .details
        .get(key)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

impl Cases {
    /// Folds the case events of the journal.
    pub fn load(journal: &Journal) -> Result<Cases, CaseError> {
        let mut cases = Cases::default();
        for entry in journal.entries(0) {
            let entry = entry?;
            if entry.leaf.kind != EventKind::System {
                continue;
            }
            if let Opened::Event(Event::System(s)) = journal.open_entry(&entry)? {
                cases.apply(entry.leaf.seq, &s);
            }
        }
        Ok(cases)
    }

    /// Applies one system event.
    pub fn apply(&mut self, seq: u64, event: &SystemEvent) {
        if event.action == OPENED {
            if let Ok(opening) =
                serde_json::from_value::<Opening>(serde_json::Value::Object(event.details.clone()))
            {
                let id = format!("CASE-{seq}");
                self.all.insert(
                    id.clone(),
                    Case {
                        id,
                        opening,
                        opened_by: event.actor.clone(),
                        opened_at: event.at,
                        searches: BTreeMap::new(),
                        review: BTreeMap::new(),
                        holds: Vec::new(),
                        closed: None,
                    },
                );
            }
            return;
        }
        let Some(case) = event.target.as_ref().and_then(|t| self.all.get_mut(t)) else {
            return;
        };
        match event.action.as_str() {
            SEARCH_SAVED => {
                let name = text(event, "name");
                case.searches.insert(
                    name.clone(),
                    SavedSearch {
                        name,
                        query: text(event, "query"),
                        by: event.actor.clone(),
                    },
                );
            }
            TAGGED => {
                let tag = serde_json::from_value::<Tag>(
                    event.details.get("tag").cloned().unwrap_or_default(),
                );
                let seq = event.details.get("seq").and_then(|v| v.as_u64());
                if let (Ok(tag), Some(seq)) = (tag, seq) {
                    case.review.insert(
                        seq,
                        Decision {
                            tag,
                            by: event.actor.clone(),
                            at: event.at,
                            note: text(event, "note"),
                        },
                    );
                }
            }
            HELD => case.holds.push(text(event, "hold")),
            CLOSED => case.closed = Some((event.actor.clone(), event.at, text(event, "reason"))),
            _ => {}
        }
    }

    /// Finds an open case by id or name.
    pub fn open_case(&self, id_or_name: &str) -> Result<&Case, CaseError> {
        let case = self.find(id_or_name)?;
        if case.closed.is_some() {
            return Err(CaseError::Closed(case.id.clone()));
        }
        Ok(case)
    }

    /// Finds a case by id or name.
    pub fn find(&self, id_or_name: &str) -> Result<&Case, CaseError> {
        self.all
            .get(id_or_name)
            .or_else(|| {
                self.all
                    .values()
                    .find(|c| c.opening.name.eq_ignore_ascii_case(id_or_name.trim()))
            })
            .ok_or_else(|| CaseError::NoSuchCase(id_or_name.into()))
    }

    fn record(
        &mut self,
        journal: &Journal,
        actor: &str,
        action: &str,
        target: Option<&str>,
        details: serde_json::Map<String, serde_json::Value>,
    ) -> Result<u64, CaseError> {
        let appended = journal.append_system(actor, action, target, details.clone())?;
        self.apply(
            appended.seq,
            &SystemEvent {
                actor: actor.into(),
                action: action.into(),
                target: target.map(str::to_string),
                at: Timestamp::now(),
                details,
            },
        );
        Ok(appended.seq)
    }

    /// Opens a case; returns its id.
    pub fn open(
        &mut self,
        journal: &Journal,
        actor: &str,
        opening: Opening,
    ) -> Result<String, CaseError> {
        if opening.name.trim().is_empty() {
            return Err(CaseError::Invalid("a case needs a name".into()));
        }
        if self.find(&opening.name).is_ok() {
            return Err(CaseError::Invalid(format!(
                "a case named {:?} exists already",
                opening.name
            )));
        }
        if let (Some(from), Some(to)) = (opening.from, opening.to)
            && from >= to
        {
            return Err(CaseError::Invalid(
                "the case's date range ends before it starts".into(),
            ));
        }
        let seq = self.record(
            journal,
            actor,
            OPENED,
            Some(opening.name.trim()),
            details(&opening),
        )?;
        Ok(format!("CASE-{seq}"))
    }

    /// Saves (or replaces) a named search in a case. The query must parse
    /// (checked by the caller, who knows the language).
    pub fn save_search(
        &mut self,
        journal: &Journal,
        actor: &str,
        case: &str,
        name: &str,
        query: &str,
    ) -> Result<(), CaseError> {
        let id = self.open_case(case)?.id.clone();
        if name.trim().is_empty() || query.trim().is_empty() {
            return Err(CaseError::Invalid(
                "a saved search needs a name and a query".into(),
            ));
        }
        let mut d = serde_json::Map::new();
        d.insert("name".into(), name.trim().into());
        d.insert("query".into(), query.into());
        self.record(journal, actor, SEARCH_SAVED, Some(&id), d)?;
        Ok(())
    }

    /// Records a review decision on message entry `seq`.
    pub fn tag(
        &mut self,
        journal: &Journal,
        actor: &str,
        case: &str,
        seq: u64,
        tag: Tag,
        note: &str,
    ) -> Result<(), CaseError> {
        let id = self.open_case(case)?.id.clone();
        let mut d = serde_json::Map::new();
        d.insert("seq".into(), seq.into());
        d.insert("tag".into(), tag.name().into());
        if !note.trim().is_empty() {
            d.insert("note".into(), note.trim().into());
        }
        self.record(journal, actor, TAGGED, Some(&id), d)?;
        Ok(())
    }

    /// Places a legal hold over the case's scope; returns the hold's id.
    pub fn hold(
        &mut self,
        journal: &Journal,
        holds: &mut Holds,
        actor: &str,
        case: &str,
        reason: &str,
    ) -> Result<String, CaseError> {
        let c = self.open_case(case)?;
        let (id, name, scope) = (c.id.clone(), c.opening.name.clone(), c.scope());
        let hold = holds.place(journal, actor, &name, &format!("{id}: {reason}"), scope)?;
        let mut d = serde_json::Map::new();
        d.insert("hold".into(), hold.clone().into());
        self.record(journal, actor, HELD, Some(&id), d)?;
        Ok(hold)
    }

    /// Closes a case (its holds stay until released on their own).
    pub fn close(
        &mut self,
        journal: &Journal,
        actor: &str,
        case: &str,
        reason: &str,
    ) -> Result<(), CaseError> {
        let id = self.open_case(case)?.id.clone();
        if reason.trim().is_empty() {
            return Err(CaseError::Invalid("closing a case needs a reason".into()));
        }
        let mut d = serde_json::Map::new();
        d.insert("reason".into(), reason.trim().into());
        self.record(journal, actor, CLOSED, Some(&id), d)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(t: &str) -> Timestamp {
        Timestamp::parse(t).unwrap()
    }

    #[test]
    fn a_case_lives_in_the_journal_and_folds_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::init(dir.path(), None, "t").unwrap();
        let mut cases = Cases::default();
        let id = cases
            .open(
                &journal,
                "officer",
                Opening {
                    name: "SEC inquiry 2026-11".into(),
                    description: "off-channel communications".into(),
                    custodians: vec!["E001".into()],
                    from: Some(ts("2026-01-01T00:00:00Z")),
                    to: Some(ts("2026-04-01T00:00:00Z")),
                },
            )
            .unwrap();
        cases
            .save_search(&journal, "officer", &id, "guarantees", "guarant*")
            .unwrap();
        cases
            .tag(
                &journal,
                "reviewer",
                "sec inquiry 2026-11",
                42,
                Tag::Relevant,
                "",
            )
            .unwrap();
        cases
            .tag(
                &journal,
                "counsel",
                &id,
                42,
                Tag::Privileged,
                "advice of counsel",
            )
            .unwrap();
        cases
            .tag(&journal, "reviewer", &id, 43, Tag::NotRelevant, "")
            .unwrap();
        let mut holds = Holds::default();
        let hold = cases
            .hold(&journal, &mut holds, "officer", &id, "preserve")
            .unwrap();
        assert_eq!(holds.all[&hold].placed.scope.custodians, ["E001"]);
        // Errors name what is wrong.
        assert!(matches!(
            cases.tag(&journal, "r", "CASE-999", 1, Tag::Relevant, ""),
            Err(CaseError::NoSuchCase(_))
        ));
        assert!(
            cases
                .open(
                    &journal,
                    "o",
                    Opening {
                        name: "SEC inquiry 2026-11".into(),
                        description: String::new(),
                        custodians: vec![],
                        from: None,
                        to: None,
                    }
                )
                .is_err()
        );
        cases.close(&journal, "officer", &id, "produced").unwrap();
        assert!(matches!(
            cases.tag(&journal, "r", &id, 1, Tag::Relevant, ""),
            Err(CaseError::Closed(_))
        ));
        // The fold from the journal equals the live state.
        let loaded = Cases::load(&journal).unwrap();
        let case = loaded.find(&id).unwrap();
        assert_eq!(case.searches["guarantees"].query, "guarant*");
        assert_eq!(case.tagged(Tag::Privileged), [42]);
        assert_eq!(case.tagged(Tag::NotRelevant), [43]);
        assert_eq!(case.review[&42].by, "counsel");
        assert_eq!(case.holds, [hold]);
        assert!(case.closed.is_some());
        let live = cases.find(&id).unwrap();
        assert_eq!(case.opening, live.opening);
        assert_eq!(case.searches, live.searches);
        let tags = |c: &Case| {
            c.review
                .iter()
                .map(|(s, d)| (*s, d.tag, d.note.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(tags(case), tags(live));
    }
}
