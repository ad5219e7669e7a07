//! `/alerts` (the review queue with filters) and `/alerts/{id}` (the alert,
//! its hits marked in the message, the conversation around it, and the
//! review forms). Actions go through the same code as the alert API
//! (`supervision::review_step` and `record_step`); opening an alert is an
//! audited read (`content.read`, as `GET /api/v1/alerts/{id}` records it).

use super::{Layout, PageError, Section, age, marked, require, when};
use crate::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use custos_auth::{CsrfToken, Principal};
use custos_journal::Opened;
use custos_model::{Event, Severity, Timestamp};
use custos_review::Alert;
use custos_review::state::Status;
use serde::Deserialize;

/// The queue's filters (none is content, so they may sit in the URL).
#[derive(Debug, Default, Deserialize)]
pub(super) struct Filters {
    status: Option<String>,
    policy: Option<String>,
    severity: Option<String>,
    assignee: Option<String>,
    /// Where the page starts (SQL state: keyset paging).
    cursor: Option<String>,
}

/// One row of the queue.
pub(super) struct Row {
    id: String,
    severity: &'static str,
    title: String,
    policy: String,
    channel: String,
    custodian: String,
    raised: String,
    age: String,
    status: String,
    assignee: String,
    labels: String,
    likely_fp: bool,
}

/// An option of a filter's select.
pub(super) struct Choice {
    value: String,
    label: String,
    selected: bool,
}

fn choices(values: impl IntoIterator<Item = String>, current: &str, any: &str) -> Vec<Choice> {
    let mut out = vec![Choice {
        value: String::new(),
        label: any.to_string(),
        selected: current.is_empty(),
    }];
    out.extend(values.into_iter().map(|v| Choice {
        selected: v == current,
        label: v.replace('_', " "),
        value: v,
    }));
    out
}

#[derive(Template, WebTemplate)]
#[template(path = "console/alerts.html")]
pub(super) struct AlertsPage {
    layout: Layout,
    rows: Vec<Row>,
    statuses: Vec<Choice>,
    policies: Vec<Choice>,
    severities: Vec<Choice>,
    assignee: String,
    total: usize,
    /// `true`: a page of the SQL state projection, newest first.
    paged: bool,
    /// The next page's URL, when there is one.
    next: Option<String>,
}

pub(super) fn status_name(s: &Status) -> String {
    match s {
        Status::Open => "open".into(),
        Status::Assigned => "assigned".into(),
        Status::Escalated => "escalated".into(),
        Status::Closed(d) => format!("closed: {}", d.name().replace('_', " ")),
    }
}

fn status_matches(filter: &str, a: &Alert) -> bool {
    match filter {
        "" | "open" => a.is_open(),
        "all" => true,
        "assigned" => a.status == Status::Assigned,
        "escalated" => a.status == Status::Escalated,
        "closed" => !a.is_open(),
        _ => false,
    }
}

