//! WhatsApp Business Cloud API webhooks: the POST bodies Meta delivers,
//! parsed into canonical events.
//!
//! ```text
//! {"object":"whatsapp_business_account","entry":[{"id":"<WABA id>","changes":[
//!   {"field":"messages","value":{"metadata":{"display_phone_number":"15550001111",
//!    "phone_number_id":"109876543210987"},"contacts":[...],"messages":[...],"statuses":[...]}}]}]}
//! ```
//!
//! [`parse`] takes the raw body exactly as received and returns every event
//! it carries, in order: all entries, all changes, all messages, statuses and
//! other items. It does no I/O; the server stores the body as a blob by its
//! SHA-256, which is every event's `raw_digest`.
//!
//! Malformed input (not JSON, the wrong `object`, a missing `entry`, a field
//! of the wrong type, a missing required field) is a [`WebhookError`] naming
//! the JSON path, e.g.
//! `entry[0].changes[1].value.messages[2].timestamp: expected a string or number, got an array`.
//! Unknown fields are tolerated; unknown `field`s and message types are kept
//! (as system events and messages carrying the raw JSON), never dropped, and
//! reported as [`Note`]s.
//!
//! Mapping, per change `field`:
//! - `messages`: `messages[]` become inbound [`Message`]s, or [`Reaction`],
//!   [`Edit`] and [`Deletion`] events for `reaction`, `edit` and `revoke`;
//!   `statuses[]` become [`DeliveryStatus`]es; value-level `errors[]` a
//!   `whatsapp.webhook_error` system event.
//! - `smb_message_echoes`: `message_echoes[]`, what the employee sent from the
//!   WhatsApp Business app, become outbound messages (and their edits,
//!   revokes and reactions).
//! - `history`: each chunk's thread messages (direction by `from` against the
//!   business number), then a `whatsapp.history_chunk` system event with its
//!   phase, chunk order and progress; a chunk with errors becomes
//!   `whatsapp.history_declined` (code 2593109) or `whatsapp.history_error`.
//!   A `media_placeholder` becomes a `whatsapp.history_media_placeholder`
//!   system event, so that the later webhook with the media's content (the
//!   same wamid, in `value.messages[]`) is archived as the message.
//! - `user_preferences`: marketing `stop`/`resume` become [`ConsentChange`]s.
//! - `smb_app_state_sync`: each `state_sync[]` item becomes a
//!   `whatsapp.contact_sync` system event.
//! - anything else: a `whatsapp.webhook_field` system event holding the value.
//!
//! Type-specific data the model has no place for sits in `Message.extra`
//! under `"whatsapp"`: the type, the type's object as it came (location,
//! contacts, interactive, button, order, system, media), `context`,
//! `forwarded`, `referral`, `group_id`, `errors`, `history_context`, the
//! participant's `user_id` (BSUID) and profile name, and any top-level field
//! of the message this parser does not know.
//!
//! Phone numbers are normalised to digits (`+1 650-555-1234` becomes
//! `16505551234`), since inbound webhooks give `wa_id`s without `+` and
//! echoes may give them with; other identifiers (BSUIDs) are kept as they
//! came.

use custos_model::{
    Attachment, ConsentChange, ConsentState, Deletion, DeliveryState, DeliveryStatus, Digest,
    Direction, Edit, Event, Message, Reaction, SystemEvent, Timestamp,
};
use serde_json::{Map, Value};

/// The channel name of every event this module produces.
pub const CHANNEL: &str = "whatsapp";

/// The only `object` a WhatsApp webhook carries.
pub const OBJECT: &str = "whatsapp_business_account";

/// The error code Meta sends in a history webhook when the business declined
/// to share its chat history.
pub const HISTORY_DECLINED_CODE: i64 = 2_593_109;

/// A body that is not a valid WhatsApp webhook payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The body is not JSON.
    #[error("not valid JSON at line {line}, column {column}: {message}")]
    Json {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What serde_json found.
        message: String,
    },
    /// A value is missing or has the wrong type.
    #[error("{path}: {problem}")]
    Invalid {
        /// JSON path of the offending value, e.g. `entry[0].changes[1].field`
        /// (`body` for the whole body).
        path: String,
        /// What is wrong.
        problem: String,
    },
}

impl WebhookError {
    /// The JSON path of the offending value, if one is to blame.
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::Json { .. } => None,
            Self::Invalid { path, .. } => Some(path),
        }
    }
}

/// Something worth knowing about a valid payload: an unknown type or field
/// kept whole, a media digest that could not be decoded, errors Meta sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// JSON path of the value concerned.
    pub path: String,
    /// What was noticed.
    pub message: String,
}

/// One event of a payload, with what the journal needs beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEvent {
    /// The canonical event.
    pub event: Event,
    /// The external party whose data key encrypts it: the customer's
    /// `wa_id` (or BSUID when there is no number); `None` for events about
    /// the business only.
    pub subject: Option<String>,
    /// The change `field` that brought it: `messages`,
    /// `smb_message_echoes`, `history`, ...
    pub field: String,
    /// The business number the change came through (its display number,
    /// else its phone number id): whose capture this is.
    pub business: String,
}

/// Everything a payload carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The events, in payload order.
    pub events: Vec<ParsedEvent>,
    /// Observations about the payload; none of them is an error.
    pub notes: Vec<Note>,
}

