//! Progress bars on standard error, drawn only when it is a terminal (so
//! scripts and CI logs never see them).

use std::io::IsTerminal;

/// A bar counting `total` things named `noun` ("events", "messages").
pub fn counting(total: u64, noun: &str) -> indicatif::ProgressBar {
    styled(
        total,
        &format!("{{bar:40}} {{pos}}/{{len}} {noun} eta {{eta}}"),
    )
}

/// A bar over `total` bytes, with the rate.
pub fn bytes(total: u64) -> indicatif::ProgressBar {
    styled(
        total,
        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
}

fn styled(total: u64, template: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(indicatif::ProgressStyle::with_template(template).expect("valid template"));
    bar
}
