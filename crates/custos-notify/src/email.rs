//! E-mail over SMTP (lettre): a plain-text message to fixed recipients.
//!
//! The subject is `[custos] HIGH alert: <policy title>`; the body lists the
//! alert's labels and ids, one per line. SMTP 5xx replies are final, 4xx and
//! connection failures are retried.

use crate::config::EmailTarget;
use crate::notice::AlertNotice;
use crate::retry::AttemptError;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;

/// A ready SMTP target: the transport and the parsed addresses.
pub(crate) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl Mailer {
    /// Builds the transport for `config`, already validated. `timeout`
    /// bounds each SMTP command.
    pub fn new(config: &EmailTarget, timeout: Duration) -> Result<Self, String> {
        let builder = if config.starttls {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.smtp_host)
                .map_err(|e| format!("starttls: {e}"))?
        } else {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.smtp_host)
        };
        let mut builder = builder.port(config.smtp_port).timeout(Some(timeout));
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        let from = config.from.parse().map_err(|e| format!("from: {e}"))?;
        let mut to = Vec::new();
        for address in &config.to {
            to.push(address.parse().map_err(|e| format!("to: {e}"))?);
        }
        Ok(Self {
            transport: builder.build(),
            from,
            to,
        })
    }

    /// The message for one notice.
    pub fn message(&self, notice: &AlertNotice) -> Result<Message, AttemptError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject(notice))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder
            .body(body(notice))
            .map_err(|e| AttemptError::permanent(format!("cannot build the e-mail: {e}")))
    }

    /// Sends `message` once.
    pub async fn send(&self, message: &Message) -> Result<(), AttemptError> {
        match self.transport.send(message.clone()).await {
            Ok(_) => Ok(()),
            Err(err) if err.is_permanent() || err.is_client() => {
                Err(AttemptError::permanent(format!("smtp: {err}")))
            }
            Err(err) => Err(AttemptError::transient(format!("smtp: {err}"))),
        }
    }
}

/// `[custos] HIGH alert: <policy title>`.
pub(crate) fn subject(notice: &AlertNotice) -> String {
    format!("[custos] {}", notice.headline())
}

/// The plain-text body: labels and ids, never content.
pub(crate) fn body(notice: &AlertNotice) -> String {
    let mut text = format!(
        "{}\n\n\
         Alert:        {}\n\
         Severity:     {}\n\
         Policy:       {} ({} v{})\n\
         Category:     {}\n\
         Channel:      {}\n\
         Conversation: {}\n\
         Raised at:    {}\n\
         Matched:      {}\n",
        notice.headline(),
        notice.alert_id,
        notice.severity,
        notice.policy_title,
        notice.policy,
        notice.version,
        notice.category,
        notice.channel,
        notice.conversation,
        notice.raised_at,
        if notice.hit_labels.is_empty() {
            "-".to_string()
        } else {
            notice.hit_labels.join(", ")
        },
    );
    if let Some(url) = &notice.console_url {
        text.push_str(&format!("\nReview it at {url}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notice::tests::notice;

    #[test]
    fn subject_and_body_name_the_alert() {
        assert_eq!(
            subject(&notice()),
            "[custos] HIGH alert: Front-running <talk> & tips"
        );
        let body = body(&notice());
        assert!(body.contains("Alert:        alert-0001\n"), "{body}");
        assert!(
            body.contains("Policy:       Front-running <talk> & tips (mar-front-running v3)\n"),
            "{body}"
        );
        assert!(
            body.contains("Matched:      front-running, off-channel\n"),
            "{body}"
        );
        assert!(
            body.ends_with("Review it at https://custos.firm.example/alerts/alert-0001\n"),
            "{body}"
        );
    }
}
