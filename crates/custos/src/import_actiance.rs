//! `custos import actiance`: Actiance XML or Global Relay EML compliance exports (e.g. from Mattermost).

use anyhow::{Result, bail};
use clap::Args;
use custos_journal::Journal;
use std::io::Write;
use std::path::PathBuf;

/// `custos import actiance`.
#[derive(Args, Debug)]
pub struct ActianceArgs {
    /// What to import.
    pub file: PathBuf,
}

/// Runs the import.
pub fn run(
    _journal: &Journal,
    _actor: &str,
    args: &ActianceArgs,
    _out: &mut impl Write,
) -> Result<()> {
    bail!("{}: this import is being built", args.file.display())
}
