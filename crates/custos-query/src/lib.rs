//! The search query language: the text a compliance officer types, parsed
//! into a [`Query`] tree that the search index translates. Pure: no I/O, no
//! index; it only parses, and prints a tree back as text ([`Query`]'s
//! `Display`) that parses to the same tree.
//!
//! ```
//! use custos_query::{parse, Field, Query};
//!
//! let q = parse("from:ana@bank.example guarant* -spam").unwrap();
//! assert_eq!(
//!     q,
//!     Query::And(vec![
//!         Query::Term { field: Some(Field::From), text: "ana@bank.example".into(), fuzzy: 0 },
//!         Query::Prefix { field: None, text: "guarant".into() },
//!         Query::Not(Box::new(Query::Term { field: None, text: "spam".into(), fuzzy: 0 })),
//!     ])
//! );
//! assert_eq!(q.to_string(), "from:ana@bank.example guarant* -spam");
//! assert_eq!(parse("from:ana@bank.example AND guarant* AND NOT spam"), Ok(q));
//!
//! let err = parse("frm:ana").unwrap_err();
//! assert_eq!(err.position, 0);
//! assert!(err.to_string().starts_with("at column 1: unknown field \"frm\""));
//! ```
//!
//! # Grammar
//!
//! ```text
//! query    = [ or ]                         the empty query matches everything
//! or       = and { "OR" and }
//! and      = unary { [ "AND" ] unary }      whitespace between clauses is AND
//! unary    = ( "NOT" | "-" | "+" ) unary | primary
//! primary  = "(" or ")" | field ":" value | word | quoted
//! value    = word | quoted | "(" or ")"     the field applies to every term inside
//! word     = letters, digits, marks and _ . @ ' * ? ; also + and - after the first
//!            character; a + followed by a digit starts a word (+5511988887777)
//! quoted   = '"' { any character, \" and \\ escaped } '"'
//! fuzzy    = word "~" [ 0 | 1 | 2 ]         "~" alone means 1
//! proximity= quoted "~" 0..=1000
//! ```
//!
//! - Precedence: `NOT` (and `-`) binds tightest, then `AND` (explicit or
//!   implicit), then `OR`. Operators are upper-case only: `and` is a word.
//!   `-x` is `NOT x` and must touch its clause; `+x` is plain `x`.
//! - A word with a single trailing `*` is a [`Query::Prefix`]; any other `*`
//!   or `?` makes a [`Query::Wildcard`]; `*` alone is [`Query::All`].
//! - A quoted string is a [`Query::Phrase`] of its whitespace-separated
//!   words (one word is a one-word phrase: no wildcards, no fuzziness). For
//!   the exact-value fields (`custodian`, `channel`, `conversation`,
//!   `policy`, `alert`, `tag`, `hold`, `attachment`) a quoted value is one
//!   [`Query::Term`] holding the whole value, trimmed.
//! - `direction:` takes `inbound`, `outbound` or `internal` (any case; kept
//!   lower-case). `has:` takes only `attachment`. `after:` and `before:`
//!   take a date (`2024-06-01`, its start at 00:00 UTC), a date and time
//!   (`2024-06-01T09:30`, `2024-06-01T09:30:15`, UTC) or an instant with
//!   its offset (`2024-06-01T09:30:00Z`, `2024-06-01T09:30+02:00`). `after:`
//!   includes its instant, `before:` excludes it.
//! - A value must touch its colon: `from: ana` is an error. Clauses and
//!   operators are separated by whitespace (`a"b"`, `(a)b` and `NOT(a)` are
//!   errors), so the canonical form, which has exactly one space there, is
//!   never longer than what was typed.
//! - Text is never folded here (the index folds): every value keeps its case.
//!
//! # Negation
//!
//! `NOT x` is [`Query::Not`] wherever it stands, also alone at the top
//! (`NOT spam` parses to `Not(spam)`, not `And([All, Not(spam)])`). Its
//! meaning is always "everything except x", so a translator must supply
//! the "everything" when a `Not` (or an `And` of only `Not`s, or an `Or`
//! branch that is one) has nothing positive beside it.
//!
//! # Limits and errors
//!
//! A query is at most [`MAX_QUERY_BYTES`] bytes; its parentheses and
//! negations nest at most [`MAX_DEPTH`] deep, and so do the `AND`, `OR`
//! and `NOT` levels of its tree (`a (b OR c (d OR e))` is four levels in
//! two parentheses). The canonical form (`Display`) is never longer nor
//! deeper than the text it came from, so a query that was accepted prints
//! as one that is accepted again. Every mistake is a [`ParseError`]
//! with the character offset of the place to fix; `parse` never panics.

