//! Search queries: parsing never panics, and whatever parses prints
//! (`Display`) as text that parses back to the same query. The printed
//! form is also never longer than the input (the empty query prints as
//! `*`), which is what keeps it within the 4 KiB limit.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(q) = custos_query::parse(s) {
            let printed = q.to_string();
            assert!(printed.len() <= s.len().max(1), "{s:?} printed as {printed:?}");
            assert_eq!(custos_query::parse(&printed), Ok(q), "input {s:?}");
        }
    }
});
