//! The server over real HTTP on loopback, against local servers speaking
//! the third parties' documented APIs: one test binary, one module per area.

mod auth;
mod console;
mod governance;
mod inbox;
mod media;
mod oidc;
mod ops;
mod outbound;
mod records;
mod state;
mod supervision;
mod tls;
mod twilio;
mod webhook;

/// Adds user `id` with `roles`, `units` and `custodian` to `users` (and
/// the journal), and returns a bearer token for them valid for an hour.
pub fn grant(
    journal: &custos_journal::Journal,
    users: &mut custos_auth::Users,
    id: &str,
    roles: &[custos_auth::Role],
    units: &[&str],
    custodian: Option<&str>,
) -> String {
    users
        .add(
            journal,
            "test-admin",
            custos_auth::NewUser {
                id: id.into(),
                name: id.into(),
                roles: roles.iter().copied().collect(),
                units: units.iter().map(|u| u.to_string()).collect(),
                custodian: custodian.map(str::to_string),
            },
            PASSWORD,
        )
        .unwrap();
    let expires = custos_model::Timestamp::from_micros(
        custos_model::Timestamp::now().as_micros() + 3_600_000_000,
    );
    let (_, secret) = users
        .create_token(journal, "test-admin", id, &Default::default(), expires)
        .unwrap();
    secret.expose().to_string()
}

/// Every test user's password.
pub const PASSWORD: &str = "correct horse battery staple";

/// The service over `users`.
pub fn auth_of(journal: &custos_journal::Journal, users: custos_auth::Users) -> custos_auth::Auth {
    custos_auth::Auth::with_users(journal.clone(), Default::default(), users)
}
