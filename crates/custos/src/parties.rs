//! `custos party`: one person across channels. `link` records that
//! addresses (a phone number, an e-mail address, a chat user id) are one
//! party; `show` reads that party's whole history, every channel in time
//! order (an audited read, like a search).

use anyhow::{Result, bail};
use clap::Subcommand;
use custos_governance::identities::Identities;
use custos_journal::Journal;
use custos_query::{Field, Query};
use custos_server::search::{self as audit, ArchiveResolver};
use std::io::Write;
use std::path::Path;

/// `custos party ...`
#[derive(Subcommand, Debug)]
pub enum PartyCommand {
    /// Record that addresses belong to one person (transitive, journalled).
    Link {
        /// Two or more addresses: phone numbers, e-mail addresses, chat user ids.
        #[arg(required = true, num_args = 2..)]
        addresses: Vec<String>,
        /// The person's name.
        #[arg(long, default_value = "")]
        name: String,
        /// How you know (e.g. "confirmed by phone 2026-11-20").
        #[arg(long)]
        evidence: String,
    },
    /// A party's messages on every channel, oldest first (an audited read).
    Show {
        /// Any one of the party's addresses.
        address: String,
        /// Why you are reading it (recorded).
        #[arg(long)]
        reason: String,
        /// Only their conversations with this custodian (id, name or unit).
        #[arg(long)]
        custodian: Option<String>,
        /// Messages per page.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Messages to skip.
        #[arg(long, default_value_t = 0)]
        offset: usize,
    },
}

/// Runs a party command.
pub fn run(
    data: &Path,
    journal: &Journal,
    actor: &str,
    command: &PartyCommand,
    out: &mut impl Write,
) -> Result<()> {
    match command {
        PartyCommand::Link {
            addresses,
            name,
            evidence,
        } => {
            let mut ids = Identities::load(journal)?;
            ids.link(journal, actor, addresses, name, evidence)?;
            writeln!(
                out,
                "linked as one party: {}",
                ids.aliases(&addresses[0]).join(", ")
            )?;
        }
        PartyCommand::Show {
            address,
            reason,
            custodian,
            limit,
            offset,
        } => {
            if reason.trim().is_empty() {
                bail!("reading a history is journalled: say why with --reason");
            }
            let mut parts = vec![Query::Term {
                field: Some(Field::Participant),
                text: address.clone(),
                fuzzy: 0,
            }];
            if let Some(c) = custodian {
                parts.push(Query::Term {
                    field: Some(Field::Custodian),
                    text: c.clone(),
                    fuzzy: 0,
                });
            }
            let query = Query::And(parts);
            let index = crate::search::open_index(data, journal)?;
            let resolver = ArchiveResolver::load(journal, crate::search::people(journal)?)
                .map_err(anyhow::Error::msg)?;
            let ids = Identities::load(journal)?;
            let results = index.search(
                &query,
                &resolver,
                &custos_search::SearchOptions {
                    sort: custos_search::Sort::Oldest,
                    offset: *offset,
                    limit: *limit,
                },
            )?;
            let shown: Vec<u64> = results.hits.iter().map(|h| h.seq).collect();
            journal.append_system(
                actor,
                audit::SEARCHED,
                None,
                audit::searched(&query.to_string(), reason, None, results.total, &shown),
            )?;
            let aliases = ids.aliases(address);
            writeln!(
                out,
                "{}{}: {} messages on every channel; showing {}-{}",
                ids.name(address)
                    .map(|n| format!("{n} "))
                    .unwrap_or_default(),
                aliases.join(", "),
                results.total,
                offset + 1,
                offset + results.hits.len()
            )?;
            for h in &results.hits {
                writeln!(
                    out,
                    "#{}  {}  {:<9} {:<8}  {} -> {}: {}",
                    h.seq,
                    h.sent_at,
                    h.channel,
                    h.direction,
                    h.from,
                    h.to.join(", "),
                    h.text.replace('\n', " ")
                )?;
            }
        }
    }
    Ok(())
}
