//! Chat-export import: a synthetic Android export, parsed with
//! [`custos_capture::whatsapp_export::parse`], and imported into an archive
//! the way `custos import whatsapp-export` does it ([`import`]).

use crate::workload;
use anyhow::{Context, Result};
use custos_capture::whatsapp_export::{self, DateOrder, ExportOptions};
use custos_journal::{Journal, NewEntry};
use custos_model::{Event, Timestamp};
use std::path::Path;
use std::time::{Duration, Instant};

/// The custodian whose phone the export came from.
pub const CUSTODIAN_PHONE: &str = "+447700900001";
/// The chat's file name (the chat partner is taken from it).
pub const SOURCE_NAME: &str = "WhatsApp Chat with Ana Souza.txt";

/// An Android export (`DD/MM/YYYY, HH:MM - Author: text`) of at least
/// `lines` lines between the custodian ("Rafael Lima") and "Ana Souza":
/// ~1 message in 8 runs over 2–4 lines, ~1 in 50 is a media placeholder,
/// ~1 in 200 headers is a system line, and one in 12 days changes.
pub fn synthetic_android(lines: usize) -> String {
    let mut rng = crate::workload::Rng::new(0xe1_7031);
    let mut out = String::with_capacity(lines * 80);
    out.push_str(
        "01/03/2025, 09:00 - Messages and calls are end-to-end encrypted. No one outside of \
         this chat, not even WhatsApp, can read or listen to them. Tap to learn more.\n",
    );
    let mut written = 1;
    let (mut day, mut month, mut year, mut minute) = (1u32, 3u32, 2025u32, 9 * 60u32);
    while written < lines {
        minute += 1 + rng.below(7) as u32;
        if minute >= 24 * 60 || rng.below(150) == 0 {
            minute = 8 * 60 + rng.below(60) as u32;
            day += 1;
            if day > 28 {
                day = 1;
                month += 1;
                if month > 12 {
                    month = 1;
                    year += 1;
                }
            }
        }
        let header = format!(
            "{day:02}/{month:02}/{year}, {:02}:{:02} - ",
            minute / 60,
            minute % 60
        );
        out.push_str(&header);
        written += 1;
        if rng.below(200) == 0 {
            out.push_str("Ana Souza changed the group description\n");
            continue;
        }
        out.push_str(if rng.below(2) == 0 {
            "Rafael Lima: "
        } else {
            "Ana Souza: "
        });
        if rng.below(50) == 0 {
            out.push_str("<Media omitted>\n");
            continue;
        }
        let extra_lines = if rng.below(8) == 0 {
            1 + rng.below(3)
        } else {
            0
        };
        for l in 0..=extra_lines {
            if l > 0 {
                out.push('\n');
                written += 1;
            }
            let words = 4 + rng.below(14);
            for w in 0..words {
                if w > 0 {
                    out.push(' ');
                }
                out.push_str(workload::WORDS[rng.below(workload::WORDS.len() as u64) as usize]);
            }
        }
        out.push('\n');
    }
    out
}

/// The options the synthetic export is read with.
pub fn options() -> ExportOptions {
    ExportOptions {
        custodian_phone: CUSTODIAN_PHONE.into(),
        custodian_names: vec!["Rafael Lima".into()],
        tz: jiff::tz::TimeZone::get("America/Sao_Paulo").unwrap_or(jiff::tz::TimeZone::UTC),
        date_order: Some(DateOrder::Dmy),
        source_name: SOURCE_NAME.into(),
    }
}

/// What the import timings measured.
#[derive(Clone, Copy, Debug)]
pub struct Timings {
    /// Lines of the text.
    pub lines: u64,
    /// Bytes of the text.
    pub bytes: usize,
    /// Messages parsed.
    pub messages: usize,
    /// Lines per second of `parse` alone (best of the rounds).
    pub parse: f64,
    /// Lines per second of the whole import ([`import`]: scan, build,
    /// encrypt, append, every message durable) into a fresh archive.
    pub parse_and_append: f64,
    /// Lines per second of counting `str::lines()` of the same text.
    pub lines_count: f64,
    /// Lines per second of `wc -l` on the same text in a file (page
    /// cache), process start included; `None` when `wc` is missing.
    pub wc: Option<f64>,
}

/// Messages per batch when importing, as `custos import` makes them.
pub const IMPORT_BATCH: usize = 2_000;
/// Batches submitted and not yet durable, at most, as in `custos import`.
pub const IN_FLIGHT: usize = 4;

