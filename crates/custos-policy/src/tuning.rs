//! Tuning: how a policy set does on labelled messages, so compliance
//! officers can see each policy's and each term's precision and recall
//! before they switch a change on.
//!
//! The input is JSON lines, one message each:
//! `{"id":"m1","lang":"en","text":"..","labels":["off_channel"]}`; empty
//! `labels` mean a clean message. A policy's positives are the messages
//! whose labels include its `category`. Scope is ignored (labelled
//! messages carry only text); sending-time and metadata leaves see a
//! plain outbound WhatsApp message sent on a weekday at noon UTC.

use crate::engine::{Document, Engine, HitKind};
use crate::error::PolicyError;
use custos_model::{Direction, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// One labelled message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Labelled {
    /// Its id in the data set; when absent, `line N`.
    #[serde(default)]
    pub id: String,
    /// Its language (`en`, `pt`, `es`...), informative.
    #[serde(default)]
    pub lang: String,
    /// The text.
    pub text: String,
    /// The risk categories it belongs to; empty: clean.
    #[serde(default)]
    pub labels: Vec<String>,
}

/// Reads labelled messages from JSON lines; blank lines are skipped. An
/// error names `origin` and the line.
pub fn load_labelled(text: &str, origin: &str) -> Result<Vec<Labelled>, PolicyError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut item: Labelled = serde_json::from_str(line).map_err(|e| PolicyError::Labelled {
            origin: origin.to_string(),
            line: i + 1,
            message: e.to_string(),
        })?;
        if item.id.is_empty() {
            item.id = format!("line {}", i + 1);
        }
        out.push(item);
    }
    Ok(out)
}

/// How one term (or regex, or detector) did: messages it hit, and how
/// many of those carry its policy's category.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TermFigures {
    /// The hit's label: the term as written, the regex, the detector.
    pub label: String,
    /// Messages where it hit while the policy fired.
    pub hits: usize,
    /// Of those, messages labelled with the policy's category.
    pub true_positives: usize,
    /// `true_positives / hits`, if it hit at all.
    pub precision: Option<f64>,
}

/// How one policy did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PolicyFigures {
    /// The policy's name.
    pub policy: String,
    /// Its category.
    pub category: String,
    /// Messages labelled with the category.
    pub positives: usize,
    /// Messages it fired on.
    pub hits: usize,
    /// Fired on and labelled.
    pub true_positives: usize,
    /// Fired on but not labelled.
    pub false_positives: usize,
    /// `true_positives / hits`, if it fired at all.
    pub precision: Option<f64>,
    /// `true_positives / positives`, if there are positives.
    pub recall: Option<f64>,
    /// Its terms, most hits first.
    pub terms: Vec<TermFigures>,
}

/// The figures of every policy on one labelled set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TuningReport {
    /// Messages evaluated.
    pub items: usize,
    /// Of those, messages with no label.
    pub clean: usize,
    /// One entry per policy, in the engine's order.
    pub policies: Vec<PolicyFigures>,
}

fn ratio(n: usize, d: usize) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// Evaluates every labelled message and counts, per policy and per term,
/// hits and true positives.
pub fn evaluate_labelled(engine: &Engine, items: &[Labelled]) -> TuningReport {
    // 2026-03-03, a Tuesday, 12:00 UTC.
    let noon = Timestamp::from_micros(1_772_539_200_000_000);
    let mut scanner = engine.scanner();
    let mut figures: Vec<PolicyFigures> = engine
        .policies()
        .map(|(p, _)| PolicyFigures {
            policy: p.name.clone(),
            category: p.category.clone(),
            positives: items
                .iter()
                .filter(|i| i.labels.contains(&p.category))
                .count(),
            hits: 0,
            true_positives: 0,
            false_positives: 0,
            precision: None,
            recall: None,
            terms: Vec::new(),
        })
        .collect();
    let index: BTreeMap<String, usize> = figures
        .iter()
        .enumerate()
        .map(|(i, f)| (f.policy.clone(), i))
        .collect();
    // Per policy: label -> (hits, true positives).
    let mut terms: Vec<BTreeMap<String, (usize, usize)>> = vec![BTreeMap::new(); figures.len()];
    for item in items {
        let doc = Document {
            channel: "whatsapp",
            direction: Direction::Outbound,
            text: &item.text,
            attachments: &[],
            sent_at: noon,
            units: &[],
            external: true,
            new_external_contact: false,
            edited: false,
            deleted: false,
        };
        for m in scanner.evaluate_ignoring_scope(&doc) {
            let i = index[&m.policy];
            let f = &mut figures[i];
            let positive = item.labels.contains(&f.category);
            f.hits += 1;
            if positive {
                f.true_positives += 1;
            } else {
                f.false_positives += 1;
            }
            let labels: BTreeSet<&str> = m
                .hits
                .iter()
                .filter(|h| matches!(h.kind, HitKind::Term | HitKind::Regex | HitKind::Detector))
                .map(|h| h.label.as_str())
                .collect();
            for label in labels {
                let e = terms[i].entry(label.to_string()).or_default();
                e.0 += 1;
                e.1 += usize::from(positive);
            }
        }
    }
    for (f, t) in figures.iter_mut().zip(terms) {
        f.precision = ratio(f.true_positives, f.hits);
        f.recall = ratio(f.true_positives, f.positives);
        f.terms = t
            .into_iter()
            .map(|(label, (hits, tp))| TermFigures {
                label,
                hits,
                true_positives: tp,
                precision: ratio(tp, hits),
            })
            .collect();
        f.terms
            .sort_by(|a, b| b.hits.cmp(&a.hits).then_with(|| a.label.cmp(&b.label)));
    }
    TuningReport {
        items: items.len(),
        clean: items.iter().filter(|i| i.labels.is_empty()).count(),
        policies: figures,
    }
}

