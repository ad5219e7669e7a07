//! Journal segment files and the checksummed frames under them, as read
//! back from disk (possibly damaged or tampered with).
#![no_main]

use custos_journal::frame::{End, Frames, framed_len};
use custos_journal::segment;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = segment::parse(Path::new("x"), data, 0) {
        let mut last = 0;
        for (i, e) in parsed.entries.iter().enumerate() {
            assert!(i == 0 || e.offset > last, "entries out of order");
            assert!(e.offset < data.len());
            assert_eq!(e.leaf.seq, i as u64);
            last = e.offset;
        }
        if let Some(torn) = parsed.torn_at {
            assert!(torn <= data.len());
        }
    }

    // From the start (heads and key store files use other headers), and
    // after a segment header, as `segment::parse` scans.
    check_frames(data, 0);
    check_frames(data, data.len().min(segment::SEGMENT_HEADER));
});

fn check_frames(data: &[u8], start: usize) {
    let mut frames = Frames::new(data, start);
    let mut next = start;
    for f in frames.by_ref() {
        assert_eq!(f.offset, next, "frames must be contiguous");
        assert!(f.offset + f.body.len() <= data.len());
        next = f.offset + framed_len(f.body.len());
    }
    match frames.end() {
        Some(End::Clean) => assert_eq!(next, data.len()),
        Some(End::Torn { offset }) | Some(End::Corrupt { offset, .. }) => {
            assert_eq!(*offset, next);
        }
        None => panic!("no end after the iterator finished"),
    }
}
