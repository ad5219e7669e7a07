//! End-to-end tests of the transcript renderers: golden files of a sample
//! covering every feature, the PDF's structure checked by parsing it (and by
//! `qpdf --check` when installed), the text on its pages, HTML escaping,
//! time zones and a large transcript.
//!
//! `CUSTOS_BLESS=1 cargo test -p custos-transcript` rewrites the golden files.

use std::collections::BTreeMap;
use std::path::PathBuf;

use custos_model::Timestamp;
use custos_transcript::{
    AttachmentLine, Deleted, EditLine, Error, Item, Participant, ReactionLine, Side, Transcript,
};

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

fn item(bates: &str, sender: &str, sent_at: &str, text: &str) -> Item {
    Item {
        bates: bates.into(),
        sender: sender.into(),
        sent_at: at(sent_at),
        text: Some(text.into()),
        attachments: vec![],
        edits: vec![],
        deleted: None,
        reactions: vec![],
        reply_to: None,
        status: None,
    }
}

/// A fixed slice using every feature: three sides, two days, a reply, an
/// edit, a deletion, attachments, reactions, statuses, characters outside
/// WinAnsi, markup, a long message and line breaks.
fn sample() -> Transcript {
    let mut items = vec![
        item(
            "CUSTOS-000101",
            "+447700900123",
            "2024-06-10T07:10:56Z",
            "Morning Ben, can you sell 500 ACME at market? São Paulo desk said it's fine.",
        ),
        item(
            "CUSTOS-000102",
            "ben.cole@acme.example",
            "2024-06-10T07:12:03Z",
            "Good morning Ana. Before I do: is this for the ISA or the general account?",
        ),
        item(
            "CUSTOS-000103",
            "+447700900123",
            "2024-06-10T07:13:40Z",
            "General account.\nAnd please keep it quiet <script>alert('x')</script> & between us 😉",
        ),
        item(
            "CUSTOS-000104",
            "priya.shah@acme.example",
            "2024-06-10T07:20:00Z",
            "Ben, compliance note: we cannot agree to keep orders \"quiet\". Please use the recorded line. नमस्ते",
        ),
        item(
            "CUSTOS-000105",
            "ben.cole@acme.example",
            "2024-06-10T07:25:12Z",
            "",
        ),
        item(
            "CUSTOS-000106",
            "+447700900123",
            "2024-06-11T08:02:00Z",
            "Here is the signed form.",
        ),
        item(
            "CUSTOS-000107",
            "ben.cole@acme.example",
            "2024-06-11T08:30:45Z",
            "Thanks, received. The order was filled at 12.34 GBP (total 6,170.00 GBP, commission 0.1% — see the contract note attached). \
             For the record, this long message exists to check that wrapping works across several lines of a bubble and that the \
             bubble on the firm's side stays right-aligned whatever its width. Supercalifragilisticexpialidocious-words-without-spaces-\
             must-also-be-cut-where-they-do-not-fit-on-one-line-of-the-bubble-at-all.",
        ),
    ];
    items[1].reply_to = Some("CUSTOS-000101".into());
    items[1].status = Some("read 08:12".into());
    items[2].edits = vec![EditLine {
        at: at("2024-06-10T07:15:00Z"),
        text: "General account.".into(),
    }];
    items[2].deleted = Some(Deleted {
        at: at("2024-06-10T07:16:30Z"),
        by: "+447700900123".into(),
    });
    items[3].reactions = vec![
        ReactionLine {
            by: "ben.cole@acme.example".into(),
            emoji: "👍".into(),
        },
        ReactionLine {
            by: "+447700900123".into(),
            emoji: "🙏".into(),
        },
    ];
    items[4].text = None;
    items[4].attachments = vec![AttachmentLine {
        name: "order-ticket.pdf".into(),
        media_type: "application/pdf".into(),
        size: 245_760,
        sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
    }];
    items[5].attachments = vec![
        AttachmentLine {
            name: "signed form (1).jpg".into(),
            media_type: "image/jpeg".into(),
            size: 1_482_113,
            sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
        },
        AttachmentLine {
            name: "note.txt".into(),
            media_type: "text/plain".into(),
            size: 12,
            sha256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae".into(),
        },
    ];
    items[6].reply_to = Some("CUSTOS-000106".into());
    items[6].edits = vec![
        EditLine {
            at: at("2024-06-11T08:31:10Z"),
            text: "Thanks, received. Filled at 12.34 GBP.".into(),
        },
        EditLine {
            at: at("2024-06-11T08:35:00Z"),
            text: "Thanks, received. Filled at 12.34 GBP; contract note to follow.".into(),
        },
    ];
    items[6].status = Some("delivered 09:30".into());
    Transcript {
        title: "WhatsApp: Ana Ruiz / Acme Brokerage".into(),
        subtitle: vec![
            "Custodian: Ben Cole (ben.cole@acme.example)".into(),
            "Export EXP-2026-0001, matter M-77 \"Ruiz v. Acme\"".into(),
        ],
        time_zone: "Europe/London".into(),
        participants: vec![
            Participant {
                id: "+447700900123".into(),
                display: "Ana Ruiz".into(),
                side: Side::External,
            },
            Participant {
                id: "ben.cole@acme.example".into(),
                display: "Ben Cole".into(),
                side: Side::Firm,
            },
            Participant {
                id: "priya.shah@acme.example".into(),
                display: "Priya Shah".into(),
                side: Side::Internal,
            },
        ],
        items,
        footer: "custos export EXP-2026-0001".into(),
    }
}

