//! The notifier: takes notices without waiting, delivers them in the
//! background, retries, and reports every outcome.
//!
//! `notify` only spawns one task per (notice, target) on the runtime the
//! notifier was started in, so it never waits for a target, and works from
//! any thread. Each task prepares its request once (so a webhook signature
//! covers the exact bytes of every attempt) and sends it until it is
//! delivered, refused for good, or out of attempts, sleeping with back-off
//! in between. A few attempts per target run at once; the rest wait, so a
//! dead target cannot open a connection per queued alert.

use crate::config::{NotifyConfig, NotifyError, RetryPolicy, Secret, TargetConfig};
use crate::email::Mailer;
use crate::http::{self, HttpRequest};
use crate::notice::{AlertNotice, Outcome};
use crate::retry::{self, AttemptError};
use crate::{pagerduty, slack, webhook};
use custos_model::Severity;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::Semaphore;

/// The timeout of one HTTP request, and of each SMTP command.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A backstop on one whole attempt (an SMTP exchange is several commands).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Attempts in flight at once per target.
const CONCURRENT_ATTEMPTS: usize = 4;

/// Sends alert notices to the configured targets in the background.
/// Clones share the targets, the queue and the outcome callback.
#[derive(Clone)]
pub struct Notifier {
    shared: Arc<Shared>,
}

struct Shared {
    runtime: Handle,
    targets: Vec<Target>,
    client: reqwest::Client,
    retry: RetryPolicy,
    on_outcome: Box<dyn Fn(Outcome) + Send + Sync>,
    /// (notice, target) pairs queued or in flight.
    pending: AtomicUsize,
}

struct Target {
    name: String,
    min_severity: Severity,
    channel: Channel,
    slots: Semaphore,
}

enum Channel {
    Webhook { url: String, secret: Secret },
    Slack { url: Secret },
    PagerDuty { url: String, routing_key: Secret },
    Email(Box<Mailer>),
}

/// A request prepared once for all attempts.
enum Prepared {
    Http(HttpRequest),
    Mail(lettre::Message),
}

impl Notifier {
    /// Checks `config` (the error names the target and field at fault) and
    /// starts the notifier on the current tokio runtime. `on_outcome` hears
    /// once about every (notice, target) pair, from a runtime thread: it
    /// should be quick.
    pub fn start(
        config: NotifyConfig,
        on_outcome: impl Fn(Outcome) + Send + Sync + 'static,
    ) -> Result<Notifier, NotifyError> {
        config.validate()?;
        let runtime = Handle::try_current().map_err(|_| NotifyError::NoRuntime)?;
        let client =
            http::client(REQUEST_TIMEOUT).map_err(|e| NotifyError::HttpClient(e.to_string()))?;
        let mut targets = Vec::new();
        for (index, target) in config.targets.into_iter().enumerate() {
            let name = target.name().to_string();
            let min_severity = target.min_severity();
            let channel = match target {
                TargetConfig::Webhook(t) => Channel::Webhook {
                    url: t.url,
                    secret: t.secret,
                },
                TargetConfig::Slack(t) => Channel::Slack { url: t.url },
                TargetConfig::PagerDuty(t) => Channel::PagerDuty {
                    url: t.url,
                    routing_key: t.routing_key,
                },
                TargetConfig::Email(t) => {
                    let mailer =
                        Mailer::new(&t, REQUEST_TIMEOUT).map_err(|reason| NotifyError::Target {
                            index,
                            target: name.clone(),
                            field: "smtp_host",
                            reason,
                        })?;
                    Channel::Email(Box::new(mailer))
                }
            };
            targets.push(Target {
                name,
                min_severity,
                channel,
                slots: Semaphore::new(CONCURRENT_ATTEMPTS),
            });
        }
        Ok(Notifier {
            shared: Arc::new(Shared {
                runtime,
                targets,
                client,
                retry: config.retry,
                on_outcome: Box::new(on_outcome),
                pending: AtomicUsize::new(0),
            }),
        })
    }

