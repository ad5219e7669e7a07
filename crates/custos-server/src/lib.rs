//! The HTTP server: the WhatsApp webhook, sending, the alert and policy API;
//! the web console ([`console`]).
//!
//! Only this crate knows HTTP. [`router`] builds the whole `Router`, so
//! tests can call it without a socket; [`serve`] runs it on a listener.
//! Every handler that writes answers only after the journal has made what
//! it received durable.

mod config;
pub mod console;
pub mod exports;
pub mod media;
pub mod outbound;
mod problem;
pub mod redaction;
pub mod search;
mod search_api;
pub mod smtp;
pub mod supervision;
pub mod twilio;
mod whatsapp;

pub use config::{Config, ConfigError, ConsentConfig, Secret, WhatsAppConfig};
pub use problem::Problem;

use axum::Router;
use custos_journal::Journal;
use std::sync::Arc;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The archive.
    pub journal: Journal,
    /// The WhatsApp Cloud API settings.
    pub whatsapp: Arc<WhatsAppConfig>,
    /// Where media downloads are queued.
    pub media: media::MediaQueue,
    /// Consent and last contact per party, for the sending rules.
    pub parties: outbound::SharedParties,
    /// The pre-send policy seam.
    pub pre_send: Arc<dyn outbound::PreSendCheck>,
    /// The client for Graph API calls.
    pub http: reqwest::Client,
    /// Policy evaluation, alerts and review; `None` runs without.
    pub supervision: Option<supervision::Supervision>,
    /// The search index kept current; `None` runs without search.
    pub search: Option<search::SearchService>,
    /// The Twilio webhook (disabled until set with [`twilio::Twilio::open`]).
    pub twilio: Arc<twilio::Twilio>,
    /// The web console's projection of the journal.
    pub console: console::Console,
    /// What each role sees masked (`[redaction]`).
    pub redaction: Arc<redaction::Redaction>,
}

impl AppState {
    /// State over `journal`, reading what the sending rules need from it
    /// (blocking: call before serving, or from a blocking thread).
    pub fn new(
        journal: Journal,
        whatsapp: WhatsAppConfig,
        media: media::MediaQueue,
    ) -> custos_journal::Result<AppState> {
        let parties = outbound::Parties::from_journal(&journal)?;
        Ok(AppState {
            journal,
            whatsapp: Arc::new(whatsapp),
            media,
            parties: Arc::new(std::sync::RwLock::new(parties)),
            pre_send: Arc::new(outbound::AllowAll),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .expect("an HTTP client with default settings"),
            supervision: None,
            search: None,
            twilio: Arc::new(twilio::Twilio::disabled()),
            console: console::Console::default(),
            redaction: Arc::default(),
        })
    }

    /// The same state with search (the index kept current by `search`).
    pub fn with_search(mut self, search: search::SearchService) -> AppState {
        self.search = Some(search);
        self
    }

    /// Turns supervision on: evaluation after every commit, the alert and
    /// policy API, and pre-send blocking by the active policies.
    pub fn with_supervision(mut self, supervision: supervision::Supervision) -> AppState {
        self.pre_send = Arc::new(supervision::PolicyPreSend::new(supervision.shared_engine()));
        self.supervision = Some(supervision);
        self
    }
}

/// The server's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/webhooks/whatsapp",
            axum::routing::get(whatsapp::verify).post(whatsapp::receive),
        )
        .route("/webhooks/twilio", axum::routing::post(twilio::receive))
        .route(
            "/api/v1/whatsapp/messages",
            axum::routing::post(outbound::send_handler),
        )
        .route(
            "/api/v1/alerts",
            axum::routing::get(supervision::list_alerts),
        )
        .route(
            "/api/v1/alerts/{id}",
            axum::routing::get(supervision::get_alert),
        )
        .route(
            "/api/v1/alerts/{id}/actions",
            axum::routing::post(supervision::act_on_alert),
        )
        .route("/api/v1/search", axum::routing::get(search_api::search))
        .route(
            "/api/v1/exports",
            axum::routing::post(search_api::create_export),
        )
        .route(
            "/api/v1/messages/{seq}",
            axum::routing::get(search_api::open_message),
        )
        .route(
            "/api/v1/policies",
            axum::routing::get(supervision::list_policies).post(supervision::load_policy),
        )
        .merge(console::routes())
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
