//! Readers of the governance records and the user register: legal holds,
//! a party's consent, cases, users with their API tokens. Keyset-paged
//! like the alert queue ([`crate::queries`]): a page starts after the key
//! of the previous page's last row, so it costs the same however deep it
//! is, and rows added meanwhile neither repeat nor vanish.
//!
//! These are archive-level records (what is held, what is open, who may
//! sign in), not message content: no information barrier applies to them.
//! A party's consent history is personal data; the server journals each
//! read of it (`content.read`), as it does for message content.
//!
//! Never a secret: the rows hold no password hash and no token digest (the
//! projection never writes them), so no reader can return one.

use crate::queries::{Sql, get, list, where_clause};
use crate::{Error, Result, Store};
use custos_auth::Role;
use custos_governance::holds::HoldScope;
use custos_model::{ConsentState, Timestamp};
use sqlx::any::AnyRow;
use std::collections::BTreeMap;

/// Which holds a list shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HoldState {
    /// Active and released.
    #[default]
    Any,
    /// Still in force.
    Active,
    /// Released.
    Released,
}

/// One legal hold as listed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HoldRow {
    /// Its id (`LH-<entry>`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Why it was placed.
    pub reason: String,
    /// Whether it is still in force.
    pub active: bool,
    /// Custodians whose messages it covers.
    pub custodians: Vec<String>,
    /// Conversations it covers.
    pub conversations: Vec<String>,
    /// Participants (numbers, addresses) whose messages it covers.
    pub participants: Vec<String>,
    /// Messages sent from then on.
    pub from: Option<Timestamp>,
    /// Messages sent before then.
    pub to: Option<Timestamp>,
    /// The saved search it holds the results of, if any.
    pub search: Option<String>,
    /// How many entries it froze by search (the list itself is not paged
    /// out with every hold).
    pub frozen: u64,
    /// Who placed it.
    pub placed_by: String,
    /// When.
    pub placed_at: Timestamp,
    /// Who released it.
    pub released_by: Option<String>,
    /// When.
    pub released_at: Option<Timestamp>,
    /// Why.
    pub release_reason: Option<String>,
}

/// A page of holds and the key of the next.
#[derive(Clone, Debug)]
pub struct HoldPage {
    /// Active first, then newest placed first.
    pub holds: Vec<HoldRow>,
    /// Where the next page starts (`None`: this was the last).
    pub next: Option<String>,
}

/// One consent change as a party's history lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ConsentChangeRow {
    /// The journal entry.
    pub seq: u64,
    /// The channel.
    pub channel: String,
    /// Opt-in or opt-out.
    pub state: ConsentState,
    /// What was shown or replied, where, captured by whom.
    pub evidence: String,
    /// When it was given.
    pub at: Timestamp,
    /// Who or what recorded it.
    pub recorded_by: String,
}

/// A page of a party's consent history and the key of the next.
#[derive(Clone, Debug)]
pub struct ConsentHistoryPage {
    /// Newest first (journal order, reversed).
    pub changes: Vec<ConsentChangeRow>,
    /// Where the next page starts (`None`: this was the last).
    pub next: Option<String>,
}

/// A party's consent now on one channel: its newest change there.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ConsentNow {
    /// The channel.
    pub channel: String,
    /// Opt-in or opt-out.
    pub state: ConsentState,
    /// The entry of the change that set it.
    pub seq: u64,
    /// When that change was given.
    pub at: Timestamp,
}

/// How many parties have consent on record, and how many of them opted
/// out last (their newest change on any channel is an opt-out).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ConsentFigures {
    /// Parties with any change on record.
    pub parties: u64,
    /// Of those, parties whose newest change is an opt-out.
    pub opted_out: u64,
}

/// Which cases a list shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CaseState {
    /// Open and closed.
    #[default]
    Any,
    /// Open.
    Open,
    /// Closed.
    Closed,
}

/// A search saved in a case.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SavedSearchRow {
    /// Its name in the case.
    pub name: String,
    /// The query text.
    pub query: String,
    /// Who saved it.
    pub saved_by: String,
}

/// How many messages of a case carry each review decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DecisionCounts {
    /// Tagged relevant.
    pub relevant: u64,
    /// Tagged not relevant.
    pub not_relevant: u64,
    /// Tagged privileged.
    pub privileged: u64,
}

