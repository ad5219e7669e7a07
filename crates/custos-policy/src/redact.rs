//! Redaction: masking the personal and payment data the detectors find, for
//! readers whose role may not see it.
//!
//! A [`Profile`] names the detectors whose finds are masked; [`redact`]
//! replaces each find by a readable marker whose length does not depend on
//! what it hides:
//!
//! | detector | marker |
//! | --- | --- |
//! | `payment_card` | `[card •••• 4242]` (the last four digits, as PCI DSS allows printing) |
//! | `us_ssn`, `br_cpf` | `[national id redacted]` |
//! | `iban` | `[iban redacted]` |
//! | `email` | `[e-mail redacted]` |
//! | `phone` | `[phone redacted]` |
//!
//! Nothing of a masked span survives except a card's last four digits.
//! Finds that overlap are merged into one mask (the marker of the most
//! sensitive detector among them), so no digit of either leaks from the
//! edges. The result keeps the masks' positions in both texts, so offsets
//! into the original (highlights, policy evidence) can be carried over with
//! [`Redacted::map_start`] and [`Redacted::map_end`].
//!
//! ```
//! use custos_policy::redact::{Profile, redact};
//! let profile: Profile = "payment_card, national_id".parse().unwrap();
//! let out = redact("card 4111 1111 1111 1111, cpf 529.982.247-25", &profile);
//! assert_eq!(out.text(), "card [card •••• 1111], cpf [national id redacted]");
//! ```

use crate::detect::Detector;
use custos_model::Event;

/// A message's extra fields.
type Extra = serde_json::Map<String, serde_json::Value>;
use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::str::FromStr;

/// Which detectors' finds are masked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Profile {
    masked: BTreeSet<Detector>,
}

impl Profile {
    /// Nothing masked.
    pub fn none() -> Profile {
        Profile::default()
    }

    /// Every detector's finds masked.
    pub fn all() -> Profile {
        Profile {
            masked: Detector::ALL.into_iter().collect(),
        }
    }

    /// Exactly these detectors masked.
    pub fn of(detectors: impl IntoIterator<Item = Detector>) -> Profile {
        Profile {
            masked: detectors.into_iter().collect(),
        }
    }

    /// The detectors masked, in a stable order.
    pub fn detectors(&self) -> impl Iterator<Item = Detector> + '_ {
        self.masked.iter().copied()
    }

    /// Whether nothing is masked.
    pub fn is_empty(&self) -> bool {
        self.masked.is_empty()
    }

    /// Whether `detector`'s finds are masked.
    pub fn masks(&self, detector: Detector) -> bool {
        self.masked.contains(&detector)
    }

    /// What both mask: the least redaction of two readers' profiles.
    pub fn intersection(&self, other: &Profile) -> Profile {
        Profile {
            masked: self.masked.intersection(&other.masked).copied().collect(),
        }
    }

    /// What either masks.
    pub fn union(&self, other: &Profile) -> Profile {
        Profile {
            masked: self.masked.union(&other.masked).copied().collect(),
        }
    }

    /// Whether this profile masks everything `other` masks (and maybe more).
    pub fn covers(&self, other: &Profile) -> bool {
        self.masked.is_superset(&other.masked)
    }
}

/// The profile's name as configuration and manifests write it: detector
/// names joined by `,` (`payment_card,us_ssn,br_cpf`), or `none`.
impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.masked.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<&str> = self.masked.iter().map(|d| d.name()).collect();
        f.write_str(&names.join(","))
    }
}

/// A kind name that is neither a detector nor one of the group names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown redaction kind {0:?}: expected payment_card, national_id, us_ssn, br_cpf, iban, email, phone, all or none"
)]
pub struct UnknownKind(pub String);

impl Profile {
    /// The detectors a kind name stands for: a detector's name, `card`,
    /// `national_id` (`us_ssn` and `br_cpf`), `all` or `none`.
    pub fn kind(name: &str) -> Result<Vec<Detector>, UnknownKind> {
        let name = name.trim();
        match name.replace('-', "_").as_str() {
            "card" => Ok(vec![Detector::PaymentCard]),
            "national_id" => Ok(vec![Detector::UsSsn, Detector::BrCpf]),
            "e_mail" => Ok(vec![Detector::Email]),
            "all" => Ok(Detector::ALL.to_vec()),
            "none" => Ok(Vec::new()),
            other => other
                .parse::<Detector>()
                .map(|d| vec![d])
                .map_err(|_| UnknownKind(name.to_string())),
        }
    }

