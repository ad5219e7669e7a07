//! Alert notifications: outgoing signed webhook, Slack, PagerDuty Events API
//! v2 and SMTP e-mail, with retries that never block capture.
//!
//! The server builds a [`Notifier`] from the `[notify]` section of its
//! configuration; whoever raises an alert hands it an [`AlertNotice`] and
//! goes on at once. Each target whose `min_severity` the alert reaches gets
//! it in the background; failures are retried with exponential back-off and
//! jitter (5xx, 408, 429, timeouts, connection errors; any other refusal is
//! final), and every (notice, target) pair ends in one [`Outcome`] handed to
//! the callback, which may record it in the journal.
//!
//! Notices carry ids and labels, never message text, and secrets (webhook
//! secret, Slack URL, routing key, SMTP password) are [`Secret`]s that
//! neither `Debug` nor the logs show.
//!
//! ```no_run
//! # async fn example(notice: custos_notify::AlertNotice) -> Result<(), custos_notify::NotifyError> {
//! let config: custos_notify::NotifyConfig = toml::from_str(r#"
//!     [[targets]]
//!     kind = "webhook"
//!     name = "siem"
//!     min_severity = "high"
//!     url = "https://siem.example/hooks/custos"
//!     secret = "s3cret"
//! "#).unwrap();
//! let notifier = custos_notify::Notifier::start(config, |outcome| println!("{outcome:?}"))?;
//! notifier.notify(notice); // returns at once
//! # Ok(()) }
//! ```

mod config;
mod email;
mod http;
mod notice;
mod notifier;
mod pagerduty;
mod retry;
mod slack;
mod webhook;

pub use config::{
    EmailTarget, NotifyConfig, NotifyError, PAGERDUTY_EVENTS_URL, PagerDutyTarget, RetryPolicy,
    Secret, SlackTarget, TargetConfig, WebhookTarget,
};
pub use notice::{AlertNotice, Outcome};
pub use notifier::{Notifier, REQUEST_TIMEOUT};
pub use webhook::{EVENT as WEBHOOK_EVENT, signature as webhook_signature};
