//! Fetching WhatsApp media through the Graph API, promptly and durably.
//!
//! A webhook names media by id; the id expires after days, so every media
//! message queues a job as soon as its delivery is durable:
//! `GET {graph}/{media-id}` (bearer token) gives a short-lived URL, `GET` of
//! that URL (bearer token) the bytes. The bytes must hash to the SHA-256 the
//! webhook stated; they are then sealed in the blob store under the
//! customer's key and a `whatsapp.media.fetched` event records it. Each
//! failure is journalled (`whatsapp.media.retry`) and retried with
//! exponential back-off; after the last attempt `whatsapp.media.failed`
//! says so. Nothing is dropped: at start-up every media message with
//! neither outcome on record is queued again, and every [`SWEEP_EVERY`]
//! the node holding the `media` duty queues the downloads still without an
//! outcome [`TAKE_OVER_AFTER`] after their capture (those a cluster node
//! had in flight when it died). Two nodes fetching the same media record
//! one outcome (its de-duplication key).

use crate::Secret;
use custos_journal::Journal;
use custos_model::{Digest, Event, EventKind, Message, SystemEvent, Timestamp};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// One media download to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaJob {
    /// The message it belongs to.
    pub wamid: String,
    /// The Graph API media id.
    pub media_id: String,
    /// The SHA-256 the webhook stated.
    pub expected: Digest,
    /// Whose key seals it.
    pub subject: Option<String>,
    /// When its message was sent: the blob is sealed under that period's
    /// key, so retention disposes of it with the message.
    pub sent_at: custos_model::Timestamp,
}

/// The media jobs a message calls for: one per attachment whose media id
/// and digest the webhook gave.
pub fn jobs_of(message: &Message, subject: Option<&str>) -> Vec<MediaJob> {
    let Some(whatsapp) = message.extra.get("whatsapp") else {
        return Vec::new();
    };
    let Some(kind) = whatsapp.get("type").and_then(|t| t.as_str()) else {
        return Vec::new();
    };
    let Some(media_id) = whatsapp
        .get(kind)
        .and_then(|m| m.get("id"))
        .and_then(|id| id.as_str())
    else {
        return Vec::new();
    };
    message
        .attachments
        .iter()
        .map(|a| MediaJob {
            wamid: message.source_id.clone(),
            media_id: media_id.to_string(),
            expected: a.sha256,
            subject: subject.map(str::to_string),
            sent_at: message.sent_at,
        })
        .collect()
}

/// How the fetcher retries.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    /// Attempts before giving up.
    pub attempts: u32,
    /// Wait before the second attempt; doubled each time after.
    pub first_delay: Duration,
    /// How long one request to the Graph API may take before the attempt
    /// counts as failed (a Graph API that hangs must not hold a job forever).
    pub timeout: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 8,
            first_delay: Duration::from_secs(2),
            timeout: Duration::from_secs(60),
        }
    }
}

/// Where jobs are queued; cheap to clone.
#[derive(Clone, Debug)]
pub struct MediaQueue {
    tx: Option<mpsc::UnboundedSender<MediaJob>>,
    queued: Arc<Mutex<HashSet<(String, String)>>>,
}

impl MediaQueue {
    /// A queue that fetches nothing (no access token configured).
    pub fn disabled() -> Self {
        MediaQueue {
            tx: None,
            queued: Default::default(),
        }
    }

    /// Queues `job` unless the same media of the same message already is.
    pub fn push(&self, job: MediaJob) {
        let Some(tx) = &self.tx else { return };
        let key = (job.wamid.clone(), job.media_id.clone());
        if self
            .queued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key)
        {
            let _ = tx.send(job);
        }
    }
}

/// How often a node looks for downloads left without an outcome.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// How long after its capture a download without an outcome is taken
/// over: well past the fetcher's own retries (eight attempts, about 9
/// minutes of back-off plus their time-outs).
pub const TAKE_OVER_AFTER: Duration = Duration::from_secs(30 * 60);

