//! The transcript resolved into what a reader sees, shared by the HTML and
//! PDF renderers so both say exactly the same thing: names looked up, times
//! written in the zone, day separators placed, labels worded.

use std::collections::HashMap;

use custos_model::Timestamp;

use crate::zone::{Day, Zone};
use crate::{Error, Side, Transcript};

/// The whole transcript, ready to draw.
pub(crate) struct View<'a> {
    pub(crate) title: &'a str,
    pub(crate) subtitle: &'a [String],
    /// "Time zone: Europe/London (all times local, with their UTC offset)".
    pub(crate) zone_line: String,
    pub(crate) participants: Vec<ParticipantLine<'a>>,
    pub(crate) entries: Vec<Entry<'a>>,
    pub(crate) footer: &'a str,
    /// The latest instant in the transcript (UTC microseconds), 0 when empty;
    /// the PDF's creation date, so output never depends on the clock.
    pub(crate) latest_micros: i64,
}

/// A participant in the header block.
pub(crate) struct ParticipantLine<'a> {
    pub(crate) display: &'a str,
    pub(crate) id: &'a str,
    pub(crate) side: Side,
}

/// What comes next down the page.
pub(crate) enum Entry<'a> {
    /// A new local day starts: "Monday 10 June 2024".
    Day(String),
    /// One message bubble.
    Message(Message<'a>),
}

/// One message, every line worded.
pub(crate) struct Message<'a> {
    pub(crate) bates: &'a str,
    /// The sender's display name (their id when not a participant).
    pub(crate) sender: &'a str,
    pub(crate) side: Side,
    /// When sent, in the zone: "2024-06-10 08:10:56 BST (+01:00)".
    pub(crate) stamp: String,
    /// When sent, as an instant (for machine-readable markup).
    pub(crate) sent_at: Timestamp,
    /// The Bates number of the message replied to.
    pub(crate) reply_to: Option<&'a str>,
    /// "Deleted by Ana Ruiz at 2024-06-10 ..." when deleted.
    pub(crate) deleted: Option<String>,
    /// The original text.
    pub(crate) text: Option<&'a str>,
    /// Later versions: ("Edited at 2024-06-10 ...", text), oldest first.
    pub(crate) edits: Vec<(String, &'a str)>,
    pub(crate) attachments: Vec<Attachment<'a>>,
    /// "👍 Ana Ruiz", one per reaction.
    pub(crate) reactions: Vec<String>,
    pub(crate) status: Option<&'a str>,
}

/// An attachment, worded.
pub(crate) struct Attachment<'a> {
    pub(crate) name: &'a str,
    pub(crate) media_type: &'a str,
    /// "245,760 bytes (240.0 KiB)".
    pub(crate) size: String,
    pub(crate) sha256: &'a str,
}

impl<'a> View<'a> {
    /// Resolves `t`; fails only on an unknown time zone.
    pub(crate) fn new(t: &'a Transcript) -> Result<Self, Error> {
        let zone = Zone::new(&t.time_zone)?;
        let mut people: HashMap<&str, (&str, Side)> = HashMap::new();
        for p in &t.participants {
            // The first entry for an id wins, as a reader of the header would expect.
            people
                .entry(p.id.as_str())
                .or_insert((p.display.as_str(), p.side));
        }
        let name = |id: &'a str| people.get(id).map_or(id, |(display, _)| *display);

        let mut entries = Vec::with_capacity(t.items.len() + 8);
        let mut last_day: Option<Day> = None;
        let mut latest = i64::MIN;
        for item in &t.items {
            let day = zone.day(item.sent_at);
            if day.is_some() && day != last_day {
                if let Some(day) = day {
                    entries.push(Entry::Day(Zone::day_text(day)));
                }
                last_day = day;
            }
            latest = latest.max(item.sent_at.as_micros());
            let (sender, side) = people
                .get(item.sender.as_str())
                .copied()
                .unwrap_or((item.sender.as_str(), Side::External));
            let deleted = item.deleted.as_ref().map(|d| {
                latest = latest.max(d.at.as_micros());
                format!("Deleted by {} at {}", name(&d.by), zone.stamp(d.at))
            });
            let edits = item
                .edits
                .iter()
                .map(|e| {
                    latest = latest.max(e.at.as_micros());
                    (format!("Edited at {}", zone.stamp(e.at)), e.text.as_str())
                })
                .collect();
            let attachments = item
                .attachments
                .iter()
                .map(|a| Attachment {
                    name: &a.name,
                    media_type: &a.media_type,
                    size: size_text(a.size),
                    sha256: &a.sha256,
                })
                .collect();
            let reactions = item
                .reactions
                .iter()
                .map(|r| format!("{} {}", r.emoji, name(&r.by)))
                .collect();
            entries.push(Entry::Message(Message {
                bates: &item.bates,
                sender,
                side,
                stamp: zone.stamp(item.sent_at),
                sent_at: item.sent_at,
                reply_to: item.reply_to.as_deref(),
                deleted,
                text: item.text.as_deref(),
                edits,
                attachments,
                reactions,
                status: item.status.as_deref(),
            }));
        }

        Ok(View {
            title: &t.title,
            subtitle: &t.subtitle,
            zone_line: format!(
                "Time zone: {} (every time is local, followed by its UTC offset)",
                t.time_zone
            ),
            participants: t
                .participants
                .iter()
                .map(|p| ParticipantLine {
                    display: &p.display,
                    id: &p.id,
                    side: p.side,
                })
                .collect(),
            entries,
            footer: &t.footer,
            latest_micros: if latest == i64::MIN { 0 } else { latest },
        })
    }
}

