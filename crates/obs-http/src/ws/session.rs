//! The session span and its counters.

use axum::extract::ws::Message;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};

/// The name of the session span.
pub(crate) const SESSION_SPAN: &str = "WebSocket session";

/// One session: its span's context and what went through it.
pub(crate) struct Session {
    cx: Context,
    received: u64,
    sent: u64,
    bytes_received: u64,
    bytes_sent: u64,
    close_code: Option<u16>,
    failed: bool,
    ended: bool,
}

impl Session {
    /// Opens the session span as a child of `parent` (no span before `init`).
    pub(crate) fn open(parent: &Context) -> Self {
        let cx = match obs_core::trace::tracer() {
            Some(tracer) => {
                let span = tracer
                    .span_builder(SESSION_SPAN)
                    .with_kind(SpanKind::Internal)
                    .start_with_context(tracer, parent);
                parent.with_span(span)
            }
            None => parent.clone(),
        };
        Self {
            cx,
            received: 0,
            sent: 0,
            bytes_received: 0,
            bytes_sent: 0,
            close_code: None,
            failed: false,
            ended: false,
        }
    }

    pub(crate) fn context(&self) -> &Context {
        &self.cx
    }

    pub(crate) fn on_received(&mut self, message: &Message) {
        if let Some(bytes) = self.observe(message) {
            self.received += 1;
            self.bytes_received += bytes;
        }
    }

    pub(crate) fn on_sent(&mut self, message: &Message) {
        if let Some(bytes) = self.observe(message) {
            self.sent += 1;
            self.bytes_sent += bytes;
        }
    }

    pub(crate) fn on_error(&mut self) {
        self.failed = true;
    }

    /// The payload size of a data message; records the first close code seen either way.
    fn observe(&mut self, message: &Message) -> Option<u64> {
        match message {
            Message::Text(text) => Some(text.as_str().len() as u64),
            Message::Binary(data) => Some(data.len() as u64),
            Message::Close(frame) => {
                if self.close_code.is_none() {
                    self.close_code = frame.as_ref().map(|f| f.code);
                }
                None
            }
            Message::Ping(_) | Message::Pong(_) => None,
        }
    }

    /// Sets the counters on the span and ends it; later calls do nothing.
    pub(crate) fn end(&mut self) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let span = self.cx.span();
        if span.is_recording() {
            span.set_attributes([
                KeyValue::new("websocket.messages.received", count(self.received)),
                KeyValue::new("websocket.messages.sent", count(self.sent)),
                KeyValue::new("websocket.bytes.received", count(self.bytes_received)),
                KeyValue::new("websocket.bytes.sent", count(self.bytes_sent)),
            ]);
            if let Some(code) = self.close_code {
                span.set_attribute(KeyValue::new("websocket.close.code", i64::from(code)));
            }
            if self.failed {
                span.set_attribute(KeyValue::new("error.type", "_OTHER"));
                span.set_status(Status::error(""));
            }
        }
        span.end();
    }
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