/// The media downloads the journal holds without an outcome, followed
/// through the journal from where the last read stopped.
#[derive(Debug, Default)]
pub struct Pending {
    next: u64,
    /// By (wamid, media id): the job and when its message was captured.
    jobs: HashMap<(String, String), (MediaJob, Timestamp)>,
}

impl Pending {
    /// Reads what the journal gained since the last call.
    pub fn catch_up(&mut self, journal: &Journal) -> custos_journal::Result<()> {
        let jobs = &mut self.jobs;
        journal.events_since(
            &mut self.next,
            &[EventKind::Message, EventKind::System],
            |_, event| match event {
                Event::Message(m) if m.channel == "whatsapp" => {
                    let subject = m.external_party().map(str::to_string);
                    for job in jobs_of(&m, subject.as_deref()) {
                        let key = (job.wamid.clone(), job.media_id.clone());
                        jobs.insert(key, (job, m.captured_at));
                    }
                }
                Event::System(s)
                    if s.action == "whatsapp.media.fetched"
                        || s.action == "whatsapp.media.failed" =>
                {
                    let field = |k: &str| {
                        s.details
                            .get(k)
                            .and_then(|v| v.as_str())
                            .unwrap_or("")
                            .to_string()
                    };
                    jobs.remove(&(field("wamid"), field("media_id")));
                }
                _ => {}
            },
        )
    }

    /// Every download without an outcome.
    pub fn all(&self) -> Vec<MediaJob> {
        let mut jobs: Vec<MediaJob> = self.jobs.values().map(|(j, _)| j.clone()).collect();
        jobs.sort_by(|a, b| (&a.wamid, &a.media_id).cmp(&(&b.wamid, &b.media_id)));
        jobs
    }

    /// The downloads without an outcome whose message was captured before
    /// `before`.
    pub fn due(&self, before: Timestamp) -> Vec<MediaJob> {
        let mut jobs: Vec<MediaJob> = self
            .jobs
            .values()
            .filter(|(_, captured)| *captured < before)
            .map(|(j, _)| j.clone())
            .collect();
        jobs.sort_by(|a, b| (&a.wamid, &a.media_id).cmp(&(&b.wamid, &b.media_id)));
        jobs
    }
}

/// Starts the fetcher on the current runtime, queues every media job the
/// journal holds without an outcome, and sweeps for abandoned ones every
/// [`SWEEP_EVERY`] (see the module's documentation).
pub fn start(
    journal: Journal,
    graph_url: String,
    token: Secret,
    retry: Retry,
) -> std::io::Result<MediaQueue> {
    let (tx, mut rx) = mpsc::unbounded_channel::<MediaJob>();
    let queue = MediaQueue {
        tx: Some(tx),
        queued: Default::default(),
    };
    let client = reqwest::Client::builder()
        .timeout(retry.timeout)
        .build()
        .map_err(std::io::Error::other)?;
    let fetcher = Arc::new(Fetcher {
        journal: journal.clone(),
        client,
        graph_url: graph_url.trim_end_matches('/').to_string(),
        token,
        retry,
    });
    tokio::spawn(async move {
        while let Some(job) = rx.recv().await {
            let fetcher = fetcher.clone();
            tokio::spawn(async move { fetcher.run(job).await });
        }
    });
    let mut pending = Pending::default();
    let read = tokio::task::block_in_place(|| pending.catch_up(&journal));
    if let Err(e) = read {
        tracing::error!(error = %e, "reading the media downloads without an outcome");
    }
    for job in pending.all() {
        queue.push(job);
    }
    tokio::spawn(sweep(journal, queue.clone(), pending));
    Ok(queue)
}

