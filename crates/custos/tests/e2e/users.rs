//! `custos user` and `custos token` end to end: the password comes from
//! standard input and never reaches the journal; a token's secret is
//! printed once and only its digest is kept.

use crate::common::Archive;
use std::io::Write;
use std::process::{Command, Stdio};

const PASSWORD: &str = "correct horse battery staple";

/// Runs custos with `stdin` as its standard input.
pub(crate) fn with_stdin(a: &Archive, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_custos"))
        .arg("--data")
        .arg(&a.data)
        .args(args)
        .env("CUSTOS_ACTOR", "tester")
        .env_remove("CUSTOS_KEK")
        .env_remove("CUSTOS_DATA")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn users_and_tokens_are_journalled_without_secrets() {
    let a = Archive::initialised();
    let out = with_stdin(
        &a,
        &[
            "user",
            "add",
            "rita",
            "--name",
            "Rita Reviewer",
            "--role",
            "reviewer",
            "--unit",
            "fx-desk",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A reviewer without units, and a short password, are refused.
    let out = with_stdin(
        &a,
        &["user", "add", "bob", "--name", "Bob", "--role", "reviewer"],
        &format!("{PASSWORD}\n"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--unit"));
    let out = with_stdin(
        &a,
        &["user", "add", "bob", "--name", "Bob", "--role", "admin"],
        "short\n",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("12 characters"));
    // No password argument exists.
    a.fail(&[
        "user",
        "add",
        "eve",
        "--name",
        "Eve",
        "--role",
        "admin",
        "--password",
        PASSWORD,
    ]);
    let list = a.ok(&["user", "list"]);
    assert!(
        list.contains("rita\tRita Reviewer\treviewer\tunits=fx-desk"),
        "{list}"
    );
    assert!(!list.contains("bob"));
    // Tokens: a subset of the user's roles, the secret printed once.
    assert!(
        a.fail(&[
            "token",
            "create",
            "--user",
            "rita",
            "--role",
            "admin",
            "--expires",
            "90d"
        ])
        .contains("does not hold")
    );
    let made = a.ok(&["token", "create", "--user", "rita", "--expires", "90d"]);
    let secret = made.lines().nth(1).unwrap();
    assert!(secret.starts_with("cst_"), "{made}");
    let id = secret.split('_').nth(1).unwrap();
    let tokens = a.ok(&["token", "list"]);
    assert!(
        tokens.contains(&format!("{id}\trita\treviewer")),
        "{tokens}"
    );
    assert!(tokens.contains("active"));
    assert!(!tokens.contains(secret));
    a.ok(&["token", "revoke", id]);
    assert!(a.ok(&["token", "list"]).contains("revoked"));
    a.ok(&["user", "disable", "rita"]);
    assert!(a.ok(&["user", "list"]).contains("disabled"));
    // The journal holds the Argon2id hash and the digest, never the secrets.
    let log = a.ok(&["log", "--json"]);
    assert!(
        log.contains("user.added")
            && log.contains("token.created")
            && log.contains("token.revoked")
    );
    assert!(log.contains("$argon2id$"));
    assert!(!log.contains(PASSWORD));
    assert!(!log.contains(&secret[20..]));
}
