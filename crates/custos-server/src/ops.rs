//! Operations: `/healthz`, `/readyz` and the Prometheus `/metrics`.
//!
//! `/healthz` answers 200 while the process serves. `/readyz` answers 200
//! only when the journal's writer has not stopped and its directory takes
//! a new file, the projections (search index, supervisor) are within
//! [`READY_LAG`] entries of the journal, and the supervisor thread has
//! made a pass within [`SUPERVISOR_STALE`]; otherwise 503 problem+json
//! naming every reason.
//!
//! `/metrics` is the Prometheus text format (0.0.4), written here by hand:
//! the few counters live in [`Metrics`] (one per server, so tests in one
//! process do not share a global recorder) and every gauge is read from the
//! archive at scrape time. It needs the scraper's own token
//! (`Authorization: Bearer`, compared in constant time); with no token
//! configured the route answers 404, as if absent. No label ever carries
//! content or personal data: sources, reasons, severities only.

use crate::{AppState, Problem};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many entries a projection may trail the journal and still be ready.
pub const READY_LAG: u64 = 10_000;
/// How long the supervisor may go without a pass and still be ready (it
/// makes one at least every second).
pub const SUPERVISOR_STALE: Duration = Duration::from_secs(30);

/// Upper bounds (seconds) of the ingest-lag histogram's buckets.
const LAG_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// The server's counters (the gauges are read at scrape time).
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Counters>,
    token: Option<crate::Secret>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

#[derive(Default)]
struct Counters {
    appended: BTreeMap<&'static str, u64>,
    failures: BTreeMap<(&'static str, &'static str), u64>,
    lag_buckets: [u64; LAG_BUCKETS.len()],
    lag_count: u64,
    lag_sum: f64,
}

impl Metrics {
    /// Counters with `/metrics` behind `token` (`None` or empty: no route).
    pub fn new(token: Option<crate::Secret>) -> Metrics {
        Metrics {
            inner: Mutex::default(),
            token: token.filter(|t| t.is_set()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts `n` new (not duplicate) entries made durable from `source`.
    pub fn appended(&self, source: &'static str, n: usize) {
        *self.lock().appended.entry(source).or_default() += n as u64;
    }

    /// Counts a webhook delivery refused or failed, by source and reason.
    pub fn webhook_failed(&self, source: &'static str, reason: &'static str) {
        *self.lock().failures.entry((source, reason)).or_default() += 1;
    }

    /// Records the time from a delivery's arrival to its durable answer.
    pub fn ingest_lag(&self, lag: Duration) {
        let secs = lag.as_secs_f64();
        let mut c = self.lock();
        for (i, bound) in LAG_BUCKETS.iter().enumerate() {
            if secs <= *bound {
                c.lag_buckets[i] += 1;
            }
        }
        c.lag_count += 1;
        c.lag_sum += secs;
    }

    /// Whether `presented` is the scraper's token (constant time).
    fn admits(&self, headers: &HeaderMap) -> Option<bool> {
        let token = self.token.as_ref()?;
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        Some(crate::whatsapp::equal_in_constant_time(
            presented.as_bytes(),
            token.expose().as_bytes(),
        ))
    }
}

/// `GET /healthz`: the process is alive.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// What the archive looks like at one instant, for readiness and metrics.
struct Snapshot {
    entries: u64,
    journal_bytes: u64,
    writer_failure: Option<String>,
    writable: Result<(), String>,
    search_position: Option<u64>,
    supervisor: Option<SupervisorView>,
}

struct SupervisorView {
    cursor: u64,
    since_pass: Option<Duration>,
    open_by_severity: BTreeMap<String, u64>,
}

fn snapshot(state: &AppState) -> Snapshot {
    let journal = &state.journal;
    let entries = journal.size();
    let journal_bytes = std::fs::read_dir(journal.dir().join("journal"))
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    // A file created and removed beside the projections' state: the disk
    // takes writes (the journal's own writer is checked separately).
    let probe = journal.dir().join("state").join(".readyz-probe");
    let writable = std::fs::create_dir_all(journal.dir().join("state"))
        .and_then(|()| std::fs::write(&probe, b"ok"))
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| format!("the data directory does not take writes: {e}"));
    let supervisor = state.supervision.as_ref().map(|s| {
        let since_pass = s.since_last_pass();
        s.with(|sup| {
            let mut open_by_severity = BTreeMap::new();
            for a in sup.state.alerts.values().filter(|a| a.is_open()) {
                *open_by_severity
                    .entry(a.raised.severity.to_string())
                    .or_insert(0) += 1;
            }
            SupervisorView {
                cursor: sup.cursor(),
                since_pass,
                open_by_severity,
            }
        })
    });
    Snapshot {
        entries,
        journal_bytes,
        writer_failure: journal.writer_failure(),
        writable,
        search_position: state.search.as_ref().map(|s| s.index().position()),
        supervisor,
    }
}

impl Snapshot {
    /// Why the server is not ready (empty: ready).
    fn not_ready(&self) -> Vec<String> {
        let mut why = Vec::new();
        if let Some(f) = &self.writer_failure {
            why.push(format!("the journal writer stopped: {f}"));
        }
        if let Err(e) = &self.writable {
            why.push(e.clone());
        }
        if let Some(p) = self.search_position {
            let lag = self.entries.saturating_sub(p);
            if lag > READY_LAG {
                why.push(format!(
                    "the search index is {lag} entries behind the journal (at most {READY_LAG})"
                ));
            }
        }
        if let Some(s) = &self.supervisor {
            let lag = self.entries.saturating_sub(s.cursor);
            if lag > READY_LAG {
                why.push(format!(
                    "supervision is {lag} entries behind the journal (at most {READY_LAG})"
                ));
            }
            match s.since_pass {
                None => why.push("the supervisor has not made a pass yet".into()),
                Some(d) if d > SUPERVISOR_STALE => {
                    why.push(format!("the supervisor has not run for {}s", d.as_secs()))
                }
                Some(_) => {}
            }
        }
        why
    }
}

async fn take_snapshot(state: &AppState) -> Result<Snapshot, Problem> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || snapshot(&state))
        .await
        .map_err(|e| Problem::internal(&e))
}

