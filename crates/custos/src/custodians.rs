//! `custos custodian ...`: enrolling and listing custodians. The registry
//! itself is `custos_governance::custodians`.

use anyhow::{Context, Result};
use clap::Subcommand;
use custos_journal::Journal;
use std::io::Write;
use std::path::PathBuf;

pub use custos_governance::custodians::{Added, normalise_phone, registry};

/// The action of a refused change to an enrolment.
pub const REFUSED_ACTION: &str = "custodian.change_refused";

/// Enrols a custodian (see [`custos_governance::custodians::add`]).
pub fn add(
    journal: &Journal,
    actor: &str,
    id: &str,
    name: &str,
    phone: &str,
    opted_in: &str,
    units: &[String],
) -> Result<Added> {
    Ok(custos_governance::custodians::add(
        journal, actor, id, name, phone, opted_in, units,
    )?)
}

/// `custos custodian ...`.
#[derive(Subcommand, Debug)]
pub enum CustodianCommand {
    /// Enrol a custodian (an employee whose business messages are captured).
    Add {
        /// A stable identifier, e.g. the HR or employee number.
        id: String,
        /// Full name.
        #[arg(long)]
        name: String,
        /// Work phone number, e.g. +44 7700 900001.
        #[arg(long)]
        phone: String,
        /// The date they opted in to oversight (YYYY-MM-DD).
        #[arg(long)]
        opted_in: String,
        /// A business unit or desk they work in (repeat for several);
        /// policies can be scoped to units.
        #[arg(long = "unit")]
        units: Vec<String>,
        /// A role they hold (repeat for several), e.g. trader or
        /// registered-representative; retention rules can match roles
        /// (`custodian_roles`).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// The custodian's signed acknowledgement of oversight (PDF, scan):
        /// kept encrypted in the archive, named by its SHA-256 in the event.
        #[arg(long)]
        acknowledgement: Option<PathBuf>,
    },
    /// Write a custodian's signed acknowledgement to a file (an audited read).
    Acknowledgement {
        /// The custodian's id.
        id: String,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Business numbers capture was refused on (not enrolled, with
    /// `[capture] require_enrolment`): how often, first and last seen.
    Unenrolled {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// List the enrolled custodians.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `custos custodian ...`.
pub fn run(
    journal: &Journal,
    actor: &str,
    command: &CustodianCommand,
    out: &mut impl Write,
) -> Result<()> {
    match command {
        CustodianCommand::Add {
            id,
            name,
            phone,
            opted_in,
            units,
            roles,
            acknowledgement,
        } => {
            let ack = acknowledgement
                .as_ref()
                .map(|path| -> Result<_> {
                    Ok(custos_governance::custodians::Acknowledgement {
                        file_name: path
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                        bytes: std::fs::read(path)
                            .with_context(|| format!("--acknowledgement {}", path.display()))?,
                    })
                })
                .transpose()?;
            let added = custos_governance::custodians::add_acknowledged(
                journal,
                actor,
                id,
                name,
                phone,
                opted_in,
                units,
                roles,
                ack.as_ref(),
            );
            // An enrolment is never changed: the attempt is on record.
            if let Err(custos_governance::custodians::CustodianError::Conflict(why)) = &added {
                let mut details = serde_json::Map::new();
                details.insert("reason".into(), why.clone().into());
                journal.append_system(actor, REFUSED_ACTION, Some(id.trim()), details)?;
            }
            let added = added?;
            match added {
                Added::New(seq) => writeln!(out, "enrolled custodian {} (entry {seq})", id.trim())?,
                Added::Acknowledged(seq) => writeln!(
                    out,
                    "custodian {} was already enrolled; acknowledgement recorded (entry {seq})",
                    id.trim()
                )?,
                Added::Unchanged(seq) => writeln!(
                    out,
                    "custodian {} is already enrolled with the same data (entry {seq}); nothing changed",
                    id.trim()
                )?,
            }
        }
        CustodianCommand::Acknowledgement { id, out: path } => {
            let registry = registry(journal)?;
            let custodian = registry
                .get(id.trim())
                .with_context(|| format!("no custodian {id} (custos custodian list)"))?;
            let ack = custodian.acknowledgement.as_ref().with_context(|| {
                format!("custodian {id} has no acknowledgement on record (custodian add --acknowledgement FILE)")
            })?;
            let digest = custos_model::Digest::from_hex(&ack.sha256)
                .with_context(|| format!("entry {}: a malformed digest", ack.seq))?;
            let bytes = journal
                .archive_blob(&digest)?
                .with_context(|| format!("the acknowledgement of {id} is no longer readable"))?;
            let mut details = serde_json::Map::new();
            details.insert("reason".into(), "custodian acknowledgement".into());
            details.insert("entries".into(), vec![ack.seq].into());
            journal.append_system(actor, "content.read", Some(id.trim()), details)?;
            std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            writeln!(
                out,
                "wrote {} ({} bytes, SHA-256 {}) recorded at entry {}",
                path.display(),
                bytes.len(),
                ack.sha256,
                ack.seq
            )?;
        }
        CustodianCommand::Unenrolled { json } => {
            let refused = refused_numbers(journal)?;
            if refused.is_empty() && !*json {
                writeln!(out, "no capture was refused for want of enrolment")?;
            }
            for (number, r) in &refused {
                if *json {
                    let line = serde_json::json!({
                        "number": number, "channels": r.channels, "refusals": r.refusals,
                        "messages": r.messages, "first": r.first, "last": r.last, "entries": r.entries,
                    });
                    writeln!(out, "{line}")?;
                } else {
                    writeln!(
                        out,
                        "{number}  {} refusal(s), {} message(s) on {}, first {} last {}",
                        r.refusals,
                        r.messages,
                        r.channels.join(","),
                        r.first,
                        r.last
                    )?;
                }
            }
        }
        CustodianCommand::List { json } => {
            let registry = registry(journal)?;
            if *json {
                for c in registry.values() {
                    writeln!(out, "{}", serde_json::to_string(c)?)?;
                }
            } else if registry.is_empty() {
                writeln!(out, "no custodians enrolled")?;
            } else {
                let id_w = registry
                    .keys()
                    .map(|k| k.chars().count())
                    .max()
                    .unwrap_or(0)
                    .max(2);
                let name_w = registry
                    .values()
                    .map(|c| c.name.chars().count())
                    .max()
                    .unwrap_or(0)
                    .max(4);
                writeln!(
                    out,
                    "{:<id_w$}  {:<name_w$}  {:<16}  {:<10}  UNITS",
                    "ID", "NAME", "PHONE", "OPTED IN"
                )?;
                for c in registry.values() {
                    writeln!(
                        out,
                        "{:<id_w$}  {:<name_w$}  {:<16}  {:<10}  {}",
                        c.id,
                        c.name,
                        c.phone,
                        c.opted_in,
                        c.units.join(",")
                    )?;
                }
            }
        }
    }
    Ok(())
}

/// What was refused on one business number.
#[derive(Debug, Default)]
struct Refused {
    channels: Vec<String>,
    refusals: u64,
    messages: u64,
    first: String,
    last: String,
    entries: Vec<u64>,
}

/// The `capture.refused` events by number (system events only: no
/// content is opened).
fn refused_numbers(journal: &Journal) -> Result<std::collections::BTreeMap<String, Refused>> {
    let mut found: std::collections::BTreeMap<String, Refused> = Default::default();
    for entry in journal.entries(0) {
        let entry = entry?;
        if entry.leaf.kind != custos_model::EventKind::System {
            continue;
        }
        let custos_journal::Opened::Event(custos_model::Event::System(s)) =
            journal.open_entry(&entry)?
        else {
            continue;
        };
        if s.action != custos_server::enrolment::REFUSED {
            continue;
        }
        let r = found
            .entry(s.target.clone().unwrap_or_default())
            .or_default();
        let channel = s
            .details
            .get("channel")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        if !r.channels.iter().any(|c| c == channel) {
            r.channels.push(channel.to_string());
        }
        r.refusals += 1;
        r.messages += s
            .details
            .get("events")
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        if r.first.is_empty() {
            r.first = s.at.to_string();
        }
        r.last = s.at.to_string();
        r.entries.push(entry.leaf.seq);
    }
    Ok(found)
}
