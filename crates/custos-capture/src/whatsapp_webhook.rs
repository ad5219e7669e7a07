//! WhatsApp Cloud API webhooks (being written).
