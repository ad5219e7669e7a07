//! One RFC 5322 message per e-mail message: the headers it was sent with
//! (From, To, Date, Subject from the source's `subject` field, Message-ID
//! from its source id), a quoted-printable text/plain body, and each
//! attachment as a base64 MIME part. Messages of other channels have no EML.

use crate::export::{Ctx, Written};
use crate::plan::Thread;
use crate::{Error, mime};
use std::io::Write;

/// The MIME boundary (safe: `=_` cannot occur in the encoded bodies).
const BOUNDARY: &str = "=_custos-eml";

/// Writes `eml/CONVERSATION/BATES.eml` for an e-mail message.
pub fn write(ctx: &Ctx<'_>, t: &Thread<'_>) -> Result<Written, Error> {
    let m = t.message;
    let path = format!(
        "eml/{}/{}.eml",
        ctx.plan.conversations[t.conversation].dir, t.bates
    );
    let shown = |address: &str| {
        let person = ctx.person(address);
        mime::mailbox(
            person.display,
            &mime::address_for(person.email.unwrap_or(address), &m.channel),
        )
    };
    let mut head = String::with_capacity(1024);
    mime::header(&mut head, "From", &shown(&m.sender));
    if !m.recipients.is_empty() {
        let to: Vec<String> = m.recipients.iter().map(|r| shown(r)).collect();
        mime::header(&mut head, "To", &to.join(", "));
    }
    if let Some(subject) = m.extra.get("subject").and_then(|s| s.as_str()) {
        mime::header(&mut head, "Subject", subject);
    }
    mime::header(&mut head, "Date", &mime::date(m.sent_at, &ctx.zone));
    let id = m.source_id.trim();
    let id = if id.starts_with('<') && id.ends_with('>') {
        id.to_string()
    } else {
        format!("<{id}>")
    };
    mime::header(&mut head, "Message-ID", &id);
    if let Some(reply_to) = &m.reply_to {
        let reply_to = reply_to.trim();
        if reply_to.starts_with('<') {
            mime::header(&mut head, "In-Reply-To", reply_to);
        } else {
            mime::header(&mut head, "In-Reply-To", &format!("<{reply_to}>"));
        }
    }
    mime::header(&mut head, "MIME-Version", "1.0");
    mime::header(&mut head, "X-Custos-Bates", &t.bates);
    mime::header(&mut head, "X-Custos-Journal-Seq", &t.seq.to_string());
    if let Some((_, d)) = t.deletions.first() {
        mime::header(
            &mut head,
            "X-Custos-Deleted",
            &format!("{} by {}", d.deleted_at, d.deleted_by),
        );
    }
    for (_, e) in &t.edits {
        mime::header(
            &mut head,
            "X-Custos-Edited",
            &format!("{} by {}", e.edited_at, e.editor),
        );
    }

    let body = mime::quoted_printable(m.text.as_deref().unwrap_or(""));
    let mut out = ctx.create(&path)?;
    let full = path.clone();
    let io = |source: std::io::Error| Error::Io {
        path: full.clone().into(),
        source,
    };
    let mut attachments = Vec::new();
    for a in &m.attachments {
        match ctx.attachment(&a.sha256) {
            Ok(bytes) if custos_model::Digest::of(&bytes) == a.sha256 => {
                attachments.push((a, bytes))
            }
            Ok(bytes) => {
                return Err(Error::Blob {
                    bates: t.bates.clone(),
                    name: a.name.clone().unwrap_or_default(),
                    expected: a.sha256.to_string(),
                    actual: custos_model::Digest::of(&bytes).to_string(),
                });
            }
            Err(_) => mime::header(
                &mut head,
                if ctx.redaction().is_some() {
                    "X-Custos-Withheld-Attachment"
                } else {
                    "X-Custos-Missing-Attachment"
                },
                &format!(
                    "{} ({}, SHA-256 {})",
                    a.name.as_deref().unwrap_or("(no name)"),
                    a.media_type,
                    a.sha256
                ),
            ),
        }
    }
    if attachments.is_empty() {
        head.push_str("Content-Type: text/plain; charset=utf-8\r\n");
        head.push_str("Content-Transfer-Encoding: quoted-printable\r\n\r\n");
        head.push_str(&body);
        head.push_str("\r\n");
        out.write_all(head.as_bytes()).map_err(io)?;
        return out.finish();
    }
    mime::header(
        &mut head,
        "Content-Type",
        &format!("multipart/mixed; boundary=\"{BOUNDARY}\""),
    );
    head.push_str("\r\n");
    head.push_str(&format!("--{BOUNDARY}\r\n"));
    head.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    head.push_str("Content-Transfer-Encoding: quoted-printable\r\n\r\n");
    head.push_str(&body);
    head.push_str("\r\n");
    out.write_all(head.as_bytes()).map_err(io)?;
    for (a, bytes) in attachments {
        let name = a.name.as_deref().unwrap_or("attachment");
        let mut part = format!("--{BOUNDARY}\r\n");
        part.push_str(&format!(
            "Content-Type: {}{}\r\n",
            a.media_type,
            filename_param("name", name)
        ));
        part.push_str(&format!(
            "Content-Disposition: attachment{}\r\n",
            filename_param("filename", name)
        ));
        part.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
        out.write_all(part.as_bytes()).map_err(io)?;
        let mut b64 = mime::Base64Lines::new(out);
        b64.write_all(&bytes).map_err(io)?;
        out = b64.finish().map_err(io)?;
    }
    out.write_all(format!("--{BOUNDARY}--\r\n").as_bytes())
        .map_err(io)?;
    out.finish()
}

/// `; name="file.pdf"`, or the RFC 2231 form for names that are not plain
/// ASCII (`; filename*=UTF-8''%C3%A7.pdf`).
fn filename_param(param: &str, name: &str) -> String {
    let plain = name
        .chars()
        .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ');
    if plain {
        return format!(";\r\n {param}=\"{name}\"");
    }
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!(";\r\n {param}*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_quoted_or_rfc2231_encoded() {
        assert_eq!(filename_param("name", "a b.pdf"), ";\r\n name=\"a b.pdf\"");
        assert_eq!(
            filename_param("filename", "ação.pdf"),
            ";\r\n filename*=UTF-8''a%C3%A7%C3%A3o.pdf"
        );
    }
}
