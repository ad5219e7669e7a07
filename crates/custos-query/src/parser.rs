//! Tokens to a [`Query`] by recursive descent: `or` over `and` over unary
//! operators over clauses, with the nesting depth bounded.
//!
//! Parentheses are checked first, over all the tokens, so an unbalanced
//! one is reported where it is, whatever else is wrong after it.

use crate::lexer::{FieldName, Kind, Tilde, Token};
use crate::{Field, MAX_DEPTH, MAX_FUZZY, MAX_SLOP, ParseError, Query, date};

/// Parses the tokens of a whole query.
pub(crate) fn parse(tokens: &[Token], end: usize) -> Result<Query, ParseError> {
    check_parentheses(tokens)?;
    if tokens.is_empty() {
        return Ok(Query::All);
    }
    let mut parser = Parser {
        tokens,
        next: 0,
        depth: 0,
        end,
    };
    let query = parser.or(None)?;
    match parser.peek() {
        None => Ok(query),
        // With balanced parentheses only a stray `)` can be left unread.
        Some(token) => Err(ParseError::new(
            token.pos,
            "closing parenthesis without an opening one",
        )),
    }
}

/// Reports the first `)` without its `(`, or the innermost `(` left open.
fn check_parentheses(tokens: &[Token]) -> Result<(), ParseError> {
    let mut open = Vec::new();
    for token in tokens {
        match token.kind {
            Kind::LParen => open.push(token.pos),
            Kind::RParen => {
                open.pop().ok_or_else(|| {
                    ParseError::new(token.pos, "closing parenthesis without an opening one")
                })?;
            }
            _ => {}
        }
    }
    match open.pop() {
        Some(pos) => Err(ParseError::new(pos, "parenthesis never closed")),
        None => Ok(()),
    }
}

struct Parser<'t> {
    tokens: &'t [Token],
    next: usize,
    depth: usize,
    /// The input's length in characters.
    end: usize,
}

