//! `custos hold`: legal holds placed, released, listed and reported; and the
//! check `shred` makes first (a hold wins over erasure, and the refusal is
//! itself on record).

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use custos_governance::holds::{self, HoldScope, Holds};
use custos_journal::{Journal, Opened};
use custos_model::{Event, EventKind, Message, party_id};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;

/// `custos hold ...`.
#[derive(Subcommand, Debug)]
pub enum HoldCommand {
    /// Place a legal hold: every part given must match (at least one).
    Place {
        /// The matter's name, e.g. "SEC inquiry 24-113".
        name: String,
        /// Why (the notice, the subpoena).
        #[arg(long)]
        reason: String,
        /// A custodian (employee id) whose messages are held; repeatable.
        #[arg(long = "custodian")]
        custodians: Vec<String>,
        /// A conversation held; repeatable.
        #[arg(long = "conversation")]
        conversations: Vec<String>,
        /// A participant (number, address) whose messages are held; repeatable.
        #[arg(long = "participant")]
        participants: Vec<String>,
        /// Messages sent from this date (YYYY-MM-DD).
        #[arg(long)]
        from: Option<String>,
        /// Messages sent before this date (YYYY-MM-DD).
        #[arg(long)]
        to: Option<String>,
    },
    /// Release a hold.
    Release {
        /// The hold id (LH-...).
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// List holds (in force, or all).
    List {
        /// Released holds too.
        #[arg(long)]
        all: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// What a hold covers: messages per conversation.
    Report {
        /// The hold id.
        id: String,
    },
}

/// A function naming the custodian a message involves.
pub fn custodian_lookup(journal: &Journal) -> Result<impl Fn(&Message) -> Option<String>> {
    let by_phone: HashMap<String, String> = crate::custodians::registry(journal)?
        .into_values()
        .map(|c| (party_id(&c.phone), c.id))
        .collect();
    Ok(move |m: &Message| {
        std::iter::once(&m.sender)
            .chain(&m.recipients)
            .find_map(|a| by_phone.get(&party_id(a)).cloned())
    })
}

/// Refuses erasure of `subject` while holds cover it, recording the refusal.
pub fn check_erasure(journal: &Journal, actor: &str, subject: &str, reason: &str) -> Result<()> {
    let holds = Holds::load(journal)?;
    let custodian_of = custodian_lookup(journal)?;
    let covering = holds.covering_subject(journal, subject, &custodian_of)?;
    if covering.is_empty() {
        return Ok(());
    }
    let mut details = serde_json::Map::new();
    details.insert("request".into(), reason.into());
    details.insert("holds".into(), covering.clone().into());
    // The refusal names the holds, never the person.
    journal.append_system(actor, holds::ERASURE_REFUSED, Some("erasure"), details)?;
    bail!(
        "erasure refused: legal hold {} covers this subject's records (the refusal is recorded)",
        covering.join(", ")
    )
}

/// Runs `custos hold ...`.
pub fn run(
    journal: &Journal,
    actor: &str,
    command: &HoldCommand,
    out: &mut impl Write,
) -> Result<()> {
    let mut all = Holds::load(journal)?;
    match command {
        HoldCommand::Place {
            name,
            reason,
            custodians,
            conversations,
            participants,
            from,
            to,
        } => {
            let scope = HoldScope {
                custodians: custodians.clone(),
                conversations: conversations.clone(),
                participants: participants.clone(),
                from: from
                    .as_deref()
                    .map(|d| crate::day_start(d, "--from"))
                    .transpose()?,
                to: to
                    .as_deref()
                    .map(|d| crate::day_start(d, "--to"))
                    .transpose()?,
            };
            let id = all.place(journal, actor, name, reason, scope)?;
            writeln!(out, "placed {id} \"{}\"", name.trim())?;
        }
        HoldCommand::Release { id, reason } => {
            all.release(journal, actor, id, reason)?;
            writeln!(out, "released {id}")?;
        }
        HoldCommand::List { all: every, json } => {
            for h in all.all.values().filter(|h| *every || h.released.is_none()) {
                if *json {
                    writeln!(out, "{}", serde_json::to_string(h)?)?;
                } else {
                    writeln!(
                        out,
                        "{} {:<9} \"{}\" placed {} by {}: {}",
                        h.id,
                        if h.released.is_some() {
                            "released"
                        } else {
                            "in force"
                        },
                        h.placed.name,
                        h.placed_at,
                        h.placed_by,
                        h.placed.reason
                    )?;
                }
            }
        }
        HoldCommand::Report { id } => {
            let hold = all.all.get(id).with_context(|| format!("no hold {id}"))?;
            let custodian_of = custodian_lookup(journal)?;
            let mut per_conversation: BTreeMap<String, u64> = BTreeMap::new();
            for entry in journal.entries(0) {
                let entry = entry?;
                if entry.leaf.kind != EventKind::Message {
                    continue;
                }
                if let Opened::Event(Event::Message(m)) = journal.open_entry(&entry)?
                    && hold.placed.scope.covers(&m, custodian_of(&m).as_deref())
                {
                    *per_conversation.entry(m.conversation.clone()).or_default() += 1;
                }
            }
            writeln!(
                out,
                "{id} \"{}\" ({}): {} messages in {} conversations",
                hold.placed.name,
                if hold.released.is_some() {
                    "released"
                } else {
                    "in force"
                },
                per_conversation.values().sum::<u64>(),
                per_conversation.len()
            )?;
            for (conversation, n) in &per_conversation {
                writeln!(out, "  {conversation}: {n}")?;
            }
        }
    }
    Ok(())
}
