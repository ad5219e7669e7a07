//! Microsoft Graph chatMessage input (arrays, pages, JSON lines), and the
//! HTML-to-text and base64 helpers on the same bytes.
#![no_main]

use custos_capture::teams::{self, TeamsOptions};
use custos_model::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = TeamsOptions {
        firm_domains: vec!["firm.example".into()],
        firm_tenants: vec!["t1".into()],
        captured_at: Timestamp::from_micros(0),
    };
    let _ = teams::parse_documents(&[("in.json".to_string(), data.to_vec())], &options);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = teams::html_to_text(text);
        let _ = teams::base64_decode(text);
    }
});