/// A transcript of `count` short-to-long messages over several days.
fn large(count: usize) -> Transcript {
    let mut t = sample();
    t.items = (0..count)
        .map(|i| {
            let sender = [
                "+447700900123",
                "ben.cole@acme.example",
                "priya.shah@acme.example",
            ][i % 3];
            let sent = Timestamp::from_micros(
                at("2024-06-10T07:00:00Z").as_micros() + i as i64 * 600_000_000,
            );
            let mut it = item(
                &format!("CUSTOS-{:06}", i + 1),
                sender,
                &sent.to_string(),
                &"word ".repeat(1 + i % 40),
            );
            if i % 10 == 0 && i > 0 {
                it.reply_to = Some(format!("CUSTOS-{:06}", i));
            }
            it
        })
        .collect();
    t
}

// ---- golden files ----------------------------------------------------------

fn golden(name: &str, actual: &[u8]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("CUSTOS_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with CUSTOS_BLESS=1 to create it)",
            path.display()
        )
    });
    if expected != actual {
        let at = expected
            .iter()
            .zip(actual)
            .position(|(a, b)| a != b)
            .unwrap_or(expected.len().min(actual.len()));
        panic!(
            "{} differs from the output at byte {at} (expected {} bytes, got {}); \
             if the change is intended, rerun with CUSTOS_BLESS=1 and review the diff",
            path.display(),
            expected.len(),
            actual.len()
        );
    }
}

#[test]
fn golden_html() {
    golden(
        "sample.html",
        custos_transcript::html(&sample()).unwrap().as_bytes(),
    );
}

#[test]
fn golden_pdf() {
    golden("sample.pdf", &custos_transcript::pdf(&sample()).unwrap());
}

#[test]
fn output_is_deterministic() {
    let t = sample();
    assert_eq!(
        custos_transcript::pdf(&t).unwrap(),
        custos_transcript::pdf(&t).unwrap()
    );
    assert_eq!(
        custos_transcript::html(&t).unwrap(),
        custos_transcript::html(&t).unwrap()
    );
}

// ---- a small PDF reader for the checks --------------------------------------

