//! Golden tests: the binary encoding of one event of each kind is pinned to
//! the bytes in `tests/golden/*.hex`. A failure here means archived bytes
//! would change: bump the encoding version instead. To write the files for
//! a deliberate new version, run with `CUSTOS_BLESS=1`.

use custos_model::*;
use std::path::PathBuf;

fn t(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

fn d(seed: &str) -> Digest {
    Digest::of(seed.as_bytes())
}

fn fixtures() -> Vec<(&'static str, Event)> {
    let mut extra = serde_json::Map::new();
    extra.insert("desk".into(), "fx-london".into());
    extra.insert("business_unit".into(), serde_json::json!({"id": 7}));
    vec![
        (
            "message",
            Event::Message(Message {
                channel: "whatsapp".into(),
                source_id: "wamid.HBgLNDQ3NzAwOTAwMDAxFQIAERgS".into(),
                conversation: "c-1".into(),
                sender: "+447700900001".into(),
                recipients: vec!["+5511988887777".into()],
                direction: Direction::Outbound,
                sent_at: t("2026-03-12T14:05:33Z"),
                captured_at: t("2026-03-12T14:05:34.125Z"),
                text: Some("Olá! A ação está garantida? 👍".into()),
                attachments: vec![Attachment {
                    name: Some("a.pdf".into()),
                    media_type: "application/pdf".into(),
                    sha256: d("a.pdf"),
                    size: 1234,
                }],
                reply_to: Some("src-122".into()),
                raw_digest: d("raw"),
                extra,
            }),
        ),
        (
            "edit",
            Event::Edit(Edit {
                channel: "whatsapp".into(),
                source_id: "e-1".into(),
                target: "src-123".into(),
                editor: "+447700900001".into(),
                edited_at: t("2026-03-12T14:06:00Z"),
                captured_at: t("2026-03-12T14:06:01Z"),
                text: "corrected".into(),
                raw_digest: d("edit"),
            }),
        ),
        (
            "deletion",
            Event::Deletion(Deletion {
                channel: "whatsapp".into(),
                source_id: "r-1".into(),
                target: "src-123".into(),
                deleted_by: "+447700900001".into(),
                deleted_at: t("2026-03-12T14:07:00Z"),
                captured_at: t("2026-03-12T14:07:01Z"),
                raw_digest: d("deletion"),
            }),
        ),
        (
            "reaction",
            Event::Reaction(Reaction {
                channel: "whatsapp".into(),
                source_id: "x-1".into(),
                target: "src-123".into(),
                sender: "+5511988887777".into(),
                emoji: Some("❤️".into()),
                reacted_at: t("2026-03-12T14:08:00Z"),
                captured_at: t("2026-03-12T14:08:01Z"),
                raw_digest: d("reaction"),
            }),
        ),
        (
            "status",
            Event::Status(DeliveryStatus {
                channel: "whatsapp".into(),
                target: "src-123".into(),
                recipient: "+5511988887777".into(),
                state: DeliveryState::Failed,
                at: t("2026-03-12T14:09:00Z"),
                captured_at: t("2026-03-12T14:09:01Z"),
                error: Some("131047 re-engagement message".into()),
                raw_digest: d("status"),
            }),
        ),
        (
            "consent",
            Event::Consent(ConsentChange {
                channel: "whatsapp".into(),
                party: "+5511988887777".into(),
                state: ConsentState::OptOut,
                evidence: "replied STOP".into(),
                at: t("2026-03-12T14:10:00Z"),
                recorded_by: "webhook".into(),
            }),
        ),
        (
            "system",
            Event::System(SystemEvent {
                actor: "admin@example.com".into(),
                action: "archive.init".into(),
                target: Some("custos-data".into()),
                at: t("2026-03-12T14:11:00Z"),
                details: serde_json::Map::new(),
            }),
        ),
        (
            "raw",
            Event::Raw(RawPayload {
                source: "whatsapp.webhook".into(),
                media_type: "application/json".into(),
                received_at: t("2026-03-12T14:12:00Z"),
                bytes: b"{\"object\":\"whatsapp_business_account\"}".to_vec(),
                details: {
                    let mut d = serde_json::Map::new();
                    d.insert("signature".into(), "sha256=00ff".into());
                    d
                },
            }),
        ),
    ]
}

#[test]
fn encodings_match_the_golden_files() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bless = std::env::var_os("CUSTOS_BLESS").is_some();
    for (name, event) in fixtures() {
        let path = dir.join(format!("{name}.hex"));
        let actual = hex::encode(event.encode());
        if bless {
            std::fs::write(&path, format!("{actual}\n")).unwrap();
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run with CUSTOS_BLESS=1 once)", path.display()));
        assert_eq!(actual, expected.trim(), "encoding of `{name}` changed");
        let decoded = Event::decode(&hex::decode(expected.trim()).unwrap()).unwrap();
        assert_eq!(
            decoded, event,
            "golden `{name}` no longer decodes to its fixture"
        );
    }
}
