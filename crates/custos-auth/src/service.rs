//! [`Auth`]: signing in (with throttling), sessions, CSRF tokens and
//! bearer tokens, over the users folded from the journal.
//!
//! Sessions live in memory (and survive a restart: [`Auth::load`] reads
//! them back from the journal), kept by the SHA-256 of their id, so neither a
//! lookup's timing nor a memory dump gives a usable cookie away. Every
//! sign-in, failed or not, is journalled (`auth.signin`,
//! `auth.signin_failed`: user id and client address, never the password);
//! a successful one also records the session's SHA-256 and end, and a
//! sign-out the same SHA-256. [`Auth::catch_up`] (run by [`Auth::follow`]
//! in the server) applies what other processes journalled: users, tokens,
//! revocations and disablings, and the sessions opened and closed on other
//! nodes of a cluster, so a cookie or a revocation holds on every node.
//! The CSRF token is derived from the session id (HMAC-SHA256 under it),
//! so every node that is shown the cookie knows it without storing it.

use crate::users::{self, UserError, Users};
use crate::{CsrfToken, Principal, password};
use custos_journal::Journal;
use custos_model::Timestamp;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Map;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use subtle::ConstantTimeEq;

/// A successful sign-in.
pub const SIGNED_IN: &str = "auth.signin";
/// A refused sign-in.
pub const SIGNIN_FAILED: &str = "auth.signin_failed";
/// A session ended by its user.
pub const SIGNED_OUT: &str = "auth.signout";

/// Settings of sessions and throttling.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// How long a session lasts from sign-in.
    pub session_ttl: Duration,
    /// Failures in a row for one user name before it is locked.
    pub max_failures_per_user: u32,
    /// Failures in a row from one address before it is locked.
    pub max_failures_per_ip: u32,
    /// The first lock-out; each further failure doubles it.
    pub lockout: Duration,
    /// The longest lock-out.
    pub max_lockout: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_ttl: Duration::from_secs(8 * 3600),
            max_failures_per_user: 5,
            max_failures_per_ip: 20,
            lockout: Duration::from_secs(30),
            max_lockout: Duration::from_secs(3600),
        }
    }
}

/// Why a sign-in was refused. The message is the same whether the user
/// exists or not.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown user, wrong password or disabled user: one answer.
    #[error("sign-in refused: unknown user or wrong password")]
    Refused,
    /// Too many failures for this user name or address.
    #[error("sign-in refused: too many failures; try again in {retry_after_secs} s")]
    Throttled {
        /// Seconds until the lock-out ends.
        retry_after_secs: u64,
    },
    /// Journalling the attempt failed (nothing is granted then).
    #[error(transparent)]
    Journal(#[from] custos_journal::Error),
}

/// A session's cookie value. `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl SessionId {
    /// The cookie value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId(redacted)")
    }
}

/// A signed-in session.
#[derive(Clone, Debug)]
pub struct Session {
    /// The cookie value (random, 256 bits).
    pub id: SessionId,
    /// Its CSRF token (random, 256 bits), for forms and unsafe requests.
    pub csrf: CsrfToken,
    /// Who.
    pub principal: Principal,
    /// When it ends.
    pub expires_at: Timestamp,
}

struct Stored {
    user: String,
    expires_at: i64,
}

#[derive(Clone, Copy, Default)]
struct Failures {
    count: u32,
    locked_until: i64,
}

struct Inner {
    journal: Journal,
    config: AuthConfig,
    users: RwLock<Users>,
    sessions: Mutex<HashMap<[u8; 32], Stored>>,
    failures: Mutex<HashMap<String, Failures>>,
    /// The next journal entry [`Auth::catch_up`] has not applied.
    followed: Mutex<u64>,
}

/// The authentication service; cheap to clone.
#[derive(Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auth")
    }
}

fn random_hex() -> String {
    let mut buf = [0u8; 32];
    SystemRandom::new()
        .fill(&mut buf)
        .expect("the system's random generator");
    hex::encode(buf)
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// A session's CSRF token: HMAC-SHA256 of a fixed label under the session
/// id, so it is tied to the session and needs no storage.
fn csrf_of(session_id: &str) -> CsrfToken {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, session_id.as_bytes());
    CsrfToken(hex::encode(ring::hmac::sign(&key, b"custos csrf v1")))
}

