//! The `[notify]` configuration: where alerts go, from which severity, and
//! how failed deliveries are retried. Secrets live in [`Secret`], whose
//! `Debug` never shows them.

use custos_model::Severity;
use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;

/// Where PagerDuty's Events API v2 takes events, unless a target says otherwise.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// The `[notify]` section of the server configuration.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// `[[notify.targets]]`: where alerts are sent.
    #[serde(default)]
    pub targets: Vec<TargetConfig>,
    /// `[notify.retry]`: how failed deliveries are retried.
    #[serde(default)]
    pub retry: RetryPolicy,
}

/// How a failed delivery is retried: exponential back-off with jitter.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// The wait before the second attempt; it doubles after each failure.
    pub first_delay_ms: u64,
    /// The longest wait between two attempts.
    pub max_delay_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            first_delay_ms: 500,
            max_delay_ms: 300_000,
        }
    }
}

/// One notification target, chosen by its `kind`.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TargetConfig {
    /// `kind = "webhook"`: a signed JSON POST to any HTTPS endpoint.
    Webhook(WebhookTarget),
    /// `kind = "slack"`: a Slack incoming webhook.
    Slack(SlackTarget),
    /// `kind = "pagerduty"`: PagerDuty Events API v2.
    #[serde(rename = "pagerduty")]
    PagerDuty(PagerDutyTarget),
    /// `kind = "email"`: plain-text e-mail over SMTP.
    Email(EmailTarget),
}

impl TargetConfig {
    /// The target's unique label, used in logs and outcomes.
    pub fn name(&self) -> &str {
        match self {
            Self::Webhook(t) => &t.name,
            Self::Slack(t) => &t.name,
            Self::PagerDuty(t) => &t.name,
            Self::Email(t) => &t.name,
        }
    }

    /// The least severe alert the target receives.
    pub fn min_severity(&self) -> Severity {
        match self {
            Self::Webhook(t) => t.min_severity,
            Self::Slack(t) => t.min_severity,
            Self::PagerDuty(t) => t.min_severity,
            Self::Email(t) => t.min_severity,
        }
    }

    /// The `kind` as written in the configuration.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Webhook(_) => "webhook",
            Self::Slack(_) => "slack",
            Self::PagerDuty(_) => "pagerduty",
            Self::Email(_) => "email",
        }
    }
}

/// A generic webhook: the alert as JSON, signed with HMAC-SHA256.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTarget {
    /// Unique label for logs and outcomes.
    pub name: String,
    /// The least severe alert sent here.
    pub min_severity: Severity,
    /// Where the POST goes (`http` or `https`).
    pub url: String,
    /// The key of `X-Custos-Signature-256`.
    pub secret: Secret,
}

/// A Slack incoming webhook.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackTarget {
    /// Unique label for logs and outcomes.
    pub name: String,
    /// The least severe alert sent here.
    pub min_severity: Severity,
    /// The incoming-webhook URL. Slack's URL is itself the credential, so it
    /// is kept as a secret.
    pub url: Secret,
}

/// PagerDuty Events API v2.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyTarget {
    /// Unique label for logs and outcomes.
    pub name: String,
    /// The least severe alert sent here.
    pub min_severity: Severity,
    /// The events endpoint; PagerDuty's own unless set.
    #[serde(default = "default_pagerduty_url")]
    pub url: String,
    /// The integration key of the service to page.
    pub routing_key: Secret,
}

fn default_pagerduty_url() -> String {
    PAGERDUTY_EVENTS_URL.to_string()
}

/// E-mail over SMTP.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailTarget {
    /// Unique label for logs and outcomes.
    pub name: String,
    /// The least severe alert sent here.
    pub min_severity: Severity,
    /// The SMTP relay's host name or address.
    pub smtp_host: String,
    /// The relay's port.
    #[serde(default = "default_smtp_port")]
    pub smtp_port: u16,
    /// Whether to require STARTTLS (the relay's certificate is verified).
    #[serde(default)]
    pub starttls: bool,
    /// The user to authenticate as; with `password`, or not at all.
    #[serde(default)]
    pub username: Option<String>,
    /// The password for `username`.
    #[serde(default)]
    pub password: Option<Secret>,
    /// The sender, `custos@firm.example` or `Custos <custos@firm.example>`.
    pub from: String,
    /// The recipients (at least one).
    pub to: Vec<String>,
}

fn default_smtp_port() -> u16 {
    25
}

