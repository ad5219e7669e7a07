//! Properties of the generated demo archive, checked through the public API.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use custos_demo::{DemoConfig, generate, write_jsonl};
use serde_json::Value;

/// The default 5,000-message archive, parsed once for all tests.
fn sample() -> &'static [(String, Value)] {
    static SAMPLE: OnceLock<Vec<(String, Value)>> = OnceLock::new();
    SAMPLE.get_or_init(|| {
        generate(&DemoConfig::default())
            .map(|line| {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                (line, value)
            })
            .collect()
    })
}

fn str_field<'a>(m: &'a Value, key: &str) -> &'a str {
    m[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing or not a string in {m}"))
}

fn text(m: &Value) -> &str {
    m["text"].as_str().unwrap_or("")
}

#[test]
fn default_config() {
    assert_eq!(
        DemoConfig::default(),
        DemoConfig {
            seed: 2026,
            messages: 5_000
        }
    );
}

#[test]
fn same_seed_gives_identical_bytes() {
    let config = DemoConfig {
        seed: 99,
        messages: 3_000,
    };
    let a: Vec<String> = generate(&config).collect();
    let b: Vec<String> = generate(&config).collect();
    assert_eq!(a, b);

    let mut written = Vec::new();
    assert_eq!(write_jsonl(&config, &mut written).unwrap(), 3_000);
    let mut expected = a.join("\n");
    expected.push('\n');
    assert_eq!(String::from_utf8(written).unwrap(), expected);
}

#[test]
fn different_seeds_differ() {
    let a: Vec<String> = generate(&DemoConfig {
        seed: 1,
        messages: 200,
    })
    .collect();
    let b: Vec<String> = generate(&DemoConfig {
        seed: 2,
        messages: 200,
    })
    .collect();
    assert_ne!(a, b);
    let shared = a.iter().filter(|line| b.contains(line)).count();
    assert_eq!(shared, 0, "different seeds should not share whole lines");
}

#[test]
fn exact_count() {
    for messages in [0, 1, 2, 17, 1_234] {
        let config = DemoConfig { seed: 5, messages };
        let lines: Vec<String> = generate(&config).collect();
        assert_eq!(lines.len(), messages);
        assert!(lines.iter().all(|l| !l.contains('\n') && !l.is_empty()));
        let mut out = Vec::new();
        assert_eq!(write_jsonl(&config, &mut out).unwrap(), messages as u64);
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), messages);
    }
    assert_eq!(sample().len(), 5_000);
}

#[test]
fn streams_lazily() {
    // An absurd count costs nothing until lines are pulled.
    let config = DemoConfig {
        seed: 3,
        messages: usize::MAX / 4,
    };
    let first: Vec<String> = generate(&config).take(50).collect();
    assert_eq!(first.len(), 50);
}

#[test]
fn every_line_is_well_formed() {
    let year_start: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let year_end: jiff::Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
    for (line, m) in sample() {
        let channel = str_field(m, "channel");
        assert!(matches!(channel, "whatsapp" | "sms" | "email"), "{line}");
        assert!(!str_field(m, "id").is_empty());
        assert!(!str_field(m, "conversation").is_empty());
        let direction = str_field(m, "direction");
        assert!(
            matches!(direction, "inbound" | "outbound" | "internal"),
            "{line}"
        );

        let sent_at = str_field(m, "sent_at");
        let ts: jiff::Timestamp = sent_at.parse().unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(ts >= year_start && ts < year_end, "{line}");
        assert_eq!(sent_at.len(), 20, "seconds precision, UTC: {sent_at}");
        assert!(sent_at.ends_with('Z'));
        assert_eq!(ts.to_string(), sent_at);

        let from = str_field(m, "from");
        let to = m["to"].as_array().expect("to is an array");
        assert!(!to.is_empty(), "{line}");
        for address in std::iter::once(from).chain(to.iter().map(|v| v.as_str().unwrap())) {
            if channel == "email" {
                let domain = address.split_once('@').expect("e-mail address").1;
                assert!(
                    [".example.com", ".example.org", "example.net"]
                        .iter()
                        .any(|d| domain.ends_with(d)),
                    "{address}"
                );
            } else {
                assert!(address.starts_with('+'), "{address}");
                assert!(
                    address[1..].bytes().all(|b| b.is_ascii_digit()),
                    "{address}"
                );
                assert!(
                    address.starts_with("+447700900")
                        || address.starts_with("+3363998")
                        || address.starts_with("+55119")
                        || address.starts_with("+9198"),
                    "{address}"
                );
            }
            assert!(
                !to.iter().any(|t| t.as_str() == Some(from)),
                "sent to self: {line}"
            );
        }

        match m.get("text") {
            Some(t) => assert!(!t.as_str().expect("text is a string").is_empty()),
            None => assert!(
                m.get("attachments").is_some(),
                "no text, no attachment: {line}"
            ),
        }
        if let Some(attachments) = m.get("attachments") {
            let attachments = attachments.as_array().expect("attachments array");
            assert!(!attachments.is_empty());
            for a in attachments {
                let name = str_field(a, "name");
                assert!(name.contains('.') && !name.contains('{'), "{name}");
                assert!(str_field(a, "media_type").contains('/'));
                let sha = str_field(a, "sha256");
                assert_eq!(sha.len(), 64, "{sha}");
                assert!(
                    sha.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                );
                assert!(a["size"].as_u64().expect("size") > 0);
            }
        }
        assert!(!text(m).contains(['{', '}']), "unfilled template: {line}");
        for extra in ["from_name", "desk", "business_unit"] {
            assert!(!str_field(m, extra).is_empty());
        }
        if channel == "email" {
            assert!(!str_field(m, "subject").is_empty());
        }
    }
}