/// What the checks need from a PDF: each object's body by number, and the
/// text drawn on each page, in page order.
struct Parsed {
    objects: BTreeMap<usize, String>,
    pages: Vec<String>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// The integer after `key` in `dict`.
fn int_after(dict: &str, key: &str) -> usize {
    let rest = &dict[dict
        .find(key)
        .unwrap_or_else(|| panic!("no {key} in {dict}"))
        + key.len()..];
    rest.trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Checks the file's structure and reads it: header, `startxref` pointing at
/// the xref table, every in-use entry's offset at "N 0 obj", stream lengths,
/// `/Count` equal to the page objects and the kids.
fn parse(pdf: &[u8]) -> Parsed {
    assert!(pdf.starts_with(b"%PDF-1.7\n"), "header");
    assert!(pdf.ends_with(b"%%EOF\n"), "end marker");
    let sx = rfind(pdf, b"startxref\n").expect("startxref");
    let xref: usize = std::str::from_utf8(&pdf[sx + 10..])
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        pdf[xref..].starts_with(b"xref\n0 "),
        "startxref {xref} does not point at the xref table"
    );
    let table = std::str::from_utf8(&pdf[xref..]).unwrap();
    let size: usize = table.lines().nth(1).unwrap()[2..].parse().unwrap();
    let entries = &pdf[xref + 5 + table.lines().nth(1).unwrap().len() + 1..];
    assert!(
        entries.starts_with(b"0000000000 65535 f\r\n"),
        "free entry 0"
    );
    let trailer = std::str::from_utf8(&entries[20 * size..]).unwrap();
    assert!(
        trailer.starts_with("trailer\n<<"),
        "trailer after {size} entries"
    );
    assert_eq!(int_after(trailer, "/Size"), size);

    let mut objects = BTreeMap::new();
    for number in 1..size {
        let entry = std::str::from_utf8(&entries[20 * number..20 * number + 20]).unwrap();
        assert!(entry.ends_with(" 00000 n\r\n"), "entry {number}: {entry:?}");
        let offset: usize = entry[..10].parse().unwrap();
        let head = format!("{number} 0 obj\n");
        assert!(
            pdf[offset..].starts_with(head.as_bytes()),
            "xref entry {number} points at offset {offset}, not at its object"
        );
        let body_start = offset + head.len();
        let end = body_start + find(&pdf[body_start..], b"endobj\n").expect("endobj");
        let body = &pdf[body_start..end];
        let body = if let Some(s) = find(body, b">>\nstream\n") {
            let dict = std::str::from_utf8(&body[..s + 2]).unwrap();
            let length = int_after(dict, "/Length");
            let data = &body[s + 10..];
            assert!(
                data[length..].starts_with(b"\nendstream\n"),
                "object {number}: /Length {length} is wrong"
            );
            String::from_utf8(data[..length].to_vec()).expect("content streams are ASCII")
        } else {
            String::from_utf8_lossy(body).into_owned()
        };
        objects.insert(number, body);
    }

    let root = int_after(trailer, "/Root");
    let pages_ref = int_after(&objects[&root], "/Pages");
    let tree = &objects[&pages_ref];
    assert!(tree.contains("/Type /Pages"));
    let count = int_after(tree, "/Count");
    let page_objects = objects
        .values()
        .filter(|b| b.contains("/Type /Page "))
        .count();
    assert_eq!(count, page_objects, "/Count and the page objects");
    let kids_text = &tree[tree.find("/Kids [").unwrap() + 7..];
    let kids_text = &kids_text[..kids_text.find(']').unwrap()];
    let kids: Vec<usize> = kids_text
        .split(" 0 R")
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    assert_eq!(kids.len(), count, "/Kids and /Count");
    let pages = kids
        .iter()
        .map(|kid| {
            let page = &objects[kid];
            assert!(page.contains("/MediaBox [0 0 595.28 841.89]"), "A4");
            page_text(&objects[&int_after(page, "/Contents")])
        })
        .collect();
    Parsed { objects, pages }
}

/// The strings shown by `Tj` in a content stream, one per line, decoded from
/// WinAnsi (only Latin-1 matters to these tests).
fn page_text(stream: &str) -> String {
    let mut out = String::new();
    let bytes = stream.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'(' {
            i += 1;
            continue;
        }
        i += 1;
        let mut text = Vec::new();
        while bytes[i] != b')' {
            if bytes[i] == b'\\' {
                i += 1;
                if bytes[i].is_ascii_digit() {
                    let octal = std::str::from_utf8(&bytes[i..i + 3]).unwrap();
                    text.push(u8::from_str_radix(octal, 8).unwrap());
                    i += 3;
                    continue;
                }
            }
            text.push(bytes[i]);
            i += 1;
        }
        i += 1;
        if stream[i..].trim_start().starts_with("Tj") {
            out.extend(text.iter().map(|&b| b as char));
            out.push('\n');
        }
    }
    out
}

