//! Query text to tokens, each with the character offset it starts at.
//!
//! The lexer knows words, quotes, parentheses, operators and field names;
//! it resolves field names (so an unknown one is reported where it is
//! written) and reads the value of `after:`/`before:` as one raw run, since
//! times contain colons.

use crate::{Field, ParseError};

/// A token and the character offset it starts at.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    /// Character offset of the token's first character.
    pub pos: usize,
    /// What it is.
    pub kind: Kind,
}

/// The kinds of token.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Kind {
    LParen,
    RParen,
    And,
    Or,
    Not,
    /// `-` directly before a clause.
    Minus,
    /// `+` directly before a clause (not before a digit: that is a word).
    Plus,
    /// A word, possibly with `*`/`?` in it and a `~` after it.
    Word {
        text: String,
        tilde: Option<Tilde>,
    },
    /// A quoted string, escapes resolved, possibly with a `~` after it.
    Quoted {
        text: String,
        tilde: Option<Tilde>,
    },
    /// `name:`; the value starts right after the colon.
    Field(FieldName),
    /// The raw value of `after:`/`before:`.
    Date(String),
}

/// A `~` after a word or quote, and the number after it if any.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Tilde {
    /// Character offset of the `~`; the number starts one after.
    pub pos: usize,
    /// The number, saturated at `u64::MAX`; `None` when there is none.
    pub number: Option<u64>,
}

/// What a field name names.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum FieldName {
    Field(Field),
    Has,
    After,
    Before,
}

impl FieldName {
    fn from_name(name: &str) -> Option<FieldName> {
        if let Some(field) = Field::from_name(name) {
            return Some(FieldName::Field(field));
        }
        if name.eq_ignore_ascii_case("has") {
            Some(FieldName::Has)
        } else if name.eq_ignore_ascii_case("after") {
            Some(FieldName::After)
        } else if name.eq_ignore_ascii_case("before") {
            Some(FieldName::Before)
        } else {
            None
        }
    }

    /// The name as written in queries.
    pub fn name(self) -> &'static str {
        match self {
            FieldName::Field(field) => field.name(),
            FieldName::Has => "has",
            FieldName::After => "after",
            FieldName::Before => "before",
        }
    }
}

/// A letter, digit or combining mark (so decomposed accents stay inside
/// their word).
pub(crate) fn is_letter(c: char) -> bool {
    c.is_alphanumeric() || unicode_normalization::char::is_combining_mark(c)
}

/// A character that may start a word (besides `+` before a digit).
pub(crate) fn is_word_start(c: char) -> bool {
    is_letter(c) || matches!(c, '_' | '.' | '@' | '\'' | '*' | '?')
}

/// A character that may continue a word.
pub(crate) fn is_word_char(c: char) -> bool {
    is_word_start(c) || matches!(c, '+' | '-')
}

/// Whether a `+` followed by `next` starts a word (a phone number) rather
/// than being the "required" operator.
pub(crate) fn plus_starts_word(next: Option<char>) -> bool {
    next.is_some_and(|c| c.is_ascii_digit())
}

/// Whether `text` is one of the upper-case operators.
pub(crate) fn is_operator(text: &str) -> bool {
    matches!(text, "AND" | "OR" | "NOT")
}

/// Splits a query into tokens.
pub(crate) fn lex(text: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let kind = match c {
            '(' => {
                i += 1;
                Kind::LParen
            }
            ')' => {
                i += 1;
                Kind::RParen
            }
            '-' => {
                i += 1;
                Kind::Minus
            }
            '+' if !plus_starts_word(chars.get(i + 1).copied()) => {
                i += 1;
                Kind::Plus
            }
            '"' => {
                let (text, end) = quoted(&chars, i)?;
                i = end;
                let tilde = tilde(&chars, &mut i)?;
                Kind::Quoted { text, tilde }
            }
            '~' => {
                return Err(ParseError::new(
                    i,
                    "~ must come right after a word or a quoted phrase",
                ));
            }
            ':' => {
                return Err(ParseError::new(
                    i,
                    "a field name must come right before ':'; quote text containing ':'",
                ));
            }
            c if is_word_start(c) || c == '+' => {
                while chars.get(i).is_some_and(|&c| is_word_char(c)) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if chars.get(i) == Some(&':') {
                    i += 1;
                    field(&chars, &word, start, &mut i, &mut tokens)?;
                    continue;
                }
                let tilde = tilde(&chars, &mut i)?;
                if is_operator(&word) {
                    if tilde.is_some() {
                        return Err(ParseError::new(
                            start,
                            format!("{word} is an operator; quote it to search for the word"),
                        ));
                    }
                    match word.as_str() {
                        "AND" => Kind::And,
                        "OR" => Kind::Or,
                        _ => Kind::Not,
                    }
                } else {
                    Kind::Word { text: word, tilde }
                }
            }
            other => {
                return Err(ParseError::new(
                    i,
                    format!("unexpected character {other:?}; quote text containing it"),
                ));
            }
        };
        let needs_space = !matches!(kind, Kind::LParen | Kind::Minus | Kind::Plus);
        tokens.push(Token { pos: start, kind });
        if needs_space {
            space_after(&chars, i)?;
        }
    }
    Ok(tokens)
}

