//! `custos import actiance`: Actiance XML or Global Relay EML compliance exports (e.g. from Mattermost).
//!
//! PATH is an Actiance XML file, a Global Relay `.eml` (recognised by its
//! `X-GlobalRelay-MsgType` header), a zip of either as Mattermost writes
//! its export batches (with the uploaded files at the paths the XML
//! names), or a folder of such files. The flavour is detected from the
//! content; one command takes both. Every file is read and checked
//! ([`actiance::read`]) before anything is written, then the attachments
//! are sealed and the events appended as for the other imports
//! ([`crate::import_rsmf::append_imported`]). Post ids are the source ids
//! in both flavours, so the XML and the EML of the same posts, or the same
//! file twice, archive each post once. Direction: see
//! `docs/imports/actiance.md`.

use crate::import_rsmf::{append_imported, custodian_phones, files_of, firm_rule, import_details};
use anyhow::{Context, Result};
use clap::Args;
use custos_capture::actiance::{self, Format, Options};
use custos_capture::rsmf_import::Limits;
use custos_journal::Journal;
use custos_model::Timestamp;
use std::io::Write;
use std::path::PathBuf;

/// The action of the event that records an import.
pub const IMPORT_ACTION: &str = "actiance.import";

/// `custos import actiance`.
#[derive(Args, Debug)]
pub struct ActianceArgs {
    /// An Actiance XML file, a Global Relay .eml, a zip of them, or a folder.
    pub file: PathBuf,
    /// An e-mail domain of the firm (repeatable). Without one, every
    /// participant is taken to be a member of the firm's own workspace
    /// (messages are internal).
    #[arg(long = "firm-domain", value_name = "DOMAIN")]
    pub firm_domains: Vec<String>,
    /// The channel name the messages are archived under.
    #[arg(long, default_value = "mattermost")]
    pub channel: String,
}

/// Runs the import; see the [module docs](self).
pub fn run(
    journal: &Journal,
    actor: &str,
    args: &ActianceArgs,
    out: &mut impl Write,
) -> Result<()> {
    let by_rule = firm_rule(custodian_phones(journal)?, &args.firm_domains);
    let everyone = args.firm_domains.is_empty();
    let is_firm = |a: &str| everyone || by_rule(a);
    let limits = Limits::default();
    let options = Options {
        channel: args.channel.trim().to_lowercase(),
        captured_at: Timestamp::now(),
        is_firm: &is_firm,
    };
    let mut checked = Vec::new();
    for path in files_of(&args.file, &[".xml", ".eml", ".zip"])? {
        let shown = path.display().to_string();
        let bytes = std::fs::read(&path).with_context(|| format!("reading {shown}"))?;
        let export = actiance::read(&shown, &bytes, &options, &limits)
            .map_err(|e| anyhow::anyhow!("{e}; nothing was imported"))?;
        checked.push((path, bytes, export));
    }
    for (path, bytes, export) in checked {
        let shown = path.display().to_string();
        let files = &export.files;
        let lookup = |name: &str| files.get(name).map(Vec::as_slice);
        let imported = export.imported;
        let (messages, skipped) = (imported.messages, imported.skipped.clone());
        let appended = append_imported(journal, &shown, imported, &lookup)?;
        let mut details = import_details(&path, &bytes, messages, &skipped, &appended);
        let format = match export.format {
            Format::ActianceXml => "actiance-xml",
            Format::GlobalRelayEml => "globalrelay-eml",
            Format::Zip => "zip",
        };
        details.insert("format".into(), format.into());
        details.insert("channel".into(), options.channel.clone().into());
        journal.append_system(actor, IMPORT_ACTION, None, details)?;
        writeln!(
            out,
            "{shown}: {messages} messages read, {} archived, {} already in the archive",
            appended.added, appended.duplicates
        )?;
    }
    Ok(())
}
