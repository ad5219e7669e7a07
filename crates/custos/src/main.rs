//! The `custos` command: wiring of the library crates behind a CLI.
//!
//! Every command takes `--data DIR` (env `CUSTOS_DATA`, default
//! `./custos-data`). The key-encryption key comes from `CUSTOS_KEK` (64 hex
//! digits) when set, else from the archive's `keys/kek` file.

mod cases;
mod consent;
mod custodians;
mod demo;
mod export;
mod holds;
mod import_actiance;
mod import_email;
mod import_export;
mod import_rsmf;
mod import_slack;
mod import_teams;
mod parties;
mod privacy;
mod progress;
mod retention;
mod search;
mod state;
mod supervision;
mod tuning;
mod users;
mod worm;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use custos_journal::{Journal, Kek, Opened, Options, StoredEntry, merkle};
use custos_model::Event;
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// mimalloc, not glibc's malloc: under sustained load glibc kept about
/// 200 MiB of freed memory in its per-thread arenas (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// custos: a self-hosted, tamper-evident communications-compliance archive.
#[derive(Parser, Debug)]
#[command(name = "custos", version, about, max_term_width = 100)]
struct Cli {
    /// The archive's data directory.
    #[arg(
        long,
        global = true,
        env = "CUSTOS_DATA",
        default_value = "custos-data"
    )]
    data: PathBuf,
    /// Key-encryption key, 64 hex digits; by default read from DATA/keys/kek.
    #[arg(
        long = "kek",
        global = true,
        env = "CUSTOS_KEK",
        hide_env_values = true,
        hide = true
    )]
    kek: Option<String>,
    /// Cluster mode: the PostgreSQL database holding the journal
    /// (postgres://user@host/db), shared by every node; DATA is then this
    /// node's cache. `serve` also reads `[journal] url` from its config.
    #[arg(
        long,
        global = true,
        env = "CUSTOS_JOURNAL_URL",
        hide_env_values = true
    )]
    journal_url: Option<String>,
    /// While writing, sign a tree head this often (seconds) if entries arrived.
    #[arg(long, global = true, env = "CUSTOS_HEAD_EVERY", default_value_t = 60)]
    head_every: u64,
    /// Who is acting, as audit events record it.
    #[arg(long, global = true, env = "CUSTOS_ACTOR", default_value_t = default_actor())]
    actor: String,
    /// The SQL state projection's database: `postgres://...`; by default
    /// SQLite at DATA/state/state.db (also `[state] url` in serve's
    /// configuration).
    #[arg(long, global = true, env = "CUSTOS_STATE_URL", hide_env_values = true)]
    state_url: Option<String>,
    /// Start a new journal segment past this many bytes (tests make small
    /// segments roll with it).
    #[arg(long, global = true, env = "CUSTOS_SEGMENT_BYTES", hide = true)]
    segment_bytes: Option<u64>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create an archive: data directory, keys, journal, first signed head.
    Init,
    /// Import messages from a JSON-lines file (one message per line).
    Ingest {
        /// The file; `-` reads standard input.
        file: PathBuf,
    },
    /// Add, list and disable the people who sign in.
    User {
        #[command(subcommand)]
        command: users::UserCommand,
    },
    /// Create, list and revoke API tokens.
    Token {
        #[command(subcommand)]
        command: users::TokenCommand,
    },
    /// Enrol and list custodians (employees whose business messages are captured).
    Custodian {
        #[command(subcommand)]
        command: custodians::CustodianCommand,
    },
    /// Import messages from an outside source (a WhatsApp chat export).
    Import {
        #[command(subcommand)]
        source: import_export::ImportSource,
    },
    /// Print entries, decrypted for the local operator (an audited read).
    Log {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// First entry to print.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Print at most this many entries.
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Recompute every entry, the tree and every signed head.
    Verify {
        /// The archive's public key (64 hex digits), if held apart from it.
        #[arg(long)]
        public_key: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Also check the WORM copy on S3 (`[worm]`): every uploaded object,
        /// its lock, and the bucket's segments on their own. Opens the
        /// archive, so not while `serve` holds it.
        #[arg(long)]
        worm: bool,
        /// TOML configuration file with the `[worm]` section.
        #[arg(long, requires = "worm")]
        config: Option<PathBuf>,
    },
    /// The WORM copy on S3-compatible storage with Object Lock.
    Worm {
        #[command(subcommand)]
        command: worm::WormCommand,
    },
    /// Print the latest signed tree head.
    Head {
        /// Sign a new head for the current tree first.
        #[arg(long)]
        sign: bool,
    },
    /// Print an inclusion proof for entry SEQ against the latest signed head.
    Prove {
        /// The entry.
        seq: u64,
    },
    /// Print a consistency proof between two tree sizes.
    Consistency {
        /// The older tree size.
        old_size: u64,
        /// The newer tree size.
        new_size: u64,
    },
    /// Destroy a data subject's key (crypto-shredding): their content is gone.
    Shred {
        /// The subject: the external party's address, e.g. +5511988887777.
        subject: String,
        /// Why (the erasure request, the retention rule).
        #[arg(long)]
        reason: String,
    },
    /// Run the server: the WhatsApp webhook at /webhooks/whatsapp.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// TOML configuration file ([whatsapp] app_secret, verify_token,
        /// access_token, graph_url; each also from CUSTOS_WHATSAPP_*).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Also accept journaled e-mail over SMTP here (e.g. 127.0.0.1:2525):
        /// point the mail server's journaling rule at it; private network only.
        #[arg(long)]
        smtp_listen: Option<String>,
        /// The firm's e-mail domains, for the direction of journaled mail; repeatable.
        #[arg(long = "firm-domain")]
        firm_domains: Vec<String>,
        /// Run the retention schedule this often (e.g. 24h, 1d; s, m, h, d).
        #[arg(long)]
        retention_every: Option<String>,
        /// Upload sealed segments, blobs and heads to the WORM bucket
        /// (`[worm]`) at start and every `[worm] sync_every` seconds.
        #[arg(long)]
        worm: bool,
        /// Serve HTTPS with this PEM certificate chain (overrides [tls] cert).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert (overrides [tls] key).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Log format on standard error: `json` writes one JSON object per
        /// line, with a line per request (method, route template, status,
        /// latency, principal; never the query string).
        #[arg(long, env = "CUSTOS_LOG_FORMAT", value_enum, default_value = "text")]
        log_format: LogFormat,
    },
    /// Send a WhatsApp message through the Cloud API, within consent and the
    /// 24-hour window (the server must not be running on the same archive).
    Send {
        /// The recipient's WhatsApp number.
        #[arg(long)]
        to: String,
        /// Text to send (inside the 24-hour window).
        #[arg(long, conflicts_with = "template")]
        text: Option<String>,
        /// An approved template's name (outside the window too).
        #[arg(long)]
        template: Option<String>,
        /// The template's language code.
        #[arg(long, default_value = "en_US")]
        language: String,
        /// TOML configuration file, as for `serve`.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Privacy requests: the queue with deadlines; access, erasure, rectification.
    Privacy {
        #[command(subcommand)]
        command: privacy::PrivacyCommand,
    },
    /// Cases (matters): scope, saved searches, review set, hold.
    Case {
        #[command(subcommand)]
        command: cases::CaseCommand,
    },
    /// One person across channels: link their addresses, read their whole history.
    Party {
        #[command(subcommand)]
        command: parties::PartyCommand,
    },
    /// Legal holds: place, release, list, report.
    Hold {
        #[command(subcommand)]
        command: holds::HoldCommand,
    },
    /// Retention schedules, disposition runs and their certificates.
    Retention {
        #[command(subcommand)]
        command: retention::RetentionCommand,
    },
    /// A party's consent: show its history, record an opt-in or opt-out.
    Consent {
        #[command(subcommand)]
        command: consent::ConsentCommand,
    },
    /// Load, list, show, disable and test supervision policies.
    Policy {
        #[command(subcommand)]
        command: supervision::PolicyCommand,
    },
    /// Evaluate history against the active policies (or one of them).
    Scan {
        /// Only this policy.
        #[arg(long)]
        policy: Option<String>,
        /// Only messages sent from this date (YYYY-MM-DD) or instant on.
        #[arg(long)]
        since: Option<String>,
    },
    /// The alert queue: open alerts, most serious and oldest first.
    Alerts {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Include closed alerts.
        #[arg(long)]
        all: bool,
    },
    /// Review one alert: show, assign, comment, escalate, close.
    Alert {
        #[command(subcommand)]
        command: supervision::AlertCommand,
    },
    /// Supervisory samples of custodians' conversations.
    Sample {
        #[command(subcommand)]
        command: supervision::SampleCommand,
    },
    /// The risk classifier.
    Model {
        #[command(subcommand)]
        command: supervision::ModelCommand,
    },
    /// Full-text search (an audited read: the query, the reason and every
    /// message shown are journalled). See docs/search.md for the language.
    Search {
        /// The query, e.g. `"guarantee return"~5 from:+5511988887777 after:2024-06-01`.
        query: String,
        /// Why you are searching (recorded in the journal); required unless --matter is given.
        #[arg(long)]
        reason: Option<String>,
        /// The case or matter the search is for (recorded).
        #[arg(long)]
        matter: Option<String>,
        /// Hits per page.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Hits to skip (the page's start).
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// relevance, newest or oldest.
        #[arg(long, default_value = "relevance")]
        sort: custos_search::Sort,
        /// Also show N messages of the conversation before and after each hit.
        #[arg(long)]
        context: Option<usize>,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Export the messages a query matches for a court or regulator (RSMF
    /// 2.0, EML, HTML/PDF transcripts, CSV/JSON-lines load files) with a
    /// custody manifest anyone can verify without the archive.
    Export {
        /// The query selecting messages (see `custos search`).
        #[arg(long)]
        query: Option<String>,
        /// Or: produce a case's messages tagged relevant (privileged ones never).
        #[arg(long)]
        case: Option<String>,
        /// Formats, comma-separated: rsmf, eml, html, pdf, csv, jsonl.
        #[arg(long, default_value = "rsmf,pdf,csv")]
        format: String,
        /// The directory to create (must not exist or be empty).
        #[arg(long)]
        out: PathBuf,
        /// Why (recorded in the journal and the custody manifest).
        #[arg(long)]
        reason: String,
        /// The case or matter.
        #[arg(long)]
        matter: Option<String>,
        /// One file per conversation per `day`, `month`, or whole `conversation`.
        #[arg(long, default_value = "day")]
        slicing: String,
        /// Time zone of transcripts and day boundaries (IANA name).
        #[arg(long, default_value = "UTC")]
        time_zone: String,
        /// Prefix of the Bates-style number of each message.
        #[arg(long, default_value = "CUSTOS-")]
        bates_prefix: String,
        /// Mask these kinds of personal data in everything the export shows
        /// (payment_card, national_id, us_ssn, br_cpf, iban, email, phone,
        /// all), withholding entry keys and attachment bytes; `none` exports
        /// in full.
        #[arg(long, default_value = "none")]
        redact: String,
    },
    /// Check an export with no access to the archive: every file's SHA-256,
    /// every entry against its leaf and key, the multi-proof against the
    /// signed tree head, and the rendered content against the entries.
    VerifyExport {
        /// The export's directory.
        dir: PathBuf,
        /// The archive's published public key (64 hex digits).
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Rebuild a projection from the journal: `search` (the full-text
    /// index) or `state` (the SQL state: alerts, holds, cases, consent,
    /// users, custodians).
    Rebuild {
        /// What to rebuild.
        #[arg(value_parser = ["search", "state"])]
        what: String,
    },
    /// Create an archive with realistic synthetic data, one user per role,
    /// and serve the console on it (run again: serve it again).
    Demo {
        /// About how many messages to generate.
        #[arg(long, default_value_t = 5000)]
        messages: usize,
        /// Seed of the generator: the same seed (and day) gives the same data.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Days of traffic, ending today.
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// End the traffic on this day (YYYY-MM-DD) instead of now.
        #[arg(long)]
        until: Option<String>,
        /// Address to serve the console on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Only build the archive; do not serve it.
        #[arg(long)]
        no_serve: bool,
    },
    /// Measure ingest and verify speed beside peers, and print a table.
    Bench {
        /// Messages per run.
        #[arg(long)]
        messages: Option<usize>,
        /// Tiny sizes, to check the harness runs.
        #[arg(long)]
        quick: bool,
        /// Where to create the benchmark archives (a temporary directory inside).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Measure only this group: ingest, webhook, import, scan, verify,
        /// search, export-rsmf or cluster.
        #[arg(long, value_name = "GROUP")]
        only: Option<String>,
        /// Print the figures as JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        /// Print the table of figures read from FILE (JSON lines, as
        /// `--json` writes them) and measure nothing.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["only", "json", "load"])]
        table: Option<PathBuf>,
        /// Sustained load instead: webhooks at --rate with searches running
        /// against the same server, reported every --every seconds.
        #[arg(long)]
        load: bool,
        /// How long the load runs, in minutes.
        #[arg(long, default_value_t = 10.0, requires = "load")]
        minutes: f64,
        /// Webhook messages per second of the load.
        #[arg(long, default_value_t = 200.0, requires = "load")]
        rate: f64,
        /// Seconds between the load's reports.
        #[arg(long, default_value_t = 10.0, requires = "load")]
        every: f64,
        /// Connections running searches during the load.
        #[arg(long, default_value_t = 2, requires = "load")]
        searchers: usize,
    },
}

fn default_actor() -> String {
    std::env::var("USER").unwrap_or_else(|_| "operator".into())
}

/// How `custos serve` writes its log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines (warnings and errors unless `CUSTOS_LOG` says more).
    Text,
    /// One JSON object per line, including one per request.
    Json,
}

/// The log on standard error: `CUSTOS_LOG` filters (default: warnings;
/// in JSON, also the request lines).
fn init_logging(format: LogFormat) {
    let default = match format {
        LogFormat::Text => "warn",
        LogFormat::Json => "warn,custos::request=info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUSTOS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}

fn main() -> ExitCode {
    // reqwest and the TLS listener share one rustls provider: aws-lc-rs.
    custos_server::tls::install_crypto_provider();
    let cli = Cli::parse();
    init_logging(match &cli.command {
        Command::Serve { log_format, .. } => *log_format,
        _ => LogFormat::Text,
    });
    match run(cli) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn kek(cli: &Cli) -> Result<Option<Kek>> {
    cli.kek
        .as_deref()
        .map(|k| Kek::from_hex(k).context("CUSTOS_KEK"))
        .transpose()
}

fn open(cli: &Cli) -> Result<Journal> {
    open_at(cli, cli.journal_url.clone())
}

/// Opens the archive: embedded, or in cluster mode with `journal_url`.
fn open_at(cli: &Cli, journal_url: Option<String>) -> Result<Journal> {
    Journal::open(
        &cli.data,
        Options {
            kek: kek(cli)?,
            head_every: (cli.head_every > 0).then(|| Duration::from_secs(cli.head_every)),
            segment_bytes: cli
                .segment_bytes
                .unwrap_or(Options::default().segment_bytes),
            journal_url,
            ..Options::default()
        },
    )
    .with_context(|| format!("opening archive {}", cli.data.display()))
}

fn run(cli: Cli) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match &cli.command {
        Command::Init => {
            let journal = match &cli.journal_url {
                Some(url) => custos_journal::init_cluster(&cli.data, url, kek(&cli)?, &cli.actor),
                None => Journal::init(&cli.data, kek(&cli)?, &cli.actor),
            }
            .with_context(|| format!("creating archive {}", cli.data.display()))?;
            writeln!(out, "created archive {}", cli.data.display())?;
            writeln!(out, "public key {}", hex::encode(journal.public_key()))?;
            let policies = supervision::install_starter(&journal, &cli.actor)?;
            writeln!(
                out,
                "{policies} starter policies active (custos policy list)"
            )?;
            if cli.kek.is_none() {
                writeln!(
                    out,
                    "key-encryption key written to {}: move it to safe keeping and pass it as CUSTOS_KEK",
                    cli.data.join(custos_journal::KEK_FILE).display()
                )?;
            }
            journal.close()?;
        }
        Command::Ingest { file } => {
            let journal = open(&cli)?;
            ingest(&journal, &cli.actor, file, &mut out)?;
            report_alerts(supervision::supervise(&journal)?, &mut out)?;
            journal.close()?;
        }
        Command::User { command } => {
            let journal = open(&cli)?;
            users::run_user(&journal, &cli.actor, command, &mut out)?;
            journal.close()?;
        }
        Command::Token { command } => {
            let journal = open(&cli)?;
            users::run_token(&journal, &cli.actor, command, &mut out)?;
            journal.close()?;
        }
        Command::Custodian { command } => {
            let journal = open(&cli)?;
            custodians::run(&journal, &cli.actor, command, &mut out)?;
            journal.close()?;
        }
        Command::Import { source } => {
            let journal = open(&cli)?;
            import_export::run(&journal, &cli.actor, source, &mut out)?;
            report_alerts(supervision::supervise(&journal)?, &mut out)?;
            journal.close()?;
        }
        Command::Log { json, from, limit } => {
            let journal = open(&cli)?;
            log(&journal, &cli.actor, *json, *from, *limit, &mut out)?;
            journal.close()?;
        }
        Command::Verify {
            public_key,
            json,
            worm,
            config,
        } => {
            let key = public_key
                .as_deref()
                .map(|k| {
                    let mut key = [0u8; 32];
                    hex::decode_to_slice(k, &mut key).map(|()| key)
                })
                .transpose()
                .context("--public-key: expected 64 hex digits")?;
            let verified = match &cli.journal_url {
                // What the database holds, laid out beside the cache.
                Some(url) => custos_journal::verify_cluster(url, key, &std::env::temp_dir()),
                None => custos_journal::verify(&cli.data, key),
            };
            let report = match verified {
                Ok(report) => report,
                Err(e) => {
                    writeln!(out, "verify FAILED: {e}")?;
                    return Ok(ExitCode::FAILURE);
                }
            };
            if *json {
                writeln!(out, "{}", serde_json::to_string(&report)?)?;
            } else {
                writeln!(
                    out,
                    "verified {} entries in {} segment(s), {} signed head(s); root {}",
                    report.entries,
                    report.segments,
                    report.heads,
                    hex::encode(report.root)
                )?;
                if let Some((path, offset)) = &report.torn_tail {
                    writeln!(
                        out,
                        "note: {} ends with a write cut short at offset {offset} (never acknowledged); it is removed when the archive is next opened",
                        path.display()
                    )?;
                }
            }
            if *worm {
                let journal = open(&cli)?;
                let checked = worm::verify(&journal, config.as_deref(), key, *json, &mut out);
                journal.close()?;
                if !checked? {
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Command::Worm { command } => {
            let journal = open(&cli)?;
            let result = worm::run(&journal, &cli.actor, command, &mut out);
            journal.close()?;
            result?;
        }
        Command::Head { sign } => {
            let journal = open(&cli)?;
            if *sign {
                journal.sign_head()?;
            }
            let head = journal
                .latest_head()
                .context("the archive has no signed head yet; run `custos head --sign`")?;
            writeln!(out, "{}", serde_json::to_string_pretty(&head)?)?;
            journal.close()?;
        }
        Command::Prove { seq } => {
            let journal = open(&cli)?;
            let head = match journal.latest_head() {
                Some(h) if h.tree_size > *seq => h,
                _ => journal.sign_head()?,
            };
            let proof = journal.inclusion_proof(*seq, head.tree_size)?;
            merkle::verify_inclusion(
                &proof.leaf_hash,
                *seq,
                head.tree_size,
                &proof.path,
                &head.root,
            )
            .context("the proof does not verify against the signed head")?;
            let doc = serde_json::json!({ "head": head, "proof": proof });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
            journal.close()?;
        }
        Command::Consistency { old_size, new_size } => {
            let journal = open(&cli)?;
            let proof = journal.consistency_proof(*old_size, *new_size)?;
            writeln!(out, "{}", serde_json::to_string_pretty(&proof)?)?;
            journal.close()?;
        }
        Command::Shred { subject, reason } => {
            let journal = open(&cli)?;
            if let Err(refused) =
                holds::check_erasure(&cli.data, &journal, &cli.actor, subject, reason)
            {
                journal.close()?;
                return Err(refused);
            }
            let ids = journal.shred(subject, &cli.actor, reason)?;
            if ids.is_empty() {
                writeln!(out, "no data key for that subject; nothing to destroy")?;
            } else {
                writeln!(
                    out,
                    "destroyed data keys {}; the subject's content can no longer be read",
                    join_ids(&ids)
                )?;
            }
            journal.close()?;
        }
        Command::Privacy { command } => {
            let journal = open(&cli)?;
            privacy::run(&cli.data, &journal, &cli.actor, command, &mut out)?;
            journal.close()?;
        }
        Command::Case { command } => {
            let journal = open(&cli)?;
            let result = cases::run(&cli.data, &journal, &cli.actor, command, &mut out);
            journal.close()?;
            result?;
        }
        Command::Party { command } => {
            let journal = open(&cli)?;
            let result = parties::run(&cli.data, &journal, &cli.actor, command, &mut out);
            journal.close()?;
            result?;
        }
        Command::Retention { command } => {
            let journal = open(&cli)?;
            let result = retention::run(&journal, &cli.actor, command, &mut out);
            journal.close()?;
            result?;
        }
        Command::Hold { command } => {
            let journal = open(&cli)?;
            holds::run(&cli.data, &journal, &cli.actor, command, &mut out)?;
            journal.close()?;
        }
        Command::Consent { command } => {
            let journal = open(&cli)?;
            consent::run(&journal, &cli.actor, command, &mut out)?;
            journal.close()?;
        }
        Command::Policy { command } => {
            let journal = open(&cli)?;
            supervision::policy(&journal, &cli.actor, command, &mut out)?;
            journal.close()?;
        }
        Command::Scan { policy, since } => {
            let journal = open(&cli)?;
            supervision::scan(&journal, policy.as_deref(), since.as_deref(), &mut out)?;
            journal.close()?;
        }
        Command::Alerts { json, all } => {
            let journal = open(&cli)?;
            supervision::alerts(&journal, *json, *all, &mut out)?;
            journal.close()?;
        }
        Command::Alert { command } => {
            let journal = open(&cli)?;
            supervision::alert(&journal, &cli.actor, command, &mut out)?;
            journal.close()?;
        }
        Command::Sample { command } => {
            let journal = open(&cli)?;
            supervision::sample(&journal, &cli.actor, command, &mut out)?;
            journal.close()?;
        }
        Command::Model { command } => {
            let journal = open(&cli)?;
            supervision::model(&journal, &cli.actor, command, &mut out)?;
            journal.close()?;
        }
        Command::Demo {
            messages,
            seed,
            days,
            until,
            listen,
            no_serve,
        } => {
            let until = match until {
                Some(day) => format!("{day}T18:00:00Z")
                    .parse::<jiff::Timestamp>()
                    .with_context(|| format!("--until {day}: expected YYYY-MM-DD"))?
                    .as_second(),
                None => jiff::Timestamp::now().as_second(),
            };
            let args = demo::DemoArgs {
                messages: *messages,
                seed: *seed,
                days: *days,
                until,
            };
            let (journal, built) = demo::build(
                &cli.data,
                |exists| {
                    if exists {
                        open(&cli)
                    } else {
                        Journal::init(&cli.data, kek(&cli)?, &cli.actor)
                            .with_context(|| format!("creating archive {}", cli.data.display()))
                    }
                },
                &cli.actor,
                &args,
                &mut out,
            )?;
            journal.close()?;
            let signins = match built {
                demo::Built::New(signins) => signins,
                demo::Built::Existing => {
                    writeln!(
                        out,
                        "its sign-ins were printed when it was built; `custos user list` names them and `custos user password ID` sets a new one"
                    )?;
                    Vec::new()
                }
            };
            if *no_serve {
                demo::print_signins(None, &signins, &mut out)?;
            } else {
                out.flush()?;
                drop(out);
                serve(&cli, &ServeOptions::on(listen), &mut |address| {
                    let mut out = std::io::stdout().lock();
                    demo::print_signins(Some(&address.to_string()), &signins, &mut out)?;
                    writeln!(out, "Ctrl-C stops it")?;
                    out.flush()?;
                    Ok(())
                })?;
                return Ok(ExitCode::SUCCESS);
            }
        }
        Command::Search {
            query,
            reason,
            matter,
            limit,
            offset,
            sort,
            context,
            json,
        } => {
            let journal = open(&cli)?;
            let request = search::SearchRequest {
                query,
                options: custos_search::SearchOptions {
                    sort: *sort,
                    offset: *offset,
                    limit: *limit,
                },
                context: *context,
                reason: reason.as_deref(),
                matter: matter.as_deref(),
                json: *json,
            };
            let result = search::run(&cli.data, &journal, &cli.actor, &request, &mut out);
            journal.close()?;
            result?;
        }
        Command::Export {
            query,
            case,
            format,
            out: dir,
            reason,
            matter,
            slicing,
            time_zone,
            bates_prefix,
            redact,
        } => {
            let journal = open(&cli)?;
            let args = export::ExportArgs {
                query: query.as_deref(),
                case: case.as_deref(),
                formats: format,
                out: dir,
                reason,
                matter: matter.as_deref(),
                slicing,
                time_zone,
                bates_prefix,
                redact,
            };
            let result = export::run(&cli.data, &journal, &cli.actor, &args, &mut out);
            journal.close()?;
            result?;
        }
        Command::VerifyExport { dir, public_key } => {
            if !export::verify(dir, public_key.as_deref(), &mut out)? {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Rebuild { what } => {
            let journal = open(&cli)?;
            let result = if what == "state" {
                let url = state::url(&cli.data, cli.state_url.as_deref(), None);
                state::rebuild(&cli.data, &url, &journal, &mut out)
            } else {
                search::rebuild(&cli.data, &journal, &mut out)
            };
            journal.close()?;
            result?;
        }
        Command::Serve {
            listen,
            config,
            smtp_listen,
            firm_domains,
            retention_every,
            worm,
            tls_cert,
            tls_key,
            log_format: _,
        } => {
            let tls = match (tls_cert, tls_key) {
                (Some(cert), Some(key)) => Some(custos_server::tls::TlsConfig {
                    cert: cert.clone(),
                    key: key.clone(),
                }),
                _ => None,
            };
            serve(
                &cli,
                &ServeOptions {
                    listen,
                    config: config.as_deref(),
                    smtp_listen: smtp_listen.as_deref(),
                    firm_domains,
                    retention_every: retention_every.as_deref(),
                    worm: *worm,
                    tls,
                },
                &mut |_| Ok(()),
            )?
        }
        Command::Send {
            to,
            text,
            template,
            language,
            config,
        } => {
            let config =
                custos_server::Config::load(config.as_deref(), |name| std::env::var(name).ok())?;
            let journal = open(&cli)?;
            let mut state = custos_server::AppState::new(
                journal.clone(),
                config.whatsapp,
                custos_server::media::MediaQueue::disabled(),
            )?;
            let policies = custos_review::Supervision::load(&journal)?;
            let engine =
                custos_policy::Engine::compile(&custos_review::policies::active(&policies)?)?;
            state.pre_send =
                std::sync::Arc::new(custos_server::supervision::PolicyPreSend::fixed(engine));
            // The opt-in template may go to a customer without consent.
            state.inbox = std::sync::Arc::new(config.inbox);
            let request = custos_server::outbound::SendRequest {
                to: to.clone(),
                text: text.clone(),
                template: template
                    .as_ref()
                    .map(|name| serde_json::json!({"name": name, "language": {"code": language}})),
                media: None,
                sender: Some(cli.actor.clone()),
                upload: None,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let sent = runtime.block_on(custos_server::outbound::send(&state, request));
            drop(state);
            journal.close()?;
            match sent {
                Ok(wamid) => writeln!(out, "sent {wamid}")?,
                Err(problem) => bail!("not sent: {}", problem.detail()),
            }
        }
        Command::Bench {
            messages,
            quick,
            dir,
            only,
            json,
            table,
            load,
            minutes,
            rate,
            every,
            searchers,
        } => {
            if let Some(path) = table {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let figures = custos_bench::read_figures(&text, &path.display().to_string())?;
                write!(out, "{}", custos_bench::render_table(&figures))?;
                return Ok(ExitCode::SUCCESS);
            }
            if *load {
                return bench_load(&mut out, dir.clone(), *minutes, *rate, *every, *searchers);
            }
            let mut options = custos_bench::BenchOptions {
                dir: dir.clone(),
                quick: *quick,
                ..Default::default()
            };
            if let Some(n) = messages {
                options.messages = *n;
            }
            if let Some(group) = only {
                options.only = Some(custos_bench::Group::parse(group)?);
            }
            let figures = custos_bench::run(&options, &mut |step| eprintln!("bench: {step}"))?;
            if *json {
                for f in &figures {
                    writeln!(out, "{}", serde_json::to_string(f)?)?;
                }
            } else {
                write!(out, "{}", custos_bench::render_table(&figures))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `custos bench --load`: sustained webhooks and searches against this
/// binary's `serve`; exits 1 if memory did not stay bounded.
fn bench_load(
    out: &mut dyn Write,
    dir: Option<PathBuf>,
    minutes: f64,
    rate: f64,
    every: f64,
    searchers: usize,
) -> Result<ExitCode> {
    let seconds = |what: &str, s: f64| {
        Duration::try_from_secs_f64(s)
            .ok()
            .filter(|d| !d.is_zero())
            .with_context(|| format!("{what} must be a positive number, not {s}"))
    };
    // CUSTOS_BENCH_SERVE_EXE runs `serve` through another program that
    // takes custos's arguments (a heap profiler's wrapper script, say).
    let exe = match std::env::var_os("CUSTOS_BENCH_SERVE_EXE") {
        Some(exe) => PathBuf::from(exe),
        None => std::env::current_exe().context("finding the custos binary")?,
    };
    let mut options = custos_bench::load::LoadOptions::new(exe);
    options.dir = dir;
    options.duration = seconds("--minutes", minutes * 60.0)?;
    options.interval = seconds("--every", every)?;
    options.rate = rate;
    options.searchers = searchers;
    let summary = custos_bench::load::run(&options, &mut |line| eprintln!("load: {line}"))?;
    for line in summary.lines() {
        writeln!(out, "{line}")?;
    }
    Ok(if summary.bounded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What `custos serve` was asked for.
struct ServeOptions<'a> {
    /// The HTTP address.
    listen: &'a str,
    /// The configuration file.
    config: Option<&'a Path>,
    /// The SMTP journaling listener's address.
    smtp_listen: Option<&'a str>,
    /// The firm's e-mail domains (SMTP direction).
    firm_domains: &'a [String],
    /// How often the retention schedule runs.
    retention_every: Option<&'a str>,
    /// Sync the WORM copy (`[worm]`).
    worm: bool,
    /// TLS from the command line (else `[tls]`).
    tls: Option<custos_server::tls::TlsConfig>,
}

impl<'a> ServeOptions<'a> {
    /// HTTP on `listen`, everything else from its default.
    fn on(listen: &'a str) -> ServeOptions<'a> {
        ServeOptions {
            listen,
            config: None,
            smtp_listen: None,
            firm_domains: &[],
            retention_every: None,
            worm: false,
            tls: None,
        }
    }
}

/// Runs the server until SIGINT or SIGTERM, then closes the archive
/// (signing a final head); `announce` is told the bound address.
fn serve(
    cli: &Cli,
    options: &ServeOptions<'_>,
    announce: &mut dyn FnMut(std::net::SocketAddr) -> Result<()>,
) -> Result<()> {
    let ServeOptions {
        listen,
        config,
        smtp_listen,
        firm_domains,
        retention_every,
        worm,
        tls,
    } = options;
    let (listen, smtp_listen, firm_domains, retention_every) =
        (*listen, *smtp_listen, *firm_domains, *retention_every);
    let config = custos_server::Config::load(*config, |name| std::env::var(name).ok())?;
    let tls = tls.clone().or_else(|| config.tls.clone());
    let tls_config = tls
        .as_ref()
        .map(custos_server::tls::server_config)
        .transpose()
        .context("loading the TLS certificate")?;
    let oidc = config
        .oidc
        .is_enabled()
        .then(|| custos_server::oidc::Oidc::new(config.oidc.clone()))
        .transpose()?;
    let retention_every = retention_every.map(retention::parse_every).transpose()?;
    let worm_settings = worm
        .then(|| worm::from_config(config.worm.clone()))
        .transpose()
        .context("[worm] settings for serve --worm")?;
    let journal_url = cli.journal_url.clone().or_else(|| {
        let url = config.journal.url.expose();
        (!url.is_empty()).then(|| url.to_string())
    });
    let journal = open_at(cli, journal_url)?;
    // Every node seals single sign-on state under the same key, so a
    // sign-in started on one finishes on any.
    let oidc = oidc
        .map(|o| std::sync::Arc::new(o.with_state_key(&journal.derived_key("oidc state cookie"))));
    let worm_sync = worm_settings
        .map(|s| worm::schedule(journal.clone(), s))
        .transpose()?;
    let retention_schedule =
        retention_every.map(|every| retention::schedule(journal.clone(), every));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let media = if config.whatsapp.access_token.is_set() {
            custos_server::media::start(
                journal.clone(),
                config.whatsapp.graph_url.clone(),
                config.whatsapp.access_token.clone(),
                custos_server::media::Retry::default(),
            )?
        } else {
            eprintln!("no WhatsApp access token configured: media will not be downloaded");
            custos_server::media::MediaQueue::disabled()
        };
        let journal_for_state = journal.clone();
        let whatsapp = config.whatsapp.clone();
        let notifier = if config.notify.targets.is_empty() {
            None
        } else {
            Some(
                custos_server::supervision::start_notifier(&journal, config.notify.clone())
                    .context("starting notifications ([notify] in the configuration)")?,
            )
        };
        let opt_out_keywords = config.consent.opt_out_keywords.clone();
        let twilio = config.twilio.clone();
        let require_enrolment = config.capture.require_enrolment;
        let confirmations = custos_server::confirm::Confirmations::from_config(&config.consent);
        let redaction = std::sync::Arc::new(config.redaction.clone());
        let search_data = cli.data.clone();
        let metrics_token = config.metrics.token.clone();
        let config_state_url = config.state.url.clone();
        let state_url = state::url(
            &cli.data,
            cli.state_url.as_deref(),
            config_state_url.is_set().then(|| config_state_url.expose()),
        );
        if state_url.starts_with("sqlite:") {
            std::fs::create_dir_all(cli.data.join("state"))
                .with_context(|| format!("creating {}", cli.data.join("state").display()))?;
        }
        let store = custos_server::store::StoreService::start(journal.clone(), &state_url)
            .await
            .with_context(|| {
                format!(
                    "opening the state database {}",
                    custos_store::redact_url(&state_url)
                )
            })?;
        let inbox = std::sync::Arc::new(config.inbox.clone());
        let state = tokio::task::spawn_blocking(move || -> Result<_> {
            let mut state =
                custos_server::AppState::new(journal_for_state.clone(), whatsapp, media)?;
            state.redaction = redaction;
            state.inbox = inbox;
            state.twilio = std::sync::Arc::new(custos_server::twilio::Twilio::open(
                &journal_for_state,
                twilio,
                opt_out_keywords.clone(),
                custos_server::media::Retry::default(),
            )?);
            let enrolment = custos_server::enrolment::Enrolment::from_journal(
                &journal_for_state,
                require_enrolment,
            )?;
            if enrolment.required() {
                eprintln!(
                    "capture requires enrolment: {} custodian number(s) enrolled; others are journalled as capture.refused",
                    enrolment.enrolled()
                );
            }
            state.enrolment = std::sync::Arc::new(enrolment);
            state.confirmations = std::sync::Arc::new(confirmations);
            let mut supervisor = supervision::open_supervisor(&journal_for_state)?;
            supervisor.set_opt_out_keywords(opt_out_keywords);
            let index = search::open_index(&search_data, &journal_for_state)?;
            let search = custos_server::search::SearchService::start(
                journal_for_state.clone(),
                index,
                search::people(&journal_for_state)?,
                Some(search_data.join("exports")),
            );
            let supervision = custos_server::supervision::Supervision::start(
                journal_for_state,
                supervisor,
                notifier,
                Some(state.parties.clone()),
            )?;
            let auth = custos_auth::Auth::load(state.journal.clone(), Default::default())?;
            // Users, tokens, revocations and sessions journalled by other
            // nodes (and the CLI beside them) hold here too. An embedded
            // archive has no other writer while it serves (the data
            // directory's lock).
            if state.journal.is_cluster() {
                auth.follow(std::time::Duration::from_millis(250));
            }
            let users = auth.with_users_read(|u| u.users().filter(|u| !u.disabled).count());
            if users == 0 {
                eprintln!(
                    "no users: every /api/v1 request will be refused until `custos user add`"
                );
            }
            let mut state = if metrics_token.is_set() {
                state.with_metrics_token(metrics_token)
            } else {
                state
            };
            state.oidc = oidc;
            Ok(state
                .with_supervision(supervision)
                .with_search(search)
                .with_store(store)
                .with_auth(auth))
        })
        .await??;
        // What other nodes and the CLI append reaches the sending rules,
        // the enrolment check and search's custodians (stops when dropped,
        // after serving); an embedded archive has no other writer.
        let _follower = journal
            .is_cluster()
            .then(|| custos_server::follow::Follower::new(&state).start());
        if let Some(smtp) = smtp_listen {
            let smtp_listener = tokio::net::TcpListener::bind(smtp)
                .await
                .with_context(|| format!("listening for SMTP on {smtp}"))?;
            eprintln!(
                "custos accepting journaled e-mail on smtp://{}",
                smtp_listener.local_addr()?
            );
            tokio::spawn(custos_server::smtp::serve_smtp(
                smtp_listener,
                journal.clone(),
                firm_domains.to_vec(),
                shutdown_signal(),
            ));
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        eprintln!(
            "custos serving {} on {}://{}",
            cli.data.display(),
            if tls_config.is_some() { "https" } else { "http" },
            listener.local_addr()?
        );
        announce(listener.local_addr()?)?;
        match tls_config {
            Some(tls_config) => {
                custos_server::tls::serve_tls(
                    listener.into_std()?,
                    state,
                    tls_config,
                    shutdown_signal(),
                )
                .await?
            }
            None => custos_server::serve(listener, state, shutdown_signal()).await?,
        }
        anyhow::Ok(())
    })?;
    drop(retention_schedule);
    drop(worm_sync);
    journal.close()?;
    Ok(())
}

/// Key ids as a comma-separated list, for messages.
fn join_ids(ids: &[custos_journal::KeyId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Checks the whole file, then appends it in durable batches, and records
/// the import (`import.jsonl`: counts, including the lines that named a
/// record already archived, which a re-import never replaces).
fn ingest(journal: &Journal, actor: &str, file: &Path, out: &mut impl Write) -> Result<()> {
    let report = ingest_file(journal, file, out)?;
    let mut details = serde_json::Map::new();
    details.insert("messages".into(), report.messages.into());
    details.insert("archived".into(), report.added.into());
    details.insert("duplicates".into(), report.duplicates.into());
    if report.duplicates > 0 {
        details.insert(
            "duplicates_rule".into(),
            "a record already archived (same channel and id) stands; the new line was not stored"
                .into(),
        );
    }
    journal.append_system(
        actor,
        "import.jsonl",
        Some(&file.display().to_string()),
        details,
    )?;
    Ok(())
}

fn ingest_file(
    journal: &Journal,
    file: &Path,
    out: &mut impl Write,
) -> Result<custos_capture::jsonl::ImportReport> {
    let name = file.display().to_string();
    let reader = || -> Result<Box<dyn std::io::BufRead>> {
        Ok(if file == Path::new("-") {
            Box::new(BufReader::new(std::io::stdin()))
        } else {
            Box::new(BufReader::new(
                File::open(file).with_context(|| format!("opening {name}"))?,
            ))
        })
    };
    if file == Path::new("-") {
        // Standard input can be read only once: buffer it to check first.
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut reader()?, &mut all)?;
        check(&name, &all[..])?;
        let report = custos_capture::jsonl::append(journal, &all[..], &mut |_| {})?;
        summarise(&name, &report, out)?;
        return Ok(report);
    }
    check(&name, reader()?)?;
    let total = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    let bar = progress::bytes(total);
    let report =
        custos_capture::jsonl::append(journal, reader()?, &mut |bytes| bar.set_position(bytes))
            .with_context(|| format!("importing {name}"))?;
    bar.finish_and_clear();
    summarise(&name, &report, out)?;
    Ok(report)
}

fn check(name: &str, input: impl std::io::BufRead) -> Result<()> {
    match custos_capture::jsonl::check(input) {
        Ok(_) => Ok(()),
        Err(custos_capture::jsonl::Error::Invalid(errors)) => {
            for e in &errors {
                eprintln!("{name}:{e}");
            }
            bail!(
                "{name}: {} invalid line(s) shown above; nothing was imported",
                errors.len()
            )
        }
        Err(e) => Err(e).with_context(|| format!("reading {name}")),
    }
}

fn summarise(
    name: &str,
    report: &custos_capture::jsonl::ImportReport,
    out: &mut impl Write,
) -> Result<()> {
    writeln!(
        out,
        "{name}: {} messages read, {} archived, {} already in the archive",
        report.messages, report.added, report.duplicates
    )?;
    Ok(())
}

/// Prints entries and records the read as an audit event.
fn log(
    journal: &Journal,
    actor: &str,
    json: bool,
    from: u64,
    limit: Option<u64>,
    out: &mut impl Write,
) -> Result<()> {
    let end = journal.size();
    let (media, linked) = media_outcomes(journal)?;
    let mut printed = 0u64;
    let mut last = None;
    let mut result = Ok(());
    for entry in journal.entries(from) {
        if limit.is_some_and(|l| printed >= l) {
            break;
        }
        let entry = entry?;
        let opened = journal.open_entry(&entry)?;
        let status = media_status(&opened, &media);
        let links = linked.get(&entry.leaf.seq).map_or(&[][..], Vec::as_slice);
        let line = if json {
            json_line(&entry, &opened, status, links)?
        } else {
            let mut line = text_line(&entry, &opened);
            if let Some(status) = status {
                line.push_str(&format!(" [media {status}]"));
            }
            if !links.is_empty() {
                line.push_str(&format!(" [+{} attachment(s) linked later]", links.len()));
            }
            line
        };
        last = Some(entry.leaf.seq);
        printed += 1;
        if let Err(e) = writeln!(out, "{line}") {
            result = Err(e);
            break;
        }
    }
    if let Some(last) = last {
        let mut details = serde_json::Map::new();
        details.insert("command".into(), "log".into());
        details.insert("from_seq".into(), from.into());
        details.insert("to_seq".into(), last.into());
        details.insert("entries".into(), printed.into());
        details.insert("journal_size".into(), end.into());
        journal.append_system(actor, "content.read", Some("journal"), details)?;
    }
    Ok(result?)
}

/// What became of each WhatsApp message's media, by wamid, and the
/// attachments a later export linked to messages (by entry), from the
/// `whatsapp.media.*` events (only system entries are opened).
type MediaOutcomes = std::collections::HashMap<String, &'static str>;
type LinkedAttachments = std::collections::HashMap<u64, Vec<serde_json::Value>>;

fn media_outcomes(journal: &Journal) -> Result<(MediaOutcomes, LinkedAttachments)> {
    let mut outcomes = MediaOutcomes::new();
    let mut linked = LinkedAttachments::new();
    for entry in journal.entries(0) {
        let entry = entry?;
        if entry.leaf.kind != custos_model::EventKind::System {
            continue;
        }
        if let Opened::Event(Event::System(s)) = journal.open_entry(&entry)? {
            if s.action == import_export::ATTACHMENT_ACTION {
                if let (Some(seq), Some(attachment)) = (
                    s.details.get("message_seq").and_then(|v| v.as_u64()),
                    s.details.get("attachment"),
                ) {
                    linked.entry(seq).or_default().push(attachment.clone());
                }
                continue;
            }
            let status = match s.action.as_str() {
                "whatsapp.media.fetched" => "fetched",
                "whatsapp.media.failed" => "failed",
                "whatsapp.media.retry" => "retrying",
                _ => continue,
            };
            let Some(wamid) = s.target else { continue };
            let current = outcomes.entry(wamid).or_insert(status);
            // Fetched is final; failed beats retrying.
            if *current != "fetched" && (status == "fetched" || status == "failed") {
                *current = status;
            }
        }
    }
    Ok((outcomes, linked))
}

/// For a WhatsApp message whose media is downloaded through the Graph API:
/// pending, retrying, fetched or failed.
fn media_status(
    opened: &Opened,
    outcomes: &std::collections::HashMap<String, &'static str>,
) -> Option<&'static str> {
    let Opened::Event(Event::Message(m)) = opened else {
        return None;
    };
    let fetchable = m.channel == "whatsapp"
        && !m.attachments.is_empty()
        && m.extra
            .get("whatsapp")
            .and_then(|w| {
                w.get("type")
                    .and_then(|t| t.as_str())
                    .and_then(|t| w.get(t))
            })
            .and_then(|o| o.get("id"))
            .is_some();
    fetchable.then(|| outcomes.get(&m.source_id).copied().unwrap_or("pending"))
}

fn json_line(
    entry: &StoredEntry,
    opened: &Opened,
    media_status: Option<&str>,
    linked: &[serde_json::Value],
) -> Result<String> {
    let mut obj = serde_json::Map::new();
    obj.insert("seq".into(), entry.leaf.seq.into());
    obj.insert(
        "recorded_at".into(),
        entry.leaf.recorded_at.to_string().into(),
    );
    match opened {
        Opened::Event(event) => {
            let serde_json::Value::Object(fields) = serde_json::to_value(event)? else {
                bail!("event did not serialise to an object");
            };
            obj.extend(fields);
        }
        Opened::Shredded(at) => {
            obj.insert("kind".into(), entry.leaf.kind.name().into());
            obj.insert("shredded_at".into(), at.to_string().into());
        }
    }
    if let Some(status) = media_status {
        obj.insert("media_status".into(), status.into());
    }
    if !linked.is_empty() {
        obj.insert("linked_attachments".into(), linked.to_vec().into());
    }
    Ok(serde_json::to_string(&obj)?)
}

fn text_line(entry: &StoredEntry, opened: &Opened) -> String {
    let head = format!(
        "{:>7}  {}  {:<8}",
        entry.leaf.seq,
        entry.leaf.recorded_at,
        entry.leaf.kind.name()
    );
    let body = match opened {
        Opened::Shredded(at) => format!("[content destroyed {at}]"),
        Opened::Event(Event::Message(m)) => {
            let direction = serde_json::to_value(m.direction).unwrap_or_default();
            let mut s = format!(
                "{} {} {} -> {} [{}] {}",
                m.channel,
                m.sent_at,
                m.sender,
                m.recipients.join(","),
                direction.as_str().unwrap_or("unknown"),
                one_line(m.text.as_deref().unwrap_or(""))
            );
            for a in &m.attachments {
                s.push_str(&format!(
                    " <{} {} B>",
                    a.name.as_deref().unwrap_or(&a.media_type),
                    a.size
                ));
            }
            s
        }
        Opened::Event(Event::Edit(e)) => {
            format!(
                "{} {} edited {}: {}",
                e.channel,
                e.editor,
                e.target,
                one_line(&e.text)
            )
        }
        Opened::Event(Event::Deletion(d)) => {
            format!("{} {} deleted {}", d.channel, d.deleted_by, d.target)
        }
        Opened::Event(Event::Reaction(r)) => format!(
            "{} {} reacted {} to {}",
            r.channel,
            r.sender,
            r.emoji.as_deref().unwrap_or("(removed)"),
            r.target
        ),
        Opened::Event(Event::Status(s)) => format!(
            "{} {} {:?} for {}",
            s.channel, s.target, s.state, s.recipient
        ),
        Opened::Event(Event::Consent(c)) => {
            format!("{} {} {:?}: {}", c.channel, c.party, c.state, c.evidence)
        }
        Opened::Event(Event::Raw(r)) => format!(
            "{} {} bytes of {} (sha256 {})",
            r.source,
            r.bytes.len(),
            r.media_type,
            custos_model::Digest::of(&r.bytes)
        ),
        Opened::Event(Event::System(s)) => {
            format!(
                "{} {} {}",
                s.actor,
                s.action,
                s.target.as_deref().unwrap_or("")
            )
        }
    };
    format!("{head}  {body}")
}

/// Midnight UTC of a `YYYY-MM-DD` date given as option `what`.
fn day_start(text: &str, what: &str) -> Result<custos_model::Timestamp> {
    let date: jiff::civil::Date = text
        .parse()
        .with_context(|| format!("{what} {text:?}: expected a date as YYYY-MM-DD"))?;
    let t = jiff::tz::TimeZone::UTC
        .to_ambiguous_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
        .compatible()?;
    Ok(custos_model::Timestamp::from_micros(t.as_microsecond()))
}

/// Says how many alerts a capture raised.
fn report_alerts(raised: usize, out: &mut impl Write) -> Result<()> {
    if raised > 0 {
        writeln!(out, "{raised} new alerts (custos alerts)")?;
    }
    Ok(())
}

/// The messages of `conversation` around entry `seq`: up to `context`
/// before and after it, in journal order.
fn conversation_around(
    journal: &Journal,
    seq: u64,
    conversation: &str,
    context: usize,
) -> Result<Vec<(u64, custos_model::Message)>> {
    let mut before = std::collections::VecDeque::new();
    let mut found = None;
    let mut after = Vec::new();
    for entry in journal.entries(0) {
        let entry = entry?;
        if entry.leaf.kind != custos_model::EventKind::Message {
            continue;
        }
        let Opened::Event(Event::Message(m)) = journal.open_entry(&entry)? else {
            continue;
        };
        if m.conversation != conversation {
            continue;
        }
        let s = entry.leaf.seq;
        if s == seq {
            found = Some((s, m));
        } else if found.is_none() {
            before.push_back((s, m));
            if before.len() > context {
                before.pop_front();
            }
        } else {
            after.push((s, m));
            if after.len() >= context {
                break;
            }
        }
    }
    let mut all: Vec<_> = before.into_iter().collect();
    all.extend(found);
    all.extend(after);
    Ok(all)
}

/// Keeps one entry on one line: line breaks show as `⏎`.
fn one_line(text: &str) -> String {
    text.replace("\r\n", " ⏎ ").replace(['\n', '\r'], " ⏎ ")
}
