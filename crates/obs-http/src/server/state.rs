//! What one request carries from its arrival to the end of its response body.

use std::sync::Arc;
use std::time::Instant;

use http::HeaderMap;
use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};

use super::attributes::header_attribute;
use super::handles::Resolved;
use super::service::Shared;

/// How the inner service ended, for the span and the metrics.
pub(crate) enum End {
    /// A response with this status.
    Status(u16),
    /// The inner service failed; the value is the error type.
    Error(&'static str),
    /// The handler panicked; the value is the panic message.
    Panic(String),
}

/// The span context, the metric handles and the timing of one request.
pub(crate) struct RequestState {
    /// The request's context (span, caller's context, correlation id); `None` when the layer has
    /// nothing to carry (metrics only), so nothing is attached on each poll.
    pub(crate) cx: Option<Context>,
    /// Whether the span records, asked once: each ask through the context takes the span's lock.
    recording: bool,
    start: Instant,
    /// The metric handles, when metrics are on.
    handles: Option<Resolved>,
    shared: Arc<Shared>,
    request_size: Option<u64>,
    status: u16,
    /// What the access log line needs, when the layer writes one for this request.
    access: Option<Box<Access>>,
}

/// The request's access log line, filled where the request arrives.
pub(crate) struct Access {
    pub(crate) method: &'static str,
    pub(crate) route: Arc<str>,
}

impl RequestState {
    pub(crate) fn new(
        cx: Option<Context>,
        recording: bool,
        start: Instant,
        handles: Option<Resolved>,
        shared: Arc<Shared>,
        request_size: Option<u64>,
        access: Option<Box<Access>>,
    ) -> Self {
        if handles.is_some() {
            shared.config.handles.in_flight().increment(1.0);
        }
        Self {
            cx,
            recording,
            start,
            handles,
            shared,
            request_size,
            status: 500,
            access,
        }
    }

    /// Whether the span records.
    pub(crate) fn recording(&self) -> bool {
        self.recording
    }

    /// Records the response head on the span: status, error state, recorded headers.
    pub(crate) fn on_response(&mut self, end: End, headers: Option<&HeaderMap>) {
        let status = match &end {
            End::Status(s) => *s,
            End::Error(_) | End::Panic(_) => 500,
        };
        self.status = status;
        let Some(cx) = &self.cx else { return };
        let span = cx.span();
        let (status, error_type): (u16, Option<String>) = match end {
            End::Status(s) => (s, (s >= 500).then(|| s.to_string())),
            End::Error(t) => (500, Some(t.to_owned())),
            End::Panic(message) => {
                if self.recording {
                    span.add_event(
                        "exception",
                        vec![
                            KeyValue::new("exception.type", "panic"),
                            KeyValue::new("exception.message", message),
                        ],
                    );
                }
                (500, Some("panic".to_owned()))
            }
        };
        if self.recording {
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
            if let Some(headers) = headers {
                for name in &self.shared.config.response_headers {
                    if let Some(kv) = header_attribute("http.response.header", headers, name) {
                        span.set_attribute(kv);
                    }
                }
            }
            if let Some(error_type) = error_type {
                span.set_attribute(KeyValue::new("error.type", error_type.clone()));
                span.set_status(Status::error(error_type));
            }
        }
    }

    /// Ends the span and records the metrics: with the response head for a small body of known
    /// length, else once the response body is done (or dropped).
    pub(crate) fn finish(self, response_bytes: u64) {
        if let Some(access) = &self.access {
            // Inside the request's context: the line carries its trace and ids.
            let _attached = self.cx.clone().map(Context::attach);
            tracing::info!(
                target: "obs_http::access",
                method = access.method,
                route = &*access.route,
                status = self.status,
                latency_ms = self.start.elapsed().as_secs_f64() * 1_000.0,
                bytes = response_bytes,
                "request"
            );
        }
        if let Some(cx) = &self.cx {
            let span = cx.span();
            if self.recording {
                let size = KeyValue::new("http.response.body.size", response_bytes as i64);
                span.set_attribute(size);
            }
            span.end();
        }
        let shared = &self.shared;
        if let Some(handles) = self.handles.as_ref().and_then(|r| shared.slot.handles(r)) {
            let elapsed_ms = self.start.elapsed().as_secs_f64() * 1_000.0;
            handles.latency.record(elapsed_ms);
            handles.count(self.status);
            handles.response_size.record(response_bytes as f64);
            if let Some(size) = self.request_size {
                handles.request_size.record(size as f64);
            }
            shared.config.handles.in_flight().decrement(1.0);
        }
    }
}
