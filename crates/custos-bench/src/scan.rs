//! Policy scan: 10,000 lexicon terms and 200 regexes, compiled as 50
//! policies into one [`custos_policy::Engine`], evaluated on every message
//! of a synthetic multilingual corpus, against `rg -F -i -f` over the same
//! text in the same run.
//!
//! The corpus mixes English (the workload vocabulary), Portuguese and
//! Spanish messages with accented words; ~3% of messages carry one
//! lexicon term, written with random case (and accents where the term has
//! them). The terms are invented words from a syllable table (so they are
//! as rare as real lexicon entries are), 30% of them phrases with common
//! words, 10% with a trailing wildcard, a fifth with accents. The regexes
//! are detector-like patterns (numbers in groups, IBAN-like, e-mail-like)
//! and word alternations with `\b` and `(?i)`, as compliance teams write
//! them.
//!
//! custos's figure includes folding (case, accents, separators), word
//! boundary and wildcard checks, and every regex; ripgrep's terms file
//! holds the plain terms (`*` removed) and it only looks for literals,
//! counting matching lines. `rg -F -i` (the peer the design names) is run
//! on the first [`RG_CASELESS_BYTES`] of the corpus only, because with
//! 10,000 case-insensitive literals, accented ones among them, it leaves
//! its literal engines for a slow one; `rg -F` without `-i` (which does not
//! do the same job: no case folding) is run on all of it as a second,
//! stricter peer.

use crate::workload::{Rng, WORDS};
use anyhow::{Context, Result};
use custos_model::{Direction, Timestamp};
use custos_policy::{Document, Engine, parse_policy};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Lexicon terms in the benchmark.
pub const TERMS: usize = 10_000;
/// Regexes in the benchmark.
pub const REGEXES: usize = 200;
/// Policies the terms and regexes are spread over.
pub const POLICIES: usize = 50;
/// Corpus bytes of the full run.
pub const CORPUS_BYTES: usize = 100_000_000;
/// Corpus bytes with `quick`.
pub const QUICK_CORPUS_BYTES: usize = 3_000_000;

const PT_WORDS: &[&str] = &[
    "olá",
    "bom",
    "dia",
    "você",
    "pode",
    "confirmar",
    "o",
    "saldo",
    "da",
    "minha",
    "conta",
    "obrigado",
    "transferência",
    "já",
    "foi",
    "feita",
    "ação",
    "ações",
    "rendimento",
    "taxa",
    "amanhã",
    "reunião",
    "às",
    "horas",
    "não",
    "sei",
    "se",
    "é",
    "possível",
    "cartão",
    "bloqueado",
    "no",
    "exterior",
    "aplicação",
    "poupança",
    "juros",
    "está",
    "ótimo",
    "então",
    "vamos",
    "fechar",
    "negócio",
    "preço",
    "médio",
    "também",
    "informação",
    "boleto",
    "vencimento",
    "segunda",
    "sexta",
    "cliente",
    "gerente",
    "carteira",
    "fundo",
    "câmbio",
    "dólar",
    "operação",
    "análise",
    "crédito",
    "até",
    "logo",
];

const ES_WORDS: &[&str] = &[
    "hola",
    "buenos",
    "días",
    "usted",
    "puede",
    "confirmar",
    "el",
    "saldo",
    "de",
    "mi",
    "cuenta",
    "gracias",
    "transferencia",
    "ya",
    "fue",
    "hecha",
    "acción",
    "acciones",
    "rendimiento",
    "tasa",
    "mañana",
    "reunión",
    "a",
    "las",
    "no",
    "sé",
    "si",
    "es",
    "posible",
    "tarjeta",
    "bloqueada",
    "en",
    "extranjero",
    "inversión",
    "ahorro",
    "interés",
    "está",
    "bien",
    "entonces",
    "vamos",
    "cerrar",
    "negocio",
    "precio",
    "también",
    "información",
    "factura",
    "vencimiento",
    "lunes",
    "viernes",
    "cliente",
    "gerente",
    "cartera",
    "fondo",
    "cambio",
    "dólar",
    "operación",
    "análisis",
    "crédito",
    "hasta",
    "luego",
    "señor",
    "año",
];

const SYLLABLES: &[&str] = &[
    "ca", "ro", "ti", "lu", "men", "tra", "qui", "ber", "dos", "fal", "gor", "hen", "jas", "kel",
    "lom", "nar", "pex", "ras", "sul", "tov", "vin", "zed", "bra", "cle", "dri", "fro", "glu",
    "pla", "sti", "ven", "mor", "dax", "ul", "ix", "an", "or", "ez", "ça", "ñu", "ré", "ló", "mí",
    "ão", "ún",
];

