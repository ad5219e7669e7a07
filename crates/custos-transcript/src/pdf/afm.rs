//! Glyph widths of the standard Helvetica fonts, from Adobe's Core 14 AFM
//! files (Helvetica.afm, Helvetica-Bold.afm; Helvetica-Oblique is Helvetica
//! slanted and has the same widths), indexed by WinAnsiEncoding code.
//!
//! Widths are in thousandths of the font size. Codes below 32 and the six
//! codes WinAnsi leaves undefined (127, 129, 141, 143, 144, 157) are 0: the
//! encoder never produces them.

/// One of the three faces the transcript uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Face {
    /// Helvetica, resource `/F1`.
    Regular,
    /// Helvetica-Bold, resource `/F2`.
    Bold,
    /// Helvetica-Oblique, resource `/F3`.
    Oblique,
}

impl Face {
    /// The resource name used in content streams.
    pub(crate) fn resource(self) -> &'static str {
        match self {
            Face::Regular => "F1",
            Face::Bold => "F2",
            Face::Oblique => "F3",
        }
    }

    /// The standard font's PostScript name.
    pub(crate) fn base_font(self) -> &'static str {
        match self {
            Face::Regular => "Helvetica",
            Face::Bold => "Helvetica-Bold",
            Face::Oblique => "Helvetica-Oblique",
        }
    }

    /// The width of WinAnsi-encoded `text` at `size` points.
    pub(crate) fn width(self, text: &[u8], size: f64) -> f64 {
        let table = match self {
            Face::Regular | Face::Oblique => &HELVETICA,
            Face::Bold => &HELVETICA_BOLD,
        };
        let units: u32 = text
            .iter()
            .map(|&b| {
                if b < 32 {
                    0
                } else {
                    table[(b - 32) as usize] as u32
                }
            })
            .sum();
        units as f64 * size / 1000.0
    }
}

/// Helvetica, codes 32..=255.
#[rustfmt::skip]
const HELVETICA: [u16; 224] = [
    // space exclam quotedbl numbersign dollar percent ampersand quotesingle parenleft parenright asterisk plus comma hyphen period slash
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    // zero..nine colon semicolon less equal greater question
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    // at A..O
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    // P..Z bracketleft backslash bracketright asciicircum underscore
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    // grave a..o
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    // p..z braceleft bar braceright asciitilde (127 undefined)
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, 0,
    // Euro (129) quotesinglbase florin quotedblbase ellipsis dagger daggerdbl circumflex perthousand Scaron guilsinglleft OE (141) Zcaron (143)
    556, 0, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611, 0,
    // (144) quoteleft quoteright quotedblleft quotedblright bullet endash emdash tilde trademark scaron guilsinglright oe (157) zcaron Ydieresis
    0, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 0, 500, 667,
    // nbspace exclamdown cent sterling currency yen brokenbar section dieresis copyright ordfeminine guillemotleft logicalnot hyphen registered macron
    278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333,
    // degree plusminus twosuperior threesuperior acute mu paragraph periodcentered cedilla onesuperior ordmasculine guillemotright onequarter onehalf threequarters questiondown
    400, 584, 333, 333, 333, 556, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611,
    // Agrave Aacute Acircumflex Atilde Adieresis Aring AE Ccedilla Egrave Eacute Ecircumflex Edieresis Igrave Iacute Icircumflex Idieresis
    667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278,
    // Eth Ntilde Ograve Oacute Ocircumflex Otilde Odieresis multiply Oslash Ugrave Uacute Ucircumflex Udieresis Yacute Thorn germandbls
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611,
    // agrave aacute acircumflex atilde adieresis aring ae ccedilla egrave eacute ecircumflex edieresis igrave iacute icircumflex idieresis
    556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278,
    // eth ntilde ograve oacute ocircumflex otilde odieresis divide oslash ugrave uacute ucircumflex udieresis yacute thorn ydieresis
    556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500,
];

/// Helvetica-Bold, codes 32..=255 (same glyph order as [`HELVETICA`]).
#[rustfmt::skip]
const HELVETICA_BOLD: [u16; 224] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611,
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556,
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611,
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, 0,
    556, 0, 278, 556, 500, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611, 0,
    0, 278, 278, 500, 500, 350, 556, 1000, 333, 1000, 556, 333, 944, 0, 500, 667,
    278, 333, 556, 556, 556, 556, 280, 556, 333, 737, 370, 556, 584, 333, 737, 333,
    400, 584, 333, 333, 333, 611, 556, 278, 333, 333, 365, 556, 834, 834, 834, 611,
    722, 722, 722, 722, 722, 722, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278,
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611,
    556, 556, 556, 556, 556, 556, 889, 556, 556, 556, 556, 556, 278, 278, 278, 278,
    611, 611, 611, 611, 611, 611, 611, 584, 611, 611, 611, 611, 611, 556, 611, 556,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_widths_from_the_afm_files() {
        // C 32 ; WX 278 ; N space / C 87 ; WX 944 ; N W / C 109 ; WX 833 ; N m
        assert_eq!(Face::Regular.width(b" Wm", 1000.0), 278.0 + 944.0 + 833.0);
        // Helvetica-Bold: C 105 ; WX 278 ; N i / C 98 ; WX 611 ; N b
        assert_eq!(Face::Bold.width(b"bi", 1000.0), 611.0 + 278.0);
        // Euro 556, emdash 1000, eacute 556 (regular), germandbls 611.
        assert_eq!(
            Face::Regular.width(&[0x80, 0x97, 0xE9, 0xDF], 1000.0),
            2723.0
        );
        assert_eq!(
            Face::Oblique.width(b"Page 1 of 2", 10.0),
            Face::Regular.width(b"Page 1 of 2", 10.0)
        );
    }

    #[test]
    fn every_defined_code_has_a_width() {
        let undefined = [127u8, 129, 141, 143, 144, 157];
        for code in 32u8..=255 {
            let w = Face::Regular.width(&[code], 1000.0);
            let b = Face::Bold.width(&[code], 1000.0);
            if undefined.contains(&code) {
                assert_eq!((w, b), (0.0, 0.0), "code {code}");
            } else {
                assert!(w > 0.0 && b > 0.0, "code {code}");
            }
        }
    }
}
