//! The OpenAPI 3.1 document of `/api/v1`, generated from the code.
//!
//! Every `/api/v1` handler carries a `#[utoipa::path]` annotation and is
//! registered with utoipa-axum's `routes!`, which builds the route and
//! its documentation from the same annotation: [`api`] is the only place
//! `/api/v1` routes are added, so the router and the document cannot
//! drift (a test walks both, and the permission table, to make sure).
//! `GET /api/v1/openapi.json` serves the document without sign-in: it
//! describes the API's shape, never archived content.
//!
//! Every operation but the document itself needs a bearer token or the
//! session cookie (two security schemes) and can answer 401 and 403
//! problem+json (added to each operation here, so no annotation forgets).

use crate::{AppState, Problem};
use axum::Json;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder, Schema};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The document's fixed parts; the paths come from the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "custos API",
        description = "The custos communications archive: alerts and review, policies, search and exports, the access log, consent, sending. Errors are RFC 9457 problem+json. Lists page with `limit` and an opaque `cursor`; each page gives `next_cursor` (absent or null on the last)."
    ),
    modifiers(&Security),
    components(schemas(Problem)),
    security(("bearer" = []), ("session" = [])),
    tags(
        (name = "alerts", description = "The review queue and reviewers' actions"),
        (name = "policies", description = "Supervision policies (TOML), versioned in the journal"),
        (name = "search", description = "Search, opening messages and exports; every read is journalled"),
        (name = "audit", description = "The access log"),
        (name = "consent", description = "Consent records per party"),
        (name = "governance", description = "Legal holds, cases and users, read from the state store"),
        (name = "sending", description = "Outbound WhatsApp messages within consent and the service window"),
        (name = "session", description = "Who is signed in; the API's own description"),
    )
)]
struct ApiDoc;

/// Adds the security schemes and the 401/403 answers of every guarded
/// operation.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token (`custos token create`)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "The console's session cookie (POST /signin); unsafe methods also need X-CSRF-Token",
            ))),
        );
    }
}

/// A problem+json response for the document.
fn problem_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

fn add_auth_answers(operation: &mut Operation) {
    let responses = &mut operation.responses.responses;
    responses
        .entry("401".into())
        .or_insert_with(|| RefOr::T(problem_response("No or invalid credentials")));
    responses.entry("403".into()).or_insert_with(|| {
        RefOr::T(problem_response(
            "The principal's roles lack this route's permission, or a CSRF token is missing",
        ))
    });
}

impl PartialSchema for Problem {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .description(Some(
                "RFC 9457 problem details; extension members (e.g. `parameter`, `field`, `position`, `reasons`) name what is wrong",
            ))
            .property(
                "type",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("Always about:blank")),
            )
            .property(
                "title",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("A short summary of the kind of problem")),
            )
            .property(
                "status",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .description(Some("The HTTP status")),
            )
            .property(
                "detail",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("What is wrong, naming the parameter or field")),
            )
            .required("type")
            .required("title")
            .required("status")
            .required("detail")
            .additional_properties(Some(
                utoipa::openapi::schema::AdditionalProperties::FreeForm(true),
            ))
            .into()
    }
}

impl ToSchema for Problem {}

/// The document's own route (served without sign-in).
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "session",
    security(()),
    responses((status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json"))
)]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}

/// The guarded `/api/v1` routes with their documentation.
fn guarded() -> OpenApiRouter<AppState> {
    use crate::{audit_api, auth, consent_api, outbound, records_api, search_api, supervision};
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(outbound::send_handler))
        .routes(routes!(supervision::list_alerts))
        .routes(routes!(supervision::get_alert))
        .routes(routes!(supervision::act_on_alert))
        .routes(routes!(search_api::search))
        .routes(routes!(search_api::create_export))
        .routes(routes!(search_api::open_message))
        .routes(routes!(
            supervision::list_policies,
            supervision::load_policy
        ))
        .routes(routes!(audit_api::audit_log))
        .routes(routes!(consent_api::record))
        .routes(routes!(consent_api::show))
        .routes(routes!(auth::me))
        .routes(routes!(auth::revoke_token))
        .routes(routes!(auth::disable_user))
        .routes(routes!(records_api::list_holds))
        .routes(routes!(records_api::list_cases))
        .routes(routes!(records_api::list_users))
}

/// The whole document: the guarded routes (each with its 401/403) and the
/// public document route.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = guarded().split_for_parts();
    for item in doc.paths.paths.values_mut() {
        for op in operations(item) {
            add_auth_answers(op);
        }
    }
    let (_, public) = OpenApiRouter::<AppState>::new()
        .routes(routes!(openapi_json))
        .split_for_parts();
    doc.merge(public);
    doc
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// The `/api/v1` router: the guarded routes behind [`crate::auth::require`],
/// and the document route outside it.
pub(crate) fn api(state: AppState) -> axum::Router<AppState> {
    let (guarded, _) = guarded().split_for_parts();
    guarded
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            crate::auth::require,
        ))
        .route("/api/v1/openapi.json", axum::routing::get(openapi_json))
        .layer(axum::middleware::from_fn(problem_for_rejections))
}

