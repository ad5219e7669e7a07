//! What each role may do: one table ([`Role::permits`]) that the server's
//! middleware consults and the matrix test enumerates, and the scope of
//! content each role reads ([`Role::scope`]).

use crate::{Principal, Role, Scope};
use std::collections::BTreeSet;

/// Something a request asks to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// Search the archive and open messages (within the scope).
    Search,
    /// Make exports (within the scope).
    Export,
    /// See the alert queue and alerts (within the scope).
    ReadAlerts,
    /// Assign, comment on, escalate and close alerts (within the scope).
    ActOnAlerts,
    /// See policies and their versions.
    ReadPolicies,
    /// Load a policy version.
    LoadPolicies,
    /// Send messages to customers (WhatsApp).
    Send,
    /// Read and export the access log.
    ReadAuditLog,
    /// Read a party's consent history.
    ReadConsent,
    /// Record an opt-in or opt-out with its evidence.
    RecordConsent,
    /// Revoke API tokens and disable users in a running server.
    ManageUsers,
    /// List legal holds (what is held, by whom, why): governance records,
    /// not content.
    ReadHolds,
    /// List cases with their searches, holds and decision counts.
    ReadCases,
    /// List users and their API tokens (never a secret).
    ReadUsers,
}

impl Permission {
    /// Every permission, in a stable order.
    pub const ALL: [Permission; 14] = [
        Permission::Search,
        Permission::Export,
        Permission::ReadAlerts,
        Permission::ActOnAlerts,
        Permission::ReadPolicies,
        Permission::LoadPolicies,
        Permission::Send,
        Permission::ReadAuditLog,
        Permission::ReadConsent,
        Permission::RecordConsent,
        Permission::ManageUsers,
        Permission::ReadHolds,
        Permission::ReadCases,
        Permission::ReadUsers,
    ];
}

impl Role {
    /// The permission table: whether this role may do `p`. Content
    /// permissions are further confined by [`Role::scope`].
    pub fn permits(self, p: Permission) -> bool {
        use Permission as P;
        match self {
            // Admins configure: they see policies, users and what is held
            // (a hold stops their retention jobs), never content.
            Role::Admin => matches!(
                p,
                P::ReadPolicies | P::ManageUsers | P::ReadUsers | P::ReadHolds
            ),
            Role::ComplianceOfficer => !matches!(p, P::Send | P::ManageUsers | P::ReadUsers),
            Role::Reviewer => matches!(
                p,
                P::Search | P::Export | P::ReadAlerts | P::ActOnAlerts | P::ReadPolicies
            ),
            // Auditors check the records of governance, read-only.
            Role::Auditor => matches!(
                p,
                P::ReadAuditLog | P::ReadPolicies | P::ReadHolds | P::ReadCases
            ),
            // Agents capture a customer's opt-in or opt-out as they talk.
            Role::Agent => matches!(p, P::Send | P::Search | P::RecordConsent),
            // Privacy work: finding and producing a subject's data, consent.
            Role::Dpo => matches!(p, P::Search | P::Export | P::ReadConsent | P::RecordConsent),
        }
    }

    /// The content this role reads, for a user in `units` or acting as
    /// `custodian`.
    pub fn scope(self, units: &[String], custodian: Option<&str>) -> Scope {
        match self {
            Role::Admin | Role::Auditor => Scope::None,
            Role::ComplianceOfficer | Role::Dpo => Scope::All,
            Role::Reviewer => Scope::Units(units.iter().cloned().collect()),
            Role::Agent => match custodian {
                Some(c) => Scope::Custodian(c.to_string()),
                None => Scope::None,
            },
        }
    }
}

