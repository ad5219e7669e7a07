//! Chat transcripts for courts and regulators: one conversation slice (say,
//! one conversation's day) rendered as a self-contained HTML file and as a
//! PDF, both reading like the chat itself.
//!
//! Each message is a bubble: the firm's side on the right, external parties
//! on the left, other colleagues (internal) on the left in another colour and
//! labelled "internal". Every bubble carries the sender's name, a Bates-style
//! number and the time in the transcript's time zone with that zone's
//! abbreviation and UTC offset (`2024-06-10 08:10:56 BST (+01:00)`; zones
//! whose abbreviation is only a number, such as São Paulo's `-03`, show the
//! offset alone: `2024-06-10 05:10:56 (-03:00)`). Days are separated; the
//! original text is always shown, with each later edit and its time beneath
//! it, and a deleted message keeps its text, struck through and labelled
//! "Deleted by X at T". Attachments (name, type, size, SHA-256), reactions,
//! replies (by the replied-to message's Bates number) and delivery status are
//! listed in the bubble. A header block names the title, subtitle lines,
//! participants and time zone; the PDF prints the footer and "Page N of M" at
//! the foot of every page.
//!
//! Rendering is pure and deterministic: no I/O, no clock, the same input gives
//! the same bytes (the PDF's `/CreationDate` is the latest time in the
//! transcript), so golden files pin the output.
//!
//! # The PDF and characters outside WinAnsi
//!
//! The PDF is written by this crate (`pdf/writer.rs`) and uses only the
//! standard fonts every reader has (Helvetica, Helvetica-Bold,
//! Helvetica-Oblique) with WinAnsiEncoding, measured with Adobe's published
//! glyph widths (`pdf/afm.rs`). Those fonts cannot show characters outside
//! Windows-1252 (emoji, Devanagari, CJK, Cyrillic...): each such character is
//! replaced in the PDF by a visible marker naming its code point, such as
//! `[U+1F44D]`, so nothing is silently lost. The HTML transcript shows every
//! character as it is. (Embedding a TrueType subset would need a bundled font
//! and a text shaper for scripts such as Devanagari; neither is in this
//! crate.)
//!
//! # Example
//!
//! ```
//! use custos_model::Timestamp;
//! use custos_transcript::{Item, Participant, Side, Transcript};
//!
//! let t = Transcript {
//!     title: "WhatsApp: Ana Ruiz / Acme Brokerage".into(),
//!     subtitle: vec!["Custodian: Ben Cole".into()],
//!     time_zone: "Europe/London".into(),
//!     participants: vec![
//!         Participant { id: "+447700900123".into(), display: "Ana Ruiz".into(), side: Side::External },
//!         Participant { id: "ben@acme.example".into(), display: "Ben Cole".into(), side: Side::Firm },
//!     ],
//!     items: vec![Item {
//!         bates: "CUSTOS-000001".into(),
//!         sender: "+447700900123".into(),
//!         sent_at: Timestamp::parse("2024-06-10T07:10:56Z").unwrap(),
//!         text: Some("Can you sell my shares?".into()),
//!         attachments: vec![],
//!         edits: vec![],
//!         deleted: None,
//!         reactions: vec![],
//!         reply_to: None,
//!         status: None,
//!     }],
//!     footer: "custos export EXP-2026-0001".into(),
//! };
//! let page = custos_transcript::html(&t).unwrap();
//! assert!(page.contains("2024-06-10 08:10:56 BST (+01:00)"));
//! let pdf = custos_transcript::pdf(&t).unwrap();
//! assert!(pdf.starts_with(b"%PDF-1.7"));
//! ```
//!
//! # Golden files
//!
//! `tests/golden/` holds the HTML and PDF of a fixed sample covering every
//! feature; the tests fail on any change of a byte. After an intended change,
//! rewrite them with `CUSTOS_BLESS=1 cargo test -p custos-transcript` and
//! review the diff.

