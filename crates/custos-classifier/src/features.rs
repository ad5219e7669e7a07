//! Text to feature vector: folding, tokens, n-grams and the hashing trick.
//!
//! A message becomes a sparse vector of `2^bits` hashed features:
//! word unigrams, word bigrams and character 3- to 5-grams taken inside
//! each word (padded with `<` and `>` so prefixes and suffixes count), all
//! over *folded* text: lower case, accents dropped (NFD, then combining
//! marks removed) and every digit written as `0`, so `Garantía`, `garantia`
//! and `GARANTIA` are one word and `0800 123 4567` looks like any other
//! phone number. Counts are damped (`1 + ln(count)`) and the vector is
//! scaled to unit length, so long messages do not outweigh short ones.
//!
//! The hash is FNV-1a 64, written here rather than taken from a crate, so
//! a model file trained today scores the same text the same way in years:
//! changing anything in this module changes what a weight means and must
//! bump [`FEATURES_VERSION`].

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// The version of the feature scheme, stored in every model file. A model
/// whose file names another version is refused on load.
pub const FEATURES_VERSION: u8 = 1;

/// The shortest character n-gram taken inside a word.
const CHAR_MIN: usize = 3;
/// The longest character n-gram taken inside a word.
const CHAR_MAX: usize = 5;

/// Folds text for matching: NFD, combining marks dropped, lower case,
/// ASCII digits written as `0`.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        if c.is_ascii_digit() {
            out.push('0');
            continue;
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// Splits folded text into words: runs of letters and digits.
fn words(folded: &str) -> Vec<&str> {
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect()
}

/// FNV-1a over the bytes of a feature's kind tag and its parts.
pub(crate) fn fnv1a(kind: u8, parts: &[&str]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    let mut eat = |byte: u8| {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(PRIME);
    };
    eat(kind);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            // A separator no word contains, so ("ab", "c") differs from ("a", "bc").
            eat(b' ');
        }
        for &b in part.as_bytes() {
            eat(b);
        }
    }
    hash
}

/// A sparse, unit-length feature vector: `(index, value)` sorted by index,
/// each index once.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    entries: Vec<(u32, f32)>,
}

impl Features {
    /// Extracts the features of `text` into a space of `2^bits` dimensions.
    pub fn extract(text: &str, bits: u8) -> Features {
        let folded = fold(text);
        let words = words(&folded);
        let mask = (1u64 << bits) - 1;
        let mut indices: Vec<u32> = Vec::new();
        // The mask keeps every index below 2^bits <= 2^24, so it fits u32.
        let mut push = |hash: u64| indices.push((hash & mask) as u32);
        for word in &words {
            push(fnv1a(b'w', &[word]));
        }
        for pair in words.windows(2) {
            push(fnv1a(b'b', &[pair[0], pair[1]]));
        }
        let mut padded = String::new();
        for word in &words {
            padded.clear();
            padded.push('<');
            padded.push_str(word);
            padded.push('>');
            let chars: Vec<(usize, char)> = padded.char_indices().collect();
            for n in CHAR_MIN..=CHAR_MAX {
                for start in 0..chars.len().saturating_sub(n - 1) {
                    let from = chars[start].0;
                    let to = chars.get(start + n).map_or(padded.len(), |&(i, _)| i);
                    push(fnv1a(b'c', &[&padded[from..to]]));
                }
            }
        }
        indices.sort_unstable();
        let mut entries: Vec<(u32, f32)> = Vec::new();
        for index in indices {
            match entries.last_mut() {
                Some((last, count)) if *last == index => *count += 1.0,
                _ => entries.push((index, 1.0)),
            }
        }
        let mut norm = 0.0f32;
        for (_, value) in &mut entries {
            *value = 1.0 + value.ln();
            norm += *value * *value;
        }
        let norm = norm.sqrt();
        if norm > 0.0 {
            for (_, value) in &mut entries {
                *value /= norm;
            }
        }
        Features { entries }
    }

    /// The non-zero entries, `(index, value)`, sorted by index.
    pub fn entries(&self) -> &[(u32, f32)] {
        &self.entries
    }

    /// The dot product with a dense weight vector of the same space.
    pub fn dot(&self, weights: &[f32]) -> f32 {
        let mut sum = 0.0;
        for &(index, value) in &self.entries {
            sum += weights[index as usize] * value;
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_drops_accents_case_and_digits() {
        assert_eq!(fold("Garantía"), "garantia");
        assert_eq!(fold("AÇÃO já! Tel 0800-123"), "acao ja! tel 0000-000");
        assert_eq!(fold("señor ÑANDÚ"), "senor nandu");
    }

    #[test]
    fn accented_and_plain_spellings_give_the_same_features() {
        let accented = Features::extract("Te doy garantía de retorno", 14);
        let plain = Features::extract("te doy GARANTIA de retorno", 14);
        assert_eq!(accented, plain);
        let other = Features::extract("te doy garantias de retorno", 14);
        assert_ne!(accented, other);
    }

    #[test]
    fn vectors_are_unit_length_and_sorted() {
        let features = Features::extract("call me on my cell, call me now", 12);
        let entries = features.entries();
        assert!(!entries.is_empty());
        assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(entries.iter().all(|&(i, _)| i < 1 << 12));
        let norm: f32 = entries.iter().map(|(_, v)| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
    }

    #[test]
    fn repeated_words_are_damped() {
        // "call" twice: its weight is 1 + ln 2 before scaling, not 2.
        let features = Features::extract("call call", 20);
        let word = (fnv1a(b'w', &["call"]) & ((1 << 20) - 1)) as u32;
        let bigram = (fnv1a(b'b', &["call", "call"]) & ((1 << 20) - 1)) as u32;
        let value = |index| {
            features
                .entries()
                .iter()
                .find(|&&(i, _)| i == index)
                .map(|&(_, v)| v)
                .unwrap()
        };
        let ratio = value(word) / value(bigram);
        assert!((ratio - (1.0 + 2f32.ln())).abs() < 1e-5, "ratio {ratio}");
    }

    #[test]
    fn empty_text_has_no_features() {
        assert!(Features::extract("  ... !!", 12).entries().is_empty());
    }

    #[test]
    fn bigram_parts_are_separated() {
        assert_ne!(fnv1a(b'b', &["ab", "c"]), fnv1a(b'b', &["a", "bc"]));
        assert_ne!(fnv1a(b'w', &["ab"]), fnv1a(b'c', &["ab"]));
    }
}
