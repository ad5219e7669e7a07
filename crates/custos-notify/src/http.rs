//! The one HTTP POST every web target makes, and how its failures are
//! classed: 2xx is delivered; 408, 429, 5xx, timeouts and connection
//! errors are worth a retry; any other answer is final.

use crate::retry::AttemptError;
use reqwest::StatusCode;
use std::time::Duration;

/// How much of a refusal's body goes into the error, for the operator.
const EXCERPT_BYTES: usize = 300;

/// A prepared POST, sent as is on every attempt (so a signature holds).
pub(crate) struct HttpRequest {
    /// Where it goes. May hold a credential (Slack): never logged.
    pub url: String,
    /// Headers besides `Content-Type: application/json`.
    pub headers: Vec<(&'static str, String)>,
    /// The exact JSON body.
    pub body: Vec<u8>,
}

/// The client every web target shares: a whole-request timeout, and no
/// redirects, since a POST redirected is a POST lost.
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("custos-notify/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Sends `request` once.
pub(crate) async fn post(
    client: &reqwest::Client,
    request: &HttpRequest,
) -> Result<(), AttemptError> {
    let mut builder = client
        .post(&request.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(request.body.clone());
    for (name, value) in &request.headers {
        builder = builder.header(*name, value);
    }
    let mut response = match builder.send().await {
        Ok(response) => response,
        // The URL is dropped from the error: Slack's URL is a credential.
        Err(err) if err.is_builder() => {
            return Err(AttemptError::permanent(describe(err.without_url())));
        }
        Err(err) => return Err(AttemptError::transient(describe(err.without_url()))),
    };
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let mut excerpt = Vec::new();
    while excerpt.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let message = answer(status, &excerpt);
    let mut error = if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
    {
        AttemptError::transient(message)
    } else {
        AttemptError::permanent(message)
    };
    error.retry_after = retry_after;
    Err(error)
}

/// `http 400 Bad Request: <start of the body, on one line>`.
fn answer(status: StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(EXCERPT_BYTES)]);
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        format!("http {status}")
    } else {
        format!("http {status}: {text}")
    }
}

/// An error and its causes on one line (reqwest's own message is generic).
fn describe(err: reqwest::Error) -> String {
    let timeout = err.is_timeout();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if timeout && !text.contains("timed out") {
        text.push_str(" (timed out)");
    }
    text
}
