//! Governance: what the archive must keep and why, and what people may ask
//! of it. Today: the custodian registry, cases (matters: scope, saved searches, review decisions,
//! a hold over their scope), one party across channels (`identities`), legal holds, which win over erasure and over expiry, retention schedules and their disposition
//! (`retention`), and the privacy-request queue. Every hold placed or released is a journal event; the holds in
//! force are folded from those events.

pub mod cases;
pub mod custodians;
pub mod holds;
pub mod identities;
pub mod privacy;
pub mod retention;

pub use holds::{Hold, HoldError, HoldScope, Holds};

/// A value's fields as a system event's details.
pub(crate) fn details<T: serde::Serialize>(
    value: &T,
) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}
