//! A [`Query`] printed as query text that parses back to the same tree.
//!
//! The printed (canonical) form is never longer, and never nested deeper,
//! than any text that parses to the same tree, so whatever was accepted
//! prints as something accepted again (within [`crate::MAX_QUERY_BYTES`] and
//! [`crate::MAX_DEPTH`]). Hence its spelling: clauses ANDed by a space, `OR`
//! spelled out, `NOT` as `-`, parentheses only where the tree needs them,
//! `from:(a OR b)` rather than `from:a OR from:b`, `~` for an edit distance
//! of 1, a value quoted only when it cannot stand as a word, a backslash
//! escaped only where it must be, dates in their shortest UTC form.

use std::fmt::{self, Write};

use crate::lexer::{is_operator, is_word_char, is_word_start, plus_starts_word};
use crate::{Field, Query, date};

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_query(f, self, None)
    }
}

/// Writes `q`; `group` is the field of an enclosing `field:( )`, whose
/// terms are then written without their field.
fn write_query(f: &mut fmt::Formatter<'_>, q: &Query, group: Option<Field>) -> fmt::Result {
    match q {
        Query::All => f.write_str("*"),
        Query::Term { field, text, fuzzy } => {
            write_field(f, *field, group)?;
            if is_bare_word(text) {
                f.write_str(text)?;
            } else {
                write_quoted(f, text)?;
            }
            match fuzzy {
                0 => Ok(()),
                1 => f.write_char('~'),
                n => write!(f, "~{n}"),
            }
        }
        Query::Prefix { field, text } => {
            write_field(f, *field, group)?;
            write!(f, "{text}*")
        }
        Query::Wildcard { field, pattern } => {
            write_field(f, *field, group)?;
            f.write_str(pattern)
        }
        Query::Phrase { field, words, slop } => {
            write_field(f, *field, group)?;
            write_quoted(f, &words.join(" "))?;
            if *slop > 0 {
                write!(f, "~{slop}")?;
            }
            Ok(())
        }
        Query::After(at) => write!(f, "after:{}", date::format(*at)),
        Query::Before(at) => write!(f, "before:{}", date::format(*at)),
        Query::HasAttachment => f.write_str("has:attachment"),
        // Never produced by the parser; printed as what they match.
        Query::And(clauses) if clauses.is_empty() => f.write_str("*"),
        Query::Or(clauses) if clauses.is_empty() => f.write_str("-*"),
        Query::And(clauses) | Query::Or(clauses) => {
            if group.is_none()
                && let Some(field) = only_field(q)
            {
                write!(f, "{}:(", field.name())?;
                write_joined(f, q, clauses, Some(field))?;
                return f.write_char(')');
            }
            write_joined(f, q, clauses, group)
        }
        Query::Not(inner) => {
            f.write_char('-')?;
            write_clause(f, inner, group, true)
        }
    }
}

/// The clauses of `q` (an `And` or an `Or`), separated as it needs.
fn write_joined(
    f: &mut fmt::Formatter<'_>,
    q: &Query,
    clauses: &[Query],
    group: Option<Field>,
) -> fmt::Result {
    let (separator, grouped): (&str, fn(&Query) -> bool) = match q {
        Query::Or(_) => (" OR ", |c| matches!(c, Query::Or(_))),
        _ => (" ", |c| matches!(c, Query::And(_) | Query::Or(_))),
    };
    for (i, clause) in clauses.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        write_clause(f, clause, group, grouped(clause))?;
    }
    Ok(())
}

/// Writes a clause, in parentheses if `grouped` (unless it prints as a
/// `field:( )` group, which already is one).
fn write_clause(
    f: &mut fmt::Formatter<'_>,
    clause: &Query,
    group: Option<Field>,
    grouped: bool,
) -> fmt::Result {
    let compound = matches!(clause, Query::And(v) | Query::Or(v) if !v.is_empty());
    let field_group = group.is_none() && only_field(clause).is_some();
    if grouped && compound && !field_group {
        f.write_char('(')?;
        write_query(f, clause, group)?;
        f.write_char(')')
    } else {
        write_query(f, clause, group)
    }
}

/// The one field every term under `q` (an `And` or an `Or`) names, if
/// there is one: then `q` prints as `field:( )`.
fn only_field(q: &Query) -> Option<Field> {
    fn field_of(q: &Query) -> Option<Option<Field>> {
        match q {
            Query::Term { field, .. }
            | Query::Prefix { field, .. }
            | Query::Wildcard { field, .. }
            | Query::Phrase { field, .. } => Some(*field),
            Query::Not(inner) => field_of(inner),
            Query::And(clauses) | Query::Or(clauses) => {
                let mut fields = clauses.iter().map(field_of);
                let first = fields.next()??;
                fields.all(|f| f == Some(first)).then_some(first)
            }
            _ => None,
        }
    }
    match q {
        Query::And(clauses) | Query::Or(clauses) if !clauses.is_empty() => field_of(q)?,
        _ => None,
    }
}

fn write_field(
    f: &mut fmt::Formatter<'_>,
    field: Option<Field>,
    group: Option<Field>,
) -> fmt::Result {
    match field {
        Some(field) if group != Some(field) => write!(f, "{}:", field.name()),
        _ => Ok(()),
    }
}

