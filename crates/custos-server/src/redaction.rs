//! Which personal data each role sees masked: the one place roles meet
//! redaction profiles (`[redaction]` in the configuration).
//!
//! Defaults: reviewers and agents see payment cards and national ids (US
//! SSN, Brazilian CPF) masked; compliance officers and the DPO see
//! everything; admins and auditors, who see no content unless a deployment
//! grants them a scope, see every kind masked if they do. A principal with
//! several roles gets the **least** redaction of them (what every one of
//! their content roles masks), so a compliance officer who is also a
//! reviewer reads as a compliance officer; a principal with no role gets
//! every kind masked.
//!
//! ```toml
//! [redaction]
//! reviewer = ["payment_card", "national_id", "iban"]
//! agent = ["all"]
//! compliance_officer = []
//! ```

use custos_auth::{Principal, Role};
use custos_policy::redact::{Profile, redact, redact_event, redact_str};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The redaction profile of every role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redaction {
    by_role: BTreeMap<Role, Profile>,
}

impl Default for Redaction {
    fn default() -> Redaction {
        let sensitive = Profile::from_kinds(&["payment_card", "national_id"])
            .expect("the default kinds are names");
        let by_role = Role::ALL
            .into_iter()
            .map(|role| {
                let profile = match role {
                    Role::Reviewer | Role::Agent => sensitive.clone(),
                    Role::ComplianceOfficer | Role::Dpo => Profile::none(),
                    Role::Admin | Role::Auditor => Profile::all(),
                };
                (role, profile)
            })
            .collect();
        Redaction { by_role }
    }
}

impl Redaction {
    /// The defaults with `overrides` (role name to kind names) applied; an
    /// unknown role or kind is an error naming it.
    pub fn with_overrides(overrides: &BTreeMap<String, Vec<String>>) -> Result<Redaction, String> {
        let mut redaction = Redaction::default();
        for (role, kinds) in overrides {
            let role = role
                .parse::<Role>()
                .map_err(|e| format!("[redaction] {e}"))?;
            let profile =
                Profile::from_kinds(kinds).map_err(|e| format!("[redaction] {role}: {e}"))?;
            redaction.by_role.insert(role, profile);
        }
        Ok(redaction)
    }

    /// What `role` sees masked.
    pub fn for_role(&self, role: Role) -> &Profile {
        static ALL: std::sync::LazyLock<Profile> = std::sync::LazyLock::new(Profile::all);
        self.by_role.get(&role).unwrap_or(&ALL)
    }

    /// What `principal` sees masked: the least redaction of their roles;
    /// every kind when they hold none.
    pub fn for_principal(&self, principal: &Principal) -> Profile {
        principal
            .roles
            .iter()
            .map(|&role| self.for_role(role).clone())
            .reduce(|a, b| a.intersection(&b))
            .unwrap_or_else(Profile::all)
    }
}

/// The profile of an export asked for by a reader whose own profile is
/// `reader`: the `asked` profile (all of what `reader` masks, and maybe
/// more), or the reader's own when none is asked for. An export never shows
/// more than its reader may see: a full export needs a reader who sees
/// everything.
pub fn export_profile(reader: &Profile, asked: Option<Profile>) -> Result<Profile, String> {
    let Some(profile) = asked else {
        return Ok(reader.clone());
    };
    if !profile.covers(reader) {
        return Err(format!(
            "your roles see {reader} masked: an export cannot show more (asked for redaction {profile})"
        ));
    }
    Ok(profile)
}

