//! WhatsApp chat exports: the `.txt` (or `.zip` with media) that the phone
//! apps write with "Export chat".
//!
//! This module only parses; reading files and journalling are the caller's.
//! [`parse`] turns the chat text into canonical [`Message`]s (and notes of
//! the system lines), [`detect_date_order`] infers the date order of a file
//! and [`read_zip`] unpacks an export archive within limits.
//!
//! # Format rules
//!
//! - **Lines.** The text is split on `\n` (a trailing `\r` is dropped). A
//!   *header* line starts a new entry, in either shape:
//!   iOS `[DATE, TIME] Author: text` or Android `DATE, TIME - Author: text`.
//!   Every other line continues the entry before it, blank lines included.
//!   Before the first header only blank lines are allowed; anything else is
//!   an error naming the line.
//! - **Invisible marks.** Before anything is read, U+200E, U+200F,
//!   U+202A–U+202E, U+2066–U+2069 and U+FEFF are removed, and U+202F and
//!   U+00A0 become a plain space, in headers and text alike. Zero-width
//!   joiners are kept (they hold emoji together). The raw digest is taken
//!   over the lines as they were.
//! - **Dates.** Three numbers separated by `.`, `/` or `-` (one separator
//!   kind per date, an optional space after it, an optional trailing `.`),
//!   then an optional `,` and at least one space. A first field of 3–4
//!   digits is a year (year-month-day). Otherwise the order is the one given
//!   or, per file, the one the dates allow: a first field above 12 means
//!   day-first, a second one above 12 month-first; both in one file is a
//!   conflict, neither is ambiguous, and both are errors asking for an
//!   explicit order. A 2-digit year is 20YY.
//! - **Times.** `H:MM`, `H:MM:SS` (or with `.`), then optionally AM/PM in
//!   any of `AM`, `am`, `a.m.`, `a. m.`, `PM`, ... 12-hour hours must be
//!   1–12. The local time is read in the given zone; a time that falls in a
//!   DST gap or fold is resolved the "compatible" way (the later instant for
//!   a gap, the earlier for a fold).
//! - **System lines.** An Android header without `Author: ` is a system
//!   line. So is a header whose "author" part holds a quoted subject or a
//!   group phrase (`changed the subject`, `created group`), a text that is
//!   the encryption notice or a missed call, and, on iOS (where the chat
//!   name stands as author), a text that began with U+200E or whose author
//!   is the chat name and which reads like a group event (joined, left,
//!   added, removed, changed the subject or icon, created). Phrases are
//!   matched in English, Portuguese, Spanish and German. System lines go to
//!   [`Parsed::system`] and [`Parsed::system_events`], not to messages.
//! - **Markers.** A text that is a deletion notice (`This message was
//!   deleted`, `You deleted this message`, localised, trailing `.` optional)
//!   gets `"deleted": true` in `extra`. A trailing `<This message was
//!   edited>` (localised) is cut from the text and flagged `"edited": true`.
//! - **Media.** `<Media omitted>` and iOS `image omitted` & co. (localised)
//!   give `"media": "omitted"`. `<attached: NAME>` (any one-word or
//!   few-word label, so `<adjunto: …>` and `<anexo: …>` too) and Android's
//!   first line `NAME (file attached)` (`arquivo anexado`, `archivo
//!   adjunto`, `Datei angehängt`, ...) give `"media": "attached"` and
//!   [`ExportMessage::attachment_file`] = NAME. The placeholder text is kept
//!   in `extra.media_placeholder`; the message text stays as exported.
//! - **Who is the custodian.** An author is the custodian when it is `You`
//!   (or `Você`, `Tú`, `Tu`, `Du`, `Vous`), when its digits equal those of
//!   the custodian's phone number, or when it equals (ignoring case) one of
//!   [`ExportOptions::custodian_names`]. If no author matched so, and the
//!   chat is one-to-one with exactly two authors of which one is the chat
//!   partner (the chat name from the file name), the other is the custodian.
//!   The custodian's messages are outbound, sent by `custodian_phone`, to the
//!   chat name; the others inbound, sent by their display name as exported
//!   (a leading `~ ` dropped), to `custodian_phone`. When no custodian can be
//!   told, messages from authors other than the chat partner have direction
//!   unknown and no recipients. The display name is always in
//!   `extra.author`.
//! - **Ids.** `conversation` is derived from the custodian's phone and the
//!   chat name. `source_id` is derived from (custodian phone, conversation,
//!   UTC sent time, sender, text as exported) plus the ordinal of that tuple
//!   among identical ones earlier in the file, never from the line number,
//!   so a later export of the same chat that holds more (or fewer, older)
//!   messages gives the same ids to the same messages.
//!
//! Not read: Finnish `klo` fillers and other word fillers between date and
//! time, non-Latin AM/PM words (`오후`, `下午`), and the iOS document
//! page-count preview beyond keeping it in the text.

use custos_model::{Digest, Direction, Message, SystemEvent, Timestamp};
use serde_json::Map;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::io::Read;
use std::str::FromStr;

/// The channel every export message carries.
pub const CHANNEL: &str = "whatsapp";

/// The order of day, month and year in the export's dates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DateOrder {
    /// Day, month, year (`31/12/2024`).
    Dmy,
    /// Month, day, year (`12/31/24`).
    Mdy,
    /// Year, month, day (`2024-12-31`).
    Ymd,
}

impl DateOrder {
    /// The lowercase name, as `--date-order` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Dmy => "dmy",
            Self::Mdy => "mdy",
            Self::Ymd => "ymd",
        }
    }
}

impl fmt::Display for DateOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DateOrder {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "dmy" => Ok(Self::Dmy),
            "mdy" => Ok(Self::Mdy),
            "ymd" => Ok(Self::Ymd),
            _ => Err(format!("expected dmy, mdy or ymd, got {s:?}")),
        }
    }
}

/// How to read one export.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// The custodian's work number; the sender of their messages.
    pub custodian_phone: String,
    /// Display names under which the custodian may appear as author
    /// (their own name in their phone's export); may be empty.
    pub custodian_names: Vec<String>,
    /// The zone the phone showed times in.
    pub tz: jiff::tz::TimeZone,
    /// The date order, or `None` to infer it from the file.
    pub date_order: Option<DateOrder>,
    /// The export's file name, e.g. `WhatsApp Chat with Ana Souza.txt`;
    /// the chat name is taken from it.
    pub source_name: String,
}

/// A message of the export, with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportMessage {
    /// The canonical message.
    pub message: Message,
    /// The 1-based line its header is on.
    pub line: u64,
    /// The name of the media file (zip entry) it refers to, if named.
    pub attachment_file: Option<String>,
}

/// What [`parse`] read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// The messages, in file order.
    pub messages: Vec<ExportMessage>,
    /// The system lines: header line number and text (author included when
    /// the line had one).
    pub system: Vec<(u64, String)>,
    /// The system lines as notes worth a [`SystemEvent`]
    /// (`whatsapp.export.<kind>`, target the conversation).
    pub system_events: Vec<SystemEvent>,
    /// The date order used.
    pub date_order: DateOrder,
    /// Whether the order was inferred (`false`: given in the options).
    pub date_order_inferred: bool,
    /// The chat name, from the file name.
    pub chat: String,
    /// The conversation id of every message.
    pub conversation: String,
    /// The author taken for the custodian, if any.
    pub custodian_author: Option<String>,
    /// Whether the chat looks like a group.
    pub is_group: bool,
    /// Lines read.
    pub lines: u64,
}

