//! The WhatsApp chat-export parser against fixtures of every format variant.

use custos_capture::whatsapp_export::{
    DateOrder, ExportError, ExportOptions, Parsed, ZipLimits, detect_date_order, parse, read_zip,
    read_zip_with_limits,
};
use custos_model::{Digest, Direction, Timestamp};
use std::io::Write;

const CAPTURED: Timestamp = Timestamp::from_micros(1_800_000_000_000_000);

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/export/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn options(source: &str, tz: &str, names: &[&str]) -> ExportOptions {
    ExportOptions {
        custodian_phone: "+5511900000001".into(),
        custodian_names: names.iter().map(|s| s.to_string()).collect(),
        tz: jiff::tz::TimeZone::get(tz).unwrap(),
        date_order: None,
        source_name: source.into(),
    }
}

/// One line per message: line, UTC time, sender, direction, recipients,
/// text, attachment file and the export flags in `extra`.
fn summary(parsed: &Parsed) -> Vec<String> {
    parsed
        .messages
        .iter()
        .map(|m| {
            let msg = &m.message;
            let dir = match msg.direction {
                Direction::Inbound => "in",
                Direction::Outbound => "out",
                Direction::Internal => "internal",
                Direction::Unknown => "unknown",
            };
            let mut s = format!(
                "{} {} {} {dir} {:?} {:?}",
                m.line,
                msg.sent_at,
                msg.sender,
                msg.recipients,
                msg.text.as_deref().unwrap_or("")
            );
            if let Some(f) = &m.attachment_file {
                s.push_str(&format!(" file={f}"));
            }
            for key in ["media", "deleted", "edited", "unsaved_contact"] {
                if let Some(v) = msg.extra.get(key) {
                    s.push_str(&format!(" {key}={}", v.as_str().unwrap_or(&v.to_string())));
                }
            }
            s
        })
        .collect()
}

fn check(parsed: &Parsed, expected: &[&str]) {
    let got = summary(parsed);
    assert_eq!(got, expected, "\ngot:\n{}", got.join("\n"));
}

fn kinds(parsed: &Parsed) -> Vec<(u64, String)> {
    parsed
        .system_events
        .iter()
        .map(|e| {
            (
                e.details["line"].as_u64().unwrap(),
                e.action.trim_start_matches("whatsapp.export.").to_string(),
            )
        })
        .collect()
}

#[test]
fn android_english_day_first_24_hour() {
    let text = fixture("android_en_dmy_24h.txt");
    let opts = options("WhatsApp Chat with Ana Souza.txt", "America/Sao_Paulo", &[]);
    let parsed = parse(&text, &opts, CAPTURED).unwrap();
    assert_eq!(parsed.date_order, DateOrder::Dmy);
    assert!(parsed.date_order_inferred);
    assert_eq!(parsed.chat, "Ana Souza");
    assert!(!parsed.is_group);
    // Two authors, one of them the chat partner: the other is the custodian.
    assert_eq!(parsed.custodian_author.as_deref(), Some("Bruno Lima"));
    check(
        &parsed,
        &[
            r#"2 2024-03-05T12:01:00Z Ana Souza in ["+5511900000001"] "Bom dia! Can we talk about the Q3 deal?""#,
            r#"3 2024-03-05T12:02:00Z +5511900000001 out ["Ana Souza"] "Sure, send me the numbers\nand the term sheet\n\nplease""#,
            r#"7 2024-03-13T20:45:00Z Ana Souza in ["+5511900000001"] "<Media omitted>" media=omitted"#,
            r#"8 2024-03-13T20:46:00Z +5511900000001 out ["Ana Souza"] "This message was deleted" deleted=true"#,
            r#"9 2024-03-14T11:00:00Z Ana Souza in ["+5511900000001"] "Price is 12.5" edited=true"#,
        ],
    );
    assert_eq!(
        kinds(&parsed),
        [(1, "encryption".into()), (10, "missed_call".into())]
    );
    assert_eq!(
        parsed.system[1],
        (10, "Ana Souza: Missed voice call".into())
    );
    assert_eq!(parsed.lines, 10);

    // Every field of one message.
    let m = &parsed.messages[1].message;
    assert_eq!(m.channel, "whatsapp");
    assert_eq!(m.conversation, parsed.conversation);
    assert!(m.conversation.starts_with("whatsapp-export:"));
    assert!(m.source_id.starts_with("wa-export:"));
    assert_eq!(m.captured_at, CAPTURED);
    assert_eq!(
        m.raw_digest,
        Digest::of(
            b"05/03/2024, 09:02 - Bruno Lima: Sure, send me the numbers\nand the term sheet\n\nplease"
        )
    );
    assert_eq!(m.extra["source_file"], "WhatsApp Chat with Ana Souza.txt");
    assert_eq!(m.extra["line"], 3);
    assert_eq!(m.extra["line_end"], 6);
    assert_eq!(m.extra["author"], "Bruno Lima");
    assert_eq!(m.extra["local_time"], "2024-03-05T09:02:00");
    assert_eq!(m.external_party(), Some("Ana Souza"));
    let ids: std::collections::BTreeSet<_> = parsed
        .messages
        .iter()
        .map(|m| &m.message.source_id)
        .collect();
    assert_eq!(ids.len(), parsed.messages.len());
}

