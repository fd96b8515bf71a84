//! Access to obs's tracer and to the current trace: the active context, its ids, the correlation id.

use std::sync::{Arc, OnceLock};

use opentelemetry::Context;
use opentelemetry::trace::{Span as _, SpanContext, SpanId, TraceContextExt, TraceId};
use opentelemetry_sdk::trace::{SdkTracer, Span};

mod random;
pub(crate) mod start;

pub(crate) use random::FlaggingTracer;
pub(crate) use start::start_span;
pub(crate) use start::{ObsIdGenerator, set_sampler};

static TRACER: OnceLock<SdkTracer> = OnceLock::new();

pub(crate) fn set_tracer(tracer: SdkTracer) {
    let _ = TRACER.set(tracer);
}

/// The tracer `init` installed, for crates that open OpenTelemetry spans directly on hot paths.
/// `None` before `init`, or when the SDK is disabled.
pub fn tracer() -> Option<&'static SdkTracer> {
    TRACER.get()
}

/// `parent` with `span` as its active span, for spans started from [`tracer`].
///
/// A span that does not record (not sampled) is kept as its span context alone, marked local:
/// children and log lines see the same ids and the same sampling decision, without the context
/// boxing a no-op span behind a lock (an allocation, and a lock each time the span is asked
/// anything). Ending it is a no-op either way.
pub(crate) fn with_span(parent: &Context, span: Span) -> Context {
    if span.is_recording() {
        return parent.with_span(span);
    }
    let sc = span.span_context();
    parent.with_remote_span_context(SpanContext::new(
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags(),
        false,
        sc.trace_state().clone(),
    ))
}

/// The current OpenTelemetry context. Entering a `tracing` span activates its context, so this is
/// the innermost of the current `tracing` span and any OpenTelemetry span attached inside it.
pub fn current_context() -> Context {
    Context::current()
}

/// The trace id and span id of the current span, if there is a valid one.
pub fn current_ids() -> Option<(TraceId, SpanId)> {
    Context::map_current(|cx| {
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid().then(|| (sc.trace_id(), sc.span_id()))
    })
}

/// A correlation id carried in the OpenTelemetry context; log lines inside it carry
/// `correlation_id`. obs-http's layer puts the same value in each request's extensions
/// (`obs_http::CorrelationId` is this type).
///
/// ```
/// use obs_core::trace::CorrelationId;
///
/// let cx = CorrelationId::new("req-42").attach_to(&opentelemetry::Context::current());
/// let _guard = cx.attach();
/// assert_eq!(CorrelationId::current().unwrap().as_str(), "req-42");
/// ```
#[derive(Clone)]
pub struct CorrelationId(Repr);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Repr {
    /// The bytes of a request header, shared with it: no copy per request.
    Header(http::HeaderValue),
    Text(Arc<str>),
    /// The correlation id, and the request's own id where it differs (log lines carry both).
    WithRequest(http::HeaderValue, http::HeaderValue),
}

impl CorrelationId {
    /// A correlation id.
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        Self(Repr::Text(id.into()))
    }

    /// The id a header value carries, sharing its bytes (cloning a `HeaderValue` copies nothing);
    /// `None` unless the value is visible ASCII.
    ///
    /// ```
    /// use http::HeaderValue;
    /// use obs_core::trace::CorrelationId;
    ///
    /// let id = CorrelationId::from_header(&HeaderValue::from_static("req-7")).unwrap();
    /// assert_eq!(id.as_str(), "req-7");
    /// assert!(CorrelationId::from_header(&HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()).is_none());
    /// ```
    pub fn from_header(value: &http::HeaderValue) -> Option<Self> {
        value.to_str().ok()?;
        Some(Self(Repr::Header(value.clone())))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Checked as visible ASCII when made.
            Repr::Header(v) => v.to_str().unwrap_or_default(),
            Repr::Text(s) => s,
            Repr::WithRequest(v, _) => v.to_str().unwrap_or_default(),
        }
    }

    /// This id, with the id of the request it belongs to, when that differs: log lines inside it
    /// then carry `request_id` too. `request_id` must be visible ASCII, as an id header's value.
    ///
    /// ```
    /// use http::HeaderValue;
    /// use obs_core::trace::CorrelationId;
    ///
    /// let id = CorrelationId::from_header(&HeaderValue::from_static("order-7")).unwrap();
    /// let id = id.with_request_id(HeaderValue::from_static("req-1"));
    /// assert_eq!((id.as_str(), id.request_id()), ("order-7", Some("req-1")));
    /// ```
    pub fn with_request_id(self, request_id: http::HeaderValue) -> Self {
        if request_id.to_str().is_err() || request_id.as_bytes() == self.as_str().as_bytes() {
            return self;
        }
        let id = match self.0 {
            Repr::Header(v) | Repr::WithRequest(v, _) => v,
            Repr::Text(s) => match http::HeaderValue::from_str(&s) {
                Ok(v) => v,
                Err(_) => return Self(Repr::Text(s)),
            },
        };
        Self(Repr::WithRequest(id, request_id))
    }

    /// The id of the request this correlation id came with, when it differs from it.
    pub fn request_id(&self) -> Option<&str> {
        match &self.0 {
            Repr::WithRequest(_, r) => r.to_str().ok(),
            _ => None,
        }
    }

    /// A copy of `cx` that carries this id.
    pub fn attach_to(self, cx: &Context) -> Context {
        cx.with_value(self)
    }

    /// The id of the current context, if any.
    pub fn current() -> Option<Self> {
        Context::map_current(|cx| cx.get::<Self>().cloned())
    }
}

impl std::fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Ids are equal when their text is, however they were made.
impl PartialEq for CorrelationId {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for CorrelationId {}

impl std::hash::Hash for CorrelationId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl std::fmt::Debug for CorrelationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CorrelationId")
            .field(&self.as_str())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

    use super::*;

    #[test]
    fn an_unsampled_span_is_kept_as_its_ids_alone() {
        let off = SdkTracerProvider::builder()
            .with_sampler(Sampler::AlwaysOff)
            .build();
        let cx = with_span(&Context::new(), off.tracer("test").start("work"));
        let span = cx.span();
        assert!(span.span_context().is_valid() && !span.span_context().is_remote());
        assert!(!span.is_recording());
    }

    #[test]
    fn correlation_ids_print_as_their_text() {
        let id = CorrelationId::new("req-42");
        assert_eq!(id.to_string(), "req-42");
        assert_eq!(format!("{id:?}"), r#"CorrelationId("req-42")"#);
        let header = CorrelationId::from_header(&http::HeaderValue::from_static("req-42")).unwrap();
        assert_eq!(header, id, "equal by their text");
    }
}