/// Why an export could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// A header whose date is not a date in the order used.
    #[error("line {line}: cannot read the date {text:?} as {order}: {problem}")]
    BadDate {
        /// 1-based line.
        line: u64,
        /// The date as written.
        text: String,
        /// The order tried.
        order: DateOrder,
        /// What is wrong.
        problem: String,
    },
    /// A header whose time is not a time.
    #[error("line {line}: cannot read the time {text:?}: {problem}")]
    BadTime {
        /// 1-based line.
        line: u64,
        /// The time as written.
        text: String,
        /// What is wrong.
        problem: String,
    },
    /// A line before the first message that does not start one.
    #[error(
        "line {line}: not the start of a WhatsApp message (expected `DATE, TIME - Name: text` or `[DATE, TIME] Name: text`), got {text:?}"
    )]
    NotAMessage {
        /// 1-based line.
        line: u64,
        /// The start of the line.
        text: String,
    },
    /// No line of the text starts a message.
    #[error("no WhatsApp message lines found")]
    Empty,
    /// Every date reads as day-first and as month-first.
    #[error(
        "the date order is ambiguous: all {count} dates (the first, {example:?}, on line {line}) read as day/month/year and as month/day/year; pass --date-order dmy or --date-order mdy"
    )]
    AmbiguousDateOrder {
        /// Dated lines seen.
        count: u64,
        /// The first such line.
        line: u64,
        /// Its date.
        example: String,
    },
    /// Some dates read only one way, others only the other way.
    #[error(
        "the dates disagree on their order: line {first_line} ({first:?}) reads only as {first_order}, line {second_line} ({second:?}) only as {second_order}; pass --date-order"
    )]
    ConflictingDateOrder {
        /// A line of the first reading.
        first_line: u64,
        /// Its date.
        first: String,
        /// Its only order.
        first_order: DateOrder,
        /// A line of the other reading.
        second_line: u64,
        /// Its date.
        second: String,
        /// Its only order.
        second_order: DateOrder,
    },
    /// The zip could not be read.
    #[error("zip: {0}")]
    Zip(String),
    /// The zip holds more entries than allowed.
    #[error("zip holds more than {max} entries")]
    TooManyEntries {
        /// The cap.
        max: usize,
    },
    /// The zip's entries unpack to more than allowed.
    #[error("zip entries unpack to more than {max} bytes (at {entry:?})")]
    TooLarge {
        /// The cap.
        max: u64,
        /// The entry that crossed it.
        entry: String,
    },
    /// An entry name that is absolute or leaves the archive.
    #[error("zip entry {0:?} has an unsafe name (absolute, or leaving the archive)")]
    UnsafeName(String),
    /// An entry that is encrypted or a symbolic link.
    #[error("zip entry {name:?}: {problem}")]
    BadEntry {
        /// The entry.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// No chat text in the zip, or several candidates.
    #[error("zip: {0}")]
    NoChat(String),
    /// The chat text is not UTF-8.
    #[error("{name}: not UTF-8 at byte {at}")]
    NotUtf8 {
        /// The entry.
        name: String,
        /// The offset of the first bad byte.
        at: usize,
    },
}

// ---------------------------------------------------------------------------
// Lines and headers

/// Removes the marks the apps insert and makes their spaces plain.
fn normalise(line: &str) -> std::borrow::Cow<'_, str> {
    let odd = |c: char| {
        matches!(
            c,
            '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
                | '\u{202F}'
                | '\u{00A0}'
        )
    };
    if !line.chars().any(odd) {
        return line.into();
    }
    line.chars()
        .filter_map(|c| match c {
            '\u{202F}' | '\u{00A0}' => Some(' '),
            c if odd(c) => None,
            c => Some(c),
        })
        .collect::<String>()
        .into()
}

/// The lines of `text`: 1-based number and text without its terminator.
fn lines(text: &str) -> impl Iterator<Item = (u64, &str)> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let empty = text.is_empty();
    text.split('\n')
        .filter(move |_| !empty)
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.strip_suffix('\r').unwrap_or(l)))
}

/// A date field: its value and how many digits it had.
#[derive(Clone, Copy, Debug)]
struct Field {
    value: u32,
    digits: usize,
}

/// A header line, read.
#[derive(Clone, Debug)]
struct Header<'a> {
    bracket: bool,
    date_text: &'a str,
    fields: [Field; 3],
    time_text: &'a str,
    hour: u32,
    minute: u32,
    second: u32,
    pm: Option<bool>,
    rest: &'a str,
}

fn digits(b: &[u8], at: usize, min: usize, max: usize) -> Option<(Field, usize)> {
    let n = b[at.min(b.len())..]
        .iter()
        .take(max + 1)
        .take_while(|c| c.is_ascii_digit())
        .count();
    if n < min || n > max {
        return None;
    }
    let value = b[at..at + n]
        .iter()
        .fold(0u32, |v, c| v * 10 + u32::from(c - b'0'));
    Some((Field { value, digits: n }, at + n))
}

/// Reads a header from a normalised line, or `None` if it is not one.
fn scan_header(s: &str) -> Option<Header<'_>> {
    let b = s.as_bytes();
    let bracket = b.first() == Some(&b'[');
    let mut i = usize::from(bracket);
    let date_start = i;
    let (f1, n) = digits(b, i, 1, 4)?;
    i = n;
    let sep = *b.get(i)?;
    if !matches!(sep, b'.' | b'/' | b'-') {
        return None;
    }
    i += 1;
    if b.get(i) == Some(&b' ') {
        i += 1;
    }
    let (f2, n) = digits(b, i, 1, 2)?;
    i = n;
    if b.get(i) != Some(&sep) {
        return None;
    }
    i += 1;
    if b.get(i) == Some(&b' ') {
        i += 1;
    }
    let (f3, n) = digits(b, i, 1, 4)?;
    i = n;
    let date_end = i;
    if sep == b'.' && b.get(i) == Some(&b'.') {
        i += 1;
    }
    if b.get(i) == Some(&b',') {
        i += 1;
    }
    let spaces = b[i..].iter().take_while(|&&c| c == b' ').count();
    if spaces == 0 {
        return None;
    }
    i += spaces;
    let time_start = i;
    let (hour, n) = digits(b, i, 1, 2)?;
    i = n;
    let tsep = *b.get(i)?;
    if !matches!(tsep, b':' | b'.') {
        return None;
    }
    let (minute, n) = digits(b, i + 1, 2, 2)?;
    i = n;
    let mut second = 0;
    if b.get(i) == Some(&tsep)
        && let Some((s, n)) = digits(b, i + 1, 2, 2)
    {
        second = s.value;
        i = n;
    }
    let mut time_end = i;
    // AM/PM: [aApP] .? space? [mM] .?
    let mut pm = None;
    let mut j = i + b[i..].iter().take_while(|&&c| c == b' ').count();
    if let Some(&c) = b.get(j)
        && matches!(c, b'a' | b'A' | b'p' | b'P')
    {
        let is_pm = matches!(c, b'p' | b'P');
        j += 1;
        if b.get(j) == Some(&b'.') {
            j += 1;
        }
        if b.get(j) == Some(&b' ') {
            j += 1;
        }
        if matches!(b.get(j), Some(b'm' | b'M')) {
            j += 1;
            if b.get(j) == Some(&b'.') {
                j += 1;
            }
            pm = Some(is_pm);
            i = j;
            time_end = j;
        }
    }
    if bracket {
        if b.get(i) != Some(&b']') {
            return None;
        }
        i += 1;
        i += b[i..].iter().take_while(|&&c| c == b' ').count();
    } else {
        let sp = b[i..].iter().take_while(|&&c| c == b' ').count();
        if sp == 0 || b.get(i + sp) != Some(&b'-') {
            return None;
        }
        i += sp + 1;
        match b.get(i) {
            None => {}
            Some(b' ') => i += 1,
            Some(_) => return None,
        }
    }
    Some(Header {
        bracket,
        date_text: &s[date_start..date_end],
        fields: [f1, f2, f3],
        time_text: s[time_start..time_end].trim_end(),
        hour: hour.value,
        minute: minute.value,
        second,
        pm,
        rest: &s[i..],
    })
}

