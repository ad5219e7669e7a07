//! The starter policy library against its test cases.
//!
//! Every policy in `library/` has a case file `library/cases/<name>.toml`
//! listing messages it must fire on (`[[hit]]`) and near misses it must stay
//! silent on (`[[miss]]`), in English, Portuguese and Spanish. The whole
//! library is compiled into one engine, as in production, and every case is
//! evaluated; a failure names the case file, the case and its text, and for
//! a false alarm the evidence that fired.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use custos_model::{Direction, Timestamp};
use custos_policy::{Document, Engine, Policy, PolicyMatch, parse_policy, starter_library};
use serde::Deserialize;

/// The languages every policy must be tested in.
const LANGS: [&str; 3] = ["en", "pt", "es"];
/// The fewest hits and near misses a policy needs per language.
const MIN_HITS: usize = 4;
const MIN_MISSES: usize = 3;
/// The classifier's labels: the starter library covers each exactly once.
const CATEGORIES: [&str; 8] = [
    "complaint",
    "gifts_entertainment",
    "harassment",
    "inside_information",
    "off_channel",
    "opt_out",
    "pii_leak",
    "promissory",
];
/// Wednesday 2025-06-04 10:00 UTC: inside anyone's business hours.
const SENT_AT: Timestamp = Timestamp::from_micros(1_749_031_200_000_000);

/// One case file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    /// The direction of every case that does not give its own (default
    /// outbound).
    direction: Option<Direction>,
    #[serde(default)]
    hit: Vec<Case>,
    #[serde(default)]
    miss: Vec<Case>,
}

/// One message to evaluate.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    lang: String,
    text: String,
    direction: Option<Direction>,
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("library")
        .join("cases")
}

fn library() -> Vec<Policy> {
    let mut policies = Vec::new();
    for (file, text) in starter_library() {
        let policy = parse_policy(text, file).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            file.ends_with(&format!("{}.toml", policy.name)),
            "{file}: the file should be named after the policy, {}.toml",
            policy.name
        );
        policies.push(policy);
    }
    policies
}

fn load_cases(policy: &str) -> (PathBuf, CaseFile) {
    let path = cases_dir().join(format!("{policy}.toml"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: cannot read: {e}", path.display()));
    let cases: CaseFile =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (path, cases)
}

fn evaluate(engine: &Engine, case: &Case, default: Direction) -> Vec<PolicyMatch> {
    let doc = Document {
        channel: "whatsapp",
        direction: case.direction.unwrap_or(default),
        text: &case.text,
        attachments: &[],
        sent_at: SENT_AT,
        units: &[],
        external: true,
        new_external_contact: false,
        edited: false,
        deleted: false,
    };
    engine.evaluate(&doc)
}

/// The evidence of a match, for failure messages: `label @ "matched text"`.
fn evidence(m: &PolicyMatch, text: &str) -> String {
    let mut parts = Vec::new();
    for hit in &m.hits {
        let span = text.get(hit.start..hit.end).unwrap_or("");
        parts.push(format!("{} @ {span:?}", hit.label));
    }
    parts.join(", ")
}

#[test]
fn every_case_of_every_starter_policy() {
    let policies = library();
    assert!(!policies.is_empty(), "the starter library is empty");
    let versions: Vec<(Policy, u32)> = policies.iter().cloned().map(|p| (p, 1)).collect();
    let engine = Engine::compile(&versions).expect("the starter library compiles");

    let mut failures = Vec::new();
    let mut checked = 0;
    for policy in &policies {
        let (path, file) = load_cases(&policy.name);
        let shown = path.display();
        let default = file.direction.unwrap_or(Direction::Outbound);
        for (kind, cases, expect_match) in [("hit", &file.hit, true), ("miss", &file.miss, false)] {
            for (i, case) in cases.iter().enumerate() {
                checked += 1;
                let matches = evaluate(&engine, case, default);
                let found = matches.iter().find(|m| m.policy == policy.name);
                match (expect_match, found) {
                    (true, None) => failures.push(format!(
                        "{shown}: {kind} #{i} ({}) did not fire: {:?}",
                        case.lang, case.text
                    )),
                    (false, Some(m)) => failures.push(format!(
                        "{shown}: {kind} #{i} ({}) fired on {}: {:?}",
                        case.lang,
                        evidence(m, &case.text),
                        case.text
                    )),
                    _ => {}
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_policy_has_enough_cases_in_every_language() {
    let mut problems = Vec::new();
    for policy in library() {
        let (path, file) = load_cases(&policy.name);
        for lang in LANGS {
            let hits = file.hit.iter().filter(|c| c.lang == lang).count();
            let misses = file.miss.iter().filter(|c| c.lang == lang).count();
            if hits < MIN_HITS || misses < MIN_MISSES {
                problems.push(format!(
                    "{}: {lang} has {hits} hits and {misses} misses, needs {MIN_HITS} and {MIN_MISSES}",
                    path.display()
                ));
            }
        }
        for case in file.hit.iter().chain(&file.miss) {
            if !LANGS.contains(&case.lang.as_str()) {
                problems.push(format!("{}: unknown lang {:?}", path.display(), case.lang));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_case_file_belongs_to_a_starter_policy() {
    let names: BTreeSet<String> = library().into_iter().map(|p| p.name).collect();
    let mut strays = Vec::new();
    for entry in std::fs::read_dir(cases_dir()).expect("library/cases exists") {
        let path = entry.expect("readable directory entry").path();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if path.extension().is_some_and(|e| e == "toml") && !names.contains(stem) {
            strays.push(path.display().to_string());
        }
    }
    assert!(
        strays.is_empty(),
        "case files with no starter policy: {strays:?}"
    );
}

#[test]
fn the_library_covers_each_classifier_category_once() {
    let mut categories: Vec<String> = library().into_iter().map(|p| p.category).collect();
    categories.sort();
    assert_eq!(categories, CATEGORIES);
}
