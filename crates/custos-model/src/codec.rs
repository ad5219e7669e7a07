//! The stable binary encoding of events: what gets encrypted and committed.
//!
//! Layout: one byte [`ENCODING_VERSION`], one byte [`EventKind`], then the
//! kind's fields in their declared order. Integers are little-endian;
//! strings and lists carry a `u32` length; options a `0`/`1` tag; digests
//! their 32 raw bytes; timestamps an `i64` of microseconds; free-form extra
//! fields the compact JSON text of a key-sorted object. Decoding is strict:
//! unknown tags, invalid UTF-8 and trailing bytes are errors, so one event
//! has exactly one encoding.
//!
//! Changing any of this changes archived bytes: add a new version instead,
//! and keep decoding the old ones. The golden tests pin every kind.

use crate::event::Extra;
use crate::{
    Attachment, ConsentChange, ConsentState, Deletion, DeliveryState, DeliveryStatus, Digest,
    Direction, Edit, Event, EventKind, Message, RawPayload, Reaction, SystemEvent, Timestamp,
};

/// The version byte every encoding written today starts with.
pub const ENCODING_VERSION: u8 = 1;

/// Why bytes are not a valid event encoding.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The version byte is not one this build reads.
    #[error("unsupported event encoding version {0}")]
    UnsupportedVersion(u8),
    /// The kind byte is unknown.
    #[error("unknown event kind {0}")]
    UnknownKind(u8),
    /// The bytes end inside a field.
    #[error("encoding ends inside field `{0}`")]
    Truncated(&'static str),
    /// A field holds a value outside its domain.
    #[error("field `{field}` holds an invalid value: {problem}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// Bytes remain after the last field.
    #[error("{0} bytes follow the last field")]
    TrailingBytes(usize),
}

