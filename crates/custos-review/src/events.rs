//! The supervision facts as journal events: each is a [`SystemEvent`] with
//! a dotted action and typed details, so the journal's encoding does not
//! change and every fact is in the audit trail.
//!
//! | action | target | details |
//! | --- | --- | --- |
//! | `policy.version` | policy name | [`PolicyVersion`] |
//! | `policy.disabled` | policy name | `reason` |
//! | `alert.raised` | alert id | [`AlertRaised`] |
//! | `alert.repeated` | alert id | [`AlertRepeated`] |
//! | `alert.assigned` / `.commented` / `.escalated` / `.closed` | alert id | [`ReviewAction`] |
//! | `sample.drawn` | sample id | [`SampleDrawn`] |
//! | `model.trained` | model version | [`ModelTrained`] |

use custos_model::{Event, Severity, SystemEvent, Timestamp};
use custos_policy::Hit;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// A policy text loaded, with the version it got.
pub const POLICY_VERSION: &str = "policy.version";
/// A policy switched off (a later `policy.version` switches it on again).
pub const POLICY_DISABLED: &str = "policy.disabled";
/// An alert raised by a policy or a sample.
pub const ALERT_RAISED: &str = "alert.raised";
/// The same text again (a forward, a quote, an edit): counted on the alert.
pub const ALERT_REPEATED: &str = "alert.repeated";
/// A reviewer took or was given an alert.
pub const ALERT_ASSIGNED: &str = "alert.assigned";
/// A reviewer's comment.
pub const ALERT_COMMENTED: &str = "alert.commented";
/// Passed up to a senior reviewer.
pub const ALERT_ESCALATED: &str = "alert.escalated";
/// Closed with a disposition.
pub const ALERT_CLOSED: &str = "alert.closed";
/// A supervisory sample drawn.
pub const SAMPLE_DRAWN: &str = "sample.drawn";
/// A classifier model trained and put in service.
pub const MODEL_TRAINED: &str = "model.trained";
/// A notification could not be delivered after every retry.
pub const NOTIFY_FAILED: &str = "alert.notify_failed";
/// A notification was delivered.
pub const NOTIFIED: &str = "alert.notified";

/// `policy.version`: the whole policy text, so any alert can be traced
/// to the exact words that fired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersion {
    /// 1 for the first load of this name, then one more per change.
    pub version: u32,
    /// The TOML text.
    pub source: String,
    /// SHA-256 of the text, hex.
    pub digest: String,
    /// Where it was loaded from (a file name, `starter`, `api`).
    pub origin: String,
}

/// Why an alert exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A policy matched.
    Policy,
    /// A supervisory sample picked the conversation.
    Sample,
}

/// `alert.raised`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRaised {
    /// Policy or sample.
    pub origin: Origin,
    /// The journal entry of the message (or edit, deletion) concerned.
    pub message_seq: u64,
    /// Its channel.
    pub channel: String,
    /// The id the source gave it.
    pub source_id: String,
    /// Its conversation.
    pub conversation: String,
    /// The custodian (employee) involved, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custodian: Option<String>,
    /// When it was sent.
    pub sent_at: Timestamp,
    /// The policy name (for a sample: `sample`).
    pub policy: String,
    /// The policy version that fired (0 for a sample).
    pub version: u32,
    /// The policy's title.
    pub title: String,
    /// Its risk category.
    pub category: String,
    /// Its severity.
    pub severity: Severity,
    /// What matched, with byte offsets in the message text.
    pub hits: Vec<Hit>,
    /// Digest of the folded text, which recognises repeats.
    pub text_key: String,
    /// The classifier's probability for the category, if a model is in service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    /// The model that scored it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The sample that drew it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<String>,
    /// Tags the policy's actions gave.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// `alert.repeated`: the same text again in another message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRepeated {
    /// The journal entry of the repeat.
    pub message_seq: u64,
    /// Its conversation.
    pub conversation: String,
}

/// How a reviewer closed an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// The policy matched innocent text.
    FalsePositive,
    /// A real match that needs nothing further.
    NoActionNeeded,
    /// Handed on (e.g. to legal or the regulator).
    Escalated,
    /// A breach of the firm's rules.
    Breach,
}

impl Disposition {
    /// Every disposition.
    pub const ALL: [Disposition; 4] = [
        Self::FalsePositive,
        Self::NoActionNeeded,
        Self::Escalated,
        Self::Breach,
    ];

    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::FalsePositive => "false_positive",
            Self::NoActionNeeded => "no_action_needed",
            Self::Escalated => "escalated",
            Self::Breach => "breach",
        }
    }
}

impl std::str::FromStr for Disposition {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let wanted = text.trim().replace('-', "_").to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|d| d.name() == wanted)
            .ok_or_else(|| {
                format!(
                    "unknown disposition {text:?}: expected false_positive, no_action_needed, escalated or breach"
                )
            })
    }
}

/// `alert.assigned`, `alert.commented`, `alert.escalated`, `alert.closed`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewAction {
    /// The reviewer it is assigned or escalated to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// The closing disposition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<Disposition>,
    /// The reviewer's words: comment or reason.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
}

/// `sample.drawn`: enough to draw the same sample again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleDrawn {
    /// The month sampled, `YYYY-MM`.
    pub period: String,
    /// Share of each custodian's conversations drawn, 0 to 1.
    pub rate: f64,
    /// The seed of the draw.
    pub seed: u64,
    /// Conversations in the period, per custodian.
    pub population: u64,
    /// The alert ids created for the drawn conversations.
    pub alerts: Vec<String>,
}

/// `model.trained`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelTrained {
    /// The model's version (digest of its bytes).
    pub version: String,
    /// SHA-256 of the model bytes in the blob store, hex.
    pub blob: String,
    /// Examples trained on: seed corpus, labelled file, dispositions.
    pub examples: u64,
    /// Of which came from reviewers' dispositions.
    pub from_dispositions: u64,
    /// Micro-averaged precision on the held-out split.
    pub precision: f64,
    /// Micro-averaged recall on the held-out split.
    pub recall: f64,
}

/// Builds a system event with typed details.
pub fn system<T: Serialize>(actor: &str, action: &str, target: &str, details: &T) -> Event {
    let details = match serde_json::to_value(details) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    Event::System(SystemEvent {
        actor: actor.to_string(),
        action: action.to_string(),
        target: Some(target.to_string()),
        at: Timestamp::now(),
        details,
    })
}

/// Reads typed details back from a system event.
pub fn details<T: DeserializeOwned>(event: &SystemEvent) -> Option<T> {
    serde_json::from_value(serde_json::Value::Object(event.details.clone())).ok()
}
