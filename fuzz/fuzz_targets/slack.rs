//! A Slack workspace export: the bytes as a zip (unpacked within small
//! limits), and as the day file of an otherwise valid export.
#![no_main]

use custos_capture::slack::{self, SlackOptions};
use custos_capture::whatsapp_export::ZipLimits;
use custos_model::Timestamp;
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

const USERS: &str = r#"[{"id":"U1","team_id":"T1","profile":{"email":"a@firm.example"}},{"id":"U2","team_id":"T2","is_restricted":true}]"#;
const CHANNELS: &str = r#"[{"id":"C1","name":"general","members":["U1","U2"]}]"#;

fuzz_target!(|data: &[u8]| {
    let options = SlackOptions {
        firm_domains: vec!["firm.example".into()],
        captured_at: Timestamp::from_micros(0),
    };
    let limits = ZipLimits {
        max_entries: 64,
        max_total_bytes: 1 << 20,
    };
    if let Ok(files) = slack::read_zip(data, &limits) {
        let _ = slack::parse_export(&files, &options);
    }
    let mut files = BTreeMap::new();
    files.insert("users.json".to_string(), USERS.as_bytes().to_vec());
    files.insert("channels.json".to_string(), CHANNELS.as_bytes().to_vec());
    files.insert("general/2024-06-10.json".to_string(), data.to_vec());
    let _ = slack::parse_export(&files, &options);
});
