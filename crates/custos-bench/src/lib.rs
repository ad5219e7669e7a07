//! `custos bench`: measures the archive's speed against peers run on the
//! same input in the same run (see DESIGN.md, "Speed we hold ourselves to").
//!
//! - **Durable ingest**: WhatsApp-like messages (~200 characters of text,
//!   ~390 encoded bytes, 1,000 customers as subjects) appended one
//!   [`Journal::append`](custos_journal::Journal::append) each from 1, 8 and
//!   64 threads; every acknowledged message is fsync-covered (group commit).
//!   Peer: SQLite in WAL mode with `synchronous=FULL` (so each commit is
//!   durable too) storing the same records from one connection, as many
//!   rows per commit as custos has writers (1 writer: one row per commit),
//!   and in 1,000-row transactions, SQLite's best case.
//! - **Verify**: [`custos_journal::verify`] over a freshly built archive
//!   (256 MiB of segments, written with `append_all` batches), against
//!   SHA-256 of the same files' bytes with `sha2` on one thread, and the
//!   `sha256sum` and `openssl dgst -sha256` commands when present. All of
//!   them read the files from the page cache on the clock.
//! - **Webhook ingest over HTTP**: `custos serve` runs as a child process
//!   (the `custos` binary, [`BenchOptions::custos_exe`]) on a fresh archive;
//!   this process is the load generator, posting signed Cloud API
//!   deliveries over as many keep-alive connections as the largest writer
//!   count, each sending its next delivery once the last was answered. The
//!   figure is messages answered 200 per second (each 200 means the raw
//!   body blob and every event are durable), with 1 message per delivery
//!   and with [`BATCH`] per delivery. Peer: direct `append_async` into an
//!   archive from as many async tasks, in the same run. Skipped (with a
//!   note) when no custos binary is at hand, e.g. in this crate's tests.
//! - **Chat-export import**: a synthetic Android export (1,000,000 lines,
//!   multi-line messages, media placeholders and system lines) parsed with
//!   `whatsapp_export::parse`, and imported into a fresh archive as `custos
//!   import` does it ([`export::import`]: every line checked first, then
//!   batches built and encrypted on every core and appended pipelined, all
//!   durable at the end), in lines per second. Peers:
//!   `wc -l` on the same text in a file and counting `str::lines()` of it.
//! - **Policy scan**: 10,000 lexicon terms and 200 regexes as 50 policies
//!   compiled into one engine, evaluated message by message over a
//!   synthetic English/Portuguese/Spanish corpus (~100 MB; 3 MB with
//!   `quick`), in MB/s and messages/s, folding included. Peers:
//!   `rg -F -i -f terms.txt corpus.txt --count` over the same text (its
//!   first 4 MB: it runs at well under 1 MB/s), and `rg -F -f` without
//!   `-i` over all of it (see [`scan`]).
//! - **Peak memory** of the process (VmHWM), before the export import
//!   (which holds the whole parsed export in memory) and after it.
//!
//! With `CUSTOS_BENCH_ONLY=export` in the environment ([`ONLY_ENV`]) only
//! the chat-export figures and the peak memory are measured.
//!
//! ```no_run
//! let figures = custos_bench::run(&Default::default(), &mut |line| eprintln!("{line}"))?;
//! print!("{}", custos_bench::render_table(&figures));
//! # anyhow::Ok(())
//! ```

pub mod cluster;
pub mod export;
mod ingest;
pub mod load;
pub mod rsmf_export;
pub mod scan;
pub mod search;
mod verify;
pub mod webhook;
pub mod workload;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What to measure, and where.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Where to put the archives and databases (in a temporary directory
    /// made inside it and removed at the end); `None`: the current
    /// directory, so the disk measured is the one custos would use.
    pub dir: Option<PathBuf>,
    /// Messages offered to each ingest run (custos per writer count, SQLite
    /// per batch size). A run also stops after [`RUN_LIMIT`].
    pub messages: usize,
    /// The writer-thread counts to measure custos with.
    pub writers: Vec<usize>,
    /// Tiny sizes, for a smoke test that finishes in seconds.
    pub quick: bool,
    /// The `custos` binary to run `serve` from for the webhook figures;
    /// `None`: the current executable if it is `custos`, else the figures
    /// are skipped.
    pub custos_exe: Option<PathBuf>,
    /// Messages in the journal the search and RSMF-export figures use
    /// ([`search::DOCS`] by default; [`search::QUICK_DOCS`] at most with
    /// `quick`). [`search::DOCS_ENV`] in the environment overrides it.
    pub search_docs: usize,
    /// Measure only this group (in this process, so the peak memory beside
    /// its figures is its own); `None`: every group, unless [`ONLY_ENV`]
    /// names one.
    pub only: Option<Group>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            dir: None,
            messages: 50_000,
            writers: vec![1, 8, 64],
            quick: false,
            custos_exe: None,
            search_docs: search::DOCS,
            only: None,
        }
    }
}