    /// The profile masking every kind named.
    pub fn from_kinds<S: AsRef<str>>(names: &[S]) -> Result<Profile, UnknownKind> {
        let mut masked = BTreeSet::new();
        for name in names {
            masked.extend(Profile::kind(name.as_ref())?);
        }
        Ok(Profile { masked })
    }
}

/// Kind names separated by commas (`payment_card, national_id`); empty
/// text is `none`.
impl FromStr for Profile {
    type Err = UnknownKind;

    fn from_str(text: &str) -> Result<Profile, UnknownKind> {
        let names: Vec<&str> = text.split(',').filter(|n| !n.trim().is_empty()).collect();
        Profile::from_kinds(&names)
    }
}

/// One masked span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mask {
    /// The detector whose marker replaced it.
    pub detector: Detector,
    /// Where it was in the original text (bytes).
    pub original: Range<usize>,
    /// Where its marker is in the redacted text (bytes).
    pub redacted: Range<usize>,
}

/// A text with its masks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redacted {
    text: String,
    masks: Vec<Mask>,
}

impl Redacted {
    /// The redacted text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The redacted text, owned.
    pub fn into_text(self) -> String {
        self.text
    }

    /// The masks, in text order, never overlapping.
    pub fn masks(&self) -> &[Mask] {
        &self.masks
    }

    /// Where an original offset that starts a range lands: inside a mask,
    /// at its marker's start.
    pub fn map_start(&self, at: usize) -> usize {
        let mut shift: isize = 0;
        for m in &self.masks {
            if at < m.original.start {
                break;
            }
            if at < m.original.end {
                return m.redacted.start;
            }
            shift = m.redacted.end as isize - m.original.end as isize;
        }
        at.saturating_add_signed(shift)
    }

    /// Where an original offset that ends a range lands: inside a mask, at
    /// its marker's end.
    pub fn map_end(&self, at: usize) -> usize {
        let mut shift: isize = 0;
        for m in &self.masks {
            if at <= m.original.start {
                break;
            }
            if at <= m.original.end {
                return m.redacted.end;
            }
            shift = m.redacted.end as isize - m.original.end as isize;
        }
        at.saturating_add_signed(shift)
    }
}

/// How sensitive a detector's finds are: an overlap of finds is marked as
/// the most sensitive of them.
fn rank(detector: Detector) -> u8 {
    match detector {
        Detector::PaymentCard => 5,
        Detector::UsSsn | Detector::BrCpf => 4,
        Detector::Iban => 3,
        Detector::Email => 2,
        Detector::Phone => 1,
    }
}

/// The marker of a masked span of `text`.
fn marker(detector: Detector, span: &str) -> String {
    match detector {
        Detector::PaymentCard => {
            let digits: Vec<char> = span.chars().filter(char::is_ascii_digit).collect();
            let last: String = digits[digits.len().saturating_sub(4)..].iter().collect();
            format!("[card •••• {last}]")
        }
        Detector::UsSsn | Detector::BrCpf => "[national id redacted]".to_string(),
        Detector::Iban => "[iban redacted]".to_string(),
        Detector::Email => "[e-mail redacted]".to_string(),
        Detector::Phone => "[phone redacted]".to_string(),
    }
}