#[test]
fn ids_unique_and_replies_point_back() {
    let mut seen: HashMap<(&str, &str), &str> = HashMap::new(); // (channel, id) -> conversation
    let mut replies = 0;
    for (line, m) in sample() {
        let channel = str_field(m, "channel");
        let id = str_field(m, "id");
        let conversation = str_field(m, "conversation");
        if let Some(reply_to) = m.get("reply_to") {
            let reply_to = reply_to.as_str().expect("reply_to is a string");
            assert_eq!(
                seen.get(&(channel, reply_to)),
                Some(&conversation),
                "reply_to not an earlier message of the conversation: {line}"
            );
            replies += 1;
        }
        assert!(
            seen.insert((channel, id), conversation).is_none(),
            "duplicate id: {line}"
        );
    }
    assert!(replies > 100, "only {replies} replies");
}

#[test]
fn conversations_are_ordered_threads() {
    let mut last: HashMap<&str, jiff::Timestamp> = HashMap::new();
    let mut sizes: HashMap<&str, usize> = HashMap::new();
    let mut channel_of: HashMap<&str, &str> = HashMap::new();
    let mut previous: Option<jiff::Timestamp> = None;
    for (line, m) in sample() {
        let conversation = str_field(m, "conversation");
        let ts: jiff::Timestamp = str_field(m, "sent_at").parse().unwrap();
        if let Some(before) = last.insert(conversation, ts) {
            assert!(
                before <= ts,
                "time went backwards in {conversation}: {line}"
            );
        }
        // The archive as a whole is in chronological order too.
        assert!(previous.is_none_or(|p| p <= ts), "{line}");
        previous = Some(ts);
        *sizes.entry(conversation).or_default() += 1;
        let channel = str_field(m, "channel");
        assert_eq!(*channel_of.entry(conversation).or_insert(channel), channel);
    }
    assert!(sizes.values().all(|&n| n <= 30));
    let short = sizes.values().filter(|&&n| n < 3).count();
    assert!(short <= 5, "{short} conversations cut short");
    assert!(sizes.len() > 300, "{} conversations", sizes.len());
    assert!(sizes.values().any(|&n| n >= 17), "no long threads");
}

#[test]
fn realistic_mix() {
    let count = |f: &dyn Fn(&Value) -> bool| sample().iter().filter(|(_, m)| f(m)).count();
    let n = sample().len();
    let whatsapp = count(&|m| m["channel"] == "whatsapp");
    let sms = count(&|m| m["channel"] == "sms");
    let email = count(&|m| m["channel"] == "email");
    assert!(whatsapp > n / 2, "whatsapp {whatsapp}");
    assert!(sms > n / 50 && email > n / 20, "sms {sms}, email {email}");
    for direction in ["inbound", "outbound", "internal"] {
        assert!(
            count(&|m| m["direction"] == direction) > n / 20,
            "{direction}"
        );
    }
    for unit in ["Harrowgate", "Vitalis", "Kirana"] {
        let k = count(&|m| m["business_unit"].as_str().unwrap().starts_with(unit));
        assert!(k > n / 6, "{unit}: {k}");
    }
    let attachments = count(&|m| m.get("attachments").is_some());
    assert!(attachments > n / 50 && attachments < n / 8, "{attachments}");
    let sundays = count(&|m| {
        let ts: jiff::Timestamp = m["sent_at"].as_str().unwrap().parse().unwrap();
        // 1970-01-01 was a Thursday; 6 = Sunday counting from Monday = 0.
        (ts.as_second().div_euclid(86_400) + 3).rem_euclid(7) == 6
    });
    assert!(sundays < n / 30, "{sundays} messages on Sundays");
}

