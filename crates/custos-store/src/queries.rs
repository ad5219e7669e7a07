//! Readers over the rows, paged by key (keyset paging: a page starts after
//! the last row of the previous one, so a page costs the same however deep
//! it is and rows added meanwhile neither repeat nor vanish).
//!
//! The information barrier is a clause of the SQL ([`Visibility`]), so a
//! reviewer's page holds only their units' alerts and is full whenever
//! more exist: nothing is filtered after paging.

use crate::{Error, Result, Store};
use custos_auth::Scope;
use custos_model::{Severity, Timestamp};
use sqlx::Row as _;
use sqlx::any::AnyRow;

/// What a reader may see, as the store applies it: [`Scope`] in SQL terms.
///
/// An alert is visible when its custodian is an enrolled custodian the
/// scope allows, or one of its message's parties is such a custodian's
/// number (as `custos_server::barrier::Barrier::allows_alert` decides for
/// one alert).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Everything.
    All,
    /// Custodians working in one of these units.
    Units(Vec<String>),
    /// This custodian only.
    Custodian(String),
    /// Nothing.
    Nothing,
}

impl From<&Scope> for Visibility {
    fn from(scope: &Scope) -> Visibility {
        match scope {
            Scope::All => Visibility::All,
            Scope::Units(units) if units.is_empty() => Visibility::Nothing,
            Scope::Units(units) => Visibility::Units(units.iter().cloned().collect()),
            Scope::Custodian(id) => Visibility::Custodian(id.clone()),
            Scope::None => Visibility::Nothing,
        }
    }
}

/// Which alerts a queue shows.
#[derive(Clone, Debug)]
pub struct AlertFilter {
    /// Only these statuses (`open`, `assigned`, `escalated`, `closed`);
    /// empty: any.
    pub statuses: Vec<String>,
    /// Only alerts assigned to this reviewer.
    pub assignee: Option<String>,
    /// Only alerts whose custodian works in this unit.
    pub unit: Option<String>,
    /// Only alerts of this policy.
    pub policy: Option<String>,
    /// Only alerts of this severity.
    pub severity: Option<Severity>,
    /// The reader's barrier.
    pub visibility: Visibility,
}

impl AlertFilter {
    /// Every alert a reader with `visibility` may see.
    pub fn visible(visibility: Visibility) -> AlertFilter {
        AlertFilter {
            statuses: Vec::new(),
            assignee: None,
            unit: None,
            policy: None,
            severity: None,
            visibility,
        }
    }

    /// The alerts still needing work (not closed).
    pub fn open(mut self) -> AlertFilter {
        self.statuses = ["open", "assigned", "escalated"].map(String::from).to_vec();
        self
    }
}

/// One alert as the queue lists it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AlertRow {
    /// Its id.
    pub id: String,
    /// The entry that raised it.
    pub seq: u64,
    /// When it was raised.
    pub raised_at: Timestamp,
    /// `policy` or `sample`.
    pub origin: String,
    /// The policy that fired.
    pub policy: String,
    /// Its version.
    pub policy_version: u32,
    /// The policy's title.
    pub title: String,
    /// Its risk category.
    pub category: String,
    /// Its severity.
    pub severity: Severity,
    /// The classifier's probability, if scored.
    pub score: Option<f64>,
    /// `open`, `assigned`, `escalated` or `closed`.
    pub status: String,
    /// How it was closed.
    pub disposition: Option<String>,
    /// Who has it.
    pub assignee: Option<String>,
    /// The custodian involved.
    pub custodian: Option<String>,
    /// The message's channel.
    pub channel: String,
    /// Its conversation.
    pub conversation: String,
    /// The id the source gave it.
    pub source_id: String,
    /// The message's entry.
    pub message_seq: u64,
    /// When it was sent.
    pub sent_at: Timestamp,
    /// Other messages with the same text.
    pub repeats: u64,
    /// Tags the policy gave.
    pub tags: Vec<String>,
    /// What matched (terms, detectors), once each, in order.
    pub labels: Vec<String>,
}

