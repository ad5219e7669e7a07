//! The supervisor: evaluates captured messages against the active
//! policies and turns matches into alert events, once per message and
//! once per repeated text.
//!
//! It reads the journal in order from a cursor, so whatever path a
//! message came in by (webhook, import, API) it is checked; `serve` runs
//! it right after each commit, the CLI after each import, and `scan` runs
//! it over history with chosen policies.

use crate::events::{self, AlertRaised, AlertRepeated, Origin};
use crate::state::Supervision;
use custos_classifier::Model;
use custos_journal::{Journal, NewEntry, Opened};
use custos_model::{Digest, Direction, Event, EventKind, Message, Timestamp, party_id};
use custos_policy::{Action, AttachmentInfo, Document, Engine, PolicyMatch};
use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

/// Where the supervisor keeps its journal position, in the data directory.
pub const CURSOR_FILE: &str = "state/supervision.cursor";

/// The actor supervision events are recorded under.
pub const ACTOR: &str = "custos.supervisor";

/// An employee as supervision sees them: their number and desks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Custodian {
    /// Their id.
    pub id: String,
    /// Their work number or address, as [`party_id`] gives it.
    pub address: String,
    /// Business units or desks.
    pub units: Vec<String>,
}

/// A failure while supervising.
#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    /// Reading or appending to the journal failed.
    #[error(transparent)]
    Journal(#[from] custos_journal::Error),
    /// An active policy does not compile.
    #[error(transparent)]
    Policy(#[from] custos_policy::PolicyError),
    /// The model in service cannot be read.
    #[error("the classifier model {0} cannot be loaded: {1}")]
    Model(String, String),
}

/// What one message is, as far as supervision cares.
struct Seen {
    seq: u64,
    channel: String,
    source_id: String,
    conversation: String,
    direction: Direction,
    custodian: Option<String>,
    units: Vec<String>,
    external: bool,
    /// The external party whose key encrypts alerts about it.
    subject: Option<String>,
    text: String,
    attachments: Vec<AttachmentInfo>,
    sent_at: Timestamp,
    new_contact: bool,
    /// For an edit: the source id of the message edited.
    edit_of: Option<String>,
    deleted: bool,
    /// The consent this message withdraws by keyword.
    opt_out: Option<custos_model::ConsentChange>,
}

/// Evaluates messages and raises alerts.
pub struct Supervisor {
    /// The supervision state, kept current with every event read or written.
    pub state: Supervision,
    engine: Engine,
    model: Option<Model>,
    custodians: HashMap<String, Custodian>,
    seen_external: HashSet<String>,
    /// Where each message is, by a hash of channel and source id.
    index: HashMap<u64, u64>,
    /// The next entry to evaluate.
    cursor: u64,
    /// The next entry to read at all.
    read_to: u64,
    /// Policies or the model changed since the engine was compiled.
    stale: bool,
    /// How many times the engine was compiled.
    generation: u64,
    /// System and consent entries before this were taken in when opening.
    applied_to: u64,
    /// The firm's own opt-out words, beside the defaults.
    opt_out_words: Vec<String>,
    /// Evidence of every keyword opt-out recorded (one per message).
    keyword_opt_outs: HashSet<String>,
    /// Keyword opt-outs appended since the last [`Supervisor::take_consent_changes`].
    consent_out: Vec<(u64, custos_model::ConsentChange)>,
    /// Reads a custodian enrolled after opening from its journal event.
    custodian_of: Option<CustodianOf>,
}

/// Reads the custodian a system event enrols (at entry `seq`), if any:
/// the enrolment events belong to the governance crate, which supplies it.
pub type CustodianOf = fn(u64, &custos_model::SystemEvent) -> Option<Custodian>;

/// An alert raised by a pass, for notification.
#[derive(Clone, Debug)]
pub struct Raised {
    /// The alert id.
    pub id: String,
    /// What raised it.
    pub raised: AlertRaised,
    /// Whether the policy asks for a notification.
    pub notify: bool,
}

impl Supervisor {
    /// Reads the whole journal once: supervision state, message index,
    /// external parties already seen. Entries from `cursor` on have not
    /// been evaluated yet; [`Supervisor::catch_up`] evaluates them.
    pub fn open(
        journal: &Journal,
        custodians: Vec<Custodian>,
        cursor: u64,
    ) -> Result<Supervisor, SuperviseError> {
        let mut this = Supervisor {
            state: Supervision::default(),
            engine: Engine::compile(&[])?,
            model: None,
            custodians: custodians
                .into_iter()
                .map(|c| (c.address.clone(), c))
                .collect(),
            seen_external: HashSet::new(),
            index: HashMap::new(),
            cursor,
            read_to: 0,
            stale: false,
            generation: 0,
            applied_to: 0,
            opt_out_words: Vec::new(),
            keyword_opt_outs: HashSet::new(),
            consent_out: Vec::new(),
            custodian_of: None,
        };
        // The state must be whole before anything is judged (an alert
        // further on must be known before its message is looked at again):
        // read up to the cursor, then only the system and consent entries
        // past it. The first catch-up judges the messages past the cursor in
        // one sequential read.
        let cursor = cursor.min(journal.size());
        this.read(journal, cursor, &mut |_, _| {})?;
        for entry in journal.entries(cursor) {
            let entry = entry?;
            if !matches!(entry.leaf.kind, EventKind::System | EventKind::Consent) {
                continue;
            }
            if let Opened::Event(event) = journal.open_entry(&entry)? {
                this.take_in(entry.leaf.seq, &event);
            }
            this.applied_to = entry.leaf.seq + 1;
        }
        this.recompile(journal)?;
        Ok(this)
    }

    /// Takes a system or consent entry into the state (once: entries the
    /// opening pass took in are skipped when read again).
    fn take_in(&mut self, seq: u64, event: &Event) {
        if seq < self.applied_to {
            return;
        }
        match event {
            // Whoever recorded it (this supervisor, or a webhook that knows
            // the keywords itself), an opt-out with this evidence is not
            // recorded again.
            Event::Consent(c) => {
                self.keyword_opt_outs.insert(c.evidence.clone());
            }
            Event::System(system) => {
                self.state.apply(seq, system);
                if let Some(c) = self.custodian_of.and_then(|of| of(seq, system)) {
                    self.custodians.insert(c.address.clone(), c);
                }
                // Later messages are judged by the policies in force then.
                self.stale |= matches!(
                    system.action.as_str(),
                    events::POLICY_VERSION | events::POLICY_DISABLED | events::MODEL_TRAINED
                );
            }
            _ => {}
        }
    }

    /// Recompiles the engine from the active policies and reloads the
    /// model in service (after a policy load or a training).
    pub fn recompile(&mut self, journal: &Journal) -> Result<(), SuperviseError> {
        self.stale = false;
        self.generation += 1;
        self.engine = Engine::compile(&crate::policies::active(&self.state)?)?;
        self.model = match &self.state.model {
            None => None,
            Some((trained, _)) => Some(load_model(journal, &trained.version, &trained.blob)?),
        };
        Ok(())
    }

    /// Takes in custodians enrolled after opening (by the CLI, or on another
    /// node of a cluster), read from their journal events by `of`, so
    /// later messages are attributed to them and their units.
    pub fn follow_custodians(&mut self, of: CustodianOf) {
        self.custodian_of = Some(of);
    }

    /// Whether a policy or the model changed (in the entries read) since
    /// the engine was compiled: [`Supervisor::recompile`] brings it up to
    /// date (a pass does before judging the next message).
    pub fn stale(&self) -> bool {
        self.stale
    }

    /// How many times the engine has been compiled: a change means the
    /// policies in force changed (e.g. loaded on another node).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Adds the firm's own opt-out words to the defaults.
    pub fn set_opt_out_keywords(&mut self, words: Vec<String>) {
        self.opt_out_words = words;
    }

    /// The keyword opt-outs appended since the last call (the server's
    /// sending rules take them in).
    pub fn take_consent_changes(&mut self) -> Vec<(u64, custos_model::ConsentChange)> {
        std::mem::take(&mut self.consent_out)
    }

    /// The next entry to evaluate; persist it to resume after a restart.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Opens the supervisor at the position saved in the archive.
    pub fn open_saved(
        journal: &Journal,
        custodians: Vec<Custodian>,
    ) -> Result<Supervisor, SuperviseError> {
        let cursor = std::fs::read_to_string(journal.dir().join(CURSOR_FILE))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        Supervisor::open(journal, custodians, cursor)
    }

    /// Saves the position in the archive (write, then rename). Losing it
    /// costs a re-read, never a duplicate alert.
    pub fn save_cursor(&self, journal: &Journal) -> std::io::Result<()> {
        let path = journal.dir().join(CURSOR_FILE);
        std::fs::create_dir_all(path.parent().expect("has a parent"))?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, format!("{}\n", self.cursor))?;
        std::fs::rename(&tmp, &path)
    }

    /// The compiled active policies.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The classifier in service.
    pub fn model(&self) -> Option<&Model> {
        self.model.as_ref()
    }

    /// Evaluates every entry appended since the last pass against the
    /// active policies, appends the alerts, and returns them.
    pub fn catch_up(&mut self, journal: &Journal) -> Result<Vec<Raised>, SuperviseError> {
        let mut raised = Vec::new();
        // Each round reads what arrived (including the alerts the round
        // before appended, which is how the state learns of them); a few
        // rounds at most, so a steady stream cannot hold the state forever.
        for _ in 0..4 {
            let end = journal.size();
            if self.read_to >= end {
                break;
            }
            let cursor = self.cursor;
            let mut pending = Vec::new();
            self.read(journal, end, &mut |me, s| {
                if s.seq >= cursor {
                    me.evaluate(None, &s, &mut pending);
                }
            })?;
            self.cursor = self.cursor.max(end);
            raised.extend(self.commit(journal, pending)?);
        }
        Ok(raised)
    }

    /// Evaluates history: every message sent at or after `since`, against
    /// `engine` (for example one policy just loaded). Already-alerted
    /// messages and repeated texts raise nothing new. `progress` is called
    /// with entries done and entries in all.
    pub fn scan(
        &mut self,
        journal: &Journal,
        engine: &Engine,
        since: Option<Timestamp>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Vec<Raised>, SuperviseError> {
        self.catch_up(journal)?;
        let total = journal.size();
        let mut pending = Vec::new();
        let mut done = 0;
        for entry in journal.entries(0) {
            let entry = entry?;
            done += 1;
            if done % 4096 == 0 {
                progress(done, total);
            }
            if !matches!(
                entry.leaf.kind,
                EventKind::Message | EventKind::Edit | EventKind::Deletion
            ) {
                continue;
            }
            let Opened::Event(event) = journal.open_entry(&entry)? else {
                continue;
            };
            if let Some(s) = self.describe(journal, entry.leaf.seq, &event, false)?
                && since.is_none_or(|t| s.sent_at >= t)
            {
                self.evaluate(Some(engine), &s, &mut pending);
            }
        }
        progress(total, total);
        let mut raised = self.commit(journal, pending)?;
        raised.extend(self.catch_up(journal)?);
        Ok(raised)
    }

    /// Every message sent in `[start, end)` that involves a custodian, as
    /// (custodian, conversation) pairs with the message that opened it.
    pub(crate) fn conversations(
        &mut self,
        journal: &Journal,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<crate::sampling::Conversation>, SuperviseError> {
        let mut out = Vec::new();
        for entry in journal.entries(0) {
            let entry = entry?;
            if entry.leaf.kind != EventKind::Message {
                continue;
            }
            let Opened::Event(Event::Message(m)) = journal.open_entry(&entry)? else {
                continue;
            };
            if m.sent_at < start || m.sent_at >= end {
                continue;
            }
            let s = self.seen_message(entry.leaf.seq, &m, &m.source_id);
            if let Some(custodian) = s.custodian {
                out.push(crate::sampling::Conversation {
                    custodian,
                    conversation: s.conversation,
                    first_seq: s.seq,
                    channel: s.channel,
                    source_id: s.source_id,
                    sent_at: s.sent_at,
                    subject: s.subject,
                });
            }
        }
        Ok(out)
    }

    /// Reads entries up to `end`: applies system events to the state and
    /// describes messages, handing those to `each`.
    fn read(
        &mut self,
        journal: &Journal,
        end: u64,
        each: &mut dyn FnMut(&mut Self, Seen),
    ) -> Result<(), SuperviseError> {
        let from = self.read_to;
        for entry in journal.entries(from) {
            let entry = entry?;
            let seq = entry.leaf.seq;
            if seq >= end {
                break;
            }
            if !matches!(
                entry.leaf.kind,
                EventKind::System
                    | EventKind::Message
                    | EventKind::Edit
                    | EventKind::Deletion
                    | EventKind::Consent
            ) {
                continue;
            }
            let Opened::Event(event) = journal.open_entry(&entry)? else {
                continue;
            };
            if matches!(event, Event::Consent(_) | Event::System(_)) {
                self.take_in(seq, &event);
            } else if let Some(s) = self.describe(journal, seq, &event, true)? {
                if self.stale {
                    self.recompile(journal)?;
                }
                each(self, s);
            }
        }
        self.read_to = self.read_to.max(end);
        Ok(())
    }

    /// What supervision needs of a message, edit or deletion; `first`
    /// marks the first reading (which indexes it and notes new contacts).
    fn describe(
        &mut self,
        journal: &Journal,
        seq: u64,
        event: &Event,
        first: bool,
    ) -> Result<Option<Seen>, SuperviseError> {
        match event {
            Event::Message(m) => {
                let new_contact = match m.external_party().map(party_id) {
                    Some(p) if first => self.seen_external.insert(p),
                    _ => false,
                };
                if first {
                    self.index.insert(key(&m.channel, &m.source_id), seq);
                }
                let mut s = self.seen_message(seq, m, &m.source_id);
                s.new_contact = new_contact;
                s.opt_out = crate::consent::opt_out(m, &self.opt_out_words);
                Ok(Some(s))
            }
            Event::Edit(e) => {
                let Some(original) = self.original(journal, &e.channel, &e.target)? else {
                    return Ok(None);
                };
                let mut s = self.seen_message(seq, &original, &e.source_id);
                s.text = e.text.clone();
                s.sent_at = e.edited_at;
                s.attachments.clear();
                s.edit_of = Some(e.target.clone());
                Ok(Some(s))
            }
            Event::Deletion(d) => {
                let Some(original) = self.original(journal, &d.channel, &d.target)? else {
                    return Ok(None);
                };
                let mut s = self.seen_message(seq, &original, &d.source_id);
                s.text = String::new();
                s.sent_at = d.deleted_at;
                s.attachments.clear();
                s.deleted = true;
                Ok(Some(s))
            }
            _ => Ok(None),
        }
    }

    /// Describes message `m` as entry `seq` with source id `source_id`.
    fn seen_message(&self, seq: u64, m: &Message, source_id: &str) -> Seen {
        let custodian = std::iter::once(&m.sender)
            .chain(&m.recipients)
            .find_map(|a| self.custodians.get(&party_id(a)));
        Seen {
            seq,
            channel: m.channel.clone(),
            source_id: source_id.to_string(),
            conversation: m.conversation.clone(),
            direction: m.direction,
            custodian: custodian.map(|c| c.id.clone()),
            units: custodian.map(|c| c.units.clone()).unwrap_or_default(),
            external: m.external_party().is_some(),
            subject: m.external_party().map(party_id),
            text: m.text.clone().unwrap_or_default(),
            attachments: m
                .attachments
                .iter()
                .map(|a| AttachmentInfo {
                    media_type: a.media_type.clone(),
                    size: a.size,
                })
                .collect(),
            sent_at: m.sent_at,
            new_contact: false,
            edit_of: None,
            deleted: false,
            opt_out: None,
        }
    }

    /// The message an edit or deletion is about, if the archive has it.
    fn original(
        &self,
        journal: &Journal,
        channel: &str,
        source_id: &str,
    ) -> Result<Option<Message>, SuperviseError> {
        let Some(&seq) = self.index.get(&key(channel, source_id)) else {
            return Ok(None);
        };
        let entry = journal.entry(seq)?;
        Ok(match journal.open_entry(&entry)? {
            Opened::Event(Event::Message(m)) if m.source_id == source_id => Some(m),
            _ => None,
        })
    }

    /// Evaluates one message with `engine` (by default the active
    /// policies), queueing alert events.
    fn evaluate(&mut self, engine: Option<&Engine>, s: &Seen, pending: &mut Vec<Pending>) {
        let doc = Document {
            channel: &s.channel,
            direction: s.direction,
            text: &s.text,
            attachments: &s.attachments,
            sent_at: s.sent_at,
            units: &s.units,
            external: s.external,
            new_external_contact: s.new_contact,
            edited: s.edit_of.is_some(),
            deleted: s.deleted,
        };
        if let Some(change) = &s.opt_out
            && engine.is_none()
            && self.keyword_opt_outs.insert(change.evidence.clone())
        {
            pending.push(Pending {
                event: Event::Consent(change.clone()),
                subject: s.subject.clone(),
                raised: None,
            });
        }
        let text_key = text_key(&s.text);
        let matches = engine.unwrap_or(&self.engine).evaluate(&doc);
        for m in matches {
            self.decide(s, &text_key, m, pending);
        }
    }

    /// Turns one policy match into a new alert, a repeat, or nothing.
    fn decide(&mut self, s: &Seen, text_key: &str, m: PolicyMatch, pending: &mut Vec<Pending>) {
        if !m.actions.contains(&Action::Alert) {
            return;
        }
        if self
            .state
            .alert_for_message(&m.policy, &s.channel, &s.source_id)
            .is_some()
        {
            return;
        }
        let repeat_of = s
            .edit_of
            .as_deref()
            .and_then(|t| self.state.alert_for_message(&m.policy, &s.channel, t))
            .or_else(|| {
                (!s.text.trim().is_empty())
                    .then(|| self.state.alert_for_text(&m.policy, text_key))
                    .flatten()
            })
            .map(str::to_string);
        if let Some(id) = repeat_of {
            // Each message is judged once per pass, so only a repeat recorded
            // by an earlier pass (a re-read after a lost cursor) can exist.
            let known = self
                .state
                .alerts
                .get(&id)
                .is_some_and(|a| a.repeats.iter().any(|r| r.message_seq == s.seq));
            if known {
                return;
            }
            let repeat = AlertRepeated {
                message_seq: s.seq,
                conversation: s.conversation.clone(),
            };
            pending.push(Pending {
                event: events::system(ACTOR, events::ALERT_REPEATED, &id, &repeat),
                subject: s.subject.clone(),
                raised: None,
            });
            return;
        }
        let score = self
            .model
            .as_ref()
            .and_then(|model| model.score(&s.text, &m.category));
        let raised = AlertRaised {
            origin: Origin::Policy,
            message_seq: s.seq,
            channel: s.channel.clone(),
            source_id: s.source_id.clone(),
            conversation: s.conversation.clone(),
            custodian: s.custodian.clone(),
            sent_at: s.sent_at,
            policy: m.policy.clone(),
            version: m.version,
            title: m.title.clone(),
            category: m.category.clone(),
            severity: m.severity,
            hits: m.hits.clone(),
            text_key: text_key.to_string(),
            score,
            model: score.and(self.model.as_ref().map(|m| m.version().to_string())),
            sample: None,
            tags: m
                .actions
                .iter()
                .filter_map(|a| match a {
                    Action::Tag(t) => Some(t.clone()),
                    _ => None,
                })
                .collect(),
        };
        let id = alert_id(&["policy", &m.policy, &s.channel, &s.source_id]);
        self.state.remember(&id, &raised);
        pending.push(Pending {
            event: events::system(ACTOR, events::ALERT_RAISED, &id, &raised),
            subject: s.subject.clone(),
            raised: Some(Raised {
                id,
                raised,
                notify: m.actions.contains(&Action::Notify),
            }),
        });
    }

    /// Appends the queued events; the next read applies them to the state.
    fn commit(
        &mut self,
        journal: &Journal,
        pending: Vec<Pending>,
    ) -> Result<Vec<Raised>, SuperviseError> {
        let mut raised = Vec::new();
        for chunk in pending.chunks(1000) {
            let entries: Vec<NewEntry> = chunk
                .iter()
                .map(|p| NewEntry {
                    event: p.event.clone(),
                    subject: p.subject.clone(),
                })
                .collect();
            let appended = journal.append_all(&entries)?;
            // An alert or opt-out another node's supervisor recorded first
            // comes back as a duplicate: it is that node's to notify.
            let fresh = chunk.iter().zip(&appended).filter(|(_, a)| !a.duplicate);
            for (p, appended) in fresh {
                raised.extend(p.raised.clone());
                if let Event::Consent(c) = &p.event {
                    self.consent_out.push((appended.seq, c.clone()));
                }
            }
        }
        Ok(raised)
    }
}

/// An alert event waiting to be appended.
struct Pending {
    event: Event,
    subject: Option<String>,
    raised: Option<Raised>,
}

/// The index key of a message.
fn key(channel: &str, source_id: &str) -> u64 {
    let mut h = DefaultHasher::new();
    channel.hash(&mut h);
    source_id.hash(&mut h);
    h.finish()
}

/// A stable alert id from its parts: `AL-` and 12 hex digits.
pub fn alert_id(parts: &[&str]) -> String {
    let digest = Digest::of(parts.join("\0").as_bytes()).to_string();
    format!("AL-{}", &digest[..12])
}

/// What recognises a repeat of the same text: the digest of its words,
/// case and accents folded, punctuation and spacing ignored.
pub fn text_key(text: &str) -> String {
    let folded = custos_policy::fold::fold(text);
    Digest::of(folded.trim().as_bytes()).to_string()[..16].to_string()
}

/// Reads a model from the blob store and checks it is the one recorded.
fn load_model(journal: &Journal, version: &str, blob: &str) -> Result<Model, SuperviseError> {
    let fail = |why: String| SuperviseError::Model(version.to_string(), why);
    let digest = Digest::from_hex(blob).ok_or_else(|| fail("bad blob digest".into()))?;
    let bytes = journal
        .archive_blob(&digest)?
        .ok_or_else(|| fail("its bytes are not in the blob store".into()))?;
    Model::from_bytes(&bytes).map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_key_ignores_case_accents_and_punctuation() {
        assert_eq!(
            text_key("Garantía de RETORNO!!"),
            text_key("garantia de retorno")
        );
        assert_ne!(
            text_key("garantia de retorno"),
            text_key("garantia sem retorno")
        );
    }

    #[test]
    fn alert_ids_are_stable_and_distinct() {
        assert_eq!(alert_id(&["a", "b"]), alert_id(&["a", "b"]));
        assert_ne!(alert_id(&["a", "b"]), alert_id(&["ab", ""]));
        assert!(alert_id(&["x"]).starts_with("AL-"));
    }
}

#[cfg(test)]
mod journal_tests {
    use super::*;
    use crate::policies::{Load, load};
    use crate::review::{self, Action as Step, ReviewError};
    use crate::state::Status;
    use crate::{Disposition, Supervision};
    use custos_model::{Edit, Message};

    const POLICY: &str = r#"
name = "promissory"
title = "Promises of returns"
category = "promissory"
severity = "high"
actions = ["alert", "notify", "tag:promise"]
[condition]
terms = ["guaranteed return*", "garantia NEAR/3 retorno"]
"#;

    pub(crate) fn message(id: &str, conversation: &str, from: &str, text: &str) -> Event {
        Event::Message(Message {
            channel: "whatsapp".into(),
            source_id: id.into(),
            conversation: conversation.into(),
            sender: from.into(),
            recipients: vec!["+447700900001".into()],
            direction: Direction::Inbound,
            sent_at: Timestamp::from_micros(1_780_000_000_000_000),
            captured_at: Timestamp::from_micros(1_780_000_000_000_000),
            text: Some(text.into()),
            attachments: vec![],
            reply_to: None,
            raw_digest: Digest::of(id.as_bytes()),
            extra: Default::default(),
        })
    }

    fn append(journal: &Journal, event: Event) -> u64 {
        let subject = match &event {
            Event::Message(m) => m.external_party().map(party_id),
            _ => None,
        };
        journal.append(&event, subject.as_deref()).unwrap().seq
    }

    fn with_policy() -> (tempfile::TempDir, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::init(&dir.path().join("a"), None, "test").unwrap();
        let Load::New { event, .. } =
            load(&Supervision::default(), POLICY, "p.toml", "cco").unwrap()
        else {
            panic!("a first load is new")
        };
        journal.append(&event, None).unwrap();
        (dir, journal)
    }

    fn custodians() -> Vec<Custodian> {
        vec![Custodian {
            id: "emp-1".into(),
            address: "+447700900001".into(),
            units: vec!["wealth".into()],
        }]
    }

    #[test]
    fn raises_once_per_message_and_once_per_repeated_text() {
        let (_dir, journal) = with_policy();
        let mut sup = Supervisor::open(&journal, custodians(), 0).unwrap();
        let first = append(
            &journal,
            message("w1", "c1", "+5511999990001", "A GARANTIA de bom retorno!"),
        );
        append(
            &journal,
            message("w2", "c1", "+5511999990001", "nothing to see"),
        );
        let raised = sup.catch_up(&journal).unwrap();
        assert_eq!(raised.len(), 1);
        let r = &raised[0];
        assert!(r.notify);
        assert_eq!(r.raised.message_seq, first);
        assert_eq!(r.raised.custodian.as_deref(), Some("emp-1"));
        assert_eq!(r.raised.tags, vec!["promise".to_string()]);
        assert_eq!(r.raised.version, 1);
        assert!(!r.raised.hits.is_empty());
        // The same words forwarded elsewhere, and an edit of the first
        // message, are repeats on the same alert, not new alerts.
        let fwd = append(
            &journal,
            message("w3", "c2", "+5511999990002", "a garantia de bom retorno"),
        );
        let edit = append(
            &journal,
            Event::Edit(Edit {
                channel: "whatsapp".into(),
                source_id: "w1-edit".into(),
                target: "w1".into(),
                editor: "+5511999990001".into(),
                edited_at: Timestamp::from_micros(1_780_000_100_000_000),
                captured_at: Timestamp::from_micros(1_780_000_100_000_000),
                text: "a garantia de um retorno enorme".into(),
                raw_digest: Digest::of(b"e"),
            }),
        );
        assert!(sup.catch_up(&journal).unwrap().is_empty());
        let alert = sup.state.alerts.get(&r.id).unwrap();
        let repeats: Vec<u64> = alert.repeats.iter().map(|x| x.message_seq).collect();
        assert_eq!(repeats, vec![fwd, edit]);
        // Reopening from the start reads the alerts back and adds nothing.
        let mut again = Supervisor::open(&journal, custodians(), 0).unwrap();
        let size = journal.size();
        assert!(again.catch_up(&journal).unwrap().is_empty());
        assert_eq!(journal.size(), size);
        assert_eq!(again.state.alerts.len(), 1);
    }

    /// The test's enrolment event: target = id, details = address and units.
    fn enrolled(_seq: u64, e: &custos_model::SystemEvent) -> Option<Custodian> {
        (e.action == "test.enrol").then(|| Custodian {
            id: e.target.clone().unwrap_or_default(),
            address: e.details["address"].as_str().unwrap_or_default().into(),
            units: vec![e.details["unit"].as_str().unwrap_or_default().into()],
        })
    }

    #[test]
    fn a_custodian_enrolled_after_opening_is_attributed() {
        let (_dir, journal) = with_policy();
        let mut sup = Supervisor::open(&journal, Vec::new(), 0).unwrap();
        sup.follow_custodians(enrolled);
        let mut details = serde_json::Map::new();
        details.insert("address".into(), "+447700900009".into());
        details.insert("unit".into(), "rates".into());
        journal
            .append_system("admin", "test.enrol", Some("emp-9"), details)
            .unwrap();
        let mut m = message("w1", "c1", "+5511999990001", "A garantia de bom retorno");
        if let Event::Message(msg) = &mut m {
            msg.recipients = vec!["+447700900009".into()];
        }
        append(&journal, m);
        let raised = sup.catch_up(&journal).unwrap();
        assert_eq!(raised.len(), 1);
        assert_eq!(raised[0].raised.custodian.as_deref(), Some("emp-9"));
    }

    #[test]
    fn two_supervisors_judging_at_once_record_each_alert_once() {
        // Two cluster nodes: both judge the same messages before either
        // has read what the other recorded.
        let (_dir, journal) = with_policy();
        let mut a = Supervisor::open(&journal, custodians(), 0).unwrap();
        let mut b = Supervisor::open(&journal, custodians(), 0).unwrap();
        append(
            &journal,
            message("w1", "c1", "+5511999990001", "A garantia de bom retorno"),
        );
        append(&journal, message("w2", "c1", "+5511999990001", "Pare"));
        let first = a.catch_up(&journal).unwrap();
        let second = b.catch_up(&journal).unwrap();
        assert_eq!(first.len(), 1, "the first node raises and notifies");
        assert!(
            second.is_empty(),
            "the second finds it recorded: {second:?}"
        );
        assert_eq!(a.take_consent_changes().len(), 1);
        assert!(b.take_consent_changes().is_empty());
        // A repeat judged by both is recorded once too.
        append(
            &journal,
            message("w3", "c2", "+5511999990002", "a garantia de bom retorno"),
        );
        assert!(a.catch_up(&journal).unwrap().is_empty());
        assert!(b.catch_up(&journal).unwrap().is_empty());
        let actions: Vec<String> = journal
            .entries(0)
            .filter_map(|e| match journal.open_entry(&e.unwrap()).unwrap() {
                Opened::Event(Event::System(s)) if s.action.starts_with("alert.") => Some(s.action),
                Opened::Event(Event::Consent(_)) => Some("consent".into()),
                _ => None,
            })
            .collect();
        assert_eq!(actions, ["alert.raised", "consent", "alert.repeated"]);
        for sup in [&a, &b] {
            assert_eq!(sup.state.alerts.len(), 1);
            let alert = sup.state.alerts.values().next().unwrap();
            assert_eq!(alert.repeats.len(), 1);
        }
    }

    #[test]
    fn an_opt_out_keyword_withdraws_consent_once() {
        let (_dir, journal) = with_policy();
        let mut sup = Supervisor::open(&journal, custodians(), 0).unwrap();
        append(&journal, message("w1", "c1", "+55 11 99999-0001", "Pare!"));
        append(
            &journal,
            message("w2", "c1", "+5511999990001", "please don't stop"),
        );
        sup.catch_up(&journal).unwrap();
        let changes: Vec<_> = sup
            .take_consent_changes()
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].party, "+5511999990001");
        assert_eq!(changes[0].state, custos_model::ConsentState::OptOut);
        assert!(changes[0].evidence.contains("\"PARE\"") && changes[0].evidence.contains("w1"));
        let consents = |j: &Journal| {
            j.entries(0)
                .filter(|e| e.as_ref().unwrap().leaf.kind == EventKind::Consent)
                .count()
        };
        assert_eq!(consents(&journal), 1);
        // Judged again from the start (a lost cursor): nothing twice.
        let mut again = Supervisor::open(&journal, custodians(), 0).unwrap();
        again.catch_up(&journal).unwrap();
        assert!(again.take_consent_changes().is_empty());
        assert_eq!(consents(&journal), 1);
    }

    #[test]
    fn the_saved_position_survives_a_restart() {
        let (_dir, journal) = with_policy();
        let mut sup = Supervisor::open_saved(&journal, custodians()).unwrap();
        append(
            &journal,
            message("w1", "c1", "+5511999990001", "guaranteed returns, trust me"),
        );
        assert_eq!(sup.catch_up(&journal).unwrap().len(), 1);
        sup.save_cursor(&journal).unwrap();
        let reopened = Supervisor::open_saved(&journal, custodians()).unwrap();
        assert_eq!(reopened.cursor(), sup.cursor());
        assert_eq!(reopened.state.alerts.len(), 1);
    }

    #[test]
    fn review_actions_follow_the_alert_state() {
        let (_dir, journal) = with_policy();
        let mut sup = Supervisor::open(&journal, custodians(), 0).unwrap();
        append(
            &journal,
            message("w1", "c1", "+5511999990001", "guaranteed return of 20%"),
        );
        let id = sup.catch_up(&journal).unwrap()[0].id.clone();
        let act = |sup: &mut Supervisor, step: Step| -> Result<(), ReviewError> {
            let event = review::event_for(&sup.state, &id, "rev1", &step)?;
            journal.append(&event, None).unwrap();
            sup.catch_up(&journal).unwrap();
            Ok(())
        };
        act(&mut sup, Step::Assign { to: "rev1".into() }).unwrap();
        assert_eq!(sup.state.alerts[&id].status, Status::Assigned);
        assert_eq!(
            act(
                &mut sup,
                Step::Close {
                    disposition: Disposition::Breach,
                    reason: " ".into()
                }
            ),
            Err(ReviewError::Empty("the reason"))
        );
        act(
            &mut sup,
            Step::Close {
                disposition: Disposition::Breach,
                reason: "promised returns".into(),
            },
        )
        .unwrap();
        assert_eq!(
            sup.state.alerts[&id].status,
            Status::Closed(Disposition::Breach)
        );
        assert!(matches!(
            act(&mut sup, Step::Assign { to: "rev2".into() }),
            Err(ReviewError::Closed { .. })
        ));
        act(
            &mut sup,
            Step::Comment {
                text: "reported to the regulator".into(),
            },
        )
        .unwrap();
        let history: Vec<&str> = sup.state.alerts[&id]
            .history
            .iter()
            .map(|h| h.action.as_str())
            .collect();
        assert_eq!(history, vec!["assigned", "closed", "commented"]);
        assert!(matches!(
            review::event_for(
                &sup.state,
                "AL-nope",
                "rev1",
                &Step::Comment { text: "x".into() }
            ),
            Err(ReviewError::NoSuchAlert(_))
        ));
    }

    #[test]
    fn a_changed_policy_gets_the_next_version_and_the_same_text_none() {
        let (_dir, journal) = with_policy();
        let sup = Supervisor::open(&journal, custodians(), 0).unwrap();
        assert!(matches!(
            load(&sup.state, POLICY, "p.toml", "cco").unwrap(),
            Load::Unchanged { version: 1, .. }
        ));
        let changed = POLICY.replace("severity = \"high\"", "severity = \"critical\"");
        assert!(matches!(
            load(&sup.state, &changed, "p.toml", "cco").unwrap(),
            Load::New { version: 2, .. }
        ));
    }

    #[test]
    fn samples_are_reproducible_from_their_seed() {
        let (_dir, journal) = with_policy();
        for i in 0..40 {
            append(
                &journal,
                message(
                    &format!("m{i}"),
                    &format!("conv-{i}"),
                    "+5511999990001",
                    "hello",
                ),
            );
        }
        let mut sup = Supervisor::open(&journal, custodians(), 0).unwrap();
        let (id, drawn) = sup
            .draw_sample(&journal, "2026-05", 0.1, 42, "cco")
            .unwrap();
        assert_eq!(drawn.population, 40);
        assert_eq!(drawn.alerts.len(), 4);
        assert!(matches!(
            sup.draw_sample(&journal, "2026-05", 0.1, 42, "cco"),
            Err(crate::sampling::SampleError::AlreadyDrawn(_))
        ));
        for a in &drawn.alerts {
            assert_eq!(
                sup.state.alerts[a].raised.sample.as_deref(),
                Some(id.as_str())
            );
        }
        // Another archive with the same messages draws the same sample.
        let (_dir2, other) = with_policy();
        for i in 0..40 {
            append(
                &other,
                message(
                    &format!("m{i}"),
                    &format!("conv-{i}"),
                    "+5511999990001",
                    "hello",
                ),
            );
        }
        let mut sup2 = Supervisor::open(&other, custodians(), 0).unwrap();
        let (_, again) = sup2.draw_sample(&other, "2026-05", 0.1, 42, "cco").unwrap();
        let convs = |s: &Supervisor, d: &crate::events::SampleDrawn| -> Vec<String> {
            d.alerts
                .iter()
                .map(|a| s.state.alerts[a].raised.conversation.clone())
                .collect()
        };
        assert_eq!(convs(&sup, &drawn), convs(&sup2, &again));
        let (_, other_seed) = sup2.draw_sample(&other, "2026-05", 0.1, 43, "cco").unwrap();
        assert_ne!(convs(&sup2, &other_seed), convs(&sup, &drawn));
        assert!(matches!(
            sup.draw_sample(&journal, "2026-13", 0.1, 1, "cco"),
            Err(crate::sampling::SampleError::Period(_))
        ));
    }
}