#[test]
fn portuguese_and_hinglish_text() {
    let texts: Vec<&str> = sample().iter().map(|(_, m)| text(m)).collect();
    let accented = texts
        .iter()
        .filter(|t| t.contains(['ã', 'ç', 'é', 'ê', 'á', 'ó', 'í', 'ú', 'õ', 'â']))
        .count();
    assert!(
        accented > 400,
        "{accented} messages with Portuguese accents"
    );
    assert!(texts.iter().any(|t| t.contains("não")));
    assert!(texts.iter().any(|t| t.contains("ção")));
    let hinglish = texts
        .iter()
        .filter(|t| t.contains(" hai") || t.contains("kya") || t.contains("nahi"))
        .count();
    assert!(hinglish > 30, "{hinglish} Hinglish messages");
}

/// What a supervision policy would look for, by kind.
const POLICY: &[(&str, &[&str])] = &[
    (
        "off-channel",
        &["signal", "telegram", "personal number", "número pessoal"],
    ),
    ("guaranteed returns", &["guarantee", "garantia de retorno"]),
    ("inducements", &["presente", "viagem", "jantar"]),
    ("card number", &["card number", "card no"]),
    ("personal data", &["cpf"]),
    ("bank details", &["iban"]),
    (
        "complaints",
        &[
            "unacceptable",
            "absurdo",
            "insatisfeito",
            "consumer forum",
            "pathetic",
        ],
    ),
    (
        "record destruction",
        &["delete this chat", "delete kar", "apaga"],
    ),
    ("market abuse", &["push the fix"]),
];

#[test]
fn policy_relevant_content_at_a_sane_rate() {
    let mut flagged = 0;
    let mut kinds: HashMap<&str, usize> = HashMap::new();
    for (_, m) in sample() {
        let lower = text(m).to_lowercase();
        let mut any = false;
        for (kind, phrases) in POLICY {
            if phrases.iter().any(|p| lower.contains(p)) {
                *kinds.entry(kind).or_default() += 1;
                any = true;
            }
        }
        flagged += usize::from(any);
    }
    let rate = flagged as f64 / sample().len() as f64;
    assert!((0.025..=0.06).contains(&rate), "policy rate {rate:.4}");
    for (kind, _) in POLICY.iter().filter(|(k, _)| *k != "market abuse") {
        assert!(
            kinds.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} in {kinds:?}"
        );
    }
}

fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn cpf_valid(digits: &[u8]) -> bool {
    if digits.len() != 11 || digits.iter().all(|&d| d == digits[0]) {
        return false;
    }
    let check = |n: usize| {
        let sum: usize = (0..n).map(|i| usize::from(digits[i]) * (n + 1 - i)).sum();
        let r = sum * 10 % 11;
        (if r == 10 { 0 } else { r }) as u8
    };
    check(9) == digits[9] && check(10) == digits[10]
}

fn iban_valid(iban: &str) -> bool {
    let compact: String = iban.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() < 15 || !compact.chars().all(|c| c.is_ascii_alphanumeric()) {
        return false;
    }
    let rearranged = format!("{}{}", &compact[4..], &compact[..4]);
    let mut rem = 0u32;
    for c in rearranged.chars() {
        let v = c.to_digit(36).unwrap();
        rem = if v < 10 {
            (rem * 10 + v) % 97
        } else {
            (rem * 100 + v) % 97
        };
    }
    rem == 1
}

