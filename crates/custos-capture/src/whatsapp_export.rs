//! WhatsApp chat exports (being written).
