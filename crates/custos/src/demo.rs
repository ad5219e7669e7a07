//! `custos demo`: builds an archive of realistic synthetic data (the
//! generated traffic of the last days, the hand-written scenes, a legal
//! hold, a case, a privacy request and one user per role) that `main` then
//! serves like `custos serve`.
//!
//! A demo archive is marked by a `demo.loaded` system event once complete.
//! Run again on it, the command loads nothing and serves it; on an archive
//! it did not build, it refuses, so demo data never lands in a real one.

use crate::{cases, custodians, holds, privacy, progress, search, supervision};
use anyhow::{Context, Result, bail};
use custos_auth::{NewUser, Role, Users};
use custos_journal::{Journal, NewEntry, Opened};
use custos_model::{
    ConsentChange, ConsentState, Deletion, DeliveryState, DeliveryStatus, Digest, Edit, Event,
    Reaction, SystemEvent, Timestamp,
};
use ring::rand::{SecureRandom, SystemRandom};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// The action of the event that marks a complete demo archive.
const LOADED: &str = "demo.loaded";

/// What to build.
pub struct DemoArgs {
    /// Messages of generated traffic (about).
    pub messages: usize,
    /// The generator's seed.
    pub seed: u64,
    /// How many days of traffic, ending now.
    pub days: u32,
    /// The end of the traffic (Unix seconds).
    pub until: i64,
}

/// A demo user's sign-in, printed once.
pub struct SignIn {
    /// User id.
    pub id: String,
    /// The role, as the console names it.
    pub role: &'static str,
    /// The generated password.
    pub password: String,
    /// What to try when signed in.
    pub hint: String,
}

/// What `build` found or made.
pub enum Built {
    /// A new demo archive, with the sign-ins (shown once, never stored).
    New(Vec<SignIn>),
    /// An archive built by an earlier `custos demo`.
    Existing,
}

/// Builds the demo archive in `data`, or recognises one built before.
pub fn build(
    data: &Path,
    journal_for: impl FnOnce(bool) -> Result<Journal>,
    actor: &str,
    args: &DemoArgs,
    out: &mut impl Write,
) -> Result<(Journal, Built)> {
    let exists = data.join(custos_journal::FORMAT_FILE).exists();
    let journal = journal_for(exists)?;
    if exists {
        if has_action(&journal, LOADED)? {
            writeln!(out, "{} is a demo archive already loaded", data.display())?;
            return Ok((journal, Built::Existing));
        }
        if !has_action(&journal, "demo.started")? {
            journal.close()?;
            bail!(
                "{} holds an archive that `custos demo` did not build: pass --data with a new directory",
                data.display()
            );
        }
        writeln!(out, "finishing the demo archive in {}", data.display())?;
    } else {
        writeln!(out, "created archive {}", data.display())?;
        let policies = supervision::install_starter(&journal, actor)?;
        writeln!(out, "{policies} starter policies active")?;
        system(
            &journal,
            actor,
            "demo.started",
            None,
            serde_json::Map::new(),
        )?;
    }
    let signins = load(data, &journal, actor, args, out)?;
    Ok((journal, Built::New(signins)))
}

