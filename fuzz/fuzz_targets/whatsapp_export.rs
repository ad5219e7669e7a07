//! WhatsApp chat exports: the chat text under every date order (and
//! inference), and the zip archive the phone shares.
#![no_main]

use custos_capture::whatsapp_export::{self, DateOrder, ExportOptions};
use custos_model::Timestamp;
use jiff::tz::TimeZone;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

/// One set of options per date order, and one inferring it. A zone with
/// daylight saving time, so that gaps and folds are reachable.
static OPTIONS: LazyLock<Vec<ExportOptions>> = LazyLock::new(|| {
    let tz = TimeZone::get("Europe/Berlin").expect("bundled tzdb");
    [
        None,
        Some(DateOrder::Dmy),
        Some(DateOrder::Mdy),
        Some(DateOrder::Ymd),
    ]
    .into_iter()
    .map(|date_order| ExportOptions {
        custodian_phone: "+4915112345678".into(),
        custodian_names: vec!["Ana Souza".into()],
        tz: tz.clone(),
        date_order,
        source_name: "WhatsApp Chat with Bruno Lima.txt".into(),
    })
    .collect()
});

fn parse_all(text: &str) {
    for options in OPTIONS.iter() {
        let _ = whatsapp_export::parse(text, options, Timestamp::from_micros(0));
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        parse_all(text);
    }
    if let Ok(archive) = whatsapp_export::read_zip(data) {
        parse_all(&archive.chat_text);
    }
});