/// A refused attempt's details: the client address and why.
fn failure(ip: &str, why: &str) -> Map<String, serde_json::Value> {
    let mut d = Map::new();
    d.insert("ip".into(), ip.into());
    d.insert("reason".into(), why.into());
    d
}

/// A sign-in's session fields: the SHA-256 of its id (never the id) and
/// its end, so the other nodes of a cluster can honour the cookie.
fn session_details(d: &mut Map<String, serde_json::Value>, id: &str, expires_at: i64) {
    d.insert("session".into(), hex::encode(users::digest(id)).into());
    d.insert("expires_at".into(), expires_at.into());
}

/// Constant-time equality of two byte strings (their lengths may leak).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

impl Auth {
    /// The service over the users and tokens already in `journal`
    /// (blocking: reads the whole journal). Sessions opened before (by
    /// this node before a restart, or by another node) and neither ended
    /// nor expired are live again.
    pub fn load(journal: Journal, config: AuthConfig) -> Result<Auth, UserError> {
        let auth = Auth::with_users(journal, config, Users::default());
        *auth
            .inner
            .followed
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = 0;
        auth.catch_up()?;
        Ok(auth)
    }

    /// The service over `users` (e.g. none: nobody can sign in), following
    /// the journal from its end.
    pub fn with_users(journal: Journal, config: AuthConfig, users: Users) -> Auth {
        let journal_size = journal.size();
        Auth {
            inner: Arc::new(Inner {
                journal,
                config,
                users: RwLock::new(users),
                sessions: Mutex::new(HashMap::new()),
                failures: Mutex::new(HashMap::new()),
                followed: Mutex::new(journal_size),
            }),
        }
    }