/// An invented word of 3 or 4 syllables.
fn pseudo_word(rng: &mut Rng) -> String {
    let n = 3 + rng.below(2) as usize;
    (0..n)
        .map(|_| SYLLABLES[rng.below(SYLLABLES.len() as u64) as usize])
        .collect()
}

fn vocabulary_word(rng: &mut Rng) -> &'static str {
    let list = match rng.below(3) {
        0 => WORDS,
        1 => PT_WORDS,
        _ => ES_WORDS,
    };
    list[rng.below(list.len() as u64) as usize]
}

/// The benchmark's lexicon: `n` distinct terms.
pub fn terms(n: usize) -> Vec<String> {
    let mut rng = Rng::new(0x7e_2a5);
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let kind = rng.below(10);
        let term = match kind {
            // A wildcard: an invented stem.
            0 => format!("{}*", pseudo_word(&mut rng)),
            // A phrase: a common word and one or two invented ones.
            1..=3 => {
                let mut t = format!("{} {}", vocabulary_word(&mut rng), pseudo_word(&mut rng));
                if rng.below(2) == 0 {
                    t.push(' ');
                    t.push_str(&pseudo_word(&mut rng));
                }
                t
            }
            _ => pseudo_word(&mut rng),
        };
        if seen.insert(custos_policy::fold::fold(&term)) {
            out.push(term);
        }
    }
    out
}

/// The benchmark's regexes: `n` patterns.
pub fn regexes(n: usize) -> Vec<String> {
    let mut rng = Rng::new(0x4e_6e);
    // Detector-like patterns, each in five variants (a different bound),
    // so that all regexes are distinct.
    let detector_like = [
        r"\b\d{3}-\d{2}-\d{N}\b",
        r"\b(?:\d{4}[ -]?){N}\d{4}\b",
        r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,N}\b",
        r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,N}",
        r"\+\d{2} ?\d{2} ?\d{4,N}-?\d{4}",
        r"\b\d{3}\.\d{3}\.\d{3}-\d{N}\b",
        r"(?i)\bconta\s+\d{5,N}-\d\b",
        r"(?i)\bacc(?:oun)?t\s*(?:no|number|#)\s*\d{6,N}\b",
    ];
    let mut out = Vec::with_capacity(n);
    let mut k = 0;
    while out.len() < n {
        if out.len() % 10 < 2 {
            k += 1;
            let template = detector_like[k % detector_like.len()];
            let bound = 6 + k / detector_like.len();
            out.push(template.replace('N', &bound.to_string()));
            continue;
        }
        let mut alt = |k: usize| {
            (0..k)
                .map(|_| pseudo_word(&mut rng))
                .collect::<Vec<_>>()
                .join("|")
        };
        let (a, b) = (alt(3), alt(2));
        out.push(format!(r"(?i)\b(?:{a})\s+(?:{b})\b"));
    }
    out
}

/// The policies: `terms` and `regexes` split evenly over `policies` TOML
/// files.
pub fn policy_files(terms: &[String], regexes: &[String], policies: usize) -> Vec<String> {
    let per_term = terms.len().div_ceil(policies);
    let per_regex = regexes.len().div_ceil(policies);
    (0..policies)
        .map(|i| {
            let mut t = format!(
                "name = \"bench-{i}\"\ntitle = \"Bench {i}\"\ncategory = \"bench\"\n\
                 severity = \"low\"\nactions = [\"alert\"]\n\n[condition]\nany = [\n  {{ terms = ["
            );
            for (j, term) in terms.iter().skip(i * per_term).take(per_term).enumerate() {
                if j > 0 {
                    t.push_str(", ");
                }
                let _ = write!(t, "\"{term}\"");
            }
            t.push_str("] },\n");
            for r in regexes.iter().skip(i * per_regex).take(per_regex) {
                let _ = writeln!(t, "  {{ regex = '{r}' }},");
            }
            t.push_str("]\n");
            t
        })
        .collect()
}

/// Writes a term as a person might: random case, sometimes without its
/// accents (which folding must still match), wildcards completed.
fn written(term: &str, rng: &mut Rng) -> String {
    let mut out = String::new();
    for c in term.chars() {
        match c {
            '*' => out.push_str(["ado", "ing", "ción", "s"][rng.below(4) as usize]),
            c if rng.below(4) == 0 => out.extend(c.to_uppercase()),
            c => out.push(c),
        }
    }
    out
}

