//! Search over the archive for people: the resolver that answers a query's
//! state fields (custodians, alerts, holds) from the archive's state, and
//! the audit events every search and every opened message leave.

use custos_governance::holds::Holds;
use custos_journal::Journal;
use custos_model::party_id;
use custos_query::Field;
use custos_review::state::{Status, Supervision};
use custos_search::{Flagged, Resolver, Scope};
use serde_json::{Map, Value, json};

/// The journal action of a search.
pub const SEARCHED: &str = "search.run";
/// The journal action of messages opened from a search (their content read).
pub const OPENED: &str = "search.opened";

/// A custodian as queries name them.
#[derive(Clone, Debug)]
pub struct Person {
    /// Their id.
    pub id: String,
    /// Full name.
    pub name: String,
    /// Their address (party id).
    pub address: String,
    /// Business units or desks.
    pub units: Vec<String>,
}

struct AlertRef {
    id: String,
    policy: String,
    status: &'static str,
    tags: Vec<String>,
    flagged: Flagged,
}

/// Answers `custodian:`, `from:`/`to:` by name, `policy:`, `alert:`,
/// `tag:` and `hold:` from the archive's state at one moment.
pub struct ArchiveResolver {
    people: Vec<Person>,
    identities: custos_governance::identities::Identities,
    alerts: Vec<AlertRef>,
    holds: Vec<(String, String, custos_governance::holds::HoldScope)>,
}

impl ArchiveResolver {
    /// The resolver over these custodians, alerts and holds.
    pub fn new(people: Vec<Person>, supervision: &Supervision, holds: &Holds) -> ArchiveResolver {
        let alerts = supervision
            .alerts
            .values()
            .map(|a| {
                let mut flagged = Flagged::default();
                flagged.seqs.push(a.raised.message_seq);
                flagged.seqs.extend(a.repeats.iter().map(|r| r.message_seq));
                flagged
                    .messages
                    .push((a.raised.channel.clone(), a.raised.source_id.clone()));
                AlertRef {
                    id: a.id.clone(),
                    policy: a.raised.policy.clone(),
                    status: match a.status {
                        Status::Open => "open",
                        Status::Assigned => "assigned",
                        Status::Escalated => "escalated",
                        Status::Closed(_) => "closed",
                    },
                    tags: a.raised.tags.clone(),
                    flagged,
                }
            })
            .collect();
        let holds = holds
            .active()
            .map(|h| (h.id.clone(), h.placed.name.clone(), h.placed.scope.clone()))
            .collect();
        ArchiveResolver {
            people,
            identities: Default::default(),
            alerts,
            holds,
        }
    }

    /// The same resolver, recognising one party's addresses across channels.
    pub fn with_identities(
        mut self,
        identities: custos_governance::identities::Identities,
    ) -> ArchiveResolver {
        self.identities = identities;
        self
    }

    /// Loads custodians' state, supervision and holds from the journal.
    pub fn load(journal: &Journal, people: Vec<Person>) -> Result<ArchiveResolver, String> {
        let supervision = Supervision::load(journal).map_err(|e| e.to_string())?;
        let holds = Holds::load(journal).map_err(|e| e.to_string())?;
        let identities =
            custos_governance::identities::Identities::load(journal).map_err(|e| e.to_string())?;
        Ok(ArchiveResolver::new(people, &supervision, &holds).with_identities(identities))
    }

    fn addresses_of(&self, ids: &[String]) -> Vec<String> {
        self.people
            .iter()
            .filter(|p| ids.contains(&p.id))
            .map(|p| p.address.clone())
            .collect()
    }
}

impl Resolver for ArchiveResolver {
    fn custodian(&self, who: &str) -> Option<Vec<String>> {
        let who = who.trim();
        let found: Vec<String> = self
            .people
            .iter()
            .filter(|p| {
                p.id.eq_ignore_ascii_case(who)
                    || p.name.eq_ignore_ascii_case(who)
                    || p.units.iter().any(|u| u.eq_ignore_ascii_case(who))
            })
            .map(|p| p.address.clone())
            .collect();
        (!found.is_empty()).then_some(found)
    }

    fn flagged(&self, field: Field, value: &str) -> Flagged {
        let value = value.trim();
        let mut out = Flagged::default();
        for a in &self.alerts {
            let hit = match field {
                Field::Policy => a.policy.eq_ignore_ascii_case(value),
                Field::Alert => a.id.eq_ignore_ascii_case(value) || a.status == value,
                Field::Tag => a.tags.iter().any(|t| t.eq_ignore_ascii_case(value)),
                _ => false,
            };
            if hit {
                out.seqs.extend(&a.flagged.seqs);
                out.messages.extend(a.flagged.messages.iter().cloned());
            }
        }
        out
    }

    fn aliases(&self, address: &str) -> Vec<String> {
        self.identities.aliases(address)
    }

