//! `cargo xtask test`: the one test command.

use std::process::Command;
use std::time::Instant;

pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(crate::root());
    // sqlx's `query!` macros (obs-db's tests) check against the query data kept in the repo,
    // even where a DATABASE_URL is set.
    cmd.env("SQLX_OFFLINE", "true");
    cmd
}

fn step(name: &str, mut cmd: Command) -> Result<(), String> {
    let start = Instant::now();
    eprintln!("xtask: {name}");
    let status = cmd
        .status()
        .map_err(|e| format!("{name}: cannot run: {e}"))?;
    eprintln!(
        "xtask: {name}: {} in {:.0?}",
        if status.success() { "ok" } else { "FAILED" },
        start.elapsed()
    );
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name} failed ({status})"))
    }
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let skip_lint = args.iter().any(|a| a == "--no-lint");

    if !skip_lint {
        let mut fmt = cargo();
        fmt.args(["fmt", "--all", "--", "--check"]);
        step("cargo fmt --check", fmt)?;

        let mut clippy = cargo();
        clippy.args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]);
        step("cargo clippy -D warnings", clippy)?;

        let mut doc = cargo();
        doc.args(["doc", "--workspace", "--no-deps", "--all-features"])
            .env(
                "RUSTDOCFLAGS",
                "-D warnings -D rustdoc::broken_intra_doc_links",
            );
        step("cargo doc -D warnings", doc)?;
    }

    crate::codegen::run(crate::codegen::Mode::Check)?;

    // Real tools the tests use; installed from Debian packages when missing and running as root.
    crate::provision::ensure("promtool", &["--version"], "prometheus")?;
    crate::provision::ensure("redis-server", &["--version"], "redis-server")?;
    // obs-db's tests start a private PostgreSQL server from /usr/lib/postgresql/*/bin; the
    // server package brings postgresql-common, whose pg_lsclusters is on PATH.
    crate::provision::ensure("pg_lsclusters", &["--help"], "postgresql")?;

    // nextest gives each test its own process; plain `cargo test` works too (tests that install
    // globals re-run themselves in a child process).
    if crate::provision::has("cargo-nextest", &["nextest", "--version"]) {
        let mut nextest = cargo();
        nextest
            .args([
                "nextest",
                "run",
                "--workspace",
                "--all-features",
                "--no-fail-fast",
            ])
            .env("OBS_REQUIRE_TOOLS", "1");
        step("cargo nextest run", nextest)?;
    } else {
        let mut test = cargo();
        test.args([
            "test",
            "--workspace",
            "--all-features",
            "--lib",
            "--bins",
            "--tests",
        ])
        .env("OBS_REQUIRE_TOOLS", "1");
        step("cargo test", test)?;
    }
    let mut doctest = cargo();
    doctest.args(["test", "--workspace", "--all-features", "--doc"]);
    step("cargo test --doc", doctest)
}
