//! The session span, its counters and the session's metrics.

use std::time::Instant;

use axum::extract::ws::Message;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};

use super::close::{self, Cause, Failure, Side};
use super::handles::{Direction, Seen, SessionHandles};

/// The name of the session span.
pub(crate) const SESSION_SPAN: &str = "WebSocket session";

/// How the session's owner saw it end, when no close frame or error told more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The stream ended (`recv` returned `None`).
    StreamEnded,
    /// The socket was dropped.
    Dropped,
    /// The socket was dropped while its handler panicked.
    Panicked,
}

/// One session: its span's context, what went through it and how it ended.
pub(crate) struct Session {
    cx: Context,
    handles: SessionHandles,
    opened: Instant,
    received: u64,
    sent: u64,
    bytes_received: u64,
    bytes_sent: u64,
    /// The first close frame, either way: its code and who sent it.
    close: Option<(u16, Side)>,
    /// The first error that failed the session before any close frame.
    failure: Option<Failure>,
    ended: bool,
}

impl Session {
    /// Opens the session span as a child of `parent` (no span before `init`) and counts the
    /// session as active.
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
            handles: SessionHandles::open(),
            opened: Instant::now(),
            received: 0,
            sent: 0,
            bytes_received: 0,
            bytes_sent: 0,
            close: None,
            failure: None,
            ended: false,
        }
    }

    pub(crate) fn context(&self) -> &Context {
        &self.cx
    }

    pub(crate) fn on_received(&mut self, message: &Message) {
        let seen = Seen::of(message);
        self.handles.message(Direction::Inbound, seen);
        if let Some(bytes) = seen.size {
            self.received += 1;
            self.bytes_received += bytes;
        }
        self.observe_close(seen, Side::Peer);
    }

    /// Counts a message the socket took (`seen` was taken before it moved into the socket).
    pub(crate) fn on_sent(&mut self, seen: Seen) {
        self.handles.message(Direction::Outbound, seen);
        if let Some(bytes) = seen.size {
            self.sent += 1;
            self.bytes_sent += bytes;
        }
        self.observe_close(seen, Side::Server);
    }

    /// Records an error of the socket; the first one before any close frame decides the cause.
    /// Returns whether this one did.
    pub(crate) fn on_error(&mut self, failure: Failure) -> bool {
        let decides = failure != Failure::Closed && self.close.is_none() && self.failure.is_none();
        if decides {
            self.failure = Some(failure);
        }
        decides
    }

    /// Records the first close frame, either way.
    fn observe_close(&mut self, seen: Seen, side: Side) {
        if let (Some(code), None) = (seen.close, self.close) {
            self.close = Some((code, side));
        }
    }

    /// The session's cause and close code (the `code_class` label's source).
    fn outcome(&self, ending: Ending) -> (Cause, Option<u16>) {
        let code = self.close.map(|(code, _)| code);
        match (self.failure, self.close) {
            (Some(Failure::Protocol(sent)), _) => (Cause::ProtocolError, Some(sent)),
            (Some(failure), _) => (failure.cause(), code),
            (None, Some((code, side))) => (close::close_cause(code, side), Some(code)),
            (None, None) => {
                let cause = match ending {
                    Ending::StreamEnded => Cause::PeerVanished,
                    Ending::Dropped => Cause::Dropped,
                    Ending::Panicked => Cause::Error,
                };
                (cause, None)
            }
        }
    }

    /// Records the session's metrics, sets the counters and the outcome on the span and ends it;
    /// later calls do nothing.
    pub(crate) fn end(&mut self, ending: Ending) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let (cause, code) = self.outcome(ending);
        let duration_ms = self.opened.elapsed().as_secs_f64() * 1_000.0;
        self.handles
            .close(duration_ms, close::code_class(code), cause);
        let span = self.cx.span();
        if span.is_recording() {
            span.set_attributes([
                KeyValue::new("websocket.messages.received", count(self.received)),
                KeyValue::new("websocket.messages.sent", count(self.sent)),
                KeyValue::new("websocket.bytes.received", count(self.bytes_received)),
                KeyValue::new("websocket.bytes.sent", count(self.bytes_sent)),
                KeyValue::new("websocket.close.cause", cause.as_str()),
            ]);
            if let Some(code) = code {
                span.set_attribute(KeyValue::new("websocket.close.code", i64::from(code)));
            }
            if cause.is_failure() {
                span.set_attribute(KeyValue::new("error.type", cause.as_str()));
                span.set_status(Status::error(""));
            }
        }
        span.end();
    }
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
