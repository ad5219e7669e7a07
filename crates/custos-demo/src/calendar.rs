//! The 2026 calendar the demo archive lives in: UTC arithmetic, each firm's
//! local business hours and public holidays, and RFC 3339 formatting.
//!
//! Everything here is integer arithmetic on Unix seconds, so output never
//! depends on the platform's floating point or time-zone database.

use crate::data::{FIRMS, Firm};

/// Seconds in a day.
pub(crate) const DAY: i64 = 86_400;
/// 2026-01-01T00:00:00Z as Unix seconds.
pub(crate) const YEAR_START: i64 = 1_767_225_600;
/// 2027-01-01T00:00:00Z as Unix seconds (2026 is not a leap year).
pub(crate) const YEAR_END: i64 = YEAR_START + 365 * DAY;
/// Length of one calendar slot. Every firm's UTC offset and opening time is
/// a multiple of half an hour, so a slot is either wholly open or wholly
/// closed for each firm.
pub(crate) const SLOT: i64 = 1_800;
/// Number of slots in 2026.
pub(crate) const SLOTS: usize = (365 * DAY / SLOT) as usize;

/// Day of year (0-based) on which each month of 2026 starts; the last entry
/// is the length of the year.
const MONTH_STARTS: [i64; 13] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];

/// English three-letter month abbreviations.
pub(crate) const MONTH_ABBR: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// UK summer time in 2026: from 29 March 01:00 UTC until 25 October 01:00 UTC.
const BST_START: i64 = YEAR_START + 87 * DAY + 3_600;
/// End of UK summer time in 2026.
const BST_END: i64 = YEAR_START + 297 * DAY + 3_600;

/// Day of year (0-based) of a 2026 calendar date.
pub(crate) const fn day_of_year(month: u32, day: u32) -> i64 {
    MONTH_STARTS[(month - 1) as usize] + day as i64 - 1
}

/// Weekday of a 2026 day of year, 0 = Monday … 6 = Sunday
/// (1 January 2026 is a Thursday).
pub(crate) const fn weekday(doy: i64) -> i64 {
    (doy + 3).rem_euclid(7)
}

/// Month (1–12) and day of month (1–31) of a 2026 day of year.
pub(crate) fn month_day(doy: i64) -> (u32, u32) {
    let month = MONTH_STARTS[1..]
        .iter()
        .position(|&start| doy < start)
        .unwrap_or(11);
    (month as u32 + 1, (doy - MONTH_STARTS[month]) as u32 + 1)
}

/// Civil UTC fields of a 2026 timestamp: (month, day, hour, minute, second).
pub(crate) fn civil(t: i64) -> (u32, u32, u32, u32, u32) {
    let since = (t - YEAR_START).clamp(0, YEAR_END - YEAR_START - 1);
    let (month, day) = month_day(since / DAY);
    let secs = since % DAY;
    (
        month,
        day,
        (secs / 3_600) as u32,
        (secs % 3_600 / 60) as u32,
        (secs % 60) as u32,
    )
}

/// Appends `t` as RFC 3339 UTC with seconds precision, e.g.
/// `2026-03-12T14:05:33Z`.
pub(crate) fn push_rfc3339(out: &mut String, t: i64) {
    let (mo, d, h, mi, s) = civil(t);
    out.push_str("2026-");
    push_2(out, mo);
    out.push('-');
    push_2(out, d);
    out.push('T');
    push_2(out, h);
    out.push(':');
    push_2(out, mi);
    out.push(':');
    push_2(out, s);
    out.push('Z');
}

/// Appends `t` as a compact `YYYYMMDD` date (WhatsApp media file names).
pub(crate) fn push_compact_date(out: &mut String, t: i64) {
    let (mo, d, ..) = civil(t);
    out.push_str("2026");
    push_2(out, mo);
    push_2(out, d);
}

