//! The demo year moved to the present: the last `days` days before a given
//! instant, so that dashboards of a fresh demo archive show recent activity.
//!
//! The generator lives in the 2026 calendar. To move its traffic, this
//! module generates enough of the year that a window of `days` days holds
//! about the messages asked for, keeps the messages inside a window that
//! ends in early December (before the Christmas lull), and shifts them by
//! a whole number of weeks, so weekdays, business hours and the rhythm of
//! each conversation survive. Only `sent_at` changes; dates written in the
//! text itself ("Friday 12 Mar") are left as they were generated.

use crate::calendar::{DAY, YEAR_START};
use crate::generator::Generator;

/// The end of the generated window: 7 December 2026, before the holidays.
const WINDOW_END: i64 = YEAR_START + 340 * DAY;
/// A week in seconds: the shift is a whole number of them.
const WEEK: i64 = 7 * DAY;

/// Messages of about `messages` in the `days` days before `until` (Unix
/// seconds), in chronological order, deterministic for `(seed, messages,
/// until, days)`.
pub(crate) fn recent(
    seed: u64,
    messages: usize,
    until: i64,
    days: u32,
) -> impl Iterator<Item = String> + use<> {
    let days = i64::from(days.clamp(1, 300));
    // The smallest shift by whole weeks that brings the window's end to or
    // past `until`; the window in generated time then ends before it.
    let shift = (until - WINDOW_END).div_euclid(WEEK) * WEEK
        + if (until - WINDOW_END).rem_euclid(WEEK) == 0 {
            0
        } else {
            WEEK
        };
    let end = until - shift;
    let start = end - days * DAY;
    let generated = (messages as u64 * 365).div_ceil(days as u64) as usize;
    Generator::new(seed, generated).filter_map(move |line| {
        let (at, range) = sent_at(&line)?;
        if !(start..end).contains(&at) {
            return None;
        }
        let moved = jiff::Timestamp::from_second(at + shift).ok()?;
        let mut out = String::with_capacity(line.len() + 2);
        out.push_str(&line[..range.start]);
        out.push_str(&moved.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
        out.push_str(&line[range.end..]);
        Some(out)
    })
}

/// The `sent_at` of a generated line, as Unix seconds, and where its value
/// sits in the line.
fn sent_at(line: &str) -> Option<(i64, std::ops::Range<usize>)> {
    const FIELD: &str = "\"sent_at\":\"";
    let from = line.find(FIELD)? + FIELD.len();
    let to = from + line[from..].find('"')?;
    let at: jiff::Timestamp = line[from..to].parse().ok()?;
    Some((at.as_second(), from..to))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-05T10:00:00Z.
    const UNTIL: i64 = 1_796_464_800;

    #[test]
    fn messages_fall_in_the_window_in_order_and_near_the_count() {
        let lines: Vec<String> = recent(3, 2_000, UNTIL, 90).collect();
        let times: Vec<i64> = lines.iter().map(|l| sent_at(l).unwrap().0).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "chronological");
        assert!(times.iter().all(|t| (UNTIL - 90 * DAY..UNTIL).contains(t)));
        assert!(
            (1_400..2_600).contains(&lines.len()),
            "about the count asked for: {}",
            lines.len()
        );
        // Traffic reaches the last days: the window is not left empty at its end.
        assert!(times.last().unwrap() > &(UNTIL - 3 * DAY));
    }

    #[test]
    fn same_inputs_same_lines_and_weekdays_survive() {
        let a: Vec<String> = recent(3, 300, UNTIL, 90).collect();
        let b: Vec<String> = recent(3, 300, UNTIL, 90).collect();
        assert_eq!(a, b);
        let original: Vec<String> = Generator::new(3, 300 * 365 / 90 + 1).collect();
        let first = &a[0];
        let id = &first[first.find("\"id\":").unwrap()..][..40];
        let before = original.iter().find(|l| l.contains(id)).unwrap();
        let (t0, _) = sent_at(before).unwrap();
        let (t1, _) = sent_at(first).unwrap();
        assert_eq!((t1 - t0).rem_euclid(WEEK), 0, "shifted by whole weeks");
    }
}
