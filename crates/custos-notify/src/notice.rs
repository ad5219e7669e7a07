//! What a notification says about an alert, and what became of it.
//!
//! A notice carries labels and ids only, never message text: notifications
//! go to chat tools and mailboxes outside the archive, and archived content
//! must not leak there.

use custos_model::{Severity, Timestamp};
use serde::Serialize;

/// One raised alert, as told to notification targets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlertNotice {
    /// The alert's id; PagerDuty's `dedup_key`.
    pub alert_id: String,
    /// The policy's id.
    pub policy: String,
    /// The policy's human title.
    pub policy_title: String,
    /// The policy version that raised the alert.
    pub version: u32,
    /// How serious the alert is.
    pub severity: Severity,
    /// The policy's category (e.g. `market-abuse`).
    pub category: String,
    /// The channel the conversation is on (e.g. `whatsapp`).
    pub channel: String,
    /// The conversation's id (never its content).
    pub conversation: String,
    /// When the alert was raised.
    pub raised_at: Timestamp,
    /// The labels of the rules that matched (never the matched text).
    pub hit_labels: Vec<String>,
    /// Where a reviewer opens the alert, when the console URL is known.
    pub console_url: Option<String>,
}

/// What became of one notice at one target, reported once per pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The target accepted the notice.
    Delivered {
        /// The alert's id.
        alert_id: String,
        /// The target's name.
        target: String,
        /// Attempts made, the successful one included.
        attempts: u32,
    },
    /// The target refused the notice for good, or every attempt failed.
    Failed {
        /// The alert's id.
        alert_id: String,
        /// The target's name.
        target: String,
        /// Attempts made (0 if the notice could not even be formatted).
        attempts: u32,
        /// The last attempt's error.
        error: String,
    },
}

impl Outcome {
    /// The alert's id.
    pub fn alert_id(&self) -> &str {
        match self {
            Self::Delivered { alert_id, .. } | Self::Failed { alert_id, .. } => alert_id,
        }
    }

    /// The target's name.
    pub fn target(&self) -> &str {
        match self {
            Self::Delivered { target, .. } | Self::Failed { target, .. } => target,
        }
    }

    /// Attempts made.
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Delivered { attempts, .. } | Self::Failed { attempts, .. } => *attempts,
        }
    }
}

impl AlertNotice {
    /// `HIGH alert: <policy title>`: the one-line summary every target shows.
    pub(crate) fn headline(&self) -> String {
        format!(
            "{} alert: {}",
            self.severity.name().to_ascii_uppercase(),
            self.policy_title
        )
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A notice the formatters' tests share.
    pub(crate) fn notice() -> AlertNotice {
        AlertNotice {
            alert_id: "alert-0001".into(),
            policy: "mar-front-running".into(),
            policy_title: "Front-running <talk> & tips".into(),
            version: 3,
            severity: Severity::High,
            category: "market-abuse".into(),
            channel: "whatsapp".into(),
            conversation: "conv-77".into(),
            raised_at: Timestamp::parse("2026-03-12T14:05:33Z").unwrap(),
            hit_labels: vec!["front-running".into(), "off-channel".into()],
            console_url: Some("https://custos.firm.example/alerts/alert-0001".into()),
        }
    }

    #[test]
    fn headline_names_severity_and_title() {
        assert_eq!(
            notice().headline(),
            "HIGH alert: Front-running <talk> & tips"
        );
    }
}
