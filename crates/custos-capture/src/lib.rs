//! Capture: turning what sources deliver into canonical events.
//!
//! One module per source. Each parses outside input without I/O of its own
//! into [`custos_model`] events, reporting bad input with its place (line,
//! field), and hands them to the journal, which acknowledges only what is
//! durable.
//!
//! - [`jsonl`]: the generic JSON-lines message format of `custos ingest`.
//! - [`whatsapp_webhook`]: WhatsApp Business Cloud API webhook payloads.
//! - [`whatsapp_export`]: the chat exports of the WhatsApp phone apps.
//! - [`email`], [`slack`], [`teams`], [`rsmf_import`], [`actiance`]: the other
//!   channels and archives (issue: every other channel).

pub mod actiance;
pub mod email;
pub mod jsonl;
pub mod rsmf_import;
pub mod slack;
pub mod teams;
pub mod twilio;
pub mod whatsapp_export;
pub mod whatsapp_webhook;
