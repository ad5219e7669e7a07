//! Normalisation of text before term matching: case folding, accent
//! stripping and word separation, with a map back to the original bytes.
//!
//! The folded form of a text is its words, lowercased and without
//! combining marks (NFD, then every combining mark dropped), separated by
//! exactly one space: every run of characters that are not letters or
//! digits (spaces, punctuation, symbols, emoji) becomes one `b' '`. Terms
//! are folded the same way, so a phrase matches "across any run of spaces
//! or punctuation" by plain byte comparison, and a word boundary in folded
//! text is simply a space or either end.
//!
//! Most bytes are ASCII and take a byte loop with no Unicode tables;
//! two-byte characters (accented Latin, Greek, Cyrillic) fold through a
//! table built once; the rest are decomposed one by one.

use unicode_normalization::char::{decompose_canonical, is_combining_mark};

/// A folded text and, for each of its bytes, the offset in the original
/// text of the character that produced it.
#[derive(Clone, Debug, Default)]
pub struct Folded {
    buf: Vec<u8>,
    map: Vec<u32>,
}

impl Folded {
    /// An empty buffer, to be filled by [`Folded::fold`] again and again
    /// without allocating once it has grown.
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds `text` into this buffer, replacing what it held.
    ///
    /// Texts longer than 4 GiB are folded up to that length only (the
    /// offset map holds `u32`s to halve its memory traffic).
    pub fn fold(&mut self, text: &str) {
        self.fold_impl::<true>(text);
    }

    /// Folds `text` without the offset map ([`Folded::original_span`]
    /// answers `(0, 0)` until [`Folded::fold`] is called): most messages
    /// have no hit, and need no map.
    pub fn fold_without_map(&mut self, text: &str) {
        self.fold_impl::<false>(text);
    }

    fn fold_impl<const MAP: bool>(&mut self, text: &str) {
        self.buf.clear();
        self.map.clear();
        let text = truncate(text, u32::MAX as usize);
        let mut in_separator = false;
        self.buf.reserve(text.len());
        if MAP {
            self.map.reserve(text.len());
        }
        let table = two_byte_table();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            let at = i as u32;
            // ASCII, most bytes of most messages: no tables, no decoding.
            if b < 0x80 {
                if b.is_ascii_alphanumeric() {
                    self.buf.push(b.to_ascii_lowercase());
                    if MAP {
                        self.map.push(at);
                    }
                    in_separator = false;
                } else if !in_separator {
                    self.buf.push(b' ');
                    if MAP {
                        self.map.push(at);
                    }
                    in_separator = true;
                }
                i += 1;
                continue;
            }
            // A two-byte character (its lead byte is 0xC2..=0xDF in valid
            // UTF-8) folds through the table.
            if b < 0xE0 {
                let cp = (usize::from(b & 0x1F) << 6) | usize::from(bytes[i + 1] & 0x3F);
                match table[cp - 0x80] {
                    Fold::Drop => {}
                    Fold::Separator => {
                        if !in_separator {
                            self.buf.push(b' ');
                            if MAP {
                                self.map.push(at);
                            }
                            in_separator = true;
                        }
                    }
                    Fold::Bytes(len, out) => {
                        let out = &out[..usize::from(len)];
                        self.buf.extend_from_slice(out);
                        if MAP {
                            self.map.extend(std::iter::repeat_n(at, out.len()));
                        }
                        in_separator = false;
                    }
                    Fold::Slow => {
                        let c = text[i..].chars().next().expect("a character starts here");
                        self.fold_char::<MAP>(c, at, &mut in_separator);
                    }
                }
                i += 2;
                continue;
            }
            let c = text[i..].chars().next().expect("a character starts here");
            self.fold_char::<MAP>(c, at, &mut in_separator);
            i += c.len_utf8();
        }
    }

    /// Folds one non-ASCII character the slow way: decomposition, marks
    /// dropped, lowercase.
    fn fold_char<const MAP: bool>(&mut self, c: char, at: u32, in_separator: &mut bool) {
        decompose_canonical(c, |d| {
            if is_combining_mark(d) {
                return;
            }
            for l in d.to_lowercase() {
                if l.is_alphanumeric() {
                    let mut utf8 = [0; 4];
                    let bytes = l.encode_utf8(&mut utf8).as_bytes();
                    self.buf.extend_from_slice(bytes);
                    if MAP {
                        self.map.extend(std::iter::repeat_n(at, bytes.len()));
                    }
                    *in_separator = false;
                } else if !*in_separator {
                    self.buf.push(b' ');
                    if MAP {
                        self.map.push(at);
                    }
                    *in_separator = true;
                }
            }
        });
    }

    /// The folded bytes (valid UTF-8).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The folded text.
    pub fn as_str(&self) -> &str {
        // Only whole characters' encodings and ASCII spaces are pushed.
        std::str::from_utf8(&self.buf).expect("folded text is UTF-8")
    }

    /// The span of `original` (the text last folded) that produced the
    /// folded bytes `start..end`: from the start of the character behind
    /// `start` to the end of the character behind `end - 1`. Both are
    /// character boundaries of `original`.
    pub fn original_span(&self, original: &str, start: usize, end: usize) -> (usize, usize) {
        if start >= end || end > self.map.len() {
            return (0, 0);
        }
        let from = self.map[start] as usize;
        let last = self.map[end - 1] as usize;
        let width = original[last..].chars().next().map_or(0, char::len_utf8);
        (from, last + width)
    }
}