impl TuningReport {
    /// The report as a plain-text table: one row per policy, then its
    /// terms indented beneath it.
    pub fn render(&self) -> String {
        let pct = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{:.1}%", r * 100.0));
        let mut rows: Vec<[String; 7]> = vec![[
            "policy / term".into(),
            "positives".into(),
            "hits".into(),
            "true pos".into(),
            "false pos".into(),
            "precision".into(),
            "recall".into(),
        ]];
        for p in &self.policies {
            rows.push([
                format!("{} ({})", p.policy, p.category),
                p.positives.to_string(),
                p.hits.to_string(),
                p.true_positives.to_string(),
                p.false_positives.to_string(),
                pct(p.precision),
                pct(p.recall),
            ]);
            for t in &p.terms {
                rows.push([
                    format!("  {}", t.label),
                    String::new(),
                    t.hits.to_string(),
                    t.true_positives.to_string(),
                    (t.hits - t.true_positives).to_string(),
                    pct(t.precision),
                    String::new(),
                ]);
            }
        }
        let mut widths = [0; 7];
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = format!("{} messages, {} clean\n", self.items, self.clean);
        for row in &rows {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                let pad = widths[i] - cell.chars().count();
                if i == 0 {
                    let _ = write!(line, "{cell}{}", " ".repeat(pad));
                } else {
                    let _ = write!(line, "  {}{cell}", " ".repeat(pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_policy;

    const LINES: &str = r#"{"id":"1","lang":"en","text":"let's move to Signal","labels":["off_channel"]}
{"id":"2","lang":"en","text":"the signal here is bad","labels":[]}

{"id":"3","lang":"pt","text":"me chama no telegram","labels":["off_channel"]}
{"id":"4","lang":"en","text":"I will send it on telegram","labels":[]}
{"id":"5","lang":"en","text":"whatsapp me","labels":["off_channel"]}
"#;

    #[test]
    fn counts_precision_and_recall_per_policy_and_term() {
        let p = parse_policy(
            "name = \"off-channel\"\ntitle = \"t\"\ncategory = \"off_channel\"\nseverity = \"high\"\n\
             actions = [\"alert\"]\n[scope]\nchannels = [\"sms\"]\n[condition]\nterms = [\"mov* to signal\", \"telegram\"]\n",
            "p.toml",
        )
        .unwrap();
        let engine = Engine::compile(&[(p, 1)]).unwrap();
        let items = load_labelled(LINES, "set.jsonl").unwrap();
        assert_eq!(items.len(), 5);
        let report = evaluate_labelled(&engine, &items);
        assert_eq!((report.items, report.clean), (5, 2));
        let f = &report.policies[0];
        // Hits 1, 3, 4 (scope ignored): 2 true, 1 false; 3 positives.
        assert_eq!(
            (f.positives, f.hits, f.true_positives, f.false_positives),
            (3, 3, 2, 1)
        );
        assert_eq!(f.precision, Some(2.0 / 3.0));
        assert_eq!(f.recall, Some(2.0 / 3.0));
        assert_eq!(f.terms[0].label, "telegram");
        assert_eq!((f.terms[0].hits, f.terms[0].true_positives), (2, 1));
        assert_eq!(f.terms[1].precision, Some(1.0));
        let table = report.render();
        assert!(table.contains("off-channel (off_channel)"), "{table}");
        assert!(table.contains("66.7%"), "{table}");
        assert!(table.contains("  mov* to signal"), "{table}");
    }

    #[test]
    fn a_bad_line_is_named() {
        let err =
            load_labelled("{\"id\":\"1\",\"text\":\"a\"}\n{\"id\":2}\n", "set.jsonl").unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("set.jsonl:2: "), "{message}");
        let items = load_labelled("\n{\"text\":\"a\",\"labels\":[]}\n", "set.jsonl").unwrap();
        assert_eq!(items[0].id, "line 2", "an id is optional");
    }
}
