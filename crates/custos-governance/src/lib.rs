//! Governance: what the archive must keep and why. Today: legal holds,
//! which win over erasure (and, with the retention schedules to come, over
//! expiry). Every hold placed or released is a journal event; the holds in
//! force are folded from those events.

pub mod holds;

pub use holds::{Hold, HoldError, HoldScope, Holds};