/// What one date allows.
fn readings(fields: &[Field; 3]) -> Reading {
    if fields[0].digits >= 3 {
        return Reading::Ymd;
    }
    let (a, b) = (fields[0].value, fields[1].value);
    match (a > 12, b > 12) {
        (false, false) => Reading::Either,
        (true, false) => Reading::Only(DateOrder::Dmy),
        (false, true) => Reading::Only(DateOrder::Mdy),
        (true, true) => Reading::Neither,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    Ymd,
    Either,
    Only(DateOrder),
    Neither,
}

/// Infers the date order from the dated lines: `(line, date text, fields)`,
/// the date text made only when an error or a note needs it.
fn infer_order<T: FnOnce() -> String>(
    dates: impl IntoIterator<Item = (u64, T, [Field; 3])>,
) -> Result<DateOrder, ExportError> {
    let mut count = 0;
    let mut first: Option<(u64, String)> = None;
    let mut ymd: Option<(u64, String)> = None;
    let mut other: Option<(u64, String, DateOrder)> = None;
    let mut only: [Option<(u64, String)>; 2] = [None, None];
    for (line, make_text, fields) in dates {
        count += 1;
        let mut make_text = Some(make_text);
        let mut shown: Option<String> = None;
        let mut text = || {
            shown
                .get_or_insert_with(|| make_text.take().map(|f| f()).unwrap_or_default())
                .clone()
        };
        if first.is_none() {
            first = Some((line, text()));
        }
        match readings(&fields) {
            Reading::Ymd => {
                if ymd.is_none() {
                    ymd = Some((line, text()));
                }
            }
            r => {
                if other.is_none() {
                    let order = match r {
                        Reading::Only(o) => o,
                        _ => DateOrder::Dmy,
                    };
                    other = Some((line, text(), order));
                }
                if let Reading::Only(o) = r {
                    let slot = &mut only[usize::from(o == DateOrder::Mdy)];
                    if slot.is_none() {
                        *slot = Some((line, text()));
                    }
                }
            }
        }
    }
    let Some((first_line, example)) = first else {
        return Err(ExportError::Empty);
    };
    match (ymd, other) {
        (Some(_), None) => return Ok(DateOrder::Ymd),
        (Some((yl, yt)), Some((ol, ot, oo))) => {
            return Err(ExportError::ConflictingDateOrder {
                first_line: yl,
                first: yt,
                first_order: DateOrder::Ymd,
                second_line: ol,
                second: ot,
                second_order: oo,
            });
        }
        _ => {}
    }
    match only {
        [Some((dl, dt)), Some((ml, mt))] => Err(ExportError::ConflictingDateOrder {
            first_line: dl,
            first: dt,
            first_order: DateOrder::Dmy,
            second_line: ml,
            second: mt,
            second_order: DateOrder::Mdy,
        }),
        [Some(_), None] => Ok(DateOrder::Dmy),
        [None, Some(_)] => Ok(DateOrder::Mdy),
        [None, None] => Err(ExportError::AmbiguousDateOrder {
            count,
            line: first_line,
            example,
        }),
    }
}

/// Infers the order of day, month and year from the dates of `text`.
///
/// Year-first when the first field has 3–4 digits; day-first when some
/// first field exceeds 12; month-first when some second field does. An
/// error when the dates allow both readings (ambiguous) or different lines
/// allow only different ones (conflicting), or there are no dates.
pub fn detect_date_order(text: &str) -> Result<DateOrder, ExportError> {
    let normalised: Vec<(u64, String)> = lines(text)
        .map(|(n, l)| (n, normalise(l).into_owned()))
        .collect();
    infer_order(normalised.iter().filter_map(|(n, l)| {
        scan_header(l).map(|h| (*n, move || h.date_text.to_string(), h.fields))
    }))
}

fn resolve_date(
    line: u64,
    h_text: &str,
    fields: &[Field; 3],
    order: DateOrder,
) -> Result<jiff::civil::Date, ExportError> {
    let order = if fields[0].digits >= 3 {
        DateOrder::Ymd
    } else {
        order
    };
    let [a, b, c] = *fields;
    let (y, m, d) = match order {
        DateOrder::Ymd => (a, b, c),
        DateOrder::Dmy => (c, b, a),
        DateOrder::Mdy => (c, a, b),
    };
    let bad = |problem: String| ExportError::BadDate {
        line,
        text: h_text.to_string(),
        order,
        problem,
    };
    let year = match y.digits {
        1 | 2 => 2000 + y.value,
        4 => y.value,
        _ => return Err(bad(format!("a year of {} digits", y.digits))),
    };
    if !(1..=12).contains(&m.value) {
        return Err(bad(format!("no month {}", m.value)));
    }
    if !(1..=31).contains(&d.value) {
        return Err(bad(format!("no day {}", d.value)));
    }
    let year = i16::try_from(year).map_err(|_| bad("year out of range".into()))?;
    jiff::civil::Date::new(year, m.value as i8, d.value as i8)
        .map_err(|_| bad(format!("month {} has no day {}", m.value, d.value)))
}

fn resolve_time(line: u64, h: &Header<'_>) -> Result<jiff::civil::Time, ExportError> {
    let bad = |problem: &str| ExportError::BadTime {
        line,
        text: h.time_text.to_string(),
        problem: problem.to_string(),
    };
    let hour = match h.pm {
        Some(pm) => {
            if !(1..=12).contains(&h.hour) {
                return Err(bad("a 12-hour time needs an hour from 1 to 12"));
            }
            (h.hour % 12) + if pm { 12 } else { 0 }
        }
        None if h.hour > 23 => return Err(bad("no such hour")),
        None => h.hour,
    };
    if h.minute > 59 || h.second > 59 {
        return Err(bad("minutes and seconds go up to 59"));
    }
    jiff::civil::Time::new(hour as i8, h.minute as i8, h.second as i8, 0)
        .map_err(|_| bad("not a time"))
}

// ---------------------------------------------------------------------------
// Phrases

const YOU: &[&str] = &["you", "você", "voce", "tú", "tu", "du", "vous"];

const DELETED: &[&str] = &[
    "this message was deleted",
    "you deleted this message",
    "esta mensagem foi apagada",
    "você apagou esta mensagem",
    "mensagem apagada",
    "se eliminó este mensaje",
    "eliminaste este mensaje",
    "este mensaje fue eliminado",
    "diese nachricht wurde gelöscht",
    "du hast diese nachricht gelöscht",
];

const EDITED: &[&str] = &[
    "<this message was edited>",
    "<mensagem editada>",
    "<se editó este mensaje.>",
    "<se editó este mensaje>",
    "<diese nachricht wurde bearbeitet>",
    "<bearbeitet>",
];

const OMITTED_ANDROID: &[&str] = &[
    "<media omitted>",
    "<mídia oculta>",
    "<midia oculta>",
    "<arquivo de mídia oculto>",
    "<multimedia omitido>",
    "<archivo omitido>",
    "<medien ausgeschlossen>",
    "<medien weggelassen>",
];

const OMITTED_IOS: &[&str] = &[
    "image omitted",
    "video omitted",
    "audio omitted",
    "sticker omitted",
    "document omitted",
    "gif omitted",
    "contact card omitted",
    "imagem ocultada",
    "vídeo ocultado",
    "áudio ocultado",
    "figurinha omitida",
    "documento ocultado",
    "imagen omitida",
    "video omitido",
    "audio omitido",
    "sticker omitido",
    "documento omitido",
    "bild weggelassen",
    "video weggelassen",
    "audio weggelassen",
    "sticker weggelassen",
    "dokument weggelassen",
];

const FILE_ATTACHED: &[&str] = &[
    "file attached",
    "arquivo anexado",
    "archivo adjunto",
    "datei angehängt",
    "fichier joint",
    "file allegato",
];

/// Kinds of system line and their phrases (lowercase), in the order tried.
const SYSTEM_PHRASES: &[(&str, &[&str])] = &[
    (
        "encryption",
        &[
            "end-to-end encrypted",
            "criptografia de ponta a ponta",
            "cifrado de extremo a extremo",
            "ende-zu-ende-verschlüsselt",
        ],
    ),
    (
        "missed_call",
        &[
            "missed voice call",
            "missed video call",
            "missed group voice call",
            "missed group video call",
            "chamada de voz perdida",
            "chamada de vídeo perdida",
            "llamada perdida",
            "llamada de voz perdida",
            "videollamada perdida",
            "verpasster sprachanruf",
            "verpasster videoanruf",
        ],
    ),
    (
        "security_code",
        &[
            "security code",
            "código de segurança",
            "código de seguridad",
            "sicherheitsnummer",
        ],
    ),
    (
        "disappearing",
        &[
            "disappearing messages",
            "mensagens temporárias",
            "mensajes temporales",
            "selbstlöschende nachrichten",
        ],
    ),
    (
        "subject_changed",
        &[
            "changed the subject",
            "changed the group name",
            "mudou o assunto",
            "alterou o assunto",
            "mudou o nome do grupo",
            "cambió el asunto",
            "cambió el nombre del grupo",
            "hat den betreff",
            "hat den gruppennamen",
        ],
    ),
    (
        "icon_changed",
        &[
            "changed this group's icon",
            "changed the group icon",
            "deleted this group's icon",
            "mudou a imagem do grupo",
            "alterou a imagem do grupo",
            "cambió la foto del grupo",
            "cambió el ícono del grupo",
            "hat das gruppenbild",
        ],
    ),
    (
        "created",
        &[
            "created group",
            "criou o grupo",
            "creó el grupo",
            "gruppe erstellt",
        ],
    ),
    (
        "left",
        &[
            "hat die gruppe verlassen",
            "saiu do grupo",
            "salió del grupo",
        ],
    ),
    (
        "joined",
        &[
            "joined using this group's invite link",
            "joined using",
            "entrou usando o link",
            "se unió usando",
            "ist der gruppe",
            "beigetreten",
        ],
    ),
    (
        "added",
        &[
            " added ",
            "you were added",
            " adicionou ",
            " añadió ",
            " hinzugefügt",
        ],
    ),
    (
        "removed",
        &[" removed ", " removeu ", " eliminó a ", " entfernt"],
    ),
];

/// [`SYSTEM_PHRASES`] by their first two bytes, so a text is searched for
/// all of them in one pass.
struct PhraseIndex {
    /// Bit `b0 << 8 | b1` is set when a phrase starts with `b0 b1`.
    starts: Vec<u64>,
    /// The phrases starting with those two bytes: (kind index, phrase).
    by_start: HashMap<u16, Vec<(usize, &'static [u8])>>,
}

fn phrase_index() -> &'static PhraseIndex {
    static INDEX: std::sync::OnceLock<PhraseIndex> = std::sync::OnceLock::new();
    INDEX.get_or_init(|| {
        let mut index = PhraseIndex {
            starts: vec![0; 1024],
            by_start: HashMap::new(),
        };
        for (k, (_, phrases)) in SYSTEM_PHRASES.iter().enumerate() {
            for p in *phrases {
                let b = p.as_bytes();
                let pair = u16::from(b[0]) << 8 | u16::from(b[1]);
                index.starts[usize::from(pair >> 6)] |= 1 << (pair & 63);
                index.by_start.entry(pair).or_default().push((k, b));
            }
        }
        index
    })
}

/// The kind of system line `text` reads as, if any.
fn system_kind(text: &str) -> Option<&'static str> {
    let lower = text.trim().to_lowercase();
    // The first kind (in [`SYSTEM_PHRASES`] order) with a phrase in `lower`.
    let index = phrase_index();
    let b = lower.as_bytes();
    let mut best: Option<usize> = None;
    for i in 0..b.len().saturating_sub(1) {
        let pair = u16::from(b[i]) << 8 | u16::from(b[i + 1]);
        if index.starts[usize::from(pair >> 6)] & (1 << (pair & 63)) == 0 {
            continue;
        }
        for &(k, p) in &index.by_start[&pair] {
            if best.is_none_or(|best| k < best) && b[i..].starts_with(p) {
                best = Some(k);
            }
        }
        if best == Some(0) {
            break;
        }
    }
    if let Some(k) = best {
        return Some(SYSTEM_PHRASES[k].0);
    }
    for (kind, ends) in [
        ("left", &[" left", " saiu", " salió"][..]),
        ("joined", &[" joined", " entrou", " se unió"][..]),
    ] {
        if ends.iter().any(|e| lower.ends_with(e)) {
            return Some(kind);
        }
    }
    None
}

