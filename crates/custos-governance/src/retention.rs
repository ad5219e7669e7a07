//! Retention schedules and disposition.
//!
//! A schedule is a list of rules, each matching records by channel,
//! business unit, custodian, review tag or regulation label, with a period
//! (and, for the SEC rules, how long the records stay easily accessible).
//! Presets carry their legal source. The schedule is a journal event,
//! `retention.rule_set`, holding the whole text and its version, like a
//! policy; [`Schedules`] folds them.
//!
//! Every record the rules match gets an end: its own time plus the longest
//! period of the rules that apply (the longest wins; of two equal ends the
//! rule listed first names it, and the other is reported as a tie). A
//! record no rule matches is kept.
//!
//! Disposal is crypto-shredding of data keys, and a key seals one subject's
//! records of one calendar month (see `custos_journal::keys`). So the
//! planner ([`plan`]) works per key: a key is disposable when *every*
//! record under it has ended and no legal hold in force covers any of
//! them. Disposal therefore happens at most one period (and the longest
//! other rule sharing the key) after a record's end, never before. Keys
//! written before periods existed hold all of a subject's older records:
//! they become disposable only when every one of those records has ended.
//!
//! A run ([`run`]) disposes of the plan's keys in batches. Each batch first
//! journals its intent (`retention.disposition_started`: the keys, the
//! records and the signed head before), then shreds (one `key.shred` per
//! key), then signs a head and journals the certificate
//! (`retention.disposition`: records, rules with their legal sources, when,
//! heads before and after). A run that finds a started batch without a
//! certificate finishes it first, so a crash never leaves a record disposed
//! of without a certificate, and nothing is done twice. A dry run is the
//! same plan, journalled as nothing but an audit event.

use crate::cases::Cases;
use crate::custodians::{self, Custodian};
use crate::details;
use crate::holds::{HoldError, Holds};
use custos_journal::{Journal, KeyId, Opened, event_time};
use custos_model::{Digest, Event, Message, SystemEvent, Timestamp, party_id};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A schedule loaded: its whole text and version.
pub const RULE_SET: &str = "retention.rule_set";
/// A disposition batch about to shred its keys.
pub const DISPOSITION_STARTED: &str = "retention.disposition_started";
/// A disposition certificate: what a batch disposed of, under which rules.
pub const DISPOSITION: &str = "retention.disposition";
/// A dry run (an audit record: it read the archive's content).
pub const DRY_RUN: &str = "retention.dry_run";
/// Keys shredded in one batch, at most.
pub const BATCH_KEYS: usize = 200;

/// Why a schedule or a run was refused.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// The schedule text is not valid; the message names the rule and field.
    #[error("{0}")]
    Invalid(String),
    /// No schedule has been loaded.
    #[error("no retention schedule has been loaded (custos retention rules set FILE)")]
    NoSchedule,
    /// Reading holds failed.
    #[error(transparent)]
    Hold(#[from] HoldError),
    /// Reading custodians failed.
    #[error(transparent)]
    Custodian(#[from] custodians::CustodianError),
    /// Reading cases failed.
    #[error(transparent)]
    Case(#[from] crate::cases::CaseError),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] custos_journal::Error),
}

type Result<T> = std::result::Result<T, RetentionError>;

/// A length of time in calendar units, as `6y`, `18m`, `30d` or `1y6m`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    /// Years.
    pub years: u32,
    /// Months.
    pub months: u32,
    /// Days.
    pub days: u32,
}

impl Period {
    /// `years` years.
    pub const fn years(years: u32) -> Period {
        Period {
            years,
            months: 0,
            days: 0,
        }
    }

    /// Parses `6y`, `18m`, `30d`, `1y6m15d` (units in that order, each once).
    pub fn parse(text: &str) -> std::result::Result<Period, String> {
        let mut period = Period::default();
        let mut number = String::new();
        let mut last_unit = 0;
        let mut any = false;
        for c in text.trim().chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let rank = match c {
                'y' => 1,
                'm' => 2,
                'd' => 3,
                _ => {
                    return Err(format!(
                        "{text:?}: unexpected {c:?} (write e.g. 6y, 18m, 30d, 1y6m)"
                    ));
                }
            };
            if number.is_empty() || rank <= last_unit {
                return Err(format!(
                    "{text:?}: expected a number before each of y, m, d, in that order"
                ));
            }
            let n: u32 = number
                .parse()
                .map_err(|_| format!("{text:?}: {number} is too large"))?;
            match c {
                'y' => period.years = n,
                'm' => period.months = n,
                _ => period.days = n,
            }
            number.clear();
            last_unit = rank;
            any = true;
        }
        if !number.is_empty() || !any {
            return Err(format!("{text:?}: expected e.g. 6y, 18m, 30d, 1y6m"));
        }
        if period == Period::default() {
            return Err(format!("{text:?}: a period must be longer than nothing"));
        }
        Ok(period)
    }

    /// `at` plus this period, in UTC calendar arithmetic (a month after
    /// 31 January is the end of February); `None` past the year 9999.
    pub fn after(&self, at: Timestamp) -> Option<Timestamp> {
        let ts = jiff::Timestamp::from_microsecond(at.as_micros()).ok()?;
        let span = jiff::Span::new()
            .try_years(i64::from(self.years))
            .ok()?
            .try_months(i64::from(self.months))
            .ok()?
            .try_days(i64::from(self.days))
            .ok()?;
        let utc = jiff::tz::TimeZone::UTC;
        let end = utc.to_datetime(ts).checked_add(span).ok()?;
        let end = utc.to_timestamp(end).ok()?;
        Some(Timestamp::from_micros(end.as_microsecond()))
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (n, unit) in [(self.years, 'y'), (self.months, 'm'), (self.days, 'd')] {
            if n > 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        Ok(())
    }
}

impl Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Period::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A retention duty written in law or regulation, to start a rule from.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Preset {
    /// Its name in a schedule (`preset = "..."`).
    pub name: &'static str,
    /// How long records are kept.
    pub period: Period,
    /// How long they must stay easily accessible, if the source says.
    pub accessible_for: Option<Period>,
    /// How far the period may be extended (`extended = true`), if at all.
    pub extendable_to: Option<Period>,
    /// The legal source, quoted in every certificate.
    pub source: &'static str,
}

/// The presets with their legal sources. `custom` rules give their own
/// period and source.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "sec-17a-4-b4",
        period: Period::years(3),
        accessible_for: Some(Period::years(2)),
        extendable_to: None,
        source: "SEC Rule 17a-4(b)(4) (17 CFR 240.17a-4(b)(4)): originals of all communications received and copies of all communications sent relating to the business as such, preserved for not less than 3 years, the first 2 years in an easily accessible place",
    },
    Preset {
        name: "sec-17a-4-a",
        period: Period::years(6),
        accessible_for: Some(Period::years(2)),
        extendable_to: None,
        source: "SEC Rule 17a-4(a) (17 CFR 240.17a-4(a)): the records required by Rule 17a-3(a)(1)-(3), (5), (21) and (22), preserved for not less than 6 years, the first 2 years in an easily accessible place",
    },
    Preset {
        name: "finra-4511",
        period: Period::years(6),
        accessible_for: None,
        extendable_to: None,
        source: "FINRA Rule 4511(b): books and records for which no retention period is specified under FINRA rules or SEA Rule 17a-4 are preserved for a period of at least 6 years",
    },
    Preset {
        name: "mifid-ii",
        period: Period::years(5),
        accessible_for: None,
        extendable_to: Some(Period::years(7)),
        source: "MiFID II Article 16(7) (Directive 2014/65/EU): records of telephone conversations and electronic communications kept for a period of 5 years and, where requested by the competent authority, for a period of up to 7 years",
    },
];

