//! The Prometheus recorder, the catalog and the cardinality guard, through `init`.

use obs_core::catalog::{MetricDef, SIZE_BYTES_BUCKETS, Unit};
use obs_core::metrics::{CounterVec, HistogramVec};
use obs_core::{InitError, ObsConfig};
use obs_testkit::{MetricsSnapshot, isolated};

const PAYLOAD: MetricDef = MetricDef::histogram("test_payload_bytes", "Payload sizes in the test.")
    .with_unit(Unit::Bytes)
    .with_buckets(SIZE_BYTES_BUCKETS)
    .with_labels(&["kind"]);
const VISITS: MetricDef =
    MetricDef::counter("test_visits_total", "Visits in the test, by user.").with_labels(&["user"]);
static CATALOG: &[MetricDef] = &[PAYLOAD, VISITS];

static PAYLOAD_VEC: HistogramVec = HistogramVec::new(&PAYLOAD);
static VISITS_VEC: CounterVec = CounterVec::new(&VISITS);

#[test]
fn histograms_are_real_histograms_with_catalog_buckets() {
    isolated(
        "metrics::histograms_are_real_histograms_with_catalog_buckets",
        || {
            let guard = obs_core::init(ObsConfig::builder().catalog(CATALOG).build()).unwrap();
            PAYLOAD_VEC.with(&["json"]).record(100.0);
            PAYLOAD_VEC.with(&["json"]).record(5_000.0);
            let snap = MetricsSnapshot::parse(&guard.prometheus().render());
            assert_eq!(
                snap.kind("test_payload_bytes"),
                Some("histogram"),
                "{}",
                snap.text
            );
            assert_eq!(
                snap.help("test_payload_bytes"),
                Some("Payload sizes in the test.")
            );
            let buckets: Vec<&str> = snap
                .find("test_payload_bytes_bucket", &[("kind", "json")])
                .iter()
                .filter_map(|s| s.label("le"))
                .collect();
            assert_eq!(buckets.len(), SIZE_BYTES_BUCKETS.len() + 1, "{buckets:?}");
            assert_eq!(
                snap.value("test_payload_bytes_bucket", &[("le", "256")]),
                Some(1.0)
            );
            assert_eq!(snap.value("test_payload_bytes_count", &[]), Some(2.0));
            assert!(!snap.text.contains("quantile="), "no summaries");
        },
    );
}

#[test]
fn a_million_label_values_stay_bounded_in_the_scrape() {
    isolated(
        "metrics::a_million_label_values_stay_bounded_in_the_scrape",
        || {
            let guard = obs_core::init(
                ObsConfig::builder()
                    .catalog(CATALOG)
                    .series_limit("test_visits_total", 50)
                    .build(),
            )
            .unwrap();
            let mut user = String::new();
            for i in 0..1_000_000u32 {
                use std::fmt::Write as _;
                user.clear();
                let _ = write!(user, "u{i}");
                VISITS_VEC.with(&[&user]).increment(1);
            }
            let snap = MetricsSnapshot::parse(&guard.prometheus().render());
            assert_eq!(
                snap.series_count("test_visits_total"),
                51,
                "50 series and the overflow series"
            );
            assert_eq!(
                snap.value("test_visits_total", &[("user", "__overflow__")]),
                Some(999_950.0)
            );
            assert_eq!(
                snap.value(
                    "obs_cardinality_overflow_total",
                    &[("metric", "test_visits_total")]
                ),
                Some(999_950.0)
            );
            assert_eq!(
                snap.sum("test_visits_total", &[]),
                1_000_000.0,
                "nothing is lost"
            );
        },
    );
}

#[test]
fn init_twice_is_an_error_not_a_panic() {
    isolated("metrics::init_twice_is_an_error_not_a_panic", || {
        let _guard = obs_core::init(ObsConfig::builder().build()).unwrap();
        let second = obs_core::init(ObsConfig::builder().build());
        assert!(
            matches!(second, Err(InitError::AlreadyInitialized)),
            "{second:?}"
        );
    });
}

#[test]
fn an_invalid_catalog_fails_init_before_anything_is_installed() {
    isolated(
        "metrics::an_invalid_catalog_fails_init_before_anything_is_installed",
        || {
            static BAD: &[MetricDef] =
                &[MetricDef::counter("no_suffix", "A counter without _total.")];
            let err = obs_core::init(ObsConfig::builder().catalog(BAD).build()).unwrap_err();
            assert!(err.to_string().contains("no_suffix"), "{err}");
            let bad_filter =
                obs_core::init(ObsConfig::builder().log_filter("info,[").build()).unwrap_err();
            assert!(bad_filter.to_string().contains("RUST_LOG"), "{bad_filter}");
            // Nothing global was set, so a valid configuration still installs.
            let _guard = obs_core::init(ObsConfig::builder().build()).unwrap();
        },
    );
}

