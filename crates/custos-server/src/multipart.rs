//! `multipart/form-data` (RFC 7578), the little of it custos needs: reading
//! the console's file uploads (a few fields and one file) and writing the
//! Graph API's media upload. Written here rather than pulling a crate in:
//! the bodies are small, whole in memory, and come from our own forms.

/// The largest upload the console accepts (WhatsApp's video limit; images
/// are 5 MB and documents 100 MB at Meta, but a console form is not where
/// 100 MB files should travel).
pub const MAX_BYTES: usize = 16 << 20;

/// One part of a body.
#[derive(Clone, PartialEq, Eq)]
pub struct Part {
    /// The form field's name.
    pub name: String,
    /// The file's name, for a file field.
    pub filename: Option<String>,
    /// The part's `Content-Type`, if given.
    pub content_type: Option<String>,
    /// The bytes.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the content: it may be a customer's document.
        f.debug_struct("Part")
            .field("name", &self.name)
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .field("bytes", &self.data.len())
            .finish()
    }
}

/// Why a body could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MultipartError {
    /// The `Content-Type` names no boundary.
    #[error("content-type: multipart/form-data without a boundary")]
    NoBoundary,
    /// The body does not follow the boundary structure.
    #[error("body: not a multipart/form-data body ({0})")]
    Malformed(&'static str),
}

/// The `boundary` parameter of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Every part of `body`, sent with `content_type`.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Vec<Part>, MultipartError> {
    let boundary = boundary(content_type).ok_or(MultipartError::NoBoundary)?;
    let delimiter = format!("--{boundary}").into_bytes();
    let start = find(body, &delimiter).ok_or(MultipartError::Malformed("no boundary"))?;
    let mut rest = &body[start + delimiter.len()..];
    let separator = [b"\r\n".as_slice(), &delimiter].concat();
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        rest = rest.strip_prefix(b"\r\n").ok_or(MultipartError::Malformed(
            "a boundary not followed by a line end",
        ))?;
        let head_end =
            find(rest, b"\r\n\r\n").ok_or(MultipartError::Malformed("a part without headers"))?;
        let head = std::str::from_utf8(&rest[..head_end])
            .map_err(|_| MultipartError::Malformed("headers not UTF-8"))?;
        let content = &rest[head_end + 4..];
        let end = find(content, &separator).ok_or(MultipartError::Malformed(
            "a part without its closing boundary",
        ))?;
        let mut part = Part {
            name: String::new(),
            filename: None,
            content_type: None,
            data: content[..end].to_vec(),
        };
        for line in head.split("\r\n") {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            match name.trim().to_ascii_lowercase().as_str() {
                "content-disposition" => {
                    for param in value.split(';').skip(1) {
                        if let Some((k, v)) = param.split_once('=') {
                            let v = v.trim().trim_matches('"').to_string();
                            match k.trim() {
                                "name" => part.name = v,
                                "filename" => part.filename = Some(v),
                                _ => {}
                            }
                        }
                    }
                }
                "content-type" => part.content_type = Some(value.trim().to_string()),
                _ => {}
            }
        }
        if part.name.is_empty() {
            return Err(MultipartError::Malformed("a part without a field name"));
        }
        parts.push(part);
        rest = &content[end + separator.len()..];
    }
}

/// The text of field `name` (the first), if the body has it.
pub fn field(content_type: &str, body: &[u8], name: &str) -> Option<String> {
    parse(content_type, body)
        .ok()?
        .into_iter()
        .find(|p| p.name == name && p.filename.is_none())
        .and_then(|p| String::from_utf8(p.data).ok())
}

/// A body of `parts` and its content type (a random boundary that does not
/// occur in any part).
pub fn encode(parts: &[Part]) -> (String, Vec<u8>) {
    let boundary = loop {
        let candidate = format!("custos-{:016x}", rand_u64());
        if parts
            .iter()
            .all(|p| find(&p.data, candidate.as_bytes()).is_none())
        {
            break candidate;
        }
    };
    let mut body = Vec::new();
    for p in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", p.name);
        if let Some(f) = &p.filename {
            disposition.push_str(&format!("; filename=\"{}\"", f.replace('"', "'")));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(t) = &p.content_type {
            body.extend_from_slice(format!("Content-Type: {t}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(&p.data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn rand_u64() -> u64 {
    let mut bytes = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("the system's random source");
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(name: &str, filename: Option<&str>, data: &[u8]) -> Part {
        Part {
            name: name.into(),
            filename: filename.map(str::to_string),
            content_type: filename.map(|_| "application/pdf".to_string()),
            data: data.to_vec(),
        }
    }

    #[test]
    fn what_is_written_reads_back() {
        let parts = vec![
            part("_csrf", None, b"token"),
            part("caption", None, "A proposta ✓".as_bytes()),
            part(
                "file",
                Some("proposta.pdf"),
                b"%PDF-1.7\r\n\r\n--x\r\nbinary\x00\xff",
            ),
        ];
        let (ct, body) = encode(&parts);
        assert_eq!(parse(&ct, &body).unwrap(), parts);
        assert_eq!(field(&ct, &body, "_csrf").as_deref(), Some("token"));
        assert_eq!(field(&ct, &body, "file"), None, "a file is not a field");
    }

    #[test]
    fn a_browser_body_parses_and_bad_ones_are_named() {
        let ct = "multipart/form-data; boundary=----WebKitFormBoundaryX";
        let body = b"------WebKitFormBoundaryX\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\nhi\r\n------WebKitFormBoundaryX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n------WebKitFormBoundaryX--\r\n";
        let parts = parse(ct, body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].filename.as_deref(), Some("a.png"));
        assert_eq!(parts[1].content_type.as_deref(), Some("image/png"));
        assert_eq!(parts[1].data, b"\x89PNG");
        assert_eq!(
            parse("multipart/form-data", body),
            Err(MultipartError::NoBoundary)
        );
        assert!(matches!(
            parse(ct, &body[..60]),
            Err(MultipartError::Malformed(_))
        ));
        assert_eq!(boundary("text/plain; boundary=x"), None);
    }
}
