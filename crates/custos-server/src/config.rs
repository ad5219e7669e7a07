//! Server configuration: a TOML file, each value overridable by an
//! environment variable. Secrets are kept in [`Secret`], which never prints.

use serde::Deserialize;
use std::fmt;
use std::path::Path;

/// A secret string: its `Debug` and `Display` show only that it is set.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
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

/// The WhatsApp Business Cloud API settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WhatsAppConfig {
    /// The Meta app secret: the key of `X-Hub-Signature-256`.
    pub app_secret: Secret,
    /// The token Meta echoes when it verifies the webhook.
    pub verify_token: Secret,
    /// The bearer token for Graph API calls (media, sending).
    pub access_token: Secret,
    /// The Graph API base URL.
    pub graph_url: String,
    /// The business phone number id that sends (`POST /{id}/messages`).
    pub phone_number_id: String,
}

/// The Twilio settings (SMS and WhatsApp through Twilio).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwilioConfig {
    /// The account's auth token: the key of `X-Twilio-Signature`, and the
    /// password for media downloads.
    pub auth_token: Secret,
    /// The account sid (`AC...`): the user name for media downloads.
    pub account_sid: String,
    /// The webhook URL exactly as configured in Twilio's console (scheme,
    /// host, port, path): the signature covers it, and proxies in front of
    /// custos change what the server itself sees.
    pub public_url: String,
}

/// The whole configuration file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[whatsapp]`
    pub whatsapp: WhatsAppConfig,
    /// `[notify]`: where alert notifications go.
    #[serde(default)]
    pub notify: custos_notify::NotifyConfig,
    /// `[twilio]`
    #[serde(default)]
    pub twilio: TwilioConfig,
    /// `[consent]`: the firm's own opt-out words.
    #[serde(default)]
    pub consent: ConsentConfig,
    /// `[redaction]`: which personal data each role sees masked.
    #[serde(default)]
    pub redaction: crate::redaction::Redaction,
    /// `[capture]`: enrolment enforcement.
    #[serde(default)]
    pub capture: CaptureConfig,
    /// `[oidc]`: single sign-on (off unless `issuer` is set).
    #[serde(default)]
    pub oidc: crate::oidc::OidcConfig,
    /// `[tls]`: serve HTTPS from this certificate (off unless set).
    #[serde(default)]
    pub tls: Option<crate::tls::TlsConfig>,
    /// `[metrics]`: the Prometheus scraper's token.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// `[state]`: where the SQL state projections live.
    #[serde(default)]
    pub state: StateConfig,
    /// `[inbox]`: the agent inbox's canned responses, disclaimer and
    /// approved templates.
    #[serde(default)]
    pub inbox: crate::inbox::InboxConfig,
    /// `[worm]`: the WORM copy on S3-compatible storage with Object Lock.
    #[serde(default)]
    pub worm: WormConfig,
    /// `[journal]`: cluster mode's database (the embedded journal unless
    /// `url` is set).
    #[serde(default)]
    pub journal: JournalConfig,
}

/// `[state]`.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// The database of the state projections: `postgres://...` (also
    /// `CUSTOS_STATE_URL`; it may carry a password); unset: SQLite at
    /// `DATA/state/state.db`.
    #[serde(default)]
    pub url: Secret,
}

/// `[worm]`: where the WORM copy goes (S3 with Object Lock in compliance
/// mode). Each value also from `CUSTOS_S3_*`; see `docs/admin.md`.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WormConfig {
    /// The bucket (created with Object Lock enabled); `CUSTOS_S3_BUCKET`.
    pub bucket: String,
    /// A key prefix inside the bucket, e.g. `archive-1/`; `CUSTOS_S3_PREFIX`.
    pub prefix: String,
    /// The endpoint URL for S3-compatible stores; empty: AWS for `region`;
    /// `CUSTOS_S3_ENDPOINT`.
    pub endpoint: String,
    /// The region (default `us-east-1`); `CUSTOS_S3_REGION`.
    pub region: String,
    /// Retention of records no rule governs, e.g. `7y` (default `7y`);
    /// `CUSTOS_S3_DEFAULT_RETENTION`.
    pub default_retention: String,
    /// The access key id; `CUSTOS_S3_ACCESS_KEY_ID`.
    pub access_key_id: Secret,
    /// The secret access key; `CUSTOS_S3_SECRET_ACCESS_KEY`.
    pub secret_access_key: Secret,
    /// How often `serve --worm` uploads what is new, in seconds (default
    /// 60); `CUSTOS_S3_SYNC_EVERY`.
    pub sync_every: Option<u64>,
}

/// `[journal]`.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalConfig {
    /// The PostgreSQL database holding the journal (`postgres://...`),
    /// shared by every node; `--journal-url` and `CUSTOS_JOURNAL_URL` win
    /// over it. A secret: it may carry a password.
    #[serde(default)]
    pub url: Secret,
}

