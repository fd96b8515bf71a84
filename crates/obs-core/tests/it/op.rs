//! The timed-operation helper through `init`: span, metrics, outcome, output unchanged.

use std::borrow::Cow;
use std::time::Duration;

use obs_core::catalog::MetricDef;
use obs_core::metrics::{CounterVec, HistogramVec};
use obs_core::op::SpanAttributes;
use obs_core::{ErrorType, OpOutcome, Operation, TimedOut, instrument, instrument_with};
use obs_testkit::{MetricsSnapshot, OtlpReceiver, isolated};
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, TraceFlags, TraceId, TraceState};

use crate::{WAIT, init};

#[derive(Debug, PartialEq)]
enum PayError {
    Declined,
    GatewayTimeout,
}

impl ErrorType for PayError {
    fn error_type(&self) -> Cow<'static, str> {
        match self {
            Self::Declined => "declined".into(),
            Self::GatewayTimeout => "gateway_timeout".into(),
        }
    }
    fn is_timeout(&self) -> bool {
        matches!(self, Self::GatewayTimeout)
    }
}

const CALL_MS: MetricDef =
    MetricDef::histogram("test_call_duration_ms", "Test calls.").with_labels(&["peer"]);
const CALLS: MetricDef = MetricDef::counter("test_calls_total", "Test calls by outcome.")
    .with_labels(&["peer", "outcome", "error_type"]);
/// More labels than `finish` keeps on the stack: the values must land in order all the same.
const WIDE: [&str; 7] = ["a", "b", "c", "d", "e", "f", "g"];
const WIDE_MS: MetricDef =
    MetricDef::histogram("test_wide_duration_ms", "Wide test calls.").with_labels(&WIDE);
const WIDE_CALLS: MetricDef = MetricDef::counter("test_wide_total", "Wide test calls.")
    .with_labels(&["a", "b", "c", "d", "e", "f", "g", "outcome", "error_type"]);
/// An outcome counter without `error_type`, as the design documents name some (`{command,status}`).
const STATUS_CALLS: MetricDef =
    MetricDef::counter("test_status_calls_total", "Test calls by status.")
        .with_labels(&["peer", "status"]);
/// A failure counter (`worker_stage_failures_total{stage,code}`-like): failures only.
const FAILED_CALLS: MetricDef = MetricDef::counter("test_failed_calls_total", "Failed test calls.")
    .with_labels(&["peer", "code"]);
static CATALOG: &[MetricDef] = &[
    CALL_MS,
    CALLS,
    WIDE_MS,
    WIDE_CALLS,
    STATUS_CALLS,
    FAILED_CALLS,
];
static FAILED_CALLS_VEC: CounterVec = CounterVec::new(&FAILED_CALLS);
static STATUS_CALLS_VEC: CounterVec = CounterVec::new(&STATUS_CALLS);
static CALL_MS_VEC: HistogramVec = HistogramVec::new(&CALL_MS);
static CALLS_VEC: CounterVec = CounterVec::new(&CALLS);
static WIDE_MS_VEC: HistogramVec = HistogramVec::new(&WIDE_MS);
static WIDE_CALLS_VEC: CounterVec = CounterVec::new(&WIDE_CALLS);

