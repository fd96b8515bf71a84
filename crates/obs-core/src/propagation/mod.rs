//! W3C context propagation: `traceparent`, `tracestate` and `baggage`, and the Level 2
//! `traceresponse` response header ([`traceresponse`]).
//!
//! [`W3CPropagator`] implements both W3C specifications with small exact parsers; `init` installs it as
//! the global OpenTelemetry propagator. [`extract`] and [`inject`] use the global propagator with an
//! [`http::HeaderMap`]; [`spawn`] and [`InCurrentTrace`] keep spawned work inside the current trace.
//!
//! Bad input never fails a request: a malformed `traceparent` (or a repeated one) yields no remote
//! parent, an invalid or oversized `tracestate` is dropped while the `traceparent` stays, and baggage is
//! trimmed to the W3C limits by whole members.
//!
//! ```
//! use http::HeaderMap;
//! use obs_core::propagation::{W3CPropagator, HeaderExtractor};
//! use opentelemetry::propagation::TextMapPropagator;
//! use opentelemetry::trace::TraceContextExt;
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
//! let cx = W3CPropagator::new().extract(&HeaderExtractor(&headers));
//! assert_eq!(cx.span().span_context().trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! ```

pub mod baggage;
mod headers;
mod task;
pub mod traceparent;
pub mod traceresponse;
pub mod tracestate;

use opentelemetry::Context;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TraceState};

pub use headers::{HeaderExtractor, HeaderInjector, extract, inject, inject_current};
pub use task::{InCurrentTrace, TraceFuture, spawn};

/// The `traceparent` header name.
pub const TRACEPARENT: &str = "traceparent";
/// The `tracestate` header name.
pub const TRACESTATE: &str = "tracestate";
/// The `baggage` header name.
pub const BAGGAGE: &str = "baggage";

static FIELDS: std::sync::LazyLock<[String; 3]> =
    std::sync::LazyLock::new(|| [TRACEPARENT.into(), TRACESTATE.into(), BAGGAGE.into()]);

/// W3C Trace Context and W3C Baggage in one propagator.
#[derive(Clone, Copy, Debug, Default)]
pub struct W3CPropagator {
    _private: (),
}

impl W3CPropagator {
    /// The propagator.
    pub const fn new() -> Self {
        Self { _private: () }
    }
}

impl TextMapPropagator for W3CPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let span_cx = span.span_context();
        if span_cx.is_valid() {
            injector.set(TRACEPARENT, traceparent::format(span_cx));
            let state = tracestate::header(span_cx.trace_state());
            if !state.is_empty() {
                injector.set(TRACESTATE, state);
            }
        }
        let bag = cx.baggage();
        if !bag.is_empty() {
            let header = baggage::format(bag);
            if !header.is_empty() {
                injector.set(BAGGAGE, header);
            }
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let values = |name| extractor.get_all(name).unwrap_or_default().into_iter();
        extract_values(cx, values(TRACEPARENT), values(TRACESTATE), values(BAGGAGE))
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(FIELDS.as_slice())
    }
}

impl W3CPropagator {
    /// Extracts from an [`http::HeaderMap`] without the `Extractor` indirection: no allocation
    /// unless a `tracestate` or `baggage` is present. The result is a child of `cx`.
    pub fn extract_headers(&self, cx: &Context, headers: &http::HeaderMap) -> Context {
        // Header names built once: looking a header up by `&str` parses and hashes the name.
        static NAMES: std::sync::LazyLock<[http::HeaderName; 3]> = std::sync::LazyLock::new(|| {
            [
                http::HeaderName::from_static(TRACEPARENT),
                http::HeaderName::from_static(TRACESTATE),
                http::HeaderName::from_static(BAGGAGE),
            ]
        });
        let [tp, ts, bg] = &*NAMES;
        let values = |name| headers.get_all(name).iter().filter_map(|v| v.to_str().ok());
        extract_values(cx, values(tp), values(ts), values(bg))
    }

    /// Extracts the caller's context from one `traceparent` value alone (the caller found no
    /// other `traceparent`, `tracestate` or `baggage`), read from its bytes: the parser checks
    /// every byte it reads, so no UTF-8 check comes first. A missing or invalid value leaves `cx`
    /// as it is; the result is otherwise a child of `cx` with the remote parent, as
    /// [`TextMapPropagator::extract_with_context`] gives for the same single value. For
    /// obs-http's header scan (through `obs_core::__private`).
    pub(crate) fn extract_traceparent(&self, cx: &Context, traceparent: Option<&[u8]>) -> Context {
        match traceparent.and_then(traceparent::parse_bytes) {
            Some(parsed) => {
                cx.with_remote_span_context(traceparent::remote_context(parsed, TraceState::NONE))
            }
            None => cx.clone(),
        }
    }

    /// Injects into an [`http::HeaderMap`] without the `Injector` indirection: constant header
    /// names, and `traceparent` encoded in place rather than formatted. Writes what
    /// [`TextMapPropagator::inject_context`] writes; a value that is not a valid header is skipped.
    pub fn inject_headers(&self, cx: &Context, headers: &mut http::HeaderMap) {
        const TP: http::HeaderName = http::HeaderName::from_static(TRACEPARENT);
        const TS: http::HeaderName = http::HeaderName::from_static(TRACESTATE);
        const BG: http::HeaderName = http::HeaderName::from_static(BAGGAGE);
        let span = cx.span();
        let span_cx = span.span_context();
        if span_cx.is_valid() {
            if let Ok(value) = http::HeaderValue::from_bytes(&traceparent::encode(span_cx)) {
                headers.insert(TP, value);
            }
            let state = tracestate::header(span_cx.trace_state());
            if !state.is_empty()
                && let Ok(value) = http::HeaderValue::from_str(&state)
            {
                headers.insert(TS, value);
            }
        }
        let bag = cx.baggage();
        if !bag.is_empty() {
            let header = baggage::format(bag);
            if !header.is_empty()
                && let Ok(value) = http::HeaderValue::from_str(&header)
            {
                headers.insert(BG, value);
            }
        }
    }
}

fn extract_values<'a>(
    cx: &Context,
    mut parents: impl Iterator<Item = &'a str>,
    states: impl Iterator<Item = &'a str>,
    mut bags: impl Iterator<Item = &'a str>,
) -> Context {
    let mut cx = cx.clone();
    // A repeated traceparent is invalid (W3C Trace Context 3.2): no parent is taken from it.
    if let (Some(value), None) = (parents.next(), parents.next())
        && let Some(parsed) = traceparent::parse(value)
    {
        let state = tracestate::parse(states).unwrap_or(TraceState::NONE);
        cx = cx.with_remote_span_context(traceparent::remote_context(parsed, state));
    }
    if let Some(first) = bags.next() {
        let bag = baggage::parse(std::iter::once(first).chain(bags));
        if !bag.is_empty() {
            cx = cx.with_baggage(bag);
        }
    }
    cx
}

#[cfg(test)]
mod tests;
