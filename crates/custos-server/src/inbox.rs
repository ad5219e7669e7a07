//! The agent inbox's state: WhatsApp conversations folded from the journal
//! (who the customer is, which business number, last activity, the
//! 24-hour window, delivery failures), and the inbox's own journal events.
//!
//! Inbox state is journal events, like everything else:
//! - `inbox.assigned` (target: the conversation): `conversation`, `to_user`
//!   or `to_team`, `reason`; the actor is who assigned. A transfer is an
//!   assignment to someone else.
//! - `inbox.opened` (target: the conversation): `conversation`, `upto` (the
//!   last entry shown), `marks_read`. It is both the audit record of the
//!   read and, when an agent opened it (`marks_read: true`), that agent's
//!   read marker: unread means inbound messages after it. A supervisor's
//!   read is recorded with `marks_read: false` and moves no marker.
//! - `inbox.note` (target: the party): `party`, `text`; sealed under the
//!   party's key, so erasing the person erases the notes about them.
//!
//! [`Conversations`] is folded by the console's projection (its `apply`
//! is called for every entry in order); it is never stored.
//! [`InboxConfig`] is the `[inbox]` section of the server configuration.

use custos_model::{DeliveryState, Direction, Event, Message, SystemEvent, Timestamp, party_id};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// The action of an assignment (or transfer).
pub const ASSIGNED: &str = "inbox.assigned";
/// The action of a read (and an agent's read marker).
pub const OPENED: &str = "inbox.opened";
/// The action of a note about a party.
pub const NOTE: &str = "inbox.note";

/// One approved template the composer offers.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    /// The template's name as approved by Meta.
    pub name: String,
    /// Its language code (`en`, `pt_BR`...).
    pub language: String,
    /// Its text as approved, shown to the agent and kept as the message's
    /// text in the journal.
    pub body: String,
}

/// When the disclaimer is appended to an agent's free text.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DisclaimerWhen {
    /// Never (the default: no disclaimer configured).
    #[default]
    Never,
    /// To every free-text message.
    Always,
    /// To the first message sent in a conversation on each UTC day.
    FirstOfDay,
}

/// `[inbox]`: canned responses, the disclaimer, the approved templates.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InboxConfig {
    /// Replies an agent can pick instead of typing.
    pub canned: Vec<String>,
    /// Text appended to free-text messages where `disclaimer_when` says.
    pub disclaimer: String,
    /// When the disclaimer is appended.
    pub disclaimer_when: DisclaimerWhen,
    /// The approved opt-in template (one of `templates`, by name).
    pub opt_in_template: String,
    /// The approved templates the composer offers.
    pub templates: Vec<TemplateConfig>,
    /// Replies to the opt-in template that give consent (case-insensitive);
    /// any other reply to it records an opt-out. Default: yes, sim, sí,
    /// si, accept, agree, aceito, acepto.
    pub opt_in_yes: Vec<String>,
}

impl InboxConfig {
    /// Checks what TOML cannot: the opt-in template is one of the
    /// templates, template names are unique and complete, a disclaimer
    /// rule has a disclaimer.
    pub fn validate(&self) -> Result<(), crate::ConfigError> {
        let invalid = |field: &str, message: String| crate::ConfigError::Invalid {
            field: format!("inbox.{field}"),
            message,
        };
        for (i, t) in self.templates.iter().enumerate() {
            if t.name.trim().is_empty() || t.language.trim().is_empty() {
                return Err(invalid(
                    &format!("templates[{i}]"),
                    "a template needs its approved name and language".into(),
                ));
            }
            if self.templates[..i].iter().any(|o| o.name == t.name) {
                return Err(invalid(
                    &format!("templates[{i}].name"),
                    format!("{:?} is listed twice", t.name),
                ));
            }
        }
        if !self.opt_in_template.is_empty() && self.template(&self.opt_in_template).is_none() {
            return Err(invalid(
                "opt_in_template",
                format!(
                    "{:?} is not one of the `templates` (list it there with its language and text)",
                    self.opt_in_template
                ),
            ));
        }
        if self.disclaimer_when != DisclaimerWhen::Never && self.disclaimer.trim().is_empty() {
            return Err(invalid(
                "disclaimer",
                "disclaimer_when is set but the disclaimer text is empty".into(),
            ));
        }
        Ok(())
    }

