//! The canonical event types: one struct per kind of fact, one enum over them.
//!
//! A message is identified by its channel and the id its source gave it
//! (`source_id`); edits, deletions, reactions and statuses point at it by
//! that id (`target`) and never change it. Its place in the archive is the
//! journal sequence number, which the journal assigns.

use crate::{Digest, Timestamp};
use serde::{Deserialize, Serialize};

/// Free-form fields a source sent that the canonical model has no place for.
pub type Extra = serde_json::Map<String, serde_json::Value>;

/// Which way a message travelled, seen from the firm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From an external party to the firm.
    Inbound,
    /// From the firm to an external party.
    Outbound,
    /// Between people of the firm.
    Internal,
    /// The source did not say.
    Unknown,
}

/// An attachment, kept by digest; its bytes live in the blob store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// File name as the sender gave it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// IANA media type, e.g. `application/pdf`.
    pub media_type: String,
    /// SHA-256 of the attachment's bytes.
    pub sha256: Digest,
    /// Size in bytes.
    pub size: u64,
}

/// A message: text and/or attachments sent by one party to others.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The channel it travelled on: `whatsapp`, `sms`, `email`, ...
    pub channel: String,
    /// The id the source gave it; with `channel`, the de-duplication key.
    #[serde(rename = "id")]
    pub source_id: String,
    /// The conversation (chat, thread) it belongs to.
    pub conversation: String,
    /// The sender's address (phone number, e-mail address, user id).
    #[serde(rename = "from")]
    pub sender: String,
    /// The recipients' addresses.
    #[serde(rename = "to")]
    pub recipients: Vec<String>,
    /// Inbound, outbound or internal.
    pub direction: Direction,
    /// When the source says it was sent.
    pub sent_at: Timestamp,
    /// When custos captured it.
    pub captured_at: Timestamp,
    /// The text, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Attachments by digest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// The source id of the message this one replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// SHA-256 of the raw payload the source delivered.
    pub raw_digest: Digest,
    /// Source fields the model has no place for, kept as they came; in
    /// JSON they stand beside the others, as in the import format.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Message {
    /// The external party whose data this message is: the sender of an
    /// inbound message, the first recipient of an outbound one, none for
    /// internal ones. Its data key is the one crypto-shredding destroys.
    pub fn external_party(&self) -> Option<&str> {
        match self.direction {
            Direction::Inbound => Some(&self.sender),
            Direction::Outbound => self.recipients.first().map(String::as_str),
            Direction::Internal | Direction::Unknown => None,
        }
    }
}

/// A new version of a message's text; the original is kept untouched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edit {
    /// Channel of the edited message.
    pub channel: String,
    /// The id the source gave the edit itself.
    pub source_id: String,
    /// Source id of the message edited.
    pub target: String,
    /// Who edited it.
    pub editor: String,
    /// When the source says it was edited.
    pub edited_at: Timestamp,
    /// When custos captured the edit.
    pub captured_at: Timestamp,
    /// The new text.
    pub text: String,
    /// SHA-256 of the raw payload.
    pub raw_digest: Digest,
}

/// A message deleted (revoked) at the source; the archive keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deletion {
    /// Channel of the deleted message.
    pub channel: String,
    /// The id the source gave the deletion itself.
    pub source_id: String,
    /// Source id of the message deleted.
    pub target: String,
    /// Who deleted it.
    pub deleted_by: String,
    /// When the source says it was deleted.
    pub deleted_at: Timestamp,
    /// When custos captured the deletion.
    pub captured_at: Timestamp,
    /// SHA-256 of the raw payload.
    pub raw_digest: Digest,
}

/// A reaction to a message, or its removal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    /// Channel of the message reacted to.
    pub channel: String,
    /// The id the source gave the reaction itself.
    pub source_id: String,
    /// Source id of the message reacted to.
    pub target: String,
    /// Who reacted.
    pub sender: String,
    /// The emoji; `None` when a reaction was removed.
    pub emoji: Option<String>,
    /// When the source says it happened.
    pub reacted_at: Timestamp,
    /// When custos captured it.
    pub captured_at: Timestamp,
    /// SHA-256 of the raw payload.
    pub raw_digest: Digest,
}

