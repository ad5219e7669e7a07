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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// Serves `status` with `headers` on loopback; returns the URL.
    async fn answering(status: u16, headers: &'static [(&'static str, &'static str)]) -> String {
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move || async move {
                let mut response =
                    axum::response::Response::new(axum::body::Body::from("x".repeat(1000)));
                *response.status_mut() = axum::http::StatusCode::from_u16(status).unwrap();
                for (name, value) in headers {
                    response.headers_mut().insert(*name, value.parse().unwrap());
                }
                response
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    async fn post_to(url: String, timeout: Duration) -> Result<(), AttemptError> {
        let request = HttpRequest {
            url,
            headers: Vec::new(),
            body: b"{}".to_vec(),
        };
        post(&client(timeout).unwrap(), &request).await
    }

    #[tokio::test]
    async fn a_target_that_never_answers_times_out_and_is_retried() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let holder = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                held.push(listener.accept().await.unwrap());
            }
        });
        let began = std::time::Instant::now();
        let err = post_to(url, Duration::from_millis(200)).await.unwrap_err();
        assert!(began.elapsed() < Duration::from_secs(5));
        assert!(!err.permanent, "{err:?}");
        assert!(err.message.contains("timed out"), "{}", err.message);
        holder.abort();
    }

    #[tokio::test]
    async fn rate_limits_are_retried_after_the_asked_wait() {
        let url = answering(429, &[("retry-after", "7")]).await;
        let err = post_to(url, REQUEST_TIMEOUT_FOR_TESTS).await.unwrap_err();
        assert!(!err.permanent);
        assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
        assert!(
            err.message.starts_with("http 429 Too Many Requests: xxx"),
            "{}",
            err.message
        );
        assert!(err.message.len() < EXCERPT_BYTES + 50, "{}", err.message);
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let url = answering(307, &[("location", "http://127.0.0.1:1/")]).await;
        let err = post_to(url, REQUEST_TIMEOUT_FOR_TESTS).await.unwrap_err();
        assert!(err.permanent, "{err:?}");
        assert!(err.message.starts_with("http 307"), "{}", err.message);
    }

    #[tokio::test]
    async fn timeout_and_server_errors_are_transient_other_4xx_final() {
        for (status, permanent) in [
            (408, false),
            (500, false),
            (502, false),
            (401, true),
            (404, true),
            (410, true),
        ] {
            let err = post_to(answering(status, &[]).await, REQUEST_TIMEOUT_FOR_TESTS)
                .await
                .unwrap_err();
            assert_eq!(err.permanent, permanent, "{status}");
        }
        assert_eq!(
            post_to(answering(204, &[]).await, REQUEST_TIMEOUT_FOR_TESTS).await,
            Ok(())
        );
    }

    const REQUEST_TIMEOUT_FOR_TESTS: Duration = Duration::from_secs(5);
}
