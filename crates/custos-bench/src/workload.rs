//! The benchmark's input: deterministic WhatsApp-like messages.
//!
//! Each is a [`Message`] with ~200 characters of text, a WhatsApp-style
//! source id, E.164 numbers for sender and recipient, and a reply
//! reference on ~30% of them; its encoding takes ~390 bytes (the fixed
//! fields take ~190).
//!
//! Message `i` is a pure function of `i`, so every run (custos or SQLite)
//! stores the same records, and any number of them can be made without
//! keeping them in memory.

use custos_model::{Digest, Direction, Event, Message, Timestamp};

/// How many customers (external parties, hence data keys) the messages
/// are spread over.
pub const CUSTOMERS: u64 = 1_000;
/// How many firm numbers (agents) talk to them.
const AGENTS: u64 = 24;
/// 2026-03-02T09:00:00Z, in microseconds.
const EPOCH_MICROS: i64 = 1_772_442_000_000_000;

/// The vocabulary synthetic message texts are drawn from.
pub const WORDS: &[&str] = &[
    "hi",
    "the",
    "transfer",
    "went",
    "through",
    "this",
    "morning",
    "can",
    "you",
    "confirm",
    "balance",
    "on",
    "my",
    "account",
    "please",
    "thanks",
    "for",
    "quick",
    "reply",
    "we",
    "will",
    "send",
    "statement",
    "by",
    "end",
    "of",
    "day",
    "is",
    "fee",
    "waived",
    "if",
    "I",
    "move",
    "funds",
    "before",
    "Friday",
    "portfolio",
    "rebalanced",
    "last",
    "week",
    "bond",
    "yields",
    "are",
    "up",
    "again",
    "should",
    "sell",
    "some",
    "shares",
    "now",
    "or",
    "wait",
    "call",
    "me",
    "when",
    "free",
    "invoice",
    "attached",
    "payment",
    "due",
    "Monday",
    "ok",
    "sounds",
    "good",
    "let",
    "know",
    "mortgage",
    "rate",
    "fixed",
    "two",
    "years",
    "advisor",
    "meeting",
    "booked",
    "at",
    "10",
    "tomorrow",
    "card",
    "blocked",
    "abroad",
    "new",
    "PIN",
    "arrives",
    "in",
    "3",
    "working",
    "days",
    "pension",
    "contribution",
    "increased",
    "to",
    "8%",
    "from",
    "April",
    "sorry",
    "about",
    "delay",
    "our",
    "team",
    "looking",
    "into",
    "it",
];

/// A small, fast, deterministic generator (SplitMix64).
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

fn customer_number(c: u64) -> String {
    format!("+4477009{:05}", 10_000 + c)
}

fn agent_number(a: u64) -> String {
    format!("+4420794{:05}", 60_000 + a)
}

/// The WhatsApp message id of message `i`: unique per `i`.
fn source_id(i: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = Rng::new(i.wrapping_mul(31).wrapping_add(7));
    let mut id = String::with_capacity(48);
    id.push_str("wamid.HBgL");
    for _ in 0..20 {
        id.push(ALPHABET[rng.below(ALPHABET.len() as u64) as usize] as char);
    }
    id.push_str(&format!("{i:012X}"));
    id
}

/// One message to store: the event, its subject (the customer, whose data
/// key encrypts it) and its source id.
#[derive(Clone, Debug)]
pub struct Record {
    /// The canonical event.
    pub event: Event,
    /// The external party: the customer's number.
    pub subject: String,
    /// The source's id of the message (the de-duplication key).
    pub source_id: String,
    /// When it was sent, in microseconds.
    pub sent_at: i64,
}

/// Message number `i` of the workload.
pub fn record(i: u64) -> Record {
    let mut rng = Rng::new(i);
    let customer = customer_number(rng.below(CUSTOMERS));
    let agent = agent_number(rng.below(AGENTS));
    let inbound = rng.below(100) < 55;
    let (sender, recipient, direction) = if inbound {
        (customer.clone(), agent, Direction::Inbound)
    } else {
        (agent, customer.clone(), Direction::Outbound)
    };
    let mut text = String::with_capacity(230);
    let target = 170 + rng.below(60) as usize;
    while text.len() < target {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
    }
    text.push('.');
    let sent_at = EPOCH_MICROS + i as i64 * 1_000_000 + rng.below(1_000_000) as i64;
    let captured_at = sent_at + 150_000 + rng.below(800_000) as i64;
    let reply_to = (i > 0 && rng.below(100) < 30).then(|| source_id(i - 1 - rng.below(i.min(20))));
    let id = source_id(i);
    let event = Event::Message(Message {
        channel: "whatsapp".into(),
        source_id: id.clone(),
        conversation: customer.clone(),
        sender,
        recipients: vec![recipient],
        direction,
        sent_at: Timestamp::from_micros(sent_at),
        captured_at: Timestamp::from_micros(captured_at),
        text: Some(text),
        attachments: Vec::new(),
        reply_to,
        raw_digest: Digest::of(&i.to_le_bytes()),
        extra: Default::default(),
    });
    Record {
        event,
        subject: customer,
        source_id: id,
        sent_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_about_400_bytes_and_unique() {
        let n = 2_000;
        let total: usize = (0..n).map(|i| record(i).event.encode().len()).sum();
        let mean = total / n as usize;
        assert!((340..=440).contains(&mean), "mean encoded size {mean}");
        let ids: std::collections::HashSet<_> = (0..n).map(|i| record(i).source_id).collect();
        assert_eq!(ids.len(), n as usize);
        assert_eq!(record(5).event, record(5).event);
    }
}
