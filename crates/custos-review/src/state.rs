//! The supervision state folded from the journal's events: the policies
//! and their versions, the alert queue with each alert's review history,
//! the samples drawn and the model in service.
//!
//! Nothing here is stored: it is rebuilt by reading the journal's system
//! events ([`Supervision::load`]) and kept current by applying each new
//! event ([`Supervision::apply`]), so it can never disagree with the
//! audit trail.

use crate::events::{self, AlertRaised, AlertRepeated, Disposition, ModelTrained, ReviewAction};
use crate::events::{PolicyVersion, SampleDrawn};
use custos_journal::{Journal, Opened};
use custos_model::{Event, EventKind, SystemEvent, Timestamp};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// One loaded version of a policy.
#[derive(Clone, Debug, Serialize)]
pub struct LoadedVersion {
    /// Its number.
    pub version: u32,
    /// The TOML text.
    pub source: String,
    /// SHA-256 of the text, hex.
    pub digest: String,
    /// Where it came from.
    pub origin: String,
    /// Who loaded it.
    pub loaded_by: String,
    /// When.
    pub loaded_at: Timestamp,
    /// The journal entry.
    pub seq: u64,
}

/// A policy with its history.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyState {
    /// Its name.
    pub name: String,
    /// Every version, oldest first.
    pub versions: Vec<LoadedVersion>,
    /// Whether it is active.
    pub enabled: bool,
}

impl PolicyState {
    /// The newest version.
    pub fn current(&self) -> &LoadedVersion {
        self.versions
            .last()
            .expect("a policy has at least one version")
    }
}

/// Where an alert is in its review.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "disposition")]
pub enum Status {
    /// Nobody has it yet.
    Open,
    /// A reviewer has it.
    Assigned,
    /// Passed up.
    Escalated,
    /// Closed with a disposition.
    Closed(Disposition),
}

/// One review action as it happened.
#[derive(Clone, Debug, Serialize)]
pub struct HistoryItem {
    /// The journal entry.
    pub seq: u64,
    /// When.
    pub at: Timestamp,
    /// Who.
    pub actor: String,
    /// `assigned`, `commented`, `escalated`, `closed`, `notified`, ...
    pub action: String,
    /// What they said and chose.
    #[serde(flatten)]
    pub detail: ReviewAction,
}

/// An alert and its review.
#[derive(Clone, Debug, Serialize)]
pub struct Alert {
    /// Its id.
    pub id: String,
    /// The journal entry that raised it.
    pub seq: u64,
    /// When it was raised.
    pub raised_at: Timestamp,
    /// What raised it.
    #[serde(flatten)]
    pub raised: AlertRaised,
    /// Where its review stands.
    pub status: Status,
    /// The reviewer who has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Every review action, oldest first.
    pub history: Vec<HistoryItem>,
    /// Other messages with the same text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repeats: Vec<AlertRepeated>,
}

/// Below this probability for its category, a policy alert is flagged as
/// a likely false positive.
pub const LIKELY_FALSE_POSITIVE: f32 = 0.2;

impl Alert {
    /// Whether it still needs work.
    pub fn is_open(&self) -> bool {
        !matches!(self.status, Status::Closed(_))
    }

    /// Whether the classifier scored it as a likely false positive.
    pub fn likely_false_positive(&self) -> bool {
        self.raised.origin == crate::events::Origin::Policy
            && self.raised.score.is_some_and(|s| s < LIKELY_FALSE_POSITIVE)
    }
}

/// The order of the review queue: open before closed, then severity, then
/// the classifier's score (likely false positives sink), then age, oldest
/// first.
pub fn queue_rank(a: &Alert) -> impl Ord + use<> {
    (
        !a.is_open(),
        std::cmp::Reverse(a.raised.severity),
        std::cmp::Reverse((a.raised.score.unwrap_or(0.5) * 1000.0) as i32),
        a.raised_at,
        a.id.clone(),
    )
}

/// A sample drawn.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    /// Its id.
    pub id: String,
    /// The journal entry.
    pub seq: u64,
    /// Who drew it.
    pub drawn_by: String,
    /// The draw.
    #[serde(flatten)]
    pub drawn: SampleDrawn,
}

/// The whole supervision state.
#[derive(Debug, Default)]
pub struct Supervision {
    /// Policies by name.
    pub policies: BTreeMap<String, PolicyState>,
    /// Alerts by id.
    pub alerts: BTreeMap<String, Alert>,
    /// Samples in the order drawn.
    pub samples: Vec<Sample>,
    /// The model in service and the entry that put it there.
    pub model: Option<(ModelTrained, u64)>,
    by_text: HashMap<(String, String), String>,
    by_message: HashMap<(String, String, String), String>,
}