#[test]
fn outcomes_spans_and_unchanged_outputs() {
    isolated("op::outcomes_spans_and_unchanged_outputs", || {
        let receiver = OtlpReceiver::start().unwrap();
        let guard = init(Some(receiver.grpc_endpoint()), |b| b.catalog(CATALOG));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let ok: Result<u32, PayError> = instrument(Operation::new("pay"), async {
                tracing::info_span!("inner.tracing.span").in_scope(|| {});
                Ok(7)
            })
            .await;
            assert_eq!(ok, Ok(7));
            let declined: Result<u32, PayError> =
                instrument(Operation::new("pay"), async { Err(PayError::Declined) }).await;
            assert_eq!(declined, Err(PayError::Declined));
            let slow: Result<u32, PayError> = instrument(Operation::new("pay"), async {
                Err(PayError::GatewayTimeout)
            })
            .await;
            assert_eq!(slow, Err(PayError::GatewayTimeout));
            let cut = tokio::time::timeout(
                Duration::from_millis(10),
                instrument(Operation::new("pay"), async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok::<u32, PayError>(1)
                }),
            )
            .await;
            assert!(cut.is_err());
            let custom = instrument(
                Operation::new("gateway.call")
                    .kind(SpanKind::Client)
                    .attribute("peer.service", "psp")
                    .metrics(&CALL_MS_VEC, &CALLS_VEC, ["psp"]),
                async { Ok::<_, std::io::Error>("body") },
            )
            .await;
            assert_eq!(custom.unwrap(), "body");
            let wide: Result<(), PayError> = instrument(
                Operation::new("wide").metrics(
                    &WIDE_MS_VEC,
                    &WIDE_CALLS_VEC,
                    WIDE.map(|v| v.to_uppercase()),
                ),
                async { Err(PayError::Declined) },
            )
            .await;
            assert_eq!(wide, Err(PayError::Declined));
            let case = |i: u8| match i {
                0 => Ok(()),
                1 => Err(PayError::Declined),
                _ => Err(PayError::GatewayTimeout),
            };
            for i in 0..3 {
                let status: Result<(), PayError> = instrument(
                    Operation::new("status.call").metrics(&CALL_MS_VEC, &STATUS_CALLS_VEC, ["acq"]),
                    async { case(i) },
                )
                .await;
                assert_eq!(status, case(i));
                let failed: Result<(), PayError> = instrument(
                    Operation::new("failing.call").failure_metrics(
                        &CALL_MS_VEC,
                        &FAILED_CALLS_VEC,
                        ["fail"],
                    ),
                    async { case(i) },
                )
                .await;
                assert_eq!(failed, case(i));
            }
            let classified = instrument_with(Operation::new("probe"), async { 404_u16 }, |code| {
                if *code >= 400 {
                    OpOutcome::Error("http_404".into())
                } else {
                    OpOutcome::Success
                }
            })
            .await;
            assert_eq!(classified, 404);
        });

        let snap = MetricsSnapshot::current();
        let count = |outcome: &str, error_type: &str| {
            snap.value(
                "obs_operations_total",
                &[
                    ("operation", "pay"),
                    ("outcome", outcome),
                    ("error_type", error_type),
                ],
            )
        };
        assert_eq!(count("success", ""), Some(1.0));
        assert_eq!(count("error", "declined"), Some(1.0));
        assert_eq!(count("timeout", "gateway_timeout"), Some(1.0));
        assert_eq!(count("timeout", "cancelled"), Some(1.0));
        assert_eq!(
            snap.value("obs_operation_duration_ms_count", &[("operation", "pay")]),
            Some(4.0)
        );
        assert_eq!(
            snap.value(
                "test_calls_total",
                &[("peer", "psp"), ("outcome", "success"), ("error_type", "")]
            ),
            Some(1.0)
        );
        assert_eq!(
            snap.value("test_call_duration_ms_count", &[("peer", "psp")]),
            Some(1.0)
        );
        let wide: Vec<(&str, String)> = WIDE.iter().map(|k| (*k, k.to_uppercase())).collect();
        let wide_labels: Vec<(&str, &str)> = wide.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(
            snap.value("test_wide_duration_ms_count", &wide_labels),
            Some(1.0)
        );
        let mut outcome_labels = wide_labels.clone();
        outcome_labels.extend([("outcome", "error"), ("error_type", "declined")]);
        assert_eq!(snap.value("test_wide_total", &outcome_labels), Some(1.0));
        assert_eq!(
            snap.value(
                "obs_operations_total",
                &[("operation", "probe"), ("outcome", "error")]
            ),
            Some(1.0)
        );
        for status in ["success", "error", "timeout"] {
            assert_eq!(
                snap.value(
                    "test_status_calls_total",
                    &[("peer", "acq"), ("status", status)]
                ),
                Some(1.0),
                "{status}"
            );
        }
        assert_eq!(snap.series_count("test_status_calls_total"), 3);
        assert_eq!(
            snap.value("test_call_duration_ms_count", &[("peer", "fail")]),
            Some(3.0)
        );
        for code in ["declined", "gateway_timeout"] {
            assert_eq!(
                snap.value(
                    "test_failed_calls_total",
                    &[("peer", "fail"), ("code", code)]
                ),
                Some(1.0),
                "{code}"
            );
        }
        assert_eq!(
            snap.series_count("test_failed_calls_total"),
            2,
            "{}",
            snap.text
        );

        guard.force_flush().unwrap();
        let spans = receiver.wait_for(WAIT, |s| s.iter().filter(|s| s.name == "pay").count() >= 4);
        let pays: Vec<_> = spans.iter().filter(|s| s.name == "pay").collect();
        assert_eq!(pays.len(), 4);
        let inner = spans
            .iter()
            .find(|s| s.name == "inner.tracing.span")
            .unwrap();
        let ok_span = pays
            .iter()
            .find(|s| s.span_id == inner.parent_span_id)
            .expect("tracing span nests under the op span");
        assert_eq!(ok_span.status_code, 0);
        let declined = pays
            .iter()
            .find(|s| s.attr("error.type") == Some("declined"))
            .unwrap();
        assert_eq!(declined.status_code, 2);
        assert!(declined.events.contains(&"exception".to_owned()));
        assert!(
            pays.iter()
                .any(|s| s.attr("error.type") == Some("cancelled"))
        );
        // The error type a status-only counter leaves out is on the span.
        let status_spans = receiver.wait_for(WAIT, |s| {
            s.iter().filter(|s| s.name == "status.call").count() >= 3
        });
        assert!(
            status_spans
                .iter()
                .any(|s| s.name == "status.call" && s.attr("error.type") == Some("declined"))
        );
        let call = spans.iter().find(|s| s.name == "gateway.call").unwrap();
        assert_eq!(call.kind, 3);
        assert_eq!(call.attr("peer.service"), Some("psp"));
    });
}

