//! Verification throughput against plain SHA-256 of the same bytes.

use crate::workload;
use anyhow::{Context, Result};
use custos_journal::{Journal, NewEntry, SEGMENTS_DIR};
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Entries per `append_all` request while building the archive.
const BATCH: u64 = 1_024;

/// The segment files of the archive in `dir`, in order, with their sizes.
pub fn segments(dir: &Path) -> Result<Vec<(PathBuf, u64)>> {
    let seg_dir = dir.join(SEGMENTS_DIR);
    let mut out = Vec::new();
    for item in std::fs::read_dir(&seg_dir).with_context(|| seg_dir.display().to_string())? {
        let path = item?.path();
        if path.extension().is_some_and(|e| e == "seg") {
            let len = std::fs::metadata(&path)?.len();
            out.push((path, len));
        }
    }
    out.sort();
    Ok(out)
}

/// Builds an archive in `dir` of at least `target_bytes` of segments,
/// from workload messages numbered from `first`, with `append_all`
/// batches sent from one thread per core. Returns the entries it holds.
pub fn build_archive(dir: &Path, first: u64, target_bytes: u64) -> Result<u64> {
    let journal = Journal::init(dir, None, "custos-bench")?;
    let batch = |from: u64, n: u64| -> Result<()> {
        let entries: Vec<NewEntry> = (from..from + n)
            .map(|i| {
                let r = workload::record(i);
                NewEntry {
                    event: r.event,
                    subject: Some(r.subject),
                }
            })
            .collect();
        let appended = journal.append_all(&entries)?;
        anyhow::ensure!(
            appended.iter().all(|a| !a.duplicate),
            "a message was taken for a duplicate"
        );
        Ok(())
    };
    // One batch first, to learn the bytes an entry takes on disk.
    batch(first, BATCH)?;
    let written: u64 = segments(dir)?.iter().map(|(_, len)| len).sum();
    let per_entry = (written / journal.size()).max(1);
    let total = target_bytes.div_ceil(per_entry).max(BATCH);
    let next = AtomicU64::new(first + BATCH);
    let end = first + total;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| -> Result<()> {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    loop {
                        let from = next.fetch_add(BATCH, Ordering::Relaxed);
                        if from >= end {
                            return Ok(());
                        }
                        batch(from, BATCH.min(end - from))?;
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("builder thread panicked")?;
        }
        Ok(())
    })?;
    let size = journal.size();
    journal.close()?;
    Ok(size)
}

/// Times `f` `rounds` times and keeps the fastest.
fn best<T>(rounds: usize, mut f: impl FnMut() -> Result<T>) -> Result<(Duration, T)> {
    let mut best: Option<(Duration, T)> = None;
    for _ in 0..rounds.max(1) {
        let start = Instant::now();
        let out = f()?;
        let took = start.elapsed();
        if best.as_ref().is_none_or(|(b, _)| took < *b) {
            best = Some((took, out));
        }
    }
    Ok(best.expect("at least one round"))
}

/// Throughputs measured over one archive, in bytes per second.
pub struct Throughputs {
    /// Bytes of segment files each pass reads.
    pub bytes: u64,
    /// Entries `verify` checked.
    pub entries: u64,
    /// `custos_journal::verify`, reading the files itself.
    pub verify: f64,
    /// SHA-256 (sha2) of each file streamed through a 1 MiB buffer, one
    /// thread.
    pub sha256: f64,
    /// SHA-256 (sha2) of bytes already in memory, one thread: the limit.
    pub sha256_in_memory: f64,
    /// `sha256sum` over the files, if the command runs.
    pub sha256sum: Option<f64>,
    /// `openssl dgst -sha256` over the files, if the command runs.
    pub openssl: Option<f64>,
}

fn command_rate(
    program: &str,
    args: &[&str],
    files: &[PathBuf],
    bytes: u64,
    rounds: usize,
) -> Option<f64> {
    let run = || -> Result<()> {
        let status = Command::new(program)
            .args(args)
            .args(files)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "{program} failed: {status}");
        Ok(())
    };
    let (took, ()) = best(rounds, run).ok()?;
    Some(bytes as f64 / took.as_secs_f64())
}

/// Measures verification of the archive in `dir` against hashing its
/// segment files' bytes. Every contender reads the files (from the page
/// cache: the archive was just written and one untimed pass warms it), so
/// reading is included in all of them. Each is timed `rounds` times
/// (verify and sha2 taking turns), keeping the fastest.
pub fn measure(dir: &Path, rounds: usize) -> Result<Throughputs> {
    let files: Vec<PathBuf> = segments(dir)?.into_iter().map(|(p, _)| p).collect();
    // The peer streams each file through one reused buffer, as sha256sum
    // and openssl do: the fastest way to read and hash the bytes.
    let mut buf = vec![0u8; 1 << 20];
    let mut hash_files = || -> Result<u64> {
        let mut bytes = 0u64;
        for f in &files {
            let mut file = File::open(f).with_context(|| f.display().to_string())?;
            let mut hasher = Sha256::new();
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                bytes += n as u64;
            }
            std::hint::black_box(hasher.finalize());
        }
        Ok(bytes)
    };
    // Warm the page cache and check the archive once, untimed.
    let report = custos_journal::verify(dir, None)?;
    hash_files()?;
    let mut verify_time = Duration::MAX;
    let mut sha_time = Duration::MAX;
    let mut bytes = 0;
    for _ in 0..rounds.max(1) {
        let start = Instant::now();
        let checked = custos_journal::verify(dir, None)?;
        verify_time = verify_time.min(start.elapsed());
        let start = Instant::now();
        bytes = hash_files()?;
        sha_time = sha_time.min(start.elapsed());
        anyhow::ensure!(
            checked.bytes == bytes && checked.entries == report.entries,
            "verify read {} bytes of {} entries, the files hold {bytes} bytes of {}",
            checked.bytes,
            checked.entries,
            report.entries
        );
    }
    // The machine's limit: hashing bytes already in memory (the first
    // segment), no reading.
    let first = std::fs::read(&files[0])?;
    let mut memory_time = Duration::MAX;
    for _ in 0..rounds.max(1) {
        let start = Instant::now();
        std::hint::black_box(Sha256::digest(&first));
        memory_time = memory_time.min(start.elapsed());
    }
    Ok(Throughputs {
        sha256_in_memory: first.len() as f64 / memory_time.as_secs_f64(),
        bytes,
        entries: report.entries,
        verify: bytes as f64 / verify_time.as_secs_f64(),
        sha256: bytes as f64 / sha_time.as_secs_f64(),
        sha256sum: command_rate("sha256sum", &[], &files, bytes, rounds),
        openssl: command_rate("openssl", &["dgst", "-sha256"], &files, bytes, rounds),
    })
}