impl<'t> Parser<'t> {
    fn peek(&self) -> Option<&'t Token> {
        self.tokens.get(self.next)
    }

    fn bump(&mut self) -> Option<&'t Token> {
        let token = self.tokens.get(self.next);
        self.next += 1;
        token
    }

    /// Whether the next token can begin a clause.
    fn at_clause(&self) -> bool {
        self.peek().is_some_and(|t| {
            matches!(
                t.kind,
                Kind::LParen
                    | Kind::Not
                    | Kind::Minus
                    | Kind::Plus
                    | Kind::Word { .. }
                    | Kind::Quoted { .. }
                    | Kind::Field(_)
            )
        })
    }

    /// Enters one more level of nesting at `pos`.
    fn enter(&mut self, pos: usize) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::new(
                pos,
                format!("nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        Ok(())
    }

    /// `and { OR and }`; `field` is the field of an enclosing `field:(...)`.
    fn or(&mut self, field: Option<Field>) -> Result<Query, ParseError> {
        let start = self.peek().map_or(self.end, |t| t.pos);
        let mut clauses = vec![self.and(field)?];
        while let Some(token) = self.peek() {
            if token.kind != Kind::Or {
                break;
            }
            let pos = token.pos;
            self.bump();
            if !self.at_clause() {
                return Err(ParseError::new(pos, "OR needs a clause after it"));
            }
            clauses.push(self.and(field)?);
        }
        one_or_many(clauses, Query::Or, start)
    }

    /// `unary { [AND] unary }`.
    fn and(&mut self, field: Option<Field>) -> Result<Query, ParseError> {
        let start = self.peek().map_or(self.end, |t| t.pos);
        let mut clauses = vec![self.unary(field)?];
        loop {
            match self.peek() {
                Some(token) if token.kind == Kind::And => {
                    let pos = token.pos;
                    self.bump();
                    if !self.at_clause() {
                        return Err(ParseError::new(pos, "AND needs a clause after it"));
                    }
                }
                _ if self.at_clause() => {}
                _ => break,
            }
            clauses.push(self.unary(field)?);
        }
        one_or_many(clauses, Query::And, start)
    }

    /// `NOT unary | -unary | +unary | primary`.
    fn unary(&mut self, field: Option<Field>) -> Result<Query, ParseError> {
        let Some(token) = self.peek() else {
            // Callers check `at_clause` first; an empty end is still an
            // error, never a panic.
            return Err(ParseError::new(self.end, "expected a clause"));
        };
        let pos = token.pos;
        let (name, touching) = match token.kind {
            Kind::Not => ("NOT", false),
            Kind::Minus => ("-", true),
            Kind::Plus => ("+", true),
            _ => return self.primary(field),
        };
        self.bump();
        if !self.at_clause() {
            return Err(ParseError::new(
                pos,
                format!("{name} needs a clause after it"),
            ));
        }
        if touching && self.peek().is_some_and(|t| t.pos != pos + 1) {
            return Err(ParseError::new(
                pos,
                format!("{name} must come right before its clause, without a space"),
            ));
        }
        self.enter(pos)?;
        let inner = self.unary(field)?;
        self.depth -= 1;
        if name == "+" {
            Ok(inner)
        } else {
            within_depth(Query::Not(Box::new(inner)), pos)
        }
    }

    /// A group, a field clause, a word or a quoted string.
    fn primary(&mut self, field: Option<Field>) -> Result<Query, ParseError> {
        let end = self.end;
        let Some(token) = self.bump() else {
            return Err(ParseError::new(end, "expected a clause"));
        };
        let pos = token.pos;
        match &token.kind {
            Kind::LParen => self.group(pos, field),
            Kind::Word { text, tilde } => word(field, text, pos, *tilde),
            Kind::Quoted { text, tilde } => quoted(field, text, pos, *tilde),
            Kind::Field(name) => {
                if let Some(outer) = field {
                    return Err(ParseError::new(
                        pos,
                        format!("a field cannot be named inside {}:( )", outer.name()),
                    ));
                }
                self.field_value(*name)
            }
            Kind::And => Err(ParseError::new(pos, "AND needs a clause before it")),
            Kind::Or => Err(ParseError::new(pos, "OR needs a clause before it")),
            Kind::RParen => Err(ParseError::new(pos, "expected a clause before ')'")),
            // The lexer puts a date only right after its field.
            Kind::Not | Kind::Minus | Kind::Plus | Kind::Date(_) => {
                Err(ParseError::new(pos, "expected a clause"))
            }
        }
    }

    /// The rest of a group whose `(` was at `open`.
    fn group(&mut self, open: usize, field: Option<Field>) -> Result<Query, ParseError> {
        self.enter(open)?;
        if self.peek().is_some_and(|t| t.kind == Kind::RParen) {
            return Err(ParseError::new(open, "empty parentheses"));
        }
        let inner = self.or(field)?;
        match self.bump() {
            Some(token) if token.kind == Kind::RParen => {}
            _ => return Err(ParseError::new(open, "parenthesis never closed")),
        }
        self.depth -= 1;
        Ok(inner)
    }

    /// The value of the field named at `pos`.
    fn field_value(&mut self, name: FieldName) -> Result<Query, ParseError> {
        let end = self.end;
        let Some(value) = self.bump() else {
            return Err(ParseError::new(
                end,
                format!("{}: needs a value right after the colon", name.name()),
            ));
        };
        let at = value.pos;
        match (name, &value.kind) {
            (FieldName::After, Kind::Date(text)) => date::parse(text)
                .map(Query::After)
                .map_err(|e| ParseError::new(at, format!("after: {e}"))),
            (FieldName::Before, Kind::Date(text)) => date::parse(text)
                .map(Query::Before)
                .map_err(|e| ParseError::new(at, format!("before: {e}"))),
            (FieldName::Has, Kind::Word { text, tilde: None })
                if text.eq_ignore_ascii_case("attachment") =>
            {
                Ok(Query::HasAttachment)
            }
            (FieldName::Has, _) => Err(ParseError::new(at, "has: accepts only attachment")),
            (FieldName::Field(field), Kind::LParen) => self.group(at, Some(field)),
            (FieldName::Field(field), Kind::Word { text, tilde }) => {
                word(Some(field), text, at, *tilde)
            }
            (FieldName::Field(field), Kind::Quoted { text, tilde }) => {
                quoted(Some(field), text, at, *tilde)
            }
            (name, _) => Err(ParseError::new(
                at,
                format!(
                    "{}: needs a value: a word, a quoted phrase or a group in parentheses",
                    name.name()
                ),
            )),
        }
    }
}