/// A delivery state a source reported for a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Accepted by the carrier.
    Sent,
    /// Delivered to the recipient's device.
    Delivered,
    /// Read by the recipient.
    Read,
    /// A voice message was played.
    Played,
    /// Delivery failed.
    Failed,
}

/// A delivery status report for a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryStatus {
    /// Channel of the message.
    pub channel: String,
    /// Source id of the message.
    pub target: String,
    /// The recipient the status is about.
    pub recipient: String,
    /// The state reached.
    pub state: DeliveryState,
    /// When the source says the state was reached.
    pub at: Timestamp,
    /// When custos captured it.
    pub captured_at: Timestamp,
    /// The source's error text for a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// SHA-256 of the raw payload.
    pub raw_digest: Digest,
}

/// Whether a party agreed to be messaged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    /// The party agreed.
    OptIn,
    /// The party withdrew (e.g. replied STOP).
    OptOut,
}

/// A change in a party's consent to be messaged on a channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentChange {
    /// The channel the consent is for.
    pub channel: String,
    /// The party (phone number, address).
    pub party: String,
    /// The new state.
    pub state: ConsentState,
    /// Evidence: what was shown, what the party replied, where.
    pub evidence: String,
    /// When the change happened.
    pub at: Timestamp,
    /// Who or what recorded it (a user, `webhook`, `import`).
    pub recorded_by: String,
}

/// A generic system or audit event: who did what to what, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemEvent {
    /// The person or component acting.
    pub actor: String,
    /// A dotted action name, e.g. `archive.init`, `key.shred`.
    pub action: String,
    /// What the action was about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// When it happened.
    pub at: Timestamp,
    /// Further details.
    #[serde(default, skip_serializing_if = "Extra::is_empty")]
    pub details: Extra,
}

impl SystemEvent {
    /// What makes this event one fact however often it is recorded, for
    /// the actions a duty running on several cluster nodes at once may
    /// record twice: an alert raised (its id, which is derived from the
    /// policy and the message), a repeat of an alert (the alert and the
    /// repeating message), and a media download's outcome (WhatsApp: the
    /// message and the media id; Twilio: the message SID and the media's
    /// index). `None` for every other action: audit
    /// events each record a distinct act.
    pub fn once_key(&self) -> Option<String> {
        match self.action.as_str() {
            "alert.raised" => self.target.clone(),
            "alert.repeated" => Some(format!(
                "{}\0{}",
                self.target.as_deref()?,
                self.details.get("message_seq")?.as_u64()?
            )),
            "whatsapp.media.fetched" | "whatsapp.media.failed" => Some(format!(
                "{}\0{}",
                self.target.as_deref()?,
                self.details.get("media_id")?.as_str()?
            )),
            "twilio.media.fetched" | "twilio.media.failed" => Some(format!(
                "{}\0{}",
                self.details.get("message_sid")?.as_str()?,
                self.details.get("index")?.as_u64()?
            )),
            _ => None,
        }
    }
}

/// Bytes exactly as a source delivered them (a webhook body), kept so the
/// original record can be reproduced byte for byte. The events parsed from
/// them carry their SHA-256 as `raw_digest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawPayload {
    /// What delivered it, e.g. `whatsapp.webhook`.
    pub source: String,
    /// Its media type, e.g. `application/json`.
    pub media_type: String,
    /// When custos received it.
    pub received_at: Timestamp,
    /// The bytes, shown in JSON as hex.
    #[serde(with = "hex_bytes")]
    pub bytes: Vec<u8>,
    /// Facts about the delivery (e.g. the signature header).
    #[serde(default, skip_serializing_if = "Extra::is_empty")]
    pub details: Extra,
}

mod hex_bytes {
    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}

