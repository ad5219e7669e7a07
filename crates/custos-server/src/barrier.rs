//! Information barriers inside every query: which messages a principal's
//! [`Scope`] lets them see.
//!
//! A message is in scope when one of its parties (sender or recipient,
//! either side) is an enrolled custodian the scope allows
//! ([`Scope::allows`] with the custodian's id and units). Searches carry
//! the barrier *inside* the tantivy query (a participant filter, so totals
//! and pages are right and nothing outside is ever read); single messages,
//! the conversation around a hit, alerts and exports are checked one by
//! one. What lies outside is reported as absent (404), never as
//! forbidden, so its existence does not leak.

use crate::search::Person;
use custos_auth::Scope;
use custos_model::party_id;
use custos_query::{Field, Query};
use custos_search::{Flagged, Hit, Resolver, SearchIndex};
use std::collections::HashSet;

/// The custodian value that the barred resolver answers with the allowed
/// addresses (a control character, which no real custodian id holds).
const MARKER: &str = "\u{1}custos-barrier";

/// What one principal may see.
#[derive(Clone, Debug)]
pub struct Barrier {
    all: bool,
    custodians: HashSet<String>,
    addresses: HashSet<String>,
}

impl Barrier {
    /// The barrier of `scope` over the enrolled custodians `people`.
    pub fn new(scope: &Scope, people: &[Person]) -> Barrier {
        let all = matches!(scope, Scope::All);
        let mut custodians = HashSet::new();
        let mut addresses = HashSet::new();
        if !all {
            for p in people {
                if scope.allows(Some(&p.id), &p.units) {
                    custodians.insert(p.id.clone());
                    addresses.insert(party_id(&p.address));
                }
            }
        }
        Barrier {
            all,
            custodians,
            addresses,
        }
    }

    /// Whether everything is visible.
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// Whether a message with these parties is visible.
    pub fn allows_parties<'a>(&self, parties: impl IntoIterator<Item = &'a str>) -> bool {
        self.all
            || parties
                .into_iter()
                .any(|p| self.addresses.contains(&party_id(p)))
    }

    /// Whether a search hit is visible.
    pub fn allows_hit(&self, hit: &Hit) -> bool {
        self.allows_parties(
            std::iter::once(hit.from.as_str()).chain(hit.to.iter().map(String::as_str)),
        )
    }

    /// Whether entry `seq` is a visible message (false if the index does
    /// not hold it and the scope is not all).
    pub fn allows_seq(&self, index: &SearchIndex, seq: u64) -> custos_search::Result<bool> {
        if self.all {
            return Ok(true);
        }
        Ok(index.get(seq)?.is_some_and(|h| self.allows_hit(&h)))
    }

    /// Whether an alert is visible: its custodian is in scope, or (with an
    /// index) one of its message's parties is.
    pub fn allows_alert(&self, alert: &custos_review::Alert, index: Option<&SearchIndex>) -> bool {
        if self.all {
            return true;
        }
        if alert
            .raised
            .custodian
            .as_ref()
            .is_some_and(|c| self.custodians.contains(c))
        {
            return true;
        }
        index.is_some_and(|i| {
            self.allows_seq(i, alert.raised.message_seq)
                .unwrap_or(false)
        })
    }

    /// `query` confined to the visible messages (unchanged for all).
    pub fn restrict(&self, query: Query) -> Query {
        if self.all {
            return query;
        }
        Query::And(vec![
            query,
            Query::Term {
                field: Some(Field::Custodian),
                text: MARKER.to_string(),
                fuzzy: 0,
            },
        ])
    }

    /// `inner`, answering the barrier's own clause of [`Barrier::restrict`].
    pub fn resolver<'a>(&'a self, inner: &'a dyn Resolver) -> BarredResolver<'a> {
        BarredResolver {
            inner,
            addresses: self.addresses.iter().cloned().collect(),
        }
    }
}

/// A resolver that also answers the barrier's clause.
pub struct BarredResolver<'a> {
    inner: &'a dyn Resolver,
    addresses: Vec<String>,
}

impl Resolver for BarredResolver<'_> {
    fn custodian(&self, who: &str) -> Option<Vec<String>> {
        if who == MARKER {
            return Some(self.addresses.clone());
        }
        self.inner.custodian(who)
    }

    fn flagged(&self, field: Field, value: &str) -> Flagged {
        self.inner.flagged(field, value)
    }

    fn hold(&self, id: &str) -> Option<custos_search::Scope> {
        self.inner.hold(id)
    }

    fn aliases(&self, address: &str) -> Vec<String> {
        self.inner.aliases(address)
    }
}

/// The barrier of the request's principal over the server's custodians.
pub fn of(state: &crate::AppState, principal: &custos_auth::Principal) -> Barrier {
    let people = state
        .search
        .as_ref()
        .map(|s| s.people())
        .unwrap_or_default();
    Barrier::new(&principal.scope, &people)
}

/// Why a content read happened: `?reason=`, else the `X-Custos-Reason`
/// header (trimmed, non-empty).
pub fn stated_reason(param: Option<&str>, headers: &axum::http::HeaderMap) -> Option<String> {
    param
        .or_else(|| headers.get("x-custos-reason").and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
}
