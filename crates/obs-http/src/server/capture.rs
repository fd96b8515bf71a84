//! Opt-in body capture: [`BodyCaptureLayer`] records the start of textual request and response
//! bodies on the request's span, size-capped and redacted.
//!
//! Off unless added. Put it inside [`crate::HttpLayer`] (add it to the router first), so it sees
//! the server span; it records only when that span is sampled, only bodies whose content type is
//! textual (JSON, text, form, XML), at most `max_bytes` of each, and passes every captured body,
//! request and response alike, through [`obs_core::redact::body`]: values of sensitive JSON keys
//! and form fields, sensitive `key=value` / `key: value` pairs in text, and anything shaped like
//! a credential (JWTs, `Bearer …`, long hex or base64 keys) wherever it stands.
//!
//! ```
//! use axum::{routing::post, Router};
//! use obs_http::server::BodyCaptureLayer;
//!
//! let app: Router = Router::new()
//!     .route("/login", post(|body: String| async move { body }))
//!     .layer(BodyCaptureLayer::new().max_bytes(2048))
//!     .layer(obs_http::HttpLayer::new());
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, header};
use http_body::{Body, Frame, SizeHint};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::{Context, KeyValue};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

/// Set on a response whose bodies a [`BodyCapture`] may still record on the request's span: the
/// server layer then ends the span when the response body ends, not with the head.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CaptureActive;

/// The body capture layer. Default cap: 4 KiB per body.
#[derive(Clone, Copy, Debug)]
pub struct BodyCaptureLayer {
    max_bytes: usize,
}

impl Default for BodyCaptureLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl BodyCaptureLayer {
    /// Captures up to 4 KiB of each textual body.
    pub fn new() -> Self {
        Self { max_bytes: 4096 }
    }

    /// The most bytes captured of each body.
    pub fn max_bytes(mut self, max: usize) -> Self {
        self.max_bytes = max;
        self
    }
}

impl<S> Layer<S> for BodyCaptureLayer {
    type Service = BodyCapture<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BodyCapture {
            inner,
            max_bytes: self.max_bytes,
        }
    }
}

/// The service of [`BodyCaptureLayer`].
#[derive(Clone, Debug)]
pub struct BodyCapture<S> {
    inner: S,
    max_bytes: usize,
}

/// What is being captured of one body.
struct Capture {
    cx: Context,
    key: &'static str,
    content_type: String,
    max: usize,
    buf: Vec<u8>,
    truncated: bool,
}

impl Capture {
    fn start(cx: &Context, headers: &HeaderMap, key: &'static str, max: usize) -> Option<Self> {
        let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
        let recording = cx.span().is_recording();
        (recording && max > 0 && obs_core::redact::is_textual(content_type)).then(|| Self {
            cx: cx.clone(),
            key,
            content_type: content_type.to_owned(),
            max,
            buf: Vec::new(),
            truncated: false,
        })
    }

    fn push(&mut self, data: &[u8]) {
        let room = self.max.saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&data[..data.len().min(room)]);
        self.truncated |= data.len() > room;
    }

    fn record(self) {
        let text = String::from_utf8_lossy(&self.buf);
        let redacted = obs_core::redact::body(&self.content_type, &text);
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(self.key, redacted));
        if self.truncated {
            span.set_attribute(KeyValue::new(format!("{}.truncated", self.key), true));
        }
    }
}

pin_project! {
    /// A body whose first bytes are captured; its frames pass through unchanged.
    pub struct CaptureBody<B> {
        #[pin]
        inner: B,
        capture: Option<Capture>,
    }

    impl<B> PinnedDrop for CaptureBody<B> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(capture) = this.project().capture.take() {
                capture.record();
            }
        }
    }
}

impl<B> std::fmt::Debug for CaptureBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureBody").finish_non_exhaustive()
    }
}

impl<B: Body<Data = Bytes>> Body for CaptureBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let mut inner = this.inner;
        let polled = inner.as_mut().poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(capture), Some(data)) = (this.capture.as_mut(), frame.data_ref()) {
                    capture.push(data);
                }
                // The reader may stop at a body that says it has ended: record now.
                if inner.is_end_stream()
                    && let Some(capture) = this.capture.take()
                {
                    capture.record();
                }
            }
            Poll::Ready(_) => {
                if let Some(capture) = this.capture.take() {
                    capture.record();
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for BodyCapture<S>
where
    S: Service<Request<CaptureBody<ReqB>>, Response = Response<ResB>>,
{
    type Response = Response<CaptureBody<ResB>>;
    type Error = S::Error;
    type Future = CaptureFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let cx = Context::current();
        let capture = Capture::start(
            &cx,
            req.headers(),
            "http.request.body.content",
            self.max_bytes,
        );
        let req = req.map(|inner| CaptureBody { inner, capture });
        CaptureFuture {
            inner: self.inner.call(req),
            cx,
            max_bytes: self.max_bytes,
        }
    }
}

pin_project! {
    /// The future of [`BodyCapture`].
    pub struct CaptureFuture<F> {
        #[pin]
        inner: F,
        cx: Context,
        max_bytes: usize,
    }
}

impl<F> std::fmt::Debug for CaptureFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for CaptureFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<CaptureBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = match this.inner.poll(task) {
            Poll::Ready(Ok(response)) => response,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        if *this.max_bytes > 0 && this.cx.span().is_recording() {
            // Tells the server layer to keep the span open until the bodies are read.
            response.extensions_mut().insert(CaptureActive);
        }
        let capture = Capture::start(
            this.cx,
            response.headers(),
            "http.response.body.content",
            *this.max_bytes,
        );
        Poll::Ready(Ok(response.map(|inner| CaptureBody { inner, capture })))
    }
}