/// The longest one ingest run may take: a run that has not stored all its
/// messages by then stops and reports the rate so far (one fsync per
/// message, as with one writer, may cap the rate at a few hundred per
/// second on a slow disk).
pub const RUN_LIMIT: Duration = Duration::from_secs(10);
/// [`RUN_LIMIT`] with `quick`.
const QUICK_RUN_LIMIT: Duration = Duration::from_secs(2);
/// Messages per ingest run with `quick`, at most.
const QUICK_MESSAGES: usize = 200;
/// Segment bytes of the archive verification is measured on.
const VERIFY_BYTES: u64 = 256 << 20;
/// The same with `quick`.
const QUICK_VERIFY_BYTES: u64 = 1 << 20;
/// Rows per transaction of SQLite's best case.
const SQLITE_BEST_BATCH: usize = 1_000;
/// Messages per delivery of the realistic webhook batch.
pub const BATCH: usize = 10;
/// The most connections of the webhook load with `quick`.
const QUICK_CONNECTIONS: usize = 8;
/// The environment variable that, set to a [`Group`]'s name (`ingest`,
/// `webhook`, `import`, `scan`, `verify`, `search`, `export-rsmf`), makes
/// [`run`] measure only that group, as [`BenchOptions::only`] does.
pub const ONLY_ENV: &str = "CUSTOS_BENCH_ONLY";
/// Lines of the synthetic chat export.
const EXPORT_LINES: usize = 1_000_000;
/// The same with `quick`.
const QUICK_EXPORT_LINES: usize = 20_000;

/// One measured figure, with the peer it is set against.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// What was measured.
    pub name: String,
    /// The measurement.
    pub value: f64,
    /// Its unit; a rate (`.../s`) is better higher, anything else lower.
    pub unit: String,
    /// The peer's name and its measurement in the same unit, in the same run.
    pub peer: Option<(String, f64)>,
    /// The peak resident memory (VmHWM, MiB) of the process that measured
    /// it, when that process measured only its group ([`BenchOptions::only`])
    /// or, for the webhook figures, of the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_mib: Option<f64>,
}

impl Figure {
    /// Whether a higher value is better: rates are, sizes are not.
    pub fn higher_is_better(&self) -> bool {
        self.unit.ends_with("/s")
    }

    /// `value / peer`, if there is a peer.
    pub fn ratio(&self) -> Option<f64> {
        self.peer.as_ref().map(|(_, p)| self.value / p)
    }
}

fn rate_figure(name: String, value: f64, unit: &str, peer: Option<(String, f64)>) -> Figure {
    Figure {
        name,
        value,
        unit: unit.into(),
        peer,
        peak_mib: None,
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn sqlite_label(batch: usize) -> String {
    format!("SQLite WAL, {}/commit", plural(batch, "row", "rows"))
}

/// Runs every benchmark and returns the figures, telling `progress` what
/// it is doing and what each step measured.
/// A group of figures measured together. `scripts/bench` runs each in its
/// own process (`custos bench --only GROUP --json`), so the peak memory
/// beside a figure is that group's alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// Durable appends from 1, 8 and 64 writers, vs SQLite WAL.
    Ingest,
    /// Webhook deliveries over HTTP to `custos serve`, vs `append_async`.
    Webhook,
    /// The chat-export parse and import, vs `wc -l`.
    Import,
    /// The policy scan, vs `rg -F -i -f`.
    Scan,
    /// `verify`, vs SHA-256 of the same bytes.
    Verify,
    /// Search latency and index build, vs SQLite FTS5.
    Search,
    /// RSMF export, vs `sqlite3 .dump | zstd`.
    ExportRsmf,
    /// Durable appends through two cluster nodes on one PostgreSQL, vs the
    /// embedded journal (skipped without a database: [`cluster::PG_ENV`]).
    Cluster,
}

impl Group {
    /// Every group, in the order a full run measures them.
    pub const ALL: [Group; 8] = [
        Group::Ingest,
        Group::Webhook,
        Group::Import,
        Group::Scan,
        Group::Verify,
        Group::Search,
        Group::ExportRsmf,
        Group::Cluster,
    ];

    /// The group's name, as `--only` and [`ONLY_ENV`] take it.
    pub fn name(self) -> &'static str {
        match self {
            Group::Ingest => "ingest",
            Group::Webhook => "webhook",
            Group::Import => "import",
            Group::Scan => "scan",
            Group::Verify => "verify",
            Group::Search => "search",
            Group::ExportRsmf => "export-rsmf",
            Group::Cluster => "cluster",
        }
    }

    /// The group named `name` (`export` is kept as an older name of
    /// `import`).
    pub fn parse(name: &str) -> Result<Group> {
        let name = name.trim();
        if name == "export" {
            return Ok(Group::Import);
        }
        Group::ALL
            .into_iter()
            .find(|g| g.name() == name)
            .with_context(|| {
                let known: Vec<&str> = Group::ALL.iter().map(|g| g.name()).collect();
                format!(
                    "unknown benchmark group {name:?}: expected one of {}",
                    known.join(", ")
                )
            })
    }
}

/// What every group needs: sizes, limits and where to work.
struct Ctx<'a> {
    work: &'a std::path::Path,
    options: &'a BenchOptions,
    messages: usize,
    limit: Duration,
    verify_bytes: u64,
    rounds: usize,
    writers: Vec<usize>,
}

impl Ctx<'_> {
    /// The most writers measured (the webhook's connections follow it).
    fn most_writers(&self) -> usize {
        *self
            .writers
            .iter()
            .max()
            .expect("at least one writer count")
    }

    fn records(&self, progress: &mut dyn FnMut(&str)) -> Vec<workload::Record> {
        let records: Vec<workload::Record> =
            (0..self.messages as u64).map(workload::record).collect();
        let mean = records
            .iter()
            .map(|r| r.event.encode().len())
            .sum::<usize>()
            / records.len();
        progress(&format!(
            "{} WhatsApp-like messages ready, {mean} encoded bytes on average",
            records.len()
        ));
        records
    }
}

