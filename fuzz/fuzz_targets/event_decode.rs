//! The stable binary event encoding: decoding never panics, and whatever
//! decodes re-encodes to the same bytes (one event, one encoding).
#![no_main]

use custos_model::Event;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = Event::decode(data) {
        let again = event.encode();
        assert_eq!(again, data, "re-encoding {event:?} changed the bytes");
        assert_eq!(Event::decode(&again).as_ref(), Ok(&event));
    }
});
