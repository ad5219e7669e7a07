//! A [`Query`] printed as query text that parses back to the same tree:
//! operators spelled out (`AND`, `OR`, `NOT`), parentheses only where the
//! tree needs them, a value quoted only when it cannot stand as a word.

use std::fmt::{self, Write};

use crate::lexer::{is_operator, is_word_char, is_word_start, plus_starts_word};
use crate::{Field, Query};

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Query::All => f.write_str("*"),
            Query::Term { field, text, fuzzy } => {
                write_field(f, *field)?;
                if is_bare_word(text) {
                    f.write_str(text)?;
                } else {
                    write_quoted(f, text)?;
                }
                if *fuzzy > 0 {
                    write!(f, "~{fuzzy}")?;
                }
                Ok(())
            }
            Query::Prefix { field, text } => {
                write_field(f, *field)?;
                write!(f, "{text}*")
            }
            Query::Wildcard { field, pattern } => {
                write_field(f, *field)?;
                f.write_str(pattern)
            }
            Query::Phrase { field, words, slop } => {
                write_field(f, *field)?;
                write_quoted(f, &words.join(" "))?;
                if *slop > 0 {
                    write!(f, "~{slop}")?;
                }
                Ok(())
            }
            Query::After(at) => write!(f, "after:{at}"),
            Query::Before(at) => write!(f, "before:{at}"),
            Query::HasAttachment => f.write_str("has:attachment"),
            // Never produced by the parser; printed as what they match.
            Query::And(clauses) if clauses.is_empty() => f.write_str("*"),
            Query::Or(clauses) if clauses.is_empty() => f.write_str("NOT *"),
            Query::And(clauses) => write_joined(f, clauses, " AND ", |c| {
                matches!(c, Query::And(_) | Query::Or(_))
            }),
            Query::Or(clauses) => write_joined(f, clauses, " OR ", |c| matches!(c, Query::Or(_))),
            Query::Not(inner) => {
                f.write_str("NOT ")?;
                write_clause(f, inner, matches!(**inner, Query::And(_) | Query::Or(_)))
            }
        }
    }
}

fn write_field(f: &mut fmt::Formatter<'_>, field: Option<Field>) -> fmt::Result {
    match field {
        Some(field) => write!(f, "{}:", field.name()),
        None => Ok(()),
    }
}

/// `clauses` separated by `separator`, each in parentheses if `grouped`
/// says so.
fn write_joined(
    f: &mut fmt::Formatter<'_>,
    clauses: &[Query],
    separator: &str,
    grouped: fn(&Query) -> bool,
) -> fmt::Result {
    for (i, clause) in clauses.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        write_clause(f, clause, grouped(clause))?;
    }
    Ok(())
}

fn write_clause(f: &mut fmt::Formatter<'_>, clause: &Query, grouped: bool) -> fmt::Result {
    if grouped {
        write!(f, "({clause})")
    } else {
        write!(f, "{clause}")
    }
}

/// `text` in double quotes, with `"` and `\` escaped.
fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in text.chars() {
        if c == '"' || c == '\\' {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('"')
}

/// Whether `text` reads back as one plain word: word characters only, no
/// wildcard, a proper first character, and not an operator.
pub(crate) fn is_bare_word(text: &str) -> bool {
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let starts = (is_word_start(first) || (first == '+' && plus_starts_word(chars.clone().next())))
        && first != '*'
        && first != '?';
    starts
        && text
            .chars()
            .all(|c| is_word_char(c) && c != '*' && c != '?')
        && !is_operator(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    /// Parses, prints, and checks the printed form and that it reads back.
    fn check(input: &str, printed: &str) {
        let query = parse(input).unwrap();
        assert_eq!(query.to_string(), printed, "{input}");
        assert_eq!(parse(printed), Ok(query), "{printed}");
    }

    #[test]
    fn canonical_forms() {
        check("", "*");
        check("a b", "a AND b");
        check("a AND b c", "a AND b AND c");
        check("a (b c)", "a AND (b AND c)");
        check("a OR b c", "a OR b AND c");
        check("(a OR b) c", "(a OR b) AND c");
        check("a OR (b OR c)", "a OR (b OR c)");
        check("-a", "NOT a");
        check("-(a b)", "NOT (a AND b)");
        check("NOT NOT a", "NOT NOT a");
        check("+a -b", "a AND NOT b");
        check("from:(ana OR bob)", "from:ana OR from:bob");
        check("risk~", "risk~1");
        check("risk~0", "risk");
        check("\"a  b\"~0", "\"a b\"");
        check("\"a \\\"b\\\" \\\\\"~3", "\"a \\\"b\\\" \\\\\"~3");
        check("tag:\" Needs review \"", "tag:\"Needs review\"");
        check("tag:\"NOT\"", "tag:\"NOT\"");
        check("tag:\"-x\"", "tag:\"-x\"");
        check("tag:\"a*\"", "tag:\"a*\"");
        check("DIRECTION:Inbound", "direction:inbound");
        check("after:2024-06-01", "after:2024-06-01T00:00:00Z");
        check(
            "before:2024-06-01T09:30+02:00",
            "before:2024-06-01T07:30:00Z",
        );
        check("Has:Attachment", "has:attachment");
        check("from:+5511988887777", "from:+5511988887777");
    }

    #[test]
    fn bare_words() {
        for word in ["a", "+55", "don't", "a-b", ".x", "'q'", "and", "NOTE"] {
            assert!(is_bare_word(word), "{word}");
        }
        for text in [
            "", "AND", "NOT", "-a", "+a", "+", "a b", "a*", "?", "a:b", "a\"", "#",
        ] {
            assert!(!is_bare_word(text), "{text}");
        }
    }
}
