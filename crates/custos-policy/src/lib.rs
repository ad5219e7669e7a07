//! The policy language, its compiler to one Aho-Corasick automaton plus
//! one multi-pattern regex, the detectors, and evaluation.
//!
//! Compliance staff write policies as TOML files (see
//! `docs/policy-language.md`); [`parse_policy`] checks one, naming file,
//! line and column on error; [`Engine::compile`] turns every active policy
//! into one scan; [`Engine::evaluate`] (or a reusable [`Scanner`]) tells
//! which policies a message fires, with the evidence as byte spans of the
//! original text. [`tuning`] measures a policy set against labelled
//! messages; [`redact`] masks what the detectors find for readers who may
//! not see it. Nothing here does I/O.
//!
//! ```
//! use custos_policy::{Document, Engine, parse_policy};
//! let policy = parse_policy(
//!     r#"
//! name = "promissory"
//! title = "Promises of returns"
//! category = "promissory"
//! severity = "high"
//! actions = ["alert"]
//! [condition]
//! terms = ["guaranteed return*", "garantia NEAR/3 retorno"]
//! "#,
//!     "promissory.toml",
//! )?;
//! let engine = Engine::compile(&[(policy, 1)])?;
//! let text = "Com esta GARANTÍA, o retorno é certo";
//! let doc = Document {
//!     channel: "whatsapp",
//!     direction: custos_model::Direction::Outbound,
//!     text,
//!     attachments: &[],
//!     sent_at: custos_model::Timestamp::from_micros(0),
//!     units: &[],
//!     external: true,
//!     new_external_contact: false,
//!     edited: false,
//!     deleted: false,
//! };
//! let matches = engine.evaluate(&doc);
//! assert_eq!(matches[0].policy, "promissory");
//! let hit = &matches[0].hits[0];
//! assert_eq!(&text[hit.start..hit.end], "GARANTÍA, o retorno");
//! # Ok::<(), custos_policy::PolicyError>(())
//! ```

pub mod detect;
mod engine;
mod error;
pub mod fold;
mod policy;
pub mod redact;
pub mod starter;
pub mod tuning;

pub use engine::{AttachmentInfo, Document, Engine, Hit, HitKind, PolicyMatch, Scanner};
pub use error::PolicyError;
pub use policy::{
    Action, AttachmentRule, Condition, Flag, Hours, Participants, Phrase, Policy, Scope, Term,
    TermKind, Word, is_name, parse_policy, parse_term,
};
pub use starter::starter_library;
