//! `custos policy test`: how policy files would behave before they go
//! live: precision and recall on labelled messages, per policy and per
//! term, and the alerts they would add or remove on recent history
//! compared with the versions in force.

use anyhow::{Context, Result};
use custos_journal::{Journal, Opened};
use custos_model::{Event, EventKind, Timestamp};
use custos_policy::{Document, Engine, Policy};
use custos_review::Supervisor;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Runs the test of `files`.
pub fn run(
    journal: &Journal,
    actor: &str,
    supervisor: &Supervisor,
    files: &[PathBuf],
    against: Option<&Path>,
    days: u32,
    out: &mut impl Write,
) -> Result<()> {
    let mut candidates = Vec::new();
    for file in files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        candidates.push(custos_policy::parse_policy(
            &text,
            &file.display().to_string(),
        )?);
    }
    let versions: Vec<(Policy, u32)> = candidates
        .iter()
        .map(|p| {
            let next = supervisor
                .state
                .policies
                .get(&p.name)
                .map_or(1, |s| s.current().version + 1);
            (p.clone(), next)
        })
        .collect();
    let candidate = Engine::compile(&versions)?;
    if let Some(path) = against {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let items = custos_policy::tuning::load_labelled(&text, &path.display().to_string())?;
        let report = custos_policy::tuning::evaluate_labelled(&candidate, &items);
        writeln!(
            out,
            "on {} labelled messages from {}:",
            items.len(),
            path.display()
        )?;
        out.write_all(report.render().as_bytes())?;
    }
    // The versions in force of the same policies, for comparison.
    let live: Vec<(Policy, u32)> = custos_review::policies::active(&supervisor.state)?
        .into_iter()
        .filter(|(p, _)| candidates.iter().any(|c| c.name == p.name))
        .collect();
    let current = Engine::compile(&live)?;
    let since =
        Timestamp::from_micros(Timestamp::now().as_micros() - i64::from(days) * 86_400 * 1_000_000);
    let mut added: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut removed: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut messages = 0u64;
    let mut read = Vec::new();
    for entry in journal.entries(0) {
        let entry = entry?;
        if entry.leaf.kind != EventKind::Message {
            continue;
        }
        let Opened::Event(Event::Message(m)) = journal.open_entry(&entry)? else {
            continue;
        };
        if m.sent_at < since {
            continue;
        }
        messages += 1;
        let attachments: Vec<_> = m
            .attachments
            .iter()
            .map(|a| custos_policy::AttachmentInfo {
                media_type: a.media_type.clone(),
                size: a.size,
            })
            .collect();
        let doc = Document {
            channel: &m.channel,
            direction: m.direction,
            text: m.text.as_deref().unwrap_or(""),
            attachments: &attachments,
            sent_at: m.sent_at,
            units: &[],
            external: m.external_party().is_some(),
            new_external_contact: false,
            edited: false,
            deleted: false,
        };
        let now: Vec<String> = current
            .evaluate(&doc)
            .into_iter()
            .map(|x| x.policy)
            .collect();
        let then: Vec<String> = candidate
            .evaluate(&doc)
            .into_iter()
            .map(|x| x.policy)
            .collect();
        for p in then.iter().filter(|p| !now.contains(p)) {
            added.entry(p.clone()).or_default().push(entry.leaf.seq);
        }
        for p in now.iter().filter(|p| !then.contains(p)) {
            removed.entry(p.clone()).or_default().push(entry.leaf.seq);
        }
        read.push(entry.leaf.seq);
    }
    writeln!(
        out,
        "on the last {days} days of history ({messages} messages), against the versions in force:"
    )?;
    for (policy, version) in &versions {
        let a = added.get(&policy.name).map_or(&[][..], Vec::as_slice);
        let r = removed.get(&policy.name).map_or(&[][..], Vec::as_slice);
        let live = live
            .iter()
            .find(|(p, _)| p.name == policy.name)
            .map_or("none in force".to_string(), |(_, v)| {
                format!("v{v} in force")
            });
        writeln!(
            out,
            "  {} v{version} ({live}): {} alerts added, {} removed",
            policy.name,
            a.len(),
            r.len()
        )?;
        for (what, seqs) in [("added", a), ("removed", r)] {
            if !seqs.is_empty() {
                let shown: Vec<String> = seqs.iter().take(10).map(u64::to_string).collect();
                writeln!(
                    out,
                    "    {what}: entries {}{}",
                    shown.join(", "),
                    if seqs.len() > 10 { ", ..." } else { "" }
                )?;
            }
        }
    }
    if !read.is_empty() {
        let mut details = serde_json::Map::new();
        details.insert("reason".into(), "policy test".into());
        details.insert("messages".into(), read.len().into());
        details.insert("since".into(), since.to_string().into());
        journal.append_system(actor, "content.read", Some("policy.test"), details)?;
    }
    Ok(())
}