/// `promtool check metrics` on obs's exposition: help text on every metric, valid names, real
/// histograms. `cargo xtask test` installs promtool; a bare `cargo test` without it says so and skips.
#[test]
fn exposition_passes_promtool() {
    isolated("metrics::exposition_passes_promtool", || {
        use std::io::Write as _;
        use std::process::{Command, Stdio};
        if Command::new("promtool").arg("--version").output().is_err() {
            assert!(
                std::env::var_os("OBS_REQUIRE_TOOLS").is_none(),
                "promtool is required (apt-get install prometheus)"
            );
            eprintln!("skipped: promtool not installed (cargo xtask test installs it)");
            return;
        }
        let guard = obs_core::init(ObsConfig::builder().catalog(CATALOG).build()).unwrap();
        PAYLOAD_VEC.with(&["json"]).record(10.0);
        VISITS_VEC.with(&["a\"quoted\\user"]).increment(1);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = rt.block_on(obs_core::instrument(
            obs_core::Operation::new("promtool.check"),
            async { Ok::<_, std::io::Error>(()) },
        ));
        let text = guard.prometheus().render();
        let mut child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // Exit 3 is promtool's lint verdict. The `_ms` suffix is the one lint we accept: the metric
        // names (http_request_latency_ms, ...) are fixed by the project's issues and dashboards.
        let accepted =
            |line: &str| line.ends_with("metric names should not contain abbreviated units");
        let problems: Vec<&str> = report
            .lines()
            .filter(|l| !l.trim().is_empty() && !accepted(l))
            .collect();
        let ok = out.status.success() || (out.status.code() == Some(3) && problems.is_empty());
        assert!(
            ok,
            "promtool rejected the exposition ({}):\n{report}\n---\n{text}",
            out.status
        );
        // What promtool accepted includes a real histogram (buckets, sum, count) and a catalog
        // counter, both kept by obs rather than the exporter: checked on the input, not on
        // promtool's lint wording.
        for part in [
            "# TYPE obs_operations_total counter",
            "obs_operations_total{operation=\"promtool.check\",outcome=\"success\",error_type=\"\"} 1",
            "# TYPE obs_operation_duration_ms histogram",
            "obs_operation_duration_ms_bucket{operation=\"promtool.check\",le=\"+Inf\"} 1",
            "obs_operation_duration_ms_count{operation=\"promtool.check\"} 1",
        ] {
            assert!(text.contains(part), "{part} missing from:\n{text}");
        }
    });
}

/// Series made through the `metrics` macros pass the same guard as the families: a name outside
/// every catalog, and a catalog name used through the macros.
#[test]
fn macro_series_are_bounded_like_families() {
    isolated("metrics::macro_series_are_bounded_like_families", || {
        let guard = obs_core::init(
            ObsConfig::builder()
                .catalog(CATALOG)
                .series_limit("test_facade_users_total", 20)
                .series_limit("test_visits_total", 30)
                .build(),
        )
        .unwrap();
        for i in 0..500 {
            metrics::counter!("test_facade_users_total", "user" => format!("u{i}")).increment(1);
            metrics::counter!("test_visits_total", "user" => format!("u{i}")).increment(1);
        }
        let snap = MetricsSnapshot::current();
        for (name, bound) in [
            ("test_facade_users_total", 20.0),
            ("test_visits_total", 30.0),
        ] {
            assert_eq!(snap.series_count(name) as f64, bound + 1.0, "{}", snap.text);
            assert_eq!(
                snap.value(name, &[("user", "__overflow__")]),
                Some(500.0 - bound)
            );
            assert_eq!(
                snap.value("obs_cardinality_overflow_total", &[("metric", name)]),
                Some(500.0 - bound)
            );
            assert_eq!(snap.sum(name, &[]), 500.0, "nothing is lost");
        }
        drop(guard);
    });
}

/// With an idle timeout, label values that stopped moving leave `/metrics` and their family, so
/// new ones are admitted instead of folding into `__overflow__`.
#[test]
fn idle_series_make_room_for_new_label_values() {
    isolated(
        "metrics::idle_series_make_room_for_new_label_values",
        || {
            let guard = obs_core::init(
                ObsConfig::builder()
                    .series_limit("test_visits_total", 5)
                    .series_idle_timeout(std::time::Duration::from_millis(100))
                    .build(),
            )
            .unwrap();
            for i in 0..5 {
                VISITS_VEC.with(&[&format!("old{i}")]).increment(1);
            }
            assert_eq!(VISITS_VEC.series_count(), 5);
            // The first rendering sees them move, the next one, past the timeout, sees them idle.
            let _ = guard.prometheus().render();
            std::thread::sleep(std::time::Duration::from_millis(250));
            let snap = MetricsSnapshot::parse(&guard.prometheus().render());
            assert_eq!(snap.series_count("test_visits_total"), 0, "{}", snap.text);
            for i in 0..5 {
                VISITS_VEC.with(&[&format!("new{i}")]).increment(1);
            }
            let snap = MetricsSnapshot::current();
            assert_eq!(snap.series_count("test_visits_total"), 5, "{}", snap.text);
            assert_eq!(
                snap.value("test_visits_total", &[("user", "new4")]),
                Some(1.0)
            );
            assert_eq!(
                snap.value("test_visits_total", &[("user", "__overflow__")]),
                None,
                "nothing folded"
            );
        },
    );
}