/// The scope of a user holding several roles: the widest. `All` wins;
/// then the union of units; then an agent's own custodian; else none.
/// (A reviewer who is also an agent reads their units, which normally
/// include their own desk.)
pub fn combined_scope(roles: &BTreeSet<Role>, units: &[String], custodian: Option<&str>) -> Scope {
    let mut merged_units = BTreeSet::new();
    let mut own = None;
    for role in roles {
        match role.scope(units, custodian) {
            Scope::All => return Scope::All,
            Scope::Units(u) => merged_units.extend(u),
            Scope::Custodian(c) => own = Some(c),
            Scope::None => {}
        }
    }
    if !merged_units.is_empty() || roles.contains(&Role::Reviewer) {
        Scope::Units(merged_units)
    } else if let Some(c) = own {
        Scope::Custodian(c)
    } else {
        Scope::None
    }
}

impl Principal {
    /// Whether one of their roles permits `p`.
    pub fn may(&self, p: Permission) -> bool {
        self.roles.iter().any(|r| r.permits(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole table, written out: a change to it must change this test.
    #[test]
    fn the_table() {
        let expected: &[(Role, &[Permission])] = &[
            (
                Role::Admin,
                &[
                    Permission::ReadPolicies,
                    Permission::ManageUsers,
                    Permission::ReadHolds,
                    Permission::ReadUsers,
                ],
            ),
            (
                Role::ComplianceOfficer,
                &[
                    Permission::Search,
                    Permission::Export,
                    Permission::ReadAlerts,
                    Permission::ActOnAlerts,
                    Permission::ReadPolicies,
                    Permission::LoadPolicies,
                    Permission::ReadAuditLog,
                    Permission::ReadConsent,
                    Permission::RecordConsent,
                    Permission::ReadHolds,
                    Permission::ReadCases,
                ],
            ),
            (
                Role::Reviewer,
                &[
                    Permission::Search,
                    Permission::Export,
                    Permission::ReadAlerts,
                    Permission::ActOnAlerts,
                    Permission::ReadPolicies,
                ],
            ),
            (
                Role::Auditor,
                &[
                    Permission::ReadPolicies,
                    Permission::ReadAuditLog,
                    Permission::ReadHolds,
                    Permission::ReadCases,
                ],
            ),
            (
                Role::Agent,
                &[
                    Permission::Search,
                    Permission::Send,
                    Permission::RecordConsent,
                ],
            ),
            (
                Role::Dpo,
                &[
                    Permission::Search,
                    Permission::Export,
                    Permission::ReadConsent,
                    Permission::RecordConsent,
                ],
            ),
        ];
        for (role, allowed) in expected {
            for p in Permission::ALL {
                assert_eq!(role.permits(p), allowed.contains(&p), "{role} {p:?}");
            }
        }
    }

    #[test]
    fn scopes_per_role() {
        let units = vec!["fx".to_string()];
        assert_eq!(Role::Admin.scope(&units, None), Scope::None);
        assert_eq!(Role::Auditor.scope(&units, None), Scope::None);
        assert_eq!(Role::ComplianceOfficer.scope(&[], None), Scope::All);
        assert_eq!(Role::Dpo.scope(&[], None), Scope::All);
        assert_eq!(
            Role::Reviewer.scope(&units, None),
            Scope::Units(["fx".to_string()].into())
        );
        assert_eq!(
            Role::Agent.scope(&[], Some("c1")),
            Scope::Custodian("c1".into())
        );
        assert_eq!(Role::Agent.scope(&[], None), Scope::None);
        let both: BTreeSet<Role> = [Role::Reviewer, Role::ComplianceOfficer].into();
        assert_eq!(combined_scope(&both, &units, None), Scope::All);
        let admin_reviewer: BTreeSet<Role> = [Role::Admin, Role::Reviewer].into();
        assert_eq!(
            combined_scope(&admin_reviewer, &units, None),
            Scope::Units(["fx".to_string()].into())
        );
        let admin: BTreeSet<Role> = [Role::Admin].into();
        assert_eq!(combined_scope(&admin, &units, None), Scope::None);
    }
}