    /// The replies that give consent.
    pub fn opt_in_yes(&self) -> Vec<String> {
        if self.opt_in_yes.is_empty() {
            [
                "yes", "sim", "sí", "si", "accept", "agree", "aceito", "acepto",
            ]
            .map(String::from)
            .to_vec()
        } else {
            self.opt_in_yes.clone()
        }
    }

    /// The template named `name`.
    pub fn template(&self, name: &str) -> Option<&TemplateConfig> {
        self.templates.iter().find(|t| t.name == name)
    }

    /// `text` with the disclaimer appended if the policy says so, given
    /// when the conversation's last outbound message left.
    pub fn with_disclaimer(
        &self,
        text: &str,
        last_outbound: Option<Timestamp>,
        now: Timestamp,
    ) -> String {
        let add = !self.disclaimer.trim().is_empty()
            && match self.disclaimer_when {
                DisclaimerWhen::Never => false,
                DisclaimerWhen::Always => true,
                DisclaimerWhen::FirstOfDay => last_outbound.is_none_or(|t| day(t) != day(now)),
            };
        if add {
            format!("{text}\n\n{}", self.disclaimer.trim())
        } else {
            text.to_string()
        }
    }
}

fn day(t: Timestamp) -> i64 {
    t.as_micros().div_euclid(86_400_000_000)
}

/// Who a conversation is assigned to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Assignee {
    /// One user.
    User(String),
    /// A team (a unit of users).
    Team(String),
}

impl Assignee {
    /// As shown: `user alice`, `team desk-a`.
    pub fn label(&self) -> String {
        match self {
            Assignee::User(u) => format!("agent {u}"),
            Assignee::Team(t) => format!("team {t}"),
        }
    }
}

/// A note about a party.
#[derive(Clone, Debug)]
pub struct Note {
    /// The journal entry.
    pub seq: u64,
    /// When.
    pub at: Timestamp,
    /// Who wrote it.
    pub by: String,
    /// The note.
    pub text: String,
}

/// One WhatsApp conversation with a customer.
#[derive(Clone, Debug)]
pub struct Conversation {
    /// Its stable id in the console: the entry of its first message.
    pub id: u64,
    /// The capture's conversation key (`{phone-number-id}:{customer}`).
    pub key: String,
    /// The customer (party id).
    pub customer: String,
    /// The business number written to (party id), once an inbound message
    /// or an echo named it.
    pub business: Option<String>,
    /// Its message entries, oldest first.
    pub messages: Vec<u64>,
    /// Its inbound message entries, oldest first.
    pub inbound: Vec<u64>,
    /// The latest activity (a message's time).
    pub last_at: Timestamp,
    /// The customer's last message (opens the 24-hour window).
    pub last_inbound: Option<Timestamp>,
    /// The firm's last message.
    pub last_outbound: Option<Timestamp>,
    /// Who it is assigned to (`None`: the custodian's number's agents).
    pub assigned: Option<Assignee>,
    /// Bumped by everything that changes what its page shows (messages,
    /// statuses, assignments): what the live stream compares.
    pub version: u64,
}

/// The fold of every WhatsApp conversation.
#[derive(Debug, Default)]
pub struct Conversations {
    by_id: BTreeMap<u64, Conversation>,
    by_key: HashMap<String, u64>,
    by_wamid: HashMap<String, u64>,
    /// The failure reason reported for a message, by wamid.
    pub failures: HashMap<String, String>,
    /// Per (user, conversation id): the last entry they read.
    read: HashMap<(String, u64), u64>,
    /// Notes per party id, oldest first.
    pub notes: BTreeMap<String, Vec<Note>>,
    /// One party across channels (`party.linked`), for the profile.
    pub identities: custos_governance::identities::Identities,
    /// Templates sent, by wamid: (template name, when).
    pub templates_sent: HashMap<String, (String, Timestamp)>,
}

impl Conversations {
    /// Takes in entry `seq`.
    pub fn apply(&mut self, seq: u64, event: &Event) {
        match event {
            Event::Message(m) if m.channel == "whatsapp" => self.message(seq, m),
            Event::Status(s) if s.channel == "whatsapp" => {
                if s.state == DeliveryState::Failed {
                    let reason = s.error.clone().unwrap_or_else(|| "no reason given".into());
                    self.failures.insert(s.target.clone(), reason);
                }
                if let Some(id) = self.by_wamid.get(&s.target).copied()
                    && let Some(c) = self.by_id.get_mut(&id)
                {
                    c.version += 1;
                }
            }
            Event::System(s) => self.system(seq, s),
            _ => {}
        }
    }

