//! Who is acting, and what they may see: roles, information barriers and
//! the [`Principal`] every request carries once it is signed in.
//!
//! This crate holds the vocabulary the server, the console and the CLI
//! share. Users, passwords, sessions and API tokens live beside it
//! (journal events folded into state); here is only what a handler needs
//! to decide "may this person do this, and over which messages".

mod role;

pub use role::{CsrfToken, Principal, Role, Scope};
