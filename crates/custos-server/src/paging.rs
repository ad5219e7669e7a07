//! Cursor pagination for the list endpoints: `?limit=` and an opaque
//! `?cursor=`, `next_cursor` in the answer (absent on the last page).
//!
//! A cursor is the base64url of `<list>:<position>`: the list's name
//! keeps a cursor from one endpoint being replayed on another, and the
//! position is where the next page starts in that list's stable order.
//! Clients must treat it as opaque; a cursor that does not decode, or
//! names another list, is a 400 problem+json naming the parameter.

use crate::Problem;
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A page request: where to start and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// The first position of the page.
    pub start: usize,
    /// At most this many items.
    pub limit: usize,
}

/// Reads `cursor` and `limit` for `list` (default `default`, at most `max`).
pub fn page(
    list: &str,
    cursor: Option<&str>,
    limit: Option<usize>,
    default: usize,
    max: usize,
) -> Result<Page, Problem> {
    let start = match cursor {
        None | Some("") => 0,
        Some(c) => decode(list, c).ok_or_else(|| bad_cursor(c))?,
    };
    Ok(Page {
        start,
        limit: limit.unwrap_or(default).clamp(1, max),
    })
}

/// The 400 answer for a cursor that is not one of ours.
pub fn bad_cursor(cursor: &str) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "bad cursor",
        format!(
            "cursor={cursor:?} is not a cursor of this list: pass back a next_cursor unchanged"
        ),
    )
    .with("parameter", "cursor".into())
}

/// The cursor of the page after one that started at `start` and held
/// `taken` of `total` items (`None`: that was the last page).
pub fn next_cursor(list: &str, start: usize, taken: usize, total: usize) -> Option<String> {
    let next = start + taken;
    (taken > 0 && next < total).then(|| encode(list, next))
}

/// The opaque form of position `at` in `list`.
pub fn encode(list: &str, at: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("{list}:{at}"))
}

fn decode(list: &str, cursor: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (name, at) = text.split_once(':')?;
    if name != list {
        return None;
    }
    at.parse().ok()
}

/// The opaque cursor of a keyset page: `key` (where the next page starts
/// in a store-ordered list, e.g. `raised_at:seq`) in `list`.
pub fn encode_key(list: &str, key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{list}:{key}"))
}

/// The page key a keyset `cursor` of `list` carries (`None`: the first
/// page); a cursor that does not decode, or names another list, is a 400.
pub fn key(list: &str, cursor: Option<&str>) -> Result<Option<String>, Problem> {
    let Some(c) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let decoded = URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| {
            let (name, key) = t.split_once(':')?;
            (name == list && !key.is_empty()).then(|| key.to_string())
        });
    decoded.map(Some).ok_or_else(|| bad_cursor(c))
}

/// One page of `items` (already in the list's stable order) and the next
/// cursor.
pub fn slice<T>(list: &str, items: Vec<T>, page: Page) -> (Vec<T>, Option<String>) {
    let total = items.len();
    let taken: Vec<T> = items
        .into_iter()
        .skip(page.start)
        .take(page.limit)
        .collect();
    let next = next_cursor(list, page.start, taken.len(), total);
    (taken, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_the_whole_list_once() {
        let items: Vec<u32> = (0..7).collect();
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let p = page("alerts", cursor.as_deref(), Some(3), 50, 500).unwrap();
            let (got, next) = slice("alerts", items.clone(), p);
            seen.extend(got);
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, items);
    }

    #[test]
    fn foreign_and_garbled_cursors_are_refused() {
        let other = encode("policies", 3);
        for c in [other.as_str(), "%%%", "bm90LWEtY3Vyc29y"] {
            let p = page("alerts", Some(c), None, 50, 500).unwrap_err();
            assert_eq!(p.status(), StatusCode::BAD_REQUEST);
            assert!(p.detail().contains("cursor="), "{}", p.detail());
        }
    }

    #[test]
    fn keyset_cursors_carry_their_key_and_refuse_others() {
        let c = encode_key("alerts", "1780000000000000:42");
        assert_eq!(
            key("alerts", Some(&c)).unwrap().as_deref(),
            Some("1780000000000000:42")
        );
        assert_eq!(key("alerts", None).unwrap(), None);
        for bad in [
            encode_key("custodians", "3"),
            "%%%".into(),
            encode_key("alerts", ""),
        ] {
            let p = key("alerts", Some(&bad)).unwrap_err();
            assert_eq!(p.status(), StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn limits_are_clamped() {
        assert_eq!(page("a", None, Some(0), 50, 500).unwrap().limit, 1);
        assert_eq!(page("a", None, Some(9999), 50, 500).unwrap().limit, 500);
        assert_eq!(page("a", None, None, 50, 500).unwrap().limit, 50);
    }
}
