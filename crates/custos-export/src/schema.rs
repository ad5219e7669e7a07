//! The RSMF 2.0.0 manifest schema, and the checks a schema cannot express.
//!
//! [`SCHEMA`] is the project's own JSON Schema (draft-07) for
//! `rsmf_manifest.json`, written from the RSMF 2.0 specification. It is
//! stricter than the published one in that objects accept only the fields
//! the specification defines, so a misspelled field (`attachment` for
//! `attachments`) is an error instead of silently ignored. [`check`] runs it
//! and then checks the cross-references: participant, conversation and
//! parent ids that must be defined, and files that must be in the zip.
//!
//! Every manifest [`write`](crate::write) produces passes [`check`] before
//! it is written; a manifest that does not is an export error.
//!
//! ```
//! let manifest = serde_json::json!({
//!     "version": "2.0.0",
//!     "participants": [{"id": "P1"}],
//!     "conversations": [{"id": "C1", "platform": "sms", "participants": ["P1", "P2"]}],
//!     "events": [{"type": "message", "participant": "P1", "conversation": "C1"}],
//! });
//! let problems = custos_export::schema::check(&manifest, None);
//! assert_eq!(problems, ["/conversations/0/participants/1: participant \"P2\" is not defined"]);
//! ```

use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

/// The schema's text (JSON Schema draft-07).
pub const SCHEMA: &str = include_str!("../schema/rsmf_manifest_2_0_0.json");

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema: Value = serde_json::from_str(SCHEMA).expect("the bundled schema is JSON");
        jsonschema::draft7::new(&schema).expect("the bundled schema is a valid draft-07 schema")
    })
}

/// Every fault of `manifest`, one line each starting with its JSON pointer:
/// schema violations first, then unresolved references. `zip_files`, when
/// given, says whether a file is in the zip (for attachments, avatars and
/// icons). Empty means valid.
pub fn check(manifest: &Value, zip_files: Option<&dyn Fn(&str) -> bool>) -> Vec<String> {
    // Collecting errors costs more than a yes/no: only when there are some.
    let validator = validator();
    let mut problems: Vec<String> = Vec::new();
    if !validator.is_valid(manifest) {
        problems.extend(validator.iter_errors(manifest).map(|error| {
            let path = error.instance_path().to_string();
            let path = if path.is_empty() {
                "/".to_string()
            } else {
                path
            };
            format!("{path}: {error}")
        }));
    }
    references(manifest, zip_files, &mut problems);
    problems
}

