//! HTML and PDF transcripts of each slice, rendered by `custos-transcript`.

use crate::export::{Ctx, Written};
use crate::rsmf::{application, conversation_display, local};
use crate::{Error, Side};
use custos_model::DeliveryState;
use custos_transcript::{
    AttachmentLine, Deleted, EditLine, Item, Participant, ReactionLine, Transcript,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;

/// The transcript of slice `index`.
fn transcript(ctx: &Ctx<'_>, index: usize) -> Transcript {
    let slice = &ctx.plan.slices[index];
    let threads = &ctx.plan.threads[slice.threads.clone()];
    let conversation = &ctx.plan.conversations[slice.conversation];
    let custodian = ctx.custodians[slice.conversation].as_deref();

    let mut addresses: BTreeSet<&str> = BTreeSet::new();
    addresses.extend(custodian);
    for t in threads {
        addresses.insert(&t.message.sender);
        addresses.extend(t.message.recipients.iter().map(String::as_str));
    }
    let participants = addresses
        .iter()
        .map(|a| {
            let shown = ctx.person(a);
            Participant {
                id: a.to_string(),
                display: shown.display.to_string(),
                side: if Some(*a) == custodian {
                    Side::Firm
                } else {
                    shown.side
                },
            }
        })
        .collect();

    let bates_of: HashMap<&str, &str> = threads
        .iter()
        .map(|t| (t.message.source_id.as_str(), t.bates.as_str()))
        .collect();
    let items = threads
        .iter()
        .map(|t| {
            let m = t.message;
            let mut current: BTreeMap<&str, &str> = BTreeMap::new();
            for (_, r) in &t.reactions {
                match r.emoji.as_deref() {
                    Some(emoji) if !emoji.is_empty() => current.insert(&r.sender, emoji),
                    _ => current.remove(r.sender.as_str()),
                };
            }
            let status = t
                .statuses
                .iter()
                .max_by_key(|(seq, s)| (rank(s.state), s.at, *seq))
                .map(|(_, s)| {
                    let state = match s.state {
                        DeliveryState::Sent => "sent",
                        DeliveryState::Delivered => "delivered",
                        DeliveryState::Read => "read",
                        DeliveryState::Played => "played",
                        DeliveryState::Failed => "failed",
                    };
                    format!("{state} {}", local(s.at, &ctx.zone))
                });
            Item {
                bates: t.bates.clone(),
                sender: m.sender.clone(),
                sent_at: m.sent_at,
                text: m.text.clone(),
                attachments: m
                    .attachments
                    .iter()
                    .map(|a| AttachmentLine {
                        name: a.name.clone().unwrap_or_else(|| "(no name)".into()),
                        media_type: a.media_type.clone(),
                        size: a.size,
                        sha256: a.sha256.to_string(),
                    })
                    .collect(),
                edits: t
                    .edits
                    .iter()
                    .map(|(_, e)| EditLine {
                        at: e.edited_at,
                        text: e.text.clone(),
                    })
                    .collect(),
                deleted: t.deletions.first().map(|(_, d)| Deleted {
                    at: d.deleted_at,
                    by: ctx.person(&d.deleted_by).display.to_string(),
                }),
                reactions: current
                    .iter()
                    .map(|(by, emoji)| ReactionLine {
                        by: ctx.person(by).display.to_string(),
                        emoji: emoji.to_string(),
                    })
                    .collect(),
                reply_to: m
                    .reply_to
                    .as_deref()
                    .and_then(|r| bates_of.get(r))
                    .map(|b| b.to_string()),
                status,
            }
        })
        .collect();

    let mut subtitle = vec![format!(
        "Conversation {} ({}), {} message(s)",
        conversation.id,
        slice.label,
        threads.len()
    )];
    if let Some(c) = custodian {
        subtitle.push(format!("Custodian: {}", ctx.person(c).display));
    }
    let request = ctx.request;
    subtitle.push(match &request.matter {
        Some(matter) => format!("Export {}, matter {matter}", request.id),
        None => format!("Export {}", request.id),
    });
    Transcript {
        title: format!(
            "{}: {}",
            application(&conversation.channel),
            conversation_display(ctx, slice.conversation)
        ),
        subtitle,
        time_zone: request.time_zone.clone(),
        participants,
        items,
        footer: format!("custos export {}", request.id),
    }
}

/// How far a delivery got (failed counts as the least).
fn rank(state: DeliveryState) -> u8 {
    match state {
        DeliveryState::Failed => 0,
        DeliveryState::Sent => 1,
        DeliveryState::Delivered => 2,
        DeliveryState::Read => 3,
        DeliveryState::Played => 4,
    }
}

fn write_file(ctx: &Ctx<'_>, path: String, bytes: &[u8]) -> Result<Written, Error> {
    let mut out = ctx.create(&path)?;
    out.write_all(bytes).map_err(Error::io(&path))?;
    out.finish()
}

/// Writes `html/STEM.html`.
pub fn write_html(ctx: &Ctx<'_>, index: usize) -> Result<Written, Error> {
    let path = format!("html/{}.html", ctx.plan.slices[index].stem);
    let html = custos_transcript::html(&transcript(ctx, index)).map_err(|e| Error::Transcript {
        file: path.clone(),
        reason: e.to_string(),
    })?;
    write_file(ctx, path, html.as_bytes())
}

/// Writes `pdf/STEM.pdf`.
pub fn write_pdf(ctx: &Ctx<'_>, index: usize) -> Result<Written, Error> {
    let path = format!("pdf/{}.pdf", ctx.plan.slices[index].stem);
    let pdf = custos_transcript::pdf(&transcript(ctx, index)).map_err(|e| Error::Transcript {
        file: path.clone(),
        reason: e.to_string(),
    })?;
    write_file(ctx, path, &pdf)
}
