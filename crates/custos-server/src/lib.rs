//! The HTTP server: the WhatsApp webhook, sending, the alert and policy API;
//! the web console ([`console`]).
//!
//! Only this crate knows HTTP. [`router`] builds the whole `Router`, so
//! tests can call it without a socket; [`serve`] runs it on a listener.
//! Every handler that writes answers only after the journal has made what
//! it received durable.

mod audit_api;
pub mod auth;
pub mod barrier;
mod config;
pub mod confirm;
pub mod consent_api;
pub mod console;
pub mod enrolment;
pub mod exports;
pub mod follow;
pub mod inbox;
pub mod media;
pub mod multipart;
pub mod oidc;
pub mod openapi;
pub mod ops;
pub mod outbound;
mod paging;
mod problem;
pub mod records_api;
pub mod redaction;
pub mod request_log;
pub mod search;
mod search_api;
pub mod smtp;
pub mod store;
pub mod supervision;
pub mod tls;
pub mod twilio;
mod whatsapp;

pub use config::{
    CaptureConfig, Config, ConfigError, ConsentConfig, MetricsConfig, Secret, StateConfig,
    WhatsAppConfig, WormConfig,
};
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
    /// Enrolment enforcement at capture (off by default).
    pub enrolment: Arc<enrolment::Enrolment>,
    /// Opt-out confirmations (off until configured).
    pub confirmations: Arc<confirm::Confirmations>,
    /// Users, sessions and tokens (none until [`AppState::with_auth`]:
    /// every `/api/v1` request is then refused).
    pub auth: custos_auth::Auth,
    /// Whether session cookies are marked `Secure` (served over TLS).
    pub secure_cookies: bool,
    /// What each role sees masked (`[redaction]`).
    pub redaction: Arc<redaction::Redaction>,
    /// Single sign-on through an OpenID Connect provider (`None`: off).
    pub oidc: Option<Arc<oidc::Oidc>>,
    /// The counters behind `/metrics` and its scraper token.
    pub metrics: Arc<ops::Metrics>,
    /// The SQL state projection (alert queue, custodians) kept current;
    /// `None`: lists are folded in memory.
    pub store: Option<store::StoreService>,
    /// The agent inbox's canned responses, disclaimer and templates.
    pub inbox: Arc<inbox::InboxConfig>,
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
            journal: journal.clone(),
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
            enrolment: Arc::new(enrolment::Enrolment::off()),
            confirmations: Arc::new(confirm::Confirmations::off()),
            auth: custos_auth::Auth::with_users(
                journal.clone(),
                Default::default(),
                Default::default(),
            ),
            secure_cookies: false,
            redaction: Arc::default(),
            oidc: None,
            metrics: Arc::new(ops::Metrics::new(None)),
            store: None,
            inbox: Arc::default(),
        })
    }

    /// The same state with search (the index kept current by `search`).
    pub fn with_search(mut self, search: search::SearchService) -> AppState {
        self.search = Some(search);
        self
    }

    /// The same state with lists read from the SQL state projection.
    pub fn with_store(mut self, store: store::StoreService) -> AppState {
        self.store = Some(store);
        self
    }

    /// The same state with `/metrics` served to a scraper bearing `token`.
    pub fn with_metrics_token(mut self, token: Secret) -> AppState {
        self.metrics = Arc::new(ops::Metrics::new(Some(token)));
        self
    }

    /// The same state with these users and tokens able to sign in.
    pub fn with_auth(mut self, auth: custos_auth::Auth) -> AppState {
        self.auth = auth;
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

/// The server's routes. Webhooks are authenticated by their signatures;
/// every `/api/v1` route by [`auth::require`] (a principal with the
/// route's permission).
pub fn router(state: AppState) -> Router {
    use axum::routing::{get, post};
    // Every /api/v1 route is registered in `openapi::api`, with its
    // documentation; only there.
    let api = openapi::api(state.clone());
    // The console: every page needs a signed-in principal (else a redirect
    // to /signin), and every unsafe request its CSRF token.
    let console = console::routes().route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::signed_in,
    ));
    Router::new()
        .route(
            "/webhooks/whatsapp",
            get(whatsapp::verify).post(whatsapp::receive),
        )
        .route("/webhooks/twilio", post(twilio::receive))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::count_webhooks,
        ))
        .merge(console::public_routes())
        .route("/signin", get(auth::signin_page).post(auth::signin))
        .route("/signout", post(auth::signout))
        .route("/signin/oidc", get(oidc::start))
        .route("/signin/oidc/callback", get(oidc::callback))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(api)
        .merge(console)
        .layer(axum::middleware::from_fn(request_log::log))
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer address is what sign-in throttling counts per client.
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