/// One clause as itself, several under `make` (starting at `pos`).
fn one_or_many(
    mut clauses: Vec<Query>,
    make: fn(Vec<Query>) -> Query,
    pos: usize,
) -> Result<Query, ParseError> {
    if clauses.len() == 1 {
        Ok(clauses.remove(0))
    } else {
        within_depth(make(clauses), pos)
    }
}

/// Refuses a tree whose `AND`/`OR`/`NOT` levels nest deeper than
/// [`MAX_DEPTH`]: `a (b OR c (d OR ...))` nests two levels per
/// parenthesis. Bounding the tree as well as the text keeps the canonical
/// form, whose parentheses follow the tree, within the text's limit.
fn within_depth(query: Query, pos: usize) -> Result<Query, ParseError> {
    fn depth(q: &Query) -> usize {
        match q {
            Query::And(clauses) | Query::Or(clauses) => {
                1 + clauses.iter().map(depth).max().unwrap_or(0)
            }
            Query::Not(inner) => 1 + depth(inner),
            _ => 0,
        }
    }
    if depth(&query) > MAX_DEPTH {
        return Err(ParseError::new(
            pos,
            format!("nested more than {MAX_DEPTH} levels deep"),
        ));
    }
    Ok(query)
}

/// A word clause: a term, a prefix, a wildcard, or `*` for everything.
fn word(
    field: Option<Field>,
    text: &str,
    pos: usize,
    tilde: Option<Tilde>,
) -> Result<Query, ParseError> {
    if field == Some(Field::Direction) {
        return direction(text, pos, tilde);
    }
    let wild = |c: char| c == '*' || c == '?';
    if text.contains(wild) {
        if let Some(tilde) = tilde {
            return Err(ParseError::new(
                tilde.pos,
                "~ applies to plain words, not to wildcards",
            ));
        }
        if field.is_none() && text == "*" {
            return Ok(Query::All);
        }
        return Ok(match text.strip_suffix('*') {
            Some(prefix) if !prefix.is_empty() && !prefix.contains(wild) => Query::Prefix {
                field,
                text: prefix.to_string(),
            },
            _ => Query::Wildcard {
                field,
                pattern: text.to_string(),
            },
        });
    }
    let fuzzy = match tilde {
        None => 0,
        Some(Tilde { number: None, .. }) => 1,
        Some(Tilde {
            pos,
            number: Some(n),
        }) => match u8::try_from(n) {
            Ok(n) if n <= MAX_FUZZY => n,
            _ => {
                return Err(ParseError::new(
                    pos + 1,
                    format!("the fuzzy distance after ~ is 0, 1 or {MAX_FUZZY}, not {n}"),
                ));
            }
        },
    };
    Ok(Query::Term {
        field,
        text: text.to_string(),
        fuzzy,
    })
}

/// A quoted clause: a phrase, or one exact value for exact-value fields.
fn quoted(
    field: Option<Field>,
    text: &str,
    pos: usize,
    tilde: Option<Tilde>,
) -> Result<Query, ParseError> {
    match field {
        Some(Field::Direction) => return direction(text.trim(), pos, tilde),
        Some(field) if field.is_exact() => {
            if let Some(tilde) = tilde {
                return Err(ParseError::new(
                    tilde.pos,
                    format!("~ does not apply to {}: values", field.name()),
                ));
            }
            let value = text.trim();
            if value.is_empty() {
                return Err(ParseError::new(
                    pos,
                    format!("{}: needs a value inside the quotes", field.name()),
                ));
            }
            return Ok(Query::Term {
                field: Some(field),
                text: value.to_string(),
                fuzzy: 0,
            });
        }
        _ => {}
    }
    let words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    if words.is_empty() {
        return Err(ParseError::new(pos, "empty quotes"));
    }
    let slop = match tilde {
        None => 0,
        Some(Tilde { pos, number: None }) => {
            return Err(ParseError::new(
                pos + 1,
                "a number must follow ~ after a phrase (\"a b\"~5)",
            ));
        }
        Some(Tilde {
            pos,
            number: Some(n),
        }) => match u32::try_from(n) {
            Ok(n) if n <= MAX_SLOP => n,
            _ => {
                return Err(ParseError::new(
                    pos + 1,
                    format!("the proximity after ~ is at most {MAX_SLOP}, not {n}"),
                ));
            }
        },
    };
    Ok(Query::Phrase { field, words, slop })
}