/// A page of alerts and the key of the next.
#[derive(Clone, Debug)]
pub struct AlertPage {
    /// Newest first.
    pub alerts: Vec<AlertRow>,
    /// Where the next page starts (`None`: this was the last).
    pub next: Option<String>,
}

/// One custodian as the list shows them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CustodianRow {
    /// Their id.
    pub id: String,
    /// The entry that enrolled them.
    pub seq: u64,
    /// Full name.
    pub name: String,
    /// Work number.
    pub phone: String,
    /// The day they opted in to oversight.
    pub opted_in: String,
    /// Their units, sorted.
    pub units: Vec<String>,
    /// Their roles.
    pub roles: Vec<String>,
    /// When they were enrolled.
    pub enrolled_at: String,
    /// Who enrolled them.
    pub enrolled_by: String,
    /// The entry of their acknowledgement of oversight, if kept.
    pub acknowledgement_seq: Option<u64>,
}

/// A page of custodians and the key of the next.
#[derive(Clone, Debug)]
pub struct CustodianPage {
    /// In order of enrolment.
    pub custodians: Vec<CustodianRow>,
    /// Where the next page starts (`None`: this was the last).
    pub next: Option<String>,
}

/// A statement being built, with `$N` parameters numbered as they come.
#[derive(Default)]
pub(crate) struct Sql {
    pub(crate) text: String,
    args: Vec<Arg>,
}

enum Arg {
    Int(i64),
    Text(String),
}

impl Sql {
    pub(crate) fn int(&mut self, v: i64) -> String {
        self.args.push(Arg::Int(v));
        format!("${}", self.args.len())
    }

    pub(crate) fn text(&mut self, v: &str) -> String {
        self.args.push(Arg::Text(v.to_string()));
        format!("${}", self.args.len())
    }

    pub(crate) fn list(&mut self, values: &[String]) -> String {
        values
            .iter()
            .map(|v| self.text(v))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(crate) async fn fetch(self, store: &Store) -> Result<Vec<AnyRow>> {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(self.text));
        for a in self.args {
            q = match a {
                Arg::Int(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
            };
        }
        Ok(q.fetch_all(store.pool()).await?)
    }
}

/// The barrier as a condition on alert `a`.
fn barrier(sql: &mut Sql, visibility: &Visibility) -> Option<String> {
    match visibility {
        Visibility::All => None,
        Visibility::Nothing => Some("1 = 0".into()),
        Visibility::Units(units) => {
            let mine = sql.list(units);
            let again = sql.list(units);
            Some(format!(
                "(EXISTS (SELECT 1 FROM custodian_units cu WHERE cu.custodian = a.custodian AND cu.unit IN ({mine})) \
                 OR EXISTS (SELECT 1 FROM alert_parties ap JOIN custodians c ON c.party = ap.party \
                 JOIN custodian_units cu ON cu.custodian = c.id WHERE ap.alert_id = a.id AND cu.unit IN ({again})))"
            ))
        }
        Visibility::Custodian(id) => {
            let me = sql.text(id);
            Some(format!(
                "((a.custodian = {me} AND EXISTS (SELECT 1 FROM custodians c WHERE c.id = {me})) \
                 OR EXISTS (SELECT 1 FROM alert_parties ap JOIN custodians c ON c.party = ap.party \
                 WHERE ap.alert_id = a.id AND c.id = {me}))"
            ))
        }
    }
}

fn key_of(text: &str) -> Result<(i64, i64)> {
    let bad = || Error::Cursor(text.to_string());
    let (a, b) = text.split_once(':').ok_or_else(bad)?;
    Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
}

pub(crate) fn get<'r, T>(row: &'r AnyRow, col: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(col)
        .map_err(|e| Error::Row(format!("column {col}: {e}")))
}

pub(crate) fn list(text: &str, col: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| Error::Row(format!("column {col}: {e}")))
}

