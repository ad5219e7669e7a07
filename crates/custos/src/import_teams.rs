//! `custos import teams`: Microsoft Teams messages as Microsoft Graph returns them (chatMessage JSON files).

use anyhow::{Result, bail};
use clap::Args;
use custos_journal::Journal;
use std::io::Write;
use std::path::PathBuf;

/// `custos import teams`.
#[derive(Args, Debug)]
pub struct TeamsArgs {
    /// What to import.
    pub file: PathBuf,
}

/// Runs the import.
pub fn run(
    _journal: &Journal,
    _actor: &str,
    args: &TeamsArgs,
    _out: &mut impl Write,
) -> Result<()> {
    bail!("{}: this import is being built", args.file.display())
}
