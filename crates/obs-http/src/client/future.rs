//! The [`ResponseFuture`] of [`Client`](super::Client): the inner result, unchanged.

use std::any::type_name;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use http::{HeaderName, Response};
use obs_core::propagation::traceresponse::TraceResponse;
use opentelemetry::trace::{SpanContext, Status, TraceContextExt, TraceState};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use pin_project_lite::pin_project;

use super::labels::{self, ServerHandles};

/// What a call carries from `call` to its end.
pub(crate) struct State {
    pub(crate) cx: Context,
    pub(crate) start: Instant,
    pub(crate) method: usize,
    pub(crate) server: Arc<ServerHandles>,
}

/// How a call ended.
enum End {
    Status(u16),
    Error(&'static str),
    Cancelled,
}

pin_project! {
    /// The response future of [`Client`](super::Client). Its output is the inner service's result,
    /// unchanged; the span ends and the duration is recorded when it completes or is dropped.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        state: Option<State>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(state) = this.project().state.take() {
                finish(state, End::Cancelled);
            }
        }
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, state: State) -> Self {
        Self {
            inner,
            state: Some(state),
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut poll = match this.state.as_ref() {
            Some(state) => {
                let _attached = state.cx.clone().attach();
                this.inner.poll(task)
            }
            None => this.inner.poll(task),
        };
        if let Poll::Ready(result) = &mut poll
            && let Some(state) = this.state.take()
        {
            let end = match result {
                Ok(response) => {
                    read_traceresponse(&state.cx, response);
                    End::Status(response.status().as_u16())
                }
                Err(_) => End::Error(error_type::<E>()),
            };
            finish(state, end);
        }
        poll
    }
}

/// Reads the callee's Level 2 `traceresponse`, if it sent a valid one: into the response's
/// extensions as a [`TraceResponse`], and onto the recording client span as the
/// `http.response.header.traceresponse` attribute, with a link to the callee's span when it
/// recorded the request in another trace. An invalid value is ignored.
fn read_traceresponse<B>(cx: &Context, response: &mut Response<B>) {
    const TRACERESPONSE: HeaderName = HeaderName::from_static("traceresponse");
    let Some(value) = response.headers().get(TRACERESPONSE) else {
        return;
    };
    let Some(tr) = TraceResponse::parse(value.as_bytes()) else {
        return;
    };
    response.extensions_mut().insert(tr);
    let span = cx.span();
    if span.is_recording() {
        span.set_attribute(KeyValue::new(
            "http.response.header.traceresponse",
            Value::Array(Array::String(vec![StringValue::from(tr.to_string())])),
        ));
        if tr.trace_id() != span.span_context().trace_id() {
            let callee = SpanContext::new(
                tr.trace_id(),
                tr.child_id(),
                tr.trace_flags(),
                true,
                TraceState::NONE,
            );
            span.add_link(callee, Vec::new());
        }
    }
}

/// The `error.type` of a failed call: the error's type name, or `_OTHER` for a boxed error whose
/// type name says nothing.
pub(crate) fn error_type<E>() -> &'static str {
    let name = type_name::<E>();
    if name.starts_with("alloc::boxed::Box<dyn ") {
        "_OTHER"
    } else {
        name
    }
}

/// Records the duration and ends the span. A panicking recorder or exporter is contained here:
/// instrumentation must never take the caller down.
fn finish(state: State, end: End) {
    let millis = state.start.elapsed().as_secs_f64() * 1_000.0;
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let class = match end {
            End::Status(status) => labels::status_class(status),
            End::Error(_) | End::Cancelled => labels::ERROR_CLASS,
        };
        state.server.record(state.method, class, millis);
        let span = state.cx.span();
        if span.is_recording() {
            match end {
                End::Status(status) => {
                    span.set_attribute(KeyValue::new(
                        "http.response.status_code",
                        i64::from(status),
                    ));
                    // Client spans are errors from 400 on (OpenTelemetry HTTP span status rules).
                    if status >= 400 {
                        span.set_attribute(KeyValue::new("error.type", status.to_string()));
                        span.set_status(Status::error(""));
                    }
                }
                End::Error(error_type) => {
                    span.set_attribute(KeyValue::new("error.type", error_type));
                    span.set_status(Status::error(""));
                }
                End::Cancelled => {
                    span.set_attribute(KeyValue::new("error.type", "cancelled"));
                    span.set_status(Status::error("cancelled"));
                }
            }
        }
        span.end();
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types() {
        assert_eq!(error_type::<std::io::Error>(), "std::io::error::Error");
        assert_eq!(
            error_type::<Box<dyn std::error::Error + Send + Sync>>(),
            "_OTHER"
        );
    }
}