/// One case as listed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CaseRow {
    /// Its id (`CASE-<entry>`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// What it is about.
    pub description: String,
    /// Whether it is open.
    pub open: bool,
    /// The custodians in its scope.
    pub custodians: Vec<String>,
    /// Its period's start.
    pub from: Option<Timestamp>,
    /// Its period's end.
    pub to: Option<Timestamp>,
    /// Who opened it.
    pub opened_by: String,
    /// When.
    pub opened_at: Timestamp,
    /// The holds placed over it.
    pub holds: Vec<String>,
    /// Its saved searches, by name.
    pub searches: Vec<SavedSearchRow>,
    /// Its review decisions, counted by tag.
    pub decisions: DecisionCounts,
    /// Who closed it.
    pub closed_by: Option<String>,
    /// When.
    pub closed_at: Option<Timestamp>,
    /// Why.
    pub close_reason: Option<String>,
}

/// A page of cases and the key of the next.
#[derive(Clone, Debug)]
pub struct CasePage {
    /// Open first, then newest opened first.
    pub cases: Vec<CaseRow>,
    /// Where the next page starts (`None`: this was the last).
    pub next: Option<String>,
}

/// An API token as listed: never its digest.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TokenRow {
    /// Its id (the public part of the bearer value).
    pub id: String,
    /// The roles it acts with (a subset of the user's).
    pub roles: Vec<Role>,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// Whether it was revoked.
    pub revoked: bool,
    /// When it was made.
    pub created_at: Timestamp,
    /// Who made it.
    pub created_by: String,
}

/// A user as listed: never a password hash.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct UserRow {
    /// Their id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Their roles.
    pub roles: Vec<Role>,
    /// Their desks or business units.
    pub units: Vec<String>,
    /// The custodian they are, if any.
    pub custodian: Option<String>,
    /// Whether they are disabled.
    pub disabled: bool,
    /// When they were added.
    pub added_at: Timestamp,
    /// Who added them.
    pub added_by: String,
    /// Their API tokens, oldest first.
    pub tokens: Vec<TokenRow>,
}

/// A page of users and the key of the next.
#[derive(Clone, Debug)]
pub struct UserPage {
    /// By id.
    pub users: Vec<UserRow>,
    /// Where the next page starts (`None`: this was the last).
    pub next: Option<String>,
}

/// The key of a row in a list ordered by a flag (1 first), a time (newest
/// first) and an id: `flag:micros:id`.
fn ranked_key(flag: bool, at: Timestamp, id: &str) -> String {
    format!("{}:{}:{id}", u8::from(flag), at.as_micros())
}

/// The condition "after key `text`" of such a list, `flag` being the SQL
/// of the flag (1 or 0).
fn after_ranked(sql: &mut Sql, flag: &str, at: &str, id: &str, text: &str) -> Result<String> {
    let bad = || Error::Cursor(text.to_string());
    let mut parts = text.splitn(3, ':');
    let f: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let t: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let i = parts.next().filter(|p| !p.is_empty()).ok_or_else(bad)?;
    if !(0..=1).contains(&f) {
        return Err(bad());
    }
    let (f1, f2, f3) = (sql.int(f), sql.int(f), sql.int(f));
    let (t1, t2) = (sql.int(t), sql.int(t));
    let i1 = sql.text(i);
    Ok(format!(
        "(({flag}) < {f1} OR (({flag}) = {f2} AND {at} < {t1}) \
         OR (({flag}) = {f3} AND {at} = {t2} AND {id} < {i1}))"
    ))
}

fn time(row: &AnyRow, col: &str) -> Result<Timestamp> {
    Ok(Timestamp::from_micros(get(row, col)?))
}

fn maybe_time(row: &AnyRow, col: &str) -> Result<Option<Timestamp>> {
    Ok(get::<Option<i64>>(row, col)?.map(Timestamp::from_micros))
}

fn roles(text: &str, col: &str) -> Result<Vec<Role>> {
    serde_json::from_str(text).map_err(|e| Error::Row(format!("column {col}: {e}")))
}

fn consent_state(text: &str) -> Result<ConsentState> {
    match text {
        "opt_in" => Ok(ConsentState::OptIn),
        "opt_out" => Ok(ConsentState::OptOut),
        other => Err(Error::Row(format!("column state: {other:?}"))),
    }
}

/// `$1, $2, ...` for `ids`, bound as text.
fn id_list(sql: &mut Sql, ids: &[String]) -> String {
    sql.list(ids)
}

