//! The model: training one logistic regression per category, scoring, and
//! the model file.
//!
//! File layout (all integers little-endian):
//!
//! ```text
//! "CSTCLF\0" 0x01        magic and format version (8 bytes)
//! u8                     feature scheme version (features::FEATURES_VERSION)
//! u8                     hash bits: the space has 2^bits dimensions
//! u16                    number of categories, sorted, unique
//! per category: u8 len, UTF-8 name
//! per category: f32 bias, then 2^bits f32 weights
//! [u8; 32]               SHA-256 of everything above
//! ```
//!
//! The trailing digest is checked before anything else is read, so a
//! flipped bit anywhere is refused rather than silently changing scores;
//! it is also the model's [`Model::version`].

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use sha2::{Digest, Sha256};

use crate::corpus::mix64;
use crate::features::{FEATURES_VERSION, Features, fnv1a, fold};
use crate::{ClassifierError, Example};

const MAGIC: &[u8; 8] = b"CSTCLF\x00\x01";
const DIGEST_LEN: usize = 32;
/// The smallest hashed space allowed (2^10 dimensions).
const MIN_BITS: u8 = 10;
/// The largest hashed space allowed (2^20 dimensions; training keeps a
/// dense matrix of examples x dimensions, so larger would not fit).
const MAX_BITS: u8 = 20;

/// How to train. [`TrainOptions::default`] holds the values measured on the
/// seed corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    /// Seeds the order examples are visited in (and [`crate::split`] for
    /// callers that hold examples out): the same examples, options and seed
    /// give the same model, byte for byte.
    pub seed: u64,
    /// The fraction held out for evaluation by callers that split (0.2).
    pub holdout: f64,
    /// The hashed space has `2^bits` dimensions (10 to 20); the model file
    /// holds `4 * 2^bits` bytes per category.
    pub bits: u8,
    /// L2 regularisation per example (as in scikit-learn's
    /// `SGDClassifier`); larger is smoother. Must be positive.
    pub alpha: f64,
    /// Passes over the examples.
    pub epochs: u32,
    /// Where reviewers' corrections start in the slice given to
    /// [`Model::train`]: examples at this index and after weigh
    /// `correction_weight` each, the others 1. `None`: all weigh 1.
    pub corrections_from: Option<usize>,
    /// How much one correction weighs against one corpus example (at
    /// least 1). A reviewer's decision on a real message is worth more
    /// than a synthetic seed line, and one among a thousand would hardly
    /// move the model otherwise.
    pub correction_weight: f64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            seed: 0x0c05_7005,
            holdout: 0.2,
            bits: 14,
            alpha: 1e-5,
            epochs: 20,
            corrections_from: None,
            correction_weight: 5.0,
        }
    }
}

/// A trained classifier: per category a bias and a weight per hashed
/// feature. Immutable; retraining makes a new model.
#[derive(Clone, PartialEq)]
pub struct Model {
    categories: Vec<String>,
    bits: u8,
    /// `categories.len()` rows of `2^bits` weights, row-major.
    weights: Vec<f32>,
    biases: Vec<f32>,
    /// Hex SHA-256 of the serialised body.
    version: String,
}