/// The preset called `name`.
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// A rule as written in a schedule file (`[[rule]]` tables).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleText {
    name: String,
    #[serde(default)]
    preset: Option<String>,
    #[serde(default)]
    period: Option<Period>,
    #[serde(default)]
    accessible_for: Option<Period>,
    #[serde(default)]
    extended: bool,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    channels: Vec<String>,
    #[serde(default)]
    units: Vec<String>,
    #[serde(default)]
    custodians: Vec<String>,
    #[serde(default)]
    custodian_roles: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    labels: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleText {
    #[serde(default)]
    rule: Vec<RuleText>,
}

/// One rule of a schedule: what it matches (every list given must match,
/// an empty list matches everything) and how long.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Its name, unique in the schedule.
    pub name: String,
    /// The preset it starts from; `custom` if none.
    pub preset: String,
    /// How long records are kept.
    pub period: Period,
    /// How long they stay easily accessible, if a source says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accessible_for: Option<Period>,
    /// The legal (or internal) source.
    pub source: String,
    /// Channels (`whatsapp`, `email`, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// Business units of the custodian involved.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<String>,
    /// Custodians (employee ids).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custodians: Vec<String>,
    /// Roles of the custodian involved (`trader`, `registered
    /// representative`, ...), as their enrolment gives them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custodian_roles: Vec<String>,
    /// Review tags a case gave the message (`relevant`, `privileged`, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Regulation labels the record carries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

/// What a rule is matched against: the facts of one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// The record's own time (sent, edited, received...).
    pub time: Timestamp,
    /// Its channel, if it has one.
    pub channel: Option<String>,
    /// The custodian involved, if known.
    pub custodian: Option<String>,
    /// That custodian's business units.
    pub units: Vec<String>,
    /// That custodian's roles.
    pub roles: Vec<String>,
    /// Review tags of its message.
    pub tags: Vec<String>,
    /// Regulation labels (the message's `labels` or `regulation` field).
    pub labels: Vec<String>,
}

impl Rule {
    /// Whether the rule applies to a record with `facts`.
    pub fn matches(&self, facts: &Facts) -> bool {
        let any = |wanted: &[String], have: &[String]| {
            wanted.is_empty() || wanted.iter().any(|w| have.contains(w))
        };
        (self.channels.is_empty()
            || facts
                .channel
                .as_ref()
                .is_some_and(|c| self.channels.contains(c)))
            && any(&self.units, &facts.units)
            && any(&self.custodian_roles, &facts.roles)
            && (self.custodians.is_empty()
                || facts
                    .custodian
                    .as_ref()
                    .is_some_and(|c| self.custodians.contains(c)))
            && any(&self.tags, &facts.tags)
            && any(&self.labels, &facts.labels)
    }
}

/// The rule that governs a record, and when the record ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Governing {
    /// The rule's name.
    pub rule: String,
    /// Its source.
    pub source: String,
    /// When the record may go.
    pub end: Timestamp,
    /// Until when it must stay easily accessible, if a source says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accessible_until: Option<Timestamp>,
    /// Every other rule that applies, with the end it would give.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<(String, Timestamp)>,
    /// Rules giving the same end as the governing one (it was listed first).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ties: Vec<String>,
}

/// A schedule: the rules in the order written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Schedule {
    /// The rules.
    pub rules: Vec<Rule>,
}

