//! Labelled examples: reading JSON lines, the shipped seed corpus, and the
//! deterministic train/hold-out split.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::ClassifierError;

/// One labelled message. `labels` lists the categories the text belongs
/// to; an empty list means the message is clean (a negative for every
/// category).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// The message text.
    pub text: String,
    /// The categories it belongs to, e.g. `off_channel`.
    pub labels: Vec<String>,
}

/// One line of a corpus file; other fields (`id`, `lang`) are allowed and
/// ignored.
#[derive(Deserialize)]
struct Line {
    text: String,
    #[serde(default)]
    labels: Vec<String>,
}

/// Reads examples from JSON lines (`{"text": "...", "labels": ["..."]}`),
/// skipping blank lines. Errors name `origin` (a file name or any label the
/// caller chooses) and the 1-based line.
pub fn load_jsonl(text: &str, origin: &str) -> Result<Vec<Example>, ClassifierError> {
    let mut examples = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(raw).map_err(|error| ClassifierError::Corpus {
            origin: origin.to_owned(),
            line,
            reason: error.to_string(),
        })?;
        if parsed.text.trim().is_empty() {
            return Err(ClassifierError::Corpus {
                origin: origin.to_owned(),
                line,
                reason: "empty text".to_owned(),
            });
        }
        if let Some(bad) = parsed
            .labels
            .iter()
            .find(|label| label.trim().is_empty() || label.trim() != label.as_str())
        {
            return Err(ClassifierError::Corpus {
                origin: origin.to_owned(),
                line,
                reason: format!("bad label {bad:?}"),
            });
        }
        examples.push(Example {
            text: parsed.text,
            labels: parsed.labels,
        });
    }
    Ok(examples)
}

/// The labelled seed corpus shipped with the crate (English, Portuguese and
/// Spanish), as JSON lines for [`load_jsonl`].
pub fn seed_corpus() -> &'static str {
    include_str!("../corpus/seed.jsonl")
}

/// Splits examples into `(train, holdout)`, putting about `holdout` (a
/// fraction in `0..=1`) of each stratum in the second set. Strata are the
/// first label (clean examples are one stratum), so rare categories appear
/// on both sides. The same examples, fraction and seed always give the same
/// split; both sets keep the input order.
pub fn split(examples: &[Example], holdout: f64, seed: u64) -> (Vec<Example>, Vec<Example>) {
    let holdout = if holdout.is_finite() {
        holdout.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mut strata: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, example) in examples.iter().enumerate() {
        let key = example.labels.first().map_or("", String::as_str);
        strata.entry(key).or_default().push(i);
    }
    let mut rng = SplitMix64::new(seed);
    let mut held = vec![false; examples.len()];
    for members in strata.values_mut() {
        // Our own generator: a rand upgrade must not silently change which
        // examples a recorded evaluation held out.
        shuffle(members, &mut rng);
        let take = (members.len() as f64 * holdout).round() as usize;
        for &i in &members[..take] {
            held[i] = true;
        }
    }
    let mut train = Vec::new();
    let mut test = Vec::new();
    for (example, held) in examples.iter().zip(held) {
        if held {
            test.push(example.clone());
        } else {
            train.push(example.clone());
        }
    }
    (train, test)
}

/// Fisher-Yates with the crate's own generator.
fn shuffle(items: &mut [usize], rng: &mut SplitMix64) {
    for i in (1..items.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// SplitMix64 (Steele, Lea and Flood), a tiny generator that is stable
/// across versions because it is written here.
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }
}

/// SplitMix64's finaliser: scrambles 64 bits so nearby inputs give
/// unrelated outputs.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(text: &str, labels: &[&str]) -> Example {
        Example {
            text: text.to_owned(),
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        }
    }

    #[test]
    fn reads_lines_and_ignores_extra_fields() {
        let text = r#"{"id":"seed-0001","lang":"en","text":"text me on whatsapp","labels":["off_channel"]}

{"id":"seed-0002","lang":"pt","text":"bom dia","labels":[]}
"#;
        let examples = load_jsonl(text, "seed.jsonl").unwrap();
        assert_eq!(
            examples,
            vec![
                example("text me on whatsapp", &["off_channel"]),
                example("bom dia", &[]),
            ]
        );
    }

    #[test]
    fn errors_name_origin_and_line() {
        let text = "{\"text\":\"ok\",\"labels\":[]}\n\n{\"text\": 5}\n";
        let error = load_jsonl(text, "extra.jsonl").unwrap_err();
        let message = error.to_string();
        assert!(message.contains("extra.jsonl:3"), "{message}");
        let empty = load_jsonl("{\"text\":\"  \",\"labels\":[]}", "x").unwrap_err();
        assert!(empty.to_string().contains("x:1: empty text"), "{empty}");
        let label = load_jsonl("{\"text\":\"a\",\"labels\":[\"\"]}", "y").unwrap_err();
        assert!(label.to_string().contains("y:1: bad label"), "{label}");
    }

    #[test]
    fn split_is_deterministic_stratified_and_complete() {
        let mut examples = Vec::new();
        for i in 0..50 {
            examples.push(example(&format!("clean {i}"), &[]));
        }
        for i in 0..10 {
            examples.push(example(&format!("rare {i}"), &["gifts_entertainment"]));
        }
        let (train, test) = split(&examples, 0.2, 7);
        assert_eq!(train.len() + test.len(), examples.len());
        assert_eq!(test.len(), 12);
        let rare = test.iter().filter(|e| !e.labels.is_empty()).count();
        assert_eq!(rare, 2, "each stratum gives its share");
        assert_eq!(split(&examples, 0.2, 7), (train.clone(), test.clone()));
        let (_, other) = split(&examples, 0.2, 8);
        assert_ne!(other, test, "another seed holds out other examples");
        for e in &examples {
            assert_eq!(train.contains(e) as u8 + test.contains(e) as u8, 1);
        }
    }

    #[test]
    fn seed_corpus_loads() {
        let examples = load_jsonl(seed_corpus(), "corpus/seed.jsonl").unwrap();
        assert!(examples.len() >= 500, "seed corpus has {}", examples.len());
    }
}