/// Parses a webhook POST body, exactly as received, into events captured at
/// `captured_at`.
pub fn parse(raw: &[u8], captured_at: Timestamp) -> Result<Parsed, WebhookError> {
    let root: Value = serde_json::from_slice(raw).map_err(|e| WebhookError::Json {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let raw_digest = Digest::of(raw);
    let root = as_obj(&root, "body")?;
    match root.get("object") {
        None | Some(Value::Null) => return Err(invalid("object", "is required")),
        Some(Value::String(s)) if s == OBJECT => {}
        Some(Value::String(s)) => {
            return Err(invalid("object", format!("expected {OBJECT:?}, got {s:?}")));
        }
        Some(other) => {
            return Err(invalid(
                "object",
                format!("expected a string, got {}", kind(other)),
            ));
        }
    }
    let entries = match root.get("entry") {
        None | Some(Value::Null) => return Err(invalid("entry", "is required")),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(invalid(
                "entry",
                format!("expected an array, got {}", kind(other)),
            ));
        }
    };
    let mut out = Parsed::default();
    for (i, entry) in entries.iter().enumerate() {
        let path = format!("entry[{i}]");
        let entry = as_obj(entry, &path)?;
        let waba_id = id_string(entry, "id", &path)?;
        for (j, change) in array(entry, "changes", &path)?.iter().enumerate() {
            let path = format!("{path}.changes[{j}]");
            let change = as_obj(change, &path)?;
            let field = req_str(change, "field", &path)?;
            let value_path = format!("{path}.value");
            let value = match change.get("value") {
                None | Some(Value::Null) => return Err(invalid(&value_path, "is required")),
                Some(v) => as_obj(v, &value_path)?,
            };
            let ctx = Change::new(
                field,
                waba_id.clone(),
                value,
                &value_path,
                captured_at,
                raw_digest,
            )?;
            ctx.parse(value, &value_path, &mut out)?;
        }
    }
    Ok(out)
}

/// How a message's direction and parties are found.
#[derive(Clone, Copy)]
enum Mode<'a> {
    /// `messages`: from the customer to the business.
    Inbound,
    /// `smb_message_echoes`: from the business (app) to `to`.
    Echo,
    /// `history`: either way, by `from`; `thread` is the thread's customer.
    History { thread: Option<&'a str> },
}

/// One change of the payload and what its items share.
struct Change<'a> {
    field: &'a str,
    waba_id: Option<String>,
    phone_number_id: Option<&'a str>,
    display_phone_number: Option<&'a str>,
    contacts: Vec<&'a Map<String, Value>>,
    captured_at: Timestamp,
    raw_digest: Digest,
}

