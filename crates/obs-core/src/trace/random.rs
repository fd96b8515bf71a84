//! The `random` trace flag (W3C Trace Context Level 2) on the traces obs starts and continues.
//!
//! obs's trace ids come from a random generator, so a trace obs starts gets the `random` flag,
//! and a trace continued from a caller keeps the caller's. OpenTelemetry 0.33's SDK builds a root
//! span's flags from `sampled` alone and a dropped span's as all zero, so obs adds the bit
//! itself: [`start_span`](super::start_span) builds a dropped span's context with it and wraps a
//! recording root in a [`FlaggedSpan`], and the tracer given to tracing-opentelemetry
//! ([`FlaggingTracer`]) does the same for the application's `tracing` spans. A sampled child
//! takes its flags from its parent's context in the SDK, so the bit reaches the whole trace and
//! every `traceparent` injected from it. (An exported span keeps the SDK's flags.)

use std::borrow::Cow;
use std::time::SystemTime;

use opentelemetry::trace::SpanBuilder;
use opentelemetry::trace::{Span as _, SpanContext, Status, TraceContextExt as _, TraceFlags};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SdkTracer, Span};

use crate::propagation::traceparent::FLAG_RANDOM;

/// `flags` with the `random` flag added.
pub(crate) fn random(flags: TraceFlags) -> TraceFlags {
    TraceFlags::new(flags.to_u8() | FLAG_RANDOM)
}

/// `parent` with `span`, a root span obs started, as its active span, its context flagged
/// `random`. As [`super::with_span`] does, a span that does not record is kept as its context.
pub(crate) fn with_root_span(parent: &Context, span: Span) -> Context {
    let span = FlaggedSpan::new(span, FLAG_RANDOM);
    if span.is_recording() {
        parent.with_span(span)
    } else {
        parent.with_remote_span_context(span.span_context().clone())
    }
}

/// The `random` bit a span started under `parent_cx` inherits: its parent's, or set for a root
/// (obs's trace ids are random).
fn inherited(parent_cx: &Context) -> u8 {
    let parent = parent_cx.span();
    let psc = parent.span_context();
    if psc.is_valid() {
        psc.trace_flags().to_u8() & FLAG_RANDOM
    } else {
        FLAG_RANDOM
    }
}

/// The tracer obs gives tracing-opentelemetry: the SDK's, with the `random` flag added where the
/// SDK leaves it out (roots, dropped spans).
#[derive(Clone, Debug)]
pub(crate) struct FlaggingTracer(pub(crate) SdkTracer);

impl opentelemetry::trace::Tracer for FlaggingTracer {
    type Span = FlaggedSpan;

    fn build_with_context(&self, builder: SpanBuilder, parent_cx: &Context) -> FlaggedSpan {
        let random = inherited(parent_cx);
        FlaggedSpan::new(self.0.build_with_context(builder, parent_cx), random)
    }
}

/// An SDK span whose [`span_context`](opentelemetry::trace::Span::span_context) carries the
/// `random` flag when the SDK's does not; everything else goes to the span itself.
#[derive(Debug)]
pub(crate) struct FlaggedSpan {
    inner: Span,
    /// The context with the flag, when the SDK's lacks it.
    flagged: Option<SpanContext>,
}

impl FlaggedSpan {
    fn new(inner: Span, random: u8) -> Self {
        let sc = inner.span_context();
        let flags = sc.trace_flags().to_u8();
        let flagged = (sc.is_valid() && random & !flags != 0).then(|| {
            SpanContext::new(
                sc.trace_id(),
                sc.span_id(),
                TraceFlags::new(flags | random),
                false,
                sc.trace_state().clone(),
            )
        });
        Self { inner, flagged }
    }
}

impl opentelemetry::trace::Span for FlaggedSpan {
    fn add_event_with_timestamp<T>(
        &mut self,
        name: T,
        timestamp: SystemTime,
        attributes: Vec<KeyValue>,
    ) where
        T: Into<Cow<'static, str>>,
    {
        self.inner
            .add_event_with_timestamp(name, timestamp, attributes);
    }

    fn span_context(&self) -> &SpanContext {
        self.flagged
            .as_ref()
            .unwrap_or_else(|| self.inner.span_context())
    }

