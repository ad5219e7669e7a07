//! The pieces of Internet mail the RSMF and EML writers share: header
//! fields (RFC 5322, with RFC 2047 encoded words for non-ASCII text),
//! dates, quoted-printable and base64 bodies (RFC 2045), and the small
//! reader [`verify`](crate::verify) uses to take an RSMF file apart.
//!
//! Lines end in CRLF everywhere, as RFC 5322 requires.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use custos_model::Timestamp;
use std::io::{self, Write};

/// Line length the writers keep to (RFC 5322 recommends 78).
const MAX_LINE: usize = 76;

/// Appends `Name: value` CRLF, folding at spaces so no line exceeds 78
/// characters where that is possible, and encoding non-ASCII text as
/// RFC 2047 `B` encoded words.
pub fn header(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push(':');
    let mut column = name.len() + 1;
    if value.is_ascii() && !value.contains(['\r', '\n']) {
        for (i, word) in value.split(' ').enumerate() {
            if i > 0 && column + 1 + word.len() > 78 {
                out.push_str("\r\n");
                column = 0;
            }
            out.push(' ');
            out.push_str(word);
            column += 1 + word.len();
        }
    } else {
        // Encoded words of at most 75 characters each (RFC 2047 section 2):
        // 12 characters of syntax leave 63 of base64, 45 bytes of text.
        let mut chunk_start = 0;
        let mut first = true;
        let flat: String = value.replace(['\r', '\n'], " ");
        let bytes = flat.as_bytes();
        while chunk_start < bytes.len() {
            let mut end = (chunk_start + 45).min(bytes.len());
            while !flat.is_char_boundary(end) {
                end -= 1;
            }
            if !first {
                out.push_str("\r\n");
            }
            out.push_str(" =?UTF-8?B?");
            out.push_str(&STANDARD.encode(&bytes[chunk_start..end]));
            out.push_str("?=");
            first = false;
            chunk_start = end;
        }
    }
    out.push_str("\r\n");
}

/// A mailbox: `"Display" <address>`, the display name quoted (or encoded
/// when not ASCII); `address` is already an addr-spec ([`address_for`]).
pub fn mailbox(display: &str, address: &str) -> String {
    if display.is_empty() || display == address {
        return format!("<{address}>");
    }
    if display.is_ascii() {
        let escaped = display.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\" <{address}>")
    } else {
        let mut encoded = String::new();
        let bytes = display.as_bytes();
        let mut start = 0;
        while start < bytes.len() {
            let mut end = (start + 45).min(bytes.len());
            while !display.is_char_boundary(end) {
                end -= 1;
            }
            if start > 0 {
                encoded.push(' ');
            }
            encoded.push_str("=?UTF-8?B?");
            encoded.push_str(&STANDARD.encode(&bytes[start..end]));
            encoded.push_str("?=");
            start = end;
        }
        format!("{encoded} <{address}>")
    }
}

/// Turns any address into an RFC 5322 addr-spec: an e-mail address stays
/// as it is; anything else (a phone number, a user id) becomes a local part
/// (quoted if need be) at `CHANNEL.invalid`, a domain that can never be
/// delivered to (RFC 2606).
pub fn address_for(address: &str, channel: &str) -> String {
    let is_email = address.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && is_atom_text(local) && is_domain(domain)
    });
    if is_email {
        return address.to_string();
    }
    let local = if !address.is_empty() && is_atom_text(address) {
        address.to_string()
    } else {
        let escaped = address.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\"")
    };
    let domain: String = channel
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let domain = if domain.is_empty() {
        "unknown".to_string()
    } else {
        domain
    };
    format!("{local}@{domain}.invalid")
}

/// Whether `text` is a dot-atom (RFC 5322 section 3.2.3).
fn is_atom_text(text: &str) -> bool {
    !text.starts_with('.')
        && !text.ends_with('.')
        && !text.contains("..")
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
}

