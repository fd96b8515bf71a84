//! Every configuration of the benchmark answers its requests in process (the loop that
//! `cargo xtask bench-instructions` counts under callgrind).

use std::process::Command;

const CONFIGS: [&str; 8] = [
    "bare",
    "obs-metrics",
    "obs-full-10",
    "obs-full-100",
    "tower-http-trace",
    "axum-prometheus",
    "tower-http-otel",
    "axum-prometheus+tower-http-otel",
];

#[test]
fn every_configuration_answers_in_process() {
    for config in CONFIGS {
        // One process per configuration: each installs process-wide globals.
        let output = Command::new(env!("CARGO_BIN_EXE_obs-load-bench"))
            .args(["inproc", config, "200"])
            .output()
            .expect("run obs-load-bench");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{config}: {}{}",
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            stdout.trim(),
            format!("300 requests answered 200 through {config}")
        );
    }
}

#[test]
fn unknown_configuration_is_an_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_obs-load-bench"))
        .args(["inproc", "no-such-config", "10"])
        .output()
        .expect("run obs-load-bench");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("inproc needs a configuration"));
}