/// SQL of "the hold is active".
const HOLD_ACTIVE: &str = "CASE WHEN h.released_at IS NULL THEN 1 ELSE 0 END";
/// SQL of "the case is open".
const CASE_OPEN: &str = "CASE WHEN c.closed_at IS NULL THEN 1 ELSE 0 END";

impl Store {
    /// A page of legal holds, active first and then newest placed first,
    /// at most `limit` after page key `after`, of those in `state`.
    pub async fn holds(
        &self,
        state: HoldState,
        after: Option<&str>,
        limit: usize,
    ) -> Result<HoldPage> {
        let limit = limit.max(1);
        let mut sql = Sql::default();
        let mut conditions = Vec::new();
        match state {
            HoldState::Any => {}
            HoldState::Active => conditions.push("h.released_at IS NULL".to_string()),
            HoldState::Released => conditions.push("h.released_at IS NOT NULL".to_string()),
        }
        if let Some(after) = after {
            conditions.push(after_ranked(
                &mut sql,
                HOLD_ACTIVE,
                "h.placed_at",
                "h.id",
                after,
            )?);
        }
        let take = sql.int(limit as i64 + 1);
        sql.text = format!(
            "SELECT h.id, h.name, h.reason, h.scope, h.placed_by, h.placed_at, h.released_by, \
             h.released_at, h.release_reason FROM holds h {} \
             ORDER BY {HOLD_ACTIVE} DESC, h.placed_at DESC, h.id DESC LIMIT {take}",
            where_clause(&conditions)
        );
        let rows = sql.fetch(self).await?;
        let mut holds = Vec::with_capacity(rows.len().min(limit));
        for row in rows.iter().take(limit) {
            let scope: String = get(row, "scope")?;
            let scope: HoldScope = serde_json::from_str(&scope)
                .map_err(|e| Error::Row(format!("column scope: {e}")))?;
            let released_at = maybe_time(row, "released_at")?;
            holds.push(HoldRow {
                id: get(row, "id")?,
                name: get(row, "name")?,
                reason: get(row, "reason")?,
                active: released_at.is_none(),
                custodians: scope.custodians,
                conversations: scope.conversations,
                participants: scope.participants,
                from: scope.from,
                to: scope.to,
                search: scope.search,
                frozen: scope.frozen.len() as u64,
                placed_by: get(row, "placed_by")?,
                placed_at: time(row, "placed_at")?,
                released_by: get(row, "released_by")?,
                released_at,
                release_reason: get(row, "release_reason")?,
            });
        }
        let next = (rows.len() > limit)
            .then(|| holds.last())
            .flatten()
            .map(|h| ranked_key(h.active, h.placed_at, &h.id));
        Ok(HoldPage { holds, next })
    }

    /// A page of the consent history of `party` (any form of its
    /// address), newest first, at most `limit` after page key `after`;
    /// with `channel`, that channel's only.
    pub async fn consent_history(
        &self,
        party: &str,
        channel: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<ConsentHistoryPage> {
        let limit = limit.max(1);
        let mut sql = Sql::default();
        let who = sql.text(&custos_model::party_id(party));
        let mut conditions = vec![format!("k.party = {who}")];
        if let Some(channel) = channel {
            let channel = sql.text(channel);
            conditions.push(format!("k.channel = {channel}"));
        }
        if let Some(after) = after {
            let seq: i64 = after
                .parse()
                .map_err(|_| Error::Cursor(after.to_string()))?;
            let seq = sql.int(seq);
            conditions.push(format!("k.seq < {seq}"));
        }
        let take = sql.int(limit as i64 + 1);
        sql.text = format!(
            "SELECT k.seq, k.channel, k.state, k.evidence, k.at, k.recorded_by \
             FROM consent_changes k {} ORDER BY k.seq DESC LIMIT {take}",
            where_clause(&conditions)
        );
        let rows = sql.fetch(self).await?;
        let mut changes = Vec::with_capacity(rows.len().min(limit));
        for row in rows.iter().take(limit) {
            changes.push(ConsentChangeRow {
                seq: get::<i64>(row, "seq")? as u64,
                channel: get(row, "channel")?,
                state: consent_state(&get::<String>(row, "state")?)?,
                evidence: get(row, "evidence")?,
                at: time(row, "at")?,
                recorded_by: get(row, "recorded_by")?,
            });
        }
        let next = (rows.len() > limit)
            .then(|| changes.last())
            .flatten()
            .map(|c| c.seq.to_string());
        Ok(ConsentHistoryPage { changes, next })
    }

    /// The consent of `party` now, one row per channel with any change on
    /// record, by channel.
    pub async fn consent_now(&self, party: &str) -> Result<Vec<ConsentNow>> {
        let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT channel, state, seq, at FROM consent_current WHERE party = $1 ORDER BY channel",
        )
        .bind(custos_model::party_id(party))
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for (channel, state, seq, at) in rows {
            out.push(ConsentNow {
                channel,
                state: consent_state(&state)?,
                seq: seq as u64,
                at: Timestamp::from_micros(at),
            });
        }
        Ok(out)
    }

