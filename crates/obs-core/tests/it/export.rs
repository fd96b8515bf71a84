//! Span export end to end, over gRPC and HTTP/protobuf, with the collector up, down and unreachable.

use std::time::{Duration, Instant};

use obs_core::Protocol;
use obs_testkit::{OtlpReceiver, isolated};
use tracing::Instrument as _;

use crate::{WAIT, closed_port, init};

#[tracing::instrument(fields(work.size = n))]
fn user_work(n: u32) -> u32 {
    tracing::info!("working");
    n * 2
}

fn emit_parent_child_tree() {
    let parent = tracing::info_span!("checkout", user.id = 7_i64);
    let _entered = parent.enter();
    let child = tracing::info_span!("db.query", otel.kind = "client", db.system.name = "sqlite");
    child.in_scope(|| assert_eq!(user_work(21), 42));
}

fn assert_tree(receiver: &OtlpReceiver) {
    let spans = receiver.wait_for(WAIT, |s| s.len() >= 3);
    let parent = spans
        .iter()
        .find(|s| s.name == "checkout")
        .expect("checkout span");
    let child = spans
        .iter()
        .find(|s| s.name == "db.query")
        .expect("db.query span");
    let work = spans
        .iter()
        .find(|s| s.name == "user_work")
        .expect("#[instrument] span");
    assert_eq!(parent.parent_span_id, "", "checkout is a root");
    assert_eq!(child.parent_span_id, parent.span_id);
    assert_eq!(work.parent_span_id, child.span_id);
    assert_eq!(child.trace_id, parent.trace_id);
    assert_eq!(work.trace_id, parent.trace_id);
    assert_eq!(parent.attr("user.id"), Some("7"));
    assert_eq!(child.attr("db.system.name"), Some("sqlite"));
    assert_eq!(work.attr("work.size"), Some("21"));
    assert_eq!(child.kind, 3, "otel.kind = client");
    for span in [parent, child, work] {
        assert_eq!(span.service_name, "obs-core-tests");
    }
    assert!(
        parent
            .resource
            .contains(&("deployment.environment.name".into(), "test".into()))
    );
}

#[test]
fn grpc_export_end_to_end() {
    isolated("export::grpc_export_end_to_end", || {
        let receiver = OtlpReceiver::start().unwrap();
        let guard = init(Some(receiver.grpc_endpoint()), |b| {
            b.resource_attribute("deployment.environment.name", "test")
        });
        emit_parent_child_tree();
        guard.force_flush().unwrap();
        assert_tree(&receiver);
        guard.shutdown().unwrap();
        assert_eq!(guard.export_stats().dropped(), 0);
        assert!(guard.export_stats().exported() >= 3);
    });
}

#[test]
fn http_protobuf_export_end_to_end() {
    isolated("export::http_protobuf_export_end_to_end", || {
        let receiver = OtlpReceiver::start().unwrap();
        let guard = init(Some(receiver.http_endpoint()), |b| {
            b.protocol(Protocol::HttpProtobuf)
                .resource_attribute("deployment.environment.name", "test")
        });
        emit_parent_child_tree();
        guard.force_flush().unwrap();
        assert_tree(&receiver);
        guard.shutdown().unwrap();
    });
}

#[test]
fn rust_log_filters_logs_but_never_spans() {
    isolated("export::rust_log_filters_logs_but_never_spans", || {
        let receiver = OtlpReceiver::start().unwrap();
        let guard = init(Some(receiver.grpc_endpoint()), |b| b.log_filter("error"));
        tracing::debug_span!("debug.level.span").in_scope(|| {
            tracing::trace_span!("trace.level.span").in_scope(|| {});
        });
        guard.force_flush().unwrap();
        let spans = receiver.wait_for(WAIT, |s| s.len() >= 2);
        assert!(spans.iter().any(|s| s.name == "debug.level.span"));
        assert!(spans.iter().any(|s| s.name == "trace.level.span"));
    });
}

