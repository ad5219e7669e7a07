//! Text to WinAnsiEncoding (PDF 1.7, Annex D), the encoding of the standard
//! fonts. A character the encoding cannot hold becomes a visible marker
//! naming its code point, `[U+1F44D]`, so the reader sees that something was
//! there and what it was.

/// The WinAnsi code of `c`, if it has one. Control characters have none.
pub(crate) fn code(c: char) -> Option<u8> {
    let u = c as u32;
    match u {
        0x20..=0x7E | 0xA0..=0xFF => Some(u as u8),
        _ => Some(match c {
            '€' => 0x80,
            '‚' => 0x82,
            'ƒ' => 0x83,
            '„' => 0x84,
            '…' => 0x85,
            '†' => 0x86,
            '‡' => 0x87,
            'ˆ' => 0x88,
            '‰' => 0x89,
            'Š' => 0x8A,
            '‹' => 0x8B,
            'Œ' => 0x8C,
            'Ž' => 0x8E,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '˜' => 0x98,
            '™' => 0x99,
            'š' => 0x9A,
            '›' => 0x9B,
            'œ' => 0x9C,
            'ž' => 0x9E,
            'Ÿ' => 0x9F,
            _ => return None,
        }),
    }
}

/// `text` in WinAnsi: tabs become a space, everything without a code a
/// `[U+XXXX]` marker (line breaks are the caller's to split on first).
pub(crate) fn encode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        if c == '\t' {
            out.push(b' ');
        } else if let Some(b) = code(c) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("[U+{:04X}]", c as u32).as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_text_is_one_byte_a_character() {
        assert_eq!(encode("São Paulo, 5 €"), b"S\xE3o Paulo, 5 \x80");
        assert_eq!(encode("“ok” – fine…"), b"\x93ok\x94 \x96 fine\x85");
    }

    #[test]
    fn the_rest_becomes_markers() {
        assert_eq!(encode("ok 👍"), b"ok [U+1F44D]");
        assert_eq!(encode("नमस्ते")[..8], *b"[U+0928]");
        assert_eq!(encode("a\u{7}b\tc"), b"a[U+0007]b c");
        assert_eq!(encode("中"), b"[U+4E2D]");
    }
}
