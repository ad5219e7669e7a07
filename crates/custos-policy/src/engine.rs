//! Compiling every active policy into one scan, and evaluating messages.
//!
//! All terms of all policies (with their exceptions and `NEAR` operands)
//! go into one Aho-Corasick DFA over folded text ([`crate::fold`]),
//! together with the folded prefix literals of every regex that has a
//! finite set of them; the regexes without usable literals go into one
//! multi-pattern `regex_automata` regex. A message is folded once and
//! scanned once by each, however many policies are active:
//!
//! 1. scope filters pick the policies that apply; none, no scan;
//! 2. the text is folded and the automaton reports candidate matches of
//!    each phrase's literal head (its words up to the first wildcard),
//!    each checked in place (word boundaries, wildcard words, the rest of
//!    the phrase), and the regexes whose literals occur;
//! 3. the residual multi-pattern regex runs (loosened so its lazy DFA
//!    never gives up on non-ASCII text; see
//!    [`without_unicode_word_boundaries`]), telling which of those
//!    regexes may match;
//! 4. a policy made only of terms and regexes with no evidence from 2 and 3
//!    is skipped; the others are evaluated: a regex runs exactly, on the
//!    original text, only if it may match; detectors run at most once per
//!    message, when a policy reaches them; text hits inside a match of the
//!    policy's exceptions are removed before its condition is decided.
//!
//! Why not one `new_many` regex for every regex, as first built: with 200
//! regexes using Unicode `\b`, the lazy DFA gives up on every message with
//! an accent and the PikeVM takes ~1 ms per message (0.2 MB/s). Prefix
//! literals in the term automaton plus a loosened residual set measured
//! ~200x faster on the benchmark corpus, with the same matches.
//!
//! The engine does no I/O.

use crate::detect::Detector;
use crate::error::PolicyError;
use crate::fold::{self, Folded};
use crate::policy::{
    Action, AttachmentRule, Condition, Flag, Hours, Participants, Phrase, Policy, TermKind, Word,
};
use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use custos_model::{Direction, Severity, Timestamp};
use regex_automata::{Input, PatternSet, meta};
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Capture, Hir, HirKind, Look, Repetition};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// An attachment, as far as policies care.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentInfo {
    /// Its media type, e.g. `application/pdf`.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
}

/// What the engine looks at in one message (or edit, or deletion).
#[derive(Clone, Copy, Debug)]
pub struct Document<'a> {
    /// The channel, e.g. `whatsapp`.
    pub channel: &'a str,
    /// Which way it travelled.
    pub direction: Direction,
    /// The text (of an edit: the new text).
    pub text: &'a str,
    /// Its attachments.
    pub attachments: &'a [AttachmentInfo],
    /// When it was sent.
    pub sent_at: Timestamp,
    /// The business units or desks of the custodians involved.
    pub units: &'a [String],
    /// Whether an external party takes part.
    pub external: bool,
    /// Whether this is the first message with an external party.
    pub new_external_contact: bool,
    /// Whether the text is an edit's new text.
    pub edited: bool,
    /// Whether the event is a deletion.
    pub deleted: bool,
}

/// What kind of evidence a hit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HitKind {
    /// A term (or `NEAR` term) matched.
    Term,
    /// A regex matched.
    Regex,
    /// A detector found something.
    Detector,
    /// An attachment rule held.
    Attachment,
    /// A metadata or sending-time rule held.
    Metadata,
}

/// One piece of evidence that a policy fired.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Hit {
    /// What kind of evidence.
    pub kind: HitKind,
    /// The term as written, the regex, the detector's name, the media
    /// type, the metadata flag or `outside_hours`.
    pub label: String,
    /// Start, in bytes of the original text (0 for non-text hits).
    pub start: usize,
    /// End (exclusive), in bytes of the original text (0 for non-text
    /// hits).
    pub end: usize,
}

/// A policy that fired on a message, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyMatch {
    /// The policy's name.
    pub policy: String,
    /// The version of the policy that fired.
    pub version: u32,
    /// The policy's title.
    pub title: String,
    /// The policy's risk category.
    pub category: String,
    /// The policy's severity.
    pub severity: Severity,
    /// The policy's actions.
    pub actions: Vec<Action>,
    /// The evidence, in the order the condition found it.
    pub hits: Vec<Hit>,
}

/// A term as the engine checks it.
#[derive(Debug)]
enum TermRef {
    Phrase(u32),
    Near {
        left: u32,
        right: u32,
        distance: u32,
    },
}

/// A condition compiled against the engine's tables.
#[derive(Debug)]
enum Node {
    /// The terms, and the range of phrase ids they use (allocated
    /// together), so a leaf without a single phrase hit is dismissed with
    /// one binary search.
    Terms(Vec<(TermRef, String)>, std::ops::Range<u32>),
    Regex(u32),
    Detector(Detector),
    Attachment(AttachmentRule),
    OutsideHours {
        tz: jiff::tz::TimeZone,
        start: u16,
        end: u16,
        days: [bool; 7],
    },
    Metadata(Flag),
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
}

#[derive(Debug)]
struct Compiled {
    policy: Policy,
    version: u32,
    node: Node,
    exceptions: Vec<TermRef>,
    /// Whether the text must be folded and scanned for this policy: it
    /// has terms, exceptions or regexes filtered by the automaton.
    uses_automaton: bool,
    /// Its regexes.
    regexes: Vec<u32>,
    /// Whether only terms and regexes under all/any decide it, so that
    /// without a phrase hit or a candidate regex it cannot fire.
    needs_evidence: bool,
}

/// What an automaton pattern stands for.
#[derive(Clone, Copy, Debug)]
enum Head {
    /// The literal head of this phrase.
    Phrase(u32),
    /// A folded prefix literal of this regex: the regex can only match
    /// where one of its literals occurs.
    Regex(u32),
}

/// How a regex is kept from running on every message.
#[derive(Clone, Copy, Debug)]
enum RegexFilter {
    /// Its folded prefix literals are in the term automaton.
    Literals,
    /// It is pattern `n` of the residual set.
    Set(u32),
}

