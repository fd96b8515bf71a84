//! [`ResponseFuture`]: polls the inner future inside the request's context, catches panics, and
//! hands the request state to the response body.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use std::marker::PhantomData;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response};
use obs_core::propagation::traceparent;
use obs_core::propagation::traceresponse::TraceResponse;
use opentelemetry::trace::TraceContextExt as _;
use pin_project_lite::pin_project;

use super::body::{AxumBody, BodyKind, ResponseBody};
use super::capture::CaptureActive;
use super::request_id::{TRACEPARENT, X_CORRELATION_ID, X_REQUEST_ID};
use super::state::{End, RequestState};

/// The Level 2 `traceresponse` header, as a name built once.
const TRACERESPONSE: http::HeaderName = http::HeaderName::from_static("traceresponse");

/// The ids written on the response.
pub(crate) struct Ids {
    pub(crate) ids: Option<(HeaderValue, HeaderValue)>,
    pub(crate) traceparent: bool,
    /// The Level 2 `traceresponse` header, opt-in.
    pub(crate) traceresponse: bool,
}

pin_project! {
    /// The future of [`crate::server::HttpService`]: the inner response (its body counted until
    /// it ends, see [`crate::server::HttpService`]), or a 500 if the handler panicked.
    pub struct ResponseFuture<F, K = AxumBody> {
        #[pin]
        inner: Option<F>,
        panic: Option<String>,
        state: Option<RequestState>,
        ids: Ids,
        kind: PhantomData<fn() -> K>,
    }
}

impl<F, K> std::fmt::Debug for ResponseFuture<F, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, K> ResponseFuture<F, K> {
    pub(crate) fn new(
        called: Result<F, Box<dyn Any + Send>>,
        state: RequestState,
        ids: Ids,
    ) -> Self {
        let (inner, panic) = match called {
            Ok(f) => (Some(f), None),
            Err(p) => (None, Some(panic_message(&*p))),
        };
        Self {
            inner,
            panic,
            state: Some(state),
            ids,
            kind: PhantomData,
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned());
    // Panic messages quote what the code was handling: the whole text is redacted, not only URLs.
    let mut message = obs_core::redact::text(&message).into_owned();
    if message.len() > 512 {
        let mut cut = 512;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
    }
    message
}

impl<F, B, E, K> Future for ResponseFuture<F, K>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
    K: BodyKind,
{
    type Output = Result<Response<K::Body<B>>, E>;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(mut state) = this.state.take() else {
            // Polled after completion: a contract violation by the caller, answered without panicking.
            return Poll::Pending;
        };
        let result = match this.inner.as_mut().as_pin_mut() {
            Some(inner) if this.panic.is_none() => {
                let polled = {
                    let _attached = state.cx.as_ref().map(|cx| cx.clone().attach());
                    catch_unwind(AssertUnwindSafe(|| inner.poll(task)))
                };
                match polled {
                    Ok(Poll::Pending) => {
                        *this.state = Some(state);
                        return Poll::Pending;
                    }
                    Ok(Poll::Ready(result)) => Some(result),
                    Err(payload) => {
                        *this.panic = Some(panic_message(&*payload));
                        None
                    }
                }
            }
            _ => None,
        };
        this.inner.set(None);
        let response = match result {
            Some(Ok(response)) => {
                state.on_response(
                    End::Status(response.status().as_u16()),
                    Some(response.headers()),
                );
                let (mut parts, body) = response.into_parts();
                write_ids(&mut parts.headers, this.ids, &state);
                // Asked only of a sampled span: an unsampled one has nothing to capture into.
                let capturing =
                    state.recording() && parts.extensions.get::<CaptureActive>().is_some();
                Response::from_parts(parts, finish_or_wrap::<B, K>(body, state, capturing))
            }
            Some(Err(error)) => {
                state.on_response(End::Error(short_type_name::<E>()), None);
                state.finish(0);
                return Poll::Ready(Err(error));
            }
            None => {
                let message = this.panic.take().unwrap_or_else(|| "panic".to_owned());
                state.on_response(End::Panic(message), None);
                let mut response = Response::new(K::body(ResponseBody::<B>::empty()));
                *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                write_ids(response.headers_mut(), this.ids, &state);
                state.finish(0);
                response
            }
        };
        Poll::Ready(Ok(response))
    }
}

/// The largest body finished with the response head; see [`finish_or_wrap`].
const FINISH_AT_HEAD_MAX: u64 = 64 * 1024;

/// The response body, and where the request finishes.
///
/// A body whose length is known and small (a buffered `String`, JSON, an empty body) is in memory
/// already: the server writes it with the head, so the request is finished now (its length is the
/// body size) and the body passes unchanged, with no allocation or wrapper, unless a body capture
/// inside the layer (`capturing`) is still to record on the span while the bodies are read. Any
/// other body is wrapped and the request finishes when the body ends or is dropped.
fn finish_or_wrap<B, K>(body: B, state: RequestState, capturing: bool) -> K::Body<B>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
    K: BodyKind,
{
    let known = if body.is_end_stream() {
        Some(0)
    } else {
        body.size_hint().exact()
    };
    match known.filter(|&n| n <= FINISH_AT_HEAD_MAX && !capturing) {
        Some(size) => {
            state.finish(size);
            K::body(ResponseBody::pass(body))
        }
        None => K::body(ResponseBody::new(body, state)),
    }
}

fn write_ids(headers: &mut HeaderMap, ids: &Ids, state: &RequestState) {
    // Room for all of them at once: the map grows at most once.
    let count = 2 * usize::from(ids.ids.is_some())
        + usize::from(ids.traceparent)
        + usize::from(ids.traceresponse);
    if count > 0 {
        headers.reserve(count);
    }
    if let Some((request, correlation)) = &ids.ids {
        headers.insert(X_REQUEST_ID, request.clone());
        headers.insert(X_CORRELATION_ID, correlation.clone());
    }
    if let Some(cx) = state.cx.as_ref().filter(|_| ids.traceparent) {
        let span = cx.span();
        let sc = span.span_context();
        // The encoded array becomes the value's storage: one allocation, no copy.
        let value = sc.is_valid().then(|| {
            HeaderValue::from_maybe_shared(Bytes::from_owner(traceparent::encode(sc))).ok()
        });
        if let Some(v) = value.flatten() {
            headers.insert(TRACEPARENT, v);
        }
    }
    if let Some(cx) = state.cx.as_ref().filter(|_| ids.traceresponse) {
        let span = cx.span();
        let sc = span.span_context();
        let value = sc.is_valid().then(|| {
            let encoded = TraceResponse::from_span_context(sc).encode();
            HeaderValue::from_maybe_shared(Bytes::from_owner(encoded)).ok()
        });
        if let Some(v) = value.flatten() {
            headers.insert(TRACERESPONSE, v);
        }
    }
}

fn short_type_name<E>() -> &'static str {
    let full = std::any::type_name::<E>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}