/// Refuses a clause that starts right at `i`, after a word, quote, operator
/// or `)` with no space between: `a"b"`, `(a)b`, `NOT(a)`. Requiring the
/// space keeps the canonical form (which has it) from being longer than
/// what was typed.
fn space_after(chars: &[char], i: usize) -> Result<(), ParseError> {
    match chars.get(i) {
        Some(&c) if c == '(' || c == '"' || c == '-' || c == '+' || is_word_start(c) => {
            Err(ParseError::new(i, "a space is missing before this"))
        }
        _ => Ok(()),
    }
}

/// Reads the quoted string whose opening quote is at `open`; returns its
/// text with escapes resolved and the offset after the closing quote.
fn quoted(chars: &[char], open: usize) -> Result<(String, usize), ParseError> {
    let mut text = String::new();
    let mut i = open + 1;
    loop {
        match chars.get(i) {
            None => return Err(ParseError::new(open, "unterminated quote")),
            Some('"') => return Ok((text, i + 1)),
            Some('\\') if matches!(chars.get(i + 1), Some('"' | '\\')) => {
                text.push(chars[i + 1]);
                i += 2;
            }
            Some(&c) => {
                text.push(c);
                i += 1;
            }
        }
    }
}

/// Reads a `~` and its number at `*i`, if there is one.
fn tilde(chars: &[char], i: &mut usize) -> Result<Option<Tilde>, ParseError> {
    if chars.get(*i) != Some(&'~') {
        return Ok(None);
    }
    let pos = *i;
    *i += 1;
    let start = *i;
    while chars.get(*i).is_some_and(|&c| is_word_char(c)) {
        *i += 1;
    }
    let digits = &chars[start..*i];
    if digits.is_empty() {
        return Ok(Some(Tilde { pos, number: None }));
    }
    if !digits.iter().all(|c| c.is_ascii_digit()) {
        return Err(ParseError::new(start, "expected a number after ~"));
    }
    let number = digits.iter().fold(0u64, |n, d| {
        n.saturating_mul(10)
            .saturating_add(u64::from(*d as u32 - '0' as u32))
    });
    Ok(Some(Tilde {
        pos,
        number: Some(number),
    }))
}

