//! The risk classifier: logistic regression over hashed word and character
//! n-grams, trained from labelled messages and reviewers' dispositions.
//!
//! Policies match words and patterns; this crate catches what they miss by
//! scoring each message per risk category (`off_channel`, `promissory`,
//! `complaint`, ...) with a probability. It is multi-label: one L2
//! logistic regression per category ("one vs rest", fitted by sparse
//! stochastic gradient descent), over a hashed feature space of word unigrams and
//! bigrams and character 3- to 5-grams of case- and accent-folded text
//! ([`features`]).
//!
//! The crate does no I/O: callers hand it text and bytes. A trained
//! [`Model`] is stored as a small versioned file ([`Model::to_bytes`]) and
//! named by the SHA-256 of those bytes ([`Model::version`]), so an alert can
//! record exactly which model raised it.
//!
//! ```
//! use custos_classifier::{Example, Model, TrainOptions};
//!
//! let example = |text: &str, labels: &[&str]| Example {
//!     text: text.to_owned(),
//!     labels: labels.iter().map(|l| l.to_string()).collect(),
//! };
//! let examples = vec![
//!     example("message me on my personal whatsapp", &["off_channel"]),
//!     example("text my private cell instead", &["off_channel"]),
//!     example("the meeting moved to 3pm", &[]),
//!     example("please find the report attached", &[]),
//! ];
//! let model = Model::train(&examples, &TrainOptions::default()).unwrap();
//! let risky = model.score("ping me on whatsapp", "off_channel").unwrap();
//! let plain = model.score("report attached for the meeting", "off_channel").unwrap();
//! assert!(risky > plain);
//! ```
//!
//! Reviewers teach it: a dismissed alert becomes an example without that
//! category, a confirmed breach an example with it. The caller appends them
//! to the corpus and retrains; when the same (folded) text appears twice
//! the later example wins, so a correction overrides the seed.

mod corpus;
pub mod features;
mod measure;
mod metrics;
mod model;

pub use corpus::{Example, load_jsonl, seed_corpus, split};
pub use measure::{Measurement, measure};
pub use metrics::{CategoryMetrics, Metrics, evaluate};
pub use model::{Model, TrainOptions};

/// Everything that can go wrong while reading examples, training or
/// loading a model.
#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    /// A corpus line could not be read.
    #[error("{origin}:{line}: {reason}")]
    Corpus {
        /// Where the text came from (a file name or the caller's label).
        origin: String,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
    /// No training example carries a label, so there is nothing to learn.
    #[error("no training example has a label")]
    NoCategories,
    /// Every example belongs to the category, so it cannot be told apart.
    #[error("category {category}: every training example has it, none is a negative")]
    NoNegatives {
        /// The category.
        category: String,
    },
    /// A category name cannot be stored (empty or longer than 255 bytes).
    #[error("category {category:?}: names must be 1 to 255 bytes")]
    CategoryName {
        /// The category.
        category: String,
    },
    /// The hashed space asked for is out of range.
    #[error("hash bits {bits}: must be between {min} and {max}")]
    Bits {
        /// The bits asked for.
        bits: u8,
        /// The smallest allowed.
        min: u8,
        /// The largest allowed.
        max: u8,
    },
    /// A training option is out of range.
    #[error("train option {option}: {reason}")]
    Option {
        /// The option's field name.
        option: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The solver failed for one category.
    #[error("category {category}: fitting failed: {reason}")]
    Fit {
        /// The category.
        category: String,
        /// The solver's message.
        reason: String,
    },
    /// Model bytes are damaged, truncated or of an unknown format.
    #[error("model file at byte {offset}: {reason}")]
    ModelFile {
        /// Where in the bytes the problem was found.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
}
