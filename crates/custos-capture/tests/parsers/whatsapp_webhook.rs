//! The WhatsApp webhook parser against fixtures built from the documented
//! payload shapes (FORMATS.md section 1, values invented).
//!
//! Every `tests/fixtures/whatsapp/NAME.json` has a `NAME.expected.json`: the
//! exact events (as their JSON, `raw_digest` checked against the body and
//! left out) and notes. Regenerate after a deliberate change with
//! `CUSTOS_UPDATE_EXPECTED=1 cargo test -p custos-capture --test whatsapp_webhook`
//! and review the diff.

use custos_capture::whatsapp_webhook::{Parsed, WebhookError, parse};
use custos_model::{ConsentState, DeliveryState, Digest, Direction, Event, Timestamp};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/whatsapp")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = dir().join(format!("{name}.json"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn captured() -> Timestamp {
    Timestamp::parse("2026-01-01T00:00:00Z").unwrap()
}

fn parse_fixture(name: &str) -> Parsed {
    parse(&fixture(name), captured()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The events as JSON, each `{field, subject, event}`, with `raw_digest`
/// checked against the body and removed; then the notes.
fn to_json(raw: &[u8], parsed: &Parsed) -> Value {
    let digest = Digest::of(raw).to_string();
    let events: Vec<Value> = parsed
        .events
        .iter()
        .map(|p| {
            let mut event = serde_json::to_value(&p.event).unwrap();
            let obj = event.as_object_mut().unwrap();
            match obj.remove("raw_digest") {
                Some(d) => assert_eq!(d, Value::String(digest.clone()), "raw_digest"),
                None => assert!(
                    matches!(p.event, Event::Consent(_) | Event::System(_)),
                    "{event}"
                ),
            }
            json!({"field": p.field, "subject": p.subject, "event": event})
        })
        .collect();
    let notes: Vec<Value> = parsed
        .notes
        .iter()
        .map(|n| json!({"path": n.path, "message": n.message}))
        .collect();
    json!({"events": events, "notes": notes})
}

/// Parses fixture `name` and compares everything it yields with `expected`.
fn check(name: &str, expected: Value) {
    let raw = fixture(name);
    let actual = to_json(&raw, &parse(&raw, captured()).unwrap());
    assert_eq!(
        actual,
        expected,
        "{name}: got\n{}",
        serde_json::to_string_pretty(&actual).unwrap()
    );
}

#[test]
fn every_fixture_yields_exactly_its_expected_events() {
    let update = std::env::var_os("CUSTOS_UPDATE_EXPECTED").is_some();
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json") && !n.ends_with(".expected.json"))
        .map(|n| n.trim_end_matches(".json").to_string())
        .collect();
    names.sort();
    assert!(names.len() >= 37, "fixtures missing: {names:?}");
    for name in names {
        let expected_path = dir().join(format!("{name}.expected.json"));
        if update {
            let raw = fixture(&name);
            let actual = to_json(&raw, &parse(&raw, captured()).unwrap());
            let text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
            std::fs::write(&expected_path, text).unwrap();
            continue;
        }
        let expected = std::fs::read(&expected_path)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        check(&name, serde_json::from_slice(&expected).unwrap());
    }
}

#[test]
fn inbound_text_maps_every_field() {
    check(
        "text",
        json!({"events": [{
            "field": "messages",
            "subject": "34600111222",
            "event": {
                "kind": "message",
                "channel": "whatsapp",
                "id": "wamid.TEXT1",
                "conversation": "109876543210987:34600111222",
                "from": "34600111222",
                "to": ["15550001111"],
                "direction": "inbound",
                "sent_at": "2024-06-10T07:10:56Z",
                "captured_at": "2026-01-01T00:00:00Z",
                "text": "Can you confirm my order for 200 shares?",
                "whatsapp": {
                    "type": "text",
                    "field": "messages",
                    "phone_number_id": "109876543210987",
                    "profile_name": "Ana Ruiz",
                    "wa_id": "34600111222",
                    "user_id": "ES.1502576394655843"
                }
            }
        }], "notes": []}),
    );
}

#[test]
fn string_and_number_timestamps_agree() {
    let [a, b] =
        ["text", "text_numeric_timestamp"].map(|n| match &parse_fixture(n).events[0].event {
            Event::Message(m) => m.sent_at,
            other => panic!("{other:?}"),
        });
    assert_eq!(a, b);
    assert_eq!(a, Timestamp::from_micros(1_718_003_456_000_000));
}

#[test]
fn media_digests_decode_from_base64_and_hex() {
    let hello = Digest::of(b"hello");
    // image, video, sticker carry base64; audio, document hex.
    for name in ["image", "video", "sticker", "audio", "document"] {
        let Event::Message(m) = &parse_fixture(name).events[0].event else {
            panic!("{name}")
        };
        assert_eq!(m.attachments.len(), 1, "{name}");
        assert_eq!(m.attachments[0].sha256, hello, "{name}");
        assert_eq!(m.attachments[0].size, 0, "{name}");
        assert_eq!(m.extra["whatsapp"]["size_known"], json!(false), "{name}");
    }
    let Event::Message(doc) = &parse_fixture("document").events[0].event else {
        panic!()
    };
    assert_eq!(
        doc.attachments[0].name.as_deref(),
        Some("statement-2024-05.pdf")
    );
    assert_eq!(doc.attachments[0].media_type, "application/pdf");
    assert_eq!(doc.text.as_deref(), Some("Statement"));
}

#[test]
fn an_undecodable_media_digest_is_kept_and_noted() {
    let body = String::from_utf8(fixture("image")).unwrap().replace(
        "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=",
        "not-a-digest",
    );
    let parsed = parse(body.as_bytes(), captured()).unwrap();
    let Event::Message(m) = &parsed.events[0].event else {
        panic!()
    };
    assert!(m.attachments.is_empty());
    assert_eq!(m.text.as_deref(), Some("Signed form"));
    assert_eq!(m.extra["whatsapp"]["sha256_valid"], json!(false));
    assert_eq!(
        m.extra["whatsapp"]["image"]["sha256"],
        json!("not-a-digest")
    );
    assert_eq!(
        parsed.notes[0].path,
        "entry[0].changes[0].value.messages[0].image.sha256"
    );
}

#[test]
fn statuses_link_to_their_message_in_arrival_order() {
    let parsed = parse_fixture("status_out_of_order");
    let states: Vec<_> = parsed
        .events
        .iter()
        .map(|p| match &p.event {
            Event::Status(s) => (s.target.as_str(), s.state, s.recipient.as_str()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        states,
        vec![
            ("wamid.OUT1", DeliveryState::Read, "34600111222"),
            ("wamid.OUT1", DeliveryState::Delivered, "34600111222"),
        ]
    );
    let Event::Status(failed) = &parse_fixture("status_failed").events[0].event else {
        panic!()
    };
    assert_eq!(failed.state, DeliveryState::Failed);
    assert!(
        failed
            .error
            .as_deref()
            .unwrap()
            .starts_with("131047 Re-engagement message (")
    );
}

#[test]
fn reactions_and_their_removal() {
    let emoji = |name| match &parse_fixture(name).events[0].event {
        Event::Reaction(r) => (r.target.clone(), r.emoji.clone()),
        other => panic!("{other:?}"),
    };
    assert_eq!(emoji("reaction"), ("wamid.OUT1".into(), Some("👍".into())));
    assert_eq!(emoji("reaction_removed"), ("wamid.OUT1".into(), None));
    // An empty emoji is a removal too.
    let body = String::from_utf8(fixture("reaction"))
        .unwrap()
        .replace("👍", "");
    let Event::Reaction(r) = &parse(body.as_bytes(), captured()).unwrap().events[0].event else {
        panic!()
    };
    assert_eq!(r.emoji, None);
}

#[test]
fn echoes_are_outbound_and_keep_their_edits_and_revokes() {
    check(
        "echoes",
        json!({"events": [
            {"field": "smb_message_echoes", "subject": "34600111222", "event": {
                "kind": "message", "channel": "whatsapp", "id": "wamid.ECHO1",
                "conversation": "109876543210987:34600111222",
                "from": "15550001111", "to": ["34600111222"], "direction": "outbound",
                "sent_at": "2025-02-12T00:43:44Z", "captured_at": "2026-01-01T00:00:00Z",
                "text": "Your order is confirmed.",
                "whatsapp": {"type": "text", "field": "smb_message_echoes",
                             "phone_number_id": "109876543210987", "to": "+34 600-111-222"}}},
            {"field": "smb_message_echoes", "subject": "34600111222", "event": {
                "kind": "edit", "channel": "whatsapp", "source_id": "wamid.ECHO2",
                "target": "wamid.ECHO1", "editor": "15550001111",
                "edited_at": "2025-02-12T00:44:44Z", "captured_at": "2026-01-01T00:00:00Z",
                "text": "Your order for 300 shares is confirmed."}},
            {"field": "smb_message_echoes", "subject": "34600111222", "event": {
                "kind": "deletion", "channel": "whatsapp", "source_id": "wamid.ECHO3",
                "target": "wamid.ECHO2", "deleted_by": "15550001111",
                "deleted_at": "2025-02-12T00:45:44Z", "captured_at": "2026-01-01T00:00:00Z"}}
        ], "notes": []}),
    );
}

#[test]
fn history_gives_both_directions_then_the_chunk_progress() {
    let parsed = parse_fixture("history");
    let summary: Vec<String> = parsed
        .events
        .iter()
        .map(|p| match &p.event {
            Event::Message(m) => format!("{} {:?} {}", m.source_id, m.direction, m.conversation),
            Event::System(s) => format!("{} {:?}", s.action, s.details.get("progress")),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "wamid.H1 Outbound 109876543210987:34600111222",
            "whatsapp.history_media_placeholder None",
            "wamid.H3 Inbound 109876543210987:34600111222",
            "wamid.H4 Outbound 109876543210987:447700900123",
            "whatsapp.history_chunk Some(Number(55))",
        ]
    );
    let Event::System(declined) = &parse_fixture("history_declined").events[0].event else {
        panic!()
    };
    assert_eq!(declined.action, "whatsapp.history_declined");
}

#[test]
fn user_preferences_become_consent_changes() {
    let parsed = parse_fixture("user_preferences");
    let changes: Vec<_> = parsed
        .events
        .iter()
        .map(|p| match &p.event {
            Event::Consent(c) => (c.party.as_str(), c.state, c.at, c.recorded_by.as_str()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        changes,
        [
            (
                "34600111222",
                ConsentState::OptOut,
                Timestamp::from_micros(1_731_705_721_000_000),
                "webhook"
            ),
            (
                "34600111222",
                ConsentState::OptIn,
                Timestamp::from_micros(1_731_792_121_000_000),
                "webhook"
            ),
        ]
    );
}

#[test]
fn a_payload_with_several_entries_and_changes_yields_all_in_order() {
    let parsed = parse_fixture("multi");
    let ids: Vec<String> = parsed
        .events
        .iter()
        .map(|p| match &p.event {
            Event::Message(m) => format!("{} {}", m.source_id, m.conversation),
            Event::Status(s) => format!("{} {:?}", s.target, s.state),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        ids,
        [
            "wamid.M1 109876543210987:34600111222",
            "wamid.M2 109876543210987:447700900123",
            "wamid.OUT1 Delivered",
            "wamid.OUT1 Read",
            "wamid.M3 109876543210999:5511988887777",
        ]
    );
    let Event::Message(m3) = &parsed.events[4].event else {
        panic!()
    };
    assert_eq!(m3.recipients, ["15550002222"]);
    assert_eq!(m3.direction, Direction::Inbound);
}

#[test]
fn unknown_types_and_fields_are_kept_not_dropped() {
    let parsed = parse_fixture("unknown_type");
    let Event::Message(m) = &parsed.events[0].event else {
        panic!()
    };
    assert_eq!(m.text.as_deref(), Some("[unsupported message: hologram]"));
    assert_eq!(m.extra["whatsapp"]["raw"]["hologram"]["frames"], json!(24));
    let parsed = parse_fixture("unknown_field");
    assert_eq!(parsed.events.len(), 2);
    let Event::System(s) = &parsed.events[0].event else {
        panic!()
    };
    assert_eq!(s.action, "whatsapp.webhook_field");
    assert_eq!(s.details["value"]["event"], json!("VERIFIED_ACCOUNT"));
}

/// Replaces the JSON at `pointer` in fixture `name` (or removes it when
/// `value` is `None`) and returns the error.
fn error_for(name: &str, pointer: &str, value: Option<Value>) -> String {
    let mut doc: Value = serde_json::from_slice(&fixture(name)).unwrap();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let parent = doc.pointer_mut(parent).unwrap();
    match (parent, value) {
        (Value::Object(o), Some(v)) => {
            o.insert(key.to_string(), v);
        }
        (Value::Object(o), None) => {
            o.remove(key);
        }
        (Value::Array(a), Some(v)) => a[key.parse::<usize>().unwrap()] = v,
        _ => panic!("{pointer}"),
    }
    parse(&serde_json::to_vec(&doc).unwrap(), captured())
        .unwrap_err()
        .to_string()
}

#[test]
fn malformed_payloads_are_named_by_json_path() {
    let msg = "/entry/0/changes/0/value/messages/0";
    let cases: Vec<(&str, String, Option<Value>, &str)> = vec![
        (
            "text",
            "/object".into(),
            Some(json!("page")),
            "object: expected \"whatsapp_business_account\", got \"page\"",
        ),
        ("text", "/object".into(), None, "object: is required"),
        (
            "text",
            "/object".into(),
            Some(json!(7)),
            "object: expected a string, got a number",
        ),
        ("text", "/entry".into(), None, "entry: is required"),
        (
            "text",
            "/entry".into(),
            Some(json!({})),
            "entry: expected an array, got an object",
        ),
        (
            "text",
            "/entry/0".into(),
            Some(json!("x")),
            "entry[0]: expected an object, got a string",
        ),
        (
            "text",
            "/entry/0/changes".into(),
            Some(json!(1)),
            "entry[0].changes: expected an array, got a number",
        ),
        (
            "text",
            "/entry/0/changes/0/field".into(),
            None,
            "entry[0].changes[0].field: is required",
        ),
        (
            "text",
            "/entry/0/changes/0/value".into(),
            Some(json!([])),
            "entry[0].changes[0].value: expected an object, got an array",
        ),
        (
            "text",
            "/entry/0/changes/0/value/metadata".into(),
            None,
            "entry[0].changes[0].value.metadata: is required",
        ),
        (
            "text",
            "/entry/0/changes/0/value/metadata/phone_number_id".into(),
            Some(json!(1)),
            "entry[0].changes[0].value.metadata.phone_number_id: expected a string, got a number",
        ),
        (
            "text",
            "/entry/0/changes/0/value/messages".into(),
            Some(json!("m")),
            "entry[0].changes[0].value.messages: expected an array, got a string",
        ),
        (
            "text",
            format!("{msg}/timestamp"),
            Some(json!([1])),
            "entry[0].changes[0].value.messages[0].timestamp: expected a string or number, got an array",
        ),
        (
            "text",
            format!("{msg}/timestamp"),
            Some(json!("yesterday")),
            "entry[0].changes[0].value.messages[0].timestamp: expected Unix epoch seconds, got \"yesterday\"",
        ),
        (
            "text",
            format!("{msg}/timestamp"),
            None,
            "entry[0].changes[0].value.messages[0].timestamp: is required",
        ),
        (
            "text",
            format!("{msg}/id"),
            None,
            "entry[0].changes[0].value.messages[0].id: is required",
        ),
        (
            "text",
            format!("{msg}/from"),
            Some(json!(34600111222_u64)),
            "entry[0].changes[0].value.messages[0].from: expected a string, got a number",
        ),
        (
            "text",
            format!("{msg}/text"),
            Some(json!("hi")),
            "entry[0].changes[0].value.messages[0].text: expected an object, got a string",
        ),
        (
            "text",
            format!("{msg}/text/body"),
            None,
            "entry[0].changes[0].value.messages[0].text.body: is required",
        ),
        (
            "image",
            format!("{msg}/image/sha256"),
            Some(json!(5)),
            "entry[0].changes[0].value.messages[0].image.sha256: expected a string, got a number",
        ),
        (
            "reaction",
            format!("{msg}/reaction/message_id"),
            None,
            "entry[0].changes[0].value.messages[0].reaction.message_id: is required",
        ),
        (
            "edit",
            format!("{msg}/edit/original_message_id"),
            None,
            "entry[0].changes[0].value.messages[0].edit.original_message_id: is required",
        ),
        (
            "revoke",
            format!("{msg}/revoke"),
            None,
            "entry[0].changes[0].value.messages[0].revoke: is required",
        ),
        (
            "forwarded",
            format!("{msg}/context/forwarded"),
            Some(json!("yes")),
            "entry[0].changes[0].value.messages[0].context.forwarded: expected a boolean, got a string",
        ),
        (
            "contacts",
            format!("{msg}/contacts"),
            Some(json!({})),
            "entry[0].changes[0].value.messages[0].contacts: expected an array, got an object",
        ),
        (
            "status_sent",
            "/entry/0/changes/0/value/statuses/0/recipient_id".into(),
            None,
            "entry[0].changes[0].value.statuses[0].recipient_id: is required",
        ),
        (
            "status_sent",
            "/entry/0/changes/0/value/statuses/0/status".into(),
            Some(json!(true)),
            "entry[0].changes[0].value.statuses[0].status: expected a string, got a boolean",
        ),
        (
            "echoes",
            "/entry/0/changes/0/value/message_echoes/0/to".into(),
            None,
            "entry[0].changes[0].value.message_echoes[0].to: is required",
        ),
        (
            "history",
            "/entry/0/changes/0/value/history/0/threads/0/messages/0/timestamp".into(),
            Some(json!(null)),
            "entry[0].changes[0].value.history[0].threads[0].messages[0].timestamp: is required",
        ),
        (
            "user_preferences",
            "/entry/0/changes/0/value/user_preferences/1/timestamp".into(),
            Some(json!(1.5)),
            "entry[0].changes[0].value.user_preferences[1].timestamp: expected whole Unix epoch seconds, got 1.5",
        ),
        (
            "multi",
            "/entry/1/changes/0/value/messages/0/type".into(),
            Some(json!(3)),
            "entry[1].changes[0].value.messages[0].type: expected a string, got a number",
        ),
    ];
    for (name, pointer, value, expected) in cases {
        assert_eq!(
            error_for(name, &pointer, value),
            expected,
            "{name} {pointer}"
        );
    }
}

#[test]
fn bodies_that_are_not_json_objects_are_refused() {
    let err = parse(b"{\"object\": ", captured()).unwrap_err();
    assert!(matches!(err, WebhookError::Json { line: 1, .. }), "{err}");
    assert_eq!(err.path(), None);
    let err = parse(b"[]", captured()).unwrap_err();
    assert_eq!(err.to_string(), "body: expected an object, got an array");
    assert_eq!(err.path(), Some("body"));
    assert!(parse(b"\xff\xfe", captured()).is_err());
    assert!(parse(b"", captured()).is_err());
}

#[test]
fn an_empty_entry_list_is_valid_and_empty() {
    let parsed = parse(
        br#"{"object":"whatsapp_business_account","entry":[]}"#,
        captured(),
    )
    .unwrap();
    assert!(parsed.events.is_empty() && parsed.notes.is_empty());
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "text",
            "image",
            "reaction",
            "edit",
            "revoke",
            "interactive",
            "button_reply",
            "nfm_reply",
            "order",
            "media_placeholder",
            "1718003456",
            "15550001111",
            "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=",
            "stop",
            "resume",
            "failed",
        ])
        .prop_map(Value::from),
    ];
    let keys = prop::sample::select(vec![
        "object",
        "entry",
        "id",
        "changes",
        "field",
        "value",
        "metadata",
        "phone_number_id",
        "display_phone_number",
        "contacts",
        "messages",
        "statuses",
        "message_echoes",
        "history",
        "threads",
        "state_sync",
        "user_preferences",
        "errors",
        "from",
        "to",
        "timestamp",
        "type",
        "text",
        "body",
        "image",
        "sha256",
        "mime_type",
        "reaction",
        "message_id",
        "emoji",
        "edit",
        "original_message_id",
        "message",
        "revoke",
        "context",
        "interactive",
        "button_reply",
        "title",
        "order",
        "product_items",
        "location",
        "latitude",
        "status",
        "recipient_id",
        "wa_id",
        "contact",
        "phone_number",
        "progress",
        "x",
    ]);
    leaf.prop_recursive(6, 96, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..6).prop_map(|m| Value::Object(
                m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

/// Field names and values that reach deep into the parser.
fn field_name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "messages",
        "smb_message_echoes",
        "history",
        "user_preferences",
        "smb_app_state_sync",
        "other",
    ])
}

proptest! {
    /// Arbitrary bytes never panic the parser.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&bytes, captured());
    }

    /// Random JSON never panics it, at the top or inside a valid envelope.
    #[test]
    fn random_json_never_panics(
        top in any_json(),
        field in field_name(),
        value in any_json(),
        message in any_json(),
    ) {
        let _ = parse(&serde_json::to_vec(&top).unwrap(), captured());
        let meta = json!({"display_phone_number": "15550001111", "phone_number_id": "1"});
        let mut value_obj = match value { Value::Object(o) => o, other => {
            let mut o = serde_json::Map::new();
            o.insert("x".into(), other);
            o
        }};
        value_obj.insert("metadata".into(), meta);
        for key in ["messages", "message_echoes", "statuses", "user_preferences", "state_sync"] {
            value_obj.insert(key.into(), json!([message.clone()]));
        }
        value_obj.insert("history".into(), json!([{"threads": [{"id": "1", "messages": [message.clone()]}]}]));
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": field, "value": value_obj}]}]});
        let _ = parse(&serde_json::to_vec(&body).unwrap(), captured());
    }

    /// Every valid message, whatever its fixture, survives a random change
    /// of one of its fields without panicking; errors name a path.
    #[test]
    fn mutated_fixtures_never_panic(
        name in prop::sample::select(vec![
            "text", "image", "document", "location", "contacts", "interactive_nfm_reply",
            "button", "reaction", "order", "system", "edit", "revoke", "unsupported",
            "status_failed", "echoes", "history", "history_declined", "app_state_sync",
            "user_preferences", "multi",
        ]),
        pick in any::<prop::sample::Index>(),
        replacement in any_json(),
    ) {
        let mut doc: Value = serde_json::from_slice(&fixture(name)).unwrap();
        let mut pointers = Vec::new();
        collect_pointers(&doc, String::new(), &mut pointers);
        let pointer = pick.get(&pointers).clone();
        *doc.pointer_mut(&pointer).unwrap() = replacement;
        match parse(&serde_json::to_vec(&doc).unwrap(), captured()) {
            Ok(_) => {}
            Err(WebhookError::Invalid { path, .. }) => prop_assert!(!path.is_empty()),
            Err(e) => prop_assert!(false, "{e}"),
        }
    }
}

fn collect_pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                collect_pointers(child, format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                collect_pointers(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}
