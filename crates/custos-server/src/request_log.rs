//! One structured log line per request (target `custos::request`, level
//! info): method, route template, status, latency and the principal.
//!
//! The route is the router's template (`/api/v1/messages/{seq}`), never
//! the URI: query strings carry search terms and reasons, and paths can
//! carry party numbers, so neither is logged. Unmatched requests log the
//! route as `-`. The principal comes back from the auth guards as a
//! response extension ([`PrincipalId`]), since the guards run inside this
//! layer.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

/// The id of the principal a request was served to, left on the response
/// by the auth guards.
#[derive(Clone, Debug)]
pub struct PrincipalId(pub String);

/// The logging layer (`axum::middleware::from_fn(request_log::log)`).
pub async fn log(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "-".to_string());
    let response = next.run(req).await;
    let principal = response
        .extensions()
        .get::<PrincipalId>()
        .map(|p| p.0.as_str())
        .unwrap_or("-");
    tracing::info!(
        target: "custos::request",
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        principal = %principal,
        "request"
    );
    response
}