/// The corpus: messages of ~170-230 bytes until `bytes` are reached.
pub fn corpus(bytes: usize, terms: &[String]) -> Vec<String> {
    let mut rng = Rng::new(0xc0_4905);
    let mut out = Vec::with_capacity(bytes / 200 + 1);
    let mut total = 0;
    while total < bytes {
        let lang = rng.below(3);
        let target = 170 + rng.below(60) as usize;
        let plant = rng.below(100) < 3;
        let at = rng.below(20) as usize;
        let mut text = String::with_capacity(target + 40);
        let mut n = 0;
        while text.len() < target {
            if !text.is_empty() {
                text.push(if rng.below(12) == 0 { ',' } else { ' ' });
                if text.ends_with(',') {
                    text.push(' ');
                }
            }
            if plant && n == at {
                text.push_str(&written(
                    &terms[rng.below(terms.len() as u64) as usize],
                    &mut rng,
                ));
            } else {
                let list = match lang {
                    0 => WORDS,
                    1 => PT_WORDS,
                    _ => ES_WORDS,
                };
                let w = list[rng.below(list.len() as u64) as usize];
                if n == 0 {
                    let mut cs = w.chars();
                    if let Some(f) = cs.next() {
                        text.extend(f.to_uppercase());
                        text.push_str(cs.as_str());
                    }
                } else {
                    text.push_str(w);
                }
            }
            n += 1;
        }
        text.push(if rng.below(5) == 0 { '?' } else { '.' });
        total += text.len() + 1;
        out.push(text);
    }
    out
}

/// What one scan run measured.
#[derive(Clone, Debug)]
pub struct Scan {
    /// Messages scanned per pass.
    pub messages: usize,
    /// Text bytes per pass (without line ends).
    pub bytes: usize,
    /// Automaton patterns (distinct literal heads) compiled.
    pub patterns: usize,
    /// Seconds to parse and compile the policies.
    pub compile_secs: f64,
    /// Policy matches found in one pass.
    pub matches: usize,
    /// Messages with at least one match.
    pub messages_matched: usize,
    /// custos: text bytes per second (best pass).
    pub bytes_per_sec: f64,
    /// custos: messages per second (best pass).
    pub messages_per_sec: f64,
    /// `rg -F -i -f` over the first [`RG_CASELESS_BYTES`] of the same
    /// text, if rg runs.
    pub rg_caseless: Option<Peer>,
    /// `rg -F -f` (case-sensitive, so it misses most planted terms) over
    /// all of it, if rg runs: a stricter peer than the brief's.
    pub rg_exact: Option<Peer>,
}

/// Builds the lexicon, regexes, policies and corpus, writes the terms and
/// corpus files to `work` for ripgrep, and times both (best of `rounds`).
pub fn measure(work: &Path, quick: bool, rounds: usize) -> Result<Scan> {
    let terms = terms(TERMS);
    let regexes = regexes(REGEXES);
    let files = policy_files(&terms, &regexes, POLICIES);
    let began = Instant::now();
    let mut policies = Vec::with_capacity(files.len());
    for (i, text) in files.iter().enumerate() {
        policies.push((parse_policy(text, &format!("bench-{i}.toml"))?, 1));
    }
    let engine = Engine::compile(&policies)?;
    let compile_secs = began.elapsed().as_secs_f64();
    let messages = corpus(
        if quick {
            QUICK_CORPUS_BYTES
        } else {
            CORPUS_BYTES
        },
        &terms,
    );
    let bytes: usize = messages.iter().map(String::len).sum();

    let mut scanner = engine.scanner();
    let mut best = f64::INFINITY;
    let (mut matches, mut messages_matched) = (0, 0);
    for _ in 0..rounds.max(1) {
        let (mut m, mut mm) = (0, 0);
        let start = Instant::now();
        for (i, text) in messages.iter().enumerate() {
            let doc = Document {
                channel: "whatsapp",
                direction: if i % 2 == 0 {
                    Direction::Inbound
                } else {
                    Direction::Outbound
                },
                text,
                attachments: &[],
                sent_at: Timestamp::from_micros(1_772_442_000_000_000 + i as i64 * 1_000_000),
                units: &[],
                external: true,
                new_external_contact: false,
                edited: false,
                deleted: false,
            };
            let found = scanner.evaluate(&doc);
            m += found.len();
            mm += usize::from(!found.is_empty());
        }
        best = best.min(start.elapsed().as_secs_f64());
        (matches, messages_matched) = (m, mm);
    }

    let (rg_caseless, rg_exact) = ripgrep(work, &terms, &messages, rounds)?;
    Ok(Scan {
        messages: messages.len(),
        bytes,
        patterns: engine.automaton_patterns(),
        compile_secs,
        matches,
        messages_matched,
        bytes_per_sec: bytes as f64 / best,
        messages_per_sec: messages.len() as f64 / best,
        rg_caseless,
        rg_exact,
    })
}

/// The most corpus bytes `rg -F -i` is run on: it falls back to a slow
/// engine with 10,000 case-insensitive literals (~0.3 MB/s here), so the
/// full corpus would take minutes; a prefix of the same text gives its
/// rate.
pub const RG_CASELESS_BYTES: usize = 4_000_000;