#[test]
fn android_us_month_first_12_hour_with_narrow_spaces() {
    let text = fixture("android_us_mdy_12h.txt");
    let mut opts = options(
        "WhatsApp Chat with +1 555 010 0199.txt",
        "America/New_York",
        &["carla diaz"],
    );
    opts.custodian_phone = "+15550100100".into();
    let parsed = parse(&text, &opts, CAPTURED).unwrap();
    assert_eq!(parsed.date_order, DateOrder::Mdy);
    check(
        &parsed,
        &[
            r#"1 2023-12-25T04:23:00Z +1 555 010 0199 in ["+15550100100"] "Merry Christmas! Are the bonds still on?""#,
            r#"2 2023-12-25T04:25:00Z +15550100100 out ["+1 555 010 0199"] "IMG-20231224-WA0002.jpg (file attached)\nterm sheet photo" file=IMG-20231224-WA0002.jpg media=attached"#,
            r#"4 2023-12-25T05:05:00Z +1 555 010 0199 in ["+15550100100"] "thanks""#,
            r#"5 2023-12-25T17:30:00Z +15550100100 out ["+1 555 010 0199"] "noon, plain space""#,
        ],
    );
}

#[test]
fn ios_brackets_seconds_and_a_group() {
    let text = fixture("ios_seconds_group.txt");
    let opts = options(
        "WhatsApp Chat - Deal Room.zip",
        "Europe/Berlin",
        &["Bruno Lima"],
    );
    let parsed = parse(&text, &opts, CAPTURED).unwrap();
    assert_eq!(parsed.chat, "Deal Room");
    assert!(parsed.is_group);
    check(
        &parsed,
        &[
            r#"3 2022-02-28T20:54:00Z Eva Klein in ["+5511900000001"] "hello all" unsaved_contact=true"#,
            r#"4 2022-02-28T20:55:01Z +5511900000001 out ["Deal Room"] "<attached: 00000002-PHOTO-2022-02-28-21-55-01.jpg>" file=00000002-PHOTO-2022-02-28-21-55-01.jpg media=attached"#,
            r#"5 2022-02-28T20:56:00Z Ana Souza in ["+5511900000001"] "image omitted" media=omitted"#,
            r#"6 2022-03-01T09:00:00Z Ana Souza in ["+5511900000001"] "Report.pdf • 14 pages <attached: 00000004-Report.pdf>" file=00000004-Report.pdf media=attached"#,
            r#"9 2022-03-01T09:03:00Z +5511900000001 out ["Deal Room"] "You deleted this message." deleted=true"#,
        ],
    );
    assert_eq!(
        kinds(&parsed),
        [
            (1, "encryption".into()),
            (2, "created".into()),
            (7, "left".into()),
            (8, "missed_call".into())
        ]
    );
    assert_eq!(parsed.system[2], (7, "Deal Room: Eva Klein left".into()));
    // The raw digest keeps the marks the text loses.
    assert_eq!(
        parsed.messages[1].message.raw_digest,
        Digest::of(
            "\u{200e}[28/02/2022, 9:55:01\u{202f}PM] Bruno Lima: \u{200e}<attached: 00000002-PHOTO-2022-02-28-21-55-01.jpg>"
                .as_bytes()
        )
    );
}