/// Appends `t` as a compact `HHMMSS` time of day.
pub(crate) fn push_compact_time(out: &mut String, t: i64) {
    let (_, _, h, mi, s) = civil(t);
    push_2(out, h);
    push_2(out, mi);
    push_2(out, s);
}

/// Appends a two-digit, zero-padded number.
fn push_2(out: &mut String, n: u32) {
    out.push(char::from(b'0' + (n / 10 % 10) as u8));
    out.push(char::from(b'0' + (n % 10) as u8));
}

/// Offset of a firm's local time from UTC, in seconds, at instant `t`.
pub(crate) fn utc_offset(firm: Firm, t: i64) -> i64 {
    match firm {
        // Europe/London, with 2026 summer time.
        Firm::Bank => {
            if (BST_START..BST_END).contains(&t) {
                3_600
            } else {
                0
            }
        }
        // America/Sao_Paulo has had no daylight saving time since 2019.
        Firm::Pharma => -3 * 3_600,
        // Asia/Kolkata.
        Firm::Care => 5 * 3_600 + 1_800,
    }
}

/// Whether firm `firm` is open for business at instant `t` (local weekday,
/// not a local public holiday, within local opening hours).
fn open_at(firm: Firm, t: i64) -> bool {
    let profile = &FIRMS[firm as usize];
    let local = t + utc_offset(firm, t) - YEAR_START;
    if !(0..YEAR_END - YEAR_START).contains(&local) {
        return false;
    }
    let doy = local / DAY;
    let minute = local % DAY / 60;
    let last_weekday = if profile.opens_saturday { 5 } else { 4 };
    weekday(doy) <= last_weekday
        && !profile
            .holidays
            .iter()
            .any(|&(m, d)| day_of_year(m, d) == doy)
        && (profile.opens_minute..profile.closes_minute).contains(&minute)
}

/// Relative weight of a firm's traffic while it is open, per half hour.
const OPEN_WEIGHT: [u64; 3] = [400, 250, 350];
/// Relative weight of a firm's traffic while it is closed (a customer writing
/// at night, a trader on a Sunday): small, so only a few messages fall
/// outside business hours.
const CLOSED_WEIGHT: u64 = 3;

/// Precomputed opening hours of all firms for every half hour of 2026, and
/// the cumulative traffic weight used to spread messages over the year.
pub(crate) struct Calendar {
    /// Bit `f` set when firm `f` is open during the slot.
    open: Vec<u8>,
    /// `cumulative[s]` is the total weight of slots before `s`; one extra
    /// entry at the end holds the weight of the whole year.
    cumulative: Vec<u64>,
}

impl Calendar {
    /// Builds the table (about 17,500 slots; takes well under a millisecond).
    pub(crate) fn new() -> Self {
        let mut open = Vec::with_capacity(SLOTS);
        let mut cumulative = Vec::with_capacity(SLOTS + 1);
        let mut total = 0;
        for slot in 0..SLOTS {
            let t = YEAR_START + slot as i64 * SLOT;
            let mut bits = 0u8;
            for firm in Firm::ALL {
                if open_at(firm, t) {
                    bits |= 1 << firm as u8;
                }
            }
            cumulative.push(total);
            total += Self::weights_of(bits).iter().sum::<u64>();
            open.push(bits);
        }
        cumulative.push(total);
        Self { open, cumulative }
    }

    fn weights_of(bits: u8) -> [u64; 3] {
        Firm::ALL.map(|firm| {
            if bits & (1 << firm as u8) != 0 {
                OPEN_WEIGHT[firm as usize]
            } else {
                CLOSED_WEIGHT
            }
        })
    }

    /// Total traffic weight of the year.
    pub(crate) fn total_weight(&self) -> u64 {
        self.cumulative[SLOTS]
    }

    /// Traffic weight of each firm during slot `slot`.
    pub(crate) fn firm_weights(&self, slot: usize) -> [u64; 3] {
        Self::weights_of(self.open[slot])
    }

