//! Supervision inside the server: a thread that evaluates every commit
//! against the active policies within moments of capture, records opt-out
//! keywords as consent changes (and tells the sending rules at once), hands
//! alerts to the notifier, checks outbound text before it is sent (pre-send
//! blocking), and the alert and policy API.
//!
//! API (JSON; errors are problem+json; the acting user is the signed-in
//! principal; alerts on messages outside their scope do not exist for them: 404):
//! - `GET  /api/v1/alerts?all=true` — the queue, most serious and oldest first;
//! - `GET  /api/v1/alerts/{id}?reason=` — one alert with its message text (an audited read: `content.read` with who and why);
//! - `POST /api/v1/alerts/{id}/actions` — `{"action": "assign"|"comment"|"escalate"|"close", "to", "text", "disposition"}`;
//! - `GET  /api/v1/policies` — policies and versions;
//! - `POST /api/v1/policies` — a policy's TOML text; 201 with its new version, 200 if unchanged.

use crate::{AppState, Problem};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use custos_auth::Principal;
use custos_journal::{Journal, Opened};
use custos_model::{Direction, Timestamp};
use custos_notify::{AlertNotice, Notifier};
use custos_policy::{Action, Document, Engine};
use custos_review::policies::Load;
use custos_review::review::{self, Action as ReviewStep};
use custos_review::{Alert, Disposition, Raised, Supervisor};
use serde::Deserialize;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Supervision shared by the handlers and the supervisor thread.
#[derive(Clone)]
pub struct Supervision {
    inner: Arc<Inner>,
}

/// The active policies' compiled engine, swapped when a policy loads.
pub type SharedEngine = Arc<RwLock<Arc<Engine>>>;

struct Inner {
    supervisor: Mutex<Supervisor>,
    /// The active policies, for pre-send checks without waiting on a pass.
    engine: SharedEngine,
    wake: Mutex<mpsc::Sender<()>>,
    notifier: Option<Notifier>,
    /// The sending rules' view, told of keyword opt-outs at once.
    parties: Option<crate::outbound::SharedParties>,
    /// When the supervisor thread last finished a pass (for `/readyz`).
    last_pass: Mutex<Option<std::time::Instant>>,
    /// The supervisor's engine generation the shared engine was made at.
    generation: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Supervision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Supervision")
    }
}

impl Supervision {
    /// Starts the supervisor thread over `journal`: it catches up at once,
    /// then after every [`Supervision::wake`] (and every second).
    pub fn start(
        journal: Journal,
        supervisor: Supervisor,
        notifier: Option<Notifier>,
        parties: Option<crate::outbound::SharedParties>,
    ) -> Result<Supervision, custos_review::supervisor::SuperviseError> {
        let engine = Arc::new(Engine::compile(&custos_review::policies::active(
            &supervisor.state,
        )?)?);
        let (tx, rx) = mpsc::channel();
        let generation = supervisor.generation().into();
        let this = Supervision {
            inner: Arc::new(Inner {
                supervisor: Mutex::new(supervisor),
                engine: Arc::new(RwLock::new(engine)),
                wake: Mutex::new(tx),
                notifier,
                parties,
                last_pass: Mutex::new(None),
                generation,
            }),
        };
        let weak = Arc::downgrade(&this.inner);
        std::thread::Builder::new()
            .name("custos-supervisor".into())
            .spawn(move || {
                loop {
                    let Some(inner) = weak.upgrade() else { return };
                    let this = Supervision { inner };
                    this.pass(&journal);
                    *this
                        .inner
                        .last_pass
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now());
                    drop(this);
                    match rx.recv_timeout(Duration::from_secs(1)) {
                        Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                        Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                    while rx.try_recv().is_ok() {}
                }
            })
            .expect("spawning the supervisor thread");
        Ok(this)
    }

    /// How long since the supervisor thread last finished a pass (`None`:
    /// not yet).
    pub fn since_last_pass(&self) -> Option<Duration> {
        self.inner
            .last_pass
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map(|at| at.elapsed())
    }