impl Event {
    /// The stable binary encoding of this event.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(256));
        w.u8(ENCODING_VERSION);
        w.u8(self.kind() as u8);
        match self {
            Event::Message(m) => {
                w.str(&m.channel);
                w.str(&m.source_id);
                w.str(&m.conversation);
                w.str(&m.sender);
                w.u32(len32(m.recipients.len()));
                for r in &m.recipients {
                    w.str(r);
                }
                w.u8(direction_byte(m.direction));
                w.time(m.sent_at);
                w.time(m.captured_at);
                w.opt_str(m.text.as_deref());
                w.u32(len32(m.attachments.len()));
                for a in &m.attachments {
                    w.opt_str(a.name.as_deref());
                    w.str(&a.media_type);
                    w.digest(&a.sha256);
                    w.u64(a.size);
                }
                w.opt_str(m.reply_to.as_deref());
                w.digest(&m.raw_digest);
                w.extra(&m.extra);
            }
            Event::Edit(e) => {
                w.str(&e.channel);
                w.str(&e.source_id);
                w.str(&e.target);
                w.str(&e.editor);
                w.time(e.edited_at);
                w.time(e.captured_at);
                w.str(&e.text);
                w.digest(&e.raw_digest);
            }
            Event::Deletion(d) => {
                w.str(&d.channel);
                w.str(&d.source_id);
                w.str(&d.target);
                w.str(&d.deleted_by);
                w.time(d.deleted_at);
                w.time(d.captured_at);
                w.digest(&d.raw_digest);
            }
            Event::Reaction(r) => {
                w.str(&r.channel);
                w.str(&r.source_id);
                w.str(&r.target);
                w.str(&r.sender);
                w.opt_str(r.emoji.as_deref());
                w.time(r.reacted_at);
                w.time(r.captured_at);
                w.digest(&r.raw_digest);
            }
            Event::Status(s) => {
                w.str(&s.channel);
                w.str(&s.target);
                w.str(&s.recipient);
                w.u8(delivery_byte(s.state));
                w.time(s.at);
                w.time(s.captured_at);
                w.opt_str(s.error.as_deref());
                w.digest(&s.raw_digest);
            }
            Event::Consent(c) => {
                w.str(&c.channel);
                w.str(&c.party);
                w.u8(match c.state {
                    ConsentState::OptIn => 1,
                    ConsentState::OptOut => 2,
                });
                w.str(&c.evidence);
                w.time(c.at);
                w.str(&c.recorded_by);
            }
            Event::System(s) => {
                w.str(&s.actor);
                w.str(&s.action);
                w.opt_str(s.target.as_deref());
                w.time(s.at);
                w.extra(&s.details);
            }
            Event::Raw(r) => {
                w.str(&r.source);
                w.str(&r.media_type);
                w.time(r.received_at);
                w.bytes(&r.bytes);
                w.extra(&r.details);
            }
        }
        w.0
    }

    /// Decodes bytes made by [`Event::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Event, DecodeError> {
        let mut r = Reader(bytes);
        let version = r.u8("version")?;
        if version != ENCODING_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let kind_byte = r.u8("kind")?;
        let kind = EventKind::from_byte(kind_byte).ok_or(DecodeError::UnknownKind(kind_byte))?;
        let event = match kind {
            EventKind::Message => Event::Message(Message {
                channel: r.str("channel")?,
                source_id: r.str("source_id")?,
                conversation: r.str("conversation")?,
                sender: r.str("sender")?,
                recipients: {
                    let n = r.u32("recipients")?;
                    let mut v = Vec::new();
                    for _ in 0..n {
                        v.push(r.str("recipients")?);
                    }
                    v
                },
                direction: match r.u8("direction")? {
                    0 => Direction::Unknown,
                    1 => Direction::Inbound,
                    2 => Direction::Outbound,
                    3 => Direction::Internal,
                    b => return Err(invalid("direction", b)),
                },
                sent_at: r.time("sent_at")?,
                captured_at: r.time("captured_at")?,
                text: r.opt_str("text")?,
                attachments: {
                    let n = r.u32("attachments")?;
                    let mut v = Vec::new();
                    for _ in 0..n {
                        v.push(Attachment {
                            name: r.opt_str("attachments.name")?,
                            media_type: r.str("attachments.media_type")?,
                            sha256: r.digest("attachments.sha256")?,
                            size: r.u64("attachments.size")?,
                        });
                    }
                    v
                },
                reply_to: r.opt_str("reply_to")?,
                raw_digest: r.digest("raw_digest")?,
                extra: r.extra("extra")?,
            }),
            EventKind::Edit => Event::Edit(Edit {
                channel: r.str("channel")?,
                source_id: r.str("source_id")?,
                target: r.str("target")?,
                editor: r.str("editor")?,
                edited_at: r.time("edited_at")?,
                captured_at: r.time("captured_at")?,
                text: r.str("text")?,
                raw_digest: r.digest("raw_digest")?,
            }),
            EventKind::Deletion => Event::Deletion(Deletion {
                channel: r.str("channel")?,
                source_id: r.str("source_id")?,
                target: r.str("target")?,
                deleted_by: r.str("deleted_by")?,
                deleted_at: r.time("deleted_at")?,
                captured_at: r.time("captured_at")?,
                raw_digest: r.digest("raw_digest")?,
            }),
            EventKind::Reaction => Event::Reaction(Reaction {
                channel: r.str("channel")?,
                source_id: r.str("source_id")?,
                target: r.str("target")?,
                sender: r.str("sender")?,
                emoji: r.opt_str("emoji")?,
                reacted_at: r.time("reacted_at")?,
                captured_at: r.time("captured_at")?,
                raw_digest: r.digest("raw_digest")?,
            }),
            EventKind::Status => Event::Status(DeliveryStatus {
                channel: r.str("channel")?,
                target: r.str("target")?,
                recipient: r.str("recipient")?,
                state: match r.u8("state")? {
                    1 => DeliveryState::Sent,
                    2 => DeliveryState::Delivered,
                    3 => DeliveryState::Read,
                    4 => DeliveryState::Played,
                    5 => DeliveryState::Failed,
                    b => return Err(invalid("state", b)),
                },
                at: r.time("at")?,
                captured_at: r.time("captured_at")?,
                error: r.opt_str("error")?,
                raw_digest: r.digest("raw_digest")?,
            }),
            EventKind::Consent => Event::Consent(ConsentChange {
                channel: r.str("channel")?,
                party: r.str("party")?,
                state: match r.u8("state")? {
                    1 => ConsentState::OptIn,
                    2 => ConsentState::OptOut,
                    b => return Err(invalid("state", b)),
                },
                evidence: r.str("evidence")?,
                at: r.time("at")?,
                recorded_by: r.str("recorded_by")?,
            }),
            EventKind::System => Event::System(SystemEvent {
                actor: r.str("actor")?,
                action: r.str("action")?,
                target: r.opt_str("target")?,
                at: r.time("at")?,
                details: r.extra("details")?,
            }),
            EventKind::Raw => Event::Raw(RawPayload {
                source: r.str("source")?,
                media_type: r.str("media_type")?,
                received_at: r.time("received_at")?,
                bytes: r.bytes("bytes")?,
                details: r.extra("details")?,
            }),
        };
        if !r.0.is_empty() {
            return Err(DecodeError::TrailingBytes(r.0.len()));
        }
        Ok(event)
    }
}

fn invalid(field: &'static str, byte: u8) -> DecodeError {
    DecodeError::Invalid {
        field,
        problem: format!("unknown tag {byte}"),
    }
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).expect("a field longer than 4 GiB cannot be archived")
}

fn direction_byte(d: Direction) -> u8 {
    match d {
        Direction::Unknown => 0,
        Direction::Inbound => 1,
        Direction::Outbound => 2,
        Direction::Internal => 3,
    }
}

