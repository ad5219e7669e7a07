//! Checksummed records, and telling a torn tail from corruption.
//!
//! Every journal file (segments, signed heads, the key store) is a fixed
//! file header followed by frames:
//!
//! ```text
//! magic u32 | body_len u32 | header_crc u32 | body | body_crc u32
//! ```
//!
//! `header_crc` is CRC-32C of the first eight bytes and `body_crc` of the
//! body, both little-endian. The two checksums let a reader classify the
//! first frame that does not check out:
//!
//! - **torn**: the file ends inside the frame (its header is incomplete, or a
//!   valid header announces more bytes than are left) or everything from it
//!   to the end is zero. That is a write cut short by a crash; it was never
//!   acknowledged, so it may be cut away.
//! - **corrupt**: anything else, such as a complete frame with a wrong
//!   checksum. That is damage or tampering, and is never cut away.

/// The magic number that opens every frame.
pub const FRAME_MAGIC: u32 = 0xC057_05F1;
/// Bytes of a frame before its body.
pub const FRAME_HEADER: usize = 12;
/// Bytes of a frame after its body.
pub const FRAME_TRAILER: usize = 4;
/// The largest body a frame may hold; larger lengths are damage.
pub const MAX_BODY: usize = 64 << 20;

/// Appends one frame holding `body` to `out`.
pub fn write(out: &mut Vec<u8>, body: &[u8]) {
    write_parts(out, &[body]);
}

/// Appends one frame whose body is the concatenation of `parts`.
pub fn write_parts(out: &mut Vec<u8>, parts: &[&[u8]]) {
    let body_len: usize = parts.iter().map(|p| p.len()).sum();
    assert!(body_len <= MAX_BODY, "frame body over the maximum");
    let len = body_len as u32;
    let start = out.len();
    out.extend_from_slice(&FRAME_MAGIC.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    let header_crc = crc32c::crc32c(&out[start..start + 8]);
    out.extend_from_slice(&header_crc.to_le_bytes());
    let body_start = out.len();
    for part in parts {
        out.extend_from_slice(part);
    }
    let body_crc = crc32c::crc32c(&out[body_start..]);
    out.extend_from_slice(&body_crc.to_le_bytes());
}

/// The size on disk of a frame with a body of `body_len` bytes.
pub const fn framed_len(body_len: usize) -> usize {
    FRAME_HEADER + body_len + FRAME_TRAILER
}

/// One frame that checked out.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Offset of the frame's first byte in the scanned buffer.
    pub offset: usize,
    /// The body.
    pub body: &'a [u8],
}

/// How the frames of a buffer end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// The last frame ends exactly at the end of the buffer.
    Clean,
    /// A write cut short by a crash starts at this offset.
    Torn {
        /// Offset of the torn frame.
        offset: usize,
    },
    /// Damage at this offset.
    Corrupt {
        /// Offset of the damaged frame.
        offset: usize,
        /// What does not check out.
        problem: &'static str,
    },
}

/// Iterates over the frames of `buf` starting at `start`, stopping at the
/// first that does not check out; [`Frames::end`] then says why.
pub struct Frames<'a> {
    buf: &'a [u8],
    pos: usize,
    end: Option<End>,
}

impl<'a> Frames<'a> {
    /// Frames of `buf` from offset `start`.
    pub fn new(buf: &'a [u8], start: usize) -> Self {
        Self {
            buf,
            pos: start,
            end: None,
        }
    }

    /// How the scan ended; `None` until the iterator returned `None`.
    pub fn end(&self) -> Option<&End> {
        self.end.as_ref()
    }

    fn stop(&mut self, end: End) -> Option<Frame<'a>> {
        self.end = Some(end);
        None
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Frame<'a>;