/// `[metrics]`.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// The bearer token a scraper must send to `GET /metrics` (also
    /// `CUSTOS_METRICS_TOKEN`); unset: the route answers 404.
    #[serde(default)]
    pub token: Secret,
}

/// `[capture]`.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureConfig {
    /// Refuse to attribute webhook messages to a business number no
    /// enrolled custodian holds (journalled as `capture.refused`, the raw
    /// delivery kept). Off unless set, so an archive upgraded before its
    /// custodians are enrolled loses no attribution.
    #[serde(default)]
    pub require_enrolment: bool,
}

/// `[consent]`.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentConfig {
    /// Words that, as a whole inbound message, withdraw consent, beside
    /// the defaults (STOP, UNSUBSCRIBE, PARAR, SAIR, CANCELAR, BAJA, ...).
    #[serde(default)]
    pub opt_out_keywords: Vec<String>,
    /// Confirm a keyword opt-out to the party where the channel allows
    /// (on unless set to false).
    #[serde(default = "yes")]
    pub confirm_opt_out: bool,
    /// `[consent.confirmation]`: the confirmation text by language code
    /// (`en`, `pt`, `es`, ...), over the defaults.
    #[serde(default)]
    pub confirmation: std::collections::BTreeMap<String, String>,
    /// The language of confirmations for `opt_out_keywords` (default `en`).
    #[serde(default)]
    pub confirmation_language: Option<String>,
}

fn yes() -> bool {
    true
}

impl Default for ConsentConfig {
    fn default() -> ConsentConfig {
        ConsentConfig {
            opt_out_keywords: Vec::new(),
            confirm_opt_out: true,
            confirmation: Default::default(),
            confirmation_language: None,
        }
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong and where.
        message: String,
    },
    /// A value is missing or unusable.
    #[error("{field}: {message}")]
    Invalid {
        /// The setting, as `section.key`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

/// The default Graph API base URL.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.facebook.com/v23.0";

impl Config {
    /// Reads `path` (if given), then applies the environment variables
    /// `CUSTOS_WHATSAPP_APP_SECRET`, `CUSTOS_WHATSAPP_VERIFY_TOKEN`,
    /// `CUSTOS_WHATSAPP_ACCESS_TOKEN`, `CUSTOS_WHATSAPP_GRAPH_URL`,
    /// `CUSTOS_WHATSAPP_PHONE_NUMBER_ID`, `CUSTOS_TWILIO_AUTH_TOKEN`,
    /// `CUSTOS_TWILIO_ACCOUNT_SID`, `CUSTOS_TWILIO_PUBLIC_URL` and
    /// `CUSTOS_OIDC_CLIENT_SECRET`, `CUSTOS_METRICS_TOKEN` and `CUSTOS_STATE_URL` looked up
    /// through `env`, and checks the `[oidc]` and `[inbox]` sections.
    pub fn load(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut config = match path {
            None => Config::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?
            }
        };
        let w = &mut config.whatsapp;
        if let Some(v) = env("CUSTOS_WHATSAPP_APP_SECRET") {
            w.app_secret = Secret::new(v);
        }
        if let Some(v) = env("CUSTOS_WHATSAPP_VERIFY_TOKEN") {
            w.verify_token = Secret::new(v);
        }
        if let Some(v) = env("CUSTOS_WHATSAPP_ACCESS_TOKEN") {
            w.access_token = Secret::new(v);
        }
        if let Some(v) = env("CUSTOS_WHATSAPP_GRAPH_URL") {
            w.graph_url = v;
        }
        if let Some(v) = env("CUSTOS_WHATSAPP_PHONE_NUMBER_ID") {
            w.phone_number_id = v;
        }
        if w.graph_url.is_empty() {
            w.graph_url = DEFAULT_GRAPH_URL.to_string();
        }
        let t = &mut config.twilio;
        if let Some(v) = env("CUSTOS_TWILIO_AUTH_TOKEN") {
            t.auth_token = Secret::new(v);
        }
        if let Some(v) = env("CUSTOS_TWILIO_ACCOUNT_SID") {
            t.account_sid = v;
        }
        if let Some(v) = env("CUSTOS_TWILIO_PUBLIC_URL") {
            t.public_url = v;
        }
        if let Some(v) = env("CUSTOS_OIDC_CLIENT_SECRET") {
            config.oidc.client_secret = Secret::new(v);
        }
        config.oidc.validate()?;
        config.inbox.validate()?;
        if let Some(v) = env("CUSTOS_METRICS_TOKEN") {
            config.metrics.token = Secret::new(v);
        }
        if let Some(v) = env("CUSTOS_STATE_URL") {
            config.state.url = Secret::new(v);
        }
        let s3 = &mut config.worm;
        for (name, field) in [
            ("CUSTOS_S3_BUCKET", &mut s3.bucket),
            ("CUSTOS_S3_PREFIX", &mut s3.prefix),
            ("CUSTOS_S3_ENDPOINT", &mut s3.endpoint),
            ("CUSTOS_S3_REGION", &mut s3.region),
            ("CUSTOS_S3_DEFAULT_RETENTION", &mut s3.default_retention),
        ] {
            if let Some(v) = env(name) {
                *field = v;
            }
        }
        if let Some(v) = env("CUSTOS_S3_ACCESS_KEY_ID") {
            s3.access_key_id = Secret::new(v);
        }
        if let Some(v) = env("CUSTOS_S3_SECRET_ACCESS_KEY") {
            s3.secret_access_key = Secret::new(v);
        }
        if let Some(v) = env("CUSTOS_S3_SYNC_EVERY") {
            s3.sync_every = Some(v.parse().map_err(|_| ConfigError::Invalid {
                field: "worm.sync_every".into(),
                message: format!("expected a number of seconds, got {v:?}"),
            })?);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_values_are_overridden_by_the_environment_and_never_print() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("custos.toml");
        std::fs::write(
            &path,
            "[whatsapp]\napp_secret = \"file-secret\"\nverify_token = \"file-token\"\n",
        )
        .unwrap();
        let env =
            |name: &str| (name == "CUSTOS_WHATSAPP_VERIFY_TOKEN").then(|| "env-token".to_string());
        let config = Config::load(Some(&path), env).unwrap();
        assert_eq!(config.whatsapp.app_secret.expose(), "file-secret");
        assert_eq!(config.whatsapp.verify_token.expose(), "env-token");
        assert_eq!(config.whatsapp.graph_url, DEFAULT_GRAPH_URL);
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("file-secret") && !shown.contains("env-token"),
            "{shown}"
        );
    }

    #[test]
    fn the_twilio_section_reads_from_file_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("custos.toml");
        std::fs::write(
            &path,
            "[twilio]\nauth_token = \"twilio-file-token\"\naccount_sid = \"AC1\"\npublic_url = \"https://archive.example.com/webhooks/twilio\"\n",
        )
        .unwrap();
        let env = |name: &str| (name == "CUSTOS_TWILIO_ACCOUNT_SID").then(|| "AC2".to_string());
        let config = Config::load(Some(&path), env).unwrap();
        assert_eq!(config.twilio.auth_token.expose(), "twilio-file-token");
        assert_eq!(config.twilio.account_sid, "AC2");
        assert_eq!(
            config.twilio.public_url,
            "https://archive.example.com/webhooks/twilio"
        );
        let shown = format!("{config:?}");
        assert!(!shown.contains("twilio-file-token"), "{shown}");
        let env =
            |name: &str| (name == "CUSTOS_TWILIO_AUTH_TOKEN").then(|| "env-token".to_string());
        let config = Config::load(Some(&path), env).unwrap();
        assert_eq!(config.twilio.auth_token.expose(), "env-token");
    }

