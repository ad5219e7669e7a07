//! Policy files: parsing arbitrary text never panics, and a policy that
//! parses compiles alone (or is refused with an error) and evaluates on a
//! fixed message and on its own text with every hit inside the text and on
//! character boundaries.
#![no_main]

use custos_model::{Direction, Timestamp};
use custos_policy::{AttachmentInfo, Document, Engine, PolicyMatch, parse_policy};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

/// A short message touching terms, detectors and non-ASCII folding.
const FIXED: &str = "Garantía de retorno! Card 4111 1111 1111 1111 06/27, \
    CPF 529.982.247-25, ligue +55 11 94495-4230, ana@example.com, \
    IBAN GB82 WEST 1234 5698 7654 32. Straße, İstanbul, ﬁnal.";

static ATTACHMENTS: LazyLock<Vec<AttachmentInfo>> = LazyLock::new(|| {
    vec![AttachmentInfo {
        media_type: "application/pdf".into(),
        size: 120_000,
    }]
});

static UNITS: LazyLock<Vec<String>> = LazyLock::new(|| vec!["equities".into()]);

fn document(text: &str) -> Document<'_> {
    Document {
        channel: "whatsapp",
        direction: Direction::Outbound,
        text,
        attachments: &ATTACHMENTS,
        // Tuesday 2026-03-03 22:30 UTC: outside most business hours.
        sent_at: Timestamp::from_micros(1_772_577_000_000_000),
        units: &UNITS,
        external: true,
        new_external_contact: true,
        edited: false,
        deleted: false,
    }
}

/// Every hit of every match lies inside `text` on character boundaries.
fn check(matches: &[PolicyMatch], text: &str) {
    for m in matches {
        for hit in &m.hits {
            assert!(
                hit.start <= hit.end && hit.end <= text.len(),
                "hit {hit:?} outside a text of {} bytes",
                text.len()
            );
            assert!(
                text.is_char_boundary(hit.start) && text.is_char_boundary(hit.end),
                "hit {hit:?} splits a character of {text:?}"
            );
        }
    }
}

fuzz_target!(|text: &str| {
    let Ok(policy) = parse_policy(text, "fuzz") else {
        return;
    };
    let Ok(engine) = Engine::compile(&[(policy, 1)]) else {
        return;
    };
    check(&engine.evaluate(&document(FIXED)), FIXED);
    check(&engine.evaluate(&document(text)), text);
});