/// `text` with the finds of `profile`'s detectors masked.
pub fn redact(text: &str, profile: &Profile) -> Redacted {
    let mut finds: Vec<(usize, usize, Detector)> = Vec::new();
    for detector in profile.detectors() {
        finds.extend(
            detector
                .find(text)
                .into_iter()
                .map(|(s, e)| (s, e, detector)),
        );
    }
    if finds.is_empty() {
        return Redacted {
            text: text.to_string(),
            masks: Vec::new(),
        };
    }
    finds.sort_by_key(|&(s, e, d)| (s, std::cmp::Reverse(e), std::cmp::Reverse(rank(d))));
    // Merge overlaps; the marker is the most sensitive find's, a card's
    // digits taken from the card's own span.
    let mut merged: Vec<(usize, usize, Detector, (usize, usize))> = Vec::new();
    for (s, e, d) in finds {
        match merged.last_mut() {
            Some(last) if s < last.1 => {
                last.1 = last.1.max(e);
                if rank(d) > rank(last.2) {
                    last.2 = d;
                    last.3 = (s, e);
                }
            }
            _ => merged.push((s, e, d, (s, e))),
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut masks = Vec::with_capacity(merged.len());
    let mut at = 0;
    for (s, e, d, own) in merged {
        out.push_str(&text[at..s]);
        let start = out.len();
        out.push_str(&marker(d, &text[own.0..own.1]));
        masks.push(Mask {
            detector: d,
            original: s..e,
            redacted: start..out.len(),
        });
        at = e;
    }
    out.push_str(&text[at..]);
    Redacted { text: out, masks }
}

/// `text` redacted, as a string (unchanged when the profile is empty).
pub fn redact_str(text: &str, profile: &Profile) -> String {
    if profile.is_empty() {
        return text.to_string();
    }
    redact(text, profile).into_text()
}

/// Every string in a JSON value redacted in place.
fn redact_json(value: &mut serde_json::Value, profile: &Profile) {
    match value {
        serde_json::Value::String(s) => *s = redact_str(s, profile),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| redact_json(v, profile)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| redact_json(v, profile)),
        _ => {}
    }
}

fn redact_extra(extra: &mut Extra, profile: &Profile) {
    extra.values_mut().for_each(|v| redact_json(v, profile));
}

/// An event as a reader with `profile` may see it: the text of a message
/// or edit, attachment names and every free-text string of a message's
/// `extra` (an e-mail's subject) redacted. Addresses of senders and
/// recipients, ids, times and digests are not: they say who spoke, which
/// the information barrier (not redaction) governs.
pub fn redact_event(event: &Event, profile: &Profile) -> Event {
    let mut event = event.clone();
    if profile.is_empty() {
        return event;
    }
    match &mut event {
        Event::Message(m) => {
            if let Some(text) = &mut m.text {
                *text = redact_str(text, profile);
            }
            for a in &mut m.attachments {
                if let Some(name) = &mut a.name {
                    *name = redact_str(name, profile);
                }
            }
            redact_extra(&mut m.extra, profile);
        }
        Event::Edit(e) => e.text = redact_str(&e.text, profile),
        _ => {}
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that `text` redacted by `profile` reads `expected`.
    fn check(profile: &str, text: &str, expected: &str) {
        let profile: Profile = profile.parse().unwrap();
        assert_eq!(
            redact(text, &profile).text(),
            expected,
            "{profile} on {text:?}"
        );
    }

    #[test]
    fn cards_keep_their_last_four_digits_only() {
        check(
            "payment_card",
            "card 4111 1111 1111 1111 exp 12/29",
            "card [card •••• 1111] exp 12/29",
        );
        check("card", "amex 378282246310005.", "amex [card •••• 0005].");
        check(
            "card",
            "pay with 4112307553273968 06/27",
            "pay with [card •••• 3968] 06/27",
        );
        // Near misses stay: a failing Luhn digit, a phone number whose
        // digits pass Luhn, too few digits.
        check("card", "4111 1111 1111 1112", "4111 1111 1111 1112");
        check("card", "+5511944954230", "+5511944954230");
        check("card", "411111111111", "411111111111");
    }

    #[test]
    fn national_ids() {
        check(
            "national_id",
            "ssn 123-45-6789, ok",
            "ssn [national id redacted], ok",
        );
        check(
            "national_id",
            "CPF 529.982.247-25 e 52998224725",
            "CPF [national id redacted] e [national id redacted]",
        );
        // Near misses: a wrong CPF check digit, all-equal digits, a
        // never-issued SSN area.
        check("national_id", "529.982.247-26", "529.982.247-26");
        check("national_id", "111.111.111-11", "111.111.111-11");
        check("national_id", "666-12-3456", "666-12-3456");
        // Only what the profile names.
        check("us_ssn", "529.982.247-25", "529.982.247-25");
        check("br_cpf", "123-45-6789", "123-45-6789");
    }

    #[test]
    fn emails_phones_and_ibans() {
        check(
            "email",
            "write to Ana.Silva+x@example.com.br.",
            "write to [e-mail redacted].",
        );
        check("email", "@handle, x@localhost", "@handle, x@localhost");
        check(
            "phone",
            "call +44 20 7946 0958 now",
            "call [phone redacted] now",
        );
        check("phone", "in 2026 we paid 1,200", "in 2026 we paid 1,200");
        check(
            "iban",
            "pay to GB82 WEST 1234 5698 7654 32 today",
            "pay to [iban redacted] today",
        );
        check(
            "iban",
            "GB83 WEST 1234 5698 7654 32",
            "GB83 WEST 1234 5698 7654 32",
        );
    }

    #[test]
    fn an_empty_profile_changes_nothing_and_all_masks_everything() {
        let text = "4111 1111 1111 1111 a@b.co 123-45-6789";
        check("none", text, text);
        check("", text, text);
        check(
            "all",
            text,
            "[card •••• 1111] [e-mail redacted] [national id redacted]",
        );
    }

    #[test]
    fn overlapping_finds_become_one_mask_of_the_most_sensitive_kind() {
        // An 11-digit CPF is also a phone number's shape.
        let out = redact("tel 52998224725 ok", &Profile::all());
        assert_eq!(out.text(), "tel [national id redacted] ok");
        assert_eq!(out.masks().len(), 1);
    }

    #[test]
    fn offsets_map_across_masks() {
        let text = "a 4111 1111 1111 1111 b needle";
        let out = redact(text, &"card".parse().unwrap());
        let needle = text.find("needle").unwrap();
        let mapped = out.map_start(needle);
        assert_eq!(&out.text()[mapped..out.map_end(needle + 6)], "needle");
        // Before a mask nothing moves; inside one, a range covers its marker.
        assert_eq!(out.map_start(1), 1);
        let inside = (text.find("1111").unwrap(), text.find("1111").unwrap() + 4);
        let (s, e) = (out.map_start(inside.0), out.map_end(inside.1));
        assert_eq!(&out.text()[s..e], "[card •••• 1111]");
        // A range ending where a mask starts does not take it in.
        assert_eq!(out.map_end(2), 2);
    }

    #[test]
    fn kinds_parse_and_name_themselves() {
        let p: Profile = "card, national-id".parse().unwrap();
        assert_eq!(p.to_string(), "payment_card,us_ssn,br_cpf");
        assert_eq!(Profile::none().to_string(), "none");
        assert_eq!(p.to_string().parse::<Profile>().unwrap(), p);
        let err = "cards".parse::<Profile>().unwrap_err();
        assert!(err.to_string().contains("\"cards\""), "{err}");
        let reviewer: Profile = "card,national_id".parse().unwrap();
        let officer = Profile::none();
        assert!(reviewer.intersection(&officer).is_empty());
        assert!(Profile::all().covers(&reviewer));
        assert!(!officer.covers(&reviewer));
    }

    #[test]
    fn events_lose_their_numbers_but_not_their_parties() {
        use custos_model::{Attachment, Digest, Direction, Message, Timestamp};
        let mut extra = Extra::new();
        extra.insert("subject".into(), "card 4111111111111111".into());
        let m = Event::Message(Message {
            channel: "email".into(),
            source_id: "<1@x>".into(),
            conversation: "c".into(),
            sender: "ana@example.com".into(),
            recipients: vec!["bob@example.com".into()],
            direction: Direction::Inbound,
            sent_at: Timestamp::from_micros(0),
            captured_at: Timestamp::from_micros(0),
            text: Some("my card is 4111 1111 1111 1111, mail ana@example.com".into()),
            attachments: vec![Attachment {
                name: Some("cpf 529.982.247-25.pdf".into()),
                media_type: "application/pdf".into(),
                sha256: Digest::of(b"x"),
                size: 1,
            }],
            reply_to: None,
            raw_digest: Digest::of(b""),
            extra,
        });
        let profile = Profile::all();
        let Event::Message(r) = redact_event(&m, &profile) else {
            panic!()
        };
        assert_eq!(
            r.text.as_deref(),
            Some("my card is [card •••• 1111], mail [e-mail redacted]")
        );
        assert_eq!(r.sender, "ana@example.com");
        assert_eq!(
            r.attachments[0].name.as_deref(),
            Some("cpf [national id redacted].pdf")
        );
        assert_eq!(r.extra["subject"], "card [card •••• 1111]");
    }

    proptest::proptest! {
        /// Whatever the text: every find lies inside a mask, no marker
        /// holds a digit but a card's last four, and every unmasked byte
        /// keeps its place through the offset map.
        #[test]
        fn redaction_leaks_nothing_and_keeps_the_rest(
            text in "([a-z@. ]{0,6}|4111 1111 1111 1111|529\\.982\\.247-25|123-45-6789|ana@ex\\.com|\\+44 20 7946 0958|[0-9 -]{0,12}){0,8}",
        ) {
            let profile = Profile::all();
            let out = redact(&text, &profile);
            for d in Detector::ALL {
                for (s, e) in d.find(&text) {
                    let inside = out.masks().iter().any(|m| m.original.start <= s && e <= m.original.end);
                    proptest::prop_assert!(inside, "{d} {:?} not masked", &text[s..e]);
                }
            }
            for m in out.masks() {
                let marker = &out.text()[m.redacted.clone()];
                let digits: String = marker.chars().filter(char::is_ascii_digit).collect();
                proptest::prop_assert!(digits.len() <= 4, "{marker}");
                if m.detector != Detector::PaymentCard {
                    proptest::prop_assert!(digits.is_empty(), "{marker}");
                }
            }
            let mut at = 0;
            for m in out.masks() {
                for i in at..m.original.start {
                    proptest::prop_assert_eq!(text.as_bytes()[i], out.text().as_bytes()[out.map_start(i)]);
                }
                at = m.original.end;
            }
        }
    }
}