#[test]
fn unreachable_collector_drops_and_counts_without_growing() {
    isolated(
        "export::unreachable_collector_drops_and_counts_without_growing",
        || {
            const SPANS: u64 = 100_000;
            const QUEUE: usize = 512;
            let guard = init(Some(closed_port()), |b| {
                b.span_queue_size(QUEUE).export_batch_size(128)
            });
            let rss_before = rss_kib();
            for i in 0..SPANS {
                tracing::info_span!("flood", i).in_scope(|| {});
            }
            let rss_after = rss_kib();
            let stats = guard.export_stats();
            // At most a full queue plus the batch being exported are held; the rest was dropped at the
            // queue or lost in failed exports, and counted either way.
            let held = SPANS - stats.dropped() - stats.exported() - stats.failed_spans();
            assert!(
                held <= QUEUE as u64 + 128,
                "held {held} spans, dropped {}",
                stats.dropped()
            );
            assert!(stats.dropped() > 0);
            assert!(
                rss_after.saturating_sub(rss_before) < 64 * 1024,
                "memory grew by {} KiB",
                rss_after - rss_before
            );
            let _ = guard.force_flush();
            assert!(stats.failed_exports() >= 1, "export failures are counted");
            let snapshot = obs_testkit::MetricsSnapshot::current();
            assert_eq!(
                snapshot.value("obs_spans_dropped_total", &[]),
                Some(stats.dropped() as f64)
            );
            assert!(
                snapshot
                    .value("obs_span_export_failures_total", &[])
                    .unwrap_or(0.0)
                    >= 1.0
            );
        },
    );
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn current_thread_runtime_with_collector_up_then_down() {
    isolated(
        "export::current_thread_runtime_with_collector_up_then_down",
        || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut receiver = OtlpReceiver::start().unwrap();
                let guard = init(Some(receiver.grpc_endpoint()), |b| {
                    b.shutdown_timeout(Duration::from_secs(2))
                        .export_timeout(Duration::from_secs(1))
                });
                async { tracing::info!("in async span") }
                    .instrument(tracing::info_span!("async.work"))
                    .await;
                guard.force_flush().unwrap();
                assert!(receiver.wait_for_span("async.work", WAIT).is_some());

                receiver.stop();
                tracing::info_span!("after.collector.stopped").in_scope(|| {});
                let start = Instant::now();
                let _ = guard.shutdown();
                assert!(
                    start.elapsed() < Duration::from_secs(2) + Duration::from_secs(3),
                    "shutdown is bounded by its timeout, took {:?}",
                    start.elapsed()
                );
            });
        },
    );
}

#[test]
fn current_thread_runtime_with_collector_never_up() {
    isolated(
        "export::current_thread_runtime_with_collector_never_up",
        || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let guard = init(Some(closed_port()), |b| {
                    b.shutdown_timeout(Duration::from_secs(2))
                });
                for _ in 0..100 {
                    async {}.instrument(tracing::info_span!("lost")).await;
                }
                let start = Instant::now();
                drop(guard);
                assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "drop took {:?}",
                    start.elapsed()
                );
            });
        },
    );
}

#[test]
fn spawned_task_stays_a_child_of_its_parent() {
    isolated("export::spawned_task_stays_a_child_of_its_parent", || {
        let receiver = OtlpReceiver::start().unwrap();
        let guard = init(Some(receiver.grpc_endpoint()), |b| b);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(
            async {
                let kept = obs_core::propagation::spawn(async {
                    tracing::info_span!("spawned.kept").in_scope(|| {});
                });
                let lost = tokio::spawn(async {
                    tracing::info_span!("spawned.plain").in_scope(|| {});
                });
                kept.await.unwrap();
                lost.await.unwrap();
            }
            .instrument(tracing::info_span!("spawner")),
        );
        guard.force_flush().unwrap();
        let spans = receiver.wait_for(WAIT, |s| s.len() >= 3);
        let spawner = spans.iter().find(|s| s.name == "spawner").unwrap();
        let kept = spans.iter().find(|s| s.name == "spawned.kept").unwrap();
        let plain = spans.iter().find(|s| s.name == "spawned.plain").unwrap();
        assert_eq!(kept.parent_span_id, spawner.span_id);
        assert_eq!(kept.trace_id, spawner.trace_id);
        assert_ne!(
            plain.trace_id, spawner.trace_id,
            "plain tokio::spawn loses the trace"
        );
    });
}

