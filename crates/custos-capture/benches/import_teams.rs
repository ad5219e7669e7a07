//! Import parsing speed for teams (messages/s): `cargo bench -p custos-capture --bench import_teams`.

fn main() {}