/// A request axum's extractors refuse (a malformed query string, a body
/// that is not the JSON expected) answers in plain text; the API answers
/// problem+json, with axum's words as the detail.
async fn problem_for_rejections(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let response = next.run(request).await;
    let status = response.status();
    let plain = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !(status.is_client_error() && plain) {
        return response;
    }
    let detail = match axum::body::to_bytes(response.into_body(), 64 * 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    };
    crate::Problem::new(status, "invalid request", detail).into_response()
}

/// Response shapes, for the document only (the handlers build these
/// objects as JSON; the HTTP tests read them back by these names).
pub mod schemas {
    use utoipa::ToSchema;

    /// `GET /api/v1/alerts`.
    #[derive(ToSchema)]
    pub struct AlertPage {
        /// Alerts in review order (open first, then severity, score, age),
        /// each with `age_seconds` and `likely_false_positive`.
        #[schema(value_type = Vec<Object>)]
        pub alerts: Vec<serde_json::Value>,
        /// The cursor of the next page; null on the last.
        pub next_cursor: Option<String>,
    }

    /// `GET /api/v1/policies`.
    #[derive(ToSchema)]
    pub struct PolicyPage {
        /// Policies by name: name, enabled, version, digest, loaded_at,
        /// loaded_by, origin, source (the TOML text).
        #[schema(value_type = Vec<Object>)]
        pub policies: Vec<serde_json::Value>,
        /// The cursor of the next page; null on the last.
        pub next_cursor: Option<String>,
    }

    /// `GET /api/v1/search`.
    #[derive(ToSchema)]
    pub struct SearchPage {
        /// Matches in all (within the principal's barrier).
        pub total: u64,
        /// Where this page starts.
        pub offset: u64,
        /// The cursor of the next page; null on the last.
        pub next_cursor: Option<String>,
        /// Hits: seq, score, time, channel, conversation, sender, snippet.
        #[schema(value_type = Vec<Object>)]
        pub hits: Vec<serde_json::Value>,
        /// With `context`: the conversation around each hit.
        #[schema(value_type = Option<Vec<Vec<Object>>>)]
        pub context: Option<serde_json::Value>,
    }

    /// `GET /api/v1/audit` (format json).
    #[derive(ToSchema)]
    pub struct AuditPage {
        /// Access events in journal order.
        #[schema(value_type = Vec<Object>)]
        pub events: Vec<serde_json::Value>,
        /// The cursor of the next page; null on the last.
        pub next_cursor: Option<String>,
    }

    /// An answer naming the journal entry a write made.
    #[derive(ToSchema)]
    pub struct EntryAnswer {
        /// The journal entry's sequence number.
        pub entry: u64,
    }

    /// `POST /api/v1/policies`.
    #[derive(ToSchema)]
    pub struct PolicyLoaded {
        /// The policy's name.
        pub name: String,
        /// Its version now.
        pub version: u32,
        /// The `policy.version` entry; null when the text was unchanged.
        pub entry: Option<u64>,
    }

    /// `POST /api/v1/whatsapp/messages`.
    #[derive(ToSchema)]
    pub struct Sent {
        /// The message's WhatsApp id (wamid).
        pub id: String,
    }

    /// `POST /api/v1/consent`.
    #[derive(ToSchema)]
    pub struct ConsentRecorded {
        /// The journal entry.
        pub seq: u64,
        /// The change as recorded.
        #[schema(value_type = Object)]
        pub change: serde_json::Value,
    }

    /// `GET /api/v1/consent/{party}`.
    #[derive(ToSchema)]
    pub struct ConsentHistory {
        /// The party asked about, normalised.
        pub party: String,
        /// The state now, by channel (`opt_in` or `opt_out`).
        #[schema(value_type = Object)]
        pub current: serde_json::Value,
        /// Every change, oldest first, each with its `seq`.
        #[schema(value_type = Vec<Object>)]
        pub history: Vec<serde_json::Value>,
    }

    /// `GET /api/v1/messages/{seq}`.
    #[derive(ToSchema)]
    pub struct MessageView {
        /// The message's entry.
        pub seq: u64,
        /// The message and the conversation around it (within the barrier).
        #[schema(value_type = Vec<Object>)]
        pub conversation: Vec<serde_json::Value>,
    }

    /// `GET /api/v1/me`.
    #[derive(ToSchema)]
    pub struct Me {
        /// The user id.
        pub user: String,
        /// The display name.
        pub name: String,
        /// Roles.
        pub roles: Vec<String>,
        /// The information barrier.
        #[schema(value_type = Object)]
        pub scope: serde_json::Value,
        /// For a session: the CSRF token unsafe requests must carry.
        pub csrf_token: Option<String>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_parses_as_openapi_3_1() {
        let text = serde_json::to_string(&document()).unwrap();
        let spec = oas3::from_json(&text).unwrap_or_else(|e| panic!("{e}"));
        assert!(spec.openapi.starts_with("3.1"), "{}", spec.openapi);
        let operations: Vec<_> = spec.operations().collect();
        assert_eq!(
            operations.len(),
            crate::auth::PERMISSIONS.len() + 1,
            "every guarded route and the document's own"
        );
    }
}
