//! Charts drawn as SVG on the server: stacked columns, lines and stacked
//! horizontal bars. The geometry ([`columns`], [`points`], [`rows`]) is
//! computed apart from the drawing so it can be tested; colours come from
//! CSS classes (`s0`…`s7`, `sev-low`…), never inline styles, so the
//! Content-Security-Policy holds. Every chart carries a `<title>` for
//! screen readers and a `<title>` per mark for the exact figure.

use std::fmt::Write;

/// Width of every chart's view box.
pub const WIDTH: f64 = 640.0;
/// Height of a column or line chart's view box.
pub const HEIGHT: f64 = 220.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;
/// Room for row labels in a horizontal bar chart.
const LABELS: f64 = 170.0;
/// Height of one row of a horizontal bar chart.
pub const ROW: f64 = 26.0;

/// One series: a name, a CSS class for its colour and a value per label.
#[derive(Clone, Debug)]
pub struct Series {
    /// Shown in the legend and the marks' titles.
    pub name: String,
    /// The CSS class that colours it.
    pub class: String,
    /// One value per label.
    pub values: Vec<u64>,
}

/// A rectangle of a bar or column chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Rect {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
    /// Which series.
    pub series: usize,
    /// Which label.
    pub index: usize,
    /// The value drawn.
    pub value: u64,
}

/// The smallest of 1, 2 or 5 times a power of ten at or above `v` (at
/// least 1), so axes end on a round number.
pub fn nice_max(v: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            if let Some(candidate) = step.checked_mul(m)
                && candidate >= v
            {
                return candidate;
            }
        }
        match step.checked_mul(10) {
            Some(next) => step = next,
            None => return u64::MAX,
        }
    }
}

/// The largest stack (sum over series at one label).
fn stack_max(series: &[Series], n: usize) -> u64 {
    (0..n)
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0))
                .sum()
        })
        .max()
        .unwrap_or(0)
}

fn plot_height() -> f64 {
    HEIGHT - TOP - BOTTOM
}

/// Stacked columns for `n` labels: the axis maximum and one rectangle per
/// non-zero value, each stacked on the ones before it.
pub fn columns(n: usize, series: &[Series]) -> (u64, Vec<Rect>) {
    let max = nice_max(stack_max(series, n));
    let slot = (WIDTH - LEFT - RIGHT) / n.max(1) as f64;
    let w = slot * 0.7;
    let mut rects = Vec::new();
    for i in 0..n {
        let mut base = HEIGHT - BOTTOM;
        for (si, s) in series.iter().enumerate() {
            let value = s.values.get(i).copied().unwrap_or(0);
            if value == 0 {
                continue;
            }
            let h = value as f64 / max as f64 * plot_height();
            base -= h;
            rects.push(Rect {
                x: LEFT + i as f64 * slot + slot * 0.15,
                y: base,
                w,
                h,
                series: si,
                index: i,
                value,
            });
        }
    }
    (max, rects)
}

/// The points of each series of a line chart (x at the middle of each
/// label's slot), and the axis maximum.
pub fn points(n: usize, series: &[Series]) -> (u64, Vec<Vec<(f64, f64)>>) {
    let max = nice_max(
        series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .max()
            .unwrap_or(0),
    );
    let slot = (WIDTH - LEFT - RIGHT) / n.max(1) as f64;
    let lines = series
        .iter()
        .map(|s| {
            (0..n)
                .map(|i| {
                    let v = s.values.get(i).copied().unwrap_or(0);
                    (
                        LEFT + (i as f64 + 0.5) * slot,
                        HEIGHT - BOTTOM - v as f64 / max as f64 * plot_height(),
                    )
                })
                .collect()
        })
        .collect();
    (max, lines)
}

/// Stacked horizontal bars, one row per label: the axis maximum and the
/// rectangles. The chart is `rows_height(n)` tall.
pub fn rows(n: usize, series: &[Series]) -> (u64, Vec<Rect>) {
    let max = nice_max(stack_max(series, n));
    let span = WIDTH - LABELS - RIGHT;
    let mut rects = Vec::new();
    for i in 0..n {
        let mut x = LABELS;
        for (si, s) in series.iter().enumerate() {
            let value = s.values.get(i).copied().unwrap_or(0);
            if value == 0 {
                continue;
            }
            let w = value as f64 / max as f64 * span;
            rects.push(Rect {
                x,
                y: TOP + i as f64 * ROW + ROW * 0.15,
                w,
                h: ROW * 0.7,
                series: si,
                index: i,
                value,
            });
            x += w;
        }
    }
    (max, rects)
}