impl Schedule {
    /// Parses a schedule (TOML, `[[rule]]` tables). Errors name the line
    /// and column (syntax) or the rule and field (meaning).
    pub fn parse(text: &str) -> Result<Schedule> {
        let parsed: ScheduleText = toml::from_str(text)
            .map_err(|e| RetentionError::Invalid(format!("retention schedule: {e}")))?;
        if parsed.rule.is_empty() {
            return Err(RetentionError::Invalid(
                "retention schedule: no [[rule]]".into(),
            ));
        }
        let mut names = BTreeSet::new();
        let mut rules = Vec::new();
        for (i, r) in parsed.rule.into_iter().enumerate() {
            let at = format!("rule {} ({:?})", i + 1, r.name);
            let bad =
                |what: String| RetentionError::Invalid(format!("retention schedule, {at}: {what}"));
            if r.name.trim().is_empty() {
                return Err(bad("`name` is empty".into()));
            }
            if !names.insert(r.name.clone()) {
                return Err(bad("`name` is used by an earlier rule".into()));
            }
            let (preset_name, period, accessible, source) = match r.preset.as_deref() {
                None | Some("custom") => {
                    let period = r
                        .period
                        .ok_or_else(|| bad("a custom rule needs `period` (e.g. \"10y\")".into()))?;
                    let source = r
                        .source
                        .clone()
                        .filter(|s| !s.trim().is_empty())
                        .ok_or_else(|| {
                            bad(
                                "a custom rule needs `source` (why records are kept this long)"
                                    .into(),
                            )
                        })?;
                    if r.extended {
                        return Err(bad(
                            "`extended` applies to presets with an extension (mifid-ii)".into(),
                        ));
                    }
                    ("custom".to_string(), period, r.accessible_for, source)
                }
                Some(name) => {
                    let p = preset(name).ok_or_else(|| {
                        bad(format!(
                            "`preset` {name:?} is not one of {}, custom",
                            PRESETS
                                .iter()
                                .map(|p| p.name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })?;
                    if r.period.is_some() {
                        return Err(bad(format!(
                            "`period` cannot be given with preset {name:?} (its period is {}; use `extended` or a custom rule)",
                            p.period
                        )));
                    }
                    let period = if r.extended {
                        p.extendable_to
                            .ok_or_else(|| bad(format!("preset {name:?} has no extension")))?
                    } else {
                        p.period
                    };
                    let mut source = p.source.to_string();
                    if r.extended {
                        source.push_str(&format!(
                            "; extended to {period} at the competent authority's request"
                        ));
                    }
                    if let Some(note) = r.source.as_deref().filter(|s| !s.trim().is_empty()) {
                        source.push_str(&format!(" ({note})"));
                    }
                    (
                        name.to_string(),
                        period,
                        r.accessible_for.or(p.accessible_for),
                        source,
                    )
                }
            };
            let epoch = Timestamp::from_micros(0);
            if let Some(a) = accessible
                && a.after(epoch) > period.after(epoch)
            {
                return Err(bad(format!(
                    "`accessible_for` {a} is longer than the period {period}"
                )));
            }
            for (field, values) in [
                ("channels", &r.channels),
                ("units", &r.units),
                ("custodians", &r.custodians),
                ("custodian_roles", &r.custodian_roles),
                ("tags", &r.tags),
                ("labels", &r.labels),
            ] {
                if values.iter().any(|v| v.trim().is_empty()) {
                    return Err(bad(format!("`{field}` holds an empty value")));
                }
            }
            rules.push(Rule {
                name: r.name,
                preset: preset_name,
                period,
                accessible_for: accessible,
                source,
                channels: r.channels,
                units: r.units,
                custodians: r.custodians,
                custodian_roles: r
                    .custodian_roles
                    .iter()
                    .map(|role| role.trim().to_lowercase())
                    .collect(),
                tags: r.tags,
                labels: r.labels,
            });
        }
        Ok(Schedule { rules })
    }

    /// The rule that governs a record with `facts`: of every rule that
    /// applies, the one giving the latest end (the longest); of equal
    /// ends, the one listed first. `None` when no rule applies (the record
    /// is kept).
    pub fn governing(&self, facts: &Facts) -> Option<Governing> {
        let mut applying: Vec<(&Rule, Timestamp)> = self
            .rules
            .iter()
            .filter(|r| r.matches(facts))
            .map(|r| {
                (
                    r,
                    r.period
                        .after(facts.time)
                        .unwrap_or(Timestamp::from_micros(i64::MAX)),
                )
            })
            .collect();
        // Stable: among equal ends the first listed stays first.
        applying.sort_by_key(|a| std::cmp::Reverse(a.1));
        let (rule, end) = *applying.first()?;
        Some(Governing {
            rule: rule.name.clone(),
            source: rule.source.clone(),
            end,
            accessible_until: rule.accessible_for.and_then(|a| a.after(facts.time)),
            also: applying[1..]
                .iter()
                .map(|(r, e)| (r.name.clone(), *e))
                .collect(),
            ties: applying[1..]
                .iter()
                .filter(|(_, e)| *e == end)
                .map(|(r, _)| r.name.clone())
                .collect(),
        })
    }
}

/// One loaded version of the schedule.
#[derive(Clone, Debug, Serialize)]
pub struct Version {
    /// 1, 2, ...
    pub version: u64,
    /// The whole text as loaded.
    pub text: String,
    /// Who loaded it.
    pub by: String,
    /// When.
    pub at: Timestamp,
    /// The entry that recorded it.
    pub seq: u64,
}

/// A batch as its `retention.disposition_started` event records it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Batch {
    /// `RD-` and the entry that started it.
    #[serde(default)]
    pub id: String,
    /// The keys to shred.
    pub keys: Vec<String>,
    /// The records under them, each with its rule.
    pub records: Vec<RecordLine>,
    /// The instant the plan was made for (records ended before it).
    pub as_of: Timestamp,
    /// The schedule version applied.
    pub schedule_version: u64,
    /// The signed tree head before anything was shredded.
    pub head_before: serde_json::Value,
}

/// A record in a batch or certificate: which, why, since when.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecordLine {
    /// Its journal entry.
    pub seq: u64,
    /// Its kind (`message`, `edit`, `raw`...).
    pub kind: String,
    /// Its own time.
    pub time: Timestamp,
    /// The rule that governed it.
    pub rule: String,
    /// That rule's source.
    pub source: String,
    /// When its retention ended.
    pub end: Timestamp,
}

/// A disposition certificate.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Certificate {
    /// The batch.
    pub batch: String,
    /// The keys shredded.
    pub keys: Vec<String>,
    /// Keys of the batch not shredded, and why (a hold placed meanwhile).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<(String, String)>,
    /// The records disposed of.
    pub records: Vec<RecordLine>,
    /// Each rule applied, with its source.
    pub rules: BTreeMap<String, String>,
    /// The instant the plan was made for.
    pub as_of: Timestamp,
    /// When the keys were shredded.
    pub disposed_at: Timestamp,
    /// The signed head before.
    pub head_before: serde_json::Value,
    /// The signed head after (its tree holds the `key.shred` events).
    pub head_after: serde_json::Value,
    /// The entry that started the batch.
    pub started_seq: u64,
}