impl Model {
    /// Trains one logistic regression per category found in the examples'
    /// labels. When two examples have the same folded text the later one
    /// wins, so corrections appended after the seed corpus override it;
    /// see [`TrainOptions::corrections_from`] for weighing them.
    pub fn train(examples: &[Example], options: &TrainOptions) -> Result<Model, ClassifierError> {
        check_options(options)?;
        let kept = latest_per_text(examples);
        let examples: Vec<&Example> = kept.iter().map(|&(_, e)| e).collect();
        let categories: Vec<String> = examples
            .iter()
            .flat_map(|e| e.labels.iter().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if categories.is_empty() {
            return Err(ClassifierError::NoCategories);
        }
        for category in &categories {
            if category.is_empty() || category.len() > 255 {
                return Err(ClassifierError::CategoryName {
                    category: category.clone(),
                });
            }
            if examples.iter().all(|e| e.labels.contains(category)) {
                return Err(ClassifierError::NoNegatives {
                    category: category.clone(),
                });
            }
        }
        let rows: Vec<Row> = kept
            .iter()
            .map(|&(index, e)| {
                let correction = options.corrections_from.is_some_and(|from| index >= from);
                Row {
                    features: Features::extract(&e.text, options.bits),
                    key: fnv1a(b't', &[&fold(e.text.trim())]),
                    weight: if correction {
                        options.correction_weight
                    } else {
                        1.0
                    },
                }
            })
            .collect();
        let dims = 1usize << options.bits;
        let mut weights = Vec::with_capacity(categories.len() * dims);
        let mut biases = Vec::with_capacity(categories.len());
        for category in &categories {
            let targets: Vec<bool> = examples
                .iter()
                .map(|e| e.labels.iter().any(|l| l == category))
                .collect();
            let (bias, row) = fit_one(&rows, &targets, dims, options);
            biases.push(bias);
            weights.extend(row);
        }
        Ok(Model::new(categories, options.bits, weights, biases))
    }

    fn new(categories: Vec<String>, bits: u8, weights: Vec<f32>, biases: Vec<f32>) -> Model {
        let mut model = Model {
            categories,
            bits,
            weights,
            biases,
            version: String::new(),
        };
        model.version = hex::encode(Sha256::digest(model.body()));
        model
    }

    /// The probability of each category for `text`, sorted by category.
    pub fn scores(&self, text: &str) -> Vec<(String, f32)> {
        let features = Features::extract(text, self.bits);
        self.categories
            .iter()
            .enumerate()
            .map(|(i, category)| (category.clone(), self.probability(&features, i)))
            .collect()
    }

    /// The probability of one category for `text`, or `None` if the model
    /// does not know the category.
    pub fn score(&self, text: &str, category: &str) -> Option<f32> {
        let i = self
            .categories
            .binary_search_by(|c| c.as_str().cmp(category))
            .ok()?;
        Some(self.probability(&Features::extract(text, self.bits), i))
    }

    fn probability(&self, features: &Features, i: usize) -> f32 {
        let dims = 1usize << self.bits;
        let row = &self.weights[i * dims..(i + 1) * dims];
        sigmoid(features.dot(row) + self.biases[i])
    }

    /// The categories the model scores, sorted.
    pub fn categories(&self) -> &[String] {
        &self.categories
    }

    /// The number of hashed dimensions (`2^bits`).
    pub fn dimensions(&self) -> usize {
        1 << self.bits
    }

    /// The model's identity: the hex SHA-256 of its file body (64 hex
    /// characters; the first 12 are enough to show).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The body of the model file: everything but the trailing digest.
    fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.weights.len() * 4 + self.biases.len() * 4);
        out.extend_from_slice(MAGIC);
        out.push(FEATURES_VERSION);
        out.push(self.bits);
        // `train` and `from_bytes` keep the count far below u16::MAX: every
        // category has a distinct name of at most 255 bytes.
        out.extend_from_slice(&(self.categories.len() as u16).to_le_bytes());
        for category in &self.categories {
            out.push(category.len() as u8);
            out.extend_from_slice(category.as_bytes());
        }
        let dims = self.dimensions();
        for (i, bias) in self.biases.iter().enumerate() {
            out.extend_from_slice(&bias.to_le_bytes());
            for weight in &self.weights[i * dims..(i + 1) * dims] {
                out.extend_from_slice(&weight.to_le_bytes());
            }
        }
        out
    }

    /// The model file (see the module docs for the layout).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.body();
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        out
    }

    /// Reads a model file, refusing a wrong magic, an unknown format or
    /// feature version, a digest that does not match, and anything
    /// truncated, trailing or not finite.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ClassifierError> {
        let bad = |offset: usize, reason: &str| ClassifierError::ModelFile {
            offset,
            reason: reason.to_owned(),
        };
        if bytes.len() < MAGIC.len() + DIGEST_LEN {
            return Err(bad(bytes.len(), "too short for a model file"));
        }
        if bytes[..MAGIC.len() - 1] != MAGIC[..MAGIC.len() - 1] {
            return Err(bad(0, "not a custos classifier model (bad magic)"));
        }
        if bytes[MAGIC.len() - 1] != MAGIC[MAGIC.len() - 1] {
            return Err(bad(
                MAGIC.len() - 1,
                &format!("unsupported format version {}", bytes[MAGIC.len() - 1]),
            ));
        }
        let (body, digest) = bytes.split_at(bytes.len() - DIGEST_LEN);
        if Sha256::digest(body).as_slice() != digest {
            return Err(bad(body.len(), "checksum mismatch: the file is damaged"));
        }
        let mut reader = Reader {
            bytes: body,
            at: MAGIC.len(),
        };
        let features = reader.u8()?;
        if features != FEATURES_VERSION {
            return Err(bad(
                reader.at - 1,
                &format!("feature scheme {features}, this build reads {FEATURES_VERSION}"),
            ));
        }
        let bits = reader.u8()?;
        if !(MIN_BITS..=MAX_BITS).contains(&bits) {
            return Err(bad(
                reader.at - 1,
                &format!("hash bits {bits} out of range"),
            ));
        }
        let count = usize::from(u16::from_le_bytes(reader.array()?));
        let mut categories: Vec<String> = Vec::with_capacity(count);
        for _ in 0..count {
            let len = usize::from(reader.u8()?);
            let start = reader.at;
            let name = std::str::from_utf8(reader.take(len)?)
                .map_err(|_| bad(start, "category name is not UTF-8"))?;
            if name.is_empty() || categories.last().is_some_and(|last| last.as_str() >= name) {
                return Err(bad(
                    start,
                    "category names must be non-empty, sorted, unique",
                ));
            }
            categories.push(name.to_owned());
        }
        let dims = 1usize << bits;
        let mut weights = Vec::with_capacity(count * dims);
        let mut biases = Vec::with_capacity(count);
        for _ in 0..count {
            biases.push(reader.f32()?);
            for _ in 0..dims {
                weights.push(reader.f32()?);
            }
        }
        if reader.at != body.len() {
            return Err(bad(reader.at, "trailing bytes after the weights"));
        }
        Ok(Model::new(categories, bits, weights, biases))
    }
}

