//! Runs the benchmarks as `custos bench` does, without building the whole
//! binary (the webhook figures, which need it, are skipped):
//!
//! ```text
//! CUSTOS_BENCH_ONLY=search cargo run --release -p custos-bench --example bench
//! ```
//!
//! `--quick` for tiny sizes; `CUSTOS_BENCH_ONLY` and
//! `CUSTOS_BENCH_SEARCH_DOCS` are read as by `custos bench`.

fn main() -> anyhow::Result<()> {
    let options = custos_bench::BenchOptions {
        quick: std::env::args().any(|a| a == "--quick"),
        ..Default::default()
    };
    let figures = custos_bench::run(&options, &mut |step| eprintln!("bench: {step}"))?;
    print!("{}", custos_bench::render_table(&figures));
    Ok(())
}
