//! Supervision: policy versions, alerts and their review, supervisory
//! samples and the classifier in service, all as journal events, and the
//! state and queue folded from them.
//!
//! - [`events`]: the facts and their journal form;
//! - [`state`]: the fold of those facts into policies, alerts, samples;
//! - [`policies`]: loading a policy text as a new version;
//! - [`supervisor`]: evaluating captured messages into alerts;
//! - [`review`]: reviewers' actions, checked;
//! - [`sampling`]: reproducible random samples of conversations;
//! - [`consent`]: opt-out by keyword in inbound messages.

pub mod consent;
pub mod events;
pub mod policies;
pub mod review;
pub mod sampling;
pub mod state;
pub mod supervisor;

pub use events::{AlertRaised, Disposition, Origin};
pub use state::{Alert, Status, Supervision};
pub use supervisor::{Custodian, Raised, Supervisor};
