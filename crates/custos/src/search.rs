//! Wiring of `custos search` and `custos rebuild search`: the index under
//! `DATA/state/search`, brought up to date before each use, the resolver
//! over the archive's state, and the audit events (the search, and every
//! message shown) journalled before anything is printed.

use anyhow::{Context, Result, bail};
use custos_journal::Journal;
use custos_search::{Hit, SearchIndex, SearchOptions, Sort};
use custos_server::search::{self as audit, ArchiveResolver, Person};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the index lives in an archive.
pub fn index_path(data: &Path) -> PathBuf {
    data.join("state").join("search")
}

/// Opens the archive's index and brings it up to date with the journal.
pub fn open_index(data: &Path, journal: &Journal) -> Result<SearchIndex> {
    let path = index_path(data);
    let index = SearchIndex::open(&path).with_context(|| format!("opening {}", path.display()))?;
    index
        .catch_up(journal)
        .context("updating the search index")?;
    Ok(index)
}

/// Rebuilds the index from the whole journal.
pub fn rebuild(data: &Path, journal: &Journal, out: &mut impl Write) -> Result<()> {
    let started = std::time::Instant::now();
    let index =
        SearchIndex::rebuild(&index_path(data), journal).context("rebuilding the search index")?;
    writeln!(
        out,
        "search index rebuilt: {} messages from {} journal entries in {:.1} s",
        index.messages(),
        journal.size(),
        started.elapsed().as_secs_f64()
    )?;
    Ok(())
}

/// The custodians as queries name them.
pub fn people(journal: &Journal) -> Result<Vec<Person>> {
    Ok(crate::custodians::registry(journal)?
        .into_values()
        .map(|c| Person {
            address: custos_model::party_id(&c.phone),
            id: c.id,
            name: c.name,
            units: c.units,
        })
        .collect())
}

/// Parses a query, or explains where it is wrong.
pub fn parse_query(text: &str) -> Result<custos_query::Query> {
    custos_query::parse(text).map_err(|e| anyhow::anyhow!("query {e}\n{}", e.pointer(text)))
}

/// What `custos search` was asked.
pub struct SearchRequest<'a> {
    /// The query text.
    pub query: &'a str,
    /// Page, order.
    pub options: SearchOptions,
    /// Messages of conversation to show around each hit.
    pub context: Option<usize>,
    /// Why (recorded).
    pub reason: Option<&'a str>,
    /// The case or matter (recorded).
    pub matter: Option<&'a str>,
    /// JSON output.
    pub json: bool,
}

/// Runs a search, journals it, then prints it.
pub fn run(
    data: &Path,
    journal: &Journal,
    actor: &str,
    request: &SearchRequest,
    out: &mut impl Write,
) -> Result<()> {
    let reason = match (request.reason, request.matter) {
        (Some(r), _) if !r.trim().is_empty() => r.trim(),
        (_, Some(m)) if !m.trim().is_empty() => "matter",
        _ => bail!(
            "a search reads archived content and is journalled: say why with --reason (or name the case with --matter)"
        ),
    };
    let query = parse_query(request.query)?;
    let index = open_index(data, journal)?;
    let resolver = ArchiveResolver::load(journal, people(journal)?).map_err(anyhow::Error::msg)?;
    let results = index.search(&query, &resolver, &request.options)?;
    let shown: Vec<u64> = results.hits.iter().map(|h| h.seq).collect();
    journal.append_system(
        actor,
        audit::SEARCHED,
        None,
        audit::searched(request.query, reason, request.matter, results.total, &shown),
    )?;
    let mut contexts = Vec::new();
    if let Some(n) = request.context {
        for hit in &results.hits {
            contexts.push(index.around(hit.seq, n, n)?);
        }
        let seqs: Vec<u64> = contexts.iter().flatten().map(|h| h.seq).collect();
        if !seqs.is_empty() {
            journal.append_system(
                actor,
                audit::OPENED,
                None,
                audit::opened(reason, request.matter, &seqs),
            )?;
        }
    }
    if request.json {
        let value = serde_json::json!({
            "query": request.query,
            "total": results.total,
            "offset": request.options.offset,
            "hits": results.hits,
            "context": if request.context.is_some() { Some(&contexts) } else { None },
        });
        writeln!(out, "{}", serde_json::to_string(&value)?)?;
        return Ok(());
    }
    let (open, close) = if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        ("\x1b[1;33m", "\x1b[0m")
    } else {
        ("[", "]")
    };
    let first = request.options.offset + 1;
    let last = request.options.offset + results.hits.len();
    if results.hits.is_empty() {
        writeln!(out, "{} messages match; none on this page", results.total)?;
        return Ok(());
    }
    writeln!(
        out,
        "{} messages match; showing {first}-{last} ({})",
        results.total,
        sort_name(request.options.sort)
    )?;
    for (n, hit) in results.hits.iter().enumerate() {
        writeln!(out)?;
        print_hit(out, hit, "")?;
        writeln!(out, "    {}", hit.snippet.marked(open, close))?;
        if let Some(context) = contexts.get(n) {
            for h in context {
                let mark = if h.seq == hit.seq { ">" } else { " " };
                writeln!(
                    out,
                    "  {mark} {}  {}: {}",
                    h.sent_at,
                    h.from,
                    h.text.replace('\n', " ")
                )?;
            }
        }
    }
    Ok(())
}

fn print_hit(out: &mut impl Write, hit: &Hit, indent: &str) -> Result<()> {
    let mut flags = Vec::new();
    if !hit.edits.is_empty() {
        flags.push("edited".to_string());
    }
    if hit.deleted {
        flags.push("deleted at source".to_string());
    }
    if !hit.attachments.is_empty() {
        flags.push(format!("attachments: {}", hit.attachments.join(", ")));
    }
    writeln!(
        out,
        "{indent}#{}  {}  {} {}  {} -> {}  conversation {}{}",
        hit.seq,
        hit.sent_at,
        hit.channel,
        hit.direction,
        hit.from,
        hit.to.join(", "),
        hit.conversation,
        if flags.is_empty() {
            String::new()
        } else {
            format!("  [{}]", flags.join("; "))
        }
    )?;
    Ok(())
}

fn sort_name(sort: Sort) -> &'static str {
    match sort {
        Sort::Relevance => "best match first",
        Sort::Newest => "newest first",
        Sort::Oldest => "oldest first",
    }
}