/// The height of a horizontal bar chart of `n` rows.
pub fn rows_height(n: usize) -> f64 {
    TOP + n.max(1) as f64 * ROW + BOTTOM
}

/// Escapes text for SVG (XML) content and attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn open(out: &mut String, id: &str, title: &str, height: f64) {
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="{id}-t"><title id="{id}-t">{}</title>"#,
        esc(title)
    );
}

/// Which labels to print under the x axis: at most about eight.
fn label_every(n: usize) -> usize {
    n.div_ceil(8).max(1)
}

fn y_axis(out: &mut String, max: u64) {
    let base = HEIGHT - BOTTOM;
    let mut ticks = vec![0, max];
    if max.is_multiple_of(2) && max >= 2 {
        ticks.insert(1, max / 2);
    }
    for t in ticks {
        let y = base - t as f64 / max as f64 * plot_height();
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{t}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0
        );
    }
}

fn x_labels(out: &mut String, labels: &[String]) {
    let slot = (WIDTH - LEFT - RIGHT) / labels.len().max(1) as f64;
    let every = label_every(labels.len());
    for (i, l) in labels.iter().enumerate() {
        if i % every != 0 {
            continue;
        }
        let _ = write!(
            out,
            r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            LEFT + (i as f64 + 0.5) * slot,
            HEIGHT - 8.0,
            esc(l)
        );
    }
}

/// A stacked column chart, as SVG.
pub fn column_chart(id: &str, title: &str, labels: &[String], series: &[Series]) -> String {
    let (max, rects) = columns(labels.len(), series);
    let mut out = String::new();
    open(&mut out, id, title, HEIGHT);
    y_axis(&mut out, max);
    for r in &rects {
        let s = &series[r.series];
        let _ = write!(
            out,
            r#"<rect class="{}" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"><title>{} {}: {}</title></rect>"#,
            esc(&s.class),
            r.x,
            r.y,
            r.w,
            r.h,
            esc(&labels[r.index]),
            esc(&s.name),
            r.value
        );
    }
    x_labels(&mut out, labels);
    out.push_str("</svg>");
    out
}

/// A line chart, as SVG.
pub fn line_chart(id: &str, title: &str, labels: &[String], series: &[Series]) -> String {
    let (max, lines) = points(labels.len(), series);
    let mut out = String::new();
    open(&mut out, id, title, HEIGHT);
    y_axis(&mut out, max);
    for (s, pts) in series.iter().zip(&lines) {
        let path: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let _ = write!(
            out,
            r#"<polyline class="line {}" points="{}"/>"#,
            esc(&s.class),
            path.join(" ")
        );
        for (i, (x, y)) in pts.iter().enumerate() {
            let _ = write!(
                out,
                r#"<circle class="dot {}" cx="{x:.1}" cy="{y:.1}" r="3"><title>{} {}: {}</title></circle>"#,
                esc(&s.class),
                esc(&labels[i]),
                esc(&s.name),
                s.values.get(i).copied().unwrap_or(0)
            );
        }
    }
    x_labels(&mut out, labels);
    out.push_str("</svg>");
    out
}

