//! Import parsing speed for rsmf (messages/s): `cargo bench -p custos-capture --bench import_rsmf`.
//!
//! Builds one `.rsmf` file of 100,000 messages in 10 conversations (the
//! e-mail, the base64 `rsmf.zip`, the manifest), then times
//! [`rsmf_import::read`] and [`rsmf_import::events`] on it.

use custos_capture::rsmf_import::{self, Limits, Options};
use custos_model::Timestamp;
use std::io::Write;
use std::time::Instant;

const MESSAGES: usize = 100_000;

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + bytes.len() / 38 + 4);
    for (i, chunk) in bytes.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(T[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn file() -> Vec<u8> {
    let mut participants = Vec::new();
    for p in 0..20 {
        participants.push(serde_json::json!({
            "id": format!("P{p}"),
            "display": format!("Person {p}"),
            "account_id": format!("+4477009{p:05}"),
        }));
    }
    let mut conversations = Vec::new();
    for c in 0..10 {
        conversations.push(serde_json::json!({
            "id": format!("C{c}"), "platform": "whatsapp", "type": "direct",
            "participants": [format!("P{}", 2 * c), format!("P{}", 2 * c + 1)],
            "custodian": format!("P{}", 2 * c),
        }));
    }
    let mut events = Vec::with_capacity(MESSAGES);
    for i in 0..MESSAGES {
        let c = i % 10;
        let mut e = serde_json::json!({
            "id": format!("m{i}"), "type": "message",
            "participant": format!("P{}", 2 * c + i % 2), "conversation": format!("C{c}"),
            "timestamp": format!("2024-06-10T{:02}:{:02}:{:02}Z", (i / 3600) % 24, (i / 60) % 60, i % 60),
            "body": format!("Message {i}: can you confirm the order for {} shares at the usual price?", i % 997),
        });
        if i % 10 == 0 {
            e["edits"] = serde_json::json!([{"participant": format!("P{}", 2 * c + i % 2), "new": "edited text"}]);
        }
        if i % 7 == 0 {
            e["read_receipts"] = serde_json::json!([{"participant": format!("P{}", 2 * c + 1 - i % 2), "action": "read"}]);
        }
        events.push(e);
    }
    let manifest = serde_json::json!({
        "version": "2.0.0", "eventcollectionid": "bench",
        "participants": participants, "conversations": conversations, "events": events,
    });
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file(
        "rsmf_manifest.json",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    zip.write_all(&serde_json::to_vec(&manifest).unwrap())
        .unwrap();
    let zip = zip.finish().unwrap().into_inner();
    let mut eml = String::from(
        "From: a@firm.example\r\nX-RSMF-Version: 2.0.0\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\n\
         Content-Type: text/plain\r\n\r\npreview\r\n--B\r\n\
         Content-Type: application/zip; name=\"rsmf.zip\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"rsmf.zip\"\r\n\r\n",
    );
    eml.push_str(&base64(&zip));
    eml.push_str("\r\n--B--\r\n");
    eml.into_bytes()
}

fn main() {
    let bytes = file();
    let firm = |a: &str| a.ends_with('0');
    let options = Options {
        source_name: "bench.rsmf".into(),
        captured_at: Timestamp::from_micros(0),
        is_firm: &firm,
    };
    let limits = Limits::default();
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let file = rsmf_import::read(&bytes, &limits).unwrap();
        let imported = rsmf_import::events(&file, &options, &limits).unwrap();
        let took = start.elapsed().as_secs_f64();
        assert_eq!(imported.messages as usize, MESSAGES);
        best = best.min(took);
    }
    println!(
        "rsmf import: {MESSAGES} messages ({} MB file) in {best:.3} s: {:.0} messages/s",
        bytes.len() / 1_000_000,
        MESSAGES as f64 / best
    );
}