/// Resolves the field `name` (written at `start`, its colon just before
/// `*i`) and, for `after:`/`before:`, reads the raw date after it.
fn field(
    chars: &[char],
    name: &str,
    start: usize,
    i: &mut usize,
    tokens: &mut Vec<Token>,
) -> Result<(), ParseError> {
    let Some(field) = FieldName::from_name(name) else {
        let mut known: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
        known.extend(["has", "after", "before"]);
        return Err(ParseError::new(
            start,
            format!("unknown field {name:?}; fields are {}", known.join(", ")),
        ));
    };
    if chars.get(*i).is_none_or(|c| c.is_whitespace()) {
        return Err(ParseError::new(
            *i,
            format!("{}: needs a value right after the colon", field.name()),
        ));
    }
    tokens.push(Token {
        pos: start,
        kind: Kind::Field(field),
    });
    if matches!(field, FieldName::After | FieldName::Before) {
        let value_start = *i;
        while chars
            .get(*i)
            .is_some_and(|&c| !c.is_whitespace() && c != '(' && c != ')')
        {
            *i += 1;
        }
        if *i == value_start {
            return Err(ParseError::new(
                value_start,
                format!("{}: needs a date right after the colon", field.name()),
            ));
        }
        tokens.push(Token {
            pos: value_start,
            kind: Kind::Date(chars[value_start..*i].iter().collect()),
        });
        space_after(chars, *i)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Kind> {
        lex(text).unwrap().into_iter().map(|t| t.kind).collect()
    }

    fn word(text: &str) -> Kind {
        Kind::Word {
            text: text.into(),
            tilde: None,
        }
    }

    #[test]
    fn words_keep_their_inner_punctuation() {
        assert_eq!(
            kinds("+5511988887777 ana@bank.example wamid.HBgL don't a-b_c"),
            vec![
                word("+5511988887777"),
                word("ana@bank.example"),
                word("wamid.HBgL"),
                word("don't"),
                word("a-b_c"),
            ]
        );
    }

    #[test]
    fn leading_minus_and_plus_are_operators() {
        assert_eq!(
            kinds("-spam +risk"),
            vec![Kind::Minus, word("spam"), Kind::Plus, word("risk")]
        );
    }

    #[test]
    fn decomposed_accents_stay_in_the_word() {
        assert_eq!(kinds("cafe\u{301}"), vec![word("cafe\u{301}")]);
    }

    #[test]
    fn operators_are_upper_case_only() {
        assert_eq!(
            kinds("a AND b and c OR NOT d"),
            vec![
                word("a"),
                Kind::And,
                word("b"),
                word("and"),
                word("c"),
                Kind::Or,
                Kind::Not,
                word("d"),
            ]
        );
    }

    #[test]
    fn positions_are_character_offsets() {
        let tokens = lex("été (x)").unwrap();
        let positions: Vec<usize> = tokens.iter().map(|t| t.pos).collect();
        assert_eq!(positions, vec![0, 4, 5, 6]);
    }

    #[test]
    fn quotes_resolve_escapes() {
        assert_eq!(
            kinds(r#""say \"hi\" \\ C:\path""#),
            vec![Kind::Quoted {
                text: r#"say "hi" \ C:\path"#.into(),
                tilde: None,
            }]
        );
    }

    #[test]
    fn tildes_and_their_numbers() {
        assert_eq!(
            kinds("a~ b~2 \"c d\"~15"),
            vec![
                Kind::Word {
                    text: "a".into(),
                    tilde: Some(Tilde {
                        pos: 1,
                        number: None
                    })
                },
                Kind::Word {
                    text: "b".into(),
                    tilde: Some(Tilde {
                        pos: 4,
                        number: Some(2)
                    })
                },
                Kind::Quoted {
                    text: "c d".into(),
                    tilde: Some(Tilde {
                        pos: 12,
                        number: Some(15)
                    })
                },
            ]
        );
        let huge = lex("a~99999999999999999999999").unwrap();
        assert_eq!(
            huge[0].kind,
            Kind::Word {
                text: "a".into(),
                tilde: Some(Tilde {
                    pos: 1,
                    number: Some(u64::MAX)
                })
            }
        );
    }

    #[test]
    fn dates_are_read_raw_with_their_colons() {
        let tokens = lex("(after:2024-06-01T09:30+02:00)").unwrap();
        assert_eq!(
            tokens,
            vec![
                Token {
                    pos: 0,
                    kind: Kind::LParen
                },
                Token {
                    pos: 1,
                    kind: Kind::Field(FieldName::After)
                },
                Token {
                    pos: 7,
                    kind: Kind::Date("2024-06-01T09:30+02:00".into())
                },
                Token {
                    pos: 29,
                    kind: Kind::RParen
                },
            ]
        );
    }

    #[test]
    fn errors_point_at_the_mistake() {
        for (text, position, message) in [
            ("a \"bc", 2, "unterminated quote"),
            (
                "a ~1",
                2,
                "~ must come right after a word or a quoted phrase",
            ),
            ("a :b", 2, "a field name must come right before ':'"),
            ("a # b", 2, "unexpected character '#'"),
            ("a~x", 2, "expected a number after ~"),
            ("a~1x", 2, "expected a number after ~"),
            ("x NOT~1", 2, "NOT is an operator"),
            (
                "frm:ana",
                0,
                "unknown field \"frm\"; fields are from, to, participant, custodian, channel, direction, conversation, policy, alert, tag, hold, attachment, has, after, before",
            ),
            ("from:", 5, "from: needs a value right after the colon"),
            ("from: ana", 5, "from: needs a value right after the colon"),
            ("(after:)", 7, "after: needs a date right after the colon"),
            ("a\"b\"", 1, "a space is missing before this"),
            ("\"a\"b", 3, "a space is missing before this"),
            ("\"a\"~2(b)", 5, "a space is missing before this"),
            ("(a)b", 3, "a space is missing before this"),
            ("(a)-b", 3, "a space is missing before this"),
            ("NOT(a)", 3, "a space is missing before this"),
            ("a OR\"b\"", 4, "a space is missing before this"),
            ("after:2024-01-01(a)", 16, "a space is missing before this"),
        ] {
            let err = lex(text).unwrap_err();
            assert_eq!(err.position, position, "{text}: {err}");
            assert!(err.message.starts_with(message), "{text}: {err}");
        }
    }
}