/// Whether a system kind is about the membership or look of a group.
fn is_group_kind(kind: &str) -> bool {
    matches!(
        kind,
        "subject_changed" | "icon_changed" | "created" | "left" | "joined" | "added" | "removed"
    )
}

fn digits_of(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

fn phone_like(s: &str) -> bool {
    let d = digits_of(s);
    d.len() >= 6
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.'))
}

fn same_party(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
        || (phone_like(a) && phone_like(b) && digits_of(a) == digits_of(b))
}

/// The chat name in an export's file name (`WhatsApp Chat with Ana.txt`).
pub fn chat_name(source_name: &str) -> String {
    let base = source_name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(source_name);
    let stem = [".txt", ".zip", ".TXT", ".ZIP"]
        .iter()
        .find_map(|e| base.strip_suffix(e))
        .unwrap_or(base);
    const PREFIXES: &[&str] = &[
        "WhatsApp Chat with ",
        "WhatsApp Chat - ",
        "WhatsApp Chat mit ",
        "WhatsApp-Chat mit ",
        "Conversa do WhatsApp com ",
        "Conversa no WhatsApp com ",
        "Chat de WhatsApp con ",
        "Chat de WhatsApp con: ",
        "Discussion WhatsApp avec ",
    ];
    let name = PREFIXES
        .iter()
        .find_map(|p| stem.strip_prefix(p))
        .unwrap_or(stem);
    normalise(name).trim().to_string()
}

// ---------------------------------------------------------------------------
// Parsing

/// An entry of the file: a header and its continuation lines.
struct Entry {
    line: u64,
    /// The lines as they were (`\r` dropped), joined with `\n`.
    raw: String,
    bracket: bool,
    /// The normalised text after the header.
    rest: String,
    /// Whether U+200E followed the author's `: ` in the raw line.
    lrm_text: bool,
    continuation: Vec<String>,
}

impl Entry {
    /// The entry whose lines are `text[start..end]`, the first a header.
    fn at(text: &str, start: usize, end: usize, line: u64) -> Entry {
        let mut lines = text[start..end]
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l));
        let raw_first = lines.next().unwrap_or("");
        let first = normalise(raw_first);
        let (bracket, rest) = match scan_header(&first) {
            Some(h) => (h.bracket, h.rest),
            None => (false, ""),
        };
        let lrm_text =
            bracket && split_author(rest).is_some() && raw_first.contains(":\u{20}\u{200E}");
        let mut e = Entry {
            line,
            raw: raw_first.to_string(),
            bracket,
            rest: rest.to_string(),
            lrm_text,
            continuation: Vec::new(),
        };
        for l in lines {
            e.raw.push('\n');
            e.raw.push_str(l);
            e.continuation.push(normalise(l).into_owned());
        }
        e
    }
}

enum Kind {
    System {
        kind: &'static str,
        author: Option<String>,
        text: String,
    },
    Message {
        author: String,
        body: String,
    },
}

fn split_author(rest: &str) -> Option<(&str, &str)> {
    if let Some(at) = rest.find(": ") {
        return Some((&rest[..at], &rest[at + 2..]));
    }
    rest.strip_suffix(':').map(|a| (a, ""))
}

fn classify(e: &Entry, chat: &str) -> Kind {
    let full = || {
        let mut t = e.rest.clone();
        for c in &e.continuation {
            t.push('\n');
            t.push_str(c);
        }
        t
    };
    let Some((author, first)) = split_author(&e.rest) else {
        let text = full();
        return Kind::System {
            kind: system_kind(&text).unwrap_or("other"),
            author: None,
            text,
        };
    };
    let author_kind = system_kind(author);
    if author.contains(['"', '“', '„', '«'])
        || matches!(
            author_kind,
            Some("subject_changed" | "created" | "icon_changed")
        )
    {
        let text = full();
        return Kind::System {
            kind: system_kind(&text).unwrap_or("other"),
            author: None,
            text,
        };
    }
    let mut body = first.to_string();
    for c in &e.continuation {
        body.push('\n');
        body.push_str(c);
    }
    let text_kind = system_kind(&body);
    let system = match text_kind {
        Some("encryption" | "missed_call") => true,
        Some(_) => e.bracket && (e.lrm_text || same_party(author, chat)),
        None => false,
    };
    if system {
        return Kind::System {
            kind: text_kind.unwrap_or("other"),
            author: Some(author.trim().to_string()),
            text: body,
        };
    }
    Kind::Message {
        author: author.trim().to_string(),
        body,
    }
}

/// Media found in a message text.
struct Media {
    kind: &'static str,
    placeholder: String,
    file: Option<String>,
}

fn find_media(body: &str) -> Option<Media> {
    let first = body.lines().next().unwrap_or("").trim();
    let lower = first.to_lowercase();
    if OMITTED_ANDROID.contains(&lower.as_str()) {
        return Some(Media {
            kind: "omitted",
            placeholder: first.to_string(),
            file: None,
        });
    }
    if let Some(p) = OMITTED_IOS.iter().find(|p| {
        lower == **p
            || lower
                .strip_suffix(**p)
                .is_some_and(|pre| pre.ends_with(' ') || pre.ends_with('•'))
    }) {
        let start = first.len() - p.len();
        return Some(Media {
            kind: "omitted",
            placeholder: first.get(start..).unwrap_or(first).to_string(),
            file: None,
        });
    }
    // `<label: NAME>` at the end of the first line.
    if let Some(stripped) = first.strip_suffix('>')
        && let Some(open) = stripped.rfind('<')
    {
        let inner = &stripped[open + 1..];
        if let Some((label, name)) = inner.split_once(": ") {
            let name = name.trim();
            if !label.is_empty()
                && label.chars().count() <= 24
                && label.chars().all(|c| c.is_alphabetic() || c == ' ')
                && !name.is_empty()
                && !name.contains(['<', '>', '/', '\\'])
            {
                return Some(Media {
                    kind: "attached",
                    placeholder: first[open..].to_string(),
                    file: Some(name.to_string()),
                });
            }
        }
    }
    // `NAME (file attached)`.
    if let Some(stripped) = first.strip_suffix(')')
        && let Some(open) = stripped.rfind(" (")
    {
        let label = stripped[open + 2..].to_lowercase();
        let name = stripped[..open].trim();
        if FILE_ATTACHED.contains(&label.as_str())
            && !name.is_empty()
            && !name.contains(['/', '\\'])
        {
            return Some(Media {
                kind: "attached",
                placeholder: first.to_string(),
                file: Some(name.to_string()),
            });
        }
    }
    None
}