/// A secret string: its `Debug` shows only whether it is set.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether a value was configured.
    pub fn is_set(&self) -> bool {
        !self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_set() {
            "Secret(<redacted>)"
        } else {
            "Secret(<unset>)"
        })
    }
}

/// Why the notifier cannot start.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A target's setting is missing or wrong.
    #[error("notify target {target:?} ({index}): {field}: {reason}")]
    Target {
        /// The target's position in `[[notify.targets]]`, from 0.
        index: usize,
        /// The target's name.
        target: String,
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A `[notify.retry]` setting is wrong.
    #[error("notify retry: {field}: {reason}")]
    Retry {
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// `Notifier::start` was called outside a tokio runtime.
    #[error("the notifier must be started inside a tokio runtime")]
    NoRuntime,
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
}

impl NotifyConfig {
    /// Checks every setting and names the first that is wrong.
    pub fn validate(&self) -> Result<(), NotifyError> {
        self.retry.validate()?;
        let mut names = HashSet::new();
        for (index, target) in self.targets.iter().enumerate() {
            let fail = |field: &'static str, reason: &str| NotifyError::Target {
                index,
                target: target.name().to_string(),
                field,
                reason: reason.to_string(),
            };
            if target.name().trim().is_empty() {
                return Err(fail("name", "must not be empty"));
            }
            if !names.insert(target.name()) {
                return Err(fail("name", "another target has the same name"));
            }
            match target {
                TargetConfig::Webhook(t) => {
                    check_url(&t.url).map_err(|r| fail("url", &r))?;
                    if !t.secret.is_set() {
                        return Err(fail(
                            "secret",
                            "must be set: receivers verify the signature",
                        ));
                    }
                }
                TargetConfig::Slack(t) => {
                    check_url(t.url.expose()).map_err(|r| fail("url", &r))?;
                }
                TargetConfig::PagerDuty(t) => {
                    check_url(&t.url).map_err(|r| fail("url", &r))?;
                    if !t.routing_key.is_set() {
                        return Err(fail("routing_key", "must be set"));
                    }
                }
                TargetConfig::Email(t) => check_email(t).map_err(|(f, r)| fail(f, &r))?,
            }
        }
        Ok(())
    }
}

impl RetryPolicy {
    fn validate(&self) -> Result<(), NotifyError> {
        let fail = |field, reason: &str| NotifyError::Retry {
            field,
            reason: reason.to_string(),
        };
        if self.max_attempts == 0 {
            return Err(fail("max_attempts", "must be at least 1"));
        }
        if self.first_delay_ms > self.max_delay_ms {
            return Err(fail("first_delay_ms", "must not exceed max_delay_ms"));
        }
        Ok(())
    }
}

fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    match parsed.scheme() {
        "http" | "https" if parsed.host().is_some() => Ok(()),
        "http" | "https" => Err("has no host".to_string()),
        other => Err(format!("scheme {other:?}: expected http or https")),
    }
}