/// The cross-reference checks.
fn references(
    manifest: &Value,
    zip_files: Option<&dyn Fn(&str) -> bool>,
    problems: &mut Vec<String>,
) {
    let list = |name: &str| {
        manifest
            .get(name)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    };
    let text =
        |value: &Value, field: &str| value.get(field).and_then(Value::as_str).map(str::to_string);
    let in_zip = |file: &str| zip_files.is_none_or(|f| f(file));

    let mut participants: HashSet<String> = HashSet::new();
    for (i, p) in list("participants").iter().enumerate() {
        if let Some(id) = text(p, "id")
            && !participants.insert(id.clone())
        {
            problems.push(format!(
                "/participants/{i}/id: participant id {id:?} is defined twice"
            ));
        }
        if let Some(avatar) = text(p, "avatar")
            && !in_zip(&avatar)
        {
            problems.push(format!(
                "/participants/{i}/avatar: file {avatar:?} is not in the zip"
            ));
        }
    }
    let need_participant = |path: String, id: &str, problems: &mut Vec<String>| {
        if !participants.contains(id) {
            problems.push(format!("{path}: participant {id:?} is not defined"));
        }
    };

    let mut conversations: HashMap<String, HashSet<String>> = HashMap::new();
    for (i, c) in list("conversations").iter().enumerate() {
        let members: Vec<&str> = c
            .get("participants")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (j, member) in members.iter().enumerate() {
            need_participant(
                format!("/conversations/{i}/participants/{j}"),
                member,
                problems,
            );
        }
        if let Some(custodian) = text(c, "custodian") {
            need_participant(
                format!("/conversations/{i}/custodian"),
                &custodian,
                problems,
            );
            if participants.contains(&custodian) && !members.contains(&custodian.as_str()) {
                problems.push(format!(
                    "/conversations/{i}/custodian: {custodian:?} is not a participant of the conversation"
                ));
            }
        }
        if let Some(icon) = text(c, "icon")
            && !in_zip(&icon)
        {
            problems.push(format!(
                "/conversations/{i}/icon: file {icon:?} is not in the zip"
            ));
        }
        if let Some(id) = text(c, "id")
            && conversations.insert(id.clone(), HashSet::new()).is_some()
        {
            problems.push(format!(
                "/conversations/{i}/id: conversation id {id:?} is defined twice"
            ));
        }
    }

    // Event ids are unique within their conversation; parents resolve there.
    let events = list("events");
    for (i, e) in events.iter().enumerate() {
        if let (Some(id), Some(conversation)) = (text(e, "id"), text(e, "conversation"))
            && let Some(ids) = conversations.get_mut(&conversation)
            && !ids.insert(id.clone())
        {
            problems.push(format!(
                "/events/{i}/id: event id {id:?} is used twice in conversation {conversation:?}"
            ));
        }
    }
    for (i, e) in events.iter().enumerate() {
        if let Some(p) = text(e, "participant") {
            need_participant(format!("/events/{i}/participant"), &p, problems);
        }
        let conversation = text(e, "conversation");
        if let Some(c) = &conversation
            && !conversations.contains_key(c)
        {
            problems.push(format!(
                "/events/{i}/conversation: conversation {c:?} is not defined"
            ));
        }
        if let Some(parent) = text(e, "parent") {
            let found = conversation
                .as_ref()
                .and_then(|c| conversations.get(c))
                .is_some_and(|ids| ids.contains(&parent));
            if !found {
                problems.push(format!(
                    "/events/{i}/parent: event {parent:?} is not in the same conversation"
                ));
            }
        }
        for (field, member) in [
            ("reactions", "participants"),
            ("edits", "participant"),
            ("read_receipts", "participant"),
        ] {
            let items = e.get(field).and_then(Value::as_array);
            for (j, item) in items.into_iter().flatten().enumerate() {
                match item.get(member) {
                    Some(Value::String(p)) => {
                        need_participant(format!("/events/{i}/{field}/{j}/{member}"), p, problems)
                    }
                    Some(Value::Array(ps)) => {
                        for (k, p) in ps.iter().filter_map(Value::as_str).enumerate() {
                            need_participant(
                                format!("/events/{i}/{field}/{j}/{member}/{k}"),
                                p,
                                problems,
                            )
                        }
                    }
                    _ => {}
                }
            }
        }
        let attachments = e.get("attachments").and_then(Value::as_array);
        for (j, a) in attachments.into_iter().flatten().enumerate() {
            if let Some(id) = text(a, "id")
                && !in_zip(&id)
            {
                problems.push(format!(
                    "/events/{i}/attachments/{j}/id: file {id:?} is not in the zip"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A manifest shaped like Relativity's sample 3 (one participant with
    /// an avatar, one direct conversation, one message; a timestamp without
    /// an offset, as the sample has).
    fn like_sample_3() -> Value {
        json!({
            "version": "2.0.0",
            "participants": [{"id": "1", "display": "Participant Name", "avatar": "AV1"}],
            "conversations": [{
                "display": "C1", "id": "1", "platform": "skype", "type": "direct",
                "participants": ["1"]
            }],
            "events": [{
                "id": "1", "participant": "1", "timestamp": "2013-01-10T15:53:00",
                "type": "message", "conversation": "1", "body": "This is body text."
            }]
        })
    }

    fn zip_has(names: &'static [&'static str]) -> impl Fn(&str) -> bool {
        move |name| names.contains(&name)
    }

    #[test]
    fn a_manifest_like_the_official_sample_3_is_valid() {
        let files = zip_has(&["AV1"]);
        assert_eq!(check(&like_sample_3(), Some(&files)), Vec::<String>::new());
    }

    #[test]
    fn a_participant_without_id_is_rejected() {
        // The fault of the official sample 1.
        let mut manifest = like_sample_3();
        manifest["participants"] = json!([{"display": "Participant 1"}]);
        let problems = check(&manifest, None);
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("/participants/0: ") && p.contains("\"id\"")),
            "{problems:?}"
        );
    }

    #[test]
    fn the_faults_of_the_official_sample_4_are_each_named() {
        // A numeric participant id, a conversation naming an undefined
        // participant, and a misspelled `attachment` field.
        let manifest = json!({
            "version": "2.0.0",
            "participants": [{"id": 1, "display": "Participant Display"}],
            "conversations": [{
                "display": "C1", "id": "1", "platform": "slack", "type": "channel",
                "participants": ["2"]
            }],
            "events": [{
                "attachment": "avatar.png", "participant": "1",
                "timestamp": "2013-01-10T15:53:00", "type": "message",
                "conversation": "1", "body": "Here is an event body"
            }]
        });
        let problems = check(&manifest, None);
        let has = |prefix: &str, needle: &str| {
            problems
                .iter()
                .any(|p| p.starts_with(prefix) && p.contains(needle))
        };
        assert!(has("/participants/0/id: ", "string"), "{problems:?}");
        assert!(
            has("/conversations/0/participants/0: ", "\"2\" is not defined"),
            "{problems:?}"
        );
        assert!(has("/events/0: ", "attachment"), "{problems:?}");
        assert!(
            has("/events/0/participant: ", "\"1\" is not defined"),
            "{problems:?}"
        );
    }

    #[test]
    fn undefined_references_and_missing_files_are_named() {
        let mut manifest = like_sample_3();
        manifest["events"] = json!([
            {"id": "m1", "type": "message", "participant": "9", "conversation": "C9",
             "attachments": [{"id": "a.pdf"}]},
            {"id": "m2", "parent": "m0", "type": "message", "conversation": "1",
             "edits": [{"participant": "7"}], "reactions": [{"value": "👍", "participants": ["8"]}]}
        ]);
        let files = zip_has(&[]);
        let problems = check(&manifest, Some(&files));
        assert_eq!(
            problems,
            [
                "/participants/0/avatar: file \"AV1\" is not in the zip",
                "/events/0/participant: participant \"9\" is not defined",
                "/events/0/conversation: conversation \"C9\" is not defined",
                "/events/0/attachments/0/id: file \"a.pdf\" is not in the zip",
                "/events/1/parent: event \"m0\" is not in the same conversation",
                "/events/1/reactions/0/participants/0: participant \"8\" is not defined",
                "/events/1/edits/0/participant: participant \"7\" is not defined",
            ]
        );
    }

    #[test]
    fn wrong_types_and_values_are_rejected() {
        for (pointer, value) in [
            ("/events/0/type", json!("chat")),
            ("/events/0/timestamp", json!("yesterday")),
            ("/events/0/deleted", json!("yes")),
            ("/conversations/0/type", json!("group")),
            ("/version", json!("2.0")),
        ] {
            let mut manifest = like_sample_3();
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            let parent = if parent.is_empty() {
                &mut manifest
            } else {
                manifest.pointer_mut(parent).unwrap()
            };
            parent[key] = value;
            let problems = check(&manifest, None);
            assert!(
                problems
                    .iter()
                    .any(|p| p.starts_with(&format!("{pointer}: "))),
                "{pointer}: {problems:?}"
            );
        }
    }
}
