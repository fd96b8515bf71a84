//! Honest export: every span ended is exported or counted, shutdown and flush say what they lost,
//! and the export thread neither misses its wake-up nor goes quiet while it drops spans.

use std::net::TcpListener;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use obs_core::{ObsConfig, ObsConfigBuilder, ObsGuard};
use obs_testkit::{LogCapture, MetricsSnapshot, OtlpReceiver, isolated};

use crate::{WAIT, closed_port};

/// `init` exporting to `endpoint`, with its logs captured.
fn init_logged(
    endpoint: String,
    f: impl FnOnce(ObsConfigBuilder) -> ObsConfigBuilder,
) -> (ObsGuard, LogCapture) {
    let logs = LogCapture::new();
    let builder = ObsConfig::builder()
        .service_name("obs-core-tests")
        .log_writer(logs.writer())
        .endpoint(endpoint);
    (obs_core::init(f(builder).build()).expect("init"), logs)
}

/// A collector that accepts connections and never answers: exports hang until their timeout.
fn black_hole() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    (listener, endpoint)
}

fn end_spans(n: usize) {
    for i in 0..n {
        tracing::info_span!("work", i).in_scope(|| {});
    }
}

/// Waits up to `within` for `done`, polling.
fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done()
}

fn dropped_metric() -> f64 {
    MetricsSnapshot::current()
        .value("obs_spans_dropped_total", &[])
        .unwrap_or(0.0)
}

#[test]
fn full_batches_are_exported_promptly_with_eight_producers() {
    isolated(
        "shutdown::full_batches_are_exported_promptly_with_eight_producers",
        || {
            use opentelemetry::trace::{Tracer as _, TracerProvider as _};
            const THREADS: usize = 8;
            const PER_ROUND: usize = 13;
            const ROUNDS: usize = 100;
            const BATCH: usize = 100;
            let receiver = OtlpReceiver::start().unwrap();
            // A schedule far beyond the waits below: only the full-batch wake-up can export in time.
            let (guard, _logs) = init_logged(receiver.grpc_endpoint(), |b| {
                b.export_interval(Duration::from_secs(30))
                    .export_batch_size(BATCH)
                    .span_queue_size(THREADS * PER_ROUND * ROUNDS)
            });
            let stats = guard.export_stats();
            let start = Arc::new(Barrier::new(THREADS + 1));
            let end = Arc::new(Barrier::new(THREADS + 1));
            let producers: Vec<_> = (0..THREADS)
                .map(|_| {
                    let (start, end) = (start.clone(), end.clone());
                    std::thread::spawn(move || {
                        let tracer = opentelemetry::global::tracer_provider().tracer("producers");
                        for _ in 0..ROUNDS {
                            start.wait();
                            for _ in 0..PER_ROUND {
                                drop(tracer.start("work"));
                            }
                            end.wait();
                        }
                    })
                })
                .collect();
            // Rounds of concurrent producers, each crossing the batch size at a different point.
            for round in 1..=ROUNDS {
                start.wait();
                end.wait();
                let full = (round * THREADS * PER_ROUND / BATCH * BATCH) as u64;
                assert!(
                    eventually(Duration::from_secs(5), || stats.exported() >= full),
                    "round {round}: every full batch is exported without waiting for the 30 s schedule: {stats:?}"
                );
            }
            for p in producers {
                p.join().unwrap();
            }
            assert_eq!(stats.dropped(), 0);
            guard.shutdown().unwrap();
        },
    );
}

#[test]
fn shutdown_with_the_collector_down_says_how_many_spans_were_lost() {
    isolated(
        "shutdown::shutdown_with_the_collector_down_says_how_many_spans_were_lost",
        || {
            // No export on the schedule: the spans are still pending when shutdown starts.
            let (guard, _logs) = init_logged(closed_port(), |b| {
                b.export_interval(Duration::from_secs(30))
            });
            end_spans(10);
            let error = guard.shutdown().expect_err("every pending span failed");
            assert_eq!(error.lost_spans(), 10, "{error}");
            let message = format!("{error:?}");
            assert!(
                message.starts_with("obs shutdown lost 10 spans (10 in failed exports)"),
                "{message}"
            );
            assert_eq!(guard.export_stats().failed_spans(), 10);
            assert!(guard.shutdown().is_ok(), "a second shutdown does nothing");
        },
    );
}

#[test]
fn force_flush_with_the_collector_down_says_how_many_spans_were_lost() {
    isolated(
        "shutdown::force_flush_with_the_collector_down_says_how_many_spans_were_lost",
        || {
            let (guard, _logs) = init_logged(closed_port(), |b| {
                b.export_interval(Duration::from_secs(30))
            });
            end_spans(7);
            let error = guard.force_flush().expect_err("the flush lost every span");
            assert_eq!(error.lost_spans(), 7, "{error}");
            assert!(
                error.to_string().starts_with("obs flush lost 7 spans"),
                "{error}"
            );
            assert!(guard.force_flush().is_ok(), "nothing left to lose");
        },
    );
}

