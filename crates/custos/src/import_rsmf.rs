//! `custos import rsmf`: RSMF files (.rsmf) exported by another archive.

use anyhow::{Result, bail};
use clap::Args;
use custos_journal::Journal;
use std::io::Write;
use std::path::PathBuf;

/// `custos import rsmf`.
#[derive(Args, Debug)]
pub struct RsmfArgs {
    /// What to import.
    pub file: PathBuf,
}

/// Runs the import.
pub fn run(_journal: &Journal, _actor: &str, args: &RsmfArgs, _out: &mut impl Write) -> Result<()> {
    bail!("{}: this import is being built", args.file.display())
}
