//! Per-message spans: the trace context a text message carries, and [`TracedMessage`].

use std::borrow::Cow;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use axum::extract::ws::Message;
use http::{HeaderMap, HeaderName, HeaderValue};
use obs_core::propagation::{BAGGAGE, HeaderExtractor, TRACEPARENT, TRACESTATE};
use opentelemetry::trace::{Link, SpanKind, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};

/// The name of a message span.
pub(crate) const MESSAGE_SPAN: &str = "WebSocket message";

/// Reads a text message's trace context as propagation headers.
pub(crate) type Extract = Arc<dyn Fn(&str) -> Option<HeaderMap> + Send + Sync>;

/// The default envelope: a JSON object whose top-level string fields `traceparent`, `tracestate`
/// and `baggage` carry the sender's context, e.g.
/// `{"type":"offer","traceparent":"00-…-…-01","sdp":"…"}`.
///
/// Returns `None` (no message span) for anything else: not JSON, not an object, no `traceparent`,
/// or a value that cannot be a header. Messages that do not mention `traceparent` are not parsed.
pub fn json_envelope(text: &str) -> Option<HeaderMap> {
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow, default)]
        traceparent: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        tracestate: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        baggage: Option<Cow<'a, str>>,
    }

    // Serde would also read a struct from a JSON array; only an object is an envelope.
    if !text.contains(TRACEPARENT) || !text.trim_start().starts_with('{') {
        return None;
    }
    let envelope: Envelope<'_> = serde_json::from_str(text).ok()?;
    let mut headers = HeaderMap::new();
    let fields = [
        (TRACEPARENT, envelope.traceparent),
        (TRACESTATE, envelope.tracestate),
        (BAGGAGE, envelope.baggage),
    ];
    for (name, value) in fields {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    headers.contains_key(TRACEPARENT).then_some(headers)
}

/// A new message span's context, child of the context `message` carries and linked to the
/// session; `None` when the message carries no valid context (or before `init`).
pub(crate) fn message_span(
    message: &Message,
    extract: Option<&Extract>,
    session: &Context,
) -> Option<Context> {
    let (Message::Text(text), Some(extract), Some(tracer)) =
        (message, extract, obs_core::trace::tracer())
    else {
        return None;
    };
    // A user's extractor that panics must not take the connection down.
    let headers = catch_unwind(AssertUnwindSafe(|| extract(text.as_str()))).unwrap_or(None);
    // Extract into an empty context: the current one (often the session's) must not stand in for
    // a sender's context that failed to parse.
    let headers = headers?;
    let remote = opentelemetry::global::get_text_map_propagator(|p| {
        p.extract_with_context(&Context::new(), &HeaderExtractor(&headers))
    });
    if !remote.span().span_context().is_valid() {
        return None;
    }
    let session_span = session.span().span_context().clone();
    let mut builder = tracer
        .span_builder(MESSAGE_SPAN)
        .with_kind(SpanKind::Consumer);
    if session_span.is_valid() {
        builder = builder.with_links(vec![Link::with_context(session_span)]);
    }
    let cx = remote.with_span(builder.start_with_context(tracer, &remote));
    set_message_attributes(&cx, "text", text.as_str().len());
    Some(cx)
}

/// A new message span's context for a plain (non-envelope) text or binary message, a child of the
/// session span; `None` for control frames (or before `init`). The caller samples.
pub(crate) fn plain_message_span(message: &Message, session: &Context) -> Option<Context> {
    let (kind, size) = match message {
        Message::Text(text) => ("text", text.as_str().len()),
        Message::Binary(data) => ("binary", data.len()),
        Message::Ping(_) | Message::Pong(_) | Message::Close(_) => return None,
    };
    let tracer = obs_core::trace::tracer()?;
    let span = tracer
        .span_builder(MESSAGE_SPAN)
        .with_kind(SpanKind::Consumer)
        .start_with_context(tracer, session);
    let cx = session.with_span(span);
    set_message_attributes(&cx, kind, size);
    Some(cx)
}

fn set_message_attributes(cx: &Context, kind: &'static str, size: usize) {
    let span = cx.span();
    if span.is_recording() {
        span.set_attributes([
            KeyValue::new("websocket.message.type", kind),
            KeyValue::new(
                "websocket.message.size",
                i64::try_from(size).unwrap_or(i64::MAX),
            ),
        ]);
    }
}

/// A received message and the context to process it in.
///
/// When the message carried a trace context, [`context`](Self::context) holds a message span in
/// the sender's trace; otherwise it is the session's context. The message span ends when
/// [`end`](Self::end) is called or the last clone of its context is dropped.
pub struct TracedMessage {
    message: Message,
    cx: Context,
    traced: bool,
}

impl TracedMessage {
    pub(crate) fn new(message: Message, cx: Context, traced: bool) -> Self {
        Self {
            message,
            cx,
            traced,
        }
    }

    /// The message.
    pub fn message(&self) -> &Message {
        &self.message
    }

    /// The context to process the message in: attach it, or pass it to
    /// `opentelemetry::context::FutureExt::with_context`.
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// Whether a message span was opened for this message.
    pub fn is_traced(&self) -> bool {
        self.traced
    }

    /// Runs `f` with the message's context attached, so spans and log lines inside it join the
    /// sender's trace.
    pub fn in_scope<R>(&self, f: impl FnOnce(&Message) -> R) -> R {
        let _attached = self.cx.clone().attach();
        f(&self.message)
    }

    /// The message and its context.
    pub fn into_parts(self) -> (Message, Context) {
        (self.message, self.cx)
    }

    /// Ends the message span now (if there is one) and returns the message.
    pub fn end(self) -> Message {
        if self.traced {
            self.cx.span().end();
        }
        self.message
    }
}

impl fmt::Debug for TracedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedMessage")
            .field("message", &self.message)
            .field("traced", &self.traced)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn envelopes_table() {
        let ok = format!(r#"{{"type":"offer","traceparent":"{TP}","sdp":"v=0"}}"#);
        let with_state = format!(r#"{{"traceparent":"{TP}","tracestate":"a=1","baggage":"k=v"}}"#);
        let headers = json_envelope(&ok).unwrap();
        assert_eq!(headers.get(TRACEPARENT).unwrap(), TP);
        assert_eq!(headers.len(), 1);
        assert_eq!(json_envelope(&with_state).unwrap().len(), 3);
        let none = [
            "",
            "hello",
            "traceparent",
            "{",
            r#"{"traceparent":"#,
            r#"["traceparent"]"#,
            r#"{"traceparent":42}"#,
            r#"{"traceparent":null}"#,
            r#"{"traceparent":"bad\nvalue"}"#,
            r#"{"meta":{"traceparent":"x"}}"#,
            r#"{"type":"ping"}"#,
        ];
        for text in none {
            assert!(json_envelope(text).is_none(), "{text}");
        }
    }
}
