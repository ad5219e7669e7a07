//! The transcript as a PDF: A4 pages, the header block on the first, one
//! bubble per message (firm on the right, everyone else on the left), text
//! wrapped with the standard fonts' real widths, a bubble taller than the
//! room left continuing on the next page, and the footer with "Page N of M"
//! at the foot of every page.
//!
//! Layout is done first, into one content stream per page; the page count is
//! then known, so the footers are added and the file is written.

mod afm;
mod winansi;
mod writer;

use std::fmt::Write;

use afm::Face;
use writer::{Writer, literal, text_string};

use crate::Side;
use crate::view::{Entry, Message, View, side_text};

/// A4 in points.
const PAGE_W: f64 = 595.28;
const PAGE_H: f64 = 841.89;
const MARGIN_X: f64 = 48.0;
/// The first baseline's box starts here.
const TOP: f64 = PAGE_H - 48.0;
/// Nothing but the footer goes below this.
const BOTTOM: f64 = 58.0;
const FOOTER_Y: f64 = 32.0;
const CONTENT_W: f64 = PAGE_W - 2.0 * MARGIN_X;
/// Bubbles take at most this share of the width, so sides stay visible.
const BUBBLE_MAX_W: f64 = CONTENT_W * 0.74;
const BUBBLE_MIN_W: f64 = 150.0;
const PAD: f64 = 6.0;
const RADIUS: f64 = 5.0;
const GAP: f64 = 7.0;
/// The height a day separator takes.
const DAY_H: f64 = 20.0;
/// Text lines take their size times this.
const LEADING: f64 = 1.28;

type Rgb = (f64, f64, f64);
const INK: Rgb = (0.1, 0.1, 0.1);
const GREY: Rgb = (0.4, 0.4, 0.4);
const RED: Rgb = (0.69, 0.0, 0.13);
const FIRM_FILL: Rgb = (0.863, 0.973, 0.776);
const EXTERNAL_FILL: Rgb = (0.96, 0.96, 0.96);
const INTERNAL_FILL: Rgb = (0.863, 0.914, 0.973);
const DAY_FILL: Rgb = (0.875, 0.914, 0.953);
const BORDER: Rgb = (0.7, 0.7, 0.7);

/// One laid-out line of text.
struct Line {
    face: Face,
    size: f64,
    color: Rgb,
    /// WinAnsi bytes.
    text: Vec<u8>,
    /// Drawn struck through (a deleted message's text).
    strike: bool,
    /// Extra space above the line.
    gap: f64,
}

impl Line {
    fn height(&self) -> f64 {
        self.size * LEADING + self.gap
    }

    fn width(&self) -> f64 {
        self.face.width(&self.text, self.size)
    }
}

/// Pages being filled, top to bottom.
struct Layout {
    pages: Vec<String>,
    /// The current page's content so far.
    page: String,
    /// The top of the free space on the current page.
    y: f64,
    /// A day separator waiting to be drawn with the bubble that follows it,
    /// so a day never ends a page on its own.
    pending_day: Option<Vec<u8>>,
}

/// Renders the whole file.
pub(crate) fn render(view: &View<'_>) -> Vec<u8> {
    let mut layout = Layout {
        pages: Vec::new(),
        page: String::new(),
        y: TOP,
        pending_day: None,
    };
    header(&mut layout, view);
    for entry in &view.entries {
        match entry {
            Entry::Day(day) => layout.pending_day = Some(winansi::encode(day)),
            Entry::Message(m) => layout.message(m),
        }
    }
    if let Some(day) = layout.pending_day.take() {
        layout.day(&day);
    }
    let mut pages = layout.pages;
    pages.push(layout.page);
    write(view, &pages)
}

