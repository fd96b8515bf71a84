//! The sampler's values match `/proc` and `df` for this process, and the lag histogram sees a
//! runtime that was blocked.

use std::process::Command;
use std::time::Duration;

use obs_flows::ResourceSampler;
use obs_testkit::{LocalRecorder, MetricsSnapshot, isolated};

fn proc_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    kib / 1024.0
}

fn df_used_pct(dir: &std::path::Path) -> Option<f64> {
    let out = Command::new("df")
        .arg("--output=pcent")
        .arg(dir)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.lines()
        .nth(1)?
        .trim()
        .trim_end_matches('%')
        .parse()
        .ok()
}

// Scrape callbacks are process-wide and descriptors are the process': each test runs in a process
// of its own, also under plain `cargo test`.
#[test]
fn sampled_values_match_proc_and_df() {
    isolated(
        "sampler::sampled_values_match_proc_and_df",
        sampled_values_match_proc_and_df_body,
    );
}

fn sampled_values_match_proc_and_df_body() {
    let recorder = LocalRecorder::new();
    let _in_force = recorder.enter();
    let scratch = std::env::temp_dir();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (snap, fds_before, fds_after, rss) = runtime.block_on(async {
        let sampler = ResourceSampler::builder()
            .scratch_dir(&scratch)
            .lag_interval(Duration::from_millis(20))
            .start();
        tokio::time::sleep(Duration::from_millis(30)).await;
        // Hold the runtime's only thread: the lag timer fires late.
        std::thread::sleep(Duration::from_millis(150));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let fds_before = std::fs::read_dir("/proc/self/fd").unwrap().count() - 1;
        let rss = proc_rss_mb();
        let snap = recorder.snapshot();
        let fds_after = std::fs::read_dir("/proc/self/fd").unwrap().count() - 1;
        drop(sampler);
        (snap, fds_before, fds_after, rss)
    });
    let rss_sampled = snap.value("proc_memory_rss_mb", &[]).expect("rss");
    assert!(
        (rss_sampled - rss).abs() <= rss * 0.1 + 2.0,
        "sampled {rss_sampled} MiB, /proc says {rss} MiB"
    );
    let fds = snap.value("proc_open_fds", &[]).expect("fds") as usize;
    assert!(
        (fds_before.min(fds_after)..=fds_before.max(fds_after)).contains(&fds),
        "sampled {fds} fds, /proc/self/fd had {fds_before}..{fds_after}"
    );
    let used = snap.value("scratch_disk_used_pct", &[]).expect("disk use");
    assert!((0.0..=100.0).contains(&used));
    match df_used_pct(&scratch) {
        // df rounds the percentage up.
        Some(df) => assert!((df - used).abs() <= 1.0, "df says {df}%, sampled {used}%"),
        None => assert!(
            std::env::var("OBS_REQUIRE_TOOLS").is_err(),
            "df is missing (coreutils)"
        ),
    }
    assert_eq!(snap.value("tokio_runtime_workers", &[]), Some(1.0));
    assert!(snap.value("tokio_runtime_alive_tasks", &[]).unwrap() >= 1.0);
    assert!(
        snap.value("tokio_runtime_global_queue_depth", &[])
            .is_some()
    );
    let late = snap.sum("event_loop_lag_ms_count", &[])
        - snap
            .value("event_loop_lag_ms_bucket", &[("le", "100")])
            .unwrap();
    assert!(
        late >= 1.0,
        "a lag over 100 ms was recorded:\n{}",
        snap.text
    );

    let after = recorder.snapshot();
    assert_eq!(
        after.series_count("proc_open_fds"),
        0,
        "a dropped sampler reports nothing"
    );
}

#[test]
fn the_sampler_without_a_runtime_samples_the_process_only() {
    isolated(
        "sampler::the_sampler_without_a_runtime_samples_the_process_only",
        without_a_runtime_body,
    );
}

fn without_a_runtime_body() {
    let recorder = LocalRecorder::new();
    let sampler = ResourceSampler::builder().start();
    let snap: MetricsSnapshot = recorder.snapshot();
    assert!(snap.value("proc_memory_rss_mb", &[]).is_some());
    assert_eq!(snap.series_count("tokio_runtime_workers"), 0);
    assert_eq!(snap.series_count("scratch_disk_used_pct"), 0);
    drop(sampler);
}
