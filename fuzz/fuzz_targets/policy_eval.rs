//! The starter library on arbitrary message text: evaluation never panics
//! and every hit lies inside the text on character boundaries.
#![no_main]

use custos_model::{Direction, Timestamp};
use custos_policy::{Document, Engine, parse_policy, starter_library};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// The eight starter policies, compiled together once.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let policies: Vec<_> = starter_library()
            .into_iter()
            .map(|(file, text)| (parse_policy(text, file).expect("starter policy parses"), 1))
            .collect();
        Engine::compile(&policies).expect("starter library compiles")
    })
}

fuzz_target!(|text: &str| {
    let doc = Document {
        channel: "whatsapp",
        direction: Direction::Outbound,
        text,
        attachments: &[],
        // Tuesday 2026-03-03 12:00 UTC.
        sent_at: Timestamp::from_micros(1_772_539_200_000_000),
        units: &[],
        external: true,
        new_external_contact: false,
        edited: false,
        deleted: false,
    };
    for m in engine().evaluate(&doc) {
        for hit in &m.hits {
            assert!(
                hit.start <= hit.end && hit.end <= text.len(),
                "{}: hit {hit:?} outside a text of {} bytes",
                m.policy,
                text.len()
            );
            assert!(
                text.is_char_boundary(hit.start) && text.is_char_boundary(hit.end),
                "{}: hit {hit:?} splits a character of {text:?}",
                m.policy
            );
        }
    }
});