impl Store {
    /// A page of the alert queue, newest first (raised time, then entry),
    /// of at most `limit` alerts after page key `after`, filtered and
    /// barred in the SQL.
    pub async fn alerts(
        &self,
        filter: &AlertFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<AlertPage> {
        let limit = limit.max(1);
        let mut sql = Sql::default();
        let mut conditions = Vec::new();
        if !filter.statuses.is_empty() {
            let statuses = sql.list(&filter.statuses);
            conditions.push(format!("a.status IN ({statuses})"));
        }
        if let Some(who) = &filter.assignee {
            let who = sql.text(who);
            conditions.push(format!("a.assignee = {who}"));
        }
        if let Some(unit) = &filter.unit {
            let unit = sql.text(unit);
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM custodian_units cu WHERE cu.custodian = a.custodian AND cu.unit = {unit})"
            ));
        }
        if let Some(policy) = &filter.policy {
            let policy = sql.text(policy);
            conditions.push(format!("a.policy = {policy}"));
        }
        if let Some(severity) = filter.severity {
            let severity = sql.int(severity as i64);
            conditions.push(format!("a.severity = {severity}"));
        }
        if let Some(clause) = barrier(&mut sql, &filter.visibility) {
            conditions.push(clause);
        }
        if let Some(after) = after {
            let (at, seq) = key_of(after)?;
            let (at1, at2, seq) = (sql.int(at), sql.int(at), sql.int(seq));
            conditions.push(format!(
                "(a.raised_at < {at1} OR (a.raised_at = {at2} AND a.seq < {seq}))"
            ));
        }
        let take = sql.int(limit as i64 + 1);
        sql.text = format!(
            "SELECT a.id, a.seq, a.raised_at, a.origin, a.policy, a.policy_version, a.title, a.category, \
             a.severity, a.score, a.status, a.disposition, a.assignee, a.custodian, a.channel, \
             a.conversation, a.source_id, a.message_seq, a.sent_at, a.repeats, a.tags, a.evidence \
             FROM alerts a {} ORDER BY a.raised_at DESC, a.seq DESC LIMIT {take}",
            where_clause(&conditions)
        );
        let rows = sql.fetch(self).await?;
        let mut alerts = Vec::with_capacity(rows.len());
        for row in rows.iter().take(limit) {
            let severity: i64 = get(row, "severity")?;
            alerts.push(AlertRow {
                id: get(row, "id")?,
                seq: get::<i64>(row, "seq")? as u64,
                raised_at: Timestamp::from_micros(get(row, "raised_at")?),
                origin: get(row, "origin")?,
                policy: get(row, "policy")?,
                policy_version: get::<i64>(row, "policy_version")? as u32,
                title: get(row, "title")?,
                category: get(row, "category")?,
                severity: *Severity::ALL
                    .get(severity as usize)
                    .ok_or_else(|| Error::Row(format!("column severity: {severity}")))?,
                score: get(row, "score")?,
                status: get(row, "status")?,
                disposition: get(row, "disposition")?,
                assignee: get(row, "assignee")?,
                custodian: get(row, "custodian")?,
                channel: get(row, "channel")?,
                conversation: get(row, "conversation")?,
                source_id: get(row, "source_id")?,
                message_seq: get::<i64>(row, "message_seq")? as u64,
                sent_at: Timestamp::from_micros(get(row, "sent_at")?),
                repeats: get::<i64>(row, "repeats")? as u64,
                tags: list(&get::<String>(row, "tags")?, "tags")?,
                labels: labels(&get::<String>(row, "evidence")?)?,
            });
        }
        let next = (rows.len() > limit)
            .then(|| alerts.last())
            .flatten()
            .map(|a| format!("{}:{}", a.raised_at.as_micros(), a.seq));
        Ok(AlertPage { alerts, next })
    }

    /// A page of the enrolled custodians in order of enrolment, at most
    /// `limit` after page key `after`; with `unit`, only those in it.
    pub async fn custodians(
        &self,
        unit: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<CustodianPage> {
        let limit = limit.max(1);
        let mut sql = Sql::default();
        let mut conditions = Vec::new();
        if let Some(unit) = unit {
            let unit = sql.text(unit);
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM custodian_units cu WHERE cu.custodian = c.id AND cu.unit = {unit})"
            ));
        }
        if let Some(after) = after {
            let seq: i64 = after
                .parse()
                .map_err(|_| Error::Cursor(after.to_string()))?;
            let seq = sql.int(seq);
            conditions.push(format!("c.seq > {seq}"));
        }
        let take = sql.int(limit as i64 + 1);
        sql.text = format!(
            "SELECT c.id, c.seq, c.name, c.phone, c.opted_in, c.roles, c.enrolled_at, c.enrolled_by, \
             c.acknowledgement_seq FROM custodians c {} ORDER BY c.seq LIMIT {take}",
            where_clause(&conditions)
        );
        let rows = sql.fetch(self).await?;
        let mut custodians = Vec::with_capacity(rows.len());
        for row in rows.iter().take(limit) {
            let id: String = get(row, "id")?;
            let units: Vec<(String,)> = sqlx::query_as(
                "SELECT unit FROM custodian_units WHERE custodian = $1 ORDER BY unit",
            )
            .bind(&id)
            .fetch_all(self.pool())
            .await?;
            custodians.push(CustodianRow {
                id,
                seq: get::<i64>(row, "seq")? as u64,
                name: get(row, "name")?,
                phone: get(row, "phone")?,
                opted_in: get(row, "opted_in")?,
                units: units.into_iter().map(|(u,)| u).collect(),
                roles: list(&get::<String>(row, "roles")?, "roles")?,
                enrolled_at: get(row, "enrolled_at")?,
                enrolled_by: get(row, "enrolled_by")?,
                acknowledgement_seq: get::<Option<i64>>(row, "acknowledgement_seq")?
                    .map(|s| s as u64),
            });
        }
        let next = (rows.len() > limit)
            .then(|| custodians.last())
            .flatten()
            .map(|c| c.seq.to_string());
        Ok(CustodianPage { custodians, next })
    }

    /// The current consent of `party` (any form of its address) on
    /// `channel`: `opt_in`, `opt_out`, or `None` when none is recorded.
    pub async fn consent(&self, party: &str, channel: &str) -> Result<Option<String>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT state FROM consent_current WHERE party = $1 AND channel = $2")
                .bind(custos_model::party_id(party))
                .bind(channel)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(s,)| s))
    }

    /// How many rows each table holds, by table name.
    pub async fn counts(&self) -> Result<Vec<(&'static str, u64)>> {
        let mut counts = Vec::new();
        for table in crate::write::TABLES {
            let (n,): (i64,) =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                    .fetch_one(self.pool())
                    .await?;
            counts.push((table, n as u64));
        }
        Ok(counts)
    }

    /// Every row of every table, as sorted text lines: what a rebuild must
    /// reproduce exactly (tests and `custos rebuild state --check`).
    pub async fn dump(&self) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        for table in crate::write::TABLES {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
                .fetch_all(self.pool())
                .await?;
            let mut these = Vec::with_capacity(rows.len());
            for row in &rows {
                let mut cells = Vec::new();
                for i in 0..row.len() {
                    cells.push(cell(row, i));
                }
                these.push(format!("{table}: {}", cells.join(" | ")));
            }
            these.sort();
            lines.extend(these);
        }
        Ok(lines)
    }
}

/// The labels of an alert's hits, each once, in order.
fn labels(evidence: &str) -> Result<Vec<String>> {
    let hits: Vec<serde_json::Value> =
        serde_json::from_str(evidence).map_err(|e| Error::Row(format!("column evidence: {e}")))?;
    let mut out: Vec<String> = Vec::new();
    for hit in hits {
        if let Some(label) = hit.get("label").and_then(|l| l.as_str())
            && !out.iter().any(|l| l == label)
        {
            out.push(label.to_string());
        }
    }
    Ok(out)
}

pub(crate) fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    }
}

/// One cell as text, whatever its type.
fn cell(row: &AnyRow, i: usize) -> String {
    if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
        return v.map_or("NULL".into(), |v| v.to_string());
    }
    if let Ok(v) = row.try_get::<Option<String>, _>(i) {
        return v.map_or("NULL".into(), |v| format!("{v:?}"));
    }
    if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
        return v.map_or("NULL".into(), |v| format!("{v:.6}"));
    }
    "?".into()
}
