//! Import parsing speed for rsmf (messages/s): `cargo bench -p custos-capture --bench import_rsmf`.

fn main() {}