fn check_email(t: &EmailTarget) -> Result<(), (&'static str, String)> {
    if t.smtp_host.trim().is_empty() {
        return Err(("smtp_host", "must not be empty".to_string()));
    }
    if t.smtp_port == 0 {
        return Err(("smtp_port", "must not be 0".to_string()));
    }
    t.from
        .parse::<lettre::message::Mailbox>()
        .map_err(|e| ("from", format!("{:?} is not an address: {e}", t.from)))?;
    if t.to.is_empty() {
        return Err(("to", "needs at least one recipient".to_string()));
    }
    for to in &t.to {
        to.parse::<lettre::message::Mailbox>()
            .map_err(|e| ("to", format!("{to:?} is not an address: {e}")))?;
    }
    match (&t.username, &t.password) {
        (Some(_), None) => {
            return Err(("password", "username is set but not password".to_string()));
        }
        (None, Some(_)) => {
            return Err(("username", "password is set but not username".to_string()));
        }
        (Some(_), Some(_)) if !t.starttls && !is_loopback(&t.smtp_host) => {
            return Err((
                "starttls",
                "must be true when credentials are set: the password would cross the network in clear"
                    .to_string(),
            ));
        }
        _ => {}
    }
    Ok(())
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> NotifyConfig {
        toml::from_str(text).unwrap()
    }

    const ALL_KINDS: &str = r#"
        [[targets]]
        kind = "webhook"
        name = "siem"
        min_severity = "high"
        url = "https://siem.example/hooks/custos"
        secret = "webhook-secret-value"

        [[targets]]
        kind = "slack"
        name = "chat"
        min_severity = "medium"
        url = "https://hooks.slack.com/services/T0/B0/slack-token-value"

        [[targets]]
        kind = "pagerduty"
        name = "pager"
        min_severity = "critical"
        routing_key = "routing-key-value"

        [[targets]]
        kind = "email"
        name = "mail"
        min_severity = "low"
        smtp_host = "127.0.0.1"
        username = "custos"
        password = "smtp-password-value"
        from = "custos@firm.example"
        to = ["compliance@firm.example"]

        [retry]
        max_attempts = 3
    "#;

    #[test]
    fn reads_every_kind_with_defaults() {
        let config = parse(ALL_KINDS);
        config.validate().unwrap();
        let kinds: Vec<_> = config
            .targets
            .iter()
            .map(|t| (t.kind(), t.name()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("webhook", "siem"),
                ("slack", "chat"),
                ("pagerduty", "pager"),
                ("email", "mail")
            ]
        );
        assert_eq!(config.targets[2].min_severity(), Severity::Critical);
        let TargetConfig::PagerDuty(pager) = &config.targets[2] else {
            panic!("not pagerduty")
        };
        assert_eq!(pager.url, PAGERDUTY_EVENTS_URL);
        let TargetConfig::Email(mail) = &config.targets[3] else {
            panic!("not email")
        };
        assert_eq!((mail.smtp_port, mail.starttls), (25, false));
        assert_eq!(
            config.retry,
            RetryPolicy {
                max_attempts: 3,
                first_delay_ms: 500,
                max_delay_ms: 300_000
            }
        );
        assert_eq!(parse("").retry, RetryPolicy::default());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let shown = format!("{:?}", parse(ALL_KINDS));
        for secret in [
            "webhook-secret-value",
            "slack-token-value",
            "routing-key-value",
            "smtp-password-value",
        ] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
        assert!(shown.contains("Secret(<redacted>)"));
    }

    #[test]
    fn unknown_kinds_and_fields_are_refused() {
        let unknown_kind = "[[targets]]\nkind = \"fax\"\nname = \"x\"\nmin_severity = \"low\"\n";
        assert!(toml::from_str::<NotifyConfig>(unknown_kind).is_err());
        let typo = "[[targets]]\nkind = \"webhook\"\nname = \"x\"\nmin_severity = \"low\"\n\
                    url = \"https://a.example\"\nsecret = \"s\"\nsecert = \"s\"\n";
        let err = toml::from_str::<NotifyConfig>(typo)
            .unwrap_err()
            .to_string();
        assert!(err.contains("secert"), "{err}");
    }

    /// Validates `ALL_KINDS` with `edit` applied and returns the error text.
    fn invalid(edit: impl FnOnce(&mut NotifyConfig)) -> String {
        let mut config = parse(ALL_KINDS);
        edit(&mut config);
        config.validate().unwrap_err().to_string()
    }

    #[test]
    fn validation_names_the_target_and_field() {
        let err = invalid(|c| c.targets.push(c.targets[0].clone()));
        assert!(err.contains("\"siem\" (4): name"), "{err}");
        let err = invalid(|c| {
            if let TargetConfig::Webhook(t) = &mut c.targets[0] {
                t.url = "ftp://siem.example".into();
            }
        });
        assert!(err.contains("\"siem\" (0): url: scheme \"ftp\""), "{err}");
        let err = invalid(|c| {
            if let TargetConfig::Webhook(t) = &mut c.targets[0] {
                t.secret = Secret::default();
            }
        });
        assert!(err.contains("secret: must be set"), "{err}");
        let err = invalid(|c| {
            if let TargetConfig::PagerDuty(t) = &mut c.targets[2] {
                t.routing_key = Secret::default();
            }
        });
        assert!(err.contains("\"pager\" (2): routing_key"), "{err}");
        let err = invalid(|c| {
            if let TargetConfig::Email(t) = &mut c.targets[3] {
                t.to = vec!["not an address".into()];
            }
        });
        assert!(
            err.contains("\"mail\" (3): to: \"not an address\""),
            "{err}"
        );
        let err = invalid(|c| {
            if let TargetConfig::Email(t) = &mut c.targets[3] {
                t.smtp_host = "smtp.firm.example".into();
            }
        });
        assert!(err.contains("starttls: must be true"), "{err}");
        let err = invalid(|c| c.retry.max_attempts = 0);
        assert!(err.contains("max_attempts"), "{err}");
    }
}