/// A phrase to check where the automaton found its head.
#[derive(Debug)]
struct PhraseEntry {
    /// The policy it belongs to.
    policy: u32,
    /// Its words.
    words: Vec<Word>,
    /// How many of its words the automaton's key covers.
    head: usize,
}

/// Every active policy, compiled into one scan.
#[derive(Debug)]
pub struct Engine {
    policies: Vec<Compiled>,
    phrases: Vec<PhraseEntry>,
    automaton: Option<AhoCorasick>,
    /// For each automaton pattern, the phrases and regexes it stands for.
    heads: Vec<Vec<Head>>,
    /// The regexes without usable literals, loosened (see
    /// [`without_unicode_word_boundaries`]), as one multi-pattern regex.
    residual_set: Option<meta::Regex>,
    regexes: Vec<meta::Regex>,
    regex_filters: Vec<RegexFilter>,
    /// For each regex, the policies using it.
    regex_policies: Vec<Vec<u32>>,
    /// For each pattern of the residual set, its regex.
    residual_regexes: Vec<u32>,
    regex_labels: Vec<String>,
}

/// The literal head of a phrase: its folded words up to and including the
/// first wildcard word (without the `*`), and how many words that is.
fn head_of(words: &[Word]) -> (String, usize) {
    let mut key = String::new();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            key.push(' ');
        }
        key.push_str(&w.text);
        if w.prefix {
            return (key, i + 1);
        }
    }
    (key, words.len())
}

struct Builder {
    phrases: Vec<PhraseEntry>,
    keys: HashMap<String, u32>,
    heads: Vec<Vec<Head>>,
    regex_patterns: Vec<String>,
    /// The regexes used by the policy being compiled.
    policy_regexes: Vec<u32>,
}

impl Builder {
    fn add_key(&mut self, key: String, head: Head) {
        let next = self.keys.len() as u32;
        let pattern = *self.keys.entry(key).or_insert(next);
        if pattern as usize == self.heads.len() {
            self.heads.push(Vec::new());
        }
        self.heads[pattern as usize].push(head);
    }

    fn phrase(&mut self, policy: u32, phrase: &Phrase) -> u32 {
        let words = phrase.words.clone();
        let (key, head) = head_of(&words);
        let id = self.phrases.len() as u32;
        self.phrases.push(PhraseEntry {
            policy,
            words,
            head,
        });
        self.add_key(key, Head::Phrase(id));
        id
    }

    fn term(&mut self, policy: u32, kind: &TermKind) -> TermRef {
        match kind {
            TermKind::Words(p) => TermRef::Phrase(self.phrase(policy, p)),
            TermKind::Near {
                left,
                right,
                distance,
            } => TermRef::Near {
                left: self.phrase(policy, left),
                right: self.phrase(policy, right),
                distance: *distance,
            },
        }
    }

    fn node(
        &mut self,
        policy: u32,
        c: &Condition,
        uses_terms: &mut bool,
    ) -> Result<Node, PolicyError> {
        Ok(match c {
            Condition::Terms(terms) => {
                *uses_terms = true;
                let first = self.phrases.len() as u32;
                let refs = terms
                    .iter()
                    .map(|t| (self.term(policy, &t.kind), t.text.clone()))
                    .collect();
                Node::Terms(refs, first..self.phrases.len() as u32)
            }
            Condition::Regex(r) => {
                // Policies often share a pattern (a card number, an
                // e-mail address): each distinct one is compiled once.
                let id = match self.regex_patterns.iter().position(|p| p == r) {
                    Some(id) => id as u32,
                    None => {
                        self.regex_patterns.push(r.clone());
                        self.regex_patterns.len() as u32 - 1
                    }
                };
                self.policy_regexes.push(id);
                Node::Regex(id)
            }
            Condition::Detector(d) => Node::Detector(*d),
            Condition::Attachment(a) => Node::Attachment(a.clone()),
            Condition::OutsideHours(Hours {
                tz,
                start,
                end,
                days,
            }) => {
                let zone = jiff::tz::TimeZone::get(tz)
                    .map_err(|e| PolicyError::Compile(format!("time zone {tz:?}: {e}")))?;
                let mut set = [false; 7];
                for &d in days {
                    set[usize::from(d) % 7] = true;
                }
                Node::OutsideHours {
                    tz: zone,
                    start: *start,
                    end: *end,
                    days: set,
                }
            }
            Condition::Metadata(f) => Node::Metadata(*f),
            Condition::All(list) => Node::All(
                list.iter()
                    .map(|c| self.node(policy, c, uses_terms))
                    .collect::<Result<_, _>>()?,
            ),
            Condition::Any(list) => Node::Any(
                list.iter()
                    .map(|c| self.node(policy, c, uses_terms))
                    .collect::<Result<_, _>>()?,
            ),
            Condition::Not(c) => Node::Not(Box::new(self.node(policy, c, uses_terms)?)),
        })
    }
}

/// `hir` with every Unicode word-boundary assertion (`\b`, `\B` and the
/// half and start/end forms) replaced by an empty match.
///
/// The result matches wherever `hir` does (dropping an assertion only
/// widens a language), so the set of all regexes built from these is a
/// sound filter: a regex it does not report cannot match. Unlike the
/// originals, it never makes the lazy DFA give up on non-ASCII text (which
/// Unicode word boundaries do, falling back to a far slower engine on
/// every message with an accent); the regexes it reports are then run
/// exactly.
fn without_unicode_word_boundaries(hir: &Hir) -> Hir {
    match hir.kind() {
        HirKind::Look(
            Look::WordUnicode
            | Look::WordUnicodeNegate
            | Look::WordStartUnicode
            | Look::WordEndUnicode
            | Look::WordStartHalfUnicode
            | Look::WordEndHalfUnicode,
        ) => Hir::empty(),
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            sub: Box::new(without_unicode_word_boundaries(&r.sub)),
            ..r.clone()
        }),
        HirKind::Capture(c) => Hir::capture(Capture {
            sub: Box::new(without_unicode_word_boundaries(&c.sub)),
            ..c.clone()
        }),
        HirKind::Concat(list) => {
            Hir::concat(list.iter().map(without_unicode_word_boundaries).collect())
        }
        HirKind::Alternation(list) => {
            Hir::alternation(list.iter().map(without_unicode_word_boundaries).collect())
        }
        _ => hir.clone(),
    }
}