#[test]
fn with_the_collector_up_shutdown_exports_everything_and_says_ok() {
    isolated(
        "shutdown::with_the_collector_up_shutdown_exports_everything_and_says_ok",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let (guard, _logs) = init_logged(receiver.grpc_endpoint(), |b| {
                b.export_interval(Duration::from_secs(30))
            });
            end_spans(25);
            guard.shutdown().unwrap();
            assert_eq!(guard.export_stats().exported(), 25);
            assert_eq!(receiver.wait_for(WAIT, |s| s.len() >= 25).len(), 25);
        },
    );
}

#[test]
fn a_collector_that_stops_answering_loses_spans_and_says_so() {
    isolated(
        "shutdown::a_collector_that_stops_answering_loses_spans_and_says_so",
        || {
            let mut receiver = OtlpReceiver::start().unwrap();
            let (guard, _logs) = init_logged(receiver.grpc_endpoint(), |b| {
                b.export_interval(Duration::from_secs(30))
                    .export_timeout(Duration::from_secs(1))
                    .shutdown_timeout(Duration::from_secs(3))
            });
            end_spans(5);
            guard.force_flush().unwrap();
            assert_eq!(receiver.wait_for(WAIT, |s| s.len() >= 5).len(), 5);
            receiver.stop();
            end_spans(3);
            let error = guard.shutdown().expect_err("the last spans were lost");
            assert_eq!(error.lost_spans(), 3, "{error}");
            let stats = guard.export_stats();
            assert!(
                eventually(WAIT, || stats.exported()
                    + stats.failed_spans()
                    + stats.dropped()
                    == 8),
                "every span is exported or counted: {stats:?}"
            );
        },
    );
}

#[test]
fn spans_dropped_when_shutdown_runs_out_of_time_are_in_the_metric() {
    isolated(
        "shutdown::spans_dropped_when_shutdown_runs_out_of_time_are_in_the_metric",
        || {
            const SPANS: u64 = 1_000;
            let (_hole, endpoint) = black_hole();
            let (guard, _logs) = init_logged(endpoint, |b| {
                b.export_interval(Duration::from_secs(30))
                    .export_batch_size(100)
                    .span_queue_size(SPANS as usize)
                    .export_timeout(Duration::from_millis(300))
                    .shutdown_timeout(Duration::from_secs(1))
            });
            end_spans(SPANS as usize);
            let error = guard.shutdown().expect_err("the collector never answered");
            assert!(error.timed_out() || error.lost_spans() > 0, "{error}");
            let stats = guard.export_stats();
            assert!(
                eventually(WAIT, || stats.dropped() + stats.failed_spans() == SPANS),
                "every span is counted: {stats:?}"
            );
            assert!(stats.dropped() > 0, "{stats:?}");
            assert_eq!(dropped_metric(), stats.dropped() as f64);
            assert!(
                error.lost_spans() > 0 && error.lost_spans() <= SPANS,
                "{error}"
            );
        },
    );
}

#[test]
fn a_shutdown_that_times_out_counts_every_queued_span() {
    isolated(
        "shutdown::a_shutdown_that_times_out_counts_every_queued_span",
        || {
            const SPANS: u64 = 1_000;
            let (_hole, endpoint) = black_hole();
            // The first batch goes out at once and hangs for longer than the whole shutdown.
            let (guard, _logs) = init_logged(endpoint, |b| {
                b.export_interval(Duration::from_secs(30))
                    .export_batch_size(100)
                    .span_queue_size(SPANS as usize)
                    .export_timeout(Duration::from_secs(60))
                    .shutdown_timeout(Duration::from_millis(500))
            });
            end_spans(SPANS as usize);
            let stats = guard.export_stats();
            assert!(
                eventually(WAIT, || stats.queue_len() <= (SPANS - 100) as usize),
                "the export thread took its first batch: {stats:?}"
            );
            let error = guard.shutdown().expect_err("the shutdown timed out");
            assert!(error.timed_out(), "{error}");
            assert_eq!(error.lost_spans(), SPANS, "{error}");
            assert!(
                error.to_string().contains("in an export still running"),
                "{error}"
            );
            assert_eq!(stats.dropped(), SPANS - 100, "{stats:?}");
            assert_eq!(dropped_metric(), (SPANS - 100) as f64);
        },
    );
}

#[test]
fn the_drop_warning_is_logged_while_spans_are_dropped() {
    isolated(
        "shutdown::the_drop_warning_is_logged_while_spans_are_dropped",
        || {
            let (_hole, endpoint) = black_hole();
            let (guard, logs) = init_logged(endpoint, |b| {
                b.export_interval(Duration::from_millis(100))
                    .export_batch_size(64)
                    .span_queue_size(256)
                    .export_timeout(Duration::from_millis(200))
            });
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flood = {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        end_spans(100);
                    }
                })
            };
            let warned = eventually(WAIT, || {
                !logs
                    .lines_containing("spans dropped; counted in obs_spans_dropped_total")
                    .is_empty()
            });
            let still_dropping = !flood.is_finished();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            flood.join().unwrap();
            assert!(
                warned && still_dropping,
                "warned while the drops went on: {:?}",
                guard.export_stats()
            );
            let _ = guard.shutdown();
        },
    );
}