/// How a side is named in the header: "firm (right)".
pub(crate) fn side_text(side: Side) -> &'static str {
    match side {
        Side::Firm => "firm (right)",
        Side::External => "external (left)",
        Side::Internal => "internal colleague (left, marked internal)",
    }
}

/// `245,760 bytes (240.0 KiB)`: the exact count for the record, a rounded
/// one for the reader.
pub(crate) fn size_text(size: u64) -> String {
    let digits = size.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let unit = if size == 1 { "byte" } else { "bytes" };
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if size < 1024 {
        return format!("{grouped} {unit}");
    }
    let mut value = size as f64 / 1024.0;
    let mut index = 0;
    while value >= 1024.0 && index + 1 < UNITS.len() {
        value /= 1024.0;
        index += 1;
    }
    format!("{grouped} {unit} ({value:.1} {})", UNITS[index])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Deleted, EditLine, Item, Participant, ReactionLine};

    #[test]
    fn sizes_are_exact_and_readable() {
        assert_eq!(size_text(0), "0 bytes");
        assert_eq!(size_text(1), "1 byte");
        assert_eq!(size_text(1023), "1,023 bytes");
        assert_eq!(size_text(245_760), "245,760 bytes (240.0 KiB)");
        assert_eq!(size_text(3_500_000), "3,500,000 bytes (3.3 MiB)");
    }

    fn item(bates: &str, sender: &str, at: &str) -> Item {
        Item {
            bates: bates.into(),
            sender: sender.into(),
            sent_at: Timestamp::parse(at).unwrap(),
            text: Some("hi".into()),
            attachments: vec![],
            edits: vec![],
            deleted: None,
            reactions: vec![],
            reply_to: None,
            status: None,
        }
    }

    #[test]
    fn resolves_names_days_and_labels() {
        let mut second = item("B-2", "ben", "2024-06-10T23:30:00Z");
        second.deleted = Some(Deleted {
            at: Timestamp::parse("2024-06-11T00:00:00Z").unwrap(),
            by: "ana".into(),
        });
        second.edits = vec![EditLine {
            at: Timestamp::parse("2024-06-10T23:40:00Z").unwrap(),
            text: "hello".into(),
        }];
        second.reactions = vec![ReactionLine {
            by: "stranger".into(),
            emoji: "👍".into(),
        }];
        second.reply_to = Some("B-1".into());
        let t = Transcript {
            title: "t".into(),
            subtitle: vec![],
            time_zone: "Europe/London".into(),
            participants: vec![
                Participant {
                    id: "ana".into(),
                    display: "Ana Ruiz".into(),
                    side: Side::External,
                },
                Participant {
                    id: "ben".into(),
                    display: "Ben Cole".into(),
                    side: Side::Firm,
                },
            ],
            items: vec![
                item("B-1", "ana", "2024-06-10T08:00:00Z"),
                second,
                item("B-3", "nobody", "2024-06-10T23:50:00Z"),
            ],
            footer: String::new(),
        };
        let view = View::new(&t).unwrap();
        let mut lines = Vec::new();
        for entry in &view.entries {
            match entry {
                Entry::Day(day) => lines.push(format!("day {day}")),
                Entry::Message(m) => lines.push(format!(
                    "{} {} {:?} {} {:?} {:?} {:?} {:?}",
                    m.bates, m.sender, m.side, m.stamp, m.reply_to, m.deleted, m.edits, m.reactions
                )),
            }
        }
        assert_eq!(
            lines,
            [
                "day Monday 10 June 2024",
                "B-1 Ana Ruiz External 2024-06-10 09:00:00 BST (+01:00) None None [] []",
                "day Tuesday 11 June 2024",
                "B-2 Ben Cole Firm 2024-06-11 00:30:00 BST (+01:00) Some(\"B-1\") \
                 Some(\"Deleted by Ana Ruiz at 2024-06-11 01:00:00 BST (+01:00)\") \
                 [(\"Edited at 2024-06-11 00:40:00 BST (+01:00)\", \"hello\")] [\"👍 stranger\"]",
                "B-3 nobody External 2024-06-11 00:50:00 BST (+01:00) None None [] []",
            ]
        );
        assert_eq!(
            view.latest_micros,
            Timestamp::parse("2024-06-11T00:00:00Z")
                .unwrap()
                .as_micros()
        );
    }
}
