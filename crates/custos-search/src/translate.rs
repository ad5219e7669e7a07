//! From a parsed query (`custos_query::Query`) to a tantivy query, and to
//! the matchers that highlight hits.
//!
//! Text words go through the index's analyzer (so case and accents never
//! matter); several words in one term become a phrase. Addresses become
//! party ids. Fields that are archive state rather than message content
//! are resolved now through a [`Resolver`]: `custodian:` (by id, name or
//! unit) to the custodian's addresses, `policy:`/`alert:`/`tag:` to the
//! journal entries their alerts concern, `hold:` to the hold's scope.

use crate::schema::{self, Fields};
use crate::{Error, Result};
use custos_model::{Timestamp, party_id};
use custos_query::{Field, Query};
use std::ops::Bound;
use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, FuzzyTermQuery, Occur, PhraseQuery, Query as TQuery,
    RangeQuery, RegexQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::IndexRecordOption;

/// What a legal hold covers, as the index can test it: every part given
/// must match; within a part, any value.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// Addresses (party ids) of the held custodians.
    pub custodian_addresses: Vec<String>,
    /// Held conversations.
    pub conversations: Vec<String>,
    /// Held participants (party ids).
    pub participants: Vec<String>,
    /// Sent at or after.
    pub from: Option<Timestamp>,
    /// Sent before.
    pub to: Option<Timestamp>,
    /// A saved search: messages it matches now, or entries it matched
    /// when the hold was placed (`frozen`), are held.
    pub search: Option<Query>,
    /// The entries frozen with `search`.
    pub frozen: Vec<u64>,
}

/// Answers the parts of a query that are archive state, not text.
pub trait Resolver {
    /// The addresses (party ids) of the custodians named by `who` (an id,
    /// a name or a business unit); `None` if it names nobody.
    fn custodian(&self, who: &str) -> Option<Vec<String>>;
    /// The messages concerned by alerts matching `field:value`, for
    /// `policy:`, `alert:` (an id or a status) and `tag:`.
    fn flagged(&self, field: Field, value: &str) -> Flagged;
    /// The scope of hold `id`; `None` if there is no such hold.
    fn hold(&self, id: &str) -> Option<Scope>;
    /// Every address (party id) of the person `address` names, across
    /// channels; by default the address alone.
    fn aliases(&self, address: &str) -> Vec<String> {
        vec![party_id(address)]
    }
}

/// Messages named by their journal entry or by channel and source id
/// (an alert on an edit names the edit's entry and the message's id).
#[derive(Clone, Debug, Default)]
pub struct Flagged {
    /// Journal entries.
    pub seqs: Vec<u64>,
    /// `(channel, source id)` of messages.
    pub messages: Vec<(String, String)>,
}

/// A resolver for an archive with no custodians, alerts or holds.
pub struct NoState;

impl Resolver for NoState {
    fn custodian(&self, _: &str) -> Option<Vec<String>> {
        None
    }
    fn flagged(&self, _: Field, _: &str) -> Flagged {
        Flagged::default()
    }
    fn hold(&self, _: &str) -> Option<Scope> {
        None
    }
}

/// How a word of the text is recognised for highlighting.
#[derive(Debug)]
pub(crate) enum Matcher {
    Word(String),
    Prefix(String),
    Pattern(regex::Regex),
    Fuzzy(String, u8),
}

impl Matcher {
    pub(crate) fn matches(&self, word: &str) -> bool {
        match self {
            Matcher::Word(w) => w == word,
            Matcher::Prefix(p) => word.starts_with(p.as_str()),
            Matcher::Pattern(r) => r.is_match(word),
            Matcher::Fuzzy(w, d) => levenshtein(w, word) <= *d as usize,
        }
    }
}

/// Translates `query` for the index with `fields`.
pub fn translate(
    query: &Query,
    fields: &Fields,
    resolver: &dyn Resolver,
) -> Result<Box<dyn TQuery>> {
    Translator {
        f: fields,
        resolver,
    }
    .query(query)
}

/// The highlight matchers of the query's positive text clauses.
pub(crate) fn matchers(query: &Query) -> Vec<Matcher> {
    let mut out = Vec::new();
    collect(query, &mut out);
    out
}

