//! Reviewers' actions on alerts, checked against the alert's state before
//! they become journal events: assign, comment, escalate, close.

use crate::events::{self, Disposition, ReviewAction};
use crate::state::{Status, Supervision};
use custos_model::Event;

/// A review action that cannot be taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReviewError {
    /// No alert has this id.
    #[error("no alert {0}")]
    NoSuchAlert(String),
    /// The alert is closed; closed alerts only take comments.
    #[error("alert {id} is closed ({disposition}); only comments can be added")]
    Closed {
        /// The alert.
        id: String,
        /// How it was closed.
        disposition: &'static str,
    },
    /// A required text is empty.
    #[error("{0} must not be empty")]
    Empty(&'static str),
}

/// What a reviewer does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Give the alert to a reviewer.
    Assign {
        /// The reviewer.
        to: String,
    },
    /// Add a comment.
    Comment {
        /// The comment.
        text: String,
    },
    /// Pass it up, optionally to a named reviewer.
    Escalate {
        /// The senior reviewer.
        to: Option<String>,
        /// Why.
        reason: String,
    },
    /// Close it.
    Close {
        /// The outcome.
        disposition: Disposition,
        /// Why.
        reason: String,
    },
}

/// Checks `action` on alert `id` and returns the event that records it.
pub fn event_for(
    state: &Supervision,
    id: &str,
    actor: &str,
    action: &Action,
) -> Result<Event, ReviewError> {
    let alert = state
        .alerts
        .get(id)
        .ok_or_else(|| ReviewError::NoSuchAlert(id.to_string()))?;
    if let (Status::Closed(d), false) = (alert.status, matches!(action, Action::Comment { .. })) {
        return Err(ReviewError::Closed {
            id: id.to_string(),
            disposition: d.name(),
        });
    }
    let nonempty = |text: &str, what: &'static str| {
        let text = text.trim();
        if text.is_empty() {
            Err(ReviewError::Empty(what))
        } else {
            Ok(text.to_string())
        }
    };
    let (name, detail) = match action {
        Action::Assign { to } => (
            events::ALERT_ASSIGNED,
            ReviewAction {
                assignee: Some(nonempty(to, "the assignee")?),
                ..Default::default()
            },
        ),
        Action::Comment { text } => (
            events::ALERT_COMMENTED,
            ReviewAction {
                text: nonempty(text, "the comment")?,
                ..Default::default()
            },
        ),
        Action::Escalate { to, reason } => (
            events::ALERT_ESCALATED,
            ReviewAction {
                assignee: to
                    .as_deref()
                    .map(|t| nonempty(t, "the reviewer"))
                    .transpose()?,
                text: nonempty(reason, "the reason")?,
                ..Default::default()
            },
        ),
        Action::Close {
            disposition,
            reason,
        } => (
            events::ALERT_CLOSED,
            ReviewAction {
                disposition: Some(*disposition),
                text: nonempty(reason, "the reason")?,
                ..Default::default()
            },
        ),
    };
    Ok(events::system(actor, name, id, &detail))
}