#[test]
fn year_first_with_dashes() {
    let text = fixture("ymd_dash.txt");
    let parsed = parse(&text, &options("ymd.txt", "UTC", &["Bruno Lima"]), CAPTURED).unwrap();
    assert_eq!(parsed.date_order, DateOrder::Ymd);
    assert_eq!(detect_date_order(&text).unwrap(), DateOrder::Ymd);
    assert_eq!(parsed.chat, "ymd");
    check(
        &parsed,
        &[
            r#"1 2024-10-31T15:50:00Z Ana Souza in ["+5511900000001"] "Hallo""#,
            r#"2 2024-11-01T08:05:00Z +5511900000001 out ["ymd"] "Guten Morgen""#,
        ],
    );
    // The zh iOS shape: slashes, year first, no comma.
    let zh = "[2024/10/31 15:50:46] Ana Souza: 你好\n";
    let parsed = parse(zh, &options("x.txt", "Asia/Shanghai", &[]), CAPTURED).unwrap();
    check(
        &parsed,
        &[r#"1 2024-10-31T07:50:46Z Ana Souza unknown [] "你好""#],
    );
}

#[test]
fn german_dotted_dates_and_attachments() {
    let text = fixture("german_dotted.txt");
    let opts = options("WhatsApp Chat mit Jonas Weber.txt", "Europe/Berlin", &[]);
    let parsed = parse(&text, &opts, CAPTURED).unwrap();
    assert_eq!(parsed.chat, "Jonas Weber");
    assert_eq!(parsed.date_order, DateOrder::Dmy);
    check(
        &parsed,
        &[
            r#"2 2024-01-31T13:05:00Z Jonas Weber in ["+5511900000001"] "DOC-20240131-WA0003.pdf (Datei angehängt)\nVertrag" file=DOC-20240131-WA0003.pdf media=attached"#,
            r#"4 2024-01-31T13:06:00Z Jonas Weber in ["+5511900000001"] "<Medien ausgeschlossen>" media=omitted"#,
            r#"5 2024-02-01T08:07:00Z +5511900000001 out ["Jonas Weber"] "Diese Nachricht wurde gelöscht" deleted=true"#,
            r#"6 2024-02-01T08:08:00Z Jonas Weber in ["+5511900000001"] "Passt" edited=true"#,
        ],
    );
    assert_eq!(kinds(&parsed), [(1, "encryption".into())]);
}

#[test]
fn portuguese_placeholders() {
    let text = fixture("portuguese.txt");
    let opts = options(
        "Conversa do WhatsApp com Ana Souza.txt",
        "America/Sao_Paulo",
        &[],
    );
    let parsed = parse(&text, &opts, CAPTURED).unwrap();
    assert_eq!(parsed.chat, "Ana Souza");
    check(
        &parsed,
        &[
            r#"2 2023-08-15T13:16:00Z Ana Souza in ["+5511900000001"] "<Mídia oculta>" media=omitted"#,
            r#"3 2023-08-15T13:17:00Z Ana Souza in ["+5511900000001"] "IMG-20230815-WA0007.jpg (arquivo anexado)" file=IMG-20230815-WA0007.jpg media=attached"#,
            r#"4 2023-08-15T13:18:00Z +5511900000001 out ["Ana Souza"] "Esta mensagem foi apagada" deleted=true"#,
            r#"5 2023-08-15T13:19:00Z Ana Souza in ["+5511900000001"] "Fechado então" edited=true"#,
        ],
    );
    assert_eq!(kinds(&parsed), [(1, "encryption".into())]);
}

#[test]
fn spanish_placeholders_dotted_am_pm_with_no_break_space() {
    let text = fixture("spanish.txt");
    let opts = options(
        "Chat de WhatsApp con Lucía Pérez.txt",
        "America/Mexico_City",
        &[],
    );
    let parsed = parse(&text, &opts, CAPTURED).unwrap();
    assert_eq!(parsed.chat, "Lucía Pérez");
    assert_eq!(parsed.date_order, DateOrder::Dmy);
    check(
        &parsed,
        &[
            r#"1 2023-09-04T02:05:00Z Lucía Pérez in ["+5511900000001"] "<Multimedia omitido>" media=omitted"#,
            r#"2 2023-09-04T02:06:00Z +5511900000001 out ["Lucía Pérez"] "¿Lo firmamos mañana?""#,
            r#"3 2023-09-23T15:00:00Z Lucía Pérez in ["+5511900000001"] "Se eliminó este mensaje." deleted=true"#,
            r#"4 2023-09-23T15:01:00Z Lucía Pérez in ["+5511900000001"] "IMG-20230923-WA0001.jpg (archivo adjunto)" file=IMG-20230923-WA0001.jpg media=attached"#,
        ],
    );
}

#[test]
fn group_system_lines_and_multi_line_messages() {
    let text = fixture("android_group_system.txt");
    let opts = options("WhatsApp Chat with Desk FX.txt", "UTC", &["Bruno Lima"]);
    let parsed = parse(&text, &opts, CAPTURED).unwrap();
    assert!(parsed.is_group);
    check(
        &parsed,
        &[
            r#"7 2024-02-13T10:01:00Z Ana Souza in ["+5511900000001"] "Line one\n\nline three after a blank line""#,
            r#"10 2024-02-13T10:02:00Z +5511900000001 out ["Desk FX"] "ok""#,
            r#"11 2024-02-13T10:03:00Z Carla Diaz in ["+5511900000001"] "still here?""#,
        ],
    );
    assert_eq!(
        kinds(&parsed),
        [
            (1, "created".into()),
            (2, "added".into()),
            (3, "joined".into()),
            (4, "subject_changed".into()),
            (5, "icon_changed".into()),
            (6, "left".into()),
        ]
    );
    assert_eq!(
        parsed.system[3],
        (
            4,
            r#"Ana Souza changed the subject from "Desk FX" to "Desk FX: EM""#.into()
        )
    );
    let e = &parsed.system_events[0];
    assert_eq!(e.target.as_deref(), Some(parsed.conversation.as_str()));
    assert_eq!(e.at.to_string(), "2024-02-01T09:00:00Z");
}

#[test]
fn an_ambiguous_file_asks_for_the_order_and_parses_with_one() {
    let text = fixture("ambiguous.txt");
    let err = detect_date_order(&text).unwrap_err();
    assert!(matches!(
        err,
        ExportError::AmbiguousDateOrder {
            count: 2,
            line: 1,
            ..
        }
    ));
    let shown = err.to_string();
    assert!(
        shown.contains("ambiguous") && shown.contains("--date-order"),
        "{shown}"
    );
    assert!(shown.contains("\"05/03/2024\""), "{shown}");
    let mut opts = options("WhatsApp Chat with Ana Souza.txt", "UTC", &[]);
    assert_eq!(parse(&text, &opts, CAPTURED).unwrap_err(), err);

    opts.date_order = Some(DateOrder::Dmy);
    let dmy = parse(&text, &opts, CAPTURED).unwrap();
    assert!(!dmy.date_order_inferred);
    assert_eq!(
        dmy.messages[0].message.sent_at.to_string(),
        "2024-03-05T09:00:00Z"
    );
    opts.date_order = Some(DateOrder::Mdy);
    let mdy = parse(&text, &opts, CAPTURED).unwrap();
    assert_eq!(
        mdy.messages[0].message.sent_at.to_string(),
        "2024-05-03T09:00:00Z"
    );
}

#[test]
fn conflicting_dates_are_an_error() {
    let text = "13/01/2024, 09:00 - A: x\n01/13/2024, 09:00 - B: y\n";
    let err = detect_date_order(text).unwrap_err();
    let shown = err.to_string();
    assert!(
        matches!(
            err,
            ExportError::ConflictingDateOrder {
                first_line: 1,
                second_line: 2,
                ..
            }
        ),
        "{shown}"
    );
    let mixed = "2024-01-13, 09:00 - A: x\n13/01/2024, 09:00 - B: y\n";
    assert!(matches!(
        detect_date_order(mixed),
        Err(ExportError::ConflictingDateOrder { .. })
    ));
}

#[test]
fn errors_name_the_line() {
    let mut opts = options("x.txt", "UTC", &[]);
    opts.date_order = Some(DateOrder::Dmy);
    let text = "01/01/2024, 09:00 - A: ok\nmore\n31/31/2024, 09:00 - A: bad\n";
    let err = parse(text, &opts, CAPTURED).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("line 3: cannot read the date \"31/31/2024\""),
        "{err}"
    );
    let err = parse("30/02/2024, 09:00 - A: x\n", &opts, CAPTURED).unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
    let err = parse("01/01/2024, 13:00 PM - A: x\n", &opts, CAPTURED).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("line 1: cannot read the time \"13:00 PM\""),
        "{err}"
    );
    let err = parse("01/01/2024, 24:10 - A: x\n", &opts, CAPTURED).unwrap_err();
    assert!(matches!(err, ExportError::BadTime { line: 1, .. }), "{err}");
    let err = parse("\nhello there\n01/01/2024, 09:00 - A: x\n", &opts, CAPTURED).unwrap_err();
    assert_eq!(
        err,
        ExportError::NotAMessage {
            line: 2,
            text: "hello there".into()
        }
    );
    assert!(
        err.to_string()
            .starts_with("line 2: not the start of a WhatsApp message")
    );
    assert_eq!(parse("", &opts, CAPTURED).unwrap_err(), ExportError::Empty);
    assert_eq!(
        parse("\n\n", &opts, CAPTURED).unwrap_err(),
        ExportError::Empty
    );
}