/// `GET /alerts`: the queue within the reader's scope, most serious and
/// oldest first.
pub(super) async fn list(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(csrf): Extension<CsrfToken>,
    Query(f): Query<Filters>,
) -> Result<AlertsPage, PageError> {
    require(&p, Section::Alerts)?;
    let status = f.status.unwrap_or_default();
    if !["", "open", "all", "assigned", "escalated", "closed"].contains(&status.as_str()) {
        return Err(PageError::BadRequest(format!(
            "status {status:?}: expected open, assigned, escalated, closed or all"
        )));
    }
    let policy = f.policy.unwrap_or_default();
    let severity = f.severity.unwrap_or_default();
    let assignee = f.assignee.unwrap_or_default().trim().to_string();
    if let Some(store) = state.store.clone() {
        let filters = QueueFilters {
            status,
            policy,
            severity,
            assignee,
            cursor: f.cursor.unwrap_or_default(),
        };
        return list_from_store(&state, &p, &csrf, store, filters).await;
    }
    let supervision = super::supervision(&state)?;
    let journal = state.journal.clone();
    let console = state.console.clone();
    let scope = p.scope.clone();
    let (rows, names) = {
        let status = status.clone();
        let policy = policy.clone();
        let severity = severity.clone();
        let assignee = assignee.clone();
        tokio::task::spawn_blocking(move || -> Result<_, PageError> {
            let (barrier, names) = console.with(&journal, |proj| {
                let names: std::collections::HashMap<String, String> = proj
                    .custodians
                    .values()
                    .map(|c| (c.id.clone(), c.name.clone()))
                    .collect();
                (proj.barrier(&scope), names)
            })?;
            let now = Timestamp::now();
            let (mut alerts, policies) = supervision.with(|sup| {
                let alerts: Vec<Alert> = sup
                    .state
                    .alerts
                    .values()
                    .filter(|a| barrier.custodian(a.raised.custodian.as_deref()))
                    .filter(|a| status_matches(&status, a))
                    .filter(|a| policy.is_empty() || a.raised.policy == policy)
                    .filter(|a| severity.is_empty() || a.raised.severity.name() == severity)
                    .filter(|a| {
                        assignee.is_empty() || a.assignee.as_deref() == Some(assignee.as_str())
                    })
                    .cloned()
                    .collect();
                (
                    alerts,
                    sup.state.policies.keys().cloned().collect::<Vec<_>>(),
                )
            });
            alerts.sort_by_key(custos_review::state::queue_rank);
            let utc = jiff::tz::TimeZone::UTC;
            let rows = alerts
                .iter()
                .map(|a| {
                    let mut labels: Vec<String> =
                        a.raised.hits.iter().map(|h| h.label.clone()).collect();
                    labels.dedup();
                    Row {
                        id: a.id.clone(),
                        severity: a.raised.severity.name(),
                        title: a.raised.title.clone(),
                        policy: a.raised.policy.clone(),
                        channel: a.raised.channel.clone(),
                        custodian: a
                            .raised
                            .custodian
                            .as_ref()
                            .map(|c| names.get(c).cloned().unwrap_or_else(|| c.clone()))
                            .unwrap_or_else(|| "—".into()),
                        raised: when(a.raised_at, &utc),
                        age: age(a.raised_at, now),
                        status: status_name(&a.status),
                        assignee: a.assignee.clone().unwrap_or_default(),
                        labels: labels.join(", "),
                        likely_fp: a.likely_false_positive(),
                    }
                })
                .collect::<Vec<_>>();
            Ok((rows, policies))
        })
        .await??
    };
    let statuses = ["open", "assigned", "escalated", "closed", "all"]
        .into_iter()
        .map(|s| Choice {
            value: s.into(),
            label: s.into(),
            selected: s == status || (status.is_empty() && s == "open"),
        })
        .collect();
    Ok(AlertsPage {
        layout: Layout::new(&p, &csrf, Section::Alerts, "Alerts"),
        total: rows.len(),
        rows,
        statuses,
        policies: choices(names, &policy, "any policy"),
        severities: choices(
            Severity::ALL.iter().map(|s| s.name().to_string()),
            &severity,
            "any severity",
        ),
        assignee,
        paged: false,
        next: None,
    })
}

/// The queue's filters, checked.
struct QueueFilters {
    status: String,
    policy: String,
    severity: String,
    assignee: String,
    cursor: String,
}

/// The status choices of the filter form.
fn status_choices(status: &str) -> Vec<Choice> {
    ["open", "assigned", "escalated", "closed", "all"]
        .into_iter()
        .map(|s| Choice {
            value: s.into(),
            label: s.into(),
            selected: s == status || (status.is_empty() && s == "open"),
        })
        .collect()
}

