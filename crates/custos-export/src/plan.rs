//! From disclosed entries to what the files show: each message gathered
//! with the edits, deletion, reactions and statuses that target it, Bates
//! numbers in (conversation, time) order, and the slices (conversation ×
//! day, month or whole) that become files.
//!
//! [`verify`](crate::verify) builds the same plan from the entries it has
//! proven, so both sides agree on what a message looks like.

use crate::{Slicing, bates};
use custos_model::{Deletion, DeliveryStatus, Edit, Event, Message, Reaction};
use sha2::Digest as _;
use std::collections::HashMap;
use std::ops::Range;

/// Most events in one RSMF file (Relativity's recommendation).
pub const MAX_EVENTS_PER_FILE: usize = 10_000;

/// One message and everything that targets it.
pub struct Thread<'a> {
    /// The message's journal seq.
    pub seq: u64,
    /// The message.
    pub message: &'a Message,
    /// Its Bates number.
    pub bates: String,
    /// Edits, oldest first.
    pub edits: Vec<(u64, &'a Edit)>,
    /// Deletions, oldest first (a message is shown deleted by the first).
    pub deletions: Vec<(u64, &'a Deletion)>,
    /// Reactions and their removals, oldest first.
    pub reactions: Vec<(u64, &'a Reaction)>,
    /// Delivery statuses, oldest first.
    pub statuses: Vec<(u64, &'a DeliveryStatus)>,
    /// Index into [`Plan::conversations`].
    pub conversation: usize,
    /// Index into [`Plan::slices`].
    pub slice: usize,
}

/// A conversation: its messages share a channel and a conversation id.
pub struct Conversation {
    /// The channel.
    pub channel: String,
    /// The conversation id.
    pub id: String,
    /// Its folder under each format's folder: `CHANNEL/CONVERSATION`, made
    /// safe for file systems.
    pub dir: String,
    /// Every sender and recipient of its messages, sorted.
    pub addresses: Vec<String>,
}

/// The messages of one output file.
pub struct Slice {
    /// Index into [`Plan::conversations`].
    pub conversation: usize,
    /// The local day (`2024-06-10`), month (`2024-06`) or `conversation`.
    pub label: String,
    /// The file's path without format folder and extension:
    /// `CHANNEL/CONVERSATION/LABEL` (`-partN` when split).
    pub stem: String,
    /// Its messages, as indices into [`Plan::threads`].
    pub threads: Range<usize>,
}

/// Everything the writers and the verifier need to know about the entries.
pub struct Plan<'a> {
    /// Messages in Bates order.
    pub threads: Vec<Thread<'a>>,
    /// Conversations, sorted by channel and id.
    pub conversations: Vec<Conversation>,
    /// Slices, in Bates order.
    pub slices: Vec<Slice>,
    /// Which thread each entry shows up in: a message's own seq and the
    /// seqs of the entries that target it.
    pub thread_of_seq: HashMap<u64, usize>,
    /// Entries that are in no file, with the reason.
    pub skipped: Vec<String>,
}

impl<'a> Plan<'a> {
    /// Gathers `entries` (seq and event, in any order) into threads,
    /// conversations and slices.
    pub fn build(
        entries: impl IntoIterator<Item = (u64, &'a Event)>,
        slicing: Slicing,
        zone: &jiff::tz::TimeZone,
        bates_prefix: &str,
    ) -> Plan<'a> {
        let mut messages: Vec<(u64, &'a Message)> = Vec::new();
        let mut related: Vec<(u64, &'a Event)> = Vec::new();
        let mut skipped = Vec::new();
        for (seq, event) in entries {
            match event {
                Event::Message(m) => messages.push((seq, m)),
                Event::Edit(_) | Event::Deletion(_) | Event::Reaction(_) | Event::Status(_) => {
                    related.push((seq, event))
                }
                other => skipped.push(format!(
                    "entry {seq}: a {} event is not part of an export",
                    other.kind().name()
                )),
            }
        }

        // Conversations sorted by (channel, id); messages by time in each.
        // Each message's conversation is looked up once (a hash map, in
        // order of first sight), then those numbers are mapped to ranks.
        let mut first_seen: HashMap<(&str, &str), usize> = HashMap::new();
        let mut seen_in: Vec<usize> = Vec::with_capacity(messages.len());
        for (_, m) in &messages {
            let next = first_seen.len();
            seen_in.push(
                *first_seen
                    .entry((m.channel.as_str(), m.conversation.as_str()))
                    .or_insert(next),
            );
        }
        let mut keys: Vec<((&str, &str), usize)> = first_seen.into_iter().collect();
        keys.sort_unstable();
        let mut rank = vec![0; keys.len()];
        for (r, (_, seen)) in keys.iter().enumerate() {
            rank[*seen] = r;
        }
        let mut conversations: Vec<Conversation> = keys
            .iter()
            .map(|((channel, id), _)| Conversation {
                channel: channel.to_string(),
                id: id.to_string(),
                dir: String::new(),
                addresses: Vec::new(),
            })
            .collect();
        name_folders(&mut conversations);

        let mut order: Vec<(usize, custos_model::Timestamp, u64, &'a Message)> = messages
            .iter()
            .zip(seen_in)
            .map(|(&(seq, m), seen)| (rank[seen], m.sent_at, seq, m))
            .collect();
        drop(messages);
        order.sort_unstable_by_key(|&(c, at, seq, _)| (c, at, seq));

        let mut threads: Vec<Thread<'a>> = Vec::with_capacity(order.len());
        let mut by_source: HashMap<(&str, &str), usize> = HashMap::with_capacity(order.len());
        let mut thread_of_seq = HashMap::with_capacity(order.len() + related.len());
        for (i, &(conversation, _, seq, m)) in order.iter().enumerate() {
            by_source
                .entry((m.channel.as_str(), m.source_id.as_str()))
                .or_insert(i);
            thread_of_seq.insert(seq, i);
            threads.push(Thread {
                seq,
                message: m,
                bates: bates(bates_prefix, i as u64 + 1),
                edits: Vec::new(),
                deletions: Vec::new(),
                reactions: Vec::new(),
                statuses: Vec::new(),
                conversation,
                slice: 0,
            });
        }

        related.sort_by_key(|(seq, _)| *seq);
        for (seq, event) in related {
            let (channel, target) = match event {
                Event::Edit(e) => (&e.channel, &e.target),
                Event::Deletion(d) => (&d.channel, &d.target),
                Event::Reaction(r) => (&r.channel, &r.target),
                Event::Status(s) => (&s.channel, &s.target),
                _ => continue,
            };
            let Some(&i) = by_source.get(&(channel.as_str(), target.as_str())) else {
                skipped.push(format!(
                    "entry {seq}: {} of message {target} ({channel}), which is not in the export",
                    event.kind().name()
                ));
                continue;
            };
            let thread = &mut threads[i];
            match event {
                Event::Edit(e) => thread.edits.push((seq, e)),
                Event::Deletion(d) => thread.deletions.push((seq, d)),
                Event::Reaction(r) => thread.reactions.push((seq, r)),
                Event::Status(s) => thread.statuses.push((seq, s)),
                _ => {}
            }
            thread_of_seq.insert(seq, i);
        }
        for thread in &mut threads {
            thread.edits.sort_by_key(|(seq, e)| (e.edited_at, *seq));
            thread
                .deletions
                .sort_by_key(|(seq, d)| (d.deleted_at, *seq));
            thread
                .reactions
                .sort_by_key(|(seq, r)| (r.reacted_at, *seq));
            thread.statuses.sort_by_key(|(seq, s)| (s.at, *seq));
        }

        let mut addresses: Vec<Vec<&str>> = vec![Vec::new(); conversations.len()];
        for thread in &threads {
            let list = &mut addresses[thread.conversation];
            list.push(&thread.message.sender);
            list.extend(thread.message.recipients.iter().map(String::as_str));
        }
        for (conversation, mut list) in conversations.iter_mut().zip(addresses) {
            list.sort_unstable();
            list.dedup();
            conversation.addresses = list.into_iter().map(String::from).collect();
        }

        let slices = cut(&mut threads, &conversations, slicing, zone);
        Plan {
            threads,
            conversations,
            slices,
            thread_of_seq,
            skipped,
        }
    }
}

/// Cuts the threads (already in conversation and time order) into slices,
/// and records each thread's slice.
fn cut(
    threads: &mut [Thread<'_>],
    conversations: &[Conversation],
    slicing: Slicing,
    zone: &jiff::tz::TimeZone,
) -> Vec<Slice> {
    let mut runs: Vec<(usize, String, Range<usize>)> = Vec::new();
    // The current run's period, so a label is worked out once per period
    // rather than once per message.
    let mut period = Period {
        label: String::new(),
        start: i64::MAX,
        end: i64::MIN,
    };
    for (i, thread) in threads.iter().enumerate() {
        let at = thread.message.sent_at.as_micros();
        if !(period.start..period.end).contains(&at) {
            period = Period::of(thread.message.sent_at, slicing, zone);
        }
        match runs.last_mut() {
            Some((conversation, last, range))
                if *conversation == thread.conversation && *last == period.label =>
            {
                range.end = i + 1
            }
            _ => runs.push((thread.conversation, period.label.clone(), i..i + 1)),
        }
    }
    let mut slices = Vec::with_capacity(runs.len());
    for (conversation, label, range) in runs {
        let parts = range.len().div_ceil(MAX_EVENTS_PER_FILE);
        for part in 0..parts {
            let start = range.start + part * MAX_EVENTS_PER_FILE;
            let end = (start + MAX_EVENTS_PER_FILE).min(range.end);
            let dir = &conversations[conversation].dir;
            let stem = if parts == 1 {
                format!("{dir}/{label}")
            } else {
                format!("{dir}/{label}-part{}", part + 1)
            };
            for thread in &mut threads[start..end] {
                thread.slice = slices.len();
            }
            slices.push(Slice {
                conversation,
                label: label.clone(),
                stem,
                threads: start..end,
            });
        }
    }
    slices
}

/// The day, month or whole a slice covers: its label and its bounds in
/// microseconds, `start` included, `end` excluded.
struct Period {
    label: String,
    start: i64,
    end: i64,
}

impl Period {
    /// The period holding `at`.
    fn of(at: custos_model::Timestamp, slicing: Slicing, zone: &jiff::tz::TimeZone) -> Period {
        let micros = at.as_micros();
        let whole = |label: &str| Period {
            label: label.to_string(),
            start: i64::MIN,
            end: i64::MAX,
        };
        if slicing == Slicing::Conversation {
            return whole("conversation");
        }
        let Ok(ts) = jiff::Timestamp::from_microsecond(micros) else {
            return whole("out-of-range");
        };
        let date = ts.to_zoned_datetime(zone.clone()).date();
        let (label, first, next) = if slicing == Slicing::ConversationDay {
            (
                date.strftime("%Y-%m-%d").to_string(),
                Ok(date),
                date.tomorrow(),
            )
        } else {
            (
                date.strftime("%Y-%m").to_string(),
                Ok(date.first_of_month()),
                date.last_of_month().tomorrow(),
            )
        };
        let start_of = |d: Result<jiff::civil::Date, jiff::Error>| {
            d.and_then(|d| d.to_zoned_datetime(zone.clone()))
                .map(|z| z.timestamp().as_microsecond())
        };
        match (start_of(first), start_of(next)) {
            (Ok(start), Ok(end)) if start <= micros && micros < end => Period { label, start, end },
            // A period whose bounds cannot be worked out is not reused.
            _ => Period {
                label,
                start: micros,
                end: micros.saturating_add(1),
            },
        }
    }
}

/// A name made safe for any file system: ASCII letters, digits and
/// `+-_.@` kept, anything else `_`, at most 64 bytes, never `.` or `..`.
pub fn safe_name(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+-_.@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if out.starts_with('.') {
        out.replace_range(..1, "_");
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// Gives each conversation its folder; two conversations whose safe names
/// collide both get the first 8 hex digits of their id's SHA-256 appended.
fn name_folders(conversations: &mut [Conversation]) {
    let names: Vec<String> = conversations
        .iter()
        .map(|c| format!("{}/{}", safe_name(&c.channel), safe_name(&c.id)))
        .collect();
    // Compared without case: some file systems do not tell `A` from `a`.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for name in &names {
        *counts.entry(name.to_ascii_lowercase()).or_default() += 1;
    }
    for (conversation, name) in conversations.iter_mut().zip(names) {
        conversation.dir = if counts[&name.to_ascii_lowercase()] > 1 {
            let digest = sha2::Sha256::digest(conversation.id.as_bytes());
            format!("{name}-{}", hex::encode(&digest[..4]))
        } else {
            name
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_model::{Digest, Direction, Timestamp};

    fn message(source_id: &str, conversation: &str, at: &str) -> Event {
        Event::Message(Message {
            channel: "whatsapp".into(),
            source_id: source_id.into(),
            conversation: conversation.into(),
            sender: "+1".into(),
            recipients: vec!["+2".into()],
            direction: Direction::Inbound,
            sent_at: Timestamp::parse(at).unwrap(),
            captured_at: Timestamp::parse(at).unwrap(),
            text: Some(source_id.into()),
            attachments: vec![],
            reply_to: None,
            raw_digest: Digest::of(b""),
            extra: Default::default(),
        })
    }

    #[test]
    fn bates_follow_conversation_then_time_and_days_are_local() {
        let events = [
            message("b2", "b", "2024-06-10T10:00:00Z"),
            message("a2", "a", "2024-06-10T23:30:00Z"),
            message("a1", "a", "2024-06-10T09:00:00Z"),
            message("b1", "b", "2024-06-09T10:00:00Z"),
        ];
        let zone = jiff::tz::TimeZone::get("Europe/London").unwrap();
        let plan = Plan::build(
            events.iter().enumerate().map(|(i, e)| (i as u64, e)),
            Slicing::ConversationDay,
            &zone,
            "X-",
        );
        let order: Vec<(&str, &str)> = plan
            .threads
            .iter()
            .map(|t| (t.bates.as_str(), t.message.source_id.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("X-0000001", "a1"),
                ("X-0000002", "a2"),
                ("X-0000003", "b1"),
                ("X-0000004", "b2")
            ]
        );
        // 23:30 UTC is already the next day in London (BST).
        let stems: Vec<&str> = plan.slices.iter().map(|s| s.stem.as_str()).collect();
        assert_eq!(
            stems,
            [
                "whatsapp/a/2024-06-10",
                "whatsapp/a/2024-06-11",
                "whatsapp/b/2024-06-09",
                "whatsapp/b/2024-06-10"
            ]
        );
    }

    #[test]
    fn months_and_whole_conversations_are_cut_in_the_zone() {
        let events = [
            message("a1", "a", "2024-06-01T00:30:00Z"),
            message("a2", "a", "2024-06-30T22:59:59Z"),
            // 00:30 on 1 July in London (BST).
            message("a3", "a", "2024-06-30T23:30:00Z"),
        ];
        let zone = jiff::tz::TimeZone::get("Europe/London").unwrap();
        let stems = |slicing| {
            let plan = Plan::build(
                events.iter().enumerate().map(|(i, e)| (i as u64, e)),
                slicing,
                &zone,
                "X-",
            );
            plan.slices
                .iter()
                .map(|s| (s.stem.clone(), s.threads.len()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            stems(Slicing::ConversationMonth),
            [
                ("whatsapp/a/2024-06".to_string(), 2),
                ("whatsapp/a/2024-07".to_string(), 1)
            ]
        );
        assert_eq!(
            stems(Slicing::Conversation),
            [("whatsapp/a/conversation".to_string(), 3)]
        );
    }

    #[test]
    fn related_entries_join_their_message_or_are_listed_as_skipped() {
        let events = [
            message("m1", "a", "2024-06-10T10:00:00Z"),
            Event::Edit(Edit {
                channel: "whatsapp".into(),
                source_id: "e1".into(),
                target: "m1".into(),
                editor: "+1".into(),
                edited_at: Timestamp::parse("2024-06-10T10:01:00Z").unwrap(),
                captured_at: Timestamp::parse("2024-06-10T10:01:00Z").unwrap(),
                text: "new".into(),
                raw_digest: Digest::of(b""),
            }),
            Event::Edit(Edit {
                channel: "whatsapp".into(),
                source_id: "e2".into(),
                target: "gone".into(),
                editor: "+1".into(),
                edited_at: Timestamp::parse("2024-06-10T10:01:00Z").unwrap(),
                captured_at: Timestamp::parse("2024-06-10T10:01:00Z").unwrap(),
                text: "new".into(),
                raw_digest: Digest::of(b""),
            }),
        ];
        let plan = Plan::build(
            events.iter().enumerate().map(|(i, e)| (i as u64 + 10, e)),
            Slicing::Conversation,
            &jiff::tz::TimeZone::UTC,
            "X-",
        );
        assert_eq!(plan.threads[0].edits.len(), 1);
        assert_eq!(plan.thread_of_seq[&11], 0);
        assert_eq!(
            plan.skipped,
            ["entry 12: edit of message gone (whatsapp), which is not in the export"]
        );
    }

    #[test]
    fn long_slices_are_split_and_folder_names_are_safe_and_distinct() {
        let events: Vec<Event> = (0..MAX_EVENTS_PER_FILE + 1)
            .map(|i| message(&format!("m{i}"), "../x y", "2024-06-10T10:00:00Z"))
            .chain([message("o", "../x:y", "2024-06-10T10:00:00Z")])
            .collect();
        let plan = Plan::build(
            events.iter().enumerate().map(|(i, e)| (i as u64, e)),
            Slicing::ConversationDay,
            &jiff::tz::TimeZone::UTC,
            "X-",
        );
        let stems: Vec<&str> = plan.slices.iter().map(|s| s.stem.as_str()).collect();
        assert_eq!(stems.len(), 3);
        assert!(stems[0].starts_with("whatsapp/_._x_y-"), "{stems:?}");
        assert!(stems[0].ends_with("/2024-06-10-part1"));
        assert!(stems[1].ends_with("/2024-06-10-part2"));
        assert_ne!(stems[0].rsplit_once('/'), stems[2].rsplit_once('/'));
        assert_eq!(plan.slices[1].threads.len(), 1);
    }
}