/// Runs every benchmark (or only [`BenchOptions::only`], or the group
/// named by [`ONLY_ENV`]) and returns the figures, telling `progress` what
/// it is doing and what each step measured.
pub fn run(options: &BenchOptions, progress: &mut dyn FnMut(&str)) -> Result<Vec<Figure>> {
    let began = Instant::now();
    let (messages, limit, verify_bytes, rounds) = if options.quick {
        (
            options.messages.clamp(1, QUICK_MESSAGES),
            QUICK_RUN_LIMIT,
            QUICK_VERIFY_BYTES,
            1,
        )
    } else {
        (options.messages.max(1), RUN_LIMIT, VERIFY_BYTES, 3)
    };
    let mut writers = options.writers.clone();
    writers.retain(|&w| w > 0);
    anyhow::ensure!(!writers.is_empty(), "no writer count to measure");
    let only = match options.only {
        Some(g) => Some(g),
        None => match std::env::var(ONLY_ENV) {
            Ok(v) if !v.trim().is_empty() => {
                Some(Group::parse(&v).with_context(|| format!("{ONLY_ENV}={v:?}"))?)
            }
            _ => None,
        },
    };
    let parent = match &options.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| d.display().to_string())?;
            d.clone()
        }
        None => std::env::current_dir().context("finding the current directory")?,
    };
    let work = tempfile::Builder::new()
        .prefix(".custos-bench-")
        .tempdir_in(&parent)
        .with_context(|| format!("making a temporary directory in {}", parent.display()))?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    progress(&format!(
        "working in {} on {} ({} per ingest run, at most {} s each)",
        work.path().display(),
        plural(cores, "core", "cores"),
        plural(messages, "message", "messages"),
        limit.as_secs()
    ));
    let ctx = Ctx {
        work: work.path(),
        options,
        messages,
        limit,
        verify_bytes,
        rounds,
        writers,
    };

    if let Some(group) = only {
        progress(&format!("only the {} figures", group.name()));
        let mut figures = Vec::new();
        match group {
            Group::Ingest => {
                let records = ctx.records(progress);
                ingest_figures(&ctx, &records, progress, &mut figures)?;
            }
            Group::Webhook => {
                let records = ctx.records(progress);
                webhook_figures(&ctx, &records, &[], progress, &mut figures)?;
            }
            Group::Import => {
                export_figures(ctx.work, options.quick, rounds, progress, &mut figures)?;
            }
            Group::Scan => scan_figures(&ctx, progress, &mut figures)?,
            Group::Verify => verify_figures(&ctx, progress, &mut figures)?,
            Group::Search => {
                search_figures(ctx.work, options, true, false, progress, &mut figures)?
            }
            Group::ExportRsmf => {
                search_figures(ctx.work, options, false, true, progress, &mut figures)?
            }
            Group::Cluster => {
                let records = ctx.records(progress);
                cluster_figures(&ctx, &records, progress, &mut figures)?;
            }
        }
        drop(ctx);
        drop(work);
        // This process measured one group: its peak is the group's (the
        // webhook figures carry the server's own).
        let peak = peak_memory_kib().map(|kib| kib as f64 / 1024.0);
        for f in &mut figures {
            if f.peak_mib.is_none() {
                f.peak_mib = peak;
            }
        }
        progress(&format!("done in {:.1} s", began.elapsed().as_secs_f64()));
        return Ok(figures);
    }

    let mut figures = Vec::new();
    let records = ctx.records(progress);
    let async_rates = ingest_figures(&ctx, &records, progress, &mut figures)?;
    webhook_figures(&ctx, &records, &async_rates, progress, &mut figures)?;
    cluster_figures(&ctx, &records, progress, &mut figures)?;
    drop(records);
    let peak_before_export = peak_memory_kib();
    let export_lines = export_figures(ctx.work, options.quick, rounds, progress, &mut figures)?;
    scan_figures(&ctx, progress, &mut figures)?;
    verify_figures(&ctx, progress, &mut figures)?;
    // Read before the search figures, whose journal, index and export
    // requests are larger than the chat-export import.
    let peak_after_export = peak_memory_kib();
    search_figures(ctx.work, options, true, true, progress, &mut figures)?;
    drop(ctx);
    drop(work);

    if let Some(kib) = peak_before_export {
        figures.push(memory_figure("peak memory (VmHWM)".into(), kib));
    }
    if let Some(kib) = peak_after_export {
        figures.push(memory_figure(
            format!(
                "peak memory with the {}-line export import",
                human(export_lines as f64)
            ),
            kib,
        ));
    }
    if let Some(kib) = peak_memory_kib() {
        figures.push(memory_figure(
            "peak memory with search and RSMF export".into(),
            kib,
        ));
    }
    progress(&format!("done in {:.1} s", began.elapsed().as_secs_f64()));
    Ok(figures)
}

fn memory_figure(name: String, kib: u64) -> Figure {
    Figure {
        name,
        value: kib as f64 / 1024.0,
        unit: "MiB".into(),
        peer: None,
        peak_mib: None,
    }
}

fn describe(who: &str, run: &ingest::Run) -> String {
    format!(
        "{who}: {} in {:.2} s = {:.0}/s, {:.1} per fsync{}",
        plural(run.stored, "message", "messages"),
        run.elapsed.as_secs_f64(),
        run.rate(),
        run.per_fsync,
        if run.capped {
            " (stopped at the time limit)"
        } else {
            ""
        }
    )
}