/// Whether a condition can only hold with text evidence from terms or
/// regexes: it is made of those leaves under all/any, with no `not`.
fn needs_evidence(node: &Node) -> bool {
    match node {
        Node::Terms(..) | Node::Regex(_) => true,
        Node::All(list) | Node::Any(list) => list.iter().all(needs_evidence),
        _ => false,
    }
}

/// The folded prefix literals of a regex, if it has a finite set of them
/// and each is at least three bytes once folded (shorter ones would make
/// the regex a candidate in most messages).
///
/// Folding is character by character, except that a run of separators
/// becomes one space; so wherever a literal occurs in a text, its folded
/// form occurs in the folded text, and the automaton over folded text
/// finds every message the regex can match.
fn folded_prefixes(hir: &Hir) -> Option<Vec<String>> {
    let mut extractor = Extractor::new();
    // Case-insensitive words multiply into many literals, which folding
    // merges again: allow enough for a few alternatives of whole words.
    extractor.kind(ExtractKind::Prefix).limit_total(20_000);
    let seq = extractor.extract(hir);
    let literals = seq.literals()?;
    if literals.is_empty() {
        return None;
    }
    let mut keys = Vec::new();
    for lit in literals {
        // A literal cut inside a character keeps its whole characters (a
        // shorter prefix is still a sound filter).
        let bytes = lit.as_bytes();
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) if e.error_len().is_none() => {
                std::str::from_utf8(&bytes[..e.valid_up_to()]).ok()?
            }
            Err(_) => return None,
        };
        let key = fold::fold(text);
        if key.len() < 3 {
            return None;
        }
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    Some(keys)
}

impl Engine {
    /// Compiles policies, each with its version, into one engine. Names
    /// must be unique.
    pub fn compile(policies: &[(Policy, u32)]) -> Result<Engine, PolicyError> {
        let mut seen: HashMap<&str, &str> = HashMap::new();
        for (p, _) in policies {
            if let Some(first) = seen.insert(&p.name, &p.origin) {
                return Err(PolicyError::DuplicateName {
                    name: p.name.clone(),
                    first: first.to_string(),
                    second: p.origin.clone(),
                });
            }
        }
        let mut b = Builder {
            phrases: Vec::new(),
            keys: HashMap::new(),
            heads: Vec::new(),
            regex_patterns: Vec::new(),
            policy_regexes: Vec::new(),
        };
        let mut compiled = Vec::with_capacity(policies.len());
        for (i, (policy, version)) in policies.iter().enumerate() {
            let mut uses_terms = false;
            let node = b.node(i as u32, &policy.condition, &mut uses_terms)?;
            let exceptions: Vec<TermRef> = policy
                .exceptions
                .iter()
                .map(|t| b.term(i as u32, &t.kind))
                .collect();
            compiled.push(Compiled {
                policy: policy.clone(),
                version: *version,
                needs_evidence: needs_evidence(&node),
                node,
                uses_automaton: uses_terms || !exceptions.is_empty(),
                regexes: std::mem::take(&mut b.policy_regexes),
                exceptions,
            });
        }
        // Each regex with a finite set of prefix literals, all long enough
        // to be selective once folded, is run only where the automaton
        // finds one; the others go into one loosened set run per message.
        let mut regex_filters = Vec::with_capacity(b.regex_patterns.len());
        let mut residual = Vec::new();
        let mut residual_regexes = Vec::new();
        let regex_policies: Vec<Vec<u32>> = (0..b.regex_patterns.len() as u32)
            .map(|r| {
                (0..compiled.len() as u32)
                    .filter(|&p| compiled[p as usize].regexes.contains(&r))
                    .collect()
            })
            .collect();
        for (r, p) in b.regex_patterns.clone().iter().enumerate() {
            let hir = regex_automata::util::syntax::parse(p)
                .map_err(|e| PolicyError::Compile(format!("regex {p:?}: {e}")))?;
            let loose = without_unicode_word_boundaries(&hir);
            match folded_prefixes(&loose) {
                Some(keys) => {
                    for key in keys {
                        b.add_key(key, Head::Regex(r as u32));
                    }
                    regex_filters.push(RegexFilter::Literals);
                    for c in &mut compiled {
                        if c.regexes.contains(&(r as u32)) {
                            c.uses_automaton = true;
                        }
                    }
                }
                None => {
                    regex_filters.push(RegexFilter::Set(residual.len() as u32));
                    residual.push(loose);
                    residual_regexes.push(r as u32);
                }
            }
        }
        let mut keys: Vec<(&String, &u32)> = b.keys.iter().collect();
        keys.sort_by_key(|(_, id)| **id);
        let automaton = if keys.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(keys.iter().map(|(k, _)| k.as_bytes()))
                    .map_err(|e| PolicyError::Compile(format!("term automaton: {e}")))?,
            )
        };
        let residual_set = if residual.is_empty() {
            None
        } else {
            Some(
                meta::Builder::new()
                    .configure(
                        meta::Config::new()
                            .match_kind(regex_automata::MatchKind::All)
                            .hybrid_cache_capacity(8 << 20),
                    )
                    .build_many_from_hir(&residual)
                    .map_err(|e| PolicyError::Compile(format!("regex set: {e}")))?,
            )
        };
        let mut regexes = Vec::with_capacity(b.regex_patterns.len());
        for p in &b.regex_patterns {
            regexes.push(
                meta::Regex::new(p)
                    .map_err(|e| PolicyError::Compile(format!("regex {p:?}: {e}")))?,
            );
        }
        Ok(Engine {
            policies: compiled,
            phrases: b.phrases,
            automaton,
            heads: b.heads,
            residual_set,
            regexes,
            regex_filters,
            regex_policies,
            residual_regexes,
            regex_labels: b.regex_patterns,
        })
    }

    /// The compiled policies and their versions.
    pub fn policies(&self) -> impl Iterator<Item = (&Policy, u32)> {
        self.policies.iter().map(|c| (&c.policy, c.version))
    }

    /// The number of distinct literal heads in the term automaton.
    pub fn automaton_patterns(&self) -> usize {
        self.heads.len()
    }

    /// A scanner with its own scratch space, for evaluating many messages
    /// without allocating for each.
    pub fn scanner(&self) -> Scanner<'_> {
        Scanner {
            engine: self,
            folded: Folded::new(),
            phrase_hits: Vec::new(),
            in_scope: Vec::with_capacity(self.policies.len()),
            candidates: vec![false; self.regexes.len()],
            evidence: Vec::with_capacity(self.policies.len()),
            touched: Vec::new(),
            pattern_set: PatternSet::new(self.residual_set.as_ref().map_or(0, |s| s.pattern_len())),
            residual_done: false,
            detected: Default::default(),
        }
    }

    /// Evaluates every policy on one message: the policies that fire, in
    /// the order they were compiled.
    pub fn evaluate(&self, doc: &Document<'_>) -> Vec<PolicyMatch> {
        self.scanner().evaluate(doc)
    }

    /// Whether any of these matches asks for the message to be blocked.
    pub fn blocks(&self, matches: &[PolicyMatch]) -> bool {
        matches.iter().any(|m| m.actions.contains(&Action::Block))
    }
}

