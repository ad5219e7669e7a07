//! Import parsing speed for slack (messages/s): `cargo bench -p custos-capture --bench import_slack`.
//!
//! A generated workspace export of 100,000 messages (50 users, 4 guests,
//! 20 channels of 12 members, a reply, an edit mark or a reaction on some)
//! is parsed from its files; then the same export is unpacked from a zip
//! and parsed, as `custos import slack` does.

use custos_capture::slack::{self, SlackOptions};
use custos_model::Timestamp;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

const MESSAGES: usize = 100_000;
const CHANNELS: usize = 20;
const USERS: usize = 50;
const PER_DAY: usize = 250;

fn export() -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let users: Vec<String> = (0..USERS)
        .map(|u| {
            let guest = u % 12 == 11;
            format!(
                r#"{{"id":"U{u:05}","team_id":"T0FIRM","name":"user{u}","is_restricted":{guest},"profile":{{"real_name":"User {u}","email":"user{u}@{}"}}}}"#,
                if guest { "client.example" } else { "firm.example" }
            )
        })
        .collect();
    files.insert(
        "users.json".into(),
        format!("[{}]", users.join(",")).into_bytes(),
    );
    let channels: Vec<String> = (0..CHANNELS)
        .map(|c| {
            let members: Vec<String> = (0..12)
                .map(|k| format!("\"U{:05}\"", (c * 7 + k * 3) % USERS))
                .collect();
            format!(
                r#"{{"id":"C{c:05}","name":"chan-{c}","members":[{}]}}"#,
                members.join(",")
            )
        })
        .collect();
    files.insert(
        "channels.json".into(),
        format!("[{}]", channels.join(",")).into_bytes(),
    );
    let per_channel = MESSAGES / CHANNELS;
    for c in 0..CHANNELS {
        let mut day = 0;
        let mut k = 0;
        while k < per_channel {
            let mut items = Vec::new();
            for _ in 0..PER_DAY.min(per_channel - k) {
                let ts = 1_700_000_000 + day * 86_400 + k as u64;
                let user = (c * 7 + (k % 12) * 3) % USERS;
                let mut extra = String::new();
                if k % 10 == 3 {
                    extra.push_str(&format!(r#","thread_ts":"{}.000100""#, ts - 3));
                }
                if k.is_multiple_of(17) {
                    extra.push_str(&format!(
                        r#","edited":{{"user":"U{user:05}","ts":"{}.000000"}}"#,
                        ts + 60
                    ));
                }
                if k.is_multiple_of(13) {
                    extra.push_str(r#","reactions":[{"name":"thumbsup","users":["U00001","U00002"],"count":2}]"#);
                }
                items.push(format!(
                    r#"{{"type":"message","user":"U{user:05}","text":"Message {k} about the Q2 book and the price of 200 shares, see <@U00001>","ts":"{ts}.000100"{extra}}}"#
                ));
                k += 1;
            }
            let date = jiff::Timestamp::from_second(1_700_000_000 + day as i64 * 86_400)
                .unwrap()
                .strftime("%Y-%m-%d")
                .to_string();
            files.insert(
                format!("chan-{c}/{date}.json"),
                format!("[{}]", items.join(",\n")).into_bytes(),
            );
            day += 1;
        }
    }
    files
}

fn main() {
    let files = export();
    let bytes: usize = files.values().map(Vec::len).sum();
    let options = SlackOptions {
        firm_domains: vec!["firm.example".into()],
        captured_at: Timestamp::now(),
    };
    // Warm up once, then measure the best of three.
    let mut best = f64::MAX;
    let mut messages = 0;
    for _ in 0..4 {
        let start = Instant::now();
        let import = slack::parse_export(&files, &options).expect("valid export");
        best = best.min(start.elapsed().as_secs_f64());
        messages = import.messages;
        std::hint::black_box(import);
    }
    assert_eq!(messages as usize, MESSAGES);
    println!(
        "slack: parsed {messages} messages ({:.1} MB of day files) in {:.3} s: {:.0} messages/s",
        bytes as f64 / 1e6,
        best,
        messages as f64 / best
    );

    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in &files {
        zip.start_file(name.as_str(), o).unwrap();
        zip.write_all(data).unwrap();
    }
    let zipped = zip.finish().unwrap().into_inner();
    let start = Instant::now();
    let unpacked = slack::read_zip(&zipped, &slack::ZIP_LIMITS).expect("valid zip");
    let import = slack::parse_export(&unpacked, &options).expect("valid export");
    let took = start.elapsed().as_secs_f64();
    println!(
        "slack: unpacked ({:.1} MB zip) and parsed {} messages in {:.3} s: {:.0} messages/s",
        zipped.len() as f64 / 1e6,
        import.messages,
        took,
        import.messages as f64 / took
    );
}
