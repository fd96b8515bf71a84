//! The response body of a streamed, large or captured response: the inner body, counted,
//! finishing the request's span and metrics when it ends or is dropped. Also the response body of
//! every response with [`HttpLayer::inner_body`](crate::HttpLayer::inner_body).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::state::RequestState;

pin_project! {
    /// The body of a response that went through [`HttpLayer::inner_body`](crate::HttpLayer::inner_body)'s
    /// layer: the inner service's body, its frames unchanged, counted until it ends when the
    /// request finishes with it (the body of a 500 answered for a panicking handler is empty).
    pub struct ResponseBody<B> {
        #[pin]
        body: Option<B>,
        state: Option<RequestState>,
        bytes: u64,
    }

    impl<B> PinnedDrop for ResponseBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            // Drop the inner body first, so what it records on the span (body capture) lands
            // before the span ends.
            this.body.set(None);
            if let Some(state) = this.state.take() {
                state.finish(*this.bytes);
            }
        }
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl<B> ResponseBody<B> {
    /// Wraps `body`; `state` finishes when it ends or is dropped.
    pub(crate) fn new(body: B, state: RequestState) -> Self {
        Self {
            body: Some(body),
            state: Some(state),
            bytes: 0,
        }
    }

    /// `body` as it is, for a request that finished with the response head.
    pub(crate) fn pass(body: B) -> Self {
        Self {
            body: Some(body),
            state: None,
            bytes: 0,
        }
    }

    /// An empty body.
    pub(crate) fn empty() -> Self {
        Self {
            body: None,
            state: None,
            bytes: 0,
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let Some(body) = this.body.as_pin_mut() else {
            if let Some(state) = this.state.take() {
                state.finish(*this.bytes);
            }
            return Poll::Ready(None);
        };
        let mut body = body;
        let polled = body.as_mut().poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.bytes += data.len() as u64;
                }
                // The server stops polling a body that says it has ended: finish now.
                if body.is_end_stream()
                    && let Some(state) = this.state.take()
                {
                    state.finish(*this.bytes);
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => {
                if let Some(state) = this.state.take() {
                    state.finish(*this.bytes);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

/// The response body type of [`HttpLayer`](crate::HttpLayer)'s service: [`AxumBody`] (the
/// default) or [`InnerBody`] ([`HttpLayer::inner_body`](crate::HttpLayer::inner_body)).
pub trait BodyKind: sealed::Sealed + Send + Sync + 'static {
    /// The response body, for an inner service whose responses have bodies of type `B`.
    type Body<B>;

    /// The response body of `body`.
    #[doc(hidden)]
    fn body<B>(body: ResponseBody<B>) -> Self::Body<B>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>;
}

/// Responses carry axum's `Body`: what `Router::layer` boxes any body into anyway, so a body that
/// is axum's already passes without a second box. The default, for axum.
#[derive(Clone, Copy, Debug, Default)]
pub struct AxumBody;

/// Responses carry [`ResponseBody<B>`] around the inner service's own body type `B`, never
/// boxed: for plain hyper and other tower servers.
#[derive(Clone, Copy, Debug, Default)]
pub struct InnerBody;

impl BodyKind for AxumBody {
    type Body<B> = axum::body::Body;

    fn body<B>(body: ResponseBody<B>) -> Self::Body<B>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let mut body = body;
        if body.state.is_none() {
            // Finished with the head: the inner body as it is (not boxed again if axum's).
            return match body.body.take() {
                Some(inner) => axum::body::Body::new(inner),
                None => axum::body::Body::empty(),
            };
        }
        axum::body::Body::new(body)
    }
}

impl BodyKind for InnerBody {
    type Body<B> = ResponseBody<B>;

    fn body<B>(body: ResponseBody<B>) -> Self::Body<B>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        body
    }
}

mod sealed {
    /// Only obs-http's body kinds.
    #[allow(unreachable_pub)]
    pub trait Sealed {}
    impl Sealed for super::AxumBody {}
    impl Sealed for super::InnerBody {}
}
