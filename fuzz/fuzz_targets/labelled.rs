//! Labelled JSON lines, as the policy tuner and the classifier read them:
//! neither reader panics on any text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = custos_policy::tuning::load_labelled(text, "fuzz.jsonl");
    let _ = custos_classifier::load_jsonl(text, "fuzz.jsonl");
});