/// Names the model rather than printing its weights.
impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("version", &self.version)
            .field("categories", &self.categories)
            .field("dimensions", &self.dimensions())
            .finish_non_exhaustive()
    }
}

/// A cursor over model bytes whose errors say where they stopped.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], ClassifierError> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len());
        let Some(end) = end else {
            return Err(ClassifierError::ModelFile {
                offset: self.at,
                reason: format!("truncated: {len} more bytes expected"),
            });
        };
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ClassifierError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, ClassifierError> {
        Ok(self.array::<1>()?[0])
    }

    fn f32(&mut self) -> Result<f32, ClassifierError> {
        let at = self.at;
        let value = f32::from_le_bytes(self.array()?);
        if !value.is_finite() {
            return Err(ClassifierError::ModelFile {
                offset: at,
                reason: "weight is not a finite number".to_owned(),
            });
        }
        Ok(value)
    }
}

fn check_options(options: &TrainOptions) -> Result<(), ClassifierError> {
    if !(MIN_BITS..=MAX_BITS).contains(&options.bits) {
        return Err(ClassifierError::Bits {
            bits: options.bits,
            min: MIN_BITS,
            max: MAX_BITS,
        });
    }
    if !(options.alpha.is_finite() && options.alpha > 0.0) {
        return Err(ClassifierError::Option {
            option: "alpha",
            reason: format!("{} is not a positive number", options.alpha),
        });
    }
    if !(options.correction_weight.is_finite() && options.correction_weight >= 1.0) {
        return Err(ClassifierError::Option {
            option: "correction_weight",
            reason: format!(
                "{} is not a number of at least 1",
                options.correction_weight
            ),
        });
    }
    if options.epochs == 0 {
        return Err(ClassifierError::Option {
            option: "epochs",
            reason: "must be at least 1".to_owned(),
        });
    }
    Ok(())
}