/// Evaluates messages against an [`Engine`], reusing its buffers.
pub struct Scanner<'e> {
    engine: &'e Engine,
    folded: Folded,
    /// (phrase id, folded start, folded end), sorted by phrase id.
    phrase_hits: Vec<(u32, u32, u32)>,
    in_scope: Vec<bool>,
    /// Regexes whose literals the automaton found in this message.
    candidates: Vec<bool>,
    /// The regexes marked in `candidates`, to clear them.
    touched: Vec<u32>,
    /// Per policy: whether a phrase hit or a regex may match.
    evidence: Vec<bool>,
    pattern_set: PatternSet,
    residual_done: bool,
    detected: [Option<Vec<(usize, usize)>>; 6],
}

fn in_scope(policy: &Policy, doc: &Document<'_>) -> bool {
    let s = &policy.scope;
    (s.channels.is_empty() || s.channels.iter().any(|c| c == doc.channel))
        && (s.directions.is_empty() || s.directions.contains(&doc.direction))
        && (s.units.is_empty() || s.units.iter().any(|u| doc.units.contains(u)))
        && match s.participants {
            Participants::Any => true,
            Participants::External => doc.external,
            Participants::Internal => !doc.external,
        }
}

/// Whether the folded text has the phrase's remaining words from `pos`
/// (just after its head's last byte): returns the end of the match.
fn check_phrase(buf: &[u8], start: usize, pos: usize, entry: &PhraseEntry) -> Option<usize> {
    if start > 0 && buf[start - 1] != b' ' {
        return None;
    }
    let mut pos = pos;
    let finish = |pos: &mut usize, prefix: bool| -> bool {
        if prefix {
            while *pos < buf.len() && buf[*pos] != b' ' {
                *pos += 1;
            }
            true
        } else {
            *pos == buf.len() || buf[*pos] == b' '
        }
    };
    if !finish(&mut pos, entry.words[entry.head - 1].prefix) {
        return None;
    }
    for w in &entry.words[entry.head..] {
        if buf.get(pos) != Some(&b' ') {
            return None;
        }
        pos += 1;
        if !buf[pos..].starts_with(w.text.as_bytes()) {
            return None;
        }
        pos += w.text.len();
        if !finish(&mut pos, w.prefix) {
            return None;
        }
    }
    Some(pos)
}

