//! RSMF import: a whole `.rsmf` file, or a manifest mapped to events.
#![no_main]

use custos_capture::rsmf_import::{self, Limits, Options, RsmfFile};
use custos_model::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_entries: 64,
        max_total_bytes: 1 << 20,
        max_events: 10_000,
    };
    let firm = |a: &str| a.starts_with('+');
    let options = Options {
        source_name: "fuzz.rsmf".into(),
        captured_at: Timestamp::from_micros(0),
        is_firm: &firm,
    };
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Ok(file) = rsmf_import::read(rest, &limits) {
            let _ = rsmf_import::events(&file, &options, &limits);
        }
    } else if let Ok(manifest) = rsmf_import::parse_manifest(rest) {
        let file = RsmfFile {
            version: "2.0.0".into(),
            collection_header: None,
            begin: None,
            manifest,
            files: [("a.png".to_string(), vec![1u8])].into_iter().collect(),
        };
        let _ = rsmf_import::events(&file, &options, &limits);
    }
});
