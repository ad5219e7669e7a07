//! Running queries: a page of hits in relevance or time order with the
//! total, a snippet per hit with its matches marked, the conversation
//! around a hit, and every matching entry (for exports and cases).

use crate::Result;
use crate::index::SearchIndex;
use crate::schema::{self, Fields};
use crate::translate::{self, Matcher, Resolver};
use custos_model::Timestamp;
use custos_query::Query;
use serde::Serialize;
use std::ops::Bound;
use tantivy::collector::{Count, DocSetCollector, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query as TQuery, RangeQuery, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{DocAddress, Order, Searcher, TantivyDocument, Term};

/// Hit order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    /// Best match first (BM25).
    #[default]
    Relevance,
    /// Most recently sent first.
    Newest,
    /// Oldest first.
    Oldest,
}

impl std::str::FromStr for Sort {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Sort, String> {
        match s {
            "relevance" => Ok(Sort::Relevance),
            "newest" => Ok(Sort::Newest),
            "oldest" => Ok(Sort::Oldest),
            other => Err(format!(
                "sort {other:?}: expected relevance, newest or oldest"
            )),
        }
    }
}

/// Which page, in which order.
#[derive(Clone, Copy, Debug)]
pub struct SearchOptions {
    /// Order of hits.
    pub sort: Sort,
    /// Hits skipped (the page's start).
    pub offset: usize,
    /// Hits returned at most.
    pub limit: usize,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            sort: Sort::Relevance,
            offset: 0,
            limit: 20,
        }
    }
}

/// A piece of a message's text with the matching words marked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Snippet {
    /// The fragment (at most about 200 characters of the text).
    pub text: String,
    /// Byte ranges of matching words in `text`.
    pub highlights: Vec<(usize, usize)>,
    /// Which text of the hit it is cut from: 0 for the text as sent, `n`
    /// for the `n`th edit (so a redaction of that whole text can be
    /// carried over to the fragment).
    #[serde(skip)]
    pub source: usize,
    /// Where the fragment starts in that text (bytes).
    #[serde(skip)]
    pub offset: usize,
}

impl Snippet {
    /// The fragment with each match wrapped in `open` and `close`.
    pub fn marked(&self, open: &str, close: &str) -> String {
        let mut out = String::new();
        let mut at = 0;
        for &(start, end) in &self.highlights {
            out.push_str(&self.text[at..start]);
            out.push_str(open);
            out.push_str(&self.text[start..end]);
            out.push_str(close);
            at = end;
        }
        out.push_str(&self.text[at..]);
        out
    }
}

/// One message found.
#[derive(Clone, Debug, Serialize)]
pub struct Hit {
    /// Its journal entry.
    pub seq: u64,
    /// Its relevance score (relevance order only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    /// When it was sent.
    pub sent_at: Timestamp,
    /// Channel.
    pub channel: String,
    /// Conversation.
    pub conversation: String,
    /// Direction.
    pub direction: String,
    /// Sender (party id).
    pub from: String,
    /// Recipients (party ids).
    pub to: Vec<String>,
    /// The text as sent.
    pub text: String,
    /// Later versions of the text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub edits: Vec<String>,
    /// Whether it was deleted at the source.
    pub deleted: bool,
    /// Attachment names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<String>,
    /// The matching part of the text.
    pub snippet: Snippet,
}

/// A page of hits.
#[derive(Clone, Debug, Serialize)]
pub struct Results {
    /// Every matching message, not only this page.
    pub total: usize,
    /// The page.
    pub hits: Vec<Hit>,
}

/// Characters of text around the first match in a snippet.
const SNIPPET_CHARS: usize = 200;