fn strip_edited(body: &str) -> Option<&str> {
    let trimmed = body.trim_end();
    let lower = trimmed.to_lowercase();
    EDITED.iter().find_map(|m| {
        lower
            .ends_with(m)
            .then(|| trimmed[..trimmed.len() - m.len()].trim_end())
    })
}

fn is_deleted(body: &str) -> bool {
    let lower = body.trim().to_lowercase();
    let lower = lower.trim_end_matches('.');
    DELETED.contains(&lower)
}

fn id_of(parts: &[&[u8]]) -> String {
    let mut buf = Vec::new();
    for p in parts {
        buf.extend_from_slice(&(p.len() as u64).to_be_bytes());
        buf.extend_from_slice(p);
    }
    Digest::of(&buf).to_string()[..40].to_string()
}

/// The conversation id of a chat of a custodian.
pub fn conversation_id(custodian_phone: &str, chat: &str) -> String {
    format!(
        "whatsapp-export:{}",
        id_of(&[
            b"custos/whatsapp-export/conversation/v1",
            custodian_phone.as_bytes(),
            chat.as_bytes(),
        ])
    )
}

/// A message entry of a scanned export: where its lines are, and what the
/// checking pass worked out about it.
#[derive(Clone, Copy, Debug)]
struct Slot {
    line: u64,
    /// Its lines are `text[start..end]`.
    start: usize,
    end: usize,
    sent_at: Timestamp,
    local: jiff::civil::DateTime,
    /// Index into [`Scanned::senders`].
    sender: u32,
    /// Among earlier messages with the same sent time, sender and text.
    ordinal: u64,
}

/// An export read and checked whole by [`scan`]: every line has been read,
/// every date and time resolved and every author placed, so building its
/// messages ([`Scanned::message`]) cannot fail. It holds only a few dozen
/// bytes per message besides the text it borrows; the messages are built
/// on demand, in any order and on any thread, so an importer can write
/// them in bounded batches.
#[derive(Debug)]
pub struct Scanned<'a> {
    text: &'a str,
    options: &'a ExportOptions,
    captured_at: Timestamp,
    slots: Vec<Slot>,
    /// The distinct senders, and whether each is the custodian.
    senders: Vec<(String, bool)>,
    /// The system lines: header line number and text (author included when
    /// the line had one).
    pub system: Vec<(u64, String)>,
    /// The system lines as [`SystemEvent`]s (`whatsapp.export.<kind>`,
    /// target the conversation).
    pub system_events: Vec<SystemEvent>,
    /// The date order used.
    pub date_order: DateOrder,
    /// Whether the order was inferred (`false`: given in the options).
    pub date_order_inferred: bool,
    /// The chat name, from the file name.
    pub chat: String,
    /// The conversation id of every message.
    pub conversation: String,
    /// The author taken for the custodian, if any.
    pub custodian_author: Option<String>,
    /// Whether the chat looks like a group.
    pub is_group: bool,
    /// Lines read.
    pub lines: u64,
}

/// A header seen in the first pass.
struct Seen {
    line: u64,
    start: usize,
    end: usize,
    fields: [Field; 3],
    time: Result<jiff::civil::Time, ExportError>,
}

/// The date as written on the header line at `text[start..]`.
fn date_text_at(text: &str, start: usize) -> String {
    let line = text[start..].split('\n').next().unwrap_or("");
    let line = normalise(line.strip_suffix('\r').unwrap_or(line));
    scan_header(&line).map_or_else(String::new, |h| h.date_text.to_string())
}

fn hash_of(body: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut h);
    h.finish()
}

/// Below this many bytes a text is scanned on one thread.
const PARALLEL_MIN_BYTES: usize = 256 << 10;

/// Where `text` may be cut into about `chunks` pieces for [`scan`]: byte
/// offsets, the first 0 and the last `text.len()`, each other one the start
/// of a line that is a header (so every piece but the first starts an
/// entry), increasing.
fn cut_points(text: &str, chunks: usize) -> Vec<usize> {
    let mut cuts = vec![0];
    for j in 1..chunks {
        let target = text.len() * j / chunks;
        let mut at = *cuts.last().expect("starts with 0");
        if target > at {
            // The start of the first line after `target`.
            at = match text.as_bytes()[target..].iter().position(|&b| b == b'\n') {
                Some(p) => target + p + 1,
                None => text.len(),
            };
        }
        // On to the first header line from there.
        while at < text.len() {
            let rest = &text[at..];
            let raw = rest.split('\n').next().unwrap_or("");
            let raw_line = raw.strip_suffix('\r').unwrap_or(raw);
            if scan_header(&normalise(raw_line)).is_some() {
                break;
            }
            at += raw.len() + 1;
        }
        let at = at.min(text.len());
        if at > *cuts.last().expect("starts with 0") && at < text.len() {
            cuts.push(at);
        }
    }
    cuts.push(text.len());
    cuts
}

/// Pass 1 over one piece of the text (see [`cut_points`]) whose first line
/// is line `first`: where its entries are. Only the first piece may start
/// with lines that are not headers.
fn find_entries(
    text: &str,
    piece: std::ops::Range<usize>,
    first: u64,
) -> Result<(Vec<Seen>, u64), ExportError> {
    let mut seen: Vec<Seen> = Vec::new();
    let mut count = 0;
    let base = text.as_ptr() as usize;
    for (n, raw) in lines(&text[piece]) {
        let n = n + first - 1;
        count = n;
        let start = raw.as_ptr() as usize - base;
        let end = start + raw.len();
        let line = normalise(raw);
        if let Some(h) = scan_header(&line) {
            seen.push(Seen {
                line: n,
                start,
                end,
                fields: h.fields,
                time: resolve_time(n, &h),
            });
        } else if let Some(e) = seen.last_mut() {
            e.end = end;
        } else if !line.trim().is_empty() {
            return Err(ExportError::NotAMessage {
                line: n,
                text: line.chars().take(60).collect(),
            });
        }
    }
    Ok((seen, count))
}

/// What pass 2 made of one piece's entries; authors are numbered within
/// the piece.
#[derive(Default)]
struct Classified {
    slots: Vec<Slot>,
    authors: Vec<String>,
    /// Per message: its author (within the piece) and a hash of its text.
    keys: Vec<(u32, u64)>,
    system: Vec<(u64, String)>,
    system_events: Vec<SystemEvent>,
    group_events: bool,
}

