//! Governance: what the archive must keep and why, and what people may ask
//! of it. Today: legal holds, which win over erasure (and, with the
//! retention schedules to come, over expiry), and the privacy-request queue. Every hold placed or released is a journal event; the holds in
//! force are folded from those events.

pub mod holds;
pub mod privacy;

pub use holds::{Hold, HoldError, HoldScope, Holds};