    fn next(&mut self) -> Option<Frame<'a>> {
        if self.end.is_some() {
            return None;
        }
        let offset = self.pos;
        let rest = &self.buf[offset..];
        if rest.is_empty() {
            return self.stop(End::Clean);
        }
        if rest.iter().all(|&b| b == 0) || rest.len() < FRAME_HEADER {
            return self.stop(End::Torn { offset });
        }
        let magic = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes"));
        let len = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes")) as usize;
        let header_crc = u32::from_le_bytes(rest[8..12].try_into().expect("4 bytes"));
        if magic != FRAME_MAGIC {
            return self.stop(End::Corrupt {
                offset,
                problem: "frame magic does not match",
            });
        }
        if crc32c::crc32c(&rest[0..8]) != header_crc {
            return self.stop(End::Corrupt {
                offset,
                problem: "frame header checksum does not match",
            });
        }
        if len > MAX_BODY {
            return self.stop(End::Corrupt {
                offset,
                problem: "frame length is over the maximum",
            });
        }
        let total = framed_len(len);
        if rest.len() < total {
            return self.stop(End::Torn { offset });
        }
        let body = &rest[FRAME_HEADER..FRAME_HEADER + len];
        let body_crc =
            u32::from_le_bytes(rest[FRAME_HEADER + len..total].try_into().expect("4 bytes"));
        if crc32c::crc32c(body) != body_crc {
            return self.stop(End::Corrupt {
                offset,
                problem: "frame body checksum does not match",
            });
        }
        self.pos += total;
        Some(Frame { offset, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn three_frames() -> Vec<u8> {
        let mut buf = Vec::new();
        write(&mut buf, b"first");
        write(&mut buf, b"second body");
        write(&mut buf, b"third");
        buf
    }

    fn scan(buf: &[u8]) -> (Vec<Vec<u8>>, End) {
        let mut frames = Frames::new(buf, 0);
        let bodies = frames.by_ref().map(|f| f.body.to_vec()).collect();
        (bodies, frames.end().cloned().unwrap())
    }

    #[test]
    fn reads_back_what_was_written() {
        let (bodies, end) = scan(&three_frames());
        assert_eq!(
            bodies,
            vec![
                b"first".to_vec(),
                b"second body".to_vec(),
                b"third".to_vec()
            ]
        );
        assert_eq!(end, End::Clean);
    }

    #[test]
    fn zero_fill_after_the_last_frame_is_a_torn_tail() {
        let mut buf = three_frames();
        let len = buf.len();
        buf.extend_from_slice(&[0; 40]);
        assert_eq!(scan(&buf).1, End::Torn { offset: len });
    }

    proptest! {
        /// A crash leaves a prefix of what was written: the complete frames
        /// read back and the rest is a torn tail, never corruption.
        #[test]
        fn every_prefix_is_frames_then_a_torn_tail(cut in 0usize..60) {
            let buf = three_frames();
            let cut = cut.min(buf.len());
            let (bodies, end) = scan(&buf[..cut]);
            let boundaries = [0, framed_len(5), framed_len(5) + framed_len(11), buf.len()];
            let complete = boundaries.iter().filter(|&&b| b <= cut).count() - 1;
            prop_assert_eq!(bodies.len(), complete);
            if boundaries.contains(&cut) {
                prop_assert_eq!(end, End::Clean);
            } else {
                prop_assert_eq!(end, End::Torn { offset: boundaries[complete] });
            }
        }

        /// Any single flipped byte in a complete file is reported as
        /// corruption of the frame that holds it, never as a torn tail.
        #[test]
        fn a_flipped_byte_is_corruption_of_its_frame(at in 0usize..60, bit in 0u8..8) {
            let mut buf = three_frames();
            let at = at % buf.len();
            buf[at] ^= 1 << bit;
            let boundaries = [0, framed_len(5), framed_len(5) + framed_len(11)];
            let frame = boundaries.iter().rposition(|&b| b <= at).unwrap();
            let (bodies, end) = scan(&buf);
            prop_assert_eq!(bodies.len(), frame);
            let is_corrupt_at_frame = matches!(end, End::Corrupt { offset, .. } if offset == boundaries[frame]);
            prop_assert!(is_corrupt_at_frame);
        }
    }
}