    /// Asks the supervisor thread for a pass now (after a commit).
    pub fn wake(&self) {
        let _ = self.lock_wake().send(());
    }

    fn lock_wake(&self) -> std::sync::MutexGuard<'_, mpsc::Sender<()>> {
        self.inner.wake.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` with the supervisor locked.
    pub fn with<R>(&self, f: impl FnOnce(&mut Supervisor) -> R) -> R {
        let mut guard = self
            .inner
            .supervisor
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// One pass: evaluate what arrived, save the position, notify.
    fn pass(&self, journal: &Journal) {
        self.with(|sup| self.refresh(sup, journal));
    }

    /// Reads what arrived into `sup` (with the supervisor locked by the
    /// caller), evaluates it, saves the position and notifies.
    fn refresh(&self, sup: &mut Supervisor, journal: &Journal) {
        let raised = sup.catch_up(journal);
        // A policy loaded elsewhere (another node, the CLI) is in force
        // here too: for judging, and for the pre-send check.
        if sup.stale()
            && let Err(e) = sup.recompile(journal)
        {
            tracing::error!(error = %e, "compiling the policies in force");
        }
        let generation = sup.generation();
        if self
            .inner
            .generation
            .swap(generation, std::sync::atomic::Ordering::SeqCst)
            != generation
        {
            match custos_review::policies::active(&sup.state)
                .map_err(|e| e.to_string())
                .and_then(|active| Engine::compile(&active).map_err(|e| e.to_string()))
            {
                Ok(engine) => self.set_engine(engine),
                Err(e) => tracing::error!(error = %e, "compiling the pre-send check"),
            }
        }
        let opt_outs = sup.take_consent_changes();
        if let Some(parties) = &self.inner.parties
            && !opt_outs.is_empty()
        {
            let mut parties = parties.write().unwrap_or_else(|e| e.into_inner());
            for (seq, change) in opt_outs {
                parties.observe(seq, &custos_model::Event::Consent(change));
            }
        }
        if raised.is_ok()
            && let Err(e) = sup.save_cursor(journal)
        {
            tracing::warn!(error = %e, "saving the supervision position");
        }
        match raised {
            Ok(raised) => {
                if !raised.is_empty() {
                    tracing::info!(alerts = raised.len(), "alerts raised");
                }
                if let Some(notifier) = &self.inner.notifier {
                    for r in raised.iter().filter(|r| r.notify) {
                        notifier.notify(notice(r));
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "supervision pass failed; retrying"),
        }
    }

    /// The shared handle on the active policies' engine.
    pub fn shared_engine(&self) -> SharedEngine {
        self.inner.engine.clone()
    }

    /// The active policies' engine.
    pub fn engine(&self) -> Arc<Engine> {
        self.inner
            .engine
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_engine(&self, engine: Engine) {
        *self.inner.engine.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(engine);
    }
}

/// Starts the alert notifier; each delivery's outcome is journalled on
/// its alert (`alert.notified` or `alert.notify_failed`).
pub fn start_notifier(
    journal: &Journal,
    config: custos_notify::NotifyConfig,
) -> Result<Notifier, custos_notify::NotifyError> {
    let journal = journal.clone();
    let notifier = Notifier::start(config, move |outcome| {
        use custos_notify::Outcome;
        use custos_review::events::{self, ReviewAction};
        let (action, id, text) = match outcome {
            Outcome::Delivered {
                alert_id,
                target,
                attempts,
            } => (
                events::NOTIFIED,
                alert_id,
                format!("{target} after {attempts} attempt(s)"),
            ),
            Outcome::Failed {
                alert_id,
                target,
                attempts,
                error,
            } => (
                events::NOTIFY_FAILED,
                alert_id,
                format!("{target} after {attempts} attempt(s): {error}"),
            ),
        };
        let detail = ReviewAction {
            text,
            ..Default::default()
        };
        let event = events::system("custos.notifier", action, &id, &detail);
        let append = journal.append_async(&event, None);
        tokio::spawn(async move {
            if let Err(e) = append.await {
                tracing::error!(error = %e, "recording a notification outcome");
            }
        });
    })?;
    Ok(notifier)
}

/// What a notification says about an alert (never the message text).
fn notice(r: &Raised) -> AlertNotice {
    AlertNotice {
        alert_id: r.id.clone(),
        policy: r.raised.policy.clone(),
        policy_title: r.raised.title.clone(),
        version: r.raised.version,
        severity: r.raised.severity,
        category: r.raised.category.clone(),
        channel: r.raised.channel.clone(),
        conversation: r.raised.conversation.clone(),
        raised_at: Timestamp::now(),
        hit_labels: r.raised.hits.iter().map(|h| h.label.clone()).collect(),
        console_url: None,
    }
}

/// Pre-send blocking: a policy with the `block` action that matches the
/// outbound text refuses it, naming the policy and what matched (the
/// detector or term, never the matched digits).
pub struct PolicyPreSend {
    engine: SharedEngine,
}

impl std::fmt::Debug for PolicyPreSend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PolicyPreSend")
    }
}

impl PolicyPreSend {
    /// Checks outbound text against the engine behind `engine`.
    pub fn new(engine: SharedEngine) -> PolicyPreSend {
        PolicyPreSend { engine }
    }

    /// Checks outbound text against a fixed set of policies.
    pub fn fixed(engine: Engine) -> PolicyPreSend {
        PolicyPreSend::new(Arc::new(RwLock::new(Arc::new(engine))))
    }
}

impl crate::outbound::PreSendCheck for PolicyPreSend {
    fn check(&self, _to: &str, text: &str) -> Result<(), String> {
        let engine = self
            .engine
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let doc = Document {
            channel: "whatsapp",
            direction: Direction::Outbound,
            text,
            attachments: &[],
            sent_at: Timestamp::now(),
            units: &[],
            external: true,
            new_external_contact: false,
            edited: false,
            deleted: false,
        };
        let blocking: Vec<String> = engine
            .evaluate(&doc)
            .into_iter()
            .filter(|m| m.actions.contains(&Action::Block))
            .map(|m| {
                let mut what: Vec<String> = m.hits.iter().map(|h| h.label.clone()).collect();
                what.dedup();
                format!(
                    "policy {} v{} (\"{}\") matched {}",
                    m.policy,
                    m.version,
                    m.title,
                    what.join(", ")
                )
            })
            .collect();
        if blocking.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "blocked by policy before sending: {}",
                blocking.join("; ")
            ))
        }
    }
}

pub(crate) fn supervision(state: &AppState) -> Result<&Supervision, Problem> {
    state.supervision.as_ref().ok_or_else(|| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "supervision is off",
            "this server runs without supervision",
        )
    })
}

fn internal(e: impl std::fmt::Display) -> Problem {
    Problem::internal(&e)
}

/// `?all=true` includes closed alerts; `limit` and `cursor` page the
/// queue: in its review order, or, when the server keeps the SQL state
/// projection, newest first, where `status`, `assignee` and `unit` filter
/// it too.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    #[serde(default)]
    all: bool,
    /// Only alerts in this state: `open`, `assigned`, `escalated` or
    /// `closed` (SQL state only).
    status: Option<String>,
    /// Only alerts assigned to this reviewer (SQL state only).
    assignee: Option<String>,
    /// Only alerts whose custodian works in this unit (SQL state only).
    unit: Option<String>,
    /// At most this many alerts (default 100, at most 1000).
    limit: Option<usize>,
    /// Where the last page ended (its `next_cursor`).
    cursor: Option<String>,
}

/// The statuses `?status=` takes.
const STATUSES: [&str; 4] = ["open", "assigned", "escalated", "closed"];

/// An alert as the queue lists it: its fold, its age and the
/// classifier's false-positive flag.
fn queue_item(a: &Alert, now: Timestamp) -> serde_json::Value {
    let mut v = serde_json::to_value(a).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "age_seconds".into(),
            ((now.as_micros() - a.raised_at.as_micros()) / 1_000_000).into(),
        );
        o.insert(
            "likely_false_positive".into(),
            a.likely_false_positive().into(),
        );
    }
    v
}

/// The queue from the SQL state projection: filtered and barred inside
/// the query (a reviewer's page is full of their units' alerts), newest
/// first, paged by key; each alert's body comes from the fold, as in the
/// in-memory path.
async fn list_alerts_from_store(
    state: &AppState,
    principal: &Principal,
    q: QueueQuery,
    store: crate::store::StoreService,
) -> Result<Json<serde_json::Value>, Problem> {
    let after = crate::paging::key("alerts", q.cursor.as_deref())?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let mut filter = custos_store::AlertFilter::visible((&principal.scope).into());
    filter.assignee = q.assignee.clone().filter(|a| !a.is_empty());
    filter.unit = q.unit.clone().filter(|u| !u.is_empty());
    match q.status.as_deref().filter(|s| !s.is_empty()) {
        Some(status) if STATUSES.contains(&status) => filter.statuses = vec![status.to_string()],
        Some(other) => {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "bad status",
                format!("status={other:?}: expected open, assigned, escalated or closed"),
            )
            .with("parameter", "status".into()));
        }
        None if q.all => {}
        None => filter = filter.open(),
    }
    let page = store
        .current()
        .await
        .alerts(&filter, after.as_deref(), limit)
        .await
        .map_err(|e| match e {
            custos_store::Error::Cursor(_) => {
                crate::paging::bad_cursor(q.cursor.as_deref().unwrap_or_default())
            }
            other => internal(other),
        })?;
    let s = supervision(state)?.clone();
    let now = Timestamp::now();
    let rows = page.alerts;
    let items = tokio::task::spawn_blocking(move || {
        s.with(|sup| {
            rows.iter()
                .map(|row| match sup.state.alerts.get(&row.id) {
                    Some(a) => queue_item(a, now),
                    None => serde_json::to_value(row).unwrap_or_default(),
                })
                .collect::<Vec<_>>()
        })
    })
    .await
    .map_err(internal)?;
    let next_cursor = page.next.map(|k| crate::paging::encode_key("alerts", &k));
    Ok(Json(
        serde_json::json!({ "alerts": items, "next_cursor": next_cursor }),
    ))
}

/// `limit` and `cursor` of a list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// At most this many items (default 100, at most 1000).
    limit: Option<usize>,
    /// Where the last page ended (its `next_cursor`).
    cursor: Option<String>,
}

/// `?reason=` of an alert view.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ViewQuery {
    reason: Option<String>,
}

fn no_such_alert(id: &str) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "no such alert", id.to_string())
}

/// `GET /api/v1/alerts`.
#[utoipa::path(
    get, path = "/api/v1/alerts", tag = "alerts",
    params(QueueQuery),
    responses(
        (status = 200, description = "A page of the review queue", body = crate::openapi::schemas::AlertPage),
        (status = 400, description = "A bad cursor (names the parameter)", body = crate::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Supervision is off", body = crate::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_alerts(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(q): Query<QueueQuery>,
) -> Result<Json<serde_json::Value>, Problem> {
    if let Some(store) = state.store.clone() {
        return list_alerts_from_store(&state, &principal, q, store).await;
    }
    let page = crate::paging::page("alerts", q.cursor.as_deref(), q.limit, 100, 1000)?;
    let s = supervision(&state)?.clone();
    let barrier = crate::barrier::of(&state, &principal);
    let index = state.search.clone();
    let alerts = tokio::task::spawn_blocking(move || {
        let list: Vec<Alert> = s.with(|sup| {
            sup.state
                .alerts
                .values()
                .filter(|a| q.all || a.is_open())
                .cloned()
                .collect()
        });
        let mut list: Vec<Alert> = list
            .into_iter()
            .filter(|a| barrier.allows_alert(a, index.as_ref().map(|i| i.index())))
            .collect();
        // The rank ends with the id: a total order, so pages are stable.
        list.sort_by_key(custos_review::state::queue_rank);
        list
    })
    .await
    .map_err(internal)?;
    let (alerts, next_cursor) = crate::paging::slice("alerts", alerts, page);
    let now = Timestamp::now();
    let items: Vec<serde_json::Value> = alerts.iter().map(|a| queue_item(a, now)).collect();
    Ok(Json(
        serde_json::json!({ "alerts": items, "next_cursor": next_cursor }),
    ))
}

/// `GET /api/v1/alerts/{id}`: the alert and its message, recorded as a read.
#[utoipa::path(
    get, path = "/api/v1/alerts/{id}", tag = "alerts",
    params(("id" = String, Path, description = "The alert's id"), ViewQuery),
    responses(
        (status = 200, description = "The alert, its history and its message (the read is journalled)", body = Object),
        (status = 404, description = "No such alert, or outside the principal's barrier", body = crate::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Supervision is off", body = crate::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_alert(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    Query(view): Query<ViewQuery>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, Problem> {
    let who = principal.user.clone();
    let why = crate::barrier::stated_reason(view.reason.as_deref(), &headers)
        .unwrap_or_else(|| "alert review".to_string());
    let s = supervision(&state)?.clone();
    let alert = s
        .with(|sup| sup.state.alerts.get(&id).cloned())
        .ok_or_else(|| no_such_alert(&id))?;
    let barrier = crate::barrier::of(&state, &principal);
    let index = state.search.clone();
    let journal = state.journal.clone();
    let seq = alert.raised.message_seq;
    let checked = alert.clone();
    let message = tokio::task::spawn_blocking(move || -> Result<_, Problem> {
        if !barrier.allows_alert(&checked, index.as_ref().map(|i| i.index())) {
            return Err(no_such_alert(&id));
        }
        let entry = journal.entry(seq).map_err(internal)?;
        let opened = journal.open_entry(&entry).map_err(internal)?;
        let mut details = serde_json::Map::new();
        details.insert("entries".into(), vec![seq].into());
        details.insert("reason".into(), why.into());
        journal
            .append_system(&who, "content.read", Some(&id), details)
            .map_err(internal)?;
        Ok(opened)
    })
    .await
    .map_err(internal)??;
    // What the reader's roles see masked is masked here too, the hits'
    // offsets carried into the redacted text.
    let profile = state.redaction.for_principal(&principal);
    let mut alert = alert;
    let message = match message {
        Opened::Event(event) => {
            let shown =
                crate::redaction::redact_alert_message(&event, &mut alert.raised.hits, &profile);
            serde_json::to_value(&shown).unwrap_or_default()
        }
        Opened::Shredded(at) => serde_json::json!({ "shredded_at": at }),
    };
    let mut v = serde_json::to_value(&alert).map_err(internal)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("message".into(), message);
        o.insert(
            "likely_false_positive".into(),
            alert.likely_false_positive().into(),
        );
    }
    Ok(Json(v))
}

/// The body of `POST /api/v1/alerts/{id}/actions`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    /// assign, comment, escalate or close.
    action: String,
    /// The reviewer to assign or escalate to.
    #[serde(default)]
    to: Option<String>,
    /// The comment or reason.
    #[serde(default)]
    text: String,
    /// For close: the disposition.
    #[serde(default)]
    disposition: Option<String>,
}

/// `POST /api/v1/alerts/{id}/actions`.
#[utoipa::path(
    post, path = "/api/v1/alerts/{id}/actions", tag = "alerts",
    params(("id" = String, Path, description = "The alert's id")),
    request_body = ActionBody,
    responses(
        (status = 200, description = "The action's journal entry", body = crate::openapi::schemas::EntryAnswer),
        (status = 400, description = "An invalid action", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such alert, or outside the principal's barrier", body = crate::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The alert is closed", body = crate::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn act_on_alert(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    Json(body): Json<ActionBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), Problem> {
    let step = review_step(
        &body.action,
        body.to,
        body.text,
        body.disposition.as_deref(),
    )?;
    let result = record_step(&state, id, &principal, step).await?;
    Ok((StatusCode::OK, Json(serde_json::json!({ "entry": result }))))
}

/// A review step from its parts as the API and the console's forms give
/// them: `action` is assign, comment, escalate or close.
pub(crate) fn review_step(
    action: &str,
    to: Option<String>,
    text: String,
    disposition: Option<&str>,
) -> Result<ReviewStep, Problem> {
    let bad = |detail: String| Problem::new(StatusCode::BAD_REQUEST, "invalid action", detail);
    Ok(match action {
        "assign" => ReviewStep::Assign {
            to: to.ok_or_else(|| bad("assign needs \"to\"".into()))?,
        },
        "comment" => ReviewStep::Comment { text },
        "escalate" => ReviewStep::Escalate { to, reason: text },
        "close" => ReviewStep::Close {
            disposition: disposition
                .ok_or_else(|| bad("close needs \"disposition\"".into()))?
                .parse::<Disposition>()
                .map_err(bad)?,
            reason: text,
        },
        other => {
            return Err(bad(format!(
                "action {other:?}: expected assign, comment, escalate or close"
            )));
        }
    })
}

/// Checks `step` against alert `id`'s state, journals it as the principal
/// and brings the queue up to date; returns the journal entry. An alert
/// outside the principal's scope is "no such alert". The one path for the
/// API and the console.
pub(crate) async fn record_step(
    state: &AppState,
    id: String,
    principal: &Principal,
    step: ReviewStep,
) -> Result<u64, Problem> {
    let s = supervision(state)?.clone();
    let journal = state.journal.clone();
    let index = state.search.clone();
    let barrier = crate::barrier::of(state, principal);
    let who = principal.user.clone();
    tokio::task::spawn_blocking(move || {
        s.with(|sup| -> Result<u64, Problem> {
            let visible = sup
                .state
                .alerts
                .get(&id)
                .is_some_and(|a| barrier.allows_alert(a, index.as_ref().map(|i| i.index())));
            if !visible {
                return Err(no_such_alert(&id));
            }
            let event = review::event_for(&sup.state, &id, &who, &step).map_err(|e| match e {
                review::ReviewError::NoSuchAlert(_) => {
                    Problem::new(StatusCode::NOT_FOUND, "no such alert", e.to_string())
                }
                review::ReviewError::Closed { .. } => {
                    Problem::new(StatusCode::CONFLICT, "alert closed", e.to_string())
                }
                review::ReviewError::Empty(_) => {
                    Problem::new(StatusCode::BAD_REQUEST, "invalid action", e.to_string())
                }
            })?;
            let appended = journal.append(&event, None).map_err(internal)?;
            s.refresh(sup, &journal);
            Ok(appended.seq)
        })
    })
    .await
    .map_err(internal)?
}

/// `GET /api/v1/policies`.
#[utoipa::path(
    get, path = "/api/v1/policies", tag = "policies",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of policies, by name", body = crate::openapi::schemas::PolicyPage),
        (status = 400, description = "A bad cursor (names the parameter)", body = crate::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Supervision is off", body = crate::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_policies(
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
) -> Result<Json<serde_json::Value>, Problem> {
    let page = crate::paging::page("policies", q.cursor.as_deref(), q.limit, 100, 1000)?;
    let s = supervision(&state)?.clone();
    let list = s.with(|sup| {
        sup.state
            .policies
            .values()
            .map(|p| {
                let v = p.current();
                serde_json::json!({
                    "name": p.name,
                    "enabled": p.enabled,
                    "version": v.version,
                    "digest": v.digest,
                    "loaded_at": v.loaded_at,
                    "loaded_by": v.loaded_by,
                    "origin": v.origin,
                    "source": v.source,
                })
            })
            .collect::<Vec<_>>()
    });
    // In name order (the state's map), so positions are stable.
    let (list, next_cursor) = crate::paging::slice("policies", list, page);
    Ok(Json(
        serde_json::json!({ "policies": list, "next_cursor": next_cursor }),
    ))
}

/// `POST /api/v1/policies`: the body is the policy's TOML text.
#[utoipa::path(
    post, path = "/api/v1/policies", tag = "policies",
    request_body(content = String, content_type = "text/plain", description = "The policy's TOML text"),
    responses(
        (status = 201, description = "A new version, journalled and in force", body = crate::openapi::schemas::PolicyLoaded),
        (status = 200, description = "The same text as the current version: nothing recorded", body = crate::openapi::schemas::PolicyLoaded),
        (status = 400, description = "An invalid policy (file, line and column)", body = crate::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Supervision is off", body = crate::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn load_policy(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: String,
) -> Result<(StatusCode, Json<serde_json::Value>), Problem> {
    let who = principal.user;
    let loaded = load_policy_text(&state, who, body, "api").await?;
    let status = if loaded.entry.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(serde_json::json!({
            "name": loaded.name,
            "version": loaded.version,
            "entry": loaded.entry,
        })),
    ))
}

/// What loading a policy text did.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The policy's name.
    pub name: String,
    /// Its version now.
    pub version: u32,
    /// The `policy.version` entry, `None` when the text was unchanged.
    pub entry: Option<u64>,
}

/// Loads a policy text as `who` (from `origin`: `api`, `console`): a new
/// version is journalled and put in force at once. The one path for the
/// API and the console.
pub(crate) async fn load_policy_text(
    state: &AppState,
    who: String,
    body: String,
    origin: &'static str,
) -> Result<Loaded, Problem> {
    let s = supervision(state)?.clone();
    let journal = state.journal.clone();
    tokio::task::spawn_blocking(move || {
        let loaded = s.with(|sup| -> Result<_, Problem> {
            let load =
                custos_review::policies::load(&sup.state, &body, origin, &who).map_err(|e| {
                    Problem::new(StatusCode::BAD_REQUEST, "invalid policy", e.to_string())
                })?;
            match load {
                Load::Unchanged { name, version } => Ok(Loaded {
                    name,
                    version,
                    entry: None,
                }),
                Load::New {
                    policy,
                    version,
                    event,
                } => {
                    let appended = journal.append(&event, None).map_err(internal)?;
                    s.refresh(sup, &journal);
                    sup.recompile(&journal).map_err(internal)?;
                    Ok(Loaded {
                        name: policy.name.clone(),
                        version,
                        entry: Some(appended.seq),
                    })
                }
            }
        })?;
        let engine = s
            .with(|sup| Engine::compile(&custos_review::policies::active(&sup.state)?))
            .map_err(internal)?;
        s.set_engine(engine);
        Ok(loaded)
    })
    .await
    .map_err(internal)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::PreSendCheck;

    const POLICY: &str = r#"
name = "promissory"
title = "Promises of returns"
category = "promissory"
severity = "high"
actions = ["alert", "block"]
[condition]
terms = ["guaranteed return*"]
"#;

    #[test]
    fn a_policy_loaded_elsewhere_is_in_force_here_and_in_the_pre_send_check() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::init(dir.path(), None, "test").unwrap();
        let supervisor = Supervisor::open(&journal, Vec::new(), 0).unwrap();
        let s = Supervision::start(journal.clone(), supervisor, None, None).unwrap();
        let check = PolicyPreSend::new(s.shared_engine());
        let text = "a guaranteed return of 9%";
        assert!(check.check("+5511900000001", text).is_ok());
        // Loaded by another process (the CLI, another node of a cluster):
        // only the journal says so.
        let Load::New { event, .. } =
            custos_review::policies::load(&Default::default(), POLICY, "p.toml", "cora").unwrap()
        else {
            panic!("a first load is new")
        };
        journal.append(&event, None).unwrap();
        s.wake();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while s.engine().policies().count() == 0 {
            assert!(std::time::Instant::now() < deadline, "never compiled");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            check.check("+5511900000001", text).is_err(),
            "the pre-send check blocks by the policy loaded elsewhere"
        );
        assert!(check.check("+5511900000001", "see you at lunch").is_ok());
    }
}
