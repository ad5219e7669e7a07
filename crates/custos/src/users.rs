//! `custos user ...` and `custos token ...`: people who sign in, and API
//! tokens. The records are `custos_auth::users` events in the journal;
//! passwords are read from standard input (or prompted for, without echo),
//! never from an argument, and a token's secret is printed once.

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use custos_auth::{NewUser, Role, Users};
use custos_journal::Journal;
use custos_model::Timestamp;
use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};

/// `custos user ...`.
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a user; the password is read from standard input (or prompted for).
    Add {
        /// Their id (letters, digits, `.`, `-`, `_`, `@`), named in audit events.
        id: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// A role: admin, compliance_officer, reviewer, auditor, agent, dpo (repeat for several).
        #[arg(long = "role", required = true)]
        roles: Vec<Role>,
        /// A desk or business unit a reviewer reads (repeat for several).
        #[arg(long = "unit")]
        units: Vec<String>,
        /// The custodian id an agent is (their own conversations).
        #[arg(long)]
        custodian: Option<String>,
    },
    /// List users.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Set a user's password (read from standard input or prompted for).
    Password {
        /// The user.
        id: String,
    },
    /// Disable a user: they cannot sign in and their tokens stop working.
    Disable {
        /// The user.
        id: String,
    },
}

/// `custos token ...`.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Make an API token for a user; prints its secret once.
    Create {
        /// The user it acts for.
        #[arg(long)]
        user: String,
        /// Confine it to this role (repeat; default: all the user's roles).
        #[arg(long = "role")]
        roles: Vec<Role>,
        /// How long it works: `90d`, `12h`, `30m`, or an RFC 3339 instant.
        #[arg(long)]
        expires: String,
    },
    /// List tokens (never their secrets).
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token.
    Revoke {
        /// The token id.
        id: String,
    },
}

/// When `--expires` ends, from `now`.
pub fn parse_expiry(text: &str, now: Timestamp) -> Result<Timestamp> {
    let text = text.trim();
    let unit = |c: char| match c {
        'd' => Some(86_400),
        'h' => Some(3_600),
        'm' => Some(60),
        _ => None,
    };
    if let Some(last) = text.chars().last()
        && let Some(seconds) = unit(last)
        && let Ok(n) = text[..text.len() - 1].parse::<i64>()
    {
        if n <= 0 {
            bail!("--expires {text:?}: must be in the future");
        }
        return Ok(Timestamp::from_micros(
            now.as_micros()
                .saturating_add(n.saturating_mul(seconds * 1_000_000)),
        ));
    }
    let at = Timestamp::parse(text).map_err(|_| {
        anyhow::anyhow!("--expires {text:?}: expected 90d, 12h, 30m or an RFC 3339 instant")
    })?;
    Ok(at)
}

/// The password: one line of standard input, or, on a terminal, typed
/// twice without echo.
fn read_password() -> Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let ask = |prompt: &str| -> Result<String> {
        eprint!("{prompt}");
        let _ = std::process::Command::new("stty").arg("-echo").status();
        let mut line = String::new();
        let read = stdin.lock().read_line(&mut line);
        let _ = std::process::Command::new("stty").arg("echo").status();
        eprintln!();
        read.context("reading the password")?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    };
    let first = ask("password: ")?;
    if ask("again: ")? != first {
        bail!("the passwords differ; nothing was changed");
    }
    Ok(first)
}

fn roles_text(roles: &BTreeSet<Role>) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs `custos user ...`.
pub fn run_user(
    journal: &Journal,
    actor: &str,
    command: &UserCommand,
    out: &mut impl Write,
) -> Result<()> {
    let mut users = Users::load(journal)?;
    match command {
        UserCommand::Add {
            id,
            name,
            roles,
            units,
            custodian,
        } => {
            let password = read_password()?;
            let seq = users.add(
                journal,
                actor,
                NewUser {
                    id: id.clone(),
                    name: name.clone(),
                    roles: roles.iter().copied().collect(),
                    units: units.clone(),
                    custodian: custodian.clone(),
                },
                &password,
            )?;
            writeln!(out, "added user {id} (entry {seq})")?;
        }
        UserCommand::List { json } => {
            for u in users.users() {
                if *json {
                    writeln!(out, "{}", serde_json::to_string(u)?)?;
                } else {
                    writeln!(
                        out,
                        "{}\t{}\t{}\tunits={}\tcustodian={}\t{}",
                        u.id,
                        u.name,
                        roles_text(&u.roles),
                        u.units.join(","),
                        u.custodian.as_deref().unwrap_or("-"),
                        if u.disabled { "disabled" } else { "active" }
                    )?;
                }
            }
        }
        UserCommand::Password { id } => {
            let password = read_password()?;
            let seq = users.set_password(journal, actor, id, &password)?;
            writeln!(out, "password of {id} set (entry {seq})")?;
        }
        UserCommand::Disable { id } => match users.disable(journal, actor, id)? {
            Some(seq) => writeln!(out, "disabled {id} (entry {seq})")?,
            None => writeln!(out, "{id} was already disabled")?,
        },
    }
    Ok(())
}

/// Runs `custos token ...`.
pub fn run_token(
    journal: &Journal,
    actor: &str,
    command: &TokenCommand,
    out: &mut impl Write,
) -> Result<()> {
    let mut users = Users::load(journal)?;
    match command {
        TokenCommand::Create {
            user,
            roles,
            expires,
        } => {
            let expires_at = parse_expiry(expires, Timestamp::now())?;
            let roles: BTreeSet<Role> = roles.iter().copied().collect();
            let (token, secret) = users.create_token(journal, actor, user, &roles, expires_at)?;
            writeln!(
                out,
                "token {} for {user} ({}), expires {}",
                token.id,
                roles_text(&token.roles),
                token.expires_at
            )?;
            writeln!(out, "{}", secret.expose())?;
            eprintln!("the secret above is shown once: store it now");
        }
        TokenCommand::List { json } => {
            let now = Timestamp::now();
            for t in users.tokens() {
                let state = if t.revoked {
                    "revoked"
                } else if t.expires_at <= now {
                    "expired"
                } else {
                    "active"
                };
                if *json {
                    let mut v = serde_json::to_value(t)?;
                    v["state"] = state.into();
                    writeln!(out, "{v}")?;
                } else {
                    writeln!(
                        out,
                        "{}\t{}\t{}\texpires {}\t{state}",
                        t.id,
                        t.user,
                        roles_text(&t.roles),
                        t.expires_at
                    )?;
                }
            }
        }
        TokenCommand::Revoke { id } => match users.revoke_token(journal, actor, id)? {
            Some(seq) => writeln!(out, "revoked {id} (entry {seq})")?,
            None => writeln!(out, "{id} was already revoked")?,
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries() {
        let now = Timestamp::from_micros(1_000_000_000_000);
        let at =
            |t: &str| parse_expiry(t, now).map(|t| (t.as_micros() - now.as_micros()) / 1_000_000);
        assert_eq!(at("90d").unwrap(), 90 * 86_400);
        assert_eq!(at("12h").unwrap(), 12 * 3_600);
        assert_eq!(at("30m").unwrap(), 1_800);
        assert!(at("0d").is_err());
        assert!(at("soon").unwrap_err().to_string().contains("--expires"));
        assert!(parse_expiry("2030-01-01T00:00:00Z", now).is_ok());
    }
}