fn collect(query: &Query, out: &mut Vec<Matcher>) {
    match query {
        Query::Term {
            field: None,
            text,
            fuzzy,
        } => {
            for w in schema::words(text) {
                out.push(if *fuzzy > 0 {
                    Matcher::Fuzzy(w, *fuzzy)
                } else {
                    Matcher::Word(w)
                });
            }
        }
        Query::Prefix { field: None, text } => out.push(Matcher::Prefix(schema::fold_word(text))),
        Query::Wildcard {
            field: None,
            pattern,
        } => {
            if let Ok(r) = regex::Regex::new(&format!("^(?:{})$", wildcard_regex(pattern))) {
                out.push(Matcher::Pattern(r));
            }
        }
        Query::Phrase {
            field: None, words, ..
        } => {
            for w in words.iter().flat_map(|w| schema::words(w)) {
                out.push(Matcher::Word(w));
            }
        }
        Query::And(qs) | Query::Or(qs) => qs.iter().for_each(|q| collect(q, out)),
        _ => {}
    }
}

struct Translator<'a> {
    f: &'a Fields,
    resolver: &'a dyn Resolver,
}

impl Translator<'_> {
    fn query(&self, query: &Query) -> Result<Box<dyn TQuery>> {
        Ok(match query {
            Query::All => Box::new(AllQuery),
            Query::Term { field, text, fuzzy } => self.term(*field, text, *fuzzy)?,
            Query::Prefix { field, text } => match field {
                None => regex_query(
                    &format!("{}.*", regex::escape(&schema::fold_word(text))),
                    self.f.text,
                )?,
                Some(field) => {
                    let (target, value) = self.exact_value(*field, text)?;
                    regex_query(&format!("{}.*", regex::escape(&value)), target)?
                }
            },
            Query::Wildcard { field, pattern } => match field {
                None => regex_query(&wildcard_regex(pattern), self.f.text)?,
                Some(field) => {
                    let (target, _) = self.exact_value(*field, "x")?;
                    regex_query(&raw_wildcard_regex(pattern), target)?
                }
            },
            Query::Phrase { field, words, slop } => match field {
                None => {
                    let words: Vec<String> = words.iter().flat_map(|w| schema::words(w)).collect();
                    self.text_words(words, *slop, 0)
                }
                Some(field) => self.term(Some(*field), &words.join(" "), 0)?,
            },
            Query::After(t) => Box::new(RangeQuery::new(
                Bound::Included(Term::from_field_i64(self.f.sent_at, t.as_micros())),
                Bound::Unbounded,
            )),
            Query::Before(t) => Box::new(RangeQuery::new(
                Bound::Unbounded,
                Bound::Excluded(Term::from_field_i64(self.f.sent_at, t.as_micros())),
            )),
            Query::HasAttachment => term_query(self.f.has, "attachment"),
            Query::And(qs) => {
                let mut clauses = Vec::new();
                for q in qs {
                    match q {
                        Query::Not(inner) => clauses.push((Occur::MustNot, self.query(inner)?)),
                        q => clauses.push((Occur::Must, self.query(q)?)),
                    }
                }
                if clauses.iter().all(|(o, _)| *o == Occur::MustNot) {
                    clauses.push((Occur::Must, Box::new(AllQuery)));
                }
                Box::new(BooleanQuery::new(clauses))
            }
            Query::Or(qs) => {
                let mut clauses = Vec::new();
                for q in qs {
                    clauses.push((Occur::Should, self.query(q)?));
                }
                Box::new(BooleanQuery::new(clauses))
            }
            Query::Not(inner) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, Box::new(AllQuery)),
                (Occur::MustNot, self.query(inner)?),
            ])),
        })
    }

    /// Words of the text: one word a term (fuzzy if asked), more a phrase.
    fn text_words(&self, words: Vec<String>, slop: u32, fuzzy: u8) -> Box<dyn TQuery> {
        let mut terms: Vec<Term> = words
            .iter()
            .map(|w| Term::from_field_text(self.f.text, w))
            .collect();
        match terms.len() {
            0 => Box::new(EmptyQuery),
            1 => {
                let term = terms.pop().expect("one term");
                if fuzzy > 0 {
                    Box::new(FuzzyTermQuery::new(term, fuzzy, true))
                } else {
                    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs))
                }
            }
            _ => {
                let mut phrase = PhraseQuery::new(terms);
                phrase.set_slop(slop);
                Box::new(phrase)
            }
        }
    }

    fn term(&self, field: Option<Field>, text: &str, fuzzy: u8) -> Result<Box<dyn TQuery>> {
        let Some(field) = field else {
            return Ok(self.text_words(schema::words(text), 0, fuzzy));
        };
        let value = text.trim();
        Ok(match field {
            Field::From | Field::To | Field::Participant => {
                let target = match field {
                    Field::From => self.f.from,
                    Field::To => self.f.to,
                    _ => self.f.participant,
                };
                // A custodian's id, name or unit first (ids may hold
                // digits), then an address.
                match self.resolver.custodian(value) {
                    Some(addresses) => term_set(target, &addresses),
                    None if looks_like_address(value) => {
                        term_set(target, &self.resolver.aliases(value))
                    }
                    None => {
                        return Err(Error::Query(format!(
                            "{}:{value}: no custodian has that id, name or unit, and it is not an address",
                            field.name()
                        )));
                    }
                }
            }
            Field::Custodian => {
                let addresses = self.resolver.custodian(value).ok_or_else(|| {
                    Error::Query(format!(
                        "custodian:{value}: no custodian has that id, name or unit"
                    ))
                })?;
                term_set(self.f.participant, &addresses)
            }
            Field::Policy | Field::Alert | Field::Tag => {
                let flagged = self.resolver.flagged(field, value);
                let by_seq = TermSetQuery::new(
                    flagged
                        .seqs
                        .into_iter()
                        .map(|s| Term::from_field_u64(self.f.seq, s)),
                );
                let by_id = TermSetQuery::new(flagged.messages.iter().map(|(channel, id)| {
                    Term::from_field_text(self.f.key, &crate::index::message_key(channel, id))
                }));
                Box::new(BooleanQuery::new(vec![
                    (Occur::Should, Box::new(by_seq) as Box<dyn TQuery>),
                    (Occur::Should, Box::new(by_id)),
                ]))
            }
            Field::Hold => {
                let scope = self
                    .resolver
                    .hold(value)
                    .ok_or_else(|| Error::Query(format!("hold:{value}: there is no such hold")))?;
                self.scope(&scope)?
            }
            Field::Channel | Field::Direction | Field::Conversation | Field::Attachment => {
                let (target, value) = self.exact_value(field, value)?;
                if fuzzy > 0 {
                    Box::new(FuzzyTermQuery::new(
                        Term::from_field_text(target, &value),
                        fuzzy,
                        true,
                    ))
                } else {
                    term_query(target, &value)
                }
            }
        })
    }

    /// The indexed field and normalised value of an exact-value clause.
    fn exact_value(&self, field: Field, value: &str) -> Result<(tantivy::schema::Field, String)> {
        let value = value.trim();
        Ok(match field {
            Field::From => (self.f.from, party_id(value)),
            Field::To => (self.f.to, party_id(value)),
            Field::Participant | Field::Custodian => (self.f.participant, party_id(value)),
            Field::Channel => (self.f.channel, value.to_lowercase()),
            Field::Direction => (self.f.direction, value.to_lowercase()),
            Field::Conversation => (self.f.conversation, value.to_string()),
            Field::Attachment => (
                self.f.attachment,
                value.trim_start_matches('.').to_lowercase(),
            ),
            Field::Policy | Field::Alert | Field::Tag | Field::Hold => {
                return Err(Error::Query(format!(
                    "{}: takes a whole value, not a prefix or pattern",
                    field.name()
                )));
            }
        })
    }

    fn scope(&self, scope: &Scope) -> Result<Box<dyn TQuery>> {
        let mut parts: Vec<(Occur, Box<dyn TQuery>)> = Vec::new();
        if let Some(search) = &scope.search {
            let frozen = TermSetQuery::new(
                scope
                    .frozen
                    .iter()
                    .map(|s| Term::from_field_u64(self.f.seq, *s)),
            );
            parts.push((
                Occur::Must,
                Box::new(BooleanQuery::new(vec![
                    (Occur::Should, self.query(search)?),
                    (Occur::Should, Box::new(frozen) as Box<dyn TQuery>),
                ])),
            ));
        }
        if !scope.custodian_addresses.is_empty() {
            parts.push((
                Occur::Must,
                term_set(self.f.participant, &scope.custodian_addresses),
            ));
        }
        if !scope.conversations.is_empty() {
            parts.push((
                Occur::Must,
                term_set(self.f.conversation, &scope.conversations),
            ));
        }
        if !scope.participants.is_empty() {
            parts.push((
                Occur::Must,
                term_set(self.f.participant, &scope.participants),
            ));
        }
        if scope.from.is_some() || scope.to.is_some() {
            let bound = |t: Option<Timestamp>, inclusive: bool| match t {
                None => Bound::Unbounded,
                Some(t) => {
                    let term = Term::from_field_i64(self.f.sent_at, t.as_micros());
                    if inclusive {
                        Bound::Included(term)
                    } else {
                        Bound::Excluded(term)
                    }
                }
            };
            parts.push((
                Occur::Must,
                Box::new(RangeQuery::new(
                    bound(scope.from, true),
                    bound(scope.to, false),
                )),
            ));
        }
        if parts.is_empty() {
            return Ok(Box::new(AllQuery));
        }
        Ok(Box::new(BooleanQuery::new(parts)))
    }
}