/// The header block: title, subtitle lines, time zone, participants.
fn header(layout: &mut Layout, view: &View<'_>) {
    let mut lines = Vec::new();
    push_wrapped(
        &mut lines,
        Face::Bold,
        16.0,
        INK,
        view.title,
        CONTENT_W,
        0.0,
        false,
    );
    for sub in view.subtitle {
        push_wrapped(
            &mut lines,
            Face::Regular,
            10.0,
            INK,
            sub,
            CONTENT_W,
            0.0,
            false,
        );
    }
    push_wrapped(
        &mut lines,
        Face::Regular,
        9.0,
        GREY,
        &view.zone_line,
        CONTENT_W,
        3.0,
        false,
    );
    push_wrapped(
        &mut lines,
        Face::Bold,
        9.0,
        INK,
        "Participants:",
        CONTENT_W,
        3.0,
        false,
    );
    for p in &view.participants {
        let text = format!("\u{2022} {} ({}): {}", p.display, p.id, side_text(p.side));
        push_wrapped(
            &mut lines,
            Face::Regular,
            9.0,
            INK,
            &text,
            CONTENT_W - 10.0,
            0.0,
            false,
        );
    }
    for line in &lines {
        layout.ensure(line.height());
        layout.text_line(line, MARGIN_X);
    }
    layout.y -= 6.0;
    layout.ensure(1.0);
    let _ = writeln!(
        layout.page,
        "{} RG 0.6 w {} {} m {} {} l S",
        rgb(BORDER),
        n(MARGIN_X),
        n(layout.y),
        n(PAGE_W - MARGIN_X),
        n(layout.y)
    );
    layout.y -= 8.0;
}

impl Layout {
    fn new_page(&mut self) {
        self.pages.push(std::mem::take(&mut self.page));
        self.y = TOP;
    }

    fn fresh(&self) -> bool {
        self.y >= TOP
    }

    fn room(&self) -> f64 {
        self.y - BOTTOM
    }

    /// Starts a new page unless `height` fits on this one.
    fn ensure(&mut self, height: f64) {
        if height > self.room() && !self.fresh() {
            self.new_page();
        }
    }

    /// Draws `line` at the cursor, left edge at `x`, and moves down.
    fn text_line(&mut self, line: &Line, x: f64) {
        self.y -= line.gap;
        let baseline = self.y - line.size;
        if !line.text.is_empty() {
            let _ = writeln!(
                self.page,
                "BT /{} {} Tf {} rg {} {} Td {} Tj ET",
                line.face.resource(),
                n(line.size),
                rgb(line.color),
                n(x),
                n(baseline),
                literal(&line.text)
            );
            if line.strike {
                let mid = baseline + line.size * 0.3;
                let _ = writeln!(
                    self.page,
                    "{} RG 0.6 w {} {} m {} {} l S",
                    rgb(line.color),
                    n(x),
                    n(mid),
                    n(x + line.width()),
                    n(mid)
                );
            }
        }
        self.y -= line.size * LEADING;
    }

    /// A day separator, [`DAY_H`] high.
    fn day(&mut self, text: &[u8]) {
        let size = 9.0;
        self.ensure(DAY_H);
        let w = Face::Oblique.width(text, size) + 16.0;
        let x = (PAGE_W - w) / 2.0;
        let top = self.y - 4.0;
        rounded_rect(&mut self.page, x, top - 14.0, w, 14.0, 4.0, DAY_FILL, None);
        let _ = writeln!(
            self.page,
            "BT /{} {} Tf {} rg {} {} Td {} Tj ET",
            Face::Oblique.resource(),
            n(size),
            rgb(INK),
            n(x + 8.0),
            n(top - 10.5),
            literal(text)
        );
        self.y -= DAY_H;
    }

    /// One message bubble, split over pages when it is taller than the room.
    fn message(&mut self, m: &Message<'_>) {
        let lines = bubble_lines(m, BUBBLE_MAX_W - 2.0 * PAD);
        let widest = lines.iter().map(Line::width).fold(0.0, f64::max);
        let width = (widest + 2.0 * PAD).clamp(BUBBLE_MIN_W, BUBBLE_MAX_W);
        let x = match m.side {
            Side::Firm => PAGE_W - MARGIN_X - width,
            Side::External | Side::Internal => MARGIN_X,
        };
        let fill = match m.side {
            Side::Firm => FIRM_FILL,
            Side::External => EXTERNAL_FILL,
            Side::Internal => INTERNAL_FILL,
        };
        let day = self.pending_day.take();
        let day_h = if day.is_some() { DAY_H } else { 0.0 };
        let total: f64 = day_h + 2.0 * PAD + lines.iter().map(Line::height).sum::<f64>();
        if total > self.room() && total <= TOP - BOTTOM {
            self.new_page();
        } else if day_h + 2.0 * PAD + 3.0 * 12.0 > self.room() {
            // Too little room for the day and the start of a long bubble.
            self.new_page();
        }
        if let Some(day) = day {
            self.day(&day);
        }
        let mut rest = &lines[..];
        let mut continued = None;
        loop {
            let mut piece: Vec<&Line> = continued.iter().collect();
            let mut height = 2.0 * PAD + piece.iter().map(|l| l.height()).sum::<f64>();
            let mut taken = 0;
            for line in rest {
                if height + line.height() > self.room() && (taken > 0 || !self.fresh()) {
                    break;
                }
                height += line.height();
                piece.push(line);
                taken += 1;
            }
            if taken == 0 {
                self.new_page();
                continue;
            }
            let top = self.y;
            rounded_rect(
                &mut self.page,
                x,
                top - height,
                width,
                height,
                RADIUS,
                fill,
                Some(BORDER),
            );
            self.y -= PAD;
            for line in piece {
                self.text_line(line, x + PAD);
            }
            self.y = top - height - GAP;
            rest = &rest[taken..];
            if rest.is_empty() {
                break;
            }
            self.new_page();
            continued = Some(Line {
                face: Face::Oblique,
                size: 7.5,
                color: GREY,
                text: winansi::encode(&format!("{} (continued)", m.bates)),
                strike: false,
                gap: 0.0,
            });
        }
    }
}

