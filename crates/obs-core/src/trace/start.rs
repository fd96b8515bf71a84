//! [`start_span`]: a span whose sampling is decided before anything of it is built.

use std::borrow::Cow;
use std::cell::Cell;
use std::sync::OnceLock;

use opentelemetry::trace::{
    SpanContext, SpanKind, TraceContextExt as _, TraceFlags, TraceId, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SamplingDecision, ShouldSample};

use crate::propagation::traceparent::FLAG_RANDOM;
use crate::sampler::ObsSampler;

static SAMPLER: OnceLock<ObsSampler> = OnceLock::new();

/// The sampler `init` gave the tracer provider, asked again by [`start_span`].
pub(crate) fn set_sampler(sampler: ObsSampler) {
    let _ = SAMPLER.set(sampler);
}

thread_local! {
    /// The trace id [`start_span`] decided on for a root span, handed to the SDK's next
    /// `new_trace_id` on this thread.
    static PENDING_TRACE_ID: Cell<Option<TraceId>> = const { Cell::new(None) };
}

/// The id generator of obs's tracer provider: random ids, except that a root span started by
/// [`start_span`] gets the trace id its sampling was decided on.
#[derive(Debug, Default)]
pub(crate) struct ObsIdGenerator(RandomIdGenerator);

impl IdGenerator for ObsIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        PENDING_TRACE_ID
            .with(Cell::take)
            .unwrap_or_else(|| self.0.new_trace_id())
    }

    fn new_span_id(&self) -> opentelemetry::trace::SpanId {
        self.0.new_span_id()
    }
}

/// A span opened by [`start_span`].
#[derive(Debug)]
pub struct Started {
    /// The parent context with the span as its active span.
    pub cx: Context,
    /// Whether the span records (it was sampled).
    pub recording: bool,
}

/// Starts a span of obs's tracer under `parent`, asking the configured sampler first.
///
/// A span that is not sampled is never built: the context gets its ids alone, as
/// `trace::with_span` keeps an unsampled span, and `attributes` is not called. A sampled span
/// is built by the SDK with `attributes` as its first attributes, in the `Vec` they come in (size
/// it for the attributes set later too, and it never grows). The SDK asks the same sampler
/// again, with the same trace id, so it decides alike. A [`crate::sampler::SamplingOverride`]
/// scope around the call applies to both. `None` before `init` or with the SDK disabled.
///
/// ```
/// use opentelemetry::trace::{SpanKind, TraceContextExt};
/// use opentelemetry::{Context, KeyValue};
///
/// // Before `init` there is no tracer: nothing starts and the attributes are not built.
/// let started = obs_core::__private::start_span(&Context::new(), "work", SpanKind::Internal, || {
///     vec![KeyValue::new("k", "v")]
/// });
/// assert!(started.is_none());
/// ```
pub fn start_span(
    parent: &Context,
    name: impl Into<Cow<'static, str>>,
    kind: SpanKind,
    attributes: impl FnOnce() -> Vec<KeyValue>,
) -> Option<Started> {
    let tracer = super::tracer()?;
    let name = name.into();
    // A suppressed context, or no sampler of ours: the SDK decides everything itself.
    let decided = SAMPLER
        .get()
        .filter(|_| !parent.is_telemetry_suppressed())
        .map(|sampler| {
            let span = parent.span();
            let psc = span.span_context();
            let (trace_id, flags) = if psc.is_valid() {
                (psc.trace_id(), psc.trace_flags())
            } else {
                let random = super::random::random(TraceFlags::default());
                (RandomIdGenerator::default().new_trace_id(), random)
            };
            let result = sampler.should_sample(Some(parent), trace_id, &name, &kind, &[], &[]);
            (trace_id, flags, result)
        });
    let decided = match decided {
        Some((trace_id, flags, result)) if result.decision == SamplingDecision::Drop => {
            // What the SDK builds for a dropped span, without building it, but with the
            // `random` flag of the trace kept (the SDK clears every flag).
            let sc = SpanContext::new(
                trace_id,
                RandomIdGenerator::default().new_span_id(),
                TraceFlags::new(flags.to_u8() & FLAG_RANDOM),
                false,
                result.trace_state,
            );
            return Some(Started {
                cx: parent.with_remote_span_context(sc),
                recording: false,
            });
        }
        decided => decided.map(|(trace_id, _, _)| trace_id),
    };
    // A trace obs starts has a random trace id (Level 2's `random` flag); see `random`.
    let root = !parent.span().span_context().is_valid();
    let builder = tracer
        .span_builder(name)
        .with_kind(kind)
        .with_attributes(attributes());
    let span = with_pending_trace_id(decided, || builder.start_with_context(tracer, parent));
    let recording = opentelemetry::trace::Span::is_recording(&span);
    let cx = if root {
        super::random::with_root_span(parent, span)
    } else {
        super::with_span(parent, span)
    };
    Some(Started { cx, recording })
}

/// Runs `start` with `trace_id` pending for the SDK's next root span on this thread, and clears
/// it after (a span with a parent takes its parent's id and leaves it unused).
fn with_pending_trace_id<T>(trace_id: Option<TraceId>, start: impl FnOnce() -> T) -> T {
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            PENDING_TRACE_ID.with(|p| p.set(None));
        }
    }
    let _clear = Clear;
    PENDING_TRACE_ID.with(|p| p.set(trace_id));
    start()
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;

    use super::*;

    #[test]
    fn a_pending_trace_id_goes_to_the_next_root_only() {
        let provider = SdkTracerProvider::builder()
            .with_id_generator(ObsIdGenerator::default())
            .build();
        let tracer = provider.tracer("test");
        let id = TraceId::from(0x1234_5678_9abc_def0_u128);
        let root = with_pending_trace_id(Some(id), || tracer.start("root"));
        assert_eq!(
            opentelemetry::trace::Span::span_context(&root).trace_id(),
            id
        );
        let next = tracer.start("next");
        assert_ne!(
            opentelemetry::trace::Span::span_context(&next).trace_id(),
            id,
            "taken once"
        );
        // A child takes its parent's trace id; the pending one is cleared, not left for later.
        let parent = Context::new().with_span(tracer.start("parent"));
        with_pending_trace_id(Some(id), || tracer.start_with_context("child", &parent));
        let later = tracer.start("later");
        assert_ne!(
            opentelemetry::trace::Span::span_context(&later).trace_id(),
            id
        );
    }
}