fn is_domain(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// An RFC 5322 date (`Mon, 10 Jun 2024 08:10:56 +0100`) in `zone`.
pub fn date(at: Timestamp, zone: &jiff::tz::TimeZone) -> String {
    match jiff::Timestamp::from_microsecond(at.as_micros()) {
        Ok(ts) => ts
            .to_zoned_datetime(zone.clone())
            .strftime("%a, %d %b %Y %H:%M:%S %z")
            .to_string(),
        Err(_) => "Thu, 01 Jan 1970 00:00:00 +0000".to_string(),
    }
}

/// Quoted-printable encoding (RFC 2045 section 6.7) of UTF-8 text whose
/// line breaks (LF or CRLF) become CRLF hard breaks; lines are soft-broken
/// to stay within 76 characters.
pub fn quoted_printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let normalised = text.replace("\r\n", "\n");
    for (i, line) in normalised.split('\n').enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let mut column = 0;
        let bytes = line.as_bytes();
        for (j, &b) in bytes.iter().enumerate() {
            let last = j + 1 == bytes.len();
            let literal =
                (b == b' ' || b == b'\t') && !last || (33..=126).contains(&b) && b != b'=';
            let width = if literal { 1 } else { 3 };
            // Leave room for the soft break's `=` (76 characters in all).
            if column + width > MAX_LINE - 1 {
                out.push_str("=\r\n");
                column = 0;
            }
            if literal {
                out.push(b as char);
            } else {
                out.push_str(&format!("={b:02X}"));
            }
            column += width;
        }
    }
    out
}

/// A writer that base64-encodes what it is given into lines of 76
/// characters ending in CRLF, streaming (RFC 2045 section 6.8).
pub struct Base64Lines<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

/// Input bytes per 76-character line.
const LINE_BYTES: usize = 57;

impl<W: Write> Base64Lines<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Base64Lines {
            inner,
            pending: Vec::with_capacity(LINE_BYTES * 64),
        }
    }

    fn flush_full_lines(&mut self) -> io::Result<()> {
        let full = self.pending.len() / LINE_BYTES * LINE_BYTES;
        if full == 0 {
            return Ok(());
        }
        let mut text = String::with_capacity(full / LINE_BYTES * 78);
        for line in self.pending[..full].chunks(LINE_BYTES) {
            STANDARD.encode_string(line, &mut text);
            text.push_str("\r\n");
        }
        self.inner.write_all(text.as_bytes())?;
        self.pending.drain(..full);
        Ok(())
    }

    /// Writes the last, shorter line and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_full_lines()?;
        if !self.pending.is_empty() {
            let mut text = STANDARD.encode(&self.pending);
            text.push_str("\r\n");
            self.inner.write_all(text.as_bytes())?;
        }
        Ok(self.inner)
    }
}

impl<W: Write> Write for Base64Lines<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if self.pending.len() >= LINE_BYTES * 64 {
            self.flush_full_lines()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// One part of a MIME message, as [`parts`] finds it.
#[derive(Debug)]
pub struct Part<'a> {
    /// The part's header block, unfolded, one field per entry
    /// (name lower-cased, value trimmed).
    pub headers: Vec<(String, String)>,
    /// The body, still transfer-encoded.
    pub body: &'a str,
}

impl Part<'_> {
    /// The first header named `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Splits a message into its header block and body.
pub fn split_message(text: &str) -> Option<(Vec<(String, String)>, &str)> {
    let end = text.find("\r\n\r\n")?;
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in text[..end].split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    Some((headers, &text[end + 4..]))
}

/// The parts of a multipart message body delimited by `boundary`.
pub fn parts<'a>(body: &'a str, boundary: &str) -> Vec<Part<'a>> {
    let delimiter = format!("--{boundary}");
    let mut out = Vec::new();
    let mut rest = body;
    // Skip the preamble.
    let Some(first) = rest.find(&delimiter) else {
        return out;
    };
    rest = &rest[first + delimiter.len()..];
    loop {
        if rest.starts_with("--") {
            break;
        }
        let Some(after) = rest.strip_prefix("\r\n") else {
            break;
        };
        let close = format!("\r\n{delimiter}");
        let Some(end) = after.find(&close) else {
            break;
        };
        if let Some((headers, body)) = split_message(&after[..end]) {
            out.push(Part { headers, body });
        } else if let Some(body) = after[..end].strip_prefix("\r\n") {
            out.push(Part {
                headers: Vec::new(),
                body,
            });
        }
        rest = &after[end + close.len()..];
    }
    out
}

