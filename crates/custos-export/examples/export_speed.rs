//! Measures `write` and `verify` on N synthetic WhatsApp messages from a
//! real temporary journal (1,000 conversations over 30 days, one edit per
//! 50 messages, one status per 2):
//!
//! ```text
//! cargo run --release -p custos-export --example export_speed -- 1000000 rsmf
//! ```
//!
//! The second argument is a comma-separated list of formats (default
//! `rsmf`). Prints the time of each phase.

use custos_export::{Disclosed, Format, Person, Request, Side, Slicing};
use custos_journal::{Journal, NewEntry, Opened};
use custos_model::{
    DeliveryState, DeliveryStatus, Digest, Direction, Edit, Event, Message, Timestamp,
};
use std::collections::HashMap;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(100_000, |a| a.parse().expect("a count"));
    let formats: Vec<Format> = args
        .next()
        .unwrap_or_else(|| "rsmf".into())
        .split(',')
        .map(|f| f.parse().expect("a format"))
        .collect();
    let work = tempfile::tempdir().expect("a temporary folder");
    let journal = Journal::init(&work.path().join("archive"), None, "bench").expect("init");

    let started = Instant::now();
    let start = 1_717_200_000_000_000i64; // 2024-06-01
    let mut batch = Vec::with_capacity(10_000);
    let mut seqs = Vec::with_capacity(n + n / 2);
    for i in 0..n {
        let conversation = i % 1_000;
        let customer = format!("+3460{conversation:07}");
        let firm = "+447700900001".to_string();
        let inbound = i % 3 != 0;
        let (from, to) = if inbound {
            (customer.clone(), firm)
        } else {
            (firm, customer.clone())
        };
        let at = Timestamp::from_micros(start + (i as i64) * (30 * 86_400_000_000 / n as i64));
        let id = format!("wamid.{i}");
        batch.push(NewEntry {
            event: Event::Message(Message {
                channel: "whatsapp".into(),
                source_id: id.clone(),
                conversation: customer.clone(),
                sender: from,
                recipients: vec![to.clone()],
                direction: if inbound {
                    Direction::Inbound
                } else {
                    Direction::Outbound
                },
                sent_at: at,
                captured_at: at,
                text: Some(format!(
                    "Message {i}: please confirm the order for {} shares at market, thanks",
                    i % 977
                )),
                attachments: vec![],
                reply_to: None,
                raw_digest: Digest::of(id.as_bytes()),
                extra: Default::default(),
            }),
            subject: Some(customer.clone()),
        });
        if i % 2 == 0 {
            batch.push(NewEntry {
                event: Event::Status(DeliveryStatus {
                    channel: "whatsapp".into(),
                    target: id.clone(),
                    recipient: to,
                    state: DeliveryState::Read,
                    at: Timestamp::from_micros(at.as_micros() + 5_000_000),
                    captured_at: at,
                    error: None,
                    raw_digest: Digest::of(b"s"),
                }),
                subject: Some(customer.clone()),
            });
        }
        if i % 50 == 0 {
            batch.push(NewEntry {
                event: Event::Edit(Edit {
                    channel: "whatsapp".into(),
                    source_id: format!("{id}.edit"),
                    target: id.clone(),
                    editor: customer.clone(),
                    edited_at: Timestamp::from_micros(at.as_micros() + 1_000_000),
                    captured_at: at,
                    text: format!("Message {i}, corrected"),
                    raw_digest: Digest::of(b"e"),
                }),
                subject: Some(customer.clone()),
            });
        }
        if batch.len() >= 10_000 || i + 1 == n {
            for a in journal.append_all(&batch).expect("append") {
                seqs.push(a.seq);
            }
            batch.clear();
        }
    }
    let head = journal.sign_head().expect("head");
    println!(
        "journal: {} entries in {:.1?}",
        seqs.len(),
        started.elapsed()
    );

    let started = Instant::now();
    let mut entries = Vec::with_capacity(seqs.len());
    for &seq in &seqs {
        let stored = journal.entry(seq).expect("entry");
        let Opened::Event(event) = journal.open_entry(&stored).expect("open") else {
            panic!("entry {seq} does not open");
        };
        entries.push(Disclosed {
            seq,
            leaf: stored.leaf.encode().to_vec(),
            entry_key: journal
                .entry_key(&stored)
                .expect("key")
                .expect("not shredded"),
            payload: stored.payload,
            event,
        });
    }
    let proof = journal.multi_proof(&seqs, head.tree_size).expect("proof");
    println!(
        "read, opened and proved (the caller's part): {:.1?}",
        started.elapsed()
    );

    let people = HashMap::from([(
        "+447700900001".to_string(),
        Person {
            display: "Ben Cole".into(),
            side: Side::Firm,
            email: None,
            custodian: true,
        },
    )]);
    let blobs = |_: &Digest| None;
    let request = Request {
        id: "EXP-BENCH".into(),
        formats,
        slicing: Slicing::ConversationDay,
        time_zone: "Europe/London".into(),
        entries,
        people,
        head,
        proof,
        public_key: journal.public_key(),
        blobs: &blobs,
        actor: "bench".into(),
        reason: "speed".into(),
        query: None,
        matter: None,
        created_at: Timestamp::from_micros(start),
        bates_prefix: "CUSTOS-".into(),
        redaction: None,
    };
    let out = work.path().join("export");
    let started = Instant::now();
    let summary = custos_export::write(&out, &request).expect("export");
    let took = started.elapsed();
    println!(
        "write: {} messages, {} files, {:.1} MB in {took:.1?} ({:.0} messages/s)",
        summary.messages,
        summary.files,
        summary.bytes as f64 / 1e6,
        summary.messages as f64 / took.as_secs_f64()
    );
    let started = Instant::now();
    let report = custos_export::verify(&out, Some(&journal.public_key())).expect("verify");
    println!(
        "verify: {} entries, {} files, {} problems in {:.1?}",
        report.entries,
        report.files,
        report.problems.len(),
        started.elapsed()
    );
    journal.close().expect("close");
}