/// `GET /alerts` over the SQL state projection: filters and the reader's
/// barrier inside the query, newest first, a page at a time.
async fn list_from_store(
    state: &AppState,
    p: &Principal,
    csrf: &CsrfToken,
    store: crate::store::StoreService,
    f: QueueFilters,
) -> Result<AlertsPage, PageError> {
    const PAGE: usize = 100;
    let after = crate::paging::key("console-alerts", Some(&f.cursor)).map_err(|_| {
        PageError::BadRequest(format!("cursor {:?}: not a page of this list", f.cursor))
    })?;
    let severity = if f.severity.is_empty() {
        None
    } else {
        Some(
            Severity::ALL
                .into_iter()
                .find(|s| s.name() == f.severity)
                .ok_or_else(|| {
                    PageError::BadRequest(format!(
                        "severity {:?}: expected low, medium, high or critical",
                        f.severity
                    ))
                })?,
        )
    };
    let mut filter = custos_store::AlertFilter::visible((&p.scope).into());
    filter.statuses = match f.status.as_str() {
        "" | "open" => ["open", "assigned", "escalated"].map(String::from).to_vec(),
        "all" => Vec::new(),
        one => vec![one.to_string()],
    };
    filter.policy = (!f.policy.is_empty()).then(|| f.policy.clone());
    filter.severity = severity;
    filter.assignee = (!f.assignee.is_empty()).then(|| f.assignee.clone());
    let page = store
        .current()
        .await
        .alerts(&filter, after.as_deref(), PAGE)
        .await
        .map_err(|e| match e {
            custos_store::Error::Cursor(c) => {
                PageError::BadRequest(format!("cursor {c:?}: not a page of this list"))
            }
            other => PageError::internal(&other),
        })?;
    let supervision = super::supervision(state)?;
    let journal = state.journal.clone();
    let console = state.console.clone();
    let (names, policies) = tokio::task::spawn_blocking(move || -> Result<_, PageError> {
        let names = console.with(&journal, |proj| {
            proj.custodians
                .values()
                .map(|c| (c.id.clone(), c.name.clone()))
                .collect::<std::collections::HashMap<String, String>>()
        })?;
        let policies =
            supervision.with(|sup| sup.state.policies.keys().cloned().collect::<Vec<_>>());
        Ok((names, policies))
    })
    .await??;
    let now = Timestamp::now();
    let utc = jiff::tz::TimeZone::UTC;
    let rows: Vec<Row> = page
        .alerts
        .iter()
        .map(|a| Row {
            id: a.id.clone(),
            severity: a.severity.name(),
            title: a.title.clone(),
            policy: a.policy.clone(),
            channel: a.channel.clone(),
            custodian: a
                .custodian
                .as_ref()
                .map(|c| names.get(c).cloned().unwrap_or_else(|| c.clone()))
                .unwrap_or_else(|| "—".into()),
            raised: when(a.raised_at, &utc),
            age: age(a.raised_at, now),
            status: match &a.disposition {
                Some(d) => format!("closed: {}", d.replace('_', " ")),
                None => a.status.clone(),
            },
            assignee: a.assignee.clone().unwrap_or_default(),
            labels: a.labels.join(", "),
            likely_fp: a.origin == "policy"
                && a.score
                    .is_some_and(|s| s < f64::from(custos_review::state::LIKELY_FALSE_POSITIVE)),
        })
        .collect();
    let next = page.next.map(|key| {
        let query = [
            ("status", f.status.as_str()),
            ("policy", f.policy.as_str()),
            ("severity", f.severity.as_str()),
            ("assignee", f.assignee.as_str()),
            ("cursor", &crate::paging::encode_key("console-alerts", &key)),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
        format!("/alerts?{query}")
    });
    Ok(AlertsPage {
        layout: Layout::new(p, csrf, Section::Alerts, "Alerts"),
        total: rows.len(),
        rows,
        statuses: status_choices(&f.status),
        policies: choices(policies, &f.policy, "any policy"),
        severities: choices(
            Severity::ALL.iter().map(|s| s.name().to_string()),
            &f.severity,
            "any severity",
        ),
        assignee: f.assignee,
        paged: true,
        next,
    })
}

/// A message of the conversation around an alert.
pub(super) struct Line {
    seq: u64,
    from: String,
    at: String,
    text: String,
    side: &'static str,
    this: bool,
}

/// One review action as the history shows it.
pub(super) struct Step {
    at: String,
    actor: String,
    action: String,
    detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/alert.html")]
pub(super) struct AlertPage {
    layout: Layout,
    id: String,
    title: String,
    policy: String,
    version: u32,
    severity: &'static str,
    category: String,
    channel: String,
    custodian: String,
    raised: String,
    sent: String,
    status: String,
    open: bool,
    assignee: String,
    labels: Vec<String>,
    text: Vec<(String, bool)>,
    kind: &'static str,
    conversation: Vec<Line>,
    history: Vec<Step>,
    dispositions: Vec<(&'static str, String)>,
    likely_fp: bool,
    repeats: usize,
}

/// `GET /alerts/{id}`: one alert, its message with the hits marked and the
/// conversation around it; journals `content.read` first.
pub(super) async fn detail(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(csrf): Extension<CsrfToken>,
    Path(id): Path<String>,
) -> Result<AlertPage, PageError> {
    require(&p, Section::Alerts)?;
    let supervision = super::supervision(&state)?;
    let journal = state.journal.clone();
    let console = state.console.clone();
    let search = state.search.clone();
    let scope = p.scope.clone();
    let who = p.user.clone();
    let profile = state.redaction.for_principal(&p);
    let masks = profile.clone();
    let utc = jiff::tz::TimeZone::UTC;
    let (alert, text, kind, conversation, custodian) =
        tokio::task::spawn_blocking(move || -> Result<_, PageError> {
            let (barrier, names) = console.with(&journal, |proj| {
                let names: std::collections::HashMap<String, String> = proj
                    .custodians
                    .values()
                    .map(|c| (c.phone.clone(), c.name.clone()))
                    .collect();
                (proj.barrier(&scope), names)
            })?;
            let alert = supervision
                .with(|sup| sup.state.alerts.get(&id).cloned())
                .filter(|a| barrier.custodian(a.raised.custodian.as_deref()))
                .ok_or_else(|| PageError::NotFound(format!("no alert {id} in your queue")))?;
            let seq = alert.raised.message_seq;
            let around = match &search {
                Some(s) => s
                    .index()
                    .around(seq, 5, 5)
                    .map_err(|e| PageError::internal(&e))?,
                None => Vec::new(),
            };
            let around: Vec<_> = around
                .into_iter()
                .filter(|h| {
                    barrier.parties(
                        std::iter::once(h.from.as_str()).chain(h.to.iter().map(String::as_str)),
                    )
                })
                .map(|mut h| {
                    crate::redaction::redact_hit(&mut h, &masks);
                    h
                })
                .collect();
            let mut seqs = vec![seq];
            seqs.extend(around.iter().map(|h| h.seq).filter(|s| *s != seq));
            // The read is on record before anything is shown.
            let mut details = serde_json::Map::new();
            details.insert("entries".into(), seqs.into());
            details.insert("reason".into(), "alert review".into());
            details.insert("via".into(), "console".into());
            journal.append_system(&who, "content.read", Some(&id), details)?;
            let entry = journal.entry(seq)?;
            let (text, kind) = match journal.open_entry(&entry)? {
                Opened::Event(Event::Message(m)) => (m.text.unwrap_or_default(), "message"),
                Opened::Event(Event::Edit(e)) => (e.text, "edit"),
                Opened::Event(Event::Deletion(_)) => (String::new(), "deletion"),
                Opened::Event(_) => (String::new(), "event"),
                Opened::Shredded(_) => (String::new(), "erased"),
            };
            let name = |a: &str| names.get(a).cloned().unwrap_or_else(|| a.to_string());
            let conversation = around
                .iter()
                .map(|h| Line {
                    seq: h.seq,
                    from: name(&h.from),
                    at: when(h.sent_at, &jiff::tz::TimeZone::UTC),
                    text: h.edits.last().cloned().unwrap_or_else(|| h.text.clone()),
                    side: if h.direction == "outbound" {
                        "out"
                    } else {
                        "in"
                    },
                    this: h.seq == seq,
                })
                .collect::<Vec<_>>();
            let custodian = alert.raised.custodian.clone().unwrap_or_else(|| "—".into());
            Ok((alert, text, kind, conversation, custodian))
        })
        .await??;
    // The evidence is marked in the text as the reader may see it.
    let redacted = custos_policy::redact::redact(&text, &profile);
    let ranges: Vec<(usize, usize)> = alert
        .raised
        .hits
        .iter()
        .filter(|h| h.start < h.end && h.end <= text.len())
        .map(|h| {
            let start = redacted.map_start(h.start);
            (start, redacted.map_end(h.end).max(start))
        })
        .collect();
    let text = redacted.into_text();
    let mut labels: Vec<String> = alert.raised.hits.iter().map(|h| h.label.clone()).collect();
    labels.dedup();
    let history = alert
        .history
        .iter()
        .map(|h| Step {
            at: when(h.at, &utc),
            actor: h.actor.clone(),
            action: h.action.clone(),
            detail: [
                h.detail.assignee.clone().map(|a| format!("to {a}")),
                h.detail.disposition.map(|d| d.name().replace('_', " ")),
                (!h.detail.text.is_empty()).then(|| format!("“{}”", h.detail.text)),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · "),
        })
        .collect();
    Ok(AlertPage {
        layout: Layout::new(&p, &csrf, Section::Alerts, &format!("Alert {}", alert.id)),
        title: alert.raised.title.clone(),
        policy: alert.raised.policy.clone(),
        version: alert.raised.version,
        severity: alert.raised.severity.name(),
        category: alert.raised.category.replace('_', " "),
        channel: alert.raised.channel.clone(),
        custodian,
        raised: when(alert.raised_at, &utc),
        sent: when(alert.raised.sent_at, &utc),
        status: status_name(&alert.status),
        open: alert.is_open(),
        assignee: alert.assignee.clone().unwrap_or_default(),
        labels,
        text: marked(&text, &ranges),
        kind,
        conversation,
        history,
        dispositions: custos_review::Disposition::ALL
            .into_iter()
            .map(|d| (d.name(), d.name().replace('_', " ")))
            .collect(),
        likely_fp: alert.likely_false_positive(),
        repeats: alert.repeats.len(),
        id: alert.id,
    })
}

/// A review form's fields (`_csrf` is checked by the auth middleware).
#[derive(Debug, Deserialize)]
pub(super) struct ActionForm {
    action: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    disposition: String,
}

/// `POST /alerts/{id}/actions`: assign, comment, escalate or close, through
/// the API's code; back to the alert.
pub(super) async fn act(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, PageError> {
    require(&p, Section::Alerts)?;
    let supervision = super::supervision(&state)?;
    let journal = state.journal.clone();
    let console = state.console.clone();
    let scope = p.scope.clone();
    let visible = {
        let id = id.clone();
        tokio::task::spawn_blocking(move || -> Result<bool, PageError> {
            let barrier = console.with(&journal, |proj| proj.barrier(&scope))?;
            Ok(supervision
                .with(|sup| sup.state.alerts.get(&id).cloned())
                .is_some_and(|a| barrier.custodian(a.raised.custodian.as_deref())))
        })
        .await??
    };
    if !visible {
        return Err(PageError::NotFound(format!("no alert {id} in your queue")));
    }
    let to = Some(form.to.trim().to_string()).filter(|t| !t.is_empty());
    let disposition = Some(form.disposition.trim()).filter(|d| !d.is_empty());
    let step = crate::supervision::review_step(&form.action, to, form.text, disposition)?;
    crate::supervision::record_step(&state, id.clone(), &p, step).await?;
    Ok(Redirect::to(&format!("/alerts/{}", urlencode(&id))).into_response())
}

/// Percent-encodes a path segment.
pub(super) fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