fn mb(rate: f64) -> f64 {
    rate / 1e6
}

/// Durable appends from each writer count beside SQLite; returns the
/// async rates measured (writer count, messages/s), the webhook's peer.
fn ingest_figures(
    ctx: &Ctx,
    records: &[workload::Record],
    progress: &mut dyn FnMut(&str),
    figures: &mut Vec<Figure>,
) -> Result<Vec<(usize, f64)>> {
    let (work, limit) = (ctx.work, ctx.limit);
    let mut custos_rates = Vec::new();
    let mut async_rates = Vec::new();
    for &w in &ctx.writers {
        let dir = work.join(format!("custos-{w}"));
        let run = ingest::custos(&dir, records, w, limit)?;
        let who = format!("custos, {}", plural(w, "writer", "writers"));
        progress(&describe(&who, &run));
        std::fs::remove_dir_all(&dir).ok();

        let db = work.join(format!("sqlite-{w}.db"));
        let peer = ingest::sqlite(&db, records, w, limit)?;
        progress(&describe(&sqlite_label(w), &peer));
        custos_rates.push((w, run.rate()));
        figures.push(rate_figure(
            format!("durable appends, {}", plural(w, "writer", "writers")),
            run.rate(),
            "messages/s",
            Some((sqlite_label(w), peer.rate())),
        ));
        if w > 1 {
            let dir = work.join(format!("custos-async-{w}"));
            let run = ingest::custos_async(&dir, records, w, limit)?;
            let who = format!("custos, {w} async tasks");
            progress(&describe(&who, &run));
            std::fs::remove_dir_all(&dir).ok();
            async_rates.push((w, run.rate()));
            figures.push(rate_figure(
                format!("durable appends, {w} async tasks"),
                run.rate(),
                "messages/s",
                Some((sqlite_label(w), peer.rate())),
            ));
        }
    }
    let db = work.join(format!("sqlite-{SQLITE_BEST_BATCH}.db"));
    let best = ingest::sqlite(&db, records, SQLITE_BEST_BATCH, limit)?;
    progress(&describe(&sqlite_label(SQLITE_BEST_BATCH), &best));
    let (most, most_rate) = *custos_rates
        .iter()
        .max_by_key(|(w, _)| *w)
        .expect("at least one writer count");
    figures.push(rate_figure(
        format!(
            "durable appends, {} vs SQLite's best case",
            plural(most, "writer", "writers")
        ),
        most_rate,
        "messages/s",
        Some((sqlite_label(SQLITE_BEST_BATCH), best.rate())),
    ));
    for entry in std::fs::read_dir(work)? {
        let path = entry?.path();
        if path.is_file() {
            std::fs::remove_file(&path).ok();
        }
    }
    Ok(async_rates)
}

/// Webhook deliveries over HTTP to `custos serve` (a child process),
/// beside `append_async` from as many tasks (taken from `async_rates` if
/// measured already). Each figure's peak memory is the server's.
fn webhook_figures(
    ctx: &Ctx,
    records: &[workload::Record],
    async_rates: &[(usize, f64)],
    progress: &mut dyn FnMut(&str),
    figures: &mut Vec<Figure>,
) -> Result<()> {
    let (work, limit, messages) = (ctx.work, ctx.limit, ctx.messages);
    let most = ctx.most_writers();
    let connections = if ctx.options.quick {
        most.min(QUICK_CONNECTIONS)
    } else {
        most
    };
    let exe = ctx.options.custos_exe.clone().or_else(|| {
        std::env::current_exe()
            .ok()
            .filter(|e| webhook::is_custos_binary(e))
    });
    let Some(exe) = exe else {
        progress("webhook over HTTP: skipped, no custos binary to serve from (run `custos bench`)");
        return Ok(());
    };
    let peer = match async_rates.iter().find(|(w, _)| *w == connections) {
        Some(&(_, rate)) => rate,
        None => {
            let dir = work.join("custos-async-peer");
            let run = ingest::custos_async(&dir, records, connections, limit)?;
            progress(&describe(
                &format!("custos, {connections} async tasks"),
                &run,
            ));
            std::fs::remove_dir_all(&dir).ok();
            run.rate()
        }
    };
    for per in [1, BATCH] {
        let (load, server_peak) = webhook_run(work, &exe, messages, per, connections, limit)?;
        progress(&format!(
            "webhook over HTTP, {} per delivery, {connections} connections: {} in {} \
             deliveries in {:.2} s = {:.0} messages/s{}",
            plural(per, "message", "messages"),
            plural(load.messages, "message", "messages"),
            load.deliveries,
            load.elapsed.as_secs_f64(),
            load.rate(),
            if load.capped {
                " (stopped at the time limit)"
            } else {
                ""
            }
        ));
        let mut figure = rate_figure(
            format!(
                "webhook over HTTP, {}/delivery, {connections} connections",
                plural(per, "message", "messages")
            ),
            load.rate(),
            "messages/s",
            Some((format!("append_async, {connections} tasks"), peer)),
        );
        figure.peak_mib = server_peak.map(|kib| kib as f64 / 1024.0);
        figures.push(figure);
    }
    Ok(())
}