/// Pass 2 over entries found by [`find_entries`]: times and kinds;
/// messages keep only where they are. The first bad entry is the error.
fn classify_entries(
    text: &str,
    seen: Vec<Seen>,
    order: DateOrder,
    options: &ExportOptions,
    chat: &str,
    conversation: &str,
) -> Result<Classified, ExportError> {
    let mut out = Classified::default();
    let mut author_ids: HashMap<String, u32> = HashMap::new();
    for s in seen {
        // The text of the date is only made for an error.
        let date = match resolve_date(s.line, "", &s.fields, order) {
            Ok(date) => date,
            Err(_) => resolve_date(s.line, &date_text_at(text, s.start), &s.fields, order)?,
        };
        let time = s.time?;
        let local = date.to_datetime(time);
        let ts = options
            .tz
            .to_ambiguous_timestamp(local)
            .compatible()
            .map_err(|err| ExportError::BadTime {
                line: s.line,
                text: local.to_string(),
                problem: err.to_string(),
            })?;
        let sent_at = Timestamp::from_micros(ts.as_microsecond());
        let e = Entry::at(text, s.start, s.end, s.line);
        match classify(&e, chat) {
            Kind::System { kind, author, text } => {
                out.group_events |= is_group_kind(kind);
                let shown = match &author {
                    Some(a) => format!("{a}: {text}"),
                    None => text.clone(),
                };
                let mut details = Map::new();
                details.insert("source_file".into(), options.source_name.clone().into());
                details.insert("line".into(), e.line.into());
                details.insert("kind".into(), kind.into());
                details.insert("text".into(), text.into());
                details.insert("local_time".into(), local.to_string().into());
                details.insert("chat".into(), chat.into());
                if let Some(a) = author {
                    details.insert("author".into(), a.into());
                }
                details.insert(
                    "raw_digest".into(),
                    Digest::of(e.raw.as_bytes()).to_string().into(),
                );
                out.system_events.push(SystemEvent {
                    actor: "whatsapp-export".into(),
                    action: format!("whatsapp.export.{kind}"),
                    target: Some(conversation.to_string()),
                    at: sent_at,
                    details,
                });
                out.system.push((e.line, shown));
            }
            Kind::Message { author, body } => {
                let id = match author_ids.get(&author) {
                    Some(&id) => id,
                    None => {
                        let id = out.authors.len() as u32;
                        out.authors.push(author.clone());
                        author_ids.insert(author, id);
                        id
                    }
                };
                out.keys.push((id, hash_of(&body)));
                out.slots.push(Slot {
                    line: s.line,
                    start: s.start,
                    end: s.end,
                    sent_at,
                    local,
                    sender: id,
                    ordinal: 0,
                });
            }
        }
    }
    Ok(out)
}

/// Runs `work` on every item, one scoped thread each but the first, which
/// runs on the calling thread; the answers in item order.
fn on_threads<T: Send, R: Send>(items: Vec<T>, work: impl Fn(T) -> R + Sync) -> Vec<R> {
    let mut items = items.into_iter();
    let Some(first) = items.next() else {
        return Vec::new();
    };
    std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = items.map(|item| scope.spawn(move || work(item))).collect();
        let mut out = vec![work(first)];
        out.extend(
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))),
        );
        out
    })
}

/// Reads and checks an export's chat text, whole, without building its
/// messages; see [`parse`] for the rules and [`Scanned`] for what is kept.
/// The first bad line is the error.
///
/// A large text is cut at header lines into one piece per core; the pieces
/// are read at the same time and put together in file order, so the result
/// (and which error is reported) is the same as reading it in one go.
pub fn scan<'a>(
    text: &'a str,
    options: &'a ExportOptions,
    captured_at: Timestamp,
) -> Result<Scanned<'a>, ExportError> {
    let chunks = if text.len() < PARALLEL_MIN_BYTES {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    };
    scan_in(text, options, captured_at, chunks)
}

/// [`scan`], with the text cut into at most `chunks` pieces.
fn scan_in<'a>(
    text: &'a str,
    options: &'a ExportOptions,
    captured_at: Timestamp,
    chunks: usize,
) -> Result<Scanned<'a>, ExportError> {
    // Pass 1: where the entries are, piece by piece.
    let cuts = cut_points(text, chunks.max(1));
    let mut pieces = Vec::with_capacity(cuts.len() - 1);
    let mut first_line = 1u64;
    for w in cuts.windows(2) {
        pieces.push((w[0]..w[1], first_line));
        first_line += text.as_bytes()[w[0]..w[1]]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
    }
    let mut found = Vec::with_capacity(pieces.len());
    let mut count = 0;
    for piece in on_threads(pieces, |(range, first)| find_entries(text, range, first)) {
        let (seen, n) = piece?;
        count = count.max(n);
        found.push(seen);
    }
    if found.iter().all(Vec::is_empty) {
        return Err(ExportError::Empty);
    }
    let (order, inferred) = match options.date_order {
        Some(o) => (o, false),
        None => (
            infer_order(
                found
                    .iter()
                    .flatten()
                    .map(|e| (e.line, || date_text_at(text, e.start), e.fields)),
            )?,
            true,
        ),
    };

    let chat = chat_name(&options.source_name);
    let conversation = conversation_id(&options.custodian_phone, &chat);

    // Pass 2: times and kinds, piece by piece; then put together in order,
    // authors numbered by their first message in the file.
    let classified = on_threads(found, |seen| {
        classify_entries(text, seen, order, options, &chat, &conversation)
    });
    let mut slots = Vec::new();
    let mut authors: Vec<String> = Vec::new();
    let mut author_ids: HashMap<String, u32> = HashMap::new();
    let mut keys: Vec<(u32, u64)> = Vec::new();
    let mut system = Vec::new();
    let mut system_events = Vec::new();
    let mut group_events = false;
    for piece in classified {
        let piece = piece?;
        let global: Vec<u32> = piece
            .authors
            .into_iter()
            .map(|a| match author_ids.get(&a) {
                Some(&id) => id,
                None => {
                    let id = authors.len() as u32;
                    authors.push(a.clone());
                    author_ids.insert(a, id);
                    id
                }
            })
            .collect();
        slots.extend(piece.slots.into_iter().map(|mut s| {
            s.sender = global[s.sender as usize];
            s
        }));
        keys.extend(piece.keys.into_iter().map(|(a, h)| (global[a as usize], h)));
        system.extend(piece.system);
        system_events.extend(piece.system_events);
        group_events |= piece.group_events;
    }

    // Who is who.
    let distinct: BTreeSet<&String> = authors.iter().collect();
    let is_group = group_events || distinct.len() > 2;
    let is_custodian = |a: &str| {
        let lower = a.trim().to_lowercase();
        YOU.contains(&lower.as_str())
            || (phone_like(a) && digits_of(a) == digits_of(&options.custodian_phone))
            || options
                .custodian_names
                .iter()
                .any(|n| n.trim().to_lowercase() == lower)
    };
    let mut custodian: BTreeSet<&String> = distinct
        .iter()
        .copied()
        .filter(|a| is_custodian(a))
        .collect();
    if custodian.is_empty() && !is_group && distinct.len() == 2 {
        let partners: Vec<&String> = distinct
            .iter()
            .copied()
            .filter(|a| same_party(a, &chat))
            .collect();
        if partners.len() == 1 {
            custodian = distinct
                .iter()
                .copied()
                .filter(|a| *a != partners[0])
                .collect();
        }
    }
    let custodian_author = custodian.iter().next().map(|a| a.to_string());

    // Senders, and the ordinal of each message among those with the same
    // sent time, sender and text (hashes first, texts compared on a match).
    let mut senders: Vec<(String, bool)> = Vec::new();
    let mut sender_ids: HashMap<String, u32> = HashMap::new();
    let mut author_sender = Vec::with_capacity(authors.len());
    for author in &authors {
        let mine = custodian.contains(author);
        let sender = if mine {
            options.custodian_phone.clone()
        } else {
            author
                .strip_prefix('~')
                .map(str::trim_start)
                .unwrap_or(author)
                .to_string()
        };
        let id = *sender_ids.entry(sender.clone()).or_insert_with(|| {
            senders.push((sender, mine));
            senders.len() as u32 - 1
        });
        author_sender.push(id);
    }
    let body_of =
        |slot: &Slot| match classify(&Entry::at(text, slot.start, slot.end, slot.line), &chat) {
            Kind::Message { body, .. } => body,
            Kind::System { text, .. } => text,
        };
    // (sent time, sender, text hash) -> (first message, count) of the first
    // text seen with that key; texts whose hashes collide with it (rare)
    // are in `others`, in the order seen.
    let mut ordinals: HashMap<(i64, u32, u64), (usize, u64)> = HashMap::with_capacity(keys.len());
    let mut others: HashMap<(i64, u32, u64), Vec<(usize, u64)>> = HashMap::new();
    for (k, &(author, hash)) in keys.iter().enumerate() {
        let sender = author_sender[author as usize];
        let key = (slots[k].sent_at.as_micros(), sender, hash);
        let ordinal = match ordinals.entry(key) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert((k, 1));
                0
            }
            std::collections::hash_map::Entry::Occupied(mut o) => {
                let body = body_of(&slots[k]);
                let (first, count) = o.get_mut();
                if body_of(&slots[*first]) == body {
                    *count += 1;
                    *count - 1
                } else {
                    let same = others.entry(key).or_default();
                    match same
                        .iter()
                        .position(|&(first, _)| body_of(&slots[first]) == body)
                    {
                        Some(i) => {
                            same[i].1 += 1;
                            same[i].1 - 1
                        }
                        None => {
                            same.push((k, 1));
                            0
                        }
                    }
                }
            }
        };
        slots[k].sender = sender;
        slots[k].ordinal = ordinal;
    }

    Ok(Scanned {
        text,
        options,
        captured_at,
        slots,
        senders,
        system,
        system_events,
        date_order: order,
        date_order_inferred: inferred,
        chat,
        conversation,
        custodian_author,
        is_group,
        lines: count,
    })
}