impl<'a> Change<'a> {
    fn new(
        field: &'a str,
        waba_id: Option<String>,
        value: &'a Map<String, Value>,
        path: &str,
        captured_at: Timestamp,
        raw_digest: Digest,
    ) -> Result<Self, WebhookError> {
        let metadata_path = format!("{path}.metadata");
        let needs_metadata = matches!(field, "messages" | "smb_message_echoes" | "history");
        let (phone_number_id, display_phone_number) = match opt_obj(value, "metadata", path)? {
            Some(m) => (
                opt_str(m, "phone_number_id", &metadata_path)?,
                opt_str(m, "display_phone_number", &metadata_path)?,
            ),
            None if needs_metadata => return Err(invalid(&metadata_path, "is required")),
            None => (None, None),
        };
        if needs_metadata && phone_number_id.is_none() {
            return Err(invalid(
                &format!("{metadata_path}.phone_number_id"),
                "is required",
            ));
        }
        let contacts_path = format!("{path}.contacts");
        let contacts = array(value, "contacts", path)?
            .iter()
            .enumerate()
            .map(|(i, c)| as_obj(c, &format!("{contacts_path}[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            field,
            waba_id,
            phone_number_id,
            display_phone_number,
            contacts,
            captured_at,
            raw_digest,
        })
    }

    /// The business's address: its display number, else its phone number id.
    fn business(&self) -> String {
        self.display_phone_number
            .map(party)
            .or_else(|| self.phone_number_id.map(str::to_string))
            .unwrap_or_else(|| CHANNEL.to_string())
    }

    fn is_business(&self, address: &str) -> bool {
        let address = party(address);
        self.display_phone_number.map(party).as_deref() == Some(address.as_str())
            || self.phone_number_id == Some(address.as_str())
    }

    fn push(&self, out: &mut Parsed, event: Event, subject: Option<String>) {
        out.events.push(ParsedEvent {
            event,
            subject,
            field: self.field.to_string(),
            business: self.business(),
        });
    }

    fn system(
        &self,
        action: &str,
        target: Option<String>,
        at: Timestamp,
        details: Map<String, Value>,
    ) -> Event {
        let mut all = Map::new();
        all.insert("field".into(), self.field.into());
        if let Some(id) = &self.waba_id {
            all.insert("waba_id".into(), id.clone().into());
        }
        if let Some(id) = self.phone_number_id {
            all.insert("phone_number_id".into(), id.into());
        }
        all.extend(details);
        Event::System(SystemEvent {
            actor: CHANNEL.to_string(),
            action: action.to_string(),
            target,
            at,
            details: all,
        })
    }

    fn parse(
        &self,
        value: &Map<String, Value>,
        path: &str,
        out: &mut Parsed,
    ) -> Result<(), WebhookError> {
        match self.field {
            "messages" => {
                for (i, m) in array(value, "messages", path)?.iter().enumerate() {
                    self.message(m, &format!("{path}.messages[{i}]"), Mode::Inbound, out)?;
                }
                for (i, s) in array(value, "statuses", path)?.iter().enumerate() {
                    self.status(s, &format!("{path}.statuses[{i}]"), out)?;
                }
                let errors = array(value, "errors", path)?;
                if !errors.is_empty() {
                    out.notes.push(Note {
                        path: format!("{path}.errors"),
                        message: format!(
                            "Meta reported {} error(s): {}",
                            errors.len(),
                            describe_errors(errors)
                        ),
                    });
                    let mut details = Map::new();
                    details.insert("errors".into(), Value::Array(errors.to_vec()));
                    let event =
                        self.system("whatsapp.webhook_error", None, self.captured_at, details);
                    self.push(out, event, None);
                }
            }
            "smb_message_echoes" => {
                for (i, m) in array(value, "message_echoes", path)?.iter().enumerate() {
                    self.message(m, &format!("{path}.message_echoes[{i}]"), Mode::Echo, out)?;
                }
            }
            "history" => {
                for (i, chunk) in array(value, "history", path)?.iter().enumerate() {
                    self.history_chunk(chunk, &format!("{path}.history[{i}]"), out)?;
                }
                // Media contents of earlier placeholders come as `messages[]`.
                for (i, m) in array(value, "messages", path)?.iter().enumerate() {
                    self.message(
                        m,
                        &format!("{path}.messages[{i}]"),
                        Mode::History { thread: None },
                        out,
                    )?;
                }
            }
            "user_preferences" => {
                for (i, p) in array(value, "user_preferences", path)?.iter().enumerate() {
                    self.preference(p, &format!("{path}.user_preferences[{i}]"), out)?;
                }
            }
            "smb_app_state_sync" => {
                for (i, s) in array(value, "state_sync", path)?.iter().enumerate() {
                    self.state_sync(s, &format!("{path}.state_sync[{i}]"), out)?;
                }
            }
            other => {
                out.notes.push(Note {
                    path: path.to_string(),
                    message: format!("field {other:?} is not parsed; kept whole as a system event"),
                });
                let mut details = Map::new();
                details.insert("value".into(), Value::Object(value.clone()));
                let event = self.system(
                    "whatsapp.webhook_field",
                    Some(other.to_string()),
                    self.captured_at,
                    details,
                );
                self.push(out, event, None);
            }
        }
        Ok(())
    }

    fn history_chunk(
        &self,
        chunk: &Value,
        path: &str,
        out: &mut Parsed,
    ) -> Result<(), WebhookError> {
        let chunk = as_obj(chunk, path)?;
        let mut threads_count = 0;
        let mut messages_count = 0;
        for (i, thread) in array(chunk, "threads", path)?.iter().enumerate() {
            let thread_path = format!("{path}.threads[{i}]");
            let thread = as_obj(thread, &thread_path)?;
            let thread_id = opt_str(thread, "id", &thread_path)?;
            threads_count += 1;
            for (j, m) in array(thread, "messages", &thread_path)?.iter().enumerate() {
                let mode = Mode::History { thread: thread_id };
                self.message(m, &format!("{thread_path}.messages[{j}]"), mode, out)?;
                messages_count += 1;
            }
        }
        let mut details = Map::new();
        if let Some(metadata) = opt_obj(chunk, "metadata", path)? {
            for key in ["phase", "chunk_order", "progress"] {
                if let Some(v) = metadata.get(key) {
                    details.insert(key.into(), v.clone());
                }
            }
        }
        let errors = array(chunk, "errors", path)?;
        let action = if errors.is_empty() {
            details.insert("threads".into(), threads_count.into());
            details.insert("messages".into(), messages_count.into());
            "whatsapp.history_chunk"
        } else {
            out.notes.push(Note {
                path: format!("{path}.errors"),
                message: format!("history: {}", describe_errors(errors)),
            });
            details.insert("errors".into(), Value::Array(errors.to_vec()));
            let declined = errors
                .iter()
                .any(|e| e.get("code").and_then(Value::as_i64) == Some(HISTORY_DECLINED_CODE));
            if declined {
                "whatsapp.history_declined"
            } else {
                "whatsapp.history_error"
            }
        };
        let target = self.phone_number_id.map(str::to_string);
        let event = self.system(action, target, self.captured_at, details);
        self.push(out, event, None);
        Ok(())
    }

    fn preference(&self, p: &Value, path: &str, out: &mut Parsed) -> Result<(), WebhookError> {
        let p = as_obj(p, path)?;
        let wa_id = party(req_str(p, "wa_id", path)?);
        let value = req_str(p, "value", path)?;
        let category = opt_str(p, "category", path)?;
        let detail = opt_str(p, "detail", path)?;
        let at = timestamp(p, "timestamp", path)?;
        let state = match value {
            "stop" => Some(ConsentState::OptOut),
            "resume" => Some(ConsentState::OptIn),
            _ => None,
        };
        let event = match state {
            Some(state) => {
                let mut evidence = format!(
                    "WhatsApp user_preferences webhook: {} {value}",
                    category.unwrap_or("(no category)")
                );
                if let Some(detail) = detail {
                    evidence.push_str(&format!(" ({detail:?})"));
                }
                evidence.push_str(&format!(" for business number {}", self.business()));
                if let Some(id) = self.phone_number_id {
                    evidence.push_str(&format!(" (phone_number_id {id})"));
                }
                Event::Consent(ConsentChange {
                    channel: CHANNEL.to_string(),
                    party: wa_id.clone(),
                    state,
                    evidence,
                    at,
                    recorded_by: "webhook".to_string(),
                })
            }
            None => {
                out.notes.push(Note {
                    path: format!("{path}.value"),
                    message: format!("unknown preference {value:?}; kept as a system event"),
                });
                let mut details = Map::new();
                details.insert("preference".into(), Value::Object(p.clone()));
                self.system("whatsapp.user_preference", Some(wa_id.clone()), at, details)
            }
        };
        self.push(out, event, Some(wa_id));
        Ok(())
    }

    fn state_sync(&self, s: &Value, path: &str, out: &mut Parsed) -> Result<(), WebhookError> {
        let s = as_obj(s, path)?;
        let ty = opt_str(s, "type", path)?;
        let contact_path = format!("{path}.contact");
        let (action, number) = match opt_obj(s, "contact", path)? {
            Some(c) => (
                "whatsapp.contact_sync",
                opt_str(c, "phone_number", &contact_path)?.map(party),
            ),
            None => ("whatsapp.app_state_sync", None),
        };
        let metadata_path = format!("{path}.metadata");
        let at = match opt_obj(s, "metadata", path)? {
            Some(m) if m.get("timestamp").is_some_and(|t| !t.is_null()) => {
                timestamp(m, "timestamp", &metadata_path)?
            }
            _ => self.captured_at,
        };
        if ty.is_some_and(|t| t != "contact") {
            out.notes.push(Note {
                path: format!("{path}.type"),
                message: format!("app state sync of type {ty:?}; kept whole"),
            });
        }
        let mut details = Map::new();
        for (k, v) in s {
            details.insert(k.clone(), v.clone());
        }
        let event = self.system(action, number.clone(), at, details);
        self.push(out, event, number);
        Ok(())
    }

    fn status(&self, s: &Value, path: &str, out: &mut Parsed) -> Result<(), WebhookError> {
        let s = as_obj(s, path)?;
        let target = req_str(s, "id", path)?;
        let status = req_str(s, "status", path)?;
        let at = timestamp(s, "timestamp", path)?;
        let recipient = match (
            opt_str(s, "recipient_id", path)?,
            opt_str(s, "recipient_user_id", path)?,
        ) {
            (Some(r), _) | (None, Some(r)) => party(r),
            (None, None) => return Err(invalid(&format!("{path}.recipient_id"), "is required")),
        };
        let errors = array(s, "errors", path)?;
        let state = match status {
            "sent" => Some(DeliveryState::Sent),
            "delivered" => Some(DeliveryState::Delivered),
            "read" => Some(DeliveryState::Read),
            "played" => Some(DeliveryState::Played),
            "failed" => Some(DeliveryState::Failed),
            _ => None,
        };
        let event = match state {
            Some(state) => Event::Status(DeliveryStatus {
                channel: CHANNEL.to_string(),
                target: target.to_string(),
                recipient: recipient.clone(),
                state,
                at,
                captured_at: self.captured_at,
                error: (!errors.is_empty()).then(|| describe_errors(errors)),
                raw_digest: self.raw_digest,
            }),
            None => {
                out.notes.push(Note {
                    path: format!("{path}.status"),
                    message: format!("unknown status {status:?}; kept as a system event"),
                });
                let mut details = Map::new();
                details.insert("status".into(), Value::Object(s.clone()));
                self.system("whatsapp.status", Some(target.to_string()), at, details)
            }
        };
        self.push(out, event, Some(recipient));
        Ok(())
    }

    fn message(
        &self,
        msg: &Value,
        path: &str,
        mode: Mode<'_>,
        out: &mut Parsed,
    ) -> Result<(), WebhookError> {
        let m = as_obj(msg, path)?;
        let wamid = req_str(m, "id", path)?;
        let ty = opt_str(m, "type", path)?.unwrap_or("unknown");
        let at = timestamp(m, "timestamp", path)?;
        let from = opt_str(m, "from", path)?.or(opt_str(m, "from_user_id", path)?);
        let to = opt_str(m, "to", path)?.or(opt_str(m, "to_user_id", path)?);
        let group_id = opt_str(m, "group_id", path)?;
        let business = self.business();
        let (direction, sender, customer) = match mode {
            Mode::Inbound => {
                let from = from.ok_or_else(|| invalid(&format!("{path}.from"), "is required"))?;
                (Direction::Inbound, party(from), party(from))
            }
            Mode::Echo => {
                let to = to.ok_or_else(|| invalid(&format!("{path}.to"), "is required"))?;
                let sender = from.map(party).unwrap_or_else(|| business.clone());
                (Direction::Outbound, sender, party(to))
            }
            Mode::History { thread } => {
                let from = from.ok_or_else(|| invalid(&format!("{path}.from"), "is required"))?;
                if self.is_business(from) {
                    let customer = to.or(thread).ok_or_else(|| {
                        invalid(
                            &format!("{path}.to"),
                            "is required for a message the business sent",
                        )
                    })?;
                    (Direction::Outbound, party(from), party(customer))
                } else {
                    (Direction::Inbound, party(from), party(from))
                }
            }
        };
        let recipients = match direction {
            Direction::Inbound => vec![business],
            _ => vec![customer.clone()],
        };
        let subject = Some(customer.clone());
        match ty {
            "reaction" => {
                let r_path = format!("{path}.reaction");
                let r = req_obj(m, "reaction", path)?;
                let target = req_str(r, "message_id", &r_path)?;
                let emoji = opt_str(r, "emoji", &r_path)?.filter(|e| !e.is_empty());
                let event = Event::Reaction(Reaction {
                    channel: CHANNEL.to_string(),
                    source_id: wamid.to_string(),
                    target: target.to_string(),
                    sender,
                    emoji: emoji.map(str::to_string),
                    reacted_at: at,
                    captured_at: self.captured_at,
                    raw_digest: self.raw_digest,
                });
                self.push(out, event, subject);
                return Ok(());
            }
            "edit" => {
                let e_path = format!("{path}.edit");
                let e = req_obj(m, "edit", path)?;
                let target = req_str(e, "original_message_id", &e_path)?;
                let text = match opt_obj(e, "message", &e_path)? {
                    Some(new) => {
                        let new_path = format!("{e_path}.message");
                        let new_type = opt_str(new, "type", &new_path)?.unwrap_or("unknown");
                        let mut scratch = Map::new();
                        let (text, _) =
                            content(new_type, new, &new_path, &mut scratch, &mut Vec::new())?;
                        match text {
                            Some(t) if !is_placeholder(&t) => t,
                            _ => Value::Object(new.clone()).to_string(),
                        }
                    }
                    None => {
                        out.notes.push(Note {
                            path: format!("{e_path}.message"),
                            message: "edit without new content; recorded with empty text".into(),
                        });
                        String::new()
                    }
                };
                let event = Event::Edit(Edit {
                    channel: CHANNEL.to_string(),
                    source_id: wamid.to_string(),
                    target: target.to_string(),
                    editor: sender,
                    edited_at: at,
                    captured_at: self.captured_at,
                    text,
                    raw_digest: self.raw_digest,
                });
                self.push(out, event, subject);
                return Ok(());
            }
            "revoke" => {
                let r = req_obj(m, "revoke", path)?;
                let target = req_str(r, "original_message_id", &format!("{path}.revoke"))?;
                let event = Event::Deletion(Deletion {
                    channel: CHANNEL.to_string(),
                    source_id: wamid.to_string(),
                    target: target.to_string(),
                    deleted_by: sender,
                    deleted_at: at,
                    captured_at: self.captured_at,
                    raw_digest: self.raw_digest,
                });
                self.push(out, event, subject);
                return Ok(());
            }
            "media_placeholder" => {
                let mut details = Map::new();
                details.insert("message".into(), Value::Object(m.clone()));
                details.insert(
                    "conversation".into(),
                    self.conversation(group_id, &customer).into(),
                );
                let event = self.system(
                    "whatsapp.history_media_placeholder",
                    Some(wamid.to_string()),
                    at,
                    details,
                );
                self.push(out, event, subject);
                return Ok(());
            }
            _ => {}
        }

        let mut wa = Map::new();
        wa.insert("type".into(), ty.into());
        wa.insert("field".into(), self.field.into());
        if let Some(id) = self.phone_number_id {
            wa.insert("phone_number_id".into(), id.into());
        }
        if let Some(contact) = self.contact_for(&customer) {
            let profile_name = contact
                .get("profile")
                .and_then(|p| p.get("name"))
                .and_then(Value::as_str);
            if let Some(name) = profile_name {
                wa.insert("profile_name".into(), name.into());
            }
            for key in ["wa_id", "user_id", "parent_user_id", "identity_key_hash"] {
                if let Some(v) = contact.get(key).filter(|v| !v.is_null()) {
                    wa.insert(key.into(), v.clone());
                }
            }
        }
        let mut reply_to = None;
        if let Some(ctx) = opt_obj(m, "context", path)? {
            let ctx_path = format!("{path}.context");
            reply_to = opt_str(ctx, "id", &ctx_path)?.map(str::to_string);
            opt_str(ctx, "from", &ctx_path)?;
            for flag in ["forwarded", "frequently_forwarded"] {
                match ctx.get(flag) {
                    None | Some(Value::Null) => {}
                    Some(Value::Bool(b)) => {
                        wa.insert(flag.into(), (*b).into());
                    }
                    Some(other) => {
                        return Err(invalid(
                            &format!("{ctx_path}.{flag}"),
                            format!("expected a boolean, got {}", kind(other)),
                        ));
                    }
                }
            }
            wa.insert("context".into(), Value::Object(ctx.clone()));
        }
        if let Some(referral) = opt_obj(m, "referral", path)? {
            wa.insert("referral".into(), Value::Object(referral.clone()));
        }
        let errors = array(m, "errors", path)?;
        if !errors.is_empty() {
            wa.insert("errors".into(), Value::Array(errors.to_vec()));
        }
        if let Some(g) = group_id {
            wa.insert("group_id".into(), g.into());
        }
        if let Some(h) = opt_obj(m, "history_context", path)? {
            wa.insert("history_context".into(), Value::Object(h.clone()));
        }
        if let Some(to) = to
            && party(to) != to
            && direction == Direction::Outbound
        {
            wa.insert("to".into(), to.into());
        }
        const KNOWN: &[&str] = &[
            "id",
            "type",
            "timestamp",
            "from",
            "from_user_id",
            "to",
            "to_user_id",
            "group_id",
            "context",
            "referral",
            "errors",
            "history_context",
        ];
        for (k, v) in m {
            if !KNOWN.contains(&k.as_str()) && k != ty {
                wa.insert(k.clone(), v.clone());
            }
        }
        let (text, attachments) = content(ty, m, path, &mut wa, &mut out.notes)?;
        let mut extra = Map::new();
        extra.insert(CHANNEL.into(), Value::Object(wa));
        let event = Event::Message(Message {
            channel: CHANNEL.to_string(),
            source_id: wamid.to_string(),
            conversation: self.conversation(group_id, &customer),
            sender,
            recipients,
            direction,
            sent_at: at,
            captured_at: self.captured_at,
            text,
            attachments,
            reply_to,
            raw_digest: self.raw_digest,
            extra,
        });
        self.push(out, event, subject);
        Ok(())
    }

    fn conversation(&self, group_id: Option<&str>, customer: &str) -> String {
        let line = self.phone_number_id.unwrap_or(CHANNEL);
        format!("{line}:{}", group_id.unwrap_or(customer))
    }

    /// The `contacts[]` entry describing `customer`, by `wa_id` or `user_id`.
    fn contact_for(&self, customer: &str) -> Option<&'a Map<String, Value>> {
        self.contacts.iter().copied().find(|c| {
            ["wa_id", "user_id"].iter().any(|key| {
                c.get(*key)
                    .and_then(Value::as_str)
                    .is_some_and(|v| party(v) == customer)
            })
        })
    }
}