/// The retention state folded from the journal: schedule versions,
/// batches, certificates.
#[derive(Debug, Default)]
pub struct Schedules {
    /// Every version loaded, oldest first.
    pub versions: Vec<Version>,
    /// Every batch started, by id.
    pub batches: BTreeMap<String, Batch>,
    /// Every certificate, in journal order, with its entry.
    pub certificates: Vec<(u64, Certificate)>,
}

impl Schedules {
    /// Folds the retention events of the journal.
    pub fn load(journal: &Journal) -> Result<Schedules> {
        let mut s = Schedules::default();
        let archive = journal.archive_key_id()?;
        for entry in journal.entries(0) {
            let entry = entry?;
            if entry.leaf.kind != custos_model::EventKind::System || entry.leaf.key_id != archive {
                continue;
            }
            if let Opened::Event(Event::System(e)) = journal.open_entry(&entry)? {
                s.apply(entry.leaf.seq, &e);
            }
        }
        Ok(s)
    }

    /// Applies one system event.
    pub fn apply(&mut self, seq: u64, event: &SystemEvent) {
        let value = || serde_json::Value::Object(event.details.clone());
        match event.action.as_str() {
            RULE_SET => {
                if let Some(text) = event.details.get("text").and_then(|t| t.as_str()) {
                    self.versions.push(Version {
                        version: self.versions.len() as u64 + 1,
                        text: text.to_string(),
                        by: event.actor.clone(),
                        at: event.at,
                        seq,
                    });
                }
            }
            DISPOSITION_STARTED => {
                if let Ok(mut batch) = serde_json::from_value::<Batch>(value()) {
                    batch.id = format!("RD-{seq}");
                    self.batches.insert(batch.id.clone(), batch);
                }
            }
            DISPOSITION => {
                if let Ok(c) = serde_json::from_value::<Certificate>(value()) {
                    self.certificates.push((seq, c));
                }
            }
            _ => {}
        }
    }

    /// The schedule in force (the latest version), parsed.
    pub fn current(&self) -> Result<(u64, Schedule)> {
        let v = self.versions.last().ok_or(RetentionError::NoSchedule)?;
        Ok((v.version, Schedule::parse(&v.text)?))
    }

    /// Batches started and never certified (a run was cut short).
    pub fn unfinished(&self) -> Vec<&Batch> {
        let done: BTreeSet<&str> = self
            .certificates
            .iter()
            .map(|(_, c)| c.batch.as_str())
            .collect();
        self.batches
            .values()
            .filter(|b| !done.contains(b.id.as_str()))
            .collect()
    }

    /// Loads `text` as the next version, unless it is the current one.
    /// Returns the version in force.
    pub fn set(&mut self, journal: &Journal, actor: &str, text: &str) -> Result<(u64, bool)> {
        Schedule::parse(text)?;
        if let Some(v) = self.versions.last()
            && v.text == text
        {
            return Ok((v.version, false));
        }
        let version = self.versions.len() as u64 + 1;
        let mut d = serde_json::Map::new();
        d.insert("version".into(), version.into());
        d.insert("text".into(), text.into());
        d.insert(
            "sha256".into(),
            Digest::of(text.as_bytes()).to_string().into(),
        );
        let appended =
            journal.append_system(actor, RULE_SET, Some(&format!("v{version}")), d.clone())?;
        self.apply(
            appended.seq,
            &SystemEvent {
                actor: actor.into(),
                action: RULE_SET.into(),
                target: None,
                at: Timestamp::now(),
                details: d,
            },
        );
        Ok((version, true))
    }
}

/// Why a record stays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// Its retention ended and it goes with its key.
    Expired,
    /// Its retention has not ended.
    Retained,
    /// Holds in force cover it.
    Held {
        /// Their ids.
        holds: Vec<String>,
    },
    /// No rule applies: kept.
    NoRule,
    /// It ended, but its key seals other records that stay.
    SharesKey,
}

/// One record in a plan.
#[derive(Clone, Debug, Serialize)]
pub struct RecordPlan {
    /// Its entry.
    pub seq: u64,
    /// Its kind.
    pub kind: String,
    /// Its own time.
    pub time: Timestamp,
    /// The rule governing it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub governing: Option<Governing>,
    /// What happens to it.
    #[serde(flatten)]
    pub status: Status,
}

/// One key in a plan.
#[derive(Clone, Debug, Serialize)]
pub struct KeyPlan {
    /// The key.
    pub key: String,
    /// Whether it is shredded by this plan.
    pub disposable: bool,
    /// Its records.
    pub records: Vec<RecordPlan>,
}

/// A disposition plan: every key holding records, disposable or not.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// The instant it is for.
    pub as_of: Timestamp,
    /// The schedule version.
    pub schedule_version: u64,
    /// The keys, disposable first, then by id.
    pub keys: Vec<KeyPlan>,
}

impl Plan {
    /// The records this plan disposes of, by entry.
    pub fn disposed_seqs(&self) -> Vec<u64> {
        let mut seqs: Vec<u64> = self
            .keys
            .iter()
            .filter(|k| k.disposable)
            .flat_map(|k| k.records.iter().map(|r| r.seq))
            .collect();
        seqs.sort_unstable();
        seqs
    }
}

/// A record as the planner sees it: its key, its facts and the holds on it.
#[derive(Clone, Debug)]
pub struct Record {
    /// Its entry.
    pub seq: u64,
    /// Its key.
    pub key: KeyId,
    /// Its kind.
    pub kind: String,
    /// What rules match against.
    pub facts: Facts,
    /// Holds in force covering it.
    pub held_by: Vec<String>,
}

