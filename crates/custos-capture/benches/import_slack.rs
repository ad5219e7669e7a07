//! Import parsing speed for slack (messages/s): `cargo bench -p custos-capture --bench import_slack`.

fn main() {}