/// The text and attachments of a message of type `ty`; keeps the type's
/// object in `wa`.
fn content(
    ty: &str,
    m: &Map<String, Value>,
    path: &str,
    wa: &mut Map<String, Value>,
    notes: &mut Vec<Note>,
) -> Result<(Option<String>, Vec<Attachment>), WebhookError> {
    let o_path = format!("{path}.{ty}");
    let mut keep = |o: &Map<String, Value>| {
        wa.insert(ty.to_string(), Value::Object(o.clone()));
    };
    let text = match ty {
        "text" => {
            let o = req_obj(m, "text", path)?;
            let body = req_str(o, "body", &o_path)?;
            if o.keys().any(|k| k != "body") {
                keep(o);
            }
            body.to_string()
        }
        "image" | "video" | "audio" | "document" | "sticker" => {
            let o = req_obj(m, ty, path)?;
            keep(o);
            let caption = opt_str(o, "caption", &o_path)?;
            let mime = opt_str(o, "mime_type", &o_path)?;
            let filename = opt_str(o, "filename", &o_path)?;
            opt_str(o, "id", &o_path)?;
            let mut attachments = Vec::new();
            match opt_str(o, "sha256", &o_path)? {
                Some(sha) => match decode_sha256(sha) {
                    Some(digest) => {
                        attachments.push(Attachment {
                            name: filename.map(str::to_string),
                            media_type: mime.unwrap_or("application/octet-stream").to_string(),
                            sha256: digest,
                            size: 0,
                        });
                        wa.insert("size_known".into(), false.into());
                    }
                    None => {
                        wa.insert("sha256_valid".into(), false.into());
                        notes.push(Note {
                            path: format!("{o_path}.sha256"),
                            message: format!(
                                "neither 64 hex digits nor the base64 of 32 bytes: {sha:?}; no attachment recorded"
                            ),
                        });
                    }
                },
                None => {
                    notes.push(Note {
                        path: format!("{o_path}.sha256"),
                        message: "media without sha256; no attachment recorded".into(),
                    });
                }
            }
            let text = match caption {
                Some(c) => Some(c.to_string()),
                None if attachments.is_empty() => Some(format!("[{ty}]")),
                None => None,
            };
            return Ok((text, attachments));
        }
        "location" => {
            let o = req_obj(m, "location", path)?;
            keep(o);
            let lat = opt_num(o, "latitude", &o_path)?;
            let lon = opt_num(o, "longitude", &o_path)?;
            let mut parts = Vec::new();
            for key in ["name", "address"] {
                if let Some(s) = opt_str(o, key, &o_path)? {
                    parts.push(s.to_string());
                }
            }
            let mut text = "[location]".to_string();
            if !parts.is_empty() {
                text.push(' ');
                text.push_str(&parts.join(", "));
            }
            if let (Some(lat), Some(lon)) = (lat, lon) {
                text.push_str(&format!(" ({lat}, {lon})"));
            }
            text
        }
        "contacts" => {
            let items = match m.get("contacts") {
                Some(Value::Array(items)) => items,
                None | Some(Value::Null) => return Err(invalid(&o_path, "is required")),
                Some(other) => {
                    return Err(invalid(
                        &o_path,
                        format!("expected an array, got {}", kind(other)),
                    ));
                }
            };
            wa.insert("contacts".into(), Value::Array(items.clone()));
            let names: Vec<&str> = items
                .iter()
                .filter_map(|c| c.get("name")?.get("formatted_name")?.as_str())
                .collect();
            if names.is_empty() {
                "[contacts]".to_string()
            } else {
                format!("[contacts] {}", names.join(", "))
            }
        }
        "interactive" => {
            let o = req_obj(m, "interactive", path)?;
            keep(o);
            let sub = opt_str(o, "type", &o_path)?.unwrap_or("unknown");
            let sub_path = format!("{o_path}.{sub}");
            let reply = opt_obj(o, sub, &o_path)?;
            let field = |key: &str| -> Result<Option<String>, WebhookError> {
                Ok(match reply {
                    Some(r) => opt_str(r, key, &sub_path)?.map(str::to_string),
                    None => None,
                })
            };
            match sub {
                "button_reply" | "list_reply" => {
                    field("title")?.unwrap_or_else(|| format!("[{sub}]"))
                }
                "nfm_reply" => field("body")?
                    .or(field("name")?)
                    .unwrap_or_else(|| "[flow response]".to_string()),
                _ => format!("[interactive {sub}]"),
            }
        }
        "button" => {
            let o = req_obj(m, "button", path)?;
            keep(o);
            match (
                opt_str(o, "text", &o_path)?,
                opt_str(o, "payload", &o_path)?,
            ) {
                (Some(t), _) | (None, Some(t)) => t.to_string(),
                (None, None) => "[button]".to_string(),
            }
        }
        "order" => {
            let o = req_obj(m, "order", path)?;
            keep(o);
            let items = array(o, "product_items", &o_path)?.len();
            match opt_str(o, "text", &o_path)? {
                Some(t) => format!("[order: {items} item(s)] {t}"),
                None => format!("[order: {items} item(s)]"),
            }
        }
        "system" => {
            let o = req_obj(m, "system", path)?;
            keep(o);
            opt_str(o, "body", &o_path)?
                .map(str::to_string)
                .unwrap_or_else(|| "[system]".to_string())
        }
        other => {
            wa.insert("raw".into(), Value::Object(m.clone()));
            let message = if other == "unsupported" {
                "unsupported message type; kept with its raw JSON".to_string()
            } else {
                format!("unknown message type {other:?}; kept with its raw JSON")
            };
            notes.push(Note {
                path: format!("{path}.type"),
                message,
            });
            if other == "unsupported" {
                "[unsupported message]".to_string()
            } else {
                format!("[unsupported message: {other}]")
            }
        }
    };
    Ok((Some(text), Vec::new()))
}