fn load(
    data: &Path,
    journal: &Journal,
    actor: &str,
    args: &DemoArgs,
    out: &mut impl Write,
) -> Result<Vec<SignIn>> {
    let config = custos_demo::DemoConfig {
        seed: args.seed,
        messages: args.messages,
    };
    let staff = custos_demo::staff(&config);
    let mut enrolled = 0;
    for person in &staff {
        let added = custodians::add(
            journal,
            actor,
            &person.id,
            &person.name,
            &person.phone,
            "2024-01-15",
            &person.units,
        )?;
        enrolled += usize::from(matches!(added, custodians::Added::New(_)));
    }
    if enrolled > 0 {
        writeln!(
            out,
            "enrolled {enrolled} custodians (custos custodian list)"
        )?;
    }
    let scenes = custos_demo::scenes(&config, args.until);
    // Blobs are durable before any message names them.
    for file in &scenes.media {
        let at = Timestamp::from_micros(file.at * 1_000_000);
        let blob = journal.put_blob(file.party.as_deref(), at, &file.bytes)?;
        debug_assert_eq!(blob.digest, Digest::of(&file.bytes));
    }
    let mut lines = Vec::new();
    for line in custos_demo::generate_recent(&config, args.until, args.days) {
        lines.extend_from_slice(line.as_bytes());
        lines.push(b'\n');
    }
    let bar = progress::bytes(lines.len() as u64);
    let report = custos_capture::jsonl::append(journal, &lines[..], &mut |b| bar.set_position(b))
        .context("loading demo data")?;
    bar.finish_and_clear();
    crate::summarise("demo data", &report, out)?;
    let scene_lines = scenes.lines.join("\n");
    let scene_report = custos_capture::jsonl::append(journal, scene_lines.as_bytes(), &mut |_| {})
        .context("loading demo scenes")?;
    changes(journal, actor, &scenes)?;
    writeln!(
        out,
        "{} scene messages ({} files, {} later changes, {} consent records)",
        scene_report.messages,
        scenes.media.len(),
        scenes.changes.len(),
        scenes.consent.len()
    )?;
    crate::report_alerts(supervision::supervise(journal)?, out)?;
    let index = search::open_index(data, journal)?;
    writeln!(out, "search index holds {} messages", index.messages())?;
    drop(index);
    governance(data, journal, actor, &scenes.cast, args.until)?;
    writeln!(
        out,
        "a legal hold, a case and a privacy request are open (custos hold list, case list, privacy list)"
    )?;
    let signins = users(journal, actor, &scenes.cast)?;
    let mut details = serde_json::Map::new();
    details.insert("seed".into(), args.seed.into());
    details.insert("messages".into(), report.messages.into());
    details.insert("until".into(), args.until.into());
    system(journal, actor, LOADED, None, details)?;
    let head = journal.sign_head()?;
    writeln!(
        out,
        "journal holds {} entries; signed head root {}",
        head.tree_size,
        hex::encode(head.root)
    )?;
    Ok(signins)
}

/// Statuses, edits, deletions, reactions and consent changes of the scenes.
fn changes(journal: &Journal, actor: &str, scenes: &custos_demo::Scenes) -> Result<()> {
    // The external party of each scene message: the key its changes use.
    let mut party: BTreeMap<String, Option<String>> = BTreeMap::new();
    for line in &scenes.lines {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let external = match v["direction"].as_str() {
            Some("inbound") => v["from"].as_str().map(str::to_string),
            Some("outbound") => v["to"][0].as_str().map(str::to_string),
            _ => None,
        };
        party.insert(v["id"].as_str().unwrap_or_default().to_string(), external);
    }
    let at = |secs: i64| Timestamp::from_micros(secs * 1_000_000);
    let raw = |what: &str| Digest::of(what.as_bytes());
    let mut entries = Vec::new();
    for change in &scenes.changes {
        let (event, target) = match change {
            custos_demo::Change::Status {
                channel,
                target,
                recipient,
                state,
                at: when,
            } => (
                Event::Status(DeliveryStatus {
                    channel: channel.clone(),
                    target: target.clone(),
                    recipient: recipient.clone(),
                    state: if *state == "read" {
                        DeliveryState::Read
                    } else {
                        DeliveryState::Delivered
                    },
                    at: at(*when),
                    captured_at: at(*when),
                    error: None,
                    raw_digest: raw(&format!("{target}/{state}")),
                }),
                target,
            ),
            custos_demo::Change::Edit {
                channel,
                id,
                target,
                by,
                text,
                at: when,
            } => (
                Event::Edit(Edit {
                    channel: channel.clone(),
                    source_id: id.clone(),
                    target: target.clone(),
                    editor: by.clone(),
                    edited_at: at(*when),
                    captured_at: at(*when),
                    text: text.clone(),
                    raw_digest: raw(id),
                }),
                target,
            ),
            custos_demo::Change::Deletion {
                channel,
                id,
                target,
                by,
                at: when,
            } => (
                Event::Deletion(Deletion {
                    channel: channel.clone(),
                    source_id: id.clone(),
                    target: target.clone(),
                    deleted_by: by.clone(),
                    deleted_at: at(*when),
                    captured_at: at(*when),
                    raw_digest: raw(id),
                }),
                target,
            ),
            custos_demo::Change::Reaction {
                channel,
                id,
                target,
                by,
                emoji,
                at: when,
            } => (
                Event::Reaction(Reaction {
                    channel: channel.clone(),
                    source_id: id.clone(),
                    target: target.clone(),
                    sender: by.clone(),
                    emoji: Some(emoji.clone()),
                    reacted_at: at(*when),
                    captured_at: at(*when),
                    raw_digest: raw(id),
                }),
                target,
            ),
        };
        entries.push(NewEntry {
            event,
            subject: party.get(target).cloned().flatten(),
        });
    }
    for c in &scenes.consent {
        entries.push(NewEntry {
            event: Event::Consent(ConsentChange {
                channel: c.channel.clone(),
                party: custos_model::party_id(&c.party),
                state: if c.opt_in {
                    ConsentState::OptIn
                } else {
                    ConsentState::OptOut
                },
                evidence: c.evidence.clone(),
                at: at(c.at),
                recorded_by: actor.to_string(),
            }),
            subject: Some(c.party.clone()),
        });
    }
    journal.append_all(&entries)?;
    Ok(())
}