/// A search hit as a reader with `profile` may see it: its text, edits and
/// attachment names redacted, and its snippet cut from the redacted text
/// with the highlights carried over (a highlight inside a masked number
/// covers its marker).
pub fn redact_hit(hit: &mut custos_search::Hit, profile: &Profile) {
    if profile.is_empty() {
        return;
    }
    let source = match hit.snippet.source {
        0 => Some(&hit.text),
        n => hit.edits.get(n - 1),
    };
    let snippet = &mut hit.snippet;
    match source {
        Some(full) if full[snippet.offset..].starts_with(&snippet.text) => {
            let redacted = redact(full, profile);
            let start = redacted.map_start(snippet.offset);
            let end = redacted
                .map_end(snippet.offset + snippet.text.len())
                .max(start);
            for h in &mut snippet.highlights {
                let s = redacted.map_start(snippet.offset + h.0) - start;
                let e = redacted.map_end(snippet.offset + h.1) - start;
                *h = (s, e.max(s));
            }
            snippet.highlights.dedup();
            snippet.text = redacted.text()[start..end].to_string();
            snippet.offset = start;
        }
        // Not where it claims to be: shown redacted on its own, unmarked.
        _ => {
            snippet.text = redact_str(&snippet.text, profile);
            snippet.highlights.clear();
        }
    }
    hit.text = redact_str(&hit.text, profile);
    for e in &mut hit.edits {
        *e = redact_str(e, profile);
    }
    for a in &mut hit.attachments {
        *a = redact_str(a, profile);
    }
}

/// An alert's message (or edit) as a reader with `profile` may see it,
/// and the alert's evidence offsets carried into the redacted text.
pub fn redact_alert_message(
    event: &custos_model::Event,
    hits: &mut [custos_policy::Hit],
    profile: &Profile,
) -> custos_model::Event {
    if profile.is_empty() {
        return event.clone();
    }
    let text = match event {
        custos_model::Event::Message(m) => m.text.as_deref(),
        custos_model::Event::Edit(e) => Some(e.text.as_str()),
        _ => None,
    };
    if let Some(text) = text {
        let redacted = redact(text, profile);
        for h in hits.iter_mut().filter(|h| h.start < h.end) {
            h.start = redacted.map_start(h.start);
            h.end = redacted.map_end(h.end).max(h.start);
        }
    }
    redact_event(event, profile)
}

impl<'de> Deserialize<'de> for Redaction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Redaction, D::Error> {
        let table = BTreeMap::<String, Vec<String>>::deserialize(d)?;
        Redaction::with_overrides(&table).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_auth::Scope;
    use custos_policy::detect::Detector;

    fn principal(roles: &[Role]) -> Principal {
        Principal {
            user: "u".into(),
            name: "U".into(),
            roles: roles.iter().copied().collect(),
            scope: Scope::All,
        }
    }

    #[test]
    fn defaults_mask_cards_and_national_ids_for_reviewers_and_agents() {
        let r = Redaction::default();
        for role in [Role::Reviewer, Role::Agent] {
            let p = r.for_role(role);
            assert!(p.masks(Detector::PaymentCard) && p.masks(Detector::UsSsn));
            assert!(p.masks(Detector::BrCpf) && !p.masks(Detector::Email));
        }
        assert!(r.for_role(Role::ComplianceOfficer).is_empty());
        assert!(r.for_role(Role::Dpo).is_empty());
        assert_eq!(r.for_role(Role::Auditor), &Profile::all());
    }

    #[test]
    fn several_roles_get_the_least_redaction() {
        let r = Redaction::default();
        assert!(
            r.for_principal(&principal(&[Role::Reviewer, Role::ComplianceOfficer]))
                .is_empty()
        );
        // An admin who reviews reads as a reviewer, not unmasked.
        assert_eq!(
            r.for_principal(&principal(&[Role::Admin, Role::Reviewer])),
            *r.for_role(Role::Reviewer)
        );
        assert_eq!(r.for_principal(&principal(&[])), Profile::all());
    }

