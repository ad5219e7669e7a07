//! Writing one batch of changes: the rows of what the folds say changed,
//! the erasures, and the new position, in one transaction.
//!
//! Entity rows (an alert, a hold, a case, a user, a token, a custodian)
//! are written whole from the fold's current value: deleted and inserted,
//! which both backends do alike. Rows that only accumulate (an alert's
//! review actions, a case's decisions, consent changes) are inserted as
//! their entries arrive.

use crate::projector::{Folds, Kind};
use custos_review::state::Status;
use sqlx::AnyConnection;
use std::collections::{BTreeSet, HashMap, HashSet};

/// Every table of rows (not the position), in the order a clear empties
/// them.
pub(crate) const TABLES: [&str; 13] = [
    "alert_history",
    "alert_parties",
    "alerts",
    "holds",
    "case_searches",
    "case_decisions",
    "cases",
    "consent_changes",
    "consent_current",
    "users",
    "tokens",
    "custodian_units",
    "custodians",
];

/// One consent change as it is stored.
#[derive(Clone, Debug)]
pub(crate) struct ConsentRow {
    pub seq: u64,
    pub key_id: String,
    pub party: String,
    pub channel: String,
    pub state: &'static str,
    pub evidence: String,
    pub at: i64,
    pub recorded_by: String,
}

/// What changed in a run of entries.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// Entities to write whole from their fold.
    pub dirty: BTreeSet<(Kind, String)>,
    /// Review actions: (alert, entry, key id).
    pub history: Vec<(String, u64, String)>,
    /// Message parties of alerts raised: (alert, party ids).
    pub parties: Vec<(String, Vec<String>)>,
    /// Case decisions: (case, message entry, key id).
    pub decisions: Vec<(String, u64, String)>,
    /// Consent changes, in journal order.
    pub consent: Vec<ConsentRow>,
    /// Keys shredded, in journal order.
    pub shreds: Vec<String>,
}

type Tx = AnyConnection;