/// Card-like numbers: 4-4-4-4 or 4-6-5 groups of digits separated by spaces
/// (IBANs, whose groups look alike, are left out).
fn card_numbers(text: &str) -> Vec<Vec<u8>> {
    let mut text = text.to_owned();
    for iban in ibans(&text.clone()) {
        text = text.replace(&iban, "");
    }
    let tokens: Vec<&str> = text
        .split_whitespace()
        .map(|t| t.trim_end_matches([',', '.', ';']))
        .collect();
    let mut found = Vec::new();
    for start in 0..tokens.len() {
        for shape in [&[4, 4, 4, 4][..], &[4, 6, 5][..]] {
            let Some(group) = tokens.get(start..start + shape.len()) else {
                continue;
            };
            if group
                .iter()
                .zip(shape)
                .all(|(t, &len)| t.len() == len && t.bytes().all(|b| b.is_ascii_digit()))
            {
                found.push(group.concat().bytes().map(|b| b - b'0').collect());
            }
        }
    }
    found
}

/// CPFs written as 123.456.789-09.
fn cpf_numbers(text: &str) -> Vec<Vec<u8>> {
    let b = text.as_bytes();
    let mut found = Vec::new();
    for start in 0..b.len().saturating_sub(13) {
        let w = &b[start..start + 14];
        let shape_ok = w.iter().enumerate().all(|(i, &c)| match i {
            3 | 7 => c == b'.',
            11 => c == b'-',
            _ => c.is_ascii_digit(),
        });
        if shape_ok {
            found.push(
                w.iter()
                    .filter(|c| c.is_ascii_digit())
                    .map(|c| c - b'0')
                    .collect(),
            );
        }
    }
    found
}

/// IBANs written after the word "IBAN".
fn ibans(text: &str) -> Vec<String> {
    text.match_indices("IBAN ")
        .map(|(i, _)| {
            text[i + 5..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == ' ')
                .collect::<String>()
                .trim()
                .to_owned()
        })
        .collect()
}

#[test]
fn validators_work() {
    assert!(luhn_valid(&[
        4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
    ]));
    assert!(!luhn_valid(&[
        4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2
    ]));
    assert!(cpf_valid(&[5, 2, 9, 9, 8, 2, 2, 4, 7, 2, 5]));
    assert!(!cpf_valid(&[5, 2, 9, 9, 8, 2, 2, 4, 7, 2, 6]));
    assert!(!cpf_valid(&[1; 11]));
    assert!(iban_valid("GB82 WEST 1234 5698 7654 32"));
    assert!(!iban_valid("GB82 WEST 1234 5698 7654 33"));
    assert_eq!(card_numbers("card no 3782 822463 10005, exp").len(), 1);
    assert!(card_numbers("IBAN ES91 2100 0418 4502 0005 1332.").is_empty());
    assert_eq!(cpf_numbers("CPF 529.982.247-25.").len(), 1);
    assert_eq!(
        ibans("IBAN FR14 2004 1010 0505 0001 3M02 606."),
        ["FR14 2004 1010 0505 0001 3M02 606"]
    );
}

#[test]
fn embedded_cards_cpfs_and_ibans_validate() {
    let (mut cards, mut cpfs, mut iban_count) = (0, 0, 0);
    // A larger sample so that every kind shows up several times.
    for line in generate(&DemoConfig {
        seed: 11,
        messages: 20_000,
    })
    .chain(sample().iter().map(|(line, _)| line.clone()))
    {
        let m: Value = serde_json::from_str(&line).unwrap();
        let t = text(&m);
        for card in card_numbers(t) {
            assert!(luhn_valid(&card), "card fails Luhn: {t}");
            cards += 1;
        }
        for cpf in cpf_numbers(t) {
            assert!(cpf_valid(&cpf), "bad CPF: {t}");
            cpfs += 1;
        }
        for iban in ibans(t) {
            assert!(iban_valid(&iban), "bad IBAN {iban:?}: {t}");
            iban_count += 1;
        }
    }
    assert!(
        cards >= 10 && cpfs >= 5 && iban_count >= 5,
        "{cards} cards, {cpfs} CPFs, {iban_count} IBANs"
    );
}

#[test]
fn fictional_identities_only() {
    let mut names = HashSet::new();
    for (line, m) in sample() {
        names.insert(str_field(m, "from_name"));
        // No real-looking domains or URLs.
        for word in text(m).split_whitespace() {
            if word.contains("://") {
                assert!(word.contains(".example.com/"), "{line}");
            }
        }
    }
    assert!(names.len() > 200, "{} distinct senders", names.len());
}
