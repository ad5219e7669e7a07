//! A minimal PDF 1.7 file writer (ISO 32000-1, section 7.5): a header,
//! numbered indirect objects, a cross-reference table holding each object's
//! byte offset, and a trailer. Nothing here knows about transcripts.

use sha2::{Digest, Sha256};

/// Writes objects in number order and remembers where each one starts.
pub(crate) struct Writer {
    out: Vec<u8>,
    /// Byte offset of object `i + 1`.
    offsets: Vec<usize>,
}

impl Writer {
    /// A file with its header written: the version, then a comment of four
    /// bytes above 127 so transfer tools treat the file as binary (7.5.2).
    pub(crate) fn new() -> Self {
        let mut out = Vec::with_capacity(64 * 1024);
        out.extend_from_slice(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n");
        Self {
            out,
            offsets: Vec::new(),
        }
    }

    /// Writes object `number` with `body` (a dictionary, array...). Objects
    /// are numbered from 1 with no gaps, in the order written.
    pub(crate) fn object(&mut self, number: usize, body: &str) {
        self.begin(number);
        self.out.extend_from_slice(body.as_bytes());
        self.out.extend_from_slice(b"\nendobj\n");
    }

    /// Writes object `number` as a stream of `data`, its `/Length` filled in.
    pub(crate) fn stream(&mut self, number: usize, data: &[u8]) {
        self.begin(number);
        self.out
            .extend_from_slice(format!("<< /Length {} >>\nstream\n", data.len()).as_bytes());
        self.out.extend_from_slice(data);
        self.out.extend_from_slice(b"\nendstream\nendobj\n");
    }

    fn begin(&mut self, number: usize) {
        assert_eq!(
            number,
            self.offsets.len() + 1,
            "pdf objects must be written in number order"
        );
        self.offsets.push(self.out.len());
        self.out
            .extend_from_slice(format!("{number} 0 obj\n").as_bytes());
    }

    /// Ends the file: the cross-reference table, then the trailer naming the
    /// catalog and info objects, with a file identifier derived from the
    /// bytes so far (same content, same id), then `startxref` and `%%EOF`.
    pub(crate) fn finish(mut self, root: usize, info: usize) -> Vec<u8> {
        let id = Sha256::digest(&self.out);
        let id: String = id[..16].iter().map(|b| format!("{b:02X}")).collect();
        let xref = self.out.len();
        let size = self.offsets.len() + 1;
        let mut table = format!("xref\n0 {size}\n0000000000 65535 f\r\n");
        for offset in &self.offsets {
            // Each entry is exactly 20 bytes, ending in CR LF (7.5.4).
            table.push_str(&format!("{offset:010} 00000 n\r\n"));
        }
        table.push_str(&format!(
            "trailer\n<< /Size {size} /Root {root} 0 R /Info {info} 0 R /ID [<{id}> <{id}>] >>\nstartxref\n{xref}\n%%EOF\n"
        ));
        self.out.extend_from_slice(table.as_bytes());
        self.out
    }
}

/// A literal string `( ... )` of raw bytes: `\`, `(` and `)` escaped, and
/// every byte outside printable ASCII as a three-digit octal escape, so the
/// content streams stay plain ASCII.
pub(crate) fn literal(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('(');
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'(' => out.push_str("\\("),
            b')' => out.push_str("\\)"),
            0x20..=0x7E => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out.push(')');
    out
}

/// A text string for the document information dictionary: UTF-16BE with a
/// byte-order mark, as a hex string, so any character survives (7.9.2.2).
pub(crate) fn text_string(text: &str) -> String {
    let mut out = String::from("<FEFF");
    for unit in text.encode_utf16() {
        out.push_str(&format!("{unit:04X}"));
    }
    out.push('>');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_point_at_objects() {
        let mut w = Writer::new();
        w.object(1, "<< /Type /Catalog /Pages 2 0 R >>");
        w.stream(2, b"BT ET");
        let file = w.finish(1, 1);
        let xref = file.windows(6).rposition(|w| w == b"\nxref\n").unwrap() + 1;
        // Everything after the binary comment in line 2 is ASCII.
        let tail = std::str::from_utf8(&file[xref..]).unwrap();
        let start: usize = tail
            .split("startxref\n")
            .nth(1)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(start, xref);
        let entries: Vec<usize> = tail
            .lines()
            .skip(3)
            .take(2)
            .map(|l| l[..10].parse().unwrap())
            .collect();
        assert!(file[entries[0]..].starts_with(b"1 0 obj\n"));
        assert!(
            file[entries[1]..].starts_with(b"2 0 obj\n<< /Length 5 >>\nstream\nBT ET\nendstream")
        );
    }

    #[test]
    #[should_panic(expected = "number order")]
    fn objects_out_of_order_are_a_bug() {
        let mut w = Writer::new();
        w.object(2, "null");
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(literal(b"a(b)\\c"), "(a\\(b\\)\\\\c)");
        assert_eq!(literal(b"S\xE3o\n"), "(S\\343o\\012)");
        assert_eq!(text_string("Sé 👍"), "<FEFF005300E90020D83DDC4D>");
    }
}