struct PanickingRecorder;

impl metrics::Recorder for PanickingRecorder {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        panic!("recorder failure")
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        panic!("recorder failure")
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        panic!("recorder failure")
    }
}

#[test]
fn a_failing_recorder_never_reaches_the_caller() {
    isolated("op::a_failing_recorder_never_reaches_the_caller", || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let out = metrics::with_local_recorder(&PanickingRecorder, || {
            rt.block_on(instrument(Operation::new("fragile"), async {
                Ok::<_, std::io::Error>(5)
            }))
        });
        assert_eq!(out.unwrap(), 5);
    });
}

/// The trace id and span id of each link of the span named `name`, lowercase hex, as received.
fn links_of(receiver: &OtlpReceiver, name: &str) -> Vec<(String, String)> {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut out = Vec::new();
    for request in receiver.requests() {
        for rs in &request.resource_spans {
            for ss in &rs.scope_spans {
                for span in ss.spans.iter().filter(|s| s.name == name) {
                    out.extend(
                        span.links
                            .iter()
                            .map(|l| (hex(&l.trace_id), hex(&l.span_id))),
                    );
                }
            }
        }
    }
    out
}

#[test]
fn kind_links_result_attributes_timeout_and_foreign_errors() {
    isolated(
        "op::kind_links_result_attributes_timeout_and_foreign_errors",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let guard = init(Some(receiver.grpc_endpoint()), |b| b);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let producer = SpanContext::new(
                TraceId::from(0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c_u128),
                SpanId::from(0xb7ad_6b71_6920_3331_u64),
                TraceFlags::SAMPLED,
                true,
                TraceState::NONE,
            );
            rt.block_on(async {
                // Span kind, a link, an owned key, and attributes from the result.
                let table = String::from("orders");
                let rows: Result<u64, std::io::Error> = instrument(
                    Operation::new("db.update")
                        .kind(SpanKind::Client)
                        .attribute(format!("db.collection.{table}"), true)
                        .link(producer.clone())
                        .link(SpanContext::empty_context())
                        // The second argument's type is inferred.
                        .on_result(|r: &Result<u64, std::io::Error>, span| {
                            if let Ok(n) = r {
                                span.set("db.rows_affected", *n as i64)
                                    .set(String::from("db.owned_name"), "yes");
                            }
                        }),
                    async { Ok(3) },
                )
                .await;
                assert_eq!(rows.unwrap(), 3);

                // A time limit that does not pass: the output comes back inside `Ok`.
                let quick = instrument(
                    Operation::new("quick").timeout(Duration::from_secs(30)),
                    async { Ok::<_, PayError>(5) },
                )
                .await;
                assert_eq!(quick, Ok(Ok(5)));

                // A time limit that passes: the caller gets `TimedOut`, the inner future's
                // result is never produced and its result callback never runs.
                let slow = instrument(
                    Operation::new("slow")
                        .on_result(|_: &Result<u32, PayError>, _: &mut SpanAttributes<'_>| {
                            panic!("no result to see")
                        })
                        .timeout(Duration::from_millis(20)),
                    async {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        Ok::<u32, PayError>(1)
                    },
                )
                .await;
                let err: TimedOut = slow.unwrap_err();
                assert_eq!(err.operation(), "slow");
                assert_eq!(err.limit(), Duration::from_millis(20));
                assert_eq!(err.to_string(), "operation `slow` timed out after 20ms");

                // A foreign error type, classified by a closure.
                let parsed = instrument(
                    Operation::new("parse").classify(|e: &serde_json::Error| {
                        if e.is_syntax() || e.is_eof() {
                            OpOutcome::Error("syntax".into())
                        } else {
                            OpOutcome::Error("other".into())
                        }
                    }),
                    async { serde_json::from_str::<u32>("not json") },
                )
                .await;
                assert!(parsed.is_err());

                // A result callback that panics changes nothing for the caller.
                let fragile = instrument(
                    Operation::new("fragile.attrs").on_result(
                        |_: &Result<u8, PayError>, _: &mut SpanAttributes<'_>| {
                            panic!("callback bug")
                        },
                    ),
                    async { Ok::<u8, PayError>(9) },
                )
                .await;
                assert_eq!(fragile, Ok(9));
            });

            let snap = MetricsSnapshot::current();
            let count = |op: &str, outcome: &str, error_type: &str| {
                snap.value(
                    "obs_operations_total",
                    &[
                        ("operation", op),
                        ("outcome", outcome),
                        ("error_type", error_type),
                    ],
                )
            };
            assert_eq!(count("slow", "timeout", "timeout"), Some(1.0));
            assert_eq!(count("slow", "timeout", "cancelled"), None, "recorded once");
            assert_eq!(count("quick", "success", ""), Some(1.0));
            assert_eq!(count("parse", "error", "syntax"), Some(1.0));
            assert_eq!(count("fragile.attrs", "success", ""), Some(1.0));

            guard.force_flush().unwrap();
            let names = ["db.update", "quick", "slow", "parse", "fragile.attrs"];
            let spans = receiver.wait_for(WAIT, |s| {
                names.iter().all(|n| s.iter().any(|s| s.name == *n))
            });
            let db = spans.iter().find(|s| s.name == "db.update").unwrap();
            assert_eq!(db.kind, 3, "client");
            assert_eq!(db.attr("db.collection.orders"), Some("true"));
            assert_eq!(db.attr("db.rows_affected"), Some("3"));
            assert_eq!(db.attr("db.owned_name"), Some("yes"));
            assert_eq!(
                links_of(&receiver, "db.update"),
                vec![(
                    "0af7651916cd43dd8448eb211c80319c".to_owned(),
                    "b7ad6b7169203331".to_owned()
                )],
                "the valid link only"
            );
            let quick = spans.iter().find(|s| s.name == "quick").unwrap();
            assert_eq!(quick.kind, 1, "internal by default");
            assert_eq!(quick.status_code, 0);
            let slow = spans.iter().find(|s| s.name == "slow").unwrap();
            assert_eq!(slow.attr("error.type"), Some("timeout"));
            assert_eq!(slow.status_code, 2);
            let parse = spans.iter().find(|s| s.name == "parse").unwrap();
            assert_eq!(parse.attr("error.type"), Some("syntax"));
            let fragile = spans.iter().find(|s| s.name == "fragile.attrs").unwrap();
            assert_eq!(fragile.status_code, 0);
        },
    );
}

#[test]
fn a_time_limit_without_a_timer_is_not_enforced() {
    // A runtime without its time driver cannot make a timer; the operation runs to its end.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let out = rt.block_on(instrument(
        Operation::new("no.timer").timeout(Duration::from_millis(1)),
        async {
            tokio::task::yield_now().await;
            Ok::<u8, std::io::Error>(4)
        },
    ));
    assert_eq!(out.unwrap().unwrap(), 4);
    // Outside any runtime too.
    let out = poll_to_end(instrument(
        Operation::new("no.runtime").timeout(Duration::from_millis(1)),
        async { Ok::<u8, std::io::Error>(5) },
    ));
    assert_eq!(out.unwrap().unwrap(), 5);
}

/// Polls `future` on this thread with a waker that does nothing, outside any runtime.
fn poll_to_end<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut task = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut task) {
            return out;
        }
    }
}