    #[test]
    fn the_journal_url_reads_from_file_and_never_prints() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("custos.toml");
        std::fs::write(&path, "").unwrap();
        let config = Config::load(Some(&path), |_| None).unwrap();
        assert!(!config.journal.url.is_set(), "embedded unless set");
        std::fs::write(
            &path,
            "[journal]\nurl = \"postgres://custos:pg-password@db/custos\"\n",
        )
        .unwrap();
        let config = Config::load(Some(&path), |_| None).unwrap();
        assert_eq!(
            config.journal.url.expose(),
            "postgres://custos:pg-password@db/custos"
        );
        assert!(!format!("{config:?}").contains("pg-password"));
        std::fs::write(&path, "[journal]\nurls = \"x\"\n").unwrap();
        let err = Config::load(Some(&path), |_| None).unwrap_err();
        assert!(format!("{err:#}").contains("urls"), "{err:#}");
    }

    #[test]
    fn capture_and_consent_sections_read_with_their_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("custos.toml");
        std::fs::write(&path, "[consent]\nopt_out_keywords = [\"chega\"]\n").unwrap();
        let config = Config::load(Some(&path), |_| None).unwrap();
        assert!(!config.capture.require_enrolment, "off unless set");
        assert!(config.consent.confirm_opt_out, "on unless set");
        std::fs::write(
            &path,
            "[capture]\nrequire_enrolment = true\n[consent]\nconfirm_opt_out = false\nconfirmation_language = \"pt\"\n[consent.confirmation]\npt = \"Ok, paramos.\"\n",
        )
        .unwrap();
        let config = Config::load(Some(&path), |_| None).unwrap();
        assert!(config.capture.require_enrolment);
        assert!(!config.consent.confirm_opt_out);
        assert_eq!(config.consent.confirmation["pt"], "Ok, paramos.");
        std::fs::write(&path, "[capture]\nrequire_enrollment = true\n").unwrap();
        let err = Config::load(Some(&path), |_| None).unwrap_err().to_string();
        assert!(err.contains("require_enrollment"), "{err}");
    }

    #[test]
    fn the_oidc_and_tls_sections_read_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("custos.toml");
        std::fs::write(
            &path,
            "[oidc]\nissuer = \"https://idp.example.com\"\nclient_id = \"custos\"\nclient_secret = \"file-oidc\"\nredirect_url = \"https://custos.example.com/signin/oidc/callback\"\nuser_claim = \"preferred_username\"\n[tls]\ncert = \"/etc/custos/cert.pem\"\nkey = \"/etc/custos/key.pem\"\n",
        )
        .unwrap();
        let env =
            |name: &str| (name == "CUSTOS_OIDC_CLIENT_SECRET").then(|| "env-oidc".to_string());
        let config = Config::load(Some(&path), env).unwrap();
        assert!(config.oidc.is_enabled());
        assert_eq!(config.oidc.client_secret.expose(), "env-oidc");
        assert_eq!(
            config.oidc.user_claim,
            crate::oidc::UserClaim::PreferredUsername
        );
        let tls = config.tls.as_ref().unwrap();
        assert_eq!(tls.cert, Path::new("/etc/custos/cert.pem"));
        assert!(!format!("{config:?}").contains("env-oidc"));
        std::fs::write(&path, "[oidc]\nissuer = \"https://idp.example.com\"\n").unwrap();
        let err = Config::load(Some(&path), |_| None).unwrap_err().to_string();
        assert_eq!(err, "oidc.client_id: missing");
        std::fs::write(&path, "[oidc]\nuser_claim = \"sub\"\n").unwrap();
        let err = Config::load(Some(&path), |_| None).unwrap_err().to_string();
        assert!(err.contains("user_claim") || err.contains("sub"), "{err}");
    }

    #[test]
    fn a_bad_file_names_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("custos.toml");
        std::fs::write(&path, "[whatsapp]\napp_secrt = \"x\"\n").unwrap();
        let err = Config::load(Some(&path), |_| None).unwrap_err().to_string();
        assert!(err.contains("app_secrt"), "{err}");
    }

    #[test]
    fn the_metrics_token_comes_from_the_file_or_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("custos.toml");
        std::fs::write(&path, "[metrics]\ntoken = \"from-file\"\n").unwrap();
        let c = Config::load(Some(&path), |_| None).unwrap();
        assert_eq!(c.metrics.token.expose(), "from-file");
        assert_eq!(
            format!("{:?}", c.metrics),
            "MetricsConfig { token: Secret(<redacted>) }"
        );
        let c = Config::load(Some(&path), |n| {
            (n == "CUSTOS_METRICS_TOKEN").then(|| "from-env".to_string())
        })
        .unwrap();
        assert_eq!(c.metrics.token.expose(), "from-env");
        std::fs::write(&path, "[metrics]\ntokn = \"x\"\n").unwrap();
        let e = Config::load(Some(&path), |_| None).unwrap_err().to_string();
        assert!(e.contains("tokn"), "{e}");
    }

    #[test]
    fn the_worm_section_reads_from_the_file_and_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("custos.toml");
        std::fs::write(
            &path,
            "[worm]\nbucket = \"b\"\nregion = \"eu-west-2\"\nsecret_access_key = \"from-file\"\n",
        )
        .unwrap();
        let env = |n: &str| match n {
            "CUSTOS_S3_ACCESS_KEY_ID" => Some("AKIA-ENV".to_string()),
            "CUSTOS_S3_ENDPOINT" => Some("http://127.0.0.1:9".to_string()),
            "CUSTOS_S3_SYNC_EVERY" => Some("30".to_string()),
            _ => None,
        };
        let c = Config::load(Some(&path), env).unwrap();
        assert_eq!(c.worm.bucket, "b");
        assert_eq!(c.worm.region, "eu-west-2");
        assert_eq!(c.worm.endpoint, "http://127.0.0.1:9");
        assert_eq!(c.worm.access_key_id.expose(), "AKIA-ENV");
        assert_eq!(c.worm.secret_access_key.expose(), "from-file");
        assert_eq!(c.worm.sync_every, Some(30));
        let shown = format!("{:?}", c.worm);
        assert!(
            !shown.contains("from-file") && !shown.contains("AKIA-ENV"),
            "{shown}"
        );
        let bad = |n: &str| (n == "CUSTOS_S3_SYNC_EVERY").then(|| "soon".to_string());
        let e = Config::load(None, bad).unwrap_err().to_string();
        assert!(e.contains("worm.sync_every"), "{e}");
    }
}
