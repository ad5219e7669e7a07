//! One line of the JSON-lines format of `custos ingest`.
#![no_main]

use custos_capture::jsonl;
use custos_model::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = jsonl::parse_line(text, 1, Timestamp::from_micros(0));
});