/// Keeps the last example of each folded text, with its index, in the
/// order of those last occurrences.
fn latest_per_text(examples: &[Example]) -> Vec<(usize, &Example)> {
    let mut last: HashMap<String, usize> = HashMap::new();
    for (i, example) in examples.iter().enumerate() {
        last.insert(fold(example.text.trim()), i);
    }
    let mut keep: Vec<usize> = last.into_values().collect();
    keep.sort_unstable();
    keep.into_iter().map(|i| (i, &examples[i])).collect()
}

/// One training example as the solver sees it.
struct Row {
    features: Features,
    /// A hash of the folded text: orders the visits (see [`fit_one`]).
    key: u64,
    /// How much its loss counts.
    weight: f64,
}

/// Fits one category against all others by stochastic gradient descent on
/// the L2-regularised log loss, and returns its bias and weights.
///
/// This is Bottou's SGD as in scikit-learn's `SGDClassifier(loss="log_loss")`:
/// the "optimal" step `1 / (alpha * (t0 + t))`, and the weights kept as
/// `scale * w` so the L2 shrink costs one multiplication and each step
/// touches only the example's non-zero features. A dense solver (linfa's
/// L-BFGS) was tried first and took 54 s on the seed corpus; this takes
/// well under a second.
///
/// Each epoch visits the examples in an order drawn from the seed and each
/// text's own hash, not from its position: appending one example leaves
/// the others' relative order as it was, so retraining with a correction
/// changes the model by what the correction teaches, not by a reshuffle.
fn fit_one(rows: &[Row], targets: &[bool], dims: usize, options: &TrainOptions) -> (f32, Vec<f32>) {
    let alpha = options.alpha;
    // scikit-learn's heuristic for the first step: about the size a weight
    // of the regularised solution is expected to have.
    let typical = (1.0 / alpha.sqrt()).sqrt();
    let t0 = 1.0 / (alpha * typical);
    let mut w = vec![0.0f64; dims];
    let mut scale = 1.0f64;
    let mut bias = 0.0f64;
    let mut order: Vec<(u64, usize)> = Vec::with_capacity(rows.len());
    let mut t = 0.0f64;
    for epoch in 0..options.epochs {
        let salt = mix64(options.seed ^ mix64(u64::from(epoch)));
        order.clear();
        order.extend(
            rows.iter()
                .enumerate()
                .map(|(i, row)| (mix64(row.key ^ salt), i)),
        );
        order.sort_unstable();
        for &(_, i) in &order {
            let eta = 1.0 / (alpha * (t0 + t));
            t += 1.0;
            let row = &rows[i];
            let features = row.features.entries();
            let mut z = 0.0;
            for &(j, v) in features {
                z += w[j as usize] * f64::from(v);
            }
            let z = scale * z + bias;
            let y = if targets[i] { 1.0 } else { -1.0 };
            // The derivative of ln(1 + e^(-yz)) with respect to z.
            let gradient = -y * sigmoid64(-y * z) * row.weight;
            scale *= 1.0 - eta * alpha;
            let step = eta * gradient / scale;
            for &(j, v) in features {
                w[j as usize] -= step * f64::from(v);
            }
            bias -= eta * gradient;
            if scale < 1e-9 {
                for weight in &mut w {
                    *weight *= scale;
                }
                scale = 1.0;
            }
        }
    }
    let weights = w.iter().map(|weight| (weight * scale) as f32).collect();
    (bias as f32, weights)
}