    fn message(&mut self, seq: u64, m: &Message) {
        let (customer, business) = match m.direction {
            Direction::Inbound => (Some(&m.sender), m.recipients.first()),
            Direction::Outbound => {
                // A send through the API names the phone number id as its
                // sender, not a number: only an echo names the business.
                let line = m.conversation.split(':').next().unwrap_or_default();
                let business = (m.sender != line).then_some(&m.sender);
                (m.recipients.first(), business)
            }
            _ => return,
        };
        let Some(customer) = customer else { return };
        let id = *self.by_key.entry(m.conversation.clone()).or_insert(seq);
        let c = self.by_id.entry(id).or_insert_with(|| Conversation {
            id,
            key: m.conversation.clone(),
            customer: party_id(customer),
            business: None,
            messages: Vec::new(),
            inbound: Vec::new(),
            last_at: m.sent_at,
            last_inbound: None,
            last_outbound: None,
            assigned: None,
            version: 0,
        });
        if c.business.is_none() {
            c.business = business.map(|b| party_id(b));
        }
        c.messages.push(seq);
        c.last_at = c.last_at.max(m.sent_at);
        c.version += 1;
        match m.direction {
            Direction::Inbound => {
                c.inbound.push(seq);
                c.last_inbound = Some(c.last_inbound.map_or(m.sent_at, |t| t.max(m.sent_at)));
            }
            _ => {
                c.last_outbound = Some(c.last_outbound.map_or(m.sent_at, |t| t.max(m.sent_at)));
                self.by_wamid.insert(m.source_id.clone(), id);
                if let Some(name) = template_of(m) {
                    self.templates_sent
                        .insert(m.source_id.clone(), (name.to_string(), m.sent_at));
                }
            }
        }
    }