/// `GET /readyz`: 200 when ready, else 503 problem+json with `reasons`.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let snap = match take_snapshot(&state).await {
        Ok(s) => s,
        Err(p) => return p.into_response(),
    };
    let why = snap.not_ready();
    if why.is_empty() {
        return "ready\n".into_response();
    }
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "not ready", why.join("; "))
        .with("reasons", why.into())
        .into_response()
}

/// `GET /metrics`: the Prometheus text (404 without a configured token,
/// 401 with a wrong one).
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match state.metrics.admits(&headers) {
        None => return StatusCode::NOT_FOUND.into_response(),
        Some(false) => {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer realm=\"custos-metrics\"")],
            )
                .into_response();
        }
        Some(true) => {}
    }
    let snap = match take_snapshot(&state).await {
        Ok(s) => s,
        Err(p) => return p.into_response(),
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&state.metrics, &snap),
    )
        .into_response()
}

fn render(metrics: &Metrics, snap: &Snapshot) -> String {
    let c = metrics.lock();
    let mut out = String::new();
    let head = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    head(
        &mut out,
        "custos_ingest_entries_total",
        "counter",
        "New entries made durable, by capture source.",
    );
    for (source, n) in &c.appended {
        let _ = writeln!(
            out,
            "custos_ingest_entries_total{{source=\"{source}\"}} {n}"
        );
    }
    head(
        &mut out,
        "custos_ingest_lag_seconds",
        "histogram",
        "Time from a delivery's arrival to its durable answer.",
    );
    for (bound, n) in LAG_BUCKETS.iter().zip(c.lag_buckets) {
        let _ = writeln!(
            out,
            "custos_ingest_lag_seconds_bucket{{le=\"{bound}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "custos_ingest_lag_seconds_bucket{{le=\"+Inf\"}} {}\ncustos_ingest_lag_seconds_sum {}\ncustos_ingest_lag_seconds_count {}",
        c.lag_count, c.lag_sum, c.lag_count
    );
    head(
        &mut out,
        "custos_webhook_failures_total",
        "counter",
        "Webhook deliveries refused or failed, by source and reason.",
    );
    for ((source, reason), n) in &c.failures {
        let _ = writeln!(
            out,
            "custos_webhook_failures_total{{source=\"{source}\",reason=\"{reason}\"}} {n}"
        );
    }
    head(
        &mut out,
        "custos_journal_entries",
        "gauge",
        "Entries in the journal.",
    );
    let _ = writeln!(out, "custos_journal_entries {}", snap.entries);
    head(
        &mut out,
        "custos_journal_bytes",
        "gauge",
        "Bytes of the journal's segment files.",
    );
    let _ = writeln!(out, "custos_journal_bytes {}", snap.journal_bytes);
    head(
        &mut out,
        "custos_projection_lag_entries",
        "gauge",
        "Entries a projection trails the journal by.",
    );
    if let Some(p) = snap.search_position {
        let _ = writeln!(
            out,
            "custos_projection_lag_entries{{projection=\"search\"}} {}",
            snap.entries.saturating_sub(p)
        );
    }
    if let Some(s) = &snap.supervisor {
        let _ = writeln!(
            out,
            "custos_projection_lag_entries{{projection=\"supervision\"}} {}",
            snap.entries.saturating_sub(s.cursor)
        );
    }
    head(
        &mut out,
        "custos_alerts_open",
        "gauge",
        "Open alerts, by severity.",
    );
    if let Some(s) = &snap.supervisor {
        for (severity, n) in &s.open_by_severity {
            let _ = writeln!(out, "custos_alerts_open{{severity=\"{severity}\"}} {n}");
        }
    }
    head(
        &mut out,
        "custos_ready",
        "gauge",
        "1 when /readyz would answer 200.",
    );
    let _ = writeln!(
        out,
        "custos_ready {}",
        u8::from(snap.not_ready().is_empty())
    );
    out
}

/// Counts webhook outcomes: a success's latency is the ingest lag (the
/// webhooks answer only once durable); a refusal counts as a failure by
/// its source and a reason read from the status.
pub async fn count_webhooks(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let source = match req.extensions().get::<MatchedPath>().map(|m| m.as_str()) {
        Some("/webhooks/whatsapp") => "whatsapp",
        Some("/webhooks/twilio") => "twilio",
        _ => "other",
    };
    let is_delivery = req.method() == axum::http::Method::POST;
    let started = Instant::now();
    let response = next.run(req).await;
    if !is_delivery {
        return response;
    }
    let status = response.status();
    if status.is_success() {
        state.metrics.ingest_lag(started.elapsed());
    } else {
        state.metrics.webhook_failed(source, failure_reason(status));
    }
    response
}

/// A short, fixed reason for a refused delivery.
fn failure_reason(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 422 => "malformed",
        401 | 403 => "signature",
        413 => "too_large",
        415 => "media_type",
        503 => "unavailable",
        500..=599 => "internal",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::new(None);
        m.ingest_lag(Duration::from_millis(3));
        m.ingest_lag(Duration::from_secs(2));
        let c = m.lock();
        assert_eq!(c.lag_buckets[0], 0);
        assert_eq!(c.lag_buckets[2], 1, "3 ms is within 5 ms");
        assert_eq!(c.lag_buckets[9], 2, "2 s is within 5 s");
        assert_eq!(c.lag_count, 2);
    }

    #[test]
    fn reasons_name_the_refusal() {
        assert_eq!(failure_reason(StatusCode::UNAUTHORIZED), "signature");
        assert_eq!(failure_reason(StatusCode::BAD_REQUEST), "malformed");
        assert_eq!(
            failure_reason(StatusCode::SERVICE_UNAVAILABLE),
            "unavailable"
        );
    }
}
