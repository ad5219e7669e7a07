//! Wiring of `custos case`: cases (matters) with their scope, saved
//! searches, review set and hold. The review set is every message that
//! matches any saved search within the case's scope; reading it is an
//! audited search naming the case.

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use custos_governance::Holds;
use custos_governance::cases::{Case, Cases, Opening, Tag};
use custos_journal::Journal;
use custos_query::{Field, Query};
use custos_server::search::{self as audit, ArchiveResolver};
use std::io::Write;
use std::path::Path;

/// `custos case ...`
#[derive(Subcommand, Debug)]
pub enum CaseCommand {
    /// Open a case (matter) with its scope.
    Open {
        /// Its name, e.g. "SEC inquiry 2026-11".
        name: String,
        /// What it is about.
        #[arg(long, default_value = "")]
        description: String,
        /// A custodian (employee id) in scope; repeatable.
        #[arg(long = "custodian")]
        custodians: Vec<String>,
        /// Messages sent from this date (YYYY-MM-DD).
        #[arg(long)]
        from: Option<String>,
        /// Messages sent before this date (YYYY-MM-DD).
        #[arg(long)]
        to: Option<String>,
    },
    /// List cases.
    List {
        /// JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// A case's scope, saved searches (with hit counts), review tallies and holds.
    Show {
        /// Case id (CASE-...) or name.
        case: String,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Save (or replace) a named search in a case.
    Search {
        /// Case id or name.
        case: String,
        /// The search's name.
        name: String,
        /// The query (see docs/search.md).
        query: String,
    },
    /// Page through the review set (an audited read): messages matching the
    /// case's saved searches within its scope, with their review tags.
    Review {
        /// Case id or name.
        case: String,
        /// Only this saved search.
        #[arg(long)]
        search: Option<String>,
        /// Only messages not yet tagged.
        #[arg(long)]
        untagged: bool,
        /// Messages per page.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Messages to skip.
        #[arg(long, default_value_t = 0)]
        offset: usize,
    },
    /// Record a review decision: relevant, not-relevant or privileged.
    Tag {
        /// Case id or name.
        case: String,
        /// The message's journal entry (as `case review` shows it).
        seq: u64,
        /// relevant, not-relevant or privileged.
        tag: String,
        /// Why (e.g. the privilege claimed).
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Place a legal hold over the case's scope.
    Hold {
        /// Case id or name.
        case: String,
        /// Why (the notice, the subpoena).
        #[arg(long)]
        reason: String,
    },
    /// Close a case (its holds stay until released).
    Close {
        /// Case id or name.
        case: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

/// The query of a case's review set: any of its saved searches (or the
/// one named), within its custodians and dates.
pub fn review_query(case: &Case, only: Option<&str>) -> Result<Query> {
    let mut searches = Vec::new();
    for s in case.searches.values() {
        if only.is_none_or(|name| name == s.name) {
            searches.push(crate::search::parse_query(&s.query)?);
        }
    }
    if searches.is_empty() {
        match only {
            Some(name) => bail!("case {} has no saved search {name:?}", case.id),
            None => bail!(
                "case {} has no saved searches yet: custos case search {} NAME QUERY",
                case.id,
                case.id
            ),
        }
    }
    let mut parts = vec![Query::Or(searches)];
    if !case.opening.custodians.is_empty() {
        parts.push(Query::Or(
            case.opening
                .custodians
                .iter()
                .map(|c| Query::Term {
                    field: Some(Field::Custodian),
                    text: c.clone(),
                    fuzzy: 0,
                })
                .collect(),
        ));
    }
    if let Some(from) = case.opening.from {
        parts.push(Query::After(from));
    }
    if let Some(to) = case.opening.to {
        parts.push(Query::Before(to));
    }
    Ok(Query::And(parts))
}

/// Runs a case command.
pub fn run(
    data: &Path,
    journal: &Journal,
    actor: &str,
    command: &CaseCommand,
    out: &mut impl Write,
) -> Result<()> {
    let mut cases = Cases::load(journal)?;
    match command {
        CaseCommand::Open {
            name,
            description,
            custodians,
            from,
            to,
        } => {
            let registry = crate::custodians::registry(journal)?;
            for c in custodians {
                if !registry.contains_key(c) {
                    bail!("--custodian {c}: no such custodian (custos custodian list)");
                }
            }
            let opening = Opening {
                name: name.clone(),
                description: description.clone(),
                custodians: custodians.clone(),
                from: from
                    .as_deref()
                    .map(|d| crate::day_start(d, "--from"))
                    .transpose()?,
                to: to
                    .as_deref()
                    .map(|d| crate::day_start(d, "--to"))
                    .transpose()?,
            };
            let id = cases.open(journal, actor, opening)?;
            writeln!(
                out,
                "opened {id} {name:?}; next: custos case search {id} NAME QUERY"
            )?;
        }
        CaseCommand::List { json } => {
            for c in cases.all.values() {
                if *json {
                    writeln!(out, "{}", serde_json::to_string(c)?)?;
                } else {
                    writeln!(
                        out,
                        "{:<12} {:<8} {}  ({} searches, {} reviewed, {} holds)",
                        c.id,
                        if c.closed.is_some() { "closed" } else { "open" },
                        c.opening.name,
                        c.searches.len(),
                        c.review.len(),
                        c.holds.len()
                    )?;
                }
            }
        }
        CaseCommand::Show { case, json } => {
            let c = cases.find(case)?;
            if *json {
                writeln!(out, "{}", serde_json::to_string(c)?)?;
                return Ok(());
            }
            writeln!(out, "{}  {}", c.id, c.opening.name)?;
            if !c.opening.description.is_empty() {
                writeln!(out, "  {}", c.opening.description)?;
            }
            writeln!(out, "  opened by {} at {}", c.opened_by, c.opened_at)?;
            writeln!(
                out,
                "  scope: custodians {}; from {}; before {}",
                if c.opening.custodians.is_empty() {
                    "any".to_string()
                } else {
                    c.opening.custodians.join(", ")
                },
                c.opening.from.map(|t| t.to_string()).unwrap_or("-".into()),
                c.opening.to.map(|t| t.to_string()).unwrap_or("-".into()),
            )?;
            let index = crate::search::open_index(data, journal)?;
            let resolver = ArchiveResolver::load(journal, crate::search::people(journal)?)
                .map_err(anyhow::Error::msg)?;
            for s in c.searches.values() {
                let hits = index.matching(&review_query(c, Some(&s.name))?, &resolver)?;
                writeln!(
                    out,
                    "  search {:?}: {}  ({} messages in scope)",
                    s.name,
                    s.query,
                    hits.len()
                )?;
            }
            writeln!(
                out,
                "  review: {} relevant, {} not relevant, {} privileged",
                c.tagged(Tag::Relevant).len(),
                c.tagged(Tag::NotRelevant).len(),
                c.tagged(Tag::Privileged).len()
            )?;
            for h in &c.holds {
                writeln!(out, "  hold {h}")?;
            }
            if let Some((by, at, reason)) = &c.closed {
                writeln!(out, "  closed by {by} at {at}: {reason}")?;
            }
        }
        CaseCommand::Search { case, name, query } => {
            crate::search::parse_query(query)?;
            cases.save_search(journal, actor, case, name, query)?;
            let c = cases.find(case)?;
            let index = crate::search::open_index(data, journal)?;
            let resolver = ArchiveResolver::load(journal, crate::search::people(journal)?)
                .map_err(anyhow::Error::msg)?;
            let hits = index.matching(&review_query(c, Some(name))?, &resolver)?;
            writeln!(
                out,
                "saved search {name:?} in {}: {} messages in scope",
                c.id,
                hits.len()
            )?;
        }
        CaseCommand::Review {
            case,
            search,
            untagged,
            limit,
            offset,
        } => {
            let c = cases.open_case(case)?;
            let query = review_query(c, search.as_deref())?;
            let page = Page {
                untagged: *untagged,
                limit: *limit,
                offset: *offset,
            };
            review(data, journal, actor, c, &query, &page, out)?;
        }
        CaseCommand::Tag {
            case,
            seq,
            tag,
            note,
        } => {
            let tag: Tag = tag.parse()?;
            let index = crate::search::open_index(data, journal)?;
            if index.get(*seq)?.is_none() {
                bail!(
                    "entry {seq} is not a message in the archive (custos case review shows entries)"
                );
            }
            cases.tag(journal, actor, case, *seq, tag, note)?;
            writeln!(
                out,
                "entry {seq} tagged {} in {}",
                tag.name(),
                cases.find(case)?.id
            )?;
        }
        CaseCommand::Hold { case, reason } => {
            let mut holds = Holds::load(journal)?;
            let hold = cases.hold(journal, &mut holds, actor, case, reason)?;
            writeln!(
                out,
                "placed hold {hold} over the scope of {}",
                cases.find(case)?.id
            )?;
        }
        CaseCommand::Close { case, reason } => {
            cases.close(journal, actor, case, reason)?;
            writeln!(out, "closed {}", cases.find(case)?.id)?;
        }
    }
    Ok(())
}

/// Which part of the review set to show.
struct Page {
    untagged: bool,
    limit: usize,
    offset: usize,
}

/// Shows a page of the review set in capture order, journalled first.
fn review(
    data: &Path,
    journal: &Journal,
    actor: &str,
    case: &Case,
    query: &Query,
    page: &Page,
    out: &mut impl Write,
) -> Result<()> {
    let index = crate::search::open_index(data, journal)?;
    let resolver = ArchiveResolver::load(journal, crate::search::people(journal)?)
        .map_err(anyhow::Error::msg)?;
    let mut seqs = index
        .matching(query, &resolver)
        .context("running the review set")?;
    if page.untagged {
        seqs.retain(|s| !case.review.contains_key(s));
    }
    let shown: Vec<u64> = seqs
        .iter()
        .skip(page.offset)
        .take(page.limit)
        .copied()
        .collect();
    journal.append_system(
        actor,
        audit::SEARCHED,
        Some(&case.id),
        audit::searched(
            &query.to_string(),
            "case review",
            Some(&case.id),
            seqs.len(),
            &shown,
        ),
    )?;
    writeln!(
        out,
        "{}: {} messages{} in the review set; showing {}-{}",
        case.id,
        seqs.len(),
        if page.untagged { " not yet tagged" } else { "" },
        page.offset + 1,
        page.offset + shown.len()
    )?;
    for seq in shown {
        let Some(hit) = index.get(seq)? else { continue };
        let tag = case
            .review
            .get(&hit.seq)
            .map(|d| d.tag.name())
            .unwrap_or("untagged");
        writeln!(
            out,
            "\n#{}  [{tag}]  {}  {} -> {}  conversation {}",
            hit.seq,
            hit.sent_at,
            hit.from,
            hit.to.join(", "),
            hit.conversation
        )?;
        writeln!(out, "    {}", hit.text.replace('\n', " "))?;
        for e in &hit.edits {
            writeln!(out, "    (edited) {}", e.replace('\n', " "))?;
        }
    }
    Ok(())
}