/// Whether `text` is one of the bracketed placeholders [`content`] makes.
fn is_placeholder(text: &str) -> bool {
    text.starts_with('[') && text.ends_with(']')
}

/// Joins Meta's `errors[]` into one line: `131051 Unsupported message type:
/// Message type is not currently supported (details)`.
fn describe_errors(errors: &[Value]) -> String {
    errors
        .iter()
        .map(|e| {
            let code = e.get("code").map(|c| match c {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let title = e.get("title").and_then(Value::as_str);
            let message = e.get("message").and_then(Value::as_str);
            let details = e
                .get("error_data")
                .and_then(|d| d.get("details"))
                .and_then(Value::as_str);
            let mut line = code.unwrap_or_else(|| "?".into());
            if let Some(t) = title {
                line.push(' ');
                line.push_str(t);
            }
            if let Some(msg) = message.filter(|m| Some(*m) != title) {
                line.push_str(": ");
                line.push_str(msg);
            }
            if let Some(d) = details.filter(|d| Some(*d) != message && Some(*d) != title) {
                line.push_str(&format!(" ({d})"));
            }
            line
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A phone number reduced to its digits (`+1 650-555-1234` → `16505551234`);
/// anything that is not a phone number (a BSUID) as it came.
pub fn party(address: &str) -> String {
    let rest = address.trim().strip_prefix('+').unwrap_or(address.trim());
    let is_number = rest.bytes().any(|b| b.is_ascii_digit())
        && rest
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'(' | b')' | b'.'));
    if is_number {
        rest.chars().filter(char::is_ascii_digit).collect()
    } else {
        address.to_string()
    }
}

/// Decodes a media `sha256` as Meta sends it: 64 hex digits, or the base64
/// (standard or URL-safe, padded or not) of the 32 bytes.
pub fn decode_sha256(text: &str) -> Option<Digest> {
    let text = text.trim();
    if text.len() == 64
        && let Some(d) = Digest::from_hex(text)
    {
        return Some(d);
    }
    let body = text.trim_end_matches('=');
    if body.len() != 43 || text.len() > 44 {
        return None;
    }
    let mut bytes = [0u8; 32];
    let mut n = 0;
    let mut bits: u32 = 0;
    let mut held = 0;
    for c in body.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        held += 6;
        if held >= 8 {
            held -= 8;
            *bytes.get_mut(n)? = (bits >> held) as u8;
            n += 1;
            bits &= (1 << held) - 1;
        }
    }
    // 43 characters carry 258 bits: 32 bytes and 2 bits that must be zero.
    (n == 32 && bits == 0).then_some(Digest::from_bytes(bytes))
}

// ----- reading values, with paths -----

fn invalid(path: &str, problem: impl Into<String>) -> WebhookError {
    WebhookError::Invalid {
        path: path.to_string(),
        problem: problem.into(),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn as_obj<'v>(v: &'v Value, path: &str) -> Result<&'v Map<String, Value>, WebhookError> {
    match v {
        Value::Object(o) => Ok(o),
        other => Err(invalid(
            path,
            format!("expected an object, got {}", kind(other)),
        )),
    }
}

fn join(path: &str, key: &str) -> String {
    format!("{path}.{key}")
}

fn opt_str<'v>(
    o: &'v Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'v str>, WebhookError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(invalid(
            &join(path, key),
            format!("expected a string, got {}", kind(other)),
        )),
    }
}

