//! The policy file format (`docs/policy-language.md`): TOML read with
//! serde, then checked rule by rule into a [`Policy`] that can only hold
//! valid values. Every error names the file, line and column and what is
//! wrong.

use crate::detect::Detector;
use crate::error::{PolicyError, line_column};
use crate::fold;
use custos_model::{Direction, Severity};
use serde::{Deserialize, Serialize};
use std::fmt;
use toml::Spanned;

/// One policy, checked. It keeps the text it was read from, so the exact
/// version that fired an alert can be journalled and shown.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Policy {
    /// Unique id: lowercase letters, digits and `-`, starting with a letter.
    pub name: String,
    /// One line for people.
    pub title: String,
    /// What the policy is looking for, and why.
    pub description: String,
    /// The risk category (a classifier label), e.g. `off_channel`.
    pub category: String,
    /// How serious a hit is.
    pub severity: Severity,
    /// What to do when it fires.
    pub actions: Vec<Action>,
    /// Which messages it applies to.
    pub scope: Scope,
    /// When it fires.
    pub condition: Condition,
    /// Terms whose matches make hits inside them not count.
    pub exceptions: Vec<Term>,
    /// Where the text came from (a file name).
    pub origin: String,
    /// The TOML text the policy was read from.
    pub source: String,
}

/// What to do when a policy fires.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Action {
    /// Open an alert for review.
    Alert,
    /// Notify the people subscribed to the policy's alerts.
    Notify,
    /// Refuse to send the message (outbound pre-send check).
    Block,
    /// Tag the message with this name.
    Tag(String),
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Alert => f.write_str("alert"),
            Action::Notify => f.write_str("notify"),
            Action::Block => f.write_str("block"),
            Action::Tag(t) => write!(f, "tag:{t}"),
        }
    }
}

impl From<Action> for String {
    fn from(a: Action) -> String {
        a.to_string()
    }
}

impl TryFrom<String> for Action {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "alert" => Ok(Action::Alert),
            "notify" => Ok(Action::Notify),
            "block" => Ok(Action::Block),
            _ => match text.strip_prefix("tag:") {
                Some(tag) if is_name(tag) => Ok(Action::Tag(tag.to_string())),
                Some(tag) => Err(format!(
                    "tag {tag:?} must be lowercase letters, digits and '-', starting with a letter"
                )),
                None => Err(format!(
                    "unknown action {text:?}: expected alert, notify, block or tag:NAME"
                )),
            },
        }
    }
}

/// Which messages a policy applies to; an empty list restricts nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Scope {
    /// Channels (`whatsapp`, `sms`, `email`...).
    pub channels: Vec<String>,
    /// Directions.
    pub directions: Vec<Direction>,
    /// Business units or desks of the custodians involved.
    pub units: Vec<String>,
    /// Whether an external party must, or must not, take part.
    pub participants: Participants,
}

/// Who must take part in a conversation for a policy to apply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Participants {
    /// Anyone.
    #[default]
    Any,
    /// At least one external party.
    External,
    /// Only people of the firm.
    Internal,
}

/// When a policy fires: a tree of all / any / not over leaves.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Any of these terms occurs in the text.
    Terms(Vec<Term>),
    /// This regular expression matches the original text.
    Regex(String),
    /// This detector finds something.
    Detector(Detector),
    /// The message has (or has not) an attachment like this.
    Attachment(AttachmentRule),
    /// The message was sent outside these hours.
    OutsideHours(Hours),
    /// A fact about the message.
    Metadata(Flag),
    /// Every one holds.
    All(Vec<Condition>),
    /// At least one holds.
    Any(Vec<Condition>),
    /// This does not hold.
    Not(Box<Condition>),
}

/// A term as written, and what it matches.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Term {
    /// The term exactly as the policy wrote it (the label of its hits).
    pub text: String,
    /// Its parsed form.
    pub kind: TermKind,
}

/// A plain term or a proximity term.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TermKind {
    /// A word or phrase.
    Words(Phrase),
    /// `left NEAR/distance right`: at most `distance` words between a
    /// match of each, in either order.
    Near {
        /// The first operand.
        left: Phrase,
        /// The second operand.
        right: Phrase,
        /// The most words allowed between them.
        distance: u32,
    },
}

/// A phrase: folded words in order, each possibly a prefix (`word*`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Phrase {
    /// The words, folded as the text is.
    pub words: Vec<Word>,
}

