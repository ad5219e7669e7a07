//! Actiance XML, Global Relay EML or a zip of them.
#![no_main]

use custos_capture::actiance::{self, Options};
use custos_capture::rsmf_import::Limits;
use custos_model::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_entries: 64,
        max_total_bytes: 1 << 20,
        max_events: 10_000,
    };
    let firm = |a: &str| a.ends_with("@firm.example");
    let options = Options {
        channel: "mattermost".into(),
        captured_at: Timestamp::from_micros(0),
        is_firm: &firm,
    };
    let _ = actiance::read("fuzz", data, &options, &limits);
});
