//! RFC 9457 problem details: every error the API answers.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An error answer: status, a short title and a detail naming what is
/// wrong. Internal errors say so without exposing internals.
#[derive(Debug, Clone)]
pub struct Problem {
    status: StatusCode,
    title: &'static str,
    detail: String,
    /// Extension members (RFC 9457 section 3.2), e.g. `position`.
    extensions: serde_json::Map<String, serde_json::Value>,
}

impl Problem {
    /// A problem with its status, title and detail.
    pub fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            status,
            title,
            detail: detail.into(),
            extensions: serde_json::Map::new(),
        }
    }

    /// Adds an extension member, e.g. the `position` of a query's mistake.
    pub fn with(mut self, name: &str, value: serde_json::Value) -> Self {
        self.extensions.insert(name.to_string(), value);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The short title.
    pub fn title(&self) -> &'static str {
        self.title
    }

    /// What is wrong, in words.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// A failure of the server itself; the detail is logged, not sent.
    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %error, "request failed");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
            "the archive could not complete the request; nothing was acknowledged",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = self.extensions;
        body.insert("type".into(), "about:blank".into());
        body.insert("title".into(), self.title.into());
        body.insert("status".into(), self.status.as_u16().into());
        body.insert("detail".into(), self.detail.into());
        let body = serde_json::Value::Object(body);
        (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response()
    }
}