mod date;
mod display;
mod lexer;
mod parser;

use std::fmt;

/// The longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 4096;

/// How deep parentheses and negations may nest.
pub const MAX_DEPTH: usize = 64;

/// The largest fuzzy edit distance (`word~2`).
pub const MAX_FUZZY: u8 = 2;

/// The largest phrase slop (`"a b"~1000`).
pub const MAX_SLOP: u32 = 1000;

/// A field a clause may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// The sender's address or name.
    From,
    /// A recipient's address or name.
    To,
    /// The sender or a recipient.
    Participant,
    /// The custodian (the firm's employee) whose communication it is.
    Custodian,
    /// The channel: `whatsapp`, `sms`, `email`, ...
    Channel,
    /// `inbound`, `outbound` or `internal`.
    Direction,
    /// The conversation (chat, thread) id.
    Conversation,
    /// A policy that flagged the message.
    Policy,
    /// An alert id or an alert status (`open`, `closed`, `escalated`).
    Alert,
    /// A reviewer's tag.
    Tag,
    /// A legal hold covering the message.
    Hold,
    /// An attachment's file type or extension (`pdf`, `.xlsx`).
    Attachment,
}

impl Field {
    /// Every field, in the order they are listed to users.
    pub const ALL: [Field; 12] = [
        Field::From,
        Field::To,
        Field::Participant,
        Field::Custodian,
        Field::Channel,
        Field::Direction,
        Field::Conversation,
        Field::Policy,
        Field::Alert,
        Field::Tag,
        Field::Hold,
        Field::Attachment,
    ];