/// Every line of a bubble, wrapped to `inner` points.
fn bubble_lines(m: &Message<'_>, inner: f64) -> Vec<Line> {
    let mut lines = Vec::new();
    let name = if m.side == Side::Internal {
        format!("{} (internal)", m.sender)
    } else {
        m.sender.to_owned()
    };
    let name_color = match m.side {
        Side::Firm => (0.0, 0.4, 0.2),
        Side::External => (0.55, 0.25, 0.0),
        Side::Internal => (0.15, 0.3, 0.65),
    };
    push_wrapped(
        &mut lines,
        Face::Bold,
        9.0,
        name_color,
        &name,
        inner,
        0.0,
        false,
    );
    let meta = format!("{} \u{b7} {}", m.bates, m.stamp);
    push_wrapped(
        &mut lines,
        Face::Regular,
        7.5,
        GREY,
        &meta,
        inner,
        0.0,
        false,
    );
    if let Some(target) = m.reply_to {
        let text = format!("Reply to {target}");
        push_wrapped(
            &mut lines,
            Face::Oblique,
            8.0,
            GREY,
            &text,
            inner,
            2.0,
            false,
        );
    }
    let deleted = m.deleted.is_some();
    if let Some(label) = &m.deleted {
        push_wrapped(&mut lines, Face::Bold, 8.5, RED, label, inner, 2.0, false);
    }
    let body_color = if deleted { GREY } else { INK };
    if let Some(text) = m.text {
        if deleted || !m.edits.is_empty() {
            push_wrapped(
                &mut lines,
                Face::Oblique,
                8.0,
                GREY,
                "Original text:",
                inner,
                2.0,
                false,
            );
        }
        push_wrapped(
            &mut lines,
            Face::Regular,
            10.0,
            body_color,
            text,
            inner,
            2.0,
            deleted,
        );
    }
    for (label, text) in &m.edits {
        let label = format!("{label}:");
        push_wrapped(
            &mut lines,
            Face::Oblique,
            8.0,
            GREY,
            &label,
            inner,
            2.0,
            false,
        );
        push_wrapped(
            &mut lines,
            Face::Regular,
            10.0,
            body_color,
            text,
            inner,
            0.0,
            deleted,
        );
    }
    for a in &m.attachments {
        let text = format!("Attachment: {} ({}, {})", a.name, a.media_type, a.size);
        push_wrapped(
            &mut lines,
            Face::Regular,
            8.5,
            INK,
            &text,
            inner,
            2.0,
            false,
        );
        let digest = format!("SHA-256 {}", a.sha256);
        push_wrapped(
            &mut lines,
            Face::Regular,
            6.5,
            GREY,
            &digest,
            inner,
            0.0,
            false,
        );
    }
    if !m.reactions.is_empty() {
        let text = format!("Reactions: {}", m.reactions.join(", "));
        push_wrapped(
            &mut lines,
            Face::Regular,
            8.5,
            INK,
            &text,
            inner,
            2.0,
            false,
        );
    }
    if let Some(status) = m.status {
        let text = format!("Status: {status}");
        push_wrapped(
            &mut lines,
            Face::Regular,
            7.5,
            GREY,
            &text,
            inner,
            2.0,
            false,
        );
    }
    lines
}

