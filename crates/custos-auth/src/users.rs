//! Users and API tokens as journal system events, and [`Users`], their
//! fold. The events carry the Argon2id PHC string of a password and the
//! SHA-256 of a token's secret, never the password or the secret.
//!
//! - `user.added` (target: the user id): name, roles, units, custodian, hash;
//! - `user.password_set`: hash;
//! - `user.disabled`;
//! - `token.created` (target: the token id): user, roles (a subset of the
//!   user's), expiry, `sha256` of the secret;
//! - `token.revoked`.

use crate::password::{self, PasswordError};
use crate::{Principal, Scope};
use crate::{Role, combined_scope};
use custos_journal::{Journal, Opened};
use custos_model::{Event, EventKind, SystemEvent, Timestamp};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// A user added.
pub const USER_ADDED: &str = "user.added";
/// A user's password set.
pub const PASSWORD_SET: &str = "user.password_set";
/// A user disabled (their sessions and tokens stop working).
pub const USER_DISABLED: &str = "user.disabled";
/// An API token created.
pub const TOKEN_CREATED: &str = "token.created";
/// An API token revoked.
pub const TOKEN_REVOKED: &str = "token.revoked";

/// Why a change to users or tokens was refused.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// A value is malformed; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// The id is taken.
    #[error("{0}")]
    Conflict(String),
    /// No such user or token.
    #[error("{0}")]
    NotFound(String),
    /// The password was refused.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] custos_journal::Error),
}

type Result<T> = std::result::Result<T, UserError>;

/// A user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    /// Their id (what audit events name).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Their roles.
    pub roles: BTreeSet<Role>,
    /// Desks or business units (a reviewer's scope).
    pub units: Vec<String>,
    /// The custodian they are (an agent's scope).
    pub custodian: Option<String>,
    /// The Argon2id PHC string.
    #[serde(skip)]
    pub(crate) hash: String,
    /// Disabled users cannot sign in; their tokens stop working.
    pub disabled: bool,
    /// When they were added.
    pub added_at: Timestamp,
    /// Who added them.
    pub added_by: String,
}

impl User {
    /// What they may see, from all their roles.
    pub fn scope(&self) -> Scope {
        combined_scope(&self.roles, &self.units, self.custodian.as_deref())
    }

    /// The principal acting with `roles` (all theirs when `None`).
    pub fn principal(&self, roles: Option<&BTreeSet<Role>>) -> Principal {
        let roles: BTreeSet<Role> = match roles {
            Some(r) => r.intersection(&self.roles).copied().collect(),
            None => self.roles.clone(),
        };
        Principal {
            user: self.id.clone(),
            name: self.name.clone(),
            scope: combined_scope(&roles, &self.units, self.custodian.as_deref()),
            roles,
        }
    }
}

/// An API token (its secret is never kept).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Token {
    /// Its id (the public part of the bearer value).
    pub id: String,
    /// The user it acts for.
    pub user: String,
    /// The roles it is confined to (a subset of the user's).
    pub roles: BTreeSet<Role>,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// SHA-256 of the secret.
    #[serde(skip)]
    pub(crate) digest: [u8; 32],
    /// Whether it was revoked.
    pub revoked: bool,
    /// When it was made.
    pub created_at: Timestamp,
    /// Who made it.
    pub created_by: String,
}

/// A token's bearer value, shown once when it is made. `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl TokenSecret {
    /// The value to send as `Authorization: Bearer <value>`.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSecret(redacted)")
    }
}

/// The prefix of every bearer value: `cst_<id>_<secret>`.
pub const TOKEN_PREFIX: &str = "cst_";

