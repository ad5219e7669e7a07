//! Import parsing speed for email (messages/s): `cargo bench -p custos-capture --bench import_email`.

fn main() {}
