//! Writes a demo archive as JSON lines to standard output.
//!
//! ```text
//! cargo run -p custos-demo --release --example generate -- [MESSAGES] [SEED] > demo.jsonl
//! ```

use std::io::Write;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let defaults = custos_demo::DemoConfig::default();
    let messages = args
        .next()
        .map_or(defaults.messages, |a| a.parse().expect("MESSAGES"));
    let seed = args
        .next()
        .map_or(defaults.seed, |a| a.parse().expect("SEED"));
    let config = custos_demo::DemoConfig { seed, messages };
    let started = std::time::Instant::now();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let lines = custos_demo::write_jsonl(&config, &mut out)?;
    out.flush()?;
    eprintln!("{lines} messages in {:.2?}", started.elapsed());
    Ok(())
}
