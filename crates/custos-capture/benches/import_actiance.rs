//! Import parsing speed for actiance (messages/s): `cargo bench -p custos-capture --bench import_actiance`.
//!
//! Builds an Actiance XML export of 100,000 posts in 10 channels (one in
//! ten edited, one in fifty deleted) and times [`actiance::read`] on it.

use custos_capture::actiance::{self, Options};
use custos_capture::rsmf_import::Limits;
use custos_model::Timestamp;
use std::fmt::Write;
use std::time::Instant;

const MESSAGES: usize = 100_000;

fn file() -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<FileDump xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n",
    );
    let per = MESSAGES / 10;
    for c in 0..10 {
        let _ = write!(
            xml,
            "  <Conversation Perspective=\"Channel {c}\">\n    <RoomID>public - channel{c} - ch{c}</RoomID>\n    <StartTimeUTC>1718000000000</StartTimeUTC>\n"
        );
        for u in 0..5 {
            let _ = write!(
                xml,
                "    <ParticipantEntered>\n      <LoginName>user{u}@firm.example</LoginName>\n      <UserType>user</UserType>\n      <DateTimeUTC>1718000000000</DateTimeUTC>\n      <CorporateEmailID>user{u}@firm.example</CorporateEmailID>\n    </ParticipantEntered>\n"
            );
        }
        for i in 0..per {
            let n = c * per + i;
            let at = 1_718_000_000_000u64 + n as u64 * 1000;
            let updated = if n.is_multiple_of(10) {
                Some("EditedNewMsg")
            } else if n % 50 == 1 {
                Some("Deleted")
            } else {
                None
            };
            let extra = updated.map_or(String::new(), |kind| {
                format!(
                    "      <UpdatedType>{kind}</UpdatedType>\n      <UpdatedDateTimeUTC>{}</UpdatedDateTimeUTC>\n",
                    at + 500
                )
            });
            let _ = write!(
                xml,
                "    <Message>\n      <MessageId>post{n}</MessageId>\n      <LoginName>user{}@firm.example</LoginName>\n      <UserType>user</UserType>\n      <DateTimeUTC>{at}</DateTimeUTC>\n{extra}      <Content>Post {n}: the price for {} lots is &lt;firm&gt; &amp; final</Content>\n    </Message>\n",
                n % 5,
                n % 997
            );
        }
        xml.push_str("    <EndTimeUTC>1718086399000</EndTimeUTC>\n  </Conversation>\n");
    }
    xml.push_str("</FileDump>\n");
    xml
}

fn main() {
    let xml = file();
    let firm = |a: &str| a.ends_with("@firm.example");
    let options = Options {
        channel: "mattermost".into(),
        captured_at: Timestamp::from_micros(0),
        is_firm: &firm,
    };
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let export =
            actiance::read("bench.xml", xml.as_bytes(), &options, &Limits::default()).unwrap();
        best = best.min(start.elapsed().as_secs_f64());
        assert_eq!(export.imported.messages as usize, MESSAGES);
    }
    println!(
        "actiance import: {MESSAGES} messages ({} MB XML) in {best:.3} s: {:.0} messages/s",
        xml.len() / 1_000_000,
        MESSAGES as f64 / best
    );
}