fn i(v: u64) -> i64 {
    v as i64
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Writes `batch` against `folds` (their state after the batch's entries)
/// and sets the position to `end`. Entities whose creating entry was sealed
/// under a shredded key are not written: an erased subject stays erased.
pub(crate) async fn flush(
    tx: &mut Tx,
    folds: &Folds,
    origins: &HashMap<(Kind, String), String>,
    shredded: &HashSet<String>,
    batch: &Batch,
    written_to: u64,
    end: u64,
) -> crate::Result<()> {
    let gone = |kind: Kind, id: &str| {
        origins
            .get(&(kind, id.to_string()))
            .is_none_or(|k| shredded.contains(k))
    };
    for (kind, id) in &batch.dirty {
        delete_entity(tx, *kind, id).await?;
        if gone(*kind, id) {
            continue;
        }
        let key = &origins[&(*kind, id.clone())];
        match kind {
            Kind::Alert => write_alert(tx, folds, id, key).await?,
            Kind::Hold => write_hold(tx, folds, id, key).await?,
            Kind::Case => write_case(tx, folds, id, key).await?,
            Kind::User => write_user(tx, folds, id, key).await?,
            Kind::Token => write_token(tx, folds, id, key).await?,
            Kind::Custodian => write_custodian(tx, folds, id, key).await?,
        }
    }
    for (alert, seq, key) in &batch.history {
        if gone(Kind::Alert, alert) || shredded.contains(key) {
            continue;
        }
        let Some(item) = folds
            .supervision
            .alerts
            .get(alert)
            .and_then(|a| a.history.iter().find(|h| h.seq == *seq))
        else {
            continue;
        };
        sqlx::query("DELETE FROM alert_history WHERE alert_id = $1 AND seq = $2")
            .bind(alert)
            .bind(i(*seq))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO alert_history (alert_id, seq, key_id, at, actor, action, assignee, disposition, note) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(alert)
        .bind(i(*seq))
        .bind(key)
        .bind(item.at.as_micros())
        .bind(&item.actor)
        .bind(&item.action)
        .bind(item.detail.assignee.clone())
        .bind(item.detail.disposition.map(|d| d.name().to_string()))
        .bind(&item.detail.text)
        .execute(&mut *tx)
        .await?;
    }
    for (alert, parties) in &batch.parties {
        if gone(Kind::Alert, alert) {
            continue;
        }
        sqlx::query("DELETE FROM alert_parties WHERE alert_id = $1")
            .bind(alert)
            .execute(&mut *tx)
            .await?;
        for party in parties {
            sqlx::query("INSERT INTO alert_parties (alert_id, party) VALUES ($1, $2)")
                .bind(alert)
                .bind(party)
                .execute(&mut *tx)
                .await?;
        }
    }
    for (case, seq, key) in &batch.decisions {
        if gone(Kind::Case, case) || shredded.contains(key) {
            continue;
        }
        sqlx::query("DELETE FROM case_decisions WHERE case_id = $1 AND message_seq = $2")
            .bind(case)
            .bind(i(*seq))
            .execute(&mut *tx)
            .await?;
        let Some(d) = folds.cases.all.get(case).and_then(|c| c.review.get(seq)) else {
            continue;
        };
        sqlx::query(
            "INSERT INTO case_decisions (case_id, message_seq, key_id, tag, decided_by, at, note) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(case)
        .bind(i(*seq))
        .bind(key)
        .bind(d.tag.name())
        .bind(&d.by)
        .bind(d.at.as_micros())
        .bind(&d.note)
        .execute(&mut *tx)
        .await?;
    }
    for c in &batch.consent {
        // Below `written_to` another projector inserted it already.
        if shredded.contains(&c.key_id) || c.seq < written_to {
            continue;
        }
        sqlx::query(
            "INSERT INTO consent_changes (seq, key_id, party, channel, state, evidence, at, recorded_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(i(c.seq))
        .bind(&c.key_id)
        .bind(&c.party)
        .bind(&c.channel)
        .bind(c.state)
        .bind(&c.evidence)
        .bind(c.at)
        .bind(&c.recorded_by)
        .execute(&mut *tx)
        .await?;
        set_current_consent(tx, &c.party, &c.channel).await?;
    }
    for key in &batch.shreds {
        shred(tx, key).await?;
    }
    sqlx::query("UPDATE projection_position SET next_seq = $1 WHERE id = 1")
        .bind(i(end))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The current consent of (party, channel): its newest change in journal
/// order, or no row when none is left.
async fn set_current_consent(tx: &mut Tx, party: &str, channel: &str) -> crate::Result<()> {
    sqlx::query("DELETE FROM consent_current WHERE party = $1 AND channel = $2")
        .bind(party)
        .bind(channel)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO consent_current (party, channel, state, seq, at) \
         SELECT party, channel, state, seq, at FROM consent_changes \
         WHERE party = $1 AND channel = $2 ORDER BY seq DESC LIMIT 1",
    )
    .bind(party)
    .bind(channel)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Removes every row sealed under `key`: the entities it created (with
/// their dependent rows) and the rows of its own entries (review notes,
/// decisions, consent changes), as the search index drops the documents.
async fn shred(tx: &mut Tx, key: &str) -> crate::Result<()> {
    let statements = [
        "DELETE FROM alert_history WHERE alert_id IN (SELECT id FROM alerts WHERE key_id = $1)",
        "DELETE FROM alert_parties WHERE alert_id IN (SELECT id FROM alerts WHERE key_id = $1)",
        "DELETE FROM alerts WHERE key_id = $1",
        "DELETE FROM alert_history WHERE key_id = $1",
        "DELETE FROM holds WHERE key_id = $1",
        "DELETE FROM case_searches WHERE case_id IN (SELECT id FROM cases WHERE key_id = $1)",
        "DELETE FROM case_decisions WHERE case_id IN (SELECT id FROM cases WHERE key_id = $1)",
        "DELETE FROM cases WHERE key_id = $1",
        "DELETE FROM case_decisions WHERE key_id = $1",
        "DELETE FROM users WHERE key_id = $1",
        "DELETE FROM tokens WHERE key_id = $1",
        "DELETE FROM custodian_units WHERE custodian IN (SELECT id FROM custodians WHERE key_id = $1)",
        "DELETE FROM custodians WHERE key_id = $1",
    ];
    for sql in statements {
        sqlx::query(sql).bind(key).execute(&mut *tx).await?;
    }
    let affected: Vec<(String, String)> =
        sqlx::query_as("SELECT DISTINCT party, channel FROM consent_changes WHERE key_id = $1")
            .bind(key)
            .fetch_all(&mut *tx)
            .await?;
    sqlx::query("DELETE FROM consent_changes WHERE key_id = $1")
        .bind(key)
        .execute(&mut *tx)
        .await?;
    for (party, channel) in affected {
        set_current_consent(tx, &party, &channel).await?;
    }
    Ok(())
}

async fn delete_entity(tx: &mut Tx, kind: Kind, id: &str) -> crate::Result<()> {
    let statements: &[&'static str] = match kind {
        Kind::Alert => &["DELETE FROM alerts WHERE id = $1"],
        Kind::Hold => &["DELETE FROM holds WHERE id = $1"],
        Kind::Case => &[
            "DELETE FROM cases WHERE id = $1",
            "DELETE FROM case_searches WHERE case_id = $1",
        ],
        Kind::User => &["DELETE FROM users WHERE id = $1"],
        Kind::Token => &["DELETE FROM tokens WHERE id = $1"],
        Kind::Custodian => &[
            "DELETE FROM custodians WHERE id = $1",
            "DELETE FROM custodian_units WHERE custodian = $1",
        ],
    };
    for sql in statements {
        sqlx::query(*sql).bind(id).execute(&mut *tx).await?;
    }
    Ok(())
}

/// The status column's value and the disposition of a closed alert.
pub(crate) fn status_name(status: Status) -> (&'static str, Option<&'static str>) {
    match status {
        Status::Open => ("open", None),
        Status::Assigned => ("assigned", None),
        Status::Escalated => ("escalated", None),
        Status::Closed(d) => ("closed", Some(d.name())),
    }
}

async fn write_alert(tx: &mut Tx, folds: &Folds, id: &str, key: &str) -> crate::Result<()> {
    let Some(a) = folds.supervision.alerts.get(id) else {
        return Ok(());
    };
    let r = &a.raised;
    let (status, disposition) = status_name(a.status);
    let origin = match r.origin {
        custos_review::Origin::Policy => "policy",
        custos_review::Origin::Sample => "sample",
    };
    sqlx::query(
        "INSERT INTO alerts (id, seq, key_id, raised_at, origin, policy, policy_version, title, category, \
         severity, score, status, disposition, assignee, custodian, channel, conversation, source_id, \
         message_seq, sent_at, repeats, tags, evidence) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)",
    )
    .bind(id)
    .bind(i(a.seq))
    .bind(key)
    .bind(a.raised_at.as_micros())
    .bind(origin)
    .bind(&r.policy)
    .bind(i64::from(r.version))
    .bind(&r.title)
    .bind(&r.category)
    .bind(r.severity as i64)
    .bind(r.score.map(f64::from))
    .bind(status)
    .bind(disposition)
    .bind(a.assignee.clone())
    .bind(r.custodian.clone())
    .bind(&r.channel)
    .bind(&r.conversation)
    .bind(&r.source_id)
    .bind(i(r.message_seq))
    .bind(r.sent_at.as_micros())
    .bind(a.repeats.len() as i64)
    .bind(json(&r.tags))
    .bind(json(&r.hits))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn write_hold(tx: &mut Tx, folds: &Folds, id: &str, key: &str) -> crate::Result<()> {
    let Some(h) = folds.holds.all.get(id) else {
        return Ok(());
    };
    let released = h.released.as_ref();
    sqlx::query(
        "INSERT INTO holds (id, key_id, name, reason, scope, placed_by, placed_at, released_by, released_at, release_reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(id)
    .bind(key)
    .bind(&h.placed.name)
    .bind(&h.placed.reason)
    .bind(json(&h.placed.scope))
    .bind(&h.placed_by)
    .bind(h.placed_at.as_micros())
    .bind(released.map(|r| r.0.clone()))
    .bind(released.map(|r| r.1.as_micros()))
    .bind(released.map(|r| r.2.clone()))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn write_case(tx: &mut Tx, folds: &Folds, id: &str, key: &str) -> crate::Result<()> {
    let Some(c) = folds.cases.all.get(id) else {
        return Ok(());
    };
    let closed = c.closed.as_ref();
    sqlx::query(
        "INSERT INTO cases (id, key_id, name, description, custodians, from_at, to_at, opened_by, opened_at, holds, \
         closed_by, closed_at, close_reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(id)
    .bind(key)
    .bind(&c.opening.name)
    .bind(&c.opening.description)
    .bind(json(&c.opening.custodians))
    .bind(c.opening.from.map(|t| t.as_micros()))
    .bind(c.opening.to.map(|t| t.as_micros()))
    .bind(&c.opened_by)
    .bind(c.opened_at.as_micros())
    .bind(json(&c.holds))
    .bind(closed.map(|r| r.0.clone()))
    .bind(closed.map(|r| r.1.as_micros()))
    .bind(closed.map(|r| r.2.clone()))
    .execute(&mut *tx)
    .await?;
    for s in c.searches.values() {
        sqlx::query(
            "INSERT INTO case_searches (case_id, name, query, saved_by) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(&s.name)
        .bind(&s.query)
        .bind(&s.by)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

async fn write_user(tx: &mut Tx, folds: &Folds, id: &str, key: &str) -> crate::Result<()> {
    let Some(u) = folds.users.get(id) else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO users (id, key_id, name, roles, units, custodian, disabled, added_at, added_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(key)
    .bind(&u.name)
    .bind(json(&u.roles))
    .bind(json(&u.units))
    .bind(u.custodian.clone())
    .bind(i64::from(u.disabled))
    .bind(u.added_at.as_micros())
    .bind(&u.added_by)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn write_token(tx: &mut Tx, folds: &Folds, id: &str, key: &str) -> crate::Result<()> {
    let Some(t) = folds.users.token(id) else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO tokens (id, key_id, user_id, roles, expires_at, revoked, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(key)
    .bind(&t.user)
    .bind(json(&t.roles))
    .bind(t.expires_at.as_micros())
    .bind(i64::from(t.revoked))
    .bind(t.created_at.as_micros())
    .bind(&t.created_by)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn write_custodian(tx: &mut Tx, folds: &Folds, id: &str, key: &str) -> crate::Result<()> {
    let Some(c) = folds.custodians.all.get(id) else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO custodians (id, key_id, seq, name, phone, party, opted_in, roles, enrolled_at, enrolled_by, \
         acknowledgement_seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(id)
    .bind(key)
    .bind(i(c.seq))
    .bind(&c.name)
    .bind(&c.phone)
    .bind(custos_model::party_id(&c.phone))
    .bind(&c.opted_in)
    .bind(json(&c.roles))
    .bind(&c.enrolled_at)
    .bind(&c.enrolled_by)
    .bind(c.acknowledgement.as_ref().map(|a| i(a.seq)))
    .execute(&mut *tx)
    .await?;
    let units: BTreeSet<&String> = c.units.iter().collect();
    for unit in units {
        sqlx::query("INSERT INTO custodian_units (custodian, unit) VALUES ($1, $2)")
            .bind(id)
            .bind(unit)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