impl SearchIndex {
    /// One page of the messages matching `query`, and the total.
    pub fn search(
        &self,
        query: &Query,
        resolver: &dyn Resolver,
        options: &SearchOptions,
    ) -> Result<Results> {
        let fields = self.fields();
        let compiled = translate::translate(query, &fields, resolver)?;
        let matchers = translate::matchers(query);
        let searcher = self.reader().searcher();
        let limit = options.limit.max(1);
        let top = TopDocs::with_limit(limit).and_offset(options.offset);
        let (total, page): (usize, Vec<(Option<f32>, DocAddress)>) = match options.sort {
            Sort::Relevance => {
                let (total, docs) = searcher.search(&compiled, &(Count, top.order_by_score()))?;
                (total, docs.into_iter().map(|(s, d)| (Some(s), d)).collect())
            }
            Sort::Newest | Sort::Oldest => {
                let order = if options.sort == Sort::Newest {
                    Order::Desc
                } else {
                    Order::Asc
                };
                let (total, docs) = searcher.search(
                    &compiled,
                    &(Count, top.order_by_fast_field::<i64>("sent_at", order)),
                )?;
                (total, docs.into_iter().map(|(_, d)| (None, d)).collect())
            }
        };
        let mut hits = Vec::with_capacity(page.len());
        for (score, address) in page {
            let doc: TantivyDocument = searcher.doc(address)?;
            let mut hit = hit_of(&fields, &doc, &matchers);
            hit.score = score;
            hits.push(hit);
        }
        Ok(Results { total, hits })
    }

