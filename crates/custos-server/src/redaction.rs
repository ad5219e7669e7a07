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
use custos_policy::redact::Profile;
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
