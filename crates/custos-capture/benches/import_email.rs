//! Import parsing speed for e-mail (messages/s): an mbox of 100,000
//! generated messages (a third with a small attachment, replies threaded by
//! In-Reply-To) split, parsed and threaded as `custos import email` does
//! before it writes anything.
//!
//! `cargo bench -p custos-capture --bench import_email`

use custos_capture::email::{self, Options};
use custos_model::Timestamp;
use std::fmt::Write;
use std::time::Instant;

const MESSAGES: usize = 100_000;

fn mbox() -> Vec<u8> {
    let mut out = String::with_capacity(MESSAGES * 700);
    for i in 0..MESSAGES {
        let (from, to) = if i.is_multiple_of(2) {
            ("ana.souza@client.example.org", "bruno.lima@example.com")
        } else {
            ("bruno.lima@example.com", "ana.souza@client.example.org")
        };
        let minute = i % 60;
        let _ = write!(
            out,
            "From {from} Tue Mar  5 09:{minute:02}:00 2024\n\
             From: Someone <{from}>\n\
             To: <{to}>\n\
             Subject: Deal {t}\n\
             Date: Tue, 5 Mar 2024 09:{minute:02}:00 -0300\n\
             Message-ID: <m{i}@mail.example.org>\n",
            t = i / 10
        );
        if !i.is_multiple_of(10) {
            let _ = writeln!(out, "In-Reply-To: <m{}@mail.example.org>", i - 1);
        }
        if i.is_multiple_of(3) {
            let _ = write!(
                out,
                "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n\
                 --b\nContent-Type: text/plain; charset=utf-8\n\n\
                 Message {i}: the price for lot {i} is 12.5, delivery in March.\n\
                 --b\nContent-Type: application/pdf; name=\"lot-{i}.pdf\"\n\
                 Content-Transfer-Encoding: base64\n\n\
                 JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSPj4Kc3RyZWFtCg==\n\
                 --b--\n\n"
            );
        } else {
            let _ = write!(
                out,
                "\nMessage {i}: the price for lot {i} is 12.5, delivery in March.\n\
                 >From the desk: agreed.\n\n"
            );
        }
    }
    out.into_bytes()
}

fn main() {
    let input = mbox();
    let options = Options::new(&["example.com"]);
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let raws = email::split(&input).expect("a valid mbox");
        let mut parsed = Vec::with_capacity(raws.len());
        for r in &raws {
            let p = email::parse_message(
                &r.bytes,
                r.envelope_date.map(|d| (d, "mbox_from_line")),
                &options,
                Timestamp::from_micros(0),
                "bench",
            )
            .expect("a valid message");
            parsed.push(p);
        }
        email::thread(&mut parsed);
        assert_eq!(parsed.len(), MESSAGES);
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!(
        "email: {MESSAGES} messages ({} MB mbox) split, parsed and threaded in {:.3} s: {:.0} messages/s",
        input.len() / 1_000_000,
        best,
        MESSAGES as f64 / best
    );
}