/// Durable appends through two cluster nodes on one PostgreSQL beside the
/// embedded journal with as many writers, in this run.
fn cluster_figures(
    ctx: &Ctx,
    records: &[workload::Record],
    progress: &mut dyn FnMut(&str),
    figures: &mut Vec<Figure>,
) -> Result<()> {
    let Some(base) = cluster::database_url() else {
        progress(&format!(
            "cluster: skipped, no PostgreSQL (set {} to postgres://..., or run scripts/pg-start)",
            cluster::PG_ENV
        ));
        return Ok(());
    };
    for &w in &ctx.writers {
        let per_node = w.div_ceil(2).max(1);
        let dir = ctx.work.join(format!("cluster-{w}"));
        let run = cluster::two_nodes(&base, &dir, records, per_node, ctx.limit)?;
        progress(&format!(
            "2 cluster nodes on one PostgreSQL, {} each: {} in {:.2} s = {:.0}/s{}",
            plural(per_node, "writer", "writers"),
            plural(run.stored, "message", "messages"),
            run.elapsed.as_secs_f64(),
            run.rate(),
            if run.capped {
                " (stopped at the time limit)"
            } else {
                ""
            }
        ));
        std::fs::remove_dir_all(&dir).ok();
        let dir = ctx.work.join(format!("embedded-{w}"));
        let peer = ingest::custos(&dir, records, 2 * per_node, ctx.limit)?;
        let peer_label = format!(
            "embedded journal, {}",
            plural(2 * per_node, "writer", "writers")
        );
        progress(&describe(&peer_label, &peer));
        std::fs::remove_dir_all(&dir).ok();
        figures.push(rate_figure(
            format!(
                "durable appends, 2 nodes on PostgreSQL, {}",
                plural(2 * per_node, "writer", "writers")
            ),
            run.rate(),
            "messages/s",
            Some((peer_label, peer.rate())),
        ));
    }

    // Search with two nodes: the search group's corpus size up to a
    // million (or CUSTOS_BENCH_CLUSTER_DOCS), searched on the node that
    // followed.
    let mut docs = ctx.options.search_docs;
    for (name, at_most) in [
        (search::DOCS_ENV, search::DOCS),
        (cluster::DOCS_ENV, usize::MAX),
    ] {
        if let Ok(v) = std::env::var(name) {
            let n: usize = v
                .trim()
                .replace([',', '_'], "")
                .parse()
                .with_context(|| format!("{name}={v:?}: expected a number of messages"))?;
            docs = n.min(at_most);
        }
    }
    if ctx.options.quick {
        docs = docs.min(search::QUICK_DOCS);
    }
    let runs = if ctx.options.quick { 3 } else { search::RUNS };
    let dir = ctx.work.join("cluster-search");
    let run = cluster::search_two_nodes(&base, &dir, docs.max(1), runs, progress)?;
    std::fs::remove_dir_all(&dir).ok();
    let n = human(run.messages as f64);
    let ms = |v: &[f64], p: f64| search::percentile(v, p);
    progress(&format!(
        "search on node b, {n} messages: p50 {:.2} / p95 {:.2} / p99 {:.2} ms; embedded p50 {:.2} / p95 {:.2} / p99 {:.2} ms",
        ms(&run.millis, 50.0),
        ms(&run.millis, 95.0),
        ms(&run.millis, 99.0),
        ms(&run.peer_millis, 50.0),
        ms(&run.peer_millis, 95.0),
        ms(&run.peer_millis, 99.0),
    ));
    progress(&format!(
        "acknowledged on node a -> found on node b: p50 {:.0} / p95 {:.0} / max {:.0} ms; embedded (same node) p50 {:.1} / p95 {:.1} ms",
        ms(&run.lag, 50.0),
        ms(&run.lag, 95.0),
        ms(&run.lag, 100.0),
        ms(&run.peer_lag, 50.0),
        ms(&run.peer_lag, 95.0),
    ));
    figures.push(rate_figure(
        format!("search index on node b (following the cluster), {n} messages"),
        run.index_rate,
        "messages/s",
        Some(("embedded archive's index".into(), run.peer_index_rate)),
    ));
    for p in [50.0, 95.0, 99.0] {
        figures.push(rate_figure(
            format!(
                "search p{p:.0} on node b, 2 nodes, {n} messages, top {}",
                search::PAGE
            ),
            ms(&run.millis, p),
            "ms",
            Some((
                "embedded archive (same queries)".into(),
                ms(&run.peer_millis, p),
            )),
        ));
    }
    for p in [50.0, 95.0] {
        figures.push(rate_figure(
            format!("acknowledged on node a to searchable on node b, p{p:.0}"),
            ms(&run.lag, p),
            "ms",
            Some(("embedded, same node".into(), ms(&run.peer_lag, p))),
        ));
    }
    Ok(())
}