#[test]
fn more_header_shapes() {
    let mut opts = options("WhatsApp Chat with A.txt", "UTC", &[]);
    opts.date_order = Some(DateOrder::Dmy);
    let cases = [
        // 4-digit year, seconds, dotted time, lower-case am/pm.
        ("13.6.2018 21.25.15 - A: m", "2018-06-13T21:25:15Z"),
        ("13. 6. 2018. 21:25:15 - A: m", "2018-06-13T21:25:15Z"),
        ("09-10-2022 10:37:00 p.m. - A: m", "2022-10-09T22:37:00Z"),
        ("09-10-2022 12:37 am - A: m", "2022-10-09T00:37:00Z"),
        ("[9/10/22, 7:05:09 AM] A: m", "2022-10-09T07:05:09Z"),
        (
            "[9/10/22, 7:05:09\u{a0}p.\u{a0}m.] A: m",
            "2022-10-09T19:05:09Z",
        ),
    ];
    for (line, at) in cases {
        let parsed = parse(line, &opts, CAPTURED).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(parsed.messages.len(), 1, "{line}");
        assert_eq!(parsed.messages[0].message.sent_at.to_string(), at, "{line}");
        assert_eq!(
            parsed.messages[0].message.text.as_deref(),
            Some("m"),
            "{line}"
        );
    }
    // Lines that are not headers continue the message before them.
    let text = "01/01/2024, 09:00 - A: x\n12.5, 3:00 - no\n[1/2] nope\n2024, 10:00 - no\n";
    let parsed = parse(text, &opts, CAPTURED).unwrap();
    assert_eq!(parsed.messages.len(), 1);
    assert_eq!(
        parsed.messages[0].message.text.as_deref(),
        Some("x\n12.5, 3:00 - no\n[1/2] nope\n2024, 10:00 - no")
    );
}

