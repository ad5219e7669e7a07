//! `custos import email`: E-mail: `.eml` files, mbox files or Maildir folders.

use anyhow::{Result, bail};
use clap::Args;
use custos_journal::Journal;
use std::io::Write;
use std::path::PathBuf;

/// `custos import email`.
#[derive(Args, Debug)]
pub struct EmailArgs {
    /// What to import.
    pub file: PathBuf,
}

/// Runs the import.
pub fn run(
    _journal: &Journal,
    _actor: &str,
    args: &EmailArgs,
    _out: &mut impl Write,
) -> Result<()> {
    bail!("{}: this import is being built", args.file.display())
}