/// Appends `text` wrapped to `width`, one [`Line`] per visual line; line
/// breaks in the text are kept; `gap` goes above the first line only.
#[allow(clippy::too_many_arguments)]
fn push_wrapped(
    lines: &mut Vec<Line>,
    face: Face,
    size: f64,
    color: Rgb,
    text: &str,
    width: f64,
    gap: f64,
    strike: bool,
) {
    let mut first = true;
    for paragraph in text.split('\n') {
        let paragraph = paragraph.strip_suffix('\r').unwrap_or(paragraph);
        let encoded = winansi::encode(paragraph);
        for piece in wrap(face, size, &encoded, width) {
            lines.push(Line {
                face,
                size,
                color,
                text: piece,
                strike,
                gap: if first { gap } else { 0.0 },
            });
            first = false;
        }
    }
}

/// Greedy word wrap of WinAnsi `text`; a word wider than a line is cut.
/// Always at least one (maybe empty) line.
fn wrap(face: Face, size: f64, text: &[u8], width: f64) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let mut current_w = 0.0;
    let mut i = 0;
    while i < text.len() {
        let start = i;
        while i < text.len() && text[i] == b' ' {
            i += 1;
        }
        let spaces = &text[start..i];
        let word_start = i;
        while i < text.len() && text[i] != b' ' {
            i += 1;
        }
        let mut word = &text[word_start..i];
        let added = face.width(spaces, size) + face.width(word, size);
        if current_w + added <= width {
            current.extend_from_slice(spaces);
            current.extend_from_slice(word);
            current_w += added;
            continue;
        }
        if !current.is_empty() {
            lines.push(std::mem::take(&mut current));
        }
        // The spaces at a break are dropped; a word too wide for a line is cut.
        while face.width(word, size) > width {
            let mut cut = 1;
            while cut < word.len() && face.width(&word[..cut + 1], size) <= width {
                cut += 1;
            }
            lines.push(word[..cut].to_vec());
            word = &word[cut..];
        }
        current = word.to_vec();
        current_w = face.width(word, size);
    }
    lines.push(current);
    lines
}

/// A filled rectangle with rounded corners (four Bézier quarter circles),
/// stroked when `border` is given.
#[allow(clippy::too_many_arguments)]
fn rounded_rect(
    out: &mut String,
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    r: f64,
    fill: Rgb,
    border: Option<Rgb>,
) {
    let r = r.min(w / 2.0).min(h / 2.0);
    // The control-point distance that makes a Bézier curve a quarter circle.
    let k = r * 0.552_284_75;
    let _ = write!(out, "{} rg ", rgb(fill));
    if let Some(border) = border {
        let _ = write!(out, "{} RG 0.5 w ", rgb(border));
    }
    let _ = write!(
        out,
        "{} {} m {} {} l {} {} {} {} {} {} c {} {} l {} {} {} {} {} {} c {} {} l {} {} {} {} {} {} c {} {} l {} {} {} {} {} {} c h ",
        n(x + r),
        n(y),
        n(x + w - r),
        n(y),
        n(x + w - r + k),
        n(y),
        n(x + w),
        n(y + r - k),
        n(x + w),
        n(y + r),
        n(x + w),
        n(y + h - r),
        n(x + w),
        n(y + h - r + k),
        n(x + w - r + k),
        n(y + h),
        n(x + w - r),
        n(y + h),
        n(x + r),
        n(y + h),
        n(x + r - k),
        n(y + h),
        n(x),
        n(y + h - r + k),
        n(x),
        n(y + h - r),
        n(x),
        n(y + r),
        n(x),
        n(y + r - k),
        n(x + r - k),
        n(y),
        n(x + r),
        n(y),
    );
    out.push_str(if border.is_some() { "B\n" } else { "f\n" });
}

/// The footer: the transcript's footer text bottom left (cut with "..." if
/// it would run into the page number), "Page N of M" bottom right.
fn footer(out: &mut String, text: &str, page: usize, pages: usize) {
    let size = 8.0;
    let label = winansi::encode(&format!("Page {page} of {pages}"));
    let label_w = Face::Regular.width(&label, size);
    let room = CONTENT_W - label_w - 24.0;
    let mut left = winansi::encode(text);
    if Face::Regular.width(&left, size) > room {
        while !left.is_empty()
            && Face::Regular.width(&left, size) + Face::Regular.width(b"...", size) > room
        {
            left.pop();
        }
        left.extend_from_slice(b"...");
    }
    let _ = writeln!(
        out,
        "BT /{f} {s} Tf {c} rg {x} {y} Td {t} Tj ET\nBT /{f} {s} Tf {c} rg {x2} {y} Td {t2} Tj ET",
        f = Face::Regular.resource(),
        s = n(size),
        c = rgb(GREY),
        x = n(MARGIN_X),
        y = n(FOOTER_Y),
        t = literal(&left),
        x2 = n(PAGE_W - MARGIN_X - label_w),
        t2 = literal(&label),
    );
}

