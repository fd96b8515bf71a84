//! The timed-operation helper through `init`: span, metrics, outcome, output unchanged.

use std::borrow::Cow;
use std::time::Duration;

use obs_core::catalog::MetricDef;
use obs_core::metrics::{CounterVec, HistogramVec};
use obs_core::{ErrorType, OpOutcome, Operation, instrument, instrument_with};
use obs_testkit::{MetricsSnapshot, OtlpReceiver, isolated};
use opentelemetry::trace::SpanKind;

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
static CATALOG: &[MetricDef] = &[CALL_MS, CALLS, WIDE_MS, WIDE_CALLS];
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
