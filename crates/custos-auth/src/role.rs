//! Roles as the design lists them, and the scope a reviewer is confined to.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// A role. A user holds one or more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Configures custos; never reads content by default.
    Admin,
    /// Reads and supervises everything; owns policies, cases and holds.
    ComplianceOfficer,
    /// Reviews alerts and searches, within their desks or business units.
    Reviewer,
    /// Read-only: verification, the audit log, exports of the audit log.
    Auditor,
    /// Sends and reads their own conversations.
    Agent,
    /// The data-protection officer: privacy requests and consent.
    Dpo,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::ComplianceOfficer,
        Role::Reviewer,
        Role::Auditor,
        Role::Agent,
        Role::Dpo,
    ];

    /// The name used in files, tokens and the API (`compliance_officer`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::ComplianceOfficer => "compliance_officer",
            Role::Reviewer => "reviewer",
            Role::Auditor => "auditor",
            Role::Agent => "agent",
            Role::Dpo => "dpo",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown role {0:?}: expected admin, compliance_officer, reviewer, auditor, agent or dpo")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.replace('-', "_"))
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

/// Which messages a principal may see (the information barrier).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Every message.
    All,
    /// Messages whose custodian works in one of these desks or business
    /// units (a custodian's units come from their enrolment).
    Units(BTreeSet<String>),
    /// Only the conversations of this custodian (an agent's own).
    Custodian(String),
    /// No content at all (an admin by default, an auditor).
    None,
}

impl Scope {
    /// Whether a message of a custodian with `custodian_id` working in
    /// `units` is visible. A message with no enrolled custodian
    /// (`custodian_id` `None`) is visible only to [`Scope::All`].
    pub fn allows(&self, custodian_id: Option<&str>, units: &[String]) -> bool {
        match self {
            Scope::All => true,
            Scope::Units(mine) => custodian_id.is_some() && units.iter().any(|u| mine.contains(u)),
            Scope::Custodian(id) => custodian_id == Some(id.as_str()),
            Scope::None => false,
        }
    }
}

/// The signed-in user a request acts for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The user's id (what audit events name).
    pub user: String,
    /// Their display name.
    pub name: String,
    /// The roles they hold.
    pub roles: BTreeSet<Role>,
    /// Which messages they may see.
    pub scope: Scope,
}

impl Principal {
    /// Whether they hold `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether they hold any of `roles`.
    pub fn has_any(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.roles.contains(r))
    }
}

/// The CSRF token of the signed-in session, put in request extensions
/// beside the [`Principal`] for forms to embed (`<input name="_csrf">`).
/// Requests authenticated by a bearer token carry none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsrfToken(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert_eq!(
            "compliance-officer".parse::<Role>().unwrap(),
            Role::ComplianceOfficer
        );
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn scopes_draw_the_barrier() {
        let fx = Scope::Units(["fx-desk".to_string()].into());
        let fx_units = vec!["fx-desk".to_string()];
        let rates_units = vec!["rates".to_string()];
        assert!(fx.allows(Some("c1"), &fx_units));
        assert!(!fx.allows(Some("c2"), &rates_units));
        assert!(!fx.allows(None, &fx_units));
        assert!(Scope::All.allows(None, &[]));
        assert!(!Scope::None.allows(Some("c1"), &fx_units));
        let own = Scope::Custodian("c1".into());
        assert!(own.allows(Some("c1"), &[]));
        assert!(!own.allows(Some("c2"), &fx_units));
    }
}
