//! Loading policies: each load of a changed text is a `policy.version`
//! event with the next version number; the same text again is a no-op.
//! New archives start with the starter library.

use crate::events::{self, PolicyVersion};
use crate::state::Supervision;
use custos_model::{Digest, Event};
use custos_policy::{Policy, PolicyError};

/// What loading a policy text would do.
#[derive(Debug)]
pub enum Load {
    /// The text is new or changed: append this event to put it in force.
    New {
        /// The parsed policy.
        policy: Box<Policy>,
        /// Its new version.
        version: u32,
        /// The `policy.version` event.
        event: Box<Event>,
    },
    /// The current version already has exactly this text (and is active).
    Unchanged {
        /// The policy's name.
        name: String,
        /// Its current version.
        version: u32,
    },
}

/// Parses `text` (from `origin`, e.g. a file name) and decides its version.
pub fn load(
    state: &Supervision,
    text: &str,
    origin: &str,
    actor: &str,
) -> Result<Load, PolicyError> {
    let policy = custos_policy::parse_policy(text, origin)?;
    let digest = Digest::of(text.as_bytes()).to_string();
    let current = state.policies.get(&policy.name);
    if let Some(p) = current
        && p.enabled
        && p.current().digest == digest
    {
        return Ok(Load::Unchanged {
            name: policy.name.clone(),
            version: p.current().version,
        });
    }
    let version = current.map_or(1, |p| p.current().version + 1);
    let event = events::system(
        actor,
        events::POLICY_VERSION,
        &policy.name,
        &PolicyVersion {
            version,
            source: text.to_string(),
            digest,
            origin: origin.to_string(),
        },
    );
    Ok(Load::New {
        policy: Box::new(policy),
        version,
        event: Box::new(event),
    })
}

/// The events that put the starter library in force in a new archive.
pub fn starter_events(actor: &str) -> Result<Vec<Event>, PolicyError> {
    let empty = Supervision::default();
    let mut out = Vec::new();
    for (file, text) in custos_policy::starter::starter_library() {
        if let Load::New { event, .. } = load(&empty, text, &format!("starter/{file}"), actor)? {
            out.push(*event);
        }
    }
    Ok(out)
}

/// The active policies parsed, with their versions, ready to compile.
pub fn active(state: &Supervision) -> Result<Vec<(Policy, u32)>, PolicyError> {
    state
        .active()
        .map(|p| {
            let v = p.current();
            custos_policy::parse_policy(&v.source, &format!("{} v{}", p.name, v.version))
                .map(|policy| (policy, v.version))
        })
        .collect()
}