#[test]
fn propagation_round_trip_across_a_hop() {
    isolated("export::propagation_round_trip_across_a_hop", || {
        let receiver = OtlpReceiver::start().unwrap();
        let guard = init(Some(receiver.grpc_endpoint()), |b| b);
        let mut headers = http::HeaderMap::new();
        tracing::info_span!("caller").in_scope(|| {
            obs_core::propagation::inject_current(&mut headers);
        });
        let remote = obs_core::propagation::extract(&headers);
        let callee = tracing::info_span!("callee");
        tracing_opentelemetry::OpenTelemetrySpanExt::set_parent(&callee, remote).unwrap();
        callee.in_scope(|| {});
        drop(callee);
        guard.force_flush().unwrap();
        let spans = receiver.wait_for(WAIT, |s| s.len() >= 2);
        let caller = spans.iter().find(|s| s.name == "caller").unwrap();
        let callee = spans.iter().find(|s| s.name == "callee").unwrap();
        assert_eq!(callee.trace_id, caller.trace_id);
        assert_eq!(callee.parent_span_id, caller.span_id);
        // Sampled, and random: obs started the trace (W3C Trace Context Level 2).
        assert!(headers["traceparent"].to_str().unwrap().ends_with("-03"));
    });
}

#[test]
fn sampler_always_off_exports_nothing_but_keeps_ids() {
    isolated(
        "export::sampler_always_off_exports_nothing_but_keeps_ids",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let guard = init(Some(receiver.grpc_endpoint()), |b| {
                b.sampler(obs_core::SamplerConfig::AlwaysOff)
            });
            let ids = tracing::info_span!("unsampled").in_scope(obs_core::trace::current_ids);
            assert!(
                ids.is_some(),
                "unsampled spans still have ids for log correlation"
            );
            guard.force_flush().unwrap();
            assert!(receiver.spans().is_empty());
            assert_eq!(guard.export_stats().exported(), 0);
        },
    );
}

#[test]
fn sdk_disabled_records_no_spans_but_metrics_and_logs_work() {
    isolated(
        "export::sdk_disabled_records_no_spans_but_metrics_and_logs_work",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let guard = init(Some(receiver.grpc_endpoint()), |b| b.sdk_disabled(true));
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let out = rt.block_on(obs_core::instrument(
                obs_core::Operation::new("disabled.op"),
                async { Ok::<_, std::io::Error>(1) },
            ));
            assert_eq!(out.unwrap(), 1);
            tracing::info_span!("not.recorded").in_scope(|| {});
            guard.force_flush().unwrap();
            assert!(obs_core::trace::tracer().is_none());
            assert!(receiver.spans().is_empty());
            let snap = obs_testkit::MetricsSnapshot::current();
            assert_eq!(
                snap.value(
                    "obs_operations_total",
                    &[("operation", "disabled.op"), ("outcome", "success")]
                ),
                Some(1.0)
            );
        },
    );
}

#[test]
fn configured_query_params_are_redacted() {
    isolated("export::configured_query_params_are_redacted", || {
        assert_eq!(obs_core::redact::query("otp=123"), "otp=123");
        let _guard = init(None, |b| b.sensitive_query_param("OTP"));
        assert_eq!(obs_core::redact::query("otp=123&a=1"), "otp=[REDACTED]&a=1");
    });
}

#[test]
fn custom_span_exporter_receives_the_spans() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SpanData, SpanExporter};

    #[derive(Debug)]
    struct Counting(Arc<AtomicUsize>, Arc<AtomicUsize>);

    impl SpanExporter for Counting {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.fetch_add(batch.len(), Ordering::SeqCst);
            Ok(())
        }

        fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
            if resource.get(&"service.name".into()).is_some() {
                self.1.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    isolated("export::custom_span_exporter_receives_the_spans", || {
        let spans = Arc::new(AtomicUsize::new(0));
        let resources = Arc::new(AtomicUsize::new(0));
        // An endpoint is set too: the custom exporter takes precedence, nothing goes to OTLP.
        let guard = init(Some(closed_port()), |b| {
            b.span_exporter(Counting(spans.clone(), resources.clone()))
        });
        emit_parent_child_tree();
        guard.shutdown().unwrap();
        assert_eq!(spans.load(Ordering::SeqCst), 3);
        assert_eq!(resources.load(Ordering::SeqCst), 1);
        assert_eq!(obs_core::export_stats().unwrap().failed_exports(), 0);
    });
}
