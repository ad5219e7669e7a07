//! A Twilio webhook body: form decoding, parsing and the signing string.
#![no_main]

use custos_capture::twilio;
use custos_model::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Ok(params) = twilio::form_params(body) {
        let _ = twilio::signing_string("https://archive.example.com/webhooks/twilio", &params);
        if let Ok(parsed) = twilio::parse(&params, body, Timestamp::from_micros(0)) {
            assert!(parsed.events.len() <= 1);
            assert!(parsed.media.len() <= twilio::MAX_MEDIA);
        }
    }
});