fn req_str<'v>(o: &'v Map<String, Value>, key: &str, path: &str) -> Result<&'v str, WebhookError> {
    opt_str(o, key, path)?.ok_or_else(|| invalid(&join(path, key), "is required"))
}

/// An id Meta may send as a string or a number.
fn id_string(
    o: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, WebhookError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(invalid(
            &join(path, key),
            format!("expected a string or number, got {}", kind(other)),
        )),
    }
}

fn opt_num(o: &Map<String, Value>, key: &str, path: &str) -> Result<Option<f64>, WebhookError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| invalid(&join(path, key), format!("expected a number, got {s:?}"))),
        Some(other) => Err(invalid(
            &join(path, key),
            format!("expected a number, got {}", kind(other)),
        )),
    }
}

fn opt_obj<'v>(
    o: &'v Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'v Map<String, Value>>, WebhookError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => as_obj(v, &join(path, key)).map(Some),
    }
}

fn req_obj<'v>(
    o: &'v Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'v Map<String, Value>, WebhookError> {
    opt_obj(o, key, path)?.ok_or_else(|| invalid(&join(path, key), "is required"))
}

/// An array, empty when absent.
fn array<'v>(
    o: &'v Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'v [Value], WebhookError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(invalid(
            &join(path, key),
            format!("expected an array, got {}", kind(other)),
        )),
    }
}

