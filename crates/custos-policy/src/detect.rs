//! Detectors of personal and payment data: each is a function from a text
//! to the byte spans where it finds something, with the checks that keep
//! near-misses out (Luhn for cards, mod-97 for IBANs, check digits for
//! CPFs, the never-issued ranges of SSNs).
//!
//! They work on bytes, never allocate for text without digits or `@`, and
//! are run only when an active policy names them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A detector a policy can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detector {
    /// Payment card numbers: 13 to 19 digits passing the Luhn check, in
    /// one block or in the groups cards are printed in (single spaces or
    /// hyphens between), not right after `+`; an expiry or CVV typed after
    /// the number does not hide it.
    PaymentCard,
    /// IBANs: a country code, two check digits and the country's length,
    /// spaces between groups allowed, either case, passing mod-97.
    Iban,
    /// US social security numbers written `AAA-GG-SSSS`, outside the
    /// never-issued ranges.
    UsSsn,
    /// Brazilian CPF numbers (`123.456.789-09` or 11 digits) whose two check
    /// digits are right.
    BrCpf,
    /// E-mail addresses.
    Email,
    /// Telephone numbers: `+` and 8 to 15 digits, or 10 or 11 digits in the
    /// usual groupings.
    Phone,
}

impl Detector {
    /// Every detector.
    pub const ALL: [Detector; 6] = [
        Self::PaymentCard,
        Self::Iban,
        Self::UsSsn,
        Self::BrCpf,
        Self::Email,
        Self::Phone,
    ];

    /// The name policies use.
    pub fn name(self) -> &'static str {
        match self {
            Self::PaymentCard => "payment_card",
            Self::Iban => "iban",
            Self::UsSsn => "us_ssn",
            Self::BrCpf => "br_cpf",
            Self::Email => "email",
            Self::Phone => "phone",
        }
    }

    /// The spans of `text` this detector finds.
    pub fn find(self, text: &str) -> Vec<(usize, usize)> {
        match self {
            Self::PaymentCard => payment_card(text),
            Self::Iban => iban(text),
            Self::UsSsn => us_ssn(text),
            Self::BrCpf => br_cpf(text),
            Self::Email => email(text),
            Self::Phone => phone(text),
        }
    }
}

impl fmt::Display for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Detector {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|d| d.name() == name)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|d| d.name()).collect();
                format!(
                    "unknown detector {name:?}: expected one of {}",
                    names.join(", ")
                )
            })
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

/// Whether a token starting at `start` is not glued to a word before it.
fn starts_clean(bytes: &[u8], start: usize) -> bool {
    start == 0 || !is_word_byte(bytes[start - 1])
}

/// Whether a token ending at `end` is not glued to a word after it.
fn ends_clean(bytes: &[u8], end: usize) -> bool {
    end >= bytes.len() || !is_word_byte(bytes[end])
}

/// A run of digits from `start` with at most `max_sep` separator bytes
/// from `seps` between two digits: its end and its digits.
fn digit_run(bytes: &[u8], start: usize, seps: &[u8], max_sep: usize) -> (usize, Vec<u8>) {
    let mut digits = Vec::new();
    let mut i = start;
    let mut end = start;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            digits.push(bytes[i] - b'0');
            i += 1;
            end = i;
            continue;
        }
        let mut j = i;
        while j < bytes.len() && j - i < max_sep && seps.contains(&bytes[j]) {
            j += 1;
        }
        if j > i && j < bytes.len() && bytes[j].is_ascii_digit() && !digits.is_empty() {
            i = j;
        } else {
            break;
        }
    }
    (end, digits)
}