/// Imports `text` into `journal` the way `custos import whatsapp-export`
/// does (without media): [`whatsapp_export::scan`] checks every line first,
/// then the messages are built in batches on every core and appended with
/// [`Journal::append_batches`] (batch N+1 built, encrypted and written while
/// batch N is synced). Returns once all are durable, with how many were new.
pub fn import(journal: &Journal, text: &str, options: &ExportOptions) -> Result<usize> {
    let scanned = whatsapp_export::scan(text, options, Timestamp::now())
        .context("scanning the synthetic export")?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut stored = 0;
    journal.append_batches::<anyhow::Error, _, _>(
        scanned.len().div_ceil(IMPORT_BATCH),
        threads,
        IN_FLIGHT,
        |i| {
            let range = i * IMPORT_BATCH..((i + 1) * IMPORT_BATCH).min(scanned.len());
            Ok(range
                .map(|k| {
                    let mut message = scanned.message(k).message;
                    message.extra.insert("custodian".into(), "E100".into());
                    let subject = message.external_party().map(str::to_string);
                    NewEntry {
                        event: Event::Message(message),
                        subject,
                    }
                })
                .collect())
        },
        |_, answers| {
            stored += answers.iter().filter(|a| !a.duplicate).count();
            Ok(())
        },
    )?;
    let system: Vec<NewEntry> = scanned
        .system_events
        .iter()
        .map(|e| NewEntry {
            event: Event::System(e.clone()),
            subject: None,
        })
        .collect();
    journal.append_all(&system)?;
    Ok(stored)
}

/// Times parsing `text` (`rounds` times, best kept), one parse + append
/// into a fresh archive in `dir`, and the peers.
pub fn measure(dir: &Path, text: &str, rounds: usize) -> Result<Timings> {
    let options = options();
    let mut parse_best = Duration::MAX;
    let (mut lines, mut messages) = (0, 0);
    for _ in 0..rounds.max(1) {
        let start = Instant::now();
        let parsed = whatsapp_export::parse(text, &options, Timestamp::now())
            .context("parsing the synthetic export")?;
        parse_best = parse_best.min(start.elapsed());
        // Only the counts are kept: holding one round's result while the
        // next one parses would measure the kernel zeroing fresh pages.
        (lines, messages) = (parsed.lines, parsed.messages.len());
    }

    let archive = dir.join("export-archive");
    let journal = Journal::init(&archive, None, "custos-bench")
        .with_context(|| format!("creating an archive in {}", archive.display()))?;
    let start = Instant::now();
    let stored = import(&journal, text, &options)?;
    let append_elapsed = start.elapsed();
    anyhow::ensure!(
        stored == messages,
        "{} of {messages} messages were taken for duplicates",
        messages - stored,
    );
    journal.close()?;
    std::fs::remove_dir_all(&archive).ok();

    let mut count_best = Duration::MAX;
    for _ in 0..rounds.max(1) {
        let start = Instant::now();
        let n = std::hint::black_box(text).lines().count();
        count_best = count_best.min(start.elapsed());
        anyhow::ensure!(n as u64 >= lines, "str::lines() counted {n} lines");
    }

    let file = dir.join("export.txt");
    std::fs::write(&file, text)?;
    let mut wc = None;
    for _ in 0..rounds.max(1) {
        let start = Instant::now();
        let Ok(out) = std::process::Command::new("wc")
            .arg("-l")
            .arg(&file)
            .output()
        else {
            break;
        };
        let elapsed = start.elapsed();
        if !out.status.success() {
            break;
        }
        wc = Some(wc.unwrap_or(Duration::MAX).min(elapsed));
    }
    std::fs::remove_file(&file).ok();

    let per_s = |d: Duration| lines as f64 / d.as_secs_f64().max(1e-9);
    Ok(Timings {
        lines,
        bytes: text.len(),
        messages,
        parse: per_s(parse_best),
        parse_and_append: per_s(append_elapsed),
        lines_count: per_s(count_best),
        wc: wc.map(per_s),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The import of a large synthetic export, timed (run with
    /// `--ignored --nocapture` in a release build to profile it).
    #[test]
    #[ignore]
    fn large_import_timing() {
        let lines: usize = std::env::var("EXPORT_LINES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        let text = synthetic_android(lines);
        let options = options();
        let start = Instant::now();
        let scanned = whatsapp_export::scan(&text, &options, Timestamp::now()).unwrap();
        let scan = start.elapsed();
        let start = Instant::now();
        let n = (0..scanned.len())
            .map(|k| scanned.message(k).line)
            .filter(|&line| line > 0)
            .count();
        let build = start.elapsed();
        drop(scanned);
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::init(dir.path(), None, "t").unwrap();
        let start = Instant::now();
        let stored = import(&journal, &text, &options).unwrap();
        let total = start.elapsed();
        eprintln!(
            "{lines} lines, {n} messages: scan {:.2} s, build all (1 thread) {:.2} s, import {:.2} s = {:.0} lines/s ({stored} stored)",
            scan.as_secs_f64(),
            build.as_secs_f64(),
            total.as_secs_f64(),
            lines as f64 / total.as_secs_f64()
        );
    }
}
