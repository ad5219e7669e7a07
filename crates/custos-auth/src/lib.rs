//! Who is acting, and what they may see: roles, information barriers and
//! the [`Principal`] every request carries once it is signed in; users,
//! passwords and API tokens as journal events ([`Users`]); and the
//! [`Auth`] service that signs people in (with throttling), keeps their
//! sessions and CSRF tokens, and resolves bearer tokens.
//!
//! No HTTP here: the server turns cookies and `Authorization` headers into
//! calls on [`Auth`], and [`Role::permits`] is the one permission table.
//!
//! ```no_run
//! # fn demo(journal: custos_journal::Journal) -> Result<(), Box<dyn std::error::Error>> {
//! use custos_auth::{Auth, AuthConfig, Permission};
//! let auth = Auth::load(journal, AuthConfig::default())?;
//! let session = auth.sign_in("ana", "a long passphrase", None)?;
//! assert!(auth.session(session.id.expose()).is_some());
//! let may_search = session.principal.may(Permission::Search);
//! # let _ = may_search; Ok(()) }
//! ```

pub mod password;
mod permission;
mod role;
mod service;
pub mod users;

pub use permission::{Permission, combined_scope};
pub use role::{CsrfToken, Principal, Role, Scope};
pub use service::{
    Auth, AuthConfig, SIGNED_IN, SIGNED_OUT, SIGNIN_FAILED, Session, SessionId, SignInError,
    constant_time_eq,
};
pub use users::{NewUser, Token, TokenSecret, User, UserError, Users};