    fn system(&mut self, seq: u64, s: &SystemEvent) {
        self.identities.apply(s);
        let str_of = |k: &str| {
            s.details
                .get(k)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let conversation = || {
            str_of("conversation")
                .as_deref()
                .and_then(|k| self.by_key.get(k).copied())
        };
        match s.action.as_str() {
            ASSIGNED => {
                let Some(id) = conversation() else { return };
                let to = match (str_of("to_user"), str_of("to_team")) {
                    (Some(u), _) => Some(Assignee::User(u)),
                    (None, Some(t)) => Some(Assignee::Team(t)),
                    (None, None) => None,
                };
                if let Some(c) = self.by_id.get_mut(&id) {
                    c.assigned = to;
                    c.version += 1;
                }
            }
            OPENED => {
                let Some(id) = conversation() else { return };
                let marks = s.details.get("marks_read").and_then(|v| v.as_bool());
                let upto = s.details.get("upto").and_then(|v| v.as_u64());
                if marks == Some(true)
                    && let Some(upto) = upto
                {
                    let slot = self.read.entry((s.actor.clone(), id)).or_insert(upto);
                    *slot = (*slot).max(upto);
                }
            }
            NOTE => {
                if let (Some(party), Some(text)) = (str_of("party"), str_of("text")) {
                    self.notes.entry(party_id(&party)).or_default().push(Note {
                        seq,
                        at: s.at,
                        by: s.actor.clone(),
                        text,
                    });
                }
            }
            _ => {}
        }
    }

    /// The conversation with console id `id`.
    pub fn get(&self, id: u64) -> Option<&Conversation> {
        self.by_id.get(&id)
    }

    /// The conversation whose capture key is `key`.
    pub fn by_key(&self, key: &str) -> Option<&Conversation> {
        self.by_key.get(key).and_then(|id| self.by_id.get(id))
    }

    /// Every conversation, newest activity first.
    pub fn newest_first(&self) -> Vec<&Conversation> {
        let mut all: Vec<&Conversation> = self.by_id.values().collect();
        all.sort_by(|a, b| b.last_at.cmp(&a.last_at).then(b.id.cmp(&a.id)));
        all
    }

    /// How many of `c`'s inbound messages `user` has not read.
    pub fn unread(&self, user: &str, c: &Conversation) -> usize {
        let marker = self.read.get(&(user.to_string(), c.id)).copied();
        c.inbound
            .iter()
            .filter(|s| marker.is_none_or(|m| **s > m))
            .count()
    }

    /// The conversations of customer `party` (any business number).
    pub fn of_customer(&self, party: &str) -> Vec<&Conversation> {
        let party = party_id(party);
        self.by_id
            .values()
            .filter(|c| c.customer == party)
            .collect()
    }
}

/// The template an outbound message sent through the Cloud API carried.
pub fn template_of(m: &Message) -> Option<&str> {
    m.extra
        .get("whatsapp")
        .and_then(|w| w.pointer("/request/template/name"))
        .and_then(|n| n.as_str())
}

/// Who records the consent given by a reply to the opt-in template.
pub const OPT_IN_RECORDER: &str = "inbox.opt-in";

/// The consent a reply to the opt-in template gives, if `m` is one: an
/// inbound button (or interactive button) reply whose context is a
/// template in `sent` named `config.opt_in_template`. A reply in
/// `config.opt_in_yes` (case-insensitive) opts in; any other opts out.
/// The evidence names the template shown, when it was sent, and the
/// reply (wamid, time, text).
pub fn opt_in_reply(
    config: &InboxConfig,
    sent: &HashMap<String, (String, Timestamp)>,
    m: &Message,
) -> Option<custos_model::ConsentChange> {
    if config.opt_in_template.is_empty()
        || m.channel != "whatsapp"
        || m.direction != Direction::Inbound
    {
        return None;
    }
    let wa = m.extra.get("whatsapp")?;
    let kind = wa.get("type").and_then(|t| t.as_str()).unwrap_or_default();
    if kind != "button" && kind != "interactive" {
        return None;
    }
    let context = wa.pointer("/context/id").and_then(|v| v.as_str())?;
    let (name, sent_at) = sent.get(context)?;
    if *name != config.opt_in_template {
        return None;
    }
    let reply = m.text.clone().unwrap_or_default();
    let yes = config
        .opt_in_yes()
        .iter()
        .any(|y| y.to_lowercase() == reply.trim().to_lowercase());
    let shown = config
        .template(name)
        .map(|t| t.body.clone())
        .unwrap_or_default();
    let evidence = serde_json::json!({
        "template": name,
        "shown": shown,
        "sent_wamid": context,
        "sent_at": sent_at.to_string(),
        "reply": {
            "wamid": m.source_id,
            "at": m.sent_at.to_string(),
            "text": reply,
        },
    });
    Some(custos_model::ConsentChange {
        channel: "whatsapp".into(),
        party: party_id(&m.sender),
        state: if yes {
            custos_model::ConsentState::OptIn
        } else {
            custos_model::ConsentState::OptOut
        },
        evidence: evidence.to_string(),
        at: m.sent_at,
        recorded_by: OPT_IN_RECORDER.into(),
    })
}

/// Records the consent given by new inbound messages that reply to the
/// opt-in template ([`opt_in_reply`]), each as a `ConsentChange` sealed
/// under the customer's key, and updates the sending rules' view so the
/// conversation unlocks at once. Called (blocking) once a webhook delivery
/// is durable, before it is answered; a failure is logged (the reply
/// itself is already archived, and `custos consent grant` can record it).
pub fn record_opt_in_replies(state: &crate::AppState, messages: &[&Message]) {
    // Only button replies can be one: the projection (which knows the
    // templates sent) is not caught up for every delivery.
    let messages: Vec<&Message> = messages
        .iter()
        .copied()
        .filter(|m| {
            let wa = m.extra.get("whatsapp");
            let kind = wa.and_then(|w| w.get("type")).and_then(|t| t.as_str());
            matches!(kind, Some("button" | "interactive"))
                && wa.and_then(|w| w.pointer("/context/id")).is_some()
        })
        .collect();
    if state.inbox.opt_in_template.is_empty() || messages.is_empty() {
        return;
    }
    let changes = state.console.with(&state.journal, |proj| {
        messages
            .iter()
            .filter_map(|m| opt_in_reply(&state.inbox, &proj.inbox.templates_sent, m))
            .collect::<Vec<_>>()
    });
    let changes = match changes {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "opt-in replies not checked");
            return;
        }
    };
    for change in changes {
        let subject = crate::outbound::party_key(&change.party);
        let event = Event::Consent(change);
        match state.journal.append(&event, Some(&subject)) {
            Ok(appended) => {
                let mut parties = state.parties.write().unwrap_or_else(|e| e.into_inner());
                parties.observe(appended.seq, &event);
            }
            Err(e) => tracing::error!(error = %e, "opt-in consent not recorded"),
        }
    }
}

