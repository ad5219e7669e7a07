//! Twilio webhook parsing speed (messages/s): decoding and parsing 100,000
//! generated inbound form bodies, as the server does per request.
//! `cargo bench -p custos-capture --bench import_twilio`

use custos_capture::twilio;
use custos_model::Timestamp;
use std::time::Instant;

const MESSAGES: usize = 100_000;

/// A body shaped like Twilio's inbound SMS webhook (every fifth one a
/// WhatsApp message with one media item).
fn body(i: usize) -> String {
    if i.is_multiple_of(5) {
        format!(
            "SmsMessageSid=MM{i:032x}&NumMedia=1&ProfileName=Customer+{i}&MessageType=image&SmsSid=MM{i:032x}\
             &WaId=55119{i:08}&SmsStatus=received&Body=Photo+of+the+signed+contract+number+{i}\
             &To=whatsapp%3A%2B14155238886&MediaContentType0=image%2Fjpeg\
             &MediaUrl0=https%3A%2F%2Fapi.twilio.com%2F2010-04-01%2FAccounts%2FACba8bc05eacf94afdae398e642c9cc32d%2FMessages%2FMM{i:032x}%2FMedia%2FME{i:032x}\
             &NumSegments=1&MessageSid=MM{i:032x}&AccountSid=ACba8bc05eacf94afdae398e642c9cc32d\
             &From=whatsapp%3A%2B55119{i:08}&ApiVersion=2010-04-01"
        )
    } else {
        format!(
            "ToCountry=US&ToState=CA&SmsMessageSid=SM{i:032x}&NumMedia=0&ToCity=SAN+FRANCISCO&FromZip=94107\
             &SmsSid=SM{i:032x}&FromState=CA&SmsStatus=received&FromCity=SAN+FRANCISCO\
             &Body=Can+we+move+the+call+about+order+{i}+to+Thursday%3F&FromCountry=US&To=%2B14158141819\
             &ToZip=94105&NumSegments=1&MessageSid=SM{i:032x}&AccountSid=ACba8bc05eacf94afdae398e642c9cc32d\
             &From=%2B1415{i:07}&ApiVersion=2010-04-01"
        )
    }
}

fn main() {
    let bodies: Vec<String> = (0..MESSAGES).map(body).collect();
    let bytes: usize = bodies.iter().map(String::len).sum();
    let now = Timestamp::now();
    let start = Instant::now();
    let mut messages = 0;
    for b in &bodies {
        let params = twilio::form_params(b.as_bytes()).expect("generated bodies decode");
        let parsed = twilio::parse(&params, b.as_bytes(), now).expect("generated bodies parse");
        messages += parsed.events.len();
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(messages, MESSAGES);
    println!(
        "twilio webhook parsing: {messages} messages ({:.1} MB of form bodies) in {secs:.3} s: {:.0} messages/s",
        bytes as f64 / 1e6,
        messages as f64 / secs
    );
}
