//! E-mail: an mbox or `.eml` split into messages, each parsed as
//! `custos import email` and the SMTP listener do (journal reports too).
#![no_main]

use custos_capture::email::{self, Options};
use custos_model::{Digest, Timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let options = Options::new(&["example.com"]);
    let Ok(raws) = email::split(bytes) else {
        return;
    };
    let mut parsed = Vec::new();
    for r in &raws {
        let fallback = r.envelope_date.map(|d| (d, "mbox_from_line"));
        if let Ok(p) =
            email::parse_message(&r.bytes, fallback, &options, Timestamp::from_micros(0), "m")
        {
            // The digests the caller relies on hold.
            assert_eq!(p.message.raw_digest, Digest::of(&p.raw));
            assert_eq!(p.message.attachments.len(), p.attachment_bytes.len());
            for (a, b) in p.message.attachments.iter().zip(&p.attachment_bytes) {
                assert_eq!(a.sha256, Digest::of(b));
            }
            parsed.push(p);
        }
    }
    email::thread(&mut parsed);
});