/// Every maximal digit run (as [`digit_run`]) that stands alone as a word.
fn runs(text: &str, seps: &[u8], max_sep: usize) -> Vec<(usize, usize, Vec<u8>)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() && starts_clean(bytes, i) {
            let (end, digits) = digit_run(bytes, i, seps, max_sep);
            if ends_clean(bytes, end) {
                out.push((i, end, digits));
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// Whether `digits` pass the Luhn check.
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut d = u32::from(d);
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// Whether digit groups (their lengths, in order) are printed the way
/// cards are: one block, groups of four with a last group of one to four
/// (`4111 1111 1111 1111`, 13 digits as 4-4-4-1, 19 as 4-4-4-4-3), or
/// 4-6-5 (American Express) and 4-6-4 (Diners Club). A phone number's
/// groups (`55 11 94495-4230`, `0044 20 7946 0958`) are not.
fn card_grouping(groups: &[usize]) -> bool {
    match groups {
        [] => false,
        [_] | [4, 6, 5] | [4, 6, 4] => true,
        [init @ .., last] => init.iter().all(|&g| g == 4) && (1..=4).contains(last),
    }
}

/// Digits the card detector lets follow a card number in the same run of
/// digits: an expiry (`06 27`, `0627`) or a CVV typed after it. A longer
/// tail makes the run an account or reference number, not a card.
const CARD_TAIL: usize = 4;

/// Payment card numbers: 13-19 digits passing Luhn, one block or grouped
/// as cards are printed (see [`card_grouping`]).
///
/// A run of digits that fails whole may be a card with something typed
/// after it (`4111 1111 1111 1111 06/27`): its leading groups are tried,
/// longest first, when at most [`CARD_TAIL`] digits are left over. The
/// month of a date right after the run (`06` of `06/27`) and the year of
/// one right before it (`27` of `06/27 4111...`) are never card digits. A
/// run right after `+` is an international phone number, never a card.
pub fn payment_card(text: &str) -> Vec<(usize, usize)> {
    if !text.bytes().any(|b| b.is_ascii_digit()) {
        return Vec::new();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    for (start, end, _) in runs(text, b" -", 1) {
        if start > 0 && bytes[start - 1] == b'+' {
            continue;
        }
        // The run's groups of digits as byte ranges (separators are one
        // byte, so each group ends where the next one starts minus one).
        let mut groups = Vec::new();
        let mut from = start;
        for (i, b) in (start..end).zip(&bytes[start..end]) {
            if !b.is_ascii_digit() {
                groups.push((from, i));
                from = i + 1;
            }
        }
        groups.push((from, end));
        let len = |g: &(usize, usize)| g.1 - g.0;
        let mut first = 0;
        let mut last = groups.len();
        let date_year_before =
            start >= 2 && bytes[start - 1] == b'/' && bytes[start - 2].is_ascii_digit();
        if last > 1 && date_year_before && matches!(len(&groups[0]), 2 | 4) {
            first = 1;
        }
        let date_month_after =
            bytes.get(end) == Some(&b'/') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
        if last > first + 1 && date_month_after && len(&groups[last - 1]) <= 2 {
            last -= 1;
        }
        for k in (first + 1..=last).rev() {
            let tail: usize = groups[k..last].iter().map(len).sum();
            if tail > CARD_TAIL {
                break;
            }
            let candidate = &groups[first..k];
            let lens: Vec<usize> = candidate.iter().map(len).collect();
            let count: usize = lens.iter().sum();
            if !(13..=19).contains(&count) || !card_grouping(&lens) {
                continue;
            }
            let digits: Vec<u8> = candidate
                .iter()
                .flat_map(|&(s, e)| bytes[s..e].iter().map(|b| b - b'0'))
                .collect();
            if luhn(&digits) {
                out.push((candidate[0].0, candidate[candidate.len() - 1].1));
                break;
            }
        }
    }
    out
}

/// US social security numbers, `AAA-GG-SSSS`, excluding area 000, 666 and
/// 900-999, group 00 and serial 0000.
pub fn us_ssn(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    if bytes.len() < 11 {
        return out;
    }
    for start in 0..=bytes.len() - 11 {
        let w = &bytes[start..start + 11];
        let shape = w.iter().enumerate().all(|(i, &b)| {
            if i == 3 || i == 6 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
        if !shape || !starts_clean(bytes, start) || !ends_clean(bytes, start + 11) {
            continue;
        }
        let num = |r: std::ops::Range<usize>| {
            w[r].iter().fold(0u32, |n, &b| n * 10 + u32::from(b - b'0'))
        };
        let (area, group, serial) = (num(0..3), num(4..6), num(7..11));
        if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
            continue;
        }
        out.push((start, start + 11));
    }
    out
}

/// Whether 11 CPF digits have the right check digits (and are not all
/// the same digit, which passes the arithmetic but is never issued).
pub fn cpf_valid(d: &[u8]) -> bool {
    if d.len() != 11 || d.iter().all(|&x| x == d[0]) {
        return false;
    }
    let check = |n: usize| {
        let sum: u32 = (0..n)
            .map(|i| u32::from(d[i]) * (n as u32 + 1 - i as u32))
            .sum();
        let r = (sum * 10) % 11;
        if r == 10 { 0 } else { r as u8 }
    };
    check(9) == d[9] && check(10) == d[10]
}

/// Brazilian CPFs: `ddd.ddd.ddd-dd` or 11 bare digits with valid check
/// digits.
pub fn br_cpf(text: &str) -> Vec<(usize, usize)> {
    if !text.bytes().any(|b| b.is_ascii_digit()) {
        return Vec::new();
    }
    let bytes = text.as_bytes();
    runs(text, b".-", 1)
        .into_iter()
        .filter(|(s, e, d)| {
            let raw = &bytes[*s..*e];
            let shaped = raw.len() == 11
                || (raw.len() == 14 && raw[3] == b'.' && raw[7] == b'.' && raw[11] == b'-');
            shaped && cpf_valid(d)
        })
        .map(|(s, e, _)| (s, e))
        .collect()
}

/// IBAN lengths by country code (the SWIFT IBAN registry).
const IBAN_LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NL", 18),
    (b"NO", 15),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"SA", 24),
    (b"SC", 31),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
];

/// The registered length of IBANs of a country code, in either case.
fn iban_length(code: &[u8]) -> Option<usize> {
    IBAN_LENGTHS
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(code))
        .map(|&(_, len)| len)
}

/// Whether a compact IBAN (letters, in either case, and digits) passes
/// mod-97.
pub fn iban_valid(compact: &[u8]) -> bool {
    let Some(len) = compact.get(..2).and_then(iban_length) else {
        return false;
    };
    if compact.len() != len || !compact[2..4].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut rem = 0u32;
    for &b in compact[4..].iter().chain(&compact[..4]) {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            b'a'..=b'z' => u32::from(b - b'a') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// IBANs, compact or in groups separated by single spaces, in upper or
/// lower case (`es21 3444 ...`, `gb33nwbk...`).
pub fn iban(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 4 <= bytes.len() {
        let head = &bytes[i..i + 4];
        let candidate = head[0].is_ascii_alphabetic()
            && head[1].is_ascii_alphabetic()
            && head[2].is_ascii_digit()
            && head[3].is_ascii_digit()
            && starts_clean(bytes, i);
        let len = candidate.then(|| iban_length(&head[..2])).flatten();
        let Some(len) = len else {
            i += 1;
            continue;
        };
        let mut compact = Vec::with_capacity(len);
        let mut j = i;
        while j < bytes.len() && compact.len() < len {
            let b = bytes[j];
            if b.is_ascii_alphanumeric() {
                compact.push(b);
                j += 1;
            } else if b == b' ' && j + 1 < bytes.len() && bytes[j + 1].is_ascii_alphanumeric() {
                j += 1;
            } else {
                break;
            }
        }
        if compact.len() == len && ends_clean(bytes, j) && iban_valid(&compact) {
            out.push((i, j));
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// E-mail addresses: `local@domain.tld`, ASCII.
pub fn email(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let local = |b: u8| b.is_ascii_alphanumeric() || b"._%+-".contains(&b);
    let domain = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.';
    let mut last_end = 0;
    for at in bytes
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'@')
        .map(|(i, _)| i)
    {
        if at < last_end {
            continue;
        }
        let mut s = at;
        while s > last_end && local(bytes[s - 1]) {
            s -= 1;
        }
        let mut e = at + 1;
        while e < bytes.len() && domain(bytes[e]) {
            e += 1;
        }
        // A sentence's full stop or a hyphen does not end an address.
        while e > at + 1 && matches!(bytes[e - 1], b'.' | b'-') {
            e -= 1;
        }
        let dom = &text[at + 1..e];
        let tld_ok = dom.rsplit_once('.').is_some_and(|(name, tld)| {
            !name.is_empty()
                && !name.starts_with('.')
                && !name.contains("..")
                && tld.len() >= 2
                && tld.bytes().all(|b| b.is_ascii_alphabetic())
        });
        if s < at && tld_ok {
            out.push((s, e));
            last_end = e;
        }
    }
    out
}

/// Telephone numbers: `+` then 8-15 digits (spaces, hyphens, dots and
/// parentheses between groups), or 10-11 digits grouped with spaces,
/// hyphens or a parenthesised area code.
pub fn phone(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    if !bytes.iter().any(u8::is_ascii_digit) {
        return out;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let plus = b == b'+';
        let paren = b == b'(';
        let begins = (plus || paren || b.is_ascii_digit()) && starts_clean(bytes, i);
        let first = if plus || paren { i + 1 } else { i };
        if !begins || first >= bytes.len() || !bytes[first].is_ascii_digit() {
            i += 1;
            continue;
        }
        let seps: &[u8] = if plus { b" -.()" } else { b" -()" };
        let (end, digits) = digit_run(bytes, first, seps, 2);
        let ok = if plus {
            (8..=15).contains(&digits.len())
        } else {
            (10..=11).contains(&digits.len()) && (!paren || bytes[first..end].contains(&b')'))
        };
        if ok && ends_clean(bytes, end) {
            out.push((i, end));
        }
        i = end.max(i + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that `detector` finds exactly `expected` (as substrings) in
    /// `text`.
    fn check(detector: Detector, text: &str, expected: &[&str]) {
        let found: Vec<&str> = detector
            .find(text)
            .iter()
            .map(|&(s, e)| &text[s..e])
            .collect();
        assert_eq!(found, expected, "{detector} in {text:?}");
    }

    #[test]
    fn payment_cards() {
        use Detector::PaymentCard as D;
        check(
            D,
            "card 4111 1111 1111 1111 exp 12/29",
            &["4111 1111 1111 1111"],
        );
        check(D, "4111-1111-1111-1111", &["4111-1111-1111-1111"]);
        check(D, "amex 378282246310005.", &["378282246310005"]);
        // 16 digits failing Luhn.
        check(D, "4111 1111 1111 1112", &[]);
        // Too short, too long, glued to letters.
        check(D, "411111111111", &[]);
        check(D, "41111111111111111111", &[]);
        check(D, "x4111111111111111", &[]);
    }

    #[test]
    fn payment_card_followed_by_an_expiry_or_cvv() {
        use Detector::PaymentCard as D;
        check(
            D,
            "pay with this one 4112307553273968 06/27",
            &["4112307553273968"],
        );
        check(
            D,
            "card 4112 3075 5327 3968 06/27",
            &["4112 3075 5327 3968"],
        );
        check(
            D,
            "card 4112 3075 5327 3968 06/2027",
            &["4112 3075 5327 3968"],
        );
        check(D, "4112 3075 5327 3968 0627", &["4112 3075 5327 3968"]);
        check(D, "4112-3075-5327-3968 372", &["4112-3075-5327-3968"]);
        check(D, "amex 3782 822463 10005 11/29", &["3782 822463 10005"]);
        // The year of a date before the number is not a card digit either.
        check(D, "exp 06/27 4112 3075 5327 3968", &["4112 3075 5327 3968"]);
        // In a path, the slashes do not make a date.
        check(D, "/cards/4111111111111111/edit", &["4111111111111111"]);
        // Near misses: a failing check digit stays a miss with an expiry
        // after it; a valid card at the head of a long account number (more
        // than a short tail after it) is not reported; without a group
        // boundary no prefix is tried.
        check(D, "card 4112 3075 5327 3969 06/27", &[]);
        check(D, "4112307553273969 06/27", &[]);
        check(D, "acct 4111 1111 1111 1111 2222 3333", &[]);
        check(D, "411230755327396806", &[]);
    }

    #[test]
    fn phone_numbers_are_not_cards() {
        use Detector::PaymentCard as D;
        // 5511944954230 passes Luhn: only its form says it is a phone.
        assert!(luhn(&[5, 5, 1, 1, 9, 4, 4, 9, 5, 4, 2, 3, 0]));
        check(D, "me liga no +55 11 94495-4230", &[]);
        check(D, "+5511944954230", &[]);
        check(D, "55 11 94495-4230", &[]);
        check(D, "0055 11 94495 4230", &[]);
        check(D, "(11) 94495-4230", &[]);
        check(D, "+44 7700 900123", &[]);
        check(D, "+4111111111111111", &[]);
        // Cards in their printed groupings still are.
        check(D, "4111 1111 1111 1111", &["4111 1111 1111 1111"]);
        check(D, "4111-1111-1111-1111", &["4111-1111-1111-1111"]);
        check(D, "(4111 1111 1111 1111)", &["4111 1111 1111 1111"]);
        check(D, "3782 822463 10005", &["3782 822463 10005"]);
        check(D, "3782-822463-10005", &["3782-822463-10005"]);
        check(D, "4222 2222 2222 2", &["4222 2222 2222 2"]);
        // The same digits grouped otherwise are not.
        check(D, "37 8282 2463 10005", &[]);
        check(D, "411 1111 1111 11111", &[]);
    }

    #[test]
    fn card_groupings() {
        for ok in [
            &[16][..],
            &[4, 4, 4, 4],
            &[4, 4, 4, 1],
            &[4, 4, 4, 4, 3],
            &[4, 6, 5],
            &[4, 6, 4],
        ] {
            assert!(card_grouping(ok), "{ok:?}");
        }
        for bad in [
            &[][..],
            &[2, 2, 5, 4],
            &[4, 2, 5, 4],
            &[4, 6, 6],
            &[4, 4, 5],
            &[3, 4, 4, 4],
        ] {
            assert!(!card_grouping(bad), "{bad:?}");
        }
    }

    #[test]
    fn lower_case_ibans() {
        use Detector::Iban as D;
        check(
            D,
            "iban es21 3444 5128 9922 9200 9478 pls",
            &["es21 3444 5128 9922 9200 9478"],
        );
        check(D, "gb33nwbk59487166280550", &["gb33nwbk59487166280550"]);
        check(
            D,
            "Gb82 West 1234 5698 7654 32",
            &["Gb82 West 1234 5698 7654 32"],
        );
        assert!(iban_valid(b"gb33nwbk59487166280550"));
        assert!(iban_valid(b"GB33NWBK59487166280550"));
        // Near misses: a wrong check digit, a wrong length, glued to a word,
        // a word after the last group.
        check(D, "es22 3444 5128 9922 9200 9478", &[]);
        check(D, "gb33nwbk5948716628055", &[]);
        check(D, "xgb33nwbk59487166280550", &[]);
        check(D, "gb33 nwbk 5948 7166 2805 5 today", &[]);
        assert!(!iban_valid(b"gb34nwbk59487166280550"));
        assert!(!iban_valid(b"g"));
    }

    #[test]
    fn ibans() {
        use Detector::Iban as D;
        check(
            D,
            "pay to GB82 WEST 1234 5698 7654 32 today",
            &["GB82 WEST 1234 5698 7654 32"],
        );
        check(D, "DE89370400440532013000", &["DE89370400440532013000"]);
        // Wrong check digits, wrong length, unknown country.
        check(D, "GB83 WEST 1234 5698 7654 32", &[]);
        check(D, "DE8937040044053201300", &[]);
        check(D, "ZZ89370400440532013000", &[]);
    }

    #[test]
    fn us_ssns() {
        use Detector::UsSsn as D;
        check(D, "ssn 123-45-6789, ok", &["123-45-6789"]);
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "912-12-3456",
            "123-00-4567",
            "123-45-0000",
        ] {
            check(D, bad, &[]);
        }
        check(D, "1123-45-6789", &[]);
        check(D, "123456789", &[]);
    }

    #[test]
    fn br_cpfs() {
        use Detector::BrCpf as D;
        check(D, "CPF 529.982.247-25 ok", &["529.982.247-25"]);
        check(D, "cpf: 52998224725", &["52998224725"]);
        // A wrong check digit, all-equal digits, a wrong shape.
        check(D, "529.982.247-26", &[]);
        check(D, "111.111.111-11", &[]);
        check(D, "5299.82.247-25", &[]);
    }

    #[test]
    fn emails() {
        use Detector::Email as D;
        check(
            D,
            "write to Ana.Silva+x@example.com.br.",
            &["Ana.Silva+x@example.com.br"],
        );
        check(D, "a@b.co and c@d.org", &["a@b.co", "c@d.org"]);
        check(D, "@handle, x@localhost, y@z.1", &[]);
    }

    #[test]
    fn phones() {
        use Detector::Phone as D;
        check(D, "call +44 20 7946 0958 now", &["+44 20 7946 0958"]);
        check(D, "+5511988887777", &["+5511988887777"]);
        check(D, "(11) 98888-7777", &["(11) 98888-7777"]);
        check(D, "020 7946 0958", &["020 7946 0958"]);
        // Too few digits, a year, a price.
        check(D, "+44 20", &[]);
        check(D, "in 2026 we paid 1,200", &[]);
        check(D, "123456789", &[]);
    }

    proptest::proptest! {
        /// Whatever groups of digits, separators and dates: every card span
        /// is 13-19 digits in a card grouping passing Luhn, stands alone as
        /// a word and does not follow `+`.
        #[test]
        fn card_spans_are_cards(
            text in "([+/(x]?([0-9]{1,6}|[0-9]{13,16})[ /-]){0,8}",
        ) {
            let bytes = text.as_bytes();
            for (s, e) in payment_card(&text) {
                let span = &text[s..e];
                let groups: Vec<usize> = span.split([' ', '-']).map(str::len).collect();
                let digits: Vec<u8> = span.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect();
                proptest::prop_assert!((13..=19).contains(&digits.len()), "{span:?}");
                proptest::prop_assert!(luhn(&digits), "{span:?}");
                proptest::prop_assert!(card_grouping(&groups), "{span:?}");
                proptest::prop_assert!(starts_clean(bytes, s) && ends_clean(bytes, e), "{span:?}");
                proptest::prop_assert!(s == 0 || bytes[s - 1] != b'+', "{span:?}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for d in Detector::ALL {
            assert_eq!(d.name().parse::<Detector>().unwrap(), d);
        }
        assert!("ssn".parse::<Detector>().unwrap_err().contains("us_ssn"));
    }
}