/// ripgrep's figures: bytes per second over the bytes it read, and the
/// matching lines it counted.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    /// Corpus bytes it searched (line ends included).
    pub bytes: usize,
    /// Bytes per second, best of the rounds (process start included).
    pub rate: f64,
    /// Lines it counted.
    pub count: u64,
}

/// `rg -F -i -f terms.txt corpus.txt --count` over (a prefix of, see
/// [`RG_CASELESS_BYTES`]) the same text, and `rg -F -f` (case-sensitive)
/// over all of it; `None` where rg does not run.
fn ripgrep(
    work: &Path,
    terms: &[String],
    messages: &[String],
    rounds: usize,
) -> Result<(Option<Peer>, Option<Peer>)> {
    let terms_path = work.join("scan-terms.txt");
    let mut t = String::new();
    for term in terms {
        t.push_str(&term.replace('*', ""));
        t.push('\n');
    }
    std::fs::write(&terms_path, t).with_context(|| terms_path.display().to_string())?;
    let mut c = String::with_capacity(messages.iter().map(|m| m.len() + 1).sum());
    let mut prefix = 0;
    for m in messages {
        c.push_str(m);
        c.push('\n');
        if c.len() <= RG_CASELESS_BYTES {
            prefix = c.len();
        }
    }
    let full_path = work.join("scan-corpus.txt");
    let prefix_path = work.join("scan-corpus-prefix.txt");
    std::fs::write(&full_path, &c).with_context(|| full_path.display().to_string())?;
    std::fs::write(&prefix_path, &c[..prefix])
        .with_context(|| prefix_path.display().to_string())?;
    let full = c.len();
    drop(c);
    let run = |flags: &[&str], corpus: &Path, bytes: usize, rounds: usize| -> Option<Peer> {
        let mut best: Option<Peer> = None;
        for _ in 0..rounds.max(1) {
            let start = Instant::now();
            let out = Command::new("rg")
                .args(flags)
                .arg("-f")
                .arg(&terms_path)
                .arg(corpus)
                .arg("--count")
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .ok()?;
            let took = start.elapsed().as_secs_f64();
            // rg exits 1 when nothing matches; 2 is an error.
            if out.status.code().is_none_or(|c| c > 1) {
                return None;
            }
            let count = String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or(0);
            let rate = bytes as f64 / took;
            if best.is_none_or(|b| rate > b.rate) {
                best = Some(Peer { bytes, rate, count });
            }
        }
        best
    };
    let caseless = run(&["-F", "-i"], &prefix_path, prefix, 1);
    let exact = run(&["-F"], &full_path, full, rounds);
    for p in [&terms_path, &full_path, &prefix_path] {
        std::fs::remove_file(p).ok();
    }
    Ok((caseless, exact))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lexicon_and_corpus_are_as_described() {
        let t = terms(2_000);
        assert_eq!(t.len(), 2_000);
        let wild = t.iter().filter(|t| t.ends_with('*')).count();
        let phrases = t.iter().filter(|t| t.contains(' ')).count();
        assert!((100..=300).contains(&wild), "{wild} wildcards");
        assert!((400..=800).contains(&phrases), "{phrases} phrases");
        assert!(t.iter().any(|t| !t.is_ascii()));
        let r = regexes(REGEXES);
        assert_eq!(r.len(), REGEXES);
        assert_eq!(
            r.iter().collect::<HashSet<_>>().len(),
            REGEXES,
            "regexes repeat"
        );
        let c = corpus(200_000, &t);
        let bytes: usize = c.iter().map(String::len).sum();
        assert!((195_000..220_000).contains(&bytes), "{bytes}");
        assert!(c.iter().filter(|m| !m.is_ascii()).count() > c.len() / 3);
    }

    #[test]
    fn the_policies_parse_and_find_planted_terms() {
        let t = terms(400);
        let r = regexes(8);
        let files = policy_files(&t, &r, 4);
        let policies: Vec<_> = files
            .iter()
            .map(|f| (parse_policy(f, "bench.toml").unwrap(), 1))
            .collect();
        let engine = Engine::compile(&policies).unwrap();
        let messages = corpus(100_000, &t);
        let found = messages
            .iter()
            .filter(|text| {
                !engine
                    .evaluate(&Document {
                        channel: "whatsapp",
                        direction: Direction::Inbound,
                        text,
                        attachments: &[],
                        sent_at: Timestamp::from_micros(0),
                        units: &[],
                        external: true,
                        new_external_contact: false,
                        edited: false,
                        deleted: false,
                    })
                    .is_empty()
            })
            .count();
        // About 3% of messages carry a term.
        assert!(
            found * 100 >= messages.len() * 2,
            "{found} of {}",
            messages.len()
        );
        assert!(
            found * 100 <= messages.len() * 6,
            "{found} of {}",
            messages.len()
        );
    }
}
