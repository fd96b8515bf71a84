//! Project automation. `cargo xtask test` is the one test command (README, `.ci/run` and the GitHub
//! workflow all call it); `cargo xtask codegen` regenerates the files derived from the catalog;
//! `cargo xtask bench-http` runs the load benchmark and writes `docs/performance.md`;
//! `cargo xtask bench-instructions` counts instructions per request and writes `docs/instructions.md`;
//! `cargo xtask bench-domain` runs the domain crates' criterion benches into `docs/performance.md`.

mod bench_domain;
mod bench_http;
mod codegen;
mod provision;
mod test;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test::run(&args[1..]),
        Some("codegen") => codegen::run(codegen::Mode::Write),
        Some("bench-http") => bench_http::run(&args[1..]),
        Some("bench-instructions") => bench_http::instructions(&args[1..]),
        Some("bench-domain") => bench_domain::run(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 test      fmt check, clippy -D warnings, generated files up to date, every test\n  \
                 codegen   regenerate docs/metrics.md from the metric catalog\n  \
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
