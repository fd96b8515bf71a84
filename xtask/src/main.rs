//! Project automation. `cargo xtask test` is the one test command (README, `.ci/run` and the GitHub
//! workflow all call it); `cargo xtask gen` (alias `codegen`) regenerates the files derived from the catalogs;
//! `cargo xtask e2e-prometheus` checks every dashboard panel against the demo under a real Prometheus;
//! `cargo xtask bench-http` runs the load benchmark and writes `docs/performance.md`;
//! `cargo xtask bench-instructions` counts instructions per request and writes `docs/instructions.md`;
//! `cargo xtask bench-domain` runs the domain crates' criterion benches into `docs/performance.md`.

mod bench_domain;
mod bench_http;
mod generate;
mod provision;
mod test;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test::run(&args[1..]),
        Some("gen" | "codegen") => generate::run(generate::Mode::Write),
        Some("check") => generate::run(generate::Mode::Check).and_then(|()| generate::check::run()),
        Some("e2e-prometheus") => generate::e2e::run(&args[1..]),
        Some("bench-http") => bench_http::run(&args[1..]),
        Some("bench-instructions") => bench_http::instructions(&args[1..]),
        Some("bench-domain") => bench_domain::run(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 test      fmt check, clippy -D warnings, generated files up to date, every test\n  \
                 gen       regenerate the files derived from the metric catalogs (docs/metrics.md,\n            \
                 deploy/: Prometheus rules and tests, dashboards, Alertmanager, compose; docs/runbook.md); alias codegen\n  \
                 check     generated files up to date, promtool and amtool on them, panel and alert\n            \
                 metrics in the catalog, dashboards' JSON (part of test)\n  \
                 e2e-prometheus [--settle S]\n             \
                 the demo under simulation scraped by a real Prometheus; every dashboard panel must return data\n  \
                 bench-http [--rounds N] [--duration S] [--connections C]\n             \
                 load benchmark against bare axum and the peer stacks; writes docs/performance.md\n  \
                 bench-instructions [--requests N]\n             \
                 instructions per request under callgrind, same configurations; writes docs/instructions.md\n  \
                 bench-domain [--only obs-db,...]\n             \
                 the domain crates' criterion benches; writes their section of docs/performance.md"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask's parent directory).
pub(crate) fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}
