//! The transcript as one self-contained HTML file: inline CSS, no scripts,
//! no external resources, every text escaped, print styles so it also goes
//! to paper with sensible page breaks.

use std::fmt::Write;

use crate::Side;
use crate::view::{Entry, Message, View, side_text};

const CSS: &str = "\
:root{color-scheme:light}
body{margin:0;background:#efeae2;font:14px/1.4 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#111}
main{max-width:820px;margin:0 auto;padding:16px}
header{background:#fff;border:1px solid #ccc;border-radius:6px;padding:12px 16px;margin-bottom:16px}
header h1{font-size:20px;margin:0 0 6px}
header p{margin:2px 0}
header ul{margin:6px 0;padding-left:20px}
.day{text-align:center;margin:16px 0 8px}
.day span{background:#dfe9f3;border-radius:6px;padding:3px 10px;font-size:12px;color:#333}
.msg{display:flex;margin:6px 0}
.msg.firm{justify-content:flex-end}
.bubble{max-width:72%;border-radius:8px;padding:6px 10px;box-shadow:0 1px 1px rgba(0,0,0,.15);overflow-wrap:anywhere}
.firm .bubble{background:#dcf8c6}
.external .bubble{background:#fff}
.internal .bubble{background:#dce9f8;border-left:4px solid #5b8cc9}
.who{font-weight:bold;font-size:13px}
.tag{font-weight:normal;font-size:11px;color:#36c;border:1px solid #36c;border-radius:3px;padding:0 3px;margin-left:4px}
.meta,.status{font-size:11px;color:#555}
.reply{font-size:12px;font-style:italic;border-left:3px solid #999;padding-left:6px;margin:3px 0}
.text{white-space:pre-wrap;margin:3px 0}
.label{font-size:12px;font-style:italic;color:#444}
.deleted{font-weight:bold;color:#b00020;font-size:12px}
del{color:#555}
.att,.react{font-size:12px;margin:3px 0}
.att code{font-size:10px;word-break:break-all}
footer{margin-top:16px;font-size:11px;color:#555;text-align:center}
@page{size:A4;margin:15mm 12mm 18mm;@bottom-right{content:'Page ' counter(page) ' of ' counter(pages);font-size:9px}}
@media print{body{background:#fff}main{max-width:none;padding:0}.bubble{box-shadow:none;border:1px solid #bbb;break-inside:avoid-page}.day{break-after:avoid}header{break-after:avoid}}
";

/// Renders the whole file.
pub(crate) fn render(view: &View<'_>) -> String {
    let mut out = String::with_capacity(4096 + view.entries.len() * 600);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(out, "<title>{}</title>", esc(view.title));
    let _ = writeln!(out, "<style>\n{CSS}</style>\n</head>\n<body>\n<main>");

    out.push_str("<header>\n");
    let _ = writeln!(out, "<h1>{}</h1>", esc(view.title));
    for line in view.subtitle {
        let _ = writeln!(out, "<p>{}</p>", esc(line));
    }
    let _ = writeln!(out, "<p>{}</p>", esc(&view.zone_line));
    out.push_str("<p>Participants:</p>\n<ul>\n");
    for p in &view.participants {
        let _ = writeln!(
            out,
            "<li><b>{}</b> ({}): {}</li>",
            esc(p.display),
            esc(p.id),
            side_text(p.side)
        );
    }
    out.push_str("</ul>\n</header>\n");

    for entry in &view.entries {
        match entry {
            Entry::Day(day) => {
                let _ = writeln!(out, "<div class=\"day\"><span>{}</span></div>", esc(day));
            }
            Entry::Message(m) => message(&mut out, m),
        }
    }

    let _ = writeln!(out, "<footer>{}</footer>", esc(view.footer));
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn message(out: &mut String, m: &Message<'_>) {
    let class = match m.side {
        Side::Firm => "firm",
        Side::External => "external",
        Side::Internal => "internal",
    };
    let _ = writeln!(
        out,
        "<div class=\"msg {class}\" id=\"{}\"><div class=\"bubble\">",
        esc(m.bates)
    );
    let tag = if m.side == Side::Internal {
        "<span class=\"tag\">internal</span>"
    } else {
        ""
    };
    let _ = writeln!(out, "<div class=\"who\">{}{tag}</div>", esc(m.sender));
    let _ = writeln!(
        out,
        "<div class=\"meta\">{} · <time datetime=\"{}\">{}</time></div>",
        esc(m.bates),
        m.sent_at,
        esc(&m.stamp)
    );
    if let Some(target) = m.reply_to {
        let _ = writeln!(
            out,
            "<div class=\"reply\">Reply to <a href=\"#{}\">{}</a></div>",
            esc(target),
            esc(target)
        );
    }
    if let Some(deleted) = &m.deleted {
        let _ = writeln!(out, "<div class=\"deleted\">{}</div>", esc(deleted));
    }
    if let Some(text) = m.text {
        if m.deleted.is_some() || !m.edits.is_empty() {
            out.push_str("<div class=\"label\">Original text:</div>\n");
        }
        if m.deleted.is_some() {
            let _ = writeln!(out, "<div class=\"text\"><del>{}</del></div>", esc(text));
        } else {
            let _ = writeln!(out, "<div class=\"text\">{}</div>", esc(text));
        }
    }
    for (label, text) in &m.edits {
        let _ = writeln!(out, "<div class=\"label\">{}:</div>", esc(label));
        if m.deleted.is_some() {
            let _ = writeln!(out, "<div class=\"text\"><del>{}</del></div>", esc(text));
        } else {
            let _ = writeln!(out, "<div class=\"text\">{}</div>", esc(text));
        }
    }
    for a in &m.attachments {
        let _ = writeln!(
            out,
            "<div class=\"att\">Attachment: <b>{}</b> ({}, {})<br><code>SHA-256 {}</code></div>",
            esc(a.name),
            esc(a.media_type),
            esc(&a.size),
            esc(a.sha256)
        );
    }
    if !m.reactions.is_empty() {
        let _ = writeln!(
            out,
            "<div class=\"react\">Reactions: {}</div>",
            esc(&m.reactions.join(", "))
        );
    }
    if let Some(status) = m.status {
        let _ = writeln!(out, "<div class=\"status\">Status: {}</div>", esc(status));
    }
    out.push_str("</div></div>\n");
}

/// Escapes text for element content and quoted attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
        assert_eq!(esc("São Paulo 👍"), "São Paulo 👍");
    }
}
