//! `custos retention`: the schedule (rules set/show), the presets, runs
//! (dry or real) and the certificates; and the schedule `serve` runs. The
//! logic is `custos_governance::retention`; this only wires and prints.

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use custos_governance::retention::{self, Plan, Schedules, Status};
use custos_journal::Journal;
use custos_model::Timestamp;
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

/// `custos retention ...`.
#[derive(Subcommand, Debug)]
pub enum RetentionCommand {
    /// The retention schedule: load a new version, show one.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// The presets and their legal sources.
    Preset {
        #[command(subcommand)]
        command: PresetCommand,
    },
    /// Dispose of expired records (crypto-shredding), with a certificate
    /// per batch; first finishes any batch an interrupted run started.
    Run {
        /// List what would go and why; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Plan as of this date (YYYY-MM-DD) or instant instead of now.
        #[arg(long)]
        now: Option<String>,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The disposition certificates, oldest first.
    Certificates {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

/// `custos retention rules ...`.
#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Load a schedule file (TOML, [[rule]] tables) as the next version.
    Set {
        /// The file.
        file: PathBuf,
    },
    /// Print the schedule in force (or version N) and its rules.
    Show {
        /// A past version.
        #[arg(long)]
        version: Option<u64>,
    },
}

/// `custos retention preset ...`.
#[derive(Subcommand, Debug)]
pub enum PresetCommand {
    /// List the presets: name, period, accessible span, extension, source.
    List,
}

/// Parses `--now`: a date (midnight UTC) or an RFC 3339 instant.
fn parse_now(text: &str) -> Result<Timestamp> {
    if let Ok(ts) = Timestamp::parse(text) {
        return Ok(ts);
    }
    let date: jiff::civil::Date = text
        .parse()
        .with_context(|| format!("--now {text:?}: expected YYYY-MM-DD or an RFC 3339 instant"))?;
    let ts = jiff::tz::TimeZone::UTC
        .to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
        .with_context(|| format!("--now {text:?}: out of range"))?;
    Ok(Timestamp::from_micros(ts.as_microsecond()))
}

/// Runs a `retention` command.
pub fn run(
    journal: &Journal,
    actor: &str,
    command: &RetentionCommand,
    out: &mut dyn Write,
) -> Result<()> {
    match command {
        RetentionCommand::Rules {
            command: RulesCommand::Set { file },
        } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            let mut schedules = Schedules::load(journal)?;
            let (version, new) = schedules
                .set(journal, actor, &text)
                .with_context(|| format!("{}", file.display()))?;
            if new {
                writeln!(out, "retention schedule version {version} is in force")?;
            } else {
                writeln!(out, "unchanged: version {version} is this text")?;
            }
        }
        RetentionCommand::Rules {
            command: RulesCommand::Show { version },
        } => {
            let schedules = Schedules::load(journal)?;
            let v = match version {
                Some(n) => schedules
                    .versions
                    .iter()
                    .find(|v| v.version == *n)
                    .with_context(|| format!("no retention schedule version {n}"))?,
                None => schedules
                    .versions
                    .last()
                    .context("no retention schedule has been loaded")?,
            };
            writeln!(
                out,
                "# version {} loaded by {} at {}",
                v.version, v.by, v.at
            )?;
            write!(out, "{}", v.text)?;
            let schedule = retention::Schedule::parse(&v.text)?;
            for r in &schedule.rules {
                writeln!(
                    out,
                    "# {}: {} ({}): {}",
                    r.name, r.period, r.preset, r.source
                )?;
            }
        }
        RetentionCommand::Preset {
            command: PresetCommand::List,
        } => {
            for p in retention::PRESETS {
                let accessible = p
                    .accessible_for
                    .map(|a| format!(", the first {a} easily accessible"))
                    .unwrap_or_default();
                let extension = p
                    .extendable_to
                    .map(|e| format!(", extendable to {e} (extended = true)"))
                    .unwrap_or_default();
                writeln!(out, "{}: {}{accessible}{extension}", p.name, p.period)?;
                writeln!(out, "  {}", p.source)?;
            }
            writeln!(
                out,
                "custom: your own `period` and `source` (e.g. period = \"10y\", source = \"board resolution\")"
            )?;
        }
        RetentionCommand::Run { dry_run, now, json } => {
            let now = match now {
                Some(text) => parse_now(text)?,
                None => Timestamp::now(),
            };
            // Holds over saved searches are evaluated, so they hold exactly
            // what their queries match.
            let holds = crate::holds::load(journal.dir(), journal)?;
            // One run at a time across a cluster (a dry run changes nothing).
            let _duty = match dry_run {
                true => None,
                false => Some(journal.try_duty("retention")?.ok_or_else(|| {
                    anyhow::anyhow!(
                        "another custos node is running retention now; run again when it has finished"
                    )
                })?),
            };
            let report = retention::run(journal, actor, now, *dry_run, &holds)?;
            if *json {
                writeln!(out, "{}", serde_json::to_string(&report)?)?;
                return Ok(());
            }
            for id in &report.resumed {
                writeln!(
                    out,
                    "finished batch {id}, which an interrupted run had started"
                )?;
            }
            print_plan(&report.plan, *dry_run, out)?;
            for seq in &report.certificates {
                writeln!(out, "certificate at entry {seq}")?;
            }
        }
        RetentionCommand::Certificates { json } => {
            let schedules = Schedules::load(journal)?;
            for (seq, c) in &schedules.certificates {
                if *json {
                    let mut v = serde_json::to_value(c)?;
                    v["seq"] = (*seq).into();
                    writeln!(out, "{}", serde_json::to_string(&v)?)?;
                    continue;
                }
                let size = |h: &serde_json::Value| h["tree_size"].as_u64().unwrap_or_default();
                writeln!(
                    out,
                    "{} (entry {seq}) at {}: {} records, {} keys; head before {} entries, after {}",
                    c.batch,
                    c.disposed_at,
                    c.records.len(),
                    c.keys.len(),
                    size(&c.head_before),
                    size(&c.head_after),
                )?;
                for (rule, source) in &c.rules {
                    writeln!(out, "  rule {rule}: {source}")?;
                }
                for (key, why) in &c.withheld {
                    writeln!(out, "  withheld key {key}: {why}")?;
                }
            }
        }
    }
    Ok(())
}

fn print_plan(plan: &Plan, dry_run: bool, out: &mut dyn Write) -> Result<()> {
    let verb = if dry_run {
        "would dispose of"
    } else {
        "disposed of"
    };
    let seqs = plan.disposed_seqs();
    writeln!(
        out,
        "as of {} (schedule version {}): {verb} {} records under {} keys",
        plan.as_of,
        plan.schedule_version,
        seqs.len(),
        plan.keys.iter().filter(|k| k.disposable).count()
    )?;
    for key in &plan.keys {
        for r in &key.records {
            let rule = r
                .governing
                .as_ref()
                .map(|g| {
                    let ties = if g.ties.is_empty() {
                        String::new()
                    } else {
                        format!(" (ties with {}; listed first)", g.ties.join(", "))
                    };
                    format!("rule {}{ties}, ends {}", g.rule, g.end)
                })
                .unwrap_or_else(|| "no rule".into());
            let what = match &r.status {
                Status::Expired => "goes".to_string(),
                Status::Held { holds } => format!("kept: held by {}", holds.join(", ")),
                Status::SharesKey => {
                    format!("kept: its key {} seals records still retained", key.key)
                }
                Status::Retained => continue,
                Status::NoRule => continue,
            };
            writeln!(
                out,
                "  entry {} {} of {}: {rule}: {what}",
                r.seq, r.kind, r.time
            )?;
        }
    }
    Ok(())
}

/// Parses `--retention-every`: a number and s, m, h or d (e.g. `24h`).
pub fn parse_every(text: &str) -> Result<Duration> {
    let text = text.trim();
    let (n, unit) = text.split_at(text.len().saturating_sub(1));
    let n: u64 = n
        .parse()
        .with_context(|| format!("--retention-every {text:?}: expected e.g. 24h, 30m, 1d"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => bail!("--retention-every {text:?}: expected a unit s, m, h or d"),
    };
    if secs == 0 {
        bail!("--retention-every {text:?}: must be longer than nothing");
    }
    Ok(Duration::from_secs(secs))
}

/// Runs retention every `every` in a thread until the returned sender is
/// dropped (the server stopping). Failures are logged and retried at the
/// next turn; an archive with no schedule is skipped quietly.
pub fn schedule(journal: Journal, every: Duration) -> mpsc::Sender<()> {
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
            // In a cluster one node runs the schedule at a time; the others
            // skip this turn. The guard is held for the whole run.
            let _duty = match journal.try_duty("retention") {
                Ok(Some(duty)) => duty,
                Ok(None) => {
                    eprintln!("retention run: another node is running it; skipped");
                    continue;
                }
                Err(e) => {
                    eprintln!("retention run: taking the duty failed: {e}");
                    continue;
                }
            };
            // Under serve the live index is the server's: a hold over a saved
            // search holds the rest of its scope (the safe side).
            let run = custos_governance::Holds::load(&journal)
                .map_err(Into::into)
                .and_then(|holds| {
                    retention::run(
                        &journal,
                        "retention-schedule",
                        Timestamp::now(),
                        false,
                        &holds,
                    )
                });
            match run {
                // The server's log is its standard error.
                Ok(report) => eprintln!(
                    "retention run: {} records disposed, {} certificates",
                    report.plan.disposed_seqs().len(),
                    report.certificates.len()
                ),
                Err(retention::RetentionError::NoSchedule) => {}
                Err(e) => eprintln!("retention run failed: {e}"),
            }
        }
    });
    stop
}
