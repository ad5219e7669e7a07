//! `custos policy`, `scan`, `alerts`, `alert`, `sample` and `model`: the
//! supervision commands, wiring the policy engine, the review state and the
//! classifier to the journal.

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use custos_journal::{Journal, Opened};
use custos_model::{Event, Timestamp};
use custos_review::policies::{self, Load};
use custos_review::review::{self, Action};
use custos_review::state::Status;
use custos_review::{Alert, Custodian, Disposition, Supervision, Supervisor};
use std::io::Write;
use std::path::PathBuf;

/// `custos policy ...`.
#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Load policy files (TOML): each changed text becomes a new version.
    Load {
        /// The policy files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the policies with their current version.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Print a policy's text (the current version, or `--version N`).
    Show {
        /// The policy name.
        name: String,
        /// Which version.
        #[arg(long)]
        version: Option<u32>,
    },
    /// Switch a policy off (loading it again switches it on).
    Disable {
        /// The policy name.
        name: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Try policy files before they go live: precision and recall on
    /// labelled messages, and the alerts they would add or remove on recent
    /// history.
    Test {
        /// The policy files (a changed version of a live policy, or new ones).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Labelled messages, JSON lines {"text", "labels": [category...]}.
        #[arg(long)]
        against: Option<PathBuf>,
        /// Days of history to compare alerts on.
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
}

/// `custos alert ...`.
#[derive(Subcommand, Debug)]
pub enum AlertCommand {
    /// Show an alert with its message and conversation (an audited read).
    Show {
        /// The alert id.
        id: String,
        /// Messages of the conversation to show before and after.
        #[arg(long, default_value_t = 3)]
        context: usize,
        /// Why you read it (recorded).
        #[arg(long, default_value = "alert review")]
        reason: String,
    },
    /// Assign an alert to a reviewer.
    Assign {
        /// The alert id.
        id: String,
        /// The reviewer.
        #[arg(long)]
        to: String,
    },
    /// Comment on an alert.
    Comment {
        /// The alert id.
        id: String,
        /// The comment.
        text: String,
    },
    /// Escalate an alert.
    Escalate {
        /// The alert id.
        id: String,
        /// The senior reviewer.
        #[arg(long)]
        to: Option<String>,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Close an alert with a disposition.
    Close {
        /// The alert id.
        id: String,
        /// false_positive, no_action_needed, escalated or breach.
        #[arg(long)]
        disposition: Disposition,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

/// `custos sample ...`.
#[derive(Subcommand, Debug)]
pub enum SampleCommand {
    /// Draw a random share of each custodian's conversations in a month.
    Draw {
        /// The month, YYYY-MM.
        #[arg(long)]
        period: String,
        /// The share to draw, e.g. 0.05 for 5%.
        #[arg(long, default_value_t = 0.05)]
        rate: f64,
        /// The seed; drawn at random when absent, recorded either way.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// List the samples drawn.
    List,
}

/// `custos model ...`.
#[derive(Subcommand, Debug)]
pub enum ModelCommand {
    /// Train the classifier from the seed corpus, a labelled file and the
    /// reviewers' dispositions; put it in service and record it.
    Train {
        /// More labelled messages, JSON lines {"text", "labels"}.
        #[arg(long)]
        labelled: Option<PathBuf>,
        /// Share held out for the precision and recall figures.
        #[arg(long, default_value_t = 0.2)]
        holdout: f64,
        /// The seed of the split.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
}

/// The custodians as supervision sees them.
fn custodians(journal: &Journal) -> Result<Vec<Custodian>> {
    Ok(crate::custodians::registry(journal)?
        .into_values()
        .map(|c| Custodian {
            id: c.id,
            address: custos_model::party_id(&c.phone),
            units: c.units,
        })
        .collect())
}

/// Opens the supervisor at its saved position; custodians enrolled later
/// (by the CLI, or on another node of a cluster) are taken in as their
/// events arrive.
pub fn open_supervisor(journal: &Journal) -> Result<Supervisor> {
    let mut supervisor =
        Supervisor::open_saved(journal, custodians(journal)?).context("opening supervision")?;
    supervisor.follow_custodians(enrolled);
    Ok(supervisor)
}

/// The custodian a `custodian.add` event enrols, as supervision needs it.
fn enrolled(seq: u64, event: &custos_model::SystemEvent) -> Option<Custodian> {
    custos_governance::custodians::from_event(seq, event).map(|c| Custodian {
        id: c.id,
        address: custos_model::party_id(&c.phone),
        units: c.units,
    })
}

/// Evaluates everything captured since the last pass; returns how many
/// alerts were raised.
pub fn supervise(journal: &Journal) -> Result<usize> {
    let mut supervisor = open_supervisor(journal)?;
    let raised = supervisor.catch_up(journal)?;
    supervisor.save_cursor(journal)?;
    Ok(raised.len())
}

/// Puts the starter policy library in force in a new archive.
pub fn install_starter(journal: &Journal, actor: &str) -> Result<usize> {
    let events = policies::starter_events(actor)?;
    let entries: Vec<_> = events
        .into_iter()
        .map(|event| custos_journal::NewEntry {
            event,
            subject: None,
        })
        .collect();
    journal.append_all(&entries)?;
    Ok(entries.len())
}

/// Runs `custos policy ...`.
pub fn policy(
    journal: &Journal,
    actor: &str,
    command: &PolicyCommand,
    out: &mut impl Write,
) -> Result<()> {
    let mut supervisor = open_supervisor(journal)?;
    match command {
        PolicyCommand::Load { files } => {
            // Check every file first: a bad one loads nothing.
            let mut loads = Vec::new();
            for file in files {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("reading {}", file.display()))?;
                let origin = file.display().to_string();
                loads.push(policies::load(&supervisor.state, &text, &origin, actor)?);
            }
            for load in loads {
                match load {
                    Load::Unchanged { name, version } => {
                        writeln!(out, "{name} v{version} unchanged")?
                    }
                    Load::New {
                        policy,
                        version,
                        event,
                    } => {
                        let appended = journal.append(&event, None)?;
                        supervisor.catch_up(journal)?;
                        writeln!(
                            out,
                            "{} v{version} loaded (entry {})",
                            policy.name, appended.seq
                        )?;
                    }
                }
            }
            supervisor.recompile(journal)?;
            supervisor.save_cursor(journal)?;
        }
        PolicyCommand::List { json } => {
            for p in supervisor.state.policies.values() {
                let v = p.current();
                let parsed = custos_policy::parse_policy(&v.source, &p.name).ok();
                if *json {
                    let line = serde_json::json!({
                        "name": p.name,
                        "version": v.version,
                        "enabled": p.enabled,
                        "title": parsed.as_ref().map(|x| x.title.clone()),
                        "severity": parsed.as_ref().map(|x| x.severity),
                        "category": parsed.as_ref().map(|x| x.category.clone()),
                        "loaded_at": v.loaded_at,
                        "loaded_by": v.loaded_by,
                        "origin": v.origin,
                    });
                    writeln!(out, "{line}")?;
                } else {
                    writeln!(
                        out,
                        "{:<22} v{:<3} {:<8} {:<9} {}",
                        p.name,
                        v.version,
                        if p.enabled { "active" } else { "disabled" },
                        parsed.as_ref().map_or("?", |x| x.severity.name()),
                        parsed.as_ref().map_or("", |x| x.title.as_str()),
                    )?;
                }
            }
        }
        PolicyCommand::Show { name, version } => {
            let p = supervisor
                .state
                .policies
                .get(name)
                .with_context(|| format!("no policy {name}"))?;
            let v = match version {
                None => p.current(),
                Some(n) => p
                    .versions
                    .iter()
                    .find(|v| v.version == *n)
                    .with_context(|| format!("policy {name} has no version {n}"))?,
            };
            writeln!(
                out,
                "# {name} v{} loaded {} by {} from {}",
                v.version, v.loaded_at, v.loaded_by, v.origin
            )?;
            out.write_all(v.source.as_bytes())?;
        }
        PolicyCommand::Disable { name, reason } => {
            let p = supervisor
                .state
                .policies
                .get(name)
                .with_context(|| format!("no policy {name}"))?;
            if !p.enabled {
                bail!("policy {name} is already disabled");
            }
            if reason.trim().is_empty() {
                bail!("--reason must not be empty");
            }
            let mut details = serde_json::Map::new();
            details.insert("reason".into(), reason.trim().into());
            let appended = journal.append_system(
                actor,
                custos_review::events::POLICY_DISABLED,
                Some(name),
                details,
            )?;
            writeln!(out, "{name} disabled (entry {})", appended.seq)?;
        }
        PolicyCommand::Test {
            files,
            against,
            days,
        } => crate::tuning::run(
            journal,
            actor,
            &supervisor,
            files,
            against.as_deref(),
            *days,
            out,
        )?,
    }
    Ok(())
}

/// Runs `custos scan`.
pub fn scan(
    journal: &Journal,
    policy: Option<&str>,
    since: Option<&str>,
    out: &mut impl Write,
) -> Result<()> {
    let mut supervisor = open_supervisor(journal)?;
    let since = since.map(parse_since).transpose()?;
    let selected: Vec<_> = policies::active(&supervisor.state)?
        .into_iter()
        .filter(|(p, _)| policy.is_none_or(|name| p.name == name))
        .collect();
    if let Some(name) = policy
        && selected.is_empty()
    {
        bail!("no active policy {name} (see custos policy list)");
    }
    let engine = custos_policy::Engine::compile(&selected)?;
    let bar = crate::progress::counting(journal.size(), "entries");
    let raised = supervisor.scan(journal, &engine, since, &mut |done, _| {
        bar.set_position(done)
    })?;
    bar.finish_and_clear();
    supervisor.save_cursor(journal)?;
    writeln!(
        out,
        "scanned {} entries with {} {}: {} new alerts",
        journal.size(),
        selected.len(),
        if selected.len() == 1 {
            "policy"
        } else {
            "policies"
        },
        raised.len()
    )?;
    Ok(())
}

/// `--since`: a date (YYYY-MM-DD, midnight UTC) or an RFC 3339 instant.
fn parse_since(text: &str) -> Result<Timestamp> {
    if let Ok(t) = Timestamp::parse(text) {
        return Ok(t);
    }
    crate::day_start(text, "--since")
}

/// Human age: `3d 4h`, `5h 2m`, `40s`.
fn age(since: Timestamp, now: Timestamp) -> String {
    let secs = (now.as_micros() - since.as_micros()).max(0) / 1_000_000;
    match secs {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn status_name(s: Status) -> String {
    match s {
        Status::Open => "open".into(),
        Status::Assigned => "assigned".into(),
        Status::Escalated => "escalated".into(),
        Status::Closed(d) => format!("closed:{}", d.name()),
    }
}

/// Runs `custos alerts`.
pub fn alerts(journal: &Journal, json: bool, all: bool, out: &mut impl Write) -> Result<()> {
    let state = Supervision::load(journal)?;
    let now = Timestamp::now();
    let mut list: Vec<&Alert> = state
        .alerts
        .values()
        .filter(|a| all || a.is_open())
        .collect();
    list.sort_by_key(|a| custos_review::state::queue_rank(a));
    for a in list {
        if json {
            let mut value = serde_json::to_value(a)?;
            let obj = value.as_object_mut().expect("an alert is an object");
            obj.insert(
                "age_seconds".into(),
                ((now.as_micros() - a.raised_at.as_micros()) / 1_000_000).into(),
            );
            obj.insert(
                "likely_false_positive".into(),
                a.likely_false_positive().into(),
            );
            writeln!(out, "{value}")?;
        } else {
            writeln!(
                out,
                "{} {:<8} {:<20} v{:<2} {:<18} {:>7} {:<9} {}{}{}",
                a.id,
                a.raised.severity.name(),
                a.raised.policy,
                a.raised.version,
                status_name(a.status),
                age(a.raised_at, now),
                a.raised.channel,
                a.raised.conversation,
                if a.repeats.is_empty() {
                    String::new()
                } else {
                    format!(" (+{} repeats)", a.repeats.len())
                },
                if a.likely_false_positive() {
                    " [likely false positive]"
                } else {
                    ""
                },
            )?;
        }
    }
    Ok(())
}

/// Runs `custos alert ...`.
pub fn alert(
    journal: &Journal,
    actor: &str,
    command: &AlertCommand,
    out: &mut impl Write,
) -> Result<()> {
    let state = Supervision::load(journal)?;
    let (id, action) = match command {
        AlertCommand::Show {
            id,
            context,
            reason,
        } => return show(journal, &state, actor, id, *context, reason, out),
        AlertCommand::Assign { id, to } => (id, Action::Assign { to: to.clone() }),
        AlertCommand::Comment { id, text } => (id, Action::Comment { text: text.clone() }),
        AlertCommand::Escalate { id, to, reason } => (
            id,
            Action::Escalate {
                to: to.clone(),
                reason: reason.clone(),
            },
        ),
        AlertCommand::Close {
            id,
            disposition,
            reason,
        } => (
            id,
            Action::Close {
                disposition: *disposition,
                reason: reason.clone(),
            },
        ),
    };
    let event = review::event_for(&state, id, actor, &action)?;
    let appended = journal.append(&event, None)?;
    if let Event::System(s) = &event {
        writeln!(out, "{id}: {} (entry {})", s.action, appended.seq)?;
    }
    Ok(())
}

/// Prints an alert with its message highlighted and the conversation
/// around it, and records the read.
fn show(
    journal: &Journal,
    state: &Supervision,
    actor: &str,
    id: &str,
    context: usize,
    reason: &str,
    out: &mut impl Write,
) -> Result<()> {
    let a = state
        .alerts
        .get(id)
        .with_context(|| format!("no alert {id}"))?;
    let r = &a.raised;
    writeln!(out, "alert     {id}  ({})", status_name(a.status))?;
    writeln!(
        out,
        "policy    {} v{} \"{}\" ({}, {})",
        r.policy, r.version, r.title, r.category, r.severity
    )?;
    writeln!(
        out,
        "message   entry {} {} {} in {} sent {}",
        r.message_seq, r.channel, r.source_id, r.conversation, r.sent_at
    )?;
    if let Some(c) = &r.custodian {
        writeln!(out, "custodian {c}")?;
    }
    if let Some(score) = r.score {
        writeln!(
            out,
            "classifier {score:.2} for {}{}",
            r.category,
            if a.likely_false_positive() {
                " (likely false positive)"
            } else {
                ""
            }
        )?;
    }
    let messages = crate::conversation_around(journal, r.message_seq, &r.conversation, context)?;
    writeln!(out, "conversation:")?;
    for (seq, m) in &messages {
        let text = m.text.as_deref().unwrap_or("");
        let text = if *seq == r.message_seq {
            highlight(text, &r.hits)
        } else {
            text.to_string()
        };
        let mark = if *seq == r.message_seq { ">" } else { " " };
        writeln!(
            out,
            "{mark} {} {} {}: {}",
            seq,
            m.sent_at,
            m.sender,
            crate::one_line(&text)
        )?;
    }
    if !a.repeats.is_empty() {
        writeln!(out, "repeats:")?;
        for rep in &a.repeats {
            writeln!(out, "  entry {} in {}", rep.message_seq, rep.conversation)?;
        }
    }
    for h in &a.history {
        writeln!(
            out,
            "{} {} {}{}{}",
            h.at,
            h.actor,
            h.action,
            h.detail
                .assignee
                .as_deref()
                .map(|x| format!(" to {x}"))
                .unwrap_or_default(),
            h.detail
                .disposition
                .map(|d| format!(" as {}", d.name()))
                .unwrap_or_default()
                + &if h.detail.text.is_empty() {
                    String::new()
                } else {
                    format!(": {}", h.detail.text)
                }
        )?;
    }
    let mut details = serde_json::Map::new();
    details.insert("alert".into(), id.into());
    details.insert("reason".into(), reason.into());
    details.insert(
        "entries".into(),
        messages.iter().map(|(s, _)| *s).collect::<Vec<_>>().into(),
    );
    journal.append_system(actor, "content.read", Some(id), details)?;
    Ok(())
}

/// Marks each hit as `[[...]]` in the text.
pub fn highlight(text: &str, hits: &[custos_policy::Hit]) -> String {
    let mut spans: Vec<(usize, usize)> = hits
        .iter()
        .filter(|h| h.end > h.start && h.end <= text.len())
        .filter(|h| text.is_char_boundary(h.start) && text.is_char_boundary(h.end))
        .map(|h| (h.start, h.end))
        .collect();
    spans.sort_unstable();
    let mut out = String::new();
    let mut at = 0;
    for (start, end) in spans {
        if start < at {
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str("[[");
        out.push_str(&text[start..end]);
        out.push_str("]]");
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

/// Runs `custos sample ...`.
pub fn sample(
    journal: &Journal,
    actor: &str,
    command: &SampleCommand,
    out: &mut impl Write,
) -> Result<()> {
    let mut supervisor = open_supervisor(journal)?;
    match command {
        SampleCommand::Draw { period, rate, seed } => {
            let seed = seed.unwrap_or_else(random_seed);
            let (id, drawn) = supervisor.draw_sample(journal, period, *rate, seed, actor)?;
            writeln!(
                out,
                "{id}: drew {} of {} conversations (rate {}, seed {seed})",
                drawn.alerts.len(),
                drawn.population,
                drawn.rate
            )?;
            for a in &drawn.alerts {
                writeln!(out, "  {a}")?;
            }
        }
        SampleCommand::List => {
            for s in &supervisor.state.samples {
                let open = s
                    .drawn
                    .alerts
                    .iter()
                    .filter(|a| supervisor.state.alerts.get(*a).is_some_and(Alert::is_open))
                    .count();
                writeln!(
                    out,
                    "{} {} rate {} seed {} drawn by {}: {} conversations, {} still open",
                    s.id,
                    s.drawn.period,
                    s.drawn.rate,
                    s.drawn.seed,
                    s.drawn_by,
                    s.drawn.alerts.len(),
                    open
                )?;
            }
        }
    }
    Ok(())
}

/// The clock and the process id are enough for a sampling seed: the seed
/// is recorded, so the draw can be repeated.
fn random_seed() -> u64 {
    Timestamp::now().as_micros() as u64 ^ (u64::from(std::process::id()) << 32)
}

/// Runs `custos model train`.
pub fn model(
    journal: &Journal,
    actor: &str,
    command: &ModelCommand,
    out: &mut impl Write,
) -> Result<()> {
    let ModelCommand::Train {
        labelled,
        holdout,
        seed,
    } = command;
    let state = Supervision::load(journal)?;
    let mut examples =
        custos_classifier::load_jsonl(custos_classifier::seed_corpus(), "seed corpus")?;
    let seed_count = examples.len();
    if let Some(file) = labelled {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        examples.extend(custos_classifier::load_jsonl(
            &text,
            &file.display().to_string(),
        )?);
    }
    let from_dispositions = disposition_examples(journal, actor, &state)?;
    let reviewed = from_dispositions.len();
    examples.extend(from_dispositions);
    // Reviewers' corrections come last and weigh more than seed lines.
    let options = custos_classifier::TrainOptions {
        seed: *seed,
        holdout: *holdout,
        corrections_from: (reviewed > 0).then(|| examples.len() - reviewed),
        ..Default::default()
    };
    let (train, test) = custos_classifier::split(&examples, *holdout, *seed);
    let held_out = custos_classifier::Model::train(
        &train,
        &custos_classifier::TrainOptions {
            seed: *seed,
            holdout: *holdout,
            ..Default::default()
        },
    )?;
    let metrics = custos_classifier::evaluate(&held_out, &test, 0.5);
    // The model in service learns from everything.
    let model = custos_classifier::Model::train(&examples, &options)?;
    let bytes = model.to_bytes();
    journal.put_archive_blob(&bytes)?;
    let trained = custos_review::events::ModelTrained {
        version: model.version().to_string(),
        blob: custos_model::Digest::of(&bytes).to_string(),
        examples: examples.len() as u64,
        from_dispositions: reviewed as u64,
        precision: metrics.micro_precision,
        recall: metrics.micro_recall,
    };
    let event = custos_review::events::system(
        actor,
        custos_review::events::MODEL_TRAINED,
        model.version(),
        &trained,
    );
    let appended = journal.append(&event, None)?;
    writeln!(
        out,
        "trained on {} examples ({} seed corpus, {} from reviewers' dispositions); held out {} for testing",
        examples.len(),
        seed_count,
        reviewed,
        test.len()
    )?;
    out.write_all(metrics.render().as_bytes())?;
    writeln!(
        out,
        "model {} in service (entry {}); micro precision {:.3}, recall {:.3}",
        model.version(),
        appended.seq,
        metrics.micro_precision,
        metrics.micro_recall
    )?;
    Ok(())
}

/// Reviewers' decisions as training examples: a message closed as a
/// breach or escalated is a positive for its alert's category; one closed
/// as a false positive is a negative for it.
fn disposition_examples(
    journal: &Journal,
    actor: &str,
    state: &Supervision,
) -> Result<Vec<custos_classifier::Example>> {
    let mut by_message: std::collections::BTreeMap<u64, (Vec<String>, bool)> =
        std::collections::BTreeMap::new();
    for a in state.alerts.values() {
        let Status::Closed(d) = a.status else {
            continue;
        };
        if a.raised.origin != custos_review::Origin::Policy {
            continue;
        }
        let slot = by_message.entry(a.raised.message_seq).or_default();
        match d {
            Disposition::Breach | Disposition::Escalated => {
                slot.0.push(a.raised.category.clone());
            }
            Disposition::FalsePositive => slot.1 = true,
            // A real match that needed nothing teaches nothing either way.
            Disposition::NoActionNeeded => {}
        }
    }
    let mut out = Vec::new();
    let mut read = Vec::new();
    for (seq, (labels, false_positive)) in by_message {
        if labels.is_empty() && !false_positive {
            continue;
        }
        let entry = journal.entry(seq)?;
        let text = match journal.open_entry(&entry)? {
            Opened::Event(Event::Message(m)) => m.text.unwrap_or_default(),
            Opened::Event(Event::Edit(e)) => e.text,
            _ => continue,
        };
        if !text.trim().is_empty() {
            out.push(custos_classifier::Example { text, labels });
            read.push(seq);
        }
    }
    if !read.is_empty() {
        let mut details = serde_json::Map::new();
        details.insert("reason".into(), "classifier training".into());
        details.insert("entries".into(), read.into());
        journal.append_system(actor, "content.read", Some("model.train"), details)?;
    }
    Ok(out)
}