#[test]
fn the_custodian_by_you_by_number_or_by_name() {
    let mut opts = options("WhatsApp Chat with Grupo.txt", "UTC", &[]);
    opts.date_order = Some(DateOrder::Dmy);
    opts.custodian_phone = "+55 11 90000-0001".into();
    let text = "01/01/2024, 09:00 - You: a\n01/01/2024, 09:01 - +55 11 90000 0001: b\n01/01/2024, 09:02 - Ana: c\n01/01/2024, 09:03 - Bia: d\n";
    let parsed = parse(text, &opts, CAPTURED).unwrap();
    let dirs: Vec<_> = parsed
        .messages
        .iter()
        .map(|m| m.message.direction)
        .collect();
    assert_eq!(
        dirs,
        [
            Direction::Outbound,
            Direction::Outbound,
            Direction::Inbound,
            Direction::Inbound
        ]
    );
    assert!(
        parsed.messages[..2]
            .iter()
            .all(|m| m.message.sender == "+55 11 90000-0001")
    );
    // Nobody recognisable: the partner is inbound, the rest unknown.
    let mut opts = options("WhatsApp Chat with Ana.txt", "UTC", &[]);
    opts.date_order = Some(DateOrder::Dmy);
    let text =
        "01/01/2024, 09:00 - Ana: a\n01/01/2024, 09:01 - Bia: b\n01/01/2024, 09:02 - Caio: c\n";
    let parsed = parse(text, &opts, CAPTURED).unwrap();
    assert_eq!(parsed.custodian_author, None);
    let dirs: Vec<_> = parsed
        .messages
        .iter()
        .map(|m| m.message.direction)
        .collect();
    assert_eq!(
        dirs,
        [Direction::Inbound, Direction::Unknown, Direction::Unknown]
    );
}