    /// How many parties have consent on record, and how many opted out
    /// last.
    pub async fn consent_figures(&self) -> Result<ConsentFigures> {
        let (parties,): (i64,) =
            sqlx::query_as("SELECT COUNT(DISTINCT party) FROM consent_current")
                .fetch_one(self.pool())
                .await?;
        let (opted_out,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM consent_current k WHERE k.state = 'opt_out' \
             AND k.seq = (SELECT MAX(l.seq) FROM consent_current l WHERE l.party = k.party)",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(ConsentFigures {
            parties: parties as u64,
            opted_out: opted_out as u64,
        })
    }

    /// A page of cases, open first and then newest opened first, at most
    /// `limit` after page key `after`, of those in `state`; each with its
    /// holds, saved searches and decision counts.
    pub async fn cases(
        &self,
        state: CaseState,
        after: Option<&str>,
        limit: usize,
    ) -> Result<CasePage> {
        let limit = limit.max(1);
        let mut sql = Sql::default();
        let mut conditions = Vec::new();
        match state {
            CaseState::Any => {}
            CaseState::Open => conditions.push("c.closed_at IS NULL".to_string()),
            CaseState::Closed => conditions.push("c.closed_at IS NOT NULL".to_string()),
        }
        if let Some(after) = after {
            conditions.push(after_ranked(
                &mut sql,
                CASE_OPEN,
                "c.opened_at",
                "c.id",
                after,
            )?);
        }
        let take = sql.int(limit as i64 + 1);
        sql.text = format!(
            "SELECT c.id, c.name, c.description, c.custodians, c.from_at, c.to_at, c.opened_by, \
             c.opened_at, c.holds, c.closed_by, c.closed_at, c.close_reason FROM cases c {} \
             ORDER BY {CASE_OPEN} DESC, c.opened_at DESC, c.id DESC LIMIT {take}",
            where_clause(&conditions)
        );
        let rows = sql.fetch(self).await?;
        let mut cases = Vec::with_capacity(rows.len().min(limit));
        for row in rows.iter().take(limit) {
            let closed_at = maybe_time(row, "closed_at")?;
            cases.push(CaseRow {
                id: get(row, "id")?,
                name: get(row, "name")?,
                description: get(row, "description")?,
                open: closed_at.is_none(),
                custodians: list(&get::<String>(row, "custodians")?, "custodians")?,
                from: maybe_time(row, "from_at")?,
                to: maybe_time(row, "to_at")?,
                opened_by: get(row, "opened_by")?,
                opened_at: time(row, "opened_at")?,
                holds: list(&get::<String>(row, "holds")?, "holds")?,
                searches: Vec::new(),
                decisions: DecisionCounts::default(),
                closed_by: get(row, "closed_by")?,
                closed_at,
                close_reason: get(row, "close_reason")?,
            });
        }
        if !cases.is_empty() {
            let ids: Vec<String> = cases.iter().map(|c| c.id.clone()).collect();
            let mut searches = self.case_searches(&ids).await?;
            let mut decisions = self.case_decisions(&ids).await?;
            for case in &mut cases {
                case.searches = searches.remove(&case.id).unwrap_or_default();
                case.decisions = decisions.remove(&case.id).unwrap_or_default();
            }
        }
        let next = (rows.len() > limit)
            .then(|| cases.last())
            .flatten()
            .map(|c| ranked_key(c.open, c.opened_at, &c.id));
        Ok(CasePage { cases, next })
    }

    /// The saved searches of cases `ids`, by case, each by name.
    async fn case_searches(&self, ids: &[String]) -> Result<BTreeMap<String, Vec<SavedSearchRow>>> {
        let mut sql = Sql::default();
        let these = id_list(&mut sql, ids);
        sql.text = format!(
            "SELECT case_id, name, query, saved_by FROM case_searches \
             WHERE case_id IN ({these}) ORDER BY case_id, name"
        );
        let mut out: BTreeMap<String, Vec<SavedSearchRow>> = BTreeMap::new();
        for row in sql.fetch(self).await? {
            out.entry(get(&row, "case_id")?)
                .or_default()
                .push(SavedSearchRow {
                    name: get(&row, "name")?,
                    query: get(&row, "query")?,
                    saved_by: get(&row, "saved_by")?,
                });
        }
        Ok(out)
    }

    /// The decision counts of cases `ids`, by case.
    async fn case_decisions(&self, ids: &[String]) -> Result<BTreeMap<String, DecisionCounts>> {
        let mut sql = Sql::default();
        let these = id_list(&mut sql, ids);
        sql.text = format!(
            "SELECT case_id, tag, COUNT(*) AS n FROM case_decisions \
             WHERE case_id IN ({these}) GROUP BY case_id, tag"
        );
        let mut out: BTreeMap<String, DecisionCounts> = BTreeMap::new();
        for row in sql.fetch(self).await? {
            let counts = out.entry(get(&row, "case_id")?).or_default();
            let n = get::<i64>(&row, "n")? as u64;
            match get::<String>(&row, "tag")?.as_str() {
                "relevant" => counts.relevant = n,
                "not_relevant" => counts.not_relevant = n,
                "privileged" => counts.privileged = n,
                other => return Err(Error::Row(format!("column tag: {other:?}"))),
            }
        }
        Ok(out)
    }

    /// A page of users by id, at most `limit` after page key `after`
    /// (the last id of the previous page), each with their API tokens.
    pub async fn users(&self, after: Option<&str>, limit: usize) -> Result<UserPage> {
        let limit = limit.max(1);
        let mut sql = Sql::default();
        let mut conditions = Vec::new();
        if let Some(after) = after {
            if after.is_empty() {
                return Err(Error::Cursor(after.to_string()));
            }
            let after = sql.text(after);
            conditions.push(format!("u.id > {after}"));
        }
        let take = sql.int(limit as i64 + 1);
        sql.text = format!(
            "SELECT u.id, u.name, u.roles, u.units, u.custodian, u.disabled, u.added_at, u.added_by \
             FROM users u {} ORDER BY u.id LIMIT {take}",
            where_clause(&conditions)
        );
        let rows = sql.fetch(self).await?;
        let mut users = Vec::with_capacity(rows.len().min(limit));
        for row in rows.iter().take(limit) {
            users.push(UserRow {
                id: get(row, "id")?,
                name: get(row, "name")?,
                roles: roles(&get::<String>(row, "roles")?, "roles")?,
                units: list(&get::<String>(row, "units")?, "units")?,
                custodian: get(row, "custodian")?,
                disabled: get::<i64>(row, "disabled")? != 0,
                added_at: time(row, "added_at")?,
                added_by: get(row, "added_by")?,
                tokens: Vec::new(),
            });
        }
        if !users.is_empty() {
            let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
            let mut sql = Sql::default();
            let these = id_list(&mut sql, &ids);
            sql.text = format!(
                "SELECT id, user_id, roles, expires_at, revoked, created_at, created_by FROM tokens \
                 WHERE user_id IN ({these}) ORDER BY created_at, id"
            );
            let mut tokens: BTreeMap<String, Vec<TokenRow>> = BTreeMap::new();
            for row in sql.fetch(self).await? {
                tokens
                    .entry(get(&row, "user_id")?)
                    .or_default()
                    .push(TokenRow {
                        id: get(&row, "id")?,
                        roles: roles(&get::<String>(&row, "roles")?, "roles")?,
                        expires_at: time(&row, "expires_at")?,
                        revoked: get::<i64>(&row, "revoked")? != 0,
                        created_at: time(&row, "created_at")?,
                        created_by: get(&row, "created_by")?,
                    });
            }
            for user in &mut users {
                user.tokens = tokens.remove(&user.id).unwrap_or_default();
            }
        }
        let next = (rows.len() > limit)
            .then(|| users.last())
            .flatten()
            .map(|u| u.id.clone());
        Ok(UserPage { users, next })
    }
}
