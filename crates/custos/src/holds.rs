//! `custos hold`: legal holds placed, released, listed and reported; and the
//! check `shred` makes first (a hold wins over erasure, and the refusal is
//! itself on record).
//!
//! A hold over a saved search (`--search QUERY`) stores the query and the
//! entries it matches at placement; every check (erasure, report) runs the
//! query again through the search index, so later captures that match are
//! held too, and the frozen entries stay held whatever it matches now.

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use custos_governance::holds::{self, HoldScope, Holds};
use custos_journal::{Journal, Opened};
use custos_model::{Event, EventKind, Message, party_id};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

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
        /// A saved search (see docs/search.md): the messages it matches now
        /// are frozen into the hold, and later matches join it.
        #[arg(long)]
        search: Option<String>,
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
    /// What a hold covers: messages per custodian and conversation, and
    /// their journal entries.
    Report {
        /// The hold id.
        id: String,
        /// One JSON object.
        #[arg(long)]
        json: bool,
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

/// The holds, with every search hold's query evaluated now through the
/// search index (brought up to date first).
pub fn load(data: &Path, journal: &Journal) -> Result<Holds> {
    let mut holds = Holds::load(journal)?;
    let searches = holds.searches();
    if searches.is_empty() {
        return Ok(holds);
    }
    let index = crate::search::open_index(data, journal)?;
    let resolver =
        custos_server::search::ArchiveResolver::load(journal, crate::search::people(journal)?)
            .map_err(anyhow::Error::msg)?;
    for (id, query) in searches {
        let parsed = crate::search::parse_query(&query)
            .with_context(|| format!("the search of hold {id}"))?;
        let seqs = index
            .matching(&parsed, &resolver)
            .with_context(|| format!("running the search of hold {id}"))?;
        holds.set_matches(&id, seqs);
    }
    Ok(holds)
}

/// Refuses erasure of `subject` while holds cover it, recording the refusal.
pub fn check_erasure(
    data: &Path,
    journal: &Journal,
    actor: &str,
    subject: &str,
    reason: &str,
) -> Result<()> {
    let holds = load(data, journal)?;
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
    data: &Path,
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
            search,
        } => {
            let frozen = match search {
                None => Vec::new(),
                Some(q) => {
                    let parsed = crate::search::parse_query(q).context("--search")?;
                    let index = crate::search::open_index(data, journal)?;
                    let resolver = custos_server::search::ArchiveResolver::load(
                        journal,
                        crate::search::people(journal)?,
                    )
                    .map_err(anyhow::Error::msg)?;
                    index.matching(&parsed, &resolver).context("--search")?
                }
            };
            let frozen_count = frozen.len();
            let scope = HoldScope {
                search: search.clone(),
                frozen,
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
            write!(out, "placed {id} \"{}\"", name.trim())?;
            if search.is_some() {
                write!(
                    out,
                    "; its search matches {frozen_count} messages now (frozen into the hold); later matches join it"
                )?;
            }
            writeln!(out)?;
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
                    if let Some(q) = &h.placed.scope.search {
                        writeln!(
                            out,
                            "    search {q:?} ({} entries frozen at placement)",
                            h.placed.scope.frozen.len()
                        )?;
                    }
                    if let Some((by, at, why)) = &h.released {
                        writeln!(out, "    released {at} by {by}: {why}")?;
                    }
                }
            }
        }
        HoldCommand::Report { id, json } => {
            let evaluated = load(data, journal)?;
            let hold = evaluated
                .all
                .get(id)
                .with_context(|| format!("no hold {id} (custos hold list --all)"))?;
            let custodian_of = custodian_lookup(journal)?;
            let mut per_conversation: BTreeMap<String, u64> = BTreeMap::new();
            let mut per_custodian: BTreeMap<String, u64> = BTreeMap::new();
            let mut seqs = Vec::new();
            for entry in journal.entries(0) {
                let entry = entry?;
                if entry.leaf.kind != EventKind::Message {
                    continue;
                }
                let Opened::Event(Event::Message(m)) = journal.open_entry(&entry)? else {
                    continue;
                };
                let custodian = custodian_of(&m);
                if evaluated.hold_covers(hold, entry.leaf.seq, &m, custodian.as_deref()) {
                    *per_conversation.entry(m.conversation.clone()).or_default() += 1;
                    *per_custodian
                        .entry(custodian.unwrap_or_else(|| "(no custodian)".into()))
                        .or_default() += 1;
                    seqs.push(entry.leaf.seq);
                }
            }
            // What a hold covers is metadata of archived messages: on record.
            let mut details = serde_json::Map::new();
            details.insert("entries".into(), seqs.len().into());
            journal.append_system(actor, "hold.reported", Some(id), details)?;
            let state = if hold.released.is_some() {
                "released"
            } else {
                "in force"
            };
            if *json {
                let report = serde_json::json!({
                    "hold": hold,
                    "state": state,
                    "messages": seqs.len(),
                    "by_custodian": per_custodian,
                    "by_conversation": per_conversation,
                    "seqs": seqs,
                });
                writeln!(out, "{report}")?;
                return Ok(());
            }
            writeln!(
                out,
                "{id} \"{}\" ({state}): {} messages in {} conversations",
                hold.placed.name,
                seqs.len(),
                per_conversation.len()
            )?;
            writeln!(
                out,
                "placed {} by {}: {}",
                hold.placed_at, hold.placed_by, hold.placed.reason
            )?;
            if let Some((by, at, why)) = &hold.released {
                writeln!(out, "released {at} by {by}: {why}")?;
            }
            if let Some(q) = &hold.placed.scope.search {
                writeln!(
                    out,
                    "search {q:?}: {} entries frozen at placement, re-run now",
                    hold.placed.scope.frozen.len()
                )?;
            }
            writeln!(out, "by custodian:")?;
            for (custodian, n) in &per_custodian {
                writeln!(out, "  {custodian}: {n}")?;
            }
            writeln!(out, "by conversation:")?;
            for (conversation, n) in &per_conversation {
                writeln!(out, "  {conversation}: {n}")?;
            }
            let list: Vec<String> = seqs.iter().map(u64::to_string).collect();
            writeln!(out, "entries: {}", list.join(" "))?;
        }
    }
    Ok(())
}