    fn is_recording(&self) -> bool {
        self.inner.is_recording()
    }

    fn set_attribute(&mut self, attribute: KeyValue) {
        self.inner.set_attribute(attribute);
    }

    fn set_attributes(&mut self, attributes: impl IntoIterator<Item = KeyValue>) {
        self.inner.set_attributes(attributes);
    }

    fn set_status(&mut self, status: Status) {
        self.inner.set_status(status);
    }

    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        self.inner.update_name(new_name);
    }

    fn add_link(&mut self, span_context: SpanContext, attributes: Vec<KeyValue>) {
        self.inner.add_link(span_context, attributes);
    }

    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        self.inner.end_with_timestamp(timestamp);
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

    use super::*;
    use crate::propagation::{W3CPropagator, traceparent};

    fn injected(cx: &Context) -> String {
        let mut headers = http::HeaderMap::new();
        W3CPropagator::new().inject_headers(cx, &mut headers);
        headers["traceparent"].to_str().unwrap().to_owned()
    }

    /// Level 2: a trace id obs generates is random, so the trace it starts says so, and the
    /// SDK's children inherit the flag from the wrapped root's context.
    #[test]
    fn a_recording_root_and_its_children_carry_the_flag() {
        let provider = SdkTracerProvider::builder().build();
        let tracer = provider.tracer("test");
        let cx = with_root_span(&Context::new(), tracer.start("root"));
        assert!(cx.span().is_recording());
        assert!(injected(&cx).ends_with("-03"));
        let child = cx.with_span(tracer.start_with_context("child", &cx));
        assert!(injected(&child).ends_with("-03"));
        assert_eq!(
            child.span().span_context().trace_id(),
            cx.span().span_context().trace_id()
        );
        // Calls on the context's span reach the SDK span.
        cx.span().set_attribute(KeyValue::new("k", "v"));
        cx.span().end();
        assert!(!cx.span().is_recording());
    }

    fn remote(flags: u8) -> Context {
        let psc = SpanContext::new(
            opentelemetry::trace::TraceId::from(7u128),
            opentelemetry::trace::SpanId::from(9u64),
            TraceFlags::new(flags),
            true,
            opentelemetry::trace::TraceState::NONE,
        );
        Context::new().with_remote_span_context(psc)
    }

    /// Level 2, "random-trace-id flag": the application's `tracing` spans (through
    /// tracing-opentelemetry and the tracer obs gives it) keep the caller's flag, sampled or not,
    /// and set it on a trace they start; the SDK alone clears it on a dropped span.
    #[test]
    fn the_tracing_bridge_keeps_the_flag() {
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        use tracing_subscriber::layer::SubscriberExt as _;

        let provider = SdkTracerProvider::builder()
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
            .build();
        let sdk = provider.tracer("test");
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(FlaggingTracer(sdk.clone())));
        tracing::subscriber::with_default(subscriber, || {
            for (parent, expected) in [(0x00, "00"), (0x01, "01"), (0x02, "02"), (0x03, "03")] {
                let span = tracing::info_span!("work");
                let _ = span.set_parent(remote(parent));
                let cx = span.context();
                assert!(injected(&cx).ends_with(expected), "{parent:02x}");
                // Without obs's tracer the SDK drops the flag of an unsampled child.
                let bare = sdk.start_with_context("bare", &remote(parent));
                let bare_flags = bare.span_context().trace_flags().to_u8();
                let sdk_flags = if parent & 0x01 == 0 { 0 } else { parent };
                assert_eq!(bare_flags, sdk_flags, "{parent:02x}");
            }
            let root = tracing::info_span!("root");
            assert!(injected(&root.context()).ends_with("-03"));
        });
    }

    #[test]
    fn a_dropped_root_carries_the_flag() {
        let provider = SdkTracerProvider::builder()
            .with_sampler(Sampler::AlwaysOff)
            .build();
        let cx = with_root_span(&Context::new(), provider.tracer("test").start("root"));
        assert!(!cx.span().is_recording());
        assert_eq!(
            cx.span().span_context().trace_flags().to_u8(),
            traceparent::FLAG_RANDOM
        );
        assert!(injected(&cx).ends_with("-02"));
    }
}
