//! Import parsing speed for actiance (messages/s): `cargo bench -p custos-capture --bench import_actiance`.

fn main() {}