/// Every [`SWEEP_EVERY`], under the `media` duty, queues the downloads
/// without an outcome [`TAKE_OVER_AFTER`] after their capture. Ends with
/// the runtime.
async fn sweep(journal: Journal, queue: MediaQueue, pending: Pending) {
    let pending = Arc::new(Mutex::new(pending));
    loop {
        tokio::time::sleep(SWEEP_EVERY).await;
        let (journal, pending) = (journal.clone(), pending.clone());
        let due = tokio::task::spawn_blocking(move || {
            let mut pending = pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.catch_up(&journal)?;
            let Some(_duty) = journal.try_duty("media")? else {
                return Ok(Vec::new());
            };
            let take_over = i64::try_from(TAKE_OVER_AFTER.as_micros()).unwrap_or(i64::MAX);
            Ok::<_, custos_journal::Error>(pending.due(Timestamp::from_micros(
                Timestamp::now().as_micros().saturating_sub(take_over),
            )))
        })
        .await;
        match due {
            Ok(Ok(jobs)) => {
                if !jobs.is_empty() {
                    tracing::info!(
                        jobs = jobs.len(),
                        "taking over media downloads without an outcome"
                    );
                }
                for job in jobs {
                    queue.push(job);
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "sweeping for media downloads"),
            Err(e) => tracing::warn!(error = %e, "media sweep task failed"),
        }
    }
}

struct Fetcher {
    journal: Journal,
    client: reqwest::Client,
    graph_url: String,
    token: Secret,
    retry: Retry,
}

impl Fetcher {
    async fn run(&self, job: MediaJob) {
        let mut delay = self.retry.first_delay;
        for attempt in 1..=self.retry.attempts {
            match self.fetch(&job).await {
                Ok(bytes) => {
                    let (journal, done, size) = (self.journal.clone(), job.clone(), bytes.len());
                    let stored = tokio::task::spawn_blocking(move || {
                        let blob =
                            journal.put_blob(done.subject.as_deref(), done.sent_at, &bytes)?;
                        record(&journal, "whatsapp.media.fetched", &done, |d| {
                            d.insert("size".into(), size.into());
                            d.insert("blob_key".into(), blob.key_id.to_string().into());
                            d.insert("attempt".into(), attempt.into());
                        })
                    })
                    .await;
                    match stored {
                        Ok(Ok(())) => return,
                        Ok(Err(e)) => {
                            tracing::error!(error = %e, wamid = %job.wamid, "storing media failed")
                        }
                        Err(e) => tracing::error!(error = %e, "media task failed"),
                    }
                }
                Err(problem) => {
                    tracing::warn!(wamid = %job.wamid, attempt, problem = %problem, "media fetch failed");
                    let last = attempt == self.retry.attempts;
                    let action = if last {
                        "whatsapp.media.failed"
                    } else {
                        "whatsapp.media.retry"
                    };
                    let (journal, job2) = (self.journal.clone(), job.clone());
                    let _ = tokio::task::spawn_blocking(move || {
                        record(&journal, action, &job2, |d| {
                            d.insert("attempt".into(), attempt.into());
                            d.insert("problem".into(), problem.into());
                        })
                    })
                    .await;
                    if last {
                        return;
                    }
                }
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
    }

    /// One attempt: the URL, then the bytes, checked against the digest.
    async fn fetch(&self, job: &MediaJob) -> Result<Vec<u8>, String> {
        let info: serde_json::Value = self
            .client
            .get(format!("{}/{}", self.graph_url, job.media_id))
            .bearer_auth(self.token.expose())
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| failure("media lookup", e))?
            .json()
            .await
            .map_err(|e| format!("media lookup answer: {}", e.without_url()))?;
        let url = info
            .get("url")
            .and_then(|u| u.as_str())
            .ok_or("media lookup answer has no url")?;
        let bytes = self
            .client
            .get(url)
            .bearer_auth(self.token.expose())
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| failure("media download", e))?
            .bytes()
            .await
            .map_err(|e| failure("media download", e))?;
        let digest = Digest::of(&bytes);
        if digest != job.expected {
            return Err(format!(
                "downloaded bytes hash to {digest}, the webhook said {}",
                job.expected
            ));
        }
        Ok(bytes.to_vec())
    }
}

/// What went wrong with a request, for the journal: a timeout says so (the
/// error's own text, "error sending request", would not).
fn failure(what: &str, e: reqwest::Error) -> String {
    if e.is_timeout() {
        format!("{what}: timed out")
    } else {
        format!("{what}: {}", e.without_url())
    }
}

fn record(
    journal: &Journal,
    action: &str,
    job: &MediaJob,
    fill: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> custos_journal::Result<()> {
    let mut details = serde_json::Map::new();
    details.insert("wamid".into(), job.wamid.clone().into());
    details.insert("media_id".into(), job.media_id.clone().into());
    details.insert("sha256".into(), job.expected.to_string().into());
    fill(&mut details);
    let event = Event::System(SystemEvent {
        actor: "whatsapp-media".into(),
        action: action.into(),
        target: Some(job.wamid.clone()),
        at: Timestamp::now(),
        details,
    });
    journal.append(&event, None).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_model::{Attachment, Direction};

    /// A customer's image message, captured at `captured` (microseconds).
    fn image(wamid: &str, media_id: &str, captured: i64) -> Event {
        let mut extra = serde_json::Map::new();
        extra.insert(
            "whatsapp".into(),
            serde_json::json!({"type": "image", "image": {"id": media_id}}),
        );
        Event::Message(Message {
            channel: "whatsapp".into(),
            source_id: wamid.into(),
            conversation: "c".into(),
            sender: "+5511900000001".into(),
            recipients: vec!["+447700900001".into()],
            direction: Direction::Inbound,
            sent_at: Timestamp::from_micros(captured),
            captured_at: Timestamp::from_micros(captured),
            text: None,
            attachments: vec![Attachment {
                name: None,
                media_type: "image/jpeg".into(),
                sha256: Digest::of(media_id.as_bytes()),
                size: 10,
            }],
            reply_to: None,
            raw_digest: Digest::of(wamid.as_bytes()),
            extra,
        })
    }

    #[test]
    fn downloads_without_an_outcome_are_followed_and_fall_due_after_the_grace() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::init(dir.path(), None, "test").unwrap();
        let customer = Some("+5511900000001");
        journal
            .append(&image("wamid.old", "m-old", 1_000), customer)
            .unwrap();
        journal
            .append(&image("wamid.new", "m-new", 9_000), customer)
            .unwrap();
        let mut pending = Pending::default();
        pending.catch_up(&journal).unwrap();
        let ids = |jobs: Vec<MediaJob>| jobs.into_iter().map(|j| j.media_id).collect::<Vec<_>>();
        assert_eq!(ids(pending.all()), ["m-new", "m-old"]);
        assert_eq!(ids(pending.due(Timestamp::from_micros(5_000))), ["m-old"]);

        // Another node records the old one's outcome: it is no longer due;
        // a third message arrives. Only the new entries are read.
        let old = &pending.all()[1].clone();
        record(&journal, "whatsapp.media.fetched", old, |_| {}).unwrap();
        journal
            .append(&image("wamid.third", "m-third", 2_000), customer)
            .unwrap();
        pending.catch_up(&journal).unwrap();
        assert_eq!(ids(pending.all()), ["m-new", "m-third"]);
        assert_eq!(ids(pending.due(Timestamp::from_micros(5_000))), ["m-third"]);
        // A failure is an outcome too.
        let third = pending.all()[1].clone();
        record(&journal, "whatsapp.media.failed", &third, |_| {}).unwrap();
        pending.catch_up(&journal).unwrap();
        assert!(pending.due(Timestamp::from_micros(5_000)).is_empty());
        assert_eq!(ids(pending.all()), ["m-new"]);
    }
}