/// Unix epoch seconds, as a string (`"1718003456"`) or a number.
fn timestamp(o: &Map<String, Value>, key: &str, path: &str) -> Result<Timestamp, WebhookError> {
    let at = join(path, key);
    let seconds = match o.get(key) {
        None | Some(Value::Null) => return Err(invalid(&at, "is required")),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| invalid(&at, format!("expected Unix epoch seconds, got {s:?}")))?,
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| invalid(&at, format!("expected whole Unix epoch seconds, got {n}")))?,
        Some(other) => {
            return Err(invalid(
                &at,
                format!("expected a string or number, got {}", kind(other)),
            ));
        }
    };
    seconds
        .checked_mul(1_000_000)
        .filter(|_| seconds >= 0)
        .map(Timestamp::from_micros)
        .ok_or_else(|| invalid(&at, format!("{seconds} is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_decodes_hex_and_base64() {
        let d = Digest::of(b"hello");
        let hex = d.to_string();
        assert_eq!(decode_sha256(&hex), Some(d));
        assert_eq!(decode_sha256(&hex.to_uppercase()), Some(d));
        // Standard base64 of the same 32 bytes, padded and not, and URL-safe.
        let b64 = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=";
        assert_eq!(decode_sha256(b64), Some(d));
        assert_eq!(decode_sha256(b64.trim_end_matches('=')), Some(d));
        assert_eq!(
            decode_sha256(&b64.replace('+', "-").replace('/', "_")),
            Some(d)
        );
        assert_eq!(decode_sha256("abc"), None);
        assert_eq!(
            decode_sha256("LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCR="),
            None,
            "non-zero tail bits"
        );
        assert_eq!(
            decode_sha256("LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmC*="),
            None
        );
        assert_eq!(decode_sha256(&"g".repeat(64)), None);
    }

    #[test]
    fn parties_are_digits_when_they_are_numbers() {
        assert_eq!(party("+1 650-555-1234"), "16505551234");
        assert_eq!(party("16505551234"), "16505551234");
        assert_eq!(party("US.13491208655302741918"), "US.13491208655302741918");
        assert_eq!(party("+"), "+");
    }

    #[test]
    fn timestamps_are_strings_or_numbers() {
        let o: Map<String, Value> = serde_json::from_str(
            r#"{"a":"1718003456","b":1718003456,"c":1.5,"d":[],"e":"x","f":-1}"#,
        )
        .unwrap();
        assert_eq!(
            timestamp(&o, "a", "p").unwrap(),
            Timestamp::from_micros(1_718_003_456_000_000)
        );
        assert_eq!(
            timestamp(&o, "b", "p").unwrap(),
            Timestamp::from_micros(1_718_003_456_000_000)
        );
        assert_eq!(
            timestamp(&o, "c", "p").unwrap_err().to_string(),
            "p.c: expected whole Unix epoch seconds, got 1.5"
        );
        assert_eq!(
            timestamp(&o, "d", "p").unwrap_err().to_string(),
            "p.d: expected a string or number, got an array"
        );
        assert_eq!(
            timestamp(&o, "e", "p").unwrap_err().to_string(),
            "p.e: expected Unix epoch seconds, got \"x\""
        );
        assert!(timestamp(&o, "f", "p").is_err());
        assert_eq!(
            timestamp(&o, "g", "p").unwrap_err().to_string(),
            "p.g: is required"
        );
    }
}
