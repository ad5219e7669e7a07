//! Court-ready exports of archived conversations, with a custody proof, and
//! their verification by anyone, without access to the archive.
//!
//! The caller (the CLI) reads the journal entries to disclose, opens them and
//! hands them over in a [`Request`] together with a signed tree head and a
//! Merkle multi-proof over the entries. [`write`] turns them into an export
//! directory:
//!
//! - `rsmf/CHANNEL/CONVERSATION/SLICE.rsmf`: Relativity Short Message Format
//!   2.0 files, one per conversation slice (a day by default), every
//!   manifest validated against the crate's own RSMF 2.0.0 JSON Schema
//!   ([`schema`]) before it is written;
//! - `eml/…/BATES.eml`: one RFC 5322 message per e-mail message;
//! - `html/…` and `pdf/…`: chat transcripts (`custos-transcript`);
//! - `loadfile.csv` and `loadfile.jsonl`: one row per message;
//! - `custody/entries.jsonl`: every disclosed entry's leaf, ciphertext and
//!   entry key (which opens that entry only);
//! - `custody.json`, written last: who exported what and why, the signed
//!   tree head, the public key, the multi-proof and every file's SHA-256.
//!
//! A **redacted** export ([`Request::redaction`]) shows every text with the
//! profile's finds masked and withholds what would reveal them: entry keys
//! (the leaf, ciphertext and proof are still disclosed), attachment bytes
//! and the load files' event digests. Each entry is opened and checked
//! against the event by the producer before it is redacted; `custody.json`
//! says so and names the profile.
//!
//! [`verify`] checks such a directory from its files alone: file digests,
//! the head's signature, every entry against its leaf, the proof against the
//! head's root, and every RSMF event and load-file row against the entry it
//! claims to show. `docs/exports.md` describes the layout and how to check
//! an export by hand.
//!
//! Output is deterministic: the same request gives the same bytes (no clock,
//! no random MIME boundaries, fixed zip timestamps).

mod custody;
mod eml;
mod error;
mod export;
mod loadfile;
mod mime;
mod plan;
mod rsmf;
pub mod schema;
mod transcript;
mod verify;
mod zipfile;

pub use custody::{
    Custody, CustodyEntry, CustodyFile, CustodyHead, CustodyRedaction, EntryBytes,
    REDACTED_STATEMENT,
};
pub use error::Error;
pub use export::write;
pub use verify::{KeySource, Report, verify};

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// Which side of a conversation a person is on.
pub use custos_transcript::Side;

/// The version string written into `X-RSMF-Generator` and `custody.json`.
pub const GENERATOR: &str = concat!("custos-export ", env!("CARGO_PKG_VERSION"));

/// One journal entry disclosed in an export.
#[derive(Clone, Debug)]
pub struct Disclosed {
    /// The entry's position in the journal.
    pub seq: u64,
    /// The entry's clear leaf bytes (what the Merkle tree hashes:
    /// leaf hash = SHA-256(0x00 || leaf)).
    pub leaf: Vec<u8>,
    /// Nonce, AES-256-GCM ciphertext and tag, as stored.
    pub payload: Vec<u8>,
    /// This entry's own key (derived per entry; opens only this entry).
    pub entry_key: [u8; 32],
    /// The decrypted event: a message, edit, deletion, reaction or status.
    pub event: custos_model::Event,
}

/// An output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// Relativity Short Message Format 2.0, one file per slice.
    Rsmf,
    /// One RFC 5322 message per e-mail message.
    Eml,
    /// One HTML transcript per slice.
    Html,
    /// One PDF transcript per slice.
    Pdf,
    /// A CSV load file, one row per message.
    Csv,
    /// A JSON-lines load file, one object per message.
    Jsonl,
}

impl Format {
    /// Every format, in the order they are listed.
    pub const ALL: [Format; 6] = [
        Format::Rsmf,
        Format::Eml,
        Format::Html,
        Format::Pdf,
        Format::Csv,
        Format::Jsonl,
    ];

    /// The lowercase name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Rsmf => "rsmf",
            Format::Eml => "eml",
            Format::Html => "html",
            Format::Pdf => "pdf",
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a format, a slicing or a similar keyword.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {given:?} (expected one of: {expected})")]
pub struct UnknownName {
    /// What was being named ("format", "slicing").
    pub what: &'static str,
    /// The text given.
    pub given: String,
    /// The accepted names, comma-separated.
    pub expected: &'static str,
}

impl FromStr for Format {
    type Err = UnknownName;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == text)
            .ok_or_else(|| UnknownName {
                what: "format",
                given: text.to_string(),
                expected: "rsmf, eml, html, pdf, csv, jsonl",
            })
    }
}

/// How messages are cut into files (RSMF, HTML and PDF).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Slicing {
    /// One file per conversation and local day (in the request's time zone).
    #[default]
    ConversationDay,
    /// One file per conversation and local month.
    ConversationMonth,
    /// One file per conversation.
    Conversation,
}

