//! Synthetic but realistic demo data for custos.
//!
//! This crate generates a deterministic archive of business conversations so
//! that the product can be tried, demonstrated and benchmarked without real
//! customer data. Given a seed and a count it streams messages as JSON lines
//! in custos's generic import format, one object per line:
//!
//! ```json
//! {"channel":"whatsapp","id":"wamid.HBgM…","conversation":"wa-ldn-000042",
//!  "from":"+447700900003","to":["+447700900117"],"direction":"outbound",
//!  "sent_at":"2026-03-12T14:05:33Z","text":"Indicative 1.0862 on EUR 25m, 3M. Want me to firm it up?",
//!  "reply_to":"wamid.HBgM…","from_name":"Daniel Okafor","desk":"FX Sales",
//!  "business_unit":"Harrowgate & Finch Markets (London)"}
//! ```
//!
//! (shown wrapped; each real line is a single line). Optional fields are
//! `text` (absent only on messages that are just an attachment), `reply_to`
//! (an earlier message of the same conversation), `attachments` (name,
//! media type, SHA-256 and size) and, for e-mail, `subject`. Every message
//! also carries `from_name`, `desk` and `business_unit`, which the importer
//! keeps as extra fields.
//!
//! # The archive
//!
//! Three fictional firms share the year 2026, each in its own time zone,
//! business hours and public holidays:
//!
//! * **Harrowgate & Finch**, a London investment bank: FX and rates sales
//!   and traders talking to corporate treasurers and fund managers in the UK
//!   and the EU, in English. Staff use Ofcom drama numbers (+44 7700 900xxx).
//! * **Vitalis Farmacêutica**, a Brazilian pharmaceutical sales force:
//!   representatives, doctors and pharmacists in São Paulo, in Portuguese
//!   (+55 11 9xxxx-xxxx).
//! * **Kirana Direct Customer Care**, an Indian contact centre: agents and
//!   retail customers, in English and Hinglish (+91 98xxx xxxxx).
//!
//! Conversations are WhatsApp chats (most of them), SMS threads and e-mail
//! threads of 3–30 messages: quotes and trades, visits and orders, delivery
//! updates, refunds and complaints, plus employee-to-employee chats. They
//! run side by side and the output is in chronological order, mostly in
//! business hours with a few messages at night or at weekends.
//!
//! About 4% of messages carry something a supervision policy should catch:
//! requests to move off-channel ("let's move this to Signal", "me chama no
//! Telegram", "text me on my personal number"), promises of guaranteed
//! returns, gifts and trips offered to doctors, test payment card numbers
//! that pass the Luhn check, Brazilian CPF numbers with correct check
//! digits, IBANs, angry customers and requests to delete the chat.
//!
//! All names are invented; phone numbers come from ranges reserved for
//! fiction or are plainly synthetic; e-mail domains are under
//! `example.com`, `example.org` and `example.net`; card numbers and IBANs
//! are the published test and documentation values.
//!
//! # Determinism
//!
//! The same [`DemoConfig`] always produces byte-identical output, on any
//! platform (the generator uses ChaCha8 and integer arithmetic only);
//! different seeds give different archives. Attachment hashes are the
//! SHA-256 of the ASCII string
//! `custos-demo/{seed}/{channel}/{id}/{name}/{size}`, standing in for the
//! file content.
//!
//! # Example
//!
//! ```
//! let config = custos_demo::DemoConfig { seed: 7, messages: 3 };
//! let lines: Vec<String> = custos_demo::generate(&config).collect();
//! assert_eq!(lines.len(), 3);
//! assert!(lines[0].starts_with("{\"channel\":"));
//! ```

mod calendar;
mod data;
mod generator;
mod media;
mod recent;
mod scenes;

pub use scenes::{Cast, Change, ConsentRecord, MediaFile, Scenes};

use std::io::{self, BufWriter, Write};

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DemoConfig {
    /// Seed of the random generator; the same seed gives the same archive.
    pub seed: u64,
    /// Number of messages (JSON lines) to generate.
    pub messages: usize,
}

impl Default for DemoConfig {
    /// Seed 2026, 5,000 messages.
    fn default() -> Self {
        Self {
            seed: 2026,
            messages: 5_000,
        }
    }
}

/// Generates exactly `config.messages` messages, each a single JSON object
/// without a trailing newline, in chronological order.
///
/// The iterator streams: it keeps only the conversations still in progress,
/// so a million messages need a few megabytes at most.
pub fn generate(config: &DemoConfig) -> impl Iterator<Item = String> + use<> {
    generator::Generator::new(config.seed, config.messages)
}

/// Generates about `config.messages` messages dated in the `days` days
/// before `until` (Unix seconds), in chronological order: the 2026 traffic
/// shifted by whole weeks (weekdays and business hours kept), so a demo
/// archive always shows recent activity. Deterministic for the same config,
/// `until` and `days`; the count varies a little with the weekday of `until`.
pub fn generate_recent(
    config: &DemoConfig,
    until: i64,
    days: u32,
) -> impl Iterator<Item = String> + use<> {
    recent::recent(config.seed, config.messages, until, days)
}

/// The hand-written scenes laid over the generated traffic: a planted risk
/// for every starter policy in English, Portuguese and Spanish, media with
/// real bytes (a PNG and a PDF), delivery statuses, an edit, a deletion,
/// reactions, opt-ins with evidence and opt-outs (STOP, PARAR, BAJA), all
/// in the days before `until` and between the staff of `config`.
pub fn scenes(config: &DemoConfig, until: i64) -> Scenes {
    scenes::scenes(&staff(config), until)
}

/// An employee of one of the demo firms: a custodian to enrol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoStaff {
    /// A stable employee id, `E001`...
    pub id: String,
    /// Full name.
    pub name: String,
    /// Work phone, E.164.
    pub phone: String,
    /// Work e-mail address.
    pub email: String,
    /// Business unit and desk.
    pub units: Vec<String>,
}

/// The employees whose messages [`generate`] produces with `config`.
pub fn staff(config: &DemoConfig) -> Vec<DemoStaff> {
    generator::Generator::new(config.seed, config.messages).staff()
}

/// Writes the messages of [`generate`] to `out`, one per line (each line
/// ends with `\n`), and returns how many lines were written.
///
/// Output is buffered internally and flushed before returning.
pub fn write_jsonl(config: &DemoConfig, out: &mut impl Write) -> io::Result<u64> {
    let mut writer = BufWriter::with_capacity(1 << 16, out);
    let mut lines = 0u64;
    for line in generate(config) {
        writer.write_all(line.as_bytes())?;
        writer.write_all(b"\n")?;
        lines += 1;
    }
    writer.flush()?;
    Ok(lines)
}
