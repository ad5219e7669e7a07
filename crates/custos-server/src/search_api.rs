//! The search API: `GET /api/v1/search`, `GET /api/v1/messages/{seq}`
//! and `POST /api/v1/exports`.
//! All are audited reads: the query, the signed-in actor, the stated
//! reason (`reason=` or the `X-Custos-Reason` header) or matter and every
//! entry returned are journalled before the answer is sent. Each is
//! confined by the actor's information barrier ([`crate::barrier`]): the
//! search carries it inside the index query, so totals and pages count
//! only visible messages; messages outside are "not found". A malformed query is a 400 problem+json whose
//! `position` names the column of the mistake.

use crate::AppState;
use crate::problem::Problem;
use crate::search::{self as audit, ArchiveResolver};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use custos_auth::Principal;
use custos_governance::holds::Holds;
use custos_query::Field;
use custos_search::{SearchOptions, Sort};
use serde::Deserialize;

/// Parameters of `GET /api/v1/search`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The query.
    pub q: String,
    /// Hits per page (default 20, at most 500).
    pub limit: Option<usize>,
    /// Hits skipped (superseded by `cursor`).
    pub offset: Option<usize>,
    /// Where the last page ended (its `next_cursor`).
    pub cursor: Option<String>,
    /// relevance, newest or oldest.
    pub sort: Option<String>,
    /// Why (required unless `matter` is given).
    pub reason: Option<String>,
    /// The case or matter.
    pub matter: Option<String>,
    /// Messages of conversation around each hit.
    pub context: Option<usize>,
}

/// Parameters of `GET /api/v1/messages/{seq}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OpenParams {
    /// Messages of conversation before and after.
    pub context: Option<usize>,
    /// Why (required unless `matter` is given).
    pub reason: Option<String>,
    /// The case or matter.
    pub matter: Option<String>,
}

fn bad(title: &'static str, detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, title, detail)
}

fn reason(
    reason: &Option<String>,
    matter: &Option<String>,
    headers: &HeaderMap,
) -> Result<String, Problem> {
    let reason = crate::barrier::stated_reason(reason.as_deref(), headers);
    match (reason, matter.as_deref().map(str::trim)) {
        (Some(r), _) => Ok(r),
        (_, Some(m)) if !m.is_empty() => Ok("matter".to_string()),
        _ => Err(bad(
            "missing reason",
            "a search reads archived content and is journalled: give reason= (or the X-Custos-Reason header) or matter=",
        )),
    }
}

fn service(state: &AppState) -> Result<crate::search::SearchService, Problem> {
    state.search.clone().ok_or_else(|| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "search is off",
            "this server runs without a search index",
        )
    })
}