/// How a character folds, precomputed for two-byte UTF-8 characters
/// (U+0080..U+07FF: Latin with accents, Greek, Cyrillic, Hebrew, Arabic),
/// the non-ASCII characters of most messages.
#[derive(Clone, Copy, Debug)]
enum Fold {
    /// A combining mark: nothing.
    Drop,
    /// Not a letter or digit: a separator.
    Separator,
    /// These bytes, all of letters or digits.
    Bytes(u8, [u8; 6]),
    /// Anything else (a mix, or longer): fold it the slow way.
    Slow,
}

fn two_byte_table() -> &'static [Fold] {
    static TABLE: std::sync::OnceLock<Vec<Fold>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        (0x80u32..0x800)
            .map(|cp| {
                let Some(c) = char::from_u32(cp) else {
                    return Fold::Slow;
                };
                let mut f = Folded::new();
                f.fold_char::<false>(c, 0, &mut false);
                let out = f.as_bytes();
                if out.is_empty() {
                    Fold::Drop
                } else if out == b" " {
                    Fold::Separator
                } else if out.len() <= 6 && !out.contains(&b' ') {
                    let mut bytes = [0; 6];
                    bytes[..out.len()].copy_from_slice(out);
                    Fold::Bytes(out.len() as u8, bytes)
                } else {
                    Fold::Slow
                }
            })
            .collect()
    })
}

/// The longest prefix of `text` of at most `max` bytes that ends on a
/// character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Folds `text` into a new string (for terms and tests; scans reuse a
/// [`Folded`]).
pub fn fold(text: &str) -> String {
    let mut f = Folded::new();
    f.fold(text);
    f.as_str().to_string()
}

/// The words of a folded text.
pub fn words(folded: &str) -> impl Iterator<Item = &str> {
    folded.split(' ').filter(|w| !w.is_empty())
}

/// The number of word separators in `folded[..pos]`: the difference of two
/// such counts is a distance in words.
pub fn word_index(folded: &[u8], pos: usize) -> usize {
    folded[..pos.min(folded.len())]
        .iter()
        .filter(|&&b| b == b' ')
        .count()
}

/// Whether folded position `pos` is a word boundary: either end of the
/// text, or next to a separator.
pub fn is_boundary(folded: &[u8], pos: usize) -> bool {
    pos == 0 || pos >= folded.len() || folded[pos] == b' ' || folded[pos - 1] == b' '
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(fold(input), expected, "folding {input:?}");
        let mut f = Folded::new();
        f.fold_without_map(input);
        assert_eq!(f.as_str(), expected, "folding {input:?} without the map");
    }

    #[test]
    fn folds_case_accents_and_separators() {
        check("Garantía", "garantía".replace('í', "i").as_str());
        check("AÇÃO já!", "acao ja ");
        check(
            "Text me,  on my   personal-number",
            "text me on my personal number",
        );
        check("naïve Café\u{301}", "naive cafe");
        check("İstanbul ÉCOLE", "istanbul ecole");
        check("8% off!!!", "8 off ");
        check("", "");
        check("日本語 テスト", "日本語 テスト");
        check("🙂hi🙂🙂there", " hi there");
    }

    #[test]
    fn spans_map_back_to_the_original() {
        let text = "Ação: a GARANTÍA está ok";
        let mut f = Folded::new();
        f.fold(text);
        let folded = f.as_str();
        let at = folded.find("garantia").unwrap();
        let (s, e) = f.original_span(text, at, at + "garantia".len());
        assert_eq!(&text[s..e], "GARANTÍA");
        let (s, e) = f.original_span(text, 0, 4);
        assert_eq!(&text[s..e], "Ação");
    }

    #[test]
    fn the_two_byte_table_folds_as_the_slow_path_does() {
        for cp in 0x80u32..0x800 {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            let text = format!("a{c}b");
            let mut slow = Folded::new();
            slow.buf.push(b'a');
            slow.map.push(0);
            let mut sep = false;
            slow.fold_char::<false>(c, 1, &mut sep);
            slow.buf.push(b'b');
            assert_eq!(fold(&text).as_bytes(), slow.as_bytes(), "U+{cp:04X}");
        }
    }

    #[test]
    fn word_helpers() {
        let f = fold("one, two  three");
        assert_eq!(words(&f).collect::<Vec<_>>(), ["one", "two", "three"]);
        let b = f.as_bytes();
        assert_eq!(word_index(b, f.find("three").unwrap()), 2);
        assert!(is_boundary(b, 0) && is_boundary(b, 3) && !is_boundary(b, 1));
    }
}