/// Plans per key (pure): a key is disposable when every record under it
/// has a governing rule whose end is at or before `now` and no hold covers
/// any of them.
pub fn plan_records(
    schedule: &Schedule,
    version: u64,
    records: Vec<Record>,
    now: Timestamp,
) -> Plan {
    let mut by_key: BTreeMap<KeyId, Vec<RecordPlan>> = BTreeMap::new();
    for r in records {
        let governing = schedule.governing(&r.facts);
        let status = if !r.held_by.is_empty() {
            Status::Held { holds: r.held_by }
        } else {
            match &governing {
                None => Status::NoRule,
                Some(g) if g.end <= now => Status::Expired,
                Some(_) => Status::Retained,
            }
        };
        by_key.entry(r.key).or_default().push(RecordPlan {
            seq: r.seq,
            kind: r.kind,
            time: r.facts.time,
            governing,
            status,
        });
    }
    let mut keys: Vec<KeyPlan> = by_key
        .into_iter()
        .map(|(key, mut records)| {
            let disposable = records.iter().all(|r| r.status == Status::Expired);
            if !disposable {
                for r in &mut records {
                    if r.status == Status::Expired {
                        r.status = Status::SharesKey;
                    }
                }
            }
            KeyPlan {
                key: key.to_string(),
                disposable,
                records,
            }
        })
        .collect();
    keys.sort_by_key(|k| !k.disposable);
    Plan {
        as_of: now,
        schedule_version: version,
        keys,
    }
}

/// Labels a message carries: its `labels` (a string or a list) and
/// `regulation` fields.
fn labels_of(m: &Message) -> Vec<String> {
    let mut out = Vec::new();
    for field in ["labels", "regulation"] {
        match m.extra.get(field) {
            Some(serde_json::Value::String(s)) => out.push(s.clone()),
            Some(serde_json::Value::Array(a)) => {
                out.extend(a.iter().filter_map(|v| v.as_str().map(str::to_string)))
            }
            _ => {}
        }
    }
    out
}

/// Reads every record under a live, non-archive key, with its facts and
/// the holds covering it. Edits, deletions, reactions and statuses take
/// their message's facts (and holds) with their own time; raw payloads
/// take those of the message parsed from them; other events (alerts,
/// consent) carry no channel and match only rules that ask for none.
pub fn collect(journal: &Journal, holds: &Holds) -> Result<Vec<Record>> {
    let archive = journal.archive_key_id()?;
    let registry = custodians::registry(journal)?;
    let by_phone: HashMap<String, &Custodian> =
        registry.values().map(|c| (party_id(&c.phone), c)).collect();
    let cases = Cases::load(journal)?;
    let mut tags: HashMap<u64, BTreeSet<String>> = HashMap::new();
    for case in cases.all.values() {
        for (seq, d) in &case.review {
            tags.entry(*seq)
                .or_default()
                .insert(d.tag.name().to_string());
        }
    }
    let mut events = Vec::new();
    for entry in journal.entries(0) {
        let entry = entry?;
        if entry.leaf.key_id == archive {
            continue;
        }
        if let Opened::Event(e) = journal.open_entry(&entry)? {
            events.push((entry.leaf.seq, entry.leaf.key_id, e));
        }
    }
    // Facts and holds of each message, by (channel, source id) and by raw digest.
    let mut by_source: HashMap<(String, String), (Facts, Vec<String>)> = HashMap::new();
    let mut by_raw: HashMap<Digest, (Facts, Vec<String>)> = HashMap::new();
    let mut by_seq: HashMap<u64, (Facts, Vec<String>)> = HashMap::new();
    for (seq, _, e) in &events {
        let Event::Message(m) = e else { continue };
        let custodian = m
            .extra
            .get("custodian")
            .and_then(|v| v.as_str())
            .and_then(|id| registry.get(id))
            .or_else(|| {
                std::iter::once(&m.sender)
                    .chain(&m.recipients)
                    .find_map(|a| by_phone.get(&party_id(a)).copied())
            });
        let facts = Facts {
            time: m.sent_at,
            channel: Some(m.channel.clone()),
            custodian: custodian.map(|c| c.id.clone()),
            units: custodian.map(|c| c.units.clone()).unwrap_or_default(),
            roles: custodian.map(|c| c.roles.clone()).unwrap_or_default(),
            tags: tags
                .get(seq)
                .map(|t| t.iter().cloned().collect())
                .unwrap_or_default(),
            labels: labels_of(m),
        };
        let held: Vec<String> = holds
            .covering_record(*seq, m, facts.custodian.as_deref())
            .into_iter()
            .map(|h| h.id.clone())
            .collect();
        let both = (facts, held);
        by_source.insert((m.channel.clone(), m.source_id.clone()), both.clone());
        by_raw.insert(m.raw_digest, both.clone());
        by_seq.insert(*seq, both);
    }
    let mut records = Vec::with_capacity(events.len());
    for (seq, key, e) in events {
        let time = event_time(&e);
        let linked = match &e {
            Event::Message(_) => by_seq.get(&seq).cloned(),
            Event::Edit(x) => by_source
                .get(&(x.channel.clone(), x.target.clone()))
                .cloned(),
            Event::Deletion(x) => by_source
                .get(&(x.channel.clone(), x.target.clone()))
                .cloned(),
            Event::Reaction(x) => by_source
                .get(&(x.channel.clone(), x.target.clone()))
                .cloned(),
            Event::Status(x) => by_source
                .get(&(x.channel.clone(), x.target.clone()))
                .cloned(),
            Event::Raw(r) => by_raw.get(&Digest::of(&r.bytes)).cloned(),
            Event::System(s) => ["seq", "message_seq"]
                .iter()
                .find_map(|k| s.details.get(*k))
                .and_then(|v| v.as_u64())
                .and_then(|m| by_seq.get(&m).cloned()),
            Event::Consent(_) => None,
        };
        let (mut facts, held_by) = linked.unwrap_or_else(|| {
            let channel = match &e {
                Event::Edit(x) => Some(x.channel.clone()),
                Event::Deletion(x) => Some(x.channel.clone()),
                Event::Reaction(x) => Some(x.channel.clone()),
                Event::Status(x) => Some(x.channel.clone()),
                Event::Consent(x) => Some(x.channel.clone()),
                _ => None,
            };
            (
                Facts {
                    time,
                    channel,
                    custodian: None,
                    units: Vec::new(),
                    roles: Vec::new(),
                    tags: Vec::new(),
                    labels: Vec::new(),
                },
                Vec::new(),
            )
        });
        facts.time = time;
        records.push(Record {
            seq,
            key,
            kind: e.kind().name().to_string(),
            facts,
            held_by,
        });
    }
    Ok(records)
}