#[test]
fn ids_are_stable_across_exports_and_only_new_messages_get_new_ones() {
    let opts = options("WhatsApp Chat with Ana Souza.txt", "America/Sao_Paulo", &[]);
    let first = fixture("android_en_dmy_24h.txt");
    // A later export: two more messages, one of them identical in time,
    // sender and text to one before it.
    let second = format!(
        "{first}14/03/2024, 08:00 - Ana Souza: Price is 12.5 <This message was edited>\n15/03/2024, 10:00 - Bruno Lima: Deal.\n"
    );
    let a = parse(&first, &opts, CAPTURED).unwrap();
    let again = parse(&first, &opts, Timestamp::from_micros(0)).unwrap();
    let b = parse(&second, &opts, CAPTURED).unwrap();
    let ids = |p: &Parsed| -> Vec<String> {
        p.messages
            .iter()
            .map(|m| m.message.source_id.clone())
            .collect()
    };
    assert_eq!(ids(&a), ids(&again), "re-import gives the same ids");
    assert_eq!(
        ids(&b)[..ids(&a).len()],
        ids(&a)[..],
        "old messages keep theirs"
    );
    assert_eq!(ids(&b).len(), ids(&a).len() + 2);
    let all: std::collections::BTreeSet<_> = ids(&b).into_iter().collect();
    assert_eq!(
        all.len(),
        a.messages.len() + 2,
        "the identical twin gets its own id"
    );
    // An export whose oldest messages were cut keeps the ids of the rest.
    let cut: String = first.lines().skip(6).map(|l| format!("{l}\n")).collect();
    let c = parse(&cut, &opts, CAPTURED).unwrap();
    assert_eq!(ids(&c)[..], ids(&a)[2..]);
    // Another custodian's export of the same chat is another conversation.
    let mut other = opts.clone();
    other.custodian_phone = "+5511900000002".into();
    let d = parse(&first, &other, CAPTURED).unwrap();
    assert_ne!(d.conversation, a.conversation);
    assert_ne!(ids(&d)[0], ids(&a)[0]);
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, o).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn reads_an_ios_zip() {
    let chat = fixture("ios_seconds_group.txt");
    let with_bom = format!("\u{feff}{chat}");
    let bytes = zip_of(&[
        ("_chat.txt", with_bom.as_bytes()),
        ("00000002-PHOTO-2022-02-28-21-55-01.jpg", b"jpeg bytes"),
        ("00000004-Report.pdf", b"%PDF-1.7"),
        ("00000005-notes.txt", b"not the chat"),
    ]);
    let archive = read_zip(&bytes).unwrap();
    assert_eq!(archive.chat_file, "_chat.txt");
    assert_eq!(archive.chat_text, chat);
    assert_eq!(archive.media.len(), 3);
    let opts = options(
        "WhatsApp Chat - Deal Room.zip",
        "Europe/Berlin",
        &["Bruno Lima"],
    );
    let parsed = parse(&archive.chat_text, &opts, CAPTURED).unwrap();
    let linked: Vec<_> = parsed
        .messages
        .iter()
        .filter_map(|m| m.attachment_file.as_deref())
        .map(|f| archive.media_named(f).map(|(_, b)| b.to_vec()))
        .collect();
    assert_eq!(
        linked,
        [Some(b"jpeg bytes".to_vec()), Some(b"%PDF-1.7".to_vec())]
    );
}

