//! Twilio webhooks (SMS and WhatsApp through Twilio): inbound message and status-callback form parameters into canonical events.
