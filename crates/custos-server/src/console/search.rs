//! `/search`: the query box, filters, highlighted snippets and paging.
//! The terms travel only in POST bodies (paging re-posts them), never in a
//! URL. Every search is journalled as `search.run` with the same details
//! the API records (`crate::search::searched`), before results are shown.
//! The information barrier is part of the query: a reader scoped to desks
//! searches only messages with those desks' custodians, so totals and
//! pages are right, and each hit is checked again before it is shown.

use super::{Layout, PageError, Section, marked, require, when};
use crate::AppState;
use crate::search::{self as audit, ArchiveResolver};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::{Extension, Form};
use custos_auth::{CsrfToken, Principal};
use custos_governance::holds::Holds;
use custos_query::{Field, Query};
use custos_search::{SearchOptions, Sort};
use serde::Deserialize;

/// Hits per page.
const PAGE: usize = 20;

/// The search form's fields.
#[derive(Debug, Default, Deserialize)]
pub(super) struct SearchForm {
    #[serde(default)]
    q: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    matter: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    direction: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    before: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    page: usize,
}

/// One hit as listed.
pub(super) struct HitRow {
    seq: u64,
    at: String,
    channel: String,
    direction: String,
    from: String,
    to: String,
    snippet: Vec<(String, bool)>,
    edited: bool,
    deleted: bool,
    attachments: usize,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/search.html")]
pub(super) struct SearchPage {
    layout: Layout,
    form: SearchForm,
    error: String,
    ran: bool,
    total: usize,
    hits: Vec<HitRow>,
    first: usize,
    last: usize,
    prev: Option<usize>,
    next: Option<usize>,
    sorts: Vec<(&'static str, bool)>,
    directions: Vec<(&'static str, bool)>,
}

impl SearchPage {
    fn new(p: &Principal, csrf: &CsrfToken, form: SearchForm) -> SearchPage {
        let sorts = ["relevance", "newest", "oldest"]
            .into_iter()
            .map(|s| {
                (
                    s,
                    s == form.sort || (form.sort.is_empty() && s == "relevance"),
                )
            })
            .collect();
        let directions = ["", "inbound", "outbound", "internal"]
            .into_iter()
            .map(|d| (d, d == form.direction))
            .collect();
        SearchPage {
            layout: Layout::new(p, csrf, Section::Search, "Search"),
            form,
            error: String::new(),
            ran: false,
            total: 0,
            hits: Vec::new(),
            first: 0,
            last: 0,
            prev: None,
            next: None,
            sorts,
            directions,
        }
    }
}

/// `GET /search`: the empty form.
pub(super) async fn form(
    Extension(p): Extension<Principal>,
    Extension(csrf): Extension<CsrfToken>,
) -> Result<SearchPage, PageError> {
    require(&p, Section::Search)?;
    Ok(SearchPage::new(&p, &csrf, SearchForm::default()))
}

/// The user's query with the form's filters, checked; errors name the field.
fn build(form: &SearchForm) -> Result<Query, String> {
    let mut clauses = vec![
        custos_query::parse(&form.q)
            .map_err(|e| format!("query, column {}: {}", e.position + 1, e))?,
    ];
    let mut field = |name: &str, text: &str| -> Result<(), String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        if text.contains(char::is_whitespace) || text.contains('"') {
            return Err(format!("{name}: {text:?} must be one word"));
        }
        let q =
            custos_query::parse(&format!("{name}:{text}")).map_err(|e| format!("{name}: {e}"))?;
        clauses.push(q);
        Ok(())
    };
    field("channel", &form.channel)?;
    field("direction", &form.direction)?;
    field("after", &form.after)?;
    field("before", &form.before)?;
    Ok(if clauses.len() == 1 {
        clauses.remove(0)
    } else {
        Query::And(clauses)
    })
}

/// `POST /search`: runs the query within the reader's scope and journals it.
pub(super) async fn run(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(csrf): Extension<CsrfToken>,
    Form(form): Form<SearchForm>,
) -> Result<SearchPage, PageError> {
    require(&p, Section::Search)?;
    let mut page = SearchPage::new(&p, &csrf, form);
    let form = &page.form;
    let reason = form.reason.trim().to_string();
    let matter = Some(form.matter.trim().to_string()).filter(|m| !m.is_empty());
    if reason.is_empty() && matter.is_none() {
        page.error =
            "reason: a search reads archived content and is recorded; say why (or name the matter)"
                .into();
        return Ok(page);
    }
    let why = if reason.is_empty() {
        "matter".to_string()
    } else {
        reason
    };
    let query = match build(form) {
        Ok(q) => q,
        Err(e) => {
            page.error = e;
            return Ok(page);
        }
    };
    let sort: Sort = match form.sort.as_str() {
        "" => Sort::Relevance,
        s => match s.parse() {
            Ok(s) => s,
            Err(e) => {
                page.error = format!("sort: {e}");
                return Ok(page);
            }
        },
    };
    let options = SearchOptions {
        sort,
        offset: form.page * PAGE,
        limit: PAGE,
    };
    let Some(svc) = state.search.clone() else {
        return Err(PageError::Unavailable(
            "this server runs without a search index".into(),
        ));
    };
    let supervision = state.supervision.clone();
    let journal = state.journal.clone();
    let console = state.console.clone();
    let scope = p.scope.clone();
    let who = p.user.clone();
    let text = query.to_string();
    let outcome = tokio::task::spawn_blocking(move || -> Result<Result<_, String>, PageError> {
        let (barrier, names) = console.with(&journal, |proj| {
            let names: std::collections::HashMap<String, String> = proj
                .custodians
                .values()
                .map(|c| (custos_model::party_id(&c.phone), c.name.clone()))
                .collect();
            (proj.barrier(&scope), names)
        })?;
        // The barrier as a clause: only messages with a custodian in scope.
        let scoped = match barrier.addresses() {
            None => query.clone(),
            Some(addresses) if addresses.is_empty() => {
                return Ok(Ok((0, Vec::new(), names)));
            }
            Some(addresses) => Query::And(vec![
                query.clone(),
                Query::Or(
                    addresses
                        .into_iter()
                        .map(|a| Query::Term {
                            field: Some(Field::Participant),
                            text: a,
                            fuzzy: 0,
                        })
                        .collect(),
                ),
            ]),
        };
        let holds = if audit::mentions(&query, Field::Hold) {
            Holds::load(&journal).map_err(|e| PageError::internal(&e))?
        } else {
            Holds::default()
        };
        let people = svc.people().to_vec();
        let resolver = match &supervision {
            Some(s) => s.with(|sup| ArchiveResolver::new(people, &sup.state, &holds)),
            None => ArchiveResolver::new(people, &Default::default(), &holds),
        };
        let results = match svc.index().search(&scoped, &resolver, &options) {
            Ok(r) => r,
            Err(custos_search::Error::Query(m)) => return Ok(Err(m)),
            Err(e) => return Err(PageError::internal(&e)),
        };
        let hits: Vec<_> = results
            .hits
            .into_iter()
            .filter(|h| {
                barrier.parties(
                    std::iter::once(h.from.as_str()).chain(h.to.iter().map(String::as_str)),
                )
            })
            .collect();
        let shown: Vec<u64> = hits.iter().map(|h| h.seq).collect();
        let mut details = audit::searched(&text, &why, matter.as_deref(), results.total, &shown);
        details.insert("via".into(), "console".into());
        journal.append_system(&who, audit::SEARCHED, None, details)?;
        Ok(Ok((results.total, hits, names)))
    })
    .await??;
    let (total, hits, names) = match outcome {
        Ok(found) => found,
        Err(message) => {
            page.error = format!("query: {message}");
            return Ok(page);
        }
    };
    let name = |a: &str| names.get(a).cloned().unwrap_or_else(|| a.to_string());
    let utc = jiff::tz::TimeZone::UTC;
    page.ran = true;
    page.total = total;
    page.first = options.offset + 1;
    page.last = options.offset + hits.len();
    page.prev = (options.offset > 0).then(|| page.form.page - 1);
    page.next = (options.offset + PAGE < total).then_some(page.form.page + 1);
    let profile = state.redaction.for_principal(&p);
    page.hits = hits
        .into_iter()
        .map(|mut h| {
            crate::redaction::redact_hit(&mut h, &profile);
            h
        })
        .map(|h| HitRow {
            seq: h.seq,
            at: when(h.sent_at, &utc),
            channel: h.channel.clone(),
            direction: h.direction.clone(),
            from: name(&h.from),
            to: h.to.iter().map(|t| name(t)).collect::<Vec<_>>().join(", "),
            snippet: marked(&h.snippet.text, &h.snippet.highlights),
            edited: !h.edits.is_empty(),
            deleted: h.deleted,
            attachments: h.attachments.len(),
        })
        .collect();
    Ok(page)
}
