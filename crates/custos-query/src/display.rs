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

    mod generated {
        use super::super::is_bare_word;
        use crate::{Field, MAX_FUZZY, MAX_SLOP, Query, parse};
        use custos_model::Timestamp;
        use proptest::prelude::*;

        /// A plain word, sometimes a phone number.
        fn word() -> impl Strategy<Value = String> {
            prop_oneof![
                "[a-zA-Z0-9_.@'àçé日][a-zA-Z0-9_.@'+\\-àé]{0,6}",
                "\\+[0-9]{1,12}",
                Just("AND".to_string()),
                Just("NOTE".to_string()),
            ]
            .prop_filter("operators are not words", |w| is_bare_word(w))
        }

        fn any_field() -> impl Strategy<Value = Field> {
            proptest::sample::select(Field::ALL.to_vec())
        }

        /// Fields where a quoted value is a phrase (`None` is the text).
        fn phrase_field() -> impl Strategy<Value = Option<Field>> {
            proptest::sample::select(vec![
                None,
                Some(Field::From),
                Some(Field::To),
                Some(Field::Participant),
            ])
        }

        fn exact_field() -> impl Strategy<Value = Field> {
            any_field().prop_filter("exact-value fields", |f| f.is_exact())
        }

        fn not_direction() -> impl Strategy<Value = Option<Field>> {
            proptest::option::of(
                any_field().prop_filter("no wildcards", |f| *f != Field::Direction),
            )
        }

        /// A pattern with a `*` or `?` that is not one trailing `*`.
        fn pattern() -> impl Strategy<Value = String> {
            proptest::collection::vec(("[a-zé0-9]{0,3}", "[*?]{1,2}"), 1..4)
                .prop_map(|parts| parts.into_iter().map(|(a, b)| a + &b).collect::<String>())
                .prop_filter("a wildcard, not a prefix", |p| {
                    let prefix = p
                        .strip_suffix('*')
                        .is_some_and(|r| !r.is_empty() && !r.contains(['*', '?']));
                    !prefix
                })
        }

        fn leaf() -> impl Strategy<Value = Query> {
            let seconds = -62_000_000_000i64..253_402_000_000;
            let instant = (seconds, 0i64..1_000_000)
                .prop_map(|(s, us)| Timestamp::from_micros(s * 1_000_000 + us));
            prop_oneof![
                Just(Query::All),
                Just(Query::HasAttachment),
                (phrase_field(), word(), 0..=MAX_FUZZY)
                    .prop_map(|(field, text, fuzzy)| Query::Term { field, text, fuzzy }),
                (exact_field(), "(?s).{1,10}").prop_filter_map("a trimmed value", |(f, t)| {
                    let text = t.trim();
                    (!text.is_empty()).then(|| Query::Term {
                        field: Some(f),
                        text: text.to_string(),
                        fuzzy: 0,
                    })
                }),
                (exact_field(), word(), 0..=MAX_FUZZY).prop_map(|(f, text, fuzzy)| {
                    Query::Term {
                        field: Some(f),
                        text,
                        fuzzy,
                    }
                }),
                proptest::sample::select(vec!["inbound", "outbound", "internal"]).prop_map(|d| {
                    Query::Term {
                        field: Some(Field::Direction),
                        text: d.into(),
                        fuzzy: 0,
                    }
                }),
                (not_direction(), word()).prop_map(|(field, text)| Query::Prefix { field, text }),
                (not_direction(), pattern())
                    .prop_filter("`*` alone is All", |(f, p)| f.is_some() || p != "*")
                    .prop_map(|(field, pattern)| Query::Wildcard { field, pattern }),
                (
                    phrase_field(),
                    proptest::collection::vec("\\S{1,6}", 1..4),
                    prop_oneof![Just(0u32), 0..=MAX_SLOP],
                )
                    .prop_map(|(field, words, slop)| Query::Phrase {
                        field,
                        words,
                        slop
                    }),
                instant.clone().prop_map(Query::After),
                instant.prop_map(Query::Before),
            ]
        }

        fn query() -> impl Strategy<Value = Query> {
            leaf().prop_recursive(5, 40, 4, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 2..5).prop_map(Query::And),
                    proptest::collection::vec(inner.clone(), 2..5).prop_map(Query::Or),
                    inner.prop_map(|q| Query::Not(Box::new(q))),
                ]
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn printed_queries_parse_back(q in query()) {
                let text = q.to_string();
                prop_assert_eq!(parse(&text), Ok(q), "{}", text);
            }

            #[test]
            fn parse_never_panics_and_what_parses_prints_back(
                text in prop_oneof![
                    "[ a-zA-Z0-9():\"~*?+\\-\\\\.@'é日\t_#]{0,60}",
                    "((NOT|AND|OR|from:|tag:|after:|has:|-|\\(|\\)|\"|~|[0-9]|[a-z]{1,3}| ){0,20})",
                    any::<String>(),
                ]
            ) {
                if let Ok(q) = parse(&text) {
                    let printed = q.to_string();
                    prop_assert_eq!(parse(&printed), Ok(q), "{} printed as {}", text, printed);
                }
            }
        }
    }
}
