//! The response body of a streamed, large or captured response: the inner body, counted,
//! finishing the request's span and metrics when it ends or is dropped.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::state::RequestState;

pin_project! {
    /// The body of a response that went through [`crate::HttpLayer`], unless it finished with the
    /// head. Its frames are the inner body's, unchanged.
    pub(crate) struct ObsBody<B> {
        #[pin]
        body: Option<B>,
        state: Option<RequestState>,
        bytes: u64,
    }

    impl<B> PinnedDrop for ObsBody<B> {
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

impl<B> std::fmt::Debug for ObsBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObsBody")
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl<B> ObsBody<B> {
    /// Wraps `body`; `state` finishes when it ends or is dropped.
    pub(crate) fn new(body: B, state: RequestState) -> Self {
        Self {
            body: Some(body),
            state: Some(state),
            bytes: 0,
        }
    }
}

impl<B> Body for ObsBody<B>
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
