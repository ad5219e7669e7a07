//! The Twilio webhook (`/webhooks/twilio`): `X-Twilio-Signature` checked, inbound SMS/WhatsApp messages with media and status callbacks journalled, acknowledged only once durable.