#[test]
fn reads_an_android_zip_and_picks_the_chat() {
    let chat = fixture("german_dotted.txt");
    let bytes = zip_of(&[
        ("WhatsApp Chat mit Jonas Weber.txt", chat.as_bytes()),
        ("DOC-20240131-WA0003.pdf", b"pdf"),
        ("other.txt", b"x"),
    ]);
    let archive = read_zip(&bytes).unwrap();
    assert_eq!(archive.chat_file, "WhatsApp Chat mit Jonas Weber.txt");
    assert_eq!(
        archive.media_named("DOC-20240131-WA0003.pdf").unwrap().1,
        b"pdf"
    );

    let two = zip_of(&[("a.txt", b"x"), ("b.txt", b"y")]);
    assert!(matches!(read_zip(&two), Err(ExportError::NoChat(_))));
    let none = zip_of(&[("a.jpg", b"x")]);
    assert!(matches!(read_zip(&none), Err(ExportError::NoChat(_))));
    let bad = zip_of(&[("_chat.txt", b"\xff\xfe oops")]);
    assert!(matches!(
        read_zip(&bad),
        Err(ExportError::NotUtf8 { at: 0, .. })
    ));
    assert!(matches!(read_zip(b"not a zip"), Err(ExportError::Zip(_))));
}

#[test]
fn zip_caps_and_unsafe_names() {
    let bytes = zip_of(&[
        ("_chat.txt", b"01/01/2024, 09:00 - A: x\n"),
        ("a.jpg", &[0u8; 1000]),
        ("b.jpg", &[0u8; 1000]),
    ]);
    let tight = ZipLimits {
        max_entries: 2,
        max_total_bytes: 1 << 20,
    };
    assert_eq!(
        read_zip_with_limits(&bytes, &tight).unwrap_err(),
        ExportError::TooManyEntries { max: 2 }
    );
    let small = ZipLimits {
        max_entries: 10,
        max_total_bytes: 1500,
    };
    assert!(matches!(
        read_zip_with_limits(&bytes, &small),
        Err(ExportError::TooLarge { max: 1500, .. })
    ));
    let enough = ZipLimits {
        max_entries: 3,
        max_total_bytes: 2025,
    };
    assert!(read_zip_with_limits(&bytes, &enough).is_ok());

    for evil in ["../escape.txt", "/etc/passwd", "a/../../b.jpg"] {
        let bytes = zip_of(&[("_chat.txt", b"x"), (evil, b"y")]);
        assert_eq!(
            read_zip(&bytes).unwrap_err(),
            ExportError::UnsafeName(evil.into()),
            "{evil}"
        );
    }
    // A name that stays inside is fine.
    let bytes = zip_of(&[("media/../_chat.txt", b"x"), ("media/a.jpg", b"y")]);
    let archive = read_zip(&bytes).unwrap();
    assert_eq!(archive.chat_file, "_chat.txt");
    assert_eq!(archive.media_named("a.jpg").unwrap().0, "media/a.jpg");
}

proptest::proptest! {
    /// Arbitrary text never panics the parser.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        let opts = options("x.txt", "UTC", &[]);
        let _ = parse(&text, &opts, CAPTURED);
        let _ = detect_date_order(&text);
    }

    /// Nor does text built from the pieces of headers.
    #[test]
    fn header_like_text_never_panics(
        parts in proptest::collection::vec(
            proptest::sample::select(vec![
                "[", "]", "1", "12", "31", "2024", "99", "0", "/", ".", "-", ", ", " ",
                ":", "00", "59", "60", "PM", "a.m.", "\u{202f}", "\u{200e}", " - ", "A: ",
                "\n", "<attached: x>", "(file attached)", "9999", "\r",
            ]),
            0..40,
        ),
        order in proptest::sample::select(vec![None, Some(DateOrder::Dmy), Some(DateOrder::Mdy), Some(DateOrder::Ymd)]),
    ) {
        let text: String = parts.concat();
        let mut opts = options("x.txt", "Europe/London", &[]);
        opts.date_order = order;
        let _ = parse(&text, &opts, CAPTURED);
    }
}

