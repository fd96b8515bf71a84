//! `trace::start_span`: sampling decided once, before the span is built, as the SDK decides it.

use obs_core::__private::{sampling_scope, start_span};
use obs_core::config::SamplerConfig;
use obs_core::sampler::SamplingOverride;
use obs_testkit::{OtlpReceiver, isolated};
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Context, KeyValue};

use crate::{WAIT, init};

/// The SDK's ratio rule, for checking a decision against the trace id it was made on.
fn ratio_samples(trace_id: TraceId, ratio: f64) -> bool {
    let bytes = trace_id.to_bytes();
    let low = u64::from_be_bytes(bytes[8..16].try_into().unwrap()) >> 1;
    low < (ratio * (1u64 << 63) as f64) as u64
}

fn remote(flags: TraceFlags) -> Context {
    Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736_u128),
        SpanId::from(0x00f0_67aa_0ba9_02b7_u64),
        flags,
        true,
        TraceState::from_key_value([("vendor", "v1")]).unwrap(),
    ))
}

#[test]
fn sampling_is_decided_once_on_the_trace_id_the_span_gets() {
    isolated(
        "start::sampling_is_decided_once_on_the_trace_id_the_span_gets",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let guard = init(Some(receiver.grpc_endpoint()), |b| {
                b.sampler(SamplerConfig::ParentBasedAlwaysOff)
            });

            // Roots at 50 %: each root's decision must match its own trace id, so the SDK built
            // the sampled ones on the trace id they were decided on (a second, independent
            // decision would sample about a quarter, and disagree with the id half the time).
            let mut sampled = 0;
            let mut built = 0;
            for _ in 0..400 {
                let started = sampling_scope(SamplingOverride::ratio(0.5), || {
                    start_span(&Context::new(), "root", SpanKind::Server, || {
                        built += 1;
                        vec![KeyValue::new("attr", "set")]
                    })
                })
                .unwrap();
                let span = started.cx.span();
                let sc = span.span_context();
                assert!(sc.is_valid());
                assert_eq!(started.recording, ratio_samples(sc.trace_id(), 0.5));
                assert_eq!(started.recording, sc.is_sampled());
                assert_eq!(started.recording, span.is_recording());
                sampled += usize::from(started.recording);
                span.end();
            }
            assert_eq!(
                built, sampled,
                "attributes are built for sampled spans only"
            );
            assert!((140..=260).contains(&sampled), "{sampled} of 400 sampled");

            // Parent-based, unsampled caller: not built, the caller's trace id and trace state,
            // a span id of its own, local, not sampled.
            let parent = remote(TraceFlags::default());
            let started = start_span(&parent, "child", SpanKind::Server, || {
                panic!("attributes of an unsampled span are never built")
            })
            .unwrap();
            let span = started.cx.span();
            let (sc, psc) = (span.span_context(), parent.span().span_context().clone());
            assert!(!started.recording && !sc.is_sampled() && !sc.is_remote());
            assert_eq!(sc.trace_id(), psc.trace_id());
            assert_ne!(sc.span_id(), psc.span_id());
            assert_eq!(sc.trace_state().header(), "vendor=v1");

            // Sampled caller: built, with its attributes, exported under the caller's trace.
            let parent = remote(TraceFlags::SAMPLED);
            let started = start_span(&parent, "child", SpanKind::Server, || {
                vec![KeyValue::new("attr", "set")]
            })
            .unwrap();
            assert!(started.recording);
            let span = started.cx.span();
            assert_eq!(span.span_context().trace_id(), psc.trace_id());
            span.end();
            guard.force_flush().unwrap();
            let exported = receiver.wait_for_span("child", WAIT).unwrap();
            assert_eq!(exported.attr("attr"), Some("set"));
            assert_eq!(exported.parent_span_id, psc.span_id().to_string());
        },
    );
}
