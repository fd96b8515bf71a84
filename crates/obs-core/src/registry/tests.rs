use super::*;
use crate::catalog::{LATENCY_SECONDS_BUCKETS, MetricDef, SIZE_BYTES_BUCKETS};
use crate::metrics::{CounterVec, GaugeVec, OVERFLOW_LABEL_VALUE, ObsRecorder, on_scrape};

fn recorder(settings: Settings) -> ObsRecorder {
    ObsRecorder::with_settings(settings)
}

fn family<'a>(snapshot: &'a Snapshot, name: &str) -> &'a FamilySnapshot {
    snapshot
        .family(name)
        .unwrap_or_else(|| panic!("{name} missing from {snapshot:#?}"))
}

fn bounds(snapshot: &Snapshot, name: &str) -> Vec<f64> {
    match &family(snapshot, name).series[0].value {
        SeriesValue::Histogram(h) => h.buckets.iter().map(|(b, _)| *b).collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn renders_the_text_layout() {
    static LATENCY: MetricDef =
        MetricDef::histogram("t_reg_latency_ms", "Latency.\nSecond \\ line.")
            .with_labels(&["route"])
            .with_buckets(&[1.0, 2.5, 5.0]);
    static REQUESTS: MetricDef =
        MetricDef::counter("t_reg_requests_total", "Requests.").with_labels(&["route"]);
    static IN_FLIGHT: MetricDef = MetricDef::gauge("t_reg_in_flight", "In flight.");
    static LATENCY_VEC: crate::metrics::HistogramVec = crate::metrics::HistogramVec::new(&LATENCY);
    static REQUESTS_VEC: CounterVec = CounterVec::new(&REQUESTS);
    static IN_FLIGHT_VEC: GaugeVec = GaugeVec::new(&IN_FLIGHT);
    let recorder = recorder(Settings::default());
    metrics::with_local_recorder(&recorder, || {
        let a = LATENCY_VEC.with(&["/a"]);
        a.record(0.5);
        a.record(3.0);
        LATENCY_VEC.with(&["/q\"\\\n"]).record(7.25);
        REQUESTS_VEC.with(&["/b"]).increment(2);
        REQUESTS_VEC.with(&["/a\"q"]).increment(1);
        IN_FLIGHT_VEC.with(&[]).increment(3.0);
    });
    let text = recorder.handle().render();
    let expected = "# HELP t_reg_in_flight In flight.\n\
# TYPE t_reg_in_flight gauge\n\
t_reg_in_flight 3\n\
\n\
# HELP t_reg_latency_ms Latency.\\nSecond \\\\ line.\n\
# TYPE t_reg_latency_ms histogram\n\
t_reg_latency_ms_bucket{route=\"/a\",le=\"1\"} 1\n\
t_reg_latency_ms_bucket{route=\"/a\",le=\"2.5\"} 1\n\
t_reg_latency_ms_bucket{route=\"/a\",le=\"5\"} 2\n\
t_reg_latency_ms_bucket{route=\"/a\",le=\"+Inf\"} 2\n\
t_reg_latency_ms_sum{route=\"/a\"} 3.5\n\
t_reg_latency_ms_count{route=\"/a\"} 2\n\
t_reg_latency_ms_bucket{route=\"/q\\\"\\\\\\n\",le=\"1\"} 0\n\
t_reg_latency_ms_bucket{route=\"/q\\\"\\\\\\n\",le=\"2.5\"} 0\n\
t_reg_latency_ms_bucket{route=\"/q\\\"\\\\\\n\",le=\"5\"} 0\n\
t_reg_latency_ms_bucket{route=\"/q\\\"\\\\\\n\",le=\"+Inf\"} 1\n\
t_reg_latency_ms_sum{route=\"/q\\\"\\\\\\n\"} 7.25\n\
t_reg_latency_ms_count{route=\"/q\\\"\\\\\\n\"} 1\n\
\n\
# HELP t_reg_requests_total Requests.\n\
# TYPE t_reg_requests_total counter\n\
t_reg_requests_total{route=\"/a\\\"q\"} 1\n\
t_reg_requests_total{route=\"/b\"} 2\n\n";
    // Scrape callbacks of other tests in this binary may add families: compare ours only.
    let ours: String = text
        .split("\n\n")
        .filter(|block| block.contains("t_reg_"))
        .map(|block| format!("{block}\n\n"))
        .collect();
    assert_eq!(ours, expected);
}

#[test]
fn the_guard_bounds_series_made_through_the_macros() {
    static BOUNDED: &[MetricDef] = &[MetricDef::counter("t_reg_bounded_total", "Bounded.")
        .with_labels(&["user"])
        .with_max_series(10)];
    crate::catalog::register(BOUNDED).unwrap();
    let recorder = recorder(Settings::default());
    metrics::with_local_recorder(&recorder, || {
        for i in 0..2_000 {
            metrics::counter!("t_reg_facade_total", "user" => i.to_string()).increment(1);
            if i < 50 {
                metrics::counter!("t_reg_bounded_total", "user" => i.to_string()).increment(1);
            }
        }
    });
    let snapshot = recorder.handle().snapshot();
    let facade = family(&snapshot, "t_reg_facade_total");
    assert_eq!(
        facade.series.len(),
        1_001,
        "the default bound and the overflow series"
    );
    let overflow = facade
        .series
        .iter()
        .find(|s| s.label("user") == Some(OVERFLOW_LABEL_VALUE))
        .unwrap();
    assert_eq!(overflow.value, SeriesValue::Counter(1_000));
    let bounded = family(&snapshot, "t_reg_bounded_total");
    assert_eq!(
        bounded.series.len(),
        11,
        "the catalog's bound applies to the macros too"
    );
    let folds = family(&snapshot, "obs_cardinality_overflow_total");
    let folds_of = |metric: &str| {
        folds
            .series
            .iter()
            .find(|s| s.label("metric") == Some(metric))
            .map(|s| s.value.clone())
    };
    assert_eq!(
        folds_of("t_reg_facade_total"),
        Some(SeriesValue::Counter(1_000))
    );
    assert_eq!(
        folds_of("t_reg_bounded_total"),
        Some(SeriesValue::Counter(40))
    );
}

#[test]
fn histograms_get_buckets_that_fit_their_unit_or_the_override() {
    let mut settings = Settings::default();
    settings
        .buckets
        .insert("t_reg_job_ms".to_owned(), Arc::from(&[10.0, 60_000.0][..]));
    let recorder = recorder(settings);
    metrics::with_local_recorder(&recorder, || {
        metrics::histogram!("t_reg_upload_bytes").record(10.0);
        metrics::describe_histogram!("t_reg_payload", Unit::Bytes, "Payloads.");
        metrics::histogram!("t_reg_payload").record(10.0);
        metrics::histogram!("t_reg_wait_seconds").record(0.2);
        metrics::histogram!("t_reg_job_ms").record(2_000.0);
    });
    let snapshot = recorder.handle().snapshot();
    assert_eq!(bounds(&snapshot, "t_reg_upload_bytes"), SIZE_BYTES_BUCKETS);
    assert_eq!(bounds(&snapshot, "t_reg_payload"), SIZE_BYTES_BUCKETS);
    assert_eq!(
        family(&snapshot, "t_reg_payload").help.as_deref(),
        Some("Payloads.")
    );
    assert_eq!(
        bounds(&snapshot, "t_reg_wait_seconds"),
        LATENCY_SECONDS_BUCKETS
    );
    assert_eq!(bounds(&snapshot, "t_reg_job_ms"), [10.0, 60_000.0]);
}

#[test]
fn idle_series_go_and_come_back_when_updated() {
    let timeout = Duration::from_millis(50);
    let recorder = recorder(Settings {
        idle_timeout: Some(timeout),
        ..Settings::default()
    });
    let (kept, idle, gauge) = metrics::with_local_recorder(&recorder, || {
        let kept = metrics::counter!("t_reg_idle_total", "peer" => "kept");
        let idle = metrics::counter!("t_reg_idle_total", "peer" => "idle");
        let gauge = metrics::gauge!("t_reg_idle_gauge");
        kept.increment(1);
        idle.increment(1);
        gauge.set(5.0);
        (kept, idle, gauge)
    });
    let handle = recorder.handle();
    let peers = |snapshot: &Snapshot| -> Vec<String> {
        snapshot.family("t_reg_idle_total").map_or(Vec::new(), |f| {
            f.series
                .iter()
                .filter_map(|s| s.label("peer").map(str::to_owned))
                .collect()
        })
    };
    assert_eq!(peers(&handle.snapshot()), ["idle", "kept"]);
    std::thread::sleep(timeout * 2);
    kept.increment(1);
    let snapshot = handle.snapshot();
    assert_eq!(peers(&snapshot), ["kept"], "the idle series is dropped");
    assert!(snapshot.family("t_reg_idle_gauge").is_some(), "gauges stay");
    std::thread::sleep(timeout * 2);
    assert!(peers(&handle.snapshot()).is_empty());
    idle.increment(1);
    let snapshot = handle.snapshot();
    assert_eq!(
        peers(&snapshot),
        ["idle"],
        "a held handle that moves brings its series back"
    );
    let back = &family(&snapshot, "t_reg_idle_total").series[0];
    assert_eq!(back.value, SeriesValue::Counter(2));
    drop(gauge);
}

#[test]
fn a_removed_series_leaves_the_rendering() {
    static ROOMS: MetricDef =
        MetricDef::gauge("t_reg_room_participants", "Participants.").with_labels(&["room"]);
    static ROOMS_VEC: GaugeVec = GaugeVec::new(&ROOMS);
    let recorder = recorder(Settings::default());
    metrics::with_local_recorder(&recorder, || {
        ROOMS_VEC.with(&["a"]).set(3.0);
        ROOMS_VEC.with(&["b"]).set(2.0);
        assert!(ROOMS_VEC.remove(&["a"]));
        assert!(!ROOMS_VEC.remove(&["never"]));
    });
    let snapshot = recorder.handle().snapshot();
    let rooms: Vec<_> = family(&snapshot, "t_reg_room_participants")
        .series
        .iter()
        .map(|s| s.label("room").unwrap().to_owned())
        .collect();
    assert_eq!(rooms, ["b"]);
    metrics::with_local_recorder(&recorder, || ROOMS_VEC.with(&["a"]).increment(1.0));
    let snapshot = recorder.handle().snapshot();
    let a = family(&snapshot, "t_reg_room_participants")
        .series
        .iter()
        .find(|s| s.label("room") == Some("a"))
        .unwrap();
    assert_eq!(
        a.value,
        SeriesValue::Gauge(1.0),
        "a new series starts from zero"
    );
}

#[test]
fn scrape_callbacks_are_read_at_each_rendering_until_dropped() {
    use std::sync::atomic::AtomicUsize;
    static IDLE: MetricDef =
        MetricDef::gauge("t_reg_pool_idle", "Idle connections.").with_labels(&["pool"]);
    static READS: MetricDef = MetricDef::counter("t_reg_pool_reads_total", "Reads.");
    let idle = Arc::new(AtomicUsize::new(4));
    let seen = idle.clone();
    let gauge = on_scrape(&IDLE, move |o| {
        o.observe(&["main"], seen.load(Ordering::Relaxed) as f64);
        o.observe(&["replica"], 1.0);
    });
    let counter = on_scrape(&READS, |o| o.observe(&[], 12.0));
    let panicking = on_scrape(&READS, |_| panic!("a broken callback"));
    let handle = recorder(Settings::default()).handle();
    let value = |snapshot: &Snapshot, pool: &str| {
        family(snapshot, "t_reg_pool_idle")
            .series
            .iter()
            .find(|s| s.label("pool") == Some(pool))
            .map(|s| s.value.clone())
    };
    let snapshot = handle.snapshot();
    assert_eq!(value(&snapshot, "main"), Some(SeriesValue::Gauge(4.0)));
    assert_eq!(value(&snapshot, "replica"), Some(SeriesValue::Gauge(1.0)));
    assert_eq!(
        family(&snapshot, "t_reg_pool_reads_total").series[0].value,
        SeriesValue::Counter(12)
    );
    assert!(
        handle
            .render()
            .contains("t_reg_pool_idle{pool=\"main\"} 4\n")
    );
    idle.store(7, Ordering::Relaxed);
    assert_eq!(
        value(&handle.snapshot(), "main"),
        Some(SeriesValue::Gauge(7.0))
    );
    drop(gauge);
    counter.unregister();
    drop(panicking);
    let snapshot = handle.snapshot();
    assert!(snapshot.family("t_reg_pool_idle").is_none());
    assert!(snapshot.family("t_reg_pool_reads_total").is_none());
}

#[test]
fn a_family_bound_above_the_default_holds_at_the_recorder_too() {
    static WIDE: MetricDef = MetricDef::counter("t_reg_wide_total", "Wide.").with_labels(&["id"]);
    static WIDE_VEC: CounterVec = CounterVec::with_limit(&WIDE, 3_000);
    let recorder = recorder(Settings::default());
    metrics::with_local_recorder(&recorder, || {
        for i in 0..1_500 {
            WIDE_VEC.with(&[&i.to_string()]).increment(1);
        }
    });
    let snapshot = recorder.handle().snapshot();
    let wide = family(&snapshot, "t_reg_wide_total");
    assert_eq!(wide.series.len(), 1_500);
    assert!(
        wide.series
            .iter()
            .all(|s| s.value == SeriesValue::Counter(1))
    );
}