mod html;
mod pdf;
mod view;
mod zone;

use custos_model::Timestamp;

/// One conversation slice to render.
#[derive(Clone, Debug)]
pub struct Transcript {
    /// The heading, e.g. "WhatsApp: Ana Ruiz / Acme Brokerage".
    pub title: String,
    /// Free lines under the title: "Custodian: ...", "Export EXP-..., matter ...".
    pub subtitle: Vec<String>,
    /// IANA time zone name every time is shown in, e.g. "Europe/London"; "UTC" is allowed.
    pub time_zone: String,
    /// Everyone who appears in the slice.
    pub participants: Vec<Participant>,
    /// The messages, in display order (oldest first).
    pub items: Vec<Item>,
    /// Printed at the foot of every page next to the page number, e.g. "custos export EXP-2026-0001".
    pub footer: String,
}

/// A person or account in the conversation.
#[derive(Clone, Debug)]
pub struct Participant {
    /// The id items use as their sender (a phone number, an address...).
    pub id: String,
    /// The name shown on bubbles.
    pub display: String,
    /// Which side of the conversation they are on.
    pub side: Side,
}

/// Which side of the conversation a participant is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The custodian or the firm's staff: bubbles on the right.
    Firm,
    /// A customer or other outside party: bubbles on the left.
    External,
    /// Another colleague: on the left, in another colour, labelled "internal".
    Internal,
}

/// One message of the slice.
#[derive(Clone, Debug)]
pub struct Item {
    /// Bates-style number, e.g. "CUSTOS-000123".
    pub bates: String,
    /// A [`Participant`] id (an unknown id is shown as it is, on the left).
    pub sender: String,
    /// When it was sent.
    pub sent_at: Timestamp,
    /// The ORIGINAL text.
    pub text: Option<String>,
    /// Attachments, in order.
    pub attachments: Vec<AttachmentLine>,
    /// Later versions, oldest first.
    pub edits: Vec<EditLine>,
    /// Set when the message was deleted (its text is still shown).
    pub deleted: Option<Deleted>,
    /// Reactions to the message.
    pub reactions: Vec<ReactionLine>,
    /// Bates number of the message replied to, if in this slice.
    pub reply_to: Option<String>,
    /// Delivery status, free text, e.g. "read 08:12".
    pub status: Option<String>,
}

/// An attachment of a message.
#[derive(Clone, Debug)]
pub struct AttachmentLine {
    /// File name.
    pub name: String,
    /// Media type, e.g. "image/jpeg".
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes, in hex.
    pub sha256: String,
}

/// A later version of a message's text.
#[derive(Clone, Debug)]
pub struct EditLine {
    /// When the edit was made.
    pub at: Timestamp,
    /// The text as edited.
    pub text: String,
}

/// The deletion of a message.
#[derive(Clone, Debug)]
pub struct Deleted {
    /// When it was deleted.
    pub at: Timestamp,
    /// Who deleted it (a participant id, or a name shown as it is).
    pub by: String,
}

/// A reaction to a message.
#[derive(Clone, Debug)]
pub struct ReactionLine {
    /// Who reacted (a participant id, or a name shown as it is).
    pub by: String,
    /// The emoji.
    pub emoji: String,
}

/// Why a transcript cannot be rendered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The time zone is not a known IANA name.
    #[error("unknown time zone {0:?}")]
    TimeZone(String),
}

/// The transcript as one self-contained HTML file: inline CSS, no scripts,
/// no external resources, print styles for paper.
pub fn html(t: &Transcript) -> Result<String, Error> {
    let view = view::View::new(t)?;
    Ok(html::render(&view))
}

/// The transcript as a PDF 1.7 file on A4 pages.
pub fn pdf(t: &Transcript) -> Result<Vec<u8>, Error> {
    let view = view::View::new(t)?;
    Ok(pdf::render(&view))
}