    /// Runs `f` on the users and tokens known now.
    pub fn with_users_read<R>(&self, f: impl FnOnce(&Users) -> R) -> R {
        f(&self.inner.users.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Folds a system event appended elsewhere in this process (e.g. a
    /// token revoked through an admin API).
    pub fn apply(&self, event: &custos_model::SystemEvent) {
        self.inner
            .users
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .apply(event);
    }

    /// Revokes token `id` (journalled); it stops working at once here.
    pub fn revoke_token(&self, actor: &str, id: &str) -> Result<Option<u64>, UserError> {
        let mut users = self.inner.users.write().unwrap_or_else(|e| e.into_inner());
        users.revoke_token(&self.inner.journal, actor, id)
    }

    /// Disables user `id` (journalled); their sessions and tokens stop
    /// working at once here.
    pub fn disable_user(&self, actor: &str, id: &str) -> Result<Option<u64>, UserError> {
        let mut users = self.inner.users.write().unwrap_or_else(|e| e.into_inner());
        users.disable(&self.inner.journal, actor, id)
    }

    /// Signs `user` in with `password` from `client`. Blocking: costs one
    /// Argon2id verification (also for unknown users) and one journal
    /// append.
    pub fn sign_in(
        &self,
        user: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<Session, SignInError> {
        self.sign_in_at(user, password, client, Timestamp::now())
    }

    /// [`Auth::sign_in`] at the moment `now` (tests drive the clock).
    pub fn sign_in_at(
        &self,
        user: &str,
        password: &str,
        client: Option<IpAddr>,
        now: Timestamp,
    ) -> Result<Session, SignInError> {
        let user: String = user.trim().chars().take(128).collect();
        let ip = client
            .map(|a| a.to_string())
            .unwrap_or_else(|| "unknown".into());
        let keys = [format!("user:{user}"), format!("ip:{ip}")];
        if let Some(wait) = self.locked(&keys, now.as_micros()) {
            self.journal_attempt(&user, failure(&ip, "throttled"), false)?;
            return Err(SignInError::Throttled {
                retry_after_secs: ((wait + 999_999) / 1_000_000).max(1) as u64,
            });
        }
        let found = self.with_users_read(|u| u.get(&user).cloned());
        let hash = found
            .as_ref()
            .map_or(password::decoy(), |u| u.hash.as_str());
        let matches = password::verify(password, hash);
        let ok = matches && found.as_ref().is_some_and(|u| !u.disabled);
        if !ok {
            self.fail(&keys, now.as_micros());
            self.journal_attempt(&user, failure(&ip, "bad credentials"), false)?;
            return Err(SignInError::Refused);
        }
        let user = found.expect("checked above");
        let (id, expires_at) = self.new_session(now);
        let mut d = Map::new();
        d.insert("ip".into(), ip.as_str().into());
        session_details(&mut d, &id, expires_at);
        self.journal_attempt(&user.id, d, true)?;
        self.succeed(&keys);
        Ok(self.open_session(&user, id, expires_at))
    }

    /// Signs in the custos user an external identity provider vouched for
    /// (`method`, e.g. `oidc`): `claim` must equal an enabled user's id,
    /// or (ignoring ASCII case, as e-mail addresses compare) exactly one
    /// user's id. Roles and units are custos's own. Journalled like a
    /// password sign-in, with `method`; an unknown or disabled user is
    /// refused and journalled (`reason: unknown user`). Blocking: one
    /// journal append.
    pub fn sign_in_verified(
        &self,
        claim: &str,
        method: &str,
        client: Option<IpAddr>,
    ) -> Result<Session, SignInError> {
        let ip = client
            .map(|a| a.to_string())
            .unwrap_or_else(|| "unknown".into());
        let claim: String = claim.trim().chars().take(256).collect();
        let found = self.with_users_read(|u| {
            if let Some(user) = u.get(&claim) {
                return Some(user.clone());
            }
            let mut folded = u.users().filter(|u| u.id.eq_ignore_ascii_case(&claim));
            match (folded.next(), folded.next()) {
                (Some(one), None) => Some(one.clone()),
                _ => None,
            }
        });
        let Some(user) = found.filter(|u| !u.disabled) else {
            self.journal_refusal(Some(&claim), client, method, "unknown user")?;
            return Err(SignInError::Refused);
        };
        let (id, expires_at) = self.new_session(Timestamp::now());
        let mut d = Map::new();
        d.insert("user".into(), user.id.as_str().into());
        d.insert("ip".into(), ip.into());
        d.insert("method".into(), method.into());
        session_details(&mut d, &id, expires_at);
        self.inner
            .journal
            .append_system(&user.id, SIGNED_IN, Some(&user.id), d)?;
        Ok(self.open_session(&user, id, expires_at))
    }

    /// Journals a refused sign-in by `method` (`auth.signin_failed` with
    /// the reason), e.g. an identity provider's answer that did not
    /// verify; `user` when known.
    pub fn journal_refusal(
        &self,
        user: Option<&str>,
        client: Option<IpAddr>,
        method: &str,
        reason: &str,
    ) -> Result<(), custos_journal::Error> {
        let mut d = Map::new();
        let actor = user.unwrap_or(method);
        if let Some(u) = user {
            d.insert("user".into(), u.into());
        }
        d.insert(
            "ip".into(),
            client
                .map(|a| a.to_string())
                .unwrap_or_else(|| "unknown".into())
                .into(),
        );
        d.insert("method".into(), method.into());
        d.insert("reason".into(), reason.into());
        self.inner
            .journal
            .append_system(actor, SIGNIN_FAILED, user, d)?;
        Ok(())
    }

    /// A new session's id and end (in microseconds), from `now`.
    fn new_session(&self, now: Timestamp) -> (String, i64) {
        let expires_at = now
            .as_micros()
            .saturating_add(micros(self.inner.config.session_ttl));
        (random_hex(), expires_at)
    }

    /// Keeps session `id` of `user` (its sign-in journalled).
    fn open_session(&self, user: &users::User, id: String, expires_at: i64) -> Session {
        let now = Timestamp::now().as_micros();
        let mut sessions = self
            .inner
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        sessions.retain(|_, s| s.expires_at > now);
        sessions.insert(
            users::digest(&id),
            Stored {
                user: user.id.clone(),
                expires_at,
            },
        );
        Session {
            csrf: csrf_of(&id),
            id: SessionId(id),
            principal: user.principal(None),
            expires_at: Timestamp::from_micros(expires_at),
        }
    }

    fn journal_attempt(
        &self,
        user: &str,
        mut d: Map<String, serde_json::Value>,
        ok: bool,
    ) -> Result<(), custos_journal::Error> {
        d.insert("user".into(), user.into());
        let action = if ok { SIGNED_IN } else { SIGNIN_FAILED };
        self.inner
            .journal
            .append_system(user, action, Some(user), d)?;
        Ok(())
    }

    /// The longest wait among `keys`' lock-outs, in microseconds.
    fn locked(&self, keys: &[String], now: i64) -> Option<i64> {
        let failures = self
            .inner
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .filter_map(|k| failures.get(k))
            .map(|f| f.locked_until - now)
            .filter(|w| *w > 0)
            .max()
    }

    fn fail(&self, keys: &[String], now: i64) {
        let c = &self.inner.config;
        let mut failures = self
            .inner
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if failures.len() > 100_000 {
            // Bounded memory under a spray of names: forget the unlocked.
            failures.retain(|_, f| f.locked_until > now);
        }
        for key in keys {
            let limit = if key.starts_with("ip:") {
                c.max_failures_per_ip
            } else {
                c.max_failures_per_user
            };
            let f = failures.entry(key.clone()).or_default();
            f.count += 1;
            if f.count >= limit {
                let doublings = (f.count - limit).min(20);
                let wait = micros(c.lockout).saturating_mul(1 << doublings);
                f.locked_until = now.saturating_add(wait.min(micros(c.max_lockout)));
            }
        }
    }

    fn succeed(&self, keys: &[String]) {
        let mut failures = self
            .inner
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for key in keys {
            failures.remove(key);
        }
    }

    /// The principal and CSRF token of a session cookie, if it is live and
    /// its user still enabled.
    pub fn session(&self, cookie: &str) -> Option<(Principal, CsrfToken)> {
        self.session_at(cookie, Timestamp::now())
    }

    /// [`Auth::session`] at the moment `now`.
    pub fn session_at(&self, cookie: &str, now: Timestamp) -> Option<(Principal, CsrfToken)> {
        let key = users::digest(cookie);
        let (user, csrf) = {
            let mut sessions = self
                .inner
                .sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let s = sessions.get(&key)?;
            if s.expires_at <= now.as_micros() {
                sessions.remove(&key);
                return None;
            }
            (s.user.clone(), csrf_of(cookie))
        };
        let principal = self.with_users_read(|u| {
            u.get(&user)
                .filter(|u| !u.disabled)
                .map(|u| u.principal(None))
        })?;
        Some((principal, csrf))
    }

    /// Ends a session (journalled); unknown cookies change nothing.
    pub fn sign_out(&self, cookie: &str) -> Result<(), custos_journal::Error> {
        let removed = self
            .inner
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&users::digest(cookie));
        if let Some(s) = removed {
            let mut d = Map::new();
            d.insert("session".into(), hex::encode(users::digest(cookie)).into());
            self.inner
                .journal
                .append_system(&s.user, SIGNED_OUT, Some(&s.user), d)?;
        }
        Ok(())
    }

    /// Applies what the journal gained since the last call (or since
    /// [`Auth::load`]): users, tokens, revocations and disablings made by
    /// other processes, and the sessions other nodes opened and closed.
    /// Returns how many system events it read. Blocking: reads the new
    /// entries.
    pub fn catch_up(&self) -> Result<usize, custos_journal::Error> {
        let mut followed = self
            .inner
            .followed
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut read = 0;
        self.inner.journal.events_since(
            &mut followed,
            &[custos_model::EventKind::System],
            |_, event| {
                if let custos_model::Event::System(s) = event {
                    self.take(&s);
                    read += 1;
                }
            },
        )?;
        Ok(read)
    }

    /// Applies one system event read from the journal.
    fn take(&self, s: &custos_model::SystemEvent) {
        let session = s
            .details
            .get("session")
            .and_then(|v| v.as_str())
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| <[u8; 32]>::try_from(b).ok());
        let sessions = || {
            self.inner
                .sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
        };
        match (s.action.as_str(), session) {
            (SIGNED_IN, Some(key)) => {
                let expires_at = s.details.get("expires_at").and_then(|v| v.as_i64());
                let user = s.details.get("user").and_then(|v| v.as_str());
                if let (Some(expires_at), Some(user)) = (expires_at, user)
                    && expires_at > Timestamp::now().as_micros()
                {
                    sessions().entry(key).or_insert(Stored {
                        user: user.to_string(),
                        expires_at,
                    });
                }
            }
            (SIGNED_OUT, Some(key)) => {
                sessions().remove(&key);
            }
            _ => self.apply(s),
        }
    }

    /// Runs [`Auth::catch_up`] every `every` on a thread of its own until
    /// the last clone of this service is dropped.
    pub fn follow(&self, every: Duration) {
        let weak = Arc::downgrade(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("custos-auth-follow".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(every);
                    let Some(inner) = weak.upgrade() else { return };
                    if let Err(e) = (Auth { inner }).catch_up() {
                        tracing::warn!(error = %e, "following the journal's users and sessions");
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "starting the auth follower");
        }
    }

    /// Whether `token` is the session's CSRF token (constant time).
    pub fn check_csrf(&self, session: &CsrfToken, token: &str) -> bool {
        !token.is_empty() && constant_time_eq(session.0.as_bytes(), token.as_bytes())
    }

    /// The principal a bearer token acts as: refused when unknown, wrong,
    /// expired, revoked or its user disabled. The secret is compared by
    /// its SHA-256 in constant time.
    pub fn token(&self, bearer: &str) -> Option<Principal> {
        self.token_at(bearer, Timestamp::now())
    }

    /// [`Auth::token`] at the moment `now`.
    pub fn token_at(&self, bearer: &str, now: Timestamp) -> Option<Principal> {
        let (id, secret) = users::split_bearer(bearer.trim())?;
        let offered = users::digest(secret);
        self.with_users_read(|u| {
            let t = u.token(id)?;
            let right = constant_time_eq(&t.digest, &offered);
            if !right || t.revoked || t.expires_at <= now {
                return None;
            }
            let user = u.get(&t.user).filter(|u| !u.disabled)?;
            Some(user.principal(Some(&t.roles)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewUser, Role, Scope};
    use custos_model::{Event, EventKind};

    const PASSWORD: &str = "correct horse battery";

    fn setup() -> (tempfile::TempDir, Journal, Users) {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::init(dir.path(), None, "t").unwrap();
        let mut users = Users::default();
        users
            .add(
                &journal,
                "root",
                NewUser {
                    id: "rita".into(),
                    name: "Rita Reviewer".into(),
                    roles: [Role::Reviewer, Role::Auditor].into(),
                    units: vec!["fx".into()],
                    custodian: None,
                },
                PASSWORD,
            )
            .unwrap();
        (dir, journal, users)
    }

    fn auth(journal: &Journal, users: Users) -> Auth {
        let config = AuthConfig {
            lockout: Duration::from_secs(10),
            ..AuthConfig::default()
        };
        Auth::with_users(journal.clone(), config, users)
    }

    fn actions(journal: &Journal) -> Vec<(String, serde_json::Value)> {
        let mut out = Vec::new();
        for entry in journal.entries(0) {
            let entry = entry.unwrap();
            if entry.leaf.kind != EventKind::System {
                continue;
            }
            if let custos_journal::Opened::Event(Event::System(e)) =
                journal.open_entry(&entry).unwrap()
            {
                out.push((e.action, serde_json::Value::Object(e.details)));
            }
        }
        out
    }

    #[test]
    fn the_journal_keeps_the_hash_never_the_password() {
        let (_dir, journal, users) = setup();
        let reloaded = Users::load(&journal).unwrap();
        assert_eq!(reloaded.get("rita"), users.get("rita"));
        let all = format!("{:?}", actions(&journal));
        assert!(!all.contains(PASSWORD), "{all}");
        assert!(all.contains("$argon2id$"), "{all}");
    }

    #[test]
    fn sign_in_session_and_sign_out() {
        let (_dir, journal, users) = setup();
        let auth = auth(&journal, users);
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        let s = auth.sign_in("rita", PASSWORD, Some(ip)).unwrap();
        assert_eq!(s.id.expose().len(), 64);
        assert_eq!(s.principal.scope, Scope::Units(["fx".to_string()].into()));
        let (p, csrf) = auth.session(s.id.expose()).unwrap();
        assert_eq!(p.user, "rita");
        assert_eq!(csrf, s.csrf);
        assert!(auth.check_csrf(&csrf, &s.csrf.0));
        assert!(!auth.check_csrf(&csrf, ""));
        assert!(!auth.check_csrf(&csrf, &s.csrf.0[1..]));
        assert!(!auth.check_csrf(&csrf, &"0".repeat(64)));
        assert!(auth.session("nonsense").is_none());
        auth.sign_out(s.id.expose()).unwrap();
        assert!(auth.session(s.id.expose()).is_none());
        let logged = actions(&journal);
        let signin = logged.iter().find(|(a, _)| a == SIGNED_IN).unwrap();
        assert_eq!(signin.1["ip"], "10.0.0.7");
        assert!(logged.iter().any(|(a, _)| a == SIGNED_OUT));
        assert!(!format!("{logged:?}").contains(PASSWORD));
    }

    #[test]
    fn a_verified_identity_signs_in_an_existing_user_only() {
        let (_dir, journal, mut users) = setup();
        users
            .add(
                &journal,
                "root",
                NewUser {
                    id: "Ana@Bank.example".into(),
                    name: "Ana".into(),
                    roles: [Role::Auditor].into(),
                    units: vec![],
                    custodian: None,
                },
                PASSWORD,
            )
            .unwrap();
        let auth = auth(&journal, users);
        let s = auth.sign_in_verified("rita", "oidc", None).unwrap();
        assert_eq!(s.principal.user, "rita");
        assert!(auth.session(s.id.expose()).is_some());
        let s = auth
            .sign_in_verified("ana@bank.example", "oidc", None)
            .unwrap();
        assert_eq!(s.principal.user, "Ana@Bank.example", "e-mail case ignored");
        assert_eq!(s.principal.roles, [Role::Auditor].into());
        assert!(matches!(
            auth.sign_in_verified("mallory@bank.example", "oidc", None),
            Err(SignInError::Refused)
        ));
        auth.disable_user("root", "rita").unwrap();
        assert!(auth.sign_in_verified("rita", "oidc", None).is_err());
        let logged = actions(&journal);
        let ins: Vec<_> = logged.iter().filter(|(a, _)| a == SIGNED_IN).collect();
        assert_eq!(ins.len(), 2);
        assert!(ins.iter().all(|(_, d)| d["method"] == "oidc"));
        let refused: Vec<_> = logged.iter().filter(|(a, _)| a == SIGNIN_FAILED).collect();
        assert_eq!(refused.len(), 2);
        assert_eq!(refused[0].1["user"], "mallory@bank.example");
        assert_eq!(refused[0].1["reason"], "unknown user");
    }

    #[test]
    fn sessions_expire() {
        let (_dir, journal, users) = setup();
        let auth = auth(&journal, users);
        let now = Timestamp::now();
        let s = auth.sign_in_at("rita", PASSWORD, None, now).unwrap();
        let later = |secs: i64| Timestamp::from_micros(now.as_micros() + secs * 1_000_000);
        assert!(
            auth.session_at(s.id.expose(), later(8 * 3600 - 1))
                .is_some()
        );
        assert!(auth.session_at(s.id.expose(), later(8 * 3600)).is_none());
    }

    #[test]
    fn wrong_and_unknown_answer_alike_and_are_journalled() {
        let (_dir, journal, users) = setup();
        let auth = auth(&journal, users);
        let wrong = auth.sign_in("rita", "not the password", None).unwrap_err();
        let unknown = auth.sign_in("nobody", PASSWORD, None).unwrap_err();
        assert_eq!(wrong.to_string(), unknown.to_string());
        let failed: Vec<_> = actions(&journal)
            .into_iter()
            .filter(|(a, _)| a == SIGNIN_FAILED)
            .collect();
        assert_eq!(failed.len(), 2);
        assert_eq!(failed[1].1["user"], "nobody");
    }

    #[test]
    fn throttling_locks_a_user_then_doubles() {
        let (_dir, journal, users) = setup();
        let auth = auth(&journal, users);
        let t0 = Timestamp::now().as_micros();
        let at = |secs: i64| Timestamp::from_micros(t0 + secs * 1_000_000);
        for i in 0..5 {
            let ip: IpAddr = format!("10.0.0.{i}").parse().unwrap();
            let e = auth.sign_in_at("rita", "wrong wrong wrong", Some(ip), at(0));
            assert!(matches!(e, Err(SignInError::Refused)), "{e:?}");
        }
        // Locked for 10 s, even with the right password, from anywhere.
        let e = auth.sign_in_at("rita", PASSWORD, None, at(1)).unwrap_err();
        assert!(
            matches!(
                e,
                SignInError::Throttled {
                    retry_after_secs: 9
                }
            ),
            "{e:?}"
        );
        // An unknown name is locked just the same.
        for _ in 0..5 {
            let _ = auth.sign_in_at("ghost", "x", None, at(0));
        }
        assert!(matches!(
            auth.sign_in_at("ghost", "x", None, at(1)),
            Err(SignInError::Throttled { .. })
        ));
        // After the lock-out one more failure locks for twice as long.
        let e = auth.sign_in_at("rita", "wrong again!!", None, at(11));
        assert!(matches!(e, Err(SignInError::Refused)));
        let e = auth.sign_in_at("rita", PASSWORD, None, at(30)).unwrap_err();
        assert!(
            matches!(
                e,
                SignInError::Throttled {
                    retry_after_secs: 1
                }
            ),
            "{e:?}"
        );
        // Then a success clears the count.
        auth.sign_in_at("rita", PASSWORD, None, at(32)).unwrap();
        let e = auth.sign_in_at("rita", "wrong", None, at(33));
        assert!(matches!(e, Err(SignInError::Refused)));
        let throttled = actions(&journal)
            .into_iter()
            .filter(|(a, d)| a == SIGNIN_FAILED && d["reason"] == "throttled")
            .count();
        assert_eq!(throttled, 3);
    }

    #[test]
    fn throttling_locks_an_address() {
        let (_dir, journal, users) = setup();
        let auth = auth(&journal, users);
        let now = Timestamp::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for i in 0..20 {
            let _ = auth.sign_in_at(&format!("spray{i}"), "x", Some(ip), now);
        }
        assert!(matches!(
            auth.sign_in_at("rita", PASSWORD, Some(ip), now),
            Err(SignInError::Throttled { .. })
        ));
        // Another address is not affected.
        auth.sign_in_at("rita", PASSWORD, Some("192.0.2.2".parse().unwrap()), now)
            .unwrap();
    }

    #[test]
    fn another_node_honours_sessions_tokens_and_revocations_once_it_catches_up() {
        // Two nodes of a cluster: two services over one journal.
        let (_dir, journal, mut users) = setup();
        let one = Auth::load(journal.clone(), AuthConfig::default()).unwrap();
        let two = Auth::load(journal.clone(), AuthConfig::default()).unwrap();
        let s = one.sign_in("rita", PASSWORD, None).unwrap();
        assert!(two.session(s.id.expose()).is_none(), "not read yet");
        assert!(two.catch_up().unwrap() > 0);
        let (p, csrf) = two.session(s.id.expose()).expect("the cookie works here");
        assert_eq!(p.user, "rita");
        assert_eq!(csrf, s.csrf, "the same CSRF token on every node");
        assert!(two.check_csrf(&csrf, &s.csrf.0));
        assert!(two.session(&s.id.expose().replace('a', "b")).is_none());
        // The journal holds the session's hash, never its id or CSRF token.
        let all = format!("{:?}", actions(&journal));
        assert!(!all.contains(s.id.expose()) && !all.contains(&s.csrf.0));
        assert!(all.contains(&hex::encode(users::digest(s.id.expose()))));

        // A user and token made elsewhere (the CLI), then revoked there.
        users
            .add(
                &journal,
                "root",
                NewUser {
                    id: "cora".into(),
                    name: "Cora".into(),
                    roles: [Role::ComplianceOfficer].into(),
                    units: vec![],
                    custodian: None,
                },
                PASSWORD,
            )
            .unwrap();
        let in_an_hour = Timestamp::from_micros(Timestamp::now().as_micros() + 3_600_000_000);
        let (token, secret) = users
            .create_token(&journal, "root", "cora", &Default::default(), in_an_hour)
            .unwrap();
        assert!(two.token(secret.expose()).is_none());
        two.catch_up().unwrap();
        assert_eq!(two.token(secret.expose()).unwrap().user, "cora");
        let c = two.sign_in("cora", PASSWORD, None).unwrap();
        users.revoke_token(&journal, "root", &token.id).unwrap();
        two.catch_up().unwrap();
        assert!(two.token(secret.expose()).is_none(), "revoked elsewhere");

        // Signing out on one node ends the session on the other; disabling
        // a user on one ends theirs everywhere.
        one.catch_up().unwrap();
        assert!(one.session(c.id.expose()).is_some());
        one.sign_out(s.id.expose()).unwrap();
        two.catch_up().unwrap();
        assert!(two.session(s.id.expose()).is_none());
        one.disable_user("root", "cora").unwrap();
        two.catch_up().unwrap();
        assert!(two.session(c.id.expose()).is_none());
        assert_eq!(two.catch_up().unwrap(), 0, "nothing new");
    }

    #[test]
    fn sessions_survive_a_restart_unless_ended() {
        let (_dir, journal, _users) = setup();
        let before = Auth::load(journal.clone(), AuthConfig::default()).unwrap();
        let kept = before.sign_in("rita", PASSWORD, None).unwrap();
        let ended = before.sign_in("rita", PASSWORD, None).unwrap();
        before.sign_out(ended.id.expose()).unwrap();
        drop(before);
        let after = Auth::load(journal.clone(), AuthConfig::default()).unwrap();
        let (p, csrf) = after.session(kept.id.expose()).expect("still signed in");
        assert_eq!((p.user.as_str(), &csrf), ("rita", &kept.csrf));
        assert!(after.session(ended.id.expose()).is_none());
        // Past its end it is gone, restart or not.
        assert!(
            after
                .session_at(kept.id.expose(), kept.expires_at)
                .is_none()
        );
    }

    #[test]
    fn tokens_expire_revoke_and_narrow_roles() {
        let (_dir, journal, mut users) = setup();
        let now = Timestamp::now();
        let in_an_hour = Timestamp::from_micros(now.as_micros() + 3_600_000_000);
        let (token, secret) = users
            .create_token(
                &journal,
                "root",
                "rita",
                &[Role::Auditor].into(),
                in_an_hour,
            )
            .unwrap();
        assert!(!format!("{secret:?}").contains(&token.id));
        let (_, other) = users
            .create_token(&journal, "root", "rita", &Default::default(), in_an_hour)
            .unwrap();
        let refused =
            users.create_token(&journal, "root", "rita", &[Role::Admin].into(), in_an_hour);
        assert!(matches!(refused, Err(UserError::Invalid(_))));
        let auth = auth(&journal, users.clone());
        let p = auth.token(secret.expose()).unwrap();
        assert_eq!(p.roles, [Role::Auditor].into());
        assert_eq!(p.scope, Scope::None);
        let p = auth.token(other.expose()).unwrap();
        assert_eq!(p.roles, [Role::Reviewer, Role::Auditor].into());
        // A wrong secret with the right id, garbage, expiry.
        let mut wrong = secret.expose().to_string();
        wrong.pop();
        wrong.push('x');
        assert!(auth.token(&wrong).is_none());
        assert!(auth.token("Bearer nonsense").is_none());
        assert!(auth.token_at(secret.expose(), in_an_hour).is_none());
        // Revocation, reloaded from the journal.
        users.revoke_token(&journal, "root", &token.id).unwrap();
        let auth = Auth::load(journal.clone(), AuthConfig::default()).unwrap();
        assert!(auth.token(secret.expose()).is_none());
        assert!(auth.token(other.expose()).is_some());
        // Disabling the user stops every token.
        users.disable(&journal, "root", "rita").unwrap();
        let auth = Auth::load(journal.clone(), AuthConfig::default()).unwrap();
        assert!(auth.token(other.expose()).is_none());
        assert!(matches!(
            auth.sign_in("rita", PASSWORD, None),
            Err(SignInError::Refused)
        ));
        let logged = format!("{:?}", actions(&journal));
        assert!(!logged.contains(&secret.expose()[20..]));
    }

    #[test]
    fn users_are_validated() {
        let (_dir, journal, mut users) = setup();
        let new = |id: &str, roles: &[Role], units: &[&str], custodian: Option<&str>| NewUser {
            id: id.into(),
            name: "N".into(),
            roles: roles.iter().copied().collect(),
            units: units.iter().map(|u| u.to_string()).collect(),
            custodian: custodian.map(str::to_string),
        };
        let err = |r: Result<u64, UserError>| r.unwrap_err().to_string();
        assert!(
            err(users.add(
                &journal,
                "a",
                new("rita", &[Role::Admin], &[], None),
                PASSWORD
            ))
            .contains("already exists")
        );
        assert!(
            err(users.add(
                &journal,
                "a",
                new("bad id", &[Role::Admin], &[], None),
                PASSWORD
            ))
            .contains("user id")
        );
        assert!(
            err(users.add(
                &journal,
                "a",
                new("r2", &[Role::Reviewer], &[], None),
                PASSWORD
            ))
            .contains("--unit")
        );
        assert!(
            err(users.add(
                &journal,
                "a",
                new("g1", &[Role::Agent], &[], None),
                PASSWORD
            ))
            .contains("--custodian")
        );
        assert!(
            err(users.add(&journal, "a", new("n1", &[], &[], None), PASSWORD)).contains("--role")
        );
        assert!(
            err(users.add(&journal, "a", new("s1", &[Role::Admin], &[], None), "short"))
                .contains("12")
        );
        users
            .add(
                &journal,
                "a",
                new("g1", &[Role::Agent], &[], Some("emp-7")),
                PASSWORD,
            )
            .unwrap();
        assert_eq!(
            users.get("g1").unwrap().scope(),
            Scope::Custodian("emp-7".into())
        );
    }
}