/// Who is looking at the inbox, and what they may see of it.
#[derive(Clone, Debug)]
pub struct Viewer {
    /// Their user id.
    pub user: String,
    /// Their teams (the user's units).
    pub teams: Vec<String>,
    /// The custodian they are (an agent's own number).
    pub custodian: Option<String>,
    /// Whether they act as an agent (their reads mark conversations read).
    pub agent: bool,
    /// For supervisors (compliance officers, reviewers): their barrier;
    /// they read any conversation within it, without marking it read.
    pub supervisor: Option<crate::console::Barrier>,
}

impl Viewer {
    /// Whether `c` is in this viewer's inbox. `custodian_of` names the
    /// custodian holding a business number.
    pub fn sees(&self, c: &Conversation, custodian_of: impl Fn(&str) -> Option<String>) -> bool {
        if self.agent && self.agent_sees(c, &custodian_of) {
            return true;
        }
        match &self.supervisor {
            Some(barrier) => barrier.parties(
                c.business
                    .iter()
                    .map(String::as_str)
                    .chain(std::iter::once(c.customer.as_str())),
            ),
            None => false,
        }
    }

    fn agent_sees(&self, c: &Conversation, custodian_of: &impl Fn(&str) -> Option<String>) -> bool {
        match &c.assigned {
            Some(Assignee::User(u)) => *u == self.user,
            Some(Assignee::Team(t)) => self.teams.contains(t),
            None => {
                let owner = c.business.as_deref().and_then(custodian_of);
                owner.is_some() && owner == self.custodian
            }
        }
    }