/// One word of a phrase.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Word {
    /// The folded word.
    pub text: String,
    /// Whether it was written with a trailing `*` (matches any word
    /// starting with it).
    pub prefix: bool,
}

/// The `attachment` leaf.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentRule {
    /// `true` (the default): some attachment matches the other keys;
    /// `false`: none does.
    #[serde(default = "yes")]
    pub present: bool,
    /// A media type, or a family ending in `/*` (`image/*`).
    pub media_type: Option<String>,
    /// The least size in bytes.
    pub min_size: Option<u64>,
}

fn yes() -> bool {
    true
}

/// Working hours in a time zone; the `outside_hours` leaf fires outside
/// them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Hours {
    /// An IANA time zone name, e.g. `Europe/London`.
    pub tz: String,
    /// Start of the working day, minutes after midnight.
    pub start: u16,
    /// End of the working day (exclusive), minutes after midnight; less
    /// than `start` for a night shift that ends the next day.
    pub end: u16,
    /// Working days, Monday = 0 .. Sunday = 6.
    pub days: Vec<u8>,
}

/// A fact about a message the `metadata` leaf can test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// The first message with an external party.
    NewExternalContact,
    /// The text is an edit's new text.
    Edited,
    /// The event is a deletion.
    Deleted,
}

impl Flag {
    /// The name policies use.
    pub fn name(self) -> &'static str {
        match self {
            Flag::NewExternalContact => "new_external_contact",
            Flag::Edited => "edited",
            Flag::Deleted => "deleted",
        }
    }
}