/// The retention duties still running at `now` over the records sealed
/// under `keys` (an erasure request weighs them): for each key that must
/// be kept, the rule governing its longest-lived record. Without a
/// schedule there are none.
pub fn duties(
    journal: &Journal,
    holds: &Holds,
    keys: &[KeyId],
    now: Timestamp,
) -> Result<BTreeMap<KeyId, Governing>> {
    let schedules = Schedules::load(journal)?;
    let schedule = match schedules.current() {
        Ok((_, schedule)) => schedule,
        Err(RetentionError::NoSchedule) => return Ok(BTreeMap::new()),
        Err(e) => return Err(e),
    };
    let wanted: BTreeSet<KeyId> = keys.iter().copied().collect();
    let mut kept: BTreeMap<KeyId, Governing> = BTreeMap::new();
    for record in collect(journal, holds)? {
        if !wanted.contains(&record.key) {
            continue;
        }
        let Some(g) = schedule.governing(&record.facts) else {
            continue;
        };
        if g.end <= now {
            continue;
        }
        match kept.get(&record.key) {
            Some(known) if known.end >= g.end => {}
            _ => {
                kept.insert(record.key, g);
            }
        }
    }
    Ok(kept)
}

/// The plan for `now` under the schedule in force, with `holds` (their
/// saved searches evaluated by a caller who can run queries, or not, in
/// which case a search hold holds the rest of its scope).
pub fn plan(journal: &Journal, now: Timestamp, holds: &Holds) -> Result<Plan> {
    let schedules = Schedules::load(journal)?;
    let (version, schedule) = schedules.current()?;
    let records = collect(journal, holds)?;
    Ok(plan_records(&schedule, version, records, now))
}

/// What a run did.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// The plan it carried out (or, dry, would).
    pub plan: Plan,
    /// Batches finished that an earlier run had started.
    pub resumed: Vec<String>,
    /// Certificates journalled, by entry.
    pub certificates: Vec<u64>,
}

fn line(r: &RecordPlan) -> Option<RecordLine> {
    let g = r.governing.as_ref()?;
    Some(RecordLine {
        seq: r.seq,
        kind: r.kind.clone(),
        time: r.time,
        rule: g.rule.clone(),
        source: g.source.clone(),
        end: g.end,
    })
}

fn head_value(journal: &Journal) -> Result<serde_json::Value> {
    let head = journal.sign_head()?;
    Ok(serde_json::to_value(&head).unwrap_or_default())
}

fn parse_key(text: &str) -> Option<KeyId> {
    let mut bytes = [0u8; 16];
    hex::decode_to_slice(text, &mut bytes).ok()?;
    Some(KeyId::from_bytes(bytes))
}

/// Shreds what is left of `batch`'s keys (those still disposable under
/// `plan`), signs the head after and journals the certificate.
fn finish(
    journal: &Journal,
    actor: &str,
    batch: &Batch,
    started_seq: u64,
    plan: &Plan,
) -> Result<u64> {
    let still: HashMap<&str, &KeyPlan> = plan.keys.iter().map(|k| (k.key.as_str(), k)).collect();
    let mut to_shred = Vec::new();
    let mut withheld = Vec::new();
    for key in &batch.keys {
        let Some(id) = parse_key(key) else { continue };
        if journal.key_shredded_at(id).is_some() {
            continue;
        }
        match still.get(key.as_str()) {
            Some(k) if k.disposable => to_shred.push(id),
            Some(k) => {
                let why: BTreeSet<String> = k
                    .records
                    .iter()
                    .flat_map(|r| match &r.status {
                        Status::Held { holds } => {
                            holds.iter().map(|h| format!("held by {h}")).collect()
                        }
                        Status::Retained => vec!["a record's retention has not ended".to_string()],
                        Status::NoRule => vec!["no rule applies to a record".to_string()],
                        _ => Vec::new(),
                    })
                    .collect();
                withheld.push((key.clone(), why.into_iter().collect::<Vec<_>>().join("; ")));
            }
            None => withheld.push((key.clone(), "no longer in the plan".into())),
        }
    }
    let mut d = serde_json::Map::new();
    d.insert("batch".into(), batch.id.clone().into());
    journal.shred_keys(
        &to_shred,
        actor,
        &format!("retention batch {}", batch.id),
        &d,
    )?;
    let withheld_keys: BTreeSet<&str> = withheld.iter().map(|(k, _)| k.as_str()).collect();
    let keys: Vec<String> = batch
        .keys
        .iter()
        .filter(|k| !withheld_keys.contains(k.as_str()))
        .cloned()
        .collect();
    let kept: BTreeSet<&str> = keys.iter().map(String::as_str).collect();
    let key_of_record: HashMap<u64, &str> = plan
        .keys
        .iter()
        .flat_map(|k| k.records.iter().map(move |r| (r.seq, k.key.as_str())))
        .collect();
    let records: Vec<RecordLine> = batch
        .records
        .iter()
        .filter(|r| key_of_record.get(&r.seq).is_none_or(|k| kept.contains(k)))
        .cloned()
        .collect();
    let rules: BTreeMap<String, String> = records
        .iter()
        .map(|r| (r.rule.clone(), r.source.clone()))
        .collect();
    let certificate = Certificate {
        batch: batch.id.clone(),
        keys,
        withheld,
        records,
        rules,
        as_of: batch.as_of,
        disposed_at: Timestamp::now(),
        head_before: batch.head_before.clone(),
        head_after: head_value(journal)?,
        started_seq,
    };
    let appended =
        journal.append_system(actor, DISPOSITION, Some(&batch.id), details(&certificate))?;
    Ok(appended.seq)
}

