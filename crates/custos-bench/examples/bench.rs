//! Runs the benchmarks as `custos bench` does, without building the whole
//! binary (the webhook figures, which need it, are skipped):
//!
//! ```text
//! cargo run --release -p custos-bench --example bench -- --only search
//! ```
//!
//! `--quick` for tiny sizes, `--only GROUP` for one group, `--json` for
//! JSON lines; `CUSTOS_BENCH_ONLY` and `CUSTOS_BENCH_SEARCH_DOCS` are read
//! as by `custos bench`.

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut options = custos_bench::BenchOptions {
        quick: args.iter().any(|a| a == "--quick"),
        ..Default::default()
    };
    if let Some(i) = args.iter().position(|a| a == "--only") {
        let group = args.get(i + 1).map_or("", String::as_str);
        options.only = Some(custos_bench::Group::parse(group)?);
    }
    let figures = custos_bench::run(&options, &mut |step| eprintln!("bench: {step}"))?;
    if args.iter().any(|a| a == "--json") {
        for f in &figures {
            println!("{}", serde_json::to_string(f)?);
        }
    } else {
        print!("{}", custos_bench::render_table(&figures));
    }
    Ok(())
}
