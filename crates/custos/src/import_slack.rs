//! `custos import slack`: A Slack workspace export (.zip).

use anyhow::{Result, bail};
use clap::Args;
use custos_journal::Journal;
use std::io::Write;
use std::path::PathBuf;

/// `custos import slack`.
#[derive(Args, Debug)]
pub struct SlackArgs {
    /// What to import.
    pub file: PathBuf,
}

/// Runs the import.
pub fn run(
    _journal: &Journal,
    _actor: &str,
    args: &SlackArgs,
    _out: &mut impl Write,
) -> Result<()> {
    bail!("{}: this import is being built", args.file.display())
}