/// The `boundary` parameter of a Content-Type value.
pub fn boundary(content_type: &str) -> Option<&str> {
    let at = content_type.find("boundary=")?;
    let rest = &content_type[at + "boundary=".len()..];
    if let Some(quoted) = rest.strip_prefix('"') {
        quoted.split('"').next()
    } else {
        rest.split([';', ' ']).next()
    }
}

/// Decodes a base64 body whose lines end in CRLF.
pub fn decode_base64(body: &str) -> Option<Vec<u8>> {
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(compact).ok()
}

/// Decodes a quoted-printable body into text.
pub fn decode_quoted_printable(body: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(body.len());
    let raw = body.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'=' {
            if raw.get(i + 1) == Some(&b'\r') && raw.get(i + 2) == Some(&b'\n') {
                i += 3;
                continue;
            }
            let hex = std::str::from_utf8(raw.get(i + 1..i + 3)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_headers_fold_at_spaces_and_unfold_to_the_same_value() {
        let mut out = String::new();
        let value = (0..30)
            .map(|i| format!("P{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        header(&mut out, "X-RSMF-Participants", &value);
        assert!(out.split("\r\n").all(|line| line.len() <= 78), "{out}");
        let (headers, _) = split_message(&format!("{out}\r\n")).unwrap();
        assert_eq!(headers[0].1, value);
    }

    #[test]
    fn non_ascii_headers_become_encoded_words_of_at_most_75_characters() {
        let mut out = String::new();
        header(
            &mut out,
            "Subject",
            "Conversa com João — ação nº 5 ".repeat(3).trim(),
        );
        assert!(out.starts_with("Subject: =?UTF-8?B?"));
        for line in out.trim_end().split("\r\n") {
            let word = line.trim_start_matches("Subject:").trim();
            assert!(word.len() <= 75, "{word}");
            assert!(word.starts_with("=?UTF-8?B?") && word.ends_with("?="));
        }
    }

    #[test]
    fn quoted_printable_round_trips_and_keeps_lines_short() {
        let text =
            "Olá, tudo bem? = sim\nline two with trailing space \n".to_string() + &"x".repeat(200);
        let encoded = quoted_printable(&text);
        assert!(encoded.split("\r\n").all(|l| l.len() <= 76), "{encoded}");
        assert!(encoded.contains("=3D"));
        assert!(encoded.contains("space=20"));
        assert_eq!(
            decode_quoted_printable(&encoded).unwrap(),
            text.replace('\n', "\r\n")
        );
    }

    #[test]
    fn base64_lines_are_76_characters_and_decode_back() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let mut writer = Base64Lines::new(Vec::new());
        for chunk in data.chunks(333) {
            writer.write_all(chunk).unwrap();
        }
        let text = String::from_utf8(writer.finish().unwrap()).unwrap();
        let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
        assert!(lines[..lines.len() - 1].iter().all(|l| l.len() == 76));
        assert!(lines.last().unwrap().len() <= 76);
        assert_eq!(decode_base64(&text).unwrap(), data);
    }

    #[test]
    fn addresses_that_are_not_email_go_to_an_invalid_domain() {
        assert_eq!(address_for("ana@example.com", "email"), "ana@example.com");
        assert_eq!(
            address_for("+34600111222", "whatsapp"),
            "+34600111222@whatsapp.invalid"
        );
        assert_eq!(address_for("Ana Ruiz", "sms"), "\"Ana Ruiz\"@sms.invalid");
    }

    #[test]
    fn dates_are_rfc5322_in_the_zone() {
        let zone = jiff::tz::TimeZone::get("Europe/London").unwrap();
        let at = Timestamp::parse("2024-06-10T07:10:56Z").unwrap();
        assert_eq!(date(at, &zone), "Mon, 10 Jun 2024 08:10:56 +0100");
    }

    #[test]
    fn multipart_bodies_split_into_their_parts() {
        let body = "preamble\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: application/zip;\r\n name=\"rsmf.zip\"\r\n\r\nAAAA\r\n--b--\r\n";
        let parts = parts(body, "b");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].body, "hello");
        assert_eq!(
            parts[1].header("content-type"),
            Some("application/zip; name=\"rsmf.zip\"")
        );
        assert_eq!(boundary("multipart/mixed; boundary=\"=_x\""), Some("=_x"));
    }
}