/// A hold over the inside-information chat, a case about the FX salesman's
/// promises, and a Spanish customer's access request.
fn governance(
    data: &Path,
    journal: &Journal,
    actor: &str,
    cast: &custos_demo::Cast,
    until: i64,
) -> Result<()> {
    let mut sink = std::io::sink();
    holds::run(
        data,
        journal,
        actor,
        &holds::HoldCommand::Place {
            name: "Halden Pharma leak review".into(),
            reason: "possible disclosure of inside information (demo)".into(),
            custodians: Vec::new(),
            conversations: vec![cast.held_conversation.clone()],
            participants: Vec::new(),
            from: None,
            to: None,
            search: None,
        },
        &mut sink,
    )?;
    let from = jiff::Timestamp::from_second(until - 90 * 86_400)?
        .strftime("%Y-%m-%d")
        .to_string();
    cases::run(
        data,
        journal,
        actor,
        &cases::CaseCommand::Open {
            name: "FCA review: promises of returns".into(),
            description: "statements of guaranteed returns to clients (demo)".into(),
            custodians: vec![cast.case_custodian.clone()],
            from: Some(from),
            to: None,
        },
        &mut sink,
    )?;
    cases::run(
        data,
        journal,
        actor,
        &cases::CaseCommand::Search {
            case: "FCA review: promises of returns".into(),
            name: "promissory".into(),
            query: "policy:promissory".into(),
        },
        &mut sink,
    )?;
    privacy::run(
        data,
        journal,
        actor,
        &privacy::PrivacyCommand::Open {
            subject: cast.privacy_subject.clone(),
            kind: custos_governance::privacy::Kind::Access,
            law: custos_governance::privacy::Law::Gdpr,
            received: None,
        },
        &mut sink,
    )?;
    Ok(())
}

/// A demo user: id, name, role, units, custodian, what to try.
type PlannedUser = (
    &'static str,
    &'static str,
    Role,
    Vec<String>,
    Option<String>,
    String,
);