/// Writes the file: catalog 1, page tree 2, fonts 3 to 5, info 6, then a
/// page object and its content stream for each page.
fn write(view: &View<'_>, pages: &[String]) -> Vec<u8> {
    const FIRST_PAGE: usize = 7;
    let mut w = Writer::new();
    w.object(1, "<< /Type /Catalog /Pages 2 0 R /Lang (en) >>");
    let kids: Vec<String> = (0..pages.len())
        .map(|i| format!("{} 0 R", FIRST_PAGE + 2 * i))
        .collect();
    w.object(
        2,
        &format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.join(" "),
            pages.len()
        ),
    );
    for (number, face) in [(3, Face::Regular), (4, Face::Bold), (5, Face::Oblique)] {
        w.object(
            number,
            &format!(
                "<< /Type /Font /Subtype /Type1 /BaseFont /{} /Encoding /WinAnsiEncoding >>",
                face.base_font()
            ),
        );
    }
    let date = pdf_date(view.latest_micros);
    w.object(
        6,
        &format!(
            "<< /Title {} /Producer (custos-transcript) /CreationDate ({date}) /ModDate ({date}) >>",
            text_string(view.title)
        ),
    );
    for (i, content) in pages.iter().enumerate() {
        let number = FIRST_PAGE + 2 * i;
        w.object(
            number,
            &format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {} {}] /Resources << /Font << /F1 3 0 R /F2 4 0 R /F3 5 0 R >> >> /Contents {} 0 R >>",
                n(PAGE_W),
                n(PAGE_H),
                number + 1
            ),
        );
        let mut stream = content.clone();
        footer(&mut stream, view.footer, i + 1, pages.len());
        w.stream(number + 1, stream.as_bytes());
    }
    w.finish(1, 6)
}

/// `D:20240610071056Z`: a PDF date (7.9.4) in UTC.
fn pdf_date(micros: i64) -> String {
    let ts = jiff::Timestamp::from_microsecond(micros).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let t = jiff::tz::TimeZone::UTC.to_datetime(ts);
    format!(
        "D:{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A number for a content stream: at most two decimals, no trailing zeros.
fn n(value: f64) -> String {
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// A colour as three numbers.
fn rgb((r, g, b): Rgb) -> String {
    format!("{} {} {}", n(r), n(g), n(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str, width: f64) -> Vec<String> {
        wrap(Face::Regular, 10.0, &winansi::encode(text), width)
            .into_iter()
            .map(|l| String::from_utf8(l).unwrap())
            .collect()
    }

    #[test]
    fn wraps_at_spaces_by_real_widths() {
        // "aaa bbb" at 10 pt: each "aaa" is 16.68 pt, a space 2.78 pt.
        assert_eq!(lines("aaa bbb", 36.2), ["aaa bbb"]);
        assert_eq!(lines("aaa bbb", 36.0), ["aaa", "bbb"]);
        assert_eq!(lines("", 100.0), [""]);
        assert_eq!(lines("a  b", 100.0), ["a  b"]);
    }

    #[test]
    fn cuts_words_wider_than_a_line() {
        // Each "a" is 5.56 pt at 10 pt.
        assert_eq!(lines("aaaaaaa", 17.0), ["aaa", "aaa", "a"]);
        assert_eq!(lines("x aaaaaaa", 17.0), ["x", "aaa", "aaa", "a"]);
    }

    #[test]
    fn a_long_footer_is_cut_before_the_page_number() {
        let mut out = String::new();
        footer(&mut out, &"x".repeat(400), 3, 7);
        let shown = out.split('(').nth(1).unwrap().split(')').next().unwrap();
        assert!(shown.ends_with("xxx..."), "{shown}");
        let room = CONTENT_W - Face::Regular.width(b"Page 3 of 7", 8.0) - 24.0;
        assert!(Face::Regular.width(shown.as_bytes(), 8.0) <= room);
        assert!(out.contains("(Page 3 of 7) Tj"));
    }

    #[test]
    fn numbers_are_short_and_stable() {
        assert_eq!(n(595.28), "595.28");
        assert_eq!(n(10.0), "10");
        assert_eq!(n(0.5), "0.5");
        assert_eq!(n(-0.001), "0");
        assert_eq!(pdf_date(1_718_003_456_000_000), "D:20240610071056Z");
    }
}