/// Every kind of fact the archive holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A message.
    Message(Message),
    /// An edit of a message.
    Edit(Edit),
    /// A deletion of a message at the source.
    Deletion(Deletion),
    /// A reaction or its removal.
    Reaction(Reaction),
    /// A delivery status.
    Status(DeliveryStatus),
    /// A consent change.
    Consent(ConsentChange),
    /// A system or audit event.
    System(SystemEvent),
    /// A source's raw bytes.
    Raw(RawPayload),
}

/// The kind of an event, as the journal records it in clear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EventKind {
    /// [`Message`]
    Message = 1,
    /// [`Edit`]
    Edit = 2,
    /// [`Deletion`]
    Deletion = 3,
    /// [`Reaction`]
    Reaction = 4,
    /// [`DeliveryStatus`]
    Status = 5,
    /// [`ConsentChange`]
    Consent = 6,
    /// [`SystemEvent`]
    System = 7,
    /// [`RawPayload`]
    Raw = 8,
}

impl EventKind {
    /// The kind for its stable byte, if known.
    pub fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            1 => Self::Message,
            2 => Self::Edit,
            3 => Self::Deletion,
            4 => Self::Reaction,
            5 => Self::Status,
            6 => Self::Consent,
            7 => Self::System,
            8 => Self::Raw,
            _ => return None,
        })
    }

    /// The stable lowercase name, as `log` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Edit => "edit",
            Self::Deletion => "deletion",
            Self::Reaction => "reaction",
            Self::Status => "status",
            Self::Consent => "consent",
            Self::System => "system",
            Self::Raw => "raw",
        }
    }
}

impl Event {
    /// This event's kind.
    pub fn kind(&self) -> EventKind {
        match self {
            Self::Message(_) => EventKind::Message,
            Self::Edit(_) => EventKind::Edit,
            Self::Deletion(_) => EventKind::Deletion,
            Self::Reaction(_) => EventKind::Reaction,
            Self::Status(_) => EventKind::Status,
            Self::Consent(_) => EventKind::Consent,
            Self::System(_) => EventKind::System,
            Self::Raw(_) => EventKind::Raw,
        }
    }