    /// The name as written in queries: `from`, `to`, ...
    pub fn name(self) -> &'static str {
        match self {
            Field::From => "from",
            Field::To => "to",
            Field::Participant => "participant",
            Field::Custodian => "custodian",
            Field::Channel => "channel",
            Field::Direction => "direction",
            Field::Conversation => "conversation",
            Field::Policy => "policy",
            Field::Alert => "alert",
            Field::Tag => "tag",
            Field::Hold => "hold",
            Field::Attachment => "attachment",
        }
    }

    /// The field a query names, ignoring case; `None` for an unknown name.
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// Whether the field holds exact values (ids, names, tags) rather than
    /// words: a quoted value is then one term, not a phrase.
    pub fn is_exact(self) -> bool {
        !matches!(
            self,
            Field::From | Field::To | Field::Participant | Field::Direction
        )
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A parsed query.
#[derive(Clone, Debug, PartialEq)]
pub enum Query {
    /// Matches everything (the empty query, or `*`).
    All,
    /// A word; `field: None` means the message text. `fuzzy` is the edit
    /// distance from `word~1` / `word~2` (`word~` means 1; max 2).
    Term {
        /// The field searched; `None` for the message text.
        field: Option<Field>,
        /// The word (or, for exact-value fields, the whole value) as typed.
        text: String,
        /// Edit distance allowed, 0 to [`MAX_FUZZY`].
        fuzzy: u8,
    },
    /// `guar*` (a trailing `*` only).
    Prefix {
        /// The field searched; `None` for the message text.
        field: Option<Field>,
        /// The prefix, without its `*`.
        text: String,
    },
    /// `g?ar*ee` (any `*`/`?` not only trailing).
    Wildcard {
        /// The field searched; `None` for the message text.
        field: Option<Field>,
        /// The pattern: `*` is any run of characters, `?` one character.
        pattern: String,
    },
    /// `"guarantee return"` and `"guarantee return"~5` (slop = max words
    /// between, 0 if none).
    Phrase {
        /// The field searched; `None` for the message text.
        field: Option<Field>,
        /// The words, as split at whitespace.
        words: Vec<String>,
        /// How many words may come between, 0 to [`MAX_SLOP`].
        slop: u32,
    },
    /// `after:2024-06-01`: sent at or after this instant.
    After(custos_model::Timestamp),
    /// `before:2024-06-01`: sent before this instant.
    Before(custos_model::Timestamp),
    /// `has:attachment`
    HasAttachment,
    /// Every clause matches.
    And(Vec<Query>),
    /// At least one clause matches.
    Or(Vec<Query>),
    /// Everything except what the clause matches.
    Not(Box<Query>),
}

/// Parses a query. Empty (or blank) text is [`Query::All`].
pub fn parse(text: &str) -> Result<Query, ParseError> {
    if text.len() > MAX_QUERY_BYTES {
        let position = text
            .char_indices()
            .take_while(|(at, _)| *at < MAX_QUERY_BYTES)
            .count();
        return Err(ParseError::new(
            position,
            format!("the query is longer than {MAX_QUERY_BYTES} bytes"),
        ));
    }
    let tokens = lexer::lex(text)?;
    parser::parse(&tokens, text.chars().count())
}

/// Where and what: `position` is the character offset (0-based) of the
/// mistake in the input; `Display` gives "at column N: message" (N =
/// position + 1).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("at column {}: {message}", .position + 1)]
pub struct ParseError {
    /// Character offset (0-based) of the mistake; the input's length when
    /// something is missing at the end.
    pub position: usize,
    /// What is wrong, lower-case, without a final period.
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(position: usize, message: impl Into<String>) -> Self {
        Self {
            position,
            message: message.into(),
        }
    }

    /// The query with a caret under the mistake, two lines, for terminals.
    /// Control characters (tabs, line breaks) are shown as spaces so the
    /// caret stays under its character.
    pub fn pointer(&self, query: &str) -> String {
        let line: String = query
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        format!("{line}\n{}^", " ".repeat(self.position))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_round_trip() {
        for field in Field::ALL {
            assert_eq!(Field::from_name(field.name()), Some(field));
            assert_eq!(Field::from_name(&field.name().to_uppercase()), Some(field));
        }
        assert_eq!(Field::from_name("frm"), None);
        assert_eq!(Field::from_name("has"), None);
    }

    #[test]
    fn error_display_and_pointer() {
        let err = ParseError::new(4, "unknown field \"frm\"");
        assert_eq!(err.to_string(), "at column 5: unknown field \"frm\"");
        assert_eq!(err.pointer("ana\tfrm:x"), "ana frm:x\n    ^");
    }

    #[test]
    fn too_long_is_an_error_at_4096() {
        let long = "a".repeat(MAX_QUERY_BYTES + 1);
        assert_eq!(parse(&long).unwrap_err().position, 4096);
        assert!(parse(&"a".repeat(MAX_QUERY_BYTES)).is_ok());
        // Two-byte characters: the first byte past the limit begins the
        // character at offset 2048.
        let wide = "é".repeat(3000);
        assert_eq!(parse(&wide).unwrap_err().position, 2048);
    }

    #[test]
    fn a_query_at_the_limit_prints_within_it() {
        // Long-hand spellings fill the limit; their canonical forms (which
        // the fuzzer once found longer) must be accepted again.
        for unit in [
            "from:(a OR b) AND NOT c ",
            "x~1 after:2024-06-01T00:00Z ",
            "\"a\"~1 ",
        ] {
            let text = unit.repeat(MAX_QUERY_BYTES / unit.len());
            let query = parse(&text).unwrap();
            let printed = query.to_string();
            assert!(printed.len() <= text.len(), "{printed}");
            assert_eq!(parse(&printed), Ok(query));
        }
    }

    /// The user guide's examples are checked, so it stays true.
    const GUIDE: &str = include_str!("../../../docs/search.md");

    /// The rows of the guide's table under `heading`: for each cell, the
    /// code spans in it.
    fn guide_rows(heading: &str) -> Vec<Vec<Vec<&'static str>>> {
        let section = GUIDE.split(heading).nth(1).expect("heading in the guide");
        let section = section.split("\n## ").next().unwrap_or(section);
        section
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| {
                l.trim_matches('|')
                    .split(" | ")
                    .map(|cell| cell.split('`').skip(1).step_by(2).collect())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn guide_canonical_forms() {
        let rows = guide_rows("## Canonical form");
        assert!(rows.len() >= 5);
        for row in rows {
            let (typed, canonical) = (row[0][0], row[1][0]);
            let query = parse(typed).unwrap();
            assert_eq!(query.to_string(), canonical, "{typed}");
            assert_eq!(parse(canonical), Ok(query));
        }
    }

    #[test]
    fn guide_examples_parse() {
        let mut examples = Vec::new();
        for heading in [
            "## Words, phrases, patterns",
            "## Combining",
            "## Dates and times",
        ] {
            for row in guide_rows(heading) {
                examples.extend(row[0].iter().copied());
            }
        }
        for row in guide_rows("## Fields") {
            examples.extend(row[2].iter().copied());
        }
        assert!(examples.len() > 30);
        for example in examples {
            parse(example).unwrap_or_else(|e| panic!("{example}: {e}"));
        }
    }

    #[test]
    fn guide_mistake_example() {
        let block = GUIDE.split("## Mistakes").nth(1).unwrap();
        let lines: Vec<&str> = block.split("```text\n").nth(1).unwrap().lines().collect();
        let err = parse(lines[0]).unwrap_err();
        assert_eq!(err.pointer(lines[0]), format!("{}\n{}", lines[0], lines[1]));
        assert_eq!(err.to_string(), lines[2]);
    }
}