/// The policy scan beside ripgrep.
fn scan_figures(
    ctx: &Ctx,
    progress: &mut dyn FnMut(&str),
    figures: &mut Vec<Figure>,
) -> Result<()> {
    let s = scan::measure(ctx.work, ctx.options.quick, ctx.rounds)?;
    progress(&format!(
        "policy scan: {} terms ({} automaton patterns) + {} regexes in {} policies, compiled \
         in {:.2} s; {} messages, {:.1} MB: {:.0} MB/s, {:.0} messages/s, {} matches in {} \
         messages; {}",
        scan::TERMS,
        s.patterns,
        scan::REGEXES,
        scan::POLICIES,
        s.compile_secs,
        s.messages,
        mb(s.bytes as f64),
        mb(s.bytes_per_sec),
        s.messages_per_sec,
        s.matches,
        s.messages_matched,
        match (s.rg_caseless, s.rg_exact) {
            (None, None) => "rg not installed".to_string(),
            (i, e) => format!(
                "rg -F -i -f: {} (first {:.1} MB); rg -F -f (case-sensitive): {}",
                i.map_or("failed".into(), |p| format!(
                    "{:.2} MB/s, {} lines",
                    mb(p.rate),
                    p.count
                )),
                mb(i.map_or(0, |p| p.bytes) as f64),
                e.map_or("failed".into(), |p| format!(
                    "{:.0} MB/s, {} lines",
                    mb(p.rate),
                    p.count
                )),
            ),
        },
    ));
    let scan_name = format!(
        "policy scan, {} terms + {} regexes",
        human(scan::TERMS as f64),
        scan::REGEXES
    );
    figures.push(rate_figure(
        scan_name.clone(),
        mb(s.bytes_per_sec),
        "MB/s",
        s.rg_caseless
            .map(|p| ("rg -F -i -f (same text)".to_string(), mb(p.rate))),
    ));
    if let Some(p) = s.rg_exact {
        figures.push(rate_figure(
            format!("{scan_name} vs case-sensitive rg"),
            mb(s.bytes_per_sec),
            "MB/s",
            Some(("rg -F -f, no -i (same text)".to_string(), mb(p.rate))),
        ));
    }
    figures.push(rate_figure(
        scan_name,
        s.messages_per_sec,
        "messages/s",
        None,
    ));

    Ok(())
}