fn term_query(field: tantivy::schema::Field, value: &str) -> Box<dyn TQuery> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    ))
}

fn term_set(field: tantivy::schema::Field, values: &[String]) -> Box<dyn TQuery> {
    Box::new(TermSetQuery::new(
        values.iter().map(|v| Term::from_field_text(field, v)),
    ))
}

fn regex_query(pattern: &str, field: tantivy::schema::Field) -> Result<Box<dyn TQuery>> {
    let query = RegexQuery::from_pattern(pattern, field)
        .map_err(|e| Error::Query(format!("pattern {pattern:?}: {e}")))?;
    Ok(Box::new(query))
}

/// A text wildcard as a regex over folded words: `*` any run, `?` one
/// character, literal runs folded as the index folds them.
pub(crate) fn wildcard_regex(pattern: &str) -> String {
    let mut out = String::new();
    let mut literal = String::new();
    let flush = |literal: &mut String, out: &mut String| {
        out.push_str(&regex::escape(&schema::fold_word(literal)));
        literal.clear();
    };
    for c in pattern.chars() {
        match c {
            '*' => {
                flush(&mut literal, &mut out);
                out.push_str(".*");
            }
            '?' => {
                flush(&mut literal, &mut out);
                out.push('.');
            }
            c => literal.push(c),
        }
    }
    flush(&mut literal, &mut out);
    out
}

/// A wildcard over an exact value (kept as typed).
fn raw_wildcard_regex(pattern: &str) -> String {
    let mut out = String::new();
    for c in pattern.trim().chars() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out
}

/// Whether a `from:`/`to:`/`participant:` value is an address rather
/// than a custodian's id, name or unit: it holds a digit or an `@`.
fn looks_like_address(value: &str) -> bool {
    value.contains('@') || value.chars().any(|c| c.is_ascii_digit())
}

/// Edit distance (insertions, deletions, substitutions) between two words.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_fold_their_literal_runs() {
        assert_eq!(wildcard_regex("Aç?o*"), "ac.o.*");
        assert_eq!(raw_wildcard_regex("+55*"), "\\+55.*");
    }

    #[test]
    fn levenshtein_counts_edits() {
        assert_eq!(levenshtein("guarantee", "guarantee"), 0);
        assert_eq!(levenshtein("guarantee", "guarentee"), 1);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
    }

    #[test]
    fn addresses_are_told_from_names() {
        assert!(looks_like_address("+55 11 98888-7777"));
        assert!(looks_like_address("ana@bank.example"));
        assert!(!looks_like_address("Ana Ruiz"));
    }
}
