//! WhatsApp Business Cloud API webhook bodies, as the server receives them.
#![no_main]

use custos_capture::whatsapp_webhook;
use custos_model::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = whatsapp_webhook::parse(data, Timestamp::from_micros(0));
});