#[test]
fn pdf_is_structurally_valid_and_shows_every_message() {
    let t = sample();
    let parsed = parse(&custos_transcript::pdf(&t).unwrap());
    let all: String = parsed.pages.concat();
    for item in &t.items {
        assert!(all.contains(&item.bates), "{} missing", item.bates);
    }
    let total = parsed.pages.len();
    for (i, page) in parsed.pages.iter().enumerate() {
        assert!(
            page.contains(&format!("Page {} of {total}\n", i + 1)),
            "page {}",
            i + 1
        );
        assert!(
            page.contains("custos export EXP-2026-0001\n"),
            "footer on page {}",
            i + 1
        );
    }
    assert!(parsed.pages[0].starts_with("WhatsApp: Ana Ruiz / Acme Brokerage\n"));
    for expected in [
        "Time zone: Europe/London",
        "Ana Ruiz (+447700900123): external (left)",
        "Monday 10 June 2024\n",
        "Tuesday 11 June 2024\n",
        "CUSTOS-000101 \u{b7} 2024-06-10 08:10:56 BST (+01:00)\n",
        "Reply to CUSTOS-000101\n",
        "Priya Shah (internal)\n",
        "Deleted by Ana Ruiz at 2024-06-10 08:16:30 BST (+01:00)\n",
        "Original text:\n",
        "Edited at 2024-06-10 08:15:00 BST (+01:00):\n",
        "Attachment: order-ticket.pdf (application/pdf, 245,760 bytes (240.0 KiB))\n",
        "SHA-256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n",
        "Reactions: [U+1F44D] Ben Cole, [U+1F64F] Ana Ruiz\n",
        "Status: read 08:12\n",
        "S\u{e3}o Paulo",
        "<script>alert('x')</script> & between us [U+1F609]",
        "[U+0928][U+092E]",
    ] {
        assert!(
            all.contains(expected),
            "{expected:?} not in the PDF text:\n{all}"
        );
    }
    let info = parsed
        .objects
        .values()
        .find(|b| b.contains("/Producer"))
        .unwrap();
    // The latest time in the sample: the second edit of the last message.
    assert!(info.contains("/CreationDate (D:20240611083500Z)"), "{info}");
}