/// `verify` beside SHA-256 of the same files.
fn verify_figures(
    ctx: &Ctx,
    progress: &mut dyn FnMut(&str),
    figures: &mut Vec<Figure>,
) -> Result<()> {
    let (verify_bytes, messages, rounds) = (ctx.verify_bytes, ctx.messages, ctx.rounds);
    let dir = ctx.work.join("verify");
    progress(&format!(
        "building a {} MiB archive for verification with append_all batches",
        verify_bytes >> 20
    ));
    let build = Instant::now();
    verify::build_archive(&dir, messages as u64, verify_bytes)?;
    progress(&format!(
        "built in {:.1} s; timing verify and SHA-256 of the same files",
        build.elapsed().as_secs_f64()
    ));
    let t = verify::measure(&dir, rounds)?;
    progress(&format!(
        "verify: {} entries, {:.1} MB: {:.0} MB/s; sha2 SHA-256, 1 thread: {:.0} MB/s \
         (in memory, without reading: {:.0} MB/s){}{}",
        t.entries,
        mb(t.bytes as f64),
        mb(t.verify),
        mb(t.sha256),
        mb(t.sha256_in_memory),
        t.sha256sum
            .map_or(String::new(), |r| format!("; sha256sum: {:.0} MB/s", mb(r))),
        t.openssl
            .map_or(String::new(), |r| format!("; openssl: {:.0} MB/s", mb(r))),
    ));
    figures.push(rate_figure(
        "verify".into(),
        mb(t.verify),
        "MB/s",
        Some(("SHA-256 (sha2, 1 thread, streamed)".into(), mb(t.sha256))),
    ));
    if let Some(r) = t.sha256sum {
        figures.push(rate_figure(
            "verify vs sha256sum".into(),
            mb(t.verify),
            "MB/s",
            Some(("sha256sum command".into(), mb(r))),
        ));
    }
    if let Some(r) = t.openssl {
        figures.push(rate_figure(
            "verify vs openssl".into(),
            mb(t.verify),
            "MB/s",
            Some(("openssl dgst -sha256".into(), mb(r))),
        ));
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

/// Builds the search benchmarks' journal and measures the search figures
/// (if `search`) and the RSMF-export figures (if `export`) into `figures`.
fn search_figures(
    work: &std::path::Path,
    options: &BenchOptions,
    search: bool,
    export: bool,
    progress: &mut dyn FnMut(&str),
    figures: &mut Vec<Figure>,
) -> Result<()> {
    let mut docs = options.search_docs;
    if let Ok(v) = std::env::var(search::DOCS_ENV) {
        docs = v.trim().replace([',', '_'], "").parse().with_context(|| {
            format!("{}={v:?}: expected a number of messages", search::DOCS_ENV)
        })?;
    }
    if options.quick {
        docs = docs.min(search::QUICK_DOCS);
    }
    let docs = docs.max(1);
    progress(&format!(
        "building a journal of {} demo messages for search and export",
        human(docs as f64)
    ));
    let data = search::Dataset::build(&work.join("search-archive"), docs)?;
    progress(&format!(
        "built in {:.1} s ({:.0} messages/s, not a figure)",
        data.build.as_secs_f64(),
        docs as f64 / data.build.as_secs_f64()
    ));
    let mut db = if search {
        let (found, db) = search::figures(work, &data, options.quick, progress)?;
        figures.extend(found);
        db
    } else {
        progress("loading SQLite with the same messages for the export's peer");
        let (db, load) = search::FtsDb::load(&work.join("search-fts5.db"), &data.journal)?;
        progress(&format!("loaded in {:.1} s", load.load.as_secs_f64()));
        db
    };
    if export && docs > search::DOCS {
        // A million disclosed entries take ~1.5 GB in one export request.
        progress(&format!(
            "RSMF export: skipped, its figure is for at most {} messages",
            human(search::DOCS as f64)
        ));
    } else if export {
        figures.extend(rsmf_export::figures(work, &data, &mut db, progress)?);
    }
    db.close()?;
    data.journal.close()?;
    Ok(())
}

/// Measures the chat-export figures into `figures`; returns the lines of
/// the synthetic export.
fn export_figures(
    work: &std::path::Path,
    quick: bool,
    rounds: usize,
    progress: &mut dyn FnMut(&str),
    figures: &mut Vec<Figure>,
) -> Result<usize> {
    let mb = |rate: f64| rate / 1e6;
    let export_lines = if quick {
        QUICK_EXPORT_LINES
    } else {
        EXPORT_LINES
    };
    let text = export::synthetic_android(export_lines);
    let t = export::measure(work, &text, rounds)?;
    drop(text);
    progress(&format!(
        "chat export: {} lines, {:.1} MB, {} messages; parse {:.0} lines/s, import \
         (scan, build and encrypt on every core, pipelined durable appends) {:.0} lines/s; \
         str::lines() {:.0} lines/s{}",
        t.lines,
        mb(t.bytes as f64),
        t.messages,
        t.parse,
        t.parse_and_append,
        t.lines_count,
        t.wc.map_or(String::new(), |r| format!("; wc -l {r:.0} lines/s")),
    ));
    let (peer_name, peer_rate) = match t.wc {
        Some(r) => ("wc -l (same text, page cache)".to_string(), r),
        None => ("str::lines() count".to_string(), t.lines_count),
    };
    figures.push(rate_figure(
        "chat-export parse".into(),
        t.parse,
        "lines/s",
        Some((peer_name.clone(), peer_rate)),
    ));
    figures.push(rate_figure(
        "chat-export parse vs str::lines()".into(),
        t.parse,
        "lines/s",
        Some(("str::lines() count".into(), t.lines_count)),
    ));
    figures.push(rate_figure(
        "chat-export import, all durable".into(),
        t.parse_and_append,
        "lines/s",
        Some((peer_name, peer_rate)),
    ));

    Ok(export_lines)
}

/// One webhook load run: a fresh archive, `custos serve` on it, `messages`
/// messages in deliveries of `per` posted over `connections` connections,
/// then SIGTERM and a check that the archive holds them all; returns the
/// load and the server's peak memory (KiB).
fn webhook_run(
    work: &std::path::Path,
    exe: &std::path::Path,
    messages: usize,
    per: usize,
    connections: usize,
    limit: Duration,
) -> Result<(webhook::Load, Option<u64>)> {
    const SECRET: &str = "custos-bench-app-secret";
    let data = work.join(format!("webhook-{per}"));
    custos_journal::Journal::init(&data, None, "custos-bench")
        .with_context(|| format!("creating an archive in {}", data.display()))?
        .close()?;
    let tag = format!("b{per}");
    let deliveries = messages.div_ceil(per).max(connections);
    // Bodies and signatures are made before the clock starts.
    let bodies: Vec<(String, String, usize)> = (0..deliveries as u64)
        .map(|n| {
            let (body, _) = webhook::synthetic(&tag, n, per);
            let signature = webhook::sign(SECRET.as_bytes(), body.as_bytes());
            (body, signature, per)
        })
        .collect();
    let server =
        webhook::Server::start(exe, &data, SECRET, &work.join(format!("serve-{per}.log")))?;
    let load = webhook::drive(server.addr, &bodies, connections, limit);
    let peak = server.peak_memory_kib();
    let log = server.log();
    let status = server.terminate(Duration::from_secs(60))?;
    let load = load.with_context(|| format!("posting deliveries; server log:\n{log}"))?;
    anyhow::ensure!(
        status.success(),
        "custos serve exited with {status}:\n{log}"
    );
    // Every acknowledged message and its delivery record are in the archive.
    let journal = custos_journal::Journal::open(&data, Default::default())?;
    let size = journal.size() as usize;
    journal.close()?;
    anyhow::ensure!(
        size > load.messages + load.deliveries,
        "the archive holds {size} entries, {} messages in {} deliveries were acknowledged",
        load.messages,
        load.deliveries
    );
    std::fs::remove_dir_all(&data).ok();
    Ok((load, peak))
}

/// The process's peak resident set (VmHWM), in KiB, where /proc tells it.
fn peak_memory_kib() -> Option<u64> {
    proc_status_kib("self", "VmHWM")
}

/// A `kB` field (`VmHWM`, `VmRSS`) of `/proc/PID/status`.
pub(crate) fn proc_status_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// A number for people: thousands separated, few decimals.
fn human(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value.abs() >= 1_000.0 {
        let digits = format!("{:.0}", value.abs());
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if value < 0.0 {
            out.insert(0, '-');
        }
        out
    } else if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// The figures as an aligned text table: figure, value, unit, which way is
/// better, peer, peer value, the ratio value / peer and, when any figure
/// carries one, the peak memory of the process that measured it.
pub fn render_table(figures: &[Figure]) -> String {
    let with_peak = figures.iter().any(|f| f.peak_mib.is_some());
    let mut header = vec![
        "figure",
        "value",
        "unit",
        "better",
        "peer",
        "peer value",
        "ratio",
    ];
    // Numbers align right, text left.
    let mut right = vec![false, true, false, false, false, true, true];
    if with_peak {
        header.push("peak MiB");
        right.push(true);
    }
    let rows: Vec<Vec<String>> = figures
        .iter()
        .map(|f| {
            let (peer, peer_value) = f
                .peer
                .as_ref()
                .map_or((String::new(), String::new()), |(n, v)| {
                    (n.clone(), human(*v))
                });
            let mut row = vec![
                f.name.clone(),
                human(f.value),
                f.unit.clone(),
                if f.higher_is_better() {
                    "higher"
                } else {
                    "lower"
                }
                .into(),
                peer,
                peer_value,
                f.ratio().map_or(String::new(), |r| format!("{r:.2}x")),
            ];
            if with_peak {
                row.push(f.peak_mib.map_or(String::new(), |m| format!("{m:.0}")));
            }
            row
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            let pad = widths[i] - cell.chars().count();
            if right[i] {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            } else {
                out.push_str(cell);
                if i + 1 < cells.len() {
                    out.push_str(&" ".repeat(pad));
                }
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let header: Vec<String> = header.into_iter().map(String::from).collect();
    let mut out = line(&header);
    let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
    out.push_str(&"-".repeat(total));
    out.push('\n');
    for row in &rows {
        out.push_str(&line(row));
    }
    out.push_str(
        "ratio = value / peer value. For figures where higher is better (rates), a ratio \
         above 1.00x means custos is ahead; where lower is better, below 1.00x.\n",
    );
    if with_peak {
        out.push_str(
            "peak MiB = peak resident memory (VmHWM) of the process that measured the figure \
             alone (for the webhook figures, of custos serve).\n",
        );
    }
    out
}

/// Figures written one JSON object a line (as `custos bench --json`
/// prints them); blank lines are skipped. `source` names the input in
/// errors, which give the line.
pub fn read_figures(text: &str, source: &str) -> Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let figure: Figure = serde_json::from_str(line)
            .with_context(|| format!("{source}, line {}: not a benchmark figure", i + 1))?;
        figures.push(figure);
    }
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_run_measures_everything() {
        let options = BenchOptions {
            quick: true,
            ..BenchOptions::default()
        };
        let mut lines = Vec::new();
        let figures = run(&options, &mut |l| lines.push(l.to_string())).unwrap();
        assert!(figures.len() >= 6, "{figures:?}");
        assert!(!lines.is_empty());
        for f in &figures {
            assert!(f.value.is_finite() && f.value > 0.0, "{f:?}");
            if let Some((_, p)) = &f.peer {
                assert!(p.is_finite() && *p > 0.0, "{f:?}");
            }
        }
        for name in [
            "durable appends, 1 writer",
            "durable appends, 8 writers",
            "durable appends, 64 writers",
            "verify",
            "policy scan, 10,000 terms + 200 regexes",
            "peak memory (VmHWM)",
            "search index build (catch_up), 2,000 messages",
            "search p95, 2,000 messages, top 20",
            "RSMF export, 2,000 messages",
        ] {
            assert!(figures.iter().any(|f| f.name == name), "{name} missing");
        }
        let table = render_table(&figures);
        for f in &figures {
            assert!(table.contains(&f.name), "{} missing from\n{table}", f.name);
        }
    }

    #[test]
    fn table_aligns_and_computes_ratios() {
        let figures = vec![
            Figure {
                name: "a".into(),
                value: 12_345.6,
                unit: "messages/s".into(),
                peer: Some(("p".into(), 1_000.0)),
                peak_mib: None,
            },
            Figure {
                name: "memory".into(),
                value: 20.0,
                unit: "MiB".into(),
                peer: None,
                peak_mib: None,
            },
        ];
        let table = render_table(&figures);
        assert!(table.contains("12,346"), "{table}");
        assert!(table.contains("12.35x"), "{table}");
        assert!(
            table.contains("higher") && table.contains("lower"),
            "{table}"
        );
        assert_eq!(human(999.94), "1000");
        assert_eq!(human(1_234_567.0), "1,234,567");
    }

    #[test]
    fn groups_parse_by_name_and_unknown_ones_are_named() {
        for g in Group::ALL {
            assert_eq!(Group::parse(g.name()).unwrap(), g);
        }
        assert_eq!(Group::parse(" export ").unwrap(), Group::Import);
        let err = format!("{:#}", Group::parse("searhc").unwrap_err());
        assert!(
            err.contains("\"searhc\"") && err.contains("export-rsmf"),
            "{err}"
        );
    }

    #[test]
    fn figures_travel_as_json_lines_with_their_peak_memory() {
        let figures = vec![
            Figure {
                name: "verify".into(),
                value: 900.0,
                unit: "MB/s".into(),
                peer: Some(("sha256sum".into(), 1_000.0)),
                peak_mib: Some(42.4),
            },
            Figure {
                name: "scan".into(),
                value: 10.0,
                unit: "MB/s".into(),
                peer: None,
                peak_mib: None,
            },
        ];
        let text: String = figures
            .iter()
            .map(|f| serde_json::to_string(f).unwrap() + "\n\n")
            .collect();
        assert_eq!(read_figures(&text, "t.jsonl").unwrap(), figures);
        let table = render_table(&figures);
        let header = table.lines().next().unwrap();
        assert!(header.ends_with("peak MiB"), "{table}");
        let verify = table.lines().find(|l| l.starts_with("verify")).unwrap();
        assert!(verify.ends_with("0.90x        42"), "{table}");
        assert!(table.contains("VmHWM"), "{table}");
        // Without any peak, no column for it.
        assert!(!render_table(&figures[1..]).contains("peak MiB"));

        let err = format!(
            "{:#}",
            read_figures(&format!("{text}{{\"name\": 1}}\n"), "t.jsonl").unwrap_err()
        );
        assert!(err.contains("t.jsonl, line 5"), "{err}");
    }
}
