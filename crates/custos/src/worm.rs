//! `custos worm` and `verify --worm`: the WORM copy on S3-compatible
//! storage with Object Lock (custos-worm), wired to the `[worm]` settings;
//! and the loop `serve --worm` runs.

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use custos_governance::retention::Period;
use custos_journal::Journal;
use custos_worm::{StoreConfig, WormStore};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// `custos worm ...`
#[derive(Subcommand, Debug)]
pub enum WormCommand {
    /// Upload the sealed segments, blobs and heads the bucket does not hold
    /// yet, each under Object Lock (compliance mode) until its records'
    /// retention ends; one `worm.uploaded` journal event per object.
    Sync {
        /// TOML configuration file with a `[worm]` section (each value also
        /// from CUSTOS_S3_*).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create the configured bucket with Object Lock enabled (stores that
    /// allow it; otherwise create it with your provider's tools).
    CreateBucket {
        /// TOML configuration file with a `[worm]` section.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// The WORM settings: the store, the default retention, the sync period.
pub struct Settings {
    /// The bucket.
    pub store: WormStore,
    /// Retention of records no rule governs.
    pub default_retention: Period,
    /// How often `serve --worm` syncs.
    pub every: Duration,
}

/// Reads `[worm]` from the configuration file and `CUSTOS_S3_*`.
pub fn settings(config: Option<&Path>) -> Result<Settings> {
    let config = custos_server::Config::load(config, |name| std::env::var(name).ok())?;
    from_config(config.worm)
}

/// The WORM settings from a loaded `[worm]` section.
pub fn from_config(w: custos_server::WormConfig) -> Result<Settings> {
    if w.bucket.is_empty() {
        bail!("worm.bucket: no bucket is configured ([worm] bucket or CUSTOS_S3_BUCKET)");
    }
    let default_retention = if w.default_retention.is_empty() {
        Period::years(7)
    } else {
        Period::parse(&w.default_retention)
            .map_err(|e| anyhow::anyhow!("worm.default_retention: {e}"))?
    };
    let store = WormStore::new(StoreConfig {
        bucket: w.bucket,
        prefix: w.prefix,
        endpoint: (!w.endpoint.is_empty()).then_some(w.endpoint),
        region: w.region,
        access_key_id: w.access_key_id.expose().to_string(),
        secret_access_key: w.secret_access_key.expose().to_string(),
    })?;
    Ok(Settings {
        store,
        default_retention,
        every: Duration::from_secs(w.sync_every.unwrap_or(60).max(1)),
    })
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Runs a `custos worm` command.
pub fn run(
    journal: &Journal,
    actor: &str,
    command: &WormCommand,
    out: &mut impl Write,
) -> Result<()> {
    match command {
        WormCommand::Sync { config, json } => {
            let s = settings(config.as_deref())?;
            let report = runtime()?
                .block_on(custos_worm::sync(
                    journal,
                    &s.store,
                    s.default_retention,
                    actor,
                ))
                .context("worm sync")?;
            if *json {
                writeln!(out, "{}", serde_json::to_string(&report)?)?;
            } else {
                print_sync(&report, out)?;
            }
        }
        WormCommand::CreateBucket { config } => {
            let s = settings(config.as_deref())?;
            runtime()?.block_on(s.store.create_bucket())?;
            writeln!(
                out,
                "bucket {} ready, Object Lock enabled",
                s.store.config().bucket
            )?;
        }
    }
    Ok(())
}

/// The text report of `custos worm sync`: a line per object uploaded,
/// adopted, whose legal hold changed or whose lock was extended, then the
/// counts.
fn print_sync(report: &custos_worm::SyncReport, out: &mut impl Write) -> Result<()> {
    use custos_worm::retain_until_text;
    for copy in report.uploaded.iter().chain(&report.adopted) {
        writeln!(
            out,
            "{} version {} sha256 {} locked until {}{}",
            copy.object,
            copy.version_id,
            copy.sha256,
            retain_until_text(copy.retain_until),
            if copy.legal_hold { " (legal hold)" } else { "" }
        )?;
    }
    for (object, on) in &report.legal_holds {
        writeln!(
            out,
            "{object} legal hold {}",
            if *on { "on" } else { "off" }
        )?;
    }
    for e in &report.extended {
        writeln!(
            out,
            "{} version {} lock extended from {} to {}",
            e.object,
            e.version_id,
            retain_until_text(e.previous_retain_until),
            retain_until_text(e.retain_until)
        )?;
    }
    writeln!(
        out,
        "worm sync: {} uploaded, {} found already in the bucket, {} uploaded before, {} legal hold(s) changed, {} lock(s) extended",
        report.uploaded.len(),
        report.adopted.len(),
        report.already,
        report.legal_holds.len(),
        report.extended.len()
    )?;
    if let Some(n) = report.kept_longer.filter(|n| *n > 0) {
        writeln!(
            out,
            "worm sync: {n} object(s) keep a longer lock than the retention schedule now gives (a compliance lock is never shortened)"
        )?;
    }
    Ok(())
}

/// `verify --worm`: checks the WORM copy and prints each failing object;
/// whether everything checked.
pub fn verify(
    journal: &Journal,
    config: Option<&Path>,
    public_key: Option<[u8; 32]>,
    json: bool,
    out: &mut impl Write,
) -> Result<bool> {
    let s = settings(config)?;
    let report = runtime()?
        .block_on(custos_worm::check(journal, &s.store, public_key))
        .context("checking the WORM copy")?;
    if json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        for f in &report.failures {
            writeln!(out, "worm FAILED: {}: {}", f.object, f.problem)?;
        }
        writeln!(
            out,
            "worm copy: {} object(s) checked ({} segment(s), {} blob(s), {} heads snapshot(s)); the bucket's segments verify on their own: {} entries, {} signed head(s); {} sealed segment(s) not yet uploaded",
            report.objects,
            report.segments,
            report.blobs,
            report.heads,
            report.bucket_entries,
            report.bucket_heads,
            report.pending_segments
        )?;
    }
    Ok(report.failures.is_empty())
}

/// The sync loop of `serve --worm`; dropping it stops the loop and waits
/// for a sync in progress to finish.
pub struct Running {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Syncs at once and then every `settings.every` in a thread until the
/// returned [`Running`] is dropped (the server stopping). Failures are
/// logged and retried at the next turn.
pub fn schedule(journal: Journal, settings: Settings) -> Result<Running> {
    let (stop, stopped) = mpsc::channel::<()>();
    let rt = runtime()?;
    let thread = std::thread::Builder::new()
        .name("custos-worm-sync".into())
        .spawn(move || {
            // Kept between turns: each reads only the entries since the last.
            let mut progress = custos_worm::Progress::default();
            loop {
                // In a cluster one node syncs at a time (the others skip
                // their turn); the guard is held for the turn.
                let duty = journal.try_duty("worm").unwrap_or_else(|e| {
                    eprintln!("worm sync: taking the duty failed: {e}");
                    None
                });
                if let Some(_held) = duty {
                    let turn = rt.block_on(custos_worm::sync_from(
                        &journal,
                        &settings.store,
                        settings.default_retention,
                        "worm-sync",
                        &mut progress,
                    ));
                    match turn {
                        // The server's log is its standard error.
                        Ok(r)
                            if r.uploaded.is_empty()
                                && r.adopted.is_empty()
                                && r.legal_holds.is_empty()
                                && r.extended.is_empty() => {}
                        Ok(r) => eprintln!(
                            "worm sync: {} uploaded, {} found already in the bucket, {} legal hold(s) changed, {} lock(s) extended",
                            r.uploaded.len(),
                            r.adopted.len(),
                            r.legal_holds.len(),
                            r.extended.len()
                        ),
                        Err(e) => eprintln!("worm sync failed: {e}"),
                    }
                }
                if let Err(mpsc::RecvTimeoutError::Disconnected) | Ok(()) =
                    stopped.recv_timeout(settings.every)
                {
                    return;
                }
            }
        })
        .context("starting the worm sync thread")?;
    Ok(Running {
        stop: Some(stop),
        thread: Some(thread),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_model::Timestamp;

    #[test]
    fn the_sync_report_prints_extensions_and_locks_kept_longer() {
        let at = |t: &str| Timestamp::parse(t).unwrap();
        let report = custos_worm::SyncReport {
            already: 3,
            extended: vec![custos_worm::Extension {
                object: "segments/00000000000000000000.seg".into(),
                version_id: "v1".into(),
                previous_retain_until: at("2028-03-12T14:05:33Z"),
                retain_until: at("2038-03-12T14:05:33Z"),
            }],
            kept_longer: Some(2),
            ..Default::default()
        };
        let mut out = Vec::new();
        print_sync(&report, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("segments/00000000000000000000.seg version v1 lock extended from 2028-03-12T14:05:33Z to 2038-03-12T14:05:33Z"),
            "{text}"
        );
        assert!(text.contains("3 uploaded before"), "{text}");
        assert!(text.contains("1 lock(s) extended"), "{text}");
        assert!(text.contains("2 object(s) keep a longer lock"), "{text}");

        let quiet = custos_worm::SyncReport {
            kept_longer: Some(0),
            ..Default::default()
        };
        let mut out = Vec::new();
        print_sync(&quiet, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("0 lock(s) extended"), "{text}");
        assert!(!text.contains("longer lock"), "{text}");
    }
}