    /// Whether this viewer's read of `c` marks it read (they read it as
    /// one of its agents, not as a supervisor).
    pub fn marks_read(
        &self,
        c: &Conversation,
        custodian_of: impl Fn(&str) -> Option<String>,
    ) -> bool {
        self.agent && self.agent_sees(c, &custodian_of)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_model::{DeliveryStatus, Digest};

    fn message(seq_id: &str, direction: Direction, at: i64) -> Event {
        let (from, to) = match direction {
            Direction::Inbound => ("5511988887777", "447700900001"),
            _ => ("106540352242922", "5511988887777"),
        };
        Event::Message(Message {
            channel: "whatsapp".into(),
            source_id: seq_id.into(),
            conversation: "106540352242922:5511988887777".into(),
            sender: from.into(),
            recipients: vec![to.into()],
            direction,
            sent_at: Timestamp::from_micros(at),
            captured_at: Timestamp::from_micros(at),
            text: Some("hi".into()),
            attachments: vec![],
            reply_to: None,
            raw_digest: Digest::of(b"x"),
            extra: Default::default(),
        })
    }

    fn system(actor: &str, action: &str, details: serde_json::Value) -> Event {
        Event::System(SystemEvent {
            actor: actor.into(),
            action: action.into(),
            target: None,
            at: Timestamp::from_micros(0),
            details: details.as_object().unwrap().clone(),
        })
    }

    const KEY: &str = "106540352242922:5511988887777";

    fn viewer(user: &str, teams: &[&str], custodian: Option<&str>) -> Viewer {
        Viewer {
            user: user.into(),
            teams: teams.iter().map(|t| t.to_string()).collect(),
            custodian: custodian.map(str::to_string),
            agent: true,
            supervisor: None,
        }
    }

    #[test]
    fn conversations_unread_assignment_and_failures() {
        let mut f = Conversations::default();
        f.apply(10, &message("in1", Direction::Inbound, 100));
        f.apply(11, &message("out1", Direction::Outbound, 200));
        f.apply(12, &message("in2", Direction::Inbound, 300));
        let c = f.get(10).unwrap();
        assert_eq!(c.customer, "+5511988887777");
        assert_eq!(c.business.as_deref(), Some("+447700900001"));
        assert_eq!(c.messages, vec![10, 11, 12]);
        assert_eq!(c.last_inbound, Some(Timestamp::from_micros(300)));
        assert_eq!(c.last_outbound, Some(Timestamp::from_micros(200)));
        assert_eq!(f.unread("ana", c), 2);

        // Ana read up to entry 11; a supervisor's read moves nothing.
        f.apply(
            13,
            &system(
                "ana",
                OPENED,
                serde_json::json!({"conversation": KEY, "upto": 11, "marks_read": true}),
            ),
        );
        f.apply(
            14,
            &system(
                "cco",
                OPENED,
                serde_json::json!({"conversation": KEY, "upto": 12, "marks_read": false}),
            ),
        );
        let c = f.get(10).unwrap();
        assert_eq!(f.unread("ana", c), 1);
        assert_eq!(f.unread("cco", c), 2);

        // Ana's number, unassigned: Ana sees it, Bruno does not.
        let owner = |b: &str| (b == "+447700900001").then(|| "A1".to_string());
        let ana = viewer("ana", &["team-a"], Some("A1"));
        let bruno = viewer("bruno", &["team-b"], Some("B1"));
        assert!(ana.sees(c, owner));
        assert!(!bruno.sees(c, owner));
        // Transferred to team B: now Bruno sees it and Ana does not.
        f.apply(
            15,
            &system(
                "ana",
                ASSIGNED,
                serde_json::json!({"conversation": KEY, "to_team": "team-b", "reason": "rates"}),
            ),
        );
        let c = f.get(10).unwrap();
        assert_eq!(c.assigned, Some(Assignee::Team("team-b".into())));
        assert!(!ana.sees(c, owner));
        assert!(bruno.sees(c, owner));

        // A failed status is kept with its reason and bumps the version.
        let before = c.version;
        f.apply(
            16,
            &Event::Status(DeliveryStatus {
                channel: "whatsapp".into(),
                target: "out1".into(),
                recipient: "5511988887777".into(),
                state: DeliveryState::Failed,
                at: Timestamp::from_micros(400),
                captured_at: Timestamp::from_micros(400),
                error: Some("131026: Message undeliverable".into()),
                raw_digest: Digest::of(b"y"),
            }),
        );
        assert_eq!(f.failures["out1"], "131026: Message undeliverable");
        assert!(f.get(10).unwrap().version > before);
    }

    #[test]
    fn the_section_is_checked_and_errors_name_the_field() {
        let parse = |text: &str| -> Result<InboxConfig, String> {
            let c: InboxConfig = toml::from_str(text).map_err(|e| e.to_string())?;
            c.validate().map(|()| c).map_err(|e| e.to_string())
        };
        let ok = parse(
            r#"canned = ["hi"]
disclaimer = "Recorded."
disclaimer_when = "first_of_day"
opt_in_template = "optin"
templates = [{ name = "optin", language = "en", body = "May we?" }]
"#,
        )
        .unwrap();
        assert_eq!(ok.disclaimer_when, DisclaimerWhen::FirstOfDay);
        assert_eq!(ok.template("optin").unwrap().body, "May we?");
        let e = parse("opt_in_template = \"optin\"").unwrap_err();
        assert!(e.starts_with("inbox.opt_in_template:"), "{e}");
        let e = parse("disclaimer_when = \"always\"").unwrap_err();
        assert!(e.starts_with("inbox.disclaimer:"), "{e}");
        let e = parse(
            r#"templates = [{ name = "a", language = "en", body = "x" }, { name = "a", language = "pt", body = "y" }]"#,
        )
        .unwrap_err();
        assert!(e.starts_with("inbox.templates[1].name:"), "{e}");
        let e = parse("disclaimer_when = \"sometimes\"").unwrap_err();
        assert!(e.contains("sometimes"), "{e}");
        let e = parse("greeting = \"hi\"").unwrap_err();
        assert!(e.contains("greeting"), "{e}");
    }

    #[test]
    fn disclaimer_rules() {
        let mut config = InboxConfig {
            disclaimer: "Messages are recorded.".into(),
            disclaimer_when: DisclaimerWhen::FirstOfDay,
            ..Default::default()
        };
        let day = 86_400_000_000;
        let now = Timestamp::from_micros(10 * day + 5);
        assert_eq!(
            config.with_disclaimer("hi", None, now),
            "hi\n\nMessages are recorded."
        );
        assert_eq!(
            config.with_disclaimer("hi", Some(Timestamp::from_micros(10 * day)), now),
            "hi"
        );
        assert_eq!(
            config.with_disclaimer("hi", Some(Timestamp::from_micros(9 * day)), now),
            "hi\n\nMessages are recorded."
        );
        config.disclaimer_when = DisclaimerWhen::Always;
        assert_eq!(
            config.with_disclaimer("hi", Some(now), now),
            "hi\n\nMessages are recorded."
        );
        config.disclaimer_when = DisclaimerWhen::Never;
        assert_eq!(config.with_disclaimer("hi", None, now), "hi");
    }
}