impl Scanned<'_> {
    /// How many messages the export holds.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the export holds no message (only system lines).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The 1-based line of message `k`'s header.
    pub fn line_of(&self, k: usize) -> u64 {
        self.slots[k].line
    }

    /// Builds message `k` (in file order, `0..len()`).
    pub fn message(&self, k: usize) -> ExportMessage {
        let slot = &self.slots[k];
        let options = self.options;
        let e = Entry::at(self.text, slot.start, slot.end, slot.line);
        // Scanned as a message: an author, then the text (as `classify`
        // reads it, without the phrase search it already passed).
        let (author, first) = split_author(&e.rest).unwrap_or(("", &e.rest));
        let author = author.trim().to_string();
        let mut body = first.to_string();
        for c in &e.continuation {
            body.push('\n');
            body.push_str(c);
        }
        let (sender, mine) = &self.senders[slot.sender as usize];
        let (direction, recipients) = if *mine {
            (Direction::Outbound, vec![self.chat.clone()])
        } else if self.custodian_author.is_some() || same_party(&author, &self.chat) {
            (Direction::Inbound, vec![options.custodian_phone.clone()])
        } else {
            (Direction::Unknown, Vec::new())
        };
        let sent_at = slot.sent_at;
        let source_id = format!(
            "wa-export:{}",
            id_of(&[
                b"custos/whatsapp-export/message/v1",
                options.custodian_phone.as_bytes(),
                self.conversation.as_bytes(),
                &sent_at.as_micros().to_be_bytes(),
                sender.as_bytes(),
                body.as_bytes(),
                &slot.ordinal.to_be_bytes(),
            ])
        );
        let mut extra = Map::new();
        extra.insert("source_file".into(), options.source_name.clone().into());
        extra.insert("line".into(), e.line.into());
        let last = e.line + e.continuation.len() as u64;
        if last != e.line {
            extra.insert("line_end".into(), last.into());
        }
        extra.insert("author".into(), author.clone().into());
        if author.starts_with('~') {
            extra.insert("unsaved_contact".into(), true.into());
        }
        extra.insert("chat".into(), self.chat.clone().into());
        if self.is_group {
            extra.insert("group".into(), true.into());
        }
        extra.insert("local_time".into(), slot.local.to_string().into());
        extra.insert("date_order".into(), self.date_order.name().into());
        let mut text = body.clone();
        if let Some(t) = strip_edited(&body) {
            extra.insert("edited".into(), true.into());
            text = t.to_string();
        }
        if is_deleted(&text) {
            extra.insert("deleted".into(), true.into());
        }
        let media = find_media(&text);
        let mut attachment_file = None;
        if let Some(m) = media {
            extra.insert("media".into(), m.kind.into());
            extra.insert("media_placeholder".into(), m.placeholder.into());
            if let Some(f) = &m.file {
                extra.insert("attachment".into(), f.clone().into());
            }
            attachment_file = m.file;
        }
        ExportMessage {
            message: Message {
                channel: CHANNEL.into(),
                source_id,
                conversation: self.conversation.clone(),
                sender: sender.clone(),
                recipients,
                direction,
                sent_at,
                captured_at: self.captured_at,
                text: Some(text),
                attachments: Vec::new(),
                reply_to: None,
                raw_digest: Digest::of(e.raw.as_bytes()),
                extra,
            },
            line: e.line,
            attachment_file,
        }
    }

    /// Builds every message, in file order.
    pub fn into_parsed(self) -> Parsed {
        let messages = (0..self.len()).map(|k| self.message(k)).collect();
        Parsed {
            messages,
            system: self.system,
            system_events: self.system_events,
            date_order: self.date_order,
            date_order_inferred: self.date_order_inferred,
            chat: self.chat,
            conversation: self.conversation,
            custodian_author: self.custodian_author,
            is_group: self.is_group,
            lines: self.lines,
        }
    }
}

/// Parses an export's chat text into messages captured at `captured_at`.
///
/// See the [module documentation](self) for the rules. The whole text is
/// read before anything is returned; the first bad line is the error.
/// [`scan`] does the reading and checking without holding every message.
pub fn parse(
    text: &str,
    options: &ExportOptions,
    captured_at: Timestamp,
) -> Result<Parsed, ExportError> {
    Ok(scan(text, options, captured_at)?.into_parsed())
}

// ---------------------------------------------------------------------------
// Zip

/// Caps on what [`read_zip_with_limits`] unpacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZipLimits {
    /// Most entries (files and directories) the archive may hold.
    pub max_entries: usize,
    /// Most bytes all entries may unpack to together.
    pub max_total_bytes: u64,
}

impl Default for ZipLimits {
    /// 20,000 entries and 4 GiB: a WhatsApp export holds at most about
    /// 10,000 messages with media.
    fn default() -> Self {
        Self {
            max_entries: 20_000,
            max_total_bytes: 4 << 30,
        }
    }
}

/// An export archive, unpacked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportArchive {
    /// The entry name of the chat text (`_chat.txt`, `WhatsApp Chat with
    /// ….txt`).
    pub chat_file: String,
    /// The chat text (a leading byte-order mark removed).
    pub chat_text: String,
    /// The other files by entry name.
    pub media: BTreeMap<String, Vec<u8>>,
}

impl ExportArchive {
    /// The media file a message names: by entry name, or else by the last
    /// component of an entry name.
    pub fn media_named(&self, name: &str) -> Option<(&str, &[u8])> {
        if let Some((k, v)) = self.media.get_key_value(name) {
            return Some((k, v));
        }
        self.media
            .iter()
            .find(|(k, _)| k.rsplit('/').next() == Some(name))
            .map(|(k, v)| (k.as_str(), v.as_slice()))
    }
}

/// Unpacks an export archive with the [default limits](ZipLimits::default).
pub fn read_zip(bytes: &[u8]) -> Result<ExportArchive, ExportError> {
    read_zip_with_limits(bytes, &ZipLimits::default())
}

