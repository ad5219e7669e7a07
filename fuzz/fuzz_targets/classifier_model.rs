//! Classifier model files: reading never panics, and whatever is accepted
//! is exactly what `to_bytes` writes for the model read (one model, one
//! file).
//!
//! The trailing SHA-256 would stop nearly every mutation at the checksum,
//! so each input is also tried resealed: its last 32 bytes replaced by the
//! digest of the rest, which lets the fuzzer reach the body's parser.
#![no_main]

use custos_classifier::Model;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fn check(bytes: &[u8]) {
    if let Ok(model) = Model::from_bytes(bytes) {
        let again = model.to_bytes();
        assert!(again == bytes, "accepted bytes that to_bytes does not write: {model:?}");
        assert_eq!(Model::from_bytes(&again).as_ref().ok(), Some(&model));
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() >= 32 {
        let body = &data[..data.len() - 32];
        let mut sealed = body.to_vec();
        sealed.extend_from_slice(&Sha256::digest(body));
        if sealed != data {
            check(&sealed);
        }
    }
});