/// Starts a batch of `keys` from `plan`: signs the head before and
/// journals the intent (`retention.disposition_started`). Nothing is
/// shredded yet; a run that stops here is finished by the next.
pub fn start(journal: &Journal, actor: &str, plan: &Plan, keys: &[&KeyPlan]) -> Result<Batch> {
    let batch = Batch {
        id: String::new(),
        keys: keys.iter().map(|k| k.key.clone()).collect(),
        records: keys
            .iter()
            .flat_map(|k| k.records.iter().filter_map(line))
            .collect(),
        as_of: plan.as_of,
        schedule_version: plan.schedule_version,
        head_before: head_value(journal)?,
    };
    let started = journal.append_system(actor, DISPOSITION_STARTED, None, details(&batch))?;
    Ok(Batch {
        id: format!("RD-{}", started.seq),
        ..batch
    })
}

/// Runs retention for `now`: finishes any batch an earlier run started,
/// then disposes of the plan's keys in batches of [`BATCH_KEYS`], each with
/// its certificate. A dry run changes nothing but journals a
/// `retention.dry_run` audit event (it read the archive's content).
pub fn run(
    journal: &Journal,
    actor: &str,
    now: Timestamp,
    dry_run: bool,
    holds: &Holds,
) -> Result<RunReport> {
    let schedules = Schedules::load(journal)?;
    let mut resumed = Vec::new();
    let mut certificates = Vec::new();
    let unfinished: Vec<Batch> = schedules.unfinished().into_iter().cloned().collect();
    if !dry_run && !unfinished.is_empty() {
        // The plan as of now decides whether each key may still go (a hold
        // may have been placed since the batch started).
        let (_, schedule) = schedules.current()?;
        let records = collect(journal, holds)?;
        for batch in &unfinished {
            let current = plan_records(
                &schedule,
                batch.schedule_version,
                records.clone(),
                batch.as_of.max(now),
            );
            let started: u64 = batch
                .id
                .trim_start_matches("RD-")
                .parse()
                .unwrap_or_default();
            certificates.push(finish(journal, actor, batch, started, &current)?);
            resumed.push(batch.id.clone());
        }
    }
    let plan = plan(journal, now, holds)?;
    if dry_run {
        let mut d = serde_json::Map::new();
        d.insert("as_of".into(), now.to_string().into());
        d.insert("schedule_version".into(), plan.schedule_version.into());
        d.insert(
            "records".into(),
            serde_json::to_value(plan.disposed_seqs()).unwrap_or_default(),
        );
        journal.append_system(actor, DRY_RUN, None, d)?;
        return Ok(RunReport {
            plan,
            resumed,
            certificates,
        });
    }
    let disposable: Vec<&KeyPlan> = plan.keys.iter().filter(|k| k.disposable).collect();
    for chunk in disposable.chunks(BATCH_KEYS) {
        let batch = start(journal, actor, &plan, chunk)?;
        let started = batch
            .id
            .trim_start_matches("RD-")
            .parse()
            .unwrap_or_default();
        certificates.push(finish(journal, actor, &batch, started, &plan)?);
    }
    Ok(RunReport {
        plan,
        resumed,
        certificates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    fn facts(time: &str, channel: &str, units: &[&str]) -> Facts {
        Facts {
            time: at(time),
            channel: Some(channel.into()),
            custodian: Some("E001".into()),
            units: units.iter().map(|u| u.to_string()).collect(),
            roles: vec!["trader".into()],
            tags: Vec::new(),
            labels: Vec::new(),
        }
    }

    /// Each preset alone: its period, its accessible span, its source.
    #[test]
    fn every_preset_gives_its_period_from_the_record_time() {
        let cases = [
            (
                "sec-17a-4-b4",
                "",
                "2027-03-12T10:00:00Z",
                Some("2026-03-12T10:00:00Z"),
                "17a-4(b)(4)",
            ),
            (
                "sec-17a-4-a",
                "",
                "2030-03-12T10:00:00Z",
                Some("2026-03-12T10:00:00Z"),
                "17a-4(a)",
            ),
            (
                "finra-4511",
                "",
                "2030-03-12T10:00:00Z",
                None,
                "FINRA Rule 4511",
            ),
            (
                "mifid-ii",
                "",
                "2029-03-12T10:00:00Z",
                None,
                "Article 16(7)",
            ),
            (
                "mifid-ii",
                "extended = true\n",
                "2031-03-12T10:00:00Z",
                None,
                "up to 7 years",
            ),
        ];
        for (name, extra, end, accessible, source) in cases {
            let text = format!("[[rule]]\nname = \"r\"\npreset = \"{name}\"\n{extra}");
            let schedule = Schedule::parse(&text).unwrap();
            let g = schedule
                .governing(&facts("2024-03-12T10:00:00Z", "sms", &[]))
                .unwrap();
            assert_eq!(g.end, at(end), "{name} {extra}");
            assert_eq!(g.accessible_until, accessible.map(at), "{name}");
            assert!(g.source.contains(source), "{name}: {}", g.source);
        }
        let custom = Schedule::parse(
            "[[rule]]\nname = \"board\"\npreset = \"custom\"\nperiod = \"1y6m15d\"\nsource = \"board resolution 12\"\n",
        )
        .unwrap();
        let g = custom
            .governing(&facts("2024-01-31T00:00:00Z", "sms", &[]))
            .unwrap();
        assert_eq!(
            g.end,
            at("2025-08-15T00:00:00Z"),
            "31 Jan + 1y6m = 31 Jul, + 15d"
        );
        assert_eq!(g.source, "board resolution 12");
    }

    #[test]
    fn two_overlapping_rules_the_longest_wins_and_a_tie_is_named() {
        let schedule = Schedule::parse(
            r#"
[[rule]]
name = "all comms"
preset = "sec-17a-4-b4"

[[rule]]
name = "fx desk"
preset = "mifid-ii"
units = ["FX Sales"]

[[rule]]
name = "books"
preset = "finra-4511"
channels = ["email"]

[[rule]]
name = "also six"
preset = "sec-17a-4-a"
channels = ["email"]
"#,
        )
        .unwrap();
        let fx = schedule
            .governing(&facts("2024-01-01T00:00:00Z", "whatsapp", &["FX Sales"]))
            .unwrap();
        assert_eq!(fx.rule, "fx desk");
        assert_eq!(
            fx.also,
            [("all comms".to_string(), at("2027-01-01T00:00:00Z"))]
        );
        let rates = schedule
            .governing(&facts("2024-01-01T00:00:00Z", "whatsapp", &["Rates"]))
            .unwrap();
        assert_eq!(rates.rule, "all comms");
        let mail = schedule
            .governing(&facts("2024-01-01T00:00:00Z", "email", &["FX Sales"]))
            .unwrap();
        assert_eq!(
            mail.rule, "books",
            "6y beats 5y and 3y; listed before its tie"
        );
        assert_eq!(mail.ties, ["also six"]);
        let none = Schedule::parse(
            "[[rule]]\nname = \"x\"\npreset = \"finra-4511\"\nchannels = [\"sms\"]\n",
        )
        .unwrap();
        assert_eq!(
            none.governing(&facts("2024-01-01T00:00:00Z", "email", &[])),
            None
        );
    }

    #[test]
    fn rules_match_on_every_criterion_given() {
        let rule = |field: &str, value: &str| {
            Schedule::parse(&format!(
                "[[rule]]\nname = \"r\"\npreset = \"finra-4511\"\n{field} = [\"{value}\"]\n"
            ))
            .unwrap()
            .rules
            .remove(0)
        };
        let mut f = facts("2024-01-01T00:00:00Z", "sms", &["Rates"]);
        f.tags = vec!["privileged".into()];
        f.labels = vec!["mifid".into()];
        assert!(rule("channels", "sms").matches(&f));
        assert!(!rule("channels", "email").matches(&f));
        assert!(rule("units", "Rates").matches(&f));
        assert!(!rule("units", "FX Sales").matches(&f));
        assert!(rule("custodians", "E001").matches(&f));
        assert!(!rule("custodians", "E002").matches(&f));
        assert!(rule("custodian_roles", "Trader").matches(&f));
        assert!(!rule("custodian_roles", "research-analyst").matches(&f));
        assert!(rule("tags", "privileged").matches(&f));
        assert!(!rule("tags", "relevant").matches(&f));
        assert!(rule("labels", "mifid").matches(&f));
        assert!(!rule("labels", "dodd-frank").matches(&f));
    }

    #[test]
    fn schedule_errors_name_the_rule_and_field() {
        let err = |text: &str| Schedule::parse(text).unwrap_err().to_string();
        assert!(
            err("[[rule]]\nname = \"a\"\npreset = \"sox\"\n")
                .contains("rule 1 (\"a\"): `preset` \"sox\"")
        );
        assert!(err("[[rule]]\nname = \"a\"\nperiod = \"3y\"\n").contains("needs `source`"));
        assert!(err("[[rule]]\nname = \"a\"\nsource = \"x\"\n").contains("needs `period`"));
        assert!(
            err("[[rule]]\nname = \"a\"\npreset = \"finra-4511\"\nextended = true\n")
                .contains("no extension")
        );
        assert!(
            err("[[rule]]\nname = \"a\"\npreset = \"finra-4511\"\nperiod = \"9y\"\n")
                .contains("cannot be given")
        );
        assert!(
            err("[[rule]]\nname = \"a\"\nperiod = \"3x\"\nsource = \"s\"\n")
                .contains("unexpected 'x'")
        );
        assert!(
            err("[[rule]]\nname = \"a\"\npreset = \"finra-4511\"\nchanels = []\n")
                .contains("chanels")
        );
        assert!(err("[[rule]]\nname = \"a\"\npreset = \"finra-4511\"\n[[rule]]\nname = \"a\"\npreset = \"mifid-ii\"\n").contains("rule 2 (\"a\"): `name` is used"));
        assert!(err("").contains("no [[rule]]"));
        assert!(err("[[rule]\n").contains("line 1"));
    }

    fn record(seq: u64, key: u8, time: &str, units: &[&str], held: &[&str]) -> Record {
        Record {
            seq,
            key: KeyId::from_bytes([key; 16]),
            kind: "message".into(),
            facts: facts(time, "sms", units),
            held_by: held.iter().map(|h| h.to_string()).collect(),
        }
    }

    #[test]
    fn a_key_goes_only_when_all_its_records_ended_and_none_is_held() {
        let schedule = Schedule::parse(
            "[[rule]]\nname = \"all\"\npreset = \"sec-17a-4-b4\"\n[[rule]]\nname = \"fx\"\npreset = \"mifid-ii\"\nunits = [\"FX\"]\n",
        )
        .unwrap();
        let records = vec![
            record(1, 1, "2019-01-10T00:00:00Z", &[], &[]),
            record(2, 1, "2019-01-20T00:00:00Z", &[], &[]),
            record(3, 2, "2019-01-10T00:00:00Z", &[], &["LH-7"]),
            record(4, 3, "2019-01-10T00:00:00Z", &[], &[]),
            record(5, 3, "2019-01-11T00:00:00Z", &["FX"], &[]),
            record(6, 4, "2019-01-25T00:00:00Z", &[], &[]),
        ];
        // 2022-01-21: keys 1 and 3's 3-year records have ended, key 4's not.
        let plan = plan_records(&schedule, 1, records, at("2022-01-21T00:00:00Z"));
        assert_eq!(plan.disposed_seqs(), [1, 2]);
        let status = |seq: u64| {
            plan.keys
                .iter()
                .flat_map(|k| &k.records)
                .find(|r| r.seq == seq)
                .unwrap()
                .status
                .clone()
        };
        assert_eq!(
            status(3),
            Status::Held {
                holds: vec!["LH-7".into()]
            }
        );
        assert_eq!(
            status(4),
            Status::SharesKey,
            "its key also seals a 5-year record"
        );
        assert_eq!(status(5), Status::Retained);
        assert_eq!(status(6), Status::Retained);
        assert!(plan.keys[0].disposable, "disposable keys come first");
    }
}