/// Unpacks an export archive: the chat text and every other file.
///
/// Refuses entries whose name leaves the archive
/// ([`zip::read::ZipFile::enclosed_name`]) or is absolute (`/…`, `\…`,
/// `C:…`), symbolic links and encrypted
/// entries, and stops at `limits` (counting bytes actually unpacked, not
/// what the archive claims). The chat text is `_chat.txt` if present, else
/// the one `.txt` whose name mentions WhatsApp, else the only `.txt`.
pub fn read_zip_with_limits(
    bytes: &[u8],
    limits: &ZipLimits,
) -> Result<ExportArchive, ExportError> {
    let zip_err = |e: zip::result::ZipError| ExportError::Zip(e.to_string());
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(zip_err)?;
    if archive.len() > limits.max_entries {
        return Err(ExportError::TooManyEntries {
            max: limits.max_entries,
        });
    }
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(zip_err)?;
        let shown = entry
            .name()
            .map(|n| n.into_owned())
            .unwrap_or_else(|_| String::from_utf8_lossy(entry.name_raw()).into_owned());
        // `enclosed_name` turns a leading root into a relative name; an
        // export never has one, so it is refused here too.
        let absolute = shown.starts_with(['/', '\\']) || shown.get(1..2) == Some(":");
        let Some(path) = entry.enclosed_name().filter(|_| !absolute) else {
            return Err(ExportError::UnsafeName(shown));
        };
        if entry.is_dir() {
            continue;
        }
        if entry.is_symlink() {
            return Err(ExportError::BadEntry {
                name: shown,
                problem: "is a symbolic link".into(),
            });
        }
        if entry.encrypted() {
            return Err(ExportError::BadEntry {
                name: shown,
                problem: "is encrypted".into(),
            });
        }
        let name = path
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let room = limits.max_total_bytes - total;
        let mut data = Vec::new();
        (&mut entry)
            .take(room + 1)
            .read_to_end(&mut data)
            .map_err(|e| ExportError::Zip(format!("{shown}: {e}")))?;
        if data.len() as u64 > room {
            return Err(ExportError::TooLarge {
                max: limits.max_total_bytes,
                entry: shown,
            });
        }
        total += data.len() as u64;
        if files.insert(name, data).is_some() {
            return Err(ExportError::BadEntry {
                name: shown,
                problem: "appears twice".into(),
            });
        }
    }
    let texts: Vec<&String> = files
        .keys()
        .filter(|k| k.to_lowercase().ends_with(".txt"))
        .collect();
    let chat_file = if let Some(k) = texts
        .iter()
        .find(|k| k.rsplit('/').next() == Some("_chat.txt"))
    {
        (*k).clone()
    } else {
        let named: Vec<&&String> = texts
            .iter()
            .filter(|k| k.to_lowercase().contains("whatsapp"))
            .collect();
        match (named.as_slice(), texts.as_slice()) {
            ([one], _) => (**one).clone(),
            ([], [one]) => (*one).clone(),
            ([], []) => {
                return Err(ExportError::NoChat(
                    "no chat text (.txt) in the archive".into(),
                ));
            }
            _ => {
                return Err(ExportError::NoChat(format!(
                    "several candidate chat texts: {}",
                    texts
                        .iter()
                        .map(|s| format!("{s:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    };
    let data = files.remove(&chat_file).expect("listed above");
    let chat_text = String::from_utf8(data).map_err(|e| ExportError::NotUtf8 {
        name: chat_file.clone(),
        at: e.utf8_error().valid_up_to(),
    })?;
    let chat_text = match chat_text.strip_prefix('\u{feff}') {
        Some(t) => t.to_string(),
        None => chat_text,
    };
    Ok(ExportArchive {
        chat_file,
        chat_text,
        media: files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The phrase search as a plain loop: the first kind with a phrase in
    /// the lowercased, trimmed text.
    fn naive_phrase_kind(text: &str) -> Option<&'static str> {
        let lower = text.trim().to_lowercase();
        SYSTEM_PHRASES
            .iter()
            .find(|(_, phrases)| phrases.iter().any(|p| lower.contains(p)))
            .map(|(kind, _)| *kind)
    }

    #[test]
    fn the_indexed_phrase_search_finds_what_the_plain_one_finds() {
        let mut texts = vec![
            "Missed voice call, then ANA ADDED Bruno and changed the subject".to_string(),
            "Ende-zu-Ende-verschlüsselt — MISSED VIDEO CALL".to_string(),
            "see you at ten".to_string(),
            " added ".to_string(),
            "x added y".to_string(),
            "Ana saiu do grupo".to_string(),
            String::new(),
            "a".to_string(),
        ];
        for (kind, phrases) in SYSTEM_PHRASES {
            for p in *phrases {
                texts.push(format!("Ana {} ok", p.to_uppercase()));
                texts.push(format!("{p}{kind}"));
                texts.push(p[..p.len() - 1].to_string());
            }
        }
        for t in &texts {
            let naive = naive_phrase_kind(t);
            // `system_kind` tries the phrases first, then the endings.
            if naive.is_some() {
                assert_eq!(system_kind(t), naive, "{t:?}");
            } else {
                assert!(
                    system_kind(t).is_none_or(|k| matches!(k, "left" | "joined")),
                    "{t:?}"
                );
            }
        }
    }
}

#[cfg(test)]
mod parallel_tests {
    use super::*;

    fn options(order: Option<DateOrder>) -> ExportOptions {
        ExportOptions {
            custodian_phone: "+447700900001".into(),
            custodian_names: vec!["Rafael Lima".into()],
            tz: jiff::tz::TimeZone::get("America/Sao_Paulo").unwrap(),
            date_order: order,
            source_name: "WhatsApp Chat with Ana Souza.txt".into(),
        }
    }

    /// A chat with continuations, blank lines, CRLF, system lines, repeated
    /// messages (ordinals) and an author who first speaks late.
    fn chat(n: usize) -> String {
        let mut t = String::from("\n\n");
        for i in 0..n {
            let day = 13 + (i / 40) % 16;
            let (h, m) = ((i / 60) % 24, i % 60);
            let who = match i % 7 {
                0 | 3 => "Rafael Lima",
                _ if i > n / 2 && i % 5 == 0 => "Bruno",
                _ => "Ana Souza",
            };
            t.push_str(&format!("{day:02}/03/2025, {h:02}:{m:02} - "));
            match i % 11 {
                0 => t.push_str("Ana Souza changed the group description\n"),
                1 => t.push_str(&format!("{who}: same text\n")),
                2 => t.push_str(&format!("{who}: first\ncontinued {i}\n\nafter a blank\n")),
                3 => t.push_str(&format!("{who}: crlf {i}\r\n")),
                _ => t.push_str(&format!("{who}: message {i}\n")),
            }
        }
        t
    }

    fn both(text: &str, order: Option<DateOrder>, chunks: usize) {
        let o = options(order);
        let at = Timestamp::from_micros(1);
        let one = scan_in(text, &o, at, 1).map(Scanned::into_parsed);
        let many = scan_in(text, &o, at, chunks).map(Scanned::into_parsed);
        assert_eq!(one, many, "{chunks} pieces");
    }

    #[test]
    fn pieces_cut_only_before_headers_and_cover_the_text() {
        let text = chat(300);
        for chunks in [1, 2, 3, 8, 50, 1000] {
            let cuts = cut_points(&text, chunks);
            assert_eq!(cuts.first(), Some(&0));
            assert_eq!(cuts.last(), Some(&text.len()));
            assert!(cuts.windows(2).all(|w| w[0] < w[1]), "{cuts:?}");
            assert!(cuts.len() <= chunks + 1);
            for &c in &cuts[1..cuts.len() - 1] {
                assert_eq!(text.as_bytes()[c - 1], b'\n');
                let line = text[c..].split('\n').next().unwrap();
                assert!(
                    scan_header(line.trim_end_matches('\r')).is_some(),
                    "{line:?}"
                );
            }
        }
        assert!(cut_points(&text, 8).len() > 2, "a long chat is cut");
    }

    #[test]
    fn a_text_read_in_pieces_reads_as_in_one_go() {
        for n in [1, 2, 5, 40, 300] {
            let text = chat(n);
            for chunks in [2, 3, 7, 64] {
                both(&text, Some(DateOrder::Dmy), chunks);
                both(&text, None, chunks);
                both(text.trim_end(), None, chunks);
            }
        }
        let parsed = scan_in(&chat(300), &options(None), Timestamp::from_micros(1), 5)
            .unwrap()
            .into_parsed();
        assert_eq!(parsed.date_order, DateOrder::Dmy);
        assert!(
            parsed
                .messages
                .iter()
                .any(|m| m.message.extra["author"] == "Bruno")
        );
        assert!(parsed.messages.iter().any(|m| m.line > 300));
    }

    #[test]
    fn the_first_bad_line_is_the_error_in_pieces_too() {
        let good = chat(300);
        let lines: Vec<&str> = good.split('\n').collect();
        // The first header line at or after index `at`.
        let header = |at: usize| (at..).find(|&i| lines[i].starts_with(['1', '2'])).unwrap();
        let with = |at: usize, line: &str| {
            let mut l = lines.clone();
            l[header(at)] = line;
            l.join("\n")
        };
        let cases = [
            // A bad date late, a bad time earlier: the time's line wins.
            {
                let t = with(350, "31/02/2025, 10:00 - Ana Souza: late");
                let mut l: Vec<&str> = t.split('\n').collect();
                l[header(100)] = "14/03/2025, 25:00 - Ana Souza: early";
                l.join("\n")
            },
            with(330, "13/13/2025, 10:00 - Ana Souza: no month"),
            // Dates only month-first late in a day-first file.
            with(340, "03/25/2025, 10:00 - Ana Souza: other order"),
            format!("junk before\n{good}"),
            String::new(),
            "\n\n\n".to_string(),
        ];
        for text in &cases {
            for order in [None, Some(DateOrder::Dmy)] {
                let o = options(order);
                let at = Timestamp::from_micros(1);
                let one = scan_in(text, &o, at, 1).map(Scanned::into_parsed);
                assert!(one.is_err() || order.is_some(), "{one:?}");
                for chunks in [2, 3, 9] {
                    let many = scan_in(text, &o, at, chunks).map(Scanned::into_parsed);
                    assert_eq!(one, many, "{chunks} pieces");
                }
            }
        }
        let o = options(Some(DateOrder::Dmy));
        let err = scan_in(&cases[0], &o, Timestamp::from_micros(1), 4).unwrap_err();
        let line = header(100) as u64 + 1;
        assert!(
            matches!(err, ExportError::BadTime { line: l, .. } if l == line),
            "{err}"
        );
    }
}
