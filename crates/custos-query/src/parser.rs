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
        Ok(one_or_many(clauses, Query::Or))
    }

    /// `unary { [AND] unary }`.
    fn and(&mut self, field: Option<Field>) -> Result<Query, ParseError> {
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
        Ok(one_or_many(clauses, Query::And))
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
        Ok(if name == "+" {
            inner
        } else {
            Query::Not(Box::new(inner))
        })
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
        if !self.at_clause() {
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

/// One clause as itself, several under `make`.
fn one_or_many(mut clauses: Vec<Query>, make: fn(Vec<Query>) -> Query) -> Query {
    if clauses.len() == 1 {
        clauses.remove(0)
    } else {
        make(clauses)
    }
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