#[test]
fn pdf_passes_qpdf_check() {
    let dir = tempfile::tempdir().unwrap();
    for (name, t) in [("sample.pdf", sample()), ("large.pdf", large(300))] {
        let path = dir.path().join(name);
        std::fs::write(&path, custos_transcript::pdf(&t).unwrap()).unwrap();
        let output = match std::process::Command::new("qpdf")
            .arg("--check")
            .arg(&path)
            .output()
        {
            Ok(output) => output,
            Err(e) => {
                println!(
                    "skipped: qpdf is not installed ({e}); `apt-get install -y qpdf` enables this check"
                );
                return;
            }
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("No syntax or stream encoding errors found"),
            "qpdf --check {name}: {}\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

// ---- HTML --------------------------------------------------------------------

#[test]
fn html_escapes_every_text() {
    let mut t = sample();
    t.title = "<b>Title</b> & co".into();
    t.participants[0].display = "Ana <img src=x>".into();
    t.items[0].bates = "B\"1".into();
    let page = custos_transcript::html(&t).unwrap();
    assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; between us 😉"));
    assert!(page.contains("<h1>&lt;b&gt;Title&lt;/b&gt; &amp; co</h1>"));
    assert!(page.contains("Ana &lt;img src=x&gt;"));
    assert!(page.contains("id=\"B&quot;1\""));
    assert!(!page.contains("<script"), "a script element");
    assert!(!page.contains("<img"));
    for needle in ["src=\"http", "href=\"http", "<link", "@import", "url("] {
        assert!(!page.contains(needle), "external resource {needle}");
    }
}

#[test]
fn html_is_one_self_contained_page() {
    let page = custos_transcript::html(&sample()).unwrap();
    assert!(
        page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">")
    );
    assert!(page.contains("<style>") && page.contains("@media print"));
    assert!(page.contains("<div class=\"msg firm\" id=\"CUSTOS-000102\">"));
    assert!(page.contains("<div class=\"msg external\" id=\"CUSTOS-000101\">"));
    assert!(page.contains("<div class=\"msg internal\" id=\"CUSTOS-000104\">"));
    assert!(page.contains("Reply to <a href=\"#CUSTOS-000101\">CUSTOS-000101</a>"));
    assert!(page.contains("<del>General account.</del>"));
    assert!(page.contains("Deleted by Ana Ruiz at 2024-06-10 08:16:30 BST (+01:00)"));
    assert!(page.contains("Reactions: 👍 Ben Cole, 🙏 Ana Ruiz"));
    assert!(page.contains("नमस्ते"));
    assert!(page.ends_with("</html>\n"));
}

// ---- time zones --------------------------------------------------------------

#[test]
fn times_show_the_zone_abbreviation_and_offset() {
    let mut t = sample();
    t.items.truncate(1);
    let page = custos_transcript::html(&t).unwrap();
    assert!(page.contains(
        "<time datetime=\"2024-06-10T07:10:56Z\">2024-06-10 08:10:56 BST (+01:00)</time>"
    ));
    let text = parse(&custos_transcript::pdf(&t).unwrap()).pages.concat();
    assert!(text.contains("2024-06-10 08:10:56 BST (+01:00)"));

    t.time_zone = "America/Sao_Paulo".into();
    let page = custos_transcript::html(&t).unwrap();
    assert!(
        page.contains("\"2024-06-10T07:10:56Z\">2024-06-10 04:10:56 (-03:00)</time>"),
        "São Paulo"
    );
    assert!(page.contains("Time zone: America/Sao_Paulo"));
    let text = parse(&custos_transcript::pdf(&t).unwrap()).pages.concat();
    assert!(text.contains("2024-06-10 04:10:56 (-03:00)"));
}

#[test]
fn an_unknown_zone_is_an_error() {
    let mut t = sample();
    t.time_zone = "Europe/Atlantis".into();
    assert!(
        matches!(custos_transcript::html(&t), Err(Error::TimeZone(z)) if z == "Europe/Atlantis")
    );
    let err = custos_transcript::pdf(&t).unwrap_err();
    assert_eq!(err.to_string(), "unknown time zone \"Europe/Atlantis\"");
}

// ---- size and pagination -----------------------------------------------------

#[test]
fn two_thousand_messages_paginate() {
    let t = large(2000);
    let pdf = custos_transcript::pdf(&t).unwrap();
    let parsed = parse(&pdf);
    let total = parsed.pages.len();
    assert!(total > 20, "only {total} pages");
    let all = parsed.pages.concat();
    for item in &t.items {
        assert!(
            all.contains(&format!("{} \u{b7} ", item.bates)),
            "{} missing",
            item.bates
        );
    }
    assert!(parsed.pages[total - 1].contains(&format!("Page {total} of {total}\n")));
    let html = custos_transcript::html(&t).unwrap();
    assert_eq!(html.matches("<div class=\"msg ").count(), 2000);
}

#[test]
fn a_bubble_taller_than_a_page_continues() {
    let mut t = sample();
    let long: Vec<String> = (1..=150)
        .map(|i| format!("line {i} of a very long message"))
        .collect();
    t.items = vec![item(
        "CUSTOS-000900",
        "ben.cole@acme.example",
        "2024-06-10T09:00:00Z",
        &long.join("\n"),
    )];
    let parsed = parse(&custos_transcript::pdf(&t).unwrap());
    assert_eq!(
        parsed.pages.len(),
        3,
        "150 lines of 12.8 pt over pages of ~735 pt"
    );
    assert!(
        parsed.pages[1].starts_with("CUSTOS-000900 (continued)\n"),
        "{}",
        parsed.pages[1]
    );
    let all = parsed.pages.concat();
    let mut last = 0;
    for i in 1..=150 {
        let at = all
            .find(&format!("line {i} of a very long message\n"))
            .unwrap_or_else(|| panic!("line {i}"));
        assert!(at > last, "line {i} out of order");
        last = at;
    }
}

#[test]
fn an_empty_transcript_still_renders() {
    let mut t = sample();
    t.items.clear();
    let parsed = parse(&custos_transcript::pdf(&t).unwrap());
    assert_eq!(parsed.pages.len(), 1);
    assert!(parsed.pages[0].contains("Page 1 of 1\n"));
    let info = parsed
        .objects
        .values()
        .find(|b| b.contains("/Producer"))
        .unwrap();
    assert!(info.contains("/CreationDate (D:19700101000000Z)"));
}
