//! `/policies`: the library with every version, a version's text, the
//! editor, and "test on sample text" before saving. Saving goes through the
//! code behind `POST /api/v1/policies` (`supervision::load_policy_text`), so
//! a change is a new `policy.version` in the journal; a test evaluates the
//! edited text with custos-policy and changes nothing.

use super::{Layout, PageError, Section, marked, require, when};
use crate::AppState;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use custos_auth::{CsrfToken, Principal};
use custos_model::{Direction, Timestamp};
use serde::Deserialize;

/// A policy as listed.
pub(super) struct PolicyRow {
    name: String,
    enabled: bool,
    version: u32,
    loaded: String,
    origin: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/policies.html")]
pub(super) struct PoliciesPage {
    layout: Layout,
    rows: Vec<PolicyRow>,
    editor: Editor,
}

/// The editor and the outcome of a test.
pub(super) struct Editor {
    text: String,
    sample: String,
    error: String,
    tested: bool,
    matches: Vec<TestMatch>,
    highlighted: Vec<(String, bool)>,
}

impl Editor {
    fn new(text: String) -> Editor {
        Editor {
            text,
            sample: String::new(),
            error: String::new(),
            tested: false,
            matches: Vec::new(),
            highlighted: Vec::new(),
        }
    }
}

/// One policy that fired on the sample.
pub(super) struct TestMatch {
    title: String,
    severity: &'static str,
    hits: Vec<String>,
}

fn rows(state: &AppState) -> Result<Vec<PolicyRow>, PageError> {
    let s = super::supervision(state)?;
    let utc = jiff::tz::TimeZone::UTC;
    Ok(s.with(|sup| {
        sup.state
            .policies
            .values()
            .map(|p| {
                let v = p.current();
                PolicyRow {
                    name: p.name.clone(),
                    enabled: p.enabled,
                    version: v.version,
                    loaded: format!("{} by {}", when(v.loaded_at, &utc), v.loaded_by),
                    origin: v.origin.clone(),
                }
            })
            .collect()
    }))
}

/// `GET /policies`.
pub(super) async fn list(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(csrf): Extension<CsrfToken>,
) -> Result<PoliciesPage, PageError> {
    require(&p, Section::Policies)?;
    Ok(PoliciesPage {
        layout: Layout::new(&p, &csrf, Section::Policies, "Policies"),
        rows: rows(&state)?,
        editor: Editor::new(String::new()),
    })
}

/// `?version=N`.
#[derive(Debug, Deserialize)]
pub(super) struct VersionQuery {
    version: Option<u32>,
}

/// A version as listed on a policy's page.
pub(super) struct VersionRow {
    version: u32,
    loaded: String,
    origin: String,
    digest: String,
    current: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/policy.html")]
pub(super) struct PolicyPage {
    layout: Layout,
    name: String,
    enabled: bool,
    shown: u32,
    source: String,
    versions: Vec<VersionRow>,
    editor: Editor,
}

/// `GET /policies/{name}`: a version's text (the newest by default) and the
/// editor over the newest.
pub(super) async fn view(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(csrf): Extension<CsrfToken>,
    Path(name): Path<String>,
    Query(q): Query<VersionQuery>,
) -> Result<PolicyPage, PageError> {
    require(&p, Section::Policies)?;
    let s = super::supervision(&state)?;
    let utc = jiff::tz::TimeZone::UTC;
    let policy = s
        .with(|sup| sup.state.policies.get(&name).cloned())
        .ok_or_else(|| PageError::NotFound(format!("no policy {name}")))?;
    let current = policy.current().version;
    let shown = q.version.unwrap_or(current);
    let version = policy
        .versions
        .iter()
        .find(|v| v.version == shown)
        .ok_or_else(|| {
            PageError::NotFound(format!(
                "policy {name} has no version {shown} (1 to {current})"
            ))
        })?;
    Ok(PolicyPage {
        layout: Layout::new(&p, &csrf, Section::Policies, &format!("Policy {name}")),
        enabled: policy.enabled,
        shown,
        source: version.source.clone(),
        versions: policy
            .versions
            .iter()
            .rev()
            .map(|v| VersionRow {
                version: v.version,
                loaded: format!("{} by {}", when(v.loaded_at, &utc), v.loaded_by),
                origin: v.origin.clone(),
                digest: v.digest.chars().take(12).collect(),
                current: v.version == shown,
            })
            .collect(),
        editor: Editor::new(policy.current().source.clone()),
        name,
    })
}

/// The editor's fields: `action` is `test` or `save`.
#[derive(Debug, Deserialize)]
pub(super) struct EditForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    sample: String,
}

/// Evaluates `text` (a policy) on `sample`, ignoring the policy's channel
/// and desk scope, so an author sees what the words catch.
fn test(editor: &mut Editor) {
    editor.tested = true;
    let policy = match custos_policy::parse_policy(&editor.text, "editor") {
        Ok(p) => p,
        Err(e) => {
            editor.error = e.to_string();
            return;
        }
    };
    let engine = match custos_policy::Engine::compile(&[(policy, 0)]) {
        Ok(e) => e,
        Err(e) => {
            editor.error = e.to_string();
            return;
        }
    };
    let doc = custos_policy::Document {
        channel: "whatsapp",
        direction: Direction::Inbound,
        text: &editor.sample,
        attachments: &[],
        sent_at: Timestamp::now(),
        units: &[],
        external: true,
        new_external_contact: false,
        edited: false,
        deleted: false,
    };
    let found = engine.scanner().evaluate_ignoring_scope(&doc);
    let mut ranges = Vec::new();
    for m in &found {
        ranges.extend(
            m.hits
                .iter()
                .filter(|h| h.end > h.start)
                .map(|h| (h.start, h.end)),
        );
    }
    editor.highlighted = marked(&editor.sample, &ranges);
    editor.matches = found
        .into_iter()
        .map(|m| TestMatch {
            title: m.title,
            severity: m.severity.name(),
            hits: m
                .hits
                .iter()
                .map(|h| {
                    let at = editor.sample.get(h.start..h.end).filter(|t| !t.is_empty());
                    match at {
                        Some(t) => format!("{} “{}”", h.label, t),
                        None => h.label.clone(),
                    }
                })
                .collect(),
        })
        .collect();
}

/// `POST /policies`: test the edited text on the sample, or save it as a
/// new version (through the API's code) and show the policy.
pub(super) async fn submit(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(csrf): Extension<CsrfToken>,
    Form(form): Form<EditForm>,
) -> Result<Response, PageError> {
    require(&p, Section::Policies)?;
    let mut editor = Editor::new(form.text.clone());
    editor.sample = form.sample;
    match form.action.as_str() {
        "test" => test(&mut editor),
        "save" => {
            match crate::supervision::load_policy_text(&state, p.user.clone(), form.text, "console")
                .await
            {
                Ok(loaded) => {
                    let to = format!("/policies/{}", super::alerts::urlencode(&loaded.name));
                    return Ok(Redirect::to(&to).into_response());
                }
                Err(problem) if problem.status() == axum::http::StatusCode::BAD_REQUEST => {
                    editor.error = problem.detail().to_string();
                }
                Err(problem) => return Err(problem.into()),
            }
        }
        other => {
            return Err(PageError::BadRequest(format!(
                "action {other:?}: expected test or save"
            )));
        }
    }
    let status = if editor.error.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::BAD_REQUEST
    };
    Ok((
        status,
        PoliciesPage {
            layout: Layout::new(&p, &csrf, Section::Policies, "Policies"),
            rows: rows(&state)?,
            editor,
        },
    )
        .into_response())
}