fn sigmoid64(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{load_jsonl, seed_corpus};

    fn example(text: &str, labels: &[&str]) -> Example {
        Example {
            text: text.to_owned(),
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        }
    }

    /// A small corpus of three categories and clean chatter, enough for
    /// the mechanics; the seed corpus tests quality.
    fn small() -> Vec<Example> {
        let mut examples = vec![
            example("message me on my personal whatsapp", &["off_channel"]),
            example("text my private cell, not this line", &["off_channel"]),
            example("let's move this to signal", &["off_channel"]),
            example("me chama no zap pessoal", &["off_channel"]),
            example("escríbeme a mi whatsapp personal", &["off_channel"]),
            example("this fund is guaranteed to double", &["promissory"]),
            example("you cannot lose money, guaranteed return", &["promissory"]),
            example("retorno garantido de 20% ao mês", &["promissory"]),
            example("te garantizo que no pierdes nada", &["promissory"]),
            example("I want to file a formal complaint", &["complaint"]),
            example("this is unacceptable, I am reporting you", &["complaint"]),
            example("quero registrar uma reclamação", &["complaint"]),
            example("quiero poner una queja formal", &["complaint"]),
        ];
        for text in [
            "the meeting moved to 3pm",
            "please find the quarterly report attached",
            "thanks, see you tomorrow",
            "bom dia, tudo bem?",
            "buenos días, gracias por la información",
            "can you confirm the settlement date",
            "lunch at noon?",
            "o relatório está pronto",
            "el informe está listo",
            "I will review the document tonight",
        ] {
            examples.push(example(text, &[]));
        }
        examples
    }

    fn options() -> TrainOptions {
        TrainOptions {
            bits: 12,
            ..TrainOptions::default()
        }
    }

    #[test]
    fn a_clear_text_scores_highest_in_its_category() {
        let model = Model::train(&small(), &options()).unwrap();
        assert_eq!(
            model.categories(),
            ["complaint", "off_channel", "promissory"]
        );
        for (text, expected) in [
            ("add me on whatsapp, my personal number", "off_channel"),
            ("guaranteed return, you cannot lose", "promissory"),
            ("I am filing a complaint about this", "complaint"),
        ] {
            let scores = model.scores(text);
            let best = scores.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
            assert_eq!(best.0, expected, "{text}: {scores:?}");
            assert_eq!(model.score(text, expected), Some(best.1));
        }
        assert_eq!(model.score("anything", "harassment"), None);
    }

    #[test]
    fn training_is_deterministic() {
        let a = Model::train(&small(), &options()).unwrap();
        let b = Model::train(&small(), &options()).unwrap();
        assert_eq!(a.to_bytes(), b.to_bytes());
        assert_eq!(a.version(), b.version());
        assert_eq!(a.version().len(), 64);
        let other = Model::train(
            &small(),
            &TrainOptions {
                alpha: 1e-3,
                ..options()
            },
        )
        .unwrap();
        assert_ne!(a.version(), other.version());
        let reseeded = Model::train(
            &small(),
            &TrainOptions {
                seed: 1,
                ..options()
            },
        )
        .unwrap();
        assert_ne!(
            a.version(),
            reseeded.version(),
            "the seed orders the visits"
        );
    }

    #[test]
    fn debug_names_the_model_without_its_weights() {
        let model = Model::train(&small(), &options()).unwrap();
        let debug = format!("{model:?}");
        assert!(debug.contains(model.version()), "{debug}");
        assert!(debug.contains("off_channel"), "{debug}");
        assert!(debug.len() < 300, "{debug}");
    }

    #[test]
    fn bytes_round_trip() {
        let model = Model::train(&small(), &options()).unwrap();
        let bytes = model.to_bytes();
        assert_eq!(&bytes[..8], MAGIC);
        assert_eq!(
            bytes.len(),
            8 + 2 + 2 + (1 + 9) + (1 + 11) + (1 + 10) + 3 * 4 * (1 + 4096) + 32
        );
        let back = Model::from_bytes(&bytes).unwrap();
        assert_eq!(back, model);
        let text = "ping me on whatsapp";
        assert_eq!(back.scores(text), model.scores(text));
    }

    #[test]
    fn damaged_files_are_refused() {
        let bytes = Model::train(&small(), &options()).unwrap().to_bytes();
        let reason = |bytes: &[u8]| match Model::from_bytes(bytes) {
            Err(ClassifierError::ModelFile { reason, .. }) => reason,
            other => panic!("expected a model file error, got {other:?}"),
        };
        for at in [20, bytes.len() / 2, bytes.len() - 1] {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x01;
            assert!(reason(&flipped).contains("checksum"), "byte {at}");
        }
        assert!(reason(&bytes[..bytes.len() - 1]).contains("checksum"));
        assert!(reason(&bytes[..10]).contains("too short"));
        let mut magic = bytes.clone();
        magic[0] = b'X';
        assert!(reason(&magic).contains("magic"));
        let mut version = bytes.clone();
        version[7] = 2;
        assert!(reason(&version).contains("format version 2"));
    }

    #[test]
    fn a_damaged_body_with_a_fresh_digest_is_still_checked() {
        let model = Model::train(&small(), &options()).unwrap();
        let mut body = model.body();
        body[8] = FEATURES_VERSION + 1;
        body.extend_from_slice(&Sha256::digest(&body));
        let error = Model::from_bytes(&body).unwrap_err().to_string();
        assert!(error.contains("feature scheme"), "{error}");

        let mut body = model.body();
        body.push(0);
        body.extend_from_slice(&Sha256::digest(&body));
        let error = Model::from_bytes(&body).unwrap_err().to_string();
        assert!(error.contains("trailing"), "{error}");
    }

    #[test]
    fn corrections_move_scores_the_right_way() {
        // One correction among the ~1,000 seed examples, as reviewers add
        // them: it moves a similar text's score the right way, and further
        // when marked as a correction.
        let seed = load_jsonl(seed_corpus(), "corpus/seed.jsonl").unwrap();
        let plain = TrainOptions::default();
        let weighted = TrainOptions {
            corrections_from: Some(seed.len()),
            ..TrainOptions::default()
        };
        let model = Model::train(&seed, &plain).unwrap();
        let cases: [(&str, &[&str], &str, f32); 2] = [
            // A dismissed alert: an innocent "guarantee".
            (
                "we guarantee your refund arrives by monday",
                &[],
                "we guarantee you will get the refund by friday",
                -1.0,
            ),
            // A confirmed breach the model had missed.
            (
                "this deal will make you rich, believe me",
                &["promissory"],
                "this deal will make you rich, trust me",
                1.0,
            ),
        ];
        for (correction, labels, similar, direction) in cases {
            let mut examples = seed.clone();
            examples.push(example(correction, labels));
            let before = model.score(similar, "promissory").unwrap();
            let after = Model::train(&examples, &plain)
                .unwrap()
                .score(similar, "promissory")
                .unwrap();
            let stronger = Model::train(&examples, &weighted)
                .unwrap()
                .score(similar, "promissory")
                .unwrap();
            let moves = format!("{similar}: {before} -> {after}, weighted {stronger}");
            assert!((after - before) * direction > 0.0, "{moves}");
            assert!((stronger - after) * direction > 0.0, "{moves}");
        }
    }

    #[test]
    fn a_later_example_of_the_same_text_wins() {
        let mut examples = small();
        examples.push(example("THE MEETING MOVED TO 3PM", &["complaint"]));
        let kept = latest_per_text(&examples);
        assert_eq!(kept.len(), examples.len() - 1);
        let meeting: Vec<_> = kept
            .iter()
            .filter(|(_, e)| fold(&e.text) == "the meeting moved to 0pm")
            .collect();
        assert_eq!(meeting.len(), 1);
        assert_eq!(meeting[0].0, examples.len() - 1);
        assert_eq!(meeting[0].1.labels, ["complaint"]);
    }

    #[test]
    fn bad_inputs_are_named() {
        let clean = vec![example("hello", &[]), example("bye", &[])];
        assert!(matches!(
            Model::train(&clean, &options()),
            Err(ClassifierError::NoCategories)
        ));
        let all = vec![example("a", &["x"]), example("b", &["x"])];
        let error = Model::train(&all, &options()).unwrap_err();
        assert!(error.to_string().contains("category x"), "{error}");
        let bits = TrainOptions {
            bits: 30,
            ..options()
        };
        assert!(matches!(
            Model::train(&small(), &bits),
            Err(ClassifierError::Bits { bits: 30, .. })
        ));
        let alpha = TrainOptions {
            alpha: -1.0,
            ..options()
        };
        let error = Model::train(&small(), &alpha).unwrap_err();
        assert!(error.to_string().contains("alpha"), "{error}");
        let weight = TrainOptions {
            correction_weight: 0.5,
            ..options()
        };
        let error = Model::train(&small(), &weight).unwrap_err();
        assert!(error.to_string().contains("correction_weight"), "{error}");
    }
}