/// `GET /api/v1/search`
#[utoipa::path(
    get, path = "/api/v1/search", tag = "search",
    params(SearchParams),
    responses(
        (status = 200, description = "A page of hits (the search is journalled)", body = crate::openapi::schemas::SearchPage),
        (status = 400, description = "A malformed query (with its position), a missing reason, a bad sort or cursor", body = crate::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Search is off", body = crate::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn search(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(params): Query<SearchParams>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, Problem> {
    let who = principal.user.clone();
    let why = reason(&params.reason, &params.matter, &headers)?;
    let barrier = crate::barrier::of(&state, &principal);
    let profile = state.redaction.for_principal(&principal);
    let query = custos_query::parse(&params.q)
        .map_err(|e| bad("malformed query", e.to_string()).with("position", e.position.into()))?;
    let sort: Sort = match params.sort.as_deref() {
        None => Sort::Relevance,
        Some(s) => s.parse().map_err(|e: String| bad("bad sort", e))?,
    };
    let page = crate::paging::page("search", params.cursor.as_deref(), params.limit, 20, 500)?;
    let options = SearchOptions {
        sort,
        offset: if params.cursor.is_some() {
            page.start
        } else {
            params.offset.unwrap_or(0)
        },
        limit: page.limit,
    };
    let svc = service(&state)?;
    let supervision = state.supervision.clone();
    let journal = state.journal.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<serde_json::Value, Problem> {
        let holds = if audit::mentions(&query, Field::Hold) {
            Holds::load(&journal).map_err(|e| Problem::internal(&e))?
        } else {
            Holds::default()
        };
        let people = svc.people().to_vec();
        let resolver = match &supervision {
            Some(s) => s.with(|sup| ArchiveResolver::new(people, &sup.state, &holds)),
            None => ArchiveResolver::new(people, &Default::default(), &holds),
        };
        // Addresses stand for every address of their party.
        let resolver = if [Field::From, Field::To, Field::Participant]
            .into_iter()
            .any(|f| audit::mentions(&query, f))
        {
            resolver.with_identities(
                custos_governance::identities::Identities::load(&journal)
                    .map_err(|e| Problem::internal(&e))?,
            )
        } else {
            resolver
        };
        let barred = barrier.resolver(&resolver);
        let mut results = svc
            .index()
            .search(&barrier.restrict(query), &barred, &options)
            .map_err(|e| match e {
                custos_search::Error::Query(m) => bad("query names nothing", m),
                e => Problem::internal(&e),
            })?;
        let shown: Vec<u64> = results.hits.iter().map(|h| h.seq).collect();
        journal
            .append_system(
                &who,
                audit::SEARCHED,
                None,
                audit::searched(
                    &params.q,
                    &why,
                    params.matter.as_deref(),
                    results.total,
                    &shown,
                ),
            )
            .map_err(|e| Problem::internal(&e))?;
        let mut context = Vec::new();
        if let Some(n) = params.context {
            let n = n.min(50);
            for hit in &results.hits {
                let mut around = svc
                    .index()
                    .around(hit.seq, n, n)
                    .map_err(|e| Problem::internal(&e))?;
                around.retain(|h| barrier.allows_hit(h));
                context.push(around);
            }
            let seqs: Vec<u64> = context.iter().flatten().map(|h| h.seq).collect();
            journal
                .append_system(
                    &who,
                    audit::OPENED,
                    None,
                    audit::opened(&why, params.matter.as_deref(), &seqs),
                )
                .map_err(|e| Problem::internal(&e))?;
        }
        for hit in results.hits.iter_mut().chain(context.iter_mut().flatten()) {
            crate::redaction::redact_hit(hit, &profile);
        }
        let next_cursor = crate::paging::next_cursor(
            "search",
            options.offset,
            results.hits.len(),
            results.total as usize,
        );
        Ok(serde_json::json!({
            "total": results.total,
            "offset": options.offset,
            "next_cursor": next_cursor,
            "hits": results.hits,
            "context": if params.context.is_some() { Some(context) } else { None },
        }))
    })
    .await
    .map_err(|e| Problem::internal(&e))??;
    Ok(Json(result))
}

