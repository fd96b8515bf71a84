//! Running a test in a process of its own.
//!
//! `obs_core::init` installs process-wide globals once. Under `cargo nextest` every test already has
//! its own process; under `cargo test` the tests of one binary share a process, so a test that calls
//! `init` re-runs itself in a child process with [`isolated`].

use std::process::Command;

const CHILD_ENV: &str = "OBS_TESTKIT_ISOLATED_TEST";

/// Runs `body` in a process where no other test ran.
///
/// `test_name` is the test's path inside its binary as the harness prints it (for a test `fn b` in
/// `mod a` of `tests/it/main.rs`: `"a::b"`). The child must report exactly one passed test, so a
/// wrong name fails instead of passing vacuously.
///
/// # Panics
/// When the child process fails, or does not run exactly that one test.
pub fn isolated(test_name: &str, body: impl FnOnce()) {
    let in_child = std::env::var(CHILD_ENV).is_ok_and(|v| v == test_name);
    let own_process =
        std::env::var("NEXTEST_EXECUTION_MODE").is_ok_and(|m| m == "process-per-test");
    if in_child || own_process {
        body();
        return;
    }
    let exe = std::env::current_exe().expect("current test executable");
    let output = Command::new(exe)
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, test_name)
        .output()
        .expect("spawn the isolated test process");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "isolated test {test_name} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
}
