//! The quickstart example, `cargo run -p obs-examples --bin quickstart`, as a new user runs it:
//! no collector, no `OTEL_*` variables. Its output shows each span's duration, says what the
//! metrics listing leaves out, and ends with what to try next.

use std::process::Command;

#[test]
fn quickstart_runs_without_a_collector_and_explains_its_output() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_quickstart"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("OTEL_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .env_remove("LOG_FORMAT")
        .output()
        .expect("run quickstart");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    // The trace tree: every span with a duration in milliseconds.
    let tree: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("== trace "))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(tree.len() >= 4, "{stdout}");
    for line in &tree {
        let (before, _) = line
            .split_once(" ms  span=")
            .unwrap_or_else(|| panic!("no duration on {line:?}"));
        let ms: f64 = before
            .split_whitespace()
            .last()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no number before `ms` on {line:?}"));
        assert!(ms >= 0.0);
    }
    assert!(tree[0].starts_with("checkout "), "{stdout}");

    // The metrics listing says what it filtered.
    let header = stdout
        .lines()
        .find(|l| l.starts_with("== /metrics"))
        .expect("metrics header");
    assert!(
        header.contains("`# HELP`/`# TYPE` lines left out"),
        "{header}"
    );
    assert!(
        stdout.contains("demo_orders_total{region=\"eu\"} 1"),
        "{stdout}"
    );

    // And it ends with where to go next.
    let next = stdout.split("== next ==").nth(1).expect("a next section");
    assert!(
        next.contains("cargo run -p obs-examples --bin service"),
        "{next}"
    );
    assert!(next.contains("/metrics"), "{next}");
}