impl Slicing {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Slicing::ConversationDay => "day",
            Slicing::ConversationMonth => "month",
            Slicing::Conversation => "conversation",
        }
    }
}

impl fmt::Display for Slicing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Slicing {
    type Err = UnknownName;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "day" => Ok(Slicing::ConversationDay),
            "month" => Ok(Slicing::ConversationMonth),
            "conversation" => Ok(Slicing::Conversation),
            _ => Err(UnknownName {
                what: "slicing",
                given: text.to_string(),
                expected: "day, month, conversation",
            }),
        }
    }
}

/// What the export knows about an address (a phone number, an e-mail
/// address, a user id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    /// The name to show.
    pub display: String,
    /// The firm, an outside party, or a colleague.
    pub side: Side,
    /// Their e-mail address, if known.
    pub email: Option<String>,
    /// Whether they are a custodian (the person whose records these are).
    pub custodian: bool,
}

/// Fetches an attachment's bytes by SHA-256; `None` when they were never
/// captured (the attachment is then listed as missing, not an error).
pub type Blobs<'a> = &'a (dyn Fn(&custos_model::Digest) -> Option<Vec<u8>> + Sync);

/// Everything an export is made from.
pub struct Request<'a> {
    /// The export's id, e.g. `EXP-20261123-181500`.
    pub id: String,
    /// The formats to write.
    pub formats: Vec<Format>,
    /// How messages are cut into files.
    pub slicing: Slicing,
    /// IANA time zone for transcripts, previews and day boundaries.
    pub time_zone: String,
    /// In ascending seq: the messages, and the edits, deletions, reactions
    /// and statuses that target them.
    pub entries: Vec<Disclosed>,
    /// People by address, exactly as in senders and recipients; unknown
    /// addresses are shown as themselves, on the external side.
    pub people: HashMap<String, Person>,
    /// The signed head every entry is proven against (`seq < tree_size`).
    pub head: custos_journal::SignedTreeHead,
    /// `custos_journal::merkle::multi_proof` over all entries' seqs at
    /// `head.tree_size`.
    pub proof: Vec<custos_journal::merkle::Hash>,
    /// The archive's Ed25519 head-signing public key.
    pub public_key: [u8; 32],
    /// Attachment bytes by SHA-256.
    pub blobs: Blobs<'a>,
    /// Who asked for the export.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// The search query that selected the messages, if any.
    pub query: Option<String>,
    /// The matter (case) it is for, if any.
    pub matter: Option<String>,
    /// When the export was made (the caller's clock: output stays
    /// deterministic).
    pub created_at: custos_model::Timestamp,
    /// Prefix of the Bates numbers, e.g. `CUSTOS-`; numbers are zero-padded
    /// to 7 digits and given to messages in (conversation, time) order from 1.
    pub bates_prefix: String,
    /// The redaction applied, if any: every text the export shows is
    /// masked by it, entry keys, attachment bytes and event digests are
    /// withheld (they would reveal what is masked), and `custody.json`
    /// records the profile. `None` (or an empty profile) exports in full.
    pub redaction: Option<custos_policy::redact::Profile>,
}

/// What [`write`] produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Files written, `custody.json` included.
    pub files: usize,
    /// Messages exported.
    pub messages: usize,
    /// Conversations exported.
    pub conversations: usize,
    /// Bytes written, `custody.json` included.
    pub bytes: u64,
    /// What was left out or could not be included, one line each, with the
    /// reason (an e-mail-only format for a chat message, an attachment never
    /// captured, an entry whose message is not in the export).
    pub skipped: Vec<String>,
    /// SHA-256 (hex) of `custody.json`: record it (e.g. in the journal) so
    /// the manifest's own text can be checked later.
    pub custody_sha256: String,
}

/// A Bates number: `prefix` and `number` zero-padded to 7 digits.
pub fn bates(prefix: &str, number: u64) -> String {
    format!("{prefix}{number:07}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_slicings_round_trip_through_their_names() {
        for format in Format::ALL {
            assert_eq!(format.to_string().parse::<Format>(), Ok(format));
        }
        for slicing in [
            Slicing::ConversationDay,
            Slicing::ConversationMonth,
            Slicing::Conversation,
        ] {
            assert_eq!(slicing.to_string().parse::<Slicing>(), Ok(slicing));
        }
        let err = "xml".parse::<Format>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown format \"xml\" (expected one of: rsmf, eml, html, pdf, csv, jsonl)"
        );
        assert_eq!(Slicing::default(), Slicing::ConversationDay);
    }

    #[test]
    fn bates_numbers_are_padded_to_seven_digits() {
        assert_eq!(bates("CUSTOS-", 12), "CUSTOS-0000012");
        assert_eq!(bates("X", 12_345_678), "X12345678");
    }
}