/// One user per role, each with a fresh random password.
fn users(journal: &Journal, actor: &str, cast: &custos_demo::Cast) -> Result<Vec<SignIn>> {
    let [desk_a, desk_b] = &cast.reviewer_desks;
    let plan: [PlannedUser; 7] = [
        (
            "demo-admin",
            "Demo Administrator",
            Role::Admin,
            vec![],
            None,
            "users, tokens and configuration; no message content by default".into(),
        ),
        (
            "demo-compliance",
            "Demo Compliance Officer",
            Role::ComplianceOfficer,
            vec![],
            None,
            "the alert queue (every starter policy fired), the case and the legal hold".into(),
        ),
        (
            "demo-reviewer-fx",
            "Demo Reviewer (FX)",
            Role::Reviewer,
            vec![desk_a.clone()],
            None,
            format!("alerts and search confined to {desk_a}: the barrier hides the rest"),
        ),
        (
            "demo-reviewer-rates",
            "Demo Reviewer (Rates)",
            Role::Reviewer,
            vec![desk_b.clone()],
            None,
            format!("the same searches as the FX reviewer, but only {desk_b} answers"),
        ),
        (
            "demo-auditor",
            "Demo Auditor",
            Role::Auditor,
            vec![],
            None,
            "verification and the access log: every read above is on record".into(),
        ),
        (
            "demo-agent",
            "Demo Agent",
            Role::Agent,
            vec![],
            Some(cast.agent.clone()),
            format!("only {}'s own conversations, and consent", cast.agent),
        ),
        (
            "demo-dpo",
            "Demo Data-Protection Officer",
            Role::Dpo,
            vec![],
            None,
            "the open access request, consent history (STOP, PARAR, BAJA)".into(),
        ),
    ];
    let mut users = Users::load(journal)?;
    let mut signins = Vec::new();
    for (id, name, role, units, custodian, hint) in plan {
        if users.get(id).is_some() {
            continue;
        }
        let password = password()?;
        users.add(
            journal,
            actor,
            NewUser {
                id: id.into(),
                name: name.into(),
                roles: [role].into_iter().collect(),
                units,
                custodian,
            },
            &password,
        )?;
        signins.push(SignIn {
            id: id.into(),
            role: role.as_str(),
            password,
            hint,
        });
    }
    Ok(signins)
}

/// A random password of 20 letters and digits (about 115 bits), without
/// look-alike characters.
fn password() -> Result<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let rng = SystemRandom::new();
    let mut out = String::new();
    while out.len() < 20 {
        let mut byte = [0u8; 1];
        rng.fill(&mut byte)
            .map_err(|_| anyhow::anyhow!("no system randomness"))?;
        // Rejection sampling keeps every character equally likely.
        let limit = 256 - 256 % ALPHABET.len();
        if usize::from(byte[0]) < limit {
            out.push(char::from(ALPHABET[usize::from(byte[0]) % ALPHABET.len()]));
        }
    }
    Ok(out)
}

/// Prints the sign-ins and what to try.
pub fn print_signins(
    address: Option<&str>,
    signins: &[SignIn],
    out: &mut impl Write,
) -> Result<()> {
    match address {
        Some(address) => writeln!(out, "\nconsole: http://{address}/")?,
        None => writeln!(
            out,
            "\nnot served (--no-serve): `custos demo` again serves it"
        )?,
    }
    if signins.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "sign-ins (printed only now, never stored; reset one with `custos user password ID`):"
    )?;
    for s in signins {
        writeln!(
            out,
            "  {:<20} {:<20} {:<18}  {}",
            s.id, s.password, s.role, s.hint
        )?;
    }
    Ok(())
}

fn has_action(journal: &Journal, action: &str) -> Result<bool> {
    for entry in journal.entries(0) {
        let entry = entry?;
        if entry.leaf.kind != custos_model::EventKind::System {
            continue;
        }
        if let Opened::Event(Event::System(e)) = journal.open_entry(&entry)?
            && e.action == action
        {
            return Ok(true);
        }
    }
    Ok(false)
}

fn system(
    journal: &Journal,
    actor: &str,
    action: &str,
    target: Option<String>,
    details: serde_json::Map<String, serde_json::Value>,
) -> Result<()> {
    journal.append(
        &Event::System(SystemEvent {
            actor: actor.into(),
            action: action.into(),
            target,
            at: Timestamp::now(),
            details,
        }),
        None,
    )?;
    Ok(())
}
