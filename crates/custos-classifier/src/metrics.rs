//! Evaluation: precision, recall and F1 per category and overall, and a
//! plain-text table of them.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::{Example, Model};

/// How one category fared on a set of examples.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryMetrics {
    /// The category.
    pub category: String,
    /// Examples labelled with it.
    pub support: usize,
    /// Labelled and predicted.
    pub tp: usize,
    /// Predicted but not labelled.
    pub fp: usize,
    /// Labelled but not predicted.
    pub fn_: usize,
    /// `tp / (tp + fp)`, 0 when nothing was predicted.
    pub precision: f64,
    /// `tp / (tp + fn)`, 0 when nothing was labelled.
    pub recall: f64,
    /// The harmonic mean of precision and recall, 0 when both are 0.
    pub f1: f64,
}

/// Evaluation over a set of examples at one threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// One row per category the model knows or the examples name, sorted.
    pub per_category: Vec<CategoryMetrics>,
    /// Precision over all (example, category) decisions.
    pub micro_precision: f64,
    /// Recall over all (example, category) decisions.
    pub micro_recall: f64,
}

/// Scores every example and counts a category as predicted when its
/// probability is at least `threshold`. Labels the model does not know
/// count as missed.
pub fn evaluate(model: &Model, examples: &[Example], threshold: f32) -> Metrics {
    let names: BTreeSet<&str> = model
        .categories()
        .iter()
        .map(String::as_str)
        .chain(
            examples
                .iter()
                .flat_map(|e| e.labels.iter().map(String::as_str)),
        )
        .collect();
    let names: Vec<&str> = names.into_iter().collect();
    let mut rows: Vec<CategoryMetrics> = names
        .iter()
        .map(|name| CategoryMetrics {
            category: (*name).to_owned(),
            support: 0,
            tp: 0,
            fp: 0,
            fn_: 0,
            precision: 0.0,
            recall: 0.0,
            f1: 0.0,
        })
        .collect();
    for example in examples {
        let scores = model.scores(&example.text);
        for (row, name) in rows.iter_mut().zip(&names) {
            let labelled = example.labels.iter().any(|l| l == name);
            let predicted = scores
                .iter()
                .any(|(category, p)| category == name && *p >= threshold);
            row.support += usize::from(labelled);
            match (labelled, predicted) {
                (true, true) => row.tp += 1,
                (false, true) => row.fp += 1,
                (true, false) => row.fn_ += 1,
                (false, false) => {}
            }
        }
    }
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for row in &mut rows {
        row.precision = ratio(row.tp, row.tp + row.fp);
        row.recall = ratio(row.tp, row.tp + row.fn_);
        row.f1 = harmonic(row.precision, row.recall);
        tp += row.tp;
        fp += row.fp;
        fn_ += row.fn_;
    }
    Metrics {
        per_category: rows,
        micro_precision: ratio(tp, tp + fp),
        micro_recall: ratio(tp, tp + fn_),
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn harmonic(a: f64, b: f64) -> f64 {
    if a + b == 0.0 {
        0.0
    } else {
        2.0 * a * b / (a + b)
    }
}

impl Metrics {
    /// The micro-averaged F1.
    pub fn micro_f1(&self) -> f64 {
        harmonic(self.micro_precision, self.micro_recall)
    }

    /// A plain-text table: one row per category, then the micro averages.
    pub fn render(&self) -> String {
        let width = self
            .per_category
            .iter()
            .map(|row| row.category.len())
            .chain([8])
            .max()
            .unwrap_or(8);
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "{:<width$}  {:>7}  {:>4}  {:>4}  {:>4}  {:>9}  {:>6}  {:>6}",
            "category", "support", "tp", "fp", "fn", "precision", "recall", "f1"
        );
        for row in &self.per_category {
            let _ = writeln!(
                out,
                "{:<width$}  {:>7}  {:>4}  {:>4}  {:>4}  {:>9.3}  {:>6.3}  {:>6.3}",
                row.category,
                row.support,
                row.tp,
                row.fp,
                row.fn_,
                row.precision,
                row.recall,
                row.f1
            );
        }
        let _ = writeln!(
            out,
            "{:<width$}  {:>7}  {:>4}  {:>4}  {:>4}  {:>9.3}  {:>6.3}  {:>6.3}",
            "micro",
            self.per_category.iter().map(|r| r.support).sum::<usize>(),
            self.per_category.iter().map(|r| r.tp).sum::<usize>(),
            self.per_category.iter().map(|r| r.fp).sum::<usize>(),
            self.per_category.iter().map(|r| r.fn_).sum::<usize>(),
            self.micro_precision,
            self.micro_recall,
            self.micro_f1()
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TrainOptions;

    fn example(text: &str, labels: &[&str]) -> Example {
        Example {
            text: text.to_owned(),
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        }
    }

    fn model() -> Model {
        let examples = vec![
            example("message me on whatsapp", &["off_channel"]),
            example("text my personal whatsapp", &["off_channel"]),
            example("whatsapp me later", &["off_channel"]),
            example("the report is attached", &[]),
            example("see you at the meeting", &[]),
            example("thanks for the update", &[]),
        ];
        Model::train(
            &examples,
            &TrainOptions {
                bits: 12,
                ..TrainOptions::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn counts_follow_the_threshold() {
        let model = model();
        let examples = vec![
            example("whatsapp me", &["off_channel"]),
            example("the report", &[]),
            example("anything", &["harassment"]),
        ];
        // Threshold 0: everything is predicted for every known category.
        let all = evaluate(&model, &examples, 0.0);
        let names: Vec<_> = all
            .per_category
            .iter()
            .map(|r| r.category.as_str())
            .collect();
        assert_eq!(names, ["harassment", "off_channel"]);
        let off = &all.per_category[1];
        assert_eq!((off.support, off.tp, off.fp, off.fn_), (1, 1, 2, 0));
        let unknown = &all.per_category[0];
        assert_eq!(
            (unknown.support, unknown.tp, unknown.fp, unknown.fn_),
            (1, 0, 0, 1)
        );
        assert!((all.micro_precision - 1.0 / 3.0).abs() < 1e-9);
        assert!((all.micro_recall - 0.5).abs() < 1e-9);
        // Above 1: nothing is predicted.
        let none = evaluate(&model, &examples, 1.1);
        assert_eq!(none.micro_precision, 0.0);
        assert_eq!(none.micro_recall, 0.0);
        assert_eq!(none.per_category[1].fn_, 1);
    }

    #[test]
    fn render_lists_every_category_and_the_totals() {
        let model = model();
        let metrics = evaluate(&model, &[example("whatsapp me", &["off_channel"])], 0.5);
        let table = metrics.render();
        let lines: Vec<_> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(lines[0].starts_with("category"));
        assert!(lines[1].starts_with("off_channel"));
        assert!(lines[2].starts_with("micro"));
    }
}
