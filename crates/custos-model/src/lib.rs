//! The canonical events custos archives, and their stable binary encoding.
//!
//! Every fact custos keeps (a message, an edit, a deletion, a reaction, a
//! delivery status, a consent change, a system or audit action) is an
//! [`Event`]. Sources are normalised into these types by the capture layer;
//! the journal stores their [binary encoding](Event::encode), which is what
//! gets encrypted and, through its ciphertext digest, hashed into the tree.
//!
//! The encoding is versioned and hand-written so that it never changes by
//! accident: golden files under `tests/golden/` pin its bytes.
//!
//! ```
//! use custos_model::{Event, SystemEvent, Timestamp};
//! let event = Event::System(SystemEvent {
//!     actor: "admin".into(),
//!     action: "archive.init".into(),
//!     target: None,
//!     at: Timestamp::from_micros(0),
//!     details: Default::default(),
//! });
//! let bytes = event.encode();
//! assert_eq!(Event::decode(&bytes).unwrap(), event);
//! ```

mod codec;
mod digest;
mod event;
mod party;
mod severity;
mod time;

pub use codec::{DecodeError, ENCODING_VERSION};
pub use digest::Digest;
pub use event::{
    Attachment, ConsentChange, ConsentState, Deletion, DeliveryState, DeliveryStatus, Direction,
    Edit, Event, EventKind, Message, RawPayload, Reaction, SystemEvent,
};
pub use party::party_id;
pub use severity::{Severity, SeverityError};
pub use time::{Timestamp, TimestampError};
