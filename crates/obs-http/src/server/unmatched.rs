//! Unmatched requests that no [`HttpLayer`] saw: the admin router's fallback records them.
//!
//! axum's `Router::merge` keeps the fallback of the router merged in when neither has one of its
//! own, so in `app.layer(HttpLayer::new()).merge(admin)` a request no route matches reaches the
//! admin router's fallback, which the application's layer never wrapped. The admin router wraps
//! its routes and fallback in [`UnmatchedLayer`]: a request that arrives there with no matched
//! route and that no `HttpLayer` has seen goes through an `HttpLayer` of its own, so it is counted
//! as `route="unmatched"` and gets its span whatever the order of `layer` and `merge`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::MatchedPath;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::{HttpLayer, HttpService, ResponseFuture};

/// Put in the extensions of an unmatched request by the [`HttpLayer`] that sees it, so that the
/// admin router's fallback does not count it a second time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SeenUnmatched;

/// Wraps a router's routes and fallback; see the [module docs](self).
#[derive(Clone, Debug)]
pub(crate) struct UnmatchedLayer {
    http: HttpLayer,
}

impl UnmatchedLayer {
    pub(crate) fn new() -> Self {
        Self {
            http: HttpLayer::new(),
        }
    }
}

impl<S: Clone> Layer<S> for UnmatchedLayer {
    type Service = Unmatched<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Unmatched {
            http: self.http.layer(inner.clone()),
            inner,
        }
    }
}

/// The service of [`UnmatchedLayer`].
#[derive(Clone, Debug)]
pub(crate) struct Unmatched<S> {
    inner: S,
    http: HttpService<S>,
}

impl<S, ReqB> Service<Request<ReqB>> for Unmatched<S>
where
    S: Service<Request<ReqB>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = UnmatchedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Either clone may take the request: both must be ready.
        match self.inner.poll_ready(cx) {
            Poll::Ready(Ok(())) => self.http.poll_ready(cx),
            other => other,
        }
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let extensions = req.extensions();
        if extensions.get::<MatchedPath>().is_some() || extensions.get::<SeenUnmatched>().is_some()
        {
            UnmatchedFuture::Passed {
                inner: self.inner.call(req),
            }
        } else {
            UnmatchedFuture::Recorded {
                inner: self.http.call(req),
            }
        }
    }
}

pin_project! {
    /// The future of [`Unmatched`]: the inner response, or the one the `HttpLayer` recorded.
    #[project = Projected]
    pub(crate) enum UnmatchedFuture<F> {
        Passed { #[pin] inner: F },
        Recorded { #[pin] inner: ResponseFuture<F> },
    }
}

impl<F, E> Future for UnmatchedFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Projected::Passed { inner } => inner.poll(cx),
            Projected::Recorded { inner } => inner.poll(cx),
        }
    }
}