    /// Finds the instant at cumulative weight `x` (< total weight), starting
    /// the search at slot `hint` (which must not be past the answer).
    /// Returns the slot and the instant.
    pub(crate) fn instant_at_weight(&self, x: u64, hint: usize) -> (usize, i64) {
        let mut slot = hint;
        while slot + 1 < SLOTS && self.cumulative[slot + 1] <= x {
            slot += 1;
        }
        let base = self.cumulative[slot];
        let width = self.cumulative[slot + 1] - base;
        let into = (x.saturating_sub(base) as u128 * SLOT as u128 / width as u128) as i64;
        (slot, YEAR_START + slot as i64 * SLOT + into.min(SLOT - 1))
    }

    /// Whether `firm` is open at `t`.
    pub(crate) fn is_open(&self, firm: Firm, t: i64) -> bool {
        Self::slot_of(t).is_some_and(|s| self.open[s] & (1 << firm as u8) != 0)
    }

    /// Start of the next slot after `t` in which `firm` is open, if any in 2026.
    pub(crate) fn next_opening(&self, firm: Firm, t: i64) -> Option<i64> {
        let from = Self::slot_of(t)? + 1;
        (from..SLOTS)
            .find(|&s| self.open[s] & (1 << firm as u8) != 0)
            .map(|s| YEAR_START + s as i64 * SLOT)
    }

    fn slot_of(t: i64) -> Option<usize> {
        (YEAR_START..YEAR_END)
            .contains(&t)
            .then(|| ((t - YEAR_START) / SLOT) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_second()
    }

    #[test]
    fn constants_match_jiff() {
        assert_eq!(YEAR_START, ts("2026-01-01T00:00:00Z"));
        assert_eq!(YEAR_END, ts("2027-01-01T00:00:00Z"));
        assert_eq!(BST_START, ts("2026-03-29T01:00:00Z"));
        assert_eq!(BST_END, ts("2026-10-25T01:00:00Z"));
    }

    #[test]
    fn formatting_matches_jiff() {
        for t in (YEAR_START..YEAR_END).step_by(7_919 * 13) {
            let mut mine = String::new();
            push_rfc3339(&mut mine, t);
            let theirs = jiff::Timestamp::from_second(t).unwrap().to_string();
            assert_eq!(mine, theirs);
        }
    }

    #[test]
    fn weekdays_and_hours() {
        // Thursday 1 January is a holiday in London and São Paulo.
        assert_eq!(weekday(0), 3);
        let cal = Calendar::new();
        assert!(!cal.is_open(Firm::Bank, ts("2026-01-01T10:00:00Z")));
        // Monday 12 January, 10:00 London.
        assert!(cal.is_open(Firm::Bank, ts("2026-01-12T10:00:00Z")));
        // 10:00 London in June is 09:00 UTC; 06:30 UTC is 07:30 BST.
        assert!(cal.is_open(Firm::Bank, ts("2026-06-15T06:30:00Z")));
        assert!(!cal.is_open(Firm::Bank, ts("2026-01-12T06:30:00Z")));
        // São Paulo is UTC-3: 11:00 UTC is 08:00 local.
        assert!(cal.is_open(Firm::Pharma, ts("2026-03-10T11:00:00Z")));
        assert!(!cal.is_open(Firm::Pharma, ts("2026-03-10T10:30:00Z")));
        // Carnival Tuesday.
        assert!(!cal.is_open(Firm::Pharma, ts("2026-02-17T14:00:00Z")));
        // The Indian contact centre works on Saturdays (09:00 IST = 03:30 UTC).
        assert!(cal.is_open(Firm::Care, ts("2026-03-14T03:30:00Z")));
        assert!(!cal.is_open(Firm::Care, ts("2026-03-15T06:00:00Z")));
        assert_eq!(
            cal.next_opening(Firm::Bank, ts("2026-01-16T19:00:00Z")),
            Some(ts("2026-01-19T07:30:00Z"))
        );
    }
}
