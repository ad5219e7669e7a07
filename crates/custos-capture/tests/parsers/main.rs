//! The capture parsers against their fixtures: one test binary, one module
//! per source.

mod whatsapp_export;
mod whatsapp_webhook;
