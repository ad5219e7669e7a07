//! `custos privacy`: the data-protection queue. Requests are logged with
//! their legal deadline; access answers with one package of everything
//! about the subject; erasure crypto-shreds unless a hold keeps the
//! records, and either way records the decision with its grounds;
//! rectification adds a correction beside the original, never an edit.

use anyhow::{Context, Result};
use clap::Subcommand;
use custos_governance::privacy::{self, Decision, Kind, Law, Requests};
use custos_journal::{Journal, Opened};
use custos_model::{Event, Timestamp, party_id};
use std::io::Write;
use std::path::{Path, PathBuf};

/// `custos privacy ...`.
#[derive(Subcommand, Debug)]
pub enum PrivacyCommand {
    /// Log a request; the deadline follows from the law.
    Open {
        /// The data subject: phone number or e-mail address.
        subject: String,
        /// access, erasure or rectification.
        #[arg(long)]
        kind: Kind,
        /// gdpr, uk-gdpr, lgpd or ccpa.
        #[arg(long)]
        law: Law,
        /// When it was received (YYYY-MM-DD); today by default.
        #[arg(long)]
        received: Option<String>,
    },
    /// The queue: open requests with their deadlines (--all: closed too).
    List {
        /// Closed requests too.
        #[arg(long)]
        all: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Answer an access request: everything about the subject, as JSON lines.
    Access {
        /// The request (PR-...).
        id: String,
        /// Where to write the package.
        #[arg(long)]
        out: PathBuf,
    },
    /// Decide an erasure request: crypto-shred, unless a hold keeps the records.
    Erase {
        /// The request.
        id: String,
    },
    /// Record a correction beside an entry (the original stays).
    Rectify {
        /// The request.
        id: String,
        /// The entry corrected.
        #[arg(long)]
        entry: u64,
        /// The correction.
        #[arg(long)]
        text: String,
    },
}

/// Whether event `e` is about party `subject`.
fn about(e: &Event, subject: &str) -> bool {
    match e {
        Event::Message(m) => std::iter::once(&m.sender)
            .chain(&m.recipients)
            .any(|a| party_id(a) == subject),
        Event::Consent(c) => party_id(&c.party) == subject,
        _ => false,
    }
}

/// Runs `custos privacy ...`.
pub fn run(
    data: &Path,
    journal: &Journal,
    actor: &str,
    command: &PrivacyCommand,
    out: &mut impl Write,
) -> Result<()> {
    let mut queue = Requests::load(journal)?;
    match command {
        PrivacyCommand::Open {
            subject,
            kind,
            law,
            received,
        } => {
            let received = match received {
                Some(d) => crate::day_start(d, "--received")?,
                None => Timestamp::now(),
            };
            let id = queue.open(journal, actor, subject, *kind, *law, received)?;
            writeln!(out, "{id} due {}", queue.all[&id].opening.due)?;
        }
        PrivacyCommand::List { all, json } => {
            let now = Timestamp::now();
            for r in queue.all.values().filter(|r| *all || r.decision.is_none()) {
                if *json {
                    writeln!(out, "{}", serde_json::to_string(r)?)?;
                    continue;
                }
                let days = (r.opening.due.as_micros() - now.as_micros()).div_euclid(86_400_000_000);
                let state = match &r.decision {
                    Some(d) => format!("closed: {}", d.outcome),
                    None if days < 0 => format!("OVERDUE by {} days", -days),
                    None => format!("{days} days left"),
                };
                writeln!(
                    out,
                    "{} {:?} {:?} {} received {} due {} ({state})",
                    r.id,
                    r.opening.kind,
                    r.opening.law,
                    r.opening.subject,
                    r.opening.received_at,
                    r.opening.due
                )?;
            }
        }
        PrivacyCommand::Access { id, out: path } => {
            let subject = queue
                .open_request(id, Kind::Access)?
                .opening
                .subject
                .clone();
            let state = custos_review::Supervision::load(journal)?;
            let mut file = std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("creating {}", path.display()))?,
            );
            let mut items = 0u64;
            let mut seqs = Vec::new();
            for entry in journal.entries(0) {
                let entry = entry?;
                let seq = entry.leaf.seq;
                let Opened::Event(event) = journal.open_entry(&entry)? else {
                    continue;
                };
                let rectifies = matches!(&event, Event::System(s)
                    if s.action == privacy::RECTIFICATION
                        && s.details.get("subject").and_then(|v| v.as_str()) == Some(subject.as_str()));
                if about(&event, &subject) || rectifies {
                    let line = serde_json::json!({"seq": seq, "event": event});
                    writeln!(file, "{line}")?;
                    items += 1;
                    seqs.push(seq);
                }
            }
            for a in state
                .alerts
                .values()
                .filter(|a| seqs.contains(&a.raised.message_seq))
            {
                writeln!(file, "{}", serde_json::json!({"alert": a}))?;
                items += 1;
            }
            file.flush()?;
            drop(file);
            let digest = custos_model::Digest::of(&std::fs::read(path)?);
            let mut details = serde_json::Map::new();
            details.insert("reason".into(), format!("privacy request {id}").into());
            details.insert("entries".into(), seqs.into());
            journal.append_system(actor, "content.read", Some(id), details)?;
            queue.close(
                journal,
                actor,
                id,
                Decision {
                    outcome: "answered".into(),
                    grounds: format!("package of {items} items, SHA-256 {digest}"),
                },
            )?;
            writeln!(
                out,
                "{id}: wrote {items} items to {} (SHA-256 {digest})",
                path.display()
            )?;
        }
        PrivacyCommand::Erase { id } => {
            let subject = queue
                .open_request(id, Kind::Erasure)?
                .opening
                .subject
                .clone();
            let holds = crate::holds::load(data, journal)?;
            let custodian_of = crate::holds::custodian_lookup(journal)?;
            let covering = holds.covering_subject(journal, &subject, &custodian_of)?;
            if covering.is_empty() {
                // Retention duties still running keep their records (per
                // key: one per person per month); the rest is destroyed.
                let keys = journal.key_ids_of(&subject);
                let duties = custos_governance::retention::duties(
                    journal,
                    &holds,
                    &keys,
                    custos_model::Timestamp::now(),
                )?;
                let free: Vec<_> = keys
                    .iter()
                    .copied()
                    .filter(|k| !duties.contains_key(k))
                    .collect();
                let reason = format!("privacy request {id}");
                let destroyed = journal.shred_keys(&free, actor, &reason, &Default::default())?;
                let mut kept: Vec<String> = duties
                    .iter()
                    .map(|(key, g)| {
                        format!(
                            "data key {key} kept until {} under retention rule {} ({})",
                            g.end, g.rule, g.source
                        )
                    })
                    .collect();
                kept.sort();
                let erased = if destroyed.is_empty() {
                    "no data held outside retention duties".to_string()
                } else {
                    format!("data keys {} destroyed", crate::join_ids(&destroyed))
                };
                let (outcome, grounds) = if kept.is_empty() {
                    (
                        "erased",
                        format!(
                            "no legal hold or retention duty covers the subject's records; {erased}"
                        ),
                    )
                } else {
                    (
                        if destroyed.is_empty() {
                            "kept"
                        } else {
                            "partly erased"
                        },
                        format!(
                            "no legal hold covers the subject's records; {erased}; {}; erase the rest when those duties end",
                            kept.join("; ")
                        ),
                    )
                };
                queue.close(
                    journal,
                    actor,
                    id,
                    Decision {
                        outcome: outcome.into(),
                        grounds: grounds.clone(),
                    },
                )?;
                if kept.is_empty() {
                    writeln!(out, "{id}: erased")?;
                } else {
                    writeln!(out, "{id}: {outcome}: {grounds}")?;
                }
            } else {
                let grounds = format!(
                    "kept: legal hold {} covers the subject's records; erase when released",
                    covering.join(", ")
                );
                let mut details = serde_json::Map::new();
                details.insert("request".into(), id.as_str().into());
                details.insert("holds".into(), covering.clone().into());
                journal.append_system(
                    actor,
                    custos_governance::holds::ERASURE_REFUSED,
                    Some("erasure"),
                    details,
                )?;
                queue.close(
                    journal,
                    actor,
                    id,
                    Decision {
                        outcome: "kept".into(),
                        grounds: grounds.clone(),
                    },
                )?;
                writeln!(out, "{id}: {grounds}")?;
            }
        }
        PrivacyCommand::Rectify { id, entry, text } => {
            let subject = queue
                .open_request(id, Kind::Rectification)?
                .opening
                .subject
                .clone();
            if text.trim().is_empty() {
                anyhow::bail!("--text (the correction) must not be empty");
            }
            let stored = journal.entry(*entry)?;
            let Opened::Event(original) = journal.open_entry(&stored)? else {
                anyhow::bail!("entry {entry} was erased; there is nothing to correct");
            };
            if !about(&original, &subject) {
                anyhow::bail!("entry {entry} is not about the subject of {id}");
            }
            let mut details = serde_json::Map::new();
            details.insert("request".into(), id.as_str().into());
            details.insert("subject".into(), subject.as_str().into());
            details.insert("text".into(), text.trim().into());
            let event = Event::System(custos_model::SystemEvent {
                actor: actor.into(),
                action: privacy::RECTIFICATION.into(),
                target: Some(entry.to_string()),
                at: Timestamp::now(),
                details,
            });
            let appended = journal.append(&event, Some(&subject))?;
            queue.close(
                journal,
                actor,
                id,
                Decision {
                    outcome: "rectified".into(),
                    grounds: format!(
                        "correction of entry {entry} recorded as entry {}",
                        appended.seq
                    ),
                },
            )?;
            writeln!(
                out,
                "{id}: correction recorded as entry {} beside entry {entry}",
                appended.seq
            )?;
        }
    }
    Ok(())
}