/// A new user's data.
#[derive(Clone, Debug, Default)]
pub struct NewUser {
    /// Id: letters, digits, `.`, `-`, `_`, `@`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// At least one role.
    pub roles: BTreeSet<Role>,
    /// Desks or business units (needed for a reviewer).
    pub units: Vec<String>,
    /// The custodian they are (needed for an agent).
    pub custodian: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct AddedDetails {
    name: String,
    roles: BTreeSet<Role>,
    #[serde(default)]
    units: Vec<String>,
    #[serde(default)]
    custodian: Option<String>,
    hash: String,
}

#[derive(Serialize, Deserialize)]
struct TokenDetails {
    user: String,
    roles: BTreeSet<Role>,
    expires_at: Timestamp,
    sha256: String,
}

fn details<T: Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

fn parse<T: serde::de::DeserializeOwned>(v: &Map<String, Value>) -> serde_json::Result<T> {
    serde_json::from_value(Value::Object(v.clone()))
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .expect("the system's random generator");
    hex::encode(buf)
}

/// SHA-256 of a token secret.
pub(crate) fn digest(secret: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Users and tokens, folded from the journal.
#[derive(Clone, Debug, Default)]
pub struct Users {
    users: BTreeMap<String, User>,
    tokens: BTreeMap<String, Token>,
}

impl Users {
    /// Reads every user and token event in the journal.
    pub fn load(journal: &Journal) -> Result<Users> {
        let mut users = Users::default();
        for entry in journal.entries(0) {
            let entry = entry?;
            if entry.leaf.kind != EventKind::System {
                continue;
            }
            if let Opened::Event(Event::System(event)) = journal.open_entry(&entry)? {
                users.apply(&event);
            }
        }
        Ok(users)
    }

    /// Folds one system event (others are ignored).
    pub fn apply(&mut self, event: &SystemEvent) {
        let Some(target) = event.target.clone() else {
            return;
        };
        match event.action.as_str() {
            USER_ADDED => {
                let Ok(d) = parse::<AddedDetails>(&event.details) else {
                    return;
                };
                self.users.entry(target.clone()).or_insert(User {
                    id: target,
                    name: d.name,
                    roles: d.roles,
                    units: d.units,
                    custodian: d.custodian,
                    hash: d.hash,
                    disabled: false,
                    added_at: event.at,
                    added_by: event.actor.clone(),
                });
            }
            PASSWORD_SET => {
                if let (Some(u), Some(h)) = (
                    self.users.get_mut(&target),
                    event.details.get("hash").and_then(Value::as_str),
                ) {
                    u.hash = h.to_string();
                }
            }
            USER_DISABLED => {
                if let Some(u) = self.users.get_mut(&target) {
                    u.disabled = true;
                }
            }
            TOKEN_CREATED => {
                let Ok(d) = parse::<TokenDetails>(&event.details) else {
                    return;
                };
                let mut digest = [0u8; 32];
                if hex::decode_to_slice(&d.sha256, &mut digest).is_err() {
                    return;
                }
                self.tokens.entry(target.clone()).or_insert(Token {
                    id: target,
                    user: d.user,
                    roles: d.roles,
                    expires_at: d.expires_at,
                    digest,
                    revoked: false,
                    created_at: event.at,
                    created_by: event.actor.clone(),
                });
            }
            TOKEN_REVOKED => {
                if let Some(t) = self.tokens.get_mut(&target) {
                    t.revoked = true;
                }
            }
            _ => {}
        }
    }

    /// A user by id.
    pub fn get(&self, id: &str) -> Option<&User> {
        self.users.get(id)
    }

    /// Every user, by id.
    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }

    /// Every token, by id.
    pub fn tokens(&self) -> impl Iterator<Item = &Token> {
        self.tokens.values()
    }

    /// A token by id.
    pub fn token(&self, id: &str) -> Option<&Token> {
        self.tokens.get(id)
    }

    fn append(
        &mut self,
        journal: &Journal,
        actor: &str,
        action: &str,
        target: &str,
        details: Map<String, Value>,
    ) -> Result<u64> {
        let event = SystemEvent {
            actor: actor.to_string(),
            action: action.to_string(),
            target: Some(target.to_string()),
            at: Timestamp::now(),
            details,
        };
        let appended = journal.append(&Event::System(event.clone()), None)?;
        self.apply(&event);
        Ok(appended.seq)
    }

    /// Adds a user with `password` (hashed here); returns the entry.
    pub fn add(
        &mut self,
        journal: &Journal,
        actor: &str,
        new: NewUser,
        password: &str,
    ) -> Result<u64> {
        let id = new.id.trim().to_string();
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'))
        {
            return Err(UserError::Invalid(format!(
                "user id {id:?}: use letters, digits, '.', '-', '_' or '@'"
            )));
        }
        if self.users.contains_key(&id) {
            return Err(UserError::Conflict(format!(
                "user {id} already exists; ids are never reused"
            )));
        }
        let name = new.name.trim().to_string();
        if name.is_empty() {
            return Err(UserError::Invalid("--name must not be empty".into()));
        }
        if new.roles.is_empty() {
            return Err(UserError::Invalid("--role: give at least one role".into()));
        }
        let mut units: Vec<String> = new.units.iter().map(|u| u.trim().to_string()).collect();
        if units.iter().any(String::is_empty) {
            return Err(UserError::Invalid("--unit must not be empty".into()));
        }
        units.sort();
        units.dedup();
        if new.roles.contains(&Role::Reviewer) && units.is_empty() {
            return Err(UserError::Invalid(
                "--unit: a reviewer reads only their desks or business units; give at least one"
                    .into(),
            ));
        }
        let custodian = new
            .custodian
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty());
        if new.roles.contains(&Role::Agent) && custodian.is_none() {
            return Err(UserError::Invalid(
                "--custodian: an agent reads only their own conversations; name their custodian id"
                    .into(),
            ));
        }
        let hash = password::hash(password)?;
        let d = AddedDetails {
            name,
            roles: new.roles,
            units,
            custodian,
            hash,
        };
        self.append(journal, actor, USER_ADDED, &id, details(&d))
    }