impl Supervision {
    /// Rebuilds the state from the journal's system events.
    pub fn load(journal: &Journal) -> custos_journal::Result<Supervision> {
        let mut state = Supervision::default();
        for entry in journal.entries(0) {
            let entry = entry?;
            if entry.leaf.kind != EventKind::System {
                continue;
            }
            if let Opened::Event(Event::System(event)) = journal.open_entry(&entry)? {
                state.apply(entry.leaf.seq, &event);
            }
        }
        Ok(state)
    }

    /// Applies one system event (others are ignored).
    pub fn apply(&mut self, seq: u64, event: &SystemEvent) {
        let Some(target) = event.target.clone() else {
            return;
        };
        match event.action.as_str() {
            events::POLICY_VERSION => {
                let Some(v) = events::details::<PolicyVersion>(event) else {
                    return;
                };
                let policy = self
                    .policies
                    .entry(target.clone())
                    .or_insert_with(|| PolicyState {
                        name: target,
                        versions: Vec::new(),
                        enabled: true,
                    });
                policy.enabled = true;
                policy.versions.push(LoadedVersion {
                    version: v.version,
                    source: v.source,
                    digest: v.digest,
                    origin: v.origin,
                    loaded_by: event.actor.clone(),
                    loaded_at: event.at,
                    seq,
                });
            }
            events::POLICY_DISABLED => {
                if let Some(policy) = self.policies.get_mut(&target) {
                    policy.enabled = false;
                }
            }
            events::ALERT_RAISED => {
                let Some(raised) = events::details::<AlertRaised>(event) else {
                    return;
                };
                self.remember(&target, &raised);
                self.alerts.insert(
                    target.clone(),
                    Alert {
                        id: target,
                        seq,
                        raised_at: event.at,
                        raised,
                        status: Status::Open,
                        assignee: None,
                        history: Vec::new(),
                        repeats: Vec::new(),
                    },
                );
            }
            events::ALERT_REPEATED => {
                if let (Some(alert), Some(repeat)) = (
                    self.alerts.get_mut(&target),
                    events::details::<AlertRepeated>(event),
                ) && !alert.repeats.contains(&repeat)
                {
                    alert.repeats.push(repeat);
                }
            }
            action @ (events::ALERT_ASSIGNED
            | events::ALERT_COMMENTED
            | events::ALERT_ESCALATED
            | events::ALERT_CLOSED
            | events::NOTIFIED
            | events::NOTIFY_FAILED) => {
                let (Some(alert), Some(detail)) = (
                    self.alerts.get_mut(&target),
                    events::details::<ReviewAction>(event),
                ) else {
                    return;
                };
                match action {
                    events::ALERT_ASSIGNED => {
                        alert.status = Status::Assigned;
                        alert.assignee = detail.assignee.clone();
                    }
                    events::ALERT_ESCALATED => {
                        alert.status = Status::Escalated;
                        if detail.assignee.is_some() {
                            alert.assignee = detail.assignee.clone();
                        }
                    }
                    events::ALERT_CLOSED => {
                        if let Some(d) = detail.disposition {
                            alert.status = Status::Closed(d);
                        }
                    }
                    _ => {}
                }
                alert.history.push(HistoryItem {
                    seq,
                    at: event.at,
                    actor: event.actor.clone(),
                    action: action.trim_start_matches("alert.").to_string(),
                    detail,
                });
            }
            events::SAMPLE_DRAWN => {
                if let Some(drawn) = events::details::<SampleDrawn>(event) {
                    self.samples.push(Sample {
                        id: target,
                        seq,
                        drawn_by: event.actor.clone(),
                        drawn,
                    });
                }
            }
            events::MODEL_TRAINED => {
                if let Some(trained) = events::details::<ModelTrained>(event) {
                    self.model = Some((trained, seq));
                }
            }
            _ => {}
        }
    }

    /// Indexes an alert (raised or about to be) for repeat detection.
    pub(crate) fn remember(&mut self, id: &str, raised: &AlertRaised) {
        if raised.origin != events::Origin::Policy {
            return;
        }
        self.by_text
            .entry((raised.policy.clone(), raised.text_key.clone()))
            .or_insert_with(|| id.to_string());
        self.by_message
            .entry((
                raised.policy.clone(),
                raised.channel.clone(),
                raised.source_id.clone(),
            ))
            .or_insert_with(|| id.to_string());
    }

    /// The alert a policy raised on a message, if any.
    pub fn alert_for_message(&self, policy: &str, channel: &str, source_id: &str) -> Option<&str> {
        self.by_message
            .get(&(
                policy.to_string(),
                channel.to_string(),
                source_id.to_string(),
            ))
            .map(String::as_str)
    }

    /// The alert a policy raised on the same text, if any.
    pub fn alert_for_text(&self, policy: &str, text_key: &str) -> Option<&str> {
        self.by_text
            .get(&(policy.to_string(), text_key.to_string()))
            .map(String::as_str)
    }

    /// Active policies with their current version and text.
    pub fn active(&self) -> impl Iterator<Item = &PolicyState> {
        self.policies.values().filter(|p| p.enabled)
    }
}