    fn hold(&self, id: &str) -> Option<Scope> {
        let (_, _, scope) = self
            .holds
            .iter()
            .find(|(hid, name, _)| hid.eq_ignore_ascii_case(id) || name.eq_ignore_ascii_case(id))?;
        Some(Scope {
            custodian_addresses: self.addresses_of(&scope.custodians),
            conversations: scope.conversations.clone(),
            participants: scope.participants.iter().map(|p| party_id(p)).collect(),
            from: scope.from,
            to: scope.to,
            // A query that no longer parses (the language grew stricter)
            // still holds its frozen entries.
            search: scope
                .search
                .as_deref()
                .map(|q| custos_query::parse(q).unwrap_or(custos_query::Query::Or(Vec::new()))),
            frozen: scope.frozen.clone(),
        })
    }
}

/// The details of a `search.run` event: the query, why, and which entries
/// were shown (their snippets are content read).
pub fn searched(
    query: &str,
    reason: &str,
    matter: Option<&str>,
    total: usize,
    shown: &[u64],
) -> Map<String, Value> {
    let mut details = Map::new();
    details.insert("query".into(), json!(query));
    details.insert("reason".into(), json!(reason));
    if let Some(m) = matter {
        details.insert("matter".into(), json!(m));
    }
    details.insert("total".into(), json!(total));
    details.insert("shown".into(), json!(shown));
    details
}

/// The details of a `search.opened` event: the entries whose full content
/// (a message and the conversation around it) was read.
pub fn opened(reason: &str, matter: Option<&str>, seqs: &[u64]) -> Map<String, Value> {
    let mut details = Map::new();
    details.insert("reason".into(), json!(reason));
    if let Some(m) = matter {
        details.insert("matter".into(), json!(m));
    }
    details.insert("seqs".into(), json!(seqs));
    details
}

/// The index kept current while the server runs: a thread applies new
/// journal entries after every webhook commit (and twice a second), so a
/// message is searchable well within a second of its capture.
#[derive(Clone)]
pub struct SearchService {
    inner: std::sync::Arc<ServiceInner>,
}

struct ServiceInner {
    index: custos_search::SearchIndex,
    /// Swapped whole when a custodian is enrolled while serving.
    people: std::sync::RwLock<std::sync::Arc<Vec<Person>>>,
    exports_dir: Option<std::path::PathBuf>,
    wake: std::sync::Mutex<std::sync::mpsc::Sender<()>>,
}

impl std::fmt::Debug for SearchService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SearchService")
    }
}

impl SearchService {
    /// Starts keeping `index` current with `journal`; `people` are the
    /// custodians queries may name; exports asked for over the API are
    /// written under `exports_dir` (none: the export API is off).
    pub fn start(
        journal: Journal,
        index: custos_search::SearchIndex,
        people: Vec<Person>,
        exports_dir: Option<std::path::PathBuf>,
    ) -> SearchService {
        let (tx, rx) = std::sync::mpsc::channel();
        let this = SearchService {
            inner: std::sync::Arc::new(ServiceInner {
                index,
                people: std::sync::RwLock::new(std::sync::Arc::new(people)),
                exports_dir,
                wake: std::sync::Mutex::new(tx),
            }),
        };
        let weak = std::sync::Arc::downgrade(&this.inner);
        std::thread::Builder::new()
            .name("custos-search-index".into())
            .spawn(move || {
                loop {
                    let Some(inner) = weak.upgrade() else { return };
                    if let Err(e) = inner.index.catch_up(&journal) {
                        tracing::error!(error = %e, "search index update failed");
                    }
                    drop(inner);
                    match rx.recv_timeout(std::time::Duration::from_millis(500)) {
                        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                    while rx.try_recv().is_ok() {}
                }
            })
            .expect("spawning the search index thread");
        this
    }

    /// Asks for an update now (after a commit).
    pub fn wake(&self) {
        let _ = self
            .inner
            .wake
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(());
    }

    /// The index.
    pub fn index(&self) -> &custos_search::SearchIndex {
        &self.inner.index
    }

    /// The custodians queries may name (and the barrier counts).
    pub fn people(&self) -> std::sync::Arc<Vec<Person>> {
        self.inner
            .people
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Takes in a custodian enrolled while serving (by the CLI, or on
    /// another node of a cluster): queries may name them and the barrier
    /// counts them from now on. A custodian enrolled again replaces the
    /// earlier record.
    pub fn enrol(&self, person: Person) {
        let mut people = self.inner.people.write().unwrap_or_else(|e| e.into_inner());
        let mut next: Vec<Person> = people
            .iter()
            .filter(|p| p.id != person.id)
            .cloned()
            .collect();
        next.push(person);
        *people = std::sync::Arc::new(next);
    }

    /// Where API exports are written.
    pub fn exports_dir(&self) -> Option<&std::path::Path> {
        self.inner.exports_dir.as_deref()
    }
}

/// Whether a query names a field anywhere (e.g. `hold:`, which needs the
/// holds loaded).
pub fn mentions(query: &custos_query::Query, field: Field) -> bool {
    use custos_query::Query as Q;
    match query {
        Q::Term { field: f, .. }
        | Q::Prefix { field: f, .. }
        | Q::Wildcard { field: f, .. }
        | Q::Phrase { field: f, .. } => *f == Some(field),
        Q::And(qs) | Q::Or(qs) => qs.iter().any(|q| mentions(q, field)),
        Q::Not(q) => mentions(q, field),
        _ => false,
    }
}