    /// Queues `notice` for every target whose `min_severity` it reaches, and
    /// returns at once. Never blocks, from any thread.
    pub fn notify(&self, notice: AlertNotice) {
        let notice = Arc::new(notice);
        for index in 0..self.shared.targets.len() {
            if self.shared.targets[index].min_severity > notice.severity {
                continue;
            }
            let pending = Pending::new(&self.shared);
            let notice = Arc::clone(&notice);
            self.shared.runtime.spawn(deliver(pending, index, notice));
        }
    }

    /// Whether nothing is queued or in flight (for tests and shutdown).
    pub fn is_empty(&self) -> bool {
        self.shared.pending.load(Ordering::SeqCst) == 0
    }
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let targets: Vec<&str> = self
            .shared
            .targets
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        f.debug_struct("Notifier")
            .field("targets", &targets)
            .field("pending", &self.shared.pending.load(Ordering::SeqCst))
            .finish()
    }
}

/// One (notice, target) pair counted as pending until dropped, so that it
/// is uncounted however its task ends (even if the runtime drops it).
struct Pending(Arc<Shared>);

impl Pending {
    fn new(shared: &Arc<Shared>) -> Self {
        shared.pending.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(shared))
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Delivers one notice to one target, retrying, and reports the outcome.
async fn deliver(pending: Pending, index: usize, notice: Arc<AlertNotice>) {
    let shared = &pending.0;
    let target = &shared.targets[index];
    let prepared = match target.prepare(&notice) {
        Ok(prepared) => prepared,
        Err(err) => return report(shared, target, &notice, 0, Err(err)),
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = {
            let _slot = target
                .slots
                .acquire()
                .await
                .expect("the semaphore is never closed");
            tokio::time::timeout(ATTEMPT_TIMEOUT, target.send(&shared.client, &prepared))
                .await
                .unwrap_or_else(|_| Err(AttemptError::transient("attempt timed out")))
        };
        match result {
            Err(err) if !err.permanent && attempt < shared.retry.max_attempts => {
                let wait = retry::delay(&shared.retry, attempt, rand::random(), err.retry_after);
                tracing::warn!(
                    alert_id = %notice.alert_id,
                    target = %target.name,
                    attempt,
                    retry_in_ms = wait.as_millis() as u64,
                    error = %err.message,
                    "notification failed, will retry"
                );
                tokio::time::sleep(wait).await;
            }
            result => return report(shared, target, &notice, attempt, result),
        }
    }
}

fn report(
    shared: &Shared,
    target: &Target,
    notice: &AlertNotice,
    attempts: u32,
    result: Result<(), AttemptError>,
) {
    let alert_id = notice.alert_id.clone();
    let name = target.name.clone();
    let outcome = match result {
        Ok(()) => {
            tracing::info!(alert_id = %alert_id, target = %name, attempts, "notification delivered");
            Outcome::Delivered {
                alert_id,
                target: name,
                attempts,
            }
        }
        Err(err) => {
            tracing::warn!(
                alert_id = %alert_id,
                target = %name,
                attempts,
                permanent = err.permanent,
                error = %err.message,
                "notification failed"
            );
            Outcome::Failed {
                alert_id,
                target: name,
                attempts,
                error: err.message,
            }
        }
    };
    (shared.on_outcome)(outcome);
}

impl Target {
    fn prepare(&self, notice: &AlertNotice) -> Result<Prepared, AttemptError> {
        Ok(match &self.channel {
            Channel::Webhook { url, secret } => {
                Prepared::Http(webhook::request(url, secret.expose().as_bytes(), notice))
            }
            Channel::Slack { url } => Prepared::Http(slack::request(url.expose(), notice)),
            Channel::PagerDuty { url, routing_key } => {
                Prepared::Http(pagerduty::request(url, routing_key.expose(), notice))
            }
            Channel::Email(mailer) => Prepared::Mail(mailer.message(notice)?),
        })
    }

    async fn send(
        &self,
        client: &reqwest::Client,
        prepared: &Prepared,
    ) -> Result<(), AttemptError> {
        match (prepared, &self.channel) {
            (Prepared::Http(request), _) => http::post(client, request).await,
            (Prepared::Mail(message), Channel::Email(mailer)) => mailer.send(message).await,
            (Prepared::Mail(_), _) => unreachable!("only e-mail targets prepare mail"),
        }
    }
}