impl Scanner<'_> {
    /// Evaluates every policy on one message: the policies that fire, in
    /// the order they were compiled.
    pub fn evaluate(&mut self, doc: &Document<'_>) -> Vec<PolicyMatch> {
        self.run(doc, true)
    }

    /// Evaluates every policy as if each one's scope included `doc`: for
    /// tuning on labelled texts, which carry no channel or parties.
    pub fn evaluate_ignoring_scope(&mut self, doc: &Document<'_>) -> Vec<PolicyMatch> {
        self.run(doc, false)
    }

    fn run(&mut self, doc: &Document<'_>, scoped: bool) -> Vec<PolicyMatch> {
        let engine = self.engine;
        self.in_scope.clear();
        let mut any = false;
        let mut scan = false;
        let mut residual = false;
        for c in &engine.policies {
            let ok = !scoped || in_scope(&c.policy, doc);
            any |= ok;
            scan |= ok && c.uses_automaton;
            residual |= ok
                && c.needs_evidence
                && c.regexes
                    .iter()
                    .any(|&r| matches!(engine.regex_filters[r as usize], RegexFilter::Set(_)));
            self.in_scope.push(ok);
        }
        self.evidence.clear();
        self.evidence.resize(engine.policies.len(), false);
        let mut out = Vec::new();
        if !any {
            return out;
        }
        self.residual_done = false;
        self.detected = Default::default();
        self.phrase_hits.clear();
        for r in self.touched.drain(..) {
            self.candidates[r as usize] = false;
        }
        if scan && let Some(ac) = &engine.automaton {
            self.folded.fold_without_map(doc.text);
            let buf = self.folded.as_bytes();
            for m in ac.find_overlapping_iter(buf) {
                for &head in &engine.heads[m.pattern().as_usize()] {
                    match head {
                        Head::Phrase(id) => {
                            let entry = &engine.phrases[id as usize];
                            if !self.in_scope[entry.policy as usize] {
                                continue;
                            }
                            if let Some(end) = check_phrase(buf, m.start(), m.end(), entry) {
                                self.phrase_hits.push((id, m.start() as u32, end as u32));
                                self.evidence[entry.policy as usize] = true;
                            }
                        }
                        Head::Regex(r) => {
                            if !self.candidates[r as usize] {
                                self.candidates[r as usize] = true;
                                self.touched.push(r);
                                for &p in &engine.regex_policies[r as usize] {
                                    self.evidence[p as usize] = true;
                                }
                            }
                        }
                    }
                }
            }
            self.phrase_hits.sort_unstable();
            self.phrase_hits.dedup();
            if !self.phrase_hits.is_empty() {
                // Hits are reported in original offsets: fold again, with
                // the map this time (the same bytes).
                self.folded.fold(doc.text);
            }
        }
        if residual {
            self.run_residual(doc.text);
            for n in self.pattern_set.iter() {
                let r = engine.residual_regexes[n.as_usize()];
                for &p in &engine.regex_policies[r as usize] {
                    self.evidence[p as usize] = true;
                }
            }
        }
        for (i, c) in engine.policies.iter().enumerate() {
            if !self.in_scope[i] || (c.needs_evidence && !self.evidence[i]) {
                continue;
            }
            let mut exceptions = Vec::new();
            for t in &c.exceptions {
                self.term_spans(t, doc.text, &mut exceptions);
            }
            if let Some(hits) = self.eval(&c.node, doc, &exceptions) {
                out.push(PolicyMatch {
                    policy: c.policy.name.clone(),
                    version: c.version,
                    title: c.policy.title.clone(),
                    category: c.policy.category.clone(),
                    severity: c.policy.severity,
                    actions: c.policy.actions.clone(),
                    hits,
                });
            }
        }
        out
    }

    /// The folded spans of one phrase's hits.
    fn phrase_spans(&self, id: u32) -> &[(u32, u32, u32)] {
        let from = self.phrase_hits.partition_point(|h| h.0 < id);
        let to = self.phrase_hits.partition_point(|h| h.0 <= id);
        &self.phrase_hits[from..to]
    }

    /// The original-text spans where a term matches.
    fn term_spans(&self, t: &TermRef, text: &str, out: &mut Vec<(usize, usize)>) {
        let buf = self.folded.as_bytes();
        match *t {
            TermRef::Phrase(id) => {
                for &(_, s, e) in self.phrase_spans(id) {
                    out.push(self.folded.original_span(text, s as usize, e as usize));
                }
            }
            TermRef::Near {
                left,
                right,
                distance,
            } => {
                let (ls, rs) = (self.phrase_spans(left), self.phrase_spans(right));
                let mut found = Vec::new();
                for &(_, a0, a1) in ls {
                    for &(_, b0, b1) in rs {
                        let (first_end, second_start) = if a1 <= b0 {
                            (a1, b0)
                        } else if b1 <= a0 {
                            (b1, a0)
                        } else {
                            continue;
                        };
                        let between = fold::word_index(buf, second_start as usize)
                            - fold::word_index(buf, first_end as usize)
                            - 1;
                        if between <= distance as usize {
                            found.push((a0.min(b0), a1.max(b1)));
                        }
                    }
                }
                found.sort_unstable();
                found.dedup();
                for (s, e) in found {
                    out.push(self.folded.original_span(text, s as usize, e as usize));
                }
            }
        }
    }

    /// Runs the residual set on `text`, once per message.
    fn run_residual(&mut self, text: &str) {
        if self.residual_done {
            return;
        }
        self.residual_done = true;
        self.pattern_set.clear();
        if let Some(set) = &self.engine.residual_set {
            // Most messages match none: a leftmost search stops at the
            // first match and needs no per-pattern bookkeeping.
            let input = Input::new(text);
            if set.is_match(input.clone()) {
                set.which_overlapping_matches(&input, &mut self.pattern_set);
            }
        }
    }

    /// Whether regex `id` may match `text`: its literals were found, or
    /// the residual set reports it.
    fn regex_candidate(&mut self, id: u32, text: &str) -> bool {
        let engine = self.engine;
        match engine.regex_filters[id as usize] {
            RegexFilter::Literals => self.candidates[id as usize],
            RegexFilter::Set(n) => {
                self.run_residual(text);
                self.pattern_set
                    .contains(regex_automata::PatternID::new_unchecked(n as usize))
            }
        }
    }

    fn regex_spans(&mut self, id: u32, text: &str) -> Vec<(usize, usize)> {
        let engine = self.engine;
        if !self.regex_candidate(id, text) {
            return Vec::new();
        }
        engine.regexes[id as usize]
            .find_iter(text)
            .filter(|m| !m.is_empty())
            .map(|m| (m.start(), m.end()))
            .collect()
    }

    fn eval(
        &mut self,
        node: &Node,
        doc: &Document<'_>,
        exceptions: &[(usize, usize)],
    ) -> Option<Vec<Hit>> {
        let outside = |s: usize, e: usize| !exceptions.iter().any(|&(xs, xe)| xs <= s && e <= xe);
        let text_hits = |kind: HitKind, label: &str, spans: Vec<(usize, usize)>| {
            let hits: Vec<Hit> = spans
                .into_iter()
                .filter(|&(s, e)| outside(s, e))
                .map(|(start, end)| Hit {
                    kind,
                    label: label.to_string(),
                    start,
                    end,
                })
                .collect();
            (!hits.is_empty()).then_some(hits)
        };
        let flag = |kind: HitKind, label: &str, holds: bool| {
            holds.then(|| {
                vec![Hit {
                    kind,
                    label: label.to_string(),
                    start: 0,
                    end: 0,
                }]
            })
        };
        match node {
            Node::Terms(terms, ids) => {
                let first = self.phrase_hits.partition_point(|h| h.0 < ids.start);
                if self.phrase_hits.get(first).is_none_or(|h| h.0 >= ids.end) {
                    return None;
                }
                let mut hits = Vec::new();
                for (t, label) in terms {
                    let mut spans = Vec::new();
                    self.term_spans(t, doc.text, &mut spans);
                    if let Some(h) = text_hits(HitKind::Term, label, spans) {
                        hits.extend(h);
                    }
                }
                (!hits.is_empty()).then_some(hits)
            }
            Node::Regex(id) => {
                let spans = self.regex_spans(*id, doc.text);
                text_hits(
                    HitKind::Regex,
                    &self.engine.regex_labels[*id as usize],
                    spans,
                )
            }
            Node::Detector(d) => {
                let slot = &mut self.detected[*d as usize];
                let spans = slot.get_or_insert_with(|| d.find(doc.text)).clone();
                text_hits(HitKind::Detector, d.name(), spans)
            }
            Node::Attachment(rule) => {
                let fits = |a: &AttachmentInfo| {
                    rule.media_type
                        .as_deref()
                        .is_none_or(|t| match t.strip_suffix("/*") {
                            Some(family) => a
                                .media_type
                                .split_once('/')
                                .is_some_and(|(f, _)| f.eq_ignore_ascii_case(family)),
                            None => a.media_type.eq_ignore_ascii_case(t),
                        })
                        && rule.min_size.is_none_or(|m| a.size >= m)
                };
                let found = doc.attachments.iter().find(|a| fits(a));
                let label = rule.media_type.as_deref().unwrap_or("attachment");
                match (rule.present, found) {
                    (true, Some(a)) => flag(HitKind::Attachment, &a.media_type, true),
                    (false, None) => flag(HitKind::Attachment, &format!("no {label}"), true),
                    _ => None,
                }
            }
            Node::OutsideHours {
                tz,
                start,
                end,
                days,
            } => {
                let ts = jiff::Timestamp::from_microsecond(doc.sent_at.as_micros()).ok()?;
                let local = tz.to_datetime(ts);
                let minute = local.hour() as u16 * 60 + local.minute() as u16;
                let day = local.weekday().to_monday_zero_offset() as usize;
                let within = if start < end {
                    *start <= minute && minute < *end
                } else {
                    minute >= *start || minute < *end
                };
                flag(HitKind::Metadata, "outside_hours", !(days[day] && within))
            }
            Node::Metadata(f) => {
                let holds = match f {
                    Flag::NewExternalContact => doc.new_external_contact,
                    Flag::Edited => doc.edited,
                    Flag::Deleted => doc.deleted,
                };
                flag(HitKind::Metadata, f.name(), holds)
            }
            Node::All(list) => {
                let mut hits = Vec::new();
                for n in list {
                    hits.extend(self.eval(n, doc, exceptions)?);
                }
                Some(hits)
            }
            Node::Any(list) => {
                let mut hits = Vec::new();
                let mut holds = false;
                for n in list {
                    if let Some(h) = self.eval(n, doc, exceptions) {
                        holds = true;
                        hits.extend(h);
                    }
                }
                holds.then_some(hits)
            }
            Node::Not(n) => match self.eval(n, doc, exceptions) {
                Some(_) => None,
                None => Some(Vec::new()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_policy;

    /// A policy named `p` with this `[condition]` body and extra top-level
    /// lines (before the tables).
    fn policy(top: &str, condition: &str) -> Policy {
        let text = format!(
            "name = \"p\"\ntitle = \"P\"\ncategory = \"c\"\nseverity = \"medium\"\n\
             actions = [\"alert\"]\n{top}\n[condition]\n{condition}\n"
        );
        parse_policy(&text, "p.toml").unwrap_or_else(|e| panic!("{e}"))
    }

    fn doc(text: &str) -> Document<'_> {
        Document {
            channel: "whatsapp",
            direction: Direction::Outbound,
            text,
            attachments: &[],
            // 2026-03-02 (a Monday) 09:00 UTC.
            sent_at: Timestamp::from_micros(1_772_442_000_000_000),
            units: &[],
            external: true,
            new_external_contact: false,
            edited: false,
            deleted: false,
        }
    }

    /// The text each hit of policy `p` covers, or `None` if it does not
    /// fire.
    fn hits_in(engine: &Engine, d: &Document<'_>) -> Option<Vec<String>> {
        let m = engine.evaluate(d);
        m.iter().find(|m| m.policy == "p").map(|m| {
            m.hits
                .iter()
                .map(|h| match h.kind {
                    HitKind::Term | HitKind::Regex | HitKind::Detector => {
                        d.text[h.start..h.end].to_string()
                    }
                    _ => h.label.clone(),
                })
                .collect()
        })
    }

    /// Checks the hits of `condition` on `text`: `expected` lists the
    /// covered texts; `None` means the policy must not fire.
    fn check(condition: &str, text: &str, expected: Option<&[&str]>) {
        let engine = Engine::compile(&[(policy("", condition), 1)]).unwrap();
        let got = hits_in(&engine, &doc(text));
        let want = expected.map(|e| e.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(got, want, "{condition} on {text:?}");
    }

    #[test]
    fn terms_fold_case_and_accents() {
        check(
            r#"terms = ["garantia"]"#,
            "Uma Garantía total",
            Some(&["Garantía"]),
        );
        check(r#"terms = ["acao"]"#, "a AÇÃO subiu", Some(&["AÇÃO"]));
        check(r#"terms = ["ação"]"#, "a acao subiu", Some(&["acao"]));
    }

    #[test]
    fn terms_match_whole_words_only() {
        check(r#"terms = ["guarantee"]"#, "it is guaranteed", None);
        check(
            r#"terms = ["guarantee"]"#,
            "no-guarantee!",
            Some(&["guarantee"]),
        );
        check(r#"terms = ["guarantee"]"#, "unguarantee", None);
    }

    #[test]
    fn wildcards_match_word_prefixes() {
        check(
            r#"terms = ["guarant*"]"#,
            "Guaranteed, guarantees",
            Some(&["Guaranteed", "guarantees"]),
        );
        check(r#"terms = ["guarant*"]"#, "unguaranteed", None);
        check(
            r#"terms = ["mov* to signal"]"#,
            "let's MOVE to Signal now",
            Some(&["MOVE to Signal"]),
        );
        check(r#"terms = ["mov* to signal"]"#, "moving to signals", None);
        check(
            r#"terms = ["mov* to sig*"]"#,
            "moving to signals",
            Some(&["moving to signals"]),
        );
    }

    #[test]
    fn phrases_match_across_spaces_and_punctuation() {
        let c = r#"terms = ["text me on my personal number"]"#;
        check(
            c,
            "pls text me, on my personal-number!",
            Some(&["text me, on my personal-number"]),
        );
        check(
            c,
            "text me\n\non   my personal number",
            Some(&["text me\n\non   my personal number"]),
        );
        check(c, "text me on my number", None);
    }

    #[test]
    fn offsets_map_back_past_accented_text() {
        let text = "Olá, ação é ótima: garantía de retorno 🙂 garantia";
        let engine = Engine::compile(&[(policy("", r#"terms = ["garantia"]"#), 1)]).unwrap();
        let m = engine.evaluate(&doc(text));
        let spans: Vec<_> = m[0].hits.iter().map(|h| &text[h.start..h.end]).collect();
        assert_eq!(spans, ["garantía", "garantia"]);
        assert_eq!(m[0].hits[0].start, text.find("garantía").unwrap());
    }

    #[test]
    fn near_matches_in_either_order_within_the_distance() {
        let c = r#"terms = ["garant* NEAR/5 retorno"]"#;
        check(
            c,
            "garantimos um bom retorno",
            Some(&["garantimos um bom retorno"]),
        );
        check(
            c,
            "retorno: nós garantimos",
            Some(&["retorno: nós garantimos"]),
        );
        // Five words between: still near; six: too far.
        check(
            c,
            "garantia a b c d e retorno",
            Some(&["garantia a b c d e retorno"]),
        );
        check(c, "garantia a b c d e f retorno", None);
        check(c, "garantia apenas", None);
    }

    #[test]
    fn exceptions_remove_hits_inside_them() {
        let p = policy(
            r#"exceptions = ["past performance is no guarantee of future results"]"#,
            r#"terms = ["guarantee", "future results"]"#,
        );
        let engine = Engine::compile(&[(p, 1)]).unwrap();
        let d = doc("Past performance is no guarantee of future results.");
        assert_eq!(hits_in(&engine, &d), None);
        let d = doc("Past performance is no guarantee of future results. But I guarantee it");
        assert_eq!(hits_in(&engine, &d), Some(vec!["guarantee".to_string()]));
    }

    #[test]
    fn exceptions_written_in_the_condition_table_count_too() {
        check(
            "terms = [\"guarantee\"]\nexceptions = [\"no guarantee\"]",
            "there is no guarantee",
            None,
        );
    }

    #[test]
    fn all_any_not() {
        let c = r#"all = [ { terms = ["call me"] }, { not = { terms = ["office"] } } ]"#;
        check(c, "call me tonight", Some(&["call me"]));
        check(c, "call me at the office", None);
        let c = r#"any = [ { terms = ["alpha"] }, { terms = ["beta"] } ]"#;
        check(c, "beta then alpha", Some(&["alpha", "beta"]));
        check(c, "gamma", None);
        check(r#"not = { terms = ["alpha"] }"#, "gamma", Some(&[]));
    }

    #[test]
    fn not_sees_the_hits_left_after_exceptions() {
        let p = policy(
            r#"exceptions = ["office hours"]"#,
            r#"all = [ { terms = ["call"] }, { not = { terms = ["office"] } } ]"#,
        );
        let engine = Engine::compile(&[(p, 1)]).unwrap();
        assert!(hits_in(&engine, &doc("call me in office hours")).is_some());
        assert!(hits_in(&engine, &doc("call me at the office")).is_none());
    }

    #[test]
    fn regexes_and_detectors_hit_the_original_text() {
        check(
            r#"regex = '(?i)\bsignal\s+me\b'"#,
            "pls Signal  me",
            Some(&["Signal  me"]),
        );
        check(r#"regex = '(?i)\bsignal\s+me\b'"#, "signalme", None);
        check(
            r#"detector = "payment_card""#,
            "card 4111 1111 1111 1111",
            Some(&["4111 1111 1111 1111"]),
        );
        check(
            r#"detector = "payment_card""#,
            "card 4111 1111 1111 1112",
            None,
        );
        check(
            r#"detector = "iban""#,
            "to GB82WEST12345698765432",
            Some(&["GB82WEST12345698765432"]),
        );
        check(
            r#"detector = "us_ssn""#,
            "ssn 123-45-6789",
            Some(&["123-45-6789"]),
        );
        check(
            r#"detector = "br_cpf""#,
            "cpf 529.982.247-25",
            Some(&["529.982.247-25"]),
        );
        check(
            r#"detector = "email""#,
            "mail ana@example.com",
            Some(&["ana@example.com"]),
        );
        check(
            r#"detector = "phone""#,
            "ring +44 20 7946 0958",
            Some(&["+44 20 7946 0958"]),
        );
        // Two regex leaves: each reports its own spans.
        check(
            "any = [ { regex = 'ab' }, { regex = 'abc' } ]",
            "xabcx",
            Some(&["ab", "abc"]),
        );
    }

    #[test]
    fn filtered_regexes_find_what_the_regex_finds() {
        // Literal-filtered (long prefixes, accents, case), residual (a
        // class first, a short literal) and shared patterns.
        let patterns = [
            r"(?i)\bgarantía\s+total\b",
            r"(?i)\b(?:signal|telegram)\s+me\b",
            r"\b\d{3}-\d{4}\b",
            r"(?i)ab\w+",
            r"Ação\b",
        ];
        let texts = [
            "Uma GARANTÍA   total!",
            "uma garantia total",
            "pls TELEGRAM me or signal  me",
            "call 555-1234 or abacus",
            "AÇÃO ação Ação",
            "nada",
        ];
        let condition = format!(
            "any = [{}]",
            patterns
                .iter()
                .map(|p| format!("{{ regex = '{p}' }}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let engine = Engine::compile(&[(policy("", &condition), 1)]).unwrap();
        for text in texts {
            let mut want: Vec<(usize, usize)> = Vec::new();
            for p in patterns {
                let re = meta::Regex::new(p).unwrap();
                want.extend(re.find_iter(text).map(|m| (m.start(), m.end())));
            }
            let got: Vec<(usize, usize)> = engine
                .evaluate(&doc(text))
                .iter()
                .flat_map(|m| m.hits.iter().map(|h| (h.start, h.end)))
                .collect();
            assert_eq!(got, want, "{text:?}");
        }
    }

    #[test]
    fn scope_filters_apply_first() {
        let p = policy(
            "[scope]\nchannels = [\"sms\"]\ndirections = [\"inbound\"]\nunits = [\"equities\"]\nparticipants = \"external\"",
            r#"terms = ["alpha"]"#,
        );
        let engine = Engine::compile(&[(p, 1)]).unwrap();
        let units = vec!["equities".to_string()];
        let base = Document {
            channel: "sms",
            direction: Direction::Inbound,
            units: &units,
            ..doc("alpha")
        };
        assert!(hits_in(&engine, &base).is_some());
        assert!(
            hits_in(
                &engine,
                &Document {
                    channel: "whatsapp",
                    ..base
                }
            )
            .is_none()
        );
        assert!(
            hits_in(
                &engine,
                &Document {
                    direction: Direction::Outbound,
                    ..base
                }
            )
            .is_none()
        );
        assert!(hits_in(&engine, &Document { units: &[], ..base }).is_none());
        assert!(
            hits_in(
                &engine,
                &Document {
                    external: false,
                    ..base
                }
            )
            .is_none()
        );
    }

    #[test]
    fn outside_hours_in_a_time_zone() {
        let c = r#"outside_hours = { tz = "America/Sao_Paulo", start = "08:00", end = "18:00" }"#;
        let engine = Engine::compile(&[(policy("", c), 1)]).unwrap();
        let at = |rfc3339: &str| Document {
            sent_at: Timestamp::parse(rfc3339).unwrap(),
            ..doc("")
        };
        // 09:00 UTC on a Monday is 06:00 in São Paulo: outside.
        assert_eq!(
            hits_in(&engine, &at("2026-03-02T09:00:00Z")),
            Some(vec!["outside_hours".to_string()])
        );
        // 12:00 UTC is 09:00 there: inside.
        assert_eq!(hits_in(&engine, &at("2026-03-02T12:00:00Z")), None);
        // 21:30 UTC is 18:30: outside; Saturday noon: outside.
        assert!(hits_in(&engine, &at("2026-03-02T21:30:00Z")).is_some());
        assert!(hits_in(&engine, &at("2026-03-07T15:00:00Z")).is_some());
    }

    #[test]
    fn attachments_and_metadata() {
        let c = r#"attachment = { media_type = "image/*", min_size = 1000 }"#;
        let engine = Engine::compile(&[(policy("", c), 1)]).unwrap();
        let big = [AttachmentInfo {
            media_type: "image/jpeg".into(),
            size: 5_000,
        }];
        let small = [AttachmentInfo {
            media_type: "image/jpeg".into(),
            size: 10,
        }];
        let d = doc("");
        assert_eq!(
            hits_in(
                &engine,
                &Document {
                    attachments: &big,
                    ..d
                }
            ),
            Some(vec!["image/jpeg".to_string()])
        );
        assert_eq!(
            hits_in(
                &engine,
                &Document {
                    attachments: &small,
                    ..d
                }
            ),
            None
        );
        let engine = Engine::compile(&[(policy("", r#"metadata = "edited""#), 1)]).unwrap();
        assert!(hits_in(&engine, &Document { edited: true, ..d }).is_some());
        assert!(hits_in(&engine, &d).is_none());
    }

    #[test]
    fn one_engine_many_policies_and_blocking() {
        let a = policy("", r#"terms = ["alpha"]"#);
        let mut b = parse_policy(
            "name = \"b\"\ntitle = \"B\"\ncategory = \"x\"\nseverity = \"critical\"\n\
             actions = [\"block\"]\n[condition]\nterms = [\"alpha beta\"]\n",
            "b.toml",
        )
        .unwrap();
        let engine = Engine::compile(&[(a.clone(), 3), (b.clone(), 7)]).unwrap();
        let m = engine.evaluate(&doc("alpha beta"));
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].policy.as_str(), m[0].version), ("p", 3));
        assert_eq!((m[1].policy.as_str(), m[1].version), ("b", 7));
        assert!(engine.blocks(&m));
        assert!(!engine.blocks(&m[..1]));
        assert_eq!(engine.policies().count(), 2);
        let json = serde_json::to_string(&m[1]).unwrap();
        assert_eq!(serde_json::from_str::<PolicyMatch>(&json).unwrap(), m[1]);
        b.name = "p".into();
        assert!(matches!(
            Engine::compile(&[(a, 1), (b, 1)]),
            Err(PolicyError::DuplicateName { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn evaluate_never_panics_and_spans_are_char_boundaries(text in "\\PC{0,200}") {
            let c = r#"any = [
                { terms = ["ação", "gar* NEAR/2 re*", "a b", "é"] },
                { regex = '\w+' },
                { detector = "email" }, { detector = "phone" }, { detector = "iban" },
                { detector = "payment_card" }, { detector = "br_cpf" }, { detector = "us_ssn" },
            ]"#;
            let p = policy(r#"exceptions = ["x y"]"#, c);
            let engine = Engine::compile(&[(p, 1)]).unwrap();
            for m in engine.evaluate(&doc(&text)) {
                for h in m.hits {
                    proptest::prop_assert!(h.start <= h.end && h.end <= text.len());
                    proptest::prop_assert!(text.is_char_boundary(h.start));
                    proptest::prop_assert!(text.is_char_boundary(h.end));
                }
            }
        }
    }
}
