//! Every configuration of the benchmark answers its requests in process (the loop that
//! `cargo xtask bench-instructions` counts under callgrind).

use std::process::Command;

/// Each configuration and the spans its 300 requests export (about 10 % of them at 10 %).
const CONFIGS: [(&str, Option<u64>); 9] = [
    ("bare", Some(0)),
    ("axum-layer", Some(0)),
    ("obs-metrics", Some(0)),
    ("obs-full-10", None),
    ("obs-full-100", Some(300)),
    ("tower-http-trace", Some(0)),
    ("axum-prometheus", Some(0)),
    ("tower-http-otel", Some(300)),
    ("axum-prometheus+tower-http-otel", Some(300)),
];

#[test]
fn every_configuration_answers_in_process() {
    for (config, spans) in CONFIGS {
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
        let exported: u64 = stdout
            .trim()
            .strip_prefix(&format!("300 requests answered 200 through {config} ("))
            .and_then(|rest| rest.strip_suffix(" spans exported)"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{config}: {stdout}"));
        match spans {
            Some(spans) => assert_eq!(exported, spans, "{config}"),
            None => assert!((5..=80).contains(&exported), "{config}: {exported}"),
        }
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
