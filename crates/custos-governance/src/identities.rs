//! One person across channels: addresses (a phone number, an e-mail
//! address, a chat user id) recorded as belonging to the same party, so a
//! custodian's conversations with one client read as one history whichever
//! channel carried them.
//!
//! Addresses are compared as party ids (`custos_model::party_id`: phone
//! numbers to `+` and digits, e-mail addresses lower-cased), so the same
//! number written two ways is already one party. Links join more: each
//! `party.linked` event names two or more addresses, with the evidence
//! (who confirmed it, how); links are transitive. A link never changes a
//! record: it changes how searches and histories group them.

use custos_journal::{Journal, Opened};
use custos_model::{Event, EventKind, SystemEvent, Timestamp, party_id};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Addresses linked as one party.
pub const LINKED: &str = "party.linked";

/// The body of `party.linked`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The addresses, as party ids.
    pub addresses: Vec<String>,
    /// A name for the party, if known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// How it is known they are the same person.
    pub evidence: String,
}

/// Why a link cannot be recorded.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Something is missing.
    #[error("{0}")]
    Invalid(String),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] custos_journal::Error),
}

/// Every party's addresses, folded from the links.
#[derive(Debug, Default)]
pub struct Identities {
    /// Each linked address's group representative.
    parent: BTreeMap<String, String>,
    /// A name per group representative.
    names: BTreeMap<String, String>,
}

impl Identities {
    /// Folds the `party.linked` events of the journal.
    pub fn load(journal: &Journal) -> Result<Identities, IdentityError> {
        let mut ids = Identities::default();
        for entry in journal.entries(0) {
            let entry = entry?;
            if entry.leaf.kind != EventKind::System {
                continue;
            }
            if let Opened::Event(Event::System(s)) = journal.open_entry(&entry)? {
                ids.apply(&s);
            }
        }
        Ok(ids)
    }

    /// Applies one system event.
    pub fn apply(&mut self, event: &SystemEvent) {
        if event.action != LINKED {
            return;
        }
        let Ok(link) =
            serde_json::from_value::<Link>(serde_json::Value::Object(event.details.clone()))
        else {
            return;
        };
        let mut addresses = link.addresses.iter().map(|a| party_id(a));
        let Some(first) = addresses.next() else {
            return;
        };
        for other in addresses {
            self.union(&first, &other);
        }
        if !link.name.is_empty() {
            let root = self.root(&first);
            self.names.insert(root, link.name);
        }
    }

    fn root(&self, address: &str) -> String {
        let mut at = address.to_string();
        while let Some(up) = self.parent.get(&at) {
            if *up == at {
                break;
            }
            at = up.clone();
        }
        at
    }

    fn union(&mut self, a: &str, b: &str) {
        for x in [a, b] {
            self.parent
                .entry(x.to_string())
                .or_insert_with(|| x.to_string());
        }
        let (ra, rb) = (self.root(a), self.root(b));
        if ra != rb {
            // The smaller id leads, so the fold does not depend on order.
            let (lead, other) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent.insert(other.clone(), lead.clone());
            if let Some(name) = self.names.remove(&other) {
                self.names.entry(lead).or_insert(name);
            }
        }
    }

    /// Every address (party id) of the party `address` belongs to, itself
    /// included, sorted.
    pub fn aliases(&self, address: &str) -> Vec<String> {
        let id = party_id(address);
        if !self.parent.contains_key(&id) {
            return vec![id];
        }
        let root = self.root(&id);
        let members: BTreeSet<String> = self
            .parent
            .keys()
            .filter(|a| self.root(a) == root)
            .cloned()
            .collect();
        members.into_iter().collect()
    }

    /// The party's name, if a link gave one.
    pub fn name(&self, address: &str) -> Option<&str> {
        let id = party_id(address);
        self.parent
            .contains_key(&id)
            .then(|| self.names.get(&self.root(&id)).map(String::as_str))
            .flatten()
    }

    /// Records that `addresses` belong to one party.
    pub fn link(
        &mut self,
        journal: &Journal,
        actor: &str,
        addresses: &[String],
        name: &str,
        evidence: &str,
    ) -> Result<(), IdentityError> {
        let ids: BTreeSet<String> = addresses
            .iter()
            .map(|a| party_id(a))
            .filter(|a| !a.is_empty())
            .collect();
        if ids.len() < 2 {
            return Err(IdentityError::Invalid(
                "a link needs at least two different addresses".into(),
            ));
        }
        if evidence.trim().is_empty() {
            return Err(IdentityError::Invalid(
                "say how you know they are one person (--evidence)".into(),
            ));
        }
        let link = Link {
            addresses: ids.into_iter().collect(),
            name: name.trim().to_string(),
            evidence: evidence.trim().to_string(),
        };
        let details = crate::details(&link);
        journal.append_system(actor, LINKED, None, details.clone())?;
        self.apply(&SystemEvent {
            actor: actor.into(),
            action: LINKED.into(),
            target: None,
            at: Timestamp::now(),
            details,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_transitive_survive_reload_and_need_evidence() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::init(dir.path(), None, "t").unwrap();
        let mut ids = Identities::default();
        ids.link(
            &journal,
            "officer",
            &["+55 11 98888-7777".into(), "Ana@Client.example".into()],
            "Ana Ruiz",
            "confirmed by phone call 2026-11-20",
        )
        .unwrap();
        ids.link(
            &journal,
            "officer",
            &["ana@client.example".into(), "slack:T1:U9".into()],
            "",
            "same e-mail in the Slack profile",
        )
        .unwrap();
        let all = ["+5511988887777", "ana@client.example", "slack:T1:U9"];
        for a in all {
            assert_eq!(
                ids.aliases(a),
                all.iter().map(|s| s.to_string()).collect::<Vec<_>>()
            );
        }
        assert_eq!(ids.name("slack:T1:U9"), Some("Ana Ruiz"));
        assert_eq!(ids.aliases("+44 20 7946 0000"), ["+442079460000"]);
        let reloaded = Identities::load(&journal).unwrap();
        assert_eq!(
            reloaded.aliases("5511988887777"),
            ids.aliases("ana@client.example")
        );
        assert!(
            ids.link(
                &journal,
                "o",
                &["a@x.example".into(), "A@X.example".into()],
                "",
                "e"
            )
            .is_err()
        );
        assert!(
            ids.link(
                &journal,
                "o",
                &["a@x.example".into(), "b@x.example".into()],
                "",
                " "
            )
            .is_err()
        );
    }
}