/// `GET /api/v1/messages/{seq}`: one message and the conversation around it.
#[utoipa::path(
    get, path = "/api/v1/messages/{seq}", tag = "search",
    params(("seq" = u64, Path, description = "The message's journal entry"), OpenParams),
    responses(
        (status = 200, description = "The message and its conversation (the read is journalled)", body = crate::openapi::schemas::MessageView),
        (status = 400, description = "A missing reason", body = crate::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such message, or outside the principal's barrier", body = crate::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn open_message(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(seq): Path<u64>,
    Query(params): Query<OpenParams>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, Problem> {
    let who = principal.user.clone();
    let why = reason(&params.reason, &params.matter, &headers)?;
    let barrier = crate::barrier::of(&state, &principal);
    let profile = state.redaction.for_principal(&principal);
    let svc = service(&state)?;
    let journal = state.journal.clone();
    let value = tokio::task::spawn_blocking(move || -> Result<serde_json::Value, Problem> {
        let n = params.context.unwrap_or(0).min(50);
        let mut around = svc
            .index()
            .around(seq, n, n)
            .map_err(|e| Problem::internal(&e))?;
        // Outside the barrier is the same answer as absent.
        if !around.iter().any(|h| h.seq == seq && barrier.allows_hit(h)) {
            around.clear();
        }
        around.retain(|h| barrier.allows_hit(h));
        if around.is_empty() {
            return Err(Problem::new(
                StatusCode::NOT_FOUND,
                "no such message",
                format!("entry {seq} is not a message in the index"),
            ));
        }
        let seqs: Vec<u64> = around.iter().map(|h| h.seq).collect();
        journal
            .append_system(
                &who,
                audit::OPENED,
                None,
                audit::opened(&why, params.matter.as_deref(), &seqs),
            )
            .map_err(|e| Problem::internal(&e))?;
        for hit in &mut around {
            crate::redaction::redact_hit(hit, &profile);
        }
        Ok(serde_json::json!({ "seq": seq, "conversation": around }))
    })
    .await
    .map_err(|e| Problem::internal(&e))??;
    Ok(Json(value))
}

/// The body of `POST /api/v1/exports`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ExportBody {
    /// The query selecting messages (or `case`).
    pub query: Option<String>,
    /// A case whose messages tagged relevant are produced.
    pub case: Option<String>,
    /// Formats (default rsmf, pdf, csv).
    pub formats: Option<Vec<String>>,
    /// Why (required).
    pub reason: String,
    /// The case or matter.
    pub matter: Option<String>,
    /// day (default), month or conversation.
    pub slicing: Option<String>,
    /// IANA time zone (default UTC).
    pub time_zone: Option<String>,
    /// Bates prefix (default `CUSTOS-`).
    pub bates_prefix: Option<String>,
    /// Kinds of personal data to mask (default: what the reader's roles
    /// see masked; `["none"]` for a full export, which needs a reader who
    /// sees everything).
    pub redact: Option<Vec<String>>,
}

/// `POST /api/v1/exports`: makes an export in the server's exports
/// directory; 201 with its id, place and custody digest.
#[utoipa::path(
    post, path = "/api/v1/exports", tag = "search",
    request_body = ExportBody,
    responses(
        (status = 201, description = "The export: id, place and custody digest", body = Object),
        (status = 400, description = "Nothing selected, an unknown format or slicing, a query naming nothing", body = crate::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Exports are off", body = crate::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_export(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Json(body): Json<ExportBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), Problem> {
    use crate::exports::{ExportError, ExportSpec, Selection};
    let who = principal.user.clone();
    let barrier = crate::barrier::of(&state, &principal);
    let svc = service(&state)?;
    let Some(root) = svc.exports_dir().map(std::path::Path::to_path_buf) else {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "exports are off",
            "this server has no exports directory",
        ));
    };
    let selection = match (body.query, body.case) {
        (Some(q), None) => Selection::Query(q),
        (None, Some(c)) => Selection::Case(c),
        _ => return Err(bad("nothing selected", "give query or case (not both)")),
    };
    let formats = body
        .formats
        .unwrap_or_else(|| vec!["rsmf".into(), "pdf".into(), "csv".into()])
        .iter()
        .map(|f| f.parse::<custos_export::Format>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("unknown format", e.to_string()))?;
    let slicing = body
        .slicing
        .as_deref()
        .unwrap_or("day")
        .parse::<custos_export::Slicing>()
        .map_err(|e| bad("unknown slicing", e.to_string()))?;
    let asked = body
        .redact
        .as_deref()
        .map(custos_policy::redact::Profile::from_kinds)
        .transpose()
        .map_err(|e| bad("unknown redaction kind", e.to_string()))?;
    let spec = ExportSpec {
        selection,
        formats,
        slicing,
        time_zone: body.time_zone.unwrap_or_else(|| "UTC".into()),
        bates_prefix: body.bates_prefix.unwrap_or_else(|| "CUSTOS-".into()),
        reason: body.reason,
        matter: body.matter,
        redaction: crate::redaction::export_profile(
            &state.redaction.for_principal(&principal),
            asked,
        )
        .map_err(|e| Problem::new(StatusCode::FORBIDDEN, "redaction refused", e))?,
    };
    let supervision = state.supervision.clone();
    let journal = state.journal.clone();
    let made = tokio::task::spawn_blocking(move || {
        let holds = match &spec.selection {
            Selection::Query(q)
                if custos_query::parse(q)
                    .map(|q| audit::mentions(&q, Field::Hold))
                    .unwrap_or(false) =>
            {
                Holds::load(&journal).map_err(|e| Problem::internal(&e))?
            }
            _ => Holds::default(),
        };
        let people = svc.people().to_vec();
        let resolver = match &supervision {
            Some(s) => s.with(|sup| ArchiveResolver::new(people.clone(), &sup.state, &holds)),
            None => ArchiveResolver::new(people.clone(), &Default::default(), &holds),
        };
        let stamp = custos_model::Timestamp::now().as_micros();
        let dir = root.join(format!("export-{stamp}"));
        let index = svc.index();
        let visible = |seq: u64| barrier.allows_seq(index, seq).unwrap_or(false);
        crate::exports::export_within(
            &journal, index, &resolver, &people, &who, &spec, &dir, &visible,
        )
        .map_err(|e| match e {
            ExportError::Invalid(m) => bad("export refused", m),
            ExportError::Search(custos_search::Error::Query(m)) => bad("query names nothing", m),
            ExportError::Case(e) => bad("no such case", e.to_string()),
            e => Problem::internal(&e),
        })
    })
    .await
    .map_err(|e| Problem::internal(&e))??;
    let value = serde_json::to_value(&made).map_err(|e| Problem::internal(&e))?;
    Ok((StatusCode::CREATED, Json(value)))
}