    #[test]
    fn hits_are_redacted_with_their_snippets_and_highlights() {
        let text = "pay 4111 1111 1111 1111 now, the guaranteed return".to_string();
        let at = text.find("guaranteed").unwrap();
        let mut hit = custos_search::Hit {
            seq: 1,
            score: None,
            sent_at: custos_model::Timestamp::from_micros(0),
            channel: "whatsapp".into(),
            conversation: "c".into(),
            direction: "inbound".into(),
            from: "+1".into(),
            to: vec![],
            text: text.clone(),
            edits: vec![],
            deleted: false,
            attachments: vec!["card 4111111111111111.pdf".into()],
            snippet: custos_search::Snippet {
                // Cut inside the card: its first digits are in the fragment.
                text: text[10..].to_string(),
                highlights: vec![(0, 4), (at - 10, at - 10 + 10)],
                source: 0,
                offset: 10,
            },
        };
        redact_hit(&mut hit, &"card".parse().unwrap());
        assert_eq!(hit.text, "pay [card •••• 1111] now, the guaranteed return");
        assert_eq!(hit.attachments, ["card [card •••• 1111].pdf"]);
        let s = &hit.snippet;
        assert_eq!(s.text, "[card •••• 1111] now, the guaranteed return");
        assert_eq!(
            s.marked("<", ">"),
            "<[card •••• 1111]> now, the <guaranteed> return"
        );
        assert!(!s.text.contains("1111 1111"));
    }

    #[test]
    fn alert_evidence_follows_the_redacted_text() {
        use custos_policy::{Hit, HitKind};
        let text = "cpf 529.982.247-25 and a guaranteed return";
        let event = custos_model::Event::Edit(custos_model::Edit {
            channel: "whatsapp".into(),
            source_id: "e".into(),
            target: "m".into(),
            editor: "+1".into(),
            edited_at: custos_model::Timestamp::from_micros(0),
            captured_at: custos_model::Timestamp::from_micros(0),
            text: text.into(),
            raw_digest: custos_model::Digest::of(b""),
        });
        let at = text.find("guaranteed").unwrap();
        let mut hits = vec![
            Hit {
                kind: HitKind::Detector,
                label: "br_cpf".into(),
                start: 4,
                end: 18,
            },
            Hit {
                kind: HitKind::Term,
                label: "guaranteed".into(),
                start: at,
                end: at + 10,
            },
        ];
        let profile = Redaction::default().for_role(Role::Reviewer).clone();
        let custos_model::Event::Edit(e) = redact_alert_message(&event, &mut hits, &profile) else {
            panic!()
        };
        assert_eq!(
            &e.text[hits[0].start..hits[0].end],
            "[national id redacted]"
        );
        assert_eq!(&e.text[hits[1].start..hits[1].end], "guaranteed");
    }

    #[test]
    fn an_export_shows_no_more_than_its_reader_may_see() {
        let reviewer = Redaction::default().for_role(Role::Reviewer).clone();
        assert_eq!(export_profile(&reviewer, None).unwrap(), reviewer);
        let err = export_profile(&reviewer, Some(Profile::none())).unwrap_err();
        assert!(err.contains("payment_card"), "{err}");
        assert_eq!(
            export_profile(&reviewer, Some(Profile::all())).unwrap(),
            Profile::all()
        );
        assert!(
            export_profile(&Profile::none(), Some(Profile::none()))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn configuration_overrides_roles_and_names_mistakes() {
        #[derive(Deserialize)]
        struct File {
            redaction: Redaction,
        }
        let f: File =
            toml::from_str("[redaction]\nreviewer = [\"all\"]\ncompliance-officer = [\"email\"]\n")
                .unwrap();
        assert_eq!(f.redaction.for_role(Role::Reviewer), &Profile::all());
        assert_eq!(
            f.redaction.for_role(Role::ComplianceOfficer).to_string(),
            "email"
        );
        assert_eq!(
            f.redaction.for_role(Role::Agent),
            Redaction::default().for_role(Role::Agent)
        );
        let err = toml::from_str::<File>("[redaction]\nreviewer = [\"cards\"]\n")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("[redaction] reviewer") && err.contains("\"cards\""),
            "{err}"
        );
        let err = toml::from_str::<File>("[redaction]\nrevewer = []\n")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("\"revewer\""), "{err}");
    }
}