/// A `direction:` value: inbound, outbound or internal, in any case.
fn direction(text: &str, pos: usize, tilde: Option<Tilde>) -> Result<Query, ParseError> {
    let value = text.to_ascii_lowercase();
    if tilde.is_some() || !matches!(value.as_str(), "inbound" | "outbound" | "internal") {
        return Err(ParseError::new(
            pos,
            "direction: accepts inbound, outbound or internal",
        ));
    }
    Ok(Query::Term {
        field: Some(Field::Direction),
        text: value,
        fuzzy: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;
    use custos_model::Timestamp;

    fn term(text: &str) -> Query {
        Query::Term {
            field: None,
            text: text.into(),
            fuzzy: 0,
        }
    }

    fn on(field: Field, text: &str) -> Query {
        Query::Term {
            field: Some(field),
            text: text.into(),
            fuzzy: 0,
        }
    }

    fn not(q: Query) -> Query {
        Query::Not(Box::new(q))
    }

    fn check(input: &str, expected: Query) {
        assert_eq!(parse(input), Ok(expected), "{input}");
    }

    /// Checks the error's position and that its message starts as given.
    fn check_err(input: &str, position: usize, message: &str) {
        let err = parse(input).unwrap_err();
        assert_eq!(err.position, position, "{input}: {err}");
        assert!(
            err.message.starts_with(message),
            "{input}: {err}, expected {message:?}"
        );
    }

    #[test]
    fn empty_and_star_match_everything() {
        check("", Query::All);
        check("  \t\n", Query::All);
        check("*", Query::All);
        check("* -spam", Query::And(vec![Query::All, not(term("spam"))]));
    }

    #[test]
    fn words_fuzzy_prefix_wildcard() {
        check("guarantee", term("guarantee"));
        check(
            "guarantee~",
            Query::Term {
                field: None,
                text: "guarantee".into(),
                fuzzy: 1,
            },
        );
        check(
            "guarantee~2",
            Query::Term {
                field: None,
                text: "guarantee".into(),
                fuzzy: 2,
            },
        );
        check("guarantee~0", term("guarantee"));
        check(
            "guar*",
            Query::Prefix {
                field: None,
                text: "guar".into(),
            },
        );
        for pattern in ["g?ar*ee", "*ee", "guar**", "a?", "**", "?"] {
            check(
                pattern,
                Query::Wildcard {
                    field: None,
                    pattern: pattern.into(),
                },
            );
        }
        check("and", term("and"));
        check("+5511988887777", term("+5511988887777"));
    }

    #[test]
    fn phrases_and_proximity() {
        check(
            "\"guarantee  return\"",
            Query::Phrase {
                field: None,
                words: vec!["guarantee".into(), "return".into()],
                slop: 0,
            },
        );
        check(
            "\"guarantee return\"~5",
            Query::Phrase {
                field: None,
                words: vec!["guarantee".into(), "return".into()],
                slop: 5,
            },
        );
        check(
            "\"guar*\"~1000",
            Query::Phrase {
                field: None,
                words: vec!["guar*".into()],
                slop: 1000,
            },
        );
        check(
            "from:\"Ana Souza\"",
            Query::Phrase {
                field: Some(Field::From),
                words: vec!["Ana".into(), "Souza".into()],
                slop: 0,
            },
        );
    }

    #[test]
    fn precedence_not_and_or() {
        check(
            "a b OR c",
            Query::Or(vec![Query::And(vec![term("a"), term("b")]), term("c")]),
        );
        check(
            "a AND b OR c AND d",
            Query::Or(vec![
                Query::And(vec![term("a"), term("b")]),
                Query::And(vec![term("c"), term("d")]),
            ]),
        );
        check("NOT a b", Query::And(vec![not(term("a")), term("b")]));
        check("NOT a OR b", Query::Or(vec![not(term("a")), term("b")]));
        check(
            "a (b OR c)",
            Query::And(vec![term("a"), Query::Or(vec![term("b"), term("c")])]),
        );
        check("((a))", term("a"));
        check("NOT spam", not(term("spam")));
        check("-spam", not(term("spam")));
        check("+risk", term("risk"));
        check("--a", not(not(term("a"))));
        check("-(a b)", not(Query::And(vec![term("a"), term("b")])));
        check("a-b", term("a-b"));
    }

    #[test]
    fn fields() {
        check("from:ana@bank.example", on(Field::From, "ana@bank.example"));
        check("to:bob", on(Field::To, "bob"));
        check(
            "participant:+5511988887777",
            on(Field::Participant, "+5511988887777"),
        );
        check(
            "custodian:\" Ana Souza \"",
            on(Field::Custodian, "Ana Souza"),
        );
        check("channel:whatsapp", on(Field::Channel, "whatsapp"));
        check("direction:OUTBOUND", on(Field::Direction, "outbound"));
        check("direction:\"internal\"", on(Field::Direction, "internal"));
        check(
            "conversation:wamid.HBgL",
            on(Field::Conversation, "wamid.HBgL"),
        );
        check(
            "policy:\"Insider Trading\"",
            on(Field::Policy, "Insider Trading"),
        );
        check("alert:escalated", on(Field::Alert, "escalated"));
        check("tag:Hot", on(Field::Tag, "Hot"));
        check("hold:\"Case 42\"", on(Field::Hold, "Case 42"));
        check("attachment:pdf", on(Field::Attachment, "pdf"));
        check("From:ana", on(Field::From, "ana"));
        check(
            "tag:urg*",
            Query::Prefix {
                field: Some(Field::Tag),
                text: "urg".into(),
            },
        );
        check(
            "from:*",
            Query::Wildcard {
                field: Some(Field::From),
                pattern: "*".into(),
            },
        );
        check(
            "from:ana~1",
            Query::Term {
                field: Some(Field::From),
                text: "ana".into(),
                fuzzy: 1,
            },
        );
        check("has:attachment", Query::HasAttachment);
    }

    #[test]
    fn field_groups_apply_to_every_term() {
        check(
            "from:(alice OR bob)",
            Query::Or(vec![on(Field::From, "alice"), on(Field::From, "bob")]),
        );
        check(
            "from:(alice -\"bob b\" (c OR d*))",
            Query::And(vec![
                on(Field::From, "alice"),
                not(Query::Phrase {
                    field: Some(Field::From),
                    words: vec!["bob".into(), "b".into()],
                    slop: 0,
                }),
                Query::Or(vec![
                    on(Field::From, "c"),
                    Query::Prefix {
                        field: Some(Field::From),
                        text: "d".into(),
                    },
                ]),
            ]),
        );
        check(
            "direction:(inbound OR internal)",
            Query::Or(vec![
                on(Field::Direction, "inbound"),
                on(Field::Direction, "internal"),
            ]),
        );
    }

    #[test]
    fn dates() {
        let at = |s: &str| Timestamp::parse(s).unwrap();
        check("after:2024-06-01", Query::After(at("2024-06-01T00:00:00Z")));
        check(
            "after:2024-06-01T09:30",
            Query::After(at("2024-06-01T09:30:00Z")),
        );
        check(
            "before:2024-06-01T09:30:00Z",
            Query::Before(at("2024-06-01T09:30:00Z")),
        );
        check(
            "(before:2024-06-01T09:30+02:00)",
            Query::Before(at("2024-06-01T07:30:00Z")),
        );
        check(
            "after:2024-01-01 before:2024-02-01",
            Query::And(vec![
                Query::After(at("2024-01-01T00:00:00Z")),
                Query::Before(at("2024-02-01T00:00:00Z")),
            ]),
        );
    }

    #[test]
    fn parenthesis_errors() {
        check_err("(a OR b", 0, "parenthesis never closed");
        check_err("a (b (c)", 2, "parenthesis never closed");
        check_err("a (b) (c", 6, "parenthesis never closed");
        check_err("a) (b", 1, "closing parenthesis without an opening one");
        check_err("(a))", 3, "closing parenthesis without an opening one");
        check_err("a ()", 2, "empty parentheses");
        check_err("from:()", 5, "empty parentheses");
    }

    #[test]
    fn operator_errors() {
        check_err("guarantee AND", 10, "AND needs a clause after it");
        check_err("a OR", 2, "OR needs a clause after it");
        check_err("a AND OR b", 2, "AND needs a clause after it");
        check_err("(a OR) b", 3, "OR needs a clause after it");
        check_err("AND a", 0, "AND needs a clause before it");
        check_err("OR a", 0, "OR needs a clause before it");
        check_err("a NOT", 2, "NOT needs a clause after it");
        check_err("a -", 2, "- needs a clause after it");
        check_err("a +", 2, "+ needs a clause after it");
        check_err("a - b", 2, "- must come right before its clause");
        check_err("(a NOT)", 3, "NOT needs a clause after it");
        check_err("( AND a)", 2, "AND needs a clause before it");
        check_err("from:(OR a)", 6, "OR needs a clause before it");
    }

    #[test]
    fn value_errors() {
        check_err("frm:ana", 0, "unknown field \"frm\"; fields are from, to,");
        check_err("a NOT:b", 2, "unknown field \"NOT\"");
        check_err("from:", 5, "from: needs a value right after the colon");
        check_err(
            "a from: ana",
            7,
            "from: needs a value right after the colon",
        );
        check_err("from:-ana", 5, "from: needs a value");
        check_err("from:AND", 5, "from: needs a value");
        check_err(
            "from:(a to:b)",
            8,
            "a field cannot be named inside from:( )",
        );
        check_err("has:attachments", 4, "has: accepts only attachment");
        check_err("has:\"attachment\"", 4, "has: accepts only attachment");
        check_err("has:(attachment)", 4, "has: accepts only attachment");
        check_err(
            "direction:sideways",
            10,
            "direction: accepts inbound, outbound or internal",
        );
        check_err("direction:in*", 10, "direction: accepts inbound");
        check_err("direction:inbound~1", 10, "direction: accepts inbound");
        check_err("after:2024-13-01", 6, "after: \"2024-13-01\" is not a date");
        check_err("x before:soon", 9, "before: \"soon\" is not a date");
        check_err("after:", 6, "after: needs a value right after the colon");
        check_err("from:\"  \"", 5, "empty quotes");
        check_err("\"\"", 0, "empty quotes");
        check_err("tag:\" \"", 4, "tag: needs a value inside the quotes");
        check_err("a \"b c", 2, "unterminated quote");
    }

    #[test]
    fn tilde_errors() {
        check_err(
            "risk~3",
            5,
            "the fuzzy distance after ~ is 0, 1 or 2, not 3",
        );
        check_err(
            "risk~300",
            5,
            "the fuzzy distance after ~ is 0, 1 or 2, not 300",
        );
        check_err("risk~x", 5, "expected a number after ~");
        check_err("guar*~1", 5, "~ applies to plain words, not to wildcards");
        check_err("\"a b\"~1001", 6, "the proximity after ~ is at most 1000");
        check_err(
            "\"a b\"~99999999999999999999999",
            6,
            "the proximity after ~ is at most 1000",
        );
        check_err("\"a b\"~", 6, "a number must follow ~ after a phrase");
        check_err("\"a b\"~ c", 6, "a number must follow ~ after a phrase");
        check_err("tag:\"a b\"~2", 9, "~ does not apply to tag: values");
        check_err("a ~2", 2, "~ must come right after a word");
    }

    #[test]
    fn nesting_is_limited() {
        let deep = |n: usize| format!("{}a{}", "(".repeat(n), ")".repeat(n));
        assert_eq!(parse(&deep(MAX_DEPTH)), Ok(term("a")));
        check_err(
            &deep(MAX_DEPTH + 1),
            MAX_DEPTH,
            "nested more than 64 levels deep",
        );
        let nots = |n: usize| format!("{}a", "-".repeat(n));
        assert!(parse(&nots(MAX_DEPTH)).is_ok());
        check_err(
            &nots(MAX_DEPTH + 1),
            MAX_DEPTH,
            "nested more than 64 levels deep",
        );
        // Thousands of parentheses are refused, not a stack overflow.
        let huge = deep(2000);
        assert_eq!(parse(&huge).unwrap_err().position, MAX_DEPTH);
        // Two levels of the tree per parenthesis: `a (b OR a (b OR ...))`.
        let alternating = |n: usize| format!("{}x{}", "a (b OR ".repeat(n), ")".repeat(n));
        assert!(parse(&alternating(32)).is_ok());
        // The tree is checked from the inside out: the first clause found
        // too deep is the `OR` in the outermost parentheses.
        check_err(&alternating(33), 3, "nested more than 64 levels deep");
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        check_err("café ações frm:x", 11, "unknown field \"frm\"");
        check_err("日本語 (", 4, "parenthesis never closed");
    }
}