/// An Android export of `n` entries, over 256 KiB for large `n` (so read
/// in pieces on every core): every 9th a two-line message, every 50th a
/// system line, every 3rd the same text as the one before it (same minute).
fn large_android(n: usize) -> String {
    let mut t = String::new();
    for i in 0..n {
        let day = 13 + (i / 1000) % 16;
        let minute = (i / 3) % (24 * 60);
        t.push_str(&format!(
            "{day}/03/2025, {:02}:{:02} - ",
            minute / 60,
            minute % 60
        ));
        let who = if i % 2 == 0 {
            "Ana Souza"
        } else {
            "Rafael Lima"
        };
        if i % 50 == 0 {
            t.push_str("Ana Souza changed the group description\n");
        } else if i % 9 == 0 {
            t.push_str(&format!("{who}: entry {i}\nsecond line of {i}\n"));
        } else {
            t.push_str(&format!("Ana Souza: the same words {}\n", i / 3));
        }
    }
    t
}

#[test]
fn a_large_export_keeps_its_line_numbers_ids_and_first_error() {
    let text = large_android(12_000);
    assert!(text.len() > 512 << 10, "{} bytes", text.len());
    let lines: Vec<&str> = text.lines().collect();
    let opts = options("WhatsApp Chat with Ana Souza.txt", "UTC", &["Rafael Lima"]);
    let parsed = parse(&text, &opts, CAPTURED).unwrap();
    assert_eq!(parsed.lines, lines.len() as u64);
    assert_eq!(parsed.date_order, DateOrder::Dmy);
    assert_eq!(parsed.system.len(), 12_000 / 50);
    assert_eq!(parsed.messages.len(), 12_000 - 12_000 / 50);
    for m in &parsed.messages {
        let header = lines[m.line as usize - 1];
        let first = m.message.text.as_deref().unwrap().lines().next().unwrap();
        assert!(header.ends_with(first), "line {}: {header:?}", m.line);
    }
    for (line, shown) in &parsed.system {
        assert!(
            lines[*line as usize - 1].ends_with(shown.as_str()),
            "{line}"
        );
    }
    let ids: std::collections::BTreeSet<&str> = parsed
        .messages
        .iter()
        .map(|m| m.message.source_id.as_str())
        .collect();
    assert_eq!(
        ids.len(),
        parsed.messages.len(),
        "repeated texts get ordinals"
    );

    // The index of the first header line at or after `at`.
    let header = |at: usize| (at..).find(|&i| !lines[i].starts_with("second")).unwrap();
    let (early, late, later) = (header(700), header(10_500), header(11_000));

    // Two bad lines far apart: the earlier one is the error.
    let mut bad: Vec<&str> = lines.clone();
    bad[late] = "31/02/2025, 10:00 - Ana Souza: no such day";
    bad[early] = "14/03/2025, 24:30 - Ana Souza: no such hour";
    let err = parse(&bad.join("\n"), &opts, CAPTURED).unwrap_err();
    assert!(
        matches!(err, ExportError::BadTime { line, .. } if line == early as u64 + 1),
        "{err}"
    );
    bad[early] = lines[early];
    let err = parse(&bad.join("\n"), &opts, CAPTURED).unwrap_err();
    assert!(
        matches!(err, ExportError::BadDate { line, .. } if line == late as u64 + 1),
        "{err}"
    );

    // A month-first date late in a day-first file is a conflict naming it.
    let mut other: Vec<&str> = lines.clone();
    other[later] = "03/25/2025, 10:00 - Ana Souza: month first";
    let err = parse(&other.join("\n"), &opts, CAPTURED).unwrap_err();
    assert!(
        matches!(
            err,
            ExportError::ConflictingDateOrder {
                first_line: 1,
                second_line,
                ..
            } if second_line == later as u64 + 1
        ),
        "{err}"
    );
}
