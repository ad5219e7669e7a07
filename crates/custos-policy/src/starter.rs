//! The starter library: the policies a new installation can load on day
//! one, compiled into the binary from `library/*.toml`.
//!
//! They are ordinary policy files; an installation loads them as version 1
//! and its compliance officers change them like any other.

/// One starter policy: its file name and TOML text.
macro_rules! starter {
    ($($file:literal),* $(,)?) => {
        &[$(($file, include_str!(concat!("../library/", $file)))),*]
    };
}

const LIBRARY: &[(&str, &str)] = starter![
    "off-channel.toml",
    "promissory.toml",
    "complaints.toml",
    "inside-information.toml",
    "gifts-entertainment.toml",
    "pii-leak.toml",
    "opt-out.toml",
    "harassment.toml",
];

/// The starter policies as (file name, TOML text), in a fixed order.
pub fn starter_library() -> Vec<(&'static str, &'static str)> {
    LIBRARY.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Engine, parse_policy};

    #[test]
    fn every_starter_policy_parses_and_all_compile_together() {
        let mut policies = Vec::new();
        for (file, text) in starter_library() {
            let p = parse_policy(text, file).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                format!("{}.toml", p.name),
                file,
                "file name and policy name differ"
            );
            assert!(!p.actions.is_empty(), "{file} has no action");
            policies.push((p, 1));
        }
        assert_eq!(policies.len(), 8);
        let engine = Engine::compile(&policies).unwrap();
        assert_eq!(engine.policies().count(), 8);
        assert!(engine.automaton_patterns() > 100);
    }
}