fn delivery_byte(s: DeliveryState) -> u8 {
    match s {
        DeliveryState::Sent => 1,
        DeliveryState::Delivered => 2,
        DeliveryState::Read => 3,
        DeliveryState::Played => 4,
        DeliveryState::Failed => 5,
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn time(&mut self, t: Timestamp) {
        self.0.extend_from_slice(&t.as_micros().to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(len32(s.len()));
        self.0.extend_from_slice(s.as_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(len32(b.len()));
        self.0.extend_from_slice(b);
    }
    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }
    fn digest(&mut self, d: &Digest) {
        self.0.extend_from_slice(d.as_bytes());
    }
    fn extra(&mut self, extra: &Extra) {
        // serde_json's Map keeps keys sorted (no `preserve_order`), so the
        // text is canonical for a given map.
        let text = if extra.is_empty() {
            String::new()
        } else {
            serde_json::to_string(extra).expect("a JSON map always serialises")
        };
        self.str(&text);
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&[u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated(field));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N, field)?;
        Ok(bytes.try_into().expect("take returned N bytes"))
    }
    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }
    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }
    fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }
    fn time(&mut self, field: &'static str) -> Result<Timestamp, DecodeError> {
        Ok(Timestamp::from_micros(i64::from_le_bytes(
            self.array(field)?,
        )))
    }
    fn str(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let n = self.u32(field)? as usize;
        let bytes = self.take(n, field)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::Invalid {
            field,
            problem: "not UTF-8".into(),
        })
    }
    fn bytes(&mut self, field: &'static str) -> Result<Vec<u8>, DecodeError> {
        let n = self.u32(field)? as usize;
        Ok(self.take(n, field)?.to_vec())
    }
    fn opt_str(&mut self, field: &'static str) -> Result<Option<String>, DecodeError> {
        match self.u8(field)? {
            0 => Ok(None),
            1 => Ok(Some(self.str(field)?)),
            b => Err(invalid(field, b)),
        }
    }
    fn digest(&mut self, field: &'static str) -> Result<Digest, DecodeError> {
        Ok(Digest::from_bytes(self.array(field)?))
    }
    fn extra(&mut self, field: &'static str) -> Result<Extra, DecodeError> {
        let text = self.str(field)?;
        if text.is_empty() {
            return Ok(Extra::new());
        }
        let map: Extra = serde_json::from_str(&text).map_err(|e| DecodeError::Invalid {
            field,
            problem: e.to_string(),
        })?;
        if map.is_empty() || serde_json::to_string(&map).ok().as_deref() != Some(text.as_str()) {
            return Err(DecodeError::Invalid {
                field,
                problem: "not canonical JSON".into(),
            });
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_text() -> impl Strategy<Value = String> {
        prop_oneof!["[a-z0-9+@.-]{0,12}", "\\PC{0,40}"]
    }

    fn any_message() -> impl Strategy<Value = Event> {
        (
            any_text(),
            any_text(),
            proptest::collection::vec(any_text(), 0..4),
            proptest::option::of(any_text()),
            any::<i64>(),
            any::<[u8; 32]>(),
            proptest::collection::vec((proptest::option::of(any_text()), any::<u64>()), 0..3),
        )
            .prop_map(|(channel, sender, recipients, text, t, d, atts)| {
                Event::Message(Message {
                    channel,
                    source_id: "id".into(),
                    conversation: "c".into(),
                    sender,
                    recipients,
                    direction: Direction::Outbound,
                    sent_at: Timestamp::from_micros(t),
                    captured_at: Timestamp::from_micros(t / 2),
                    text,
                    attachments: atts
                        .into_iter()
                        .map(|(name, size)| Attachment {
                            name,
                            media_type: "image/jpeg".into(),
                            sha256: Digest::from_bytes(d),
                            size,
                        })
                        .collect(),
                    reply_to: None,
                    raw_digest: Digest::from_bytes(d),
                    extra: Extra::new(),
                })
            })
    }

    proptest! {
        #[test]
        fn messages_round_trip(event in any_message()) {
            let bytes = event.encode();
            prop_assert_eq!(Event::decode(&bytes).unwrap(), event);
        }

        #[test]
        fn every_strict_prefix_is_rejected(event in any_message()) {
            let bytes = event.encode();
            for cut in 0..bytes.len() {
                prop_assert!(Event::decode(&bytes[..cut]).is_err());
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Event::decode(&bytes);
        }
    }

    #[test]
    fn trailing_bytes_and_bad_tags_are_rejected() {
        let event = Event::System(SystemEvent {
            actor: "a".into(),
            action: "b".into(),
            target: None,
            at: Timestamp::from_micros(1),
            details: Extra::new(),
        });
        let mut bytes = event.encode();
        bytes.push(0);
        assert_eq!(Event::decode(&bytes), Err(DecodeError::TrailingBytes(1)));
        assert_eq!(
            Event::decode(&[2, 1]),
            Err(DecodeError::UnsupportedVersion(2))
        );
        assert_eq!(Event::decode(&[1, 99]), Err(DecodeError::UnknownKind(99)));
    }
}