/// `text` in double quotes: `"` escaped, and `\` where it would otherwise
/// be read as an escape (before `"` or `\`, or last).
fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_char('"')?;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' if matches!(chars.peek(), None | Some('"' | '\\')) => f.write_str("\\\\")?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// Whether `text` reads back as one plain word: word characters only, no
/// wildcard, a proper first character, and not an operator.
pub(crate) fn is_bare_word(text: &str) -> bool {
    let mut chars = text.chars();
    let starts = match chars.next() {
        Some('+') => plus_starts_word(chars.next()),
        Some(c) => is_word_start(c),
        None => false,
    };
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
        check("a AND b", "a b");
        check("a AND b c", "a b c");
        check("a (b c)", "a (b c)");
        check("a OR b c", "a OR b c");
        check("(a OR b) c", "(a OR b) c");
        check("a OR (b OR c)", "a OR (b OR c)");
        check("NOT a", "-a");
        check("NOT (a b)", "-(a b)");
        check("NOT NOT a", "--a");
        check("+a -b", "a -b");
        check("from:ana OR from:bob", "from:(ana OR bob)");
        check("from:ana -from:bob", "from:(ana -bob)");
        check("-from:ana", "-from:ana");
        check("-(from:a from:b)", "-from:(a b)");
        check("from:(a OR b) from:c", "from:((a OR b) c)");
        check("from:(a OR b) c", "from:(a OR b) c");
        check("(from:a to:b) OR c", "from:a to:b OR c");
        check("from:a OR to:b c", "from:a OR to:b c");
        check("tag:(\"a b\" OR x*)", "tag:(\"a b\" OR x*)");
        check("risk~1", "risk~");
        check("risk~02", "risk~2");
        check("risk~0", "risk");
        check("\"a  b\"~0", "\"a b\"");
        check("\"a  b\"~007", "\"a b\"~7");
        check(r#""a \"b\" \\""#, r#""a \"b\" \\""#);
        check(r#""C:\\path \x""#, r#""C:\path \x""#);
        check(r#""a\\\"b""#, r#""a\\\"b""#);
        check("tag:\" Needs review \"", "tag:\"Needs review\"");
        check("tag:\"Hot\"", "tag:Hot");
        check("tag:\"NOT\"", "tag:\"NOT\"");
        check("tag:\"-x\"", "tag:\"-x\"");
        check("tag:\"a*\"", "tag:\"a*\"");
        check("DIRECTION:Inbound", "direction:inbound");
        check("after:2024-06-01T00:00Z", "after:2024-06-01");
        check(
            "before:2024-06-01T09:30:00+02:00",
            "before:2024-06-01T07:30",
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
            // Years 0 to 9999, the range dates are read in.
            let seconds = -62_167_219_200i64..253_402_000_000;
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

        /// A long-hand spelling of `q`: explicit `AND` and `NOT`, every
        /// field on every term, every compound clause in parentheses,
        /// every backslash escaped, `~1`, RFC 3339 dates.
        fn long_hand(q: &Query) -> String {
            let field = |f: &Option<Field>| f.map(|f| format!("{}:", f.name())).unwrap_or_default();
            let quoted = |t: &str| format!("\"{}\"", t.replace('\\', "\\\\").replace('"', "\\\""));
            let clause = |c: &Query| match c {
                Query::And(_) | Query::Or(_) => format!("({})", long_hand(c)),
                _ => long_hand(c),
            };
            match q {
                Query::All => "*".into(),
                Query::Term {
                    field: f,
                    text,
                    fuzzy,
                } => {
                    let value = if is_bare_word(text) {
                        text.clone()
                    } else {
                        quoted(text)
                    };
                    let fuzzy = if *fuzzy > 0 {
                        format!("~{fuzzy}")
                    } else {
                        String::new()
                    };
                    format!("{}{value}{fuzzy}", field(f))
                }
                Query::Prefix { field: f, text } => format!("{}{text}*", field(f)),
                Query::Wildcard { field: f, pattern } => format!("{}{pattern}", field(f)),
                Query::Phrase {
                    field: f,
                    words,
                    slop,
                } => {
                    format!("{}{}~{slop}", field(f), quoted(&words.join("  ")))
                }
                Query::After(at) => format!("after:{at}"),
                Query::Before(at) => format!("before:{at}"),
                Query::HasAttachment => "has:attachment".into(),
                Query::And(v) => v.iter().map(clause).collect::<Vec<_>>().join(" AND "),
                Query::Or(v) => v.iter().map(clause).collect::<Vec<_>>().join(" OR "),
                Query::Not(inner) => format!("NOT {}", clause(inner)),
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn printed_queries_parse_back(q in query()) {
                let text = q.to_string();
                prop_assert_eq!(parse(&text), Ok(q.clone()), "{}", text);
                // The canonical form is never longer than another spelling.
                let long = long_hand(&q);
                prop_assert_eq!(parse(&long), Ok(q), "{}", long);
                prop_assert!(text.len() <= long.len(), "{} longer than {}", text, long);
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
                    // (The empty query prints as `*`.)
                    prop_assert!(printed.len() <= text.len().max(1), "{} printed as {}", text, printed);
                    prop_assert_eq!(parse(&printed), Ok(q), "{} printed as {}", text, printed);
                }
            }
        }
    }
}