    /// The key under which a source delivering the same fact twice is
    /// recognised, or `None` for events that are never de-duplicated.
    ///
    /// Messages, edits, deletions and reactions are keyed by channel and
    /// source id; a status by its message, recipient and state, since
    /// sources resend statuses; a consent change by all it says; the
    /// system events a duty on several nodes may record (see
    /// [`SystemEvent::once_key`]) by what they are about.
    pub fn dedup_key(&self) -> Option<String> {
        let key = match self {
            Self::Message(m) => format!("message\0{}\0{}", m.channel, m.source_id),
            Self::Edit(e) => format!("edit\0{}\0{}", e.channel, e.source_id),
            Self::Deletion(d) => format!("deletion\0{}\0{}", d.channel, d.source_id),
            Self::Reaction(r) => format!("reaction\0{}\0{}", r.channel, r.source_id),
            Self::Status(s) => format!(
                "status\0{}\0{}\0{}\0{:?}",
                s.channel, s.target, s.recipient, s.state
            ),
            // Identical bytes delivered again (a retry) are kept once.
            Self::Raw(r) => format!("raw\0{}\0{}", r.source, Digest::of(&r.bytes)),
            // The same change, recorded twice (a keyword opt-out judged on
            // two cluster nodes, a resent STOP), is one change.
            Self::Consent(c) => format!(
                "consent\0{}\0{}\0{:?}\0{}\0{}\0{}",
                c.channel,
                c.party,
                c.state,
                c.at.as_micros(),
                c.recorded_by,
                c.evidence
            ),
            Self::System(s) => format!("system\0{}\0{}", s.action, s.once_key()?),
        };
        Some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_json_mirrors_the_import_format() {
        let mut extra = Extra::new();
        extra.insert("desk".into(), "fx".into());
        let event = Event::Message(Message {
            channel: "whatsapp".into(),
            source_id: "src-1".into(),
            conversation: "c-1".into(),
            sender: "+447700900001".into(),
            recipients: vec!["+5511988887777".into()],
            direction: Direction::Outbound,
            sent_at: Timestamp::from_micros(0),
            captured_at: Timestamp::from_micros(1),
            text: Some("hi".into()),
            attachments: vec![],
            reply_to: None,
            raw_digest: Digest::of(b"raw"),
            extra,
        });
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["kind"], "message");
        assert_eq!(json["id"], "src-1");
        assert_eq!(json["from"], "+447700900001");
        assert_eq!(json["to"][0], "+5511988887777");
        assert_eq!(json["direction"], "outbound");
        assert_eq!(json["sent_at"], "1970-01-01T00:00:00Z");
        assert_eq!(json["desk"], "fx");
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);
    }

    #[test]
    fn the_external_party_depends_on_direction() {
        let mut m = Message {
            channel: "sms".into(),
            source_id: "1".into(),
            conversation: "c".into(),
            sender: "+1".into(),
            recipients: vec!["+2".into(), "+3".into()],
            direction: Direction::Inbound,
            sent_at: Timestamp::from_micros(0),
            captured_at: Timestamp::from_micros(0),
            text: None,
            attachments: vec![],
            reply_to: None,
            raw_digest: Digest::default(),
            extra: Extra::new(),
        };
        assert_eq!(m.external_party(), Some("+1"));
        m.direction = Direction::Outbound;
        assert_eq!(m.external_party(), Some("+2"));
        m.direction = Direction::Internal;
        assert_eq!(m.external_party(), None);
    }

    #[test]
    fn duties_recorded_on_two_nodes_are_one_fact() {
        let system = |action: &str, target: &str, media: Option<&str>| {
            let mut details = Extra::new();
            if let Some(m) = media {
                details.insert("media_id".into(), m.into());
            }
            Event::System(SystemEvent {
                actor: "supervisor".into(),
                action: action.into(),
                target: Some(target.into()),
                at: Timestamp::now(),
                details,
            })
        };
        let raised = system("alert.raised", "AL-1", None).dedup_key();
        assert!(raised.is_some());
        assert_eq!(raised, system("alert.raised", "AL-1", None).dedup_key());
        assert_ne!(raised, system("alert.raised", "AL-2", None).dedup_key());
        // Audit events are distinct acts, even with the same target.
        assert_eq!(system("content.read", "AL-1", None).dedup_key(), None);
        assert_eq!(system("alert.assigned", "AL-1", None).dedup_key(), None);
        let fetched = system("whatsapp.media.fetched", "wamid.1", Some("m1")).dedup_key();
        assert!(fetched.is_some());
        assert_ne!(
            fetched,
            system("whatsapp.media.fetched", "wamid.1", Some("m2")).dedup_key()
        );
        assert_ne!(
            fetched,
            system("whatsapp.media.failed", "wamid.1", Some("m1")).dedup_key()
        );
        assert_eq!(
            system("whatsapp.media.fetched", "wamid.1", None).dedup_key(),
            None
        );
        let twilio = |index: u64| {
            let mut details = Extra::new();
            details.insert("message_sid".into(), "MM1".into());
            details.insert("index".into(), index.into());
            Event::System(SystemEvent {
                actor: "twilio-media".into(),
                action: "twilio.media.fetched".into(),
                target: None,
                at: Timestamp::now(),
                details,
            })
            .dedup_key()
        };
        assert!(twilio(0).is_some());
        assert_eq!(twilio(0), twilio(0));
        assert_ne!(twilio(0), twilio(1));

        let consent = |state: ConsentState, micros: i64| {
            Event::Consent(ConsentChange {
                channel: "whatsapp".into(),
                party: "+5511999990001".into(),
                state,
                evidence: "replied STOP".into(),
                at: Timestamp::from_micros(micros),
                recorded_by: "keyword".into(),
            })
            .dedup_key()
        };
        assert_eq!(
            consent(ConsentState::OptOut, 1),
            consent(ConsentState::OptOut, 1)
        );
        assert_ne!(
            consent(ConsentState::OptOut, 1),
            consent(ConsentState::OptOut, 2)
        );
        assert_ne!(
            consent(ConsentState::OptOut, 1),
            consent(ConsentState::OptIn, 1)
        );
    }
}
