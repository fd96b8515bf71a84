//! The `random` trace flag (W3C Trace Context Level 2) on the traces obs starts.
//!
//! obs's trace ids come from a random generator, so a trace obs starts gets the `random` flag.
//! OpenTelemetry 0.33's SDK builds a root span's flags from `sampled` alone, and a dropped span's
//! as all zero, so obs adds the bit itself: a dropped span's context is built by obs, and a
//! recording root span is wrapped in [`RandomRoot`], whose context carries the flag. A child
//! span takes its flags from its parent's context in the SDK, so the bit reaches the whole
//! trace and every `traceparent` injected from it. (The exported root span itself keeps the
//! SDK's flags.)
//!
//! What this does not reach: a span the SDK itself drops (a `tracing` span of the application,
//! through tracing-opentelemetry, in a trace that is not sampled) gets all-zero flags from the
//! SDK, so a call made inside such a span sends `00` rather than `02`. The `random` flag is a
//! hint, and losing it is what a Level 1 participant does.

use std::borrow::Cow;
use std::time::SystemTime;

use opentelemetry::trace::{Span as _, SpanContext, Status, TraceContextExt as _, TraceFlags};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::Span;

use crate::propagation::traceparent::FLAG_RANDOM;

/// `flags` with the `random` flag added.
pub(crate) fn random(flags: TraceFlags) -> TraceFlags {
    TraceFlags::new(flags.to_u8() | FLAG_RANDOM)
}

/// `parent` with `span`, a root span obs started, as its active span, its context flagged
/// `random`. As [`super::with_span`] does, a span that does not record is kept as its context.
pub(crate) fn with_root_span(parent: &Context, span: Span) -> Context {
    let sc = span.span_context();
    let flagged = SpanContext::new(
        sc.trace_id(),
        sc.span_id(),
        random(sc.trace_flags()),
        false,
        sc.trace_state().clone(),
    );
    if span.is_recording() {
        parent.with_span(RandomRoot {
            inner: span,
            cx: flagged,
        })
    } else {
        parent.with_remote_span_context(flagged)
    }
}

/// An SDK span whose [`span_context`](opentelemetry::trace::Span::span_context) carries the
/// `random` flag; everything else goes to the span itself.
#[derive(Debug)]
struct RandomRoot {
    inner: Span,
    cx: SpanContext,
}

impl opentelemetry::trace::Span for RandomRoot {
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
        &self.cx
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