/// Whether `text` is a policy or tag name: lowercase ASCII letters,
/// digits and `-`, starting with a letter.
pub fn is_name(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_category(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

// ---- the TOML as written ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: Spanned<String>,
    title: String,
    #[serde(default)]
    description: String,
    category: Spanned<String>,
    severity: Spanned<String>,
    actions: Vec<Spanned<String>>,
    #[serde(default)]
    scope: Option<RawScope>,
    condition: Spanned<RawCondition>,
    #[serde(default)]
    exceptions: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScope {
    #[serde(default)]
    channels: Vec<Spanned<String>>,
    #[serde(default)]
    directions: Vec<Spanned<String>>,
    #[serde(default)]
    units: Vec<Spanned<String>>,
    participants: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    terms: Option<Vec<Spanned<String>>>,
    regex: Option<Spanned<String>>,
    detector: Option<Spanned<String>>,
    attachment: Option<Spanned<AttachmentRule>>,
    outside_hours: Option<Spanned<RawHours>>,
    metadata: Option<Spanned<String>>,
    all: Option<Vec<Spanned<RawCondition>>>,
    any: Option<Vec<Spanned<RawCondition>>>,
    not: Option<Box<Spanned<RawCondition>>>,
    /// `exceptions = [..]` written after `[condition]` lands here in TOML;
    /// it is accepted in that table only, as if written at the top.
    exceptions: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHours {
    tz: Spanned<String>,
    start: Spanned<String>,
    end: Spanned<String>,
    days: Option<Vec<Spanned<String>>>,
}

/// Builds errors that point into one source text.
struct Checker<'a> {
    origin: &'a str,
    source: &'a str,
}

impl Checker<'_> {
    fn error(&self, offset: usize, message: impl Into<String>) -> PolicyError {
        let (line, column) = line_column(self.source, offset);
        PolicyError::Invalid {
            origin: self.origin.to_string(),
            line,
            column,
            message: message.into(),
        }
    }

    fn at<T>(&self, value: &Spanned<T>, message: impl Into<String>) -> PolicyError {
        self.error(value.span().start, message)
    }

    fn condition(&self, raw: &Spanned<RawCondition>) -> Result<Condition, PolicyError> {
        let c = raw.get_ref();
        if let Some(e) = c.exceptions.as_ref().and_then(|e| e.first()) {
            return Err(self.at(
                e,
                "`exceptions` belongs to the policy: write it before the first table or \
                 directly in [condition], not inside a nested condition",
            ));
        }
        let mut present = Vec::new();
        for (key, set) in [
            ("terms", c.terms.is_some()),
            ("regex", c.regex.is_some()),
            ("detector", c.detector.is_some()),
            ("attachment", c.attachment.is_some()),
            ("outside_hours", c.outside_hours.is_some()),
            ("metadata", c.metadata.is_some()),
            ("all", c.all.is_some()),
            ("any", c.any.is_some()),
            ("not", c.not.is_some()),
        ] {
            if set {
                present.push(key);
            }
        }
        if present.len() != 1 {
            return Err(self.at(
                raw,
                format!(
                    "a condition needs exactly one of terms, regex, detector, attachment, \
                     outside_hours, metadata, all, any, not; found {}",
                    if present.is_empty() {
                        "none".to_string()
                    } else {
                        present.join(", ")
                    }
                ),
            ));
        }
        if let Some(terms) = &c.terms {
            if terms.is_empty() {
                return Err(self.at(raw, "`terms` is empty"));
            }
            let mut out = Vec::with_capacity(terms.len());
            for t in terms {
                out.push(parse_term(t.get_ref()).map_err(|m| self.at(t, m))?);
            }
            return Ok(Condition::Terms(out));
        }
        if let Some(r) = &c.regex {
            regex_automata::meta::Regex::new(r.get_ref())
                .map_err(|e| self.at(r, format!("invalid regex: {e}")))?;
            return Ok(Condition::Regex(r.get_ref().clone()));
        }
        if let Some(d) = &c.detector {
            return d
                .get_ref()
                .parse()
                .map(Condition::Detector)
                .map_err(|m: String| self.at(d, m));
        }
        if let Some(a) = &c.attachment {
            let rule = a.get_ref();
            if let Some(t) = &rule.media_type {
                let ok = t
                    .split_once('/')
                    .is_some_and(|(k, s)| !k.is_empty() && !s.is_empty() && !k.contains('*'));
                if !ok {
                    return Err(self.at(
                        a,
                        format!(
                            "media_type {t:?} must look like \"application/pdf\" or \"image/*\""
                        ),
                    ));
                }
            }
            return Ok(Condition::Attachment(rule.clone()));
        }
        if let Some(h) = &c.outside_hours {
            return self.hours(h.get_ref()).map(Condition::OutsideHours);
        }
        if let Some(m) = &c.metadata {
            let flag = match m.get_ref().as_str() {
                "new_external_contact" => Flag::NewExternalContact,
                "edited" => Flag::Edited,
                "deleted" => Flag::Deleted,
                other => {
                    return Err(self.at(
                        m,
                        format!(
                            "unknown metadata {other:?}: expected new_external_contact, \
                             edited or deleted"
                        ),
                    ));
                }
            };
            return Ok(Condition::Metadata(flag));
        }
        if let Some(not) = &c.not {
            return Ok(Condition::Not(Box::new(self.condition(not)?)));
        }
        let (list, all) = match (&c.all, &c.any) {
            (Some(l), _) => (l, true),
            (_, Some(l)) => (l, false),
            _ => unreachable!("exactly one key is present"),
        };
        if list.is_empty() {
            return Err(self.at(
                raw,
                format!("`{}` is empty", if all { "all" } else { "any" }),
            ));
        }
        let mut out = Vec::with_capacity(list.len());
        for item in list {
            out.push(self.condition(item)?);
        }
        Ok(if all {
            Condition::All(out)
        } else {
            Condition::Any(out)
        })
    }

    fn hours(&self, raw: &RawHours) -> Result<Hours, PolicyError> {
        jiff::tz::TimeZone::get(raw.tz.get_ref()).map_err(|e| {
            self.at(
                &raw.tz,
                format!("unknown time zone {:?}: {e}", raw.tz.get_ref()),
            )
        })?;
        let minute =
            |t: &Spanned<String>| -> Result<u16, PolicyError> {
                if t.get_ref() == "24:00" {
                    return Ok(24 * 60);
                }
                let ok = t.get_ref().len() == 5;
                let time: jiff::civil::Time =
                    t.get_ref().parse().ok().filter(|_| ok).ok_or_else(|| {
                        self.at(t, format!("time {:?} must be HH:MM", t.get_ref()))
                    })?;
                Ok(time.hour() as u16 * 60 + time.minute() as u16)
            };
        let (start, end) = (minute(&raw.start)?, minute(&raw.end)?);
        if start == end {
            return Err(self.at(&raw.end, "start and end are the same time"));
        }
        const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let days = match &raw.days {
            None => vec![0, 1, 2, 3, 4],
            Some(list) => {
                let mut out = Vec::new();
                for d in list {
                    let i = DAYS.iter().position(|n| n == d.get_ref()).ok_or_else(|| {
                        self.at(
                            d,
                            format!(
                                "unknown day {:?}: expected mon, tue, wed, thu, fri, sat or sun",
                                d.get_ref()
                            ),
                        )
                    })?;
                    out.push(i as u8);
                }
                out
            }
        };
        Ok(Hours {
            tz: raw.tz.get_ref().clone(),
            start,
            end,
            days,
        })
    }
}

/// Reads one policy from its TOML text; `origin` (a file name) is used in
/// errors and kept in the policy.
pub fn parse_policy(text: &str, origin: &str) -> Result<Policy, PolicyError> {
    let check = Checker {
        origin,
        source: text,
    };
    let raw: RawPolicy = toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        check.error(at, e.message().trim().to_string())
    })?;
    if !is_name(raw.name.get_ref()) {
        return Err(check.at(
            &raw.name,
            format!(
                "name {:?} must be lowercase letters, digits and '-', starting with a letter",
                raw.name.get_ref()
            ),
        ));
    }
    if !is_category(raw.category.get_ref()) {
        return Err(check.at(
            &raw.category,
            format!(
                "category {:?} must be lowercase letters, digits, '_' and '-', starting with a letter",
                raw.category.get_ref()
            ),
        ));
    }
    let severity: Severity = raw
        .severity
        .get_ref()
        .parse()
        .map_err(|e: custos_model::SeverityError| check.at(&raw.severity, e.to_string()))?;
    let mut actions = Vec::new();
    for a in &raw.actions {
        let action = Action::try_from(a.get_ref().clone()).map_err(|m| check.at(a, m))?;
        if !actions.contains(&action) {
            actions.push(action);
        }
    }
    let mut scope = Scope::default();
    if let Some(s) = &raw.scope {
        for c in &s.channels {
            if c.get_ref().trim().is_empty() {
                return Err(check.at(c, "empty channel name"));
            }
            scope.channels.push(c.get_ref().clone());
        }
        for d in &s.directions {
            let direction = match d.get_ref().as_str() {
                "inbound" => Direction::Inbound,
                "outbound" => Direction::Outbound,
                "internal" => Direction::Internal,
                "unknown" => Direction::Unknown,
                other => {
                    return Err(check.at(
                        d,
                        format!("unknown direction {other:?}: expected inbound, outbound, internal or unknown"),
                    ));
                }
            };
            scope.directions.push(direction);
        }
        scope.units = s.units.iter().map(|u| u.get_ref().clone()).collect();
        if let Some(p) = &s.participants {
            scope.participants = match p.get_ref().as_str() {
                "any" => Participants::Any,
                "external" => Participants::External,
                "internal" => Participants::Internal,
                other => {
                    return Err(check.at(
                        p,
                        format!(
                            "unknown participants {other:?}: expected any, external or internal"
                        ),
                    ));
                }
            };
        }
    }
    let mut raw_condition = raw.condition;
    let mut raw_exceptions = raw.exceptions;
    if let Some(more) = raw_condition.get_mut().exceptions.take() {
        raw_exceptions.extend(more);
    }
    let condition = check.condition(&raw_condition)?;
    let mut exceptions = Vec::new();
    for e in &raw_exceptions {
        exceptions.push(parse_term(e.get_ref()).map_err(|m| check.at(e, m))?);
    }
    Ok(Policy {
        name: raw.name.into_inner(),
        title: raw.title,
        description: raw.description,
        category: raw.category.into_inner(),
        severity,
        actions,
        scope,
        condition,
        exceptions,
        origin: origin.to_string(),
        source: text.to_string(),
    })
}

