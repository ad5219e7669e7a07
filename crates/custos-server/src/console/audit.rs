//! `/verify` (the newest signed tree head, and a button that runs
//! `custos_journal::verify` over the archive's files) and `/audit` (the
//! access log: every read of content, search and export, filterable by
//! actor and action).

use super::{Layout, PageError, Section, require, when};
use crate::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::Extension;
use axum::extract::{Query, State};
use custos_auth::{CsrfToken, Principal};
use serde::Deserialize;

/// The head as shown.
pub(super) struct Head {
    size: u64,
    root: String,
    signed: String,
    signature: String,
}

/// The outcome of a verification run.
pub(super) struct Outcome {
    ok: bool,
    lines: Vec<(String, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/verify.html")]
pub(super) struct VerifyPage {
    layout: Layout,
    head: Option<Head>,
    size: u64,
    public_key: String,
    outcome: Option<Outcome>,
}

fn page(state: &AppState, p: &Principal, csrf: &CsrfToken) -> VerifyPage {
    let utc = jiff::tz::TimeZone::UTC;
    VerifyPage {
        layout: Layout::new(p, csrf, Section::Verify, "Verify the archive"),
        head: state.journal.latest_head().map(|h| Head {
            size: h.tree_size,
            root: hex::encode(h.root),
            signed: when(h.timestamp, &utc),
            signature: hex::encode(h.signature),
        }),
        size: state.journal.size(),
        public_key: hex::encode(state.journal.public_key()),
        outcome: None,
    }
}

/// `GET /verify`.
pub(super) async fn verify_page(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(csrf): Extension<CsrfToken>,
) -> Result<VerifyPage, PageError> {
    require(&p, Section::Verify)?;
    Ok(page(&state, &p, &csrf))
}

/// `POST /verify`: recomputes everything from the files and the public key.
pub(super) async fn verify_run(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(csrf): Extension<CsrfToken>,
) -> Result<VerifyPage, PageError> {
    require(&p, Section::Verify)?;
    let dir = state.journal.dir().to_path_buf();
    let key = state.journal.public_key();
    let started = std::time::Instant::now();
    let result =
        tokio::task::spawn_blocking(move || custos_journal::verify(&dir, Some(key))).await?;
    let elapsed = started.elapsed();
    let mut out = page(&state, &p, &csrf);
    out.outcome = Some(match result {
        Ok(r) => Outcome {
            ok: true,
            lines: vec![
                ("Entries checked".into(), r.entries.to_string()),
                ("Root".into(), hex::encode(r.root)),
                ("Signed heads checked".into(), r.heads.to_string()),
                ("Segments".into(), r.segments.to_string()),
                ("Bytes read".into(), r.bytes.to_string()),
                ("Time".into(), format!("{:.2} s", elapsed.as_secs_f64())),
                (
                    "Torn tail".into(),
                    match r.torn_tail {
                        Some((file, offset)) => format!(
                            "{} at offset {offset} (never acknowledged)",
                            file.file_name()
                                .map(|f| f.to_string_lossy().to_string())
                                .unwrap_or_default()
                        ),
                        None => "none".into(),
                    },
                ),
            ],
        },
        Err(e) => Outcome {
            ok: false,
            lines: vec![("Failure".into(), e.to_string())],
        },
    });
    Ok(out)
}

/// The access actions listed by default.
const ACCESS: &[&str] = &[
    "content.read",
    crate::search::SEARCHED,
    crate::search::OPENED,
    crate::inbox::OPENED,
    "export.created",
];

/// `?actor=&action=`: `action` is `access` (default), `all` or one action.
#[derive(Debug, Deserialize)]
pub(super) struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
}

/// A row as shown.
pub(super) struct Row {
    seq: u64,
    at: String,
    actor: String,
    action: String,
    target: String,
    summary: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/audit.html")]
pub(super) struct AuditPage {
    layout: Layout,
    actor: String,
    actions: Vec<(String, bool)>,
    rows: Vec<Row>,
    total: usize,
}

/// Rows shown at most (newest first).
const SHOWN: usize = 500;

/// `GET /audit`.
pub(super) async fn log(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(csrf): Extension<CsrfToken>,
    Query(q): Query<AuditQuery>,
) -> Result<AuditPage, PageError> {
    require(&p, Section::Audit)?;
    let actor = q.actor.unwrap_or_default().trim().to_string();
    let action = q
        .action
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "access".into());
    let journal = state.journal.clone();
    let console = state.console.clone();
    let (a, b) = (actor.clone(), action.clone());
    let (rows, total, known) = tokio::task::spawn_blocking(move || {
        console.with(&journal, |proj| {
            let keep = |r: &&super::projection::AuditRow| {
                (a.is_empty() || r.actor == a)
                    && match b.as_str() {
                        "access" => ACCESS.contains(&r.action.as_str()),
                        "all" => true,
                        x => r.action == x,
                    }
            };
            let total = proj.audit.iter().filter(keep).count();
            let utc = jiff::tz::TimeZone::UTC;
            let rows: Vec<Row> = proj
                .audit
                .iter()
                .rev()
                .filter(keep)
                .take(SHOWN)
                .map(|r| Row {
                    seq: r.seq,
                    at: when(r.at, &utc),
                    actor: r.actor.clone(),
                    action: r.action.clone(),
                    target: r.target.clone(),
                    summary: r.summary.clone(),
                })
                .collect();
            let mut known: Vec<String> = proj.audit.iter().map(|r| r.action.clone()).collect();
            known.sort();
            known.dedup();
            (rows, total, known)
        })
    })
    .await??;
    let mut actions: Vec<(String, bool)> = vec![
        ("access".to_string(), action == "access"),
        ("all".to_string(), action == "all"),
    ];
    actions.extend(known.into_iter().map(|k| {
        let selected = k == action;
        (k, selected)
    }));
    Ok(AuditPage {
        layout: Layout::new(&p, &csrf, Section::Audit, "Audit log"),
        actor,
        actions,
        rows,
        total,
    })
}
