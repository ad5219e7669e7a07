//! Trains on the seed corpus with the default options and prints held-out
//! quality, training time, model size and scoring throughput:
//! `cargo run --release -p custos-classifier --example seed_report`.

use custos_classifier::{ClassifierError, TrainOptions, load_jsonl, measure, seed_corpus};

fn main() -> Result<(), ClassifierError> {
    let examples = load_jsonl(seed_corpus(), "corpus/seed.jsonl")?;
    for threshold in [0.3, 0.5] {
        println!(
            "{}",
            measure(&examples, &TrainOptions::default(), threshold)?
        );
    }
    Ok(())
}
