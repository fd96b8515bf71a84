//! [`WebSocketUpgradeExt`]: upgrading straight into a [`TracedWebSocket`].

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context as TaskContext, Poll};

use axum::extract::ws::{OnFailedUpgrade, WebSocketUpgrade};
use axum::response::Response;
use opentelemetry::Context;
use opentelemetry::context::FutureExt as _;

use super::TracedWebSocket;

mod sealed {
    pub trait Sealed {}
    impl<F> Sealed for axum::extract::ws::WebSocketUpgrade<F> {}
}

/// Upgrades into a [`TracedWebSocket`] whose session span is a child of the upgrade request's
/// context. Sealed: implemented for axum's `WebSocketUpgrade`.
pub trait WebSocketUpgradeExt: sealed::Sealed {
    /// Like `WebSocketUpgrade::on_upgrade`: captures the current context (the request's span,
    /// when a server layer runs), opens the session span under it once the connection is upgraded,
    /// and runs `callback` with the session's context attached.
    ///
    /// If `callback` panics, the session is counted with the cause `error` (the panic then goes on
    /// as it would without this wrapper).
    fn on_upgrade_traced<C, Fut>(self, callback: C) -> Response
    where
        C: FnOnce(TracedWebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static;
}

impl<F: OnFailedUpgrade> WebSocketUpgradeExt for WebSocketUpgrade<F> {
    fn on_upgrade_traced<C, Fut>(self, callback: C) -> Response
    where
        C: FnOnce(TracedWebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let parent = Context::current();
        self.on_upgrade(move |socket| {
            let mut socket = TracedWebSocket::new_with_parent(socket, &parent);
            let panicked = Arc::new(AtomicBool::new(false));
            socket.watch_panics(panicked.clone());
            let session = socket.session_context().clone();
            let inner = callback(socket).with_context(session);
            async move {
                let outcome = CatchUnwind { inner, panicked }.await;
                if let Err(payload) = outcome {
                    resume_unwind(payload);
                }
            }
        })
    }
}

pin_project_lite::pin_project! {
    /// Polls `inner`, turning a panic into an `Err` with its payload. It sets `panicked` before
    /// the panicked future (and the socket in it) is dropped, so the session's end tells a panic
    /// from a return.
    struct CatchUnwind<F> {
        #[pin]
        inner: F,
        panicked: Arc<AtomicBool>,
    }
}

type Payload = Box<dyn std::any::Any + Send>;

impl<F: Future<Output = ()>> Future for CatchUnwind<F> {
    type Output = Result<(), Payload>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(())) => Poll::Ready(Ok(())),
            Err(payload) => {
                this.panicked.store(true, Ordering::Release);
                Poll::Ready(Err(payload))
            }
        }
    }
}
