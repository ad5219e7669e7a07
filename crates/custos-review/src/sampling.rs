//! Supervisory samples: a share of each custodian's conversations in a
//! month, drawn at random from a recorded seed so that anyone can draw the
//! same sample again, and worked like alerts.

use crate::events::{self, AlertRaised, Origin, SampleDrawn};
use crate::supervisor::{ACTOR, SuperviseError, Supervisor, alert_id, text_key};
use custos_journal::{Journal, NewEntry};
use custos_model::{Digest, Severity, Timestamp};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// A sample request that cannot be drawn.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// The period is not `YYYY-MM`.
    #[error("period {0:?}: expected a month as YYYY-MM")]
    Period(String),
    /// The rate is not a share.
    #[error("rate {0}: expected a share between 0 (exclusive) and 1")]
    Rate(f64),
    /// No enrolled custodian had a conversation in the period.
    #[error("no conversations of enrolled custodians in {0}")]
    Empty(String),
    /// The same period was sampled with the same seed before.
    #[error("sample {0} was already drawn")]
    AlreadyDrawn(String),
    /// Reading or writing failed.
    #[error(transparent)]
    Supervise(#[from] SuperviseError),
}

/// One conversation a custodian took part in during the period.
#[derive(Clone, Debug)]
pub struct Conversation {
    /// The custodian.
    pub custodian: String,
    /// The conversation id.
    pub conversation: String,
    /// Its first message in the period: entry, channel, source id, time.
    pub first_seq: u64,
    /// Channel.
    pub channel: String,
    /// Source id of that message.
    pub source_id: String,
    /// When it was sent.
    pub sent_at: Timestamp,
    /// The external party, whose key encrypts the sample alert.
    pub subject: Option<String>,
}

/// The bounds of a `YYYY-MM` month in UTC.
pub fn month_bounds(period: &str) -> Result<(Timestamp, Timestamp), SampleError> {
    let bad = || SampleError::Period(period.to_string());
    let (y, m) = period.split_once('-').ok_or_else(bad)?;
    let (y, m): (i16, i8) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if y.to_string().len() != 4 || !(1..=12).contains(&m) {
        return Err(bad());
    }
    let start = jiff::civil::date(y, m, 1);
    let end = start
        .checked_add(jiff::Span::new().months(1))
        .map_err(|_| bad())?;
    let micros = |d: jiff::civil::Date| {
        jiff::tz::TimeZone::UTC
            .to_ambiguous_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
            .compatible()
            .map(|t| Timestamp::from_micros(t.as_microsecond()))
            .map_err(|_| bad())
    };
    Ok((micros(start)?, micros(end)?))
}

/// Picks `ceil(rate × n)` of `n` items for one custodian, reproducibly.
pub fn pick(n: usize, rate: f64, seed: u64, custodian: &str) -> Vec<usize> {
    let k = ((rate * n as f64).ceil() as usize).min(n);
    let digest = Digest::of(format!("custos-sample\0{seed}\0{custodian}").as_bytes());
    let mut rng = ChaCha8Rng::from_seed(*digest.as_bytes());
    let mut order: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let j = rng.random_range(i..n);
        order.swap(i, j);
    }
    let mut chosen = order[..k].to_vec();
    chosen.sort_unstable();
    chosen
}

impl Supervisor {
    /// Draws a sample of `rate` of each custodian's conversations in
    /// `period`, records it and an alert per conversation drawn.
    pub fn draw_sample(
        &mut self,
        journal: &Journal,
        period: &str,
        rate: f64,
        seed: u64,
        actor: &str,
    ) -> Result<(String, SampleDrawn), SampleError> {
        if !(rate > 0.0 && rate <= 1.0) {
            return Err(SampleError::Rate(rate));
        }
        let (start, end) = month_bounds(period)?;
        let id = format!("SM-{period}-{seed:016x}");
        if self.state.samples.iter().any(|s| s.id == id) {
            return Err(SampleError::AlreadyDrawn(id));
        }
        let mut by_custodian: BTreeMap<String, BTreeMap<String, Conversation>> = BTreeMap::new();
        for c in self.conversations(journal, start, end)? {
            by_custodian
                .entry(c.custodian.clone())
                .or_default()
                .entry(c.conversation.clone())
                .or_insert(c);
        }
        if by_custodian.is_empty() {
            return Err(SampleError::Empty(period.to_string()));
        }
        let mut entries = Vec::new();
        let mut alerts = Vec::new();
        let mut population = 0;
        for (custodian, conversations) in &by_custodian {
            let list: Vec<&Conversation> = conversations.values().collect();
            population += list.len() as u64;
            for i in pick(list.len(), rate, seed, custodian) {
                let c = list[i];
                let alert = alert_id(&["sample", &id, &c.conversation]);
                let raised = AlertRaised {
                    origin: Origin::Sample,
                    message_seq: c.first_seq,
                    channel: c.channel.clone(),
                    source_id: c.source_id.clone(),
                    conversation: c.conversation.clone(),
                    custodian: Some(custodian.clone()),
                    sent_at: c.sent_at,
                    policy: "sample".into(),
                    version: 0,
                    title: format!("Supervisory sample {period}"),
                    category: "sample".into(),
                    severity: Severity::Low,
                    hits: Vec::new(),
                    text_key: text_key(""),
                    score: None,
                    model: None,
                    sample: Some(id.clone()),
                    tags: Vec::new(),
                };
                entries.push(NewEntry {
                    event: events::system(ACTOR, events::ALERT_RAISED, &alert, &raised),
                    subject: c.subject.clone(),
                });
                alerts.push(alert);
            }
        }
        let drawn = SampleDrawn {
            period: period.to_string(),
            rate,
            seed,
            population,
            alerts,
        };
        entries.push(NewEntry {
            event: events::system(actor, events::SAMPLE_DRAWN, &id, &drawn),
            subject: None,
        });
        journal.append_all(&entries).map_err(SuperviseError::from)?;
        self.catch_up(journal)?;
        Ok((id, drawn))
    }
}
