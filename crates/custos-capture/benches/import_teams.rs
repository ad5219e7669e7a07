//! Import parsing speed for teams (messages/s): `cargo bench -p custos-capture --bench import_teams`.
//!
//! 100,000 generated Graph `chatMessage` objects (HTML bodies with a
//! mention, some edited, some with a reaction) in pages of 50, as
//! `getAllMessages` returns them, concatenated in one document.

use custos_capture::teams::{self, TeamsOptions};
use custos_model::Timestamp;
use std::time::Instant;

const MESSAGES: usize = 100_000;
const PAGE: usize = 50;

fn input() -> Vec<u8> {
    let mut out = String::new();
    for page in 0..MESSAGES / PAGE {
        let mut items = Vec::with_capacity(PAGE);
        for k in 0..PAGE {
            let n = page * PAGE + k;
            let chat = n % 400;
            let user = n % 37;
            let secs = 1_700_000_000 + n as i64 * 7;
            let at = jiff::Timestamp::from_second(secs).unwrap();
            let mut extra = String::new();
            if n.is_multiple_of(17) {
                extra.push_str(&format!(
                    r#","lastEditedDateTime":"{}""#,
                    jiff::Timestamp::from_second(secs + 60).unwrap()
                ));
            }
            if n.is_multiple_of(13) {
                extra.push_str(&format!(
                    r#","reactions":[{{"reactionType":"like","createdDateTime":"{at}","user":{{"user":{{"id":"u-{}","userIdentityType":"aadUser"}}}}}}]"#,
                    (user + 1) % 37
                ));
            }
            let (kind, tenant) = if user.is_multiple_of(9) {
                ("federatedUser", "t-other")
            } else {
                ("aadUser", "t-firm")
            };
            items.push(format!(
                r#"{{"id":"{n}","messageType":"message","createdDateTime":"{at}","chatId":"19:chat{chat}@thread.v2","importance":"normal","from":{{"user":{{"id":"u-{user}","displayName":"User {user}","userIdentityType":"{kind}","tenantId":"{tenant}"}}}},"body":{{"contentType":"html","content":"<p>Message {n} about the <b>Q2 book</b> &amp; the price of 200 shares, <at id=\"0\">User 1</at></p>"}},"attachments":[],"mentions":[{{"id":0,"mentionText":"User 1","mentioned":{{"user":{{"id":"u-1","userIdentityType":"aadUser","tenantId":"t-firm"}}}}}}]{extra}}}"#
            ));
        }
        out.push_str(&format!(
            "{{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#Collection(chatMessage)\",\"value\":[{}]}}\n",
            items.join(",")
        ));
    }
    out.into_bytes()
}

fn main() {
    let docs = vec![("pages.json".to_string(), input())];
    let options = TeamsOptions {
        firm_domains: vec!["firm.example".into()],
        firm_tenants: vec!["t-firm".into()],
        captured_at: Timestamp::now(),
    };
    let mut best = f64::MAX;
    let mut messages = 0;
    for _ in 0..4 {
        let start = Instant::now();
        let import = teams::parse_documents(&docs, &options).expect("valid input");
        best = best.min(start.elapsed().as_secs_f64());
        messages = import.messages;
        std::hint::black_box(import);
    }
    assert_eq!(messages as usize, MESSAGES);
    println!(
        "teams: parsed {messages} messages ({:.1} MB of Graph pages) in {:.3} s: {:.0} messages/s",
        docs[0].1.len() as f64 / 1e6,
        best,
        messages as f64 / best
    );
}
