//! The README's first command, `cargo run -p simplycaster -- demo`, as a newcomer runs it: no
//! `OTEL_*`, `DATABASE_URL` or `REDIS_URL`; shortened with `--duration`.

use std::process::Command;

#[test]
fn the_demo_runs_on_embedded_defaults_and_explains_what_it_saw() {
    let dir = std::env::temp_dir().join(format!("simplycaster-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_simplycaster"));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("OTEL_") || ["DATABASE_URL", "REDIS_URL", "RUST_LOG"].contains(&&*key) {
            cmd.env_remove(&*key);
        }
    }
    let output = cmd
        .args(["demo", "--duration", "6s", "--users", "2"])
        .env("SIMPLYCASTER_DATA_DIR", &dir)
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for expected in [
        "== summary ==",
        "p50",
        "WebRTC peers connected",
        "== one login's trace",
        "POST /auth/login",
        "flow auth_login",
        "/metrics ",
        "/metrics/json",
        "/readyz",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing from:\n{stdout}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