/// A stacked horizontal bar chart, as SVG.
pub fn bar_chart(id: &str, title: &str, labels: &[String], series: &[Series]) -> String {
    let (max, rects) = rows(labels.len(), series);
    let height = rows_height(labels.len());
    let mut out = String::new();
    open(&mut out, id, title, height);
    for (i, l) in labels.iter().enumerate() {
        let _ = write!(
            out,
            r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LABELS - 8.0,
            TOP + i as f64 * ROW + ROW * 0.65,
            esc(l)
        );
    }
    for r in &rects {
        let s = &series[r.series];
        let _ = write!(
            out,
            r#"<rect class="{}" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"><title>{} {}: {}</title></rect>"#,
            esc(&s.class),
            r.x,
            r.y,
            r.w,
            r.h,
            esc(&labels[r.index]),
            esc(&s.name),
            r.value
        );
    }
    let _ = write!(
        out,
        r#"<text class="tick" x="{LABELS}" y="{:.1}">0</text><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{max}</text>"#,
        height - 8.0,
        WIDTH - RIGHT,
        height - 8.0
    );
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, values: &[u64]) -> Series {
        Series {
            name: name.into(),
            class: "s0".into(),
            values: values.to_vec(),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn axes_end_on_round_numbers() {
        let got: Vec<u64> = [0, 1, 2, 3, 6, 10, 11, 49, 51, 999, 1001]
            .into_iter()
            .map(nice_max)
            .collect();
        assert_eq!(got, vec![1, 1, 2, 5, 10, 10, 20, 50, 100, 1000, 2000]);
        assert_eq!(nice_max(u64::MAX), u64::MAX);
    }

    #[test]
    fn columns_stack_and_scale() {
        // Stacks of 3 and 5: the axis ends at 5, the second stack is full.
        let s = [series("a", &[1, 5]), series("b", &[2, 0])];
        let (max, rects) = columns(2, &s);
        assert_eq!(max, 5);
        assert_eq!(rects.len(), 3, "zero values draw nothing");
        let base = HEIGHT - BOTTOM;
        let full = plot_height();
        // Column 0: a (1) at the bottom, b (2) on top of it.
        assert!(close(rects[0].h, full / 5.0));
        assert!(close(rects[0].y + rects[0].h, base));
        assert!(close(rects[1].h, full * 2.0 / 5.0));
        assert!(close(rects[1].y + rects[1].h, rects[0].y));
        // Column 1 fills the plot and sits one slot to the right.
        assert!(close(rects[2].h, full));
        assert!(close(rects[2].y, TOP));
        let slot = (WIDTH - LEFT - RIGHT) / 2.0;
        assert!(close(rects[2].x - rects[0].x, slot));
        assert!(
            rects
                .iter()
                .all(|r| r.x >= LEFT && r.x + r.w <= WIDTH - RIGHT)
        );
    }

    #[test]
    fn lines_put_zero_on_the_axis_and_the_max_at_the_top() {
        let s = [series("in", &[0, 10, 5])];
        let (max, lines) = points(3, &s);
        assert_eq!(max, 10);
        let p = &lines[0];
        assert!(close(p[0].1, HEIGHT - BOTTOM));
        assert!(close(p[1].1, TOP));
        assert!(close(p[2].1, TOP + plot_height() / 2.0));
        assert!(p[0].0 < p[1].0 && p[1].0 < p[2].0);
    }

    #[test]
    fn rows_stack_left_to_right() {
        let s = [series("high", &[2, 1]), series("low", &[2, 0])];
        let (max, rects) = rows(2, &s);
        assert_eq!(max, 5);
        let span = WIDTH - LABELS - RIGHT;
        assert!(close(rects[0].x, LABELS));
        assert!(close(rects[0].w, span * 2.0 / 5.0));
        assert!(close(rects[1].x, rects[0].x + rects[0].w));
        assert!(close(rects[2].y - rects[0].y, ROW));
        assert!(close(rows_height(2), TOP + 2.0 * ROW + BOTTOM));
    }

    #[test]
    fn svg_escapes_names_and_has_no_inline_style() {
        let labels = vec!["<b>".to_string()];
        let s = [Series {
            name: "a&b".into(),
            class: "s1".into(),
            values: vec![1],
        }];
        for svg in [
            column_chart("c", "T", &labels, &s),
            line_chart("l", "T", &labels, &s),
            bar_chart("b", "T", &labels, &s),
        ] {
            assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
            assert!(!svg.contains("<b>") && svg.contains("&lt;b&gt;"));
            assert!(svg.contains("a&amp;b"));
            assert!(!svg.contains("style="));
        }
    }

    #[test]
    fn empty_charts_draw_axes_only() {
        let (max, rects) = columns(0, &[]);
        assert_eq!((max, rects.len()), (1, 0));
        assert!(column_chart("e", "Empty", &[], &[]).contains("<title"));
    }
}