/// Parses a term: a phrase, or `A NEAR/n B`.
pub fn parse_term(text: &str) -> Result<Term, String> {
    let kind = match text.split_once("NEAR/") {
        None => TermKind::Words(parse_phrase(text)?),
        Some((left, rest)) => {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let (number, right) = rest.split_at(digits);
            if digits == 0 || !right.starts_with(char::is_whitespace) || left.trim().is_empty() {
                return Err(format!(
                    "term {text:?}: write proximity as `A NEAR/n B`, e.g. `guarantee NEAR/5 return`"
                ));
            }
            if right.contains("NEAR/") {
                return Err(format!("term {text:?}: only one NEAR per term"));
            }
            let distance = number
                .parse::<u32>()
                .ok()
                .filter(|&n| n <= 1_000)
                .ok_or_else(|| format!("term {text:?}: NEAR distance must be at most 1000"))?;
            TermKind::Near {
                left: parse_phrase(left)?,
                right: parse_phrase(right)?,
                distance,
            }
        }
    };
    Ok(Term {
        text: text.to_string(),
        kind,
    })
}

fn parse_phrase(text: &str) -> Result<Phrase, String> {
    let mut words = Vec::new();
    for token in text.split_whitespace() {
        let (body, prefix) = match token.strip_suffix('*') {
            Some(b) => (b, true),
            None => (token, false),
        };
        if body.contains('*') {
            return Err(format!("term {text:?}: `*` may only end a word"));
        }
        let folded = fold::fold(body);
        let mut parts: Vec<Word> = fold::words(&folded)
            .map(|w| Word {
                text: w.to_string(),
                prefix: false,
            })
            .collect();
        match parts.last_mut() {
            Some(last) if prefix => {
                if last.text.chars().count() < 2 {
                    return Err(format!(
                        "term {text:?}: a wildcard needs at least two letters before `*`"
                    ));
                }
                last.prefix = true;
            }
            None if prefix => {
                return Err(format!("term {text:?}: `*` must follow letters or digits"));
            }
            _ => {}
        }
        words.append(&mut parts);
    }
    if words.is_empty() {
        return Err(format!("term {text:?} has no letters or digits"));
    }
    Ok(Phrase { words })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
name = "off-channel"
title = "Off-channel communication"
description = "Staff moving a business conversation to an unmonitored channel."
category = "off_channel"
severity = "high"
actions = ["alert", "tag:off-channel", "notify"]

[scope]
channels = ["whatsapp", "sms"]
directions = ["inbound", "outbound", "internal"]
units = ["equities", "wealth-br"]
participants = "external"

[condition]
any = [
  { terms = ["text me on my personal number", "delete this chat", "mov* to signal"] },
  { terms = ["garant* NEAR/5 retorno"] },
  { regex = '(?i)\bsignal\s+me\b' },
  { detector = "payment_card" },
  { all = [ { terms = ["call me"] }, { not = { terms = ["office"] } } ] },
  { outside_hours = { tz = "Europe/London", start = "08:00", end = "18:00", days = ["mon","tue","wed","thu","fri"] } },
  { attachment = { media_type = "application/pdf", min_size = 1000000 } },
  { metadata = "edited" },
]

exceptions = ["past performance is no guarantee of future results"]
"#;

    /// Parses `text` and expects an error at `line` whose message contains
    /// `needle`.
    fn check_error(text: &str, line: usize, needle: &str) {
        match parse_policy(text, "p.toml") {
            Ok(p) => panic!("expected an error, got {p:?}"),
            Err(PolicyError::Invalid {
                origin,
                line: l,
                message,
                ..
            }) => {
                assert_eq!(origin, "p.toml");
                assert!(message.contains(needle), "{message:?} lacks {needle:?}");
                assert_eq!(l, line, "line of {message:?}");
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    fn with(line: &str) -> String {
        format!(
            "name = \"p\"\ntitle = \"t\"\ncategory = \"c\"\nseverity = \"low\"\nactions = [\"alert\"]\n{line}\n"
        )
    }

    #[test]
    fn reads_the_documented_example() {
        let p = parse_policy(EXAMPLE, "off-channel.toml").unwrap();
        assert_eq!(p.name, "off-channel");
        assert_eq!(p.severity, Severity::High);
        assert_eq!(
            p.actions,
            [
                Action::Alert,
                Action::Tag("off-channel".into()),
                Action::Notify
            ]
        );
        assert_eq!(p.scope.participants, Participants::External);
        assert_eq!(p.scope.directions.len(), 3);
        let Condition::Any(items) = &p.condition else {
            panic!("{:?}", p.condition)
        };
        assert_eq!(items.len(), 8);
        let Condition::Terms(terms) = &items[0] else {
            panic!()
        };
        assert_eq!(terms[2].text, "mov* to signal");
        let TermKind::Words(phrase) = &terms[2].kind else {
            panic!()
        };
        assert!(phrase.words[0].prefix && !phrase.words[1].prefix);
        let Condition::OutsideHours(h) = &items[5] else {
            panic!()
        };
        assert_eq!((h.start, h.end, h.days.len()), (480, 1080, 5));
        assert_eq!(p.exceptions.len(), 1);
        assert_eq!(p.source, EXAMPLE);
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains("\"tag:off-channel\""), "{json}");
    }

    #[test]
    fn errors_name_the_line_and_what_is_wrong() {
        check_error(&with("[condition]\nterms = [\"a\"]\nbogus = 1"), 8, "bogus");
        check_error(
            &with("[condition]\nregex = '(unclosed'"),
            7,
            "invalid regex",
        );
        check_error(
            &with("[condition]\ndetector = \"ssn\""),
            7,
            "unknown detector",
        );
        check_error(&with("[condition]\nterms = [\"a NEAR/x b\"]"), 7, "NEAR/n");
        check_error(
            &with("[condition]\nterms = [\"a NEAR/2 b NEAR/3 c\"]"),
            7,
            "one NEAR",
        );
        check_error(
            &with("[condition]\nterms = [\"g*rantee\"]"),
            7,
            "may only end",
        );
        check_error(&with("[condition]\nterms = [\"!!!\"]"), 7, "no letters");
        check_error(&with("[condition]\nterms = [\"x*\"]"), 7, "two letters");
        check_error(
            &with(
                "[condition]\noutside_hours = { tz = \"Mars/Base\", start = \"08:00\", end = \"18:00\" }",
            ),
            7,
            "time zone",
        );
        check_error(
            &with(
                "[condition]\noutside_hours = { tz = \"UTC\", start = \"8am\", end = \"18:00\" }",
            ),
            7,
            "HH:MM",
        );
        check_error(
            &with(
                "[condition]\noutside_hours = { tz = \"UTC\", start = \"08:00\", end = \"18:00\", days = [\"monday\"] }",
            ),
            7,
            "unknown day",
        );
        check_error(
            &with("[condition]\nmetadata = \"forwarded\""),
            7,
            "unknown metadata",
        );
        check_error(
            &with("[condition]\nterms = [\"a\"]\nregex = 'b'"),
            6,
            "exactly one",
        );
        check_error(&with("[condition]\nany = []"), 6, "empty");
        check_error(
            &with("[condition]\nnot = { terms = [\"a\"], exceptions = [\"b\"] }"),
            7,
            "exceptions",
        );
        check_error(
            &with("[condition]\nattachment = { media_type = \"pdf\" }"),
            7,
            "media_type",
        );
        check_error(
            &with("[scope]\ndirections = [\"sideways\"]\n[condition]\nterms = [\"a\"]"),
            7,
            "direction",
        );
        check_error(
            &with("[condition]\nterms = [\"a\"]").replace("\"low\"", "\"urgent\""),
            4,
            "unknown severity",
        );
        check_error(
            &with("[condition]\nterms = [\"a\"]").replace("[\"alert\"]", "[\"alert\", \"page\"]"),
            5,
            "unknown action",
        );
        check_error(
            &with("[condition]\nterms = [\"a\"]").replace("\"p\"", "\"Bad Name\""),
            1,
            "name",
        );
        check_error("name = \"p\"\ntitle = \n", 2, "");
    }

    #[test]
    fn actions_round_trip_as_strings() {
        for a in ["alert", "notify", "block", "tag:x-1"] {
            let action = Action::try_from(a.to_string()).unwrap();
            assert_eq!(String::from(action.clone()), a);
            let json = serde_json::to_string(&action).unwrap();
            assert_eq!(serde_json::from_str::<Action>(&json).unwrap(), action);
        }
        assert!(Action::try_from("tag:Bad".to_string()).is_err());
    }

    #[test]
    fn terms_fold_and_split() {
        let t = parse_term("Garantía de retorno*").unwrap();
        let TermKind::Words(p) = t.kind else { panic!() };
        let words: Vec<_> = p
            .words
            .iter()
            .map(|w| (w.text.as_str(), w.prefix))
            .collect();
        assert_eq!(
            words,
            [("garantia", false), ("de", false), ("retorno", true)]
        );
        let t = parse_term("guarant* NEAR/5 return").unwrap();
        assert!(matches!(t.kind, TermKind::Near { distance: 5, .. }));
    }
}
