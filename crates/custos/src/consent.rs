//! `custos consent`: a party's consent on record, per channel, with its
//! evidence, and recording an opt-in or an opt-out by hand (an IVR call, a
//! signed form). Opt-outs by keyword in inbound messages are recorded by the
//! supervisor; sending is refused without current consent.

use anyhow::{Result, bail};
use clap::Subcommand;
use custos_journal::Journal;
use custos_model::{ConsentChange, ConsentState, Event, Timestamp, party_id};
use std::collections::BTreeMap;
use std::io::Write;

/// `custos consent ...`.
#[derive(Subcommand, Debug)]
pub enum ConsentCommand {
    /// Show a party's consent per channel and its full history (an audited read).
    Show {
        /// The party: phone number or e-mail address.
        party: String,
        /// One JSON object per change.
        #[arg(long)]
        json: bool,
    },
    /// Record an opt-in with its evidence.
    Grant {
        /// The party.
        party: String,
        /// The channel the consent is for.
        #[arg(long, default_value = "whatsapp")]
        channel: String,
        /// Where it was given: web-form, ivr, in-chat, paper, api...
        #[arg(long)]
        source: String,
        /// The text the party was shown and agreed to.
        #[arg(long)]
        text: String,
        /// When it was given (YYYY-MM-DD or RFC 3339); now by default.
        #[arg(long)]
        at: Option<String>,
        /// Who captured it (the agent, the system); the actor by default.
        #[arg(long)]
        captured_by: Option<String>,
    },
    /// Record an opt-out (the party asked by phone, letter, ...).
    Revoke {
        /// The party.
        party: String,
        /// The channel.
        #[arg(long, default_value = "whatsapp")]
        channel: String,
        /// How the party asked.
        #[arg(long)]
        source: String,
        /// What they said.
        #[arg(long)]
        reason: String,
    },
}

/// Every consent change about `party`, oldest first, with its entry.
fn history(journal: &Journal, party: &str) -> Result<Vec<(u64, ConsentChange)>> {
    Ok(custos_server::consent_api::history(journal, party)?)
}

/// When consent was given: a date (midnight UTC) or an RFC 3339 instant,
/// never in the future.
fn when(text: &str) -> Result<Timestamp> {
    let at = match Timestamp::parse(text) {
        Ok(at) => at,
        Err(_) => crate::day_start(text, "--at")?,
    };
    if at > Timestamp::now() {
        bail!("--at {text:?} is in the future");
    }
    Ok(at)
}

fn state_name(s: ConsentState) -> &'static str {
    match s {
        ConsentState::OptIn => "opted in",
        ConsentState::OptOut => "opted out",
    }
}

/// Runs `custos consent ...`.
pub fn run(
    journal: &Journal,
    actor: &str,
    command: &ConsentCommand,
    out: &mut impl Write,
) -> Result<()> {
    let record =
        |party: &str, channel: &str, state, evidence: String, at: Timestamp| -> Result<u64> {
            let party = party_id(party);
            if party.is_empty() || channel.trim().is_empty() {
                bail!("a party and a channel are required");
            }
            let change = Event::Consent(ConsentChange {
                channel: channel.trim().to_string(),
                party: party.clone(),
                state,
                evidence,
                at,
                recorded_by: actor.to_string(),
            });
            Ok(journal.append(&change, Some(&party))?.seq)
        };
    match command {
        ConsentCommand::Grant {
            party,
            channel,
            source,
            text,
            at,
            captured_by,
        } => {
            if source.trim().is_empty() || text.trim().is_empty() {
                bail!("--source and --text (what the party agreed to) are required");
            }
            let at = at.as_deref().map(when).transpose()?;
            let captured_by = captured_by.as_deref().unwrap_or(actor);
            let seq = record(
                party,
                channel,
                ConsentState::OptIn,
                custos_server::consent_api::evidence(source, text, captured_by),
                at.unwrap_or_else(Timestamp::now),
            )?;
            writeln!(
                out,
                "{} opted in on {channel} (entry {seq})",
                party_id(party)
            )?;
        }
        ConsentCommand::Revoke {
            party,
            channel,
            source,
            reason,
        } => {
            if source.trim().is_empty() || reason.trim().is_empty() {
                bail!("--source and --reason are required");
            }
            let seq = record(
                party,
                channel,
                ConsentState::OptOut,
                format!("{}: {}", source.trim(), reason.trim()),
                Timestamp::now(),
            )?;
            writeln!(
                out,
                "{} opted out on {channel} (entry {seq})",
                party_id(party)
            )?;
        }
        ConsentCommand::Show { party, json } => {
            let changes = history(journal, party)?;
            let mut current: BTreeMap<&str, &ConsentChange> = BTreeMap::new();
            for (_, c) in &changes {
                current.insert(&c.channel, c);
            }
            if *json {
                for (seq, c) in &changes {
                    let mut v = serde_json::to_value(c)?;
                    v["seq"] = (*seq).into();
                    writeln!(out, "{v}")?;
                }
            } else if changes.is_empty() {
                writeln!(out, "no consent on record for {}", party_id(party))?;
            } else {
                for (channel, c) in &current {
                    writeln!(out, "{channel}: {} since {}", state_name(c.state), c.at)?;
                }
                writeln!(out, "history:")?;
                for (seq, c) in &changes {
                    writeln!(
                        out,
                        "  {seq} {} {} {} by {}: {}",
                        c.at,
                        c.channel,
                        state_name(c.state),
                        c.recorded_by,
                        c.evidence
                    )?;
                }
            }
            let mut details = serde_json::Map::new();
            details.insert("reason".into(), "consent history".into());
            details.insert(
                "entries".into(),
                changes.iter().map(|(s, _)| *s).collect::<Vec<_>>().into(),
            );
            journal.append_system(actor, "content.read", Some("consent"), details)?;
        }
    }
    Ok(())
}