    /// Every message matching `query`, by journal entry, ascending.
    pub fn matching(&self, query: &Query, resolver: &dyn Resolver) -> Result<Vec<u64>> {
        let fields = self.fields();
        let compiled = translate::translate(query, &fields, resolver)?;
        let searcher = self.reader().searcher();
        let docs = searcher.search(&compiled, &DocSetCollector)?;
        let mut seqs = Vec::with_capacity(docs.len());
        let mut columns = Vec::new();
        for segment in searcher.segment_readers() {
            columns.push(segment.fast_fields().u64("seq")?);
        }
        for address in docs {
            if let Some(seq) = columns[address.segment_ord as usize].first(address.doc_id) {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();
        Ok(seqs)
    }

    /// The message at journal entry `seq`, if the index holds it.
    pub fn get(&self, seq: u64) -> Result<Option<Hit>> {
        let searcher = self.reader().searcher();
        let fields = self.fields();
        let query = TermQuery::new(
            Term::from_field_u64(fields.seq, seq),
            IndexRecordOption::Basic,
        );
        let top = searcher.search(&query, &TopDocs::with_limit(1).order_by_score())?;
        match top.first() {
            Some((_, address)) => {
                let doc: TantivyDocument = searcher.doc(*address)?;
                Ok(Some(hit_of(&fields, &doc, &[])))
            }
            None => Ok(None),
        }
    }

    /// The conversation around message `seq`: up to `before` messages sent
    /// before it, the message, and up to `after` sent after, oldest first.
    pub fn around(&self, seq: u64, before: usize, after: usize) -> Result<Vec<Hit>> {
        let Some(hit) = self.get(seq)? else {
            return Ok(Vec::new());
        };
        let fields = self.fields();
        let searcher = self.reader().searcher();
        let at = hit.sent_at.as_micros();
        let side = |lower: Bound<i64>, upper: Bound<i64>| -> Box<dyn TQuery> {
            let term = |v| Term::from_field_i64(fields.sent_at, v);
            Box::new(BooleanQuery::new(vec![
                (
                    Occur::Must,
                    Box::new(TermQuery::new(
                        Term::from_field_text(fields.conversation, &hit.conversation),
                        IndexRecordOption::Basic,
                    )) as Box<dyn TQuery>,
                ),
                (
                    Occur::Must,
                    Box::new(RangeQuery::new(lower.map(term), upper.map(term))),
                ),
                (
                    Occur::MustNot,
                    Box::new(TermQuery::new(
                        Term::from_field_u64(fields.seq, seq),
                        IndexRecordOption::Basic,
                    )),
                ),
            ]))
        };
        let mut earlier = neighbours(
            &searcher,
            &fields,
            &*side(Bound::Unbounded, Bound::Included(at)),
            before,
            Order::Desc,
        )?;
        earlier.reverse();
        let later = neighbours(
            &searcher,
            &fields,
            &*side(Bound::Excluded(at), Bound::Unbounded),
            after,
            Order::Asc,
        )?;
        let mut out = earlier;
        out.push(hit);
        out.extend(later);
        Ok(out)
    }
}

fn neighbours(
    searcher: &Searcher,
    fields: &Fields,
    query: &dyn TQuery,
    n: usize,
    order: Order,
) -> Result<Vec<Hit>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let docs = searcher.search(
        query,
        &TopDocs::with_limit(n).order_by_fast_field::<i64>("sent_at", order),
    )?;
    let mut out = Vec::new();
    for (_, address) in docs {
        let doc: TantivyDocument = searcher.doc(address)?;
        out.push(hit_of(fields, &doc, &[]));
    }
    Ok(out)
}

fn hit_of(f: &Fields, doc: &TantivyDocument, matchers: &[Matcher]) -> Hit {
    let text_of = |field| {
        doc.get_first(field)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let all_of = |field| -> Vec<String> {
        doc.get_all(field)
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let mut texts = all_of(f.text).into_iter();
    let text = texts.next().unwrap_or_default();
    let edits: Vec<String> = texts.collect();
    let has = all_of(f.has);
    // A match only in an edited version is shown in that version.
    let snippet = std::iter::once(&text)
        .chain(&edits)
        .enumerate()
        .map(|(source, t)| Snippet {
            source,
            ..snippet(t, matchers)
        })
        .find(|s| !s.highlights.is_empty())
        .unwrap_or_else(|| snippet(&text, &[]));
    Hit {
        seq: doc
            .get_first(f.seq)
            .and_then(|v| v.as_u64())
            .unwrap_or_default(),
        score: None,
        sent_at: Timestamp::from_micros(
            doc.get_first(f.sent_at)
                .and_then(|v| v.as_i64())
                .unwrap_or_default(),
        ),
        channel: text_of(f.channel),
        conversation: text_of(f.conversation),
        direction: text_of(f.direction),
        from: text_of(f.from),
        to: all_of(f.to),
        deleted: has.iter().any(|h| h == "deleted"),
        attachments: all_of(f.attachment_name),
        snippet,
        text,
        edits,
    }
}

/// The fragment of `text` around its first matching word, every matching
/// word in it marked.
fn snippet(text: &str, matchers: &[Matcher]) -> Snippet {
    let mut analyzer = schema::analyzer();
    let mut stream = analyzer.token_stream(text);
    let mut matches = Vec::new();
    while let Some(token) = stream.next() {
        if matchers.iter().any(|m| m.matches(&token.text)) {
            matches.push((token.offset_from, token.offset_to));
        }
    }
    let first = matches.first().map(|m| m.0).unwrap_or(0);
    // Start a little before the first match, on a character boundary.
    let mut start = first.saturating_sub(SNIPPET_CHARS / 4);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    if start > 0 {
        // Begin at a word.
        if let Some(space) = text[start..first].find(' ') {
            start += space + 1;
        }
    }
    let mut end = text.len().min(start + SNIPPET_CHARS);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let highlights = matches
        .into_iter()
        .filter(|&(s, e)| s >= start && e <= end)
        .map(|(s, e)| (s - start, e - start))
        .collect();
    Snippet {
        text: text[start..end].to_string(),
        highlights,
        source: 0,
        offset: start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_mark_folded_matches_and_stay_on_char_boundaries() {
        let s = snippet(
            "Posso garantir a AÇÃO, retorno garantido",
            &[
                Matcher::Word("acao".into()),
                Matcher::Prefix("garant".into()),
            ],
        );
        assert_eq!(
            s.marked("[", "]"),
            "Posso [garantir] a [AÇÃO], retorno [garantido]"
        );
        let long = format!("{} needle {}", "ã".repeat(300), "é".repeat(300));
        let s = snippet(&long, &[Matcher::Word("needle".into())]);
        assert!(s.marked("[", "]").contains("[needle]"));
        assert!(s.text.chars().count() <= SNIPPET_CHARS);
    }
}