    /// Sets a user's password.
    pub fn set_password(
        &mut self,
        journal: &Journal,
        actor: &str,
        id: &str,
        password: &str,
    ) -> Result<u64> {
        self.user(id)?;
        let hash = password::hash(password)?;
        let mut d = Map::new();
        d.insert("hash".into(), hash.into());
        self.append(journal, actor, PASSWORD_SET, id, d)
    }

    /// Disables a user (for good: ids are not reused).
    pub fn disable(&mut self, journal: &Journal, actor: &str, id: &str) -> Result<Option<u64>> {
        if self.user(id)?.disabled {
            return Ok(None);
        }
        self.append(journal, actor, USER_DISABLED, id, Map::new())
            .map(Some)
    }

    fn user(&self, id: &str) -> Result<&User> {
        self.users
            .get(id)
            .ok_or_else(|| UserError::NotFound(format!("no user {id:?}")))
    }

    /// Makes a token for `user`, confined to `roles` (all the user's when
    /// empty), working until `expires_at`. The secret is returned once.
    pub fn create_token(
        &mut self,
        journal: &Journal,
        actor: &str,
        user: &str,
        roles: &BTreeSet<Role>,
        expires_at: Timestamp,
    ) -> Result<(Token, TokenSecret)> {
        let u = self.user(user)?;
        if u.disabled {
            return Err(UserError::Invalid(format!("user {user} is disabled")));
        }
        let roles = if roles.is_empty() {
            u.roles.clone()
        } else {
            roles.clone()
        };
        if let Some(r) = roles.iter().find(|r| !u.roles.contains(r)) {
            return Err(UserError::Invalid(format!(
                "--role {r}: user {user} does not hold it (a token carries a subset of its user's roles)"
            )));
        }
        if expires_at <= Timestamp::now() {
            return Err(UserError::Invalid(
                "--expires: must be in the future".into(),
            ));
        }
        let id = random_hex(8);
        let secret = random_hex(32);
        let d = TokenDetails {
            user: user.to_string(),
            roles,
            expires_at,
            sha256: hex::encode(digest(&secret)),
        };
        self.append(journal, actor, TOKEN_CREATED, &id, details(&d))?;
        let token = self.tokens[&id].clone();
        Ok((token, TokenSecret(format!("{TOKEN_PREFIX}{id}_{secret}"))))
    }

    /// Revokes a token.
    pub fn revoke_token(
        &mut self,
        journal: &Journal,
        actor: &str,
        id: &str,
    ) -> Result<Option<u64>> {
        let t = self
            .tokens
            .get(id)
            .ok_or_else(|| UserError::NotFound(format!("no token {id:?}")))?;
        if t.revoked {
            return Ok(None);
        }
        self.append(journal, actor, TOKEN_REVOKED, id, Map::new())
            .map(Some)
    }
}

/// Splits a bearer value into token id and secret.
pub(crate) fn split_bearer(value: &str) -> Option<(&str, &str)> {
    value.strip_prefix(TOKEN_PREFIX)?.split_once('_')
}
