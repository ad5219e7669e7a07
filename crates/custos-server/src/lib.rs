//! The HTTP server: the WhatsApp webhook today; the API and console later.
//!
//! Only this crate knows HTTP. [`router`] builds the whole `Router`, so
//! tests can call it without a socket; [`serve`] runs it on a listener.
//! Every handler that writes answers only after the journal has made what
//! it received durable.

mod config;
mod problem;
mod whatsapp;

pub use config::{Config, ConfigError, Secret, WhatsAppConfig};
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
}

/// The server's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/webhooks/whatsapp",
            axum::routing::get(whatsapp::verify).post(whatsapp::receive),
        )
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
